//! `keyward store migrate`: moves a SQLite token (a token directory) into
//! PostgreSQL. The store copies rows (`store::migrate`); this module knows
//! what the token layer adds: the audit log's anchor and start move under
//! this host's per-log keys, because on a shared store each host's log
//! has its own (see `audited`).

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
