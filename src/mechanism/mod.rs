//! The mechanism registry and the operations (DESIGN.md §1).
//!
//! A mechanism turns a `Mechanism` (type + parsed parameter) and key material
//! into an operation object. Operations write into caller-sized buffers and
//! report upper bounds for length queries; the session layer (token/) owns the
//! PKCS#11 output-length convention and operation lifetime, and checks key
//! usage policy before it gets here.

pub mod aes;
pub mod digest;
pub mod ec;
pub mod hmac;
pub mod registry;
pub mod rsa;

use crate::error::Result;

/// A symmetric (or, later, asymmetric) encrypt/decrypt operation.
///
/// The session calls `*_bound` for length queries and to size checks; a
/// method is only called with `out.len() >= bound`. An error ends the
/// operation (the session drops it).
pub trait Cipher: Send {
    /// Bytes that suffice for the output of `update(input_len bytes)`.
    fn update_bound(&self, input_len: usize) -> usize;
    /// Bytes that suffice for the output of `finalize()`.
    fn final_bound(&self) -> usize;
    /// Bytes that suffice for the output of `oneshot(input_len bytes)`.
    fn oneshot_bound(&self, input_len: usize) -> usize;
    /// Processes more input; returns the bytes written to `out`.
    fn update(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize>;
    /// Ends a multi-part operation; returns the bytes written.
    fn finalize(&mut self, out: &mut [u8]) -> Result<usize>;
    /// Single-part operation; returns the bytes written.
    fn oneshot(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize>;
}

/// A message digest operation.
pub trait Digester: Send {
    fn output_len(&self) -> usize;
    fn update(&mut self, data: &[u8]);
    /// Writes the digest (`out.len() >= output_len()`), returns its length.
    fn finish(&mut self, out: &mut [u8]) -> usize;
}

/// A sign or verify operation (MACs and signatures).
///
/// Single-part calls are `update(data)` followed by `sign_final`/`verify_final`.
pub trait Signer: Send {
    /// Signature (or MAC) length in bytes; exact for the length query.
    fn sig_len(&self) -> usize;
    /// True for mechanisms the spec defines as single-part only
    /// (CKM_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_ECDSA, CKM_RSA_X_509).
    fn single_part_only(&self) -> bool {
        false
    }
    fn update(&mut self, data: &[u8]) -> Result<()>;
    /// Writes the signature (`out.len() >= sig_len()`), returns its length.
    fn sign_final(&mut self, out: &mut [u8]) -> Result<usize>;
    /// `CKR_SIGNATURE_INVALID` or `CKR_SIGNATURE_LEN_RANGE` on mismatch.
    fn verify_final(&mut self, signature: &[u8]) -> Result<()>;
}
