//! The tamper-evident audit log, state-change events and metrics.
//!
//! Owns: `<token dir>/audit.jsonl` (+ rotated `audit-<seq>.jsonl`, the
//! `audit.lock` file), the `audit.*` keys of the store's meta table, the
//! event sinks and the metrics textfile. Must not touch: token state,
//! sessions, key material (records name keys by UID/label/version only;
//! PINs and secret attributes never reach this module).
//!
//! Flow: `Library` wraps each PKCS#11 call in a [`Call`] through
//! `Token::audited` (`token::audited`), which runs it and hands what it saw
//! ([`Done`]: names, handles, an `Arc` of the key object as
//! [`record::Named`], the CK_RV) to [`Audit::record`]; that builds a
//! [`record::Pending`] and hands it over:
//! - crypto records and session-object records are pushed onto a queue
//!   (a short lock, no system call); a background writer thread takes
//!   whatever queued up every `audit.flush_ms` (or at `audit.max_batch`),
//!   coalesces identical successful key uses into one record with a count
//!   (`record::coalesce`, `audit.coalesce`), formats, MACs, writes and
//!   fsyncs the batch, updates metrics and publishes events;
//! - auth, lifecycle and token-object records (`sync`) are written by the
//!   caller's thread before the call returns, after the records queued
//!   before them (the writer lock is taken before the queue, by both, so
//!   the log keeps call order): a SIGKILL after the call returned loses
//!   none of them. In "batch" mode their fsync is left to the writer
//!   thread's next pass (within `audit.flush_ms`/`audit.anchor_ms`); in
//!   "always" mode the caller fsyncs and moves the anchor;
//! - with `CKF_LIBRARY_CANT_CREATE_OS_THREADS` there is no thread: records
//!   collect in memory and are written inline in batches (every
//!   `audit.max_batch` records, every `audit.flush_ms`, at every sync
//!   record, and at C_Finalize).
//!
//! Crash-loss window (`audit.sync = "batch"`): a SIGKILL loses only async
//! records still queued (at most ~`flush_ms` + `anchor_ms` of them); a power
//! loss can also lose records written since the last fsync (as old). The
//! anchor only ever covers fsync'ed records, so a power loss does not make
//! `audit verify` fail, and a tail truncated by an attacker within that
//! window goes unnoticed. Without threads the window is up to
//! `audit.max_batch` records or `audit.flush_ms`. `audit.sync = "always"`
//! makes every call wait for its fsync.
//!
//! A log that cannot be written: `audit.on_failure` (auth, lifecycle,
//! token objects; default "refuse" = CKR_DEVICE_ERROR) and
//! `audit.on_failure_async` (crypto; default "continue", with a message on
//! stderr). While the log is broken, "refuse" also refuses calls before
//! they run.
//!
//! See `chain.rs` for the MAC chain and the threat model.

pub mod chain;
pub mod config;
pub mod events;
pub mod metrics;
pub mod record;
pub mod verify;
pub mod writer;

use crate::ck::*;
use crate::error::{Error, Result};
use config::{AuditConfig, MetricsConfig, OnFailure, SyncMode, Tables};
use record::{KeyArg, Kind, Pending, Record, RoleName};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

pub use chain::{Broken, ChainState, Verified};
pub use verify::verify_dir;
pub use writer::{KeySealer, Meta};

/// An object, session or slot handle.
type Handle = CK_ULONG;

pub const LOG_FILE: &str = "audit.jsonl";
pub const LOCK_FILE: &str = "audit.lock";

/// A key lifecycle change, for the KMS calls (`Token::audit_lifecycle` in
/// `token::audited`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    Created,
    Rotated,
    Disabled,
    Enabled,
    DeletionScheduled,
    Restored,
    Purged,
    Imported,
    TagsChanged,
    PrimaryChanged,
    RotationScheduleChanged,
    Expired,
}

impl Lifecycle {
    /// The event name; the CloudEvents type is `dev.keyward.<name>`.
    pub fn event(self) -> &'static str {
        match self {
            Lifecycle::Created => "key.created",
            Lifecycle::Rotated => "key.rotated",
            Lifecycle::Disabled => "key.disabled",
            Lifecycle::Enabled => "key.enabled",
            Lifecycle::DeletionScheduled => "key.deletion_scheduled",
            Lifecycle::Restored => "key.restored",
            Lifecycle::Purged => "key.purged",
            Lifecycle::Imported => "key.imported",
            Lifecycle::TagsChanged => "key.tags_changed",
            Lifecycle::PrimaryChanged => "key.primary_changed",
            Lifecycle::RotationScheduleChanged => "key.rotation_schedule_changed",
            Lifecycle::Expired => "key.expired",
        }
    }
    /// Alert severity: syslog WARNING and `severity = "alert"`.
    pub fn alert(self) -> bool {
        matches!(self, Lifecycle::Disabled | Lifecycle::DeletionScheduled | Lifecycle::Purged)
    }
}

