//! The static function tables (2.40, 3.0 and 3.2) and the interfaces, with
//! their entry points C_GetFunctionList, C_GetInterfaceList and
//! C_GetInterface. Nothing here allocates.
//!
//! Interfaces offered: "PKCS 11" 3.2 (the default, first: the 3.0 table
//! followed by the 3.2 functions of `abi::v32`, so a 3.0 client handed the
//! default reads the layout it knows), "PKCS 11" 3.0 and "PKCS 11" 2.40,
//! all with no flags (keyward is not fork-safe in the
//! CKF_INTERFACE_FORK_SAFE sense: a forked child must call C_Initialize).

use super::crypto::*;
use super::general::*;
use super::keys::*;
use super::list32::CK_FUNCTION_LIST_3_2;
use super::message::*;
use super::object::*;
use super::session::*;
use super::unsupported::*;
use super::util::{OutParam, out};
use super::v32::*;
use crate::ck::{
    CK_CHAR, CK_FLAGS, CK_FUNCTION_LIST, CK_FUNCTION_LIST_3_0, CK_FUNCTION_LIST_PTR_PTR, CK_INTERFACE,
    CK_INTERFACE_PTR, CK_INTERFACE_PTR_PTR, CK_RV, CK_ULONG, CK_ULONG_PTR, CK_UTF8CHAR, CK_UTF8CHAR_PTR, CK_VERSION,
    CK_VERSION_PTR,
};
use crate::error::{Error, Result};
use std::ffi::{CStr, c_void};

/// A function-list literal with `Some(f)` for every named field.
macro_rules! list {
    ($ty:ident, $ver:expr; $($f:ident),* $(,)?) => {
        $ty { version: $ver, $( $f: Some($f), )* }
    };
}

/// The 68 functions of the 2.40 table, plus `$extra` (the 3.0 and 3.2 additions).
macro_rules! v240_list {
    ($ty:ident, $ver:expr $(, $extra:ident)* $(,)?) => {
        list!($ty, $ver;
            C_Initialize, C_Finalize, C_GetInfo, C_GetFunctionList, C_GetSlotList, C_GetSlotInfo, C_GetTokenInfo,
            C_GetMechanismList, C_GetMechanismInfo, C_InitToken, C_InitPIN, C_SetPIN, C_OpenSession, C_CloseSession,
            C_CloseAllSessions, C_GetSessionInfo, C_GetOperationState, C_SetOperationState, C_Login, C_Logout,
            C_CreateObject, C_CopyObject, C_DestroyObject, C_GetObjectSize, C_GetAttributeValue, C_SetAttributeValue,
            C_FindObjectsInit, C_FindObjects, C_FindObjectsFinal, C_EncryptInit, C_Encrypt, C_EncryptUpdate,
            C_EncryptFinal, C_DecryptInit, C_Decrypt, C_DecryptUpdate, C_DecryptFinal, C_DigestInit, C_Digest,
            C_DigestUpdate, C_DigestKey, C_DigestFinal, C_SignInit, C_Sign, C_SignUpdate, C_SignFinal,
            C_SignRecoverInit, C_SignRecover, C_VerifyInit, C_Verify, C_VerifyUpdate, C_VerifyFinal,
            C_VerifyRecoverInit, C_VerifyRecover, C_DigestEncryptUpdate, C_DecryptDigestUpdate, C_SignEncryptUpdate,
            C_DecryptVerifyUpdate, C_GenerateKey, C_GenerateKeyPair, C_WrapKey, C_UnwrapKey, C_DeriveKey,
            C_SeedRandom, C_GenerateRandom, C_GetFunctionStatus, C_CancelFunction, C_WaitForSlotEvent
            $(, $extra)*
        )
    };
}

