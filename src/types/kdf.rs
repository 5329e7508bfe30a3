//! The parsed parameters of the key-derivation mechanisms (PKCS#11 3.0
//! "Miscellaneous simple key derivation mechanisms", the *_ENCRYPT_DATA
//! derivations, SP 800-108 KBKDF, HKDF). `abi::kdf_param` fills them from
//! the caller's structures; `mechanism::kdf` and `token::derive` read them.
//! Plain data: no pointers, no policy, and no `Debug` (data may be secret).

use crate::ck::*;
use crate::types::{Attr, Handle};

/// The parameter of a derivation mechanism.
#[derive(Clone, PartialEq, Eq)]
pub enum KdfParam {
    /// CK_KEY_DERIVATION_STRING_DATA: CONCATENATE_BASE_AND_DATA,
    /// CONCATENATE_DATA_AND_BASE, XOR_BASE_AND_DATA, *_ECB_ENCRYPT_DATA.
    Data(Vec<u8>),
    /// CK_OBJECT_HANDLE: CONCATENATE_BASE_AND_KEY's second key.
    Key(Handle),
    /// CK_EXTRACT_PARAMS: the first bit of the base key to extract.
    BitIndex(CK_ULONG),
    /// CK_AES_CBC_ENCRYPT_DATA_PARAMS (and, later, the DES ones).
    CbcData { iv: Vec<u8>, data: Vec<u8> },
    /// CK_SP800_108_KDF_PARAMS / CK_SP800_108_FEEDBACK_KDF_PARAMS.
    Kbkdf(Kbkdf),
    /// CK_HKDF_PARAMS.
    Hkdf(Hkdf),
}

/// An SP 800-108 KDF's parameters (the mode is the mechanism).
#[derive(Clone, PartialEq, Eq)]
pub struct Kbkdf {
    /// CKM_SHA*_HMAC or CKM_AES_CMAC.
    pub prf: CK_MECHANISM_TYPE,
    /// The PRF input, in order.
    pub data: Vec<PrfData>,
    /// Feedback mode's IV (empty: none).
    pub iv: Vec<u8>,
    /// The templates of pAdditionalDerivedKeys, in order (their handles are
    /// written back by the ABI).
    pub additional: Vec<Vec<Attr>>,
}

/// A CK_SP800_108_COUNTER_FORMAT.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CounterFormat {
    pub little_endian: bool,
    pub bits: CK_ULONG,
}

/// A CK_SP800_108_DKM_LENGTH_FORMAT.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DkmLengthFormat {
    pub method: CK_ULONG,
    pub little_endian: bool,
    pub bits: CK_ULONG,
}

/// One CK_PRF_DATA_PARAM.
#[derive(Clone, PartialEq, Eq)]
pub enum PrfData {
    /// CK_SP800_108_ITERATION_VARIABLE: a counter format (counter mode) or
    /// none (feedback and double-pipeline modes: the chaining value).
    Iteration(Option<CounterFormat>),
    /// CK_SP800_108_COUNTER (feedback and double-pipeline modes only).
    Counter(CounterFormat),
    /// CK_SP800_108_DKM_LENGTH.
    DkmLength(DkmLengthFormat),
    /// CK_SP800_108_BYTE_ARRAY.
    Bytes(Vec<u8>),
}

/// CK_HKDF_PARAMS.
#[derive(Clone, PartialEq, Eq)]
pub struct Hkdf {
    pub extract: bool,
    pub expand: bool,
    /// CKM_SHA_1, CKM_SHA224 ... CKM_SHA512.
    pub prf: CK_MECHANISM_TYPE,
    pub salt: HkdfSalt,
    pub info: Vec<u8>,
}

/// Where HKDF's salt comes from (ulSaltType).
#[derive(Clone, PartialEq, Eq)]
pub enum HkdfSalt {
    /// CKF_HKDF_SALT_NULL: a hash-length string of zeros.
    Null,
    /// CKF_HKDF_SALT_DATA.
    Data(Vec<u8>),
    /// CKF_HKDF_SALT_KEY: the value of a secret key object.
    Key(Handle),
}
