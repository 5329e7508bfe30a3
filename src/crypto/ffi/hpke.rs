//! HPKE (RFC 9180) base mode through AWS-LC's `EVP_HPKE_*` interface
//! (`include/openssl/hpke.h` of the AWS-LC aws-lc-sys 0.47 builds), which
//! aws-lc-rs does not expose: DHKEM(X25519, HKDF-SHA256) with HKDF-SHA256,
//! single-shot (one message per context, sequence number 0). The safe API
//! of `crypto::hpke`.
//!
//! Owns: the HPKE sender/recipient contexts and the recipient key object,
//! both freed on drop. It does not choose the AEAD for callers
//! (`crypto::hpke` fixes AES-256-GCM) and never implements any part of
//! HPKE itself: the KEM, key schedule and AEAD are AWS-LC's.

use super::{Failed, check, clear_errors};
use aws_lc_sys as sys;
use std::ptr::NonNull;
use zeroize::Zeroizing;

/// Length of an X25519 public key, private key and of `enc`.
pub const X25519_LEN: usize = 32;

/// The AEADs of RFC 9180 §7.3 used here: AES-256-GCM in the product,
/// AES-128-GCM only for the RFC 9180 Appendix A.1 vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HpkeAead {
    Aes256Gcm,
    #[cfg(test)]
    Aes128Gcm,
}

impl HpkeAead {
    fn table(self) -> *const sys::EVP_HPKE_AEAD {
        // SAFETY: the EVP_hpke_* functions return pointers to static tables.
        unsafe {
            match self {
                HpkeAead::Aes256Gcm => sys::EVP_hpke_aes_256_gcm(),
                #[cfg(test)]
                HpkeAead::Aes128Gcm => sys::EVP_hpke_aes_128_gcm(),
            }
        }
    }
}

/// An HPKE context, freed (and its keys cleansed) on drop.
struct Ctx(NonNull<sys::EVP_HPKE_CTX>);

impl Ctx {
    fn new() -> Result<Ctx, Failed> {
        // SAFETY: allocates and zero-initialises a context, or returns NULL.
        NonNull::new(unsafe { sys::EVP_HPKE_CTX_new() }).map(Ctx).ok_or_else(|| {
            clear_errors();
            Failed
        })
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        // SAFETY: we own the context; EVP_HPKE_CTX_free cleans it up and
        // frees it (AWS-LC's OPENSSL_free cleanses the allocation).
        unsafe { sys::EVP_HPKE_CTX_free(self.0.as_ptr()) }
    }
}

/// A recipient key object, freed (and cleansed) on drop.
struct Key(NonNull<sys::EVP_HPKE_KEY>);

impl Key {
    /// The X25519 recipient key with private key `secret`.
    fn x25519(secret: &[u8; X25519_LEN]) -> Result<Key, Failed> {
        // SAFETY: allocates and zero-initialises a key object, or NULL.
        let key = NonNull::new(unsafe { sys::EVP_HPKE_KEY_new() }).map(Key).ok_or_else(|| {
            clear_errors();
            Failed
        })?;
        // SAFETY: `key` is a live, zeroed key object; the KEM table is
        // static; `secret` is readable for the 32 bytes passed. AWS-LC
        // copies the private key and derives the public key from it.
        check(unsafe {
            sys::EVP_HPKE_KEY_init(key.0.as_ptr(), sys::EVP_hpke_x25519_hkdf_sha256(), secret.as_ptr(), secret.len())
        })?;
        Ok(key)
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        // SAFETY: we own the key object.
        unsafe { sys::EVP_HPKE_KEY_free(self.0.as_ptr()) }
    }
}

