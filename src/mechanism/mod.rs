//! The mechanism registry and the operations (DESIGN.md §1).
//!
//! A mechanism turns a `Mechanism` (type + parsed parameter) and key material
//! into an operation object. Operations write into caller-sized buffers and
//! report upper bounds for length queries; the session layer (token/) owns the
//! PKCS#11 output-length convention and operation lifetime, and checks key
//! usage policy before it gets here.

pub mod aes;
pub mod aes_mac;
pub mod chacha;
pub mod cmac;
// Legacy algorithms (issue 20, part "legacy"; `[policy] allow_des3`,
// `allow_dsa`, `allow_dh`): des, dh, dsa.
pub mod des;
pub mod dh;
pub mod digest;
pub mod dsa;
pub mod ec;
pub mod ecdh_kdf;
pub mod hmac;
pub mod kdf;
pub mod message;
pub mod okp;
pub mod pq;
pub mod registry;
pub mod rsa;

use crate::crypto::CryptoError;
use crate::crypto::block::{BlockModes, BlockStream};
use crate::error::{Error, Result};

/// A symmetric (or, later, asymmetric) encrypt/decrypt operation.
///
/// The session calls `*_bound` for length queries and to size checks; a
/// method is only called with `out.len() >= bound`. An error ends the
/// operation (the session drops it). `input` and `out` never share memory:
/// the C boundary copies an input that overlaps the caller's output buffer
/// (`abi::util::InOut`), and the streaming modes rely on it (a padded CBC
/// decryption writes its held-back block before it reads the new input).
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

/// A cipher that works on whole messages only (AES-GCM decryption, AES key
/// wrap used as a cipher, RSA, the KMS envelope; AES-GCM encryption streams,
/// see `aes/gcm.rs`). [`Buffered`] turns it into a
/// [`Cipher`]: multi-part input is collected (zeroized when dropped) and
/// processed at final; a single-part call goes straight through.
pub trait WholeMessage: Send {
    /// Output bytes that suffice for an input of `n` bytes.
    fn out_bound(&self, n: usize) -> usize;
    /// Refuses input that has grown too long (checked as it arrives).
    fn check_input_len(&self, _n: usize) -> Result<()> {
        Ok(())
    }
    /// Processes one whole message; returns the bytes written to `out`.
    fn run(&self, input: &[u8], out: &mut [u8]) -> Result<usize>;
}

pub struct Buffered<T> {
    op: T,
    /// Multi-part input so far; never allocated by a single-part call.
    buf: Vec<u8>,
}

impl<T: WholeMessage> Buffered<T> {
    pub fn new(op: T) -> Buffered<T> {
        Buffered { op, buf: Vec::new() }
    }
}

impl<T> Drop for Buffered<T> {
    fn drop(&mut self) {
        if self.buf.capacity() > 0 {
            zeroize::Zeroize::zeroize(&mut self.buf);
        }
    }
}

impl<T: WholeMessage> Cipher for Buffered<T> {
    fn update_bound(&self, _input_len: usize) -> usize {
        0
    }
    fn final_bound(&self) -> usize {
        self.op.out_bound(self.buf.len())
    }
    fn oneshot_bound(&self, input_len: usize) -> usize {
        self.op.out_bound(input_len)
    }
    fn update(&mut self, input: &[u8], _out: &mut [u8]) -> Result<usize> {
        self.op.check_input_len(self.buf.len().saturating_add(input.len()))?;
        self.buf.extend_from_slice(input);
        Ok(0)
    }
    fn finalize(&mut self, out: &mut [u8]) -> Result<usize> {
        let buf = zeroize::Zeroizing::new(std::mem::take(&mut self.buf));
        self.op.run(&buf, out)
    }
    fn oneshot(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        self.op.check_input_len(input.len())?;
        self.op.run(input, out)
    }
}

/// ECB, CBC and CBC-PAD over a block cipher's [`BlockStream`] (AES,
/// 3DES): the stream does the modes and the padding, `map` turns its
/// errors into the mechanism's `CK_RV` for the direction (`encrypt`).
pub struct BlockCipher<K: BlockModes<N>, const N: usize> {
    s: BlockStream<K, N>,
    encrypt: bool,
    map: fn(CryptoError, bool) -> Error,
}

impl<K: BlockModes<N>, const N: usize> BlockCipher<K, N> {
    pub fn new(s: BlockStream<K, N>, encrypt: bool, map: fn(CryptoError, bool) -> Error) -> Self {
        BlockCipher { s, encrypt, map }
    }
}

impl<K: BlockModes<N> + Send, const N: usize> Cipher for BlockCipher<K, N> {
    fn update_bound(&self, input_len: usize) -> usize {
        self.s.update_len(input_len)
    }
    fn final_bound(&self) -> usize {
        self.s.finish_len()
    }
    fn oneshot_bound(&self, input_len: usize) -> usize {
        self.s.oneshot_len(input_len)
    }
    fn update(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        self.s.update(input, out).map_err(|e| (self.map)(e, self.encrypt))
    }
    fn finalize(&mut self, out: &mut [u8]) -> Result<usize> {
        self.s.finish(out).map_err(|e| (self.map)(e, self.encrypt))
    }
    fn oneshot(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        self.s.oneshot(input, out).map_err(|e| (self.map)(e, self.encrypt))
    }
}

/// A message digest operation.
pub trait Digester: Send {
    fn output_len(&self) -> usize;
    fn update(&mut self, data: &[u8]);
    /// Writes the digest (`out.len() >= output_len()`), returns its length.
    fn finish(&mut self, out: &mut [u8]) -> usize;
    /// Digests key material (C_DigestKey): the operation's state may then
    /// hold key bytes and is no longer saved by [`save`](Self::save).
    fn update_secret(&mut self, data: &[u8]) {
        self.update(data);
    }
    /// C_GetOperationState: the operation as a saved-state blob
    /// (`digest::state`); `CKR_STATE_UNSAVEABLE` when it cannot be saved.
    fn save(&self, _multipart: bool) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        Err(crate::error::Error::new(crate::ck::CKR_STATE_UNSAVEABLE, "this digest cannot be saved"))
    }
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
    /// The CK_RV of a C_*Update refused by a single-part-only mechanism
    /// (CKM_HASH_ML_DSA answers CKR_OPERATION_NOT_INITIALIZED, as the
    /// PKCS#11 3.2 implementations and the cryptoki 3.2 tests do).
    fn multipart_refusal(&self) -> crate::ck::CK_RV {
        crate::ck::CKR_FUNCTION_NOT_SUPPORTED
    }
    fn update(&mut self, data: &[u8]) -> Result<()>;
    /// Writes the signature (`out.len() >= sig_len()`), returns its length.
    fn sign_final(&mut self, out: &mut [u8]) -> Result<usize>;
    /// `CKR_SIGNATURE_INVALID` or `CKR_SIGNATURE_LEN_RANGE` on mismatch.
    fn verify_final(&mut self, signature: &[u8]) -> Result<()>;
}

/// Helpers the mechanisms' unit tests share.
#[cfg(test)]
pub(crate) mod test_util {
    use crate::ck::{CK_RV, CKR_OK};
    use crate::crypto::SecretKey;
    use crate::error::Result;
    use zeroize::Zeroizing;

    /// A secret key holding `b`.
    pub fn key(b: &[u8]) -> SecretKey {
        SecretKey::new(Zeroizing::new(b.to_vec()))
    }

    /// The CK_RV of a result (`CKR_OK` for `Ok`).
    pub fn rv<T>(r: Result<T>) -> CK_RV {
        r.err().map(|e| e.rv()).unwrap_or(CKR_OK)
    }
}
