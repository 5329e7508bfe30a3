//! The PKCS#11 3.2 post-quantum mechanisms, over `crypto::pq`:
//! CKM_ML_DSA_KEY_PAIR_GEN, CKM_ML_DSA, CKM_HASH_ML_DSA and
//! CKM_HASH_ML_DSA_<hash> (FIPS 204), CKM_ML_KEM_KEY_PAIR_GEN and CKM_ML_KEM
//! (FIPS 203). The parameter-set numbers (CKP_ML_DSA_*, CKP_ML_KEM_*) map to
//! the engine's parameter sets here.
//!
//! - CKM_ML_DSA: CK_SIGN_ADDITIONAL_CONTEXT or none (hedged, no context).
//!   CKH_HEDGE_PREFERRED and CKH_HEDGE_REQUIRED sign hedged (fresh `rnd`),
//!   CKH_DETERMINISTIC_REQUIRED deterministically; a context is at most 255
//!   bytes. Multi-part: the message is buffered (capped at 64 MiB).
//! - CKM_HASH_ML_DSA: CK_HASH_SIGN_ADDITIONAL_CONTEXT naming the hash; the
//!   data is that hash's output; single-part only.
//! - CKM_HASH_ML_DSA_<hash>: the mechanism hashes the message (multi-part).
//! - CKM_ML_KEM: no parameter; encapsulation with a public key gives the
//!   ciphertext and a 32-byte shared secret, decapsulation with the private
//!   key gives the secret back.
//! - CKM_KEYWARD_ML_KEM_DETERMINISTIC (vendor, encapsulation only): the
//!   parameter is exactly the 32 bytes of FIPS 203's `m`; the ciphertext and
//!   secret are the deterministic ML-KEM.Encaps_internal(ek, m) (what the
//!   ACVP encapsulation vectors check). The caller knows the secret it
//!   chose, so the token makes the key as an import (`token::pq`).

use super::Signer;
use crate::ck::*;
use crate::crypto::CryptoError;
use crate::crypto::pq::{
    self, Domain, MlDsa, MlDsaPrivate, MlDsaPublic, MlKem, MlKemPrivate, MlKemPublic, PreHash, Rnd,
};
use crate::err;
use crate::error::{Error, Result};
use crate::types::{MechParam, Mechanism};
use zeroize::Zeroizing;

const SIGN_VERIFY: CK_FLAGS = CKF_SIGN | CKF_VERIFY;

/// (type, min, max, flags): key sizes are the parameter-set numbers.
pub const MECHANISMS: &[(CK_MECHANISM_TYPE, CK_ULONG, CK_ULONG, CK_FLAGS)] = &[
    (CKM_ML_KEM_KEY_PAIR_GEN, CKP_ML_KEM_512, CKP_ML_KEM_1024, CKF_GENERATE_KEY_PAIR),
    (CKM_ML_KEM, CKP_ML_KEM_512, CKP_ML_KEM_1024, CKF_ENCAPSULATE | CKF_DECAPSULATE),
    (CKM_KEYWARD_ML_KEM_DETERMINISTIC, CKP_ML_KEM_512, CKP_ML_KEM_1024, CKF_ENCAPSULATE),
    (CKM_ML_DSA_KEY_PAIR_GEN, CKP_ML_DSA_44, CKP_ML_DSA_87, CKF_GENERATE_KEY_PAIR),
    (CKM_ML_DSA, CKP_ML_DSA_44, CKP_ML_DSA_87, SIGN_VERIFY),
    (CKM_HASH_ML_DSA, CKP_ML_DSA_44, CKP_ML_DSA_87, SIGN_VERIFY),
    (CKM_HASH_ML_DSA_SHA224, CKP_ML_DSA_44, CKP_ML_DSA_87, SIGN_VERIFY),
    (CKM_HASH_ML_DSA_SHA256, CKP_ML_DSA_44, CKP_ML_DSA_87, SIGN_VERIFY),
    (CKM_HASH_ML_DSA_SHA384, CKP_ML_DSA_44, CKP_ML_DSA_87, SIGN_VERIFY),
    (CKM_HASH_ML_DSA_SHA512, CKP_ML_DSA_44, CKP_ML_DSA_87, SIGN_VERIFY),
    (CKM_HASH_ML_DSA_SHA3_224, CKP_ML_DSA_44, CKP_ML_DSA_87, SIGN_VERIFY),
    (CKM_HASH_ML_DSA_SHA3_256, CKP_ML_DSA_44, CKP_ML_DSA_87, SIGN_VERIFY),
    (CKM_HASH_ML_DSA_SHA3_384, CKP_ML_DSA_44, CKP_ML_DSA_87, SIGN_VERIFY),
    (CKM_HASH_ML_DSA_SHA3_512, CKP_ML_DSA_44, CKP_ML_DSA_87, SIGN_VERIFY),
    (CKM_HASH_ML_DSA_SHAKE128, CKP_ML_DSA_44, CKP_ML_DSA_87, SIGN_VERIFY),
    (CKM_HASH_ML_DSA_SHAKE256, CKP_ML_DSA_44, CKP_ML_DSA_87, SIGN_VERIFY),
];

