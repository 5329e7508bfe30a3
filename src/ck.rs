//! The PKCS#11 C types and constants: `pkcs11-sys` (2.40 and 3.0), plus the
//! PKCS#11 3.2 additions keyward uses that `pkcs11-sys` lacks (the
//! post-quantum key types, attributes, mechanisms and parameters, and the
//! 3.2 function list). Values are those of the OASIS PKCS#11 3.2 headers
//! (`pkcs11t.h`, `pkcs11f.h`); `include/pkcs11_3_2.h` publishes the same
//! numbers for C callers. Owns no behaviour. The 3.2 function list type is
//! `abi::list32`'s.

#![allow(non_camel_case_types, non_snake_case)]

pub use pkcs11_sys::*;

// ---- PKCS#11 3.2: key types, attributes, flags ------------------------------

pub const CKK_ML_KEM: CK_KEY_TYPE = 0x49;
pub const CKK_ML_DSA: CK_KEY_TYPE = 0x4a;
pub const CKK_SLH_DSA: CK_KEY_TYPE = 0x4b;

pub const CKA_PARAMETER_SET: CK_ATTRIBUTE_TYPE = 0x61d;
pub const CKA_ENCAPSULATE_TEMPLATE: CK_ATTRIBUTE_TYPE = 0x62a;
pub const CKA_DECAPSULATE_TEMPLATE: CK_ATTRIBUTE_TYPE = 0x62b;
pub const CKA_ENCAPSULATE: CK_ATTRIBUTE_TYPE = 0x633;
pub const CKA_DECAPSULATE: CK_ATTRIBUTE_TYPE = 0x634;
pub const CKA_SEED: CK_ATTRIBUTE_TYPE = 0x637;

/// CK_MECHANISM_INFO flags.
pub const CKF_ENCAPSULATE: CK_FLAGS = 0x1000_0000;
pub const CKF_DECAPSULATE: CK_FLAGS = 0x2000_0000;

// ---- mechanisms -------------------------------------------------------------

pub const CKM_ML_KEM_KEY_PAIR_GEN: CK_MECHANISM_TYPE = 0x0f;
pub const CKM_ML_KEM: CK_MECHANISM_TYPE = 0x17;
pub const CKM_ML_DSA_KEY_PAIR_GEN: CK_MECHANISM_TYPE = 0x1c;
pub const CKM_ML_DSA: CK_MECHANISM_TYPE = 0x1d;
pub const CKM_HASH_ML_DSA: CK_MECHANISM_TYPE = 0x1f;
pub const CKM_HASH_ML_DSA_SHA224: CK_MECHANISM_TYPE = 0x23;
pub const CKM_HASH_ML_DSA_SHA256: CK_MECHANISM_TYPE = 0x24;
pub const CKM_HASH_ML_DSA_SHA384: CK_MECHANISM_TYPE = 0x25;
pub const CKM_HASH_ML_DSA_SHA512: CK_MECHANISM_TYPE = 0x26;
pub const CKM_HASH_ML_DSA_SHA3_224: CK_MECHANISM_TYPE = 0x27;
pub const CKM_HASH_ML_DSA_SHA3_256: CK_MECHANISM_TYPE = 0x28;
pub const CKM_HASH_ML_DSA_SHA3_384: CK_MECHANISM_TYPE = 0x29;
pub const CKM_HASH_ML_DSA_SHA3_512: CK_MECHANISM_TYPE = 0x2a;
pub const CKM_HASH_ML_DSA_SHAKE128: CK_MECHANISM_TYPE = 0x2b;
pub const CKM_HASH_ML_DSA_SHAKE256: CK_MECHANISM_TYPE = 0x2c;
pub const CKM_SLH_DSA_KEY_PAIR_GEN: CK_MECHANISM_TYPE = 0x2d;
pub const CKM_SLH_DSA: CK_MECHANISM_TYPE = 0x2e;

// ---- parameter sets and hedging ---------------------------------------------

