//! Key lifecycle (DESIGN.md §4): versions, rotation, enable/disable, soft
//! delete and purge, expiry, tags, automatic maintenance, inventory.
//!
//! A managed key is every token key object sharing a token-assigned
//! identity, `CKA_KEYWARD_KEY_ID` (its [`KeyName`]): set when the key is
//! made, shared only by the versions rotation makes and by the two halves of
//! a pair. `CKA_LABEL`/`CKA_ID` are user data: keys sharing them stay
//! independent. Each object carries the vendor attributes of `attrs.rs`. A
//! version of a key pair is a private and a public object with the same
//! version number. Copies (C_CopyObject of a token key) keep the identity
//! and name their source version (`CKA_KEYWARD_COPY_OF`): they are not
//! versions, obey their source's state, and die with its purge.
//!
//! Owns: the lifecycle attributes' meaning, the decisions that must not race
//! between processes (rotation, purge: each decided inside one
//! `Store::transaction`, which is `BEGIN IMMEDIATE`, re-reading the rows it
//! acts on), and the lifecycle checks of every key use ([`check_use`]).
//! Must not touch: sessions' operations, sealing (it asks the token), the
//! audit log's format (it calls `Token::audit_lifecycle`).
//!
//! Automatic maintenance (due rotations, due purges) runs inline on the
//! caller's thread — never on a thread of its own, so it also honours
//! `CKF_LIBRARY_CANT_CREATE_OS_THREADS` — right after a user login and at
//! most once a minute on later object lookups while a user is logged in;
//! `keyward maintain` runs it from cron or a systemd timer.
#![allow(clippy::unnecessary_cast)] // CK_ULONG is not u64 on every platform

pub mod attrs;
pub mod clock;
pub mod envelope;
pub mod rules;

use crate::audit::Lifecycle;
use crate::ck::*;
use crate::err;
use crate::error::{Error, Result};
use crate::object::template::{self, NewObject};
use crate::object::{Object, ulong, ulong_bytes};
use crate::store::{Changes, ObjectRow, Tx, codec};
use crate::token::Token;
use crate::token::ops::Purpose;
use crate::token::session::Session;
use crate::types::{Attr, Handle, Mechanism};
use attrs::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

// ---- configuration -----------------------------------------------------------

/// `[kms]` in keyward.toml.
///
/// ```toml
/// [kms]
/// deletion_grace = "7d"        # C_DestroyObject / `key delete` restorable this long; "0" = immediate
/// decrypt_after_expiry = true  # past CKA_END_DATE, decrypt/verify/unwrap still work
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KmsConfig {
    pub deletion_grace: String,
    pub decrypt_after_expiry: bool,
}

impl Default for KmsConfig {
    fn default() -> Self {
        KmsConfig { deletion_grace: "7d".into(), decrypt_after_expiry: true }
    }
}

impl KmsConfig {
    /// The grace period in seconds (validated when the config loads).
    pub fn grace_secs(&self) -> Result<u64> {
        clock::parse_duration(&self.deletion_grace)
            .map_err(|e| err!(CKR_GENERAL_ERROR, "kms.deletion_grace: {}", e.reason()))
    }
}

/// What automatic maintenance did.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    /// `label vN` of each new version.
    pub rotated: Vec<String>,
    /// `label vN` of each purged version.
    pub purged: Vec<String>,
}

/// The lifecycle state a token keeps in memory.
pub struct TokenKms {
    pub config: KmsConfig,
    grace: u64,
    started: Instant,
    next_tick_ms: AtomicU64,
    /// Whether a user login already ran the maintenance in this process.
    /// After a sweep: the object-cache generation it saw and the earliest
    /// time something comes due (logins skip the sweep until then).
    due_hint: Mutex<Option<(u64, i64)>>,
    running: AtomicBool,
    /// What automatic runs did since `keyward maintain` last asked.
    done: Mutex<Report>,
}

const TICK_MS: u64 = 60_000;

impl TokenKms {
    pub fn new(config: &KmsConfig) -> TokenKms {
        TokenKms {
            config: config.clone(),
            grace: config.grace_secs().unwrap_or(7 * 86_400),
            started: Instant::now(),
            next_tick_ms: AtomicU64::new(0),
            due_hint: Mutex::new(None),
            running: AtomicBool::new(false),
            done: Mutex::new(Report::default()),
        }
    }
    pub fn grace(&self) -> u64 {
        self.grace
    }
    fn elapsed_ms(&self) -> u64 {
        crate::clock::now().saturating_duration_since(self.started).as_millis() as u64
    }
}

// ---- the use check -------------------------------------------------------------

/// The lifecycle rules of one key use: a disabled or pending version refuses
/// everything; a non-primary version only decrypts, verifies and unwraps;
/// outside CKA_START_DATE..CKA_END_DATE nothing new is protected, and past
/// the end date decrypt/verify/unwrap follow `kms.decrypt_after_expiry`.
pub fn check_use(obj: &Object, purpose: Purpose, cfg: &KmsConfig) -> Result<()> {
    if !obj.is_key() || obj.unrestricted() {
        return Ok(());
    }
    let refuse = |m: String| Err(Error::new(CKR_KEY_FUNCTION_NOT_PERMITTED, m));
    match state_of(obj) {
        KEYWARD_STATE_ENABLED => {}
        KEYWARD_STATE_DISABLED => return refuse(format!("key version {} is disabled", version_of(obj))),
        KEYWARD_STATE_PENDING_DELETION => {
            return refuse(format!("key version {} is scheduled for deletion", version_of(obj)));
        }
        s => return refuse(format!("key version {} is in unknown state {s}", version_of(obj))),
    }
    let creates = purpose.creates_data();
    if creates && !is_primary(obj) {
        return refuse(format!(
            "key version {} is not the primary version: it may only decrypt, verify or unwrap",
            version_of(obj)
        ));
    }
    check_dates(obj, purpose, cfg)
}

/// The CKA_START_DATE/CKA_END_DATE part of [`check_use`].
pub fn check_dates(obj: &Object, purpose: Purpose, cfg: &KmsConfig) -> Result<()> {
    let refuse = |m: String| Err(Error::new(CKR_KEY_FUNCTION_NOT_PERMITTED, m));
    let creates = purpose.creates_data();
    let start = obj.get(CKA_START_DATE).filter(|d| d.len() == 8);
    let end = obj.get(CKA_END_DATE).filter(|d| d.len() == 8);
    if start.is_none() && end.is_none() {
        // No validity window: no clock read on the hot path.
        return Ok(());
    }
    let today = clock::today();
    if let Some(start) = start
        && creates
        && today.as_slice() < start
    {
        return refuse(format!("key not valid before {} (CKA_START_DATE)", clock::format_date(start)));
    }
    if let Some(end) = end
        && today.as_slice() > end
        && (creates || !cfg.decrypt_after_expiry)
    {
        return refuse(format!("key expired on {} (CKA_END_DATE)", clock::format_date(end)));
    }
    Ok(())
}

// ---- managed keys ----------------------------------------------------------------

/// The identity of a managed key: its CKA_KEYWARD_KEY_ID. The label and
/// CKA_ID ride along for messages and reports; they take no part in
/// comparisons.
#[derive(Clone, Debug)]
pub struct KeyName {
    pub key_id: Vec<u8>,
    pub label: Vec<u8>,
    pub id: Vec<u8>,
}

impl PartialEq for KeyName {
    fn eq(&self, o: &Self) -> bool {
        self.key_id == o.key_id
    }
}
impl Eq for KeyName {}
impl PartialOrd for KeyName {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for KeyName {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.key_id.cmp(&o.key_id)
    }
}

impl KeyName {
    pub fn of(o: &Object) -> KeyName {
        KeyName { key_id: key_id_of(o).to_vec(), label: o.label().to_vec(), id: o.get(CKA_ID).unwrap_or(&[]).to_vec() }
    }
    fn of_map(m: &BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>) -> KeyName {
        KeyName {
            key_id: m.get(&CKA_KEYWARD_KEY_ID).cloned().unwrap_or_default(),
            label: m.get(&CKA_LABEL).cloned().unwrap_or_default(),
            id: m.get(&CKA_ID).cloned().unwrap_or_default(),
        }
    }
    pub fn display(&self) -> String {
        String::from_utf8_lossy(&self.label).into_owned()
    }
    pub fn key_id(&self) -> String {
        String::from_utf8_lossy(&self.key_id).into_owned()
    }
}

/// Whether `o` is one of the versions of `name` (not a copy of one).
fn version_of_key(o: &Object, name: &KeyName) -> bool {
    o.is_key() && copy_source(o).is_none() && key_id_of(o) == name.key_id.as_slice()
}

fn is_key_class(c: CK_OBJECT_CLASS) -> bool {
    matches!(c, CKO_SECRET_KEY | CKO_PRIVATE_KEY | CKO_PUBLIC_KEY)
}

/// A C_FindObjects template split into what the generic matcher compares
/// and what the lifecycle view decides.
pub struct FindView {
    widened: bool,
    exact: Vec<Attr>,
    tags: Option<Vec<u8>>,
}

impl FindView {
    pub fn of(t: &[Attr]) -> FindView {
        let widened =
            t.iter().any(|a| widens_view(a.ty) && !(a.ty == CKA_KEYWARD_ALL_VERSIONS && a.value.first() != Some(&1)));
        let exact =
            t.iter().filter(|a| a.ty != CKA_KEYWARD_TAGS && a.ty != CKA_KEYWARD_ALL_VERSIONS).cloned().collect();
        let tags = t.iter().rev().find(|a| a.ty == CKA_KEYWARD_TAGS).map(|a| a.value.clone());
        FindView { widened, exact, tags }
    }

