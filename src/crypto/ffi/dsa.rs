//! DSA (FIPS 186) through AWS-LC's DSA_* functions: keys from (p, q, g)
//! and y and/or x, key generation, domain-parameter generation
//! (`DSA_generate_parameters_ex`: FIPS 186-3 A.1.1.2 with SHA-1 for
//! L < 2048 (N = 160) and SHA-256 from 2048 (N = 256)), signing and
//! verification of a digest with the signature as (r, s). The safe API of
//! `crypto::dsa`.

use super::bn::{self, Bn};
use super::{Failed, check, clear_errors};
use aws_lc_sys as sys;
use std::ptr::NonNull;
use zeroize::Zeroizing;

/// An AWS-LC DSA object: parameters, and a public and/or private value.
pub struct Dsa(NonNull<sys::DSA>);

// SAFETY: a DSA object is not mutated after it is built (signing and
// verification take it const; AWS-LC locks its lazily built Montgomery
// contexts), so it may move between and be shared by threads.
unsafe impl Send for Dsa {}
// SAFETY: see above.
unsafe impl Sync for Dsa {}

impl Drop for Dsa {
    fn drop(&mut self) {
        // SAFETY: we own one reference; DSA_free frees the BIGNUMs inside
        // (BN_clear_free for the private value).
        unsafe { sys::DSA_free(self.0.as_ptr()) }
    }
}

fn new_dsa() -> Result<Dsa, Failed> {
    // SAFETY: allocates a fresh DSA object (or NULL).
    NonNull::new(unsafe { sys::DSA_new() }).map(Dsa).ok_or(Failed)
}

impl Dsa {
    /// A key from its parameters and values (`y` and/or `x`, big-endian;
    /// with `x` alone, y is computed).
    pub fn from_parts(p: &[u8], q: &[u8], g: &[u8], y: Option<&[u8]>, x: Option<&[u8]>) -> Result<Dsa, Failed> {
        let d = new_dsa()?;
        d.set_pqg(p, q, g)?;
        let x = x.map(Bn::from_bytes).transpose()?;
        // AWS-LC wants the public value with the private one: y = g^x mod p.
        let y = match (y, &x) {
            (Some(y), _) => Some(Bn::from_bytes(y)?),
            (None, Some(x)) => Some(bn::mod_exp_consttime(&Bn::from_bytes(g)?, x, &Bn::from_bytes(p)?)?),
            (None, None) => None,
        };
        if y.is_some() || x.is_some() {
            let (yp, xp) = (y.map_or(std::ptr::null_mut(), Bn::into_raw), x.map_or(std::ptr::null_mut(), Bn::into_raw));
            // SAFETY: `d` is a valid DSA; DSA_set0_key takes ownership of
            // the BIGNUMs on success. On failure it takes none: free them.
            let rc = unsafe { sys::DSA_set0_key(d.0.as_ptr(), yp, xp) };
            if rc != 1 {
                // SAFETY: still ours (NULL is a no-op).
                unsafe {
                    sys::BN_clear_free(yp);
                    sys::BN_clear_free(xp);
                }
                clear_errors();
                return Err(Failed);
            }
        }
        Ok(d)
    }

    fn set_pqg(&self, p: &[u8], q: &[u8], g: &[u8]) -> Result<(), Failed> {
        let (p, q, g) = (Bn::from_bytes(p)?, Bn::from_bytes(q)?, Bn::from_bytes(g)?);
        let (pp, qp, gp) = (p.into_raw(), q.into_raw(), g.into_raw());
        // SAFETY: valid DSA and fresh BIGNUMs; ownership passes on success.
        let rc = unsafe { sys::DSA_set0_pqg(self.0.as_ptr(), pp, qp, gp) };
        if rc != 1 {
            // SAFETY: not taken on failure.
            unsafe {
                sys::BN_free(pp);
                sys::BN_free(qp);
                sys::BN_free(gp);
            }
            clear_errors();
            return Err(Failed);
        }
        Ok(())
    }

