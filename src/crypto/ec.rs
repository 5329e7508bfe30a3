//! Elliptic-curve keys on P-256, P-384 and secp256k1: ECDSA over a prehashed
//! message (any hash length) and raw ECDH. Knows nothing of PKCS#11.
//!
//! Engines: aws-lc-rs (constant-time) does ECDSA and ECDH on P-256/P-384;
//! the RustCrypto `k256` crate (constant-time) does everything on secp256k1
//! (key generation, signing, verification: several times faster than
//! aws-lc-rs's generic code there; ECDH, which aws-lc-rs's agreement API
//! does not offer for this curve). Keys are parsed once and shared
//! (`Clone` is an `Arc` clone), so a token caches them per login and every
//! operation reuses the parsed engine state.
//!
//! ECDSA input: the spec's CKM_ECDSA signs a hash of any length. ECDSA uses
//! the leftmost `bitlen(n)` bits of the hash as an integer; the three curves
//! have byte-aligned group orders (256, 384, 256 bits), so a longer hash is
//! cut to its first `field_len` bytes and a shorter one is left-padded with
//! zeros (the same integer). The result has exactly the length of the
//! curve's native digest, and aws-lc-rs signs it through `sign_digest`.
//! Signatures are raw `r || s`, each `field_len` bytes.

use super::der;
use super::{CryptoError, CryptoResult};
use aws_lc_rs::agreement;
use aws_lc_rs::digest::{self as lc_digest, Digest};
use aws_lc_rs::encoding::{AsBigEndian, EcPrivateKeyBin};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, ParsedPublicKey};
use std::sync::{Arc, OnceLock};
use zeroize::Zeroizing;

/// The curves keyward offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Curve {
    P256,
    P384,
    Secp256k1,
}

impl Curve {
    /// Bytes of a field element (and of the scalar, and of `r` and `s`).
    pub const fn field_len(self) -> usize {
        match self {
            Curve::P256 | Curve::Secp256k1 => 32,
            Curve::P384 => 48,
        }
    }

    /// Bit size, as CK_MECHANISM_INFO and CKA_* key sizes report it.
    pub const fn bits(self) -> usize {
        self.field_len() * 8
    }

    /// Length of an ECDSA signature `r || s`.
    pub const fn signature_len(self) -> usize {
        2 * self.field_len()
    }

    /// Length of an uncompressed SEC1 point.
    pub const fn point_len(self) -> usize {
        1 + 2 * self.field_len()
    }

    /// The namedCurve OID, dotted.
    pub fn oid(self) -> String {
        der::curve_oid(self).to_string()
    }

    /// `CKA_EC_PARAMS` DER.
    pub fn params_der(self) -> Vec<u8> {
        der::ec_params(self)
    }

    /// The curve named by `CKA_EC_PARAMS` DER (OID or printable name).
    pub fn from_params_der(params: &[u8]) -> Option<Curve> {
        der::curve_from_params(params)
    }

    /// The group order `n`, big-endian, `field_len` bytes.
    pub fn order(self) -> &'static [u8] {
        match self {
            Curve::P256 => &P256_N,
            Curve::P384 => &P384_N,
            Curve::Secp256k1 => &K256_N,
        }
    }

    fn signing_alg(self) -> &'static signature::EcdsaSigningAlgorithm {
        match self {
            Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            Curve::Secp256k1 => &signature::ECDSA_P256K1_SHA256_FIXED_SIGNING,
        }
    }

    fn verify_alg(self) -> &'static signature::EcdsaVerificationAlgorithm {
        match self {
            Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED,
            Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED,
            Curve::Secp256k1 => &signature::ECDSA_P256K1_SHA256_FIXED,
        }
    }

    /// The digest whose length equals the order's: what `sign_digest` takes.
    fn native_digest(self) -> &'static lc_digest::Algorithm {
        match self {
            Curve::P256 | Curve::Secp256k1 => &lc_digest::SHA256,
            Curve::P384 => &lc_digest::SHA384,
        }
    }

    fn ecdh_alg(self) -> Option<&'static agreement::Algorithm> {
        match self {
            Curve::P256 => Some(&agreement::ECDH_P256),
            Curve::P384 => Some(&agreement::ECDH_P384),
            Curve::Secp256k1 => None,
        }
    }
}

