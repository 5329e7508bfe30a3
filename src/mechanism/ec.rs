//! The EC mechanisms: CKM_ECDSA, CKM_ECDSA_SHA1/224/256/384/512,
//! CKM_ECDSA_SHA3_224/256/384/512,
//! CKM_ECDH1_DERIVE and CKM_ECDH1_COFACTOR_DERIVE, over `crypto::ec`
//! (P-224, P-256, P-384, P-521, secp256k1).
//!
//! - CKM_ECDSA signs the caller's hash (any length; truncated or padded as
//!   ECDSA defines, see `crypto::ec`); it is single-part.
//! - CKM_ECDSA_SHA* hash the message incrementally with the named digest,
//!   then sign the digest through the same path.
//! - Signatures are raw `r || s` (2 × field length), as PKCS#11 defines.
//! - ECDH: with CKD_NULL (and no shared data) the result is the raw
//!   shared secret (the x coordinate, field length bytes), which the token
//!   truncates to the derived key's CKA_VALUE_LEN; the X9.63 and
//!   SP 800-56C KDFs (CKD_SHA*_KDF, CKD_SHA*_KDF_SP800) derive the key's
//!   length from it (`ecdh_kdf`). The peer point may be raw SEC1
//!   (uncompressed or compressed) or wrapped in a DER OCTET STRING. The
//!   cofactor variant equals the plain one: every curve here has
//!   cofactor 1.

use super::Signer;
use crate::ck::*;
use crate::crypto::CryptoError;
use crate::crypto::der;
use crate::crypto::digest::{self, Algorithm, Hasher};
use crate::crypto::ec::{EcPrivate, EcPublic, PrehashBuffer};
use crate::err;
use crate::error::{Error, Result};
use crate::types::{MechParam, Mechanism};
use zeroize::Zeroizing;

const EC_FLAGS: CK_FLAGS = CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;
const SIGN_VERIFY: CK_FLAGS = CKF_SIGN | CKF_VERIFY | EC_FLAGS;

/// The EC operation mechanisms: (type, min key bits, max key bits, flags).
pub const MECHANISMS: &[(CK_MECHANISM_TYPE, CK_ULONG, CK_ULONG, CK_FLAGS)] = &[
    (CKM_ECDSA, 224, 521, SIGN_VERIFY),
    (CKM_ECDSA_SHA1, 224, 521, SIGN_VERIFY),
    (CKM_ECDSA_SHA224, 224, 521, SIGN_VERIFY),
    (CKM_ECDSA_SHA256, 224, 521, SIGN_VERIFY),
    (CKM_ECDSA_SHA384, 224, 521, SIGN_VERIFY),
    (CKM_ECDSA_SHA512, 224, 521, SIGN_VERIFY),
    // ECDSA over the SHA-3 digests.
    (CKM_ECDSA_SHA3_224, 224, 521, SIGN_VERIFY),
    (CKM_ECDSA_SHA3_256, 224, 521, SIGN_VERIFY),
    (CKM_ECDSA_SHA3_384, 224, 521, SIGN_VERIFY),
    (CKM_ECDSA_SHA3_512, 224, 521, SIGN_VERIFY),
    (CKM_ECDH1_DERIVE, 224, 521, CKF_DERIVE | EC_FLAGS),
    (CKM_ECDH1_COFACTOR_DERIVE, 224, 521, CKF_DERIVE | EC_FLAGS),
];

/// Key-pair generation (`crypto::ec::generate`), for the token's
/// C_GenerateKeyPair.
pub const KEYGEN_MECHANISMS: &[(CK_MECHANISM_TYPE, CK_ULONG, CK_ULONG, CK_FLAGS)] =
    &[(CKM_EC_KEY_PAIR_GEN, 224, 521, CKF_GENERATE_KEY_PAIR | EC_FLAGS)];

fn no_param(mech: &Mechanism) -> Result<()> {
    match &mech.param {
        MechParam::None => Ok(()),
        MechParam::Bytes(b) if b.is_empty() => Ok(()),
        _ => Err(err!(CKR_MECHANISM_PARAM_INVALID, "mechanism 0x{:x} takes no parameter", mech.ty)),
    }
}

