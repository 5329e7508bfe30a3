//! Triple DES through the built module: the NIST CAVP multi-block message
//! tests (TECBMMT2/3, TCBCMMT2/3: 2-key and 3-key, encrypt and decrypt,
//! single- and multi-part), CBC_PAD, key generation (parity, lengths, key
//! types), wrapping, CKM_DES3_ECB/CBC_ENCRYPT_DATA derivation, and the
//! `allow_des3` knob (off in the strict profile).

mod common;
#[macro_use]
mod rawc;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

struct Vector {
    encrypt: bool,
    key: Vec<u8>,
    iv: Option<[u8; 8]>,
    plain: Vec<u8>,
    cipher: Vec<u8>,
}

/// Parses a CAVP .rsp file (KEY1..3, IV, PLAINTEXT, CIPHERTEXT).
fn vectors(name: &str) -> Vec<Vector> {
    let path = format!("{}/tests/data/tdes/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    let mut encrypt = true;
    let mut cur: std::collections::HashMap<String, Vec<u8>> = Default::default();
    let mut flush = |cur: &mut std::collections::HashMap<String, Vec<u8>>, encrypt: bool| {
        if cur.contains_key("PLAINTEXT") && cur.contains_key("CIPHERTEXT") {
            let key = [&cur["KEY1"][..], &cur["KEY2"][..], &cur["KEY3"][..]].concat();
            out.push(Vector {
                encrypt,
                key,
                iv: cur.get("IV").map(|v| v.as_slice().try_into().unwrap()),
                plain: cur["PLAINTEXT"].clone(),
                cipher: cur["CIPHERTEXT"].clone(),
            });
        }
        cur.clear();
    };
    for line in text.lines().map(str::trim) {
        if line == "[ENCRYPT]" || line == "[DECRYPT]" {
            flush(&mut cur, encrypt);
            encrypt = line == "[ENCRYPT]";
        } else if line.starts_with("COUNT") {
            flush(&mut cur, encrypt);
        } else if let Some((k, v)) = line.split_once(" = ") {
            cur.insert(k.to_string(), hex::decode(v).unwrap());
        }
    }
    flush(&mut cur, encrypt);
    out
}

fn key(s: &Session, kt: KeyType, value: &[u8]) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(kt),
        Attribute::Value(value.to_vec()),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Wrap(true),
        Attribute::Unwrap(true),
    ])
    .unwrap()
}

fn multi(s: &Session, m: &Mechanism, k: ObjectHandle, encrypt: bool, input: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    if encrypt {
        s.encrypt_init(m, k).unwrap();
        for c in input.chunks(chunk) {
            out.extend(s.encrypt_update(c).unwrap());
        }
        out.extend(s.encrypt_final().unwrap());
    } else {
        s.decrypt_init(m, k).unwrap();
        for c in input.chunks(chunk) {
            out.extend(s.decrypt_update(c).unwrap());
        }
        out.extend(s.decrypt_final().unwrap());
    }
    out
}

#[test]
fn cavp_multi_block_message_tests() {
    let t = initialized();
    let s = t.user_session();
    let mut n = 0;
    for file in ["TECBMMT2.rsp", "TECBMMT3.rsp", "TCBCMMT2.rsp", "TCBCMMT3.rsp"] {
        let vs = vectors(file);
        assert_eq!(vs.len(), 20, "{file}");
        for v in vs {
            // The 2-key files give K3 = K1: test them as CKK_DES2 keys.
            let two_key = v.key[16..] == v.key[..8];
            let k = if two_key { key(&s, KeyType::DES2, &v.key[..16]) } else { key(&s, KeyType::DES3, &v.key) };
            let m = match v.iv {
                Some(iv) => Mechanism::Des3Cbc(iv),
                None => Mechanism::Des3Ecb,
            };
            let (input, want) = if v.encrypt { (&v.plain, &v.cipher) } else { (&v.cipher, &v.plain) };
            let got = if v.encrypt { s.encrypt(&m, k, input) } else { s.decrypt(&m, k, input) }.unwrap();
            assert_eq!(&got, want, "{file} {m:?}");
            for chunk in [3, 8, 13] {
                assert_eq!(&multi(&s, &m, k, v.encrypt, input, chunk), want, "{file} multi-part {chunk}");
            }
            n += 1;
        }
    }
    assert_eq!(n, 80);
}

