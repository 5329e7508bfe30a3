//! A session and the operations active in it (DESIGN.md §2): find,
//! encrypt, decrypt, digest, sign, verify, and the PKCS#11 3.0
//! message-based encryption and decryption (`mechanism::message`). Each operation owns the engine
//! state it needs, so the hot path touches neither the store nor the token.
//!
//! The PKCS#11 output-length convention lives here once ([`emit`]); an error
//! ends the operation except `CKR_BUFFER_TOO_SMALL` and length queries.

use crate::ck::*;
use crate::error::{Error, Result};
use crate::mechanism::message::MessageCipher;
use crate::mechanism::{Cipher, Digester, Signer};
use crate::object::Object;
use crate::types::{Handle, Mechanism, MessageParam, OpKind};
use std::sync::Arc;

/// An encrypt or decrypt operation.
pub struct CipherOp {
    pub cipher: Box<dyn Cipher>,
    pub mechanism: CK_MECHANISM_TYPE,
    pub key: Arc<Object>,
    /// C_*Update has been called: a single-part call would be out of order.
    pub multipart: bool,
    /// CKA_ALWAYS_AUTHENTICATE (decryption): a context-specific login is due first.
    pub needs_auth: bool,
}

/// A sign or verify operation.
pub struct SignOp {
    pub signer: Box<dyn Signer>,
    pub mechanism: CK_MECHANISM_TYPE,
    pub key: Arc<Object>,
    pub multipart: bool,
    /// CKA_ALWAYS_AUTHENTICATE: a context-specific login is due first.
    pub needs_auth: bool,
    /// PKCS#11 3.2 C_VerifySignatureInit: the signature given up front
    /// (the verification then runs as this verify operation).
    pub signature: Option<Vec<u8>>,
}

/// A message-based encryption or decryption operation (C_MessageEncryptInit,
/// C_MessageDecryptInit). An error ends the message in progress, not the
/// operation; only C_Message*Final, a NULL-mechanism Init or
/// C_SessionCancel end it.
pub struct MessageOp {
    pub cipher: MessageCipher,
    pub mechanism: CK_MECHANISM_TYPE,
    pub key: Arc<Object>,
}

pub struct Session {
    pub handle: Handle,
    pub slot: Handle,
    pub rw: bool,
    pub find: Option<(Vec<Handle>, usize)>,
    pub encrypt: Option<CipherOp>,
    pub decrypt: Option<CipherOp>,
    pub digest: Option<(Box<dyn Digester>, bool)>,
    pub sign: Option<SignOp>,
    pub verify: Option<SignOp>,
    pub message_encrypt: Option<MessageOp>,
    pub message_decrypt: Option<MessageOp>,
    /// A context-specific login made while no sign or decrypt operation
    /// waited for one: it authorizes the next C_UnwrapKey or C_DeriveKey
    /// (which have no Init) with a CKA_ALWAYS_AUTHENTICATE key, and is
    /// spent by the next operation of any kind.
    pub context_login: std::cell::Cell<bool>,
}

/// The refusal of a CKA_ALWAYS_AUTHENTICATE key used without its
/// context-specific login.
pub fn auth_due() -> Error {
    Error::new(CKR_USER_NOT_LOGGED_IN, "key needs a context-specific login (CKA_ALWAYS_AUTHENTICATE)")
}

/// Fails with [`auth_due`] when `needs_auth` (inside the produce step, so a
/// length query still answers and the refusal ends the operation).
fn authorized(needs_auth: bool) -> Result<()> {
    if needs_auth { Err(auth_due()) } else { Ok(()) }
}

fn not_init(what: &str) -> Error {
    Error::new(CKR_OPERATION_NOT_INITIALIZED, format!("no {what} operation is active"))
}

/// Runs `produce` into `out` under the output-length convention. `bound` is
/// a length that suffices. On `None` it returns `bound` (length query). A
/// buffer smaller than `bound` gets `CKR_BUFFER_TOO_SMALL` and keeps the
/// operation. Returns (bytes, whether the operation is finished).
fn emit(
    out: Option<&mut [u8]>,
    bound: usize,
    produce: impl FnOnce(&mut [u8]) -> Result<usize>,
) -> Result<Option<usize>> {
    match out {
        None => Ok(None),
        Some(buf) if buf.len() < bound => Err(Error::buffer_too_small(bound)),
        Some(buf) => produce(buf).map(Some),
    }
}

impl Session {
    pub fn new(handle: Handle, slot: Handle, rw: bool) -> Self {
        Session {
            handle,
            slot,
            rw,
            find: None,
            encrypt: None,
            decrypt: None,
            digest: None,
            sign: None,
            verify: None,
            message_encrypt: None,
            message_decrypt: None,
            context_login: std::cell::Cell::new(false),
        }
    }

