//! NIST SP 800-108 key-based KDFs as PKCS#11 3.0 §2.42 defines them
//! (CKM_SP800_108_COUNTER_KDF, _FEEDBACK_KDF, _DOUBLE_PIPELINE_KDF): the
//! PRF is HMAC (SHA-1, SHA-2) or AES-CMAC, its input the caller's data
//! parameters in their order, the iteration variable and the optional
//! counter standing where the caller put them.
//!
//! Semantics followed (as NSS and kryoptic): every key starts at a fresh PRF
//! output (no two keys share a segment); [L] is the sum of the keys'
//! lengths (CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS) or of the segments they
//! use (SUM_OF_SEGMENTS), in bits; counters are 8 to 32 bits wide and the
//! PRF may not run more than 2^r - 1 times. Parameter rules (each breach is
//! CKR_MECHANISM_PARAM_INVALID): counter mode has exactly one iteration
//! variable, with a counter format, and no CK_SP800_108_COUNTER; the other
//! modes have exactly one iteration variable without a format and at most
//! one counter; at most one DKM length everywhere.

use crate::ck::*;
use crate::crypto::cmac::Cmac;
use crate::crypto::digest::Algorithm;
use crate::crypto::hmac::Hmac;
use crate::err;
use crate::error::{Error, Result};
use crate::types::kdf::{CounterFormat, DkmLengthFormat, Kbkdf, PrfData};
use zeroize::Zeroizing;

/// The three constructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Counter,
    Feedback,
    DoublePipeline,
}

impl Mode {
    pub fn of(ty: CK_MECHANISM_TYPE) -> Option<Mode> {
        Some(match ty {
            CKM_SP800_108_COUNTER_KDF => Mode::Counter,
            CKM_SP800_108_FEEDBACK_KDF => Mode::Feedback,
            CKM_SP800_108_DOUBLE_PIPELINE_KDF => Mode::DoublePipeline,
            _ => return None,
        })
    }
}

/// The PRF named by prfType.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prf {
    Hmac(Algorithm),
    Cmac,
}

impl Prf {
    pub fn of(ty: CK_MECHANISM_TYPE) -> Result<Prf> {
        Ok(match ty {
            CKM_SHA_1_HMAC => Prf::Hmac(Algorithm::Sha1),
            CKM_SHA224_HMAC => Prf::Hmac(Algorithm::Sha224),
            CKM_SHA256_HMAC => Prf::Hmac(Algorithm::Sha256),
            CKM_SHA384_HMAC => Prf::Hmac(Algorithm::Sha384),
            CKM_SHA512_HMAC => Prf::Hmac(Algorithm::Sha512),
            CKM_SHA3_224_HMAC => Prf::Hmac(Algorithm::Sha3_224),
            CKM_SHA3_256_HMAC => Prf::Hmac(Algorithm::Sha3_256),
            CKM_SHA3_384_HMAC => Prf::Hmac(Algorithm::Sha3_384),
            CKM_SHA3_512_HMAC => Prf::Hmac(Algorithm::Sha3_512),
            CKM_AES_CMAC => Prf::Cmac,
            _ => return Err(err!(CKR_MECHANISM_PARAM_INVALID, "SP 800-108 PRF 0x{ty:x} not supported")),
        })
    }

    /// The PRF's output length in bytes (h / 8).
    pub fn output_len(self) -> usize {
        match self {
            Prf::Hmac(a) => a.output_len(),
            Prf::Cmac => crate::crypto::cmac::TAG_LEN,
        }
    }

    fn mac(self, key: &[u8], parts: &[&[u8]], out: &mut [u8]) -> Result<()> {
        match self {
            Prf::Hmac(a) => {
                let mut h = Hmac::new(a, key);
                parts.iter().for_each(|p| h.update(p));
                h.finish_into(out);
            }
            Prf::Cmac => {
                let mut c = Cmac::new(key).map_err(|_| {
                    Error::new(CKR_KEY_TYPE_INCONSISTENT, "AES-CMAC needs an AES key of 16, 24 or 32 bytes")
                })?;
                for p in parts {
                    c.update(p).map_err(|_| Error::general("CMAC failed"))?;
                }
                c.finish_into(out).map_err(|_| Error::general("CMAC failed"))?;
            }
        }
        Ok(())
    }
}

fn check_counter(f: &CounterFormat) -> Result<()> {
    if !matches!(f.bits, 8 | 16 | 24 | 32) {
        return Err(err!(CKR_MECHANISM_PARAM_INVALID, "counter width {} bits (8, 16, 24 or 32)", f.bits));
    }
    Ok(())
}

