//! The `[audit]`, `[events]` and `[metrics]` tables of the configuration.
//!
//! ```toml
//! [audit]
//! enabled = true              # false: no audit records at all (benchmarks)
//! sync = "batch"              # "batch": crypto/session-object records are group-committed by a
//!                             #   background writer (one write + one fsync per batch);
//!                             # "always": every record is written and fsync'ed before the call returns
//! on_failure = "refuse"       # auth/lifecycle/token-object record cannot be written: "refuse" (CKR_DEVICE_ERROR) or "continue"
//! on_failure_async = "continue" # the same for crypto records: "refuse" refuses later key uses while the log is broken
//! max_file_bytes = 67108864   # rotate audit.jsonl past this size (0 = never)
//! keep_files = 0              # rotated files to keep (0 = all)
//! max_batch = 4096            # records per group commit
//! flush_ms = 200              # without a writer thread: flush pending records at least this often
//! anchor_ms = 100             # at most this long between anchor updates in the store (batch mode)
//! witness_ms = 1000           # anchors also go to the events file / syslog at most this often (0 = each)
//! syslog = false              # also send every record to syslog (facility authpriv)
//! syslog_socket = "/dev/log"
//! queue = 65536               # records queued for the writer before callers wait (backpressure)
//! completions = "all"         # C_Encrypt/C_Sign/...Final records: "all" or "failures" (Inits are always recorded)
//!
//! [events]
//! file = "/var/log/keyward/events.jsonl"   # CloudEvents as JSON lines (optional)
//! syslog = false                           # CloudEvents to syslog (alerts at WARNING)
//! syslog_socket = "/dev/log"
//! hook = "/usr/local/bin/on-keyward-event" # run with the event on stdin (optional)
//! hook_timeout_ms = 5000
//! source = "keyward"                       # CloudEvents `source` prefix
//!
//! [metrics]
//! textfile_dir = "/var/lib/node_exporter/textfile"  # optional
//! interval_secs = 15
//! ```
//!
//! Owns: these tables, their defaults and path resolution. Must not touch:
//! the whole configuration (`crate::config` holds these tables; `audit`
//! does not import it: see [`Tables`]).

use serde::Deserialize;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    #[default]
    Batch,
    Always,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    Refuse,
    Continue,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    pub enabled: bool,
    pub sync: SyncMode,
    pub on_failure: OnFailure,
    pub on_failure_async: OnFailure,
    pub max_file_bytes: u64,
    pub keep_files: usize,
    pub max_batch: usize,
    pub flush_ms: u64,
    pub anchor_ms: u64,
    /// At most this long between anchors sent to the external witness (the
    /// events file or syslog, when configured; `events::Witness`), 0 =
    /// every anchor. Records after the last witnessed anchor can be
    /// truncated unseen.
    pub witness_ms: u64,
    pub syslog: bool,
    pub syslog_socket: PathBuf,
    pub queue: usize,
    pub completions: Completions,
    /// Write identical successful uses of a key that share a batch as one
    /// record with a count (see `record::coalesce`); false: one record per
    /// call.
    pub coalesce: bool,
}

/// Which single-part/final calls (C_Encrypt, C_Sign, C_DecryptFinal ...)
/// get a record; their Init always does.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Completions {
    #[default]
    All,
    /// Only failed ones (tag mismatch, bad signature ...): halves the log
    /// volume of Init+one-shot workloads. Successful ones still count in
    /// the metrics.
    Failures,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            enabled: true,
            sync: SyncMode::Batch,
            on_failure: OnFailure::Refuse,
            on_failure_async: OnFailure::Continue,
            max_file_bytes: 64 << 20,
            keep_files: 0,
            max_batch: 4096,
            flush_ms: 50,
            anchor_ms: 100,
            witness_ms: 1000,
            syslog: false,
            syslog_socket: PathBuf::from("/dev/log"),
            queue: 65_536,
            completions: Completions::All,
            coalesce: true,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    pub file: Option<PathBuf>,
    pub syslog: bool,
    pub syslog_socket: PathBuf,
    pub hook: Option<PathBuf>,
    pub hook_timeout_ms: u64,
    pub source: String,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            file: None,
            syslog: false,
            syslog_socket: PathBuf::from("/dev/log"),
            hook: None,
            hook_timeout_ms: 5000,
            source: "keyward".into(),
        }
    }
}

impl EventsConfig {
    pub fn any_sink(&self) -> bool {
        self.file.is_some() || self.syslog || self.hook.is_some()
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub enabled: bool,
    pub textfile_dir: Option<PathBuf>,
    pub interval_secs: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { enabled: true, textfile_dir: None, interval_secs: 15 }
    }
}

/// The tables `audit` reads, borrowed from the whole configuration (which
/// holds them; `audit` does not import it).
#[derive(Clone, Copy)]
pub struct Tables<'a> {
    pub audit: &'a AuditConfig,
    pub events: &'a EventsConfig,
    pub metrics: &'a MetricsConfig,
}

/// Resolves relative sink paths against the config file's directory.
pub fn resolve_paths(events: &mut EventsConfig, metrics: &mut MetricsConfig, base: &std::path::Path) {
    let fix = |p: &mut PathBuf| {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    };
    if let Some(p) = events.file.as_mut() {
        fix(p);
    }
    if let Some(p) = events.hook.as_mut() {
        fix(p);
    }
    if let Some(p) = metrics.textfile_dir.as_mut() {
        fix(p);
    }
}
