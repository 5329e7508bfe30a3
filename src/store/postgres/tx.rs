//! The PostgreSQL write transaction ([`PgTx`], the `TxBackend` of
//! `Postgres`): every statement that changes a token, the revision stamp,
//! and the row reads shared with the connection-level reads. Statements are
//! prepared once per connection (`Stmts`).

use super::super::{
    ObjectRow, Role, RowMac, TokenRow, TxBackend, WrappedKey, check_new_id, corrupt, handle_invalid, not_initialized,
};
use super::client::{Params, Pending, PgClient};
use super::pg_err;
use crate::error::Result;
use crate::store::index::{IndexKeys, KEY_CLASSES, Lookup};
use crate::store::role_sql::postgres as role_sql;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
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

/// Begins a write transaction and takes the write lock (the `counters`
/// row, `FOR UPDATE`), in one round trip; returns the revision the lock
/// found and the id the next insert will get. Every insert runs under the
/// lock, so that id holds until this transaction inserts (read after the
/// lock, as its own statement).
pub(super) fn begin_write(c: &mut PgClient, stmts: &mut Stmts) -> Result<(u64, i64)> {
    let lock = prepared(c, stmts, "SELECT rev FROM counters WHERE id = 1 FOR UPDATE")?;
    let next =
        prepared(c, stmts, "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM objects_id_seq")?;
    let (rev, id) = c.batch_then_two("BEGIN ISOLATION LEVEL READ COMMITTED", (&lock, &[]), (&next, &[]))?;
    let rev = rev.ok_or_else(|| corrupt("revision counter missing"))?;
    let id = id.ok_or_else(|| corrupt("object id sequence missing"))?;
    Ok((to_rev(rev.try_get(0).map_err(pg_err)?)?, id.try_get(0).map_err(pg_err)?))
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

/// The ids `q` matches (`store::index`), ascending.
pub(super) fn lookup(c: &mut PgClient, stmts: &mut Stmts, q: Lookup<'_>) -> Result<Vec<i64>> {
    let rows = match q {
        Lookup::Label(l) => query(c, stmts, "SELECT id FROM objects WHERE label = $1 ORDER BY id", &[&l])?,
        Lookup::KeyId(k) => query(c, stmts, "SELECT id FROM objects WHERE key_id = $1 ORDER BY id", &[&k])?,
        Lookup::CopyOf(h) => query(c, stmts, "SELECT id FROM objects WHERE copy_of = $1 ORDER BY id", &[&h])?,
        Lookup::DueBy(t) => query(c, stmts, "SELECT id FROM objects WHERE due <= $1 ORDER BY id", &[&t])?,
        Lookup::KeysWithoutId => {
            let classes: &[i64] = &KEY_CLASSES;
            query(
                c,
                stmts,
                "SELECT id FROM objects WHERE key_id IS NULL AND class = ANY($1) ORDER BY id LIMIT 1",
                &[&classes],
            )?
        }
    };
    rows.iter().map(|r| r.try_get(0).map_err(pg_err)).collect()
}

/// Object `id`.
pub(super) fn object(c: &mut PgClient, stmts: &mut Stmts, id: i64) -> Result<Option<ObjectRow>> {
    query_opt(c, stmts, "SELECT id, uid, public, sealed, mac FROM objects WHERE id = $1", &[&id])?
        .as_ref()
        .map(object_row)
        .transpose()
}

/// Up to `limit` objects with ids above `after`, ordered by id.
pub(super) fn objects_after(c: &mut PgClient, stmts: &mut Stmts, after: i64, limit: usize) -> Result<Vec<ObjectRow>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    query(
        c,
        stmts,
        "SELECT id, uid, public, sealed, mac FROM objects WHERE id > $1 ORDER BY id LIMIT $2",
        &[&after, &limit],
    )?
    .iter()
    .map(object_row)
    .collect()
}

/// Every object, ordered by id.
pub(super) fn objects(c: &mut PgClient, stmts: &mut Stmts) -> Result<Vec<ObjectRow>> {
    query(c, stmts, SELECT_OBJECTS, &[])?.iter().map(object_row).collect()
}

pub(super) fn meta_get(c: &mut PgClient, stmts: &mut Stmts, key: &str) -> Result<Option<Vec<u8>>> {
    let row = query_opt(c, stmts, "SELECT value FROM meta WHERE key = $1", &[&key])?;
    row.map(|r| r.try_get(0).map_err(pg_err)).transpose()
}

pub(super) fn failures(c: &mut PgClient, stmts: &mut Stmts, role: Role) -> Result<Option<u32>> {
    let row = query_opt(c, stmts, role_sql(role).select_failures, &[])?;
    row.map(|r| r.try_get::<_, i64>(0).map(count).map_err(pg_err)).transpose()
}

