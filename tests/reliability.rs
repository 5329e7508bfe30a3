//! Reliability (issue 8): many threads doing checked mixed operations,
//! several processes creating, rotating and destroying keys on one token,
//! SIGKILL during lifecycle operations, resource faults, and secrets
//! hygiene of the logs and files. Bounded in time; figures are printed
//! (run with `--no-capture` to see them) and recorded in RELIABILITY.md.
//!
//! Worker roles re-execute this test binary with an environment variable
//! naming the role; one process per test (`cargo nextest run`).

mod common;
use common::*;
use cryptoki::context::Pkcs11;
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use std::ffi::CString;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const VD: u64 = 0x8000_0000;
const CKA_KEYWARD_ROTATE: u64 = VD | 0x4B57_000B;
const CKA_KEYWARD_ALL_VERSIONS: u64 = VD | 0x4B57_000C;
const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

fn vbool(ty: u64, v: bool) -> Attribute {
    Attribute::VendorDefined((AttributeType::VendorDefined(ty), vec![v as u8]))
}

/// A config with `slots` token directories under `dir` and `extra` tables.
fn config(dir: &Path, slots: usize, extra: &str) -> CString {
    let mut c = format!("[policy]\npbkdf2_iterations = 1000\nmax_pin_attempts = 3\n{extra}\n");
    for i in 0..slots {
        // The store lines of slot i, fixed at the first config of `dir`.
        let f = dir.join(format!("slot{i}.store"));
        let store = std::fs::read_to_string(&f).unwrap_or_else(|_| {
            let l = common::slot_store(&f);
            std::fs::write(&f, &l).unwrap();
            l
        });
        c.push_str(&format!("[[slot]]\npath = \"{}\"\n{store}", dir.join(format!("token{i}")).display()));
    }
    let p = dir.join("keyward.toml");
    std::fs::write(&p, c).unwrap();
    CString::new(p.display().to_string()).unwrap()
}

fn init_slot(p11: &Pkcs11, slot: cryptoki::slot::Slot) {
    p11.init_token(slot, &pin(SO_PIN), "rel").unwrap();
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    s.init_pin(&pin(USER_PIN)).unwrap();
    s.logout().unwrap();
}

/// A fresh one-slot token (SO and user PINs set) with `extra` config tables.
fn fresh(extra: &str) -> (tempfile::TempDir, CString, Pkcs11, cryptoki::slot::Slot) {
    let dir = tempfile::tempdir().unwrap();
    let conf = config(dir.path(), 1, extra);
    let p11 = load(&conf);
    let slot = p11.get_all_slots().unwrap()[0];
    init_slot(&p11, slot);
    (dir, conf, p11, slot)
}

fn aes_token_key(s: &Session, label: &str) -> cryptoki::error::Result<ObjectHandle> {
    s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template(label))
}

fn gcm_round_trip(s: &Session, key: ObjectHandle, data: &[u8]) -> cryptoki::error::Result<()> {
    let mut iv = [7u8; 12];
    let ct = s.encrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, b"aad", 128.into())?), key, data)?;
    let mut iv = [7u8; 12];
    let pt = s.decrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, b"aad", 128.into())?), key, &ct)?;
    assert_eq!(pt, data, "GCM round trip returned other bytes");
    Ok(())
}

// ---- many threads, mixed operations, every result checked -------------------

