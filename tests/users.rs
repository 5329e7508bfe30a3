//! Named users (issue 17, slice 3 of docs/named-users.md): the SO adds
//! them with `keyward user`, each logs in with its own PIN through
//! `C_LoginUser` (or `C_Login` on a slot mapped to it), has its own
//! lockout counter, holds no master key and so sees and uses none of the
//! default user's keys; a record edited in the store fails the login.
//!
//! One process per test (`cargo nextest run --test users`).

mod common;

use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::{Session, UserType};
use pkcs11_sys::{CK_RV, CK_USER_TYPE, CKU_SO, CKU_USER};

const ALICE_PIN: &str = "alice-pin-1234";
const BOB_PIN: &str = "bob-pin-12345";
const IV: [u8; 16] = [3; 16];

/// C_LoginUser(session, user, pin, name).
fn login_user(s: &Session, user: CK_USER_TYPE, pin: &str, name: &str) -> CK_RV {
    c_login_user(s, user, pin, name)
}

const OK: CK_RV = 0;
const PIN_INCORRECT: CK_RV = 0xA0;
const PIN_LOCKED: CK_RV = 0xA4;
const ARGUMENTS_BAD: CK_RV = 0x07;
const DEVICE_ERROR: CK_RV = 0x30;

fn so_cli(t: &Token, args: &[&str]) -> (bool, String) {
    let mut a = vec!["user", "--so-pin", SO_PIN];
    a.extend_from_slice(args);
    cli(t, &a)
}

fn add_user(t: &Token, name: &str, pin: &str) {
    let (ok, out) = so_cli(t, &["add", name, "--new-pin", pin]);
    assert!(ok && out.contains(&format!("added user {name}")), "{out}");
}

/// A token with the default user's AES key "default-key", a public data
/// object "note", and named users alice and bob.
fn with_users() -> (Token, cryptoki::object::ObjectHandle) {
    let t = initialized();
    let s = t.user_session();
    let key = s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("default-key")).unwrap();
    s.create_object(&[
        Attribute::Class(ObjectClass::DATA),
        Attribute::Token(true),
        Attribute::Label(b"note".to_vec()),
        Attribute::Value(b"hello".to_vec()),
    ])
    .unwrap();
    s.logout().unwrap();
    add_user(&t, "alice", ALICE_PIN);
    add_user(&t, "bob", BOB_PIN);
    (t, key)
}

fn labels(s: &Session) -> Vec<String> {
    let mut v: Vec<String> = s
        .find_objects(&[])
        .unwrap()
        .into_iter()
        .map(|h| match &s.get_attributes(h, &[cryptoki::object::AttributeType::Label]).unwrap()[..] {
            [Attribute::Label(l)] => String::from_utf8_lossy(l).to_string(),
            _ => String::new(),
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_named_user_logs_in_with_its_own_pin_and_sees_none_of_the_default_users_keys() {
    let (t, key) = with_users();
    let (ok, out) = so_cli(&t, &["list"]);
    assert!(ok && out.contains("alice") && out.contains("bob") && out.contains("roles user"), "{out}");

    let s = t.p11.open_rw_session(t.slot).unwrap();
    assert_eq!(login_user(&s, CKU_USER, BOB_PIN, "alice"), PIN_INCORRECT, "bob's PIN is not alice's");
    assert_eq!(login_user(&s, CKU_USER, ALICE_PIN, "nobody"), PIN_INCORRECT, "unknown users look like a wrong PIN");
    assert_eq!(login_user(&s, CKU_USER, USER_PIN, "alice"), PIN_INCORRECT, "the default PIN is not alice's");
    assert_eq!(login_user(&s, CKU_USER, ALICE_PIN, "alice"), OK);
    // Only the public data object: no key, nothing private.
    assert_eq!(labels(&s), ["note"]);
    assert!(s.find_objects(&[Attribute::Label(b"default-key".to_vec())]).unwrap().is_empty());
    // The default user's key is not there for alice, by handle either.
    let e = s.encrypt(&Mechanism::AesCbcPad(IV), key, b"m").unwrap_err();
    assert_eq!(rv(e), RvError::KeyHandleInvalid);
    // Alice's own keys are sealed under their own data keys (tests/grants.rs).
    let mine = s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("alice-key")).unwrap();
    s.encrypt(&Mechanism::AesCbcPad(IV), mine, b"m").unwrap();
    s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(32.into()), Attribute::Token(false)]).unwrap();
    assert_eq!(labels(&s), ["", "alice-key", "note"], "and the unlabelled session key");
    s.logout().unwrap();
    // The default user still sees and uses its key; `default` names it too.
    assert_eq!(login_user(&s, CKU_USER, USER_PIN, "default"), OK);
    // (Handles of private objects end with the login that got them.)
    let key = s.find_objects(&[Attribute::Label(b"default-key".to_vec())]).unwrap()[0];
    s.encrypt(&Mechanism::AesCbcPad(IV), key, b"m").unwrap();
    assert_eq!(labels(&s), ["default-key", "note"]);
    s.logout().unwrap();
    // The SO's name is `so`.
    assert_eq!(login_user(&s, CKU_SO, SO_PIN, "alice"), ARGUMENTS_BAD);
    assert_eq!(login_user(&s, CKU_SO, SO_PIN, "so"), OK);
    s.logout().unwrap();
    // The audit log names who logged in.
    let log = std::fs::read_to_string(t.dir.path().join("token/audit.jsonl")).unwrap();
    assert!(log.lines().any(|l| l.contains("C_LoginUser") && l.contains("\"user\":\"alice\"")), "{log}");
    assert!(log.lines().any(|l| l.contains("keyward user add") && l.contains("\"user\":\"bob\"")), "{log}");
}

