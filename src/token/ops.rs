//! Cryptographic operations at the token level: the key-usage policy checks
//! (CKA_ENCRYPT/SIGN/..., CKA_ALLOWED_MECHANISMS, key type and size, dates)
//! and the dispatch from a mechanism to the `mechanism/` operation.

use super::Token;
use super::session::{CipherOp, MessageOp, Session, SignOp};
use crate::ck::*;
use crate::err;
use crate::error::{Error, Result};
use crate::mechanism::{self, registry};
use crate::object::template::{self, NewObject, Origin};
use crate::object::{KeyMaterial, Object};
use crate::types::*;
use std::sync::Arc;
use zeroize::Zeroizing;

pub use crate::object::Purpose;

/// The policy checks every key use goes through.
pub fn check_key_use(obj: &Object, mech: &Mechanism, purpose: Purpose) -> Result<()> {
    let entry = registry::lookup(mech.ty)
        .ok_or_else(|| err!(CKR_MECHANISM_INVALID, "mechanism 0x{:x} not supported", mech.ty))?;
    if entry.info.flags & purpose.mechanism_flag() == 0 {
        return Err(err!(CKR_MECHANISM_INVALID, "mechanism 0x{:x} cannot {:?}", mech.ty, purpose));
    }
    if !obj.is_key() {
        return Err(Error::new(CKR_KEY_TYPE_INCONSISTENT, "object is not a key"));
    }
    if !obj.flag(purpose.attribute()) {
        return Err(err!(
            CKR_KEY_FUNCTION_NOT_PERMITTED,
            "key does not allow {:?} (usage attribute is false)",
            purpose
        ));
    }
    if let Some(allowed) = obj.get(CKA_ALLOWED_MECHANISMS).filter(|a| !a.is_empty()) {
        let ok = allowed
            .chunks_exact(std::mem::size_of::<CK_MECHANISM_TYPE>())
            .any(|c| crate::object::ulong(c) == Some(mech.ty));
        if !ok {
            return Err(err!(
                CKR_MECHANISM_INVALID,
                "mechanism 0x{:x} not in the key's CKA_ALLOWED_MECHANISMS",
                mech.ty
            ));
        }
    }
    // Dates, state and version rules: `Token::check_key` -> `kms::check_use`.
    Ok(())
}

/// C_UnwrapKey / C_DeriveKey with a CKA_ALWAYS_AUTHENTICATE key: spends
/// the session's context-specific login (see `Session::context_login`), or
/// refuses. Any unwrap or derive spends it.
pub(crate) fn check_context_login(s: &Session, key: &Object) -> Result<()> {
    let authorized = s.context_login.replace(false);
    if key.flag(CKA_ALWAYS_AUTHENTICATE) && !authorized {
        return Err(super::session::auth_due());
    }
    Ok(())
}

pub(super) fn secret_of(m: &KeyMaterial) -> Result<&crate::crypto::SecretKey> {
    match m {
        KeyMaterial::Secret(k) => Ok(k),
        #[allow(unreachable_patterns)]
        _ => Err(Error::new(CKR_KEY_TYPE_INCONSISTENT, "mechanism needs a secret key")),
    }
}

fn is_aes_mech(ty: CK_MECHANISM_TYPE) -> bool {
    matches!(
        ty,
        CKM_AES_ECB
            | CKM_AES_CBC
            | CKM_AES_CBC_PAD
            | CKM_AES_CTR
            | CKM_AES_GCM
            | CKM_AES_KEY_WRAP
            | CKM_AES_KEY_WRAP_KWP
            | CKM_AES_KEY_WRAP_PAD
    )
}

fn require_key_type(obj: &Object, kt: CK_KEY_TYPE) -> Result<()> {
    if obj.key_type != Some(kt) {
        return Err(err!(CKR_KEY_TYPE_INCONSISTENT, "mechanism needs key type {kt}, key has {:?}", obj.key_type));
    }
    Ok(())
}

