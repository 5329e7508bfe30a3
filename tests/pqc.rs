//! ML-DSA (CKK_ML_DSA) and ML-KEM (CKK_ML_KEM), PKCS#11 3.2, through the
//! built module: generation of every parameter set, CKM_ML_DSA with
//! context and hedging, HashML-DSA, C_VerifySignature*, C_EncapsulateKey /
//! C_DecapsulateKey and the secret key they make, imports (CKA_SEED,
//! CKA_VALUE), the NIST ACVP keyGen and decapsulation vectors of
//! tests/data/acvp_pqc.json (its sigGen/sigVer cases use the FIPS 204
//! internal interface and encapsulation needs a chosen `m`, which no
//! PKCS#11 call takes: crypto::pq's unit tests run those; the external-
//! interface sigGen/sigVer vectors and the FIPS 203 key checks run in
//! tests/pqc_acvp.rs), and refusals.

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::dsa::{HashSignAdditionalContext, HedgeType, SignAdditionalContext};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{
    Attribute, AttributeType, KeyType, MlDsaParameterSetType, MlKemParameterSetType, ObjectClass, ObjectHandle,
};
use cryptoki::session::Session;

const DSA_SETS: [(MlDsaParameterSetType, usize, usize); 3] = [
    (MlDsaParameterSetType::ML_DSA_44, 1312, 2420),
    (MlDsaParameterSetType::ML_DSA_65, 1952, 3309),
    (MlDsaParameterSetType::ML_DSA_87, 2592, 4627),
];
const KEM_SETS: [(MlKemParameterSetType, usize, usize); 3] = [
    (MlKemParameterSetType::ML_KEM_512, 800, 768),
    (MlKemParameterSetType::ML_KEM_768, 1184, 1088),
    (MlKemParameterSetType::ML_KEM_1024, 1568, 1568),
];

fn value(s: &Session, o: ObjectHandle, ty: AttributeType) -> Vec<u8> {
    match s.get_attributes(o, &[ty]).unwrap().remove(0) {
        Attribute::Value(v) | Attribute::Seed(v) | Attribute::PublicKeyInfo(v) => v,
        a => panic!("{a:?}"),
    }
}

fn dsa_pair(s: &Session, set: MlDsaParameterSetType) -> (ObjectHandle, ObjectHandle) {
    s.generate_key_pair(
        &Mechanism::MlDsaKeyPairGen,
        &[Attribute::Token(true), Attribute::ParameterSet(set.into()), Attribute::Verify(true)],
        &[Attribute::Token(true), Attribute::Sign(true)],
    )
    .unwrap()
}

fn kem_pair(s: &Session, set: MlKemParameterSetType) -> (ObjectHandle, ObjectHandle) {
    s.generate_key_pair(
        &Mechanism::MlKemKeyPairGen,
        &[Attribute::Token(true), Attribute::ParameterSet(set.into()), Attribute::Encapsulate(true)],
        &[Attribute::Token(true), Attribute::Decapsulate(true)],
    )
    .unwrap()
}

fn ml_dsa(hedge: HedgeType, ctx: Option<&[u8]>) -> Mechanism<'_> {
    Mechanism::MlDsa(SignAdditionalContext::new(hedge, ctx))
}

