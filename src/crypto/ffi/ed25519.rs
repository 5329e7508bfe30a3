//! Ed25519ctx and Ed25519ph (RFC 8032 §5.1) through AWS-LC's
//! `ED25519ctx_*` and `ED25519ph_*_digest` functions, which aws-lc-rs does
//! not expose (it offers pure Ed25519 only). The safe API of
//! `crypto::okp`'s context and prehash variants.

use super::{Failed, check};
use aws_lc_sys as sys;
use zeroize::Zeroizing;

/// The longest context RFC 8032 allows.
pub const MAX_CONTEXT_LEN: usize = 255;

/// AWS-LC's private key form: the 32-byte seed followed by the 32-byte
/// public key.
fn expanded(seed: &[u8; 32], public: &[u8; 32]) -> Zeroizing<[u8; 64]> {
    let mut k = Zeroizing::new([0u8; 64]);
    k[..32].copy_from_slice(seed);
    k[32..].copy_from_slice(public);
    k
}

/// Ed25519ctx (non-empty `context`) or, with `prehash = Some(SHA-512 of
/// the message)`, Ed25519ph; returns the 64-byte signature.
pub fn ed25519_sign(
    seed: &[u8; 32],
    public: &[u8; 32],
    msg_or_digest: &[u8],
    prehashed: bool,
    context: &[u8],
) -> Result<[u8; 64], Failed> {
    if context.len() > MAX_CONTEXT_LEN || (!prehashed && context.is_empty()) || (prehashed && msg_or_digest.len() != 64)
    {
        return Err(Failed);
    }
    let key = expanded(seed, public);
    let mut sig = [0u8; 64];
    let rc = if prehashed {
        // SAFETY: `sig` has the 64 bytes written, the digest is 64 bytes
        // (checked above), `key` is the 64-byte private key and the
        // context pointer/length describe a live slice.
        unsafe {
            sys::ED25519ph_sign_digest(
                sig.as_mut_ptr(),
                msg_or_digest.as_ptr(),
                key.as_ptr(),
                context.as_ptr(),
                context.len(),
            )
        }
    } else {
        // SAFETY: as above; the message pointer/length describe a live
        // slice.
        unsafe {
            sys::ED25519ctx_sign(
                sig.as_mut_ptr(),
                msg_or_digest.as_ptr(),
                msg_or_digest.len(),
                key.as_ptr(),
                context.as_ptr(),
                context.len(),
            )
        }
    };
    check(rc)?;
    Ok(sig)
}

/// Verifies an Ed25519ctx or Ed25519ph signature (see [`ed25519_sign`]).
pub fn ed25519_verify(
    public: &[u8; 32],
    msg_or_digest: &[u8],
    prehashed: bool,
    context: &[u8],
    sig: &[u8; 64],
) -> Result<(), Failed> {
    if context.len() > MAX_CONTEXT_LEN || (!prehashed && context.is_empty()) || (prehashed && msg_or_digest.len() != 64)
    {
        return Err(Failed);
    }
    let rc = if prehashed {
        // SAFETY: the digest is 64 bytes, the signature 64, the public key
        // 32, and the context pointer/length describe a live slice; the
        // function only reads them.
        unsafe {
            sys::ED25519ph_verify_digest(
                msg_or_digest.as_ptr(),
                sig.as_ptr(),
                public.as_ptr(),
                context.as_ptr(),
                context.len(),
            )
        }
    } else {
        // SAFETY: as above, with the message pointer/length of a live slice.
        unsafe {
            sys::ED25519ctx_verify(
                msg_or_digest.as_ptr(),
                msg_or_digest.len(),
                sig.as_ptr(),
                public.as_ptr(),
                context.as_ptr(),
                context.len(),
            )
        }
    };
    check(rc)
}
