//! AES key wrap: RFC 3394 (KW, default IV) and RFC 5649 (KWP, with
//! padding), written here over the cached block cipher of [`Prepared`]
//! (aws-lc-rs's `key_wrap` rebuilds the key schedule on every call and has
//! no 192-bit KEK); the tests check it against the RFC vectors and against
//! aws-lc-rs. Integrity checks run without data-dependent early exits.

use super::{BLOCK_LEN, Prepared};
use crate::crypto::{CryptoError, CryptoResult};
use zeroize::Zeroizing;

/// RFC 3394 default initial value.
pub const KW_IV: [u8; 8] = [0xA6; 8];
/// RFC 5649 alternative initial value, first half (the second is the length).
pub const KWP_IV_PREFIX: [u8; 4] = [0xA6, 0x59, 0x59, 0xA6];

impl Prepared {
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
