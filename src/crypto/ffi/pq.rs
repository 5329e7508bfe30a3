//! ML-DSA (FIPS 204) and ML-KEM (FIPS 203) over AWS-LC's own byte-level
//! functions (`crypto/fipsmodule/ml_dsa/ml_dsa.h`, `ml_kem/ml_kem.h` of the
//! AWS-LC that aws-lc-sys 0.47 builds). aws-lc-rs and the aws-lc-sys
//! bindings expose key generation and hedged signing through EVP, but not
//! what PKCS#11 3.2 and the ACVP vectors need: key generation from a
//! given seed, deterministic signing (`rnd` = 0^32), a caller-supplied
//! `rnd`, HashML-DSA (the FIPS 204 pre-hash domain), and deterministic
//! encapsulation. AWS-LC exports these (`OPENSSL_EXPORT`, symbol prefix
//! `aws_lc_0_47_0_` of this aws-lc-sys version); they are declared here by
//! hand with the prototypes of those headers. A different aws-lc-sys
//! version fails to link rather than misbehave.
//!
//! Every buffer is sized by the caller (`crypto::pq`) to the parameter
//! set's exact length before the call; the functions here check again.

use super::Failed;
use std::os::raw::c_int;

/// One ML-DSA parameter set's entry points and sizes.
pub struct MlDsaFns {
    pub pk_len: usize,
    pub sk_len: usize,
    pub sig_len: usize,
    keypair_internal: unsafe extern "C" fn(*mut u8, *mut u8, *const u8) -> c_int,
    pack_pk_from_sk: unsafe extern "C" fn(*mut u8, *const u8) -> c_int,
    sign_internal:
        unsafe extern "C" fn(*const u8, *mut u8, *mut usize, *const u8, usize, *const u8, usize, *const u8) -> c_int,
    verify_internal: unsafe extern "C" fn(*const u8, *const u8, usize, *const u8, usize, *const u8, usize) -> c_int,
}

/// One ML-KEM parameter set's entry points and sizes.
pub struct MlKemFns {
    pub ek_len: usize,
    pub dk_len: usize,
    pub ct_len: usize,
    keypair_deterministic: unsafe extern "C" fn(*mut u8, *mut usize, *mut u8, *mut usize, *const u8) -> c_int,
    encapsulate: unsafe extern "C" fn(*mut u8, *mut usize, *mut u8, *mut usize, *const u8) -> c_int,
    encapsulate_deterministic:
        unsafe extern "C" fn(*mut u8, *mut usize, *mut u8, *mut usize, *const u8, *const u8) -> c_int,
    decapsulate: unsafe extern "C" fn(*mut u8, *mut usize, *const u8, *const u8) -> c_int,
    check_pk: unsafe extern "C" fn(*const u8, usize) -> c_int,
    check_sk: unsafe extern "C" fn(*const u8, usize) -> c_int,
}

macro_rules! ml_dsa_externs {
    ($($kp:ident, $pack:ident, $sign:ident, $verify:ident;)*) => {
        unsafe extern "C" {
            $(
                #[link_name = concat!("aws_lc_0_47_0_", stringify!($kp))]
                fn $kp(pk: *mut u8, sk: *mut u8, seed: *const u8) -> c_int;
                #[link_name = concat!("aws_lc_0_47_0_", stringify!($pack))]
                fn $pack(pk: *mut u8, sk: *const u8) -> c_int;
                #[link_name = concat!("aws_lc_0_47_0_", stringify!($sign))]
                fn $sign(
                    sk: *const u8, sig: *mut u8, sig_len: *mut usize, msg: *const u8, msg_len: usize,
                    pre: *const u8, pre_len: usize, rnd: *const u8,
                ) -> c_int;
                #[link_name = concat!("aws_lc_0_47_0_", stringify!($verify))]
                fn $verify(
                    pk: *const u8, sig: *const u8, sig_len: usize, msg: *const u8, msg_len: usize,
                    pre: *const u8, pre_len: usize,
                ) -> c_int;
            )*
        }
    };
}

