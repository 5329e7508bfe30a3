//! Login and PINs: verifying a PIN (each guess paid for in the store before
//! it is checked, lockout after `max_pin_attempts`), the per-process cache
//! of PIN-derived keys, C_Login/C_Logout (and the context-specific login),
//! C_InitToken, C_InitPIN, C_SetPIN, ending a login another process made
//! stale, and the login epochs that invalidate private handles at logout.
//!
//! Owns: the login state (`Login`: role, master key, proof) and the PIN
//! rules. Must not touch: how the master key is wrapped (store::seal and
//! `kek.rs`), objects beyond forgetting their material at logout.
#![allow(clippy::unnecessary_cast)] // CK_ULONG is not u64 on every platform

use super::session::Session;
use super::{Token, lock_err, new_uid};
use crate::ck::*;
use crate::err;
use crate::error::{Error, Result};
use crate::object::Object;
use crate::store::seal::{Kek, MasterKey};
use crate::store::{Role, WrappedKey};
use crate::types::*;
use std::sync::atomic::Ordering;

#[derive(Default)]
pub(super) struct Login {
    pub(super) role: Option<Role>,
    pub(super) master: Option<MasterKey>,
    /// What the login was checked against: the token's serial and the
    /// role's wrapped master key. Another process re-initializing the token
    /// or replacing the PIN changes them, which ends this login.
    pub(super) proof: Option<(String, Vec<u8>)>,
    /// An SO login: the subkey of the SO PIN key that seals the SO's
    /// principal secret (`principal.rs`: managing named users).
    pub(super) so_subkey: Option<zeroize::Zeroizing<[u8; 32]>>,
    /// A named user's login (`principal.rs`): no master key.
    pub(super) principal: Option<super::principal::PrincipalLogin>,
    /// A named user's keys (`grants.rs`).
    pub(super) named: Option<std::sync::Arc<super::grants::NamedKeys>>,
    /// The grants the login holds, with their data keys (`grants.rs`).
    pub(super) grants: super::grants::Grants,
    /// Counts the grants this login took for keys it made (`hold_new_grant`),
    /// and which: a reload that read the store before one of them committed
    /// keeps it (`install_grants`).
    pub(super) grant_epoch: u64,
    pub(super) fresh_grants: Vec<(u64, Vec<u8>)>,
    /// Grant reloads in flight (`grants.rs`).
    pub(super) reloading: u32,
    /// When (Unix seconds) the login last showed a TOTP code: a login of a
    /// principal with a second factor (`principal.rs`); `None`: none.
    pub(super) factor_at: Option<i64>,
    /// The default user's login on a token whose default user holds grants
    /// (principal 1, `grants.rs`): the authorization revision its grants
    /// were read at.
    pub(super) grants_rev: u64,
}

/// The serial and the wrapped master key of `role` in the token row.
fn login_proof(row: &crate::store::TokenRow, role: Role) -> Option<(String, Vec<u8>)> {
    let w = match role {
        Role::So => row.so.as_ref(),
        Role::User => row.user.as_ref(),
    }?;
    Some((row.serial.clone(), w.blob.clone()))
}

/// A PIN-derived key kept for the life of the process so that repeated
/// logins do not pay PBKDF2 again; found by a keyed fingerprint of the PIN.
pub(super) struct KekCacheEntry {
    fingerprint: [u8; 32],
    kek: Kek,
}

impl Token {
    pub fn role(&self) -> Result<Option<Role>> {
        Ok(self.login.read().map_err(lock_err)?.role)
    }

    pub(crate) fn is_user(&self) -> bool {
        self.login.read().map(|l| l.role == Some(Role::User)).unwrap_or(false)
    }

    pub(super) fn check_pin_len(&self, pin: &[u8]) -> Result<()> {
        if pin.len() < self.policy.min_pin_len || pin.len() > self.policy.max_pin_len {
            return Err(err!(
                CKR_PIN_LEN_RANGE,
                "PIN length {} outside {}..={}",
                pin.len(),
                self.policy.min_pin_len,
                self.policy.max_pin_len
            ));
        }
        Ok(())
    }

