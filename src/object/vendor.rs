//! The keyward vendor attributes and mechanism (DESIGN.md §4), published for
//! C clients in `include/keyward.h`, and the rules that go with them: what a
//! new key gets stamped with, what a caller may set, how tags are written
//! and matched, which attributes widen the C_FindObjects view.
//!
//! Values are `CKA_VENDOR_DEFINED | 0x4B570000 + n` ("KW"). Times are
//! `CK_ULONG` seconds since the Unix epoch (UTC), 0 = none.
//!
//! Owns: the attributes' numbers and meaning on one object. Must not touch:
//! the store, the object cache or other objects (the lifecycle files act on
//! a key's rows).
#![allow(clippy::unnecessary_cast)] // CK_ULONG is not u64 on every platform

use crate::ck::*;
use crate::err;
use crate::error::{Error, Result};
use crate::object::rules::{KEY, Kinds, SECRET};
use crate::object::template::Origin;
use crate::object::{AttrMap, Object, ulong, ulong_bytes};
use std::collections::BTreeMap;

/// "KW": the vendor prefix of every keyward attribute and mechanism.
pub const KEYWARD_VENDOR_BASE: CK_ULONG = 0x4B57_0000;

/// CK_ULONG: the version number of this object within its managed key (1, 2, 3 ...).
pub const CKA_KEYWARD_VERSION: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED | 0x4B57_0001;
/// CK_BBOOL: the version used for new encrypt/sign/wrap.
pub const CKA_KEYWARD_PRIMARY: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED | 0x4B57_0002;
/// CK_ULONG: one of `CKK_KEYWARD_STATE_*` below.
pub const CKA_KEYWARD_STATE: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED | 0x4B57_0003;
pub use crate::ck::CKA_KEYWARD_DESTROY_AT;
/// CK_ULONG seconds between automatic rotations (0 = never). Secret keys
/// generated in the token only.
pub const CKA_KEYWARD_ROTATION_PERIOD: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED | 0x4B57_0005;
pub use crate::ck::CKA_KEYWARD_NEXT_ROTATION;
/// UTF-8 `key=value` pairs separated by `,` (or newlines); stored sorted.
pub const CKA_KEYWARD_TAGS: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED | 0x4B57_0007;
/// CK_ULONG: one of `KEYWARD_ORIGIN_*`.
pub const CKA_KEYWARD_ORIGIN: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED | 0x4B57_0008;
/// CK_ULONG time: when this version was made.
pub const CKA_KEYWARD_CREATED: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED | 0x4B57_0009;
/// CK_ULONG time: when this version stopped being primary (0 = still primary).
pub const CKA_KEYWARD_ROTATED: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED | 0x4B57_000A;
/// CK_BBOOL, template-only: in a C_GenerateKey / C_GenerateKeyPair template
/// together with the CKA_LABEL (and CKA_ID) of an existing managed key,
/// rotates that key instead of creating a new one. Never stored.
pub const CKA_KEYWARD_ROTATE: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED | 0x4B57_000B;
/// CK_BBOOL, search-only: in a C_FindObjectsInit template, widens the view
/// to every version in every state. Never stored.
pub const CKA_KEYWARD_ALL_VERSIONS: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED | 0x4B57_000C;
/// CK_ULONG: the state a pending deletion returns to on restore (token-maintained).
pub const CKA_KEYWARD_PRIOR_STATE: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED | 0x4B57_000D;

pub use crate::ck::CKA_KEYWARD_COPY_OF;
pub use crate::ck::CKA_KEYWARD_KEY_ID;
pub use crate::ck::CKA_KEYWARD_SEAL;

/// The version-aware AES-GCM envelope (see `envelope.rs`). Parameter:
/// none, or the additional authenticated data as a plain byte string.
pub use crate::ck::CKM_KEYWARD_AES_GCM;
/// Deterministic ML-KEM encapsulation (see `mechanism::pq`). Parameter:
/// exactly the 32 bytes of FIPS 203's `m`; C_EncapsulateKey only.
pub use crate::ck::CKM_KEYWARD_ML_KEM_DETERMINISTIC;
/// Bytes the CKM_KEYWARD_AES_GCM envelope adds to the plaintext: "KW" 01,
/// the version (4), the IV (12) and the tag (16).
pub const KEYWARD_AES_GCM_OVERHEAD: usize = 35;

