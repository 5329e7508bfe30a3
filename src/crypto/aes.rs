//! AES primitives: GCM, ECB, CBC (with and without PKCS#7 padding), CTR
//! with a counter of any width, and key wrap (RFC 3394, RFC 5649).
//!
//! Knows nothing of PKCS#11. A [`Prepared`] holds the engine's key schedules
//! for one key and is built once per key (see `SecretKey::aes`); it is a
//! cheap `Arc` clone, so an operation object can own one. The streaming
//! objects ([`BlockStream`], [`CtrStream`]) take input in chunks of any size
//! and keep partial blocks between calls; [`GcmSealStream`] (in
//! `aes/gcm_stream.rs`) is multi-part GCM encryption.
//!
//! Engine: aws-lc-rs for the block cipher, the modes and GCM. Key wrap is
//! the RFC 3394 / RFC 5649 algorithm written here over the cached block
//! cipher (aws-lc-rs's `key_wrap` rebuilds the key schedule on every call and
//! has no 192-bit KEK); the tests check it against the RFC vectors and
//! against aws-lc-rs.

use super::{CryptoError, CryptoResult};

mod gcm_stream;
use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{self, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey};
pub use gcm_stream::GcmSealStream;
use std::sync::Arc;
use zeroize::{Zeroize, Zeroizing};

