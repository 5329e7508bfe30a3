//! Process state: the safe API that both the C ABI and the CLI call.
//!
//! `Library` owns the configuration, one `Token` per slot and the session
//! table. The ABI keeps one global instance (see [`global`]); the CLI builds
//! its own with [`Library::new`]. Every PKCS#11 function has a method here
//! taking plain Rust values (see `types.rs`).
//!
//! Output convention: methods that produce bytes take `out: Option<&mut [u8]>`.
//! `None` is a length query and returns a length that suffices without ending
//! the operation; `Some(buf)` writes and returns the bytes written, or fails
//! with `Error::buffer_too_small(needed)` leaving the operation active.

mod kms;
mod message;
mod slot;
mod users;

use crate::audit::record::{KeyArg, Kind};
use crate::audit::{Call, Op, Outcome};
use crate::ck::*;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::token::Token;
use crate::token::session::Session;
use crate::types::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// The audit envelope of a call on `t` that `call` describes
/// (`Audit::around`: the library's per-call hook).
fn audited<T: Outcome>(t: &Token, call: Call, f: impl FnOnce() -> Result<T>) -> Result<T> {
    t.audit().around(&mut (), |_| call, t, |_| f())
}

/// The audit envelope of a single-part or final call `function` of the
/// operation `op` active in `s` (`query`: a length query, not recorded);
/// the record's `Call` is built from the session only when the call is
/// recorded.
fn audited_op<T: Outcome>(
    t: &Token,
    s: &mut Session,
    function: &'static str,
    op: Op,
    query: bool,
    f: impl FnOnce(&mut Session) -> Result<T>,
) -> Result<T> {
    t.audit().around(s, |s| Call::op(function, s, op).query(query), t, f)
}

/// The `Call`s of the calls on a session's active operation (single-part,
/// final, message): the key and mechanism that operation was started with.
impl Call {
    /// A single-part or final call of the operation `op` active in `s`.
    pub fn op(function: &'static str, s: &Session, op: Op) -> Call {
        let (key, mech) = match op {
            Op::Encrypt => s.encrypt.as_ref().map(|o| (o.key.clone(), o.mechanism)),
            Op::Decrypt => s.decrypt.as_ref().map(|o| (o.key.clone(), o.mechanism)),
            Op::Sign => s.sign.as_ref().map(|o| (o.key.clone(), o.mechanism)),
            Op::Verify => s.verify.as_ref().map(|o| (o.key.clone(), o.mechanism)),
        }
        .unzip();
        Call::completion(function, s.handle, mech, key.map(|k| KeyArg::Object(k)))
    }
    /// A message of the message-based operation active in `s`.
    pub fn message(function: &'static str, s: &Session, encrypt: bool) -> Call {
        let op = if encrypt { s.message_encrypt.as_ref() } else { s.message_decrypt.as_ref() };
        let (key, mech) = op.map(|o| (o.key.clone(), o.mechanism)).unzip();
        Call::completion(function, s.handle, mech, key.map(|k| KeyArg::Object(k)))
    }
}

pub struct Library {
    pub(crate) config: Config,
    pub(crate) opts: InitOptions,
    pub(crate) slots: Vec<slot::Slot>,
    pub(crate) sessions: RwLock<HandleMap<Arc<Mutex<Session>>>>,
    next_session: AtomicU64,
}

/// The process-wide instance behind the C ABI, with the pid that created it
/// and the fork generation it was created in (a forked child sees
/// `CKR_CRYPTOKI_NOT_INITIALIZED`).
static GLOBAL: RwLock<Option<(u32, u64, Arc<Library>)>> = RwLock::new(None);

/// Bumped in the child of every fork (the ABI registers [`note_fork_in_child`]
/// with `pthread_atfork`), so that [`global`] detects a fork without a
/// `getpid` system call on every PKCS#11 call.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Called in a forked child (async-signal-safe: one atomic add).
pub fn note_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// The global library, or `CKR_CRYPTOKI_NOT_INITIALIZED`.
pub fn global() -> Result<Arc<Library>> {
    let g = GLOBAL.read().map_err(|_| Error::general("library lock poisoned"))?;
    match &*g {
        Some((_, generation, lib)) if *generation == FORK_GENERATION.load(Ordering::Relaxed) => Ok(lib.clone()),
        _ => Err(Error::new(CKR_CRYPTOKI_NOT_INITIALIZED, "C_Initialize has not been called")),
    }
}

