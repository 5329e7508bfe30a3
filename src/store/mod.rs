//! Persistence: one SQLite database per token (`<dir>/token.sqlite`).
//!
//! This module owns the schema, its migrations, the durability settings and
//! the multi-process rules; it stores bytes and knows nothing of sessions or
//! PKCS#11 policy (which attributes are secret, who may log in). `seal`
//! holds the at-rest cryptography, `codec` the attribute-blob format.
//!
//! Rules:
//! - Every write is one `BEGIN IMMEDIATE` transaction that bumps the global
//!   revision (`counters.rev`) once and stamps it on what it touched, so a
//!   crash leaves the previous or the next state, and a reader that remembers
//!   a revision can ask for everything newer ([`Store::changes_since`]).
//!   Writers take the write lock up front, so no deferred read ever has to be
//!   upgraded and `SQLITE_BUSY` from a lock upgrade never reaches the caller;
//!   contention between processes waits up to the busy timeout (10 s).
//! - Deleted objects leave a tombstone `(id, rev)` so other processes drop
//!   them from their caches. Object ids come from `AUTOINCREMENT`: they start
//!   at 1, are never reused (not even across `C_InitToken`) and stay below
//!   2^31, because they are the PKCS#11 handles of token objects.
//! - Durability: WAL with `synchronous=FULL`. WAL with `NORMAL` already
//!   survives SIGKILL (a commit is in the WAL file, in the OS page cache,
//!   before `COMMIT` returns), but not power loss or a kernel crash, and a
//!   lost generated key can mean lost data. FULL adds one fsync of the WAL
//!   per commit; token writes (object create/destroy, PIN changes) are rare
//!   next to the crypto hot path, which never touches SQLite.
//! - The database file and directory are private (0600 / 0700); SQLite
//!   creates the `-wal` and `-shm` files with the database file's mode.
//!   `secure_delete` overwrites deleted content.
//! - Every object row carries a MAC over its id, uid and both blobs
//!   (schema 2, `seal::RowKey`); the caller computes it (inserts get their
//!   id first, in the same transaction) and checks it when it reads rows.

pub mod codec;
pub mod kek;
pub mod seal;

use crate::ck::*;
use crate::error::{Error, Result};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use std::cell::Cell;
use std::fmt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The database file inside a token directory.
pub const DB_FILE: &str = "token.sqlite";

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Token object ids are PKCS#11 handles; session objects start at 2^31.
const MAX_OBJECT_ID: i64 = 0x7FFF_FFFF;
/// Enough room that the hot statements (`PRAGMA data_version`) stay cached.
const STATEMENT_CACHE: usize = 64;

/// Schema migrations: entry `i` takes `PRAGMA user_version` from `i` to
/// `i + 1`. Append new versions; never edit a released one.
const MIGRATIONS: &[&str] = &[SCHEMA_V1, SCHEMA_V2];

const SCHEMA_V1: &str = "
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
/// after the upgrade binds them (see [`META_ROWS_BOUND`]).
const SCHEMA_V2: &str = "
ALTER TABLE objects ADD COLUMN mac BLOB;
";

/// Meta key present once every row of the store carries a MAC: from then
/// on a row without one is refused. Written by the caller (the token layer
/// binds schema-1 rows at the first login that has the master key).
pub const META_ROWS_BOUND: &str = "rows.bound";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    So,
    User,
}

/// A master key wrapped under a PIN-derived key, with what derives that key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedKey {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub blob: Vec<u8>,
}

/// The token's single row.
#[derive(Clone, Debug)]
pub struct TokenRow {
    pub label: String,
    pub serial: String,
    pub so: Option<WrappedKey>,
    pub user: Option<WrappedKey>,
    pub so_failures: u32,
    pub user_failures: u32,
}

/// One token object: public attributes and sealed secrets, both
/// [`codec`]-encoded by the caller, and the MAC that binds them to the id
/// and uid (`None`: a row from schema 1 not bound yet).
#[derive(Clone, Debug)]
pub struct ObjectRow {
    pub id: i64,
    pub uid: String,
    pub public: Vec<u8>,
    pub sealed: Vec<u8>,
    pub mac: Option<Vec<u8>>,
}

/// Computes the MAC of a row being inserted, once its id is known.
pub type RowMac<'a> = dyn Fn(i64) -> Result<Vec<u8>> + 'a;

fn object_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ObjectRow> {
    Ok(ObjectRow { id: r.get(0)?, uid: r.get(1)?, public: r.get(2)?, sealed: r.get(3)?, mac: r.get(4)? })
}

/// Objects written and ids deleted after some revision, and the revision
/// they bring the reader to.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    pub rev: u64,
    pub upserts: Vec<ObjectRow>,
    pub deletes: Vec<i64>,
}

/// What this connection last read: `PRAGMA data_version` and the revision
/// it saw at that moment.
#[derive(Clone, Copy)]
struct Seen {
    data_version: i64,
    rev: u64,
}

struct Inner {
    conn: Connection,
    seen: Option<Seen>,
}

/// One token's database, opened by one process. Several `Store`s (in this
/// or other processes) may open the same directory at once.
pub struct Store {
    inner: Mutex<Inner>,
    path: PathBuf,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

thread_local! {
    /// The store whose `transaction` closure runs on this thread (its
    /// address), so a call back into it fails instead of deadlocking.
    static IN_TRANSACTION: Cell<usize> = const { Cell::new(0) };
}

struct TransactionMark(usize);

impl TransactionMark {
    fn enter(store: &Store) -> TransactionMark {
        TransactionMark(IN_TRANSACTION.with(|c| c.replace(store as *const Store as usize)))
    }
}

impl Drop for TransactionMark {
    fn drop(&mut self) {
        IN_TRANSACTION.with(|c| c.set(self.0));
    }
}

fn corrupt(what: &str) -> Error {
    Error::device(format!("token store is corrupt: {what}"))
}

fn not_initialized() -> Error {
    Error::new(CKR_TOKEN_NOT_RECOGNIZED, "token not initialized")
}

fn handle_invalid(id: i64) -> Error {
    Error::new(CKR_OBJECT_HANDLE_INVALID, format!("no token object with id {id}"))
}

fn to_rev(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| corrupt("negative revision"))
}