#[test]
fn ml_dsa_every_set_signs_and_verifies() {
    let t = initialized();
    let s = t.user_session();
    for (set, pk_len, sig_len) in DSA_SETS {
        let (pubk, privk) = dsa_pair(&s, set);
        assert_eq!(value(&s, pubk, AttributeType::Value).len(), pk_len);
        let got = s.get_attributes(privk, &[AttributeType::KeyType, AttributeType::Local, AttributeType::Sensitive]);
        assert_eq!(
            got.unwrap(),
            vec![Attribute::KeyType(KeyType::ML_DSA), Attribute::Local(true), Attribute::Sensitive(true)]
        );
        match s.get_attributes(privk, &[AttributeType::ParameterSet]).unwrap().remove(0) {
            Attribute::ParameterSet(p) => assert_eq!(MlDsaParameterSetType::from(p), set),
            a => panic!("{a:?}"),
        }
        // The private key's secrets are unreadable (sensitive).
        assert_sensitive(&s, privk, &[AttributeType::Value, AttributeType::Seed]);
        let data = b"post-quantum message";
        let sig = s.sign(&ml_dsa(HedgeType::Preferred, None), privk, data).unwrap();
        assert_eq!(sig.len(), sig_len);
        s.verify(&ml_dsa(HedgeType::Preferred, None), pubk, data, &sig).unwrap();
        assert_eq!(
            rv(s.verify(&ml_dsa(HedgeType::Preferred, None), pubk, b"other message", &sig).unwrap_err()),
            RvError::SignatureInvalid
        );
        // Hedged signing draws fresh randomness; deterministic repeats.
        let again = s.sign(&ml_dsa(HedgeType::Required, None), privk, data).unwrap();
        assert_ne!(sig, again);
        let ctx = b"keyward context";
        let d1 = s.sign(&ml_dsa(HedgeType::DeterministicRequired, Some(ctx)), privk, data).unwrap();
        let d2 = s.sign(&ml_dsa(HedgeType::DeterministicRequired, Some(ctx)), privk, data).unwrap();
        assert_eq!(d1, d2);
        s.verify(&ml_dsa(HedgeType::Preferred, Some(ctx)), pubk, data, &d1).unwrap();
        // The context is bound into the signature.
        assert_eq!(
            rv(s.verify(&ml_dsa(HedgeType::Preferred, None), pubk, data, &d1).unwrap_err()),
            RvError::SignatureInvalid
        );
        assert_eq!(
            rv(s.verify(&ml_dsa(HedgeType::Preferred, Some(ctx)), pubk, data, &d1[1..]).unwrap_err()),
            RvError::SignatureLenRange
        );
    }
}

/// The attributes are present and unreadable (CKR_ATTRIBUTE_SENSITIVE).
fn assert_sensitive(s: &Session, o: ObjectHandle, tys: &[AttributeType]) {
    use cryptoki::object::AttributeInfo;
    for info in s.get_attribute_info(o, tys).unwrap() {
        assert!(matches!(info, AttributeInfo::Sensitive), "{info:?}");
    }
}

