//! RSA keys and operations: PKCS#1 v1.5 and PSS signatures over a digest,
//! OAEP and PKCS#1 v1.5 encryption. Knows nothing of PKCS#11.
//!
//! Engine: aws-lc-rs (constant-time, blinded). Keys are parsed and checked
//! once (`RSA_check_key`) and shared (`Clone` is an `Arc` clone); the engine
//! objects for decryption, encryption and verification are built on first
//! use and kept with the key, so operations reuse them.
//!
//! What runs where: aws-lc-rs for the common schemes (PKCS#1 v1.5 and PSS
//! with SHA-256/384/512 and MGF1 of the same hash, OAEP with SHA-1/256/384/
//! 512 and MGF1 of the same hash, PKCS#1 v1.5 encryption); everything else
//! through AWS-LC's EVP interface directly (`crypto::ffi`, the same library):
//! SHA-1/SHA-224 PKCS#1 v1.5 signing, PSS/OAEP with SHA-224 or a different
//! MGF1 hash, raw PKCS#1 v1.5 signing of arbitrary data (CKM_RSA_PKCS) and
//! raw RSA (CKM_RSA_X_509), and every operation on keys under 2048 bits
//! (aws-lc-rs handles 2048..=8192 only). Both are constant-time and
//! blinded. Keys of 512..=8192 bits; which sizes and exponents a token
//! accepts is policy (`object::policy`), not this module's business.
//! Generation (`generate_with_exponent`): multiples of 128 bits, any odd
//! public exponent from 3 to 2^32 - 1 (AWS-LC's `RSA_generate_key_ex`).
//!
//! PKCS#1 v1.5 decryption does implicit rejection (`implicit`: a bad
//! padding yields a deterministic synthetic message, never an error); it
//! runs on the raw RSA operation, never on an engine path that reports
//! padding errors.
//!
//! Arbitrary PSS salt lengths: aws-lc-rs takes the padding description as a
//! `&'static`, so a salt length other than the hash length is interned once
//! per (hash, salt) pair for the life of the process (bounded: at most three
//! hashes times ~1000 salts, a few hundred KiB in the worst case).

mod implicit;

use super::der;
use super::digest::Algorithm;
use super::ffi::{self, EncPad, EvpRsa, Md, SigPad};
use super::{CryptoError, CryptoResult};
use aws_lc_rs::digest::{self as lc_digest, Digest};
use aws_lc_rs::rsa::{
    self as lc_rsa, KeyPairComponents, OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    Pkcs1PublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey, PublicKeyComponents, RsaParameters,
    RsaPssSaltLength,
};
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaEncoding, RsaKeyPair, RsaSignatureEncoding};
use std::sync::{Arc, Mutex, OnceLock};
use zeroize::Zeroizing;

fn md(h: Algorithm) -> Md {
    match h {
        Algorithm::Sha1 => Md::Sha1,
        Algorithm::Sha224 => Md::Sha224,
        Algorithm::Sha256 => Md::Sha256,
        Algorithm::Sha384 => Md::Sha384,
        Algorithm::Sha512 => Md::Sha512,
    }
}

/// Largest modulus handled, in bytes (8192 bits).
pub const MAX_MODULUS_LEN: usize = 1024;
/// Smallest and largest modulus handled, in bits.
pub const MIN_BITS: usize = 512;
pub const MAX_BITS: usize = 8192;
/// Smallest modulus aws-lc-rs handles; smaller keys run on the EVP path.
const LC_MIN_BITS: usize = 2048;

fn lc_hash(h: Algorithm) -> &'static lc_digest::Algorithm {
    match h {
        Algorithm::Sha1 => &lc_digest::SHA1_FOR_LEGACY_USE_ONLY,
        Algorithm::Sha224 => &lc_digest::SHA224,
        Algorithm::Sha256 => &lc_digest::SHA256,
        Algorithm::Sha384 => &lc_digest::SHA384,
        Algorithm::Sha512 => &lc_digest::SHA512,
    }
}

/// The RSA key's components, big-endian unsigned, without leading zeros
/// when produced by this module.
#[derive(Clone)]
pub struct RsaComponents {
    pub n: Vec<u8>,
    pub e: Vec<u8>,
    pub d: Zeroizing<Vec<u8>>,
    pub p: Zeroizing<Vec<u8>>,
    pub q: Zeroizing<Vec<u8>>,
    pub dp: Zeroizing<Vec<u8>>,
    pub dq: Zeroizing<Vec<u8>>,
    pub qinv: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for RsaComponents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaComponents({} bit modulus)", der::strip_leading_zeros(&self.n).len() * 8)
    }
}

// ---------------------------------------------------------------------------
// Signature schemes

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Padding {
    Pkcs1,
    Pss { salt_len: usize },
}

/// A resolved signature scheme: hash, padding and the engine's descriptions
/// of it. Build one per operation with [`RsaSignScheme::pkcs1`] or
/// [`RsaSignScheme::pss`], then check it against the key with
/// `RsaPrivate::check_sign` / `RsaPublic::check_verify`.
#[derive(Clone, Copy)]
pub struct RsaSignScheme {
    hash: Algorithm,
    /// The MGF1 hash (PSS).
    mgf1: Algorithm,
    padding: Padding,
    sign: Option<&'static RsaSignatureEncoding>,
    /// For keys of 2048 bits and more.
    verify: Option<&'static RsaParameters>,
    /// For keys of 1024..2048 bits (legacy PKCS#1 v1.5 only).
    verify_legacy: Option<&'static RsaParameters>,
    /// Index of the cached parsed public key in `RsaPublic`, for the
    /// standard schemes.
    slot: Option<usize>,
}

impl std::fmt::Debug for RsaSignScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaSignScheme({:?}, {:?})", self.hash, self.padding)
    }
}

const VERIFY_SLOTS: usize = 7;

type PssEntry = (Algorithm, usize, &'static RsaSignatureEncoding, &'static RsaParameters);
static PSS_INTERN: Mutex<Vec<PssEntry>> = Mutex::new(Vec::new());

fn pss_custom(hash: Algorithm, salt: usize) -> CryptoResult<(&'static RsaSignatureEncoding, &'static RsaParameters)> {
    let salt16 = u16::try_from(salt).map_err(|_| CryptoError::InvalidParam)?;
    let mut t = PSS_INTERN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = t.iter().find(|e| e.0 == hash && e.1 == salt) {
        return Ok((e.2, e.3));
    }
    let s = RsaPssSaltLength::Custom(salt16);
    let (enc, par) = match hash {
        Algorithm::Sha256 => (signature::RSA_PSS_SHA256, signature::RSA_PSS_2048_8192_SHA256),
        Algorithm::Sha384 => (signature::RSA_PSS_SHA384, signature::RSA_PSS_2048_8192_SHA384),
        Algorithm::Sha512 => (signature::RSA_PSS_SHA512, signature::RSA_PSS_2048_8192_SHA512),
        _ => return Err(CryptoError::InvalidParam),
    };
    let enc: &'static RsaSignatureEncoding = Box::leak(Box::new(enc.with_pss_salt_length(s)));
    let par: &'static RsaParameters = Box::leak(Box::new(par.with_pss_salt_length(s)));
    t.push((hash, salt, enc, par));
    Ok((enc, par))
}

impl RsaSignScheme {
    /// PKCS#1 v1.5 (EMSA-PKCS1-v1_5) with `hash`.
    pub fn pkcs1(hash: Algorithm) -> RsaSignScheme {
        use signature as s;
        let (sign, verify, verify_legacy, slot): (
            Option<&'static RsaSignatureEncoding>,
            Option<&'static RsaParameters>,
            Option<&'static RsaParameters>,
            Option<usize>,
        ) = match hash {
            Algorithm::Sha1 => (
                None,
                Some(&s::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY),
                Some(&s::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY),
                Some(0),
            ),
            Algorithm::Sha224 => (None, None, None, None),
            Algorithm::Sha256 => (
                Some(&s::RSA_PKCS1_SHA256),
                Some(&s::RSA_PKCS1_2048_8192_SHA256),
                Some(&s::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY),
                Some(1),
            ),
            Algorithm::Sha384 => (Some(&s::RSA_PKCS1_SHA384), Some(&s::RSA_PKCS1_2048_8192_SHA384), None, Some(2)),
            Algorithm::Sha512 => (
                Some(&s::RSA_PKCS1_SHA512),
                Some(&s::RSA_PKCS1_2048_8192_SHA512),
                Some(&s::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY),
                Some(3),
            ),
        };
        RsaSignScheme { hash, mgf1: hash, padding: Padding::Pkcs1, sign, verify, verify_legacy, slot }
    }

