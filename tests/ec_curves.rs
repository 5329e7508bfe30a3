//! P-224 and P-521 through the built module: key pair generation by OID
//! and by printable name, ECDSA (raw and hashed, single- and multi-part),
//! ECDH between token keys, import of a private scalar and of a public
//! point (CKA_EC_POINT read back as the DER OCTET STRING), the mechanism
//! info sizes, P-192's refusal, and the `allow_p224` knob (off in strict).

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

const P224_OID: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x21];
const P521_OID: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];
const P192_OID: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x01];

fn pair(s: &Session, params: &[u8]) -> cryptoki::error::Result<(ObjectHandle, ObjectHandle)> {
    s.generate_key_pair(
        &Mechanism::EccKeyPairGen,
        &[Attribute::EcParams(params.to_vec()), Attribute::Verify(true)],
        &[Attribute::Sign(true), Attribute::Derive(true), Attribute::Sensitive(false), Attribute::Extractable(true)],
    )
}

fn get(s: &Session, o: ObjectHandle, ty: AttributeType) -> Vec<u8> {
    match s.get_attributes(o, &[ty]).unwrap().remove(0) {
        Attribute::EcPoint(v) | Attribute::EcParams(v) | Attribute::Value(v) => v,
        a => panic!("{a:?}"),
    }
}

#[test]
fn p224_and_p521_sign_verify_derive_import() {
    let t = initialized();
    let s = t.user_session();
    for (oid, name, field, point_der_hdr) in [
        (P224_OID, &b"\x13\x09secp224r1"[..], 28usize, &[0x04u8, 57][..]),
        (P521_OID, b"\x13\x09secp521r1", 66, &[0x04, 0x81, 133]),
    ] {
        let (pubk, privk) = pair(&s, oid).unwrap();
        let (pub2, priv2) = pair(&s, name).unwrap();
        // A printable name is stored as the curve OID.
        assert_eq!(get(&s, pub2, AttributeType::EcParams), oid);
        let point = get(&s, pubk, AttributeType::EcPoint);
        assert_eq!(&point[..point_der_hdr.len()], point_der_hdr, "CKA_EC_POINT is a DER OCTET STRING");
        assert_eq!(point.len(), point_der_hdr.len() + 1 + 2 * field);
        for m in [
            Mechanism::EcdsaSha1,
            Mechanism::EcdsaSha224,
            Mechanism::EcdsaSha256,
            Mechanism::EcdsaSha384,
            Mechanism::EcdsaSha512,
        ] {
            let sig = s.sign(&m, privk, b"message").unwrap();
            assert_eq!(sig.len(), 2 * field);
            s.verify(&m, pubk, b"message", &sig).unwrap();
            assert_eq!(rv(s.verify(&m, pubk, b"messagf", &sig).unwrap_err()), RvError::SignatureInvalid);
            assert_eq!(rv(s.verify(&m, pub2, b"message", &sig).unwrap_err()), RvError::SignatureInvalid);
        }
        // Multi-part hashed equals CKM_ECDSA over the digest.
        s.sign_init(&Mechanism::EcdsaSha512, privk).unwrap();
        s.sign_update(b"mess").unwrap();
        s.sign_update(b"age").unwrap();
        let sig = s.sign_final().unwrap();
        let d = s.digest(&Mechanism::Sha512, b"message").unwrap();
        s.verify(&Mechanism::Ecdsa, pubk, &d, &sig).unwrap();
        // CKM_ECDSA over a hash longer than the order (cut to its bits).
        let long = [0xc3u8; 100];
        let sig = s.sign(&Mechanism::Ecdsa, privk, &long).unwrap();
        s.verify(&Mechanism::Ecdsa, pubk, &long, &sig).unwrap();
        // ECDH both ways, the peer point raw and DER.
        let tmpl = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::Sensitive(false),
            Attribute::Extractable(true),
        ];
        let point2 = get(&s, pub2, AttributeType::EcPoint);
        let raw1 = &point[point_der_hdr.len()..];
        let k1 = s
            .derive_key(&Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), &point2)), privk, &tmpl)
            .unwrap();
        let k2 =
            s.derive_key(&Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), raw1)), priv2, &tmpl).unwrap();
        let z = get(&s, k1, AttributeType::Value);
        assert_eq!(z.len(), field);
        assert_eq!(z, get(&s, k2, AttributeType::Value));
        // Import: the private scalar and the public point (raw in, DER out).
        let scalar = get(&s, privk, AttributeType::Value);
        assert_eq!(scalar.len(), field);
        let ipriv = s
            .create_object(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::KeyType(KeyType::EC),
                Attribute::EcParams(oid.to_vec()),
                Attribute::Value(scalar),
                Attribute::Sign(true),
            ])
            .unwrap();
        let ipub = s
            .create_object(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::KeyType(KeyType::EC),
                Attribute::EcParams(oid.to_vec()),
                Attribute::EcPoint(raw1.to_vec()),
                Attribute::Verify(true),
            ])
            .unwrap();
        assert_eq!(get(&s, ipub, AttributeType::EcPoint), point);
        let sig = s.sign(&Mechanism::EcdsaSha256, ipriv, b"imported").unwrap();
        s.verify(&Mechanism::EcdsaSha256, pubk, b"imported", &sig).unwrap();
        // An off-curve point is refused.
        let mut off = raw1.to_vec();
        *off.last_mut().unwrap() ^= 1;
        let e = s
            .create_object(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::KeyType(KeyType::EC),
                Attribute::EcParams(oid.to_vec()),
                Attribute::EcPoint(off),
            ])
            .unwrap_err();
        assert_eq!(rv(e), RvError::AttributeValueInvalid);
    }
    // P-192: the engine has no such curve.
    assert_eq!(rv(pair(&s, P192_OID).unwrap_err()), RvError::CurveNotSupported);
    // Mechanism info: EC keys of 224..521 bits; ECDH covers X25519's 255.
    for m in [
        MechanismType::ECC_KEY_PAIR_GEN,
        MechanismType::ECDSA,
        MechanismType::ECDSA_SHA512,
        MechanismType::ECDH1_DERIVE,
    ] {
        let info = t.p11.get_mechanism_info(t.slot, m).unwrap();
        assert_eq!((info.min_key_size(), info.max_key_size()), (224, 521), "{m:?}");
    }
}