pub const KEYWARD_STATE_ENABLED: CK_ULONG = 1;
pub const KEYWARD_STATE_DISABLED: CK_ULONG = 2;
pub const KEYWARD_STATE_PENDING_DELETION: CK_ULONG = 3;

pub const KEYWARD_ORIGIN_GENERATED: CK_ULONG = 1;
pub const KEYWARD_ORIGIN_IMPORTED: CK_ULONG = 2;
pub const KEYWARD_ORIGIN_DERIVED: CK_ULONG = 3;

/// Every published constant with its C name (for the header test and docs).
pub const PUBLISHED: &[(&str, CK_ULONG)] = &[
    ("CKA_KEYWARD_VERSION", CKA_KEYWARD_VERSION),
    ("CKA_KEYWARD_PRIMARY", CKA_KEYWARD_PRIMARY),
    ("CKA_KEYWARD_STATE", CKA_KEYWARD_STATE),
    ("CKA_KEYWARD_DESTROY_AT", CKA_KEYWARD_DESTROY_AT),
    ("CKA_KEYWARD_ROTATION_PERIOD", CKA_KEYWARD_ROTATION_PERIOD),
    ("CKA_KEYWARD_NEXT_ROTATION", CKA_KEYWARD_NEXT_ROTATION),
    ("CKA_KEYWARD_TAGS", CKA_KEYWARD_TAGS),
    ("CKA_KEYWARD_ORIGIN", CKA_KEYWARD_ORIGIN),
    ("CKA_KEYWARD_CREATED", CKA_KEYWARD_CREATED),
    ("CKA_KEYWARD_ROTATED", CKA_KEYWARD_ROTATED),
    ("CKA_KEYWARD_ROTATE", CKA_KEYWARD_ROTATE),
    ("CKA_KEYWARD_ALL_VERSIONS", CKA_KEYWARD_ALL_VERSIONS),
    ("CKA_KEYWARD_PRIOR_STATE", CKA_KEYWARD_PRIOR_STATE),
    ("CKA_KEYWARD_KEY_ID", CKA_KEYWARD_KEY_ID),
    ("CKA_KEYWARD_COPY_OF", CKA_KEYWARD_COPY_OF),
    ("CKA_KEYWARD_SEAL", CKA_KEYWARD_SEAL),
    ("CKM_KEYWARD_AES_GCM", CKM_KEYWARD_AES_GCM),
    ("CKM_KEYWARD_ML_KEM_DETERMINISTIC", CKM_KEYWARD_ML_KEM_DETERMINISTIC),
    ("KEYWARD_STATE_ENABLED", KEYWARD_STATE_ENABLED),
    ("KEYWARD_STATE_DISABLED", KEYWARD_STATE_DISABLED),
    ("KEYWARD_STATE_PENDING_DELETION", KEYWARD_STATE_PENDING_DELETION),
    ("KEYWARD_ORIGIN_GENERATED", KEYWARD_ORIGIN_GENERATED),
    ("KEYWARD_ORIGIN_IMPORTED", KEYWARD_ORIGIN_IMPORTED),
    ("KEYWARD_ORIGIN_DERIVED", KEYWARD_ORIGIN_DERIVED),
];

/// Whether `ty` is one of keyward's vendor attributes.
pub fn is_keyward(ty: CK_ATTRIBUTE_TYPE) -> bool {
    ty & !0xFFFF == CKA_VENDOR_DEFINED | KEYWARD_VENDOR_BASE
}

/// Attributes whose presence in a C_FindObjects template widens the view
/// from "primary versions not pending deletion" to every version: the ones
/// that select versions or states. Tags, origin and rotation settings are
/// properties of the key and filter within the default view.
pub fn widens_view(ty: CK_ATTRIBUTE_TYPE) -> bool {
    matches!(
        ty,
        CKA_KEYWARD_VERSION
            | CKA_KEYWARD_PRIMARY
            | CKA_KEYWARD_STATE
            | CKA_KEYWARD_DESTROY_AT
            | CKA_KEYWARD_ROTATED
            | CKA_KEYWARD_PRIOR_STATE
            | CKA_KEYWARD_ALL_VERSIONS
    )
}

pub fn state_name(s: CK_ULONG) -> &'static str {
    match s {
        KEYWARD_STATE_ENABLED => "enabled",
        KEYWARD_STATE_DISABLED => "disabled",
        KEYWARD_STATE_PENDING_DELETION => "pending_deletion",
        _ => "unknown",
    }
}

