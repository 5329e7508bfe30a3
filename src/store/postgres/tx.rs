//! The PostgreSQL write transaction ([`PgTx`], the `TxBackend` of
//! `Postgres`): every statement that changes a token, the revision stamp,
//! and the row reads shared with the connection-level reads. Statements are
//! prepared once per connection (`Stmts`).

use super::super::{
    ObjectRow, Role, RowMac, TokenRow, TxBackend, WrappedKey, check_new_id, corrupt, handle_invalid, not_initialized,
    stale,
};
use super::client::{Head, OnNull, Opened, Params, Pending, PgClient};
use super::pg_err;
use crate::error::{Error, Result};
use crate::store::index::{IndexKeys, KEY_CLASSES, Lookup};
use crate::store::role_sql::postgres as role_sql;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};

/// The prepared statements of one connection, by SQL text.
pub(super) type Stmts = HashMap<&'static str, Statement>;

fn prepared(c: &mut PgClient, stmts: &mut Stmts, sql: &'static str) -> Result<Statement> {
    if let Some(s) = stmts.get(sql) {
        return Ok(s.clone());
    }
    let s = c.prepare(sql)?;
    stmts.insert(sql, s.clone());
    Ok(s)
}

pub(super) fn query(c: &mut PgClient, stmts: &mut Stmts, sql: &'static str, p: Params<'_>) -> Result<Vec<Row>> {
    let s = prepared(c, stmts, sql)?;
    c.query(&s, p)
}

pub(super) fn query_opt(c: &mut PgClient, stmts: &mut Stmts, sql: &'static str, p: Params<'_>) -> Result<Option<Row>> {
    let s = prepared(c, stmts, sql)?;
    c.query_opt(&s, p)
}

pub(super) fn to_rev(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| corrupt("negative revision"))
}

pub(super) fn from_rev(rev: u64) -> i64 {
    i64::try_from(rev).unwrap_or(i64::MAX)
}

pub(super) fn count(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

pub(super) fn object_row(r: &Row) -> Result<ObjectRow> {
    Ok(ObjectRow {
        id: r.try_get(0).map_err(pg_err)?,
        uid: r.try_get(1).map_err(pg_err)?,
        public: r.try_get(2).map_err(pg_err)?,
        sealed: r.try_get(3).map_err(pg_err)?,
        mac: r.try_get(4).map_err(pg_err)?,
    })
}

pub(super) const SELECT_REV: &str = "SELECT rev FROM counters WHERE id = 1";
pub(super) const SELECT_OBJECTS: &str = "SELECT id, uid, public, sealed, mac FROM objects ORDER BY id";

/// Where a read runs: on the connection (outside any transaction), or in
/// a write transaction (after what it holds back, under its lock, and
/// with its `BEGIN` when it is the first statement).
pub(super) enum On<'a, 't> {
    Conn(&'a mut PgClient, &'a mut Stmts),
    Tx(&'a PgTx<'t>),
}

impl On<'_, '_> {
    fn query(&mut self, sql: &'static str, p: Params<'_>) -> Result<Vec<Row>> {
        match self {
            On::Conn(c, stmts) => query(c, stmts, sql, p),
            On::Tx(t) => t.query(sql, p),
        }
    }

    fn query_opt(&mut self, sql: &'static str, p: Params<'_>) -> Result<Option<Row>> {
        match self {
            On::Conn(c, stmts) => query_opt(c, stmts, sql, p),
            On::Tx(t) => t.query_opt(sql, p),
        }
    }
}

/// The ids `q` matches (`store::index`), ascending.
pub(super) fn lookup(mut on: On<'_, '_>, q: Lookup<'_>) -> Result<Vec<i64>> {
    let rows = match q {
        Lookup::Label(l) => on.query("SELECT id FROM objects WHERE label = $1 ORDER BY id", &[&l])?,
        Lookup::KeyId(k) => on.query("SELECT id FROM objects WHERE key_id = $1 ORDER BY id", &[&k])?,
        Lookup::CopyOf(h) => on.query("SELECT id FROM objects WHERE copy_of = $1 ORDER BY id", &[&h])?,
        Lookup::DueBy(t) => on.query("SELECT id FROM objects WHERE due <= $1 ORDER BY id", &[&t])?,
        Lookup::KeysWithoutId => {
            let classes: &[i64] = &KEY_CLASSES;
            on.query(
                "SELECT id FROM objects WHERE key_id IS NULL AND class = ANY($1) ORDER BY id LIMIT 1",
                &[&classes],
            )?
        }
    };
    rows.iter().map(|r| r.try_get(0).map_err(pg_err)).collect()
}

/// Object `id`.
pub(super) fn object(mut on: On<'_, '_>, id: i64) -> Result<Option<ObjectRow>> {
    on.query_opt("SELECT id, uid, public, sealed, mac FROM objects WHERE id = $1", &[&id])?
        .as_ref()
        .map(object_row)
        .transpose()
}

/// Up to `limit` objects with ids above `after`, ordered by id.
pub(super) fn objects_after(mut on: On<'_, '_>, after: i64, limit: usize) -> Result<Vec<ObjectRow>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    on.query("SELECT id, uid, public, sealed, mac FROM objects WHERE id > $1 ORDER BY id LIMIT $2", &[&after, &limit])?
        .iter()
        .map(object_row)
        .collect()
}

