//! The other foreign boundary: AWS-LC's EVP RSA interface, called directly
//! through `aws-lc-sys` (the same library aws-lc-rs wraps, built once) for
//! what aws-lc-rs does not expose: raw PKCS#1 v1.5 signing of arbitrary
//! data (CKM_RSA_PKCS), raw RSA (CKM_RSA_X_509), SHA-1/SHA-224 PKCS#1 v1.5
//! signing, PSS and OAEP with SHA-224 or with an MGF1 hash different from
//! the message hash, every operation on keys under 2048 bits (aws-lc-rs
//! refuses them), key generation of any size the engine supports
//! (multiples of 128 bits) with any odd public exponent of up to 32 bits;
//! AES-GCM with IVs other than 96 bits; multi-part (streaming) AES-GCM
//! encryption; random bytes with caller-supplied DRBG additional input
//! (C_SeedRandom).
//!
//! It lives under `abi/` because it is `unsafe` FFI (DESIGN.md §1: unsafe
//! code only here); it offers a small safe API to `crypto::rsa`,
//! `crypto::aes` and `crypto::rand` and knows nothing of PKCS#11. Every
//! call's return code is checked, AWS-LC's error queue is cleared after a
//! failure, and keys and cipher contexts are freed on drop.

use aws_lc_sys as sys;
use std::ptr::NonNull;
use zeroize::Zeroizing;

/// A message digest for the EVP parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Md {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Md {
    fn evp(self) -> *const sys::EVP_MD {
        // SAFETY: the EVP_sha* functions return pointers to static tables.
        unsafe {
            match self {
                Md::Sha1 => sys::EVP_sha1(),
                Md::Sha224 => sys::EVP_sha224(),
                Md::Sha256 => sys::EVP_sha256(),
                Md::Sha384 => sys::EVP_sha384(),
                Md::Sha512 => sys::EVP_sha512(),
            }
        }
    }
}

/// How a signature is padded.
#[derive(Clone, Copy, Debug)]
pub enum SigPad {
    /// EMSA-PKCS1-v1_5 over a digest of `Md` (the DigestInfo is built here).
    Pkcs1(Md),
    /// PKCS#1 v1.5 type 1 padding of the caller's bytes as they are
    /// (CKM_RSA_PKCS: at most k - 11 bytes).
    Pkcs1Raw,
    /// EMSA-PSS over a digest of `md`, MGF1 with `mgf1`, `salt` bytes.
    Pss { md: Md, mgf1: Md, salt: usize },
    /// No padding (CKM_RSA_X_509): the input is exactly k bytes, < n.
    None,
}

/// How an encryption is padded.
#[derive(Clone, Copy, Debug)]
pub enum EncPad {
    Oaep {
        md: Md,
        mgf1: Md,
    },
    /// PKCS#1 v1.5 type 2 (RSAES-PKCS1-v1_5).
    Pkcs1,
    /// No padding: exactly k bytes in and out.
    None,
}

/// An AWS-LC EVP_PKEY holding an RSA key.
pub struct EvpRsa(NonNull<sys::EVP_PKEY>);

// SAFETY: an EVP_PKEY is reference-counted and immutable once built; AWS-LC
// documents concurrent use of one key from several threads as safe when
// each operation has its own EVP_PKEY_CTX (as here).
unsafe impl Send for EvpRsa {}
// SAFETY: see above.
unsafe impl Sync for EvpRsa {}

impl Drop for EvpRsa {
    fn drop(&mut self) {
        // SAFETY: we own one reference to the key.
        unsafe { sys::EVP_PKEY_free(self.0.as_ptr()) }
    }
}

impl std::fmt::Debug for EvpRsa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EvpRsa")
    }
}

/// An operation failed (details are not returned: for decryption they
/// would be an oracle).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed;

fn clear_errors() {
    // SAFETY: clears this thread's AWS-LC error queue.
    unsafe { sys::ERR_clear_error() }
}

fn check(rc: std::os::raw::c_int) -> Result<(), Failed> {
    if rc == 1 {
        Ok(())
    } else {
        clear_errors();
        Err(Failed)
    }
}

/// A per-operation context, freed on drop.
struct Ctx(NonNull<sys::EVP_PKEY_CTX>);

impl Drop for Ctx {
    fn drop(&mut self) {
        // SAFETY: we own the context.
        unsafe { sys::EVP_PKEY_CTX_free(self.0.as_ptr()) }
    }
}

