//! Curve25519 keys (RFC 8032 Ed25519 signatures, RFC 7748 X25519 key
//! agreement) over aws-lc-rs. Knows nothing of PKCS#11 beyond the byte
//! forms its callers store: a 32-byte public key, a 32-byte private seed
//! (Ed25519) or scalar (X25519), RFC 8410 curve OIDs and PKCS#8.
//!
//! Keys are parsed once and shared (`Clone` is an `Arc` clone). Pure
//! Ed25519 runs on aws-lc-rs; Ed25519ctx and Ed25519ph (RFC 8032 §5.1),
//! which aws-lc-rs lacks, on AWS-LC itself through `ffi` ([`Variant`]).

use super::{CryptoError, CryptoResult};
use aws_lc_rs::agreement;
use aws_lc_rs::encoding::{AsBigEndian, Curve25519SeedBin};
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair as _, ParsedPublicKey};
use std::sync::Arc;
use zeroize::Zeroizing;

/// The two Curve25519 algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Okp {
    /// Ed25519 (PKCS#11 CKK_EC_EDWARDS).
    Ed25519,
    /// X25519 (PKCS#11 CKK_EC_MONTGOMERY).
    X25519,
}

/// An Ed25519 variant of RFC 8032 §5.1 other than pure Ed25519.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant<'a> {
    /// Ed25519ctx over the message, with a non-empty context.
    Ctx(&'a [u8]),
    /// Ed25519ph over the SHA-512 digest of the message (64 bytes), with
    /// a context (possibly empty).
    Ph(&'a [u8]),
}

/// The longest Ed25519ctx/ph context (RFC 8032).
pub const MAX_CONTEXT_LEN: usize = super::ffi::ED25519_MAX_CONTEXT_LEN;

impl Variant<'_> {
    fn parts(&self) -> (bool, &[u8]) {
        match self {
            Variant::Ctx(c) => (false, c),
            Variant::Ph(c) => (true, c),
        }
    }
}

/// Length of keys (public, private) and of the X25519 shared secret.
pub const KEY_LEN: usize = 32;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// DER OBJECT IDENTIFIERs of RFC 8410: id-Ed25519 (1.3.101.112), id-X25519 (1.3.101.110).
const OID_ED25519: [u8; 5] = [0x06, 0x03, 0x2b, 0x65, 0x70];
const OID_X25519: [u8; 5] = [0x06, 0x03, 0x2b, 0x65, 0x6e];

impl Okp {
    /// Key size in bits as CK_MECHANISM_INFO and inventories report it.
    pub const fn bits(self) -> usize {
        255
    }

    /// `CKA_EC_PARAMS` DER: the RFC 8410 OID.
    pub fn params_der(self) -> Vec<u8> {
        match self {
            Okp::Ed25519 => OID_ED25519.to_vec(),
            Okp::X25519 => OID_X25519.to_vec(),
        }
    }

    /// The curve named by `CKA_EC_PARAMS`: the RFC 8410 OID, or a DER
    /// PrintableString "edwards25519" / "curve25519" (PKCS#11 3.0), or that
    /// name as plain bytes.
    pub fn from_params(params: &[u8]) -> Option<Okp> {
        if params == OID_ED25519 {
            return Some(Okp::Ed25519);
        }
        if params == OID_X25519 {
            return Some(Okp::X25519);
        }
        let name = match params {
            [0x13, n, rest @ ..] if *n as usize == rest.len() => rest,
            _ => params,
        };
        match name {
            b"edwards25519" | b"Ed25519" | b"ed25519" => Some(Okp::Ed25519),
            b"curve25519" | b"X25519" | b"x25519" => Some(Okp::X25519),
            _ => None,
        }
    }

    /// PKCS#8 v1 PrivateKeyInfo prefix (RFC 8410 §7): SEQUENCE, version 0,
    /// AlgorithmIdentifier { OID }, OCTET STRING { OCTET STRING (32) }.
    fn pkcs8_prefix(self) -> [u8; 16] {
        let oid = match self {
            Okp::Ed25519 => OID_ED25519,
            Okp::X25519 => OID_X25519,
        };
        let mut p = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0, 0, 0, 0, 0, 0x04, 0x22, 0x04, 0x20];
        p[7..12].copy_from_slice(&oid);
        p
    }
}