/// C_Initialize: builds the global library.
pub fn initialize(opts: InitOptions) -> Result<()> {
    let mut g = GLOBAL.write().map_err(|_| Error::general("library lock poisoned"))?;
    if let Some((pid, _, _)) = &*g {
        if *pid == std::process::id() {
            return Err(Error::new(CKR_CRYPTOKI_ALREADY_INITIALIZED, "C_Initialize called twice"));
        }
        // A forked child: forget the parent's state without touching it
        // (its SQLite handles belong to the parent).
        if let Some((_, _, lib)) = g.take() {
            std::mem::forget(lib);
        }
    }
    crate::logging::init();
    let config = Config::load(None).inspect_err(|e| log::error!("C_Initialize: {e}"))?;
    let lib = Library::new(config, opts).inspect_err(|e| log::error!("C_Initialize: {e}"))?;
    *g = Some((std::process::id(), FORK_GENERATION.load(Ordering::SeqCst), Arc::new(lib)));
    Ok(())
}

/// C_Finalize: drops the global library (sessions close, cached keys zeroize).
pub fn finalize() -> Result<()> {
    let mut g = GLOBAL.write().map_err(|_| Error::general("library lock poisoned"))?;
    match g.take() {
        Some((pid, _, lib)) if pid == std::process::id() => {
            lib.close_everything();
            Ok(())
        }
        Some((_, _, lib)) => {
            std::mem::forget(lib);
            Err(Error::new(CKR_CRYPTOKI_NOT_INITIALIZED, "C_Initialize has not been called in this process"))
        }
        None => Err(Error::new(CKR_CRYPTOKI_NOT_INITIALIZED, "C_Initialize has not been called")),
    }
}

/// The `[testing]` hooks of `config`, armed or disarmed for this process,
/// loudly: a test hook in a production configuration is a defect.
fn arm_test_hooks(config: &Config) {
    use crate::kms::clock;
    let on = config.testing.allow_test_clock;
    clock::allow_test_clock(on);
    if on {
        log::warn!(
            "TEST HOOK ENABLED by [testing] allow_test_clock = true in {}: ${} moves the key lifecycle clock \
             (expiry, rotation, deletion grace, purge). Never use this configuration in production.",
            config.source,
            clock::TEST_NOW_ENV
        );
    } else if clock::test_now().is_some() {
        log::warn!(
            "${} is set and ignored: the configuration {} does not opt into test hooks ([testing] allow_test_clock)",
            clock::TEST_NOW_ENV,
            config.source
        );
    }
}