    /// PSS (EMSA-PSS) with `hash`, MGF1 over `mgf1_hash` and a salt of
    /// `salt_len` bytes. SHA-256/384/512 with the same MGF1 hash run on
    /// aws-lc-rs (its standard schemes when the salt is the digest length,
    /// interned custom ones otherwise); SHA-1/SHA-224 or a different MGF1
    /// hash go through the EVP path. The salt's upper bound depends on the
    /// key: see `check_sign`/`check_verify`.
    pub fn pss(hash: Algorithm, mgf1_hash: Algorithm, salt_len: usize) -> CryptoResult<RsaSignScheme> {
        use signature as s;
        if salt_len > MAX_MODULUS_LEN {
            return Err(CryptoError::InvalidParam);
        }
        let fast: Option<(&'static RsaSignatureEncoding, &'static RsaParameters, usize)> = match hash {
            _ if mgf1_hash != hash => None,
            Algorithm::Sha256 => Some((&s::RSA_PSS_SHA256, &s::RSA_PSS_2048_8192_SHA256, 4)),
            Algorithm::Sha384 => Some((&s::RSA_PSS_SHA384, &s::RSA_PSS_2048_8192_SHA384, 5)),
            Algorithm::Sha512 => Some((&s::RSA_PSS_SHA512, &s::RSA_PSS_2048_8192_SHA512, 6)),
            _ => None,
        };
        let (sign, verify, slot) = match fast {
            None => (None, None, None),
            // The engine's default: salt length = digest length.
            Some((sign, verify, slot)) if salt_len == hash.output_len() => (Some(sign), Some(verify), Some(slot)),
            Some(_) => {
                let (sign, verify) = pss_custom(hash, salt_len)?;
                (Some(sign), Some(verify), None)
            }
        };
        Ok(RsaSignScheme {
            hash,
            mgf1: mgf1_hash,
            padding: Padding::Pss { salt_len },
            sign,
            verify,
            verify_legacy: None,
            slot,
        })
    }

    /// The message digest the scheme signs.
    pub fn hash(&self) -> Algorithm {
        self.hash
    }

    /// The scheme for the EVP path.
    fn evp_pad(&self) -> SigPad {
        match self.padding {
            Padding::Pkcs1 => SigPad::Pkcs1(md(self.hash)),
            Padding::Pss { salt_len } => SigPad::Pss { md: md(self.hash), mgf1: md(self.mgf1), salt: salt_len },
        }
    }

    /// Whether `bits`-bit keys can use this scheme's salt length.
    fn salt_fits(&self, bits: usize) -> bool {
        match self.padding {
            Padding::Pkcs1 => true,
            Padding::Pss { salt_len } => {
                // emLen = ceil((modBits - 1) / 8); salt <= emLen - hLen - 2.
                let em_len = bits.saturating_sub(1).div_ceil(8);
                salt_len + self.hash.output_len() + 2 <= em_len
            }
        }
    }

    fn digest(&self, digest: &[u8]) -> CryptoResult<Digest> {
        Digest::import_less_safe(digest, lc_hash(self.hash)).map_err(|_| CryptoError::InvalidLength)
    }
}

// ---------------------------------------------------------------------------
// DigestInfo (raw CKM_RSA_PKCS signing)

/// The DER DigestInfo prefixes (RFC 8017 §9.2 note 1), NULL parameters.
const DIGEST_INFO_PREFIXES: [(Algorithm, &[u8]); 5] = [
    (Algorithm::Sha1, &[0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14]),
    (
        Algorithm::Sha224,
        &[
            0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04, 0x05, 0x00, 0x04,
            0x1c,
        ],
    ),
    (
        Algorithm::Sha256,
        &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04,
            0x20,
        ],
    ),
    (
        Algorithm::Sha384,
        &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04,
            0x30,
        ],
    ),
    (
        Algorithm::Sha512,
        &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04,
            0x40,
        ],
    ),
];

/// Splits an exact DER DigestInfo (the standard encoding with NULL
/// parameters, as EMSA-PKCS1-v1_5 builds it) into its hash and digest.
/// Any other byte string gives `None`: signing it through the engine would
/// sign a different encoding than the caller passed.
pub fn parse_digest_info(data: &[u8]) -> Option<(Algorithm, &[u8])> {
    DIGEST_INFO_PREFIXES.iter().find_map(|(alg, prefix)| {
        let rest = data.strip_prefix(*prefix)?;
        (rest.len() == alg.output_len()).then_some((*alg, rest))
    })
}

/// The DER DigestInfo of `digest` under `hash`.
pub fn digest_info(hash: Algorithm, digest: &[u8]) -> Vec<u8> {
    let prefix = DIGEST_INFO_PREFIXES.iter().find(|(a, _)| *a == hash).map(|(_, p)| *p).unwrap_or(&[]);
    [prefix, digest].concat()
}

// ---------------------------------------------------------------------------
// OAEP

/// A resolved OAEP parameter set (hash, MGF1 hash).
#[derive(Clone, Copy)]
pub struct Oaep {
    hash: Algorithm,
    mgf1: Algorithm,
    /// aws-lc-rs's description when it offers the pair; else the EVP path.
    alg: Option<&'static OaepAlgorithm>,
}

impl std::fmt::Debug for Oaep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Oaep({:?})", self.hash)
    }
}

impl Oaep {
    /// `InvalidParam` unless `hash` is SHA-1/256/384/512 and `mgf1_hash`
    /// is the same (the combinations aws-lc-rs offers).
    pub fn new(hash: Algorithm, mgf1_hash: Algorithm) -> CryptoResult<Oaep> {
        let alg: Option<&'static OaepAlgorithm> = match hash {
            _ if hash != mgf1_hash => None,
            Algorithm::Sha1 => Some(&lc_rsa::OAEP_SHA1_MGF1SHA1),
            Algorithm::Sha256 => Some(&lc_rsa::OAEP_SHA256_MGF1SHA256),
            Algorithm::Sha384 => Some(&lc_rsa::OAEP_SHA384_MGF1SHA384),
            Algorithm::Sha512 => Some(&lc_rsa::OAEP_SHA512_MGF1SHA512),
            Algorithm::Sha224 => None,
        };
        Ok(Oaep { hash, mgf1: mgf1_hash, alg })
    }

    fn evp_pad(&self) -> EncPad {
        EncPad::Oaep { md: md(self.hash), mgf1: md(self.mgf1) }
    }

    pub fn hash(&self) -> Algorithm {
        self.hash
    }

    /// Longest message for a `modulus_len`-byte key: k - 2 hLen - 2.
    pub fn max_message_len(&self, modulus_len: usize) -> usize {
        modulus_len.saturating_sub(2 * self.hash.output_len() + 2)
    }
}

/// The k-byte block of raw RSA (CKM_RSA_X_509): `data` left-padded with
/// zeros. `InvalidLength` if `data` is longer than k or the output buffer
/// (`out_len`) shorter.
fn raw_block(data: &[u8], k: usize, out_len: usize) -> CryptoResult<Zeroizing<Vec<u8>>> {
    if data.len() > k || out_len < k {
        return Err(CryptoError::InvalidLength);
    }
    let mut block = Zeroizing::new(vec![0u8; k]);
    block[k - data.len()..].copy_from_slice(data);
    Ok(block)
}

/// Longest PKCS#1 v1.5 encryption message for a `modulus_len`-byte key.
pub fn pkcs1_max_message_len(modulus_len: usize) -> usize {
    modulus_len.saturating_sub(11)
}

// ---------------------------------------------------------------------------
// Public keys

struct PubInner {
    n: Vec<u8>,
    e: Vec<u8>,
    bits: usize,
    verifiers: [OnceLock<ParsedPublicKey>; VERIFY_SLOTS],
    enc: OnceLock<(OaepPublicEncryptingKey, Pkcs1PublicEncryptingKey)>,
    /// The EVP form, built on first use of a scheme aws-lc-rs lacks.
    evp: OnceLock<EvpRsa>,
}

/// An RSA public key; `Clone` shares it.
#[derive(Clone)]
pub struct RsaPublic(Arc<PubInner>);

impl std::fmt::Debug for RsaPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaPublic({} bits)", self.0.bits)
    }
}

fn bit_len(be: &[u8]) -> usize {
    match be.first() {
        None => 0,
        Some(&b) => be.len() * 8 - b.leading_zeros() as usize,
    }
}

