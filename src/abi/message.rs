//! The PKCS#11 3.0 message-based encryption functions: C_MessageEncryptInit,
//! C_EncryptMessage, C_EncryptMessageBegin, C_EncryptMessageNext,
//! C_MessageEncryptFinal and the decryption counterparts.
//!
//! Owns the per-message parameter structures at the C boundary:
//! CK_GCM_MESSAGE_PARAMS and CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS,
//! told apart by their size (any other size is
//! `CKR_MECHANISM_PARAM_INVALID`; the mechanism layer checks that the
//! structure fits the operation's mechanism). They are in-out: the values
//! are copied in before the call, and after a successful call a
//! token-generated IV is written back into `pIv` and an encryption's tag
//! into `pTag` (no reference to the caller's structure is held meanwhile).
//! The AAD is copied too, so it can never alias the output buffer.
//!
//! The Init functions take the mechanism type only: each message carries
//! its parameter (the parameter of the Init is not read). A NULL mechanism
//! cancels the operation of that kind, as for C_EncryptInit.

use super::crypto::InOut;
use super::lib;
use super::util::{MAX_DATA, bytes};
use crate::ck::*;
use crate::error::{Error, Result};
use crate::types::{Mechanism, MessageKind, MessageParam, OpKind};

fn param_invalid(why: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::new(CKR_MECHANISM_PARAM_INVALID, why)
}

/// Where the answers of a message call go in the caller's structure.
struct WriteBack {
    p_iv: *mut u8,
    iv_len: usize,
    p_tag: *mut u8,
    tag_len: usize,
    /// The IV as the caller gave it (written back only if it changed).
    iv_in: Vec<u8>,
}

impl WriteBack {
    /// Writes a changed IV and an encryption's tag into the caller's
    /// structure.
    ///
    /// # Safety
    /// The pointers were checked by [`param`]; the caller's structure is
    /// writable (the parameter is in-out, PKCS#11 3.0).
    unsafe fn apply(&self, p: &MessageParam, encrypt: bool) {
        if !encrypt {
            return;
        }
        if p.iv != self.iv_in && p.iv.len() == self.iv_len && !self.p_iv.is_null() {
            // SAFETY: pIv points at ulIvLen bytes (checked non-NULL with its
            // length in `param`); the source is our own Vec.
            unsafe { std::ptr::copy_nonoverlapping(p.iv.as_ptr(), self.p_iv, self.iv_len) };
        }
        if p.tag.len() == self.tag_len && !self.p_tag.is_null() {
            // SAFETY: pTag points at ulTagBits / 8 bytes (the caller's
            // contract), checked non-NULL in `param`.
            unsafe { std::ptr::copy_nonoverlapping(p.tag.as_ptr(), self.p_tag, self.tag_len) };
        }
    }
}

/// Copies the caller's per-message parameter in. `read_tag`: the tag is an
/// input (a decryption that checks it now).
///
/// # Safety
/// A non-NULL `p` must point at `len` bytes; the pointers inside must be
/// valid for the lengths beside them.
unsafe fn param(p: CK_VOID_PTR, len: CK_ULONG, read_tag: bool) -> Result<(MessageParam, WriteBack)> {
    if p.is_null() {
        return Err(param_invalid("NULL message parameter"));
    }
    let copy = |ptr: *const u8, n: CK_ULONG, what: &str| -> Result<Vec<u8>> {
        // SAFETY: forwarded contract (pointers inside the caller's structure).
        unsafe { bytes(ptr, n) }.map(<[u8]>::to_vec).map_err(|e| param_invalid(format!("{what}: {}", e.reason())))
    };
    let (kind, p_iv, iv_len, fixed, generator, p_tag, tag_bits) = match len as usize {
        n if n == std::mem::size_of::<CK_GCM_MESSAGE_PARAMS>() => {
            // SAFETY: non-NULL and of the structure's size; read_unaligned
            // copes with any alignment; plain old data.
            let g = unsafe { std::ptr::read_unaligned(p as *const CK_GCM_MESSAGE_PARAMS) };
            (MessageKind::Gcm, g.pIv, g.ulIvLen, g.ulIvFixedBits, g.ivGenerator, g.pTag, g.ulTagBits)
        }
        n if n == std::mem::size_of::<CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS>() => {
            // SAFETY: as above.
            let c = unsafe { std::ptr::read_unaligned(p as *const CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS) };
            (MessageKind::ChaCha, c.pNonce, c.ulNonceLen, 0, CKG_NO_GENERATE, c.pTag, 128)
        }
        n => return Err(param_invalid(format!("message parameter of {n} bytes"))),
    };
    if tag_bits % 8 != 0 || tag_bits > 128 || tag_bits == 0 {
        return Err(param_invalid(format!("tag of {tag_bits} bits")));
    }
    let tag_len = tag_bits as usize / 8;
    if p_tag.is_null() {
        return Err(param_invalid("NULL pTag"));
    }
    if iv_len > MAX_DATA {
        return Err(param_invalid("absurd IV length"));
    }
    let iv = copy(p_iv, iv_len, "IV")?;
    let tag = if read_tag { copy(p_tag, tag_len as CK_ULONG, "tag")? } else { Vec::new() };
    let mp = MessageParam { kind, iv: iv.clone(), iv_fixed_bits: fixed, generator, tag_len, tag };
    let wb = WriteBack { p_iv, iv_len: iv_len as usize, p_tag, tag_len, iv_in: iv };
    Ok((mp, wb))
}