// SAFETY (the declarations): each prototype is the one of
// crypto/fipsmodule/ml_dsa/ml_dsa.h in the AWS-LC aws-lc-sys 0.47 builds
// (and links under the aws_lc_0_47_0_ prefix); uint8_t* is *mut/*const u8,
// size_t is usize, int is c_int.
ml_dsa_externs! {
    ml_dsa_44_keypair_internal, ml_dsa_44_pack_pk_from_sk, ml_dsa_44_sign_internal, ml_dsa_44_verify_internal;
    ml_dsa_65_keypair_internal, ml_dsa_65_pack_pk_from_sk, ml_dsa_65_sign_internal, ml_dsa_65_verify_internal;
    ml_dsa_87_keypair_internal, ml_dsa_87_pack_pk_from_sk, ml_dsa_87_sign_internal, ml_dsa_87_verify_internal;
}

macro_rules! ml_kem_externs {
    ($($kp:ident, $enc:ident, $encd:ident, $dec:ident, $cpk:ident, $csk:ident;)*) => {
        unsafe extern "C" {
            $(
                #[link_name = concat!("aws_lc_0_47_0_", stringify!($kp))]
                fn $kp(pk: *mut u8, pk_len: *mut usize, sk: *mut u8, sk_len: *mut usize, seed: *const u8) -> c_int;
                #[link_name = concat!("aws_lc_0_47_0_", stringify!($enc))]
                fn $enc(ct: *mut u8, ct_len: *mut usize, ss: *mut u8, ss_len: *mut usize, pk: *const u8) -> c_int;
                #[link_name = concat!("aws_lc_0_47_0_", stringify!($encd))]
                fn $encd(
                    ct: *mut u8, ct_len: *mut usize, ss: *mut u8, ss_len: *mut usize, pk: *const u8, seed: *const u8,
                ) -> c_int;
                #[link_name = concat!("aws_lc_0_47_0_", stringify!($dec))]
                fn $dec(ss: *mut u8, ss_len: *mut usize, ct: *const u8, sk: *const u8) -> c_int;
                #[link_name = concat!("aws_lc_0_47_0_", stringify!($cpk))]
                fn $cpk(pk: *const u8, len: usize) -> c_int;
                #[link_name = concat!("aws_lc_0_47_0_", stringify!($csk))]
                fn $csk(sk: *const u8, len: usize) -> c_int;
            )*
        }
    };
}

// SAFETY (the declarations): as above, from crypto/fipsmodule/ml_kem/ml_kem.h.
ml_kem_externs! {
    ml_kem_512_keypair_deterministic, ml_kem_512_encapsulate, ml_kem_512_encapsulate_deterministic,
        ml_kem_512_decapsulate, ml_kem_512_check_pk, ml_kem_512_check_sk;
    ml_kem_768_keypair_deterministic, ml_kem_768_encapsulate, ml_kem_768_encapsulate_deterministic,
        ml_kem_768_decapsulate, ml_kem_768_check_pk, ml_kem_768_check_sk;
    ml_kem_1024_keypair_deterministic, ml_kem_1024_encapsulate, ml_kem_1024_encapsulate_deterministic,
        ml_kem_1024_decapsulate, ml_kem_1024_check_pk, ml_kem_1024_check_sk;
}

pub static ML_DSA_44: MlDsaFns = MlDsaFns {
    pk_len: 1312,
    sk_len: 2560,
    sig_len: 2420,
    keypair_internal: ml_dsa_44_keypair_internal,
    pack_pk_from_sk: ml_dsa_44_pack_pk_from_sk,
    sign_internal: ml_dsa_44_sign_internal,
    verify_internal: ml_dsa_44_verify_internal,
};
pub static ML_DSA_65: MlDsaFns = MlDsaFns {
    pk_len: 1952,
    sk_len: 4032,
    sig_len: 3309,
    keypair_internal: ml_dsa_65_keypair_internal,
    pack_pk_from_sk: ml_dsa_65_pack_pk_from_sk,
    sign_internal: ml_dsa_65_sign_internal,
    verify_internal: ml_dsa_65_verify_internal,
};
pub static ML_DSA_87: MlDsaFns = MlDsaFns {
    pk_len: 2592,
    sk_len: 4896,
    sig_len: 4627,
    keypair_internal: ml_dsa_87_keypair_internal,
    pack_pk_from_sk: ml_dsa_87_pack_pk_from_sk,
    sign_internal: ml_dsa_87_sign_internal,
    verify_internal: ml_dsa_87_verify_internal,
};

