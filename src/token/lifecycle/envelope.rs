//! CKM_KEYWARD_AES_GCM: AES-GCM whose ciphertext names the key version.
//!
//! Encrypt (primary version only, like every new-data use) picks a random
//! 96-bit IV and writes
//!
//! ```text
//! "KW" | 0x01 | version (u32 big-endian) | IV (12) | ciphertext | tag (16)
//! ```
//!
//! The 19-byte header is authenticated (it is prepended to the caller's
//! AAD). Decrypt with the handle of any version of the managed key reads the
//! version from the header and uses that version's material, so data
//! encrypted before any number of rotations still decrypts through the
//! current primary. A version that is disabled or pending deletion refuses
//! (`CKR_KEY_FUNCTION_NOT_PERMITTED`); a purged or unknown version is
//! `CKR_ENCRYPTED_DATA_INVALID`. Parameter: none, or the AAD as bytes.
//! Multi-part calls buffer the input and produce everything at final.
//!
//! Owns: the envelope format and picking the version to decrypt with. Must
//! not touch: the lifecycle rules (each version is checked like any key use)
//! or the AES-GCM primitive itself (src/crypto).
#![allow(clippy::unnecessary_cast)] // CK_ULONG is not u64 on every platform

use crate::ck::*;
use crate::err;
use crate::error::{Error, Result};
use crate::kms::attrs::version_of;
use crate::mechanism::{Buffered, Cipher, WholeMessage};
use crate::object::Purpose;
use crate::object::{KeyMaterial, Object};
use crate::token::Token;
use crate::types::{MechParam, Mechanism};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const MAGIC: &[u8; 3] = b"KW\x01";
pub const IV_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
pub const HEADER_LEN: usize = MAGIC.len() + 4 + IV_LEN;
/// Bytes the envelope adds to the plaintext.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;
const _: () = assert!(OVERHEAD == crate::object::vendor::KEYWARD_AES_GCM_OVERHEAD);

/// The key version a ciphertext was made with, if it is an envelope.
pub fn version_of_ciphertext(ct: &[u8]) -> Option<u32> {
    if ct.len() < OVERHEAD || &ct[..3] != MAGIC {
        return None;
    }
    Some(u32::from_be_bytes([ct[3], ct[4], ct[5], ct[6]]))
}

fn aes_of(m: &KeyMaterial) -> Result<&crate::crypto::aes::Prepared> {
    match m {
        KeyMaterial::Secret(k) => k.aes().map_err(|_| Error::new(CKR_KEY_TYPE_INCONSISTENT, "not an AES key")),
        #[allow(unreachable_patterns)]
        _ => Err(Error::new(CKR_KEY_TYPE_INCONSISTENT, "CKM_KEYWARD_AES_GCM needs an AES key")),
    }
}

/// A version usable for decryption, or why it is not.
enum Slot {
    Ready(Arc<KeyMaterial>),
    Refused(Error),
}

struct Envelope {
    encrypt: bool,
    aad: Vec<u8>,
    /// Encrypt: the primary's version and material.
    version: u32,
    key: Option<Arc<KeyMaterial>>,
    /// Decrypt: every version of the managed key.
    versions: BTreeMap<u32, Slot>,
}

impl Envelope {
    fn seal(&self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let key = self.key.as_ref().ok_or_else(|| Error::general("envelope without a key"))?;
        let mut iv = [0u8; IV_LEN];
        crate::crypto::random_fill(&mut iv).map_err(|_| Error::general("rng failed"))?;
        let n = input.len();
        out[..3].copy_from_slice(MAGIC);
        out[3..7].copy_from_slice(&self.version.to_be_bytes());
        out[7..HEADER_LEN].copy_from_slice(&iv);
        let mut aad = out[..HEADER_LEN].to_vec();
        aad.extend_from_slice(&self.aad);
        let (_, rest) = out.split_at_mut(HEADER_LEN);
        let (body, tail) = rest.split_at_mut(n);
        body.copy_from_slice(input);
        aes_of(key)?
            .gcm_seal(&iv, &aad, body, &mut tail[..TAG_LEN])
            .map_err(|_| Error::new(CKR_DATA_LEN_RANGE, "input too long for AES-GCM"))?;
        Ok(n + OVERHEAD)
    }

    fn open(&self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let version = version_of_ciphertext(input)
            .ok_or_else(|| Error::new(CKR_ENCRYPTED_DATA_INVALID, "not a CKM_KEYWARD_AES_GCM ciphertext"))?;
        let key = match self.versions.get(&version) {
            Some(Slot::Ready(k)) => k,
            Some(Slot::Refused(e)) => return Err(e.clone()),
            None => {
                return Err(err!(
                    CKR_ENCRYPTED_DATA_INVALID,
                    "ciphertext of key version {version}, which does not exist"
                ));
            }
        };
        let m = input.len() - OVERHEAD;
        let mut aad = input[..HEADER_LEN].to_vec();
        aad.extend_from_slice(&self.aad);
        let iv = &input[7..HEADER_LEN];
        out[..m].copy_from_slice(&input[HEADER_LEN..HEADER_LEN + m]);
        aes_of(key)?
            .gcm_open(iv, &aad, &mut out[..m], &input[HEADER_LEN + m..])
            .map_err(|_| Error::new(CKR_ENCRYPTED_DATA_INVALID, "envelope authentication failed"))?;
        Ok(m)
    }
}

impl WholeMessage for Envelope {
    fn out_bound(&self, n: usize) -> usize {
        if self.encrypt { n + OVERHEAD } else { n.saturating_sub(OVERHEAD) }
    }

    fn run(&self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        if self.encrypt { self.seal(input, out) } else { self.open(input, out) }
    }
}

/// Builds the envelope operation on `obj` (usage already checked on `obj`;
/// decryption checks again on each version it may decrypt with).
pub fn cipher(token: &Token, obj: &Object, mech: &Mechanism, encrypt: bool) -> Result<Box<dyn Cipher>> {
    if obj.class != CKO_SECRET_KEY || obj.key_type != Some(CKK_AES) {
        return Err(Error::new(CKR_KEY_TYPE_INCONSISTENT, "CKM_KEYWARD_AES_GCM needs an AES key"));
    }
    let aad = match &mech.param {
        MechParam::None => Vec::new(),
        MechParam::Bytes(b) => b.clone(),
        _ => return Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "CKM_KEYWARD_AES_GCM takes the AAD as bytes")),
    };
    let version = u32::try_from(version_of(obj)).map_err(|_| Error::device("key version out of range"))?;
    let mut env = Envelope { encrypt, aad, version, key: None, versions: BTreeMap::new() };
    if encrypt {
        env.key = Some(token.material(obj)?);
    } else {
        for v in token.kms_versions_of(obj)? {
            if v.class != CKO_SECRET_KEY {
                continue;
            }
            let Ok(n) = u32::try_from(version_of(&v)) else { continue };
            // The version that decrypts is checked, not the handle the
            // caller passed: its own CKA_DECRYPT, CKA_ALLOWED_MECHANISMS,
            // state and dates.
            let checked = crate::token::ops::check_key_use(&v, mech, Purpose::Decrypt)
                .and_then(|()| crate::kms::check_use(&v, Purpose::Decrypt, &token.kms.config));
            let slot = match checked {
                Ok(()) => Slot::Ready(token.material(&v)?),
                Err(e) => Slot::Refused(e),
            };
            env.versions.insert(n, slot);
        }
    }
    Ok(Box::new(Buffered::new(env)))
}