#[test]
fn lockout_is_counted_per_user_and_the_so_locks_and_unlocks() {
    let (t, _) = with_users();
    let s = t.p11.open_rw_session(t.slot).unwrap();
    // max_pin_attempts = 3 (the harness): the third wrong PIN locks alice.
    assert_eq!(login_user(&s, CKU_USER, "wrong-pin-1", "alice"), PIN_INCORRECT);
    assert_eq!(login_user(&s, CKU_USER, "wrong-pin-2", "alice"), PIN_INCORRECT);
    assert_eq!(login_user(&s, CKU_USER, "wrong-pin-3", "alice"), PIN_LOCKED);
    assert_eq!(login_user(&s, CKU_USER, ALICE_PIN, "alice"), PIN_LOCKED, "locked: even the right PIN");
    let (_, out) = so_cli(&t, &["list"]);
    assert!(out.lines().any(|l| l.starts_with("alice") && l.contains("failed logins 3")), "{out}");
    // Bob and the default user are not affected.
    assert_eq!(login_user(&s, CKU_USER, BOB_PIN, "bob"), OK);
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    s.logout().unwrap();
    // The SO unlocks alice (the count goes to 0) and locks bob.
    assert!(so_cli(&t, &["unlock", "alice"]).0);
    assert_eq!(login_user(&s, CKU_USER, ALICE_PIN, "alice"), OK);
    s.logout().unwrap();
    assert!(so_cli(&t, &["lock", "bob"]).0);
    assert_eq!(login_user(&s, CKU_USER, BOB_PIN, "bob"), PIN_LOCKED);
    let (_, out) = so_cli(&t, &["list"]);
    assert!(out.lines().any(|l| l.starts_with("bob") && l.contains("locked")), "{out}");
    // A success resets the count.
    assert_eq!(login_user(&s, CKU_USER, "wrong-pin-1", "alice"), PIN_INCORRECT);
    assert_eq!(login_user(&s, CKU_USER, ALICE_PIN, "alice"), OK);
    s.logout().unwrap();
    let (_, out) = so_cli(&t, &["list"]);
    assert!(out.lines().any(|l| l.starts_with("alice") && l.contains("failed logins 0")), "{out}");
}

#[test]
fn pins_change_remove_and_c_init_token_end_named_users() {
    let (t, _) = with_users();
    let s = t.p11.open_rw_session(t.slot).unwrap();
    // Alice changes her own PIN.
    assert_eq!(login_user(&s, CKU_USER, ALICE_PIN, "alice"), OK);
    s.set_pin(&pin(ALICE_PIN), &pin("alice-new-5678")).unwrap();
    s.logout().unwrap();
    assert_eq!(login_user(&s, CKU_USER, ALICE_PIN, "alice"), PIN_INCORRECT);
    assert_eq!(login_user(&s, CKU_USER, "alice-new-5678", "alice"), OK);
    s.logout().unwrap();
    // The SO resets bob's PIN.
    assert!(so_cli(&t, &["passwd", "bob", "--new-pin", "bob-reset-999"]).0);
    assert_eq!(login_user(&s, CKU_USER, BOB_PIN, "bob"), PIN_INCORRECT);
    assert_eq!(login_user(&s, CKU_USER, "bob-reset-999", "bob"), OK);
    s.logout().unwrap();
    // The SO changes its own PIN: it can still manage users.
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    s.set_pin(&pin(SO_PIN), &pin("so-pin-5678")).unwrap();
    s.logout().unwrap();
    let (ok, out) = cli(&t, &["user", "--so-pin", "so-pin-5678", "add", "carol", "--new-pin", "carol-pin-123"]);
    assert!(ok, "{out}");
    assert_eq!(login_user(&s, CKU_USER, "carol-pin-123", "carol"), OK);
    s.logout().unwrap();
    // Removed: gone.
    assert!(cli(&t, &["user", "--so-pin", "so-pin-5678", "remove", "carol"]).0);
    assert_eq!(login_user(&s, CKU_USER, "carol-pin-123", "carol"), PIN_INCORRECT);
    // C_InitToken: no named user survives.
    drop(s);
    t.p11.init_token(t.slot, &pin("so-pin-5678"), "again").unwrap();
    let s = t.p11.open_rw_session(t.slot).unwrap();
    assert_eq!(login_user(&s, CKU_USER, "alice-new-5678", "alice"), PIN_INCORRECT);
}

