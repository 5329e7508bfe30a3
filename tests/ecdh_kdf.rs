//! CKM_ECDH1_DERIVE / CKM_ECDH1_COFACTOR_DERIVE with the KDFs of
//! CK_ECDH1_DERIVE_PARAMS through the built module: ANSI X9.63
//! (CKD_SHA*_KDF) and SP 800-56C one-step (CKD_SHA*_KDF_SP800) with shared
//! data, on imported keys whose outputs were computed independently with
//! the Python `cryptography` package (OpenSSL): X963KDF and ConcatKDFHash;
//! the peer point raw and DER-encoded; the parameter refusals.

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

const P256_OID: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P224_OID: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x21];
const P521_OID: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];
const SHARED: &[u8] = b"keyward shared info";

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn import_private(s: &Session, kt: KeyType, params: &[u8], value: Vec<u8>) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(kt),
        Attribute::EcParams(params.to_vec()),
        Attribute::Value(value),
        Attribute::Derive(true),
    ])
    .unwrap()
}

fn der(point: &[u8]) -> Vec<u8> {
    let mut v = vec![0x04];
    if point.len() >= 128 {
        v.push(0x81);
    }
    v.push(point.len() as u8);
    v.extend_from_slice(point);
    v
}

/// The P-256 key of the vectors below (in `s`) and the peer's point.
fn p256_vector(s: &Session) -> (ObjectHandle, Vec<u8>) {
    let k =
        import_private(s, KeyType::EC, P256_OID, h("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721"));
    let peer = h(
        "04ead218590119e8876b29146ff89ca61770c4edbbf97d38ce385ed281d8a6b23028af61281fd35e2fa7002523acc85a429cb06ee6648325389f59edfce1405141",
    );
    (k, peer)
}

#[test]
fn p256_x963_and_sp800_kdfs() {
    let t = initialized();
    let s = t.user_session();
    let (k, peer) = p256_vector(&s);
    let peer_der = der(&peer);
    let cases: [(EcKdf, &[u8], u64, &str); 4] = [
        (EcKdf::sha1(SHARED), SHARED, 16, "48184b667fbfb6eb17f2eabe60c1ba2d"),
        (EcKdf::sha256(SHARED), SHARED, 32, "8f8e6403c8e1de43e382c448067ccf93905ae07612581c2b2038f019b78dc525"),
        (EcKdf::sha512(&[]), b"", 24, "0db2801aad9ad043a7de4052a37ca55e62410e8da47011d4"),
        (EcKdf::sha384_sp800(SHARED), SHARED, 32, "305b54ac8e918cfcef4c0000ef75941b948921550f1f7ebdf8f6603b00e574b8"),
    ];
    for (kdf, _, len, want) in cases {
        for p in [&peer, &peer_der] {
            let m = Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(kdf, p));
            assert_eq!(hex::encode(derive_value(&s, &m, k, Some(len)).unwrap()), want);
        }
    }
    // CKD_NULL: the raw x coordinate.
    let m = Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), &peer));
    assert_eq!(
        hex::encode(derive_value(&s, &m, k, None).unwrap()),
        "61e109425a7adbb9d0137091cff10a55550b708d14ad0137b80fa0ec1328394f"
    );
    // An AES key of a KDF without CKA_VALUE_LEN is 256 bits.
    let m = Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::sha256(SHARED), &peer));
    let a = s
        .derive_key(
            &m,
            k,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
            ],
        )
        .unwrap();
    assert_eq!(
        s.get_attributes(a, &[AttributeType::Value]).unwrap()[0],
        Attribute::Value(h("8f8e6403c8e1de43e382c448067ccf93905ae07612581c2b2038f019b78dc525"))
    );
}

