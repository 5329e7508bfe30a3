//! The PRF-based key derivations through the built module (issue 20): SP
//! 800-108 counter, feedback and double-pipeline KDFs against a subset of
//! the NIST CAVP vectors (tests/data/kbkdf_cavp_subset.txt, sources named
//! there), their additional derived keys and parameter rules; HKDF against
//! RFC 5869; AES_ECB/CBC_ENCRYPT_DATA against SP 800-38A.

mod common;
#[macro_use]
mod rawc;

use common::{rv, secret_key as key, value};
use cryptoki::error::RvError;
use cryptoki::mechanism::ekdf::AesCbcDeriveParams;
use cryptoki::mechanism::hkdf::{HkdfParams, HkdfSalt};
use cryptoki::mechanism::kbkdf::{
    DerivedKey, Endianness, KbkdfCounterFormat, KbkdfDkmLengthFormat, KbkdfDkmLengthMethod, KbkdfFeedbackParams,
    KbkdfParams, PrfDataParam, PrfDataParamType,
};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use pkcs11_sys::*;
use std::collections::HashMap;
use std::num::NonZeroUsize;

fn readable(len: usize) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Token(false),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::ValueLen((len as u64).into()),
    ]
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn ctr(bits: usize) -> KbkdfCounterFormat {
    KbkdfCounterFormat::new(Endianness::Big, NonZeroUsize::new(bits).unwrap())
}

#[test]
fn sp800_108_nist_cavp_vectors() {
    let t = common::initialized();
    let s = t.user_session();
    let text = include_str!("data/kbkdf_cavp_subset.txt");
    let mut n = 0;
    for block in text.split("\n\n").filter(|b| b.contains("MODE=")) {
        let f: HashMap<&str, &str> =
            block.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split_once('=')).collect();
        let (prf, kt) = match f["PRF"] {
            p if p.starts_with("CMAC_AES") => (MechanismType::AES_CMAC, KeyType::AES),
            "HMAC_SHA1" => (MechanismType::SHA1_HMAC, KeyType::GENERIC_SECRET),
            "HMAC_SHA224" => (MechanismType::SHA224_HMAC, KeyType::GENERIC_SECRET),
            "HMAC_SHA256" => (MechanismType::SHA256_HMAC, KeyType::GENERIC_SECRET),
            "HMAC_SHA384" => (MechanismType::SHA384_HMAC, KeyType::GENERIC_SECRET),
            "HMAC_SHA512" => (MechanismType::SHA512_HMAC, KeyType::GENERIC_SECRET),
            p => panic!("PRF {p}"),
        };
        let base = key(&s, kt, &h(f["KI"]), &[]);
        let len = f["L"].parse::<usize>().unwrap() / 8;
        let r: usize = f["RLEN"].parse().unwrap();
        let fmt = (r > 0).then(|| ctr(r));
        let fixed = f.get("FixedInputData").map(|v| h(v)).unwrap_or_default();
        let before = f.get("DataBeforeCtrData").map(|v| h(v)).unwrap_or_default();
        let after = f.get("DataAfterCtrData").map(|v| h(v)).unwrap_or_default();
        let iv = f.get("IV").map(|v| h(v)).unwrap_or_default();
        let it = || PrfDataParam::new(PrfDataParamType::IterationVariable(fmt.as_ref()));
        let it0 = || PrfDataParam::new(PrfDataParamType::IterationVariable(None));
        let data: Vec<PrfDataParam> = match (f["MODE"], f["CTRLOCATION"]) {
            ("COUNTER", "BEFORE_FIXED") => vec![it(), bytes(&fixed)],
            ("COUNTER", "AFTER_FIXED") => vec![bytes(&fixed), it()],
            ("COUNTER", "MIDDLE_FIXED") => vec![bytes(&before), it(), bytes(&after)],
            (_, "BEFORE_ITER") => {
                vec![PrfDataParam::new(PrfDataParamType::Counter(fmt.as_ref().unwrap())), it0(), bytes(&fixed)]
            }
            (_, "none") => vec![it0(), bytes(&fixed)],
            other => panic!("{other:?}"),
        };
        let mech = match f["MODE"] {
            "COUNTER" => Mechanism::KbkdfCounter(KbkdfParams::new(prf, &data, None)),
            "PIPELINE" => Mechanism::KbkdfDoublePipeline(KbkdfParams::new(prf, &data, None)),
            _ => Mechanism::KbkdfFeedback(KbkdfFeedbackParams::new(
                prf,
                &data,
                (!iv.is_empty()).then_some(iv.as_slice()),
                None,
            )),
        };
        let k = s.derive_key(&mech, base, &readable(len)).unwrap_or_else(|e| panic!("{block}: {e}"));
        assert_eq!(hex::encode(value(&s, k)), f["KO"], "{block}");
        s.destroy_object(k).unwrap();
        s.destroy_object(base).unwrap();
        n += 1;
    }
    assert_eq!(n, 103);
}

