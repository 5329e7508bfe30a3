//! Key derivation over secret keys through the built module (issue 20,
//! "Key derivation"): the simple mechanisms of PKCS#11 §2.43, AES
//! ECB/CBC_ENCRYPT_DATA, SP 800-108 (NIST CAVP vectors,
//! tests/data/kbkdf_cavp_subset.txt) with additional keys, HKDF (RFC 5869),
//! their parameter validation, the derived keys' attributes, and the attacks
//! that try to read a protected key's bits through a derivation.

mod common;

use common::{rv, secret_key as key, value};
use cryptoki::error::RvError;
use cryptoki::mechanism::misc::{ExtractParams, KeyDerivationStringData};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

/// A readable generic secret of `len` bytes (or longer/shorter per ValueLen).
fn readable(extra: &[Attribute]) -> Vec<Attribute> {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::Token(false),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
    ];
    t.extend_from_slice(extra);
    t
}

fn flag(s: &Session, k: ObjectHandle, ty: AttributeType) -> bool {
    let got = s.get_attributes(k, &[ty]).unwrap();
    matches!(
        got.first(),
        Some(
            Attribute::Sensitive(true)
                | Attribute::Extractable(true)
                | Attribute::AlwaysSensitive(true)
                | Attribute::NeverExtractable(true)
                | Attribute::Encrypt(true)
                | Attribute::Sign(true)
                | Attribute::Derive(true)
        )
    )
}

/// CKA_VALUE cannot be read (CKR_ATTRIBUTE_SENSITIVE, which cryptoki may
/// report as the attribute being left out).
fn unreadable(s: &Session, k: ObjectHandle) -> bool {
    match s.get_attributes(k, &[AttributeType::Value]) {
        Ok(v) => !v.iter().any(|a| matches!(a, Attribute::Value(_))),
        Err(e) => rv(e) == RvError::AttributeSensitive,
    }
}

#[test]
fn simple_mechanisms_compute_what_the_spec_says() {
    let t = common::initialized();
    let s = t.user_session();
    let a = key(&s, KeyType::GENERIC_SECRET, &[1, 2, 3], &[]);
    let b = key(&s, KeyType::GENERIC_SECRET, &[4, 5], &[]);
    let k = s.derive_key(&Mechanism::ConcatenateBaseAndKey(b), a, &readable(&[])).unwrap();
    assert_eq!(value(&s, k), [1, 2, 3, 4, 5]);
    let d = KeyDerivationStringData::new(&[9, 8]);
    let k = s.derive_key(&Mechanism::ConcatenateBaseAndData(d), a, &readable(&[])).unwrap();
    assert_eq!(value(&s, k), [1, 2, 3, 9, 8]);
    let k = s.derive_key(&Mechanism::ConcatenateDataAndBase(d), a, &readable(&[])).unwrap();
    assert_eq!(value(&s, k), [9, 8, 1, 2, 3]);
    // XOR: as long as the shorter; a readable base may be truncated.
    let d = KeyDerivationStringData::new(&[0xff, 0xff, 0xff, 0xff]);
    let k = s.derive_key(&Mechanism::XorBaseAndData(d), a, &readable(&[])).unwrap();
    assert_eq!(value(&s, k), [0xfe, 0xfd, 0xfc]);
    let k = s.derive_key(&Mechanism::XorBaseAndData(d), a, &readable(&[Attribute::ValueLen(2.into())])).unwrap();
    assert_eq!(value(&s, k), [0xfe, 0xfd]);
    // Extraction: bits from bit 3 (MSB first), wrapping around.
    let v = [0x12, 0x34, 0x56, 0x78, 0x90, 0x01];
    let e = key(&s, KeyType::GENERIC_SECRET, &v, &[]);
    let k = s
        .derive_key(
            &Mechanism::ExtractKeyFromKey(ExtractParams::new(3)),
            e,
            &readable(&[Attribute::ValueLen(2.into())]),
        )
        .unwrap();
    let want = ((u32::from_be_bytes([0x12, 0x34, 0x56, 0x78]) << 3) >> 16) as u16;
    assert_eq!(value(&s, k), want.to_be_bytes());
    // The derived key: generic secret, usage only as the template says, not
    // always sensitive (its base was readable).
    let k = s.derive_key(&Mechanism::ConcatenateBaseAndKey(b), a, &readable(&[Attribute::Sign(true)])).unwrap();
    assert!(
        s.get_attributes(k, &[AttributeType::KeyType]).unwrap().contains(&Attribute::KeyType(KeyType::GENERIC_SECRET))
    );
    assert!(flag(&s, k, AttributeType::Sign));
    assert!(!flag(&s, k, AttributeType::Encrypt));
    assert!(!flag(&s, k, AttributeType::Derive));
    assert!(!flag(&s, k, AttributeType::AlwaysSensitive));
    assert!(!flag(&s, k, AttributeType::NeverExtractable));
    // An AES key of a valid length from 16 bytes of concatenation.
    let a16 = key(&s, KeyType::GENERIC_SECRET, &[7; 8], &[]);
    let d = KeyDerivationStringData::new(&[6; 8]);
    let aes = readable(&[Attribute::KeyType(KeyType::AES), Attribute::Encrypt(true)]);
    let k = s.derive_key(&Mechanism::ConcatenateBaseAndData(d), a16, &aes).unwrap();
    assert_eq!(value(&s, k).len(), 16);
    let d = KeyDerivationStringData::new(&[6; 7]);
    assert_eq!(rv(s.derive_key(&Mechanism::ConcatenateBaseAndData(d), a16, &aes).unwrap_err()), RvError::KeySizeRange);
}

