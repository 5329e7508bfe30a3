//! Key lifecycle through the built module (DESIGN.md §4, issue 4): versions
//! and the default view, rotation (PKCS#11 and CLI) with open handles, the
//! version-aware envelope, disable/enable, soft delete/restore/purge,
//! automatic rotation, expiry windows, tags, and two processes racing
//! `keyward maintain`. Time moves through `KEYWARD_TEST_NOW` (no sleeps),
//! which every token config of this file opts into (`[testing]`).
//!
//! One process per test (`cargo nextest run --test kms`).

mod common;

use common::cli_at as cli;
use common::vendor::*;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::Date;
use std::process::Command;

/// 2030-06-15T00:00:00Z.
const T0: i64 = 1_907_712_000;
const DAY: i64 = 86_400;

fn set_now(t: i64) {
    // SAFETY: tests run one per process and set the variable between calls
    // into the module, from this thread only.
    unsafe { std::env::set_var("KEYWARD_TEST_NOW", t.to_string()) };
}

/// The opt-in that lets `KEYWARD_TEST_NOW` move the lifecycle clock.
const TEST_CLOCK: &str = "[testing]\nallow_test_clock = true\n";

/// common's `initialized_with`, with the test clock opted in.
fn initialized_with(extra: &str) -> Token {
    common::initialized_with(&format!("{TEST_CLOCK}{extra}"))
}

/// common's `initialized`, with the test clock opted in.
fn initialized() -> Token {
    initialized_with("")
}

fn aes_key(s: &Session, label: &str, extra: &[Attribute]) -> ObjectHandle {
    let mut t = aes_token_key_template(label);
    t.extend_from_slice(extra);
    s.generate_key(&Mechanism::AesKeyGen, &t).unwrap()
}

/// The rotation template of the README: label (+ id) and CKA_KEYWARD_ROTATE.
fn rotate(s: &Session, label: &str) -> ObjectHandle {
    s.generate_key(
        &Mechanism::AesKeyGen,
        &[Attribute::Label(label.as_bytes().to_vec()), vbool(CKA_KEYWARD_ROTATE, true)],
    )
    .unwrap()
}

fn find(s: &Session, t: &[Attribute]) -> Vec<ObjectHandle> {
    let mut v = s.find_objects(t).unwrap();
    v.sort_by_key(|h| h.handle());
    v
}

fn envelope() -> Mechanism<'static> {
    let ty = MechanismType::new_vendor_defined(CKM_KEYWARD_AES_GCM).unwrap();
    Mechanism::VendorDefined(VendorDefinedMechanism::new::<()>(ty, None))
}

const IV: [u8; 16] = [7; 16];

fn relogin(s: &Session) {
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
}

