//! AES through the built module with published vectors: NIST SP 800-38A
//! (ECB, CBC, CTR), the GCM spec's test cases 3 and 4, RFC 3394 and RFC 5649
//! key wrap; multi-part operations; tag failures; digests; random.

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

/// CK_AES_CTR_PARAMS (cryptoki has no CTR mechanism variant).
#[repr(C)]
struct CtrParams {
    bits: std::ffi::c_ulong,
    cb: [u8; 16],
}

fn ctr_mech(p: &CtrParams) -> Mechanism<'_> {
    Mechanism::VendorDefined(cryptoki::mechanism::vendor_defined::VendorDefinedMechanism::new(
        MechanismType::AES_CTR,
        Some(p),
    ))
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

fn key(s: &Session, value: &[u8]) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Value(value.to_vec()),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Wrap(true),
        Attribute::Unwrap(true),
    ])
    .unwrap()
}

const P: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51 30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";
const K128: &str = "2b7e151628aed2a6abf7158809cf4f3c";
const K256: &str = "603deb1015ca71be2b73aef0857d7781 1f352c073b6108d72d9810a30914dff4";

fn both_ways(s: &Session, k: ObjectHandle, m: &Mechanism, plain: &[u8], cipher: &[u8]) {
    assert_eq!(s.encrypt(m, k, plain).unwrap(), cipher, "encrypt {m:?}");
    assert_eq!(s.decrypt(m, k, cipher).unwrap(), plain, "decrypt {m:?}");
}

#[test]
fn nist_sp800_38a_vectors() {
    let t = initialized();
    let s = t.user_session();
    let k128 = key(&s, &h(K128));
    let k256 = key(&s, &h(K256));
    let p = h(P);
    both_ways(
        &s,
        k128,
        &Mechanism::AesEcb,
        &p,
        &h(
            "3ad77bb40d7a3660a89ecaf32466ef97 f5d3d58503b9699de785895a96fdbaaf 43b1cd7f598ece23881b00e3ed030688 7b0c785e27e8ad3f8223207104725dd4",
        ),
    );
    both_ways(
        &s,
        k256,
        &Mechanism::AesEcb,
        &p,
        &h(
            "f3eed1bdb5d2a03c064b5a7e3db181f8 591ccb10d410ed26dc5ba74a31362870 b6ed21b99ca6f4f9f153e7b1beafed1d 23304b7a39f9f3ff067d8d8f9e24ecc7",
        ),
    );
    let iv: [u8; 16] = h("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
    both_ways(
        &s,
        k128,
        &Mechanism::AesCbc(iv),
        &p,
        &h(
            "7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2 73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7",
        ),
    );
    both_ways(
        &s,
        k256,
        &Mechanism::AesCbc(iv),
        &p,
        &h(
            "f58c4c04d6e5f1ba779eabfb5f7bfbd6 9cfc4e967edb808d679f777bc6702c7d 39f23369a9d9bacfa530e26304231461 b2eb05e2c39be9fcda6c19078c6a9d1b",
        ),
    );
    let ctr: [u8; 16] = h("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff").try_into().unwrap();
    both_ways(
        &s,
        k128,
        &ctr_mech(&CtrParams { bits: 128, cb: ctr }),
        &p,
        &h(
            "874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff 5ae4df3edbd5d35e5b4f09020db03eab 1e031dda2fbe03d1792170a0f3009cee",
        ),
    );
    both_ways(
        &s,
        k256,
        &ctr_mech(&CtrParams { bits: 128, cb: ctr }),
        &p,
        &h(
            "601ec313775789a5b7a7f504bbf3d228 f443e3ca4d62b59aca84e990cacaf5c5 2b0930daa23de94ce87017ba2d84988d dfc9c58db67aada613c2dd08457941a6",
        ),
    );
}

const GCM_K: &str = "feffe9928665731c6d6a8f9467308308";
const GCM_P: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
const GCM_C: &str = "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985";

#[test]
fn gcm_spec_test_cases_3_and_4() {
    let t = initialized();
    let s = t.user_session();
    let k = key(&s, &h(GCM_K));
    let mut iv = h("cafebabefacedbaddecaf888");
    // Test case 3: no AAD.
    let out = s.encrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, &[], 128.into()).unwrap()), k, &h(GCM_P)).unwrap();
    assert_eq!(out, [h(GCM_C), h("4d5c2af327cd64a62cf35abd2ba6fab4")].concat());
    // Test case 4: AAD, 60-byte plaintext.
    let aad = h("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let p4 = &h(GCM_P)[..60];
    let expect = [h(&GCM_C[..120]), h("5bc94fbc3221a5db94fae95ae7121a47")].concat();
    let out = s.encrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, &aad, 128.into()).unwrap()), k, p4).unwrap();
    assert_eq!(out, expect);
    let back = s.decrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, &aad, 128.into()).unwrap()), k, &expect).unwrap();
    assert_eq!(back, p4);
    // A 96-bit tag is the truncated 128-bit one.
    let out = s.encrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, &aad, 96.into()).unwrap()), k, p4).unwrap();
    assert_eq!(out, expect[..expect.len() - 4]);
}

