//! The external key-encryption key (`[store] kek_file`): a copy of the store
//! without it does not open with the right PIN (and the attempt is not
//! counted against the PIN), a wrong KEK neither, the right one does; a KEK
//! added to an existing token re-wraps its PINs; with a KEK, public objects
//! are checked before any login. Also the default minimum PIN length.
//!
//! One process per test (`cargo nextest run --test kek`).

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::UserType;
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn cli(conf: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .arg("--conf")
        .arg(conf)
        .args(args)
        .env("KEYWARD_PIN", USER_PIN)
        .env("KEYWARD_SO_PIN", SO_PIN)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// `keyward kek new FILE`; returns the id it printed.
fn new_kek(file: &Path) -> String {
    let (ok, out) = cli(Path::new("/nonexistent.toml"), &["kek", "new", file.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert_eq!(std::fs::metadata(file).unwrap().permissions().mode() & 0o777, 0o600);
    let id = out.split("(id ").nth(1).and_then(|r| r.split(')').next()).unwrap().to_string();
    assert_eq!(id.len(), 16, "{out}");
    id
}

fn kek_table(file: &Path) -> String {
    format!("\n[store]\nkek_file = \"{}\"\n", file.display())
}

fn conf_of(t: &Token) -> PathBuf {
    PathBuf::from(t.conf.to_str().unwrap())
}

/// A token initialized (PINs set) under `extra` config.
fn initialized_with(extra: &str) -> Token {
    let t = blank_with(extra);
    t.p11.init_token(t.slot, &pin(SO_PIN), "kek").unwrap();
    let s = t.p11.open_rw_session(t.slot).unwrap();
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    s.init_pin(&pin(USER_PIN)).unwrap();
    s.logout().unwrap();
    t
}

fn aes_key(t: &Token) -> ObjectHandle {
    let s = t.user_session();
    s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("k")).unwrap()
}

/// A copy of the token files under `root/token` (taken while the module is
/// finalized).
fn copy_files(root: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("token")).unwrap();
    for e in std::fs::read_dir(root.join("token")).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, dir.path().join("token").join(p.file_name().unwrap())).unwrap();
        }
    }
    dir
}

/// Loads the module on the token under `dir` with a config that has `extra`.
fn open_at(dir: tempfile::TempDir, extra: &str) -> Token {
    let conf = write_config(dir.path(), extra);
    let conf = CString::new(conf.display().to_string()).unwrap();
    let p11 = load(&conf);
    let slot = p11.get_all_slots().unwrap()[0];
    Token { dir, conf, p11, slot }
}

fn finalize(t: Token) -> tempfile::TempDir {
    let Token { dir, p11, .. } = t;
    p11.finalize().unwrap();
    dir
}

fn user_login(t: &Token) -> cryptoki::error::Result<cryptoki::session::Session> {
    let s = t.p11.open_rw_session(t.slot).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN)))?;
    Ok(s)
}

#[test]
fn a_copied_store_needs_the_kek_and_only_that_kek() {
    let keys = tempfile::tempdir().unwrap();
    let (right, wrong) = (keys.path().join("kek"), keys.path().join("other"));
    let id = new_kek(&right);
    new_kek(&wrong);
    let t = initialized_with(&kek_table(&right));
    let k = aes_key(&t);
    let (ok, out) = cli(&conf_of(&t), &["kek", "status"]);
    assert!(ok && out.contains(&format!("SO PIN: PIN + KEK id {id}")), "{out}");
    assert!(out.contains(&format!("user PIN: PIN + KEK id {id}")), "{out}");
    let original = finalize(t);

    // Without the KEK: the right PIN does not open it, and no attempt is
    // counted (more tries than max_pin_attempts = 3, still not locked).
    let c = open_at(copy_files(original.path()), "");
    for _ in 0..5 {
        assert_eq!(rv(user_login(&c).unwrap_err()), RvError::DeviceError);
    }
    let info = c.p11.get_token_info(c.slot).unwrap();
    assert!(!info.user_pin_count_low() && !info.user_pin_locked(), "no failed attempt counted");
    let (ok, out) = cli(&conf_of(&c), &["inventory"]);
    assert!(!ok && out.contains(&format!("needs its key-encryption key (id {id})")), "{out}");
    finalize(c);
    // A wrong KEK: refused the same way, naming both ids.
    let c = open_at(copy_files(original.path()), &kek_table(&wrong));
    assert_eq!(rv(user_login(&c).unwrap_err()), RvError::DeviceError);
    let (ok, out) = cli(&conf_of(&c), &["inventory"]);
    assert!(!ok && out.contains(&format!("needs the key-encryption key with id {id}")), "{out}");
    finalize(c);
    // A missing KEK file: refused, naming the file.
    let missing = keys.path().join("missing");
    let c = open_at(copy_files(original.path()), &kek_table(&missing));
    assert_eq!(rv(user_login(&c).unwrap_err()), RvError::DeviceError);
    let (ok, out) = cli(&conf_of(&c), &["inventory"]);
    assert!(!ok && out.contains(&missing.display().to_string()), "{out}");
    finalize(c);
    // The right KEK: the copy opens with the right PIN, and a wrong PIN is
    // still counted.
    let c = open_at(copy_files(original.path()), &kek_table(&right));
    let s = c.p11.open_rw_session(c.slot).unwrap();
    assert_eq!(rv(s.login(UserType::User, Some(&pin("wrong-pin-0"))).unwrap_err()), RvError::PinIncorrect);
    assert!(c.p11.get_token_info(c.slot).unwrap().user_pin_count_low());
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    s.encrypt(&Mechanism::AesCbcPad([1; 16]), k, b"data").unwrap();
}