#[test]
fn knob_allow_p224() {
    let run = |policy: &str| {
        let t = initialized_with(policy);
        let s = t.user_session();
        let p224 = pair(&s, P224_OID).map(|_| ()).map_err(rv);
        let p521 = pair(&s, P521_OID).map(|_| ()).map_err(rv);
        let info = t.p11.get_mechanism_info(t.slot, MechanismType::ECDSA).unwrap();
        let ecdh = t.p11.get_mechanism_info(t.slot, MechanismType::ECDH1_DERIVE).unwrap();
        drop(s);
        let Token { dir, p11, .. } = t;
        p11.finalize().unwrap();
        drop(dir);
        (p224, p521, info.min_key_size(), ecdh.min_key_size())
    };
    assert_eq!(run(""), (Ok(()), Ok(()), 224, 224));
    let refused = Err(RvError::TemplateInconsistent);
    assert_eq!(run("profile = \"strict\""), (refused, Ok(()), 256, 255));
    assert_eq!(run("allow_p224 = false"), (refused, Ok(()), 256, 255));
    assert_eq!(run("profile = \"strict\"\nallow_p224 = true"), (Ok(()), Ok(()), 224, 224));
}

/// KMS rotation of P-224 and P-521 key pairs: the new version is on the
/// same curve, signs, and the old public key still verifies.
#[test]
fn rotation_keeps_the_curve() {
    const VD: u64 = pkcs11_sys::CKA_VENDOR_DEFINED;
    const CKA_KEYWARD_VERSION: u64 = VD | 0x4B57_0001;
    const CKA_KEYWARD_ROTATE: u64 = VD | 0x4B57_000B;
    let t = initialized();
    let s = t.user_session();
    for (oid, label, field) in [(P224_OID, &b"r224"[..], 28), (P521_OID, b"r521", 66)] {
        let l = || Attribute::Label(label.to_vec());
        let (pub1, priv1) = s
            .generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &[Attribute::EcParams(oid.to_vec()), Attribute::Token(true), l()],
                &[Attribute::Token(true), l()],
            )
            .unwrap();
        let sig1 = s.sign(&Mechanism::EcdsaSha256, priv1, b"v1").unwrap();
        let (pub2, priv2) =
            s.generate_key_pair(&Mechanism::EccKeyPairGen, &[l()], &[l(), vbool(CKA_KEYWARD_ROTATE, true)]).unwrap();
        assert_eq!(get_ulong(&s, priv2, CKA_KEYWARD_VERSION), 2);
        assert_eq!(get(&s, pub2, AttributeType::EcParams), oid);
        assert_ne!(get(&s, pub1, AttributeType::EcPoint), get(&s, pub2, AttributeType::EcPoint));
        let sig2 = s.sign(&Mechanism::EcdsaSha256, priv2, b"v2").unwrap();
        assert_eq!(sig2.len(), 2 * field);
        s.verify(&Mechanism::EcdsaSha256, pub2, b"v2", &sig2).unwrap();
        s.verify(&Mechanism::EcdsaSha256, pub1, b"v1", &sig1).unwrap();
    }
}
