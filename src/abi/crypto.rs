//! Cryptographic operations: encryption, decryption, message digesting,
//! signing and verifying (single- and multi-part). Every byte-producing
//! call goes through [`Output`], the one output-length convention; a call
//! with an input and an output buffer through [`InOut`], which copes with
//! the two being the same or overlapping.
//!
//! Operation lifetime (PKCS#11 2.40 for each of these functions, DESIGN.md §3): any error of a
//! single-part, Update or Final call ends the session's operation of that
//! kind, except `CKR_BUFFER_TOO_SMALL`; a length query keeps it. The library
//! applies that to what it finds itself; an argument this layer refuses
//! before the call goes to [`Library::abandon`] (one rule, [`checked`]).
//! An Init with a NULL mechanism cancels the active operation of its kind.

use super::lib;
use super::mechanism::mechanism;
use super::util::{MAX_DATA, OutParam, bytes, bytes_mut};
use crate::ck::*;
use crate::error::Result;
use crate::library::Library;
use crate::types::OpKind;

/// A caller's output buffer under the output-length convention of every
/// byte-producing call (C_Encrypt*, C_Decrypt*, C_Digest*, C_Sign*,
/// C_WrapKey), checked before the call runs ([`Output::new`]) and used by
/// [`Output::run`]:
/// - `pulLen` NULL: `CKR_ARGUMENTS_BAD`;
/// - `pBuf` NULL: a length query, `f(None)`, the length goes to `*pulLen`;
/// - else `f(Some(&mut buf[..*pulLen]))`; on success `*pulLen` = bytes
///   written; on `CKR_BUFFER_TOO_SMALL` `*pulLen` = the length needed.
pub struct Output {
    p: *mut u8,
    len: OutParam<CK_ULONG>,
    /// The bytes of `p` the call may write (0 for a length query).
    cap: CK_ULONG,
}

impl Output {
    /// # Safety
    /// A non-NULL `plen` must be readable and writable; a non-NULL `p`
    /// must point at `*plen` writable bytes.
    pub unsafe fn new(p: *mut u8, plen: *mut CK_ULONG) -> Result<Output> {
        // SAFETY: forwarded contract.
        let len = unsafe { OutParam::new(plen) }?;
        // A buffer claimed larger than MAX_DATA is at least MAX_DATA long.
        let cap = if p.is_null() { 0 } else { len.get().min(MAX_DATA) };
        Ok(Output { p, len, cap })
    }

    /// Whether the `n` bytes at `q` share an address with the bytes this
    /// call may write.
    fn overlaps(&self, q: *const u8, n: usize) -> bool {
        let (a, m) = (self.p.addr(), self.cap as usize);
        let b = q.addr();
        m > 0 && n > 0 && a < b.saturating_add(n) && b < a.saturating_add(m)
    }

    /// Runs `f` on the buffer (`None`: a length query) and writes `*pulLen`.
    pub fn run(self, f: impl FnOnce(Option<&mut [u8]>) -> Result<usize>) -> Result<()> {
        let r = if self.p.is_null() {
            f(None)
        } else {
            // SAFETY: the caller's buffer holds *plen >= cap bytes (contract
            // of `new`); the slice lives only for the call of `f`.
            let buf = unsafe { bytes_mut(self.p, self.cap) }?;
            f(Some(buf))
        };
        match r {
            Ok(n) => {
                self.len.set(n as CK_ULONG);
                Ok(())
            }
            Err(e) => {
                if e.rv() == CKR_BUFFER_TOO_SMALL
                    && let Some(n) = e.needed()
                {
                    self.len.set(n as CK_ULONG);
                }
                Err(e)
            }
        }
    }
}

