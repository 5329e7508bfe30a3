//! HMAC with SHA-1, SHA-2, SHA-3 and MD5, streaming, with constant-time
//! verification of full or truncated tags. Knows nothing of PKCS#11.
//! Engine: aws-lc-rs for SHA-1/SHA-2, AWS-LC's HMAC_CTX (`crypto::ffi`) for
//! SHA-3 and MD5, which aws-lc-rs's HMAC lacks.

use super::digest::Algorithm;
use super::ffi::EvpHmac;
use super::{CryptoError, CryptoResult};
use aws_lc_rs::{constant_time, hmac};

fn engine(alg: Algorithm) -> Option<hmac::Algorithm> {
    Some(match alg {
        Algorithm::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        Algorithm::Sha224 => hmac::HMAC_SHA224,
        Algorithm::Sha256 => hmac::HMAC_SHA256,
        Algorithm::Sha384 => hmac::HMAC_SHA384,
        Algorithm::Sha512 => hmac::HMAC_SHA512,
        Algorithm::Sha3_224 | Algorithm::Sha3_256 | Algorithm::Sha3_384 | Algorithm::Sha3_512 | Algorithm::Md5 => {
            return None;
        }
    })
}

// aws-lc-rs's context (SHA-1/SHA-2) is the common case; boxing it would add
// an allocation to every MAC for the sake of the rarer SHA-3/MD5.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Ctx {
    Lc(hmac::Context),
    Evp(EvpHmac),
}

/// A running HMAC computation.
#[derive(Clone)]
pub struct Hmac {
    alg: Algorithm,
    ctx: Ctx,
}

impl std::fmt::Debug for Hmac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hmac({:?})", self.alg)
    }
}