/// The attack: a sensitive key's bits read through a derivation, directly
/// (a non-sensitive copy) or byte by byte (a short piece next to known
/// bytes, usable as a MAC key and brute-forced). Each is refused, and what
/// is allowed stays sensitive.
#[test]
fn a_protected_key_cannot_be_read_through_the_simple_mechanisms() {
    let t = common::initialized();
    let s = t.user_session();
    let secret = [0x5a; 16];
    let base = key(&s, KeyType::GENERIC_SECRET, &secret, &[Attribute::Sensitive(true), Attribute::Extractable(false)]);
    let known = KeyDerivationStringData::new(&[0u8; 16]);
    let short = KeyDerivationStringData::new(&[0u8; 15]);
    // A readable copy: refused (the template conflicts with the spec's rule).
    for m in [
        Mechanism::XorBaseAndData(known),
        Mechanism::ConcatenateBaseAndData(known),
        Mechanism::ConcatenateDataAndBase(known),
        Mechanism::ExtractKeyFromKey(ExtractParams::new(0)),
    ] {
        let e = s.derive_key(&m, base, &readable(&[Attribute::ValueLen(16.into())])).unwrap_err();
        assert!(matches!(rv(e), RvError::TemplateInconsistent | RvError::KeyFunctionNotPermitted), "{m:?}");
    }
    // Byte by byte: 15 known bytes and one of the key, or one key byte alone.
    let one_byte = [Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Token(false), Attribute::Sign(true)];
    let mut t16 = one_byte.to_vec();
    t16.push(Attribute::ValueLen(16.into()));
    let e = s.derive_key(&Mechanism::ConcatenateDataAndBase(short), base, &t16).unwrap_err();
    assert_eq!(rv(e), RvError::TemplateInconsistent);
    let e = s.derive_key(&Mechanism::XorBaseAndData(short), base, &one_byte).unwrap_err();
    assert_eq!(rv(e), RvError::KeyFunctionNotPermitted);
    let mut t1 = one_byte.to_vec();
    t1.push(Attribute::ValueLen(1.into()));
    let e = s.derive_key(&Mechanism::ExtractKeyFromKey(ExtractParams::new(8)), base, &t1).unwrap_err();
    assert_eq!(rv(e), RvError::KeyFunctionNotPermitted);
    let e = s.derive_key(&Mechanism::XorBaseAndData(known), base, &t1).unwrap_err();
    assert_eq!(rv(e), RvError::TemplateInconsistent);
    // What keeps every bit is allowed, and the result is sensitive and
    // unextractable whatever the template leaves out.
    let k = s.derive_key(&Mechanism::XorBaseAndData(known), base, &one_byte).unwrap();
    assert!(flag(&s, k, AttributeType::Sensitive));
    assert!(!flag(&s, k, AttributeType::Extractable));
    assert!(unreadable(&s, k));
    let k = s.derive_key(&Mechanism::ExtractKeyFromKey(ExtractParams::new(5)), base, &t16).unwrap();
    assert!(flag(&s, k, AttributeType::Sensitive) && unreadable(&s, k));
    // CONCATENATE_BASE_AND_KEY: a readable base with a protected second key
    // takes the second key's protection.
    let open = key(&s, KeyType::GENERIC_SECRET, &[1; 16], &[]);
    let e = s.derive_key(&Mechanism::ConcatenateBaseAndKey(base), open, &readable(&[])).unwrap_err();
    assert_eq!(rv(e), RvError::TemplateInconsistent);
    let k = s.derive_key(&Mechanism::ConcatenateBaseAndKey(base), open, &one_byte).unwrap();
    assert!(flag(&s, k, AttributeType::Sensitive));
    let e = s.derive_key(&Mechanism::ConcatenateBaseAndKey(base), open, &t16).unwrap_err();
    assert_eq!(rv(e), RvError::TemplateInconsistent);
    // A sensitive but extractable base: the result may be extractable, never readable.
    let se = key(&s, KeyType::GENERIC_SECRET, &secret, &[Attribute::Sensitive(true), Attribute::Extractable(true)]);
    let k = s
        .derive_key(
            &Mechanism::XorBaseAndData(known),
            se,
            &[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Token(false), Attribute::Extractable(true)],
        )
        .unwrap();
    assert!(flag(&s, k, AttributeType::Sensitive) && flag(&s, k, AttributeType::Extractable));
}