/// What a call produced that the record names: created objects.
pub trait Outcome {
    fn created(&self) -> Vec<Handle> {
        Vec::new()
    }
}
impl Outcome for () {}
impl Outcome for usize {}
impl Outcome for Handle {
    fn created(&self) -> Vec<Handle> {
        vec![*self]
    }
}
impl Outcome for (Handle, Handle) {
    fn created(&self) -> Vec<Handle> {
        vec![self.0, self.1]
    }
}

/// Which operation of a session a single-part or final call finishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Encrypt,
    Decrypt,
    Sign,
    Verify,
}

/// One audited call, described before it runs, from plain values.
/// Builders from the token's own values (`Call::crypto`, `Call::op`,
/// `mech`, `attrs`) are in `token::audited`.
pub struct Call {
    function: &'static str,
    kind: Kind,
    session: Option<Handle>,
    mechanism: Option<CK_MECHANISM_TYPE>,
    key: Option<Handle>,
    key_obj: Option<KeyArg>,
    event: Option<&'static str>,
    alert: bool,
    details: Option<serde_json::Value>,
    attr_types: Vec<CK_ATTRIBUTE_TYPE>,
    /// A length query or a call that will be repeated: not recorded.
    skip: bool,
    /// A single-part or final call (recorded per `audit.completions`).
    completion: bool,
    label: Option<String>,
}

impl Call {
    pub fn new(function: &'static str, kind: Kind, session: Option<Handle>) -> Call {
        Call {
            function,
            kind,
            session,
            mechanism: None,
            key: None,
            key_obj: None,
            event: None,
            alert: false,
            details: None,
            attr_types: Vec::new(),
            skip: false,
            completion: false,
            label: None,
        }
    }
    /// A cryptographic use of `key` with the mechanism `mech` (C_*Init,
    /// wrap, unwrap, derive).
    pub fn key_use(function: &'static str, session: Handle, mech: CK_MECHANISM_TYPE, key: Handle) -> Call {
        Call::new(function, Kind::Crypto, Some(session)).mechanism(mech).key(key)
    }
    /// A single-part or final call of an operation of `session` that uses
    /// `key` with `mech` (none: no such operation is active).
    pub fn completion(
        function: &'static str,
        session: Handle,
        mech: Option<CK_MECHANISM_TYPE>,
        key: Option<KeyArg>,
    ) -> Call {
        let mut c = Call::new(function, Kind::Crypto, Some(session));
        c.completion = true;
        c.key_obj = key;
        c.mechanism = mech;
        c
    }
    /// A key lifecycle change (the KMS calls).
    pub fn lifecycle(action: Lifecycle, function: &'static str, session: Option<Handle>) -> Call {
        Call::new(function, Kind::Lifecycle, session).event(action.event()).alert(action.alert())
    }
    /// An object call (create, copy, destroy, set attributes, generate).
    pub fn object(function: &'static str, session: Handle, event: &'static str) -> Call {
        Call::new(function, Kind::Object, Some(session)).event(event)
    }
    pub fn auth(function: &'static str, session: Option<Handle>, event: &'static str) -> Call {
        Call::new(function, Kind::Auth, session).event(event)
    }
    pub fn mechanism(mut self, m: CK_MECHANISM_TYPE) -> Call {
        self.mechanism = Some(m);
        self
    }
    pub fn key(mut self, h: Handle) -> Call {
        self.key = Some(h);
        self
    }
    pub fn event(mut self, e: &'static str) -> Call {
        self.event = Some(e);
        self
    }
    pub fn alert(mut self, a: bool) -> Call {
        self.alert = a;
        self
    }
    pub fn details(mut self, d: serde_json::Value) -> Call {
        self.details = Some(d);
        self
    }
    /// Not recorded when `query` (a length query: the real call follows).
    pub fn query(mut self, query: bool) -> Call {
        self.skip = query;
        self
    }
    /// Attribute types a template names (never values); formatted by the
    /// writer, not on the caller's thread.
    pub fn attr_types(mut self, types: Vec<CK_ATTRIBUTE_TYPE>) -> Call {
        self.attr_types = types;
        self
    }
    /// The token label set by C_InitToken.
    pub fn token_label(mut self, label: &str) -> Call {
        self.label = Some(label.to_string());
        self
    }
    pub fn kind(&self) -> Kind {
        self.kind
    }
    /// The key the call names, for its record: the object it was built
    /// with, else its key handle as `name` names it.
    pub fn take_key(&mut self, name: impl FnOnce(Handle) -> KeyArg) -> Option<KeyArg> {
        self.key_obj.take().or_else(|| self.key.map(name))
    }
}

/// What the caller saw of a call it ran (see [`Audit::record`]).
pub struct Done {
    /// When the call started (monotonic; stamped with the wall time later).
    pub at: Instant,
    pub duration_us: u64,
    /// Who made the call; for a login, who it logged in.
    pub role: RoleName,
    pub key: Option<KeyArg>,
    /// The objects the call created.
    pub created: Vec<KeyArg>,
    pub rv: CK_RV,
    /// Why it failed (an error's reason), if it did.
    pub reason: Option<String>,
}

