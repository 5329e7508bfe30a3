//! AES CBC-MAC as PKCS#11's CKM_AES_MAC defines it (the "general block
//! cipher MAC": CBC encryption under a zero IV, the data right-padded with
//! zero bytes to a whole number of blocks, the MAC taken from the last
//! ciphertext block), over the engine's AES block cipher
//! (`aes::Prepared::encrypt_block`). ISO/IEC 9797-1 MAC algorithm 1 with
//! padding method 1: an empty message is one zero block, so its MAC is
//! E_K(0), never a key-independent constant. Streaming; verification of
//! full or truncated MACs compares in constant time. Knows nothing of
//! PKCS#11.
//!
//! Legacy: CBC-MAC is only secure for messages of one fixed length;
//! AES-CMAC (`cmac`) is its modern replacement.

use super::aes::{BLOCK_LEN, Prepared};
use super::{CryptoError, CryptoResult};
use aws_lc_rs::constant_time;
use zeroize::Zeroize;

/// A running AES CBC-MAC.
pub struct CbcMac {
    key: Prepared,
    /// The chaining value (the last ciphertext block).
    state: [u8; BLOCK_LEN],
    /// Data not yet encrypted: up to one whole block is held back.
    pending: [u8; BLOCK_LEN],
    fill: usize,
}

impl std::fmt::Debug for CbcMac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CbcMac")
    }
}

impl Drop for CbcMac {
    fn drop(&mut self) {
        self.state.zeroize();
        self.pending.zeroize();
    }
}

impl CbcMac {
    /// Starts a CBC-MAC under `key` (its AES key schedules).
    pub fn new(key: &Prepared) -> CbcMac {
        CbcMac { key: key.clone(), state: [0; BLOCK_LEN], pending: [0; BLOCK_LEN], fill: 0 }
    }

    fn absorb(&mut self) -> CryptoResult<()> {
        for (s, p) in self.state.iter_mut().zip(&self.pending) {
            *s ^= p;
        }
        self.key.encrypt_block(&mut self.state)
    }

    pub fn update(&mut self, mut data: &[u8]) -> CryptoResult<()> {
        while !data.is_empty() {
            if self.fill == BLOCK_LEN {
                self.absorb()?;
                self.fill = 0;
            }
            let n = (BLOCK_LEN - self.fill).min(data.len());
            self.pending[self.fill..self.fill + n].copy_from_slice(&data[..n]);
            self.fill += n;
            data = &data[n..];
        }
        Ok(())
    }

    fn mac(mut self) -> CryptoResult<[u8; BLOCK_LEN]> {
        // Zero padding of the last (possibly empty, possibly only) block.
        self.pending[self.fill..].fill(0);
        self.absorb()?;
        Ok(self.state)
    }

    /// Writes the first `out.len()` bytes of the MAC (at most a block) and
    /// returns how many were written.
    pub fn finish_into(self, out: &mut [u8]) -> CryptoResult<usize> {
        let mut m = self.mac()?;
        let n = out.len().min(BLOCK_LEN);
        out[..n].copy_from_slice(&m[..n]);
        m.zeroize();
        Ok(n)
    }

    /// Compares the MAC's first `expected.len()` bytes with `expected` in
    /// constant time. `InvalidLength` for an empty or over-long `expected`,
    /// `AuthFailed` on mismatch.
    pub fn verify(self, expected: &[u8]) -> CryptoResult<()> {
        if expected.is_empty() || expected.len() > BLOCK_LEN {
            return Err(CryptoError::InvalidLength);
        }
        let m = self.mac()?;
        #[allow(deprecated)]
        constant_time::verify_slices_are_equal(&m[..expected.len()], expected).map_err(|_| CryptoError::AuthFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::aes::BlockStream;

    /// The MAC is the last block of the engine's own CBC encryption (zero
    /// IV) of the zero-padded message.
    fn cbc_reference(key: &Prepared, msg: &[u8]) -> [u8; BLOCK_LEN] {
        let mut padded = msg.to_vec();
        padded.resize(msg.len().div_ceil(BLOCK_LEN).max(1) * BLOCK_LEN, 0);
        let mut s = BlockStream::cbc(key, [0; BLOCK_LEN], true, false);
        let mut out = vec![0u8; s.oneshot_len(padded.len())];
        let n = s.oneshot(&padded, &mut out).unwrap();
        out[n - BLOCK_LEN..n].try_into().unwrap()
    }

    #[test]
    fn matches_cbc_encryption() {
        // FIPS 197 C.1: one block under the zero IV is plain AES.
        let key = Prepared::new(&hex::decode("000102030405060708090a0b0c0d0e0f").unwrap()).unwrap();
        let mut m = CbcMac::new(&key);
        m.update(&hex::decode("00112233445566778899aabbccddeeff").unwrap()).unwrap();
        let mut out = [0u8; 16];
        m.finish_into(&mut out).unwrap();
        assert_eq!(hex::encode(out), "69c4e0d86a7b0430d8cdb78070b4c55a");
        for klen in [16, 24, 32] {
            let key = Prepared::new(&vec![0x5a; klen]).unwrap();
            let msg: Vec<u8> = (0..100u8).collect();
            for len in [0, 1, 15, 16, 17, 32, 33, 100] {
                let want = cbc_reference(&key, &msg[..len]);
                for chunk in [1, 5, 16, 64] {
                    let mut m = CbcMac::new(&key);
                    for c in msg[..len].chunks(chunk) {
                        m.update(c).unwrap();
                    }
                    let mut out = [0u8; 16];
                    assert_eq!(m.finish_into(&mut out).unwrap(), 16);
                    assert_eq!(out, want, "key {klen} len {len} chunk {chunk}");
                }
                let mut m = CbcMac::new(&key);
                m.update(&msg[..len]).unwrap();
                let mut v = CbcMac::new(&key);
                v.update(&msg[..len]).unwrap();
                v.verify(&want[..8]).unwrap();
                let mut bad = want;
                bad[0] ^= 1;
                assert_eq!(m.verify(&bad), Err(CryptoError::AuthFailed));
            }
        }
        let key = Prepared::new(&[1u8; 16]).unwrap();
        assert_eq!(CbcMac::new(&key).verify(&[]), Err(CryptoError::InvalidLength));
        assert_eq!(CbcMac::new(&key).verify(&[0; 17]), Err(CryptoError::InvalidLength));
        // The empty message is one zero block: E_K(0), not a constant.
        let mut e = [0u8; 16];
        CbcMac::new(&key).finish_into(&mut e).unwrap();
        assert_ne!(e, [0u8; 16]);
    }
}