/// 3DES mechanisms take CKK_DES2 and CKK_DES3 keys (single DES: none).
fn require_des3(obj: &Object) -> Result<()> {
    if !mechanism::des::key_type_fits(obj.key_type) {
        return Err(err!(
            CKR_KEY_TYPE_INCONSISTENT,
            "3DES needs a CKK_DES2 or CKK_DES3 key, key has {:?}",
            obj.key_type
        ));
    }
    Ok(())
}

/// Builds the cipher for `mech` on `obj`.
fn new_cipher(token: &Token, obj: &Object, mech: &Mechanism, encrypt: bool) -> Result<Box<dyn mechanism::Cipher>> {
    if mech.ty == crate::kms::attrs::CKM_KEYWARD_AES_GCM {
        return crate::token::lifecycle::envelope::cipher(token, obj, mech, encrypt);
    }
    let mat = token.material(obj)?;
    if is_aes_mech(mech.ty) {
        require_key_type(obj, CKK_AES)?;
        return mechanism::aes::cipher(mech, secret_of(&mat)?, encrypt);
    }
    if mech.ty == CKM_CHACHA20_POLY1305 {
        require_key_type(obj, CKK_CHACHA20)?;
        return mechanism::chacha::cipher(mech, secret_of(&mat)?, encrypt);
    }
    if mechanism::des::is_des3(mech.ty) {
        require_des3(obj)?;
        return mechanism::des::cipher(mech, secret_of(&mat)?, encrypt);
    }
    super::ops::asymmetric_cipher(obj, &mat, mech, encrypt)
}

/// Builds the sign/verify operation for `mech` on `obj`: AES-CMAC on AES
/// keys here, HMAC, RSA and EC in `token::asym`.
fn new_signer(token: &Token, obj: &Object, mech: &Mechanism, sign: bool) -> Result<Box<dyn mechanism::Signer>> {
    let mat = token.material(obj)?;
    if mechanism::cmac::is_cmac(mech.ty) {
        require_key_type(obj, CKK_AES)?;
        let k = secret_of(&mat)?;
        return if sign { mechanism::cmac::signer(mech, k) } else { mechanism::cmac::verifier(mech, k) };
    }
    // AES-MAC (CBC-MAC) on AES keys.
    if mechanism::aes_mac::is_aes_mac(mech.ty) {
        require_key_type(obj, CKK_AES)?;
        let k = secret_of(&mat)?;
        return if sign { mechanism::aes_mac::signer(mech, k) } else { mechanism::aes_mac::verifier(mech, k) };
    }
    asymmetric_signer(obj, &mat, mech, sign)
}

impl Token {
    /// The row's integrity (`token::integrity`), `check_key_use`, and the
    /// lifecycle rules (state, primary version, CKA_START_DATE/CKA_END_DATE
    /// with the token's policy; src/kms). A copy (`CKA_KEYWARD_COPY_OF`)
    /// obeys the lifecycle of the token version it was copied from, as this
    /// process last saw it (at most `store.refresh_ms` old): disabled,
    /// retired or gone there, refused here.
    pub fn check_key(&self, obj: &Object, mech: &Mechanism, purpose: Purpose) -> Result<()> {
        // An edited or unchecked row decides nothing (token::integrity).
        self.require_intact(obj)?;
        // A named user's key: the grant must allow this use (`grants.rs`).
        if let Some(id) = obj.seal_id() {
            self.check_grant(obj, id, purpose)?;
        }
        check_key_use(obj, mech, purpose)?;
        self.key_policy().check_use(obj, mech, purpose.attribute())?;
        let Some(src) = crate::kms::attrs::copy_source(obj) else {
            return crate::kms::check_use(obj, purpose, &self.kms.config);
        };
        self.refresh_if_stale()?;
        let source = self.cached_object(src).map_err(|_| {
            err!(CKR_KEY_HANDLE_INVALID, "the key version this copy follows (handle {src}) no longer exists")
        })?;
        self.require_intact(&source)?;
        crate::kms::check_use(&source, purpose, &self.kms.config)?;
        crate::kms::check_dates(obj, purpose, &self.kms.config)
    }