const P256_N: [u8; 32] = hex32("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
const K256_N: [u8; 32] = hex32("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");
const P384_N: [u8; 48] =
    hex48("ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973");

const fn hex_nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("bad hex"),
    }
}

const fn hex32(s: &str) -> [u8; 32] {
    let b = s.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = hex_nibble(b[2 * i]) << 4 | hex_nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

const fn hex48(s: &str) -> [u8; 48] {
    let b = s.as_bytes();
    let mut out = [0u8; 48];
    let mut i = 0;
    while i < 48 {
        out[i] = hex_nibble(b[2 * i]) << 4 | hex_nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

/// Whether `1 <= s < n` for equal-length big-endian `s` and `n`, in time
/// independent of `s`'s value.
fn scalar_in_range(s: &[u8], n: &[u8]) -> bool {
    debug_assert_eq!(s.len(), n.len());
    // Borrow of s - n, from the least significant byte up: set iff s < n.
    let mut borrow: u16 = 0;
    let mut any: u8 = 0;
    for (a, b) in s.iter().rev().zip(n.iter().rev()) {
        let d = (*a as u16).wrapping_sub(*b as u16).wrapping_sub(borrow);
        borrow = (d >> 8) & 1;
        any |= *a;
    }
    (borrow == 1) & (any != 0)
}

/// Normalizes a hash of any length to the curve's order length: leftmost
/// `field_len` bytes, or left-padded with zeros (see the module docs).
fn normalize_hash(curve: Curve, hash: &[u8], out: &mut [u8; 48]) -> CryptoResult<Digest> {
    let fl = curve.field_len();
    let buf = &mut out[..fl];
    buf.fill(0);
    if hash.len() >= fl {
        buf.copy_from_slice(&hash[..fl]);
    } else {
        buf[fl - hash.len()..].copy_from_slice(hash);
    }
    Digest::import_less_safe(buf, curve.native_digest()).map_err(|_| CryptoError::Internal)
}

/// Streaming form of [`normalize_hash`]'s input: keeps the first
/// `field_len` bytes of a CKM_ECDSA input and its total length, so a
/// multi-part feed needs no heap buffer.
#[derive(Clone)]
pub struct PrehashBuffer {
    buf: [u8; 48],
    len: usize,
}

impl Default for PrehashBuffer {
    fn default() -> Self {
        PrehashBuffer { buf: [0; 48], len: 0 }
    }
}

impl PrehashBuffer {
    pub fn update(&mut self, data: &[u8]) {
        if self.len < self.buf.len() {
            let n = data.len().min(self.buf.len() - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&data[..n]);
        }
        self.len = self.len.saturating_add(data.len());
    }

    /// The bytes that matter for `curve` (at most `field_len` of them, from
    /// the front); equivalent input for the prehash sign/verify calls.
    pub fn effective(&self, curve: Curve) -> &[u8] {
        &self.buf[..self.len.min(curve.field_len())]
    }

    /// Total bytes fed.
    pub fn total_len(&self) -> usize {
        self.len
    }
}

struct PubInner {
    curve: Curve,
    /// Uncompressed SEC1 point.
    point: Vec<u8>,
    /// Built at import (which validates the point) or, for a point this
    /// module computed itself, at the first verification.
    verifier: OnceLock<Verifier>,
}

enum Verifier {
    Lc(ParsedPublicKey),
    /// secp256k1 verification runs on `k256` (several times faster than
    /// aws-lc-rs's generic code for this curve); high-S signatures, which
    /// plain ECDSA accepts and k256 refuses, are verified as their low-S
    /// twin `(r, n - s)`, which is valid exactly when `(r, s)` is.
    K256(k256::ecdsa::VerifyingKey),
}

/// Parses (and so validates: on the curve, not the identity) an
/// uncompressed point for verification.
fn verifier(curve: Curve, point: &[u8]) -> CryptoResult<Verifier> {
    Ok(match curve {
        Curve::Secp256k1 => {
            Verifier::K256(k256::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|_| CryptoError::InvalidKey)?)
        }
        _ => Verifier::Lc(ParsedPublicKey::new(curve.verify_alg(), point).map_err(|_| CryptoError::InvalidKey)?),
    })
}

/// An EC public key, parsed and validated once.
#[derive(Clone)]
pub struct EcPublic(Arc<PubInner>);

impl std::fmt::Debug for EcPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EcPublic({:?})", self.0.curve)
    }
}

