//! The PKCS#3 Diffie-Hellman mechanisms (legacy, behind `[policy]
//! allow_dh`): CKM_DH_PKCS_DERIVE, whose parameter is the other party's
//! public value (big-endian bytes), checked 1 < y < p - 1
//! (`CKR_MECHANISM_PARAM_INVALID` otherwise); the result is g^xy mod p
//! left-padded to the length of p, which the token cuts to the derived
//! key's length. Key-pair and parameter generation are the token's
//! (`token::legacy`). Key sizes in `MECHANISMS` are bits of p.

use crate::ck::*;
use crate::crypto::dh::DhPrivate;
use crate::err;
use crate::error::{Error, Result};
use crate::types::{MechParam, Mechanism};
use zeroize::Zeroizing;

/// The registry lines: (type, min, max bits of p, flags).
pub static MECHANISMS: &[(CK_MECHANISM_TYPE, CK_ULONG, CK_ULONG, CK_FLAGS)] = &[
    (CKM_DH_PKCS_PARAMETER_GEN, 1024, 2048, CKF_GENERATE),
    (CKM_DH_PKCS_KEY_PAIR_GEN, 1024, 8192, CKF_GENERATE_KEY_PAIR),
    (CKM_DH_PKCS_DERIVE, 1024, 8192, CKF_DERIVE),
];

/// CKM_DH_PKCS_DERIVE with `key`: the shared secret.
pub fn derive(mech: &Mechanism, key: &DhPrivate) -> Result<Zeroizing<Vec<u8>>> {
    if mech.ty != CKM_DH_PKCS_DERIVE {
        return Err(err!(CKR_MECHANISM_INVALID, "mechanism 0x{:x} is not a DH derivation", mech.ty));
    }
    let MechParam::Bytes(y) = &mech.param else {
        return Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "CKM_DH_PKCS_DERIVE needs the peer's public value"));
    };
    key.derive(y)
        .map_err(|_| Error::new(CKR_MECHANISM_PARAM_INVALID, "the peer's public value is out of range (1 < y < p - 1)"))
}
