//! The PKCS#11 3.0 message-based AEAD (C_MessageEncryptInit ...
//! C_MessageDecryptFinal) for CKM_AES_GCM (CK_GCM_MESSAGE_PARAMS) and
//! CKM_CHACHA20_POLY1305 (CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS): one
//! [`MessageCipher`] per operation, many messages under one key.
//!
//! IVs (GCM encryption). The first message of an operation settles the
//! generator, `ulIvFixedBits`, the IV length and the fixed bits (the
//! leftmost `ulIvFixedBits` of the caller's `pIv`); a later message that
//! names another generator, fixed-bit count, length or fixed part is
//! `CKR_MECHANISM_PARAM_INVALID`, so no mix of generators can repeat an IV
//! inside the operation. With `m = min(free bits, 64)`:
//! - `CKG_GENERATE` and `CKG_GENERATE_COUNTER`: the free bits are drawn at
//!   random once per operation; the low `m` bits then count up from that
//!   random start, message by message, and the operation refuses the
//!   message after `2^m` (no counter value comes back). The random start
//!   keeps two operations with the same fixed part apart.
//! - `CKG_GENERATE_COUNTER_XOR`: the first message's whole IV is the base;
//!   message `k` uses `base XOR k` in the low `m` bits (TLS 1.3 style).
//! - `CKG_GENERATE_RANDOM`: fresh random free bits for every message; at
//!   least 64 free bits are required and at most 2^32 messages per
//!   operation (SP 800-38D §8.3).
//! - `CKG_NO_GENERATE`: the caller's IV, as `C_EncryptInit` with
//!   CK_GCM_PARAMS takes it (the caller's risk, the same as there; the
//!   cryptoki and Wycheproof suites use it). ChaCha20-Poly1305's message
//!   parameter has no generator: its nonce is always the caller's. Both
//!   are refused for encryption when the token's `[policy]
//!   allow_caller_message_iv` is off (the strict profile), so that every
//!   message IV is the token's.
//!
//! The IV used is handed back in the parameter (the C boundary writes it
//! into the caller's `pIv`), as is the tag (`pTag`). A length query or a
//! too-small buffer draws no IV.
//!
//! Decryption never releases plaintext before the tag checks: a
//! C_DecryptMessageNext returns nothing until the part flagged
//! `CKF_END_OF_MESSAGE`, which opens the collected message (at most
//! [`MAX_MESSAGE_PARTS`] bytes) against the tag in that call's parameter.
//! Multi-part GCM encryption streams (each Next returns its ciphertext);
//! multi-part ChaCha20-Poly1305 encryption is collected and sealed at the
//! end (the engine's AEAD is whole-message).
//!
//! An error ends the message in progress, not the operation: the key stays
//! initialized until C_Message*Final or a cancel.

use crate::ck::*;
use crate::crypto::aes::{GCM_MAX_IV_LEN, GcmSealStream, Prepared};
use crate::crypto::chacha::{self, ChaChaKey};
use crate::crypto::{CryptoError, SecretKey};
use crate::err;
use crate::error::{Error, Result};
use crate::types::{MessageKind, MessageParam};
use std::sync::Arc;
use zeroize::Zeroizing;

/// The longest multi-part message collected before it is opened (or, for
/// ChaCha20-Poly1305, sealed): 64 MiB, as multi-part GCM decryption.
pub const MAX_MESSAGE_PARTS: usize = 64 << 20;

/// Messages one `CKG_GENERATE_RANDOM` operation may encrypt.
const MAX_RANDOM_MESSAGES: u64 = 1 << 32;

enum Key {
    Gcm(Prepared),
    ChaCha(Arc<ChaChaKey>),
}

/// The IV generator of an operation, settled by its first message.
struct IvGen {
    generator: CK_ULONG,
    fixed_bits: CK_ULONG,
    /// The first message's IV after settling (counter: free bits drawn).
    base: Vec<u8>,
    /// Low bits that change from message to message (<= 64).
    m: u32,
    /// Counter start (CKG_GENERATE / CKG_GENERATE_COUNTER).
    start: u64,
    /// Messages encrypted so far.
    count: u64,
}

