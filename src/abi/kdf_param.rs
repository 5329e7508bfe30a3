//! The parameter structures of the key-derivation mechanisms, read from the
//! caller's memory into `types::kdf::KdfParam` (abi::mechanism calls
//! [`parse`] for the mechanisms [`is_kdf`] names), and the
//! additional-derived-key handles of SP 800-108, written back after the
//! derivation ([`additional_key_outputs`]).
//!
//! Every malformed structure (wrong length, NULL where data is required, a
//! bad inner pointer or length, an unknown data-parameter type) is
//! `CKR_MECHANISM_PARAM_INVALID`.

use super::template::template;
use super::util::{OutParam, bytes, slice};
use crate::ck::*;
use crate::err;
use crate::error::{Error, Result};
use crate::types::kdf::*;
use crate::types::{Handle, MechParam};

/// Most data parameters, additional keys or template attributes accepted.
const MAX_ITEMS: CK_ULONG = 4096;

fn invalid(why: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::new(CKR_MECHANISM_PARAM_INVALID, why)
}

/// The mechanisms whose parameter this module reads.
pub fn is_kdf(ty: CK_MECHANISM_TYPE) -> bool {
    matches!(
        ty,
        CKM_CONCATENATE_BASE_AND_KEY
            | CKM_CONCATENATE_BASE_AND_DATA
            | CKM_CONCATENATE_DATA_AND_BASE
            | CKM_XOR_BASE_AND_DATA
            | CKM_EXTRACT_KEY_FROM_KEY
            | CKM_AES_ECB_ENCRYPT_DATA
            | CKM_AES_CBC_ENCRYPT_DATA
            | CKM_DES3_ECB_ENCRYPT_DATA
            | CKM_DES3_CBC_ENCRYPT_DATA
            | CKM_SP800_108_COUNTER_KDF
            | CKM_SP800_108_FEEDBACK_KDF
            | CKM_SP800_108_DOUBLE_PIPELINE_KDF
            | CKM_HKDF_DERIVE
            | CKM_HKDF_DATA
    )
}

/// A copy of the structure `T` at `p` (`len` must be its size).
///
/// # Safety
/// A non-NULL `p` must point at `len` readable bytes.
unsafe fn read<T: Copy>(p: *const std::ffi::c_void, len: CK_ULONG, what: &str) -> Result<T> {
    if p.is_null() || len as usize != std::mem::size_of::<T>() {
        return Err(err!(CKR_MECHANISM_PARAM_INVALID, "{what}: {len} bytes, expected {}", std::mem::size_of::<T>()));
    }
    // SAFETY: non-NULL and `len` = size_of::<T>() readable bytes per the
    // contract; read_unaligned copes with any alignment, T is plain data.
    Ok(unsafe { std::ptr::read_unaligned(p as *const T) })
}

/// Bytes inside a parameter structure.
///
/// # Safety
/// A non-NULL `p` must point at `len` bytes.
unsafe fn data(p: *const u8, len: CK_ULONG, what: &str) -> Result<Vec<u8>> {
    // SAFETY: forwarded contract.
    unsafe { bytes(p, len) }.map(<[u8]>::to_vec).map_err(|e| invalid(format!("{what}: {}", e.reason())))
}

