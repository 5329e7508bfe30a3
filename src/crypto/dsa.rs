//! DSA (FIPS 186-4) keys, signatures and domain parameters (legacy). Knows
//! nothing of PKCS#11. Engine: AWS-LC's DSA_* through `crypto::ffi`.
//!
//! Accepted sizes: p of 1024 to 3072 bits (FIPS 186-4's L = 1024, 2048,
//! 3072, and imported keys in between), q of 160, 224 or 256 bits (the
//! engine's limit). Parameter generation makes (1024, 160), (2048, 256)
//! and (3072, 256) (the engine picks N from L). Signatures are r || s,
//! each as long as q (PKCS#11's form); a digest longer than q is cut to
//! q's length (FIPS 186-4 §4.6).

use super::der::strip_leading_zeros;
use super::ffi::Dsa;
use super::{CryptoError, CryptoResult};
use zeroize::Zeroizing;

/// Bit lengths of p accepted.
pub const P_BITS: std::ops::RangeInclusive<usize> = 1024..=3072;
/// Bit lengths of p parameter generation makes.
pub const GENERATE_BITS: [usize; 3] = [1024, 2048, 3072];

/// Domain parameters (big-endian, minimal).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    pub p: Vec<u8>,
    pub q: Vec<u8>,
    pub g: Vec<u8>,
}

fn bits(v: &[u8]) -> usize {
    let v = strip_leading_zeros(v);
    v.first().map_or(0, |b| v.len() * 8 - b.leading_zeros() as usize)
}

/// Big-endian `a < b` on minimal forms.
fn less(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (strip_leading_zeros(a), strip_leading_zeros(b));
    (a.len(), a) < (b.len(), b)
}

impl Params {
    /// Size checks (the engine checks the rest: g and y in the group's range).
    pub fn check(&self) -> CryptoResult<()> {
        if !P_BITS.contains(&bits(&self.p)) || !matches!(bits(&self.q), 160 | 224 | 256) {
            return Err(CryptoError::InvalidKey);
        }
        Ok(())
    }

    pub fn p_bits(&self) -> usize {
        bits(&self.p)
    }
}

/// New domain parameters with p of `bits` bits (one of [`GENERATE_BITS`]).
pub fn generate_params(bits: usize) -> CryptoResult<Params> {
    if !GENERATE_BITS.contains(&bits) {
        return Err(CryptoError::InvalidParam);
    }
    let d = Dsa::generate_parameters(bits as u32).map_err(|_| CryptoError::Internal)?;
    let [p, q, g] = d.pqg().map_err(|_| CryptoError::Internal)?;
    Ok(Params { p, q, g })
}

/// A DSA key: public (verifies) or private (signs).
pub struct DsaKey {
    key: Dsa,
    private: bool,
}

impl DsaKey {
    pub fn public(params: &Params, y: &[u8]) -> CryptoResult<DsaKey> {
        params.check()?;
        if !less(&[1], y) || !less(y, &params.p) {
            return Err(CryptoError::InvalidKey);
        }
        let key =
            Dsa::from_parts(&params.p, &params.q, &params.g, Some(y), None).map_err(|_| CryptoError::InvalidKey)?;
        Ok(DsaKey { key, private: false })
    }

    /// A private key: 0 < x < q.
    pub fn private(params: &Params, x: &[u8]) -> CryptoResult<DsaKey> {
        params.check()?;
        if strip_leading_zeros(x).is_empty() || !less(x, &params.q) {
            return Err(CryptoError::InvalidKey);
        }
        let key =
            Dsa::from_parts(&params.p, &params.q, &params.g, None, Some(x)).map_err(|_| CryptoError::InvalidKey)?;
        Ok(DsaKey { key, private: true })
    }

    /// Signature length: twice the length of q.
    pub fn sig_len(&self) -> usize {
        2 * self.key.q_len()
    }

    /// Signs a digest: r || s into `out` (`sig_len` bytes).
    pub fn sign(&self, digest: &[u8], out: &mut [u8]) -> CryptoResult<()> {
        if !self.private {
            return Err(CryptoError::InvalidKey);
        }
        self.key.sign(digest, out).map_err(|_| CryptoError::Internal)
    }

    /// Verifies r || s over a digest; `AuthFailed` when it does not match.
    pub fn verify(&self, digest: &[u8], sig: &[u8]) -> CryptoResult<()> {
        let n = self.key.q_len();
        if sig.len() != 2 * n {
            return Err(CryptoError::InvalidLength);
        }
        match self.key.verify(digest, &sig[..n], &sig[n..]) {
            Ok(true) => Ok(()),
            Ok(false) => Err(CryptoError::AuthFailed),
            Err(_) => Err(CryptoError::Internal),
        }
    }
}

/// A fresh key pair on `params`: (y, x).
pub fn generate(params: &Params) -> CryptoResult<(Vec<u8>, Zeroizing<Vec<u8>>)> {
    params.check()?;
    let d = Dsa::generate_key(&params.p, &params.q, &params.g).map_err(|_| CryptoError::Internal)?;
    let y = d.public_value().map_err(|_| CryptoError::Internal)?;
    let x = d.private_value().map_err(|_| CryptoError::Internal)?;
    Ok((y, x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_checks() {
        let params = generate_params(1024).unwrap();
        assert_eq!((params.p_bits(), bits(&params.q)), (1024, 160));
        let (y, x) = generate(&params).unwrap();
        let sk = DsaKey::private(&params, &x).unwrap();
        let pk = DsaKey::public(&params, &y).unwrap();
        let digest = [7u8; 20];
        let mut sig = vec![0u8; sk.sig_len()];
        assert_eq!(sig.len(), 40);
        sk.sign(&digest, &mut sig).unwrap();
        pk.verify(&digest, &sig).unwrap();
        assert_eq!(pk.verify(&[8u8; 20], &sig), Err(CryptoError::AuthFailed));
        assert_eq!(pk.verify(&digest, &sig[..39]), Err(CryptoError::InvalidLength));
        assert_eq!(pk.sign(&digest, &mut sig), Err(CryptoError::InvalidKey));
        // Out-of-range values.
        assert!(DsaKey::public(&params, &[1]).is_err());
        assert!(DsaKey::public(&params, &params.p).is_err());
        assert!(DsaKey::private(&params, &params.q).is_err());
        assert!(DsaKey::private(&params, &[0]).is_err());
        assert!(generate_params(1536).is_err());
    }
}
