//! The AES-CMAC mechanisms: CKM_AES_CMAC (16-byte MAC) and
//! CKM_AES_CMAC_GENERAL (CK_MAC_GENERAL_PARAMS: 1..=16; the MAC is
//! truncated to it), over `crypto::cmac`. Streaming; verification compares
//! in constant time. The token checks that the key is a CKK_AES key.

use super::Signer;
use crate::ck::*;
use crate::crypto::SecretKey;
use crate::crypto::cmac::{Cmac, TAG_LEN};
use crate::err;
use crate::error::{Error, Result};
use crate::types::{MechParam, Mechanism};

/// The AES-CMAC mechanisms: (type, min key bytes, max key bytes, flags).
pub const MECHANISMS: &[(CK_MECHANISM_TYPE, CK_ULONG, CK_ULONG, CK_FLAGS)] =
    &[(CKM_AES_CMAC, 16, 32, CKF_SIGN | CKF_VERIFY), (CKM_AES_CMAC_GENERAL, 16, 32, CKF_SIGN | CKF_VERIFY)];

/// Whether `ty` is an AES-CMAC mechanism.
pub fn is_cmac(ty: CK_MECHANISM_TYPE) -> bool {
    matches!(ty, CKM_AES_CMAC | CKM_AES_CMAC_GENERAL)
}

struct CmacOp {
    mac: Option<Cmac>,
    len: usize,
}

fn build(mech: &Mechanism, key: &SecretKey) -> Result<CmacOp> {
    let len = match (mech.ty, &mech.param) {
        (CKM_AES_CMAC_GENERAL, MechParam::Ulong(n)) => {
            let n = usize::try_from(*n).unwrap_or(usize::MAX);
            if n == 0 || n > TAG_LEN {
                return Err(err!(CKR_MECHANISM_PARAM_INVALID, "AES-CMAC length must be 1..={TAG_LEN}"));
            }
            n
        }
        (CKM_AES_CMAC_GENERAL, _) => {
            return Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "AES_CMAC_GENERAL needs CK_MAC_GENERAL_PARAMS"));
        }
        (CKM_AES_CMAC, MechParam::None) => TAG_LEN,
        (CKM_AES_CMAC, MechParam::Bytes(b)) if b.is_empty() => TAG_LEN,
        (CKM_AES_CMAC, _) => return Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "AES-CMAC takes no parameter")),
        (ty, _) => return Err(err!(CKR_MECHANISM_INVALID, "mechanism 0x{ty:x} is not AES-CMAC")),
    };
    let mac = Cmac::new(key.bytes())
        .map_err(|_| err!(CKR_KEY_SIZE_RANGE, "AES-CMAC needs a 16, 24 or 32 byte key, not {}", key.bytes().len()))?;
    Ok(CmacOp { mac: Some(mac), len })
}

/// Builds an AES-CMAC signing operation.
pub fn signer(mech: &Mechanism, key: &SecretKey) -> Result<Box<dyn Signer>> {
    Ok(Box::new(build(mech, key)?))
}

/// Builds an AES-CMAC verification operation.
pub fn verifier(mech: &Mechanism, key: &SecretKey) -> Result<Box<dyn Signer>> {
    Ok(Box::new(build(mech, key)?))
}

fn finished() -> Error {
    Error::general("AES-CMAC operation already finished")
}

impl Signer for CmacOp {
    fn sig_len(&self) -> usize {
        self.len
    }

    fn update(&mut self, data: &[u8]) -> Result<()> {
        let m = self.mac.as_mut().ok_or_else(finished)?;
        m.update(data).map_err(|_| Error::general("AES-CMAC update failed"))
    }

    fn sign_final(&mut self, out: &mut [u8]) -> Result<usize> {
        if out.len() < self.len {
            return Err(Error::buffer_too_small(self.len));
        }
        let len = self.len;
        let m = self.mac.take().ok_or_else(finished)?;
        m.finish_into(&mut out[..len]).map_err(|_| Error::general("AES-CMAC failed"))
    }