/// # Safety
/// `m`'s non-NULL `pParameter` holds `ulParameterLen` bytes, and the
/// pointers inside its structure are valid for their lengths.
pub unsafe fn parse(m: &CK_MECHANISM) -> Result<MechParam> {
    let (p, len) = (m.pParameter as *const std::ffi::c_void, m.ulParameterLen);
    // SAFETY (every arm): the caller's contract, forwarded.
    let k = match m.mechanism {
        CKM_CONCATENATE_BASE_AND_KEY => KdfParam::Key(unsafe { read::<CK_OBJECT_HANDLE>(p, len, "key handle") }?),
        CKM_EXTRACT_KEY_FROM_KEY => KdfParam::BitIndex(unsafe { read::<CK_EXTRACT_PARAMS>(p, len, "bit index") }?),
        CKM_CONCATENATE_BASE_AND_DATA
        | CKM_CONCATENATE_DATA_AND_BASE
        | CKM_XOR_BASE_AND_DATA
        | CKM_AES_ECB_ENCRYPT_DATA
        | CKM_DES3_ECB_ENCRYPT_DATA => {
            let s: CK_KEY_DERIVATION_STRING_DATA = unsafe { read(p, len, "CK_KEY_DERIVATION_STRING_DATA") }?;
            KdfParam::Data(unsafe { data(s.pData, s.ulLen, "derivation data") }?)
        }
        CKM_AES_CBC_ENCRYPT_DATA => {
            let s: CK_AES_CBC_ENCRYPT_DATA_PARAMS = unsafe { read(p, len, "CK_AES_CBC_ENCRYPT_DATA_PARAMS") }?;
            KdfParam::CbcData { iv: s.iv.to_vec(), data: unsafe { data(s.pData, s.length, "CBC data") }? }
        }
        CKM_DES3_CBC_ENCRYPT_DATA => {
            let s: CK_DES_CBC_ENCRYPT_DATA_PARAMS = unsafe { read(p, len, "CK_DES_CBC_ENCRYPT_DATA_PARAMS") }?;
            KdfParam::CbcData { iv: s.iv.to_vec(), data: unsafe { data(s.pData, s.length, "CBC data") }? }
        }
        CKM_SP800_108_COUNTER_KDF | CKM_SP800_108_DOUBLE_PIPELINE_KDF => {
            let s: CK_SP800_108_KDF_PARAMS = unsafe { read(p, len, "CK_SP800_108_KDF_PARAMS") }?;
            KdfParam::Kbkdf(Kbkdf {
                prf: s.prfType,
                data: unsafe { prf_data(s.pDataParams, s.ulNumberOfDataParams) }?,
                iv: Vec::new(),
                additional: unsafe { additional(s.pAdditionalDerivedKeys, s.ulAdditionalDerivedKeys) }?,
            })
        }
        CKM_SP800_108_FEEDBACK_KDF => {
            let s: CK_SP800_108_FEEDBACK_KDF_PARAMS = unsafe { read(p, len, "CK_SP800_108_FEEDBACK_KDF_PARAMS") }?;
            KdfParam::Kbkdf(Kbkdf {
                prf: s.prfType,
                data: unsafe { prf_data(s.pDataParams, s.ulNumberOfDataParams) }?,
                iv: unsafe { data(s.pIV, s.ulIVLen, "feedback IV") }?,
                additional: unsafe { additional(s.pAdditionalDerivedKeys, s.ulAdditionalDerivedKeys) }?,
            })
        }
        CKM_HKDF_DERIVE | CKM_HKDF_DATA => {
            let s: CK_HKDF_PARAMS = unsafe { read(p, len, "CK_HKDF_PARAMS") }?;
            let salt = match s.ulSaltType {
                CKF_HKDF_SALT_NULL => HkdfSalt::Null,
                CKF_HKDF_SALT_DATA => HkdfSalt::Data(unsafe { data(s.pSalt, s.ulSaltLen, "HKDF salt") }?),
                CKF_HKDF_SALT_KEY => HkdfSalt::Key(s.hSaltKey as Handle),
                t => return Err(err!(CKR_MECHANISM_PARAM_INVALID, "HKDF salt type {t}")),
            };
            KdfParam::Hkdf(Hkdf {
                extract: s.bExtract != 0,
                expand: s.bExpand != 0,
                prf: s.prfHashMechanism,
                salt,
                info: unsafe { data(s.pInfo, s.ulInfoLen, "HKDF info") }?,
            })
        }
        ty => return Err(err!(CKR_MECHANISM_INVALID, "mechanism 0x{ty:x} is not a derivation")),
    };
    Ok(MechParam::Kdf(Box::new(k)))
}

