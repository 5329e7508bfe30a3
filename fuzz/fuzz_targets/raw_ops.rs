//! Cryptographic operations through the RAW C function list (the module's
//! own `C_GetFunctionList`, linked in): random Init/Update/Final sequences of
//! encrypt, decrypt, digest, sign and verify with the input and output in the
//! same, overlapping or separate buffers, chunk lengths around the block
//! size, length queries and too-small buffers on the way. Checked
//! differentially against the single-part answer with separate buffers:
//!
//! - both succeed with the same bytes (randomized mechanisms: what one
//!   produces, the other decrypts), or both fail;
//! - a length query's answer is enough for the call that follows;
//! - `CKR_BUFFER_TOO_SMALL` keeps the operation, and any other error ends it
//!   (the next Init succeeds).
//!
//! One token per process: config in a temp dir through `$KEYWARD_CONF`
//! (never C_Initialize's `pReserved`), fast PBKDF2, audit off.
//!
//! Input: `[mech, flags, len, data[len], (chunk, control)*]`.
#![no_main]
use keyward::ck::*;
use libfuzzer_sys::fuzz_target;
use std::ptr::null_mut;
use std::sync::LazyLock;

unsafe extern "C" {
    /// The module's entry point (src/abi/tables.rs), linked from the crate.
    fn C_GetFunctionList(pp: CK_FUNCTION_LIST_PTR_PTR) -> CK_RV;
}

const SO: &[u8] = b"so-pin-fuzz";
const USER: &[u8] = b"user-pin-fuzz";
const KEY: [u8; 32] = *b"raw-ops fuzz target AES-256 key!";
const IV: [u8; 16] = *b"cbc iv for fuzz.";
const GCM_IV: [u8; 12] = *b"gcm iv fuzz!";
const AAD: &[u8] = b"aad";
const CKM_KEYWARD_AES_GCM: CK_MECHANISM_TYPE = CKM_VENDOR_DEFINED | 0x4B57_0001;
/// Where the input starts in the shared buffer (room for outputs before it).
const AT: usize = 32;

struct Module {
    f: &'static CK_FUNCTION_LIST,
    h: CK_SESSION_HANDLE,
    aes: CK_OBJECT_HANDLE,
    mac: CK_OBJECT_HANDLE,
}

// SAFETY: the function list is a static of the module; the handles are plain integers.
unsafe impl Sync for Module {}
unsafe impl Send for Module {}

macro_rules! call {
    ($m:expr, $name:ident $(, $arg:expr)* $(,)?) => {
        // SAFETY: every pointer passed points into live buffers of at least
        // the lengths given beside it (or is NULL where the spec allows).
        unsafe { ($m.f.$name.expect(stringify!($name)))($($arg),*) }
    };
}

fn attr<T>(ty: CK_ATTRIBUTE_TYPE, v: &T) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE { type_: ty, pValue: v as *const T as *mut _, ulValueLen: std::mem::size_of::<T>() as CK_ULONG }
}