#[test]
fn versions_default_view_and_pkcs11_rotation() {
    let t = initialized();
    let s = t.user_session();
    let v1 = aes_key(&s, "k", &[]);
    assert_eq!(get_ulong(&s, v1, CKA_KEYWARD_VERSION), 1);
    assert_eq!(get_raw(&s, v1, CKA_KEYWARD_PRIMARY), vec![1]);
    assert_eq!(get_ulong(&s, v1, CKA_KEYWARD_STATE), ENABLED);
    assert_eq!(get_ulong(&s, v1, CKA_KEYWARD_ORIGIN), 1);
    // The token sets versions: a caller may not.
    let e = s.update_attributes(v1, &[vulong(CKA_KEYWARD_VERSION, 9)]).unwrap_err();
    assert_eq!(rv(e), RvError::AttributeReadOnly);
    let v2 = rotate(&s, "k");
    let v3 = rotate(&s, "k");
    assert_eq!(get_ulong(&s, v3, CKA_KEYWARD_VERSION), 3);
    assert_eq!(get_raw(&s, v1, CKA_KEYWARD_PRIMARY), vec![0]);
    assert_eq!(get_raw(&s, v2, CKA_KEYWARD_PRIMARY), vec![0]);
    // Default view: the primary only.
    assert_eq!(find(&s, &[Attribute::Label(b"k".to_vec())]), vec![v3]);
    assert_eq!(find(&s, &[Attribute::Class(ObjectClass::SECRET_KEY)]), vec![v3]);
    // Widened views: all versions, one version, non-primary versions.
    let all = [Attribute::Label(b"k".to_vec()), vbool(CKA_KEYWARD_ALL_VERSIONS, true)];
    assert_eq!(find(&s, &all), vec![v1, v2, v3]);
    assert_eq!(find(&s, &[Attribute::Label(b"k".to_vec()), vulong(CKA_KEYWARD_VERSION, 2)]), vec![v2]);
    assert_eq!(find(&s, &[vbool(CKA_KEYWARD_PRIMARY, false)]), vec![v1, v2]);
    // The new version copies the primary's attributes.
    let got = s.get_attributes(v3, &[AttributeType::Id, AttributeType::Token, AttributeType::Sensitive]).unwrap();
    assert!(got.contains(&Attribute::Id(b"k".to_vec())) && got.contains(&Attribute::Sensitive(true)));
    // A rotation template may not change the key; it must name a key.
    let e = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[Attribute::Label(b"k".to_vec()), Attribute::ValueLen(16.into()), vbool(CKA_KEYWARD_ROTATE, true)],
        )
        .unwrap_err();
    assert_eq!(rv(e), RvError::TemplateInconsistent);
    let e = s
        .generate_key(&Mechanism::AesKeyGen, &[Attribute::Label(b"none".to_vec()), vbool(CKA_KEYWARD_ROTATE, true)])
        .unwrap_err();
    assert_eq!(rv(e), RvError::TemplateInconsistent);
    // The CLI sees three versions with one primary.
    let (ok, out) = cli(&t, &["key", "list", "--all", "--json"], None);
    assert!(ok, "{out}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let versions = j[0]["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 3);
    assert_eq!(versions.iter().filter(|v| v["primary"] == true).count(), 1);
}

#[test]
fn rotation_while_another_session_holds_handles() {
    let t = initialized();
    let a = t.user_session();
    let b = t.p11.open_rw_session(t.slot).unwrap();
    let v1 = aes_key(&a, "shared", &[]);
    let ct1 = a.encrypt(&Mechanism::AesCbcPad(IV), v1, b"before rotation").unwrap();
    // An operation started before the rotation finishes with its key.
    a.encrypt_init(&Mechanism::AesCbcPad(IV), v1).unwrap();
    let v2 = rotate(&b, "shared");
    let part = a.encrypt_update(b"in flight").unwrap();
    let mut ct_flight = part;
    ct_flight.extend(a.encrypt_final().unwrap());
    // The old handle stays valid: it decrypts, and refuses new encryption.
    assert_eq!(a.decrypt(&Mechanism::AesCbcPad(IV), v1, &ct1).unwrap(), b"before rotation");
    assert_eq!(a.decrypt(&Mechanism::AesCbcPad(IV), v1, &ct_flight).unwrap(), b"in flight");
    let e = a.encrypt(&Mechanism::AesCbcPad(IV), v1, b"x").unwrap_err();
    assert_eq!(rv(e), RvError::KeyFunctionNotPermitted);
    let e = b.encrypt(&Mechanism::AesCbcPad(IV), v1, b"x").unwrap_err();
    assert_eq!(rv(e), RvError::KeyFunctionNotPermitted);
    let ct2 = a.encrypt(&Mechanism::AesCbcPad(IV), v2, b"after").unwrap();
    assert_eq!(b.decrypt(&Mechanism::AesCbcPad(IV), v2, &ct2).unwrap(), b"after");
    // A second process (the CLI) rotates: this process sees it on its next call.
    let (ok, out) = cli(&t, &["key", "rotate", "shared"], None);
    assert!(ok, "{out}");
    assert!(out.contains("version 3 is now primary"), "{out}");
    let e = a.encrypt(&Mechanism::AesCbcPad(IV), v2, b"x").unwrap_err();
    assert_eq!(rv(e), RvError::KeyFunctionNotPermitted);
    assert_eq!(find(&a, &[Attribute::Label(b"shared".to_vec())]).len(), 1);
}

