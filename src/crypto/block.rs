//! Multi-part ECB and CBC ([`BlockStream`]) over any block cipher with
//! `N`-byte blocks (AES: 16, 3DES: 8), with or without PKCS#7 padding:
//! exact output lengths for every call, partial blocks kept between calls,
//! the padding checked without early exits.
//!
//! Owns the mode logic only; the cipher (`aes::Prepared`, `des::Des3Key`)
//! supplies [`BlockModes`]: ECB and CBC over whole blocks in place.

use crate::crypto::{CryptoError, CryptoResult};
use zeroize::Zeroize;

/// ECB and CBC over whole `N`-byte blocks, in place, from a cipher's key
/// state. A cheap clone shares that state.
pub trait BlockModes<const N: usize>: Clone {
    fn ecb_encrypt(&self, buf: &mut [u8]) -> CryptoResult<()>;
    fn ecb_decrypt(&self, buf: &mut [u8]) -> CryptoResult<()>;
    /// CBC-encrypts whole blocks in place; returns the next IV.
    fn cbc_encrypt(&self, iv: [u8; N], buf: &mut [u8]) -> CryptoResult<[u8; N]>;
    /// CBC-decrypts whole blocks in place; returns the next IV.
    fn cbc_decrypt(&self, iv: [u8; N], buf: &mut [u8]) -> CryptoResult<[u8; N]>;
}

/// The PKCS#7 pad length of a final block, checked without early exits.
fn pkcs7_pad_len<const BLOCK_LEN: usize>(block: &[u8; BLOCK_LEN]) -> Option<usize> {
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
pub struct BlockStream<K: BlockModes<BLOCK_LEN>, const BLOCK_LEN: usize> {
    key: K,
    encrypt: bool,
    pad: bool,
    /// `None`: ECB. `Some(iv)`: CBC, the IV for the next block.
    chain: Option<[u8; BLOCK_LEN]>,
    part: [u8; BLOCK_LEN],
    plen: usize,
    /// Padded decryption: plaintext of the last complete block.
    held: Option<[u8; BLOCK_LEN]>,
}

impl<K: BlockModes<BLOCK_LEN>, const BLOCK_LEN: usize> Drop for BlockStream<K, BLOCK_LEN> {
    fn drop(&mut self) {
        self.part.zeroize();
        if let Some(h) = self.held.as_mut() {
            h.zeroize();
        }
    }
}

impl<K: BlockModes<BLOCK_LEN>, const BLOCK_LEN: usize> BlockStream<K, BLOCK_LEN> {
    /// ECB, no padding.
    pub fn ecb(key: &K, encrypt: bool) -> Self {
        Self::new(key, None, encrypt, false)
    }

    /// CBC with `iv`, with or without PKCS#7 padding.
    pub fn cbc(key: &K, iv: [u8; BLOCK_LEN], encrypt: bool, pad: bool) -> Self {
        Self::new(key, Some(iv), encrypt, pad)
    }

    fn new(key: &K, chain: Option<[u8; BLOCK_LEN]>, encrypt: bool, pad: bool) -> Self {
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
