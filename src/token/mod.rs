//! A token: its store, its login state (PINs, lockout, the unwrapped master
//! key), its object cache, and the PKCS#11 operations that need them.
//!
//! Token objects live in SQLite (`store/`) and in an in-memory cache keyed by
//! handle (the store's row id); session objects live only in the cache.
//! Another process's committed changes are picked up through
//! `Store::changes_since` on the next call that looks objects up.
//!
//! Here: the `Token` itself, opening it, token and session info, and the
//! object calls (create, copy, destroy, attributes, sealing on insert).
//! `login.rs` holds PINs and login, `objects.rs` the object cache and its
//! lookups; `session`, `ops`, `asym`, `kek` and `integrity` as named.

pub mod asym;
mod audited;
mod default_keys;
mod derive;
mod grant_change;
mod grants;
pub use grant_change::GrantInfo;
pub(crate) mod integrity;
pub(crate) mod kek;
// DSA and PKCS#3 DH (legacy).
pub mod legacy;
pub mod lifecycle;
mod login;
pub mod migrate;
mod objects;
pub mod ops;
pub mod os_access;
pub mod pq;
pub mod principal;
mod principal_seal;
pub mod quorum;
pub mod session;
pub mod totp_policy;

use crate::ck::*;
use crate::config::{Config, Policy, SlotConfig};
use crate::err;
use crate::error::{Error, Result};
use crate::object::policy::KeyPolicy;
use crate::object::template::{self, NewObject};
use crate::object::{KeyMaterial, Object, Secret};
use crate::store::{Changes, Role, Store, codec};
/// Civil UTC times (now shared: `crate::time`), under their old path.
pub use crate::time::{UtcTime, now_utc};
use crate::types::*;
use login::{KekCacheEntry, Login};
use objects::Objects;
use session::Session;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use zeroize::Zeroizing;

/// Session object handles start here; token object handles are store row ids
/// (kept below 2^31 by the store).
const SESSION_OBJECT_BASE: Handle = 0x8000_0000;

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
    /// Held while a PIN is checked the slow way (an attempt reserved, the
    /// KDF run): this process's concurrent logins with the same right PIN
    /// then wait for the first and find its key in `kek_cache`, instead of
    /// each reserving an attempt (enough threads would lock the PIN).
    pin_check: Mutex<()>,
    /// `Objects::lazy`, readable without the cache's lock (set once, at open).
    lazy_mode: std::sync::atomic::AtomicBool,
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
    /// The templates of the secrets C_EncapsulateKey / C_DecapsulateKey
    /// make, built once (`object::prototype`, settled by `key_policy`).
    kem_secrets: crate::object::prototype::Prototypes,
    /// `[[slot]] user`: the named user a C_Login(CKU_USER) on this slot is.
    mapped_user: Option<String>,
    /// `[[slot]] allow_os_users` / `allow_os_groups`, checked again at login.
    os_users: Vec<String>,
    os_groups: Vec<String>,
    /// The purge quorum last read (`quorum.rs`): read time (ms) << 32 | M.
    quorum_cache: AtomicU64,
    /// The TOTP policy read last (`totp_policy.rs`): ms << 32 | 1 << 31 | bits.
    totp_cache: AtomicU64,
    /// Principal records whose signature verified, by signature (`grants.rs`).
    record_cache: Mutex<grants::RecordCache>,
}

pub(crate) fn lock_err<T>(_: T) -> Error {
    Error::general("token lock poisoned")
}

/// Object UIDs come from the per-thread pool of public identifier bytes
/// (`crypto::rand::public_id`): a DRBG call per object cost more than the
/// rest of the insert.
pub(crate) fn new_uid() -> Result<String> {
    let out = crate::crypto::rand::public_id_hex().map_err(|_| Error::general("rng failed"))?;
    String::from_utf8(out.to_vec()).map_err(|_| Error::general("uid encoding"))
}