#[test]
fn bad_kdf_parameters_are_param_invalid() {
    let t = initialized();
    let s = t.user_session();
    let (k, peer) = p256_vector(&s);
    // Raw C calls on the same session: parameters the crate cannot build.
    let r = raw();
    let derive_raw = |mech: u64, kdf: u64, shared: *const u8, shared_len: u64| -> u64 {
        let mut p = pkcs11_sys::CK_ECDH1_DERIVE_PARAMS {
            kdf,
            ulSharedDataLen: shared_len,
            pSharedData: shared as *mut u8,
            ulPublicDataLen: peer.len() as u64,
            pPublicData: peer.as_ptr() as *mut u8,
        };
        let mut m = pkcs11_sys::CK_MECHANISM {
            mechanism: mech,
            pParameter: &mut p as *mut _ as *mut std::ffi::c_void,
            ulParameterLen: std::mem::size_of::<pkcs11_sys::CK_ECDH1_DERIVE_PARAMS>() as u64,
        };
        let mut class = pkcs11_sys::CKO_SECRET_KEY;
        let mut kt = pkcs11_sys::CKK_GENERIC_SECRET;
        let mut len: u64 = 16;
        let mut t = [
            pkcs11_sys::CK_ATTRIBUTE {
                type_: pkcs11_sys::CKA_CLASS,
                pValue: &mut class as *mut _ as *mut std::ffi::c_void,
                ulValueLen: 8,
            },
            pkcs11_sys::CK_ATTRIBUTE {
                type_: pkcs11_sys::CKA_KEY_TYPE,
                pValue: &mut kt as *mut _ as *mut std::ffi::c_void,
                ulValueLen: 8,
            },
            pkcs11_sys::CK_ATTRIBUTE {
                type_: pkcs11_sys::CKA_VALUE_LEN,
                pValue: &mut len as *mut _ as *mut std::ffi::c_void,
                ulValueLen: 8,
            },
        ];
        let mut out: pkcs11_sys::CK_OBJECT_HANDLE = 0;
        // SAFETY: every pointer points at a live local of the stated length
        // (or is the NULL under test).
        unsafe { r.f.C_DeriveKey.unwrap()(s.handle(), &mut m, k.handle(), t.as_mut_ptr(), 3, &mut out) }
    };
    // The well-formed call succeeds (the harness is right) ...
    for mech in [pkcs11_sys::CKM_ECDH1_DERIVE, pkcs11_sys::CKM_ECDH1_COFACTOR_DERIVE] {
        let rv = derive_raw(mech, pkcs11_sys::CKD_SHA1_KDF, SHARED.as_ptr(), SHARED.len() as u64);
        assert_eq!(rv, pkcs11_sys::CKR_OK);
    }
    // ... CKD_NULL with shared data, unknown KDFs (CKD_SHA1_KDF_ASN1,
    // CKD_CPDIVERSIFY_KDF, 0x7fff), NULL shared data with a length are not.
    let bad = [
        (pkcs11_sys::CKD_NULL, SHARED.as_ptr(), SHARED.len() as u64),
        (pkcs11_sys::CKD_SHA1_KDF_ASN1, SHARED.as_ptr(), SHARED.len() as u64),
        (pkcs11_sys::CKD_CPDIVERSIFY_KDF, SHARED.as_ptr(), SHARED.len() as u64),
        (0x7fff, SHARED.as_ptr(), SHARED.len() as u64),
        (pkcs11_sys::CKD_SHA256_KDF, std::ptr::null(), 8),
    ];
    for (kdf, p, l) in bad {
        for mech in [pkcs11_sys::CKM_ECDH1_DERIVE, pkcs11_sys::CKM_ECDH1_COFACTOR_DERIVE] {
            assert_eq!(derive_raw(mech, kdf, p, l), pkcs11_sys::CKR_MECHANISM_PARAM_INVALID, "kdf {kdf}");
        }
    }
    // A truncated peer point.
    let m = Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::sha1(SHARED), &peer[..40]));
    assert_eq!(rv(derive_value(&s, &m, k, Some(16)).unwrap_err()), RvError::MechanismParamInvalid);
}

/// The cryptoki crate's `derive_key_sp800` case (an imported X25519 key,
/// CKD_SHA256_KDF_SP800), plus X9.63 on the same secret.
#[test]
fn x25519_with_kdfs() {
    let t = initialized();
    let s = t.user_session();
    let k = import_private(
        &s,
        KeyType::EC_MONTGOMERY,
        b"\x13\x0acurve25519",
        h("F00670C5F139E7E6C2511EA04FF507AFBBE237CE3C71A89CA59A1C5CF8856562"),
    );
    let peer = h("533B3F09E53B3DEED661A13F7A7D9694AB71CE156C728E00DEE87A1EE3A14C4A");
    let info = h(
        "0A2B0601040197550105011203010807416E6F6E796D6F75732053656E646572202020205633A4C5AE4305BC0FE2ABB699A8EE54632790A0",
    );
    for p in [peer.clone(), der(&peer)] {
        let m = Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::sha256_sp800(&info), &p));
        assert_eq!(hex::encode(derive_value(&s, &m, k, Some(16)).unwrap()), "af8ce51d0139a6d60831a9babab20186");
    }
}

/// ECDH on P-224 and P-521 with X9.63 (values from the Python
/// `cryptography` package).
#[test]
fn p224_and_p521_ecdh_with_x963() {
    let t = initialized();
    let s = t.user_session();
    let cases = [
        (
            P224_OID,
            "0000000000000000000000001234567890abcdef1234567890abcdef",
            "04b3def2357991772e5195d3cd82c460c8c96a578e0a44017e510451bb42ab8722108ea41a06eb15ec31a7952632104fcc143b9bf4e1cbfb1e",
            EcKdf::sha224(SHARED),
            28,
            "9e6d0b311ead8fdcd2a4e63580e5001243c4eb62d5da1f4176fe67ae",
        ),
        (
            P521_OID,
            "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000413e77931544720256e55c10c7ba7a5ae1b",
            "0400940318e9720626eb5ced57619cb1e1dfa3f5a6240e244fce1c7989c46953f3d7fecc6de594b2473cbc55d3906cbffefe35c4aae029d4201eef7430675e361866a20069ecb7dc05c1a2f9c779d762c7bea7718203c14b461834f15323436348ab9e267b43ff3ad2bc7a6be708a6d89b161abc916a41af56544c49496c205cb5812f7168",
            EcKdf::sha256(SHARED),
            32,
            "440428109b8c4c78a19c4b6cdf9e4eabbde02a333f6cce9db8b55443ad6b13de",
        ),
    ];
    for (oid, d, peer, kdf, len, want) in cases {
        let k = import_private(&s, KeyType::EC, oid, h(d));
        let peer = h(peer);
        for p in [peer.clone(), der(&peer)] {
            let m = Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(kdf, &p));
            assert_eq!(hex::encode(derive_value(&s, &m, k, Some(len)).unwrap()), want);
        }
    }
}