    /// The key that opens `wrapped` with `pin`: the PIN key from the
    /// process cache (PINs that opened the master key before), else
    /// PBKDF2, combined with the external KEK when the blob needs one (its
    /// absence is an error before any PIN work, see `kek.rs`).
    pub(super) fn kek(&self, pin: &[u8], wrapped: &WrappedKey) -> Result<Kek> {
        self.kek_for(wrapped)?;
        let (salt, iterations) = (&wrapped.salt[..], wrapped.iterations);
        let fp = self.kek_fingerprint(pin, salt, iterations);
        let pin_key = match self.cached_kek(&fp)? {
            Some(k) => k,
            None => Kek::derive(pin, salt, iterations)?,
        };
        self.mix_kek(pin_key, wrapped)
    }

    fn kek_fingerprint(&self, pin: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
        crate::crypto::hmac_sha256(
            &self.fingerprint_key,
            &[&iterations.to_le_bytes(), &(salt.len() as u64).to_le_bytes(), salt, pin],
        )
    }

    /// The KEK of a PIN this process has already seen open the master key
    /// (only successful PINs are remembered, so a wrong guess never takes
    /// this path and always pays the KDF and an attempt).
    fn cached_kek(&self, fp: &[u8; 32]) -> Result<Option<Kek>> {
        Ok(self.kek_cache.lock().map_err(lock_err)?.iter().find(|e| &e.fingerprint == fp).map(|e| e.kek.clone()))
    }

    fn remember_kek(&self, fp: [u8; 32], kek: Kek) -> Result<()> {
        let mut cache = self.kek_cache.lock().map_err(lock_err)?;
        if cache.len() >= 16 {
            cache.remove(0);
        }
        cache.push(KekCacheEntry { fingerprint: fp, kek });
        Ok(())
    }

    /// Checks `pin` for `role` against the store, counting failures; returns
    /// the master key and the PIN key (without the external KEK).
    ///
    /// A guess is paid for before it is checked: the attempt is reserved in
    /// the same store transaction that reads the failure counter (refused
    /// once the limit is reached), the KDF runs, and a success resets the
    /// counter. N concurrent guesses, from threads or processes, never check
    /// more than `max_pin_attempts` wrong PINs. A PIN this process has seen
    /// succeed opens the master key from the cache without a reservation.
    ///
    /// `second_factor`: a TOTP code follows the PIN (checked by the caller):
    /// the attempt is always reserved, and stays counted until the caller
    /// resets it once the code checks too.
    pub(super) fn verify_pin(&self, role: Role, pin: &[u8], second_factor: bool) -> Result<(MasterKey, Kek)> {
        let row = self.store.token()?.ok_or_else(|| Error::new(CKR_TOKEN_NOT_RECOGNIZED, "token not initialized"))?;
        let (wrapped, failures) = match role {
            Role::So => (row.so.as_ref(), row.so_failures),
            Role::User => (row.user.as_ref(), row.user_failures),
        };
        let wrapped =
            wrapped.ok_or_else(|| Error::new(CKR_USER_PIN_NOT_INITIALIZED, "the user PIN is not initialized"))?;
        let max = self.policy.max_pin_attempts;
        let locked = |n: u32| Error::new(CKR_PIN_LOCKED, format!("{role:?} PIN locked after {n} failed attempts"));
        if failures >= max {
            return Err(locked(failures));
        }
        // A KEK the blob needs but this process lacks: refused before any
        // PIN work, and not counted.
        self.kek_for(wrapped)?;
        let fp = self.kek_fingerprint(pin, &wrapped.salt, wrapped.iterations);
        let cached = |failures: u32| -> Result<Option<(MasterKey, Kek)>> {
            if let Some(pin_key) = self.cached_kek(&fp)?
                && let Some(m) = self.mix_kek(pin_key.clone(), wrapped)?.unwrap(&wrapped.blob)
            {
                if failures > 0 {
                    self.store.pin_ok(role)?;
                }
                return Ok(Some((m, pin_key)));
            }
            Ok(None)
        };
        if !second_factor && let Some(hit) = cached(failures)? {
            return Ok(hit);
        }
        // One slow check at a time in this process; a login that waited
        // may find the key the one before it cached.
        let _one = self.pin_check.lock().map_err(lock_err)?;
        // (1: the counter may have moved meanwhile; pin_ok writes only when it is not 0.)
        if !second_factor && let Some(hit) = cached(1)? {
            return Ok(hit);
        }
        let n = match self.store.reserve_pin_attempt(role, max)? {
            Ok(n) => n,
            Err(now) => return Err(locked(now)),
        };
        let pin_key = Kek::derive(pin, &wrapped.salt, wrapped.iterations)?;
        let kek = self.mix_kek(pin_key.clone(), wrapped)?;
        match kek.unwrap(&wrapped.blob) {
            Some(m) if second_factor => Ok((m, pin_key)),
            Some(m) => {
                self.store.pin_ok(role)?;
                self.remember_kek(fp, pin_key.clone())?;
                Ok((m, pin_key))
            }
            None if n >= max => {
                Err(Error::new(CKR_PIN_LOCKED, format!("{role:?} PIN now locked after {n} failed attempts")))
            }
            None => Err(Error::new(CKR_PIN_INCORRECT, format!("wrong {role:?} PIN ({n} failed attempts)"))),
        }
    }