/// Every object, ordered by id.
pub(super) fn objects(mut on: On<'_, '_>) -> Result<Vec<ObjectRow>> {
    on.query(SELECT_OBJECTS, &[])?.iter().map(object_row).collect()
}

pub(super) fn meta_get(mut on: On<'_, '_>, key: &str) -> Result<Option<Vec<u8>>> {
    let row = on.query_opt("SELECT value FROM meta WHERE key = $1", &[&key])?;
    row.map(|r| r.try_get(0).map_err(pg_err)).transpose()
}

pub(super) fn failures(mut on: On<'_, '_>, role: Role) -> Result<Option<u32>> {
    let row = on.query_opt(role_sql(role).select_failures, &[])?;
    row.map(|r| r.try_get::<_, i64>(0).map(count).map_err(pg_err)).transpose()
}

/// The token row.
pub(super) fn token(mut on: On<'_, '_>) -> Result<Option<TokenRow>> {
    let row = on.query_opt(
        "SELECT label, serial, so_salt, so_iter, so_blob, user_salt, user_iter, user_blob, \
         so_failures, user_failures FROM token WHERE id = 1",
        &[],
    )?;
    let Some(r) = row else { return Ok(None) };
    let g = pg_err;
    Ok(Some(TokenRow {
        label: r.try_get(0).map_err(g)?,
        serial: r.try_get(1).map_err(g)?,
        so: super::wrapped_key(r.try_get(2).map_err(g)?, r.try_get(3).map_err(g)?, r.try_get(4).map_err(g)?)?,
        user: super::wrapped_key(r.try_get(5).map_err(g)?, r.try_get(6).map_err(g)?, r.try_get(7).map_err(g)?)?,
        so_failures: count(r.try_get(8).map_err(g)?),
        user_failures: count(r.try_get(9).map_err(g)?),
    }))
}

/// The `BEGIN` of a write transaction.
const BEGIN: &str = "BEGIN ISOLATION LEVEL READ COMMITTED";
/// The write lock: the revision counter's row, held to commit. Always the
/// transaction's first statement after its `BEGIN`.
const LOCK: &str = "SELECT rev FROM counters WHERE id = 1 FOR UPDATE";
/// Reserves `$1` object ids for this connection ([`IdPool`]), under the
/// write lock.
const RESERVE: &str = "SELECT nextval('objects_id_seq') FROM generate_series(1, $1::bigint)";
/// The first write's bump of the revision counter (the write lock holds
/// the row: no other bump can come between the lock's read and this one,
/// so the new revision is the lock's + 1). Rows written after it in the
/// transaction are stamped with `(SELECT rev FROM counters WHERE id = 1)`
/// or, once the lock's answer is in, with that number ([`PgTx::stamp`]).
const BUMP: &str = "UPDATE counters SET rev = rev + 1 WHERE id = 1";

/// The revision check of [`TxBackend::expect_base`], and the same with the
/// bump: a revision that is not `$1` turns into a NULL, which fails the
/// statement (and the transaction).
const EXPECT: &str = "UPDATE counters SET rev = CASE WHEN rev = $1 THEN rev END WHERE id = 1";
const EXPECT_AND_BUMP: &str = "UPDATE counters SET rev = CASE WHEN rev = $1 THEN rev + 1 END WHERE id = 1";

