//! The PostgreSQL schema of one token (all its tables live in the slot's
//! own schema, so several tokens share a database) and its migrations.

use super::{Conn, pg_err};
use crate::error::{Error, Result};

/// Schema migrations: entry `i` takes `schema_version.version` from `i` to
/// `i + 1`. Append new versions; never edit a released one. Version 1 is
/// the SQLite schema 2 (objects with a MAC column) in PostgreSQL types.
const MIGRATIONS: &[&str] = &[SCHEMA_V1];

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

/// The schema's version: 0 when it has no tables yet.
pub(super) fn version(c: &mut Conn) -> Result<i64> {
    let row = c.client.query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[]).map_err(pg_err)?;
    if !row.get::<_, bool>(0) {
        return Ok(0);
    }
    let row = c.client.query_one("SELECT version FROM schema_version WHERE id = 1", &[]).map_err(pg_err)?;
    Ok(i64::from(row.get::<_, i32>(0)))
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
    let mut tx = c.client.transaction().map_err(pg_err)?;
    tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&format!("keyward.schema.{schema}")]).map_err(pg_err)?;
    // `schema` is checked by `conn::valid_schema` (a plain identifier).
    tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}; SET LOCAL search_path TO {schema}"))
        .map_err(pg_err)?;
    let exists: bool = tx.query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[]).map_err(pg_err)?.get(0);
    let v = if exists {
        i64::from(
            tx.query_one("SELECT version FROM schema_version WHERE id = 1", &[]).map_err(pg_err)?.get::<_, i32>(0),
        )
    } else {
        0
    };
    if v > latest {
        return Err(too_new(v));
    }
    let from = usize::try_from(v).map_err(|_| super::super::corrupt("negative schema version"))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from) {
        tx.batch_execute(sql).map_err(pg_err)?;
        let next = i32::try_from(i + 1).unwrap_or(i32::MAX);
        tx.execute("UPDATE schema_version SET version = $1 WHERE id = 1", &[&next]).map_err(pg_err)?;
    }
    tx.commit().map_err(pg_err)?;
    Ok(())
}
