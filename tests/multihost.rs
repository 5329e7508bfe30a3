//! Several hosts on one PostgreSQL token. A "host" is a process with its
//! own configuration, data directory (audit log), cache and connection;
//! the token is one schema of the test server (`scripts/pg-cluster`). Run
//! with `KEYWARD_TEST_STORE=postgres` (scripts/test does); on the SQLite
//! pass there is nothing shared between hosts and the tests say so.
//!
//! - 2 and 4 hosts creating, rotating, disabling and destroying keys at
//!   once: the final state is exactly what their successful calls imply.
//! - A key created on host A is usable on host B at B's next lookup; a
//!   disable on A is refused on B; a destroy on A is gone on B; a PIN
//!   locked on A is locked on B.

mod common;
use common::*;
use cryptoki::context::Pkcs11;
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, ObjectHandle};
use cryptoki::session::{Session, UserType};
use std::ffi::CString;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;

const VD: u64 = 0x8000_0000;
const CKA_KEYWARD_STATE: u64 = VD | 0x4B57_0003;
const CKA_KEYWARD_ROTATE: u64 = VD | 0x4B57_000B;
const CKA_KEYWARD_ALL_VERSIONS: u64 = VD | 0x4B57_000C;
const DISABLED: u64 = 2;

/// The config of host `n` under `root`: its own directory, the shared
/// store lines (`root/store`, fixed by the first host).
fn host_config(root: &Path, n: usize) -> CString {
    let shared = root.join("store");
    let store = std::fs::read_to_string(&shared).unwrap_or_else(|_| {
        let l = slot_store(&shared);
        std::fs::write(&shared, &l).unwrap();
        l
    });
    let dir = root.join(format!("host{n}"));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("keyward.toml");
    std::fs::write(
        &conf,
        format!(
            "[policy]\npbkdf2_iterations = 1000\nmax_pin_attempts = 3\n[kms]\ndeletion_grace = \"0\"\n\
             [store]\nrefresh_ms = 1\n[[slot]]\npath = \"{}\"\n{store}",
            dir.join("token").display()
        ),
    )
    .unwrap();
    CString::new(conf.display().to_string()).unwrap()
}

fn skip_unless_postgres() -> bool {
    if !on_postgres() {
        eprintln!("multihost: SQLite pass, no shared store: run with KEYWARD_TEST_STORE=postgres");
        return true;
    }
    false
}

fn init(p11: &Pkcs11) {
    let slot = p11.get_all_slots().unwrap()[0];
    p11.init_token(slot, &pin(SO_PIN), "shared").unwrap();
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    s.init_pin(&pin(USER_PIN)).unwrap();
}

fn user(p11: &Pkcs11) -> Session {
    let slot = p11.get_all_slots().unwrap()[0];
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    s
}

fn find(s: &Session, label: &str, all: bool) -> Vec<ObjectHandle> {
    let mut t = vec![Attribute::Label(label.as_bytes().to_vec())];
    if all {
        t.push(vbool(CKA_KEYWARD_ALL_VERSIONS, true));
    }
    s.find_objects(&t).unwrap()
}

fn gcm(s: &Session, k: ObjectHandle) -> cryptoki::error::Result<Vec<u8>> {
    let mut iv = [3u8; 12];
    s.encrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, b"", 128.into())?), k, b"data")
}