/// A multi-part message between Begin and the end of its last Next.
struct Current {
    iv: Vec<u8>,
    aad: Vec<u8>,
    tag_len: usize,
    stream: Option<GcmSealStream>,
    /// Collected input (decryption; ChaCha20-Poly1305 encryption).
    buf: Zeroizing<Vec<u8>>,
}

/// One message-based encryption or decryption operation.
pub struct MessageCipher {
    key: Key,
    encrypt: bool,
    /// Encryption may take the caller's IV (`[policy]
    /// allow_caller_message_iv`, decided by the token).
    caller_iv: bool,
    ivgen: Option<IvGen>,
    current: Option<Current>,
}

fn param_invalid(why: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::new(CKR_MECHANISM_PARAM_INVALID, why)
}

fn map(encrypt: bool, e: CryptoError) -> Error {
    match e {
        CryptoError::AuthFailed => Error::new(CKR_ENCRYPTED_DATA_INVALID, "message failed its tag check"),
        CryptoError::InvalidLength if encrypt => Error::new(CKR_DATA_LEN_RANGE, "message too long for the AEAD"),
        CryptoError::InvalidLength => Error::new(CKR_ENCRYPTED_DATA_LEN_RANGE, "message too long for the AEAD"),
        CryptoError::InvalidParam => param_invalid("message parameter not usable"),
        CryptoError::InvalidKey => Error::new(CKR_KEY_SIZE_RANGE, "key size does not fit the mechanism"),
        CryptoError::Internal => Error::general("AEAD engine failure"),
    }
}

/// Whether bit `i` (0 = least significant bit of the last byte) of `iv`.
fn bit(iv: &[u8], i: u32) -> bool {
    let byte = iv.len() - 1 - (i / 8) as usize;
    iv[byte] >> (i % 8) & 1 == 1
}

fn set_bit(iv: &mut [u8], i: u32, v: bool) {
    let byte = iv.len() - 1 - (i / 8) as usize;
    let mask = 1u8 << (i % 8);
    if v { iv[byte] |= mask } else { iv[byte] &= !mask }
}

/// The low `m` (<= 64) bits of `iv` as a number.
fn low_bits(iv: &[u8], m: u32) -> u64 {
    (0..m).fold(0u64, |acc, i| acc | (u64::from(bit(iv, i)) << i))
}

/// Writes `v` into the low `m` (<= 64) bits of `iv`.
fn set_low_bits(iv: &mut [u8], m: u32, v: u64) {
    for i in 0..m {
        set_bit(iv, i, v >> i & 1 == 1);
    }
}

/// Replaces the low `free` bits of `iv` with random bits.
fn randomize_low_bits(iv: &mut [u8], free: u32) -> Result<()> {
    let mut r = vec![0u8; iv.len()];
    crate::crypto::random_fill(&mut r).map_err(|_| Error::general("rng failed"))?;
    for i in 0..free {
        set_bit(iv, i, bit(&r, i));
    }
    Ok(())
}

/// Whether the leftmost `fixed` bits of `a` and `b` agree.
fn same_fixed(a: &[u8], b: &[u8], fixed: CK_ULONG) -> bool {
    let total = a.len() as u32 * 8;
    a.len() == b.len() && (total.saturating_sub(fixed as u32)..total).all(|i| bit(a, i) == bit(b, i))
}

impl IvGen {
    fn new(p: &MessageParam) -> Result<IvGen> {
        let total = p.iv.len() as u64 * 8;
        if p.iv_fixed_bits > total {
            return Err(param_invalid("ulIvFixedBits exceeds the IV"));
        }
        let free = (total - p.iv_fixed_bits) as u32;
        if free == 0 {
            return Err(param_invalid("an IV generator needs free (non-fixed) IV bits"));
        }
        let m = free.min(64);
        let mut base = p.iv.clone();
        let start = match p.generator {
            CKG_GENERATE | CKG_GENERATE_COUNTER => {
                randomize_low_bits(&mut base, free)?;
                low_bits(&base, m)
            }
            CKG_GENERATE_COUNTER_XOR => 0,
            CKG_GENERATE_RANDOM if free < 64 => {
                return Err(param_invalid("CKG_GENERATE_RANDOM needs at least 64 free IV bits"));
            }
            CKG_GENERATE_RANDOM => 0,
            g => return Err(err!(CKR_MECHANISM_PARAM_INVALID, "unknown IV generator {g}")),
        };
        Ok(IvGen { generator: p.generator, fixed_bits: p.iv_fixed_bits, base, m, start, count: 0 })
    }