#[test]
fn threads_stress_mixed_operations() {
    let dir = tempfile::tempdir().unwrap();
    let conf = config(dir.path(), 2, "[kms]\ndeletion_grace = \"0\"");
    let p11 = load(&conf);
    let slots = p11.get_all_slots().unwrap();
    for s in &slots {
        init_slot(&p11, *s);
    }
    let main = p11.open_rw_session(slots[0]).unwrap();
    main.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    // A shared token signing key.
    let (ec_pub, ec_priv) = main
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[Attribute::EcParams(P256.to_vec()), Attribute::Token(true), Attribute::Label(b"shared".to_vec())],
            &[Attribute::Token(true), Attribute::Sign(true), Attribute::Label(b"shared".to_vec())],
        )
        .unwrap();
    let stop = AtomicBool::new(false);
    let ops = AtomicU64::new(0);
    let logins = AtomicU64::new(0);
    let deadline = Duration::from_secs(4);
    std::thread::scope(|sc| {
        for t in 0..6u64 {
            let (p11, stop, ops) = (&p11, &stop, &ops);
            let slot = slots[0];
            sc.spawn(move || {
                let s = p11.open_rw_session(slot).unwrap();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    match (t + i) % 4 {
                        0 => {
                            // Session key: GCM round trip, destroy.
                            let k = s
                                .generate_key(
                                    &Mechanism::AesKeyGen,
                                    &[Attribute::ValueLen(32.into()), Attribute::Token(false)],
                                )
                                .unwrap();
                            gcm_round_trip(&s, k, format!("t{t} i{i}").as_bytes()).unwrap();
                            s.destroy_object(k).unwrap();
                        }
                        1 => {
                            // Shared token key: sign, verify, and a tampered
                            // message must not verify.
                            let d = [(t * 31 + i) as u8; 32];
                            let sig = s.sign(&Mechanism::Ecdsa, ec_priv, &d).unwrap();
                            s.verify(&Mechanism::Ecdsa, ec_pub, &d, &sig).unwrap();
                            let mut bad = d;
                            bad[0] ^= 1;
                            assert!(s.verify(&Mechanism::Ecdsa, ec_pub, &bad, &sig).is_err());
                        }
                        2 => {
                            // Token object: create, find exactly it, use, destroy, gone.
                            let label = format!("t{t}-{i}");
                            let k = aes_token_key(&s, &label).unwrap();
                            let found = s.find_objects(&[Attribute::Label(label.clone().into_bytes())]).unwrap();
                            assert_eq!(found, vec![k], "find {label}");
                            gcm_round_trip(&s, k, label.as_bytes()).unwrap();
                            s.destroy_object(k).unwrap();
                            let found = s.find_objects(&[Attribute::Label(label.into_bytes())]).unwrap();
                            assert!(found.is_empty());
                        }
                        _ => {
                            // HMAC over a session generic secret.
                            let k = s
                                .generate_key(
                                    &Mechanism::GenericSecretKeyGen,
                                    &[
                                        Attribute::ValueLen(32.into()),
                                        Attribute::Token(false),
                                        Attribute::Sign(true),
                                        Attribute::Verify(true),
                                    ],
                                )
                                .unwrap();
                            let mac = s.sign(&Mechanism::Sha256Hmac, k, b"msg").unwrap();
                            s.verify(&Mechanism::Sha256Hmac, k, b"msg", &mac).unwrap();
                            assert!(s.verify(&Mechanism::Sha256Hmac, k, b"msh", &mac).is_err());
                            s.destroy_object(k).unwrap();
                        }
                    }
                    ops.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        // Login/logout churn on the second token (login state is per token
        // and application: churning it on slot 0 would log the workers out).
        let (p11, stop, logins) = (&p11, &stop, &logins);
        let slot = slots[1];
        sc.spawn(move || {
            let keep = p11.open_rw_session(slot).unwrap();
            keep.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
            let k = aes_token_key(&keep, "private").unwrap();
            keep.logout().unwrap();
            while !stop.load(Ordering::Relaxed) {
                let s = p11.open_ro_session(slot).unwrap();
                // Private objects are invisible until the login.
                assert!(s.find_objects(&[Attribute::Label(b"private".to_vec())]).unwrap().is_empty());
                s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
                assert_eq!(s.find_objects(&[Attribute::Label(b"private".to_vec())]).unwrap(), vec![k]);
                gcm_round_trip(&s, k, b"after login").unwrap();
                s.logout().unwrap();
                assert!(s.login(UserType::User, Some(&pin("wrong-pin-0"))).is_err());
                s.login(UserType::User, Some(&pin(USER_PIN))).unwrap(); // resets the failure count
                s.logout().unwrap();
                logins.fetch_add(1, Ordering::Relaxed);
            }
        });
        std::thread::sleep(deadline);
        stop.store(true, Ordering::Relaxed);
    });
    let n = ops.load(Ordering::Relaxed);
    let l = logins.load(Ordering::Relaxed);
    println!("threads stress: 6 threads, {n} checked operations, {l} login/logout cycles in {deadline:?}");
    assert!(n > 100 && l > 5, "too little work done: {n} ops, {l} logins");
    // Nothing leaked: only the shared key pair remains on slot 0.
    let left = main.find_objects(&[]).unwrap();
    assert_eq!(left.len(), 2, "objects left: {left:?}");
}

// ---- several processes on one token --------------------------------------------

/// Worker: creates KW_KEYS keys named w<id>-<i>, rotates every third,
/// destroys every fourth (not rotated) one, and prints the expected number
/// of versions of each key. Any error aborts with a message.
#[test]
fn mp_worker() {
    let Ok(conf) = std::env::var("KW_MP_CONF") else { return };
    let id: u32 = std::env::var("KW_MP_ID").unwrap().parse().unwrap();
    let n: u32 = std::env::var("KW_MP_KEYS").unwrap().parse().unwrap();
    let p11 = load(&CString::new(conf).unwrap());
    let slot = p11.get_all_slots().unwrap()[0];
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    for i in 0..n {
        let label = format!("w{id}-{i}");
        let k = aes_token_key(&s, &label).unwrap_or_else(|e| panic!("create {label}: {e}"));
        let mut versions = 1;
        if i % 3 == 0 {
            s.generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Label(label.as_bytes().to_vec()),
                    Attribute::Id(label.as_bytes().to_vec()),
                    vbool(CKA_KEYWARD_ROTATE, true),
                ],
            )
            .unwrap_or_else(|e| panic!("rotate {label}: {e}"));
            versions = 2;
        } else if i % 4 == 1 {
            s.destroy_object(k).unwrap_or_else(|e| panic!("destroy {label}: {e}"));
            versions = 0;
        }
        println!("KEY {label} {versions}");
    }
}

