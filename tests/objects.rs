//! Objects through the built module: templates and their error codes,
//! attribute reads, sensitive/extractable rules, copy, find, visibility.

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};

fn aes_value() -> Vec<u8> {
    (1..=32).collect()
}

fn aes_template(extra: &[Attribute]) -> Vec<Attribute> {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Value(aes_value()),
        Attribute::Label(b"aes".to_vec()),
    ];
    t.extend_from_slice(extra);
    t
}

#[test]
fn template_error_codes() {
    let t = initialized();
    let s = t.user_session();
    let err = |tmpl: &[Attribute]| rv(s.create_object(tmpl).unwrap_err());
    // missing class / key type -> incomplete
    assert_eq!(err(&[Attribute::Label(b"x".to_vec())]), RvError::TemplateIncomplete);
    assert_eq!(
        err(&[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Value(aes_value())]),
        RvError::TemplateIncomplete
    );
    // AES key without a value
    assert_eq!(
        err(&[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::KeyType(KeyType::AES)]),
        RvError::TemplateIncomplete
    );
    // bad value: AES key of 5 bytes
    assert_eq!(
        err(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Value(vec![1, 2, 3, 4, 5])
        ]),
        RvError::AttributeValueInvalid
    );
    // read-only: token-maintained attributes
    assert_eq!(err(&aes_template(&[Attribute::Local(true)])), RvError::AttributeReadOnly);
    assert_eq!(err(&aes_template(&[Attribute::AlwaysSensitive(true)])), RvError::AttributeReadOnly);
    assert_eq!(err(&aes_template(&[Attribute::UniqueId(b"mine".to_vec())])), RvError::AttributeReadOnly);
    // conflicting duplicate
    assert_eq!(err(&aes_template(&[Attribute::Token(true), Attribute::Token(false)])), RvError::TemplateInconsistent);
    // attribute of another class
    assert_eq!(err(&aes_template(&[Attribute::ModulusBits(2048.into())])), RvError::TemplateInconsistent);
    // unknown attribute type
    assert_eq!(
        err(&aes_template(&[Attribute::VendorDefined((AttributeType::VendorDefined(0x7fff_0001), vec![1]))])),
        RvError::AttributeTypeInvalid
    );
    // Nothing was created by any of these.
    assert!(s.find_objects(&[]).unwrap().is_empty());
}

#[test]
fn sensitive_attributes_are_unreadable() {
    let t = initialized();
    let s = t.user_session();
    let k = s.create_object(&aes_template(&[Attribute::Sensitive(true), Attribute::Extractable(true)])).unwrap();
    let got = s.get_attributes(k, &[AttributeType::Value, AttributeType::Label, AttributeType::ValueLen]).unwrap();
    assert!(!got.iter().any(|a| matches!(a, Attribute::Value(_))), "CKA_VALUE must not be readable");
    assert!(got.contains(&Attribute::Label(b"aes".to_vec())));
    assert!(got.iter().any(|a| matches!(a, Attribute::ValueLen(l) if u64::from(*l) == 32)));

    let info = s.get_attribute_info(k, &[AttributeType::Value, AttributeType::Label, AttributeType::Modulus]).unwrap();
    use cryptoki::object::AttributeInfo;
    assert!(matches!(info[0], AttributeInfo::Sensitive), "{:?}", info[0]);
    assert!(matches!(info[1], AttributeInfo::Available(3)), "{:?}", info[1]);
    assert!(matches!(info[2], AttributeInfo::TypeInvalid), "{:?}", info[2]);

    // A non-sensitive extractable key can be read.
    let k2 = s.create_object(&aes_template(&[Attribute::Sensitive(false), Attribute::Extractable(true)])).unwrap();
    let got = s.get_attributes(k2, &[AttributeType::Value]).unwrap();
    assert_eq!(got, vec![Attribute::Value(aes_value())]);
    // Imported keys were never "always sensitive" and are not local.
    let got = s
        .get_attributes(k, &[AttributeType::AlwaysSensitive, AttributeType::NeverExtractable, AttributeType::Local])
        .unwrap();
    assert_eq!(
        got,
        vec![Attribute::AlwaysSensitive(false), Attribute::NeverExtractable(false), Attribute::Local(false)]
    );
}