fn bytes(b: &[u8]) -> PrfDataParam<'_> {
    PrfDataParam::new(PrfDataParamType::ByteArray(b))
}

#[test]
fn sp800_108_additional_keys_and_dkm_length() {
    let t = common::initialized();
    let s = t.user_session();
    let base = key(&s, KeyType::AES, &[0x42; 32], &[]);
    let c16 = ctr(16);
    let label = b"keyward label".to_vec();
    let data = [
        PrfDataParam::new(PrfDataParamType::IterationVariable(Some(&c16))),
        PrfDataParam::new(PrfDataParamType::ByteArray(&label)),
    ];
    // One 64-byte stream: four AES-CMAC segments.
    let whole = s
        .derive_key(
            &Mechanism::KbkdfCounter(KbkdfParams::new(MechanismType::AES_CMAC, &data, None)),
            base,
            &readable(64),
        )
        .unwrap();
    let stream = value(&s, whole);
    let templates = [
        vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(false),
            Attribute::ValueLen(16.into()),
            Attribute::Sign(true),
            Attribute::Sensitive(false),
            Attribute::Extractable(true),
        ],
        readable(1),
    ];
    let mut extra: Vec<DerivedKey> = templates.iter().map(|t| DerivedKey::new(t)).collect();
    let main = s
        .derive_key(
            &Mechanism::KbkdfCounter(KbkdfParams::new(MechanismType::AES_CMAC, &data, Some(&mut extra))),
            base,
            &readable(32),
        )
        .unwrap();
    let handles: Vec<ObjectHandle> = extra.iter().filter_map(|k| k.handle()).collect();
    assert_eq!(handles.len(), 2, "every additional handle written back");
    // Each key starts on a fresh segment.
    assert_eq!(value(&s, main), stream[..32]);
    assert_eq!(value(&s, handles[0]), stream[32..48]);
    assert_eq!(value(&s, handles[1]), stream[48..49]);
    let got =
        s.get_attributes(handles[0], &[AttributeType::KeyType, AttributeType::Sign, AttributeType::Encrypt]).unwrap();
    assert!(got.contains(&Attribute::KeyType(KeyType::AES)) && got.contains(&Attribute::Sign(true)));
    assert!(got.contains(&Attribute::Encrypt(false)), "usage only from the template");
    // [L]: sum of keys (49 bytes) and sum of segments (64 bytes) differ.
    let derive_with = |m: KbkdfDkmLengthMethod| {
        let f = KbkdfDkmLengthFormat::new(m, Endianness::Big, NonZeroUsize::new(32).unwrap());
        let data = [
            PrfDataParam::new(PrfDataParamType::IterationVariable(Some(&c16))),
            PrfDataParam::new(PrfDataParamType::DkmLength(&f)),
        ];
        let mut extra: Vec<DerivedKey> = templates.iter().map(|t| DerivedKey::new(t)).collect();
        let k = s
            .derive_key(
                &Mechanism::KbkdfCounter(KbkdfParams::new(MechanismType::AES_CMAC, &data, Some(&mut extra))),
                base,
                &readable(32),
            )
            .unwrap();
        value(&s, k)
    };
    assert_ne!(derive_with(KbkdfDkmLengthMethod::SumOfKeys), derive_with(KbkdfDkmLengthMethod::SumOfSegments));
    // One bad additional template: nothing is made, the handles say so.
    let bad = [vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(7.into()),
    ]];
    let mut extra: Vec<DerivedKey> = bad.iter().map(|t| DerivedKey::new(t)).collect();
    let before = s.find_objects(&[]).unwrap().len();
    let e = s
        .derive_key(
            &Mechanism::KbkdfCounter(KbkdfParams::new(MechanismType::AES_CMAC, &data, Some(&mut extra))),
            base,
            &readable(32),
        )
        .unwrap_err();
    assert_eq!(rv(e), RvError::KeySizeRange);
    assert!(extra[0].handle().is_none());
    assert_eq!(s.find_objects(&[]).unwrap().len(), before);
}