pub use crate::ck::CKM_KEYWARD_ML_KEM_DETERMINISTIC;

/// Whether `ty` is one of the ML-KEM operation mechanisms.
pub fn is_ml_kem(ty: CK_MECHANISM_TYPE) -> bool {
    ty == CKM_ML_KEM || ty == CKM_KEYWARD_ML_KEM_DETERMINISTIC
}

/// The longest multi-part message buffered for one signature.
const MAX_MESSAGE: usize = 64 << 20;

/// Whether `ty` is one of the ML-DSA signature mechanisms.
pub fn is_ml_dsa(ty: CK_MECHANISM_TYPE) -> bool {
    ty == CKM_ML_DSA || ty == CKM_HASH_ML_DSA || hash_of_mechanism(ty).is_some()
}

/// The parameter set of a CKA_PARAMETER_SET value of a CKK_ML_DSA key.
pub fn ml_dsa_set(v: CK_ULONG) -> Option<MlDsa> {
    match v {
        CKP_ML_DSA_44 => Some(MlDsa::P44),
        CKP_ML_DSA_65 => Some(MlDsa::P65),
        CKP_ML_DSA_87 => Some(MlDsa::P87),
        _ => None,
    }
}

pub fn ml_dsa_value(a: MlDsa) -> CK_ULONG {
    match a {
        MlDsa::P44 => CKP_ML_DSA_44,
        MlDsa::P65 => CKP_ML_DSA_65,
        MlDsa::P87 => CKP_ML_DSA_87,
    }
}

/// The parameter set of a CKA_PARAMETER_SET value of a CKK_ML_KEM key.
pub fn ml_kem_set(v: CK_ULONG) -> Option<MlKem> {
    match v {
        CKP_ML_KEM_512 => Some(MlKem::P512),
        CKP_ML_KEM_768 => Some(MlKem::P768),
        CKP_ML_KEM_1024 => Some(MlKem::P1024),
        _ => None,
    }
}

pub fn ml_kem_value(a: MlKem) -> CK_ULONG {
    match a {
        MlKem::P512 => CKP_ML_KEM_512,
        MlKem::P768 => CKP_ML_KEM_768,
        MlKem::P1024 => CKP_ML_KEM_1024,
    }
}

/// The pre-hash a CKM_HASH_ML_DSA_<hash> mechanism applies.
fn hash_of_mechanism(ty: CK_MECHANISM_TYPE) -> Option<PreHash> {
    Some(match ty {
        CKM_HASH_ML_DSA_SHA224 => PreHash::Sha224,
        CKM_HASH_ML_DSA_SHA256 => PreHash::Sha256,
        CKM_HASH_ML_DSA_SHA384 => PreHash::Sha384,
        CKM_HASH_ML_DSA_SHA512 => PreHash::Sha512,
        CKM_HASH_ML_DSA_SHA3_224 => PreHash::Sha3_224,
        CKM_HASH_ML_DSA_SHA3_256 => PreHash::Sha3_256,
        CKM_HASH_ML_DSA_SHA3_384 => PreHash::Sha3_384,
        CKM_HASH_ML_DSA_SHA3_512 => PreHash::Sha3_512,
        CKM_HASH_ML_DSA_SHAKE128 => PreHash::Shake128,
        CKM_HASH_ML_DSA_SHAKE256 => PreHash::Shake256,
        _ => return None,
    })
}

