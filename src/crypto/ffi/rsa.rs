//! RSA through AWS-LC's EVP_PKEY interface: keys parsed from PKCS#1 DER,
//! signing and verification with PKCS#1 v1.5 (over a digest or raw), PSS or
//! no padding, encryption and decryption with OAEP, PKCS#1 v1.5 or no
//! padding, and key generation (`RSA_generate_key_ex`). The safe API of
//! `crypto::rsa`'s EVP path; what aws-lc-rs offers runs there instead.

use super::digest::Md;
use super::{Failed, check, clear_errors};
use aws_lc_sys as sys;
use std::ptr::NonNull;
use zeroize::Zeroizing;

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