#[test]
fn cbc_pad_lengths_and_errors() {
    let t = initialized();
    let s = t.user_session();
    let k = key(&s, KeyType::DES3, &hex::decode("0123456789abcdef23456789abcdef01456789abcdef0123").unwrap());
    let iv = [7u8; 8];
    let m = Mechanism::Des3CbcPad(iv);
    for len in [0usize, 1, 7, 8, 9, 100] {
        let data: Vec<u8> = (0..len as u8).collect();
        let ct = s.encrypt(&m, k, &data).unwrap();
        assert_eq!(ct.len(), (len / 8 + 1) * 8);
        // CBC_PAD is CBC over the PKCS#7-padded input.
        let mut padded = data.clone();
        padded.resize(ct.len(), (ct.len() - len) as u8);
        assert_eq!(s.encrypt(&Mechanism::Des3Cbc(iv), k, &padded).unwrap(), ct);
        assert_eq!(s.decrypt(&m, k, &ct).unwrap(), data);
        assert_eq!(multi(&s, &m, k, false, &ct, 5), data);
        assert_eq!(multi(&s, &m, k, true, &data, 3), ct);
    }
    // Not whole blocks.
    assert_eq!(rv(s.encrypt(&Mechanism::Des3Ecb, k, &[0; 9]).unwrap_err()), RvError::DataLenRange);
    assert_eq!(rv(s.decrypt(&m, k, &[0; 9]).unwrap_err()), RvError::EncryptedDataLenRange);
    // A wrong IV length is a parameter error (a raw 16-byte IV).
    let bad = Mechanism::VendorDefined(cryptoki::mechanism::vendor_defined::VendorDefinedMechanism::new(
        MechanismType::DES3_CBC,
        Some(&[0u8; 16]),
    ));
    assert_eq!(rv(s.encrypt(&bad, k, &[0; 8]).unwrap_err()), RvError::MechanismParamInvalid);
    // An AES key does not take 3DES, nor a 3DES key AES.
    let aes = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Value(vec![1; 24]),
            Attribute::Encrypt(true),
        ])
        .unwrap();
    assert_eq!(rv(s.encrypt(&Mechanism::Des3Ecb, aes, &[0; 8]).unwrap_err()), RvError::KeyTypeInconsistent);
    assert_eq!(rv(s.encrypt(&Mechanism::AesEcb, k, &[0; 16]).unwrap_err()), RvError::KeyTypeInconsistent);
    // Single DES keys are stored but no mechanism uses them.
    let des = key(&s, KeyType::DES, &hex::decode("0123456789abcdef").unwrap());
    assert_eq!(rv(s.encrypt(&Mechanism::Des3Ecb, des, &[0; 8]).unwrap_err()), RvError::KeyTypeInconsistent);
    assert!(!t.p11.get_mechanism_list(t.slot).unwrap().contains(&MechanismType::DES_ECB));
}