/// The hash a CK_HASH_SIGN_ADDITIONAL_CONTEXT names (a digest mechanism).
fn hash_of_digest(ty: CK_MECHANISM_TYPE) -> Option<PreHash> {
    Some(match ty {
        CKM_SHA224 => PreHash::Sha224,
        CKM_SHA256 => PreHash::Sha256,
        CKM_SHA384 => PreHash::Sha384,
        CKM_SHA512 => PreHash::Sha512,
        CKM_SHA3_224 => PreHash::Sha3_224,
        CKM_SHA3_256 => PreHash::Sha3_256,
        CKM_SHA3_384 => PreHash::Sha3_384,
        CKM_SHA3_512 => PreHash::Sha3_512,
        // CKM_SHAKE128_KEY_DERIVATION / CKM_SHAKE256_KEY_DERIVATION name
        // the SHAKEs in 3.0 headers; 3.2 uses the same numbers.
        CKM_SHAKE_128_KEY_DERIVATION => PreHash::Shake128,
        CKM_SHAKE_256_KEY_DERIVATION => PreHash::Shake256,
        _ => return None,
    })
}

/// How the message reaches the signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Input {
    /// ML-DSA: the message itself.
    Pure,
    /// CKM_HASH_ML_DSA: the caller's digest (single-part).
    Digest(PreHash),
    /// CKM_HASH_ML_DSA_<hash>: hashed here.
    Hash(PreHash),
}

/// A parsed ML-DSA mechanism.
struct Params {
    input: Input,
    rnd: Rnd,
    context: Vec<u8>,
}

fn rnd_of(hedge: CK_ULONG) -> Result<Rnd> {
    match hedge {
        CKH_HEDGE_PREFERRED | CKH_HEDGE_REQUIRED => Ok(Rnd::Hedged),
        CKH_DETERMINISTIC_REQUIRED => Ok(Rnd::Deterministic),
        h => Err(err!(CKR_MECHANISM_PARAM_INVALID, "unknown hedge variant {h}")),
    }
}

fn params(mech: &Mechanism) -> Result<Params> {
    let bad = |why: &'static str| Error::new(CKR_MECHANISM_PARAM_INVALID, why);
    let (hedge, context, input) = match (&mech.param, mech.ty) {
        (MechParam::None, CKM_HASH_ML_DSA) => return Err(bad("CKM_HASH_ML_DSA needs CK_HASH_SIGN_ADDITIONAL_CONTEXT")),
        (MechParam::HashSignContext { hedge, context, hash }, CKM_HASH_ML_DSA) => {
            let h = hash_of_digest(*hash).ok_or_else(|| bad("CKM_HASH_ML_DSA: unsupported hash"))?;
            (*hedge, context.clone(), Input::Digest(h))
        }
        (MechParam::None, ty) if ty != CKM_HASH_ML_DSA => (CKH_HEDGE_PREFERRED, Vec::new(), Input::Pure),
        (MechParam::SignContext { hedge, context }, _) => (*hedge, context.clone(), Input::Pure),
        _ => return Err(bad("ML-DSA takes CK_SIGN_ADDITIONAL_CONTEXT (or nothing)")),
    };
    let input = match (input, hash_of_mechanism(mech.ty)) {
        (Input::Pure, Some(h)) => Input::Hash(h),
        (Input::Pure, None) if mech.ty != CKM_ML_DSA => {
            return Err(err!(CKR_MECHANISM_INVALID, "mechanism 0x{:x} is not ML-DSA", mech.ty));
        }
        (i, _) => i,
    };
    if context.len() > pq::MAX_CONTEXT_LEN {
        return Err(bad("the ML-DSA context string is at most 255 bytes"));
    }
    Ok(Params { input, rnd: rnd_of(hedge)?, context })
}

enum Key {
    Private(MlDsaPrivate),
    Public(MlDsaPublic),
}

struct MlDsaOp {
    key: Key,
    p: Params,
    msg: Zeroizing<Vec<u8>>,
}

/// Builds an ML-DSA signing operation.
pub fn signer(mech: &Mechanism, key: &MlDsaPrivate) -> Result<Box<dyn Signer>> {
    let p = params(mech)?;
    Ok(Box::new(MlDsaOp { key: Key::Private(key.clone()), p, msg: Zeroizing::new(Vec::new()) }))
}

