//! The AES mechanisms: CKM_AES_ECB, CKM_AES_CBC, CKM_AES_CBC_PAD,
//! CKM_AES_CTR, CKM_AES_GCM, CKM_AES_KEY_WRAP and CKM_AES_KEY_WRAP_KWP, as
//! encrypt/decrypt operations and as key wrapping. CKM_AES_KEY_WRAP_PAD is
//! taken as RFC 5649 too, as SoftHSM, OpenSC and the `cryptoki` crate use it
//! (it predates CKM_AES_KEY_WRAP_KWP).
//!
//! Parameter and length errors follow PKCS#11: a bad parameter is
//! `CKR_MECHANISM_PARAM_INVALID`; an input of the wrong length is
//! `CKR_DATA_LEN_RANGE` when encrypting and `CKR_ENCRYPTED_DATA_LEN_RANGE`
//! when decrypting; bad padding, a bad GCM tag or a failed key-wrap
//! integrity check is `CKR_ENCRYPTED_DATA_INVALID` (`CKR_WRAPPED_KEY_INVALID`
//! in `unwrap`).
//!
//! GCM multi-part (`aes/gcm.rs`): encryption streams (each Update returns
//! its ciphertext, Final the tag); decryption collects its input, up to
//! `gcm::MAX_MULTIPART_DECRYPT`, and releases plaintext only at Final, after
//! the tag checks. KW/KWP multi-part buffer and work at final. GCM IVs of
//! 1..=1024 bytes are accepted (96 bits is the fast path).

mod gcm;

use super::{BlockCipher, Buffered, Cipher, WholeMessage};
use crate::ck::*;
use crate::crypto::aes::{self as prim, BLOCK_LEN, BlockStream, CtrStream, Prepared};
use crate::crypto::{CryptoError, SecretKey};
use crate::err;
use crate::error::{Error, Result};
use crate::types::{MechParam, Mechanism};
use gcm::gcm_params;
use zeroize::Zeroizing;

/// What an operation does with its input: decides the length error code.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dir {
    Encrypt,
    Decrypt,
}

/// The `CK_RV` of an ECB/CBC error (see [`BlockCipher`]).
fn block_err(e: CryptoError, encrypt: bool) -> Error {
    Dir::of(encrypt).map(e)
}

impl Dir {
    fn of(encrypt: bool) -> Dir {
        if encrypt { Dir::Encrypt } else { Dir::Decrypt }
    }
    /// Maps a primitive's error to the `CK_RV` for this direction.
    fn map(self, e: CryptoError) -> Error {
        match (e, self) {
            (CryptoError::InvalidLength, Dir::Encrypt) => {
                Error::new(CKR_DATA_LEN_RANGE, "input length does not fit the mechanism")
            }
            (CryptoError::InvalidLength, Dir::Decrypt) => {
                Error::new(CKR_ENCRYPTED_DATA_LEN_RANGE, "encrypted input length does not fit the mechanism")
            }
            (CryptoError::AuthFailed, _) => Error::new(
                CKR_ENCRYPTED_DATA_INVALID,
                "encrypted data failed its integrity check (tag, padding or wrap)",
            ),
            (CryptoError::InvalidParam, _) => Error::new(CKR_MECHANISM_PARAM_INVALID, "mechanism parameter not usable"),
            (CryptoError::InvalidKey, _) => Error::new(CKR_KEY_SIZE_RANGE, "AES keys are 16, 24 or 32 bytes"),
            (CryptoError::Internal, _) => Error::general("AES engine failure"),
        }
    }
}

fn param_invalid(why: &'static str) -> Error {
    Error::new(CKR_MECHANISM_PARAM_INVALID, why)
}

fn prepared(key: &SecretKey) -> Result<&Prepared> {
    key.aes().map_err(|_| err!(CKR_KEY_SIZE_RANGE, "AES key of {} bytes (16, 24 or 32 expected)", key.bytes().len()))
}

fn no_param(mech: &Mechanism) -> Result<()> {
    match &mech.param {
        MechParam::None => Ok(()),
        MechParam::Bytes(b) if b.is_empty() => Ok(()),
        _ => Err(param_invalid("mechanism takes no parameter")),
    }
}

