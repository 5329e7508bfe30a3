//! PKCS#1 v1.5 decryption (RSAES-PKCS1-v1_5) with implicit rejection, the
//! algorithm of draft-irtf-cfrg-rsa-guidance ("Implementation Guidance for
//! the PKCS #1 RSA Encryption", H. Kario) as OpenSSL 3.2+ implements it
//! (`ossl_rsa_padding_check_PKCS1_type_2`, `ossl_rsa_prf`, `derive_kdk`),
//! checked against OpenSSL's published vectors (`implicit_rejection_vectors.txt`
//! beside this file).
//!
//! A ciphertext whose padding does not check out decrypts to a synthetic
//! message derived from the private key and the ciphertext, so a caller
//! cannot tell a bad padding from a good one (no Bleichenbacher oracle):
//!
//! - KDK = HMAC-SHA256(key = SHA-256(d as k big-endian bytes), ciphertext);
//! - PRF(label, bits) = HMAC-SHA256(KDK, be16(i) || label || be16(bits)),
//!   i = 0, 1, ... concatenated and cut to `bits`;
//! - the synthetic message is the last L bytes of PRF("message", 8k), L the
//!   last of 128 16-bit values of PRF("length", 2048), masked to the bit
//!   length of k - 10, that is below k - 10 (0 if none is);
//! - the real message is used when EM = 00 || 02 || PS || 00 || M with PS of
//!   at least 8 non-zero bytes.
//!
//! [`RsaPrivate::decrypt_pkcs1_fixed`] is keyward's use of the same
//! derivation for a key of a known length (C_UnwrapKey with CKA_VALUE_LEN):
//! the draft's result when its length is the one asked for, else
//! PRF("keyward fixed length", 8 len). Both answers follow from the draft's
//! output alone (whose real or synthetic nature is hidden), so comparing
//! keys unwrapped from one ciphertext with different lengths, or with and
//! without a length, tells nothing about the padding either.
//!
//! Timing: the padding check and the choice between real and synthetic
//! bytes use `subtle`'s constant-time masks, with no early return; both
//! messages are always computed and read. The message length (and so the
//! copy loop's bound) is public by design: it is what the caller receives.
//! What remains outside this file: the raw RSA private operation is
//! AWS-LC's (blinded, constant-time); a ciphertext not below n is refused
//! (public values only), and 0, 1 and n - 1, which AWS-LC will not
//! transform, are decoded as the blocks they are (themselves), so every
//! c < n is answered as OpenSSL does; SHA-256/HMAC are aws-lc-rs's. Knows
//! nothing of PKCS#11.

use super::{MAX_MODULUS_LEN, RsaPrivate, pkcs1_max_message_len};
use crate::crypto::{CryptoError, CryptoResult};
use aws_lc_rs::{digest, hmac};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq, ConstantTimeGreater, ConstantTimeLess};
use zeroize::Zeroizing;

const KDK_LEN: usize = 32;
/// Candidate lengths drawn from PRF("length", ...), as in the draft.
const LEN_TRIES: usize = 128;
/// keyward's PRF label for a fixed-length result (not in the draft).
const FIXED_LABEL: &[u8] = b"keyward fixed length";

type Kdk = Zeroizing<[u8; KDK_LEN]>;

/// The draft's PRF: HMAC-SHA256(KDK, be16(i) || label || be16(bits)) for
/// i = 0, 1, ..., filling `out` (`bits` = 8 · out.len(), at most 65535).
fn prf(kdk: &Kdk, label: &[u8], out: &mut [u8]) -> CryptoResult<()> {
    let bits = out.len().checked_mul(8).and_then(|b| u16::try_from(b).ok()).ok_or(CryptoError::InvalidParam)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, &kdk[..]);
    for (i, chunk) in out.chunks_mut(KDK_LEN).enumerate() {
        let iter = u16::try_from(i).map_err(|_| CryptoError::InvalidParam)?;
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(&iter.to_be_bytes());
        ctx.update(label);
        ctx.update(&bits.to_be_bytes());
        let tag = ctx.sign();
        chunk.copy_from_slice(&tag.as_ref()[..chunk.len()]);
    }
    Ok(())
}

