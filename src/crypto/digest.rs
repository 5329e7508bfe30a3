//! Message digests (SHA-1, SHA-2), streaming. Knows nothing of PKCS#11.

use aws_lc_rs::digest;

/// The digest algorithms offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// The longest digest (SHA-512) in bytes.
pub const MAX_OUTPUT_LEN: usize = 64;

impl Algorithm {
    fn engine(self) -> &'static digest::Algorithm {
        match self {
            Algorithm::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Algorithm::Sha224 => &digest::SHA224,
            Algorithm::Sha256 => &digest::SHA256,
            Algorithm::Sha384 => &digest::SHA384,
            Algorithm::Sha512 => &digest::SHA512,
        }
    }

    /// Digest length in bytes.
    pub fn output_len(self) -> usize {
        self.engine().output_len()
    }

    /// Block length in bytes (for HMAC).
    pub fn block_len(self) -> usize {
        self.engine().block_len()
    }
}

/// A running digest.
#[derive(Clone)]
pub struct Hasher {
    alg: Algorithm,
    ctx: digest::Context,
}

impl Hasher {
    pub fn new(alg: Algorithm) -> Self {
        Hasher { alg, ctx: digest::Context::new(alg.engine()) }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    pub fn output_len(&self) -> usize {
        self.alg.output_len()
    }

    pub fn update(&mut self, data: &[u8]) {
        self.ctx.update(data);
    }

    /// Writes the digest into `out[..output_len()]` and returns its length;
    /// the hasher starts over afterwards.
    pub fn finish_into(&mut self, out: &mut [u8]) -> usize {
        let ctx = std::mem::replace(&mut self.ctx, digest::Context::new(self.alg.engine()));
        let d = ctx.finish();
        let d = d.as_ref();
        out[..d.len()].copy_from_slice(d);
        d.len()
    }
}

/// One-shot digest of `data`.
pub fn digest(alg: Algorithm, data: &[u8]) -> Vec<u8> {
    digest::digest(alg.engine(), data).as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abc_vectors() {
        let cases = [
            (Algorithm::Sha1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (Algorithm::Sha224, "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"),
            (Algorithm::Sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (
                Algorithm::Sha384,
                "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
            ),
            (
                Algorithm::Sha512,
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            ),
        ];
        for (alg, want) in cases {
            let want = hex::decode(want).unwrap();
            assert_eq!(alg.output_len(), want.len());
            assert_eq!(digest(alg, b"abc"), want);
            let mut hs = Hasher::new(alg);
            hs.update(b"a");
            hs.update(b"");
            hs.update(b"bc");
            let mut out = [0u8; MAX_OUTPUT_LEN];
            let n = hs.finish_into(&mut out);
            assert_eq!(&out[..n], &want[..]);
            // Starts over after finishing.
            hs.update(b"abc");
            assert_eq!(hs.finish_into(&mut out), n);
            assert_eq!(&out[..n], &want[..]);
        }
    }
}
