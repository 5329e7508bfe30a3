//! The RSA mechanisms: CKM_RSA_PKCS (sign/verify, encrypt/decrypt,
//! wrap/unwrap), CKM_RSA_X_509, CKM_RSA_PKCS_PSS, CKM_SHA{1,224,256,384,512}
//! _RSA_PKCS[_PSS], CKM_SHA3_{224,256,384,512}_RSA_PKCS[_PSS],
//! CKM_MD5_RSA_PKCS (legacy, policy-gated) and CKM_RSA_PKCS_OAEP, over
//! `crypto::rsa`. PSS and OAEP hashAlg/MGF1 include the SHA-3 digests.
//!
//! - CKM_RSA_PKCS signing takes any input up to k - 11 bytes (a DigestInfo,
//!   or e.g. TLS 1.0's MD5+SHA-1) and pads it with PKCS#1 v1.5 type 1;
//!   verification recovers and compares it.
//! - CKM_RSA_X_509 (raw RSA): input up to k bytes, left-padded with zeros,
//!   whose value must be below the modulus (`CKR_DATA_INVALID` /
//!   `CKR_ENCRYPTED_DATA_INVALID` otherwise). Offered for sign/verify and
//!   encrypt/decrypt (as SoftHSMv2 and real HSMs do: no padding is the
//!   caller's choice and responsibility); not for wrapping.
//! - PSS: hashAlg SHA-1/224/256/384/512, any CKG_MGF1_*, any sLen up to
//!   emLen - hLen - 2.
//! - OAEP: hashAlg SHA-1/224/256/384/512 with any CKG_MGF1_*; source 0 (no
//!   label) or CKZ_DATA_SPECIFIED (pSourceData = label).
//! - CKM_RSA_PKCS decryption does implicit rejection (`crypto::rsa`): a
//!   ciphertext with a bad padding decrypts to a deterministic synthetic
//!   message with CKR_OK, so C_Decrypt is no padding oracle. Only a
//!   ciphertext of the wrong length or not below n (public facts) fails.
//! - Key wrapping and unwrapping live in `wrap` (re-exported here).
//!
//! Hash-and-sign mechanisms hash incrementally; CKM_RSA_PKCS, CKM_RSA_X_509
//! and CKM_RSA_PKCS_PSS signing and all encryption are single-part (input is
//! buffered up to its maximum size, then processed at the final call).

mod wrap;
pub use wrap::{unwrap, wrap};

use super::{Buffered, Cipher, Signer, WholeMessage};
use crate::ck::*;
use crate::crypto::digest::{Algorithm, Hasher};
use crate::crypto::rsa::{self, Oaep, RsaPrivate, RsaPublic, RsaSignScheme};
use crate::crypto::{CryptoError, digest};
use crate::err;
use crate::error::{Error, Result};
use crate::types::{MechParam, Mechanism};

const SIGN_VERIFY: CK_FLAGS = CKF_SIGN | CKF_VERIFY;
const ALL: CK_FLAGS = CKF_ENCRYPT | CKF_DECRYPT | CKF_SIGN | CKF_VERIFY | CKF_WRAP | CKF_UNWRAP;

/// The RSA operation mechanisms: (type, min key bits, max key bits, flags).
/// The sizes are the engine's; a token advertises and enforces its key
/// policy's (`object::policy`: by default 512 bits for verification and
/// 1024 for everything else).
pub const MECHANISMS: &[(CK_MECHANISM_TYPE, CK_ULONG, CK_ULONG, CK_FLAGS)] = &[
    (CKM_RSA_PKCS, 512, 8192, ALL),
    (CKM_RSA_X_509, 512, 8192, CKF_ENCRYPT | CKF_DECRYPT | CKF_SIGN | CKF_VERIFY),
    (CKM_RSA_PKCS_OAEP, 512, 8192, CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP),
    (CKM_RSA_PKCS_PSS, 512, 8192, SIGN_VERIFY),
    (CKM_SHA1_RSA_PKCS, 512, 8192, SIGN_VERIFY),
    (CKM_SHA224_RSA_PKCS, 512, 8192, SIGN_VERIFY),
    (CKM_SHA256_RSA_PKCS, 512, 8192, SIGN_VERIFY),
    (CKM_SHA384_RSA_PKCS, 512, 8192, SIGN_VERIFY),
    (CKM_SHA512_RSA_PKCS, 512, 8192, SIGN_VERIFY),
    (CKM_SHA1_RSA_PKCS_PSS, 512, 8192, SIGN_VERIFY),
    (CKM_SHA224_RSA_PKCS_PSS, 512, 8192, SIGN_VERIFY),
    (CKM_SHA256_RSA_PKCS_PSS, 512, 8192, SIGN_VERIFY),
    (CKM_SHA384_RSA_PKCS_PSS, 512, 8192, SIGN_VERIFY),
    (CKM_SHA512_RSA_PKCS_PSS, 512, 8192, SIGN_VERIFY),
    // SHA-3 hash-and-sign (EVP path), and MD5 (legacy: `object::policy`
    // decides whether it may sign or verify).
    (CKM_SHA3_224_RSA_PKCS, 512, 8192, SIGN_VERIFY),
    (CKM_SHA3_256_RSA_PKCS, 512, 8192, SIGN_VERIFY),
    (CKM_SHA3_384_RSA_PKCS, 512, 8192, SIGN_VERIFY),
    (CKM_SHA3_512_RSA_PKCS, 512, 8192, SIGN_VERIFY),
    (CKM_SHA3_224_RSA_PKCS_PSS, 512, 8192, SIGN_VERIFY),
    (CKM_SHA3_256_RSA_PKCS_PSS, 512, 8192, SIGN_VERIFY),
    (CKM_SHA3_384_RSA_PKCS_PSS, 512, 8192, SIGN_VERIFY),
    (CKM_SHA3_512_RSA_PKCS_PSS, 512, 8192, SIGN_VERIFY),
    (CKM_MD5_RSA_PKCS, 512, 8192, SIGN_VERIFY),
];