#[test]
fn key_values_and_generation() {
    let t = initialized();
    let s = t.user_session();
    // Import: the value length fits the key type.
    for (kt, ok) in [(KeyType::DES, 8), (KeyType::DES2, 16), (KeyType::DES3, 24)] {
        for len in [8usize, 16, 24, 32] {
            let r = s.create_object(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(kt),
                Attribute::Value(vec![0x13; len]),
            ]);
            if len == ok {
                r.unwrap();
            } else {
                assert_eq!(rv(r.unwrap_err()), RvError::AttributeValueInvalid, "{kt:?} {len}");
            }
        }
    }
    for (m, kt, len) in [(Mechanism::Des2KeyGen, KeyType::DES2, 16), (Mechanism::Des3KeyGen, KeyType::DES3, 24)] {
        let k = s
            .generate_key(&m, &[Attribute::Sensitive(false), Attribute::Extractable(true), Attribute::Encrypt(true)])
            .unwrap();
        let attrs =
            s.get_attributes(k, &[AttributeType::KeyType, AttributeType::Value, AttributeType::ValueLen]).unwrap();
        let (mut got_kt, mut value, mut vlen) = (None, vec![], 0u64);
        for a in attrs {
            match a {
                Attribute::KeyType(x) => got_kt = Some(x),
                Attribute::Value(v) => value = v,
                Attribute::ValueLen(l) => vlen = l.into(),
                _ => {}
            }
        }
        assert_eq!((got_kt, value.len(), vlen), (Some(kt), len, len as u64));
        assert!(value.iter().all(|b| b.count_ones() % 2 == 1), "odd parity: {}", hex::encode(&value));
        assert!(value.chunks(8).collect::<Vec<_>>().windows(2).all(|w| w[0] != w[1]));
        // CKA_VALUE_LEN may be given if it is the type's length.
        s.generate_key(&m, &[Attribute::ValueLen((len as u64).into())]).unwrap();
        let e = s.generate_key(&m, &[Attribute::ValueLen(8.into())]).unwrap_err();
        assert_eq!(rv(e), RvError::TemplateInconsistent);
        let ct = s.encrypt(&Mechanism::Des3CbcPad([0; 8]), k, b"PLAIN TEXT_").unwrap();
        assert_eq!(ct.len(), 16);
    }
    // Generic secret generation does not make DES keys (no parity, any length).
    let e = s
        .generate_key(
            &Mechanism::GenericSecretKeyGen,
            &[Attribute::KeyType(KeyType::DES3), Attribute::ValueLen(24.into())],
        )
        .unwrap_err();
    assert_eq!(rv(e), RvError::TemplateInconsistent);
    let info = t.p11.get_mechanism_info(t.slot, MechanismType::DES3_CBC_PAD).unwrap();
    assert!(info.encrypt() && info.decrypt() && info.wrap() && info.unwrap());
    assert_eq!((info.min_key_size(), info.max_key_size()), (16, 24));
    assert!(t.p11.get_mechanism_info(t.slot, MechanismType::DES3_KEY_GEN).unwrap().generate());
}

#[test]
fn wrap_and_unwrap_with_3des() {
    let t = initialized();
    let s = t.user_session();
    let kek = key(&s, KeyType::DES3, &hex::decode("0123456789abcdef23456789abcdef01456789abcdef0123").unwrap());
    let target = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::Value((0..20).collect()),
            Attribute::Extractable(true),
            Attribute::Sensitive(false),
        ])
        .unwrap();
    for m in [Mechanism::Des3Ecb, Mechanism::Des3Cbc([3; 8]), Mechanism::Des3CbcPad([3; 8])] {
        let w = s.wrap_key(&m, kek, target).unwrap();
        assert_eq!(w.len(), 24, "{m:?}");
        let h = s
            .unwrap_key(
                &m,
                kek,
                &w,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::GENERIC_SECRET),
                    Attribute::ValueLen(20.into()),
                    Attribute::Sensitive(false),
                    Attribute::Extractable(true),
                ],
            )
            .unwrap();
        assert_eq!(value(&s, h), (0..20).collect::<Vec<u8>>(), "{m:?}");
    }
    // CBC_PAD with a bad padding block: CKR_WRAPPED_KEY_INVALID (or the
    // length error when the last byte reads as a valid pad shorter than 20).
    let mut w = s.wrap_key(&Mechanism::Des3CbcPad([3; 8]), kek, target).unwrap();
    w[15] ^= 0xff;
    let e = s
        .unwrap_key(
            &Mechanism::Des3CbcPad([3; 8]),
            kek,
            &w,
            &[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::KeyType(KeyType::GENERIC_SECRET)],
        )
        .unwrap_err();
    assert_eq!(rv(e), RvError::WrappedKeyInvalid);
}

#[test]
fn knob_allow_des3() {
    let run = |policy: &str| {
        let t = initialized_with(policy);
        let s = t.user_session();
        let generated = s.generate_key(&Mechanism::Des3KeyGen, &[Attribute::Encrypt(true)]).map(|_| ()).map_err(rv);
        let import = s
            .create_object(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::DES2),
                Attribute::Value(hex::decode("0123456789abcdeffedcba9876543210").unwrap()),
            ])
            .map(|_| ())
            .map_err(rv);
        // Generic secret generation does not make DES keys (no parity, any length).
        let e = s
            .generate_key(
                &Mechanism::GenericSecretKeyGen,
                &[Attribute::KeyType(KeyType::DES3), Attribute::ValueLen(24.into())],
            )
            .unwrap_err();
        assert_eq!(rv(e), RvError::TemplateInconsistent);
        let info = t.p11.get_mechanism_info(t.slot, MechanismType::DES3_CBC_PAD).unwrap();
        drop(s);
        let Token { dir, p11, .. } = t;
        p11.finalize().unwrap();
        drop(dir);
        (generated, import, info.encrypt())
    };
    assert_eq!(run(""), (Ok(()), Ok(()), true));
    let refused = Err(RvError::TemplateInconsistent);
    assert_eq!(run("profile = \"strict\""), (refused, refused, false));
    assert_eq!(run("allow_des3 = false"), (refused, refused, false));
    assert_eq!(run("profile = \"strict\"\nallow_des3 = true"), (Ok(()), Ok(()), true));
}

