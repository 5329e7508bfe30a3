//! What every command of the CLI shares for talking to a human: writing to
//! stdout (a closed pipe ends the program quietly), one-line errors with
//! their CK_RV name, JSON, and reading PINs (argument, environment, prompt;
//! [`PinArg`], and [`user_session`] logs the user in with one).
//!
//! Owns: presentation only. Must not decide anything about keys: every
//! decision is the library's (`keyward::library::Library`), whose data
//! (`KeyInfo`, `Report` ...) the commands format.

use keyward::ck::*;
use keyward::library::Library;
use keyward::types::Handle;
use zeroize::Zeroizing;

/// `println!` that ends the program quietly when stdout is a closed pipe
/// (`keyward audit show | head`) instead of panicking.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($t)*) {
            $crate::format::exit_on_stdout_error(e);
        }
    }};
}

/// `print!`, likewise.
macro_rules! outp {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout(), $($t)*) {
            $crate::format::exit_on_stdout_error(e);
        }
    }};
}

pub fn exit_on_stdout_error(e: std::io::Error) {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("keyward: cannot write to stdout: {e}");
    std::process::exit(1);
}

/// A library error as one line: its reason and its CK_RV name.
pub fn e(err: keyward::Error) -> String {
    err.reason().to_string() + &format!(" ({})", keyward::error::rv_name(err.rv()))
}

pub fn json<T: serde::Serialize>(v: &T) -> Result<String, String> {
    serde_json::to_string_pretty(v).map_err(|x| x.to_string())
}

/// A PIN given on the command line (or in the environment), else a prompt.
pub fn pin_or_prompt(given: Option<String>, what: &str) -> Result<Zeroizing<String>, String> {
    if let Some(p) = given {
        return Ok(Zeroizing::new(p));
    }
    let p = rpassword::prompt_password(format!("{what}: ")).map_err(|e| format!("cannot read {what}: {e}"))?;
    Ok(Zeroizing::new(p))
}

/// `pin` followed by the current TOTP code of principal `name` (`so`: the
/// SO) when its logins need one: `given` (`--totp`), else `$KEYWARD_TOTP`,
/// else a prompt (the code goes right after the PIN).
pub fn with_totp(
    lib: &Library,
    slot: Handle,
    name: &str,
    pin: Zeroizing<String>,
    given: Option<&str>,
) -> Result<Zeroizing<String>, String> {
    let mut pin = pin;
    let code = match given.map(str::to_string).or_else(|| std::env::var("KEYWARD_TOTP").ok()) {
        Some(c) => c,
        // (only at a terminal; an unknown principal or an unreadable store:
        // no prompt, the login says why)
        None if std::io::IsTerminal::is_terminal(&std::io::stdin())
            && lib.token(slot).and_then(|t| t.needs_totp(name)).unwrap_or(false) =>
        {
            rpassword::prompt_password(format!("TOTP code for {name}: "))
                .map_err(|x| format!("cannot read the TOTP code: {x}"))?
        }
        None => return Ok(pin),
    };
    pin.push_str(code.trim());
    Ok(pin)
}

/// The user PIN: `--pin`, else `$KEYWARD_PIN`, else a prompt.
#[derive(clap::Args, Debug, Clone)]
pub struct PinArg {
    /// User PIN (else $KEYWARD_PIN, else a prompt).
    #[arg(long, env = "KEYWARD_PIN", hide_env_values = true, global = true)]
    pub pin: Option<String>,
    /// Log in as this named user (C_LoginUser) instead of the default user.
    #[arg(long = "as", id = "as_user", value_name = "USER", global = true)]
    pub as_user: Option<String>,
    /// The current TOTP code of a named user whose logins need one (else
    /// $KEYWARD_TOTP); it is sent right after the PIN.
    #[arg(long, env = "KEYWARD_TOTP", hide_env_values = true, global = true)]
    pub totp: Option<String>,
}

/// A R/W session on `slot` with the user logged in.
pub fn user_session(lib: &Library, slot: Handle, pin: &PinArg) -> Result<Handle, String> {
    let prompt = match &pin.as_user {
        Some(u) => format!("PIN for {u}: "),
        None => "user PIN: ".to_string(),
    };
    let mut secret = match &pin.pin {
        Some(p) => Zeroizing::new(p.clone()),
        None => Zeroizing::new(rpassword::prompt_password(prompt).map_err(|x| format!("cannot read the PIN: {x}"))?),
    };
    // A TOTP code goes right after the PIN (docs/named-users.md §3).
    if let Some(name) = &pin.as_user {
        secret = with_totp(lib, slot, name, secret, pin.totp.as_deref())?;
    } else if let Some(code) = &pin.totp {
        secret.push_str(code.trim());
    }
    let h = lib.open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION).map_err(e)?;
    lib.login_user(h, CKU_USER, secret.as_bytes(), pin.as_user.as_deref()).map_err(|x| format!("login: {}", e(x)))?;
    Ok(h)
}
