//! The PostgreSQL backend: one token per schema (several tokens share a
//! database), one connection per `Store`, shared by every host that uses
//! the token. This module owns the connection (opened lazily, reopened
//! after a loss) and the reads; `conn` the options, URL, TLS and connect;
//! `schema` the tables and migrations; `tx` the write transaction.
//!
//! How it meets the contract of the `store` module doc:
//! - Every write is one READ COMMITTED transaction whose first statement is
//!   `SELECT rev FROM counters WHERE id = 1 FOR UPDATE`: the token's write
//!   lock, held to commit. READ COMMITTED is then enough: every later
//!   statement of the transaction takes a fresh snapshot, which (the lock
//!   being held) contains every commit of every earlier writer and no
//!   concurrent one, so re-reads under the lock are current. No writer can
//!   meet a serialization failure (those exist only in REPEATABLE READ and
//!   SERIALIZABLE), and contention waits up to `statement_timeout`.
//! - Reads of several tables (`load_all`, `changes_since`) run in one
//!   REPEATABLE READ READ ONLY transaction: one snapshot, and a read-only
//!   transaction cannot fail serialization either.
//! - Tombstones are the `tombstones (id, rev)` table; ids come from the
//!   identity column's sequence (starts at 1, never reused, not even after
//!   `C_InitToken` or a rolled-back insert), reserved a few at a time by
//!   each connection under the write lock (`tx::IdPool`), so an insert
//!   knows its id, and the MAC that names it, before it is sent. Ids are
//!   then unique but not in commit order across connections.
//! - Round trips: a write transaction sends nothing until a statement
//!   needs an answer or it commits; that round trip opens with the `BEGIN`
//!   and the lock. A create is one round trip, a destroy of a key whose
//!   cache is current one (`Store::transaction_at`: the server checks the
//!   revision), two when it reads its row first.
//! - The `changes_since` fast path is one primary-key read of
//!   `counters.rev` (no scan, no other table), compared with the revision
//!   this connection knows the database to have (its own commits move that
//!   one, not the revision it returned). Searches and writes always make
//!   it; key lookups make it at most once per `store.refresh_ms`, and not
//!   even then while nothing was announced: every commit that moves the
//!   revision notifies the schema's channel (a trigger on `counters`,
//!   schema version 3), each connection LISTENs on it, and
//!   `unchanged_since` reads the notifications the server has already
//!   sent with one non-blocking poll of the socket (a zero-timeout turn of
//!   the connection's runtime: no request, no thread). Notifications of
//!   the connection's own session are not counted; without any, the
//!   revision is still read every second. So key use stays off the network
//!   while the token does not change, at the default `refresh_ms = 1`.
//! - Durability: PostgreSQL's WAL with `synchronous_commit` as the server
//!   has it (on by default; with synchronous replication a commit returns
//!   once the standby has it). `durability = "normal"` sets
//!   `synchronous_commit = off` for this connection (a server crash can
//!   lose the last few hundred milliseconds of commits, never tear one).
//! - Connection loss: the next call reconnects (after a reconnect the next
//!   `changes_since` answers in full); a call that cannot reach the server
//!   within `connect_timeout` / `statement_timeout` fails with
//!   `CKR_DEVICE_ERROR` and a log line. A commit cut off by a loss is
//!   reported as an error although it may have committed (the caller's
//!   next refresh sees it).

mod client;
mod conn;
mod principals;
mod schema;
#[cfg(test)]
pub(super) mod tests;
mod tx;

pub use conn::{PgOptions, valid_schema};

use super::{Backend, Changes, Role, TokenRow, WrappedKey, WriteFn, Written, corrupt};
use crate::ck::*;
use crate::error::{Error, Result};
use client::PgClient;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use tx::{IdPool, On, PgTx, Stmts, from_rev, object_row, to_rev};

/// A client error as a `CK_RV` (disk full: `CKR_DEVICE_MEMORY`; anything
/// else, including a lost connection: `CKR_DEVICE_ERROR`).
pub(super) fn pg_err(e: tokio_postgres::Error) -> Error {
    use tokio_postgres::error::SqlState;
    match e.as_db_error() {
        Some(db) => {
            let rv = if *db.code() == SqlState::DISK_FULL || *db.code() == SqlState::OUT_OF_MEMORY {
                CKR_DEVICE_MEMORY
            } else {
                CKR_DEVICE_ERROR
            };
            Error::new(rv, format!("token store (postgres {}): {}", db.code().code(), db.message()))
        }
        None => {
            let mut m = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                m.push_str(": ");
                m.push_str(&s.to_string());
                src = s.source();
            }
            Error::device(format!("token store (postgres): {m}"))
        }
    }
}