/// Async records handed to the writer thread, in call order.
#[derive(Default)]
struct Queue {
    items: Vec<Pending>,
    stop: bool,
}

struct Inline {
    buf: Vec<Pending>,
    since: Option<Instant>,
}

struct Shared {
    slot: Handle,
    cfg: AuditConfig,
    metrics_cfg: MetricsConfig,
    label: RwLock<Arc<str>>,
    writer: Mutex<writer::LogWriter>,
    sinks: Mutex<events::Sinks>,
    counters: Mutex<metrics::Counters>,
    inline: Mutex<Inline>,
    broken: AtomicBool,
    last_textfile: Mutex<Option<Instant>>,
    textfile: Mutex<Option<PathBuf>>,
    /// The writer thread's input: appending is a short uncontended lock and
    /// no system call (the writer is woken only for a full batch or a
    /// waiting caller, else it wakes every `audit.flush_ms`).
    queue: Mutex<Queue>,
    queue_cv: Condvar,
    space_cv: Condvar,
}

/// The audit writer, locked across a store transaction whose changes are
/// recorded before they commit.
pub struct CommitGuard<'a>(Option<std::sync::MutexGuard<'a, writer::LogWriter>>);

/// The audit handle of one token.
pub struct Audit {
    shared: Arc<Shared>,
    no_threads: AtomicBool,
    /// Any work at all (audit, metrics or events on).
    active: bool,
    /// Whether the writer thread runs (started on the first record).
    started: OnceLock<bool>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    pid: u32,
    dir: PathBuf,
}

fn lock_err<T>(_: T) -> Error {
    Error::general("audit lock poisoned")
}

impl Audit {
    /// The audit handle of the token stored in `dir`, its audit key and
    /// anchor in `meta` (nothing is written yet), the key sealed under
    /// `kek` when one is configured (see `writer`; `Audit::open` in
    /// `token::audited` opens the token's store for `meta`).
    pub fn new(
        slot: Handle,
        dir: &Path,
        config: Tables<'_>,
        meta: Box<dyn Meta>,
        kek: Option<Arc<dyn KeySealer>>,
    ) -> Audit {
        let label = meta.token_label().unwrap_or_default();
        let cfg = config.audit.clone();
        let active = cfg.enabled || config.metrics.enabled || config.events.any_sink();
        Audit {
            shared: Arc::new(Shared {
                slot,
                cfg: cfg.clone(),
                metrics_cfg: config.metrics.clone(),
                label: RwLock::new(label.into()),
                writer: Mutex::new(
                    writer::LogWriter::new(dir, meta, &cfg)
                        .with_kek(kek)
                        .with_witness(events::Witness::new(config.events, &cfg)),
                ),
                sinks: Mutex::new(events::Sinks::new(config.events)),
                counters: Mutex::new(metrics::Counters::default()),
                inline: Mutex::new(Inline { buf: Vec::new(), since: None }),
                broken: AtomicBool::new(false),
                last_textfile: Mutex::new(None),
                textfile: Mutex::new(None),
                queue: Mutex::new(Queue::default()),
                queue_cv: Condvar::new(),
                space_cv: Condvar::new(),
            }),
            no_threads: AtomicBool::new(false),
            active,
            started: OnceLock::new(),
            thread: Mutex::new(None),
            pid: std::process::id(),
            dir: dir.to_path_buf(),
        }
    }

    /// With a KEK: seals a clear audit key now, before any record of this
    /// process (a failure is logged; the first record reports it again).
    pub fn prepare_key(&self) {
        if let Err(e) = self.shared.writer.lock().map_err(lock_err).and_then(|mut w| w.prepare_key()) {
            log::error!("audit log {}: {e}", self.dir.display());
        }
    }

    /// `CKF_LIBRARY_CANT_CREATE_OS_THREADS`: write inline, never spawn.
    pub fn set_no_threads(&self, no_threads: bool) {
        self.no_threads.store(no_threads, Ordering::Relaxed);
    }

    pub fn enabled(&self) -> bool {
        self.shared.cfg.enabled
    }

    pub fn set_label(&self, label: &str) {
        if let Ok(mut l) = self.shared.label.write() {
            *l = label.into();
        }
    }

