//! The triple-DES mechanisms (legacy, behind `[policy] allow_des3`):
//! CKM_DES2_KEY_GEN and CKM_DES3_KEY_GEN (the token generates the value
//! with `crypto::des::generate_key`), CKM_DES3_ECB, CKM_DES3_CBC and
//! CKM_DES3_CBC_PAD as encrypt/decrypt (multi-part streams) and as key
//! wrapping, on CKK_DES2 (16-byte, K1 K2 K1) and CKK_DES3 (24-byte) keys.
//! CKM_DES3_ECB_ENCRYPT_DATA and CKM_DES3_CBC_ENCRYPT_DATA derive a key
//! from a CKK_DES2/CKK_DES3 base key by encrypting the parameter's data
//! (listed and checked in `mechanism::kdf`, with the AES ones; the
//! encryption is `encrypt_blocks` here).
//! Single DES (CKK_DES keys, 8 bytes) is stored if imported but no
//! mechanism uses it.
//!
//! Error codes follow `mechanism::aes`: a bad IV is
//! `CKR_MECHANISM_PARAM_INVALID`; a wrong input length
//! `CKR_DATA_LEN_RANGE` / `CKR_ENCRYPTED_DATA_LEN_RANGE`; bad padding
//! `CKR_ENCRYPTED_DATA_INVALID` (`CKR_WRAPPED_KEY_INVALID` in `unwrap`).
//! Wrapping with ECB and CBC pads the key with zero bytes to a multiple of
//! 8 (PKCS#11 2.40 §2.x "DES3-ECB"/"DES3-CBC"); unwrapping takes
//! CKA_VALUE_LEN bytes when the template gives it.
//! Key sizes in `MECHANISMS` are in bytes, as for AES.

use super::{BlockCipher, Cipher};
use crate::ck::*;
use crate::crypto::des::{BLOCK_LEN, BlockStream, Des3Key};
use crate::crypto::{CryptoError, SecretKey};
use crate::err;
use crate::error::{Error, Result};
use crate::types::{MechParam, Mechanism};
use zeroize::Zeroizing;

const ENC_DEC_WRAP: CK_FLAGS = CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP;

/// The registry lines: (type, min, max key bytes, flags).
pub static MECHANISMS: &[(CK_MECHANISM_TYPE, CK_ULONG, CK_ULONG, CK_FLAGS)] = &[
    (CKM_DES2_KEY_GEN, 16, 16, CKF_GENERATE),
    (CKM_DES3_KEY_GEN, 24, 24, CKF_GENERATE),
    (CKM_DES3_ECB, 16, 24, ENC_DEC_WRAP),
    (CKM_DES3_CBC, 16, 24, ENC_DEC_WRAP),
    (CKM_DES3_CBC_PAD, 16, 24, ENC_DEC_WRAP),
];

/// CKM_DES3_ECB_ENCRYPT_DATA / CKM_DES3_CBC_ENCRYPT_DATA (`mechanism::kdf::
/// encrypt_data`, which checks the parameter): `data` (a whole number of
/// blocks) encrypted under the base key without padding, in CBC with `iv`
/// (8 bytes) or in ECB.
pub fn encrypt_blocks(base: &SecretKey, iv: Option<&[u8]>, data: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let k = key_of(base, CKR_KEY_SIZE_RANGE)?;
    let mut s = match iv {
        Some(iv) => {
            let iv: [u8; BLOCK_LEN] = iv.try_into().map_err(|_| param_invalid("the IV must be 8 bytes"))?;
            BlockStream::cbc(k, iv, true, false)
        }
        None => BlockStream::ecb(k, true),
    };
    if data.is_empty() || !data.len().is_multiple_of(BLOCK_LEN) {
        return Err(param_invalid("3DES encrypt-data: the data must be a non-empty multiple of 8 bytes"));
    }
    let mut out = Zeroizing::new(vec![0u8; data.len()]);
    s.oneshot(data, &mut out).map_err(|e| map(e, true))?;
    Ok(out)
}

/// The cipher mechanisms (ECB, CBC, CBC_PAD).
pub fn is_des3(ty: CK_MECHANISM_TYPE) -> bool {
    matches!(ty, CKM_DES3_ECB | CKM_DES3_CBC | CKM_DES3_CBC_PAD)
}

/// Key generation: (key type, value length) of CKM_DES2/3_KEY_GEN.
pub fn keygen(ty: CK_MECHANISM_TYPE) -> Option<(CK_KEY_TYPE, usize)> {
    match ty {
        CKM_DES2_KEY_GEN => Some((CKK_DES2, 16)),
        CKM_DES3_KEY_GEN => Some((CKK_DES3, 24)),
        _ => None,
    }
}

