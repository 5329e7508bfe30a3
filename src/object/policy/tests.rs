//! Unit tests of the key policy: profiles, knobs, and each rule of
//! `object::policy` (what a refusal says and which knob it names).

use super::*;

fn knobs(f: impl FnOnce(&mut Knobs)) -> Knobs {
    let mut k = Knobs::default();
    f(&mut k);
    k
}

#[test]
fn resolution_order() {
    assert_eq!(KeyPolicy::resolve(&Knobs::default(), None).unwrap(), KeyPolicy::DEFAULT);
    let strict = knobs(|k| k.profile = Some(Profile::Strict));
    assert_eq!(KeyPolicy::resolve(&strict, None).unwrap(), KeyPolicy::STRICT);
    // A knob overrides its profile.
    let g = knobs(|k| {
        k.profile = Some(Profile::Strict);
        k.min_rsa_bits = Some(3072);
    });
    let p = KeyPolicy::resolve(&g, None).unwrap();
    assert_eq!((p.min_rsa_bits, p.allow_sha1_signatures), (3072, false));
    // A slot without a profile inherits and adjusts.
    let s = knobs(|k| k.allow_sha1_signatures = Some(true));
    let p = KeyPolicy::resolve(&g, Some(&s)).unwrap();
    assert_eq!((p.min_rsa_bits, p.allow_sha1_signatures), (3072, true));
    // A slot with a profile starts afresh from it.
    let s = knobs(|k| k.profile = Some(Profile::Default));
    assert_eq!(KeyPolicy::resolve(&g, Some(&s)).unwrap(), KeyPolicy::DEFAULT);
    // Out of range.
    assert!(KeyPolicy::resolve(&knobs(|k| k.min_rsa_bits = Some(256)), None).is_err());
    assert!(KeyPolicy::resolve(&knobs(|k| k.min_rsa_verify_bits = Some(16384)), None).is_err());
    // The verification floor never exceeds min_rsa_bits.
    let p = KeyPolicy::resolve(&g, Some(&knobs(|k| k.min_rsa_bits = Some(1024)))).unwrap();
    assert_eq!(p.verify_floor(), 1024);
}

#[test]
fn generation_rules() {
    let d = KeyPolicy::DEFAULT;
    assert_eq!(d.check_rsa_generate(1024, Some(&[3])).unwrap(), 3);
    assert_eq!(d.check_rsa_generate(2048, None).unwrap(), 65537);
    assert_eq!(d.check_rsa_generate(1536, Some(&[0, 1, 0, 0, 1])).unwrap(), 0x0100_0001);
    let rv = |r: Result<u32>| r.unwrap_err().rv();
    assert_eq!(rv(d.check_rsa_generate(768, None)), CKR_KEY_SIZE_RANGE);
    assert_eq!(rv(d.check_rsa_generate(2047, None)), CKR_KEY_SIZE_RANGE);
    assert_eq!(rv(d.check_rsa_generate(16384, None)), CKR_KEY_SIZE_RANGE);
    for bad in [&[4u8][..], &[1], &[], &[1, 0, 0, 0, 1]] {
        assert_eq!(rv(d.check_rsa_generate(2048, Some(bad))), CKR_TEMPLATE_INCONSISTENT, "{bad:?}");
    }
    let s = KeyPolicy::STRICT;
    assert_eq!(rv(s.check_rsa_generate(1024, None)), CKR_KEY_SIZE_RANGE);
    assert_eq!(rv(s.check_rsa_generate(2048, Some(&[3]))), CKR_TEMPLATE_INCONSISTENT);
    assert!(s.check_rsa_generate(2048, Some(&[0, 1, 0, 1])).is_ok());
    assert!(s.check_rsa_generate(2048, Some(&[3])).unwrap_err().reason().contains("rsa_public_exponent"));
    assert!(s.check_rsa_generate(1024, None).unwrap_err().reason().contains("min_rsa_bits"));
    assert!(s.check_rsa_generate(4096, None).is_ok());
}

