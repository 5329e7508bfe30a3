//! HPKE (RFC 9180) base mode with the one suite keyward uses:
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM (suite ids 0x0020,
//! 0x0001, 0x0002), single-shot: one message per setup. Encrypts a short
//! secret (a data key) to a principal's X25519 public key, so that only the
//! holder of the matching private key (`crypto::okp`) opens it.
//!
//! Owns the suite choice and the length checks; the HPKE itself is
//! AWS-LC's (`ffi::hpke`). Knows nothing of PKCS#11 or of what the sealed
//! bytes mean: the callers (`store::wrap`) choose `info` and `aad`.

use super::ffi::{self, HPKE_X25519_LEN, HpkeAead};
use super::{CryptoError, CryptoResult};
use zeroize::Zeroizing;

/// Length of `enc`, the encapsulated ephemeral X25519 public key.
pub const ENC_LEN: usize = HPKE_X25519_LEN;
/// Length of the AES-256-GCM tag each ciphertext carries.
pub const TAG_LEN: usize = 16;

/// Seals `plaintext` to the 32-byte X25519 public key `recipient_public`,
/// binding `info` (key schedule) and `aad` (AEAD): returns `enc` and the
/// ciphertext (`plaintext.len() + TAG_LEN` bytes). `InvalidKey` for a
/// public key of the wrong length or a small-order point.
pub fn seal(
    recipient_public: &[u8],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> CryptoResult<([u8; ENC_LEN], Vec<u8>)> {
    let pk: &[u8; HPKE_X25519_LEN] = recipient_public.try_into().map_err(|_| CryptoError::InvalidKey)?;
    ffi::hpke_seal(HpkeAead::Aes256Gcm, pk, info, aad, plaintext).map_err(|_| CryptoError::InvalidKey)
}

/// Opens what [`seal`] produced with the recipient's 32-byte X25519 private
/// key. `InvalidKey` for a key of the wrong length, `AuthFailed` for a
/// wrong key, `enc`, `info`, `aad` or any change to the ciphertext.
pub fn open(
    recipient_secret: &[u8],
    enc: &[u8],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> CryptoResult<Zeroizing<Vec<u8>>> {
    let sk: Zeroizing<[u8; HPKE_X25519_LEN]> =
        Zeroizing::new(recipient_secret.try_into().map_err(|_| CryptoError::InvalidKey)?);
    if enc.len() != ENC_LEN || ciphertext.len() < TAG_LEN {
        return Err(CryptoError::AuthFailed);
    }
    ffi::hpke_open(HpkeAead::Aes256Gcm, &sk, enc, info, aad, ciphertext).map_err(|_| CryptoError::AuthFailed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::okp::{Okp, generate};

    #[test]
    fn round_trip_and_bindings() {
        let r = generate(Okp::X25519).unwrap();
        let (enc, ct) = seal(r.public().bytes(), b"info", b"aad", &[7u8; 32]).unwrap();
        assert_eq!(ct.len(), 32 + TAG_LEN);
        assert_eq!(&open(&r.secret(), &enc, b"info", b"aad", &ct).unwrap()[..], &[7u8; 32]);
        assert_eq!(open(&r.secret(), &enc, b"inf0", b"aad", &ct), Err(CryptoError::AuthFailed));
        assert_eq!(open(&r.secret(), &enc, b"info", b"aaD", &ct), Err(CryptoError::AuthFailed));
        let other = generate(Okp::X25519).unwrap();
        assert_eq!(open(&other.secret(), &enc, b"info", b"aad", &ct), Err(CryptoError::AuthFailed));
        let mut t = ct.clone();
        t[5] ^= 4;
        assert_eq!(open(&r.secret(), &enc, b"info", b"aad", &t), Err(CryptoError::AuthFailed));
        assert_eq!(open(&r.secret(), &enc[..31], b"info", b"aad", &ct), Err(CryptoError::AuthFailed));
        assert_eq!(open(&r.secret(), &enc, b"info", b"aad", &ct[..15]), Err(CryptoError::AuthFailed));
        assert_eq!(open(&r.secret()[..31], &enc, b"info", b"aad", &ct), Err(CryptoError::InvalidKey));
        assert_eq!(seal(&r.public().bytes()[..31], b"", b"", b"x"), Err(CryptoError::InvalidKey));
        assert_eq!(seal(&[0u8; 32], b"", b"", b"x"), Err(CryptoError::InvalidKey));
        // Empty plaintext: the tag alone.
        let (enc, ct) = seal(r.public().bytes(), b"", b"", b"").unwrap();
        assert_eq!(ct.len(), TAG_LEN);
        assert!(open(&r.secret(), &enc, b"", b"", &ct).unwrap().is_empty());
    }
}