/// Key-pair generation (`crypto::rsa::generate_with_exponent`: multiples of
/// 128 bits), for the token's C_GenerateKeyPair; the token's key policy
/// sets the advertised and enforced minimum.
pub const KEYGEN_MECHANISMS: &[(CK_MECHANISM_TYPE, CK_ULONG, CK_ULONG, CK_FLAGS)] =
    &[(CKM_RSA_PKCS_KEY_PAIR_GEN, 512, 8192, CKF_GENERATE_KEY_PAIR)];

/// The digest of a CKM_SHA* mechanism type (a PSS/OAEP `hashAlg`).
pub fn hash_of(ty: CK_MECHANISM_TYPE) -> Option<Algorithm> {
    Some(match ty {
        CKM_SHA_1 => Algorithm::Sha1,
        CKM_SHA224 => Algorithm::Sha224,
        CKM_SHA256 => Algorithm::Sha256,
        CKM_SHA384 => Algorithm::Sha384,
        CKM_SHA512 => Algorithm::Sha512,
        CKM_SHA3_224 => Algorithm::Sha3_224,
        CKM_SHA3_256 => Algorithm::Sha3_256,
        CKM_SHA3_384 => Algorithm::Sha3_384,
        CKM_SHA3_512 => Algorithm::Sha3_512,
        _ => return None,
    })
}

/// The digest of a CKG_MGF1_* value.
pub fn mgf1_of(mgf: CK_ULONG) -> Option<Algorithm> {
    Some(match mgf {
        CKG_MGF1_SHA1 => Algorithm::Sha1,
        CKG_MGF1_SHA224 => Algorithm::Sha224,
        CKG_MGF1_SHA256 => Algorithm::Sha256,
        CKG_MGF1_SHA384 => Algorithm::Sha384,
        CKG_MGF1_SHA512 => Algorithm::Sha512,
        CKG_MGF1_SHA3_224 => Algorithm::Sha3_224,
        CKG_MGF1_SHA3_256 => Algorithm::Sha3_256,
        CKG_MGF1_SHA3_384 => Algorithm::Sha3_384,
        CKG_MGF1_SHA3_512 => Algorithm::Sha3_512,
        _ => return None,
    })
}

fn param_invalid(reason: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::new(CKR_MECHANISM_PARAM_INVALID, reason)
}

fn no_param(mech: &Mechanism) -> Result<()> {
    match &mech.param {
        MechParam::None => Ok(()),
        MechParam::Bytes(b) if b.is_empty() => Ok(()),
        _ => Err(param_invalid(format!("mechanism 0x{:x} takes no parameter", mech.ty))),
    }
}

fn failed(e: CryptoError) -> Error {
    err!(CKR_FUNCTION_FAILED, "RSA engine failure: {e:?}")
}

/// What the signature covers. (Hashed, the common case, is the large one:
/// the hasher's plain-data context; boxing it would cost an allocation.)
#[allow(clippy::large_enum_variant)]
enum Kind {
    /// CKM_RSA_PKCS: the caller's bytes, buffered (at most k - 11).
    RawPkcs1,
    /// CKM_RSA_X_509: the caller's bytes, buffered (at most k).
    RawX509,
    /// CKM_RSA_PKCS_PSS: the caller's hash, buffered (exactly hLen).
    RawPss(RsaSignScheme),
    /// Hash-and-sign: the message, hashed as it comes.
    Hashed(RsaSignScheme, Hasher),
}

