//! The PKCS#11 3.2 functions: C_EncapsulateKey and C_DecapsulateKey
//! (ML-KEM), C_VerifySignatureInit/C_VerifySignature/
//! C_VerifySignatureUpdate/C_VerifySignatureFinal (the signature given at
//! Init; it runs as the session's verify operation, so a C_VerifyInit
//! operation and a C_VerifySignatureInit one are not active at once), and
//! the functions keyward does not offer (asynchronous operations,
//! authenticated wrapping, session validation flags):
//! `CKR_FUNCTION_NOT_SUPPORTED` after the initialization check.

use super::crypto::Output;
use super::crypto::checked;
use super::lib;
use super::list32::*;
use super::mechanism::mechanism;
use super::template::{check_template, template};
use super::util::{OutParam, bytes};
use crate::ck::*;
use crate::error::{Error, Result};
use crate::types::OpKind;

fn not_supported(name: &str) -> Result<()> {
    lib()?;
    Err(Error::not_supported(format!("{name} is not supported")))
}

export! {
    /// Encapsulates a fresh shared secret to an ML-KEM public key: the
    /// ciphertext to `pCiphertext` (NULL: length query, no key made) and a
    /// new secret key from the template to `*phKey`.
    fn C_EncapsulateKey(
        h: CK_SESSION_HANDLE,
        p_mechanism: CK_MECHANISM_PTR,
        public_key: CK_OBJECT_HANDLE,
        p_template: CK_ATTRIBUTE_PTR,
        ul_attribute_count: CK_ULONG,
        p_ciphertext: CK_BYTE_PTR,
        pul_ciphertext_len: CK_ULONG_PTR,
        ph_key: CK_OBJECT_HANDLE_PTR,
    ) {
        let l = lib()?;
        let mech = mechanism(p_mechanism)?;
        // A length query (NULL pCiphertext) makes no key: its template is
        // checked as the real call's is (the same CK_RVs), not copied.
        let t = if p_ciphertext.is_null() {
            check_template(p_template, ul_attribute_count)?;
            Vec::new()
        } else {
            template(p_template, ul_attribute_count)?
        };
        // Written after the ciphertext (a caller may point it into that
        // buffer): no `&mut` over it meanwhile.
        let o = OutParam::new(ph_key)?;
        let mut made = None;
        Output::new(p_ciphertext, pul_ciphertext_len)?.run(|buf| {
            let (n, k) = l.encapsulate_key(h, &mech, public_key, &t, buf)?;
            made = k;
            Ok(n)
        })?;
        if let Some(k) = made {
            o.set(k);
        }
        Ok(())
    }

    /// Decapsulates an ML-KEM ciphertext with the private key into a new
    /// secret key from the template.
    fn C_DecapsulateKey(
        h: CK_SESSION_HANDLE,
        p_mechanism: CK_MECHANISM_PTR,
        private_key: CK_OBJECT_HANDLE,
        p_template: CK_ATTRIBUTE_PTR,
        ul_attribute_count: CK_ULONG,
        p_ciphertext: CK_BYTE_PTR,
        ul_ciphertext_len: CK_ULONG,
        ph_key: CK_OBJECT_HANDLE_PTR,
    ) {
        let l = lib()?;
        let mech = mechanism(p_mechanism)?;
        let t = template(p_template, ul_attribute_count)?;
        let ct = bytes(p_ciphertext, ul_ciphertext_len)?;
        let o = OutParam::new(ph_key)?;
        o.set(l.decapsulate_key(h, &mech, private_key, &t, ct)?);
        Ok(())
    }

    fn C_VerifySignatureInit(
        h: CK_SESSION_HANDLE,
        p_mechanism: CK_MECHANISM_PTR,
        key: CK_OBJECT_HANDLE,
        p_signature: CK_BYTE_PTR,
        ul_signature_len: CK_ULONG,
    ) {
        let l = lib()?;
        if p_mechanism.is_null() {
            return l.cancel_init(h, OpKind::Verify);
        }
        let mech = mechanism(p_mechanism)?;
        let sig = bytes(p_signature, ul_signature_len)?;
        l.verify_signature_init(h, &mech, key, sig)
    }

    fn C_VerifySignature(h: CK_SESSION_HANDLE, p_data: CK_BYTE_PTR, ul_data_len: CK_ULONG) {
        let l = lib()?;
        let data = checked(&l, h, OpKind::Verify, bytes(p_data, ul_data_len))?;
        l.verify_signature(h, data)
    }

    fn C_VerifySignatureUpdate(h: CK_SESSION_HANDLE, p_part: CK_BYTE_PTR, ul_part_len: CK_ULONG) {
        let l = lib()?;
        let part = checked(&l, h, OpKind::Verify, bytes(p_part, ul_part_len))?;
        l.verify_signature_update(h, part)
    }

    fn C_VerifySignatureFinal(h: CK_SESSION_HANDLE) {
        let l = lib()?;
        l.verify_signature_final(h)
    }

    fn C_GetSessionValidationFlags(
        _h: CK_SESSION_HANDLE,
        _ty: CK_SESSION_VALIDATION_FLAGS_TYPE,
        _p_flags: *mut CK_FLAGS,
    ) {
        not_supported("C_GetSessionValidationFlags")
    }

    fn C_AsyncComplete(_h: CK_SESSION_HANDLE, _p_name: CK_UTF8CHAR_PTR, _p_result: *mut CK_ASYNC_DATA) {
        not_supported("C_AsyncComplete")
    }

    fn C_AsyncGetID(_h: CK_SESSION_HANDLE, _p_name: CK_UTF8CHAR_PTR, _pul_id: CK_ULONG_PTR) {
        not_supported("C_AsyncGetID")
    }

    fn C_AsyncJoin(
        _h: CK_SESSION_HANDLE,
        _p_name: CK_UTF8CHAR_PTR,
        _ul_id: CK_ULONG,
        _p_data: CK_BYTE_PTR,
        _ul_data: CK_ULONG,
    ) {
        not_supported("C_AsyncJoin")
    }

    fn C_WrapKeyAuthenticated(
        _h: CK_SESSION_HANDLE,
        _p_mechanism: CK_MECHANISM_PTR,
        _wrapping_key: CK_OBJECT_HANDLE,
        _key: CK_OBJECT_HANDLE,
        _p_aad: CK_BYTE_PTR,
        _ul_aad: CK_ULONG,
        _p_wrapped: CK_BYTE_PTR,
        _pul_wrapped: CK_ULONG_PTR,
    ) {
        not_supported("C_WrapKeyAuthenticated")
    }

    fn C_UnwrapKeyAuthenticated(
        _h: CK_SESSION_HANDLE,
        _p_mechanism: CK_MECHANISM_PTR,
        _unwrapping_key: CK_OBJECT_HANDLE,
        _p_wrapped: CK_BYTE_PTR,
        _ul_wrapped: CK_ULONG,
        _p_template: CK_ATTRIBUTE_PTR,
        _ul_count: CK_ULONG,
        _p_aad: CK_BYTE_PTR,
        _ul_aad: CK_ULONG,
        _ph_key: CK_OBJECT_HANDLE_PTR,
    ) {
        not_supported("C_UnwrapKeyAuthenticated")
    }
}