fn cbc_iv(mech: &Mechanism) -> Result<[u8; BLOCK_LEN]> {
    match &mech.param {
        MechParam::Bytes(b) => b.as_slice().try_into().map_err(|_| param_invalid("CBC IV must be 16 bytes")),
        _ => Err(param_invalid("CBC needs a 16-byte IV")),
    }
}

/// KW/KWP accept no parameter or the default IV only.
fn kw_params(mech: &Mechanism, padded: bool) -> Result<()> {
    match &mech.param {
        MechParam::None => Ok(()),
        MechParam::Bytes(b) if b.is_empty() => Ok(()),
        MechParam::Bytes(b) if !padded && b.as_slice() == prim::KW_IV => Ok(()),
        MechParam::Bytes(b) if padded && b.as_slice() == prim::KWP_IV_PREFIX => Ok(()),
        _ => Err(param_invalid("only the default key-wrap IV is supported")),
    }
}

/// Builds the encrypt (`encrypt`) or decrypt operation for `mech` on `key`.
pub fn cipher(mech: &Mechanism, key: &SecretKey, encrypt: bool) -> Result<Box<dyn Cipher>> {
    let dir = Dir::of(encrypt);
    match mech.ty {
        CKM_AES_ECB => {
            no_param(mech)?;
            Ok(Box::new(BlockCipher::new(BlockStream::ecb(prepared(key)?, encrypt), encrypt, block_err)))
        }
        CKM_AES_CBC | CKM_AES_CBC_PAD => {
            let iv = cbc_iv(mech)?;
            let pad = mech.ty == CKM_AES_CBC_PAD;
            Ok(Box::new(BlockCipher::new(BlockStream::cbc(prepared(key)?, iv, encrypt, pad), encrypt, block_err)))
        }
        CKM_AES_CTR => {
            let MechParam::Ctr { counter_bits, cb } = &mech.param else {
                return Err(param_invalid("CKM_AES_CTR needs CK_AES_CTR_PARAMS"));
            };
            if !(1..=128).contains(counter_bits) {
                return Err(param_invalid("CTR counter bits must be 1..=128"));
            }
            let s = CtrStream::new(prepared(key)?, *cb, *counter_bits as u32).map_err(|e| dir.map(e))?;
            Ok(Box::new(CtrOp { s, dir }))
        }
        CKM_AES_GCM => {
            let p = gcm_params(mech)?;
            Ok(gcm::cipher(prepared(key)?, p, dir))
        }
        CKM_AES_KEY_WRAP | CKM_AES_KEY_WRAP_KWP | CKM_AES_KEY_WRAP_PAD => {
            let padded = mech.ty != CKM_AES_KEY_WRAP;
            kw_params(mech, padded)?;
            Ok(Box::new(Buffered::new(KwOp { key: prepared(key)?.clone(), padded, dir })))
        }
        _ => Err(err!(CKR_MECHANISM_INVALID, "mechanism 0x{:x} is not an AES cipher", mech.ty)),
    }
}

/// Wraps `key_bytes` (a secret key value or a PKCS#8 private key) under
/// `wrapping_key`.
///
/// No wrapping mechanism lets the caller repeat a nonce under one key:
/// KW/KWP are deterministic and nonce-free; CBC-PAD takes the caller's IV,
/// which can at most show that two keys wrapped under one IV share a first
/// block (no keystream is reused); CKM_AES_GCM is not a wrapping mechanism
/// (a GCM IV the caller repeats gives away the XOR of two wrapped keys, and
/// C_WrapKey has no way to return a token-chosen IV without writing into
/// the caller's parameter, which may be read-only memory). GCM still
/// unwraps: opening a blob under any IV reveals nothing.
pub fn wrap(mech: &Mechanism, wrapping_key: &SecretKey, key_bytes: &[u8]) -> Result<Vec<u8>> {
    let k = wrapping_key
        .aes()
        .map_err(|_| Error::new(CKR_WRAPPING_KEY_SIZE_RANGE, "AES wrapping keys are 16, 24 or 32 bytes"))?;
    let not_wrappable = |why: &'static str| Error::new(CKR_KEY_NOT_WRAPPABLE, why);
    let map = |e: CryptoError| match e {
        CryptoError::InvalidLength => not_wrappable("key length does not fit the wrapping mechanism"),
        e => Dir::Encrypt.map(e),
    };
    match mech.ty {
        CKM_AES_KEY_WRAP => {
            kw_params(mech, false)?;
            if key_bytes.len() < 16 || !key_bytes.len().is_multiple_of(8) {
                return Err(not_wrappable("CKM_AES_KEY_WRAP wraps keys of 16 bytes or more, a multiple of 8"));
            }
            k.kw_wrap(key_bytes).map_err(map)
        }
        CKM_AES_KEY_WRAP_KWP | CKM_AES_KEY_WRAP_PAD => {
            kw_params(mech, true)?;
            k.kwp_wrap(key_bytes).map_err(map)
        }
        CKM_AES_CBC_PAD => {
            let iv = cbc_iv(mech)?;
            let mut s = BlockStream::cbc(k, iv, true, true);
            let mut out = vec![0u8; s.oneshot_len(key_bytes.len())];
            let n = s.oneshot(key_bytes, &mut out).map_err(map)?;
            out.truncate(n);
            Ok(out)
        }
        _ => Err(err!(CKR_MECHANISM_INVALID, "mechanism 0x{:x} does not wrap with AES", mech.ty)),
    }
}