    /// C_LoginUser: `name` None (C_Login) or `default` is the default user
    /// (the slot's mapped user for a mapped slot), `so` or None for the
    /// SO, anything else a named user.
    pub fn login_as(&self, user: UserType, pin: &[u8], name: Option<&str>, has_ro_sessions: bool) -> Result<()> {
        super::os_access::check(usize::try_from(self.slot).unwrap_or(usize::MAX), &self.os_users, &self.os_groups)?;
        let name = name.filter(|n| *n != "default" || self.mapped_user.is_some());
        match (user, name, self.mapped_user.clone()) {
            (UserType::User, None, Some(mapped)) => self.login_named(&mapped, pin),
            (UserType::User, Some(n), Some(mapped)) if n == mapped => self.login_named(&mapped, pin),
            (UserType::User, Some(n), Some(_)) => {
                Err(err!(CKR_ARGUMENTS_BAD, "this slot is mapped to another user than {n:?}"))
            }
            (UserType::User, Some(n), None) => self.login_named(n, pin),
            (UserType::So, _, Some(_)) => {
                Err(Error::new(CKR_USER_TYPE_INVALID, "the SO logs in on the token's own slot, not a mapped one"))
            }
            (UserType::So, Some(n), None) if n != "so" => {
                Err(err!(CKR_ARGUMENTS_BAD, "the SO's user name is \"so\", not {n:?}"))
            }
            _ => self.login(user, pin, has_ro_sessions),
        }
    }

    pub fn login(&self, user: UserType, pin: &[u8], has_ro_sessions: bool) -> Result<()> {
        let role = match user {
            UserType::So => Role::So,
            UserType::User => Role::User,
            UserType::ContextSpecific => return Err(Error::general("context-specific login needs a session")),
        };
        match self.role()? {
            Some(r) if r == role => return Err(Error::new(CKR_USER_ALREADY_LOGGED_IN, "already logged in")),
            Some(_) => return Err(Error::new(CKR_USER_ANOTHER_ALREADY_LOGGED_IN, "another user is logged in")),
            None => {}
        }
        if role == Role::So && has_ro_sessions {
            return Err(Error::new(CKR_SESSION_READ_ONLY_EXISTS, "close read-only sessions before the SO logs in"));
        }
        // A configured KEK that cannot be read fails every login of the slot.
        self.external_kek()?;
        let (master, pin_key, factor_at) = match role {
            Role::So => self.verify_so(pin)?,
            Role::User => {
                let (m, k) = self.verify_pin(role, pin, false)?;
                (m, k, None)
            }
        };
        self.unlock_rows(&master)?;
        self.adopt_kek(role, pin, &master)?;
        // Stores of keyward 0.1: key identities (src/kms), once the rows
        // can be re-MACed.
        self.kms_migrate_identities()?;
        // After adopt_kek, which may re-wrap the PIN's blob.
        let proof = self.store.token()?.and_then(|r| login_proof(&r, role));
        let mut l = self.login.write().map_err(lock_err)?;
        l.role = Some(role);
        l.master = Some(master);
        l.proof = proof;
        l.principal = None;
        l.so_subkey = if role == Role::So { Some(pin_key.subkey(super::principal::SECRET_LABEL)?) } else { None };
        l.factor_at = factor_at;
        drop(l);
        if role == Role::User {
            // Keys of the default user re-sealed for a grant (`grants.rs`).
            self.open_default_keys()?;
            // Due key rotations and purges (src/kms); never fails the login.
            self.kms_after_login();
        }
        Ok(())
    }

