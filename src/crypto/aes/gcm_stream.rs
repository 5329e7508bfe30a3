//! Multi-part AES-GCM encryption: [`GcmSealStream`] returns ciphertext for
//! every byte given to [`update`](GcmSealStream::update) and the tag at
//! [`finish`](GcmSealStream::finish), holding only the engine's GCM state
//! (no buffered message).
//!
//! aws-lc-rs's AEAD API is whole-message only, so the stream runs on
//! AWS-LC's EVP GCM (`crypto::ffi::GcmSealStream`); single-part sealing
//! stays on [`Prepared::gcm_seal`]. Both compute the same function (the
//! tests compare them for every chunking). There is no decrypting stream
//! here on purpose: a GCM decryption must not release plaintext before its
//! tag checks, so multi-part decryption collects the message and opens it
//! whole (`mechanism::aes::gcm`).

use super::gcm::{GCM_MAX_INPUT, check_gcm_tag_len};
use super::{GCM_MAX_IV_LEN, Prepared};
use crate::crypto::ffi;
use crate::crypto::{CryptoError, CryptoResult};

/// A GCM encryption in progress. Knows nothing of PKCS#11.
#[derive(Debug)]
pub struct GcmSealStream {
    engine: ffi::GcmSealStream,
    tag_len: usize,
    /// Plaintext bytes encrypted so far (SP 800-38D's limit is checked
    /// before any input is taken).
    processed: u64,
}

impl Prepared {
    /// Starts a multi-part GCM encryption under this key with `iv`
    /// (1..=`GCM_MAX_IV_LEN` bytes), `aad`, and a tag of `tag_len`
    /// (12..=16) bytes.
    pub fn gcm_seal_stream(&self, iv: &[u8], aad: &[u8], tag_len: usize) -> CryptoResult<GcmSealStream> {
        check_gcm_tag_len(tag_len)?;
        if iv.is_empty() || iv.len() > GCM_MAX_IV_LEN {
            return Err(CryptoError::InvalidParam);
        }
        let engine = ffi::GcmSealStream::new(&self.0.key, iv, aad).map_err(|_| CryptoError::Internal)?;
        Ok(GcmSealStream { engine, tag_len, processed: 0 })
    }
}

impl GcmSealStream {
    /// The tag length this stream ends with.
    pub fn tag_len(&self) -> usize {
        self.tag_len
    }

    /// Encrypts `input` into `out` (at least `input.len()` bytes); returns
    /// `input.len()`. Input that would take the message past GCM's length
    /// limit is refused whole (`InvalidLength`), before anything is
    /// encrypted.
    pub fn update(&mut self, input: &[u8], out: &mut [u8]) -> CryptoResult<usize> {
        let total = self.processed.saturating_add(input.len() as u64);
        if total > GCM_MAX_INPUT {
            return Err(CryptoError::InvalidLength);
        }
        if out.len() < input.len() {
            return Err(CryptoError::InvalidLength);
        }
        self.engine.update(input, out).map_err(|_| CryptoError::Internal)?;
        self.processed = total;
        Ok(input.len())
    }

