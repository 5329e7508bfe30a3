//! The tamper-evident audit log, state-change events and metrics.
//!
//! Owns: `<token dir>/audit.jsonl` (+ rotated `audit-<seq>.jsonl`, the
//! `audit.lock` file), the `audit.*` keys of the store's meta table, the
//! event sinks and the metrics textfile. Must not touch: token state,
//! sessions, key material (records name keys by UID/label/version only;
//! PINs and secret attributes never reach this module).
//!
//! Flow: `Library` runs each PKCS#11 call inside [`Audit::around`], which
//! checks that the call may run ([`Audit::admits`]), describes it as a
//! [`Call`], runs it, and records what it saw ([`Done`]: names and handles
//! through the caller's [`Naming`] (the token's, in `token::audited`), an
//! `Arc` of the key object as [`record::Named`], the CK_RV) with
//! [`Audit::record`]; that builds a [`record::Pending`] and hands it over:
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
//!
//! Files: `call.rs` (what a call hands over: [`Call`], [`Done`],
//! [`Lifecycle`], [`Outcome`], [`Naming`]), `handle.rs` (the [`Audit`]
//! handle: the envelope around a call, admit, record, submit, flush), `queue.rs` (the queue, inline batches and the
//! writer thread), `publish.rs` (events and the metrics textfile after a
//! batch), `read.rs` (reading the log back), `record.rs`, `writer.rs`,
//! `chain.rs`, `verify.rs`, `events.rs`, `metrics.rs`, `config.rs`.
//!
//! Layering: `audit/` imports only `crate::ck`, `crate::error` and
//! `crate::crypto` (HMAC, random bytes). The layers above hand it plain
//! values and implement its traits ([`record::Named`], [`Meta`],
//! [`KeySealer`], [`Naming`]); their glue is `token::audited`.

pub mod chain;
pub mod config;
pub mod events;
pub mod metrics;
pub mod record;
pub mod verify;
pub mod writer;

mod call;
mod handle;
mod publish;
mod queue;
mod read;

use crate::ck::CK_ULONG;
use crate::error::Error;

pub use call::{Call, Done, Lifecycle, Naming, Op, Outcome};
pub use chain::{Broken, ChainState, Verified};
pub use handle::{Audit, CommitGuard};
pub use read::{format_human, names_key, read_lines, read_log};
pub use verify::verify_dir;
pub use writer::{KeySealer, Meta};

/// An object, session or slot handle.
type Handle = CK_ULONG;

pub const LOG_FILE: &str = "audit.jsonl";
pub const LOCK_FILE: &str = "audit.lock";

fn lock_err<T>(_: T) -> Error {
    Error::general("audit lock poisoned")
}