    /// Whether `obj` is in the view and matches the template.
    pub fn admits(&self, obj: &Object) -> bool {
        if !self.widened && obj.is_key() && (!is_primary(obj) || state_of(obj) == KEYWARD_STATE_PENDING_DELETION) {
            return false;
        }
        if let Some(t) = &self.tags
            && !tags_match(obj.get(CKA_KEYWARD_TAGS), t)
        {
            return false;
        }
        obj.matches(&self.exact)
    }
}

// ---- what the CLI and inventory show ------------------------------------------------

#[derive(Clone, Debug, Serialize)]
pub struct VersionInfo {
    pub version: u64,
    pub primary: bool,
    pub state: &'static str,
    /// "secret", or "private"/"public" halves present.
    pub objects: Vec<&'static str>,
    pub handles: Vec<u64>,
    pub algorithm: String,
    pub size_bits: u64,
    pub origin: &'static str,
    pub created: String,
    pub rotated: String,
    pub start_date: String,
    pub end_date: String,
    pub destroy_at: String,
    pub next_rotation: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct KeyInfo {
    /// CKA_KEYWARD_KEY_ID: the key's identity.
    pub key_id: String,
    pub name: String,
    pub id: String,
    pub algorithm: String,
    pub size_bits: u64,
    /// The primary version (none when every version is pending deletion).
    pub primary_version: Option<u64>,
    /// The primary's state, or "pending_deletion" when no version is live.
    pub state: &'static str,
    pub tags: BTreeMap<String, String>,
    pub rotation_period: String,
    pub next_rotation: String,
    pub versions: Vec<VersionInfo>,
}

fn ec_curve_name(params: &[u8]) -> &'static str {
    match params {
        [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07] => "p256",
        [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22] => "p384",
        [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23] => "p521",
        [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a] => "secp256k1",
        _ => "unknown",
    }
}

/// Algorithm name and size in bits of a key object.
pub fn algorithm_of(o: &Object) -> (String, u64) {
    match o.key_type {
        Some(CKK_AES) => ("aes".into(), o.ulong(CKA_VALUE_LEN).unwrap_or(0) as u64 * 8),
        Some(CKK_RSA) => {
            let bits = o
                .ulong(CKA_MODULUS_BITS)
                .map(|b| b as u64)
                .or_else(|| o.get(CKA_MODULUS).map(|m| template::modulus_bits(m) as u64))
                .unwrap_or(0);
            ("rsa".into(), bits)
        }
        Some(CKK_EC) => {
            let c = ec_curve_name(o.get(CKA_EC_PARAMS).unwrap_or(&[]));
            let bits = match c {
                "p384" => 384,
                "p521" => 521,
                "unknown" => 0,
                _ => 256,
            };
            (format!("ec-{c}"), bits)
        }
        Some(CKK_GENERIC_SECRET) => ("generic-secret".into(), o.ulong(CKA_VALUE_LEN).unwrap_or(0) as u64 * 8),
        Some(CKK_SHA256_HMAC) => ("hmac-sha256".into(), o.ulong(CKA_VALUE_LEN).unwrap_or(0) as u64 * 8),
        Some(CKK_SHA384_HMAC) => ("hmac-sha384".into(), o.ulong(CKA_VALUE_LEN).unwrap_or(0) as u64 * 8),
        Some(CKK_SHA512_HMAC) => ("hmac-sha512".into(), o.ulong(CKA_VALUE_LEN).unwrap_or(0) as u64 * 8),
        Some(kt) => (format!("key-type-0x{kt:x}"), o.ulong(CKA_VALUE_LEN).unwrap_or(0) as u64 * 8),
        None => ("none".into(), 0),
    }
}

fn class_word(c: CK_OBJECT_CLASS) -> &'static str {
    match c {
        CKO_SECRET_KEY => "secret",
        CKO_PRIVATE_KEY => "private",
        CKO_PUBLIC_KEY => "public",
        _ => "other",
    }
}

fn key_info(name: &KeyName, objs: &[Arc<Object>]) -> KeyInfo {
    let mut by_version: BTreeMap<u64, Vec<&Arc<Object>>> = BTreeMap::new();
    for o in objs {
        by_version.entry(version_of(o) as u64).or_default().push(o);
    }
    let mut versions = Vec::new();
    for (v, mut os) in by_version {
        // The private or secret object speaks for a pair.
        os.sort_by_key(|o| match o.class {
            CKO_SECRET_KEY => 0,
            CKO_PRIVATE_KEY => 1,
            _ => 2,
        });
        let first = os[0];
        let (algorithm, mut size_bits) = algorithm_of(first);
        if size_bits == 0 {
            size_bits = os.iter().map(|o| algorithm_of(o).1).max().unwrap_or(0);
        }
        versions.push(VersionInfo {
            version: v,
            primary: os.iter().any(|o| is_primary(o)),
            state: state_name(state_of(first)),
            objects: os.iter().map(|o| class_word(o.class)).collect(),
            handles: os.iter().map(|o| o.handle as u64).collect(),
            algorithm,
            size_bits,
            origin: origin_name(first.ulong(CKA_KEYWARD_ORIGIN).unwrap_or(0)),
            created: clock::format_time(time_attr(first, CKA_KEYWARD_CREATED)),
            rotated: clock::format_time(time_attr(first, CKA_KEYWARD_ROTATED)),
            start_date: clock::format_date(first.get(CKA_START_DATE).unwrap_or(&[])),
            end_date: clock::format_date(first.get(CKA_END_DATE).unwrap_or(&[])),
            destroy_at: clock::format_time(time_attr(first, CKA_KEYWARD_DESTROY_AT)),
            next_rotation: clock::format_time(time_attr(first, CKA_KEYWARD_NEXT_ROTATION)),
        });
    }
    let live = |v: &&VersionInfo| v.primary && v.state != "pending_deletion";
    let primary = versions.iter().find(live).or_else(|| versions.last());
    let primary_obj = objs
        .iter()
        .filter(|o| o.class != CKO_PUBLIC_KEY || objs.iter().all(|p| p.class == CKO_PUBLIC_KEY))
        .find(|o| primary.is_some_and(|p| version_of(o) as u64 == p.version));
    let period = primary_obj.and_then(|o| o.ulong(CKA_KEYWARD_ROTATION_PERIOD)).unwrap_or(0);
    KeyInfo {
        key_id: name.key_id(),
        name: name.display(),
        id: hex::encode(&name.id),
        algorithm: primary.map(|p| p.algorithm.clone()).unwrap_or_default(),
        size_bits: primary.map(|p| p.size_bits).unwrap_or(0),
        primary_version: versions.iter().find(live).map(|v| v.version),
        state: match versions.iter().find(live) {
            Some(p) => p.state,
            None => "pending_deletion",
        },
        tags: primary_obj.and_then(|o| parse_tags(o.get(CKA_KEYWARD_TAGS).unwrap_or(&[])).ok()).unwrap_or_default(),
        rotation_period: if period > 0 { clock::format_duration(period as u64) } else { String::new() },
        next_rotation: primary.map(|p| p.next_rotation.clone()).unwrap_or_default(),
        versions,
    }
}

// ---- rows inside a transaction --------------------------------------------------------

/// An object row decoded inside a transaction.
#[derive(Clone)]
struct Row {
    id: i64,
    uid: String,
    attrs: BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>,
    sealed: Vec<u8>,
    /// The row as stored (public blob and MAC), for its integrity check:
    /// only a verified row is written back (re-MACed) or copied into a new
    /// version.
    stored: ObjectRow,
}