#[test]
fn sensitive_and_extractable_transitions() {
    let t = initialized();
    let s = t.user_session();
    let k = s.create_object(&aes_template(&[Attribute::Sensitive(false), Attribute::Extractable(true)])).unwrap();
    s.update_attributes(k, &[Attribute::Sensitive(true)]).unwrap();
    assert_eq!(rv(s.update_attributes(k, &[Attribute::Sensitive(false)]).unwrap_err()), RvError::AttributeReadOnly);
    s.update_attributes(k, &[Attribute::Extractable(false)]).unwrap();
    assert_eq!(rv(s.update_attributes(k, &[Attribute::Extractable(true)]).unwrap_err()), RvError::AttributeReadOnly);
    // Fixed and token-maintained attributes.
    assert_eq!(rv(s.update_attributes(k, &[Attribute::Local(true)]).unwrap_err()), RvError::AttributeReadOnly);
    assert_eq!(
        rv(s.update_attributes(k, &[Attribute::KeyType(KeyType::GENERIC_SECRET)]).unwrap_err()),
        RvError::AttributeReadOnly
    );
    // CKA_TRUSTED is the SO's.
    assert_eq!(rv(s.update_attributes(k, &[Attribute::Trusted(true)]).unwrap_err()), RvError::AttributeReadOnly);
    // Label and usage flags can change.
    s.update_attributes(k, &[Attribute::Label(b"renamed".to_vec()), Attribute::Encrypt(false)]).unwrap();
    let got = s.get_attributes(k, &[AttributeType::Label, AttributeType::Encrypt]).unwrap();
    assert_eq!(got, vec![Attribute::Label(b"renamed".to_vec()), Attribute::Encrypt(false)]);
    // An unmodifiable object.
    let d = s
        .create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Modifiable(false),
            Attribute::Value(b"v".to_vec()),
        ])
        .unwrap();
    assert_eq!(rv(s.update_attributes(d, &[Attribute::Label(b"x".to_vec())]).unwrap_err()), RvError::AttributeReadOnly);
}

#[test]
fn generated_keys_are_local_and_always_sensitive() {
    let t = initialized();
    let s = t.user_session();
    let k = s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(32.into()), Attribute::Token(true)]).unwrap();
    let got = s
        .get_attributes(
            k,
            &[
                AttributeType::Local,
                AttributeType::AlwaysSensitive,
                AttributeType::NeverExtractable,
                AttributeType::Sensitive,
                AttributeType::KeyGenMechanism,
                AttributeType::UniqueId,
            ],
        )
        .unwrap();
    assert!(got.contains(&Attribute::Local(true)));
    assert!(got.contains(&Attribute::AlwaysSensitive(true)));
    assert!(got.contains(&Attribute::NeverExtractable(true)));
    assert!(got.contains(&Attribute::Sensitive(true)));
    assert!(got.iter().any(|a| matches!(a, Attribute::UniqueId(u) if u.len() == 32)));
    // CKA_VALUE may not be given to key generation; sizes are checked.
    assert_eq!(
        rv(s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(32.into()), Attribute::Value(aes_value())])
            .unwrap_err()),
        RvError::TemplateInconsistent
    );
    assert_eq!(
        rv(s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(20.into())]).unwrap_err()),
        RvError::KeySizeRange
    );
    assert_eq!(rv(s.generate_key(&Mechanism::AesKeyGen, &[]).unwrap_err()), RvError::TemplateIncomplete);
}

#[test]
fn find_zero_one_many() {
    let t = initialized();
    let s = t.user_session();
    for i in 0..5u8 {
        s.create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Label(if i < 4 { b"many".to_vec() } else { b"one".to_vec() }),
            Attribute::Value(vec![i]),
        ])
        .unwrap();
    }
    assert_eq!(s.find_objects(&[Attribute::Label(b"none".to_vec())]).unwrap().len(), 0);
    assert_eq!(s.find_objects(&[Attribute::Label(b"one".to_vec())]).unwrap().len(), 1);
    assert_eq!(s.find_objects(&[Attribute::Label(b"many".to_vec())]).unwrap().len(), 4);
    assert_eq!(s.find_objects(&[Attribute::Class(ObjectClass::DATA)]).unwrap().len(), 5);
    // The empty label (not indexed: found by a scan), on session and token
    // objects, and an object with no label at all is not one of them.
    for (token, label) in [(true, Some(b"".to_vec())), (false, Some(b"".to_vec())), (false, None)] {
        let mut t = vec![Attribute::Class(ObjectClass::DATA), Attribute::Token(token), Attribute::Value(vec![9])];
        t.extend(label.map(Attribute::Label));
        s.create_object(&t).unwrap();
    }
    let empty = s.find_objects(&[Attribute::Label(Vec::new())]).unwrap();
    assert_eq!(empty.len(), 3, "two made with an empty label, one with the default (empty) label");
    // Small batches through the iterator.
    let it: Vec<_> = s.iter_objects_with_cache_size(&[], std::num::NonZeroUsize::new(2).unwrap()).unwrap().collect();
    assert_eq!(it.len(), 8);
}

#[test]
fn private_objects_invisible_without_login() {
    let t = initialized();
    let s = t.user_session();
    s.create_object(&aes_template(&[Attribute::Token(true)])).unwrap(); // private by default
    s.create_object(&[Attribute::Class(ObjectClass::DATA), Attribute::Token(true), Attribute::Private(false)]).unwrap();
    assert_eq!(s.find_objects(&[]).unwrap().len(), 2);
    s.logout().unwrap();
    assert_eq!(s.find_objects(&[]).unwrap().len(), 1);
    // Creating a private object needs the user.
    assert_eq!(rv(s.create_object(&aes_template(&[])).unwrap_err()), RvError::UserNotLoggedIn);
}