    pub fn cipher_init(&self, s: &mut Session, mech: &Mechanism, key: Handle, encrypt: bool) -> Result<()> {
        let active = if encrypt { s.encrypt.is_some() } else { s.decrypt.is_some() };
        if active {
            return Err(Error::new(CKR_OPERATION_ACTIVE, "an operation of this kind is active"));
        }
        let obj = self.object(key, CKR_KEY_HANDLE_INVALID)?;
        self.check_key(&obj, mech, if encrypt { Purpose::Encrypt } else { Purpose::Decrypt })?;
        let cipher = new_cipher(self, &obj, mech, encrypt)?;
        s.context_login.set(false);
        let needs_auth = !encrypt && obj.flag(CKA_ALWAYS_AUTHENTICATE);
        let op = CipherOp { cipher, mechanism: mech.ty, key: obj, multipart: false, needs_auth };
        if encrypt {
            s.encrypt = Some(op);
        } else {
            s.decrypt = Some(op);
        }
        Ok(())
    }

    /// C_MessageEncryptInit / C_MessageDecryptInit (PKCS#11 3.0): the same
    /// checks as `cipher_init` (usage flag, CKA_ALLOWED_MECHANISMS,
    /// lifecycle, policy), for a mechanism with a message-based form
    /// (CKF_MESSAGE_ENCRYPT/DECRYPT in the registry). The Init parameter is
    /// not used: every message carries its own.
    pub fn message_init(&self, s: &mut Session, mech: &Mechanism, key: Handle, encrypt: bool) -> Result<()> {
        let active = if encrypt { s.message_encrypt.is_some() } else { s.message_decrypt.is_some() };
        if active {
            return Err(Error::new(CKR_OPERATION_ACTIVE, "a message-based operation of this kind is active"));
        }
        let flag = if encrypt { CKF_MESSAGE_ENCRYPT } else { CKF_MESSAGE_DECRYPT };
        if !registry::lookup(mech.ty).is_some_and(|e| e.supports(flag)) {
            return Err(err!(CKR_MECHANISM_INVALID, "mechanism 0x{:x} has no message-based form", mech.ty));
        }
        let obj = self.object(key, CKR_KEY_HANDLE_INVALID)?;
        self.check_key(&obj, mech, if encrypt { Purpose::Encrypt } else { Purpose::Decrypt })?;
        require_key_type(&obj, if mech.ty == CKM_CHACHA20_POLY1305 { CKK_CHACHA20 } else { CKK_AES })?;
        // One context-specific login cannot authorize any number of messages.
        if obj.flag(CKA_ALWAYS_AUTHENTICATE) {
            return Err(Error::new(
                CKR_KEY_FUNCTION_NOT_PERMITTED,
                "a CKA_ALWAYS_AUTHENTICATE key is not used by the message-based API",
            ));
        }
        let mat = self.material(&obj)?;
        let caller_iv = self.key_policy().allow_caller_message_iv;
        let cipher = mechanism::message::MessageCipher::new(mech.ty, secret_of(&mat)?, encrypt, caller_iv)?;
        s.context_login.set(false);
        let op = MessageOp { cipher, mechanism: mech.ty, key: obj };
        if encrypt {
            s.message_encrypt = Some(op);
        } else {
            s.message_decrypt = Some(op);
        }
        Ok(())
    }

