//! The token's side of the audit log: what a record says about the
//! token's own values. Builds records from the token's objects, sessions
//! and store and hands them to `audit` through its types (`Call`, `Done`,
//! `record::KeyArg`, `record::Named`, `Meta`, `KeySealer` ...); `audit`
//! never reaches back into the token.
//!
//! Owns: naming objects in records (`Named for Object`, and `Naming for
//! Token`: keys and roles, asked by `Audit::around` only for a call it
//! records), the store behind the audit key and anchor (`Meta for Store`,
//! `KeySealer for ExternalKek`), opening a token's audit handle, the
//! `Call` builders from token values, the KMS lifecycle hooks, and the
//! per-key summaries `keyward metrics` counts. Must not touch: the log
//! format, the chain, the queue or the writer (all in `audit/`).

use super::Token;
use crate::audit::config::Tables;
use crate::audit::metrics::{self, KeySummary};
use crate::audit::record::{self, KeyArg, KeyRef, Named, RoleName};
use crate::audit::{Audit, Broken, Call, CommitGuard, KeySealer, Lifecycle, Meta, Naming, Outcome, Verified};
use crate::ck::*;
use crate::config::Config;
use crate::error::Result;
use crate::kms::attrs::{CKA_KEYWARD_COPY_OF, CKA_KEYWARD_NEXT_ROTATION, CKA_KEYWARD_STATE, CKA_KEYWARD_VERSION};
use crate::object::Object;
use crate::store::kek::ExternalKek;
use crate::store::{Role, Store};
use crate::types::{Attr, Handle, Mechanism};
use std::path::PathBuf;
use std::sync::Arc;
use zeroize::Zeroizing;

impl Named for Object {
    fn key_ref(&self) -> KeyRef {
        let label = self.get(CKA_LABEL).filter(|l| !l.is_empty()).map(|l| String::from_utf8_lossy(l).into_owned());
        KeyRef {
            uid: Some(self.uid.clone()),
            label,
            version: self.ulong(CKA_KEYWARD_VERSION),
            class: Some(record::class_name(self.class).to_string()),
            handle: Some(self.handle),
        }
    }
    fn uid(&self) -> &str {
        &self.uid
    }
    fn handle(&self) -> CK_ULONG {
        self.handle
    }
    fn is_token(&self) -> bool {
        self.token
    }
}

/// The audit key and anchor live in the token's meta table. A store shared
/// by hosts (PostgreSQL) holds one log per host: each log's anchor and
/// start are kept under keys of their own (`audit.anchor@HOST:DIR`), the
/// audit key is shared.
pub struct AuditMeta<S> {
    store: S,
    log_id: Option<String>,
}

/// The id of the audit log in `dir` on this host (`HOST:DIR`).
fn log_id(dir: &std::path::Path) -> String {
    let canon = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    format!("{}:{}", host_name(), canon.display())
}

/// The meta key under which a store shared by hosts keeps `key` of the
/// audit log in `dir` on this host (`keyward store migrate` moves a
/// SQLite token's anchor there).
pub fn shared_audit_meta_key(key: &str, dir: &std::path::Path) -> String {
    AuditMeta { store: (), log_id: Some(log_id(dir)) }.key(key)
}

impl<S: std::borrow::Borrow<Store>> AuditMeta<S> {
    /// The audit meta of the log in `dir` over `store`.
    pub fn new(store: S, dir: &std::path::Path) -> Self {
        let log_id = store.borrow().shared_by_hosts().then(|| log_id(dir));
        AuditMeta { store, log_id }
    }
}

impl<S> AuditMeta<S> {
    fn key(&self, key: &str) -> String {
        match &self.log_id {
            Some(id) if key == crate::audit::writer::META_ANCHOR || key == crate::audit::writer::META_START => {
                format!("{key}@{id}")
            }
            _ => key.to_string(),
        }
    }
}

/// This host's name (for the per-host audit anchor of a shared store).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

