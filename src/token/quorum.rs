//! M-of-N quorum of administrators for purges (issue 17; docs/named-users.md
//! §5, slice 7).
//!
//! The SO sets the token's purge quorum (`keyward user quorum --purge M`,
//! meta `auth.quorum.purge`; in the token, so every host agrees). With
//! M > 1:
//! - `keyward key purge NAME` by a login that administers the key makes a
//!   request (meta `quorum.request.N`) instead of purging; the requester's
//!   approval counts when it is a named administrator;
//! - `keyward request approve N` by a named user with the admin role adds
//!   its approval, signed with its Ed25519 key; the approval that reaches
//!   M distinct administrators whose authority-signed records and
//!   signatures verify runs the purge, in the same transaction as it
//!   re-reads the request;
//! - automatic purges (`kms_purge_due`) stop: versions stay pending
//!   deletion until their request completes, and C_DestroyObject of a key
//!   schedules its deletion even with a grace period of 0.
//!
//! Requests expire after a day. Honest limit: this is an online control. A
//! writer of the database can delete rows anyway.
//!
//! Owns: requests, approvals and the quorum setting. Must not touch: what a
//! purge deletes (`lifecycle::delete`).

use super::Token;
use super::grants::verified_records;
use super::principal::ROLE_KEY_ADMIN;
use super::session::Session;
use crate::ck::*;
use crate::err;
use crate::error::{Error, Result};
use crate::kms::{KeyName, MaintainedVersion, clock};
use crate::store::Role;
use crate::store::wrap;
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;

/// Meta keys of the purge and grant-change quorums (decimal; absent or 1:
/// none).
const QUORUM_PURGE: &str = "auth.quorum.purge";
const QUORUM_GRANT: &str = "auth.quorum.grant";
const REQUEST_PREFIX: &str = "quorum.request.";
const REQUEST_NEXT: &str = "quorum.next";
/// How long a request waits for its approvals.
const REQUEST_TTL_SECS: i64 = 24 * 3600;
const APPROVAL_DOMAIN: &[u8] = b"keyward-approval-v1";
/// How long this process trusts the quorum it read last (ms).
const QUORUM_CACHE_MS: u64 = 1000;

/// One request waiting for its quorum.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Request {
    pub id: u64,
    /// `purge`.
    pub act: String,
    /// The key's id (hex) and label.
    pub key_id: String,
    pub key: String,
    pub requested_by: String,
    pub created: i64,
    pub expires: i64,
    pub approvals: Vec<Approval>,
    /// A grant change: the user it names and the operations it grants.
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub ops: Option<u32>,
}

/// One administrator's signed approval.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Approval {
    pub principal: i64,
    pub name: String,
    /// Ed25519 over [`approval_payload`], hex.
    pub sig: String,
}

/// What a purge request or an approval came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Purged: these versions.
    Purged(Vec<MaintainedVersion>),
    /// Request `id` has `have` of the `need` approvals.
    Pending { id: u64, have: usize, need: u32 },
    /// A grant change written.
    Done,
}

fn approval_payload(serial: &str, r: &Request, principal: i64) -> Vec<u8> {
    let mut p = APPROVAL_DOMAIN.to_vec();
    for f in [serial.as_bytes(), r.act.as_bytes(), r.key_id.as_bytes()] {
        p.extend_from_slice(&u32::try_from(f.len()).unwrap_or(u32::MAX).to_le_bytes());
        p.extend_from_slice(f);
    }
    p.extend_from_slice(&r.id.to_le_bytes());
    p.extend_from_slice(&r.created.to_le_bytes());
    p.extend_from_slice(&principal.to_le_bytes());
    let target = r.target.as_deref().unwrap_or("");
    p.extend_from_slice(&u32::try_from(target.len()).unwrap_or(u32::MAX).to_le_bytes());
    p.extend_from_slice(target.as_bytes());
    p.extend_from_slice(&r.ops.unwrap_or(0).to_le_bytes());
    p
}

fn parse_quorum(v: Option<Vec<u8>>) -> u32 {
    v.and_then(|v| String::from_utf8(v).ok()).and_then(|s| s.trim().parse().ok()).unwrap_or(1).max(1)
}