#[test]
fn processes_create_rotate_destroy_on_one_token() {
    let (_dir, conf, p11, slot) = fresh("[kms]\ndeletion_grace = \"0\"");
    let workers = 4;
    let keys = 40;
    let children: Vec<_> = (0..workers)
        .map(|id| {
            test_worker("mp_worker")
                .env("KW_MP_CONF", conf.to_str().unwrap())
                .env("KW_MP_ID", id.to_string())
                .env("KW_MP_KEYS", keys.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut expected = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "a worker failed (an error reached the caller):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // (libtest prints "test mp_worker ... " without a newline first.)
        for l in stdout.lines().filter_map(|l| l.find("KEY ").map(|i| &l[i + 4..])) {
            let (label, v) = l.split_once(' ').unwrap();
            expected.push((label.to_string(), v.parse::<usize>().unwrap()));
        }
    }
    assert_eq!(expected.len(), workers * keys, "every worker reported every key");
    // The final object set is exactly what the successful calls imply.
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    let mut total = 0;
    for (label, versions) in &expected {
        let found = s
            .find_objects(&[Attribute::Label(label.as_bytes().to_vec()), vbool(CKA_KEYWARD_ALL_VERSIONS, true)])
            .unwrap();
        assert_eq!(found.len(), *versions, "key {label}");
        total += versions;
    }
    let all = s.find_objects(&[vbool(CKA_KEYWARD_ALL_VERSIONS, true)]).unwrap();
    assert_eq!(all.len(), total, "no other objects");
    println!("multi-process: {workers} processes x {keys} keys, {total} key versions as expected");
}

// ---- SIGKILL during lifecycle operations ----------------------------------------

/// Worker: endless create / rotate / delete (soft, pending for a day) of
/// token keys, and every fourth step moves the test clock two days ahead and
/// logs in again, which purges what is due; prints a line after each call
/// returned CKR_OK (a purge only after checking the key is gone).
#[test]
fn crash_lifecycle_worker() {
    let Ok(conf) = std::env::var("KW_CRASH_CONF") else { return };
    let round: u32 = std::env::var("KW_CRASH_ROUND").unwrap().parse().unwrap();
    // A clock of its own per round, always ahead of earlier rounds'.
    let mut now: i64 = 1_907_712_000 + round as i64 * 100 * 86_400;
    // SAFETY: set before the module is loaded and between calls, from this
    // thread only (one test per process).
    unsafe { std::env::set_var("KEYWARD_TEST_NOW", now.to_string()) };
    let p11 = load(&CString::new(conf).unwrap());
    let slot = p11.get_all_slots().unwrap()[0];
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    let stdout = std::io::stdout();
    let mut pending: Vec<String> = Vec::new();
    for i in 0.. {
        let label = format!("c{round}-{i}");
        let k = aes_token_key(&s, &label).unwrap();
        writeln!(stdout.lock(), "CREATED {label}").unwrap();
        match i % 3 {
            0 => {
                s.generate_key(
                    &Mechanism::AesKeyGen,
                    &[
                        Attribute::Label(label.as_bytes().to_vec()),
                        Attribute::Id(label.as_bytes().to_vec()),
                        vbool(CKA_KEYWARD_ROTATE, true),
                    ],
                )
                .unwrap();
                writeln!(stdout.lock(), "ROTATED {label}").unwrap();
            }
            1 => {
                s.destroy_object(k).unwrap(); // soft delete: pending for the grace period
                writeln!(stdout.lock(), "DELETED {label}").unwrap();
                pending.push(label);
            }
            _ => {}
        }
        if i % 4 == 3 {
            now += 2 * 86_400;
            // SAFETY: as above.
            unsafe { std::env::set_var("KEYWARD_TEST_NOW", now.to_string()) };
            s.logout().unwrap();
            s.login(UserType::User, Some(&pin(USER_PIN))).unwrap(); // runs the due purges
            for l in pending.drain(..) {
                let left = s
                    .find_objects(&[Attribute::Label(l.as_bytes().to_vec()), vbool(CKA_KEYWARD_ALL_VERSIONS, true)])
                    .unwrap();
                assert!(left.is_empty(), "{l} not purged");
                writeln!(stdout.lock(), "PURGED {l}").unwrap();
            }
        }
    }
}

fn conf_file(conf: &CString) -> std::path::PathBuf {
    std::path::PathBuf::from(conf.to_str().unwrap())
}

fn integrity_ok(db: &Path) -> bool {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let r: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    r == "ok"
}

#[test]
fn sigkill_during_lifecycle_operations_loses_nothing() {
    // The workers move the lifecycle clock: the config opts into it.
    let (dir, conf, p11, _) = fresh("[testing]\nallow_test_clock = true\n[kms]\ndeletion_grace = \"1d\"");
    p11.finalize().unwrap();
    let db = dir.path().join("token0/token.sqlite");
    let mut state: std::collections::BTreeMap<String, usize> = Default::default();
    let started = Instant::now();
    let mut kills = 0;
    for round in 0..30u32 {
        let mut child = test_worker("crash_lifecycle_worker")
            .env("KW_CRASH_CONF", conf.to_str().unwrap())
            .env("KW_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        // Kill after a varying number of confirmed operations, and at a
        // varying delay after the last one (inside the next call).
        let want = 3 + (round as usize * 7) % 17;
        let mut got = 0;
        for line in BufReader::new(out).lines() {
            let line = line.unwrap();
            // (libtest prints "test ... " without a newline before the first line.)
            let line = ["CREATED ", "ROTATED ", "DELETED ", "PURGED "]
                .iter()
                .find_map(|p| line.find(p).map(|i| line[i..].to_string()))
                .unwrap_or_default();
            let (what, label) = line.split_once(' ').unwrap_or(("", ""));
            match what {
                "CREATED" => {
                    state.insert(label.to_string(), 1);
                }
                "ROTATED" => {
                    state.insert(label.to_string(), 2);
                }
                "DELETED" => {
                    state.insert(label.to_string(), 3);
                }
                "PURGED" => {
                    state.insert(label.to_string(), 0);
                }
                _ => continue,
            }
            got += 1;
            if got >= want {
                break;
            }
        }
        std::thread::sleep(Duration::from_micros(((round as u64) * 1777) % 8000));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        assert!(got >= want, "worker stopped early in round {round}");
        // (On PostgreSQL the server keeps its own WAL consistent; the state
        // checks below are the test there.)
        assert!(on_postgres() || integrity_ok(&db), "PRAGMA integrity_check failed after kill {kills}");
    }
    // The token opens; every confirmed state holds (a call killed before it
    // returned may or may not have happened: only confirmed ones are checked,
    // as at least what they say).
    let p11 = load(&conf);
    let slot = p11.get_all_slots().unwrap()[0];
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    for (label, versions) in &state {
        let all = s
            .find_objects(&[Attribute::Label(label.as_bytes().to_vec()), vbool(CKA_KEYWARD_ALL_VERSIONS, true)])
            .unwrap();
        // State codes: 1 created, 2 rotated, 3 deleted (pending), 0 purged.
        // The worker rotates keys i % 3 == 0 and deletes keys i % 3 == 1; a
        // key whose last confirmed step is its creation may show the effect
        // of the call the kill interrupted, and a pending deletion may have
        // been purged by a later round's sweep.
        let idx: u32 = label.rsplit('-').next().and_then(|i| i.parse().ok()).unwrap();
        let visible = s.find_objects(&[Attribute::Label(label.as_bytes().to_vec())]).unwrap();
        let ok = match (versions, idx % 3) {
            (0, _) => all.is_empty(),
            (3, _) => visible.is_empty() && all.len() <= 1,
            (2, _) => all.len() == 2 && visible.len() == 1,
            (_, 0) => visible.len() == 1 && (1..=2).contains(&all.len()),
            // (deleted by the interrupted call, then purged by a later sweep)
            (_, 1) => all.len() <= 1 && visible.len() <= all.len(),
            _ => all.len() == 1 && visible.len() == 1,
        };
        assert!(ok, "{label}: confirmed state {versions}, {} versions, {} visible", all.len(), visible.len());
        if let Some(primary) = visible.first() {
            gcm_round_trip(&s, *primary, label.as_bytes()).unwrap();
        }
    }
    // No half-written object: every key version in the store (confirmed or
    // not, primary or not) has its key material: a GCM decryption of a
    // forged ciphertext gets as far as the tag check.
    let every = s.find_objects(&[vbool(CKA_KEYWARD_ALL_VERSIONS, true)]).unwrap();
    // ... and the module sees every row of the store (it skips a row it
    // cannot read, so a torn row would only show as a missing object).
    let rows: usize = if on_postgres() {
        let n: i64 = pg_client(&conf_file(&conf)).query_one("SELECT count(*) FROM objects", &[]).unwrap().get(0);
        n as usize
    } else {
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM objects", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(rows, every.len(), "store rows the module cannot read (torn objects)");
    for k in &every {
        let state = match s.get_attributes(*k, &[AttributeType::VendorDefined(VD | 0x4B57_0003)]).unwrap().pop() {
            Some(Attribute::VendorDefined((_, v))) => u64::from_ne_bytes(v.try_into().unwrap()),
            other => panic!("state: {other:?}"),
        };
        if state == 3 {
            continue; // pending deletion: not usable by design
        }
        let mut iv = [1u8; 12];
        let r = s.decrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, b"", 128.into()).unwrap()), *k, &[0u8; 32]);
        let code = r.map_err(rv);
        assert_eq!(code, Err(cryptoki::error::RvError::EncryptedDataInvalid), "a torn key object {k:?}");
    }
    drop(s);
    p11.finalize().unwrap();
    // The audit chain verifies (torn tails of killed writers are repaired
    // and recorded by the next writer).
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["--conf", conf.to_str().unwrap(), "audit", "verify"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "audit verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "crash: {kills} SIGKILLs during create/rotate/delete/purge, {} keys confirmed ({} purges confirmed), integrity ok after each, audit chain verifies ({:?})",
        state.len(),
        state.values().filter(|v| **v == 0).count(),
        started.elapsed()
    );
}

// ---- resource faults --------------------------------------------------------------

#[test]
fn corrupted_database_page_gives_a_clear_error() {
    let (dir, conf, p11, slot) = fresh("");
    {
        let s = p11.open_rw_session(slot).unwrap();
        s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
        for i in 0..200 {
            aes_token_key(&s, &format!("k{i}")).unwrap();
        }
        drop(s);
        p11.finalize().unwrap();
    }
    // Checkpoint the WAL into the main file, then overwrite a page in the
    // middle of it.
    let db = dir.path().join("token0/token.sqlite");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    }
    let mut bytes = std::fs::read(&db).unwrap();
    let page = 4096;
    assert!(bytes.len() > 6 * page);
    for b in &mut bytes[3 * page..5 * page] {
        *b = 0xA5;
    }
    std::fs::write(&db, &bytes).unwrap();
    // C_Initialize (or the first use) reports a device error; no panic,
    // no abort (this process would die).
    let p11 = Pkcs11::new(module_path()).unwrap();
    let args = common::init_args(&conf);
    match p11.initialize(args) {
        Err(e) => {
            let rv = rv(e);
            assert!(
                matches!(rv, cryptoki::error::RvError::DeviceError | cryptoki::error::RvError::GeneralError),
                "C_Initialize on a corrupt store: {rv:?}"
            );
        }
        Ok(()) => {
            let slot = p11.get_all_slots().unwrap()[0];
            let s = p11.open_rw_session(slot).unwrap();
            let r = s.login(UserType::User, Some(&pin(USER_PIN))).and_then(|_| s.find_objects(&[]).map(|_| ()));
            let r = r.and_then(|_| aes_token_key(&s, "after").map(|_| ()));
            assert!(r.is_err(), "a corrupt store went unnoticed");
        }
    }
}

