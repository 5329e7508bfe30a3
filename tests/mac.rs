//! MACs through the built module (issue 20): the PKCS#11 3.0 HMAC key types
//! and their key generations (CKM_SHA*_KEY_GEN), HMAC and HMAC_GENERAL with
//! CK_MAC_GENERAL_PARAMS, AES-CMAC and AES-CMAC_GENERAL, single- and
//! multi-part, against RFC 4231, RFC 4493 and NIST SP 800-38B. The `cryptoki`
//! crate has no _GENERAL or CMAC variants, so those go through raw C calls.

mod common;
#[macro_use]
mod rawc;

use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use pkcs11_sys::*;
use rawc::{FALSE, Raw, TRUE, attr, attr_bytes};
use std::ptr::null_mut;

#[test]
fn hmac_key_generation_with_each_sha_key_gen() {
    let t = common::initialized();
    let s = t.user_session();
    for (gen_mech, mac, kt, mac_len) in [
        (Mechanism::Sha1KeyGen, Mechanism::Sha1Hmac, KeyType::SHA_1_HMAC, 20),
        (Mechanism::Sha224KeyGen, Mechanism::Sha224Hmac, KeyType::SHA224_HMAC, 28),
        (Mechanism::Sha256KeyGen, Mechanism::Sha256Hmac, KeyType::SHA256_HMAC, 32),
        (Mechanism::Sha384KeyGen, Mechanism::Sha384Hmac, KeyType::SHA384_HMAC, 48),
        (Mechanism::Sha512KeyGen, Mechanism::Sha512Hmac, KeyType::SHA512_HMAC, 64),
    ] {
        let info = t.p11.get_mechanism_info(t.slot, gen_mech.mechanism_type()).unwrap();
        assert!(info.generate(), "{gen_mech:?} advertised");
        let tmpl =
            [Attribute::Token(false), Attribute::Sign(true), Attribute::Verify(true), Attribute::ValueLen(32.into())];
        let k = s.generate_key(&gen_mech, &tmpl).unwrap();
        // (cryptoki 0.12 maps CKK_SHA224/384/512_HMAC to the value of
        // CKK_SHA256_HMAC, so the key type is checked with raw calls below.)
        let _ = kt;
        let got = s.get_attributes(k, &[AttributeType::Class, AttributeType::ValueLen]).unwrap();
        assert!(got.contains(&Attribute::Class(ObjectClass::SECRET_KEY)));
        assert!(got.contains(&Attribute::ValueLen(32.into())));
        let data = b"keyward mac test";
        let tag = s.sign(&mac, k, data).unwrap();
        assert_eq!(tag.len(), mac_len);
        s.verify(&mac, k, data, &tag).unwrap();
        let mut bad = tag.clone();
        bad[0] ^= 1;
        assert_eq!(common::rv(s.verify(&mac, k, data, &bad).unwrap_err()), cryptoki::error::RvError::SignatureInvalid);
        // A SHA-n HMAC key serves only its own hash.
        let other = if mac_len == 32 { Mechanism::Sha512Hmac } else { Mechanism::Sha256Hmac };
        assert_eq!(common::rv(s.sign(&other, k, data).unwrap_err()), cryptoki::error::RvError::KeyTypeInconsistent);
        // CKA_VALUE_LEN is required and bounded.
        let no_len = [Attribute::Token(false), Attribute::Sign(true)];
        assert_eq!(
            common::rv(s.generate_key(&gen_mech, &no_len).unwrap_err()),
            cryptoki::error::RvError::TemplateIncomplete
        );
        for bad_len in [0u64, 513] {
            let t2 = [Attribute::Token(false), Attribute::ValueLen(bad_len.into())];
            assert_eq!(common::rv(s.generate_key(&gen_mech, &t2).unwrap_err()), cryptoki::error::RvError::KeySizeRange);
        }
        // The key type is the mechanism's.
        let t3 = [Attribute::Token(false), Attribute::ValueLen(32.into()), Attribute::KeyType(KeyType::AES)];
        assert_eq!(
            common::rv(s.generate_key(&gen_mech, &t3).unwrap_err()),
            cryptoki::error::RvError::TemplateInconsistent
        );
    }
    // CKA_SIGN false: the key cannot sign.
    let k = s
        .generate_key(
            &Mechanism::Sha256KeyGen,
            &[Attribute::Token(false), Attribute::Sign(false), Attribute::ValueLen(32.into())],
        )
        .unwrap();
    assert_eq!(
        common::rv(s.sign(&Mechanism::Sha256Hmac, k, b"x").unwrap_err()),
        cryptoki::error::RvError::KeyFunctionNotPermitted
    );
    // CKA_ALLOWED_MECHANISMS is obeyed.
    let k = s
        .generate_key(
            &Mechanism::Sha256KeyGen,
            &[
                Attribute::Token(false),
                Attribute::Sign(true),
                Attribute::ValueLen(32.into()),
                Attribute::AllowedMechanisms(vec![MechanismType::SHA256_HMAC]),
            ],
        )
        .unwrap();
    s.sign(&Mechanism::Sha256Hmac, k, b"x").unwrap();
    assert_eq!(
        common::rv(s.sign(&Mechanism::AesCMac, k, b"x").unwrap_err()),
        cryptoki::error::RvError::MechanismInvalid
    );
    // A generic secret (CKM_GENERIC_SECRET_KEY_GEN) still serves every HMAC.
    let g = s
        .generate_key(
            &Mechanism::GenericSecretKeyGen,
            &[Attribute::Token(false), Attribute::Sign(true), Attribute::Verify(true), Attribute::ValueLen(32.into())],
        )
        .unwrap();
    for m in [
        Mechanism::Sha1Hmac,
        Mechanism::Sha224Hmac,
        Mechanism::Sha256Hmac,
        Mechanism::Sha384Hmac,
        Mechanism::Sha512Hmac,
    ] {
        let tag = s.sign(&m, g, b"generic").unwrap();
        s.verify(&m, g, b"generic", &tag).unwrap();
    }
}