#[test]
fn usage_defaults_pick_one_role() {
    use crate::object::template::{Origin, build};
    let aes = |extra: &[Attr]| {
        let mut t = vec![
            Attr::ulong(CKA_CLASS, CKO_SECRET_KEY),
            Attr::ulong(CKA_KEY_TYPE, CKK_AES),
            Attr::new(CKA_VALUE, (0..16).collect::<Vec<u8>>()),
        ];
        t.extend_from_slice(extra);
        let mut n = build(&t, &[], Origin::Create).unwrap();
        KeyPolicy::STRICT.settle_usage(&mut [(&mut n, &t)]);
        let flags = [CKA_ENCRYPT, CKA_DECRYPT, CKA_WRAP, CKA_UNWRAP].map(|ty| n.attrs.flag(ty));
        (flags, KeyPolicy::STRICT.check_new_object(&n).map_err(|e| e.rv()), KeyPolicy::DEFAULT.check_new_object(&n))
    };
    let (f, strict, default) = aes(&[]);
    assert_eq!((f, strict), ([true, true, false, false], Ok(())));
    assert!(default.is_ok());
    let (f, strict, _) = aes(&[Attr::bool(CKA_UNWRAP, true)]);
    assert_eq!((f, strict), ([false, false, true, true], Ok(())));
    let (f, strict, default) = aes(&[Attr::bool(CKA_WRAP, true), Attr::bool(CKA_DECRYPT, true)]);
    assert_eq!((f, strict), ([false, true, true, true], Err(CKR_TEMPLATE_INCONSISTENT)));
    assert!(default.is_ok());
    // The default profile leaves the spec's defaults alone.
    let t = [Attr::ulong(CKA_CLASS, CKO_SECRET_KEY), Attr::ulong(CKA_KEY_TYPE, CKK_AES)];
    let mut n = build(&t, &[], Origin::Generate(CKM_AES_KEY_GEN)).unwrap();
    KeyPolicy::DEFAULT.settle_usage(&mut [(&mut n, &t)]);
    assert!(n.attrs.flag(CKA_WRAP) && n.attrs.flag(CKA_DECRYPT));
}

#[test]
fn legacy_knobs() {
    let (d, s) = (KeyPolicy::DEFAULT, KeyPolicy::STRICT);
    for (kt, m, knob) in [
        (CKK_DES3, CKM_DES3_CBC_PAD, "allow_des3"),
        (CKK_DES2, CKM_DES2_KEY_GEN, "allow_des3"),
        (CKK_DSA, CKM_DSA_SHA1, "allow_dsa"),
        (CKK_DH, CKM_DH_PKCS_DERIVE, "allow_dh"),
    ] {
        assert_eq!((d.refused_legacy(Some(kt), None), d.refused_legacy(None, Some(m))), (None, None));
        assert_eq!((s.refused_legacy(Some(kt), None), s.refused_legacy(None, Some(m))), (Some(knob), Some(knob)));
    }
    assert_eq!(s.refused_legacy(Some(CKK_AES), Some(CKM_AES_CBC)), None);
    let p = KeyPolicy::resolve(&knobs(|k| k.allow_des3 = Some(false)), None).unwrap();
    assert_eq!((p.allow_des3, p.allow_dsa), (false, true));
    let i = crate::mechanism::registry::info(CKM_DES3_CBC_PAD).unwrap();
    assert_ne!(d.advertise(CKM_DES3_CBC_PAD, i).flags, 0);
    assert_eq!(s.advertise(CKM_DES3_CBC_PAD, i).flags, 0);
}

#[test]
fn repeated_bytes_and_advertising() {
    assert!(KeyPolicy::DEFAULT.check_secret_value(&[0; 16]).is_ok());
    let e = KeyPolicy::STRICT.check_secret_value(&[0x31; 16]).unwrap_err();
    assert_eq!(e.rv(), CKR_ATTRIBUTE_VALUE_INVALID);
    assert!(e.reason().contains("refuse_repeated_byte_keys"));
    assert!(KeyPolicy::STRICT.check_secret_value(&[0, 0, 0, 1]).is_ok());

    let gen_info = crate::mechanism::registry::info(CKM_RSA_PKCS_KEY_PAIR_GEN).unwrap();
    assert_eq!(KeyPolicy::DEFAULT.advertise(CKM_RSA_PKCS_KEY_PAIR_GEN, gen_info).min_key_size, 1024);
    assert_eq!(KeyPolicy::STRICT.advertise(CKM_RSA_PKCS_KEY_PAIR_GEN, gen_info).min_key_size, 2048);
    let v = crate::mechanism::registry::info(CKM_SHA256_RSA_PKCS).unwrap();
    assert_eq!(KeyPolicy::DEFAULT.advertise(CKM_SHA256_RSA_PKCS, v).min_key_size, 512);
    let o = crate::mechanism::registry::info(CKM_RSA_PKCS_OAEP).unwrap();
    assert_eq!(KeyPolicy::DEFAULT.advertise(CKM_RSA_PKCS_OAEP, o).min_key_size, 1024);
    let sha1 = crate::mechanism::registry::info(CKM_SHA1_RSA_PKCS).unwrap();
    assert_ne!(KeyPolicy::DEFAULT.advertise(CKM_SHA1_RSA_PKCS, sha1).flags & CKF_SIGN, 0);
    let strict = KeyPolicy::STRICT.advertise(CKM_SHA1_RSA_PKCS, sha1);
    assert_eq!(strict.flags & CKF_SIGN, 0);
    assert_ne!(strict.flags & CKF_VERIFY, 0);
}

