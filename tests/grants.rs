//! Keys of named users and per-key grants (issue 17, slices 4-5 of
//! docs/named-users.md): a key alice makes is sealed under a data key of
//! its own, wrapped only for alice and the SO's recovery key. Bob cannot
//! use or find it, nor open it from a copy of the store with his own PIN;
//! a grant by the SO lets bob decrypt but not sign; a revoke reaches bob's
//! process at its next call.
//!
//! One process per test (`cargo nextest run --test grants`).

mod common;

use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

const ALICE_PIN: &str = "alice-pin-1234";
const BOB_PIN: &str = "bob-pin-12345";
const IV: [u8; 16] = [7; 16];

fn so_cli(t: &Token, args: &[&str]) -> (bool, String) {
    let mut a: Vec<&str> = args.to_vec();
    a.extend_from_slice(&["--so-pin", SO_PIN]);
    cli(t, &a)
}

fn add_user(t: &Token, name: &str, pin: &str) {
    let (ok, out) = so_cli(t, &["user", "add", name, "--new-pin", pin]);
    assert!(ok, "{out}");
}

fn labels(s: &Session, t: &[Attribute]) -> Vec<String> {
    let mut v: Vec<String> = s
        .find_objects(t)
        .unwrap()
        .into_iter()
        .map(|h| match &s.get_attributes(h, &[AttributeType::Label]).unwrap()[..] {
            [Attribute::Label(l)] => String::from_utf8_lossy(l).to_string(),
            _ => String::new(),
        })
        .collect();
    v.sort();
    v
}

fn oaep() -> Mechanism<'static> {
    Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
        cryptoki::mechanism::MechanismType::SHA256,
        PkcsMgfType::MGF1_SHA256,
        PkcsOaepSource::empty(),
    ))
}

/// Alice's keys: an AES key "aes-a" (extractable, readable), an RSA pair
/// "rsa-a" (decrypt and sign), an AES key "kek-a" that unwraps.
struct AliceKeys {
    aes: ObjectHandle,
    rsa_pub: ObjectHandle,
    rsa_priv: ObjectHandle,
    kek: ObjectHandle,
    aes_value: Vec<u8>,
}

fn alice_makes_keys(s: &Session) -> AliceKeys {
    let mut t = aes_token_key_template("aes-a");
    t.extend([Attribute::Sensitive(false), Attribute::Extractable(true)]);
    let aes = s.generate_key(&Mechanism::AesKeyGen, &t).unwrap();
    let aes_value = value(s, aes);
    let (rsa_pub, rsa_priv) = s
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::ModulusBits(2048.into()),
                Attribute::Label(b"rsa-a".to_vec()),
                Attribute::Encrypt(true),
                Attribute::Verify(true),
            ],
            &[
                Attribute::Token(true),
                Attribute::Label(b"rsa-a".to_vec()),
                Attribute::Decrypt(true),
                Attribute::Sign(true),
                Attribute::Sensitive(true),
            ],
        )
        .unwrap();
    let mut t = aes_token_key_template("kek-a");
    t.extend([Attribute::Wrap(true), Attribute::Unwrap(true)]);
    let kek = s.generate_key(&Mechanism::AesKeyGen, &t).unwrap();
    AliceKeys { aes, rsa_pub, rsa_priv, kek, aes_value }
}

/// A token with the default user's key "default-key", users alice and
/// bob, and alice's keys.
fn with_alice_keys() -> (Token, AliceKeys) {
    let t = initialized();
    let s = t.user_session();
    s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("default-key")).unwrap();
    s.logout().unwrap();
    add_user(&t, "alice", ALICE_PIN);
    add_user(&t, "bob", BOB_PIN);
    let s = t.p11.open_rw_session(t.slot).unwrap();
    login_as(&s, ALICE_PIN, "alice");
    let k = alice_makes_keys(&s);
    // Alice uses what she made.
    let ct = s.encrypt(&Mechanism::AesCbcPad(IV), k.aes, b"alice's secret").unwrap();
    assert_eq!(s.decrypt(&Mechanism::AesCbcPad(IV), k.aes, &ct).unwrap(), b"alice's secret");
    let sig = s.sign(&Mechanism::Sha256RsaPkcs, k.rsa_priv, b"m").unwrap();
    s.verify(&Mechanism::Sha256RsaPkcs, k.rsa_pub, b"m", &sig).unwrap();
    assert_eq!(labels(&s, &[]), ["aes-a", "kek-a", "rsa-a", "rsa-a"]);
    s.logout().unwrap();
    (t, k)
}