/// The AES block length in bytes.
pub const BLOCK_LEN: usize = 16;
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
const GCM_MAX_INPUT: u64 = (1 << 36) - 32;
/// RFC 3394 default initial value.
pub const KW_IV: [u8; 8] = [0xA6; 8];
/// RFC 5649 alternative initial value, first half (the second is the length).
pub const KWP_IV_PREFIX: [u8; 4] = [0xA6, 0x59, 0x59, 0xA6];

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

    // ---- raw block operations (whole blocks, in place) ----

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

    /// CBC-encrypts whole blocks in place; returns the next IV.
    fn cbc_encrypt(&self, iv: [u8; BLOCK_LEN], buf: &mut [u8]) -> CryptoResult<[u8; BLOCK_LEN]> {
        if buf.is_empty() {
            return Ok(iv);
        }
        self.0.cbc_enc.less_safe_encrypt(buf, iv_ctx(iv)).map_err(|_| CryptoError::Internal)?;
        Ok(last_block(buf))
    }

    /// CBC-decrypts whole blocks in place; returns the next IV.
    fn cbc_decrypt(&self, iv: [u8; BLOCK_LEN], buf: &mut [u8]) -> CryptoResult<[u8; BLOCK_LEN]> {
        if buf.is_empty() {
            return Ok(iv);
        }
        let next = last_block(buf);
        self.0.cbc_dec.decrypt(buf, DecryptionContext::Iv128(iv.into())).map_err(|_| CryptoError::Internal)?;
        Ok(next)
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

    // ---- GCM ----

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
        super::ffi::aes_gcm_any_iv(encrypt, &self.0.key, iv, aad, data, tag)
            .map_err(|_| if encrypt { CryptoError::Internal } else { CryptoError::AuthFailed })
    }

    // ---- key wrap ----

    /// RFC 3394 W: wraps `r` (n >= 2 semiblocks) in place with initial value `a`.
    fn kw_w(&self, mut a: [u8; 8], r: &mut [u8]) -> CryptoResult<[u8; 8]> {
        let n = r.len() / 8;
        let mut b = Zeroizing::new([0u8; BLOCK_LEN]);
        for j in 0..6 {
            for i in 0..n {
                b[..8].copy_from_slice(&a);
                b[8..].copy_from_slice(&r[i * 8..i * 8 + 8]);
                self.encrypt_block(&mut b)?;
                let t = ((n * j + i + 1) as u64).to_be_bytes();
                for k in 0..8 {
                    a[k] = b[k] ^ t[k];
                }
                r[i * 8..i * 8 + 8].copy_from_slice(&b[8..]);
            }
        }
        Ok(a)
    }

    /// RFC 3394 W^-1: unwraps `r` (n >= 2 semiblocks) in place; returns A.
    fn kw_w_inv(&self, mut a: [u8; 8], r: &mut [u8]) -> CryptoResult<[u8; 8]> {
        let n = r.len() / 8;
        let mut b = Zeroizing::new([0u8; BLOCK_LEN]);
        for j in (0..6).rev() {
            for i in (0..n).rev() {
                let t = ((n * j + i + 1) as u64).to_be_bytes();
                for k in 0..8 {
                    b[k] = a[k] ^ t[k];
                }
                b[8..].copy_from_slice(&r[i * 8..i * 8 + 8]);
                self.decrypt_block(&mut b)?;
                a.copy_from_slice(&b[..8]);
                r[i * 8..i * 8 + 8].copy_from_slice(&b[8..]);
            }
        }
        Ok(a)
    }

    /// AES Key Wrap (RFC 3394, default IV): `plaintext` is a multiple of 8
    /// bytes and at least 16; the output is 8 bytes longer.
    pub fn kw_wrap(&self, plaintext: &[u8]) -> CryptoResult<Vec<u8>> {
        if plaintext.len() < 16 || !plaintext.len().is_multiple_of(8) {
            return Err(CryptoError::InvalidLength);
        }
        let mut out = vec![0u8; plaintext.len() + 8];
        out[8..].copy_from_slice(plaintext);
        let a = self.kw_w(KW_IV, &mut out[8..])?;
        out[..8].copy_from_slice(&a);
        Ok(out)
    }

    /// Inverse of [`Prepared::kw_wrap`]; `AuthFailed` on an integrity failure.
    pub fn kw_unwrap(&self, wrapped: &[u8]) -> CryptoResult<Zeroizing<Vec<u8>>> {
        if wrapped.len() < 24 || !wrapped.len().is_multiple_of(8) {
            return Err(CryptoError::InvalidLength);
        }
        let mut r = Zeroizing::new(wrapped[8..].to_vec());
        let a0: [u8; 8] = wrapped[..8].try_into().map_err(|_| CryptoError::Internal)?;
        let a = self.kw_w_inv(a0, &mut r)?;
        if aws_lc_rs::constant_time::verify_slices_are_equal(&a, &KW_IV).is_err() {
            return Err(CryptoError::AuthFailed);
        }
        Ok(r)
    }

    /// AES Key Wrap with Padding (RFC 5649): 1 ..= 2^32-1 bytes in; the
    /// output is the input rounded up to 8, plus 8.
    pub fn kwp_wrap(&self, plaintext: &[u8]) -> CryptoResult<Vec<u8>> {
        let m = plaintext.len();
        if m == 0 || m > u32::MAX as usize {
            return Err(CryptoError::InvalidLength);
        }
        let padded = m.div_ceil(8) * 8;
        let mut aiv = [0u8; 8];
        aiv[..4].copy_from_slice(&KWP_IV_PREFIX);
        aiv[4..].copy_from_slice(&(m as u32).to_be_bytes());
        let mut out = vec![0u8; padded + 8];
        out[8..8 + m].copy_from_slice(plaintext);
        if padded == 8 {
            let mut b = Zeroizing::new([0u8; BLOCK_LEN]);
            b[..8].copy_from_slice(&aiv);
            b[8..].copy_from_slice(&out[8..]);
            self.encrypt_block(&mut b)?;
            out.copy_from_slice(&b[..]);
        } else {
            let a = self.kw_w(aiv, &mut out[8..])?;
            out[..8].copy_from_slice(&a);
        }
        Ok(out)
    }

    /// Inverse of [`Prepared::kwp_wrap`]; `AuthFailed` on an integrity failure.
    pub fn kwp_unwrap(&self, wrapped: &[u8]) -> CryptoResult<Zeroizing<Vec<u8>>> {
        if wrapped.len() < 16 || !wrapped.len().is_multiple_of(8) {
            return Err(CryptoError::InvalidLength);
        }
        let mut p = Zeroizing::new(wrapped[8..].to_vec());
        let a = if wrapped.len() == 16 {
            let mut b = Zeroizing::new([0u8; BLOCK_LEN]);
            b.copy_from_slice(wrapped);
            self.decrypt_block(&mut b)?;
            p.copy_from_slice(&b[8..]);
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[..8]);
            a
        } else {
            let a0: [u8; 8] = wrapped[..8].try_into().map_err(|_| CryptoError::Internal)?;
            self.kw_w_inv(a0, &mut p)?
        };
        // Check the AIV prefix, the length indicator and the zero padding
        // without data-dependent early exits.
        let n = p.len();
        let mli = u32::from_be_bytes([a[4], a[5], a[6], a[7]]) as usize;
        let mut bad = aws_lc_rs::constant_time::verify_slices_are_equal(&a[..4], &KWP_IV_PREFIX).is_err() as u8;
        bad |= (mli + 8 <= n || mli > n) as u8;
        let start = mli.min(n);
        let mut acc = 0u8;
        for &x in &p[start..] {
            acc |= x;
        }
        bad |= (acc != 0) as u8;
        if bad != 0 {
            return Err(CryptoError::AuthFailed);
        }
        p.truncate(mli);
        Ok(p)
    }
}

fn check_gcm_tag_len(n: usize) -> CryptoResult<()> {
    if (GCM_MIN_TAG_LEN..=GCM_MAX_TAG_LEN).contains(&n) { Ok(()) } else { Err(CryptoError::InvalidParam) }
}

fn last_block(buf: &[u8]) -> [u8; BLOCK_LEN] {
    let mut b = [0u8; BLOCK_LEN];
    b.copy_from_slice(&buf[buf.len() - BLOCK_LEN..]);
    b
}