pub fn origin_name(o: CK_ULONG) -> &'static str {
    match o {
        KEYWARD_ORIGIN_GENERATED => "generated",
        KEYWARD_ORIGIN_IMPORTED => "imported",
        KEYWARD_ORIGIN_DERIVED => "derived",
        _ => "unknown",
    }
}

/// The lifecycle view of one object (defaults for objects made before the
/// vendor attributes existed: version 1, primary, enabled).
pub fn version_of(o: &Object) -> CK_ULONG {
    o.ulong(CKA_KEYWARD_VERSION).unwrap_or(1)
}
pub fn is_primary(o: &Object) -> bool {
    o.get(CKA_KEYWARD_PRIMARY).is_none_or(|v| v.first() == Some(&1))
}
pub fn state_of(o: &Object) -> CK_ULONG {
    o.ulong(CKA_KEYWARD_STATE).unwrap_or(KEYWARD_STATE_ENABLED)
}
/// The managed key of a key object (empty for objects that have none).
pub fn key_id_of(o: &Object) -> &[u8] {
    o.get(CKA_KEYWARD_KEY_ID).unwrap_or(&[])
}
/// The source version of a copy (see [`CKA_KEYWARD_COPY_OF`]).
pub fn copy_source(o: &Object) -> Option<crate::types::Handle> {
    o.ulong(CKA_KEYWARD_COPY_OF).filter(|h| *h != 0).map(|h| h as crate::types::Handle)
}
/// A fresh key identity: 128 random bits as 32 hex digits.
pub fn new_key_id() -> Result<Vec<u8>> {
    Ok(new_key_id_bytes()?.to_vec())
}
fn new_key_id_bytes() -> Result<[u8; 32]> {
    // A public identifier: from the per-thread pool, not a DRBG call per key.
    crate::crypto::rand::public_id_hex().map_err(|_| Error::general("rng failed"))
}
pub fn time_attr(o: &Object, ty: CK_ATTRIBUTE_TYPE) -> i64 {
    o.ulong(ty).map(|v| v as i64).unwrap_or(0)
}

/// Same as the `Object` getters, on a raw attribute map (store rows).
pub fn map_ulong(m: &BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>, ty: CK_ATTRIBUTE_TYPE) -> Option<CK_ULONG> {
    m.get(&ty).and_then(|v| ulong(v))
}
pub fn map_flag(m: &BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>, ty: CK_ATTRIBUTE_TYPE) -> bool {
    m.get(&ty).is_some_and(|v| v.first() == Some(&1))
}

pub fn time_bytes(t: i64) -> Vec<u8> {
    ulong_bytes(t.max(0) as CK_ULONG)
}

// ---- tags ------------------------------------------------------------------

/// Parses a tag list: `key=value` pairs separated by `,` or newlines. Keys
/// are 1..=64 characters of `[A-Za-z0-9_.:/-]`; values are up to 256
/// characters without `,`, newlines or control characters. A repeated key
/// keeps its last value.
pub fn parse_tags(v: &[u8]) -> Result<BTreeMap<String, String>> {
    let bad = |m: String| Error::new(CKR_ATTRIBUTE_VALUE_INVALID, m);
    let s = std::str::from_utf8(v).map_err(|_| bad("CKA_KEYWARD_TAGS is not UTF-8".into()))?;
    let mut out = BTreeMap::new();
    for item in s.split([',', '\n']).map(str::trim).filter(|i| !i.is_empty()) {
        let (k, val) = item.split_once('=').ok_or_else(|| bad(format!("tag {item:?} is not key=value")))?;
        let (k, val) = (k.trim(), val.trim());
        check_tag_key(k).map_err(|e| bad(e.reason().to_string()))?;
        if val.len() > 256 || val.chars().any(char::is_control) {
            return Err(bad(format!("tag value for {k:?} is too long or has control characters")));
        }
        out.insert(k.to_string(), val.to_string());
    }
    Ok(out)
}

/// Checks a tag key (CLI `untag` uses it too).
pub fn check_tag_key(k: &str) -> Result<()> {
    let ok = !k.is_empty()
        && k.len() <= 64
        && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '/' | '-'));
    if ok { Ok(()) } else { Err(err!(CKR_ATTRIBUTE_VALUE_INVALID, "tag key {k:?}: use 1-64 of A-Z a-z 0-9 _ . : / -")) }
}