static M: LazyLock<Module> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("keyward-fuzz-raw-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let conf = dir.join("keyward.toml");
    std::fs::write(
        &conf,
        format!(
            "[policy]\npbkdf2_iterations = 1\nmax_pin_attempts = 1000000\n[audit]\nenabled = false\n[[slot]]\npath = \"{}\"\n",
            dir.join("token").display()
        ),
    )
    .expect("config");
    // SAFETY: set before the module reads it, before any other thread runs.
    unsafe { std::env::set_var("KEYWARD_CONF", &conf) };
    let mut list: CK_FUNCTION_LIST_PTR = null_mut();
    // SAFETY: fills `list` with the module's static table.
    assert_eq!(unsafe { C_GetFunctionList(&mut list) }, CKR_OK);
    // SAFETY: a static of the module.
    let f: &'static CK_FUNCTION_LIST = unsafe { &*list };
    let mut m = Module { f, h: 0, aes: 0, mac: 0 };
    let mut args = CK_C_INITIALIZE_ARGS {
        CreateMutex: None,
        DestroyMutex: None,
        LockMutex: None,
        UnlockMutex: None,
        flags: CKF_OS_LOCKING_OK | CKF_LIBRARY_CANT_CREATE_OS_THREADS,
        pReserved: null_mut(),
    };
    assert_eq!(call!(m, C_Initialize, &mut args as *mut _ as *mut _), CKR_OK);
    let mut label = [b' '; 32];
    assert_eq!(call!(m, C_InitToken, 0, SO.as_ptr() as *mut _, SO.len() as _, label.as_mut_ptr()), CKR_OK);
    let mut h = 0;
    assert_eq!(call!(m, C_OpenSession, 0, CKF_SERIAL_SESSION | CKF_RW_SESSION, null_mut(), None, &mut h), CKR_OK);
    assert_eq!(call!(m, C_Login, h, CKU_SO, SO.as_ptr() as *mut _, SO.len() as _), CKR_OK);
    assert_eq!(call!(m, C_InitPIN, h, USER.as_ptr() as *mut _, USER.len() as _), CKR_OK);
    assert_eq!(call!(m, C_Logout, h), CKR_OK);
    assert_eq!(call!(m, C_Login, h, CKU_USER, USER.as_ptr() as *mut _, USER.len() as _), CKR_OK);
    m.h = h;
    let tru: CK_BBOOL = 1;
    let fals: CK_BBOOL = 0;
    let class = CKO_SECRET_KEY;
    for (kt, out) in [(CKK_AES, &mut m.aes as *mut CK_OBJECT_HANDLE), (CKK_GENERIC_SECRET, &mut m.mac as *mut _)] {
        let t = [
            attr(CKA_CLASS, &class),
            attr(CKA_KEY_TYPE, &kt),
            CK_ATTRIBUTE { type_: CKA_VALUE, pValue: KEY.as_ptr() as *mut _, ulValueLen: 32 },
            attr(CKA_ENCRYPT, &tru),
            attr(CKA_DECRYPT, &tru),
            attr(CKA_SIGN, &tru),
            attr(CKA_VERIFY, &tru),
            attr(CKA_TOKEN, &fals),
        ];
        let mut o = 0;
        assert_eq!(call!(m, C_CreateObject, h, t.as_ptr() as *mut _, t.len() as _, &mut o), CKR_OK);
        // SAFETY: `out` points at a field of `m`, alive here.
        unsafe { *out = o };
    }
    m
});

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Encrypt,
    Decrypt,
    Digest,
    Sign,
    Verify,
}

/// The mechanism (and its parameter, kept alive by the caller).
struct Mech {
    ty: CK_MECHANISM_TYPE,
    ctr: CK_AES_CTR_PARAMS,
    gcm: CK_GCM_PARAMS,
    /// Randomized output (compare by decrypting).
    random: bool,
}

impl Mech {
    fn new(ty: CK_MECHANISM_TYPE) -> Box<Mech> {
        Box::new(Mech {
            ty,
            ctr: CK_AES_CTR_PARAMS { ulCounterBits: 128, cb: IV },
            gcm: CK_GCM_PARAMS {
                pIv: GCM_IV.as_ptr() as *mut _,
                ulIvLen: 12,
                ulIvBits: 96,
                pAAD: AAD.as_ptr() as *mut _,
                ulAADLen: AAD.len() as _,
                ulTagBits: 128,
            },
            random: ty == CKM_KEYWARD_AES_GCM,
        })
    }
    fn ck(&mut self) -> CK_MECHANISM {
        let (p, n): (*mut std::ffi::c_void, usize) = match self.ty {
            CKM_AES_CBC | CKM_AES_CBC_PAD => (IV.as_ptr() as *mut _, 16),
            CKM_AES_CTR => (&mut self.ctr as *mut _ as *mut _, std::mem::size_of::<CK_AES_CTR_PARAMS>()),
            CKM_AES_GCM => (&mut self.gcm as *mut _ as *mut _, std::mem::size_of::<CK_GCM_PARAMS>()),
            _ => (null_mut(), 0),
        };
        CK_MECHANISM { mechanism: self.ty, pParameter: p, ulParameterLen: n as _ }
    }
}