/// Roles, name and id live in a record the SO signed: a row edited in the
/// store (roles raised, or another user's secret swapped in) fails the
/// login instead of granting what the edit says.
#[test]
fn an_edited_user_row_fails_its_login() {
    if on_postgres() {
        return; // reads the SQLite file directly
    }
    let (t, _) = with_users();
    let db = t.dir.path().join("token/token.sqlite");
    sql_in_child(&db, "UPDATE principals SET roles = 7 WHERE name = 'alice'");
    let s = t.p11.open_rw_session(t.slot).unwrap();
    assert_eq!(login_user(&s, CKU_USER, ALICE_PIN, "alice"), DEVICE_ERROR);
    // Bob's secret and salt under alice's name: bob's PIN must not open it as alice.
    sql_in_child(
        &db,
        "UPDATE principals SET roles = 1, (secret, pin_salt, pin_iter) = \
         (SELECT secret, pin_salt, pin_iter FROM principals WHERE name = 'bob') WHERE name = 'alice'",
    );
    assert_eq!(login_user(&s, CKU_USER, BOB_PIN, "alice"), PIN_INCORRECT);
    assert_eq!(login_user(&s, CKU_USER, BOB_PIN, "bob"), OK);
}

/// Runs `sql` on the SQLite file `db` in a child process: a second SQLite
/// library in this process (rusqlite's, beside the module's) would drop
/// the module's POSIX locks when its connection closes
/// (sqlite.org/howtocorrupt.html §2.2.1). The statement must change a row.
fn sql_in_child(db: &std::path::Path, sql: &str) {
    let out = test_worker("sql_worker").env("SQL_DB", db).env("SQL", sql).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("sql ok"), "{text}");
}

#[test]
fn sql_worker() {
    let (Ok(db), Ok(sql)) = (std::env::var("SQL_DB"), std::env::var("SQL")) else { return };
    let c = rusqlite::Connection::open(db).unwrap();
    assert!(c.execute(&sql, []).unwrap() > 0, "no row changed: {sql}");
    println!("sql ok");
}

/// `[[slot]] user = "alice"`: an application that only calls C_Login logs
/// in as alice with alice's PIN and sees what alice sees; the SO does not
/// log in on that slot.
#[test]
fn a_slot_mapped_to_a_user_logs_in_as_that_user_with_c_login() {
    let (t, key) = with_users();
    let mapped = t.dir.path().join("mapped.toml");
    let conf = std::fs::read_to_string(t.conf.to_str().unwrap()).unwrap();
    std::fs::write(&mapped, conf.replace("[[slot]]\n", "[[slot]]\nuser = \"alice\"\n")).unwrap();
    // Another process: the module loads once per process.
    let out = test_worker("mapped_slot_worker")
        .env("MAPPED_CONF", &mapped)
        .env("MAPPED_KEY", key.handle().to_string())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("mapped ok"), "{text}");
}

#[test]
fn mapped_slot_worker() {
    let Ok(conf) = std::env::var("MAPPED_CONF") else { return };
    let p11 = load(&std::ffi::CString::new(conf).unwrap());
    let slot = p11.get_all_slots().unwrap()[0];
    let s = p11.open_rw_session(slot).unwrap();
    assert!(p11.get_slot_info(slot).unwrap().slot_description().contains("(user alice)"));
    assert_eq!(rv(s.login(UserType::User, Some(&pin(USER_PIN))).unwrap_err()), RvError::PinIncorrect);
    // The mapped slot reports alice's PIN counter.
    assert!(p11.get_token_info(slot).unwrap().user_pin_count_low(), "alice's failure shows");
    s.login(UserType::User, Some(&pin(ALICE_PIN))).unwrap();
    assert!(!p11.get_token_info(slot).unwrap().user_pin_count_low(), "and her success resets it");
    assert_eq!(labels(&s), ["note"]);
    // The default user's key by its handle (never handed out in this
    // process, so any login could name it): not there for alice.
    let key: u64 = std::env::var("MAPPED_KEY").unwrap().parse().unwrap();
    // SAFETY: a handle number of this token (only ever passed back to the module).
    let key = unsafe { cryptoki::object::ObjectHandle::new_from_raw(key as _) };
    let e = s.encrypt(&Mechanism::AesCbcPad(IV), key, b"m").unwrap_err();
    assert_eq!(rv(e), RvError::KeyHandleInvalid);
    assert_eq!(
        rv(s.get_attributes(key, &[cryptoki::object::AttributeType::Label]).unwrap_err()),
        RvError::ObjectHandleInvalid
    );
    s.logout().unwrap();
    assert_eq!(rv(s.login(UserType::So, Some(&pin(SO_PIN))).unwrap_err()), RvError::UserTypeInvalid);
    assert_eq!(login_user(&s, CKU_USER, BOB_PIN, "bob"), ARGUMENTS_BAD, "a mapped slot is one user's");
    println!("mapped ok");
}

