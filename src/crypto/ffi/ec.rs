//! ECDSA and ECDH on curves aws-lc-rs does not offer (P-224; and P-521
//! ECDSA over hashes longer than its native 64 bytes), through
//! AWS-LC's EC_KEY interface: key generation, the public point of a
//! scalar, point validation, ECDSA over a digest of any length (AWS-LC
//! truncates it to the order's bit length as ECDSA defines) with raw
//! `r || s` signatures, and raw ECDH (the x coordinate). Scalars and points
//! cross this boundary as big-endian bytes and uncompressed SEC1 points;
//! every engine object is freed on drop.

use super::{Failed, check, clear_errors};
use aws_lc_sys as sys;
use std::ptr::{NonNull, null_mut};
use zeroize::Zeroizing;

/// A curve by AWS-LC NID and field length in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EcGroup {
    pub nid: i32,
    pub field_len: usize,
}

/// NIST P-224 (secp224r1).
pub const P224: EcGroup = EcGroup { nid: sys::NID_secp224r1, field_len: 28 };
/// NIST P-521 (secp521r1).
pub const P521: EcGroup = EcGroup { nid: sys::NID_secp521r1, field_len: 66 };

struct Key(NonNull<sys::EC_KEY>);

impl Drop for Key {
    fn drop(&mut self) {
        // SAFETY: we own the EC_KEY (created by EC_KEY_new_by_curve_name);
        // EC_KEY_free clears the private scalar it holds.
        unsafe { sys::EC_KEY_free(self.0.as_ptr()) }
    }
}

struct Point(NonNull<sys::EC_POINT>);

impl Drop for Point {
    fn drop(&mut self) {
        // SAFETY: we own the point (EC_POINT_new).
        unsafe { sys::EC_POINT_free(self.0.as_ptr()) }
    }
}

struct Bn(NonNull<sys::BIGNUM>);

impl Drop for Bn {
    fn drop(&mut self) {
        // SAFETY: we own the BIGNUM (BN_bin2bn with a NULL target);
        // BN_clear_free wipes it (it may hold a private scalar).
        unsafe { sys::BN_clear_free(self.0.as_ptr()) }
    }
}

fn nonnull<T>(p: *mut T) -> Result<NonNull<T>, Failed> {
    NonNull::new(p).ok_or_else(|| {
        clear_errors();
        Failed
    })
}

fn bn(bytes: &[u8]) -> Result<Bn, Failed> {
    // SAFETY: reads `bytes.len()` bytes from a live slice; a NULL target
    // asks for a new BIGNUM, which we own.
    Ok(Bn(nonnull(unsafe { sys::BN_bin2bn(bytes.as_ptr(), bytes.len(), null_mut()) })?))
}

fn new_key(g: EcGroup) -> Result<Key, Failed> {
    // SAFETY: a plain constructor; the result is ours to free.
    Ok(Key(nonnull(unsafe { sys::EC_KEY_new_by_curve_name(g.nid) })?))
}

fn group(k: &Key) -> *const sys::EC_GROUP {
    // SAFETY: `k` is a live EC_KEY created with a group; the group pointer
    // is borrowed from it and lives as long as `k`.
    unsafe { sys::EC_KEY_get0_group(k.0.as_ptr()) }
}

/// Parses an uncompressed (or compressed) SEC1 point; AWS-LC checks that
/// it is on the curve.
fn point(k: &Key, bytes: &[u8]) -> Result<Point, Failed> {
    let grp = group(k);
    // SAFETY: a constructor over the key's live group.
    let p = Point(nonnull(unsafe { sys::EC_POINT_new(grp) })?);
    // SAFETY: `p` is a live point of `grp`; `bytes` is a live slice of the
    // length given; a NULL BN_CTX is allowed.
    check(unsafe { sys::EC_POINT_oct2point(grp, p.0.as_ptr(), bytes.as_ptr(), bytes.len(), null_mut()) })?;
    Ok(p)
}