/// The mechanism type of a message-based Init (its parameter is not read).
///
/// # Safety
/// `p` is non-NULL and points at a CK_MECHANISM.
unsafe fn init_mechanism(p: CK_MECHANISM_PTR) -> Mechanism {
    // SAFETY: non-NULL (checked by the caller), a CK_MECHANISM per the
    // Cryptoki contract; read_unaligned copies it whatever its alignment.
    let m = unsafe { std::ptr::read_unaligned(p) };
    Mechanism::new(m.mechanism)
}

/// The AAD, copied (it may lie inside the output buffer).
///
/// # Safety
/// As `util::bytes`.
unsafe fn aad(p: CK_BYTE_PTR, n: CK_ULONG) -> Result<Vec<u8>> {
    // SAFETY: forwarded contract.
    Ok(unsafe { bytes(p, n) }?.to_vec())
}

fn kind(encrypt: bool) -> OpKind {
    if encrypt { OpKind::MessageEncrypt } else { OpKind::MessageDecrypt }
}

/// C_MessageEncryptInit / C_MessageDecryptInit.
unsafe fn init(
    h: CK_SESSION_HANDLE,
    p_mechanism: CK_MECHANISM_PTR,
    key: CK_OBJECT_HANDLE,
    encrypt: bool,
) -> Result<()> {
    let l = lib()?;
    if p_mechanism.is_null() {
        return l.cancel_init(h, kind(encrypt));
    }
    // SAFETY: non-NULL, forwarded contract.
    l.message_init(h, &unsafe { init_mechanism(p_mechanism) }, key, encrypt)
}

/// C_EncryptMessage / C_DecryptMessage.
#[allow(clippy::too_many_arguments)]
unsafe fn one(
    h: CK_SESSION_HANDLE,
    p_param: CK_VOID_PTR,
    ul_param_len: CK_ULONG,
    p_aad: CK_BYTE_PTR,
    ul_aad_len: CK_ULONG,
    p_in: CK_BYTE_PTR,
    ul_in_len: CK_ULONG,
    p_out: CK_BYTE_PTR,
    pul_out_len: CK_ULONG_PTR,
    encrypt: bool,
) -> Result<()> {
    let l = lib()?;
    // SAFETY (all three): forwarded contract of the exported function.
    let (mut mp, wb) = unsafe { param(p_param, ul_param_len, !encrypt) }?;
    let aad = unsafe { aad(p_aad, ul_aad_len) }?;
    let io = unsafe { InOut::new(p_in, ul_in_len, p_out, pul_out_len) }?;
    io.run(|i, o| l.message(h, encrypt, &mut mp, &aad, i, o))?;
    // SAFETY: no slice over the caller's buffers is alive any more.
    unsafe { wb.apply(&mp, encrypt) };
    Ok(())
}

/// C_EncryptMessageBegin / C_DecryptMessageBegin.
unsafe fn begin(
    h: CK_SESSION_HANDLE,
    p_param: CK_VOID_PTR,
    ul_param_len: CK_ULONG,
    p_aad: CK_BYTE_PTR,
    ul_aad_len: CK_ULONG,
    encrypt: bool,
) -> Result<()> {
    let l = lib()?;
    // SAFETY (both): forwarded contract; the tag of a decryption comes
    // with its last part.
    let (mut mp, wb) = unsafe { param(p_param, ul_param_len, false) }?;
    let aad = unsafe { aad(p_aad, ul_aad_len) }?;
    l.message_begin(h, encrypt, &mut mp, &aad)?;
    // SAFETY: nothing of the caller's is borrowed.
    unsafe { wb.apply(&mp, encrypt) };
    Ok(())
}

