//! Attacks on the token store at rest: whoever can write the SQLite file
//! edits a row's attributes, swaps columns between rows or strips a row's
//! MAC; the token must fail closed (the object refused with
//! CKR_DEVICE_ERROR, its value never readable), never weaker. Also: the
//! legitimate changes (SO trust, SENSITIVE false->true, lifecycle acts from
//! another process) still verify after a reload, public objects are not used
//! before the token could check them, and a store of the previous format
//! (schema 1, `tests/data/v1-token.sqlite`) is bound at its first login.
//!
//! One process per test (`cargo nextest run --test attacks_store`).

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::MechanismType;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use std::path::{Path, PathBuf};

const CKA_PRIVATE: u64 = 0x2;
const CKA_TRUSTED: u64 = 0x86;
const CKA_SENSITIVE: u64 = 0x103;
const CKA_EXTRACTABLE: u64 = 0x162;
const CKA_KEYWARD_STATE: u64 = 0x8000_0000 | 0x4B57_0003;
const ENABLED: u64 = 1;
const DISABLED: u64 = 2;

fn db_path(dir: &Path) -> PathBuf {
    dir.join("token/token.sqlite")
}

/// The attribute-blob format of src/store/codec.rs.
fn decode(b: &[u8]) -> Vec<(u64, Vec<u8>)> {
    assert_eq!(b[0], 0xA1, "codec magic");
    let n = u32::from_le_bytes(b[1..5].try_into().unwrap()) as usize;
    let mut at = 5;
    let mut out = Vec::new();
    for _ in 0..n {
        let ty = u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        let len = u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
        out.push((ty, b[at + 12..at + 12 + len].to_vec()));
        at += 12 + len;
    }
    assert_eq!(at, b.len());
    out
}

