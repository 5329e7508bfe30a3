//! Shared harness of the integration tests: each test gets a fresh token in
//! a temp dir and loads the built `libkeyward.so` through the C ABI with the
//! `cryptoki` crate, naming the config in `$KEYWARD_CONF` (C_Initialize's
//! `pReserved` must be NULL).
//!
//! The module is process-global, so run these tests one process per test
//! (`cargo nextest run`, as `scripts/test` does) or with `--test-threads=1`.
#![allow(dead_code)]

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use std::ffi::CString;
use std::path::PathBuf;

pub const SO_PIN: &str = "so-pin-1234";
pub const USER_PIN: &str = "user-pin-1234";

/// The module under test: `$KEYWARD_MODULE`, else the debug build.
pub fn module_path() -> PathBuf {
    if let Some(p) = std::env::var_os("KEYWARD_MODULE") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let debug = root.join("target/debug/libkeyward.so");
    if debug.exists() { debug } else { root.join("target/release/libkeyward.so") }
}

pub struct Token {
    pub dir: tempfile::TempDir,
    pub conf: CString,
    pub p11: Pkcs11,
    pub slot: Slot,
}

/// Writes a config for a fresh token under a temp dir (fast PBKDF2 for tests).
pub fn write_config(dir: &std::path::Path, extra_policy: &str) -> PathBuf {
    let conf = dir.join("keyward.toml");
    std::fs::write(
        &conf,
        format!(
            "[policy]\npbkdf2_iterations = 1000\nmax_pin_attempts = 3\n{extra_policy}\n[[slot]]\npath = \"{}\"\n{}",
            dir.join("token").display(),
            slot_store(&conf)
        ),
    )
    .expect("write config");
    conf
}

/// The store lines of a fresh token's `[[slot]]`: nothing (SQLite under the
/// slot's path), or with `$KEYWARD_TEST_STORE=postgres` a new schema on the
/// server of `scripts/pg-cluster` (`$KEYWARD_TEST_PG_URL`, `_CA`,
/// `_PASSWORD_FILE`), so the same test runs on either backend. A config
/// rewritten at `conf` keeps the schema it named (the same token).
#[allow(dead_code)]
pub fn slot_store(conf: &std::path::Path) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    // `$KEYWARD_TEST_RESIDENT=0`: the token is never held resident (every
    // object read from the store on first use, lookups by its columns).
    let resident = match std::env::var("KEYWARD_TEST_RESIDENT") {
        Ok(n) => format!("resident_objects = {}\n", n.parse::<u64>().expect("KEYWARD_TEST_RESIDENT: a number")),
        Err(_) => String::new(),
    };
    if std::env::var("KEYWARD_TEST_STORE").as_deref() != Ok("postgres") {
        return resident;
    }
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("KEYWARD_TEST_STORE=postgres needs ${k}"));
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let old = std::fs::read_to_string(conf).ok().and_then(|t| {
        t.lines().find_map(|l| l.strip_prefix("schema = \"").and_then(|r| r.strip_suffix('"')).map(str::to_string))
    });
    let schema =
        old.unwrap_or_else(|| format!("it_{}_{}_{nanos}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    format!(
        "{resident}store = \"postgres\"\nurl = \"{}\"\nschema = \"{schema}\"\npassword_file = \"{}\"\nca_file = \"{}\"\n",
        var("KEYWARD_TEST_PG_URL"),
        var("KEYWARD_TEST_PG_PASSWORD_FILE"),
        var("KEYWARD_TEST_PG_CA"),
    )
}

/// Points `$KEYWARD_CONF` at `conf` and returns the C_Initialize arguments
/// (OS locking, NULL `pReserved`) for a module initialized on it.
pub fn init_args(conf: &std::ffi::CStr) -> CInitializeArgs {
    set_conf(conf.to_str().expect("UTF-8 config path"));
    CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)
}

/// Sets `$KEYWARD_CONF` in this test process.
pub fn set_conf(path: &str) {
    // SAFETY: nextest runs one process per test and the test sets this
    // before C_Initialize, the only place the module reads it; no other
    // thread of the test changes the environment at the same time.
    unsafe { std::env::set_var("KEYWARD_CONF", path) };
}

/// Loads and initializes the module on the config at `conf`.
pub fn load(conf: &CString) -> Pkcs11 {
    let p11 = Pkcs11::new(module_path()).expect("load libkeyward.so (build it first: cargo build)");
    p11.initialize(init_args(conf)).expect("C_Initialize");
    p11
}

