//! Triple DES (TDEA, EDE): the block cipher for CKK_DES2 / CKK_DES3 keys,
//! ECB and CBC streams with PKCS#7 padding over `crypto::block`, and the
//! key-value rules of key generation (odd parity, no weak or semi-weak
//! component, no repeated component).
//!
//! Knows nothing of PKCS#11. Engine: AWS-LC's DES_* functions through
//! `crypto::ffi` (key schedules, ECB, CBC). Single DES is not offered as a
//! cipher: an 8-byte key is refused here (`InvalidKey`).

use super::ffi::{self, DES_BLOCK, Des3Schedules};
use super::{CryptoError, CryptoResult};
use crate::crypto::block::BlockModes;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The 3DES block length in bytes.
pub const BLOCK_LEN: usize = DES_BLOCK;

/// Multi-part 3DES-ECB/CBC with or without PKCS#7 padding.
pub type BlockStream = crate::crypto::block::BlockStream<Des3Key, BLOCK_LEN>;

/// Engine key state of one 2-key (16 bytes: K1 K2, used as K1 K2 K1) or
/// 3-key (24 bytes) triple-DES key. Cloning shares the state.
#[derive(Clone)]
pub struct Des3Key(Arc<Des3Schedules>);

impl std::fmt::Debug for Des3Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "des::Des3Key")
    }
}

impl Des3Key {
    pub fn new(key: &[u8]) -> CryptoResult<Des3Key> {
        let mut k = Zeroizing::new([0u8; 24]);
        match key.len() {
            16 => {
                k[..16].copy_from_slice(key);
                k[16..].copy_from_slice(&key[..8]);
            }
            24 => k.copy_from_slice(key),
            _ => return Err(CryptoError::InvalidKey),
        }
        Ok(Des3Key(Arc::new(Des3Schedules::new(&k))))
    }

    /// Encrypts one block in place (the check value, key derivation).
    pub fn encrypt_block(&self, block: &mut [u8; BLOCK_LEN]) {
        self.0.ecb(block, true);
    }
}

fn whole_blocks(buf: &[u8]) -> CryptoResult<()> {
    if buf.len().is_multiple_of(BLOCK_LEN) { Ok(()) } else { Err(CryptoError::InvalidLength) }
}

impl BlockModes<BLOCK_LEN> for Des3Key {
    fn ecb_encrypt(&self, buf: &mut [u8]) -> CryptoResult<()> {
        whole_blocks(buf)?;
        self.0.ecb(buf, true);
        Ok(())
    }
    fn ecb_decrypt(&self, buf: &mut [u8]) -> CryptoResult<()> {
        whole_blocks(buf)?;
        self.0.ecb(buf, false);
        Ok(())
    }
    fn cbc_encrypt(&self, iv: [u8; BLOCK_LEN], buf: &mut [u8]) -> CryptoResult<[u8; BLOCK_LEN]> {
        whole_blocks(buf)?;
        Ok(self.0.cbc(iv, buf, true))
    }
    fn cbc_decrypt(&self, iv: [u8; BLOCK_LEN], buf: &mut [u8]) -> CryptoResult<[u8; BLOCK_LEN]> {
        whole_blocks(buf)?;
        Ok(self.0.cbc(iv, buf, false))
    }
}

/// A fresh DES key value of `len` bytes (8, 16 or 24): random, odd
/// parity on every byte, no weak or semi-weak 8-byte component, and no two
/// equal components (K1 = K2 or K2 = K3 would reduce 3DES to single DES).
/// Redrawn until it qualifies (a random draw fails with probability about
/// 2^-52 per component).
pub fn generate_key(len: usize) -> CryptoResult<Zeroizing<Vec<u8>>> {
    if !matches!(len, 8 | 16 | 24) {
        return Err(CryptoError::InvalidKey);
    }
    loop {
        let mut k = super::random_secret(len)?;
        ffi::set_odd_parity(&mut k);
        if is_acceptable(&k) {
            return Ok(k);
        }
    }
}

/// The rules `generate_key` draws to.
pub fn is_acceptable(k: &[u8]) -> bool {
    let parts: Vec<&[u8]> = k.chunks(BLOCK_LEN).collect();
    let distinct = parts.windows(2).all(|w| w[0] != w[1]);
    distinct && parts.iter().all(|p| p.len() == BLOCK_LEN && !ffi::is_weak_key(p))
}

/// Whether every byte of `k` has odd parity.
pub fn has_odd_parity(k: &[u8]) -> bool {
    k.iter().all(|b| b.count_ones() % 2 == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_follow_the_rules() {
        for len in [8, 16, 24] {
            for _ in 0..50 {
                let k = generate_key(len).unwrap();
                assert_eq!(k.len(), len);
                assert!(has_odd_parity(&k) && is_acceptable(&k));
            }
        }
        assert_eq!(generate_key(20).unwrap_err(), CryptoError::InvalidKey);
        // Weak (0101..01), semi-weak (01FE01FE..), repeated components.
        assert!(!is_acceptable(&hex::decode("0101010101010101").unwrap()));
        assert!(!is_acceptable(&hex::decode("01fe01fe01fe01fe").unwrap()));
        let k1 = hex::decode("0123456789abcdef").unwrap();
        assert!(is_acceptable(&k1));
        assert!(!is_acceptable(&[k1.clone(), k1.clone()].concat()));
    }

    #[test]
    fn known_answer_and_two_key_form() {
        // CAVP TECBMMT3.rsp, [ENCRYPT] COUNT = 0.
        let k = Des3Key::new(&hex::decode("a2b5bc67da13dc92cd9d344aa238544a0e1fa79ef76810cd").unwrap()).unwrap();
        let mut b = hex::decode("329d86bdf1bc5af4").unwrap();
        k.ecb_encrypt(&mut b).unwrap();
        assert_eq!(hex::encode(&b), "d946c2756d78633f");
        k.ecb_decrypt(&mut b).unwrap();
        assert_eq!(hex::encode(&b), "329d86bdf1bc5af4");
        // A 2-key key equals the 3-key key K1 K2 K1.
        let k12 = hex::decode("0123456789abcdeffedcba9876543210").unwrap();
        let k121 = [&k12[..], &k12[..8]].concat();
        let (a, c) = (Des3Key::new(&k12).unwrap(), Des3Key::new(&k121).unwrap());
        let (mut x, mut y) = ([7u8; 24], [7u8; 24]);
        assert_eq!(a.cbc_encrypt([1; 8], &mut x).unwrap(), c.cbc_encrypt([1; 8], &mut y).unwrap());
        assert_eq!(x, y);
        assert_eq!(Des3Key::new(&[1; 8]).unwrap_err(), CryptoError::InvalidKey);
        assert_eq!(a.ecb_encrypt(&mut [0; 7]), Err(CryptoError::InvalidLength));
    }
}