    fn limit(&self) -> u64 {
        match self.generator {
            CKG_GENERATE_RANDOM => MAX_RANDOM_MESSAGES,
            _ if self.m == 64 => u64::MAX,
            _ => 1u64 << self.m,
        }
    }

    /// The next IV.
    fn next(&mut self) -> Result<Vec<u8>> {
        if self.count >= self.limit() {
            return Err(Error::new(
                CKR_FUNCTION_FAILED,
                "the IV generator of this operation is exhausted: start a new operation (C_MessageEncryptInit)",
            ));
        }
        let k = self.count;
        let mut iv = self.base.clone();
        let mask = if self.m == 64 { u64::MAX } else { (1u64 << self.m) - 1 };
        match self.generator {
            CKG_GENERATE_COUNTER_XOR => set_low_bits(&mut iv, self.m, low_bits(&self.base, self.m) ^ k),
            CKG_GENERATE_RANDOM => {
                let free = (iv.len() as u64 * 8 - self.fixed_bits) as u32;
                randomize_low_bits(&mut iv, free)?;
            }
            _ => set_low_bits(&mut iv, self.m, self.start.wrapping_add(k) & mask),
        }
        self.count += 1;
        Ok(iv)
    }
}

impl MessageCipher {
    /// The operation for `mech` (CKM_AES_GCM or CKM_CHACHA20_POLY1305) on
    /// `key`. The token has checked the key's type and usage.
    /// `caller_iv`: whether an encryption may take the caller's IV
    /// (CKG_NO_GENERATE, ChaCha20-Poly1305's nonce).
    pub fn new(mech: CK_MECHANISM_TYPE, key: &SecretKey, encrypt: bool, caller_iv: bool) -> Result<MessageCipher> {
        let key = match mech {
            CKM_AES_GCM => Key::Gcm(
                key.aes().map_err(|_| err!(CKR_KEY_SIZE_RANGE, "AES key of {} bytes", key.bytes().len()))?.clone(),
            ),
            CKM_CHACHA20_POLY1305 => Key::ChaCha(Arc::new(super::chacha::key(key)?)),
            _ => {
                return Err(err!(CKR_MECHANISM_INVALID, "mechanism 0x{mech:x} has no message-based form"));
            }
        };
        Ok(MessageCipher { key, encrypt, caller_iv, ivgen: None, current: None })
    }

    /// Checks `p` against the mechanism (structure, IV and tag lengths).
    fn check(&self, p: &MessageParam) -> Result<()> {
        match (&self.key, p.kind) {
            (Key::Gcm(_), MessageKind::Gcm) => {
                if p.iv.is_empty() || p.iv.len() > GCM_MAX_IV_LEN {
                    return Err(err!(CKR_MECHANISM_PARAM_INVALID, "GCM IV must be 1..={GCM_MAX_IV_LEN} bytes"));
                }
                if !matches!(p.tag_len, 12..=16) {
                    return Err(param_invalid("GCM tag length must be 96, 104, 112, 120 or 128 bits"));
                }
            }
            (Key::ChaCha(_), MessageKind::ChaCha) => {
                if p.iv.len() != chacha::NONCE_LEN {
                    return Err(param_invalid("ChaCha20-Poly1305 nonce must be 96 bits"));
                }
            }
            _ => return Err(param_invalid("message parameter structure does not match the mechanism")),
        }
        if !self.encrypt && p.tag.len() != p.tag_len {
            return Err(param_invalid("tag missing"));
        }
        Ok(())
    }

    /// The IV for the next message (encryption), written into `p.iv`.
    fn settle_iv(&mut self, p: &mut MessageParam) -> Result<()> {
        if !self.encrypt {
            return Ok(());
        }
        let caller = p.kind == MessageKind::ChaCha || p.generator == CKG_NO_GENERATE;
        if caller && !self.caller_iv {
            return Err(param_invalid(
                "refused by policy rule allow_caller_message_iv: the token generates message IVs (use a CKG_GENERATE* generator)",
            ));
        }
        if p.kind == MessageKind::ChaCha {
            return Ok(());
        }
        match &mut self.ivgen {
            None if p.generator == CKG_NO_GENERATE => {}
            None => {
                let mut g = IvGen::new(p)?;
                p.iv = g.next()?;
                self.ivgen = Some(g);
            }
            // A caller IV after generated ones (or the reverse) is refused
            // here too: the generator differs.
            Some(g) => {
                if g.generator != p.generator
                    || g.fixed_bits != p.iv_fixed_bits
                    || !same_fixed(&g.base, &p.iv, g.fixed_bits)
                {
                    return Err(param_invalid(
                        "the IV generator, ulIvFixedBits, IV length and fixed bits are settled by the operation's first message",
                    ));
                }
                p.iv = g.next()?;
            }
        }
        Ok(())
    }