fn from_rev(rev: u64) -> i64 {
    i64::try_from(rev).unwrap_or(i64::MAX)
}

fn count(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

/// The SQL of the per-role statements (column names cannot be parameters).
struct RoleSql {
    select_failures: &'static str,
    reset_failures: &'static str,
    add_failure: &'static str,
    set_key: &'static str,
}

fn role_sql(role: Role) -> &'static RoleSql {
    const SO: RoleSql = RoleSql {
        select_failures: "SELECT so_failures FROM token WHERE id = 1",
        reset_failures: "UPDATE token SET so_failures = 0 WHERE id = 1 AND so_failures != 0",
        add_failure: "UPDATE token SET so_failures = so_failures + 1 WHERE id = 1 RETURNING so_failures",
        set_key: "UPDATE token SET so_salt = ?1, so_iter = ?2, so_blob = ?3, so_failures = 0 WHERE id = 1",
    };
    const USER: RoleSql = RoleSql {
        select_failures: "SELECT user_failures FROM token WHERE id = 1",
        reset_failures: "UPDATE token SET user_failures = 0 WHERE id = 1 AND user_failures != 0",
        add_failure: "UPDATE token SET user_failures = user_failures + 1 WHERE id = 1 RETURNING user_failures",
        set_key: "UPDATE token SET user_salt = ?1, user_iter = ?2, user_blob = ?3, user_failures = 0 WHERE id = 1",
    };
    match role {
        Role::So => &SO,
        Role::User => &USER,
    }
}

fn wrapped_key(salt: Option<Vec<u8>>, iter: Option<i64>, blob: Option<Vec<u8>>) -> Result<Option<WrappedKey>> {
    match (salt, iter, blob) {
        (None, None, None) => Ok(None),
        (Some(salt), Some(iter), Some(blob)) => {
            let iterations = u32::try_from(iter).map_err(|_| corrupt("PBKDF2 iteration count out of range"))?;
            Ok(Some(WrappedKey { salt, iterations, blob }))
        }
        _ => Err(corrupt("incomplete wrapped PIN key")),
    }
}

