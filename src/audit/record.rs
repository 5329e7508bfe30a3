//! One audit record: what the hot path hands over ([`Pending`], built from
//! values already at hand) and what the writer turns it into ([`Record`], a
//! JSON line). Secrets and PINs never enter either: keys are named by UID,
//! label and version, attributes by type only.
//!
//! Owns: the record types, coalescing, time and name formatting. Must not
//! touch: objects, sessions or the store (a key object comes in as
//! [`Named`]).

use crate::ck::*;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// What kind of call a record describes; decides how durably it is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Login, logout, lockout, PIN changes, token initialization: synchronous.
    Auth,
    /// Key lifecycle (rotate, disable, enable, deletion, restore, purge,
    /// import, tags): synchronous.
    Lifecycle,
    /// Object creation, copy, destruction, attribute change: synchronous for
    /// token objects, group-committed for session objects.
    Object,
    /// A cryptographic use of a key: group-committed.
    Crypto,
    /// The audit machinery itself (log repaired, records lost): synchronous.
    Audit,
}

/// Who was logged in when the call ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleName {
    Public,
    User,
    So,
}

impl RoleName {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleName::Public => "public",
            RoleName::User => "user",
            RoleName::So => "so",
        }
    }
}

/// A key as named in a record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<u64>,
}

impl KeyRef {
    pub fn handle(h: CK_ULONG) -> KeyRef {
        KeyRef { handle: Some(h), ..Default::default() }
    }
}

/// A key object as a record names it, implemented by the layer that owns
/// the objects (`token::audited`): the caller's thread hands over an `Arc`
/// clone, the writer's thread builds the [`KeyRef`] (no string copies on
/// the hot path). Implementations read no secret attribute.
pub trait Named: Send + Sync + std::fmt::Debug {
    /// How the record names the key (UID, label, version, class, handle).
    fn key_ref(&self) -> KeyRef;
    /// The object's UID (what coalescing compares).
    fn uid(&self) -> &str;
    fn handle(&self) -> CK_ULONG;
    /// A token (persistent) object: its records are written before the call
    /// returns and its changes are published as events.
    fn is_token(&self) -> bool;
}

/// The key a call names: the object (resolved cheaply on the caller's
/// thread: an `Arc` clone) or only its handle.
#[derive(Clone, Debug)]
pub enum KeyArg {
    Object(Arc<dyn Named>),
    Handle(CK_ULONG),
    Named(Box<KeyRef>),
}

impl KeyArg {
    pub fn to_ref(&self) -> KeyRef {
        match self {
            KeyArg::Object(o) => o.key_ref(),
            KeyArg::Handle(h) => KeyRef::handle(*h),
            KeyArg::Named(k) => (**k).clone(),
        }
    }
    /// Names a token object (see [`Named::is_token`]).
    pub fn is_token(&self) -> bool {
        matches!(self, KeyArg::Object(o) if o.is_token())
    }
}

/// What the caller's thread hands to the writer: plain values, no
/// formatting beyond what a failure reason already carries.
#[derive(Clone, Debug)]
pub struct Pending {
    /// Epoch milliseconds; stamped from `at` by [`Pending::stamp_all`] when
    /// the record is processed (off the caller's path for queued records).
    pub time_ms: u64,
    /// The monotonic time of the call, until stamped.
    pub at: Option<std::time::Instant>,
    pub kind: Kind,
    /// A CloudEvents-style event name (`login`, `key.disabled` ...), if the
    /// call changed state.
    pub event: Option<&'static str>,
    pub function: &'static str,
    pub slot: CK_ULONG,
    pub session: Option<CK_ULONG>,
    pub role: RoleName,
    /// The named user making the call (issue 17), `None` for the default
    /// user, the SO and public sessions.
    pub principal: Option<std::sync::Arc<str>>,
    pub mechanism: Option<CK_MECHANISM_TYPE>,
    pub key: Option<KeyArg>,
    /// Objects the call created (generate, unwrap, derive, copy, create).
    pub created: Vec<KeyArg>,
    pub rv: CK_RV,
    pub reason: Option<String>,
    pub duration_us: u64,
    /// Extra facts (tag names, grace period ...).
    pub details: Option<serde_json::Value>,
    /// Attribute types the call's template named (never values); written
    /// as `details.attributes`.
    pub attr_types: Vec<CK_ATTRIBUTE_TYPE>,
    /// Write and fsync before the call returns.
    pub sync: bool,
    /// An alert: disabling a key version, scheduling a deletion, a lockout.
    pub alert: bool,
    /// Written to the log (false: counted in the metrics only).
    pub log: bool,
    /// Identical uses that followed this one and were folded into it when
    /// they were handed over ([`Pending::absorb`]), if any.
    pub merged: Option<Box<Merged>>,
}

