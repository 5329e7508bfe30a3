//! Stores written by earlier keyward releases open unchanged: the token
//! store fixtures under `tests/fixtures/` (each made by
//! [`make_store_fixture`] of its release) are copied, opened by this build,
//! and every key in them still works as it did.
//!
//! One process per test (`cargo nextest run --test schema_upgrade`).

mod common;

use common::vendor::*;
use common::*;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use std::path::Path;

const IV: [u8; 16] = [7; 16];

/// The config of a fixture token: the harness PINs, 1000 PBKDF2 rounds,
/// a 30-day deletion grace (as the fixture was made).
fn fixture_conf(dir: &Path, token: &Path) -> std::ffi::CString {
    let conf = dir.join("keyward.toml");
    std::fs::write(
        &conf,
        format!(
            "[policy]\npbkdf2_iterations = 1000\nmax_pin_attempts = 3\n[kms]\ndeletion_grace = \"30d\"\n\
             [[slot]]\npath = \"{}\"\n",
            token.display()
        ),
    )
    .unwrap();
    std::ffi::CString::new(conf.display().to_string()).unwrap()
}

fn labelled(s: &Session, label: &str, class: ObjectClass) -> Vec<ObjectHandle> {
    s.find_objects(&[Attribute::Label(label.as_bytes().to_vec()), Attribute::Class(class)]).unwrap()
}

/// Not a check: writes the fixture of this release's store format into
/// `$KEYWARD_FIXTURE_OUT` (run with `-- --ignored`; then copy
/// `token/token.sqlite` and `token/audit.jsonl` under
/// `tests/fixtures/store-<release>/` with a README naming the commit).
/// Every key a later release must still open: an AES key of known value,
/// an RSA pair rotated once, an EC pair, an ML-DSA pair, a key pending
/// deletion, a data object.
#[test]
#[ignore]
fn make_store_fixture() {
    let out = std::path::PathBuf::from(std::env::var("KEYWARD_FIXTURE_OUT").expect("KEYWARD_FIXTURE_OUT"));
    let token = out.join("token");
    std::fs::create_dir_all(&token).unwrap();
    let p11 = load(&fixture_conf(&out, &token));
    let slot = p11.get_all_slots().unwrap()[0];
    p11.init_token(slot, &pin(SO_PIN), "fixture").unwrap();
    let so = p11.open_rw_session(slot).unwrap();
    so.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    so.init_pin(&pin(USER_PIN)).unwrap();
    so.logout().unwrap();
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    let aes = |label: &str, value: Option<Vec<u8>>| {
        let mut t = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
        ];
        match value {
            Some(v) => {
                t.extend([Attribute::Value(v), Attribute::Sensitive(false), Attribute::Extractable(true)]);
                s.create_object(&t).unwrap()
            }
            None => {
                t.push(Attribute::ValueLen(32.into()));
                s.generate_key(&Mechanism::AesKeyGen, &t).unwrap()
            }
        }
    };
    aes("known", Some((1..=32).collect()));
    let deleted = aes("deleted", None);
    s.destroy_object(deleted).unwrap();
    let pair = |label: &str, mech: &Mechanism, public: Vec<Attribute>| {
        let l = Attribute::Label(label.as_bytes().to_vec());
        let mut pb = vec![Attribute::Token(true), Attribute::Verify(true), l.clone()];
        pb.extend(public);
        let pv =
            [Attribute::Token(true), Attribute::Sign(true), Attribute::Private(true), Attribute::Sensitive(true), l];
        s.generate_key_pair(mech, &pb, &pv).unwrap()
    };
    pair(
        "signer",
        &Mechanism::RsaPkcsKeyPairGen,
        vec![Attribute::ModulusBits(2048.into()), Attribute::PublicExponent(vec![1, 0, 1])],
    );
    pair(
        "ec",
        &Mechanism::EccKeyPairGen,
        vec![Attribute::EcParams(vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07])],
    );
    pair(
        "mldsa",
        &Mechanism::MlDsaKeyPairGen,
        vec![Attribute::ParameterSet(cryptoki::object::MlDsaParameterSetType::ML_DSA_65.into())],
    );
    s.create_object(&[
        Attribute::Class(ObjectClass::DATA),
        Attribute::Token(true),
        Attribute::Label(b"note".to_vec()),
        Attribute::Value(b"hello".to_vec()),
    ])
    .unwrap();
    drop(s);
    drop(so);
    let (ok, text) = cli_conf(&out.join("keyward.toml"), &["key", "rotate", "signer"]);
    assert!(ok, "{text}");
}

