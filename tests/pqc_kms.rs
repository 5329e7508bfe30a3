//! Post-quantum keys under the KMS lifecycle: `keyward key create --type
//! ml-dsa-65|ml-kem-768`, inventory naming the algorithm, rotation to a new
//! version of the same parameter set, disable, expiry, PKCS#8 seed-form
//! import, the [policy] allow_ml_dsa / allow_ml_kem knobs, and interop with
//! an independent implementation (RustCrypto `ml-dsa` / `ml-kem`).

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::dsa::{HedgeType, SignAdditionalContext};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{
    Attribute, AttributeType, KeyType, MlDsaParameterSetType, MlKemParameterSetType, ObjectClass, ObjectHandle,
};
use cryptoki::session::Session;
use std::process::Command;

fn ml_dsa() -> Mechanism<'static> {
    Mechanism::MlDsa(SignAdditionalContext::new(HedgeType::Preferred, None))
}

fn one(s: &Session, class: ObjectClass, label: &str) -> ObjectHandle {
    let found = s.find_objects(&[Attribute::Class(class), Attribute::Label(label.as_bytes().to_vec())]).unwrap();
    assert_eq!(found.len(), 1, "{label}: {found:?}");
    found[0]
}

fn value(s: &Session, o: ObjectHandle) -> Vec<u8> {
    match s.get_attributes(o, &[AttributeType::Value]).unwrap().remove(0) {
        Attribute::Value(v) => v,
        a => panic!("{a:?}"),
    }
}

#[test]
fn cli_create_list_rotate_disable_expire() {
    let t = initialized();
    let (ok, out) = cli(&t, &["key", "create", "sig", "--type", "ml-dsa-65"]);
    assert!(ok && out.contains("created sig (ml-dsa-65), version 1"), "{out}");
    let (ok, out) = cli(&t, &["key", "create", "kem", "--type", "ml-kem-768"]);
    assert!(ok, "{out}");
    let (ok, out) = cli(&t, &["key", "list", "--json"]);
    assert!(ok, "{out}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let algs: Vec<&str> = j.as_array().unwrap().iter().map(|k| k["algorithm"].as_str().unwrap()).collect();
    assert!(algs.contains(&"ml-dsa-65") && algs.contains(&"ml-kem-768"), "{algs:?}");

    let s = t.user_session();
    let (p1, v1) = (one(&s, ObjectClass::PUBLIC_KEY, "sig"), one(&s, ObjectClass::PRIVATE_KEY, "sig"));
    let sig1 = s.sign(&ml_dsa(), v1, b"m").unwrap();
    s.verify(&ml_dsa(), p1, b"m", &sig1).unwrap();
    // Rotation: a new version of the same parameter set becomes primary;
    // the old private key no longer signs, its public key still verifies.
    let (ok, out) = cli(&t, &["key", "rotate", "sig"]);
    assert!(ok && out.contains("version 2 is now primary"), "{out}");

    assert_eq!(rv(s.sign(&ml_dsa(), v1, b"m").unwrap_err()), RvError::KeyFunctionNotPermitted);
    s.verify(&ml_dsa(), p1, b"m", &sig1).unwrap();
    let (p2, v2) = (one(&s, ObjectClass::PUBLIC_KEY, "sig"), one(&s, ObjectClass::PRIVATE_KEY, "sig"));
    assert_ne!(v2, v1);
    assert_ne!(value(&s, p2), value(&s, p1));
    let set = s.get_attributes(v2, &[AttributeType::ParameterSet]).unwrap();
    assert_eq!(set, vec![Attribute::ParameterSet(MlDsaParameterSetType::ML_DSA_65.into())]);
    let sig2 = s.sign(&ml_dsa(), v2, b"m").unwrap();
    s.verify(&ml_dsa(), p2, b"m", &sig2).unwrap();

    // ML-KEM: works, then disabled, then enabled and expired.
    let (kp, kv) = (one(&s, ObjectClass::PUBLIC_KEY, "kem"), one(&s, ObjectClass::PRIVATE_KEY, "kem"));
    let tmpl = [Attribute::Class(ObjectClass::SECRET_KEY), Attribute::KeyType(KeyType::GENERIC_SECRET)];
    let (ct, _) = s.encapsulate_key(&Mechanism::MlKem, kp, &tmpl).unwrap();
    s.decapsulate_key(&Mechanism::MlKem, kv, &tmpl, &ct).unwrap();
    let (ok, out) = cli(&t, &["key", "disable", "kem"]);
    assert!(ok, "{out}");

    assert_eq!(rv(s.encapsulate_key(&Mechanism::MlKem, kp, &tmpl).unwrap_err()), RvError::KeyFunctionNotPermitted);
    assert_eq!(rv(s.decapsulate_key(&Mechanism::MlKem, kv, &tmpl, &ct).unwrap_err()), RvError::KeyFunctionNotPermitted);
    assert!(cli(&t, &["key", "enable", "kem"]).0);
    let (ok, out) = cli(&t, &["key", "expire", "kem", "2001-01-01"]);
    assert!(ok, "{out}");

    // Past its end date a key makes no new secrets (encapsulation), and
    // still recovers old ones (decapsulation), like decryption.
    assert_eq!(rv(s.encapsulate_key(&Mechanism::MlKem, kp, &tmpl).unwrap_err()), RvError::KeyFunctionNotPermitted);
    s.decapsulate_key(&Mechanism::MlKem, kv, &tmpl, &ct).unwrap();
}

#[test]
fn cli_imports_pkcs8_seed_form() {
    let t = initialized();
    let acvp: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/acvp_pqc.json")).unwrap(),
    )
    .unwrap();
    let c = acvp["ml_dsa_keygen"].as_array().unwrap().iter().find(|c| c["parameterSet"] == "ML-DSA-44").unwrap();
    let seed = hex::decode(c["seed"].as_str().unwrap()).unwrap();
    // PrivateKeyInfo { v1, id-ml-dsa-44, OCTET STRING { [0] seed } }.
    let mut der = hex::decode("3034020100300b0609608648016503040311042280 20".replace(' ', "")).unwrap();
    der.extend_from_slice(&seed);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("k.der");
    std::fs::write(&f, &der).unwrap();
    let (ok, out) = cli(&t, &["key", "import", "imp", "--file", f.to_str().unwrap()]);
    assert!(ok, "{out}");
    let s = t.user_session();
    let p = one(&s, ObjectClass::PUBLIC_KEY, "imp");
    assert_eq!(value(&s, p), hex::decode(c["pk"].as_str().unwrap()).unwrap());
    let v = one(&s, ObjectClass::PRIVATE_KEY, "imp");
    let sig = s.sign(&ml_dsa(), v, b"imported").unwrap();
    s.verify(&ml_dsa(), p, b"imported", &sig).unwrap();
    // A PKCS#8 of an unknown form is refused.
    let mut bad = der.clone();
    bad[20] = 0x81;
    std::fs::write(&f, &bad).unwrap();
    assert!(!cli(&t, &["key", "import", "bad", "--file", f.to_str().unwrap()]).0);
}

