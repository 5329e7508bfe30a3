//! The key-derivation mechanisms over secret keys, as computations on
//! bytes: the simple ones of PKCS#11 3.0 §2.43 (`simple`), derivation by
//! data encryption (`encrypt_data`), NIST SP 800-108 KBKDF (`sp800_108`)
//! and HKDF (`hkdf`, RFC 5869). Parameters arrive parsed
//! (`types::kdf::KdfParam`); a malformed one is
//! `CKR_MECHANISM_PARAM_INVALID`.
//!
//! What this module does not do: look keys up, check their attributes or
//! lifecycle, build the derived objects or decide their sensitivity: that
//! is `token::derive`, which calls these functions with the base key's bytes.

pub mod encrypt_data;
pub mod hkdf;
pub mod simple;
pub mod sp800_108;

use crate::ck::*;
use crate::err;
use crate::error::Result;
use crate::types::kdf::KdfParam;
use crate::types::{MechParam, Mechanism};

const BITS: (CK_ULONG, CK_ULONG) = (8, 4096);

/// The derivation mechanisms (type, min key size, max key size, flags): key
/// sizes in bits for the generic-secret ones, in bytes for AES (the
/// registry's units).
pub const MECHANISMS: &[(CK_MECHANISM_TYPE, CK_ULONG, CK_ULONG, CK_FLAGS)] = &[
    (CKM_CONCATENATE_BASE_AND_KEY, BITS.0, BITS.1, CKF_DERIVE),
    (CKM_CONCATENATE_BASE_AND_DATA, BITS.0, BITS.1, CKF_DERIVE),
    (CKM_CONCATENATE_DATA_AND_BASE, BITS.0, BITS.1, CKF_DERIVE),
    (CKM_XOR_BASE_AND_DATA, BITS.0, BITS.1, CKF_DERIVE),
    (CKM_EXTRACT_KEY_FROM_KEY, BITS.0, BITS.1, CKF_DERIVE),
    (CKM_AES_ECB_ENCRYPT_DATA, 16, 32, CKF_DERIVE),
    (CKM_AES_CBC_ENCRYPT_DATA, 16, 32, CKF_DERIVE),
    // 3DES (sizes in bytes, as the DES mechanisms'; legacy, `allow_des3`).
    (CKM_DES3_ECB_ENCRYPT_DATA, 16, 24, CKF_DERIVE),
    (CKM_DES3_CBC_ENCRYPT_DATA, 16, 24, CKF_DERIVE),
    (CKM_SP800_108_COUNTER_KDF, BITS.0, BITS.1, CKF_DERIVE),
    (CKM_SP800_108_FEEDBACK_KDF, BITS.0, BITS.1, CKF_DERIVE),
    (CKM_SP800_108_DOUBLE_PIPELINE_KDF, BITS.0, BITS.1, CKF_DERIVE),
    (CKM_HKDF_DERIVE, BITS.0, BITS.1, CKF_DERIVE),
    (CKM_HKDF_DATA, BITS.0, BITS.1, CKF_DERIVE),
    (CKM_HKDF_KEY_GEN, BITS.0, BITS.1, CKF_GENERATE),
];

/// The legacy mechanisms of PKCS#11 §2.43 whose output is the base key's
/// bits rearranged (the `[policy] allow_simple_key_derivation` knob).
pub fn is_simple(ty: CK_MECHANISM_TYPE) -> bool {
    matches!(
        ty,
        CKM_CONCATENATE_BASE_AND_KEY
            | CKM_CONCATENATE_BASE_AND_DATA
            | CKM_CONCATENATE_DATA_AND_BASE
            | CKM_XOR_BASE_AND_DATA
            | CKM_EXTRACT_KEY_FROM_KEY
    )
}

/// Whether `ty` is one of this module's derivations (C_DeriveKey).
pub fn is_kdf(ty: CK_MECHANISM_TYPE) -> bool {
    MECHANISMS.iter().any(|m| m.0 == ty && m.3 & CKF_DERIVE != 0)
}

/// The parsed parameter of a derivation mechanism.
pub fn param(mech: &Mechanism) -> Result<&KdfParam> {
    match &mech.param {
        MechParam::Kdf(k) => Ok(k),
        _ => Err(err!(CKR_MECHANISM_PARAM_INVALID, "mechanism 0x{:x} needs its parameter structure", mech.ty)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_agree_with_the_abi_parser() {
        for (ty, _, _, flags) in MECHANISMS {
            assert_eq!(is_kdf(*ty), flags & CKF_DERIVE != 0, "0x{ty:x}");
        }
        assert!(is_simple(CKM_XOR_BASE_AND_DATA) && !is_simple(CKM_HKDF_DERIVE));
        assert_eq!(param(&Mechanism::new(CKM_HKDF_DERIVE)).err().map(|e| e.rv()), Some(CKR_MECHANISM_PARAM_INVALID));
    }
}
