//! The DSA mechanisms (legacy, behind `[policy] allow_dsa`): CKM_DSA (the
//! caller's hash, single-part, 1..=64 bytes) and CKM_DSA_SHA1/224/256/384/
//! 512 (the message hashed incrementally), over `crypto::dsa`. Signatures
//! are r || s, each the length of the subprime q. Key-pair and parameter
//! generation are the token's (`token::legacy`). Key sizes in `MECHANISMS`
//! are bits of the prime p.

use super::Signer;
use crate::ck::*;
use crate::crypto::CryptoError;
use crate::crypto::digest::{self, Algorithm, Hasher};
use crate::crypto::dsa::DsaKey;
use crate::err;
use crate::error::{Error, Result};
use crate::types::{MechParam, Mechanism};
use std::sync::Arc;

const SIGN_VERIFY: CK_FLAGS = CKF_SIGN | CKF_VERIFY;

/// The registry lines: (type, min, max bits of p, flags).
pub static MECHANISMS: &[(CK_MECHANISM_TYPE, CK_ULONG, CK_ULONG, CK_FLAGS)] = &[
    (CKM_DSA_PARAMETER_GEN, 1024, 3072, CKF_GENERATE),
    (CKM_DSA_KEY_PAIR_GEN, 1024, 3072, CKF_GENERATE_KEY_PAIR),
    (CKM_DSA, 1024, 3072, SIGN_VERIFY),
    (CKM_DSA_SHA1, 1024, 3072, SIGN_VERIFY),
    (CKM_DSA_SHA224, 1024, 3072, SIGN_VERIFY),
    (CKM_DSA_SHA256, 1024, 3072, SIGN_VERIFY),
    (CKM_DSA_SHA384, 1024, 3072, SIGN_VERIFY),
    (CKM_DSA_SHA512, 1024, 3072, SIGN_VERIFY),
];

/// The longest hash CKM_DSA takes.
const MAX_RAW: usize = digest::MAX_OUTPUT_LEN;

pub fn is_dsa(ty: CK_MECHANISM_TYPE) -> bool {
    MECHANISMS.iter().any(|m| m.0 == ty && m.3 == SIGN_VERIFY)
}

enum Input {
    Raw(Vec<u8>),
    Hashed(Box<Hasher>),
}

fn input_for(mech: &Mechanism) -> Result<Input> {
    if !matches!(&mech.param, MechParam::None) && !matches!(&mech.param, MechParam::Bytes(b) if b.is_empty()) {
        return Err(err!(CKR_MECHANISM_PARAM_INVALID, "mechanism 0x{:x} takes no parameter", mech.ty));
    }
    let h = |a| Ok(Input::Hashed(Box::new(Hasher::new(a))));
    match mech.ty {
        CKM_DSA => Ok(Input::Raw(Vec::new())),
        CKM_DSA_SHA1 => h(Algorithm::Sha1),
        CKM_DSA_SHA224 => h(Algorithm::Sha224),
        CKM_DSA_SHA256 => h(Algorithm::Sha256),
        CKM_DSA_SHA384 => h(Algorithm::Sha384),
        CKM_DSA_SHA512 => h(Algorithm::Sha512),
        _ => Err(err!(CKR_MECHANISM_INVALID, "mechanism 0x{:x} is not a DSA signature", mech.ty)),
    }
}

struct DsaOp {
    key: Arc<DsaKey>,
    input: Input,
    sign: bool,
}

/// Builds a DSA signing (`sign`) or verification operation.
pub fn signer(mech: &Mechanism, key: Arc<DsaKey>, sign: bool) -> Result<Box<dyn Signer>> {
    let input = input_for(mech)?;
    Ok(Box::new(DsaOp { key, input, sign }))
}

impl DsaOp {
    fn hash(&mut self, buf: &mut [u8; MAX_RAW]) -> Result<usize> {
        match &mut self.input {
            Input::Raw(v) if v.is_empty() || v.len() > MAX_RAW => {
                Err(Error::new(CKR_DATA_LEN_RANGE, "CKM_DSA signs a hash of 1 to 64 bytes"))
            }
            Input::Raw(v) => {
                buf[..v.len()].copy_from_slice(v);
                Ok(v.len())
            }
            Input::Hashed(h) => Ok(h.finish_into(buf)),
        }
    }
}

impl Signer for DsaOp {
    fn sig_len(&self) -> usize {
        self.key.sig_len()
    }
    fn single_part_only(&self) -> bool {
        matches!(self.input, Input::Raw(_))
    }
    fn update(&mut self, data: &[u8]) -> Result<()> {
        match &mut self.input {
            Input::Raw(v) => {
                if v.len() + data.len() > MAX_RAW {
                    return Err(Error::new(CKR_DATA_LEN_RANGE, "CKM_DSA signs a hash of 1 to 64 bytes"));
                }
                v.extend_from_slice(data);
            }
            Input::Hashed(h) => h.update(data),
        }
        Ok(())
    }
    fn sign_final(&mut self, out: &mut [u8]) -> Result<usize> {
        if !self.sign {
            return Err(Error::general("DSA verify operation asked to sign"));
        }
        let mut buf = [0u8; MAX_RAW];
        let n = self.hash(&mut buf)?;
        let len = self.key.sig_len();
        self.key
            .sign(&buf[..n], &mut out[..len])
            .map_err(|e| err!(CKR_FUNCTION_FAILED, "DSA signing failed: {e:?}"))?;
        Ok(len)
    }
    fn verify_final(&mut self, signature: &[u8]) -> Result<()> {
        if self.sign {
            return Err(Error::general("DSA sign operation asked to verify"));
        }
        if signature.len() != self.key.sig_len() {
            return Err(err!(CKR_SIGNATURE_LEN_RANGE, "DSA signature must be {} bytes", self.key.sig_len()));
        }
        let mut buf = [0u8; MAX_RAW];
        let n = self.hash(&mut buf)?;
        self.key.verify(&buf[..n], signature).map_err(|e| match e {
            CryptoError::InvalidLength => Error::new(CKR_SIGNATURE_LEN_RANGE, "DSA signature length"),
            CryptoError::AuthFailed => Error::new(CKR_SIGNATURE_INVALID, "DSA signature invalid"),
            e => err!(CKR_FUNCTION_FAILED, "DSA verification failed: {e:?}"),
        })
    }
}