/// A fresh, uninitialized token.
pub fn blank_with(extra_policy: &str) -> Token {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write_config(dir.path(), extra_policy);
    let conf = CString::new(conf.display().to_string()).expect("path");
    let p11 = load(&conf);
    let slot = p11.get_all_slots().expect("slots")[0];
    Token { dir, conf, p11, slot }
}

pub fn blank() -> Token {
    blank_with("")
}

/// A fresh token with SO and user PINs set.
pub fn initialized() -> Token {
    initialized_with("")
}

/// A fresh token with SO and user PINs set, `extra_policy` appended to
/// its configuration (see [`write_config`]).
pub fn initialized_with(extra_policy: &str) -> Token {
    let t = blank_with(extra_policy);
    t.p11.init_token(t.slot, &pin(SO_PIN), "test").expect("C_InitToken");
    let so = t.p11.open_rw_session(t.slot).expect("open");
    so.login(UserType::So, Some(&pin(SO_PIN))).expect("SO login");
    so.init_pin(&pin(USER_PIN)).expect("C_InitPIN");
    so.logout().expect("logout");
    t
}

pub fn pin(p: &str) -> AuthPin {
    AuthPin::new(p.to_string().into())
}

impl Token {
    /// A R/W session with the user logged in.
    pub fn user_session(&self) -> Session {
        let s = self.p11.open_rw_session(self.slot).expect("open");
        s.login(UserType::User, Some(&pin(USER_PIN))).expect("user login");
        s
    }
}

/// A child process running only the test `name` of this test binary (the
/// worker side of the multi-process and SIGKILL tests).
pub fn test_worker(name: &str) -> std::process::Command {
    let mut c = std::process::Command::new(std::env::current_exe().expect("test binary path"));
    c.args([name, "--exact", "--nocapture", "--test-threads=1"]);
    c
}

/// The template of a 256-bit AES token key labelled (and identified) `label`
/// for encryption and decryption.
pub fn aes_token_key_template(label: &str) -> Vec<cryptoki::object::Attribute> {
    use cryptoki::object::Attribute;
    vec![
        Attribute::Token(true),
        Attribute::ValueLen(32.into()),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(label.as_bytes().to_vec()),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
    ]
}

/// The CK_RV inside a cryptoki error, for assertions.
/// A session AES-256 key that may wrap and unwrap.
pub fn session_kek(s: &Session) -> cryptoki::object::ObjectHandle {
    use cryptoki::object::Attribute;
    s.generate_key(
        &cryptoki::mechanism::Mechanism::AesKeyGen,
        &[Attribute::ValueLen(32.into()), Attribute::Wrap(true), Attribute::Unwrap(true)],
    )
    .unwrap()
}

pub fn rv(e: cryptoki::error::Error) -> cryptoki::error::RvError {
    match e {
        cryptoki::error::Error::Pkcs11(rv, _) => rv,
        other => panic!("expected a PKCS#11 error, got {other:?}"),
    }
}

/// The module's 2.40 function list, for raw C calls (hostile arguments
/// the `cryptoki` crate cannot pass).
pub struct Raw {
    _lib: libloading::Library,
    pub f: &'static pkcs11_sys::CK_FUNCTION_LIST,
}

pub fn raw() -> Raw {
    use pkcs11_sys::*;
    // SAFETY: loading our own module; its initializers are benign.
    let lib = unsafe { libloading::Library::new(module_path()) }.expect("load libkeyward.so");
    let mut list: CK_FUNCTION_LIST_PTR = std::ptr::null_mut();
    // SAFETY: C_GetFunctionList has this signature and fills `list`.
    unsafe {
        let get: libloading::Symbol<unsafe extern "C" fn(CK_FUNCTION_LIST_PTR_PTR) -> CK_RV> =
            lib.get(b"C_GetFunctionList").expect("C_GetFunctionList");
        assert_eq!(get(&mut list), CKR_OK);
    }
    // SAFETY: the list is a static of the module, which is never unloaded (-z nodelete).
    Raw { _lib: lib, f: unsafe { &*list } }
}

