//! ASN.1/DER helpers for the asymmetric keys: algorithm and curve OIDs,
//! `CKA_EC_PARAMS`, `CKA_EC_POINT`, SubjectPublicKeyInfo and PKCS#8.
//!
//! All encoding and decoding goes through the RustCrypto `der`, `spki`,
//! `pkcs1`, `pkcs8` and `sec1` crates; nothing here hand-writes DER. Knows
//! nothing of PKCS#11 beyond the shapes of the attribute values it parses.

use super::ec::Curve;
use super::{CryptoError, CryptoResult};
use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, OctetStringRef, PrintableStringRef, UintRef};
use der::{Decode, Encode};
use zeroize::Zeroizing;

/// rsaEncryption (PKCS#1).
pub const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// id-ecPublicKey (RFC 5480).
pub const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// prime256v1 / secp256r1 / NIST P-256.
pub const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// secp384r1 / NIST P-384.
pub const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
/// secp224r1 (NIST P-224).
pub const OID_P224: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.33");
/// secp521r1 (NIST P-521).
pub const OID_P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
/// secp256k1.
pub const OID_SECP256K1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.10");

fn enc_err(_: der::Error) -> CryptoError {
    CryptoError::Internal
}

/// The OID of a named curve.
pub fn curve_oid(curve: Curve) -> ObjectIdentifier {
    match curve {
        Curve::P256 => OID_P256,
        Curve::P384 => OID_P384,
        Curve::P224 => OID_P224,
        Curve::P521 => OID_P521,
        Curve::Secp256k1 => OID_SECP256K1,
    }
}

/// The curve named by an OID, if keyward supports it.
pub fn curve_from_oid(oid: &ObjectIdentifier) -> Option<Curve> {
    match *oid {
        OID_P256 => Some(Curve::P256),
        OID_P384 => Some(Curve::P384),
        OID_P224 => Some(Curve::P224),
        OID_P521 => Some(Curve::P521),
        OID_SECP256K1 => Some(Curve::Secp256k1),
        _ => None,
    }
}

/// The curve of a textual curve name (OpenSSL and SEC 2 spellings).
pub fn curve_from_name(name: &str) -> Option<Curve> {
    match name.to_ascii_lowercase().as_str() {
        "prime256v1" | "secp256r1" | "p-256" | "p256" | "nistp256" => Some(Curve::P256),
        "secp384r1" | "p-384" | "p384" | "nistp384" => Some(Curve::P384),
        "secp224r1" | "p-224" | "p224" | "nistp224" => Some(Curve::P224),
        "secp521r1" | "p-521" | "p521" | "nistp521" => Some(Curve::P521),
        "secp256k1" => Some(Curve::Secp256k1),
        _ => None,
    }
}

/// `CKA_EC_PARAMS` for `curve`: the DER of its namedCurve OID.
pub fn ec_params(curve: Curve) -> Vec<u8> {
    curve_oid(curve).to_der().expect("OID encodes")
}

/// Parses `CKA_EC_PARAMS`: a DER namedCurve OID, or (as some clients send) a
/// DER PrintableString holding a curve name. Explicit (specifiedCurve)
/// parameters and unknown curves give `None`.
pub fn curve_from_params(der: &[u8]) -> Option<Curve> {
    if let Ok(oid) = ObjectIdentifier::from_der(der) {
        return curve_from_oid(&oid);
    }
    if let Ok(s) = PrintableStringRef::from_der(der) {
        return curve_from_name(s.as_str());
    }
    None
}

/// Wraps bytes in a DER OCTET STRING (the `CKA_EC_POINT` encoding).
pub fn wrap_octet_string(bytes: &[u8]) -> Vec<u8> {
    OctetStringRef::new(bytes).and_then(|o| o.to_der()).expect("octet string encodes")
}

/// The content of a complete DER OCTET STRING, or `None`.
pub fn unwrap_octet_string(der: &[u8]) -> Option<&[u8]> {
    <&OctetStringRef>::from_der(der).ok().map(|o| o.as_bytes())
}

/// Whether `b` has the length and leading byte of a SEC1 point (uncompressed
/// `04 X Y` or compressed `02/03 X`) for a field of `field_len` bytes.
fn looks_like_point(b: &[u8], field_len: usize) -> bool {
    match b.first() {
        Some(4) => b.len() == 1 + 2 * field_len,
        Some(2) | Some(3) => b.len() == 1 + field_len,
        _ => false,
    }
}