/// Sets up a sender context to `recipient` (with the ephemeral private key
/// `seed` when given: RFC 9180 test vectors only) and seals `plaintext`
/// once: returns `enc` and the ciphertext (plaintext length plus the tag).
fn seal_inner(
    aead: HpkeAead,
    recipient: &[u8; X25519_LEN],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    seed: Option<&[u8; X25519_LEN]>,
) -> Result<([u8; X25519_LEN], Vec<u8>), Failed> {
    let ctx = Ctx::new()?;
    let c = ctx.0.as_ptr();
    let mut enc = [0u8; X25519_LEN];
    let mut enc_len = 0usize;
    // SAFETY: `c` is a live, zeroed context; the KEM, KDF and AEAD tables
    // are static; `enc` is writable for the `max_enc` bytes passed; the
    // recipient key, `info` and the seed are readable for their lengths.
    // AWS-LC keeps no pointer to any of them after the call.
    let rc = unsafe {
        match seed {
            None => sys::EVP_HPKE_CTX_setup_sender(
                c,
                enc.as_mut_ptr(),
                &mut enc_len,
                enc.len(),
                sys::EVP_hpke_x25519_hkdf_sha256(),
                sys::EVP_hpke_hkdf_sha256(),
                aead.table(),
                recipient.as_ptr(),
                recipient.len(),
                info.as_ptr(),
                info.len(),
            ),
            Some(seed) => sys::EVP_HPKE_CTX_setup_sender_with_seed_for_testing(
                c,
                enc.as_mut_ptr(),
                &mut enc_len,
                enc.len(),
                sys::EVP_hpke_x25519_hkdf_sha256(),
                sys::EVP_hpke_hkdf_sha256(),
                aead.table(),
                recipient.as_ptr(),
                recipient.len(),
                info.as_ptr(),
                info.len(),
                seed.as_ptr(),
                seed.len(),
            ),
        }
    };
    check(rc)?;
    if enc_len != X25519_LEN {
        return Err(Failed);
    }
    // SAFETY: `c` is a set-up context.
    let overhead = unsafe { sys::EVP_HPKE_CTX_max_overhead(c) };
    let max = plaintext.len().checked_add(overhead).ok_or(Failed)?;
    let mut out = vec![0u8; max];
    let mut out_len = 0usize;
    // SAFETY: `out` is writable for `max` bytes (plaintext plus the AEAD's
    // maximum overhead, as hpke.h requires); `plaintext` and `aad` are
    // readable for their lengths and do not overlap `out`.
    check(unsafe {
        sys::EVP_HPKE_CTX_seal(
            c,
            out.as_mut_ptr(),
            &mut out_len,
            max,
            plaintext.as_ptr(),
            plaintext.len(),
            aad.as_ptr(),
            aad.len(),
        )
    })?;
    if out_len > max {
        return Err(Failed);
    }
    out.truncate(out_len);
    Ok((enc, out))
}

