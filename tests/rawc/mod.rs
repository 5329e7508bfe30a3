//! A raw C caller of the built module (no `cryptoki` in between), for the
//! tests that must pass pointers the safe bindings cannot express: the same
//! buffer as input and output, overlapping buffers, NULL lengths. The config
//! comes from `$KEYWARD_CONF` (never from C_Initialize's `pReserved`).
//!
//! One module instance per process: run these tests one process per test
//! (`cargo nextest run`).
#![allow(dead_code)]

use pkcs11_sys::*;
use std::ptr::null_mut;

pub const SO_PIN: &[u8] = b"so-pin-1234";
pub const USER_PIN: &[u8] = b"user-pin-1234";

pub struct Raw {
    _lib: libloading::Library,
    _dir: tempfile::TempDir,
    pub f: &'static CK_FUNCTION_LIST,
    /// A R/W session with the user logged in.
    pub h: CK_SESSION_HANDLE,
}

/// Calls a function of the list: `call!(r, C_Encrypt, args...)` (the test
/// crate declares `#[macro_use] mod rawc;`).
macro_rules! call {
    ($r:expr, $name:ident $(, $arg:expr)* $(,)?) => {
        // SAFETY: the test passes pointers valid for the lengths beside them
        // (or the NULLs under test).
        unsafe { ($r.f.$name.expect(stringify!($name)))($($arg),*) }
    };
}

pub fn attr<T>(ty: CK_ATTRIBUTE_TYPE, v: &T) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE { type_: ty, pValue: v as *const T as *mut _, ulValueLen: std::mem::size_of::<T>() as CK_ULONG }
}

pub fn attr_bytes(ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE { type_: ty, pValue: v.as_ptr() as *mut _, ulValueLen: v.len() as CK_ULONG }
}

pub const TRUE: CK_BBOOL = 1;
pub const FALSE: CK_BBOOL = 0;

impl Raw {
    /// Loads the module, initializes a fresh token (config in a temp dir via
    /// `$KEYWARD_CONF`) and opens a user session.
    pub fn open() -> Raw {
        Raw::open_with("")
    }

