//! The principal and grant statements of the PostgreSQL store
//! (`store::principals`: [`AuthTx`] for the write transaction, the reads
//! of [`AuthRead`] for the connection).

use super::super::principals::{
    AuthTx, GrantRow, PRINCIPAL_DEFAULT, PRINCIPAL_SO, PinSalt, PrincipalRow, no_principal,
};
use super::client::{OnNull, PgClient};
use super::pg_err;
use super::tx::{PgTx, Stmts, count, query, query_opt, to_rev};
use crate::error::Result;
use tokio_postgres::Row;

fn principal_row(r: &Row) -> Result<PrincipalRow> {
    let salt: Option<Vec<u8>> = r.try_get(5).map_err(pg_err)?;
    let iter: Option<i64> = r.try_get(6).map_err(pg_err)?;
    Ok(PrincipalRow {
        id: r.try_get(0).map_err(pg_err)?,
        name: r.try_get(1).map_err(pg_err)?,
        roles: count(r.try_get(2).map_err(pg_err)?),
        record: r.try_get(3).map_err(pg_err)?,
        record_sig: r.try_get(4).map_err(pg_err)?,
        pin: salt.map(|salt| PinSalt { salt, iterations: count(iter.unwrap_or(0)) }),
        secret: r.try_get(7).map_err(pg_err)?,
        locked: r.try_get(8).map_err(pg_err)?,
        failures: count(r.try_get(9).map_err(pg_err)?),
        totp_last_step: u64::try_from(r.try_get::<_, i64>(10).map_err(pg_err)?.max(0)).unwrap_or(0),
    })
}

fn grant_row(r: &Row) -> Result<GrantRow> {
    Ok(GrantRow {
        key_id: r.try_get(0).map_err(pg_err)?,
        principal: r.try_get(1).map_err(pg_err)?,
        ops: count(r.try_get(2).map_err(pg_err)?),
        wrap: r.try_get(3).map_err(pg_err)?,
        granter: r.try_get(4).map_err(pg_err)?,
        sig: r.try_get(5).map_err(pg_err)?,
    })
}

fn step(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(super) fn principal(c: &mut PgClient, stmts: &mut Stmts, name: &str) -> Result<Option<PrincipalRow>> {
    const SQL: &str = "SELECT id, name, roles, record, record_sig, pin_salt, pin_iter, secret, locked, \
         failures, totp_last_step FROM principals WHERE name = $1";
    query_opt(c, stmts, SQL, &[&name])?.as_ref().map(principal_row).transpose()
}

pub(super) fn grants_of(c: &mut PgClient, stmts: &mut Stmts, principal: i64) -> Result<Vec<GrantRow>> {
    const SQL: &str =
        "SELECT key_id, principal, ops, wrap, granter, sig FROM grants WHERE principal = $1 ORDER BY key_id";
    query(c, stmts, SQL, &[&principal])?.iter().map(grant_row).collect()
}

pub(super) fn auth_revision(c: &mut PgClient, stmts: &mut Stmts) -> Result<u64> {
    let row = query_opt(c, stmts, "SELECT auth_rev FROM counters WHERE id = 1", &[])?
        .ok_or_else(|| super::corrupt("revision counter missing"))?;
    to_rev(row.try_get(0).map_err(pg_err)?)
}

impl PgTx<'_> {
    /// Stamps the transaction and moves the authorization revision to it
    /// (held back with the bump: it goes out with the next statement).
    fn stamp_auth(&self) -> Result<i64> {
        let rev = self.stamp()?;
        self.defer("UPDATE counters SET auth_rev = $1 WHERE id = 1", vec![Box::new(rev)], OnNull::Fault);
        Ok(rev)
    }

    fn write_principal(&self, p: &PrincipalRow, id: Option<i64>, counters: bool) -> Result<i64> {
        let rev = self.stamp_auth()?;
        let (salt, iter) = PinSalt::columns(&p.pin);
        let (failures, totp) = if counters { (i64::from(p.failures), step(p.totp_last_step)) } else { (0, 0) };
        let roles = i64::from(p.roles);
        let row = match id {
            Some(id) => self.query_opt(
                "INSERT INTO principals (id, name, roles, record, record_sig, pin_salt, pin_iter, secret, locked, \
                 failures, totp_last_step, rev) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
                &[&id, &p.name, &roles, &p.record, &p.record_sig, &salt, &iter, &p.secret, &p.locked, &failures, &totp, &rev],
            )?,
            None => self.query_opt(
                "INSERT INTO principals (name, roles, record, record_sig, pin_salt, pin_iter, secret, locked, \
                 failures, totp_last_step, rev) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                &[&p.name, &roles, &p.record, &p.record_sig, &salt, &iter, &p.secret, &p.locked, &failures, &totp, &rev],
            )?,
        };
        let row = row.ok_or_else(|| super::corrupt("principal insert returned no id"))?;
        row.try_get(0).map_err(pg_err)
    }
}