/// The 2.40 table, the 24 functions 3.0 adds, plus `$extra` (the 3.2
/// additions).
macro_rules! v30_list {
    ($ty:ident, $ver:expr $(, $extra:ident)* $(,)?) => {
        v240_list!($ty, $ver,
            C_GetInterfaceList, C_GetInterface, C_LoginUser, C_SessionCancel,
            C_MessageEncryptInit, C_EncryptMessage, C_EncryptMessageBegin, C_EncryptMessageNext, C_MessageEncryptFinal,
            C_MessageDecryptInit, C_DecryptMessage, C_DecryptMessageBegin, C_DecryptMessageNext, C_MessageDecryptFinal,
            C_MessageSignInit, C_SignMessage, C_SignMessageBegin, C_SignMessageNext, C_MessageSignFinal,
            C_MessageVerifyInit, C_VerifyMessage, C_VerifyMessageBegin, C_VerifyMessageNext, C_MessageVerifyFinal
            $(, $extra)*
        )
    };
}

const V2_40: CK_VERSION = CK_VERSION { major: 2, minor: 40 };
const V3_0: CK_VERSION = CK_VERSION { major: 3, minor: 0 };
const V3_2: CK_VERSION = CK_VERSION { major: 3, minor: 2 };

static LIST_2_40: CK_FUNCTION_LIST = v240_list!(CK_FUNCTION_LIST, V2_40);

static LIST_3_0: CK_FUNCTION_LIST_3_0 = v30_list!(CK_FUNCTION_LIST_3_0, V3_0);

static LIST_3_2: CK_FUNCTION_LIST_3_2 = v30_list!(
    CK_FUNCTION_LIST_3_2,
    V3_2,
    C_EncapsulateKey,
    C_DecapsulateKey,
    C_VerifySignatureInit,
    C_VerifySignature,
    C_VerifySignatureUpdate,
    C_VerifySignatureFinal,
    C_GetSessionValidationFlags,
    C_AsyncComplete,
    C_AsyncGetID,
    C_AsyncJoin,
    C_WrapKeyAuthenticated,
    C_UnwrapKeyAuthenticated,
);

const NAME: &CStr = c"PKCS 11";
const INTERFACE_COUNT: usize = 3;

/// The interfaces, 3.2 first (the default). CK_INTERFACE holds raw
/// pointers, so the array needs a `Sync` wrapper; it lives in writable
/// memory (an UnsafeCell) because C_GetInterface hands out a
/// `CK_INTERFACE_PTR` (non-const) and a careless client writing through it
/// must not fault. keyward itself never writes to it.
struct Interfaces(std::cell::UnsafeCell<[CK_INTERFACE; INTERFACE_COUNT]>);

// SAFETY: the pointers inside point at immutable statics (the name and the
// function lists), and keyward only ever reads the array.
unsafe impl Sync for Interfaces {}

static INTERFACES: Interfaces = Interfaces(std::cell::UnsafeCell::new([
    CK_INTERFACE {
        pInterfaceName: NAME.as_ptr() as *mut CK_CHAR,
        pFunctionList: &LIST_3_2 as *const CK_FUNCTION_LIST_3_2 as *mut c_void,
        flags: 0,
    },
    CK_INTERFACE {
        pInterfaceName: NAME.as_ptr() as *mut CK_CHAR,
        pFunctionList: &LIST_3_0 as *const CK_FUNCTION_LIST_3_0 as *mut c_void,
        flags: 0,
    },
    CK_INTERFACE {
        pInterfaceName: NAME.as_ptr() as *mut CK_CHAR,
        pFunctionList: &LIST_2_40 as *const CK_FUNCTION_LIST as *mut c_void,
        flags: 0,
    },
]));

/// The versions of [`INTERFACES`], entry by entry.
const VERSIONS: [CK_VERSION; INTERFACE_COUNT] = [V3_2, V3_0, V2_40];

fn interfaces() -> *mut CK_INTERFACE {
    INTERFACES.0.get() as *mut CK_INTERFACE
}