#[test]
fn envelope_decrypts_every_version_through_the_primary() {
    let t = initialized();
    let s = t.user_session();
    let mut key = aes_key(&s, "env", &[]);
    let mut cts = Vec::new();
    for i in 0..4u8 {
        let msg = vec![i; 20 + i as usize];
        let ct = s.encrypt(&envelope(), key, &msg).unwrap();
        assert_eq!(ct.len(), msg.len() + 35);
        assert_eq!(&ct[..3], b"KW\x01");
        assert_eq!(u32::from_be_bytes(ct[3..7].try_into().unwrap()), i as u32 + 1);
        cts.push((msg, ct));
        if i < 3 {
            key = rotate(&s, "env");
        }
    }
    // Data encrypted before three rotations decrypts through the current primary.
    for (msg, ct) in &cts {
        assert_eq!(&s.decrypt(&envelope(), key, ct).unwrap(), msg);
    }
    // Through an old version's handle too.
    let v1 = find(&s, &[vulong(CKA_KEYWARD_VERSION, 1), Attribute::Label(b"env".to_vec())])[0];
    assert_eq!(s.decrypt(&envelope(), v1, &cts[3].1).unwrap(), cts[3].0);
    // Encrypting with the IV the token picks: two ciphertexts differ.
    assert_ne!(s.encrypt(&envelope(), key, b"same").unwrap(), s.encrypt(&envelope(), key, b"same").unwrap());
    // A disabled version refuses; a tampered header fails authentication.
    let v2 = find(&s, &[vulong(CKA_KEYWARD_VERSION, 2), Attribute::Label(b"env".to_vec())])[0];
    s.update_attributes(v2, &[vulong(CKA_KEYWARD_STATE, DISABLED)]).unwrap();
    assert_eq!(rv(s.decrypt(&envelope(), key, &cts[1].1).unwrap_err()), RvError::KeyFunctionNotPermitted);
    s.update_attributes(v2, &[vulong(CKA_KEYWARD_STATE, ENABLED)]).unwrap();
    assert_eq!(s.decrypt(&envelope(), key, &cts[1].1).unwrap(), cts[1].0);
    let mut bad = cts[0].1.clone();
    bad[6] = 2; // claims version 2
    assert_eq!(rv(s.decrypt(&envelope(), key, &bad).unwrap_err()), RvError::EncryptedDataInvalid);
    // Old versions never encrypt.
    assert_eq!(rv(s.encrypt(&envelope(), v1, b"x").unwrap_err()), RvError::KeyFunctionNotPermitted);
}

#[test]
fn disable_and_enable_keep_the_material() {
    let t = initialized();
    let s = t.user_session();
    let k = aes_key(&s, "d", &[]);
    let ct = s.encrypt(&Mechanism::AesCbcPad(IV), k, b"data").unwrap();
    let (ok, out) = cli(&t, &["key", "disable", "d"], None);
    assert!(ok, "{out}");
    assert_eq!(get_ulong(&s, k, CKA_KEYWARD_STATE), DISABLED);
    assert_eq!(rv(s.encrypt(&Mechanism::AesCbcPad(IV), k, b"x").unwrap_err()), RvError::KeyFunctionNotPermitted);
    assert_eq!(rv(s.decrypt(&Mechanism::AesCbcPad(IV), k, &ct).unwrap_err()), RvError::KeyFunctionNotPermitted);
    assert!(cli(&t, &["key", "enable", "d"], None).0);
    assert_eq!(s.decrypt(&Mechanism::AesCbcPad(IV), k, &ct).unwrap(), b"data");
    // One version through C_SetAttributeValue; only ENABLED/DISABLED may be set.
    let k2 = rotate(&s, "d");
    let (ok, out) = cli(&t, &["key", "disable", "d", "--version", "1"], None);
    assert!(ok, "{out}");
    assert_eq!(rv(s.decrypt(&Mechanism::AesCbcPad(IV), k, &ct).unwrap_err()), RvError::KeyFunctionNotPermitted);
    assert!(s.encrypt(&Mechanism::AesCbcPad(IV), k2, b"x").is_ok());
    s.update_attributes(k, &[vulong(CKA_KEYWARD_STATE, ENABLED)]).unwrap();
    assert_eq!(s.decrypt(&Mechanism::AesCbcPad(IV), k, &ct).unwrap(), b"data");
    let e = s.update_attributes(k, &[vulong(CKA_KEYWARD_STATE, PENDING)]).unwrap_err();
    assert_eq!(rv(e), RvError::AttributeValueInvalid);
}