/// Bob, in a process where no handle was ever handed out (so a handle
/// number is refused for what it names, not for being stale), cannot use
/// or find alice's keys; neither can the default user.
#[test]
fn a_key_of_alice_refuses_bob_and_is_invisible_to_him() {
    let (t, k) = with_alice_keys();
    let handles = [k.aes, k.rsa_pub, k.rsa_priv, k.kek].map(|h| h.handle().to_string()).join(",");
    let out = test_worker("refusal_worker")
        .env("WORKER_CONF", t.conf.to_str().unwrap())
        .env("WORKER_HANDLES", handles)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("refused ok"), "{text}");
    // And alice, logging in again, finds hers and not bob's.
    let s = t.p11.open_rw_session(t.slot).unwrap();
    login_as(&s, ALICE_PIN, "alice");
    assert_eq!(labels(&s, &[]), ["aes-a", "kek-a", "rsa-a", "rsa-a"]);
    let h = s.find_objects(&[Attribute::Label(b"aes-a".to_vec())]).unwrap()[0];
    assert_eq!(value(&s, h), k.aes_value);
    // The audit log names the refusal's principal.
    let log = std::fs::read_to_string(t.dir.path().join("token/audit.jsonl")).unwrap();
    assert!(
        log.lines().any(|l| l.contains("C_SignInit")
            && l.contains("\"principal\":\"bob\"")
            && l.contains("CKR_KEY_HANDLE_INVALID")),
        "{log}"
    );
}

#[test]
fn refusal_worker() {
    let Ok(conf) = std::env::var("WORKER_CONF") else { return };
    let p11 = load(&std::ffi::CString::new(conf).unwrap());
    let slot = p11.get_all_slots().unwrap()[0];
    let hs: Vec<ObjectHandle> = std::env::var("WORKER_HANDLES")
        .unwrap()
        .split(',')
        // SAFETY: handle numbers of this token (only ever passed back to the module).
        .map(|h| unsafe { ObjectHandle::new_from_raw(h.parse().unwrap()) })
        .collect();
    let (aes, rsa_pub, rsa_priv, kek) = (hs[0], hs[1], hs[2], hs[3]);
    let s = p11.open_rw_session(slot).unwrap();
    // Control: the default user, in this process, reaches its own key by handle.
    login_as(&s, USER_PIN, "default");
    assert_eq!(labels(&s, &[]), ["default-key"], "the default user sees none of alice's keys");
    assert_eq!(rv(s.decrypt(&Mechanism::AesCbcPad(IV), aes, &[0; 16]).unwrap_err()), RvError::KeyHandleInvalid);
    s.logout().unwrap();
    login_as(&s, BOB_PIN, "bob");
    assert!(labels(&s, &[]).is_empty(), "bob finds none of alice's keys");
    assert!(labels(&s, &[Attribute::Label(b"rsa-a".to_vec())]).is_empty());
    assert!(labels(&s, &[Attribute::Class(ObjectClass::PRIVATE_KEY)]).is_empty());
    let e = s.sign(&Mechanism::Sha256RsaPkcs, rsa_priv, b"m").unwrap_err();
    assert_eq!(rv(e), RvError::KeyHandleInvalid);
    assert_eq!(rv(s.decrypt(&oaep(), rsa_priv, &[0u8; 256]).unwrap_err()), RvError::KeyHandleInvalid);
    assert_eq!(rv(s.encrypt(&oaep(), rsa_pub, b"m").unwrap_err()), RvError::KeyHandleInvalid);
    assert_eq!(rv(s.decrypt(&Mechanism::AesCbcPad(IV), aes, &[0; 16]).unwrap_err()), RvError::KeyHandleInvalid);
    let e = s
        .unwrap_key(&Mechanism::AesKeyWrapPad, kek, &[0; 40], &[Attribute::Class(ObjectClass::SECRET_KEY)])
        .unwrap_err();
    assert_eq!(rv(e), RvError::UnwrappingKeyHandleInvalid);
    assert_eq!(rv(s.get_attributes(aes, &[AttributeType::Label]).unwrap_err()), RvError::ObjectHandleInvalid);
    // Bob's own key is his.
    let mine = s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("aes-b")).unwrap();
    s.encrypt(&Mechanism::AesCbcPad(IV), mine, b"m").unwrap();
    assert_eq!(labels(&s, &[]), ["aes-b"]);
    s.logout().unwrap();
    println!("refused ok");
}