/// The index of the interface matching the request: name "PKCS 11" (or
/// NULL), the version if given (else the default), and every requested
/// flag.
///
/// # Safety
/// A non-NULL `name` must be NUL-terminated; a non-NULL `version` must
/// point at a CK_VERSION.
unsafe fn find(name: *const CK_UTF8CHAR, version: *const CK_VERSION, flags: CK_FLAGS) -> Result<usize> {
    if !name.is_null() {
        // SAFETY: NUL-terminated per the caller.
        let n = unsafe { CStr::from_ptr(name as *const std::ffi::c_char) };
        if n != NAME {
            return Err(Error::args(format!("no interface named {:?}", n.to_string_lossy())));
        }
    }
    // SAFETY: a CK_VERSION per the caller; read_unaligned copies it.
    let want = (!version.is_null()).then(|| unsafe { std::ptr::read_unaligned(version) });
    (0..INTERFACE_COUNT)
        .find(|&i| {
            // SAFETY: reading our own static; nobody writes it.
            let flags_i = unsafe { (*interfaces().add(i)).flags };
            want.is_none_or(|w| (w.major, w.minor) == (VERSIONS[i].major, VERSIONS[i].minor))
                && flags_i & flags == flags
        })
        .ok_or_else(|| Error::args("no interface of that version and flags"))
}