/// A lock, a removal or a PIN reset by the SO in another process ends the
/// user's login here at its next call that reads the store (a search, a
/// key lookup after `store.refresh_ms`); its own PIN change does not.
#[test]
fn a_lock_removal_or_reset_elsewhere_ends_the_login_at_the_next_call() {
    use cryptoki::session::SessionState;
    let (t, _) = with_users();
    let s = t.p11.open_rw_session(t.slot).unwrap();
    let state = |s: &Session| {
        let _ = s.find_objects(&[]).unwrap(); // reads the store
        s.get_session_info().unwrap().session_state()
    };
    assert_eq!(login_user(&s, CKU_USER, ALICE_PIN, "alice"), OK);
    assert_eq!(state(&s), SessionState::RwUser);
    add_user(&t, "carol", "carol-pin-123"); // someone else's change: the login stays
    assert_eq!(state(&s), SessionState::RwUser);
    s.set_pin(&pin(ALICE_PIN), &pin("alice-new-5678")).unwrap(); // its own: stays
    assert_eq!(state(&s), SessionState::RwUser);
    assert!(so_cli(&t, &["lock", "alice"]).0);
    assert_eq!(state(&s), SessionState::RwPublic, "locked elsewhere: the login ended");
    assert!(so_cli(&t, &["unlock", "alice"]).0);
    assert_eq!(login_user(&s, CKU_USER, "alice-new-5678", "alice"), OK);
    assert!(so_cli(&t, &["passwd", "alice", "--new-pin", "alice-reset-99"]).0);
    assert_eq!(state(&s), SessionState::RwPublic, "a new PIN elsewhere: the login ended");
    assert_eq!(login_user(&s, CKU_USER, BOB_PIN, "bob"), OK);
    assert!(so_cli(&t, &["remove", "bob"]).0);
    assert_eq!(state(&s), SessionState::RwPublic, "removed elsewhere: the login ended");
}

/// Every record of a named user's calls names the user (`principal`), and
/// `keyward audit show --user` picks them out; the log still verifies.
#[test]
fn audit_records_name_the_user_of_every_call() {
    let (t, _) = with_users();
    let s = t.p11.open_rw_session(t.slot).unwrap();
    assert_eq!(login_user(&s, CKU_USER, ALICE_PIN, "alice"), OK);
    let _ = s.find_objects(&[]).unwrap();
    let k = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[Attribute::Token(true), Attribute::ValueLen(32.into()), Attribute::Encrypt(false)],
        )
        .unwrap();
    let _ = s.encrypt(&Mechanism::AesCbcPad(IV), k, b"m").unwrap_err();
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    s.logout().unwrap();
    drop(s);
    let (ok, out) = cli(&t, &["audit", "show", "--user", "alice", "--json"]);
    assert!(ok, "{out}");
    let records: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let functions: Vec<&str> = records.iter().map(|r| r["function"].as_str().unwrap()).collect();
    for f in ["C_LoginUser", "C_GenerateKey", "C_EncryptInit", "C_Logout"] {
        assert!(functions.contains(&f), "{f} in {functions:?}");
    }
    assert!(records.iter().all(|r| r["principal"] == "alice"), "{out}");
    let refused = records.iter().find(|r| r["function"] == "C_EncryptInit").unwrap();
    assert_eq!(refused["result"], "CKR_KEY_FUNCTION_NOT_PERMITTED");
    // The default user's login is not alice's.
    let (_, all) = cli(&t, &["audit", "show", "--json"]);
    let login = all.lines().rev().find(|l| l.contains("\"C_Login\"")).unwrap();
    assert!(!login.contains("principal"), "{login}");
    let (ok, out) = cli(&t, &["audit", "verify"]);
    assert!(ok && out.contains("audit log OK"), "{out}");
    // Metrics per user, from the log.
    let (ok, m) = cli(&t, &["metrics"]);
    assert!(ok, "{m}");
    let line = |result: &str| {
        m.lines().find(|l| {
            l.starts_with("keyward_user_operations_total{") && l.contains("user=\"alice\"") && l.contains(result)
        })
    };
    assert!(line("result=\"CKR_OK\"").is_some_and(|l| !l.ends_with(" 0")), "{m}");
    assert!(line("result=\"CKR_KEY_FUNCTION_NOT_PERMITTED\"").is_some_and(|l| l.ends_with(" 1")), "{m}");
    assert!(!m.contains("user=\"bob\""), "bob made no call: {m}");
}