    /// C_Login(CKU_CONTEXT_SPECIFIC): the user's PIN again, for one use of a
    /// CKA_ALWAYS_AUTHENTICATE key: the sign or decrypt operation waiting
    /// for it, else the session's next C_UnwrapKey or C_DeriveKey (keyward's
    /// answer for the two calls that have no Init). A wrong PIN ends the
    /// waiting operations.
    pub fn login_context_specific(&self, s: &mut Session, pin: &[u8]) -> Result<()> {
        if self.role()? != Some(Role::User) {
            return Err(Error::new(CKR_USER_NOT_LOGGED_IN, "context-specific login needs a logged-in user"));
        }
        let sign_waits = s.sign.as_ref().is_some_and(|o| o.needs_auth);
        let decrypt_waits = s.decrypt.as_ref().is_some_and(|o| o.needs_auth);
        let checked = match self.named_user() {
            Some(who) => {
                let serial = self.store.token()?.map(|r| r.serial).unwrap_or_default();
                // (a TOTP user's code renews its second factor)
                self.open_named(&who.name, pin, &serial).and_then(|(row, _)| self.note_factor(&row))
            }
            None => self.verify_pin(Role::User, pin, false).map(|_| ()),
        };
        match checked {
            Ok(_) => {
                if let Some(op) = s.sign.as_mut() {
                    op.needs_auth = false;
                }
                if let Some(op) = s.decrypt.as_mut() {
                    op.needs_auth = false;
                }
                s.context_login.set(!sign_waits && !decrypt_waits);
                Ok(())
            }
            Err(e) => {
                if sign_waits {
                    s.sign = None;
                }
                if decrypt_waits {
                    s.decrypt = None;
                }
                s.context_login.set(false);
                Err(e)
            }
        }
    }

    /// Ends the login (C_Logout, the last session closing, C_InitToken, or
    /// another process re-initializing the token or replacing the PIN):
    /// the master key and cached key material are forgotten, private
    /// session objects are destroyed and the handles of private objects
    /// become invalid, even after a new login (PKCS#11 C_Logout).
    pub(super) fn clear_login(&self) -> Result<()> {
        let mut l = self.login.write().map_err(lock_err)?;
        l.role = None;
        l.master = None;
        l.proof = None;
        l.principal = None;
        l.so_subkey = None;
        l.named = None;
        l.grants.clear();
        l.fresh_grants.clear();
        l.factor_at = None;
        l.grants_rev = 0;
        self.login_epoch.fetch_add(1, Ordering::Relaxed);
        drop(l);
        self.integrity.forget_key_row_keys(None);
        if let Ok(mut o) = self.objects.write()
            && o.session_objects > 0
        {
            o.retain(|obj| obj.owner.is_none() || !obj.private);
        }
        // Only the objects whose material was built since the last logout.
        let used = std::mem::take(&mut *self.materialized.lock().map_err(lock_err)?);
        for obj in used.iter().filter_map(std::sync::Weak::upgrade) {
            if obj.token {
                obj.forget_material();
            }
        }
        Ok(())
    }

    pub fn logout(&self) -> Result<()> {
        if self.role()?.is_none() {
            return Err(Error::new(CKR_USER_NOT_LOGGED_IN, "nobody is logged in"));
        }
        self.clear_login()
    }

    pub fn init_token(&self, so_pin: &[u8], label: &str) -> Result<()> {
        self.check_pin_len(so_pin)?;
        if self.store.token()?.is_some() {
            // Re-initialization needs the current SO PIN.
            self.verify_so(so_pin)?;
        }
        let master = MasterKey::generate()?;
        let wrapped = self.wrap_master(&master, so_pin)?;
        let serial = new_uid()?[..16].to_string();
        self.store.init_token(label, &serial, &wrapped)?;
        self.reset_rows()?;
        self.store_public_row_key(&master)?;
        self.clear_login()?;
        let mut o = self.objects.write().map_err(lock_err)?;
        o.clear();
        drop(o);
        self.refresh()?;
        Ok(())
    }