impl Row {
    fn require_intact(&self, t: &Token) -> Result<()> {
        match crate::token::integrity::integrity_error(self.id as Handle, &self.uid, &t.check_row(&self.stored)) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
    fn ulong(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<CK_ULONG> {
        map_ulong(&self.attrs, ty)
    }
    fn class(&self) -> CK_OBJECT_CLASS {
        self.ulong(CKA_CLASS).unwrap_or(CK_UNAVAILABLE_INFORMATION)
    }
    fn version(&self) -> CK_ULONG {
        self.ulong(CKA_KEYWARD_VERSION).unwrap_or(1)
    }
    fn primary(&self) -> bool {
        self.attrs.get(&CKA_KEYWARD_PRIMARY).is_none_or(|v| v.first() == Some(&1))
    }
    fn state(&self) -> CK_ULONG {
        self.ulong(CKA_KEYWARD_STATE).unwrap_or(KEYWARD_STATE_ENABLED)
    }
    fn live_primary(&self) -> bool {
        self.primary() && self.state() != KEYWARD_STATE_PENDING_DELETION
    }
    fn modifiable(&self) -> bool {
        self.attrs.get(&CKA_MODIFIABLE).is_none_or(|v| v.first() != Some(&0))
    }
    /// The source version's handle of a copy.
    fn copy_of(&self) -> Option<i64> {
        self.ulong(CKA_KEYWARD_COPY_OF).filter(|h| *h != 0).map(|h| h as i64)
    }
    /// Whether the row is one of the versions of `name` (copies are not).
    fn of_key(&self, name: &KeyName) -> bool {
        self.copy_of().is_none() && KeyName::of_map(&self.attrs) == *name
    }
    fn set(&mut self, ty: CK_ATTRIBUTE_TYPE, v: Vec<u8>) {
        self.attrs.insert(ty, v);
    }
    /// How audit records name this row.
    fn key_ref(&self) -> crate::audit::record::KeyRef {
        let label = self.attrs.get(&CKA_LABEL).filter(|l| !l.is_empty());
        crate::audit::record::KeyRef {
            uid: Some(self.uid.clone()),
            label: label.map(|l| String::from_utf8_lossy(l).into_owned()),
            version: Some(self.version()),
            class: Some(crate::audit::record::class_name(self.class()).to_string()),
            handle: Some(self.id as CK_ULONG),
        }
    }
    fn label(&self) -> String {
        format!(
            "{} v{}",
            String::from_utf8_lossy(self.attrs.get(&CKA_LABEL).map(Vec::as_slice).unwrap_or(&[])),
            self.version()
        )
    }
}

/// The key rows of the token as this transaction sees them.
fn key_rows(tx: &Tx<'_>) -> Result<Vec<Row>> {
    let mut out = Vec::new();
    for r in tx.objects()? {
        let attrs: BTreeMap<_, _> =
            codec::decode_attrs(&r.public)?.into_iter().map(|(t, v)| (t as CK_ATTRIBUTE_TYPE, v)).collect();
        let row = Row { id: r.id, uid: r.uid.clone(), attrs, sealed: r.sealed.clone(), stored: r };
        if is_key_class(row.class()) {
            out.push(row);
        }
    }
    Ok(out)
}

fn encode_public(attrs: &BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>) -> Vec<u8> {
    codec::encode_attrs(attrs.iter().map(|(t, v)| (*t as u64, v.as_slice())))
}

/// Writes `r` back with a fresh MAC; a row that did not verify is refused
/// (re-MACing it would launder an edit).
fn write_update(t: &Token, tx: &Tx<'_>, r: &Row, ch: &mut Changes) -> Result<()> {
    r.require_intact(t)?;
    let public = encode_public(&r.attrs);
    let mac = t.row_mac(r.id, &r.uid, &public, &r.sealed)?;
    tx.update_object(r.id, &public, &r.sealed, &mac)?;
    ch.upserts.push(ObjectRow { id: r.id, uid: r.uid.clone(), public, sealed: r.sealed.clone(), mac: Some(mac) });
    Ok(())
}

fn write_delete(tx: &Tx<'_>, r: &Row, ch: &mut Changes) -> Result<()> {
    tx.delete_object(r.id)?;
    ch.deletes.push(r.id);
    Ok(())
}

/// Deletes the token copies of the rows `ch` deleted (a copy dies with its
/// source version); `rows` is what the transaction read.
fn delete_copies(tx: &Tx<'_>, rows: &[Row], ch: &mut Changes) -> Result<()> {
    let gone: Vec<i64> = ch.deletes.clone();
    for r in rows.iter().filter(|r| r.copy_of().is_some_and(|src| gone.contains(&src))) {
        if !ch.deletes.contains(&r.id) {
            write_delete(tx, r, ch)?;
        }
    }
    Ok(())
}

/// Which versions a lifecycle call acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Versions {
    All,
    One(u64),
}

impl Versions {
    fn has(&self, v: CK_ULONG) -> bool {
        match self {
            Versions::All => true,
            Versions::One(n) => *n == v as u64,
        }
    }
}

/// A fresh version's objects, generated and sealed before the transaction.
struct Fresh {
    class: CK_OBJECT_CLASS,
    uid: String,
    /// Attributes the generation decided (key material, sizes).
    material: BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>,
    sealed: Vec<u8>,
}

/// Attributes a rotation takes from the newly generated key rather than
/// from the primary it copies.
const MATERIAL: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_VALUE_LEN,
    CKA_MODULUS,
    CKA_MODULUS_BITS,
    CKA_PUBLIC_EXPONENT,
    CKA_EC_PARAMS,
    CKA_EC_POINT,
    CKA_PUBLIC_KEY_INFO,
    CKA_VALUE,
];

/// The result of a rotation: the new version and its handles (secret key:
/// one; pair: public then private).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotated {
    pub version: u64,
    pub handles: Vec<Handle>,
}

impl crate::audit::Outcome for Rotated {
    fn created(&self) -> Vec<Handle> {
        self.handles.clone()
    }
}

// ---- the lifecycle API on Token ---------------------------------------------------------

impl Token {
    fn require_user(&self) -> Result<()> {
        if self.role()? != Some(crate::store::Role::User) {
            return Err(Error::new(CKR_USER_NOT_LOGGED_IN, "key lifecycle calls need the user logged in"));
        }
        Ok(())
    }

    /// Applies what a lifecycle transaction wrote to the object cache;
    /// deleted objects drop their cached plaintext first.
    fn kms_apply(&self, ch: Changes) -> Result<()> {
        for id in &ch.deletes {
            if let Ok(o) = self.cached_object(*id as Handle) {
                o.forget_material();
            }
        }
        self.apply_changes(ch)
    }

    /// Every token key object of the managed key `name` (any state).
    pub fn kms_objects(&self, name: &KeyName) -> Result<Vec<Arc<Object>>> {
        Ok(self.all_objects()?.into_iter().filter(|o| version_of_key(o, name)).collect())
    }

    /// The versions of the key `obj` belongs to (just `obj` for a session key).
    pub fn kms_versions_of(&self, obj: &Object) -> Result<Vec<Arc<Object>>> {
        if !obj.token && copy_source(obj).is_none() {
            return Ok(vec![self.object(obj.handle, CKR_KEY_HANDLE_INVALID)?]);
        }
        self.kms_objects(&KeyName::of(obj))
    }

    /// Finds a managed key by its key id or its label (the CLI's NAME):
    /// `CKR_ARGUMENTS_BAD` when no key or several keys carry the label.
    pub fn kms_find(&self, label: &str) -> Result<KeyName> {
        self.require_user()?;
        let all = self.all_objects()?;
        let keys = all.iter().filter(|o| o.is_key() && copy_source(o).is_none());
        if let Some(o) = keys.clone().find(|o| key_id_of(o) == label.as_bytes()) {
            return Ok(KeyName::of(o));
        }
        let mut names: Vec<KeyName> = keys.filter(|o| o.label() == label.as_bytes()).map(|o| KeyName::of(o)).collect();
        names.sort();
        names.dedup();
        match names.len() {
            0 => Err(err!(CKR_ARGUMENTS_BAD, "no key named {label:?}")),
            1 => Ok(names.remove(0)),
            n => Err(err!(CKR_ARGUMENTS_BAD, "{n} different keys are labelled {label:?}: name one by its key id")),
        }
    }

    /// Every managed key with its versions; `all` also lists keys whose
    /// versions are all pending deletion.
    pub fn kms_keys(&self, all: bool) -> Result<Vec<KeyInfo>> {
        self.require_user()?;
        let mut groups: BTreeMap<KeyName, Vec<Arc<Object>>> = BTreeMap::new();
        for o in self.all_objects()?.into_iter().filter(|o| o.is_key() && copy_source(o).is_none()) {
            groups.entry(KeyName::of(&o)).or_default().push(o);
        }
        Ok(groups.iter().map(|(n, os)| key_info(n, os)).filter(|k| all || k.primary_version.is_some()).collect())
    }

    pub fn kms_key_info(&self, name: &KeyName) -> Result<KeyInfo> {
        self.require_user()?;
        let objs = self.kms_objects(name)?;
        if objs.is_empty() {
            return Err(err!(CKR_ARGUMENTS_BAD, "no key named {:?}", name.display()));
        }
        Ok(key_info(name, &objs))
    }