impl RsaPublic {
    /// From the modulus and public exponent (big-endian, leading zeros
    /// allowed). `InvalidKey` unless the modulus is odd and 512..=8192
    /// bits and the exponent odd, > 1 and at most 33 bits.
    pub fn from_n_e(n: &[u8], e: &[u8]) -> CryptoResult<RsaPublic> {
        let n = der::strip_leading_zeros(n);
        let e = der::strip_leading_zeros(e);
        let bits = bit_len(n);
        if !(MIN_BITS..=MAX_BITS).contains(&bits) || n[n.len() - 1] & 1 == 0 {
            return Err(CryptoError::InvalidKey);
        }
        if bit_len(e) > 33 || e.is_empty() || e[e.len() - 1] & 1 == 0 || e == [1] {
            return Err(CryptoError::InvalidKey);
        }
        // Let the engine parse it once, so a key it refuses fails here.
        PublicKeyComponents { n, e }
            .to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256)
            .map_err(|_| CryptoError::InvalidKey)?;
        Ok(RsaPublic(Arc::new(PubInner {
            n: n.to_vec(),
            e: e.to_vec(),
            bits,
            verifiers: Default::default(),
            enc: OnceLock::new(),
            evp: OnceLock::new(),
        })))
    }

    /// From a SubjectPublicKeyInfo (rsaEncryption).
    pub fn from_spki_der(spki: &[u8]) -> CryptoResult<RsaPublic> {
        match der::parse_spki(spki)? {
            der::PublicKeyInfo::Rsa { n, e } => Self::from_n_e(&n, &e),
            _ => Err(CryptoError::InvalidKey),
        }
    }

    /// Modulus, big-endian without leading zeros.
    pub fn n(&self) -> &[u8] {
        &self.0.n
    }

    /// Public exponent, big-endian without leading zeros.
    pub fn e(&self) -> &[u8] {
        &self.0.e
    }

    /// Modulus size in bits (`CKA_MODULUS_BITS`).
    pub fn bits(&self) -> usize {
        self.0.bits
    }

    /// Modulus size in bytes: the signature and ciphertext length.
    pub fn modulus_len(&self) -> usize {
        self.0.n.len()
    }

    pub fn to_spki_der(&self) -> CryptoResult<Vec<u8>> {
        der::rsa_spki(&self.0.n, &self.0.e)
    }

    /// PKCS#1 RSAPublicKey DER.
    pub fn to_pkcs1_der(&self) -> CryptoResult<Vec<u8>> {
        der::rsa_public_key_der(&self.0.n, &self.0.e)
    }

    fn components(&self) -> PublicKeyComponents<&[u8]> {
        PublicKeyComponents { n: &self.0.n, e: &self.0.e }
    }

    /// The aws-lc-rs parameters for `s` with this key, if it has them.
    fn fast_params(&self, s: &RsaSignScheme) -> Option<&'static RsaParameters> {
        match self.0.bits {
            LC_MIN_BITS.. => s.verify,
            1024.. => s.verify_legacy,
            _ => None,
        }
    }

    fn evp(&self) -> CryptoResult<&EvpRsa> {
        if let Some(k) = self.0.evp.get() {
            return Ok(k);
        }
        let der = self.to_pkcs1_der()?;
        let k = EvpRsa::public_from_pkcs1(&der).map_err(|_| CryptoError::InvalidKey)?;
        Ok(self.0.evp.get_or_init(|| k))
    }

    /// Whether this key can verify under `s`: `InvalidParam` for a salt too
    /// long for the key.
    pub fn check_verify(&self, s: &RsaSignScheme) -> CryptoResult<()> {
        if !s.salt_fits(self.0.bits) {
            return Err(CryptoError::InvalidParam);
        }
        Ok(())
    }

    /// Verifies `sig` over `digest` (the hash of the message under `s`).
    /// `InvalidLength` for a signature not of the modulus length,
    /// `AuthFailed` for a bad signature.
    pub fn verify_digest(&self, s: &RsaSignScheme, digest: &[u8], sig: &[u8]) -> CryptoResult<()> {
        self.check_verify(s)?;
        if sig.len() != self.modulus_len() {
            return Err(CryptoError::InvalidLength);
        }
        if digest.len() != s.hash.output_len() {
            return Err(CryptoError::InvalidLength);
        }
        let Some(params) = self.fast_params(s) else {
            return self.evp()?.verify(s.evp_pad(), digest, sig).map_err(|_| CryptoError::AuthFailed);
        };
        let d = s.digest(digest)?;
        let bad = |_| CryptoError::AuthFailed;
        match s.slot.filter(|_| self.0.bits >= 2048) {
            Some(i) => {
                let key = match self.0.verifiers[i].get() {
                    Some(k) => k,
                    None => {
                        let k = self.components().to_parsed_public_key(params).map_err(|_| CryptoError::InvalidKey)?;
                        self.0.verifiers[i].get_or_init(|| k)
                    }
                };
                key.verify_digest_sig(&d, sig).map_err(bad)
            }
            None => {
                let key = self.components().to_parsed_public_key(params).map_err(|_| CryptoError::InvalidKey)?;
                key.verify_digest_sig(&d, sig).map_err(bad)
            }
        }
    }

    fn enc_keys(&self) -> CryptoResult<&(OaepPublicEncryptingKey, Pkcs1PublicEncryptingKey)> {
        if let Some(k) = self.0.enc.get() {
            return Ok(k);
        }
        let pk: PublicEncryptingKey = self.components().try_into().map_err(|_| CryptoError::InvalidKey)?;
        let k = (
            OaepPublicEncryptingKey::new(pk.clone()).map_err(|_| CryptoError::InvalidKey)?,
            Pkcs1PublicEncryptingKey::new(pk).map_err(|_| CryptoError::InvalidKey)?,
        );
        Ok(self.0.enc.get_or_init(|| k))
    }

    /// OAEP-encrypts `msg` with `label` (empty = none) into
    /// `out[..modulus_len]`. `InvalidLength` if `msg` is too long or `out`
    /// too short; `InvalidKey` for a key under 2048 bits.
    pub fn encrypt_oaep(&self, p: &Oaep, label: &[u8], msg: &[u8], out: &mut [u8]) -> CryptoResult<usize> {
        let k = self.modulus_len();
        if msg.len() > p.max_message_len(k) || out.len() < k {
            return Err(CryptoError::InvalidLength);
        }
        let Some(alg) = p.alg.filter(|_| self.0.bits >= LC_MIN_BITS) else {
            return self.evp()?.encrypt(p.evp_pad(), label, msg, &mut out[..k]).map_err(|_| CryptoError::Internal);
        };
        let label = (!label.is_empty()).then_some(label);
        let keys = self.enc_keys()?;
        let ct = keys.0.encrypt(alg, msg, &mut out[..k], label).map_err(|_| CryptoError::Internal)?;
        Ok(ct.len())
    }

    /// Raw RSA (CKM_RSA_X_509): `msg` (at most k bytes, left-padded with
    /// zeros to k) raised to e. `InvalidLength` if longer than k or `out`
    /// too short, `InvalidParam` if its value is not below n.
    pub fn encrypt_raw(&self, msg: &[u8], out: &mut [u8]) -> CryptoResult<usize> {
        let k = self.modulus_len();
        let block = raw_block(msg, k, out.len())?;
        self.evp()?.encrypt(EncPad::None, &[], &block, &mut out[..k]).map_err(|_| CryptoError::InvalidParam)
    }

    /// Verifies a raw PKCS#1 v1.5 signature (CKM_RSA_PKCS): `sig` must
    /// recover exactly `data` under type-1 padding.
    pub fn verify_raw_pkcs1(&self, data: &[u8], sig: &[u8]) -> CryptoResult<()> {
        if sig.len() != self.modulus_len() {
            return Err(CryptoError::InvalidLength);
        }
        self.evp()?.verify(SigPad::Pkcs1Raw, data, sig).map_err(|_| CryptoError::AuthFailed)
    }

    /// Verifies a raw RSA signature (CKM_RSA_X_509): `sig`^e equals `data`
    /// left-padded with zeros to k bytes.
    pub fn verify_raw(&self, data: &[u8], sig: &[u8]) -> CryptoResult<()> {
        let k = self.modulus_len();
        if sig.len() != k {
            return Err(CryptoError::InvalidLength);
        }
        // Data longer than k cannot be what any signature recovers.
        let block = raw_block(data, k, k).map_err(|_| CryptoError::AuthFailed)?;
        self.evp()?.verify(SigPad::None, &block, sig).map_err(|_| CryptoError::AuthFailed)
    }

    /// PKCS#1 v1.5-encrypts `msg` into `out[..modulus_len]`.
    pub fn encrypt_pkcs1(&self, msg: &[u8], out: &mut [u8]) -> CryptoResult<usize> {
        let k = self.modulus_len();
        if msg.len() > pkcs1_max_message_len(k) || out.len() < k {
            return Err(CryptoError::InvalidLength);
        }
        if self.0.bits < LC_MIN_BITS {
            return self.evp()?.encrypt(EncPad::Pkcs1, &[], msg, &mut out[..k]).map_err(|_| CryptoError::Internal);
        }
        let keys = self.enc_keys()?;
        let ct = keys.1.encrypt(msg, &mut out[..k]).map_err(|_| CryptoError::Internal)?;
        Ok(ct.len())
    }
}