/// A vendor-defined attribute (keyward's CKA_KEYWARD_*).
pub fn vattr(ty: u64, v: Vec<u8>) -> cryptoki::object::Attribute {
    cryptoki::object::Attribute::VendorDefined((cryptoki::object::AttributeType::VendorDefined(ty), v))
}
pub fn vulong(ty: u64, v: u64) -> cryptoki::object::Attribute {
    vattr(ty, v.to_ne_bytes().to_vec())
}
pub fn vbool(ty: u64, v: bool) -> cryptoki::object::Attribute {
    vattr(ty, vec![v as u8])
}
/// The raw value of vendor attribute `ty` of object `h`.
pub fn get_raw(s: &Session, h: cryptoki::object::ObjectHandle, ty: u64) -> Vec<u8> {
    use cryptoki::object::{Attribute, AttributeType};
    match s.get_attributes(h, &[AttributeType::VendorDefined(ty)]).unwrap().pop() {
        Some(Attribute::VendorDefined((_, v))) => v,
        other => panic!("attribute 0x{ty:x}: {other:?}"),
    }
}
pub fn get_ulong(s: &Session, h: cryptoki::object::ObjectHandle, ty: u64) -> u64 {
    u64::from_ne_bytes(get_raw(s, h, ty).try_into().unwrap())
}

/// Whether this run puts tokens in PostgreSQL (`$KEYWARD_TEST_STORE`).
#[allow(dead_code)]
pub fn on_postgres() -> bool {
    std::env::var("KEYWARD_TEST_STORE").as_deref() == Ok("postgres")
}

/// A direct connection to the PostgreSQL schema of the (first) slot of
/// config `conf`, its `search_path` set there: for tests that read or edit
/// the store behind the module's back, as they do with the SQLite file.
#[allow(dead_code)]
pub fn pg_client(conf: &std::path::Path) -> postgres::Client {
    let text = std::fs::read_to_string(conf).expect("read config");
    let v: toml::Table = toml::from_str(&text).expect("config");
    let slot = &v["slot"].as_array().expect("[[slot]]")[0];
    let get = |k: &str| slot[k].as_str().unwrap_or_else(|| panic!("slot.{k}")).to_string();
    let mut cfg: postgres::Config = get("url").replace("sslmode=verify-full", "sslmode=require").parse().unwrap();
    cfg.password(std::fs::read_to_string(get("password_file")).unwrap().trim());
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    for c in CertificateDer::pem_file_iter(get("ca_file")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut c = cfg.connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls)).expect("connect to the test server");
    c.batch_execute(&format!("SET search_path TO {}", get("schema"))).unwrap();
    c
}

/// A session secret key of type `kt` with `value`, usable for derivation
/// and readable (not sensitive, extractable) unless `extra` says otherwise
/// (an attribute of `extra` replaces the default of its type).
pub fn secret_key(
    s: &Session,
    kt: cryptoki::object::KeyType,
    value: &[u8],
    extra: &[cryptoki::object::Attribute],
) -> cryptoki::object::ObjectHandle {
    use cryptoki::object::{Attribute, ObjectClass};
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(kt),
        Attribute::Token(false),
        Attribute::Value(value.to_vec()),
        Attribute::Derive(true),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
    ];
    for a in extra {
        t.retain(|b| b.attribute_type() != a.attribute_type());
        t.push(a.clone());
    }
    s.create_object(&t).unwrap()
}

/// The CKA_VALUE of `k` (which must be readable).
pub fn value(s: &Session, k: cryptoki::object::ObjectHandle) -> Vec<u8> {
    use cryptoki::object::{Attribute, AttributeType};
    match s.get_attributes(k, &[AttributeType::Value]).unwrap().pop() {
        Some(Attribute::Value(v)) => v,
        other => panic!("CKA_VALUE: {other:?}"),
    }
}

/// The template of a generic secret whose value the test may read
/// (derived, unwrapped, encapsulated keys).
pub fn readable_secret() -> Vec<cryptoki::object::Attribute> {
    use cryptoki::object::{Attribute, KeyType, ObjectClass};
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
    ]
}

/// Derives a readable generic secret (of `len` bytes, if given) from `base`
/// with `mech` and returns its value.
pub fn derive_value(
    s: &Session,
    mech: &cryptoki::mechanism::Mechanism,
    base: cryptoki::object::ObjectHandle,
    len: Option<u64>,
) -> cryptoki::error::Result<Vec<u8>> {
    let mut t = readable_secret();
    if let Some(l) = len {
        t.push(cryptoki::object::Attribute::ValueLen(l.into()));
    }
    let d = s.derive_key(mech, base, &t)?;
    Ok(value(s, d))
}