    /// Generates the material of a new version of `name` and seals it.
    fn fresh_version(
        &self,
        name: &KeyName,
        gen_mech: Option<CK_MECHANISM_TYPE>,
    ) -> Result<(Vec<Fresh>, CK_MECHANISM_TYPE)> {
        let master = self.master()?;
        let objs = self.kms_objects(name)?;
        let live: Vec<&Arc<Object>> =
            objs.iter().filter(|o| is_primary(o) && state_of(o) != KEYWARD_STATE_PENDING_DELETION).collect();
        let pick = |c| live.iter().find(|o| o.class == c).copied();
        let seal = |uid: &str, secrets: &BTreeMap<CK_ATTRIBUTE_TYPE, zeroize::Zeroizing<Vec<u8>>>| -> Result<Vec<u8>> {
            let mut sealed = Vec::new();
            for (ty, v) in secrets {
                sealed.push((*ty as u64, master.seal(uid, *ty as u64, v)?));
            }
            Ok(codec::encode_attrs(sealed.iter().map(|(t, v)| (*t, v.as_slice()))))
        };
        let material_of = |n: &NewObject| -> BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>> {
            n.attrs.iter().filter(|(t, _)| MATERIAL.contains(t)).map(|(t, v)| (t, v.to_vec())).collect()
        };
        if let Some(k) = pick(CKO_SECRET_KEY) {
            let kt = k.key_type.unwrap_or(CKK_GENERIC_SECRET);
            let mech = gen_mech.unwrap_or(if kt == CKK_AES { CKM_AES_KEY_GEN } else { CKM_GENERIC_SECRET_KEY_GEN });
            let len = k.ulong(CKA_VALUE_LEN).unwrap_or(0) as usize;
            if len == 0 || (kt == CKK_AES && !matches!(len, 16 | 24 | 32)) {
                return Err(err!(CKR_KEY_SIZE_RANGE, "cannot rotate a secret key of {len} bytes"));
            }
            let value = crate::crypto::random_secret(len).map_err(|_| Error::general("rng failed"))?;
            let uid = crate::token::new_uid()?;
            let mut secrets = BTreeMap::new();
            secrets.insert(CKA_VALUE, value);
            let mut material = BTreeMap::new();
            material.insert(CKA_VALUE_LEN, ulong_bytes(len as CK_ULONG));
            let sealed = seal(&uid, &secrets)?;
            return Ok((vec![Fresh { class: CKO_SECRET_KEY, uid, material, sealed }], mech));
        }
        let Some(p) = pick(CKO_PRIVATE_KEY) else {
            return Err(Error::new(
                CKR_KEY_TYPE_INCONSISTENT,
                "only secret keys and key pairs with a private key rotate",
            ));
        };
        let public = pick(CKO_PUBLIC_KEY);
        let (mech, pub_t) = match p.key_type {
            Some(CKK_RSA) => {
                let bits = public
                    .and_then(|q| q.ulong(CKA_MODULUS_BITS))
                    .or_else(|| p.get(CKA_MODULUS).map(|m| template::modulus_bits(m) as CK_ULONG))
                    .unwrap_or(0);
                let exp = p.get(CKA_PUBLIC_EXPONENT).unwrap_or(&[1, 0, 1]).to_vec();
                (
                    CKM_RSA_PKCS_KEY_PAIR_GEN,
                    vec![Attr::ulong(CKA_MODULUS_BITS, bits), Attr::new(CKA_PUBLIC_EXPONENT, exp)],
                )
            }
            Some(CKK_EC) => {
                let params = p.get(CKA_EC_PARAMS).or_else(|| public.and_then(|q| q.get(CKA_EC_PARAMS))).unwrap_or(&[]);
                (CKM_EC_KEY_PAIR_GEN, vec![Attr::new(CKA_EC_PARAMS, params.to_vec())])
            }
            kt => return Err(err!(CKR_KEY_TYPE_INCONSISTENT, "cannot rotate key type {kt:?}")),
        };
        let mech = gen_mech.unwrap_or(mech);
        let (pubn, privn) = crate::token::ops::new_pair(self, &Mechanism::new(mech), &pub_t, &[])?;
        let mut out = Vec::new();
        if public.is_some() {
            let uid = crate::token::new_uid()?;
            let sealed = seal(&uid, &pubn.secrets)?;
            out.push(Fresh { class: CKO_PUBLIC_KEY, uid, material: material_of(&pubn), sealed });
        }
        let uid = crate::token::new_uid()?;
        let sealed = seal(&uid, &privn.secrets)?;
        out.push(Fresh { class: CKO_PRIVATE_KEY, uid, material: material_of(&privn), sealed });
        Ok((out, mech))
    }

    /// Rotates `name`: a new version copying the primary's attributes with
    /// fresh material becomes primary; the old primary stays for
    /// decrypt/verify/unwrap. With `due = Some((uid, now))` (automatic
    /// rotation) the transaction only rotates if the primary is still `uid`
    /// and still due, so two processes never both rotate; it returns `None`
    /// when another process got there first.
    pub fn kms_rotate_key(
        &self,
        name: &KeyName,
        due: Option<(&str, i64)>,
        gen_mech: Option<CK_MECHANISM_TYPE>,
    ) -> Result<Option<Rotated>> {
        self.require_user()?;
        self.refresh()?;
        let (fresh, mech) = self.fresh_version(name, gen_mech)?;
        let now = clock::now();
        let mut audit = self.audit().lock_for_commit()?;
        let (ch, version, ids) = {
            let result = self.store().transaction(|tx| {
                let mut rows: Vec<Row> = key_rows(tx)?.into_iter().filter(|r| r.of_key(name)).collect();
                for r in rows.iter().filter(|r| r.live_primary()) {
                    rules::check(r.modifiable(), rules::Change::Rotate)?;
                }
                if let Some((uid, now)) = due {
                    let still_due = rows.iter().any(|r| {
                        r.uid == uid
                            && r.live_primary()
                            && r.state() == KEYWARD_STATE_ENABLED
                            && r.ulong(CKA_KEYWARD_NEXT_ROTATION).is_some_and(|t| t != 0 && t as i64 <= now)
                    });
                    if !still_due {
                        return Ok(None);
                    }
                }
                let version = rows.iter().map(Row::version).max().unwrap_or(0) + 1;
                let mut ch = Changes::default();
                let mut ids = Vec::new();
                for f in &fresh {
                    let Some(base) = rows.iter().find(|r| r.class() == f.class && r.live_primary()) else {
                        return Err(Error::new(
                            CKR_KEY_HANDLE_INVALID,
                            "the key has no live primary version to rotate",
                        ));
                    };
                    base.require_intact(self)?;
                    let mut a = base.attrs.clone();
                    for (t, v) in &f.material {
                        a.insert(*t, v.clone());
                    }
                    a.insert(CKA_UNIQUE_ID, f.uid.as_bytes().to_vec());
                    a.insert(CKA_LOCAL, vec![1]);
                    // Trust is never inherited: CKA_TRUSTED needs the SO.
                    if a.contains_key(&CKA_TRUSTED) {
                        a.insert(CKA_TRUSTED, vec![0]);
                    }
                    a.insert(CKA_KEY_GEN_MECHANISM, ulong_bytes(mech));
                    if f.class != CKO_PUBLIC_KEY {
                        let sens = map_flag(&a, CKA_SENSITIVE);
                        let extr = map_flag(&a, CKA_EXTRACTABLE);
                        a.insert(CKA_ALWAYS_SENSITIVE, vec![sens as u8]);
                        a.insert(CKA_NEVER_EXTRACTABLE, vec![!extr as u8]);
                    }
                    a.insert(CKA_KEYWARD_VERSION, ulong_bytes(version));
                    a.insert(CKA_KEYWARD_PRIMARY, vec![1]);
                    a.insert(CKA_KEYWARD_STATE, ulong_bytes(KEYWARD_STATE_ENABLED));
                    a.insert(CKA_KEYWARD_DESTROY_AT, ulong_bytes(0));
                    a.remove(&CKA_KEYWARD_PRIOR_STATE);
                    a.insert(CKA_KEYWARD_ORIGIN, ulong_bytes(KEYWARD_ORIGIN_GENERATED));
                    a.insert(CKA_KEYWARD_CREATED, time_bytes(now));
                    a.insert(CKA_KEYWARD_ROTATED, ulong_bytes(0));
                    if f.class == CKO_SECRET_KEY {
                        let period = map_ulong(&a, CKA_KEYWARD_ROTATION_PERIOD).unwrap_or(0);
                        let next = if period > 0 { now.saturating_add(period as i64) } else { 0 };
                        a.insert(CKA_KEYWARD_NEXT_ROTATION, time_bytes(next));
                    }
                    let public = encode_public(&a);
                    let mac = std::cell::RefCell::new(None);
                    let id = tx.insert_object(&f.uid, &public, &f.sealed, &|id| {
                        let m = self.row_mac(id, &f.uid, &public, &f.sealed)?;
                        *mac.borrow_mut() = Some(m.clone());
                        Ok(m)
                    })?;
                    let mac = mac.into_inner();
                    ch.upserts.push(ObjectRow { id, uid: f.uid.clone(), public, sealed: f.sealed.clone(), mac });
                    ids.push((f.class, id as Handle));
                }
                for r in rows.iter_mut().filter(|r| r.live_primary() && fresh.iter().any(|f| f.class == r.class())) {
                    r.set(CKA_KEYWARD_PRIMARY, vec![0]);
                    r.set(CKA_KEYWARD_ROTATED, time_bytes(now));
                    if r.attrs.contains_key(&CKA_KEYWARD_NEXT_ROTATION) {
                        r.set(CKA_KEYWARD_NEXT_ROTATION, ulong_bytes(0));
                    }
                    write_update(self, tx, r, &mut ch)?;
                }
                if due.is_some() {
                    // Automatic rotation: recorded before the commit (see
                    // kms_purge_due).
                    let details = serde_json::json!({ "version": version, "automatic": true });
                    let key = due.and_then(|(uid, _)| rows.iter().find(|r| r.uid == uid)).map(Row::key_ref);
                    let key = key.unwrap_or_default();
                    self.audit_before_commit(&mut audit, Lifecycle::Rotated, "keyward.auto_rotate", key, details)?;
                }
                Ok(Some((ch, version, ids)))
            })?;
            drop(audit);
            match result {
                Some(r) => r,
                None => return Ok(None),
            }
        };
        self.kms_apply(ch)?;
        let mut handles: Vec<(CK_OBJECT_CLASS, Handle)> = ids;
        handles.sort_by_key(|(c, _)| match *c {
            CKO_PUBLIC_KEY => 0,
            _ => 1,
        });
        Ok(Some(Rotated { version: version as u64, handles: handles.into_iter().map(|(_, h)| h).collect() }))
    }

