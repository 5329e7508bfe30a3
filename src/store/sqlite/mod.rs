//! The SQLite backend: one database file per token (`<dir>/token.sqlite`),
//! opened by every process that uses the token. This module owns the
//! connection, its settings and the reads; `schema` the tables and their
//! migrations, `tx` the write transaction.
//!
//! How it meets the contract of the `store` module doc:
//! - Every write is one `BEGIN IMMEDIATE` transaction that bumps
//!   `counters.rev` once. Writers take the write lock up front, so no
//!   deferred read ever has to be upgraded and `SQLITE_BUSY` from a lock
//!   upgrade never reaches the caller; contention between processes waits up
//!   to the busy timeout (10 s).
//! - Tombstones are the `tombstones (id, rev)` table. Object ids come from
//!   `AUTOINCREMENT`: they start at 1 and are never reused (not even across
//!   `C_InitToken`, which deletes rows but keeps `sqlite_sequence`).
//! - The `changes_since` fast path is one cached `PRAGMA data_version`,
//!   which changes when another connection commits.
//! - Durability: WAL with `synchronous=FULL`. WAL with `NORMAL` already
//!   survives SIGKILL (a commit is in the WAL file, in the OS page cache,
//!   before `COMMIT` returns), but not power loss or a kernel crash, and a
//!   lost generated key can mean lost data. FULL adds one fsync of the WAL
//!   per commit; token writes (object create/destroy, PIN changes) are rare
//!   next to the crypto hot path, which never touches SQLite.
//! - The database file and directory are private (0600 / 0700); SQLite
//!   creates the `-wal` and `-shm` files with the database file's mode.
//!   `secure_delete` overwrites deleted content.
//! - The row MAC is the `mac` column of `objects` (schema 2).

mod principals;
pub(super) mod schema;
#[cfg(test)]
mod tests;
mod tx;

use super::{Backend, Changes, Role, TokenRow, WrappedKey, WriteFn, Written, corrupt};
use crate::error::{Error, Result};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tx::{SqliteTx, from_rev, object_row, to_rev};

/// The database file inside a token directory.
pub const DB_FILE: &str = "token.sqlite";

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Enough room that the hot statements (`PRAGMA data_version`) stay cached.
const STATEMENT_CACHE: usize = 64;

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

/// One connection to a token's database file.
pub(super) struct Sqlite {
    inner: Mutex<Inner>,
    path: PathBuf,
}

pub(super) fn wrapped_key(
    salt: Option<Vec<u8>>,
    iter: Option<i64>,
    blob: Option<Vec<u8>>,
) -> Result<Option<WrappedKey>> {
    match (salt, iter, blob) {
        (None, None, None) => Ok(None),
        (Some(salt), Some(iter), Some(blob)) => {
            let iterations = u32::try_from(iter).map_err(|_| corrupt("PBKDF2 iteration count out of range"))?;
            Ok(Some(WrappedKey { salt, iterations, blob }))
        }
        _ => Err(corrupt("incomplete wrapped PIN key")),
    }
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
        None => changes.upserts = tx::objects(&tx)?,
        Some(since) => {
            let since = from_rev(since);
            // Sorted here: an ORDER BY id makes SQLite's planner walk the
            // whole table in id order instead of the rev index (a scan of
            // every row per refresh on a large token).
            let mut st = tx.prepare_cached("SELECT id, uid, public, sealed, mac FROM objects WHERE rev > ?1")?;
            changes.upserts = st.query_map([since], row)?.collect::<rusqlite::Result<_>>()?;
            changes.upserts.sort_by_key(|r| r.id);
            let mut st = tx.prepare_cached("SELECT id FROM tombstones WHERE rev > ?1")?;
            changes.deletes = st.query_map([since], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            changes.deletes.sort_unstable();
        }
    }
    tx.commit()?;
    inner.seen = Some(Seen { data_version: dv, rev });
    Ok(changes)
}