/// Whether `CKA_EC_PARAMS` names Ed448 or X448 (RFC 8410 OIDs 1.3.101.113
/// and 1.3.101.111, or the printable names): curves the engine lacks, so
/// callers can say so.
pub fn is_curve448(params: &[u8]) -> bool {
    const OIDS: [[u8; 5]; 2] = [[0x06, 0x03, 0x2b, 0x65, 0x71], [0x06, 0x03, 0x2b, 0x65, 0x6f]];
    if OIDS.iter().any(|o| params == o) {
        return true;
    }
    let name = match params {
        [0x13, n, rest @ ..] if *n as usize == rest.len() => rest,
        _ => params,
    };
    matches!(name, b"edwards448" | b"Ed448" | b"ed448" | b"curve448" | b"X448" | b"x448")
}

/// The public point from `CKA_EC_POINT` or a derive parameter: a DER OCTET
/// STRING of 32 bytes (the spec's form) or the raw 32 bytes.
pub fn point_from_attr(bytes: &[u8]) -> Option<&[u8]> {
    match bytes {
        [0x04, 0x20, rest @ ..] if rest.len() == KEY_LEN => Some(rest),
        _ if bytes.len() == KEY_LEN => Some(bytes),
        _ => None,
    }
}

struct PubInner {
    alg: Okp,
    key: [u8; KEY_LEN],
    /// The Ed25519 verifier (validated at import); `None` for X25519.
    verifier: Option<ParsedPublicKey>,
}

/// A Curve25519 public key.
#[derive(Clone)]
pub struct OkpPublic(Arc<PubInner>);

impl std::fmt::Debug for OkpPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OkpPublic({:?})", self.0.alg)
    }
}

impl OkpPublic {
    /// Imports a 32-byte public key; an Ed25519 key must decode to a point.
    pub fn from_bytes(alg: Okp, key: &[u8]) -> CryptoResult<OkpPublic> {
        let key: [u8; KEY_LEN] = key.try_into().map_err(|_| CryptoError::InvalidKey)?;
        let verifier = match alg {
            Okp::Ed25519 => Some(ParsedPublicKey::new(&signature::ED25519, key).map_err(|_| CryptoError::InvalidKey)?),
            Okp::X25519 => None,
        };
        Ok(OkpPublic(Arc::new(PubInner { alg, key, verifier })))
    }

    pub fn alg(&self) -> Okp {
        self.0.alg
    }

    /// The raw 32-byte public key.
    pub fn bytes(&self) -> &[u8] {
        &self.0.key
    }

    /// `CKA_EC_POINT`: the key as a DER OCTET STRING.
    pub fn point_der(&self) -> Vec<u8> {
        let mut v = vec![0x04, 0x20];
        v.extend_from_slice(&self.0.key);
        v
    }

    /// SubjectPublicKeyInfo DER (RFC 8410 §4).
    pub fn to_spki_der(&self) -> Vec<u8> {
        let mut v = vec![0x30, 0x2a, 0x30, 0x05];
        v.extend_from_slice(&self.0.alg.params_der());
        v.extend_from_slice(&[0x03, 0x21, 0x00]);
        v.extend_from_slice(&self.0.key);
        v
    }

    /// Verifies a pure Ed25519 signature: `InvalidLength` for a signature
    /// of the wrong size, `AuthFailed` for a bad one, `InvalidKey` on X25519.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> CryptoResult<()> {
        let v = self.0.verifier.as_ref().ok_or(CryptoError::InvalidKey)?;
        if sig.len() != SIGNATURE_LEN {
            return Err(CryptoError::InvalidLength);
        }
        v.verify_sig(msg, sig).map_err(|_| CryptoError::AuthFailed)
    }

    /// Verifies an Ed25519ctx signature over `data` (the message) or an
    /// Ed25519ph one (`data` = the message's SHA-512 digest). As
    /// [`OkpPublic::verify`]; `InvalidParam` for an unusable context.
    pub fn verify_variant(&self, v: Variant<'_>, data: &[u8], sig: &[u8]) -> CryptoResult<()> {
        if self.0.verifier.is_none() {
            return Err(CryptoError::InvalidKey);
        }
        let sig: &[u8; SIGNATURE_LEN] = sig.try_into().map_err(|_| CryptoError::InvalidLength)?;
        let (ph, ctx) = v.parts();
        check_variant(ph, ctx, data)?;
        super::ffi::ed25519_verify(&self.0.key, data, ph, ctx, sig).map_err(|_| CryptoError::AuthFailed)
    }
}

