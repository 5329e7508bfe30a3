//! CKM_AES_GCM as encrypt/decrypt operations: the parameter check, the
//! streaming encryption and the buffered, authenticate-then-release
//! decryption.
//!
//! Encryption streams (PKCS#11 v2.40 §5.2: Update returns what can be
//! computed): each `C_EncryptUpdate` returns the ciphertext of all its input
//! (GCM is a stream mode, output length = input length) and
//! `C_EncryptFinal` returns the tag (`ulTagBits / 8` bytes); the module
//! holds only the engine's GCM state, whatever the message length. The
//! engine context is made at the first Update, so a single-part `C_Encrypt`
//! never pays for it and stays on the one-shot seal.
//!
//! Decryption does not stream: PKCS#11 gives the tag only as the last bytes
//! of the ciphertext, and releasing plaintext before the tag checks would
//! hand a client unauthenticated data (the GCM caveat: a client that acts on
//! it before Final can be fed forged plaintext). So `C_DecryptUpdate`
//! returns 0 bytes and collects the input (zeroized when dropped), and
//! `C_DecryptFinal` checks the tag and releases the whole plaintext or
//! nothing (`CKR_ENCRYPTED_DATA_INVALID`). The collected input is bounded:
//! a multi-part decryption longer than [`MAX_MULTIPART_DECRYPT`] (ciphertext
//! plus tag) is refused with `CKR_ENCRYPTED_DATA_LEN_RANGE` at the Update
//! that crosses it, which ends the operation. Single-part `C_Decrypt` has no
//! such cap: it decrypts into the caller's buffer and keeps no copy.

use super::Dir;
use crate::ck::*;
use crate::crypto::aes::{self as prim, GcmSealStream, Prepared};
use crate::err;
use crate::error::{Error, Result};
use crate::mechanism::{Buffered, Cipher, WholeMessage};
use crate::types::{MechParam, Mechanism};

/// The longest multi-part GCM decryption (ciphertext and tag, in bytes):
/// 64 MiB. The module holds that much per operation until the tag is
/// checked; larger data belongs in several GCM messages (each with its own
/// IV and tag, as streaming AEAD formats do) or in a single-part call.
pub const MAX_MULTIPART_DECRYPT: usize = 64 << 20;

/// A parsed CK_GCM_PARAMS.
pub(super) struct GcmParams {
    pub iv: Vec<u8>,
    pub aad: Vec<u8>,
    pub tag_len: usize,
}

pub(super) fn gcm_params(mech: &Mechanism) -> Result<GcmParams> {
    let MechParam::Gcm { iv, aad, tag_bits } = &mech.param else {
        return Err(super::param_invalid("CKM_AES_GCM needs CK_GCM_PARAMS"));
    };
    if iv.is_empty() || iv.len() > prim::GCM_MAX_IV_LEN {
        return Err(err!(CKR_MECHANISM_PARAM_INVALID, "GCM IV must be 1..={} bytes", prim::GCM_MAX_IV_LEN));
    }
    let iv = iv.clone();
    if !matches!(*tag_bits, 96 | 104 | 112 | 120 | 128) {
        return Err(super::param_invalid("GCM tag length must be 96, 104, 112, 120 or 128 bits"));
    }
    Ok(GcmParams { iv, aad: aad.clone(), tag_len: *tag_bits as usize / 8 })
}

/// The CKM_AES_GCM operation for `key` in direction `dir`.
pub(super) fn cipher(key: &Prepared, p: GcmParams, dir: Dir) -> Box<dyn Cipher> {
    let whole = GcmOp { key: key.clone(), p, dir };
    match dir {
        Dir::Encrypt => Box::new(GcmEncrypt { whole, state: SealState::Fresh }),
        Dir::Decrypt => Box::new(GcmDecrypt { whole: Buffered::new(whole), taken: 0 }),
    }
}

/// One whole GCM message, on aws-lc-rs's one-shot AEAD (or EVP for IVs
/// other than 96 bits).
struct GcmOp {
    key: Prepared,
    p: GcmParams,
    dir: Dir,
}