/// The attack: bob holds a copy of the store files and his own PIN, and
/// reads the store directly with the token's own formats. He opens his
/// principal secret, every grant wrap made for him, and with the data keys
/// he gets, every sealed value he can; none of alice's keys opens.
#[test]
fn bob_pin_and_a_store_copy_open_only_bob_keys() {
    use keyward::store::seal::Kek;
    use keyward::store::wrap::{Dek, unwrap_dek};
    if on_postgres() {
        return; // reads the SQLite file directly
    }
    let (t, alice) = with_alice_keys();
    // Bob makes a readable key of his own, to show the attack code works.
    let s = t.p11.open_rw_session(t.slot).unwrap();
    login_as(&s, BOB_PIN, "bob");
    let mut tmpl = aes_token_key_template("aes-b");
    tmpl.extend([Attribute::Sensitive(false), Attribute::Extractable(true)]);
    let b = s.generate_key(&Mechanism::AesKeyGen, &tmpl).unwrap();
    let bob_value = value(&s, b);
    s.logout().unwrap();
    drop(s);
    let c = store_copy(&t);

    let (serial, _, bob) = secret_from_copy(&c, "bob", BOB_PIN);
    // Every grant wrap in the store, tried with bob's key as every principal.
    let mut deks: Vec<(Vec<u8>, Dek)> = Vec::new();
    let mut st = c.prepare("SELECT key_id, principal, wrap FROM grants").unwrap();
    let grants: Vec<(Vec<u8>, i64, Vec<u8>)> =
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect();
    assert!(grants.len() >= 6, "alice's 3 keys and bob's, each with a recovery wrap: {}", grants.len());
    for (key_id, _, wrap) in &grants {
        for as_id in 0..8u32 {
            if let Ok(d) = unwrap_dek(wrap, &bob.x25519[..], &serial, key_id, as_id) {
                deks.push((key_id.clone(), d));
            }
        }
    }
    assert_eq!(deks.len(), 1, "bob opens exactly one wrap: his own key's");
    // Every sealed value of every row, with every DEK bob has, under every
    // binding the row could claim.
    let mut st = c.prepare("SELECT uid, public, sealed FROM objects").unwrap();
    let rows: Vec<(String, Vec<u8>, Vec<u8>)> =
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect();
    let mut opened = Vec::new();
    let mut sealed_values = 0;
    for (uid, public, sealed) in &rows {
        let attrs = keyward::store::codec::decode_attrs(public).unwrap();
        let get = |ty| attrs.iter().rev().find(|(t, _)| *t == ty).map(|(_, v)| v.clone());
        let ul = |v: Option<Vec<u8>>| v.map(|v| u64::from_ne_bytes(v[..8].try_into().unwrap())).unwrap_or(0);
        let (class, kt) = (ul(get(0)), ul(get(0x100)));
        for (ty, v) in keyward::store::codec::decode_attrs(sealed).unwrap() {
            sealed_values += 1;
            for (key_id, d) in &deks {
                if let Ok(p) = d.open_attr(key_id, uid, ty, class, kt, &v) {
                    opened.push(p.to_vec());
                }
            }
        }
    }
    assert!(sealed_values >= 4, "alice's AES keys, her RSA private key, bob's key: {sealed_values}");
    assert_eq!(opened, vec![bob_value], "only bob's own key opens");
    assert!(!opened.contains(&alice.aes_value));
    // Bob's PIN opens neither the SO's nor the default user's master-key wrap.
    let (us, ui, ub, ss, si, sb): (Vec<u8>, u32, Vec<u8>, Vec<u8>, u32, Vec<u8>) = c
        .query_row("SELECT user_salt, user_iter, user_blob, so_salt, so_iter, so_blob FROM token", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })
        .unwrap();
    assert!(Kek::derive(BOB_PIN.as_bytes(), &us, ui).unwrap().unwrap(&ub).is_none());
    assert!(Kek::derive(BOB_PIN.as_bytes(), &ss, si).unwrap().unwrap(&sb).is_none());
    // Control: alice's PIN on the same copy opens alice's key.
    let (_, aid, a) = secret_from_copy(&c, "alice", ALICE_PIN);
    let alice_deks =
        grants.iter().filter(|(k, p, w)| *p == aid && unwrap_dek(w, &a.x25519[..], &serial, k, aid as u32).is_ok());
    assert_eq!(alice_deks.count(), 3);
}

#[test]
fn a_grant_lets_bob_decrypt_but_not_sign() {
    let (t, k) = with_alice_keys();
    let s = t.p11.open_rw_session(t.slot).unwrap();
    login_as(&s, ALICE_PIN, "alice");
    let ct = s.encrypt(&oaep(), k.rsa_pub, b"for bob").unwrap();
    s.logout().unwrap();
    // Only the SO (through its recovery wrap) grants; ADMIN goes to admins only.
    let (ok, out) = so_cli(&t, &["key", "grant", "rsa-a", "bob", "decrypt"]);
    assert!(ok, "{out}");
    let (ok, out) = so_cli(&t, &["key", "grant", "rsa-a", "bob", "admin"]);
    assert!(!ok && out.contains("admin"), "{out}");
    let (ok, out) = so_cli(&t, &["key", "grants", "rsa-a"]);
    assert!(ok && out.lines().any(|l| l.starts_with("bob") && l.contains("decrypt")), "{out}");
    assert!(out.lines().any(|l| l.starts_with("alice") && l.contains("all")), "{out}");
    assert!(out.lines().any(|l| l.starts_with("so") && l.contains("recovery")), "{out}");

    login_as(&s, BOB_PIN, "bob");
    assert_eq!(labels(&s, &[]), ["rsa-a", "rsa-a"], "bob sees the granted key (both halves), no other of alice's");
    assert_eq!(s.decrypt(&oaep(), k.rsa_priv, &ct).unwrap(), b"for bob");
    let e = s.sign(&Mechanism::Sha256RsaPkcs, k.rsa_priv, b"m").unwrap_err();
    assert_eq!(rv(e), RvError::KeyFunctionNotPermitted);
    let e = s.encrypt(&oaep(), k.rsa_pub, b"m").unwrap_err();
    assert_eq!(rv(e), RvError::KeyFunctionNotPermitted, "decrypt only");
    assert_eq!(rv(s.encrypt(&Mechanism::AesCbcPad(IV), k.aes, b"m").unwrap_err()), RvError::KeyHandleInvalid);
    // Revoked: gone at the next call.
    let (ok, out) = so_cli(&t, &["key", "revoke", "rsa-a", "bob"]);
    assert!(ok, "{out}");
    assert!(labels(&s, &[]).is_empty());
    assert_eq!(rv(s.decrypt(&oaep(), k.rsa_priv, &ct).unwrap_err()), RvError::KeyHandleInvalid);
    let log = std::fs::read_to_string(t.dir.path().join("token/audit.jsonl")).unwrap();
    assert!(log.lines().any(|l| l.contains("keyward key grant") && l.contains("\"user\":\"bob\"")), "{log}");
    assert!(log.lines().any(|l| l.contains("keyward key revoke") && l.contains("\"user\":\"bob\"")), "{log}");
}

