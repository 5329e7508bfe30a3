//! A token: its store, its login state (PINs, lockout, the unwrapped master
//! key), its object cache, and the PKCS#11 operations that need them.
//!
//! Token objects live in SQLite (`store/`) and in an in-memory cache keyed by
//! handle (the store's row id); session objects live only in the cache.
//! Another process's committed changes are picked up through
//! `Store::changes_since` on the next call that looks objects up.

pub mod asym;
mod audited;
pub(crate) mod integrity;
pub(crate) mod kek;
pub mod ops;
pub mod session;

use crate::ck::*;
use crate::config::{Config, Policy, SlotConfig};
use crate::err;
use crate::error::{Error, Result};
use crate::object::policy::KeyPolicy;
use crate::object::template::{self, NewObject};
use crate::object::{KeyMaterial, Object, Secret};
use crate::store::seal::{Kek, MasterKey};
use crate::store::{Changes, ObjectRow, Role, Store, WrappedKey, codec};
use crate::types::*;
use session::Session;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use zeroize::Zeroizing;

/// Session object handles start here; token object handles are store row ids
/// (kept below 2^31 by the store).
const SESSION_OBJECT_BASE: Handle = 0x8000_0000;

#[derive(Default)]
struct Login {
    role: Option<Role>,
    master: Option<MasterKey>,
    /// What the login was checked against: the token's serial and the
    /// role's wrapped master key. Another process re-initializing the token
    /// or replacing the PIN changes them, which ends this login.
    proof: Option<(String, Vec<u8>)>,
}

/// The serial and the wrapped master key of `role` in the token row.
fn login_proof(row: &crate::store::TokenRow, role: Role) -> Option<(String, Vec<u8>)> {
    let w = match role {
        Role::So => row.so.as_ref(),
        Role::User => row.user.as_ref(),
    }?;
    Some((row.serial.clone(), w.blob.clone()))
}

/// The handles of one label in ascending order: a short vector (a label
/// usually names one object or a few), a B-tree once many objects share it
/// (the empty label of a thousand session keys: removing one from a long
/// vector would move all the others).
enum LabelSet {
    Few(Vec<Handle>),
    Many(std::collections::BTreeSet<Handle>),
}

impl LabelSet {
    const FEW: usize = 64;

    fn insert(&mut self, h: Handle) {
        match self {
            LabelSet::Few(v) => {
                if let Err(i) = v.binary_search(&h) {
                    v.insert(i, h);
                    if v.len() > Self::FEW {
                        *self = LabelSet::Many(v.iter().copied().collect());
                    }
                }
            }
            LabelSet::Many(s) => {
                s.insert(h);
            }
        }
    }

    fn remove(&mut self, h: Handle) {
        match self {
            LabelSet::Few(v) => {
                if let Ok(i) = v.binary_search(&h) {
                    v.remove(i);
                }
            }
            LabelSet::Many(s) => {
                s.remove(&h);
            }
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            LabelSet::Few(v) => v.is_empty(),
            LabelSet::Many(s) => s.is_empty(),
        }
    }

    fn iter(&self) -> Box<dyn Iterator<Item = Handle> + '_> {
        match self {
            LabelSet::Few(v) => Box::new(v.iter().copied()),
            LabelSet::Many(s) => Box::new(s.iter().copied()),
        }
    }
}

/// The object cache: every object by handle, plus an index by CKA_LABEL
/// (C_FindObjects by label among 10,000 keys without a scan).
#[derive(Default)]
struct Objects {
    rev: u64,
    map: HandleMap<Arc<Object>>,
    /// Handles in ascending order (as the search returns them).
    by_label: HashMap<Vec<u8>, LabelSet, foldhash::fast::RandomState>,
    /// How many session objects `map` holds (closing sessions skips the
    /// scan when there are none).
    session_objects: usize,
    /// Bumped by every change (see `Token::objects_generation`).
    generation: u64,
}

impl Objects {
    fn unindex(&mut self, obj: &Object) {
        if obj.owner.is_some() {
            self.session_objects = self.session_objects.saturating_sub(1);
        }
        if let Some(l) = obj.get(CKA_LABEL)
            && let Some(set) = self.by_label.get_mut(l)
        {
            set.remove(obj.handle);
            if set.is_empty() {
                self.by_label.remove(l);
            }
        }
    }

    fn insert(&mut self, obj: Arc<Object>) {
        self.generation += 1;
        if let Some(old) = self.map.remove(&obj.handle) {
            // A newer version of the same object keeps its handle's validity.
            obj.issued_in.store(old.issued_in.load(Ordering::Relaxed), Ordering::Relaxed);
            self.unindex(&old);
        }
        if obj.owner.is_some() {
            self.session_objects += 1;
        }
        if let Some(l) = obj.get(CKA_LABEL) {
            match self.by_label.get_mut(l) {
                Some(set) => set.insert(obj.handle),
                None => {
                    self.by_label.insert(l.to_vec(), LabelSet::Few(vec![obj.handle]));
                }
            }
        }
        self.map.insert(obj.handle, obj);
    }

