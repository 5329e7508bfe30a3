//! Functions keyward does not implement. Each still checks that the library
//! is initialized (`CKR_CRYPTOKI_NOT_INITIALIZED` first), then answers
//! `CKR_FUNCTION_NOT_SUPPORTED` (or what the spec prescribes for legacy
//! parallel functions and slot events). They exist so that every entry of
//! both function tables is callable.

use super::lib;
use crate::ck::*;
use crate::error::{Error, Result};

fn not_supported(name: &str) -> Result<()> {
    lib()?;
    Err(Error::not_supported(format!("{name} is not supported")))
}

/// Declares exported functions that only answer `CKR_FUNCTION_NOT_SUPPORTED`.
macro_rules! not_supported {
    ($( fn $name:ident ( $($arg:ident : $ty:ty),* $(,)? ); )*) => {
        export! { $( fn $name($($arg: $ty),*) { not_supported(stringify!($name)) } )* }
    };
}

export! {
    /// Legacy parallel function: always `CKR_FUNCTION_NOT_PARALLEL`.
    fn C_GetFunctionStatus(_h: CK_SESSION_HANDLE) {
        lib()?;
        Err(Error::new(CKR_FUNCTION_NOT_PARALLEL, "no function runs in parallel"))
    }

    /// Legacy parallel function: always `CKR_FUNCTION_NOT_PARALLEL`.
    fn C_CancelFunction(_h: CK_SESSION_HANDLE) {
        lib()?;
        Err(Error::new(CKR_FUNCTION_NOT_PARALLEL, "no function runs in parallel"))
    }

    /// keyward's slots never change: a non-blocking wait has no event; a
    /// blocking one would wait forever and is not supported.
    fn C_WaitForSlotEvent(flags: CK_FLAGS, _p_slot: CK_SLOT_ID_PTR, _p_reserved: CK_VOID_PTR) {
        lib()?;
        if flags & CKF_DONT_BLOCK != 0 {
            return Err(Error::new(CKR_NO_EVENT, "slots never change"));
        }
        Err(Error::not_supported("slots never change; a blocking wait is not supported"))
    }
}

not_supported! {
    fn C_SignRecoverInit(_h: CK_SESSION_HANDLE, _p_mechanism: CK_MECHANISM_PTR, _key: CK_OBJECT_HANDLE);
    fn C_SignRecover(_h: CK_SESSION_HANDLE, _p: CK_BYTE_PTR, _n: CK_ULONG, _po: CK_BYTE_PTR, _pn: CK_ULONG_PTR);
    fn C_VerifyRecoverInit(_h: CK_SESSION_HANDLE, _p_mechanism: CK_MECHANISM_PTR, _key: CK_OBJECT_HANDLE);
    fn C_VerifyRecover(_h: CK_SESSION_HANDLE, _p: CK_BYTE_PTR, _n: CK_ULONG, _po: CK_BYTE_PTR, _pn: CK_ULONG_PTR);

    fn C_DigestEncryptUpdate(_h: CK_SESSION_HANDLE, _p: CK_BYTE_PTR, _n: CK_ULONG, _po: CK_BYTE_PTR, _pn: CK_ULONG_PTR);
    fn C_DecryptDigestUpdate(_h: CK_SESSION_HANDLE, _p: CK_BYTE_PTR, _n: CK_ULONG, _po: CK_BYTE_PTR, _pn: CK_ULONG_PTR);
    fn C_SignEncryptUpdate(_h: CK_SESSION_HANDLE, _p: CK_BYTE_PTR, _n: CK_ULONG, _po: CK_BYTE_PTR, _pn: CK_ULONG_PTR);
    fn C_DecryptVerifyUpdate(_h: CK_SESSION_HANDLE, _p: CK_BYTE_PTR, _n: CK_ULONG, _po: CK_BYTE_PTR, _pn: CK_ULONG_PTR);

    fn C_MessageSignInit(_h: CK_SESSION_HANDLE, _p_mechanism: CK_MECHANISM_PTR, _key: CK_OBJECT_HANDLE);
    fn C_SignMessage(
        _h: CK_SESSION_HANDLE,
        _p_param: CK_VOID_PTR,
        _ul_param_len: CK_ULONG,
        _p_data: CK_BYTE_PTR,
        _ul_data_len: CK_ULONG,
        _p_signature: CK_BYTE_PTR,
        _pul_signature_len: CK_ULONG_PTR,
    );
    fn C_SignMessageBegin(_h: CK_SESSION_HANDLE, _p_param: CK_VOID_PTR, _ul_param_len: CK_ULONG);
    fn C_SignMessageNext(
        _h: CK_SESSION_HANDLE,
        _p_param: CK_VOID_PTR,
        _ul_param_len: CK_ULONG,
        _p_data: CK_BYTE_PTR,
        _ul_data_len: CK_ULONG,
        _p_signature: CK_BYTE_PTR,
        _pul_signature_len: CK_ULONG_PTR,
    );
    fn C_MessageSignFinal(_h: CK_SESSION_HANDLE);

    fn C_MessageVerifyInit(_h: CK_SESSION_HANDLE, _p_mechanism: CK_MECHANISM_PTR, _key: CK_OBJECT_HANDLE);
    fn C_VerifyMessage(
        _h: CK_SESSION_HANDLE,
        _p_param: CK_VOID_PTR,
        _ul_param_len: CK_ULONG,
        _p_data: CK_BYTE_PTR,
        _ul_data_len: CK_ULONG,
        _p_signature: CK_BYTE_PTR,
        _ul_signature_len: CK_ULONG,
    );
    fn C_VerifyMessageBegin(_h: CK_SESSION_HANDLE, _p_param: CK_VOID_PTR, _ul_param_len: CK_ULONG);
    fn C_VerifyMessageNext(
        _h: CK_SESSION_HANDLE,
        _p_param: CK_VOID_PTR,
        _ul_param_len: CK_ULONG,
        _p_data: CK_BYTE_PTR,
        _ul_data_len: CK_ULONG,
        _p_signature: CK_BYTE_PTR,
        _ul_signature_len: CK_ULONG,
    );
    fn C_MessageVerifyFinal(_h: CK_SESSION_HANDLE);
}
