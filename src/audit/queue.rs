//! The path from a handed-over record to the log: the bounded queue the
//! writer thread drains, the inline batches without a thread, writing a
//! record through (sync records, in call order after the queued ones), and
//! the writer thread itself.
//!
//! Owns: [`Shared`] (the state the handle and the writer thread share), the
//! batching and the on-failure policy's answers. Must not touch: the log
//! format and chain (`writer.rs`), event and metrics output (`publish.rs`),
//! anything outside `audit/`.

use super::config::{AuditConfig, MetricsConfig, OnFailure};
use super::record::{Kind, Pending};
use super::{Handle, events, lock_err, metrics, writer};
use crate::error::{Error, Result};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Async records handed to the writer thread, in call order.
#[derive(Default)]
pub(super) struct Queue {
    pub(super) items: Vec<Pending>,
    pub(super) stop: bool,
}

/// Records collected without a writer thread
/// (`CKF_LIBRARY_CANT_CREATE_OS_THREADS`), written in batches.
pub(super) struct Inline {
    pub(super) buf: Vec<Pending>,
    pub(super) since: Option<Instant>,
}

/// What the handle and the writer thread share.
pub(super) struct Shared {
    pub(super) slot: Handle,
    pub(super) cfg: AuditConfig,
    pub(super) metrics_cfg: MetricsConfig,
    pub(super) label: RwLock<Arc<str>>,
    pub(super) writer: Mutex<writer::LogWriter>,
    pub(super) sinks: Mutex<events::Sinks>,
    pub(super) counters: Mutex<metrics::Counters>,
    pub(super) inline: Mutex<Inline>,
    pub(super) broken: AtomicBool,
    pub(super) last_textfile: Mutex<Option<Instant>>,
    pub(super) textfile: Mutex<Option<PathBuf>>,
    /// The writer thread's input: appending is a short uncontended lock and
    /// no system call (the writer is woken only for a full batch or a
    /// waiting caller, else it wakes every `audit.flush_ms`).
    pub(super) queue: Mutex<Queue>,
    pub(super) queue_cv: Condvar,
    pub(super) space_cv: Condvar,
}

impl Shared {
    pub(super) fn policy(&self, kind: Kind) -> OnFailure {
        match kind {
            Kind::Crypto => self.cfg.on_failure_async,
            _ => self.cfg.on_failure,
        }
    }

    /// Folds `p` into `last`, the record handed over just before it, when
    /// coalescing is on and the two would make one line (see
    /// [`Pending::absorb`]); else gives `p` back to be appended.
    pub(super) fn fold(&self, last: Option<&mut Pending>, p: Pending) -> Option<Pending> {
        match last {
            Some(last) if self.cfg.coalesce && !p.sync => last.absorb(p),
            _ => Some(p),
        }
    }

    pub(super) fn outcome(&self, kind: Kind, r: Result<()>) -> Result<()> {
        match r {
            Ok(()) => Ok(()),
            Err(e) if self.policy(kind) == OnFailure::Refuse => {
                Err(Error::device(format!("audit record not written: {}", e.reason())))
            }
            Err(_) => Ok(()),
        }
    }

    pub(super) fn inline(&self, p: Pending, sync: bool) -> Result<()> {
        let kind = p.kind;
        let mut inl = self.inline.lock().map_err(lock_err)?;
        if let Some(p) = self.fold(inl.buf.last_mut(), p) {
            inl.buf.push(p);
        }
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
    pub(super) fn write_through(&self, p: Pending, fsync: bool) -> Result<()> {
        let mut w = self.writer.lock().map_err(lock_err)?;
        self.write_through_locked(&mut w, p, fsync, true)
    }

    /// [`Self::write_through`] under a writer lock the caller holds; with
    /// `anchor` false the anchor in the store is not touched (the caller
    /// holds a store write transaction: the writer thread moves the anchor
    /// later).
    pub(super) fn write_through_locked(
        &self,
        w: &mut writer::LogWriter,
        p: Pending,
        fsync: bool,
        anchor: bool,
    ) -> Result<()> {
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
    pub(super) fn process(&self, mut batch: Vec<Pending>, fsync: bool, force_anchor: bool) -> Result<()> {
        let mut w = self.writer.lock().map_err(lock_err)?;
        self.process_locked(&mut w, &mut batch, fsync, force_anchor)
    }

    pub(super) fn process_locked(
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
                Ok(()) => c.records += batch.iter().filter(|p| p.log).map(Pending::uses).sum::<u64>(),
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
}

/// The writer thread: drain, write one batch, answer the waiters, repeat.
pub(super) fn run(sh: Arc<Shared>) {
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