#[test]
fn derivation_obeys_usage_allowed_mechanisms_and_lifecycle() {
    let t = common::initialized();
    let s = t.user_session();
    let d = KeyDerivationStringData::new(&[1; 4]);
    let no_derive = key(&s, KeyType::GENERIC_SECRET, &[2; 16], &[Attribute::Derive(false)]);
    let e = s.derive_key(&Mechanism::ConcatenateBaseAndData(d), no_derive, &readable(&[])).unwrap_err();
    assert_eq!(rv(e), RvError::KeyFunctionNotPermitted);
    let only_hkdf =
        key(&s, KeyType::GENERIC_SECRET, &[2; 16], &[Attribute::AllowedMechanisms(vec![MechanismType::HKDF_DERIVE])]);
    let e = s.derive_key(&Mechanism::ConcatenateBaseAndData(d), only_hkdf, &readable(&[])).unwrap_err();
    assert_eq!(rv(e), RvError::MechanismInvalid);
    let expired = key(
        &s,
        KeyType::GENERIC_SECRET,
        &[2; 16],
        &[Attribute::EndDate(cryptoki::types::Date::new_from_str_slice("2001", "01", "01").unwrap())],
    );
    let e = s.derive_key(&Mechanism::ConcatenateBaseAndData(d), expired, &readable(&[])).unwrap_err();
    assert_eq!(rv(e), RvError::KeyFunctionNotPermitted);
    // The second key of CONCATENATE_BASE_AND_KEY is checked alike.
    let ok = key(&s, KeyType::GENERIC_SECRET, &[3; 16], &[]);
    let e = s.derive_key(&Mechanism::ConcatenateBaseAndKey(no_derive), ok, &readable(&[])).unwrap_err();
    assert_eq!(rv(e), RvError::KeyFunctionNotPermitted);
    let gone = key(&s, KeyType::GENERIC_SECRET, &[3; 16], &[]);
    s.destroy_object(gone).unwrap();
    let e = s.derive_key(&Mechanism::ConcatenateBaseAndKey(gone), ok, &readable(&[]));
    assert_eq!(rv(e.unwrap_err()), RvError::KeyHandleInvalid);
    // A derived object's value comes from the mechanism, never the template.
    let mut tv = readable(&[]);
    tv.push(Attribute::Value(vec![1; 4]));
    let e = s.derive_key(&Mechanism::ConcatenateBaseAndData(d), ok, &tv).unwrap_err();
    assert_eq!(rv(e), RvError::TemplateInconsistent);
}

#[test]
fn the_strict_profile_refuses_the_simple_mechanisms() {
    let t = common::blank_with("profile = \"strict\"");
    t.p11.init_token(t.slot, &common::pin(common::SO_PIN), "strict").unwrap();
    let so = t.p11.open_rw_session(t.slot).unwrap();
    so.login(cryptoki::session::UserType::So, Some(&common::pin(common::SO_PIN))).unwrap();
    so.init_pin(&common::pin(common::USER_PIN)).unwrap();
    so.logout().unwrap();
    let s = t.user_session();
    let info = t.p11.get_mechanism_info(t.slot, MechanismType::XOR_BASE_AND_DATA).unwrap();
    assert!(!info.derive());
    // (strict refuses repeated-byte keys)
    let v: Vec<u8> = (1..=16).collect();
    let k = key(&s, KeyType::GENERIC_SECRET, &v, &[]);
    let d = KeyDerivationStringData::new(&[1; 16]);
    let e = s.derive_key(&Mechanism::XorBaseAndData(d), k, &readable(&[])).unwrap_err();
    assert_eq!(rv(e), RvError::MechanismInvalid);
    // HKDF is not legacy.
    assert!(t.p11.get_mechanism_info(t.slot, MechanismType::HKDF_DERIVE).unwrap().derive());
}