/// The PKCS#7 pad length of a final block, checked without early exits.
fn pkcs7_pad_len(block: &[u8; BLOCK_LEN]) -> Option<usize> {
    let p = block[BLOCK_LEN - 1];
    let mut bad = ((p == 0) | (p as usize > BLOCK_LEN)) as u8;
    for (i, &x) in block.iter().enumerate() {
        let in_pad = ((BLOCK_LEN - 1 - i) < p as usize) as u8;
        bad |= in_pad & ((x != p) as u8);
    }
    if bad == 0 { Some(p as usize) } else { None }
}

/// A multi-part ECB or CBC operation, with or without PKCS#7 padding.
///
/// Lengths are exact: [`update_len`](Self::update_len) and
/// [`finish_len`](Self::finish_len) say how many bytes the next call writes.
/// A padded decryption holds back the last complete block (decrypted) until
/// it knows whether more input follows.
pub struct BlockStream {
    key: Prepared,
    encrypt: bool,
    pad: bool,
    /// `None`: ECB. `Some(iv)`: CBC, the IV for the next block.
    chain: Option<[u8; BLOCK_LEN]>,
    part: [u8; BLOCK_LEN],
    plen: usize,
    /// Padded decryption: plaintext of the last complete block.
    held: Option<[u8; BLOCK_LEN]>,
}

impl Drop for BlockStream {
    fn drop(&mut self) {
        self.part.zeroize();
        if let Some(h) = self.held.as_mut() {
            h.zeroize();
        }
    }
}

impl BlockStream {
    /// ECB, no padding.
    pub fn ecb(key: &Prepared, encrypt: bool) -> Self {
        Self::new(key, None, encrypt, false)
    }

    /// CBC with `iv`, with or without PKCS#7 padding.
    pub fn cbc(key: &Prepared, iv: [u8; BLOCK_LEN], encrypt: bool, pad: bool) -> Self {
        Self::new(key, Some(iv), encrypt, pad)
    }

    fn new(key: &Prepared, chain: Option<[u8; BLOCK_LEN]>, encrypt: bool, pad: bool) -> Self {
        BlockStream { key: key.clone(), encrypt, pad, chain, part: [0; BLOCK_LEN], plen: 0, held: None }
    }

    fn holds_back(&self) -> bool {
        self.pad && !self.encrypt
    }

    /// Processes whole blocks in place.
    fn process(&mut self, buf: &mut [u8]) -> CryptoResult<()> {
        debug_assert!(buf.len().is_multiple_of(BLOCK_LEN));
        match (self.chain, self.encrypt) {
            (None, true) => self.key.ecb_encrypt(buf),
            (None, false) => self.key.ecb_decrypt(buf),
            (Some(iv), true) => {
                self.chain = Some(self.key.cbc_encrypt(iv, buf)?);
                Ok(())
            }
            (Some(iv), false) => {
                self.chain = Some(self.key.cbc_decrypt(iv, buf)?);
                Ok(())
            }
        }
    }

    /// Fills `dst` from the buffered partial block, then from `input`.
    fn fill(&mut self, dst: &mut [u8], input: &mut &[u8]) {
        let k = self.plen.min(dst.len());
        dst[..k].copy_from_slice(&self.part[..k]);
        if k < self.plen {
            self.part.copy_within(k..self.plen, 0);
        }
        self.plen -= k;
        let rest = dst.len() - k;
        dst[k..].copy_from_slice(&input[..rest]);
        *input = &input[rest..];
    }

    /// Bytes the next `update` of `n` input bytes writes.
    pub fn update_len(&self, n: usize) -> usize {
        let blocks = (self.plen + n) / BLOCK_LEN;
        if blocks == 0 {
            0
        } else if self.holds_back() {
            (blocks - 1) * BLOCK_LEN + if self.held.is_some() { BLOCK_LEN } else { 0 }
        } else {
            blocks * BLOCK_LEN
        }
    }

    pub fn update(&mut self, input: &[u8], out: &mut [u8]) -> CryptoResult<usize> {
        let blocks = (self.plen + input.len()) / BLOCK_LEN;
        if blocks == 0 {
            self.part[self.plen..self.plen + input.len()].copy_from_slice(input);
            self.plen += input.len();
            return Ok(0);
        }
        let mut input = input;
        let mut w = 0;
        let direct = if self.holds_back() {
            if let Some(mut h) = self.held.take() {
                out[..BLOCK_LEN].copy_from_slice(&h);
                h.zeroize();
                w = BLOCK_LEN;
            }
            blocks - 1
        } else {
            blocks
        };
        let dst = &mut out[w..w + direct * BLOCK_LEN];
        self.fill(dst, &mut input);
        self.process(dst)?;
        w += direct * BLOCK_LEN;
        if self.holds_back() {
            let mut last = [0u8; BLOCK_LEN];
            self.fill(&mut last, &mut input);
            self.process(&mut last)?;
            self.held = Some(last);
            last.zeroize();
        }
        debug_assert!(self.plen == 0 && input.len() < BLOCK_LEN);
        self.part[..input.len()].copy_from_slice(input);
        self.plen = input.len();
        Ok(w)
    }

