//! CK_MECHANISM -> [`Mechanism`]: which parameter structure each mechanism
//! carries. The table is [`kind`]; a mechanism it does not name (including
//! keyward's vendor mechanisms, `CKM_VENDOR_DEFINED | 0x4B570000 + n`) passes
//! its parameter as bytes.

use super::util::bytes;
use crate::ck::*;
use crate::error::{Error, Result};
use crate::types::{MechParam, Mechanism};

/// The shape of a mechanism's parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Gcm,
    Ctr,
    Oaep,
    Pss,
    Ecdh,
    /// CK_EDDSA_PARAMS (optional).
    Eddsa,
    /// CK_SIGN_ADDITIONAL_CONTEXT (optional; PKCS#11 3.2 ML-DSA).
    SignContext,
    /// CK_HASH_SIGN_ADDITIONAL_CONTEXT (optional; PKCS#11 3.2 HashML-DSA).
    HashSignContext,
    /// CK_MAC_GENERAL_PARAMS: one CK_ULONG.
    Ulong,
    /// CK_SALSA20_CHACHA20_POLY1305_PARAMS.
    ChaCha,
    /// Anything else: a copy of the bytes, or none.
    Bytes,
}

/// The parameter table.
fn kind(ty: CK_MECHANISM_TYPE) -> Kind {
    match ty {
        CKM_AES_GCM => Kind::Gcm,
        CKM_AES_CTR => Kind::Ctr,
        CKM_RSA_PKCS_OAEP => Kind::Oaep,
        CKM_RSA_PKCS_PSS
        | CKM_SHA1_RSA_PKCS_PSS
        | CKM_SHA224_RSA_PKCS_PSS
        | CKM_SHA256_RSA_PKCS_PSS
        | CKM_SHA384_RSA_PKCS_PSS
        | CKM_SHA512_RSA_PKCS_PSS
        | CKM_SHA3_224_RSA_PKCS_PSS
        | CKM_SHA3_256_RSA_PKCS_PSS
        | CKM_SHA3_384_RSA_PKCS_PSS
        | CKM_SHA3_512_RSA_PKCS_PSS => Kind::Pss,
        CKM_ECDH1_DERIVE | CKM_ECDH1_COFACTOR_DERIVE => Kind::Ecdh,
        CKM_EDDSA => Kind::Eddsa,
        CKM_CHACHA20_POLY1305 => Kind::ChaCha,
        // PKCS#11 3.2 post-quantum signatures (mechanism::pq)
        CKM_ML_DSA
        | CKM_HASH_ML_DSA_SHA224
        | CKM_HASH_ML_DSA_SHA256
        | CKM_HASH_ML_DSA_SHA384
        | CKM_HASH_ML_DSA_SHA512
        | CKM_HASH_ML_DSA_SHA3_224
        | CKM_HASH_ML_DSA_SHA3_256
        | CKM_HASH_ML_DSA_SHA3_384
        | CKM_HASH_ML_DSA_SHA3_512
        | CKM_HASH_ML_DSA_SHAKE128
        | CKM_HASH_ML_DSA_SHAKE256 => Kind::SignContext,
        CKM_HASH_ML_DSA => Kind::HashSignContext,
        CKM_MD5_HMAC_GENERAL
        | CKM_SHA_1_HMAC_GENERAL
        | CKM_SHA224_HMAC_GENERAL
        | CKM_SHA256_HMAC_GENERAL
        | CKM_SHA384_HMAC_GENERAL
        | CKM_SHA512_HMAC_GENERAL
        | CKM_SHA512_224_HMAC_GENERAL
        | CKM_SHA512_256_HMAC_GENERAL
        | CKM_SHA3_224_HMAC_GENERAL
        | CKM_SHA3_256_HMAC_GENERAL
        | CKM_SHA3_384_HMAC_GENERAL
        | CKM_SHA3_512_HMAC_GENERAL
        | CKM_AES_CMAC_GENERAL
        // AES-MAC (CBC-MAC) with CK_MAC_GENERAL_PARAMS.
        | CKM_AES_MAC_GENERAL => Kind::Ulong,
        _ => Kind::Bytes,
    }
}

fn param_invalid(why: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::new(CKR_MECHANISM_PARAM_INVALID, why)
}