    /// Runs `f` on every row of `name` inside one transaction; `f` returns
    /// whether it changed the row (then written) or `Err` to abort.
    fn kms_update(&self, name: &KeyName, mut f: impl FnMut(&mut Row) -> Result<bool>) -> Result<usize> {
        self.require_user()?;
        self.refresh()?;
        let ch = self.store().transaction(|tx| {
            let mut ch = Changes::default();
            let mut found = false;
            for mut r in key_rows(tx)?.into_iter().filter(|r| r.of_key(name)) {
                found = true;
                if f(&mut r)? {
                    write_update(self, tx, &r, &mut ch)?;
                }
            }
            if !found {
                return Err(err!(CKR_ARGUMENTS_BAD, "no key named {:?}", name.display()));
            }
            Ok(ch)
        })?;
        let n = ch.upserts.len();
        self.kms_apply(ch)?;
        Ok(n)
    }

    /// Enables or disables versions of `name`; returns how many changed.
    pub fn kms_set_enabled(&self, name: &KeyName, which: Versions, enabled: bool) -> Result<usize> {
        let mut matched = false;
        let new = if enabled { KEYWARD_STATE_ENABLED } else { KEYWARD_STATE_DISABLED };
        let n = self.kms_update(name, |r| {
            if !which.has(r.version()) {
                return Ok(false);
            }
            matched = true;
            match r.state() {
                KEYWARD_STATE_PENDING_DELETION => {
                    Err(err!(CKR_ACTION_PROHIBITED, "{} is pending deletion: restore it first", r.label()))
                }
                s if s == new => Ok(false),
                _ => {
                    rules::check(r.modifiable(), if enabled { rules::Change::Enable } else { rules::Change::Disable })?;
                    r.set(CKA_KEYWARD_STATE, ulong_bytes(new));
                    Ok(true)
                }
            }
        })?;
        if !matched {
            return Err(err!(CKR_ARGUMENTS_BAD, "key {:?} has no version {which:?}", name.display()));
        }
        Ok(n)
    }

    /// Schedules deletion of versions of `name` (all, or one that is not the
    /// live primary) after the grace period; with a grace of 0 deletes them
    /// now. Returns the time the deletion becomes permanent (0 = done).
    pub fn kms_delete(&self, name: &KeyName, which: Versions) -> Result<i64> {
        self.require_user()?;
        self.refresh()?;
        let grace = self.kms.grace() as i64;
        let now = clock::now();
        let at = now.saturating_add(grace);
        let ch = self.store().transaction(|tx| {
            let all = key_rows(tx)?;
            let rows: Vec<&Row> = all.iter().filter(|r| r.of_key(name) && which.has(r.version())).collect();
            if rows.is_empty() {
                return Err(err!(CKR_ARGUMENTS_BAD, "no key {:?} with version {which:?}", name.display()));
            }
            if let Versions::One(v) = which
                && rows.iter().any(|r| r.live_primary())
            {
                return Err(err!(
                    CKR_ACTION_PROHIBITED,
                    "version {v} is the primary: rotate first, or delete the whole key"
                ));
            }
            if let Some(r) = rows.iter().find(|r| r.attrs.get(&CKA_DESTROYABLE).is_some_and(|v| v.first() == Some(&0)))
            {
                return Err(err!(CKR_ACTION_PROHIBITED, "{} is not destroyable (CKA_DESTROYABLE is false)", r.label()));
            }
            let mut ch = Changes::default();
            for r in rows.into_iter().filter(|r| r.state() != KEYWARD_STATE_PENDING_DELETION || grace == 0) {
                if grace == 0 {
                    write_delete(tx, r, &mut ch)?;
                    continue;
                }
                let mut r = r.clone();
                let prior = r.state();
                r.set(CKA_KEYWARD_PRIOR_STATE, ulong_bytes(prior));
                r.set(CKA_KEYWARD_STATE, ulong_bytes(KEYWARD_STATE_PENDING_DELETION));
                r.set(CKA_KEYWARD_DESTROY_AT, time_bytes(at));
                write_update(self, tx, &r, &mut ch)?;
            }
            delete_copies(tx, &all, &mut ch)?;
            Ok(ch)
        })?;
        self.kms_apply(ch)?;
        Ok(if grace == 0 { 0 } else { at })
    }

    /// Brings back every version of `name` pending deletion, in the state it
    /// had; returns how many.
    pub fn kms_restore(&self, name: &KeyName) -> Result<usize> {
        let n = self.kms_update(name, |r| {
            if r.state() != KEYWARD_STATE_PENDING_DELETION {
                return Ok(false);
            }
            rules::check(r.modifiable(), rules::Change::Restore)?;
            let prior = r.ulong(CKA_KEYWARD_PRIOR_STATE).filter(|s| *s != KEYWARD_STATE_PENDING_DELETION);
            r.set(CKA_KEYWARD_STATE, ulong_bytes(prior.unwrap_or(KEYWARD_STATE_ENABLED)));
            r.set(CKA_KEYWARD_DESTROY_AT, ulong_bytes(0));
            r.attrs.remove(&CKA_KEYWARD_PRIOR_STATE);
            Ok(true)
        })?;
        if n == 0 {
            return Err(err!(CKR_ARGUMENTS_BAD, "key {:?} has no version pending deletion", name.display()));
        }
        Ok(n)
    }

    /// Adds and removes tags on every version of `name`; returns the new set.
    pub fn kms_tag(
        &self,
        name: &KeyName,
        add: &BTreeMap<String, String>,
        remove: &[String],
    ) -> Result<BTreeMap<String, String>> {
        for k in remove {
            check_tag_key(k)?;
        }
        let check = format_tags(add);
        parse_tags(&check)?;
        let mut result = BTreeMap::new();
        self.kms_update(name, |r| {
            let mut t = parse_tags(r.attrs.get(&CKA_KEYWARD_TAGS).map(Vec::as_slice).unwrap_or(&[]))?;
            for (k, v) in add {
                t.insert(k.clone(), v.clone());
            }
            for k in remove {
                t.remove(k);
            }
            let v = format_tags(&t);
            let changed = r.attrs.get(&CKA_KEYWARD_TAGS) != Some(&v);
            if changed {
                rules::check(r.modifiable(), rules::Change::Tags)?;
            }
            r.set(CKA_KEYWARD_TAGS, v);
            if r.live_primary() || result.is_empty() {
                result = t;
            }
            Ok(changed)
        })?;
        Ok(result)
    }

    /// Sets (or clears, `None`) CKA_END_DATE on every version of `name`.
    pub fn kms_set_end_date(&self, name: &KeyName, date: Option<[u8; 8]>) -> Result<usize> {
        let v = date.map(|d| d.to_vec()).unwrap_or_default();
        self.kms_update(name, |r| {
            let changed = r.attrs.get(&CKA_END_DATE) != Some(&v);
            if changed {
                let old = r.attrs.get(&CKA_END_DATE).map(Vec::as_slice);
                rules::check(r.modifiable(), rules::Change::EndDate { old, new: Some(v.as_slice()) })?;
            }
            r.set(CKA_END_DATE, v.clone());
            Ok(changed)
        })
    }

    /// Sets the automatic rotation period of `name` (0 = off) on its primary.
    pub fn kms_set_rotation_period(&self, name: &KeyName, secs: u64) -> Result<i64> {
        let now = clock::now();
        let mut next = 0;
        let mut found = false;
        self.kms_update(name, |r| {
            if !(r.live_primary() && r.class() == CKO_SECRET_KEY) {
                return Ok(false);
            }
            found = true;
            rules::check(r.modifiable(), rules::Change::RotationPeriod)?;
            if secs > 0 && r.ulong(CKA_KEYWARD_ORIGIN) != Some(KEYWARD_ORIGIN_GENERATED) {
                return Err(Error::new(CKR_ACTION_PROHIBITED, "automatic rotation needs a key generated in the token"));
            }
            next = if secs > 0 { now.saturating_add(secs as i64) } else { 0 };
            r.set(CKA_KEYWARD_ROTATION_PERIOD, ulong_bytes(secs as CK_ULONG));
            r.set(CKA_KEYWARD_NEXT_ROTATION, time_bytes(next));
            Ok(true)
        })?;
        if !found {
            return Err(Error::new(
                CKR_KEY_TYPE_INCONSISTENT,
                "automatic rotation is for secret keys with a live primary",
            ));
        }
        Ok(next)
    }

    /// C_DestroyObject on a token key with a grace period: schedules the
    /// deletion of `obj` (of every version of its class when it is the
    /// primary, since the key is what a plain client sees and destroys).
    pub fn kms_soft_destroy(&self, obj: &Object) -> Result<()> {
        if state_of(obj) == KEYWARD_STATE_PENDING_DELETION {
            // Destroyed once already, as far as a plain client can tell.
            return Err(err!(CKR_OBJECT_HANDLE_INVALID, "object {} is already scheduled for deletion", obj.handle));
        }
        let name = KeyName::of(obj);
        let all = is_primary(obj);
        let (class, handle) = (obj.class, obj.handle as i64);
        let at = clock::now().saturating_add(self.kms.grace() as i64);
        let ch = self.store().transaction(|tx| {
            let mut ch = Changes::default();
            let rows: Vec<Row> = key_rows(tx)?
                .into_iter()
                .filter(|r| r.id == handle || (all && r.class() == class && r.of_key(&name)))
                .filter(|r| r.state() != KEYWARD_STATE_PENDING_DELETION)
                .collect();
            if let Some(r) = rows.iter().find(|r| r.attrs.get(&CKA_DESTROYABLE).is_some_and(|v| v.first() == Some(&0)))
            {
                return Err(err!(CKR_ACTION_PROHIBITED, "{} is not destroyable (CKA_DESTROYABLE is false)", r.label()));
            }
            for mut r in rows {
                let prior = r.state();
                r.set(CKA_KEYWARD_PRIOR_STATE, ulong_bytes(prior));
                r.set(CKA_KEYWARD_STATE, ulong_bytes(KEYWARD_STATE_PENDING_DELETION));
                r.set(CKA_KEYWARD_DESTROY_AT, time_bytes(at));
                write_update(self, tx, &r, &mut ch)?;
            }
            Ok(ch)
        })?;
        self.kms_apply(ch)
    }

