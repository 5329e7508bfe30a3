//! The HMAC mechanisms: CKM_SHA_1_HMAC, CKM_SHA224_HMAC ... CKM_SHA512_HMAC,
//! CKM_SHA3_224_HMAC ... CKM_SHA3_512_HMAC, CKM_MD5_HMAC (full-length MAC)
//! and their _GENERAL forms (CK_MAC_GENERAL_PARAMS:
//! 1..=full length; the MAC is truncated to it), over `crypto::hmac`.
//! Streaming; verification compares in constant time.

use super::Signer;
use crate::ck::*;
use crate::crypto::SecretKey;
use crate::crypto::digest::Algorithm;
use crate::crypto::hmac::Hmac;
use crate::err;
use crate::error::{Error, Result};
use crate::types::{MechParam, Mechanism};

/// The HMAC mechanisms: (type, min key bits, max key bits, flags). Key sizes
/// in bits, like the generic secret keys they use.
pub const MECHANISMS: &[(CK_MECHANISM_TYPE, CK_ULONG, CK_ULONG, CK_FLAGS)] = &[
    (CKM_SHA_1_HMAC, 8, 4096, CKF_SIGN | CKF_VERIFY),
    (CKM_SHA_1_HMAC_GENERAL, 8, 4096, CKF_SIGN | CKF_VERIFY),
    (CKM_SHA224_HMAC, 8, 4096, CKF_SIGN | CKF_VERIFY),
    (CKM_SHA224_HMAC_GENERAL, 8, 4096, CKF_SIGN | CKF_VERIFY),
    (CKM_SHA256_HMAC, 8, 4096, CKF_SIGN | CKF_VERIFY),
    (CKM_SHA256_HMAC_GENERAL, 8, 4096, CKF_SIGN | CKF_VERIFY),
    (CKM_SHA384_HMAC, 8, 4096, CKF_SIGN | CKF_VERIFY),
    (CKM_SHA384_HMAC_GENERAL, 8, 4096, CKF_SIGN | CKF_VERIFY),
    (CKM_SHA512_HMAC, 8, 4096, CKF_SIGN | CKF_VERIFY),
    (CKM_SHA512_HMAC_GENERAL, 8, 4096, CKF_SIGN | CKF_VERIFY),
    // SHA-3 (generic secrets or CKK_SHA3_*_HMAC keys) and MD5 (legacy,
    // generic secrets only; refusable by policy).
    (CKM_SHA3_224_HMAC, 8, 4096, CKF_SIGN | CKF_VERIFY),
    (CKM_SHA3_224_HMAC_GENERAL, 8, 4096, CKF_SIGN | CKF_VERIFY),
    (CKM_SHA3_256_HMAC, 8, 4096, CKF_SIGN | CKF_VERIFY),
    (CKM_SHA3_256_HMAC_GENERAL, 8, 4096, CKF_SIGN | CKF_VERIFY),
    (CKM_SHA3_384_HMAC, 8, 4096, CKF_SIGN | CKF_VERIFY),
    (CKM_SHA3_384_HMAC_GENERAL, 8, 4096, CKF_SIGN | CKF_VERIFY),
    (CKM_SHA3_512_HMAC, 8, 4096, CKF_SIGN | CKF_VERIFY),
    (CKM_SHA3_512_HMAC_GENERAL, 8, 4096, CKF_SIGN | CKF_VERIFY),
    (CKM_MD5_HMAC, 8, 4096, CKF_SIGN | CKF_VERIFY),
    (CKM_MD5_HMAC_GENERAL, 8, 4096, CKF_SIGN | CKF_VERIFY),
    // The SHA-3 HMAC key generations, in bits like the SHA-2 ones.
    (CKM_SHA3_224_KEY_GEN, 8, 4096, CKF_GENERATE),
    (CKM_SHA3_256_KEY_GEN, 8, 4096, CKF_GENERATE),
    (CKM_SHA3_384_KEY_GEN, 8, 4096, CKF_GENERATE),
    (CKM_SHA3_512_KEY_GEN, 8, 4096, CKF_GENERATE),
];