#[test]
fn md5_knobs() {
    let d = KeyPolicy::DEFAULT;
    let s = KeyPolicy::STRICT;
    assert!(d.allow_md5 && !d.allow_md5_signatures && !s.allow_md5 && !s.allow_md5_signatures);
    let md5 = Mechanism::new(CKM_MD5);
    d.check_digest(&md5).unwrap();
    assert_eq!(s.check_digest(&md5).unwrap_err().rv(), CKR_MECHANISM_INVALID);
    s.check_digest(&Mechanism::new(CKM_SHA3_256)).unwrap();
    // Verification of MD5 signatures, not new ones, in the default profile.
    d.check_md5(CKM_MD5_RSA_PKCS, false).unwrap();
    assert_eq!(d.check_md5(CKM_MD5_RSA_PKCS, true).unwrap_err().rv(), CKR_MECHANISM_INVALID);
    d.check_md5(CKM_MD5_HMAC, true).unwrap();
    assert_eq!(s.check_md5(CKM_MD5_HMAC_GENERAL, false).unwrap_err().rv(), CKR_MECHANISM_INVALID);
    let sv = MechanismInfo { min_key_size: 512, max_key_size: 8192, flags: CKF_SIGN | CKF_VERIFY };
    assert_eq!(d.advertise(CKM_MD5_RSA_PKCS, sv).flags, CKF_VERIFY);
    assert_eq!(s.advertise(CKM_MD5_RSA_PKCS, sv).flags, 0);
    assert_eq!(s.advertise(CKM_SHA3_256_RSA_PKCS, sv).flags, CKF_SIGN | CKF_VERIFY);
    // The knobs, from the file.
    let on = KeyPolicy::resolve(&knobs(|k| k.allow_md5_signatures = Some(true)), None).unwrap();
    on.check_md5(CKM_MD5_RSA_PKCS, true).unwrap();
    let strict_md5 = knobs(|k| {
        k.profile = Some(Profile::Strict);
        k.allow_md5 = Some(true);
    });
    let p = KeyPolicy::resolve(&strict_md5, None).unwrap();
    p.check_digest(&md5).unwrap();
    let off = KeyPolicy::resolve(&knobs(|k| k.allow_md5 = Some(false)), None).unwrap();
    assert_eq!(off.advertise(CKM_MD5, MechanismInfo { min_key_size: 0, max_key_size: 0, flags: CKF_DIGEST }).flags, 0);
}

#[test]
fn simple_key_derivation_knob() {
    let on = |p: &KeyPolicy| {
        p.advertise(CKM_XOR_BASE_AND_DATA, MechanismInfo { min_key_size: 8, max_key_size: 8, flags: CKF_DERIVE })
    };
    assert_eq!(on(&KeyPolicy::DEFAULT).flags, CKF_DERIVE);
    assert_eq!(on(&KeyPolicy::STRICT).flags, 0);
    let k: Knobs = toml::from_str("profile = \"strict\"\nallow_simple_key_derivation = true").unwrap();
    assert!(KeyPolicy::resolve(&k, None).unwrap().allow_simple_key_derivation);
    let hkdf = MechanismInfo { min_key_size: 8, max_key_size: 8, flags: CKF_DERIVE };
    assert_eq!(KeyPolicy::STRICT.advertise(CKM_HKDF_DERIVE, hkdf).flags, CKF_DERIVE);
}

#[test]
fn require_post_quantum_needs_both_post_quantum_families() {
    let strict_require = knobs(|k| {
        k.profile = Some(Profile::Strict);
        k.require_post_quantum = Some(true);
    });
    let p = KeyPolicy::resolve(&strict_require, None).unwrap();
    assert!(p.require_post_quantum && p.min_rsa_bits == 2048);
    const { assert!(!KeyPolicy::STRICT.require_post_quantum && !KeyPolicy::DEFAULT.require_post_quantum) };
    for off in ["allow_ml_dsa", "allow_ml_kem"] {
        let k = knobs(|k| {
            k.require_post_quantum = Some(true);
            if off == "allow_ml_dsa" {
                k.allow_ml_dsa = Some(false);
            } else {
                k.allow_ml_kem = Some(false);
            }
        });
        let e = KeyPolicy::resolve(&k, None).unwrap_err();
        assert!(e.contains("require_post_quantum") && e.contains(off), "{e}");
    }
    // A slot that turns one family off under a global require is refused too.
    let slot = knobs(|k| k.allow_ml_kem = Some(false));
    assert!(KeyPolicy::resolve(&strict_require, Some(&slot)).is_err());
    // Key-pair generation: only the post-quantum ones.
    assert_eq!(p.check_key_pair_generation(CKM_RSA_PKCS_KEY_PAIR_GEN).unwrap_err().rv(), CKR_MECHANISM_INVALID);
    assert_eq!(p.check_key_pair_generation(CKM_EC_KEY_PAIR_GEN).unwrap_err().rv(), CKR_MECHANISM_INVALID);
    p.check_key_pair_generation(CKM_ML_DSA_KEY_PAIR_GEN).unwrap();
    p.check_key_pair_generation(CKM_ML_KEM_KEY_PAIR_GEN).unwrap();
    KeyPolicy::STRICT.check_key_pair_generation(CKM_RSA_PKCS_KEY_PAIR_GEN).unwrap();
}
