//! ChaCha20-Poly1305 (RFC 8439) as a whole-message AEAD: [`ChaChaKey::seal`]
//! and [`ChaChaKey::open`] with a 96-bit nonce and a 128-bit tag, on
//! aws-lc-rs's `CHACHA20_POLY1305`. Knows nothing of PKCS#11.
//!
//! There is no streaming form: aws-lc-rs's AEAD API is whole-message, and a
//! decryption must not release plaintext before its tag checks anyway, so
//! the mechanism layer collects multi-part input and calls these at the end.

use super::{CryptoError, CryptoResult};
use aws_lc_rs::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use zeroize::Zeroize;

/// Key length (256 bits).
pub const KEY_LEN: usize = 32;
/// Nonce length (96 bits, RFC 8439 §2.8).
pub const NONCE_LEN: usize = 12;
/// Tag length (128 bits).
pub const TAG_LEN: usize = 16;
/// RFC 8439 §2.8: at most 2^38 - 64 bytes of plaintext per nonce.
const MAX_INPUT: u64 = (1 << 38) - 64;

/// An engine ChaCha20-Poly1305 key.
pub struct ChaChaKey(LessSafeKey);

impl std::fmt::Debug for ChaChaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "chacha::ChaChaKey")
    }
}

impl ChaChaKey {
    /// A key of exactly [`KEY_LEN`] bytes.
    pub fn new(key: &[u8]) -> CryptoResult<ChaChaKey> {
        if key.len() != KEY_LEN {
            return Err(CryptoError::InvalidKey);
        }
        let k = UnboundKey::new(&CHACHA20_POLY1305, key).map_err(|_| CryptoError::InvalidKey)?;
        Ok(ChaChaKey(LessSafeKey::new(k)))
    }

    fn nonce(nonce: &[u8]) -> CryptoResult<Nonce> {
        Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::InvalidParam)
    }

    /// Encrypts `in_out` in place and writes the 16-byte tag.
    pub fn seal(&self, nonce: &[u8], aad: &[u8], in_out: &mut [u8], tag: &mut [u8; TAG_LEN]) -> CryptoResult<()> {
        let n = Self::nonce(nonce)?;
        if in_out.len() as u64 > MAX_INPUT {
            return Err(CryptoError::InvalidLength);
        }
        let t = self.0.seal_in_place_separate_tag(n, Aad::from(aad), in_out).map_err(|_| CryptoError::InvalidLength)?;
        tag.copy_from_slice(t.as_ref());
        Ok(())
    }

    /// Decrypts `in_out` in place after checking `tag` (16 bytes, constant
    /// time). On failure `in_out` is zeroed: no unauthenticated plaintext
    /// is left behind.
    pub fn open(&self, nonce: &[u8], aad: &[u8], in_out: &mut [u8], tag: &[u8]) -> CryptoResult<()> {
        let n = Self::nonce(nonce)?;
        if tag.len() != TAG_LEN {
            return Err(CryptoError::InvalidParam);
        }
        if in_out.len() as u64 > MAX_INPUT {
            return Err(CryptoError::InvalidLength);
        }
        match self.0.open_in_place_separate_tag(n, Aad::from(aad), tag, in_out) {
            Ok(_) => Ok(()),
            Err(_) => {
                in_out.zeroize();
                Err(CryptoError::AuthFailed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace([' ', '\n'], "")).unwrap()
    }

    /// RFC 8439 §2.8.2.
    #[test]
    fn rfc8439_aead_vector() {
        let key = h("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
        let nonce = h("070000004041424344454647");
        let aad = h("50515253c0c1c2c3c4c5c6c7");
        let pt = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let ct = h(
            "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116",
        );
        let tag = h("1ae10b594f09e26a7e902ecbd0600691");
        let k = ChaChaKey::new(&key).unwrap();
        let mut buf = pt.to_vec();
        let mut t = [0u8; TAG_LEN];
        k.seal(&nonce, &aad, &mut buf, &mut t).unwrap();
        assert_eq!((buf.clone(), t.to_vec()), (ct, tag.clone()));
        k.open(&nonce, &aad, &mut buf, &tag).unwrap();
        assert_eq!(buf, pt);
        let mut bad = tag.clone();
        bad[0] ^= 1;
        k.seal(&nonce, &aad, &mut buf, &mut t).unwrap();
        assert_eq!(k.open(&nonce, &aad, &mut buf, &bad), Err(CryptoError::AuthFailed));
        assert!(buf.iter().all(|b| *b == 0), "no plaintext left behind");
        assert_eq!(k.open(&nonce[..8], &aad, &mut buf, &tag), Err(CryptoError::InvalidParam));
        assert_eq!(ChaChaKey::new(&key[..16]).unwrap_err(), CryptoError::InvalidKey);
    }
}
