//! Bleichenbacher-style attacks on RSA PKCS#1 v1.5 through the built
//! module's C ABI (issue 21, item 3; Bardou et al. 2012 recovered wrapped
//! keys from tokens whose C_UnwrapKey answered CKR_TEMPLATE_INCONSISTENT for
//! a good padding and CKR_WRAPPED_KEY_INVALID for a bad one).
//!
//! The attacker builds PKCS#1 type-2 blocks of its choice (good, broken,
//! well padded around a key of the wrong length), encrypts them raw with
//! the public key (CKM_RSA_X_509), and watches what C_UnwrapKey and
//! C_Decrypt answer. The secure outcome: the same return code for all of
//! them (CKR_OK, implicit rejection), a key of the requested length,
//! deterministic per ciphertext.
//!
//! One process per test (`cargo nextest run --test attacks_rsa`).

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

const K: usize = 256;

/// A 2048-bit pair whose private half may only unwrap (or only decrypt);
/// the public half encrypts (the attacker's raw RSA) and wraps.
fn pair(s: &Session, unwrap: bool) -> (ObjectHandle, ObjectHandle) {
    s.generate_key_pair(
        &Mechanism::RsaPkcsKeyPairGen,
        &[
            Attribute::ModulusBits(2048.into()),
            Attribute::PublicExponent(vec![1, 0, 1]),
            Attribute::Encrypt(true),
            Attribute::Wrap(true),
        ],
        &[Attribute::Unwrap(unwrap), Attribute::Decrypt(!unwrap), Attribute::Sensitive(true)],
    )
    .unwrap()
}

/// 00 02 PS 00 M with a non-zero PS; `tweak` breaks it on purpose.
fn block(msg: &[u8], tweak: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b: Vec<u8> = (0..K).map(|i| (i % 251 + 1) as u8).collect();
    b[0] = 0;
    b[1] = 2;
    b[K - msg.len() - 1] = 0;
    b[K - msg.len()..].copy_from_slice(msg);
    tweak(&mut b);
    b
}

/// m^e mod n through the token: CKM_RSA_X_509 with the public key.
fn raw(s: &Session, pubk: ObjectHandle, block: &[u8]) -> Vec<u8> {
    let ct = s.encrypt(&Mechanism::RsaX509, pubk, block).unwrap();
    assert_eq!(ct.len(), K);
    ct
}

fn aes_template(len: Option<u64>) -> Vec<Attribute> {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(false),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::Encrypt(true),
    ];
    if let Some(l) = len {
        t.push(Attribute::ValueLen(l.into()));
    }
    t
}

fn value(s: &Session, k: ObjectHandle) -> Vec<u8> {
    match &s.get_attributes(k, &[AttributeType::Value]).unwrap()[0] {
        Attribute::Value(v) => v.clone(),
        o => panic!("{o:?}"),
    }
}

/// The unwrapped key's value, or the return code.
fn unwrap(s: &Session, m: &Mechanism, key: ObjectHandle, ct: &[u8], t: &[Attribute]) -> Result<Vec<u8>, RvError> {
    s.unwrap_key(m, key, ct, t).map(|h| value(s, h)).map_err(rv)
}

#[test]
fn unwrap_pkcs1_is_no_padding_oracle() {
    let t = initialized();
    let s = t.user_session();
    let (pubk, privk) = pair(&s, true);
    let aes16 = [0x3cu8; 16];
    let mut aes = aes16;
    aes[0] = 0x3d; // not one repeated byte (refused as weak)
    let good = raw(&s, pubk, &block(&aes, |_| {}));
    let wrong_len = raw(&s, pubk, &block(&[0x4du8; 24], |_| {}));
    let broken_type = raw(&s, pubk, &block(&aes, |b| b[1] = 1));
    let no_separator = raw(&s, pubk, &block(&aes, |b| b[K - 17] = 0x77));
    let short_ps = raw(&s, pubk, &block(&aes, |b| b[5] = 0));
    let m = Mechanism::RsaPkcs;
    let t16 = aes_template(Some(16));

    // The honest ciphertext unwraps to the key.
    assert_eq!(unwrap(&s, &m, privk, &good, &t16), Ok(aes.to_vec()));
    // The attack: each of these answered differently before (TEMPLATE_
    // INCONSISTENT for the good padding of a 24-byte key, WRAPPED_KEY_INVALID
    // for the broken ones). Now every one is CKR_OK with a 16-byte key that
    // is not the block's message, the same key each time.
    let mut seen = Vec::new();
    for (what, ct) in [
        ("wrong length", &wrong_len),
        ("broken type", &broken_type),
        ("no separator", &no_separator),
        ("short PS", &short_ps),
    ] {
        let v = unwrap(&s, &m, privk, ct, &t16)
            .unwrap_or_else(|r| panic!("{what}: {r:?}, the return code differs from a good padding's"));
        assert_eq!(v.len(), 16, "{what}");
        assert_ne!(v, aes, "{what}");
        assert_eq!(unwrap(&s, &m, privk, ct, &t16), Ok(v.clone()), "{what}: not deterministic");
        seen.push(v);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4, "different ciphertexts gave the same key");
    // Other lengths: still CKR_OK with that length.
    for l in [24u64, 32] {
        let v = unwrap(&s, &m, privk, &broken_type, &aes_template(Some(l)));
        assert_eq!(v.map(|v| v.len()), Ok(l as usize));
    }

    // No CKA_VALUE_LEN: the implicit-rejection result decides the length,
    // and real and synthetic results are validated alike. Whatever it
    // answers, an unwrap asking for that length gives the same key, so
    // the two forms cannot be played against each other.
    assert_eq!(unwrap(&s, &m, privk, &good, &aes_template(None)), Ok(aes.to_vec()));
    let generic = |len: Option<u64>| {
        let mut t = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::Token(false),
            Attribute::Sensitive(false),
            Attribute::Extractable(true),
        ];
        if let Some(l) = len {
            t.push(Attribute::ValueLen(l.into()));
        }
        t
    };
    assert_eq!(unwrap(&s, &m, privk, &wrong_len, &generic(None)), Ok(vec![0x4d; 24]));
    for ct in [&broken_type, &no_separator, &short_ps] {
        match unwrap(&s, &m, privk, ct, &generic(None)) {
            Ok(v) => {
                assert!(v.len() <= K - 11);
                assert_eq!(unwrap(&s, &m, privk, ct, &generic(Some(v.len() as u64))), Ok(v));
            }
            // A synthetic message of length 0 (about 1 in 245).
            Err(r) => assert_eq!(r, RvError::WrappedKeyInvalid),
        }
    }
    // Refusals on public facts only.
    assert_eq!(unwrap(&s, &m, privk, &good[1..], &t16), Err(RvError::WrappedKeyLenRange));
    assert_eq!(unwrap(&s, &m, privk, &good, &aes_template(Some(246))), Err(RvError::TemplateInconsistent));
    // The key may only unwrap: the decryption oracle is closed as well.
    assert_eq!(rv(s.decrypt(&m, privk, &good).unwrap_err()), RvError::KeyFunctionNotPermitted);
}

