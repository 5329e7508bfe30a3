//! RSA key wrapping: C_WrapKey and C_UnwrapKey with CKM_RSA_PKCS and
//! CKM_RSA_PKCS_OAEP (CKM_RSA_X_509 does not wrap), over `crypto::rsa`.
//!
//! Unwrapping is no padding oracle (Bleichenbacher; Bardou et al. 2012
//! recovered wrapped keys from tokens that answered "bad padding" and "bad
//! key length" differently):
//!
//! - CKM_RSA_PKCS with a known length (the template's CKA_VALUE_LEN, passed
//!   as `want_len`): always CKR_OK with a key of exactly that length. A good
//!   padding of that length gives the wrapped key; a bad padding, or a good
//!   one of another length, gives a key derived from the private key and
//!   the ciphertext (`RsaPrivate::decrypt_pkcs1_fixed`: the implicit-
//!   rejection message when it has that length, else a PRF output under
//!   its KDK). Deterministic: the same ciphertext unwraps to the same key.
//!   The token's checks on the value (an AES key of one repeated byte is
//!   refused) apply to both alike; a pseudo-random key passes them.
//! - CKM_RSA_PKCS without a length (e.g. an AES or generic-secret template
//!   without CKA_VALUE_LEN, or a private key): the plaintext is the
//!   implicit-rejection result of draft-irtf-cfrg-rsa-guidance, whose
//!   synthetic length follows the draft; the token then validates it the
//!   same way whichever it is (an AES key must be 16, 24 or 32 bytes, a
//!   private key must parse as PKCS#8, else CKR_WRAPPED_KEY_INVALID). The
//!   answer then depends only on that result's length and content, which
//!   for a bad padding are pseudo-random: it says no more than the draft's
//!   decryption does. Callers who want no such residue give CKA_VALUE_LEN.
//!   An unwrap with and one without a length agree whenever the lengths
//!   agree, so comparing them reveals nothing either.
//! - CKM_RSA_PKCS_OAEP: AWS-LC decodes in constant time; a bad encoding and
//!   a good one of the wrong length answer alike, CKR_WRAPPED_KEY_INVALID.
//! - What may still fail depends on public values only: a wrapped key not
//!   of the modulus length (CKR_WRAPPED_KEY_LEN_RANGE), not below n
//!   (CKR_WRAPPED_KEY_INVALID), or a CKA_VALUE_LEN this key cannot wrap
//!   (CKR_TEMPLATE_INCONSISTENT, before any decryption).
//!
//! A key that may both decrypt and unwrap needs no oracle to be abused:
//! whoever may C_Decrypt with it reads every key wrapped under it (DESIGN.md
//! §3 plans a strict profile without such keys).

use super::{EncScheme, decrypt_with, enc_scheme, encrypt_with, failed, max_message};
use crate::ck::*;
use crate::crypto::CryptoError;
use crate::crypto::rsa::{RsaPrivate, RsaPublic};
use crate::err;
use crate::error::{Error, Result};
use crate::types::Mechanism;
use zeroize::Zeroizing;

/// Wraps `key_bytes` (a secret key's value) under `wrapping` with
/// CKM_RSA_PKCS_OAEP or CKM_RSA_PKCS. `CKR_KEY_SIZE_RANGE` if the key is
/// too long for the wrapping key and scheme.
pub fn wrap(mech: &Mechanism, wrapping: &RsaPublic, key_bytes: &[u8]) -> Result<Vec<u8>> {
    let scheme = enc_scheme(mech)?;
    if matches!(scheme, EncScheme::Raw) {
        return Err(Error::new(CKR_MECHANISM_INVALID, "CKM_RSA_X_509 does not wrap keys"));
    }
    let max = max_message(&scheme, wrapping.modulus_len());
    if key_bytes.len() > max {
        return Err(err!(CKR_KEY_SIZE_RANGE, "key of {} bytes too long to wrap (max {max})", key_bytes.len()));
    }
    let mut out = vec![0u8; wrapping.modulus_len()];
    let n = encrypt_with(wrapping, &scheme, key_bytes, &mut out).map_err(failed)?;
    out.truncate(n);
    Ok(out)
}

