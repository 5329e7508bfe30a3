//! The CKO_PROFILE objects (PKCS#11 3.0 §4.13, `object::profile`): the
//! profiles keyward claims (Baseline and Extended Provider), read-only and
//! public, found by a template that names the class, never by an empty one.

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::object::{Attribute, AttributeType, ObjectClass};

#[test]
fn profile_objects_are_public_read_only_and_found_by_class() {
    let t = initialized();
    // A public read-only session, nobody logged in, sees them.
    let ro = t.p11.open_ro_session(t.slot).unwrap();
    let found = ro.find_objects(&[Attribute::Class(ObjectClass::PROFILE)]).unwrap();
    assert_eq!(found.len(), 2);
    let mut ids: Vec<u64> = found
        .iter()
        .map(|h| match ro.get_attributes(*h, &[AttributeType::ProfileId]).unwrap().pop() {
            Some(Attribute::ProfileId(p)) => *p.as_ref(),
            other => panic!("CKA_PROFILE_ID: {other:?}"),
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [pkcs11_sys::CKP_BASELINE_PROVIDER, pkcs11_sys::CKP_EXTENDED_PROVIDER]);
    let flags = ro
        .get_attributes(
            found[0],
            &[AttributeType::Token, AttributeType::Private, AttributeType::Modifiable, AttributeType::Destroyable],
        )
        .unwrap();
    assert_eq!(
        flags,
        [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Modifiable(false),
            Attribute::Destroyable(false)
        ]
    );
    // By profile id too.
    let base = ro
        .find_objects(&[
            Attribute::Class(ObjectClass::PROFILE),
            Attribute::ProfileId(cryptoki::object::ProfileIdType::BASELINE_PROFIDER),
        ])
        .unwrap();
    assert_eq!(base.len(), 1);

    // Not destroyable, modifiable, copyable or creatable, even by the user
    // in a R/W session.
    let s = t.user_session();
    assert_eq!(rv(s.destroy_object(found[0]).unwrap_err()), RvError::ActionProhibited);
    assert_eq!(
        rv(s.update_attributes(found[0], &[Attribute::Label(b"x".to_vec())]).unwrap_err()),
        RvError::AttributeReadOnly
    );
    assert_eq!(rv(s.copy_object(found[0], &[]).unwrap_err()), RvError::ActionProhibited);
    let forged = [
        Attribute::Class(ObjectClass::PROFILE),
        Attribute::ProfileId(cryptoki::object::ProfileIdType::BASELINE_PROFIDER),
    ];
    assert!(s.create_object(&forged).is_err(), "an application cannot make a profile object");
    assert_eq!(s.find_objects(&[Attribute::Class(ObjectClass::PROFILE)]).unwrap().len(), 2, "still two");

    // An empty template lists only the application's objects.
    assert!(s.find_objects(&[]).unwrap().is_empty(), "profiles are not listed by an empty template");
    let key = s
        .generate_key(
            &cryptoki::mechanism::Mechanism::AesKeyGen,
            &[Attribute::ValueLen(16.into()), Attribute::Token(true)],
        )
        .unwrap();
    assert_eq!(s.find_objects(&[]).unwrap(), [key]);

    // The KMS inventory counts the one key, no profile.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["inventory", "--json"])
        .env("KEYWARD_CONF", t.conf.to_str().unwrap())
        .env("KEYWARD_PIN", USER_PIN)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j.as_array().map(Vec::len), Some(1), "{j}");
}