#[test]
fn sp800_108_parameter_rules() {
    let t = common::initialized();
    let s = t.user_session();
    let base = key(&s, KeyType::AES, &[0x42; 32], &[]);
    let c16 = ctr(16);
    let it = PrfDataParam::new(PrfDataParamType::IterationVariable(Some(&c16)));
    let it0 = PrfDataParam::new(PrfDataParamType::IterationVariable(None));
    let counter = PrfDataParam::new(PrfDataParamType::Counter(&c16));
    let cmac = MechanismType::AES_CMAC;
    let invalid = |m: Mechanism| {
        assert_eq!(rv(s.derive_key(&m, base, &readable(32)).unwrap_err()), RvError::MechanismParamInvalid)
    };
    invalid(Mechanism::KbkdfCounter(KbkdfParams::new(cmac, &[], None)));
    invalid(Mechanism::KbkdfCounter(KbkdfParams::new(cmac, std::slice::from_ref(&it0), None)));
    invalid(Mechanism::KbkdfCounter(KbkdfParams::new(cmac, &[it, counter], None)));
    invalid(Mechanism::KbkdfFeedback(KbkdfFeedbackParams::new(cmac, std::slice::from_ref(&it), None, None)));
    invalid(Mechanism::KbkdfDoublePipeline(KbkdfParams::new(cmac, &[it0, counter, counter], None)));
    let c12 = ctr(12);
    invalid(Mechanism::KbkdfCounter(KbkdfParams::new(
        cmac,
        &[PrfDataParam::new(PrfDataParamType::IterationVariable(Some(&c12)))],
        None,
    )));
    // Not a PRF; a PRF that does not fit the key.
    invalid(Mechanism::KbkdfCounter(KbkdfParams::new(MechanismType::SHA256, std::slice::from_ref(&it), None)));
    let e = s
        .derive_key(
            &Mechanism::KbkdfCounter(KbkdfParams::new(MechanismType::SHA256_HMAC, std::slice::from_ref(&it), None)),
            base,
            &readable(32),
        )
        .unwrap_err();
    assert_eq!(rv(e), RvError::KeyTypeInconsistent);
    // The key length is the template's.
    let no_len = [Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Token(false)];
    let e = s
        .derive_key(&Mechanism::KbkdfCounter(KbkdfParams::new(cmac, std::slice::from_ref(&it), None)), base, &no_len)
        .unwrap_err();
    assert_eq!(rv(e), RvError::TemplateIncomplete);
}

/// A session secret key that may derive, through raw C calls.
fn raw_key(r: &rawc::Raw, kt: CK_KEY_TYPE, v: &[u8]) -> CK_OBJECT_HANDLE {
    let class = CKO_SECRET_KEY;
    let t = [
        rawc::attr(CKA_CLASS, &class),
        rawc::attr(CKA_KEY_TYPE, &kt),
        rawc::attr_bytes(CKA_VALUE, v),
        rawc::attr(CKA_DERIVE, &rawc::TRUE),
        rawc::attr(CKA_TOKEN, &rawc::FALSE),
    ];
    r.create(&t).expect("C_CreateObject")
}