/// The context and digest rules of RFC 8032's variants.
fn check_variant(ph: bool, ctx: &[u8], data: &[u8]) -> CryptoResult<()> {
    if ctx.len() > MAX_CONTEXT_LEN || (!ph && ctx.is_empty()) {
        return Err(CryptoError::InvalidParam);
    }
    if ph && data.len() != 64 {
        return Err(CryptoError::InvalidLength);
    }
    Ok(())
}

enum Engine {
    Ed(Ed25519KeyPair),
    X(agreement::PrivateKey),
}

struct PrivInner {
    alg: Okp,
    engine: Engine,
    secret: Zeroizing<Vec<u8>>,
    public: OkpPublic,
}

/// A Curve25519 private key; `Clone` shares it.
#[derive(Clone)]
pub struct OkpPrivate(Arc<PrivInner>);

impl std::fmt::Debug for OkpPrivate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OkpPrivate({:?})", self.0.alg)
    }
}

fn seed_bytes(b: CryptoResult<Curve25519SeedBin<'static>>) -> CryptoResult<Zeroizing<Vec<u8>>> {
    let b = b?;
    Ok(Zeroizing::new(b.as_ref().to_vec()))
}

/// Generates a key pair.
pub fn generate(alg: Okp) -> CryptoResult<OkpPrivate> {
    let secret = match alg {
        Okp::Ed25519 => {
            let pair = Ed25519KeyPair::generate().map_err(|_| CryptoError::Internal)?;
            let seed = pair.seed().map_err(|_| CryptoError::Internal)?;
            seed_bytes(seed.as_be_bytes().map_err(|_| CryptoError::Internal))?
        }
        Okp::X25519 => {
            let k = agreement::PrivateKey::generate(&agreement::X25519).map_err(|_| CryptoError::Internal)?;
            seed_bytes(AsBigEndian::<Curve25519SeedBin<'static>>::as_be_bytes(&k).map_err(|_| CryptoError::Internal))?
        }
    };
    OkpPrivate::from_bytes(alg, &secret)
}

impl OkpPrivate {
    /// Imports a 32-byte private key: the Ed25519 seed or the X25519 scalar
    /// (clamped by the engine, as RFC 7748 defines).
    pub fn from_bytes(alg: Okp, secret: &[u8]) -> CryptoResult<OkpPrivate> {
        if secret.len() != KEY_LEN {
            return Err(CryptoError::InvalidKey);
        }
        let (engine, public) = match alg {
            Okp::Ed25519 => {
                let pair = Ed25519KeyPair::from_seed_unchecked(secret).map_err(|_| CryptoError::InvalidKey)?;
                let public = pair.public_key().as_ref().to_vec();
                (Engine::Ed(pair), public)
            }
            Okp::X25519 => {
                let k = agreement::PrivateKey::from_private_key(&agreement::X25519, secret)
                    .map_err(|_| CryptoError::InvalidKey)?;
                let public = k.compute_public_key().map_err(|_| CryptoError::InvalidKey)?.as_ref().to_vec();
                (Engine::X(k), public)
            }
        };
        let public = OkpPublic::from_bytes(alg, &public)?;
        Ok(OkpPrivate(Arc::new(PrivInner { alg, engine, secret: Zeroizing::new(secret.to_vec()), public })))
    }

    pub fn alg(&self) -> Okp {
        self.0.alg
    }

    /// The 32-byte private key (`CKA_VALUE`).
    pub fn secret(&self) -> Zeroizing<Vec<u8>> {
        self.0.secret.clone()
    }

    pub fn public(&self) -> &OkpPublic {
        &self.0.public
    }

    /// Pure Ed25519 over `msg` into `out[..64]`; `InvalidKey` on X25519.
    pub fn sign(&self, msg: &[u8], out: &mut [u8]) -> CryptoResult<usize> {
        let Engine::Ed(pair) = &self.0.engine else { return Err(CryptoError::InvalidKey) };
        let out = out.get_mut(..SIGNATURE_LEN).ok_or(CryptoError::InvalidLength)?;
        let sig = pair.try_sign(msg).map_err(|_| CryptoError::Internal)?;
        out.copy_from_slice(sig.as_ref());
        Ok(SIGNATURE_LEN)
    }

    /// Ed25519ctx over `data` (the message) or Ed25519ph (`data` = the
    /// message's SHA-512 digest) into `out[..64]`.
    pub fn sign_variant(&self, v: Variant<'_>, data: &[u8], out: &mut [u8]) -> CryptoResult<usize> {
        if !matches!(self.0.engine, Engine::Ed(_)) {
            return Err(CryptoError::InvalidKey);
        }
        let out = out.get_mut(..SIGNATURE_LEN).ok_or(CryptoError::InvalidLength)?;
        let (ph, ctx) = v.parts();
        check_variant(ph, ctx, data)?;
        let seed: &[u8; KEY_LEN] = self.0.secret.as_slice().try_into().map_err(|_| CryptoError::Internal)?;
        let sig =
            super::ffi::ed25519_sign(seed, &self.0.public.0.key, data, ph, ctx).map_err(|_| CryptoError::Internal)?;
        out.copy_from_slice(&sig);
        Ok(SIGNATURE_LEN)
    }

    /// X25519 with the peer's raw 32-byte public key: the 32-byte shared
    /// secret. `InvalidKey` for a malformed peer key or an all-zero result
    /// (a small-order peer point), or on Ed25519.
    pub fn agree(&self, peer: &[u8]) -> CryptoResult<Zeroizing<Vec<u8>>> {
        let Engine::X(k) = &self.0.engine else { return Err(CryptoError::InvalidKey) };
        if peer.len() != KEY_LEN {
            return Err(CryptoError::InvalidKey);
        }
        agreement::agree(k, agreement::UnparsedPublicKey::new(&agreement::X25519, peer), CryptoError::InvalidKey, |s| {
            if s.iter().all(|b| *b == 0) {
                return Err(CryptoError::InvalidKey);
            }
            Ok(Zeroizing::new(s.to_vec()))
        })
    }

    /// PKCS#8 v1 PrivateKeyInfo DER (RFC 8410).
    pub fn to_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        let mut v = Zeroizing::new(self.0.alg.pkcs8_prefix().to_vec());
        v.extend_from_slice(&self.0.secret);
        v
    }

    /// Imports RFC 8410 PKCS#8 v1 of `alg` (no attributes, no public key).
    pub fn from_pkcs8_der(alg: Okp, der: &[u8]) -> CryptoResult<OkpPrivate> {
        let prefix = alg.pkcs8_prefix();
        match der.strip_prefix(&prefix[..]) {
            Some(secret) if secret.len() == KEY_LEN => Self::from_bytes(alg, secret),
            _ => Err(CryptoError::InvalidKey),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn rfc8032_test_1() {
        let k = OkpPrivate::from_bytes(
            Okp::Ed25519,
            &h("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"),
        )
        .unwrap();
        assert_eq!(k.public().bytes(), h("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"));
        let mut sig = [0u8; 64];
        assert_eq!(k.sign(b"", &mut sig).unwrap(), 64);
        assert_eq!(
            sig.to_vec(),
            h(
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
            )
        );
        k.public().verify(b"", &sig).unwrap();
        assert_eq!(k.public().verify(b"x", &sig), Err(CryptoError::AuthFailed));
        assert_eq!(k.public().verify(b"", &sig[1..]), Err(CryptoError::InvalidLength));
        let back = OkpPrivate::from_pkcs8_der(Okp::Ed25519, &k.to_pkcs8_der()).unwrap();
        assert_eq!(back.public().bytes(), k.public().bytes());
    }

    /// RFC 8032 §7.2 (Ed25519ctx, the first "foo" vector) and §7.3
    /// (Ed25519ph, "abc").
    #[test]
    fn rfc8032_ctx_and_ph() {
        let k = OkpPrivate::from_bytes(
            Okp::Ed25519,
            &h("0305334e381af78f141cb666f6199f57bc3495335a256a95bd2a55bf546663f6"),
        )
        .unwrap();
        assert_eq!(k.public().bytes(), h("dfc9425e4f968f7f0c29f0259cf5f9aed6851c2bb4ad8bfb860cfee0ab248292"));
        let msg = h("f726936d19c800494e3fdaff20b276a8");
        let want = h(
            "55a4cc2f70a54e04288c5f4cd1e45a7bb520b36292911876cada7323198dd87a8b36950b95130022907a7fb7c4e9b2d5f6cca685a587b4b21f4b888e4e7edb0d",
        );
        let mut sig = [0u8; 64];
        k.sign_variant(Variant::Ctx(b"foo"), &msg, &mut sig).unwrap();
        assert_eq!(sig.to_vec(), want);
        k.public().verify_variant(Variant::Ctx(b"foo"), &msg, &sig).unwrap();
        assert_eq!(k.public().verify_variant(Variant::Ctx(b"bar"), &msg, &sig), Err(CryptoError::AuthFailed));
        assert_eq!(k.public().verify(&msg, &sig), Err(CryptoError::AuthFailed));
        assert_eq!(k.sign_variant(Variant::Ctx(b""), &msg, &mut sig), Err(CryptoError::InvalidParam));
        assert_eq!(k.sign_variant(Variant::Ctx(&[1; 256]), &msg, &mut sig), Err(CryptoError::InvalidParam));

        let k = OkpPrivate::from_bytes(
            Okp::Ed25519,
            &h("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42"),
        )
        .unwrap();
        assert_eq!(k.public().bytes(), h("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf"));
        let d = crate::crypto::digest::digest(crate::crypto::digest::Algorithm::Sha512, b"abc");
        let want = h(
            "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae4131f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406",
        );
        k.sign_variant(Variant::Ph(b""), &d, &mut sig).unwrap();
        assert_eq!(sig.to_vec(), want);
        k.public().verify_variant(Variant::Ph(b""), &d, &sig).unwrap();
        assert_eq!(k.public().verify_variant(Variant::Ph(b"x"), &d, &sig), Err(CryptoError::AuthFailed));
        assert_eq!(k.sign_variant(Variant::Ph(b""), &d[1..], &mut sig), Err(CryptoError::InvalidLength));
        let x = generate(Okp::X25519).unwrap();
        assert_eq!(x.sign_variant(Variant::Ph(b""), &d, &mut sig), Err(CryptoError::InvalidKey));
    }

    #[test]
    fn rfc7748_section_6_1() {
        let a =
            OkpPrivate::from_bytes(Okp::X25519, &h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
                .unwrap();
        let b =
            OkpPrivate::from_bytes(Okp::X25519, &h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"))
                .unwrap();
        assert_eq!(a.public().bytes(), h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"));
        assert_eq!(b.public().bytes(), h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"));
        let want = h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
        assert_eq!(a.agree(b.public().bytes()).unwrap().to_vec(), want);
        assert_eq!(b.agree(a.public().bytes()).unwrap().to_vec(), want);
        assert_eq!(a.agree(&[0u8; 32]), Err(CryptoError::InvalidKey));
        assert_eq!(a.agree(&[9u8; 31]), Err(CryptoError::InvalidKey));
        let g = generate(Okp::X25519).unwrap();
        assert_eq!(OkpPrivate::from_pkcs8_der(Okp::X25519, &g.to_pkcs8_der()).unwrap().secret(), g.secret());
    }

    #[test]
    fn params_and_points() {
        assert_eq!(Okp::from_params(&h("06032b6570")), Some(Okp::Ed25519));
        assert_eq!(Okp::from_params(&h("06032b656e")), Some(Okp::X25519));
        assert_eq!(Okp::from_params(b"\x13\x0cedwards25519"), Some(Okp::Ed25519));
        assert_eq!(Okp::from_params(b"\x13\x0acurve25519"), Some(Okp::X25519));
        assert_eq!(Okp::from_params(&h("06082a8648ce3d030107")), None);
        assert!(is_curve448(b"\x13\x0aedwards448") && is_curve448(&h("06032b6571")) && is_curve448(&h("06032b656f")));
        assert!(!is_curve448(b"\x13\x0cedwards25519") && !is_curve448(&h("06032b6570")));
        let p = [7u8; 32];
        let mut der = vec![4, 32];
        der.extend_from_slice(&p);
        assert_eq!(point_from_attr(&der), Some(&p[..]));
        assert_eq!(point_from_attr(&p), Some(&p[..]));
        assert_eq!(point_from_attr(&p[1..]), None);
        let e = generate(Okp::Ed25519).unwrap();
        let mut sig = [0u8; 64];
        e.sign(b"m", &mut sig).unwrap();
        e.public().verify(b"m", &sig).unwrap();
        assert_eq!(e.agree(&p), Err(CryptoError::InvalidKey));
    }
}