/// Builds an ML-DSA verification operation.
pub fn verifier(mech: &Mechanism, key: &MlDsaPublic) -> Result<Box<dyn Signer>> {
    let p = params(mech)?;
    Ok(Box::new(MlDsaOp { key: Key::Public(key.clone()), p, msg: Zeroizing::new(Vec::new()) }))
}

impl MlDsaOp {
    fn alg(&self) -> MlDsa {
        match &self.key {
            Key::Private(k) => k.alg(),
            Key::Public(k) => k.alg(),
        }
    }

    /// The signed bytes and their domain.
    fn prepared(&self) -> Result<(Domain<'_>, std::borrow::Cow<'_, [u8]>)> {
        let context = &self.p.context;
        Ok(match self.p.input {
            Input::Pure => (Domain::Pure { context }, std::borrow::Cow::Borrowed(&self.msg[..])),
            Input::Digest(hash) => {
                if self.msg.len() != hash.output_len() {
                    return Err(err!(CKR_DATA_LEN_RANGE, "CKM_HASH_ML_DSA: the data must be the {hash:?} digest"));
                }
                (Domain::PreHashed { context, hash }, std::borrow::Cow::Borrowed(&self.msg[..]))
            }
            Input::Hash(hash) => {
                let h = pq::prehash(hash, &self.msg).map_err(|e| err!(CKR_FUNCTION_FAILED, "{hash:?}: {e:?}"))?;
                (Domain::PreHashed { context, hash }, std::borrow::Cow::Owned(h))
            }
        })
    }
}

impl Signer for MlDsaOp {
    fn sig_len(&self) -> usize {
        self.alg().signature_len()
    }

    fn single_part_only(&self) -> bool {
        matches!(self.p.input, Input::Digest(_))
    }

    fn multipart_refusal(&self) -> CK_RV {
        CKR_OPERATION_NOT_INITIALIZED
    }

    fn update(&mut self, data: &[u8]) -> Result<()> {
        if self.msg.len().saturating_add(data.len()) > MAX_MESSAGE {
            return Err(Error::new(CKR_DATA_LEN_RANGE, "an ML-DSA message is at most 64 MiB"));
        }
        self.msg.extend_from_slice(data);
        Ok(())
    }

    fn sign_final(&mut self, out: &mut [u8]) -> Result<usize> {
        let Key::Private(k) = &self.key else {
            return Err(Error::general("ML-DSA verify operation asked to sign"));
        };
        let (domain, m) = self.prepared()?;
        k.sign(domain, &m, self.p.rnd, out).map_err(|e| err!(CKR_FUNCTION_FAILED, "ML-DSA signing failed: {e:?}"))
    }

    fn verify_final(&mut self, signature: &[u8]) -> Result<()> {
        let Key::Public(k) = &self.key else {
            return Err(Error::general("ML-DSA sign operation asked to verify"));
        };
        let (domain, m) = self.prepared()?;
        k.verify(domain, &m, signature).map_err(|e| match e {
            CryptoError::InvalidLength => Error::new(CKR_SIGNATURE_LEN_RANGE, "wrong ML-DSA signature length"),
            CryptoError::AuthFailed => Error::new(CKR_SIGNATURE_INVALID, "ML-DSA signature invalid"),
            e => err!(CKR_FUNCTION_FAILED, "ML-DSA verification failed: {e:?}"),
        })
    }
}

/// The caller's `m` of an ML-KEM encapsulation mechanism: `None` for
/// CKM_ML_KEM (fresh randomness), the 32 bytes for
/// CKM_KEYWARD_ML_KEM_DETERMINISTIC (`CKR_MECHANISM_PARAM_INVALID` for any
/// other length).
pub fn encapsulation_m(mech: &Mechanism) -> Result<Option<[u8; 32]>> {
    match (mech.ty, &mech.param) {
        (CKM_ML_KEM, MechParam::None) => Ok(None),
        (CKM_ML_KEM, _) => Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "CKM_ML_KEM takes no parameter")),
        (CKM_KEYWARD_ML_KEM_DETERMINISTIC, MechParam::Bytes(b)) if b.len() == 32 => {
            let mut m = [0u8; 32];
            m.copy_from_slice(b);
            Ok(Some(m))
        }
        (CKM_KEYWARD_ML_KEM_DETERMINISTIC, _) => Err(Error::new(
            CKR_MECHANISM_PARAM_INVALID,
            "CKM_KEYWARD_ML_KEM_DETERMINISTIC takes exactly the 32 bytes of m",
        )),
        (ty, _) => Err(err!(CKR_MECHANISM_INVALID, "mechanism 0x{ty:x} is not ML-KEM encapsulation")),
    }
}