fn encode(attrs: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![0xA1];
    out.extend_from_slice(&(attrs.len() as u32).to_le_bytes());
    for (t, v) in attrs {
        out.extend_from_slice(&t.to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
        out.extend_from_slice(v);
    }
    out
}

fn set(attrs: &mut Vec<(u64, Vec<u8>)>, ty: u64, v: Vec<u8>) {
    match attrs.iter_mut().find(|(t, _)| *t == ty) {
        Some(e) => e.1 = v,
        None => attrs.push((ty, v)),
    }
}

fn ulong(v: u64) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

fn db(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(db_path(dir)).unwrap()
}

/// Swaps the (uid, sealed) columns of the object rows `a` and `b`.
fn swap_uid_and_sealed(c: &rusqlite::Connection, a: ObjectHandle, b: ObjectHandle) {
    let get = |id: ObjectHandle| -> (String, Vec<u8>) {
        c.query_row("SELECT uid, sealed FROM objects WHERE id = ?1", [id.handle() as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap()
    };
    let (ra, rb) = (get(a), get(b));
    c.execute("UPDATE objects SET uid = 'tmp' WHERE id = ?1", [a.handle() as i64]).unwrap();
    c.execute(
        "UPDATE objects SET uid = ?2, sealed = ?3 WHERE id = ?1",
        rusqlite::params![b.handle() as i64, ra.0, ra.1],
    )
    .unwrap();
    c.execute(
        "UPDATE objects SET uid = ?2, sealed = ?3 WHERE id = ?1",
        rusqlite::params![a.handle() as i64, rb.0, rb.1],
    )
    .unwrap();
}

/// Rewrites the public attribute blob of row `id` (leaving its MAC).
fn edit_public(dir: &Path, id: ObjectHandle, f: impl FnOnce(&mut Vec<(u64, Vec<u8>)>)) {
    let c = db(dir);
    let blob: Vec<u8> =
        c.query_row("SELECT public FROM objects WHERE id = ?1", [id.handle() as i64], |r| r.get(0)).unwrap();
    let mut attrs = decode(&blob);
    f(&mut attrs);
    let n = c
        .execute("UPDATE objects SET public = ?2 WHERE id = ?1", rusqlite::params![id.handle() as i64, encode(&attrs)]);
    assert_eq!(n.unwrap(), 1);
}

fn uid_of(dir: &Path, id: ObjectHandle) -> String {
    db(dir).query_row("SELECT uid FROM objects WHERE id = ?1", [id.handle() as i64], |r| r.get(0)).unwrap()
}

/// Finalizes the module, lets `edit` change the files, loads it again.
fn reload(t: Token, edit: impl FnOnce(&Path)) -> Token {
    let Token { dir, conf, p11, .. } = t;
    p11.finalize().unwrap();
    edit(dir.path());
    let p11 = load(&conf);
    let slot = p11.get_all_slots().unwrap()[0];
    Token { dir, conf, p11, slot }
}

fn aes(s: &Session, label: &str, extra: &[Attribute]) -> ObjectHandle {
    let mut t = vec![
        Attribute::Token(true),
        Attribute::ValueLen(32.into()),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
    ];
    t.extend_from_slice(extra);
    s.generate_key(&Mechanism::AesKeyGen, &t).unwrap()
}

fn cbc() -> Mechanism<'static> {
    Mechanism::AesCbcPad([7; 16])
}

fn value_of(s: &Session, h: ObjectHandle) -> cryptoki::error::Result<Option<Vec<u8>>> {
    Ok(s.get_attributes(h, &[AttributeType::Value])?.into_iter().find_map(|a| match a {
        Attribute::Value(v) => Some(v),
        _ => None,
    }))
}

fn is_device_error(e: cryptoki::error::Error) -> bool {
    matches!(rv(e), RvError::DeviceError | RvError::GeneralError)
}

/// The worker of `flipped_sensitive_and_extractable_never_reveal_the_value`:
/// a fresh process that logs in and uses the tampered key (its stderr is
/// checked for the log line naming the object).
#[test]
fn tampered_key_worker() {
    let Ok(conf) = std::env::var("KW_TAMPER_CONF") else { return };
    let p11 = load(&std::ffi::CString::new(conf).unwrap());
    let slot = p11.get_all_slots().unwrap()[0];
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    let found = s.find_objects(&[Attribute::Label(b"victim".to_vec())]).unwrap();
    assert_eq!(found.len(), 1);
    assert!(is_device_error(s.encrypt_init(&cbc(), found[0]).unwrap_err()));
    println!("WORKER OK");
}

#[test]
fn flipped_sensitive_and_extractable_never_reveal_the_value() {
    let t = initialized();
    let s = t.user_session();
    let k = aes(&s, "victim", &[Attribute::Sensitive(true), Attribute::Extractable(false)]);
    let w = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[Attribute::Token(true), Attribute::ValueLen(32.into()), Attribute::Wrap(true), Attribute::Unwrap(true)],
        )
        .unwrap();
    assert_eq!(value_of(&s, k).unwrap(), None, "sensitive before the attack");
    let before = s.encrypt(&cbc(), k, b"data").unwrap();
    drop(s);
    let mut uid = String::new();
    let t = reload(t, |dir| {
        uid = uid_of(dir, k);
        edit_public(dir, k, |a| {
            set(a, CKA_SENSITIVE, vec![0]);
            set(a, CKA_EXTRACTABLE, vec![1]);
        })
    });

    // A fresh process logs the refused object by handle and uid.
    let out = test_worker("tampered_key_worker").env("KW_TAMPER_CONF", t.conf.to_str().unwrap()).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stdout.contains("WORKER OK"), "{stdout}\n{stderr}");
    let line = format!("object {} (uid {uid}) failed its integrity check", k.handle());
    assert!(stderr.contains(&line), "no log line naming the object: {stderr}");

    let s = t.user_session();
    let e = value_of(&s, k).unwrap_err();
    assert!(is_device_error(e), "the value must never be readable");
    assert!(is_device_error(s.encrypt_init(&cbc(), k).unwrap_err()));
    assert!(is_device_error(s.decrypt(&cbc(), k, &before).unwrap_err()));
    assert!(is_device_error(s.wrap_key(&Mechanism::AesKeyWrapPad, w, k).unwrap_err()));
    assert!(is_device_error(s.copy_object(k, &[Attribute::Token(false)]).unwrap_err()));
    assert!(is_device_error(s.update_attributes(k, &[Attribute::Label(b"x".to_vec())]).unwrap_err()));
    // The untouched key still works; the tampered one can only be destroyed.
    assert!(s.wrap_key(&Mechanism::AesKeyWrapPad, w, w).is_err(), "not extractable: refused as usual");
    s.destroy_object(k).unwrap();
    drop(s);
    reload(t, |dir| {
        let rows: i64 = db(dir).query_row("SELECT count(*) FROM objects", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 1, "destroyed for good, not soft-deleted with a fresh MAC");
    });
}

