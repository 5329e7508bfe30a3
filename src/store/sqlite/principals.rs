//! The principal and grant statements of the SQLite store
//! (`store::principals`: [`AuthTx`] for the write transaction, the reads
//! of [`AuthRead`] for the connection).

use super::super::principals::{
    AuthTx, GrantRow, PRINCIPAL_DEFAULT, PRINCIPAL_SO, PinSalt, PrincipalRow, no_principal,
};
use super::tx::{SqliteTx, count, to_rev};
use crate::error::Result;
use rusqlite::{Connection, OptionalExtension, params};

const PRINCIPAL_COLUMNS: &str =
    "id, name, roles, record, record_sig, pin_salt, pin_iter, secret, locked, failures, totp_last_step";
const GRANT_COLUMNS: &str = "key_id, principal, ops, wrap, granter, sig";

fn principal_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PrincipalRow> {
    let salt: Option<Vec<u8>> = r.get(5)?;
    let iter: Option<i64> = r.get(6)?;
    Ok(PrincipalRow {
        id: r.get(0)?,
        name: r.get(1)?,
        roles: count(r.get(2)?),
        record: r.get(3)?,
        record_sig: r.get(4)?,
        pin: salt.map(|salt| PinSalt { salt, iterations: count(iter.unwrap_or(0)) }),
        secret: r.get(7)?,
        locked: r.get::<_, i64>(8)? != 0,
        failures: count(r.get(9)?),
        totp_last_step: u64::try_from(r.get::<_, i64>(10)?.max(0)).unwrap_or(0),
    })
}

fn grant_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<GrantRow> {
    Ok(GrantRow {
        key_id: r.get(0)?,
        principal: r.get(1)?,
        ops: count(r.get(2)?),
        wrap: r.get(3)?,
        granter: r.get(4)?,
        sig: r.get(5)?,
    })
}