/// The uses folded into a [`Pending`] after it (see [`Pending::absorb`]):
/// the line written for it counts them, the metrics observe each.
#[derive(Clone, Debug)]
pub struct Merged {
    /// The monotonic time of the last one, until stamped into `last_ms`.
    pub last_at: Option<std::time::Instant>,
    pub last_ms: u64,
    /// Each one's duration, in call order.
    pub durations_us: Vec<u64>,
}

/// Uses folded into one handed-over record at most (the rest start a new
/// one): bounds the memory a stalled writer lets one record hold.
const MAX_MERGED: usize = 4096;

/// The JSON form of a record. Field order is the line's order.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Record {
    pub seq: u64,
    /// Hex MAC of the previous record (64 zeros before the first).
    pub prev: String,
    /// UTC, RFC 3339 with milliseconds.
    pub time: String,
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    pub pid: u32,
    pub user: String,
    pub token: String,
    pub slot: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<u64>,
    pub role: String,
    /// The named user who made the call (absent: the default user, the SO,
    /// or a public session; and in records written before named users).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    pub function: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mechanism: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created: Vec<KeyRef>,
    pub result: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default)]
    pub duration_us: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    /// A coalesced record: this many identical successful uses of the key
    /// (same function, session, role, mechanism and key), the first at
    /// `time`, the last at `last`; `duration_us` is their total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
}

/// One line to write: `p`, standing for `count` identical uses (see
/// [`coalesce`]).
pub struct Line<'a> {
    pub p: &'a Pending,
    pub count: u64,
    pub last_ms: u64,
    pub duration_us: u64,
}

impl<'a> Line<'a> {
    /// The line of `p` alone: the uses folded into it counted.
    pub fn of(p: &'a Pending) -> Line<'a> {
        match &p.merged {
            None => Line { p, count: 1, last_ms: p.time_ms, duration_us: p.duration_us },
            Some(m) => Line {
                p,
                count: p.uses(),
                last_ms: m.last_ms.max(p.time_ms),
                duration_us: m.durations_us.iter().fold(p.duration_us, |a, d| a.saturating_add(*d)),
            },
        }
    }
}

/// Whether `p` may be merged with identical neighbours: a successful
/// cryptographic use that changed nothing (no event, nothing created, no
/// alert) and that no caller waits for.
fn mergeable(p: &Pending) -> bool {
    let plain = p.rv == CKR_OK && p.event.is_none() && p.details.is_none() && !p.sync && !p.alert;
    match p.kind {
        // A use that made session objects only (C_EncapsulateKey,
        // C_DecapsulateKey, C_DeriveKey, C_UnwrapKey into session keys) is
        // counted like a session-object creation, the first one named; one
        // that made a token object is synchronous and never reaches here.
        Kind::Crypto => {
            plain
                && p.created.iter().all(|c| matches!(c, KeyArg::Object(o) if !o.is_token()))
                && matches!(p.key, Some(KeyArg::Object(_)) | Some(KeyArg::Handle(_)))
        }
        // Session objects (never token state: no event, not synchronous):
        // identical creations/destructions in one batch are counted, the
        // first one named.
        Kind::Object => plain,
        _ => false,
    }
}

/// What makes two uses the same for coalescing.
#[derive(PartialEq, Eq, Hash)]
struct Signature<'a> {
    function: &'static str,
    session: Option<CK_ULONG>,
    role: &'static str,
    principal: Option<&'a str>,
    mechanism: Option<CK_MECHANISM_TYPE>,
    key_uid: Option<&'a str>,
    key_handle: CK_ULONG,
}

