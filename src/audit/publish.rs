//! What follows a processed batch besides the log: its events to the
//! event sinks (CloudEvents file, syslog, hook) and the per-process
//! metrics textfile.
//!
//! Owns: when and what is published. Must not touch: the log and its
//! chain (`writer.rs`), the queue (`queue.rs`).

use super::metrics;
use super::queue::Shared;
use super::record::Pending;
use std::sync::Arc;
use std::time::{Duration, Instant};

impl Shared {
    pub(super) fn publish(&self, batch: &[Pending]) {
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

    pub(super) fn maybe_textfile(&self, force: bool) {
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
