//! `keyward user ...`: the SO's management of named users (issue 17):
//! add, list, lock, unlock, reset the PIN of, and remove them.
//!
//! Owns: the commands and their text. Must not touch: what a user is or
//! may do (`keyward::token::principal`, reached through `Library::user_*`).

use crate::format::pin_or_prompt;
use clap::Subcommand;
use keyward::ck::*;
use keyward::library::Library;
use keyward::token::principal::{role_bit, role_names};
use keyward::token::totp_policy;
use std::os::unix::fs::OpenOptionsExt;
use zeroize::Zeroizing;

/// Runs `run`, which may make a TOTP secret; with `file`, the file is made
/// first (0600, never overwritten: no secret that went nowhere) and gets
/// the secret's URI, or is removed again when `run` fails.
fn with_uri_file<T>(
    file: Option<&std::path::Path>,
    run: impl FnOnce() -> keyward::error::Result<(T, Option<Zeroizing<String>>)>,
) -> Result<T, String> {
    use std::io::Write;
    let Some(p) = file else { return run().map(|(v, _)| v).map_err(|e| e.to_string()) };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(p)
        .map_err(|e| format!("{}: {e}", p.display()))?;
    match run() {
        Ok((v, Some(uri))) => {
            f.write_all(uri.as_bytes()).and_then(|()| f.sync_all()).map_err(|e| format!("{}: {e}", p.display()))?;
            Ok(v)
        }
        Ok((_, None)) => Err("no TOTP secret was made".into()),
        Err(e) => {
            let _ = std::fs::remove_file(p);
            Err(e.to_string())
        }
    }
}

#[derive(Subcommand)]
pub enum UserCmd {
    /// Add a named user with its own PIN (prompted, or --new-pin / $KEYWARD_NEW_PIN).
    Add {
        name: String,
        /// A role: user (use keys granted to it), admin, auditor; repeatable (default: user).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// The new user's PIN (else $KEYWARD_NEW_PIN, else a prompt).
        #[arg(long, env = "KEYWARD_NEW_PIN", hide_env_values = true)]
        new_pin: Option<String>,
        /// Its logins also need a TOTP code (RFC 6238: SHA-1, 30 s, 6 digits)
        /// typed right after the PIN; the secret's otpauth:// URI (for the
        /// user's authenticator app) is written to FILE (created 0600, never
        /// overwritten; the secret is never printed).
        #[arg(long, value_name = "FILE")]
        totp: Option<std::path::PathBuf>,
        /// An administrator (needs --role admin) that every new key of a
        /// named user is granted to, for administration only.
        #[arg(long)]
        auto_admin: bool,
    },
    /// The named users: id, roles, locked, failed logins.
    List,
    /// Lock a user: its logins fail with CKR_PIN_LOCKED until unlocked.
    Lock { name: String },
    /// Unlock a user and zero its failed-login count.
    Unlock { name: String },
    /// Give a user a new PIN (and new keys); its failed-login count is zeroed.
    Passwd {
        name: String,
        /// The new PIN (else $KEYWARD_NEW_PIN, else a prompt).
        #[arg(long, env = "KEYWARD_NEW_PIN", hide_env_values = true)]
        new_pin: Option<String>,
        /// A new TOTP secret too (required for a user that had one: a reset
        /// never drops a second factor); its otpauth:// URI is written to
        /// FILE (created 0600, never overwritten).
        #[arg(long, value_name = "FILE")]
        totp: Option<std::path::PathBuf>,
    },
    /// Remove a user.
    Remove { name: String },
    /// From now on the SO's logins need a TOTP code after the SO PIN (the
    /// SO PIN argument is then the PIN followed by the code, or set
    /// $KEYWARD_TOTP); the secret's otpauth:// URI is written to FILE
    /// (created 0600, never overwritten).
    SoTotp { file: std::path::PathBuf },
    /// Show or set the token-wide TOTP policy: who must have a second
    /// factor (so, admin, user: every named user) and whether destructive
    /// acts need one (destructive); `--require none` clears it. A policy a
    /// principal does not meet yet is refused, naming it.
    TotpPolicy {
        #[arg(long, value_name = "LIST")]
        require: Option<String>,
    },
    /// The token's quorums: how many administrators approve a purge
    /// (`keyward key purge`) or a grant change (`keyward key grant|revoke`)
    /// with `keyward request approve`; 1: none.
    Quorum {
        #[arg(long)]
        purge: Option<u32>,
        /// Grant changes (`keyward key grant|revoke`) too.
        #[arg(long)]
        grant: Option<u32>,
    },
}