    fn seal(&self, iv: &[u8], aad: &[u8], buf: &mut [u8], tag: &mut [u8]) -> Result<()> {
        match &self.key {
            Key::Gcm(k) => k.gcm_seal(iv, aad, buf, tag).map_err(|e| map(true, e)),
            Key::ChaCha(k) => {
                let mut t = [0u8; chacha::TAG_LEN];
                k.seal(iv, aad, buf, &mut t).map_err(|e| map(true, e))?;
                tag.copy_from_slice(&t);
                Ok(())
            }
        }
    }

    fn open(&self, iv: &[u8], aad: &[u8], buf: &mut [u8], tag: &[u8]) -> Result<()> {
        match &self.key {
            Key::Gcm(k) => k.gcm_open(iv, aad, buf, tag).map_err(|e| map(false, e)),
            Key::ChaCha(k) => k.open(iv, aad, buf, tag).map_err(|e| map(false, e)),
        }
    }

    /// Output bytes of a single-part message of `n` bytes (the tag goes to
    /// the parameter).
    pub fn message_bound(&self, n: usize) -> usize {
        n
    }

    /// C_EncryptMessage / C_DecryptMessage: one whole message into `out`
    /// (`out.len() >= input.len()`).
    pub fn message(&mut self, p: &mut MessageParam, aad: &[u8], input: &[u8], out: &mut [u8]) -> Result<usize> {
        if self.current.is_some() {
            return Err(Error::new(CKR_OPERATION_ACTIVE, "a multi-part message is in progress"));
        }
        self.check(p)?;
        let n = input.len();
        let body = &mut out[..n];
        body.copy_from_slice(input);
        if self.encrypt {
            self.settle_iv(p)?;
            let mut tag = vec![0u8; p.tag_len];
            self.seal(&p.iv, aad, body, &mut tag)?;
            p.tag = tag;
        } else {
            self.open(&p.iv, aad, body, &p.tag)?;
        }
        Ok(n)
    }

    /// C_EncryptMessageBegin / C_DecryptMessageBegin.
    pub fn begin(&mut self, p: &mut MessageParam, aad: &[u8]) -> Result<()> {
        if self.current.is_some() {
            return Err(Error::new(CKR_OPERATION_ACTIVE, "a multi-part message is in progress"));
        }
        // The tag of a decryption comes with the last part.
        let mut q = p.clone();
        if !self.encrypt {
            q.tag = vec![0; q.tag_len];
        }
        self.check(&q)?;
        self.settle_iv(p)?;
        let stream = match (&self.key, self.encrypt) {
            (Key::Gcm(k), true) => Some(k.gcm_seal_stream(&p.iv, aad, p.tag_len).map_err(|e| map(true, e))?),
            _ => None,
        };
        self.current = Some(Current {
            iv: p.iv.clone(),
            aad: aad.to_vec(),
            tag_len: p.tag_len,
            stream,
            buf: Zeroizing::default(),
        });
        Ok(())
    }

    /// Drops the multi-part message in progress, if any (an error the C
    /// boundary found in a Next's arguments).
    pub fn abandon_message(&mut self) {
        self.current = None;
    }

    /// Output bytes that suffice for a Next of `n` bytes (`end`: the last).
    pub fn next_bound(&self, n: usize, end: bool) -> usize {
        match &self.current {
            Some(c) if c.stream.is_some() => n,
            Some(c) if end => c.buf.len().saturating_add(n),
            _ => 0,
        }
    }