/// One open connection and what belongs to it.
pub(super) struct Conn {
    client: PgClient,
    stmts: Stmts,
    /// Object ids reserved for this connection's inserts.
    ids: IdPool,
    /// The other sessions' notifications counted when the revision was
    /// last read, and when that was (see [`Backend::unchanged_since`]).
    notes_checked: u64,
    checked_at: std::time::Instant,
}

/// Without any notification, the revision is still read this often: what
/// a notification that never came (a bug, a writer without the trigger)
/// could hide is bounded by it.
const UNNOTIFIED_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

impl Conn {
    /// Notes that the revision is being read now: what the server has
    /// already sent is taken in first (those commits are before this read),
    /// notifications counted from here on are news.
    fn checking(&mut self) -> Result<()> {
        self.notes_checked = self.client.poll_notes()?;
        self.checked_at = std::time::Instant::now();
        Ok(())
    }
}

/// What this connection last read: the revision it returned, and the
/// revision the database has as far as it knows (its own commits move
/// that one, not `returned`; another connection's commit makes it stale).
#[derive(Clone, Copy)]
pub(super) struct Seen {
    returned: u64,
    db: u64,
}

struct Inner {
    conn: Option<Conn>,
    seen: Option<Seen>,
    durability_normal: bool,
}

/// One token in a PostgreSQL schema.
pub(super) struct Postgres {
    inner: Mutex<Inner>,
    options: PgOptions,
    /// `postgres:<url>#<schema>` (for messages; the url has no password).
    path: PathBuf,
}

impl Postgres {
    /// Connects, creates or migrates the schema.
    pub(super) fn open(options: PgOptions) -> Result<Postgres> {
        if !valid_schema(&options.schema) {
            return Err(Error::new(
                CKR_GENERAL_ERROR,
                format!("postgres store: schema {:?} is not a plain identifier ([a-z_][a-z0-9_]*)", options.schema),
            ));
        }
        let path = PathBuf::from(format!("postgres:{}#{}", options.url, options.schema));
        let p =
            Postgres { inner: Mutex::new(Inner { conn: None, seen: None, durability_normal: false }), options, path };
        p.with(|_, _| Ok(()))?;
        Ok(p)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic unwound through a call: the transaction's drop rolled it
        // back; the connection (or its absence) is still consistent.
        self.inner.lock().unwrap_or_else(|p| {
            self.inner.clear_poison();
            p.into_inner()
        })
    }

    /// A new connection with the session settings, schema migrated.
    fn connect(&self, durability_normal: bool) -> Result<Conn> {
        let client = conn::connect(&self.options)?;
        let mut c = Conn {
            client,
            stmts: Stmts::new(),
            ids: IdPool::default(),
            notes_checked: 0,
            checked_at: std::time::Instant::now(),
        };
        let schema = &self.options.schema;
        let sync = if durability_normal { "off" } else { "on" };
        // `schema` is a plain identifier (checked at open). The search path
        // names only it (a schema that does not exist yet is allowed), so
        // no table of another schema is read by mistake, and an existing
        // current schema is found without the migration's lock.
        c.client.batch(&format!("SET search_path TO {schema}; SET synchronous_commit TO {sync}"))?;
        schema::migrate(&mut c, schema)?;
        c.client.listen(&schema::channel(schema))?;
        Ok(c)
    }

    /// Runs `f` on the connection (connecting first if there is none). A
    /// connection found closed afterwards is dropped, so the next call
    /// reconnects.
    fn with<T>(&self, f: impl FnOnce(&mut Conn, &mut Option<Seen>) -> Result<T>) -> Result<T> {
        let mut g = self.lock();
        let inner = &mut *g;
        if inner.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            log::warn!("token store {}: connection lost, reconnecting", self.path.display());
            inner.conn = None;
        }
        if inner.conn.is_none() {
            inner.seen = None;
            inner.conn = Some(self.connect(inner.durability_normal)?);
        }
        let c = inner.conn.as_mut().ok_or_else(|| Error::general("postgres store: no connection"))?;
        let r = f(c, &mut inner.seen);
        if c.client.is_closed() {
            if let Err(e) = &r {
                log::error!("token store {}: {}", self.path.display(), e.reason());
            }
            inner.conn = None;
            inner.seen = None;
        }
        r
    }
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