pub static ML_KEM_512: MlKemFns = MlKemFns {
    ek_len: 800,
    dk_len: 1632,
    ct_len: 768,
    keypair_deterministic: ml_kem_512_keypair_deterministic,
    encapsulate: ml_kem_512_encapsulate,
    encapsulate_deterministic: ml_kem_512_encapsulate_deterministic,
    decapsulate: ml_kem_512_decapsulate,
    check_pk: ml_kem_512_check_pk,
    check_sk: ml_kem_512_check_sk,
};
pub static ML_KEM_768: MlKemFns = MlKemFns {
    ek_len: 1184,
    dk_len: 2400,
    ct_len: 1088,
    keypair_deterministic: ml_kem_768_keypair_deterministic,
    encapsulate: ml_kem_768_encapsulate,
    encapsulate_deterministic: ml_kem_768_encapsulate_deterministic,
    decapsulate: ml_kem_768_decapsulate,
    check_pk: ml_kem_768_check_pk,
    check_sk: ml_kem_768_check_sk,
};
pub static ML_KEM_1024: MlKemFns = MlKemFns {
    ek_len: 1568,
    dk_len: 3168,
    ct_len: 1568,
    keypair_deterministic: ml_kem_1024_keypair_deterministic,
    encapsulate: ml_kem_1024_encapsulate,
    encapsulate_deterministic: ml_kem_1024_encapsulate_deterministic,
    decapsulate: ml_kem_1024_decapsulate,
    check_pk: ml_kem_1024_check_pk,
    check_sk: ml_kem_1024_check_sk,
};

/// ML-DSA returns 1 on success (ml_dsa.h: ML_DSA_SUCCESS).
fn dsa_ok(rc: c_int) -> Result<(), Failed> {
    if rc == 1 { Ok(()) } else { Err(Failed) }
}

/// ML-KEM returns 0 on success (ml_kem.h: ML_KEM_SUCCESS).
fn kem_ok(rc: c_int) -> Result<(), Failed> {
    if rc == 0 { Ok(()) } else { Err(Failed) }
}

impl MlDsaFns {
    /// ML-DSA.KeyGen_internal(ξ): fills `pk` and `sk` from the 32-byte seed.
    pub fn keypair_from_seed(&self, seed: &[u8; 32], pk: &mut [u8], sk: &mut [u8]) -> Result<(), Failed> {
        if pk.len() != self.pk_len || sk.len() != self.sk_len {
            return Err(Failed);
        }
        // SAFETY: pk and sk are writable buffers of exactly the parameter
        // set's key lengths (checked above), seed is 32 readable bytes.
        dsa_ok(unsafe { (self.keypair_internal)(pk.as_mut_ptr(), sk.as_mut_ptr(), seed.as_ptr()) })
    }

    /// The public key of an encoded private key (FIPS 204 skEncode).
    pub fn public_from_private(&self, sk: &[u8], pk: &mut [u8]) -> Result<(), Failed> {
        if pk.len() != self.pk_len || sk.len() != self.sk_len {
            return Err(Failed);
        }
        // SAFETY: both buffers have the parameter set's exact lengths.
        dsa_ok(unsafe { (self.pack_pk_from_sk)(pk.as_mut_ptr(), sk.as_ptr()) })
    }

