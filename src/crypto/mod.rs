//! The primitives mechanisms call: the one provider seam (DESIGN.md §1).
//!
//! Everything here is plain cryptography over bytes and knows nothing of
//! PKCS#11. aws-lc-rs is the engine; mechanisms never name it directly.
//! What aws-lc-rs does not expose is called through AWS-LC's EVP interface
//! in `ffi`, the engine FFI home, private to this module: the only unsafe
//! code outside `abi`, wrapped in a safe API for `rsa`, `aes`, `rand`,
//! `digest`, `hmac`, `pq` (ML-DSA, ML-KEM) and `hpke` (RFC 9180).

pub mod aes;
pub mod block;
pub mod cbc_mac;
pub mod chacha;
pub mod cmac;
pub mod der;
pub mod des;
pub mod dh;
pub mod digest;
pub mod dsa;
pub mod ec;
pub mod ecdh_kdf;
// The engine FFI home: with `abi`, the only place unsafe code is allowed.
#[allow(unsafe_code)]
mod ffi;
pub mod hmac;
pub mod hpke;
pub mod okp;
pub mod pq;
pub mod rand;
pub mod rsa;
pub mod totp;

pub use rand::{random_fill, seed_random};

use std::sync::OnceLock;
use zeroize::Zeroizing;

/// Errors of the primitives; the mechanism layer maps them to `CK_RV`s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CryptoError {
    /// The key has the wrong size or form.
    InvalidKey,
    /// A parameter (IV, tag length, counter size) is unusable.
    InvalidParam,
    /// Input length does not fit the mode.
    InvalidLength,
    /// Authentication failed (bad tag, bad padding, bad integrity check).
    AuthFailed,
    /// The engine failed.
    Internal,
}

pub type CryptoResult<T> = std::result::Result<T, CryptoError>;

/// Random bytes in a zeroizing buffer.
pub fn random_secret(len: usize) -> CryptoResult<Zeroizing<Vec<u8>>> {
    let mut v = Zeroizing::new(vec![0u8; len]);
    random_fill(&mut v)?;
    Ok(v)
}

/// PBKDF2-HMAC-SHA256 into `out`.
pub fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) -> CryptoResult<()> {
    let iters = std::num::NonZeroU32::new(iterations).ok_or(CryptoError::InvalidParam)?;
    aws_lc_rs::pbkdf2::derive(aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256, iters, salt, password, out);
    Ok(())
}

/// AES-256-GCM seal with a fresh random 96-bit nonce: `nonce || ciphertext || tag`.
pub fn seal_aes256gcm(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> CryptoResult<Vec<u8>> {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
    let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| CryptoError::InvalidKey)?);
    let mut nonce = [0u8; NONCE_LEN];
    random_fill(&mut nonce)?;
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + 16);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = k
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut out[NONCE_LEN..])
        .map_err(|_| CryptoError::Internal)?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// Opens what [`seal_aes256gcm`] produced.
pub fn open_aes256gcm(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> CryptoResult<Zeroizing<Vec<u8>>> {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
    if sealed.len() < NONCE_LEN + 16 {
        return Err(CryptoError::InvalidLength);
    }
    let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| CryptoError::InvalidKey)?);
    let nonce = Nonce::try_assume_unique_for_key(&sealed[..NONCE_LEN]).map_err(|_| CryptoError::InvalidParam)?;
    let mut buf = Zeroizing::new(sealed[NONCE_LEN..].to_vec());
    let n = k.open_in_place(nonce, Aad::from(aad), &mut buf).map_err(|_| CryptoError::AuthFailed)?.len();
    buf.truncate(n);
    Ok(buf)
}

/// HMAC-SHA256 over the concatenation of `parts` (fingerprints, audit chain).
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let mut ctx = aws_lc_rs::hmac::Context::with_key(&k);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

/// HKDF-SHA256 (RFC 5869): extract with `salt`, expand `info` into `out`
/// (at most 255 * 32 bytes). Key separation for the store's derived keys.
pub fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[u8], out: &mut [u8]) -> CryptoResult<()> {
    struct Len(usize);
    impl aws_lc_rs::hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    let prk = aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA256, salt).extract(ikm);
    let info = [info];
    let okm = prk.expand(&info, Len(out.len())).map_err(|_| CryptoError::InvalidLength)?;
    okm.fill(out).map_err(|_| CryptoError::Internal)
}

/// Constant-time equality of two byte strings (different lengths: false).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    #[allow(deprecated)]
    let r = aws_lc_rs::constant_time::verify_slices_are_equal(a, b);
    r.is_ok()
}

/// A symmetric key's bytes plus engine state prepared on first use (key
/// schedules), shared by every operation on that key during the login.
pub struct SecretKey {
    bytes: Zeroizing<Vec<u8>>,
    aes: OnceLock<aes::Prepared>,
    des3: OnceLock<des::Des3Key>,
}

impl SecretKey {
    pub fn new(bytes: Zeroizing<Vec<u8>>) -> Self {
        SecretKey { bytes, aes: OnceLock::new(), des3: OnceLock::new() }
    }
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// The AES key schedules for this key, built once.
    pub fn aes(&self) -> CryptoResult<&aes::Prepared> {
        if let Some(p) = self.aes.get() {
            return Ok(p);
        }
        let p = aes::Prepared::new(&self.bytes)?;
        Ok(self.aes.get_or_init(|| p))
    }
    /// The triple-DES key schedules for this key (16 or 24 bytes), built once.
    pub fn des3(&self) -> CryptoResult<&des::Des3Key> {
        if let Some(p) = self.des3.get() {
            return Ok(p);
        }
        let p = des::Des3Key::new(&self.bytes)?;
        Ok(self.des3.get_or_init(|| p))
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({} bytes)", self.bytes.len())
    }
}

#[cfg(test)]
mod kdf_tests {
    #[test]
    fn hkdf_sha256_rfc5869_case_1() {
        let salt: Vec<u8> = (0u8..=0x0c).collect();
        let info: Vec<u8> = (0xf0u8..=0xf9).collect();
        let mut okm = [0u8; 42];
        super::hkdf_sha256(&salt, &[0x0b; 22], &info, &mut okm).unwrap();
        assert_eq!(
            hex::encode(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn ct_eq_compares_content_and_length() {
        assert!(super::ct_eq(b"abc", b"abc"));
        assert!(!super::ct_eq(b"abc", b"abd"));
        assert!(!super::ct_eq(b"abc", b"ab"));
    }
}
