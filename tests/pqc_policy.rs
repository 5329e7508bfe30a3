//! `[policy] require_post_quantum`: a token whose new key pairs and private
//! keys must be ML-DSA or ML-KEM, through the C ABI and the CLI. Classical
//! keys made before the switch still sign, verify and decrypt (none is
//! stranded); classical generation is CKR_MECHANISM_INVALID (and not
//! advertised), a classical private-key import CKR_TEMPLATE_INCONSISTENT;
//! classical public keys and secret keys still enter. With the strict
//! profile it composes; with `allow_ml_dsa = false` the config is refused
//! at load with a message naming both knobs.

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::dsa::{HedgeType, SignAdditionalContext};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{
    Attribute, AttributeType, KeyType, MlDsaParameterSetType, MlKemParameterSetType, ObjectClass, ObjectHandle,
};
use cryptoki::session::{Session, UserType};
use std::ffi::CString;
use std::process::Command;

const P256_OID: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

fn cli(conf: &CString, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .env("KEYWARD_CONF", conf.to_str().unwrap())
        .env("KEYWARD_PIN", USER_PIN)
        .env_remove("KEYWARD_TEST_NOW")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn oaep() -> Mechanism<'static> {
    Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
        MechanismType::SHA256,
        PkcsMgfType::MGF1_SHA256,
        PkcsOaepSource::empty(),
    ))
}

fn rsa_pair(
    s: &Session,
    usage: &[Attribute],
    private_usage: &[Attribute],
) -> Result<(ObjectHandle, ObjectHandle), RvError> {
    let mut p =
        vec![Attribute::Token(true), Attribute::ModulusBits(2048.into()), Attribute::PublicExponent(vec![1, 0, 1])];
    p.extend_from_slice(usage);
    let mut v = vec![Attribute::Token(true)];
    v.extend_from_slice(private_usage);
    s.generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &p, &v).map_err(rv)
}

fn ec_pair(s: &Session) -> Result<(ObjectHandle, ObjectHandle), RvError> {
    s.generate_key_pair(
        &Mechanism::EccKeyPairGen,
        &[Attribute::Token(true), Attribute::EcParams(P256_OID.to_vec()), Attribute::Verify(true)],
        &[Attribute::Token(true), Attribute::Sign(true), Attribute::Extractable(true), Attribute::Sensitive(false)],
    )
    .map_err(rv)
}

fn value(s: &Session, h: ObjectHandle, ty: AttributeType) -> Vec<u8> {
    match s.get_attributes(h, &[ty]).unwrap().remove(0) {
        Attribute::Value(v) | Attribute::EcPoint(v) | Attribute::EcParams(v) => v,
        a => panic!("{a:?}"),
    }
}

