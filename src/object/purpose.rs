//! What a key is being used for (encrypt, sign, wrap ...): the usage
//! attribute and mechanism flag each use needs, and which uses protect new
//! data (the date and primary-version rules). Owns only that vocabulary;
//! the checks that use it live with the token (`token::ops`) and the
//! lifecycle rules (`kms::check_use`).

use crate::ck::*;

/// What a key is being used for; decides the usage attribute and the date rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Encrypt,
    Decrypt,
    Sign,
    Verify,
    Wrap,
    Unwrap,
    Derive,
    /// PKCS#11 3.2 C_EncapsulateKey (public key).
    Encapsulate,
    /// PKCS#11 3.2 C_DecapsulateKey (private key).
    Decapsulate,
}

impl Purpose {
    pub fn attribute(self) -> CK_ATTRIBUTE_TYPE {
        match self {
            Purpose::Encrypt => CKA_ENCRYPT,
            Purpose::Decrypt => CKA_DECRYPT,
            Purpose::Sign => CKA_SIGN,
            Purpose::Verify => CKA_VERIFY,
            Purpose::Wrap => CKA_WRAP,
            Purpose::Unwrap => CKA_UNWRAP,
            Purpose::Derive => CKA_DERIVE,
            Purpose::Encapsulate => CKA_ENCAPSULATE,
            Purpose::Decapsulate => CKA_DECAPSULATE,
        }
    }
    pub fn mechanism_flag(self) -> CK_FLAGS {
        match self {
            Purpose::Encrypt => CKF_ENCRYPT,
            Purpose::Decrypt => CKF_DECRYPT,
            Purpose::Sign => CKF_SIGN,
            Purpose::Verify => CKF_VERIFY,
            Purpose::Wrap => CKF_WRAP,
            Purpose::Unwrap => CKF_UNWRAP,
            Purpose::Derive => CKF_DERIVE,
            Purpose::Encapsulate => CKF_ENCAPSULATE,
            Purpose::Decapsulate => CKF_DECAPSULATE,
        }
    }
    /// Uses that protect new data; refused outside the key's date window.
    /// Decrypt/verify/unwrap stay allowed after CKA_END_DATE.
    pub fn creates_data(self) -> bool {
        matches!(self, Purpose::Encrypt | Purpose::Sign | Purpose::Wrap | Purpose::Derive | Purpose::Encapsulate)
    }
}