fn mech(ty: CK_MECHANISM_TYPE, len: Option<&CK_ULONG>) -> CK_MECHANISM {
    match len {
        Some(l) => CK_MECHANISM {
            mechanism: ty,
            pParameter: l as *const CK_ULONG as *mut _,
            ulParameterLen: std::mem::size_of::<CK_ULONG>() as CK_ULONG,
        },
        None => CK_MECHANISM { mechanism: ty, pParameter: null_mut(), ulParameterLen: 0 },
    }
}

/// A session sign/verify key of `kt` with `value`.
fn key(r: &Raw, kt: CK_KEY_TYPE, value: &[u8]) -> CK_OBJECT_HANDLE {
    let class = CKO_SECRET_KEY;
    let t = [
        attr(CKA_CLASS, &class),
        attr(CKA_KEY_TYPE, &kt),
        attr_bytes(CKA_VALUE, value),
        attr(CKA_SIGN, &TRUE),
        attr(CKA_VERIFY, &TRUE),
        attr(CKA_TOKEN, &FALSE),
    ];
    r.create(&t).expect("C_CreateObject")
}

/// Single-part sign, then multi-part (two Updates) sign, which must agree.
fn sign(r: &Raw, m: &CK_MECHANISM, k: CK_OBJECT_HANDLE, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    let mut m1 = *m;
    let rv = call!(r, C_SignInit, r.h, &mut m1, k);
    if rv != CKR_OK {
        return Err(rv);
    }
    let mut out = [0u8; 64];
    let mut n = out.len() as CK_ULONG;
    let rv = call!(r, C_Sign, r.h, data.as_ptr() as *mut _, data.len() as _, out.as_mut_ptr(), &mut n);
    assert_eq!(rv, CKR_OK, "C_Sign");
    let one = out[..n as usize].to_vec();
    assert_eq!(call!(r, C_SignInit, r.h, &mut m1, k), CKR_OK);
    let (a, b) = data.split_at(data.len() / 2);
    for part in [a, b] {
        assert_eq!(call!(r, C_SignUpdate, r.h, part.as_ptr() as *mut _, part.len() as _), CKR_OK);
    }
    let mut n2: CK_ULONG = 0;
    assert_eq!(call!(r, C_SignFinal, r.h, null_mut(), &mut n2), CKR_OK, "length query");
    assert_eq!(n2, n);
    let mut out2 = vec![0u8; n2 as usize];
    assert_eq!(call!(r, C_SignFinal, r.h, out2.as_mut_ptr(), &mut n2), CKR_OK);
    assert_eq!(out2, one, "multi-part and single-part MACs differ");
    Ok(one)
}

