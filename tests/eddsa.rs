//! Ed25519 (CKK_EC_EDWARDS, CKM_EDDSA) and X25519 (CKK_EC_MONTGOMERY,
//! CKM_ECDH1_DERIVE) through the built module: generation, the RFC 8032 and
//! RFC 7748 vectors via imported keys, refusals, and the CKA_EC_POINT /
//! CKA_EC_PARAMS forms both ways.

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

const ED25519_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
const X25519_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x6e];
const ED25519_NAME: &[u8] = b"\x13\x0cedwards25519";
const X25519_NAME: &[u8] = b"\x13\x0acurve25519";

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn attr(s: &Session, o: ObjectHandle, ty: AttributeType) -> Vec<u8> {
    match s.get_attributes(o, &[ty]).unwrap().remove(0) {
        Attribute::EcPoint(v) | Attribute::EcParams(v) | Attribute::Value(v) => v,
        a => panic!("{a:?}"),
    }
}

fn pure() -> Mechanism<'static> {
    Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure))
}

fn import_private(s: &Session, kt: KeyType, params: &[u8], value: Vec<u8>) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(kt),
        Attribute::EcParams(params.to_vec()),
        Attribute::Value(value),
        Attribute::Sign(kt == KeyType::EC_EDWARDS),
        Attribute::Derive(kt == KeyType::EC_MONTGOMERY),
    ])
    .unwrap()
}

fn import_public(s: &Session, kt: KeyType, params: &[u8], point: Vec<u8>) -> cryptoki::error::Result<ObjectHandle> {
    s.create_object(&[
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(kt),
        Attribute::EcParams(params.to_vec()),
        Attribute::EcPoint(point),
        Attribute::Verify(true),
    ])
}

#[test]
fn ed25519_generate_sign_verify() {
    let t = initialized();
    let s = t.user_session();
    for params in [ED25519_OID, ED25519_NAME] {
        let (pubk, privk) = s
            .generate_key_pair(
                &Mechanism::EccEdwardsKeyPairGen,
                &[Attribute::Token(true), Attribute::Verify(true), Attribute::EcParams(params.to_vec())],
                &[Attribute::Token(true), Attribute::Sign(true)],
            )
            .unwrap();
        let point = attr(&s, pubk, AttributeType::EcPoint);
        assert_eq!((point.len(), point[0], point[1]), (34, 0x04, 0x20), "CKA_EC_POINT is a DER OCTET STRING");
        assert_eq!(attr(&s, pubk, AttributeType::EcParams), ED25519_OID);
        let got = s.get_attributes(privk, &[AttributeType::KeyType, AttributeType::Local]).unwrap();
        assert_eq!(got, vec![Attribute::KeyType(KeyType::EC_EDWARDS), Attribute::Local(true)]);
        let data = [0xffu8, 0x55, 0xdd];
        let sig = s.sign(&pure(), privk, &data).unwrap();
        assert_eq!(sig.len(), 64);
        s.verify(&pure(), pubk, &data, &sig).unwrap();
        // phFlag = false with no context is pure Ed25519 too.
        let ed = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Ed25519));
        s.verify(&ed, pubk, &data, &sig).unwrap();
        assert_eq!(rv(s.verify(&pure(), pubk, &[0xff, 0x55, 0xde], &sig).unwrap_err()), RvError::SignatureInvalid);
        assert_eq!(rv(s.verify(&pure(), pubk, &data, &sig[..63]).unwrap_err()), RvError::SignatureLenRange);
        // Multi-part equals single-part.
        s.sign_init(&pure(), privk).unwrap();
        s.sign_update(&data[..1]).unwrap();
        s.sign_update(&data[1..]).unwrap();
        let sig2 = s.sign_final().unwrap();
        assert_eq!(sig2, sig, "Ed25519 is deterministic");
        // Ed25519ph and Ed25519ctx sign too, and differ from pure Ed25519.
        for scheme in [EddsaSignatureScheme::Ed25519ph(&[]), EddsaSignatureScheme::Ed25519ctx(b"ctx")] {
            let m = Mechanism::Eddsa(EddsaParams::new(scheme));
            let vsig = s.sign(&m, privk, &data).unwrap();
            s.verify(&m, pubk, &data, &vsig).unwrap();
            assert_ne!(vsig, sig);
            assert_eq!(rv(s.verify(&pure(), pubk, &data, &vsig).unwrap_err()), RvError::SignatureInvalid);
        }
        // An ECDSA mechanism does not fit an Edwards key.
        assert_eq!(rv(s.sign(&Mechanism::Ecdsa, privk, &[0; 32]).unwrap_err()), RvError::KeyTypeInconsistent);
    }
    let info = t.p11.get_mechanism_info(t.slot, MechanismType::EDDSA).unwrap();
    assert!(info.sign() && info.verify() && info.min_key_size() <= 255 && info.max_key_size() >= 256);
    let info = t.p11.get_mechanism_info(t.slot, MechanismType::ECC_EDWARDS_KEY_PAIR_GEN).unwrap();
    assert!(info.generate_key_pair());
    let info = t.p11.get_mechanism_info(t.slot, MechanismType::ECC_MONTGOMERY_KEY_PAIR_GEN).unwrap();
    assert!(info.generate_key_pair());
}