/// Extracts the SEC1 point from an EC point as PKCS#11 callers pass it
/// (`CKA_EC_POINT`, `CK_ECDH1_DERIVE_PARAMS.pPublicData`): a DER OCTET STRING
/// wrapping the point (the spec's form), or the raw point (what many clients
/// send). The DER reading is preferred when it parses completely and its
/// content has a point's shape; the point itself is not validated here.
pub fn ec_point_from_attr(bytes: &[u8], field_len: usize) -> Option<&[u8]> {
    if let Some(inner) = unwrap_octet_string(bytes)
        && looks_like_point(inner, field_len)
    {
        return Some(inner);
    }
    looks_like_point(bytes, field_len).then_some(bytes)
}

/// A public key read from a SubjectPublicKeyInfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKeyInfo {
    /// Modulus and public exponent, big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// A named curve and its SEC1 point (as encoded in the SPKI).
    Ec { curve: Curve, point: Vec<u8> },
}

/// Strips the leading zero bytes of a big-endian unsigned integer.
pub fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[i..]
}

/// SubjectPublicKeyInfo DER of an RSA public key.
pub fn rsa_spki(n: &[u8], e: &[u8]) -> CryptoResult<Vec<u8>> {
    let key = rsa_public_key_der(n, e)?;
    let spki = spki::SubjectPublicKeyInfo {
        algorithm: spki::AlgorithmIdentifier { oid: OID_RSA_ENCRYPTION, parameters: Some(AnyRef::NULL) },
        subject_public_key: BitStringRef::from_bytes(&key).map_err(enc_err)?,
    };
    spki.to_der().map_err(enc_err)
}

/// PKCS#1 RSAPublicKey DER.
pub fn rsa_public_key_der(n: &[u8], e: &[u8]) -> CryptoResult<Vec<u8>> {
    let k = pkcs1::RsaPublicKey {
        modulus: UintRef::new(strip_leading_zeros(n)).map_err(|_| CryptoError::InvalidKey)?,
        public_exponent: UintRef::new(strip_leading_zeros(e)).map_err(|_| CryptoError::InvalidKey)?,
    };
    k.to_der().map_err(enc_err)
}

/// SubjectPublicKeyInfo DER of an EC public key (`point` is SEC1).
pub fn ec_spki(curve: Curve, point: &[u8]) -> CryptoResult<Vec<u8>> {
    let params = curve_oid(curve);
    let spki = spki::SubjectPublicKeyInfo {
        algorithm: spki::AlgorithmIdentifier { oid: OID_EC_PUBLIC_KEY, parameters: Some(params) },
        subject_public_key: BitStringRef::from_bytes(point).map_err(enc_err)?,
    };
    spki.to_der().map_err(enc_err)
}

/// Parses a SubjectPublicKeyInfo holding an RSA or a named-curve EC key.
/// The key itself is not validated here (`RsaPublic::from_n_e`,
/// `EcPublic::from_point` do that).
pub fn parse_spki(der: &[u8]) -> CryptoResult<PublicKeyInfo> {
    let spki = spki::SubjectPublicKeyInfoRef::from_der(der).map_err(|_| CryptoError::InvalidKey)?;
    let key = spki.subject_public_key.as_bytes().ok_or(CryptoError::InvalidKey)?;
    match spki.algorithm.oid {
        OID_RSA_ENCRYPTION => {
            let k = pkcs1::RsaPublicKey::<UintRef<'_>>::from_der(key).map_err(|_| CryptoError::InvalidKey)?;
            Ok(PublicKeyInfo::Rsa { n: k.modulus.as_bytes().to_vec(), e: k.public_exponent.as_bytes().to_vec() })
        }
        OID_EC_PUBLIC_KEY => {
            let params = spki.algorithm.parameters.ok_or(CryptoError::InvalidKey)?;
            let oid: ObjectIdentifier = params.decode_as().map_err(|_| CryptoError::InvalidKey)?;
            let curve = curve_from_oid(&oid).ok_or(CryptoError::InvalidParam)?;
            Ok(PublicKeyInfo::Ec { curve, point: key.to_vec() })
        }
        _ => Err(CryptoError::InvalidKey),
    }
}