fn check_dkm(f: &DkmLengthFormat) -> Result<()> {
    if f.bits == 0 || f.bits > 64 || !f.bits.is_multiple_of(8) {
        return Err(err!(CKR_MECHANISM_PARAM_INVALID, "DKM length width {} bits (8 to 64, whole bytes)", f.bits));
    }
    if !matches!(f.method, CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS | CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS) {
        return Err(err!(CKR_MECHANISM_PARAM_INVALID, "DKM length method {}", f.method));
    }
    Ok(())
}

/// Checks the data parameters against the mode; returns the counter width
/// r that bounds the number of PRF runs (32 when the mode has no counter).
pub fn validate(mode: Mode, p: &Kbkdf) -> Result<u32> {
    let bad = |why: &'static str| Err(Error::new(CKR_MECHANISM_PARAM_INVALID, why));
    let (mut iters, mut counters, mut dkms) = (0, 0, 0);
    let mut r = 32u32;
    for d in &p.data {
        match d {
            PrfData::Iteration(f) => {
                iters += 1;
                match (mode, f) {
                    (Mode::Counter, Some(f)) => {
                        check_counter(f)?;
                        r = f.bits as u32;
                    }
                    (Mode::Counter, None) => return bad("counter mode: the iteration variable needs a counter format"),
                    (_, Some(_)) => return bad("feedback/pipeline mode: the iteration variable takes no format"),
                    (_, None) => {}
                }
            }
            PrfData::Counter(f) => {
                if mode == Mode::Counter {
                    return bad("counter mode takes no CK_SP800_108_COUNTER (the iteration variable is the counter)");
                }
                check_counter(f)?;
                counters += 1;
                r = f.bits as u32;
            }
            PrfData::DkmLength(f) => {
                check_dkm(f)?;
                dkms += 1;
            }
            PrfData::Bytes(_) => {}
        }
    }
    if iters != 1 {
        return bad("exactly one CK_SP800_108_ITERATION_VARIABLE is required");
    }
    if counters > 1 || dkms > 1 {
        return bad("at most one counter and one DKM length");
    }
    if mode != Mode::Feedback && !p.iv.is_empty() {
        return bad("only feedback mode takes an IV");
    }
    Ok(r)
}

/// `v` as `bits / 8` bytes (the low bits of `v`), in the asked byte order.
fn encode(v: u64, bits: CK_ULONG, little_endian: bool) -> Vec<u8> {
    let n = (bits / 8) as usize;
    let be = v.to_be_bytes();
    let mut out = be[8 - n..].to_vec();
    if little_endian {
        out.reverse();
    }
    out
}