/// A fresh key value for `keygen`'s length (odd parity, no weak parts).
pub fn generate_value(len: usize) -> Result<Zeroizing<Vec<u8>>> {
    crate::crypto::des::generate_key(len).map_err(|_| Error::general("DES key generation failed"))
}

/// The key types a DES3 mechanism accepts.
pub fn key_type_fits(kt: Option<CK_KEY_TYPE>) -> bool {
    matches!(kt, Some(CKK_DES2 | CKK_DES3))
}

fn param_invalid(why: &'static str) -> Error {
    Error::new(CKR_MECHANISM_PARAM_INVALID, why)
}

fn map(e: CryptoError, encrypt: bool) -> Error {
    match (e, encrypt) {
        (CryptoError::InvalidLength, true) => Error::new(CKR_DATA_LEN_RANGE, "input is not a whole number of blocks"),
        (CryptoError::InvalidLength, false) => {
            Error::new(CKR_ENCRYPTED_DATA_LEN_RANGE, "encrypted input is not a whole number of blocks")
        }
        (CryptoError::AuthFailed, _) => Error::new(CKR_ENCRYPTED_DATA_INVALID, "bad padding"),
        (CryptoError::InvalidKey, _) => Error::new(CKR_KEY_SIZE_RANGE, "3DES keys are 16 or 24 bytes"),
        (CryptoError::InvalidParam, _) => param_invalid("mechanism parameter not usable"),
        (CryptoError::Internal, _) => Error::general("3DES engine failure"),
    }
}

fn key_of(key: &SecretKey, rv: CK_RV) -> Result<&Des3Key> {
    key.des3().map_err(|_| err!(rv, "3DES key of {} bytes (16 or 24 expected)", key.bytes().len()))
}

/// The stream for `mech` (its IV checked).
fn stream(mech: &Mechanism, k: &Des3Key, encrypt: bool) -> Result<BlockStream> {
    match mech.ty {
        CKM_DES3_ECB => match &mech.param {
            MechParam::None => Ok(BlockStream::ecb(k, encrypt)),
            MechParam::Bytes(b) if b.is_empty() => Ok(BlockStream::ecb(k, encrypt)),
            _ => Err(param_invalid("CKM_DES3_ECB takes no parameter")),
        },
        CKM_DES3_CBC | CKM_DES3_CBC_PAD => {
            let iv: [u8; BLOCK_LEN] = match &mech.param {
                MechParam::Bytes(b) => {
                    b.as_slice().try_into().map_err(|_| param_invalid("3DES-CBC IV must be 8 bytes"))?
                }
                _ => return Err(param_invalid("3DES-CBC needs an 8-byte IV")),
            };
            Ok(BlockStream::cbc(k, iv, encrypt, mech.ty == CKM_DES3_CBC_PAD))
        }
        _ => Err(err!(CKR_MECHANISM_INVALID, "mechanism 0x{:x} is not a 3DES cipher", mech.ty)),
    }
}

/// Builds the encrypt (`encrypt`) or decrypt operation for `mech` on `key`.
pub fn cipher(mech: &Mechanism, key: &SecretKey, encrypt: bool) -> Result<Box<dyn Cipher>> {
    let s = stream(mech, key_of(key, CKR_KEY_SIZE_RANGE)?, encrypt)?;
    Ok(Box::new(BlockCipher::new(s, encrypt, map)))
}

/// Wraps `key_bytes` under `wrapping_key` (ECB/CBC: zero-padded to whole
/// blocks; CBC_PAD: PKCS#7).
pub fn wrap(mech: &Mechanism, wrapping_key: &SecretKey, key_bytes: &[u8]) -> Result<Vec<u8>> {
    let k = key_of(wrapping_key, CKR_WRAPPING_KEY_SIZE_RANGE)?;
    let mut s = stream(mech, k, true)?;
    let mut input = Zeroizing::new(key_bytes.to_vec());
    if mech.ty != CKM_DES3_CBC_PAD {
        input.resize(key_bytes.len().div_ceil(BLOCK_LEN) * BLOCK_LEN, 0);
    }
    let mut out = vec![0u8; s.oneshot_len(input.len())];
    let n = s.oneshot(&input, &mut out).map_err(|e| match e {
        CryptoError::InvalidLength => Error::new(CKR_KEY_NOT_WRAPPABLE, "key length does not fit the mechanism"),
        e => map(e, true),
    })?;
    out.truncate(n);
    Ok(out)
}