    /// Bytes `finish` writes (exact when it succeeds).
    pub fn finish_len(&self) -> usize {
        match (self.pad, self.encrypt) {
            (false, _) => 0,
            (true, true) => BLOCK_LEN,
            (true, false) => self.held.as_ref().and_then(pkcs7_pad_len).map_or(0, |p| BLOCK_LEN - p),
        }
    }

    /// Ends the operation. `InvalidLength` if the input was not a whole
    /// number of blocks (where the mode needs that); `AuthFailed` on bad
    /// padding.
    pub fn finish(&mut self, out: &mut [u8]) -> CryptoResult<usize> {
        match (self.pad, self.encrypt) {
            (false, _) => {
                if self.plen != 0 {
                    return Err(CryptoError::InvalidLength);
                }
                Ok(0)
            }
            (true, true) => {
                let p = BLOCK_LEN - self.plen;
                let mut b = self.part;
                b[self.plen..].fill(p as u8);
                self.process(&mut b)?;
                out[..BLOCK_LEN].copy_from_slice(&b);
                self.plen = 0;
                Ok(BLOCK_LEN)
            }
            (true, false) => {
                if self.plen != 0 {
                    return Err(CryptoError::InvalidLength);
                }
                let Some(mut h) = self.held.take() else {
                    return Err(CryptoError::InvalidLength);
                };
                let r = match pkcs7_pad_len(&h) {
                    Some(p) => {
                        out[..BLOCK_LEN - p].copy_from_slice(&h[..BLOCK_LEN - p]);
                        Ok(BLOCK_LEN - p)
                    }
                    None => Err(CryptoError::AuthFailed),
                };
                h.zeroize();
                r
            }
        }
    }

    /// Bytes that suffice for `oneshot` of `n` bytes (exact except for a
    /// padded decryption, where it is `n`).
    pub fn oneshot_len(&self, n: usize) -> usize {
        if self.pad && self.encrypt { (n / BLOCK_LEN + 1) * BLOCK_LEN } else { n }
    }

    /// Single-part operation on a fresh stream, without intermediate
    /// buffering: `out` must hold [`oneshot_len`](Self::oneshot_len) bytes.
    pub fn oneshot(&mut self, input: &[u8], out: &mut [u8]) -> CryptoResult<usize> {
        let n = input.len();
        if self.plen != 0 || self.held.is_some() {
            return Err(CryptoError::Internal);
        }
        match (self.pad, self.encrypt) {
            (false, _) => {
                if !n.is_multiple_of(BLOCK_LEN) {
                    return Err(CryptoError::InvalidLength);
                }
                out[..n].copy_from_slice(input);
                self.process(&mut out[..n])?;
                Ok(n)
            }
            (true, true) => {
                let p = BLOCK_LEN - n % BLOCK_LEN;
                out[..n].copy_from_slice(input);
                out[n..n + p].fill(p as u8);
                self.process(&mut out[..n + p])?;
                Ok(n + p)
            }
            (true, false) => {
                if n == 0 || !n.is_multiple_of(BLOCK_LEN) {
                    return Err(CryptoError::InvalidLength);
                }
                out[..n].copy_from_slice(input);
                self.process(&mut out[..n])?;
                let last: &mut [u8; BLOCK_LEN] =
                    (&mut out[n - BLOCK_LEN..n]).try_into().map_err(|_| CryptoError::Internal)?;
                match pkcs7_pad_len(last) {
                    Some(p) => {
                        out[n - p..n].zeroize();
                        Ok(n - p)
                    }
                    None => {
                        out[..n].zeroize();
                        Err(CryptoError::AuthFailed)
                    }
                }
            }
        }
    }
}

/// A multi-part CTR operation whose counter is the low `counter_bits` bits
/// of the counter block. Running past the last counter value (the counter
/// would wrap) is refused with `InvalidLength` before any output.
pub struct CtrStream {
    key: Prepared,
    /// The next counter block, as a big-endian integer.
    counter: u128,
    /// Counter values still usable (saturating at 2^128 - 1).
    left: u128,
    /// Keystream of the last partial block; bytes from `ks_pos` are unused.
    ks: [u8; BLOCK_LEN],
    ks_pos: usize,
}

impl Drop for CtrStream {
    fn drop(&mut self) {
        self.ks.zeroize();
    }
}