    /// Writes the tag into `out[..tag_len()]`; returns `tag_len()`. The
    /// stream is spent afterwards.
    pub fn finish(&mut self, out: &mut [u8]) -> CryptoResult<usize> {
        let t = self.tag_len;
        let tag = out.get_mut(..t).ok_or(CryptoError::InvalidLength)?;
        self.engine.finish(tag).map_err(|_| CryptoError::Internal)?;
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    /// Seals `pt` in `chunk`-byte updates (0 = one empty update, then all).
    fn streamed(k: &Prepared, iv: &[u8], aad: &[u8], tag_len: usize, pt: &[u8], chunk: usize) -> Vec<u8> {
        let mut s = k.gcm_seal_stream(iv, aad, tag_len).unwrap();
        let mut res = Vec::new();
        let mut out = vec![0u8; pt.len().max(1)];
        let chunks: Vec<&[u8]> = if chunk == 0 { vec![&[][..], pt] } else { pt.chunks(chunk).collect() };
        for part in chunks {
            assert_eq!(s.update(part, &mut out).unwrap(), part.len());
            res.extend_from_slice(&out[..part.len()]);
        }
        let mut tag = [0u8; 16];
        assert_eq!(s.finish(&mut tag).unwrap(), tag_len);
        res.extend_from_slice(&tag[..tag_len]);
        res
    }

    fn oneshot(k: &Prepared, iv: &[u8], aad: &[u8], tag_len: usize, pt: &[u8]) -> Vec<u8> {
        let mut buf = pt.to_vec();
        let mut tag = vec![0u8; tag_len];
        k.gcm_seal(iv, aad, &mut buf, &mut tag).unwrap();
        buf.extend_from_slice(&tag);
        buf
    }

    #[test]
    fn gcm_spec_test_case_4_streamed() {
        // McGrew & Viega, GCM spec test case 4 (AES-128, 60-byte plaintext, AAD).
        let k = Prepared::new(&h("feffe9928665731c6d6a8f9467308308")).unwrap();
        let iv = h("cafebabefacedbaddecaf888");
        let aad = h("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let pt = h(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        );
        let ct = h(
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
        );
        let tag = h("5bc94fbc3221a5db94fae95ae7121a47");
        for chunk in [0, 1, 15, 16, 17, 1000] {
            assert_eq!(streamed(&k, &iv, &aad, 16, &pt, chunk), [&ct[..], &tag[..]].concat(), "chunk {chunk}");
        }
        // Test case 6: the 60-byte IV (GHASH-derived J0).
        let iv6 = h(
            "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b",
        );
        let ct6 = h(
            "8ce24998625615b603a033aca13fb894be9112a5c3a211a8ba262a3cca7e2ca701e4a9a4fba43c90ccdcb281d48c7c6fd62875d2aca417034c34aee5",
        );
        let tag6 = h("619cc5aefffe0bfa462af43c1699d050");
        for chunk in [0, 1, 15, 16, 17, 1000] {
            assert_eq!(streamed(&k, &iv6, &aad, 16, &pt, chunk), [&ct6[..], &tag6[..]].concat(), "tc6 chunk {chunk}");
        }
    }

    #[test]
    fn streamed_equals_oneshot() {
        let pt: Vec<u8> = (0..1000u32).map(|i| (i * 31 + 7) as u8).collect();
        for kl in [16, 24, 32] {
            let k = Prepared::new(&vec![kl as u8; kl]).unwrap();
            for iv_len in [12, 1, 8, 16, 60] {
                let iv: Vec<u8> = (0..iv_len as u8).collect();
                for aad in [&b""[..], b"header", &[0x5a; 33]] {
                    for tag_len in [12, 13, 14, 15, 16] {
                        for len in [0, 1, 15, 16, 17, 999, 1000] {
                            let want = oneshot(&k, &iv, aad, tag_len, &pt[..len]);
                            for chunk in [0, 1, 15, 16, 17, 1000] {
                                let got = streamed(&k, &iv, aad, tag_len, &pt[..len], chunk);
                                assert_eq!(
                                    got,
                                    want,
                                    "key {kl} iv {iv_len} aad {} tag {tag_len} len {len} chunk {chunk}",
                                    aad.len()
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn refusals() {
        let k = Prepared::new(&[1u8; 16]).unwrap();
        assert_eq!(k.gcm_seal_stream(&[0; 12], b"", 11).unwrap_err(), CryptoError::InvalidParam);
        assert_eq!(k.gcm_seal_stream(&[0; 12], b"", 17).unwrap_err(), CryptoError::InvalidParam);
        assert_eq!(k.gcm_seal_stream(&[], b"", 16).unwrap_err(), CryptoError::InvalidParam);
        assert_eq!(k.gcm_seal_stream(&[0; GCM_MAX_IV_LEN + 1], b"", 16).unwrap_err(), CryptoError::InvalidParam);
        let mut s = k.gcm_seal_stream(&[0; 12], b"", 16).unwrap();
        // An output shorter than the input, or past the length limit: refused, nothing taken.
        assert_eq!(s.update(&[0; 4], &mut [0; 3]).unwrap_err(), CryptoError::InvalidLength);
        s.processed = GCM_MAX_INPUT - 2;
        assert_eq!(s.update(&[0; 3], &mut [0; 3]).unwrap_err(), CryptoError::InvalidLength);
        s.processed = 0;
        let mut out = [0u8; 4];
        s.update(b"abcd", &mut out).unwrap();
        assert_eq!(&[&out[..], &s_tag(&mut s)[..]].concat(), &oneshot(&k, &[0; 12], b"", 16, b"abcd"));
        // Spent after finish.
        assert_eq!(s.update(b"x", &mut [0]).unwrap_err(), CryptoError::Internal);
        assert_eq!(s.finish(&mut [0; 16]).unwrap_err(), CryptoError::Internal);
    }

    fn s_tag(s: &mut GcmSealStream) -> [u8; 16] {
        let mut t = [0u8; 16];
        s.finish(&mut t).unwrap();
        t
    }
}