#[test]
fn ml_dsa_multipart_verify_signature_and_prehash() {
    let t = initialized();
    let s = t.user_session();
    let (pubk, privk) = dsa_pair(&s, MlDsaParameterSetType::ML_DSA_65);
    let data: Vec<u8> = (0..100u8).collect();
    let m = ml_dsa(HedgeType::Preferred, Some(b"ctx"));
    s.sign_init(&m, privk).unwrap();
    for part in data.chunks(30) {
        s.sign_update(part).unwrap();
    }
    let sig = s.sign_final().unwrap();
    s.verify(&m, pubk, &data, &sig).unwrap();
    // C_VerifySignature (3.2): single- and multi-part, good and bad.
    s.verify_signature_init(&m, pubk, &sig).unwrap();
    s.verify_signature(&data).unwrap();
    s.verify_signature_init(&m, pubk, &sig).unwrap();
    for part in data.chunks(7) {
        s.verify_signature_update(part).unwrap();
    }
    s.verify_signature_final().unwrap();
    s.verify_signature_init(&m, pubk, &sig).unwrap();
    assert_eq!(rv(s.verify_signature(&data[1..]).unwrap_err()), RvError::SignatureInvalid);
    // No operation after the failure; a C_VerifyInit operation is not one.
    assert_eq!(rv(s.verify_signature(&data).unwrap_err()), RvError::OperationNotInitialized);
    s.verify_init(&m, pubk).unwrap();
    assert_eq!(rv(s.verify_signature_update(&data).unwrap_err()), RvError::OperationNotInitialized);

    // HashML-DSA: CKM_HASH_ML_DSA over a given SHA-256 digest equals
    // CKM_HASH_ML_DSA_SHA256 over the message (deterministic).
    let digest = s.digest(&Mechanism::Sha256, &data).unwrap();
    let det = HedgeType::DeterministicRequired;
    let ph = Mechanism::HashMlDsa(HashSignAdditionalContext::new(det, None, MechanismType::SHA256));
    let by_digest = s.sign(&ph, privk, &digest).unwrap();
    let by_msg = s.sign(&Mechanism::HashMlDsaSha256(SignAdditionalContext::new(det, None)), privk, &data).unwrap();
    assert_eq!(by_digest, by_msg);
    s.verify(&ph, pubk, &digest, &by_digest).unwrap();
    // Pre-hashed and pure signatures are different domains.
    assert_eq!(rv(s.verify(&m, pubk, &data, &by_msg).unwrap_err()), RvError::SignatureInvalid);
    // CKM_HASH_ML_DSA is single-part; a digest of the wrong length is refused.
    s.sign_init(&ph, privk).unwrap();
    assert_eq!(rv(s.sign_update(&digest).unwrap_err()), RvError::OperationNotInitialized);
    assert_eq!(rv(s.sign(&ph, privk, &digest[1..]).unwrap_err()), RvError::DataLenRange);
    // SHA3-224 and SHAKE256 variants, multi-part.
    for mech in [
        Mechanism::HashMlDsaSha3_224(SignAdditionalContext::new(HedgeType::Required, None)),
        Mechanism::HashMlDsaShake256(SignAdditionalContext::new(HedgeType::Required, Some(b"c"))),
    ] {
        s.sign_init(&mech, privk).unwrap();
        for part in data.chunks(40) {
            s.sign_update(part).unwrap();
        }
        let sig = s.sign_final().unwrap();
        s.verify(&mech, pubk, &data, &sig).unwrap();
    }
}

#[test]
fn ml_dsa_refusals() {
    let t = initialized();
    let s = t.user_session();
    let (pubk, privk) = dsa_pair(&s, MlDsaParameterSetType::ML_DSA_44);
    // Missing or wrong parameter set.
    let e = s.generate_key_pair(&Mechanism::MlDsaKeyPairGen, &[Attribute::Verify(true)], &[Attribute::Sign(true)]);
    assert_eq!(rv(e.unwrap_err()), RvError::TemplateIncomplete);
    let e = s.generate_key_pair(
        &Mechanism::MlDsaKeyPairGen,
        &[Attribute::ParameterSet(MlKemParameterSetType::ML_KEM_512.into()), Attribute::Token(false)],
        &[Attribute::ParameterSet(MlDsaParameterSetType::ML_DSA_87.into())],
    );
    assert_eq!(rv(e.unwrap_err()), RvError::TemplateInconsistent);
    // A 256-byte context.
    let long = [7u8; 256];
    assert_eq!(
        rv(s.sign(&ml_dsa(HedgeType::Preferred, Some(&long)), privk, b"x").unwrap_err()),
        RvError::MechanismParamInvalid
    );
    // ML-DSA keys sign with ML-DSA only, and ML-DSA signs with nothing else.
    assert_eq!(rv(s.sign(&Mechanism::Ecdsa, privk, &[0; 32]).unwrap_err()), RvError::KeyTypeInconsistent);
    let (_, ec_priv) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[Attribute::EcParams(vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07])],
            &[Attribute::Sign(true)],
        )
        .unwrap();
    assert_eq!(
        rv(s.sign(&ml_dsa(HedgeType::Preferred, None), ec_priv, b"x").unwrap_err()),
        RvError::KeyTypeInconsistent
    );
    // A public key does not sign; an ML-DSA key does not encapsulate.
    assert_eq!(
        rv(s.sign(&ml_dsa(HedgeType::Preferred, None), pubk, b"x").unwrap_err()),
        RvError::KeyFunctionNotPermitted
    );
    assert!(s.encapsulate_key(&Mechanism::MlKem, pubk, &readable_secret()).is_err());
}