impl CtrStream {
    pub fn new(key: &Prepared, cb: [u8; BLOCK_LEN], counter_bits: u32) -> CryptoResult<Self> {
        if !(1..=128).contains(&counter_bits) {
            return Err(CryptoError::InvalidParam);
        }
        let counter = u128::from_be_bytes(cb);
        let mask = if counter_bits == 128 { u128::MAX } else { (1u128 << counter_bits) - 1 };
        let left = (mask - (counter & mask)).saturating_add(1);
        Ok(CtrStream { key: key.clone(), counter, left, ks: [0; BLOCK_LEN], ks_pos: BLOCK_LEN })
    }

    /// Encrypts (or decrypts) `input` into `out[..input.len()]`.
    pub fn apply(&mut self, input: &[u8], out: &mut [u8]) -> CryptoResult<usize> {
        let n = input.len();
        let from_ks = (BLOCK_LEN - self.ks_pos).min(n);
        let rest = n - from_ks;
        let blocks = rest.div_ceil(BLOCK_LEN) as u128;
        if blocks > self.left {
            return Err(CryptoError::InvalidLength);
        }
        for i in 0..from_ks {
            out[i] = input[i] ^ self.ks[self.ks_pos + i];
        }
        self.ks_pos += from_ks;
        let full = rest / BLOCK_LEN * BLOCK_LEN;
        if full > 0 {
            let dst = &mut out[from_ks..from_ks + full];
            dst.copy_from_slice(&input[from_ks..from_ks + full]);
            self.key.ctr_xor(self.counter.to_be_bytes(), dst)?;
            self.counter = self.counter.wrapping_add((full / BLOCK_LEN) as u128);
        }
        let tail = rest - full;
        if tail > 0 {
            self.ks = self.counter.to_be_bytes();
            self.key.encrypt_block(&mut self.ks)?;
            self.counter = self.counter.wrapping_add(1);
            let off = from_ks + full;
            for i in 0..tail {
                out[off + i] = input[off + i] ^ self.ks[i];
            }
            self.ks_pos = tail;
        }
        self.left -= blocks;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        hex::decode(s).unwrap()
    }

    fn arr16(v: &[u8]) -> [u8; 16] {
        v.try_into().unwrap()
    }

    const K128: &str = "2b7e151628aed2a6abf7158809cf4f3c";
    const K256: &str = "603deb1015ca71be2b73aef0857d7781 1f352c073b6108d72d9810a30914dff4";
    fn k256() -> Vec<u8> {
        h(K256)
    }
    const PT: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
                      30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";

    /// Runs `s` over `input` in chunks of `chunk` bytes, collecting output.
    fn stream_blocks(mut s: BlockStream, input: &[u8], chunk: usize) -> CryptoResult<Vec<u8>> {
        let mut out = Vec::new();
        for c in input.chunks(chunk.max(1)) {
            let mut buf = vec![0u8; s.update_len(c.len())];
            let n = s.update(c, &mut buf)?;
            assert_eq!(n, buf.len(), "update_len exact");
            out.extend_from_slice(&buf);
        }
        let mut buf = vec![0u8; s.finish_len()];
        let n = s.finish(&mut buf)?;
        assert_eq!(n, buf.len(), "finish_len exact");
        out.extend_from_slice(&buf);
        Ok(out)
    }