/// Malformed structures through raw C calls: wrong sizes, NULL pointers,
/// an unknown data-parameter type: CKR_MECHANISM_PARAM_INVALID, never
/// CKR_MECHANISM_INVALID.
#[test]
fn malformed_parameter_structures() {
    let r = rawc::Raw::open();
    let class = CKO_SECRET_KEY;
    let kt = CKK_GENERIC_SECRET;
    let base = raw_key(&r, CKK_GENERIC_SECRET, &[9u8; 32]);
    let len: CK_ULONG = 16;
    let t = [
        rawc::attr(CKA_CLASS, &class),
        rawc::attr(CKA_KEY_TYPE, &kt),
        rawc::attr(CKA_VALUE_LEN, &len),
        rawc::attr(CKA_TOKEN, &rawc::FALSE),
    ];
    let derive = |ty: CK_MECHANISM_TYPE, p: *mut std::ffi::c_void, l: usize| {
        let mut m = CK_MECHANISM { mechanism: ty, pParameter: p, ulParameterLen: l as CK_ULONG };
        let mut o = 0;
        call!(r, C_DeriveKey, r.h, &mut m, base, t.as_ptr() as *mut _, t.len() as _, &mut o)
    };
    let mut junk = [0u8; 7];
    for ty in [
        CKM_CONCATENATE_BASE_AND_KEY,
        CKM_CONCATENATE_BASE_AND_DATA,
        CKM_CONCATENATE_DATA_AND_BASE,
        CKM_XOR_BASE_AND_DATA,
        CKM_EXTRACT_KEY_FROM_KEY,
        CKM_AES_ECB_ENCRYPT_DATA,
        CKM_AES_CBC_ENCRYPT_DATA,
        CKM_SP800_108_COUNTER_KDF,
        CKM_SP800_108_FEEDBACK_KDF,
        CKM_SP800_108_DOUBLE_PIPELINE_KDF,
        CKM_HKDF_DERIVE,
        CKM_HKDF_DATA,
    ] {
        assert_eq!(derive(ty, junk.as_mut_ptr().cast(), junk.len()), CKR_MECHANISM_PARAM_INVALID, "0x{ty:x} short");
        assert_eq!(derive(ty, std::ptr::null_mut(), 0), CKR_MECHANISM_PARAM_INVALID, "0x{ty:x} NULL");
    }
    // Data with a NULL pointer and a length.
    let mut sd = CK_KEY_DERIVATION_STRING_DATA { pData: std::ptr::null_mut(), ulLen: 4 };
    let n = std::mem::size_of_val(&sd);
    assert_eq!(
        derive(CKM_XOR_BASE_AND_DATA, (&mut sd as *mut CK_KEY_DERIVATION_STRING_DATA).cast(), n),
        CKR_MECHANISM_PARAM_INVALID
    );
    // An unknown CK_PRF_DATA_PARAM type; a NULL pDataParams with a count.
    let mut dp = [CK_PRF_DATA_PARAM { type_: 0x99, pValue: std::ptr::null_mut(), ulValueLen: 0 }];
    let mut p = CK_SP800_108_KDF_PARAMS {
        prfType: CKM_SHA256_HMAC,
        ulNumberOfDataParams: 1,
        pDataParams: dp.as_mut_ptr(),
        ulAdditionalDerivedKeys: 0,
        pAdditionalDerivedKeys: std::ptr::null_mut(),
    };
    let n = std::mem::size_of_val(&p);
    assert_eq!(
        derive(CKM_SP800_108_COUNTER_KDF, (&mut p as *mut CK_SP800_108_KDF_PARAMS).cast(), n),
        CKR_MECHANISM_PARAM_INVALID
    );
    p.pDataParams = std::ptr::null_mut();
    assert_eq!(
        derive(CKM_SP800_108_COUNTER_KDF, (&mut p as *mut CK_SP800_108_KDF_PARAMS).cast(), n),
        CKR_MECHANISM_PARAM_INVALID
    );
    // An additional key with a NULL phKey.
    let cf = CK_SP800_108_COUNTER_FORMAT { bLittleEndian: 0, ulWidthInBits: 32 };
    let mut dp = [CK_PRF_DATA_PARAM {
        type_: CK_SP800_108_ITERATION_VARIABLE,
        pValue: &cf as *const _ as *mut _,
        ulValueLen: std::mem::size_of_val(&cf) as _,
    }];
    let mut dk = [CK_DERIVED_KEY {
        pTemplate: t.as_ptr() as *mut _,
        ulAttributeCount: t.len() as _,
        phKey: std::ptr::null_mut(),
    }];
    p.pDataParams = dp.as_mut_ptr();
    p.ulAdditionalDerivedKeys = 1;
    p.pAdditionalDerivedKeys = dk.as_mut_ptr();
    assert_eq!(
        derive(CKM_SP800_108_COUNTER_KDF, (&mut p as *mut CK_SP800_108_KDF_PARAMS).cast(), n),
        CKR_MECHANISM_PARAM_INVALID
    );
    // ...and with one: both handles written.
    let mut extra_h: CK_OBJECT_HANDLE = 0;
    let mut dk =
        [CK_DERIVED_KEY { pTemplate: t.as_ptr() as *mut _, ulAttributeCount: t.len() as _, phKey: &mut extra_h }];
    p.pAdditionalDerivedKeys = dk.as_mut_ptr();
    let mut m = CK_MECHANISM {
        mechanism: CKM_SP800_108_COUNTER_KDF,
        pParameter: (&mut p as *mut CK_SP800_108_KDF_PARAMS).cast(),
        ulParameterLen: n as _,
    };
    let o = r.derive(&mut m, base, &t).expect("C_DeriveKey");
    assert!(o != 0 && extra_h != 0 && o != extra_h);
    // AES_ECB_ENCRYPT_DATA (no cryptoki variant): SP 800-38A F.1.1.
    let k = raw_key(&r, CKK_AES, &h("2b7e151628aed2a6abf7158809cf4f3c"));
    let mut pt = h("6bc1bee22e409f96e93d7e117393172a");
    let mut sd = CK_KEY_DERIVATION_STRING_DATA { pData: pt.as_mut_ptr(), ulLen: 16 };
    let n = std::mem::size_of_val(&sd);
    let mut m = CK_MECHANISM {
        mechanism: CKM_AES_ECB_ENCRYPT_DATA,
        pParameter: (&mut sd as *mut CK_KEY_DERIVATION_STRING_DATA).cast(),
        ulParameterLen: n as _,
    };
    let sens = rawc::FALSE;
    let ext = rawc::TRUE;
    let derive_t = [
        rawc::attr(CKA_CLASS, &class),
        rawc::attr(CKA_KEY_TYPE, &kt),
        rawc::attr(CKA_TOKEN, &rawc::FALSE),
        rawc::attr(CKA_SENSITIVE, &sens),
        rawc::attr(CKA_EXTRACTABLE, &ext),
    ];
    let o = r.derive(&mut m, k, &derive_t).expect("C_DeriveKey");
    let mut v = [0u8; 16];
    let mut a = [rawc::attr_bytes(CKA_VALUE, &v)];
    a[0].pValue = v.as_mut_ptr().cast();
    assert_eq!(call!(r, C_GetAttributeValue, r.h, o, a.as_mut_ptr(), 1), CKR_OK);
    assert_eq!(hex::encode(v), "3ad77bb40d7a3660a89ecaf32466ef97");
    // Data of 15 bytes: not whole blocks.
    let mut sd15 = CK_KEY_DERIVATION_STRING_DATA { pData: pt.as_mut_ptr(), ulLen: 15 };
    m.pParameter = (&mut sd15 as *mut CK_KEY_DERIVATION_STRING_DATA).cast();
    assert_eq!(r.derive(&mut m, k, &derive_t), Err(CKR_MECHANISM_PARAM_INVALID));
}