    /// Starts the writer thread on first use; false when it cannot run.
    fn writer_running(&self) -> bool {
        *self.started.get_or_init(|| {
            let shared = self.shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("keyward-audit-{}", self.shared.slot))
                .spawn(move || run(shared));
            match spawned {
                Ok(h) => {
                    if let Ok(mut t) = self.thread.lock() {
                        *t = Some(h);
                    }
                    true
                }
                Err(e) => {
                    eprintln!("keyward: cannot start the audit writer thread ({e}): writing inline");
                    false
                }
            }
        })
    }

    /// Whether a call of `kind` must be refused before it runs (the log is
    /// known to be unwritable and the policy says refuse).
    fn refuse_before(&self, kind: Kind) -> Result<()> {
        if !self.shared.cfg.enabled || !self.shared.broken.load(Ordering::Relaxed) {
            return Ok(());
        }
        if self.shared.policy(kind) != OnFailure::Refuse {
            return Ok(());
        }
        // Try again: the disk may be back.
        let probe = self.shared.writer.lock().map_err(lock_err)?.probe();
        match probe {
            Ok(()) => {
                self.shared.broken.store(false, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => Err(Error::device(format!("audit log cannot be written, call refused: {}", e.reason()))),
        }
    }

    /// Hands a record over. Sync records return once durable; the error is
    /// the policy's answer for a log that cannot be written.
    pub fn submit(&self, mut p: Pending) -> Result<()> {
        let sh = &self.shared;
        if !sh.cfg.enabled {
            Pending::stamp_all(std::slice::from_mut(&mut p));
            if sh.metrics_cfg.enabled {
                sh.counters.lock().map_err(lock_err)?.observe_pending(&p);
            }
            sh.publish(std::slice::from_ref(&p));
            sh.maybe_textfile(false);
            return Ok(());
        }
        let always = sh.cfg.sync == SyncMode::Always;
        let sync = p.sync || always;
        let kind = p.kind;
        if !self.no_threads.load(Ordering::Relaxed) && self.writer_running() {
            if sync {
                // Written (with whatever async records queued before it, to
                // keep call order) before the call returns: a SIGKILL loses
                // none. fsync: now with `audit.sync = "always"`, else by the
                // writer thread within `audit.flush_ms`.
                let r = sh.write_through(p, always);
                return sh.outcome(kind, r);
            }
            let mut q = sh.queue.lock().map_err(lock_err)?;
            // Bounded: a writer that falls behind slows callers down instead
            // of losing records or growing without limit.
            let cap = sh.cfg.queue.max(1);
            while q.items.len() >= cap && !q.stop {
                sh.queue_cv.notify_one();
                q = sh.space_cv.wait_timeout(q, Duration::from_millis(100)).map_err(lock_err)?.0;
            }
            if q.stop {
                drop(q);
                return sh.inline(p, true);
            }
            q.items.push(p);
            let wake = q.items.len() >= sh.cfg.max_batch.max(1);
            drop(q);
            if wake {
                sh.queue_cv.notify_one();
            }
            return Ok(());
        }
        sh.inline(p, sync)
    }

    /// A record of a change the caller is about to commit in its open store
    /// transaction (automatic purges and rotations): written (and with
    /// `audit.sync = "always"` fsync'ed) before the commit, so a crash
    /// cannot commit the change without its record; the anchor moves later.
    /// An error means the record could not be written: the caller rolls
    /// back.
    ///
    /// `guard` is the writer lock, taken with [`Audit::lock_for_commit`]
    /// BEFORE the store transaction began (the writer thread takes the
    /// writer lock before the store when it moves the anchor; the same
    /// order here rules out a deadlock).
    pub fn submit_before_commit(&self, guard: &mut CommitGuard<'_>, p: Pending) -> Result<()> {
        let sh = &self.shared;
        let Some(w) = guard.0.as_mut() else {
            return self.submit(p);
        };
        let kind = p.kind;
        let r = sh.write_through_locked(w, p, sh.cfg.sync == SyncMode::Always, false);
        if !self.no_threads.load(Ordering::Relaxed) {
            // The writer thread fsyncs and anchors on its next pass.
            self.writer_running();
        }
        sh.outcome(kind, r)
    }

    /// The writer lock for [`Audit::submit_before_commit`] (none when the
    /// log is off).
    pub fn lock_for_commit(&self) -> Result<CommitGuard<'_>> {
        if !self.shared.cfg.enabled {
            return Ok(CommitGuard(None));
        }
        Ok(CommitGuard(Some(self.shared.writer.lock().map_err(lock_err)?)))
    }

    /// The directory holding the log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether `call` is to be recorded: false when there is nothing to do
    /// (audit, metrics and events all off) or for a length query (the real
    /// call that follows is the one recorded); an error when the log is
    /// known to be unwritable and `audit.on_failure` refuses such calls.
    pub fn admits(&self, call: &Call) -> Result<bool> {
        if !self.active {
            return Ok(false);
        }
        self.refuse_before(call.kind)?;
        Ok(!call.skip)
    }

    /// Records `call`, which ran as `done` says (after [`Audit::admits`]):
    /// how durably, whether it is published and whether it is an alert
    /// follow from its kind and the objects it names. The error is the
    /// policy's answer for a log that cannot be written.
    pub fn record(&self, call: Call, done: Done) -> Result<()> {
        let created_token = done.created.iter().any(KeyArg::is_token);
        let token_object = done.key.as_ref().is_some_and(KeyArg::is_token) || created_token;
        let rv = done.rv;
        let sync = match call.kind {
            Kind::Auth | Kind::Lifecycle | Kind::Audit => true,
            Kind::Object => token_object,
            // Unwrap/derive into a token object: durable like an object creation.
            Kind::Crypto => created_token,
        };
        // Object events are state changes of the token: session objects are not published.
        let event = match call.kind {
            Kind::Object if !token_object => None,
            Kind::Crypto if !created_token => None,
            Kind::Auth if rv == CKR_PIN_LOCKED => Some("auth.locked"),
            _ => call.event,
        };
        if let Some(l) = call.label.as_ref().filter(|_| rv == CKR_OK) {
            self.set_label(l);
        }
        let p = Pending {
            time_ms: 0,
            at: Some(done.at),
            kind: call.kind,
            event,
            function: call.function,
            slot: self.shared.slot,
            session: call.session,
            role: done.role,
            mechanism: call.mechanism,
            key: done.key,
            created: done.created,
            rv,
            reason: done.reason,
            duration_us: done.duration_us,
            details: call.details,
            attr_types: call.attr_types,
            sync,
            alert: call.alert || rv == CKR_PIN_LOCKED,
            log: !(call.completion && rv == CKR_OK && self.shared.cfg.completions == config::Completions::Failures),
        };
        self.submit(p)
    }

    /// Records an automatic lifecycle change (purge, rotation) of `key`
    /// made by `role` from inside the store transaction that makes it,
    /// before the commit (see [`Audit::submit_before_commit`]).
    pub fn record_before_commit(
        &self,
        guard: &mut CommitGuard<'_>,
        action: Lifecycle,
        function: &'static str,
        role: RoleName,
        key: record::KeyRef,
        details: serde_json::Value,
    ) -> Result<()> {
        if !self.active {
            return Ok(());
        }
        let p = Pending {
            time_ms: record::now_ms(),
            at: None,
            kind: Kind::Lifecycle,
            event: Some(action.event()),
            function,
            slot: self.shared.slot,
            session: None,
            role,
            mechanism: None,
            key: Some(KeyArg::Named(Box::new(key))),
            created: Vec::new(),
            rv: CKR_OK,
            reason: None,
            duration_us: 0,
            details: Some(details),
            attr_types: Vec::new(),
            sync: true,
            alert: action.alert(),
            log: true,
        };
        self.submit_before_commit(guard, p)
    }

    /// Writes whatever is pending (C_Finalize, tests).
    pub fn flush(&self) -> Result<()> {
        let mut inl = self.shared.inline.lock().map_err(lock_err)?;
        let batch = std::mem::take(&mut inl.buf);
        inl.since = None;
        if !batch.is_empty() {
            self.shared.process(batch, true, true)?;
        }
        Ok(())
    }
}