fn signature(p: &Pending) -> Option<Signature<'_>> {
    let (key_uid, key_handle) = match (p.kind, p.key.as_ref()) {
        (Kind::Object, _) => (None, 0),
        (_, Some(KeyArg::Object(o))) => (Some(o.uid()), o.handle()),
        (_, Some(KeyArg::Handle(h))) => (None, *h),
        _ => return None,
    };
    Some(Signature {
        function: p.function,
        session: p.session,
        role: p.role.as_str(),
        principal: p.principal.as_deref(),
        mechanism: p.mechanism,
        key_uid,
        key_handle,
    })
}

/// The lines for `batch` (records with `log` set, in call order). With
/// `enabled`, identical successful crypto uses between two other records
/// (logins, object changes, failures, lifecycle changes ... act as
/// barriers, so no use moves across them) become one line with a count.
pub fn coalesce(batch: &[Pending], enabled: bool) -> Vec<Line<'_>> {
    let mut out: Vec<Line<'_>> = Vec::new();
    let mut open: std::collections::HashMap<Signature<'_>, usize, foldhash::fast::RandomState> =
        std::collections::HashMap::default();
    for p in batch.iter().filter(|p| p.log) {
        let sig = if enabled && mergeable(p) { signature(p) } else { None };
        match sig {
            Some(sig) => {
                if let Some(&i) = open.get(&sig) {
                    let l = &mut out[i];
                    let own = Line::of(p);
                    l.count += own.count;
                    l.last_ms = l.last_ms.max(own.last_ms);
                    l.duration_us = l.duration_us.saturating_add(own.duration_us);
                } else {
                    open.insert(sig, out.len());
                    out.push(Line::of(p));
                }
            }
            None => {
                open.clear();
                out.push(Line::of(p));
            }
        }
    }
    out
}

impl Record {
    /// Builds the record for `p` (on the writer's thread).
    pub fn from_line(l: &Line<'_>, token: &str, seq: u64, prev: &str, pid: u32) -> Record {
        let mut r = Self::from_pending(l.p, token, seq, prev, pid);
        if l.count > 1 {
            r.count = Some(l.count);
            r.last = Some(format_time_ms(l.last_ms));
            r.duration_us = l.duration_us;
        }
        r
    }

    pub fn from_pending(p: &Pending, token: &str, seq: u64, prev: &str, pid: u32) -> Record {
        Record {
            seq,
            prev: prev.to_string(),
            time: format_time_ms(p.time_ms),
            kind: p.kind,
            event: p.event.map(str::to_string),
            pid,
            user: os_user().to_string(),
            token: token.to_string(),
            slot: p.slot,
            session: p.session,
            role: p.role.as_str().to_string(),
            principal: p.principal.as_deref().map(str::to_string),
            function: p.function.to_string(),
            mechanism: p.mechanism.map(mechanism_name),
            key: p.key.as_ref().map(KeyArg::to_ref),
            created: p.created.iter().map(KeyArg::to_ref).collect(),
            result: crate::error::rv_name(p.rv).to_string(),
            reason: if p.rv == CKR_OK { None } else { p.reason.clone() },
            duration_us: p.duration_us,
            details: match (&p.details, p.attr_types.is_empty()) {
                (d, true) => d.clone(),
                (d, false) => {
                    let types: Vec<String> = p.attr_types.iter().map(|t| format!("0x{t:x}")).collect();
                    let mut v = d.clone().unwrap_or_else(|| serde_json::json!({}));
                    if let Some(m) = v.as_object_mut() {
                        m.insert("attributes".into(), serde_json::json!(types));
                    }
                    Some(v)
                }
            },
            count: None,
            last: None,
        }
    }

    /// Milliseconds since the epoch of `time`, if it parses.
    pub fn time_ms(&self) -> Option<u64> {
        parse_time_ms(&self.time)
    }
}

