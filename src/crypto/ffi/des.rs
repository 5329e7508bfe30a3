//! Triple DES (EDE, three key schedules) through AWS-LC's DES_* functions:
//! key schedules, ECB and CBC over whole 8-byte blocks in place, odd parity
//! and the weak-key check. The safe API of `crypto::des`.

use aws_lc_sys as sys;
use zeroize::Zeroize;

/// The DES block length.
pub const DES_BLOCK: usize = 8;

/// Three DES key schedules (K1, K2, K3 of EDE). Zeroized on drop.
pub struct Des3Schedules(Box<[sys::DES_key_schedule; 3]>);

impl Drop for Des3Schedules {
    fn drop(&mut self) {
        for ks in self.0.iter_mut() {
            for sk in ks.subkeys.iter_mut() {
                sk.zeroize();
            }
        }
    }
}

fn cblock(b: &[u8]) -> sys::DES_cblock {
    let mut c = sys::DES_cblock { bytes: [0; DES_BLOCK] };
    c.bytes.copy_from_slice(&b[..DES_BLOCK]);
    c
}

impl Des3Schedules {
    /// Schedules for a 24-byte key K1 || K2 || K3 (parity bits ignored, as
    /// DES does; a 2-key key is passed as K1 || K2 || K1).
    pub fn new(key: &[u8; 24]) -> Des3Schedules {
        let mut s = Box::new([sys::DES_key_schedule::default(); 3]);
        for (i, ks) in s.iter_mut().enumerate() {
            let mut c = cblock(&key[i * DES_BLOCK..]);
            // SAFETY: `c` is a valid 8-byte block and `ks` a valid, writable
            // schedule; the function reads one and writes the other.
            unsafe { sys::DES_set_key_unchecked(&c, ks) };
            c.bytes.zeroize();
        }
        Des3Schedules(s)
    }

    /// ECB over whole blocks in place (`buf.len()` a multiple of 8).
    pub fn ecb(&self, buf: &mut [u8], encrypt: bool) {
        let [k1, k2, k3] = &*self.0;
        for b in buf.chunks_exact_mut(DES_BLOCK) {
            let mut input = cblock(b);
            let mut out = sys::DES_cblock { bytes: [0; DES_BLOCK] };
            // SAFETY: `input` and `out` are distinct valid blocks; the three
            // schedules were set by DES_set_key_unchecked.
            unsafe { sys::DES_ecb3_encrypt(&input, &mut out, k1, k2, k3, encrypt as std::os::raw::c_int) };
            b.copy_from_slice(&out.bytes);
            // Either block may be key material (wrapping, derivation).
            input.bytes.zeroize();
            out.bytes.zeroize();
        }
    }

    /// CBC over whole blocks in place with `iv`; returns the next IV (the
    /// last ciphertext block).
    pub fn cbc(&self, iv: [u8; DES_BLOCK], buf: &mut [u8], encrypt: bool) -> [u8; DES_BLOCK] {
        debug_assert!(buf.len().is_multiple_of(DES_BLOCK));
        if buf.is_empty() {
            return iv;
        }
        let [k1, k2, k3] = &*self.0;
        let mut ivec = sys::DES_cblock { bytes: iv };
        let p = buf.as_mut_ptr();
        // SAFETY: `p` points at `buf.len()` writable bytes, a whole number
        // of blocks; AWS-LC's CBC reads each input block into locals before
        // it writes the output block, so in place (in == out) is supported
        // (as OpenSSL documents). `ivec` is updated to the next IV.
        unsafe { sys::DES_ede3_cbc_encrypt(p, p, buf.len(), k1, k2, k3, &mut ivec, encrypt as std::os::raw::c_int) };
        ivec.bytes
    }
}

/// Sets odd parity on each byte of `key` (8, 16 or 24 bytes).
pub fn set_odd_parity(key: &mut [u8]) {
    for b in key.chunks_exact_mut(DES_BLOCK) {
        let mut c = cblock(b);
        // SAFETY: `c` is a valid, writable 8-byte block.
        unsafe { sys::DES_set_odd_parity(&mut c) };
        b.copy_from_slice(&c.bytes);
        c.bytes.zeroize();
    }
}

/// Whether an 8-byte DES key is one of the weak or semi-weak keys.
pub fn is_weak_key(key: &[u8]) -> bool {
    let mut c = cblock(key);
    // SAFETY: `c` is a valid 8-byte block, only read.
    let weak = unsafe { sys::DES_is_weak_key(&c) } != 0;
    c.bytes.zeroize();
    weak
}