/// Resolves a sign/verify mechanism into its kind.
fn sign_kind(mech: &Mechanism) -> Result<Kind> {
    let hashed = |h: Algorithm| -> Result<Kind> {
        no_param(mech)?;
        Ok(Kind::Hashed(RsaSignScheme::pkcs1(h), Hasher::new(h)))
    };
    let pss = |fixed: Option<Algorithm>| -> Result<RsaSignScheme> {
        let MechParam::Pss { hash, mgf, salt_len } = &mech.param else {
            return Err(param_invalid("RSA-PSS needs CK_RSA_PKCS_PSS_PARAMS"));
        };
        let h = hash_of(*hash).ok_or_else(|| param_invalid(format!("PSS hashAlg 0x{hash:x} unknown")))?;
        if fixed.is_some_and(|f| f != h) {
            return Err(param_invalid("PSS hashAlg differs from the mechanism's hash"));
        }
        let m = mgf1_of(*mgf).ok_or_else(|| param_invalid(format!("PSS mgf 0x{mgf:x} unknown")))?;
        let salt = usize::try_from(*salt_len).map_err(|_| param_invalid("PSS sLen too large"))?;
        RsaSignScheme::pss(h, m, salt).map_err(|_| param_invalid("PSS sLen too large"))
    };
    let hashed_pss = |h: Algorithm| -> Result<Kind> { Ok(Kind::Hashed(pss(Some(h))?, Hasher::new(h))) };
    Ok(match mech.ty {
        CKM_RSA_PKCS => {
            no_param(mech)?;
            Kind::RawPkcs1
        }
        CKM_RSA_X_509 => {
            no_param(mech)?;
            Kind::RawX509
        }
        CKM_RSA_PKCS_PSS => Kind::RawPss(pss(None)?),
        CKM_SHA1_RSA_PKCS => hashed(Algorithm::Sha1)?,
        CKM_SHA224_RSA_PKCS => hashed(Algorithm::Sha224)?,
        CKM_SHA1_RSA_PKCS_PSS => hashed_pss(Algorithm::Sha1)?,
        CKM_SHA224_RSA_PKCS_PSS => hashed_pss(Algorithm::Sha224)?,
        CKM_SHA256_RSA_PKCS => hashed(Algorithm::Sha256)?,
        CKM_SHA384_RSA_PKCS => hashed(Algorithm::Sha384)?,
        CKM_SHA512_RSA_PKCS => hashed(Algorithm::Sha512)?,
        CKM_SHA256_RSA_PKCS_PSS => hashed_pss(Algorithm::Sha256)?,
        CKM_SHA384_RSA_PKCS_PSS => hashed_pss(Algorithm::Sha384)?,
        CKM_SHA512_RSA_PKCS_PSS => hashed_pss(Algorithm::Sha512)?,
        CKM_SHA3_224_RSA_PKCS => hashed(Algorithm::Sha3_224)?,
        CKM_SHA3_256_RSA_PKCS => hashed(Algorithm::Sha3_256)?,
        CKM_SHA3_384_RSA_PKCS => hashed(Algorithm::Sha3_384)?,
        CKM_SHA3_512_RSA_PKCS => hashed(Algorithm::Sha3_512)?,
        CKM_SHA3_224_RSA_PKCS_PSS => hashed_pss(Algorithm::Sha3_224)?,
        CKM_SHA3_256_RSA_PKCS_PSS => hashed_pss(Algorithm::Sha3_256)?,
        CKM_SHA3_384_RSA_PKCS_PSS => hashed_pss(Algorithm::Sha3_384)?,
        CKM_SHA3_512_RSA_PKCS_PSS => hashed_pss(Algorithm::Sha3_512)?,
        CKM_MD5_RSA_PKCS => hashed(Algorithm::Md5)?,
        _ => {
            return Err(err!(CKR_MECHANISM_INVALID, "mechanism 0x{:x} is not an RSA signature", mech.ty));
        }
    })
}

fn check_scheme(r: std::result::Result<(), CryptoError>, what: &str) -> Result<()> {
    r.map_err(|e| match e {
        CryptoError::InvalidKey => err!(CKR_KEY_SIZE_RANGE, "RSA key too small for {what}"),
        _ => err!(CKR_MECHANISM_PARAM_INVALID, "{what} not supported with this key and parameter"),
    })
}

enum Key {
    Private(RsaPrivate),
    Public(RsaPublic),
}

struct SignOp {
    key: Key,
    kind: Kind,
    /// Raw input of the single-part mechanisms.
    data: Vec<u8>,
    /// Most raw input accepted.
    max: usize,
    k: usize,
}

/// Builds a signing operation for `mech` with `key`.
pub fn signer(mech: &Mechanism, key: &RsaPrivate) -> Result<Box<dyn Signer>> {
    let kind = sign_kind(mech)?;
    match &kind {
        Kind::RawPkcs1 | Kind::RawX509 => {}
        Kind::RawPss(s) | Kind::Hashed(s, _) => check_scheme(key.check_sign(s), "this RSA signature")?,
    }
    Ok(Box::new(SignOp::new(Key::Private(key.clone()), kind, key.modulus_len())))
}

/// Builds a verification operation for `mech` with `key`.
pub fn verifier(mech: &Mechanism, key: &RsaPublic) -> Result<Box<dyn Signer>> {
    let kind = sign_kind(mech)?;
    match &kind {
        Kind::RawPkcs1 | Kind::RawX509 => {}
        Kind::RawPss(s) | Kind::Hashed(s, _) => check_scheme(key.check_verify(s), "this RSA signature")?,
    }
    Ok(Box::new(SignOp::new(Key::Public(key.clone()), kind, key.modulus_len())))
}

impl SignOp {
    fn new(key: Key, kind: Kind, k: usize) -> SignOp {
        let max = match &kind {
            Kind::RawPkcs1 => rsa::pkcs1_max_message_len(k),
            Kind::RawX509 => k,
            Kind::RawPss(s) => s.hash().output_len(),
            Kind::Hashed(..) => 0,
        };
        let cap = if matches!(kind, Kind::Hashed(..)) { 0 } else { max };
        SignOp { key, kind, data: Vec::with_capacity(cap), max, k }
    }
}

/// The scheme and the digest to sign/verify, from the input so far (the
/// hashed and PSS kinds; the raw kinds sign their buffered input).
fn op_digest<'a>(
    kind: &'a mut Kind,
    buf: &'a mut [u8; digest::MAX_OUTPUT_LEN],
    data: &'a [u8],
) -> Result<(RsaSignScheme, &'a [u8])> {
    match kind {
        Kind::RawPss(s) => {
            if data.len() != s.hash().output_len() {
                return Err(err!(
                    CKR_DATA_LEN_RANGE,
                    "CKM_RSA_PKCS_PSS input must be the {}-byte hash",
                    s.hash().output_len()
                ));
            }
            Ok((*s, data))
        }
        Kind::Hashed(s, h) => {
            let n = h.finish_into(buf);
            Ok((*s, &buf[..n]))
        }
        Kind::RawPkcs1 | Kind::RawX509 => Err(Error::general("raw RSA input has no digest")),
    }
}

