//! Elliptic-curve keys on P-224, P-256, P-384, P-521 and secp256k1: ECDSA
//! over a prehashed message (any hash length) and raw ECDH. Knows nothing
//! of PKCS#11.
//!
//! Engines: aws-lc-rs (constant-time) does ECDSA and ECDH on P-256, P-384
//! and P-521; AWS-LC's EC_KEY interface (`ffi`) does P-224, which aws-lc-rs
//! lacks, and P-521 ECDSA over a hash longer than 64 bytes;
//! the RustCrypto `k256` crate (constant-time) does everything on secp256k1
//! (key generation, signing, verification: several times faster than
//! aws-lc-rs's generic code there; ECDH, which aws-lc-rs's agreement API
//! does not offer for this curve). Keys are parsed once and shared
//! (`Clone` is an `Arc` clone), so a token caches them per login and every
//! operation reuses the parsed engine state.
//!
//! ECDSA input: the spec's CKM_ECDSA signs a hash of any length. ECDSA uses
//! the leftmost `bitlen(n)` bits of the hash as an integer. P-256, P-384
//! and secp256k1 have byte-aligned orders, so a longer hash is cut to its
//! first `field_len` bytes and a shorter one is left-padded with zeros (the
//! same integer) to the curve's native digest length, which aws-lc-rs
//! signs through `sign_digest`. P-521 (a 521-bit order, native digest
//! SHA-512) does the same for hashes of up to 64 bytes; a longer one goes
//! to AWS-LC's ECDSA_do_sign, which takes the leftmost 521 bits itself, as
//! does every P-224 hash. Signatures are raw `r || s`, each `field_len`
//! bytes (66 on P-521).

use super::der;
use super::ffi;
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
    P224,
    P256,
    P384,
    P521,
    Secp256k1,
}

impl Curve {
    /// Bytes of a field element (and of the scalar, and of `r` and `s`).
    pub const fn field_len(self) -> usize {
        match self {
            Curve::P224 => 28,
            Curve::P256 | Curve::Secp256k1 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    /// Bit size of the group order, as CK_MECHANISM_INFO and CKA_* key
    /// sizes report it (521 on P-521, not `8 * field_len`).
    pub const fn bits(self) -> usize {
        match self {
            Curve::P521 => 521,
            c => c.field_len() * 8,
        }
    }

    /// The AWS-LC group of the curves `ffi` serves.
    fn ffi_group(self) -> Option<ffi::EcGroup> {
        match self {
            Curve::P224 => Some(ffi::P224),
            Curve::P521 => Some(ffi::P521),
            _ => None,
        }
    }

    /// Whether every operation on this curve runs through `ffi`.
    fn ffi_only(self) -> bool {
        self == Curve::P224
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
            Curve::P224 => &P224_N,
            Curve::P256 => &P256_N,
            Curve::P384 => &P384_N,
            Curve::P521 => &P521_N,
            Curve::Secp256k1 => &K256_N,
        }
    }

    /// The aws-lc-rs signing algorithm (`None` on P-224).
    fn signing_alg(self) -> Option<&'static signature::EcdsaSigningAlgorithm> {
        match self {
            Curve::P256 => Some(&signature::ECDSA_P256_SHA256_FIXED_SIGNING),
            Curve::P384 => Some(&signature::ECDSA_P384_SHA384_FIXED_SIGNING),
            Curve::P521 => Some(&signature::ECDSA_P521_SHA512_FIXED_SIGNING),
            Curve::Secp256k1 => Some(&signature::ECDSA_P256K1_SHA256_FIXED_SIGNING),
            Curve::P224 => None,
        }
    }