fn init(m: &Module, kind: Kind, mech: &mut Mech) -> CK_RV {
    let mut ck = mech.ck();
    match kind {
        Kind::Encrypt => call!(m, C_EncryptInit, m.h, &mut ck, m.aes),
        Kind::Decrypt => call!(m, C_DecryptInit, m.h, &mut ck, m.aes),
        Kind::Digest => call!(m, C_DigestInit, m.h, &mut ck),
        Kind::Sign => call!(m, C_SignInit, m.h, &mut ck, m.mac),
        Kind::Verify => call!(m, C_VerifyInit, m.h, &mut ck, m.mac),
    }
}

/// Ends whatever operation of `kind` is left (Init with NULL mechanism).
fn cancel(m: &Module, kind: Kind) {
    let rv = match kind {
        Kind::Encrypt => call!(m, C_EncryptInit, m.h, null_mut(), 0),
        Kind::Decrypt => call!(m, C_DecryptInit, m.h, null_mut(), 0),
        Kind::Digest => call!(m, C_DigestInit, m.h, null_mut()),
        Kind::Sign => call!(m, C_SignInit, m.h, null_mut(), 0),
        Kind::Verify => call!(m, C_VerifyInit, m.h, null_mut(), 0),
    };
    assert!(rv == CKR_OK || rv == CKR_ARGUMENTS_BAD, "Init(NULL) {kind:?}: {rv:#x}");
}

/// After an error other than CKR_BUFFER_TOO_SMALL the operation is gone.
fn assert_ended(m: &Module, kind: Kind, mech: &mut Mech, what: &str) {
    assert_eq!(init(m, kind, mech), CKR_OK, "{kind:?}: {what} left the operation active");
    cancel(m, kind);
}

/// The single-part call; `out` NULL is a length query.
fn single(m: &Module, kind: Kind, i: *const u8, n: usize, o: *mut u8, len: &mut CK_ULONG) -> CK_RV {
    let d = i as *mut u8;
    match kind {
        Kind::Encrypt => call!(m, C_Encrypt, m.h, d, n as _, o, len),
        Kind::Decrypt => call!(m, C_Decrypt, m.h, d, n as _, o, len),
        Kind::Digest => call!(m, C_Digest, m.h, d, n as _, o, len),
        Kind::Sign => call!(m, C_Sign, m.h, d, n as _, o, len),
        Kind::Verify => unreachable!(),
    }
}

fn update(m: &Module, kind: Kind, i: *const u8, n: usize, o: *mut u8, len: &mut CK_ULONG) -> CK_RV {
    let d = i as *mut u8;
    match kind {
        Kind::Encrypt => call!(m, C_EncryptUpdate, m.h, d, n as _, o, len),
        Kind::Decrypt => call!(m, C_DecryptUpdate, m.h, d, n as _, o, len),
        Kind::Digest => {
            *len = 0;
            call!(m, C_DigestUpdate, m.h, d, n as _)
        }
        Kind::Sign => {
            *len = 0;
            call!(m, C_SignUpdate, m.h, d, n as _)
        }
        Kind::Verify => {
            *len = 0;
            call!(m, C_VerifyUpdate, m.h, d, n as _)
        }
    }
}

fn final_(m: &Module, kind: Kind, o: *mut u8, len: &mut CK_ULONG) -> CK_RV {
    match kind {
        Kind::Encrypt => call!(m, C_EncryptFinal, m.h, o, len),
        Kind::Decrypt => call!(m, C_DecryptFinal, m.h, o, len),
        Kind::Digest => call!(m, C_DigestFinal, m.h, o, len),
        Kind::Sign => call!(m, C_SignFinal, m.h, o, len),
        Kind::Verify => unreachable!(),
    }
}