/// An RSA private key's big-endian components, as read from DER.
pub(crate) fn parse_rsa_private_key(der: &[u8]) -> CryptoResult<super::rsa::RsaComponents> {
    let k = pkcs1::RsaPrivateKey::<UintRef<'_>>::from_der(der).map_err(|_| CryptoError::InvalidKey)?;
    if k.other_prime_infos.is_some() {
        return Err(CryptoError::InvalidKey);
    }
    let z = |u: UintRef<'_>| Zeroizing::new(u.as_bytes().to_vec());
    Ok(super::rsa::RsaComponents {
        n: k.modulus.as_bytes().to_vec(),
        e: k.public_exponent.as_bytes().to_vec(),
        d: z(k.private_exponent),
        p: z(k.prime1),
        q: z(k.prime2),
        dp: z(k.exponent1),
        dq: z(k.exponent2),
        qinv: z(k.coefficient),
    })
}

/// The private-key payload of a PKCS#8 PrivateKeyInfo, checked to be of
/// algorithm `oid`; returns it with the algorithm parameters.
pub(crate) fn pkcs8_payload<'a>(der: &'a [u8], oid: ObjectIdentifier) -> CryptoResult<(&'a [u8], Option<AnyRef<'a>>)> {
    let info = pkcs8::PrivateKeyInfoRef::from_der(der).map_err(|_| CryptoError::InvalidKey)?;
    if info.algorithm.oid != oid {
        return Err(CryptoError::InvalidKey);
    }
    Ok((info.private_key.as_bytes(), info.algorithm.parameters))
}

/// PKCS#8 v1 PrivateKeyInfo DER for an EC scalar on `curve`, with the public
/// point inside the RFC 5915 ECPrivateKey.
pub(crate) fn ec_pkcs8(curve: Curve, scalar: &[u8], point: &[u8]) -> CryptoResult<Zeroizing<Vec<u8>>> {
    let ec = sec1::EcPrivateKey { private_key: scalar, parameters: None, public_key: Some(point) };
    let inner = Zeroizing::new(ec.to_der().map_err(enc_err)?);
    let params = curve_oid(curve);
    let info = pkcs8::PrivateKeyInfo {
        algorithm: spki::AlgorithmIdentifier { oid: OID_EC_PUBLIC_KEY, parameters: Some(params) },
        private_key: OctetStringRef::new(&inner).map_err(enc_err)?,
        public_key: None::<BitStringRef<'_>>,
    };
    Ok(Zeroizing::new(info.to_der().map_err(enc_err)?))
}

/// An EC private key read from PKCS#8 (or a bare RFC 5915 ECPrivateKey).
pub(crate) struct EcDerKey {
    pub curve: Curve,
    pub scalar: Zeroizing<Vec<u8>>,
    pub point: Option<Vec<u8>>,
}

/// Reads an EC private key from PKCS#8 PrivateKeyInfo DER. The curve comes
/// from the PKCS#8 algorithm parameters or, failing that, the ECPrivateKey's.
pub(crate) fn parse_ec_pkcs8(der: &[u8]) -> CryptoResult<EcDerKey> {
    let (payload, params) = pkcs8_payload(der, OID_EC_PUBLIC_KEY)?;
    let ec = sec1::EcPrivateKey::from_der(payload).map_err(|_| CryptoError::InvalidKey)?;
    let outer = match params {
        Some(p) => Some(p.decode_as::<ObjectIdentifier>().map_err(|_| CryptoError::InvalidKey)?),
        None => None,
    };
    let inner = ec.parameters.as_ref().and_then(|p| p.named_curve());
    let oid = match (outer, inner) {
        (Some(a), Some(b)) if a != b => return Err(CryptoError::InvalidKey),
        (Some(a), _) => a,
        (None, Some(b)) => b,
        (None, None) => return Err(CryptoError::InvalidKey),
    };
    let curve = curve_from_oid(&oid).ok_or(CryptoError::InvalidParam)?;
    Ok(EcDerKey { curve, scalar: Zeroizing::new(ec.private_key.to_vec()), point: ec.public_key.map(|p| p.to_vec()) })
}