impl EvpRsa {
    fn wrap_rsa(rsa: *mut sys::RSA) -> Result<EvpRsa, Failed> {
        let Some(rsa) = NonNull::new(rsa) else {
            clear_errors();
            return Err(Failed);
        };
        // SAFETY: EVP_PKEY_new returns a fresh key or NULL.
        let pkey = unsafe { sys::EVP_PKEY_new() };
        let Some(pkey) = NonNull::new(pkey) else {
            // SAFETY: we still own `rsa`.
            unsafe { sys::RSA_free(rsa.as_ptr()) };
            return Err(Failed);
        };
        // SAFETY: on success EVP_PKEY_assign_RSA takes ownership of `rsa`.
        if unsafe { sys::EVP_PKEY_assign_RSA(pkey.as_ptr(), rsa.as_ptr()) } != 1 {
            // SAFETY: on failure we still own both.
            unsafe {
                sys::RSA_free(rsa.as_ptr());
                sys::EVP_PKEY_free(pkey.as_ptr());
            }
            clear_errors();
            return Err(Failed);
        }
        Ok(EvpRsa(pkey))
    }

    /// A private key from its PKCS#1 RSAPrivateKey DER.
    pub fn private_from_pkcs1(der: &[u8]) -> Result<EvpRsa, Failed> {
        // SAFETY: reads `der.len()` bytes from `der`; returns a new RSA or NULL.
        Self::wrap_rsa(unsafe { sys::RSA_private_key_from_bytes(der.as_ptr(), der.len()) })
    }

    /// A public key from its PKCS#1 RSAPublicKey DER.
    pub fn public_from_pkcs1(der: &[u8]) -> Result<EvpRsa, Failed> {
        // SAFETY: as above.
        Self::wrap_rsa(unsafe { sys::RSA_public_key_from_bytes(der.as_ptr(), der.len()) })
    }

    /// The modulus length in bytes.
    pub fn size(&self) -> usize {
        // SAFETY: the key is valid; EVP_PKEY_size reads it.
        let n = unsafe { sys::EVP_PKEY_size(self.0.as_ptr()) };
        usize::try_from(n).unwrap_or(0)
    }

    fn ctx(&self) -> Result<Ctx, Failed> {
        // SAFETY: a new context on our key (it takes its own reference).
        let c = unsafe { sys::EVP_PKEY_CTX_new(self.0.as_ptr(), std::ptr::null_mut()) };
        NonNull::new(c).map(Ctx).ok_or_else(|| {
            clear_errors();
            Failed
        })
    }

    fn set_sig_pad(c: &Ctx, pad: SigPad) -> Result<(), Failed> {
        let p = c.0.as_ptr();
        // SAFETY: `p` is a live context initialized for sign/verify; the
        // EVP_MD pointers are static.
        unsafe {
            match pad {
                SigPad::Pkcs1(md) => {
                    check(sys::EVP_PKEY_CTX_set_rsa_padding(p, sys::RSA_PKCS1_PADDING))?;
                    check(sys::EVP_PKEY_CTX_set_signature_md(p, md.evp()))
                }
                SigPad::Pkcs1Raw => check(sys::EVP_PKEY_CTX_set_rsa_padding(p, sys::RSA_PKCS1_PADDING)),
                SigPad::Pss { md, mgf1, salt } => {
                    let salt = std::os::raw::c_int::try_from(salt).map_err(|_| Failed)?;
                    check(sys::EVP_PKEY_CTX_set_rsa_padding(p, sys::RSA_PKCS1_PSS_PADDING))?;
                    check(sys::EVP_PKEY_CTX_set_signature_md(p, md.evp()))?;
                    check(sys::EVP_PKEY_CTX_set_rsa_mgf1_md(p, mgf1.evp()))?;
                    check(sys::EVP_PKEY_CTX_set_rsa_pss_saltlen(p, salt))
                }
                SigPad::None => check(sys::EVP_PKEY_CTX_set_rsa_padding(p, sys::RSA_NO_PADDING)),
            }
        }
    }

