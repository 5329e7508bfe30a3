//! The `[policy]` key policy through the built module: the default profile
//! accepts what SoftHSMv2 and the ecosystem's test suites use (all-zero and
//! repeated-byte AES keys against the published vectors, RSA of 1024..8192
//! bits with any odd e, 512-bit public keys for verification), the strict
//! profile refuses them, and every knob is tested in both states (one test
//! per knob). `keyward key import` always applies the strict rules.

mod common;
use common::*;
use cryptoki::context::Pkcs11;
use cryptoki::error::RvError;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use std::ffi::CString;

/// An initialized token whose `[policy]` section carries `policy`.
fn token(policy: &str) -> Token {
    let t = blank_with(policy);
    init(&t.p11, t.slot);
    t
}

/// Runs `f` on a fresh token with `policy` and a user session, then
/// finalizes the module (one test may try several policies).
fn with_token<R>(policy: &str, f: impl FnOnce(&Token, &Session) -> R) -> R {
    let t = token(policy);
    let r = {
        let s = t.user_session();
        f(&t, &s)
    };
    finish(t);
    r
}

fn finish(t: Token) {
    let Token { dir, p11, .. } = t;
    p11.finalize().unwrap();
    drop(dir);
}

fn init(p11: &Pkcs11, slot: cryptoki::slot::Slot) {
    p11.init_token(slot, &pin(SO_PIN), "policy").unwrap();
    let so = p11.open_rw_session(slot).unwrap();
    so.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    so.init_pin(&pin(USER_PIN)).unwrap();
}

fn aes(s: &Session, value: &[u8], extra: &[Attribute]) -> cryptoki::error::Result<ObjectHandle> {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Value(value.to_vec()),
    ];
    t.extend_from_slice(extra);
    s.create_object(&t)
}

fn rsa_gen(s: &Session, bits: u64, e: &[u8]) -> cryptoki::error::Result<(ObjectHandle, ObjectHandle)> {
    rsa_gen_with(s, bits, e, &[], &[])
}

fn rsa_gen_with(
    s: &Session,
    bits: u64,
    e: &[u8],
    public: &[Attribute],
    private: &[Attribute],
) -> cryptoki::error::Result<(ObjectHandle, ObjectHandle)> {
    let mut p = vec![Attribute::ModulusBits(bits.into()), Attribute::PublicExponent(e.to_vec())];
    p.extend_from_slice(public);
    s.generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &p, private)
}

fn attr(s: &Session, h: ObjectHandle, ty: AttributeType) -> Attribute {
    s.get_attributes(h, &[ty]).unwrap().remove(0)
}

fn rsa_public(s: &Session, n: &[u8], e: &[u8]) -> cryptoki::error::Result<ObjectHandle> {
    s.create_object(&[
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::RSA),
        Attribute::Modulus(n.to_vec()),
        Attribute::PublicExponent(e.to_vec()),
        Attribute::Verify(true),
    ])
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

const F4: &[u8] = &[1, 0, 1];

// ---- fixtures made by OpenSSL 3 (a second implementation) -------------------

/// `openssl genrsa 512`: n (e = 65537), and `dgst -sha256 -sign` /
/// `dgst -sha1 -sign` of "abc".
const N512: &str = "c1105857c3cfb50dcc36b4be32148be7b4e0dc2c42fb917f9beb9351d2610f088e8f0b388a4db2a087eaa880b0e4d4b0a5282d04a8508d8019d83be2b1fa664b";
const SIG512_SHA256: &str = "47251b3c603efaa2b8d9ed60f619bae5a196d5c08f5cf436074a2d84e30d5cfaae8f49292759f4ba3eb4f7fe9866e7b5859c539f3cafa8a0b661aaf8eaa80525";
const SIG512_SHA1: &str = "66d180a4b2a7e18771cdbc267df545de9d00208246fdaf2a0d24ab1aa79324f7e1fa8fee596cd46b9256296228bcace35fb655ca7ae752f907dd52ddf4a38386";

