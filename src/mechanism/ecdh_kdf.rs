//! The KDFs of CK_ECDH1_DERIVE_PARAMS (CKM_ECDH1_DERIVE and
//! CKM_ECDH1_COFACTOR_DERIVE on EC and X25519 keys): the one table from
//! `CKD_*` to a construction and hash of `crypto::ecdh_kdf`, and the
//! parameter rules. A new hash is one line in [`KDFS`] (SHA-1, SHA-2 and SHA-3).
//!
//! - CKD_NULL: the raw shared secret; shared data must be empty.
//! - CKD_SHA*_KDF: ANSI X9.63 with `pSharedData` as SharedInfo.
//! - CKD_SHA*_KDF_SP800: SP 800-56C one-step, `pSharedData` as FixedInfo.
//!
//! An unknown KDF, or shared data with CKD_NULL, is
//! `CKR_MECHANISM_PARAM_INVALID` (a NULL pointer with a non-zero length
//! is refused the same way by the ABI).

use crate::ck::*;
use crate::crypto::digest::Algorithm;
use crate::crypto::ecdh_kdf::{self, Kdf};
use crate::err;
use crate::error::{Error, Result};
use crate::types::{MechParam, Mechanism};
use zeroize::Zeroizing;

/// `CKD_*` -> (construction, hash).
const KDFS: &[(CK_EC_KDF_TYPE, Kdf, Algorithm)] = &[
    (CKD_SHA1_KDF, Kdf::X963, Algorithm::Sha1),
    (CKD_SHA224_KDF, Kdf::X963, Algorithm::Sha224),
    (CKD_SHA256_KDF, Kdf::X963, Algorithm::Sha256),
    (CKD_SHA384_KDF, Kdf::X963, Algorithm::Sha384),
    (CKD_SHA512_KDF, Kdf::X963, Algorithm::Sha512),
    (CKD_SHA1_KDF_SP800, Kdf::Sp800_56c, Algorithm::Sha1),
    (CKD_SHA224_KDF_SP800, Kdf::Sp800_56c, Algorithm::Sha224),
    (CKD_SHA256_KDF_SP800, Kdf::Sp800_56c, Algorithm::Sha256),
    (CKD_SHA384_KDF_SP800, Kdf::Sp800_56c, Algorithm::Sha384),
    (CKD_SHA512_KDF_SP800, Kdf::Sp800_56c, Algorithm::Sha512),
    (CKD_SHA3_224_KDF, Kdf::X963, Algorithm::Sha3_224),
    (CKD_SHA3_256_KDF, Kdf::X963, Algorithm::Sha3_256),
    (CKD_SHA3_384_KDF, Kdf::X963, Algorithm::Sha3_384),
    (CKD_SHA3_512_KDF, Kdf::X963, Algorithm::Sha3_512),
    (CKD_SHA3_224_KDF_SP800, Kdf::Sp800_56c, Algorithm::Sha3_224),
    (CKD_SHA3_256_KDF_SP800, Kdf::Sp800_56c, Algorithm::Sha3_256),
    (CKD_SHA3_384_KDF_SP800, Kdf::Sp800_56c, Algorithm::Sha3_384),
    (CKD_SHA3_512_KDF_SP800, Kdf::Sp800_56c, Algorithm::Sha3_512),
];

/// CKM_ECDH1_DERIVE / CKM_ECDH1_COFACTOR_DERIVE (EC and X25519 keys):
/// checks the mechanism and its CK_ECDH1_DERIVE_PARAMS (the KDF and shared
/// data before any computation), has `agree` make the raw shared secret
/// from the peer's public data (its errors are the key type's), and
/// applies the KDF: with CKD_NULL the raw secret (truncating it to the new
/// key's length is the caller's job), with a hash KDF `want` bytes.
pub fn derive(
    mech: &Mechanism,
    want: Option<usize>,
    agree: impl FnOnce(&[u8]) -> Result<Zeroizing<Vec<u8>>>,
) -> Result<Zeroizing<Vec<u8>>> {
    check_mechanism(mech)?;
    let MechParam::Ecdh { kdf, shared_data, public_data } = &mech.param else {
        return Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "ECDH needs CK_ECDH1_DERIVE_PARAMS"));
    };
    check(*kdf, shared_data)?;
    let z = agree(public_data)?;
    apply(*kdf, shared_data, z, want)
}