/// Runs the `keyward` CLI on `t` (its configuration, the user PIN) with
/// `KEYWARD_TEST_NOW` at `now` (`None`: unset): (success, stdout + stderr).
pub fn cli_at(t: &Token, args: &[&str], now: Option<i64>) -> (bool, String) {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"));
    c.args(args).env("KEYWARD_CONF", t.conf.to_str().unwrap()).env("KEYWARD_PIN", USER_PIN);
    match now {
        Some(n) => c.env("KEYWARD_TEST_NOW", n.to_string()),
        None => c.env_remove("KEYWARD_TEST_NOW"),
    };
    let out = c.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// [`cli_at`] with `KEYWARD_TEST_NOW` unset.
pub fn cli(t: &Token, args: &[&str]) -> (bool, String) {
    cli_at(t, args, None)
}

/// keyward's vendor attributes, mechanism and key states as a C caller
/// writes them (the numbers of the ABI, written out here on purpose rather
/// than taken from the crate).
pub mod vendor {
    const VD: u64 = 0x8000_0000;
    pub const CKA_KEYWARD_VERSION: u64 = VD | 0x4B57_0001;
    pub const CKA_KEYWARD_PRIMARY: u64 = VD | 0x4B57_0002;
    pub const CKA_KEYWARD_STATE: u64 = VD | 0x4B57_0003;
    pub const CKA_KEYWARD_DESTROY_AT: u64 = VD | 0x4B57_0004;
    pub const CKA_KEYWARD_ROTATION_PERIOD: u64 = VD | 0x4B57_0005;
    pub const CKA_KEYWARD_NEXT_ROTATION: u64 = VD | 0x4B57_0006;
    pub const CKA_KEYWARD_TAGS: u64 = VD | 0x4B57_0007;
    pub const CKA_KEYWARD_ORIGIN: u64 = VD | 0x4B57_0008;
    pub const CKA_KEYWARD_ROTATE: u64 = VD | 0x4B57_000B;
    pub const CKA_KEYWARD_ALL_VERSIONS: u64 = VD | 0x4B57_000C;
    pub const CKA_KEYWARD_KEY_ID: u64 = VD | 0x4B57_000E;
    pub const CKA_KEYWARD_COPY_OF: u64 = VD | 0x4B57_000F;
    pub const CKM_KEYWARD_AES_GCM: u64 = VD | 0x4B57_0001;
    /// CKA_KEYWARD_STATE values.
    pub const ENABLED: u64 = 1;
    pub const DISABLED: u64 = 2;
    pub const PENDING: u64 = 3;
}

/// C_LoginUser(session, user, pin, name) as a C caller makes it (cryptoki
/// 0.12 has no wrapper); returns the CK_RV.
pub fn c_login_user(s: &Session, user: pkcs11_sys::CK_USER_TYPE, pin: &str, name: &str) -> pkcs11_sys::CK_RV {
    use pkcs11_sys::{CK_RV, CK_SESSION_HANDLE, CK_ULONG, CK_USER_TYPE};
    type LoginUser =
        unsafe extern "C" fn(CK_SESSION_HANDLE, CK_USER_TYPE, *mut u8, CK_ULONG, *mut u8, CK_ULONG) -> CK_RV;
    // SAFETY: our own module, already loaded by the test's `Pkcs11`; never
    // unloaded (-z nodelete).
    let lib = unsafe { libloading::Library::new(module_path()) }.expect("module");
    // SAFETY: C_LoginUser has this signature (PKCS#11 3.0); the PIN and
    // name buffers outlive the call and are only read.
    unsafe {
        let f: libloading::Symbol<LoginUser> = lib.get(b"C_LoginUser").expect("C_LoginUser");
        let (mut p, mut n) = (pin.as_bytes().to_vec(), name.as_bytes().to_vec());
        f(s.handle(), user, p.as_mut_ptr(), p.len() as CK_ULONG, n.as_mut_ptr(), n.len() as CK_ULONG)
    }
}

/// [`c_login_user`] as a named user (`CKU_USER`), which must succeed.
pub fn login_as(s: &Session, pin: &str, name: &str) {
    assert_eq!(c_login_user(s, pkcs11_sys::CKU_USER, pin, name), 0, "C_LoginUser as {name}");
}