/// The reference: single-part, separate buffers.
fn reference(m: &Module, kind: Kind, mech: &mut Mech, input: &[u8]) -> Result<Vec<u8>, CK_RV> {
    assert_eq!(init(m, kind, mech), CKR_OK);
    let mut out = vec![0u8; input.len() + 128];
    let mut len = out.len() as CK_ULONG;
    match single(m, kind, input.as_ptr(), input.len(), out.as_mut_ptr(), &mut len) {
        CKR_OK => {
            out.truncate(len as usize);
            Ok(out)
        }
        rv => {
            assert_ne!(rv, CKR_BUFFER_TOO_SMALL, "{kind:?} 0x{:x}: reference buffer too small", mech.ty);
            assert_ended(m, kind, mech, "a failed reference call");
            Err(rv)
        }
    }
}

/// One call that writes output, with the fuzzer's extras first: a length
/// query (its answer must suffice) and a too-small buffer (must keep the
/// operation). Returns (rv, bytes written at `o`).
fn with_extras(
    control: u8,
    o: *mut u8,
    cap: usize,
    mut call: impl FnMut(*mut u8, &mut CK_ULONG) -> CK_RV,
) -> (CK_RV, usize, Option<usize>) {
    let mut bound = None;
    if control & 2 != 0 {
        let mut len: CK_ULONG = 0;
        let rv = call(null_mut(), &mut len);
        if rv != CKR_OK {
            return (rv, 0, None);
        }
        bound = Some(len as usize);
    }
    if control & 4 != 0 {
        let mut len: CK_ULONG = (control >> 4) as CK_ULONG % 3;
        let rv = call(o, &mut len);
        if rv != CKR_BUFFER_TOO_SMALL {
            return (rv, len as usize, bound);
        }
        assert!(len as usize <= cap, "needed length {len} beyond any sane bound");
    }
    let mut len = cap as CK_ULONG;
    let rv = call(o, &mut len);
    (rv, len as usize, bound)
}

