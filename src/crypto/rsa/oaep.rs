//! The OAEP parameter set ([`Oaep`]: hash and MGF1 hash, with aws-lc-rs's
//! description when it offers the pair) and its message bound. The keys
//! that encrypt and decrypt with it are in `public` and `private`.

use super::md;
use crate::crypto::ffi::EncPad;
use crate::crypto::{CryptoResult, digest::Algorithm};
use aws_lc_rs::rsa::{self as lc_rsa, OaepAlgorithm};

/// A resolved OAEP parameter set (hash, MGF1 hash).
#[derive(Clone, Copy)]
pub struct Oaep {
    hash: Algorithm,
    mgf1: Algorithm,
    /// aws-lc-rs's description when it offers the pair; else the EVP path.
    pub(super) alg: Option<&'static OaepAlgorithm>,
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
            _ => None,
        };
        Ok(Oaep { hash, mgf1: mgf1_hash, alg })
    }

    pub(super) fn evp_pad(&self) -> EncPad {
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