/// Host worker: creates KW_HOST_KEYS keys h<id>-<i>; rotates every third,
/// destroys every fourth (not rotated) one, disables every fifth remaining
/// one; prints `KEY label versions disabled` after the calls returned OK.
#[test]
fn host_worker() {
    let Ok(conf) = std::env::var("KW_HOST_CONF") else { return };
    let id: u32 = std::env::var("KW_HOST_ID").unwrap().parse().unwrap();
    let n: u32 = std::env::var("KW_HOST_KEYS").unwrap().parse().unwrap();
    let p11 = load(&CString::new(conf).unwrap());
    let s = user(&p11);
    for i in 0..n {
        let label = format!("h{id}-{i}");
        let k = s
            .generate_key(&Mechanism::AesKeyGen, &aes_token_key_template(&label))
            .unwrap_or_else(|e| panic!("create {label}: {e}"));
        let (mut versions, mut disabled) = (1, false);
        if i % 3 == 0 {
            let rotate = [Attribute::Label(label.as_bytes().to_vec()), vbool(CKA_KEYWARD_ROTATE, true)];
            s.generate_key(&Mechanism::AesKeyGen, &rotate).unwrap_or_else(|e| panic!("rotate {label}: {e}"));
            versions = 2;
        } else if i % 4 == 1 {
            s.destroy_object(k).unwrap_or_else(|e| panic!("destroy {label}: {e}"));
            versions = 0;
        } else if i % 5 == 2 {
            s.update_attributes(k, &[vulong(CKA_KEYWARD_STATE, DISABLED)])
                .unwrap_or_else(|e| panic!("disable {label}: {e}"));
            disabled = true;
        }
        println!("KEY {label} {versions} {disabled}");
    }
}

fn hosts_create_rotate_disable_destroy(hosts: usize, keys: usize) {
    if skip_unless_postgres() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let p11 = load(&host_config(root.path(), 0));
    init(&p11);
    let children: Vec<_> = (1..=hosts)
        .map(|id| {
            test_worker("host_worker")
                .env("KW_HOST_CONF", host_config(root.path(), id).to_str().unwrap())
                .env("KW_HOST_ID", id.to_string())
                .env("KW_HOST_KEYS", keys.to_string())
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
        assert!(out.status.success(), "a host failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        for l in stdout.lines().filter_map(|l| l.find("KEY ").map(|i| &l[i + 4..])) {
            let f: Vec<&str> = l.split(' ').collect();
            expected.push((f[0].to_string(), f[1].parse::<usize>().unwrap(), f[2] == "true"));
        }
    }
    assert_eq!(expected.len(), hosts * keys, "every host reported every key");
    // Host 0 (which only initialised the token) sees exactly that.
    let s = user(&p11);
    let mut total = 0;
    for (label, versions, disabled) in &expected {
        let all = find(&s, label, true);
        assert_eq!(all.len(), *versions, "key {label}");
        total += versions;
        if *versions == 0 {
            continue;
        }
        let primary = find(&s, label, false);
        assert_eq!(primary.len(), 1, "{label}: one primary");
        let r = gcm(&s, primary[0]);
        if *disabled {
            assert_eq!(get_ulong(&s, primary[0], CKA_KEYWARD_STATE), DISABLED, "{label}");
            assert_eq!(r.map_err(rv).unwrap_err(), RvError::KeyFunctionNotPermitted, "{label} disabled elsewhere");
        } else {
            r.unwrap_or_else(|e| panic!("{label} usable: {e}"));
        }
    }
    assert_eq!(find_all(&s).len(), total, "no other objects");
    println!("multihost: {hosts} hosts x {keys} keys, {total} key versions as expected");
}

fn find_all(s: &Session) -> Vec<ObjectHandle> {
    s.find_objects(&[vbool(CKA_KEYWARD_ALL_VERSIONS, true)]).unwrap()
}

#[test]
fn two_hosts_on_one_token() {
    hosts_create_rotate_disable_destroy(2, 30);
}

#[test]
fn four_hosts_on_one_token() {
    hosts_create_rotate_disable_destroy(4, 20);
}

/// Host B of `changes_on_one_host_apply_on_another`: reads commands from
/// stdin (`USE label`, `LOGIN`), answers one line each.
#[test]
fn peer_worker() {
    let Ok(conf) = std::env::var("KW_PEER_CONF") else { return };
    let p11 = load(&CString::new(conf).unwrap());
    let slot = p11.get_all_slots().unwrap()[0];
    let mut s: Option<Session> = None;
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let answer = match line.split_once(' ').unwrap_or((&line, "")) {
            ("LOGIN", _) => {
                let ses = p11.open_rw_session(slot).unwrap();
                match ses.login(UserType::User, Some(&pin(USER_PIN))) {
                    Ok(()) => {
                        s = Some(ses);
                        "OK".to_string()
                    }
                    Err(e) => format!("ERR {:?}", rv(e)),
                }
            }
            ("USE", label) => {
                let ses = s.as_ref().unwrap();
                match find(ses, label, false).first() {
                    None => "GONE".to_string(),
                    Some(k) => match gcm(ses, *k) {
                        Ok(_) => "OK".to_string(),
                        Err(e) => format!("ERR {:?}", rv(e)),
                    },
                }
            }
            ("LOGOUT", _) => {
                s = None;
                "OK".to_string()
            }
            _ => "?".to_string(),
        };
        println!("ANSWER {answer}");
        std::io::stdout().flush().unwrap();
    }
}

