//! AES-CMAC (NIST SP 800-38B, RFC 4493), streaming, with constant-time
//! verification of full or truncated tags. Knows nothing of PKCS#11.
//! Engine: aws-lc-rs (`aws_lc_rs::cmac`).

use super::{CryptoError, CryptoResult};
use aws_lc_rs::{cmac, constant_time};

/// The AES-CMAC tag length in bytes (one AES block).
pub const TAG_LEN: usize = 16;

/// A running AES-CMAC computation.
pub struct Cmac {
    ctx: cmac::Context,
}

impl std::fmt::Debug for Cmac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cmac")
    }
}

impl Cmac {
    /// Starts an AES-CMAC under an AES key of 16, 24 or 32 bytes
    /// (`InvalidKey` otherwise).
    pub fn new(key: &[u8]) -> CryptoResult<Cmac> {
        let alg = match key.len() {
            16 => cmac::AES_128,
            24 => cmac::AES_192,
            32 => cmac::AES_256,
            _ => return Err(CryptoError::InvalidKey),
        };
        let k = cmac::Key::new(alg, key).map_err(|_| CryptoError::InvalidKey)?;
        Ok(Cmac { ctx: cmac::Context::with_key(&k) })
    }

    pub fn update(&mut self, data: &[u8]) -> CryptoResult<()> {
        self.ctx.update(data).map_err(|_| CryptoError::Internal)
    }

    /// Writes the first `out.len()` bytes of the tag (at most `TAG_LEN`)
    /// and returns how many were written.
    pub fn finish_into(self, out: &mut [u8]) -> CryptoResult<usize> {
        let tag = self.ctx.sign().map_err(|_| CryptoError::Internal)?;
        let tag = tag.as_ref();
        let n = out.len().min(tag.len());
        out[..n].copy_from_slice(&tag[..n]);
        Ok(n)
    }

    /// Compares the tag's first `expected.len()` bytes with `expected` in
    /// constant time. `InvalidLength` for an empty or over-long `expected`,
    /// `AuthFailed` on mismatch.
    pub fn verify(self, expected: &[u8]) -> CryptoResult<()> {
        if expected.is_empty() || expected.len() > TAG_LEN {
            return Err(CryptoError::InvalidLength);
        }
        let tag = self.ctx.sign().map_err(|_| CryptoError::Internal)?;
        let tag = tag.as_ref().get(..expected.len()).ok_or(CryptoError::Internal)?;
        #[allow(deprecated)]
        constant_time::verify_slices_are_equal(tag, expected).map_err(|_| CryptoError::AuthFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &str = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";

    fn tag(key: &str, msg: &[u8]) -> String {
        let mut c = Cmac::new(&hex::decode(key).unwrap()).unwrap();
        c.update(msg).unwrap();
        let mut out = [0u8; TAG_LEN];
        assert_eq!(c.finish_into(&mut out).unwrap(), TAG_LEN);
        hex::encode(out)
    }

    #[test]
    fn rfc4493_and_sp800_38b_vectors() {
        let msg = hex::decode(MSG).unwrap();
        for (key, len, want) in [
            // RFC 4493 section 4, examples 1-4 (AES-128).
            ("2b7e151628aed2a6abf7158809cf4f3c", 0, "bb1d6929e95937287fa37d129b756746"),
            ("2b7e151628aed2a6abf7158809cf4f3c", 16, "070a16b46b4d4144f79bdd9dd04a287c"),
            ("2b7e151628aed2a6abf7158809cf4f3c", 40, "dfa66747de9ae63030ca32611497c827"),
            ("2b7e151628aed2a6abf7158809cf4f3c", 64, "51f0bebf7e3b9d92fc49741779363cfe"),
            // NIST SP 800-38B appendix D.3 (AES-256), examples 9-12.
            ("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", 0, "028962f61b7bf89efc6b551f4667d983"),
            (
                "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
                16,
                "28a7023f452e8f82bd4bf28d8c37c35c",
            ),
            (
                "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
                40,
                "aaf3d8f1de5640c232f5b169b9c911e6",
            ),
            (
                "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
                64,
                "e1992190549f6ed5696a2c056c315410",
            ),
        ] {
            assert_eq!(tag(key, &msg[..len]), want, "{key} {len}");
            // Streaming, byte by byte, verified in full and truncated.
            let k = hex::decode(key).unwrap();
            let mut c = Cmac::new(&k).unwrap();
            for b in &msg[..len] {
                c.update(std::slice::from_ref(b)).unwrap();
            }
            c.verify(&hex::decode(want).unwrap()).unwrap();
            let mut c = Cmac::new(&k).unwrap();
            c.update(&msg[..len]).unwrap();
            c.verify(&hex::decode(&want[..8]).unwrap()).unwrap();
        }
    }

    #[test]
    fn bad_keys_and_tags() {
        assert_eq!(Cmac::new(&[0u8; 15]).unwrap_err(), CryptoError::InvalidKey);
        assert_eq!(Cmac::new(&[]).unwrap_err(), CryptoError::InvalidKey);
        let k = hex::decode("2b7e151628aed2a6abf7158809cf4f3c").unwrap();
        let mut good = hex::decode("bb1d6929e95937287fa37d129b756746").unwrap();
        assert_eq!(Cmac::new(&k).unwrap().verify(&[]), Err(CryptoError::InvalidLength));
        assert_eq!(Cmac::new(&k).unwrap().verify(&[0u8; 17]), Err(CryptoError::InvalidLength));
        good[15] ^= 1;
        assert_eq!(Cmac::new(&k).unwrap().verify(&good), Err(CryptoError::AuthFailed));
    }
}