/// The token row.
pub(super) fn token(c: &mut PgClient, stmts: &mut Stmts) -> Result<Option<TokenRow>> {
    let row = query_opt(
        c,
        stmts,
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

/// One write transaction's statements, after the write lock (the
/// `counters` row, `FOR UPDATE`) was taken. The first write bumps
/// `counters.rev`; every write of the transaction stamps that one.
///
/// Writes wait to be sent with the next statement, or with the `COMMIT`
/// ([`PgTx::commit`]), when nothing between needs their answer: the
/// counter's bump (the lock holds its row), an insert (its id is known
/// from the lock's round trip, so its MAC goes in the row) and a delete
/// (a missing row fails the statement). A create or a destroy is then two
/// round trips (lock; bump, write and commit), not four.
pub(super) struct PgTx<'t> {
    tx: RefCell<&'t mut PgClient>,
    stmts: RefCell<&'t mut Stmts>,
    rev: Cell<Option<u64>>,
    /// Writes not sent yet, in order; each must touch exactly one row.
    pending: RefCell<Vec<Deferred>>,
    /// The id the next insert gets (see [`begin_write`]).
    next_id: Cell<i64>,
    /// The revision the write lock found.
    base: u64,
}

/// A parameter of a pending write.
pub(super) type Owned = Box<dyn ToSql + Sync>;

/// A pending write: statement, parameters, and the object whose absence a
/// NOT NULL violation of it means ([`Pending`]).
type Deferred = (&'static str, Vec<Owned>, Option<i64>);

/// The first write's bump of the revision counter, to the revision the
/// transaction stamps (the write lock holds the row: no other bump can
/// come between the lock's read of `base` and this one).
const BUMP: &str = "UPDATE counters SET rev = $1 WHERE id = 1";

fn iter(w: &WrappedKey) -> i64 {
    i64::from(w.iterations)
}

impl<'t> PgTx<'t> {
    /// `tx` is inside a transaction that holds the write lock.
    /// `base` is the revision the lock statement read.
    /// `next_id`: the id the next insert gets.
    pub(super) fn new(tx: &'t mut PgClient, stmts: &'t mut Stmts, base: u64, next_id: i64) -> Self {
        PgTx {
            tx: RefCell::new(tx),
            stmts: RefCell::new(stmts),
            rev: Cell::new(None),
            pending: RefCell::new(Vec::new()),
            next_id: Cell::new(next_id),
            base,
        }
    }

    /// Holds a write back (see [`Deferred`]).
    pub(super) fn defer(&self, sql: &'static str, params: Vec<Owned>, missing: Option<i64>) {
        self.pending.borrow_mut().push((sql, params, missing));
    }

    /// Runs `run` with the client and the pending writes (statement and
    /// parameters, in order; empty when none), which `run` sends ahead of
    /// its own request in one round trip ([`PgClient::pipelined`]). They
    /// count as sent afterwards, whatever `run` returned: a failed
    /// statement aborts the transaction.
    fn with_pending<R>(&self, run: impl FnOnce(&mut PgClient, &mut Stmts, &[Pending<'_>]) -> Result<R>) -> Result<R> {
        let c = &mut *self.tx.borrow_mut();
        let stmts = &mut *self.stmts.borrow_mut();
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        if pending.is_empty() {
            return run(c, stmts, &[]);
        }
        let sts = pending.iter().map(|(sql, ..)| prepared(c, stmts, sql)).collect::<Result<Vec<_>>>()?;
        let params: Vec<Vec<&(dyn ToSql + Sync)>> =
            pending.iter().map(|(_, p, _)| p.iter().map(|b| &**b as &(dyn ToSql + Sync)).collect()).collect();
        let first: Vec<Pending<'_>> =
            sts.iter().zip(&params).zip(&pending).map(|((s, p), (.., id))| (s, &p[..], *id)).collect();
        run(c, stmts, &first)
    }

    /// Prepares `sql` and runs it by `run`, after the pending writes.
    fn send<R>(
        &self,
        sql: &'static str,
        run: impl FnOnce(&mut PgClient, &Statement, &[Pending<'_>]) -> Result<R>,
    ) -> Result<R> {
        self.with_pending(|c, stmts, first| {
            let st = prepared(c, stmts, sql)?;
            run(c, &st, first)
        })
    }

    pub(super) fn query(&self, sql: &'static str, p: Params<'_>) -> Result<Vec<Row>> {
        self.send(sql, |c, st, first| c.pipelined(first, |cl| cl.query(st, p)))
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
        self.send(sql, |c, st, first| c.pipelined(first, |cl| cl.execute(st, p)))
    }

    /// Sends the pending writes, alone (before a read that bypasses
    /// [`Self::send`]).
    fn flush(&self) -> Result<()> {
        self.with_pending(
            |c, _, first| if first.is_empty() { Ok(()) } else { c.pipelined(first, |_| async { Ok(()) }) },
        )
    }

    /// The pending writes and `COMMIT`, in one round trip. On an error the
    /// transaction did not commit (a failed statement before the `COMMIT`
    /// turns it into a rollback).
    pub(super) fn commit(&self) -> Result<()> {
        self.with_pending(|c, _, first| c.pipelined(first, |cl| cl.batch_execute("COMMIT")))
    }

    /// The revision this transaction wrote, if it wrote.
    pub(super) fn stamped(&self) -> Option<u64> {
        self.rev.get()
    }

    /// The revision this transaction's writes stamp: the one after the
    /// write lock's. The first stamp leaves the counter's bump pending; it
    /// goes out with the next statement.
    pub(super) fn stamp(&self) -> Result<i64> {
        if let Some(r) = self.rev.get() {
            return Ok(from_rev(r));
        }
        let r = self.base.checked_add(1).ok_or_else(|| corrupt("revision counter overflow"))?;
        self.rev.set(Some(r));
        // The first write: nothing is pending before it.
        self.defer(BUMP, vec![Box::new(from_rev(r))], None);
        Ok(from_rev(r))
    }
}

impl TxBackend for PgTx<'_> {
    fn objects(&self) -> Result<Vec<ObjectRow>> {
        self.flush()?;
        objects(&mut self.tx.borrow_mut(), &mut self.stmts.borrow_mut())
    }

    fn object(&self, id: i64) -> Result<Option<ObjectRow>> {
        self.query_opt("SELECT id, uid, public, sealed, mac FROM objects WHERE id = $1", &[&id])?
            .as_ref()
            .map(object_row)
            .transpose()
    }

    fn lookup(&self, q: Lookup<'_>) -> Result<Vec<i64>> {
        self.flush()?;
        lookup(&mut self.tx.borrow_mut(), &mut self.stmts.borrow_mut(), q)
    }

    fn base_revision(&self) -> Result<u64> {
        Ok(self.base)
    }

    fn insert_object(&self, uid: &str, public: &[u8], sealed: &[u8], mac: &RowMac<'_>) -> Result<i64> {
        let id = self.next_id.get();
        check_new_id(id)?;
        let rev = self.stamp()?;
        let k = IndexKeys::of_public(public);
        let mac = mac(id)?;
        // Sent with the next statement or the commit. The id comes from
        // the sequence as always; should it not be the one the MAC names
        // (something took ids outside the write lock), the NULL id fails
        // the statement and the transaction rolls back.
        self.defer(
            "INSERT INTO objects (id, uid, rev, public, sealed, mac, label, key_id, copy_of, class, due) \
             OVERRIDING SYSTEM VALUE VALUES ((SELECT CASE WHEN n.v = $1 THEN n.v END \
             FROM (SELECT nextval('objects_id_seq') AS v) n), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            vec![
                Box::new(id),
                Box::new(uid.to_owned()),
                Box::new(rev),
                Box::new(public.to_vec()),
                Box::new(sealed.to_vec()),
                Box::new(mac),
                Box::new(k.label),
                Box::new(k.key_id),
                Box::new(k.copy_of),
                Box::new(k.class),
                Box::new(k.due),
            ],
            None,
        );
        self.next_id.set(id.saturating_add(1));
        Ok(id)
    }

    fn update_object(&self, id: i64, public: &[u8], sealed: &[u8], mac: &[u8]) -> Result<()> {
        let rev = self.stamp()?;
        let k = IndexKeys::of_public(public);
        let n = self.execute(
            "UPDATE objects SET public = $2, sealed = $3, mac = $4, rev = $5, \
             label = $6, key_id = $7, copy_of = $8, class = $9, due = $10 WHERE id = $1",
            &[&id, &public, &sealed, &mac, &rev, &k.label, &k.key_id, &k.copy_of, &k.class, &k.due],
        )?;
        if n == 0 {
            return Err(handle_invalid(id));
        }
        Ok(())
    }

    fn set_mac(&self, id: i64, mac: &[u8]) -> Result<()> {
        let rev = self.stamp()?;
        let n = self.execute("UPDATE objects SET mac = $2, rev = $3 WHERE id = $1", &[&id, &mac, &rev])?;
        if n == 0 {
            return Err(handle_invalid(id));
        }
        Ok(())
    }

    fn delete_object(&self, id: i64) -> Result<()> {
        let rev = self.stamp()?;
        // The delete and its tombstone in one statement, sent with the next
        // statement or the commit: no row deleted, a NULL tombstone id,
        // which fails the statement (CKR_OBJECT_HANDLE_INVALID) and rolls
        // the transaction back.
        self.defer(
            "WITH d AS (DELETE FROM objects WHERE id = $1 RETURNING id) \
             INSERT INTO tombstones (id, rev) VALUES ((SELECT id FROM d), $2) \
             ON CONFLICT (id) DO UPDATE SET rev = excluded.rev",
            vec![Box::new(id), Box::new(rev)],
            Some(id),
        );
        Ok(())
    }

    fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.flush()?;
        meta_get(&mut self.tx.borrow_mut(), &mut self.stmts.borrow_mut(), key)
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
        self.flush()?;
        failures(&mut self.tx.borrow_mut(), &mut self.stmts.borrow_mut(), role)
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
        self.flush()?;
        token(&mut self.tx.borrow_mut(), &mut self.stmts.borrow_mut())
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
        }
        Ok(())
    }
}