impl Library {
    /// Builds a library over the configured slots (used by C_Initialize and
    /// by the CLI).
    pub fn new(config: Config, opts: InitOptions) -> Result<Library> {
        arm_test_hooks(&config);
        let slots = (0..config.slots.len())
            .map(|i| slot::Slot::new(i, &config, opts.no_threads))
            .collect::<Result<Vec<_>>>()?;
        Ok(Library {
            config,
            opts,
            slots,
            sessions: RwLock::new(HandleMap::default()),
            next_session: AtomicU64::new(1),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The options C_Initialize was called with (e.g. no background threads).
    pub fn options(&self) -> &InitOptions {
        &self.opts
    }

    fn close_everything(&self) {
        if let Ok(mut s) = self.sessions.write() {
            s.clear();
        }
        for t in self.slots.iter().filter_map(slot::Slot::get) {
            t.on_all_sessions_closed();
        }
    }

    /// The token of `slot`, opened first if it is not yet (a PostgreSQL
    /// slot whose server was unreachable: `library/slot.rs`).
    pub fn token(&self, slot: Handle) -> Result<&Arc<Token>> {
        self.slot(slot)?.token(&self.config)
    }

    fn slot(&self, slot: Handle) -> Result<&slot::Slot> {
        self.slots.get(slot as usize).ok_or_else(|| crate::err!(CKR_SLOT_ID_INVALID, "no slot {slot}"))
    }

    pub(crate) fn session(&self, h: Handle) -> Result<Arc<Mutex<Session>>> {
        let map = self.sessions.read().map_err(|_| Error::general("session table poisoned"))?;
        map.get(&h).cloned().ok_or_else(|| crate::err!(CKR_SESSION_HANDLE_INVALID, "no session {h}"))
    }

    /// Runs `f` with the session `h` locked and its token.
    pub(crate) fn with_session<T>(
        &self,
        h: Handle,
        f: impl FnOnce(&mut Session, &Arc<Token>) -> Result<T>,
    ) -> Result<T> {
        let _call = crate::clock::begin_call();
        let s = self.session(h)?;
        let mut guard = s.lock().map_err(|_| Error::general("session lock poisoned"))?;
        // Borrowed from the slot table (no reference-count traffic on the
        // token shared by every thread).
        let token = self.token(guard.slot)?;
        f(&mut guard, token)
    }

    /// Runs one call on the session's operation of `kind` (single-part,
    /// Update, Final): an error other than `CKR_BUFFER_TOO_SMALL` ends that
    /// operation before the session is unlocked, however it arose (the
    /// mechanism, a policy or login check, the audit log refusing; PKCS#11
    /// 2.40, in each of these functions; DESIGN.md §3). Length queries and
    /// successful Updates keep it.
    fn op<T>(&self, h: Handle, kind: OpKind, f: impl FnOnce(&mut Session, &Arc<Token>) -> Result<T>) -> Result<T> {
        self.with_session(h, |s, t| {
            // (a named user's key: its grant may have been revoked meanwhile)
            let r = t.check_active_grant(s, kind).and_then(|()| f(s, t));
            if let Err(e) = &r
                && !e.keeps_operation()
            {
                s.end(kind);
            }
            r
        })
    }

    /// The same rule for an error found before the call reached the
    /// library (the C boundary's pointer checks): ends the session's
    /// operation of `kind` unless `e` keeps it, and hands `e` back.
    pub fn abandon(&self, h: Handle, kind: OpKind, e: Error) -> Error {
        if !e.keeps_operation()
            && let Ok(s) = self.session(h)
            && let Ok(mut s) = s.lock()
        {
            s.end(kind);
        }
        e
    }

    /// C_*Init with a NULL mechanism (PKCS#11 3.0): ends the active
    /// operation of `kind`. With none active the NULL is a bad argument.
    pub fn cancel_init(&self, h: Handle, kind: OpKind) -> Result<()> {
        self.with_session(h, |s, _| {
            if s.end(kind) { Ok(()) } else { Err(Error::args("NULL mechanism and no active operation to cancel")) }
        })
    }

    // ---- general -------------------------------------------------------

    pub fn info(&self) -> LibraryInfo {
        LibraryInfo {
            cryptoki_version: (3, 0),
            manufacturer: "keyward".into(),
            description: "keyward software HSM".into(),
            library_version: crate::types::MODULE_VERSION,
        }
    }

    pub fn slot_list(&self, _token_present: bool) -> Vec<Handle> {
        (0..self.slots.len() as Handle).collect()
    }

    pub fn slot_info(&self, slot: Handle) -> Result<SlotInfo> {
        Ok(self.slot(slot)?.info(&self.config))
    }

    pub fn token_info(&self, slot: Handle) -> Result<TokenInfo> {
        let t = self.token(slot)?;
        let (count, rw) = self.session_counts(slot)?;
        t.token_info(count, rw)
    }

    fn session_counts(&self, slot: Handle) -> Result<(CK_ULONG, CK_ULONG)> {
        let map = self.sessions.read().map_err(|_| Error::general("session table poisoned"))?;
        let mut n = 0;
        let mut rw = 0;
        for s in map.values() {
            let s = s.lock().map_err(|_| Error::general("session lock poisoned"))?;
            if s.slot == slot {
                n += 1;
                if s.rw {
                    rw += 1;
                }
            }
        }
        Ok((n, rw))
    }

    pub fn mechanism_list(&self, slot: Handle) -> Result<Vec<CK_MECHANISM_TYPE>> {
        self.slot(slot)?;
        Ok(crate::mechanism::registry::list())
    }

    pub fn mechanism_info(&self, slot: Handle, ty: CK_MECHANISM_TYPE) -> Result<MechanismInfo> {
        let policy = match self.slot(slot)?.get() {
            Some(t) => t.key_policy().clone(),
            None => self.config.key_policy(&self.config.slots[slot as usize])?,
        };
        crate::mechanism::registry::info(ty).map(|i| policy.advertise(ty, i))
    }

    pub fn init_token(&self, slot: Handle, so_pin: &[u8], label: &str) -> Result<()> {
        let t = self.token(slot)?;
        let (count, _) = self.session_counts(slot)?;
        if count > 0 {
            return Err(Error::new(CKR_SESSION_EXISTS, "close all sessions before C_InitToken"));
        }
        audited(t, Call::auth("C_InitToken", None, "token.initialized").token_label(label), || {
            t.init_token(so_pin, label)
        })
    }

    pub fn init_pin(&self, h: Handle, pin: &[u8]) -> Result<()> {
        self.with_session(h, |s, t| {
            audited(t, Call::auth("C_InitPIN", Some(h), "pin.initialized"), || t.init_pin(s, pin))
        })
    }

    pub fn set_pin(&self, h: Handle, old: &[u8], new: &[u8]) -> Result<()> {
        self.with_session(h, |s, t| {
            audited(t, Call::auth("C_SetPIN", Some(h), "pin.changed"), || t.set_pin(s, old, new))
        })
    }

    // ---- sessions ------------------------------------------------------

    pub fn open_session(&self, slot: Handle, flags: CK_FLAGS) -> Result<Handle> {
        let t = self.token(slot)?.clone();
        if flags & CKF_SERIAL_SESSION == 0 {
            return Err(Error::new(CKR_SESSION_PARALLEL_NOT_SUPPORTED, "CKF_SERIAL_SESSION must be set"));
        }
        let rw = flags & CKF_RW_SESSION != 0;
        let mut map = self.sessions.write().map_err(|_| Error::general("session table poisoned"))?;
        t.check_open_session(rw)?;
        let h = self.next_session.fetch_add(1, Ordering::Relaxed);
        map.insert(h, Arc::new(Mutex::new(Session::new(h, slot, rw))));
        t.on_session_opened();
        Ok(h)
    }

    pub fn close_session(&self, h: Handle) -> Result<()> {
        let mut map = self.sessions.write().map_err(|_| Error::general("session table poisoned"))?;
        let s = map.remove(&h).ok_or_else(|| crate::err!(CKR_SESSION_HANDLE_INVALID, "no session {h}"))?;
        let slot = s.lock().map_err(|_| Error::general("session lock poisoned"))?.slot;
        let t = self.token(slot)?;
        t.on_session_closed(h);
        if !map.values().any(|o| o.lock().map(|o| o.slot == slot).unwrap_or(false)) {
            t.on_all_sessions_closed();
        }
        Ok(())
    }

    pub fn close_all_sessions(&self, slot: Handle) -> Result<()> {
        let t = self.token(slot)?;
        let mut map = self.sessions.write().map_err(|_| Error::general("session table poisoned"))?;
        let mine: Vec<Handle> =
            map.iter().filter(|(_, s)| s.lock().map(|s| s.slot == slot).unwrap_or(false)).map(|(h, _)| *h).collect();
        for h in mine {
            map.remove(&h);
            t.on_session_closed(h);
        }
        t.on_all_sessions_closed();
        Ok(())
    }

    pub fn session_info(&self, h: Handle) -> Result<SessionInfo> {
        self.with_session(h, |s, t| Ok(t.session_info(s)))
    }

    pub fn login(&self, h: Handle, user: CK_USER_TYPE, pin: &[u8]) -> Result<()> {
        self.login_user(h, user, pin, None)
    }

    /// C_LoginUser: as [`Library::login`], as the named user `name`
    /// (`None`: C_Login; see `Token::login_as`).
    pub fn login_user(&self, h: Handle, user: CK_USER_TYPE, pin: &[u8], name: Option<&str>) -> Result<()> {
        let user = UserType::from_ck(user).ok_or_else(|| crate::err!(CKR_USER_TYPE_INVALID, "user type {user}"))?;
        let s = self.session(h)?;
        let slot = s.lock().map_err(|_| Error::general("session lock poisoned"))?.slot;
        let t = self.token(slot)?.clone();
        if user == UserType::ContextSpecific {
            let mut g = s.lock().map_err(|_| Error::general("session lock poisoned"))?;
            return audited(&t, Call::auth("C_Login", Some(h), "auth.login_context_specific"), || {
                t.login_context_specific(&mut g, pin)
            });
        }
        // SO login is refused while read-only sessions exist.
        let has_ro = {
            let map = self.sessions.read().map_err(|_| Error::general("session table poisoned"))?;
            map.values().any(|o| o.lock().map(|o| o.slot == slot && !o.rw).unwrap_or(false))
        };
        let function = if name.is_some() { "C_LoginUser" } else { "C_Login" };
        let who = name.map(str::to_string).or_else(|| t.mapped_user().map(str::to_string));
        let details = match &who {
            Some(n) => serde_json::json!({ "user_type": format!("{user:?}"), "user": n }),
            None => serde_json::json!({ "user_type": format!("{user:?}") }),
        };
        audited(&t, Call::auth(function, Some(h), "auth.login").details(details), || {
            t.login_as(user, pin, name, has_ro)
        })
    }

    pub fn logout(&self, h: Handle) -> Result<()> {
        self.with_session(h, |_, t| audited(t, Call::auth("C_Logout", Some(h), "auth.logout"), || t.logout()))
    }

    // ---- objects -------------------------------------------------------

    pub fn create_object(&self, h: Handle, template: &[Attr]) -> Result<Handle> {
        self.with_session(h, |s, t| {
            audited(t, Call::object("C_CreateObject", h, "object.created").attrs(template), || {
                t.create_object(s, template).map(|o| t.issue(o))
            })
        })
    }

    pub fn copy_object(&self, h: Handle, obj: Handle, template: &[Attr]) -> Result<Handle> {
        self.with_session(h, |s, t| {
            audited(t, Call::object("C_CopyObject", h, "object.copied").key(obj).attrs(template), || {
                t.copy_object(s, obj, template).map(|o| t.issue(o))
            })
        })
    }

    pub fn destroy_object(&self, h: Handle, obj: Handle) -> Result<()> {
        self.with_session(h, |s, t| {
            audited(t, Call::object("C_DestroyObject", h, "object.destroyed").key(obj), || t.destroy_object(s, obj))
        })
    }

    pub fn object_size(&self, h: Handle, obj: Handle) -> Result<CK_ULONG> {
        self.with_session(h, |s, t| t.object_size(s, obj))
    }

    pub fn get_attribute_values(&self, h: Handle, obj: Handle, types: &[CK_ATTRIBUTE_TYPE]) -> Result<Vec<AttrValue>> {
        self.with_session(h, |s, t| t.get_attribute_values(s, obj, types))
    }

    pub fn set_attribute_values(&self, h: Handle, obj: Handle, template: &[Attr]) -> Result<()> {
        self.with_session(h, |s, t| {
            audited(t, Call::object("C_SetAttributeValue", h, "object.updated").key(obj).attrs(template), || {
                t.set_attribute_values(s, obj, template)
            })
        })
    }

    pub fn find_objects_init(&self, h: Handle, template: &[Attr]) -> Result<()> {
        self.with_session(h, |s, t| t.find_init(s, template))
    }

    pub fn find_objects(&self, h: Handle, max: usize) -> Result<Vec<Handle>> {
        self.with_session(h, |s, _| s.find_next(max))
    }

    pub fn find_objects_final(&self, h: Handle) -> Result<()> {
        self.with_session(h, |s, _| s.find_final())
    }

    // ---- crypto --------------------------------------------------------

    pub fn encrypt_init(&self, h: Handle, mech: &Mechanism, key: Handle) -> Result<()> {
        self.with_session(h, |s, t| {
            audited(t, Call::crypto("C_EncryptInit", h, mech, key), || t.cipher_init(s, mech, key, true))
        })
    }
    pub fn encrypt(&self, h: Handle, data: &[u8], out: Option<&mut [u8]>) -> Result<usize> {
        self.op(h, OpKind::Encrypt, |s, t| {
            audited_op(t, s, "C_Encrypt", Op::Encrypt, out.is_none(), |s| s.cipher_oneshot(true, data, out))
        })
    }
    pub fn encrypt_update(&self, h: Handle, data: &[u8], out: Option<&mut [u8]>) -> Result<usize> {
        self.op(h, OpKind::Encrypt, |s, _| s.cipher_update(true, data, out))
    }
    pub fn encrypt_final(&self, h: Handle, out: Option<&mut [u8]>) -> Result<usize> {
        self.op(h, OpKind::Encrypt, |s, t| {
            audited_op(t, s, "C_EncryptFinal", Op::Encrypt, out.is_none(), |s| s.cipher_final(true, out))
        })
    }

    pub fn decrypt_init(&self, h: Handle, mech: &Mechanism, key: Handle) -> Result<()> {
        self.with_session(h, |s, t| {
            audited(t, Call::crypto("C_DecryptInit", h, mech, key), || t.cipher_init(s, mech, key, false))
        })
    }
    pub fn decrypt(&self, h: Handle, data: &[u8], out: Option<&mut [u8]>) -> Result<usize> {
        self.op(h, OpKind::Decrypt, |s, t| {
            audited_op(t, s, "C_Decrypt", Op::Decrypt, out.is_none(), |s| s.cipher_oneshot(false, data, out))
        })
    }
    pub fn decrypt_update(&self, h: Handle, data: &[u8], out: Option<&mut [u8]>) -> Result<usize> {
        self.op(h, OpKind::Decrypt, |s, _| s.cipher_update(false, data, out))
    }
    pub fn decrypt_final(&self, h: Handle, out: Option<&mut [u8]>) -> Result<usize> {
        self.op(h, OpKind::Decrypt, |s, t| {
            audited_op(t, s, "C_DecryptFinal", Op::Decrypt, out.is_none(), |s| s.cipher_final(false, out))
        })
    }

    pub fn digest_init(&self, h: Handle, mech: &Mechanism) -> Result<()> {
        self.with_session(h, |s, t| {
            t.key_policy().check_digest(mech)?;
            s.digest_init(mech)
        })
    }
    pub fn digest(&self, h: Handle, data: &[u8], out: Option<&mut [u8]>) -> Result<usize> {
        self.op(h, OpKind::Digest, |s, _| s.digest_oneshot(data, out))
    }
    pub fn digest_update(&self, h: Handle, data: &[u8]) -> Result<()> {
        self.op(h, OpKind::Digest, |s, _| s.digest_update(data))
    }
    pub fn digest_key(&self, h: Handle, key: Handle) -> Result<()> {
        self.op(h, OpKind::Digest, |s, t| {
            audited(t, Call::new("C_DigestKey", Kind::Crypto, Some(h)).key(key), || t.digest_key(s, key))
        })
    }
    /// C_GetOperationState (digest operations only, `mechanism::digest::state`).
    pub fn operation_state(&self, h: Handle, out: Option<&mut [u8]>) -> Result<usize> {
        self.with_session(h, |s, _| {
            let st = s.operation_state()?;
            match out {
                None => Ok(st.len()),
                Some(buf) if buf.len() < st.len() => Err(Error::buffer_too_small(st.len())),
                Some(buf) => {
                    buf[..st.len()].copy_from_slice(&st);
                    Ok(st.len())
                }
            }
        })
    }

    /// C_SetOperationState: a digest state needs no key (`CKR_KEY_NOT_NEEDED`
    /// when one is given); the token's policy is checked again.
    pub fn set_operation_state(&self, h: Handle, state: &[u8], enc_key: Handle, auth_key: Handle) -> Result<()> {
        self.with_session(h, |s, t| {
            let (d, multipart, ty) = crate::mechanism::digest::state::restore(state)?;
            if enc_key != CK_INVALID_HANDLE || auth_key != CK_INVALID_HANDLE {
                return Err(Error::new(CKR_KEY_NOT_NEEDED, "a digest state needs no key"));
            }
            t.key_policy().check_digest(&Mechanism::new(ty))?;
            s.restore_digest(d, multipart);
            Ok(())
        })
    }

    pub fn digest_final(&self, h: Handle, out: Option<&mut [u8]>) -> Result<usize> {
        self.op(h, OpKind::Digest, |s, _| s.digest_final(out))
    }

    pub fn sign_init(&self, h: Handle, mech: &Mechanism, key: Handle) -> Result<()> {
        self.with_session(h, |s, t| {
            audited(t, Call::crypto("C_SignInit", h, mech, key), || t.sign_init(s, mech, key, true))
        })
    }
    pub fn sign(&self, h: Handle, data: &[u8], out: Option<&mut [u8]>) -> Result<usize> {
        self.op(h, OpKind::Sign, |s, t| {
            audited_op(t, s, "C_Sign", Op::Sign, out.is_none(), |s| s.sign_oneshot(data, out))
        })
    }
    pub fn sign_update(&self, h: Handle, data: &[u8]) -> Result<()> {
        self.op(h, OpKind::Sign, |s, _| s.sign_update(true, data))
    }
    pub fn sign_final(&self, h: Handle, out: Option<&mut [u8]>) -> Result<usize> {
        self.op(h, OpKind::Sign, |s, t| audited_op(t, s, "C_SignFinal", Op::Sign, out.is_none(), |s| s.sign_final(out)))
    }

    pub fn verify_init(&self, h: Handle, mech: &Mechanism, key: Handle) -> Result<()> {
        self.with_session(h, |s, t| {
            audited(t, Call::crypto("C_VerifyInit", h, mech, key), || t.sign_init(s, mech, key, false))
        })
    }
    pub fn verify(&self, h: Handle, data: &[u8], signature: &[u8]) -> Result<()> {
        self.op(h, OpKind::Verify, |s, t| {
            audited_op(t, s, "C_Verify", Op::Verify, false, |s| s.verify_oneshot(data, signature))
        })
    }
    pub fn verify_update(&self, h: Handle, data: &[u8]) -> Result<()> {
        self.op(h, OpKind::Verify, |s, _| s.sign_update(false, data))
    }
    pub fn verify_final(&self, h: Handle, signature: &[u8]) -> Result<()> {
        self.op(h, OpKind::Verify, |s, t| {
            audited_op(t, s, "C_VerifyFinal", Op::Verify, false, |s| s.verify_final(signature))
        })
    }

    // ---- PKCS#11 3.2: C_VerifySignature*, C_EncapsulateKey, C_DecapsulateKey ----

    /// C_VerifySignatureInit: a verify operation holding the signature.
    pub fn verify_signature_init(&self, h: Handle, mech: &Mechanism, key: Handle, signature: &[u8]) -> Result<()> {
        self.with_session(h, |s, t| {
            audited(t, Call::crypto("C_VerifySignatureInit", h, mech, key), || {
                t.sign_init(s, mech, key, false)?;
                if let Some(op) = s.verify.as_mut() {
                    op.signature = Some(signature.to_vec());
                }
                Ok(())
            })
        })
    }
    pub fn verify_signature(&self, h: Handle, data: &[u8]) -> Result<()> {
        self.op(h, OpKind::Verify, |s, t| {
            audited_op(t, s, "C_VerifySignature", Op::Verify, false, |s| s.verify_signature(data))
        })
    }
    pub fn verify_signature_update(&self, h: Handle, data: &[u8]) -> Result<()> {
        self.op(h, OpKind::Verify, |s, _| s.verify_signature_update(data))
    }
    pub fn verify_signature_final(&self, h: Handle) -> Result<()> {
        self.op(h, OpKind::Verify, |s, t| {
            audited_op(t, s, "C_VerifySignatureFinal", Op::Verify, false, |s| s.verify_signature_final())
        })
    }

    /// C_EncapsulateKey: `out` None is the ciphertext length query (no key
    /// is made). Returns the ciphertext length and the new key's handle.
    pub fn encapsulate_key(
        &self,
        h: Handle,
        mech: &Mechanism,
        key: Handle,
        template: &[Attr],
        out: Option<&mut [u8]>,
    ) -> Result<(usize, Option<Handle>)> {
        self.with_session(h, |s, t| {
            let query = out.is_none();
            audited(t, Call::crypto("C_EncapsulateKey", h, mech, key).query(query).event("key.encapsulated"), || {
                t.encapsulate_key(s, mech, key, template, out).map(|(n, o)| (n, o.map(|o| t.issue(o))))
            })
        })
    }

    pub fn decapsulate_key(
        &self,
        h: Handle,
        mech: &Mechanism,
        key: Handle,
        template: &[Attr],
        ciphertext: &[u8],
    ) -> Result<Handle> {
        self.with_session(h, |s, t| {
            audited(t, Call::crypto("C_DecapsulateKey", h, mech, key).event("key.decapsulated"), || {
                t.decapsulate_key(s, mech, key, template, ciphertext).map(|o| t.issue(o))
            })
        })
    }

    pub fn generate_key(&self, h: Handle, mech: &Mechanism, template: &[Attr]) -> Result<Handle> {
        self.with_session(h, |s, t| {
            audited(t, Call::object("C_GenerateKey", h, "key.generated").mech(mech).attrs(template), || {
                t.generate_key(s, mech, template).map(|o| t.issue(o))
            })
        })
    }

    pub fn generate_key_pair(
        &self,
        h: Handle,
        mech: &Mechanism,
        public_template: &[Attr],
        private_template: &[Attr],
    ) -> Result<(Handle, Handle)> {
        self.with_session(h, |s, t| {
            audited(t, Call::object("C_GenerateKeyPair", h, "key.generated").mech(mech), || {
                t.generate_key_pair(s, mech, public_template, private_template).map(|(a, b)| (t.issue(a), t.issue(b)))
            })
        })
    }

    pub fn wrap_key(
        &self,
        h: Handle,
        mech: &Mechanism,
        wrapping_key: Handle,
        key: Handle,
        out: Option<&mut [u8]>,
    ) -> Result<usize> {
        self.with_session(h, |s, t| {
            audited(
                t,
                Call::crypto("C_WrapKey", h, mech, wrapping_key)
                    .query(out.is_none())
                    .details(serde_json::json!({ "wrapped_key": key })),
                || t.wrap_key(s, mech, wrapping_key, key, out),
            )
        })
    }

    pub fn unwrap_key(
        &self,
        h: Handle,
        mech: &Mechanism,
        unwrapping_key: Handle,
        wrapped: &[u8],
        template: &[Attr],
    ) -> Result<Handle> {
        self.with_session(h, |s, t| {
            audited(t, Call::crypto("C_UnwrapKey", h, mech, unwrapping_key).event("key.unwrapped"), || {
                t.unwrap_key(s, mech, unwrapping_key, wrapped, template).map(|o| t.issue(o))
            })
        })
    }

    pub fn derive_key(&self, h: Handle, mech: &Mechanism, base_key: Handle, template: &[Attr]) -> Result<Handle> {
        self.derive_keys(h, mech, base_key, template).map(|(k, _)| k)
    }

    /// C_DeriveKey with the additional keys an SP 800-108 mechanism names
    /// (`types::kdf::Kbkdf::additional`): the key, then theirs in order.
    pub fn derive_keys(
        &self,
        h: Handle,
        mech: &Mechanism,
        base_key: Handle,
        template: &[Attr],
    ) -> Result<(Handle, Vec<Handle>)> {
        self.with_session(h, |s, t| {
            audited(t, Call::crypto("C_DeriveKey", h, mech, base_key).event("key.derived"), || {
                t.derive_keys(s, mech, base_key, template)
                    .map(|(o, more)| (t.issue(o), more.into_iter().map(|o| t.issue(o)).collect()))
            })
        })
    }

    /// C_SeedRandom: the seed is DRBG additional input, never a replacement
    /// for the engine's entropy (see `crypto::rand`).
    pub fn seed_random(&self, h: Handle, seed: &[u8]) -> Result<()> {
        self.session(h)?;
        crate::crypto::seed_random(seed).map_err(|e| Error::general(format!("rng: {e:?}")))
    }

    pub fn generate_random(&self, h: Handle, out: &mut [u8]) -> Result<()> {
        self.session(h)?;
        crate::crypto::random_fill(out).map_err(|e| Error::general(format!("rng: {e:?}")))
    }

    /// C_SessionCancel (3.0): ends the operations named in `flags`.
    pub fn session_cancel(&self, h: Handle, flags: CK_FLAGS) -> Result<()> {
        self.with_session(h, |s, _| {
            s.cancel(flags);
            Ok(())
        })
    }
}
