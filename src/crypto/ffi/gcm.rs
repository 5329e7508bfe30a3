//! AES-GCM through AWS-LC's EVP cipher interface, for what aws-lc-rs's AEAD
//! API (96-bit nonces, whole messages) cannot do: IVs of any length
//! ([`aes_gcm_any_iv`]) and multi-part encryption ([`GcmSealStream`]).
//! The safe API of `crypto::aes`'s GCM paths.

use super::{Failed, c_len, check, clear_errors};
use aws_lc_sys as sys;
use std::ptr::NonNull;

/// An EVP cipher context, freed on drop.
struct CipherCtx(NonNull<sys::EVP_CIPHER_CTX>);

impl Drop for CipherCtx {
    fn drop(&mut self) {
        // SAFETY: we own the context.
        unsafe { sys::EVP_CIPHER_CTX_free(self.0.as_ptr()) }
    }
}

/// The EVP AES-GCM cipher for a key of `key_len` bytes.
fn gcm_cipher(key_len: usize) -> Result<*const sys::EVP_CIPHER, Failed> {
    // SAFETY: the EVP_aes_*_gcm functions return static tables.
    unsafe {
        match key_len {
            16 => Ok(sys::EVP_aes_128_gcm()),
            24 => Ok(sys::EVP_aes_192_gcm()),
            32 => Ok(sys::EVP_aes_256_gcm()),
            _ => Err(Failed),
        }
    }
}

/// A new AES-GCM context keyed with `key`, IV `iv` (any length >= 1) set,
/// `aad` absorbed, ready for data.
fn gcm_ctx(encrypt: bool, key: &[u8], iv: &[u8], aad: &[u8]) -> Result<CipherCtx, Failed> {
    if iv.is_empty() {
        return Err(Failed);
    }
    let cipher = gcm_cipher(key.len())?;
    // SAFETY: a new context or NULL.
    let ctx = NonNull::new(unsafe { sys::EVP_CIPHER_CTX_new() }).map(CipherCtx).ok_or_else(|| {
        clear_errors();
        Failed
    })?;
    let c = ctx.0.as_ptr();
    let null = std::ptr::null_mut();
    let mut outl: std::os::raw::c_int = 0;
    // SAFETY: `c` is a live context; `cipher` is a static table; key, iv
    // and aad are readable for the lengths passed (the key length is the
    // cipher's, checked by `gcm_cipher`); a NULL output pointer makes the
    // update absorb AAD.
    unsafe {
        let init = if encrypt { sys::EVP_EncryptInit_ex } else { sys::EVP_DecryptInit_ex };
        check(init(c, cipher, null, std::ptr::null(), std::ptr::null()))?;
        check(sys::EVP_CIPHER_CTX_ctrl(c, sys::EVP_CTRL_GCM_SET_IVLEN, c_len(iv.len())?, std::ptr::null_mut()))?;
        check(init(c, std::ptr::null(), null, key.as_ptr(), iv.as_ptr()))?;
        if !aad.is_empty() {
            let update = if encrypt { sys::EVP_EncryptUpdate } else { sys::EVP_DecryptUpdate };
            check(update(c, std::ptr::null_mut(), &mut outl, aad.as_ptr(), c_len(aad.len())?))?;
        }
    }
    Ok(ctx)
}

/// AES-GCM with an IV of any length (GCM's GHASH-derived J0 for IVs other
/// than 96 bits), for what aws-lc-rs's AEAD API (96-bit nonces only) cannot
/// do. Encrypts (`encrypt`) or decrypts `data` in place; the tag is written
/// (`encrypt`, `tag.len()` bytes, 1..=16) or checked (decrypt, truncated
/// tags compared on their length). On a failed check `data` is zeroed.
pub fn aes_gcm_any_iv(
    encrypt: bool,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    data: &mut [u8],
    tag: &mut [u8],
) -> Result<(), Failed> {
    use std::os::raw::c_int;
    if iv.is_empty() || tag.is_empty() || tag.len() > 16 {
        return Err(Failed);
    }
    let mut outl: c_int = 0;
    let r = (|| -> Result<(), Failed> {
        let ctx = gcm_ctx(encrypt, key, iv, aad)?;
        let c = ctx.0.as_ptr();
        // SAFETY: `c` is a live, keyed context; data and tag are valid for
        // the lengths passed; GCM allows in-place update (out == in).
        unsafe {
            let update = if encrypt { sys::EVP_EncryptUpdate } else { sys::EVP_DecryptUpdate };
            if !data.is_empty() {
                check(update(c, data.as_mut_ptr(), &mut outl, data.as_ptr(), c_len(data.len())?))?;
            }
            let mut fin = [0u8; 16];
            if encrypt {
                check(sys::EVP_EncryptFinal_ex(c, fin.as_mut_ptr(), &mut outl))?;
                check(sys::EVP_CIPHER_CTX_ctrl(
                    c,
                    sys::EVP_CTRL_GCM_GET_TAG,
                    c_len(tag.len())?,
                    tag.as_mut_ptr() as *mut std::ffi::c_void,
                ))
            } else {
                check(sys::EVP_CIPHER_CTX_ctrl(
                    c,
                    sys::EVP_CTRL_GCM_SET_TAG,
                    c_len(tag.len())?,
                    tag.as_mut_ptr() as *mut std::ffi::c_void,
                ))?;
                check(sys::EVP_DecryptFinal_ex(c, fin.as_mut_ptr(), &mut outl))
            }
        }
    })();
    if r.is_err() {
        zeroize::Zeroize::zeroize(data);
    }
    r
}