#[test]
fn a_key_made_before_the_knob_turned_off_is_refused_at_use() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_config(dir.path(), "");
    let conf = std::ffi::CString::new(conf.display().to_string()).unwrap();
    let p11 = load(&conf);
    let slot = p11.get_all_slots().unwrap()[0];
    p11.init_token(slot, &pin(SO_PIN), "test").unwrap();
    let s = p11.open_rw_session(slot).unwrap();
    s.login(cryptoki::session::UserType::So, Some(&pin(SO_PIN))).unwrap();
    s.init_pin(&pin(USER_PIN)).unwrap();
    s.logout().unwrap();
    s.login(cryptoki::session::UserType::User, Some(&pin(USER_PIN))).unwrap();
    s.generate_key(
        &Mechanism::Des3KeyGen,
        &[Attribute::Token(true), Attribute::Encrypt(true), Attribute::Label(b"old".to_vec())],
    )
    .unwrap();
    drop(s);
    p11.finalize().unwrap();
    // The same token, now strict.
    let text = std::fs::read_to_string(dir.path().join("keyward.toml")).unwrap();
    std::fs::write(dir.path().join("keyward.toml"), text.replace("[policy]\n", "[policy]\nprofile = \"strict\"\n"))
        .unwrap();
    let p11 = load(&conf);
    let s = p11.open_rw_session(slot).unwrap();
    s.login(cryptoki::session::UserType::User, Some(&pin(USER_PIN))).unwrap();
    let k = s.find_objects(&[Attribute::Label(b"old".to_vec())]).unwrap()[0];
    let e = s.encrypt(&Mechanism::Des3CbcPad([0; 8]), k, b"x").unwrap_err();
    assert_eq!(rv(e), RvError::KeyFunctionNotPermitted);
}