impl<S: std::borrow::Borrow<Store> + Send> Meta for AuditMeta<S> {
    fn get(&self, key: &str) -> Result<Option<String>> {
        Ok(self.store.borrow().meta_get(&self.key(key))?.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }
    fn set(&self, key: &str, value: &str) -> Result<()> {
        self.store.borrow().meta_set(&self.key(key), value.as_bytes())
    }
    fn token_label(&self) -> Option<String> {
        self.store.borrow().token().ok().flatten().map(|r| r.label)
    }
    fn token_serial(&self) -> Option<String> {
        self.store.borrow().token().ok().flatten().map(|r| r.serial)
    }
    fn token_uses_kek(&self) -> bool {
        self.store.borrow().token().ok().flatten().is_some_and(|t| {
            [t.so, t.user].iter().flatten().any(|w| crate::store::seal::required_kek(&w.blob).is_some())
        })
    }
}

impl KeySealer for ExternalKek {
    fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        ExternalKek::seal(self, context, plaintext)
    }
    fn open(&self, context: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        ExternalKek::open(self, context, sealed)
    }
    fn id_hex(&self) -> String {
        ExternalKek::id_hex(self)
    }
}

/// The `[audit]`, `[events]` and `[metrics]` tables of `config`.
fn tables(config: &Config) -> Tables<'_> {
    Tables { audit: &config.audit, events: &config.events, metrics: &config.metrics }
}

impl Audit {
    /// The audit handle of the token stored in `dir` (its own store
    /// connection for the audit key and anchor; nothing is written yet),
    /// its key sealed under `kek` when one is configured (a clear key is
    /// sealed now, see `audit::writer`).
    pub fn open(
        slot: Handle,
        dir: &std::path::Path,
        pg: Option<&crate::store::PgOptions>,
        config: &Config,
        kek: Option<Arc<ExternalKek>>,
    ) -> Result<Audit> {
        let store = match pg {
            None => Store::open(dir)?,
            Some(o) => Store::open_postgres(o.clone())?,
        };
        let meta = AuditMeta::new(store, dir);
        let meta: Box<dyn Meta> = Box::new(meta);
        let a = Audit::new(slot, dir, tables(config), meta, kek.map(|k| k as Arc<dyn KeySealer>));
        a.prepare_key();
        Ok(a)
    }
}

/// The `Call` builders from the token's values (the plain ones are in
/// `audit`).
impl Call {
    /// A cryptographic use of `key` with `mech` (C_*Init, wrap, unwrap, derive).
    pub fn crypto(function: &'static str, session: Handle, mech: &Mechanism, key: Handle) -> Call {
        Call::key_use(function, session, mech.ty, key)
    }
    pub fn mech(self, m: &Mechanism) -> Call {
        self.mechanism(m.ty)
    }
    /// The attribute types `t` names (never values).
    pub fn attrs(self, t: &[Attr]) -> Call {
        self.attr_types(t.iter().map(|a| a.ty).collect())
    }
}

fn role_of(t: &Token) -> RoleName {
    match t.role() {
        Ok(Some(Role::User)) => RoleName::User,
        Ok(Some(Role::So)) => RoleName::So,
        _ => RoleName::Public,
    }
}

/// How the token names what a record is about (asked by `Audit::around`
/// only for a call it records).
impl Naming for Token {
    /// An `Arc` clone of the cached object `h`, else only the handle.
    fn key_arg(&self, h: Handle) -> KeyArg {
        match self.cached_object(h) {
            Ok(o) => KeyArg::Object(o),
            Err(_) => KeyArg::Handle(h),
        }
    }
    fn role(&self) -> RoleName {
        role_of(self)
    }

    fn principal(&self) -> Option<std::sync::Arc<str>> {
        self.login.read().ok().and_then(|l| l.principal.as_ref().map(|p| p.name_arc()))
    }
}

impl Token {
    /// The token's audit handle.
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// The directory holding the token's audit log.
    pub fn audit_dir(&self) -> PathBuf {
        self.audit.dir().to_path_buf()
    }

    /// Records an automatic lifecycle change (purge, rotation) from inside
    /// the store transaction that makes it, before the commit (see
    /// [`Audit::submit_before_commit`]).
    pub fn audit_before_commit(
        &self,
        guard: &mut CommitGuard<'_>,
        action: Lifecycle,
        function: &'static str,
        key: KeyRef,
        details: serde_json::Value,
    ) -> Result<()> {
        self.audit.record_before_commit(guard, action, function, || role_of(self), key, details)
    }