/// Unwraps `wrapped` under `unwrapping_key`; returns the key bytes.
pub fn unwrap(mech: &Mechanism, unwrapping_key: &SecretKey, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let k = unwrapping_key
        .aes()
        .map_err(|_| Error::new(CKR_UNWRAPPING_KEY_SIZE_RANGE, "AES unwrapping keys are 16, 24 or 32 bytes"))?;
    let map = |e: CryptoError| match e {
        CryptoError::InvalidLength => {
            Error::new(CKR_WRAPPED_KEY_LEN_RANGE, "wrapped key length does not fit the mechanism")
        }
        CryptoError::AuthFailed => Error::new(CKR_WRAPPED_KEY_INVALID, "wrapped key failed its integrity check"),
        e => Dir::Decrypt.map(e),
    };
    match mech.ty {
        CKM_AES_KEY_WRAP => {
            kw_params(mech, false)?;
            k.kw_unwrap(wrapped).map_err(map)
        }
        CKM_AES_KEY_WRAP_KWP | CKM_AES_KEY_WRAP_PAD => {
            kw_params(mech, true)?;
            k.kwp_unwrap(wrapped).map_err(map)
        }
        CKM_AES_CBC_PAD => {
            let iv = cbc_iv(mech)?;
            let mut s = BlockStream::cbc(k, iv, false, true);
            let mut out = Zeroizing::new(vec![0u8; s.oneshot_len(wrapped.len())]);
            let n = s.oneshot(wrapped, &mut out).map_err(map)?;
            out.truncate(n);
            Ok(out)
        }
        CKM_AES_GCM => {
            let p = gcm_params(mech)?;
            let Some(n) = wrapped.len().checked_sub(p.tag_len) else {
                return Err(Error::new(CKR_WRAPPED_KEY_LEN_RANGE, "wrapped key shorter than the GCM tag"));
            };
            let mut out = Zeroizing::new(wrapped[..n].to_vec());
            k.gcm_open(&p.iv, &p.aad, &mut out, &wrapped[n..]).map_err(map)?;
            Ok(out)
        }
        _ => Err(err!(CKR_MECHANISM_INVALID, "mechanism 0x{:x} does not unwrap with AES", mech.ty)),
    }
}

struct CtrOp {
    s: CtrStream,
    dir: Dir,
}

impl Cipher for CtrOp {
    fn update_bound(&self, input_len: usize) -> usize {
        input_len
    }
    fn final_bound(&self) -> usize {
        0
    }
    fn oneshot_bound(&self, input_len: usize) -> usize {
        input_len
    }
    fn update(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        self.s.apply(input, out).map_err(|e| self.dir.map(e))
    }
    fn finalize(&mut self, _out: &mut [u8]) -> Result<usize> {
        Ok(0)
    }
    fn oneshot(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        self.s.apply(input, out).map_err(|e| self.dir.map(e))
    }
}

/// CKM_AES_KEY_WRAP / _KWP as encrypt/decrypt (one-shot; multi-part input
/// is buffered and processed at final).
struct KwOp {
    key: Prepared,
    padded: bool,
    dir: Dir,
}