impl AuthTx for PgTx<'_> {
    fn principals(&self) -> Result<Vec<PrincipalRow>> {
        const SQL: &str = "SELECT id, name, roles, record, record_sig, pin_salt, pin_iter, secret, locked, \
             failures, totp_last_step FROM principals ORDER BY id";
        self.query(SQL, &[])?.iter().map(principal_row).collect()
    }

    fn principal(&self, name: &str) -> Result<Option<PrincipalRow>> {
        const SQL: &str = "SELECT id, name, roles, record, record_sig, pin_salt, pin_iter, secret, locked, \
             failures, totp_last_step FROM principals WHERE name = $1";
        self.query_opt(SQL, &[&name])?.as_ref().map(principal_row).transpose()
    }

    fn insert_principal(&self, p: &PrincipalRow) -> Result<i64> {
        let reserved = [PRINCIPAL_SO, PRINCIPAL_DEFAULT].contains(&p.id);
        self.write_principal(p, reserved.then_some(p.id), false)
    }

    fn update_principal(&self, p: &PrincipalRow) -> Result<()> {
        let rev = self.stamp_auth()?;
        let (salt, iter) = PinSalt::columns(&p.pin);
        let n = self.execute(
            "UPDATE principals SET name = $2, roles = $3, record = $4, record_sig = $5, pin_salt = $6, \
             pin_iter = $7, secret = $8, locked = $9, rev = $10 WHERE id = $1",
            &[&p.id, &p.name, &i64::from(p.roles), &p.record, &p.record_sig, &salt, &iter, &p.secret, &p.locked, &rev],
        )?;
        if n == 0 {
            return Err(no_principal(p.id));
        }
        Ok(())
    }

    fn delete_principal(&self, id: i64) -> Result<()> {
        self.stamp_auth()?;
        self.execute("DELETE FROM grants WHERE principal = $1", &[&id])?;
        if self.execute("DELETE FROM principals WHERE id = $1", &[&id])? == 0 {
            return Err(no_principal(id));
        }
        Ok(())
    }

    fn principal_failed(&self, id: i64) -> Result<u32> {
        let rev = self.stamp()?;
        let row = self
            .query_opt(
                "UPDATE principals SET failures = failures + 1, rev = $2 WHERE id = $1 RETURNING failures",
                &[&id, &rev],
            )?
            .ok_or_else(|| no_principal(id))?;
        Ok(count(row.try_get(0).map_err(pg_err)?))
    }

    fn principal_ok(&self, id: i64, totp_step: u64) -> Result<()> {
        let rev = self.stamp()?;
        let n = self.execute(
            "UPDATE principals SET failures = 0, totp_last_step = GREATEST(totp_last_step, $2), rev = $3 WHERE id = $1",
            &[&id, &step(totp_step), &rev],
        )?;
        if n == 0 {
            return Err(no_principal(id));
        }
        Ok(())
    }

    fn grants(&self) -> Result<Vec<GrantRow>> {
        self.query("SELECT key_id, principal, ops, wrap, granter, sig FROM grants ORDER BY key_id, principal", &[])?
            .iter()
            .map(grant_row)
            .collect()
    }

    fn grants_of(&self, principal: i64) -> Result<Vec<GrantRow>> {
        self.query(
            "SELECT key_id, principal, ops, wrap, granter, sig FROM grants WHERE principal = $1 ORDER BY key_id",
            &[&principal],
        )?
        .iter()
        .map(grant_row)
        .collect()
    }

    fn grants_on(&self, key_id: &[u8]) -> Result<Vec<GrantRow>> {
        self.query(
            "SELECT key_id, principal, ops, wrap, granter, sig FROM grants WHERE key_id = $1 ORDER BY principal",
            &[&key_id],
        )?
        .iter()
        .map(grant_row)
        .collect()
    }

    fn put_grant(&self, g: &GrantRow) -> Result<()> {
        let rev = self.stamp_auth()?;
        if self.query_opt("SELECT id FROM principals WHERE id = $1", &[&g.principal])?.is_none() {
            return Err(no_principal(g.principal));
        }
        self.execute(
            "INSERT INTO grants (key_id, principal, ops, wrap, granter, sig, rev) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (key_id, principal) DO UPDATE SET ops = excluded.ops, wrap = excluded.wrap, \
             granter = excluded.granter, sig = excluded.sig, rev = excluded.rev",
            &[&g.key_id, &g.principal, &i64::from(g.ops), &g.wrap, &g.granter, &g.sig, &rev],
        )?;
        Ok(())
    }

    fn delete_grant(&self, key_id: &[u8], principal: i64) -> Result<bool> {
        self.stamp_auth()?;
        let n = self.execute("DELETE FROM grants WHERE key_id = $1 AND principal = $2", &[&key_id, &principal])?;
        Ok(n == 1)
    }

    fn import_principal(&self, p: &PrincipalRow) -> Result<()> {
        self.write_principal(p, Some(p.id), true)?;
        if p.id <= PRINCIPAL_DEFAULT {
            return Ok(());
        }
        // Explicit ids do not move the identity: keep new ids above this one.
        self.query(
            "SELECT setval(pg_get_serial_sequence('principals', 'id'), GREATEST($1, \
             (SELECT last_value FROM pg_sequences WHERE schemaname = current_schema() \
             AND sequencename = 'principals_id_seq')))",
            &[&p.id],
        )?;
        Ok(())
    }
}
