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
mod tests;
