//! Message digests (SHA-1, SHA-2, SHA-3, MD5), streaming. Knows nothing of
//! PKCS#11. Engine: AWS-LC through `crypto::ffi` (SHA-1/SHA-2/MD5 over
//! their plain context structs, whose state can be exported and imported
//! for C_GetOperationState; SHA-3 over an EVP_MD_CTX, whose state cannot).

use super::ffi::{EvpDigest, Md, RawDigest};
use zeroize::Zeroizing;

/// The digest algorithms offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    Sha3_224,
    Sha3_256,
    Sha3_384,
    Sha3_512,
    /// Legacy (collisions are cheap): digests, HMAC and verification of old
    /// signatures only where the token's policy allows it.
    Md5,
}

/// The longest digest (SHA-512, SHA3-512) in bytes.
pub const MAX_OUTPUT_LEN: usize = 64;

impl Algorithm {
    pub(super) fn md(self) -> Md {
        match self {
            Algorithm::Sha1 => Md::Sha1,
            Algorithm::Sha224 => Md::Sha224,
            Algorithm::Sha256 => Md::Sha256,
            Algorithm::Sha384 => Md::Sha384,
            Algorithm::Sha512 => Md::Sha512,
            Algorithm::Sha3_224 => Md::Sha3_224,
            Algorithm::Sha3_256 => Md::Sha3_256,
            Algorithm::Sha3_384 => Md::Sha3_384,
            Algorithm::Sha3_512 => Md::Sha3_512,
            Algorithm::Md5 => Md::Md5,
        }
    }

    /// Digest length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Algorithm::Md5 => 16,
            Algorithm::Sha1 => 20,
            Algorithm::Sha224 | Algorithm::Sha3_224 => 28,
            Algorithm::Sha256 | Algorithm::Sha3_256 => 32,
            Algorithm::Sha384 | Algorithm::Sha3_384 => 48,
            Algorithm::Sha512 | Algorithm::Sha3_512 => 64,
        }
    }

    /// Block length in bytes (for HMAC; the rate for SHA-3).
    pub fn block_len(self) -> usize {
        match self {
            Algorithm::Md5 | Algorithm::Sha1 | Algorithm::Sha224 | Algorithm::Sha256 => 64,
            Algorithm::Sha384 | Algorithm::Sha512 => 128,
            Algorithm::Sha3_224 => 144,
            Algorithm::Sha3_256 => 136,
            Algorithm::Sha3_384 => 104,
            Algorithm::Sha3_512 => 72,
        }
    }

    /// Whether this is one of the SHA-3 digests.
    pub fn is_sha3(self) -> bool {
        matches!(self, Algorithm::Sha3_224 | Algorithm::Sha3_256 | Algorithm::Sha3_384 | Algorithm::Sha3_512)
    }
}

// Raw (SHA-1/SHA-2/MD5) is the common case; boxing it would add an
// allocation to every digest for the sake of the rarer SHA-3.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Ctx {
    Raw(RawDigest),
    Evp(EvpDigest),
}

/// A running digest.
#[derive(Clone)]
pub struct Hasher {
    alg: Algorithm,
    ctx: Ctx,
}