#[test]
fn token_objects_need_rw_session() {
    let t = initialized();
    let rw = t.user_session();
    let ro = t.p11.open_ro_session(t.slot).unwrap();
    assert_eq!(rv(ro.create_object(&aes_template(&[Attribute::Token(true)])).unwrap_err()), RvError::SessionReadOnly);
    // Session objects are fine in a read-only session.
    let k = ro.create_object(&aes_template(&[])).unwrap();
    let tk = rw.create_object(&aes_template(&[Attribute::Token(true)])).unwrap();
    assert_eq!(rv(ro.destroy_object(tk).unwrap_err()), RvError::SessionReadOnly);
    ro.destroy_object(k).unwrap();
}

#[test]
fn session_objects_die_with_their_session() {
    let t = initialized();
    let keep = t.user_session();
    let s = t.p11.open_rw_session(t.slot).unwrap();
    let k = s.create_object(&aes_template(&[])).unwrap();
    // Visible from the application's other sessions while it lives.
    assert_eq!(keep.find_objects(&[Attribute::Label(b"aes".to_vec())]).unwrap(), vec![k]);
    drop(s);
    assert!(keep.find_objects(&[Attribute::Label(b"aes".to_vec())]).unwrap().is_empty());
    assert_eq!(rv(keep.get_attributes(k, &[AttributeType::Label]).unwrap_err()), RvError::ObjectHandleInvalid);
}

#[test]
fn copy_object_rules() {
    let t = initialized();
    let s = t.user_session();
    let k = s.create_object(&aes_template(&[Attribute::Sensitive(false), Attribute::Extractable(true)])).unwrap();
    let c = s.copy_object(k, &[Attribute::Token(true), Attribute::Label(b"copy".to_vec())]).unwrap();
    let got = s.get_attributes(c, &[AttributeType::Value, AttributeType::Token, AttributeType::Label]).unwrap();
    assert!(got.contains(&Attribute::Value(aes_value())));
    assert!(got.contains(&Attribute::Token(true)));
    // A copy cannot lower sensitivity or change the key type.
    assert_eq!(
        rv(s.copy_object(k, &[Attribute::KeyType(KeyType::GENERIC_SECRET)]).unwrap_err()),
        RvError::AttributeReadOnly
    );
    let nc = s.create_object(&aes_template(&[Attribute::Copyable(false)])).unwrap();
    assert_eq!(rv(s.copy_object(nc, &[]).unwrap_err()), RvError::ActionProhibited);
    let u1 = s.get_attributes(k, &[AttributeType::UniqueId]).unwrap();
    let u2 = s.get_attributes(c, &[AttributeType::UniqueId]).unwrap();
    assert_ne!(u1, u2);
}

#[test]
fn destroy_and_object_size() {
    let t = initialized();
    let s = t.user_session();
    let k = s.create_object(&aes_template(&[Attribute::Token(true)])).unwrap();
    let nd = s.create_object(&aes_template(&[Attribute::Destroyable(false)])).unwrap();
    assert_eq!(rv(s.destroy_object(nd).unwrap_err()), RvError::ActionProhibited);
    s.destroy_object(k).unwrap();
    // A destroyed token key leaves the default view (soft delete: see tests/kms.rs).
    assert!(!s.find_objects(&[]).unwrap().contains(&k));
    // A session object is gone at once.
    let sk = s.create_object(&aes_template(&[])).unwrap();
    s.destroy_object(sk).unwrap();
    assert_eq!(rv(s.destroy_object(sk).unwrap_err()), RvError::ObjectHandleInvalid);
}

#[test]
fn objects_persist_and_other_processes_see_them() {
    let t = initialized();
    let s = t.user_session();
    let mut tmpl = aes_template(&[Attribute::Token(true)]);
    tmpl.retain(|a| !matches!(a, Attribute::Label(_)));
    tmpl.push(Attribute::Label(b"persist".to_vec()));
    let k = s.create_object(&tmpl).unwrap();
    // A second, independent instance of the module state: simulate a second
    // process by reopening after finalize.
    drop(s);
    let Token { dir, conf, p11, slot } = t;
    p11.finalize().unwrap();
    let p11 = load(&conf);
    let s = p11.open_rw_session(slot).unwrap();
    s.login(cryptoki::session::UserType::User, Some(&pin(USER_PIN))).unwrap();
    let found = s.find_objects(&[Attribute::Label(b"persist".to_vec())]).unwrap();
    assert_eq!(found, vec![k]);
    drop(dir);
}