/// `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -pkeyopt
/// rsa_keygen_pubexp:3`: its components, `dgst -sha256 -sign` of "abc",
/// and the PKCS#8 PEM.
const K1024E3: [&str; 7] = [
    "df5b36810bea640249ecf20ad7167d263dc89d6123ab7aa90a2f6c6b7a72ea143101de9880a2bfcbcfebfd97a1cabfe56fabeb19393473f2aa092f01ff8e774ee4e508a661b9eeacd853978410e370c9f728fcb249a7c99df23a7a096d3eac69cfb52ce421eee125db8829f0557b2ba2db5db42a1e071bd95e02a7b41aa084f9",
    "94e779ab5d46ed56dbf34c073a0efe197e85be40c27251c606ca4847a6f746b820abe9bb006c7fdd3547fe6516872a98f51d47662622f7f71c061f56aa5efa3359a7bdcef824c399ddd56f92d98368631fffe4f090aa32d7072ac74cb8a649a8f1b8fe336294feb248d7ca8802517bc2fe9413fb69e9289e20b64e59b27c3a43",
    "f58cdbabeeb792171c673dd7cabca0c04eee3fcda5d9747157b7cf93166164e0adc130af2cf340e6f652b58235569b0f7e0ceb689bdd1cdd45efbdd1824473cb",
    "e8dc9043fecb372eef2c324fffe1b374f83ae57bcacf08ea0fc27f8341e3d90bb75e7ee7e11c223377f1c4a21caa56eedf72aac8634c420ee701745c0ca1b9cb",
    "a3b33d1d49cfb6ba12ef7e8fdc7dc080349ed533c3e64da0e525350cb996434073d62074c8a22b44a43723ac238f120a54089cf067e8bde8d94a7e8bac2da287",
    "9b3db582a9dccf749f72cc355541224dfad1ee528734b09c0a81aa57814290b27a3eff4540bd6c224ff68316bdc6e49f3fa1c7304232d6b49a00f83d5dc12687",
    "3d4a922fca8e4b82734d295ed76dde2c6077185941cb4ddcbbc99e57258f61fa20b0394f9b2b589c4402b091da13b9de08cacf04304dff459b44009c990f8994",
];
const SIG1024E3_SHA256: &str = "83604c7732ebf5693ac6aec8e791388f26c11e0e02dd0530fa00c108fe58e4afc96daddc60a276c526f1c9ca214a91cd044dddd0be16ef54ca0321ef8d0bdfe0a3b8cae2eaec05db4a89000725ad5fcdf3e29f92461c89720a9b507638e69be25c864d981e8be64936493053af37274f096eb37582f059d55ef8720e071ccfe9";
const PEM1024E3: &str = "-----BEGIN PRIVATE KEY-----
MIICdgIBADANBgkqhkiG9w0BAQEFAASCAmAwggJcAgEAAoGBAN9bNoEL6mQCSezy
CtcWfSY9yJ1hI6t6qQovbGt6cuoUMQHemICiv8vP6/2Xocq/5W+r6xk5NHPyqgkv
Af+Od07k5QimYbnurNhTl4QQ43DJ9yj8skmnyZ3yOnoJbT6sac+1LOQh7uEl24gp
8FV7K6LbXbQqHgcb2V4Cp7QaoIT5AgEDAoGBAJTneatdRu1W2/NMBzoO/hl+hb5A
wnJRxgbKSEem90a4IKvpuwBsf901R/5lFocqmPUdR2YmIvf3HAYfVqpe+jNZp73O
+CTDmd3Vb5LZg2hjH//k8JCqMtcHKsdMuKZJqPG4/jNilP6ySNfKiAJRe8L+lBP7
aekoniC2TlmyfDpDAkEA9Yzbq+63khccZz3XyrygwE7uP82l2XRxV7fPkxZhZOCt
wTCvLPNA5vZStYI1VpsPfgzraJvdHN1F773RgkRzywJBAOjckEP+yzcu7ywyT//h
s3T4OuV7ys8I6g/Cf4NB49kLt15+5+EcIjN38cSiHKpW7t9yqshjTEIO5wF0XAyh
ucsCQQCjsz0dSc+2uhLvfo/cfcCANJ7VM8PmTaDlJTUMuZZDQHPWIHTIoitEpDcj
rCOPEgpUCJzwZ+i96NlKfousLaKHAkEAmz21gqncz3Sfcsw1VUEiTfrR7lKHNLCc
CoGqV4FCkLJ6Pv9FQL1sIk/2gxa9xuSfP6HHMEIy1rSaAPg9XcEmhwJAPUqSL8qO
S4JzTSle123eLGB3GFlBy03cu8meVyWPYfogsDlPmytYnEQCsJHaE7neCMrPBDBN
/0WbRACcmQ+JlA==
-----END PRIVATE KEY-----
";