    /// Signs `input` (a digest for `Pkcs1`/`Pss`, the raw bytes otherwise)
    /// into `out`, which must hold `size()` bytes; returns the length.
    pub fn sign(&self, pad: SigPad, input: &[u8], out: &mut [u8]) -> Result<usize, Failed> {
        let c = self.ctx()?;
        // SAFETY: `c` is live; initialize it for signing.
        check(unsafe { sys::EVP_PKEY_sign_init(c.0.as_ptr()) })?;
        Self::set_sig_pad(&c, pad)?;
        let mut len = out.len();
        // SAFETY: `out` is writable for `len` bytes, `input` readable.
        check(unsafe { sys::EVP_PKEY_sign(c.0.as_ptr(), out.as_mut_ptr(), &mut len, input.as_ptr(), input.len()) })?;
        Ok(len)
    }

    /// Verifies `sig` over `input` (as for [`EvpRsa::sign`]).
    pub fn verify(&self, pad: SigPad, input: &[u8], sig: &[u8]) -> Result<(), Failed> {
        let c = self.ctx()?;
        // SAFETY: `c` is live; initialize it for verification.
        check(unsafe { sys::EVP_PKEY_verify_init(c.0.as_ptr()) })?;
        Self::set_sig_pad(&c, pad)?;
        // SAFETY: both buffers readable for their lengths.
        check(unsafe { sys::EVP_PKEY_verify(c.0.as_ptr(), sig.as_ptr(), sig.len(), input.as_ptr(), input.len()) })
    }

    fn set_enc_pad(c: &Ctx, pad: EncPad, label: &[u8]) -> Result<(), Failed> {
        let p = c.0.as_ptr();
        // SAFETY: `p` is a live context initialized for encrypt/decrypt.
        unsafe {
            match pad {
                EncPad::None => check(sys::EVP_PKEY_CTX_set_rsa_padding(p, sys::RSA_NO_PADDING)),
                EncPad::Pkcs1 => check(sys::EVP_PKEY_CTX_set_rsa_padding(p, sys::RSA_PKCS1_PADDING)),
                EncPad::Oaep { md, mgf1 } => {
                    check(sys::EVP_PKEY_CTX_set_rsa_padding(p, sys::RSA_PKCS1_OAEP_PADDING))?;
                    check(sys::EVP_PKEY_CTX_set_rsa_oaep_md(p, md.evp()))?;
                    check(sys::EVP_PKEY_CTX_set_rsa_mgf1_md(p, mgf1.evp()))?;
                    if !label.is_empty() {
                        // set0 takes ownership of an OPENSSL_malloc'ed copy.
                        let buf = sys::OPENSSL_malloc(label.len()) as *mut u8;
                        if buf.is_null() {
                            return Err(Failed);
                        }
                        std::ptr::copy_nonoverlapping(label.as_ptr(), buf, label.len());
                        if sys::EVP_PKEY_CTX_set0_rsa_oaep_label(p, buf, label.len()) != 1 {
                            sys::OPENSSL_free(buf as *mut std::ffi::c_void);
                            clear_errors();
                            return Err(Failed);
                        }
                    }
                    Ok(())
                }
            }
        }
    }

    /// Encrypts `msg` into `out` (`size()` bytes); returns the length.
    pub fn encrypt(&self, pad: EncPad, label: &[u8], msg: &[u8], out: &mut [u8]) -> Result<usize, Failed> {
        let c = self.ctx()?;
        // SAFETY: `c` is live.
        check(unsafe { sys::EVP_PKEY_encrypt_init(c.0.as_ptr()) })?;
        Self::set_enc_pad(&c, pad, label)?;
        let mut len = out.len();
        // SAFETY: `out` writable for `len`, `msg` readable.
        check(unsafe { sys::EVP_PKEY_encrypt(c.0.as_ptr(), out.as_mut_ptr(), &mut len, msg.as_ptr(), msg.len()) })?;
        Ok(len)
    }

    /// Decrypts `ct` (exactly `size()` bytes) into `out`; returns the
    /// message length. One error for every failure (no padding oracle
    /// beyond the mechanism's own).
    pub fn decrypt(&self, pad: EncPad, label: &[u8], ct: &[u8], out: &mut [u8]) -> Result<usize, Failed> {
        let c = self.ctx()?;
        // SAFETY: `c` is live.
        check(unsafe { sys::EVP_PKEY_decrypt_init(c.0.as_ptr()) })?;
        Self::set_enc_pad(&c, pad, label)?;
        let k = self.size();
        let mut scratch = Zeroizing::new(vec![0u8; k.max(1)]);
        let mut len = scratch.len();
        // SAFETY: `scratch` writable for `len`, `ct` readable.
        check(unsafe { sys::EVP_PKEY_decrypt(c.0.as_ptr(), scratch.as_mut_ptr(), &mut len, ct.as_ptr(), ct.len()) })?;
        if len > out.len() {
            return Err(Failed);
        }
        out[..len].copy_from_slice(&scratch[..len]);
        Ok(len)
    }
}