#[test]
fn changes_on_one_host_apply_on_another() {
    if skip_unless_postgres() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let p11 = load(&host_config(root.path(), 0));
    init(&p11);
    let mut b = test_worker("peer_worker")
        .env("KW_PEER_CONF", host_config(root.path(), 1).to_str().unwrap())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut to_b = b.stdin.take().unwrap();
    let mut from_b = BufReader::new(b.stdout.take().unwrap());
    let mut ask = |cmd: &str| -> String {
        writeln!(to_b, "{cmd}").unwrap();
        to_b.flush().unwrap();
        let mut l = String::new();
        loop {
            l.clear();
            assert!(from_b.read_line(&mut l).unwrap() > 0, "host B ended");
            if let Some(i) = l.find("ANSWER ") {
                return l[i + 7..].trim().to_string();
            }
        }
    };
    assert_eq!(ask("LOGIN"), "OK");
    let s = user(&p11);
    // Created on A: usable on B at its next lookup.
    let k = s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("x")).unwrap();
    assert_eq!(ask("USE x"), "OK");
    // Disabled on A: refused on B (refresh_ms = 1; the wait covers it).
    s.update_attributes(k, &[vulong(CKA_KEYWARD_STATE, DISABLED)]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(ask("USE x"), "ERR KeyFunctionNotPermitted");
    // Destroyed on A: gone on B.
    s.destroy_object(k).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(ask("USE x"), "GONE");
    // A PIN locked on A is locked on B.
    assert_eq!(ask("LOGOUT"), "OK");
    drop(s);
    let slot = p11.get_all_slots().unwrap()[0];
    let a = p11.open_rw_session(slot).unwrap();
    for _ in 0..2 {
        assert_eq!(rv(a.login(UserType::User, Some(&pin("wrong-pin"))).unwrap_err()), RvError::PinIncorrect);
    }
    // The third failure (max_pin_attempts = 3) locks the PIN.
    assert_eq!(rv(a.login(UserType::User, Some(&pin("wrong-pin"))).unwrap_err()), RvError::PinLocked);
    assert_eq!(rv(a.login(UserType::User, Some(&pin(USER_PIN))).unwrap_err()), RvError::PinLocked);
    assert_eq!(ask("LOGIN"), "ERR PinLocked");
    drop(to_b);
    b.wait().unwrap();
}

fn cli(conf: Option<&str>, args: &[&str]) -> (bool, String) {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"));
    c.args(args);
    match conf {
        Some(p) => c.env("KEYWARD_CONF", p),
        None => c.env_remove("KEYWARD_CONF"),
    };
    let out = c.output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
}

