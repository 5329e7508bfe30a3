//! The engine FFI home (DESIGN.md §1, `src/crypto/ffi`): AWS-LC's EVP
//! interface, called directly through `aws-lc-sys` (the same library
//! aws-lc-rs wraps, built once) for what aws-lc-rs does not expose. With
//! `src/abi/` (the C callers' boundary) it is one of the two places where
//! `unsafe` code is allowed (`#[allow(unsafe_code)]` on its declaration in
//! `crypto/mod.rs`; the crate denies it everywhere else). Every unsafe block
//! carries a `// SAFETY:` comment.
//!
//! Owns: the calls into AWS-LC and the engine objects they create. It
//! offers a small safe API to its parent, `crypto` (`crypto::rsa`,
//! `crypto::aes`, `crypto::rand`, `crypto::hpke`), is private to it, and
//! knows nothing of PKCS#11. Every call's return code is checked, AWS-LC's
//! error queue is cleared after a failure, and keys and cipher contexts are
//! freed on drop.
//!
//! Files, by topic:
//! - `rsa`: RSA over EVP_PKEY: raw PKCS#1 v1.5 signing of arbitrary data
//!   (CKM_RSA_PKCS), raw RSA (CKM_RSA_X_509), SHA-1/SHA-224 PKCS#1 v1.5
//!   signing, PSS and OAEP with SHA-224 or with an MGF1 hash different from
//!   the message hash, every operation on keys under 2048 bits (aws-lc-rs
//!   refuses them), key generation of any size the engine supports
//!   (multiples of 128 bits) with any odd public exponent of up to 32 bits;
//! - `gcm`: AES-GCM with IVs other than 96 bits, and multi-part
//!   (streaming) AES-GCM encryption;
//! - `digest`: SHA-1/SHA-2/MD5 over their plain context structs (state
//!   exportable for C_GetOperationState), SHA-3 over EVP_MD_CTX, HMAC over
//!   HMAC_CTX for SHA-3 and MD5, and the digest names (`Md`);
//! - `ec`: ECDSA and ECDH on P-224 (which aws-lc-rs lacks), and ECDSA
//!   on P-521 over a hash longer than 64 bytes (aws-lc-rs signs a digest of
//!   the curve's native length only);
//! - `ed25519`: Ed25519ctx and Ed25519ph (RFC 8032), which aws-lc-rs
//!   lacks (it signs pure Ed25519 only);
//! - `des`: triple-DES key schedules, ECB and CBC over whole blocks, odd
//!   parity and the weak-key check (`crypto::des`);
//! - `dsa`, `dh` (over `bn`, owned BIGNUMs): DSA keys, signatures and
//!   parameter generation; PKCS#3 DH keys, shared secrets and parameter
//!   generation (`crypto::dsa`, `crypto::dh`);
//! - `rand`: random bytes with caller-supplied DRBG additional input
//!   (C_SeedRandom);
//! - `pq`: ML-DSA and ML-KEM over AWS-LC's byte-level functions (key
//!   generation from a seed, deterministic and hedged signing with a
//!   context, HashML-DSA, deterministic encapsulation) and the HashML-DSA
//!   pre-hashes (SHA-2, SHA-3, SHAKE);
//! - `hpke`: HPKE base mode (RFC 9180), DHKEM(X25519, HKDF-SHA256) with
//!   HKDF-SHA256, single-shot seal and open (`crypto::hpke`).

mod bn;
mod des;
mod dh;
mod digest;
mod dsa;
mod ec;
mod ed25519;
mod gcm;
mod hpke;
mod pq;
mod rand;
mod rsa;

pub use des::{DES_BLOCK, Des3Schedules, is_weak_key, set_odd_parity};
pub use dh::Dh;
pub use digest::{EvpDigest, EvpHmac, Md, RawDigest};
pub use dsa::Dsa;
pub use ec::{EcGroup, P224, P521, ec_check_point, ec_ecdh, ec_generate, ec_public_point, ec_sign, ec_verify};
pub use ed25519::{MAX_CONTEXT_LEN as ED25519_MAX_CONTEXT_LEN, ed25519_sign, ed25519_verify};
pub use gcm::{GcmSealStream, aes_gcm_any_iv};
pub use hpke::{HpkeAead, X25519_LEN as HPKE_X25519_LEN, hpke_open, hpke_seal};
pub use pq::{ML_DSA_44, ML_DSA_65, ML_DSA_87, ML_KEM_512, ML_KEM_768, ML_KEM_1024, MlDsaFns, MlKemFns, PreHash};
pub use rand::{ADDITIONAL_INPUT_LEN, random_with_additional_input};
pub use rsa::{EncPad, EvpRsa, SigPad, generate_rsa};

use aws_lc_sys as sys;

/// An operation failed (details are not returned: for decryption they
/// would be an oracle).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed;

fn clear_errors() {
    // SAFETY: clears this thread's AWS-LC error queue.
    unsafe { sys::ERR_clear_error() }
}

fn check(rc: std::os::raw::c_int) -> Result<(), Failed> {
    if rc == 1 {
        Ok(())
    } else {
        clear_errors();
        Err(Failed)
    }
}

fn c_len(n: usize) -> Result<std::os::raw::c_int, Failed> {
    std::os::raw::c_int::try_from(n).map_err(|_| Failed)
}