#[test]
fn knobs_allow_ml_dsa_and_allow_ml_kem() {
    let run = |policy: &str| {
        let t = initialized_with(policy);
        let s = t.user_session();
        let dsa = s
            .generate_key_pair(
                &Mechanism::MlDsaKeyPairGen,
                &[Attribute::ParameterSet(MlDsaParameterSetType::ML_DSA_44.into())],
                &[],
            )
            .map(|_| ())
            .map_err(rv);
        let kem = s
            .generate_key_pair(
                &Mechanism::MlKemKeyPairGen,
                &[Attribute::ParameterSet(MlKemParameterSetType::ML_KEM_512.into())],
                &[],
            )
            .map(|_| ())
            .map_err(rv);
        let info = (
            t.p11.get_mechanism_info(t.slot, MechanismType::ML_DSA).unwrap().sign(),
            t.p11.get_mechanism_info(t.slot, MechanismType::ML_KEM).unwrap().encapsulate(),
        );
        drop(s);
        let Token { dir, p11, .. } = t;
        p11.finalize().unwrap();
        drop(dir);
        (dsa, kem, info)
    };
    assert_eq!(run(""), (Ok(()), Ok(()), (true, true)));
    assert_eq!(run("profile = \"strict\""), (Ok(()), Ok(()), (true, true)));
    let refused = Err(RvError::TemplateInconsistent);
    assert_eq!(run("allow_ml_dsa = false"), (refused, Ok(()), (false, true)));
    assert_eq!(run("allow_ml_kem = false"), (Ok(()), refused, (true, false)));
}