    fn remove(&mut self, h: Handle) -> Option<Arc<Object>> {
        self.generation += 1;
        let old = self.map.remove(&h)?;
        self.unindex(&old);
        Some(old)
    }

    fn retain(&mut self, keep: impl Fn(&Object) -> bool) {
        let gone: Vec<Handle> = self.map.values().filter(|o| !keep(o)).map(|o| o.handle).collect();
        for h in gone {
            self.remove(h);
        }
    }

    fn clear(&mut self) {
        self.generation += 1;
        self.map.clear();
        self.by_label.clear();
        self.session_objects = 0;
    }

    /// Candidates for a search template: the label index when the template
    /// names a label, else every object.
    fn candidates<'a>(&'a self, t: &[Attr]) -> Box<dyn Iterator<Item = &'a Arc<Object>> + 'a> {
        match t.iter().rev().find(|a| a.ty == CKA_LABEL) {
            Some(a) => match self.by_label.get(&a.value) {
                Some(set) => Box::new(set.iter().filter_map(|h| self.map.get(&h))),
                None => Box::new(std::iter::empty()),
            },
            None => Box::new(self.map.values()),
        }
    }
}

/// A PIN-derived key kept for the life of the process so that repeated
/// logins do not pay PBKDF2 again; found by a keyed fingerprint of the PIN.
struct KekCacheEntry {
    fingerprint: [u8; 32],
    kek: Kek,
}

pub struct Token {
    pub slot: Handle,
    description: String,
    policy: Policy,
    /// The slot's key policy (`[policy]` + `[slot.policy]`, object::policy).
    key_policy: KeyPolicy,
    store: Store,
    login: RwLock<Login>,
    objects: RwLock<Objects>,
    kek_cache: Mutex<Vec<KekCacheEntry>>,
    fingerprint_key: Zeroizing<Vec<u8>>,
    next_session_object: AtomicU64,
    open_sessions: AtomicU64,
    pub(crate) audit: crate::audit::Audit,
    /// Key lifecycle settings and automatic-maintenance state (src/kms).
    pub(crate) kms: crate::kms::TokenKms,
    /// `store.refresh_ms` in nanoseconds, and when (ns after `epoch`) this
    /// process last checked the store for other processes' commits.
    refresh_every_ns: u64,
    /// The external KEK of this slot, if configured (`kek`).
    ext_kek: kek::ExternalKekState,
    /// Row keys and the bound state of the store (`integrity`).
    pub(crate) integrity: integrity::RowIntegrity,
    /// Token objects whose engine material is cached (forgotten at logout).
    materialized: Mutex<Vec<std::sync::Weak<Object>>>,
    epoch: std::time::Instant,
    refreshed_at_ns: AtomicU64,
    /// Bumped by every logout (see `Object::issued_in`).
    login_epoch: AtomicU64,
}

pub(crate) fn lock_err<T>(_: T) -> Error {
    Error::general("token lock poisoned")
}

fn object_from_row(row: &ObjectRow, integrity: crate::object::Integrity) -> Result<Object> {
    let attrs = crate::object::AttrMap::from_pairs(
        codec::decode_attrs_ref(&row.public)?.into_iter().map(|(t, v)| (t as CK_ATTRIBUTE_TYPE, v)),
    );
    let secrets = codec::decode_attrs(&row.sealed)?
        .into_iter()
        .map(|(t, v)| (t as CK_ATTRIBUTE_TYPE, Secret::Sealed(v)))
        .collect();
    Ok(Object::from_parts(row.id as Handle, row.uid.clone(), None, attrs, secrets)?.with_integrity(integrity))
}

/// Whether a session without the user logged in sees `obj` (see `Token::visible`).
fn public_view(obj: &Object) -> bool {
    !obj.private && !matches!(obj.integrity(), crate::object::Integrity::Failed(_))
}

pub(crate) fn new_uid() -> Result<String> {
    let mut b = [0u8; 16];
    crate::crypto::random_fill(&mut b).map_err(|_| Error::general("rng failed"))?;
    let mut out = [0u8; 32];
    hex::encode_to_slice(b, &mut out).map_err(|_| Error::general("uid encoding"))?;
    String::from_utf8(out.to_vec()).map_err(|_| Error::general("uid encoding"))
}