fn import_1024_e3(s: &Session) -> cryptoki::error::Result<ObjectHandle> {
    let k: Vec<Vec<u8>> = K1024E3.iter().map(|x| h(x)).collect();
    s.create_object(&[
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::RSA),
        Attribute::Modulus(k[0].clone()),
        Attribute::PublicExponent(vec![3]),
        Attribute::PrivateExponent(k[1].clone()),
        Attribute::Prime1(k[2].clone()),
        Attribute::Prime2(k[3].clone()),
        Attribute::Exponent1(k[4].clone()),
        Attribute::Exponent2(k[5].clone()),
        Attribute::Coefficient(k[6].clone()),
    ])
}

// ---- AES keys of repeated bytes --------------------------------------------------

/// The default profile takes all-zero and repeated-byte AES keys, and they
/// give the published answers: FIPS-197/SP 800-38A AES-128(0, 0), the
/// GCM spec's test cases 1 and 2, OpenSSL's AES-128 under b"1"*16.
#[test]
fn default_takes_repeated_byte_aes_keys_with_known_answers() {
    let t = token("");
    let s = t.user_session();
    let zero = aes(&s, &[0; 16], &[]).unwrap();
    let ecb = s.encrypt(&Mechanism::AesEcb, zero, &[0; 16]).unwrap();
    assert_eq!(hex::encode(ecb), "66e94bd4ef8a2c3b884cfa59ca342b2e");
    let mut iv = [0u8; 12];
    let tc1 = s.encrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, &[], 128.into()).unwrap()), zero, &[]).unwrap();
    assert_eq!(hex::encode(tc1), "58e2fccefa7e3061367f1d57a4e7455a");
    let tc2 = s.encrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, &[], 128.into()).unwrap()), zero, &[0; 16]).unwrap();
    assert_eq!(hex::encode(tc2), "0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf");
    let ones = aes(&s, b"1111111111111111", &[]).unwrap();
    let ecb = s.encrypt(&Mechanism::AesEcb, ones, &[0; 16]).unwrap();
    assert_eq!(hex::encode(ecb), "10dfc1b5f66cfd6a1dc46d66907beeb1");
    let z256 = aes(&s, &[0; 32], &[]).unwrap();
    let ecb = s.encrypt(&Mechanism::AesEcb, z256, &[0; 16]).unwrap();
    assert_eq!(hex::encode(ecb), "dc95c078a2408989ad48a21492842087");
    // Unwrapping an all-zero key works as well.
    let kek = aes(&s, &[7; 16], &[]).unwrap();
    let x = aes(&s, &[0; 16], &[Attribute::Extractable(true)]).unwrap();
    let w = s.wrap_key(&Mechanism::AesKeyWrap, kek, x).unwrap();
    let tmpl = [Attribute::Class(ObjectClass::SECRET_KEY), Attribute::KeyType(KeyType::AES)];
    let u = s.unwrap_key(&Mechanism::AesKeyWrap, kek, &w, &tmpl).unwrap();
    assert_eq!(hex::encode(s.encrypt(&Mechanism::AesEcb, u, &[0; 16]).unwrap()), "66e94bd4ef8a2c3b884cfa59ca342b2e");
}

#[test]
fn knob_refuse_repeated_byte_keys() {
    let refused = |policy: &str| {
        with_token(policy, |_, s| {
            let r = aes(s, &[0; 16], &[]).map(|_| ()).map_err(rv);
            // The same through C_UnwrapKey (b"1"*16 wrapped by hand with a data
            // key of the same value as the unwrapping key).
            let kek: Vec<u8> = (1..=16).collect();
            let enc = aes(s, &kek, &[Attribute::Encrypt(true)]).unwrap();
            let w = s.encrypt(&Mechanism::AesKeyWrap, enc, &[0x31; 16]).unwrap();
            let unw = aes(s, &kek, &[Attribute::Unwrap(true)]).unwrap();
            let tmpl = [Attribute::Class(ObjectClass::SECRET_KEY), Attribute::KeyType(KeyType::AES)];
            let u = s.unwrap_key(&Mechanism::AesKeyWrap, unw, &w, &tmpl).map(|_| ()).map_err(rv);
            // Keys of distinct bytes always pass.
            aes(s, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], &[]).unwrap();
            (r, u)
        })
    };
    let on = (Err(RvError::AttributeValueInvalid), Err(RvError::WrappedKeyInvalid));
    assert_eq!(refused("refuse_repeated_byte_keys = true"), on);
    assert_eq!(refused("profile = \"strict\""), on);
    assert_eq!(refused("profile = \"strict\"\nrefuse_repeated_byte_keys = false"), (Ok(()), Ok(())));
}

// ---- RSA sizes and exponents -----------------------------------------------------