/// Copies the parameter structure `T` out of the caller's memory; its
/// length must be `size_of::<T>()`.
///
/// # Safety
/// A non-NULL `m.pParameter` must point at `m.ulParameterLen` bytes.
unsafe fn param_struct<T: Copy>(m: &CK_MECHANISM) -> Result<T> {
    if m.pParameter.is_null() || m.ulParameterLen as usize != std::mem::size_of::<T>() {
        return Err(crate::err!(
            CKR_MECHANISM_PARAM_INVALID,
            "mechanism 0x{:x}: parameter of {} bytes, expected {}",
            m.mechanism,
            m.ulParameterLen,
            std::mem::size_of::<T>()
        ));
    }
    // SAFETY: non-NULL and of T's size; read_unaligned copes with any
    // alignment and T is plain old data.
    Ok(unsafe { std::ptr::read_unaligned(m.pParameter as *const T) })
}

/// Bytes inside a parameter structure: a bad pointer there is
/// `CKR_MECHANISM_PARAM_INVALID`.
///
/// # Safety
/// A non-NULL `p` must point at `len` bytes.
unsafe fn param_bytes(p: *const u8, len: CK_ULONG, what: &'static str) -> Result<Vec<u8>> {
    // SAFETY: forwarded contract.
    unsafe { bytes(p, len) }.map(<[u8]>::to_vec).map_err(|e| param_invalid(format!("{what}: {}", e.reason())))
}

/// CK_GCM_PARAMS as some 2.40 headers (and older NSS, Java) declare it,
/// without `ulIvBits`.
#[repr(C)]
#[derive(Clone, Copy)]
struct GcmParamsV240 {
    p_iv: CK_BYTE_PTR,
    ul_iv_len: CK_ULONG,
    p_aad: CK_BYTE_PTR,
    ul_aad_len: CK_ULONG,
    ul_tag_bits: CK_ULONG,
}

/// # Safety
/// As [`param_struct`].
unsafe fn gcm(m: &CK_MECHANISM) -> Result<MechParam> {
    // SAFETY (all three): forwarded contract; the pointers inside come from
    // the caller's parameter structure.
    let (iv, iv_len, aad, aad_len, tag_bits) = if m.ulParameterLen as usize == std::mem::size_of::<GcmParamsV240>() {
        let g: GcmParamsV240 = unsafe { param_struct(m) }?;
        (g.p_iv, g.ul_iv_len, g.p_aad, g.ul_aad_len, g.ul_tag_bits)
    } else {
        let g: CK_GCM_PARAMS = unsafe { param_struct(m) }?;
        (g.pIv, g.ulIvLen, g.pAAD, g.ulAADLen, g.ulTagBits)
    };
    Ok(MechParam::Gcm {
        iv: unsafe { param_bytes(iv, iv_len, "GCM IV") }?,
        aad: unsafe { param_bytes(aad, aad_len, "GCM AAD") }?,
        tag_bits,
    })
}

