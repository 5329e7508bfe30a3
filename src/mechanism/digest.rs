//! The digest mechanisms: CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384,
//! CKM_SHA512, CKM_SHA3_224/256/384/512 and CKM_MD5 (legacy; the token's
//! policy may refuse it, `object::policy`), and their saved operation
//! state (`state`: C_GetOperationState / C_SetOperationState).

use super::Digester;
use crate::ck::*;
use crate::crypto::digest::{Algorithm, Hasher};
use crate::err;
use crate::error::{Error, Result};
use crate::types::{MechParam, Mechanism};
use zeroize::Zeroizing;

/// The SHA-3 and MD5 digests (the SHA-1/SHA-2 ones are in the registry's
/// base table): (type, 0, 0, flags).
pub const MECHANISMS: &[(CK_MECHANISM_TYPE, CK_ULONG, CK_ULONG, CK_FLAGS)] = &[
    (CKM_SHA3_224, 0, 0, CKF_DIGEST),
    (CKM_SHA3_256, 0, 0, CKF_DIGEST),
    (CKM_SHA3_384, 0, 0, CKF_DIGEST),
    (CKM_SHA3_512, 0, 0, CKF_DIGEST),
    (CKM_MD5, 0, 0, CKF_DIGEST),
];

/// The digest algorithm of a digest mechanism, if it is one.
pub fn algorithm(ty: CK_MECHANISM_TYPE) -> Option<Algorithm> {
    Some(match ty {
        CKM_SHA_1 => Algorithm::Sha1,
        CKM_SHA224 => Algorithm::Sha224,
        CKM_SHA256 => Algorithm::Sha256,
        CKM_SHA384 => Algorithm::Sha384,
        CKM_SHA512 => Algorithm::Sha512,
        CKM_SHA3_224 => Algorithm::Sha3_224,
        CKM_SHA3_256 => Algorithm::Sha3_256,
        CKM_SHA3_384 => Algorithm::Sha3_384,
        CKM_SHA3_512 => Algorithm::Sha3_512,
        CKM_MD5 => Algorithm::Md5,
        _ => return None,
    })
}

/// Builds the digest operation for `mech`.
pub fn digester(mech: &Mechanism) -> Result<Box<dyn Digester>> {
    let alg =
        algorithm(mech.ty).ok_or_else(|| err!(CKR_MECHANISM_INVALID, "mechanism 0x{:x} is not a digest", mech.ty))?;
    match &mech.param {
        MechParam::None => {}
        MechParam::Bytes(b) if b.is_empty() => {}
        _ => return Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "digest mechanisms take no parameter")),
    }
    Ok(Box::new(DigestOp { ty: mech.ty, h: Hasher::new(alg), keyed: false }))
}

struct DigestOp {
    ty: CK_MECHANISM_TYPE,
    h: Hasher,
    /// Key bytes went in (C_DigestKey): never saved.
    keyed: bool,
}

impl Digester for DigestOp {
    fn output_len(&self) -> usize {
        self.h.output_len()
    }
    fn update(&mut self, data: &[u8]) {
        self.h.update(data);
    }
    fn finish(&mut self, out: &mut [u8]) -> usize {
        self.h.finish_into(out)
    }
    fn update_secret(&mut self, data: &[u8]) {
        self.keyed = true;
        self.h.update(data);
    }
    fn save(&self, multipart: bool) -> Result<Zeroizing<Vec<u8>>> {
        if self.keyed {
            return Err(Error::new(CKR_STATE_UNSAVEABLE, "a digest that took a key (C_DigestKey) is not saved"));
        }
        let st = self.h.export_state().ok_or_else(|| {
            err!(CKR_STATE_UNSAVEABLE, "the engine's {:?} context cannot be saved", self.h.algorithm())
        })?;
        state::seal(self.ty, multipart, &st)
    }
}