/// The digest and "general" flag of an HMAC mechanism.
fn resolve(ty: CK_MECHANISM_TYPE) -> Option<(Algorithm, bool)> {
    Some(match ty {
        CKM_SHA_1_HMAC => (Algorithm::Sha1, false),
        CKM_SHA_1_HMAC_GENERAL => (Algorithm::Sha1, true),
        CKM_SHA224_HMAC => (Algorithm::Sha224, false),
        CKM_SHA224_HMAC_GENERAL => (Algorithm::Sha224, true),
        CKM_SHA256_HMAC => (Algorithm::Sha256, false),
        CKM_SHA256_HMAC_GENERAL => (Algorithm::Sha256, true),
        CKM_SHA384_HMAC => (Algorithm::Sha384, false),
        CKM_SHA384_HMAC_GENERAL => (Algorithm::Sha384, true),
        CKM_SHA512_HMAC => (Algorithm::Sha512, false),
        CKM_SHA512_HMAC_GENERAL => (Algorithm::Sha512, true),
        CKM_SHA3_224_HMAC => (Algorithm::Sha3_224, false),
        CKM_SHA3_224_HMAC_GENERAL => (Algorithm::Sha3_224, true),
        CKM_SHA3_256_HMAC => (Algorithm::Sha3_256, false),
        CKM_SHA3_256_HMAC_GENERAL => (Algorithm::Sha3_256, true),
        CKM_SHA3_384_HMAC => (Algorithm::Sha3_384, false),
        CKM_SHA3_384_HMAC_GENERAL => (Algorithm::Sha3_384, true),
        CKM_SHA3_512_HMAC => (Algorithm::Sha3_512, false),
        CKM_SHA3_512_HMAC_GENERAL => (Algorithm::Sha3_512, true),
        CKM_MD5_HMAC => (Algorithm::Md5, false),
        CKM_MD5_HMAC_GENERAL => (Algorithm::Md5, true),
        _ => return None,
    })
}

/// Whether a key of type `kt` may serve the HMAC mechanism `ty`: a generic
/// secret serves every HMAC; a PKCS#11 3.0 HMAC key (CKK_SHA256_HMAC ...)
/// only the HMAC of its own hash, full or general length.
pub fn key_type_fits(ty: CK_MECHANISM_TYPE, kt: CK_KEY_TYPE) -> bool {
    let Some((alg, _)) = resolve(ty) else { return false };
    match kt {
        CKK_GENERIC_SECRET => true,
        CKK_SHA_1_HMAC => alg == Algorithm::Sha1,
        CKK_SHA224_HMAC => alg == Algorithm::Sha224,
        CKK_SHA256_HMAC => alg == Algorithm::Sha256,
        CKK_SHA384_HMAC => alg == Algorithm::Sha384,
        CKK_SHA512_HMAC => alg == Algorithm::Sha512,
        CKK_SHA3_224_HMAC => alg == Algorithm::Sha3_224,
        CKK_SHA3_256_HMAC => alg == Algorithm::Sha3_256,
        CKK_SHA3_384_HMAC => alg == Algorithm::Sha3_384,
        CKK_SHA3_512_HMAC => alg == Algorithm::Sha3_512,
        _ => false,
    }
}

/// The PKCS#11 3.0 HMAC key generations and the key type each makes.
pub const KEYGEN: &[(CK_MECHANISM_TYPE, CK_KEY_TYPE)] = &[
    (CKM_SHA_1_KEY_GEN, CKK_SHA_1_HMAC),
    (CKM_SHA224_KEY_GEN, CKK_SHA224_HMAC),
    (CKM_SHA256_KEY_GEN, CKK_SHA256_HMAC),
    (CKM_SHA384_KEY_GEN, CKK_SHA384_HMAC),
    (CKM_SHA512_KEY_GEN, CKK_SHA512_HMAC),
    (CKM_SHA3_224_KEY_GEN, CKK_SHA3_224_HMAC),
    (CKM_SHA3_256_KEY_GEN, CKK_SHA3_256_HMAC),
    (CKM_SHA3_384_KEY_GEN, CKK_SHA3_384_HMAC),
    (CKM_SHA3_512_KEY_GEN, CKK_SHA3_512_HMAC),
];

/// The key type CKM_SHA*_KEY_GEN `mech` makes.
pub fn keygen_key_type(mech: CK_MECHANISM_TYPE) -> Option<CK_KEY_TYPE> {
    KEYGEN.iter().find(|(m, _)| *m == mech).map(|(_, kt)| *kt)
}

/// The CKM_SHA*_KEY_GEN that makes keys of type `kt`.
pub fn keygen_of(kt: CK_KEY_TYPE) -> Option<CK_MECHANISM_TYPE> {
    KEYGEN.iter().find(|(_, k)| *k == kt).map(|(m, _)| *m)
}