fn step(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(super) fn principal(conn: &Connection, name: &str) -> Result<Option<PrincipalRow>> {
    let sql = format!("SELECT {PRINCIPAL_COLUMNS} FROM principals WHERE name = ?1");
    Ok(conn.prepare_cached(&sql)?.query_row([name], principal_row).optional()?)
}

pub(super) fn grants_of(conn: &Connection, principal: i64) -> Result<Vec<GrantRow>> {
    let sql = format!("SELECT {GRANT_COLUMNS} FROM grants WHERE principal = ?1 ORDER BY key_id");
    let rows = conn.prepare_cached(&sql)?.query_map([principal], grant_row)?.collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

pub(super) fn auth_revision(conn: &Connection) -> Result<u64> {
    to_rev(conn.prepare_cached("SELECT auth_rev FROM counters WHERE id = 1")?.query_row([], |r| r.get(0))?)
}

impl SqliteTx<'_> {
    /// Stamps the transaction and moves the authorization revision to it.
    fn stamp_auth(&self) -> Result<i64> {
        let rev = self.stamp()?;
        self.conn.prepare_cached("UPDATE counters SET auth_rev = ?1 WHERE id = 1")?.execute([rev])?;
        Ok(rev)
    }

    fn write_principal(&self, p: &PrincipalRow, id: Option<i64>, counters: bool) -> Result<i64> {
        let rev = self.stamp_auth()?;
        let (salt, iter) = PinSalt::columns(&p.pin);
        let (failures, totp) = if counters { (i64::from(p.failures), step(p.totp_last_step)) } else { (0, 0) };
        let id = self
            .conn
            .prepare_cached(
                "INSERT INTO principals (id, name, roles, record, record_sig, pin_salt, pin_iter, secret, locked, \
                 failures, totp_last_step, rev) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) RETURNING id",
            )?
            .query_row(
                params![
                    id,
                    p.name,
                    i64::from(p.roles),
                    p.record,
                    p.record_sig,
                    salt,
                    iter,
                    p.secret,
                    p.locked,
                    failures,
                    totp,
                    rev
                ],
                |r| r.get(0),
            )?;
        Ok(id)
    }
}

impl AuthTx for SqliteTx<'_> {
    fn principals(&self) -> Result<Vec<PrincipalRow>> {
        let sql = format!("SELECT {PRINCIPAL_COLUMNS} FROM principals ORDER BY id");
        let rows = self.conn.prepare_cached(&sql)?.query_map([], principal_row)?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn principal(&self, name: &str) -> Result<Option<PrincipalRow>> {
        principal(self.conn, name)
    }

    fn insert_principal(&self, p: &PrincipalRow) -> Result<i64> {
        let reserved = [PRINCIPAL_SO, PRINCIPAL_DEFAULT].contains(&p.id);
        self.write_principal(p, reserved.then_some(p.id), false)
    }

    fn update_principal(&self, p: &PrincipalRow) -> Result<()> {
        let rev = self.stamp_auth()?;
        let (salt, iter) = PinSalt::columns(&p.pin);
        let n = self
            .conn
            .prepare_cached(
                "UPDATE principals SET name = ?2, roles = ?3, record = ?4, record_sig = ?5, pin_salt = ?6, \
                 pin_iter = ?7, secret = ?8, locked = ?9, rev = ?10 WHERE id = ?1",
            )?
            .execute(params![
                p.id,
                p.name,
                i64::from(p.roles),
                p.record,
                p.record_sig,
                salt,
                iter,
                p.secret,
                p.locked,
                rev
            ])?;
        if n == 0 {
            return Err(no_principal(p.id));
        }
        Ok(())
    }

    fn delete_principal(&self, id: i64) -> Result<()> {
        self.stamp_auth()?;
        self.conn.prepare_cached("DELETE FROM grants WHERE principal = ?1")?.execute([id])?;
        let n = self.conn.prepare_cached("DELETE FROM principals WHERE id = ?1")?.execute([id])?;
        if n == 0 {
            return Err(no_principal(id));
        }
        Ok(())
    }

    fn principal_failed(&self, id: i64) -> Result<u32> {
        let rev = self.stamp()?;
        let n: Option<i64> = self
            .conn
            .prepare_cached("UPDATE principals SET failures = failures + 1, rev = ?2 WHERE id = ?1 RETURNING failures")?
            .query_row([id, rev], |r| r.get(0))
            .optional()?;
        n.map(count).ok_or_else(|| no_principal(id))
    }

    fn principal_ok(&self, id: i64, totp_step: u64) -> Result<()> {
        let rev = self.stamp()?;
        let n = self
            .conn
            .prepare_cached(
                "UPDATE principals SET failures = 0, totp_last_step = MAX(totp_last_step, ?2), rev = ?3 WHERE id = ?1",
            )?
            .execute([id, step(totp_step), rev])?;
        if n == 0 {
            return Err(no_principal(id));
        }
        Ok(())
    }

    fn grants(&self) -> Result<Vec<GrantRow>> {
        let sql = format!("SELECT {GRANT_COLUMNS} FROM grants ORDER BY key_id, principal");
        let rows = self.conn.prepare_cached(&sql)?.query_map([], grant_row)?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn grants_of(&self, principal: i64) -> Result<Vec<GrantRow>> {
        grants_of(self.conn, principal)
    }

    fn grants_on(&self, key_id: &[u8]) -> Result<Vec<GrantRow>> {
        let sql = format!("SELECT {GRANT_COLUMNS} FROM grants WHERE key_id = ?1 ORDER BY principal");
        let rows = self.conn.prepare_cached(&sql)?.query_map([key_id], grant_row)?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn put_grant(&self, g: &GrantRow) -> Result<()> {
        let rev = self.stamp_auth()?;
        let known: Option<i64> = self
            .conn
            .prepare_cached("SELECT id FROM principals WHERE id = ?1")?
            .query_row([g.principal], |r| r.get(0))
            .optional()?;
        if known.is_none() {
            return Err(no_principal(g.principal));
        }
        self.conn
            .prepare_cached(
                "INSERT INTO grants (key_id, principal, ops, wrap, granter, sig, rev) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (key_id, principal) DO UPDATE SET ops = excluded.ops, wrap = excluded.wrap, \
                 granter = excluded.granter, sig = excluded.sig, rev = excluded.rev",
            )?
            .execute(params![g.key_id, g.principal, i64::from(g.ops), g.wrap, g.granter, g.sig, rev])?;
        Ok(())
    }

    fn delete_grant(&self, key_id: &[u8], principal: i64) -> Result<bool> {
        self.stamp_auth()?;
        let n = self
            .conn
            .prepare_cached("DELETE FROM grants WHERE key_id = ?1 AND principal = ?2")?
            .execute(params![key_id, principal])?;
        Ok(n == 1)
    }

    fn import_principal(&self, p: &PrincipalRow) -> Result<()> {
        self.write_principal(p, Some(p.id), true)?;
        // AUTOINCREMENT already keeps new ids above the highest ever used.
        Ok(())
    }
}
