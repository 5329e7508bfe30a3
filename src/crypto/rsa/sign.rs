//! The RSA signature schemes: [`RsaSignScheme`] (PKCS#1 v1.5 or PSS, a
//! hash, an MGF1 hash and a salt length, resolved once into the engine's
//! descriptions of it) and the DER DigestInfo encoding of raw CKM_RSA_PKCS
//! signing. The keys that use them are in `public` and `private`.
//!
//! Arbitrary PSS salt lengths: aws-lc-rs takes the padding description as a
//! `&'static`, so a salt length other than the hash length is interned once
//! per (hash, salt) pair for the life of the process (bounded: at most three
//! hashes times ~1000 salts, a few hundred KiB in the worst case).

use super::{MAX_MODULUS_LEN, lc_hash, md};
use crate::crypto::ffi::SigPad;
use crate::crypto::{CryptoError, CryptoResult, digest::Algorithm};
use aws_lc_rs::digest::Digest;
use aws_lc_rs::rsa::{RsaParameters, RsaPssSaltLength};
use aws_lc_rs::signature::{self, RsaSignatureEncoding};
use std::sync::Mutex;

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
    pub(super) hash: Algorithm,
    /// The MGF1 hash (PSS).
    mgf1: Algorithm,
    padding: Padding,
    pub(super) sign: Option<&'static RsaSignatureEncoding>,
    /// For keys of 2048 bits and more.
    pub(super) verify: Option<&'static RsaParameters>,
    /// For keys of 1024..2048 bits (legacy PKCS#1 v1.5 only).
    pub(super) verify_legacy: Option<&'static RsaParameters>,
    /// Index of the cached parsed public key in `RsaPublic`, for the
    /// standard schemes.
    pub(super) slot: Option<usize>,
}

impl std::fmt::Debug for RsaSignScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaSignScheme({:?}, {:?})", self.hash, self.padding)
    }
}

pub(super) const VERIFY_SLOTS: usize = 7;

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
            // SHA-224, SHA-3 and MD5 run on the EVP path.
            Algorithm::Sha224
            | Algorithm::Sha3_224
            | Algorithm::Sha3_256
            | Algorithm::Sha3_384
            | Algorithm::Sha3_512
            | Algorithm::Md5 => (None, None, None, None),
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
    pub(super) fn evp_pad(&self) -> SigPad {
        match self.padding {
            Padding::Pkcs1 => SigPad::Pkcs1(md(self.hash)),
            Padding::Pss { salt_len } => SigPad::Pss { md: md(self.hash), mgf1: md(self.mgf1), salt: salt_len },
        }
    }

    /// Whether `bits`-bit keys can use this scheme's salt length.
    pub(super) fn salt_fits(&self, bits: usize) -> bool {
        match self.padding {
            Padding::Pkcs1 => true,
            Padding::Pss { salt_len } => {
                // emLen = ceil((modBits - 1) / 8); salt <= emLen - hLen - 2.
                let em_len = bits.saturating_sub(1).div_ceil(8);
                salt_len + self.hash.output_len() + 2 <= em_len
            }
        }
    }

    pub(super) fn digest(&self, digest: &[u8]) -> CryptoResult<Digest> {
        let alg = lc_hash(self.hash).ok_or(CryptoError::InvalidParam)?;
        Digest::import_less_safe(digest, alg).map_err(|_| CryptoError::InvalidLength)
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