/// Runs `cmd` as the SO on `slot` (`so_pin`: --so-pin, $KEYWARD_SO_PIN, or a prompt).
pub fn run_user(lib: &Library, slot: u64, so_pin: Option<String>, cmd: UserCmd) -> Result<(), String> {
    let h = lib.open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION).map_err(|e| e.to_string())?;
    let so = crate::format::with_totp(lib, slot, "so", pin_or_prompt(so_pin, "SO PIN")?, None)?;
    lib.login(h, CKU_SO, so.as_bytes()).map_err(|e| format!("SO login: {e}"))?;
    let r = run_cmd(lib, h, cmd);
    let _ = lib.logout(h);
    r
}

fn run_cmd(lib: &Library, h: keyward::types::Handle, cmd: UserCmd) -> Result<(), String> {
    let s = |e: keyward::error::Error| e.to_string();
    match cmd {
        UserCmd::Add { name, roles, new_pin, totp, auto_admin } => {
            let mut bits = 0;
            for r in if roles.is_empty() { vec!["user".to_string()] } else { roles } {
                bits |= role_bit(&r).ok_or_else(|| format!("unknown role {r:?}: user, admin or auditor"))?;
            }
            let pin = pin_or_prompt(new_pin, &format!("PIN for {name}"))?;
            with_uri_file(totp.as_deref(), || lib.user_add(h, &name, bits, pin.as_bytes(), totp.is_some(), auto_admin))
                .map(|id| match &totp {
                    Some(p) => {
                        out!("added user {name} (id {id}, roles {}, TOTP: URI in {})", role_names(bits), p.display())
                    }
                    None => out!("added user {name} (id {id}, roles {})", role_names(bits)),
                })
        }
        UserCmd::List => lib
            .users(h)
            .map(|users| {
                if users.is_empty() {
                    out!("no named users");
                }
                for u in users {
                    let mut extra = String::new();
                    if u.totp {
                        extra.push_str("\ttotp");
                    }
                    if u.auto_admin {
                        extra.push_str("\tauto-admin");
                    }
                    out!(
                        "{}\tid {}\troles {}\t{}\tfailed logins {}{extra}",
                        u.name,
                        u.id,
                        role_names(u.roles),
                        if u.locked { "locked" } else { "active" },
                        u.failures
                    );
                }
            })
            .map_err(s),
        UserCmd::Lock { name } => lib.user_set_locked(h, &name, true).map(|()| out!("locked user {name}")).map_err(s),
        UserCmd::Unlock { name } => {
            lib.user_set_locked(h, &name, false).map(|()| out!("unlocked user {name}")).map_err(s)
        }
        UserCmd::Passwd { name, new_pin, totp } => {
            let pin = pin_or_prompt(new_pin, &format!("new PIN for {name}"))?;
            with_uri_file(totp.as_deref(), || {
                lib.user_reset_pin(h, &name, pin.as_bytes(), totp.is_some()).map(|uri| ((), uri))
            })
            .map(|()| match &totp {
                Some(p) => out!("new PIN and TOTP secret set for user {name} (URI in {})", p.display()),
                None => out!("new PIN set for user {name}"),
            })
        }
        UserCmd::Remove { name } => lib.user_remove(h, &name).map(|()| out!("removed user {name}")).map_err(s),
        UserCmd::SoTotp { file } => with_uri_file(Some(&file), || lib.so_enable_totp(h).map(|uri| ((), Some(uri))))
            .map(|()| out!("the SO's logins now need a TOTP code (URI in {})", file.display())),
        UserCmd::TotpPolicy { require } => match require {
            None => lib.totp_policy(h).map(|b| out!("TOTP required for: {}", totp_policy::names(b))).map_err(s),
            Some(list) => {
                let bits = totp_policy::parse(&list).ok_or_else(|| {
                    format!("--require {list:?}: a comma list of so, admin, user, destructive, or none")
                })?;
                lib.set_totp_policy(h, bits)
                    .and_then(|()| lib.totp_policy(h))
                    .map(|b| out!("TOTP now required for: {}", totp_policy::names(b)))
                    .map_err(s)
            }
        },
        UserCmd::Quorum { purge, grant } => {
            if purge.is_none() && grant.is_none() {
                return Err("name --purge M and/or --grant M".into());
            }
            let mut r = Ok(());
            for (is_grant, m, what) in [(false, purge, "purges"), (true, grant, "grant changes")] {
                if let Some(m) = m {
                    r = r
                        .and_then(|()| lib.set_quorum(h, is_grant, m))
                        .map(|()| out!("{what} now need {m} administrator approval(s)"));
                }
            }
            r.map_err(s)
        }
    }
}