fn sign_verify(s: &Session, pubk: ObjectHandle, privk: ObjectHandle) {
    for m in [Mechanism::Sha256RsaPkcs, Mechanism::Sha384RsaPkcs] {
        let sig = s.sign(&m, privk, b"abc").unwrap();
        s.verify(&m, pubk, b"abc", &sig).unwrap();
        assert_eq!(rv(s.verify(&m, pubk, b"abd", &sig).unwrap_err()), RvError::SignatureInvalid);
    }
    let pss = PkcsPssParams { hash_alg: MechanismType::SHA256, mgf: PkcsMgfType::MGF1_SHA256, s_len: 32.into() };
    let sig = s.sign(&Mechanism::Sha256RsaPkcsPss(pss), privk, b"abc").unwrap();
    s.verify(&Mechanism::Sha256RsaPkcsPss(pss), pubk, b"abc", &sig).unwrap();
    let oaep = PkcsOaepParams::new(MechanismType::SHA1, PkcsMgfType::MGF1_SHA1, PkcsOaepSource::empty());
    let ct = s.encrypt(&Mechanism::RsaPkcsOaep(oaep), pubk, b"secret").unwrap();
    assert_eq!(s.decrypt(&Mechanism::RsaPkcsOaep(oaep), privk, &ct).unwrap(), b"secret");
    let ct = s.encrypt(&Mechanism::RsaPkcs, pubk, b"v1.5").unwrap();
    assert_eq!(s.decrypt(&Mechanism::RsaPkcs, privk, &ct).unwrap(), b"v1.5");
}

/// The sizes test suites use, from the advertised minimum (in steps of 128
/// bits); 8192, the advertised maximum, in its own test (slow in debug).
#[test]
fn default_generates_rsa_1024_to_4096() {
    let t = token("");
    let s = t.user_session();
    let info = t.p11.get_mechanism_info(t.slot, MechanismType::RSA_PKCS_KEY_PAIR_GEN).unwrap();
    assert_eq!((info.min_key_size(), info.max_key_size()), (1024, 8192));
    for bits in [1024u64, 1536, 2048, 2560, 3072, 4096] {
        let (pubk, privk) = rsa_gen(&s, bits, F4).unwrap_or_else(|e| panic!("{bits}: {e}"));
        assert_eq!(attr(&s, pubk, AttributeType::ModulusBits), Attribute::ModulusBits(bits.into()));
        match attr(&s, privk, AttributeType::Modulus) {
            Attribute::Modulus(n) => assert_eq!(n.len() * 8, bits as usize),
            a => panic!("{a:?}"),
        }
        sign_verify(&s, pubk, privk);
    }
    // Sizes the engine cannot make, and below the minimum.
    for bits in [1000u64, 2047, 768, 16384] {
        assert_eq!(rv(rsa_gen(&s, bits, F4).unwrap_err()), RvError::KeySizeRange, "{bits}");
    }
}

#[test]
fn default_takes_any_odd_exponent() {
    let t = token("");
    let s = t.user_session();
    for (bits, e) in [(1024u64, &[3u8][..]), (2048, &[1, 0, 0, 1][..]), (1536, &[0x11])] {
        let (pubk, privk) = rsa_gen(&s, bits, e).unwrap_or_else(|x| panic!("{bits} {e:?}: {x}"));
        assert_eq!(attr(&s, pubk, AttributeType::PublicExponent), Attribute::PublicExponent(e.to_vec()));
        sign_verify(&s, pubk, privk);
    }
    for e in [&[4u8][..], &[1], &[1, 0, 0, 0, 1]] {
        assert_eq!(rv(rsa_gen(&s, 2048, e).unwrap_err()), RvError::TemplateInconsistent, "{e:?}");
    }
    // An e = 3 key made by OpenSSL: imported, its signature verifies, it signs.
    let privk = import_1024_e3(&s).unwrap();
    let pubk = rsa_public(&s, &h(K1024E3[0]), &[3]).unwrap();
    s.verify(&Mechanism::Sha256RsaPkcs, pubk, b"abc", &h(SIG1024E3_SHA256)).unwrap();
    assert_eq!(s.sign(&Mechanism::Sha256RsaPkcs, privk, b"abc").unwrap(), h(SIG1024E3_SHA256));
}