#[test]
fn swapped_sealed_and_uid_columns_fail_closed() {
    let t = initialized();
    let s = t.user_session();
    let a = aes(&s, "a-sensitive", &[Attribute::Sensitive(true), Attribute::Extractable(false)]);
    let known: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(29) ^ 0x3c).collect();
    let b = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(true),
            Attribute::Value(known.clone()),
            Attribute::Label(b"b-readable".to_vec()),
            Attribute::Sensitive(false),
            Attribute::Extractable(true),
            Attribute::Encrypt(true),
        ])
        .unwrap();
    assert_eq!(value_of(&s, b).unwrap().unwrap(), known);
    drop(s);
    // Swap (uid, sealed) between the rows: both refuse, nothing is revealed.
    let t = reload(t, |dir| swap_uid_and_sealed(&db(dir), a, b));
    let s = t.user_session();
    assert!(is_device_error(value_of(&s, b).unwrap_err()));
    assert!(is_device_error(value_of(&s, a).unwrap_err()));
    assert!(is_device_error(s.encrypt_init(&cbc(), a).unwrap_err()));
    assert!(is_device_error(s.encrypt_init(&cbc(), b).unwrap_err()));
    drop(s);
    // Swap only the sealed columns: the same.
    // Undo the first swap (both rows verify again) ...
    let t = reload(t, |dir| swap_uid_and_sealed(&db(dir), a, b));
    {
        let s = t.user_session();
        assert_eq!(value_of(&s, b).unwrap().unwrap(), known, "swapped back: both rows verify again");
        s.encrypt(&cbc(), a, b"x").unwrap();
    }
    let t = reload(t, |dir| {
        let c = db(dir);
        let sealed = |id: ObjectHandle| -> Vec<u8> {
            c.query_row("SELECT sealed FROM objects WHERE id = ?1", [id.handle() as i64], |r| r.get(0)).unwrap()
        };
        let (sa, sb) = (sealed(a), sealed(b));
        c.execute("UPDATE objects SET sealed = ?2 WHERE id = ?1", rusqlite::params![a.handle() as i64, sb]).unwrap();
        c.execute("UPDATE objects SET sealed = ?2 WHERE id = ?1", rusqlite::params![b.handle() as i64, sa]).unwrap();
    });
    let s = t.user_session();
    assert!(is_device_error(value_of(&s, b).unwrap_err()));
    assert!(is_device_error(s.encrypt_init(&cbc(), a).unwrap_err()));
    assert!(is_device_error(s.encrypt_init(&cbc(), b).unwrap_err()));
}

fn oaep() -> Mechanism<'static> {
    Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
        MechanismType::SHA256,
        PkcsMgfType::MGF1_SHA256,
        PkcsOaepSource::empty(),
    ))
}