#[test]
fn ml_kem_every_set_encapsulates_and_decapsulates() {
    let t = initialized();
    let s = t.user_session();
    for (set, ek_len, ct_len) in KEM_SETS {
        let (pubk, privk) = kem_pair(&s, set);
        assert_eq!(value(&s, pubk, AttributeType::Value).len(), ek_len);
        let (ct, k1) = s.encapsulate_key(&Mechanism::MlKem, pubk, &readable_secret()).unwrap();
        assert_eq!(ct.len(), ct_len);
        let k2 = s.decapsulate_key(&Mechanism::MlKem, privk, &readable_secret(), &ct).unwrap();
        let v1 = value(&s, k1, AttributeType::Value);
        assert_eq!(v1.len(), 32);
        assert_eq!(v1, value(&s, k2, AttributeType::Value));
        // A derived key: not local, never "always sensitive".
        let got = s.get_attributes(k1, &[AttributeType::Local, AttributeType::AlwaysSensitive]).unwrap();
        assert_eq!(got, vec![Attribute::Local(false), Attribute::AlwaysSensitive(false)]);
        // A tampered ciphertext decapsulates to another (implicit rejection) secret.
        let mut bad = ct.clone();
        bad[3] ^= 0x40;
        let k3 = s.decapsulate_key(&Mechanism::MlKem, privk, &readable_secret(), &bad).unwrap();
        assert_ne!(value(&s, k3, AttributeType::Value), v1);
        assert_eq!(
            rv(s.decapsulate_key(&Mechanism::MlKem, privk, &readable_secret(), &ct[1..]).unwrap_err()),
            RvError::EncryptedDataLenRange
        );
    }
}

#[test]
fn ml_kem_secret_key_rules() {
    let t = initialized();
    let s = t.user_session();
    let (pubk, privk) = kem_pair(&s, MlKemParameterSetType::ML_KEM_768);
    // An AES-128 key from the shared secret, sensitive by default.
    let aes =
        [Attribute::Class(ObjectClass::SECRET_KEY), Attribute::KeyType(KeyType::AES), Attribute::ValueLen(16.into())];
    let (ct, k1) =
        s.encapsulate_key(&Mechanism::MlKem, pubk, &[&aes[..], &[Attribute::Encrypt(true)]].concat()).unwrap();
    let k2 =
        s.decapsulate_key(&Mechanism::MlKem, privk, &[&aes[..], &[Attribute::Decrypt(true)]].concat(), &ct).unwrap();
    assert_sensitive(&s, k1, &[AttributeType::Value]);
    let block = [0x5au8; 16];
    let c = s.encrypt(&Mechanism::AesEcb, k1, &block).unwrap();
    assert_eq!(s.decrypt(&Mechanism::AesEcb, k2, &c).unwrap(), block);
    // A key longer than the 32-byte secret, and an AES key of a bad size.
    let long = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::ValueLen(33.into()),
    ];
    assert_eq!(rv(s.encapsulate_key(&Mechanism::MlKem, pubk, &long).unwrap_err()), RvError::KeySizeRange);
    let odd =
        [Attribute::Class(ObjectClass::SECRET_KEY), Attribute::KeyType(KeyType::AES), Attribute::ValueLen(20.into())];
    assert_eq!(rv(s.decapsulate_key(&Mechanism::MlKem, privk, &odd, &ct).unwrap_err()), RvError::KeySizeRange);
    // Encapsulation needs the public key with CKA_ENCAPSULATE, decapsulation the private key.
    assert_eq!(
        rv(s.encapsulate_key(&Mechanism::MlKem, privk, &readable_secret()).unwrap_err()),
        RvError::KeyFunctionNotPermitted
    );
    assert_eq!(
        rv(s.decapsulate_key(&Mechanism::MlKem, pubk, &readable_secret(), &ct).unwrap_err()),
        RvError::KeyFunctionNotPermitted
    );
    let (pub_off, _) = s
        .generate_key_pair(
            &Mechanism::MlKemKeyPairGen,
            &[Attribute::ParameterSet(MlKemParameterSetType::ML_KEM_512.into()), Attribute::Encapsulate(false)],
            &[],
        )
        .unwrap();
    assert_eq!(
        rv(s.encapsulate_key(&Mechanism::MlKem, pub_off, &readable_secret()).unwrap_err()),
        RvError::KeyFunctionNotPermitted
    );
    // The secret key template is checked like any other.
    let not_secret = [Attribute::Class(ObjectClass::PUBLIC_KEY), Attribute::KeyType(KeyType::RSA)];
    assert!(s.encapsulate_key(&Mechanism::MlKem, pubk, &not_secret).is_err());
}