    /// C_EncryptMessageNext / C_DecryptMessageNext. The IV used goes back
    /// into `p.iv`; at the end an encryption's tag into `p.tag`, and a
    /// decryption checks the tag `p.tag` holds.
    pub fn next(&mut self, p: &mut MessageParam, input: &[u8], out: &mut [u8], end: bool) -> Result<usize> {
        let r = self.next_inner(p, input, out, end);
        if r.is_err() || end {
            self.current = None;
        }
        r
    }

    fn next_inner(&mut self, p: &mut MessageParam, input: &[u8], out: &mut [u8], end: bool) -> Result<usize> {
        let encrypt = self.encrypt;
        let Some(c) = self.current.as_mut() else {
            return Err(Error::new(CKR_OPERATION_NOT_INITIALIZED, "no message begun (C_*MessageBegin)"));
        };
        if p.tag_len != c.tag_len || (!encrypt && end && p.tag.len() != c.tag_len) {
            return Err(param_invalid("the tag length is settled at Begin"));
        }
        p.iv = c.iv.clone();
        if let Some(s) = c.stream.as_mut() {
            let n = s.update(input, out).map_err(|e| map(true, e))?;
            if end {
                let mut tag = vec![0u8; c.tag_len];
                s.finish(&mut tag).map_err(|e| map(true, e))?;
                p.tag = tag;
            }
            return Ok(n);
        }
        let total = c.buf.len().saturating_add(input.len());
        if total > MAX_MESSAGE_PARTS {
            return Err(err!(
                if encrypt { CKR_DATA_LEN_RANGE } else { CKR_ENCRYPTED_DATA_LEN_RANGE },
                "a multi-part message is limited to {MAX_MESSAGE_PARTS} bytes"
            ));
        }
        c.buf.extend_from_slice(input);
        if !end {
            return Ok(0);
        }
        let c = self.current.take().ok_or_else(|| Error::general("message state lost"))?;
        let n = c.buf.len();
        let body = &mut out[..n];
        body.copy_from_slice(&c.buf);
        if encrypt {
            let mut tag = vec![0u8; c.tag_len];
            self.seal(&c.iv, &c.aad, body, &mut tag)?;
            p.tag = tag;
        } else {
            self.open(&c.iv, &c.aad, body, &p.tag)?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(iv: Vec<u8>, fixed: CK_ULONG, generator: CK_ULONG) -> MessageParam {
        MessageParam { kind: MessageKind::Gcm, iv, iv_fixed_bits: fixed, generator, tag_len: 16, tag: vec![] }
    }

    #[test]
    fn bits() {
        let mut iv = vec![0xffu8, 0, 0];
        set_low_bits(&mut iv, 12, 0xabc);
        assert_eq!(iv, [0xff, 0x0a, 0xbc]);
        assert_eq!(low_bits(&iv, 12), 0xabc);
        assert!(same_fixed(&[0xf0, 1], &[0xf0, 2], 8));
        assert!(!same_fixed(&[0xf0, 1], &[0xf1, 1], 8));
        assert!(same_fixed(&[0xf0, 1], &[0xf1, 1], 7));
    }

    #[test]
    fn counters_keep_the_fixed_bits_and_never_repeat() {
        for g in [CKG_GENERATE, CKG_GENERATE_COUNTER, CKG_GENERATE_COUNTER_XOR] {
            // 8 free bits: exactly 256 distinct IVs, then refusal.
            let mut ig = IvGen::new(&param(vec![0xa5; 12], 88, g)).unwrap();
            let mut seen = std::collections::HashSet::new();
            for _ in 0..256 {
                let iv = ig.next().unwrap();
                assert_eq!(&iv[..11], &[0xa5; 11], "generator {g}");
                assert!(seen.insert(iv), "repeated IV, generator {g}");
            }
            assert_eq!(ig.next().unwrap_err().rv(), CKR_FUNCTION_FAILED);
        }
        let mut xor = IvGen::new(&param(vec![0x0f; 12], 32, CKG_GENERATE_COUNTER_XOR)).unwrap();
        assert_eq!(xor.next().unwrap(), vec![0x0f; 12]);
        let mut want = vec![0x0f; 12];
        want[11] = 0x0e;
        assert_eq!(xor.next().unwrap(), want);
        assert_eq!(IvGen::new(&param(vec![0; 12], 96, CKG_GENERATE)).err().unwrap().rv(), CKR_MECHANISM_PARAM_INVALID);
        assert_eq!(IvGen::new(&param(vec![0; 12], 97, CKG_GENERATE)).err().unwrap().rv(), CKR_MECHANISM_PARAM_INVALID);
        assert_eq!(
            IvGen::new(&param(vec![0; 12], 33, CKG_GENERATE_RANDOM)).err().unwrap().rv(),
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(IvGen::new(&param(vec![0; 12], 0, 99)).err().unwrap().rv(), CKR_MECHANISM_PARAM_INVALID);
        let mut r = IvGen::new(&param(vec![0x77; 12], 32, CKG_GENERATE_RANDOM)).unwrap();
        let (a, b) = (r.next().unwrap(), r.next().unwrap());
        assert_eq!((&a[..4], &b[..4]), (&[0x77; 4][..], &[0x77; 4][..]));
        assert_ne!(a, b);
    }

    #[test]
    fn generated_ivs_round_trip_and_mixing_is_refused() {
        let k = SecretKey::new(Zeroizing::new(vec![7; 16]));
        let mut enc = MessageCipher::new(CKM_AES_GCM, &k, true, true).unwrap();
        let mut dec = MessageCipher::new(CKM_AES_GCM, &k, false, true).unwrap();
        let mut p = param(vec![1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0], 32, CKG_GENERATE_COUNTER);
        let mut out = [0u8; 5];
        enc.message(&mut p, b"aad", b"hello", &mut out).unwrap();
        assert_eq!(&p.iv[..4], &[1, 2, 3, 4]);
        let mut q = p.clone();
        let mut back = [0u8; 5];
        dec.message(&mut q, b"aad", &out, &mut back).unwrap();
        assert_eq!(&back, b"hello");
        q.tag[0] ^= 1;
        assert_eq!(dec.message(&mut q, b"aad", &out, &mut back).unwrap_err().rv(), CKR_ENCRYPTED_DATA_INVALID);
        let mut other = param(vec![9; 12], 32, CKG_GENERATE_COUNTER);
        assert_eq!(enc.message(&mut other, b"", b"x", &mut out).unwrap_err().rv(), CKR_MECHANISM_PARAM_INVALID);
        let mut caller = param(p.iv.clone(), 0, CKG_NO_GENERATE);
        assert_eq!(enc.message(&mut caller, b"", b"x", &mut out).unwrap_err().rv(), CKR_MECHANISM_PARAM_INVALID);
    }

    #[test]
    fn multi_part_equals_single_part() {
        let data: Vec<u8> = (0..100u8).collect();
        for (mech, kind, key) in [(CKM_AES_GCM, MessageKind::Gcm, 16), (CKM_CHACHA20_POLY1305, MessageKind::ChaCha, 32)]
        {
            let k = SecretKey::new(Zeroizing::new(vec![3; key]));
            let p0 = MessageParam { kind, iv: vec![5; 12], iv_fixed_bits: 0, generator: 0, tag_len: 16, tag: vec![] };
            let mut one = MessageCipher::new(mech, &k, true, true).unwrap();
            let mut p = p0.clone();
            let mut ct = vec![0u8; 100];
            one.message(&mut p, b"hdr", &data, &mut ct).unwrap();
            let mut enc = MessageCipher::new(mech, &k, true, true).unwrap();
            let mut q = p0.clone();
            enc.begin(&mut q, b"hdr").unwrap();
            let mut got = Vec::new();
            for (i, part) in data.chunks(30).enumerate() {
                let end = i == 3;
                let mut o = vec![0u8; enc.next_bound(part.len(), end)];
                let n = enc.next(&mut q, part, &mut o, end).unwrap();
                got.extend_from_slice(&o[..n]);
            }
            assert_eq!((got, q.tag.clone()), (ct.clone(), p.tag.clone()), "mechanism {mech:x}");
            let mut dec = MessageCipher::new(mech, &k, false, true).unwrap();
            let mut d = p0.clone();
            dec.begin(&mut d, b"hdr").unwrap();
            assert_eq!(dec.next(&mut d, &ct[..50], &mut [], false).unwrap(), 0, "nothing before the tag checks");
            d.tag = p.tag.clone();
            let mut o = vec![0u8; dec.next_bound(50, true)];
            assert_eq!(dec.next(&mut d, &ct[50..], &mut o, true).unwrap(), 100);
            assert_eq!(o, data);
        }
    }
}