/// Lower-case hex, faster than an iterator of chars (the writer's hot loop).
pub fn hex32(b: &[u8; 32]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(64);
    for x in b {
        out.push(D[(x >> 4) as usize]);
        out.push(D[(x & 15) as usize]);
    }
    String::from_utf8(out).unwrap_or_default()
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Pending {
    /// Turns the monotonic call times (`at`) of a batch into wall-clock
    /// times from one (monotonic, wall) reading: queued records get their
    /// time off the caller's path.
    pub fn stamp_all(batch: &mut [Pending]) {
        let (i, w) = (std::time::Instant::now(), now_ms());
        let stamp = |at: std::time::Instant| {
            if at <= i {
                w.saturating_sub(i.duration_since(at).as_millis() as u64)
            } else {
                w + at.duration_since(i).as_millis() as u64
            }
        };
        for p in batch {
            if let Some(at) = p.at.take() {
                p.time_ms = stamp(at);
            }
            if let Some(m) = p.merged.as_mut()
                && let Some(at) = m.last_at.take()
            {
                m.last_ms = stamp(at);
            }
        }
    }

    /// Folds `next`, handed over right after `self`, into `self` when the
    /// two would become one line anyway ([`coalesce`] with coalescing on:
    /// mergeable, the same signature, nothing between them); else gives
    /// `next` back. What is folded is dropped on the caller's thread (its
    /// objects stay the token's), so a run of identical calls hands the
    /// writer one record.
    pub fn absorb(&mut self, next: Pending) -> Option<Pending> {
        let folded = self.merged.as_ref().map_or(0, |m| m.durations_us.len());
        let same = folded < MAX_MERGED
            && self.log == next.log
            && next.merged.is_none()
            && mergeable(self)
            && mergeable(&next)
            && signature(self).is_some_and(|a| signature(&next).is_some_and(|b| a == b));
        if !same {
            return Some(next);
        }
        let m = self.merged.get_or_insert_with(|| {
            Box::new(Merged { last_at: None, last_ms: 0, durations_us: Vec::with_capacity(16) })
        });
        match next.at {
            Some(at) => m.last_at = Some(at),
            None => m.last_ms = m.last_ms.max(next.time_ms),
        }
        m.durations_us.push(next.duration_us);
        None
    }

    /// The uses this record stands for: itself and those folded into it.
    pub fn uses(&self) -> u64 {
        1 + self.merged.as_ref().map_or(0, |m| m.durations_us.len() as u64)
    }

    /// This record's duration and those of the uses folded into it.
    pub fn durations_us(&self) -> impl Iterator<Item = u64> + '_ {
        std::iter::once(self.duration_us).chain(self.merged.iter().flat_map(|m| m.durations_us.iter().copied()))
    }
}

/// `2025-01-31T12:34:56.789Z`.
pub fn format_time_ms(ms: u64) -> String {
    let t = crate::time::UtcTime::from_unix((ms / 1000) as i64);
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", t.year, t.month, t.day, t.hour, t.minute, t.second, ms % 1000)
}

/// Parses RFC 3339 UTC (`...Z`, optional fraction), a date `YYYY-MM-DD`, or
/// a relative age (`90s`, `15m`, `2h`, `7d`) into epoch milliseconds.
pub fn parse_time_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(unit) = s.chars().last().filter(|c| "smhd".contains(*c))
        && let Ok(n) = s[..s.len() - 1].parse::<u64>()
    {
        let mult = match unit {
            's' => 1_000,
            'm' => 60_000,
            'h' => 3_600_000,
            _ => 86_400_000,
        };
        return now_ms().checked_sub(n.checked_mul(mult)?);
    }
    let num = |a: usize, b: usize| s.get(a..b).and_then(|x| x.parse::<i64>().ok());
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    if s.get(4..5) != Some("-") || s.get(7..8) != Some("-") {
        return None;
    }
    let (mut h, mut mi, mut sec, mut frac) = (0, 0, 0, 0u64);
    if s.len() > 10 {
        if !matches!(s.get(10..11), Some("T") | Some(" ")) {
            return None;
        }
        h = num(11, 13)?;
        mi = num(14, 16)?;
        sec = num(17, 19).unwrap_or(0);
        if s.get(19..20) == Some(".") {
            let digits: String = s[20..].chars().take_while(|c| c.is_ascii_digit()).take(3).collect();
            if !digits.is_empty() {
                frac = format!("{digits:0<3}").parse().ok()?;
            }
        }
    }
    // Days from civil (H. Hinnant).
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec;
    u64::try_from(secs).ok().map(|s| s * 1000 + frac)
}