/// Verifies single-part and multi-part; returns the single-part CK_RV.
fn verify(r: &Raw, m: &CK_MECHANISM, k: CK_OBJECT_HANDLE, data: &[u8], tag: &[u8]) -> CK_RV {
    let mut m1 = *m;
    assert_eq!(call!(r, C_VerifyInit, r.h, &mut m1, k), CKR_OK);
    let one = call!(r, C_Verify, r.h, data.as_ptr() as *mut _, data.len() as _, tag.as_ptr() as *mut _, tag.len() as _);
    assert_eq!(call!(r, C_VerifyInit, r.h, &mut m1, k), CKR_OK);
    let (a, b) = data.split_at(data.len() / 2);
    for part in [a, b] {
        assert_eq!(call!(r, C_VerifyUpdate, r.h, part.as_ptr() as *mut _, part.len() as _), CKR_OK);
    }
    let multi = call!(r, C_VerifyFinal, r.h, tag.as_ptr() as *mut _, tag.len() as _);
    assert_eq!(one, multi, "single- and multi-part verification disagree");
    one
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

#[test]
fn hmac_rfc4231_with_3_0_key_types_and_general_lengths() {
    let r = Raw::open();
    // RFC 4231 test case 2 ("Jefe"), imported as each 3.0 HMAC key type.
    let data = b"what do ya want for nothing?";
    for (kt, full, general, tag) in [
        (
            CKK_SHA224_HMAC,
            CKM_SHA224_HMAC,
            CKM_SHA224_HMAC_GENERAL,
            "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
        ),
        (
            CKK_SHA256_HMAC,
            CKM_SHA256_HMAC,
            CKM_SHA256_HMAC_GENERAL,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            CKK_SHA384_HMAC,
            CKM_SHA384_HMAC,
            CKM_SHA384_HMAC_GENERAL,
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
        ),
        (
            CKK_SHA512_HMAC,
            CKM_SHA512_HMAC,
            CKM_SHA512_HMAC_GENERAL,
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        ),
        (CKK_SHA_1_HMAC, CKM_SHA_1_HMAC, CKM_SHA_1_HMAC_GENERAL, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"), // RFC 2202
    ] {
        let k = key(&r, kt, b"Jefe");
        let want = h(tag);
        assert_eq!(sign(&r, &mech(full, None), k, data).unwrap(), want);
        assert_eq!(verify(&r, &mech(full, None), k, data, &want), CKR_OK);
        let mut bad = want.clone();
        bad[want.len() - 1] ^= 0x80;
        assert_eq!(verify(&r, &mech(full, None), k, data, &bad), CKR_SIGNATURE_INVALID);
        // _GENERAL: every length 1..=full truncates; 0 and full+1 are refused.
        for n in [1, 10, want.len()] {
            let l = n as CK_ULONG;
            let m = mech(general, Some(&l));
            assert_eq!(sign(&r, &m, k, data).unwrap(), want[..n]);
            assert_eq!(verify(&r, &m, k, data, &want[..n]), CKR_OK);
            let mut bad = want[..n].to_vec();
            bad[0] ^= 1;
            assert_eq!(verify(&r, &m, k, data, &bad), CKR_SIGNATURE_INVALID);
        }
        for n in [0, want.len() as CK_ULONG + 1] {
            assert_eq!(sign(&r, &mech(general, Some(&n)), k, data), Err(CKR_MECHANISM_PARAM_INVALID), "len {n}");
            let mut m = mech(general, Some(&n));
            assert_eq!(call!(r, C_VerifyInit, r.h, &mut m, k), CKR_MECHANISM_PARAM_INVALID);
        }
        assert_eq!(sign(&r, &mech(general, None), k, data), Err(CKR_MECHANISM_PARAM_INVALID));
    }
    // Each CKM_SHA*_KEY_GEN makes a key of its own 3.0 type.
    for (gen_mech, kt) in [
        (CKM_SHA_1_KEY_GEN, CKK_SHA_1_HMAC),
        (CKM_SHA224_KEY_GEN, CKK_SHA224_HMAC),
        (CKM_SHA256_KEY_GEN, CKK_SHA256_HMAC),
        (CKM_SHA384_KEY_GEN, CKK_SHA384_HMAC),
        (CKM_SHA512_KEY_GEN, CKK_SHA512_HMAC),
    ] {
        let len: CK_ULONG = 24;
        let t = [attr(CKA_VALUE_LEN, &len), attr(CKA_SIGN, &TRUE), attr(CKA_TOKEN, &FALSE)];
        let mut m = mech(gen_mech, None);
        let mut o = 0;
        assert_eq!(call!(r, C_GenerateKey, r.h, &mut m, t.as_ptr() as *mut _, t.len() as _, &mut o), CKR_OK);
        let mut got: CK_KEY_TYPE = 0;
        let mut q = [attr(CKA_KEY_TYPE, &got)];
        q[0].pValue = &mut got as *mut CK_KEY_TYPE as *mut _;
        assert_eq!(call!(r, C_GetAttributeValue, r.h, o, q.as_mut_ptr(), 1), CKR_OK);
        assert_eq!(got, kt, "key type made by 0x{gen_mech:x}");
    }
    // RFC 4231 test case 5 (truncated to 128 bits), with a generic secret.
    let k = key(&r, CKK_GENERIC_SECRET, &[0x0c; 20]);
    let data = b"Test With Truncation";
    for (general, tag) in [
        (CKM_SHA224_HMAC_GENERAL, "0e2aea68a90c8d37c988bcdb9fca6fa8"),
        (CKM_SHA256_HMAC_GENERAL, "a3b6167473100ee06e0c796c2955552b"),
        (CKM_SHA384_HMAC_GENERAL, "3abf34c3503b2a23a46efc619baef897"),
        (CKM_SHA512_HMAC_GENERAL, "415fad6271580a531d4179bc891d87a6"),
    ] {
        let l: CK_ULONG = 16;
        assert_eq!(sign(&r, &mech(general, Some(&l)), k, data).unwrap(), h(tag));
        assert_eq!(verify(&r, &mech(general, Some(&l)), k, data, &h(tag)), CKR_OK);
        assert_eq!(verify(&r, &mech(general, Some(&l)), k, data, &h(tag)[..15]), CKR_SIGNATURE_LEN_RANGE);
    }
    // An AES key is no HMAC key.
    let aes = key(&r, CKK_AES, &[1u8; 16]);
    assert_eq!(sign(&r, &mech(CKM_SHA256_HMAC, None), aes, data), Err(CKR_KEY_TYPE_INCONSISTENT));
}

const CMAC_MSG: &str = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";

#[test]
fn aes_cmac_rfc4493_and_sp800_38b() {
    let r = Raw::open();
    let msg = h(CMAC_MSG);
    for (kv, len, tag) in [
        // RFC 4493 section 4, examples 1-4 (AES-128).
        ("2b7e151628aed2a6abf7158809cf4f3c", 0, "bb1d6929e95937287fa37d129b756746"),
        ("2b7e151628aed2a6abf7158809cf4f3c", 16, "070a16b46b4d4144f79bdd9dd04a287c"),
        ("2b7e151628aed2a6abf7158809cf4f3c", 40, "dfa66747de9ae63030ca32611497c827"),
        ("2b7e151628aed2a6abf7158809cf4f3c", 64, "51f0bebf7e3b9d92fc49741779363cfe"),
        // NIST SP 800-38B appendix D.3 (AES-256).
        ("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", 0, "028962f61b7bf89efc6b551f4667d983"),
        ("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", 16, "28a7023f452e8f82bd4bf28d8c37c35c"),
        ("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", 40, "aaf3d8f1de5640c232f5b169b9c911e6"),
        ("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", 64, "e1992190549f6ed5696a2c056c315410"),
    ] {
        let k = key(&r, CKK_AES, &h(kv));
        let data = &msg[..len];
        let want = h(tag);
        assert_eq!(sign(&r, &mech(CKM_AES_CMAC, None), k, data).unwrap(), want, "{kv} {len}");
        assert_eq!(verify(&r, &mech(CKM_AES_CMAC, None), k, data, &want), CKR_OK);
        let mut bad = want.clone();
        bad[3] ^= 4;
        assert_eq!(verify(&r, &mech(CKM_AES_CMAC, None), k, data, &bad), CKR_SIGNATURE_INVALID);
        for n in [1usize, 8, 16] {
            let l = n as CK_ULONG;
            let m = mech(CKM_AES_CMAC_GENERAL, Some(&l));
            assert_eq!(sign(&r, &m, k, data).unwrap(), want[..n]);
            assert_eq!(verify(&r, &m, k, data, &want[..n]), CKR_OK);
            let mut bad = want[..n].to_vec();
            bad[n - 1] ^= 1;
            assert_eq!(verify(&r, &m, k, data, &bad), CKR_SIGNATURE_INVALID);
        }
        for n in [0 as CK_ULONG, 17] {
            assert_eq!(sign(&r, &mech(CKM_AES_CMAC_GENERAL, Some(&n)), k, data), Err(CKR_MECHANISM_PARAM_INVALID));
        }
    }
    // CK_MECHANISM_INFO: AES key sizes in bytes, sign and verify.
    for ty in [CKM_AES_CMAC, CKM_AES_CMAC_GENERAL] {
        let mut info = CK_MECHANISM_INFO { ulMinKeySize: 0, ulMaxKeySize: 0, flags: 0 };
        assert_eq!(call!(r, C_GetMechanismInfo, 0, ty, &mut info), CKR_OK);
        assert_eq!((info.ulMinKeySize, info.ulMaxKeySize), (16, 32));
        assert_eq!(info.flags & (CKF_SIGN | CKF_VERIFY), CKF_SIGN | CKF_VERIFY);
    }
    // CMAC needs an AES key: a generic secret of 16 bytes is refused.
    let g = key(&r, CKK_GENERIC_SECRET, &[5u8; 16]);
    assert_eq!(sign(&r, &mech(CKM_AES_CMAC, None), g, b"x"), Err(CKR_KEY_TYPE_INCONSISTENT));
    // CKA_SIGN false: refused.
    let class = CKO_SECRET_KEY;
    let kt = CKK_AES;
    let v = [3u8; 16];
    let t = [
        attr(CKA_CLASS, &class),
        attr(CKA_KEY_TYPE, &kt),
        attr_bytes(CKA_VALUE, &v),
        attr(CKA_SIGN, &FALSE),
        attr(CKA_VERIFY, &TRUE),
        attr(CKA_TOKEN, &FALSE),
    ];
    let o = r.create(&t).expect("C_CreateObject");
    assert_eq!(sign(&r, &mech(CKM_AES_CMAC, None), o, b"x"), Err(CKR_KEY_FUNCTION_NOT_PERMITTED));
}

/// A CKK_SHA256_HMAC token key rotates through C_GenerateKey with its own
/// CKM_SHA256_KEY_GEN (or the generic one), never with another hash's.
#[test]
fn hmac_key_rotates_with_its_key_gen() {
    const CKA_KEYWARD_ROTATE: u64 = CKA_VENDOR_DEFINED | 0x4B57_000B;
    const CKA_KEYWARD_VERSION: u64 = CKA_VENDOR_DEFINED | 0x4B57_0001;
    let t = common::initialized();
    let s = t.user_session();
    let k = s
        .generate_key(
            &Mechanism::Sha256KeyGen,
            &[
                Attribute::Token(true),
                Attribute::Label(b"mac".to_vec()),
                Attribute::Sign(true),
                Attribute::Verify(true),
                Attribute::ValueLen(32.into()),
            ],
        )
        .unwrap();
    let tag = s.sign(&Mechanism::Sha256Hmac, k, b"data").unwrap();
    let rot = [Attribute::Label(b"mac".to_vec()), common::vbool(CKA_KEYWARD_ROTATE, true)];
    assert_eq!(
        common::rv(s.generate_key(&Mechanism::Sha512KeyGen, &rot).unwrap_err()),
        cryptoki::error::RvError::MechanismInvalid
    );
    let k2 = s.generate_key(&Mechanism::Sha256KeyGen, &rot).unwrap();
    assert_ne!(k2, k);
    assert_eq!(common::get_ulong(&s, k2, CKA_KEYWARD_VERSION), 2);
    let tag2 = s.sign(&Mechanism::Sha256Hmac, k2, b"data").unwrap();
    assert_ne!(tag2, tag, "the new version has a new value");
    // The old version still verifies what it made.
    s.verify(&Mechanism::Sha256Hmac, k, b"data", &tag).unwrap();
}