#[test]
fn aes_cbc_encrypt_data() {
    let t = common::initialized();
    let s = t.user_session();
    let k = key(&s, KeyType::AES, &h("2b7e151628aed2a6abf7158809cf4f3c"), &[]);
    let iv: [u8; 16] = h("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
    let pt = h("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
    let m = Mechanism::AesCbcEncryptData(AesCbcDeriveParams::new(iv, &pt));
    let d = s.derive_key(&m, k, &readable(32)).unwrap();
    assert_eq!(hex::encode(value(&s, d)), "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2");
    // An AES key of the first 16 bytes; more than the data: refused.
    let aes = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(false),
        Attribute::ValueLen(16.into()),
        Attribute::Encrypt(true),
    ];
    let d = s.derive_key(&m, k, &aes).unwrap();
    assert_eq!(s.encrypt(&Mechanism::AesEcb, d, &[0u8; 16]).unwrap().len(), 16);
    assert_eq!(rv(s.derive_key(&m, k, &readable(33)).unwrap_err()), RvError::MechanismParamInvalid);
    let short = Mechanism::AesCbcEncryptData(AesCbcDeriveParams::new(iv, &pt[..31]));
    assert_eq!(rv(s.derive_key(&short, k, &readable(16)).unwrap_err()), RvError::MechanismParamInvalid);
    let g = key(&s, KeyType::GENERIC_SECRET, &[1; 16], &[]);
    assert_eq!(rv(s.derive_key(&m, g, &readable(16)).unwrap_err()), RvError::KeyTypeInconsistent);
    // The cryptoki suite's case: a generated, sensitive master; the child is
    // sensitive too, and always sensitive.
    let gen_t =
        [Attribute::Token(false), Attribute::ValueLen(32.into()), Attribute::Derive(true), Attribute::Sensitive(true)];
    let master = s.generate_key(&Mechanism::AesKeyGen, &gen_t).unwrap();
    let child_t = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(false),
        Attribute::ValueLen(32.into()),
        Attribute::Sensitive(true),
    ];
    let data = [1u8; 32];
    let m = Mechanism::AesCbcEncryptData(AesCbcDeriveParams::new([0; 16], &data));
    let child = s.derive_key(&m, master, &child_t).unwrap();
    let got = s.get_attributes(child, &[AttributeType::AlwaysSensitive, AttributeType::NeverExtractable]).unwrap();
    assert!(got.contains(&Attribute::AlwaysSensitive(true)) && got.contains(&Attribute::NeverExtractable(true)));
    // The attack: a protected key that may not encrypt, used as an
    // encryption oracle through a readable derived key.
    let no_enc = key(
        &s,
        KeyType::AES,
        &[7; 16],
        &[Attribute::Sensitive(true), Attribute::Extractable(false), Attribute::Encrypt(false)],
    );
    let e = s.derive_key(&m, no_enc, &readable(16)).unwrap_err();
    assert_eq!(rv(e), RvError::KeyFunctionNotPermitted);
    let sens = [Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Token(false), Attribute::ValueLen(16.into())];
    assert!(s.derive_key(&m, no_enc, &sens).is_ok());
}