/// Returns the uncompressed form of a valid SEC1 point on `curve`.
fn uncompressed_point(curve: Curve, point: &[u8]) -> CryptoResult<Vec<u8>> {
    if point.len() == curve.point_len() && point[0] == 4 {
        return Ok(point.to_vec());
    }
    if point.len() != 1 + curve.field_len() || !(point[0] == 2 || point[0] == 3) {
        return Err(CryptoError::InvalidKey);
    }
    match curve {
        Curve::Secp256k1 => {
            let pk = k256::PublicKey::from_sec1_bytes(point).map_err(|_| CryptoError::InvalidKey)?;
            Ok(k256::elliptic_curve::sec1::ToSec1Point::to_sec1_point(pk.as_affine(), false).as_bytes().to_vec())
        }
        Curve::P256 | Curve::P384 => {
            // aws-lc-rs parses the compressed point (checking it is on the
            // curve) and re-encodes it; keep the result only if it came
            // back uncompressed.
            use aws_lc_rs::encoding::AsDer;
            let parsed = ParsedPublicKey::new(curve.verify_alg(), point).map_err(|_| CryptoError::InvalidKey)?;
            let spki = parsed.as_der().map_err(|_| CryptoError::InvalidKey)?;
            match der::parse_spki(spki.as_ref())? {
                der::PublicKeyInfo::Ec { curve: c, point: p }
                    if c == curve && p.len() == curve.point_len() && p[0] == 4 =>
                {
                    Ok(p)
                }
                _ => Err(CryptoError::InvalidKey),
            }
        }
    }
}

impl EcPublic {
    /// Imports a SEC1 point (uncompressed `04 X Y`, or compressed on
    /// secp256k1), checking that it lies on `curve` and is not the identity.
    pub fn from_point(curve: Curve, point: &[u8]) -> CryptoResult<EcPublic> {
        let point = uncompressed_point(curve, point)?;
        let v = verifier(curve, &point)?;
        Ok(EcPublic(Arc::new(PubInner { curve, point, verifier: OnceLock::from(v) })))
    }

    /// The public half of a key this module generated or computed from a
    /// private scalar (an uncompressed point, as every engine here returns
    /// it): known to be valid, parsed at its first verification (a key pair
    /// generation does not pay for it).
    fn from_own_point(curve: Curve, point: Vec<u8>) -> EcPublic {
        EcPublic(Arc::new(PubInner { curve, point, verifier: OnceLock::new() }))
    }

    fn verifier(&self) -> CryptoResult<&Verifier> {
        if let Some(v) = self.0.verifier.get() {
            return Ok(v);
        }
        let v = verifier(self.0.curve, &self.0.point)?;
        Ok(self.0.verifier.get_or_init(|| v))
    }

    /// Imports the EC key of a SubjectPublicKeyInfo.
    pub fn from_spki_der(spki: &[u8]) -> CryptoResult<EcPublic> {
        match der::parse_spki(spki)? {
            der::PublicKeyInfo::Ec { curve, point } => Self::from_point(curve, &point),
            _ => Err(CryptoError::InvalidKey),
        }
    }