fn wrapped_invalid() -> Error {
    Error::new(CKR_WRAPPED_KEY_INVALID, "RSA-wrapped key does not decrypt to a key of the length asked for")
}

/// Unwraps what [`wrap`] produced. `want_len` is the secret key length the
/// template asks for (CKA_VALUE_LEN), if any; see the module doc for what
/// each case answers. `CKR_WRAPPED_KEY_LEN_RANGE` for a length other than
/// the modulus's.
pub fn unwrap(
    mech: &Mechanism,
    unwrapping: &RsaPrivate,
    wrapped: &[u8],
    want_len: Option<usize>,
) -> Result<Zeroizing<Vec<u8>>> {
    let scheme = enc_scheme(mech)?;
    if matches!(scheme, EncScheme::Raw) {
        return Err(Error::new(CKR_MECHANISM_INVALID, "CKM_RSA_X_509 does not unwrap keys"));
    }
    let k = unwrapping.modulus_len();
    if wrapped.len() != k {
        return Err(err!(CKR_WRAPPED_KEY_LEN_RANGE, "RSA-wrapped key must be {k} bytes"));
    }
    let max = max_message(&scheme, k);
    if let Some(l) = want_len
        && (l == 0 || l > max)
    {
        return Err(err!(CKR_TEMPLATE_INCONSISTENT, "CKA_VALUE_LEN {l} cannot be unwrapped with this key (1..={max})"));
    }
    let engine = |e: CryptoError| match e {
        CryptoError::AuthFailed | CryptoError::InvalidLength => wrapped_invalid(),
        e => failed(e),
    };
    match (&scheme, want_len) {
        (EncScheme::Pkcs1, Some(l)) => unwrapping.decrypt_pkcs1_fixed(wrapped, l).map_err(engine),
        _ => {
            let mut out = Zeroizing::new(vec![0u8; max]);
            let n = decrypt_with(unwrapping, &scheme, wrapped, &mut out).map_err(engine)?;
            if want_len.is_some_and(|l| l != n) {
                // OAEP only (PKCS#1 with a length took the branch above):
                // the same answer as a ciphertext that does not decode.
                return Err(wrapped_invalid());
            }
            out.truncate(n);
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::rsa;
    use crate::types::MechParam;
    use std::sync::LazyLock;

    static KEY: LazyLock<RsaPrivate> = LazyLock::new(|| rsa::generate(2048).unwrap());

    fn rv<T>(r: Result<T>) -> CK_RV {
        r.err().map(|e| e.rv()).unwrap_or(CKR_OK)
    }

    fn oaep() -> Mechanism {
        Mechanism {
            ty: CKM_RSA_PKCS_OAEP,
            param: MechParam::Oaep {
                hash: CKM_SHA256,
                mgf: CKG_MGF1_SHA256,
                source: CKZ_DATA_SPECIFIED,
                source_data: vec![],
            },
        }
    }

    /// A PKCS#1 v1.5 block 00 02 PS 00 M of our own, raw-encrypted, so the
    /// padding can be broken on purpose.
    fn raw_wrap(block: &[u8]) -> Vec<u8> {
        let mut ct = vec![0u8; 256];
        KEY.public().encrypt_raw(block, &mut ct).unwrap();
        ct
    }

    fn block(msg: &[u8]) -> Vec<u8> {
        let mut b = vec![0x5au8; 256];
        b[0] = 0;
        b[1] = 2;
        b[256 - msg.len() - 1] = 0;
        b[256 - msg.len()..].copy_from_slice(msg);
        b
    }

    #[test]
    fn round_trips_and_public_refusals() {
        let secret = [0x42u8; 32];
        for m in [Mechanism::new(CKM_RSA_PKCS), oaep()] {
            let w = wrap(&m, KEY.public(), &secret).unwrap();
            assert_eq!(w.len(), 256);
            assert_eq!(&unwrap(&m, &KEY, &w, None).unwrap()[..], &secret);
            assert_eq!(&unwrap(&m, &KEY, &w, Some(32)).unwrap()[..], &secret);
            assert_eq!(rv(unwrap(&m, &KEY, &w[1..], None)), CKR_WRAPPED_KEY_LEN_RANGE);
            assert_eq!(rv(wrap(&m, KEY.public(), &[0u8; 300])), CKR_KEY_SIZE_RANGE);
            // Not below n, and impossible lengths: refused on public facts.
            assert_eq!(rv(unwrap(&m, &KEY, &[0xff; 256], None)), CKR_WRAPPED_KEY_INVALID);
            assert_eq!(rv(unwrap(&m, &KEY, &w, Some(0))), CKR_TEMPLATE_INCONSISTENT);
            assert_eq!(rv(unwrap(&m, &KEY, &w, Some(246))), CKR_TEMPLATE_INCONSISTENT);
        }
        let x = Mechanism::new(CKM_RSA_X_509);
        assert_eq!(rv(wrap(&x, KEY.public(), &[1u8; 32])), CKR_MECHANISM_INVALID);
        assert_eq!(rv(unwrap(&x, &KEY, &[0u8; 256], None)), CKR_MECHANISM_INVALID);
    }

    #[test]
    fn pkcs1_unwrap_is_no_oracle() {
        let m = Mechanism::new(CKM_RSA_PKCS);
        let good16 = raw_wrap(&block(&[0x11; 16]));
        let good24 = raw_wrap(&block(&[0x22; 24]));
        let mut broken = block(&[0x11; 16]);
        broken[1] = 3;
        let broken = raw_wrap(&broken);
        let mut no_sep = block(&[0x11; 16]);
        no_sep[256 - 17] = 1;
        let no_sep = raw_wrap(&no_sep);
        assert_eq!(&unwrap(&m, &KEY, &good16, Some(16)).unwrap()[..], &[0x11; 16]);
        // Wrong length, broken type byte, missing separator: all CKR_OK
        // with 16 deterministic bytes that are not the block's message.
        for ct in [&good24, &broken, &no_sep] {
            let a = unwrap(&m, &KEY, ct, Some(16)).unwrap();
            assert_eq!(a.len(), 16);
            assert_eq!(a, unwrap(&m, &KEY, ct, Some(16)).unwrap());
            assert_ne!(&a[..], &[0x11; 16]);
            assert_ne!(&a[..], &[0x22; 16]);
        }
        assert_ne!(unwrap(&m, &KEY, &broken, Some(16)).unwrap(), unwrap(&m, &KEY, &no_sep, Some(16)).unwrap());
        // Without a length: the implicit-rejection result, and an unwrap
        // asking for that result's length agrees with it, real or synthetic.
        for ct in [&good16, &good24, &broken, &no_sep] {
            let free = unwrap(&m, &KEY, ct, None).unwrap();
            if !free.is_empty() {
                assert_eq!(unwrap(&m, &KEY, ct, Some(free.len())).unwrap(), free);
            }
        }
        assert_eq!(&unwrap(&m, &KEY, &good24, None).unwrap()[..], &[0x22; 24]);
    }

    #[test]
    fn oaep_padding_and_length_errors_answer_alike() {
        let m = oaep();
        let w = wrap(&m, KEY.public(), &[7u8; 24]).unwrap();
        let mut bad = w.clone();
        bad[200] ^= 1;
        let bad_rv = rv(unwrap(&m, &KEY, &bad, Some(24)));
        assert_eq!(bad_rv, CKR_WRAPPED_KEY_INVALID);
        assert_eq!(rv(unwrap(&m, &KEY, &bad, None)), bad_rv);
        assert_eq!(rv(unwrap(&m, &KEY, &w, Some(16))), bad_rv);
        assert_eq!(&unwrap(&m, &KEY, &w, Some(24)).unwrap()[..], &[7u8; 24]);
    }
}
