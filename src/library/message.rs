//! The PKCS#11 3.0 message-based encryption calls of the safe API
//! (`Library::message_*`): C_MessageEncryptInit ... C_MessageDecryptFinal.
//!
//! Owns: the session lookup, the audit record of each call, and the
//! operation lifetime of the message API: an error in a message ends that
//! message (the mechanism drops it), not the message-based operation, which
//! only `message_final`, a NULL-mechanism Init (`cancel_init`) or
//! C_SessionCancel end. Must not touch: IVs, tags or parameters
//! (`mechanism::message`), the key checks (`Token::message_init`).

use super::Library;
use crate::audit::Call;
use crate::error::Result;
use crate::token::session::Session;
use crate::types::{Handle, Mechanism, MessageParam};

fn name(encrypt: bool, enc: &'static str, dec: &'static str) -> &'static str {
    if encrypt { enc } else { dec }
}

impl Library {
    /// C_MessageEncryptInit / C_MessageDecryptInit.
    pub fn message_init(&self, h: Handle, mech: &Mechanism, key: Handle, encrypt: bool) -> Result<()> {
        self.with_session(h, |s, t| {
            let f = name(encrypt, "C_MessageEncryptInit", "C_MessageDecryptInit");
            super::audited(t, Call::crypto(f, h, mech, key), || t.message_init(s, mech, key, encrypt))
        })
    }

    /// C_EncryptMessage / C_DecryptMessage.
    pub fn message(
        &self,
        h: Handle,
        encrypt: bool,
        p: &mut MessageParam,
        aad: &[u8],
        data: &[u8],
        out: Option<&mut [u8]>,
    ) -> Result<usize> {
        self.with_session(h, |s, t| {
            let (function, query) = (name(encrypt, "C_EncryptMessage", "C_DecryptMessage"), out.is_none());
            let call = |s: &Session| Call::message(function, s, encrypt).query(query);
            t.audit().around(s, call, &**t, |s| s.message(encrypt, p, aad, data, out))
        })
    }

    /// C_EncryptMessageBegin / C_DecryptMessageBegin.
    pub fn message_begin(&self, h: Handle, encrypt: bool, p: &mut MessageParam, aad: &[u8]) -> Result<()> {
        self.with_session(h, |s, _| s.message_begin(encrypt, p, aad))
    }

    /// C_EncryptMessageNext / C_DecryptMessageNext (`end`: CKF_END_OF_MESSAGE).
    pub fn message_next(
        &self,
        h: Handle,
        encrypt: bool,
        p: &mut MessageParam,
        data: &[u8],
        out: Option<&mut [u8]>,
        end: bool,
    ) -> Result<usize> {
        self.with_session(h, |s, t| {
            if !end {
                return s.message_next(encrypt, p, data, out, end);
            }
            let (function, query) = (name(encrypt, "C_EncryptMessageNext", "C_DecryptMessageNext"), out.is_none());
            let call = |s: &Session| Call::message(function, s, encrypt).query(query);
            t.audit().around(s, call, &**t, |s| s.message_next(encrypt, p, data, out, end))
        })
    }

    /// An error the C boundary found in a Next's arguments ends the message
    /// in progress (not the operation), as any other error of a Next;
    /// hands `e` back.
    pub fn message_abandon(&self, h: Handle, encrypt: bool, e: crate::error::Error) -> crate::error::Error {
        if !e.keeps_operation()
            && let Ok(s) = self.session(h)
            && let Ok(mut s) = s.lock()
        {
            let op = if encrypt { s.message_encrypt.as_mut() } else { s.message_decrypt.as_mut() };
            if let Some(op) = op {
                op.cipher.abandon_message();
            }
        }
        e
    }

    /// C_MessageEncryptFinal / C_MessageDecryptFinal.
    pub fn message_final(&self, h: Handle, encrypt: bool) -> Result<()> {
        self.with_session(h, |s, _| s.message_final(encrypt))
    }
}
