//! The key-derivation functions applied to an ECDH shared secret `Z`:
//! ANSI X9.63 (SEC 1 §3.6.1) and the NIST SP 800-56C one-step KDF with a
//! hash as its auxiliary function (§4.1, option 1). Both are hash
//! constructions over `crypto::digest` (any algorithm it offers), checked
//! against published vectors. Knows nothing of PKCS#11.
//!
//! - X9.63: `K(i) = H(Z || counter_i || SharedInfo)`,
//! - SP 800-56C: `K(i) = H(counter_i || Z || FixedInfo)`,
//!
//! each with a 32-bit big-endian counter from 1, the output the first
//! `len` bytes of `K(1) || K(2) || ...`.

use super::digest::{Algorithm, Hasher, MAX_OUTPUT_LEN};
use super::{CryptoError, CryptoResult};
use zeroize::Zeroizing;

/// Which construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kdf {
    /// ANSI X9.63 / SEC 1: the counter after `Z`.
    X963,
    /// SP 800-56C rev. 2 one-step, hash option: the counter before `Z`.
    Sp800_56c,
}

/// The longest output accepted: far more than any key (the counter limit,
/// `(2^32 - 1)` hash outputs, is never near).
pub const MAX_LEN: usize = 4096;

/// Derives `len` bytes from the shared secret `z` and the shared (fixed)
/// info. `InvalidLength` for 0 or more than [`MAX_LEN`] bytes.
pub fn derive(kdf: Kdf, alg: Algorithm, z: &[u8], info: &[u8], len: usize) -> CryptoResult<Zeroizing<Vec<u8>>> {
    if len == 0 || len > MAX_LEN {
        return Err(CryptoError::InvalidLength);
    }
    let mut out = Zeroizing::new(Vec::with_capacity(len + MAX_OUTPUT_LEN));
    let mut block = Zeroizing::new([0u8; MAX_OUTPUT_LEN]);
    let mut counter: u32 = 1;
    while out.len() < len {
        let mut h = Hasher::new(alg);
        let c = counter.to_be_bytes();
        match kdf {
            Kdf::X963 => {
                h.update(z);
                h.update(&c);
            }
            Kdf::Sp800_56c => {
                h.update(&c);
                h.update(z);
            }
        }
        h.update(info);
        let n = h.finish_into(&mut block[..]);
        out.extend_from_slice(&block[..n]);
        counter = counter.checked_add(1).ok_or(CryptoError::InvalidLength)?;
    }
    out.truncate(len);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NIST CAVP's ansx963_2001 vectors (as the `cryptography_vectors`
    /// package ships them, KDF/ansx963_2001.txt): every case.
    #[test]
    fn x963_cavp_vectors() {
        let text = include_str!("../../tests/data/ansx963_2001.txt");
        let mut alg = None;
        let mut key_bits = 0usize;
        let (mut z, mut info) = (Vec::new(), Vec::new());
        let mut checked = 0;
        for line in text.lines().map(str::trim) {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                match name {
                    "SHA-1" => alg = Some(Algorithm::Sha1),
                    "SHA-224" => alg = Some(Algorithm::Sha224),
                    "SHA-256" => alg = Some(Algorithm::Sha256),
                    "SHA-384" => alg = Some(Algorithm::Sha384),
                    "SHA-512" => alg = Some(Algorithm::Sha512),
                    _ => {
                        if let Some(b) = name.strip_prefix("key data length = ") {
                            key_bits = b.parse().unwrap();
                        }
                    }
                }
            } else if let Some(v) = line.strip_prefix("Z = ") {
                z = hex::decode(v).unwrap();
            } else if let Some(v) = line.strip_prefix("SharedInfo =") {
                info = hex::decode(v.trim()).unwrap();
            } else if let Some(v) = line.strip_prefix("key_data = ") {
                let want = hex::decode(v).unwrap();
                assert_eq!(want.len() * 8, key_bits);
                let got = derive(Kdf::X963, alg.unwrap(), &z, &info, want.len()).unwrap();
                assert_eq!(&got[..], &want[..], "{alg:?} Z={}", hex::encode(&z));
                checked += 1;
            }
        }
        assert_eq!(checked, 100);
    }

    /// SP 800-56C one-step with SHA-256: the cryptoki crate's
    /// `derive_key_sp800` case (an X25519 secret; Z computed by RFC 7748
    /// from its keys, the output from the Python `cryptography` package's
    /// ConcatKDFHash, which implements SP 800-56C one-step).
    #[test]
    fn sp800_56c_vector() {
        use crate::crypto::okp::{Okp, OkpPrivate};
        let k = OkpPrivate::from_bytes(
            Okp::X25519,
            &hex::decode("F00670C5F139E7E6C2511EA04FF507AFBBE237CE3C71A89CA59A1C5CF8856562").unwrap(),
        )
        .unwrap();
        let peer = hex::decode("533B3F09E53B3DEED661A13F7A7D9694AB71CE156C728E00DEE87A1EE3A14C4A").unwrap();
        let z = k.agree(&peer).unwrap();
        let info = hex::decode("0A2B0601040197550105011203010807416E6F6E796D6F75732053656E646572202020205633A4C5AE4305BC0FE2ABB699A8EE54632790A0").unwrap();
        let got = derive(Kdf::Sp800_56c, Algorithm::Sha256, &z, &info, 16).unwrap();
        assert_eq!(hex::encode(&got[..]), "af8ce51d0139a6d60831a9babab20186");
    }

    #[test]
    fn lengths() {
        for kdf in [Kdf::X963, Kdf::Sp800_56c] {
            assert_eq!(derive(kdf, Algorithm::Sha256, b"z", b"", 0).err(), Some(CryptoError::InvalidLength));
            assert_eq!(derive(kdf, Algorithm::Sha256, b"z", b"", MAX_LEN + 1).err(), Some(CryptoError::InvalidLength));
            let long = derive(kdf, Algorithm::Sha1, b"z", b"i", 100).unwrap();
            assert_eq!(long.len(), 100);
            // A prefix property: shorter outputs are prefixes of longer ones.
            assert_eq!(&derive(kdf, Algorithm::Sha1, b"z", b"i", 30).unwrap()[..], &long[..30]);
        }
        // The two constructions differ.
        assert_ne!(
            derive(Kdf::X963, Algorithm::Sha256, b"z", b"", 32).unwrap(),
            derive(Kdf::Sp800_56c, Algorithm::Sha256, b"z", b"", 32).unwrap()
        );
    }
}