impl WholeMessage for GcmOp {
    fn out_bound(&self, n: usize) -> usize {
        match self.dir {
            Dir::Encrypt => n.saturating_add(self.p.tag_len),
            Dir::Decrypt => n.saturating_sub(self.p.tag_len),
        }
    }

    fn run(&self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let n = input.len();
        let t = self.p.tag_len;
        match self.dir {
            Dir::Encrypt => {
                out[..n].copy_from_slice(input);
                let (body, rest) = out.split_at_mut(n);
                self.key.gcm_seal(&self.p.iv, &self.p.aad, body, &mut rest[..t]).map_err(|e| self.dir.map(e))?;
                Ok(n + t)
            }
            Dir::Decrypt => {
                let Some(m) = n.checked_sub(t) else {
                    return Err(Error::new(CKR_ENCRYPTED_DATA_LEN_RANGE, "GCM input shorter than its tag"));
                };
                out[..m].copy_from_slice(&input[..m]);
                self.key.gcm_open(&self.p.iv, &self.p.aad, &mut out[..m], &input[m..]).map_err(|e| self.dir.map(e))?;
                Ok(m)
            }
        }
    }
}

enum SealState {
    /// Nothing done yet: a single-part call or a first Update may come.
    Fresh,
    /// Multi-part: the engine stream, started at the first Update.
    Streaming(GcmSealStream),
    /// Finished (or single-part done): any further call is refused, so an
    /// IV is never used for two messages by one operation.
    Done,
}

/// Streaming GCM encryption (single-part goes to [`GcmOp`]).
struct GcmEncrypt {
    whole: GcmOp,
    state: SealState,
}

impl GcmEncrypt {
    fn stream(&mut self) -> Result<&mut GcmSealStream> {
        if let SealState::Fresh = self.state {
            let p = &self.whole.p;
            let s = self.whole.key.gcm_seal_stream(&p.iv, &p.aad, p.tag_len).map_err(|e| Dir::Encrypt.map(e))?;
            self.state = SealState::Streaming(s);
        }
        match &mut self.state {
            SealState::Streaming(s) => Ok(s),
            _ => Err(Error::new(CKR_OPERATION_NOT_INITIALIZED, "GCM encryption already finished")),
        }
    }
}

impl Cipher for GcmEncrypt {
    fn update_bound(&self, input_len: usize) -> usize {
        input_len
    }
    fn final_bound(&self) -> usize {
        self.whole.p.tag_len
    }
    fn oneshot_bound(&self, input_len: usize) -> usize {
        self.whole.out_bound(input_len)
    }
    fn update(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        self.stream()?.update(input, out).map_err(|e| Dir::Encrypt.map(e))
    }
    fn finalize(&mut self, out: &mut [u8]) -> Result<usize> {
        // A Final without any Update is the empty message (tag only).
        self.stream()?;
        let SealState::Streaming(mut s) = std::mem::replace(&mut self.state, SealState::Done) else {
            return Err(Error::general("GCM stream state lost"));
        };
        s.finish(out).map_err(|e| Dir::Encrypt.map(e))
    }
    fn oneshot(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        if !matches!(self.state, SealState::Fresh) {
            return Err(Error::new(CKR_OPERATION_ACTIVE, "a multi-part GCM encryption is in progress"));
        }
        self.state = SealState::Done;
        self.whole.run(input, out)
    }
}

/// GCM decryption: multi-part input is collected up to
/// [`MAX_MULTIPART_DECRYPT`] and opened at Final.
struct GcmDecrypt {
    whole: Buffered<GcmOp>,
    /// Bytes collected so far.
    taken: usize,
}

