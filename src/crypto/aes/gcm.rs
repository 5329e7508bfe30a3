//! Single-part AES-GCM: [`Prepared::gcm_seal`] and [`Prepared::gcm_open`]
//! with tags of 12..=16 bytes (truncated tags checked in constant time, no
//! plaintext released or left behind on failure) and IVs of any length up
//! to [`GCM_MAX_IV_LEN`] (96-bit IVs on aws-lc-rs's AEAD, others through
//! AWS-LC's EVP interface, `crypto::ffi`). Multi-part encryption is
//! `gcm_stream`'s.

use super::{BLOCK_LEN, Prepared};
use crate::crypto::{CryptoError, CryptoResult, ffi};
use aws_lc_rs::aead::{Aad, Nonce};
use zeroize::Zeroize;

/// The GCM IV length this module supports (96 bits).
pub const GCM_IV_LEN: usize = 12;
/// Shortest GCM tag accepted (96 bits).
pub const GCM_MIN_TAG_LEN: usize = 12;
/// Longest GCM IV accepted (the spec allows up to 2^32 - 1 bytes; longer
/// than this is refused as a parameter error).
pub const GCM_MAX_IV_LEN: usize = 1024;
/// Full GCM tag length (128 bits).
pub const GCM_MAX_TAG_LEN: usize = 16;
/// SP 800-38D: plaintext of at most 2^39 - 256 bits.
pub(super) const GCM_MAX_INPUT: u64 = (1 << 36) - 32;

impl Prepared {
    /// GCM-encrypts `in_out` in place and writes the tag, truncated to
    /// `tag.len()` (12..=16) bytes. `iv` must be 12 bytes.
    pub fn gcm_seal(&self, iv: &[u8], aad: &[u8], in_out: &mut [u8], tag: &mut [u8]) -> CryptoResult<()> {
        check_gcm_tag_len(tag.len())?;
        if iv.len() != GCM_IV_LEN {
            return self.gcm_any_iv(true, iv, aad, in_out, tag);
        }
        let nonce = Nonce::try_assume_unique_for_key(iv).map_err(|_| CryptoError::InvalidParam)?;
        if in_out.len() as u64 > GCM_MAX_INPUT {
            return Err(CryptoError::InvalidLength);
        }
        let full = self
            .0
            .gcm
            .seal_in_place_separate_tag(nonce, Aad::from(aad), in_out)
            .map_err(|_| CryptoError::InvalidLength)?;
        let n = tag.len();
        tag.copy_from_slice(&full.as_ref()[..n]);
        Ok(())
    }

    /// GCM-decrypts `in_out` in place after checking `tag` (12..=16 bytes,
    /// compared in constant time). On failure `in_out` is zeroed: no
    /// unauthenticated plaintext is ever left behind.
    pub fn gcm_open(&self, iv: &[u8], aad: &[u8], in_out: &mut [u8], tag: &[u8]) -> CryptoResult<()> {
        check_gcm_tag_len(tag.len())?;
        if iv.len() != GCM_IV_LEN {
            let mut t = [0u8; GCM_MAX_TAG_LEN];
            t[..tag.len()].copy_from_slice(tag);
            return self.gcm_any_iv(false, iv, aad, in_out, &mut t[..tag.len()]);
        }
        if in_out.len() as u64 > GCM_MAX_INPUT {
            return Err(CryptoError::InvalidLength);
        }
        let nonce = || Nonce::try_assume_unique_for_key(iv).map_err(|_| CryptoError::InvalidParam);
        if tag.len() == GCM_MAX_TAG_LEN {
            return match self.0.gcm.open_in_place_separate_tag(nonce()?, Aad::from(aad), tag, in_out) {
                Ok(_) => Ok(()),
                Err(_) => {
                    in_out.zeroize();
                    Err(CryptoError::AuthFailed)
                }
            };
        }
        // Truncated tag: the engine's AEAD only checks full tags. GCM is
        // deterministic for a given (key, IV), so recover the full tag of
        // (IV, AAD, C) by decrypting with GCM's own keystream (counter block
        // IV || 2, SP 800-38D inc32 equals the 128-bit increment below the
        // length limit checked above) and sealing the result again, which
        // reproduces C and its full tag. Compare the prefix in constant time;
        // release the plaintext only after it matches.
        let mut cb = [0u8; BLOCK_LEN];
        cb[..GCM_IV_LEN].copy_from_slice(iv);
        cb[BLOCK_LEN - 1] = 2;
        self.ctr_xor(cb, in_out)?;
        let full = match self.0.gcm.seal_in_place_separate_tag(nonce()?, Aad::from(aad), in_out) {
            Ok(t) => t,
            Err(_) => {
                in_out.zeroize();
                return Err(CryptoError::Internal);
            }
        };
        if aws_lc_rs::constant_time::verify_slices_are_equal(&full.as_ref()[..tag.len()], tag).is_err() {
            in_out.zeroize();
            return Err(CryptoError::AuthFailed);
        }
        self.ctr_xor(cb, in_out)
    }

    /// GCM with an IV that is not 96 bits long (1..=`GCM_MAX_IV_LEN`
    /// bytes), through AWS-LC's EVP interface.
    fn gcm_any_iv(&self, encrypt: bool, iv: &[u8], aad: &[u8], data: &mut [u8], tag: &mut [u8]) -> CryptoResult<()> {
        if iv.is_empty() || iv.len() > GCM_MAX_IV_LEN {
            return Err(CryptoError::InvalidParam);
        }
        if data.len() as u64 > GCM_MAX_INPUT {
            return Err(CryptoError::InvalidLength);
        }
        ffi::aes_gcm_any_iv(encrypt, &self.0.key, iv, aad, data, tag)
            .map_err(|_| if encrypt { CryptoError::Internal } else { CryptoError::AuthFailed })
    }
}

pub(super) fn check_gcm_tag_len(n: usize) -> CryptoResult<()> {
    if (GCM_MIN_TAG_LEN..=GCM_MAX_TAG_LEN).contains(&n) { Ok(()) } else { Err(CryptoError::InvalidParam) }
}