    /// ML-DSA.Sign_internal(sk, pre || msg, rnd): `pre` is the FIPS 204
    /// domain prefix (0 or 1, the context length and context, and for
    /// HashML-DSA the hash OID), `rnd` 32 bytes (all zero: deterministic).
    pub fn sign(&self, sk: &[u8], pre: &[u8], msg: &[u8], rnd: &[u8; 32], sig: &mut [u8]) -> Result<usize, Failed> {
        if sk.len() != self.sk_len || sig.len() < self.sig_len {
            return Err(Failed);
        }
        let mut len = self.sig_len;
        // SAFETY: sk has the exact private key length, sig at least the
        // signature length (written up to `len`), msg/pre/rnd are readable
        // for their lengths; nothing is retained after the call.
        let rc = unsafe {
            (self.sign_internal)(
                sk.as_ptr(),
                sig.as_mut_ptr(),
                &mut len,
                msg.as_ptr(),
                msg.len(),
                pre.as_ptr(),
                pre.len(),
                rnd.as_ptr(),
            )
        };
        dsa_ok(rc)?;
        if len != self.sig_len {
            return Err(Failed);
        }
        Ok(len)
    }

    /// ML-DSA.Verify_internal(pk, pre || msg, sig).
    pub fn verify(&self, pk: &[u8], pre: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), Failed> {
        if pk.len() != self.pk_len || sig.len() != self.sig_len {
            return Err(Failed);
        }
        // SAFETY: every pointer is readable for the length passed with it.
        let rc = unsafe {
            (self.verify_internal)(
                pk.as_ptr(),
                sig.as_ptr(),
                sig.len(),
                msg.as_ptr(),
                msg.len(),
                pre.as_ptr(),
                pre.len(),
            )
        };
        dsa_ok(rc)
    }
}

impl MlKemFns {
    /// ML-KEM.KeyGen_internal(d, z) from the 64-byte seed d || z.
    pub fn keypair_from_seed(&self, seed: &[u8; 64], ek: &mut [u8], dk: &mut [u8]) -> Result<(), Failed> {
        if ek.len() != self.ek_len || dk.len() != self.dk_len {
            return Err(Failed);
        }
        let (mut el, mut dl) = (ek.len(), dk.len());
        // SAFETY: ek/dk are writable for the lengths passed (their exact
        // sizes), seed is 64 readable bytes.
        let rc =
            unsafe { (self.keypair_deterministic)(ek.as_mut_ptr(), &mut el, dk.as_mut_ptr(), &mut dl, seed.as_ptr()) };
        kem_ok(rc)?;
        if (el, dl) != (self.ek_len, self.dk_len) {
            return Err(Failed);
        }
        Ok(())
    }

    /// ML-KEM.Encaps(ek) (fresh randomness), or Encaps_internal(ek, m) with
    /// the 32-byte `m` given (ACVP vectors).
    pub fn encapsulate(&self, ek: &[u8], m: Option<&[u8; 32]>, ct: &mut [u8], ss: &mut [u8; 32]) -> Result<(), Failed> {
        if ek.len() != self.ek_len || ct.len() != self.ct_len {
            return Err(Failed);
        }
        let (mut cl, mut sl) = (ct.len(), ss.len());
        // SAFETY: ct/ss are writable for the lengths passed, ek has the
        // exact public key length, m (if any) is 32 readable bytes.
        let rc = unsafe {
            match m {
                None => (self.encapsulate)(ct.as_mut_ptr(), &mut cl, ss.as_mut_ptr(), &mut sl, ek.as_ptr()),
                Some(m) => (self.encapsulate_deterministic)(
                    ct.as_mut_ptr(),
                    &mut cl,
                    ss.as_mut_ptr(),
                    &mut sl,
                    ek.as_ptr(),
                    m.as_ptr(),
                ),
            }
        };
        kem_ok(rc)?;
        if (cl, sl) != (self.ct_len, 32) {
            return Err(Failed);
        }
        Ok(())
    }

    /// ML-KEM.Decaps(dk, c): implicit rejection gives a pseudo-random
    /// secret for a bad ciphertext, never an error.
    pub fn decapsulate(&self, dk: &[u8], ct: &[u8], ss: &mut [u8; 32]) -> Result<(), Failed> {
        if dk.len() != self.dk_len || ct.len() != self.ct_len {
            return Err(Failed);
        }
        let mut sl = ss.len();
        // SAFETY: ss is 32 writable bytes, ct and dk have their exact lengths.
        let rc = unsafe { (self.decapsulate)(ss.as_mut_ptr(), &mut sl, ct.as_ptr(), dk.as_ptr()) };
        kem_ok(rc)?;
        if sl != 32 {
            return Err(Failed);
        }
        Ok(())
    }