impl Hasher {
    pub fn new(alg: Algorithm) -> Self {
        let ctx = match RawDigest::new(alg.md()) {
            Some(r) => Ctx::Raw(r),
            None => Ctx::Evp(EvpDigest::new(alg.md())),
        };
        Hasher { alg, ctx }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    pub fn output_len(&self) -> usize {
        self.alg.output_len()
    }

    pub fn update(&mut self, data: &[u8]) {
        match &mut self.ctx {
            Ctx::Raw(r) => r.update(data),
            Ctx::Evp(e) => e.update(data),
        }
    }

    /// Writes the digest into `out[..output_len()]` and returns its length;
    /// the hasher starts over afterwards.
    pub fn finish_into(&mut self, out: &mut [u8]) -> usize {
        match &mut self.ctx {
            Ctx::Raw(r) => r.finish_into(out),
            Ctx::Evp(e) => e.finish_into(out),
        }
    }

    /// The running state as bytes (it holds the pending partial block of
    /// the message, so it is as secret as the message). `None` for SHA-3,
    /// whose engine context is opaque.
    pub fn export_state(&self) -> Option<Zeroizing<Vec<u8>>> {
        match &self.ctx {
            Ctx::Raw(r) => Some(Zeroizing::new(r.export())),
            Ctx::Evp(_) => None,
        }
    }

    /// A hasher of `alg` resumed from [`export_state`](Self::export_state)'s
    /// bytes; `None` if they are not a state of `alg` (wrong length, an
    /// inconsistent block fill or counter).
    pub fn import_state(alg: Algorithm, state: &[u8]) -> Option<Hasher> {
        RawDigest::import(alg.md(), state).map(|r| Hasher { alg, ctx: Ctx::Raw(r) })
    }
}

/// One-shot digest of `data`.
pub fn digest(alg: Algorithm, data: &[u8]) -> Vec<u8> {
    let mut h = Hasher::new(alg);
    h.update(data);
    let mut out = vec![0u8; alg.output_len()];
    h.finish_into(&mut out);
    out
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
            // FIPS 202 examples; RFC 1321 A.5.
            (Algorithm::Sha3_224, "e642824c3f8cf24ad09234ee7d3c766fc9a3a5168d0c94ad73b46fdf"),
            (Algorithm::Sha3_256, "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"),
            (
                Algorithm::Sha3_384,
                "ec01498288516fc926459f58e2c6ad8df9b473cb0fc08c2596da7cf0e49be4b298d88cea927ac7f539f1edf228376d25",
            ),
            (
                Algorithm::Sha3_512,
                "b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e10e116e9192af3c91a7ec57647e3934057340b4cf408d5a56592f8274eec53f0",
            ),
            (Algorithm::Md5, "900150983cd24fb0d6963f7d28e17f72"),
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

    const ALL: [Algorithm; 10] = [
        Algorithm::Sha1,
        Algorithm::Sha224,
        Algorithm::Sha256,
        Algorithm::Sha384,
        Algorithm::Sha512,
        Algorithm::Sha3_224,
        Algorithm::Sha3_256,
        Algorithm::Sha3_384,
        Algorithm::Sha3_512,
        Algorithm::Md5,
    ];

    #[test]
    fn state_export_and_import() {
        let msg: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        for alg in ALL {
            let want = digest(alg, &msg);
            for cut in [0, 1, 55, 64, 111, 128, 129, 999] {
                let mut h = Hasher::new(alg);
                h.update(&msg[..cut]);
                let Some(st) = h.export_state() else {
                    assert!(alg.is_sha3(), "{alg:?} must export its state");
                    continue;
                };
                let mut r = Hasher::import_state(alg, &st).unwrap();
                r.update(&msg[cut..]);
                let mut out = [0u8; MAX_OUTPUT_LEN];
                assert_eq!(r.finish_into(&mut out), alg.output_len());
                assert_eq!(&out[..alg.output_len()], &want[..], "{alg:?} cut {cut}");
                // Wrong length, or another algorithm's state: refused.
                assert!(Hasher::import_state(alg, &st[1..]).is_none());
                let mut longer = st.to_vec();
                longer.push(0);
                assert!(Hasher::import_state(alg, &longer).is_none());
            }
            assert!(Hasher::import_state(alg, &[]).is_none());
        }
        // SHA-224 and SHA-256 (SHA-384 and SHA-512) share a context shape:
        // the output length tells them apart.
        let st = Hasher::new(Algorithm::Sha224).export_state().unwrap();
        assert!(Hasher::import_state(Algorithm::Sha256, &st).is_none());
        let st = Hasher::new(Algorithm::Sha384).export_state().unwrap();
        assert!(Hasher::import_state(Algorithm::Sha512, &st).is_none());
        // A block fill that disagrees with the bit counter, or is too large.
        let mut h = Hasher::new(Algorithm::Sha256);
        h.update(b"abc");
        let mut st = h.export_state().unwrap();
        let num = 32 + 8 + 64;
        assert_eq!(st[num], 3);
        st[num] = 4;
        assert!(Hasher::import_state(Algorithm::Sha256, &st).is_none());
        st[num] = 64;
        assert!(Hasher::import_state(Algorithm::Sha256, &st).is_none());
    }

    #[test]
    fn agrees_with_aws_lc_rs() {
        use aws_lc_rs::digest as lc;
        let msg: Vec<u8> = (0..2000u32).map(|i| (i * 31 + 7) as u8).collect();
        for (alg, e) in [
            (Algorithm::Sha1, &lc::SHA1_FOR_LEGACY_USE_ONLY),
            (Algorithm::Sha224, &lc::SHA224),
            (Algorithm::Sha256, &lc::SHA256),
            (Algorithm::Sha384, &lc::SHA384),
            (Algorithm::Sha512, &lc::SHA512),
            (Algorithm::Sha3_256, &lc::SHA3_256),
            (Algorithm::Sha3_384, &lc::SHA3_384),
            (Algorithm::Sha3_512, &lc::SHA3_512),
        ] {
            for len in [0, 1, 63, 64, 65, 127, 128, 129, 135, 136, 137, 1000, 2000] {
                assert_eq!(digest(alg, &msg[..len]), lc::digest(e, &msg[..len]).as_ref(), "{alg:?} {len}");
            }
            let mut h = Hasher::new(alg);
            let mut c = h.clone();
            h.update(&msg[..700]);
            c.update(&msg[..700]);
            let mut d = h.clone();
            d.update(&msg[700..]);
            c.update(&msg[700..]);
            let (mut a, mut b) = ([0u8; MAX_OUTPUT_LEN], [0u8; MAX_OUTPUT_LEN]);
            let n = d.finish_into(&mut a);
            c.finish_into(&mut b);
            assert_eq!(&a[..n], lc::digest(e, &msg).as_ref(), "{alg:?} clone");
            assert_eq!(a, b);
        }
    }
}