/// `[[slot]] allow_os_users` / `allow_os_groups`: a process of another OS
/// user finds the slot but not its token (CKR_ACTION_PROHIBITED, nothing
/// opened or written); its own user or one of its groups opens it.
#[test]
fn a_slot_restricted_to_other_os_users_refuses_this_process() {
    let (t, _) = with_users();
    let conf = std::fs::read_to_string(t.conf.to_str().unwrap()).unwrap();
    let me = String::from_utf8(std::process::Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    let group = String::from_utf8(std::process::Command::new("id").arg("-gn").output().unwrap().stdout).unwrap();
    for (restriction, expect) in [
        ("allow_os_users = [\"no-such-user-anywhere\"]".to_string(), "refused"),
        (format!("allow_os_users = [\"no-such-user-anywhere\", \"{}\"]", me.trim()), "opened"),
        (format!("allow_os_groups = [\"{}\"]", group.trim()), "opened"),
        ("allow_os_groups = [\"no-such-group-anywhere\"]".to_string(), "refused"),
    ] {
        let path = t.dir.path().join("restricted.toml");
        std::fs::write(&path, conf.replace("[[slot]]\n", &format!("[[slot]]\n{restriction}\n"))).unwrap();
        let out = test_worker("restricted_slot_worker").env("RESTRICTED_CONF", &path).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && text.contains(&format!("slot {expect}")), "{restriction}: {text}");
    }
}

#[test]
fn restricted_slot_worker() {
    let Ok(conf) = std::env::var("RESTRICTED_CONF") else { return };
    let p11 = load(&std::ffi::CString::new(conf).unwrap());
    let slots = p11.get_all_slots().unwrap();
    assert_eq!(slots.len(), 1, "the slot is listed either way");
    match p11.open_rw_session(slots[0]) {
        Ok(s) => {
            s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
            println!("slot opened");
        }
        Err(e) => {
            assert_eq!(rv(e), RvError::ActionProhibited);
            println!("slot refused");
        }
    }
}

/// A TOTP code of `uri`'s secret at `time`, by an independent
/// implementation (totp-lite over RustCrypto, not the module's AWS-LC).
fn totp_code(uri: &str, time: u64) -> String {
    let secret = uri.split("secret=").nth(1).unwrap().split('&').next().unwrap();
    let bytes = data_encoding::BASE32_NOPAD.decode(secret.as_bytes()).unwrap();
    totp_lite::totp_custom::<totp_lite::Sha1>(30, 6, &bytes, time)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A user added with `--totp` logs in with its PIN followed by the current
/// code: without the code, or with a wrong one, the login fails and counts
/// toward lockout; the right code (from an independent implementation)
/// works once (a replay fails); the record says TOTP, so a store edit
/// cannot switch it off.
#[test]
fn a_totp_user_needs_its_pin_and_the_current_code() {
    let (t, _) = with_users();
    let uri_file = t.dir.path().join("carol.otpauth");
    let (ok, out) = so_cli(&t, &["add", "carol", "--new-pin", "carol-pin-123", "--totp", uri_file.to_str().unwrap()]);
    assert!(ok && out.contains("TOTP") && !out.contains("secret="), "the secret is not printed: {out}");
    let uri = std::fs::read_to_string(&uri_file).unwrap();
    assert!(uri.starts_with("otpauth://totp/keyward:carol?secret="), "{uri}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&uri_file).unwrap().permissions().mode() & 0o777, 0o600);
    // Never overwritten.
    assert!(!so_cli(&t, &["add", "dave", "--new-pin", "dave-pin-1234", "--totp", uri_file.to_str().unwrap()]).0);

    let s = t.p11.open_rw_session(t.slot).unwrap();
    let pin = "carol-pin-123";
    assert_eq!(login_user(&s, CKU_USER, pin, "carol"), PIN_INCORRECT, "no code");
    let code = totp_code(&uri, unix_now());
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 500_000) % 1_000_000);
    assert_eq!(login_user(&s, CKU_USER, &format!("{pin}{wrong}"), "carol"), PIN_INCORRECT, "a wrong code");
    let (_, list) = so_cli(&t, &["list"]);
    assert!(list.lines().any(|l| l.starts_with("carol") && l.contains("failed logins 2")), "both counted: {list}");
    let code = totp_code(&uri, unix_now());
    assert_eq!(login_user(&s, CKU_USER, &format!("{pin}{code}"), "carol"), OK, "PIN and the current code");
    s.logout().unwrap();
    assert_eq!(login_user(&s, CKU_USER, &format!("{pin}{code}"), "carol"), PIN_INCORRECT, "a code works once");
    // Wrong codes lock like wrong PINs (max_pin_attempts = 3).
    for _ in 0..2 {
        assert_ne!(login_user(&s, CKU_USER, &format!("{pin}{wrong}"), "carol"), OK);
    }
    let next = totp_code(&uri, unix_now() + 30);
    assert_eq!(login_user(&s, CKU_USER, &format!("{pin}{next}"), "carol"), PIN_LOCKED);
    if !on_postgres() {
        // Switching TOTP off in the store breaks the signed record instead.
        assert!(so_cli(&t, &["unlock", "carol"]).0);
        // flags u32 (its low byte here), then x25519, ed25519, two empty lists
        sql_in_child(
            &t.dir.path().join("token/token.sqlite"),
            "UPDATE principals SET record = CAST(substr(record, 1, length(record) - 76) || x'00' || \
             substr(record, length(record) - 74) AS BLOB) WHERE name = 'carol' AND \
             substr(record, length(record) - 75, 1) = x'01'",
        );
        // (the flag byte is 0 now, the record otherwise whole: it decodes)
        sql_in_child(
            &t.dir.path().join("token/token.sqlite"),
            "UPDATE principals SET roles = roles WHERE name = 'carol' AND typeof(record) = 'blob' AND \
             substr(record, length(record) - 75, 1) = x'00'",
        );
        assert_eq!(login_user(&s, CKU_USER, pin, "carol"), DEVICE_ERROR);
    }
}