// ---------------------------------------------------------------------------
// Private keys

struct PrivInner {
    /// aws-lc-rs's form, for keys of 2048 bits and more (`None` below:
    /// those run on the EVP path only).
    pair: Option<RsaKeyPair>,
    comps: RsaComponents,
    /// PKCS#8 v1 DER of the key (the engine's decryption keys parse it).
    pkcs8: Zeroizing<Vec<u8>>,
    public: RsaPublic,
    dec: OnceLock<OaepPrivateDecryptingKey>,
    /// The EVP form, built on first use of a scheme aws-lc-rs lacks.
    evp: OnceLock<EvpRsa>,
}

/// An RSA private key, parsed and validated once; `Clone` shares it.
#[derive(Clone)]
pub struct RsaPrivate(Arc<PrivInner>);

impl std::fmt::Debug for RsaPrivate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaPrivate({} bits)", self.0.public.bits())
    }
}

/// Generates a key with e = 65537 (see [`generate_with_exponent`]).
pub fn generate(bits: usize) -> CryptoResult<RsaPrivate> {
    generate_with_exponent(bits, 65537)
}

/// Whether the engine generates `bits`-bit keys: multiples of 128 from
/// 512 to 8192.
pub fn can_generate(bits: usize) -> bool {
    bits.is_multiple_of(128) && (MIN_BITS..=MAX_BITS).contains(&bits)
}

/// Generates a key with a modulus of `bits` bits ([`can_generate`]) and
/// public exponent `e` (odd, 3..=2^32 - 1); `InvalidParam` otherwise.
/// Which sizes and exponents a token allows is policy.
pub fn generate_with_exponent(bits: usize, e: u32) -> CryptoResult<RsaPrivate> {
    if !can_generate(bits) || e < 3 || e.is_multiple_of(2) {
        return Err(CryptoError::InvalidParam);
    }
    let pkcs1 = ffi::generate_rsa(bits, e).map_err(|_| CryptoError::Internal)?;
    let k = RsaPrivate::from_pkcs1_der(&pkcs1).map_err(|_| CryptoError::Internal)?;
    if k.bits() != bits {
        return Err(CryptoError::Internal);
    }
    Ok(k)
}

impl RsaPrivate {
    fn assemble(
        pair: Option<RsaKeyPair>,
        comps: RsaComponents,
        pkcs8: Zeroizing<Vec<u8>>,
        evp: Option<EvpRsa>,
    ) -> CryptoResult<RsaPrivate> {
        let public = RsaPublic::from_n_e(&comps.n, &comps.e)?;
        if pair.as_ref().is_some_and(|p| public.modulus_len() != p.public_modulus_len()) {
            return Err(CryptoError::InvalidKey);
        }
        let evp_cell = OnceLock::new();
        if let Some(k) = evp {
            let _ = evp_cell.set(k);
        }
        Ok(RsaPrivate(Arc::new(PrivInner { pair, comps, pkcs8, public, dec: OnceLock::new(), evp: evp_cell })))
    }

    /// Imports a key from its components, with the engine's consistency
    /// checks (`RSA_check_key`): n = p·q, d·e ≡ 1 mod p-1 and mod q-1 (so
    /// mod λ(n)), dP, dQ and qInv consistent; no primality test. All eight
    /// components are required: a key given as (n, e, d) alone is refused
    /// with `InvalidKey` (keyward does not factor n from d). The modulus
    /// must be 512..=8192 bits; keys under 2048 bits are checked and used
    /// through the EVP interface (`RSA_check_key` on parse), larger ones
    /// through aws-lc-rs.
    pub fn from_components(c: &RsaComponents) -> CryptoResult<RsaPrivate> {
        let n = der::strip_leading_zeros(&c.n);
        let e = der::strip_leading_zeros(&c.e);
        let parts = [&c.d, &c.p, &c.q, &c.dp, &c.dq, &c.qinv];
        if n.is_empty() || e.is_empty() || parts.iter().any(|v| der::strip_leading_zeros(v).is_empty()) {
            return Err(CryptoError::InvalidKey);
        }
        if !(MIN_BITS..=MAX_BITS).contains(&bit_len(n)) {
            return Err(CryptoError::InvalidKey);
        }
        fn s(v: &Zeroizing<Vec<u8>>) -> &[u8] {
            der::strip_leading_zeros(v)
        }
        let kc = KeyPairComponents {
            public_key: PublicKeyComponents { n, e },
            d: s(&c.d),
            p: s(&c.p),
            q: s(&c.q),
            dP: s(&c.dp),
            dQ: s(&c.dq),
            qInv: s(&c.qinv),
        };
        let small = bit_len(n) < LC_MIN_BITS;
        let pair = match small {
            true => None,
            false => Some(RsaKeyPair::from_components(&kc).map_err(|_| CryptoError::InvalidKey)?),
        };
        let comps = RsaComponents {
            n: n.to_vec(),
            e: e.to_vec(),
            d: Zeroizing::new(s(&c.d).to_vec()),
            p: Zeroizing::new(s(&c.p).to_vec()),
            q: Zeroizing::new(s(&c.q).to_vec()),
            dp: Zeroizing::new(s(&c.dp).to_vec()),
            dq: Zeroizing::new(s(&c.dq).to_vec()),
            qinv: Zeroizing::new(s(&c.qinv).to_vec()),
        };
        let pkcs8 = der::rsa_pkcs8(n, e, &comps.d, &comps.p, &comps.q, &comps.dp, &comps.dq, &comps.qinv)?;
        // Small keys: AWS-LC's parser runs RSA_check_key (the same checks
        // aws-lc-rs's from_components makes).
        let evp = match small {
            true => {
                let (payload, _) = der::pkcs8_payload(&pkcs8, der::OID_RSA_ENCRYPTION)?;
                Some(EvpRsa::private_from_pkcs1(payload).map_err(|_| CryptoError::InvalidKey)?)
            }
            false => None,
        };
        Self::assemble(pair, comps, pkcs8, evp)
    }

    /// Imports a PKCS#8 PrivateKeyInfo (rsaEncryption, two-prime), with the
    /// same checks as [`from_components`](Self::from_components).
    pub fn from_pkcs8_der(der: &[u8]) -> CryptoResult<RsaPrivate> {
        let (payload, _) = der::pkcs8_payload(der, der::OID_RSA_ENCRYPTION)?;
        Self::from_pkcs1_der(payload)
    }

    /// Imports a PKCS#1 RSAPrivateKey, with the same checks.
    pub fn from_pkcs1_der(der: &[u8]) -> CryptoResult<RsaPrivate> {
        let c = der::parse_rsa_private_key(der)?;
        Self::from_components(&RsaComponents {
            n: c.n,
            e: c.e,
            d: c.d,
            p: c.p,
            q: c.q,
            dp: c.dp,
            dq: c.dq,
            qinv: c.qinv,
        })
    }

