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
//! SHA-1/SHA-224/SHA-3/MD5 PKCS#1 v1.5 signing, PSS/OAEP with SHA-224, SHA-3 or a different
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
//! Files: `public` ([`RsaPublic`]: import, verification, encryption),
//! `private` ([`RsaPrivate`]: import, generation, signing, decryption),
//! `sign` (the signature schemes, [`RsaSignScheme`], and DigestInfo), `oaep`
//! (the OAEP parameter set, [`Oaep`]), `implicit` (PKCS#1 v1.5 decryption
//! with implicit rejection); this file holds the components, the limits
//! and the helpers they share. The EVP calls themselves are `crypto::ffi`'s.

mod implicit;
mod oaep;
mod private;
mod public;
mod sign;
#[cfg(test)]
mod tests;

pub use oaep::Oaep;
pub use private::{RsaPrivate, can_generate, generate, generate_with_exponent};
pub use public::RsaPublic;
pub use sign::{RsaSignScheme, digest_info, parse_digest_info};

use super::der;
use super::digest::Algorithm;
use super::ffi::Md;
use super::{CryptoError, CryptoResult};
use aws_lc_rs::digest as lc_digest;
use zeroize::Zeroizing;

fn md(h: Algorithm) -> Md {
    h.md()
}

/// Largest modulus handled, in bytes (8192 bits).
pub const MAX_MODULUS_LEN: usize = 1024;
/// Smallest and largest modulus handled, in bits.
pub const MIN_BITS: usize = 512;
pub const MAX_BITS: usize = 8192;
/// Smallest modulus aws-lc-rs handles; smaller keys run on the EVP path.
const LC_MIN_BITS: usize = 2048;

/// aws-lc-rs's digest of `h`, for the schemes that run there (SHA-3 and
/// MD5 signatures always take the EVP path).
fn lc_hash(h: Algorithm) -> Option<&'static lc_digest::Algorithm> {
    Some(match h {
        Algorithm::Sha1 => &lc_digest::SHA1_FOR_LEGACY_USE_ONLY,
        Algorithm::Sha224 => &lc_digest::SHA224,
        Algorithm::Sha256 => &lc_digest::SHA256,
        Algorithm::Sha384 => &lc_digest::SHA384,
        Algorithm::Sha512 => &lc_digest::SHA512,
        Algorithm::Sha3_224 | Algorithm::Sha3_256 | Algorithm::Sha3_384 | Algorithm::Sha3_512 | Algorithm::Md5 => {
            return None;
        }
    })
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

fn bit_len(be: &[u8]) -> usize {
    match be.first() {
        None => 0,
        Some(&b) => be.len() * 8 - b.leading_zeros() as usize,
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
