//! What every command of the CLI shares for talking to a human: writing to
//! stdout (a closed pipe ends the program quietly), one-line errors with
//! their CK_RV name, JSON, and reading PINs (argument, environment, prompt).
//!
//! Owns: presentation only. Must not decide anything about keys: every
//! decision is the library's (`keyward::library::Library`), whose data
//! (`KeyInfo`, `Report` ...) the commands format.

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