#[test]
fn soft_delete_restore_within_grace_and_purge_after() {
    set_now(T0);
    let t = initialized();
    let s = t.user_session();
    aes_key(&s, "del", &[]);
    let k = rotate(&s, "del");
    let ct = s.encrypt(&Mechanism::AesCbcPad(IV), k, b"keep me").unwrap();
    s.destroy_object(k).unwrap();
    // Gone from the default view, refuses use, listed as pending.
    assert!(find(&s, &[Attribute::Label(b"del".to_vec())]).is_empty());
    // Destroying the primary schedules every version of the key.
    let pending = find(&s, &[vulong(CKA_KEYWARD_STATE, PENDING)]);
    assert_eq!(pending.len(), 2);
    assert!(pending.contains(&k));
    assert_eq!(get_ulong(&s, k, CKA_KEYWARD_DESTROY_AT), (T0 + 7 * DAY) as u64);
    assert_eq!(rv(s.decrypt(&Mechanism::AesCbcPad(IV), k, &ct).unwrap_err()), RvError::KeyFunctionNotPermitted);
    assert_eq!(rv(s.destroy_object(k).unwrap_err()), RvError::ObjectHandleInvalid);
    // Restore inside the grace period (6 days later): back unchanged.
    let (ok, out) = cli(&t, &["key", "restore", "del"], Some(T0 + 6 * DAY));
    assert!(ok, "{out}");
    assert_eq!(find(&s, &[Attribute::Label(b"del".to_vec())]), vec![k]);
    assert_eq!(s.decrypt(&Mechanism::AesCbcPad(IV), k, &ct).unwrap(), b"keep me");
    // Delete through the CLI, then purge after the grace period.
    let (ok, out) = cli(&t, &["key", "delete", "del"], Some(T0 + 6 * DAY));
    assert!(ok && out.contains("scheduled for deletion"), "{out}");
    let (ok, out) = cli(&t, &["maintain"], Some(T0 + 12 * DAY));
    assert!(ok && out.contains("purged 0"), "not yet due: {out}");
    let (ok, out) = cli(&t, &["maintain"], Some(T0 + 14 * DAY));
    assert!(ok && out.contains("purged 2"), "{out}");
    let e = s.get_attributes(k, &[AttributeType::Label]).unwrap_err();
    assert_eq!(rv(e), RvError::ObjectHandleInvalid);
    let (ok, out) = cli(&t, &["key", "restore", "del"], Some(T0 + 14 * DAY));
    assert!(!ok && out.lines().count() == 1, "{out}");
    // CKA_DESTROYABLE=false refuses both ways.
    let nd = aes_key(&s, "nd", &[Attribute::Destroyable(false)]);
    assert_eq!(rv(s.destroy_object(nd).unwrap_err()), RvError::ActionProhibited);
    let (ok, out) = cli(&t, &["key", "delete", "nd"], None);
    assert!(!ok && out.contains("not destroyable"), "{out}");
    // The row is gone from the database file (secure_delete overwrote it).
    // (PostgreSQL keeps dead tuples until VACUUM: the row check is SQLite's.)
    if on_postgres() {
        let n: i64 = pg_client(&t.dir.path().join("keyward.toml"))
            .query_one("SELECT count(*) FROM objects WHERE position('del'::bytea in public) > 0", &[])
            .unwrap()
            .get(0);
        assert_eq!(n, 0);
    } else {
        let db = std::fs::read(t.dir.path().join("token/token.sqlite")).unwrap();
        assert!(!db.windows(3).any(|w| w == b"del"));
    }
}