/// One call's input buffer and output buffer (C_Encrypt, C_EncryptUpdate,
/// C_Decrypt, C_DecryptUpdate, C_Digest, C_Sign). C callers legally pass the
/// same buffer, or overlapping ones, for both (in-place encryption is a
/// common idiom), so [`InOut::run`] never forms a `&[u8]` and a `&mut [u8]`
/// over the same bytes: when the two ranges share an address, the input is
/// first copied (into zeroized memory: it may be plaintext) and the
/// operation reads the copy. Disjoint buffers (the usual case) are used as
/// they are, without a copy.
pub struct InOut {
    input: *const u8,
    in_len: CK_ULONG,
    out: Output,
}

impl InOut {
    /// Checks both buffers and `pulLen` (every check that can fail is made
    /// here, before the call runs).
    ///
    /// # Safety
    /// As [`slice`] for (`p_in`, `in_len`), as [`Output::new`] for the rest.
    pub unsafe fn new(p_in: *const u8, in_len: CK_ULONG, p_out: *mut u8, plen: *mut CK_ULONG) -> Result<InOut> {
        // SAFETY: forwarded contract; the slice is dropped at once (only
        // its checks are wanted here).
        unsafe { bytes(p_in, in_len) }?;
        // SAFETY: forwarded contract.
        let out = unsafe { Output::new(p_out, plen) }?;
        Ok(InOut { input: p_in, in_len, out })
    }

    /// Runs `f(input, output)` under the output-length convention.
    pub fn run(self, f: impl FnOnce(&[u8], Option<&mut [u8]>) -> Result<usize>) -> Result<()> {
        let (p, n) = (self.input, self.in_len);
        if !self.out.overlaps(p, n as usize) {
            // SAFETY: (p, n) passed the checks of `new` and stays valid for
            // the call (its contract); it shares no byte with the range the
            // writable slice of `Output::run` covers, so they never alias.
            let data = unsafe { bytes(p, n) }?;
            return self.out.run(|o| f(data, o));
        }
        // SAFETY: as above; this shared slice over the caller's bytes ends
        // with the copy, before the writable slice over them is formed.
        let data = zeroize::Zeroizing::new(unsafe { bytes(p, n) }?.to_vec());
        self.out.run(|o| f(&data, o))
    }
}

/// [`Output::new`] then [`Output::run`]: a call with an output buffer and no
/// input buffer (C_*Final, C_WrapKey).
///
/// # Safety
/// As [`Output::new`].
pub unsafe fn output(
    p: *mut u8,
    plen: *mut CK_ULONG,
    f: impl FnOnce(Option<&mut [u8]>) -> Result<usize>,
) -> Result<()> {
    // SAFETY: forwarded contract.
    unsafe { Output::new(p, plen) }?.run(f)
}

/// The caller's arguments of a call on the operation of `kind`, checked:
/// a refusal ends that operation (see the module doc).
pub(super) fn checked<T>(l: &Library, h: CK_SESSION_HANDLE, kind: OpKind, args: Result<T>) -> Result<T> {
    args.map_err(|e| l.abandon(h, kind, e))
}

