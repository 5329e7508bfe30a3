//! The one error type of the crate: a `CK_RV` plus a human reason for the log.
//!
//! Every layer returns `Result<T>`; the ABI layer turns an `Error` into its
//! `CK_RV` (and logs the reason). `CKR_BUFFER_TOO_SMALL` carries the length
//! the caller needs so the ABI can write it back.

use crate::ck::*;
use std::borrow::Cow;
use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    rv: CK_RV,
    reason: Cow<'static, str>,
    /// For `CKR_BUFFER_TOO_SMALL`: the output length that would suffice.
    needed: Option<usize>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(rv: CK_RV, reason: impl Into<Cow<'static, str>>) -> Self {
        Error { rv, reason: reason.into(), needed: None }
    }
    /// The output buffer is too small; `needed` bytes would suffice.
    pub fn buffer_too_small(needed: usize) -> Self {
        Error { rv: CKR_BUFFER_TOO_SMALL, reason: Cow::Borrowed("output buffer too small"), needed: Some(needed) }
    }
    pub fn rv(&self) -> CK_RV {
        self.rv
    }
    pub fn reason(&self) -> &str {
        &self.reason
    }
    pub fn needed(&self) -> Option<usize> {
        self.needed
    }
    pub fn general(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(CKR_GENERAL_ERROR, reason)
    }
    pub fn args(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(CKR_ARGUMENTS_BAD, reason)
    }
    pub fn not_supported(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(CKR_FUNCTION_NOT_SUPPORTED, reason)
    }
    pub fn device(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(CKR_DEVICE_ERROR, reason)
    }
    /// Whether a multi-part operation survives this error (spec: only a
    /// length query or `CKR_BUFFER_TOO_SMALL` leave it active).
    pub fn keeps_operation(&self) -> bool {
        self.rv == CKR_BUFFER_TOO_SMALL
    }
}

/// `err!(CKR_X, "format {}", args)` builds an `Error`.
#[macro_export]
macro_rules! err {
    ($rv:expr, $($fmt:tt)+) => {
        $crate::error::Error::new($rv, format!($($fmt)+))
    };
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", rv_name(self.rv), self.reason)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason, rv_name(self.rv))
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        let rv = match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => CKR_DEVICE_MEMORY,
            Some(ErrorCode::ReadOnly) | Some(ErrorCode::CannotOpen) | Some(ErrorCode::PermissionDenied) => {
                CKR_DEVICE_ERROR
            }
            Some(ErrorCode::DatabaseCorrupt) | Some(ErrorCode::NotADatabase) => CKR_DEVICE_ERROR,
            _ => CKR_DEVICE_ERROR,
        };
        Error::new(rv, format!("token store: {e}"))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::new(CKR_DEVICE_ERROR, format!("i/o: {e}"))
    }
}