#[test]
fn ml_kem_length_query_makes_no_key() {
    let t = initialized();
    let s = t.user_session();
    let (pubk, _) = kem_pair(&s, MlKemParameterSetType::ML_KEM_512);
    let secrets = || s.find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY)]).unwrap().len();
    assert_eq!(secrets(), 0);
    // The cryptoki crate asks for the ciphertext length (NULL buffer) first,
    // then encapsulates: one key results.
    let (ct, _) = s.encapsulate_key(&Mechanism::MlKem, pubk, &readable_secret()).unwrap();
    assert_eq!((ct.len(), secrets()), (768, 1));
}

fn acvp() -> serde_json::Value {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/acvp_pqc.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn hx(v: &serde_json::Value, k: &str) -> Vec<u8> {
    hex::decode(v[k].as_str().unwrap()).unwrap()
}

fn dsa_set(v: &serde_json::Value) -> MlDsaParameterSetType {
    match v["parameterSet"].as_str().unwrap() {
        "ML-DSA-44" => MlDsaParameterSetType::ML_DSA_44,
        "ML-DSA-65" => MlDsaParameterSetType::ML_DSA_65,
        _ => MlDsaParameterSetType::ML_DSA_87,
    }
}

fn kem_set(v: &serde_json::Value) -> MlKemParameterSetType {
    match v["parameterSet"].as_str().unwrap() {
        "ML-KEM-512" => MlKemParameterSetType::ML_KEM_512,
        "ML-KEM-768" => MlKemParameterSetType::ML_KEM_768,
        _ => MlKemParameterSetType::ML_KEM_1024,
    }
}

/// The SubjectPublicKeyInfo's key bytes (the BIT STRING's content ends the DER).
fn spki_tail(spki: &[u8], n: usize) -> &[u8] {
    &spki[spki.len() - n..]
}

fn import_private(
    s: &Session,
    kt: KeyType,
    set: cryptoki::object::ParameterSetType,
    secret: Attribute,
) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(kt),
        Attribute::ParameterSet(set),
        secret,
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::Decapsulate(kt == KeyType::ML_KEM),
        Attribute::Sign(kt == KeyType::ML_DSA),
    ])
    .unwrap()
}

