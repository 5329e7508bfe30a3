//! The Curve25519 mechanisms (PKCS#11 3.0 "Edwards/Montgomery"), over
//! `crypto::okp`: CKM_EDDSA with Ed25519 keys, CKM_ECDH1_DERIVE with
//! X25519 keys, and their key-pair generations.
//!
//! - CKM_EDDSA: without a parameter, or with a CK_EDDSA_PARAMS whose
//!   phFlag is false and context empty, pure Ed25519; phFlag false with a
//!   context is Ed25519ctx; phFlag true is Ed25519ph (context may be
//!   empty). A context over 255 bytes is `CKR_MECHANISM_PARAM_INVALID`.
//!   Pure and ctx messages are buffered, so C_SignUpdate works as well as
//!   single-part C_Sign (up to 64 MiB, then `CKR_DATA_LEN_RANGE`); ph
//!   hashes the message (SHA-512) as it comes.
//! - CKM_ECDH1_DERIVE with a CKK_EC_MONTGOMERY key: the peer's 32-byte
//!   public key raw or as a DER OCTET STRING; the result is the 32-byte
//!   X25519 secret (an all-zero one is refused), raw with CKD_NULL or put
//!   through the X9.63 / SP 800-56C KDF named (`ecdh_kdf`).

use super::Signer;
use crate::ck::*;
use crate::crypto::CryptoError;
use crate::crypto::digest::{Algorithm, Hasher};
use crate::crypto::okp::{self, OkpPrivate, OkpPublic, Variant};
use crate::err;
use crate::error::{Error, Result};
use crate::types::{MechParam, Mechanism};
use zeroize::Zeroizing;

/// (type, min key bits, max key bits, flags): Curve25519 keys are 255 bits
/// (some clients say 256; both are in range).
pub const MECHANISMS: &[(CK_MECHANISM_TYPE, CK_ULONG, CK_ULONG, CK_FLAGS)] = &[
    (CKM_EC_EDWARDS_KEY_PAIR_GEN, 255, 256, CKF_GENERATE_KEY_PAIR | CKF_EC_NAMEDCURVE),
    (CKM_EC_MONTGOMERY_KEY_PAIR_GEN, 255, 256, CKF_GENERATE_KEY_PAIR | CKF_EC_NAMEDCURVE),
    (CKM_EDDSA, 255, 256, CKF_SIGN | CKF_VERIFY | CKF_EC_NAMEDCURVE),
];

/// Pure Ed25519 hashes the message twice, so a multi-part message is held
/// whole: as for multi-part GCM decryption, at most 64 MiB.
const MAX_MULTI_PART: usize = 64 << 20;

/// What a CKM_EDDSA parameter selects.
enum Mode {
    Pure,
    Ctx(Vec<u8>),
    Ph(Vec<u8>),
}

/// Reads a CKM_EDDSA parameter (see the module docs).
fn eddsa_mode(mech: &Mechanism) -> Result<Mode> {
    if mech.ty != CKM_EDDSA {
        return Err(err!(CKR_MECHANISM_INVALID, "mechanism 0x{:x} is not EdDSA", mech.ty));
    }
    let mode = match &mech.param {
        MechParam::None => Mode::Pure,
        MechParam::Eddsa { ph: false, context } if context.is_empty() => Mode::Pure,
        MechParam::Eddsa { ph: false, context } => Mode::Ctx(context.clone()),
        MechParam::Eddsa { ph: true, context } => Mode::Ph(context.clone()),
        _ => return Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "CKM_EDDSA takes CK_EDDSA_PARAMS or nothing")),
    };
    if let Mode::Ctx(c) | Mode::Ph(c) = &mode
        && c.len() > okp::MAX_CONTEXT_LEN
    {
        return Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "an Ed25519 context is at most 255 bytes"));
    }
    Ok(mode)
}

enum Key {
    Private(OkpPrivate),
    Public(OkpPublic),
}

enum Input {
    /// Pure Ed25519 and Ed25519ctx: the whole message.
    Message(Zeroizing<Vec<u8>>),
    /// Ed25519ph: SHA-512 of the message so far.
    Prehash(Box<Hasher>),
}

struct EddsaOp {
    key: Key,
    mode: Mode,
    input: Input,
}