#[test]
fn gcm_tag_failure_is_encrypted_data_invalid() {
    let t = initialized();
    let s = t.user_session();
    let k = key(&s, &h(GCM_K));
    let mut iv = h("cafebabefacedbaddecaf888");
    let mut ct = s
        .encrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, b"aad", 128.into()).unwrap()), k, b"secret message")
        .unwrap();
    let last = ct.len() - 1;
    ct[last] ^= 1;
    let e = s.decrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, b"aad", 128.into()).unwrap()), k, &ct).unwrap_err();
    assert_eq!(rv(e), RvError::EncryptedDataInvalid);
    ct[last] ^= 1;
    let e =
        s.decrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, b"other aad", 128.into()).unwrap()), k, &ct).unwrap_err();
    assert_eq!(rv(e), RvError::EncryptedDataInvalid);
    // A bad tag length is a parameter error.
    let e = s.encrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, b"", 64.into()).unwrap()), k, b"x").unwrap_err();
    assert_eq!(rv(e), RvError::MechanismParamInvalid);
}

#[test]
fn multi_part_matches_single_part() {
    let t = initialized();
    let s = t.user_session();
    let k = key(&s, &h(K256));
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    let iv = [9u8; 16];
    let ctr64 = CtrParams { bits: 64, cb: iv };
    for m in [Mechanism::AesCbcPad(iv), ctr_mech(&ctr64)] {
        let one = s.encrypt(&m, k, &data).unwrap();
        s.encrypt_init(&m, k).unwrap();
        let mut multi = Vec::new();
        for chunk in data.chunks(77) {
            multi.extend(s.encrypt_update(chunk).unwrap());
        }
        multi.extend(s.encrypt_final().unwrap());
        assert_eq!(one, multi, "{m:?}");
        s.decrypt_init(&m, k).unwrap();
        let mut back = Vec::new();
        for chunk in multi.chunks(33) {
            back.extend(s.decrypt_update(chunk).unwrap());
        }
        back.extend(s.decrypt_final().unwrap());
        assert_eq!(back, data, "{m:?}");
    }
    // GCM multi-part too.
    let mut iv12 = vec![3u8; 12];
    let one = s.encrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv12, b"a", 128.into()).unwrap()), k, &data).unwrap();
    s.encrypt_init(&Mechanism::AesGcm(GcmParams::new(&mut iv12, b"a", 128.into()).unwrap()), k).unwrap();
    let mut multi = Vec::new();
    for chunk in data.chunks(100) {
        multi.extend(s.encrypt_update(chunk).unwrap());
    }
    multi.extend(s.encrypt_final().unwrap());
    assert_eq!(one, multi);
    s.decrypt_init(&Mechanism::AesGcm(GcmParams::new(&mut iv12, b"a", 128.into()).unwrap()), k).unwrap();
    let mut back = s.decrypt_update(&multi[..500]).unwrap();
    back.extend(s.decrypt_update(&multi[500..]).unwrap());
    back.extend(s.decrypt_final().unwrap());
    assert_eq!(back, data);
}

#[test]
fn operation_state_rules() {
    let t = initialized();
    let s = t.user_session();
    let k = key(&s, &h(K128));
    assert_eq!(rv(s.encrypt_update(b"x").unwrap_err()), RvError::OperationNotInitialized);
    s.encrypt_init(&Mechanism::AesEcb, k).unwrap();
    assert_eq!(rv(s.encrypt_init(&Mechanism::AesEcb, k).unwrap_err()), RvError::OperationActive);
    // The active operation is untouched by the refused init; finish it.
    assert_eq!(s.encrypt_final().unwrap(), Vec::<u8>::new());
    // A data length error ends the operation.
    s.encrypt_init(&Mechanism::AesEcb, k).unwrap();
    assert!(s.encrypt_update(&[0u8; 15]).unwrap().is_empty());
    assert_eq!(rv(s.encrypt_final().unwrap_err()), RvError::DataLenRange);
    assert_eq!(rv(s.encrypt_final().unwrap_err()), RvError::OperationNotInitialized);
    // Key usage is enforced.
    let no_enc = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Value(h(K128)),
            Attribute::Encrypt(false),
        ])
        .unwrap();
    assert_eq!(rv(s.encrypt_init(&Mechanism::AesEcb, no_enc).unwrap_err()), RvError::KeyFunctionNotPermitted);
    // Allowed mechanisms are enforced.
    let only_gcm = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Value(h(K256)),
            Attribute::AllowedMechanisms(vec![MechanismType::AES_GCM]),
        ])
        .unwrap();
    assert_eq!(rv(s.encrypt_init(&Mechanism::AesEcb, only_gcm).unwrap_err()), RvError::MechanismInvalid);
    // A handle that names no key.
    assert_eq!(
        rv(s.encrypt_init(&Mechanism::AesCbc([0; 16]), unsafe { ObjectHandle::new_from_raw(0xdead) }).unwrap_err()),
        RvError::KeyHandleInvalid
    );
}