/// The symbolic name of a `CK_RV`, for logs and the audit trail.
pub fn rv_name(rv: CK_RV) -> &'static str {
    macro_rules! names {
        ($($c:ident),* $(,)?) => {
            match rv { $(x if x == $c => stringify!($c),)* _ => "CKR_VENDOR_DEFINED_OR_UNKNOWN" }
        };
    }
    names!(
        CKR_OK,
        CKR_CANCEL,
        CKR_HOST_MEMORY,
        CKR_SLOT_ID_INVALID,
        CKR_GENERAL_ERROR,
        CKR_FUNCTION_FAILED,
        CKR_ARGUMENTS_BAD,
        CKR_NO_EVENT,
        CKR_NEED_TO_CREATE_THREADS,
        CKR_CANT_LOCK,
        CKR_ATTRIBUTE_READ_ONLY,
        CKR_ATTRIBUTE_SENSITIVE,
        CKR_ATTRIBUTE_TYPE_INVALID,
        CKR_ATTRIBUTE_VALUE_INVALID,
        CKR_ACTION_PROHIBITED,
        CKR_DATA_INVALID,
        CKR_DATA_LEN_RANGE,
        CKR_DEVICE_ERROR,
        CKR_DEVICE_MEMORY,
        CKR_DEVICE_REMOVED,
        CKR_ENCRYPTED_DATA_INVALID,
        CKR_ENCRYPTED_DATA_LEN_RANGE,
        CKR_FUNCTION_CANCELED,
        CKR_FUNCTION_NOT_PARALLEL,
        CKR_FUNCTION_NOT_SUPPORTED,
        CKR_KEY_HANDLE_INVALID,
        CKR_KEY_SIZE_RANGE,
        CKR_KEY_TYPE_INCONSISTENT,
        CKR_KEY_NOT_NEEDED,
        CKR_KEY_CHANGED,
        CKR_KEY_NEEDED,
        CKR_KEY_INDIGESTIBLE,
        CKR_KEY_FUNCTION_NOT_PERMITTED,
        CKR_KEY_NOT_WRAPPABLE,
        CKR_KEY_UNEXTRACTABLE,
        CKR_MECHANISM_INVALID,
        CKR_MECHANISM_PARAM_INVALID,
        CKR_OBJECT_HANDLE_INVALID,
        CKR_OPERATION_ACTIVE,
        CKR_OPERATION_NOT_INITIALIZED,
        CKR_PIN_INCORRECT,
        CKR_PIN_INVALID,
        CKR_PIN_LEN_RANGE,
        CKR_PIN_EXPIRED,
        CKR_PIN_LOCKED,
        CKR_SESSION_CLOSED,
        CKR_SESSION_COUNT,
        CKR_SESSION_HANDLE_INVALID,
        CKR_SESSION_PARALLEL_NOT_SUPPORTED,
        CKR_SESSION_READ_ONLY,
        CKR_SESSION_EXISTS,
        CKR_SESSION_READ_ONLY_EXISTS,
        CKR_SESSION_READ_WRITE_SO_EXISTS,
        CKR_SIGNATURE_INVALID,
        CKR_SIGNATURE_LEN_RANGE,
        CKR_TEMPLATE_INCOMPLETE,
        CKR_TEMPLATE_INCONSISTENT,
        CKR_TOKEN_NOT_PRESENT,
        CKR_TOKEN_NOT_RECOGNIZED,
        CKR_TOKEN_WRITE_PROTECTED,
        CKR_UNWRAPPING_KEY_HANDLE_INVALID,
        CKR_UNWRAPPING_KEY_SIZE_RANGE,
        CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT,
        CKR_USER_ALREADY_LOGGED_IN,
        CKR_USER_NOT_LOGGED_IN,
        CKR_USER_PIN_NOT_INITIALIZED,
        CKR_USER_TYPE_INVALID,
        CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
        CKR_USER_TOO_MANY_TYPES,
        CKR_WRAPPED_KEY_INVALID,
        CKR_WRAPPED_KEY_LEN_RANGE,
        CKR_WRAPPING_KEY_HANDLE_INVALID,
        CKR_WRAPPING_KEY_SIZE_RANGE,
        CKR_WRAPPING_KEY_TYPE_INCONSISTENT,
        CKR_RANDOM_SEED_NOT_SUPPORTED,
        CKR_RANDOM_NO_RNG,
        CKR_DOMAIN_PARAMS_INVALID,
        CKR_CURVE_NOT_SUPPORTED,
        CKR_BUFFER_TOO_SMALL,
        CKR_SAVED_STATE_INVALID,
        CKR_INFORMATION_SENSITIVE,
        CKR_STATE_UNSAVEABLE,
        CKR_CRYPTOKI_NOT_INITIALIZED,
        CKR_CRYPTOKI_ALREADY_INITIALIZED,
        CKR_MUTEX_BAD,
        CKR_MUTEX_NOT_LOCKED,
        CKR_FUNCTION_REJECTED,
        CKR_OPERATION_CANCEL_FAILED,
    )
}