/// The stored (canonical) form: sorted, `,`-separated.
pub fn format_tags(t: &BTreeMap<String, String>) -> Vec<u8> {
    t.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",").into_bytes()
}

/// Whether an object's tags include every tag of `wanted` (C_FindObjects).
pub fn tags_match(have: Option<&[u8]>, wanted: &[u8]) -> bool {
    let Ok(wanted) = parse_tags(wanted) else { return false };
    let have = have.and_then(|h| parse_tags(h).ok()).unwrap_or_default();
    wanted.iter().all(|(k, v)| have.get(k) == Some(v))
}

// ---- creation and change rules ---------------------------------------------

/// Stamps a new key's lifecycle attributes (called by `template::build`):
/// version 1, primary, enabled unless the template asks for disabled, the
/// origin, the creation time, canonical tags and the rotation schedule.
pub fn stamp_new(m: &mut AttrMap, kind: Kinds, origin: Origin, now: i64) -> Result<()> {
    if kind & KEY == 0 {
        return Ok(());
    }
    let state = m.ulong(CKA_KEYWARD_STATE).unwrap_or(KEYWARD_STATE_ENABLED);
    if !matches!(state, KEYWARD_STATE_ENABLED | KEYWARD_STATE_DISABLED) {
        return Err(Error::new(CKR_ATTRIBUTE_VALUE_INVALID, "a new key is ENABLED or DISABLED"));
    }
    let origin_v = match origin {
        Origin::Generate(_) => KEYWARD_ORIGIN_GENERATED,
        Origin::Derive(_) => KEYWARD_ORIGIN_DERIVED,
        Origin::Create | Origin::Unwrap => KEYWARD_ORIGIN_IMPORTED,
    };
    m.insert(CKA_KEYWARD_KEY_ID, &new_key_id_bytes()?);
    m.insert_ulong(CKA_KEYWARD_VERSION, 1);
    m.insert(CKA_KEYWARD_PRIMARY, &[1]);
    m.insert_ulong(CKA_KEYWARD_STATE, state);
    m.insert_ulong(CKA_KEYWARD_DESTROY_AT, 0);
    m.insert_ulong(CKA_KEYWARD_ORIGIN, origin_v);
    m.insert_ulong(CKA_KEYWARD_CREATED, now.max(0) as CK_ULONG);
    m.insert_ulong(CKA_KEYWARD_ROTATED, 0);
    match m.get(CKA_KEYWARD_TAGS) {
        Some(v) => {
            let tags = format_tags(&parse_tags(v)?);
            m.insert(CKA_KEYWARD_TAGS, &tags);
        }
        None => m.insert(CKA_KEYWARD_TAGS, &[]),
    }
    if kind == SECRET {
        let period = m.ulong(CKA_KEYWARD_ROTATION_PERIOD).unwrap_or(0);
        if period > 0 && origin_v != KEYWARD_ORIGIN_GENERATED {
            return Err(Error::new(
                CKR_TEMPLATE_INCONSISTENT,
                "automatic rotation (CKA_KEYWARD_ROTATION_PERIOD) needs a key generated in the token",
            ));
        }
        m.insert_ulong(CKA_KEYWARD_ROTATION_PERIOD, period);
        let next = if period > 0 { now.saturating_add(period as i64) } else { 0 };
        m.insert_ulong(CKA_KEYWARD_NEXT_ROTATION, next.max(0) as CK_ULONG);
    }
    Ok(())
}

/// Whether the stamps [`stamp_new`] put in `m` are all renewed by
/// [`restamp`]: every stamp but the key id and the creation time is a
/// function of the template and the origin, except a rotation schedule
/// (the next rotation is computed from the creation time).
pub fn restampable(m: &AttrMap, kind: Kinds) -> bool {
    kind & KEY == 0 || m.ulong(CKA_KEYWARD_NEXT_ROTATION).unwrap_or(0) == 0
}

/// Renews the per-object stamps of a copy of a built map (see
/// `object::prototype`): a fresh key id and the creation time `now`, as
/// [`stamp_new`] would have made them. Values of the same length: in place.
pub fn restamp(m: &mut AttrMap, kind: Kinds, now: i64) -> Result<()> {
    if kind & KEY == 0 {
        return Ok(());
    }
    m.insert(CKA_KEYWARD_KEY_ID, &new_key_id_bytes()?);
    m.insert_ulong(CKA_KEYWARD_CREATED, now.max(0) as CK_ULONG);
    Ok(())
}