#[test]
fn strict_refuses_small_rsa_and_other_exponents() {
    let t = token("profile = \"strict\"");
    let s = t.user_session();
    let info = t.p11.get_mechanism_info(t.slot, MechanismType::RSA_PKCS_KEY_PAIR_GEN).unwrap();
    assert_eq!(info.min_key_size(), 2048);
    assert_eq!(rv(rsa_gen(&s, 1024, F4).unwrap_err()), RvError::KeySizeRange);
    assert_eq!(rv(rsa_gen(&s, 2048, &[3]).unwrap_err()), RvError::TemplateInconsistent);
    assert_eq!(rv(import_1024_e3(&s).unwrap_err()), RvError::KeySizeRange);
    assert_eq!(rv(rsa_public(&s, &h(N512), F4).unwrap_err()), RvError::KeySizeRange);
    let (pubk, privk) = rsa_gen(&s, 2048, F4).unwrap();
    let sig = s.sign(&Mechanism::Sha256RsaPkcs, privk, b"abc").unwrap();
    s.verify(&Mechanism::Sha256RsaPkcs, pubk, b"abc", &sig).unwrap();
}

#[test]
fn knob_min_rsa_bits() {
    // Raised on the default profile: 1024-bit generation and import refused.
    let t = token("min_rsa_bits = 2048");
    let s = t.user_session();
    assert_eq!(rv(rsa_gen(&s, 1024, F4).unwrap_err()), RvError::KeySizeRange);
    assert_eq!(rv(import_1024_e3(&s).unwrap_err()), RvError::KeySizeRange);
    let info = t.p11.get_mechanism_info(t.slot, MechanismType::RSA_PKCS_OAEP).unwrap();
    assert_eq!(info.min_key_size(), 2048);
    rsa_gen(&s, 2048, F4).unwrap();
    drop(s);
    finish(t);
    // Lowered on the strict profile: 1024-bit keys are generated and used.
    let t = token("profile = \"strict\"\nmin_rsa_bits = 1024");
    let s = t.user_session();
    let info = t.p11.get_mechanism_info(t.slot, MechanismType::RSA_PKCS_KEY_PAIR_GEN).unwrap();
    assert_eq!(info.min_key_size(), 1024);
    let (pubk, privk) = rsa_gen(&s, 1024, F4).unwrap();
    let sig = s.sign(&Mechanism::Sha256RsaPkcs, privk, b"abc").unwrap();
    s.verify(&Mechanism::Sha256RsaPkcs, pubk, b"abc", &sig).unwrap();
}

/// A 512-bit public key taken from a certificate verifies on the default
/// profile (but encrypts nothing: that needs min_rsa_bits).
#[test]
fn knob_min_rsa_verify_bits() {
    let verifies = |policy: &str| -> Result<(), RvError> {
        with_token(policy, |t, s| {
            let k = rsa_public(s, &h(N512), F4).map_err(rv)?;
            s.verify(&Mechanism::Sha256RsaPkcs, k, b"abc", &h(SIG512_SHA256)).unwrap();
            s.verify(&Mechanism::Sha1RsaPkcs, k, b"abc", &h(SIG512_SHA1)).unwrap();
            let bad = s.verify(&Mechanism::Sha256RsaPkcs, k, b"abd", &h(SIG512_SHA256)).unwrap_err();
            assert_eq!(rv(bad), RvError::SignatureInvalid);
            assert_eq!(rv(s.encrypt(&Mechanism::RsaPkcs, k, b"x").unwrap_err()), RvError::KeySizeRange);
            let info = t.p11.get_mechanism_info(t.slot, MechanismType::SHA256_RSA_PKCS).unwrap();
            assert_eq!(info.min_key_size(), 512);
            Ok(())
        })
    };
    assert_eq!(verifies(""), Ok(()));
    assert_eq!(verifies("min_rsa_verify_bits = 1024"), Err(RvError::KeySizeRange));
    assert_eq!(verifies("profile = \"strict\""), Err(RvError::KeySizeRange));
    assert_eq!(verifies("profile = \"strict\"\nmin_rsa_verify_bits = 512"), Ok(()));
}

#[test]
fn knob_rsa_public_exponent() {
    let t = token("rsa_public_exponent = \"65537\"");
    let s = t.user_session();
    assert_eq!(rv(rsa_gen(&s, 1024, &[3]).unwrap_err()), RvError::TemplateInconsistent);
    assert_eq!(rv(import_1024_e3(&s).unwrap_err()), RvError::TemplateInconsistent);
    assert_eq!(rv(rsa_public(&s, &h(K1024E3[0]), &[3]).unwrap_err()), RvError::TemplateInconsistent);
    rsa_gen(&s, 1024, F4).unwrap();
    drop(s);
    finish(t);
    let t = token("profile = \"strict\"\nrsa_public_exponent = \"any-odd\"");
    let s = t.user_session();
    let (pubk, privk) = rsa_gen(&s, 2048, &[3]).unwrap();
    sign_verify(&s, pubk, privk);
}

