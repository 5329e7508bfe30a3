//! PKCS#3 Diffie-Hellman (legacy): key pairs on given (p, g), the shared
//! secret with a peer's public value, and parameter generation. Knows
//! nothing of PKCS#11. Engine: AWS-LC's DH_* through `crypto::ffi`.
//!
//! p of 1024 to 8192 bits is accepted; parameter generation makes a safe
//! prime of 1024 to 2048 bits with generator 2 (a safe prime search at
//! 2048 bits takes seconds to minutes; beyond that it is impractical in a
//! C_GenerateKey call). The peer's value must satisfy 1 < y < p - 1 (and
//! the engine's further checks). The shared secret g^xy mod p is
//! left-padded to the length of p (SP 800-56A's Z).

use super::der::strip_leading_zeros;
use super::ffi::Dh;
use super::{CryptoError, CryptoResult};
use zeroize::Zeroizing;

/// Bit lengths of p accepted.
pub const P_BITS: std::ops::RangeInclusive<usize> = 1024..=8192;
/// Bit lengths of p parameter generation makes.
pub const GENERATE_BITS: std::ops::RangeInclusive<usize> = 1024..=2048;

fn bits(v: &[u8]) -> usize {
    let v = strip_leading_zeros(v);
    v.first().map_or(0, |b| v.len() * 8 - b.leading_zeros() as usize)
}

/// Checks (p, g): p odd of an accepted size, 1 < g < p.
pub fn check_params(p: &[u8], g: &[u8]) -> CryptoResult<()> {
    let p_ = strip_leading_zeros(p);
    if !P_BITS.contains(&bits(p)) || p_.last().is_none_or(|b| b & 1 == 0) {
        return Err(CryptoError::InvalidKey);
    }
    let g_ = strip_leading_zeros(g);
    if g_.is_empty() || g_ == [1] || (g_.len(), g_) >= (p_.len(), p_) {
        return Err(CryptoError::InvalidKey);
    }
    Ok(())
}

/// Bits of p.
pub fn p_bits(p: &[u8]) -> usize {
    bits(p)
}

/// New parameters (p, g) with p of `bits` bits.
pub fn generate_params(bits: usize) -> CryptoResult<(Vec<u8>, Vec<u8>)> {
    if !GENERATE_BITS.contains(&bits) {
        return Err(CryptoError::InvalidParam);
    }
    let d = Dh::generate_parameters(bits as i32).map_err(|_| CryptoError::Internal)?;
    d.pg().map_err(|_| CryptoError::Internal)
}

/// A fresh key pair on (p, g): (y, x, bits of x). `x_bits` = 0 lets the
/// engine choose (p's length - 1); otherwise 160 ..= bits(p) - 1.
pub fn generate(p: &[u8], g: &[u8], x_bits: usize) -> CryptoResult<(Vec<u8>, Zeroizing<Vec<u8>>, usize)> {
    check_params(p, g)?;
    if x_bits != 0 && !(160..bits(p)).contains(&x_bits) {
        return Err(CryptoError::InvalidParam);
    }
    let d = Dh::generate_key(p, g, x_bits as u32).map_err(|_| CryptoError::Internal)?;
    let y = d.public_value().map_err(|_| CryptoError::Internal)?;
    let x = d.private_value().map_err(|_| CryptoError::Internal)?;
    Ok((y, x, d.private_bits()))
}

/// A DH private key.
pub struct DhPrivate(Dh);

impl DhPrivate {
    pub fn new(p: &[u8], g: &[u8], x: &[u8]) -> CryptoResult<DhPrivate> {
        check_params(p, g)?;
        let x_ = strip_leading_zeros(x);
        let p_ = strip_leading_zeros(p);
        if x_.is_empty() || (x_.len(), x_) >= (p_.len(), p_) {
            return Err(CryptoError::InvalidKey);
        }
        Dh::from_private(p, g, x).map(DhPrivate).map_err(|_| CryptoError::InvalidKey)
    }

    /// g^xy mod p for the peer's `y` (`InvalidParam` if 1 < y < p - 1 fails).
    pub fn derive(&self, y: &[u8]) -> CryptoResult<Zeroizing<Vec<u8>>> {
        self.0.compute(y).map_err(|_| CryptoError::InvalidParam)
    }
}

/// Whether `y` is a usable public value for p: 1 < y < p - 1.
pub fn public_in_range(p: &[u8], y: &[u8]) -> bool {
    let (p, y) = (strip_leading_zeros(p), strip_leading_zeros(y));
    if y.is_empty() || y == [1] {
        return false;
    }
    let mut pm1 = p.to_vec();
    // p is odd: p - 1 only clears the last bit.
    if let Some(l) = pm1.last_mut() {
        *l &= !1;
    }
    (y.len(), y) < (pm1.len(), &pm1[..])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3526 group 14 (2048-bit MODP), g = 2.
    pub const MODP_2048: &str = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF";

    #[test]
    fn two_parties_agree_and_peers_are_checked() {
        let p = hex::decode(MODP_2048).unwrap();
        let (ya, xa, _) = generate(&p, &[2], 0).unwrap();
        let (yb, xb, xbits) = generate(&p, &[2], 256).unwrap();
        assert!(xbits <= 256 && xbits > 200);
        let a = DhPrivate::new(&p, &[2], &xa).unwrap();
        let b = DhPrivate::new(&p, &[2], &xb).unwrap();
        let (sa, sb) = (a.derive(&yb).unwrap(), b.derive(&ya).unwrap());
        assert_eq!(sa, sb);
        assert_eq!(sa.len(), 256);
        let mut pm1 = p.clone();
        *pm1.last_mut().unwrap() -= 1;
        for bad in [vec![0u8], vec![1], pm1.clone(), p.clone()] {
            assert_eq!(a.derive(&bad).unwrap_err(), CryptoError::InvalidParam);
            assert!(!public_in_range(&p, &bad));
        }
        assert!(public_in_range(&p, &ya));
        assert!(generate(&p[..64], &[2], 0).is_err());
        assert!(generate(&p, &[1], 0).is_err());
    }
}