/// KDK = HMAC-SHA256(SHA-256(d as `k` bytes), ciphertext as `k` bytes).
fn kdk(d: &[u8], ct: &[u8], k: usize) -> CryptoResult<Kdk> {
    if d.len() > k || ct.len() != k {
        return Err(CryptoError::InvalidKey);
    }
    let mut d_padded = Zeroizing::new([0u8; MAX_MODULUS_LEN]);
    d_padded[k - d.len()..k].copy_from_slice(d);
    let mut d_hash = Zeroizing::new([0u8; 32]);
    d_hash.copy_from_slice(digest::digest(&digest::SHA256, &d_padded[..k]).as_ref());
    let key = hmac::Key::new(hmac::HMAC_SHA256, &d_hash[..]);
    let mut out = Zeroizing::new([0u8; KDK_LEN]);
    out.copy_from_slice(hmac::sign(&key, ct).as_ref());
    Ok(out)
}

/// Decodes `em` (the k-byte RSA decryption result) into `out` (k bytes):
/// the real message when the type-2 padding is good, else the synthetic
/// one. Returns the message length (at most k - 11). Constant time in the
/// padding's validity.
fn decode(em: &[u8], kdk: &Kdk, out: &mut [u8]) -> CryptoResult<usize> {
    let k = em.len();
    if !(11..=MAX_MODULUS_LEN).contains(&k) || out.len() < k {
        return Err(CryptoError::InvalidLength);
    }
    let mut synthetic = Zeroizing::new([0u8; MAX_MODULUS_LEN]);
    let synthetic = &mut synthetic[..k];
    prf(kdk, b"message", synthetic)?;
    let mut lengths = Zeroizing::new([0u8; 2 * LEN_TRIES]);
    prf(kdk, b"length", &mut lengths[..])?;

    // The longest message: k less 00 02, 8 bytes of padding and 00, plus
    // one (a strict bound), as in the draft. k <= 1024 fits easily in u32.
    let max_sep_offset = (k - 10) as u32;
    let mut mask = max_sep_offset;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    let mut synth_len = 0u32;
    for c in lengths.chunks_exact(2) {
        let candidate = ((u32::from(c[0]) << 8) | u32::from(c[1])) & mask;
        synth_len.conditional_assign(&candidate, candidate.ct_lt(&max_sep_offset));
    }
    let synth_index = k as u32 - synth_len;

    // The real block: 00 || 02 || PS (>= 8 bytes, no zero) || 00 || M.
    let mut good = em[0].ct_eq(&0) & em[1].ct_eq(&2);
    let mut found = Choice::from(0);
    let mut zero_index = 0u32;
    for (i, b) in em.iter().enumerate().skip(2) {
        let is_zero = b.ct_eq(&0);
        zero_index.conditional_assign(&(i as u32), !found & is_zero);
        found |= is_zero;
    }
    // No zero byte leaves zero_index at 0, which fails this too.
    good &= zero_index.ct_gt(&9);
    let msg_index = u32::conditional_select(&synth_index, &(zero_index + 1), good);

    // From here the access pattern follows `msg_index`, i.e. the output
    // length the caller receives anyway; both sources are read at every
    // position, so it does not depend on which one is chosen.
    let msg_index = msg_index as usize;
    for (o, (real, synth)) in out.iter_mut().zip(em[msg_index..].iter().zip(&synthetic[msg_index..])) {
        *o = u8::conditional_select(synth, real, good);
    }
    Ok(k - msg_index)
}

/// The draft's result for `ct`: message bytes (`.0[..len]`), length, KDK.
type Decoded = (Zeroizing<[u8; MAX_MODULUS_LEN]>, usize, Kdk);

impl RsaPrivate {
    /// Whether `ct` (k bytes) is 0, 1 or n - 1 (public values).
    fn is_fixed_point(&self, ct: &[u8]) -> bool {
        let n = self.public().n();
        let (last, head) = match ct.split_last() {
            Some((l, h)) => (*l, h),
            None => return false,
        };
        let n_minus_one = n.len() == ct.len() && head == &n[..n.len() - 1] && last == n[n.len() - 1].wrapping_sub(1);
        n_minus_one || (head.iter().all(|b| *b == 0) && last <= 1)
    }

    fn decrypt_pkcs1_implicit(&self, ct: &[u8]) -> CryptoResult<Decoded> {
        let k = self.modulus_len();
        if ct.len() != k {
            return Err(CryptoError::InvalidLength);
        }
        let mut em = Zeroizing::new([0u8; MAX_MODULUS_LEN]);
        if self.decrypt_raw(ct, &mut em[..k]).is_err() {
            // AWS-LC's private transform refuses c outside 1 < c < n - 1
            // (SP 800-56B). 0, 1 and n - 1 are their own decryptions (d is
            // odd), public and never well padded: decode them like any
            // other, as OpenSSL does. `AuthFailed` is left for c >= n.
            if !self.is_fixed_point(ct) {
                return Err(CryptoError::AuthFailed);
            }
            em[..k].copy_from_slice(ct);
        }
        let kdk = kdk(&self.components().d, ct, k)?;
        let mut msg = Zeroizing::new([0u8; MAX_MODULUS_LEN]);
        let n = decode(&em[..k], &kdk, &mut msg[..k])?;
        Ok((msg, n, kdk))
    }