/// `keyward store migrate --from sqlite:PATH --to postgres:URL`: the token
/// moves with its PINs, every key version, its data (a ciphertext made
/// before decrypts after) and its audit anchor; a second run is refused.
#[test]
fn a_sqlite_token_migrates_to_postgres() {
    if skip_unless_postgres() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let token = root.path().join("token");
    // A SQLite token with a rotated key, a plain key and a ciphertext.
    let sqlite_conf = root.path().join("sqlite.toml");
    std::fs::write(
        &sqlite_conf,
        format!("[policy]\npbkdf2_iterations = 1000\n[[slot]]\npath = \"{}\"\n", token.display()),
    )
    .unwrap();
    let p11 = load(&CString::new(sqlite_conf.to_str().unwrap()).unwrap());
    init(&p11);
    let s = user(&p11);
    s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("r")).unwrap();
    let rotate = [Attribute::Label(b"r".to_vec()), vbool(CKA_KEYWARD_ROTATE, true)];
    s.generate_key(&Mechanism::AesKeyGen, &rotate).unwrap();
    let k = s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("k")).unwrap();
    let ct = gcm(&s, k).unwrap();
    let ids_before: Vec<u64> = find(&s, "r", true).iter().map(|h| h.handle()).collect();
    drop(s);
    p11.finalize().unwrap();

    // The migration, and a second one onto the now non-empty schema.
    let store = slot_store(&root.path().join("store"));
    let field = |k: &str| {
        store.lines().find_map(|l| l.strip_prefix(&format!("{k} = \"")).map(|v| v.trim_end_matches('"').to_string()))
    };
    let (url, schema, pw, ca) =
        (field("url").unwrap(), field("schema").unwrap(), field("password_file").unwrap(), field("ca_file").unwrap());
    let args = |to: &str| {
        vec![
            "store".to_string(),
            "migrate".into(),
            "--from".into(),
            format!("sqlite:{}", token.display()),
            "--to".into(),
            format!("postgres:{to}"),
            "--schema".into(),
            schema.clone(),
            "--password-file".into(),
            pw.clone(),
            "--ca-file".into(),
            ca.clone(),
        ]
    };
    let a = args(&url);
    let (ok, out) = cli(None, &a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ok, "{out}");
    assert!(out.contains("3 objects"), "{out}");
    let (ok, out) = cli(None, &a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!ok && out.contains("not empty"), "a second migration overwrote the target: {out}");

    // The same slot on PostgreSQL: PINs, versions, data, audit.
    let pg_conf = root.path().join("pg.toml");
    std::fs::write(
        &pg_conf,
        format!("[policy]\npbkdf2_iterations = 1000\n[[slot]]\npath = \"{}\"\n{store}", token.display()),
    )
    .unwrap();
    // The anchor moved under this host's key for the log in `token`.
    let mut c = pg_client(&pg_conf);
    let keys: Vec<String> = c
        .query("SELECT key FROM meta WHERE key LIKE 'audit.%' ORDER BY key", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        keys.iter()
            .any(|k| k.starts_with("audit.anchor@")
                && k.ends_with(&format!(":{}", token.canonicalize().unwrap().display()))),
        "{keys:?}"
    );
    assert!(!keys.iter().any(|k| k == "audit.anchor"), "{keys:?}");
    drop(c);
    let p11 = load(&CString::new(pg_conf.to_str().unwrap()).unwrap());
    let s = user(&p11);
    let ids_after: Vec<u64> = find(&s, "r", true).iter().map(|h| h.handle()).collect();
    assert_eq!(ids_after, ids_before, "both versions, same handles");
    let k = find(&s, "k", false)[0];
    let mut iv = [3u8; 12];
    let pt = s.decrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, b"", 128.into()).unwrap()), k, &ct).unwrap();
    assert_eq!(pt, b"data");
    let new = s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("new")).unwrap();
    assert!(ids_after.iter().all(|h| new.handle() > *h), "ids are not reused");
    drop(s);
    p11.finalize().unwrap();
    let (ok, out) = cli(Some(pg_conf.to_str().unwrap()), &["audit", "verify"]);
    assert!(ok, "the audit log verifies against the migrated anchor: {out}");
}