/// Unwraps `wrapped` under `unwrapping_key`; ECB/CBC keep `want_len`
/// bytes (the template's CKA_VALUE_LEN) when the padding allows it.
pub fn unwrap(
    mech: &Mechanism,
    unwrapping_key: &SecretKey,
    wrapped: &[u8],
    want_len: Option<usize>,
) -> Result<Zeroizing<Vec<u8>>> {
    let k = key_of(unwrapping_key, CKR_UNWRAPPING_KEY_SIZE_RANGE)?;
    let mut s = stream(mech, k, false)?;
    let mut out = Zeroizing::new(vec![0u8; s.oneshot_len(wrapped.len())]);
    let n = s.oneshot(wrapped, &mut out).map_err(|e| match e {
        CryptoError::InvalidLength => Error::new(CKR_WRAPPED_KEY_LEN_RANGE, "wrapped key length does not fit"),
        CryptoError::AuthFailed => Error::new(CKR_WRAPPED_KEY_INVALID, "wrapped key has bad padding"),
        e => map(e, false),
    })?;
    out.truncate(n);
    if mech.ty != CKM_DES3_CBC_PAD
        && let Some(l) = want_len
        && l <= n
        && n - l < BLOCK_LEN
    {
        out.truncate(l);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: usize) -> SecretKey {
        SecretKey::new(Zeroizing::new((1..=n as u8).map(|b| b.wrapping_mul(37)).collect()))
    }

    fn oneshot(m: &Mechanism, k: &SecretKey, enc: bool, input: &[u8]) -> Result<Vec<u8>> {
        let mut c = cipher(m, k, enc)?;
        let mut out = vec![0u8; c.oneshot_bound(input.len())];
        let n = c.oneshot(input, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    fn m(ty: CK_MECHANISM_TYPE, p: MechParam) -> Mechanism {
        Mechanism { ty, param: p }
    }

    #[test]
    fn parameters_lengths_and_padding() {
        let k = key(24);
        let bad = [
            m(CKM_DES3_ECB, MechParam::Bytes(vec![0; 8])),
            m(CKM_DES3_CBC, MechParam::None),
            m(CKM_DES3_CBC, MechParam::Bytes(vec![0; 16])),
            m(CKM_DES3_CBC_PAD, MechParam::Bytes(vec![0; 7])),
        ];
        for b in bad {
            assert_eq!(cipher(&b, &k, true).err().unwrap().rv(), CKR_MECHANISM_PARAM_INVALID, "{b:?}");
        }
        let ecb = m(CKM_DES3_ECB, MechParam::None);
        assert_eq!(cipher(&ecb, &key(8), true).err().unwrap().rv(), CKR_KEY_SIZE_RANGE);
        assert_eq!(oneshot(&ecb, &k, true, &[0; 12]).unwrap_err().rv(), CKR_DATA_LEN_RANGE);
        assert_eq!(oneshot(&ecb, &k, false, &[0; 12]).unwrap_err().rv(), CKR_ENCRYPTED_DATA_LEN_RANGE);
        let pad = m(CKM_DES3_CBC_PAD, MechParam::Bytes(vec![5; 8]));
        let ct = oneshot(&pad, &k, true, b"PLAIN TEXT_").unwrap();
        assert_eq!(ct.len(), 16);
        assert_eq!(oneshot(&pad, &k, false, &ct).unwrap(), b"PLAIN TEXT_");
        let mut bad = ct.clone();
        bad[7] ^= 0x55; // the last block's plaintext (its padding) changes
        assert_eq!(oneshot(&pad, &k, false, &bad).unwrap_err().rv(), CKR_ENCRYPTED_DATA_INVALID);
    }

    #[test]
    fn wrap_and_unwrap() {
        let k = key(16);
        let secret = [0x42u8; 20];
        for ty in [CKM_DES3_ECB, CKM_DES3_CBC, CKM_DES3_CBC_PAD] {
            let mech = m(ty, if ty == CKM_DES3_ECB { MechParam::None } else { MechParam::Bytes(vec![1; 8]) });
            let w = wrap(&mech, &k, &secret).unwrap();
            assert_eq!(w.len(), 24);
            let back = unwrap(&mech, &k, &w, Some(20)).unwrap();
            assert_eq!(&back[..], &secret[..], "{ty:#x}");
            if ty != CKM_DES3_CBC_PAD {
                assert_eq!(unwrap(&mech, &k, &w, None).unwrap().len(), 24);
            }
            assert_eq!(unwrap(&mech, &k, &w[..23], None).unwrap_err().rv(), CKR_WRAPPED_KEY_LEN_RANGE);
        }
        assert_eq!(
            wrap(&m(CKM_DES3_ECB, MechParam::None), &key(8), &secret).unwrap_err().rv(),
            CKR_WRAPPING_KEY_SIZE_RANGE
        );
    }
}