#[test]
fn full_store_refuses_writes_cleanly_and_keeps_working() {
    // A database capped at 60 pages of 4 KiB: a full disk, simulated.
    let (_dir, _conf, p11, slot) = fresh("[store]\nmax_pages = 60");
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    let mut made = Vec::new();
    let mut refused = None;
    for i in 0..5000 {
        match s.create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Label(format!("d{i}").into_bytes()),
            Attribute::Value(vec![i as u8; 900]),
        ]) {
            Ok(h) => made.push((i, h)),
            Err(e) => {
                refused = Some(rv(e));
                break;
            }
        }
    }
    assert_eq!(refused, Some(cryptoki::error::RvError::DeviceMemory), "after {} objects", made.len());
    assert!(made.len() > 10);
    // Nothing half-written: every object that was created is complete, the
    // refused one does not exist, and the module keeps working.
    let all = s.find_objects(&[Attribute::Class(ObjectClass::DATA)]).unwrap();
    assert_eq!(all.len(), made.len());
    for (i, h) in made.iter().step_by(7) {
        match &s.get_attributes(*h, &[AttributeType::Value]).unwrap()[0] {
            Attribute::Value(v) => assert_eq!(v, &vec![*i as u8; 900]),
            other => panic!("{other:?}"),
        }
    }
    let sk = s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(16.into()), Attribute::Token(false)]).unwrap();
    gcm_round_trip(&s, sk, b"still working").unwrap();
    // Deleting makes room again.
    for (_, h) in made.iter().take(20) {
        s.destroy_object(*h).unwrap();
    }
    s.create_object(&[Attribute::Class(ObjectClass::DATA), Attribute::Token(true), Attribute::Value(vec![1; 900])])
        .unwrap();
    println!("full store: {} objects fit, the next got CKR_DEVICE_MEMORY, nothing torn", made.len());
}