/// The `keyward store migrate` arguments between `from` and `to` with the
/// PostgreSQL options of the slot lines `store` (`slot_store`).
fn migrate_args(from: &str, to: &str, store: &str, log_dir: Option<&Path>) -> Vec<String> {
    let field = |k: &str| {
        store
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k} = \"")).map(|v| v.trim_end_matches('"').to_string()))
            .unwrap()
    };
    let mut a: Vec<String> = ["store", "migrate", "--from", from, "--to", to].map(String::from).to_vec();
    let from_url = |s: &str| s.replace("postgres:URL", &format!("postgres:{}", field("url")));
    a = a.into_iter().map(|s| from_url(&s)).collect();
    for (k, f) in [("--schema", "schema"), ("--password-file", "password_file"), ("--ca-file", "ca_file")] {
        a.push(k.into());
        a.push(field(f));
    }
    if let Some(d) = log_dir {
        a.push("--log-dir".into());
        a.push(d.display().to_string());
    }
    a
}

fn run_cli(conf: Option<&str>, args: &[String]) -> (bool, String) {
    cli(conf, &args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Every object of the token (all versions), as (handle, label, class).
fn inventory(s: &Session) -> Vec<(u64, Vec<u8>)> {
    let mut v: Vec<(u64, Vec<u8>)> = find_all(s)
        .into_iter()
        .map(|h| {
            let l = s.get_attributes(h, &[cryptoki::object::AttributeType::Label]).unwrap();
            let Some(Attribute::Label(l)) = l.into_iter().next() else { panic!("no label") };
            (h.handle(), l)
        })
        .collect();
    v.sort();
    v
}

/// sqlite -> postgres -> sqlite with `keyward store migrate` both ways: the
/// token comes back with the same PINs and PIN counter, label and serial,
/// every object under its handle (both versions of a rotated key, an EC
/// pair, one made while on PostgreSQL), working keys (a ciphertext from
/// the start decrypts, the EC key signs and the signature verifies), the
/// id floor (a new object gets a higher handle), and an audit log that
/// verifies against the anchor carried back; a non-empty target is refused.
#[test]
fn a_token_round_trips_sqlite_postgres_sqlite() {
    if skip_unless_postgres() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let (token, back) = (root.path().join("token"), root.path().join("back"));
    let sqlite_conf = |dir: &Path, name: &str| {
        let conf = root.path().join(name);
        std::fs::write(&conf, format!("[policy]\npbkdf2_iterations = 1000\n[[slot]]\npath = \"{}\"\n", dir.display()))
            .unwrap();
        CString::new(conf.to_str().unwrap()).unwrap()
    };
    let p11 = load(&sqlite_conf(&token, "sqlite.toml"));
    init(&p11);
    let slot = p11.get_all_slots().unwrap()[0];
    let s = user(&p11);
    s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("r")).unwrap();
    s.generate_key(&Mechanism::AesKeyGen, &[Attribute::Label(b"r".to_vec()), vbool(CKA_KEYWARD_ROTATE, true)]).unwrap();
    let k = s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("k")).unwrap();
    let ct = gcm(&s, k).unwrap();
    let p256 = vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    s.generate_key_pair(
        &Mechanism::EccKeyPairGen,
        &[Attribute::EcParams(p256), Attribute::Token(true), Attribute::Label(b"ec".to_vec()), Attribute::Verify(true)],
        &[Attribute::Token(true), Attribute::Label(b"ec".to_vec()), Attribute::Sign(true)],
    )
    .unwrap();
    let before = inventory(&s);
    s.logout().unwrap();
    // One failed user login last: the counter travels too.
    assert_eq!(rv(s.login(UserType::User, Some(&pin("wrong-pin-1"))).unwrap_err()), RvError::PinIncorrect);
    let info = p11.get_token_info(slot).unwrap();
    assert!(info.user_pin_count_low());
    drop(s);
    p11.finalize().unwrap();
    assert_eq!(before.len(), 5);

    // sqlite -> postgres; use the token there (a new key, so the anchor moves on).
    let store = slot_store(&root.path().join("store"));
    let to_pg = migrate_args(&format!("sqlite:{}", token.display()), "postgres:URL", &store, None);
    let (ok, out) = run_cli(None, &to_pg);
    assert!(ok, "{out}");
    let pg_conf = root.path().join("pg.toml");
    std::fs::write(
        &pg_conf,
        format!("[policy]\npbkdf2_iterations = 1000\n[[slot]]\npath = \"{}\"\n{store}", token.display()),
    )
    .unwrap();
    let p11 = load(&CString::new(pg_conf.to_str().unwrap()).unwrap());
    let slot = p11.get_all_slots().unwrap()[0];
    let on_pg = p11.get_token_info(slot).unwrap();
    assert_eq!((on_pg.label(), on_pg.serial_number()), (info.label(), info.serial_number()));
    assert!(on_pg.user_pin_count_low(), "the failed login was carried to PostgreSQL");
    let s = user(&p11);
    assert_eq!(inventory(&s), before);
    s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("on-pg")).unwrap();
    let mid = inventory(&s);
    s.logout().unwrap();
    assert_eq!(rv(s.login(UserType::User, Some(&pin("wrong-pin-2"))).unwrap_err()), RvError::PinIncorrect);
    drop(s);
    p11.finalize().unwrap();

    // postgres -> a new sqlite token; this host's log (in `token`) goes with it.
    let to_sqlite = migrate_args("postgres:URL", &format!("sqlite:{}", back.display()), &store, Some(&token));
    let (ok, out) = run_cli(None, &to_sqlite);
    assert!(ok, "{out}");
    assert!(out.contains("6 objects"), "{out}");
    let (ok, out) = run_cli(None, &to_sqlite);
    assert!(!ok && out.contains("already holds an audit log"), "a second migration overwrote the target: {out}");
    // Even without the log in the way, the non-empty token is refused.
    let (ok, out) = run_cli(None, &migrate_args("postgres:URL", &format!("sqlite:{}", back.display()), &store, None));
    assert!(!ok && out.contains("not empty"), "{out}");

    let back_conf = sqlite_conf(&back, "back.toml");
    let p11 = load(&back_conf);
    let slot = p11.get_all_slots().unwrap()[0];
    let after = p11.get_token_info(slot).unwrap();
    assert_eq!((after.label(), after.serial_number()), (info.label(), info.serial_number()));
    assert!(after.user_pin_count_low(), "the failed login was carried back");
    let s = user(&p11);
    assert_eq!(inventory(&s), mid, "every object, under its handle");
    let k = find(&s, "k", false)[0];
    let mut iv = [3u8; 12];
    let pt = s.decrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, b"", 128.into()).unwrap()), k, &ct).unwrap();
    assert_eq!(pt, b"data");
    let ec = find(&s, "ec", false);
    let class = |h| s.get_attributes(h, &[cryptoki::object::AttributeType::Class]).unwrap();
    let (mut sk, mut vk) = (None, None);
    for h in ec {
        match class(h).first() {
            Some(Attribute::Class(c)) if *c == cryptoki::object::ObjectClass::PRIVATE_KEY => sk = Some(h),
            _ => vk = Some(h),
        }
    }
    let sig = s.sign(&Mechanism::Ecdsa, sk.unwrap(), &[9u8; 32]).unwrap();
    s.verify(&Mechanism::Ecdsa, vk.unwrap(), &[9u8; 32], &sig).unwrap();
    assert_eq!(find(&s, "r", true).len(), 2, "both versions of the rotated key");
    gcm(&s, find(&s, "r", false)[0]).unwrap();
    let new = s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("new")).unwrap();
    assert!(mid.iter().all(|(h, _)| new.handle() > *h), "ids are not reused");
    drop(s);
    p11.finalize().unwrap();
    let (ok, out) = cli(Some(back_conf.to_str().unwrap()), &["audit", "verify"]);
    assert!(ok, "the audit log verifies against the anchor carried back: {out}");
}