/// A freshly generated RSA key as PKCS#1 RSAPrivateKey DER: a modulus of
/// `bits` bits (a multiple of 128, 512..=16384) and public exponent `e`
/// (odd, 3..=2^32-1); `Failed` for anything else or an engine failure.
pub fn generate_rsa(bits: usize, e: u32) -> Result<Zeroizing<Vec<u8>>, Failed> {
    if !bits.is_multiple_of(128) || !(512..=16384).contains(&bits) || e < 3 || e.is_multiple_of(2) {
        return Err(Failed);
    }
    let bits_c = std::os::raw::c_int::try_from(bits).map_err(|_| Failed)?;
    /// Frees what it holds on drop.
    struct Owned(*mut sys::RSA, *mut sys::BIGNUM);
    impl Drop for Owned {
        fn drop(&mut self) {
            // SAFETY: each pointer is NULL or owned by us; both free
            // functions accept NULL. RSA_free wipes the key's bignums.
            unsafe {
                sys::RSA_free(self.0);
                sys::BN_free(self.1);
            }
        }
    }
    // SAFETY: fresh allocations (NULL on failure, checked below).
    let o = unsafe { Owned(sys::RSA_new(), sys::BN_new()) };
    if o.0.is_null() || o.1.is_null() {
        clear_errors();
        return Err(Failed);
    }
    // SAFETY: `o.1` is a live BIGNUM.
    check(unsafe { sys::BN_set_word(o.1, sys::BN_ULONG::from(e)) })?;
    // SAFETY: `o.0` is a fresh RSA, `o.1` the exponent; no callback.
    check(unsafe { sys::RSA_generate_key_ex(o.0, bits_c, o.1, std::ptr::null_mut()) })?;
    let mut der: *mut u8 = std::ptr::null_mut();
    let mut len: usize = 0;
    // SAFETY: on success `der` receives an OPENSSL_malloc'ed buffer of `len` bytes.
    check(unsafe { sys::RSA_private_key_to_bytes(&mut der, &mut len, o.0) })?;
    if der.is_null() {
        return Err(Failed);
    }
    // SAFETY: `der` holds `len` initialized bytes, copied before the buffer
    // is wiped and freed (we own it).
    let out = unsafe {
        let out = Zeroizing::new(std::slice::from_raw_parts(der, len).to_vec());
        sys::OPENSSL_cleanse(der as *mut std::ffi::c_void, len);
        sys::OPENSSL_free(der as *mut std::ffi::c_void);
        out
    };
    Ok(out)
}

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

fn c_len(n: usize) -> Result<std::os::raw::c_int, Failed> {
    std::os::raw::c_int::try_from(n).map_err(|_| Failed)
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

/// The length of the additional input [`random_with_additional_input`]
/// takes (AWS-LC's `RAND_PRED_RESISTANCE_LEN`).
pub const ADDITIONAL_INPUT_LEN: usize = 32;
const _: () = assert!(sys::RAND_PRED_RESISTANCE_LEN as usize == ADDITIONAL_INPUT_LEN);

/// Fills `out` from AWS-LC's DRBG (the per-thread CTR-DRBG `RAND_bytes`
/// uses) with `input` as SP 800-90A additional input to the generate call:
/// `RAND_bytes_with_user_prediction_resistance` XORs it into the engine's own
/// prediction-resistance bytes (if any) and passes the result to
/// `CTR_DRBG_generate`, whose update step folds it into the thread's DRBG
/// state before and after output. The engine's seeding and reseeding from
/// the OS are unchanged: the input is mixed in, it never replaces entropy.
pub fn random_with_additional_input(out: &mut [u8], input: &[u8; ADDITIONAL_INPUT_LEN]) -> Result<(), Failed> {
    if out.is_empty() {
        return Ok(());
    }
    // SAFETY: `out` is writable for `out.len()` bytes and `input` holds the
    // RAND_PRED_RESISTANCE_LEN (32) bytes the function reads; it returns 1
    // or aborts.
    check(unsafe { sys::RAND_bytes_with_user_prediction_resistance(out.as_mut_ptr(), out.len(), input.as_ptr()) })
}