/// Many threads of one process logging in at once with the right PIN
/// (the cryptoki suite's login_feast) never lock it, whoever logs in: each
/// slow PIN check waits for the one before (the default user then finds
/// the cached key; a named user's success resets its count first).
/// max_pin_attempts is 3 here and 16 threads try at once.
#[test]
fn concurrent_right_pins_never_lock_the_pin() {
    let (t, _) = with_users();
    // A fresh process: no PIN key cached yet.
    let out = test_worker("concurrent_login_worker").env("LOGIN_CONF", t.conf.to_str().unwrap()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("logins ok"), "{text}");
}

#[test]
fn concurrent_login_worker() {
    let Ok(conf) = std::env::var("LOGIN_CONF") else { return };
    let p11 = std::sync::Arc::new(load(&std::ffi::CString::new(conf).unwrap()));
    let slot = p11.get_all_slots().unwrap()[0];
    for (user, pin_text) in [(None, USER_PIN), (Some("alice"), ALICE_PIN)] {
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let p11 = p11.clone();
                std::thread::spawn(move || {
                    let s = p11.open_rw_session(slot).unwrap();
                    let rv = match user {
                        None => match s.login(UserType::User, Some(&pin(pin_text))) {
                            Ok(()) => OK,
                            Err(e) => match rv(e) {
                                RvError::UserAlreadyLoggedIn => OK,
                                other => panic!("{other:?}"),
                            },
                        },
                        Some(name) => match login_user(&s, CKU_USER, pin_text, name) {
                            0x100 => OK, // CKR_USER_ALREADY_LOGGED_IN
                            rv => rv,
                        },
                    };
                    assert_eq!(rv, OK, "{user:?}");
                    std::mem::forget(s); // keep the login while the others try
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
        let s = p11.open_rw_session(slot).unwrap();
        s.logout().unwrap();
    }
    println!("logins ok");
}

/// `keyward user so-totp`: from then on the SO's PIN argument is the SO
/// PIN followed by the current code; without it, or with a wrong one, the
/// login fails and counts toward the SO's lockout; a code works once.
#[test]
fn the_so_can_need_a_totp_code_too() {
    let (t, _) = with_users();
    let file = t.dir.path().join("so.otpauth");
    let (ok, out) = so_cli(&t, &["so-totp", file.to_str().unwrap()]);
    assert!(ok && !out.contains("secret="), "{out}");
    let uri = std::fs::read_to_string(&file).unwrap();
    assert!(uri.starts_with("otpauth://totp/keyward:so?secret="), "{uri}");
    let s = t.p11.open_rw_session(t.slot).unwrap();
    assert_eq!(login_user(&s, CKU_SO, SO_PIN, "so"), PIN_INCORRECT, "the PIN alone");
    let code = totp_code(&uri, unix_now());
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 500_000) % 1_000_000);
    assert_eq!(login_user(&s, CKU_SO, &format!("{SO_PIN}{wrong}"), "so"), PIN_INCORRECT, "a wrong code");
    let flags = t.p11.get_token_info(t.slot).unwrap();
    assert!(flags.so_pin_count_low(), "both attempts counted");
    assert_eq!(login_user(&s, CKU_SO, &format!("{SO_PIN}{code}"), "so"), OK);
    s.logout().unwrap();
    assert!(!t.p11.get_token_info(t.slot).unwrap().so_pin_count_low(), "a success resets the count");
    assert_eq!(login_user(&s, CKU_SO, &format!("{SO_PIN}{code}"), "so"), PIN_INCORRECT, "a code works once");
    // The CLI: the PIN alone fails.
    let (ok, out) = so_cli(&t, &["list"]);
    assert!(!ok && out.contains("CKR_PIN_INCORRECT"), "{out}");
    // The default user is not affected.
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
}

