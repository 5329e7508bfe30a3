//! The token-wide second-factor policy (issue 17: "optional per token and
//! per user"): `keyward user totp-policy --require so,admin,user,destructive`
//! (meta `auth.totp_for`, in the token, so every host agrees).
//!
//! - `so`: the SO has a TOTP secret (`keyward user so-totp`); the policy
//!   cannot be set before it has one.
//! - `admin`: every named user with the admin role has one: `user add
//!   --role admin` needs `--totp FILE`, and `user passwd` of such a user
//!   gives it a new TOTP secret.
//! - `user`: every named user has one (admins included).
//! - `destructive`: the destructive acts (scheduling a deletion, a
//!   destroy, a purge or its approval, a grant change, removing a user,
//!   resetting a PIN, changing a quorum or this policy) need a login that
//!   showed a TOTP code in the last `FACTOR_FRESH_SECS`: a login without a
//!   second factor (the default user, a named user without TOTP) gets
//!   `CKR_ACTION_PROHIBITED` for them. Implies `so`.
//!
//! Setting a policy that a principal of the token does not meet is refused
//! with the names of those that do not: it never locks anybody out.
//! Honest limit, as for the quorums: an online control; a writer of the
//! database can remove the setting (not the TOTP secrets themselves, which
//! are in the principals' sealed secrets and signed records).
//!
//! Owns: the setting and its checks. Must not touch: how a code is checked
//! (`principal.rs`, `crypto::totp`).

use super::Token;
use super::principal::{FLAG_TOTP, ROLE_KEY_ADMIN};
use super::session::Session;
use crate::ck::*;
use crate::err;
use crate::error::{Error, Result};
use crate::store::Role;
use crate::store::principals::{PRINCIPAL_DEFAULT, PRINCIPAL_SO};
use crate::store::wrap::PrincipalRecord;
use std::sync::atomic::Ordering;

const TOTP_FOR: &str = "auth.totp_for";
/// How long this process trusts the policy it read last (ms).
const POLICY_CACHE_MS: u64 = 1000;
const CACHED: u64 = 1 << 31;

pub const NEED_SO: u32 = 1;
pub const NEED_ADMIN: u32 = 2;
pub const NEED_USER: u32 = 4;
pub const NEED_DESTRUCTIVE: u32 = 8;

const NAMES: [(u32, &str); 4] =
    [(NEED_SO, "so"), (NEED_ADMIN, "admin"), (NEED_USER, "user"), (NEED_DESTRUCTIVE, "destructive")];

/// The policy's bits from its comma-separated names (`none`: no bits).
pub fn parse(list: &str) -> Option<u32> {
    let mut bits = 0;
    for w in list.split(',').map(str::trim).filter(|w| !w.is_empty() && *w != "none") {
        bits |= NAMES.iter().find(|(_, n)| *n == w)?.0;
    }
    Some(bits)
}

/// The policy's names, comma-separated (`none`).
pub fn names(bits: u32) -> String {
    let v: Vec<&str> = NAMES.iter().filter(|(b, _)| bits & b != 0).map(|(_, n)| *n).collect();
    if v.is_empty() { "none".into() } else { v.join(",") }
}

/// Whether a named user with `roles` must have a TOTP secret under `bits`.
pub fn needs_totp(bits: u32, roles: u32) -> bool {
    bits & NEED_USER != 0 || (bits & NEED_ADMIN != 0 && roles & ROLE_KEY_ADMIN != 0)
}

/// A new or reset named user with `roles` under policy `bits`: without a
/// TOTP secret (`totp` false), refused when the policy needs one.
pub(super) fn check_user(bits: u32, name: &str, roles: u32, totp: bool) -> Result<()> {
    if !totp && needs_totp(bits, roles) {
        return Err(err!(
            CKR_ARGUMENTS_BAD,
            "the token's TOTP policy ({}) needs a TOTP secret for user {name}: give --totp FILE",
            names(bits)
        ));
    }
    Ok(())
}

fn has_totp(record: &[u8]) -> bool {
    PrincipalRecord::from_payload(record).is_ok_and(|r| r.flags & FLAG_TOTP != 0)
}