/// Whether `ty` is one of the HMAC mechanisms above.
pub fn is_hmac(ty: CK_MECHANISM_TYPE) -> bool {
    resolve(ty).is_some()
}

struct HmacOp {
    mac: Option<Hmac>,
    len: usize,
}

fn build(mech: &Mechanism, key: &SecretKey) -> Result<HmacOp> {
    let (alg, general) =
        resolve(mech.ty).ok_or_else(|| err!(CKR_MECHANISM_INVALID, "mechanism 0x{:x} is not an HMAC", mech.ty))?;
    let full = alg.output_len();
    let len = match (&mech.param, general) {
        (MechParam::Ulong(n), true) => {
            let n = usize::try_from(*n).unwrap_or(usize::MAX);
            if n == 0 || n > full {
                return Err(err!(CKR_MECHANISM_PARAM_INVALID, "HMAC length must be 1..={full}"));
            }
            n
        }
        (_, true) => return Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "HMAC_GENERAL needs CK_MAC_GENERAL_PARAMS")),
        (MechParam::None, false) => full,
        (MechParam::Bytes(b), false) if b.is_empty() => full,
        (_, false) => return Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "HMAC takes no parameter")),
    };
    Ok(HmacOp { mac: Some(Hmac::new(alg, key.bytes())), len })
}

/// Builds an HMAC signing operation.
pub fn signer(mech: &Mechanism, key: &SecretKey) -> Result<Box<dyn Signer>> {
    Ok(Box::new(build(mech, key)?))
}

/// Builds an HMAC verification operation.
pub fn verifier(mech: &Mechanism, key: &SecretKey) -> Result<Box<dyn Signer>> {
    Ok(Box::new(build(mech, key)?))
}

impl HmacOp {
    fn take(&mut self) -> Result<Hmac> {
        self.mac.take().ok_or_else(|| Error::general("HMAC operation already finished"))
    }
}

impl Signer for HmacOp {
    fn sig_len(&self) -> usize {
        self.len
    }

    fn update(&mut self, data: &[u8]) -> Result<()> {
        match &mut self.mac {
            Some(m) => {
                m.update(data);
                Ok(())
            }
            None => Err(Error::general("HMAC operation already finished")),
        }
    }

    fn sign_final(&mut self, out: &mut [u8]) -> Result<usize> {
        if out.len() < self.len {
            return Err(Error::buffer_too_small(self.len));
        }
        let len = self.len;
        Ok(self.take()?.finish_into(&mut out[..len]))
    }