    pub fn sign_init(&self, s: &mut Session, mech: &Mechanism, key: Handle, sign: bool) -> Result<()> {
        let active = if sign { s.sign.is_some() } else { s.verify.is_some() };
        if active {
            return Err(Error::new(CKR_OPERATION_ACTIVE, "an operation of this kind is active"));
        }
        let obj = self.object(key, CKR_KEY_HANDLE_INVALID)?;
        self.check_key(&obj, mech, if sign { Purpose::Sign } else { Purpose::Verify })?;
        let signer = new_signer(self, &obj, mech, sign)?;
        s.context_login.set(false);
        let needs_auth = sign && obj.flag(CKA_ALWAYS_AUTHENTICATE);
        let op = SignOp { signer, mechanism: mech.ty, key: obj, multipart: false, needs_auth, signature: None };
        if sign {
            s.sign = Some(op);
        } else {
            s.verify = Some(op);
        }
        Ok(())
    }

    pub fn digest_key(&self, s: &mut Session, key: Handle) -> Result<()> {
        let obj = self.object(key, CKR_KEY_HANDLE_INVALID)?;
        if obj.class != CKO_SECRET_KEY {
            return Err(Error::new(CKR_KEY_INDIGESTIBLE, "only secret keys can be digested"));
        }
        if !obj.secrets_readable() {
            return Err(Error::new(CKR_KEY_INDIGESTIBLE, "a sensitive or unextractable key is not digested"));
        }
        let mat = self.material(&obj)?;
        let k = secret_of(&mat)?;
        s.digest_update_secret(k.bytes())
    }