/// `keyward ARGS` on the config at `conf`, as the user.
fn cli_conf(conf: &Path, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .env("KEYWARD_CONF", conf)
        .env("KEYWARD_PIN", USER_PIN)
        .output()
        .unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Every object row of the SQLite store at `db`: id, uid, both blobs, MAC.
type Rows = Vec<(i64, String, Vec<u8>, Vec<u8>, Option<Vec<u8>>)>;
fn rows(db: &Path) -> Rows {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c.prepare("SELECT id, uid, public, sealed, mac FROM objects ORDER BY id").unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

fn user_version(db: &Path) -> i64 {
    rusqlite::Connection::open(db).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap()
}

/// A token written by keyward 1.0 (schema 3, `tests/fixtures/store-v1.0`)
/// opens with this build: the schema moves to the newest version, no
/// object row changes (byte for byte), the user and the SO log in with
/// their PINs, and every key works as before.
#[test]
fn a_keyward_1_0_store_opens_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::create_dir(&token).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1.0");
    for f in ["token.sqlite", "audit.jsonl"] {
        std::fs::copy(fixtures.join(f), token.join(f)).unwrap();
    }
    let db = token.join("token.sqlite");
    assert_eq!(user_version(&db), 3, "the fixture is a schema-3 store");
    let before = rows(&db);
    assert_eq!(before.len(), 11, "known, deleted, signer x4 (two versions), ec x2, mldsa x2, note");

    let p11 = load(&fixture_conf(dir.path(), &token));
    let slot = p11.get_all_slots().unwrap()[0];
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    let known = labelled(&s, "known", ObjectClass::SECRET_KEY);
    assert_eq!(known.len(), 1);
    assert_eq!(
        s.get_attributes(known[0], &[AttributeType::Value]).unwrap(),
        vec![Attribute::Value((1..=32).collect())]
    );
    let ct = s.encrypt(&Mechanism::AesCbcPad(IV), known[0], b"data").unwrap();
    assert_eq!(s.decrypt(&Mechanism::AesCbcPad(IV), known[0], &ct).unwrap(), b"data");
    // The rotated pair: the primary is version 2 and signs; version 1 verifies only.
    let signer = labelled(&s, "signer", ObjectClass::PRIVATE_KEY);
    assert_eq!(signer.len(), 1);
    assert_eq!(get_ulong(&s, signer[0], CKA_KEYWARD_VERSION), 2);
    let sig = s.sign(&Mechanism::Sha256RsaPkcs, signer[0], b"m").unwrap();
    let signer_pub = labelled(&s, "signer", ObjectClass::PUBLIC_KEY);
    s.verify(&Mechanism::Sha256RsaPkcs, signer_pub[0], b"m", &sig).unwrap();
    let ec = labelled(&s, "ec", ObjectClass::PRIVATE_KEY);
    let sig = s.sign(&Mechanism::Ecdsa, ec[0], &[9u8; 32]).unwrap();
    s.verify(&Mechanism::Ecdsa, labelled(&s, "ec", ObjectClass::PUBLIC_KEY)[0], &[9u8; 32], &sig).unwrap();
    let mldsa = labelled(&s, "mldsa", ObjectClass::PRIVATE_KEY);
    let m = Mechanism::MlDsa(cryptoki::mechanism::dsa::SignAdditionalContext::new(
        cryptoki::mechanism::dsa::HedgeType::Preferred,
        None,
    ));
    let sig = s.sign(&m, mldsa[0], b"m").unwrap();
    s.verify(&m, labelled(&s, "mldsa", ObjectClass::PUBLIC_KEY)[0], b"m", &sig).unwrap();
    let deleted =
        s.find_objects(&[Attribute::Label(b"deleted".to_vec()), vbool(CKA_KEYWARD_ALL_VERSIONS, true)]).unwrap();
    assert_eq!(deleted.len(), 1);
    assert_eq!(get_ulong(&s, deleted[0], CKA_KEYWARD_STATE), PENDING);
    let note = s.find_objects(&[Attribute::Label(b"note".to_vec())]).unwrap();
    assert_eq!(s.get_attributes(note[0], &[AttributeType::Value]).unwrap(), vec![Attribute::Value(b"hello".to_vec())]);
    s.logout().unwrap();
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    s.logout().unwrap();
    drop(s);
    p11.finalize().unwrap();

    assert!(user_version(&db) > 3, "opening migrated the schema");
    assert_eq!(rows(&db), before, "no object row changed");
}
