//! Metrics in the Prometheus text exposition format (0.0.4).
//!
//! Per process: operation counters by function, mechanism and result,
//! latency histograms by function, login failures, lockouts, events and
//! audit records written, audit write errors. Written to a node_exporter
//! textfile-collector directory (`keyward_<pid>_slot<N>.prom`, atomically)
//! every `metrics.interval_secs`.
//!
//! Per token (`keyward metrics`): keys by class/algorithm/state, rotations
//! due, pending deletions (from [`KeySummary`]s the caller builds from its
//! objects: this module reads no object), and the operation counters,
//! latencies, login failures and rotations done of every process, read back
//! from the audit log.
//!
//! Owns: the counters and their text form. Must not touch: objects or the
//! store (keys come in as [`KeySummary`]), the log (read through
//! `read_log`).

use super::record::{Pending, Record, mechanism_name};
use crate::ck::*;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Latency buckets, seconds.
const BUCKETS: [f64; 12] = [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0];

#[derive(Clone, Default)]
pub struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    pub fn observe(&mut self, secs: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

/// A login call (C_Login, or C_LoginUser of a named user).
fn is_login(function: &str) -> bool {
    function == "C_Login" || function == "C_LoginUser"
}

/// Operation counts by (function, mechanism, result) names.
type OpCounts = BTreeMap<(String, String, String), u64>;

/// Counters keyed by plain strings (rendered once per scrape/interval).
#[derive(Default)]
pub struct Counters {
    pub ops: OpCounts,
    pub latency: BTreeMap<String, Histogram>,
    pub login_failures: u64,
    pub lockouts: u64,
    pub events: BTreeMap<String, u64>,
    pub records: u64,
    pub write_errors: u64,
    /// The hot form of `ops`/`latency` (the writer thread observes every
    /// call): keyed by the static function name and raw numbers, folded
    /// into the string maps when rendered.
    fast_ops: HashMap<(&'static str, Option<CK_MECHANISM_TYPE>, CK_RV), u64, foldhash::fast::RandomState>,
    fast_latency: HashMap<&'static str, Histogram, foldhash::fast::RandomState>,
    /// Calls of named users (issue 17) by (user, result).
    pub users: BTreeMap<(String, String), u64>,
    fast_users: HashMap<(std::sync::Arc<str>, CK_RV), u64, foldhash::fast::RandomState>,
}

impl Counters {
    pub fn observe(&mut self, function: &str, mech: Option<CK_MECHANISM_TYPE>, rv: CK_RV, duration_us: u64) {
        let m = mech.map(mechanism_name).unwrap_or_default();
        *self.ops.entry((function.to_string(), m, crate::error::rv_name(rv).to_string())).or_default() += 1;
        self.latency.entry(function.to_string()).or_default().observe(duration_us as f64 / 1e6);
        if is_login(function) && rv != CKR_OK {
            self.login_failures += 1;
        }
        if rv == CKR_PIN_LOCKED {
            self.lockouts += 1;
        }
    }

    pub fn observe_pending(&mut self, p: &Pending) {
        let latency = self.fast_latency.entry(p.function).or_default();
        for d in p.durations_us() {
            latency.observe(d as f64 / 1e6);
        }
        *self.fast_ops.entry((p.function, p.mechanism, p.rv)).or_default() += p.uses();
        if let Some(u) = &p.principal {
            *self.fast_users.entry((u.clone(), p.rv)).or_default() += p.uses();
        }
        if is_login(p.function) && p.rv != CKR_OK {
            self.login_failures += 1;
        }
        if p.rv == CKR_PIN_LOCKED {
            self.lockouts += 1;
        }
        if let Some(e) = p.event.filter(|_| p.rv == CKR_OK) {
            *self.events.entry(e.to_string()).or_default() += 1;
        }
    }

    fn observe_record(&mut self, r: &Record) {
        let m = r.mechanism.clone().unwrap_or_default();
        *self.ops.entry((r.function.clone(), m, r.result.clone())).or_default() += r.count.unwrap_or(1);
        if let Some(u) = &r.principal {
            *self.users.entry((u.clone(), r.result.clone())).or_default() += r.count.unwrap_or(1);
        }
        self.latency.entry(r.function.clone()).or_default().observe(r.duration_us as f64 / 1e6);
        if is_login(&r.function) && r.result != "CKR_OK" {
            self.login_failures += 1;
        }
        if r.result == "CKR_PIN_LOCKED" {
            self.lockouts += 1;
        }
        if let Some(e) = r.event.as_ref().filter(|_| r.result == "CKR_OK") {
            *self.events.entry(e.clone()).or_default() += 1;
        }
        self.records += 1;
    }

    /// Renders the counters with `base` labels (`token="x",slot="0"`).
    /// `ops` and `latency` with the hot counters folded in.
    fn merged(&self) -> (OpCounts, BTreeMap<String, Histogram>) {
        let mut ops = self.ops.clone();
        for ((f, m, rv), n) in &self.fast_ops {
            let key =
                (f.to_string(), m.map(mechanism_name).unwrap_or_default(), crate::error::rv_name(*rv).to_string());
            *ops.entry(key).or_default() += n;
        }
        let mut latency = self.latency.clone();
        for (f, h) in &self.fast_latency {
            let e = latency.entry(f.to_string()).or_default();
            for (i, c) in h.counts.iter().enumerate() {
                e.counts[i] += c;
            }
            e.count += h.count;
            e.sum += h.sum;
        }
        (ops, latency)
    }

    pub fn render(&self, base: &str, out: &mut String) {
        let (ops, latency) = self.merged();
        family(out, "keyward_operations_total", "counter", "PKCS#11 calls by function, mechanism and result.");
        for ((f, m, r), n) in &ops {
            let _ = writeln!(
                out,
                "keyward_operations_total{{{base},function=\"{}\",mechanism=\"{}\",result=\"{}\"}} {n}",
                esc(f),
                esc(m),
                esc(r)
            );
        }
        let mut users = self.users.clone();
        for ((u, rv), n) in &self.fast_users {
            *users.entry((u.to_string(), crate::error::rv_name(*rv).to_string())).or_default() += n;
        }
        family(out, "keyward_user_operations_total", "counter", "PKCS#11 calls of named users by user and result.");
        for ((u, r), n) in &users {
            let _ =
                writeln!(out, "keyward_user_operations_total{{{base},user=\"{}\",result=\"{}\"}} {n}", esc(u), esc(r));
        }
        family(out, "keyward_operation_duration_seconds", "histogram", "Latency of PKCS#11 calls by function.");
        for (f, h) in &latency {
            let f = esc(f);
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "keyward_operation_duration_seconds_bucket{{{base},function=\"{f}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "keyward_operation_duration_seconds_bucket{{{base},function=\"{f}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "keyward_operation_duration_seconds_sum{{{base},function=\"{f}\"}} {}", h.sum);
            let _ = writeln!(out, "keyward_operation_duration_seconds_count{{{base},function=\"{f}\"}} {}", h.count);
        }
        family(out, "keyward_login_failures_total", "counter", "Failed C_Login calls.");
        let _ = writeln!(out, "keyward_login_failures_total{{{base}}} {}", self.login_failures);
        family(out, "keyward_pin_lockouts_total", "counter", "Calls answered CKR_PIN_LOCKED.");
        let _ = writeln!(out, "keyward_pin_lockouts_total{{{base}}} {}", self.lockouts);
        family(out, "keyward_events_total", "counter", "State-change events by type.");
        for (e, n) in &self.events {
            let _ = writeln!(out, "keyward_events_total{{{base},type=\"{}\"}} {n}", esc(e));
        }
        family(out, "keyward_rotations_total", "counter", "Key rotations done.");
        let _ =
            writeln!(out, "keyward_rotations_total{{{base}}} {}", self.events.get("key.rotated").copied().unwrap_or(0));
        family(out, "keyward_audit_records_total", "counter", "Audit records written.");
        let _ = writeln!(out, "keyward_audit_records_total{{{base}}} {}", self.records);
        family(out, "keyward_audit_write_errors_total", "counter", "Failed audit log writes.");
        let _ = writeln!(out, "keyward_audit_write_errors_total{{{base}}} {}", self.write_errors);
    }
}

fn family(out: &mut String, name: &str, ty: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {ty}");
}

/// Escapes a label value.
pub fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Writes `text` to `dir/name` atomically (temp file + rename), as the
/// textfile collector expects.
pub fn write_textfile(dir: &Path, name: &str, text: &str) -> std::io::Result<PathBuf> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// The `algorithm` label of a key type.
pub fn key_type_name(kt: Option<CK_KEY_TYPE>) -> &'static str {
    match kt {
        Some(CKK_AES) => "aes",
        Some(CKK_GENERIC_SECRET) => "generic_secret",
        Some(CKK_RSA) => "rsa",
        Some(CKK_EC) => "ec",
        Some(CKK_EC_EDWARDS) => "ec_edwards",
        Some(CKK_EC_MONTGOMERY) => "ec_montgomery",
        Some(CKK_ML_DSA) => "ml_dsa",
        Some(CKK_ML_KEM) => "ml_kem",
        Some(CKK_SHA256_HMAC) => "sha256_hmac",
        None => "none",
        _ => "other",
    }
}

/// One key object as the token-level gauges count it, built by the caller
/// from its objects (`Token::key_summaries`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySummary {
    /// `record::class_name` of the object class.
    pub class: &'static str,
    /// [`key_type_name`] of the key type.
    pub algorithm: &'static str,
    /// The lifecycle state: `enabled`, `disabled`, `pending_deletion` ...
    pub state: String,
    /// When the key is next due for rotation (epoch milliseconds), if
    /// scheduled.
    pub next_rotation_ms: Option<u64>,
    /// A copy of another key version (follows its source's state: not
    /// counted).
    pub is_copy: bool,
}

/// The token-level view: gauges over the token's `keys` plus counters read
/// back from the audit log in `dir`.
pub fn token_view(label: &str, slot: u64, keys: &[KeySummary], dir: &Path) -> String {
    let base = format!("token=\"{}\",slot=\"{slot}\"", esc(label));
    let mut out = String::new();
    let now = super::record::now_ms();
    let mut counts: BTreeMap<(&str, &str, &str), u64> = BTreeMap::new();
    let (mut due, mut pending) = (0u64, 0u64);
    // Key versions, not copies (a copy follows its source's state).
    for k in keys.iter().filter(|k| !k.is_copy) {
        if k.state == "pending_deletion" {
            pending += 1;
        }
        if k.next_rotation_ms.is_some_and(|t| t > 0 && t <= now) {
            due += 1;
        }
        *counts.entry((k.class, k.algorithm, &k.state)).or_default() += 1;
    }
    family(&mut out, "keyward_keys", "gauge", "Key objects by class, algorithm and state.");
    for ((c, a, s), n) in &counts {
        let _ = writeln!(out, "keyward_keys{{{base},class=\"{c}\",algorithm=\"{a}\",state=\"{}\"}} {n}", esc(s));
    }
    family(&mut out, "keyward_rotations_due", "gauge", "Keys whose next rotation time has passed.");
    let _ = writeln!(out, "keyward_rotations_due{{{base}}} {due}");
    family(&mut out, "keyward_pending_deletions", "gauge", "Key versions scheduled for deletion.");
    let _ = writeln!(out, "keyward_pending_deletions{{{base}}} {pending}");
    let mut c = Counters::default();
    let mut last_ms = 0;
    super::read_log(dir, &mut |r| {
        c.observe_record(&r);
        last_ms = r.time_ms().unwrap_or(last_ms);
        true
    });
    c.render(&base, &mut out);
    family(&mut out, "keyward_audit_last_record_timestamp_seconds", "gauge", "Time of the newest audit record.");
    let _ = writeln!(out, "keyward_audit_last_record_timestamp_seconds{{{base}}} {}", last_ms as f64 / 1000.0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters() {
        let mut c = Counters::default();
        c.observe("C_SignInit", Some(CKM_SHA256_HMAC), CKR_OK, 12);
        c.observe("C_Login", None, CKR_PIN_INCORRECT, 1200);
        let mut s = String::new();
        c.render("token=\"t\",slot=\"0\"", &mut s);
        assert!(s.contains(
            "keyward_operations_total{token=\"t\",slot=\"0\",function=\"C_SignInit\",mechanism=\"CKM_SHA256_HMAC\",result=\"CKR_OK\"} 1"
        ));
        assert!(s.contains("keyward_login_failures_total{token=\"t\",slot=\"0\"} 1"));
        assert!(s.contains("le=\"+Inf\"} 1"));
    }

    #[test]
    fn token_view_counts_key_versions_not_copies() {
        let d = tempfile::tempdir().unwrap();
        let key = |state: &str, next_rotation_ms, is_copy| KeySummary {
            class: "secret_key",
            algorithm: "aes",
            state: state.into(),
            next_rotation_ms,
            is_copy,
        };
        let keys = [
            key("enabled", Some(1_000), false),
            key("enabled", None, false),
            key("pending_deletion", None, false),
            key("pending_deletion", Some(1_000), true),
        ];
        let s = token_view("t", 0, &keys, d.path());
        assert!(s.contains(
            "keyward_keys{token=\"t\",slot=\"0\",class=\"secret_key\",algorithm=\"aes\",state=\"enabled\"} 2"
        ));
        assert!(s.contains("state=\"pending_deletion\"} 1"), "{s}");
        assert!(s.contains("keyward_rotations_due{token=\"t\",slot=\"0\"} 1"));
        assert!(s.contains("keyward_pending_deletions{token=\"t\",slot=\"0\"} 1"));
    }
}