#[test]
fn rfc8032_test_vector_1() {
    let t = initialized();
    let s = t.user_session();
    let seed = h("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    let public = h("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    let want = h(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    );
    let privk = import_private(&s, KeyType::EC_EDWARDS, ED25519_NAME, seed);
    assert_eq!(s.sign(&pure(), privk, b"").unwrap(), want);
    // The public key imported raw and as the DER OCTET STRING; read back DER.
    let mut der = vec![0x04, 0x20];
    der.extend_from_slice(&public);
    for point in [public.clone(), der.clone()] {
        let pubk = import_public(&s, KeyType::EC_EDWARDS, ED25519_OID, point).unwrap();
        assert_eq!(attr(&s, pubk, AttributeType::EcPoint), der);
        s.verify(&pure(), pubk, b"", &want).unwrap();
        assert_eq!(rv(s.verify(&pure(), pubk, b"\x00", &want).unwrap_err()), RvError::SignatureInvalid);
    }
    // A wrong-length point, an X25519 curve on an Edwards key, a P-256 curve.
    assert_eq!(
        rv(import_public(&s, KeyType::EC_EDWARDS, ED25519_OID, public[1..].to_vec()).unwrap_err()),
        RvError::AttributeValueInvalid
    );
    assert_eq!(
        rv(import_public(&s, KeyType::EC_EDWARDS, X25519_OID, public.clone()).unwrap_err()),
        RvError::CurveNotSupported
    );
    let p256 = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    assert_eq!(rv(import_public(&s, KeyType::EC_EDWARDS, &p256, public).unwrap_err()), RvError::CurveNotSupported);
}

fn derive_secret(s: &Session, privk: ObjectHandle, peer: &[u8]) -> Vec<u8> {
    let params = Ecdh1DeriveParams::new(EcKdf::null(), peer);
    derive_value(s, &Mechanism::Ecdh1Derive(params), privk, Some(32)).unwrap()
}

#[test]
fn x25519_derive_between_token_keys() {
    let t = initialized();
    let s = t.user_session();
    let pair = |params: &[u8]| {
        s.generate_key_pair(
            &Mechanism::EccMontgomeryKeyPairGen,
            &[Attribute::Token(true), Attribute::EcParams(params.to_vec())],
            &[Attribute::Token(true), Attribute::Derive(true)],
        )
        .unwrap()
    };
    let (pa, va) = pair(X25519_OID);
    let (pb, vb) = pair(X25519_NAME);
    let (pta, ptb) = (attr(&s, pa, AttributeType::EcPoint), attr(&s, pb, AttributeType::EcPoint));
    assert_eq!((pta.len(), pta[0], pta[1]), (34, 0x04, 0x20));
    // The peer key raw (the usual form) or as the DER OCTET STRING.
    let ab = derive_secret(&s, va, &ptb[2..]);
    assert_eq!(ab, derive_secret(&s, vb, &pta));
    assert_eq!(ab.len(), 32);
    // A small-order peer (all-zero shared secret) and a bad length.
    let params = Ecdh1DeriveParams::new(EcKdf::null(), &[0u8; 32]);
    let tmpl = [Attribute::Class(ObjectClass::SECRET_KEY), Attribute::KeyType(KeyType::GENERIC_SECRET)];
    let e = s.derive_key(&Mechanism::Ecdh1Derive(params), va, &tmpl).unwrap_err();
    assert_eq!(rv(e), RvError::MechanismParamInvalid);
    let params = Ecdh1DeriveParams::new(EcKdf::null(), &ptb[3..]);
    let e = s.derive_key(&Mechanism::Ecdh1Derive(params), va, &tmpl).unwrap_err();
    assert_eq!(rv(e), RvError::MechanismParamInvalid);
    // X25519 keys do not sign (the mechanism does not fit the key type).
    assert_eq!(rv(s.sign(&pure(), va, b"m").unwrap_err()), RvError::KeyTypeInconsistent);
}

#[test]
fn rfc7748_section_6_1() {
    let t = initialized();
    let s = t.user_session();
    let alice = import_private(
        &s,
        KeyType::EC_MONTGOMERY,
        X25519_OID,
        h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
    );
    let bob = import_private(
        &s,
        KeyType::EC_MONTGOMERY,
        X25519_NAME,
        h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"),
    );
    let alice_pub = h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    let bob_pub = h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    let want = h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    assert_eq!(derive_secret(&s, alice, &bob_pub), want);
    assert_eq!(derive_secret(&s, bob, &alice_pub), want);
    // A public X25519 key imported raw reads back as the OCTET STRING.
    let p = import_public(&s, KeyType::EC_MONTGOMERY, X25519_NAME, alice_pub.clone()).unwrap();
    let mut der = vec![0x04, 0x20];
    der.extend_from_slice(&alice_pub);
    assert_eq!(attr(&s, p, AttributeType::EcPoint), der);
    assert_eq!(attr(&s, p, AttributeType::EcParams), X25519_OID);
    // A wrong-length private value is refused.
    let e = s
        .create_object(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::EC_MONTGOMERY),
            Attribute::EcParams(X25519_OID.to_vec()),
            Attribute::Value(vec![1; 31]),
        ])
        .unwrap_err();
    assert_eq!(rv(e), RvError::AttributeValueInvalid);
}