impl Signer for SignOp {
    fn sig_len(&self) -> usize {
        self.k
    }

    fn single_part_only(&self) -> bool {
        !matches!(self.kind, Kind::Hashed(..))
    }

    fn update(&mut self, data: &[u8]) -> Result<()> {
        match &mut self.kind {
            Kind::Hashed(_, h) => h.update(data),
            _ => {
                if self.data.len() + data.len() > self.max {
                    return Err(err!(CKR_DATA_LEN_RANGE, "RSA input longer than {} bytes", self.max));
                }
                self.data.extend_from_slice(data);
            }
        }
        Ok(())
    }

    fn sign_final(&mut self, out: &mut [u8]) -> Result<usize> {
        let Key::Private(key) = &self.key else {
            return Err(Error::general("RSA verify operation asked to sign"));
        };
        match self.kind {
            Kind::RawPkcs1 => {
                return key.sign_raw_pkcs1(&self.data, out).map_err(|e| match e {
                    CryptoError::InvalidLength => {
                        err!(CKR_DATA_LEN_RANGE, "CKM_RSA_PKCS input over {} bytes", self.max)
                    }
                    e => failed(e),
                });
            }
            Kind::RawX509 => {
                return key.sign_raw(&self.data, out).map_err(|e| match e {
                    CryptoError::InvalidParam => {
                        Error::new(CKR_DATA_INVALID, "CKM_RSA_X_509 input is not below the modulus")
                    }
                    e => failed(e),
                });
            }
            _ => {}
        }
        let mut buf = [0u8; digest::MAX_OUTPUT_LEN];
        let (s, d) = op_digest(&mut self.kind, &mut buf, &self.data)?;
        key.sign_digest(&s, d, out).map_err(|e| match e {
            CryptoError::InvalidParam => Error::new(CKR_MECHANISM_PARAM_INVALID, "RSA signature parameters"),
            e => failed(e),
        })
    }

    fn verify_final(&mut self, signature: &[u8]) -> Result<()> {
        if signature.len() != self.k {
            return Err(err!(CKR_SIGNATURE_LEN_RANGE, "RSA signature must be {} bytes", self.k));
        }
        let Key::Public(key) = &self.key else {
            return Err(Error::general("RSA sign operation asked to verify"));
        };
        let invalid = |e: CryptoError| match e {
            CryptoError::InvalidLength => Error::new(CKR_SIGNATURE_LEN_RANGE, "RSA signature length"),
            CryptoError::AuthFailed => Error::new(CKR_SIGNATURE_INVALID, "RSA signature invalid"),
            e => failed(e),
        };
        match self.kind {
            Kind::RawPkcs1 => return key.verify_raw_pkcs1(&self.data, signature).map_err(invalid),
            Kind::RawX509 => return key.verify_raw(&self.data, signature).map_err(invalid),
            _ => {}
        }
        let mut buf = [0u8; digest::MAX_OUTPUT_LEN];
        let (s, d) = op_digest(&mut self.kind, &mut buf, &self.data)?;
        key.verify_digest(&s, d, signature).map_err(|e| match e {
            CryptoError::AuthFailed => Error::new(CKR_SIGNATURE_INVALID, "RSA signature invalid"),
            CryptoError::InvalidLength => Error::new(CKR_SIGNATURE_LEN_RANGE, "RSA signature length"),
            CryptoError::InvalidParam => {
                Error::new(CKR_DATA_INVALID, "CKM_RSA_PKCS: this DigestInfo's hash cannot be verified")
            }
            CryptoError::InvalidKey => Error::new(CKR_KEY_SIZE_RANGE, "RSA key too small for this hash"),
            e => failed(e),
        })
    }
}

// ---------------------------------------------------------------------------
// Encryption

#[derive(Clone)]
enum EncScheme {
    Pkcs1,
    Oaep(Oaep, Vec<u8>),
    /// CKM_RSA_X_509.
    Raw,
}

fn enc_scheme(mech: &Mechanism) -> Result<EncScheme> {
    match mech.ty {
        CKM_RSA_PKCS => {
            no_param(mech)?;
            Ok(EncScheme::Pkcs1)
        }
        CKM_RSA_X_509 => {
            no_param(mech)?;
            Ok(EncScheme::Raw)
        }
        CKM_RSA_PKCS_OAEP => {
            if matches!(&mech.param, MechParam::None) {
                // No parameter: RFC 8017's defaults (SHA-1, MGF1-SHA-1, no
                // label), as some clients (OpenSC's --wrap) send none.
                let p = Oaep::new(Algorithm::Sha1, Algorithm::Sha1).map_err(|_| param_invalid("OAEP defaults"))?;
                return Ok(EncScheme::Oaep(p, Vec::new()));
            }
            let MechParam::Oaep { hash, mgf, source, source_data } = &mech.param else {
                return Err(param_invalid("RSA-OAEP needs CK_RSA_PKCS_OAEP_PARAMS"));
            };
            let h = hash_of(*hash).ok_or_else(|| param_invalid(format!("OAEP hashAlg 0x{hash:x} unknown")))?;
            let m = mgf1_of(*mgf).ok_or_else(|| param_invalid(format!("OAEP mgf 0x{mgf:x} unknown")))?;
            let label = match *source {
                CKZ_DATA_SPECIFIED => source_data.clone(),
                0 if source_data.is_empty() => Vec::new(),
                _ => {
                    return Err(param_invalid("OAEP source must be CKZ_DATA_SPECIFIED (or 0 without data)"));
                }
            };
            let p = Oaep::new(h, m).map_err(|_| param_invalid("OAEP parameters"))?;
            Ok(EncScheme::Oaep(p, label))
        }
        _ => Err(err!(CKR_MECHANISM_INVALID, "mechanism 0x{:x} is not an RSA encryption", mech.ty)),
    }
}