/// Creates `dir` (and missing parents) with mode 0700; an existing
/// directory keeps its permissions.
fn create_private_dir(dir: &Path) -> Result<()> {
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
fn create_private_file(path: &Path) -> Result<()> {
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

fn user_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Brings the schema to the newest version in one IMMEDIATE transaction
/// (another process may be migrating the same file at the same moment).
fn migrate(conn: &mut Connection) -> Result<()> {
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
        tx.pragma_update(None, "user_version", i64::try_from(i + 1).unwrap_or(i64::MAX))?;
    }
    tx.commit()?;
    Ok(())
}

fn data_version(conn: &Connection) -> Result<i64> {
    Ok(conn.prepare_cached("PRAGMA data_version")?.query_row([], |r| r.get(0))?)
}

/// Reads every object (`since == None`) or what changed after `since`, in
/// one read transaction, and remembers the `data_version` of that snapshot.
/// The version is read first, so a commit racing with this read can only
/// make the next `changes_since` look again, never skip a change.
fn read_changes(inner: &mut Inner, since: Option<u64>) -> Result<Changes> {
    let tx = inner.conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
    let dv = data_version(&tx)?;
    let rev = to_rev(tx.prepare_cached("SELECT rev FROM counters WHERE id = 1")?.query_row([], |r| r.get(0))?)?;
    let row = object_row;
    let mut changes = Changes { rev, ..Changes::default() };
    match since {
        None => {
            let mut st = tx.prepare_cached("SELECT id, uid, public, sealed, mac FROM objects ORDER BY id")?;
            changes.upserts = st.query_map([], row)?.collect::<rusqlite::Result<_>>()?;
        }
        Some(since) => {
            let since = from_rev(since);
            let mut st =
                tx.prepare_cached("SELECT id, uid, public, sealed, mac FROM objects WHERE rev > ?1 ORDER BY id")?;
            changes.upserts = st.query_map([since], row)?.collect::<rusqlite::Result<_>>()?;
            let mut st = tx.prepare_cached("SELECT id FROM tombstones WHERE rev > ?1 ORDER BY id")?;
            changes.deletes = st.query_map([since], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        }
    }
    tx.commit()?;
    inner.seen = Some(Seen { data_version: dv, rev });
    Ok(changes)
}

impl Store {
    /// Opens (creating) `dir/token.sqlite` and brings its schema up to date.
    pub fn open(dir: &Path) -> Result<Store> {
        create_private_dir(dir)?;
        let path = dir.join(DB_FILE);
        create_private_file(&path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(&path, flags).map_err(|e| {
            let e = Error::from(e);
            Error::new(e.rv(), format!("{}: {}", path.display(), e.reason()))
        })?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // Switching a fresh database to WAL needs an exclusive lock and does
        // not wait on the busy handler: when several processes open a new
        // token at once, retry (bounded) instead of failing.
        let mut tries = 0;
        let mode: String = loop {
            match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)) {
                Ok(m) => break m,
                Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) && tries < 500 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => return Err(e.into()),
            }
        };
        if !mode.eq_ignore_ascii_case("wal") {
            // Still transactional and crash-safe (rollback journal), only
            // readers and the writer block each other.
            log::warn!("token store {}: WAL unavailable, using journal_mode={mode}", path.display());
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.pragma_update(None, "trusted_schema", "OFF")?;
        migrate(&mut conn)?;
        Ok(Store { inner: Mutex::new(Inner { conn, seen: None }), path })
    }

    /// `store.durability = "normal"`: `synchronous=NORMAL` (WAL): commits
    /// survive a process crash, not a power loss (see the module doc).
    pub fn set_durability_normal(&self) -> Result<()> {
        self.lock()?.conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(())
    }

    /// `store.max_pages`: caps the database size (SQLite `max_page_count`).
    pub fn set_max_pages(&self, pages: u64) -> Result<()> {
        let n = i64::try_from(pages).unwrap_or(i64::MAX);
        self.lock()?.conn.query_row(&format!("PRAGMA max_page_count = {n}"), [], |_| Ok(()))?;
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>> {
        if IN_TRANSACTION.with(Cell::get) == self as *const Store as usize {
            return Err(Error::general("token store called again from inside Store::transaction"));
        }
        match self.inner.lock() {
            Ok(g) => Ok(g),
            Err(poisoned) => {
                // A panic unwound through a transaction, whose drop rolled it
                // back; make sure, then carry on with the connection.
                let g = poisoned.into_inner();
                if !g.conn.is_autocommit() {
                    g.conn.execute_batch("ROLLBACK")?;
                }
                self.inner.clear_poison();
                Ok(g)
            }
        }
    }

    /// One IMMEDIATE write transaction; an `Err` from `f` rolls it back.
    fn write<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let mut g = self.lock()?;
        let tx = g.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&Tx { conn: &tx, rev: Cell::new(None) })?;
        tx.commit()?;
        Ok(out)
    }

    /// The token row; `None` until `C_InitToken`.
    pub fn token(&self) -> Result<Option<TokenRow>> {
        let g = self.lock()?;
        let mut st = g.conn.prepare_cached(
            "SELECT label, serial, so_salt, so_iter, so_blob, user_salt, user_iter, user_blob, \
             so_failures, user_failures FROM token WHERE id = 1",
        )?;
        let raw = st
            .query_row([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    (r.get(2)?, r.get(3)?, r.get(4)?),
                    (r.get(5)?, r.get(6)?, r.get(7)?),
                    r.get::<_, i64>(8)?,
                    r.get::<_, i64>(9)?,
                ))
            })
            .optional()?;
        let Some((label, serial, so, user, so_failures, user_failures)) = raw else {
            return Ok(None);
        };
        Ok(Some(TokenRow {
            label,
            serial,
            so: wrapped_key(so.0, so.1, so.2)?,
            user: wrapped_key(user.0, user.1, user.2)?,
            so_failures: count(so_failures),
            user_failures: count(user_failures),
        }))
    }

    /// C_InitToken: in one transaction, deletes every object (each leaves a
    /// tombstone so other processes drop it), sets label, serial and SO key,
    /// clears the user key and zeroes both failure counters.
    pub fn init_token(&self, label: &str, serial: &str, so: &WrappedKey) -> Result<()> {
        self.write(|tx| tx.init_token(label, serial, so))
    }

    /// Sets (or clears) the wrapped master key of `role` and resets its
    /// failure counter.
    pub fn set_pin(&self, role: Role, wrapped: Option<&WrappedKey>) -> Result<()> {
        self.write(|tx| tx.set_pin(role, wrapped))
    }

    /// Replaces the wrapped master key of `role` by `new` if it is still
    /// `old` (a re-wrap of the same master key: the failure counter stays).
    /// Returns whether it was replaced.
    pub fn replace_wrapped(&self, role: Role, old: &WrappedKey, new: &WrappedKey) -> Result<bool> {
        let sql = match role {
            Role::So => {
                "UPDATE token SET so_salt = ?4, so_iter = ?5, so_blob = ?6 \
                 WHERE id = 1 AND so_salt = ?1 AND so_iter = ?2 AND so_blob = ?3"
            }
            Role::User => {
                "UPDATE token SET user_salt = ?4, user_iter = ?5, user_blob = ?6 \
                 WHERE id = 1 AND user_salt = ?1 AND user_iter = ?2 AND user_blob = ?3"
            }
        };
        self.write(|tx| {
            tx.stamp()?;
            let n = tx.conn.prepare_cached(sql)?.execute(params![
                old.salt,
                old.iterations,
                old.blob,
                new.salt,
                new.iterations,
                new.blob
            ])?;
            Ok(n == 1)
        })
    }

    /// Counts a failed login of `role`; returns the new count.
    pub fn pin_failed(&self, role: Role) -> Result<u32> {
        self.write(|tx| tx.pin_failed(role))
    }

    /// Reserves one login attempt of `role` before its PIN is checked: in
    /// one write transaction, counts it as a failure unless the counter has
    /// reached `max`. `Ok(n)`: reserved, `n` failures counted with this one
    /// (a success resets the counter with [`Store::pin_ok`]); `Err(n)`: the
    /// PIN is locked after `n` failures and nothing was counted.
    pub fn reserve_pin_attempt(&self, role: Role, max: u32) -> Result<std::result::Result<u32, u32>> {
        self.write(|tx| tx.reserve_pin_attempt(role, max))
    }

    /// Resets the failure counter of `role` (no write when it is already 0).
    pub fn pin_ok(&self, role: Role) -> Result<()> {
        {
            let g = self.lock()?;
            let n: Option<i64> =
                g.conn.prepare_cached(role_sql(role).select_failures)?.query_row([], |r| r.get(0)).optional()?;
            if n.unwrap_or(0) == 0 {
                return Ok(());
            }
        }
        self.write(|tx| tx.pin_ok(role))
    }

    /// Stores a new object; returns its id (its PKCS#11 handle), >= 1 and
    /// < 2^31, never reused. `mac` computes the row's MAC from that id in
    /// the same transaction (an `Err` from it writes nothing).
    pub fn insert_object(&self, uid: &str, public: &[u8], sealed: &[u8], mac: &RowMac<'_>) -> Result<i64> {
        self.write(|tx| tx.insert_object(uid, public, sealed, mac))
    }

    /// Replaces an object's blobs and MAC; `CKR_OBJECT_HANDLE_INVALID` if it
    /// is gone.
    pub fn update_object(&self, id: i64, public: &[u8], sealed: &[u8], mac: &[u8]) -> Result<()> {
        self.write(|tx| tx.update_object(id, public, sealed, mac))
    }

    /// Deletes an object, leaving a tombstone; `CKR_OBJECT_HANDLE_INVALID`
    /// if it is gone.
    pub fn delete_object(&self, id: i64) -> Result<()> {
        self.write(|tx| tx.delete_object(id))
    }

    /// Every object and the current revision.
    pub fn load_all(&self) -> Result<Changes> {
        let mut g = self.lock()?;
        read_changes(&mut g, None)
    }

    /// What other connections committed after `rev`: objects stamped later
    /// and tombstones stamped later (the answer also carries this
    /// connection's own later writes, which the caller already applied).
    ///
    /// Fast path: `Ok(None)` after one cached `PRAGMA data_version` (about a
    /// microsecond, no table read) when no other connection committed since
    /// this one last read and `rev` is not older than the revision returned
    /// then (a caller that passes an older `rev` gets a full answer).
    pub fn changes_since(&self, rev: u64) -> Result<Option<Changes>> {
        let mut g = self.lock()?;
        let dv = data_version(&g.conn)?;
        if let Some(seen) = g.seen
            && seen.data_version == dv
            && rev >= seen.rev
        {
            return Ok(None);
        }
        read_changes(&mut g, Some(rev)).map(Some)
    }

    /// A token-wide value (settings, secrets sealed by the caller).
    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let g = self.lock()?;
        Tx { conn: &g.conn, rev: Cell::new(None) }.meta_get(key)
    }

    pub fn meta_set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.write(|tx| tx.meta_set(key, value))
    }

    /// Runs `f` inside one IMMEDIATE transaction: its writes commit together
    /// (sharing one revision) when it returns `Ok`, and none of them happen
    /// when it returns `Err`. `f` must not call back into this `Store` (that
    /// fails with `CKR_GENERAL_ERROR`); it uses the `Tx` it is given.
    pub fn transaction<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        self.write(|tx| {
            let _mark = TransactionMark::enter(self);
            f(tx)
        })
    }

    /// `PRAGMA integrity_check` reports "ok".
    pub fn integrity_check(&self) -> Result<bool> {
        let g = self.lock()?;
        let mut st = g.conn.prepare("PRAGMA integrity_check")?;
        let rows: Vec<String> = st.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(rows.len() == 1 && rows[0] == "ok")
    }
}