#[test]
fn ed25519_private_key_wrap_round_trip() {
    let t = initialized();
    let s = t.user_session();
    let kek = session_kek(&s);
    let (pubk, privk) = s
        .generate_key_pair(
            &Mechanism::EccEdwardsKeyPairGen,
            &[Attribute::EcParams(ED25519_OID.to_vec()), Attribute::Verify(true)],
            &[Attribute::Sign(true), Attribute::Extractable(true)],
        )
        .unwrap();
    let wrapped = s.wrap_key(&Mechanism::AesKeyWrapPad, kek, privk).unwrap();
    let back = s
        .unwrap_key(
            &Mechanism::AesKeyWrapPad,
            kek,
            &wrapped,
            &[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::KeyType(KeyType::EC_EDWARDS),
                Attribute::Sign(true),
            ],
        )
        .unwrap();
    let sig = s.sign(&pure(), back, b"m").unwrap();
    s.verify(&pure(), pubk, b"m", &sig).unwrap();
}

#[test]
fn knob_allow_curve25519() {
    let run = |policy: &str| {
        let t = initialized_with(policy);
        let s = t.user_session();
        let generated = s
            .generate_key_pair(
                &Mechanism::EccEdwardsKeyPairGen,
                &[Attribute::EcParams(ED25519_OID.to_vec()), Attribute::Verify(true)],
                &[Attribute::Sign(true)],
            )
            .map(|_| ())
            .map_err(rv);
        let import = s
            .create_object(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::KeyType(KeyType::EC_MONTGOMERY),
                Attribute::EcParams(X25519_OID.to_vec()),
                Attribute::Value(vec![7; 32]),
            ])
            .map(|_| ())
            .map_err(rv);
        let info = t.p11.get_mechanism_info(t.slot, MechanismType::EDDSA).unwrap();
        drop(s);
        // One module per process: finalize before the next token's config.
        let Token { dir, p11, .. } = t;
        p11.finalize().unwrap();
        drop(dir);
        (generated, import, info.sign())
    };
    assert_eq!(run(""), (Ok(()), Ok(()), true));
    assert_eq!(run("profile = \"strict\""), (Ok(()), Ok(()), true));
    let refused = Err(RvError::TemplateInconsistent);
    assert_eq!(run("allow_curve25519 = false"), (refused, refused, false));
}

