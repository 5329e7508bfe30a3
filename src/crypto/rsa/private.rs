//! RSA private keys ([`RsaPrivate`]): generation, import from components,
//! PKCS#8 or PKCS#1 (with the engine's consistency checks), export, signing
//! (over a digest, a DigestInfo, raw PKCS#1 v1.5, raw RSA) and decryption
//! (OAEP, raw RSA; PKCS#1 v1.5 is `implicit`'s). Keys under 2048 bits run
//! on the EVP path only.

use super::{
    LC_MIN_BITS, MAX_BITS, MAX_MODULUS_LEN, MIN_BITS, Oaep, RsaComponents, RsaPublic, RsaSignScheme, bit_len, der,
    parse_digest_info, pkcs1_max_message_len, raw_block,
};
use crate::crypto::digest::Algorithm;
use crate::crypto::ffi::{self, EncPad, EvpRsa, SigPad};
use crate::crypto::{CryptoError, CryptoResult};
use aws_lc_rs::rsa::{KeyPairComponents, OaepPrivateDecryptingKey, PrivateDecryptingKey, PublicKeyComponents};
use aws_lc_rs::signature::{RsaEncoding, RsaKeyPair};
use std::sync::{Arc, OnceLock};
use zeroize::Zeroizing;

pub(super) struct PrivInner {
    /// aws-lc-rs's form, for keys of 2048 bits and more (`None` below:
    /// those run on the EVP path only).
    pub(super) pair: Option<RsaKeyPair>,
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
pub struct RsaPrivate(pub(super) Arc<PrivInner>);

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

    pub(super) fn evp(&self) -> CryptoResult<&EvpRsa> {
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