#[test]
fn require_post_quantum_keeps_classical_keys_working_and_refuses_new_ones() {
    // Before: a default token with classical keys in it.
    let t = initialized();
    let s = t.user_session();
    let (rsa_pub, rsa_priv) = rsa_pair(&s, &[Attribute::Verify(true)], &[Attribute::Sign(true)]).unwrap();
    let (enc_pub, enc_priv) = rsa_pair(
        &s,
        &[Attribute::Encrypt(true), Attribute::Wrap(false)],
        &[Attribute::Decrypt(true), Attribute::Unwrap(false)],
    )
    .unwrap();
    let (ec_pub, ec_priv) = ec_pair(&s).unwrap();
    let old_sig = s.sign(&Mechanism::Sha256RsaPkcs, rsa_priv, b"old").unwrap();
    let ct = s.encrypt(&oaep(), enc_pub, b"secret").unwrap();
    let ec_d = value(&s, ec_priv, AttributeType::Value);
    let ec_point = value(&s, ec_pub, AttributeType::EcPoint);
    drop(s);
    let (ok, out) = cli(&t.conf, &["key", "create", "old-ec", "--type", "p256"]);
    assert!(ok, "{out}");
    let Token { dir, p11, slot, .. } = t;
    p11.finalize().unwrap();

    // After: strict + require_post_quantum, on the same token.
    let conf = write_config(dir.path(), "profile = \"strict\"\nrequire_post_quantum = true");
    let conf = CString::new(conf.display().to_string()).unwrap();
    let p11 = load(&conf);
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();

    // Existing classical keys: verify, decrypt and sign as before.
    s.verify(&Mechanism::Sha256RsaPkcs, rsa_pub, b"old", &old_sig).unwrap();
    assert_eq!(s.decrypt(&oaep(), enc_priv, &ct).unwrap(), b"secret");
    let sig = s.sign(&Mechanism::Sha256RsaPkcs, rsa_priv, b"new").unwrap();
    s.verify(&Mechanism::Sha256RsaPkcs, rsa_pub, b"new", &sig).unwrap();
    let sig = s.sign(&Mechanism::EcdsaSha256, ec_priv, b"m").unwrap();
    s.verify(&Mechanism::EcdsaSha256, ec_pub, b"m", &sig).unwrap();

    // New classical key pairs: refused before the engine runs, and not advertised.
    let gen_refused = Err(RvError::MechanismInvalid);
    assert_eq!(rsa_pair(&s, &[Attribute::Verify(true)], &[Attribute::Sign(true)]).map(|_| ()), gen_refused);
    assert_eq!(ec_pair(&s).map(|_| ()), gen_refused);
    let ed =
        s.generate_key_pair(&Mechanism::EccEdwardsKeyPairGen, &[Attribute::EcParams(b"edwards25519".to_vec())], &[]);
    assert_eq!(ed.map(|_| ()).map_err(rv), gen_refused);
    for m in [MechanismType::RSA_PKCS_KEY_PAIR_GEN, MechanismType::ECC_KEY_PAIR_GEN] {
        let info = p11.get_mechanism_info(slot, m).unwrap();
        assert!(!info.generate_key_pair(), "{m}");
    }
    assert!(p11.get_mechanism_info(slot, MechanismType::ML_DSA_KEY_PAIR_GEN).unwrap().generate_key_pair());
    assert!(p11.get_mechanism_info(slot, MechanismType::RSA_PKCS).unwrap().decrypt());

    // A classical private key imported (C_CreateObject): refused; its public
    // key imported to verify with: accepted.
    let imported = s.create_object(&[
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::EC),
        Attribute::EcParams(P256_OID.to_vec()),
        Attribute::Value(ec_d),
        Attribute::Sign(true),
    ]);
    assert_eq!(rv(imported.unwrap_err()), RvError::TemplateInconsistent);
    // C_CopyObject makes a new private key object too.
    assert_eq!(rv(s.copy_object(ec_priv, &[]).unwrap_err()), RvError::TemplateInconsistent);
    let p = s
        .create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::EcParams(P256_OID.to_vec()),
            Attribute::EcPoint(ec_point),
            Attribute::Verify(true),
        ])
        .unwrap();
    s.verify(&Mechanism::EcdsaSha256, p, b"m", &sig).unwrap();

    // Post-quantum pairs and secret keys: made as usual.
    let (dp, dv) = s
        .generate_key_pair(
            &Mechanism::MlDsaKeyPairGen,
            &[Attribute::ParameterSet(MlDsaParameterSetType::ML_DSA_65.into()), Attribute::Verify(true)],
            &[Attribute::Sign(true)],
        )
        .unwrap();
    let m = Mechanism::MlDsa(SignAdditionalContext::new(HedgeType::Required, Some(b"ctx")));
    let sig = s.sign(&m, dv, b"m").unwrap();
    s.verify(&m, dp, b"m", &sig).unwrap();
    s.generate_key_pair(
        &Mechanism::MlKemKeyPairGen,
        &[Attribute::ParameterSet(MlKemParameterSetType::ML_KEM_768.into())],
        &[],
    )
    .unwrap();
    s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(32.into())]).unwrap();
    drop(s);

    // The CLI: classical key types refused with the rule named, ML-DSA made.
    let (ok, out) = cli(&conf, &["key", "create", "classic", "--type", "rsa2048"]);
    assert!(!ok && out.contains("require_post_quantum"), "{out}");
    let (ok, out) = cli(&conf, &["key", "create", "ec", "--type", "p256"]);
    assert!(!ok && out.contains("require_post_quantum"), "{out}");
    let (ok, out) = cli(&conf, &["key", "create", "pq", "--type", "ml-dsa-87"]);
    assert!(ok && out.contains("created pq (ml-dsa-87)"), "{out}");
    // Rotating a classical key would make a classical pair: refused, and
    // the key is still there to verify with.
    let (ok, out) = cli(&conf, &["key", "rotate", "old-ec"]);
    assert!(!ok && out.contains("require_post_quantum"), "{out}");
    let (ok, out) = cli(&conf, &["key", "show", "old-ec"]);
    assert!(ok && out.contains("p256"), "{out}");
    p11.finalize().unwrap();
    drop(dir);
}

#[test]
fn require_post_quantum_with_a_family_forbidden_is_refused_at_load() {
    for off in ["allow_ml_dsa", "allow_ml_kem"] {
        let dir = tempfile::tempdir().unwrap();
        let conf = write_config(dir.path(), &format!("require_post_quantum = true\n{off} = false"));
        let conf = CString::new(conf.display().to_string()).unwrap();
        let p11 = cryptoki::context::Pkcs11::new(module_path()).unwrap();
        assert!(p11.initialize(init_args(&conf)).is_err(), "{off}");
        let (ok, out) = cli(&conf, &["key", "list"]);
        assert!(!ok && out.contains("require_post_quantum") && out.contains(off), "{out}");
    }
}