#[test]
fn acvp_key_generation_from_seed() {
    let t = initialized();
    let s = t.user_session();
    let v = acvp();
    let mut n = 0;
    for c in v["ml_dsa_keygen"].as_array().unwrap() {
        let (pk, sk) = (hx(c, "pk"), hx(c, "sk"));
        let k = import_private(&s, KeyType::ML_DSA, dsa_set(c).into(), Attribute::Seed(hx(c, "seed")));
        assert_eq!(value(&s, k, AttributeType::Value), sk, "ML-DSA keyGen tcId {}", c["tcId"]);
        assert_eq!(spki_tail(&value(&s, k, AttributeType::PublicKeyInfo), pk.len()), pk);
        assert_eq!(value(&s, k, AttributeType::Seed), hx(c, "seed"));
        n += 1;
    }
    for c in v["ml_kem_keygen"].as_array().unwrap() {
        let (ek, dk) = (hx(c, "ek"), hx(c, "dk"));
        let seed = [hx(c, "d"), hx(c, "z")].concat();
        let k = import_private(&s, KeyType::ML_KEM, kem_set(c).into(), Attribute::Seed(seed));
        assert_eq!(value(&s, k, AttributeType::Value), dk, "ML-KEM keyGen tcId {}", c["tcId"]);
        assert_eq!(spki_tail(&value(&s, k, AttributeType::PublicKeyInfo), ek.len()), ek);
        n += 1;
    }
    assert_eq!(n, 3 + 6);
}

#[test]
fn acvp_decapsulation() {
    let t = initialized();
    let s = t.user_session();
    let v = acvp();
    let cases = v["ml_kem_decap"].as_array().unwrap();
    for c in cases {
        let k = import_private(&s, KeyType::ML_KEM, kem_set(c).into(), Attribute::Value(hx(c, "dk")));
        let out = s.decapsulate_key(&Mechanism::MlKem, k, &readable_secret(), &hx(c, "c")).unwrap();
        assert_eq!(
            value(&s, out, AttributeType::Value),
            hx(c, "k"),
            "decapsulation tcId {} ({})",
            c["tcId"],
            c["reason"]
        );
    }
    assert_eq!(cases.len(), 6);
}

#[test]
fn imports_are_validated() {
    let t = initialized();
    let s = t.user_session();
    let v = acvp();
    let c = &v["ml_dsa_keygen"][0];
    // Seed and value that disagree.
    let mut sk = hx(c, "sk");
    sk[100] ^= 1;
    let e = s.create_object(&[
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::ML_DSA),
        Attribute::ParameterSet(dsa_set(c).into()),
        Attribute::Seed(hx(c, "seed")),
        Attribute::Value(sk),
    ]);
    assert_eq!(rv(e.unwrap_err()), RvError::AttributeValueInvalid);
    // A public key: the parameter set follows from the length when absent;
    // a wrong length is refused.
    let pk = hx(c, "pk");
    let p = s
        .create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::ML_DSA),
            Attribute::Value(pk.clone()),
            Attribute::Verify(true),
        ])
        .unwrap();
    match s.get_attributes(p, &[AttributeType::ParameterSet]).unwrap().remove(0) {
        Attribute::ParameterSet(x) => assert_eq!(MlDsaParameterSetType::from(x), dsa_set(c)),
        a => panic!("{a:?}"),
    }
    let e = s.create_object(&[
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::ML_DSA),
        Attribute::Value(pk[1..].to_vec()),
    ]);
    assert_eq!(rv(e.unwrap_err()), RvError::AttributeValueInvalid);
    // An ML-KEM decapsulation key whose H(ek) is wrong (FIPS 203 §7.3).
    let kc = &v["ml_kem_keygen"][0];
    let mut dk = hx(kc, "dk");
    let n = dk.len();
    dk[n - 40] ^= 1;
    let e = s.create_object(&[
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::ML_KEM),
        Attribute::Value(dk),
    ]);
    assert_eq!(rv(e.unwrap_err()), RvError::AttributeValueInvalid);
    // A private key with neither seed nor value.
    let e = s.create_object(&[
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::ML_KEM),
        Attribute::ParameterSet(MlKemParameterSetType::ML_KEM_768.into()),
    ]);
    assert_eq!(rv(e.unwrap_err()), RvError::TemplateIncomplete);
}