fn max_message(s: &EncScheme, k: usize) -> usize {
    match s {
        EncScheme::Pkcs1 => rsa::pkcs1_max_message_len(k),
        EncScheme::Oaep(p, _) => p.max_message_len(k),
        EncScheme::Raw => k,
    }
}

fn encrypt_with(key: &RsaPublic, s: &EncScheme, msg: &[u8], out: &mut [u8]) -> std::result::Result<usize, CryptoError> {
    match s {
        EncScheme::Pkcs1 => key.encrypt_pkcs1(msg, out),
        EncScheme::Oaep(p, label) => key.encrypt_oaep(p, label, msg, out),
        EncScheme::Raw => key.encrypt_raw(msg, out),
    }
}

fn decrypt_with(key: &RsaPrivate, s: &EncScheme, ct: &[u8], out: &mut [u8]) -> std::result::Result<usize, CryptoError> {
    match s {
        EncScheme::Pkcs1 => key.decrypt_pkcs1(ct, out),
        EncScheme::Oaep(p, label) => key.decrypt_oaep(p, label, ct, out),
        EncScheme::Raw => key.decrypt_raw(ct, out),
    }
}

fn key_refused() -> Error {
    Error::new(CKR_KEY_SIZE_RANGE, "the engine refuses this RSA key for encryption")
}

struct EncryptOp {
    key: RsaPublic,
    scheme: EncScheme,
    max: usize,
}

struct DecryptOp {
    key: RsaPrivate,
    scheme: EncScheme,
    max: usize,
}

/// Builds an encryption operation (CKM_RSA_PKCS, CKM_RSA_PKCS_OAEP).
pub fn encryptor(mech: &Mechanism, key: &RsaPublic) -> Result<Box<dyn Cipher>> {
    let scheme = enc_scheme(mech)?;
    let max = max_message(&scheme, key.modulus_len());
    Ok(Box::new(Buffered::new(EncryptOp { key: key.clone(), scheme, max })))
}

/// Builds a decryption operation (CKM_RSA_PKCS, CKM_RSA_PKCS_OAEP).
pub fn decryptor(mech: &Mechanism, key: &RsaPrivate) -> Result<Box<dyn Cipher>> {
    let scheme = enc_scheme(mech)?;
    let k = key.modulus_len();
    Ok(Box::new(Buffered::new(DecryptOp { key: key.clone(), scheme, max: k })))
}

impl WholeMessage for EncryptOp {
    fn out_bound(&self, _n: usize) -> usize {
        self.key.modulus_len()
    }
    fn check_input_len(&self, n: usize) -> Result<()> {
        if n > self.max {
            return Err(err!(CKR_DATA_LEN_RANGE, "RSA plaintext longer than {} bytes", self.max));
        }
        Ok(())
    }
    fn run(&self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        encrypt_with(&self.key, &self.scheme, input, out).map_err(|e| match e {
            CryptoError::InvalidLength => err!(CKR_DATA_LEN_RANGE, "RSA plaintext longer than {} bytes", self.max),
            CryptoError::InvalidParam => Error::new(CKR_DATA_INVALID, "CKM_RSA_X_509 input is not below the modulus"),
            CryptoError::InvalidKey => key_refused(),
            e => failed(e),
        })
    }
}