    pub fn generate_key(&self, s: &Session, mech: &Mechanism, t: &[Attr]) -> Result<Handle> {
        if !matches!(mech.param, MechParam::None) {
            return Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "key generation takes no parameter"));
        }
        // DSA/DH domain parameters (token::legacy).
        if let Some(h) = super::legacy::generate_params(self, s, mech, t)? {
            return Ok(h);
        }
        // CKA_KEYWARD_ROTATE: a new version of an existing key (src/kms).
        if let Some(h) = self.kms_rotate_generate(s, mech, t)? {
            return Ok(h);
        }
        let (key_type, sizes): (CK_KEY_TYPE, std::ops::RangeInclusive<usize>) = match mech.ty {
            CKM_AES_KEY_GEN => (CKK_AES, 16..=32),
            CKM_CHACHA20_KEY_GEN => (CKK_CHACHA20, 32..=32),
            // DES2/DES3: a fixed length, CKA_VALUE_LEN optional.
            m if let Some((kt, len)) = mechanism::des::keygen(m) => (kt, len..=len),
            // The PKCS#11 3.0 HMAC key generations: CKA_VALUE_LEN bytes,
            // as many as a generic secret may have.
            m if let Some(kt) = mechanism::hmac::keygen_key_type(m) => (kt, 1..=512),
            // CKK_HKDF keys (mechanism::kdf::hkdf), as long as generic secrets.
            CKM_HKDF_KEY_GEN => (CKK_HKDF, 1..=512),
            CKM_GENERIC_SECRET_KEY_GEN => {
                let kt = t
                    .iter()
                    .find(|a| a.ty == CKA_KEY_TYPE)
                    .and_then(|a| crate::object::ulong(&a.value))
                    .unwrap_or(CKK_GENERIC_SECRET);
                (kt, 1..=512)
            }
            _ => return Err(err!(CKR_MECHANISM_INVALID, "mechanism 0x{:x} does not generate keys", mech.ty)),
        };
        if key_type != CKK_GENERIC_SECRET
            && mech.ty == CKM_GENERIC_SECRET_KEY_GEN
            && !crate::object::rules::is_secret_key_type(key_type)
        {
            return Err(Error::new(CKR_TEMPLATE_INCONSISTENT, "generic secret generation makes secret keys only"));
        }
        if mech.ty == CKM_GENERIC_SECRET_KEY_GEN && matches!(key_type, CKK_DES | CKK_DES2 | CKK_DES3) {
            // Their values have rules (parity, no weak parts): CKM_DES2/3_KEY_GEN.
            return Err(Error::new(
                CKR_TEMPLATE_INCONSISTENT,
                "DES keys are made by CKM_DES2_KEY_GEN/CKM_DES3_KEY_GEN",
            ));
        }
        let implied = [Attr::ulong(CKA_CLASS, CKO_SECRET_KEY), Attr::ulong(CKA_KEY_TYPE, key_type)];
        let mut n = template::build(t, &implied, Origin::Generate(mech.ty))?;
        self.key_policy().settle_usage(&mut [(&mut n, t)]);
        let des = mechanism::des::keygen(mech.ty).is_some();
        let len = match n.ulong(CKA_VALUE_LEN) {
            Some(l) => l as usize,
            None if des => *sizes.start(),
            None => return Err(Error::new(CKR_TEMPLATE_INCOMPLETE, "CKA_VALUE_LEN is required")),
        };
        if des && !sizes.contains(&len) {
            return Err(err!(CKR_TEMPLATE_INCONSISTENT, "CKA_VALUE_LEN {len} does not fit the DES key type"));
        }
        if !sizes.contains(&len) || (key_type == CKK_AES && !matches!(len, 16 | 24 | 32)) {
            return Err(err!(CKR_KEY_SIZE_RANGE, "key length {len} bytes not supported"));
        }
        let value = if des {
            // Odd parity, no weak or repeated component (`crypto::des`).
            mechanism::des::generate_value(len)?
        } else {
            crate::crypto::random_secret(len).map_err(|_| Error::general("rng failed"))?
        };
        if des {
            n.attrs.insert_ulong(CKA_VALUE_LEN, len as CK_ULONG);
        }
        n.set_secret(CKA_VALUE, value);
        self.insert(s, n)
    }

    pub fn generate_key_pair(
        &self,
        s: &Session,
        mech: &Mechanism,
        public_t: &[Attr],
        private_t: &[Attr],
    ) -> Result<(Handle, Handle)> {
        // CKA_KEYWARD_ROTATE: a new version of an existing key pair (src/kms).
        if let Some(hs) = self.kms_rotate_generate_pair(s, mech, public_t, private_t)? {
            return Ok(hs);
        }
        let (pubn, privn) = generate_pair(self, mech, public_t, private_t)?;
        let pub_h = self.insert(s, pubn)?;
        match self.insert(s, privn) {
            Ok(priv_h) => Ok((pub_h, priv_h)),
            Err(e) => {
                let _ = self.destroy_object(s, pub_h);
                Err(e)
            }
        }
    }

    /// The bytes a wrap exports for `key`: a secret key's value, or a
    /// private key as PKCS#8.
    fn wrappable_bytes(&self, key: &Object) -> Result<Zeroizing<Vec<u8>>> {
        let mat = self.material(key)?;
        match &*mat {
            KeyMaterial::Secret(k) => Ok(Zeroizing::new(k.bytes().to_vec())),
            #[allow(unreachable_patterns)]
            m => private_key_pkcs8(m),
        }
    }

    pub fn wrap_key(
        &self,
        _s: &Session,
        mech: &Mechanism,
        wrapping: Handle,
        key: Handle,
        out: Option<&mut [u8]>,
    ) -> Result<usize> {
        let wk = self.object(wrapping, CKR_WRAPPING_KEY_HANDLE_INVALID)?;
        self.check_key(&wk, mech, Purpose::Wrap)?;
        let k = self.object(key, CKR_KEY_HANDLE_INVALID)?;
        self.require_intact(&k)?;
        if !k.is_key() || k.class == CKO_PUBLIC_KEY {
            return Err(Error::new(CKR_KEY_NOT_WRAPPABLE, "only secret and private keys are wrapped"));
        }
        if !k.flag(CKA_EXTRACTABLE) {
            return Err(Error::new(CKR_KEY_UNEXTRACTABLE, "key is not extractable"));
        }
        if k.flag(CKA_WRAP_WITH_TRUSTED) && !wk.flag(CKA_TRUSTED) {
            return Err(Error::new(CKR_KEY_NOT_WRAPPABLE, "key may only be wrapped by a trusted key"));
        }
        if let Some(wt) = wk.get(CKA_WRAP_TEMPLATE).filter(|v| !v.is_empty()) {
            let wt = decode_template(wt).ok_or_else(|| Error::device("corrupt CKA_WRAP_TEMPLATE"))?;
            if !k.matches(&wt) {
                return Err(Error::new(
                    CKR_KEY_NOT_WRAPPABLE,
                    "key does not match the wrapping key's CKA_WRAP_TEMPLATE",
                ));
            }
        }
        let bytes = self.wrappable_bytes(&k)?;
        let mat = self.material(&wk)?;
        let wrapped = if is_aes_mech(mech.ty) {
            require_key_type(&wk, CKK_AES)
                .map_err(|e| Error::new(CKR_WRAPPING_KEY_TYPE_INCONSISTENT, e.reason().to_string()))?;
            mechanism::aes::wrap(mech, secret_of(&mat)?, &bytes)?
        } else if mechanism::des::is_des3(mech.ty) {
            require_des3(&wk).map_err(|e| Error::new(CKR_WRAPPING_KEY_TYPE_INCONSISTENT, e.reason().to_string()))?;
            mechanism::des::wrap(mech, secret_of(&mat)?, &bytes)?
        } else {
            asymmetric_wrap(&wk, &mat, mech, &bytes)?
        };
        match out {
            None => Ok(wrapped.len()),
            Some(buf) if buf.len() < wrapped.len() => Err(Error::buffer_too_small(wrapped.len())),
            Some(buf) => {
                buf[..wrapped.len()].copy_from_slice(&wrapped);
                Ok(wrapped.len())
            }
        }
    }

    pub fn unwrap_key(
        &self,
        s: &Session,
        mech: &Mechanism,
        unwrapping: Handle,
        wrapped: &[u8],
        t: &[Attr],
    ) -> Result<Handle> {
        let uk = self.object(unwrapping, CKR_UNWRAPPING_KEY_HANDLE_INVALID)?;
        self.check_key(&uk, mech, Purpose::Unwrap)?;
        check_context_login(s, &uk)?;
        let implied = match uk.get(CKA_UNWRAP_TEMPLATE).filter(|v| !v.is_empty()) {
            Some(v) => decode_template(v).ok_or_else(|| Error::device("corrupt CKA_UNWRAP_TEMPLATE"))?,
            None => Vec::new(),
        };
        let mut n = template::build(t, &implied, Origin::Unwrap)?;
        let given: Vec<Attr> = t.iter().chain(&implied).cloned().collect();
        self.key_policy().settle_usage(&mut [(&mut n, &given)]);
        let mat = self.material(&uk)?;
        // The length asked for goes to the mechanism, which must answer
        // alike for every ciphertext (RSA PKCS#1 v1.5: no padding oracle).
        let want_len = match n.kind {
            crate::object::rules::SECRET => n.ulong(CKA_VALUE_LEN).map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
            _ => None,
        };
        let plain = if is_aes_mech(mech.ty) {
            require_key_type(&uk, CKK_AES)
                .map_err(|e| Error::new(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, e.reason().to_string()))?;
            mechanism::aes::unwrap(mech, secret_of(&mat)?, wrapped)?
        } else if mech.ty == CKM_CHACHA20_POLY1305 {
            require_key_type(&uk, CKK_CHACHA20)
                .map_err(|e| Error::new(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, e.reason().to_string()))?;
            mechanism::chacha::unwrap(mech, secret_of(&mat)?, wrapped)?
        } else if mechanism::des::is_des3(mech.ty) {
            require_des3(&uk).map_err(|e| Error::new(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, e.reason().to_string()))?;
            mechanism::des::unwrap(mech, secret_of(&mat)?, wrapped, want_len)?
        } else {
            asymmetric_unwrap(&uk, &mat, mech, wrapped, want_len)?
        };
        match n.kind {
            crate::object::rules::SECRET => {
                if let Some(l) = n.ulong(CKA_VALUE_LEN)
                    && l as usize != plain.len()
                {
                    return Err(Error::new(
                        CKR_TEMPLATE_INCONSISTENT,
                        "CKA_VALUE_LEN does not match the unwrapped key",
                    ));
                }
                template::check_secret_value(n.ulong(CKA_KEY_TYPE).unwrap_or(CKK_GENERIC_SECRET), &plain)
                    .and_then(|()| self.key_policy().check_secret_value(&plain))
                    .map_err(|e| Error::new(CKR_WRAPPED_KEY_INVALID, e.reason().to_string()))?;
                n.set_secret(CKA_VALUE, plain);
            }
            k if k & crate::object::rules::PRIV != 0 => fill_private_from_pkcs8(&mut n, &plain)?,
            _ => return Err(Error::new(CKR_TEMPLATE_INCONSISTENT, "only secret and private keys can be unwrapped")),
        }
        validate_import(&mut n)?;
        self.insert(s, n)
    }

    pub fn derive_key(&self, s: &Session, mech: &Mechanism, base: Handle, t: &[Attr]) -> Result<Handle> {
        let bk = self.object(base, CKR_KEY_HANDLE_INVALID)?;
        self.check_key(&bk, mech, Purpose::Derive)?;
        check_context_login(s, &bk)?;
        let mat = self.material(&bk)?;
        let implied = match bk.get(CKA_DERIVE_TEMPLATE).filter(|v| !v.is_empty()) {
            Some(v) => decode_template(v).ok_or_else(|| Error::device("corrupt CKA_DERIVE_TEMPLATE"))?,
            None => Vec::new(),
        };
        let mut with_class: Vec<Attr> = t.to_vec();
        if !with_class.iter().any(|a| a.ty == CKA_CLASS) {
            with_class.push(Attr::ulong(CKA_CLASS, CKO_SECRET_KEY));
        }
        let mut n = template::build(&with_class, &implied, Origin::Derive(mech.ty))?;
        let given: Vec<Attr> = with_class.iter().chain(&implied).cloned().collect();
        self.key_policy().settle_usage(&mut [(&mut n, &given)]);
        if n.kind != crate::object::rules::SECRET {
            return Err(Error::new(CKR_TEMPLATE_INCONSISTENT, "derivation makes secret keys"));
        }
        let kt = n.ulong(CKA_KEY_TYPE).unwrap_or(CKK_GENERIC_SECRET);
        // DES keys have one length each (CKA_VALUE_LEN optional).
        let des_len = match kt {
            CKK_DES => Some(8),
            CKK_DES2 => Some(16),
            CKK_DES3 => Some(24),
            _ => None,
        };
        // The length the template fixes (an AES key without one is 256
        // bits, a DES key its own): a KDF derives exactly that; a raw
        // secret is cut to it.
        let want = match (n.ulong(CKA_VALUE_LEN), kt) {
            (Some(l), _) => Some(l as usize),
            (None, CKK_AES) => Some(32),
            (None, _) => des_len,
        };
        let secret = asymmetric_derive(&bk, &mat, mech, want)?;
        let len = match (n.ulong(CKA_VALUE_LEN), kt) {
            (Some(l), _) => l as usize,
            (None, CKK_AES) => 32.min(secret.len()),
            (None, _) if let Some(l) = des_len => l,
            (None, _) => secret.len(),
        };
        if len == 0
            || len > secret.len()
            || (kt == CKK_AES && !matches!(len, 16 | 24 | 32))
            || des_len.is_some_and(|l| l != len)
        {
            return Err(err!(
                CKR_KEY_SIZE_RANGE,
                "cannot derive a key of {len} bytes from a {}-byte secret",
                secret.len()
            ));
        }
        // A derived key is sensitive/extractable as asked, but was never
        // "always sensitive": its value came from a computation on the base.
        n.set(CKA_ALWAYS_SENSITIVE, &[(bk.flag(CKA_ALWAYS_SENSITIVE) && n.flag(CKA_SENSITIVE)) as u8]);
        n.set(CKA_NEVER_EXTRACTABLE, &[(bk.flag(CKA_NEVER_EXTRACTABLE) && !n.flag(CKA_EXTRACTABLE)) as u8]);
        n.set_secret(CKA_VALUE, Zeroizing::new(secret[..len].to_vec()));
        self.insert(s, n)
    }
}