impl Sqlite {
    /// Opens (creating) `dir/token.sqlite` and brings its schema up to date.
    pub(super) fn open(dir: &Path) -> Result<Sqlite> {
        schema::create_private_dir(dir)?;
        let path = dir.join(DB_FILE);
        schema::create_private_file(&path)?;
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
        schema::migrate(&mut conn)?;
        Ok(Sqlite { inner: Mutex::new(Inner { conn, seen: None }), path })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>> {
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
}

impl super::AuthRead for Sqlite {
    fn principal(&self, name: &str) -> Result<Option<super::PrincipalRow>> {
        principals::principal(&self.lock()?.conn, name)
    }

    fn grants_of(&self, principal: i64) -> Result<Vec<super::GrantRow>> {
        principals::grants_of(&self.lock()?.conn, principal)
    }

    fn auth_revision(&self) -> Result<u64> {
        principals::auth_revision(&self.lock()?.conn)
    }
}

impl Backend for Sqlite {
    fn write(&self, f: WriteFn<'_>) -> Result<Written> {
        let mut g = self.lock()?;
        let tx = g.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let w = {
            let stx = SqliteTx::new(&tx);
            f(&stx)?;
            stx.written()?
        };
        tx.commit()?;
        Ok(w)
    }

    fn token(&self) -> Result<Option<TokenRow>> {
        tx::token(&self.lock()?.conn)
    }

    fn failures(&self, role: Role) -> Result<Option<u32>> {
        tx::failures(&self.lock()?.conn, role)
    }

    fn load_all(&self) -> Result<Changes> {
        let mut g = self.lock()?;
        read_changes(&mut g, None)
    }

    fn census(&self, up_to: u64) -> Result<(u64, u64)> {
        let mut g = self.lock()?;
        let tx = g.conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let rev = to_rev(tx.prepare_cached("SELECT rev FROM counters WHERE id = 1")?.query_row([], |r| r.get(0))?)?;
        let up_to = i64::try_from(up_to).unwrap_or(i64::MAX);
        let n: i64 = tx
            .prepare_cached("SELECT COUNT(*) FROM (SELECT 1 FROM objects LIMIT ?1)")?
            .query_row([up_to], |r| r.get(0))?;
        tx.commit()?;
        Ok((rev, to_rev(n)?))
    }

    fn object(&self, id: i64) -> Result<Option<super::ObjectRow>> {
        tx::object(&self.lock()?.conn, id)
    }

    fn lookup(&self, q: super::index::Lookup<'_>) -> Result<Vec<i64>> {
        tx::lookup(&self.lock()?.conn, q)
    }

    fn objects_after(&self, after: i64, limit: usize) -> Result<Vec<super::ObjectRow>> {
        tx::objects_after(&self.lock()?.conn, after, limit)
    }

    fn next_due(&self) -> Result<Option<i64>> {
        let g = self.lock()?;
        Ok(g.conn.prepare_cached("SELECT MIN(due) FROM objects WHERE due IS NOT NULL")?.query_row([], |r| r.get(0))?)
    }

    fn changes_since(&self, rev: u64) -> Result<Option<Changes>> {
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

    fn changes_after(&self, rev: u64) -> Result<Changes> {
        let mut g = self.lock()?;
        read_changes(&mut g, Some(rev))
    }

    fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        tx::meta_get(&self.lock()?.conn, key)
    }

    /// `PRAGMA integrity_check` reports "ok".
    fn integrity_check(&self) -> Result<bool> {
        let g = self.lock()?;
        let mut st = g.conn.prepare("PRAGMA integrity_check")?;
        let rows: Vec<String> = st.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(rows.len() == 1 && rows[0] == "ok")
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// `synchronous=NORMAL` (WAL): commits survive a process crash, not a
    /// power loss.
    fn set_durability_normal(&self) -> Result<()> {
        self.lock()?.conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(())
    }

    /// SQLite `max_page_count`.
    fn set_max_pages(&self, pages: u64) -> Result<()> {
        let n = i64::try_from(pages).unwrap_or(i64::MAX);
        self.lock()?.conn.query_row(&format!("PRAGMA max_page_count = {n}"), [], |_| Ok(()))?;
        Ok(())
    }
}