impl WholeMessage for DecryptOp {
    fn out_bound(&self, _n: usize) -> usize {
        max_message(&self.scheme, self.max)
    }
    fn check_input_len(&self, n: usize) -> Result<()> {
        if n > self.max {
            return Err(err!(CKR_ENCRYPTED_DATA_LEN_RANGE, "RSA ciphertext must be {} bytes", self.max));
        }
        Ok(())
    }
    fn run(&self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        decrypt_with(&self.key, &self.scheme, input, out).map_err(|e| match e {
            CryptoError::InvalidLength if input.len() != self.max => {
                err!(CKR_ENCRYPTED_DATA_LEN_RANGE, "RSA ciphertext must be {} bytes", self.max)
            }
            CryptoError::InvalidLength => Error::buffer_too_small(self.out_bound(input.len())),
            CryptoError::AuthFailed => Error::new(CKR_ENCRYPTED_DATA_INVALID, "RSA ciphertext does not decrypt"),
            e => failed(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::LazyLock;

    static KEY: LazyLock<RsaPrivate> = LazyLock::new(|| rsa::generate(2048).unwrap());

    fn pss(ty: CK_MECHANISM_TYPE, hash: CK_MECHANISM_TYPE, mgf: CK_ULONG, salt: CK_ULONG) -> Mechanism {
        Mechanism { ty, param: MechParam::Pss { hash, mgf, salt_len: salt } }
    }

    fn oaep(hash: CK_MECHANISM_TYPE, mgf: CK_ULONG, source: CK_ULONG, label: &[u8]) -> Mechanism {
        Mechanism { ty: CKM_RSA_PKCS_OAEP, param: MechParam::Oaep { hash, mgf, source, source_data: label.to_vec() } }
    }

    fn sign(m: &Mechanism, parts: &[&[u8]]) -> Result<Vec<u8>> {
        let mut s = signer(m, &KEY)?;
        for p in parts {
            s.update(p)?;
        }
        let mut out = vec![0u8; s.sig_len()];
        let n = s.sign_final(&mut out)?;
        out.truncate(n);
        Ok(out)
    }

    fn verify(m: &Mechanism, parts: &[&[u8]], sig: &[u8]) -> Result<()> {
        let mut v = verifier(m, KEY.public())?;
        for p in parts {
            v.update(p)?;
        }
        v.verify_final(sig)
    }

    fn rv<T>(r: Result<T>) -> CK_RV {
        r.err().map(|e| e.rv()).unwrap_or(CKR_OK)
    }

    #[test]
    fn hash_and_sign_round_trips() {
        for ty in [CKM_SHA256_RSA_PKCS, CKM_SHA384_RSA_PKCS, CKM_SHA512_RSA_PKCS] {
            let m = Mechanism::new(ty);
            let sig = sign(&m, &[b"hello ", b"world"]).unwrap();
            assert_eq!(sig.len(), 256);
            verify(&m, &[b"hello world"], &sig).unwrap();
            assert_eq!(rv(verify(&m, &[b"hello worle"], &sig)), CKR_SIGNATURE_INVALID);
            assert_eq!(rv(verify(&m, &[b"hello world"], &sig[1..])), CKR_SIGNATURE_LEN_RANGE);
            assert!(!signer(&m, &KEY).unwrap().single_part_only());
        }
        for (ty, h, mgf) in [
            (CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256),
            (CKM_SHA384_RSA_PKCS_PSS, CKM_SHA384, CKG_MGF1_SHA384),
            (CKM_SHA512_RSA_PKCS_PSS, CKM_SHA512, CKG_MGF1_SHA512),
        ] {
            for salt in [0, 32, 64] {
                let m = pss(ty, h, mgf, salt);
                let sig = sign(&m, &[b"abc", b"def"]).unwrap();
                verify(&m, &[b"abcdef"], &sig).unwrap();
                assert_eq!(rv(verify(&m, &[b"abcdeg"], &sig)), CKR_SIGNATURE_INVALID);
            }
            // hashAlg must match the mechanism; MGF1 may differ.
            assert_eq!(rv(signer(&pss(ty, CKM_SHA_1, mgf, 20), &KEY)), CKR_MECHANISM_PARAM_INVALID);
            let m = pss(ty, h, CKG_MGF1_SHA1, 20);
            let sig = sign(&m, &[b"mixed"]).unwrap();
            verify(&m, &[b"mixed"], &sig).unwrap();
            assert_eq!(rv(verify(&pss(ty, h, mgf, 20), &[b"mixed"], &sig)), CKR_SIGNATURE_INVALID);
            assert_eq!(rv(signer(&pss(ty, h, 0x99, 20), &KEY)), CKR_MECHANISM_PARAM_INVALID);
            assert_eq!(rv(signer(&pss(ty, h, mgf, 1000), &KEY)), CKR_MECHANISM_PARAM_INVALID);
            assert_eq!(rv(signer(&Mechanism::new(ty), &KEY)), CKR_MECHANISM_PARAM_INVALID);
        }
    }

    #[test]
    fn sha1_sha224_and_refusals() {
        for ty in [CKM_SHA1_RSA_PKCS, CKM_SHA224_RSA_PKCS] {
            let m = Mechanism::new(ty);
            let sig = sign(&m, &[b"legacy ", b"hash"]).unwrap();
            verify(&m, &[b"legacy hash"], &sig).unwrap();
            assert_eq!(rv(verify(&m, &[b"legacy hasH"], &sig)), CKR_SIGNATURE_INVALID);
        }
        for (ty, h, mgf) in
            [(CKM_SHA1_RSA_PKCS_PSS, CKM_SHA_1, CKG_MGF1_SHA1), (CKM_SHA224_RSA_PKCS_PSS, CKM_SHA224, CKG_MGF1_SHA256)]
        {
            let m = pss(ty, h, mgf, 20);
            let sig = sign(&m, &[b"pss"]).unwrap();
            verify(&m, &[b"pss"], &sig).unwrap();
        }
        assert_eq!(rv(signer(&Mechanism::new(CKM_ECDSA), &KEY)), CKR_MECHANISM_INVALID);
        let m = Mechanism { ty: CKM_SHA256_RSA_PKCS, param: MechParam::Bytes(vec![1]) };
        assert_eq!(rv(signer(&m, &KEY)), CKR_MECHANISM_PARAM_INVALID);
    }

    #[test]
    fn raw_pkcs1_and_pss() {
        let d = digest::digest(Algorithm::Sha256, b"msg");
        let di = rsa::digest_info(Algorithm::Sha256, &d);
        let m = Mechanism::new(CKM_RSA_PKCS);
        assert!(signer(&m, &KEY).unwrap().single_part_only());
        let sig = sign(&m, &[&di]).unwrap();
        // Same as hash-and-sign.
        assert_eq!(sig, sign(&Mechanism::new(CKM_SHA256_RSA_PKCS), &[b"msg"]).unwrap());
        verify(&m, &[&di], &sig).unwrap();
        verify(&Mechanism::new(CKM_SHA256_RSA_PKCS), &[b"msg"], &sig).unwrap();
        // Any input up to k - 11 bytes (TLS 1.0's MD5+SHA-1, a SHA-1
        // DigestInfo ...); longer is refused.
        for data in [&[1u8; 36][..], &rsa::digest_info(Algorithm::Sha1, &[0; 20]), &[7u8; 245]] {
            let sig = sign(&m, &[data]).unwrap();
            verify(&m, &[data], &sig).unwrap();
        }
        assert_eq!(rv(sign(&m, &[&[0u8; 246]])), CKR_DATA_LEN_RANGE);
        assert_eq!(rv(verify(&m, &[&[1u8; 36]], &sig)), CKR_SIGNATURE_INVALID);
        // CKM_RSA_X_509: raw, left-padded; values >= n refused.
        let x = Mechanism::new(CKM_RSA_X_509);
        let sig = sign(&x, &[&[5u8; 100]]).unwrap();
        verify(&x, &[&[5u8; 100]], &sig).unwrap();
        verify(&x, &[&[[0u8; 156].as_slice(), &[5u8; 100]].concat()], &sig).unwrap();
        assert_eq!(rv(verify(&x, &[&[6u8; 100]], &sig)), CKR_SIGNATURE_INVALID);
        assert_eq!(rv(sign(&x, &[&[0xffu8; 256]])), CKR_DATA_INVALID);
        assert_eq!(rv(sign(&x, &[&[1u8; 257]])), CKR_DATA_LEN_RANGE);

        let m = pss(CKM_RSA_PKCS_PSS, CKM_SHA384, CKG_MGF1_SHA384, 48);
        let h = digest::digest(Algorithm::Sha384, b"x");
        let sig = sign(&m, &[&h]).unwrap();
        verify(&m, &[&h], &sig).unwrap();
        verify(&pss(CKM_SHA384_RSA_PKCS_PSS, CKM_SHA384, CKG_MGF1_SHA384, 48), &[b"x"], &sig).unwrap();
        assert_eq!(rv(sign(&m, &[&h[1..]])), CKR_DATA_LEN_RANGE);
        assert_eq!(rv(sign(&m, &[&h, b"1"])), CKR_DATA_LEN_RANGE);
        for (h, mgf, alg) in [
            (CKM_SHA_1, CKG_MGF1_SHA1, Algorithm::Sha1),
            (CKM_SHA224, CKG_MGF1_SHA224, Algorithm::Sha224),
            (CKM_SHA256, CKG_MGF1_SHA512, Algorithm::Sha256),
        ] {
            let m = pss(CKM_RSA_PKCS_PSS, h, mgf, 0);
            let d = digest::digest(alg, b"y");
            let sig = sign(&m, &[&d]).unwrap();
            verify(&m, &[&d], &sig).unwrap();
        }
        assert_eq!(rv(signer(&pss(CKM_RSA_PKCS_PSS, CKM_MD5, CKG_MGF1_SHA1, 0), &KEY)), CKR_MECHANISM_PARAM_INVALID);
    }

    fn crypt(m: &Mechanism, msg: &[u8]) -> Result<Vec<u8>> {
        let mut e = encryptor(m, KEY.public())?;
        let mut ct = vec![0u8; e.oneshot_bound(msg.len())];
        let n = e.oneshot(msg, &mut ct)?;
        ct.truncate(n);
        let mut d = decryptor(m, &KEY)?;
        let mut pt = vec![0u8; d.oneshot_bound(ct.len())];
        let n = d.oneshot(&ct, &mut pt)?;
        pt.truncate(n);
        Ok(pt)
    }

    #[test]
    fn encryption_round_trips() {
        let m = Mechanism::new(CKM_RSA_PKCS);
        assert_eq!(crypt(&m, b"secret").unwrap(), b"secret");
        // A tampered CKM_RSA_PKCS ciphertext: CKR_OK, a deterministic
        // synthetic message (implicit rejection), not the plaintext.
        let mut ct = vec![0u8; 256];
        encryptor(&m, KEY.public()).unwrap().oneshot(b"secret", &mut ct).unwrap();
        ct[255] ^= 1;
        let dec = |ct: &[u8]| {
            let mut pt = vec![0u8; 245];
            let n = decryptor(&m, &KEY).unwrap().oneshot(ct, &mut pt).unwrap();
            pt.truncate(n);
            pt
        };
        let first = dec(&ct);
        assert_eq!(dec(&ct), first);
        assert_ne!(first, b"secret");
        assert_eq!(rv(crypt(&m, &[0u8; 246])), CKR_DATA_LEN_RANGE);
        for (h, mgf, hl) in [
            (CKM_SHA_1, CKG_MGF1_SHA1, 20),
            (CKM_SHA256, CKG_MGF1_SHA256, 32),
            (CKM_SHA384, CKG_MGF1_SHA384, 48),
            (CKM_SHA512, CKG_MGF1_SHA512, 64),
            // SHA-3 (the EVP path), also with a different MGF1 hash.
            (CKM_SHA3_256, CKG_MGF1_SHA3_256, 32),
            (CKM_SHA3_512, CKG_MGF1_SHA256, 64),
        ] {
            for (source, label) in [(CKZ_DATA_SPECIFIED, &b""[..]), (CKZ_DATA_SPECIFIED, b"lbl"), (0, b"")] {
                let m = oaep(h, mgf, source, label);
                let msg = vec![9u8; 256 - 2 * hl - 2];
                assert_eq!(crypt(&m, &msg).unwrap(), msg);
                assert_eq!(rv(crypt(&m, &[msg.as_slice(), b"!"].concat())), CKR_DATA_LEN_RANGE);
            }
        }
        // Multi-part encrypt: update buffers, final does the work.
        let m = oaep(CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, b"L");
        let mut e = encryptor(&m, KEY.public()).unwrap();
        assert_eq!(e.update(b"ab", &mut []).unwrap(), 0);
        assert_eq!(e.update(b"cd", &mut []).unwrap(), 0);
        let mut ct = vec![0u8; e.final_bound()];
        assert_eq!(e.finalize(&mut ct).unwrap(), 256);
        let mut d = decryptor(&m, &KEY).unwrap();
        d.update(&ct[..100], &mut []).unwrap();
        d.update(&ct[100..], &mut []).unwrap();
        let mut pt = vec![0u8; d.final_bound()];
        let n = d.finalize(&mut pt).unwrap();
        assert_eq!(&pt[..n], b"abcd");
        // Wrong label, bad ciphertext, wrong length.
        let mut d = decryptor(&oaep(CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, b"M"), &KEY).unwrap();
        assert_eq!(rv(d.oneshot(&ct, &mut pt)), CKR_ENCRYPTED_DATA_INVALID);
        let mut d = decryptor(&m, &KEY).unwrap();
        assert_eq!(rv(d.oneshot(&ct[1..], &mut pt)), CKR_ENCRYPTED_DATA_LEN_RANGE);
        let mut d = decryptor(&m, &KEY).unwrap();
        assert_eq!(rv(d.oneshot(&[ct.as_slice(), b"x"].concat(), &mut pt)), CKR_ENCRYPTED_DATA_LEN_RANGE);
        // SHA-224 and mixed MGF1 hashes.
        for m in [
            oaep(CKM_SHA224, CKG_MGF1_SHA224, CKZ_DATA_SPECIFIED, b"l"),
            oaep(CKM_SHA256, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, b""),
            oaep(CKM_SHA_1, CKG_MGF1_SHA256, 0, b""),
        ] {
            assert_eq!(crypt(&m, b"mixed").unwrap(), b"mixed");
        }
        // No OAEP parameter: SHA-1/MGF1-SHA-1 defaults, same as explicit.
        let def = Mechanism::new(CKM_RSA_PKCS_OAEP);
        let mut e = encryptor(&def, KEY.public()).unwrap();
        let mut ct = vec![0u8; 256];
        e.oneshot(b"dflt", &mut ct).unwrap();
        let mut d = decryptor(&oaep(CKM_SHA_1, CKG_MGF1_SHA1, 0, b""), &KEY).unwrap();
        let mut pt = vec![0u8; 256];
        let n = d.oneshot(&ct, &mut pt).unwrap();
        assert_eq!(&pt[..n], b"dflt");
        // Raw RSA.
        let x = Mechanism::new(CKM_RSA_X_509);
        let out = crypt(&x, &[3u8; 10]).unwrap();
        assert_eq!(out.len(), 256);
        assert!(out[..246].iter().all(|b| *b == 0) && out[246..] == [3u8; 10]);
        assert_eq!(rv(crypt(&x, &[0xffu8; 256])), CKR_DATA_INVALID);
        // Refused parameter combinations.
        for m in [
            oaep(CKM_SHA256, CKG_MGF1_SHA256, 0, b"x"),
            oaep(CKM_SHA256, CKG_MGF1_SHA256, 7, b""),
            oaep(CKM_MD5, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, b""),
            Mechanism { ty: CKM_RSA_PKCS_OAEP, param: MechParam::Bytes(vec![0]) },
            Mechanism { ty: CKM_RSA_PKCS, param: MechParam::Bytes(vec![0]) },
        ] {
            assert_eq!(rv(encryptor(&m, KEY.public())), CKR_MECHANISM_PARAM_INVALID);
            assert_eq!(rv(decryptor(&m, &KEY)), CKR_MECHANISM_PARAM_INVALID);
        }
        assert_eq!(rv(wrap(&x, KEY.public(), &[1u8; 32])), CKR_MECHANISM_INVALID);
    }

    #[test]
    fn table_is_consistent() {
        for (ty, min, max, flags) in MECHANISMS {
            assert!(min <= max);
            if flags & CKF_SIGN != 0 {
                // Every advertised signing mechanism builds with a default parameter.
                let m = match *ty {
                    CKM_RSA_PKCS_PSS | CKM_SHA256_RSA_PKCS_PSS => pss(*ty, CKM_SHA256, CKG_MGF1_SHA256, 32),
                    CKM_SHA384_RSA_PKCS_PSS => pss(*ty, CKM_SHA384, CKG_MGF1_SHA384, 48),
                    CKM_SHA512_RSA_PKCS_PSS => pss(*ty, CKM_SHA512, CKG_MGF1_SHA512, 64),
                    CKM_SHA1_RSA_PKCS_PSS => pss(*ty, CKM_SHA_1, CKG_MGF1_SHA1, 20),
                    CKM_SHA224_RSA_PKCS_PSS => pss(*ty, CKM_SHA224, CKG_MGF1_SHA224, 28),
                    CKM_SHA3_224_RSA_PKCS_PSS => pss(*ty, CKM_SHA3_224, CKG_MGF1_SHA3_224, 28),
                    CKM_SHA3_256_RSA_PKCS_PSS => pss(*ty, CKM_SHA3_256, CKG_MGF1_SHA3_256, 32),
                    CKM_SHA3_384_RSA_PKCS_PSS => pss(*ty, CKM_SHA3_384, CKG_MGF1_SHA3_384, 48),
                    CKM_SHA3_512_RSA_PKCS_PSS => pss(*ty, CKM_SHA3_512, CKG_MGF1_SHA3_512, 64),
                    t => Mechanism::new(t),
                };
                signer(&m, &KEY).unwrap();
                verifier(&m, KEY.public()).unwrap();
            }
        }
    }
}