// ---- the asymmetric seam (see asym.rs) --------------------------------------

/// Builds engine material for a non-secret key object.
pub fn asymmetric_material(obj: &Object, unseal: &crate::object::Unseal<'_>) -> Result<KeyMaterial> {
    super::asym::material(obj, unseal)
}

fn asymmetric_cipher(
    _obj: &Object,
    m: &KeyMaterial,
    mech: &Mechanism,
    encrypt: bool,
) -> Result<Box<dyn mechanism::Cipher>> {
    super::asym::cipher(m, mech, encrypt)
}

fn asymmetric_signer(
    obj: &Object,
    m: &KeyMaterial,
    mech: &Mechanism,
    sign: bool,
) -> Result<Box<dyn mechanism::Signer>> {
    super::asym::signer(obj, m, mech, sign)
}

fn asymmetric_wrap(_obj: &Object, m: &KeyMaterial, mech: &Mechanism, bytes: &[u8]) -> Result<Vec<u8>> {
    super::asym::wrap(m, mech, bytes)
}

fn asymmetric_unwrap(
    _obj: &Object,
    m: &KeyMaterial,
    mech: &Mechanism,
    w: &[u8],
    want_len: Option<usize>,
) -> Result<Zeroizing<Vec<u8>>> {
    super::asym::unwrap(m, mech, w, want_len)
}