    fn cipher_slot(&mut self, encrypt: bool) -> &mut Option<CipherOp> {
        if encrypt { &mut self.encrypt } else { &mut self.decrypt }
    }

    /// C_Encrypt / C_Decrypt.
    pub fn cipher_oneshot(&mut self, encrypt: bool, data: &[u8], out: Option<&mut [u8]>) -> Result<usize> {
        let slot = self.cipher_slot(encrypt);
        let op = slot.as_mut().ok_or_else(|| not_init(if encrypt { "encrypt" } else { "decrypt" }))?;
        if op.multipart {
            *slot = None;
            return Err(Error::new(CKR_OPERATION_ACTIVE, "a multi-part operation is in progress"));
        }
        let bound = op.cipher.oneshot_bound(data.len());
        let r = emit(out, bound, |buf| {
            authorized(op.needs_auth)?;
            op.cipher.oneshot(data, buf)
        });
        finish(slot, r, bound)
    }

    /// C_EncryptUpdate / C_DecryptUpdate.
    pub fn cipher_update(&mut self, encrypt: bool, data: &[u8], out: Option<&mut [u8]>) -> Result<usize> {
        let slot = self.cipher_slot(encrypt);
        let op = slot.as_mut().ok_or_else(|| not_init(if encrypt { "encrypt" } else { "decrypt" }))?;
        let bound = op.cipher.update_bound(data.len());
        let r = emit(out, bound, |buf| {
            authorized(op.needs_auth)?;
            op.cipher.update(data, buf)
        });
        match r {
            Ok(None) => Ok(bound),
            Ok(Some(n)) => {
                op.multipart = true;
                Ok(n)
            }
            Err(e) => {
                if !e.keeps_operation() {
                    *slot = None;
                }
                Err(e)
            }
        }
    }

    /// C_EncryptFinal / C_DecryptFinal.
    pub fn cipher_final(&mut self, encrypt: bool, out: Option<&mut [u8]>) -> Result<usize> {
        let slot = self.cipher_slot(encrypt);
        let op = slot.as_mut().ok_or_else(|| not_init(if encrypt { "encrypt" } else { "decrypt" }))?;
        let bound = op.cipher.final_bound();
        let r = emit(out, bound, |buf| {
            authorized(op.needs_auth)?;
            op.cipher.finalize(buf)
        });
        finish(slot, r, bound)
    }

    pub fn digest_init_with(&mut self, d: Box<dyn Digester>) -> Result<()> {
        if self.digest.is_some() {
            return Err(Error::new(CKR_OPERATION_ACTIVE, "a digest operation is active"));
        }
        self.digest = Some((d, false));
        Ok(())
    }

    pub fn digest_init(&mut self, mech: &Mechanism) -> Result<()> {
        if self.digest.is_some() {
            return Err(Error::new(CKR_OPERATION_ACTIVE, "a digest operation is active"));
        }
        let d = crate::mechanism::digest::digester(mech)?;
        self.digest_init_with(d)
    }

    pub fn digest_oneshot(&mut self, data: &[u8], out: Option<&mut [u8]>) -> Result<usize> {
        let (d, multipart) = self.digest.as_mut().ok_or_else(|| not_init("digest"))?;
        if *multipart {
            self.digest = None;
            return Err(Error::new(CKR_OPERATION_ACTIVE, "a multi-part digest is in progress"));
        }
        let bound = d.output_len();
        let r = emit(out, bound, |buf| {
            d.update(data);
            Ok(d.finish(buf))
        });
        finish(&mut self.digest, r, bound)
    }

    pub fn digest_update(&mut self, data: &[u8]) -> Result<()> {
        let (d, multipart) = self.digest.as_mut().ok_or_else(|| not_init("digest"))?;
        d.update(data);
        *multipart = true;
        Ok(())
    }

    /// C_DigestKey's input: key bytes (the digest is no longer saveable).
    pub fn digest_update_secret(&mut self, data: &[u8]) -> Result<()> {
        let (d, multipart) = self.digest.as_mut().ok_or_else(|| not_init("digest"))?;
        d.update_secret(data);
        *multipart = true;
        Ok(())
    }