impl Token {
    /// The token's second-factor policy (its bits; 0: none), read at most
    /// once a second.
    pub fn totp_policy(&self) -> Result<u32> {
        let now = self.kms.elapsed_ms();
        let cached = self.totp_cache.load(Ordering::Relaxed);
        if cached & CACHED != 0 && now.saturating_sub(cached >> 32) < POLICY_CACHE_MS {
            return Ok((cached & 0xff) as u32);
        }
        let v = self.store.meta_get(TOTP_FOR)?;
        // An unreadable setting is the strictest one, not none.
        let bits = match v {
            None => 0,
            Some(v) => String::from_utf8(v).ok().and_then(|s| parse(&s)).unwrap_or(0xf),
        };
        self.totp_cache.store((now << 32) | CACHED | u64::from(bits), Ordering::Relaxed);
        Ok(bits)
    }

    /// Whether principal `name` (`so` for the SO) logs in with a TOTP code
    /// after its PIN (its record says so: public, like the record), for
    /// the CLI's prompt.
    pub fn needs_totp(&self, name: &str) -> Result<bool> {
        Ok(self.store.principal(name)?.is_some_and(|r| has_totp(&r.record)))
    }

    /// `keyward user totp-policy --require LIST` by the SO: refused while a
    /// principal does not meet it.
    pub fn set_totp_policy(&self, s: &Session, bits: u32) -> Result<()> {
        if self.role()? != Some(Role::So) || !s.rw {
            return Err(Error::new(CKR_USER_NOT_LOGGED_IN, "the TOTP policy is set by the SO in a R/W session"));
        }
        self.require_fresh_factor("changing the TOTP policy")?;
        let bits = if bits & NEED_DESTRUCTIVE != 0 { bits | NEED_SO } else { bits };
        let rows = self.store.transaction(|tx| tx.principals())?;
        let so_ok = rows.iter().any(|r| r.id == PRINCIPAL_SO && has_totp(&r.record));
        if bits & NEED_SO != 0 && !so_ok {
            return Err(err!(
                CKR_ARGUMENTS_BAD,
                "the policy {} needs the SO's TOTP secret first: keyward user so-totp FILE",
                names(bits)
            ));
        }
        let missing: Vec<&str> = rows
            .iter()
            .filter(|r| r.id > PRINCIPAL_DEFAULT && needs_totp(bits, r.roles) && !has_totp(&r.record))
            .map(|r| r.name.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(err!(
                CKR_ARGUMENTS_BAD,
                "the policy {} is not met by user(s) {}: give each a TOTP secret with keyward user passwd NAME \
                 --totp FILE (or remove them) first",
                names(bits),
                missing.join(", ")
            ));
        }
        self.store.meta_set(TOTP_FOR, names(bits).as_bytes())?;
        self.totp_cache.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// A destructive act `act` by a login without a second factor: refused
    /// when the policy says `destructive`.
    pub(super) fn check_destructive_without_factor(&self, act: &str) -> Result<()> {
        if self.totp_policy()? & NEED_DESTRUCTIVE != 0 {
            return Err(err!(
                CKR_ACTION_PROHIBITED,
                "the token's TOTP policy needs a second factor for {act}: this login has none (log in as a user \
                 with a TOTP secret, or as the SO)"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(parse("so, admin"), Some(NEED_SO | NEED_ADMIN));
        assert_eq!(parse("none"), Some(0));
        assert_eq!(parse(""), Some(0));
        assert_eq!(parse("so,bogus"), None);
        assert_eq!(names(NEED_SO | NEED_DESTRUCTIVE), "so,destructive");
        assert_eq!(names(0), "none");
        for b in 0..16 {
            assert_eq!(parse(&names(b)), Some(b));
        }
    }

    #[test]
    fn who_needs_a_code() {
        assert!(needs_totp(NEED_ADMIN, ROLE_KEY_ADMIN));
        assert!(!needs_totp(NEED_ADMIN, super::super::principal::ROLE_KEY_USER));
        assert!(needs_totp(NEED_USER, super::super::principal::ROLE_KEY_USER));
        assert!(!needs_totp(NEED_SO | NEED_DESTRUCTIVE, ROLE_KEY_ADMIN));
    }
}