#[test]
fn unwrap_oaep_padding_and_length_errors_answer_alike() {
    let t = initialized();
    let s = t.user_session();
    let (pubk, privk) = pair(&s, true);
    let params = PkcsOaepParams::new(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, PkcsOaepSource::empty());
    let m = Mechanism::RsaPkcsOaep(params);
    let mut key = [0x6au8; 24];
    key[3] = 1;
    let ct = s.encrypt(&m, pubk, &key).unwrap();
    let mut tampered = ct.clone();
    tampered[100] ^= 1;
    assert_eq!(unwrap(&s, &m, privk, &ct, &aes_template(Some(24))), Ok(key.to_vec()));
    let wrong_len = unwrap(&s, &m, privk, &ct, &aes_template(Some(16)));
    let bad_pad = unwrap(&s, &m, privk, &tampered, &aes_template(Some(24)));
    assert_eq!(bad_pad, Err(RvError::WrappedKeyInvalid));
    assert_eq!(wrong_len, bad_pad, "OAEP: a length error answers differently from a padding error");
}

#[test]
fn decrypt_pkcs1_implicit_rejection() {
    let t = initialized();
    let s = t.user_session();
    let (pubk, privk) = pair(&s, false);
    let m = Mechanism::RsaPkcs;
    let good = raw(&s, pubk, &block(b"hello", |_| {}));
    assert_eq!(s.decrypt(&m, privk, &good).unwrap(), b"hello");
    // The engine's own PKCS#1 encryption decrypts as usual.
    let ct = s.encrypt(&m, pubk, b"attack at dawn").unwrap();
    assert_eq!(s.decrypt(&m, privk, &ct).unwrap(), b"attack at dawn");

    let mut outputs = Vec::new();
    for (i, tweak) in [
        |b: &mut Vec<u8>| b[0] = 1,
        |b: &mut Vec<u8>| b[1] = 1,
        |b: &mut Vec<u8>| b[K - 6] = 9,
        |b: &mut Vec<u8>| b[9] = 0,
    ]
    .into_iter()
    .enumerate()
    {
        let bad = raw(&s, pubk, &block(b"hello", tweak));
        let first = s.decrypt(&m, privk, &bad).unwrap_or_else(|e| panic!("broken #{i}: {e}"));
        assert!(first.len() <= K - 11);
        assert_eq!(s.decrypt(&m, privk, &bad).unwrap(), first, "broken #{i}: not deterministic");
        assert_ne!(first, b"hello");
        outputs.push(first);
    }
    // Random ciphertexts below n: all CKR_OK, all different.
    for i in 0..8u8 {
        let mut ct = vec![0u8; K];
        aws_lc_rs::rand::fill(&mut ct).unwrap();
        ct[0] = i; // below the modulus (its top bit is set)
        outputs.push(s.decrypt(&m, privk, &ct).unwrap());
    }
    let n = outputs.len();
    outputs.retain(|o| o.len() >= 4);
    let long = outputs.len();
    outputs.sort();
    outputs.dedup();
    assert_eq!(outputs.len(), long, "two of {n} ciphertexts decrypted to the same message");
    // Length and range refusals depend on public values only.
    assert_eq!(rv(s.decrypt(&m, privk, &good[1..]).unwrap_err()), RvError::EncryptedDataLenRange);
    assert_eq!(rv(s.decrypt(&m, privk, &[0xffu8; K]).unwrap_err()), RvError::EncryptedDataInvalid);
}
