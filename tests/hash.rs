//! SHA-3, MD5, AES-MAC and saved digest state through the built module's C
//! ABI (issue 20): NIST CAVP SHA-3 ShortMsg, RFC 1321 MD5, RFC 2202
//! HMAC-MD5, NIST CSRC HMAC-SHA3 samples, SHA-3 HMAC key types and key
//! generation, RSA and ECDSA SHA-3 (and MD5) signatures made or checked by
//! an independent implementation (tests/data/hash/sig-fixtures.txt, from
//! pyca/cryptography), AES-MAC against the module's own CBC encryption,
//! C_GetOperationState/C_SetOperationState, CK_MECHANISM_INFO.

mod common;
#[macro_use]
mod rawc;

use pkcs11_sys::*;
use rawc::{FALSE, Raw, TRUE, attr, attr_bytes};
use std::collections::HashMap;
use std::ptr::null_mut;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn data(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/hash/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The (Len, Key, Msg, MD) records of a CAVP-style file; Len is in bits.
fn records(text: &str) -> Vec<HashMap<String, String>> {
    let mut out = Vec::new();
    let mut cur = HashMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            if cur.contains_key("MD") {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        if let Some((k, v)) = line.split_once(" = ") {
            cur.insert(k.to_string(), v.to_string());
        }
    }
    if cur.contains_key("MD") {
        out.push(cur);
    }
    out
}

fn msg_of(r: &HashMap<String, String>) -> Vec<u8> {
    let bits: usize = r["Len"].parse().unwrap();
    assert_eq!(bits % 8, 0);
    let m = h(&r["Msg"]);
    m[..bits / 8].to_vec()
}

fn mech(ty: CK_MECHANISM_TYPE) -> CK_MECHANISM {
    CK_MECHANISM { mechanism: ty, pParameter: null_mut(), ulParameterLen: 0 }
}

fn mech_ulong(ty: CK_MECHANISM_TYPE, v: &CK_ULONG) -> CK_MECHANISM {
    CK_MECHANISM {
        mechanism: ty,
        pParameter: v as *const CK_ULONG as *mut _,
        ulParameterLen: std::mem::size_of::<CK_ULONG>() as CK_ULONG,
    }
}

/// Single-part digest, and multi-part in three pieces: they must agree.
fn digest(r: &Raw, ty: CK_MECHANISM_TYPE, msg: &[u8]) -> Result<Vec<u8>, CK_RV> {
    let mut m = mech(ty);
    let rv = call!(r, C_DigestInit, r.h, &mut m);
    if rv != CKR_OK {
        return Err(rv);
    }
    let mut out = [0u8; 64];
    let mut n = out.len() as CK_ULONG;
    assert_eq!(call!(r, C_Digest, r.h, msg.as_ptr() as *mut _, msg.len() as _, out.as_mut_ptr(), &mut n), CKR_OK);
    let one = out[..n as usize].to_vec();
    assert_eq!(call!(r, C_DigestInit, r.h, &mut m), CKR_OK);
    let (a, rest) = msg.split_at(msg.len() / 3);
    let (b, c) = rest.split_at(rest.len() / 2);
    for p in [a, b, c] {
        assert_eq!(call!(r, C_DigestUpdate, r.h, p.as_ptr() as *mut _, p.len() as _), CKR_OK);
    }
    let mut n2 = out.len() as CK_ULONG;
    assert_eq!(call!(r, C_DigestFinal, r.h, out.as_mut_ptr(), &mut n2), CKR_OK);
    assert_eq!(&out[..n2 as usize], &one[..], "multi-part digest differs");
    Ok(one)
}

fn sign(r: &Raw, m: &CK_MECHANISM, k: CK_OBJECT_HANDLE, msg: &[u8]) -> Result<Vec<u8>, CK_RV> {
    let mut m1 = *m;
    let rv = call!(r, C_SignInit, r.h, &mut m1, k);
    if rv != CKR_OK {
        return Err(rv);
    }
    let mut out = vec![0u8; 512];
    let mut n = out.len() as CK_ULONG;
    let rv = call!(r, C_Sign, r.h, msg.as_ptr() as *mut _, msg.len() as _, out.as_mut_ptr(), &mut n);
    if rv != CKR_OK {
        return Err(rv);
    }
    out.truncate(n as usize);
    Ok(out)
}

/// Single-part and multi-part verification; returns the CK_RV (they agree).
fn verify(r: &Raw, m: &CK_MECHANISM, k: CK_OBJECT_HANDLE, msg: &[u8], sig: &[u8]) -> CK_RV {
    let mut m1 = *m;
    let rv = call!(r, C_VerifyInit, r.h, &mut m1, k);
    if rv != CKR_OK {
        return rv;
    }
    let one = call!(r, C_Verify, r.h, msg.as_ptr() as *mut _, msg.len() as _, sig.as_ptr() as *mut _, sig.len() as _);
    assert_eq!(call!(r, C_VerifyInit, r.h, &mut m1, k), CKR_OK);
    let (a, b) = msg.split_at(msg.len() / 2);
    for p in [a, b] {
        assert_eq!(call!(r, C_VerifyUpdate, r.h, p.as_ptr() as *mut _, p.len() as _), CKR_OK);
    }
    let multi = call!(r, C_VerifyFinal, r.h, sig.as_ptr() as *mut _, sig.len() as _);
    assert_eq!(one, multi, "single- and multi-part verification disagree");
    one
}

fn info(r: &Raw, ty: CK_MECHANISM_TYPE) -> Result<CK_MECHANISM_INFO, CK_RV> {
    let mut i = CK_MECHANISM_INFO { ulMinKeySize: 0, ulMaxKeySize: 0, flags: 0 };
    match call!(r, C_GetMechanismInfo, 0, ty, &mut i) {
        CKR_OK => Ok(i),
        rv => Err(rv),
    }
}

#[test]
fn sha3_nist_cavp_short_messages() {
    let r = Raw::open();
    for (ty, file, len) in [
        (CKM_SHA3_224, "SHA3_224ShortMsg.rsp", 28),
        (CKM_SHA3_256, "SHA3_256ShortMsg.rsp", 32),
        (CKM_SHA3_384, "SHA3_384ShortMsg.rsp", 48),
        (CKM_SHA3_512, "SHA3_512ShortMsg.rsp", 64),
    ] {
        let recs = records(&data(file));
        assert!(recs.len() > 70, "{file}: {} records", recs.len());
        for rec in &recs {
            let got = digest(&r, ty, &msg_of(rec)).unwrap();
            assert_eq!(got.len(), len);
            assert_eq!(hex::encode(got), rec["MD"], "{file} Len = {}", rec["Len"]);
        }
        let i = info(&r, ty).unwrap();
        assert_eq!((i.flags, i.ulMinKeySize, i.ulMaxKeySize), (CKF_DIGEST, 0, 0));
    }
}

#[test]
fn md5_rfc1321_and_hmac_md5_rfc2202() {
    let r = Raw::open();
    let recs = records(&data("rfc-1321.txt"));
    assert_eq!(recs.len(), 7);
    for rec in &recs {
        assert_eq!(hex::encode(digest(&r, CKM_MD5, &msg_of(rec)).unwrap()), rec["MD"]);
    }
    let recs = records(&data("rfc-2202-md5.txt"));
    assert_eq!(recs.len(), 7);
    for rec in &recs {
        let k = r.secret(CKK_GENERIC_SECRET, &h(&rec["Key"]));
        let msg = msg_of(rec);
        let tag = sign(&r, &mech(CKM_MD5_HMAC), k, &msg).unwrap();
        assert_eq!(hex::encode(&tag), rec["MD"], "HMAC-MD5 Len = {}", rec["Len"]);
        assert_eq!(verify(&r, &mech(CKM_MD5_HMAC), k, &msg, &tag), CKR_OK);
        let twelve: CK_ULONG = 12;
        let g = mech_ulong(CKM_MD5_HMAC_GENERAL, &twelve);
        assert_eq!(sign(&r, &g, k, &msg).unwrap(), tag[..12]);
        let mut bad = tag.clone();
        bad[15] ^= 1;
        assert_eq!(verify(&r, &mech(CKM_MD5_HMAC), k, &msg, &bad), CKR_SIGNATURE_INVALID);
    }
    // Default profile: MD5 digest and HMAC offered, MD5 signatures only verified.
    assert_eq!(info(&r, CKM_MD5).unwrap().flags, CKF_DIGEST);
    assert_eq!(info(&r, CKM_MD5_HMAC).unwrap().flags, CKF_SIGN | CKF_VERIFY);
    assert_eq!(info(&r, CKM_MD5_RSA_PKCS).unwrap().flags, CKF_VERIFY);
}

/// NIST CSRC HMAC_SHA3-*.pdf samples: keys are 00 01 02 ... of the length
/// given, the three messages name the key/block-length relation.
type HmacCases = [(CK_MECHANISM_TYPE, CK_KEY_TYPE, [(usize, &'static str); 3])];
const HMAC_SHA3: &HmacCases = &[
    (
        CKM_SHA3_224_HMAC,
        CKK_SHA3_224_HMAC,
        [
            (28, "332cfd59347fdb8e576e77260be4aba2d6dc53117b3bfb52c6d18c04"),
            (144, "d8b733bcf66c644a12323d564e24dcf3fc75f231f3b67968359100c7"),
            (172, "078695eecc227c636ad31d063a15dd05a7e819a66ec6d8de1e193e59"),
        ],
    ),
    (
        CKM_SHA3_256_HMAC,
        CKK_SHA3_256_HMAC,
        [
            (32, "4fe8e202c4f058e8dddc23d8c34e467343e23555e24fc2f025d598f558f67205"),
            (136, "68b94e2e538a9be4103bebb5aa016d47961d4d1aa906061313b557f8af2c3faa"),
            (168, "9bcf2c238e235c3ce88404e813bd2f3a97185ac6f238c63d6229a00b07974258"),
        ],
    ),
    (
        CKM_SHA3_384_HMAC,
        CKK_SHA3_384_HMAC,
        [
            (48, "d588a3c51f3f2d906e8298c1199aa8ff6296218127f6b38a90b6afe2c5617725bc99987f79b22a557b6520db710b7f42"),
            (104, "a27d24b592e8c8cbf6d4ce6fc5bf62d8fc98bf2d486640d9eb8099e24047837f5f3bffbe92dcce90b4ed5b1e7e44fa90"),
            (152, "e5ae4c739f455279368ebf36d4f5354c95aa184c899d3870e460ebc288ef1f9470053f73f7c6da2a71bcaec38ce7d6ac"),
        ],
    ),
    (
        CKM_SHA3_512_HMAC,
        CKK_SHA3_512_HMAC,
        [
            (
                64,
                "4efd629d6c71bf86162658f29943b1c308ce27cdfa6db0d9c3ce81763f9cbce5f7ebe9868031db1a8f8eb7b6b95e5c5e3f657a8996c86a2f6527e307f0213196",
            ),
            (
                72,
                "544e257ea2a3e5ea19a590e6a24b724ce6327757723fe2751b75bf007d80f6b360744bf1b7a88ea585f9765b47911976d3191cf83c039f5ffab0d29cc9d9b6da",
            ),
            (
                136,
                "5f464f5e5b7848e3885e49b2c385f0694985d0e38966242dc4a5fe3fea4b37d46b65ceced5dcf59438dd840bab22269f0ba7febdb9fcf74602a35666b2a32915",
            ),
        ],
    ),
];

#[test]
fn hmac_sha3_nist_samples_with_each_key_type() {
    let r = Raw::open();
    let msgs: [&[u8]; 3] = [
        b"Sample message for keylen<blocklen",
        b"Sample message for keylen=blocklen",
        b"Sample message for keylen>blocklen",
    ];
    for (ty, kt, cases) in HMAC_SHA3 {
        let general = ty + 1; // CKM_SHA3_*_HMAC_GENERAL
        for ((klen, tag), msg) in cases.iter().zip(msgs) {
            let key: Vec<u8> = (0..*klen).map(|i| i as u8).collect();
            for key_type in [CKK_GENERIC_SECRET, *kt] {
                let k = r.secret(key_type, &key);
                let got = sign(&r, &mech(*ty), k, msg).unwrap();
                assert_eq!(hex::encode(&got), *tag, "mech 0x{ty:x} key {klen}");
                assert_eq!(verify(&r, &mech(*ty), k, msg, &got), CKR_OK);
                let n: CK_ULONG = 16;
                let g = mech_ulong(general, &n);
                assert_eq!(sign(&r, &g, k, msg).unwrap(), got[..16]);
                assert_eq!(verify(&r, &g, k, msg, &got[..16]), CKR_OK);
                let too_long: CK_ULONG = got.len() as CK_ULONG + 1;
                assert_eq!(sign(&r, &mech_ulong(general, &too_long), k, msg), Err(CKR_MECHANISM_PARAM_INVALID));
            }
        }
        // A SHA3 HMAC key serves only its own hash.
        let k = r.secret(*kt, &[7u8; 32]);
        let other = if *ty == CKM_SHA3_256_HMAC { CKM_SHA256_HMAC } else { CKM_SHA3_256_HMAC };
        assert_eq!(sign(&r, &mech(other), k, b"x"), Err(CKR_KEY_TYPE_INCONSISTENT));
        assert_eq!(info(&r, *ty).unwrap().flags, CKF_SIGN | CKF_VERIFY);
        assert_eq!(info(&r, general).unwrap().flags, CKF_SIGN | CKF_VERIFY);
    }
}

#[test]
fn sha3_hmac_key_generation() {
    let r = Raw::open();
    for (gen_mech, hmac, kt) in [
        (CKM_SHA3_224_KEY_GEN, CKM_SHA3_224_HMAC, CKK_SHA3_224_HMAC),
        (CKM_SHA3_256_KEY_GEN, CKM_SHA3_256_HMAC, CKK_SHA3_256_HMAC),
        (CKM_SHA3_384_KEY_GEN, CKM_SHA3_384_HMAC, CKK_SHA3_384_HMAC),
        (CKM_SHA3_512_KEY_GEN, CKM_SHA3_512_HMAC, CKK_SHA3_512_HMAC),
    ] {
        let i = info(&r, gen_mech).unwrap();
        assert_eq!((i.flags, i.ulMinKeySize, i.ulMaxKeySize), (CKF_GENERATE, 8, 4096));
        let len: CK_ULONG = 40;
        let t = [attr(CKA_VALUE_LEN, &len), attr(CKA_SIGN, &TRUE), attr(CKA_VERIFY, &TRUE), attr(CKA_TOKEN, &FALSE)];
        let mut m = mech(gen_mech);
        let mut k = 0;
        assert_eq!(call!(r, C_GenerateKey, r.h, &mut m, t.as_ptr() as *mut _, t.len() as _, &mut k), CKR_OK);
        let mut got: CK_KEY_TYPE = 0;
        let mut a = [CK_ATTRIBUTE {
            type_: CKA_KEY_TYPE,
            pValue: std::ptr::from_mut(&mut got).cast(),
            ulValueLen: std::mem::size_of::<CK_KEY_TYPE>() as CK_ULONG,
        }];
        assert_eq!(call!(r, C_GetAttributeValue, r.h, k, a.as_mut_ptr(), 1), CKR_OK);
        assert_eq!(got, kt);
        let tag = sign(&r, &mech(hmac), k, b"generated").unwrap();
        assert_eq!(verify(&r, &mech(hmac), k, b"generated", &tag), CKR_OK);
        assert_eq!(sign(&r, &mech(CKM_SHA256_HMAC), k, b"generated"), Err(CKR_KEY_TYPE_INCONSISTENT));
    }
}

fn fixtures() -> HashMap<String, Vec<u8>> {
    data("sig-fixtures.txt").lines().filter_map(|l| l.split_once(" = ")).map(|(k, v)| (k.to_string(), h(v))).collect()
}

/// The fixture's RSA key pair as session objects (public, private).
fn rsa_pair(r: &Raw, f: &HashMap<String, Vec<u8>>) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
    let (pub_class, priv_class, kt) = (CKO_PUBLIC_KEY, CKO_PRIVATE_KEY, CKK_RSA);
    let pt = [
        attr(CKA_CLASS, &pub_class),
        attr(CKA_KEY_TYPE, &kt),
        attr_bytes(CKA_MODULUS, &f["rsa_n"]),
        attr_bytes(CKA_PUBLIC_EXPONENT, &f["rsa_e"]),
        attr(CKA_VERIFY, &TRUE),
        attr(CKA_TOKEN, &FALSE),
    ];
    let st = [
        attr(CKA_CLASS, &priv_class),
        attr(CKA_KEY_TYPE, &kt),
        attr_bytes(CKA_MODULUS, &f["rsa_n"]),
        attr_bytes(CKA_PUBLIC_EXPONENT, &f["rsa_e"]),
        attr_bytes(CKA_PRIVATE_EXPONENT, &f["rsa_d"]),
        attr_bytes(CKA_PRIME_1, &f["rsa_p"]),
        attr_bytes(CKA_PRIME_2, &f["rsa_q"]),
        attr_bytes(CKA_EXPONENT_1, &f["rsa_dp"]),
        attr_bytes(CKA_EXPONENT_2, &f["rsa_dq"]),
        attr_bytes(CKA_COEFFICIENT, &f["rsa_qinv"]),
        attr(CKA_SIGN, &TRUE),
        attr(CKA_TOKEN, &FALSE),
    ];
    let (mut pu, mut pr) = (0, 0);
    assert_eq!(call!(r, C_CreateObject, r.h, pt.as_ptr() as *mut _, pt.len() as _, &mut pu), CKR_OK);
    assert_eq!(call!(r, C_CreateObject, r.h, st.as_ptr() as *mut _, st.len() as _, &mut pr), CKR_OK);
    (pu, pr)
}

#[test]
fn rsa_sha3_and_md5_signatures_against_an_independent_implementation() {
    let r = Raw::open();
    let f = fixtures();
    let msg = &f["msg"];
    let (pu, pr) = rsa_pair(&r, &f);
    // PKCS#1 v1.5 is deterministic: keyward must produce the very bytes
    // pyca/cryptography (OpenSSL) produced, and verify them.
    for (ty, name) in [
        (CKM_SHA3_224_RSA_PKCS, "sha3_224"),
        (CKM_SHA3_256_RSA_PKCS, "sha3_256"),
        (CKM_SHA3_384_RSA_PKCS, "sha3_384"),
        (CKM_SHA3_512_RSA_PKCS, "sha3_512"),
    ] {
        let want = &f[&format!("pkcs1_{name}")];
        assert_eq!(&sign(&r, &mech(ty), pr, msg).unwrap(), want, "{name}");
        assert_eq!(verify(&r, &mech(ty), pu, msg, want), CKR_OK);
        assert_eq!(verify(&r, &mech(ty), pu, b"another message", want), CKR_SIGNATURE_INVALID);
        assert_eq!(info(&r, ty).unwrap().flags, CKF_SIGN | CKF_VERIFY);
    }
    // PSS (randomized): OpenSSL's signatures verify here; ours verify here
    // too and differ from each other (fresh salt).
    for (ty, hash, mgf, name, slen) in [
        (CKM_SHA3_224_RSA_PKCS_PSS, CKM_SHA3_224, CKG_MGF1_SHA3_224, "sha3_224", 28),
        (CKM_SHA3_256_RSA_PKCS_PSS, CKM_SHA3_256, CKG_MGF1_SHA3_256, "sha3_256", 32),
        (CKM_SHA3_384_RSA_PKCS_PSS, CKM_SHA3_384, CKG_MGF1_SHA3_384, "sha3_384", 48),
        (CKM_SHA3_512_RSA_PKCS_PSS, CKM_SHA3_512, CKG_MGF1_SHA3_512, "sha3_512", 64),
    ] {
        let p = CK_RSA_PKCS_PSS_PARAMS { hashAlg: hash, mgf, sLen: slen };
        let m = CK_MECHANISM {
            mechanism: ty,
            pParameter: &p as *const _ as *mut _,
            ulParameterLen: std::mem::size_of::<CK_RSA_PKCS_PSS_PARAMS>() as CK_ULONG,
        };
        let theirs = &f[&format!("pss_{name}")];
        assert_eq!(verify(&r, &m, pu, msg, theirs), CKR_OK, "{name}");
        assert_eq!(verify(&r, &m, pu, b"x", theirs), CKR_SIGNATURE_INVALID);
        let a = sign(&r, &m, pr, msg).unwrap();
        let b = sign(&r, &m, pr, msg).unwrap();
        assert_ne!(a, b);
        assert_eq!(verify(&r, &m, pu, msg, &a), CKR_OK);
        // CKM_RSA_PKCS_PSS over the caller's SHA-3 hash, with the same key.
        let mut raw = CK_MECHANISM { mechanism: CKM_RSA_PKCS_PSS, ..m };
        let d = digest(&r, hash, msg).unwrap();
        assert_eq!(call!(r, C_VerifyInit, r.h, &mut raw, pu), CKR_OK);
        let rv =
            call!(r, C_Verify, r.h, d.as_ptr() as *mut _, d.len() as _, theirs.as_ptr() as *mut _, theirs.len() as _);
        assert_eq!(rv, CKR_OK);
        // The hashAlg must be the mechanism's.
        let wrong = CK_RSA_PKCS_PSS_PARAMS { hashAlg: CKM_SHA256, mgf, sLen: slen };
        let mw = CK_MECHANISM { pParameter: &wrong as *const _ as *mut _, ..m };
        assert_eq!(sign(&r, &mw, pr, msg), Err(CKR_MECHANISM_PARAM_INVALID));
    }
    // MD5: old signatures verify (default profile); new ones are refused.
    let md5 = &f["pkcs1_md5"];
    assert_eq!(verify(&r, &mech(CKM_MD5_RSA_PKCS), pu, msg, md5), CKR_OK);
    assert_eq!(verify(&r, &mech(CKM_MD5_RSA_PKCS), pu, b"x", md5), CKR_SIGNATURE_INVALID);
    assert_eq!(sign(&r, &mech(CKM_MD5_RSA_PKCS), pr, msg), Err(CKR_MECHANISM_INVALID));
}

/// DER OCTET STRING of a short value.
fn octet_string(v: &[u8]) -> Vec<u8> {
    assert!(v.len() < 128);
    [&[0x04, v.len() as u8][..], v].concat()
}

#[test]
fn ecdsa_sha3_against_an_independent_implementation() {
    let r = Raw::open();
    let f = fixtures();
    let msg = &f["msg"];
    for (curve, oid) in [("p256", h("06082a8648ce3d030107")), ("p384", h("06052b81040022"))] {
        let (pub_class, priv_class, kt) = (CKO_PUBLIC_KEY, CKO_PRIVATE_KEY, CKK_EC);
        let point = octet_string(&f[&format!("ec_{curve}_point")]);
        let pt = [
            attr(CKA_CLASS, &pub_class),
            attr(CKA_KEY_TYPE, &kt),
            attr_bytes(CKA_EC_PARAMS, &oid),
            attr_bytes(CKA_EC_POINT, &point),
            attr(CKA_VERIFY, &TRUE),
            attr(CKA_TOKEN, &FALSE),
        ];
        let st = [
            attr(CKA_CLASS, &priv_class),
            attr(CKA_KEY_TYPE, &kt),
            attr_bytes(CKA_EC_PARAMS, &oid),
            attr_bytes(CKA_VALUE, &f[&format!("ec_{curve}_d")]),
            attr(CKA_SIGN, &TRUE),
            attr(CKA_TOKEN, &FALSE),
        ];
        let (mut pu, mut pr) = (0, 0);
        assert_eq!(call!(r, C_CreateObject, r.h, pt.as_ptr() as *mut _, pt.len() as _, &mut pu), CKR_OK);
        assert_eq!(call!(r, C_CreateObject, r.h, st.as_ptr() as *mut _, st.len() as _, &mut pr), CKR_OK);
        for (ty, name) in [
            (CKM_ECDSA_SHA3_224, "sha3_224"),
            (CKM_ECDSA_SHA3_256, "sha3_256"),
            (CKM_ECDSA_SHA3_384, "sha3_384"),
            (CKM_ECDSA_SHA3_512, "sha3_512"),
        ] {
            let theirs = &f[&format!("ecdsa_{curve}_{name}")];
            assert_eq!(verify(&r, &mech(ty), pu, msg, theirs), CKR_OK, "{curve} {name}");
            assert_eq!(verify(&r, &mech(ty), pu, b"x", theirs), CKR_SIGNATURE_INVALID);
            let ours = sign(&r, &mech(ty), pr, msg).unwrap();
            assert_eq!(ours.len(), theirs.len());
            assert_eq!(verify(&r, &mech(ty), pu, msg, &ours), CKR_OK);
            // The same as CKM_ECDSA over the module's own SHA-3 digest.
            let hash = match ty {
                CKM_ECDSA_SHA3_224 => CKM_SHA3_224,
                CKM_ECDSA_SHA3_256 => CKM_SHA3_256,
                CKM_ECDSA_SHA3_384 => CKM_SHA3_384,
                _ => CKM_SHA3_512,
            };
            let d = digest(&r, hash, msg).unwrap();
            let mut m = mech(CKM_ECDSA);
            assert_eq!(call!(r, C_VerifyInit, r.h, &mut m, pu), CKR_OK);
            let rv = call!(
                r,
                C_Verify,
                r.h,
                d.as_ptr() as *mut _,
                d.len() as _,
                theirs.as_ptr() as *mut _,
                theirs.len() as _
            );
            assert_eq!(rv, CKR_OK);
            let i = info(&r, ty).unwrap();
            assert_eq!(i.flags & (CKF_SIGN | CKF_VERIFY), CKF_SIGN | CKF_VERIFY);
        }
    }
}

#[test]
fn aes_mac_is_the_last_block_of_cbc_encryption() {
    let r = Raw::open();
    for klen in [16usize, 24, 32] {
        let key: Vec<u8> = (0..klen).map(|i| (i * 13 + 1) as u8).collect();
        let k = r.aes(&key);
        for len in [0usize, 1, 15, 16, 17, 31, 32, 100] {
            let msg: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            // Reference: the module's CKM_AES_CBC under a zero IV over the
            // zero-padded message (at least one block).
            let mut padded = msg.clone();
            padded.resize(len.div_ceil(16).max(1) * 16, 0);
            let iv = [0u8; 16];
            let mut m = CK_MECHANISM { mechanism: CKM_AES_CBC, pParameter: iv.as_ptr() as *mut _, ulParameterLen: 16 };
            assert_eq!(call!(r, C_EncryptInit, r.h, &mut m, k), CKR_OK);
            let mut ct = vec![0u8; padded.len()];
            let mut n = ct.len() as CK_ULONG;
            let rv = call!(r, C_Encrypt, r.h, padded.as_ptr() as *mut _, padded.len() as _, ct.as_mut_ptr(), &mut n);
            assert_eq!(rv, CKR_OK);
            let last = &ct[ct.len() - 16..];
            let mac = sign(&r, &mech(CKM_AES_MAC), k, &msg).unwrap();
            assert_eq!(mac, last[..8], "AES-MAC key {klen} len {len}");
            assert_eq!(verify(&r, &mech(CKM_AES_MAC), k, &msg, &mac), CKR_OK);
            for glen in [1 as CK_ULONG, 4, 16] {
                let g = mech_ulong(CKM_AES_MAC_GENERAL, &glen);
                let t = sign(&r, &g, k, &msg).unwrap();
                assert_eq!(t, last[..glen as usize]);
                assert_eq!(verify(&r, &g, k, &msg, &t), CKR_OK);
            }
            if len > 0 {
                let mut other = msg.clone();
                other[0] ^= 0x80;
                assert_eq!(verify(&r, &mech(CKM_AES_MAC), k, &other, &mac), CKR_SIGNATURE_INVALID);
            }
        }
        // Multi-part in uneven pieces.
        let msg = [0x42u8; 77];
        let one = sign(&r, &mech(CKM_AES_MAC), k, &msg).unwrap();
        let mut m = mech(CKM_AES_MAC);
        assert_eq!(call!(r, C_SignInit, r.h, &mut m, k), CKR_OK);
        for p in [&msg[..3], &msg[3..19], &msg[19..]] {
            assert_eq!(call!(r, C_SignUpdate, r.h, p.as_ptr() as *mut _, p.len() as _), CKR_OK);
        }
        let mut out = [0u8; 8];
        let mut n: CK_ULONG = 8;
        assert_eq!(call!(r, C_SignFinal, r.h, out.as_mut_ptr(), &mut n), CKR_OK);
        assert_eq!(out[..], one[..]);
    }
    let k = r.aes(&[9u8; 16]);
    for bad in [0 as CK_ULONG, 17] {
        assert_eq!(sign(&r, &mech_ulong(CKM_AES_MAC_GENERAL, &bad), k, b"x"), Err(CKR_MECHANISM_PARAM_INVALID));
    }
    assert_eq!(sign(&r, &mech(CKM_AES_MAC_GENERAL), k, b"x"), Err(CKR_MECHANISM_PARAM_INVALID));
    assert_eq!(verify(&r, &mech(CKM_AES_MAC), k, b"x", &[0u8; 16]), CKR_SIGNATURE_LEN_RANGE);
    // Only AES keys.
    let g = r.secret(CKK_GENERIC_SECRET, &[9u8; 16]);
    assert_eq!(sign(&r, &mech(CKM_AES_MAC), g, b"x"), Err(CKR_KEY_TYPE_INCONSISTENT));
    for ty in [CKM_AES_MAC, CKM_AES_MAC_GENERAL] {
        let i = info(&r, ty).unwrap();
        assert_eq!((i.flags, i.ulMinKeySize, i.ulMaxKeySize), (CKF_SIGN | CKF_VERIFY, 16, 32));
    }
}

fn get_state(r: &Raw, h: CK_SESSION_HANDLE) -> Result<Vec<u8>, CK_RV> {
    let mut n: CK_ULONG = 0;
    let rv = call!(r, C_GetOperationState, h, null_mut(), &mut n);
    if rv != CKR_OK {
        return Err(rv);
    }
    let mut small = vec![0u8; n as usize - 1];
    let mut n2 = small.len() as CK_ULONG;
    assert_eq!(call!(r, C_GetOperationState, h, small.as_mut_ptr(), &mut n2), CKR_BUFFER_TOO_SMALL);
    assert_eq!(n2, n);
    let mut st = vec![0u8; n as usize];
    assert_eq!(call!(r, C_GetOperationState, h, st.as_mut_ptr(), &mut n), CKR_OK);
    st.truncate(n as usize);
    Ok(st)
}

fn set_state(r: &Raw, h: CK_SESSION_HANDLE, st: &[u8], enc: CK_OBJECT_HANDLE, auth: CK_OBJECT_HANDLE) -> CK_RV {
    call!(r, C_SetOperationState, h, st.as_ptr() as *mut _, st.len() as _, enc, auth)
}

fn update(r: &Raw, h: CK_SESSION_HANDLE, p: &[u8]) {
    assert_eq!(call!(r, C_DigestUpdate, h, p.as_ptr() as *mut _, p.len() as _), CKR_OK);
}

fn finish(r: &Raw, h: CK_SESSION_HANDLE) -> Vec<u8> {
    let mut out = [0u8; 64];
    let mut n = out.len() as CK_ULONG;
    assert_eq!(call!(r, C_DigestFinal, h, out.as_mut_ptr(), &mut n), CKR_OK);
    out[..n as usize].to_vec()
}

#[test]
fn digest_operation_state_is_saved_and_restored() {
    let r = Raw::open();
    let mut h2 = 0;
    let flags = CKF_SERIAL_SESSION | CKF_RW_SESSION;
    assert_eq!(call!(r, C_OpenSession, 0, flags, null_mut(), None, &mut h2), CKR_OK);
    let msg: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
    // No operation: nothing to save.
    assert_eq!(get_state(&r, r.h), Err(CKR_OPERATION_NOT_INITIALIZED));
    for ty in [CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384, CKM_SHA512, CKM_MD5] {
        let want = digest(&r, ty, &msg).unwrap();
        let mut m = mech(ty);
        assert_eq!(call!(r, C_DigestInit, r.h, &mut m), CKR_OK);
        update(&r, r.h, &msg[..133]);
        let st = get_state(&r, r.h).unwrap();
        // The copy (as pkcs11-provider's EVP_MD_CTX_copy does) goes on in
        // another session; the original goes on too.
        assert_eq!(set_state(&r, h2, &st, 0, 0), CKR_OK);
        update(&r, h2, &msg[133..]);
        update(&r, r.h, &msg[133..]);
        assert_eq!(finish(&r, h2), want, "restored 0x{ty:x}");
        assert_eq!(finish(&r, r.h), want);
        // The restored operation remembers it was multi-part: C_Digest is
        // out of order after it.
        assert_eq!(set_state(&r, h2, &st, 0, 0), CKR_OK);
        let mut out = [0u8; 64];
        let mut n = out.len() as CK_ULONG;
        let rv = call!(r, C_Digest, h2, msg.as_ptr() as *mut _, 1, out.as_mut_ptr(), &mut n);
        assert_eq!(rv, CKR_OPERATION_ACTIVE);
        // A state needs no key.
        let k = r.aes(&[1u8; 16]);
        assert_eq!(set_state(&r, h2, &st, k, 0), CKR_KEY_NOT_NEEDED);
        assert_eq!(set_state(&r, h2, &st, 0, k), CKR_KEY_NOT_NEEDED);
        // Altered, truncated or foreign states are refused.
        for i in [0, 4, 7, 10, 20, st.len() / 2, st.len() - 1] {
            let mut bad = st.clone();
            bad[i] ^= 0x04;
            assert_eq!(set_state(&r, h2, &bad, 0, 0), CKR_SAVED_STATE_INVALID, "byte {i}");
        }
        assert_eq!(set_state(&r, h2, &st[..st.len() - 1], 0, 0), CKR_SAVED_STATE_INVALID);
        assert_eq!(set_state(&r, h2, b"not a state at all", 0, 0), CKR_SAVED_STATE_INVALID);
    }
    // A state saved right after C_DigestInit restores a fresh digest.
    let mut m = mech(CKM_SHA256);
    assert_eq!(call!(r, C_DigestInit, r.h, &mut m), CKR_OK);
    let st = get_state(&r, r.h).unwrap();
    assert_eq!(set_state(&r, h2, &st, 0, 0), CKR_OK);
    let mut out = [0u8; 32];
    let mut n: CK_ULONG = 32;
    assert_eq!(call!(r, C_Digest, h2, b"abc".as_ptr() as *mut _, 3, out.as_mut_ptr(), &mut n), CKR_OK);
    assert_eq!(hex::encode(out), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_eq!(finish(&r, r.h), h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    // SHA-3 contexts are opaque to the engine's API: unsaveable.
    let mut m = mech(CKM_SHA3_256);
    assert_eq!(call!(r, C_DigestInit, r.h, &mut m), CKR_OK);
    assert_eq!(get_state(&r, r.h), Err(CKR_STATE_UNSAVEABLE));
    finish(&r, r.h);
    // Any other active operation makes the session's state unsaveable.
    let k = r.aes(&[3u8; 16]);
    let mut m = mech(CKM_SHA256);
    assert_eq!(call!(r, C_DigestInit, r.h, &mut m), CKR_OK);
    let mut c = mech(CKM_AES_CMAC);
    assert_eq!(call!(r, C_SignInit, r.h, &mut c, k), CKR_OK);
    assert_eq!(get_state(&r, r.h), Err(CKR_STATE_UNSAVEABLE));
    let mut m2 = mech(CKM_SHA256);
    assert_eq!(call!(r, C_SignInit, r.h, null_mut(), k), CKR_OK); // cancels the signature
    assert!(get_state(&r, r.h).is_ok());
    finish(&r, r.h);
    // Restoring replaces the session's operations.
    assert_eq!(call!(r, C_SignInit, h2, &mut c, k), CKR_OK);
    assert_eq!(call!(r, C_DigestInit, r.h, &mut m2), CKR_OK);
    let st = get_state(&r, r.h).unwrap();
    finish(&r, r.h);
    call!(r, C_DigestInit, h2, null_mut()); // cancels h2's digest, if any
    assert_eq!(set_state(&r, h2, &st, 0, 0), CKR_OK);
    let mut n: CK_ULONG = 16;
    let mut tag = [0u8; 16];
    assert_eq!(call!(r, C_SignFinal, h2, tag.as_mut_ptr(), &mut n), CKR_OPERATION_NOT_INITIALIZED);
}

/// Attack: a digest that took key bytes (C_DigestKey) would hand its
/// pending block — the key itself, for a key shorter than a block — to
/// whoever asks for the session's state. It is unsaveable instead.
#[test]
fn digest_state_never_carries_key_bytes() {
    let r = Raw::open();
    let secret = [0x5au8; 16];
    let class = CKO_SECRET_KEY;
    let kt = CKK_GENERIC_SECRET;
    let t = [
        attr(CKA_CLASS, &class),
        attr(CKA_KEY_TYPE, &kt),
        attr_bytes(CKA_VALUE, &secret),
        attr(CKA_SENSITIVE, &FALSE),
        attr(CKA_EXTRACTABLE, &TRUE),
        attr(CKA_TOKEN, &FALSE),
    ];
    let k = r.create(&t).expect("C_CreateObject");
    for ty in [CKM_SHA256, CKM_SHA512, CKM_MD5] {
        let mut m = mech(ty);
        assert_eq!(call!(r, C_DigestInit, r.h, &mut m), CKR_OK);
        update(&r, r.h, b"prefix");
        assert!(get_state(&r, r.h).unwrap().windows(6).any(|w| w == b"prefix"), "the state holds the pending block");
        assert_eq!(call!(r, C_DigestKey, r.h, k), CKR_OK);
        assert_eq!(get_state(&r, r.h), Err(CKR_STATE_UNSAVEABLE));
        update(&r, r.h, b"suffix");
        assert_eq!(get_state(&r, r.h), Err(CKR_STATE_UNSAVEABLE));
        let got = finish(&r, r.h);
        let mut whole = b"prefix".to_vec();
        whole.extend_from_slice(&secret);
        whole.extend_from_slice(b"suffix");
        assert_eq!(got, digest(&r, ty, &whole).unwrap());
    }
}

#[test]
fn strict_profile_refuses_md5() {
    let r = Raw::open_with("profile = \"strict\"");
    for ty in [CKM_MD5, CKM_MD5_HMAC, CKM_MD5_HMAC_GENERAL, CKM_MD5_RSA_PKCS] {
        assert_eq!(info(&r, ty).unwrap().flags, 0, "0x{ty:x} advertised under strict");
    }
    assert_eq!(digest(&r, CKM_MD5, b"abc"), Err(CKR_MECHANISM_INVALID));
    let key: Vec<u8> = (1..=32).collect();
    let k = r.secret(CKK_GENERIC_SECRET, &key);
    assert_eq!(sign(&r, &mech(CKM_MD5_HMAC), k, b"x"), Err(CKR_MECHANISM_INVALID));
    assert_eq!(verify(&r, &mech(CKM_MD5_HMAC), k, b"x", &[0u8; 16]), CKR_MECHANISM_INVALID);
    // SHA-3 stays.
    assert_eq!(digest(&r, CKM_SHA3_256, b"abc").unwrap().len(), 32);
}