export! {
    /// The 2.40 function list.
    fn C_GetFunctionList(pp_function_list: CK_FUNCTION_LIST_PTR_PTR) {
        *out(pp_function_list)? = &LIST_2_40 as *const CK_FUNCTION_LIST as *mut CK_FUNCTION_LIST;
        Ok(())
    }

    /// Copies the interfaces into the caller's array (NULL array: count
    /// query; too small: count written, CKR_BUFFER_TOO_SMALL).
    fn C_GetInterfaceList(p_interfaces: CK_INTERFACE_PTR, pul_count: CK_ULONG_PTR) {
        // No `&mut` over the count while the array is written (a caller
        // may point one into the other).
        let count = OutParam::new(pul_count)?;
        let n = INTERFACE_COUNT as CK_ULONG;
        if p_interfaces.is_null() {
            count.set(n);
            return Ok(());
        }
        if count.get() < n {
            count.set(n);
            return Err(Error::buffer_too_small(INTERFACE_COUNT));
        }
        // SAFETY: the caller's array holds *count >= n entries; ours holds n.
        std::ptr::copy_nonoverlapping(interfaces(), p_interfaces, INTERFACE_COUNT);
        count.set(n);
        Ok(())
    }

    /// One interface by name, version and flags; NULL name is the default
    /// (3.2) "PKCS 11" interface.
    fn C_GetInterface(
        p_interface_name: CK_UTF8CHAR_PTR,
        p_version: CK_VERSION_PTR,
        pp_interface: CK_INTERFACE_PTR_PTR,
        flags: CK_FLAGS,
    ) {
        let o = OutParam::new(pp_interface)?;
        let i = find(p_interface_name, p_version, flags)?;
        o.set(interfaces().add(i));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ck::{
        CK_FUNCTION_LIST_PTR, CKF_INTERFACE_FORK_SAFE, CKR_ARGUMENTS_BAD, CKR_BUFFER_TOO_SMALL,
        CKR_CRYPTOKI_NOT_INITIALIZED, CKR_FUNCTION_NOT_SUPPORTED, CKR_OK,
    };
    use std::ptr::{null, null_mut};

    fn version_of(i: *const CK_INTERFACE) -> CK_VERSION {
        // Both list types start with their CK_VERSION.
        unsafe { *((*i).pFunctionList as *const CK_VERSION) }
    }

    #[test]
    fn function_list_is_2_40() {
        let mut p: CK_FUNCTION_LIST_PTR = null_mut();
        assert_eq!(unsafe { C_GetFunctionList(&mut p) }, CKR_OK);
        let v = unsafe { (*p).version };
        assert_eq!((v.major, v.minor), (2, 40));
        assert_eq!(unsafe { C_GetFunctionList(null_mut()) }, CKR_ARGUMENTS_BAD);
    }

    #[test]
    fn interface_list_follows_the_length_convention() {
        let mut n: CK_ULONG = 0;
        assert_eq!(unsafe { C_GetInterfaceList(null_mut(), &mut n) }, CKR_OK);
        assert_eq!(n, 3);
        let empty = CK_INTERFACE { pInterfaceName: null_mut(), pFunctionList: null_mut(), flags: 0 };
        let mut list = [empty; 3];
        n = 2;
        assert_eq!(unsafe { C_GetInterfaceList(list.as_mut_ptr(), &mut n) }, CKR_BUFFER_TOO_SMALL);
        assert_eq!(n, 3);
        assert_eq!(unsafe { C_GetInterfaceList(list.as_mut_ptr(), &mut n) }, CKR_OK);
        let v: Vec<_> = list.iter().map(|i| version_of(i)).map(|v| (v.major, v.minor)).collect();
        assert_eq!(v, vec![(3, 2), (3, 0), (2, 40)]);
        assert_eq!(unsafe { CStr::from_ptr(list[0].pInterfaceName as *const _) }, c"PKCS 11");
        assert_eq!(unsafe { C_GetInterfaceList(list.as_mut_ptr(), null_mut()) }, CKR_ARGUMENTS_BAD);
    }

    #[test]
    fn get_interface_by_name_version_and_flags() {
        let get = |name: *const CK_UTF8CHAR, ver: Option<(u8, u8)>, flags| {
            let mut v = ver.map(|(major, minor)| CK_VERSION { major, minor });
            let pv = v.as_mut().map_or(null_mut(), |v| v as *mut CK_VERSION);
            let mut i: CK_INTERFACE_PTR = null_mut();
            let rv = unsafe { C_GetInterface(name as *mut _, pv, &mut i, flags) };
            (rv, (rv == CKR_OK).then(|| version_of(i)).map(|v| (v.major, v.minor)))
        };
        let pkcs11 = c"PKCS 11".as_ptr() as *const CK_UTF8CHAR;
        assert_eq!(get(null(), None, 0), (CKR_OK, Some((3, 2))));
        assert_eq!(get(pkcs11, None, 0), (CKR_OK, Some((3, 2))));
        assert_eq!(get(pkcs11, Some((2, 40)), 0), (CKR_OK, Some((2, 40))));
        assert_eq!(get(null(), Some((3, 0)), 0), (CKR_OK, Some((3, 0))));
        assert_eq!(get(null(), Some((3, 1)), 0), (CKR_ARGUMENTS_BAD, None));
        assert_eq!(get(pkcs11, Some((3, 2)), 0), (CKR_OK, Some((3, 2))));
        assert_eq!(get(c"Other".as_ptr() as *const _, None, 0), (CKR_ARGUMENTS_BAD, None));
        assert_eq!(get(null(), None, CKF_INTERFACE_FORK_SAFE), (CKR_ARGUMENTS_BAD, None));
        assert_eq!(unsafe { C_GetInterface(null_mut(), null_mut(), null_mut(), 0) }, CKR_ARGUMENTS_BAD);
    }

    #[test]
    fn the_3_0_list_reaches_the_3_0_functions() {
        let l = &LIST_3_0;
        assert!(l.C_LoginUser.is_some() && l.C_SessionCancel.is_some() && l.C_MessageVerifyFinal.is_some());
        // Not initialized: the unsupported ones still say so first.
        let rv = unsafe { l.C_MessageSignFinal.map(|f| f(1)) };
        assert!(matches!(rv, Some(CKR_CRYPTOKI_NOT_INITIALIZED) | Some(CKR_FUNCTION_NOT_SUPPORTED)));
    }

    #[test]
    fn the_3_2_list_reaches_the_3_2_functions() {
        let l = &LIST_3_2;
        assert_eq!((l.version.major, l.version.minor), (3, 2));
        assert!(
            l.C_MessageVerifyFinal.is_some() && l.C_EncapsulateKey.is_some() && l.C_UnwrapKeyAuthenticated.is_some()
        );
        let rv = unsafe { l.C_AsyncGetID.map(|f| f(1, null_mut(), null_mut())) };
        assert!(matches!(rv, Some(CKR_CRYPTOKI_NOT_INITIALIZED) | Some(CKR_FUNCTION_NOT_SUPPORTED)));
    }
}