impl Token {
    pub fn open(slot: Handle, sc: &SlotConfig, config: &Config) -> Result<Token> {
        let store = Store::open(&sc.path)?;
        let ext_kek = kek::ExternalKekState::load(sc, config);
        let audit_kek = ext_kek.get().ok().flatten().cloned();
        let t = Token {
            slot,
            description: sc.description.clone().unwrap_or_else(|| format!("keyward slot {slot}")),
            policy: config.policy.clone(),
            key_policy: config.key_policy(sc)?,
            store,
            login: RwLock::new(Login::default()),
            objects: RwLock::new(Objects::default()),
            kek_cache: Mutex::new(Vec::new()),
            fingerprint_key: crate::crypto::random_secret(32).map_err(|_| Error::general("rng failed"))?,
            next_session_object: AtomicU64::new(SESSION_OBJECT_BASE),
            open_sessions: AtomicU64::new(0),
            audit: crate::audit::Audit::open(slot, &sc.path, config, audit_kek)?,
            kms: crate::kms::TokenKms::new(&config.kms),
            refresh_every_ns: config.store.refresh_ms.saturating_mul(1_000_000),
            ext_kek,
            integrity: Default::default(),
            materialized: Mutex::new(Vec::new()),
            epoch: std::time::Instant::now(),
            refreshed_at_ns: AtomicU64::new(0),
            login_epoch: AtomicU64::new(1),
        };
        if sc.durability.unwrap_or(config.store.durability) == crate::config::Durability::Normal {
            t.store.set_durability_normal()?;
        }
        if config.store.max_pages > 0 {
            t.store.set_max_pages(config.store.max_pages)?;
        }
        let all = t.store.load_all()?;
        let bound =
            all.upserts.iter().any(|r| r.mac.is_some()) || t.store.meta_get(crate::store::META_ROWS_BOUND)?.is_some();
        t.integrity.set_bound(bound);
        t.load_public_row_key()?;
        t.apply_changes(all)?;
        Ok(t)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The slot's key policy (what keys and uses it accepts).
    pub fn key_policy(&self) -> &KeyPolicy {
        &self.key_policy
    }

    // ---- info ------------------------------------------------------------

    pub fn slot_info(&self) -> SlotInfo {
        SlotInfo {
            description: self.description.clone(),
            manufacturer: "keyward".into(),
            flags: CKF_TOKEN_PRESENT,
            hardware_version: MODULE_VERSION,
            firmware_version: MODULE_VERSION,
        }
    }

    pub fn token_info(&self, sessions: CK_ULONG, rw_sessions: CK_ULONG) -> Result<TokenInfo> {
        let row = self.store.token()?;
        let mut flags = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_RESTORE_KEY_NOT_NEEDED;
        let (label, serial) = match &row {
            Some(r) => {
                flags |= CKF_TOKEN_INITIALIZED;
                if r.user.is_some() {
                    flags |= CKF_USER_PIN_INITIALIZED;
                }
                flags |= self.pin_flags(
                    r.user_failures,
                    CKF_USER_PIN_COUNT_LOW,
                    CKF_USER_PIN_FINAL_TRY,
                    CKF_USER_PIN_LOCKED,
                );
                flags |= self.pin_flags(r.so_failures, CKF_SO_PIN_COUNT_LOW, CKF_SO_PIN_FINAL_TRY, CKF_SO_PIN_LOCKED);
                (r.label.clone(), r.serial.clone())
            }
            None => (String::new(), String::new()),
        };
        let now = now_utc();
        Ok(TokenInfo {
            label,
            manufacturer: "keyward".into(),
            model: "software HSM".into(),
            serial,
            flags,
            max_session_count: CK_EFFECTIVELY_INFINITE,
            session_count: sessions,
            max_rw_session_count: CK_EFFECTIVELY_INFINITE,
            rw_session_count: rw_sessions,
            max_pin_len: self.policy.max_pin_len as CK_ULONG,
            min_pin_len: self.policy.min_pin_len as CK_ULONG,
            total_public_memory: CK_UNAVAILABLE_INFORMATION,
            free_public_memory: CK_UNAVAILABLE_INFORMATION,
            total_private_memory: CK_UNAVAILABLE_INFORMATION,
            free_private_memory: CK_UNAVAILABLE_INFORMATION,
            hardware_version: MODULE_VERSION,
            firmware_version: MODULE_VERSION,
            utc_time: format!("{}00", now.format_compact()),
        })
    }

    fn pin_flags(&self, failures: u32, low: CK_FLAGS, final_try: CK_FLAGS, locked: CK_FLAGS) -> CK_FLAGS {
        let max = self.policy.max_pin_attempts;
        if failures >= max {
            locked
        } else if failures + 1 == max {
            final_try | low
        } else if failures > 0 {
            low
        } else {
            0
        }
    }

    // ---- sessions and login ----------------------------------------------

    pub fn check_open_session(&self, rw: bool) -> Result<()> {
        if !rw && self.role()? == Some(Role::So) {
            return Err(Error::new(
                CKR_SESSION_READ_WRITE_SO_EXISTS,
                "the SO is logged in: only R/W sessions may open",
            ));
        }
        Ok(())
    }

    pub fn on_session_opened(&self) {
        self.open_sessions.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops the session objects the closed session owned.
    pub fn on_session_closed(&self, h: Handle) {
        self.open_sessions.fetch_sub(1, Ordering::Relaxed);
        if let Ok(mut o) = self.objects.write()
            && o.session_objects > 0
        {
            o.retain(|obj| obj.owner != Some(h));
        }
    }

    /// The last session closed: the application is logged out.
    pub fn on_all_sessions_closed(&self) {
        self.open_sessions.store(0, Ordering::Relaxed);
        let _ = self.clear_login();
        if let Ok(mut o) = self.objects.write()
            && o.session_objects > 0
        {
            o.retain(|obj| obj.owner.is_none());
        }
    }

    pub fn role(&self) -> Result<Option<Role>> {
        Ok(self.login.read().map_err(lock_err)?.role)
    }

    pub(crate) fn is_user(&self) -> bool {
        self.login.read().map(|l| l.role == Some(Role::User)).unwrap_or(false)
    }

    pub fn session_info(&self, s: &Session) -> SessionInfo {
        let role = self.role().ok().flatten();
        let state = match (role, s.rw) {
            (None, false) => CKS_RO_PUBLIC_SESSION,
            (None, true) => CKS_RW_PUBLIC_SESSION,
            (Some(Role::User), false) => CKS_RO_USER_FUNCTIONS,
            (Some(Role::User), true) => CKS_RW_USER_FUNCTIONS,
            (Some(Role::So), _) => CKS_RW_SO_FUNCTIONS,
        };
        SessionInfo {
            slot: s.slot,
            state,
            flags: CKF_SERIAL_SESSION | if s.rw { CKF_RW_SESSION } else { 0 },
            device_error: 0,
        }
    }

    fn check_pin_len(&self, pin: &[u8]) -> Result<()> {
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
    fn kek(&self, pin: &[u8], wrapped: &WrappedKey) -> Result<Kek> {
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
    /// the master key.
    ///
    /// A guess is paid for before it is checked: the attempt is reserved in
    /// the same store transaction that reads the failure counter (refused
    /// once the limit is reached), the KDF runs, and a success resets the
    /// counter. N concurrent guesses, from threads or processes, never check
    /// more than `max_pin_attempts` wrong PINs. A PIN this process has seen
    /// succeed opens the master key from the cache without a reservation.
    fn verify_pin(&self, role: Role, pin: &[u8]) -> Result<MasterKey> {
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
        if let Some(pin_key) = self.cached_kek(&fp)?
            && let Some(m) = self.mix_kek(pin_key, wrapped)?.unwrap(&wrapped.blob)
        {
            if failures > 0 {
                self.store.pin_ok(role)?;
            }
            return Ok(m);
        }
        let n = match self.store.reserve_pin_attempt(role, max)? {
            Ok(n) => n,
            Err(now) => return Err(locked(now)),
        };
        let pin_key = Kek::derive(pin, &wrapped.salt, wrapped.iterations)?;
        let kek = self.mix_kek(pin_key.clone(), wrapped)?;
        match kek.unwrap(&wrapped.blob) {
            Some(m) => {
                self.store.pin_ok(role)?;
                self.remember_kek(fp, pin_key)?;
                Ok(m)
            }
            None if n >= max => {
                Err(Error::new(CKR_PIN_LOCKED, format!("{role:?} PIN now locked after {n} failed attempts")))
            }
            None => Err(Error::new(CKR_PIN_INCORRECT, format!("wrong {role:?} PIN ({n} failed attempts)"))),
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
        let master = self.verify_pin(role, pin)?;
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
        drop(l);
        if role == Role::User {
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
        match self.verify_pin(Role::User, pin) {
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
    fn clear_login(&self) -> Result<()> {
        let mut l = self.login.write().map_err(lock_err)?;
        l.role = None;
        l.master = None;
        l.proof = None;
        self.login_epoch.fetch_add(1, Ordering::Relaxed);
        drop(l);
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
            self.verify_pin(Role::So, so_pin)?;
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
        let master = self.verify_pin(role, old)?;
        let wrapped = self.wrap_master(&master, new)?;
        self.store.set_pin(role, Some(&wrapped))?;
        // This process changed its own PIN: its login stays.
        let mut l = self.login.write().map_err(lock_err)?;
        if l.role == Some(role) {
            l.proof = self.store.token()?.and_then(|r| login_proof(&r, role));
        }
        Ok(())
    }

    // ---- object cache ------------------------------------------------------

    pub(crate) fn apply_changes(&self, ch: Changes) -> Result<()> {
        let mut o = self.objects.write().map_err(lock_err)?;
        self.apply_changes_locked(&mut o, ch);
        Ok(())
    }

    fn apply_changes_locked(&self, o: &mut Objects, ch: Changes) {
        if o.session_objects > 0 && !ch.deletes.is_empty() {
            // A session copy dies with the token version it follows.
            let gone: Vec<Handle> = ch.deletes.iter().map(|id| *id as Handle).collect();
            o.retain(|obj| {
                obj.owner.is_none() || crate::kms::attrs::copy_source(obj).is_none_or(|src| !gone.contains(&src))
            });
        }
        for id in ch.deletes {
            o.remove(id as Handle);
        }
        for row in &ch.upserts {
            let integrity = self.check_row(row);
            if let crate::object::Integrity::Failed(why) = &integrity {
                log::error!(
                    "token {}: object {} (uid {}) failed its integrity check and is refused: {why}",
                    self.slot,
                    row.id,
                    row.uid
                );
            }
            match object_from_row(row, integrity) {
                Ok(obj) => {
                    o.insert(Arc::new(obj));
                }
                Err(e) => log::warn!("token {}: skipping unreadable object {}: {e}", self.slot, row.uid),
            }
        }
        o.rev = o.rev.max(ch.rev);
    }

    /// Changes whenever the object cache changes.
    pub(crate) fn objects_generation(&self) -> u64 {
        self.objects.read().map(|o| o.generation).unwrap_or(0)
    }

    fn now_ns(&self) -> u64 {
        crate::clock::now().saturating_duration_since(self.epoch).as_nanos() as u64
    }

    /// Picks up what other processes committed.
    pub fn refresh(&self) -> Result<()> {
        let started = self.now_ns();
        // The cache stays write-locked from the store read to the apply:
        // otherwise a thread of this process could change or delete an
        // object between the two and the older snapshot would bring the
        // old version back.
        let mut o = self.objects.write().map_err(lock_err)?;
        let changed = match self.store.changes_since(o.rev)? {
            Some(ch) => {
                // Another process re-initialized the token: its rows are
                // under a new master key, unknown here until a login (not
                // "failed" against the old one).
                let serial = self.store.token()?.map(|r| r.serial);
                if self.integrity.keys_for_other_token(serial.as_deref()) {
                    self.integrity.set_keys(None, None);
                }
                self.apply_changes_locked(&mut o, ch);
                true
            }
            None => false,
        };
        drop(o);
        if changed {
            self.check_login_current()?;
        }
        self.refreshed_at_ns.store(started, Ordering::Relaxed);
        Ok(())
    }

    /// Ends this process's login when the token was re-initialized or the
    /// logged-in role's PIN was replaced since (by another process).
    fn check_login_current(&self) -> Result<()> {
        let l = self.login.read().map_err(lock_err)?;
        let Some(role) = l.role else { return Ok(()) };
        let expected = l.proof.clone();
        drop(l);
        let current = self.store.token()?.and_then(|r| login_proof(&r, role));
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
    fn handle_current(&self, obj: &Object) -> bool {
        let issued = obj.issued_in.load(Ordering::Relaxed);
        !obj.private || issued == 0 || issued == self.login_epoch.load(Ordering::Relaxed)
    }

    /// [`Token::refresh`] unless the last check is younger than
    /// `store.refresh_ms` (the per-operation key lookup: a check costs a
    /// SQLite read transaction with its file locks, several microseconds).
    pub(crate) fn refresh_if_stale(&self) -> Result<()> {
        if self.refresh_every_ns > 0
            && self.now_ns().saturating_sub(self.refreshed_at_ns.load(Ordering::Relaxed)) < self.refresh_every_ns
        {
            return Ok(());
        }
        self.refresh()
    }

    /// Private objects, and objects whose row failed its integrity check
    /// (their CKA_PRIVATE may be the edit), are seen by the user only.
    fn visible(&self, obj: &Object) -> bool {
        public_view(obj) || self.is_user()
    }

    /// The object `h` as session `s` may see it. `invalid` is the CK_RV for a
    /// handle that names nothing visible (object, key, wrapping key ...).
    pub fn object(&self, h: Handle, invalid: CK_RV) -> Result<Arc<Object>> {
        // Another process may have rotated, disabled or deleted the key:
        // checked at most every `store.refresh_ms` (session objects live
        // only in this process).
        if h < SESSION_OBJECT_BASE {
            self.refresh_if_stale()?;
        }
        self.kms_tick();
        let found = self.objects.read().map_err(lock_err)?.map.get(&h).cloned();
        match found {
            Some(o) if self.visible(&o) && self.handle_current(&o) => Ok(o),
            _ => Err(err!(invalid, "no visible object with handle {h}")),
        }
    }

    /// The cached object `h`, whatever its visibility (lifecycle bookkeeping).
    pub(crate) fn cached_object(&self, h: Handle) -> Result<Arc<Object>> {
        let found = self.objects.read().map_err(lock_err)?.map.get(&h).cloned();
        found.ok_or_else(|| err!(CKR_OBJECT_HANDLE_INVALID, "no object with handle {h}"))
    }

    /// Opens the sealed secrets of `obj`, which must have passed its
    /// integrity check.
    fn unseal_fn<'a>(
        &'a self,
        obj: &'a Object,
    ) -> impl Fn(&str, CK_ATTRIBUTE_TYPE, &[u8]) -> Result<Zeroizing<Vec<u8>>> + 'a {
        move |uid, ty, sealed| {
            self.require_intact(obj)?;
            self.master()?.unseal(uid, ty, sealed)
        }
    }

    /// The engine material of a key, built once per login and cached.
    pub fn material(&self, obj: &Object) -> Result<Arc<KeyMaterial>> {
        self.require_intact(obj)?;
        if let Some(m) = obj.cached_material() {
            return Ok(m);
        }
        let unseal = self.unseal_fn(obj);
        let m = match obj.class {
            CKO_SECRET_KEY => KeyMaterial::Secret(crate::crypto::SecretKey::new(obj.secret(CKA_VALUE, &unseal)?)),
            _ => ops::asymmetric_material(obj, &unseal)?,
        };
        let m = Arc::new(m);
        obj.cache_material(m.clone());
        if obj.token
            && let Some(me) = self.objects.read().map_err(lock_err)?.map.get(&obj.handle)
        {
            self.materialized.lock().map_err(lock_err)?.push(Arc::downgrade(me));
        }
        Ok(m)
    }

    /// Checks that session `s` may create or change an object with these flags.
    pub(crate) fn check_write(&self, s: &Session, token: bool, private: bool) -> Result<()> {
        if token && !s.rw {
            return Err(Error::new(CKR_SESSION_READ_ONLY, "token objects need a R/W session"));
        }
        if private && !self.is_user() {
            return Err(Error::new(CKR_USER_NOT_LOGGED_IN, "private objects need the user logged in"));
        }
        Ok(())
    }

    /// Stores a validated new object (sealing its secrets for the token) and
    /// returns its handle.
    pub fn insert(&self, s: &Session, mut n: NewObject) -> Result<Handle> {
        // Every new object, whatever made it, passes the key policy.
        self.key_policy.check_new_object(&n)?;
        let token = n.flag(CKA_TOKEN);
        let private = n.flag(CKA_PRIVATE);
        self.check_write(s, token, private)?;
        let uid = new_uid()?;
        n.attrs.insert(CKA_UNIQUE_ID, uid.as_bytes());
        if token {
            if self.store.token()?.is_none() {
                return Err(Error::new(CKR_TOKEN_NOT_RECOGNIZED, "token not initialized"));
            }
            let master = if n.secrets.is_empty() { None } else { Some(self.master()?) };
            let mut sealed = Vec::with_capacity(n.secrets.len());
            for (ty, v) in &n.secrets {
                let m = master.as_ref().ok_or_else(|| Error::general("no master key"))?;
                sealed.push(((*ty), m.seal(&uid, *ty, v)?));
            }
            let public = codec::encode_attrs(n.attrs.iter());
            let sealed_blob = codec::encode_attrs(sealed.iter().map(|(t, v)| (*t, v.as_slice())));
            let mac = |id| self.row_mac(id, &uid, &public, &sealed_blob);
            let id = self.store.insert_object(&uid, &public, &sealed_blob, &mac)?;
            let secrets = sealed.into_iter().map(|(t, v)| (t as CK_ATTRIBUTE_TYPE, Secret::Sealed(v))).collect();
            let obj = Object::new(id as Handle, uid, None, n.attrs, secrets)?;
            let h = obj.handle;
            self.objects.write().map_err(lock_err)?.insert(Arc::new(obj));
            Ok(h)
        } else {
            let h = self.next_session_object.fetch_add(1, Ordering::Relaxed);
            let secrets = n.secrets.into_iter().map(|(t, v)| (t, Secret::Plain(v))).collect();
            let obj = Object::new(h, uid, Some(s.handle), n.attrs, secrets)?;
            self.objects.write().map_err(lock_err)?.insert(Arc::new(obj));
            Ok(h)
        }
    }

    pub fn create_object(&self, s: &Session, t: &[Attr]) -> Result<Handle> {
        let mut n = template::build(t, &[], template::Origin::Create)?;
        self.key_policy.settle_usage(&mut [(&mut n, t)]);
        ops::validate_import(&mut n)?;
        self.insert(s, n)
    }

    pub fn copy_object(&self, s: &Session, h: Handle, t: &[Attr]) -> Result<Handle> {
        let obj = self.object(h, CKR_OBJECT_HANDLE_INVALID)?;
        self.require_intact(&obj)?;
        let is_so = self.role()? == Some(Role::So);
        let mut attrs = template::apply_copy(&obj, t, is_so)?;
        attrs.remove(&CKA_UNIQUE_ID);
        crate::kms::attrs::bind_copy(&mut attrs, &obj, crate::kms::clock::now())?;
        let secrets = template::plain_secrets(&obj, &self.unseal_fn(&obj))?;
        let n = NewObject { kind: obj.kind, attrs: crate::object::AttrMap::from_map(&attrs), secrets };
        self.insert(s, n)
    }

    pub fn destroy_object(&self, s: &Session, h: Handle) -> Result<()> {
        let obj = self.object(h, CKR_OBJECT_HANDLE_INVALID)?;
        self.check_write(s, obj.token, obj.private)?;
        if let crate::object::Integrity::Failed(why) = obj.integrity() {
            // Its attributes mean nothing: delete the row for good, never
            // re-MAC what an attacker wrote (no soft delete).
            log::warn!(
                "token {}: destroying object {} (uid {}) that failed its integrity check: {why}",
                self.slot,
                h,
                obj.uid
            );
            self.store.delete_object(h as i64)?;
            self.objects.write().map_err(lock_err)?.remove(h);
            return Ok(());
        }
        if obj.get(CKA_DESTROYABLE).is_some_and(|v| v.first() == Some(&0)) {
            return Err(Error::new(CKR_ACTION_PROHIBITED, "object is not destroyable (CKA_DESTROYABLE is false)"));
        }
        let copy = crate::kms::attrs::copy_source(&obj).is_some();
        if obj.token && obj.is_key() && self.kms.grace() > 0 && !copy {
            // Soft delete: restorable for the grace period (src/kms). A
            // copy is not the key: destroying it removes just the copy.
            return self.kms_soft_destroy(&obj);
        }
        if obj.token && obj.is_key() {
            // The row and the token copies that follow it (src/kms).
            return self.kms_destroy_now(&obj);
        }
        if obj.token {
            self.store.delete_object(h as i64)?;
        }
        obj.forget_material();
        self.objects.write().map_err(lock_err)?.remove(h);
        Ok(())
    }

    pub fn object_size(&self, _s: &Session, h: Handle) -> Result<CK_ULONG> {
        Ok(self.object(h, CKR_OBJECT_HANDLE_INVALID)?.size() as CK_ULONG)
    }

    pub fn get_attribute_values(&self, _s: &Session, h: Handle, types: &[CK_ATTRIBUTE_TYPE]) -> Result<Vec<AttrValue>> {
        let obj = self.object(h, CKR_OBJECT_HANDLE_INVALID)?;
        if let crate::object::Integrity::Failed(_) = obj.integrity() {
            return Err(self.require_intact(&obj).err().unwrap_or_else(|| Error::device("integrity check failed")));
        }
        let unseal = self.unseal_fn(&obj);
        Ok(types.iter().map(|t| obj.read(*t, &unseal)).collect())
    }

    pub fn set_attribute_values(&self, s: &Session, h: Handle, t: &[Attr]) -> Result<()> {
        self.refresh()?;
        let obj = self.object(h, CKR_OBJECT_HANDLE_INVALID)?;
        self.check_write(s, obj.token, obj.private)?;
        self.require_intact(&obj)?;
        let is_so = self.role()? == Some(Role::So);
        // A non-modifiable key may still be disabled or expire earlier
        // (the one lifecycle rule, src/kms/rules.rs).
        let mut attrs = match crate::kms::rules::narrowing_set(&obj, t)? {
            Some(a) => a,
            None => template::apply_set(&obj, t, is_so)?,
        };
        self.key_policy.check_usage_change(t, |ty| attrs.get(&ty).is_some_and(|v| v.as_slice() == [1]))?;
        crate::kms::attrs::on_set(&obj, t, &mut attrs, crate::kms::clock::now())?;
        let tags = attrs.get(&crate::kms::attrs::CKA_KEYWARD_TAGS).cloned();
        self.replace(&obj, attrs)?;
        // Tags belong to the managed key: every version carries them.
        if let Some(tags) = tags.filter(|_| obj.token && t.iter().any(|a| a.ty == crate::kms::attrs::CKA_KEYWARD_TAGS))
        {
            self.kms_propagate_tags(&obj, &tags)?;
        }
        Ok(())
    }

    /// Swaps in a new version of `obj` with `attrs` (secrets unchanged).
    pub fn replace(&self, obj: &Object, attrs: BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>) -> Result<()> {
        self.require_intact(obj)?;
        if obj.token {
            let public = codec::encode_attrs(attrs.iter().map(|(t, v)| ((*t), v.as_slice())));
            let sealed: Vec<(u64, &[u8])> = obj
                .secrets()
                .iter()
                .filter_map(|(t, s)| match s {
                    Secret::Sealed(b) => Some(((*t), b.as_slice())),
                    Secret::Plain(_) => None,
                })
                .collect();
            let sealed_blob = codec::encode_attrs(sealed);
            let mac = self.row_mac(obj.handle as i64, &obj.uid, &public, &sealed_blob)?;
            self.store.update_object(obj.handle as i64, &public, &sealed_blob, &mac)?;
        }
        let new = Arc::new(Object::from_parts(
            obj.handle,
            obj.uid.clone(),
            obj.owner,
            crate::object::AttrMap::from_map(&attrs),
            obj.secrets().to_vec(),
        )?);
        if let Some(m) = obj.cached_material() {
            new.cache_material(m);
            if new.token {
                self.materialized.lock().map_err(lock_err)?.push(Arc::downgrade(&new));
            }
        }
        self.objects.write().map_err(lock_err)?.insert(new);
        Ok(())
    }

    pub fn find_init(&self, s: &mut Session, t: &[Attr]) -> Result<()> {
        if s.find.is_some() {
            return Err(Error::new(CKR_OPERATION_ACTIVE, "a find operation is active"));
        }
        self.refresh()?;
        let user = self.is_user();
        // Default view: primary versions not pending deletion (src/kms).
        let view = crate::kms::FindView::of(t);
        let o = self.objects.read().map_err(lock_err)?;
        let epoch = self.login_epoch.load(Ordering::Relaxed);
        let mut found: Vec<Handle> = o
            .candidates(t)
            .filter(|obj| (user || public_view(obj)) && view.admits(obj))
            .map(|obj| {
                obj.issued_in.store(epoch, Ordering::Relaxed);
                obj.handle
            })
            .collect();
        found.sort_unstable();
        s.find = Some((found, 0));
        Ok(())
    }

    /// Every object of the token (the CLI's inventory), as the store has them.
    pub fn all_objects(&self) -> Result<Vec<Arc<Object>>> {
        self.refresh()?;
        let o = self.objects.read().map_err(lock_err)?;
        let mut v: Vec<_> = o.map.values().filter(|x| x.token).cloned().collect();
        v.sort_by_key(|x| x.handle);
        Ok(v)
    }

    pub fn is_initialized(&self) -> Result<bool> {
        Ok(self.store.token()?.is_some())
    }
}

/// A UTC timestamp, enough for token info and date checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl UtcTime {
    pub fn from_unix(secs: i64) -> UtcTime {
        // Civil-from-days (H. Hinnant), proleptic Gregorian.
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        UtcTime {
            year: if m <= 2 { y + 1 } else { y },
            month: m,
            day: d,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
        }
    }

    /// `YYYYMMDDhhmmss`.
    pub fn format_compact(&self) -> String {
        format!("{:04}{:02}{:02}{:02}{:02}{:02}", self.year, self.month, self.day, self.hour, self.minute, self.second)
    }

    /// `YYYYMMDD` as in CK_DATE.
    pub fn date_bytes(&self) -> [u8; 8] {
        let s = format!("{:04}{:02}{:02}", self.year, self.month, self.day);
        let mut out = [b'0'; 8];
        out.copy_from_slice(&s.as_bytes()[..8]);
        out
    }
}

pub fn now_utc() -> UtcTime {
    let secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    UtcTime::from_unix(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sets_stay_sorted_across_the_switch_to_a_tree() {
        let mut set = LabelSet::Few(Vec::new());
        let mut reference = std::collections::BTreeSet::new();
        let mut x = 12345u64;
        for step in 0..1000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let h = (x >> 40) % 300;
            if step % 3 == 2 {
                set.remove(h);
                reference.remove(&h);
            } else {
                set.insert(h);
                reference.insert(h);
            }
            assert!(set.iter().eq(reference.iter().copied()), "step {step}");
            assert_eq!(set.is_empty(), reference.is_empty());
        }
        assert!(matches!(set, LabelSet::Many(_)), "more than FEW handles: a tree");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(UtcTime::from_unix(0).format_compact(), "19700101000000");
        assert_eq!(UtcTime::from_unix(951_782_400).format_compact(), "20000229000000");
        assert_eq!(&UtcTime::from_unix(1_795_392_000).date_bytes(), b"20261123");
    }
}
