//! `keyward kek ...`: the external key-encryption key ([store] kek_file /
//! kek_credential): making one, wrapping the token's PINs under it, and
//! reporting which PINs need it.
//!
//! Owns: the commands and their text. Must not touch: how a KEK wraps a PIN
//! (`keyward::store::kek`, the token's login).

use crate::format::pin_or_prompt;
use clap::Subcommand;
use keyward::ck::*;
use keyward::library::Library;
use std::path::{Path, PathBuf};

/// `keyward kek new FILE` (runs before the library opens: no token needed).
pub fn new_kek(file: &Path) -> Result<(), String> {
    let k = keyward::store::kek::ExternalKek::create_file(file).map_err(|e| e.to_string())?;
    out!("created key-encryption key {} (id {})", file.display(), k.id_hex());
    out!(
        "use it with: [store] kek_file = {:?} (keep a copy: without it the token does not open)",
        file.display().to_string()
    );
    Ok(())
}

#[derive(Subcommand)]
pub enum KekCmd {
    /// Create a new random KEK in FILE (mode 0600; never overwrites) and print its id.
    New { file: PathBuf },
    /// Wrap the token's SO and user PINs under the configured KEK now, by
    /// logging in as both (otherwise each is re-wrapped at its next login).
    Add {
        /// SO PIN (else $KEYWARD_SO_PIN, else a prompt).
        #[arg(long, env = "KEYWARD_SO_PIN", hide_env_values = true)]
        so_pin: Option<String>,
        /// User PIN (else $KEYWARD_PIN, else a prompt).
        #[arg(long, env = "KEYWARD_PIN", hide_env_values = true)]
        pin: Option<String>,
    },
    /// The configured KEK and which PINs of the token need it.
    Status,
}

fn kek_status(lib: &Library, slot: u64) -> Result<bool, String> {
    let st = lib.token(slot).map_err(|e| e.to_string())?.kek_status().map_err(|e| e.to_string())?;
    match &st.configured {
        None => out!("configured KEK: none"),
        Some(Ok((id, source))) => out!("configured KEK: id {id} ({source})"),
        Some(Err(e)) => out!("configured KEK: unusable: {e}"),
    }
    let mut all = true;
    for (role, w) in [("SO", &st.so), ("user", &st.user)] {
        match w {
            None => out!("{role} PIN: not set"),
            Some(None) => {
                all = false;
                out!("{role} PIN: PIN only (a copy of the store can be attacked offline)")
            }
            Some(Some(id)) => out!("{role} PIN: PIN + KEK id {id}"),
        }
    }
    // Principal secrets (named users, the SO's authority): each is sealed
    // again under the KEK at that principal's next login.
    for (name, id) in &st.principals {
        match id {
            None => {
                all = false;
                out!("principal {name}: PIN only (until its next login with the KEK configured)")
            }
            Some(id) => out!("principal {name}: PIN + KEK id {id}"),
        }
    }
    Ok(all)
}

pub fn run_kek(lib: &Library, slot: u64, cmd: KekCmd) -> Result<(), String> {
    match cmd {
        KekCmd::New { .. } => Err("handled before the library opens".into()),
        KekCmd::Status => kek_status(lib, slot).map(|_| ()),
        KekCmd::Add { so_pin, pin } => {
            let t = lib.token(slot).map_err(|e| e.to_string())?;
            if t.kek_status().map_err(|e| e.to_string())?.configured.is_none() {
                return Err("no KEK configured: set [store] kek_file (keyward kek new FILE makes one)".into());
            }
            let h = lib.open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION).map_err(|e| e.to_string())?;
            let so = pin_or_prompt(so_pin, "SO PIN")?;
            lib.login(h, CKU_SO, so.as_bytes()).map_err(|e| format!("SO login: {e}"))?;
            lib.logout(h).map_err(|e| e.to_string())?;
            if t.kek_status().map_err(|e| e.to_string())?.user.is_some() {
                let user = pin_or_prompt(pin, "user PIN")?;
                lib.login(h, CKU_USER, user.as_bytes()).map_err(|e| format!("user login: {e}"))?;
                lib.logout(h).map_err(|e| e.to_string())?;
            }
            lib.close_session(h).map_err(|e| e.to_string())?;
            if !kek_status(lib, slot)? {
                return Err("a PIN is still not wrapped under the KEK".into());
            }
            Ok(())
        }
    }
}