/// C_EncryptMessageNext / C_DecryptMessageNext.
#[allow(clippy::too_many_arguments)]
unsafe fn next(
    h: CK_SESSION_HANDLE,
    p_param: CK_VOID_PTR,
    ul_param_len: CK_ULONG,
    p_in: CK_BYTE_PTR,
    ul_in_len: CK_ULONG,
    p_out: CK_BYTE_PTR,
    pul_out_len: CK_ULONG_PTR,
    flags: CK_FLAGS,
    encrypt: bool,
) -> Result<()> {
    let l = lib()?;
    if flags & !CKF_END_OF_MESSAGE != 0 {
        return Err(l.message_abandon(h, encrypt, Error::args(format!("unknown flags 0x{flags:x}"))));
    }
    let end = flags & CKF_END_OF_MESSAGE != 0;
    // SAFETY (both): forwarded contract. A refusal ends the message in
    // progress, as an error of the Next itself does.
    let args = unsafe { param(p_param, ul_param_len, !encrypt && end) }
        .and_then(|(mp, wb)| Ok((mp, wb, unsafe { InOut::new(p_in, ul_in_len, p_out, pul_out_len) }?)));
    let (mut mp, wb, io) = args.map_err(|e| l.message_abandon(h, encrypt, e))?;
    io.run(|i, o| l.message_next(h, encrypt, &mut mp, i, o, end))?;
    // SAFETY: no slice over the caller's buffers is alive any more.
    unsafe { wb.apply(&mp, encrypt) };
    Ok(())
}

export! {
    fn C_MessageEncryptInit(h: CK_SESSION_HANDLE, p_mechanism: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE) {
        init(h, p_mechanism, key, true)
    }

    fn C_EncryptMessage(
        h: CK_SESSION_HANDLE,
        p_param: CK_VOID_PTR,
        ul_param_len: CK_ULONG,
        p_aad: CK_BYTE_PTR,
        ul_aad_len: CK_ULONG,
        p_plaintext: CK_BYTE_PTR,
        ul_plaintext_len: CK_ULONG,
        p_ciphertext: CK_BYTE_PTR,
        pul_ciphertext_len: CK_ULONG_PTR,
    ) {
        one(h, p_param, ul_param_len, p_aad, ul_aad_len, p_plaintext, ul_plaintext_len, p_ciphertext, pul_ciphertext_len, true)
    }

    fn C_EncryptMessageBegin(
        h: CK_SESSION_HANDLE,
        p_param: CK_VOID_PTR,
        ul_param_len: CK_ULONG,
        p_aad: CK_BYTE_PTR,
        ul_aad_len: CK_ULONG,
    ) {
        begin(h, p_param, ul_param_len, p_aad, ul_aad_len, true)
    }

    fn C_EncryptMessageNext(
        h: CK_SESSION_HANDLE,
        p_param: CK_VOID_PTR,
        ul_param_len: CK_ULONG,
        p_plaintext_part: CK_BYTE_PTR,
        ul_plaintext_part_len: CK_ULONG,
        p_ciphertext_part: CK_BYTE_PTR,
        pul_ciphertext_part_len: CK_ULONG_PTR,
        flags: CK_FLAGS,
    ) {
        next(h, p_param, ul_param_len, p_plaintext_part, ul_plaintext_part_len, p_ciphertext_part, pul_ciphertext_part_len, flags, true)
    }

    fn C_MessageEncryptFinal(h: CK_SESSION_HANDLE) {
        lib()?.message_final(h, true)
    }

    fn C_MessageDecryptInit(h: CK_SESSION_HANDLE, p_mechanism: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE) {
        init(h, p_mechanism, key, false)
    }

    fn C_DecryptMessage(
        h: CK_SESSION_HANDLE,
        p_param: CK_VOID_PTR,
        ul_param_len: CK_ULONG,
        p_aad: CK_BYTE_PTR,
        ul_aad_len: CK_ULONG,
        p_ciphertext: CK_BYTE_PTR,
        ul_ciphertext_len: CK_ULONG,
        p_plaintext: CK_BYTE_PTR,
        pul_plaintext_len: CK_ULONG_PTR,
    ) {
        one(h, p_param, ul_param_len, p_aad, ul_aad_len, p_ciphertext, ul_ciphertext_len, p_plaintext, pul_plaintext_len, false)
    }

    fn C_DecryptMessageBegin(
        h: CK_SESSION_HANDLE,
        p_param: CK_VOID_PTR,
        ul_param_len: CK_ULONG,
        p_aad: CK_BYTE_PTR,
        ul_aad_len: CK_ULONG,
    ) {
        begin(h, p_param, ul_param_len, p_aad, ul_aad_len, false)
    }

    fn C_DecryptMessageNext(
        h: CK_SESSION_HANDLE,
        p_param: CK_VOID_PTR,
        ul_param_len: CK_ULONG,
        p_ciphertext_part: CK_BYTE_PTR,
        ul_ciphertext_part_len: CK_ULONG,
        p_plaintext_part: CK_BYTE_PTR,
        pul_plaintext_part_len: CK_ULONG_PTR,
        flags: CK_FLAGS,
    ) {
        next(h, p_param, ul_param_len, p_ciphertext_part, ul_ciphertext_part_len, p_plaintext_part, pul_plaintext_part_len, flags, false)
    }

    fn C_MessageDecryptFinal(h: CK_SESSION_HANDLE) {
        lib()?.message_final(h, false)
    }
}