export! {
    fn C_EncryptInit(h: CK_SESSION_HANDLE, p_mechanism: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE) {
        let l = lib()?;
        if p_mechanism.is_null() {
            return l.cancel_init(h, OpKind::Encrypt);
        }
        l.encrypt_init(h, &mechanism(p_mechanism)?, key)
    }

    fn C_Encrypt(
        h: CK_SESSION_HANDLE,
        p_data: CK_BYTE_PTR,
        ul_data_len: CK_ULONG,
        p_encrypted: CK_BYTE_PTR,
        pul_encrypted_len: CK_ULONG_PTR,
    ) {
        let l = lib()?;
        checked(&l, h, OpKind::Encrypt, InOut::new(p_data, ul_data_len, p_encrypted, pul_encrypted_len))?.run(|i, o| l.encrypt(h, i, o))
    }

    fn C_EncryptUpdate(
        h: CK_SESSION_HANDLE,
        p_part: CK_BYTE_PTR,
        ul_part_len: CK_ULONG,
        p_encrypted_part: CK_BYTE_PTR,
        pul_encrypted_part_len: CK_ULONG_PTR,
    ) {
        let l = lib()?;
        checked(&l, h, OpKind::Encrypt, InOut::new(p_part, ul_part_len, p_encrypted_part, pul_encrypted_part_len))?.run(|i, o| l.encrypt_update(h, i, o))
    }

    fn C_EncryptFinal(h: CK_SESSION_HANDLE, p_last: CK_BYTE_PTR, pul_last_len: CK_ULONG_PTR) {
        let l = lib()?;
        checked(&l, h, OpKind::Encrypt, Output::new(p_last, pul_last_len))?.run(|o| l.encrypt_final(h, o))
    }

    fn C_DecryptInit(h: CK_SESSION_HANDLE, p_mechanism: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE) {
        let l = lib()?;
        if p_mechanism.is_null() {
            return l.cancel_init(h, OpKind::Decrypt);
        }
        l.decrypt_init(h, &mechanism(p_mechanism)?, key)
    }

    fn C_Decrypt(
        h: CK_SESSION_HANDLE,
        p_encrypted: CK_BYTE_PTR,
        ul_encrypted_len: CK_ULONG,
        p_data: CK_BYTE_PTR,
        pul_data_len: CK_ULONG_PTR,
    ) {
        let l = lib()?;
        checked(&l, h, OpKind::Decrypt, InOut::new(p_encrypted, ul_encrypted_len, p_data, pul_data_len))?.run(|i, o| l.decrypt(h, i, o))
    }

    fn C_DecryptUpdate(
        h: CK_SESSION_HANDLE,
        p_encrypted_part: CK_BYTE_PTR,
        ul_encrypted_part_len: CK_ULONG,
        p_part: CK_BYTE_PTR,
        pul_part_len: CK_ULONG_PTR,
    ) {
        let l = lib()?;
        checked(&l, h, OpKind::Decrypt, InOut::new(p_encrypted_part, ul_encrypted_part_len, p_part, pul_part_len))?.run(|i, o| l.decrypt_update(h, i, o))
    }

    fn C_DecryptFinal(h: CK_SESSION_HANDLE, p_last: CK_BYTE_PTR, pul_last_len: CK_ULONG_PTR) {
        let l = lib()?;
        checked(&l, h, OpKind::Decrypt, Output::new(p_last, pul_last_len))?.run(|o| l.decrypt_final(h, o))
    }

    fn C_DigestInit(h: CK_SESSION_HANDLE, p_mechanism: CK_MECHANISM_PTR) {
        let l = lib()?;
        if p_mechanism.is_null() {
            return l.cancel_init(h, OpKind::Digest);
        }
        l.digest_init(h, &mechanism(p_mechanism)?)
    }

    fn C_Digest(
        h: CK_SESSION_HANDLE,
        p_data: CK_BYTE_PTR,
        ul_data_len: CK_ULONG,
        p_digest: CK_BYTE_PTR,
        pul_digest_len: CK_ULONG_PTR,
    ) {
        let l = lib()?;
        checked(&l, h, OpKind::Digest, InOut::new(p_data, ul_data_len, p_digest, pul_digest_len))?.run(|i, o| l.digest(h, i, o))
    }

    fn C_DigestUpdate(h: CK_SESSION_HANDLE, p_part: CK_BYTE_PTR, ul_part_len: CK_ULONG) {
        let l = lib()?;
        let part = checked(&l, h, OpKind::Digest, bytes(p_part, ul_part_len))?;
        l.digest_update(h, part)
    }

    fn C_DigestKey(h: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) {
        lib()?.digest_key(h, key)
    }

    fn C_DigestFinal(h: CK_SESSION_HANDLE, p_digest: CK_BYTE_PTR, pul_digest_len: CK_ULONG_PTR) {
        let l = lib()?;
        checked(&l, h, OpKind::Digest, Output::new(p_digest, pul_digest_len))?.run(|o| l.digest_final(h, o))
    }

    /// Digest operations only (`mechanism::digest::state`); any other
    /// active operation makes the state `CKR_STATE_UNSAVEABLE`.
    fn C_GetOperationState(h: CK_SESSION_HANDLE, p_state: CK_BYTE_PTR, pul_state_len: CK_ULONG_PTR) {
        let l = lib()?;
        Output::new(p_state, pul_state_len)?.run(|o| l.operation_state(h, o))
    }

    fn C_SetOperationState(
        h: CK_SESSION_HANDLE,
        p_state: CK_BYTE_PTR,
        ul_state_len: CK_ULONG,
        encryption_key: CK_OBJECT_HANDLE,
        authentication_key: CK_OBJECT_HANDLE,
    ) {
        let l = lib()?;
        let state = bytes(p_state, ul_state_len)?;
        l.set_operation_state(h, state, encryption_key, authentication_key)
    }

    fn C_SignInit(h: CK_SESSION_HANDLE, p_mechanism: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE) {
        let l = lib()?;
        if p_mechanism.is_null() {
            return l.cancel_init(h, OpKind::Sign);
        }
        l.sign_init(h, &mechanism(p_mechanism)?, key)
    }

    fn C_Sign(
        h: CK_SESSION_HANDLE,
        p_data: CK_BYTE_PTR,
        ul_data_len: CK_ULONG,
        p_signature: CK_BYTE_PTR,
        pul_signature_len: CK_ULONG_PTR,
    ) {
        let l = lib()?;
        checked(&l, h, OpKind::Sign, InOut::new(p_data, ul_data_len, p_signature, pul_signature_len))?.run(|i, o| l.sign(h, i, o))
    }

    fn C_SignUpdate(h: CK_SESSION_HANDLE, p_part: CK_BYTE_PTR, ul_part_len: CK_ULONG) {
        let l = lib()?;
        let part = checked(&l, h, OpKind::Sign, bytes(p_part, ul_part_len))?;
        l.sign_update(h, part)
    }

    fn C_SignFinal(h: CK_SESSION_HANDLE, p_signature: CK_BYTE_PTR, pul_signature_len: CK_ULONG_PTR) {
        let l = lib()?;
        checked(&l, h, OpKind::Sign, Output::new(p_signature, pul_signature_len))?.run(|o| l.sign_final(h, o))
    }

    fn C_VerifyInit(h: CK_SESSION_HANDLE, p_mechanism: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE) {
        let l = lib()?;
        if p_mechanism.is_null() {
            return l.cancel_init(h, OpKind::Verify);
        }
        l.verify_init(h, &mechanism(p_mechanism)?, key)
    }

    fn C_Verify(
        h: CK_SESSION_HANDLE,
        p_data: CK_BYTE_PTR,
        ul_data_len: CK_ULONG,
        p_signature: CK_BYTE_PTR,
        ul_signature_len: CK_ULONG,
    ) {
        let l = lib()?;
        let data = checked(&l, h, OpKind::Verify, bytes(p_data, ul_data_len))?;
        let signature = checked(&l, h, OpKind::Verify, bytes(p_signature, ul_signature_len))?;
        l.verify(h, data, signature)
    }

    fn C_VerifyUpdate(h: CK_SESSION_HANDLE, p_part: CK_BYTE_PTR, ul_part_len: CK_ULONG) {
        let l = lib()?;
        let part = checked(&l, h, OpKind::Verify, bytes(p_part, ul_part_len))?;
        l.verify_update(h, part)
    }

    fn C_VerifyFinal(h: CK_SESSION_HANDLE, p_signature: CK_BYTE_PTR, ul_signature_len: CK_ULONG) {
        let l = lib()?;
        let signature = checked(&l, h, OpKind::Verify, bytes(p_signature, ul_signature_len))?;
        l.verify_final(h, signature)
    }
}