    /// C_GetOperationState: only a digest operation is saved; with any
    /// other cryptographic operation active the state is unsaveable.
    pub fn operation_state(&self) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        if self.encrypt.is_some()
            || self.decrypt.is_some()
            || self.sign.is_some()
            || self.verify.is_some()
            || self.message_encrypt.is_some()
            || self.message_decrypt.is_some()
        {
            return Err(Error::new(CKR_STATE_UNSAVEABLE, "only digest operations are saved"));
        }
        let (d, multipart) = self.digest.as_ref().ok_or_else(|| not_init("cryptographic"))?;
        d.save(*multipart)
    }

    /// C_SetOperationState with a restored digest: the session's
    /// cryptographic operations are replaced by it.
    pub fn restore_digest(&mut self, d: Box<dyn Digester>, multipart: bool) {
        self.encrypt = None;
        self.decrypt = None;
        self.sign = None;
        self.verify = None;
        self.message_encrypt = None;
        self.message_decrypt = None;
        self.digest = Some((d, multipart));
    }

    pub fn digest_final(&mut self, out: Option<&mut [u8]>) -> Result<usize> {
        let (d, _) = self.digest.as_mut().ok_or_else(|| not_init("digest"))?;
        let bound = d.output_len();
        let r = emit(out, bound, |buf| Ok(d.finish(buf)));
        finish(&mut self.digest, r, bound)
    }

    fn sign_slot(&mut self, sign: bool) -> &mut Option<SignOp> {
        if sign { &mut self.sign } else { &mut self.verify }
    }

    pub fn sign_oneshot(&mut self, data: &[u8], out: Option<&mut [u8]>) -> Result<usize> {
        let op = self.sign.as_mut().ok_or_else(|| not_init("sign"))?;
        if op.multipart {
            self.sign = None;
            return Err(Error::new(CKR_OPERATION_ACTIVE, "a multi-part signature is in progress"));
        }
        let bound = op.signer.sig_len();
        let r = emit(out, bound, |buf| {
            authorized(op.needs_auth)?;
            op.signer.update(data)?;
            op.signer.sign_final(buf)
        });
        finish(&mut self.sign, r, bound)
    }

    /// C_SignUpdate / C_VerifyUpdate.
    pub fn sign_update(&mut self, sign: bool, data: &[u8]) -> Result<()> {
        let slot = self.sign_slot(sign);
        let op = slot.as_mut().ok_or_else(|| not_init(if sign { "sign" } else { "verify" }))?;
        let r = if op.needs_auth {
            Err(auth_due())
        } else if op.signer.single_part_only() {
            Err(Error::new(op.signer.multipart_refusal(), "this mechanism is single-part only"))
        } else {
            op.multipart = true;
            op.signer.update(data)
        };
        if r.is_err() {
            *slot = None;
        }
        r
    }

    pub fn sign_final(&mut self, out: Option<&mut [u8]>) -> Result<usize> {
        let op = self.sign.as_mut().ok_or_else(|| not_init("sign"))?;
        let bound = op.signer.sig_len();
        let r = emit(out, bound, |buf| {
            authorized(op.needs_auth)?;
            op.signer.sign_final(buf)
        });
        finish(&mut self.sign, r, bound)
    }

    pub fn verify_oneshot(&mut self, data: &[u8], signature: &[u8]) -> Result<()> {
        let mut op = self.verify.take().ok_or_else(|| not_init("verify"))?;
        if op.multipart {
            return Err(Error::new(CKR_OPERATION_ACTIVE, "a multi-part verification is in progress"));
        }
        op.signer.update(data)?;
        op.signer.verify_final(signature)
    }

    pub fn verify_final(&mut self, signature: &[u8]) -> Result<()> {
        let mut op = self.verify.take().ok_or_else(|| not_init("verify"))?;
        op.signer.verify_final(signature)
    }

    /// The verify operation of C_VerifySignatureInit (3.2), or
    /// `CKR_OPERATION_NOT_INITIALIZED` (also for one begun by C_VerifyInit).
    fn signature_op(&mut self) -> Result<&mut SignOp> {
        self.verify
            .as_mut()
            .filter(|op| op.signature.is_some())
            .ok_or_else(|| not_init("signature verification (C_VerifySignatureInit)"))
    }

    /// C_VerifySignature: single-part, with the signature given at Init.
    pub fn verify_signature(&mut self, data: &[u8]) -> Result<()> {
        let sig = self.signature_op()?.signature.take().unwrap_or_default();
        self.verify_oneshot(data, &sig)
    }

    /// C_VerifySignatureUpdate.
    pub fn verify_signature_update(&mut self, data: &[u8]) -> Result<()> {
        self.signature_op()?;
        self.sign_update(false, data)
    }

    /// C_VerifySignatureFinal.
    pub fn verify_signature_final(&mut self) -> Result<()> {
        let sig = self.signature_op()?.signature.take().unwrap_or_default();
        self.verify_final(&sig)
    }

    pub fn find_next(&mut self, max: usize) -> Result<Vec<Handle>> {
        let (list, pos) = self.find.as_mut().ok_or_else(|| not_init("find"))?;
        let end = (*pos + max).min(list.len());
        let out = list[*pos..end].to_vec();
        *pos = end;
        Ok(out)
    }

    pub fn find_final(&mut self) -> Result<()> {
        self.find.take().map(|_| ()).ok_or_else(|| not_init("find"))
    }

    /// Ends the operation of `kind`; returns whether one was active.
    pub fn end(&mut self, kind: OpKind) -> bool {
        match kind {
            OpKind::Encrypt => self.encrypt.take().is_some(),
            OpKind::Decrypt => self.decrypt.take().is_some(),
            OpKind::Digest => self.digest.take().is_some(),
            OpKind::Sign => self.sign.take().is_some(),
            OpKind::Verify => self.verify.take().is_some(),
            OpKind::MessageEncrypt => self.message_encrypt.take().is_some(),
            OpKind::MessageDecrypt => self.message_decrypt.take().is_some(),
        }
    }

    /// C_SessionCancel: ends the operations named by `flags`.
    pub fn cancel(&mut self, flags: CK_FLAGS) {
        for (flag, kind) in [
            (CKF_ENCRYPT, OpKind::Encrypt),
            (CKF_DECRYPT, OpKind::Decrypt),
            (CKF_DIGEST, OpKind::Digest),
            (CKF_SIGN, OpKind::Sign),
            (CKF_VERIFY, OpKind::Verify),
            (CKF_MESSAGE_ENCRYPT, OpKind::MessageEncrypt),
            (CKF_MESSAGE_DECRYPT, OpKind::MessageDecrypt),
        ] {
            if flags & flag != 0 {
                self.end(kind);
            }
        }
        if flags & CKF_FIND_OBJECTS != 0 {
            self.find = None;
        }
    }

    /// Whether any cryptographic operation is active (C_InitPIN etc. don't care).
    pub fn any_operation(&self) -> bool {
        self.encrypt.is_some()
            || self.decrypt.is_some()
            || self.digest.is_some()
            || self.sign.is_some()
            || self.verify.is_some()
            || self.message_encrypt.is_some()
            || self.message_decrypt.is_some()
    }

    fn message_slot(&mut self, encrypt: bool) -> Result<&mut MessageOp> {
        let slot = if encrypt { &mut self.message_encrypt } else { &mut self.message_decrypt };
        slot.as_mut().ok_or_else(|| not_init(if encrypt { "message encryption" } else { "message decryption" }))
    }

    /// C_EncryptMessage / C_DecryptMessage: one message under the output
    /// convention (a length query or a short buffer draws no IV).
    pub fn message(
        &mut self,
        encrypt: bool,
        p: &mut MessageParam,
        aad: &[u8],
        data: &[u8],
        out: Option<&mut [u8]>,
    ) -> Result<usize> {
        let op = self.message_slot(encrypt)?;
        let bound = op.cipher.message_bound(data.len());
        Ok(emit(out, bound, |buf| op.cipher.message(p, aad, data, buf))?.unwrap_or(bound))
    }

    /// C_EncryptMessageBegin / C_DecryptMessageBegin.
    pub fn message_begin(&mut self, encrypt: bool, p: &mut MessageParam, aad: &[u8]) -> Result<()> {
        self.message_slot(encrypt)?.cipher.begin(p, aad)
    }

    /// C_EncryptMessageNext / C_DecryptMessageNext.
    pub fn message_next(
        &mut self,
        encrypt: bool,
        p: &mut MessageParam,
        data: &[u8],
        out: Option<&mut [u8]>,
        end: bool,
    ) -> Result<usize> {
        let op = self.message_slot(encrypt)?;
        let bound = op.cipher.next_bound(data.len(), end);
        Ok(emit(out, bound, |buf| op.cipher.next(p, data, buf, end))?.unwrap_or(bound))
    }

    /// C_MessageEncryptFinal / C_MessageDecryptFinal.
    pub fn message_final(&mut self, encrypt: bool) -> Result<()> {
        self.message_slot(encrypt)?;
        self.end(if encrypt { OpKind::MessageEncrypt } else { OpKind::MessageDecrypt });
        Ok(())
    }
}

/// Ends the operation in `slot` unless the result keeps it (length query or
/// buffer too small), and maps a length query to the bound.
fn finish<T>(slot: &mut Option<T>, r: Result<Option<usize>>, bound: usize) -> Result<usize> {
    match r {
        Ok(None) => Ok(bound),
        Ok(Some(n)) => {
            *slot = None;
            Ok(n)
        }
        Err(e) => {
            if !e.keeps_operation() {
                *slot = None;
            }
            Err(e)
        }
    }
}