/// The OS user running this process (from /etc/passwd by real uid), once.
pub fn os_user() -> &'static str {
    static USER: OnceLock<String> = OnceLock::new();
    USER.get_or_init(|| {
        let uid = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| {
            s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        });
        if let Some(uid) = uid {
            if let Ok(pw) = std::fs::read_to_string("/etc/passwd") {
                for line in pw.lines() {
                    let f: Vec<&str> = line.split(':').collect();
                    if f.len() > 2 && f[2] == uid {
                        return f[0].to_string();
                    }
                }
            }
            return format!("uid:{uid}");
        }
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    })
}

pub fn class_name(c: CK_OBJECT_CLASS) -> &'static str {
    match c {
        CKO_SECRET_KEY => "secret_key",
        CKO_PRIVATE_KEY => "private_key",
        CKO_PUBLIC_KEY => "public_key",
        CKO_CERTIFICATE => "certificate",
        CKO_DATA => "data",
        _ => "other",
    }
}

/// The symbolic name of a mechanism (`CKM_AES_GCM`), else its hex value.
pub fn mechanism_name(m: CK_MECHANISM_TYPE) -> String {
    macro_rules! names {
        ($($c:ident),* $(,)?) => {
            match m { $(x if x == $c => return stringify!($c).to_string(),)* _ => {} }
        };
    }
    names!(
        CKM_KEYWARD_AES_GCM,
        CKM_KEYWARD_ML_KEM_DETERMINISTIC,
        CKM_AES_KEY_GEN,
        CKM_AES_ECB,
        CKM_AES_CBC,
        CKM_AES_CBC_PAD,
        CKM_AES_CTR,
        CKM_AES_GCM,
        CKM_AES_KEY_WRAP,
        CKM_AES_KEY_WRAP_KWP,
        CKM_AES_CMAC,
        CKM_AES_CMAC_GENERAL,
        CKM_GENERIC_SECRET_KEY_GEN,
        CKM_SHA_1,
        CKM_SHA224,
        CKM_SHA256,
        CKM_SHA384,
        CKM_SHA512,
        CKM_SHA_1_HMAC,
        CKM_SHA224_HMAC,
        CKM_SHA256_HMAC,
        CKM_SHA384_HMAC,
        CKM_SHA512_HMAC,
        CKM_SHA256_HMAC_GENERAL,
        CKM_SHA_1_HMAC_GENERAL,
        CKM_SHA224_HMAC_GENERAL,
        CKM_SHA384_HMAC_GENERAL,
        CKM_SHA512_HMAC_GENERAL,
        CKM_SHA_1_KEY_GEN,
        CKM_SHA224_KEY_GEN,
        CKM_SHA256_KEY_GEN,
        CKM_SHA384_KEY_GEN,
        CKM_SHA512_KEY_GEN,
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        CKM_RSA_PKCS,
        CKM_RSA_X_509,
        CKM_RSA_PKCS_OAEP,
        CKM_RSA_PKCS_PSS,
        CKM_SHA1_RSA_PKCS,
        CKM_SHA256_RSA_PKCS,
        CKM_SHA384_RSA_PKCS,
        CKM_SHA512_RSA_PKCS,
        CKM_SHA256_RSA_PKCS_PSS,
        CKM_SHA384_RSA_PKCS_PSS,
        CKM_SHA512_RSA_PKCS_PSS,
        CKM_EC_KEY_PAIR_GEN,
        CKM_ECDSA,
        CKM_ECDSA_SHA1,
        CKM_ECDSA_SHA256,
        CKM_ECDSA_SHA384,
        CKM_ECDSA_SHA512,
        CKM_ECDH1_DERIVE,
        CKM_ECDH1_COFACTOR_DERIVE,
        CKM_EC_EDWARDS_KEY_PAIR_GEN,
        CKM_EDDSA,
        CKM_SHA256_KEY_DERIVATION,
        CKM_HKDF_DERIVE,
        // PKCS#11 3.2 post-quantum
        CKM_ML_DSA_KEY_PAIR_GEN,
        CKM_ML_DSA,
        CKM_HASH_ML_DSA,
        CKM_HASH_ML_DSA_SHA224,
        CKM_HASH_ML_DSA_SHA256,
        CKM_HASH_ML_DSA_SHA384,
        CKM_HASH_ML_DSA_SHA512,
        CKM_HASH_ML_DSA_SHA3_224,
        CKM_HASH_ML_DSA_SHA3_256,
        CKM_HASH_ML_DSA_SHA3_384,
        CKM_HASH_ML_DSA_SHA3_512,
        CKM_HASH_ML_DSA_SHAKE128,
        CKM_HASH_ML_DSA_SHAKE256,
        CKM_ML_KEM_KEY_PAIR_GEN,
        CKM_ML_KEM,
    );
    format!("0x{m:x}")
}