/// The saved state of a digest operation (C_GetOperationState /
/// C_SetOperationState).
///
/// Format (version 1): `"KWst"`, version byte 1, kind byte 1 (digest), flags
/// byte (bit 0: C_DigestUpdate was called), the mechanism type (u64 LE),
/// the engine state's length (u16 LE) and bytes
/// (`crypto::digest::Hasher::export_state`: chaining words, counters, the
/// pending block), then a 16-byte HMAC-SHA256 tag over all of it under a
/// random key made once per process. The state holds no key material (a
/// digest that took a key is never saved, see `DigestOp::save`), only the
/// message's hash state; the tag makes a state that this process did not
/// make (edited, truncated, another library's or another process's) a
/// clean `CKR_SAVED_STATE_INVALID`, and the engine state is checked on
/// import besides (`Hasher::import_state`). A state restores only the
/// mechanism it was saved from (the mechanism is inside the tag); the
/// token's policy is checked again on restore.
pub mod state {
    use super::*;
    use crate::crypto::hmac;
    use std::sync::OnceLock;

    const MAGIC: &[u8; 4] = b"KWst";
    const VERSION: u8 = 1;
    const KIND_DIGEST: u8 = 1;
    const TAG_LEN: usize = 16;
    const HEADER_LEN: usize = 4 + 1 + 1 + 1 + 8 + 2;