/// Most ids one reservation takes.
const MAX_RESERVE: i64 = 64;

/// Object ids reserved from `objects_id_seq` by this connection
/// ([`RESERVE`], always under the write lock, so a writer that reads the
/// sequence under the lock sees no id taken between its read and its
/// insert), for its inserts: an insert takes the next one without asking
/// the server, so its MAC can go into the row and the row into the
/// transaction's last round trip. Reserved ids are never reused (the
/// sequence moved past them): one not used is lost, like the id of a
/// rolled-back insert. A reservation takes at most as many as the
/// connection used so far (2 at first, at most [`MAX_RESERVE`]), so a
/// connection loses at most as many ids as it used and no more than
/// [`MAX_RESERVE`]. The pool dies with the connection: a new connection
/// (after a failover, maybe to a server whose sequence is behind what an
/// asynchronous standby received) reserves afresh.
#[derive(Default)]
pub(super) struct IdPool {
    ids: VecDeque<i64>,
    /// Ids this connection took from the pool.
    taken: i64,
}

impl IdPool {
    /// How many ids the next reservation takes.
    fn want(&self) -> i64 {
        self.taken.clamp(2, MAX_RESERVE)
    }
}

/// One write transaction's statements. Nothing is sent before the first
/// statement that needs an answer (a read, a write whose row count
/// matters, the revision the lock found) or the commit; that round trip
/// opens with the `BEGIN` and the write lock ([`LOCK`]), so every read is
/// made under the lock. The first write bumps `counters.rev`; every write
/// of the transaction stamps the new revision.
///
/// Writes wait to be sent with the next statement, or with the `COMMIT`
/// ([`PgTx::commit`]), when nothing between needs their answer: the
/// counter's bump, an insert (its id comes from the connection's
/// [`IdPool`], so its MAC goes in the row) and a delete (a missing row
/// fails the statement). A create is then one round trip (BEGIN, lock,
/// bump, insert and commit), as is a delete of a row by id; a destroy that
/// reads its row first is two.
pub(super) struct PgTx<'t> {
    tx: RefCell<&'t mut PgClient>,
    stmts: RefCell<&'t mut Stmts>,
    ids: RefCell<&'t mut IdPool>,
    /// Set once the `BEGIN` went out (the caller rolls back on an error).
    begun: &'t Cell<bool>,
    /// The revision the write lock found, once its answer came.
    base: Cell<Option<u64>>,
    /// The bump is pending or sent.
    bumped: Cell<bool>,
    /// Ids this transaction took from the pool.
    inserted: Cell<i64>,
    /// A round trip failed: nothing more is sent (the server aborted the
    /// transaction, or writes held back were not sent).
    failed: Cell<bool>,
    /// Writes not sent yet, in order; each must touch exactly one row.
    pending: RefCell<Vec<Deferred>>,
}

/// A parameter of a pending write.
pub(super) type Owned = Box<dyn ToSql + Sync>;

/// A pending write: statement, parameters, and what a NOT NULL violation
/// of it means ([`Pending`]).
type Deferred = (&'static str, Vec<Owned>, OnNull);

/// What [`PgTx::round_trip`]'s `run` gets: the client, the statements, the
/// head to send first and where its answers go, the pending writes.
type Trip<'c, 'p> = (&'c mut PgClient, &'c mut Stmts, Head<'p>, &'c mut Opened, &'p [Pending<'p>]);

fn iter(w: &WrappedKey) -> i64 {
    i64::from(w.iterations)
}

impl<'t> PgTx<'t> {
    /// A transaction not begun yet on `tx` (`begun` false), whose inserts
    /// take their ids from `ids`.
    pub(super) fn new(tx: &'t mut PgClient, stmts: &'t mut Stmts, ids: &'t mut IdPool, begun: &'t Cell<bool>) -> Self {
        PgTx {
            tx: RefCell::new(tx),
            stmts: RefCell::new(stmts),
            ids: RefCell::new(ids),
            begun,
            base: Cell::new(None),
            bumped: Cell::new(false),
            inserted: Cell::new(0),
            failed: Cell::new(false),
            pending: RefCell::new(Vec::new()),
        }
    }

    /// Holds a write back (see [`Deferred`]).
    pub(super) fn defer(&self, sql: &'static str, params: Vec<Owned>, missing: OnNull) {
        self.pending.borrow_mut().push((sql, params, missing));
    }