pub type CK_ML_DSA_PARAMETER_SET_TYPE = CK_ULONG;
pub type CK_ML_KEM_PARAMETER_SET_TYPE = CK_ULONG;
pub const CKP_ML_DSA_44: CK_ML_DSA_PARAMETER_SET_TYPE = 1;
pub const CKP_ML_DSA_65: CK_ML_DSA_PARAMETER_SET_TYPE = 2;
pub const CKP_ML_DSA_87: CK_ML_DSA_PARAMETER_SET_TYPE = 3;
pub const CKP_ML_KEM_512: CK_ML_KEM_PARAMETER_SET_TYPE = 1;
pub const CKP_ML_KEM_768: CK_ML_KEM_PARAMETER_SET_TYPE = 2;
pub const CKP_ML_KEM_1024: CK_ML_KEM_PARAMETER_SET_TYPE = 3;

pub type CK_HEDGE_TYPE = CK_ULONG;
pub const CKH_HEDGE_PREFERRED: CK_HEDGE_TYPE = 0;
pub const CKH_HEDGE_REQUIRED: CK_HEDGE_TYPE = 1;
pub const CKH_DETERMINISTIC_REQUIRED: CK_HEDGE_TYPE = 2;

/// The parameter of CKM_ML_DSA (and CKM_HASH_ML_DSA_<hash>).
#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct CK_SIGN_ADDITIONAL_CONTEXT {
    pub hedgeVariant: CK_HEDGE_TYPE,
    pub pContext: *mut CK_BYTE,
    pub ulContextLen: CK_ULONG,
}

/// The parameter of CKM_HASH_ML_DSA (the message is already hashed).
#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct CK_HASH_SIGN_ADDITIONAL_CONTEXT {
    pub hedgeVariant: CK_HEDGE_TYPE,
    pub pContext: *mut CK_BYTE,
    pub ulContextLen: CK_ULONG,
    pub hash: CK_MECHANISM_TYPE,
}

// ---- the 3.2 functions --------------------------------------------------------

pub type CK_SESSION_VALIDATION_FLAGS_TYPE = CK_ULONG;

// The 3.2 function-pointer types and CK_FUNCTION_LIST_3_2 live with the
// C boundary (`abi::list32`): foreign function-pointer types belong there.

// keyward's vendor mechanisms (include/keyward.h), here in the lowest
// layer so that every layer names them from one place (the audit log too).

/// keyward's version-aware AES-GCM envelope (run by the token).
pub const CKM_KEYWARD_AES_GCM: CK_MECHANISM_TYPE = CKM_VENDOR_DEFINED | 0x4B57_0001;
/// keyward's deterministic ML-KEM encapsulation: the parameter is the
/// 32-byte `m` of FIPS 203 ML-KEM.Encaps_internal.
pub const CKM_KEYWARD_ML_KEM_DETERMINISTIC: CK_MECHANISM_TYPE = CKM_VENDOR_DEFINED | 0x4B57_0002;

// The keyward vendor attributes the store indexes (`store::index`); the
// others, and the meaning of all, are in `object::vendor`.
/// CK_ULONG time: when a pending deletion becomes permanent (0 = not pending).
pub const CKA_KEYWARD_DESTROY_AT: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED | 0x4B57_0004;

/// CK_ULONG time: when the primary is next rotated automatically (0 = never).
pub const CKA_KEYWARD_NEXT_ROTATION: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED | 0x4B57_0006;

/// Text (32 hex digits): the managed key this object belongs to, assigned
/// by the token when the key is created, generated, imported, derived or
/// unwrapped, and shared only by the versions rotation makes (and by
/// copies, which stay bound to their source). Unique in the token;
/// read-only. CKA_LABEL and CKA_ID are user data and say nothing of it.
pub const CKA_KEYWARD_KEY_ID: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED | 0x4B57_000E;

/// CK_ULONG: on a C_CopyObject copy of a token key, the handle of the key
/// version it was copied from (0 or absent: not a copy). A copy obeys its
/// source's lifecycle state, never becomes primary and dies with its
/// source's purge. Read-only.
pub const CKA_KEYWARD_COPY_OF: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED | 0x4B57_000F;

/// Text: on a token key a named user made, the id of the data key its
/// secrets are sealed under (wrapped only for the principals holding a
/// grant on it, docs/named-users.md); absent on keys sealed under the
/// token master key. Read-only.
pub const CKA_KEYWARD_SEAL: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED | 0x4B57_0010;
