//! A minimal stderr logger for the module and the CLI, switched on by
//! `KEYWARD_LOG=error|warn|info|debug|trace`. Never logs secret values:
//! callers log reasons, handles and sizes only.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;
use std::sync::Once;

struct StderrLogger;

static LOGGER: StderrLogger = StderrLogger;
static INIT: Once = Once::new();

impl Log for StderrLogger {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }
    fn log(&self, r: &Record<'_>) {
        if self.enabled(r.metadata()) {
            let _ = writeln!(std::io::stderr(), "keyward[{}] {}: {}", std::process::id(), r.level(), r.args());
        }
    }
    fn flush(&self) {}
}

/// Installs the logger once, at the level `KEYWARD_LOG` names (default: errors only).
pub fn init() {
    INIT.call_once(|| {
        let level = match std::env::var("KEYWARD_LOG").ok().as_deref() {
            Some("trace") => LevelFilter::Trace,
            Some("debug") => LevelFilter::Debug,
            Some("info") => LevelFilter::Info,
            Some("warn") => LevelFilter::Warn,
            Some("off") => LevelFilter::Off,
            _ => LevelFilter::Error,
        };
        if log::set_logger(&LOGGER).is_ok() {
            log::set_max_level(level);
        }
    });
}

/// Logs an error returned to a caller: expected outcomes at debug, the rest at warn.
pub fn returned(function: &str, e: &crate::Error) {
    use crate::ck::*;
    let level = match e.rv() {
        CKR_BUFFER_TOO_SMALL
        | CKR_USER_ALREADY_LOGGED_IN
        | CKR_USER_NOT_LOGGED_IN
        | CKR_CRYPTOKI_ALREADY_INITIALIZED => Level::Debug,
        CKR_GENERAL_ERROR | CKR_DEVICE_ERROR | CKR_DEVICE_MEMORY | CKR_FUNCTION_FAILED => Level::Error,
        _ => Level::Info,
    };
    log::log!(level, "{function}: {e}");
}