// ---- SHA-1 signatures ------------------------------------------------------------

#[test]
fn knob_allow_sha1_signatures() {
    const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    // (sign allowed, advertised CKF_SIGN) for a policy.
    let sha1 = |policy: &str| -> (bool, bool) {
        with_token(policy, |t, s| {
            let (pubk, privk) = rsa_gen(s, 2048, F4).unwrap();
            let r = s.sign(&Mechanism::Sha1RsaPkcs, privk, b"abc");
            let pss = PkcsPssParams { hash_alg: MechanismType::SHA1, mgf: PkcsMgfType::MGF1_SHA1, s_len: 20.into() };
            let r_pss = s.sign(&Mechanism::Sha1RsaPkcsPss(pss), privk, b"abc");
            let d = [0x11u8; 20];
            let r_raw_pss = s.sign(&Mechanism::RsaPkcsPss(pss), privk, &d);
            let (_, ec) =
                s.generate_key_pair(&Mechanism::EccKeyPairGen, &[Attribute::EcParams(P256.to_vec())], &[]).unwrap();
            let r_ec = s.sign(&Mechanism::EcdsaSha1, ec, b"abc");
            let allowed = r.is_ok();
            assert_eq!([r_pss.is_ok(), r_raw_pss.is_ok(), r_ec.is_ok()], [allowed; 3]);
            if allowed {
                s.verify(&Mechanism::Sha1RsaPkcs, pubk, b"abc", &r.unwrap()).unwrap();
            } else {
                assert_eq!(rv(r.unwrap_err()), RvError::MechanismInvalid);
                assert_eq!(rv(r_raw_pss.unwrap_err()), RvError::MechanismParamInvalid);
                // SHA-1 verification stays: an OpenSSL signature.
                let k = rsa_public(s, &h(N512), F4);
                if let Ok(k) = k {
                    s.verify(&Mechanism::Sha1RsaPkcs, k, b"abc", &h(SIG512_SHA1)).unwrap();
                }
            }
            // SHA-256 signing is never affected.
            s.sign(&Mechanism::Sha256RsaPkcs, privk, b"abc").unwrap();
            let info = t.p11.get_mechanism_info(t.slot, MechanismType::SHA1_RSA_PKCS).unwrap();
            assert!(info.verify());
            (allowed, info.sign())
        })
    };
    assert_eq!(sha1(""), (true, true));
    assert_eq!(sha1("allow_sha1_signatures = false"), (false, false));
    assert_eq!(sha1("profile = \"strict\""), (false, false));
    assert_eq!(sha1("profile = \"strict\"\nallow_sha1_signatures = true"), (true, true));
}

// ---- wrap/decrypt confusion ------------------------------------------------------

/// The classic attack on a key that may both wrap and decrypt: wrap a
/// sensitive key, then decrypt the blob. Returns the recovered bytes, or
/// the first refusal.
fn wrap_then_decrypt(s: &Session, w: ObjectHandle) -> Result<Vec<u8>, RvError> {
    let secret: Vec<u8> = (0x40..0x60).collect();
    let k = aes(s, &secret, &[Attribute::Extractable(true), Attribute::Sensitive(true)]).unwrap();
    let blob = s.wrap_key(&Mechanism::AesKeyWrap, w, k).map_err(rv)?;
    s.decrypt(&Mechanism::AesKeyWrap, w, &blob).map_err(rv)
}

fn flag(s: &Session, h: ObjectHandle, ty: AttributeType) -> bool {
    match attr(s, h, ty) {
        Attribute::Encrypt(b) | Attribute::Decrypt(b) | Attribute::Wrap(b) | Attribute::Unwrap(b) => b,
        a => panic!("{a:?}"),
    }
}

fn usage(s: &Session, h: ObjectHandle) -> [bool; 4] {
    [AttributeType::Encrypt, AttributeType::Decrypt, AttributeType::Wrap, AttributeType::Unwrap].map(|t| flag(s, h, t))
}