    fn key() -> Result<&'static [u8; 32]> {
        static KEY: OnceLock<[u8; 32]> = OnceLock::new();
        if let Some(k) = KEY.get() {
            return Ok(k);
        }
        let mut k = [0u8; 32];
        crate::crypto::random_fill(&mut k).map_err(|_| Error::new(CKR_FUNCTION_FAILED, "no randomness"))?;
        Ok(KEY.get_or_init(|| k))
    }

    fn tag(body: &[u8]) -> Result<Vec<u8>> {
        let mut t = hmac::hmac(Algorithm::Sha256, key()?, body);
        t.truncate(TAG_LEN);
        Ok(t)
    }

    /// The blob of a digest of mechanism `ty` with engine state `st`.
    pub(super) fn seal(ty: CK_MECHANISM_TYPE, multipart: bool, st: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let len = u16::try_from(st.len()).map_err(|_| Error::general("digest state too long"))?;
        let mut v = Zeroizing::new(Vec::with_capacity(HEADER_LEN + st.len() + TAG_LEN));
        v.extend_from_slice(MAGIC);
        v.extend_from_slice(&[VERSION, KIND_DIGEST, u8::from(multipart)]);
        #[allow(clippy::useless_conversion)] // CK_ULONG is u32 on some targets
        let ty64 = u64::from(ty);
        v.extend_from_slice(&ty64.to_le_bytes());
        v.extend_from_slice(&len.to_le_bytes());
        v.extend_from_slice(st);
        let t = tag(&v)?;
        v.extend_from_slice(&t);
        Ok(v)
    }

    fn invalid(why: &'static str) -> Error {
        Error::new(CKR_SAVED_STATE_INVALID, why)
    }

    /// A digest operation restored from a blob of [`seal`]: the operation,
    /// whether it was multi-part, and its mechanism type (for the policy
    /// check). `CKR_SAVED_STATE_INVALID` for anything else.
    pub fn restore(blob: &[u8]) -> Result<(Box<dyn Digester>, bool, CK_MECHANISM_TYPE)> {
        if blob.len() < HEADER_LEN + TAG_LEN || &blob[..4] != MAGIC {
            return Err(invalid("not a keyward operation state"));
        }
        let (body, t) = blob.split_at(blob.len() - TAG_LEN);
        #[allow(deprecated)]
        aws_lc_rs::constant_time::verify_slices_are_equal(&tag(body)?, t)
            .map_err(|_| invalid("operation state not made by this library instance, or altered"))?;
        if body[4] != VERSION || body[5] != KIND_DIGEST || body[6] > 1 {
            return Err(invalid("unknown operation state version or kind"));
        }
        let multipart = body[6] == 1;
        let ty = u64::from_le_bytes(body[7..15].try_into().map_err(|_| invalid("short state"))?);
        let ty = CK_MECHANISM_TYPE::try_from(ty).map_err(|_| invalid("bad mechanism"))?;
        let len = usize::from(u16::from_le_bytes([body[15], body[16]]));
        let st = &body[HEADER_LEN..];
        if st.len() != len {
            return Err(invalid("operation state length mismatch"));
        }
        let alg = algorithm(ty).ok_or_else(|| invalid("operation state of an unknown digest"))?;
        let h = Hasher::import_state(alg, st).ok_or_else(|| invalid("inconsistent digest state"))?;
        Ok((Box::new(DigestOp { ty, h, keyed: false }), multipart, ty))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_abc_and_errors() {
        let mut d = digester(&Mechanism::new(CKM_SHA256)).unwrap();
        assert_eq!(d.output_len(), 32);
        d.update(b"ab");
        d.update(b"c");
        let mut out = [0u8; 32];
        assert_eq!(d.finish(&mut out), 32);
        assert_eq!(hex::encode(out), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        for (ty, len) in [(CKM_SHA_1, 20), (CKM_SHA224, 28), (CKM_SHA384, 48), (CKM_SHA512, 64)] {
            assert_eq!(digester(&Mechanism::new(ty)).unwrap().output_len(), len);
        }
        let m = Mechanism { ty: CKM_SHA256, param: MechParam::Bytes(vec![1]) };
        assert_eq!(digester(&m).err().unwrap().rv(), CKR_MECHANISM_PARAM_INVALID);
        assert_eq!(digester(&Mechanism::new(CKM_AES_ECB)).err().unwrap().rv(), CKR_MECHANISM_INVALID);
    }

    #[test]
    fn saved_states() {
        let msg = b"The quick brown fox jumps over the lazy dog, again and again and again";
        for ty in [CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384, CKM_SHA512, CKM_MD5] {
            let mut whole = digester(&Mechanism::new(ty)).unwrap();
            whole.update(msg);
            let mut want = [0u8; 64];
            let n = whole.finish(&mut want);
            let mut d = digester(&Mechanism::new(ty)).unwrap();
            d.update(&msg[..30]);
            let blob = d.save(true).unwrap();
            let (mut r, multipart, rty) = state::restore(&blob).unwrap();
            assert!(multipart);
            assert_eq!(rty, ty);
            r.update(&msg[30..]);
            let mut got = [0u8; 64];
            assert_eq!(r.finish(&mut got), n);
            assert_eq!(got[..n], want[..n]);
            // Any altered byte, a truncation or an extension is refused.
            for i in 0..blob.len() {
                let mut bad = blob.to_vec();
                bad[i] ^= 0x01;
                assert_eq!(state::restore(&bad).err().unwrap().rv(), CKR_SAVED_STATE_INVALID, "{ty:x} byte {i}");
            }
            assert_eq!(state::restore(&blob[..blob.len() - 1]).err().unwrap().rv(), CKR_SAVED_STATE_INVALID);
            let mut long = blob.to_vec();
            long.push(0);
            assert_eq!(state::restore(&long).err().unwrap().rv(), CKR_SAVED_STATE_INVALID);
        }
        assert_eq!(state::restore(b"").err().unwrap().rv(), CKR_SAVED_STATE_INVALID);
        // SHA-3 contexts are opaque; a keyed digest is never saved.
        let d = digester(&Mechanism::new(CKM_SHA3_256)).unwrap();
        assert_eq!(d.save(false).err().unwrap().rv(), CKR_STATE_UNSAVEABLE);
        let mut d = digester(&Mechanism::new(CKM_SHA256)).unwrap();
        d.update_secret(&[7u8; 16]);
        assert_eq!(d.save(true).err().unwrap().rv(), CKR_STATE_UNSAVEABLE);
    }
}