#[test]
fn mechanisms_are_advertised() {
    let t = initialized();
    let slot = t.slot;
    let list = t.p11.get_mechanism_list(slot).unwrap();
    for m in [
        MechanismType::ML_DSA_KEY_PAIR_GEN,
        MechanismType::ML_DSA,
        MechanismType::HASH_ML_DSA,
        MechanismType::ML_KEM_KEY_PAIR_GEN,
        MechanismType::ML_KEM,
    ] {
        assert!(list.contains(&m), "{m:?}");
    }
    let info = t.p11.get_mechanism_info(slot, MechanismType::ML_KEM).unwrap();
    assert!(info.encapsulate() && info.decapsulate());
}

#[test]
fn private_keys_wrap_and_unwrap_as_pkcs8() {
    let t = initialized();
    let s = t.user_session();
    let kek = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::ValueLen(32.into()),
                Attribute::Wrap(true),
                Attribute::Unwrap(true),
                Attribute::Encrypt(false),
                Attribute::Decrypt(false),
            ],
        )
        .unwrap();
    let (pubk, privk) = s
        .generate_key_pair(
            &Mechanism::MlDsaKeyPairGen,
            &[Attribute::ParameterSet(MlDsaParameterSetType::ML_DSA_44.into()), Attribute::Verify(true)],
            &[Attribute::Sign(true), Attribute::Extractable(true)],
        )
        .unwrap();
    let wrapped = s.wrap_key(&Mechanism::AesKeyWrapPad, kek, privk).unwrap();
    let back = s
        .unwrap_key(
            &Mechanism::AesKeyWrapPad,
            kek,
            &wrapped,
            &[Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::KeyType(KeyType::ML_DSA), Attribute::Sign(true)],
        )
        .unwrap();
    let set = s.get_attributes(back, &[AttributeType::ParameterSet]).unwrap();
    assert_eq!(set, vec![Attribute::ParameterSet(MlDsaParameterSetType::ML_DSA_44.into())]);
    let sig = s.sign(&ml_dsa(HedgeType::Preferred, None), back, b"unwrapped").unwrap();
    s.verify(&ml_dsa(HedgeType::Preferred, None), pubk, b"unwrapped", &sig).unwrap();
    // The PKCS#8 of one algorithm is not a key of another.
    let e = s.unwrap_key(
        &Mechanism::AesKeyWrapPad,
        kek,
        &wrapped,
        &[Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::KeyType(KeyType::ML_KEM)],
    );
    assert_eq!(rv(e.unwrap_err()), RvError::WrappedKeyInvalid);
}

