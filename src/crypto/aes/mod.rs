//! AES primitives: GCM, ECB, CBC (with and without PKCS#7 padding), CTR
//! with a counter of any width, and key wrap (RFC 3394, RFC 5649).
//!
//! Knows nothing of PKCS#11. A [`Prepared`] holds the engine's key schedules
//! for one key and is built once per key (see `SecretKey::aes`); it is a
//! cheap `Arc` clone, so an operation object can own one. The streaming
//! objects ([`BlockStream`], [`CtrStream`]) take input in chunks of any size
//! and keep partial blocks between calls; [`GcmSealStream`] is multi-part
//! GCM encryption.
//!
//! Engine: aws-lc-rs for the block cipher, the modes and GCM; AWS-LC's EVP
//! interface (`crypto::ffi`) for GCM with IVs other than 96 bits and for
//! multi-part GCM. Key wrap is written here over the cached block cipher
//! (see `kw`).
//!
//! Files: this one holds [`Prepared`] and its raw block operations (ECB,
//! CBC and CTR over whole buffers, single blocks); `gcm` (single-part GCM
//! seal and open, truncated tags, any IV length), `gcm_stream` (multi-part
//! GCM encryption), `kw` (RFC 3394 / RFC 5649 key wrap), `ctr` (CTR streams with a
//! counter of any width, [`CtrStream`]).

mod ctr;
mod gcm;
mod gcm_stream;
mod kw;
#[cfg(test)]
mod tests;

use super::{CryptoError, CryptoResult};
use crate::crypto::block::BlockModes;
use aws_lc_rs::aead::{self, LessSafeKey, UnboundKey};
use aws_lc_rs::cipher::{self, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey};
pub use ctr::CtrStream;
pub use gcm::{GCM_IV_LEN, GCM_MAX_IV_LEN, GCM_MAX_TAG_LEN, GCM_MIN_TAG_LEN};
pub use gcm_stream::GcmSealStream;
pub use kw::{KW_IV, KWP_IV_PREFIX};
use std::sync::Arc;
use zeroize::Zeroizing;

/// The AES block length in bytes.
pub const BLOCK_LEN: usize = 16;

/// Multi-part AES-ECB/CBC (`crypto::block`, shared with 3DES).
pub type BlockStream = crate::crypto::block::BlockStream<Prepared, BLOCK_LEN>;

struct Inner {
    /// The key itself, for GCM with IVs other than 96 bits (AWS-LC's EVP
    /// interface, `crypto::ffi`).
    key: Zeroizing<Vec<u8>>,
    gcm: LessSafeKey,
    ecb_enc: EncryptingKey,
    ecb_dec: DecryptingKey,
    cbc_enc: EncryptingKey,
    cbc_dec: DecryptingKey,
    ctr: EncryptingKey,
}

/// Engine key state for one AES key (GCM key, block cipher schedules).
/// Cloning shares the state.
#[derive(Clone)]
pub struct Prepared(Arc<Inner>);

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "aes::Prepared")
    }
}

fn iv_ctx(iv: [u8; BLOCK_LEN]) -> EncryptionContext {
    EncryptionContext::Iv128(iv.into())
}

impl Prepared {
    pub fn new(key: &[u8]) -> CryptoResult<Prepared> {
        let (gcm_alg, alg) = match key.len() {
            16 => (&aead::AES_128_GCM, &cipher::AES_128),
            24 => (&aead::AES_192_GCM, &cipher::AES_192),
            32 => (&aead::AES_256_GCM, &cipher::AES_256),
            _ => return Err(CryptoError::InvalidKey),
        };
        let ub = || UnboundCipherKey::new(alg, key).map_err(|_| CryptoError::InvalidKey);
        let e = |_| CryptoError::InvalidKey;
        Ok(Prepared(Arc::new(Inner {
            key: Zeroizing::new(key.to_vec()),
            gcm: LessSafeKey::new(UnboundKey::new(gcm_alg, key).map_err(e)?),
            ecb_enc: EncryptingKey::ecb(ub()?).map_err(e)?,
            ecb_dec: DecryptingKey::ecb(ub()?).map_err(e)?,
            cbc_enc: EncryptingKey::cbc(ub()?).map_err(e)?,
            cbc_dec: DecryptingKey::cbc(ub()?).map_err(e)?,
            ctr: EncryptingKey::ctr(ub()?).map_err(e)?,
        })))
    }

    /// XORs the CTR keystream starting at counter block `cb` (128-bit
    /// big-endian increment) into `buf` (any length).
    fn ctr_xor(&self, cb: [u8; BLOCK_LEN], buf: &mut [u8]) -> CryptoResult<()> {
        if buf.is_empty() {
            return Ok(());
        }
        self.0.ctr.less_safe_encrypt(buf, iv_ctx(cb)).map(|_| ()).map_err(|_| CryptoError::Internal)
    }

    /// Encrypts one block in place.
    pub fn encrypt_block(&self, block: &mut [u8; BLOCK_LEN]) -> CryptoResult<()> {
        self.ecb_encrypt(block)
    }

    /// Decrypts one block in place.
    pub fn decrypt_block(&self, block: &mut [u8; BLOCK_LEN]) -> CryptoResult<()> {
        self.ecb_decrypt(block)
    }
}

// ---- raw block operations (whole blocks, in place) ----
impl BlockModes<BLOCK_LEN> for Prepared {
    fn ecb_encrypt(&self, buf: &mut [u8]) -> CryptoResult<()> {
        if buf.is_empty() {
            return Ok(());
        }
        self.0.ecb_enc.less_safe_encrypt(buf, EncryptionContext::None).map(|_| ()).map_err(|_| CryptoError::Internal)
    }

    fn ecb_decrypt(&self, buf: &mut [u8]) -> CryptoResult<()> {
        if buf.is_empty() {
            return Ok(());
        }
        self.0.ecb_dec.decrypt(buf, DecryptionContext::None).map(|_| ()).map_err(|_| CryptoError::Internal)
    }

    fn cbc_encrypt(&self, iv: [u8; BLOCK_LEN], buf: &mut [u8]) -> CryptoResult<[u8; BLOCK_LEN]> {
        if buf.is_empty() {
            return Ok(iv);
        }
        self.0.cbc_enc.less_safe_encrypt(buf, iv_ctx(iv)).map_err(|_| CryptoError::Internal)?;
        Ok(last_block(buf))
    }

    fn cbc_decrypt(&self, iv: [u8; BLOCK_LEN], buf: &mut [u8]) -> CryptoResult<[u8; BLOCK_LEN]> {
        if buf.is_empty() {
            return Ok(iv);
        }
        let next = last_block(buf);
        self.0.cbc_dec.decrypt(buf, DecryptionContext::Iv128(iv.into())).map_err(|_| CryptoError::Internal)?;
        Ok(next)
    }
}

fn last_block(buf: &[u8]) -> [u8; BLOCK_LEN] {
    let mut b = [0u8; BLOCK_LEN];
    b.copy_from_slice(&buf[buf.len() - BLOCK_LEN..]);
    b
}
