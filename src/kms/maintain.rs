//! Automatic maintenance: due rotations and purges, run inline on the
//! caller's thread (never a thread of its own) after a user login and at
//! most once a minute on later lookups, and by `keyward maintain`
//! ([`Report`]). [`TokenKms`] is the lifecycle state a token keeps in memory.
//!
//! Owns: when maintenance runs and what it reports. Must not touch: how a
//! rotation or a purge is made (`rotate.rs`, `delete.rs`).
#![allow(clippy::unnecessary_cast)] // CK_ULONG is not u64 on every platform

use super::KmsConfig;
use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Instant;

/// What automatic maintenance did.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    /// Each new version.
    pub rotated: Vec<MaintainedVersion>,
    /// Each purged object of a version.
    pub purged: Vec<MaintainedVersion>,
}

/// One version that maintenance rotated to or purged.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MaintainedVersion {
    /// The key's label (CKA_LABEL, lossily as UTF-8).
    pub label: String,
    pub version: u64,
    /// For a purge: the object purged ("secret", "private" or "public").
    pub object: Option<&'static str>,
}

/// The lifecycle state a token keeps in memory.
pub struct TokenKms {
    pub config: KmsConfig,
    pub(crate) grace: u64,
    pub(crate) started: Instant,
    pub(crate) next_tick_ms: AtomicU64,
    /// Whether a user login already ran the maintenance in this process.
    /// After a sweep: the object-cache generation it saw and the earliest
    /// time something comes due (logins skip the sweep until then).
    pub(crate) due_hint: Mutex<Option<(u64, i64)>>,
    pub(crate) running: AtomicBool,
    /// What automatic runs did since `keyward maintain` last asked.
    pub(crate) done: Mutex<Report>,
}

pub(crate) const TICK_MS: u64 = 60_000;

impl TokenKms {
    pub fn new(config: &KmsConfig) -> TokenKms {
        TokenKms {
            config: config.clone(),
            grace: config.grace_secs().unwrap_or(7 * 86_400),
            started: Instant::now(),
            next_tick_ms: AtomicU64::new(0),
            due_hint: Mutex::new(None),
            running: AtomicBool::new(false),
            done: Mutex::new(Report::default()),
        }
    }
    pub fn grace(&self) -> u64 {
        self.grace
    }
    pub(crate) fn elapsed_ms(&self) -> u64 {
        crate::clock::now().saturating_duration_since(self.started).as_millis() as u64
    }
}
