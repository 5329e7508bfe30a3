//! C_Initialize through the raw function list: `pReserved` must be NULL and
//! is never dereferenced, whatever a caller puts there (issue 14.1: a
//! conformance tester's `pReserved = 1` used to crash the host in strlen);
//! the configuration comes from `$KEYWARD_CONF`; the four locking cases.

mod common;
use common::raw;
use pkcs11_sys::*;
use std::ptr::null_mut;

/// A temp token whose config names the slot `description`, set in
/// `$KEYWARD_CONF`.
fn config(description: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("keyward.toml");
    let text = format!(
        "[policy]\npbkdf2_iterations = 1000\n[[slot]]\npath = \"{}\"\ndescription = \"{description}\"\n",
        dir.path().join("token").display()
    );
    std::fs::write(&conf, text).unwrap();
    common::set_conf(conf.to_str().unwrap());
    dir
}

fn args(flags: CK_FLAGS, reserved: CK_VOID_PTR) -> CK_C_INITIALIZE_ARGS {
    CK_C_INITIALIZE_ARGS {
        CreateMutex: None,
        DestroyMutex: None,
        LockMutex: None,
        UnlockMutex: None,
        flags,
        pReserved: reserved,
    }
}

/// `n` fresh anonymous pages; the last `none` of them PROT_NONE.
fn pages(n: usize, none: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping owned by this test (never unmapped:
    // the test process ends soon after).
    unsafe {
        let page = libc::sysconf(libc::_SC_PAGESIZE) as usize;
        let p = libc::mmap(
            null_mut(),
            n * page,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        let p = p as *mut u8;
        std::ptr::write_bytes(p, b'A', (n - none) * page);
        if none > 0 {
            assert_eq!(libc::mprotect(p.add((n - none) * page) as *mut _, none * page, libc::PROT_NONE), 0);
        }
        p
    }
}

#[test]
fn reserved_pointers_are_refused_never_read() {
    let r = raw();
    let f = r.f;
    let _dir = config("initialize test slot");
    let unmapped = pages(1, 1) as CK_VOID_PTR;
    // A "string" that never ends: a page of 'A's right before a PROT_NONE
    // page, so reading it as a C string faults.
    let unterminated = pages(2, 1) as CK_VOID_PTR;
    // SAFETY: each CK_C_INITIALIZE_ARGS is a valid local; pReserved holds the
    // hostile values under test, which the module must not dereference.
    unsafe {
        let init = f.C_Initialize.unwrap();
        for (what, reserved) in [
            ("pReserved = 1", 1usize as CK_VOID_PTR),
            ("pReserved at an unmapped page", unmapped),
            ("pReserved at an unterminated string", unterminated),
            ("pReserved = all ones", usize::MAX as CK_VOID_PTR),
        ] {
            for flags in [0, CKF_OS_LOCKING_OK, CKF_OS_LOCKING_OK | CKF_LIBRARY_CANT_CREATE_OS_THREADS] {
                let mut a = args(flags, reserved);
                assert_eq!(init(&mut a as *mut _ as *mut _), CKR_ARGUMENTS_BAD, "{what}, flags {flags:#x}");
            }
        }
        // Nothing was initialized by the refused calls.
        let mut count: CK_ULONG = 0;
        assert_eq!(f.C_GetSlotList.unwrap()(0, null_mut(), &mut count), CKR_CRYPTOKI_NOT_INITIALIZED);
        // C_Initialize(NULL) works afterwards, on the config of $KEYWARD_CONF.
        assert_eq!(init(null_mut()), CKR_OK);
        assert_eq!(f.C_GetSlotList.unwrap()(0, null_mut(), &mut count), CKR_OK);
        assert_eq!(count, 1);
        let mut si: CK_SLOT_INFO = std::mem::zeroed();
        assert_eq!(f.C_GetSlotInfo.unwrap()(0, &mut si), CKR_OK);
        assert!(si.slotDescription.starts_with(b"initialize test slot"), "slot from $KEYWARD_CONF");
        // Refused while initialized too (the reserved check comes first), and
        // the module keeps working.
        let mut a = args(CKF_OS_LOCKING_OK, 1usize as CK_VOID_PTR);
        assert_eq!(init(&mut a as *mut _ as *mut _), CKR_ARGUMENTS_BAD);
        assert_eq!(f.C_GetSlotList.unwrap()(0, null_mut(), &mut count), CKR_OK);
        assert_eq!(f.C_Finalize.unwrap()(1usize as CK_VOID_PTR), CKR_ARGUMENTS_BAD);
        assert_eq!(f.C_Finalize.unwrap()(null_mut()), CKR_OK);
        // A zeroed CK_C_INITIALIZE_ARGS (NULL pReserved) is fine.
        let mut a = args(0, null_mut());
        assert_eq!(init(&mut a as *mut _ as *mut _), CKR_OK);
        assert_eq!(f.C_Finalize.unwrap()(null_mut()), CKR_OK);
    }
}

#[test]
fn the_four_locking_cases() {
    unsafe extern "C" fn create(_: CK_VOID_PTR_PTR) -> CK_RV {
        CKR_OK
    }
    unsafe extern "C" fn other(_: CK_VOID_PTR) -> CK_RV {
        CKR_OK
    }
    let r = raw();
    let f = r.f;
    let _dir = config("locking");
    // Bit i of `fns` supplies the i-th mutex function.
    let with = |flags: CK_FLAGS, fns: u32| {
        let mut a = args(flags, null_mut());
        a.CreateMutex = (fns & 1 != 0).then_some(create as unsafe extern "C" fn(CK_VOID_PTR_PTR) -> CK_RV);
        a.DestroyMutex = (fns & 2 != 0).then_some(other as unsafe extern "C" fn(CK_VOID_PTR) -> CK_RV);
        a.LockMutex = (fns & 4 != 0).then_some(other as unsafe extern "C" fn(CK_VOID_PTR) -> CK_RV);
        a.UnlockMutex = (fns & 8 != 0).then_some(other as unsafe extern "C" fn(CK_VOID_PTR) -> CK_RV);
        a
    };
    // SAFETY: valid local CK_C_INITIALIZE_ARGS with NULL pReserved.
    unsafe {
        let init = |mut a: CK_C_INITIALIZE_ARGS| f.C_Initialize.unwrap()(&mut a as *mut _ as *mut _);
        let finalize = || assert_eq!(f.C_Finalize.unwrap()(null_mut()), CKR_OK);
        // 1. No flag, no functions: the library may use OS locking.
        assert_eq!(init(with(0, 0)), CKR_OK);
        finalize();
        // 2. CKF_OS_LOCKING_OK, no functions.
        assert_eq!(init(with(CKF_OS_LOCKING_OK, 0)), CKR_OK);
        finalize();
        // 3. Functions without CKF_OS_LOCKING_OK: keyward cannot use them.
        assert_eq!(init(with(0, 0b1111)), CKR_CANT_LOCK);
        // 4. Functions and CKF_OS_LOCKING_OK: keyward locks with the OS.
        assert_eq!(init(with(CKF_OS_LOCKING_OK, 0b1111)), CKR_OK);
        finalize();
        // Every inconsistent set (some but not all four functions).
        for fns in 1..0b1111 {
            for flags in [0, CKF_OS_LOCKING_OK] {
                assert_eq!(init(with(flags, fns)), CKR_ARGUMENTS_BAD, "functions {fns:#06b}, flags {flags:#x}");
            }
        }
        // A consistent set with a non-NULL pReserved is still refused.
        let mut a = with(CKF_OS_LOCKING_OK, 0b1111);
        a.pReserved = 1usize as CK_VOID_PTR;
        assert_eq!(init(a), CKR_ARGUMENTS_BAD);
        assert_eq!(init(with(CKF_OS_LOCKING_OK, 0)), CKR_OK);
        finalize();
    }
}

/// Issue 14.8: the versions a client sees are the crate's semver (1.x, not
/// the 0.x that clients take for an ancient SoftHSM).
#[test]
fn versions_are_the_crate_version() {
    let r = raw();
    let f = r.f;
    let _dir = config("versions");
    let major: u8 = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap();
    let minor: u8 = env!("CARGO_PKG_VERSION_MINOR").parse().unwrap();
    assert!(major >= 1);
    // SAFETY: valid out-pointers.
    unsafe {
        assert_eq!(f.C_Initialize.unwrap()(null_mut()), CKR_OK);
        let mut info: CK_INFO = std::mem::zeroed();
        assert_eq!(f.C_GetInfo.unwrap()(&mut info), CKR_OK);
        assert_eq!((info.libraryVersion.major, info.libraryVersion.minor), (major, minor));
        assert_eq!((info.cryptokiVersion.major, info.cryptokiVersion.minor), (3, 0));
        let mut si: CK_SLOT_INFO = std::mem::zeroed();
        assert_eq!(f.C_GetSlotInfo.unwrap()(0, &mut si), CKR_OK);
        let mut ti: CK_TOKEN_INFO = std::mem::zeroed();
        assert_eq!(f.C_GetTokenInfo.unwrap()(0, &mut ti), CKR_OK);
        for v in [si.firmwareVersion, si.hardwareVersion, ti.firmwareVersion, ti.hardwareVersion] {
            assert_eq!((v.major, v.minor), (major, minor));
        }
        assert_eq!(f.C_Finalize.unwrap()(null_mut()), CKR_OK);
    }
}