impl Drop for Audit {
    fn drop(&mut self) {
        if std::process::id() != self.pid {
            return;
        }
        if self.started.get().is_some_and(|s| *s) {
            if let Ok(mut q) = self.shared.queue.lock() {
                q.stop = true;
            }
            self.shared.queue_cv.notify_one();
        }
        if let Some(h) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = h.join();
        }
        let _ = self.flush();
        if let Ok(mut w) = self.shared.writer.lock() {
            let _ = w.anchor_if_stale();
            w.witness_anchor(true);
        }
        if let Some(p) = self.shared.textfile.lock().ok().and_then(|mut t| t.take()) {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Shared {
    fn policy(&self, kind: Kind) -> OnFailure {
        match kind {
            Kind::Crypto => self.cfg.on_failure_async,
            _ => self.cfg.on_failure,
        }
    }

    fn outcome(&self, kind: Kind, r: Result<()>) -> Result<()> {
        match r {
            Ok(()) => Ok(()),
            Err(e) if self.policy(kind) == OnFailure::Refuse => {
                Err(Error::device(format!("audit record not written: {}", e.reason())))
            }
            Err(_) => Ok(()),
        }
    }

    fn inline(&self, p: Pending, sync: bool) -> Result<()> {
        let kind = p.kind;
        let mut inl = self.inline.lock().map_err(lock_err)?;
        inl.buf.push(p);
        let since = *inl.since.get_or_insert_with(Instant::now);
        let due = sync
            || inl.buf.len() >= self.cfg.max_batch.max(1)
            || since.elapsed() >= Duration::from_millis(self.cfg.flush_ms);
        if !due {
            return Ok(());
        }
        let batch = std::mem::take(&mut inl.buf);
        inl.since = None;
        let r = self.process(batch, true, sync);
        drop(inl);
        self.maybe_textfile(false);
        if sync { self.outcome(kind, r) } else { Ok(()) }
    }

    /// Writes `p` now, after the async records queued before it (under the
    /// writer lock, so the writer thread cannot write those after it).
    fn write_through(&self, p: Pending, fsync: bool) -> Result<()> {
        let mut w = self.writer.lock().map_err(lock_err)?;
        self.write_through_locked(&mut w, p, fsync, true)
    }

    /// [`Self::write_through`] under a writer lock the caller holds; with
    /// `anchor` false the anchor in the store is not touched (the caller
    /// holds a store write transaction: the writer thread moves the anchor
    /// later).
    fn write_through_locked(&self, w: &mut writer::LogWriter, p: Pending, fsync: bool, anchor: bool) -> Result<()> {
        let mut batch = {
            let mut inl = self.inline.lock().map_err(lock_err)?;
            inl.since = None;
            std::mem::take(&mut inl.buf)
        };
        batch.append(&mut self.queue.lock().map_err(lock_err)?.items);
        self.space_cv.notify_all();
        batch.push(p);
        w.hold_anchor(!anchor);
        let r = self.process_locked(w, &mut batch, fsync, fsync && anchor);
        w.hold_anchor(false);
        r
    }

    /// Writes a batch (caller keeps the call order), then metrics and events.
    fn process(&self, mut batch: Vec<Pending>, fsync: bool, force_anchor: bool) -> Result<()> {
        let mut w = self.writer.lock().map_err(lock_err)?;
        self.process_locked(&mut w, &mut batch, fsync, force_anchor)
    }

    fn process_locked(
        &self,
        w: &mut writer::LogWriter,
        batch: &mut Vec<Pending>,
        fsync: bool,
        force_anchor: bool,
    ) -> Result<()> {
        Pending::stamp_all(batch);
        let label = self.label.read().map(|l| l.clone()).unwrap_or_else(|_| Arc::from(""));
        let r = w.append(&label, batch, fsync, force_anchor);
        if let Ok(mut c) = self.counters.lock() {
            if self.metrics_cfg.enabled {
                for p in batch.iter() {
                    c.observe_pending(p);
                }
            }
            match &r {
                Ok(()) => c.records += batch.iter().filter(|p| p.log).count() as u64,
                Err(_) => c.write_errors += 1,
            }
        }
        match &r {
            Ok(()) => {
                if self.broken.swap(false, Ordering::Relaxed) {
                    eprintln!("keyward: audit log of slot {} is writable again", self.slot);
                }
            }
            Err(e) => {
                if !self.broken.swap(true, Ordering::Relaxed) {
                    let what = match self.cfg.on_failure {
                        OnFailure::Refuse => "auth/lifecycle calls are refused (audit.on_failure = refuse)",
                        OnFailure::Continue => "continuing without audit records (audit.on_failure = continue)",
                    };
                    eprintln!(
                        "keyward: AUDIT LOG FAILURE on slot {}: {e}; {} record(s) lost; {what}",
                        self.slot,
                        batch.len()
                    );
                }
            }
        }
        self.publish(batch);
        batch.clear();
        r
    }

    fn publish(&self, batch: &[Pending]) {
        if batch.iter().all(|p| p.event.is_none()) {
            return;
        }
        let label = self.label.read().map(|l| l.clone()).unwrap_or_else(|_| Arc::from(""));
        if let Ok(mut s) = self.sinks.lock() {
            for p in batch {
                s.publish(p, &label);
            }
        }
    }

    fn maybe_textfile(&self, force: bool) {
        let Some(dir) = self.metrics_cfg.textfile_dir.as_ref().filter(|_| self.metrics_cfg.enabled) else { return };
        let Ok(mut last) = self.last_textfile.lock() else { return };
        let interval = Duration::from_secs(self.metrics_cfg.interval_secs.max(1));
        if !force && last.is_some_and(|t| t.elapsed() < interval) {
            return;
        }
        *last = Some(Instant::now());
        drop(last);
        let label = self.label.read().map(|l| l.clone()).unwrap_or_else(|_| Arc::from(""));
        let base = format!("token=\"{}\",slot=\"{}\",pid=\"{}\"", metrics::esc(&label), self.slot, std::process::id());
        let mut text = String::new();
        if let Ok(c) = self.counters.lock() {
            c.render(&base, &mut text);
        }
        let name = format!("keyward_{}_slot{}.prom", std::process::id(), self.slot);
        match metrics::write_textfile(dir, &name, &text) {
            Ok(p) => {
                if let Ok(mut t) = self.textfile.lock() {
                    *t = Some(p);
                }
            }
            Err(e) => log::warn!("metrics textfile {}: {e}", dir.display()),
        }
    }
}

/// The writer thread: drain, write one batch, answer the waiters, repeat.
fn run(sh: Arc<Shared>) {
    let idle = Duration::from_millis(sh.cfg.anchor_ms.clamp(10, 1000));
    let linger = Duration::from_millis(sh.cfg.flush_ms.clamp(1, 1000));
    let max = sh.cfg.max_batch.max(1);
    let mut spare: Vec<Pending> = Vec::new();
    loop {
        // Wait for records (or the idle tick) without holding the writer.
        let stop = {
            let Ok(mut q) = sh.queue.lock() else { break };
            if q.items.is_empty() && !q.stop {
                q = match sh.queue_cv.wait_timeout(q, idle) {
                    Ok((q, _)) => q,
                    Err(_) => break,
                };
            }
            // Async records may wait up to `flush_ms` to share a batch (and
            // be coalesced); a full batch goes now.
            let since = Instant::now();
            while !q.items.is_empty() && !q.stop && q.items.len() < max {
                let left = linger.saturating_sub(since.elapsed());
                if left.is_zero() {
                    break;
                }
                q = match sh.queue_cv.wait_timeout(q, left) {
                    Ok((q, _)) => q,
                    Err(_) => return,
                };
            }
            q.stop
        };
        // Writer lock first, then the queue: a caller writing a sync record
        // through cannot slip its record in front of these.
        let Ok(mut w) = sh.writer.lock() else { break };
        let mut batch = match sh.queue.lock() {
            // Callers push into the previous batch's vector: its pages are
            // already touched and it has room (no page faults or regrowth
            // copies on their path).
            Ok(mut q) => std::mem::replace(&mut q.items, std::mem::take(&mut spare)),
            Err(_) => break,
        };
        sh.space_cv.notify_all();
        if batch.is_empty() {
            // Idle: make earlier write-through records durable, move the
            // anchor.
            let _ = w.anchor_if_stale();
            drop(w);
            if let Ok(mut s) = sh.sinks.lock() {
                s.reap();
            }
        } else {
            let _ = sh.process_locked(&mut w, &mut batch, true, false);
            drop(w);
            if batch.capacity() > 4 * max {
                batch.shrink_to(max);
            }
            spare = batch;
        }
        sh.maybe_textfile(false);
        if stop {
            break;
        }
    }
    if let Ok(mut w) = sh.writer.lock() {
        let _ = w.anchor_if_stale();
        w.witness_anchor(true);
    }
    sh.maybe_textfile(true);
}

// ---- reading the log (CLI) -----------------------------------------------

/// Calls `f` with every record of the log in `dir`, oldest first, until it
/// returns false. Lines that do not parse are skipped (`verify` names them).
pub fn read_log(dir: &Path, f: &mut dyn FnMut(Record) -> bool) {
    let Ok(files) = chain::log_files(dir) else { return };
    for path in files {
        let Ok(file) = std::fs::File::open(&path) else { continue };
        for line in std::io::BufReader::new(file).lines() {
            let Ok(line) = line else { break };
            let Some((body, _)) = chain::split_line(&line) else { continue };
            if let Ok(r) = serde_json::from_str::<Record>(&body)
                && !f(r)
            {
                return;
            }
        }
    }
}

/// The raw lines of the log, oldest first (for `audit show --json`).
pub fn read_lines(dir: &Path, f: &mut dyn FnMut(&str, &Record) -> bool) {
    let Ok(files) = chain::log_files(dir) else { return };
    for path in files {
        let Ok(file) = std::fs::File::open(&path) else { continue };
        for line in std::io::BufReader::new(file).lines() {
            let Ok(line) = line else { break };
            let Some((body, _)) = chain::split_line(&line) else { continue };
            if let Ok(r) = serde_json::from_str::<Record>(&body)
                && !f(&line, &r)
            {
                return;
            }
        }
    }
}

/// Whether record `r` names the key `name` (UID, label, or handle).
pub fn names_key(r: &Record, name: &str) -> bool {
    r.key.iter().chain(r.created.iter()).any(|k| {
        k.uid.as_deref() == Some(name)
            || k.label.as_deref() == Some(name)
            || k.handle.is_some_and(|h| h.to_string() == name)
    })
}

/// A one-line human form of a record.
pub fn format_human(r: &Record) -> String {
    let key = r
        .key
        .as_ref()
        .map(|k| {
            let mut s = k
                .label
                .clone()
                .or_else(|| k.uid.clone())
                .unwrap_or_else(|| k.handle.map(|h| format!("handle {h}")).unwrap_or_default());
            if let Some(v) = k.version {
                s.push_str(&format!(" v{v}"));
            }
            s
        })
        .unwrap_or_default();
    let mut line = format!(
        "{} #{:<6} {:<9} {:<20} {:<5} {:<22} {:<24} {}",
        r.time,
        r.seq,
        format!("{:?}", r.kind).to_lowercase(),
        r.function,
        r.role,
        r.mechanism.as_deref().unwrap_or("-"),
        if key.is_empty() { "-".to_string() } else { key },
        r.result
    );
    if let Some(e) = &r.event {
        line.push_str(&format!(" [{e}]"));
    }
    if let Some(reason) = &r.reason {
        line.push_str(&format!(" ({reason})"));
    }
    if let Some(n) = r.count {
        line.push_str(&format!(" x{n} (last {})", r.last.as_deref().unwrap_or("?")));
    }
    line.push_str(&format!(" pid={} user={}", r.pid, r.user));
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(i: u64, sync: bool) -> Pending {
        Pending {
            time_ms: record::now_ms(),
            at: None,
            kind: if sync { Kind::Auth } else { Kind::Crypto },
            event: sync.then_some("auth.login"),
            function: if sync { "C_Login" } else { "C_SignInit" },
            slot: 0,
            session: Some(i),
            role: RoleName::User,
            mechanism: Some(CKM_SHA256_HMAC),
            key: Some(KeyArg::Handle(i)),
            created: Vec::new(),
            rv: CKR_OK,
            reason: None,
            duration_us: 3,
            details: None,
            attr_types: Vec::new(),
            sync,
            alert: false,
            log: true,
        }
    }

    fn config() -> AuditConfig {
        AuditConfig::default()
    }

    #[test]
    fn queued_records_get_the_wall_time_of_their_call() {
        let now = Instant::now();
        let mut batch: Vec<Pending> = (0..3).map(|i| pending(i, false)).collect();
        batch[0].at = Some(now.checked_sub(Duration::from_millis(1500)).unwrap_or(now));
        batch[1].at = Some(now);
        batch[2].at = None;
        batch[2].time_ms = 42;
        let wall = record::now_ms();
        Pending::stamp_all(&mut batch);
        assert!(batch[0].time_ms + 1400 <= wall && wall <= batch[0].time_ms + 1700, "{} vs {wall}", batch[0].time_ms);
        assert!(batch[1].time_ms.abs_diff(wall) < 200);
        assert_eq!(batch[2].time_ms, 42, "already stamped records keep their time");
        assert!(batch.iter().all(|p| p.at.is_none()));
    }

    #[test]
    fn threaded_and_inline_logs_verify() {
        for no_threads in [false, true] {
            let d = tempfile::tempdir().unwrap();
            let meta = Arc::new(writer::MemMeta::default());
            let (ac, ec, mc) = (config(), config::EventsConfig::default(), MetricsConfig::default());
            let tables = Tables { audit: &ac, events: &ec, metrics: &mc };
            let a = Audit::new(0, d.path(), tables, Box::new(meta.clone()), None);
            a.set_no_threads(no_threads);
            for i in 0..50 {
                a.submit(pending(i, i % 10 == 0)).unwrap();
            }
            drop(a);
            let v = verify_dir(d.path(), &meta, None, &[]).unwrap().unwrap();
            assert_eq!(v.records, 50, "no_threads={no_threads}");
            let mut n = 0;
            read_log(d.path(), &mut |r| {
                assert_eq!(r.result, "CKR_OK");
                n += 1;
                true
            });
            assert_eq!(n, 50);
        }
    }

    #[test]
    fn rotation_and_pruning_keep_the_chain() {
        let d = tempfile::tempdir().unwrap();
        let mut c = config();
        c.max_file_bytes = 2000;
        let meta = Arc::new(writer::MemMeta::default());
        let mut w = writer::LogWriter::new(d.path(), Box::new(meta.clone()), &c);
        for i in 0..40 {
            w.append("t", &[pending(i, false)], true, false).unwrap();
        }
        drop(w);
        assert!(chain::log_files(d.path()).unwrap().len() > 3);
        assert_eq!(verify_dir(d.path(), &meta, None, &[]).unwrap().unwrap().records, 40);
        // A second writer (another process) continues the same chain.
        c.keep_files = 2;
        let mut w = writer::LogWriter::new(d.path(), Box::new(meta.clone()), &c);
        for i in 0..20 {
            w.append("t", &[pending(i, true)], true, true).unwrap();
        }
        drop(w);
        let v = verify_dir(d.path(), &meta, None, &[]).unwrap().unwrap();
        assert_eq!(v.last.seq, 60);
        assert!(v.first_seq > 1);
        // Deleting the oldest retained file is detected.
        let oldest = chain::log_files(d.path()).unwrap().remove(0);
        std::fs::remove_file(oldest).unwrap();
        assert!(verify_dir(d.path(), &meta, None, &[]).unwrap().is_err());
    }

    #[test]
    fn torn_tail_is_repaired_and_recorded() {
        let d = tempfile::tempdir().unwrap();
        let c = config();
        let meta = Arc::new(writer::MemMeta::default());
        let mut w = writer::LogWriter::new(d.path(), Box::new(meta.clone()), &c);
        w.append("t", &[pending(1, true)], true, true).unwrap();
        drop(w);
        let log = d.path().join(LOG_FILE);
        let mut bytes = std::fs::read(&log).unwrap();
        bytes.extend_from_slice(b"{\"seq\":2,\"prev");
        std::fs::write(&log, bytes).unwrap();
        let mut w = writer::LogWriter::new(d.path(), Box::new(meta.clone()), &c);
        w.append("t", &[pending(2, true)], true, true).unwrap();
        let v = verify_dir(d.path(), &meta, None, &[]).unwrap().unwrap();
        assert_eq!(v.records, 3);
        let mut events = Vec::new();
        read_log(d.path(), &mut |r| {
            events.extend(r.event);
            true
        });
        assert!(events.contains(&"audit.repaired".to_string()));
    }
}
