//! The static function tables (2.40 and 3.0) and the 3.0 interface entry
//! points.

use super::functions::*;
use super::guard;
use super::util::out;
use crate::ck::{
    CK_CHAR, CK_FLAGS, CK_FUNCTION_LIST, CK_FUNCTION_LIST_3_0, CK_FUNCTION_LIST_PTR_PTR, CK_INTERFACE,
    CK_INTERFACE_PTR, CK_INTERFACE_PTR_PTR, CK_RV, CK_ULONG, CK_ULONG_PTR, CK_UTF8CHAR, CK_UTF8CHAR_PTR, CK_VERSION,
    CK_VERSION_PTR,
};
use crate::error::{Error, Result};

macro_rules! list {
    ($ty:ident, $ver:expr; $($f:ident),* $(,)?) => {
        $ty { version: $ver, $( $f: Some($f), )* }
    };
}

macro_rules! v240_fns {
    ($ty:ident, $ver:expr $(, $extra:ident)*) => {
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
            C_SeedRandom, C_GenerateRandom, C_GetFunctionStatus, C_CancelFunction, C_WaitForSlotEvent $(, $extra)*
        )
    };
}

static LIST_240: CK_FUNCTION_LIST = v240_fns!(CK_FUNCTION_LIST, CK_VERSION { major: 2, minor: 40 });

static LIST_300: CK_FUNCTION_LIST_3_0 = v240_fns!(
    CK_FUNCTION_LIST_3_0,
    CK_VERSION { major: 3, minor: 0 },
    C_GetInterfaceList,
    C_GetInterface,
    C_LoginUser,
    C_SessionCancel,
    C_MessageEncryptInit,
    C_EncryptMessage,
    C_EncryptMessageBegin,
    C_EncryptMessageNext,
    C_MessageEncryptFinal,
    C_MessageDecryptInit,
    C_DecryptMessage,
    C_DecryptMessageBegin,
    C_DecryptMessageNext,
    C_MessageDecryptFinal,
    C_MessageSignInit,
    C_SignMessage,
    C_SignMessageBegin,
    C_SignMessageNext,
    C_MessageSignFinal,
    C_MessageVerifyInit,
    C_VerifyMessage,
    C_VerifyMessageBegin,
    C_VerifyMessageNext,
    C_MessageVerifyFinal
);

static NAME: &[u8] = b"PKCS 11\0";

/// The interfaces we offer: 3.0 first (the default), then 2.40. Kept in
/// writable memory (UnsafeCell): some clients (OpenSC's pkcs11-spy) write
/// into the CK_INTERFACE they are handed; we never write to it ourselves.
struct Interfaces(std::cell::UnsafeCell<[CK_INTERFACE; 2]>);
// SAFETY: the raw pointers inside point at immutable statics; keyward only
// reads the array.
unsafe impl Sync for Interfaces {}

impl Interfaces {
    fn get(&self) -> &[CK_INTERFACE; 2] {
        // SAFETY: keyward never writes through the cell; a client writing
        // into its copy is outside our control, as for any C module.
        unsafe { &*self.0.get() }
    }
}

static INTERFACES: Interfaces = Interfaces(std::cell::UnsafeCell::new([
    CK_INTERFACE {
        pInterfaceName: NAME.as_ptr() as *mut CK_CHAR,
        pFunctionList: &LIST_300 as *const CK_FUNCTION_LIST_3_0 as *mut std::ffi::c_void,
        flags: 0,
    },
    CK_INTERFACE {
        pInterfaceName: NAME.as_ptr() as *mut CK_CHAR,
        pFunctionList: &LIST_240 as *const CK_FUNCTION_LIST as *mut std::ffi::c_void,
        flags: 0,
    },
]));

fn interface_version(i: &CK_INTERFACE) -> (u8, u8) {
    if std::ptr::eq(i.pFunctionList as *const CK_FUNCTION_LIST_3_0, &LIST_300) { (3, 0) } else { (2, 40) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetFunctionList(pp: CK_FUNCTION_LIST_PTR_PTR) -> CK_RV {
    guard("C_GetFunctionList", || {
        let o = unsafe { out(pp) }?;
        *o = &LIST_240 as *const CK_FUNCTION_LIST as *mut CK_FUNCTION_LIST;
        Ok(())
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetInterfaceList(p_list: CK_INTERFACE_PTR, pul_count: CK_ULONG_PTR) -> CK_RV {
    guard("C_GetInterfaceList", || {
        let count = unsafe { out(pul_count) }?;
        let n = INTERFACES.get().len();
        if p_list.is_null() {
            *count = n as CK_ULONG;
            return Ok(());
        }
        if (*count as usize) < n {
            *count = n as CK_ULONG;
            return Err(Error::buffer_too_small(n));
        }
        // SAFETY: the caller's array holds *count entries.
        unsafe { std::ptr::copy_nonoverlapping(INTERFACES.get().as_ptr(), p_list, n) };
        *count = n as CK_ULONG;
        Ok(())
    })
}

unsafe fn find_interface(
    name: *const CK_UTF8CHAR,
    ver: *const CK_VERSION,
    flags: CK_FLAGS,
) -> Result<&'static CK_INTERFACE> {
    if !name.is_null() {
        // SAFETY: a non-NULL interface name is NUL-terminated.
        let n = unsafe { std::ffi::CStr::from_ptr(name as *const std::ffi::c_char) };
        if n.to_bytes() != b"PKCS 11" {
            return Err(Error::args("unknown interface name"));
        }
    }
    // SAFETY: a non-NULL version points at a CK_VERSION.
    let want = unsafe { ver.as_ref() }.map(|v| (v.major, v.minor));
    INTERFACES
        .get()
        .iter()
        .find(|i| want.is_none_or(|w| interface_version(i) == w) && (i.flags & flags) == flags)
        .ok_or_else(|| Error::args("no interface of that version and flags"))
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetInterface(
    p_name: CK_UTF8CHAR_PTR,
    p_version: CK_VERSION_PTR,
    pp_interface: CK_INTERFACE_PTR_PTR,
    flags: CK_FLAGS,
) -> CK_RV {
    guard("C_GetInterface", || {
        let o = unsafe { out(pp_interface) }?;
        let i = unsafe { find_interface(p_name, p_version, flags) }?;
        *o = i as *const CK_INTERFACE as *mut CK_INTERFACE;
        Ok(())
    })
}
