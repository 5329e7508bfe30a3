//! C_SeedRandom and C_GenerateRandom (issue 14.6): a seed is accepted
//! (CKR_OK, as SoftHSMv2 and kryoptic answer) and mixed in as DRBG
//! additional input; it never replaces the engine's entropy, so output
//! stays unpredictable, even in two processes seeded identically.

mod common;
use common::*;
use pkcs11_sys::*;
use std::ptr::null_mut;

const SEED: &[u8] = b"a fixed, publicly known seed: it must not make output repeatable";

#[test]
fn a_seed_is_accepted_and_output_stays_random() {
    let t = initialized();
    let s = t.p11.open_ro_session(t.slot).unwrap();
    let before = s.generate_random_vec(32).unwrap();
    s.seed_random(SEED).unwrap();
    let a = s.generate_random_vec(32).unwrap();
    s.seed_random(SEED).unwrap();
    let b = s.generate_random_vec(32).unwrap();
    assert!(a != b && a != before && b != before, "output repeated after seeding");
    assert_ne!(a, vec![0u8; 32]);
    // A large draw after seeding (several DRBG generate calls).
    let big = s.generate_random_vec(100_000).unwrap();
    assert_ne!(big[..32], big[big.len() - 32..]);
    // Another thread sees the pool and still gets fresh output.
    let other = || t.p11.open_ro_session(t.slot).unwrap().generate_random_vec(32).unwrap();
    let c = std::thread::scope(|sc| sc.spawn(other).join().unwrap());
    assert!(c != a && c != b);
    drop(s);

    let r = raw();
    let f = r.f;
    let mut h: CK_SESSION_HANDLE = 0;
    let mut out = [0u8; 16];
    // SAFETY: valid session handle and buffers; the NULL seed is the argument under test.
    unsafe {
        assert_eq!(f.C_OpenSession.unwrap()(0, CKF_SERIAL_SESSION, null_mut(), None, &mut h), CKR_OK);
        let seed = f.C_SeedRandom.unwrap();
        assert_eq!(seed(h, null_mut(), 16), CKR_ARGUMENTS_BAD);
        assert_eq!(seed(h, null_mut(), 0), CKR_OK, "an empty seed is a no-op");
        assert_eq!(seed(h, SEED.as_ptr() as *mut _, SEED.len() as CK_ULONG), CKR_OK);
        assert_eq!(seed(h + 1000, SEED.as_ptr() as *mut _, SEED.len() as CK_ULONG), CKR_SESSION_HANDLE_INVALID);
        assert_eq!(f.C_GenerateRandom.unwrap()(h, out.as_mut_ptr(), 16), CKR_OK);
        assert_ne!(out, [0u8; 16]);
        assert_eq!(f.C_CloseSession.unwrap()(h), CKR_OK);
    }

    // Two processes seeded identically, right after C_Initialize, draw
    // different bytes (and neither repeats this process's).
    let draw = || {
        let o = test_worker("seeded_worker").env("KW_SEEDED_CONF", t.conf.to_str().unwrap()).output().unwrap();
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        // libtest's "test seeded_worker ... " may precede it on the line.
        let line = text.split("RANDOM ").nth(1).and_then(|r| r.split_whitespace().next()).map(str::to_string);
        line.unwrap_or_else(|| panic!("worker printed no RANDOM line: {text}"))
    };
    let (p1, p2) = (draw(), draw());
    assert_eq!(p1.len(), 64);
    assert_ne!(p1, p2, "two processes seeded identically drew the same bytes");
    assert!(p1 != hex(&a) && p2 != hex(&a));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Worker of the test above: a fresh process that seeds with SEED and
/// prints 32 random bytes (does nothing unless KW_SEEDED_CONF is set).
#[test]
fn seeded_worker() {
    let Ok(conf) = std::env::var("KW_SEEDED_CONF") else { return };
    let p11 = load(&std::ffi::CString::new(conf).unwrap());
    let slot = p11.get_all_slots().unwrap()[0];
    let s = p11.open_ro_session(slot).unwrap();
    s.seed_random(SEED).unwrap();
    println!("RANDOM {}", hex(&s.generate_random_vec(32).unwrap()));
}