    pub fn curve(&self) -> Curve {
        self.0.curve
    }

    /// The uncompressed SEC1 point (`CKA_EC_POINT` is its DER OCTET STRING).
    pub fn point(&self) -> &[u8] {
        &self.0.point
    }

    /// SubjectPublicKeyInfo DER.
    pub fn to_spki_der(&self) -> CryptoResult<Vec<u8>> {
        der::ec_spki(self.0.curve, &self.0.point)
    }

    /// Verifies a raw `r || s` signature over a hash of any length.
    /// `InvalidLength` for a signature of the wrong size, `AuthFailed` for
    /// a bad one.
    pub fn verify_prehash(&self, hash: &[u8], sig: &[u8]) -> CryptoResult<()> {
        if sig.len() != self.0.curve.signature_len() {
            return Err(CryptoError::InvalidLength);
        }
        let mut buf = [0u8; 48];
        let d = normalize_hash(self.0.curve, hash, &mut buf)?;
        match self.verifier()? {
            Verifier::K256(vk) => {
                use k256::ecdsa::signature::hazmat::PrehashVerifier;
                // Zero or out-of-range r/s fail to parse: an invalid signature.
                let sig = k256::ecdsa::Signature::from_slice(sig).map_err(|_| CryptoError::AuthFailed)?;
                vk.verify_prehash(d.as_ref(), &sig.normalize_s()).map_err(|_| CryptoError::AuthFailed)
            }
            Verifier::Lc(pk) => pk.verify_digest_sig(&d, sig).map_err(|_| CryptoError::AuthFailed),
        }
    }
}

struct PrivInner {
    curve: Curve,
    /// The AWS-LC signing key (P-256, P-384); `None` on secp256k1.
    pair: Option<EcdsaKeyPair>,
    /// secp256k1 signing runs on `k256` (constant-time, RFC 6979 nonces,
    /// low-S signatures; see `Verifier::K256` for verification).
    k256_signer: Option<k256::ecdsa::SigningKey>,
    scalar: Zeroizing<Vec<u8>>,
    public: EcPublic,
    /// ECDH engine state, built on first derive.
    ecdh: OnceLock<EcdhKey>,
}

enum EcdhKey {
    Lc(agreement::PrivateKey),
    K256(k256::SecretKey),
}

/// An EC private key, parsed once; `Clone` shares it.
#[derive(Clone)]
pub struct EcPrivate(Arc<PrivInner>);

impl std::fmt::Debug for EcPrivate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EcPrivate({:?})", self.0.curve)
    }
}

/// Generates a key pair on `curve`. secp256k1 keys are generated for k256
/// (which signs them): a uniformly random scalar in [1, n-1] by rejection
/// sampling from AWS-LC's DRBG, the public point by k256.
pub fn generate(curve: Curve) -> CryptoResult<EcPrivate> {
    if curve == Curve::Secp256k1 {
        let mut scalar = Zeroizing::new(vec![0u8; curve.field_len()]);
        loop {
            aws_lc_rs::rand::fill(&mut scalar).map_err(|_| CryptoError::Internal)?;
            if scalar_in_range(&scalar, curve.order()) {
                return EcPrivate::from_scalar(curve, &scalar);
            }
        }
    }
    let pair = EcdsaKeyPair::generate(curve.signing_alg()).map_err(|_| CryptoError::Internal)?;
    let bin: EcPrivateKeyBin<'static> = pair.private_key().as_be_bytes().map_err(|_| CryptoError::Internal)?;
    let scalar = Zeroizing::new(bin.as_ref().to_vec());
    let point = pair.public_key().as_ref().to_vec();
    EcPrivate::from_parts(curve, Some(pair), None, point, scalar)
}

