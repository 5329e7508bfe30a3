//! The SQLite write transaction ([`SqliteTx`], the `TxBackend` of
//! `Sqlite`): every statement that changes a token, the revision stamp, and
//! the row reads shared with the connection-level reads.

use super::super::{
    ObjectRow, Role, RowMac, TokenRow, TxBackend, WrappedKey, Written, check_new_id, corrupt, handle_invalid,
    not_initialized,
};
use crate::error::Result;
use crate::store::index::{IndexKeys, KEY_CLASSES, Lookup};
use crate::store::role_sql::sqlite as role_sql;
use rusqlite::{Connection, OptionalExtension, params};
use std::cell::Cell;

pub(super) fn to_rev(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| corrupt("negative revision"))
}

pub(super) fn from_rev(rev: u64) -> i64 {
    i64::try_from(rev).unwrap_or(i64::MAX)
}

pub(super) fn count(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

pub(super) fn object_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ObjectRow> {
    Ok(ObjectRow { id: r.get(0)?, uid: r.get(1)?, public: r.get(2)?, sealed: r.get(3)?, mac: r.get(4)? })
}

/// Every object, ordered by id.
pub(super) fn objects(conn: &Connection) -> Result<Vec<ObjectRow>> {
    let mut st = conn.prepare_cached("SELECT id, uid, public, sealed, mac FROM objects ORDER BY id")?;
    let rows = st.query_map([], object_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The ids `q` matches (`store::index`), ascending.
pub(super) fn lookup(conn: &Connection, q: Lookup<'_>) -> Result<Vec<i64>> {
    // (No ORDER BY: SQLite would walk the table in id order rather than
    // use the column's index; sorted here.)
    let ids = |sql: &str, p: &dyn rusqlite::ToSql| -> Result<Vec<i64>> {
        let mut st = conn.prepare_cached(sql)?;
        let mut v = st.query_map([p], |r| r.get(0))?.collect::<rusqlite::Result<Vec<i64>>>()?;
        v.sort_unstable();
        Ok(v)
    };
    match q {
        Lookup::Label(l) => ids("SELECT id FROM objects WHERE label = ?1", &l),
        Lookup::KeyId(k) => ids("SELECT id FROM objects WHERE key_id = ?1", &k),
        Lookup::CopyOf(h) => ids("SELECT id FROM objects WHERE copy_of = ?1", &h),
        Lookup::DueBy(t) => ids("SELECT id FROM objects WHERE due <= ?1", &t),
        Lookup::KeysWithoutId => {
            let [a, b, c] = KEY_CLASSES;
            let mut st = conn.prepare_cached(
                "SELECT id FROM objects WHERE key_id IS NULL AND class IN (?1, ?2, ?3) ORDER BY id LIMIT 1",
            )?;
            let v = st.query_map([a, b, c], |r| r.get(0))?.collect::<rusqlite::Result<Vec<i64>>>()?;
            Ok(v)
        }
    }
}

/// Up to `limit` objects with ids above `after`, ordered by id.
pub(super) fn objects_after(conn: &Connection, after: i64, limit: usize) -> Result<Vec<ObjectRow>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut st =
        conn.prepare_cached("SELECT id, uid, public, sealed, mac FROM objects WHERE id > ?1 ORDER BY id LIMIT ?2")?;
    let rows = st.query_map([after, limit], object_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Object `id`.
pub(super) fn object(conn: &Connection, id: i64) -> Result<Option<ObjectRow>> {
    Ok(conn
        .prepare_cached("SELECT id, uid, public, sealed, mac FROM objects WHERE id = ?1")?
        .query_row([id], object_row)
        .optional()?)
}

pub(super) fn meta_get(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>> {
    Ok(conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?.query_row([key], |r| r.get(0)).optional()?)
}

pub(super) fn failures(conn: &Connection, role: Role) -> Result<Option<u32>> {
    let n: Option<i64> = conn.prepare_cached(role_sql(role).select_failures)?.query_row([], |r| r.get(0)).optional()?;
    Ok(n.map(count))
}

/// One `BEGIN IMMEDIATE` transaction's statements. The first write bumps
/// `counters.rev`; every write of the transaction stamps that one.
pub(super) struct SqliteTx<'a> {
    pub(super) conn: &'a Connection,
    rev: Cell<Option<u64>>,
}

impl<'a> SqliteTx<'a> {
    /// `conn` is inside a write transaction.
    pub(super) fn new(conn: &'a Connection) -> SqliteTx<'a> {
        SqliteTx { conn, rev: Cell::new(None) }
    }

    /// The revision before this transaction and the one it stamped.
    pub(super) fn written(&self) -> Result<Written> {
        Ok(Written { base: self.base_revision()?, stamped: self.rev.get() })
    }

    pub(super) fn stamp(&self) -> Result<i64> {
        if let Some(r) = self.rev.get() {
            return Ok(from_rev(r));
        }
        let r = self.counter("UPDATE counters SET rev = rev + 1 WHERE id = 1 RETURNING rev")?;
        self.rev.set(Some(to_rev(r)?));
        Ok(r)
    }

    /// The revision counter as `sql` (a read or the bump) returns it.
    fn counter(&self, sql: &str) -> Result<i64> {
        self.conn
            .prepare_cached(sql)?
            .query_row([], |r| r.get(0))
            .optional()?
            .ok_or_else(|| corrupt("revision counter missing"))
    }
}

impl TxBackend for SqliteTx<'_> {
    fn objects(&self) -> Result<Vec<ObjectRow>> {
        objects(self.conn)
    }

    fn object(&self, id: i64) -> Result<Option<ObjectRow>> {
        object(self.conn, id)
    }

    fn lookup(&self, q: Lookup<'_>) -> Result<Vec<i64>> {
        lookup(self.conn, q)
    }

    fn base_revision(&self) -> Result<u64> {
        if let Some(r) = self.rev.get() {
            return Ok(r.saturating_sub(1));
        }
        to_rev(self.counter("SELECT rev FROM counters WHERE id = 1")?)
    }

    fn insert_object(&self, uid: &str, public: &[u8], sealed: &[u8], mac: &RowMac<'_>) -> Result<i64> {
        // The id comes from the insert; the MAC, which names it, follows.
        let rev = self.stamp()?;
        let k = IndexKeys::of_public(public);
        let id = self
            .conn
            .prepare_cached(
                "INSERT INTO objects (uid, rev, public, sealed, label, key_id, copy_of, class, due) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
            )?
            .query_row(params![uid, rev, public, sealed, k.label, k.key_id, k.copy_of, k.class, k.due], |r| r.get(0))?;
        check_new_id(id)?;
        self.set_mac(id, &mac(id)?)?;
        Ok(id)
    }

    fn update_object(&self, id: i64, public: &[u8], sealed: &[u8], mac: &[u8]) -> Result<()> {
        let rev = self.stamp()?;
        let k = IndexKeys::of_public(public);
        let n = self
            .conn
            .prepare_cached(
                "UPDATE objects SET public = ?2, sealed = ?3, mac = ?4, rev = ?5, \
                 label = ?6, key_id = ?7, copy_of = ?8, class = ?9, due = ?10 WHERE id = ?1",
            )?
            .execute(params![id, public, sealed, mac, rev, k.label, k.key_id, k.copy_of, k.class, k.due])?;
        if n == 0 {
            return Err(handle_invalid(id));
        }
        Ok(())
    }

    fn set_mac(&self, id: i64, mac: &[u8]) -> Result<()> {
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

    fn delete_object(&self, id: i64) -> Result<()> {
        let rev = self.stamp()?;
        let n = self.conn.prepare_cached("DELETE FROM objects WHERE id = ?1")?.execute([id])?;
        if n == 0 {
            return Err(handle_invalid(id));
        }
        self.conn.prepare_cached("INSERT OR REPLACE INTO tombstones (id, rev) VALUES (?1, ?2)")?.execute([id, rev])?;
        Ok(())
    }

    fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        meta_get(self.conn, key)
    }

    fn meta_set(&self, key: &str, value: &[u8]) -> Result<()> {
        // Not stamped: meta is read directly, never through changes_since.
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
        // (Principal ids stay used: AUTOINCREMENT.)
        self.conn.execute("DELETE FROM grants", [])?;
        self.conn.execute("DELETE FROM principals", [])?;
        self.conn.execute("UPDATE counters SET auth_rev = ?1 WHERE id = 1", [rev])?;
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

    fn replace_wrapped(&self, role: Role, old: &WrappedKey, new: &WrappedKey) -> Result<bool> {
        self.stamp()?;
        let n = self.conn.prepare_cached(role_sql(role).replace_key)?.execute(params![
            old.salt,
            old.iterations,
            old.blob,
            new.salt,
            new.iterations,
            new.blob
        ])?;
        Ok(n == 1)
    }

    fn failures(&self, role: Role) -> Result<Option<u32>> {
        failures(self.conn, role)
    }

    fn pin_failed(&self, role: Role) -> Result<u32> {
        self.stamp()?;
        let n: Option<i64> =
            self.conn.prepare_cached(role_sql(role).add_failure)?.query_row([], |r| r.get(0)).optional()?;
        n.map(count).ok_or_else(not_initialized)
    }

    fn pin_ok(&self, role: Role) -> Result<()> {
        self.stamp()?;
        self.conn.prepare_cached(role_sql(role).reset_failures)?.execute([])?;
        Ok(())
    }

    fn token(&self) -> Result<Option<TokenRow>> {
        token(self.conn)
    }

    fn meta_all(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let mut st = self.conn.prepare("SELECT key, value FROM meta ORDER BY key")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn id_floor(&self) -> Result<i64> {
        let seq: Option<i64> = self
            .conn
            .query_row("SELECT seq FROM sqlite_sequence WHERE name = 'objects'", [], |r| r.get(0))
            .optional()?;
        let max: Option<i64> = self.conn.query_row("SELECT MAX(id) FROM objects", [], |r| r.get(0))?;
        Ok(seq.unwrap_or(0).max(max.unwrap_or(0)))
    }

    fn import_object(&self, row: &ObjectRow) -> Result<()> {
        let rev = self.stamp()?;
        let k = IndexKeys::of_public(&row.public);
        self.conn
            .prepare_cached(
                "INSERT INTO objects (id, uid, rev, public, sealed, mac, label, key_id, copy_of, class, due) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                row.id, row.uid, rev, row.public, row.sealed, row.mac, k.label, k.key_id, k.copy_of, k.class, k.due
            ])?;
        Ok(())
    }

    fn import_token(&self, t: &TokenRow) -> Result<()> {
        self.stamp()?;
        let parts = |w: &Option<WrappedKey>| match w {
            Some(w) => (Some(w.salt.clone()), Some(w.iterations), Some(w.blob.clone())),
            None => (None, None, None),
        };
        let (ss, si, sb) = parts(&t.so);
        let (us, ui, ub) = parts(&t.user);
        self.conn.execute(
            "INSERT INTO token (id, label, serial, so_salt, so_iter, so_blob, user_salt, user_iter, user_blob, \
             so_failures, user_failures) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![t.label, t.serial, ss, si, sb, us, ui, ub, t.so_failures, t.user_failures],
        )?;
        Ok(())
    }

    /// AUTOINCREMENT keeps the highest id ever used in `sqlite_sequence`:
    /// raising it there keeps every id up to `floor` unused by new objects.
    fn raise_id_floor(&self, floor: i64) -> Result<()> {
        if floor < 1 {
            return Ok(());
        }
        let n = self.conn.execute("UPDATE sqlite_sequence SET seq = MAX(seq, ?1) WHERE name = 'objects'", [floor])?;
        if n == 0 {
            self.conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('objects', ?1)", [floor])?;
        }
        Ok(())
    }
}

/// The token row (shared by the connection and the transaction).
pub(super) fn token(conn: &Connection) -> Result<Option<TokenRow>> {
    let mut st = conn.prepare_cached(
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
        so: super::wrapped_key(so.0, so.1, so.2)?,
        user: super::wrapped_key(user.0, user.1, user.2)?,
        so_failures: count(so_failures),
        user_failures: count(user_failures),
    }))
}
