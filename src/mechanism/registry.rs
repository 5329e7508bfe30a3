//! The mechanism registry: every mechanism keyward offers, with its
//! CK_MECHANISM_INFO, as one static table.
//!
//! Key sizes are in the spec's unit for each mechanism: bytes for AES,
//! bits for generic secrets (PKCS#11 "Generic secret key generation": min/max
//! in bits), RSA and EC; each mechanism's section of the spec names the unit.
//! To add a mechanism (RSA, EC, HMAC ...), add one line to `TABLE` and the
//! operation in its module; the token layer checks the entry's flags before
//! building an operation.

use crate::ck::*;
use crate::err;
use crate::error::Result;
use crate::types::MechanismInfo;

/// One mechanism and what it can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub ty: CK_MECHANISM_TYPE,
    pub info: MechanismInfo,
}

impl Entry {
    /// The CKF_* flags (CKF_ENCRYPT, CKF_SIGN, CKF_WRAP, CKF_GENERATE, ...).
    pub const fn flags(&self) -> CK_FLAGS {
        self.info.flags
    }

    /// Whether the mechanism can do every function in `flag`.
    pub const fn supports(&self, flag: CK_FLAGS) -> bool {
        self.info.flags & flag == flag
    }
}

const fn m(ty: CK_MECHANISM_TYPE, min_key_size: CK_ULONG, max_key_size: CK_ULONG, flags: CK_FLAGS) -> Entry {
    Entry { ty, info: MechanismInfo { min_key_size, max_key_size, flags } }
}

pub use crate::ck::CKM_KEYWARD_AES_GCM;

const ENC_DEC: CK_FLAGS = CKF_ENCRYPT | CKF_DECRYPT;
/// The PKCS#11 3.0 message-based encryption and decryption.
const MESSAGE: CK_FLAGS = CKF_MESSAGE_ENCRYPT | CKF_MESSAGE_DECRYPT | CKF_MULTI_MESSAGE;
const ENC_DEC_WRAP: CK_FLAGS = CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP;

/// Every mechanism, in the order C_GetMechanismList reports them.
static BASE: &[Entry] = &[
    // Key generation.
    m(CKM_AES_KEY_GEN, 16, 32, CKF_GENERATE),
    m(CKM_GENERIC_SECRET_KEY_GEN, 8, 4096, CKF_GENERATE), // bits: 1..=512 bytes
    // The PKCS#11 3.0 HMAC key generations (CKK_SHA*_HMAC keys), in bits
    // like the generic secrets they replace: 1..=512 bytes.
    m(CKM_SHA_1_KEY_GEN, 8, 4096, CKF_GENERATE),
    m(CKM_SHA224_KEY_GEN, 8, 4096, CKF_GENERATE),
    m(CKM_SHA256_KEY_GEN, 8, 4096, CKF_GENERATE),
    m(CKM_SHA384_KEY_GEN, 8, 4096, CKF_GENERATE),
    m(CKM_SHA512_KEY_GEN, 8, 4096, CKF_GENERATE),
    // AES (key sizes in bytes).
    m(CKM_AES_ECB, 16, 32, ENC_DEC),
    m(CKM_AES_CBC, 16, 32, ENC_DEC),
    m(CKM_AES_CBC_PAD, 16, 32, ENC_DEC_WRAP),
    m(CKM_AES_CTR, 16, 32, ENC_DEC),
    // Unwrap only: a caller-chosen GCM IV repeated under one wrapping key
    // gives away the XOR of two wrapped keys (see `mechanism::aes::wrap`).
    // The message-based API too (C_MessageEncryptInit ..., `mechanism::message`).
    m(CKM_AES_GCM, 16, 32, ENC_DEC | CKF_UNWRAP | MESSAGE),
    m(CKM_AES_KEY_WRAP, 16, 32, ENC_DEC_WRAP),
    m(CKM_AES_KEY_WRAP_KWP, 16, 32, ENC_DEC_WRAP),
    m(CKM_AES_KEY_WRAP_PAD, 16, 32, ENC_DEC_WRAP), // = RFC 5649, as SoftHSM and OpenSC
    // keyward's version-aware AES-GCM envelope (src/kms/envelope.rs).
    m(CKM_KEYWARD_AES_GCM, 16, 32, ENC_DEC),
    // Digests.
    m(CKM_SHA_1, 0, 0, CKF_DIGEST),
    m(CKM_SHA224, 0, 0, CKF_DIGEST),
    m(CKM_SHA256, 0, 0, CKF_DIGEST),
    m(CKM_SHA384, 0, 0, CKF_DIGEST),
    m(CKM_SHA512, 0, 0, CKF_DIGEST),
];