/// Makes paths immutable (`chattr +i`: even root cannot write them) and
/// undoes it on drop.
struct Immutable(Vec<std::path::PathBuf>);

impl Immutable {
    fn set(paths: Vec<std::path::PathBuf>) -> Option<Immutable> {
        for p in &paths {
            let ok = Command::new("chattr").arg("+i").arg(p).status().map(|s| s.success()).unwrap_or(false);
            if !ok {
                let _ = Immutable(paths.clone());
                return None;
            }
        }
        Some(Immutable(paths))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = Command::new("chattr").arg("-i").arg(p).status();
        }
    }
}

#[test]
fn read_only_store_gives_a_clear_error_and_loses_nothing() {
    let (dir, conf, p11, slot) = fresh("");
    {
        let s = p11.open_rw_session(slot).unwrap();
        s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
        aes_token_key(&s, "kept").unwrap();
        drop(s);
        p11.finalize().unwrap();
    }
    // The token directory and every file in it become read-only, as on a
    // file system remounted read-only (root ignores chmod; the immutable
    // attribute binds root too).
    let token = dir.path().join("token0");
    let mut paths: Vec<_> = std::fs::read_dir(&token).unwrap().map(|e| e.unwrap().path()).collect();
    paths.push(token.clone());
    let Some(guard) = Immutable::set(paths) else {
        // chattr needs root and an ext2/3/4-like file system (this project's
        // machines and CI have both); elsewhere the fault cannot be made.
        println!("read-only store: NOT RUN (chattr +i unavailable on this machine)");
        return;
    };
    let p11 = Pkcs11::new(module_path()).unwrap();
    let args = common::init_args(&conf);
    let outcome = match p11.initialize(args) {
        Err(e) => format!("C_Initialize: {:?}", rv(e)),
        Ok(()) => {
            let slot = p11.get_all_slots().unwrap()[0];
            let r = p11
                .open_rw_session(slot)
                .and_then(|s| {
                    s.login(UserType::User, Some(&pin(USER_PIN)))?;
                    aes_token_key(&s, "new").map(|_| ())
                })
                .map_err(rv);
            let _ = p11.finalize();
            assert!(r.is_err(), "a write to a read-only store succeeded");
            format!("write: {:?}", r.unwrap_err())
        }
    };
    assert!(
        outcome.contains("DeviceError") || outcome.contains("GeneralError") || outcome.contains("TokenWriteProtected"),
        "{outcome}"
    );
    drop(guard);
    // Writable again: nothing was lost or half-written.
    let p11 = load(&conf);
    let slot = p11.get_all_slots().unwrap()[0];
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    let kept = s.find_objects(&[Attribute::Label(b"kept".to_vec())]).unwrap();
    assert_eq!(kept.len(), 1);
    gcm_round_trip(&s, kept[0], b"after").unwrap();
    assert!(s.find_objects(&[Attribute::Label(b"new".to_vec())]).unwrap().is_empty());
    println!("read-only store: {outcome}; after it became writable again nothing was lost");
}