    /// Stores made before key identities (keyward 0.1 grouped versions by
    /// CKA_LABEL + CKA_ID), at the first login of a process (after the
    /// rows were bound to the master key, so the rewrite is MACed like any
    /// other): gives every key object without
    /// CKA_KEYWARD_KEY_ID one, in one transaction that re-reads the rows (a
    /// second process finds nothing left to do). Objects sharing a label
    /// and ID whose versions are all distinct were linked by rotation and
    /// keep one identity (a pair's halves included); where versions repeat,
    /// the objects were independent keys that happened to share a label:
    /// each secret or private key gets its own identity, and a public key
    /// joins the private key of its version with the same public material.
    pub(crate) fn kms_migrate_identities(&self) -> Result<()> {
        if !self.all_objects()?.iter().any(|o| o.is_key() && key_id_of(o).is_empty()) {
            return Ok(());
        }
        let ch = self.store().transaction(|tx| {
            let rows = key_rows(tx)?;
            let mut groups: BTreeMap<(Vec<u8>, Vec<u8>), Vec<&Row>> = BTreeMap::new();
            for r in rows.iter().filter(|r| !r.attrs.contains_key(&CKA_KEYWARD_KEY_ID)) {
                let name = KeyName::of_map(&r.attrs);
                groups.entry((name.label, name.id)).or_default().push(r);
            }
            let mut assigned: Vec<(&Row, Vec<u8>)> = Vec::new();
            for group in groups.values() {
                let mut seen = std::collections::BTreeSet::new();
                if group.iter().all(|r| seen.insert((r.version(), r.class()))) {
                    let id = new_key_id()?;
                    assigned.extend(group.iter().map(|r| (*r, id.clone())));
                    continue;
                }
                let mut owners: Vec<(&Row, Vec<u8>)> = Vec::new();
                for r in group.iter().filter(|r| r.class() != CKO_PUBLIC_KEY) {
                    owners.push((*r, new_key_id()?));
                }
                let public_material = |r: &Row| {
                    [CKA_MODULUS, CKA_PUBLIC_KEY_INFO]
                        .iter()
                        .find_map(|t| r.attrs.get(t).filter(|v| !v.is_empty()).cloned())
                };
                for p in group.iter().filter(|r| r.class() == CKO_PUBLIC_KEY) {
                    let mine = public_material(p);
                    let owner = owners.iter().find(|(q, _)| {
                        q.class() == CKO_PRIVATE_KEY
                            && q.version() == p.version()
                            && mine.is_some()
                            && public_material(q) == mine
                    });
                    let id = match owner {
                        Some((_, id)) => id.clone(),
                        None => new_key_id()?,
                    };
                    assigned.push((*p, id));
                }
                assigned.extend(owners);
            }
            let mut ch = Changes::default();
            for (r, id) in assigned {
                let mut r = r.clone();
                r.set(CKA_KEYWARD_KEY_ID, id);
                write_update(self, tx, &r, &mut ch)?;
            }
            Ok(ch)
        })?;
        if !ch.upserts.is_empty() {
            log::info!(
                "token {}: gave {} key objects of an older store their key identities",
                self.slot,
                ch.upserts.len()
            );
        }
        self.kms_apply(ch)
    }

    /// C_DestroyObject of a token key without a grace period (or of a
    /// copy): deletes its row and the token copies that follow it, in one
    /// transaction.
    pub fn kms_destroy_now(&self, obj: &Object) -> Result<()> {
        let handle = obj.handle as i64;
        let ch = self.store().transaction(|tx| {
            let rows = key_rows(tx)?;
            let r = rows
                .iter()
                .find(|r| r.id == handle)
                .ok_or_else(|| err!(CKR_OBJECT_HANDLE_INVALID, "object {handle} no longer exists"))?;
            let mut ch = Changes::default();
            write_delete(tx, r, &mut ch)?;
            delete_copies(tx, &rows, &mut ch)?;
            Ok(ch)
        })?;
        self.kms_apply(ch)
    }

    /// After C_SetAttributeValue changed CKA_KEYWARD_TAGS on `obj`: the
    /// tags belong to the managed key, so every other version gets them.
    pub(crate) fn kms_propagate_tags(&self, obj: &Object, tags: &[u8]) -> Result<()> {
        if !obj.is_key() {
            return Ok(());
        }
        let name = KeyName::of(obj);
        let handle = obj.handle as i64;
        let ch = self.store().transaction(|tx| {
            let mut ch = Changes::default();
            for mut r in key_rows(tx)?.into_iter().filter(|r| r.id != handle && r.of_key(&name)) {
                if r.attrs.get(&CKA_KEYWARD_TAGS).map(Vec::as_slice) != Some(tags) {
                    r.set(CKA_KEYWARD_TAGS, tags.to_vec());
                    write_update(self, tx, &r, &mut ch)?;
                }
            }
            Ok(ch)
        })?;
        self.kms_apply(ch)
    }

    /// Destroys for good every version pending deletion whose grace period
    /// has passed (rows deleted under `secure_delete`, cached plaintext
    /// dropped). Needs no login: nothing is unsealed.
    pub fn kms_purge_due(&self) -> Result<Vec<String>> {
        let now = clock::now();
        let mut audit = self.audit().lock_for_commit()?;
        let (ch, names) = self.store().transaction(|tx| {
            let mut ch = Changes::default();
            let mut names = Vec::new();
            let rows = key_rows(tx)?;
            for r in rows.iter().filter(|r| r.copy_of().is_none()) {
                let at = r.ulong(CKA_KEYWARD_DESTROY_AT).unwrap_or(0) as i64;
                let destroyable = r.attrs.get(&CKA_DESTROYABLE).is_none_or(|v| v.first() != Some(&0));
                if r.state() == KEYWARD_STATE_PENDING_DELETION && at != 0 && at <= now && destroyable {
                    write_delete(tx, r, &mut ch)?;
                    // Recorded before the commit: a crash cannot purge a
                    // key without its record (it may leave a record of a
                    // purge that the next run then repeats).
                    let details = serde_json::json!({ "version": r.label(), "automatic": true });
                    self.audit_before_commit(&mut audit, Lifecycle::Purged, "keyward.purge", r.key_ref(), details)?;
                    names.push(format!("{} ({})", r.label(), class_word(r.class())));
                }
            }
            delete_copies(tx, &rows, &mut ch)?;
            Ok((ch, names))
        })?;
        drop(audit);
        if !ch.deletes.is_empty() {
            self.kms_apply(ch)?;
        }
        Ok(names)
    }

    /// Rotates every enabled primary secret key whose next rotation is due.
    pub fn kms_rotate_due(&self) -> Result<Vec<String>> {
        if self.role()? != Some(crate::store::Role::User) {
            return Ok(Vec::new());
        }
        let now = clock::now();
        let due: Vec<Arc<Object>> = self
            .all_objects()?
            .into_iter()
            .filter(|o| {
                o.class == CKO_SECRET_KEY
                    && copy_source(o).is_none()
                    && is_primary(o)
                    && state_of(o) == KEYWARD_STATE_ENABLED
                    && o.ulong(CKA_KEYWARD_NEXT_ROTATION).is_some_and(|t| t != 0 && t as i64 <= now)
            })
            .collect();
        let mut out = Vec::new();
        for o in due {
            let name = KeyName::of(&o);
            match self.kms_rotate_key(&name, Some((&o.uid, now)), None) {
                Ok(Some(r)) => {
                    // (recorded inside kms_rotate_key, before its commit)
                    out.push(format!("{} v{}", name.display(), r.version));
                }
                Ok(None) => {}
                Err(e) => log::warn!("token {}: automatic rotation of {:?} failed: {e}", self.slot, name.display()),
            }
        }
        Ok(out)
    }

    /// Due purges and (with the user logged in) due rotations; what they did
    /// is also remembered for `keyward maintain`'s report.
    fn kms_run_due(&self) -> Result<Report> {
        let purged = self.kms_purge_due()?;
        let rotated = self.kms_rotate_due()?;
        Ok(Report { rotated, purged })
    }

    fn remember(&self, r: &Report) {
        if let Ok(mut d) = self.kms.done.lock() {
            d.rotated.extend(r.rotated.iter().cloned());
            d.purged.extend(r.purged.iter().cloned());
        }
    }

    /// Automatic maintenance after a user login (errors are logged, never
    /// returned: the login itself succeeded): the first login of the
    /// process, then at most once a minute (repeated logins stay cheap).
    pub(crate) fn kms_after_login(&self) {
        // Skip the sweep (a write transaction over every key row) when
        // nothing changed since the last one and nothing has come due.
        let now = clock::now();
        if self.refresh_if_stale().is_ok()
            && let Ok(hint) = self.kms.due_hint.lock()
            && let Some((generation, next_due)) = *hint
            && generation == self.objects_generation()
            && now < next_due
        {
            return;
        }
        self.kms.next_tick_ms.store(self.kms.elapsed_ms() + TICK_MS, Ordering::Relaxed);
        self.kms_guarded_run();
    }