fn check_kem(mech: &Mechanism) -> Result<()> {
    if mech.ty != CKM_ML_KEM {
        return Err(err!(CKR_MECHANISM_INVALID, "mechanism 0x{:x} is not ML-KEM decapsulation", mech.ty));
    }
    if !matches!(mech.param, MechParam::None) {
        return Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "CKM_ML_KEM takes no parameter"));
    }
    Ok(())
}

/// ML-KEM encapsulation with `m` from [`encapsulation_m`]: the ciphertext
/// into `ct` (exactly [`ciphertext_len`] bytes), the shared secret back.
pub fn encapsulate_into(m: Option<&[u8; 32]>, key: &MlKemPublic, ct: &mut [u8]) -> Result<Zeroizing<[u8; 32]>> {
    key.encapsulate_into(m, ct).map_err(|e| err!(CKR_FUNCTION_FAILED, "ML-KEM encapsulation: {e:?}"))
}

/// CKM_ML_KEM decapsulation: the shared secret.
pub fn decapsulate(mech: &Mechanism, key: &MlKemPrivate, ct: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    check_kem(mech)?;
    let ss = key.decapsulate(ct).map_err(|e| match e {
        CryptoError::InvalidLength => {
            err!(
                CKR_ENCRYPTED_DATA_LEN_RANGE,
                "an {} ciphertext is {} bytes",
                key.alg().name(),
                key.alg().ciphertext_len()
            )
        }
        e => err!(CKR_FUNCTION_FAILED, "ML-KEM decapsulation: {e:?}"),
    })?;
    Ok(Zeroizing::new(ss.to_vec()))
}