#[test]
fn deleted_store_directory_gives_a_clear_error() {
    let (dir, _conf, p11, slot) = fresh("");
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    let k = aes_token_key(&s, "before").unwrap();
    std::fs::remove_dir_all(dir.path().join("token0")).unwrap();
    // Writes fail with a clear CK_RV; the module keeps answering.
    let e = aes_token_key(&s, "after").unwrap_err();
    let r = rv(e);
    assert!(
        matches!(r, cryptoki::error::RvError::DeviceError | cryptoki::error::RvError::DeviceRemoved),
        "create after the store vanished: {r:?}"
    );
    // The loaded key still works in memory (key-use records: audit
    // `on_failure_async = "continue"`); new objects are refused while their
    // audit records cannot be written (`on_failure = "refuse"`).
    gcm_round_trip(&s, k, b"still here").unwrap();
    let e = s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(16.into()), Attribute::Token(false)]);
    assert_eq!(rv(e.unwrap_err()), cryptoki::error::RvError::DeviceError);
}

#[test]
fn wrong_master_key_seal_refuses_login() {
    let (dir, conf, p11, _) = fresh("");
    p11.finalize().unwrap();
    // Flip a byte of the user's wrapped master key.
    let db = dir.path().join("token0/token.sqlite");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        let mut blob: Vec<u8> = c.query_row("SELECT user_blob FROM token WHERE id = 1", [], |r| r.get(0)).unwrap();
        let n = blob.len();
        blob[n / 2] ^= 0x40;
        c.execute("UPDATE token SET user_blob = ?1 WHERE id = 1", [blob]).unwrap();
    }
    let p11 = load(&conf);
    let slot = p11.get_all_slots().unwrap()[0];
    let s = p11.open_rw_session(slot).unwrap();
    let r = rv(s.login(UserType::User, Some(&pin(USER_PIN))).unwrap_err());
    assert!(
        matches!(r, cryptoki::error::RvError::PinIncorrect | cryptoki::error::RvError::DeviceError),
        "login with a damaged seal: {r:?}"
    );
    // The SO's seal is intact: the SO can still log in and reset the PIN.
    let so = p11.open_rw_session(slot).unwrap();
    drop(s);
    so.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    so.init_pin(&pin("new-user-pin")).unwrap();
}