/// PKCS#8 v1 PrivateKeyInfo DER wrapping a PKCS#1 RSAPrivateKey built from
/// the components (all big-endian).
#[allow(clippy::too_many_arguments)]
pub(crate) fn rsa_pkcs8(
    n: &[u8],
    e: &[u8],
    d: &[u8],
    p: &[u8],
    q: &[u8],
    dp: &[u8],
    dq: &[u8],
    qinv: &[u8],
) -> CryptoResult<Zeroizing<Vec<u8>>> {
    fn u(b: &[u8]) -> CryptoResult<UintRef<'_>> {
        UintRef::new(strip_leading_zeros(b)).map_err(|_| CryptoError::InvalidKey)
    }
    let k = pkcs1::RsaPrivateKey {
        modulus: u(n)?,
        public_exponent: u(e)?,
        private_exponent: u(d)?,
        prime1: u(p)?,
        prime2: u(q)?,
        exponent1: u(dp)?,
        exponent2: u(dq)?,
        coefficient: u(qinv)?,
        other_prime_infos: None,
    };
    let inner = Zeroizing::new(k.to_der().map_err(enc_err)?);
    let info = pkcs8::PrivateKeyInfo {
        algorithm: spki::AlgorithmIdentifier { oid: OID_RSA_ENCRYPTION, parameters: Some(AnyRef::NULL) },
        private_key: OctetStringRef::new(&inner).map_err(enc_err)?,
        public_key: None::<BitStringRef<'_>>,
    };
    Ok(Zeroizing::new(info.to_der().map_err(enc_err)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_params_round_trip_and_names() {
        for c in [Curve::P224, Curve::P256, Curve::P384, Curve::P521, Curve::Secp256k1] {
            assert_eq!(curve_from_params(&ec_params(c)), Some(c));
        }
        assert_eq!(hex::encode(ec_params(Curve::P256)), "06082a8648ce3d030107");
        assert_eq!(hex::encode(ec_params(Curve::P384)), "06052b81040022");
        assert_eq!(hex::encode(ec_params(Curve::Secp256k1)), "06052b8104000a");
        // PrintableString "prime256v1", "secp384r1", "secp256k1".
        let ps = |s: &str| PrintableStringRef::new(s).unwrap().to_der().unwrap();
        assert_eq!(curve_from_params(&ps("prime256v1")), Some(Curve::P256));
        assert_eq!(curve_from_params(&ps("secp256r1")), Some(Curve::P256));
        assert_eq!(curve_from_params(&ps("secp384r1")), Some(Curve::P384));
        assert_eq!(curve_from_params(&ps("secp256k1")), Some(Curve::Secp256k1));
        assert_eq!(curve_from_params(&ps("secp521r1")), Some(Curve::P521));
        assert_eq!(curve_from_params(&ps("secp224r1")), Some(Curve::P224));
        assert_eq!(curve_from_params(&hex::decode("06052b81040023").unwrap()), Some(Curve::P521));
        assert_eq!(curve_from_params(&hex::decode("06052b81040021").unwrap()), Some(Curve::P224));
        // P-192 (prime192v1): unsupported (the engine has no P-192); garbage: none.
        assert_eq!(curve_from_params(&hex::decode("06082a8648ce3d030101").unwrap()), None);
        assert_eq!(curve_from_params(&ps("prime192v1")), None);
        assert_eq!(curve_from_params(b"\x01\x02"), None);
        assert_eq!(curve_from_params(&[]), None);
    }

    #[test]
    fn ec_point_forms() {
        let mut raw = vec![4u8];
        raw.extend_from_slice(&[0x3f; 64]); // X[0] = 0x3f = 63: also a plausible DER length
        let wrapped = wrap_octet_string(&raw);
        assert_eq!(&wrapped[..2], &[0x04, 0x41]);
        assert_eq!(unwrap_octet_string(&wrapped), Some(&raw[..]));
        assert_eq!(ec_point_from_attr(&wrapped, 32), Some(&raw[..]));
        assert_eq!(ec_point_from_attr(&raw, 32), Some(&raw[..]));
        let comp = [&[2u8][..], &[7u8; 32][..]].concat();
        assert_eq!(ec_point_from_attr(&comp, 32), Some(&comp[..]));
        assert_eq!(ec_point_from_attr(&wrap_octet_string(&comp), 32), Some(&comp[..]));
        assert_eq!(ec_point_from_attr(&raw[..64], 32), None);
        assert_eq!(ec_point_from_attr(&raw, 48), None);
        assert_eq!(ec_point_from_attr(&[], 32), None);
    }

    #[test]
    fn spki_round_trip() {
        let n = [&[0xc1u8][..], &[0x55; 255][..]].concat();
        let der = rsa_spki(&[&[0u8][..], &n[..]].concat(), &[1, 0, 1]).unwrap();
        assert_eq!(parse_spki(&der).unwrap(), PublicKeyInfo::Rsa { n: n.clone(), e: vec![1, 0, 1] });
        let pt = [&[4u8][..], &[9u8; 96][..]].concat();
        let der = ec_spki(Curve::P384, &pt).unwrap();
        assert_eq!(parse_spki(&der).unwrap(), PublicKeyInfo::Ec { curve: Curve::P384, point: pt });
        assert_eq!(parse_spki(b"junk"), Err(CryptoError::InvalidKey));
    }
}