impl Token {
    pub fn open(slot: Handle, sc: &SlotConfig, config: &Config) -> Result<Token> {
        os_access::check_slot(usize::try_from(slot).unwrap_or(usize::MAX), sc)?;
        let pg = sc.pg_options(usize::try_from(slot).unwrap_or(usize::MAX))?;
        let store = match &pg {
            Some(o) => {
                // The audit log stays local: its directory must exist.
                crate::store::create_private_dir(&sc.path)?;
                Store::open_postgres(o.clone())?
            }
            None => Store::open(&sc.path)?,
        };
        let ext_kek = kek::ExternalKekState::load(sc, config);
        let audit_kek = ext_kek.get().ok().flatten().cloned();
        let t = Token {
            slot,
            description: match (&sc.description, &sc.user) {
                (Some(d), _) => d.clone(),
                (None, Some(u)) => format!("keyward slot {slot} (user {u})"),
                (None, None) => format!("keyward slot {slot}"),
            },
            policy: config.policy.clone(),
            key_policy: config.key_policy(sc)?,
            store,
            login: RwLock::new(Login::default()),
            objects: RwLock::new(Objects::default()),
            kek_cache: Mutex::new(Vec::new()),
            pin_check: Mutex::new(()),
            lazy_mode: std::sync::atomic::AtomicBool::new(false),
            fingerprint_key: crate::crypto::random_secret(32).map_err(|_| Error::general("rng failed"))?,
            next_session_object: AtomicU64::new(SESSION_OBJECT_BASE),
            open_sessions: AtomicU64::new(0),
            audit: crate::audit::Audit::open(slot, &sc.path, pg.as_ref(), config, audit_kek)?,
            kms: crate::kms::TokenKms::new(&config.kms),
            refresh_every_ns: config.store.refresh_ms.saturating_mul(1_000_000),
            ext_kek,
            integrity: Default::default(),
            materialized: Mutex::new(Vec::new()),
            epoch: std::time::Instant::now(),
            refreshed_at_ns: AtomicU64::new(0),
            login_epoch: AtomicU64::new(1),
            kem_secrets: Default::default(),
            os_users: sc.allow_os_users.clone(),
            os_groups: sc.allow_os_groups.clone(),
            quorum_cache: AtomicU64::new(0),
            totp_cache: AtomicU64::new(0),
            record_cache: Mutex::new(std::collections::HashMap::new()),
            mapped_user: match &sc.user {
                Some(u) => {
                    principal::check_name(u)
                        .map_err(|e| err!(CKR_GENERAL_ERROR, "slot {slot}: user: {}", e.reason()))?;
                    Some(u.clone())
                }
                None => None,
            },
        };
        if sc.durability.unwrap_or(config.store.durability) == crate::config::Durability::Normal {
            t.store.set_durability_normal()?;
        }
        if config.store.max_pages > 0 {
            t.store.set_max_pages(config.store.max_pages)?;
        }
        let resident = sc.resident_objects.unwrap_or(config.store.resident_objects);
        let (rev, rows) = t.store.census(resident.saturating_add(1))?;
        if resident == 0 || rows > resident {
            // Too many to hold resident: nothing is read now, objects come
            // from the store when first used (`Objects::lazy`). A store
            // with MACs on its rows is bound (the first row tells: an
            // unbound store from schema 1 has none yet).
            let bound = t.store.meta_get(crate::store::META_ROWS_BOUND)?.is_some()
                || t.store.objects_after(0, 1)?.iter().any(|r| r.mac.is_some());
            t.integrity.set_bound(bound);
            t.load_public_row_key()?;
            t.start_lazy(rev, usize::try_from(resident.max(10_000)).unwrap_or(usize::MAX))?;
            log::info!("token {slot}: more than store.resident_objects = {resident} objects: read on first use");
            return Ok(t);
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
        Self::slot_info_of(self.slot, Some(&self.description))
    }

    /// The slot info of slot `slot` with this description (or the default
    /// one), also for a slot whose token is not open yet.
    pub fn slot_info_of(slot: Handle, description: Option<&str>) -> SlotInfo {
        SlotInfo {
            description: description.map(str::to_string).unwrap_or_else(|| format!("keyward slot {slot}")),
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
                // A slot mapped to a named user reports that user's PIN.
                let user = match &self.mapped_user {
                    Some(name) => self.store.principal(name)?.map(|p| if p.locked { u32::MAX } else { p.failures }),
                    None => r.user.as_ref().map(|_| r.user_failures),
                };
                if let Some(failures) = user {
                    flags |= CKF_USER_PIN_INITIALIZED;
                    flags |=
                        self.pin_flags(failures, CKF_USER_PIN_COUNT_LOW, CKF_USER_PIN_FINAL_TRY, CKF_USER_PIN_LOCKED);
                }
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

    // ---- sessions ----------------------------------------------------------

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

    /// Opens the sealed secrets of `obj`, which must have passed its
    /// integrity check.
    fn unseal_fn<'a>(
        &'a self,
        obj: &'a Object,
    ) -> impl Fn(&str, CK_ATTRIBUTE_TYPE, &[u8]) -> Result<Zeroizing<Vec<u8>>> + 'a {
        move |uid, ty, sealed| {
            self.require_intact(obj)?;
            match obj.seal_id() {
                Some(id) => self.open_dek_attr(obj, id, uid, ty, sealed),
                None => self.master()?.unseal(uid, ty, sealed),
            }
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
            // A login needs the token row, and a re-initialization by
            // another process ends it (at the next refresh): a logged-in
            // token is initialized, without a read of its row per object.
            if self.role()?.is_none() && self.store.token()?.is_none() {
                return Err(Error::new(CKR_TOKEN_NOT_RECOGNIZED, "token not initialized"));
            }
            // A named user's key is sealed under its own data key, wrapped
            // for its grantees (`grants.rs`); the others under the master key.
            let (sealed, new_dek) = if self.is_named() || n.attrs.get(CKA_KEYWARD_SEAL).is_some() {
                self.seal_for_named(&mut n, &uid)?
            } else {
                let master = if n.secrets.is_empty() { None } else { Some(self.master()?) };
                let mut sealed = Vec::with_capacity(n.secrets.len());
                for (ty, v) in &n.secrets {
                    let m = master.as_ref().ok_or_else(|| Error::general("no master key"))?;
                    sealed.push(((*ty), m.seal(&uid, *ty, v)?));
                }
                (sealed, None)
            };
            let public = codec::encode_attrs(n.attrs.iter());
            let sealed_blob = codec::encode_attrs(sealed.iter().map(|(t, v)| (*t, v.as_slice())));
            let mac = |id| self.row_mac(id, &uid, &public, &sealed_blob);
            let (id, w) = self.store.transaction_tracked(|tx| {
                for g in new_dek.iter().flat_map(|(_, rows)| rows) {
                    tx.put_grant(g)?;
                }
                tx.insert_object(&uid, &public, &sealed_blob, &mac)
            })?;
            if let Some((g, rows)) = new_dek
                && let Some(first) = rows.first()
            {
                self.hold_new_grant(&first.key_id, g)?;
            }
            let secrets = sealed.into_iter().map(|(t, v)| (t as CK_ATTRIBUTE_TYPE, Secret::Sealed(v))).collect();
            let obj = Object::new(id as Handle, uid, None, n.attrs, secrets)?;
            let h = obj.handle;
            let mut o = self.objects.write().map_err(lock_err)?;
            o.insert(Arc::new(obj));
            self.advance_locked(&mut o, w);
            Ok(h)
        } else {
            let h = self.next_session_object.fetch_add(1, Ordering::Relaxed);
            let secrets = n.secrets.into_iter().map(|(t, v)| (t, Secret::Plain(v))).collect();
            let obj = Object::from_parts(h, uid, Some(s.handle), n.attrs, secrets)?;
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
        if obj.class == CKO_PROFILE {
            return Err(Error::new(CKR_ACTION_PROHIBITED, "profile objects are not copyable"));
        }
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
        if obj.class == CKO_PROFILE {
            return Err(Error::new(CKR_ACTION_PROHIBITED, "profile objects are not destroyable"));
        }
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
            return self.delete_row(&obj);
        }
        if obj.get(CKA_DESTROYABLE).is_some_and(|v| v.first() == Some(&0)) {
            return Err(Error::new(CKR_ACTION_PROHIBITED, "object is not destroyable (CKA_DESTROYABLE is false)"));
        }
        let copy = crate::kms::attrs::copy_source(&obj).is_some();
        if obj.token && obj.is_key() && !copy && self.destroy_is_deferred()? {
            // Soft delete: restorable for the grace period (src/kms). A
            // copy is not the key: destroying it removes just the copy.
            return self.kms_soft_destroy(&obj);
        }
        if obj.token && obj.is_key() {
            // The row and the token copies that follow it (src/kms).
            return self.kms_destroy_now(&obj);
        }
        if obj.token {
            return self.delete_row(&obj);
        }
        obj.forget_material();
        self.objects.write().map_err(lock_err)?.remove(h);
        Ok(())
    }

    /// Deletes the row of the token object `obj` (no lifecycle: not a key,
    /// or one whose row failed its integrity check), then drops it from
    /// the cache with its cached material.
    fn delete_row(&self, obj: &Object) -> Result<()> {
        let id = obj.handle as i64;
        let ((), w) = self.store.transaction_tracked(|tx| tx.delete_object(id))?;
        obj.forget_material();
        self.apply_own(Changes { deletes: vec![id], ..Changes::default() }, w)
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
        if obj.class == CKO_PROFILE {
            return Err(Error::new(CKR_ATTRIBUTE_READ_ONLY, "profile objects are not modifiable"));
        }
        self.check_write(s, obj.token, obj.private)?;
        self.require_intact(&obj)?;
        if obj.is_key() {
            // A grantee without ADMIN uses the key, never changes it.
            self.require_admin_of(&obj)?;
        }
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
        let mut written = None;
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
            let id = obj.handle as i64;
            written = Some(self.store.transaction_tracked(|tx| tx.update_object(id, &public, &sealed_blob, &mac))?.1);
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
        let mut o = self.objects.write().map_err(lock_err)?;
        o.insert(new);
        if let Some(w) = written {
            self.advance_locked(&mut o, w);
        }
        Ok(())
    }

    pub fn is_initialized(&self) -> Result<bool> {
        Ok(self.store.token()?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(UtcTime::from_unix(0).format_compact(), "19700101000000");
        assert_eq!(UtcTime::from_unix(951_782_400).format_compact(), "20000229000000");
        assert_eq!(&UtcTime::from_unix(1_795_392_000).date_bytes(), b"20261123");
    }

    #[test]
    fn uids_are_unique_across_pool_refills_and_threads() {
        let mut seen = std::collections::HashSet::new();
        let mut take = |n| {
            for _ in 0..n {
                let u = new_uid().unwrap();
                assert!(u.len() == 32 && u.bytes().all(|b| b.is_ascii_hexdigit()), "{u}");
                assert!(seen.insert(u), "a UID came out twice");
            }
        };
        take(3 * crate::crypto::rand::ID_POOL / 16 + 5);
        // Key ids share the pool: never one of the UIDs' bytes.
        for _ in 0..40 {
            let id = String::from_utf8(crate::object::vendor::new_key_id().unwrap()).unwrap();
            assert!(id.len() == 32 && seen.insert(id), "a key id repeated pool bytes");
        }
        let other: Vec<String> = std::thread::spawn(|| (0..100).map(|_| new_uid().unwrap()).collect()).join().unwrap();
        for u in other {
            assert!(seen.insert(u), "two threads drew the same UID");
        }
    }
}