    /// Runs `run` with what the next round trip sends ahead of `run`'s own
    /// request ([`PgClient::pipelined`]): the `BEGIN` and the lock if not
    /// sent yet, a reservation of `reserve` ids (if > 0), the pending
    /// writes. They count as sent afterwards, whatever `run` returned: a
    /// failed statement aborts the transaction. The lock's revision and
    /// the reserved ids are taken in. After an error nothing more is sent
    /// (a caller that went on after it cannot commit a part of the
    /// transaction).
    fn round_trip<R>(&self, reserve: i64, run: impl FnOnce(Trip<'_, '_>) -> Result<R>) -> Result<R> {
        if self.failed.get() {
            return Err(Error::device("token store (postgres): the transaction failed earlier"));
        }
        let r = self.round_trip_once(reserve, run);
        if r.is_err() {
            self.failed.set(true);
        }
        r
    }

    fn round_trip_once<R>(&self, reserve: i64, run: impl FnOnce(Trip<'_, '_>) -> Result<R>) -> Result<R> {
        let c = &mut *self.tx.borrow_mut();
        let stmts = &mut *self.stmts.borrow_mut();
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        let lock = if self.begun.get() { None } else { Some(prepared(c, stmts, LOCK)?) };
        let res = if reserve > 0 { Some(prepared(c, stmts, RESERVE)?) } else { None };
        let sts = pending.iter().map(|(sql, ..)| prepared(c, stmts, sql)).collect::<Result<Vec<_>>>()?;
        let params: Vec<Vec<&(dyn ToSql + Sync)>> =
            pending.iter().map(|(_, p, _)| p.iter().map(|b| &**b as &(dyn ToSql + Sync)).collect()).collect();
        let first: Vec<Pending<'_>> =
            sts.iter().zip(&params).zip(&pending).map(|((s, p), (.., id))| (s, &p[..], *id)).collect();
        let n: [&(dyn ToSql + Sync); 1] = [&reserve];
        let head = Head { open: lock.as_ref().map(|l| (BEGIN, l)), reserve: res.as_ref().map(|s| (s, &n[..])) };
        if lock.is_some() {
            self.begun.set(true);
        }
        let mut opened = Opened::default();
        let r = run((c, stmts, head, &mut opened, &first));
        if let Some(row) = &opened.lock {
            self.base.set(Some(to_rev(row.try_get(0).map_err(pg_err)?)?));
        }
        let mut ids = self.ids.borrow_mut();
        if opened.id_taken {
            // An insert met an id someone else has (a reservation from
            // before a `raise_id_floor`): reserve afresh.
            ids.ids.clear();
        }
        let mut got =
            opened.reserved.iter().map(|r| r.try_get::<_, i64>(0).map_err(pg_err)).collect::<Result<Vec<_>>>()?;
        got.sort_unstable();
        ids.ids.extend(got);
        r
    }

    /// Prepares `sql` and runs it by `run`, after what [`Self::round_trip`]
    /// sends ahead.
    fn send<R>(&self, sql: &'static str, run: impl FnOnce(Trip<'_, '_>, &Statement) -> Result<R>) -> Result<R> {
        self.round_trip(0, |(c, stmts, head, opened, first)| {
            let st = prepared(c, stmts, sql)?;
            run((c, stmts, head, opened, first), &st)
        })
    }

    pub(super) fn query(&self, sql: &'static str, p: Params<'_>) -> Result<Vec<Row>> {
        self.send(sql, |(c, _, head, opened, first), st| c.pipelined(head, opened, first, |cl| cl.query(st, p)))
    }

    pub(super) fn query_opt(&self, sql: &'static str, p: Params<'_>) -> Result<Option<Row>> {
        let mut rows = self.query(sql, p)?;
        match rows.len() {
            0 => Ok(None),
            1 => Ok(rows.pop()),
            _ => Err(corrupt("more than one row where one was expected")),
        }
    }

    pub(super) fn execute(&self, sql: &'static str, p: Params<'_>) -> Result<u64> {
        self.send(sql, |(c, _, head, opened, first), st| c.pipelined(head, opened, first, |cl| cl.execute(st, p)))
    }