    fn verify_final(&mut self, signature: &[u8]) -> Result<()> {
        if signature.len() != self.len {
            return Err(err!(CKR_SIGNATURE_LEN_RANGE, "AES-CMAC must be {} bytes", self.len));
        }
        let m = self.mac.take().ok_or_else(finished)?;
        m.verify(signature).map_err(|_| Error::new(CKR_SIGNATURE_INVALID, "AES-CMAC mismatch"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::mechanism::test_util::{key, rv};

    #[test]
    fn rfc4493_example2_full_and_general() {
        let k = key(&hex::decode("2b7e151628aed2a6abf7158809cf4f3c").unwrap());
        let data = hex::decode("6bc1bee22e409f96e93d7e117393172a").unwrap();
        let want = "070a16b46b4d4144f79bdd9dd04a287c";
        let m = Mechanism::new(CKM_AES_CMAC);
        let mut s = signer(&m, &k).unwrap();
        assert_eq!(s.sig_len(), 16);
        s.update(&data[..5]).unwrap();
        s.update(&data[5..]).unwrap();
        let mut out = [0u8; 16];
        assert_eq!(s.sign_final(&mut out).unwrap(), 16);
        assert_eq!(hex::encode(out), want);
        let mut v = verifier(&m, &k).unwrap();
        v.update(&data).unwrap();
        v.verify_final(&out).unwrap();
        let mut v = verifier(&m, &k).unwrap();
        v.update(b"other").unwrap();
        assert_eq!(rv(v.verify_final(&out)), CKR_SIGNATURE_INVALID);
        assert_eq!(rv(verifier(&m, &k).unwrap().verify_final(&out[..15])), CKR_SIGNATURE_LEN_RANGE);

        let g = Mechanism { ty: CKM_AES_CMAC_GENERAL, param: MechParam::Ulong(8) };
        let mut s = signer(&g, &k).unwrap();
        s.update(&data).unwrap();
        let mut short = [0u8; 8];
        assert_eq!(rv(s.sign_final(&mut short[..7])), CKR_BUFFER_TOO_SMALL);
        assert_eq!(s.sign_final(&mut short).unwrap(), 8);
        assert_eq!(hex::encode(short), &want[..16]);
        let mut v = verifier(&g, &k).unwrap();
        v.update(&data).unwrap();
        v.verify_final(&short).unwrap();
    }

    #[test]
    fn parameters_and_keys() {
        let k = key(&[7u8; 32]);
        for n in [0, 17, u64::MAX as CK_ULONG] {
            let m = Mechanism { ty: CKM_AES_CMAC_GENERAL, param: MechParam::Ulong(n) };
            assert_eq!(rv(signer(&m, &k)), CKR_MECHANISM_PARAM_INVALID, "{n}");
        }
        for n in [1, 16] {
            let m = Mechanism { ty: CKM_AES_CMAC_GENERAL, param: MechParam::Ulong(n) };
            assert_eq!(signer(&m, &k).unwrap().sig_len(), n as usize);
        }
        assert_eq!(rv(signer(&Mechanism::new(CKM_AES_CMAC_GENERAL), &k)), CKR_MECHANISM_PARAM_INVALID);
        let m = Mechanism { ty: CKM_AES_CMAC, param: MechParam::Ulong(16) };
        assert_eq!(rv(signer(&m, &k)), CKR_MECHANISM_PARAM_INVALID);
        assert_eq!(rv(signer(&Mechanism::new(CKM_AES_CMAC), &key(&[1u8; 20]))), CKR_KEY_SIZE_RANGE);
        assert_eq!(rv(signer(&Mechanism::new(CKM_SHA256_HMAC), &k)), CKR_MECHANISM_INVALID);
        assert!(is_cmac(CKM_AES_CMAC) && is_cmac(CKM_AES_CMAC_GENERAL) && !is_cmac(CKM_AES_ECB));
    }
}
