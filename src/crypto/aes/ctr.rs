//! Multi-part CTR ([`CtrStream`]) with a counter of any width (the low
//! bits of the counter block), refusing to run past the last counter value.

use super::{BLOCK_LEN, Prepared};
use crate::crypto::{CryptoError, CryptoResult};
use zeroize::Zeroize;

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
