//! HKDF (RFC 5869) as CKM_HKDF_DERIVE / CKM_HKDF_DATA compute it
//! (PKCS#11 3.0 §2.43.x, CK_HKDF_PARAMS): extract, expand, or both, over
//! HMAC from `crypto::hmac` with SHA-1 or SHA-2. The token resolves a
//! CKF_HKDF_SALT_KEY salt to its key's value before calling [`derive`].

use crate::ck::*;
use crate::crypto::digest::Algorithm;
use crate::crypto::hmac::Hmac;
use crate::err;
use crate::error::{Error, Result};
use crate::types::kdf::{Hkdf, HkdfSalt};
use zeroize::Zeroizing;

/// The hash of a prfHashMechanism.
/// SHA-1, SHA-2 and SHA-3; not MD5 (no key derivation on MD5).
pub fn hash(prf: CK_MECHANISM_TYPE) -> Result<Algorithm> {
    crate::mechanism::digest::algorithm(prf)
        .filter(|a| *a != Algorithm::Md5)
        .ok_or_else(|| err!(CKR_MECHANISM_PARAM_INVALID, "HKDF hash 0x{prf:x} not supported (SHA-1, SHA-2, SHA-3)"))
}

/// HKDF-Extract(salt, ikm) = HMAC-Hash(salt, ikm); an empty salt is
/// HashLen zeros (the same HMAC key).
pub fn extract(alg: Algorithm, salt: &[u8], ikm: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut h = Hmac::new(alg, salt);
    h.update(ikm);
    let mut prk = Zeroizing::new(vec![0u8; alg.output_len()]);
    h.finish_into(&mut prk);
    prk
}

/// HKDF-Expand(prk, info, len): T(i) = HMAC-Hash(prk, T(i-1) || info || i).
pub fn expand(alg: Algorithm, prk: &[u8], info: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>> {
    let hl = alg.output_len();
    if len > 255 * hl {
        return Err(err!(CKR_KEY_SIZE_RANGE, "HKDF yields at most {} bytes with this hash", 255 * hl));
    }
    let mut out = Zeroizing::new(Vec::with_capacity(len + hl));
    let mut t = Zeroizing::new(Vec::new());
    let mut i = 1u8;
    while out.len() < len {
        let mut h = Hmac::new(alg, prk);
        h.update(&t);
        h.update(info);
        h.update(&[i]);
        t.resize(hl, 0);
        h.finish_into(&mut t);
        out.extend_from_slice(&t);
        i = i.wrapping_add(1);
    }
    out.truncate(len);
    Ok(out)
}

/// The salt bytes of `p` (`salt_key`: the value of hSaltKey, looked up by
/// the token when the salt type is CKF_HKDF_SALT_KEY).
fn salt<'a>(p: &'a Hkdf, salt_key: Option<&'a [u8]>) -> Result<&'a [u8]> {
    match (&p.salt, salt_key) {
        (HkdfSalt::Null, _) => Ok(&[]),
        (HkdfSalt::Data(d), _) if d.is_empty() => {
            Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "CKF_HKDF_SALT_DATA with no salt"))
        }
        (HkdfSalt::Data(d), _) => Ok(d),
        (HkdfSalt::Key(_), Some(k)) => Ok(k),
        (HkdfSalt::Key(_), None) => Err(Error::general("HKDF salt key not resolved")),
    }
}

/// The derivation: `len` bytes (extract only: the PRK, HashLen bytes, of
/// which the token keeps what the template asks).
pub fn derive(p: &Hkdf, ikm: &[u8], salt_key: Option<&[u8]>, len: usize) -> Result<Zeroizing<Vec<u8>>> {
    let alg = hash(p.prf)?;
    if !p.extract && !p.expand {
        return Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "HKDF with neither bExtract nor bExpand"));
    }
    if !p.expand && !p.info.is_empty() {
        return Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "HKDF info without bExpand"));
    }
    let prk = if p.extract { extract(alg, salt(p, salt_key)?, ikm) } else { Zeroizing::new(ikm.to_vec()) };
    if !p.expand {
        return Ok(prk);
    }
    expand(alg, &prk, &p.info, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// HKDF-SHA3-256 against pyca/cryptography 46 (OpenSSL), RFC 5869
    /// test case 1's IKM with salt "salt" and info "info"; MD5 refused.
    #[test]
    fn sha3_matches_an_independent_implementation() {
        let p = Hkdf {
            extract: true,
            expand: true,
            prf: CKM_SHA3_256,
            salt: HkdfSalt::Data(b"salt".to_vec()),
            info: b"info".to_vec(),
        };
        assert_eq!(
            hex::encode(&*derive(&p, &[0x0b; 22], None, 42).unwrap()),
            "498639760f56ba5c08a6a34b67f27cf469a9773a83019f57b9c4367272387213dbdec5f799bd75a7c349"
        );
        assert_eq!(hash(CKM_MD5).unwrap_err().rv(), CKR_MECHANISM_PARAM_INVALID);
    }

    #[test]
    fn rfc5869_vectors() {
        // RFC 5869 appendix A, test cases 1 (SHA-256) and 4 (SHA-1): PRK and OKM.
        let ikm = [0x0b; 22];
        let salt = h("000102030405060708090a0b0c");
        let info = h("f0f1f2f3f4f5f6f7f8f9");
        let prk = extract(Algorithm::Sha256, &salt, &ikm);
        assert_eq!(hex::encode(&*prk), "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
        assert_eq!(
            hex::encode(&*expand(Algorithm::Sha256, &prk, &info, 42).unwrap()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
        let ikm = [0x0b; 11];
        let prk = extract(Algorithm::Sha1, &salt, &ikm);
        assert_eq!(hex::encode(&*prk), "9b6c18c432a7bf8f0e71c8eb88f4b30baa2ba243");
        assert_eq!(
            hex::encode(&*expand(Algorithm::Sha1, &prk, &info, 42).unwrap()),
            "085a01ea1b10f36933068b56efa5ad81a4f14b822f5b091568a9cdd4f155fda2c22e422478d305f3f896"
        );
        // Test case 3: no salt, no info (SHA-256).
        let p = Hkdf { extract: true, expand: true, prf: CKM_SHA256, salt: HkdfSalt::Null, info: Vec::new() };
        assert_eq!(
            hex::encode(&*derive(&p, &[0x0b; 22], None, 42).unwrap()),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
        );
        assert_eq!(expand(Algorithm::Sha1, &prk, &[], 255 * 20 + 1).unwrap_err().rv(), CKR_KEY_SIZE_RANGE);
        let bad = Hkdf { extract: false, expand: false, ..p.clone() };
        assert_eq!(derive(&bad, &[1], None, 16).unwrap_err().rv(), CKR_MECHANISM_PARAM_INVALID);
        let bad = Hkdf { prf: CKM_AES_CMAC, ..p };
        assert_eq!(derive(&bad, &[1], None, 16).unwrap_err().rv(), CKR_MECHANISM_PARAM_INVALID);
    }
}