fn point_bytes(g: EcGroup, grp: *const sys::EC_GROUP, p: *const sys::EC_POINT) -> Result<Vec<u8>, Failed> {
    let mut out = vec![0u8; 1 + 2 * g.field_len];
    // SAFETY: `p` is a live point of `grp`; `out` has the stated length.
    let n = unsafe {
        sys::EC_POINT_point2oct(
            grp,
            p,
            sys::point_conversion_form_t::POINT_CONVERSION_UNCOMPRESSED,
            out.as_mut_ptr(),
            out.len(),
            null_mut(),
        )
    };
    if n != out.len() {
        clear_errors();
        return Err(Failed);
    }
    Ok(out)
}

/// A key with the private scalar `scalar` (big-endian, field length) and
/// its public point set.
fn private_key(g: EcGroup, scalar: &[u8]) -> Result<(Key, Vec<u8>), Failed> {
    let k = new_key(g)?;
    let d = bn(scalar)?;
    // SAFETY: `k` and `d` are live; the key copies the scalar.
    check(unsafe { sys::EC_KEY_set_private_key(k.0.as_ptr(), d.0.as_ptr()) })?;
    let grp = group(&k);
    // SAFETY: a constructor over the key's live group.
    let p = Point(nonnull(unsafe { sys::EC_POINT_new(grp) })?);
    // SAFETY: `p` is a live point of `grp`, `d` a live BIGNUM; q and m are
    // NULL (generator multiplication only), as the API allows.
    check(unsafe {
        sys::EC_POINT_mul(grp, p.0.as_ptr(), d.0.as_ptr(), std::ptr::null(), std::ptr::null(), null_mut())
    })?;
    // SAFETY: both live; the key copies the point.
    check(unsafe { sys::EC_KEY_set_public_key(k.0.as_ptr(), p.0.as_ptr()) })?;
    let public = point_bytes(g, grp, p.0.as_ptr())?;
    Ok((k, public))
}

/// Generates a key pair: (scalar, uncompressed point).
pub fn ec_generate(g: EcGroup) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), Failed> {
    let k = new_key(g)?;
    // SAFETY: `k` is a live EC_KEY with a group.
    check(unsafe { sys::EC_KEY_generate_key(k.0.as_ptr()) })?;
    let mut scalar = Zeroizing::new(vec![0u8; g.field_len]);
    // SAFETY: the private key was just generated and lives in `k`; `scalar`
    // has the stated length.
    check(unsafe {
        sys::BN_bn2bin_padded(scalar.as_mut_ptr(), scalar.len(), sys::EC_KEY_get0_private_key(k.0.as_ptr()))
    })?;
    // SAFETY: the public key was generated with it and lives in `k`.
    let public = point_bytes(g, group(&k), unsafe { sys::EC_KEY_get0_public_key(k.0.as_ptr()) })?;
    Ok((scalar, public))
}

/// The uncompressed public point of `scalar` (which the caller has checked
/// to lie in [1, n-1]).
pub fn ec_public_point(g: EcGroup, scalar: &[u8]) -> Result<Vec<u8>, Failed> {
    Ok(private_key(g, scalar)?.1)
}

/// Validates a SEC1 point (on the curve, not the identity) and returns it
/// uncompressed.
pub fn ec_check_point(g: EcGroup, bytes: &[u8]) -> Result<Vec<u8>, Failed> {
    let k = new_key(g)?;
    let p = point(&k, bytes)?;
    // SAFETY: both live; the key copies the point.
    check(unsafe { sys::EC_KEY_set_public_key(k.0.as_ptr(), p.0.as_ptr()) })?;
    // SAFETY: `k` is live; EC_KEY_check_key refuses the identity and
    // off-curve points.
    check(unsafe { sys::EC_KEY_check_key(k.0.as_ptr()) })?;
    point_bytes(g, group(&k), p.0.as_ptr())
}