#[test]
fn purge_at_login_and_zero_grace_is_immediate() {
    set_now(T0);
    let t = initialized_with("[kms]\ndeletion_grace = \"1d\"");
    let s = t.user_session();
    let k = aes_key(&s, "p", &[]);
    s.destroy_object(k).unwrap();
    assert_eq!(get_ulong(&s, k, CKA_KEYWARD_DESTROY_AT), (T0 + DAY) as u64);
    set_now(T0 + 2 * DAY);
    relogin(&s);
    assert_eq!(rv(s.get_attributes(k, &[AttributeType::Label]).unwrap_err()), RvError::ObjectHandleInvalid);
}

#[test]
fn zero_grace_deletes_immediately() {
    let t = initialized_with("[kms]\ndeletion_grace = \"0\"");
    let s = t.user_session();
    let k = aes_key(&s, "z", &[]);
    s.destroy_object(k).unwrap();
    assert_eq!(rv(s.get_attributes(k, &[AttributeType::Label]).unwrap_err()), RvError::ObjectHandleInvalid);
    assert!(find(&s, &[vbool(CKA_KEYWARD_ALL_VERSIONS, true)]).is_empty());
}

#[test]
fn automatic_rotation_becomes_due() {
    set_now(T0);
    let t = initialized();
    let s = t.user_session();
    let k = aes_key(&s, "auto", &[vulong(CKA_KEYWARD_ROTATION_PERIOD, DAY as u64)]);
    assert_eq!(get_ulong(&s, k, CKA_KEYWARD_NEXT_ROTATION), (T0 + DAY) as u64);
    // Imported keys do not rotate by themselves.
    let e = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(cryptoki::object::KeyType::AES),
            Attribute::Value((1..=32).collect()),
            vulong(CKA_KEYWARD_ROTATION_PERIOD, DAY as u64),
        ])
        .unwrap_err();
    assert_eq!(rv(e), RvError::TemplateInconsistent);
    // Not due yet: a login changes nothing.
    set_now(T0 + DAY - 1);
    relogin(&s);
    assert_eq!(find(&s, &[vbool(CKA_KEYWARD_ALL_VERSIONS, true)]).len(), 1);
    // Due: the next login rotates it, once.
    set_now(T0 + DAY + 5);
    relogin(&s);
    relogin(&s);
    let all = find(&s, &[vbool(CKA_KEYWARD_ALL_VERSIONS, true)]);
    assert_eq!(all.len(), 2);
    let new = find(&s, &[Attribute::Label(b"auto".to_vec())])[0];
    assert_eq!(get_ulong(&s, new, CKA_KEYWARD_VERSION), 2);
    assert_eq!(get_ulong(&s, new, CKA_KEYWARD_NEXT_ROTATION), (T0 + 2 * DAY + 5) as u64);
    assert_eq!(get_ulong(&s, k, CKA_KEYWARD_NEXT_ROTATION), 0);
    // The period moved with the primary; disabled keys are not rotated.
    assert!(cli(&t, &["key", "disable", "auto"], Some(T0 + DAY + 5)).0);
    let (ok, out) = cli(&t, &["maintain"], Some(T0 + 5 * DAY));
    assert!(ok && out.contains("rotated 0"), "{out}");
}

