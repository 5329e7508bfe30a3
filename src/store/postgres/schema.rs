//! The PostgreSQL schema of one token (all its tables live in the slot's
//! own schema, so several tokens share a database) and its migrations.

use super::client::PgClient;
use super::{Conn, pg_err};
use crate::error::{Error, Result};

/// Schema migrations: entry `i` takes `schema_version.version` from `i` to
/// `i + 1`. Append new versions; never edit a released one. Version 1 is
/// the SQLite schema 2 (objects with a MAC column) in PostgreSQL types.
const MIGRATIONS: &[&str] = &[SCHEMA_V1, SCHEMA_V2, SCHEMA_V3];

const SCHEMA_V1: &str = "
CREATE TABLE schema_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO schema_version (id, version) VALUES (1, 0);
CREATE TABLE token (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    label TEXT NOT NULL,
    serial TEXT NOT NULL,
    so_salt BYTEA,
    so_iter BIGINT,
    so_blob BYTEA,
    user_salt BYTEA,
    user_iter BIGINT,
    user_blob BYTEA,
    so_failures BIGINT NOT NULL DEFAULT 0,
    user_failures BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE objects (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uid TEXT UNIQUE NOT NULL,
    rev BIGINT NOT NULL,
    public BYTEA NOT NULL,
    sealed BYTEA NOT NULL,
    mac BYTEA
);
CREATE INDEX objects_rev ON objects (rev);
CREATE TABLE tombstones (
    id BIGINT PRIMARY KEY,
    rev BIGINT NOT NULL
);
CREATE INDEX tombstones_rev ON tombstones (rev);
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
CREATE TABLE counters (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    rev BIGINT NOT NULL
);
INSERT INTO counters (id, rev) VALUES (1, 0);
";

/// Version 2: the lookup columns of `store::index` (the SQLite schema 3),
/// filled for existing rows by [`fill_index`].
const SCHEMA_V2: &str = "
ALTER TABLE objects ADD COLUMN label BYTEA;
ALTER TABLE objects ADD COLUMN key_id BYTEA;
ALTER TABLE objects ADD COLUMN copy_of BIGINT;
ALTER TABLE objects ADD COLUMN class BIGINT;
ALTER TABLE objects ADD COLUMN due BIGINT;
CREATE INDEX objects_label ON objects (label);
CREATE INDEX objects_key_id ON objects (key_id);
CREATE INDEX objects_copy_of ON objects (copy_of) WHERE copy_of IS NOT NULL;
CREATE INDEX objects_due ON objects (due) WHERE due IS NOT NULL;
";

/// Version 3: every commit that moves the token's revision notifies the
/// channel [`channel`] of its schema (`pg_notify` is delivered at commit,
/// once per transaction), whatever client wrote it. Listening connections
/// learn of other sessions' commits without asking (see `changes_since`).
const SCHEMA_V3: &str = "
CREATE OR REPLACE FUNCTION keyward_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('keyward.' || TG_TABLE_SCHEMA, '');
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS counters_notify ON counters;
CREATE TRIGGER counters_notify AFTER UPDATE ON counters FOR EACH STATEMENT EXECUTE FUNCTION keyward_notify();
";

/// The notification channel of the token in `schema` (version 3).
pub(super) fn channel(schema: &str) -> String {
    format!("keyward.{schema}")
}

/// Fills the lookup columns of every existing row (the upgrade to
/// version 2). Not stamped: the rows' content does not change.
fn fill_index(t: &mut PgClient) -> Result<()> {
    let rows = t.query_sql("SELECT id, public FROM objects", &[])?;
    for r in rows {
        let id: i64 = r.try_get(0).map_err(pg_err)?;
        let public: Vec<u8> = r.try_get(1).map_err(pg_err)?;
        let k = crate::store::index::IndexKeys::of_public(&public);
        t.query_sql(
            "UPDATE objects SET label = $2, key_id = $3, copy_of = $4, class = $5, due = $6 WHERE id = $1",
            &[&id, &k.label, &k.key_id, &k.copy_of, &k.class, &k.due],
        )?;
    }
    Ok(())
}

/// The schema's version (the search path names the token's schema): 0
/// when it has no tables yet.
pub(super) fn version(c: &mut Conn) -> Result<i64> {
    version_of(&mut c.client)
}

fn version_of(c: &mut PgClient) -> Result<i64> {
    let rows = c.query_sql("SELECT to_regclass('schema_version') IS NOT NULL", &[])?;
    if !rows.first().map(|r| r.get::<_, bool>(0)).unwrap_or(false) {
        return Ok(0);
    }
    let rows = c.query_sql("SELECT version FROM schema_version WHERE id = 1", &[])?;
    let row = rows.first().ok_or_else(|| super::super::corrupt("schema version row missing"))?;
    Ok(i64::from(row.try_get::<_, i32>(0).map_err(pg_err)?))
}

/// Creates the schema if needed and brings it to the newest version, in
/// one transaction serialized with every other opener of the same schema
/// by a transaction-level advisory lock taken first.
pub(super) fn migrate(c: &mut Conn, schema: &str) -> Result<()> {
    let latest = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    let too_new = |v: i64| {
        Error::device(format!("token store schema version {v} is newer than this keyward supports ({latest})"))
    };
    let v = version(c)?;
    if v == latest {
        return Ok(());
    }
    if v > latest {
        return Err(too_new(v));
    }
    let t = &mut c.client;
    t.batch("BEGIN")?;
    let r = (|| -> Result<()> {
        t.query_sql("SELECT pg_advisory_xact_lock(hashtext($1))", &[&format!("keyward.schema.{schema}")])?;
        // `schema` is checked by `conn::valid_schema` (a plain identifier).
        t.batch(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))?;
        let v = version_of(t)?;
        if v > latest {
            return Err(too_new(v));
        }
        let from = usize::try_from(v).map_err(|_| super::super::corrupt("negative schema version"))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(from) {
            t.batch(sql)?;
            if i + 1 == 2 {
                fill_index(t)?;
            }
            let next = i32::try_from(i + 1).unwrap_or(i32::MAX);
            t.query_sql("UPDATE schema_version SET version = $1 WHERE id = 1", &[&next])?;
        }
        Ok(())
    })();
    match r {
        Ok(()) => t.batch("COMMIT"),
        Err(e) => {
            let _ = t.batch("ROLLBACK");
            Err(e)
        }
    }
}