    /// As [`Raw::open`], with `extra_policy` lines in the config's `[policy]`.
    pub fn open_with(extra_policy: &str) -> Raw {
        let dir = tempfile::tempdir().unwrap();
        let conf = crate::common::write_config(dir.path(), extra_policy);
        // SAFETY: set before the module reads it, while the test is the only
        // thread using the environment.
        unsafe { std::env::set_var("KEYWARD_CONF", &conf) };
        // SAFETY: loading our own module; its initializers are benign.
        let lib = unsafe { libloading::Library::new(crate::common::module_path()) }.unwrap();
        let mut list: CK_FUNCTION_LIST_PTR = null_mut();
        // SAFETY: C_GetFunctionList has this signature and fills `list`; the
        // list is a static of the module, never unloaded (-z nodelete).
        let f: &'static CK_FUNCTION_LIST = unsafe {
            let get: libloading::Symbol<unsafe extern "C" fn(CK_FUNCTION_LIST_PTR_PTR) -> CK_RV> =
                lib.get(b"C_GetFunctionList").unwrap();
            assert_eq!(get(&mut list), CKR_OK);
            &*list
        };
        let mut r = Raw { _lib: lib, _dir: dir, f, h: 0 };
        assert_eq!(call!(r, C_Initialize, null_mut()), CKR_OK);
        let mut label = [b' '; 32];
        label[..4].copy_from_slice(b"test");
        assert_eq!(call!(r, C_InitToken, 0, SO_PIN.as_ptr() as *mut _, SO_PIN.len() as _, label.as_mut_ptr()), CKR_OK);
        let mut h = 0;
        let flags = CKF_SERIAL_SESSION | CKF_RW_SESSION;
        assert_eq!(call!(r, C_OpenSession, 0, flags, null_mut(), None, &mut h), CKR_OK);
        assert_eq!(call!(r, C_Login, h, CKU_SO, SO_PIN.as_ptr() as *mut _, SO_PIN.len() as _), CKR_OK);
        assert_eq!(call!(r, C_InitPIN, h, USER_PIN.as_ptr() as *mut _, USER_PIN.len() as _), CKR_OK);
        assert_eq!(call!(r, C_Logout, h), CKR_OK);
        assert_eq!(call!(r, C_Login, h, CKU_USER, USER_PIN.as_ptr() as *mut _, USER_PIN.len() as _), CKR_OK);
        r.h = h;
        r
    }

    /// A session secret key of `key_type` with the value `value`, usable for
    /// everything its type allows.
    pub fn secret(&self, key_type: CK_KEY_TYPE, value: &[u8]) -> CK_OBJECT_HANDLE {
        let class = CKO_SECRET_KEY;
        let t = [
            attr(CKA_CLASS, &class),
            attr(CKA_KEY_TYPE, &key_type),
            attr_bytes(CKA_VALUE, value),
            attr(CKA_ENCRYPT, &TRUE),
            attr(CKA_DECRYPT, &TRUE),
            attr(CKA_SIGN, &TRUE),
            attr(CKA_VERIFY, &TRUE),
            attr(CKA_TOKEN, &FALSE),
        ];
        self.create(&t).expect("C_CreateObject")
    }

    /// C_CreateObject with the template `t`.
    pub fn create(&self, t: &[CK_ATTRIBUTE]) -> Result<CK_OBJECT_HANDLE, CK_RV> {
        let mut o = 0;
        match call!(self, C_CreateObject, self.h, t.as_ptr() as *mut _, t.len() as _, &mut o) {
            CKR_OK => Ok(o),
            rv => Err(rv),
        }
    }

    /// C_DeriveKey from `base` with `m` and the template `t`.
    pub fn derive(
        &self,
        m: &mut CK_MECHANISM,
        base: CK_OBJECT_HANDLE,
        t: &[CK_ATTRIBUTE],
    ) -> Result<CK_OBJECT_HANDLE, CK_RV> {
        let mut o = 0;
        match call!(self, C_DeriveKey, self.h, m, base, t.as_ptr() as *mut _, t.len() as _, &mut o) {
            CKR_OK => Ok(o),
            rv => Err(rv),
        }
    }

    /// C_GenerateKeyPair with `m` and the two templates: (public, private).
    pub fn generate_pair(
        &self,
        m: &mut CK_MECHANISM,
        public: &[CK_ATTRIBUTE],
        private: &[CK_ATTRIBUTE],
    ) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE), CK_RV> {
        let (mut pu, mut pr) = (0, 0);
        let rv = call!(
            self,
            C_GenerateKeyPair,
            self.h,
            m,
            public.as_ptr() as *mut _,
            public.len() as _,
            private.as_ptr() as *mut _,
            private.len() as _,
            &mut pu,
            &mut pr
        );
        if rv == CKR_OK { Ok((pu, pr)) } else { Err(rv) }
    }

    pub fn aes(&self, value: &[u8]) -> CK_OBJECT_HANDLE {
        self.secret(CKK_AES, value)
    }

    /// A 2048-bit RSA session key pair (public, private).
    pub fn rsa(&self) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
        let bits: CK_ULONG = 2048;
        let pubt =
            [attr(CKA_MODULUS_BITS, &bits), attr(CKA_ENCRYPT, &TRUE), attr(CKA_VERIFY, &TRUE), attr(CKA_TOKEN, &FALSE)];
        let privt = [attr(CKA_DECRYPT, &TRUE), attr(CKA_SIGN, &TRUE), attr(CKA_TOKEN, &FALSE)];
        let mut m = CK_MECHANISM { mechanism: CKM_RSA_PKCS_KEY_PAIR_GEN, pParameter: null_mut(), ulParameterLen: 0 };
        self.generate_pair(&mut m, &pubt, &privt).expect("C_GenerateKeyPair")
    }
}