/// C_EncapsulateKey / C_DecapsulateKey called raw: NULL pointers, the
/// length query, a short buffer, and the key handle written into the
/// caller's ciphertext buffer (aliasing out-parameters).
#[test]
fn raw_encapsulate_and_decapsulate_arguments() {
    use pkcs11_sys::*;
    use std::ptr::null_mut;
    type Encap = unsafe extern "C" fn(
        CK_SESSION_HANDLE,
        CK_MECHANISM_PTR,
        CK_OBJECT_HANDLE,
        CK_ATTRIBUTE_PTR,
        CK_ULONG,
        CK_BYTE_PTR,
        CK_ULONG_PTR,
        CK_OBJECT_HANDLE_PTR,
    ) -> CK_RV;
    type Decap = unsafe extern "C" fn(
        CK_SESSION_HANDLE,
        CK_MECHANISM_PTR,
        CK_OBJECT_HANDLE,
        CK_ATTRIBUTE_PTR,
        CK_ULONG,
        CK_BYTE_PTR,
        CK_ULONG,
        CK_OBJECT_HANDLE_PTR,
    ) -> CK_RV;
    let t = initialized();
    let s = t.user_session();
    let (pubk, privk) = kem_pair(&s, MlKemParameterSetType::ML_KEM_512);
    let r = raw();
    // SAFETY: our own module's exported functions, with the pointers each
    // call names valid for the duration of the call.
    unsafe {
        let lib = libloading::Library::new(module_path()).unwrap();
        let encap: libloading::Symbol<Encap> = lib.get(b"C_EncapsulateKey").unwrap();
        let decap: libloading::Symbol<Decap> = lib.get(b"C_DecapsulateKey").unwrap();
        let mut h: CK_SESSION_HANDLE = 0;
        assert_eq!(
            r.f.C_OpenSession.unwrap()(t.slot.id(), CKF_SERIAL_SESSION | CKF_RW_SESSION, null_mut(), None, &mut h),
            CKR_OK
        );
        let mut mech = CK_MECHANISM { mechanism: 0x17, pParameter: null_mut(), ulParameterLen: 0 };
        let (pk, vk) = (pubk.handle(), privk.handle());
        let mut len: CK_ULONG = 0;
        let mut key: CK_OBJECT_HANDLE = 0;
        let mut ct = vec![0u8; 768];
        assert_eq!(encap(h, null_mut(), pk, null_mut(), 0, null_mut(), &mut len, &mut key), CKR_ARGUMENTS_BAD);
        assert_eq!(encap(h, &mut mech, pk, null_mut(), 0, ct.as_mut_ptr(), null_mut(), &mut key), CKR_ARGUMENTS_BAD);
        len = 768;
        assert_eq!(encap(h, &mut mech, pk, null_mut(), 0, ct.as_mut_ptr(), &mut len, null_mut()), CKR_ARGUMENTS_BAD);
        // Length query: the length, no key.
        assert_eq!(encap(h, &mut mech, pk, null_mut(), 0, null_mut(), &mut len, &mut key), CKR_OK);
        assert_eq!((len, key), (768, 0));
        len = 767;
        assert_eq!(encap(h, &mut mech, pk, null_mut(), 0, ct.as_mut_ptr(), &mut len, &mut key), CKR_BUFFER_TOO_SMALL);
        assert_eq!((len, key), (768, 0));
        len = 768;
        assert_eq!(encap(h, &mut mech, pk, null_mut(), 0, ct.as_mut_ptr(), &mut len, &mut key), CKR_OK);
        assert_ne!(key, 0);
        let mut key2: CK_OBJECT_HANDLE = 0;
        assert_eq!(decap(h, &mut mech, vk, null_mut(), 0, null_mut(), 768, &mut key2), CKR_ARGUMENTS_BAD);
        assert_eq!(decap(h, &mut mech, vk, null_mut(), 0, ct.as_mut_ptr(), 768, null_mut()), CKR_ARGUMENTS_BAD);
        assert_eq!(decap(h, &mut mech, vk, null_mut(), 0, ct.as_mut_ptr(), 768, &mut key2), CKR_OK);
        assert!(key2 != 0 && key2 != key);
        // The new key's handle written into the ciphertext buffer it was read from.
        let mut buf = ct.clone();
        let alias = buf.as_mut_ptr().add(16) as CK_OBJECT_HANDLE_PTR;
        assert_eq!(decap(h, &mut mech, vk, null_mut(), 0, buf.as_mut_ptr(), 768, alias), CKR_OK);
        assert_ne!(u64::from_ne_bytes(buf[16..24].try_into().unwrap()), 0);
        let mut buf2 = vec![0u8; 768];
        let mut len2: CK_ULONG = 768;
        let alias = buf2.as_mut_ptr().add(8) as CK_OBJECT_HANDLE_PTR;
        assert_eq!(encap(h, &mut mech, pk, null_mut(), 0, buf2.as_mut_ptr(), &mut len2, alias), CKR_OK);
        assert_ne!(u64::from_ne_bytes(buf2[8..16].try_into().unwrap()), 0);
        // A parameter is refused.
        let mut p = 0u64;
        let mut bad = CK_MECHANISM { mechanism: 0x17, pParameter: (&mut p as *mut u64).cast(), ulParameterLen: 8 };
        assert_eq!(
            encap(h, &mut bad, pk, null_mut(), 0, ct.as_mut_ptr(), &mut len, &mut key),
            CKR_MECHANISM_PARAM_INVALID
        );
    }
}