/// Bob's process decrypts in a loop; the SO revokes from another process;
/// bob's next call there fails, and so does the end of a decryption bob
/// started before the revoke.
#[test]
fn a_revoke_reaches_bob_in_another_process() {
    let (t, k) = with_alice_keys();
    let s = t.p11.open_rw_session(t.slot).unwrap();
    login_as(&s, ALICE_PIN, "alice");
    // (Handles of private objects end with the login that got them.)
    let aes = s.find_objects(&[Attribute::Label(b"aes-a".to_vec())]).unwrap()[0];
    assert_eq!(aes, k.aes);
    let ct = s.encrypt(&Mechanism::AesCbcPad(IV), aes, b"loop").unwrap();
    s.logout().unwrap();
    drop(s);
    assert!(so_cli(&t, &["key", "grant", "aes-a", "bob", "decrypt"]).0);
    let progress = t.dir.path().join("progress");
    let child = test_worker("revoke_worker")
        .env("WORKER_CONF", t.conf.to_str().unwrap())
        .env("WORKER_KEY", k.aes.handle().to_string())
        .env("WORKER_CT", hex(&ct))
        .env("WORKER_PROGRESS", &progress)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until bob decrypted at least once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !std::fs::read_to_string(&progress).is_ok_and(|p| p.contains("ok")) {
        assert!(std::time::Instant::now() < deadline, "the worker never decrypted");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(so_cli(&t, &["key", "revoke", "aes-a", "bob"]).0);
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    // Refused at the Init (the key is gone from bob's view) or, when the
    // revoke lands between the Init and the C_Decrypt, at the C_Decrypt.
    let refused = ["revoked: KeyHandleInvalid", "revoked: KeyFunctionNotPermitted"];
    assert!(out.status.success() && refused.iter().any(|r| text.contains(r)), "{text}");
    assert!(text.contains("in flight: KeyFunctionNotPermitted"), "{text}");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn revoke_worker() {
    let Ok(conf) = std::env::var("WORKER_CONF") else { return };
    let p11 = load(&std::ffi::CString::new(conf).unwrap());
    let slot = p11.get_all_slots().unwrap()[0];
    let s = p11.open_rw_session(slot).unwrap();
    login_as(&s, BOB_PIN, "bob");
    let key: u64 = std::env::var("WORKER_KEY").unwrap().parse().unwrap();
    // SAFETY: a handle number of this token (only ever passed back to the module).
    let key = unsafe { ObjectHandle::new_from_raw(key as _) };
    let hexct = std::env::var("WORKER_CT").unwrap();
    let ct: Vec<u8> = (0..hexct.len()).step_by(2).map(|i| u8::from_str_radix(&hexct[i..i + 2], 16).unwrap()).collect();
    let progress = std::env::var("WORKER_PROGRESS").unwrap();
    // An operation started before the revoke, finished after it.
    let s2 = p11.open_rw_session(slot).unwrap();
    s2.decrypt_init(&Mechanism::AesCbcPad(IV), key).unwrap();
    s2.decrypt_update(&ct).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match s.decrypt(&Mechanism::AesCbcPad(IV), key, &ct) {
            Ok(p) => {
                assert_eq!(p, b"loop");
                std::fs::write(&progress, "ok").unwrap();
            }
            Err(e) => {
                println!("revoked: {:?}", rv(e));
                println!("in flight: {:?}", rv(s2.decrypt_final().unwrap_err()));
                return;
            }
        }
        assert!(std::time::Instant::now() < deadline, "the revoke never arrived");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Lifecycle acts need ADMIN on the key: alice (its creator) rotates and
/// deletes her key; bob, granted decrypt only, can do neither; the
/// default user (the CLI) does not even find it. A new version is sealed
/// under the key's own data key: bob's grant covers it.
#[test]
fn lifecycle_acts_need_admin_on_the_key() {
    use common::vendor::CKA_KEYWARD_ROTATE;
    let (t, k) = with_alice_keys();
    assert!(so_cli(&t, &["key", "grant", "aes-a", "bob", "decrypt"]).0);
    let s = t.p11.open_rw_session(t.slot).unwrap();
    login_as(&s, ALICE_PIN, "alice");
    let v2 = s
        .generate_key(&Mechanism::AesKeyGen, &[Attribute::Label(b"aes-a".to_vec()), vbool(CKA_KEYWARD_ROTATE, true)])
        .unwrap();
    assert_ne!(v2, k.aes);
    let ct = s.encrypt(&Mechanism::AesCbcPad(IV), v2, b"version 2").unwrap();
    assert_ne!(value(&s, v2), k.aes_value, "fresh material");
    s.logout().unwrap();

    login_as(&s, BOB_PIN, "bob");
    let found = s.find_objects(&[Attribute::Label(b"aes-a".to_vec())]).unwrap();
    assert_eq!(found, [v2], "bob sees the primary version");
    assert_eq!(s.decrypt(&Mechanism::AesCbcPad(IV), v2, &ct).unwrap(), b"version 2");
    let e = s.update_attributes(v2, &[Attribute::Label(b"mine".to_vec())]).unwrap_err();
    assert_eq!(rv(e), RvError::ActionProhibited);
    assert_eq!(rv(s.destroy_object(v2).unwrap_err()), RvError::ActionProhibited);
    let e = s
        .generate_key(&Mechanism::AesKeyGen, &[Attribute::Label(b"aes-a".to_vec()), vbool(CKA_KEYWARD_ROTATE, true)])
        .unwrap_err();
    assert_eq!(rv(e), RvError::ActionProhibited);
    s.logout().unwrap();

    // The default user's CLI: alice's keys are not there.
    let (ok, out) = cli(&t, &["key", "list"]);
    assert!(ok && out.contains("default-key") && !out.contains("aes-a") && !out.contains("rsa-a"), "{out}");
    let (ok, out) = cli(&t, &["key", "delete", "aes-a"]);
    assert!(!ok && out.contains("no key named"), "{out}");

    login_as(&s, ALICE_PIN, "alice");
    let v2 = s.find_objects(&[Attribute::Label(b"aes-a".to_vec())]).unwrap()[0];
    s.destroy_object(v2).unwrap();
    assert!(s.find_objects(&[Attribute::Label(b"aes-a".to_vec())]).unwrap().is_empty());
}

/// A copy of the token's store files (the database and its WAL), opened
/// with this test's own SQLite. The live file is never opened here: a
/// second SQLite library in the process (the module links its own) would
/// drop the module's POSIX locks and could reset its WAL on close
/// (sqlite.org/howtocorrupt.html, 2.2.1).
fn store_copy(t: &Token) -> rusqlite::Connection {
    let dir = tempfile::tempdir().unwrap().keep();
    for f in ["token.sqlite", "token.sqlite-wal"] {
        let from = t.dir.path().join("token").join(f);
        if from.exists() {
            std::fs::copy(&from, dir.join(f)).unwrap();
        }
    }
    rusqlite::Connection::open(dir.join("token.sqlite")).unwrap()
}

/// What `name`'s PIN opens in a store copy, with the token's own formats
/// only: the token serial, the user's id and its principal secret.
fn secret_from_copy(
    c: &rusqlite::Connection,
    name: &str,
    pin: &str,
) -> (String, i64, keyward::store::wrap::PrincipalSecret) {
    use keyward::store::seal::Kek;
    let serial: String = c.query_row("SELECT serial FROM token", [], |r| r.get(0)).unwrap();
    let (id, salt, iter, sealed): (i64, Vec<u8>, u32, Vec<u8>) = c
        .query_row("SELECT id, pin_salt, pin_iter, secret FROM principals WHERE name = ?1", [name], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap();
    let sub =
        Kek::derive(pin.as_bytes(), &salt, iter).unwrap().subkey(keyward::token::principal::SECRET_LABEL).unwrap();
    let secret = keyward::store::wrap::PrincipalSecret::open(&sealed, &sub, &serial, id as u32, name)
        .unwrap_or_else(|_| panic!("{name} opens its secret"));
    (serial, id, secret)
}

/// Bob's data key of alice's key, read from a store copy while bob held
/// a grant.
fn bobs_dek_from_the_store(t: &Token) -> (Vec<u8>, keyward::store::wrap::Dek) {
    use keyward::store::wrap::unwrap_dek;
    let c = store_copy(t);
    let (serial, id, bob) = secret_from_copy(&c, "bob", BOB_PIN);
    let (key_id, wrap): (Vec<u8>, Vec<u8>) = c
        .query_row("SELECT key_id, wrap FROM grants WHERE principal = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    let dek = unwrap_dek(&wrap, &bob.x25519[..], &serial, &key_id, id as u32).unwrap();
    (key_id, dek)
}

/// Whether `dek` opens the sealed CKA_VALUE of a row of key `key_id`.
fn dek_opens_a_row(t: &Token, key_id: &[u8], dek: &keyward::store::wrap::Dek) -> bool {
    let c = store_copy(t);
    let mut st = c.prepare("SELECT uid, sealed FROM objects").unwrap();
    let rows: Vec<(String, Vec<u8>)> =
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
    rows.iter().any(|(uid, sealed)| {
        keyward::store::codec::decode_attrs(sealed)
            .unwrap()
            .iter()
            .any(|(ty, v)| dek.open_attr(key_id, uid, *ty, 4, 0x1f, v).is_ok())
    })
}

/// A revoke re-keys: the data key bob took from the store while he held
/// the grant opens nothing after it; alice, and carol who keeps her grant
/// (logged in across the revoke), still use the key.
#[test]
fn a_revoke_re_keys_the_key() {
    if on_postgres() {
        return; // reads the SQLite file directly
    }
    let (t, _) = with_alice_keys();
    add_user(&t, "carol", "carol-pin-123");
    assert!(so_cli(&t, &["key", "grant", "aes-a", "bob", "decrypt"]).0);
    assert!(so_cli(&t, &["key", "grant", "aes-a", "carol", "decrypt"]).0);
    let (key_id, old) = bobs_dek_from_the_store(&t);
    assert!(dek_opens_a_row(&t, &key_id, &old), "control: bob's data key opens alice's key before the revoke");
    let s = t.p11.open_rw_session(t.slot).unwrap();
    login_as(&s, ALICE_PIN, "alice");
    let aes = s.find_objects(&[Attribute::Label(b"aes-a".to_vec())]).unwrap()[0];
    let ct = s.encrypt(&Mechanism::AesCbcPad(IV), aes, b"before").unwrap();
    s.logout().unwrap();
    login_as(&s, "carol-pin-123", "carol");
    let aes = s.find_objects(&[Attribute::Label(b"aes-a".to_vec())]).unwrap()[0];
    assert_eq!(s.decrypt(&Mechanism::AesCbcPad(IV), aes, &ct).unwrap(), b"before");

    let (ok, out) = so_cli(&t, &["key", "revoke", "aes-a", "bob"]);
    assert!(ok, "{out}");
    assert!(!dek_opens_a_row(&t, &key_id, &old), "after the revoke the old data key opens no row");
    // Carol's login (another process re-keyed) goes on at its next call.
    assert_eq!(s.decrypt(&Mechanism::AesCbcPad(IV), aes, &ct).unwrap(), b"before");
    s.logout().unwrap();
    login_as(&s, ALICE_PIN, "alice");
    let aes = s.find_objects(&[Attribute::Label(b"aes-a".to_vec())]).unwrap()[0];
    assert_eq!(s.decrypt(&Mechanism::AesCbcPad(IV), aes, &ct).unwrap(), b"before");
    let (ok, out) = so_cli(&t, &["key", "grants", "aes-a"]);
    assert!(ok && !out.contains("bob") && out.contains("carol") && out.contains("alice"), "{out}");
}

/// An administrator (admin role, ADMIN on the key) grants and revokes
/// without the SO; a key user cannot, even on a key it made (a grantee
/// accepts use grants only from the SO or an administrator).
#[test]
fn an_administrator_grants_and_revokes_a_key_user_cannot() {
    let (t, _) = with_alice_keys();
    let (ok, out) = so_cli(&t, &["user", "add", "ada", "--role", "admin", "--new-pin", "ada-pin-1234"]);
    assert!(ok, "{out}");
    let s = t.p11.open_rw_session(t.slot).unwrap();
    login_as(&s, "ada-pin-1234", "ada");
    let k = s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("ada-k")).unwrap();
    let ct = s.encrypt(&Mechanism::AesCbcPad(IV), k, b"from ada").unwrap();
    s.logout().unwrap();
    let ada = |args: &[&str]| {
        let mut a = vec!["key", "--as", "ada", "--pin", "ada-pin-1234"];
        a.extend_from_slice(args);
        cli(&t, &a)
    };
    let (ok, out) = ada(&["grant", "ada-k", "bob", "decrypt"]);
    assert!(ok, "{out}");
    let (ok, out) = ada(&["grant", "aes-a", "bob", "decrypt"]);
    assert!(!ok && out.contains("CKR_ACTION_PROHIBITED"), "not ada's key: {out}");
    let (ok, out) = cli(&t, &["key", "--as", "alice", "--pin", ALICE_PIN, "grant", "aes-a", "bob", "decrypt"]);
    assert!(!ok && out.contains("CKR_ACTION_PROHIBITED"), "alice is no administrator: {out}");
    login_as(&s, BOB_PIN, "bob");
    assert_eq!(labels(&s, &[]), ["ada-k"]);
    let k = s.find_objects(&[Attribute::Label(b"ada-k".to_vec())]).unwrap()[0];
    assert_eq!(s.decrypt(&Mechanism::AesCbcPad(IV), k, &ct).unwrap(), b"from ada");
    let (ok, out) = ada(&["revoke", "ada-k", "bob"]);
    assert!(ok, "{out}");
    assert!(labels(&s, &[]).is_empty());
    s.logout().unwrap();
    login_as(&s, "ada-pin-1234", "ada");
    let k = s.find_objects(&[Attribute::Label(b"ada-k".to_vec())]).unwrap()[0];
    assert_eq!(s.decrypt(&Mechanism::AesCbcPad(IV), k, &ct).unwrap(), b"from ada", "re-keyed, still ada's");
}

/// A PIN reset by the SO gives the user new keys; its grants are wrapped
/// again for them (through the SO's recovery wraps): the user keeps its keys.
#[test]
fn a_pin_reset_by_the_so_keeps_the_users_keys() {
    let (t, k) = with_alice_keys();
    let (ok, out) = so_cli(&t, &["user", "passwd", "alice", "--new-pin", "alice-new-999"]);
    assert!(ok, "{out}");
    let s = t.p11.open_rw_session(t.slot).unwrap();
    login_as(&s, "alice-new-999", "alice");
    assert_eq!(labels(&s, &[]), ["aes-a", "kek-a", "rsa-a", "rsa-a"]);
    let h = s.find_objects(&[Attribute::Label(b"aes-a".to_vec())]).unwrap()[0];
    assert_eq!(value(&s, h), k.aes_value);
    let h =
        s.find_objects(&[Attribute::Label(b"rsa-a".to_vec()), Attribute::Class(ObjectClass::PRIVATE_KEY)]).unwrap()[0];
    s.sign(&Mechanism::Sha256RsaPkcs, h, b"m").unwrap();
}

/// An administrator by config (`user add --role admin --auto-admin`) gets
/// ADMIN on every new key of a named user: it administers and grants the
/// key, but cannot use it without a use grant.
#[test]
fn an_administrator_by_config_administers_new_keys() {
    let t = initialized();
    add_user(&t, "bob", BOB_PIN);
    let (ok, out) = so_cli(&t, &["user", "add", "ada", "--role", "admin", "--auto-admin", "--new-pin", "ada-pin-1234"]);
    assert!(ok, "{out}");
    let (ok, out) = so_cli(&t, &["user", "list"]);
    assert!(ok && out.lines().any(|l| l.starts_with("ada") && l.ends_with("auto-admin")), "{out}");
    add_user(&t, "alice", ALICE_PIN);
    let s = t.p11.open_rw_session(t.slot).unwrap();
    login_as(&s, ALICE_PIN, "alice");
    let k = s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("aes-a")).unwrap();
    let ct = s.encrypt(&Mechanism::AesCbcPad(IV), k, b"alice's").unwrap();
    s.logout().unwrap();
    let (ok, out) = so_cli(&t, &["key", "grants", "aes-a"]);
    assert!(
        ok && out.lines().any(|l| l.starts_with("ada") && l.trim_end().ends_with("alice") && l.contains("admin")),
        "{out}"
    );
    login_as(&s, "ada-pin-1234", "ada");
    let k = s.find_objects(&[Attribute::Label(b"aes-a".to_vec())]).unwrap()[0];
    assert_eq!(rv(s.decrypt(&Mechanism::AesCbcPad(IV), k, &ct).unwrap_err()), RvError::KeyFunctionNotPermitted);
    s.logout().unwrap();
    let (ok, out) = cli(&t, &["key", "--as", "ada", "--pin", "ada-pin-1234", "grant", "aes-a", "bob", "decrypt"]);
    assert!(ok, "{out}");
    login_as(&s, BOB_PIN, "bob");
    let k = s.find_objects(&[Attribute::Label(b"aes-a".to_vec())]).unwrap()[0];
    assert_eq!(s.decrypt(&Mechanism::AesCbcPad(IV), k, &ct).unwrap(), b"alice's");
}

/// A key of the default user (sealed under the master key) granted to bob:
/// its first grant seals it again under a data key of its own, wrapped for
/// the default user (which keeps every use and ADMIN), the SO and bob. The
/// default user's login that was open across the grant keeps working; bob
/// decrypts but does not encrypt; a revoke leaves the default user's key
/// as it was.
#[test]
fn a_key_of_the_default_user_can_be_granted() {
    let t = initialized();
    add_user(&t, "bob", BOB_PIN);
    let s = t.user_session();
    let mut tmpl = aes_token_key_template("legacy-k");
    tmpl.extend([Attribute::Sensitive(false), Attribute::Extractable(true)]);
    let k = s.generate_key(&Mechanism::AesKeyGen, &tmpl).unwrap();
    let before = value(&s, k);
    let ct = s.encrypt(&Mechanism::AesCbcPad(IV), k, b"legacy").unwrap();
    // Granted from another process while this login is open.
    let (ok, out) = so_cli(&t, &["key", "grant", "legacy-k", "bob", "decrypt"]);
    assert!(ok, "{out}");
    let k = s.find_objects(&[Attribute::Label(b"legacy-k".to_vec())]).unwrap()[0];
    assert_eq!(s.decrypt(&Mechanism::AesCbcPad(IV), k, &ct).unwrap(), b"legacy");
    assert_eq!(value(&s, k), before, "the same key, sealed anew");
    s.logout().unwrap();
    let (ok, out) = so_cli(&t, &["key", "grants", "legacy-k"]);
    assert!(ok && out.lines().any(|l| l.starts_with("default") && l.contains("all")), "{out}");
    login_as(&s, BOB_PIN, "bob");
    assert_eq!(labels(&s, &[]), ["legacy-k"]);
    let k = s.find_objects(&[Attribute::Label(b"legacy-k".to_vec())]).unwrap()[0];
    assert_eq!(s.decrypt(&Mechanism::AesCbcPad(IV), k, &ct).unwrap(), b"legacy");
    assert_eq!(rv(s.encrypt(&Mechanism::AesCbcPad(IV), k, b"m").unwrap_err()), RvError::KeyFunctionNotPermitted);
    s.logout().unwrap();
    assert!(so_cli(&t, &["key", "revoke", "legacy-k", "bob"]).0);
    // The default user, in a new login: its key, its lifecycle.
    s.login(cryptoki::session::UserType::User, Some(&pin(USER_PIN))).unwrap();
    let k = s.find_objects(&[Attribute::Label(b"legacy-k".to_vec())]).unwrap()[0];
    assert_eq!(s.decrypt(&Mechanism::AesCbcPad(IV), k, &ct).unwrap(), b"legacy");
    assert_eq!(value(&s, k), before);
    let (ok, out) = cli(&t, &["key", "rotate", "legacy-k"]);
    assert!(ok, "{out}");
    let (ok, out) = cli(&t, &["key", "list"]);
    assert!(ok && out.contains("legacy-k"), "{out}");
    s.logout().unwrap();
    login_as(&s, BOB_PIN, "bob");
    assert!(labels(&s, &[]).is_empty(), "revoked");
}

fn data_object(label: &str, private: bool, value: &[u8]) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::DATA),
        Attribute::Token(true),
        Attribute::Private(private),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Application(b"keyward-test".to_vec()),
        Attribute::Value(value.to_vec()),
    ]
}

