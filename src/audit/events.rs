//! State-change events as CloudEvents 1.0 (JSON format) and their sinks: a
//! JSON-lines file, syslog (a datagram to `/dev/log`, no libc call), and an
//! executable hook that gets the event on stdin, run asynchronously and
//! killed after `hook_timeout_ms`.
//!
//! Alerts (disabling a key version, scheduling a deletion, a PIN lockout)
//! carry the extension attribute `severity = "alert"` and go to syslog at
//! WARNING; other events at NOTICE.
//!
//! The audit log's external witness ([`Witness`]) sends each anchor of the
//! log (sequence number and MAC, at most every `audit.witness_ms`) as the
//! event `dev.keyward.audit.anchor` with `data = {token, serial, seq, mac}`
//! to the events file and syslog (`[events] syslog` or `[audit] syslog`), so
//! `keyward audit verify --witness FILE` ([`parse_witness`]) catches a log
//! truncated or rewritten together with its anchor in the store.
//!
//! Owns: the event format and the sinks. Must not touch: the log and its
//! chain (the witness only sends what `writer.rs` anchored).

use super::config::EventsConfig;
use super::record::{KeyArg, Pending, format_time_ms, mechanism_name};
use crate::ck::CKR_OK;
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const LOG_WARNING: u8 = 4;
pub const LOG_NOTICE: u8 = 5;
pub const LOG_INFO: u8 = 6;
/// LOG_AUTHPRIV.
const FACILITY: u8 = 10;

/// A syslog client writing RFC 3164 datagrams to a local socket.
pub struct Syslog {
    socket: PathBuf,
    tag: String,
    sock: Option<UnixDatagram>,
}

impl Syslog {
    pub fn new(socket: &Path, tag: &str) -> Syslog {
        Syslog { socket: socket.to_path_buf(), tag: tag.to_string(), sock: UnixDatagram::unbound().ok() }
    }

    /// Sends one message; a missing syslog daemon is not an error of the call.
    pub fn send(&self, severity: u8, msg: &str) {
        let pri = FACILITY as u32 * 8 + severity as u32;
        let line = format!("<{pri}>{}[{}]: {msg}", self.tag, std::process::id());
        if let Some(s) = &self.sock
            && let Err(e) = s.send_to(line.as_bytes(), &self.socket)
        {
            log::debug!("syslog {}: {e}", self.socket.display());
        }
    }
}

/// The CloudEvents type of a witnessed anchor.
pub const ANCHOR_EVENT: &str = "dev.keyward.audit.anchor";

/// Sends the audit log's anchors outside the token store (see the module doc).
pub struct Witness {
    file: Option<PathBuf>,
    syslog: Option<Syslog>,
    source: String,
    every: Duration,
    last: Option<Instant>,
    /// The highest sequence number sent.
    seen: u64,
    counter: u64,
}

impl Witness {
    /// `None` when no sink is configured.
    pub fn new(events: &EventsConfig, audit: &super::config::AuditConfig) -> Option<Witness> {
        let socket = if events.syslog {
            Some(&events.syslog_socket)
        } else if audit.syslog {
            Some(&audit.syslog_socket)
        } else {
            None
        };
        if events.file.is_none() && socket.is_none() {
            return None;
        }
        Some(Witness {
            file: events.file.clone(),
            syslog: socket.map(|s| Syslog::new(s, "keyward-audit")),
            source: events.source.clone(),
            every: Duration::from_millis(audit.witness_ms),
            last: None,
            seen: 0,
            counter: 0,
        })
    }

    /// Whether the anchor at `seq` should be sent now.
    pub fn due(&self, seq: u64, force: bool) -> bool {
        seq > self.seen && (force || self.last.is_none_or(|t| t.elapsed() >= self.every))
    }