#[test]
fn knob_allow_wrap_decrypt_keys() {
    let both = [Attribute::Wrap(true), Attribute::Decrypt(true), Attribute::ValueLen(16.into())];
    // Default: spec-compatible, so the attack works.
    let t = token("");
    let s = t.user_session();
    let w = s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(16.into())]).unwrap();
    assert_eq!(usage(&s, w), [true; 4]);
    assert_eq!(wrap_then_decrypt(&s, w), Ok((0x40..0x60).collect()));
    drop(s);
    finish(t);

    let t = token("allow_wrap_decrypt_keys = false");
    let s = t.user_session();
    // An explicit wrap+decrypt (or unwrap+encrypt) key is refused.
    assert_eq!(rv(s.generate_key(&Mechanism::AesKeyGen, &both).unwrap_err()), RvError::TemplateInconsistent);
    let ue = [Attribute::Unwrap(true), Attribute::Encrypt(true)];
    assert_eq!(rv(aes(&s, &[9; 16], &ue).unwrap_err()), RvError::TemplateInconsistent);
    // Defaults settle on one role: data by default, wrapping if asked.
    let data = s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(16.into())]).unwrap();
    assert_eq!(usage(&s, data), [true, true, false, false]);
    let kek = s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(16.into()), Attribute::Wrap(true)]).unwrap();
    assert_eq!(usage(&s, kek), [false, false, true, true]);
    assert_eq!(wrap_then_decrypt(&s, kek), Err(RvError::KeyFunctionNotPermitted));
    // Turning decryption on later is refused too; other changes are not.
    let on = s.update_attributes(kek, &[Attribute::Decrypt(true)]).unwrap_err();
    assert_eq!(rv(on), RvError::TemplateInconsistent);
    s.update_attributes(kek, &[Attribute::Label(b"kek".to_vec())]).unwrap();
    // A key pair is one key: a wrapping public half makes a non-decrypting
    // private half, and asking for both is refused.
    let (p, v) = rsa_gen_with(&s, 2048, F4, &[Attribute::Wrap(true)], &[]).unwrap();
    assert_eq!((flag(&s, p, AttributeType::Encrypt), flag(&s, v, AttributeType::Decrypt)), (false, false));
    assert!(flag(&s, v, AttributeType::Unwrap));
    let r = rsa_gen_with(&s, 2048, F4, &[Attribute::Wrap(true)], &[Attribute::Decrypt(true)]);
    assert_eq!(rv(r.unwrap_err()), RvError::TemplateInconsistent);
    // The knob back on under strict: the attack works again.
    drop(s);
    finish(t);
    let t = token("profile = \"strict\"\nallow_wrap_decrypt_keys = true");
    let s = t.user_session();
    let w = s.generate_key(&Mechanism::AesKeyGen, &both).unwrap();
    assert_eq!(wrap_then_decrypt(&s, w), Ok((0x40..0x60).collect()));
}

/// Tightening the policy of an existing token applies to the keys already
/// in it: a wrap+decrypt token key made under the default profile is
/// refused for both uses once the token runs strict.
#[test]
fn strict_applies_to_keys_made_before() {
    let t = token("");
    let s = t.user_session();
    let w = s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(16.into()), Attribute::Token(true)]).unwrap();
    let (_, v) = rsa_gen_with(&s, 1024, &[3], &[Attribute::Token(true)], &[Attribute::Token(true)]).unwrap();
    drop(s);
    let Token { dir, p11, slot, .. } = t;
    p11.finalize().unwrap();
    let conf = write_config(dir.path(), "profile = \"strict\"");
    let p11 = load(&CString::new(conf.display().to_string()).unwrap());
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    // A new C_Initialize: private objects are found again (handles of
    // private objects are valid in the login they were handed out in).
    let only = |c| {
        let found = s.find_objects(&[Attribute::Class(c)]).unwrap();
        assert_eq!(found.len(), 1);
        found[0]
    };
    assert_eq!((only(ObjectClass::SECRET_KEY), only(ObjectClass::PRIVATE_KEY)), (w, v), "handles are row ids");
    assert_eq!(wrap_then_decrypt(&s, w), Err(RvError::KeyFunctionNotPermitted));
    assert_eq!(rv(s.encrypt(&Mechanism::AesEcb, w, &[0; 16]).unwrap_err()), RvError::KeyFunctionNotPermitted);
    assert_eq!(rv(s.sign(&Mechanism::Sha256RsaPkcs, v, b"abc").unwrap_err()), RvError::KeySizeRange);
}