/// Blanks the per-object stamps of a map kept as a prototype (same
/// lengths: [`restamp`] writes them in place).
pub fn clear_stamps(m: &mut AttrMap, kind: Kinds) {
    if kind & KEY != 0 {
        m.insert(CKA_KEYWARD_KEY_ID, &[b'0'; 32]);
        m.insert_ulong(CKA_KEYWARD_CREATED, 0);
    }
}

/// Checks and completes a C_SetAttributeValue change of the keyward
/// attributes: the caller's template `t` was applied to `obj` giving `attrs`
/// (the generic rules already ran). Canonicalizes tags, recomputes the next
/// rotation when the period changes, and restricts CKA_KEYWARD_STATE to
/// enable/disable of a version that is not pending deletion.
pub fn on_set(
    obj: &Object,
    t: &[crate::types::Attr],
    attrs: &mut BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>,
    now: i64,
) -> Result<()> {
    let named = |ty| t.iter().any(|a| a.ty == ty);
    if copy_source(obj).is_some() && (named(CKA_KEYWARD_STATE) || named(CKA_KEYWARD_ROTATION_PERIOD)) {
        return Err(Error::new(
            CKR_ATTRIBUTE_READ_ONLY,
            "a copy follows the lifecycle of the key version it was copied from",
        ));
    }
    if named(CKA_KEYWARD_STATE) {
        let new = map_ulong(attrs, CKA_KEYWARD_STATE).unwrap_or(0);
        if !matches!(new, KEYWARD_STATE_ENABLED | KEYWARD_STATE_DISABLED) {
            return Err(Error::new(
                CKR_ATTRIBUTE_VALUE_INVALID,
                "CKA_KEYWARD_STATE can be set to ENABLED or DISABLED (delete with C_DestroyObject)",
            ));
        }
        if state_of(obj) == KEYWARD_STATE_PENDING_DELETION {
            return Err(Error::new(CKR_ACTION_PROHIBITED, "the key is pending deletion: restore it first"));
        }
    }
    if named(CKA_KEYWARD_TAGS) {
        let v = attrs.get(&CKA_KEYWARD_TAGS).cloned().unwrap_or_default();
        attrs.insert(CKA_KEYWARD_TAGS, format_tags(&parse_tags(&v)?));
    }
    if named(CKA_KEYWARD_ROTATION_PERIOD) {
        let period = map_ulong(attrs, CKA_KEYWARD_ROTATION_PERIOD).unwrap_or(0);
        if period > 0 && obj.ulong(CKA_KEYWARD_ORIGIN) != Some(KEYWARD_ORIGIN_GENERATED) {
            return Err(Error::new(
                CKR_ATTRIBUTE_VALUE_INVALID,
                "automatic rotation needs a key generated in the token (this one was imported)",
            ));
        }
        let next = if period > 0 && is_primary(obj) { now.saturating_add(period as i64) } else { 0 };
        attrs.insert(CKA_KEYWARD_NEXT_ROTATION, time_bytes(next));
    }
    Ok(())
}