    fn verify_alg(self) -> Option<&'static signature::EcdsaVerificationAlgorithm> {
        match self {
            Curve::P256 => Some(&signature::ECDSA_P256_SHA256_FIXED),
            Curve::P384 => Some(&signature::ECDSA_P384_SHA384_FIXED),
            Curve::P521 => Some(&signature::ECDSA_P521_SHA512_FIXED),
            Curve::Secp256k1 => Some(&signature::ECDSA_P256K1_SHA256_FIXED),
            Curve::P224 => None,
        }
    }

    /// The digest `sign_digest` takes: the order's length (SHA-512 on
    /// P-521, see the module docs).
    fn native_digest(self) -> &'static lc_digest::Algorithm {
        match self {
            Curve::P224 => &lc_digest::SHA224,
            Curve::P256 | Curve::Secp256k1 => &lc_digest::SHA256,
            Curve::P384 => &lc_digest::SHA384,
            Curve::P521 => &lc_digest::SHA512,
        }
    }

    fn ecdh_alg(self) -> Option<&'static agreement::Algorithm> {
        match self {
            Curve::P256 => Some(&agreement::ECDH_P256),
            Curve::P384 => Some(&agreement::ECDH_P384),
            Curve::P521 => Some(&agreement::ECDH_P521),
            Curve::P224 | Curve::Secp256k1 => None,
        }
    }

    /// Whether a hash of `len` bytes goes to `ffi` for ECDSA.
    fn ecdsa_via_ffi(self, len: usize) -> bool {
        self.ffi_only() || (self == Curve::P521 && len > 64)
    }
}

const P224_N: [u8; 28] = hex_n("ffffffffffffffffffffffffffff16a2e0b8f03e13dd29455c5c2a3d");
const P521_N: [u8; 66] = hex_n(
    "01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409",
);
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

const fn hex_n<const N: usize>(s: &str) -> [u8; N] {
    let b = s.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = hex_nibble(b[2 * i]) << 4 | hex_nibble(b[2 * i + 1]);
        i += 1;
    }
    out
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

/// Normalizes a hash to the curve's native digest length: its leftmost
/// bytes, or left-padded with zeros (see the module docs; a P-521 hash
/// longer than 64 bytes never comes here).
fn normalize_hash(curve: Curve, hash: &[u8], out: &mut [u8; 64]) -> CryptoResult<Digest> {
    let fl = curve.native_digest().output_len;
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
    buf: [u8; 66],
    len: usize,
}