/// CKM_DES3_ECB_ENCRYPT_DATA / CKM_DES3_CBC_ENCRYPT_DATA: the derived value
/// is the data encrypted with ECB / CBC under the base key (raw calls: the
/// `cryptoki` crate has no such mechanisms).
#[test]
fn des3_encrypt_data_derivation() {
    use pkcs11_sys::*;
    use std::ptr::null_mut;
    let r = rawc::Raw::open();
    let kv = hex::decode("0123456789abcdef23456789abcdef01456789abcdef0123").unwrap();
    let make_with = |kt: CK_KEY_TYPE, may_encrypt: CK_BBOOL| {
        let (class, t) = (CKO_SECRET_KEY, rawc::TRUE);
        let a = [
            rawc::attr(CKA_CLASS, &class),
            rawc::attr(CKA_KEY_TYPE, &kt),
            rawc::attr_bytes(CKA_VALUE, &kv),
            rawc::attr(CKA_DERIVE, &t),
            rawc::attr(CKA_ENCRYPT, &may_encrypt),
            rawc::attr(CKA_TOKEN, &rawc::FALSE),
        ];
        r.create(&a).expect("C_CreateObject")
    };
    let make = |kt: CK_KEY_TYPE| make_with(kt, rawc::TRUE);
    let base = make(CKK_DES3);
    let encrypt = |m: CK_MECHANISM_TYPE, iv: &[u8], data: &[u8]| -> Vec<u8> {
        let mut ck = CK_MECHANISM {
            mechanism: m,
            pParameter: if iv.is_empty() { null_mut() } else { iv.as_ptr() as *mut _ },
            ulParameterLen: iv.len() as _,
        };
        assert_eq!(call!(r, C_EncryptInit, r.h, &mut ck, base), CKR_OK);
        let mut out = vec![0u8; data.len()];
        let mut n = out.len() as CK_ULONG;
        assert_eq!(
            call!(r, C_Encrypt, r.h, data.as_ptr() as *mut _, data.len() as _, out.as_mut_ptr(), &mut n),
            CKR_OK
        );
        out
    };
    // Derives a 16-byte extractable generic secret; returns its value.
    let derive = |ck: &mut CK_MECHANISM, key: CK_OBJECT_HANDLE| -> Result<Vec<u8>, CK_RV> {
        let (class, kt, len, f, t) = (CKO_SECRET_KEY, CKK_GENERIC_SECRET, 16 as CK_ULONG, rawc::FALSE, rawc::TRUE);
        let a = [
            rawc::attr(CKA_CLASS, &class),
            rawc::attr(CKA_KEY_TYPE, &kt),
            rawc::attr(CKA_VALUE_LEN, &len),
            rawc::attr(CKA_SENSITIVE, &f),
            rawc::attr(CKA_EXTRACTABLE, &t),
            rawc::attr(CKA_TOKEN, &f),
        ];
        let mut o = 0;
        let rv = call!(r, C_DeriveKey, r.h, ck, key, a.as_ptr() as *mut _, a.len() as _, &mut o);
        if rv != CKR_OK {
            return Err(rv);
        }
        let mut v = vec![0u8; 16];
        let mut g = CK_ATTRIBUTE { type_: CKA_VALUE, pValue: v.as_mut_ptr() as *mut _, ulValueLen: 16 };
        assert_eq!(call!(r, C_GetAttributeValue, r.h, o, &mut g, 1), CKR_OK);
        Ok(v)
    };
    let data: Vec<u8> = (0..24).collect();
    let ecb_of = |sd: &mut CK_KEY_DERIVATION_STRING_DATA| CK_MECHANISM {
        mechanism: CKM_DES3_ECB_ENCRYPT_DATA,
        pParameter: sd as *mut _ as *mut _,
        ulParameterLen: std::mem::size_of::<CK_KEY_DERIVATION_STRING_DATA>() as _,
    };
    let mut sd = CK_KEY_DERIVATION_STRING_DATA { pData: data.as_ptr() as *mut _, ulLen: data.len() as _ };
    assert_eq!(derive(&mut ecb_of(&mut sd), base).unwrap(), encrypt(CKM_DES3_ECB, &[], &data)[..16]);
    let iv = [9u8; 8];
    let mut cp = CK_DES_CBC_ENCRYPT_DATA_PARAMS { iv, pData: data.as_ptr() as *mut _, length: data.len() as _ };
    let mut cbc = CK_MECHANISM {
        mechanism: CKM_DES3_CBC_ENCRYPT_DATA,
        pParameter: &mut cp as *mut _ as *mut _,
        ulParameterLen: std::mem::size_of::<CK_DES_CBC_ENCRYPT_DATA_PARAMS>() as _,
    };
    assert_eq!(derive(&mut cbc, base).unwrap(), encrypt(CKM_DES3_CBC, &iv, &data)[..16]);
    // Not whole blocks, or no parameter: a parameter error.
    sd.ulLen = 12;
    assert_eq!(derive(&mut ecb_of(&mut sd), base).unwrap_err(), CKR_MECHANISM_PARAM_INVALID);
    let mut none = CK_MECHANISM { mechanism: CKM_DES3_ECB_ENCRYPT_DATA, pParameter: null_mut(), ulParameterLen: 0 };
    assert_eq!(derive(&mut none, base).unwrap_err(), CKR_MECHANISM_PARAM_INVALID);
    // A 24-byte AES key is not a 3DES base key.
    let aes = make(CKK_AES);
    sd.ulLen = 16;
    assert_eq!(derive(&mut ecb_of(&mut sd), aes).unwrap_err(), CKR_KEY_TYPE_INCONSISTENT);
    // The attack: a sensitive 3DES key that may not encrypt is not an
    // encryption oracle through a readable derived key (the rule of every
    // *_ENCRYPT_DATA derivation, `token::derive`).
    let no_encrypt = make_with(CKK_DES3, rawc::FALSE);
    assert_eq!(derive(&mut ecb_of(&mut sd), no_encrypt).unwrap_err(), CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_eq!(derive(&mut cbc, no_encrypt).unwrap_err(), CKR_KEY_FUNCTION_NOT_PERMITTED);
}