    /// Sends what is held back (the `BEGIN` and the lock, the pending
    /// writes) and a reservation of `reserve` ids, alone: before a read
    /// that bypasses [`Self::send`], or for an answer.
    fn flush(&self, reserve: i64) -> Result<()> {
        self.round_trip(reserve, |(c, _, head, opened, first)| {
            if head.open.is_none() && head.reserve.is_none() && first.is_empty() {
                return Ok(());
            }
            c.pipelined(head, opened, first, |_| async { Ok(()) })
        })
    }

    /// What is held back and `COMMIT`, in one round trip (with a new
    /// reservation of ids when this transaction's inserts left fewer than
    /// it used). On an error the transaction did not commit (a failed
    /// statement before the `COMMIT` turns it into a rollback).
    pub(super) fn commit(&self) -> Result<()> {
        let used = self.inserted.get();
        let reserve = {
            let ids = self.ids.borrow();
            let left = i64::try_from(ids.ids.len()).unwrap_or(i64::MAX);
            if used > 0 && left < used { ids.want().max(used) } else { 0 }
        };
        self.round_trip(reserve, |(c, _, head, opened, first)| {
            c.pipelined(head, opened, first, |cl| cl.batch_execute("COMMIT"))
        })
    }

    /// The revision the write lock found (its answer fetched if it is not
    /// in yet).
    pub(super) fn base(&self) -> Result<u64> {
        if let Some(b) = self.base.get() {
            return Ok(b);
        }
        self.flush(0)?;
        self.base.get().ok_or_else(|| corrupt("the write lock gave no revision"))
    }

    /// The revision this transaction wrote, if it wrote (after the commit).
    pub(super) fn stamped(&self) -> Result<Option<u64>> {
        if !self.bumped.get() {
            return Ok(None);
        }
        let r = self.base()?.checked_add(1).ok_or_else(|| corrupt("revision counter overflow"))?;
        Ok(Some(r))
    }

    /// Holds the counter's bump back, the first time (in one statement
    /// with the revision check of [`TxBackend::expect_base`] when that is
    /// the statement before it).
    fn bump(&self) {
        if self.bumped.replace(true) {
            return;
        }
        let mut pending = self.pending.borrow_mut();
        match pending.last_mut() {
            Some((sql, _, OnNull::Stale)) if *sql == EXPECT => *sql = EXPECT_AND_BUMP,
            _ => pending.push((BUMP, Vec::new(), OnNull::Fault)),
        }
    }

    /// The revision this transaction's writes stamp, as a number: the one
    /// after the write lock's (whose answer this may have to fetch). The
    /// bump is held back; it goes out with the next statement.
    pub(super) fn stamp(&self) -> Result<i64> {
        self.bump();
        Ok(from_rev(self.stamped()?.ok_or_else(|| corrupt("no revision stamped"))?))
    }

    /// The id the next insert gets: the pool's next (a reservation first,
    /// in a round trip of its own, when the pool is empty).
    fn next_id(&self) -> Result<i64> {
        let empty = self.ids.borrow().ids.is_empty();
        if empty {
            let want = self.ids.borrow().want();
            self.flush(want)?;
        }
        let mut ids = self.ids.borrow_mut();
        let id = ids.ids.pop_front().ok_or_else(|| corrupt("no object id reserved"))?;
        ids.taken = ids.taken.saturating_add(1);
        self.inserted.set(self.inserted.get().saturating_add(1));
        Ok(id)
    }
}