impl EcPrivate {
    fn from_parts(
        curve: Curve,
        pair: Option<EcdsaKeyPair>,
        k256_signer: Option<k256::ecdsa::SigningKey>,
        point: Vec<u8>,
        scalar: Zeroizing<Vec<u8>>,
    ) -> CryptoResult<EcPrivate> {
        let public = EcPublic::from_own_point(curve, point);
        Ok(EcPrivate(Arc::new(PrivInner { curve, pair, k256_signer, scalar, public, ecdh: OnceLock::new() })))
    }

    /// Imports a private scalar (big-endian; leading zeros may be missing
    /// or extra). `InvalidKey` unless `1 <= scalar <= n-1`.
    pub fn from_scalar(curve: Curve, bytes: &[u8]) -> CryptoResult<EcPrivate> {
        let fl = curve.field_len();
        let stripped = der::strip_leading_zeros(bytes);
        if stripped.len() > fl {
            return Err(CryptoError::InvalidKey);
        }
        let mut scalar = Zeroizing::new(vec![0u8; fl]);
        scalar[fl - stripped.len()..].copy_from_slice(stripped);
        if !scalar_in_range(&scalar, curve.order()) {
            return Err(CryptoError::InvalidKey);
        }
        if curve == Curve::Secp256k1 {
            // secp256k1 signs on k256: no AWS-LC key (its generic-curve
            // setup costs more than the k256 key generation itself); the
            // public point comes from the signing key (one scalar
            // multiplication).
            let sk = k256::ecdsa::SigningKey::from_slice(&scalar).map_err(|_| CryptoError::InvalidKey)?;
            let point = k256::elliptic_curve::sec1::ToSec1Point::to_sec1_point(sk.verifying_key().as_affine(), false)
                .as_bytes()
                .to_vec();
            return Self::from_parts(curve, None, Some(sk), point, scalar);
        }
        let point = Self::compute_point(curve, &scalar)?;
        let pair = EcdsaKeyPair::from_private_key_and_public_key(curve.signing_alg(), &scalar, &point)
            .map_err(|_| CryptoError::InvalidKey)?;
        Self::from_parts(curve, Some(pair), None, point, scalar)
    }

    /// The public point of `scalar` on P-256/P-384 (secp256k1 points come
    /// from k256, see [`EcPrivate::from_scalar`]).
    fn compute_point(curve: Curve, scalar: &[u8]) -> CryptoResult<Vec<u8>> {
        let alg = curve.ecdh_alg().ok_or(CryptoError::Internal)?;
        let k = agreement::PrivateKey::from_private_key(alg, scalar).map_err(|_| CryptoError::InvalidKey)?;
        let p = k.compute_public_key().map_err(|_| CryptoError::InvalidKey)?;
        Ok(p.as_ref().to_vec())
    }

    /// Imports a PKCS#8 PrivateKeyInfo (id-ecPublicKey, named curve). A
    /// public key inside must match the scalar.
    pub fn from_pkcs8_der(der: &[u8]) -> CryptoResult<EcPrivate> {
        let k = der::parse_ec_pkcs8(der)?;
        let key = Self::from_scalar(k.curve, &k.scalar)?;
        if let Some(p) = k.point {
            let given = uncompressed_point(k.curve, &p)?;
            if given != key.public_point() {
                return Err(CryptoError::InvalidKey);
            }
        }
        Ok(key)
    }

    /// PKCS#8 v1 PrivateKeyInfo DER (RFC 5915 ECPrivateKey inside, with the
    /// public point).
    pub fn to_pkcs8_der(&self) -> CryptoResult<Zeroizing<Vec<u8>>> {
        der::ec_pkcs8(self.0.curve, &self.0.scalar, &self.0.public.0.point)
    }

    pub fn curve(&self) -> Curve {
        self.0.curve
    }

    /// The private scalar, `field_len` bytes big-endian (`CKA_VALUE`).
    pub fn scalar(&self) -> Zeroizing<Vec<u8>> {
        self.0.scalar.clone()
    }

    /// The uncompressed SEC1 public point.
    pub fn public_point(&self) -> &[u8] {
        &self.0.public.0.point
    }