/// Binds a copy (C_CopyObject) to its source: the copy keeps the source's
/// key identity and version attributes and names the token version it
/// came from in [`CKA_KEYWARD_COPY_OF`] (a copy of a copy names the
/// original), so it obeys that version's state, never becomes primary and
/// dies with its purge. A copy of a session key is an independent key (a
/// session key has no lifecycle to follow) with an identity of its own. A
/// version pending deletion cannot be copied.
pub fn bind_copy(attrs: &mut BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>, source: &Object, now: i64) -> Result<()> {
    if !source.is_key() {
        return Ok(());
    }
    if state_of(source) == KEYWARD_STATE_PENDING_DELETION {
        return Err(Error::new(CKR_KEY_FUNCTION_NOT_PERMITTED, "a key version pending deletion cannot be copied"));
    }
    let origin = copy_source(source).or(source.token.then_some(source.handle));
    match origin {
        Some(h) => {
            attrs.insert(CKA_KEYWARD_COPY_OF, ulong_bytes(h as CK_ULONG));
        }
        None => {
            attrs.insert(CKA_KEYWARD_KEY_ID, new_key_id()?);
            attrs.insert(CKA_KEYWARD_CREATED, time_bytes(now));
        }
    }
    // A copy is not scheduled for anything of its own.
    if attrs.contains_key(&CKA_KEYWARD_NEXT_ROTATION) {
        attrs.insert(CKA_KEYWARD_NEXT_ROTATION, ulong_bytes(0));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_range() {
        assert!(is_keyward(CKA_KEYWARD_VERSION));
        assert!(is_keyward(CKA_KEYWARD_PRIOR_STATE));
        assert!(!is_keyward(CKA_LABEL));
        assert!(!is_keyward(CKA_VENDOR_DEFINED | 1));
        assert_eq!(CKA_KEYWARD_VERSION, 0x8000_0000 | 0x4B57_0001);
    }

    /// include/keyward.h publishes exactly the crate's values.
    #[test]
    fn header_matches_constants() {
        let header = include_str!("../../include/keyward.h");
        let mut seen = BTreeMap::new();
        for line in header.lines().filter_map(|l| l.strip_prefix("#define ")) {
            let mut parts = line.splitn(2, char::is_whitespace);
            let (Some(name), Some(expr)) = (parts.next(), parts.next()) else { continue };
            let expr: String = expr.chars().filter(|c| !c.is_whitespace() && !"()".contains(*c)).collect();
            let num = |t: &str| -> CK_ULONG {
                let t = t.trim_end_matches("UL");
                match t.strip_prefix("0x") {
                    Some(h) => CK_ULONG::from_str_radix(h, 16).unwrap(),
                    None => t.parse().unwrap(),
                }
            };
            let v = match expr.split_once('|') {
                Some(("CKA_VENDOR_DEFINED", n)) => CKA_VENDOR_DEFINED | num(n),
                Some(("CKM_VENDOR_DEFINED", n)) => CKM_VENDOR_DEFINED | num(n),
                Some(_) => panic!("unexpected expression {expr}"),
                None if name == "KEYWARD_H" => continue,
                None => num(&expr),
            };
            seen.insert(name.to_string(), v);
        }
        for (name, v) in PUBLISHED {
            assert_eq!(seen.remove(*name), Some(*v), "{name} in include/keyward.h");
        }
        assert_eq!(seen.remove("KEYWARD_VENDOR_BASE"), Some(KEYWARD_VENDOR_BASE));
        assert_eq!(seen.remove("KEYWARD_AES_GCM_OVERHEAD"), Some(KEYWARD_AES_GCM_OVERHEAD as CK_ULONG));
        assert!(seen.is_empty(), "header defines values the crate does not: {seen:?}");
    }

    #[test]
    fn tags_parse_format_match() {
        let t = parse_tags(b"team=pay, env=prod\nenv=staging").unwrap();
        assert_eq!(format_tags(&t), b"env=staging,team=pay");
        assert!(parse_tags(b"novalue").is_err());
        assert!(parse_tags(b"bad key=1").is_err());
        assert!(parse_tags(b"").unwrap().is_empty());
        assert!(tags_match(Some(b"env=prod,team=pay"), b"team=pay"));
        assert!(tags_match(Some(b"env=prod,team=pay"), b"team=pay,env=prod"));
        assert!(!tags_match(Some(b"env=prod"), b"env=staging"));
        assert!(!tags_match(None, b"env=prod"));
        assert!(tags_match(None, b""));
    }

    #[test]
    fn stamping() {
        let mut m = AttrMap::default();
        m.insert_ulong(CKA_KEYWARD_ROTATION_PERIOD, 86_400);
        stamp_new(&mut m, SECRET, Origin::Generate(CKM_AES_KEY_GEN), 1_000).unwrap();
        assert_eq!(m.ulong(CKA_KEYWARD_NEXT_ROTATION), Some(87_400));
        assert_eq!(m.ulong(CKA_KEYWARD_ORIGIN), Some(KEYWARD_ORIGIN_GENERATED));
        assert!(m.flag(CKA_KEYWARD_PRIMARY));
        let mut m = AttrMap::default();
        m.insert_ulong(CKA_KEYWARD_ROTATION_PERIOD, 86_400);
        let e = stamp_new(&mut m, SECRET, Origin::Create, 1_000).unwrap_err();
        assert_eq!(e.rv(), CKR_TEMPLATE_INCONSISTENT);
        let mut m = AttrMap::default();
        m.insert_ulong(CKA_KEYWARD_STATE, KEYWARD_STATE_PENDING_DELETION);
        assert!(stamp_new(&mut m, SECRET, Origin::Create, 1).is_err());
    }
}