    /// Records a key lifecycle change made by `f` (for the KMS calls):
    /// written and fsync'ed before this returns; disable and scheduled
    /// deletion raise alert events.
    pub fn audit_lifecycle<T: Outcome>(
        &self,
        action: Lifecycle,
        function: &'static str,
        session: Option<Handle>,
        key: Option<Handle>,
        details: Option<serde_json::Value>,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let mut call = Call::lifecycle(action, function, session);
        if let Some(k) = key {
            call = call.key(k);
        }
        if let Some(d) = details {
            call = call.details(d);
        }
        self.audit.around(&mut (), |_| call, self, |_| f())
    }

    /// `keyward audit verify [--witness FILE]`: the log against its store
    /// (key opened with the configured KEK) and the anchors in `witness`
    /// (the text of a witness file; only this token's anchors count, and a
    /// witness without any is an error).
    pub fn verify_audit(&self, witness: Option<&str>) -> Result<std::result::Result<Verified, Broken>> {
        let dir = self.audit_dir();
        let anchors = match witness {
            Some(text) => {
                let serial = self.store().token()?.map(|t| t.serial).unwrap_or_default();
                let a = crate::audit::events::parse_witness(text, &serial);
                if a.is_empty() {
                    return Ok(Err(Broken {
                        file: dir,
                        line: 0,
                        seq: None,
                        reason: format!("the witness holds no anchor of this token (serial {serial:?})"),
                    }));
                }
                a
            }
            None => Vec::new(),
        };
        let kek = self.external_kek().ok().flatten().cloned();
        crate::audit::verify_dir(
            &dir,
            &AuditMeta::new(self.store(), &dir),
            kek.as_deref().map(|k| k as &dyn KeySealer),
            &anchors,
        )
    }
}

/// The lifecycle state named by a `CKA_KEYWARD_STATE` value (absent:
/// enabled).
fn state_name(v: Option<&[u8]>) -> String {
    match v {
        None => "enabled".into(),
        Some(b) if b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') && !b.is_empty() => {
            String::from_utf8_lossy(b).to_lowercase()
        }
        Some(b) => match crate::object::ulong(b) {
            Some(0) | Some(1) => "enabled".into(),
            Some(2) => "disabled".into(),
            Some(3) => "pending_deletion".into(),
            _ => "unknown".into(),
        },
    }
}

/// Reads a time-like attribute: CK_DATE `YYYYMMDD`, `YYYYMMDDhhmmss`, or
/// seconds since the epoch as a CK_ULONG.
fn time_attr_ms(v: &[u8]) -> Option<u64> {
    if v.len() >= 8 && v.iter().all(u8::is_ascii_digit) {
        let s = std::str::from_utf8(v).ok()?;
        let iso = if s.len() >= 14 {
            format!("{}-{}-{}T{}:{}:{}Z", &s[0..4], &s[4..6], &s[6..8], &s[8..10], &s[10..12], &s[12..14])
        } else {
            format!("{}-{}-{}", &s[0..4], &s[4..6], &s[6..8])
        };
        return record::parse_time_ms(&iso);
    }
    crate::object::ulong(v).map(|s| s * 1000)
}

/// How `keyward metrics` counts the key object `o` (`None`: not a key).
fn key_summary(o: &Object) -> Option<KeySummary> {
    o.is_key().then(|| KeySummary {
        class: record::class_name(o.class),
        algorithm: metrics::key_type_name(o.key_type),
        state: state_name(o.get(CKA_KEYWARD_STATE)),
        next_rotation_ms: o.get(CKA_KEYWARD_NEXT_ROTATION).and_then(time_attr_ms),
        is_copy: o.ulong(CKA_KEYWARD_COPY_OF).is_some_and(|h| h != 0),
    })
}

impl Token {
    /// The token's key objects as `audit::metrics::token_view` counts them.
    pub fn key_summaries(&self) -> Result<Vec<KeySummary>> {
        Ok(self.all_objects()?.iter().filter_map(|o| key_summary(o)).collect())
    }
}