impl Cipher for GcmDecrypt {
    fn update_bound(&self, input_len: usize) -> usize {
        self.whole.update_bound(input_len)
    }
    fn final_bound(&self) -> usize {
        self.whole.final_bound()
    }
    fn oneshot_bound(&self, input_len: usize) -> usize {
        self.whole.oneshot_bound(input_len)
    }
    fn update(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let total = self.taken.saturating_add(input.len());
        if total > MAX_MULTIPART_DECRYPT {
            return Err(err!(
                CKR_ENCRYPTED_DATA_LEN_RANGE,
                "multi-part GCM decryption is limited to {MAX_MULTIPART_DECRYPT} bytes (plaintext is released only after the tag checks)"
            ));
        }
        let n = self.whole.update(input, out)?;
        self.taken = total;
        Ok(n)
    }
    fn finalize(&mut self, out: &mut [u8]) -> Result<usize> {
        self.whole.finalize(out)
    }
    fn oneshot(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        self.whole.oneshot(input, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;
    use zeroize::Zeroizing;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    fn mech(iv: &[u8], aad: &[u8], tag_bits: CK_ULONG) -> Mechanism {
        Mechanism { ty: CKM_AES_GCM, param: MechParam::Gcm { iv: iv.to_vec(), aad: aad.to_vec(), tag_bits } }
    }

    fn op(k: &SecretKey, m: &Mechanism, enc: bool) -> Box<dyn Cipher> {
        super::super::cipher(m, k, enc).unwrap()
    }

    fn oneshot(k: &SecretKey, m: &Mechanism, enc: bool, input: &[u8]) -> Result<Vec<u8>> {
        let mut c = op(k, m, enc);
        let mut out = vec![0u8; c.oneshot_bound(input.len())];
        let n = c.oneshot(input, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    /// Multi-part in `chunk`-byte updates (0: an empty update, then all);
    /// asserts each encrypting update returns exactly its input's length.
    fn multi(k: &SecretKey, m: &Mechanism, enc: bool, input: &[u8], chunk: usize) -> Result<Vec<u8>> {
        let mut c = op(k, m, enc);
        let mut res = Vec::new();
        let chunks: Vec<&[u8]> = if chunk == 0 { vec![&[][..], input] } else { input.chunks(chunk).collect() };
        for part in chunks {
            let bound = c.update_bound(part.len());
            let mut out = vec![0u8; bound];
            let n = c.update(part, &mut out)?;
            if enc {
                assert_eq!((bound, n), (part.len(), part.len()), "encrypt update output");
            } else {
                assert_eq!(n, 0, "no plaintext before the tag checks");
            }
            res.extend_from_slice(&out[..n]);
        }
        let mut out = vec![0u8; c.final_bound()];
        let n = c.finalize(&mut out)?;
        res.extend_from_slice(&out[..n]);
        Ok(res)
    }

    fn key(v: &[u8]) -> SecretKey {
        SecretKey::new(Zeroizing::new(v.to_vec()))
    }

    #[test]
    fn gcm_spec_test_cases_3_and_4_multi_part() {
        let k = key(&h("feffe9928665731c6d6a8f9467308308"));
        let iv = h("cafebabefacedbaddecaf888");
        let p = h(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
        );
        let c = h(
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
        );
        let tc3 = [&c[..], &h("4d5c2af327cd64a62cf35abd2ba6fab4")[..]].concat();
        let aad = h("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let tc4 = [&c[..60], &h("5bc94fbc3221a5db94fae95ae7121a47")[..]].concat();
        for chunk in [0, 1, 15, 16, 17, 1000] {
            assert_eq!(multi(&k, &mech(&iv, b"", 128), true, &p, chunk).unwrap(), tc3, "tc3 {chunk}");
            assert_eq!(multi(&k, &mech(&iv, &aad, 128), true, &p[..60], chunk).unwrap(), tc4, "tc4 {chunk}");
            assert_eq!(multi(&k, &mech(&iv, &aad, 96), true, &p[..60], chunk).unwrap(), tc4[..72], "tc4/96 {chunk}");
            assert_eq!(multi(&k, &mech(&iv, &aad, 128), false, &tc4, chunk).unwrap(), &p[..60], "tc4 dec {chunk}");
        }
    }

    #[test]
    fn multi_part_equals_single_part() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 13 + 1) as u8).collect();
        for kl in [16, 24, 32] {
            let k = key(&vec![0x42; kl]);
            for iv in [vec![7u8; 12], vec![7u8; 1], vec![7u8; 16], vec![7u8; 64]] {
                for aad in [&b""[..], b"associated"] {
                    for tag_bits in [96, 104, 112, 120, 128] {
                        let m = mech(&iv, aad, tag_bits);
                        for len in [0, 1, 16, 17, 1000] {
                            let one = oneshot(&k, &m, true, &data[..len]).unwrap();
                            assert_eq!(one.len(), len + tag_bits as usize / 8);
                            for chunk in [0, 1, 15, 16, 17, 1000] {
                                let what = format!("key {kl} iv {} tag {tag_bits} len {len} chunk {chunk}", iv.len());
                                assert_eq!(multi(&k, &m, true, &data[..len], chunk).unwrap(), one, "{what}");
                                assert_eq!(multi(&k, &m, false, &one, chunk).unwrap(), &data[..len], "{what}");
                            }
                            assert_eq!(oneshot(&k, &m, false, &one).unwrap(), &data[..len]);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn final_without_update_is_the_empty_message() {
        let k = key(&[3; 16]);
        let m = mech(&[1; 12], b"aad only", 128);
        let mut c = op(&k, &m, true);
        assert_eq!(c.final_bound(), 16);
        let mut tag = [0u8; 16];
        assert_eq!(c.finalize(&mut tag).unwrap(), 16);
        assert_eq!(tag.to_vec(), oneshot(&k, &m, true, b"").unwrap());
        // Spent: a second final or a single-part call after it is refused.
        assert!(c.finalize(&mut tag).is_err());
        assert_eq!(c.oneshot(b"", &mut tag).unwrap_err().rv(), CKR_OPERATION_ACTIVE);
    }

    #[test]
    fn no_single_part_after_an_update() {
        // The same IV must never seal two messages in one operation.
        let k = key(&[3; 16]);
        let mut c = op(&k, &mech(&[1; 12], b"", 128), true);
        let mut out = [0u8; 32];
        assert_eq!(c.update(b"abc", &mut out).unwrap(), 3);
        assert_eq!(c.oneshot(b"abc", &mut out).unwrap_err().rv(), CKR_OPERATION_ACTIVE);
    }

    #[test]
    fn bad_tag_releases_nothing() {
        let k = key(&[9; 32]);
        let m = mech(&[2; 12], b"hdr", 128);
        let mut ct = oneshot(&k, &m, true, &[0x33; 100]).unwrap();
        *ct.last_mut().unwrap() ^= 1;
        let mut c = op(&k, &m, false);
        let mut out = vec![0xEEu8; 200];
        assert_eq!(c.update(&ct[..50], &mut out).unwrap(), 0);
        assert_eq!(c.update(&ct[50..], &mut out).unwrap(), 0);
        assert_eq!(c.finalize(&mut out).unwrap_err().rv(), CKR_ENCRYPTED_DATA_INVALID);
        assert!(!out.windows(4).any(|w| w == [0x33; 4]), "no plaintext left in the output buffer");
    }

    #[test]
    fn multi_part_decryption_is_capped() {
        let k = key(&[5; 16]);
        let m = mech(&[4; 12], b"", 128);
        // Exactly the cap: accepted (and the tag of this all-zero input fails).
        let mut c = op(&k, &m, false);
        let big = vec![0u8; MAX_MULTIPART_DECRYPT - 1];
        assert_eq!(c.update(&big, &mut []).unwrap(), 0);
        assert_eq!(c.update(&[0], &mut []).unwrap(), 0);
        // One byte more: refused.
        assert_eq!(c.update(&[0], &mut []).unwrap_err().rv(), CKR_ENCRYPTED_DATA_LEN_RANGE);
        // Single-part is not capped by it.
        let pt = vec![0x11u8; MAX_MULTIPART_DECRYPT];
        let ct = oneshot(&k, &m, true, &pt).unwrap();
        assert_eq!(oneshot(&k, &m, false, &ct).unwrap(), pt);
    }
}