/// A record for tests: a sync login or an async key use.
#[cfg(test)]
pub(crate) fn test_pending(i: u64, sync: bool) -> Pending {
    Pending {
        time_ms: now_ms(),
        at: None,
        kind: if sync { Kind::Auth } else { Kind::Crypto },
        event: sync.then_some("auth.login"),
        function: if sync { "C_Login" } else { "C_SignInit" },
        slot: 0,
        session: Some(i),
        role: RoleName::User,
        principal: None,
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
        merged: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        let ms = 1_700_000_000_123;
        let s = format_time_ms(ms);
        assert_eq!(s, "2023-11-14T22:13:20.123Z");
        assert_eq!(parse_time_ms(&s), Some(ms));
        assert_eq!(parse_time_ms("2023-11-14"), Some(1_699_920_000_000));
        assert!(parse_time_ms("1h").is_some_and(|t| t < now_ms()));
        assert_eq!(parse_time_ms("bogus"), None);
    }

    /// Only what `coalesce` would put on one line is folded at hand-over:
    /// the same signature, mergeable, not synchronous; the line counts the
    /// folded uses, sums their durations and ends at the last one.
    #[test]
    fn absorb_folds_only_what_coalesce_would_merge() {
        let mut first = test_pending(7, false);
        for d in 1..=4 {
            let mut next = test_pending(7, false);
            next.duration_us = d;
            next.time_ms = first.time_ms + 1000 * d;
            assert!(first.absorb(next).is_none());
        }
        let l = Line::of(&first);
        assert_eq!((l.count, l.duration_us, l.last_ms), (5, 3 + 1 + 2 + 3 + 4, first.time_ms + 4000));
        assert_eq!(first.durations_us().collect::<Vec<_>>(), vec![3, 1, 2, 3, 4]);
        // A line of a batch with the folded record counts every use.
        let batch = vec![first.clone(), test_pending(7, false)];
        let lines = coalesce(&batch, true);
        assert_eq!((lines.len(), lines[0].count), (1, 6));
        let other_session = test_pending(8, false);
        assert!(first.absorb(other_session).is_some());
        assert!(first.absorb(test_pending(7, true)).is_some(), "a synchronous record is never folded");
        let mut failed = test_pending(7, false);
        failed.rv = CKR_KEY_HANDLE_INVALID;
        assert!(first.absorb(failed).is_some(), "a failure is a barrier");
        let mut login = test_pending(1, true);
        assert!(login.absorb(test_pending(1, true)).is_some(), "auth records stand alone");
        assert_eq!(Line::of(&first).count, 5);
    }

    #[test]
    fn names() {
        assert_eq!(mechanism_name(CKM_AES_GCM), "CKM_AES_GCM");
        assert_eq!(mechanism_name(CKM_KEYWARD_ML_KEM_DETERMINISTIC), "CKM_KEYWARD_ML_KEM_DETERMINISTIC");
        assert_eq!(mechanism_name(0x8000_1234), "0x80001234");
        assert!(!os_user().is_empty());
    }

    #[test]
    fn queued_records_get_the_wall_time_of_their_call() {
        let now = std::time::Instant::now();
        let mut batch: Vec<Pending> = (0..3).map(|i| test_pending(i, false)).collect();
        batch[0].at = Some(now.checked_sub(std::time::Duration::from_millis(1500)).unwrap_or(now));
        batch[1].at = Some(now);
        batch[2].at = None;
        batch[2].time_ms = 42;
        let wall = now_ms();
        Pending::stamp_all(&mut batch);
        assert!(batch[0].time_ms + 1400 <= wall && wall <= batch[0].time_ms + 1700, "{} vs {wall}", batch[0].time_ms);
        assert!(batch[1].time_ms.abs_diff(wall) < 200);
        assert_eq!(batch[2].time_ms, 42, "already stamped records keep their time");
        assert!(batch.iter().all(|p| p.at.is_none()));
    }
}