fn set_now(t: u64) {
    // SAFETY: tests run one per process and set the variable between calls
    // into the module, from this thread only.
    unsafe { std::env::set_var("KEYWARD_TEST_NOW", t.to_string()) };
}

/// A principal with a second factor destroys keys (a destructive act) only
/// within 5 minutes of its last code; a context-specific login with the
/// PIN and a new code renews it.
#[test]
fn destructive_acts_need_a_fresh_code() {
    let t = initialized_with("[testing]\nallow_test_clock = true\n");
    let file = t.dir.path().join("carol.otpauth");
    let (ok, out) = so_cli(&t, &["add", "carol", "--new-pin", "carol-pin-123", "--totp", file.to_str().unwrap()]);
    assert!(ok, "{out}");
    let uri = std::fs::read_to_string(&file).unwrap();
    let t0 = unix_now();
    set_now(t0);
    let s = t.p11.open_rw_session(t.slot).unwrap();
    let code = totp_code(&uri, t0);
    assert_eq!(login_user(&s, CKU_USER, &format!("carol-pin-123{code}"), "carol"), OK);
    let k1 = s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("k1")).unwrap();
    let k2 = s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("k2")).unwrap();
    set_now(t0 + 60);
    s.destroy_object(k1).unwrap();
    set_now(t0 + 400);
    assert_eq!(rv(s.destroy_object(k2).unwrap_err()), RvError::UserNotLoggedIn, "the code is 400 s old");
    s.encrypt(&Mechanism::AesCbcPad(IV), k2, b"m").unwrap(); // using keys needs no fresh code
    let code = totp_code(&uri, t0 + 400);
    s.login(UserType::ContextSpecific, Some(&pin(&format!("carol-pin-123{code}")))).unwrap();
    s.destroy_object(k2).unwrap();
}

/// The token-wide TOTP policy (`keyward user totp-policy`): it is refused
/// while a principal does not meet it (naming it), then binds new users
/// and PIN resets (a reset never drops a second factor); `destructive`
/// refuses a destroy to every login without a second factor (the default
/// user, a user without TOTP) but not to one that showed a code; `none`
/// clears it.
#[test]
fn a_token_wide_totp_policy_binds_every_principal() {
    let t = initialized_with("[testing]\nallow_test_clock = true\n");
    let t0 = unix_now();
    // The SO's CLI calls once it has TOTP: each at its own 30 s step (a
    // code works once), with the code of that step.
    let so_uri = std::cell::RefCell::new(None::<String>);
    let step = std::cell::Cell::new(0u64);
    let so = |args: &[&str]| {
        step.set(step.get() + 1);
        let now = t0 + 30 * step.get();
        let pin = match &*so_uri.borrow() {
            Some(uri) => format!("{SO_PIN}{}", totp_code(uri, now)),
            None => SO_PIN.to_string(),
        };
        let mut a = vec!["user", "--so-pin", &pin];
        a.extend_from_slice(args);
        cli_at(&t, &a, Some(now as i64))
    };
    assert!(so(&["add", "alice", "--role", "admin", "--new-pin", ALICE_PIN]).0);
    let (ok, out) = so(&["totp-policy", "--require", "so"]);
    assert!(!ok && out.contains("so-totp"), "the SO has no TOTP yet: {out}");
    let file = t.dir.path().join("so.otpauth");
    assert!(so(&["so-totp", file.to_str().unwrap()]).0);
    *so_uri.borrow_mut() = Some(std::fs::read_to_string(&file).unwrap());
    let (ok, out) = so(&["totp-policy", "--require", "admin"]);
    assert!(!ok && out.contains("alice"), "alice has no TOTP: {out}");
    let alice_file = t.dir.path().join("alice.otpauth");
    let (ok, out) = so(&["passwd", "alice", "--new-pin", ALICE_PIN, "--totp", alice_file.to_str().unwrap()]);
    assert!(ok, "{out}");
    let alice_uri = std::fs::read_to_string(&alice_file).unwrap();
    let (ok, out) = so(&["totp-policy", "--require", "admin"]);
    assert!(ok, "{out}");
    assert!(so(&["totp-policy"]).1.contains("TOTP required for: admin"));
    let (ok, out) = so(&["add", "carol", "--role", "admin", "--new-pin", "carol-pin-123"]);
    assert!(!ok && out.contains("--totp"), "an admin without TOTP: {out}");
    assert!(so(&["add", "dave", "--new-pin", "dave-pin-1234"]).0, "a key user needs none");
    let (ok, out) = so(&["passwd", "alice", "--new-pin", "alice-pin-5678"]);
    assert!(!ok && out.contains("has a TOTP secret"), "a reset keeps the second factor: {out}");
    let (ok, out) = so(&["totp-policy", "--require", "destructive"]);
    assert!(ok && out.contains("so,destructive"), "destructive implies so: {out}");

    // The default user and dave (no second factor) make and use keys but
    // destroy none; alice, with her code, does.
    let now = t0 + 30 * (step.get() + 1);
    set_now(now);
    let s = t.user_session();
    let k = s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("default-k")).unwrap();
    s.encrypt(&Mechanism::AesCbcPad(IV), k, b"m").unwrap();
    assert_eq!(rv(s.destroy_object(k).unwrap_err()), RvError::ActionProhibited, "the default user");
    s.logout().unwrap();
    assert_eq!(login_user(&s, CKU_USER, "dave-pin-1234", "dave"), OK);
    let d = s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("dave-k")).unwrap();
    assert_eq!(rv(s.destroy_object(d).unwrap_err()), RvError::ActionProhibited, "dave");
    s.logout().unwrap();
    assert_eq!(login_user(&s, CKU_USER, ALICE_PIN, "alice"), PIN_INCORRECT, "alice needs her code now");
    let code = totp_code(&alice_uri, now);
    assert_eq!(login_user(&s, CKU_USER, &format!("{ALICE_PIN}{code}"), "alice"), OK);
    let a = s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("alice-k")).unwrap();
    s.destroy_object(a).unwrap();
    s.logout().unwrap();

    // Cleared: the default user destroys again (after this process's
    // one-second cache of the policy).
    let (ok, out) = so(&["totp-policy", "--require", "none"]);
    assert!(ok && out.contains("none"), "{out}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    let k = s.find_objects(&[Attribute::Label(b"default-k".to_vec())]).unwrap();
    assert_eq!(k.len(), 1);
    s.destroy_object(k[0]).unwrap();
}