/// The writes of one transaction (see [`Store::transaction`]). The first
/// write bumps the revision; every write of the transaction stamps that one.
pub struct Tx<'a> {
    conn: &'a Connection,
    rev: Cell<Option<u64>>,
}

impl Tx<'_> {
    fn stamp(&self) -> Result<i64> {
        if let Some(r) = self.rev.get() {
            return Ok(from_rev(r));
        }
        let r: i64 = self
            .conn
            .prepare_cached("UPDATE counters SET rev = rev + 1 WHERE id = 1 RETURNING rev")?
            .query_row([], |r| r.get(0))
            .optional()?
            .ok_or_else(|| corrupt("revision counter missing"))?;
        self.rev.set(Some(to_rev(r)?));
        Ok(r)
    }

    /// See [`Store::insert_object`].
    pub fn insert_object(&self, uid: &str, public: &[u8], sealed: &[u8], mac: &RowMac<'_>) -> Result<i64> {
        let rev = self.stamp()?;
        let id: i64 = self
            .conn
            .prepare_cached("INSERT INTO objects (uid, rev, public, sealed) VALUES (?1, ?2, ?3, ?4) RETURNING id")?
            .query_row(params![uid, rev, public, sealed], |r| r.get(0))?;
        if !(1..=MAX_OBJECT_ID).contains(&id) {
            return Err(Error::new(CKR_DEVICE_MEMORY, "token object handles exhausted"));
        }
        self.set_mac(id, &mac(id)?)?;
        Ok(id)
    }

    /// See [`Store::update_object`].
    pub fn update_object(&self, id: i64, public: &[u8], sealed: &[u8], mac: &[u8]) -> Result<()> {
        let rev = self.stamp()?;
        let n = self
            .conn
            .prepare_cached("UPDATE objects SET public = ?2, sealed = ?3, mac = ?4, rev = ?5 WHERE id = ?1")?
            .execute(params![id, public, sealed, mac, rev])?;
        if n == 0 {
            return Err(handle_invalid(id));
        }
        Ok(())
    }

    /// Sets the MAC of row `id` (also how a schema-1 row is bound); the
    /// row's revision moves so other processes re-read it.
    pub fn set_mac(&self, id: i64, mac: &[u8]) -> Result<()> {
        let rev = self.stamp()?;
        let n = self
            .conn
            .prepare_cached("UPDATE objects SET mac = ?2, rev = ?3 WHERE id = ?1")?
            .execute(params![id, mac, rev])?;
        if n == 0 {
            return Err(handle_invalid(id));
        }
        Ok(())
    }

    /// See [`Store::delete_object`].
    pub fn delete_object(&self, id: i64) -> Result<()> {
        let rev = self.stamp()?;
        let n = self.conn.prepare_cached("DELETE FROM objects WHERE id = ?1")?.execute([id])?;
        if n == 0 {
            return Err(handle_invalid(id));
        }
        self.conn.prepare_cached("INSERT OR REPLACE INTO tombstones (id, rev) VALUES (?1, ?2)")?.execute([id, rev])?;
        Ok(())
    }

    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }

    /// Every object as this transaction sees it. Added for the kms layer
    /// (src/kms): rotation and purge decide on rows read under the write
    /// lock, so two processes never both act on the same state.
    pub fn objects(&self) -> Result<Vec<ObjectRow>> {
        let mut st = self.conn.prepare_cached("SELECT id, uid, public, sealed, mac FROM objects ORDER BY id")?;
        let rows = st.query_map([], object_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn meta_set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.stamp()?;
        self.conn
            .prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![key, value])?;
        Ok(())
    }

    fn init_token(&self, label: &str, serial: &str, so: &WrappedKey) -> Result<()> {
        let rev = self.stamp()?;
        self.conn.execute("INSERT OR REPLACE INTO tombstones (id, rev) SELECT id, ?1 FROM objects", [rev])?;
        self.conn.execute("DELETE FROM objects", [])?;
        self.conn.execute(
            "INSERT OR REPLACE INTO token (id, label, serial, so_salt, so_iter, so_blob, \
             user_salt, user_iter, user_blob, so_failures, user_failures) \
             VALUES (1, ?1, ?2, ?3, ?4, ?5, NULL, NULL, NULL, 0, 0)",
            params![label, serial, so.salt, so.iterations, so.blob],
        )?;
        Ok(())
    }

    fn set_pin(&self, role: Role, wrapped: Option<&WrappedKey>) -> Result<()> {
        self.stamp()?;
        let (salt, iter, blob) = match wrapped {
            Some(w) => (Some(&w.salt[..]), Some(w.iterations), Some(&w.blob[..])),
            None => (None, None, None),
        };
        let n = self.conn.prepare_cached(role_sql(role).set_key)?.execute(params![salt, iter, blob])?;
        if n == 0 {
            return Err(not_initialized());
        }
        Ok(())
    }

    fn pin_failed(&self, role: Role) -> Result<u32> {
        self.stamp()?;
        let n: Option<i64> =
            self.conn.prepare_cached(role_sql(role).add_failure)?.query_row([], |r| r.get(0)).optional()?;
        n.map(count).ok_or_else(not_initialized)
    }

    fn reserve_pin_attempt(&self, role: Role, max: u32) -> Result<std::result::Result<u32, u32>> {
        let now: i64 = self
            .conn
            .prepare_cached(role_sql(role).select_failures)?
            .query_row([], |r| r.get(0))
            .optional()?
            .ok_or_else(not_initialized)?;
        if count(now) >= max {
            return Ok(Err(count(now)));
        }
        self.pin_failed(role).map(Ok)
    }

    fn pin_ok(&self, role: Role) -> Result<()> {
        self.stamp()?;
        self.conn.prepare_cached(role_sql(role).reset_failures)?.execute([])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Instant;

    fn so_key() -> WrappedKey {
        WrappedKey { salt: vec![1; 16], iterations: 1000, blob: vec![2; 61] }
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn test_mac(id: i64) -> Result<Vec<u8>> {
        Ok(id.to_le_bytes().to_vec())
    }

    fn ids(rows: &[ObjectRow]) -> Vec<i64> {
        rows.iter().map(|r| r.id).collect()
    }

    #[test]
    fn store_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Store>();
    }

    #[test]
    fn open_creates_private_dir_and_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b/token");
        let s = Store::open(&dir).unwrap();
        assert_eq!(s.path(), dir.join(DB_FILE));
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(s.path()), 0o600);
        s.meta_set("k", b"v").unwrap();
        for ext in ["-wal", "-shm"] {
            let p = PathBuf::from(format!("{}{ext}", s.path().display()));
            assert_eq!(mode(&p), 0o600, "{ext}");
        }
        assert!(s.integrity_check().unwrap());
        assert_eq!(user_version(&s.lock().unwrap().conn).unwrap(), 2);
        let jm: String = s.lock().unwrap().conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(jm, "wal");

        // An existing directory keeps its permissions.
        let open = tmp.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        let s2 = Store::open(&open).unwrap();
        assert_eq!(mode(&open), 0o755);
        assert_eq!(mode(s2.path()), 0o600);
    }

    #[test]
    fn reopen_keeps_data_and_rejects_newer_schema() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        assert!(s.token().unwrap().is_none());
        s.init_token("lbl", "serial1", &so_key()).unwrap();
        let id = s.insert_object("u1", b"pub", b"sec", &test_mac).unwrap();
        drop(s);
        let s = Store::open(tmp.path()).unwrap();
        assert_eq!(s.token().unwrap().unwrap().label, "lbl");
        assert_eq!(ids(&s.load_all().unwrap().upserts), vec![id]);
        s.lock().unwrap().conn.pragma_update(None, "user_version", 99).unwrap();
        drop(s);
        let e = Store::open(tmp.path()).unwrap_err();
        assert_eq!(e.rv(), CKR_DEVICE_ERROR);
        assert!(e.reason().contains("newer"), "{e:?}");
    }

    #[test]
    fn schema_1_rows_migrate_without_a_mac_and_macs_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        {
            let c = Connection::open(tmp.path().join(DB_FILE)).unwrap();
            c.execute_batch(SCHEMA_V1).unwrap();
            c.pragma_update(None, "user_version", 1).unwrap();
            c.execute("INSERT INTO objects (uid, rev, public, sealed) VALUES ('old', 1, x'01', x'02')", []).unwrap();
        }
        let s = Store::open(tmp.path()).unwrap();
        assert_eq!(user_version(&s.lock().unwrap().conn).unwrap(), 2);
        let all = s.load_all().unwrap();
        assert_eq!(all.upserts.len(), 1);
        let old = &all.upserts[0];
        assert_eq!((old.uid.as_str(), old.mac.as_deref()), ("old", None));
        let other = Store::open(tmp.path()).unwrap();
        let seen = other.load_all().unwrap().rev;
        s.transaction(|tx| tx.set_mac(old.id, b"bound")).unwrap();
        let ch = other.changes_since(seen).unwrap().unwrap();
        assert_eq!(ch.upserts[0].mac.as_deref(), Some(&b"bound"[..]), "binding moves the row's revision");
        let id = s.insert_object("new", b"p", b"s", &test_mac).unwrap();
        let row = |id| s.load_all().unwrap().upserts.into_iter().find(|r| r.id == id).unwrap();
        assert_eq!(row(id).mac, Some(id.to_le_bytes().to_vec()));
        s.update_object(id, b"p2", b"s2", b"m2").unwrap();
        assert_eq!(row(id).mac.as_deref(), Some(&b"m2"[..]));
        // A failing MAC closure writes nothing.
        let e = s.insert_object("x", b"p", b"s", &|_| Err(Error::general("no key"))).unwrap_err();
        assert_eq!(e.reason(), "no key");
        assert_eq!(s.load_all().unwrap().upserts.len(), 2);
        assert_eq!(s.transaction(|tx| tx.set_mac(9999, b"m")).unwrap_err().rv(), CKR_OBJECT_HANDLE_INVALID);
    }

    #[test]
    fn not_a_database_is_a_device_error() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(DB_FILE), vec![0x55u8; 8192]).unwrap();
        let e = Store::open(tmp.path()).unwrap_err();
        assert_eq!(e.rv(), CKR_DEVICE_ERROR);
    }

    #[test]
    fn init_token_wipes_objects_and_resets_pins() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        assert_eq!(s.pin_failed(Role::So).unwrap_err().rv(), CKR_TOKEN_NOT_RECOGNIZED);
        assert_eq!(s.set_pin(Role::User, Some(&so_key())).unwrap_err().rv(), CKR_TOKEN_NOT_RECOGNIZED);
        s.pin_ok(Role::So).unwrap();
        s.init_token("first", "0001", &so_key()).unwrap();
        let t = s.token().unwrap().unwrap();
        assert_eq!((t.label.as_str(), t.serial.as_str()), ("first", "0001"));
        assert_eq!(t.so, Some(so_key()));
        assert_eq!(t.user, None);
        let user = WrappedKey { salt: vec![3; 16], iterations: 7, blob: vec![4; 61] };
        s.set_pin(Role::User, Some(&user)).unwrap();
        s.pin_failed(Role::User).unwrap();
        s.pin_failed(Role::So).unwrap();
        let a = s.insert_object("a", b"pa", b"sa", &test_mac).unwrap();
        let b = s.insert_object("b", b"pb", b"sb", &test_mac).unwrap();
        let t = s.token().unwrap().unwrap();
        assert_eq!(t.user, Some(user));
        assert_eq!((t.so_failures, t.user_failures), (1, 1));
        let before = s.load_all().unwrap();

        let other = Store::open(tmp.path()).unwrap();
        let seen = other.load_all().unwrap();
        assert_eq!(ids(&seen.upserts), vec![a, b]);

        let so2 = WrappedKey { salt: vec![9; 16], iterations: 2000, blob: vec![8; 61] };
        s.init_token("second", "0002", &so2).unwrap();
        let after = s.load_all().unwrap();
        assert!(after.upserts.is_empty());
        assert!(after.rev > before.rev);
        let t = s.token().unwrap().unwrap();
        assert_eq!((t.label.as_str(), t.serial.as_str()), ("second", "0002"));
        assert_eq!(t.so, Some(so2));
        assert_eq!(t.user, None);
        assert_eq!((t.so_failures, t.user_failures), (0, 0));
        // Another process drops the wiped objects.
        let ch = other.changes_since(seen.rev).unwrap().unwrap();
        assert!(ch.upserts.is_empty());
        assert_eq!(ch.deletes, vec![a, b]);
        // Ids are not reused after a re-initialisation.
        let c = s.insert_object("a", b"pa", b"sa", &test_mac).unwrap();
        assert!(c > b);
    }

    #[test]
    fn replace_wrapped_swaps_only_the_current_blob_and_keeps_counters() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        s.init_token("t", "1", &so_key()).unwrap();
        s.pin_failed(Role::So).unwrap();
        let new = WrappedKey { salt: vec![1; 16], iterations: 1000, blob: vec![5; 70] };
        assert!(!s.replace_wrapped(Role::User, &so_key(), &new).unwrap(), "no user key yet");
        assert!(s.replace_wrapped(Role::So, &so_key(), &new).unwrap());
        let t = s.token().unwrap().unwrap();
        assert_eq!((t.so, t.so_failures), (Some(new.clone()), 1));
        assert!(!s.replace_wrapped(Role::So, &so_key(), &so_key()).unwrap(), "old blob gone: no swap");
    }

    #[test]
    fn crud_and_changes_seen_by_a_second_store() {
        let tmp = tempfile::tempdir().unwrap();
        let s1 = Store::open(tmp.path()).unwrap();
        let s2 = Store::open(tmp.path()).unwrap();
        s1.init_token("t", "1", &so_key()).unwrap();

        let base = s2.load_all().unwrap();
        assert!(base.upserts.is_empty());
        // Nothing new: the fast path.
        assert!(s2.changes_since(base.rev).unwrap().is_none());

        let a = s1.insert_object("ua", b"pub-a", b"sec-a", &test_mac).unwrap();
        let b = s1.insert_object("ub", b"pub-b", b"sec-b", &test_mac).unwrap();
        assert_eq!(a, 1, "ids start at 1 after init (no object was ever created)");
        assert_eq!(b, a + 1);
        let ch = s2.changes_since(base.rev).unwrap().expect("changes from s1");
        assert_eq!(ids(&ch.upserts), vec![a, b]);
        assert_eq!(ch.upserts[0].uid, "ua");
        assert_eq!(ch.upserts[0].public, b"pub-a");
        assert_eq!(ch.upserts[0].sealed, b"sec-a");
        assert!(ch.deletes.is_empty());
        assert!(s2.changes_since(ch.rev).unwrap().is_none());

        s1.update_object(a, b"pub-a2", b"sec-a2", b"mac").unwrap();
        s1.delete_object(b).unwrap();
        let ch2 = s2.changes_since(ch.rev).unwrap().unwrap();
        assert_eq!(ids(&ch2.upserts), vec![a]);
        assert_eq!(ch2.upserts[0].public, b"pub-a2");
        assert_eq!(ch2.upserts[0].sealed, b"sec-a2");
        assert_eq!(ch2.deletes, vec![b]);
        assert!(ch2.rev > ch.rev);
        assert!(s2.changes_since(ch2.rev).unwrap().is_none());
        // An older revision than the one last returned is answered in full.
        let again = s2.changes_since(base.rev).unwrap().unwrap();
        assert_eq!(ids(&again.upserts), vec![a]);
        assert_eq!(again.deletes, vec![b]);

        // Gone objects.
        assert_eq!(s1.update_object(b, b"x", b"y", b"mac").unwrap_err().rv(), CKR_OBJECT_HANDLE_INVALID);
        assert_eq!(s1.delete_object(b).unwrap_err().rv(), CKR_OBJECT_HANDLE_INVALID);
        assert_eq!(s1.delete_object(12345).unwrap_err().rv(), CKR_OBJECT_HANDLE_INVALID);
        // Failed writes did not move the revision.
        assert!(s2.changes_since(ch2.rev).unwrap().is_none());
        assert_eq!(s1.load_all().unwrap().rev, ch2.rev);

        // The last id is not reused.
        let c = s1.insert_object("uc", b"", b"", &test_mac).unwrap();
        assert!(c > b);
        // Duplicate uid is refused.
        assert!(s1.insert_object("uc", b"", b"", &test_mac).is_err());
        // A connection's own writes do not trip the fast path (the caller
        // applied them itself) ...
        assert!(s1.changes_since(ch2.rev).unwrap().is_none());
        // ... but a slow-path answer includes them.
        let own = s1.changes_since(base.rev).unwrap().unwrap();
        assert_eq!(ids(&own.upserts), vec![a, c]);
        assert_eq!(own.deletes, vec![b]);
        // s2 sees c.
        assert_eq!(ids(&s2.changes_since(ch2.rev).unwrap().unwrap().upserts), vec![c]);
    }

    #[test]
    fn fast_path_is_cheap() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        let rev = s.load_all().unwrap().rev;
        let n = 20_000u32;
        let t = Instant::now();
        for _ in 0..n {
            assert!(s.changes_since(rev).unwrap().is_none());
        }
        let per = t.elapsed() / n;
        eprintln!("changes_since fast path: {per:?} per call");
        assert!(per < Duration::from_micros(100), "{per:?}");
    }

    #[test]
    fn pin_attempts_are_reserved_up_to_the_limit() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        assert!(s.reserve_pin_attempt(Role::User, 3).is_err(), "no token row yet");
        s.init_token("t", "1", &so_key()).unwrap();
        assert_eq!(s.reserve_pin_attempt(Role::User, 3).unwrap(), Ok(1));
        assert_eq!(s.reserve_pin_attempt(Role::User, 3).unwrap(), Ok(2));
        assert_eq!(s.reserve_pin_attempt(Role::User, 3).unwrap(), Ok(3));
        // At the limit nothing more is counted.
        assert_eq!(s.reserve_pin_attempt(Role::User, 3).unwrap(), Err(3));
        assert_eq!(s.token().unwrap().unwrap().user_failures, 3);
        // The other role has its own counter; a success releases it.
        assert_eq!(s.reserve_pin_attempt(Role::So, 3).unwrap(), Ok(1));
        s.pin_ok(Role::So).unwrap();
        assert_eq!(s.token().unwrap().unwrap().so_failures, 0);
    }

    #[test]
    fn pin_counters_persist_across_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        s.init_token("t", "1", &so_key()).unwrap();
        assert_eq!(s.pin_failed(Role::User).unwrap(), 1);
        assert_eq!(s.pin_failed(Role::User).unwrap(), 2);
        assert_eq!(s.pin_failed(Role::So).unwrap(), 1);
        drop(s);
        let s = Store::open(tmp.path()).unwrap();
        let t = s.token().unwrap().unwrap();
        assert_eq!((t.so_failures, t.user_failures), (1, 2));
        assert_eq!(s.pin_failed(Role::User).unwrap(), 3);
        s.pin_ok(Role::User).unwrap();
        let t = s.token().unwrap().unwrap();
        assert_eq!((t.so_failures, t.user_failures), (1, 0));
        // Already 0: no write, the revision stays.
        let rev = s.load_all().unwrap().rev;
        s.pin_ok(Role::User).unwrap();
        assert_eq!(s.load_all().unwrap().rev, rev);
        // set_pin resets the counter; clearing a key works.
        s.set_pin(Role::So, Some(&so_key())).unwrap();
        assert_eq!(s.token().unwrap().unwrap().so_failures, 0);
        s.set_pin(Role::So, None).unwrap();
        assert_eq!(s.token().unwrap().unwrap().so, None);
    }

    #[test]
    fn meta_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        assert_eq!(s.meta_get("audit.key").unwrap(), None);
        s.meta_set("audit.key", b"one").unwrap();
        s.meta_set("audit.key", b"two").unwrap();
        s.meta_set("empty", b"").unwrap();
        assert_eq!(s.meta_get("audit.key").unwrap().as_deref(), Some(&b"two"[..]));
        assert_eq!(s.meta_get("empty").unwrap().as_deref(), Some(&b""[..]));
        let other = Store::open(tmp.path()).unwrap();
        assert_eq!(other.meta_get("audit.key").unwrap().as_deref(), Some(&b"two"[..]));
    }

    #[test]
    fn transaction_commits_together_or_not_at_all() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        s.init_token("t", "1", &so_key()).unwrap();
        let keep = s.insert_object("keep", b"p", b"s", &test_mac).unwrap();
        let rev0 = s.load_all().unwrap().rev;

        let e = s
            .transaction(|tx| {
                tx.insert_object("x", b"p", b"s", &test_mac)?;
                tx.meta_set("m", b"v")?;
                tx.update_object(keep, b"changed", b"changed", b"mac")?;
                tx.delete_object(keep)?;
                Err::<(), _>(Error::general("decided against it"))
            })
            .unwrap_err();
        assert_eq!(e.reason(), "decided against it");
        let all = s.load_all().unwrap();
        assert_eq!(all.rev, rev0);
        assert_eq!(ids(&all.upserts), vec![keep]);
        assert_eq!(all.upserts[0].public, b"p");
        assert_eq!(s.meta_get("m").unwrap(), None);
        assert!(s.changes_since(rev0).unwrap().is_none());

        // A failing step inside, propagated, rolls back the earlier ones.
        let e = s
            .transaction(|tx| {
                tx.insert_object("y", b"p", b"s", &test_mac)?;
                tx.delete_object(999)
            })
            .unwrap_err();
        assert_eq!(e.rv(), CKR_OBJECT_HANDLE_INVALID);
        assert_eq!(ids(&s.load_all().unwrap().upserts), vec![keep]);

        // Calling back into the store fails instead of deadlocking.
        let e = s.transaction(|_tx| s.meta_get("m")).unwrap_err();
        assert_eq!(e.rv(), CKR_GENERAL_ERROR);
        // ... and the store works afterwards.
        assert_eq!(s.meta_get("m").unwrap(), None);

        // Success: several writes, one revision.
        let (x, y) = s
            .transaction(|tx| {
                let x = tx.insert_object("x", b"p", b"s", &test_mac)?;
                let y = tx.insert_object("y", b"p", b"s", &test_mac)?;
                tx.meta_set("m", b"v")?;
                assert_eq!(tx.meta_get("m")?.as_deref(), Some(&b"v"[..]));
                tx.delete_object(keep)?;
                Ok((x, y))
            })
            .unwrap();
        let ch = Store::open(tmp.path()).unwrap().changes_since(rev0).unwrap().unwrap();
        assert_eq!(ch.rev, rev0 + 1);
        assert_eq!(ids(&ch.upserts), vec![x, y]);
        assert_eq!(ch.deletes, vec![keep]);
    }

    #[test]
    fn panic_inside_transaction_rolls_back_and_store_recovers() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = s.transaction(|tx| -> Result<()> {
                tx.insert_object("p", b"", b"", &test_mac)?;
                panic!("boom");
            });
        }));
        assert!(r.is_err());
        assert!(s.load_all().unwrap().upserts.is_empty());
        s.insert_object("q", b"", b"", &test_mac).unwrap();
        assert_eq!(s.load_all().unwrap().upserts.len(), 1);
    }

    #[test]
    fn concurrent_writers_on_one_token() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("tok");
        let per = 50;
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let dir = dir.clone();
                std::thread::spawn(move || {
                    // Each thread its own Store, like separate processes.
                    let s = Store::open(&dir).unwrap();
                    for i in 0..per {
                        let id = s.insert_object(&format!("{t}-{i}"), b"p", b"s", &test_mac).unwrap();
                        s.update_object(id, b"p2", b"s2", b"mac").unwrap();
                        let _ = s.changes_since(0).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let s = Store::open(&dir).unwrap();
        let all = s.load_all().unwrap();
        assert_eq!(all.upserts.len(), 4 * per);
        assert_eq!(all.rev, 2 * 4 * per as u64);
        assert!(s.integrity_check().unwrap());
    }

    #[test]
    fn one_store_shared_between_threads() {
        let tmp = tempfile::tempdir().unwrap();
        let s = std::sync::Arc::new(Store::open(tmp.path()).unwrap());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        s.insert_object(&format!("{t}-{i}"), b"p", b"s", &test_mac).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(s.load_all().unwrap().upserts.len(), 100);
    }

    /// The process `sigkill_mid_write_loses_nothing` kills: inserts objects
    /// in a loop, printing each id once `insert_object` returned.
    #[test]
    fn store_kill_worker() {
        let Ok(dir) = std::env::var("KW_STORE_KILL_DIR") else { return };
        let s = Store::open(Path::new(&dir)).unwrap();
        for i in 0.. {
            let id = s.insert_object(&format!("k{i}-{}", std::process::id()), &[7; 300], &[9; 100], &test_mac).unwrap();
            println!("OK {id}");
        }
    }

    #[test]
    fn sigkill_mid_write_loses_nothing() {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let tmp = tempfile::tempdir().unwrap();
        let mut confirmed = Vec::new();
        for round in 0..3 {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args(["store::tests::store_kill_worker", "--exact", "--nocapture", "--test-threads=1"])
                .env("KW_STORE_KILL_DIR", tmp.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let out = BufReader::new(child.stdout.take().unwrap());
            let want = 10 + round * 7;
            for line in out.lines() {
                if let Some(id) = line.unwrap().strip_prefix("OK ") {
                    confirmed.push(id.parse::<i64>().unwrap());
                    if confirmed.len() >= want {
                        break;
                    }
                }
            }
            child.kill().unwrap();
            child.wait().unwrap();
            assert!(confirmed.len() >= want, "worker stopped early");
        }
        let s = Store::open(tmp.path()).unwrap();
        assert!(s.integrity_check().unwrap());
        let have: std::collections::HashSet<i64> = s.load_all().unwrap().upserts.iter().map(|r| r.id).collect();
        for id in &confirmed {
            assert!(have.contains(id), "object {id} lost");
        }
    }
}