    pub fn public(&self) -> &EcPublic {
        &self.0.public
    }

    /// Signs a hash of any length (see the module docs); writes `r || s`
    /// into `out[..signature_len]` and returns its length.
    pub fn sign_prehash(&self, hash: &[u8], out: &mut [u8]) -> CryptoResult<usize> {
        let n = self.0.curve.signature_len();
        if out.len() < n {
            return Err(CryptoError::InvalidLength);
        }
        let mut buf = [0u8; 48];
        let d = normalize_hash(self.0.curve, hash, &mut buf)?;
        if let Some(sk) = &self.0.k256_signer {
            use k256::ecdsa::signature::hazmat::PrehashSigner;
            let sig: k256::ecdsa::Signature = sk.sign_prehash(d.as_ref()).map_err(|_| CryptoError::Internal)?;
            let b = sig.to_bytes();
            if b.len() != n {
                return Err(CryptoError::Internal);
            }
            out[..n].copy_from_slice(&b);
            return Ok(n);
        }
        let pair = self.0.pair.as_ref().ok_or(CryptoError::Internal)?;
        let sig = pair.sign_digest(&d).map_err(|_| CryptoError::Internal)?;
        let sig = sig.as_ref();
        if sig.len() != n {
            return Err(CryptoError::Internal);
        }
        out[..n].copy_from_slice(sig);
        Ok(n)
    }

    fn ecdh_key(&self) -> CryptoResult<&EcdhKey> {
        if let Some(k) = self.0.ecdh.get() {
            return Ok(k);
        }
        let k = match self.0.curve.ecdh_alg() {
            Some(alg) => EcdhKey::Lc(
                agreement::PrivateKey::from_private_key(alg, &self.0.scalar).map_err(|_| CryptoError::InvalidKey)?,
            ),
            None => EcdhKey::K256(k256::SecretKey::from_slice(&self.0.scalar).map_err(|_| CryptoError::InvalidKey)?),
        };
        Ok(self.0.ecdh.get_or_init(|| k))
    }