#[test]
fn knob_allow_raw_rsa_sign_decrypt() {
    let raw = |policy: &str| -> (Result<(), RvError>, Result<(), RvError>) {
        with_token(policy, |_, s| {
            let (p, v) = rsa_gen(s, 2048, F4).unwrap();
            let block = [0x42u8; 256];
            let ct = s.encrypt(&Mechanism::RsaX509, p, &block).unwrap();
            let dec = s.decrypt(&Mechanism::RsaX509, v, &ct).map(|pt| assert_eq!(pt, block)).map_err(rv);
            let sig = s.sign(&Mechanism::RsaX509, v, &block).map(|_| ()).map_err(rv);
            // A private key that only decrypts may always use raw RSA.
            let (p2, v2) = rsa_gen_with(s, 2048, F4, &[], &[Attribute::Sign(false)]).unwrap();
            let ct = s.encrypt(&Mechanism::RsaX509, p2, &block).unwrap();
            assert_eq!(s.decrypt(&Mechanism::RsaX509, v2, &ct).unwrap(), block);
            (dec, sig)
        })
    };
    let refused = (Err(RvError::KeyFunctionNotPermitted), Err(RvError::KeyFunctionNotPermitted));
    assert_eq!(raw(""), (Ok(()), Ok(())));
    assert_eq!(raw("allow_raw_rsa_sign_decrypt = false"), refused);
    assert_eq!(raw("profile = \"strict\""), refused);
    assert_eq!(raw("profile = \"strict\"\nallow_raw_rsa_sign_decrypt = true"), (Ok(()), Ok(())));
}

#[test]
fn default_generates_rsa_8192() {
    with_token("", |_, s| {
        let (pubk, privk) = rsa_gen(s, 8192, F4).unwrap();
        assert_eq!(attr(s, pubk, AttributeType::ModulusBits), Attribute::ModulusBits(8192.into()));
        sign_verify(s, pubk, privk);
    })
}

// ---- per slot, and C_GetMechanismInfo --------------------------------------------

#[test]
fn profile_per_slot_and_advertised_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("keyward.toml");
    std::fs::write(
        &conf,
        format!(
            "[policy]\npbkdf2_iterations = 1000\n[[slot]]\npath = \"{}\"\n[[slot]]\npath = \"{}\"\n[slot.policy]\nprofile = \"strict\"\n",
            dir.path().join("a").display(),
            dir.path().join("b").display()
        ),
    )
    .unwrap();
    let p11 = load(&CString::new(conf.display().to_string()).unwrap());
    let slots = p11.get_all_slots().unwrap();
    let info = |slot, m| p11.get_mechanism_info(slot, m).unwrap();
    let mins = |slot| {
        [MechanismType::RSA_PKCS_KEY_PAIR_GEN, MechanismType::SHA256_RSA_PKCS, MechanismType::RSA_PKCS_OAEP]
            .map(|m| info(slot, m).min_key_size())
    };
    assert_eq!(mins(slots[0]), [1024, 512, 1024]);
    assert_eq!(mins(slots[1]), [2048, 2048, 2048]);
    assert!(info(slots[0], MechanismType::ECDSA_SHA1).sign());
    assert!(!info(slots[1], MechanismType::ECDSA_SHA1).sign());
    for (slot, want) in [(slots[0], None), (slots[1], Some(RvError::KeySizeRange))] {
        init(&p11, slot);
        let s = p11.open_rw_session(slot).unwrap();
        s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
        assert_eq!(rsa_gen(&s, 1024, F4).err().map(rv), want);
    }
}

// ---- keyward key import -----------------------------------------------------------

/// The KMS import path (control C04) applies the strict rules on a
/// default-profile token and names the rule; C_CreateObject of the same
/// keys on the same token succeeds.
#[test]
fn kms_import_is_always_strict() {
    let t = token("");
    let file = |name: &str, data: &[u8]| {
        let p = t.dir.path().join(name);
        std::fs::write(&p, data).unwrap();
        p.display().to_string()
    };
    let (ok, out) = cli(&t, &["key", "import", "small", "--file", &file("k.pem", PEM1024E3.as_bytes())]);
    assert!(!ok, "{out}");
    assert!(out.contains("min_rsa_bits") && out.contains("CKR_KEY_SIZE_RANGE"), "{out}");
    let (ok, out) = cli(&t, &["key", "import", "zero", "--file", &file("zero.key", &[0; 32])]);
    assert!(!ok, "{out}");
    assert!(out.contains("refuse_repeated_byte_keys"), "{out}");
    let good: Vec<u8> = (1..=32).collect();
    let (ok, out) = cli(&t, &["key", "import", "good", "--file", &file("good.key", &good)]);
    assert!(ok, "{out}");
    // The imported key is a data key (strict key separation).
    let s = t.user_session();
    let k = s.find_objects(&[Attribute::Label(b"good".to_vec())]).unwrap();
    assert_eq!(usage(&s, k[0]), [true, true, false, false]);
    // The module itself, on its default profile, takes both.
    import_1024_e3(&s).unwrap();
    aes(&s, &[0; 32], &[]).unwrap();
}