// ---- cross-implementation: RustCrypto ml-dsa / ml-kem ----------------------

fn import_public(s: &Session, kt: KeyType, v: Vec<u8>) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(kt),
        Attribute::Value(v),
        Attribute::Verify(kt == KeyType::ML_DSA),
        Attribute::Encapsulate(kt == KeyType::ML_KEM),
    ])
    .unwrap()
}

macro_rules! ml_dsa_cross {
    ($name:ident, $params:ty, $set:expr) => {
        #[test]
        fn $name() {
            use ml_dsa::{Signature, SigningKey, VerifyingKey};
            let t = initialized();
            let s = t.user_session();
            let ctx = b"cross-implementation";
            let msg = b"signed in one implementation, verified in the other";
            // Token -> RustCrypto: hedged and deterministic signatures verify.
            let (p, v) = s
                .generate_key_pair(
                    &Mechanism::MlDsaKeyPairGen,
                    &[Attribute::ParameterSet($set.into()), Attribute::Verify(true)],
                    &[Attribute::Sign(true)],
                )
                .unwrap();
            let vk = VerifyingKey::<$params>::decode(&value(&s, p)[..].try_into().unwrap());
            for hedge in [HedgeType::Preferred, HedgeType::DeterministicRequired] {
                let sig = s.sign(&Mechanism::MlDsa(SignAdditionalContext::new(hedge, Some(ctx))), v, msg).unwrap();
                let sig = Signature::<$params>::decode(&sig[..].try_into().unwrap()).unwrap();
                assert!(vk.verify_with_context(msg, ctx, &sig));
                assert!(!vk.verify_with_context(msg, b"other", &sig));
            }
            // RustCrypto -> token: its deterministic signature verifies in the
            // token, and the token's own deterministic signature under the
            // same seed is the same bytes.
            let seed = [0x42u8; 32];
            let sk = SigningKey::<$params>::from_seed(&seed.into());
            let theirs = sk.expanded_key().sign_deterministic(msg, ctx).unwrap().encode().to_vec();
            let pub_bytes = sk.expanded_key().verifying_key().encode().to_vec();
            let p2 = import_public(&s, KeyType::ML_DSA, pub_bytes);
            let m = Mechanism::MlDsa(SignAdditionalContext::new(HedgeType::Preferred, Some(ctx)));
            s.verify(&m, p2, msg, &theirs).unwrap();
            let v2 = s
                .create_object(&[
                    Attribute::Class(ObjectClass::PRIVATE_KEY),
                    Attribute::KeyType(KeyType::ML_DSA),
                    Attribute::ParameterSet($set.into()),
                    Attribute::Seed(seed.to_vec()),
                    Attribute::Sign(true),
                ])
                .unwrap();
            let det = Mechanism::MlDsa(SignAdditionalContext::new(HedgeType::DeterministicRequired, Some(ctx)));
            assert_eq!(s.sign(&det, v2, msg).unwrap(), theirs);
        }
    };
}

ml_dsa_cross!(cross_ml_dsa_44, ml_dsa::MlDsa44, MlDsaParameterSetType::ML_DSA_44);
ml_dsa_cross!(cross_ml_dsa_65, ml_dsa::MlDsa65, MlDsaParameterSetType::ML_DSA_65);
ml_dsa_cross!(cross_ml_dsa_87, ml_dsa::MlDsa87, MlDsaParameterSetType::ML_DSA_87);

macro_rules! ml_kem_cross {
    ($name:ident, $params:ty, $set:expr) => {
        #[test]
        fn $name() {
            use ml_kem::{Decapsulate, DecapsulationKey, EncapsulationKey, KeyExport};
            let t = initialized();
            let s = t.user_session();
            // RustCrypto encapsulates to the token's key; the token decapsulates.
            let (p, v) =
                s.generate_key_pair(&Mechanism::MlKemKeyPairGen, &[Attribute::ParameterSet($set.into())], &[]).unwrap();
            let ek = EncapsulationKey::<$params>::new(&value(&s, p)[..].try_into().unwrap()).unwrap();
            let (ct, k) = ek.encapsulate_deterministic(&[0x17u8; 32].into());
            let got = s.decapsulate_key(&Mechanism::MlKem, v, &readable_secret(), &ct[..]).unwrap();
            assert_eq!(value(&s, got), k.to_vec());
            // The token encapsulates to RustCrypto's key; RustCrypto decapsulates.
            let dk = DecapsulationKey::<$params>::from_seed([0x5au8; 64].into());
            let p2 = import_public(&s, KeyType::ML_KEM, dk.encapsulation_key().to_bytes().to_vec());
            let (ct2, k2) = s.encapsulate_key(&Mechanism::MlKem, p2, &readable_secret()).unwrap();
            let theirs = dk.decapsulate(&ct2[..].try_into().unwrap());
            assert_eq!(value(&s, k2), theirs.to_vec());
        }
    };
}

