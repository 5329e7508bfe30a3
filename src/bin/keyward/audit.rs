//! `keyward audit ...` and `keyward metrics`: checking and printing the
//! tamper-evident audit log, and the Prometheus view of a token.
//!
//! Owns: the commands and their text. Must not touch: the log's format, its
//! MAC chain or the metrics' names (`keyward::audit`).

use clap::Subcommand;
use keyward::library::Library;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Check the MAC chain; report the first broken record and exit non-zero.
    Verify {
        /// Also check against the anchors an external witness saw: the
        /// events file ([events] file) or a syslog file with keyward's
        /// `dev.keyward.audit.anchor` events.
        #[arg(long)]
        witness: Option<PathBuf>,
    },
    /// Print records (oldest first).
    Show {
        /// Only records at or after this time (RFC 3339, YYYY-MM-DD, or an age like 15m, 2h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// Only records naming this key (label, UID or handle).
        #[arg(long)]
        key: Option<String>,
        /// Only records of calls by this named user (`keyward user`).
        #[arg(long)]
        user: Option<String>,
        /// Print the raw JSON lines.
        #[arg(long)]
        json: bool,
    },
}

pub fn run_audit(lib: &Library, slot: u64, cmd: AuditCmd) -> Result<(), String> {
    let t = lib.token(slot).map_err(|e| e.to_string())?;
    let dir = t.audit_dir();
    match cmd {
        AuditCmd::Verify { witness } => {
            let text = match &witness {
                Some(p) => Some(std::fs::read_to_string(p).map_err(|e| format!("witness {}: {e}", p.display()))?),
                None => None,
            };
            match t.verify_audit(text.as_deref()).map_err(|e| e.to_string())? {
                Ok(v) => {
                    out!(
                        "audit log OK: {} records (seq {}..{}) in {} file(s){}",
                        v.records,
                        v.first_seq,
                        v.last.seq,
                        v.files,
                        if witness.is_some() { ", consistent with the witness" } else { "" }
                    );
                    Ok(())
                }
                Err(b) => Err(format!("audit log BROKEN: {b}")),
            }
        }
        AuditCmd::Show { since, key, user, json } => {
            let since = match since {
                Some(s) => {
                    Some(keyward::audit::record::parse_time_ms(&s).ok_or_else(|| format!("cannot parse time {s:?}"))?)
                }
                None => None,
            };
            let mut out = std::io::stdout().lock();
            keyward::audit::read_lines(&dir, &mut |line, r| {
                if since.is_some_and(|s| r.time_ms().is_some_and(|t| t < s)) {
                    return true;
                }
                if key.as_deref().is_some_and(|k| !keyward::audit::names_key(r, k)) {
                    return true;
                }
                if user.as_deref().is_some_and(|u| r.principal.as_deref() != Some(u)) {
                    return true;
                }
                use std::io::Write;
                let shown = if json { line.to_string() } else { keyward::audit::format_human(r) };
                writeln!(out, "{shown}").is_ok()
            });
            Ok(())
        }
    }
}

/// `keyward metrics`: to stdout, or atomically into `output`.
pub fn run_metrics(lib: &Library, slot: u64, output: Option<PathBuf>) -> Result<(), String> {
    let t = lib.token(slot).map_err(|e| e.to_string())?;
    let label = lib.token_info(slot).map(|i| i.label).unwrap_or_default();
    let keys = t.key_summaries().unwrap_or_default();
    let text = keyward::audit::metrics::token_view(&label, slot, &keys, &t.audit_dir());
    match output {
        Some(p) => {
            let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            let name = p.file_name().and_then(|n| n.to_str()).ok_or("bad output path")?;
            keyward::audit::metrics::write_textfile(dir, name, &text).map_err(|e| e.to_string())?;
        }
        None => outp!("{text}"),
    }
    Ok(())
}