/// HPKE base-mode single-shot seal of `plaintext` to the X25519 public key
/// `recipient`, with `info` (key schedule) and `aad` (AEAD): `enc` and the
/// ciphertext. A fresh ephemeral key from AWS-LC's DRBG every call.
pub fn hpke_seal(
    aead: HpkeAead,
    recipient: &[u8; X25519_LEN],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<([u8; X25519_LEN], Vec<u8>), Failed> {
    seal_inner(aead, recipient, info, aad, plaintext, None)
}

/// As [`hpke_seal`] with the ephemeral private key `sk_e` given (RFC 9180
/// test vectors; AWS-LC's `_with_seed_for_testing`, whose X25519 seed is
/// skEm itself).
#[cfg(test)]
pub fn hpke_seal_with_seed_for_testing(
    aead: HpkeAead,
    recipient: &[u8; X25519_LEN],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    sk_e: &[u8; X25519_LEN],
) -> Result<([u8; X25519_LEN], Vec<u8>), Failed> {
    seal_inner(aead, recipient, info, aad, plaintext, Some(sk_e))
}

/// Opens what [`hpke_seal`] produced, with the recipient's X25519 private
/// key: the plaintext, or `Failed` for a wrong key, `enc`, `info`, `aad`
/// or any change to the ciphertext.
pub fn hpke_open(
    aead: HpkeAead,
    recipient_secret: &[u8; X25519_LEN],
    enc: &[u8],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Failed> {
    if enc.len() != X25519_LEN {
        return Err(Failed);
    }
    let key = Key::x25519(recipient_secret)?;
    let ctx = Ctx::new()?;
    let c = ctx.0.as_ptr();
    // SAFETY: `c` is a live, zeroed context; `key` a live, initialised key
    // object; the KDF and AEAD tables are static; `enc` and `info` are
    // readable for their lengths; nothing is retained after the call.
    check(unsafe {
        sys::EVP_HPKE_CTX_setup_recipient(
            c,
            key.0.as_ptr(),
            sys::EVP_hpke_hkdf_sha256(),
            aead.table(),
            enc.as_ptr(),
            enc.len(),
            info.as_ptr(),
            info.len(),
        )
    })?;
    let mut out = Zeroizing::new(vec![0u8; ciphertext.len()]);
    let mut out_len = 0usize;
    // SAFETY: `out` is writable for `ciphertext.len()` bytes (a plaintext
    // is never longer than its ciphertext); the inputs are readable for
    // their lengths and do not overlap `out`. On failure AWS-LC writes
    // nothing usable and `out` is zeroed on drop.
    check(unsafe {
        sys::EVP_HPKE_CTX_open(
            c,
            out.as_mut_ptr(),
            &mut out_len,
            out.len(),
            ciphertext.as_ptr(),
            ciphertext.len(),
            aad.as_ptr(),
            aad.len(),
        )
    })?;
    if out_len > out.len() {
        return Err(Failed);
    }
    out.truncate(out_len);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn h32(s: &str) -> [u8; 32] {
        h(s).try_into().unwrap()
    }

    // RFC 9180 Appendix A.1.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
    // AES-128-GCM, Base Setup Information, and the first encryption
    // (sequence number 0). RFC 9180's appendix has no X25519 + AES-256-GCM
    // suite (A.6 with AES-256-GCM is DHKEM(P-521), which AWS-LC's HPKE
    // lacks); this vector pins the KEM, the KDF and the key schedule that
    // the AES-256-GCM suite shares.
    const A1_SK_RM: &str = "4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8";
    const A1_PK_RM: &str = "3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d";
    const A1_SK_EM: &str = "52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736";
    const A1_ENC: &str = "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431";
    const A1_INFO: &str = "4f6465206f6e2061204772656369616e2055726e";
    const A1_AAD_0: &str = "436f756e742d30";
    const A1_PT: &str = "4265617574792069732074727574682c20747275746820626561757479";
    const A1_CT_0: &str = "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a";

    #[test]
    fn rfc9180_a_1_1_base_seal_and_open() {
        let aead = HpkeAead::Aes128Gcm;
        let (enc, ct) =
            hpke_seal_with_seed_for_testing(aead, &h32(A1_PK_RM), &h(A1_INFO), &h(A1_AAD_0), &h(A1_PT), &h32(A1_SK_EM))
                .unwrap();
        assert_eq!(hex::encode(enc), A1_ENC);
        assert_eq!(hex::encode(&ct), A1_CT_0);

        let sk = h32(A1_SK_RM);
        let pt = hpke_open(aead, &sk, &h(A1_ENC), &h(A1_INFO), &h(A1_AAD_0), &h(A1_CT_0)).unwrap();
        assert_eq!(hex::encode(&pt[..]), A1_PT);

        // A changed info, aad, enc or ciphertext, the other AEAD, or
        // another key: nothing.
        assert!(hpke_open(aead, &sk, &h(A1_ENC), b"Ode on a Grecian Urm", &h(A1_AAD_0), &h(A1_CT_0)).is_err());
        assert!(hpke_open(aead, &sk, &h(A1_ENC), &h(A1_INFO), b"Count-1", &h(A1_CT_0)).is_err());
        let mut bad_enc = h(A1_ENC);
        bad_enc[3] ^= 1;
        assert!(hpke_open(aead, &sk, &bad_enc, &h(A1_INFO), &h(A1_AAD_0), &h(A1_CT_0)).is_err());
        assert!(hpke_open(aead, &sk, &h(A1_ENC)[1..], &h(A1_INFO), &h(A1_AAD_0), &h(A1_CT_0)).is_err());
        let ct = h(A1_CT_0);
        for i in [0, ct.len() / 2, ct.len() - 1] {
            let mut t = ct.clone();
            t[i] ^= 0x80;
            assert!(hpke_open(aead, &sk, &h(A1_ENC), &h(A1_INFO), &h(A1_AAD_0), &t).is_err(), "flip at {i}");
        }
        assert!(hpke_open(aead, &sk, &h(A1_ENC), &h(A1_INFO), &h(A1_AAD_0), &ct[..ct.len() - 1]).is_err());
        assert!(hpke_open(HpkeAead::Aes256Gcm, &sk, &h(A1_ENC), &h(A1_INFO), &h(A1_AAD_0), &ct).is_err());
        assert!(hpke_open(aead, &h32(A1_SK_EM), &h(A1_ENC), &h(A1_INFO), &h(A1_AAD_0), &ct).is_err());
    }

    /// The product suite (AES-256-GCM) with the A.1 keys: deterministic
    /// under a fixed ephemeral key, opens with the recipient key, differs
    /// from the AES-128-GCM suite (the suite id is in the key schedule).
    #[test]
    fn aes_256_gcm_suite_round_trip() {
        let aead = HpkeAead::Aes256Gcm;
        let (pk, sk, ske) = (h32(A1_PK_RM), h32(A1_SK_RM), h32(A1_SK_EM));
        let (enc, ct) = hpke_seal_with_seed_for_testing(aead, &pk, b"info", b"aad", b"dek", &ske).unwrap();
        assert_eq!(hex::encode(enc), A1_ENC, "enc depends on the KEM only");
        assert_eq!(ct.len(), 3 + 16);
        let again = hpke_seal_with_seed_for_testing(aead, &pk, b"info", b"aad", b"dek", &ske).unwrap();
        assert_eq!(again.1, ct);
        let other = hpke_seal_with_seed_for_testing(HpkeAead::Aes128Gcm, &pk, b"info", b"aad", b"dek", &ske).unwrap();
        assert_ne!(other.1, ct);
        assert_eq!(&hpke_open(aead, &sk, &enc, b"info", b"aad", &ct).unwrap()[..], b"dek");

        let (enc2, ct2) = hpke_seal(aead, &pk, b"info", b"aad", b"dek").unwrap();
        assert_ne!(enc2, enc, "fresh ephemeral key");
        assert_eq!(&hpke_open(aead, &sk, &enc2, b"info", b"aad", &ct2).unwrap()[..], b"dek");
        // A small-order recipient point is refused (X25519 gives zero).
        assert!(hpke_seal(aead, &[0u8; 32], b"", b"", b"x").is_err());
    }
}