/// A named user's private objects other than keys (data objects here) are
/// its own, under a data key of their own: neither bob nor the default
/// user finds or reads alice's, while her public ones (and a public copy
/// of a private one) are everybody's; she finds hers again at her next
/// login.
#[test]
fn a_named_users_private_objects_are_its_own() {
    let (t, _) = with_alice_keys();
    let s = t.p11.open_rw_session(t.slot).unwrap();
    let data = [Attribute::Class(ObjectClass::DATA)];
    login_as(&s, ALICE_PIN, "alice");
    let note = s.create_object(&data_object("alice-note", true, b"alice's note")).unwrap();
    s.create_object(&data_object("alice-pub", false, b"hello")).unwrap();
    s.copy_object(note, &[Attribute::Private(false), Attribute::Label(b"alice-copy".to_vec())]).unwrap();
    assert_eq!(labels(&s, &data), ["alice-copy", "alice-note", "alice-pub"]);
    s.logout().unwrap();

    login_as(&s, BOB_PIN, "bob");
    assert_eq!(labels(&s, &data), ["alice-copy", "alice-pub"], "bob sees alice's public objects only");
    assert_eq!(rv(s.get_attributes(note, &[AttributeType::Value]).unwrap_err()), RvError::ObjectHandleInvalid);
    assert_eq!(rv(s.destroy_object(note).unwrap_err()), RvError::ObjectHandleInvalid);
    s.create_object(&data_object("bob-note", true, b"bob's note")).unwrap();
    assert_eq!(labels(&s, &data), ["alice-copy", "alice-pub", "bob-note"]);
    s.logout().unwrap();

    login_as(&s, USER_PIN, "default");
    assert_eq!(labels(&s, &data), ["alice-copy", "alice-pub"], "nor does the default user");
    s.logout().unwrap();

    login_as(&s, ALICE_PIN, "alice");
    assert_eq!(labels(&s, &data), ["alice-copy", "alice-note", "alice-pub"]);
    let h = s.find_objects(&[Attribute::Label(b"alice-note".to_vec())]).unwrap()[0];
    match &s.get_attributes(h, &[AttributeType::Value]).unwrap()[..] {
        [Attribute::Value(v)] => assert_eq!(v, b"alice's note"),
        other => panic!("{other:?}"),
    }
    s.destroy_object(h).unwrap();
    assert_eq!(labels(&s, &data), ["alice-copy", "alice-pub"]);
    // Its row is under a data key (the row MAC is the data key's): in the
    // store it carries CKA_KEYWARD_SEAL.
    if on_postgres() {
        return;
    }
    let c = store_copy(&t);
    let mut st = c.prepare("SELECT public FROM objects").unwrap();
    let rows: Vec<Vec<u8>> = st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    let bob_row = rows.iter().find(|r| r.windows(8).any(|w| w == b"bob-note")).expect("bob's note row");
    let seal = (0x8000_0000u64 | 0x4B57_0010).to_le_bytes();
    assert!(bob_row.windows(8).any(|w| w == seal), "bob's private note is under a data key");
}