enum Input {
    /// CKM_ECDSA: the caller's hash (only its leading bytes are kept).
    Raw(PrehashBuffer),
    /// CKM_ECDSA_SHA*: the message, hashed as it comes.
    Hashed(Hasher),
}

fn input_for(mech: &Mechanism) -> Result<Input> {
    let hashed = |a: Algorithm| -> Result<Input> {
        no_param(mech)?;
        Ok(Input::Hashed(Hasher::new(a)))
    };
    match mech.ty {
        CKM_ECDSA => {
            no_param(mech)?;
            Ok(Input::Raw(PrehashBuffer::default()))
        }
        CKM_ECDSA_SHA1 => hashed(Algorithm::Sha1),
        CKM_ECDSA_SHA224 => hashed(Algorithm::Sha224),
        CKM_ECDSA_SHA256 => hashed(Algorithm::Sha256),
        CKM_ECDSA_SHA384 => hashed(Algorithm::Sha384),
        CKM_ECDSA_SHA512 => hashed(Algorithm::Sha512),
        CKM_ECDSA_SHA3_224 => hashed(Algorithm::Sha3_224),
        CKM_ECDSA_SHA3_256 => hashed(Algorithm::Sha3_256),
        CKM_ECDSA_SHA3_384 => hashed(Algorithm::Sha3_384),
        CKM_ECDSA_SHA3_512 => hashed(Algorithm::Sha3_512),
        _ => Err(err!(CKR_MECHANISM_INVALID, "mechanism 0x{:x} is not an ECDSA signature", mech.ty)),
    }
}

enum Key {
    Private(EcPrivate),
    Public(EcPublic),
}

struct EcdsaOp {
    key: Key,
    input: Input,
    sig_len: usize,
}

/// Builds an ECDSA signing operation.
pub fn signer(mech: &Mechanism, key: &EcPrivate) -> Result<Box<dyn Signer>> {
    let input = input_for(mech)?;
    Ok(Box::new(EcdsaOp { key: Key::Private(key.clone()), input, sig_len: key.curve().signature_len() }))
}

/// Builds an ECDSA verification operation.
pub fn verifier(mech: &Mechanism, key: &EcPublic) -> Result<Box<dyn Signer>> {
    let input = input_for(mech)?;
    Ok(Box::new(EcdsaOp { key: Key::Public(key.clone()), input, sig_len: key.curve().signature_len() }))
}

impl EcdsaOp {
    fn curve(&self) -> crate::crypto::ec::Curve {
        match &self.key {
            Key::Private(k) => k.curve(),
            Key::Public(k) => k.curve(),
        }
    }
}

/// The hash to sign: the raw input's effective bytes or the digest.
fn op_hash<'a>(
    input: &'a mut Input,
    curve: crate::crypto::ec::Curve,
    buf: &'a mut [u8; digest::MAX_OUTPUT_LEN],
) -> &'a [u8] {
    match input {
        Input::Raw(b) => b.effective(curve),
        Input::Hashed(h) => {
            let n = h.finish_into(buf);
            &buf[..n]
        }
    }
}

impl Signer for EcdsaOp {
    fn sig_len(&self) -> usize {
        self.sig_len
    }

    fn single_part_only(&self) -> bool {
        matches!(self.input, Input::Raw(_))
    }

    fn update(&mut self, data: &[u8]) -> Result<()> {
        match &mut self.input {
            Input::Raw(b) => b.update(data),
            Input::Hashed(h) => h.update(data),
        }
        Ok(())
    }

    fn sign_final(&mut self, out: &mut [u8]) -> Result<usize> {
        let curve = self.curve();
        let mut buf = [0u8; digest::MAX_OUTPUT_LEN];
        let hash = op_hash(&mut self.input, curve, &mut buf);
        let Key::Private(k) = &self.key else {
            return Err(Error::general("ECDSA verify operation asked to sign"));
        };
        k.sign_prehash(hash, out).map_err(|e| err!(CKR_FUNCTION_FAILED, "ECDSA signing failed: {e:?}"))
    }