#[test]
fn a_kek_added_to_an_existing_token_rewraps_its_pins() {
    let t = initialized();
    let k = aes_key(&t);
    let keys = tempfile::tempdir().unwrap();
    let kek = keys.path().join("kek");
    let id = new_kek(&kek);
    let dir = finalize(t);
    // The same token, now configured with a KEK.
    let t = open_at(dir, &kek_table(&kek));
    let conf_path = conf_of(&t);
    let (ok, out) = cli(&conf_path, &["kek", "status"]);
    assert!(ok && out.contains("SO PIN: PIN only") && out.contains("user PIN: PIN only"), "{out}");
    // The next user login re-wraps the user PIN (the SO's waits for the SO).
    drop(t.user_session());
    let (_, out) = cli(&conf_path, &["kek", "status"]);
    assert!(out.contains(&format!("user PIN: PIN + KEK id {id}")) && out.contains("SO PIN: PIN only"), "{out}");
    // `keyward kek add` logs in as both.
    let (ok, out) = cli(&conf_path, &["kek", "add"]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("SO PIN: PIN + KEK id {id}")), "{out}");
    let s = t.user_session();
    s.encrypt(&Mechanism::AesCbcPad([1; 16]), k, b"data").unwrap();
    drop(s);
    // Now a copy without the KEK does not open.
    let dir = finalize(t);
    let c = open_at(copy_files(dir.path()), "");
    assert_eq!(rv(user_login(&c).unwrap_err()), RvError::DeviceError);
    let s = c.p11.open_rw_session(c.slot).unwrap();
    assert_eq!(rv(s.login(UserType::So, Some(&pin(SO_PIN))).unwrap_err()), RvError::DeviceError);
}

#[test]
fn with_a_kek_public_objects_are_checked_before_login() {
    let keys = tempfile::tempdir().unwrap();
    let kek = keys.path().join("kek");
    new_kek(&kek);
    let t = initialized_with(&kek_table(&kek));
    let s = t.user_session();
    let (pubk, privk) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::Verify(true),
                Attribute::EcParams(vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]),
            ],
            &[Attribute::Token(true), Attribute::Sign(true)],
        )
        .unwrap();
    let sig = s.sign(&Mechanism::Ecdsa, privk, &[9; 32]).unwrap();
    drop(s);
    let t = open_at(finalize(t), &kek_table(&kek));
    {
        // No login in this process yet: the public key verifies, and public
        // token objects can be created.
        let s = t.p11.open_rw_session(t.slot).unwrap();
        s.verify(&Mechanism::Ecdsa, pubk, &[9; 32], &sig).unwrap();
        s.create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Value(b"public".to_vec()),
        ])
        .unwrap();
    }
    // An edited public key row is refused before login as well.
    let dir = finalize(t);
    {
        let c = rusqlite::Connection::open(dir.path().join("token/token.sqlite")).unwrap();
        let blob: Vec<u8> =
            c.query_row("SELECT public FROM objects WHERE id = ?1", [pubk.handle() as i64], |r| r.get(0)).unwrap();
        let mut b = blob.clone();
        let n = b.len();
        b[n - 1] ^= 1; // the last attribute's last byte
        c.execute("UPDATE objects SET public = ?2 WHERE id = ?1", rusqlite::params![pubk.handle() as i64, b]).unwrap();
    }
    let t = open_at(dir, &kek_table(&kek));
    let s = t.p11.open_ro_session(t.slot).unwrap();
    let e = s.verify(&Mechanism::Ecdsa, pubk, &[9; 32], &sig).unwrap_err();
    // (Hidden before login: its CKA_PRIVATE may be the edit.)
    assert_eq!(rv(e), RvError::KeyHandleInvalid, "a forged public key is never used");
    drop(s);
    let s = t.user_session();
    assert_eq!(rv(s.verify(&Mechanism::Ecdsa, pubk, &[9; 32], &sig).unwrap_err()), RvError::DeviceError);
}