fn op(mech: &Mechanism, key: Key, alg: okp::Okp) -> Result<Box<dyn Signer>> {
    let mode = eddsa_mode(mech)?;
    if alg != okp::Okp::Ed25519 {
        return Err(Error::new(CKR_KEY_TYPE_INCONSISTENT, "CKM_EDDSA needs an Ed25519 key"));
    }
    let input = match mode {
        Mode::Ph(_) => Input::Prehash(Box::new(Hasher::new(Algorithm::Sha512))),
        _ => Input::Message(Zeroizing::new(Vec::new())),
    };
    Ok(Box::new(EddsaOp { key, mode, input }))
}

/// Builds an Ed25519 (pure, ctx or ph) signing operation.
pub fn signer(mech: &Mechanism, key: &OkpPrivate) -> Result<Box<dyn Signer>> {
    op(mech, Key::Private(key.clone()), key.alg())
}

/// Builds an Ed25519 (pure, ctx or ph) verification operation.
pub fn verifier(mech: &Mechanism, key: &OkpPublic) -> Result<Box<dyn Signer>> {
    op(mech, Key::Public(key.clone()), key.alg())
}

impl EddsaOp {
    /// The bytes the engine signs: the message, or its SHA-512 digest.
    fn data<'a>(&'a mut self, buf: &'a mut [u8; 64]) -> (&'a Mode, &'a [u8]) {
        match &mut self.input {
            Input::Message(m) => (&self.mode, &m[..]),
            Input::Prehash(h) => {
                let n = h.finish_into(buf);
                (&self.mode, &buf[..n])
            }
        }
    }
}

impl Signer for EddsaOp {
    fn sig_len(&self) -> usize {
        okp::SIGNATURE_LEN
    }

    fn update(&mut self, data: &[u8]) -> Result<()> {
        match &mut self.input {
            Input::Message(m) => {
                if m.len().saturating_add(data.len()) > MAX_MULTI_PART {
                    return Err(Error::new(CKR_DATA_LEN_RANGE, "a multi-part Ed25519 message is limited to 64 MiB"));
                }
                m.extend_from_slice(data);
            }
            Input::Prehash(h) => h.update(data),
        }
        Ok(())
    }

    fn sign_final(&mut self, out: &mut [u8]) -> Result<usize> {
        let Key::Private(k) = &self.key else {
            return Err(Error::general("EdDSA verify operation asked to sign"));
        };
        let k = k.clone();
        let mut buf = [0u8; 64];
        let (mode, data) = self.data(&mut buf);
        match mode {
            Mode::Pure => k.sign(data, out),
            Mode::Ctx(c) => k.sign_variant(Variant::Ctx(c), data, out),
            Mode::Ph(c) => k.sign_variant(Variant::Ph(c), data, out),
        }
        .map_err(|e| err!(CKR_FUNCTION_FAILED, "Ed25519 signing failed: {e:?}"))
    }

    fn verify_final(&mut self, signature: &[u8]) -> Result<()> {
        let Key::Public(k) = &self.key else {
            return Err(Error::general("EdDSA sign operation asked to verify"));
        };
        let k = k.clone();
        let mut buf = [0u8; 64];
        let (mode, data) = self.data(&mut buf);
        match mode {
            Mode::Pure => k.verify(data, signature),
            Mode::Ctx(c) => k.verify_variant(Variant::Ctx(c), data, signature),
            Mode::Ph(c) => k.verify_variant(Variant::Ph(c), data, signature),
        }
        .map_err(|e| match e {
            CryptoError::InvalidLength => Error::new(CKR_SIGNATURE_LEN_RANGE, "Ed25519 signature must be 64 bytes"),
            CryptoError::AuthFailed => Error::new(CKR_SIGNATURE_INVALID, "Ed25519 signature invalid"),
            e => err!(CKR_FUNCTION_FAILED, "Ed25519 verification failed: {e:?}"),
        })
    }
}