/// The operation under test: `steps` of (chunk, control); returns the whole
/// output or the first error. Output goes into the stream inside `buf`
/// (at `AT + d + written so far`) or into a separate scratch buffer, per step.
fn under_test(
    m: &Module,
    kind: Kind,
    mech: &mut Mech,
    input: &[u8],
    multipart: bool,
    d: isize,
    steps: &[u8],
) -> Result<Vec<u8>, CK_RV> {
    assert_eq!(init(m, kind, mech), CKR_OK);
    let mut buf = vec![0x5au8; AT + input.len() + 256];
    buf[AT..AT + input.len()].copy_from_slice(input);
    let mut scratch = vec![0u8; input.len() + 256];
    let end = buf.len();
    let base = buf.as_mut_ptr();
    let sbase = scratch.as_mut_ptr();
    let mut result = Vec::new();
    let ty = mech.ty;
    let fail = |rv: CK_RV, mech: &mut Mech, what: &str| -> Result<Vec<u8>, CK_RV> {
        assert_ne!(rv, CKR_BUFFER_TOO_SMALL, "{kind:?} 0x{ty:x}: {what} too small with a big buffer");
        assert_ended(m, kind, mech, what);
        Err(rv)
    };
    if !multipart {
        let control = steps.get(1).copied().unwrap_or(0);
        let separate = control & 1 != 0;
        let at_out = (AT as isize + d) as usize;
        let (o, cap) = if separate { (sbase, scratch.len()) } else { (base.wrapping_add(at_out), end - at_out) };
        let (rv, w, bound) =
            with_extras(control, o, cap, |o, len| single(m, kind, base.wrapping_add(AT), input.len(), o, len));
        if rv != CKR_OK {
            return fail(rv, mech, "single-part");
        }
        if let Some(b) = bound {
            assert!(w <= b, "{kind:?} 0x{ty:x}: wrote {w} after a length query of {b}");
        }
        // SAFETY: `o` + `w` lies inside `buf` or `scratch` (w <= cap).
        result.extend_from_slice(unsafe { std::slice::from_raw_parts(o, w) });
        return Ok(result);
    }
    // Multi-part: the output stream runs at or behind the input (d <= 0).
    let d = -d.abs();
    let (mut rp, mut wp) = (AT, (AT as isize + d) as usize);
    let mut i = 0;
    while rp < AT + input.len() {
        let chunk = steps.get(i).map_or(usize::MAX, |c| *c as usize % 50);
        let control = steps.get(i + 1).copied().unwrap_or(0);
        i += 2;
        let n = chunk.min(AT + input.len() - rp);
        let separate = control & 1 != 0;
        let (o, cap) = if separate { (sbase, scratch.len()) } else { (base.wrapping_add(wp), end - wp) };
        let input_at = base.wrapping_add(rp);
        let (rv, w, bound) = if matches!(kind, Kind::Encrypt | Kind::Decrypt) {
            with_extras(control, o, cap, |o, len| update(m, kind, input_at, n, o, len))
        } else {
            // No output: no length query (the call would consume the data).
            let mut len = 0;
            (update(m, kind, input_at, n, o, &mut len), 0, None)
        };
        if rv != CKR_OK {
            return fail(rv, mech, "Update");
        }
        if let Some(b) = bound {
            assert!(w <= b, "{kind:?} 0x{ty:x}: Update wrote {w} after a length query of {b}");
        }
        // SAFETY: as above.
        result.extend_from_slice(unsafe { std::slice::from_raw_parts(o, w) });
        rp += n;
        if !separate {
            wp += w;
        }
        // An Update never returns more than the input so far: the stream
        // never overwrites input not yet passed in.
        assert!(wp <= rp, "{kind:?} 0x{ty:x}: the output stream overtook the input");
    }
    if kind == Kind::Verify {
        return Ok(result);
    }
    let control = steps.get(i + 1).copied().unwrap_or(0);
    let separate = control & 1 != 0;
    let (o, cap) = if separate { (sbase, scratch.len()) } else { (base.wrapping_add(wp), end - wp) };
    let (rv, w, bound) = with_extras(control, o, cap, |o, len| final_(m, kind, o, len));
    if rv != CKR_OK {
        return fail(rv, mech, "Final");
    }
    if let Some(b) = bound {
        assert!(w <= b, "{kind:?} 0x{ty:x}: Final wrote {w} after a length query of {b}");
    }
    // SAFETY: as above.
    result.extend_from_slice(unsafe { std::slice::from_raw_parts(o, w) });
    Ok(result)
}

const MECHS: [CK_MECHANISM_TYPE; 12] = [
    CKM_AES_ECB,
    CKM_AES_CBC,
    CKM_AES_CBC_PAD,
    CKM_AES_CTR,
    CKM_AES_GCM,
    CKM_AES_KEY_WRAP,
    CKM_AES_KEY_WRAP_KWP,
    CKM_KEYWARD_AES_GCM,
    CKM_SHA256,
    CKM_SHA_1,
    CKM_SHA256_HMAC,
    CKM_SHA512_HMAC,
];