    fn oneshot_blocks(mut s: BlockStream, input: &[u8]) -> CryptoResult<Vec<u8>> {
        let mut out = vec![0u8; s.oneshot_len(input.len())];
        let n = s.oneshot(input, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    #[test]
    fn ecb_sp800_38a() {
        let cases = [
            (
                h(K128),
                "3ad77bb40d7a3660a89ecaf32466ef97 f5d3d58503b9699de785895a96fdbaaf 43b1cd7f598ece23881b00e3ed030688 7b0c785e27e8ad3f8223207104725dd4",
            ),
            (
                k256(),
                "f3eed1bdb5d2a03c064b5a7e3db181f8 591ccb10d410ed26dc5ba74a31362870 b6ed21b99ca6f4f9f153e7b1beafed1d 23304b7a39f9f3ff067d8d8f9e24ecc7",
            ),
        ];
        for (k, ct) in cases {
            let key = Prepared::new(&k).unwrap();
            let (pt, ct) = (h(PT), h(ct));
            assert_eq!(oneshot_blocks(BlockStream::ecb(&key, true), &pt).unwrap(), ct);
            assert_eq!(oneshot_blocks(BlockStream::ecb(&key, false), &ct).unwrap(), pt);
            for chunk in [1, 5, 16, 17, 33, 64] {
                assert_eq!(stream_blocks(BlockStream::ecb(&key, true), &pt, chunk).unwrap(), ct);
                assert_eq!(stream_blocks(BlockStream::ecb(&key, false), &ct, chunk).unwrap(), pt);
            }
            assert_eq!(oneshot_blocks(BlockStream::ecb(&key, true), &pt[..15]), Err(CryptoError::InvalidLength));
            assert_eq!(stream_blocks(BlockStream::ecb(&key, true), &pt[..17], 7), Err(CryptoError::InvalidLength));
        }
    }

    #[test]
    fn cbc_sp800_38a() {
        let iv = arr16(&h("000102030405060708090a0b0c0d0e0f"));
        let cases = [
            (
                h(K128),
                "7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2 73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7",
            ),
            (
                k256(),
                "f58c4c04d6e5f1ba779eabfb5f7bfbd6 9cfc4e967edb808d679f777bc6702c7d 39f23369a9d9bacfa530e26304231461 b2eb05e2c39be9fcda6c19078c6a9d1b",
            ),
        ];
        for (k, ct) in cases {
            let key = Prepared::new(&k).unwrap();
            let (pt, ct) = (h(PT), h(ct));
            assert_eq!(oneshot_blocks(BlockStream::cbc(&key, iv, true, false), &pt).unwrap(), ct);
            assert_eq!(oneshot_blocks(BlockStream::cbc(&key, iv, false, false), &ct).unwrap(), pt);
            for chunk in [1, 3, 15, 16, 17, 40, 64] {
                assert_eq!(stream_blocks(BlockStream::cbc(&key, iv, true, false), &pt, chunk).unwrap(), ct);
                assert_eq!(stream_blocks(BlockStream::cbc(&key, iv, false, false), &ct, chunk).unwrap(), pt);
            }
        }
    }

    #[test]
    fn cbc_pad_roundtrip_and_bad_padding() {
        let key = Prepared::new(&h(K128)).unwrap();
        let iv = [7u8; 16];
        let data: Vec<u8> = (0..100u8).collect();
        for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 64, 100] {
            let pt = &data[..len];
            let ct = oneshot_blocks(BlockStream::cbc(&key, iv, true, true), pt).unwrap();
            assert_eq!(ct.len(), (len / 16 + 1) * 16);
            // No-padding CBC over the padded text gives the same ciphertext.
            let mut padded = pt.to_vec();
            let p = 16 - len % 16;
            padded.extend(std::iter::repeat_n(p as u8, p));
            assert_eq!(oneshot_blocks(BlockStream::cbc(&key, iv, true, false), &padded).unwrap(), ct);
            assert_eq!(oneshot_blocks(BlockStream::cbc(&key, iv, false, true), &ct).unwrap(), pt);
            for chunk in [1, 7, 16, 20, 48] {
                assert_eq!(stream_blocks(BlockStream::cbc(&key, iv, true, true), pt, chunk).unwrap(), ct);
                assert_eq!(stream_blocks(BlockStream::cbc(&key, iv, false, true), &ct, chunk).unwrap(), pt);
            }
        }
        // A final block that decrypts to bad padding.
        let mut bad = vec![0u8; 32];
        bad[31] = 17;
        let ct = oneshot_blocks(BlockStream::cbc(&key, iv, true, false), &bad).unwrap();
        assert_eq!(oneshot_blocks(BlockStream::cbc(&key, iv, false, true), &ct), Err(CryptoError::AuthFailed));
        assert_eq!(stream_blocks(BlockStream::cbc(&key, iv, false, true), &ct, 5), Err(CryptoError::AuthFailed));
        assert_eq!(oneshot_blocks(BlockStream::cbc(&key, iv, false, true), &ct[..31]), Err(CryptoError::InvalidLength));
        assert_eq!(oneshot_blocks(BlockStream::cbc(&key, iv, false, true), &[]), Err(CryptoError::InvalidLength));
        assert_eq!(stream_blocks(BlockStream::cbc(&key, iv, false, true), &[], 5), Err(CryptoError::InvalidLength));
    }

    fn stream_ctr(key: &Prepared, cb: [u8; 16], bits: u32, input: &[u8], chunk: usize) -> CryptoResult<Vec<u8>> {
        let mut s = CtrStream::new(key, cb, bits)?;
        let mut out = vec![0u8; input.len()];
        let mut off = 0;
        for c in input.chunks(chunk.max(1)) {
            off += s.apply(c, &mut out[off..])?;
        }
        Ok(out)
    }

    #[test]
    fn ctr_sp800_38a() {
        let cb = arr16(&h("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"));
        let cases = [
            (
                h(K128),
                "874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff 5ae4df3edbd5d35e5b4f09020db03eab 1e031dda2fbe03d1792170a0f3009cee",
            ),
            (
                k256(),
                "601ec313775789a5b7a7f504bbf3d228 f443e3ca4d62b59aca84e990cacaf5c5 2b0930daa23de94ce87017ba2d84988d dfc9c58db67aada613c2dd08457941a6",
            ),
        ];
        for (k, ct) in cases {
            let key = Prepared::new(&k).unwrap();
            let (pt, ct) = (h(PT), h(ct));
            for chunk in [1, 5, 16, 17, 30, 64] {
                assert_eq!(stream_ctr(&key, cb, 128, &pt, chunk).unwrap(), ct);
                assert_eq!(stream_ctr(&key, cb, 128, &ct, chunk).unwrap(), pt);
                // The counter's low 32 bits (0xfcfdfeff) have room for 4 blocks.
                assert_eq!(stream_ctr(&key, cb, 32, &pt, chunk).unwrap(), ct);
            }
            assert_eq!(stream_ctr(&key, cb, 128, &pt[..50], 7).unwrap(), ct[..50]);
        }
    }

    #[test]
    fn ctr_counter_width() {
        let key = Prepared::new(&h(K128)).unwrap();
        // 2-bit counter at value 1: three blocks (1, 2, 3) are allowed.
        let mut cb = [0x55u8; 16];
        cb[15] = 0x55 & !3 | 1;
        let data = [0u8; 64];
        assert!(stream_ctr(&key, cb, 2, &data[..48], 48).is_ok());
        assert!(stream_ctr(&key, cb, 2, &data[..33], 5).is_ok());
        assert_eq!(stream_ctr(&key, cb, 2, &data[..49], 49), Err(CryptoError::InvalidLength));
        let mut s = CtrStream::new(&key, cb, 2).unwrap();
        let mut out = [0u8; 64];
        s.apply(&data[..40], &mut out).unwrap();
        s.apply(&data[..8], &mut out).unwrap(); // uses the buffered keystream
        assert_eq!(s.apply(&data[..1], &mut out), Err(CryptoError::InvalidLength));
        // A keystream that stays within the low bits equals the 128-bit one.
        let ks = stream_ctr(&key, cb, 2, &data[..48], 16).unwrap();
        assert_eq!(ks, stream_ctr(&key, cb, 128, &data[..48], 48).unwrap());
        // Full-width counter at its maximum: exactly one block.
        let max = [0xffu8; 16];
        assert!(stream_ctr(&key, max, 128, &data[..16], 16).is_ok());
        assert_eq!(stream_ctr(&key, max, 128, &data[..17], 17), Err(CryptoError::InvalidLength));
        assert!(CtrStream::new(&key, max, 0).is_err());
        assert!(CtrStream::new(&key, max, 129).is_err());
    }

    #[test]
    fn gcm_vectors() {
        // McGrew & Viega, GCM spec test case 4 (AES-128) and 16 (AES-256).
        let pt = h(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        );
        let aad = h("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let iv = h("cafebabefacedbaddecaf888");
        let cases = [
            (
                h("feffe9928665731c6d6a8f9467308308"),
                "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
                "5bc94fbc3221a5db94fae95ae7121a47",
            ),
            (
                h("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"),
                "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
                "76fc6ece0f4e1768cddf8853bb2d551b",
            ),
            (
                // Test case 10 (AES-192).
                h("feffe9928665731c6d6a8f9467308308feffe9928665731c"),
                "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710",
                "2519498e80f1478f37ba55bd6d27618c",
            ),
        ];
        for (k, ct, tag) in cases {
            let key = Prepared::new(&k).unwrap();
            let (ct, tag) = (h(ct), h(tag));
            for tl in 12..=16 {
                let mut buf = pt.clone();
                let mut t = vec![0u8; tl];
                key.gcm_seal(&iv, &aad, &mut buf, &mut t).unwrap();
                assert_eq!(buf, ct);
                assert_eq!(t, tag[..tl]);
                key.gcm_open(&iv, &aad, &mut buf, &t).unwrap();
                assert_eq!(buf, pt);
                // Any flipped bit fails and leaves no plaintext behind.
                let mut bad_t = t.clone();
                bad_t[tl - 1] ^= 1;
                let mut buf = ct.clone();
                assert_eq!(key.gcm_open(&iv, &aad, &mut buf, &bad_t), Err(CryptoError::AuthFailed));
                assert!(buf.iter().all(|&b| b == 0));
                let mut buf = ct.clone();
                buf[3] ^= 0x80;
                assert_eq!(key.gcm_open(&iv, &aad, &mut buf, &t), Err(CryptoError::AuthFailed));
                let mut buf = ct.clone();
                assert_eq!(key.gcm_open(&iv, &aad[1..], &mut buf, &t), Err(CryptoError::AuthFailed));
            }
        }
        let key = Prepared::new(&h(K128)).unwrap();
        let mut t = [0u8; 11];
        assert_eq!(key.gcm_seal(&iv, &aad, &mut [], &mut t), Err(CryptoError::InvalidParam));
        // IVs other than 96 bits take the EVP path: a round trip, and the
        // IV matters; an empty IV is refused.
        let mut t = [0u8; 16];
        let mut data = *b"sixty-four bit iv";
        key.gcm_seal(&iv[..8], &aad, &mut data, &mut t).unwrap();
        let mut back = data;
        key.gcm_open(&iv[..8], &aad, &mut back, &t).unwrap();
        assert_eq!(&back, b"sixty-four bit iv");
        let mut other = data;
        assert_eq!(key.gcm_open(&iv[..7], &aad, &mut other, &t), Err(CryptoError::AuthFailed));
        assert_eq!(other, [0u8; 17], "no unauthenticated plaintext left behind");
        assert_eq!(key.gcm_seal(&[], &aad, &mut [], &mut t), Err(CryptoError::InvalidParam));
        // Empty plaintext with a truncated tag.
        let mut t = [0u8; 12];
        key.gcm_seal(&iv, &aad, &mut [], &mut t).unwrap();
        key.gcm_open(&iv, &aad, &mut [], &t).unwrap();
    }

    #[test]
    fn kw_rfc3394() {
        let kek = h("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
        let cases = [
            // §4.1: 128-bit KEK, 128-bit key data.
            (16, "00112233445566778899AABBCCDDEEFF", "1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5"),
            // §4.2: 192-bit KEK, 128-bit key data.
            (24, "00112233445566778899AABBCCDDEEFF", "96778B25AE6CA435 F92B5B97C050AED2 468AB8A17AD84E5D"),
            // §4.4: 192-bit KEK, 192-bit key data.
            (
                24,
                "00112233445566778899AABBCCDDEEFF0001020304050607",
                "031D33264E15D332 68F24EC260743EDC E1C6C7DDEE725A93 6BA814915C6762D2",
            ),
            // §4.6: 256-bit KEK, 256-bit key data.
            (
                32,
                "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
                "28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21",
            ),
        ];
        for (kl, data, wrapped) in cases {
            let key = Prepared::new(&kek[..kl]).unwrap();
            let (data, wrapped) = (h(data), h(wrapped));
            assert_eq!(key.kw_wrap(&data).unwrap(), wrapped);
            assert_eq!(&key.kw_unwrap(&wrapped).unwrap()[..], &data[..]);
            let mut bad = wrapped.clone();
            bad[9] ^= 1;
            assert_eq!(key.kw_unwrap(&bad).map(|_| ()), Err(CryptoError::AuthFailed));
        }
        let key = Prepared::new(&kek[..16]).unwrap();
        assert_eq!(key.kw_wrap(&[0u8; 8]), Err(CryptoError::InvalidLength));
        assert_eq!(key.kw_wrap(&[0u8; 20]), Err(CryptoError::InvalidLength));
        assert_eq!(key.kw_unwrap(&[0u8; 16]).map(|_| ()), Err(CryptoError::InvalidLength));
    }

    #[test]
    fn kwp_rfc5649() {
        let key = Prepared::new(&h("5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8")).unwrap();
        let cases = [
            (
                "c37b7e6492584340 bed1220780894115 5068f738",
                "138bdeaa9b8fa7fc 61f97742e72248ee 5ae6ae5360d1ae6a 5f54f373fa543b6a",
            ),
            ("466f7250617369", "afbeb0f07dfbf541 9200f2ccb50bb24f"),
        ];
        for (data, wrapped) in cases {
            let (data, wrapped) = (h(data), h(wrapped));
            assert_eq!(key.kwp_wrap(&data).unwrap(), wrapped);
            assert_eq!(&key.kwp_unwrap(&wrapped).unwrap()[..], &data[..]);
            let mut bad = wrapped.clone();
            bad[0] ^= 1;
            assert_eq!(key.kwp_unwrap(&bad).map(|_| ()), Err(CryptoError::AuthFailed));
        }
        assert_eq!(key.kwp_wrap(&[]), Err(CryptoError::InvalidLength));
        assert_eq!(key.kwp_unwrap(&[0u8; 8]).map(|_| ()), Err(CryptoError::InvalidLength));
    }

    /// Our KW/KWP agree with aws-lc-rs's for the KEK sizes it supports.
    #[test]
    fn kw_matches_aws_lc() {
        use aws_lc_rs::key_wrap::{AES_128, AES_256, AesKek, KeyWrap, KeyWrapPadded};
        for (alg, kl) in [(&AES_128, 16usize), (&AES_256, 32)] {
            let kek: Vec<u8> = (0..kl as u8).map(|i| i.wrapping_mul(37)).collect();
            let key = Prepared::new(&kek).unwrap();
            for len in [1usize, 7, 8, 9, 16, 24, 31, 32, 64, 100] {
                let data: Vec<u8> = (0..len as u8).map(|i| i ^ 0x5a).collect();
                let mut out = vec![0u8; len + 16];
                let theirs = AesKek::new(alg, &kek).unwrap().wrap_with_padding(&data, &mut out).unwrap().to_vec();
                assert_eq!(key.kwp_wrap(&data).unwrap(), theirs);
                if len >= 16 && len % 8 == 0 {
                    let theirs = AesKek::new(alg, &kek).unwrap().wrap(&data, &mut out).unwrap().to_vec();
                    assert_eq!(key.kw_wrap(&data).unwrap(), theirs);
                }
            }
        }
    }
}
