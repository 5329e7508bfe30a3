//! The named-user calls of the safe API (`Library::user_*`, issue 17), for
//! the CLI (`keyward user ...`): each finds the session's token, runs the
//! act (the SO's, see `token::principal`) and records it in the audit log
//! with the user it names.
//!
//! Owns: the mapping from a session handle to a user act. Must not touch:
//! who may do what (`token::principal`) or how it is shown (the binary).

use super::{Library, audited};
use crate::audit::Call;
use crate::error::Result;
use crate::token::principal::UserInfo;
use crate::types::Handle;
use zeroize::Zeroizing;

fn act(function: &'static str, event: &'static str, h: Handle, user: &str) -> Call {
    Call::auth(function, Some(h), event).details(serde_json::json!({ "user": user }))
}

impl Library {
    /// `keyward user add`: a new named user with `roles` and `pin` (the SO
    /// logged in on `h`; `totp`: its logins need a TOTP code); returns its
    /// id and, with `totp`, the `otpauth://` URI of its secret.
    pub fn user_add(
        &self,
        h: Handle,
        name: &str,
        roles: u32,
        pin: &[u8],
        totp: bool,
        auto_admin: bool,
    ) -> Result<(i64, Option<Zeroizing<String>>)> {
        self.with_session(h, |s, t| {
            let mut uri = None;
            let id = audited(t, act("keyward user add", "user.added", h, name), || {
                let (id, u) = t.user_add(s, name, roles, pin, totp, auto_admin)?;
                uri = u;
                Ok(usize::try_from(id).unwrap_or(usize::MAX))
            })?;
            Ok((i64::try_from(id).unwrap_or(i64::MAX), uri))
        })
    }

    /// `keyward user so-totp`: the SO's logins need a TOTP code from now on.
    pub fn so_enable_totp(&self, h: Handle) -> Result<Zeroizing<String>> {
        self.with_session(h, |s, t| {
            audited(t, act("keyward user so-totp", "user.totp_enabled", h, "so"), || t.so_enable_totp(s))
        })
    }

    /// `keyward user list`.
    pub fn users(&self, h: Handle) -> Result<Vec<UserInfo>> {
        self.with_session(h, |_, t| t.users())
    }

    /// `keyward user lock|unlock`.
    pub fn user_set_locked(&self, h: Handle, name: &str, locked: bool) -> Result<()> {
        let (function, event) =
            if locked { ("keyward user lock", "user.locked") } else { ("keyward user unlock", "user.unlocked") };
        self.with_session(h, |s, t| audited(t, act(function, event, h, name), || t.user_set_locked(s, name, locked)))
    }

    /// `keyward user remove`.
    pub fn user_remove(&self, h: Handle, name: &str) -> Result<()> {
        self.with_session(h, |s, t| {
            audited(t, act("keyward user remove", "user.removed", h, name), || t.user_remove(s, name))
        })
    }

    /// `keyward user passwd` by the SO: a new PIN (and new keys) for `name`;
    /// with `totp` a new TOTP secret, whose `otpauth://` URI it returns.
    pub fn user_reset_pin(&self, h: Handle, name: &str, pin: &[u8], totp: bool) -> Result<Option<Zeroizing<String>>> {
        self.with_session(h, |s, t| {
            audited(t, act("keyward user passwd", "user.pin_reset", h, name), || t.user_reset_pin(s, name, pin, totp))
        })
    }

    /// `keyward user totp-policy --require LIST` (the SO logged in on `h`).
    pub fn set_totp_policy(&self, h: Handle, bits: u32) -> Result<()> {
        let call = Call::auth("keyward user totp-policy", Some(h), "totp_policy.set")
            .details(serde_json::json!({ "require": crate::token::totp_policy::names(bits) }));
        self.with_session(h, |s, t| audited(t, call, || t.set_totp_policy(s, bits)))
    }

    /// The token's TOTP policy (its bits).
    pub fn totp_policy(&self, h: Handle) -> Result<u32> {
        self.with_session(h, |_, t| t.totp_policy())
    }
}

impl Library {
    /// `keyward key grant NAME USER OPS` (the SO logged in on `h`).
    pub fn key_grant(&self, h: Handle, key: &str, user: &str, ops: u32) -> Result<crate::token::quorum::Outcome> {
        let call = Call::auth("keyward key grant", Some(h), "key.granted").details(serde_json::json!({
            "key": key, "user": user, "ops": crate::object::policy::grant::names(ops),
        }));
        self.with_session(h, |s, t| audited(t, call, || t.grant(s, key, user, ops)))
    }

    /// `keyward key revoke NAME USER` (the SO logged in on `h`).
    pub fn key_revoke(&self, h: Handle, key: &str, user: &str) -> Result<crate::token::quorum::Outcome> {
        let call = Call::auth("keyward key revoke", Some(h), "key.revoked")
            .details(serde_json::json!({ "key": key, "user": user }));
        self.with_session(h, |s, t| audited(t, call, || t.revoke(s, key, user)))
    }

    /// `keyward key grants NAME`.
    pub fn key_grants(&self, h: Handle, key: &str) -> Result<Vec<crate::token::GrantInfo>> {
        self.with_session(h, |_, t| t.key_grants(key))
    }
}

impl Library {
    /// `keyward key purge NAME`: purges now, or with a purge quorum makes
    /// a request (`token::quorum`).
    pub fn kms_purge(&self, h: Handle, name: &str) -> Result<crate::token::quorum::Outcome> {
        let call =
            Call::auth("keyward key purge", Some(h), "key.purge_requested").details(serde_json::json!({ "key": name }));
        self.with_session(h, |_, t| {
            audited(t, call, || {
                let k = t.kms_find(name)?;
                t.kms_purge(&k)
            })
        })
    }

    /// `keyward request list`.
    pub fn quorum_requests(&self, h: Handle) -> Result<Vec<crate::token::quorum::Request>> {
        self.with_session(h, |_, t| t.quorum_requests())
    }

    /// `keyward request approve ID` (a named administrator logged in on `h`).
    pub fn quorum_approve(&self, h: Handle, id: u64) -> Result<crate::token::quorum::Outcome> {
        let call = Call::auth("keyward request approve", Some(h), "request.approved")
            .details(serde_json::json!({ "request": id }));
        self.with_session(h, |s, t| audited(t, call, || t.quorum_approve(s, id)))
    }

    /// `keyward user quorum --purge M` (the SO logged in on `h`).
    pub fn set_quorum(&self, h: Handle, grant: bool, m: u32) -> Result<()> {
        let act = if grant { "grant" } else { "purge" };
        let call = Call::auth("keyward user quorum", Some(h), "quorum.set").details(serde_json::json!({ act: m }));
        self.with_session(h, |s, t| audited(t, call, || t.set_quorum(s, grant, m)))
    }
}

/// The values of the named-user calls carry no created objects for the
/// audit record.
impl crate::audit::Outcome for crate::token::quorum::Outcome {}
impl crate::audit::Outcome for Zeroizing<String> {}
impl crate::audit::Outcome for Option<Zeroizing<String>> {}