    /// Sends one anchor; a failing sink is logged, never an error of the call.
    pub fn send(&mut self, token: &str, serial: Option<&str>, st: super::chain::ChainState) {
        self.counter += 1;
        let mut r = [0u8; 8];
        let _ = crate::crypto::random_fill(&mut r);
        let ev = serde_json::json!({
            "specversion": "1.0",
            "id": format!("{}-{}-{}", hex::encode(r), std::process::id(), self.counter),
            "source": format!("{}/{token}", self.source),
            "type": ANCHOR_EVENT,
            "time": format_time_ms(super::record::now_ms()),
            "datacontenttype": "application/json",
            "data": { "token": token, "serial": serial, "seq": st.seq, "mac": hex::encode(st.mac), "pid": std::process::id() },
        });
        let line = ev.to_string();
        if let Some(f) = &self.file {
            let r = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(f)
                .and_then(|mut file| file.write_all(format!("{line}\n").as_bytes()));
            if let Err(e) = r {
                log::error!("audit witness {}: {e}", f.display());
            }
        }
        if let Some(s) = &self.syslog {
            s.send(LOG_INFO, &line);
        }
        self.seen = st.seq;
        self.last = Some(Instant::now());
    }
}

/// The anchors of the token with serial `serial` in a witness file: events
/// JSON lines, or syslog lines carrying them (the JSON from the first `{`).
/// Lines that are not anchors are skipped.
pub fn parse_witness(text: &str, serial: &str) -> Vec<super::chain::ChainState> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(at) = line.find('{') else { continue };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line[at..]) else { continue };
        if v.get("type").and_then(|t| t.as_str()) != Some(ANCHOR_EVENT) {
            continue;
        }
        let d = &v["data"];
        if d.get("serial").and_then(|s| s.as_str()) != Some(serial) {
            continue;
        }
        let (Some(seq), Some(mac)) = (d["seq"].as_u64(), d["mac"].as_str().and_then(super::chain::parse_mac)) else {
            continue;
        };
        out.push(super::chain::ChainState { seq, mac });
    }
    out
}

/// Builds the CloudEvent for a state change, or `None` when `p` changed
/// nothing (a refusal that is not a lockout).
pub fn cloudevent(p: &Pending, source: &str, token: &str, id: &str) -> Option<serde_json::Value> {
    let event = p.event?;
    if p.rv != CKR_OK && !p.alert {
        return None;
    }
    let mut data = serde_json::json!({
        "token": token,
        "slot": p.slot,
        "function": p.function,
        "result": crate::error::rv_name(p.rv),
        "pid": std::process::id(),
        "user": super::record::os_user(),
        "role": p.role.as_str(),
    });
    if let (Some(obj), Some(u)) = (data.as_object_mut(), &p.principal) {
        obj.insert("principal".into(), u.to_string().into());
    }
    if let Some(obj) = data.as_object_mut() {
        if let Some(s) = p.session {
            obj.insert("session".into(), s.into());
        }
        if let Some(m) = p.mechanism {
            obj.insert("mechanism".into(), mechanism_name(m).into());
        }
        if let Some(k) = &p.key {
            obj.insert("key".into(), serde_json::to_value(k.to_ref()).unwrap_or_default());
        }
        if !p.created.is_empty() {
            let c: Vec<_> = p.created.iter().map(KeyArg::to_ref).collect();
            obj.insert("created".into(), serde_json::to_value(c).unwrap_or_default());
        }
        if let Some(r) = p.reason.as_ref().filter(|_| p.rv != CKR_OK) {
            obj.insert("reason".into(), r.clone().into());
        }
        if let Some(d) = &p.details {
            obj.insert("details".into(), d.clone());
        }
    }
    let subject = p.key.as_ref().map(KeyArg::to_ref).and_then(|k| k.uid.or(k.label));
    let mut ev = serde_json::json!({
        "specversion": "1.0",
        "id": id,
        "source": format!("{source}/{token}"),
        "type": format!("dev.keyward.{event}"),
        "time": format_time_ms(p.time_ms),
        "datacontenttype": "application/json",
        "severity": if p.alert { "alert" } else { "info" },
        "data": data,
    });
    if let (Some(s), Some(o)) = (subject, ev.as_object_mut()) {
        o.insert("subject".into(), s.into());
    }
    Some(ev)
}

/// The configured sinks of one token.
pub struct Sinks {
    cfg: EventsConfig,
    syslog: Option<Syslog>,
    running: Vec<(Child, Instant)>,
    counter: u64,
}

impl Sinks {
    pub fn new(cfg: &EventsConfig) -> Sinks {
        let syslog = cfg.syslog.then(|| Syslog::new(&cfg.syslog_socket, "keyward"));
        Sinks { cfg: cfg.clone(), syslog, running: Vec::new(), counter: 0 }
    }