/// Whether `mech` is an ECDH derivation at all.
pub fn check_mechanism(mech: &Mechanism) -> Result<()> {
    if mech.ty != CKM_ECDH1_DERIVE && mech.ty != CKM_ECDH1_COFACTOR_DERIVE {
        return Err(err!(CKR_MECHANISM_INVALID, "mechanism 0x{:x} is not an ECDH derivation", mech.ty));
    }
    Ok(())
}

/// Checks the KDF and shared data before any computation.
pub fn check(kdf: CK_EC_KDF_TYPE, shared_data: &[u8]) -> Result<()> {
    if kdf == CKD_NULL {
        if !shared_data.is_empty() {
            return Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "ECDH with CKD_NULL takes no shared data"));
        }
        return Ok(());
    }
    if KDFS.iter().any(|(k, _, _)| *k == kdf) {
        Ok(())
    } else {
        Err(err!(CKR_MECHANISM_PARAM_INVALID, "ECDH kdf 0x{kdf:x} not supported"))
    }
}

/// Applies the KDF to the shared secret `z`. CKD_NULL returns `z` (the
/// token truncates it to the key length); a hash KDF returns `want` bytes,
/// or one hash output when the template gives no length.
pub fn apply(
    kdf: CK_EC_KDF_TYPE,
    shared_data: &[u8],
    z: Zeroizing<Vec<u8>>,
    want: Option<usize>,
) -> Result<Zeroizing<Vec<u8>>> {
    check(kdf, shared_data)?;
    if kdf == CKD_NULL {
        return Ok(z);
    }
    let (_, construction, alg) = KDFS
        .iter()
        .find(|(k, _, _)| *k == kdf)
        .ok_or_else(|| err!(CKR_MECHANISM_PARAM_INVALID, "ECDH kdf 0x{kdf:x} not supported"))?;
    let len = want.unwrap_or_else(|| alg.output_len());
    ecdh_kdf::derive(*construction, *alg, &z, shared_data, len)
        .map_err(|_| err!(CKR_KEY_SIZE_RANGE, "ECDH KDF cannot derive {len} bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rv<T>(r: Result<T>) -> CK_RV {
        r.err().map(|e| e.rv()).unwrap_or(CKR_OK)
    }

    #[test]
    fn params() {
        let z = || Zeroizing::new(vec![7u8; 32]);
        assert_eq!(&apply(CKD_NULL, b"", z(), Some(16)).unwrap()[..], &[7u8; 32]);
        assert_eq!(rv(apply(CKD_NULL, b"x", z(), None)), CKR_MECHANISM_PARAM_INVALID);
        for bad in [0, CKD_SHA1_KDF_ASN1, CKD_SHA1_KDF_CONCATENATE, CKD_CPDIVERSIFY_KDF, 0x8000_0000, 99] {
            assert_eq!(rv(apply(bad, b"", z(), Some(16))), CKR_MECHANISM_PARAM_INVALID, "kdf {bad}");
        }
        for (k, _, alg) in KDFS {
            assert_eq!(apply(*k, b"info", z(), Some(40)).unwrap().len(), 40);
            assert_eq!(apply(*k, b"", z(), None).unwrap().len(), alg.output_len());
        }
        assert_eq!(rv(apply(CKD_SHA256_KDF, b"", z(), Some(ecdh_kdf::MAX_LEN + 1))), CKR_KEY_SIZE_RANGE);
        // X9.63 with SHA-256 over this Z: the crypto layer's construction.
        let want = ecdh_kdf::derive(Kdf::X963, Algorithm::Sha256, &z(), b"si", 20).unwrap();
        assert_eq!(apply(CKD_SHA256_KDF, b"si", z(), Some(20)).unwrap(), want);
    }

    /// The SHA-3 lines, against pyca/cryptography 46 (OpenSSL): X963KDF and
    /// ConcatKDFHash (= SP 800-56C one-step) over the same Z and info.
    #[test]
    fn sha3_kdfs_match_an_independent_implementation() {
        let z = || Zeroizing::new(vec![7u8; 32]);
        let x963 = apply(CKD_SHA3_256_KDF, b"info", z(), Some(40)).unwrap();
        assert_eq!(
            hex::encode(&x963[..]),
            "5ec4de977cf03037a286a12ce7e00e9a4bbfdcc6ea58e5a9a8b1b4ffd1ade696d146889c5417af5b"
        );
        let one_step = apply(CKD_SHA3_512_KDF_SP800, b"info", z(), Some(40)).unwrap();
        assert_eq!(
            hex::encode(&one_step[..]),
            "7fa75a8ccef58bb1d16bf8057db72cd1be3205158951eb6ee772aa00b43e3379eef6da50bbfde4dc"
        );
    }
}