    fn verify_final(&mut self, signature: &[u8]) -> Result<()> {
        if signature.len() != self.sig_len {
            return Err(err!(CKR_SIGNATURE_LEN_RANGE, "ECDSA signature must be {} bytes", self.sig_len));
        }
        let curve = self.curve();
        let mut buf = [0u8; digest::MAX_OUTPUT_LEN];
        let hash = op_hash(&mut self.input, curve, &mut buf);
        let Key::Public(k) = &self.key else {
            return Err(Error::general("ECDSA sign operation asked to verify"));
        };
        k.verify_prehash(hash, signature).map_err(|e| match e {
            CryptoError::InvalidLength => Error::new(CKR_SIGNATURE_LEN_RANGE, "ECDSA signature length"),
            CryptoError::AuthFailed => Error::new(CKR_SIGNATURE_INVALID, "ECDSA signature invalid"),
            e => err!(CKR_FUNCTION_FAILED, "ECDSA verification failed: {e:?}"),
        })
    }
}

/// CKM_ECDH1_DERIVE / CKM_ECDH1_COFACTOR_DERIVE with `key` and the
/// mechanism's CK_ECDH1_DERIVE_PARAMS: with CKD_NULL the raw shared secret
/// (x coordinate, `field_len` bytes; truncating it to the new key's length
/// is the caller's job), with a hash KDF `want` bytes (see `ecdh_kdf`).
pub fn derive(mech: &Mechanism, key: &EcPrivate, want: Option<usize>) -> Result<Zeroizing<Vec<u8>>> {
    super::ecdh_kdf::derive(mech, want, |public_data| {
        let point = der::ec_point_from_attr(public_data, key.curve().field_len()).ok_or_else(|| {
            Error::new(CKR_MECHANISM_PARAM_INVALID, "ECDH public data is not a point on the key's curve")
        })?;
        key.ecdh(point).map_err(|e| match e {
            CryptoError::InvalidKey => Error::new(CKR_MECHANISM_PARAM_INVALID, "ECDH peer point invalid"),
            e => err!(CKR_FUNCTION_FAILED, "ECDH failed: {e:?}"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::ec::{self, Curve};

    const CURVES: [Curve; 5] = [Curve::P224, Curve::P256, Curve::P384, Curve::P521, Curve::Secp256k1];
    const HASHED: [(CK_MECHANISM_TYPE, Algorithm); 5] = [
        (CKM_ECDSA_SHA1, Algorithm::Sha1),
        (CKM_ECDSA_SHA224, Algorithm::Sha224),
        (CKM_ECDSA_SHA256, Algorithm::Sha256),
        (CKM_ECDSA_SHA384, Algorithm::Sha384),
        (CKM_ECDSA_SHA512, Algorithm::Sha512),
    ];

    fn rv<T>(r: Result<T>) -> CK_RV {
        r.err().map(|e| e.rv()).unwrap_or(CKR_OK)
    }

    fn sign(m: &Mechanism, k: &EcPrivate, parts: &[&[u8]]) -> Vec<u8> {
        let mut s = signer(m, k).unwrap();
        for p in parts {
            s.update(p).unwrap();
        }
        let mut out = vec![0u8; s.sig_len()];
        let n = s.sign_final(&mut out).unwrap();
        out.truncate(n);
        out
    }

    fn verify(m: &Mechanism, k: &EcPublic, parts: &[&[u8]], sig: &[u8]) -> Result<()> {
        let mut v = verifier(m, k)?;
        for p in parts {
            v.update(p)?;
        }
        v.verify_final(sig)
    }

    #[test]
    fn ecdsa_round_trips() {
        for c in CURVES {
            let k = ec::generate(c).unwrap();
            for (ty, alg) in HASHED {
                let m = Mechanism::new(ty);
                let sig = sign(&m, &k, &[b"hello ", b"world"]);
                assert_eq!(sig.len(), c.signature_len());
                verify(&m, k.public(), &[b"hello world"], &sig).unwrap();
                assert_eq!(rv(verify(&m, k.public(), &[b"hello worle"], &sig)), CKR_SIGNATURE_INVALID);
                assert_eq!(rv(verify(&m, k.public(), &[b"hello world"], &sig[1..])), CKR_SIGNATURE_LEN_RANGE);
                // Hash-then-sign equals CKM_ECDSA over the digest.
                let d = digest::digest(alg, b"hello world");
                verify(&Mechanism::new(CKM_ECDSA), k.public(), &[&d], &sig).unwrap();
            }
            let m = Mechanism::new(CKM_ECDSA);
            assert!(signer(&m, &k).unwrap().single_part_only());
            for len in [1usize, 20, 32, 48, 64, 200] {
                let h = vec![0x3cu8; len];
                let sig = sign(&m, &k, &[&h]);
                verify(&m, k.public(), &[&h], &sig).unwrap();
            }
            let m = Mechanism { ty: CKM_ECDSA, param: MechParam::Bytes(vec![1]) };
            assert_eq!(rv(signer(&m, &k)), CKR_MECHANISM_PARAM_INVALID);
            assert_eq!(rv(signer(&Mechanism::new(CKM_RSA_PKCS), &k)), CKR_MECHANISM_INVALID);
        }
    }

    fn derive_n(m: &Mechanism, k: &EcPrivate) -> Result<Zeroizing<Vec<u8>>> {
        derive(m, k, None)
    }

    fn ecdh(kdf: CK_ULONG, shared: &[u8], public: &[u8]) -> Mechanism {
        Mechanism {
            ty: CKM_ECDH1_DERIVE,
            param: MechParam::Ecdh { kdf, shared_data: shared.to_vec(), public_data: public.to_vec() },
        }
    }

    #[test]
    fn ecdh_derive() {
        for c in CURVES {
            let a = ec::generate(c).unwrap();
            let b = ec::generate(c).unwrap();
            let s1 = derive_n(&ecdh(CKD_NULL, b"", b.public_point()), &a).unwrap();
            let s2 = derive_n(&ecdh(CKD_NULL, b"", &der::wrap_octet_string(a.public_point())), &b).unwrap();
            assert_eq!(s1, s2);
            assert_eq!(s1.len(), c.field_len());
            let mut m = ecdh(CKD_NULL, b"", b.public_point());
            m.ty = CKM_ECDH1_COFACTOR_DERIVE;
            assert_eq!(derive_n(&m, &a).unwrap(), s1);
            assert_eq!(rv(derive_n(&ecdh(CKD_SHA1_KDF_ASN1, b"", b.public_point()), &a)), CKR_MECHANISM_PARAM_INVALID);
            // X9.63 over the raw secret, to the length asked.
            let k = derive(&ecdh(CKD_SHA256_KDF, b"info", b.public_point()), &a, Some(24)).unwrap();
            let want = crate::crypto::ecdh_kdf::derive(
                crate::crypto::ecdh_kdf::Kdf::X963,
                Algorithm::Sha256,
                &s1,
                b"info",
                24,
            )
            .unwrap();
            assert_eq!(k, want);
            assert_eq!(rv(derive_n(&ecdh(CKD_NULL, b"x", b.public_point()), &a)), CKR_MECHANISM_PARAM_INVALID);
            assert_eq!(rv(derive_n(&ecdh(CKD_NULL, b"", &[4, 1, 2]), &a)), CKR_MECHANISM_PARAM_INVALID);
            let mut off = b.public_point().to_vec();
            off[9] ^= 1;
            assert_eq!(rv(derive_n(&ecdh(CKD_NULL, b"", &off), &a)), CKR_MECHANISM_PARAM_INVALID);
            assert_eq!(rv(derive_n(&Mechanism::new(CKM_ECDH1_DERIVE), &a)), CKR_MECHANISM_PARAM_INVALID);
            assert_eq!(rv(derive_n(&Mechanism::new(CKM_ECDSA), &a)), CKR_MECHANISM_INVALID);
        }
    }

    #[test]
    fn table_builds() {
        let k = ec::generate(Curve::P256).unwrap();
        for (ty, _, _, flags) in MECHANISMS {
            if flags & CKF_SIGN != 0 {
                signer(&Mechanism::new(*ty), &k).unwrap();
                verifier(&Mechanism::new(*ty), k.public()).unwrap();
            }
        }
    }
}