    pub fn active(&self) -> bool {
        self.cfg.any_sink()
    }

    fn next_id(&mut self) -> String {
        self.counter += 1;
        let mut r = [0u8; 8];
        let _ = crate::crypto::random_fill(&mut r);
        format!("{}-{}-{}", hex::encode(r), std::process::id(), self.counter)
    }

    /// Publishes the event of `p` (if it is one) to every sink. Sink
    /// failures go to stderr; they never fail the call.
    pub fn publish(&mut self, p: &Pending, token: &str) {
        self.reap();
        if !self.active() || p.event.is_none() {
            return;
        }
        let id = self.next_id();
        let Some(ev) = cloudevent(p, &self.cfg.source, token, &id) else { return };
        let line = ev.to_string();
        if let Some(f) = &self.cfg.file {
            let r = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(f)
                .and_then(|mut file| file.write_all(format!("{line}\n").as_bytes()));
            if let Err(e) = r {
                log::error!("events file {}: {e}", f.display());
            }
        }
        if let Some(s) = &self.syslog {
            s.send(if p.alert { LOG_WARNING } else { LOG_NOTICE }, &line);
        }
        if let Some(hook) = self.cfg.hook.clone() {
            self.run_hook(&hook, &line, ev.get("type").and_then(|t| t.as_str()).unwrap_or(""));
        }
    }

    fn run_hook(&mut self, hook: &Path, line: &str, ty: &str) {
        let child = Command::new(hook)
            .env("KEYWARD_EVENT_TYPE", ty)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn();
        match child {
            Ok(mut c) => {
                if let Some(mut stdin) = c.stdin.take() {
                    // An event is far below the pipe buffer: this does not block.
                    let _ = stdin.write_all(line.as_bytes());
                    let _ = stdin.write_all(b"\n");
                }
                self.running.push((c, Instant::now() + Duration::from_millis(self.cfg.hook_timeout_ms)));
            }
            Err(e) => log::error!("event hook {}: {e}", hook.display()),
        }
    }

    /// Collects finished hooks and kills those past their timeout.
    pub fn reap(&mut self) {
        let now = Instant::now();
        self.running.retain_mut(|(c, deadline)| match c.try_wait() {
            Ok(Some(st)) => {
                if !st.success() {
                    log::warn!("event hook exited with {st}");
                }
                false
            }
            Ok(None) if now >= *deadline => {
                log::error!("event hook timed out: killed");
                let _ = c.kill();
                let _ = c.wait();
                false
            }
            Ok(None) => true,
            Err(_) => false,
        });
    }

    pub fn has_running(&self) -> bool {
        !self.running.is_empty()
    }

    /// Waits (bounded by the hook timeout) for running hooks, at shutdown.
    pub fn drain(&mut self) {
        while self.has_running() {
            self.reap();
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[cfg(test)]
mod witness_tests {
    use super::*;

    #[test]
    fn witnessed_anchors_parse_back_from_the_events_file_and_syslog_lines() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("events.jsonl");
        let events = EventsConfig { file: Some(file.clone()), ..Default::default() };
        let audit = super::super::config::AuditConfig { witness_ms: 0, ..Default::default() };
        let mut w = Witness::new(&events, &audit).unwrap();
        let a = super::super::chain::ChainState { seq: 3, mac: [3; 32] };
        let b = super::super::chain::ChainState { seq: 9, mac: [9; 32] };
        assert!(w.due(3, false));
        w.send("tok", Some("serial-1"), a);
        assert!(!w.due(3, true), "seen");
        w.send("tok", Some("serial-2"), b);
        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push_str("not json\n{\"type\":\"dev.keyward.key.created\"}\n");
        let line = text.lines().next().unwrap().to_string();
        text.push_str(&format!("<86>keyward-audit[12]: {}\n", line.replace("\"seq\":3", "\"seq\":4")));
        let got = parse_witness(&text, "serial-1");
        assert_eq!(got.iter().map(|c| c.seq).collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(got[0].mac, [3; 32]);
        assert_eq!(parse_witness(&text, "serial-2"), vec![b]);
        assert!(Witness::new(&EventsConfig::default(), &audit).is_none(), "no sink, no witness");
    }
}
