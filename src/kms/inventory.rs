//! What the CLI and inventory show of a key ([`KeyInfo`], [`VersionInfo`]):
//! data built from the cached objects, never text for humans (the binary
//! formats it).
//!
//! Owns: the report's fields and their derivation (algorithm names, sizes,
//! states, dates). Must not touch: any lifecycle change, the store.
#![allow(clippy::unnecessary_cast)] // CK_ULONG is not u64 on every platform

use super::attrs::*;
use super::{KeyName, clock};
use crate::ck::*;
use crate::object::Object;
use crate::object::template;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

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

pub(crate) fn ec_curve_name(params: &[u8]) -> &'static str {
    match params {
        [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07] => "p256",
        [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22] => "p384",
        [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x21] => "p224",
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
                "p224" => 224,
                "p384" => 384,
                "p521" => 521,
                "unknown" => 0,
                _ => 256,
            };
            (format!("ec-{c}"), bits)
        }
        Some(CKK_EC_EDWARDS) => ("ed25519".into(), 255),
        // PKCS#11 3.2 post-quantum keys: the parameter set names the
        // algorithm; BITS is the NIST security category's classical
        // equivalent (128/192/256).
        Some(CKK_ML_DSA) | Some(CKK_ML_KEM) => match (o.key_type, o.ulong(CKA_PARAMETER_SET)) {
            (Some(CKK_ML_DSA), Some(CKP_ML_DSA_44)) => ("ml-dsa-44".into(), 128),
            (Some(CKK_ML_DSA), Some(CKP_ML_DSA_65)) => ("ml-dsa-65".into(), 192),
            (Some(CKK_ML_DSA), Some(CKP_ML_DSA_87)) => ("ml-dsa-87".into(), 256),
            (Some(CKK_ML_KEM), Some(CKP_ML_KEM_512)) => ("ml-kem-512".into(), 128),
            (Some(CKK_ML_KEM), Some(CKP_ML_KEM_768)) => ("ml-kem-768".into(), 192),
            (Some(CKK_ML_KEM), Some(CKP_ML_KEM_1024)) => ("ml-kem-1024".into(), 256),
            (Some(CKK_ML_DSA), _) => ("ml-dsa".into(), 0),
            _ => ("ml-kem".into(), 0),
        },
        Some(CKK_EC_MONTGOMERY) => ("x25519".into(), 255),
        Some(CKK_CHACHA20) => ("chacha20".into(), 256),
        Some(CKK_GENERIC_SECRET) => ("generic-secret".into(), o.ulong(CKA_VALUE_LEN).unwrap_or(0) as u64 * 8),
        Some(CKK_SHA_1_HMAC) => ("hmac-sha1".into(), o.ulong(CKA_VALUE_LEN).unwrap_or(0) as u64 * 8),
        Some(CKK_SHA224_HMAC) => ("hmac-sha224".into(), o.ulong(CKA_VALUE_LEN).unwrap_or(0) as u64 * 8),
        Some(CKK_SHA256_HMAC) => ("hmac-sha256".into(), o.ulong(CKA_VALUE_LEN).unwrap_or(0) as u64 * 8),
        Some(CKK_SHA384_HMAC) => ("hmac-sha384".into(), o.ulong(CKA_VALUE_LEN).unwrap_or(0) as u64 * 8),
        Some(CKK_SHA512_HMAC) => ("hmac-sha512".into(), o.ulong(CKA_VALUE_LEN).unwrap_or(0) as u64 * 8),
        Some(CKK_SHA3_224_HMAC) => ("hmac-sha3-224".into(), o.ulong(CKA_VALUE_LEN).unwrap_or(0) as u64 * 8),
        Some(CKK_SHA3_256_HMAC) => ("hmac-sha3-256".into(), o.ulong(CKA_VALUE_LEN).unwrap_or(0) as u64 * 8),
        Some(CKK_SHA3_384_HMAC) => ("hmac-sha3-384".into(), o.ulong(CKA_VALUE_LEN).unwrap_or(0) as u64 * 8),
        Some(CKK_SHA3_512_HMAC) => ("hmac-sha3-512".into(), o.ulong(CKA_VALUE_LEN).unwrap_or(0) as u64 * 8),
        // Legacy: 3DES (112/168 effective key bits counted as stored: 128/192), DSA and DH by p.
        Some(CKK_DES) => ("des".into(), 64),
        Some(CKK_DES2) => ("des2".into(), 128),
        Some(CKK_DES3) => ("des3".into(), 192),
        Some(kt @ (CKK_DSA | CKK_DH)) => (
            if kt == CKK_DSA { "dsa" } else { "dh" }.into(),
            o.get(CKA_PRIME).map_or(0, |p| template::modulus_bits(p) as u64),
        ),
        Some(kt) => (format!("key-type-0x{kt:x}"), o.ulong(CKA_VALUE_LEN).unwrap_or(0) as u64 * 8),
        None => ("none".into(), 0),
    }
}

pub(crate) fn class_word(c: CK_OBJECT_CLASS) -> &'static str {
    match c {
        CKO_SECRET_KEY => "secret",
        CKO_PRIVATE_KEY => "private",
        CKO_PUBLIC_KEY => "public",
        _ => "other",
    }
}

pub(crate) fn key_info(name: &KeyName, objs: &[Arc<Object>]) -> KeyInfo {
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