#[test]
fn the_default_minimum_pin_length_is_6() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("keyward.toml");
    // The harness config with the default PIN policy.
    std::fs::write(
        &conf,
        format!("[policy]\npbkdf2_iterations = 1000\n[[slot]]\npath = \"{}\"\n", dir.path().join("token").display()),
    )
    .unwrap();
    let p11 = load(&CString::new(conf.display().to_string()).unwrap());
    let slot = p11.get_all_slots().unwrap()[0];
    assert_eq!(p11.get_token_info(slot).unwrap().min_pin_length(), 6);
    assert_eq!(rv(p11.init_token(slot, &pin("12345"), "t").unwrap_err()), RvError::PinLenRange);
    p11.init_token(slot, &pin("123456"), "t").unwrap();
}

#[test]
fn kek_new_never_overwrites() {
    let keys = tempfile::tempdir().unwrap();
    let f = keys.path().join("kek");
    new_kek(&f);
    let before = std::fs::read(&f).unwrap();
    let (ok, out) = cli(Path::new("/nonexistent.toml"), &["kek", "new", f.to_str().unwrap()]);
    assert!(!ok && out.contains("cannot create"), "{out}");
    assert_eq!(std::fs::read(&f).unwrap(), before);
}

const ALICE_PIN: &str = "alice-pin-1234";

/// The first bytes of `name`'s principal secret in a store copy.
fn secret_prefix(dir: &Path, name: &str) -> Vec<u8> {
    let c = rusqlite::Connection::open(dir.join("token/token.sqlite")).unwrap();
    let s: Vec<u8> = c.query_row("SELECT secret FROM principals WHERE name = ?1", [name], |r| r.get(0)).unwrap();
    s[..4].to_vec()
}

fn alice_login(t: &Token) -> pkcs11_sys::CK_RV {
    let s = t.p11.open_rw_session(t.slot).unwrap();
    c_login_user(&s, pkcs11_sys::CKU_USER, ALICE_PIN, "alice")
}

/// With a KEK, the principal secrets (a named user's keys, the SO's
/// authority and recovery keys) are under it too: a copy of the store and
/// alice's PIN do not log her in without the KEK (and the attempts are not
/// counted); one made before the KEK was configured is sealed again under
/// it at her next login.
#[test]
fn named_users_secrets_are_under_the_kek_too() {
    if on_postgres() {
        return; // reads the SQLite files
    }
    let keys = tempfile::tempdir().unwrap();
    let kek = keys.path().join("kek");
    let id = new_kek(&kek);
    let t = initialized_with(&kek_table(&kek));
    let (ok, out) = cli(&conf_of(&t), &["user", "add", "alice", "--new-pin", ALICE_PIN]);
    assert!(ok, "{out}");
    assert_eq!(alice_login(&t), 0);
    let original = finalize(t);
    assert_eq!(secret_prefix(original.path(), "alice"), b"KWPK");
    assert_eq!(secret_prefix(original.path(), "so"), b"KWPK");

    let c = open_at(copy_files(original.path()), "");
    for _ in 0..5 {
        assert_eq!(alice_login(&c), 0x30, "CKR_DEVICE_ERROR without the KEK");
    }
    finalize(c);
    let c = open_at(copy_files(original.path()), &kek_table(&kek));
    let (ok, out) = cli(&conf_of(&c), &["user", "list"]);
    assert!(ok && out.lines().any(|l| l.starts_with("alice") && l.contains("failed logins 0")), "{out}");
    assert_eq!(alice_login(&c), 0, "the right KEK");
    finalize(c);

    // Made without a KEK, then the KEK configured: alice's next login
    // seals her secret again under it.
    let t = initialized();
    let (ok, out) = cli(&conf_of(&t), &["user", "add", "alice", "--new-pin", ALICE_PIN]);
    assert!(ok, "{out}");
    let dir = finalize(t);
    assert_eq!(secret_prefix(dir.path(), "alice")[0], 1, "PIN only");
    let t = open_at(dir, &kek_table(&kek));
    let (_, out) = cli(&conf_of(&t), &["kek", "status"]);
    assert!(out.contains("principal alice: PIN only"), "{out}");
    assert_eq!(alice_login(&t), 0);
    let (_, out) = cli(&conf_of(&t), &["kek", "status"]);
    assert!(out.contains(&format!("principal alice: PIN + KEK id {id}")), "{out}");
    assert_eq!(alice_login(&t), 0, "and again, from the re-sealed secret");
    assert!(cli(&conf_of(&t), &["user", "list"]).0, "an SO login");
    let dir = finalize(t);
    assert_eq!(secret_prefix(dir.path(), "alice"), b"KWPK");
    assert_eq!(secret_prefix(dir.path(), "so"), b"KWPK", "the SO's too, at its login");
    let c = open_at(copy_files(dir.path()), "");
    assert_eq!(alice_login(&c), 0x30);
    finalize(c);
    let t = open_at(dir, &kek_table(&kek));
    assert_eq!(alice_login(&t), 0);
}