/// Derives keys of `lens` bytes each (the first is C_DeriveKey's key, the
/// others the additional ones, in order) from `key`.
pub fn derive(mode: Mode, p: &Kbkdf, key: &[u8], lens: &[usize]) -> Result<Vec<Zeroizing<Vec<u8>>>> {
    let r = validate(mode, p)?;
    let prf = Prf::of(p.prf)?;
    let h = prf.output_len();
    let segs: usize = lens.iter().map(|l| l.div_ceil(h)).sum();
    let sum_keys: u64 = lens.iter().map(|&l| l as u64 * 8).sum();
    let sum_segs = segs as u64 * h as u64 * 8;
    if lens.contains(&0) || segs as u64 > (1u64 << r) - 1 {
        return Err(err!(CKR_KEY_SIZE_RANGE, "{segs} PRF runs do not fit a {r}-bit counter"));
    }
    let mut stream = Zeroizing::new(vec![0u8; segs * h]);
    let mut chain: Zeroizing<Vec<u8>> = Zeroizing::new(p.iv.clone());
    let mut a: Zeroizing<Vec<u8>> = Zeroizing::new(vec![0u8; h]);
    for i in 1..=segs {
        let ctr = |f: &CounterFormat| encode(i as u64, f.bits, f.little_endian);
        let dkm = |f: &DkmLengthFormat| {
            let l = if f.method == CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS { sum_keys } else { sum_segs };
            let l = if f.bits < 64 { l & ((1u64 << f.bits) - 1) } else { l };
            encode(l, f.bits, f.little_endian)
        };
        if mode == Mode::DoublePipeline {
            // A(1) = PRF(fixed data without the counter); A(i) = PRF(A(i-1)).
            let mut next = Zeroizing::new(vec![0u8; h]);
            if i == 1 {
                let owned: Vec<Vec<u8>> = p
                    .data
                    .iter()
                    .filter_map(|d| match d {
                        PrfData::Bytes(b) => Some(b.clone()),
                        PrfData::DkmLength(f) => Some(dkm(f)),
                        _ => None,
                    })
                    .collect();
                let parts: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
                prf.mac(key, &parts, &mut next)?;
            } else {
                prf.mac(key, &[&a], &mut next)?;
            }
            a = next;
        }
        let owned: Vec<Zeroizing<Vec<u8>>> = p
            .data
            .iter()
            .map(|d| {
                Zeroizing::new(match d {
                    PrfData::Iteration(Some(f)) => ctr(f),
                    PrfData::Iteration(None) if mode == Mode::DoublePipeline => a.to_vec(),
                    PrfData::Iteration(None) => chain.to_vec(),
                    PrfData::Counter(f) => ctr(f),
                    PrfData::DkmLength(f) => dkm(f),
                    PrfData::Bytes(b) => b.clone(),
                })
            })
            .collect();
        let parts: Vec<&[u8]> = owned.iter().map(|v| v.as_slice()).collect();
        let seg = &mut stream[(i - 1) * h..i * h];
        prf.mac(key, &parts, seg)?;
        if mode == Mode::Feedback {
            chain = Zeroizing::new(seg.to_vec());
        }
    }
    let mut out = Vec::with_capacity(lens.len());
    let mut at = 0;
    for &l in lens {
        out.push(Zeroizing::new(stream[at..at + l].to_vec()));
        at += l.div_ceil(h) * h;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(encode(1, 16, false), vec![0, 1]);
        assert_eq!(encode(0x010203, 24, true), vec![3, 2, 1]);
        assert_eq!(encode(256, 32, false), vec![0, 0, 1, 0]);
    }

    fn it(bits: CK_ULONG) -> PrfData {
        PrfData::Iteration(Some(CounterFormat { little_endian: false, bits }))
    }

    #[test]
    fn parameter_rules() {
        let dkm = PrfData::DkmLength(DkmLengthFormat {
            method: CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS,
            little_endian: false,
            bits: 32,
        });
        let ctr = PrfData::Counter(CounterFormat { little_endian: false, bits: 16 });
        let k = |data: Vec<PrfData>| Kbkdf { prf: CKM_AES_CMAC, data, iv: Vec::new(), additional: Vec::new() };
        assert_eq!(validate(Mode::Counter, &k(vec![it(16), dkm.clone()])).unwrap(), 16);
        assert_eq!(validate(Mode::Feedback, &k(vec![PrfData::Iteration(None), ctr.clone()])).unwrap(), 16);
        for (mode, data) in [
            (Mode::Counter, vec![dkm.clone()]),
            (Mode::Counter, vec![PrfData::Iteration(None)]),
            (Mode::Counter, vec![it(16), ctr.clone()]),
            (Mode::Counter, vec![it(16), dkm.clone(), dkm.clone()]),
            (Mode::Counter, vec![it(12)]),
            (Mode::Counter, vec![it(16), it(16)]),
            (Mode::Feedback, vec![it(16)]),
            (Mode::Feedback, vec![PrfData::Iteration(None), ctr.clone(), ctr]),
            (Mode::DoublePipeline, vec![dkm]),
        ] {
            assert_eq!(validate(mode, &k(data)).unwrap_err().rv(), CKR_MECHANISM_PARAM_INVALID, "{mode:?}");
        }
        // An 8-bit counter allows 255 PRF runs: 255 * 16 bytes, not one more.
        let p = k(vec![it(8)]);
        assert!(derive(Mode::Counter, &p, &[7; 16], &[255 * 16]).is_ok());
        assert_eq!(derive(Mode::Counter, &p, &[7; 16], &[255 * 16 + 1]).unwrap_err().rv(), CKR_KEY_SIZE_RANGE);
    }

    /// Counter mode with an HMAC-SHA3-256 PRF against pyca/cryptography 46
    /// (KBKDFHMAC: 32-bit counter before the fixed input "fixed", no [L]).
    #[test]
    fn sha3_prf_matches_an_independent_implementation() {
        let p = Kbkdf {
            prf: CKM_SHA3_256_HMAC,
            data: vec![it(32), PrfData::Bytes(b"fixed".to_vec())],
            iv: Vec::new(),
            additional: Vec::new(),
        };
        let k = derive(Mode::Counter, &p, &b"key".repeat(8), &[40]).unwrap();
        assert_eq!(
            hex::encode(&k[0][..]),
            "a825990501542009310fb62baeac30f6e4ff883cfe5cab63943dd8180eef1baaa351090cd2b812ea"
        );
    }

    #[test]
    fn additional_keys_start_on_a_fresh_segment() {
        let p = Kbkdf { prf: CKM_SHA256_HMAC, data: vec![it(32)], iv: Vec::new(), additional: Vec::new() };
        let one = derive(Mode::Counter, &p, b"key", &[128]).unwrap();
        let three = derive(Mode::Counter, &p, b"key", &[16, 33, 1]).unwrap();
        assert_eq!(three[0][..], one[0][..16]);
        assert_eq!(three[1][..], one[0][32..65]);
        assert_eq!(three[2][..], one[0][96..97]);
    }
}
