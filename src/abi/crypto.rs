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
use super::util::{InOut, Output, bytes};
use crate::ck::*;
use crate::error::Result;
use crate::library::Library;
use crate::types::OpKind;

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
