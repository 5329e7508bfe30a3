//! PKCS#3 Diffie-Hellman through AWS-LC's DH_* functions: a key from
//! (p, g) and a private value, key generation (optionally with a private
//! value of a given bit length), parameter generation
//! (`DH_generate_parameters_ex`, a safe prime with generator 2), the
//! peer-value check and the shared secret, left-padded to the length of p.
//! The safe API of `crypto::dh`.

use super::bn::{self, Bn};
use super::{Failed, check, clear_errors};
use aws_lc_sys as sys;
use std::ptr::NonNull;
use zeroize::Zeroizing;

/// An AWS-LC DH object.
pub struct Dh(NonNull<sys::DH>);

// SAFETY: a DH object is not mutated after it is built except for the
// Montgomery context AWS-LC builds under its own lock in DH_compute_key.
unsafe impl Send for Dh {}
// SAFETY: see above.
unsafe impl Sync for Dh {}

impl Drop for Dh {
    fn drop(&mut self) {
        // SAFETY: we own one reference; DH_free clears the private value.
        unsafe { sys::DH_free(self.0.as_ptr()) }
    }
}

fn new_dh() -> Result<Dh, Failed> {
    // SAFETY: allocates a fresh DH object (or NULL).
    NonNull::new(unsafe { sys::DH_new() }).map(Dh).ok_or(Failed)
}

impl Dh {
    fn with_pg(p: &[u8], g: &[u8]) -> Result<Dh, Failed> {
        let d = new_dh()?;
        let (p, g) = (Bn::from_bytes(p)?, Bn::from_bytes(g)?);
        let (pp, gp) = (p.into_raw(), g.into_raw());
        // SAFETY: a valid DH and fresh BIGNUMs; ownership passes on success.
        let rc = unsafe { sys::DH_set0_pqg(d.0.as_ptr(), pp, std::ptr::null_mut(), gp) };
        if rc != 1 {
            // SAFETY: not taken on failure.
            unsafe {
                sys::BN_free(pp);
                sys::BN_free(gp);
            }
            clear_errors();
            return Err(Failed);
        }
        Ok(d)
    }

    /// A private key (p, g, x).
    pub fn from_private(p: &[u8], g: &[u8], x: &[u8]) -> Result<Dh, Failed> {
        let d = Dh::with_pg(p, g)?;
        let xp = Bn::from_bytes(x)?.into_raw();
        // SAFETY: a valid DH; takes ownership of x on success.
        let rc = unsafe { sys::DH_set0_key(d.0.as_ptr(), std::ptr::null_mut(), xp) };
        if rc != 1 {
            // SAFETY: not taken on failure.
            unsafe { sys::BN_clear_free(xp) };
            clear_errors();
            return Err(Failed);
        }
        Ok(d)
    }

    /// A fresh key pair on (p, g); `x_bits` (0: the engine's choice, p's
    /// length - 1) is the private value's length.
    pub fn generate_key(p: &[u8], g: &[u8], x_bits: u32) -> Result<Dh, Failed> {
        let d = Dh::with_pg(p, g)?;
        if x_bits != 0 {
            // SAFETY: a valid DH.
            check(unsafe { sys::DH_set_length(d.0.as_ptr(), x_bits) })?;
        }
        // SAFETY: a valid DH with p and g; writes its key values.
        check(unsafe { sys::DH_generate_key(d.0.as_ptr()) })?;
        Ok(d)
    }

    /// New parameters: a safe prime of `bits` bits, generator 2.
    pub fn generate_parameters(bits: i32) -> Result<Dh, Failed> {
        let d = new_dh()?;
        // SAFETY: a valid DH; no callback.
        check(unsafe { sys::DH_generate_parameters_ex(d.0.as_ptr(), bits, 2, std::ptr::null_mut()) })?;
        Ok(d)
    }

    fn get(&self, f: unsafe extern "C" fn(*const sys::DH) -> *const sys::BIGNUM) -> Option<*const sys::BIGNUM> {
        // SAFETY: a valid DH; the getter returns an internal pointer or NULL.
        let p = unsafe { f(self.0.as_ptr()) };
        (!p.is_null()).then_some(p)
    }

    /// (p, g) as minimal big-endian bytes.
    pub fn pg(&self) -> Result<(Vec<u8>, Vec<u8>), Failed> {
        let b = |f| self.get(f).map(|p| bn::to_bytes(p).to_vec()).ok_or(Failed);
        Ok((b(sys::DH_get0_p)?, b(sys::DH_get0_g)?))
    }

    pub fn public_value(&self) -> Result<Vec<u8>, Failed> {
        self.get(sys::DH_get0_pub_key).map(|p| bn::to_bytes(p).to_vec()).ok_or(Failed)
    }

    pub fn private_value(&self) -> Result<Zeroizing<Vec<u8>>, Failed> {
        self.get(sys::DH_get0_priv_key).map(bn::to_bytes).ok_or(Failed)
    }

    pub fn private_bits(&self) -> usize {
        self.get(sys::DH_get0_priv_key).map_or(0, bn::bits)
    }

    /// The shared secret with the peer's public value `y` (checked
    /// 1 < y < p - 1 by `DH_check_pub_key`), left-padded to p's length.
    pub fn compute(&self, y: &[u8]) -> Result<Zeroizing<Vec<u8>>, Failed> {
        let y = Bn::from_bytes(y)?;
        let mut flags = 0;
        // SAFETY: valid DH and BIGNUM.
        let rc = unsafe { sys::DH_check_pub_key(self.0.as_ptr(), y.as_ptr(), &mut flags) };
        if rc != 1 || flags != 0 {
            clear_errors();
            return Err(Failed);
        }
        // SAFETY: a valid DH.
        let n = unsafe { sys::DH_size(self.0.as_ptr()) } as usize;
        let mut out = Zeroizing::new(vec![0u8; n]);
        // SAFETY: `out` holds DH_size bytes, as DH_compute_key_padded writes.
        let rc = unsafe { sys::DH_compute_key_padded(out.as_mut_ptr(), y.as_ptr(), self.0.as_ptr()) };
        if rc < 0 || rc as usize != n {
            clear_errors();
            return Err(Failed);
        }
        Ok(out)
    }
}