fuzz_target!(|data: &[u8]| {
    let m = &*M;
    let [sel, flags, len, rest @ ..] = data else { return };
    let n = (*len as usize).min(rest.len());
    let (input, steps) = rest.split_at(n);
    let mut mech = Mech::new(MECHS[*sel as usize % MECHS.len()]);
    let second = flags & 1 != 0;
    let kind = match mech.ty {
        CKM_SHA256 | CKM_SHA_1 => Kind::Digest,
        CKM_SHA256_HMAC | CKM_SHA512_HMAC if second => Kind::Verify,
        CKM_SHA256_HMAC | CKM_SHA512_HMAC => Kind::Sign,
        _ if second => Kind::Decrypt,
        _ => Kind::Encrypt,
    };
    let multipart = flags & 4 != 0 || kind == Kind::Verify;
    let d = ((flags >> 3) % 33) as isize - 16;

    match kind {
        Kind::Encrypt => {
            let want = reference(m, kind, &mut mech, input);
            let got = under_test(m, kind, &mut mech, input, multipart, d, steps);
            match (&want, &got) {
                (Ok(w), Ok(g)) if mech.random => {
                    // Each decrypts (separate buffers) to the input.
                    let back = reference(m, Kind::Decrypt, &mut mech, g).expect("decrypt what was encrypted");
                    assert_eq!(back, input, "0x{:x}: randomized ciphertext does not decrypt", mech.ty);
                    assert_eq!(reference(m, Kind::Decrypt, &mut mech, w).expect("decrypt"), input);
                }
                (Ok(w), Ok(g)) => assert_eq!(g, w, "0x{:x}: output differs from separate buffers", mech.ty),
                (Err(_), Err(_)) => {}
                _ => panic!("0x{:x} encrypt: single-part {:?} vs under test {:?}", mech.ty, want.err(), got.err()),
            }
        }
        Kind::Decrypt => {
            // flags bit 1: decrypt a valid ciphertext of the input, else the raw bytes.
            let ct = if flags & 2 != 0 { reference(m, Kind::Encrypt, &mut mech, input).ok() } else { None };
            let ct = ct.unwrap_or_else(|| input.to_vec());
            let want = reference(m, kind, &mut mech, &ct);
            let got = under_test(m, kind, &mut mech, &ct, multipart, d, steps);
            match (&want, &got) {
                (Ok(w), Ok(g)) => assert_eq!(g, w, "0x{:x}: decryption differs from separate buffers", mech.ty),
                (Err(_), Err(_)) => {}
                _ => panic!("0x{:x} decrypt: single-part {:?} vs under test {:?}", mech.ty, want.err(), got.err()),
            }
            if flags & 2 != 0 && ct != input {
                assert_eq!(want.as_deref().ok(), Some(input), "0x{:x}: does not decrypt back", mech.ty);
            }
        }
        Kind::Digest | Kind::Sign => {
            let want = reference(m, kind, &mut mech, input).expect("digest/MAC of any input");
            let got = under_test(m, kind, &mut mech, input, multipart, d, steps).expect("digest/MAC");
            assert_eq!(got, want, "0x{:x}: differs from separate buffers", mech.ty);
        }
        Kind::Verify => {
            let mac = reference(m, Kind::Sign, &mut mech, input).expect("MAC");
            for (sig, ok) in [
                (mac.clone(), true),
                (
                    {
                        let mut bad = mac.clone();
                        bad[0] ^= 1 << (flags >> 5);
                        bad
                    },
                    false,
                ),
            ] {
                // Multi-part (chunks of the fuzzer) then Final with the signature.
                assert!(under_test(m, kind, &mut mech, input, true, 0, steps).is_ok());
                let rv = call!(m, C_VerifyFinal, m.h, sig.as_ptr() as *mut _, sig.len() as _);
                assert_eq!(rv == CKR_OK, ok, "0x{:x}: C_VerifyFinal {rv:#x}", mech.ty);
                assert_ended(m, kind, &mut mech, "C_VerifyFinal");
                // Single-part, the signature inside the data buffer.
                let mut buf = input.to_vec();
                buf.extend_from_slice(&sig);
                assert_eq!(init(m, kind, &mut mech), CKR_OK);
                let p = buf.as_mut_ptr();
                let rv = call!(m, C_Verify, m.h, p, input.len() as _, p.wrapping_add(input.len()), sig.len() as _);
                assert_eq!(rv == CKR_OK, ok, "0x{:x}: C_Verify {rv:#x}", mech.ty);
                assert_ended(m, kind, &mut mech, "C_Verify");
            }
        }
    }
    for k in [Kind::Encrypt, Kind::Decrypt, Kind::Digest, Kind::Sign, Kind::Verify] {
        cancel(m, k);
    }
});
