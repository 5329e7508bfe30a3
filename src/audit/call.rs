//! What a caller hands the audit log about one PKCS#11 call: the [`Call`]
//! described before it runs, what it did ([`Done`]), the created objects
//! it names ([`Outcome`]) and the key lifecycle changes ([`Lifecycle`]).
//!
//! Owns: these plain types and their builders. Must not touch: the queue,
//! the writer or the log (`handle.rs` turns a `Call` + `Done` into a
//! record); nor any token, session or object type (the builders from those
//! are in `token::audited` and `library`).

use super::Handle;
use super::record::{KeyArg, Kind, RoleName};
use crate::ck::*;
use std::time::Instant;

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

/// How the caller names what a record is about: the objects behind
/// handles and the role the session is logged in as (the token implements
/// it, `token::audited`). [`Audit::around`](super::Audit::around) asks only
/// for a call it records.
pub trait Naming {
    /// The object `h` for a record (the object itself, else the handle).
    fn key_arg(&self, h: Handle) -> KeyArg;
    /// Who is making the call now.
    fn role(&self) -> RoleName;
    /// The named user making the call now, if one is logged in.
    fn principal(&self) -> Option<std::sync::Arc<str>> {
        None
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
/// C_EncapsulateKey: the ciphertext length and the new key (none for a
/// length query).
impl Outcome for (usize, Option<Handle>) {
    fn created(&self) -> Vec<Handle> {
        self.1.into_iter().collect()
    }
}
impl Outcome for (Handle, Handle) {
    fn created(&self) -> Vec<Handle> {
        vec![self.0, self.1]
    }
}
/// C_DeriveKey with SP 800-108 additional keys: every key it made.
impl Outcome for (Handle, Vec<Handle>) {
    fn created(&self) -> Vec<Handle> {
        std::iter::once(self.0).chain(self.1.iter().copied()).collect()
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
/// Builders from the token's own values (`Call::crypto`, `mech`, `attrs`)
/// are in `token::audited`; those from a session's active operation
/// (`Call::op`, `Call::message`) in `library`.
pub struct Call {
    pub(super) function: &'static str,
    pub(super) kind: Kind,
    pub(super) session: Option<Handle>,
    pub(super) mechanism: Option<CK_MECHANISM_TYPE>,
    pub(super) key: Option<Handle>,
    pub(super) key_obj: Option<KeyArg>,
    pub(super) event: Option<&'static str>,
    pub(super) alert: bool,
    pub(super) details: Option<serde_json::Value>,
    pub(super) attr_types: Vec<CK_ATTRIBUTE_TYPE>,
    /// A length query or a call that will be repeated: not recorded.
    pub(super) skip: bool,
    /// A single-part or final call (recorded per `audit.completions`).
    pub(super) completion: bool,
    pub(super) label: Option<String>,
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

/// What the caller saw of a call it ran (see [`Audit::record`](super::Audit::record)).
pub struct Done {
    /// When the call started (monotonic; stamped with the wall time later).
    pub at: Instant,
    pub duration_us: u64,
    /// Who made the call; for a login, who it logged in.
    pub role: RoleName,
    /// The named user among them, if any.
    pub principal: Option<std::sync::Arc<str>>,
    pub key: Option<KeyArg>,
    /// The objects the call created.
    pub created: Vec<KeyArg>,
    pub rv: CK_RV,
    /// Why it failed (an error's reason), if it did.
    pub reason: Option<String>,
}