impl Hmac {
    /// Starts an HMAC under `key` (any length, empty included).
    pub fn new(alg: Algorithm, key: &[u8]) -> Hmac {
        let ctx = match engine(alg) {
            Some(e) => Ctx::Lc(hmac::Context::with_key(&hmac::Key::new(e, key))),
            None => Ctx::Evp(EvpHmac::new(alg.md(), key)),
        };
        Hmac { alg, ctx }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// Full tag length in bytes.
    pub fn tag_len(&self) -> usize {
        self.alg.output_len()
    }

    pub fn update(&mut self, data: &[u8]) {
        match &mut self.ctx {
            Ctx::Lc(c) => c.update(data),
            Ctx::Evp(c) => c.update(data),
        }
    }

    /// The full tag into `buf`; returns its length.
    fn tag(self, buf: &mut [u8; 64]) -> usize {
        match self.ctx {
            Ctx::Lc(c) => {
                let t = c.sign();
                let t = t.as_ref();
                buf[..t.len()].copy_from_slice(t);
                t.len()
            }
            Ctx::Evp(c) => {
                let (t, n) = c.finish();
                buf[..n].copy_from_slice(&t[..n]);
                n
            }
        }
    }

    /// Writes the first `out.len()` bytes of the tag (at most `tag_len`)
    /// and returns how many were written.
    pub fn finish_into(self, out: &mut [u8]) -> usize {
        let mut buf = [0u8; 64];
        let len = self.tag(&mut buf);
        let n = out.len().min(len);
        out[..n].copy_from_slice(&buf[..n]);
        n
    }

    /// Compares the tag's first `expected.len()` bytes with `expected` in
    /// constant time. `InvalidLength` for an empty or over-long `expected`,
    /// `AuthFailed` on mismatch.
    pub fn verify(self, expected: &[u8]) -> CryptoResult<()> {
        if expected.is_empty() || expected.len() > self.tag_len() {
            return Err(CryptoError::InvalidLength);
        }
        let mut buf = [0u8; 64];
        let len = self.tag(&mut buf);
        let tag = buf.get(..expected.len().min(len)).ok_or(CryptoError::Internal)?;
        #[allow(deprecated)]
        constant_time::verify_slices_are_equal(tag, expected).map_err(|_| CryptoError::AuthFailed)
    }
}

/// One-shot HMAC tag.
pub fn hmac(alg: Algorithm, key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut h = Hmac::new(alg, key);
    h.update(data);
    let mut out = vec![0u8; h.tag_len()];
    h.finish_into(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4231 test cases 1-4, 6, 7 (case 5 is truncated; checked below).
    // "AA*131" stands for 131 bytes of 0xaa.
    const CASES: &[(&str, &str, [&str; 4])] = &[
        (
            "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
            "4869205468657265",
            [
                "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
                "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
                "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
            ],
        ),
        (
            "4a656665",
            "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
            [
                "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
                "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
            ],
        ),
        (
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
            [
                "7fb3cb3588c6c1f6ffa9694d7d6ad2649365b0c1f65d69d1ec8333ea",
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
                "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b2a5ab39dc13814b94e3ab6e101a34f27",
                "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb",
            ],
        ),
        (
            "0102030405060708090a0b0c0d0e0f10111213141516171819",
            "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
            [
                "6c11506874013cac6a2abc1bb382627cec6a90d86efc012de7afec5a",
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
                "3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e6801dd23c4a7d679ccf8a386c674cffb",
                "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3dba91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd",
            ],
        ),
        (
            "AA*131",
            "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a65204b6579202d2048617368204b6579204669727374",
            [
                "95e9a0db962095adaebe9b2d6f0dbce2d499f112f2d2b7273fa6870e",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
                "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952",
                "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
            ],
        ),
        (
            "AA*131",
            "5468697320697320612074657374207573696e672061206c6172676572207468616e20626c6f636b2d73697a65206b657920616e642061206c6172676572207468616e20626c6f636b2d73697a6520646174612e20546865206b6579206e6565647320746f20626520686173686564206265666f7265206265696e6720757365642062792074686520484d414320616c676f726974686d2e",
            [
                "3a854166ac5d9f023f54d517d0b39dbd946770db9c2b95c9f6f565d1",
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
                "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5a678cc31e799176d3860e6110c46523e",
                "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58",
            ],
        ),
    ];

    const SHA2: [Algorithm; 4] = [Algorithm::Sha224, Algorithm::Sha256, Algorithm::Sha384, Algorithm::Sha512];

    #[test]
    fn rfc4231_vectors() {
        for (key, data, tags) in CASES {
            let key = if *key == "AA*131" { vec![0xaa; 131] } else { hex::decode(key).unwrap() };
            let data = hex::decode(data).unwrap();
            for (alg, tag) in SHA2.iter().zip(tags) {
                assert_eq!(hex::encode(hmac(*alg, &key, &data)), *tag, "{alg:?}");
                // Streaming, byte by byte.
                let mut h = Hmac::new(*alg, &key);
                for b in &data {
                    h.update(std::slice::from_ref(b));
                }
                h.verify(&hex::decode(tag).unwrap()).unwrap();
            }
        }
    }

    #[test]
    fn rfc4231_case5_truncated() {
        let key = [0x0cu8; 20];
        let data = b"Test With Truncation";
        for (alg, tag) in [
            (Algorithm::Sha224, "0e2aea68a90c8d37c988bcdb9fca6fa8"),
            (Algorithm::Sha256, "a3b6167473100ee06e0c796c2955552b"),
            (Algorithm::Sha384, "3abf34c3503b2a23a46efc619baef897"),
            (Algorithm::Sha512, "415fad6271580a531d4179bc891d87a6"),
        ] {
            let mut h = Hmac::new(alg, &key);
            h.update(data);
            let mut out = [0u8; 16];
            assert_eq!(h.clone().finish_into(&mut out), 16);
            assert_eq!(hex::encode(out), tag);
            h.clone().verify(&out).unwrap();
            let mut bad = out;
            bad[15] ^= 1;
            assert_eq!(h.clone().verify(&bad), Err(CryptoError::AuthFailed));
            assert_eq!(h.clone().verify(&[]), Err(CryptoError::InvalidLength));
            assert_eq!(h.verify(&[0u8; 65]), Err(CryptoError::InvalidLength));
        }
    }

    #[test]
    fn sha1_rfc2202() {
        // RFC 2202 test case 2.
        assert_eq!(
            hex::encode(hmac(Algorithm::Sha1, b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }

    #[test]
    fn md5_rfc2202_and_sha3() {
        // RFC 2202 HMAC-MD5 test cases 1, 2 and 6.
        assert_eq!(hex::encode(hmac(Algorithm::Md5, &[0x0b; 16], b"Hi There")), "9294727a3638bb1c13f48ef8158bfc9d");
        assert_eq!(
            hex::encode(hmac(Algorithm::Md5, b"Jefe", b"what do ya want for nothing?")),
            "750c783e6ab0b503eaa86e310a5db738"
        );
        assert_eq!(
            hex::encode(hmac(Algorithm::Md5, &[0xaa; 80], b"Test Using Larger Than Block-Size Key - Hash Key First")),
            "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd"
        );
        // Streaming, truncated verification and the empty key on the EVP path.
        let mut h = Hmac::new(Algorithm::Sha3_256, b"key");
        h.update(b"The quick brown fox ");
        h.update(b"jumps over the lazy dog");
        let full = h.clone().finish_into(&mut [0u8; 64]);
        assert_eq!(full, 32);
        let mut tag = [0u8; 32];
        h.clone().finish_into(&mut tag);
        h.clone().verify(&tag[..10]).unwrap();
        let mut bad = tag;
        bad[0] ^= 1;
        assert_eq!(h.clone().verify(&bad), Err(CryptoError::AuthFailed));
        assert_eq!(h.verify(&[0u8; 33]), Err(CryptoError::InvalidLength));
        assert_eq!(hmac(Algorithm::Sha3_512, b"", b"").len(), 64);
        // HMAC pads the key with zeros: "" and "\0" are one key, "a" another.
        assert_eq!(hmac(Algorithm::Sha3_224, b"", b"x"), hmac(Algorithm::Sha3_224, b"\0", b"x"));
        assert_ne!(hmac(Algorithm::Sha3_224, b"", b"x"), hmac(Algorithm::Sha3_224, b"a", b"x"));
    }
}
