//! Key derivation by data encryption (PKCS#11 3.0 §2.16.x "Key derivation
//! by data encryption - DES & AES"): the derived key's value is the
//! encryption of the mechanism's data under the base key, in ECB or CBC
//! (no padding; the data is a whole number of blocks).
//!
//! One table line per mechanism: AES and 3DES (CKK_DES2/CKK_DES3 keys,
//! `mechanism::des`, refusable by `[policy] allow_des3`).

use crate::ck::*;
use crate::crypto::SecretKey;
use crate::crypto::aes::BlockStream;
use crate::err;
use crate::error::{Error, Result};
use crate::types::kdf::KdfParam;
use zeroize::Zeroizing;

/// Block-cipher encryption of whole blocks: (key, IV for CBC, data).
type Encrypt = fn(&SecretKey, Option<&[u8]>, &[u8]) -> Result<Zeroizing<Vec<u8>>>;

/// One *_ENCRYPT_DATA mechanism.
pub struct Entry {
    pub ty: CK_MECHANISM_TYPE,
    /// The base key's types.
    pub key_types: &'static [CK_KEY_TYPE],
    pub block_len: usize,
    /// CBC (the parameter carries an IV) or ECB.
    pub cbc: bool,
    encrypt: Encrypt,
}

pub static TABLE: &[Entry] = &[
    Entry { ty: CKM_AES_ECB_ENCRYPT_DATA, key_types: &[CKK_AES], block_len: 16, cbc: false, encrypt: aes },
    Entry { ty: CKM_AES_CBC_ENCRYPT_DATA, key_types: &[CKK_AES], block_len: 16, cbc: true, encrypt: aes },
    Entry { ty: CKM_DES3_ECB_ENCRYPT_DATA, key_types: DES3, block_len: 8, cbc: false, encrypt: des3 },
    Entry { ty: CKM_DES3_CBC_ENCRYPT_DATA, key_types: DES3, block_len: 8, cbc: true, encrypt: des3 },
];

const DES3: &[CK_KEY_TYPE] = &[CKK_DES2, CKK_DES3];

fn des3(key: &SecretKey, iv: Option<&[u8]>, data: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    crate::mechanism::des::encrypt_blocks(key, iv, data)
}

/// The table line of `ty`.
pub fn entry(ty: CK_MECHANISM_TYPE) -> Option<&'static Entry> {
    TABLE.iter().find(|e| e.ty == ty)
}

fn aes(key: &SecretKey, iv: Option<&[u8]>, data: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let k = key.aes().map_err(|_| Error::new(CKR_KEY_TYPE_INCONSISTENT, "not an AES key"))?;
    let mut s = match iv {
        Some(iv) => {
            let iv: [u8; 16] = iv.try_into().map_err(|_| Error::new(CKR_MECHANISM_PARAM_INVALID, "IV of 16 bytes"))?;
            BlockStream::cbc(k, iv, true, false)
        }
        None => BlockStream::ecb(k, true),
    };
    let mut out = Zeroizing::new(vec![0u8; s.oneshot_len(data.len())]);
    let n = s.oneshot(data, &mut out).map_err(|e| err!(CKR_FUNCTION_FAILED, "AES failed ({e:?})"))?;
    out.truncate(n);
    Ok(out)
}

/// The derivation's output: the encryption of the parameter's data (as
/// long as the data). A parameter of the wrong structure, an IV of the
/// wrong length, or data that is empty or not a whole number of blocks is
/// `CKR_MECHANISM_PARAM_INVALID`.
pub fn derive(e: &Entry, key: &SecretKey, param: &KdfParam) -> Result<Zeroizing<Vec<u8>>> {
    let (iv, data) = match (param, e.cbc) {
        (KdfParam::Data(d), false) => (None, d),
        (KdfParam::CbcData { iv, data }, true) => (Some(iv.as_slice()), data),
        _ => return Err(err!(CKR_MECHANISM_PARAM_INVALID, "mechanism 0x{:x}: wrong parameter structure", e.ty)),
    };
    if iv.is_some_and(|iv| iv.len() != e.block_len) {
        return Err(err!(CKR_MECHANISM_PARAM_INVALID, "the IV must be {} bytes", e.block_len));
    }
    if data.is_empty() || !data.len().is_multiple_of(e.block_len) {
        return Err(err!(
            CKR_MECHANISM_PARAM_INVALID,
            "the data must be a non-empty multiple of {} bytes (got {})",
            e.block_len,
            data.len()
        ));
    }
    (e.encrypt)(key, iv, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(h: &str) -> SecretKey {
        SecretKey::new(Zeroizing::new(hex::decode(h).unwrap()))
    }

    #[test]
    fn sp800_38a_vectors() {
        // NIST SP 800-38A F.1.1 (ECB-AES128) and F.2.1 (CBC-AES128), blocks 1-2.
        let k = key("2b7e151628aed2a6abf7158809cf4f3c");
        let pt = hex::decode("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51").unwrap();
        let ecb = derive(entry(CKM_AES_ECB_ENCRYPT_DATA).unwrap(), &k, &KdfParam::Data(pt.clone())).unwrap();
        assert_eq!(hex::encode(&*ecb), "3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf");
        let iv = hex::decode("000102030405060708090a0b0c0d0e0f").unwrap();
        let cbc = entry(CKM_AES_CBC_ENCRYPT_DATA).unwrap();
        let out = derive(cbc, &k, &KdfParam::CbcData { iv: iv.clone(), data: pt.clone() }).unwrap();
        assert_eq!(hex::encode(&*out), "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2");
        for bad in [
            KdfParam::CbcData { iv: iv[..15].to_vec(), data: pt.clone() },
            KdfParam::CbcData { iv: iv.clone(), data: pt[..31].to_vec() },
            KdfParam::CbcData { iv, data: Vec::new() },
            KdfParam::Data(pt),
        ] {
            assert_eq!(derive(cbc, &k, &bad).unwrap_err().rv(), CKR_MECHANISM_PARAM_INVALID);
        }
    }
}