// ---- secrets hygiene -----------------------------------------------------------------

const SECRET_KEY: [u8; 32] = [
    0x5e, 0xc7, 0x3f, 0x91, 0x2a, 0xb4, 0x6d, 0x08, 0xe1, 0x77, 0x3c, 0x9a, 0x45, 0xd2, 0x1b, 0x80, 0x63, 0xfa, 0x2e,
    0x94, 0x5b, 0xc1, 0x0d, 0x7e, 0xa8, 0x36, 0xe9, 0x52, 0x14, 0xbf, 0x87, 0x29,
];
const HYGIENE_PIN: &str = "pin-Zq8yTr31";
const HYGIENE_WRONG: &str = "pin-Wr0ngXy9";

/// Worker with KEYWARD_LOG=debug: every PIN path and the known key.
#[test]
fn hygiene_worker() {
    let Ok(conf) = std::env::var("KW_HYGIENE_CONF") else { return };
    let p11 = load(&CString::new(conf).unwrap());
    let slot = p11.get_all_slots().unwrap()[0];
    p11.init_token(slot, &pin(SO_PIN), "hyg").unwrap();
    let so = p11.open_rw_session(slot).unwrap();
    so.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    so.init_pin(&pin(HYGIENE_PIN)).unwrap();
    so.logout().unwrap();
    drop(so);
    let s = p11.open_rw_session(slot).unwrap();
    let _ = s.login(UserType::User, Some(&pin(HYGIENE_WRONG)));
    s.login(UserType::User, Some(&pin(HYGIENE_PIN))).unwrap();
    let k = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(true),
            Attribute::Value(SECRET_KEY.to_vec()),
            Attribute::Label(b"hygiene".to_vec()),
        ])
        .unwrap();
    gcm_round_trip(&s, k, b"x").unwrap();
    let _ = s.get_attributes(k, &[AttributeType::Value]); // refused: sensitive
    let _ = s.set_pin(&pin(HYGIENE_WRONG), &pin(HYGIENE_PIN)); // wrong old PIN
    s.set_pin(&pin(HYGIENE_PIN), &pin(HYGIENE_PIN)).unwrap();
}