/// An RSA key pair whose public half may wrap, and an AES key that may only
/// be wrapped by a trusted key.
fn trusted_setup(s: &Session) -> (ObjectHandle, ObjectHandle, ObjectHandle) {
    let (pubk, privk) = s
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::ModulusBits(2048.into()),
                Attribute::Wrap(true),
                Attribute::Encrypt(true),
                Attribute::Label(b"wrapper".to_vec()),
            ],
            &[
                Attribute::Token(true),
                Attribute::Unwrap(true),
                Attribute::Decrypt(true),
                Attribute::Label(b"wrapper".to_vec()),
            ],
        )
        .unwrap();
    let k = aes(s, "guarded", &[Attribute::Extractable(true), Attribute::WrapWithTrusted(true)]);
    (pubk, privk, k)
}

#[test]
fn trusted_set_on_a_public_key_row_is_refused() {
    let t = initialized();
    let s = t.user_session();
    let (pubk, _privk, k) = trusted_setup(&s);
    assert_eq!(rv(s.wrap_key(&oaep(), pubk, k).unwrap_err()), RvError::KeyNotWrappable, "untrusted wrapping key");
    drop(s);
    let t = reload(t, |dir| edit_public(dir, pubk, |a| set(a, CKA_TRUSTED, vec![1])));
    // Before any login the public key cannot be checked: listed, not used.
    {
        let s = t.p11.open_rw_session(t.slot).unwrap();
        assert!(s.find_objects(&[Attribute::Label(b"wrapper".to_vec())]).unwrap().contains(&pubk));
        assert_eq!(rv(s.encrypt(&oaep(), pubk, b"x").unwrap_err()), RvError::UserNotLoggedIn);
    }
    let s = t.user_session();
    let e = s.wrap_key(&oaep(), pubk, k).unwrap_err();
    assert!(is_device_error(e), "a forged CKA_TRUSTED must never let the key be wrapped");
    assert!(is_device_error(s.encrypt(&oaep(), pubk, b"x").unwrap_err()));
    assert!(is_device_error(s.get_attributes(pubk, &[AttributeType::Trusted]).unwrap_err()));
}

#[test]
fn enabling_a_disabled_key_by_editing_is_refused() {
    let t = initialized();
    let s = t.user_session();
    let k = aes(&s, "lifecycle", &[]);
    s.update_attributes(
        k,
        &[Attribute::VendorDefined((AttributeType::VendorDefined(CKA_KEYWARD_STATE), ulong(DISABLED)))],
    )
    .unwrap();
    assert_eq!(rv(s.encrypt_init(&cbc(), k).unwrap_err()), RvError::KeyFunctionNotPermitted);
    drop(s);
    // The legitimate write verifies after a reload ...
    let t = reload(t, |_| {});
    {
        let s = t.user_session();
        assert_eq!(rv(s.encrypt_init(&cbc(), k).unwrap_err()), RvError::KeyFunctionNotPermitted);
    }
    // ... an edit back to ENABLED does not.
    let t = reload(t, |dir| edit_public(dir, k, |a| set(a, CKA_KEYWARD_STATE, ulong(ENABLED))));
    let s = t.user_session();
    assert!(is_device_error(s.encrypt_init(&cbc(), k).unwrap_err()));
    // And a lifecycle act cannot launder the edit with a fresh MAC.
    let e = s
        .update_attributes(
            k,
            &[Attribute::VendorDefined((AttributeType::VendorDefined(CKA_KEYWARD_STATE), ulong(DISABLED)))],
        )
        .unwrap_err();
    assert!(is_device_error(e));
}