    pub(crate) fn master(&self) -> Result<MasterKey> {
        self.login
            .read()
            .map_err(lock_err)?
            .master
            .clone()
            .ok_or_else(|| Error::new(CKR_USER_NOT_LOGGED_IN, "not logged in: the token's keys are sealed"))
    }

    pub fn init_pin(&self, s: &Session, pin: &[u8]) -> Result<()> {
        if self.role()? != Some(Role::So) || !s.rw {
            return Err(Error::new(CKR_USER_NOT_LOGGED_IN, "C_InitPIN needs the SO logged in on a R/W session"));
        }
        self.check_pin_len(pin)?;
        let master = self.master()?;
        let wrapped = self.wrap_master(&master, pin)?;
        self.store.set_pin(Role::User, Some(&wrapped))
    }

    pub fn set_pin(&self, s: &Session, old: &[u8], new: &[u8]) -> Result<()> {
        if !s.rw {
            return Err(Error::new(CKR_SESSION_READ_ONLY, "C_SetPIN needs a R/W session"));
        }
        let role = self.role()?.unwrap_or(Role::User);
        self.check_pin_len(new)?;
        if let Some(who) = self.named_user() {
            return self.named_set_pin(&who, old, new);
        }
        let (master, old_key) = self.verify_pin(role, old, false)?;
        let (wrapped, new_key) = self.wrap_master_kek(&master, new)?;
        let new_subkey = new_key.subkey(super::principal::SECRET_LABEL)?;
        if role == Role::So {
            // The SO's principal secret (managing named users) moves to the new PIN with it.
            let old_subkey = old_key.subkey(super::principal::SECRET_LABEL)?;
            let serial = self.store.token()?.map(|r| r.serial).unwrap_or_default();
            self.store.transaction(|tx| {
                tx.set_pin(role, Some(&wrapped))?;
                self.reseal_so_secret(tx, &serial, &old_subkey, &new_subkey)
            })?;
        } else {
            self.store.set_pin(role, Some(&wrapped))?;
        }
        // This process changed its own PIN: its login stays.
        let mut l = self.login.write().map_err(lock_err)?;
        if l.role == Some(role) {
            l.proof = self.store.token()?.and_then(|r| login_proof(&r, role));
            if role == Role::So {
                l.so_subkey = Some(new_subkey);
            }
        }
        Ok(())
    }

    /// Ends this process's login when the token was re-initialized or the
    /// logged-in role's PIN was replaced since (by another process); `row` is
    /// the token row as just read.
    pub(super) fn check_login_current(&self, row: Option<&crate::store::TokenRow>) -> Result<()> {
        let l = self.login.read().map_err(lock_err)?;
        let Some(role) = l.role else { return Ok(()) };
        let expected = l.proof.clone();
        let named = l.principal.is_some();
        drop(l);
        let current = match named {
            // A named user's login rests on its own row, not on the token row's
            // wrapped keys: only a re-initialization (a new serial) ends it here.
            true => row.map(|r| (r.serial.clone(), Vec::new())),
            false => row.and_then(|r| login_proof(r, role)),
        };
        if current != expected {
            log::warn!(
                "token {}: the {role:?} login ended: the token was re-initialized or the PIN replaced by another process",
                self.slot
            );
            self.clear_login()?;
        }
        Ok(())
    }

    /// Notes that the application was given the handle `h` (see
    /// `Object::issued_in`); returns it.
    pub(crate) fn issue(&self, h: Handle) -> Handle {
        if let Ok(o) = self.objects.read()
            && let Some(obj) = o.map.get(&h)
        {
            obj.issued_in.store(self.login_epoch.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        h
    }

    /// A private object's handle that this process handed out is valid only
    /// in the login epoch it was handed out in (PKCS#11 C_Logout: those
    /// handles stay invalid even after a new login). A handle never handed
    /// out by this process (a new C_Initialize, a row another process made)
    /// is the row id any search would return, and is taken as such.
    pub(super) fn handle_current(&self, obj: &Object) -> bool {
        let issued = obj.issued_in.load(Ordering::Relaxed);
        !obj.private || issued == 0 || issued == self.login_epoch.load(Ordering::Relaxed)
    }
}
