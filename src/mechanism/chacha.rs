//! CKM_CHACHA20_POLY1305 (PKCS#11 3.0 §2.? , RFC 8439) as encrypt/decrypt
//! operations on CKK_CHACHA20 keys, with CK_SALSA20_CHACHA20_POLY1305_PARAMS
//! (a 96-bit nonce and AAD); the 16-byte tag follows the ciphertext, as
//! with CKM_AES_GCM. The message-based form is `mechanism::message`.
//!
//! The engine's AEAD is whole-message, so multi-part calls go through
//! [`Buffered`]: Update collects (up to [`MAX_MULTIPART`] bytes, zeroized
//! when dropped), Final seals or opens; a decryption releases nothing
//! before the tag checks. Like GCM it unwraps but does not wrap (a nonce
//! the caller repeats under one wrapping key would expose the XOR of two
//! wrapped keys; see `mechanism::aes::wrap`).

use crate::ck::*;
use crate::crypto::chacha::{self, ChaChaKey};
use crate::crypto::{CryptoError, SecretKey};
use crate::err;
use crate::error::{Error, Result};
use crate::mechanism::{Buffered, Cipher, WholeMessage};
use crate::types::{MechParam, Mechanism};
use zeroize::Zeroizing;

/// The longest multi-part message (input bytes), as multi-part GCM
/// decryption: 64 MiB.
pub const MAX_MULTIPART: usize = 64 << 20;

/// The registry lines (`mechanism::registry`): key sizes in bytes.
pub const MECHANISMS: &[(CK_MECHANISM_TYPE, CK_ULONG, CK_ULONG, CK_FLAGS)] = &[
    (CKM_CHACHA20_KEY_GEN, 32, 32, CKF_GENERATE),
    (
        CKM_CHACHA20_POLY1305,
        32,
        32,
        CKF_ENCRYPT | CKF_DECRYPT | CKF_UNWRAP | CKF_MESSAGE_ENCRYPT | CKF_MESSAGE_DECRYPT | CKF_MULTI_MESSAGE,
    ),
];

/// The engine key of a CKK_CHACHA20 key (32 bytes).
pub fn key(k: &SecretKey) -> Result<ChaChaKey> {
    ChaChaKey::new(k.bytes())
        .map_err(|_| err!(CKR_KEY_SIZE_RANGE, "ChaCha20 key of {} bytes (32 expected)", k.bytes().len()))
}

fn params(mech: &Mechanism) -> Result<(Vec<u8>, Vec<u8>)> {
    let MechParam::ChaCha { nonce, aad } = &mech.param else {
        return Err(Error::new(
            CKR_MECHANISM_PARAM_INVALID,
            "CKM_CHACHA20_POLY1305 needs CK_SALSA20_CHACHA20_POLY1305_PARAMS",
        ));
    };
    if nonce.len() != chacha::NONCE_LEN {
        return Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "ChaCha20-Poly1305 nonce must be 96 bits"));
    }
    Ok((nonce.clone(), aad.clone()))
}

fn map(encrypt: bool, e: CryptoError) -> Error {
    match e {
        CryptoError::AuthFailed => Error::new(CKR_ENCRYPTED_DATA_INVALID, "encrypted data failed its tag check"),
        CryptoError::InvalidLength if encrypt => Error::new(CKR_DATA_LEN_RANGE, "input too long"),
        CryptoError::InvalidLength => Error::new(CKR_ENCRYPTED_DATA_LEN_RANGE, "encrypted input length out of range"),
        CryptoError::InvalidParam => Error::new(CKR_MECHANISM_PARAM_INVALID, "mechanism parameter not usable"),
        CryptoError::InvalidKey => Error::new(CKR_KEY_SIZE_RANGE, "ChaCha20 keys are 32 bytes"),
        CryptoError::Internal => Error::general("ChaCha20-Poly1305 engine failure"),
    }
}

struct Op {
    key: ChaChaKey,
    nonce: Vec<u8>,
    aad: Vec<u8>,
    encrypt: bool,
    /// Single-part and multi-part alike: one message per operation, so a
    /// nonce never seals two.
    done: std::cell::Cell<bool>,
}