    /// Automatic maintenance at most once a minute while a user is logged in.
    pub(crate) fn kms_tick(&self) {
        let now = self.kms.elapsed_ms();
        if now < self.kms.next_tick_ms.load(Ordering::Relaxed) || !self.is_user() {
            return;
        }
        self.kms.next_tick_ms.store(now + TICK_MS, Ordering::Relaxed);
        self.kms_guarded_run();
    }

    fn kms_guarded_run(&self) {
        if self.kms.running.swap(true, Ordering::AcqRel) {
            return;
        }
        match self.kms_run_due() {
            Ok(r) => {
                self.remember(&r);
                self.remember_next_due();
            }
            Err(e) => log::warn!("token {}: key maintenance failed: {e}", self.slot),
        }
        self.kms.running.store(false, Ordering::Release);
    }

    /// Notes when the next purge or rotation comes due (for the object set
    /// of this generation of the cache).
    fn remember_next_due(&self) {
        let generation = self.objects_generation();
        let Ok(all) = self.all_objects() else { return };
        let next_due = all
            .iter()
            .filter(|o| o.is_key())
            .filter_map(|o| {
                let destroy = (state_of(o) == KEYWARD_STATE_PENDING_DELETION)
                    .then(|| o.ulong(CKA_KEYWARD_DESTROY_AT).unwrap_or(0) as i64)
                    .filter(|t| *t != 0);
                let rotate = (o.class == CKO_SECRET_KEY && is_primary(o) && state_of(o) == KEYWARD_STATE_ENABLED)
                    .then(|| o.ulong(CKA_KEYWARD_NEXT_ROTATION).unwrap_or(0) as i64)
                    .filter(|t| *t != 0);
                destroy.into_iter().chain(rotate).min()
            })
            .min()
            .unwrap_or(i64::MAX);
        if let Ok(mut h) = self.kms.due_hint.lock() {
            *h = Some((generation, next_due));
        }
    }

    /// `keyward maintain`: runs due purges and rotations now and reports
    /// them together with what automatic runs of this process did.
    pub fn kms_maintain(&self) -> Result<Report> {
        self.require_user()?;
        while self.kms.running.swap(true, Ordering::AcqRel) {
            std::thread::yield_now();
        }
        let r = self.kms_run_due();
        self.kms.running.store(false, Ordering::Release);
        let r = r?;
        let mut done = self.kms.done.lock().map_err(|_| Error::general("kms lock poisoned"))?;
        let mut all = std::mem::take(&mut *done);
        all.rotated.extend(r.rotated);
        all.purged.extend(r.purged);
        Ok(all)
    }

    // ---- PKCS#11 entry points -------------------------------------------------------

    /// C_GenerateKey with CKA_KEYWARD_ROTATE: rotates the managed key the
    /// template names (CKA_LABEL, and CKA_ID when the label is shared).
    /// `None` when the template asks for no rotation.
    pub fn kms_rotate_generate(&self, s: &Session, mech: &Mechanism, t: &[Attr]) -> Result<Option<Handle>> {
        let Some(name) = self.rotation_target(t, &[])? else { return Ok(None) };
        let r = self.kms_rotate_checked(s, mech, &name, &[t])?;
        r.handles.first().copied().map(Some).ok_or_else(|| Error::general("rotation made no object"))
    }

    /// C_GenerateKeyPair with CKA_KEYWARD_ROTATE in either template.
    pub fn kms_rotate_generate_pair(
        &self,
        s: &Session,
        mech: &Mechanism,
        pub_t: &[Attr],
        priv_t: &[Attr],
    ) -> Result<Option<(Handle, Handle)>> {
        let Some(name) = self.rotation_target(priv_t, pub_t)? else { return Ok(None) };
        let r = self.kms_rotate_checked(s, mech, &name, &[pub_t, priv_t])?;
        match r.handles.as_slice() {
            [p, q] => Ok(Some((*p, *q))),
            _ => Err(Error::new(CKR_KEY_TYPE_INCONSISTENT, "the key's primary has no public half to rotate")),
        }
    }