impl Token {
    /// The token's purge quorum (1: none), read at most once a second.
    pub(crate) fn purge_quorum(&self) -> Result<u32> {
        let now = self.kms.elapsed_ms();
        let cached = self.quorum_cache.load(Ordering::Relaxed);
        let (at, m) = (cached >> 32, (cached & 0xffff_ffff) as u32);
        if m != 0 && now.saturating_sub(at) < QUORUM_CACHE_MS {
            return Ok(m);
        }
        let m = parse_quorum(self.store.meta_get(QUORUM_PURGE)?);
        self.quorum_cache.store((now << 32) | u64::from(m), Ordering::Relaxed);
        Ok(m)
    }

    /// `keyward user quorum --purge M` / `--grant M` by the SO.
    pub fn set_quorum(&self, s: &Session, grant: bool, m: u32) -> Result<()> {
        if self.role()? != Some(Role::So) || !s.rw {
            return Err(Error::new(CKR_USER_NOT_LOGGED_IN, "the quorum is set by the SO in a R/W session"));
        }
        self.require_fresh_factor("changing the quorum")?;
        if m == 0 || m > 16 {
            return Err(err!(CKR_ARGUMENTS_BAD, "a quorum of {m}: 1 (none) to 16"));
        }
        self.store.meta_set(if grant { QUORUM_GRANT } else { QUORUM_PURGE }, m.to_string().as_bytes())?;
        self.quorum_cache.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// The named administrator of this login, if it is one, with its keys.
    fn admin_keys(&self) -> Option<std::sync::Arc<super::grants::NamedKeys>> {
        let l = self.login.read().ok()?;
        l.named.clone().filter(|k| k.roles & ROLE_KEY_ADMIN != 0)
    }

    /// `keyward key purge NAME`: purges the versions of `name` pending
    /// deletion now, or, with a purge quorum, makes a request for it.
    pub fn kms_purge(&self, name: &KeyName) -> Result<Outcome> {
        self.require_admin(name)?;
        self.require_fresh_factor("a purge")?;
        let serial = self.serial()?;
        let who = self.named_user().map(|p| p.name).unwrap_or_else(|| "default".into());
        let admin = self.admin_keys();
        let mut audit = self.audit().lock_for_commit()?;
        let (r, w) = self.store.transaction_tracked(|tx| {
            let need = parse_quorum(tx.meta_get(QUORUM_PURGE)?);
            if need <= 1 {
                let details = serde_json::json!({ "by": who });
                let (ch, done) = self.kms_purge_pending_in(tx, &mut audit, &name.key_id, &details)?;
                return Ok((Some(ch), Outcome::Purged(done)));
            }
            let req = Request {
                id: 0,
                act: "purge".into(),
                key_id: hex::encode(&name.key_id),
                key: name.display(),
                requested_by: who.clone(),
                created: 0,
                expires: 0,
                approvals: Vec::new(),
                target: None,
                ops: None,
            };
            let (id, have) = Self::new_request(tx, req, admin.as_deref(), &serial)?;
            Ok((None, Outcome::Pending { id, have, need }))
        })?;
        drop(audit);
        self.quorum_done(r, w)
    }

    /// Inside `tx`: stores request `req` under the next id, with the
    /// requester's approval when it is a named administrator (`admin`);
    /// returns the id and the approvals so far.
    fn new_request(
        tx: &crate::store::Tx<'_>,
        mut req: Request,
        admin: Option<&super::grants::NamedKeys>,
        serial: &str,
    ) -> Result<(u64, usize)> {
        let id = parse_quorum(tx.meta_get(REQUEST_NEXT)?).max(1) as u64;
        tx.meta_set(REQUEST_NEXT, (id + 1).to_string().as_bytes())?;
        let now = clock::now();
        req.id = id;
        req.created = now;
        req.expires = now.saturating_add(REQUEST_TTL_SECS);
        if let Some(k) = admin {
            let sig = wrap::sign(&k.secret.ed25519_key()?, &approval_payload(serial, &req, k.id))?;
            req.approvals.push(Approval { principal: k.id, name: req.requested_by.clone(), sig: hex::encode(sig) });
        }
        let have = req.approvals.len();
        let json = serde_json::to_vec(&req).map_err(|_| Error::general("json"))?;
        tx.meta_set(&format!("{REQUEST_PREFIX}{id}"), &json)?;
        Ok((id, have))
    }

    /// A grant change (`act`: grant or revoke) on key `name` (seal id
    /// `seal`) for `user`: with a grant quorum, a request (`Some`); else
    /// `None` (the caller writes it now).
    pub(super) fn grant_request(
        &self,
        act: &str,
        name: &str,
        seal: &[u8],
        user: &str,
        o: u32,
    ) -> Result<Option<Outcome>> {
        if parse_quorum(self.store.meta_get(QUORUM_GRANT)?) <= 1 {
            return Ok(None);
        }
        let serial = self.serial()?;
        let who = self.named_user().map(|p| p.name).unwrap_or_else(|| "so".into());
        let admin = self.admin_keys();
        let out = self.store.transaction(|tx| {
            let need = parse_quorum(tx.meta_get(QUORUM_GRANT)?);
            let req = Request {
                id: 0,
                act: act.into(),
                key_id: hex::encode(seal),
                key: name.into(),
                requested_by: who.clone(),
                created: 0,
                expires: 0,
                approvals: Vec::new(),
                target: Some(user.into()),
                ops: Some(o),
            };
            let (id, have) = Self::new_request(tx, req, admin.as_deref(), &serial)?;
            Ok(Outcome::Pending { id, have, need })
        })?;
        Ok(Some(out))
    }

    /// `keyward request list`: the requests waiting for their quorum.
    pub fn quorum_requests(&self) -> Result<Vec<Request>> {
        let all = self.store.transaction(|tx| tx.meta_all())?;
        let mut out: Vec<Request> = all
            .iter()
            .filter(|(k, v)| k.starts_with(REQUEST_PREFIX) && !v.is_empty())
            .filter_map(|(_, v)| serde_json::from_slice(v).ok())
            .collect();
        out.sort_by_key(|r| r.id);
        Ok(out)
    }

    /// `keyward request approve ID` by a named administrator: its signed
    /// approval; the one that completes the quorum runs the act.
    pub fn quorum_approve(&self, s: &Session, id: u64) -> Result<Outcome> {
        let keys = self
            .admin_keys()
            .ok_or_else(|| Error::new(CKR_ACTION_PROHIBITED, "approvals come from named users with the admin role"))?;
        // A grant change is prepared (checked, signed) by this approver, who
        // must administer the key, and written if this approval completes it.
        let pending: Option<Request> = self
            .store
            .meta_get(&format!("{REQUEST_PREFIX}{id}"))?
            .filter(|v| !v.is_empty())
            .and_then(|v| serde_json::from_slice(&v).ok());
        let change = match &pending {
            Some(r) => match (r.act.as_str(), r.target.as_deref(), r.ops) {
                ("grant", Some(user), Some(o)) => Some(self.prepare_grant(s, &r.key, user, o)?),
                ("revoke", Some(user), _) => Some(self.prepare_revoke(s, &r.key, user)?),
                _ => None,
            },
            None => None,
        };
        self.require_fresh_factor("approving a request")?;
        let me = self.named_user().map(|p| p.name).unwrap_or_default();
        let serial = keys.serial.clone();
        let mut audit = self.audit().lock_for_commit()?;
        let (r, w) = self.store.transaction_tracked(|tx| {
            let key = format!("{REQUEST_PREFIX}{id}");
            let mut req: Request = tx
                .meta_get(&key)?
                .filter(|v| !v.is_empty())
                .and_then(|v| serde_json::from_slice(&v).ok())
                .ok_or_else(|| err!(CKR_ARGUMENTS_BAD, "no request {id}"))?;
            if clock::now() > req.expires {
                tx.meta_set(&key, b"")?;
                return Err(err!(CKR_ARGUMENTS_BAD, "request {id} expired"));
            }
            if req.approvals.iter().any(|a| a.principal == keys.id) {
                return Err(err!(CKR_ARGUMENTS_BAD, "{me} already approved request {id}"));
            }
            let sig = wrap::sign(&keys.secret.ed25519_key()?, &approval_payload(&serial, &req, keys.id))?;
            req.approvals.push(Approval { principal: keys.id, name: me.clone(), sig: hex::encode(sig) });
            // Count the approvals that verify: distinct administrators whose
            // records the authority signed.
            let records = verified_records(&tx.principals()?, &keys.secret.authority, &serial);
            let mut seen = std::collections::BTreeSet::new();
            for a in &req.approvals {
                let ok = records.get(&a.principal).is_some_and(|r| {
                    r.roles & ROLE_KEY_ADMIN != 0
                        && hex::decode(&a.sig).is_ok_and(|s| {
                            wrap::verify(&r.ed25519, &approval_payload(&serial, &req, a.principal), &s).is_ok()
                        })
                });
                if ok {
                    seen.insert(a.principal);
                }
            }
            let grant_act = matches!(req.act.as_str(), "grant" | "revoke");
            let need = parse_quorum(tx.meta_get(if grant_act { QUORUM_GRANT } else { QUORUM_PURGE })?);
            if seen.len() < need as usize {
                tx.meta_set(&key, &serde_json::to_vec(&req).map_err(|_| Error::general("json"))?)?;
                return Ok((None, Outcome::Pending { id, have: seen.len(), need }));
            }
            if grant_act {
                let c = change.as_ref().ok_or_else(|| Error::device("the grant change was not prepared"))?;
                self.apply_change(tx, c)?;
                tx.meta_set(&key, b"")?;
                return Ok((None, Outcome::Done));
            }
            let key_id = hex::decode(&req.key_id).map_err(|_| Error::device("request with a bad key id"))?;
            let names: Vec<&str> = req.approvals.iter().map(|a| a.name.as_str()).collect();
            let details = serde_json::json!({ "request": id, "approved_by": names, "requested_by": req.requested_by });
            let (ch, done) = self.kms_purge_pending_in(tx, &mut audit, &key_id, &details)?;
            tx.meta_set(&key, b"")?;
            Ok((Some(ch), Outcome::Purged(done)))
        })?;
        drop(audit);
        if r.1 == Outcome::Done {
            self.refresh()?;
        }
        self.quorum_done(r, w)
    }

    /// The end of a purge request or an approval: what a purge deleted
    /// goes to the cache.
    fn quorum_done(&self, r: (Option<crate::store::Changes>, Outcome), w: crate::store::Written) -> Result<Outcome> {
        if let (Some(ch), _) = &r {
            self.kms_apply(ch.clone(), w)?;
        }
        Ok(r.1)
    }

    /// Whether C_DestroyObject of a token key schedules its deletion (a
    /// grace period, or a purge quorum) instead of deleting it.
    pub(crate) fn destroy_is_deferred(&self) -> Result<bool> {
        Ok(self.kms.grace() > 0 || self.purge_quorum()? > 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_values_parse_fail_safe_to_none() {
        assert_eq!(parse_quorum(None), 1);
        assert_eq!(parse_quorum(Some(b"2".to_vec())), 2);
        assert_eq!(parse_quorum(Some(b"0".to_vec())), 1);
        assert_eq!(parse_quorum(Some(b"x".to_vec())), 1);
    }

    #[test]
    fn an_approval_binds_the_request_and_the_approver() {
        let r = Request {
            id: 3,
            act: "purge".into(),
            key_id: "ab".into(),
            key: "k".into(),
            requested_by: "x".into(),
            created: 10,
            expires: 20,
            approvals: Vec::new(),
            target: None,
            ops: None,
        };
        let base = approval_payload("serial", &r, 2);
        assert_ne!(base, approval_payload("serial", &r, 3));
        assert_ne!(base, approval_payload("other", &r, 2));
        assert_ne!(base, approval_payload("serial", &Request { id: 4, ..r.clone() }, 2));
        assert_ne!(base, approval_payload("serial", &Request { key_id: "ac".into(), ..r.clone() }, 2));
        let grant = Request { act: "grant".into(), target: Some("bob".into()), ops: Some(2), ..r.clone() };
        assert_ne!(
            approval_payload("serial", &grant, 2),
            approval_payload("serial", &Request { ops: Some(4), ..grant.clone() }, 2)
        );
        assert_ne!(
            approval_payload("serial", &grant, 2),
            approval_payload("serial", &Request { target: Some("eve".into()), ..grant.clone() }, 2)
        );
    }
}
