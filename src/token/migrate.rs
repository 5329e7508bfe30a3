//! `keyward store migrate`: moves a SQLite token (a token directory) into
//! PostgreSQL and back. The store copies rows (`store::migrate`); this
//! module knows what the token layer adds: the audit log's anchor and start
//! move under this host's per-log keys, because on a shared store each
//! host's log has its own (see `audited`), and back to the plain keys of a
//! SQLite token, whose log lives in its directory.

use crate::error::Result;
use crate::store::migrate::{Copied, copy};
use crate::store::{PgOptions, Store};
use std::path::Path;

/// Copies the SQLite token in `dir` into the empty PostgreSQL schema of
/// `to`. The audit log stays in `log_dir` (the slot's `path` afterwards;
/// usually `dir` itself).
pub fn sqlite_to_postgres(dir: &Path, to: PgOptions, log_dir: &Path) -> Result<Copied> {
    if !dir.join(crate::store::DB_FILE).is_file() {
        return Err(crate::error::Error::new(
            crate::ck::CKR_ARGUMENTS_BAD,
            format!("{} holds no token ({} missing)", dir.display(), crate::store::DB_FILE),
        ));
    }
    let from = Store::open(dir)?;
    let target = Store::open_postgres(to)?;
    copy(&from, &target, &|k: &str| super::audited::shared_audit_meta_key(k, log_dir))
}

/// Copies the token in the PostgreSQL schema of `from` into a new SQLite
/// token in `dir` (created if missing; one already holding a token with
/// anything in it is refused). `log_dir` is the directory of this host's
/// audit log of that token (the PostgreSQL slot's `path`): its anchor
/// becomes the SQLite token's, and when it is not `dir` its log files are
/// copied into `dir` (where a SQLite token's log lives; a log already
/// there is refused). Other hosts' anchors are kept under their keys.
pub fn postgres_to_sqlite(from: PgOptions, dir: &Path, log_dir: &Path) -> Result<Copied> {
    use crate::audit::writer::{META_ANCHOR, META_START};
    use crate::error::Error;
    let copy_log = std::fs::canonicalize(log_dir).ok() != std::fs::canonicalize(dir).ok();
    let logs = if copy_log { audit_files(log_dir)? } else { Vec::new() };
    if copy_log && dir.join(crate::audit::LOG_FILE).exists() {
        return Err(Error::new(
            crate::ck::CKR_FUNCTION_FAILED,
            format!("{} already holds an audit log: refusing to overwrite it", dir.display()),
        ));
    }
    let source = Store::open_postgres(from)?;
    crate::store::create_private_dir(dir)?;
    let target = Store::open(dir)?;
    let ours = [META_ANCHOR, META_START].map(|k| (super::audited::shared_audit_meta_key(k, log_dir), k));
    let rename = |k: &str| ours.iter().find(|(shared, _)| shared == k).map_or(k, |(_, plain)| plain).to_string();
    let copied = copy(&source, &target, &rename)?;
    for f in logs {
        let to = dir.join(f.file_name().unwrap_or_default());
        std::fs::copy(&f, &to)
            .map_err(|e| Error::device(format!("copying the audit log {} to {}: {e}", f.display(), to.display())))?;
    }
    Ok(copied)
}

/// The audit log files in `dir` (live and rotated).
fn audit_files(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|e| crate::error::Error::device(format!("{}: {e}", dir.display())))?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name == crate::audit::LOG_FILE || (name.starts_with("audit-") && name.ends_with(".jsonl")) {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}
