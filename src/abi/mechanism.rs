//! CK_MECHANISM -> `types::Mechanism`: which parameter struct each mechanism
//! carries.

use super::util::bytes;
use crate::ck::*;
use crate::error::{Error, Result};
use crate::types::{MechParam, Mechanism};

unsafe fn param_struct<'a, T>(m: &CK_MECHANISM) -> Result<&'a T> {
    if m.pParameter.is_null() || m.ulParameterLen as usize != std::mem::size_of::<T>() {
        return Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "mechanism parameter has the wrong size"));
    }
    // SAFETY: non-NULL and of the struct's size, as the spec requires.
    Ok(unsafe { &*(m.pParameter as *const T) })
}

fn param_err(e: Error) -> Error {
    if e.rv() == CKR_ARGUMENTS_BAD { Error::new(CKR_MECHANISM_PARAM_INVALID, e.reason().to_string()) } else { e }
}

/// Parses a caller's mechanism.
pub unsafe fn mechanism(p: *const CK_MECHANISM) -> Result<Mechanism> {
    // SAFETY: a non-NULL CK_MECHANISM_PTR points at a CK_MECHANISM.
    let m = unsafe { p.as_ref() }.ok_or_else(|| Error::args("NULL mechanism"))?;
    let param = match m.mechanism {
        CKM_AES_GCM => {
            let g: &CK_GCM_PARAMS = unsafe { param_struct(m) }?;
            MechParam::Gcm {
                iv: unsafe { bytes(g.pIv, g.ulIvLen) }.map_err(param_err)?.to_vec(),
                aad: unsafe { bytes(g.pAAD, g.ulAADLen) }.map_err(param_err)?.to_vec(),
                tag_bits: g.ulTagBits,
            }
        }
        CKM_AES_CTR => {
            let c: &CK_AES_CTR_PARAMS = unsafe { param_struct(m) }?;
            MechParam::Ctr { counter_bits: c.ulCounterBits, cb: c.cb }
        }
        CKM_RSA_PKCS_OAEP => {
            let o: &CK_RSA_PKCS_OAEP_PARAMS = unsafe { param_struct(m) }?;
            MechParam::Oaep {
                hash: o.hashAlg,
                mgf: o.mgf,
                source: o.source,
                source_data: unsafe { bytes(o.pSourceData as *const u8, o.ulSourceDataLen) }
                    .map_err(param_err)?
                    .to_vec(),
            }
        }
        CKM_RSA_PKCS_PSS
        | CKM_SHA1_RSA_PKCS_PSS
        | CKM_SHA224_RSA_PKCS_PSS
        | CKM_SHA256_RSA_PKCS_PSS
        | CKM_SHA384_RSA_PKCS_PSS
        | CKM_SHA512_RSA_PKCS_PSS => {
            let s: &CK_RSA_PKCS_PSS_PARAMS = unsafe { param_struct(m) }?;
            MechParam::Pss { hash: s.hashAlg, mgf: s.mgf, salt_len: s.sLen }
        }
        CKM_ECDH1_DERIVE | CKM_ECDH1_COFACTOR_DERIVE => {
            let e: &CK_ECDH1_DERIVE_PARAMS = unsafe { param_struct(m) }?;
            MechParam::Ecdh {
                kdf: e.kdf,
                shared_data: unsafe { bytes(e.pSharedData, e.ulSharedDataLen) }.map_err(param_err)?.to_vec(),
                public_data: unsafe { bytes(e.pPublicData, e.ulPublicDataLen) }.map_err(param_err)?.to_vec(),
            }
        }
        CKM_SHA_1_HMAC_GENERAL
        | CKM_SHA224_HMAC_GENERAL
        | CKM_SHA256_HMAC_GENERAL
        | CKM_SHA384_HMAC_GENERAL
        | CKM_SHA512_HMAC_GENERAL => {
            let l: &CK_ULONG = unsafe { param_struct(m) }?;
            MechParam::Ulong(*l)
        }
        _ => {
            if m.pParameter.is_null() || m.ulParameterLen == 0 {
                if !m.pParameter.is_null() || m.ulParameterLen == 0 {
                    MechParam::None
                } else {
                    return Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "NULL parameter with a length"));
                }
            } else {
                MechParam::Bytes(
                    unsafe { bytes(m.pParameter as *const u8, m.ulParameterLen) }.map_err(param_err)?.to_vec(),
                )
            }
        }
    };
    Ok(Mechanism { ty: m.mechanism, param })
}