/// Every object (`since == None`) or what changed after `since`, from one
/// snapshot.
fn read_changes(c: &mut Conn, seen: &mut Option<Seen>, since: Option<u64>) -> Result<Changes> {
    c.checking()?;
    let Conn { client: t, stmts, .. } = c;
    t.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
    let r = read_in_snapshot(t, stmts, since);
    match &r {
        Ok(_) => t.batch("COMMIT")?,
        Err(_) => {
            let _ = t.batch("ROLLBACK");
        }
    }
    let changes = r?;
    *seen = Some(Seen { returned: changes.rev, db: changes.rev });
    Ok(changes)
}

fn read_in_snapshot(t: &mut PgClient, stmts: &mut Stmts, since: Option<u64>) -> Result<Changes> {
    let row = tx::query_opt(t, stmts, tx::SELECT_REV, &[])?.ok_or_else(|| corrupt("revision counter missing"))?;
    let rev = to_rev(row.try_get(0).map_err(pg_err)?)?;
    let mut changes = Changes { rev, ..Changes::default() };
    match since {
        None => changes.upserts = tx::objects(On::Conn(t, stmts))?,
        Some(since) => {
            // Both bounds (the snapshot's revision is the upper one): a
            // prepared statement's generic plan then estimates a narrow
            // range and walks the rev index; with `rev > $1` alone (and
            // ORDER BY id) it walked the whole table by id once PostgreSQL
            // switched to the generic plan after five executions (~10 ms
            // at 10,000 rows for every refresh after another host's
            // commit). Sorted here instead.
            let (since, upto) = (from_rev(since), from_rev(rev));
            let rows = tx::query(
                t,
                stmts,
                "SELECT id, uid, public, sealed, mac FROM objects WHERE rev > $1 AND rev <= $2",
                &[&since, &upto],
            )?;
            changes.upserts = rows.iter().map(object_row).collect::<Result<_>>()?;
            changes.upserts.sort_by_key(|r| r.id);
            let rows = tx::query(t, stmts, "SELECT id FROM tombstones WHERE rev > $1 AND rev <= $2", &[&since, &upto])?;
            changes.deletes = rows.iter().map(|r| r.try_get(0).map_err(pg_err)).collect::<Result<_>>()?;
            changes.deletes.sort_unstable();
        }
    }
    Ok(changes)
}

impl super::AuthRead for Postgres {
    fn principal(&self, name: &str) -> Result<Option<super::PrincipalRow>> {
        self.with(|c, _| principals::principal(&mut c.client, &mut c.stmts, name))
    }

    fn grants_of(&self, principal: i64) -> Result<Vec<super::GrantRow>> {
        self.with(|c, _| principals::grants_of(&mut c.client, &mut c.stmts, principal))
    }

    fn auth_revision(&self) -> Result<u64> {
        self.with(|c, _| principals::auth_revision(&mut c.client, &mut c.stmts))
    }
}