    /// The managed key a rotation template names, if it asks for rotation:
    /// by CKA_KEYWARD_KEY_ID, or by a CKA_LABEL (and CKA_ID) that exactly
    /// one live key carries (else `CKR_TEMPLATE_INCONSISTENT`).
    fn rotation_target(&self, a: &[Attr], b: &[Attr]) -> Result<Option<KeyName>> {
        let all: Vec<&Attr> = a.iter().chain(b).collect();
        let Some(rot) = all.iter().find(|x| x.ty == CKA_KEYWARD_ROTATE) else { return Ok(None) };
        if rot.value.as_slice() != [1] {
            return Err(Error::new(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_KEYWARD_ROTATE must be CK_TRUE"));
        }
        let find = |ty| all.iter().find(|x| x.ty == ty).map(|x| x.value.clone());
        let (key_id, label, id) = (find(CKA_KEYWARD_KEY_ID), find(CKA_LABEL), find(CKA_ID));
        if key_id.is_none() && label.is_none() {
            return Err(Error::new(
                CKR_TEMPLATE_INCOMPLETE,
                "a rotation names the key by CKA_KEYWARD_KEY_ID or CKA_LABEL",
            ));
        }
        self.require_user()?;
        let mut names: Vec<KeyName> = self
            .all_objects()?
            .iter()
            .filter(|o| o.is_key() && copy_source(o).is_none())
            .filter(|o| key_id.as_ref().is_none_or(|k| key_id_of(o) == k.as_slice()))
            .filter(|o| label.as_ref().is_none_or(|l| o.label() == l.as_slice()))
            .filter(|o| id.as_ref().is_none_or(|i| o.get(CKA_ID) == Some(i)))
            .filter(|o| is_primary(o) && state_of(o) != KEYWARD_STATE_PENDING_DELETION)
            .map(|o| KeyName::of(o))
            .collect();
        names.sort();
        names.dedup();
        match names.len() {
            1 => Ok(names.pop()),
            0 => Err(err!(
                CKR_TEMPLATE_INCONSISTENT,
                "no live managed key labelled {:?} to rotate",
                String::from_utf8_lossy(label.as_deref().unwrap_or_default())
            )),
            n => Err(err!(
                CKR_TEMPLATE_INCONSISTENT,
                "{n} keys carry this label (and ID): name the one to rotate by CKA_KEYWARD_KEY_ID"
            )),
        }
    }

    /// A rotation through PKCS#11: every template attribute other than the
    /// rotation directive must agree with the primary it copies.
    fn kms_rotate_checked(
        &self,
        s: &Session,
        mech: &Mechanism,
        name: &KeyName,
        templates: &[&[Attr]],
    ) -> Result<Rotated> {
        let objs = self.kms_objects(name)?;
        let live: Vec<&Arc<Object>> =
            objs.iter().filter(|o| is_primary(o) && state_of(o) != KEYWARD_STATE_PENDING_DELETION).collect();
        let (p_class, q_class) = if live.iter().any(|o| o.class == CKO_SECRET_KEY) {
            (CKO_SECRET_KEY, CKO_SECRET_KEY)
        } else {
            (CKO_PUBLIC_KEY, CKO_PRIVATE_KEY)
        };
        let pair = p_class != q_class;
        if pair != (templates.len() == 2) {
            return Err(Error::new(
                CKR_TEMPLATE_INCONSISTENT,
                if pair {
                    "a key pair rotates with C_GenerateKeyPair"
                } else {
                    "a secret key rotates with C_GenerateKey"
                },
            ));
        }
        let key_type = live.first().and_then(|o| o.key_type);
        let mech_ok = match (key_type, mech.ty) {
            (Some(CKK_AES), CKM_AES_KEY_GEN) => true,
            (Some(kt), CKM_GENERIC_SECRET_KEY_GEN) => kt != CKK_AES && crate::object::rules::is_secret_key_type(kt),
            (Some(CKK_RSA), CKM_RSA_PKCS_KEY_PAIR_GEN) => true,
            (Some(CKK_EC), CKM_EC_KEY_PAIR_GEN) => true,
            _ => false,
        };
        if !mech_ok {
            return Err(err!(CKR_MECHANISM_INVALID, "mechanism 0x{:x} does not generate this key's type", mech.ty));
        }
        for (i, t) in templates.iter().enumerate() {
            let class = if i == 0 { p_class } else { q_class };
            let base = live.iter().find(|o| o.class == class);
            for a in t.iter().filter(|a| !matches!(a.ty, CKA_KEYWARD_ROTATE | CKA_KEYWARD_KEY_ID | CKA_LABEL | CKA_ID))
            {
                let same = base.is_some_and(|o| o.get(a.ty) == Some(a.value.as_slice()));
                if !same {
                    return Err(err!(
                        CKR_TEMPLATE_INCONSISTENT,
                        "attribute 0x{:x} differs from the primary version (a rotation copies the primary)",
                        a.ty
                    ));
                }
            }
        }
        let private = live.iter().any(|o| o.private);
        self.check_write(s, true, private)?;
        let details = serde_json::json!({ "key": name.display() });
        self.audit_lifecycle(
            Lifecycle::Rotated,
            "C_GenerateKey",
            Some(s.handle),
            live.first().map(|o| o.handle),
            Some(details),
            || self.kms_rotate_key(name, None, Some(mech.ty))?.ok_or_else(|| Error::general("rotation did not happen")),
        )
    }
}

// ---- import ----------------------------------------------------------------------------

/// Decodes PEM (the first block) or passes DER/raw bytes through.
pub fn pem_or_der(data: &[u8]) -> Result<(Option<String>, zeroize::Zeroizing<Vec<u8>>)> {
    let text = match std::str::from_utf8(data) {
        Ok(t) if t.trim_start().starts_with("-----BEGIN ") => t,
        _ => return Ok((None, zeroize::Zeroizing::new(data.to_vec()))),
    };
    let bad = || Error::new(CKR_ARGUMENTS_BAD, "malformed PEM");
    let start = text.find("-----BEGIN ").ok_or_else(bad)?;
    let rest = &text[start + 11..];
    let label_end = rest.find("-----").ok_or_else(bad)?;
    let label = rest[..label_end].to_string();
    let body = &rest[label_end + 5..];
    let end = body.find("-----END ").ok_or_else(bad)?;
    let mut out = zeroize::Zeroizing::new(Vec::new());
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in body[..end].bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(bad()),
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok((Some(label), out))
}

impl Token {
    /// Imports a key from a file's bytes as the first version of a new
    /// managed key `label`: a PKCS#8 private key (PEM or DER; RSA or EC,
    /// validated like C_CreateObject, stored with its public half) or a raw
    /// 16/24/32-byte AES key. Returns the new handles. Whatever the token's
    /// profile, the strict key policy applies on top of the token's own
    /// (control C04, "validate imported keys"); a refusal names its rule.
    pub fn kms_import(&self, s: &Session, label: &str, data: &[u8], id: &[u8]) -> Result<Vec<Handle>> {
        let strict = &crate::object::policy::KeyPolicy::STRICT;
        let why = |e: Error| Error::new(e.rv(), format!("import (strict rules): {}", e.reason()));
        self.require_user()?;
        if self.kms_find(label).is_ok() {
            return Err(err!(CKR_ARGUMENTS_BAD, "a key named {label:?} already exists"));
        }
        let (pem, der) = pem_or_der(data)?;
        let common = |class: CK_OBJECT_CLASS, kt: CK_KEY_TYPE| {
            vec![
                Attr::ulong(CKA_CLASS, class),
                Attr::ulong(CKA_KEY_TYPE, kt),
                Attr::bool(CKA_TOKEN, true),
                Attr::new(CKA_LABEL, label.as_bytes().to_vec()),
                Attr::new(CKA_ID, id.to_vec()),
            ]
        };
        let raw_aes = pem.is_none() && matches!(der.len(), 16 | 24 | 32);
        if raw_aes {
            let mut t = common(CKO_SECRET_KEY, CKK_AES);
            t.push(Attr::new(CKA_VALUE, der.to_vec()));
            let mut n = template::build(&t, &[], template::Origin::Create)?;
            strict.settle_usage(&mut [(&mut n, &t)]);
            strict.check_new_object(&n).map_err(why)?;
            return Ok(vec![self.insert(s, n)?]);
        }
        if pem.as_deref().is_some_and(|l| l != "PRIVATE KEY") {
            return Err(err!(
                CKR_ARGUMENTS_BAD,
                "PEM block {:?}: expected an unencrypted PKCS#8 \"PRIVATE KEY\"",
                pem.unwrap_or_default()
            ));
        }
        let mut last = Error::new(CKR_ARGUMENTS_BAD, "not a PKCS#8 private key nor a raw AES key");
        for kt in [CKK_RSA, CKK_EC] {
            let priv_t = common(CKO_PRIVATE_KEY, kt);
            let mut n = template::build(&priv_t, &[], template::Origin::Unwrap)?;
            match crate::token::asym::fill_from_pkcs8(&mut n, &der) {
                Ok(()) => {}
                Err(e) if e.rv() == CKR_WRAPPED_KEY_INVALID => continue,
                Err(e) => {
                    last = e;
                    continue;
                }
            }
            crate::token::ops::validate_import(&mut n)?;
            let mut pt = common(CKO_PUBLIC_KEY, kt);
            match kt {
                CKK_RSA => {
                    for ty in [CKA_MODULUS, CKA_PUBLIC_EXPONENT] {
                        pt.push(Attr::new(ty, n.attrs.get(ty).unwrap_or_default().to_vec()));
                    }
                }
                _ => {
                    let params = n.attrs.get(CKA_EC_PARAMS).unwrap_or_default().to_vec();
                    let fl = crate::token::asym::curve_of(&params)?.field_len();
                    let spki = n.attrs.get(CKA_PUBLIC_KEY_INFO).unwrap_or_default().to_vec();
                    let plen = 1 + 2 * fl;
                    if spki.len() < plen {
                        return Err(Error::general("EC public key not derivable"));
                    }
                    pt.push(Attr::new(CKA_EC_PARAMS, params));
                    pt.push(Attr::new(CKA_EC_POINT, spki[spki.len() - plen..].to_vec()));
                }
            }
            let mut pn = template::build(&pt, &[], template::Origin::Create)?;
            crate::token::ops::validate_import(&mut pn)?;
            crate::token::ops::pair_up(&mut pn, &n);
            strict.settle_usage(&mut [(&mut pn, &pt), (&mut n, &priv_t)]);
            strict.check_new_object(&n).and_then(|()| strict.check_new_object(&pn)).map_err(why)?;
            strict.check_pair(&pn, &n).map_err(why)?;
            let ph = self.insert(s, pn)?;
            return match self.insert(s, n) {
                Ok(h) => Ok(vec![ph, h]),
                Err(e) => {
                    let _ = self.store().delete_object(ph as i64);
                    Err(e)
                }
            };
        }
        Err(last)
    }
}

/// Reads a CK_ULONG attribute value (re-exported for the CLI).
pub fn ulong_of(v: &[u8]) -> Option<CK_ULONG> {
    ulong(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(attrs: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)]) -> Object {
        let mut m = BTreeMap::new();
        m.insert(CKA_CLASS, ulong_bytes(CKO_SECRET_KEY));
        m.insert(CKA_KEY_TYPE, ulong_bytes(CKK_AES));
        for u in [CKA_ENCRYPT, CKA_DECRYPT] {
            m.insert(u, vec![1]);
        }
        for (t, v) in attrs {
            m.insert(*t, v.clone());
        }
        Object::new(1, "u".into(), None, crate::object::AttrMap::from_map(&m), BTreeMap::new()).unwrap()
    }

    #[test]
    fn use_rules() {
        let cfg = KmsConfig::default();
        let ok = key(&[]);
        assert!(check_use(&ok, Purpose::Encrypt, &cfg).is_ok());
        let old = key(&[(CKA_KEYWARD_PRIMARY, vec![0])]);
        assert_eq!(check_use(&old, Purpose::Encrypt, &cfg).unwrap_err().rv(), CKR_KEY_FUNCTION_NOT_PERMITTED);
        assert!(check_use(&old, Purpose::Decrypt, &cfg).is_ok());
        let off = key(&[(CKA_KEYWARD_STATE, ulong_bytes(KEYWARD_STATE_DISABLED))]);
        assert_eq!(check_use(&off, Purpose::Decrypt, &cfg).unwrap_err().rv(), CKR_KEY_FUNCTION_NOT_PERMITTED);
        let expired = key(&[(CKA_END_DATE, b"20000101".to_vec())]);
        assert!(check_use(&expired, Purpose::Encrypt, &cfg).is_err());
        assert!(check_use(&expired, Purpose::Decrypt, &cfg).is_ok());
        let strict = KmsConfig { decrypt_after_expiry: false, ..KmsConfig::default() };
        assert!(check_use(&expired, Purpose::Decrypt, &strict).is_err());
        let future = key(&[(CKA_START_DATE, b"99991231".to_vec())]);
        assert!(check_use(&future, Purpose::Sign, &cfg).is_err());
        // The precomputed shortcut covers exactly the keys with no rule to apply.
        assert!(ok.unrestricted() && key(&[(CKA_START_DATE, Vec::new())]).unrestricted());
        assert!(![&old, &off, &expired, &future].iter().any(|o| o.unrestricted()));
    }

    #[test]
    fn find_view() {
        let old = key(&[(CKA_KEYWARD_PRIMARY, vec![0]), (CKA_KEYWARD_TAGS, b"env=prod".to_vec())]);
        let cur = key(&[(CKA_KEYWARD_PRIMARY, vec![1]), (CKA_KEYWARD_TAGS, b"env=prod,team=a".to_vec())]);
        let gone = key(&[(CKA_KEYWARD_STATE, ulong_bytes(KEYWARD_STATE_PENDING_DELETION))]);
        let v = FindView::of(&[]);
        assert!(!v.admits(&old) && v.admits(&cur) && !v.admits(&gone));
        let v = FindView::of(&[Attr::bool(CKA_KEYWARD_ALL_VERSIONS, true)]);
        assert!(v.admits(&old) && v.admits(&cur) && v.admits(&gone));
        let v = FindView::of(&[Attr::new(CKA_KEYWARD_TAGS, b"team=a".to_vec())]);
        assert!(!v.admits(&old) && v.admits(&cur));
        let v = FindView::of(&[Attr::ulong(CKA_KEYWARD_STATE, KEYWARD_STATE_PENDING_DELETION)]);
        assert!(v.admits(&gone) && !v.admits(&cur));
    }

    #[test]
    fn config_default_grace() {
        assert_eq!(KmsConfig::default().grace_secs().unwrap(), 7 * 86_400);
        assert!(KmsConfig { deletion_grace: "soon".into(), ..KmsConfig::default() }.grace_secs().is_err());
    }
}