/// Multi-part AES-GCM encryption (any IV length): ciphertext comes out of
/// each [`update`](Self::update) for all the input given (GCM is a stream
/// mode), the tag out of [`finish`](Self::finish).
///
/// The engine context holds the key schedule and the GHASH state;
/// dropping the stream frees it with `EVP_CIPHER_CTX_free`, whose cleanup
/// cleanses the GCM state and frees (AWS-LC's `OPENSSL_free` cleanses every
/// allocation) the key schedule. After an engine failure or `finish` the
/// stream refuses further use.
pub struct GcmSealStream {
    ctx: CipherCtx,
    done: bool,
}

// SAFETY: the context is owned by this value alone and used only through
// `&mut self`; AWS-LC cipher contexts hold no thread-local state and may be
// used from any thread, one at a time.
unsafe impl Send for GcmSealStream {}

impl std::fmt::Debug for GcmSealStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GcmSealStream")
    }
}

/// The most bytes passed to one engine call (its lengths are `int`).
const EVP_CHUNK: usize = 1 << 30;

impl GcmSealStream {
    /// Keys a context with `key` (16, 24 or 32 bytes), sets `iv` (1 byte or
    /// more) and absorbs `aad`.
    pub fn new(key: &[u8], iv: &[u8], aad: &[u8]) -> Result<GcmSealStream, Failed> {
        Ok(GcmSealStream { ctx: gcm_ctx(true, key, iv, aad)?, done: false })
    }

    /// Encrypts `input` into `out[..input.len()]` (`out` must not be
    /// shorter). The two slices are distinct (Rust's borrow rules).
    pub fn update(&mut self, input: &[u8], out: &mut [u8]) -> Result<(), Failed> {
        if self.done || out.len() < input.len() {
            return Err(Failed);
        }
        let c = self.ctx.0.as_ptr();
        for (i, part) in input.chunks(EVP_CHUNK).enumerate() {
            let dst = &mut out[i * EVP_CHUNK..i * EVP_CHUNK + part.len()];
            let mut outl: std::os::raw::c_int = 0;
            // SAFETY: `c` is a live, keyed context; `part` is readable and
            // `dst` writable for `part.len()` bytes (<= 2^30, fits an int);
            // GCM writes exactly as many bytes as it reads.
            let r = check(unsafe {
                sys::EVP_EncryptUpdate(c, dst.as_mut_ptr(), &mut outl, part.as_ptr(), c_len(part.len())?)
            });
            if r.is_err() || usize::try_from(outl).ok() != Some(part.len()) {
                self.done = true;
                return Err(Failed);
            }
        }
        Ok(())
    }

    /// Ends the message and writes its tag, truncated to `tag.len()`
    /// (1..=16) bytes.
    pub fn finish(&mut self, tag: &mut [u8]) -> Result<(), Failed> {
        if self.done || tag.is_empty() || tag.len() > 16 {
            return Err(Failed);
        }
        self.done = true;
        let c = self.ctx.0.as_ptr();
        let mut fin = [0u8; 16];
        let mut outl: std::os::raw::c_int = 0;
        // SAFETY: `c` is a live context in the encrypt direction; `fin`
        // takes any final output (none for GCM); `tag` is writable for
        // `tag.len()` bytes (1..=16, what GET_TAG accepts).
        unsafe {
            check(sys::EVP_EncryptFinal_ex(c, fin.as_mut_ptr(), &mut outl))?;
            check(sys::EVP_CIPHER_CTX_ctrl(
                c,
                sys::EVP_CTRL_GCM_GET_TAG,
                c_len(tag.len())?,
                tag.as_mut_ptr() as *mut std::ffi::c_void,
            ))
        }
    }
}