fn asymmetric_derive(
    _obj: &Object,
    m: &KeyMaterial,
    mech: &Mechanism,
    want: Option<usize>,
) -> Result<Zeroizing<Vec<u8>>> {
    super::asym::derive(m, mech, want)
}

fn private_key_pkcs8(m: &KeyMaterial) -> Result<Zeroizing<Vec<u8>>> {
    super::asym::private_pkcs8(m)
}

fn fill_private_from_pkcs8(n: &mut NewObject, der: &[u8]) -> Result<()> {
    super::asym::fill_from_pkcs8(n, der)
}

/// The two halves of a generated pair are one managed key: they share the
/// private half's identity.
fn generate_pair(t: &Token, mech: &Mechanism, pub_t: &[Attr], priv_t: &[Attr]) -> Result<(NewObject, NewObject)> {
    // Every new pair (C_GenerateKeyPair, rotation) passes the policy first.
    t.key_policy().check_key_pair_generation(mech.ty)?;
    let (mut pubn, privn) = super::asym::generate_pair(t, mech, pub_t, priv_t)?;
    pair_up(&mut pubn, &privn);
    Ok((pubn, privn))
}

/// Gives `public` the key identity of `private` (one managed key).
pub(crate) fn pair_up(public: &mut NewObject, private: &NewObject) {
    use crate::kms::attrs::CKA_KEYWARD_KEY_ID;
    if let Some(id) = private.attrs.get(CKA_KEYWARD_KEY_ID).map(<[u8]>::to_vec) {
        public.attrs.insert(CKA_KEYWARD_KEY_ID, &id);
    }
}

/// Generates a key pair's objects without storing them (kms rotation).
pub(crate) fn new_pair(t: &Token, mech: &Mechanism, pub_t: &[Attr], priv_t: &[Attr]) -> Result<(NewObject, NewObject)> {
    generate_pair(t, mech, pub_t, priv_t)
}

/// Import validation of a new key object (C_CreateObject, C_UnwrapKey).
pub fn validate_import(n: &mut NewObject) -> Result<()> {
    super::asym::validate_import(n)
}

#[allow(dead_code)]
fn _keep(_: Arc<()>) {}