#[test]
fn two_processes_racing_maintain_make_one_version() {
    set_now(T0);
    let t = initialized();
    let s = t.user_session();
    aes_key(&s, "race", &[vulong(CKA_KEYWARD_ROTATION_PERIOD, DAY as u64)]);
    let due = T0 + 2 * DAY;
    let kids: Vec<_> = (0..4)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_keyward"))
                .arg("maintain")
                .env("KEYWARD_CONF", t.conf.to_str().unwrap())
                .env("KEYWARD_PIN", USER_PIN)
                .env("KEYWARD_TEST_NOW", due.to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut rotated = 0;
    for k in kids {
        let out = k.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
        rotated += text.matches("rotated race v").count();
    }
    assert_eq!(rotated, 1);
    assert_eq!(find(&s, &[vbool(CKA_KEYWARD_ALL_VERSIONS, true)]).len(), 2);
}

fn date(s: &str) -> Date {
    let (y, rest) = s.split_at(4);
    Date::new_from_str_slice(y, &rest[1..3], &rest[4..6]).unwrap()
}

#[test]
fn expiry_windows() {
    let t = initialized();
    let s = t.user_session();
    let k = aes_key(&s, "x", &[Attribute::StartDate(date("2030-06-10")), Attribute::EndDate(date("2030-06-20"))]);
    set_now(T0); // 2030-06-15: inside
    let ct = s.encrypt(&Mechanism::AesCbcPad(IV), k, b"m").unwrap();
    set_now(T0 - 10 * DAY); // before the start
    assert_eq!(rv(s.encrypt(&Mechanism::AesCbcPad(IV), k, b"m").unwrap_err()), RvError::KeyFunctionNotPermitted);
    set_now(T0 + 10 * DAY); // after the end: no new data, old data still decrypts
    assert_eq!(rv(s.encrypt(&Mechanism::AesCbcPad(IV), k, b"m").unwrap_err()), RvError::KeyFunctionNotPermitted);
    assert_eq!(s.decrypt(&Mechanism::AesCbcPad(IV), k, &ct).unwrap(), b"m");
    // `key expire` moves the end date; `never` clears it.
    assert!(cli(&t, &["key", "expire", "x", "2030-07-01"], None).0);
    assert!(s.encrypt(&Mechanism::AesCbcPad(IV), k, b"m").is_ok());
    set_now(T0 + 30 * DAY);
    assert!(s.encrypt(&Mechanism::AesCbcPad(IV), k, b"m").is_err());
    assert!(cli(&t, &["key", "expire", "x", "never"], None).0);
    assert!(s.encrypt(&Mechanism::AesCbcPad(IV), k, b"m").is_ok());
}

#[test]
fn expired_keys_refuse_decrypt_when_policy_says_so() {
    let t = initialized_with("[kms]\ndecrypt_after_expiry = false");
    let s = t.user_session();
    set_now(T0);
    let k = aes_key(&s, "strict", &[Attribute::EndDate(date("2030-06-20"))]);
    let ct = s.encrypt(&Mechanism::AesCbcPad(IV), k, b"m").unwrap();
    set_now(T0 + 10 * DAY);
    assert_eq!(rv(s.decrypt(&Mechanism::AesCbcPad(IV), k, &ct).unwrap_err()), RvError::KeyFunctionNotPermitted);
}

#[test]
fn tags_are_set_and_searched() {
    let t = initialized();
    let s = t.user_session();
    let a = aes_key(&s, "a", &[vattr(CKA_KEYWARD_TAGS, b"team=pay,env=prod".to_vec())]);
    let b = aes_key(&s, "b", &[vattr(CKA_KEYWARD_TAGS, b"env=prod".to_vec())]);
    let c = aes_key(&s, "c", &[]);
    assert_eq!(get_raw(&s, a, CKA_KEYWARD_TAGS), b"env=prod,team=pay");
    s.update_attributes(c, &[vattr(CKA_KEYWARD_TAGS, b"env=dev".to_vec())]).unwrap();
    let tags = |v: &str| find(&s, &[vattr(CKA_KEYWARD_TAGS, v.as_bytes().to_vec())]);
    assert_eq!(tags("env=prod"), vec![a, b]);
    assert_eq!(tags("env=prod,team=pay"), vec![a]);
    assert_eq!(tags("env=dev"), vec![c]);
    assert!(tags("env=qa").is_empty());
    let e = s.update_attributes(c, &[vattr(CKA_KEYWARD_TAGS, b"no value".to_vec())]).unwrap_err();
    assert_eq!(rv(e), RvError::AttributeValueInvalid);
    // After a rotation the search finds the primary; tags are the key's.
    let a2 = rotate(&s, "a");
    assert_eq!(tags("team=pay"), vec![a2]);
    assert!(cli(&t, &["key", "tag", "a", "tier=1"], None).0);
    assert_eq!(tags("tier=1"), vec![a2]);
    assert_eq!(get_raw(&s, a, CKA_KEYWARD_TAGS), b"env=prod,team=pay,tier=1");
    s.update_attributes(a2, &[vattr(CKA_KEYWARD_TAGS, b"env=prod".to_vec())]).unwrap();
    assert_eq!(get_raw(&s, a, CKA_KEYWARD_TAGS), b"env=prod");
    assert!(cli(&t, &["key", "untag", "b", "env"], None).0);
    assert_eq!(tags("env=prod"), vec![a2]);
}

#[test]
fn key_pair_rotation_keeps_old_public_keys_verifying() {
    let t = initialized();
    let s = t.user_session();
    let p256 = vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    let label = || Attribute::Label(b"sig".to_vec());
    let (pub1, priv1) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[Attribute::EcParams(p256), Attribute::Token(true), label()],
            &[Attribute::Token(true), label()],
        )
        .unwrap();
    let sig1 = s.sign(&Mechanism::Ecdsa, priv1, &[1; 32]).unwrap();
    let (pub2, priv2) = s
        .generate_key_pair(&Mechanism::EccKeyPairGen, &[label()], &[label(), vbool(CKA_KEYWARD_ROTATE, true)])
        .unwrap();
    assert_eq!(get_ulong(&s, priv2, CKA_KEYWARD_VERSION), 2);
    assert_eq!(get_ulong(&s, pub2, CKA_KEYWARD_VERSION), 2);
    assert_ne!(
        s.get_attributes(pub1, &[AttributeType::EcPoint]).unwrap(),
        s.get_attributes(pub2, &[AttributeType::EcPoint]).unwrap()
    );
    // Old versions verify, never sign.
    s.verify(&Mechanism::Ecdsa, pub1, &[1; 32], &sig1).unwrap();
    assert_eq!(rv(s.sign(&Mechanism::Ecdsa, priv1, &[1; 32]).unwrap_err()), RvError::KeyFunctionNotPermitted);
    let sig2 = s.sign(&Mechanism::Ecdsa, priv2, &[2; 32]).unwrap();
    s.verify(&Mechanism::Ecdsa, pub2, &[2; 32], &sig2).unwrap();
    // A plain client sees one key pair.
    assert_eq!(find(&s, &[label()]), vec![pub2, priv2]);
    // And the CLI rotates pairs too.
    let (ok, out) = cli(&t, &["key", "rotate", "sig"], None);
    assert!(ok && out.contains("version 3"), "{out}");
}