/// Parses a caller's mechanism. NULL is `CKR_ARGUMENTS_BAD`; a parameter
/// of the wrong size for its mechanism is `CKR_MECHANISM_PARAM_INVALID`.
///
/// # Safety
/// A non-NULL `p` must point at a CK_MECHANISM whose non-NULL `pParameter`
/// holds `ulParameterLen` bytes (and whose structures' pointers are valid).
pub unsafe fn mechanism(p: *const CK_MECHANISM) -> Result<Mechanism> {
    if p.is_null() {
        return Err(Error::args("NULL mechanism"));
    }
    // SAFETY: non-NULL, per the caller a CK_MECHANISM; read_unaligned
    // copies it whatever its alignment.
    let m = unsafe { std::ptr::read_unaligned(p) };
    // The key-derivation mechanisms' structures: `abi::kdf_param`.
    if super::kdf_param::is_kdf(m.mechanism) {
        // SAFETY: the caller's contract, forwarded.
        return Ok(Mechanism { ty: m.mechanism, param: unsafe { super::kdf_param::parse(&m) }? });
    }
    // SAFETY (every arm): the parameter structures are read with the
    // caller's contract forwarded.
    let param = match kind(m.mechanism) {
        Kind::Gcm => unsafe { gcm(&m) }?,
        Kind::Ctr => {
            let c: CK_AES_CTR_PARAMS = unsafe { param_struct(&m) }?;
            MechParam::Ctr { counter_bits: c.ulCounterBits, cb: c.cb }
        }
        // No parameter at all: the mechanism layer applies PKCS#1's default
        // (SHA-1, MGF1-SHA-1, empty label), as OpenSC's --wrap sends none.
        Kind::Oaep if m.pParameter.is_null() && m.ulParameterLen == 0 => MechParam::None,
        Kind::Oaep => {
            let o: CK_RSA_PKCS_OAEP_PARAMS = unsafe { param_struct(&m) }?;
            MechParam::Oaep {
                hash: o.hashAlg,
                mgf: o.mgf,
                source: o.source,
                source_data: unsafe { param_bytes(o.pSourceData as *const u8, o.ulSourceDataLen, "OAEP source") }?,
            }
        }
        Kind::Pss => {
            let s: CK_RSA_PKCS_PSS_PARAMS = unsafe { param_struct(&m) }?;
            MechParam::Pss { hash: s.hashAlg, mgf: s.mgf, salt_len: s.sLen }
        }
        Kind::Ecdh => {
            let e: CK_ECDH1_DERIVE_PARAMS = unsafe { param_struct(&m) }?;
            MechParam::Ecdh {
                kdf: e.kdf,
                shared_data: unsafe { param_bytes(e.pSharedData, e.ulSharedDataLen, "ECDH shared data") }?,
                public_data: unsafe { param_bytes(e.pPublicData, e.ulPublicDataLen, "ECDH public data") }?,
            }
        }
        Kind::Eddsa if m.pParameter.is_null() && m.ulParameterLen == 0 => MechParam::None,
        Kind::Eddsa => {
            let e: CK_EDDSA_PARAMS = unsafe { param_struct(&m) }?;
            MechParam::Eddsa {
                ph: e.phFlag != 0,
                context: unsafe { param_bytes(e.pContextData, e.ulContextDataLen, "EdDSA context") }?,
            }
        }
        Kind::ChaCha => {
            let c: CK_SALSA20_CHACHA20_POLY1305_PARAMS = unsafe { param_struct(&m) }?;
            MechParam::ChaCha {
                nonce: unsafe { param_bytes(c.pNonce, c.ulNonceLen, "ChaCha20-Poly1305 nonce") }?,
                aad: unsafe { param_bytes(c.pAAD, c.ulAADLen, "ChaCha20-Poly1305 AAD") }?,
            }
        }
        Kind::SignContext | Kind::HashSignContext if m.pParameter.is_null() && m.ulParameterLen == 0 => MechParam::None,
        Kind::SignContext => {
            let c: CK_SIGN_ADDITIONAL_CONTEXT = unsafe { param_struct(&m) }?;
            MechParam::SignContext {
                hedge: c.hedgeVariant,
                context: unsafe { param_bytes(c.pContext, c.ulContextLen, "signature context") }?,
            }
        }
        Kind::HashSignContext => {
            let c: CK_HASH_SIGN_ADDITIONAL_CONTEXT = unsafe { param_struct(&m) }?;
            MechParam::HashSignContext {
                hedge: c.hedgeVariant,
                context: unsafe { param_bytes(c.pContext, c.ulContextLen, "signature context") }?,
                hash: c.hash,
            }
        }
        Kind::Ulong => MechParam::Ulong(unsafe { param_struct::<CK_ULONG>(&m) }?),
        Kind::Bytes if m.pParameter.is_null() && m.ulParameterLen != 0 => {
            return Err(param_invalid("NULL parameter with a non-zero length"));
        }
        Kind::Bytes if m.pParameter.is_null() || m.ulParameterLen == 0 => MechParam::None,
        Kind::Bytes => {
            MechParam::Bytes(unsafe { param_bytes(m.pParameter as *const u8, m.ulParameterLen, "parameter") }?)
        }
    };
    Ok(Mechanism { ty: m.mechanism, param })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ptr::null_mut;

    fn mech<T>(ty: CK_MECHANISM_TYPE, p: &mut T) -> CK_MECHANISM {
        CK_MECHANISM {
            mechanism: ty,
            pParameter: p as *mut T as CK_VOID_PTR,
            ulParameterLen: std::mem::size_of::<T>() as CK_ULONG,
        }
    }

    #[test]
    fn gcm_both_layouts() {
        let mut iv = [7u8; 12];
        let mut aad = *b"hdr";
        let mut g = CK_GCM_PARAMS {
            pIv: iv.as_mut_ptr(),
            ulIvLen: 12,
            ulIvBits: 96,
            pAAD: aad.as_mut_ptr(),
            ulAADLen: 3,
            ulTagBits: 128,
        };
        let want = MechParam::Gcm { iv: vec![7; 12], aad: b"hdr".to_vec(), tag_bits: 128 };
        let m = mech(CKM_AES_GCM, &mut g);
        assert!(unsafe { mechanism(&m) }.unwrap().param == want);
        let mut old = GcmParamsV240 {
            p_iv: iv.as_mut_ptr(),
            ul_iv_len: 12,
            p_aad: aad.as_mut_ptr(),
            ul_aad_len: 3,
            ul_tag_bits: 128,
        };
        let m = mech(CKM_AES_GCM, &mut old);
        assert!(unsafe { mechanism(&m) }.unwrap().param == want);
        g.pIv = null_mut();
        let m = mech(CKM_AES_GCM, &mut g);
        assert_eq!(unsafe { mechanism(&m) }.unwrap_err().rv(), CKR_MECHANISM_PARAM_INVALID);
    }

    #[test]
    fn struct_sizes_are_checked() {
        let mut l: CK_ULONG = 16;
        let m = mech(CKM_SHA256_HMAC_GENERAL, &mut l);
        assert!(unsafe { mechanism(&m) }.unwrap().param == MechParam::Ulong(16));
        let m = mech(CKM_AES_CMAC_GENERAL, &mut l);
        assert!(unsafe { mechanism(&m) }.unwrap().param == MechParam::Ulong(16));
        let mut short = [0u8; 4];
        let m = mech(CKM_SHA256_HMAC_GENERAL, &mut short);
        assert_eq!(unsafe { mechanism(&m) }.unwrap_err().rv(), CKR_MECHANISM_PARAM_INVALID);
        let m = CK_MECHANISM { mechanism: CKM_RSA_PKCS_PSS, pParameter: null_mut(), ulParameterLen: 0 };
        assert_eq!(unsafe { mechanism(&m) }.unwrap_err().rv(), CKR_MECHANISM_PARAM_INVALID);
        let mut pss = CK_RSA_PKCS_PSS_PARAMS { hashAlg: CKM_SHA256, mgf: CKG_MGF1_SHA256, sLen: 32 };
        let m = mech(CKM_SHA256_RSA_PKCS_PSS, &mut pss);
        let want = MechParam::Pss { hash: CKM_SHA256, mgf: CKG_MGF1_SHA256, salt_len: 32 };
        assert!(unsafe { mechanism(&m) }.unwrap().param == want);
    }

    #[test]
    fn other_mechanisms_pass_bytes() {
        assert_eq!(unsafe { mechanism(std::ptr::null()) }.unwrap_err().rv(), CKR_ARGUMENTS_BAD);
        let m = CK_MECHANISM { mechanism: CKM_SHA256, pParameter: null_mut(), ulParameterLen: 0 };
        assert_eq!(unsafe { mechanism(&m) }.unwrap(), Mechanism::new(CKM_SHA256));
        let mut iv = [1u8; 16];
        let m = mech(CKM_AES_CBC_PAD, &mut iv);
        assert!(unsafe { mechanism(&m) }.unwrap().param == MechParam::Bytes(vec![1; 16]));
        let vendor = CKM_VENDOR_DEFINED | 0x4B57_0001;
        let m = CK_MECHANISM { mechanism: vendor, pParameter: null_mut(), ulParameterLen: 0 };
        assert_eq!(unsafe { mechanism(&m) }.unwrap(), Mechanism::new(vendor));
        let m = CK_MECHANISM { mechanism: vendor, pParameter: null_mut(), ulParameterLen: 4 };
        assert_eq!(unsafe { mechanism(&m) }.unwrap_err().rv(), CKR_MECHANISM_PARAM_INVALID);
    }
}