/// ECDSA over `digest` (any length): raw `r || s`, field length each.
pub fn ec_sign(g: EcGroup, scalar: &[u8], digest: &[u8]) -> Result<Vec<u8>, Failed> {
    let (k, _) = private_key(g, scalar)?;
    // SAFETY: `digest` is a live slice of the given length, `k` a live key
    // with its private scalar; the signature returned is ours to free.
    let sig = nonnull(unsafe { sys::ECDSA_do_sign(digest.as_ptr(), digest.len(), k.0.as_ptr()) })?;
    let mut r: *const sys::BIGNUM = std::ptr::null();
    let mut s: *const sys::BIGNUM = std::ptr::null();
    let mut out = vec![0u8; 2 * g.field_len];
    // SAFETY: `sig` is live; r and s are borrowed from it and used before
    // it is freed; each half of `out` has field_len bytes.
    let rc = unsafe {
        sys::ECDSA_SIG_get0(sig.as_ptr(), &mut r, &mut s);
        let (ro, so) = out.split_at_mut(g.field_len);
        let ok = sys::BN_bn2bin_padded(ro.as_mut_ptr(), ro.len(), r) == 1
            && sys::BN_bn2bin_padded(so.as_mut_ptr(), so.len(), s) == 1;
        sys::ECDSA_SIG_free(sig.as_ptr());
        ok as std::os::raw::c_int
    };
    check(rc)?;
    Ok(out)
}

/// Verifies a raw `r || s` signature over `digest`; `Failed` for a bad
/// signature or point.
pub fn ec_verify(g: EcGroup, point_bytes: &[u8], digest: &[u8], sig: &[u8]) -> Result<(), Failed> {
    if sig.len() != 2 * g.field_len {
        return Err(Failed);
    }
    let k = new_key(g)?;
    let p = point(&k, point_bytes)?;
    // SAFETY: both live; the key copies the point.
    check(unsafe { sys::EC_KEY_set_public_key(k.0.as_ptr(), p.0.as_ptr()) })?;
    let (rb, sb) = sig.split_at(g.field_len);
    let r = bn(rb)?;
    let s = bn(sb)?;
    // SAFETY: a constructor; the result is ours to free.
    let es = nonnull(unsafe { sys::ECDSA_SIG_new() })?;
    // SAFETY: ECDSA_SIG_set0 takes ownership of r and s (so they must not
    // be freed here: `into_raw`-like forget); `es` is freed below.
    let set = unsafe { sys::ECDSA_SIG_set0(es.as_ptr(), r.0.as_ptr(), s.0.as_ptr()) };
    if set == 1 {
        std::mem::forget(r);
        std::mem::forget(s);
    }
    // SAFETY: `es` (with r and s if set) and `k` are live, `digest` a live
    // slice of the given length; then `es` is freed once.
    let rc = unsafe {
        let rc =
            if set == 1 { sys::ECDSA_do_verify(digest.as_ptr(), digest.len(), es.as_ptr(), k.0.as_ptr()) } else { 0 };
        sys::ECDSA_SIG_free(es.as_ptr());
        rc
    };
    check(rc)
}

/// Raw ECDH: the x coordinate of `scalar * peer` (field length bytes).
pub fn ec_ecdh(g: EcGroup, scalar: &[u8], peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, Failed> {
    let (k, _) = private_key(g, scalar)?;
    let p = point(&k, peer)?;
    let mut out = Zeroizing::new(vec![0u8; g.field_len]);
    // SAFETY: `out` has the given length, `p` is a live point of the key's
    // group, `k` a live key with its private scalar; no KDF callback.
    let n = unsafe { sys::ECDH_compute_key(out.as_mut_ptr().cast(), out.len(), p.0.as_ptr(), k.0.as_ptr(), None) };
    if n != g.field_len as std::os::raw::c_int {
        clear_errors();
        return Err(Failed);
    }
    Ok(out)
}
