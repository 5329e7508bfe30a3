//! Hostile C callers, through the raw function list: NULL pointers, absurd
//! lengths, bad handles, calls before C_Initialize. Every call gets a spec
//! CK_RV and the module keeps working afterwards.

mod common;
use pkcs11_sys::*;
use std::ptr::{null, null_mut};

struct Raw {
    _lib: libloading::Library,
    f: &'static CK_FUNCTION_LIST,
}

fn raw() -> Raw {
    // SAFETY: loading our own module; its initializers are benign.
    let lib = unsafe { libloading::Library::new(common::module_path()) }.unwrap();
    let mut list: CK_FUNCTION_LIST_PTR = null_mut();
    // SAFETY: C_GetFunctionList has this signature and fills `list`.
    unsafe {
        let get: libloading::Symbol<unsafe extern "C" fn(CK_FUNCTION_LIST_PTR_PTR) -> CK_RV> =
            lib.get(b"C_GetFunctionList").unwrap();
        assert_eq!(get(&mut list), CKR_OK);
        assert_eq!(get(null_mut()), CKR_ARGUMENTS_BAD);
    }
    // SAFETY: the list is a static of the module, which is never unloaded (-z nodelete).
    Raw { _lib: lib, f: unsafe { &*list } }
}

#[test]
fn null_pointers_absurd_lengths_and_bad_handles() {
    let r = raw();
    let f = r.f;
    let dir = tempfile::tempdir().unwrap();
    let conf = common::write_config(dir.path(), "");
    common::set_conf(conf.to_str().unwrap());
    // SAFETY: every call below passes arguments the spec allows a caller to pass,
    // including the NULLs and lengths under test; out-pointers point at locals.
    unsafe {
        // Before C_Initialize.
        let mut count: CK_ULONG = 0;
        assert_eq!(f.C_GetSlotList.unwrap()(0, null_mut(), &mut count), CKR_CRYPTOKI_NOT_INITIALIZED);
        assert_eq!(f.C_Finalize.unwrap()(null_mut()), CKR_CRYPTOKI_NOT_INITIALIZED);
        // Locking cases: mutex functions without OS locking -> CANT_LOCK; some but not all -> ARGUMENTS_BAD.
        unsafe extern "C" fn create(_: CK_VOID_PTR_PTR) -> CK_RV {
            CKR_OK
        }
        unsafe extern "C" fn other(_: CK_VOID_PTR) -> CK_RV {
            CKR_OK
        }
        let mut args = CK_C_INITIALIZE_ARGS {
            CreateMutex: Some(create),
            DestroyMutex: Some(other),
            LockMutex: Some(other),
            UnlockMutex: Some(other),
            flags: 0,
            pReserved: null_mut(),
        };
        assert_eq!(f.C_Initialize.unwrap()(&mut args as *mut _ as *mut _), CKR_CANT_LOCK);
        args.LockMutex = None;
        assert_eq!(f.C_Initialize.unwrap()(&mut args as *mut _ as *mut _), CKR_ARGUMENTS_BAD);
        args.LockMutex = Some(other);
        args.flags = CKF_OS_LOCKING_OK;
        assert_eq!(f.C_Initialize.unwrap()(&mut args as *mut _ as *mut _), CKR_OK);
        assert_eq!(f.C_Initialize.unwrap()(&mut args as *mut _ as *mut _), CKR_CRYPTOKI_ALREADY_INITIALIZED);

        // Length queries and NULL out-pointers.
        assert_eq!(f.C_GetSlotList.unwrap()(0, null_mut(), &mut count), CKR_OK);
        assert_eq!(count, 1);
        assert_eq!(f.C_GetSlotList.unwrap()(0, null_mut(), null_mut()), CKR_ARGUMENTS_BAD);
        let mut slots = [0 as CK_SLOT_ID; 0];
        count = 0;
        assert_eq!(f.C_GetSlotList.unwrap()(0, slots.as_mut_ptr(), &mut count), CKR_BUFFER_TOO_SMALL);
        assert_eq!(count, 1);
        assert_eq!(f.C_GetInfo.unwrap()(null_mut()), CKR_ARGUMENTS_BAD);
        assert_eq!(f.C_GetTokenInfo.unwrap()(0, null_mut()), CKR_ARGUMENTS_BAD);
        let mut ti: CK_TOKEN_INFO = std::mem::zeroed();
        assert_eq!(f.C_GetTokenInfo.unwrap()(77, &mut ti), CKR_SLOT_ID_INVALID);
        assert_eq!(f.C_InitToken.unwrap()(0, b"so-pin-1234".as_ptr() as *mut _, 11, null_mut()), CKR_ARGUMENTS_BAD);
        let label = [b' '; 32];
        assert_eq!(f.C_InitToken.unwrap()(0, null_mut(), 11, label.as_ptr() as *mut _), CKR_ARGUMENTS_BAD);
        assert_eq!(f.C_InitToken.unwrap()(0, b"so-pin-1234".as_ptr() as *mut _, 11, label.as_ptr() as *mut _), CKR_OK);

        // Sessions.
        let mut h: CK_SESSION_HANDLE = 0;
        assert_eq!(f.C_OpenSession.unwrap()(0, CKF_SERIAL_SESSION, null_mut(), None, null_mut()), CKR_ARGUMENTS_BAD);
        assert_eq!(f.C_OpenSession.unwrap()(0, 0, null_mut(), None, &mut h), CKR_SESSION_PARALLEL_NOT_SUPPORTED);
        assert_eq!(f.C_OpenSession.unwrap()(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, null_mut(), None, &mut h), CKR_OK);
        assert_eq!(f.C_CloseSession.unwrap()(h + 1000), CKR_SESSION_HANDLE_INVALID);

        // Templates: NULL with a count, absurd counts, NULL value with a length.
        let mut obj: CK_OBJECT_HANDLE = 0;
        assert_eq!(f.C_CreateObject.unwrap()(h, null_mut(), 3, &mut obj), CKR_ARGUMENTS_BAD);
        let class: CK_ULONG = CKO_DATA;
        let mut t = [CK_ATTRIBUTE { type_: CKA_CLASS, pValue: &class as *const _ as *mut _, ulValueLen: 8 }];
        assert_eq!(f.C_CreateObject.unwrap()(h, t.as_mut_ptr(), 1 << 40, &mut obj), CKR_ARGUMENTS_BAD);
        assert_eq!(f.C_CreateObject.unwrap()(h, t.as_mut_ptr(), 1, null_mut()), CKR_ARGUMENTS_BAD);
        let mut bad = [CK_ATTRIBUTE { type_: CKA_LABEL, pValue: null_mut(), ulValueLen: 5 }];
        assert_eq!(f.C_CreateObject.unwrap()(h, bad.as_mut_ptr(), 1, &mut obj), CKR_ARGUMENTS_BAD);
        let mut huge = [CK_ATTRIBUTE { type_: CKA_LABEL, pValue: &class as *const _ as *mut _, ulValueLen: 1 << 40 }];
        assert_eq!(f.C_CreateObject.unwrap()(h, huge.as_mut_ptr(), 1, &mut obj), CKR_ARGUMENTS_BAD);
        assert_eq!(f.C_CreateObject.unwrap()(h, t.as_mut_ptr(), 1, &mut obj), CKR_OK);

        // C_GetAttributeValue: NULL pValue is a length query; small buffer -> UNAVAILABLE + BUFFER_TOO_SMALL.
        let mut q = [CK_ATTRIBUTE { type_: CKA_CLASS, pValue: null_mut(), ulValueLen: 0 }];
        assert_eq!(f.C_GetAttributeValue.unwrap()(h, obj, q.as_mut_ptr(), 1), CKR_OK);
        assert_eq!(q[0].ulValueLen, 8);
        let mut small = [0u8; 2];
        q[0].pValue = small.as_mut_ptr() as *mut _;
        q[0].ulValueLen = 2;
        assert_eq!(f.C_GetAttributeValue.unwrap()(h, obj, q.as_mut_ptr(), 1), CKR_BUFFER_TOO_SMALL);
        assert_eq!(q[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
        let mut inv = [CK_ATTRIBUTE { type_: CKA_MODULUS, pValue: null_mut(), ulValueLen: 0 }];
        assert_eq!(f.C_GetAttributeValue.unwrap()(h, obj, inv.as_mut_ptr(), 1), CKR_ATTRIBUTE_TYPE_INVALID);
        assert_eq!(f.C_GetAttributeValue.unwrap()(h, obj + 999, inv.as_mut_ptr(), 1), CKR_OBJECT_HANDLE_INVALID);

        // Operations: wrong state, NULL mechanism, NULL data with a length.
        let mut len: CK_ULONG = 16;
        let mut out = [0u8; 16];
        assert_eq!(
            f.C_Encrypt.unwrap()(h, out.as_mut_ptr(), 16, out.as_mut_ptr(), &mut len),
            CKR_OPERATION_NOT_INITIALIZED
        );
        assert_eq!(f.C_EncryptInit.unwrap()(h, null_mut(), obj), CKR_ARGUMENTS_BAD);
        assert_eq!(f.C_DigestInit.unwrap()(h, null_mut()), CKR_ARGUMENTS_BAD);
        let mut mech = CK_MECHANISM { mechanism: CKM_SHA256, pParameter: null_mut(), ulParameterLen: 0 };
        assert_eq!(f.C_DigestInit.unwrap()(h, &mut mech), CKR_OK);
        assert_eq!(f.C_DigestInit.unwrap()(h, &mut mech), CKR_OPERATION_ACTIVE);
        // A refused argument ends the operation (PKCS#11 2.40, C_Digest): the
        // next C_DigestInit starts a new one.
        assert_eq!(f.C_Digest.unwrap()(h, null_mut(), 10, null_mut(), &mut len), CKR_ARGUMENTS_BAD);
        assert_eq!(
            f.C_Digest.unwrap()(h, b"abc".as_ptr() as *mut _, 3, null_mut(), &mut len),
            CKR_OPERATION_NOT_INITIALIZED
        );
        assert_eq!(f.C_DigestInit.unwrap()(h, &mut mech), CKR_OK);
        assert_eq!(f.C_Digest.unwrap()(h, b"abc".as_ptr() as *mut _, 3, null_mut(), null_mut()), CKR_ARGUMENTS_BAD);
        assert_eq!(f.C_DigestInit.unwrap()(h, &mut mech), CKR_OK);
        assert_eq!(f.C_Digest.unwrap()(h, b"abc".as_ptr() as *mut _, 3, null_mut(), &mut len), CKR_OK);
        assert_eq!(len, 32);
        len = 4;
        assert_eq!(
            f.C_Digest.unwrap()(h, b"abc".as_ptr() as *mut _, 3, out.as_mut_ptr(), &mut len),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(len, 32);
        let mut d = [0u8; 32];
        len = 32;
        assert_eq!(f.C_Digest.unwrap()(h, b"abc".as_ptr() as *mut _, 3, d.as_mut_ptr(), &mut len), CKR_OK);
        assert_eq!(d[0], 0xba);
        assert_eq!(
            f.C_Digest.unwrap()(h, b"abc".as_ptr() as *mut _, 3, d.as_mut_ptr(), &mut len),
            CKR_OPERATION_NOT_INITIALIZED
        );
        // Find during find.
        assert_eq!(f.C_FindObjectsInit.unwrap()(h, null_mut(), 0), CKR_OK);
        assert_eq!(f.C_FindObjectsInit.unwrap()(h, null_mut(), 0), CKR_OPERATION_ACTIVE);
        assert_eq!(f.C_FindObjects.unwrap()(h, null_mut(), 10, &mut count), CKR_ARGUMENTS_BAD);
        assert_eq!(f.C_FindObjectsFinal.unwrap()(h), CKR_OK);
        // Unsupported functions answer, they do not crash.
        assert_eq!(f.C_SignRecoverInit.unwrap()(h, &mut mech, obj), CKR_FUNCTION_NOT_SUPPORTED);
        assert_eq!(f.C_GetFunctionStatus.unwrap()(h), CKR_FUNCTION_NOT_PARALLEL);
        assert_eq!(f.C_GenerateRandom.unwrap()(h, null_mut(), 8), CKR_ARGUMENTS_BAD);
        assert_eq!(f.C_GenerateRandom.unwrap()(h, out.as_mut_ptr(), 16), CKR_OK);

        // Still working; then finalize, and calls after it are refused.
        assert_eq!(f.C_CloseSession.unwrap()(h), CKR_OK);
        assert_eq!(f.C_Finalize.unwrap()(1 as CK_VOID_PTR), CKR_ARGUMENTS_BAD);
        assert_eq!(f.C_Finalize.unwrap()(null_mut()), CKR_OK);
        assert_eq!(
            f.C_OpenSession.unwrap()(0, CKF_SERIAL_SESSION, null_mut(), None, &mut h),
            CKR_CRYPTOKI_NOT_INITIALIZED
        );
        let _ = null::<u8>();
    }
}

/// Issue 14.4: the token has no protected authentication path, so a NULL
/// PIN is CKR_ARGUMENTS_BAD in every PIN-taking function, and a NULL-PIN
/// login is not a failed attempt (three of them would lock the PIN at the
/// test's max_pin_attempts = 3).
#[test]
fn a_null_pin_is_bad_arguments_and_never_counts() {
    let _t = common::initialized();
    let r = raw();
    let f = r.f;
    let user = common::USER_PIN.as_bytes();
    let so = common::SO_PIN.as_bytes();
    let pin_flags = CKF_USER_PIN_COUNT_LOW
        | CKF_USER_PIN_FINAL_TRY
        | CKF_USER_PIN_LOCKED
        | CKF_SO_PIN_COUNT_LOW
        | CKF_SO_PIN_FINAL_TRY
        | CKF_SO_PIN_LOCKED;
    // SAFETY: valid handles and out-pointers; the NULL PINs are the arguments under test.
    unsafe {
        let flags = || {
            let mut ti: CK_TOKEN_INFO = std::mem::zeroed();
            assert_eq!(f.C_GetTokenInfo.unwrap()(0, &mut ti), CKR_OK);
            ti.flags
        };
        assert_eq!(flags() & CKF_PROTECTED_AUTHENTICATION_PATH, 0);
        let mut h: CK_SESSION_HANDLE = 0;
        assert_eq!(f.C_OpenSession.unwrap()(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, null_mut(), None, &mut h), CKR_OK);
        let login = f.C_Login.unwrap();
        for _ in 0..3 {
            assert_eq!(login(h, CKU_USER, null_mut(), 0), CKR_ARGUMENTS_BAD);
        }
        assert_eq!(login(h, CKU_USER, null_mut(), user.len() as CK_ULONG), CKR_ARGUMENTS_BAD);
        assert_eq!(login(h, CKU_SO, null_mut(), 0), CKR_ARGUMENTS_BAD);
        assert_eq!(flags() & pin_flags, 0, "a NULL PIN was counted as a failed attempt");
        let label = [b' '; 32];
        assert_eq!(f.C_InitToken.unwrap()(0, null_mut(), 0, label.as_ptr() as *mut _), CKR_ARGUMENTS_BAD);
        let p = |b: &[u8]| b.as_ptr() as *mut CK_UTF8CHAR;
        assert_eq!(f.C_SetPIN.unwrap()(h, null_mut(), 0, p(b"new-pin-1"), 9), CKR_ARGUMENTS_BAD);
        assert_eq!(f.C_SetPIN.unwrap()(h, p(user), user.len() as CK_ULONG, null_mut(), 0), CKR_ARGUMENTS_BAD);
        // The SO's C_InitPIN with a NULL PIN leaves the user PIN alone.
        assert_eq!(login(h, CKU_SO, p(so), so.len() as CK_ULONG), CKR_OK);
        assert_eq!(f.C_InitPIN.unwrap()(h, null_mut(), 0), CKR_ARGUMENTS_BAD);
        assert_eq!(f.C_Logout.unwrap()(h), CKR_OK);
        // The right PIN still logs in, and nothing was counted.
        assert_eq!(login(h, CKU_USER, p(user), user.len() as CK_ULONG), CKR_OK);
        assert_eq!(flags() & pin_flags, 0);
        assert_eq!(f.C_Logout.unwrap()(h), CKR_OK);
        // The flag check can fail: one wrong PIN is counted.
        assert_eq!(login(h, CKU_USER, p(b"wrong-pin"), 9), CKR_PIN_INCORRECT);
        assert_ne!(flags() & CKF_USER_PIN_COUNT_LOW, 0);
    }
}

#[test]
fn interfaces_3_0() {
    let r = raw();
    // SAFETY: standard 3.0 entry points with valid out-pointers.
    unsafe {
        let lib = libloading::Library::new(common::module_path()).unwrap();
        let list: libloading::Symbol<unsafe extern "C" fn(CK_INTERFACE_PTR, CK_ULONG_PTR) -> CK_RV> =
            lib.get(b"C_GetInterfaceList").unwrap();
        let mut n: CK_ULONG = 0;
        assert_eq!(list(null_mut(), &mut n), CKR_OK);
        // 3.2 (the default), 3.0, 2.40.
        assert_eq!(n, 3);
        let get: libloading::Symbol<
            unsafe extern "C" fn(CK_UTF8CHAR_PTR, CK_VERSION_PTR, CK_INTERFACE_PTR_PTR, CK_FLAGS) -> CK_RV,
        > = lib.get(b"C_GetInterface").unwrap();
        let mut iface: CK_INTERFACE_PTR = null_mut();
        assert_eq!(get(null_mut(), null_mut(), &mut iface, 0), CKR_OK);
        let fl = &*((*iface).pFunctionList as *const CK_FUNCTION_LIST_3_0);
        assert_eq!((fl.version.major, fl.version.minor), (3, 2));
        let mut v30 = CK_VERSION { major: 3, minor: 0 };
        assert_eq!(get(c"PKCS 11".as_ptr() as *mut _, &mut v30, &mut iface, 0), CKR_OK);
        let fl30 = &*((*iface).pFunctionList as *const CK_FUNCTION_LIST_3_0);
        assert_eq!((fl30.version.major, fl30.version.minor), (3, 0));
        let mut v = CK_VERSION { major: 2, minor: 40 };
        assert_eq!(get(c"PKCS 11".as_ptr() as *mut _, &mut v, &mut iface, 0), CKR_OK);
        let fl2 = &*((*iface).pFunctionList as *const CK_FUNCTION_LIST);
        assert_eq!((fl2.version.major, fl2.version.minor), (2, 40));
        assert_eq!(get(c"Other".as_ptr() as *mut _, null_mut(), &mut iface, 0), CKR_ARGUMENTS_BAD);
    }
    let _ = r.f;
}

#[test]
fn forked_child_must_initialize_again() {
    let _t = common::initialized();
    let r = raw();
    let f = r.f;
    // SAFETY: fork in a test process; the child only calls the module's
    // exported functions and _exit.
    unsafe {
        let mut count: CK_ULONG = 0;
        assert_eq!(f.C_GetSlotList.unwrap()(0, null_mut(), &mut count), CKR_OK);
        let pid = libc::fork();
        if pid == 0 {
            let a = f.C_GetSlotList.unwrap()(0, null_mut(), &mut count);
            let mut args: CK_C_INITIALIZE_ARGS = std::mem::zeroed();
            // The child inherits $KEYWARD_CONF (set by common::initialized).
            args.flags = CKF_OS_LOCKING_OK;
            let b = f.C_Initialize.unwrap()(&mut args as *mut _ as *mut _);
            let c = f.C_GetSlotList.unwrap()(0, null_mut(), &mut count);
            let ok = a == CKR_CRYPTOKI_NOT_INITIALIZED && b == CKR_OK && c == CKR_OK;
            libc::_exit(if ok { 0 } else { 1 });
        }
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        assert_eq!(libc::WEXITSTATUS(status), 0, "child saw the parent's state or could not re-initialize");
        // The parent is unaffected.
        assert_eq!(f.C_GetSlotList.unwrap()(0, null_mut(), &mut count), CKR_OK);
    }
}

/// Calls every session function of the 2.40 list with `h` (valid output
/// pointers, a harmless mechanism, empty templates) and returns the CK_RVs.
///
/// # Safety
/// `f` is the module's function list.
unsafe fn every_session_call(f: &CK_FUNCTION_LIST, h: CK_SESSION_HANDLE) -> Vec<(&'static str, CK_RV)> {
    let mut mech = CK_MECHANISM { mechanism: CKM_SHA256, pParameter: null_mut(), ulParameterLen: 0 };
    let m: CK_MECHANISM_PTR = &mut mech;
    let mut buf = [0u8; 64];
    let b = buf.as_mut_ptr();
    let mut n: CK_ULONG = 64;
    let mut si: CK_SESSION_INFO = unsafe { std::mem::zeroed() };
    let mut obj: CK_OBJECT_HANDLE = 0;
    let mut obj2: CK_OBJECT_HANDLE = 0;
    let mut attrs: [CK_ATTRIBUTE; 0] = [];
    let t = attrs.as_mut_ptr();
    let pin = b"user-pin-1234".as_ptr() as *mut u8;
    let k: CK_OBJECT_HANDLE = 1;
    // SAFETY: every argument is valid for the call (buffers of `n` bytes,
    // zero-length templates, a mechanism without parameter).
    unsafe {
        vec![
            ("C_CloseSession", f.C_CloseSession.unwrap()(h)),
            ("C_GetSessionInfo", f.C_GetSessionInfo.unwrap()(h, &mut si)),
            ("C_GetOperationState", f.C_GetOperationState.unwrap()(h, b, &mut n)),
            ("C_SetOperationState", f.C_SetOperationState.unwrap()(h, b, 16, 0, 0)),
            ("C_Login", f.C_Login.unwrap()(h, CKU_USER, pin, 13)),
            ("C_Logout", f.C_Logout.unwrap()(h)),
            ("C_InitPIN", f.C_InitPIN.unwrap()(h, pin, 13)),
            ("C_SetPIN", f.C_SetPIN.unwrap()(h, pin, 13, pin, 13)),
            ("C_CreateObject", f.C_CreateObject.unwrap()(h, t, 0, &mut obj)),
            ("C_CopyObject", f.C_CopyObject.unwrap()(h, k, t, 0, &mut obj2)),
            ("C_DestroyObject", f.C_DestroyObject.unwrap()(h, k)),
            ("C_GetObjectSize", f.C_GetObjectSize.unwrap()(h, k, &mut n)),
            ("C_GetAttributeValue", f.C_GetAttributeValue.unwrap()(h, k, t, 0)),
            ("C_SetAttributeValue", f.C_SetAttributeValue.unwrap()(h, k, t, 0)),
            ("C_FindObjectsInit", f.C_FindObjectsInit.unwrap()(h, t, 0)),
            ("C_FindObjects", f.C_FindObjects.unwrap()(h, &mut obj, 1, &mut n)),
            ("C_FindObjectsFinal", f.C_FindObjectsFinal.unwrap()(h)),
            ("C_EncryptInit", f.C_EncryptInit.unwrap()(h, m, k)),
            ("C_Encrypt", f.C_Encrypt.unwrap()(h, b, 16, b, &mut n)),
            ("C_EncryptUpdate", f.C_EncryptUpdate.unwrap()(h, b, 16, b, &mut n)),
            ("C_EncryptFinal", f.C_EncryptFinal.unwrap()(h, b, &mut n)),
            ("C_DecryptInit", f.C_DecryptInit.unwrap()(h, m, k)),
            ("C_Decrypt", f.C_Decrypt.unwrap()(h, b, 16, b, &mut n)),
            ("C_DecryptUpdate", f.C_DecryptUpdate.unwrap()(h, b, 16, b, &mut n)),
            ("C_DecryptFinal", f.C_DecryptFinal.unwrap()(h, b, &mut n)),
            ("C_DigestInit", f.C_DigestInit.unwrap()(h, m)),
            ("C_Digest", f.C_Digest.unwrap()(h, b, 16, b, &mut n)),
            ("C_DigestUpdate", f.C_DigestUpdate.unwrap()(h, b, 16)),
            ("C_DigestKey", f.C_DigestKey.unwrap()(h, k)),
            ("C_DigestFinal", f.C_DigestFinal.unwrap()(h, b, &mut n)),
            ("C_SignInit", f.C_SignInit.unwrap()(h, m, k)),
            ("C_Sign", f.C_Sign.unwrap()(h, b, 16, b, &mut n)),
            ("C_SignUpdate", f.C_SignUpdate.unwrap()(h, b, 16)),
            ("C_SignFinal", f.C_SignFinal.unwrap()(h, b, &mut n)),
            ("C_SignRecoverInit", f.C_SignRecoverInit.unwrap()(h, m, k)),
            ("C_SignRecover", f.C_SignRecover.unwrap()(h, b, 16, b, &mut n)),
            ("C_VerifyInit", f.C_VerifyInit.unwrap()(h, m, k)),
            ("C_Verify", f.C_Verify.unwrap()(h, b, 16, b, 16)),
            ("C_VerifyUpdate", f.C_VerifyUpdate.unwrap()(h, b, 16)),
            ("C_VerifyFinal", f.C_VerifyFinal.unwrap()(h, b, 16)),
            ("C_VerifyRecoverInit", f.C_VerifyRecoverInit.unwrap()(h, m, k)),
            ("C_VerifyRecover", f.C_VerifyRecover.unwrap()(h, b, 16, b, &mut n)),
            ("C_DigestEncryptUpdate", f.C_DigestEncryptUpdate.unwrap()(h, b, 16, b, &mut n)),
            ("C_DecryptDigestUpdate", f.C_DecryptDigestUpdate.unwrap()(h, b, 16, b, &mut n)),
            ("C_SignEncryptUpdate", f.C_SignEncryptUpdate.unwrap()(h, b, 16, b, &mut n)),
            ("C_DecryptVerifyUpdate", f.C_DecryptVerifyUpdate.unwrap()(h, b, 16, b, &mut n)),
            ("C_GenerateKey", f.C_GenerateKey.unwrap()(h, m, t, 0, &mut obj)),
            ("C_GenerateKeyPair", f.C_GenerateKeyPair.unwrap()(h, m, t, 0, t, 0, &mut obj, &mut obj2)),
            ("C_WrapKey", f.C_WrapKey.unwrap()(h, m, k, k, b, &mut n)),
            ("C_UnwrapKey", f.C_UnwrapKey.unwrap()(h, m, k, b, 16, t, 0, &mut obj)),
            ("C_DeriveKey", f.C_DeriveKey.unwrap()(h, m, k, t, 0, &mut obj)),
            ("C_SeedRandom", f.C_SeedRandom.unwrap()(h, b, 16)),
            ("C_GenerateRandom", f.C_GenerateRandom.unwrap()(h, b, 16)),
            ("C_GetFunctionStatus", f.C_GetFunctionStatus.unwrap()(h)),
            ("C_CancelFunction", f.C_CancelFunction.unwrap()(h)),
        ]
    }
}

/// Functions keyward does not implement (spec: CKR_FUNCTION_NOT_SUPPORTED),
/// and the legacy parallel-function pair (CKR_FUNCTION_NOT_PARALLEL).
fn expected_for_bad_handle(name: &str) -> &'static [CK_RV] {
    match name {
        "C_SignRecoverInit"
        | "C_SignRecover"
        | "C_VerifyRecoverInit"
        | "C_VerifyRecover"
        | "C_DigestEncryptUpdate"
        | "C_DecryptDigestUpdate"
        | "C_SignEncryptUpdate"
        | "C_DecryptVerifyUpdate" => &[CKR_FUNCTION_NOT_SUPPORTED],
        "C_GetFunctionStatus" | "C_CancelFunction" => &[CKR_FUNCTION_NOT_PARALLEL],
        _ => &[CKR_SESSION_HANDLE_INVALID],
    }
}

#[test]
fn every_session_function_before_init_with_bad_handles_and_after_finalize() {
    let r = raw();
    let f = r.f;
    let dir = tempfile::tempdir().unwrap();
    let conf = common::write_config(dir.path(), "");
    common::set_conf(conf.to_str().unwrap());
    let mut args = CK_C_INITIALIZE_ARGS {
        CreateMutex: None,
        DestroyMutex: None,
        LockMutex: None,
        UnlockMutex: None,
        flags: CKF_OS_LOCKING_OK,
        pReserved: null_mut(),
    };
    // SAFETY: the calls pass valid arguments (see every_session_call).
    unsafe {
        // 1. Before C_Initialize: every function says so.
        let before = every_session_call(f, 1);
        assert_eq!(before.len(), 55);
        for (name, rv) in &before {
            assert_eq!(*rv, CKR_CRYPTOKI_NOT_INITIALIZED, "{name} before C_Initialize");
        }
        assert_eq!(f.C_Initialize.unwrap()(&mut args as *mut _ as *mut _), CKR_OK);
        // A real session, to check "another session's handle" and that the
        // module still works after each round.
        let mut h: CK_SESSION_HANDLE = 0;
        assert_eq!(f.C_OpenSession.unwrap()(0, CKF_SERIAL_SESSION, null_mut(), None, &mut h), CKR_OK);
        // 2. Invalid, closed and absurd handles.
        let mut closed: CK_SESSION_HANDLE = 0;
        assert_eq!(f.C_OpenSession.unwrap()(0, CKF_SERIAL_SESSION, null_mut(), None, &mut closed), CKR_OK);
        assert_eq!(f.C_CloseSession.unwrap()(closed), CKR_OK);
        for bad in [0, 0xBAD, closed, CK_ULONG::MAX, h + 1000] {
            for (name, rv) in every_session_call(f, bad) {
                assert!(expected_for_bad_handle(name).contains(&rv), "{name} with session handle {bad:#x}: {rv:#x}");
            }
            // The module keeps working: the real session answers.
            let mut si: CK_SESSION_INFO = std::mem::zeroed();
            assert_eq!(f.C_GetSessionInfo.unwrap()(h, &mut si), CKR_OK);
            let mut rnd = [0u8; 8];
            assert_eq!(f.C_GenerateRandom.unwrap()(h, rnd.as_mut_ptr(), 8), CKR_OK);
        }
        // 3. After C_Finalize: not initialized again, and it can come back.
        assert_eq!(f.C_Finalize.unwrap()(null_mut()), CKR_OK);
        for (name, rv) in every_session_call(f, h) {
            assert_eq!(rv, CKR_CRYPTOKI_NOT_INITIALIZED, "{name} after C_Finalize");
        }
        assert_eq!(f.C_Initialize.unwrap()(&mut args as *mut _ as *mut _), CKR_OK);
        assert_eq!(f.C_OpenSession.unwrap()(0, CKF_SERIAL_SESSION, null_mut(), None, &mut h), CKR_OK);
        assert_eq!(f.C_CloseSession.unwrap()(h), CKR_OK);
        assert_eq!(f.C_Finalize.unwrap()(null_mut()), CKR_OK);
    }
}