    /// PKCS#1 v1.5-decrypts `ct` (exactly modulus_len bytes, else
    /// `InvalidLength`) into `out` with implicit rejection: a bad padding
    /// gives the deterministic synthetic message, never an error.
    /// `InvalidLength` if `out` cannot hold the message, `AuthFailed` if
    /// the ciphertext is not below the modulus.
    pub fn decrypt_pkcs1(&self, ct: &[u8], out: &mut [u8]) -> CryptoResult<usize> {
        let (msg, n, _) = self.decrypt_pkcs1_implicit(ct)?;
        if out.len() < n {
            return Err(CryptoError::InvalidLength);
        }
        out[..n].copy_from_slice(&msg[..n]);
        Ok(n)
    }

    /// PKCS#1 v1.5-decrypts `ct` into exactly `len` bytes: the draft's
    /// result (real or synthetic) when it has that length, else
    /// PRF("keyward fixed length", 8 len) under the same KDK — the same
    /// outcome class for every ciphertext. `InvalidParam` for a `len` of 0
    /// or over k - 11; other errors as [`decrypt_pkcs1`](Self::decrypt_pkcs1).
    pub fn decrypt_pkcs1_fixed(&self, ct: &[u8], len: usize) -> CryptoResult<Zeroizing<Vec<u8>>> {
        if len == 0 || len > pkcs1_max_message_len(self.modulus_len()) {
            return Err(CryptoError::InvalidParam);
        }
        let (msg, n, kdk) = self.decrypt_pkcs1_implicit(ct)?;
        let mut alt = Zeroizing::new(vec![0u8; len]);
        prf(&kdk, FIXED_LABEL, &mut alt)?;
        // Lengths are at most 1013 here.
        let same = (n as u32).ct_eq(&(len as u32));
        let mut out = Zeroizing::new(vec![0u8; len]);
        for ((o, a), m) in out.iter_mut().zip(alt.iter()).zip(msg.iter()) {
            *o = u8::conditional_select(a, m, same);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const VECTORS: &str = include_str!("implicit_rejection_vectors.txt");

    /// (key name, ciphertext, expected message).
    type Case = (&'static str, Vec<u8>, Vec<u8>);

    fn vectors() -> (HashMap<&'static str, RsaPrivate>, Vec<Case>) {
        let mut keys = HashMap::new();
        let mut cases = Vec::new();
        for line in VECTORS.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let f: Vec<&str> = line.split(' ').collect();
            match f[..] {
                ["key", name, der] => {
                    let k = RsaPrivate::from_pkcs1_der(&hex::decode(der).unwrap()).unwrap();
                    keys.insert(name, k);
                }
                ["ct", name, ct, msg] => {
                    let msg = if msg == "-" { Vec::new() } else { hex::decode(msg).unwrap() };
                    cases.push((name, hex::decode(ct).unwrap(), msg));
                }
                _ => panic!("bad vector line: {line}"),
            }
        }
        (keys, cases)
    }

    #[test]
    fn openssl_implicit_rejection_vectors() {
        let (keys, cases) = vectors();
        assert_eq!(keys.len(), 3);
        assert_eq!(cases.len(), 36);
        let mut out = [0u8; MAX_MODULUS_LEN];
        for (name, ct, msg) in &cases {
            let k = &keys[name];
            let n = k.decrypt_pkcs1(ct, &mut out).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(hex::encode(&out[..n]), hex::encode(msg), "key {name}, ct {}...", &hex::encode(ct)[..16]);
            // Deterministic; the fixed-length form agrees at that length.
            assert_eq!(k.decrypt_pkcs1(ct, &mut out).unwrap(), n);
            if !msg.is_empty() {
                assert_eq!(&k.decrypt_pkcs1_fixed(ct, msg.len()).unwrap()[..], &msg[..]);
            }
        }
        // A 1-byte-shorter ciphertext (OpenSSL's "truncated" form) is refused.
        let (name, ct, _) = &cases[0];
        assert_eq!(keys[name].decrypt_pkcs1(&ct[1..], &mut out), Err(CryptoError::InvalidLength));
    }

    #[test]
    fn synthetic_messages_behave() {
        let (keys, cases) = vectors();
        let k = &keys["2048"];
        let mut out = [0u8; 256];
        // A real message too long for `out` is a length error; so is a
        // synthetic one (both the same class).
        let (_, ct, msg) = &cases[0];
        assert_eq!(k.decrypt_pkcs1(ct, &mut out[..msg.len() - 1]), Err(CryptoError::InvalidLength));
        // Fixed lengths: real message at its length, PRF output elsewhere;
        // deterministic, distinct per length and per ciphertext.
        let a16 = k.decrypt_pkcs1_fixed(ct, 16).unwrap();
        assert_eq!(a16.len(), 16);
        assert_eq!(a16, k.decrypt_pkcs1_fixed(ct, 16).unwrap());
        let a32 = k.decrypt_pkcs1_fixed(ct, 32).unwrap();
        assert_ne!(&a32[..16], &a16[..]);
        assert_ne!(&a32[16..], &a16[..]);
        let (_, ct2, _) = &cases[1];
        assert_ne!(k.decrypt_pkcs1_fixed(ct2, 16).unwrap(), a16);
        assert_eq!(k.decrypt_pkcs1_fixed(ct, 0), Err(CryptoError::InvalidParam));
        assert_eq!(k.decrypt_pkcs1_fixed(ct, 246).err(), Some(CryptoError::InvalidParam));
        k.decrypt_pkcs1_fixed(ct, 245).unwrap();
        // A ciphertext not below n: refused (public values only).
        assert_eq!(k.decrypt_pkcs1(&[0xff; 256], &mut out), Err(CryptoError::AuthFailed));
        assert_eq!(k.decrypt_pkcs1(k.public().n(), &mut out), Err(CryptoError::AuthFailed));
        // 0, 1 and n - 1, which the engine's private transform refuses,
        // decode like any other bad padding; the expected values are from
        // the reference computation the OpenSSL vectors above were checked
        // with (Python: pow, hmac), the same for the fixed-length form.
        let mut n_minus_one = k.public().n().to_vec();
        n_minus_one[255] -= 1;
        let mut one = [0u8; 256];
        one[255] = 1;
        for (c, len, head, fixed16) in [
            (&[0u8; 256][..], 113, "bdf9758320891fcb8283d1dc53b9f94d", "75bcec8e5b673c720d99be2995694e58"),
            (&one[..], 135, "0cb4d2206749ad902d365fd4495387a9", "0a431d3a9222ea5ee2d215cc7756b47e"),
            (&n_minus_one[..], 149, "ebd5859b54d947bf9383b23ff4c0bebe", "95aa6c4dd976bba5641e34398ac12774"),
        ] {
            assert_eq!(k.decrypt_pkcs1(c, &mut out), Ok(len));
            assert_eq!(hex::encode(&out[..16]), head);
            assert_eq!(hex::encode(&k.decrypt_pkcs1_fixed(c, 16).unwrap()[..]), fixed16);
        }
    }

    #[test]
    fn synthetic_lengths_spread() {
        // Random ciphertexts: every answer is OK, lengths spread over
        // 0..=k-11, and two different ciphertexts differ.
        let (keys, _) = vectors();
        let k = &keys["2048"];
        let mut out = [0u8; 256];
        let mut lengths = std::collections::HashSet::new();
        let mut messages = std::collections::HashSet::new();
        let mut long = 0;
        for i in 0..64u8 {
            let mut ct = [0u8; 256];
            crate::crypto::random_fill(&mut ct).unwrap();
            ct[0] = i & 0x3f; // below n (n starts with 0xc8)
            let n = k.decrypt_pkcs1(&ct, &mut out).unwrap();
            assert!(n <= 245);
            lengths.insert(n);
            if n >= 8 {
                long += 1;
                messages.insert(out[..n].to_vec());
            }
        }
        assert!(lengths.len() > 40, "synthetic lengths do not spread: {lengths:?}");
        assert_eq!(messages.len(), long, "two ciphertexts gave the same message");
    }

    #[test]
    fn prf_and_kdk_shapes() {
        let kdk = Zeroizing::new([7u8; KDK_LEN]);
        let mut a = [0u8; 40];
        prf(&kdk, b"message", &mut a).unwrap();
        let mut b = [0u8; 32];
        prf(&kdk, b"message", &mut b).unwrap();
        // The bit length is in every block: a shorter output is not a prefix.
        assert_ne!(a[..32], b);
        let mut big = vec![0u8; 8192];
        assert_eq!(prf(&kdk, b"x", &mut big), Err(CryptoError::InvalidParam));
        assert!(super::kdk(&[1; 3], &[0; 2], 2).is_err());
    }
}