#[test]
fn a_stripped_mac_or_a_cleared_private_flag_is_refused() {
    let t = initialized();
    let s = t.user_session();
    let k = aes(&s, "stripped", &[]);
    let d = s
        .create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Label(b"private-data".to_vec()),
            Attribute::Value(b"secret note".to_vec()),
        ])
        .unwrap();
    drop(s);
    let t = reload(t, |dir| {
        db(dir).execute("UPDATE objects SET mac = NULL WHERE id = ?1", [k.handle() as i64]).unwrap();
        edit_public(dir, d, |a| set(a, CKA_PRIVATE, vec![0]));
    });
    let s = t.user_session();
    assert!(is_device_error(s.encrypt_init(&cbc(), k).unwrap_err()), "an unbound row in a bound store");
    assert!(is_device_error(value_of(&s, d).unwrap_err()));
}

#[test]
fn legitimate_changes_verify_after_a_reload() {
    let t = initialized();
    let s = t.user_session();
    let (pubk, privk, k) = trusted_setup(&s);
    let soft = aes(&s, "soft", &[Attribute::Sensitive(false), Attribute::Extractable(true)]);
    // SENSITIVE false->true and EXTRACTABLE true->false re-MAC the row.
    s.update_attributes(soft, &[Attribute::Sensitive(true)]).unwrap();
    s.update_attributes(soft, &[Attribute::Extractable(false)]).unwrap();
    s.logout().unwrap();
    // The SO trusts the public key.
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    s.update_attributes(pubk, &[Attribute::Trusted(true)]).unwrap();
    s.logout().unwrap();
    drop(s);
    let t = reload(t, |_| {});
    let s = t.user_session();
    let wrapped = s.wrap_key(&oaep(), pubk, k).unwrap();
    let back = s
        .unwrap_key(
            &oaep(),
            privk,
            &wrapped,
            &[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::KeyType(KeyType::AES), Attribute::Encrypt(true)],
        )
        .unwrap();
    s.encrypt(&cbc(), back, b"x").unwrap();
    assert_eq!(value_of(&s, soft).unwrap(), None);
    s.encrypt(&cbc(), soft, b"x").unwrap();
    // A lifecycle act by another process (the CLI) verifies here.
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
            .args(args)
            .env("KEYWARD_CONF", t.conf.to_str().unwrap())
            .env("KEYWARD_PIN", USER_PIN)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    cli(&["key", "disable", "soft"]);
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_eq!(rv(s.encrypt_init(&cbc(), soft).unwrap_err()), RvError::KeyFunctionNotPermitted);
    cli(&["key", "enable", "soft"]);
    cli(&["key", "rotate", "soft"]);
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    let found = s.find_objects(&[Attribute::Label(b"soft".to_vec())]).unwrap();
    assert_eq!(found.len(), 1);
    assert_ne!(found[0], soft, "the rotated primary");
    s.encrypt(&cbc(), found[0], b"x").unwrap();
    // The old version does not decrypt the new one's data. (Not
    // `unwrap_err`: a wrong-key CBC-PAD decryption ends in valid padding
    // about once in 256 runs; the plaintext is what must not come back.)
    let under_new = s.encrypt(&cbc(), found[0], b"y").unwrap();
    assert_ne!(s.decrypt(&cbc(), soft, &under_new).ok().as_deref(), Some(&b"y"[..]));
}

#[test]
fn token_objects_cannot_be_written_before_the_token_can_mac_them() {
    let t = initialized();
    let t = reload(t, |_| {});
    let s = t.p11.open_rw_session(t.slot).unwrap();
    let e = s
        .create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Value(b"public".to_vec()),
        ])
        .unwrap_err();
    assert_eq!(rv(e), RvError::UserNotLoggedIn);
    // Session objects need no MAC; after a login (and a logout) token
    // objects can be written again.
    s.create_object(&[Attribute::Class(ObjectClass::DATA), Attribute::Token(false), Attribute::Value(b"s".to_vec())])
        .unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    s.logout().unwrap();
    s.create_object(&[
        Attribute::Class(ObjectClass::DATA),
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Value(b"public".to_vec()),
    ])
    .unwrap();
}