/// The ciphertext length of an encapsulation with `key` (length queries).
pub fn ciphertext_len(key: &MlKemPublic) -> usize {
    key.alg().ciphertext_len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rv<T>(r: Result<T>) -> CK_RV {
        r.err().map(|e| e.rv()).unwrap_or(CKR_OK)
    }

    fn encapsulate(m: Option<&[u8; 32]>, key: &MlKemPublic) -> Result<(Vec<u8>, Zeroizing<[u8; 32]>)> {
        let mut ct = vec![0u8; ciphertext_len(key)];
        let ss = encapsulate_into(m, key, &mut ct)?;
        Ok((ct, ss))
    }

    #[test]
    fn ml_dsa_params_and_parts() {
        let k = MlDsaPrivate::generate(MlDsa::P44).unwrap();
        let det = Mechanism {
            ty: CKM_ML_DSA,
            param: MechParam::SignContext { hedge: CKH_DETERMINISTIC_REQUIRED, context: b"c".to_vec() },
        };
        let sign = |m: &Mechanism, parts: &[&[u8]]| {
            let mut s = signer(m, &k).unwrap();
            for p in parts {
                s.update(p).unwrap();
            }
            let mut sig = vec![0u8; s.sig_len()];
            s.sign_final(&mut sig).unwrap();
            sig
        };
        let a = sign(&det, &[b"hello ", b"world"]);
        assert_eq!(a, sign(&det, &[b"hello world"]));
        let mut v = verifier(&det, k.public()).unwrap();
        v.update(b"hello world").unwrap();
        v.verify_final(&a).unwrap();
        let mut v = verifier(&Mechanism::new(CKM_ML_DSA), k.public()).unwrap();
        v.update(b"hello world").unwrap();
        assert_eq!(rv(v.verify_final(&a)), CKR_SIGNATURE_INVALID);
        let mut v = verifier(&det, k.public()).unwrap();
        assert_eq!(rv(v.verify_final(&a[1..])), CKR_SIGNATURE_LEN_RANGE);
        let bad = |param| signer(&Mechanism { ty: CKM_ML_DSA, param }, &k).err().map(|e| e.rv());
        assert_eq!(bad(MechParam::SignContext { hedge: 7, context: vec![] }), Some(CKR_MECHANISM_PARAM_INVALID));
        assert_eq!(bad(MechParam::SignContext { hedge: 0, context: vec![0; 256] }), Some(CKR_MECHANISM_PARAM_INVALID));
        assert_eq!(bad(MechParam::Ulong(1)), Some(CKR_MECHANISM_PARAM_INVALID));
        // HashML-DSA over a given digest equals CKM_HASH_ML_DSA_SHA256 over the message.
        let h = pq::prehash(PreHash::Sha256, b"msg").unwrap();
        let ph = Mechanism {
            ty: CKM_HASH_ML_DSA,
            param: MechParam::HashSignContext { hedge: CKH_DETERMINISTIC_REQUIRED, context: vec![], hash: CKM_SHA256 },
        };
        let by_digest = sign(&ph, &[&h]);
        let by_msg = sign(
            &Mechanism {
                ty: CKM_HASH_ML_DSA_SHA256,
                param: MechParam::SignContext { hedge: CKH_DETERMINISTIC_REQUIRED, context: vec![] },
            },
            &[b"m", b"sg"],
        );
        assert_eq!(by_digest, by_msg);
        assert!(signer(&ph, &k).unwrap().single_part_only());
        let mut s = signer(&ph, &k).unwrap();
        s.update(&h[1..]).unwrap();
        assert_eq!(rv(s.sign_final(&mut vec![0u8; 2420])), CKR_DATA_LEN_RANGE);
    }

    #[test]
    fn ml_kem_mechanism() {
        let k = MlKemPrivate::generate(MlKem::P768).unwrap();
        let m = Mechanism::new(CKM_ML_KEM);
        let (ct, ss) = encapsulate(encapsulation_m(&m).unwrap().as_ref(), k.public()).unwrap();
        assert_eq!(ct.len(), ciphertext_len(k.public()));
        assert_eq!(decapsulate(&m, &k, &ct).unwrap()[..], ss[..]);
        assert_eq!(rv(decapsulate(&m, &k, &ct[1..])), CKR_ENCRYPTED_DATA_LEN_RANGE);
        assert_eq!(
            rv(encapsulation_m(&Mechanism { ty: CKM_ML_KEM, param: MechParam::Ulong(1) })),
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(rv(encapsulation_m(&Mechanism::new(CKM_ML_DSA))), CKR_MECHANISM_INVALID);
        // The deterministic mechanism: exactly 32 bytes of m, the same m
        // giving the same ciphertext and secret; never for decapsulation.
        let det = |b: Vec<u8>| Mechanism { ty: CKM_KEYWARD_ML_KEM_DETERMINISTIC, param: MechParam::Bytes(b) };
        let mm = encapsulation_m(&det(vec![7; 32])).unwrap();
        assert_eq!(mm, Some([7; 32]));
        let (c1, s1) = encapsulate(mm.as_ref(), k.public()).unwrap();
        let (c2, s2) = encapsulate(mm.as_ref(), k.public()).unwrap();
        assert_eq!((&c1, &s1[..]), (&c2, &s2[..]));
        assert_eq!(decapsulate(&m, &k, &c1).unwrap()[..], s1[..]);
        for bad in [vec![7; 31], vec![7; 33], vec![]] {
            assert_eq!(rv(encapsulation_m(&det(bad))), CKR_MECHANISM_PARAM_INVALID);
        }
        assert_eq!(rv(encapsulation_m(&Mechanism::new(CKM_KEYWARD_ML_KEM_DETERMINISTIC))), CKR_MECHANISM_PARAM_INVALID);
        assert_eq!(rv(decapsulate(&det(vec![7; 32]), &k, &c1)), CKR_MECHANISM_INVALID);
        let listed = crate::mechanism::registry::list();
        assert!(listed.contains(&CKM_KEYWARD_ML_KEM_DETERMINISTIC));
        let info = crate::mechanism::registry::info(CKM_KEYWARD_ML_KEM_DETERMINISTIC).unwrap();
        assert_eq!(info.flags, CKF_ENCAPSULATE);
    }
}