#[test]
fn key_wrap_rfc3394_and_rfc5649() {
    let t = initialized();
    let s = t.user_session();
    // RFC 3394 4.1: 128-bit KEK, 128-bit key data.
    let kek = key(&s, &h("000102030405060708090A0B0C0D0E0F"));
    both_ways(
        &s,
        kek,
        &Mechanism::AesKeyWrap,
        &h("00112233445566778899AABBCCDDEEFF"),
        &h("1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5"),
    );
    // RFC 3394 4.6: 256-bit KEK, 256-bit key data.
    let kek256 = key(&s, &h("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"));
    both_ways(
        &s,
        kek256,
        &Mechanism::AesKeyWrap,
        &h("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F"),
        &h("28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21"),
    );
    // RFC 5649 section 6: 192-bit KEK, 20-byte and 7-byte keys.
    let kekp = key(&s, &h("5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8"));
    both_ways(
        &s,
        kekp,
        &Mechanism::AesKeyWrapPad,
        &h("c37b7e6492584340 bed1220780894115 5068f738"),
        &h("138bdeaa9b8fa7fc 61f97742e72248ee 5ae6ae5360d1ae6a 5f54f373fa543b6a"),
    );
    both_ways(&s, kekp, &Mechanism::AesKeyWrapPad, &h("466f7250617369"), &h("afbeb0f07dfbf541 9200f2ccb50bb24f"));
    // Integrity failure.
    let mut bad = h("1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5");
    bad[3] ^= 0x40;
    assert_eq!(rv(s.decrypt(&Mechanism::AesKeyWrap, kek, &bad).unwrap_err()), RvError::EncryptedDataInvalid);
}

#[test]
fn wrap_and_unwrap_secret_keys() {
    let t = initialized();
    let s = t.user_session();
    let kek = session_kek(&s);
    let target = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Value(h(K256)),
            Attribute::Extractable(true),
        ])
        .unwrap();
    for m in [Mechanism::AesKeyWrap, Mechanism::AesKeyWrapPad] {
        let wrapped = s.wrap_key(&m, kek, target).unwrap();
        let back = s
            .unwrap_key(
                &m,
                kek,
                &wrapped,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::Sensitive(false),
                    Attribute::Extractable(true),
                ],
            )
            .unwrap();
        let got = s
            .get_attributes(back, &[AttributeType::Value, AttributeType::Local, AttributeType::AlwaysSensitive])
            .unwrap();
        assert_eq!(got, vec![Attribute::Value(h(K256)), Attribute::Local(false), Attribute::AlwaysSensitive(false)]);
    }
    // Unextractable keys are not wrapped.
    let locked = s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(16.into())]).unwrap();
    assert_eq!(rv(s.wrap_key(&Mechanism::AesKeyWrap, kek, locked).unwrap_err()), RvError::KeyUnextractable);
    // A corrupted blob does not unwrap and leaves nothing behind.
    let before = s.find_objects(&[]).unwrap().len();
    let mut w = s.wrap_key(&Mechanism::AesKeyWrap, kek, target).unwrap();
    w[0] ^= 1;
    let e = s
        .unwrap_key(
            &Mechanism::AesKeyWrap,
            kek,
            &w,
            &[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::KeyType(KeyType::AES)],
        )
        .unwrap_err();
    assert!(matches!(rv(e), RvError::EncryptedDataInvalid | RvError::WrappedKeyInvalid));
    assert_eq!(s.find_objects(&[]).unwrap().len(), before);
}

#[test]
fn digests_and_random() {
    let t = initialized();
    let s = t.p11.open_ro_session(t.slot).unwrap();
    assert_eq!(
        s.digest(&Mechanism::Sha256, b"abc").unwrap(),
        h("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    assert_eq!(s.digest(&Mechanism::Sha1, b"abc").unwrap(), h("a9993e364706816aba3e25717850c26c9cd0d89d"));
    assert_eq!(
        s.digest(&Mechanism::Sha384, b"abc").unwrap(),
        h("cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7")
    );
    s.digest_init(&Mechanism::Sha512).unwrap();
    s.digest_update(b"a").unwrap();
    s.digest_update(b"bc").unwrap();
    assert_eq!(
        s.digest_final().unwrap(),
        h(
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        )
    );
    assert_eq!(
        s.digest(&Mechanism::Sha224, b"abc").unwrap(),
        h("23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7")
    );
    let a = s.generate_random_vec(32).unwrap();
    let b = s.generate_random_vec(32).unwrap();
    assert_ne!(a, b);
}