/// # Safety
/// A non-NULL `p` points at `n` CK_PRF_DATA_PARAMs whose pointers are valid.
unsafe fn prf_data(p: *const CK_PRF_DATA_PARAM, n: CK_ULONG) -> Result<Vec<PrfData>> {
    if p.is_null() && n != 0 {
        return Err(invalid("NULL pDataParams"));
    }
    let mut out = Vec::new();
    for i in 0..n.min(MAX_ITEMS + 1) as usize {
        if i as CK_ULONG == MAX_ITEMS {
            return Err(invalid("too many data parameters"));
        }
        // SAFETY: `i < n` elements per the contract; copied unaligned.
        let d: CK_PRF_DATA_PARAM = unsafe { std::ptr::read_unaligned(p.add(i)) };
        let counter = |what| -> Result<CounterFormat> {
            // SAFETY: forwarded contract for pValue/ulValueLen.
            let c: CK_SP800_108_COUNTER_FORMAT = unsafe { read(d.pValue, d.ulValueLen, what) }?;
            Ok(CounterFormat { little_endian: c.bLittleEndian != 0, bits: c.ulWidthInBits })
        };
        out.push(match d.type_ {
            CK_SP800_108_ITERATION_VARIABLE if d.pValue.is_null() && d.ulValueLen == 0 => PrfData::Iteration(None),
            CK_SP800_108_ITERATION_VARIABLE => PrfData::Iteration(Some(counter("iteration variable format")?)),
            CK_SP800_108_COUNTER => PrfData::Counter(counter("counter format")?),
            CK_SP800_108_DKM_LENGTH => {
                // SAFETY: forwarded contract.
                let f: CK_SP800_108_DKM_LENGTH_FORMAT = unsafe { read(d.pValue, d.ulValueLen, "DKM length format") }?;
                PrfData::DkmLength(DkmLengthFormat {
                    method: f.dkmLengthMethod,
                    little_endian: f.bLittleEndian != 0,
                    bits: f.ulWidthInBits,
                })
            }
            // SAFETY: forwarded contract.
            CK_SP800_108_BYTE_ARRAY => {
                PrfData::Bytes(unsafe { data(d.pValue as *const u8, d.ulValueLen, "byte array") }?)
            }
            t => return Err(err!(CKR_MECHANISM_PARAM_INVALID, "unknown PRF data parameter type {t}")),
        });
    }
    Ok(out)
}

/// # Safety
/// A non-NULL `p` points at `n` CK_DERIVED_KEYs whose templates are valid.
unsafe fn additional(p: *const CK_DERIVED_KEY, n: CK_ULONG) -> Result<Vec<Vec<crate::types::Attr>>> {
    // SAFETY: forwarded contract.
    let keys = unsafe { slice(p, n, MAX_ITEMS) }.map_err(|e| invalid(format!("additional keys: {}", e.reason())))?;
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        if k.phKey.is_null() {
            return Err(invalid("an additional derived key has a NULL phKey"));
        }
        // SAFETY: forwarded contract; a template error keeps its own CK_RV
        // (it is a template, as in C_DeriveKey itself).
        out.push(unsafe { template(k.pTemplate, k.ulAttributeCount) }?);
    }
    Ok(out)
}

/// The phKey pointers of an SP 800-108 mechanism's additional derived keys,
/// in order (empty for every other mechanism), for C_DeriveKey to write
/// once the keys exist.
///
/// # Safety
/// As [`parse`]; `m` was parsed by it without error.
pub unsafe fn additional_key_outputs(m: &CK_MECHANISM) -> Result<Vec<OutParam<CK_OBJECT_HANDLE>>> {
    let (p, len) = (m.pParameter as *const std::ffi::c_void, m.ulParameterLen);
    // SAFETY: the caller's contract, forwarded.
    let (keys, n) = match m.mechanism {
        CKM_SP800_108_COUNTER_KDF | CKM_SP800_108_DOUBLE_PIPELINE_KDF => {
            let s: CK_SP800_108_KDF_PARAMS = unsafe { read(p, len, "CK_SP800_108_KDF_PARAMS") }?;
            (s.pAdditionalDerivedKeys as *const CK_DERIVED_KEY, s.ulAdditionalDerivedKeys)
        }
        CKM_SP800_108_FEEDBACK_KDF => {
            let s: CK_SP800_108_FEEDBACK_KDF_PARAMS = unsafe { read(p, len, "CK_SP800_108_FEEDBACK_KDF_PARAMS") }?;
            (s.pAdditionalDerivedKeys as *const CK_DERIVED_KEY, s.ulAdditionalDerivedKeys)
        }
        _ => return Ok(Vec::new()),
    };
    // SAFETY: forwarded contract.
    let keys = unsafe { slice(keys, n, MAX_ITEMS) }.map_err(|e| invalid(format!("additional keys: {}", e.reason())))?;
    keys.iter()
        // SAFETY: each phKey is the caller's writable handle (checked
        // non-NULL and aligned by OutParam::new).
        .map(|k| unsafe { OutParam::new(k.phKey) }.map_err(|e| invalid(e.reason().to_string())))
        .collect()
}
