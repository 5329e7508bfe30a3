//! The digest mechanisms: CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384,
//! CKM_SHA512, CKM_SHA3_224/256/384/512 and CKM_MD5 (legacy; the token's
//! policy may refuse it, `object::policy`), and their saved operation
//! state (`state`: C_GetOperationState / C_SetOperationState).

use super::Digester;
use crate::ck::*;
use crate::crypto::digest::{Algorithm, Hasher};
use crate::err;
use crate::error::{Error, Result};
use crate::types::{MechParam, Mechanism};

/// The SHA-3 and MD5 digests (the SHA-1/SHA-2 ones are in the registry's
/// base table): (type, 0, 0, flags).
pub const MECHANISMS: &[(CK_MECHANISM_TYPE, CK_ULONG, CK_ULONG, CK_FLAGS)] = &[
    (CKM_SHA3_224, 0, 0, CKF_DIGEST),
    (CKM_SHA3_256, 0, 0, CKF_DIGEST),
    (CKM_SHA3_384, 0, 0, CKF_DIGEST),
    (CKM_SHA3_512, 0, 0, CKF_DIGEST),
    (CKM_MD5, 0, 0, CKF_DIGEST),
];

/// The digest algorithm of a digest mechanism, if it is one.
pub fn algorithm(ty: CK_MECHANISM_TYPE) -> Option<Algorithm> {
    Some(match ty {
        CKM_SHA_1 => Algorithm::Sha1,
        CKM_SHA224 => Algorithm::Sha224,
        CKM_SHA256 => Algorithm::Sha256,
        CKM_SHA384 => Algorithm::Sha384,
        CKM_SHA512 => Algorithm::Sha512,
        CKM_SHA3_224 => Algorithm::Sha3_224,
        CKM_SHA3_256 => Algorithm::Sha3_256,
        CKM_SHA3_384 => Algorithm::Sha3_384,
        CKM_SHA3_512 => Algorithm::Sha3_512,
        CKM_MD5 => Algorithm::Md5,
        _ => return None,
    })
}

/// Builds the digest operation for `mech`.
pub fn digester(mech: &Mechanism) -> Result<Box<dyn Digester>> {
    let alg =
        algorithm(mech.ty).ok_or_else(|| err!(CKR_MECHANISM_INVALID, "mechanism 0x{:x} is not a digest", mech.ty))?;
    match &mech.param {
        MechParam::None => {}
        MechParam::Bytes(b) if b.is_empty() => {}
        _ => return Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "digest mechanisms take no parameter")),
    }
    Ok(Box::new(DigestOp(Hasher::new(alg))))
}

struct DigestOp(Hasher);

impl Digester for DigestOp {
    fn output_len(&self) -> usize {
        self.0.output_len()
    }
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    fn finish(&mut self, out: &mut [u8]) -> usize {
        self.0.finish_into(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_abc_and_errors() {
        let mut d = digester(&Mechanism::new(CKM_SHA256)).unwrap();
        assert_eq!(d.output_len(), 32);
        d.update(b"ab");
        d.update(b"c");
        let mut out = [0u8; 32];
        assert_eq!(d.finish(&mut out), 32);
        assert_eq!(hex::encode(out), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        for (ty, len) in [(CKM_SHA_1, 20), (CKM_SHA224, 28), (CKM_SHA384, 48), (CKM_SHA512, 64)] {
            assert_eq!(digester(&Mechanism::new(ty)).unwrap().output_len(), len);
        }
        let m = Mechanism { ty: CKM_SHA256, param: MechParam::Bytes(vec![1]) };
        assert_eq!(digester(&m).err().unwrap().rv(), CKR_MECHANISM_PARAM_INVALID);
        assert_eq!(digester(&Mechanism::new(CKM_AES_ECB)).err().unwrap().rv(), CKR_MECHANISM_INVALID);
    }
}
