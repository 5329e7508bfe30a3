//! The SQLite schema, its migrations, and the private files and directory
//! the database lives in.

use super::super::corrupt;
use crate::error::{Error, Result};
use rusqlite::{Connection, TransactionBehavior};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Schema migrations: entry `i` takes `PRAGMA user_version` from `i` to
/// `i + 1`. Append new versions; never edit a released one.
const MIGRATIONS: &[&str] = &[SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4];

pub(super) const SCHEMA_V1: &str = "
CREATE TABLE token (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    label TEXT NOT NULL,
    serial TEXT NOT NULL,
    so_salt BLOB,
    so_iter INTEGER,
    so_blob BLOB,
    user_salt BLOB,
    user_iter INTEGER,
    user_blob BLOB,
    so_failures INTEGER NOT NULL DEFAULT 0,
    user_failures INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE objects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uid TEXT UNIQUE NOT NULL,
    rev INTEGER NOT NULL,
    public BLOB NOT NULL,
    sealed BLOB NOT NULL
) STRICT;
CREATE INDEX objects_rev ON objects(rev);
CREATE TABLE tombstones (
    id INTEGER PRIMARY KEY,
    rev INTEGER NOT NULL
) STRICT;
CREATE INDEX tombstones_rev ON tombstones(rev);
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;
CREATE TABLE counters (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    rev INTEGER NOT NULL
) STRICT;
INSERT INTO counters (id, rev) VALUES (1, 0);
";

/// Schema 2: every object row carries a MAC over its id, uid and both blobs
/// (`seal::RowKey`). Rows from schema 1 have none until the first login
/// after the upgrade binds them (see `store::META_ROWS_BOUND`).
const SCHEMA_V2: &str = "
ALTER TABLE objects ADD COLUMN mac BLOB;
";

/// Schema 3: the lookup columns of `store::index` (derived from `public`
/// on every write; filled for existing rows by [`fill_index`]), so a token
/// too large to hold resident finds rows by label, managed key, copy
/// source and due time without reading every row.
const SCHEMA_V3: &str = "
ALTER TABLE objects ADD COLUMN label BLOB;
ALTER TABLE objects ADD COLUMN key_id BLOB;
ALTER TABLE objects ADD COLUMN copy_of INTEGER;
ALTER TABLE objects ADD COLUMN class INTEGER;
ALTER TABLE objects ADD COLUMN due INTEGER;
CREATE INDEX objects_label ON objects(label);
CREATE INDEX objects_key_id ON objects(key_id);
CREATE INDEX objects_copy_of ON objects(copy_of) WHERE copy_of IS NOT NULL;
CREATE INDEX objects_due ON objects(due) WHERE due IS NOT NULL;
";

/// Schema 4: named principals and per-key grants (`store::principals`,
/// docs/named-users.md §2). Principal ids 0 (SO) and 1 (default user) are
/// written explicitly; the sequence starts named users at 2. The
/// authorization revision moves with every principal or grant write.
const SCHEMA_V4: &str = "
CREATE TABLE principals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT UNIQUE NOT NULL,
    roles INTEGER NOT NULL,
    record BLOB NOT NULL,
    record_sig BLOB NOT NULL,
    pin_salt BLOB,
    pin_iter INTEGER,
    secret BLOB NOT NULL,
    locked INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    totp_last_step INTEGER NOT NULL DEFAULT 0,
    rev INTEGER NOT NULL
) STRICT;
INSERT INTO sqlite_sequence (name, seq) VALUES ('principals', 1);
CREATE TABLE grants (
    key_id BLOB NOT NULL,
    principal INTEGER NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    ops INTEGER NOT NULL,
    wrap BLOB NOT NULL,
    granter INTEGER NOT NULL,
    sig BLOB NOT NULL,
    rev INTEGER NOT NULL,
    PRIMARY KEY (key_id, principal)
) STRICT;
CREATE INDEX grants_principal ON grants (principal);
ALTER TABLE counters ADD COLUMN auth_rev INTEGER NOT NULL DEFAULT 0;
";

/// Fills the lookup columns of every existing row (the upgrade to schema
/// 3). Not stamped: the rows' content does not change.
fn fill_index(conn: &Connection) -> Result<()> {
    let rows: Vec<(i64, Vec<u8>)> = conn
        .prepare("SELECT id, public FROM objects")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut st =
        conn.prepare("UPDATE objects SET label = ?2, key_id = ?3, copy_of = ?4, class = ?5, due = ?6 WHERE id = ?1")?;
    for (id, public) in rows {
        let k = crate::store::index::IndexKeys::of_public(&public);
        st.execute(rusqlite::params![id, k.label, k.key_id, k.copy_of, k.class, k.due])?;
    }
    Ok(())
}

/// Creates `dir` (and missing parents) with mode 0700; an existing
/// directory keeps its permissions.
pub(in crate::store) fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::device(format!("cannot create token directory {}: {e}", dir.display())))?;
    // The umask may have removed owner bits; it can never have added others.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| Error::device(format!("cannot set permissions of {}: {e}", dir.display())))?;
    Ok(())
}

/// Creates the database file with mode 0600 before SQLite sees it (an
/// existing file is left as it is), and checks that it is writable.
pub(super) fn create_private_file(path: &Path) -> Result<()> {
    // Never open (and close) an existing database file: closing any fd of a
    // file drops every POSIX lock this process holds on it, including the
    // SHARED lock of a connection already open here (the audit log opens a
    // second Store). Another process could then think it is the last
    // connection and delete the WAL and -shm under our feet, leaving this
    // connection on a stale snapshot (found by the kms tests).
    if path.exists() {
        return Ok(());
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::device(format!("cannot open token store {}: {e}", path.display())))?;
    Ok(())
}

pub(super) fn user_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Brings the schema to the newest version in one IMMEDIATE transaction
/// (another process may be migrating the same file at the same moment).
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let latest = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    let too_new = |v: i64| {
        Error::device(format!("token store schema version {v} is newer than this keyward supports ({latest})"))
    };
    let v = user_version(conn)?;
    if v == latest {
        return Ok(());
    }
    if v > latest {
        return Err(too_new(v));
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let v = user_version(&tx)?;
    if v > latest {
        return Err(too_new(v));
    }
    let from = usize::try_from(v).map_err(|_| corrupt("negative schema version"))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from) {
        tx.execute_batch(sql)?;
        if i + 1 == 3 {
            fill_index(&tx)?;
        }
        tx.pragma_update(None, "user_version", i64::try_from(i + 1).unwrap_or(i64::MAX))?;
    }
    tx.commit()?;
    Ok(())
}
