//! Reading a token's log back (`keyward audit show`, `keyward metrics`):
//! its records oldest first, matching a key, a one-line human form.
//!
//! Owns: nothing but reading. Must not touch: the chain's verification
//! (`verify.rs`, `chain.rs`), anything written.

use super::chain;
use super::record::Record;
use std::io::BufRead;
use std::path::Path;

/// Calls `f` with every record of the log in `dir`, oldest first, until it
/// returns false. Lines that do not parse are skipped (`verify` names them).
pub fn read_log(dir: &Path, f: &mut dyn FnMut(Record) -> bool) {
    each_record(dir, &mut |_, r| f(r));
}

/// The raw lines of the log, oldest first (for `audit show --json`).
pub fn read_lines(dir: &Path, f: &mut dyn FnMut(&str, &Record) -> bool) {
    each_record(dir, &mut |line, r| f(line, &r));
}

/// Every parsed record of the log with its line, oldest first, until `f`
/// returns false.
fn each_record(dir: &Path, f: &mut dyn FnMut(&str, Record) -> bool) {
    let Ok(files) = chain::log_files(dir) else { return };
    for path in files {
        let Ok(file) = std::fs::File::open(&path) else { continue };
        for line in std::io::BufReader::new(file).lines() {
            let Ok(line) = line else { break };
            let Some((body, _)) = chain::split_line(&line) else { continue };
            if let Ok(r) = serde_json::from_str::<Record>(&body)
                && !f(&line, r)
            {
                return;
            }
        }
    }
}

/// Whether record `r` names the key `name` (UID, label, or handle).
pub fn names_key(r: &Record, name: &str) -> bool {
    r.key.iter().chain(r.created.iter()).any(|k| {
        k.uid.as_deref() == Some(name)
            || k.label.as_deref() == Some(name)
            || k.handle.is_some_and(|h| h.to_string() == name)
    })
}

/// A one-line human form of a record.
pub fn format_human(r: &Record) -> String {
    let key = r
        .key
        .as_ref()
        .map(|k| {
            let mut s = k
                .label
                .clone()
                .or_else(|| k.uid.clone())
                .unwrap_or_else(|| k.handle.map(|h| format!("handle {h}")).unwrap_or_default());
            if let Some(v) = k.version {
                s.push_str(&format!(" v{v}"));
            }
            s
        })
        .unwrap_or_default();
    let mut line = format!(
        "{} #{:<6} {:<9} {:<20} {:<5} {:<22} {:<24} {}",
        r.time,
        r.seq,
        format!("{:?}", r.kind).to_lowercase(),
        r.function,
        match &r.principal {
            Some(p) => format!("{}:{p}", r.role),
            None => r.role.clone(),
        },
        r.mechanism.as_deref().unwrap_or("-"),
        if key.is_empty() { "-".to_string() } else { key },
        r.result
    );
    if let Some(e) = &r.event {
        line.push_str(&format!(" [{e}]"));
    }
    if let Some(reason) = &r.reason {
        line.push_str(&format!(" ({reason})"));
    }
    if let Some(n) = r.count {
        line.push_str(&format!(" x{n} (last {})", r.last.as_deref().unwrap_or("?")));
    }
    line.push_str(&format!(" pid={} user={}", r.pid, r.user));
    line
}