    /// PKCS#8 v1 PrivateKeyInfo DER.
    pub fn to_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        self.0.pkcs8.clone()
    }

    pub fn components(&self) -> &RsaComponents {
        &self.0.comps
    }

    pub fn public(&self) -> &RsaPublic {
        &self.0.public
    }

    pub fn bits(&self) -> usize {
        self.0.public.bits()
    }

    pub fn modulus_len(&self) -> usize {
        self.0.public.modulus_len()
    }

    /// Whether this key can sign under `s` (`InvalidParam` if the engine
    /// cannot sign that scheme or the salt is too long for the key).
    pub fn check_sign(&self, s: &RsaSignScheme) -> CryptoResult<()> {
        if !s.salt_fits(self.bits()) {
            return Err(CryptoError::InvalidParam);
        }
        Ok(())
    }

    fn evp(&self) -> CryptoResult<&EvpRsa> {
        if let Some(k) = self.0.evp.get() {
            return Ok(k);
        }
        let (payload, _) = der::pkcs8_payload(&self.0.pkcs8, der::OID_RSA_ENCRYPTION)?;
        let k = EvpRsa::private_from_pkcs1(payload).map_err(|_| CryptoError::InvalidKey)?;
        Ok(self.0.evp.get_or_init(|| k))
    }

    /// Signs `digest` (the message hash under `s`) into
    /// `out[..modulus_len]`; returns the signature length.
    pub fn sign_digest(&self, s: &RsaSignScheme, digest: &[u8], out: &mut [u8]) -> CryptoResult<usize> {
        self.check_sign(s)?;
        let k = self.modulus_len();
        if out.len() < k {
            return Err(CryptoError::InvalidLength);
        }
        let (Some(enc), Some(pair)) = (s.sign, self.0.pair.as_ref()) else {
            if digest.len() != s.hash.output_len() {
                return Err(CryptoError::InvalidLength);
            }
            return self.evp()?.sign(s.evp_pad(), digest, &mut out[..k]).map_err(|_| CryptoError::Internal);
        };
        let d = s.digest(digest)?;
        pair.sign_digest(enc as &'static dyn RsaEncoding, &d, &mut out[..k]).map_err(|_| CryptoError::Internal)?;
        Ok(k)
    }

    /// Signs a DER DigestInfo as PKCS#1 v1.5 (raw CKM_RSA_PKCS signing):
    /// only the exact DigestInfo of a SHA-256/384/512 digest is accepted
    /// (`InvalidParam` otherwise, see [`parse_digest_info`]).
    pub fn sign_digest_info(&self, digest_info: &[u8], out: &mut [u8]) -> CryptoResult<usize> {
        let (hash, digest) = parse_digest_info(digest_info).ok_or(CryptoError::InvalidParam)?;
        self.sign_digest(&RsaSignScheme::pkcs1(hash), digest, out)
    }

    /// Raw PKCS#1 v1.5 signing (CKM_RSA_PKCS) of `data`, at most k - 11
    /// bytes (`InvalidLength` otherwise): a DigestInfo of SHA-256/384/512
    /// goes through aws-lc-rs, anything else (TLS 1.0's MD5+SHA-1, other
    /// hashes) through EVP with the same type-1 padding.
    pub fn sign_raw_pkcs1(&self, data: &[u8], out: &mut [u8]) -> CryptoResult<usize> {
        let k = self.modulus_len();
        if data.len() > pkcs1_max_message_len(k) || out.len() < k {
            return Err(CryptoError::InvalidLength);
        }
        if let Some((hash, digest)) = parse_digest_info(data)
            && matches!(hash, Algorithm::Sha256 | Algorithm::Sha384 | Algorithm::Sha512)
        {
            return self.sign_digest(&RsaSignScheme::pkcs1(hash), digest, out);
        }
        self.evp()?.sign(SigPad::Pkcs1Raw, data, &mut out[..k]).map_err(|_| CryptoError::Internal)
    }

    /// Raw RSA signing (CKM_RSA_X_509): `data` (at most k bytes, left-padded
    /// with zeros) raised to d. `InvalidParam` if its value is not below n.
    pub fn sign_raw(&self, data: &[u8], out: &mut [u8]) -> CryptoResult<usize> {
        let k = self.modulus_len();
        let block = raw_block(data, k, out.len())?;
        self.evp()?.sign(SigPad::None, &block, &mut out[..k]).map_err(|_| CryptoError::InvalidParam)
    }

    /// Raw RSA decryption (CKM_RSA_X_509): `ct` (exactly k bytes) raised to
    /// d, k bytes out. `InvalidLength` for a wrong length, `AuthFailed` if
    /// the value is not below n.
    pub fn decrypt_raw(&self, ct: &[u8], out: &mut [u8]) -> CryptoResult<usize> {
        let k = self.modulus_len();
        if ct.len() != k || out.len() < k {
            return Err(CryptoError::InvalidLength);
        }
        self.evp()?.decrypt(EncPad::None, &[], ct, &mut out[..k]).map_err(|_| CryptoError::AuthFailed)
    }

    fn oaep_key(&self) -> CryptoResult<&OaepPrivateDecryptingKey> {
        if let Some(k) = self.0.dec.get() {
            return Ok(k);
        }
        let pk = PrivateDecryptingKey::from_pkcs8(&self.0.pkcs8).map_err(|_| CryptoError::InvalidKey)?;
        let k = OaepPrivateDecryptingKey::new(pk).map_err(|_| CryptoError::InvalidKey)?;
        Ok(self.0.dec.get_or_init(|| k))
    }

    /// OAEP-decrypts `ct` (exactly modulus_len bytes, else `InvalidLength`)
    /// into `out`; `AuthFailed` for a ciphertext that does not decode,
    /// `InvalidLength` if `out` cannot hold the message.
    pub fn decrypt_oaep(&self, p: &Oaep, label: &[u8], ct: &[u8], out: &mut [u8]) -> CryptoResult<usize> {
        // Keys under 2048 bits have no aws-lc-rs form: EVP path.
        let Some(alg) = p.alg.filter(|_| self.0.pair.is_some()) else {
            if ct.len() != self.modulus_len() {
                return Err(CryptoError::InvalidLength);
            }
            let evp = self.evp()?;
            let mut scratch = Zeroizing::new([0u8; MAX_MODULUS_LEN]);
            let n = evp.decrypt(p.evp_pad(), label, ct, &mut scratch[..]).map_err(|_| CryptoError::AuthFailed)?;
            if out.len() < n {
                return Err(CryptoError::InvalidLength);
            }
            out[..n].copy_from_slice(&scratch[..n]);
            return Ok(n);
        };
        let label = (!label.is_empty()).then_some(label);
        let key = self.oaep_key()?;
        self.decrypt_with(ct, out, |buf| key.decrypt(alg, ct, buf, label).map(|m| m.len()))
    }

    fn decrypt_with(
        &self,
        ct: &[u8],
        out: &mut [u8],
        f: impl FnOnce(&mut [u8]) -> Result<usize, aws_lc_rs::error::Unspecified>,
    ) -> CryptoResult<usize> {
        let k = self.modulus_len();
        if ct.len() != k {
            return Err(CryptoError::InvalidLength);
        }
        // The engine wants a modulus-sized buffer; decrypt on the stack and
        // copy out, wiping the scratch.
        let mut scratch = Zeroizing::new([0u8; MAX_MODULUS_LEN]);
        let n = f(&mut scratch[..k]).map_err(|_| CryptoError::AuthFailed)?;
        if out.len() < n {
            return Err(CryptoError::InvalidLength);
        }
        out[..n].copy_from_slice(&scratch[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use std::sync::LazyLock;

    static KEY: LazyLock<RsaPrivate> = LazyLock::new(|| generate(2048).unwrap());

    const SHA2: [Algorithm; 3] = [Algorithm::Sha256, Algorithm::Sha384, Algorithm::Sha512];

    fn hash(alg: Algorithm, data: &[u8]) -> Vec<u8> {
        super::super::digest::digest(alg, data)
    }

    #[test]
    fn pkcs1_sign_verify() {
        let k = &*KEY;
        let mut sig = vec![0u8; k.modulus_len()];
        for h in SHA2 {
            let s = RsaSignScheme::pkcs1(h);
            let d = hash(h, b"hello");
            k.check_sign(&s).unwrap();
            assert_eq!(k.sign_digest(&s, &d, &mut sig).unwrap(), 256);
            k.public().verify_digest(&s, &d, &sig).unwrap();
            // Deterministic: the engine's one-shot sign agrees.
            let enc: &'static dyn RsaEncoding = match h {
                Algorithm::Sha256 => &signature::RSA_PKCS1_SHA256,
                Algorithm::Sha384 => &signature::RSA_PKCS1_SHA384,
                _ => &signature::RSA_PKCS1_SHA512,
            };
            let mut sig2 = vec![0u8; 256];
            k.0.pair.as_ref().unwrap().sign(enc, &aws_lc_rs::rand::SystemRandom::new(), b"hello", &mut sig2).unwrap();
            assert_eq!(sig, sig2);
            // Raw DigestInfo signing gives the same signature.
            let mut sig3 = vec![0u8; 256];
            k.sign_digest_info(&digest_info(h, &d), &mut sig3).unwrap();
            assert_eq!(sig, sig3);
            let mut bad = sig.clone();
            bad[10] ^= 1;
            assert_eq!(k.public().verify_digest(&s, &d, &bad), Err(CryptoError::AuthFailed));
            assert_eq!(k.public().verify_digest(&s, &d, &sig[1..]), Err(CryptoError::InvalidLength));
            assert_eq!(k.sign_digest(&s, &d[1..], &mut sig), Err(CryptoError::InvalidLength));
        }
        // SHA-1 and SHA-224 (EVP path): round trips, and a wrong digest fails.
        for h in [Algorithm::Sha1, Algorithm::Sha224] {
            let s = RsaSignScheme::pkcs1(h);
            let d = vec![0x33u8; h.output_len()];
            let mut sig = vec![0u8; 256];
            assert_eq!(k.sign_digest(&s, &d, &mut sig).unwrap(), 256);
            k.public().verify_digest(&s, &d, &sig).unwrap();
            let mut d2 = d.clone();
            d2[0] ^= 1;
            assert_eq!(k.public().verify_digest(&s, &d2, &sig), Err(CryptoError::AuthFailed));
            // Deterministic padding: the raw PKCS#1 signature of the same
            // DigestInfo is the same signature.
            let mut raw = vec![0u8; 256];
            k.sign_raw_pkcs1(&digest_info(h, &d), &mut raw).unwrap();
            assert_eq!(raw, sig);
        }
        // The EVP path agrees with aws-lc-rs where both exist.
        let d = [0x44u8; 32];
        let mut fast = vec![0u8; 256];
        k.sign_digest(&RsaSignScheme::pkcs1(Algorithm::Sha256), &d, &mut fast).unwrap();
        let mut evp = vec![0u8; 256];
        k.evp().unwrap().sign(SigPad::Pkcs1(Md::Sha256), &d, &mut evp).unwrap();
        assert_eq!(fast, evp);
        // Raw PKCS#1 of arbitrary data (TLS 1.0 MD5+SHA-1 is 36 bytes).
        let data = [1u8; 36];
        k.sign_raw_pkcs1(&data, &mut sig).unwrap();
        k.public().verify_raw_pkcs1(&data, &sig).unwrap();
        assert_eq!(k.public().verify_raw_pkcs1(&[2u8; 36], &sig), Err(CryptoError::AuthFailed));
        assert_eq!(k.sign_raw_pkcs1(&[1u8; 246], &mut sig), Err(CryptoError::InvalidLength));
        k.sign_raw_pkcs1(&[1u8; 245], &mut sig).unwrap();
        // Raw RSA: sign = decrypt, verify = encrypt; values >= n refused.
        let m = [0x42u8; 100];
        k.sign_raw(&m, &mut sig).unwrap();
        k.public().verify_raw(&m, &sig).unwrap();
        let mut ct = vec![0u8; 256];
        k.public().encrypt_raw(&m, &mut ct).unwrap();
        let mut pt = vec![0u8; 256];
        assert_eq!(k.decrypt_raw(&ct, &mut pt).unwrap(), 256);
        assert!(pt[..156].iter().all(|b| *b == 0) && pt[156..] == m[..]);
        assert_eq!(k.sign_raw(&[0xffu8; 256], &mut sig), Err(CryptoError::InvalidParam));
        assert_eq!(k.public().encrypt_raw(&[0xffu8; 256], &mut ct), Err(CryptoError::InvalidParam));
    }

    #[test]
    fn pss_sign_verify_salts() {
        let k = &*KEY;
        let mut sig = vec![0u8; 256];
        for h in SHA2 {
            let d = hash(h, b"pss");
            let max = 256 - h.output_len() - 2;
            for salt in [0, 20, h.output_len(), max] {
                let s = RsaSignScheme::pss(h, h, salt).unwrap();
                k.check_sign(&s).unwrap();
                k.sign_digest(&s, &d, &mut sig).unwrap();
                k.public().verify_digest(&s, &d, &sig).unwrap();
                // A different salt length does not verify.
                let other = RsaSignScheme::pss(h, h, if salt == 0 { 1 } else { salt - 1 }).unwrap();
                assert_eq!(k.public().verify_digest(&other, &d, &sig), Err(CryptoError::AuthFailed));
                // Randomized: two signatures differ when salted.
                if salt > 0 {
                    let mut sig2 = vec![0u8; 256];
                    k.sign_digest(&s, &d, &mut sig2).unwrap();
                    assert_ne!(sig, sig2);
                }
            }
            let s = RsaSignScheme::pss(h, h, max + 1).unwrap();
            assert_eq!(k.check_sign(&s), Err(CryptoError::InvalidParam));
            assert_eq!(k.public().check_verify(&s), Err(CryptoError::InvalidParam));
        }
        for (h, m) in [
            (Algorithm::Sha256, Algorithm::Sha1),
            (Algorithm::Sha1, Algorithm::Sha1),
            (Algorithm::Sha224, Algorithm::Sha224),
            (Algorithm::Sha512, Algorithm::Sha256),
        ] {
            // The EVP path: round trip; the MGF1 hash matters.
            let s = RsaSignScheme::pss(h, m, 20).unwrap();
            let d = vec![0x21u8; h.output_len()];
            k.sign_digest(&s, &d, &mut sig).unwrap();
            k.public().verify_digest(&s, &d, &sig).unwrap();
            let m2 = if m == Algorithm::Sha1 { Algorithm::Sha256 } else { Algorithm::Sha1 };
            let other = RsaSignScheme::pss(h, m2, 20).unwrap();
            assert_eq!(k.public().verify_digest(&other, &d, &sig), Err(CryptoError::AuthFailed));
        }
        assert_eq!(
            RsaSignScheme::pss(Algorithm::Sha256, Algorithm::Sha256, 100_000).err(),
            Some(CryptoError::InvalidParam)
        );
    }

    #[test]
    fn oaep_and_pkcs1_encryption() {
        let k = &*KEY;
        let mut ct = vec![0u8; 256];
        let mut pt = vec![0u8; 256];
        for h in [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha384, Algorithm::Sha512] {
            let p = Oaep::new(h, h).unwrap();
            let max = p.max_message_len(256);
            assert_eq!(max, 256 - 2 * h.output_len() - 2);
            for label in [&b""[..], b"label"] {
                let msg = vec![0x5au8; max];
                assert_eq!(k.public().encrypt_oaep(&p, label, &msg, &mut ct).unwrap(), 256);
                let n = k.decrypt_oaep(&p, label, &ct, &mut pt).unwrap();
                assert_eq!(&pt[..n], &msg[..]);
                // Wrong label or tampered ciphertext.
                assert_eq!(k.decrypt_oaep(&p, b"other", &ct, &mut pt), Err(CryptoError::AuthFailed));
                let mut bad = ct.clone();
                bad[7] ^= 1;
                assert_eq!(k.decrypt_oaep(&p, label, &bad, &mut pt), Err(CryptoError::AuthFailed));
            }
            assert_eq!(k.public().encrypt_oaep(&p, b"", &vec![0u8; max + 1], &mut ct), Err(CryptoError::InvalidLength));
        }
        // SHA-224 and mixed MGF1 hashes (EVP path).
        for (h, m) in [
            (Algorithm::Sha224, Algorithm::Sha224),
            (Algorithm::Sha256, Algorithm::Sha1),
            (Algorithm::Sha1, Algorithm::Sha512),
        ] {
            let p = Oaep::new(h, m).unwrap();
            let msg = vec![0x17u8; p.max_message_len(256)];
            assert_eq!(k.public().encrypt_oaep(&p, b"lbl", &msg, &mut ct).unwrap(), 256);
            let n = k.decrypt_oaep(&p, b"lbl", &ct, &mut pt).unwrap();
            assert_eq!(&pt[..n], &msg[..]);
            assert_eq!(k.decrypt_oaep(&p, b"", &ct, &mut pt), Err(CryptoError::AuthFailed));
            let other = Oaep::new(h, if m == Algorithm::Sha1 { Algorithm::Sha256 } else { Algorithm::Sha1 }).unwrap();
            assert_eq!(k.decrypt_oaep(&other, b"lbl", &ct, &mut pt), Err(CryptoError::AuthFailed));
        }

        let msg = [7u8; 245];
        k.public().encrypt_pkcs1(&msg, &mut ct).unwrap();
        let n = k.decrypt_pkcs1(&ct, &mut pt).unwrap();
        assert_eq!(&pt[..n], &msg[..]);
        k.public().encrypt_pkcs1(b"", &mut ct).unwrap();
        assert_eq!(k.decrypt_pkcs1(&ct, &mut pt).unwrap(), 0);
        assert_eq!(k.public().encrypt_pkcs1(&[0u8; 246], &mut ct), Err(CryptoError::InvalidLength));
        assert_eq!(k.decrypt_pkcs1(&ct[1..], &mut pt), Err(CryptoError::InvalidLength));
        // Tampered: implicit rejection, a deterministic synthetic message
        // rather than an error (known answers in `implicit`).
        ct[100] ^= 1;
        let n = k.decrypt_pkcs1(&ct, &mut pt).unwrap();
        let first = pt[..n].to_vec();
        assert_eq!(k.decrypt_pkcs1(&ct, &mut pt).unwrap(), n);
        assert_eq!(pt[..n], first[..]);
        // Output too small for the message.
        k.public().encrypt_pkcs1(&[1u8; 10], &mut ct).unwrap();
        assert_eq!(k.decrypt_pkcs1(&ct, &mut pt[..9]), Err(CryptoError::InvalidLength));
    }

    #[test]
    fn import_validation() {
        let k = &*KEY;
        let c = k.components().clone();
        assert_eq!(c.e, vec![1, 0, 1]);
        assert_eq!(k.bits(), 2048);
        let k2 = RsaPrivate::from_components(&c).unwrap();
        assert_eq!(k2.public().n(), k.public().n());
        // Leading zeros are fine.
        let mut cz = c.clone();
        cz.n.insert(0, 0);
        cz.d.insert(0, 0);
        RsaPrivate::from_components(&cz).unwrap();

        // A wrong d (off by two, still odd) is refused.
        let mut bad = c.clone();
        let last = bad.d.len() - 1;
        bad.d[last] ^= 2;
        assert_eq!(RsaPrivate::from_components(&bad).err(), Some(CryptoError::InvalidKey));
        // Wrong CRT values, swapped q, wrong n.
        for f in [
            |c: &mut RsaComponents| c.dp[0] ^= 1,
            |c: &mut RsaComponents| c.dq[0] ^= 1,
            |c: &mut RsaComponents| c.qinv[0] ^= 1,
            |c: &mut RsaComponents| c.q[5] ^= 1,
            |c: &mut RsaComponents| c.n[5] ^= 1,
            |c: &mut RsaComponents| c.e = vec![3],
        ] {
            let mut b = c.clone();
            f(&mut b);
            assert_eq!(RsaPrivate::from_components(&b).err(), Some(CryptoError::InvalidKey));
        }
        // n, e, d without primes: refused.
        let mut nodp = c.clone();
        for v in [&mut nodp.p, &mut nodp.q, &mut nodp.dp, &mut nodp.dq, &mut nodp.qinv] {
            v.clear();
        }
        assert_eq!(RsaPrivate::from_components(&nodp).err(), Some(CryptoError::InvalidKey));

        // PKCS#8 round trip; PKCS#8 with a wrong d refused.
        let der = k.to_pkcs8_der();
        let k3 = RsaPrivate::from_pkcs8_der(&der).unwrap();
        assert_eq!(k3.components().d, c.d);
        let bad8 = super::der::rsa_pkcs8(&bad.n, &bad.e, &bad.d, &bad.p, &bad.q, &bad.dp, &bad.dq, &bad.qinv).unwrap();
        assert_eq!(RsaPrivate::from_pkcs8_der(&bad8).err(), Some(CryptoError::InvalidKey));
        // aws-lc-rs's own loader also rejects it (RSA_check_key on parse).
        assert!(RsaKeyPair::from_pkcs8(&bad8).is_err());
        assert_eq!(RsaPrivate::from_pkcs8_der(b"junk").err(), Some(CryptoError::InvalidKey));

        // Sizes: multiples of 128 from 512 to 8192; odd exponents >= 3.
        assert_eq!(generate(1000).err(), Some(CryptoError::InvalidParam));
        assert_eq!(generate(2047).err(), Some(CryptoError::InvalidParam));
        assert_eq!(generate(384).err(), Some(CryptoError::InvalidParam));
        assert_eq!(generate(8320).err(), Some(CryptoError::InvalidParam));
        for e in [0, 1, 2, 65536] {
            assert_eq!(generate_with_exponent(1024, e).err(), Some(CryptoError::InvalidParam));
        }
    }

    #[test]
    fn public_keys() {
        let k = &*KEY;
        let p = RsaPublic::from_n_e(k.public().n(), &[1, 0, 1]).unwrap();
        assert_eq!(p.bits(), 2048);
        let spki = p.to_spki_der().unwrap();
        assert_eq!(RsaPublic::from_spki_der(&spki).unwrap().n(), p.n());
        // The engine's SPKI encoding matches ours.
        let lc = aws_lc_rs::signature::KeyPair::public_key(k.0.pair.as_ref().unwrap()).as_der().unwrap();
        assert_eq!(lc.as_ref(), &spki[..]);
        // Even modulus, even/one exponent, tiny modulus: refused.
        let mut even = p.n().to_vec();
        *even.last_mut().unwrap() &= 0xfe;
        assert!(RsaPublic::from_n_e(&even, &[1, 0, 1]).is_err());
        assert!(RsaPublic::from_n_e(p.n(), &[1, 0, 0]).is_err());
        assert!(RsaPublic::from_n_e(p.n(), &[1]).is_err());
        let mut tiny = p.n()[..63].to_vec();
        tiny[62] |= 1;
        assert!(RsaPublic::from_n_e(&tiny, &[1, 0, 1]).is_err());
    }

    /// Keys under 2048 bits and exponents other than 65537 run on the EVP
    /// path: every scheme round-trips, and a 512-bit public key verifies.
    #[test]
    fn small_keys_and_other_exponents() {
        for (bits, e) in [(1024, 3u32), (1536, 0x0100_0001), (512, 65537)] {
            let k = generate_with_exponent(bits, e).unwrap();
            assert_eq!(k.bits(), bits);
            assert_eq!(k.public().e(), &e.to_be_bytes()[(e.leading_zeros() / 8) as usize..]);
            let klen = bits / 8;
            let mut sig = vec![0u8; klen];
            for h in [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha384, Algorithm::Sha512] {
                let d = hash(h, b"small");
                let s = RsaSignScheme::pkcs1(h);
                if bits == 512 && matches!(h, Algorithm::Sha384 | Algorithm::Sha512) {
                    // 19 + 48/64 bytes of DigestInfo do not fit a 64-byte block.
                    assert!(k.sign_digest(&s, &d, &mut sig).is_err());
                    continue;
                }
                k.sign_digest(&s, &d, &mut sig).unwrap();
                k.public().verify_digest(&s, &d, &sig).unwrap();
                let mut bad = sig.clone();
                bad[3] ^= 1;
                assert_eq!(k.public().verify_digest(&s, &d, &bad), Err(CryptoError::AuthFailed));
                // The public half alone (as imported from a certificate).
                let p = RsaPublic::from_n_e(k.public().n(), k.public().e()).unwrap();
                p.verify_digest(&s, &d, &sig).unwrap();
            }
            let s = RsaSignScheme::pss(Algorithm::Sha256, Algorithm::Sha256, 20).unwrap();
            let d = hash(Algorithm::Sha256, b"pss");
            k.sign_digest(&s, &d, &mut sig).unwrap();
            k.public().verify_digest(&s, &d, &sig).unwrap();
            let mut ct = vec![0u8; klen];
            let mut pt = vec![0u8; klen];
            let o = Oaep::new(Algorithm::Sha1, Algorithm::Sha1).unwrap();
            k.public().encrypt_oaep(&o, b"l", b"msg", &mut ct).unwrap();
            let n = k.decrypt_oaep(&o, b"l", &ct, &mut pt).unwrap();
            assert_eq!(&pt[..n], b"msg");
            assert_eq!(k.decrypt_oaep(&o, b"x", &ct, &mut pt), Err(CryptoError::AuthFailed));
            k.public().encrypt_pkcs1(b"v15", &mut ct).unwrap();
            let n = k.decrypt_pkcs1(&ct, &mut pt).unwrap();
            assert_eq!(&pt[..n], b"v15");
            ct[5] ^= 1;
            // Implicit rejection: a synthetic message, the same every time.
            let n = k.decrypt_pkcs1(&ct, &mut pt).unwrap();
            let synthetic = pt[..n].to_vec();
            assert_ne!(synthetic, b"v15");
            assert_eq!(k.decrypt_pkcs1(&ct, &mut pt).map(|n| pt[..n].to_vec()), Ok(synthetic));
            // Import of the components: consistent, and a broken d refused.
            let c = k.components().clone();
            RsaPrivate::from_components(&c).unwrap();
            let mut bad = c.clone();
            let last = bad.d.len() - 1;
            bad.d[last] ^= 2;
            assert_eq!(RsaPrivate::from_components(&bad).err(), Some(CryptoError::InvalidKey));
        }
        // Under 512 bits: refused.
        let tiny = [0xc5u8; 32];
        assert_eq!(RsaPublic::from_n_e(&tiny, &[3]).err(), Some(CryptoError::InvalidKey));
    }

    #[test]
    fn larger_keys() {
        let k = generate(3072).unwrap();
        assert_eq!(k.bits(), 3072);
        let s = RsaSignScheme::pss(Algorithm::Sha384, Algorithm::Sha384, 48).unwrap();
        let d = hash(Algorithm::Sha384, b"m");
        let mut sig = vec![0u8; 384];
        k.sign_digest(&s, &d, &mut sig).unwrap();
        k.public().verify_digest(&s, &d, &sig).unwrap();
        // Another key's public half refuses.
        assert_eq!(KEY.public().verify_digest(&s, &d, &sig[..256]), Err(CryptoError::AuthFailed));
    }

    /// Interoperability with a second implementation: a key, signatures and
    /// a ciphertext made by OpenSSL 3 (`openssl genrsa 2048`, `dgst -sha1
    /// -sign`, `dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt
    /// rsa_pss_saltlen:20`, `pkeyutl -encrypt` OAEP-SHA256 label "L").
    #[test]
    fn openssl_known_answers() {
        let h = |s: &str| hex::decode(s).unwrap();
        let key = RsaPrivate::from_pkcs8_der(&h(concat!(
            "308204bc020100300d06092a864886f70d0101010500048204a6308204a20201000282010100d515daa8c78d269d8cc3",
            "3f75fd3836eb3d6ad964336327be507353856f23a324acc15228b623d2ff66f3537f11d9a21febdc57ad0931655b9860",
            "4a8dc5edbe6b3376b4e6ad01292d272afcb3f398d9402982dc8171743c205448d66e038a8e0fbe4c3f34a7d5643d1c48",
            "ef8b75b8c441a72328097f21a4047c9ff159814998e90a77a4d52cd8485fff1fd1e66e0255497af94c4163e735ce083d",
            "938085bf84d7c8a4ea70fae58f08b2a783f240e1ef5fc15cc00905150843bf1aa23f8fdce8fb8fe5c80ad8b209502159",
            "d2c5311287fdcb8aa58df3288ff240e2df2aedb9bba06077b3474a23cdaaa0a86af591ea6d62795a48e39be830a85353",
            "6b5c9b1f274502030100010282010004a56e5821c9c51ec853f58d481132b95c64790b0347d53504220f9f283639b772",
            "00e11ebc21f9d6d1d2da6e39e069f5923a02bb6628ea91ddb7b3c87599627e89e7bbb80feba78f317c717827069d2e15",
            "f9a17f3d0f10c48fb1eae30936bb3442acfcefd3fd062b82f3602dc54a5b152764cfd9ad28f99f936c1562233c8c95f6",
            "0ef36456854a624c29dee2692ffb8a4d2f5d450f1b775c78ec03f8c4e12f5ae623dcdb7521b83a5ab6d27d9a70c39999",
            "b4f9675fc2e1bd7a4b95a6abef7bacc897122e75df469d2c3a8eaab0303f6d853037e142f1855ae57911f62e9550d767",
            "60dcfb0170e910dc15c7b8769c149140c14ecca970a94fcd225fe29aa1c03d02818100f521465d260975cd077e79ea17",
            "e365406af8d2fdab90f4444df4a0b6946c1efe64f0f9662513802cc3771a10d755c8ce0cb5653705468b48a44b105c46",
            "fca843835d6f9c030d65f20f914c19714d75f2a41f82ca1ff40547344e434a8391aa1b32546c7f4708c8d340a4324d93",
            "34d5df395813ade4808fdcf018555be77542cb02818100de88cebde8c722e7c8d7cba9ea90071828f68a0747bd2e615e",
            "79841d7392c60921ffb88dcb0a3edb6842a65b10a007551968fdf5cc8661afad853bda0b0af59be0216094165cb6a288",
            "117512114af6236850f7dcefe859dd99653c869095736262f027cfff89a3f6e0b540ac97f60d82a7a243e7beb11f5e35",
            "28a161e2b72c2f02818016248b569eb8fc0b2942238121e7489e290b9103991bdef4cc95ec6e91b9b293084b3c3c1ddd",
            "4516c6115c29694a3679666c7c581c01e3530c843b561a93781fa11e2f96c82fcda5b0024ffd7c5ea2e8e82a7086119c",
            "d95d353c5c97be8ac9f2eaf8f55409f6a12d74096101e0ea44e785268fa085a3975b3dd4f4e0f8677f410281800465b1",
            "a8210466552c2bcf7371161d7dc5b9716ac9691c9481f866baea40b9370efbed9aa7ab712886bbe26ba43d7547a233e7",
            "e8c67cd54b5263729651678b08e479e45da8bf764069ede66150042a2ef2edbea817f980651795df874d2e16d497dde4",
            "fb8032291244c87019b8fafcb35b3aa29adeb2c34aea43fe445fe57cb302818021a2880b406fbb4f85e4e2ad9288285e",
            "5a438f4d9dbcc878cdc3a67fe429b77f77614bb146cbcfcdc1891cfe7db252927e3af6208ba6a2b835e349e79462c6bf",
            "9ce8f51a9f4d90b57834390f0b7981c1c4a5d8a38f9edddf1a1261bb4f8a7d927ba632168a05bf962f9310c8dbe1b285",
            "033a9ff87e8b8f21238575d397b3a7d9",
        )))
        .unwrap();
        let p = key.public();
        let msg = b"abc";
        // SHA-1 PKCS#1 v1.5 (verify-only here).
        let sha1 = h(concat!(
            "7360ed31cd023168b2ed4ae9303752ab6c61e2bbfad614397de3b0a028a3b762ad9474c616134e1061ed84e2daa47d5d",
            "1d484b90c7bc32e9677526c2966c0ac6e6489b366f52ff6a8725d18eb319546776bf49726eb91849cdf837c1b46afcc6",
            "a0e30a8630738aa331aed58550f5d103ae2dee929ebdea5252efd6fbf5aea791cca0e7feff98b4f13c8baa48d36be5a5",
            "036f50aa3dbf85c30d6b7d7c7599bc4a74c61933bf3ca47095f0bbcfc4c6d77a86f273f4d00bed69b201d4d9b8b91534",
            "32ba56e6af635e72d12bd199ebb883ad9e08f9e16ae89e4f0844879f70780f614434d909de7b2d66f87f293f77d57f72",
            "fefe2cdbb3724582309455c8822059fc",
        ));
        let s = RsaSignScheme::pkcs1(Algorithm::Sha1);
        p.verify_digest(&s, &hash(Algorithm::Sha1, msg), &sha1).unwrap();
        assert_eq!(p.verify_digest(&s, &hash(Algorithm::Sha1, b"abd"), &sha1), Err(CryptoError::AuthFailed));
        // PSS SHA-256, salt 20.
        let pss = h(concat!(
            "8b793d12aa9ce157a413c8cb2353b1eb77686d2a7f703e9b1bd77b3ed166c5b44f1d5e80f7af975dabe3e8e594dd2bf3",
            "2fdffa130cc441b3277cff638d8e7fa740632ed06b35fa0d55a21cc3ed8f58c807af6fd86acb0f1b3783b11726ec5616",
            "a6915c4096599026a4d67f6ba187f719b409380d9fe26177f49cd86c7759ace7defc0264e432d2d26879bcda2ddf7dce",
            "e4178dcbb6960a6331c6d34e98bcfc375e040d4b7b6d9e3405896dea1ae48c7da28c3b1dbee724675047b829a96d64dc",
            "318868fd6132cba5c4b7bb991a5e63166524b9ce0458eed14b78141187d2a17ae11bfe85bd18a52855a9441bd8ccfd6c",
            "3a259c546e8604a99404c3fab161d4cc",
        ));
        let s = RsaSignScheme::pss(Algorithm::Sha256, Algorithm::Sha256, 20).unwrap();
        p.verify_digest(&s, &hash(Algorithm::Sha256, msg), &pss).unwrap();
        let s32 = RsaSignScheme::pss(Algorithm::Sha256, Algorithm::Sha256, 32).unwrap();
        assert_eq!(p.verify_digest(&s32, &hash(Algorithm::Sha256, msg), &pss), Err(CryptoError::AuthFailed));
        // OAEP SHA-256 with label "L".
        let ct = h(concat!(
            "baef22c923e6fa31b8f882cc9452fefac34ef1942256ca1a1811ee72f1eb85056caaa8d8eee268def773f7dc96281d66",
            "cf31df52048daa3063dcaadc6139c46a61152c5307b091c98b4a6007d69bf0cebe8379b3dab179dd52e3e96581227099",
            "de500e3a0beb936f2bcaac65c14114046ab7e767fd9681f3bcb6552e7580da1e0c242ab294dc95e43ea819ab90643a5b",
            "e8ed9e59d61b73978ff8d452240472869be83977f689a704f9534b07c4394381515ea4c4d56a56ea94b4b0428d2a37f9",
            "f6e4f29b38551dd14909ea660ae0f8a74e6c4e5f30433388b1520d1d4737aaedb5105272193ecdf8433998041a8352f9",
            "fd766de6560b12b4bd9415c80cbe232a",
        ));
        let o = Oaep::new(Algorithm::Sha256, Algorithm::Sha256).unwrap();
        let mut pt = [0u8; 256];
        let n = key.decrypt_oaep(&o, b"L", &ct, &mut pt).unwrap();
        assert_eq!(&pt[..n], b"secret");
        assert_eq!(key.decrypt_oaep(&o, b"", &ct, &mut pt), Err(CryptoError::AuthFailed));
    }
}