/// CKM_ECDH1_DERIVE (or the cofactor variant: X25519 clamps the scalar,
/// which clears the cofactor) with an X25519 key: the raw 32-byte secret.
/// A hash KDF of CK_ECDH1_DERIVE_PARAMS then makes `want` bytes of it
/// (see `ecdh_kdf`).
pub fn derive(mech: &Mechanism, key: &OkpPrivate, want: Option<usize>) -> Result<Zeroizing<Vec<u8>>> {
    super::ecdh_kdf::check_mechanism(mech)?;
    if key.alg() != okp::Okp::X25519 {
        return Err(Error::new(CKR_KEY_TYPE_INCONSISTENT, "ECDH needs an X25519 (Montgomery) key"));
    }
    super::ecdh_kdf::derive(mech, want, |public_data| {
        let peer = okp::point_from_attr(public_data)
            .ok_or_else(|| Error::new(CKR_MECHANISM_PARAM_INVALID, "X25519 public data must be 32 bytes"))?;
        key.agree(peer).map_err(|e| match e {
            CryptoError::InvalidKey => Error::new(CKR_MECHANISM_PARAM_INVALID, "X25519 peer key invalid"),
            e => err!(CKR_FUNCTION_FAILED, "X25519 failed: {e:?}"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::okp::{Okp, generate};

    fn rv<T>(r: Result<T>) -> CK_RV {
        r.err().map(|e| e.rv()).unwrap_or(CKR_OK)
    }

    #[test]
    fn eddsa_params_and_parts() {
        let k = generate(Okp::Ed25519).unwrap();
        let pure = Mechanism { ty: CKM_EDDSA, param: MechParam::Eddsa { ph: false, context: vec![] } };
        let mut s = signer(&pure, &k).unwrap();
        s.update(b"hello ").unwrap();
        s.update(b"world").unwrap();
        let mut sig = [0u8; 64];
        assert_eq!(s.sign_final(&mut sig).unwrap(), 64);
        let mut v = verifier(&Mechanism::new(CKM_EDDSA), k.public()).unwrap();
        v.update(b"hello world").unwrap();
        v.verify_final(&sig).unwrap();
        let mut v = verifier(&Mechanism::new(CKM_EDDSA), k.public()).unwrap();
        v.update(b"hello worle").unwrap();
        assert_eq!(rv(v.verify_final(&sig)), CKR_SIGNATURE_INVALID);
        // Ed25519ph (multi-part, hashed as it comes) and Ed25519ctx; each
        // signature verifies only under its own variant and context.
        let variants = [
            MechParam::Eddsa { ph: true, context: vec![] },
            MechParam::Eddsa { ph: true, context: b"ctx".to_vec() },
            MechParam::Eddsa { ph: false, context: b"ctx".to_vec() },
            MechParam::None,
        ];
        for (i, param) in variants.iter().enumerate() {
            let m = Mechanism { ty: CKM_EDDSA, param: param.clone() };
            let mut s = signer(&m, &k).unwrap();
            s.update(b"hello ").unwrap();
            s.update(b"world").unwrap();
            let mut sig = [0u8; 64];
            s.sign_final(&mut sig).unwrap();
            for (j, other) in variants.iter().enumerate() {
                let mut v = verifier(&Mechanism { ty: CKM_EDDSA, param: other.clone() }, k.public()).unwrap();
                v.update(b"hello world").unwrap();
                assert_eq!(rv(v.verify_final(&sig)), if i == j { CKR_OK } else { CKR_SIGNATURE_INVALID }, "{i} {j}");
            }
        }
        for ph in [false, true] {
            let m = Mechanism { ty: CKM_EDDSA, param: MechParam::Eddsa { ph, context: vec![1; 256] } };
            assert_eq!(rv(signer(&m, &k)), CKR_MECHANISM_PARAM_INVALID);
        }
        let x = generate(Okp::X25519).unwrap();
        assert_eq!(rv(signer(&pure, &x)), CKR_KEY_TYPE_INCONSISTENT);
        let mut s = signer(&pure, &k).unwrap();
        s.update(&vec![0u8; MAX_MULTI_PART]).unwrap();
        assert_eq!(rv(s.update(b"x")), CKR_DATA_LEN_RANGE);
    }

    #[test]
    fn x25519_derive() {
        let a = generate(Okp::X25519).unwrap();
        let b = generate(Okp::X25519).unwrap();
        let m = |p: &[u8]| Mechanism {
            ty: CKM_ECDH1_DERIVE,
            param: MechParam::Ecdh { kdf: CKD_NULL, shared_data: vec![], public_data: p.to_vec() },
        };
        let mut der = vec![4, 32];
        der.extend_from_slice(a.public().bytes());
        assert_eq!(derive(&m(b.public().bytes()), &a, None).unwrap(), derive(&m(&der), &b, None).unwrap());
        assert_eq!(rv(derive(&m(&[0u8; 32]), &a, None)), CKR_MECHANISM_PARAM_INVALID);
        assert_eq!(rv(derive(&m(&[1u8; 33]), &a, None)), CKR_MECHANISM_PARAM_INVALID);
        assert_eq!(
            rv(derive(&m(b.public().bytes()), &generate(Okp::Ed25519).unwrap(), None)),
            CKR_KEY_TYPE_INCONSISTENT
        );
    }
}
