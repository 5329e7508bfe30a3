//! The audit handle of one token ([`Audit`]): decides whether a call is
//! recorded and how durably, turns a [`Call`] and what it did ([`Done`])
//! into a [`Pending`] record, and hands it to the queue, the inline batch
//! or the writer (write-through, before a store commit); flushes and stops
//! the writer thread when dropped.
//!
//! Owns: the handle's state (threads or not, the writer thread's handle).
//! Must not touch: the log format and chain (`writer.rs`, `record.rs`),
//! batch processing (`queue.rs`), any token or store type (they come in as
//! [`Meta`], [`KeySealer`] and [`record::Named`]).

use super::call::{Call, Done, Lifecycle, Naming, Outcome};
use super::config::{self, OnFailure, SyncMode, Tables};
use super::queue::{Inline, Queue, Shared, run};
use super::record::{self, KeyArg, Kind, Pending, RoleName};
use super::{Handle, KeySealer, Meta, events, lock_err, metrics, writer};
use crate::ck::*;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock};
use std::time::Duration;

/// The audit writer, locked across a store transaction whose changes are
/// recorded before they commit.
pub struct CommitGuard<'a>(Option<std::sync::MutexGuard<'a, writer::LogWriter>>);

impl Drop for CommitGuard<'_> {
    fn drop(&mut self) {
        if let Some(w) = self.0.as_mut() {
            w.release_lock();
        }
    }
}

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
            if let Some(p) = sh.fold(q.items.last_mut(), p) {
                q.items.push(p);
            }
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
        let mut w = self.shared.writer.lock().map_err(lock_err)?;
        // The append lock too, before the caller's store transaction (the
        // order every appender keeps: see `LogWriter::hold_lock`).
        w.hold_lock()?;
        Ok(CommitGuard(Some(w)))
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

    /// The envelope of one PKCS#11 call (the library's per-call hook):
    /// when anything is to be recorded, describes the call with `call`
    /// (from `state`, before it runs), refuses it if [`Audit::admits`]
    /// says so, names its key and role through `naming`, runs `f` on
    /// `state` and records what it did; otherwise only runs `f`. An error
    /// that keeps the operation (a buffer too small) is not recorded: the
    /// call that follows is.
    pub fn around<S: ?Sized, T: Outcome>(
        &self,
        state: &mut S,
        call: impl FnOnce(&S) -> Call,
        naming: &dyn Naming,
        f: impl FnOnce(&mut S) -> Result<T>,
    ) -> Result<T> {
        if !self.active {
            return f(state);
        }
        let mut call = call(state);
        if !self.admits(&call)? {
            return f(state);
        }
        // Naming only: the call itself looks the key up (and refreshes).
        let key = call.take_key(|h| naming.key_arg(h));
        let role_before = naming.role();
        let principal_before = naming.principal();
        let start = crate::clock::now();
        let r = f(state);
        let duration_us = start.elapsed().as_micros() as u64;
        if r.as_ref().err().is_some_and(Error::keeps_operation) {
            return r;
        }
        let created: Vec<KeyArg> = match &r {
            Ok(v) => v.created().into_iter().map(|h| naming.key_arg(h)).collect(),
            Err(_) => Vec::new(),
        };
        let (rv, reason) = match &r {
            Ok(_) => (CKR_OK, None),
            Err(e) => (e.rv(), Some(e.reason().to_string())),
        };
        // Who made the call; for a login, who it logged in.
        let login = call.kind == Kind::Auth && rv == CKR_OK && role_before == RoleName::Public;
        let (role, principal) =
            if login { (naming.role(), naming.principal()) } else { (role_before, principal_before) };
        match self.record(call, Done { at: start, duration_us, role, principal, key, created, rv, reason }) {
            Ok(()) => r,
            Err(e) if r.is_ok() => Err(e),
            Err(_) => r,
        }
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
            principal: done.principal,
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
            merged: None,
        };
        self.submit(p)
    }

    /// Records an automatic lifecycle change (purge, rotation) of `key`
    /// made by `role()` (asked only when recording) from inside the store
    /// transaction that makes it, before the commit (see
    /// [`Audit::submit_before_commit`]).
    pub fn record_before_commit(
        &self,
        guard: &mut CommitGuard<'_>,
        action: Lifecycle,
        function: &'static str,
        role: impl FnOnce() -> RoleName,
        key: record::KeyRef,
        details: serde_json::Value,
    ) -> Result<()> {
        if !self.active {
            return Ok(());
        }
        let role = role();
        let p = Pending {
            time_ms: record::now_ms(),
            at: None,
            kind: Kind::Lifecycle,
            event: Some(action.event()),
            function,
            slot: self.shared.slot,
            session: None,
            role,
            principal: None,
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
            merged: None,
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

#[cfg(test)]
mod tests {
    use super::super::{read_log, verify_dir};
    use super::*;

    #[test]
    fn threaded_and_inline_logs_verify() {
        for no_threads in [false, true] {
            let d = tempfile::tempdir().unwrap();
            let meta = Arc::new(writer::MemMeta::default());
            let (ac, ec, mc) =
                (config::AuditConfig::default(), config::EventsConfig::default(), config::MetricsConfig::default());
            let tables = Tables { audit: &ac, events: &ec, metrics: &mc };
            let a = Audit::new(0, d.path(), tables, Box::new(meta.clone()), None);
            a.set_no_threads(no_threads);
            for i in 0..50 {
                a.submit(record::test_pending(i, i % 10 == 0)).unwrap();
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

    /// A run of identical key uses is folded into one handed-over record
    /// (coalescing on): the log counts every use, a record of another kind
    /// ends the run, and nothing is folded with coalescing off.
    #[test]
    fn identical_uses_fold_when_handed_over_and_every_use_is_counted() {
        for (no_threads, coalesce) in [(false, true), (true, true), (false, false), (true, false)] {
            let d = tempfile::tempdir().unwrap();
            let meta = Arc::new(writer::MemMeta::default());
            let ac = config::AuditConfig { coalesce, ..Default::default() };
            let (ec, mc) = (config::EventsConfig::default(), config::MetricsConfig::default());
            let tables = Tables { audit: &ac, events: &ec, metrics: &mc };
            let a = Audit::new(0, d.path(), tables, Box::new(meta.clone()), None);
            a.set_no_threads(no_threads);
            for _ in 0..300 {
                a.submit(record::test_pending(7, false)).unwrap();
            }
            a.submit(record::test_pending(1, true)).unwrap();
            for _ in 0..5 {
                a.submit(record::test_pending(7, false)).unwrap();
            }
            drop(a);
            let mut lines = Vec::new();
            read_log(d.path(), &mut |r| {
                lines.push((r.function.clone(), r.count.unwrap_or(1), r.duration_us));
                true
            });
            let case = format!("no_threads={no_threads} coalesce={coalesce}");
            let login = lines.iter().position(|l| l.0 == "C_Login").unwrap();
            let uses = |ls: &[(String, u64, u64)]| ls.iter().map(|l| l.1).sum::<u64>();
            assert_eq!(uses(&lines[..login]), 300, "{case}");
            assert_eq!(uses(&lines[login + 1..]), 5, "{case}");
            let durations: u64 = lines.iter().filter(|l| l.0 != "C_Login").map(|l| l.2).sum();
            assert_eq!(durations, 305 * 3, "{case}");
            if coalesce {
                assert!(login <= 3, "{case}: a run of 300 uses took {login} lines");
            } else {
                assert_eq!(lines.len(), 306, "{case}");
            }
            assert_eq!(verify_dir(d.path(), &meta, None, &[]).unwrap().unwrap().records, lines.len() as u64, "{case}");
        }
    }
}