impl WholeMessage for Op {
    fn out_bound(&self, n: usize) -> usize {
        if self.encrypt { n.saturating_add(chacha::TAG_LEN) } else { n.saturating_sub(chacha::TAG_LEN) }
    }
    fn check_input_len(&self, n: usize) -> Result<()> {
        if n > MAX_MULTIPART {
            return Err(err!(
                if self.encrypt { CKR_DATA_LEN_RANGE } else { CKR_ENCRYPTED_DATA_LEN_RANGE },
                "multi-part ChaCha20-Poly1305 is limited to {MAX_MULTIPART} bytes"
            ));
        }
        Ok(())
    }
    fn run(&self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        if self.done.replace(true) {
            return Err(Error::new(CKR_OPERATION_NOT_INITIALIZED, "ChaCha20-Poly1305 operation already finished"));
        }
        let n = input.len();
        if self.encrypt {
            out[..n].copy_from_slice(input);
            let (body, rest) = out.split_at_mut(n);
            let mut tag = [0u8; chacha::TAG_LEN];
            self.key.seal(&self.nonce, &self.aad, body, &mut tag).map_err(|e| map(true, e))?;
            rest[..chacha::TAG_LEN].copy_from_slice(&tag);
            Ok(n + chacha::TAG_LEN)
        } else {
            let Some(m) = n.checked_sub(chacha::TAG_LEN) else {
                return Err(Error::new(CKR_ENCRYPTED_DATA_LEN_RANGE, "input shorter than the tag"));
            };
            out[..m].copy_from_slice(&input[..m]);
            self.key.open(&self.nonce, &self.aad, &mut out[..m], &input[m..]).map_err(|e| map(false, e))?;
            Ok(m)
        }
    }
}

/// The CKM_CHACHA20_POLY1305 operation on `k`.
pub fn cipher(mech: &Mechanism, k: &SecretKey, encrypt: bool) -> Result<Box<dyn Cipher>> {
    let (nonce, aad) = params(mech)?;
    let op = Op { key: key(k)?, nonce, aad, encrypt, done: std::cell::Cell::new(false) };
    Ok(Box::new(Buffered::new(op)))
}

/// C_UnwrapKey with CKM_CHACHA20_POLY1305: opens `wrapped` (ciphertext
/// then tag).
pub fn unwrap(mech: &Mechanism, k: &SecretKey, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let (nonce, aad) = params(mech)?;
    let key = key(k).map_err(|e| Error::new(CKR_UNWRAPPING_KEY_SIZE_RANGE, e.reason().to_string()))?;
    let Some(m) = wrapped.len().checked_sub(chacha::TAG_LEN) else {
        return Err(Error::new(CKR_WRAPPED_KEY_LEN_RANGE, "wrapped key shorter than the tag"));
    };
    let mut out = Zeroizing::new(wrapped[..m].to_vec());
    key.open(&nonce, &aad, &mut out, &wrapped[m..]).map_err(|e| match e {
        CryptoError::AuthFailed => Error::new(CKR_WRAPPED_KEY_INVALID, "wrapped key failed its tag check"),
        e => map(false, e),
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn single_and_multi_part_and_bad_tag() {
        let k = SecretKey::new(Zeroizing::new(vec![0x42; 32]));
        let m = Mechanism {
            ty: CKM_CHACHA20_POLY1305,
            param: MechParam::ChaCha { nonce: h("000000000102030405060708"), aad: b"hdr".to_vec() },
        };
        let data = [0x33u8; 100];
        let mut c = cipher(&m, &k, true).unwrap();
        let mut ct = vec![0u8; c.oneshot_bound(100)];
        assert_eq!(c.oneshot(&data, &mut ct).unwrap(), 116);
        assert_eq!(c.oneshot(&data, &mut ct).unwrap_err().rv(), CKR_OPERATION_NOT_INITIALIZED, "one message");
        let mut d = cipher(&m, &k, false).unwrap();
        assert_eq!(d.update(&ct[..10], &mut []).unwrap(), 0);
        assert_eq!(d.update(&ct[10..], &mut []).unwrap(), 0);
        let mut pt = vec![0u8; d.final_bound()];
        assert_eq!(d.finalize(&mut pt).unwrap(), 100);
        assert_eq!(pt, data);
        ct[0] ^= 1;
        let mut d = cipher(&m, &k, false).unwrap();
        let mut pt = vec![0xeeu8; 116];
        assert_eq!(d.oneshot(&ct, &mut pt).unwrap_err().rv(), CKR_ENCRYPTED_DATA_INVALID);
        assert!(!pt.windows(4).any(|w| w == [0x33; 4]));
        let bad = Mechanism { ty: CKM_CHACHA20_POLY1305, param: MechParam::ChaCha { nonce: vec![0; 8], aad: vec![] } };
        assert_eq!(cipher(&bad, &k, true).err().unwrap().rv(), CKR_MECHANISM_PARAM_INVALID);
        assert_eq!(
            cipher(&Mechanism::new(CKM_CHACHA20_POLY1305), &k, true).err().unwrap().rv(),
            CKR_MECHANISM_PARAM_INVALID
        );
    }
}