/// RFC 8032 §7.2 (Ed25519ctx, context "foo") and §7.3 (Ed25519ph, "abc",
/// single- and multi-part) through CK_EDDSA_PARAMS; a signature of one
/// variant does not verify under another.
#[test]
fn rfc8032_ctx_and_ph_vectors() {
    let t = initialized();
    let s = t.user_session();
    let ctx_key = import_private(
        &s,
        KeyType::EC_EDWARDS,
        ED25519_OID,
        h("0305334e381af78f141cb666f6199f57bc3495335a256a95bd2a55bf546663f6"),
    );
    let ctx_pub = import_public(
        &s,
        KeyType::EC_EDWARDS,
        ED25519_OID,
        h("dfc9425e4f968f7f0c29f0259cf5f9aed6851c2bb4ad8bfb860cfee0ab248292"),
    )
    .unwrap();
    let ctx = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Ed25519ctx(b"foo")));
    let msg = h("f726936d19c800494e3fdaff20b276a8");
    let want = h(
        "55a4cc2f70a54e04288c5f4cd1e45a7bb520b36292911876cada7323198dd87a8b36950b95130022907a7fb7c4e9b2d5f6cca685a587b4b21f4b888e4e7edb0d",
    );
    assert_eq!(s.sign(&ctx, ctx_key, &msg).unwrap(), want);
    s.verify(&ctx, ctx_pub, &msg, &want).unwrap();
    let bar = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Ed25519ctx(b"bar")));
    assert_eq!(rv(s.verify(&bar, ctx_pub, &msg, &want).unwrap_err()), RvError::SignatureInvalid);
    assert_eq!(rv(s.verify(&pure(), ctx_pub, &msg, &want).unwrap_err()), RvError::SignatureInvalid);

    let ph_key = import_private(
        &s,
        KeyType::EC_EDWARDS,
        ED25519_NAME,
        h("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42"),
    );
    let ph_pub = import_public(
        &s,
        KeyType::EC_EDWARDS,
        ED25519_NAME,
        h("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf"),
    )
    .unwrap();
    let ph = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Ed25519ph(&[])));
    let want = h(
        "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae4131f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406",
    );
    assert_eq!(s.sign(&ph, ph_key, b"abc").unwrap(), want);
    s.sign_init(&ph, ph_key).unwrap();
    s.sign_update(b"a").unwrap();
    s.sign_update(b"bc").unwrap();
    assert_eq!(s.sign_final().unwrap(), want);
    s.verify(&ph, ph_pub, b"abc", &want).unwrap();
    let ph_ctx = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Ed25519ph(b"c")));
    assert_eq!(rv(s.verify(&ph_ctx, ph_pub, b"abc", &want).unwrap_err()), RvError::SignatureInvalid);
    assert_eq!(rv(s.verify(&pure(), ph_pub, b"abc", &want).unwrap_err()), RvError::SignatureInvalid);
    // A context over 255 bytes.
    let long = [7u8; 256];
    let m = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Ed25519ctx(&long)));
    assert_eq!(rv(s.sign(&m, ctx_key, &msg).unwrap_err()), RvError::MechanismParamInvalid);
}

/// `keyward key import` of RFC 8410 PKCS#8 PEM files: the Ed25519 key of
/// RFC 8410 §10.3 (its public key is §10.1's) and RFC 7748's Alice as an
/// X25519 key; each lands as a private/public pair that works.
#[test]
fn kms_import_of_ed25519_and_x25519_pem() {
    let t = initialized();
    let import = |label: &str, pem: &str| {
        let p = t.dir.path().join(format!("{label}.pem"));
        std::fs::write(&p, pem).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
            .args(["key", "import", label, "--file", p.to_str().unwrap()])
            .env("KEYWARD_CONF", t.conf.to_str().unwrap())
            .env("KEYWARD_PIN", USER_PIN)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    import(
        "ed",
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n",
    );
    import(
        "x",
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VuBCIEIHcHbQpzGKV9PBbBclGyZkXfTC+H68CZKrF3+6UduSwq\n-----END PRIVATE KEY-----\n",
    );
    let s = t.user_session();
    let find = |label: &str, class: ObjectClass| {
        let v = s.find_objects(&[Attribute::Label(label.as_bytes().to_vec()), Attribute::Class(class)]).unwrap();
        assert_eq!(v.len(), 1, "{label} {class:?}");
        v[0]
    };
    let (edv, edp) = (find("ed", ObjectClass::PRIVATE_KEY), find("ed", ObjectClass::PUBLIC_KEY));
    let mut want = vec![0x04, 0x20];
    want.extend(h("19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1"));
    assert_eq!(attr(&s, edp, AttributeType::EcPoint), want);
    assert_eq!(attr(&s, edp, AttributeType::EcParams), ED25519_OID);
    let sig = s.sign(&pure(), edv, b"imported").unwrap();
    s.verify(&pure(), edp, b"imported", &sig).unwrap();
    let (xv, xp) = (find("x", ObjectClass::PRIVATE_KEY), find("x", ObjectClass::PUBLIC_KEY));
    let mut want = vec![0x04, 0x20];
    want.extend(h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"));
    assert_eq!(attr(&s, xp, AttributeType::EcPoint), want);
    let bob_pub = h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    let k = s
        .derive_key(
            &Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), &bob_pub)),
            xv,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
            ],
        )
        .map(|k| attr(&s, k, AttributeType::Value));
    assert_eq!(k.unwrap(), h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"));
}
