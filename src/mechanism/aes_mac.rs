//! The AES-MAC mechanisms: CKM_AES_MAC (CBC-MAC, half a block: 8 bytes)
//! and CKM_AES_MAC_GENERAL (CK_MAC_GENERAL_PARAMS: 1..=16 bytes), over
//! `crypto::cbc_mac` (zero IV, zero padding, as PKCS#11's general block
//! cipher MAC). Streaming; verification compares in constant time. The
//! token checks that the key is a CKK_AES key.

use super::Signer;
use crate::ck::*;
use crate::crypto::SecretKey;
use crate::crypto::aes::BLOCK_LEN;
use crate::crypto::cbc_mac::CbcMac;
use crate::err;
use crate::error::{Error, Result};
use crate::types::{MechParam, Mechanism};

/// The AES-MAC mechanisms: (type, min key bytes, max key bytes, flags).
pub const MECHANISMS: &[(CK_MECHANISM_TYPE, CK_ULONG, CK_ULONG, CK_FLAGS)] =
    &[(CKM_AES_MAC, 16, 32, CKF_SIGN | CKF_VERIFY), (CKM_AES_MAC_GENERAL, 16, 32, CKF_SIGN | CKF_VERIFY)];

/// Whether `ty` is an AES-MAC mechanism.
pub fn is_aes_mac(ty: CK_MECHANISM_TYPE) -> bool {
    matches!(ty, CKM_AES_MAC | CKM_AES_MAC_GENERAL)
}

struct MacOp {
    mac: Option<CbcMac>,
    len: usize,
}

fn build(mech: &Mechanism, key: &SecretKey) -> Result<MacOp> {
    let len = match (mech.ty, &mech.param) {
        (CKM_AES_MAC_GENERAL, MechParam::Ulong(n)) => {
            let n = usize::try_from(*n).unwrap_or(usize::MAX);
            if n == 0 || n > BLOCK_LEN {
                return Err(err!(CKR_MECHANISM_PARAM_INVALID, "AES-MAC length must be 1..={BLOCK_LEN}"));
            }
            n
        }
        (CKM_AES_MAC_GENERAL, _) => {
            return Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "AES_MAC_GENERAL needs CK_MAC_GENERAL_PARAMS"));
        }
        (CKM_AES_MAC, MechParam::None) => BLOCK_LEN / 2,
        (CKM_AES_MAC, MechParam::Bytes(b)) if b.is_empty() => BLOCK_LEN / 2,
        (CKM_AES_MAC, _) => return Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "AES-MAC takes no parameter")),
        (ty, _) => return Err(err!(CKR_MECHANISM_INVALID, "mechanism 0x{ty:x} is not AES-MAC")),
    };
    let prepared = key
        .aes()
        .map_err(|_| err!(CKR_KEY_SIZE_RANGE, "AES-MAC needs a 16, 24 or 32 byte key, not {}", key.bytes().len()))?;
    Ok(MacOp { mac: Some(CbcMac::new(prepared)), len })
}

/// Builds an AES-MAC signing operation.
pub fn signer(mech: &Mechanism, key: &SecretKey) -> Result<Box<dyn Signer>> {
    Ok(Box::new(build(mech, key)?))
}

/// Builds an AES-MAC verification operation.
pub fn verifier(mech: &Mechanism, key: &SecretKey) -> Result<Box<dyn Signer>> {
    Ok(Box::new(build(mech, key)?))
}

fn finished() -> Error {
    Error::general("AES-MAC operation already finished")
}

impl Signer for MacOp {
    fn sig_len(&self) -> usize {
        self.len
    }

    fn update(&mut self, data: &[u8]) -> Result<()> {
        let m = self.mac.as_mut().ok_or_else(finished)?;
        m.update(data).map_err(|_| Error::general("AES-MAC update failed"))
    }

    fn sign_final(&mut self, out: &mut [u8]) -> Result<usize> {
        if out.len() < self.len {
            return Err(Error::buffer_too_small(self.len));
        }
        let len = self.len;
        let m = self.mac.take().ok_or_else(finished)?;
        m.finish_into(&mut out[..len]).map_err(|_| Error::general("AES-MAC failed"))
    }

    fn verify_final(&mut self, signature: &[u8]) -> Result<()> {
        if signature.len() != self.len {
            return Err(err!(CKR_SIGNATURE_LEN_RANGE, "AES-MAC must be {} bytes", self.len));
        }
        let m = self.mac.take().ok_or_else(finished)?;
        m.verify(signature).map_err(|_| Error::new(CKR_SIGNATURE_INVALID, "AES-MAC mismatch"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    fn rv<T>(r: Result<T>) -> CK_RV {
        r.err().map(|e| e.rv()).unwrap_or(CKR_OK)
    }

    #[test]
    fn lengths_and_params() {
        let k = SecretKey::new(Zeroizing::new(hex::decode("000102030405060708090a0b0c0d0e0f").unwrap()));
        let data = hex::decode("00112233445566778899aabbccddeeff").unwrap();
        let mut s = signer(&Mechanism::new(CKM_AES_MAC), &k).unwrap();
        assert_eq!(s.sig_len(), 8);
        s.update(&data).unwrap();
        let mut out = [0u8; 8];
        assert_eq!(s.sign_final(&mut out).unwrap(), 8);
        assert_eq!(hex::encode(out), "69c4e0d86a7b0430"); // FIPS 197 C.1, first half
        let mut v = verifier(&Mechanism::new(CKM_AES_MAC), &k).unwrap();
        v.update(&data).unwrap();
        v.verify_final(&out).unwrap();
        let mut v = verifier(&Mechanism::new(CKM_AES_MAC), &k).unwrap();
        assert_eq!(rv(v.verify_final(&[0u8; 16])), CKR_SIGNATURE_LEN_RANGE);
        for n in [1, 16] {
            let m = Mechanism { ty: CKM_AES_MAC_GENERAL, param: MechParam::Ulong(n) };
            assert_eq!(signer(&m, &k).unwrap().sig_len(), n as usize);
        }
        for n in [0, 17] {
            let m = Mechanism { ty: CKM_AES_MAC_GENERAL, param: MechParam::Ulong(n) };
            assert_eq!(rv(signer(&m, &k)), CKR_MECHANISM_PARAM_INVALID);
        }
        assert_eq!(rv(signer(&Mechanism::new(CKM_AES_MAC_GENERAL), &k)), CKR_MECHANISM_PARAM_INVALID);
        let m = Mechanism { ty: CKM_AES_MAC, param: MechParam::Ulong(8) };
        assert_eq!(rv(signer(&m, &k)), CKR_MECHANISM_PARAM_INVALID);
        let bad = SecretKey::new(Zeroizing::new(vec![1u8; 20]));
        assert_eq!(rv(signer(&Mechanism::new(CKM_AES_MAC), &bad)), CKR_KEY_SIZE_RANGE);
        assert!(is_aes_mac(CKM_AES_MAC_GENERAL) && !is_aes_mac(CKM_AES_CMAC));
    }
}