ml_kem_cross!(cross_ml_kem_512, ml_kem::MlKem512, MlKemParameterSetType::ML_KEM_512);
ml_kem_cross!(cross_ml_kem_768, ml_kem::MlKem768, MlKemParameterSetType::ML_KEM_768);
ml_kem_cross!(cross_ml_kem_1024, ml_kem::MlKem1024, MlKemParameterSetType::ML_KEM_1024);

#[test]
fn audit_records_name_the_post_quantum_mechanisms() {
    let t = initialized();
    {
        let s = t.user_session();
        let (_, v) = s
            .generate_key_pair(
                &Mechanism::MlDsaKeyPairGen,
                &[Attribute::Token(true), Attribute::ParameterSet(MlDsaParameterSetType::ML_DSA_87.into())],
                &[Attribute::Token(true), Attribute::Label(b"audited-sig".to_vec())],
            )
            .unwrap();
        s.sign(&ml_dsa(), v, b"m").unwrap();
        let (p, _) = s
            .generate_key_pair(
                &Mechanism::MlKemKeyPairGen,
                &[Attribute::Token(true), Attribute::ParameterSet(MlKemParameterSetType::ML_KEM_1024.into())],
                &[Attribute::Token(true)],
            )
            .unwrap();
        s.encapsulate_key(&Mechanism::MlKem, p, &readable_secret()).unwrap();
        // 40 more into session keys: counted (the first one named) like
        // session-object creations; one into a token key: its own record.
        for _ in 0..40 {
            s.encapsulate_key(&Mechanism::MlKem, p, &readable_secret()).unwrap();
        }
        let mut token_key = readable_secret();
        token_key.push(Attribute::Token(true));
        token_key.push(Attribute::Label(b"kem-token-secret".to_vec()));
        s.encapsulate_key(&Mechanism::MlKem, p, &token_key).unwrap();
    }
    let Token { dir, conf, p11, .. } = t;
    p11.finalize().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .arg("--conf")
        .arg(conf.to_str().unwrap())
        .args(["audit", "show", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let recs: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let find = |f: &str, m: &str| {
        recs.iter()
            .find(|r| r["function"] == f && r["mechanism"] == m && r["result"] == "CKR_OK")
            .unwrap_or_else(|| panic!("no {f} {m} record in {recs:#?}"))
    };
    assert_eq!(find("C_GenerateKeyPair", "CKM_ML_DSA_KEY_PAIR_GEN")["created"].as_array().unwrap().len(), 2);
    assert_eq!(find("C_SignInit", "CKM_ML_DSA")["key"]["label"], "audited-sig");
    find("C_GenerateKeyPair", "CKM_ML_KEM_KEY_PAIR_GEN");
    assert_eq!(find("C_EncapsulateKey", "CKM_ML_KEM")["created"].as_array().unwrap().len(), 1);
    let encaps: Vec<&serde_json::Value> = recs.iter().filter(|r| r["function"] == "C_EncapsulateKey").collect();
    let total: u64 = encaps.iter().map(|r| r["count"].as_u64().unwrap_or(1)).sum();
    assert_eq!(total, 42, "every encapsulation is accounted for");
    assert!(encaps.len() < 42, "session-key encapsulations were coalesced ({} records)", encaps.len());
    assert!(encaps.iter().all(|r| r["created"].as_array().unwrap().len() == 1));
    let token = encaps.iter().filter(|r| r["created"][0]["label"] == "kem-token-secret").collect::<Vec<_>>();
    assert_eq!(token.len(), 1);
    assert!(token[0]["count"].is_null() && token[0]["event"] == "key.encapsulated", "{}", token[0]);
    drop(dir);
}