/// `tests/data/v1-token.sqlite` was written by keyward before schema 2
/// (commit 3de5bea, with the test harness's PINs): an AES key "old-aes"
/// (sensitive, unextractable), an AES key "old-ext" with a known value
/// (extractable), an EC P-256 pair "old-ec" and a public data object
/// "old-data".
#[test]
fn a_schema_1_store_is_bound_at_its_first_login() {
    let t = blank();
    let t = reload(t, |dir| {
        std::fs::remove_dir_all(dir.join("token")).unwrap();
        std::fs::create_dir(dir.join("token")).unwrap();
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/v1-token.sqlite");
        std::fs::copy(data, db_path(dir)).unwrap();
    });
    // (The file is only opened here while the module is finalized: a second
    // SQLite library in the process would break the module's locks.)
    let macs = |dir: &Path| -> Vec<Option<Vec<u8>>> {
        let c = db(dir);
        let mut st = c.prepare("SELECT mac FROM objects ORDER BY id").unwrap();
        st.query_map([], |r| r.get(0)).unwrap().collect::<rusqlite::Result<_>>().unwrap()
    };
    let t = reload(t, |dir| {
        let m = macs(dir);
        assert_eq!(m.len(), 5);
        assert!(m.iter().all(Option::is_none), "migrated schema, rows not bound yet");
    });
    let ec_label = Attribute::Label(b"old-ec".to_vec());
    {
        // Before the login: public objects are listed, not used.
        let s = t.p11.open_ro_session(t.slot).unwrap();
        let data = s.find_objects(&[Attribute::Label(b"old-data".to_vec())]).unwrap();
        assert_eq!(data.len(), 1);
        assert_eq!(value_of(&s, data[0]).unwrap().unwrap(), b"hello");
        let pubk = s.find_objects(&[ec_label.clone(), Attribute::Class(ObjectClass::PUBLIC_KEY)]).unwrap();
        assert_eq!(rv(s.verify(&Mechanism::Ecdsa, pubk[0], &[1; 32], &[0; 64]).unwrap_err()), RvError::UserNotLoggedIn);
    }
    let s = t.user_session();
    let find = |label: &str| s.find_objects(&[Attribute::Label(label.as_bytes().to_vec())]).unwrap();
    let old_aes = find("old-aes")[0];
    let ct = s.encrypt(&cbc(), old_aes, b"migrated").unwrap();
    assert_eq!(s.decrypt(&cbc(), old_aes, &ct).unwrap(), b"migrated");
    assert_eq!(value_of(&s, old_aes).unwrap(), None);
    let known: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
    assert_eq!(value_of(&s, find("old-ext")[0]).unwrap().unwrap(), known);
    let privk = s.find_objects(&[ec_label.clone(), Attribute::Class(ObjectClass::PRIVATE_KEY)]).unwrap()[0];
    let pubk = s.find_objects(&[ec_label, Attribute::Class(ObjectClass::PUBLIC_KEY)]).unwrap()[0];
    let sig = s.sign(&Mechanism::Ecdsa, privk, &[5; 32]).unwrap();
    s.verify(&Mechanism::Ecdsa, pubk, &[5; 32], &sig).unwrap();
    drop(s);
    // From now on the migrated store is as strict as a new one.
    let t = reload(t, |dir| {
        assert!(macs(dir).iter().all(Option::is_some), "every row bound at the first login");
        edit_public(dir, old_aes, |a| {
            set(a, CKA_SENSITIVE, vec![0]);
            set(a, CKA_EXTRACTABLE, vec![1]);
        });
        db(dir).execute("UPDATE objects SET mac = NULL WHERE id = ?1", [pubk.handle() as i64]).unwrap();
    });
    let s = t.user_session();
    assert!(is_device_error(value_of(&s, old_aes).unwrap_err()));
    assert!(is_device_error(s.verify(&Mechanism::Ecdsa, pubk, &[5; 32], &sig).unwrap_err()));
    s.sign(&Mechanism::Ecdsa, privk, &[5; 32]).unwrap();
}