impl TxBackend for PgTx<'_> {
    fn objects(&self) -> Result<Vec<ObjectRow>> {
        objects(On::Tx(self))
    }

    fn object(&self, id: i64) -> Result<Option<ObjectRow>> {
        object(On::Tx(self), id)
    }

    fn lookup(&self, q: Lookup<'_>) -> Result<Vec<i64>> {
        lookup(On::Tx(self), q)
    }

    fn base_revision(&self) -> Result<u64> {
        self.base()
    }

    fn expect_base(&self, rev: u64) -> Result<()> {
        if let Some(b) = self.base.get() {
            return if b == rev { Ok(()) } else { Err(stale()) };
        }
        // Checked by the server with the next round trip, after the lock: a
        // different revision turns into a NULL, which fails the statement
        // and rolls the transaction back.
        self.defer(EXPECT, vec![Box::new(from_rev(rev))], OnNull::Stale);
        Ok(())
    }

    fn insert_object(&self, uid: &str, public: &[u8], sealed: &[u8], mac: &RowMac<'_>) -> Result<i64> {
        let id = self.next_id()?;
        check_new_id(id)?;
        self.bump();
        let k = IndexKeys::of_public(public);
        let mac = mac(id)?;
        // Sent with the next statement or the commit, stamped with the
        // revision the bump before it wrote.
        self.defer(
            "INSERT INTO objects (id, uid, rev, public, sealed, mac, label, key_id, copy_of, class, due) \
             OVERRIDING SYSTEM VALUE VALUES ($1, $2, (SELECT rev FROM counters WHERE id = 1), \
             $3, $4, $5, $6, $7, $8, $9, $10)",
            vec![
                Box::new(id),
                Box::new(uid.to_owned()),
                Box::new(public.to_vec()),
                Box::new(sealed.to_vec()),
                Box::new(mac),
                Box::new(k.label),
                Box::new(k.key_id),
                Box::new(k.copy_of),
                Box::new(k.class),
                Box::new(k.due),
            ],
            OnNull::Fault,
        );
        Ok(id)
    }

    fn update_object(&self, id: i64, public: &[u8], sealed: &[u8], mac: &[u8]) -> Result<()> {
        self.bump();
        let k = IndexKeys::of_public(public);
        let n = self.execute(
            "UPDATE objects SET public = $2, sealed = $3, mac = $4, rev = (SELECT rev FROM counters WHERE id = 1), \
             label = $5, key_id = $6, copy_of = $7, class = $8, due = $9 WHERE id = $1",
            &[&id, &public, &sealed, &mac, &k.label, &k.key_id, &k.copy_of, &k.class, &k.due],
        )?;
        if n == 0 {
            return Err(handle_invalid(id));
        }
        Ok(())
    }

    fn set_mac(&self, id: i64, mac: &[u8]) -> Result<()> {
        self.bump();
        let n = self.execute(
            "UPDATE objects SET mac = $2, rev = (SELECT rev FROM counters WHERE id = 1) WHERE id = $1",
            &[&id, &mac],
        )?;
        if n == 0 {
            return Err(handle_invalid(id));
        }
        Ok(())
    }

    fn delete_object(&self, id: i64) -> Result<()> {
        self.bump();
        // The delete and its tombstone in one statement, sent with the next
        // statement or the commit, stamped with the revision the bump
        // before it wrote: no row deleted, a NULL tombstone id, which fails
        // the statement (CKR_OBJECT_HANDLE_INVALID) and rolls the
        // transaction back.
        self.defer(
            "WITH d AS (DELETE FROM objects WHERE id = $1 RETURNING id) \
             INSERT INTO tombstones (id, rev) VALUES ((SELECT id FROM d), (SELECT rev FROM counters WHERE id = 1)) \
             ON CONFLICT (id) DO UPDATE SET rev = excluded.rev",
            vec![Box::new(id)],
            OnNull::Missing(id),
        );
        Ok(())
    }

    fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        meta_get(On::Tx(self), key)
    }

    fn meta_set(&self, key: &str, value: &[u8]) -> Result<()> {
        // Not stamped: meta is read directly, never through changes_since.
        self.execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&key, &value],
        )?;
        Ok(())
    }

    fn init_token(&self, label: &str, serial: &str, so: &WrappedKey) -> Result<()> {
        let rev = self.stamp()?;
        self.execute(
            "INSERT INTO tombstones (id, rev) SELECT id, $1 FROM objects \
             ON CONFLICT (id) DO UPDATE SET rev = excluded.rev",
            &[&rev],
        )?;
        self.execute("DELETE FROM objects", &[])?;
        // (Principal ids stay used: the identity's sequence.)
        self.execute("DELETE FROM grants", &[])?;
        self.execute("DELETE FROM principals", &[])?;
        self.execute("UPDATE counters SET auth_rev = $1 WHERE id = 1", &[&rev])?;
        self.execute(
            "INSERT INTO token (id, label, serial, so_salt, so_iter, so_blob, \
             user_salt, user_iter, user_blob, so_failures, user_failures) \
             VALUES (1, $1, $2, $3, $4, $5, NULL, NULL, NULL, 0, 0) \
             ON CONFLICT (id) DO UPDATE SET label = excluded.label, serial = excluded.serial, \
             so_salt = excluded.so_salt, so_iter = excluded.so_iter, so_blob = excluded.so_blob, \
             user_salt = NULL, user_iter = NULL, user_blob = NULL, so_failures = 0, user_failures = 0",
            &[&label, &serial, &so.salt, &iter(so), &so.blob],
        )?;
        Ok(())
    }

    fn set_pin(&self, role: Role, wrapped: Option<&WrappedKey>) -> Result<()> {
        self.stamp()?;
        let (salt, it, blob) = match wrapped {
            Some(w) => (Some(&w.salt[..]), Some(iter(w)), Some(&w.blob[..])),
            None => (None, None, None),
        };
        let n = self.execute(role_sql(role).set_key, &[&salt, &it, &blob])?;
        if n == 0 {
            return Err(not_initialized());
        }
        Ok(())
    }

    fn replace_wrapped(&self, role: Role, old: &WrappedKey, new: &WrappedKey) -> Result<bool> {
        self.stamp()?;
        let n = self.execute(
            role_sql(role).replace_key,
            &[&old.salt, &iter(old), &old.blob, &new.salt, &iter(new), &new.blob],
        )?;
        Ok(n == 1)
    }

    fn failures(&self, role: Role) -> Result<Option<u32>> {
        failures(On::Tx(self), role)
    }

    fn pin_failed(&self, role: Role) -> Result<u32> {
        self.stamp()?;
        let row = self.query_opt(role_sql(role).add_failure, &[])?.ok_or_else(not_initialized)?;
        Ok(count(row.try_get(0).map_err(pg_err)?))
    }

    fn pin_ok(&self, role: Role) -> Result<()> {
        self.stamp()?;
        self.execute(role_sql(role).reset_failures, &[])?;
        Ok(())
    }

    fn token(&self) -> Result<Option<TokenRow>> {
        token(On::Tx(self))
    }

    fn meta_all(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let rows = self.query("SELECT key, value FROM meta ORDER BY key", &[])?;
        rows.iter().map(|r| Ok((r.try_get(0).map_err(pg_err)?, r.try_get(1).map_err(pg_err)?))).collect()
    }

    fn id_floor(&self) -> Result<i64> {
        let row = self.query_opt(
            "SELECT GREATEST(COALESCE((SELECT last_value FROM pg_sequences WHERE schemaname = current_schema() \
             AND sequencename = 'objects_id_seq'), 0), COALESCE((SELECT MAX(id) FROM objects), 0))",
            &[],
        )?;
        row.map(|r| r.try_get(0).map_err(pg_err)).transpose().map(Option::unwrap_or_default)
    }

    fn import_object(&self, row: &ObjectRow) -> Result<()> {
        let rev = self.stamp()?;
        let k = IndexKeys::of_public(&row.public);
        self.execute(
            "INSERT INTO objects (id, uid, rev, public, sealed, mac, label, key_id, copy_of, class, due) \
             OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &row.id,
                &row.uid,
                &rev,
                &row.public,
                &row.sealed,
                &row.mac,
                &k.label,
                &k.key_id,
                &k.copy_of,
                &k.class,
                &k.due,
            ],
        )?;
        Ok(())
    }

    fn import_token(&self, t: &TokenRow) -> Result<()> {
        self.stamp()?;
        let parts = |w: &Option<WrappedKey>| match w {
            Some(w) => (Some(w.salt.clone()), Some(iter(w)), Some(w.blob.clone())),
            None => (None, None, None),
        };
        let (ss, si, sb) = parts(&t.so);
        let (us, ui, ub) = parts(&t.user);
        self.execute(
            "INSERT INTO token (id, label, serial, so_salt, so_iter, so_blob, user_salt, user_iter, user_blob, \
             so_failures, user_failures) VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &t.label,
                &t.serial,
                &ss,
                &si,
                &sb,
                &us,
                &ui,
                &ub,
                &i64::from(t.so_failures),
                &i64::from(t.user_failures),
            ],
        )?;
        Ok(())
    }

    fn raise_id_floor(&self, floor: i64) -> Result<()> {
        if floor >= 1 {
            self.query("SELECT setval(pg_get_serial_sequence('objects', 'id'), $1)", &[&floor])?;
            // Ids reserved before may be below the floor: reserve afresh.
            self.ids.borrow_mut().ids.clear();
        }
        Ok(())
    }
}