impl Default for PrehashBuffer {
    fn default() -> Self {
        PrehashBuffer { buf: [0; 66], len: 0 }
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
    /// P-224 verification runs on AWS-LC's EC_KEY (`ffi`), from the point.
    Ffi,
}

/// Parses (and so validates: on the curve, not the identity) an
/// uncompressed point for verification.
fn verifier(curve: Curve, point: &[u8]) -> CryptoResult<Verifier> {
    Ok(match curve {
        Curve::Secp256k1 => {
            Verifier::K256(k256::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|_| CryptoError::InvalidKey)?)
        }
        Curve::P224 => {
            ffi::ec_check_point(ffi::P224, point).map_err(|_| CryptoError::InvalidKey)?;
            Verifier::Ffi
        }
        _ => {
            let alg = curve.verify_alg().ok_or(CryptoError::Internal)?;
            Verifier::Lc(ParsedPublicKey::new(alg, point).map_err(|_| CryptoError::InvalidKey)?)
        }
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
        Curve::P224 => ffi::ec_check_point(ffi::P224, point).map_err(|_| CryptoError::InvalidKey),
        Curve::P256 | Curve::P384 | Curve::P521 => {
            // aws-lc-rs parses the compressed point (checking it is on the
            // curve) and re-encodes it; keep the result only if it came
            // back uncompressed.
            use aws_lc_rs::encoding::AsDer;
            let alg = curve.verify_alg().ok_or(CryptoError::Internal)?;
            let parsed = ParsedPublicKey::new(alg, point).map_err(|_| CryptoError::InvalidKey)?;
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
        let curve = self.0.curve;
        if curve.ecdsa_via_ffi(hash.len()) {
            let g = curve.ffi_group().ok_or(CryptoError::Internal)?;
            // Parse (and validate) the point once, as for the other paths.
            self.verifier()?;
            return ffi::ec_verify(g, &self.0.point, hash, sig).map_err(|_| CryptoError::AuthFailed);
        }
        let mut buf = [0u8; 64];
        let d = normalize_hash(curve, hash, &mut buf)?;
        match self.verifier()? {
            Verifier::K256(vk) => {
                use k256::ecdsa::signature::hazmat::PrehashVerifier;
                // Zero or out-of-range r/s fail to parse: an invalid signature.
                let sig = k256::ecdsa::Signature::from_slice(sig).map_err(|_| CryptoError::AuthFailed)?;
                vk.verify_prehash(d.as_ref(), &sig.normalize_s()).map_err(|_| CryptoError::AuthFailed)
            }
            Verifier::Lc(pk) => pk.verify_digest_sig(&d, sig).map_err(|_| CryptoError::AuthFailed),
            Verifier::Ffi => Err(CryptoError::Internal),
        }
    }
}

struct PrivInner {
    curve: Curve,
    /// The aws-lc-rs signing key (P-256, P-384, P-521); `None` on
    /// secp256k1 and P-224.
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
    /// P-224: AWS-LC's EC_KEY from the scalar, per derivation.
    Ffi(ffi::EcGroup),
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
    if curve.ffi_only() {
        let g = curve.ffi_group().ok_or(CryptoError::Internal)?;
        let (scalar, point) = ffi::ec_generate(g).map_err(|_| CryptoError::Internal)?;
        return EcPrivate::from_parts(curve, None, None, point, scalar);
    }
    if curve == Curve::Secp256k1 {
        let mut scalar = Zeroizing::new(vec![0u8; curve.field_len()]);
        loop {
            aws_lc_rs::rand::fill(&mut scalar).map_err(|_| CryptoError::Internal)?;
            if scalar_in_range(&scalar, curve.order()) {
                return EcPrivate::from_scalar(curve, &scalar);
            }
        }
    }
    let pair =
        EcdsaKeyPair::generate(curve.signing_alg().ok_or(CryptoError::Internal)?).map_err(|_| CryptoError::Internal)?;
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
        if curve.ffi_only() {
            let g = curve.ffi_group().ok_or(CryptoError::Internal)?;
            let point = ffi::ec_public_point(g, &scalar).map_err(|_| CryptoError::InvalidKey)?;
            return Self::from_parts(curve, None, None, point, scalar);
        }
        let point = Self::compute_point(curve, &scalar)?;
        let alg = curve.signing_alg().ok_or(CryptoError::Internal)?;
        let pair =
            EcdsaKeyPair::from_private_key_and_public_key(alg, &scalar, &point).map_err(|_| CryptoError::InvalidKey)?;
        Self::from_parts(curve, Some(pair), None, point, scalar)
    }

    /// The public point of `scalar` on P-256/P-384/P-521 (secp256k1 points
    /// come from k256, P-224 points from `ffi`, see
    /// [`EcPrivate::from_scalar`]).
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
        if self.0.curve.ecdsa_via_ffi(hash.len()) {
            let g = self.0.curve.ffi_group().ok_or(CryptoError::Internal)?;
            let sig = ffi::ec_sign(g, &self.0.scalar, hash).map_err(|_| CryptoError::Internal)?;
            if sig.len() != n {
                return Err(CryptoError::Internal);
            }
            out[..n].copy_from_slice(&sig);
            return Ok(n);
        }
        let mut buf = [0u8; 64];
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
            None if self.0.curve.ffi_only() => EcdhKey::Ffi(self.0.curve.ffi_group().ok_or(CryptoError::Internal)?),
            None => EcdhKey::K256(k256::SecretKey::from_slice(&self.0.scalar).map_err(|_| CryptoError::InvalidKey)?),
        };
        Ok(self.0.ecdh.get_or_init(|| k))
    }

    /// Raw ECDH: the x coordinate of `scalar * peer` (`field_len` bytes).
    /// `peer` is a SEC1 point (uncompressed or compressed);
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
            EcdhKey::Ffi(g) => ffi::ec_ecdh(*g, &self.0.scalar, peer).map_err(|_| CryptoError::InvalidKey),
            EcdhKey::K256(sk) => {
                let pk = k256::PublicKey::from_sec1_bytes(peer).map_err(|_| CryptoError::InvalidKey)?;
                let shared = k256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
                Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
            }
        }
    }
}

#[cfg(test)]
mod tests;