impl WholeMessage for KwOp {
    fn out_bound(&self, n: usize) -> usize {
        match (self.dir, self.padded) {
            (Dir::Encrypt, false) => n + 8,
            (Dir::Encrypt, true) => n.div_ceil(8).max(1) * 8 + 8,
            (Dir::Decrypt, _) => n.saturating_sub(8),
        }
    }

    fn run(&self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let r: std::result::Result<Zeroizing<Vec<u8>>, CryptoError> = match (self.dir, self.padded) {
            (Dir::Encrypt, false) => self.key.kw_wrap(input).map(Zeroizing::new),
            (Dir::Encrypt, true) => self.key.kwp_wrap(input).map(Zeroizing::new),
            (Dir::Decrypt, false) => self.key.kw_unwrap(input),
            (Dir::Decrypt, true) => self.key.kwp_unwrap(input),
        };
        let v = r.map_err(|e| self.dir.map(e))?;
        out[..v.len()].copy_from_slice(&v);
        Ok(v.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: usize) -> SecretKey {
        SecretKey::new(Zeroizing::new((0..n as u8).collect()))
    }

    fn mech(ty: CK_MECHANISM_TYPE, param: MechParam) -> Mechanism {
        Mechanism { ty, param }
    }

    fn oneshot(m: &Mechanism, k: &SecretKey, enc: bool, input: &[u8]) -> Result<Vec<u8>> {
        let mut c = cipher(m, k, enc)?;
        let mut out = vec![0u8; c.oneshot_bound(input.len())];
        let n = c.oneshot(input, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    fn multi(m: &Mechanism, k: &SecretKey, enc: bool, input: &[u8], chunk: usize) -> Result<Vec<u8>> {
        let mut c = cipher(m, k, enc)?;
        let mut res = Vec::new();
        for part in input.chunks(chunk) {
            let mut out = vec![0u8; c.update_bound(part.len())];
            let n = c.update(part, &mut out)?;
            res.extend_from_slice(&out[..n]);
        }
        let mut out = vec![0u8; c.final_bound()];
        let n = c.finalize(&mut out)?;
        res.extend_from_slice(&out[..n]);
        Ok(res)
    }

    fn gcm(tag_bits: CK_ULONG) -> Mechanism {
        mech(CKM_AES_GCM, MechParam::Gcm { iv: vec![9; 12], aad: b"hdr".to_vec(), tag_bits })
    }

    #[test]
    fn roundtrips_all_modes() {
        let data: Vec<u8> = (0..200u32).map(|i| (i * 7) as u8).collect();
        let mechs = [
            mech(CKM_AES_ECB, MechParam::None),
            mech(CKM_AES_CBC, MechParam::Bytes(vec![1; 16])),
            mech(CKM_AES_CBC_PAD, MechParam::Bytes(vec![1; 16])),
            mech(CKM_AES_CTR, MechParam::Ctr { counter_bits: 32, cb: [3; 16] }),
            gcm(128),
            gcm(96),
            mech(CKM_AES_KEY_WRAP, MechParam::None),
            mech(CKM_AES_KEY_WRAP_KWP, MechParam::None),
        ];
        for kl in [16, 24, 32] {
            let k = key(kl);
            for m in &mechs {
                for len in [0usize, 8, 16, 24, 33, 160, 200] {
                    let pt = &data[..len];
                    let block_only = matches!(m.ty, CKM_AES_ECB | CKM_AES_CBC);
                    let ct = oneshot(m, &k, true, pt);
                    let ok_len = match m.ty {
                        CKM_AES_ECB | CKM_AES_CBC => len % 16 == 0,
                        CKM_AES_KEY_WRAP => len % 8 == 0 && len >= 16,
                        CKM_AES_KEY_WRAP_KWP => len > 0,
                        _ => true,
                    };
                    if !ok_len {
                        assert_eq!(ct.unwrap_err().rv(), CKR_DATA_LEN_RANGE, "{m:?} {len}");
                        continue;
                    }
                    let ct = ct.unwrap();
                    assert_eq!(cipher(m, &k, true).unwrap().oneshot_bound(len), ct.len(), "exact bound {m:?}");
                    assert_eq!(oneshot(m, &k, false, &ct).unwrap(), pt, "{m:?} {len}");
                    for chunk in [1, 5, 16, 64] {
                        assert_eq!(multi(m, &k, true, pt, chunk).unwrap(), ct, "{m:?} {len} {chunk}");
                        assert_eq!(multi(m, &k, false, &ct, chunk).unwrap(), pt, "{m:?} {len} {chunk}");
                    }
                    if block_only && len > 0 {
                        let e = oneshot(m, &k, false, &ct[..len - 1]).unwrap_err();
                        assert_eq!(e.rv(), CKR_ENCRYPTED_DATA_LEN_RANGE);
                    }
                }
            }
        }
    }

    #[test]
    fn integrity_failures() {
        let k = key(16);
        for m in [
            gcm(128),
            gcm(104),
            mech(CKM_AES_CBC_PAD, MechParam::Bytes(vec![0; 16])),
            mech(CKM_AES_KEY_WRAP, MechParam::None),
            mech(CKM_AES_KEY_WRAP_KWP, MechParam::None),
        ] {
            let mut ct = oneshot(&m, &k, true, &[5u8; 32]).unwrap();
            let last = ct.len() - 1;
            if m.ty == CKM_AES_CBC_PAD {
                // The final plaintext block (all padding) gets a bad last byte.
                ct[last - 16] ^= 0xff;
            } else {
                ct[last] ^= 0x40;
            }
            assert_eq!(oneshot(&m, &k, false, &ct).unwrap_err().rv(), CKR_ENCRYPTED_DATA_INVALID, "{m:?}");
            assert_eq!(multi(&m, &k, false, &ct, 7).unwrap_err().rv(), CKR_ENCRYPTED_DATA_INVALID, "{m:?}");
        }
        assert_eq!(oneshot(&gcm(128), &k, false, &[0u8; 15]).unwrap_err().rv(), CKR_ENCRYPTED_DATA_LEN_RANGE);
    }

    #[test]
    fn parameter_checks() {
        let k = key(16);
        let bad = [
            mech(CKM_AES_ECB, MechParam::Bytes(vec![0; 16])),
            mech(CKM_AES_CBC, MechParam::None),
            mech(CKM_AES_CBC, MechParam::Bytes(vec![0; 15])),
            mech(CKM_AES_CBC_PAD, MechParam::Bytes(vec![0; 17])),
            mech(CKM_AES_CTR, MechParam::Ctr { counter_bits: 0, cb: [0; 16] }),
            mech(CKM_AES_CTR, MechParam::Ctr { counter_bits: 129, cb: [0; 16] }),
            mech(CKM_AES_CTR, MechParam::Bytes(vec![0; 16])),
            mech(CKM_AES_GCM, MechParam::Gcm { iv: vec![], aad: vec![], tag_bits: 128 }),
            mech(CKM_AES_GCM, MechParam::Gcm { iv: vec![0; 12], aad: vec![], tag_bits: 64 }),
            mech(CKM_AES_GCM, MechParam::Gcm { iv: vec![0; 12], aad: vec![], tag_bits: 100 }),
            mech(CKM_AES_GCM, MechParam::None),
            mech(CKM_AES_KEY_WRAP, MechParam::Bytes(vec![0; 8])),
            mech(CKM_AES_KEY_WRAP_KWP, MechParam::Bytes(vec![0xA6; 8])),
        ];
        for m in bad {
            assert_eq!(cipher(&m, &k, true).err().unwrap().rv(), CKR_MECHANISM_PARAM_INVALID, "{m:?}");
        }
        assert!(cipher(&mech(CKM_AES_KEY_WRAP, MechParam::Bytes(vec![0xA6; 8])), &k, true).is_ok());
        assert!(cipher(&mech(CKM_AES_KEY_WRAP_KWP, MechParam::Bytes(prim::KWP_IV_PREFIX.to_vec())), &k, true).is_ok());
        let m = mech(CKM_AES_ECB, MechParam::None);
        assert_eq!(cipher(&m, &key(20), true).err().unwrap().rv(), CKR_KEY_SIZE_RANGE);
        assert_eq!(cipher(&mech(CKM_SHA256, MechParam::None), &k, true).err().unwrap().rv(), CKR_MECHANISM_INVALID);
        // CTR refuses to run past the counter's width.
        let m = mech(CKM_AES_CTR, MechParam::Ctr { counter_bits: 1, cb: [0; 16] });
        assert!(oneshot(&m, &k, true, &[0; 32]).is_ok());
        assert_eq!(oneshot(&m, &k, true, &[0; 33]).unwrap_err().rv(), CKR_DATA_LEN_RANGE);
    }

    #[test]
    fn cbc_pad_decrypt_bounds_are_exact() {
        let k = key(32);
        let m = mech(CKM_AES_CBC_PAD, MechParam::Bytes(vec![4; 16]));
        let ct = oneshot(&m, &k, true, &[1u8; 37]).unwrap();
        let mut c = cipher(&m, &k, false).unwrap();
        let mut out = vec![0u8; 64];
        assert_eq!(c.update_bound(20), 0);
        assert_eq!(c.update(&ct[..20], &mut out).unwrap(), 0);
        // 4 buffered + 28 = two blocks: the held one and one more; the
        // last stays held back.
        assert_eq!(c.update_bound(28), 32);
        assert_eq!(c.update(&ct[20..], &mut out).unwrap(), 32);
        assert_eq!(c.final_bound(), 37 - 32);
        assert_eq!(c.finalize(&mut out).unwrap(), 5);
    }

    #[test]
    fn wrap_unwrap() {
        let k = key(32);
        let secret = [0x42u8; 32];
        let mechs = [
            mech(CKM_AES_KEY_WRAP, MechParam::None),
            mech(CKM_AES_KEY_WRAP_KWP, MechParam::None),
            mech(CKM_AES_CBC_PAD, MechParam::Bytes(vec![2; 16])),
            gcm(128),
            gcm(96),
        ];
        for m in &mechs {
            // GCM only unwraps (a caller's IV is not to be trusted for wrapping).
            let w = if m.ty == CKM_AES_GCM {
                assert_eq!(wrap(m, &k, &secret).unwrap_err().rv(), CKR_MECHANISM_INVALID);
                oneshot(m, &k, true, &secret).unwrap()
            } else {
                wrap(m, &k, &secret).unwrap()
            };
            assert_eq!(&unwrap(m, &k, &w).unwrap()[..], &secret[..]);
            // Wrapping equals encrypting the key bytes.
            assert_eq!(w, oneshot(m, &k, true, &secret).unwrap());
            let mut bad = w.clone();
            // For CBC_PAD, corrupt the padding (the last byte of the block before it).
            bad[if m.ty == CKM_AES_CBC_PAD { w.len() - 17 } else { 0 }] ^= 1;
            let e = unwrap(m, &k, &bad).unwrap_err().rv();
            assert!(e == CKR_WRAPPED_KEY_INVALID, "{m:?} {e:#x}");
        }
        let kw = mech(CKM_AES_KEY_WRAP, MechParam::None);
        assert_eq!(wrap(&kw, &k, &[0u8; 20]).unwrap_err().rv(), CKR_KEY_NOT_WRAPPABLE);
        assert_eq!(wrap(&kw, &k, &[0u8; 8]).unwrap_err().rv(), CKR_KEY_NOT_WRAPPABLE);
        assert_eq!(unwrap(&kw, &k, &[0u8; 20]).unwrap_err().rv(), CKR_WRAPPED_KEY_LEN_RANGE);
        let kwp = mech(CKM_AES_KEY_WRAP_KWP, MechParam::None);
        assert_eq!(wrap(&kwp, &k, &[7u8; 5]).unwrap().len(), 16);
        let pad = mech(CKM_AES_KEY_WRAP_PAD, MechParam::None);
        assert_eq!(wrap(&pad, &k, &[7u8; 5]).unwrap(), wrap(&kwp, &k, &[7u8; 5]).unwrap());
        assert_eq!(oneshot(&pad, &k, true, &[7u8; 5]).unwrap(), wrap(&kwp, &k, &[7u8; 5]).unwrap());
        assert_eq!(wrap(&kw, &key(7), &secret).unwrap_err().rv(), CKR_WRAPPING_KEY_SIZE_RANGE);
        assert_eq!(unwrap(&kw, &key(7), &[0; 24]).unwrap_err().rv(), CKR_UNWRAPPING_KEY_SIZE_RANGE);
        let ecb = mech(CKM_AES_ECB, MechParam::None);
        assert_eq!(wrap(&ecb, &k, &secret).unwrap_err().rv(), CKR_MECHANISM_INVALID);
    }
}
