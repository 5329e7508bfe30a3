//! RSA public keys ([`RsaPublic`]): import from (n, e) or a
//! SubjectPublicKeyInfo, export, signature verification (over a digest,
//! raw PKCS#1 v1.5, raw RSA) and encryption (OAEP, PKCS#1 v1.5, raw RSA).
//! aws-lc-rs objects are built on first use and kept with the key; the
//! EVP form serves what aws-lc-rs lacks.

use super::sign::VERIFY_SLOTS;
use super::{LC_MIN_BITS, MAX_BITS, MIN_BITS, Oaep, RsaSignScheme, bit_len, der, pkcs1_max_message_len, raw_block};
use crate::crypto::ffi::{EncPad, EvpRsa, SigPad};
use crate::crypto::{CryptoError, CryptoResult};
use aws_lc_rs::rsa::{
    OaepPublicEncryptingKey, Pkcs1PublicEncryptingKey, PublicEncryptingKey, PublicKeyComponents, RsaParameters,
};
use aws_lc_rs::signature::{self, ParsedPublicKey};
use std::sync::{Arc, OnceLock};

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