#[test]
fn no_secret_or_pin_in_logs_and_private_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let conf = config(dir.path(), 1, &format!("[events]\nfile = \"{}\"", dir.path().join("events.jsonl").display()));
    let out = test_worker("hygiene_worker")
        .env("KW_HYGIENE_CONF", conf.to_str().unwrap())
        .env("KEYWARD_LOG", "debug")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = out.stderr;
    assert!(!stderr.is_empty(), "debug logging produced nothing (the check would be vacuous)");
    let mut haystacks: Vec<(String, Vec<u8>)> = vec![("stderr".into(), stderr), ("stdout".into(), out.stdout)];
    let token = dir.path().join("token0");
    for e in std::fs::read_dir(&token).unwrap() {
        let p = e.unwrap().path();
        let m = std::fs::metadata(&p).unwrap();
        if m.is_file() {
            assert_eq!(m.permissions().mode() & 0o077, 0, "{} is readable by others", p.display());
            haystacks.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    assert_eq!(std::fs::metadata(&token).unwrap().permissions().mode() & 0o777, 0o700);
    if let Ok(ev) = std::fs::read(dir.path().join("events.jsonl")) {
        haystacks.push(("events".into(), ev));
    }
    let hex_lower = hex::encode(SECRET_KEY);
    let hex_upper = hex_lower.to_uppercase();
    let needles: Vec<(&str, Vec<u8>)> = vec![
        ("user PIN", HYGIENE_PIN.as_bytes().to_vec()),
        ("wrong PIN", HYGIENE_WRONG.as_bytes().to_vec()),
        ("SO PIN", SO_PIN.as_bytes().to_vec()),
        ("key bytes", SECRET_KEY[..12].to_vec()),
        ("key hex", hex_lower.as_bytes()[..24].to_vec()),
        ("key HEX", hex_upper.as_bytes()[..24].to_vec()),
    ];
    for (name, hay) in &haystacks {
        for (what, n) in &needles {
            assert!(!hay.windows(n.len()).any(|w| w == &n[..]), "{what} found in {name}");
        }
    }
    println!("hygiene: {} files and streams searched for PINs and key bytes", haystacks.len());
}