    /// The FIPS 203 §7.2 encapsulation key check (modulus check).
    pub fn check_public(&self, ek: &[u8]) -> Result<(), Failed> {
        if ek.len() != self.ek_len {
            return Err(Failed);
        }
        // SAFETY: ek is readable for its length.
        kem_ok(unsafe { (self.check_pk)(ek.as_ptr(), ek.len()) })
    }

    /// The FIPS 203 §7.3 decapsulation key check (hash check).
    pub fn check_private(&self, dk: &[u8]) -> Result<(), Failed> {
        if dk.len() != self.dk_len {
            return Err(Failed);
        }
        // SAFETY: dk is readable for its length.
        kem_ok(unsafe { (self.check_sk)(dk.as_ptr(), dk.len()) })
    }
}

/// The hashes HashML-DSA may name (FIPS 204 §5.4; PKCS#11 3.2
/// CKM_HASH_ML_DSA_<hash>), computed with AWS-LC's EVP digests (aws-lc-rs
/// has no SHA3-224 or SHAKE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreHash {
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    Sha3_224,
    Sha3_256,
    Sha3_384,
    Sha3_512,
    /// 256 output bits.
    Shake128,
    /// 512 output bits.
    Shake256,
}

impl PreHash {
    /// Output length in bytes (the SHAKEs' as FIPS 204 fixes them).
    pub fn output_len(self) -> usize {
        match self {
            PreHash::Sha224 | PreHash::Sha3_224 => 28,
            PreHash::Sha256 | PreHash::Sha3_256 | PreHash::Shake128 => 32,
            PreHash::Sha384 | PreHash::Sha3_384 => 48,
            PreHash::Sha512 | PreHash::Sha3_512 | PreHash::Shake256 => 64,
        }
    }

    fn md(self) -> *const super::sys::EVP_MD {
        use super::sys;
        // SAFETY: the EVP_* accessors return pointers to static method tables.
        unsafe {
            match self {
                PreHash::Sha224 => sys::EVP_sha224(),
                PreHash::Sha256 => sys::EVP_sha256(),
                PreHash::Sha384 => sys::EVP_sha384(),
                PreHash::Sha512 => sys::EVP_sha512(),
                PreHash::Sha3_224 => sys::EVP_sha3_224(),
                PreHash::Sha3_256 => sys::EVP_sha3_256(),
                PreHash::Sha3_384 => sys::EVP_sha3_384(),
                PreHash::Sha3_512 => sys::EVP_sha3_512(),
                PreHash::Shake128 => sys::EVP_shake128(),
                PreHash::Shake256 => sys::EVP_shake256(),
            }
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Result<Vec<u8>, Failed> {
        use super::sys;
        let mut out = vec![0u8; self.output_len()];
        // SAFETY: a fresh context is created, used and freed here; the
        // input is readable for its length and the output buffer holds
        // output_len() bytes, which is what the final call writes.
        unsafe {
            let ctx = sys::EVP_MD_CTX_new();
            if ctx.is_null() {
                return Err(Failed);
            }
            let mut ok = sys::EVP_DigestInit_ex(ctx, self.md(), std::ptr::null_mut()) == 1
                && sys::EVP_DigestUpdate(ctx, data.as_ptr().cast(), data.len()) == 1;
            if ok {
                ok = match self {
                    PreHash::Shake128 | PreHash::Shake256 => {
                        sys::EVP_DigestFinalXOF(ctx, out.as_mut_ptr(), out.len()) == 1
                    }
                    _ => {
                        let mut n: std::os::raw::c_uint = 0;
                        sys::EVP_DigestFinal_ex(ctx, out.as_mut_ptr(), &mut n) == 1 && n as usize == out.len()
                    }
                };
            }
            sys::EVP_MD_CTX_free(ctx);
            if !ok {
                super::clear_errors();
                return Err(Failed);
            }
        }
        Ok(out)
    }
}