/// Automatic rotations (`keyward maintain`: each writes its audit record
/// inside its store transaction) while another process logs in and out
/// (each login's record moves the audit anchor in the store under the
/// log's append lock): both keep going. With the two locks taken in
/// opposite orders they deadlocked until the store's 10 s busy timeout
/// failed one side with "database is locked" (seen once in
/// `two_processes_racing_maintain_make_one_version` under load).
#[test]
fn rotations_and_logins_in_two_processes_never_wait_on_each_other() {
    set_now(T0);
    let t = initialized();
    let s = t.user_session();
    aes_key(&s, "spin", &[vulong(CKA_KEYWARD_ROTATION_PERIOD, DAY as u64)]);
    let child = test_worker("login_loop_worker")
        .env("LOOP_CONF", t.conf.to_str().unwrap())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let (mut day, mut slowest) = (1, std::time::Duration::ZERO);
    while start.elapsed() < std::time::Duration::from_secs(3) {
        day += 1;
        let t0 = std::time::Instant::now();
        let (ok, out) = cli(&t, &["maintain"], Some(T0 + day * DAY));
        assert!(ok && out.contains("rotated spin v"), "{out}");
        slowest = slowest.max(t0.elapsed());
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("logins ok"), "{text}");
    assert!(slowest < std::time::Duration::from_secs(5), "a maintain run took {slowest:?} (day {day})");
}

#[test]
fn login_loop_worker() {
    let Ok(conf) = std::env::var("LOOP_CONF") else { return };
    let p11 = load(&std::ffi::CString::new(conf).unwrap());
    let slot = p11.get_all_slots().unwrap()[0];
    let start = std::time::Instant::now();
    let mut n = 0;
    while start.elapsed() < std::time::Duration::from_secs(3) {
        let s = p11.open_rw_session(slot).unwrap();
        s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
        s.logout().unwrap();
        n += 1;
    }
    println!("logins ok ({n})");
}