impl Backend for Postgres {
    fn write(&self, f: WriteFn<'_>) -> Result<Written> {
        self.with(|c, seen| {
            let Conn { client: t, stmts, ids, .. } = c;
            // Whether the BEGIN went out (it goes with the first round trip).
            let begun = std::cell::Cell::new(false);
            // The body runs under catch_unwind only to roll back before the
            // panic goes on (the connection stays usable).
            let body = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<(u64, Option<u64>)> {
                let ptx = PgTx::new(t, stmts, ids, &begun);
                f(&ptx)?;
                ptx.commit()?;
                Ok((ptx.base()?, ptx.stamped()?))
            }));
            let (before, stamped) = match body {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => {
                    if begun.get() {
                        let _ = t.batch("ROLLBACK");
                    }
                    return Err(e);
                }
                Err(panic) => {
                    if begun.get() {
                        let _ = t.batch("ROLLBACK");
                    }
                    std::panic::resume_unwind(panic);
                }
            };
            // Our own commit does not make what we returned stale; another
            // connection's commit before our lock does.
            *seen = match *seen {
                Some(s) if s.db == before => Some(Seen { db: stamped.unwrap_or(before), ..s }),
                _ => None,
            };
            Ok(Written { base: before, stamped })
        })
    }

    fn token(&self) -> Result<Option<TokenRow>> {
        self.with(|c, _| tx::token(On::Conn(&mut c.client, &mut c.stmts)))
    }

    fn failures(&self, role: Role) -> Result<Option<u32>> {
        self.with(|c, _| tx::failures(On::Conn(&mut c.client, &mut c.stmts), role))
    }

    fn load_all(&self) -> Result<Changes> {
        self.with(|c, seen| read_changes(c, seen, None))
    }

    fn census(&self, up_to: u64) -> Result<(u64, u64)> {
        let up_to = i64::try_from(up_to).unwrap_or(i64::MAX);
        self.with(|c, _| {
            let row = tx::query_opt(
                &mut c.client,
                &mut c.stmts,
                "SELECT (SELECT rev FROM counters WHERE id = 1), (SELECT count(*) FROM (SELECT 1 FROM objects LIMIT $1) s)",
                &[&up_to],
            )?
            .ok_or_else(|| corrupt("revision counter missing"))?;
            let rev: Option<i64> = row.try_get(0).map_err(pg_err)?;
            let n: i64 = row.try_get(1).map_err(pg_err)?;
            Ok((to_rev(rev.ok_or_else(|| corrupt("revision counter missing"))?)?, to_rev(n)?))
        })
    }

    fn object(&self, id: i64) -> Result<Option<super::ObjectRow>> {
        self.with(|c, _| tx::object(On::Conn(&mut c.client, &mut c.stmts), id))
    }

    fn lookup(&self, q: super::index::Lookup<'_>) -> Result<Vec<i64>> {
        self.with(|c, _| tx::lookup(On::Conn(&mut c.client, &mut c.stmts), q))
    }

    fn objects_after(&self, after: i64, limit: usize) -> Result<Vec<super::ObjectRow>> {
        self.with(|c, _| tx::objects_after(On::Conn(&mut c.client, &mut c.stmts), after, limit))
    }

    fn next_due(&self) -> Result<Option<i64>> {
        self.with(|c, _| {
            let row =
                tx::query_opt(&mut c.client, &mut c.stmts, "SELECT MIN(due) FROM objects WHERE due IS NOT NULL", &[])?;
            match row {
                Some(r) => r.try_get(0).map_err(pg_err),
                None => Ok(None),
            }
        })
    }

    fn changes_since(&self, rev: u64) -> Result<Option<Changes>> {
        self.with(|c, seen| {
            if let Some(s) = *seen
                && rev >= s.returned
            {
                c.checking()?;
                let row = tx::query_opt(&mut c.client, &mut c.stmts, tx::SELECT_REV, &[])?
                    .ok_or_else(|| corrupt("revision counter missing"))?;
                if to_rev(row.try_get(0).map_err(pg_err)?)? == s.db {
                    return Ok(None);
                }
            }
            read_changes(c, seen, Some(rev)).map(Some)
        })
    }

    fn changes_after(&self, rev: u64) -> Result<Changes> {
        self.with(|c, seen| read_changes(c, seen, Some(rev)))
    }

    /// True when no other session has committed a revision since this
    /// connection last read it (and `rev` is what it returned), as far as
    /// the notifications already received on the connection tell: one
    /// non-blocking read of the socket, no round trip. A revision read is
    /// still made every [`UNNOTIFIED_CHECK`].
    fn unchanged_since(&self, rev: u64) -> Result<bool> {
        self.with(|c, seen| {
            let Some(s) = *seen else { return Ok(false) };
            if rev < s.returned || c.checked_at.elapsed() >= UNNOTIFIED_CHECK {
                return Ok(false);
            }
            Ok(c.client.poll_notes()? == c.notes_checked)
        })
    }

    fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.with(|c, _| tx::meta_get(On::Conn(&mut c.client, &mut c.stmts), key))
    }

    /// The server answers, the schema is current and every table this
    /// backend needs is there with its singleton rows.
    fn integrity_check(&self) -> Result<bool> {
        self.with(|c, _| {
            let v = schema::version(c)?;
            let rows = c.client.query_sql(
                "SELECT (SELECT count(*) FROM counters) = 1 AND to_regclass('objects') IS NOT NULL \
                 AND to_regclass('tombstones') IS NOT NULL AND to_regclass('meta') IS NOT NULL \
                 AND to_regclass('principals') IS NOT NULL AND to_regclass('grants') IS NOT NULL \
                 AND (SELECT count(*) FROM token) <= 1",
                &[],
            )?;
            let row = rows.first().ok_or_else(|| corrupt("integrity query returned nothing"))?;
            Ok(v >= 1 && row.get::<_, bool>(0))
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// `synchronous_commit = off` for this connection (and after a reconnect).
    fn set_durability_normal(&self) -> Result<()> {
        self.lock().durability_normal = true;
        self.with(|c, _| c.client.batch("SET synchronous_commit TO off"))
    }

    fn shared_by_hosts(&self) -> bool {
        true
    }

    /// No page cap in PostgreSQL: size limits belong to the server (a
    /// tablespace on its own file system, quotas); the setting is ignored.
    fn set_max_pages(&self, _pages: u64) -> Result<()> {
        log::warn!("token store {}: store.max_pages does not apply to PostgreSQL; ignored", self.path.display());
        Ok(())
    }
}