#[test]
fn hkdf_rfc5869_and_parameters() {
    let t = common::initialized();
    let s = t.user_session();
    let salt = h("000102030405060708090a0b0c");
    let info = h("f0f1f2f3f4f5f6f7f8f9");
    // Case 1 (SHA-256) and case 4 (SHA-1): extract and expand.
    for (hash, ikm, okm) in [
        (
            MechanismType::SHA256,
            22,
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
        ),
        (
            MechanismType::SHA1,
            11,
            "085a01ea1b10f36933068b56efa5ad81a4f14b822f5b091568a9cdd4f155fda2c22e422478d305f3f896",
        ),
    ] {
        let base = key(&s, KeyType::GENERIC_SECRET, &vec![0x0b; ikm], &[]);
        let m = Mechanism::HkdfDerive(HkdfParams::new(hash, Some(HkdfSalt::Data(&salt)), Some(&info)));
        let k = s.derive_key(&m, base, &readable(42)).unwrap();
        assert_eq!(hex::encode(value(&s, k)), okm);
    }
    let ikm = key(&s, KeyType::GENERIC_SECRET, &[0x0b; 22], &[]);
    // Case 3: no salt, no info (an empty info is still an expand).
    let m = Mechanism::HkdfDerive(HkdfParams::new(MechanismType::SHA256, Some(HkdfSalt::Null), Some(&[])));
    let k = s.derive_key(&m, ikm, &readable(42)).unwrap();
    assert_eq!(
        hex::encode(value(&s, k)),
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
    );
    // Extract only: the PRK; expand only from a PRK key.
    let m = Mechanism::HkdfDerive(HkdfParams::new(MechanismType::SHA256, Some(HkdfSalt::Data(&salt)), None));
    let prk = s.derive_key(&m, ikm, &readable(32)).unwrap();
    assert_eq!(hex::encode(value(&s, prk)), "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
    let prk_key = key(&s, KeyType::GENERIC_SECRET, &value(&s, prk), &[]);
    let m = Mechanism::HkdfDerive(HkdfParams::new(MechanismType::SHA256, None, Some(&info)));
    let case1 = "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865";
    assert_eq!(hex::encode(value(&s, s.derive_key(&m, prk_key, &readable(42)).unwrap())), case1);
    // The salt as a key object (CKF_HKDF_SALT_KEY), and an HKDF-typed base.
    let salt_key = key(&s, KeyType::HKDF, &salt, &[]);
    let hkdf_base = key(&s, KeyType::HKDF, &[0x0b; 22], &[]);
    let m = Mechanism::HkdfDerive(HkdfParams::new(MechanismType::SHA256, Some(HkdfSalt::Key(salt_key)), Some(&info)));
    assert_eq!(hex::encode(value(&s, s.derive_key(&m, hkdf_base, &readable(42)).unwrap())), case1);
    // CKM_HKDF_DATA makes a data object.
    let m = Mechanism::HkdfData(HkdfParams::new(MechanismType::SHA256, Some(HkdfSalt::Data(&salt)), Some(&info)));
    let dt = [Attribute::Class(ObjectClass::DATA), Attribute::Token(false), Attribute::ValueLen(42.into())];
    let d = s.derive_key(&m, ikm, &dt).unwrap();
    assert_eq!(hex::encode(value(&s, d)), case1);
    assert!(s.get_attributes(d, &[AttributeType::Class]).unwrap().contains(&Attribute::Class(ObjectClass::DATA)));
    assert_eq!(rv(s.derive_key(&m, ikm, &readable(42)).unwrap_err()), RvError::TemplateInconsistent);
    // CKM_HKDF_KEY_GEN: a CKK_HKDF key that HKDF derives from.
    let g = s
        .generate_key(
            &Mechanism::HkdfKeyGen,
            &[Attribute::Token(false), Attribute::ValueLen(32.into()), Attribute::Derive(true)],
        )
        .unwrap();
    assert!(s.get_attributes(g, &[AttributeType::KeyType]).unwrap().contains(&Attribute::KeyType(KeyType::HKDF)));
    let m = Mechanism::HkdfDerive(HkdfParams::new(MechanismType::SHA512, Some(HkdfSalt::Null), Some(&info)));
    let k = s.derive_key(&m, g, &readable(64)).unwrap();
    assert_eq!(value(&s, k).len(), 64);
    // Parameter and key errors.
    let invalid = |m: Mechanism, base| {
        assert_eq!(rv(s.derive_key(&m, base, &readable(32)).unwrap_err()), RvError::MechanismParamInvalid)
    };
    invalid(Mechanism::HkdfDerive(HkdfParams::new(MechanismType::SHA256, None, None)), ikm);
    invalid(Mechanism::HkdfDerive(HkdfParams::new(MechanismType::AES_CMAC, Some(HkdfSalt::Null), Some(&info))), ikm);
    invalid(Mechanism::HkdfDerive(HkdfParams::new(MechanismType::SHA256, Some(HkdfSalt::Data(&[])), Some(&info))), ikm);
    let aes = key(&s, KeyType::AES, &[1; 16], &[]);
    let m = Mechanism::HkdfDerive(HkdfParams::new(MechanismType::SHA256, Some(HkdfSalt::Null), Some(&info)));
    assert_eq!(rv(s.derive_key(&m, aes, &readable(32)).unwrap_err()), RvError::KeyTypeInconsistent);
    assert_eq!(rv(s.derive_key(&m, ikm, &readable(255 * 32 + 1)).unwrap_err()), RvError::KeySizeRange);
    // A sensitive base: the output is a PRF value and may be readable, but
    // is never "always sensitive".
    let sens = key(&s, KeyType::GENERIC_SECRET, &[0x0b; 22], &[Attribute::Sensitive(true)]);
    let k = s.derive_key(&m, sens, &readable(32)).unwrap();
    assert!(
        s.get_attributes(k, &[AttributeType::AlwaysSensitive]).unwrap().contains(&Attribute::AlwaysSensitive(false))
    );
}

/// An HKDF key is a managed key like any other: it rotates with its own
/// generation mechanism, and the new version derives differently.
#[test]
fn hkdf_keys_rotate_with_hkdf_key_gen() {
    let t = common::initialized();
    let s = t.user_session();
    let label = Attribute::Label(b"hkdf-master".to_vec());
    let gen_t = [label.clone(), Attribute::Token(true), Attribute::ValueLen(32.into()), Attribute::Derive(true)];
    let v1 = s.generate_key(&Mechanism::HkdfKeyGen, &gen_t).unwrap();
    let rotate = common::vbool(0x8000_0000 | 0x4B57_000B, true);
    let v2 = s.generate_key(&Mechanism::HkdfKeyGen, &[label, rotate]).unwrap();
    assert_ne!(v1, v2);
    assert!(s.get_attributes(v2, &[AttributeType::KeyType]).unwrap().contains(&Attribute::KeyType(KeyType::HKDF)));
    let info = [1u8; 4];
    let m = Mechanism::HkdfDerive(HkdfParams::new(MechanismType::SHA256, Some(HkdfSalt::Null), Some(&info)));
    let k2 = s.derive_key(&m, v2, &readable(32)).unwrap();
    // The old version no longer derives (not primary), or derives another key.
    match s.derive_key(&m, v1, &readable(32)) {
        Ok(k1) => assert_ne!(value(&s, k1), value(&s, k2)),
        Err(e) => assert_eq!(rv(e), RvError::KeyFunctionNotPermitted),
    }
}