/// The whole registry: the symmetric table above plus the RSA, EC, HMAC and
/// AES-CMAC tables their mechanism files publish (one line per mechanism).
fn table() -> &'static [Entry] {
    static TABLE: std::sync::OnceLock<Vec<Entry>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = BASE.to_vec();
        for part in [
            super::rsa::KEYGEN_MECHANISMS,
            super::rsa::MECHANISMS,
            super::ec::KEYGEN_MECHANISMS,
            super::ec::MECHANISMS,
            super::okp::MECHANISMS,
            super::pq::MECHANISMS,
            super::hmac::MECHANISMS,
            super::cmac::MECHANISMS,
            // ChaCha20-Poly1305 (`mechanism::chacha`).
            super::chacha::MECHANISMS,
            // SHA-3 and MD5 digests; AES-MAC.
            super::digest::MECHANISMS,
            super::aes_mac::MECHANISMS,
            // Key derivation over secret keys (mechanism::kdf).
            super::kdf::MECHANISMS,
            // Legacy: DES/3DES, DSA, PKCS#3 DH.
            super::des::MECHANISMS,
            super::dsa::MECHANISMS,
            super::dh::MECHANISMS,
        ] {
            t.extend(part.iter().map(|(ty, min, max, flags)| m(*ty, *min, *max, *flags)));
        }
        // Sorted: every C_*Init looks its mechanism up by binary search.
        t.sort_by_key(|e| e.ty);
        t
    })
}

/// The mechanism types in ascending order, for C_GetMechanismList.
pub fn list() -> Vec<CK_MECHANISM_TYPE> {
    table().iter().map(|e| e.ty).collect()
}

/// The entry of `ty`, if keyward offers it.
pub fn lookup(ty: CK_MECHANISM_TYPE) -> Option<&'static Entry> {
    let t = table();
    t.binary_search_by_key(&ty, |e| e.ty).ok().and_then(|i| t.get(i))
}

/// C_GetMechanismInfo: `CKR_MECHANISM_INVALID` for an unknown mechanism.
pub fn info(ty: CK_MECHANISM_TYPE) -> Result<MechanismInfo> {
    lookup(ty).map(|e| e.info).ok_or_else(|| err!(CKR_MECHANISM_INVALID, "mechanism 0x{ty:x} not supported"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        let l = list();
        let mut sorted = l.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), l.len(), "duplicate mechanism in TABLE");
        for e in table() {
            assert!(lookup(e.ty).is_some_and(|f| std::ptr::eq(f, e)), "lookup of 0x{:x}", e.ty);
            assert!(e.info.min_key_size <= e.info.max_key_size);
            assert_ne!(e.info.flags, 0);
        }
        assert!(lookup(CKM_AES_GCM).unwrap().supports(CKF_ENCRYPT | CKF_UNWRAP));
        assert!(!lookup(CKM_AES_GCM).unwrap().supports(CKF_WRAP));
        assert!(!lookup(CKM_AES_ECB).unwrap().supports(CKF_WRAP));
        assert_eq!(info(CKM_SHA256).unwrap().flags, CKF_DIGEST);
        assert_eq!(info(CKM_AES_CMAC).unwrap().flags, CKF_SIGN | CKF_VERIFY);
        assert_eq!(
            (info(CKM_AES_CMAC_GENERAL).unwrap().min_key_size, info(CKM_AES_CMAC_GENERAL).unwrap().max_key_size),
            (16, 32)
        );
        for g in [CKM_SHA_1_KEY_GEN, CKM_SHA224_KEY_GEN, CKM_SHA256_KEY_GEN, CKM_SHA384_KEY_GEN, CKM_SHA512_KEY_GEN] {
            assert_eq!(info(g).unwrap().flags, CKF_GENERATE);
        }
        // SHA-3, MD5 and AES-MAC.
        for d in [CKM_SHA3_224, CKM_SHA3_256, CKM_SHA3_384, CKM_SHA3_512, CKM_MD5] {
            assert_eq!(info(d).unwrap().flags, CKF_DIGEST);
        }
        for g in [CKM_SHA3_224_KEY_GEN, CKM_SHA3_256_KEY_GEN, CKM_SHA3_384_KEY_GEN, CKM_SHA3_512_KEY_GEN] {
            assert_eq!(info(g).unwrap().flags, CKF_GENERATE);
        }
        for s in [CKM_SHA3_256_HMAC, CKM_MD5_HMAC_GENERAL, CKM_SHA3_512_RSA_PKCS_PSS, CKM_MD5_RSA_PKCS, CKM_AES_MAC] {
            assert!(lookup(s).unwrap().supports(CKF_SIGN | CKF_VERIFY), "0x{s:x}");
        }
        assert!(lookup(CKM_ECDSA_SHA3_384).unwrap().supports(CKF_SIGN | CKF_VERIFY | CKF_EC_NAMEDCURVE));
        assert_eq!(info(0xdead_beef).unwrap_err().rv(), CKR_MECHANISM_INVALID);
        // Legacy: 3DES wraps (sizes in bytes), DSA signs, DH derives (bits of p);
        // single DES is not offered.
        assert!(lookup(CKM_DES3_CBC_PAD).unwrap().supports(CKF_ENCRYPT | CKF_WRAP | CKF_UNWRAP));
        assert_eq!(
            (info(CKM_DES3_KEY_GEN).unwrap().min_key_size, info(CKM_DES2_KEY_GEN).unwrap().max_key_size),
            (24, 16)
        );
        assert_eq!(info(CKM_DSA_SHA256).unwrap().flags, CKF_SIGN | CKF_VERIFY);
        assert_eq!(info(CKM_DH_PKCS_DERIVE).unwrap().flags, CKF_DERIVE);
        assert!(lookup(CKM_DES_ECB).is_none() && lookup(CKM_DES_KEY_GEN).is_none());
    }
}