/// Two slots of one token in one process (slot 0 the token, slot 1 the
/// same token mapped to alice: the interop configuration): each slot's
/// login sees its own keys only while threads create, use and destroy keys
/// on both at once, and the audit log both write stays one valid chain.
#[test]
fn two_slots_of_one_token_in_one_process() {
    let (t, _) = with_users();
    let conf = std::fs::read_to_string(t.conf.to_str().unwrap()).unwrap();
    let slot = &conf[conf.find("[[slot]]").unwrap()..];
    let two = t.dir.path().join("two.toml");
    std::fs::write(&two, format!("{conf}\n{}", slot.replace("[[slot]]\n", "[[slot]]\nuser = \"alice\"\n"))).unwrap();
    let out = test_worker("two_slots_worker").env("TWO_CONF", &two).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("two slots ok"), "{text}");
    let (ok, out) = cli(&t, &["audit", "verify"]);
    assert!(ok, "{out}");
}

#[test]
fn two_slots_worker() {
    let Ok(conf) = std::env::var("TWO_CONF") else { return };
    let p11 = std::sync::Arc::new(load(&std::ffi::CString::new(conf).unwrap()));
    let slots = p11.get_all_slots().unwrap();
    assert_eq!(slots.len(), 2);
    let (s0, s1) = (p11.open_rw_session(slots[0]).unwrap(), p11.open_rw_session(slots[1]).unwrap());
    s0.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    s1.login(UserType::User, Some(&pin(ALICE_PIN))).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|th| {
            let (p11, slots) = (p11.clone(), slots.clone());
            std::thread::spawn(move || {
                let ss = [p11.open_rw_session(slots[0]).unwrap(), p11.open_rw_session(slots[1]).unwrap()];
                let mut kept = [Vec::new(), Vec::new()];
                for i in 0..20 {
                    for (n, (s, prefix)) in ss.iter().zip(["d", "a"]).enumerate() {
                        let label = format!("{prefix}-{th}-{i}");
                        let k = s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template(&label)).unwrap();
                        let ct =
                            s.encrypt(&Mechanism::AesCbcPad(IV), k, b"m").unwrap_or_else(|e| panic!("{label}: {e}"));
                        assert_eq!(s.decrypt(&Mechanism::AesCbcPad(IV), k, &ct).unwrap(), b"m");
                        if i % 2 == 0 {
                            s.destroy_object(k).unwrap();
                        } else {
                            kept[n].push(label);
                        }
                    }
                }
                kept
            })
        })
        .collect();
    let mut want = [vec!["default-key".to_string()], vec!["note".to_string()]];
    for t in threads {
        let [d, a] = t.join().unwrap();
        want[0].extend(d);
        want[1].extend(a);
    }
    // slot 0 (the default user) also sees the public note.
    want[0].push("note".into());
    for w in &mut want {
        w.sort();
    }
    assert_eq!(labels(&s0), want[0], "the default user's view");
    assert_eq!(labels(&s1), want[1], "alice's view");
    println!("two slots ok");
}
