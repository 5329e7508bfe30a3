//! The CKO_PROFILE objects (PKCS#11 3.0 §4.13): which profiles of the
//! PKCS#11 Profiles specification keyward claims to meet, as read-only,
//! public token objects every session sees (C_FindObjects with
//! CKA_CLASS = CKO_PROFILE, C_GetAttributeValue of CKA_PROFILE_ID).
//!
//! A search lists them only when its template names CKA_CLASS =
//! CKO_PROFILE: an empty template does not (clients that destroy every
//! object they find, or count their own, keep working).
//!
//! They are built here, not stored: no row, no sealing, not destroyable,
//! not modifiable, not copyable, not creatable (C_CreateObject refuses the
//! class), and not keys, so the KMS inventory never counts them. Their
//! handles sit just below the session-object range, where no store row id
//! reaches.
//!
//! Claimed, and why:
//! - CKP_BASELINE_PROVIDER: the baseline "provider" (a software module
//!   offering cryptography to applications) profile's functions are all
//!   implemented: initialization and slot/token information, sessions and
//!   login, object search and attribute reads, and single- and multi-part
//!   encrypt/decrypt, digest and sign/verify with existing keys (RSA,
//!   ECDSA, AES, HMAC).
//! - CKP_EXTENDED_PROVIDER: baseline plus object management and key
//!   generation: C_CreateObject/C_CopyObject/C_DestroyObject,
//!   C_SetAttributeValue, C_GenerateKey(Pair), C_WrapKey/C_UnwrapKey,
//!   C_DeriveKey (ECDH), C_GenerateRandom.
//!
//! Not claimed: CKP_AUTHENTICATION_TOKEN and CKP_PUBLIC_CERTIFICATES_TOKEN
//! describe smart-card-like tokens provisioned with certificates, which a
//! fresh keyward token is not; CKP_COMPLETE_PROVIDER needs every function
//! (keyward answers CKR_FUNCTION_NOT_SUPPORTED for, e.g., message
//! sign/verify and the dual-function calls); CKP_HKDF_TLS_TOKEN needs the
//! HKDF mechanisms.

use super::{AttrMap, Integrity, Object, rules};
use crate::ck::*;
use crate::types::Handle;
use std::sync::{Arc, OnceLock};

/// The profiles claimed (see the module doc).
pub const CLAIMED: &[CK_PROFILE_ID] = &[CKP_BASELINE_PROVIDER, CKP_EXTENDED_PROVIDER];

/// The handle of the first profile object (the next ones follow).
pub const FIRST_HANDLE: Handle = 0x7fff_ff00;

fn build(handle: Handle, id: CK_PROFILE_ID) -> Object {
    let uid = format!("keyward-profile-{id}");
    let ul = |v: CK_ULONG| v.to_ne_bytes().to_vec();
    let pairs: Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)> = vec![
        (CKA_CLASS, ul(CKO_PROFILE)),
        (CKA_TOKEN, vec![CK_TRUE]),
        (CKA_PRIVATE, vec![CK_FALSE]),
        (CKA_MODIFIABLE, vec![CK_FALSE]),
        (CKA_COPYABLE, vec![CK_FALSE]),
        (CKA_DESTROYABLE, vec![CK_FALSE]),
        (CKA_LABEL, Vec::new()),
        (CKA_UNIQUE_ID, uid.clone().into_bytes()),
        (CKA_PROFILE_ID, ul(id)),
    ];
    let mut attrs = AttrMap::from_pairs(pairs.iter().map(|(t, v)| (*t, v.as_slice())));
    attrs.compact();
    Object {
        handle,
        uid,
        kind: rules::PROFILE,
        class: CKO_PROFILE,
        key_type: None,
        token: true,
        private: false,
        owner: None,
        attrs,
        secrets: Box::new([]),
        material: std::sync::RwLock::new(None),
        issued_in: std::sync::atomic::AtomicU64::new(0),
        unrestricted: false,
        dek_sealed: false,
        integrity: Integrity::Verified,
    }
}

/// Every profile object, in handle order.
pub fn all() -> &'static [Arc<Object>] {
    static ALL: OnceLock<Vec<Arc<Object>>> = OnceLock::new();
    ALL.get_or_init(|| {
        CLAIMED.iter().enumerate().map(|(i, id)| Arc::new(build(FIRST_HANDLE + i as Handle, *id))).collect()
    })
}

/// Whether a search template names CKA_CLASS = CKO_PROFILE (the only
/// searches that list profile objects).
pub fn asked_for(t: &[crate::types::Attr]) -> bool {
    t.iter().any(|a| a.ty == CKA_CLASS && super::ulong(&a.value) == Some(CKO_PROFILE))
}

/// The profile object with handle `h`, if it is one.
pub fn lookup(h: Handle) -> Option<&'static Arc<Object>> {
    let i = h.checked_sub(FIRST_HANDLE)?;
    all().get(usize::try_from(i).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_objects() {
        assert_eq!(all().len(), CLAIMED.len());
        let p = lookup(FIRST_HANDLE + 1).unwrap();
        assert_eq!(p.ulong(CKA_PROFILE_ID), Some(CKP_EXTENDED_PROVIDER));
        assert_eq!(p.class, CKO_PROFILE);
        assert!(!p.is_key() && !p.private && p.token);
        assert!(lookup(FIRST_HANDLE + 2).is_none() && lookup(1).is_none());
        assert!(p.matches(&[crate::types::Attr::ulong(CKA_CLASS, CKO_PROFILE)]));
    }
}