    /// New domain parameters of `bits` (a multiple of 64, <= 10000).
    pub fn generate_parameters(bits: u32) -> Result<Dsa, Failed> {
        let d = new_dsa()?;
        // SAFETY: a valid DSA; no seed, counter or callback.
        check(unsafe {
            sys::DSA_generate_parameters_ex(
                d.0.as_ptr(),
                bits,
                std::ptr::null(),
                0,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        })?;
        Ok(d)
    }

    /// A fresh key pair on parameters (p, q, g).
    pub fn generate_key(p: &[u8], q: &[u8], g: &[u8]) -> Result<Dsa, Failed> {
        let d = new_dsa()?;
        d.set_pqg(p, q, g)?;
        // SAFETY: a valid DSA with parameters set; writes its key values.
        check(unsafe { sys::DSA_generate_key(d.0.as_ptr()) })?;
        Ok(d)
    }

    fn get(&self, f: unsafe extern "C" fn(*const sys::DSA) -> *const sys::BIGNUM) -> Option<*const sys::BIGNUM> {
        // SAFETY: a valid DSA; the getter returns an internal pointer or NULL.
        let p = unsafe { f(self.0.as_ptr()) };
        (!p.is_null()).then_some(p)
    }

    /// (p, q, g) as minimal big-endian bytes.
    pub fn pqg(&self) -> Result<[Vec<u8>; 3], Failed> {
        let b = |f| self.get(f).map(|p| bn::to_bytes(p).to_vec()).ok_or(Failed);
        Ok([b(sys::DSA_get0_p)?, b(sys::DSA_get0_q)?, b(sys::DSA_get0_g)?])
    }

    pub fn public_value(&self) -> Result<Vec<u8>, Failed> {
        self.get(sys::DSA_get0_pub_key).map(|p| bn::to_bytes(p).to_vec()).ok_or(Failed)
    }

    pub fn private_value(&self) -> Result<Zeroizing<Vec<u8>>, Failed> {
        self.get(sys::DSA_get0_priv_key).map(bn::to_bytes).ok_or(Failed)
    }

    /// Bytes of q (the length of r and of s).
    pub fn q_len(&self) -> usize {
        self.get(sys::DSA_get0_q).map_or(0, |q| bn::bits(q).div_ceil(8))
    }

    /// Signs `digest` (used up to the length of q): `out` = r || s, each
    /// left-padded to the length of q.
    pub fn sign(&self, digest: &[u8], out: &mut [u8]) -> Result<(), Failed> {
        let n = self.q_len();
        if out.len() != 2 * n {
            return Err(Failed);
        }
        // SAFETY: a valid DSA and digest buffer; returns a new DSA_SIG or NULL.
        let sig = unsafe { sys::DSA_do_sign(digest.as_ptr(), digest.len(), self.0.as_ptr()) };
        let Some(sig) = NonNull::new(sig) else {
            clear_errors();
            return Err(Failed);
        };
        let (mut r, mut s) = (std::ptr::null(), std::ptr::null());
        // SAFETY: `sig` is valid; DSA_SIG_get0 writes internal pointers.
        unsafe { sys::DSA_SIG_get0(sig.as_ptr(), &mut r, &mut s) };
        let (ro, so) = out.split_at_mut(n);
        let res = if r.is_null() || s.is_null() {
            Err(Failed)
        } else {
            bn::to_padded(r, ro).and_then(|()| bn::to_padded(s, so))
        };
        // SAFETY: we own `sig`.
        unsafe { sys::DSA_SIG_free(sig.as_ptr()) };
        res
    }

    /// Whether (r, s) is a valid signature of `digest`.
    pub fn verify(&self, digest: &[u8], r: &[u8], s: &[u8]) -> Result<bool, Failed> {
        // SAFETY: allocates an empty DSA_SIG.
        let Some(sig) = NonNull::new(unsafe { sys::DSA_SIG_new() }) else {
            return Err(Failed);
        };
        let res = (|| {
            let (r, s) = (Bn::from_bytes(r)?, Bn::from_bytes(s)?);
            // SAFETY: a valid, empty DSA_SIG takes ownership of both on success.
            let rc = unsafe { sys::DSA_SIG_set0(sig.as_ptr(), r.as_ptr() as *mut _, s.as_ptr() as *mut _) };
            if rc != 1 {
                return Err(Failed);
            }
            std::mem::forget(r);
            std::mem::forget(s);
            let mut valid = 0;
            // SAFETY: valid signature, digest and key.
            let rc = unsafe {
                sys::DSA_do_check_signature(&mut valid, digest.as_ptr(), digest.len(), sig.as_ptr(), self.0.as_ptr())
            };
            if rc != 1 {
                clear_errors();
                return Ok(false);
            }
            Ok(valid == 1)
        })();
        // SAFETY: we own `sig` (and, once set0 succeeded, r and s in it).
        unsafe { sys::DSA_SIG_free(sig.as_ptr()) };
        res
    }
}