    /// Raw ECDH: the x coordinate of `scalar * peer` (`field_len` bytes).
    /// `peer` is a SEC1 point (uncompressed, or compressed on secp256k1);
    /// `InvalidKey` if it is malformed or not on the curve.
    pub fn ecdh(&self, peer: &[u8]) -> CryptoResult<Zeroizing<Vec<u8>>> {
        let curve = self.0.curve;
        match self.ecdh_key()? {
            EcdhKey::Lc(k) => {
                let alg = curve.ecdh_alg().ok_or(CryptoError::Internal)?;
                let peer = uncompressed_point(curve, peer)?;
                agreement::agree(k, agreement::UnparsedPublicKey::new(alg, &peer), CryptoError::InvalidKey, |s| {
                    Ok(Zeroizing::new(s.to_vec()))
                })
            }
            EcdhKey::K256(sk) => {
                let pk = k256::PublicKey::from_sec1_bytes(peer).map_err(|_| CryptoError::InvalidKey)?;
                let shared = k256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
                Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CURVES: [Curve; 3] = [Curve::P256, Curve::P384, Curve::Secp256k1];

    #[test]
    fn range_check() {
        let n = Curve::P256.order();
        assert!(!scalar_in_range(&[0u8; 32], n));
        assert!(!scalar_in_range(n, n));
        let mut nm1 = n.to_vec();
        nm1[31] -= 1;
        assert!(scalar_in_range(&nm1, n));
        let mut one = [0u8; 32];
        one[31] = 1;
        assert!(scalar_in_range(&one, n));
        assert!(!scalar_in_range(&[0xff; 32], n));
    }

    #[test]
    fn sign_verify_all_curves_and_hash_lengths() {
        for c in CURVES {
            let k = generate(c).unwrap();
            assert_eq!(k.scalar().len(), c.field_len());
            assert_eq!(k.public_point().len(), c.point_len());
            for len in [0usize, 1, 20, 28, 32, 48, 64, 100] {
                let h: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
                let mut sig = [0u8; 96];
                let n = k.sign_prehash(&h, &mut sig).unwrap();
                assert_eq!(n, c.signature_len());
                k.public().verify_prehash(&h, &sig[..n]).unwrap();
                let mut bad = sig;
                bad[3] ^= 1;
                assert_eq!(k.public().verify_prehash(&h, &bad[..n]), Err(CryptoError::AuthFailed));
                assert_eq!(k.public().verify_prehash(&h, &sig[..n - 1]), Err(CryptoError::InvalidLength));
            }
            // Truncation: a longer hash equals its field_len prefix; a
            // shorter one equals itself left-padded with zeros.
            let long = [0xabu8; 64];
            let mut sig = [0u8; 96];
            let n = k.sign_prehash(&long, &mut sig).unwrap();
            k.public().verify_prehash(&long[..c.field_len()], &sig[..n]).unwrap();
            let short = [0x11u8; 20];
            let n = k.sign_prehash(&short, &mut sig).unwrap();
            let mut padded = vec![0u8; c.field_len() - 20];
            padded.extend_from_slice(&short);
            k.public().verify_prehash(&padded, &sig[..n]).unwrap();
        }
    }

    #[test]
    fn secp256k1_cross_checked_with_k256() {
        use k256::ecdsa::signature::hazmat::PrehashVerifier;
        let k = generate(Curve::Secp256k1).unwrap();
        let h = [0x42u8; 32];
        let mut sig = [0u8; 64];
        k.sign_prehash(&h, &mut sig).unwrap();
        let vk = k256::ecdsa::VerifyingKey::from_sec1_bytes(k.public_point()).unwrap();
        let s = k256::ecdsa::Signature::from_slice(&sig).unwrap();
        // k256 refuses high-S signatures; aws-lc-rs does not normalize.
        let s = s.normalize_s();
        vk.verify_prehash(&h, &s).unwrap();
        // And the other way round.
        let sk = k256::ecdsa::SigningKey::from_slice(&k.scalar()).unwrap();
        let (s2, _) = sk.sign_prehash_recoverable(&h);
        k.public().verify_prehash(&h, &s2.to_bytes()).unwrap();
    }

    #[test]
    fn import_scalar_and_point() {
        for c in CURVES {
            let k = generate(c).unwrap();
            let k2 = EcPrivate::from_scalar(c, &k.scalar()).unwrap();
            assert_eq!(k2.public_point(), k.public_point());
            // Leading zeros tolerated both ways.
            let mut padded = vec![0u8; 3];
            padded.extend_from_slice(&k.scalar());
            assert_eq!(EcPrivate::from_scalar(c, &padded).unwrap().public_point(), k.public_point());
            // 0, n, n+1 and too long refused.
            assert_eq!(EcPrivate::from_scalar(c, &[0]).err(), Some(CryptoError::InvalidKey));
            assert_eq!(EcPrivate::from_scalar(c, &[]).err(), Some(CryptoError::InvalidKey));
            assert_eq!(EcPrivate::from_scalar(c, c.order()).err(), Some(CryptoError::InvalidKey));
            assert_eq!(EcPrivate::from_scalar(c, &vec![0xff; c.field_len()]).err(), Some(CryptoError::InvalidKey));
            assert_eq!(EcPrivate::from_scalar(c, &vec![1; c.field_len() + 1]).err(), Some(CryptoError::InvalidKey));
            // n-1 accepted.
            let mut nm1 = c.order().to_vec();
            *nm1.last_mut().unwrap() -= 1;
            EcPrivate::from_scalar(c, &nm1).unwrap();
            // Scalar 1: public point is the generator.
            let one = EcPrivate::from_scalar(c, &[1]).unwrap();
            assert_eq!(one.public_point()[0], 4);

            // Public point: good accepted, off-curve refused.
            let p = EcPublic::from_point(c, k.public_point()).unwrap();
            assert_eq!(p.point(), k.public_point());
            let mut off = k.public_point().to_vec();
            let last = off.len() - 1;
            off[last] ^= 1;
            assert_eq!(EcPublic::from_point(c, &off).err(), Some(CryptoError::InvalidKey));
            assert_eq!(EcPublic::from_point(c, &[4]).err(), Some(CryptoError::InvalidKey));
            assert_eq!(EcPublic::from_point(c, &[0]).err(), Some(CryptoError::InvalidKey));
            // Wrong curve's point refused.
            let other = if c == Curve::P384 { Curve::P256 } else { Curve::P384 };
            assert!(EcPublic::from_point(other, k.public_point()).is_err());
        }
    }

    #[test]
    fn compressed_points() {
        for c in CURVES {
            let k = generate(c).unwrap();
            let p = k.public_point();
            let fl = c.field_len();
            let mut comp = vec![2 | (p[2 * fl] & 1)];
            comp.extend_from_slice(&p[1..1 + fl]);
            assert_eq!(EcPublic::from_point(c, &comp).unwrap().point(), p, "{c:?}");
            assert_eq!(k.ecdh(&comp).unwrap(), k.ecdh(p).unwrap());
            comp[0] ^= 1; // the other y: a valid point, but a different one
            assert_ne!(EcPublic::from_point(c, &comp).unwrap().point(), p);
        }
    }

    #[test]
    fn ecdh_agrees() {
        for c in CURVES {
            let a = generate(c).unwrap();
            let b = generate(c).unwrap();
            let s1 = a.ecdh(b.public_point()).unwrap();
            let s2 = b.ecdh(a.public_point()).unwrap();
            assert_eq!(s1, s2);
            assert_eq!(s1.len(), c.field_len());
            let mut off = b.public_point().to_vec();
            off[5] ^= 1;
            assert_eq!(a.ecdh(&off).err(), Some(CryptoError::InvalidKey));
            assert!(a.ecdh(&[4, 1, 2]).is_err());
        }
    }

    #[test]
    fn pkcs8_and_spki_round_trip() {
        for c in CURVES {
            let k = generate(c).unwrap();
            let der = k.to_pkcs8_der().unwrap();
            let k2 = EcPrivate::from_pkcs8_der(&der).unwrap();
            assert_eq!(k2.scalar(), k.scalar());
            assert_eq!(k2.curve(), c);
            let spki = k.public().to_spki_der().unwrap();
            assert_eq!(EcPublic::from_spki_der(&spki).unwrap().point(), k.public_point());
        }
        // aws-lc-rs's own PKCS#8 (P-256) reads back.
        let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let doc = pair.to_pkcs8v1().unwrap();
        let k = EcPrivate::from_pkcs8_der(doc.as_ref()).unwrap();
        assert_eq!(k.public_point(), pair.public_key().as_ref());
        // Mismatched public key refused.
        let a = generate(Curve::P256).unwrap();
        let b = generate(Curve::P256).unwrap();
        let bad = der::ec_pkcs8(Curve::P256, &a.scalar(), b.public_point()).unwrap();
        assert_eq!(EcPrivate::from_pkcs8_der(&bad).err(), Some(CryptoError::InvalidKey));
    }

    #[test]
    fn prehash_buffer() {
        let mut b = PrehashBuffer::default();
        b.update(&[1; 10]);
        b.update(&[2; 50]);
        assert_eq!(b.total_len(), 60);
        assert_eq!(b.effective(Curve::P256).len(), 32);
        assert_eq!(b.effective(Curve::P384).len(), 48);
        assert_eq!(&b.effective(Curve::P256)[..11], &[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]);
        let mut s = PrehashBuffer::default();
        s.update(&[7; 20]);
        assert_eq!(s.effective(Curve::P384), &[7; 20]);
    }
}