    fn verify_final(&mut self, signature: &[u8]) -> Result<()> {
        if signature.len() != self.len {
            return Err(err!(CKR_SIGNATURE_LEN_RANGE, "HMAC must be {} bytes", self.len));
        }
        self.take()?.verify(signature).map_err(|_| Error::new(CKR_SIGNATURE_INVALID, "HMAC mismatch"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::mechanism::test_util::{key, rv};

    #[test]
    fn rfc4231_case2_all_mechanisms() {
        let k = key(b"Jefe");
        let data = b"what do ya want for nothing?";
        for (ty, tag) in [
            (CKM_SHA_1_HMAC, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
            (CKM_SHA224_HMAC, "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44"),
            (CKM_SHA256_HMAC, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            (
                CKM_SHA384_HMAC,
                "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
            ),
            (
                CKM_SHA512_HMAC,
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
            ),
        ] {
            let m = Mechanism::new(ty);
            let mut s = signer(&m, &k).unwrap();
            s.update(&data[..10]).unwrap();
            s.update(&data[10..]).unwrap();
            let mut out = vec![0u8; s.sig_len()];
            assert_eq!(s.sign_final(&mut out).unwrap(), tag.len() / 2);
            assert_eq!(hex::encode(&out), tag);
            let mut v = verifier(&m, &k).unwrap();
            v.update(data).unwrap();
            v.verify_final(&out).unwrap();
            let mut v = verifier(&m, &k).unwrap();
            v.update(b"other").unwrap();
            assert_eq!(rv(v.verify_final(&out)), CKR_SIGNATURE_INVALID);
            let mut v = verifier(&m, &k).unwrap();
            assert_eq!(rv(v.verify_final(&out[1..])), CKR_SIGNATURE_LEN_RANGE);
        }
    }

    #[test]
    fn general_lengths() {
        let k = key(&[0x0c; 20]);
        let data = b"Test With Truncation";
        let m = Mechanism { ty: CKM_SHA256_HMAC_GENERAL, param: MechParam::Ulong(16) };
        let mut s = signer(&m, &k).unwrap();
        assert_eq!(s.sig_len(), 16);
        s.update(data).unwrap();
        let mut out = [0u8; 16];
        assert_eq!(s.sign_final(&mut out).unwrap(), 16);
        assert_eq!(hex::encode(out), "a3b6167473100ee06e0c796c2955552b"); // RFC 4231 case 5
        let mut v = verifier(&m, &k).unwrap();
        v.update(data).unwrap();
        v.verify_final(&out).unwrap();
        let mut v = verifier(&m, &k).unwrap();
        v.update(data).unwrap();
        assert_eq!(rv(v.verify_final(&out[..15])), CKR_SIGNATURE_LEN_RANGE);
        for (ty, n) in [
            (CKM_SHA256_HMAC_GENERAL, 0),
            (CKM_SHA256_HMAC_GENERAL, 33),
            (CKM_SHA_1_HMAC_GENERAL, 21),
            (CKM_SHA512_HMAC_GENERAL, 65),
        ] {
            let m = Mechanism { ty, param: MechParam::Ulong(n) };
            assert_eq!(rv(signer(&m, &k)), CKR_MECHANISM_PARAM_INVALID);
        }
        let m = Mechanism { ty: CKM_SHA512_HMAC_GENERAL, param: MechParam::Ulong(64) };
        assert_eq!(signer(&m, &k).unwrap().sig_len(), 64);
        let m = Mechanism { ty: CKM_SHA_1_HMAC_GENERAL, param: MechParam::Ulong(1) };
        assert_eq!(signer(&m, &k).unwrap().sig_len(), 1);
        assert_eq!(rv(signer(&Mechanism::new(CKM_SHA256_HMAC_GENERAL), &k)), CKR_MECHANISM_PARAM_INVALID);
        let m = Mechanism { ty: CKM_SHA256_HMAC, param: MechParam::Ulong(16) };
        assert_eq!(rv(signer(&m, &k)), CKR_MECHANISM_PARAM_INVALID);
        assert_eq!(rv(signer(&Mechanism::new(CKM_SHA512_224_HMAC), &k)), CKR_MECHANISM_INVALID);
        assert!(key_type_fits(CKM_SHA256_HMAC_GENERAL, CKK_SHA256_HMAC));
        assert!(key_type_fits(CKM_SHA_1_HMAC, CKK_GENERIC_SECRET));
        assert!(key_type_fits(CKM_SHA512_HMAC, CKK_SHA512_HMAC));
        assert!(!key_type_fits(CKM_SHA512_HMAC, CKK_SHA256_HMAC));
        assert!(!key_type_fits(CKM_SHA224_HMAC, CKK_AES));
        assert!(!key_type_fits(CKM_AES_CMAC, CKK_GENERIC_SECRET));
        assert!(is_hmac(CKM_SHA384_HMAC_GENERAL) && is_hmac(CKM_MD5_HMAC) && !is_hmac(CKM_SHA512_256_HMAC));
        assert!(key_type_fits(CKM_SHA3_256_HMAC_GENERAL, CKK_SHA3_256_HMAC));
        assert!(
            !key_type_fits(CKM_SHA3_256_HMAC, CKK_SHA256_HMAC) && !key_type_fits(CKM_SHA256_HMAC, CKK_SHA3_256_HMAC)
        );
        assert!(key_type_fits(CKM_MD5_HMAC, CKK_GENERIC_SECRET));
        assert_eq!(keygen_key_type(CKM_SHA3_512_KEY_GEN), Some(CKK_SHA3_512_HMAC));
        assert_eq!(keygen_key_type(CKM_SHA384_KEY_GEN), Some(CKK_SHA384_HMAC));
        assert_eq!(keygen_key_type(CKM_GENERIC_SECRET_KEY_GEN), None);
        assert_eq!(keygen_of(CKK_SHA_1_HMAC), Some(CKM_SHA_1_KEY_GEN));
        assert_eq!(keygen_of(CKK_GENERIC_SECRET), None);
        for (ty, ..) in MECHANISMS.iter().filter(|m| m.3 != CKF_GENERATE) {
            let m = match resolve(*ty).unwrap() {
                (_, true) => Mechanism { ty: *ty, param: MechParam::Ulong(10) },
                _ => Mechanism::new(*ty),
            };
            signer(&m, &k).unwrap();
        }
    }
}
