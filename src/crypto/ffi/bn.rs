//! Owned AWS-LC BIGNUMs for the DSA and DH wrappers: from big-endian bytes,
//! to big-endian bytes (minimal or left-padded). A [`Bn`] is freed with
//! `BN_clear_free` (it may hold a private value).

use super::Failed;
use aws_lc_sys as sys;
use std::ptr::NonNull;
use zeroize::Zeroizing;

/// An owned BIGNUM.
pub struct Bn(NonNull<sys::BIGNUM>);

impl Drop for Bn {
    fn drop(&mut self) {
        // SAFETY: we own the BIGNUM; BN_clear_free wipes and frees it.
        unsafe { sys::BN_clear_free(self.0.as_ptr()) }
    }
}

impl Bn {
    /// From big-endian bytes (empty = 0).
    pub fn from_bytes(b: &[u8]) -> Result<Bn, Failed> {
        // SAFETY: `b` is valid for `b.len()` bytes; a NULL `ret` asks for a
        // new BIGNUM, owned by the returned pointer.
        let p = unsafe { sys::BN_bin2bn(b.as_ptr(), b.len(), std::ptr::null_mut()) };
        NonNull::new(p).map(Bn).ok_or(Failed)
    }

    pub fn as_ptr(&self) -> *const sys::BIGNUM {
        self.0.as_ptr()
    }

    /// Gives up ownership (to an AWS-LC `set0` function).
    pub fn into_raw(self) -> *mut sys::BIGNUM {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        p
    }
}

/// Bits of a BIGNUM.
pub fn bits(bn: *const sys::BIGNUM) -> usize {
    // SAFETY: the caller passes a valid BIGNUM (owned or an engine object's get0).
    unsafe { sys::BN_num_bits(bn) as usize }
}

/// Minimal big-endian bytes of a BIGNUM (0 -> empty).
pub fn to_bytes(bn: *const sys::BIGNUM) -> Zeroizing<Vec<u8>> {
    // SAFETY: `bn` is a valid BIGNUM; the buffer has BN_num_bytes bytes.
    let n = unsafe { sys::BN_num_bytes(bn) } as usize;
    let mut v = Zeroizing::new(vec![0u8; n]);
    // SAFETY: as above.
    unsafe { sys::BN_bn2bin(bn, v.as_mut_ptr()) };
    v
}

/// Big-endian bytes left-padded to `len` (fails if the value is longer).
pub fn to_padded(bn: *const sys::BIGNUM, out: &mut [u8]) -> Result<(), Failed> {
    // SAFETY: `bn` is valid and `out` writable for `out.len()` bytes.
    let rc = unsafe { sys::BN_bn2bin_padded(out.as_mut_ptr(), out.len(), bn) };
    if rc == 1 { Ok(()) } else { Err(Failed) }
}

/// g^x mod p in constant time (x secret; p odd, g < p).
pub fn mod_exp_consttime(g: &Bn, x: &Bn, p: &Bn) -> Result<Bn, Failed> {
    let r = Bn::from_bytes(&[])?;
    // SAFETY: allocates a BN_CTX (or NULL).
    let ctx = unsafe { sys::BN_CTX_new() };
    if ctx.is_null() {
        return Err(Failed);
    }
    // SAFETY: valid BIGNUMs and context; a NULL Montgomery context asks the
    // function to build its own.
    let rc = unsafe {
        sys::BN_mod_exp_mont_consttime(r.0.as_ptr(), g.as_ptr(), x.as_ptr(), p.as_ptr(), ctx, std::ptr::null())
    };
    // SAFETY: we own the context.
    unsafe { sys::BN_CTX_free(ctx) };
    super::check(rc)?;
    Ok(r)
}
