//! Deletion: scheduling it after the grace period (`key delete`, and
//! C_DestroyObject as a soft delete), restoring, deleting now, and purging
//! what is due; a copy dies with its source version.
//!
//! Owns: the pending-deletion state and the purge decision (inside one
//! transaction that re-reads its rows, recorded in the audit log before the
//! commit). Must not touch: when purges run (`maintain.rs`).
#![allow(clippy::unnecessary_cast)] // CK_ULONG is not u64 on every platform

use super::rows::{Row, Scope, delete_copies, due_rows, rows_with_copies, write_delete, write_update};
use crate::audit::Lifecycle;
use crate::ck::*;
use crate::err;
use crate::error::Result;
use crate::kms::attrs::*;
use crate::kms::inventory::class_word;
use crate::kms::{KeyName, MaintainedVersion, Versions, clock, rules};
use crate::object::{Object, ulong_bytes};
use crate::store::Changes;
use crate::token::Token;

impl Token {
    /// Schedules deletion of versions of `name` (all, or one that is not the
    /// live primary) after the grace period; with a grace of 0 deletes them
    /// now. Returns the time the deletion becomes permanent (0 = done).
    pub fn kms_delete(&self, name: &KeyName, which: Versions) -> Result<i64> {
        self.require_admin(name)?;
        self.require_fresh_factor("scheduling a deletion")?;
        self.refresh()?;
        let grace = self.kms.grace() as i64;
        let now = clock::now();
        let at = now.saturating_add(grace);
        let scope = Scope::of(self, Some(name), &[])?;
        let (ch, w) = self.store().transaction_tracked(|tx| {
            let all = scope.rows(self, tx)?;
            let rows: Vec<&Row> = all.iter().filter(|r| r.of_key(name) && which.has(r.version())).collect();
            if rows.is_empty() {
                return Err(err!(CKR_ARGUMENTS_BAD, "no key {:?} with version {which:?}", name.display()));
            }
            if let Versions::One(v) = which
                && rows.iter().any(|r| r.live_primary())
            {
                return Err(err!(
                    CKR_ACTION_PROHIBITED,
                    "version {v} is the primary: rotate first, or delete the whole key"
                ));
            }
            if let Some(r) = rows.iter().find(|r| r.attrs.get(&CKA_DESTROYABLE).is_some_and(|v| v.first() == Some(&0)))
            {
                return Err(err!(CKR_ACTION_PROHIBITED, "{} is not destroyable (CKA_DESTROYABLE is false)", r.label()));
            }
            let mut ch = Changes::default();
            for r in rows.into_iter().filter(|r| r.state() != KEYWARD_STATE_PENDING_DELETION || grace == 0) {
                if grace == 0 {
                    write_delete(tx, r, &mut ch)?;
                    continue;
                }
                let mut r = r.clone();
                let prior = r.state();
                r.set(CKA_KEYWARD_PRIOR_STATE, ulong_bytes(prior));
                r.set(CKA_KEYWARD_STATE, ulong_bytes(KEYWARD_STATE_PENDING_DELETION));
                r.set(CKA_KEYWARD_DESTROY_AT, time_bytes(at));
                write_update(self, tx, &r, &mut ch)?;
            }
            delete_copies(tx, &all, &mut ch)?;
            Ok(ch)
        })?;
        self.kms_apply(ch, w)?;
        Ok(if grace == 0 { 0 } else { at })
    }

    /// Brings back every version of `name` pending deletion, in the state it
    /// had; returns how many.
    pub fn kms_restore(&self, name: &KeyName) -> Result<usize> {
        let n = self.kms_update(name, |r| {
            if r.state() != KEYWARD_STATE_PENDING_DELETION {
                return Ok(false);
            }
            rules::check(r.modifiable(), rules::Change::Restore)?;
            let prior = r.ulong(CKA_KEYWARD_PRIOR_STATE).filter(|s| *s != KEYWARD_STATE_PENDING_DELETION);
            r.set(CKA_KEYWARD_STATE, ulong_bytes(prior.unwrap_or(KEYWARD_STATE_ENABLED)));
            r.set(CKA_KEYWARD_DESTROY_AT, ulong_bytes(0));
            r.attrs.remove(&CKA_KEYWARD_PRIOR_STATE);
            Ok(true)
        })?;
        if n == 0 {
            return Err(err!(CKR_ARGUMENTS_BAD, "key {:?} has no version pending deletion", name.display()));
        }
        Ok(n)
    }

    /// C_DestroyObject on a token key with a grace period: schedules the
    /// deletion of `obj` (of every version of its class when it is the
    /// primary, since the key is what a plain client sees and destroys).
    pub fn kms_soft_destroy(&self, obj: &Object) -> Result<()> {
        self.require_admin_of(obj)?;
        self.require_fresh_factor("destroying a key")?;
        if state_of(obj) == KEYWARD_STATE_PENDING_DELETION {
            // Destroyed once already, as far as a plain client can tell.
            return Err(err!(CKR_OBJECT_HANDLE_INVALID, "object {} is already scheduled for deletion", obj.handle));
        }
        let name = KeyName::of(obj);
        let all = is_primary(obj);
        let (class, handle) = (obj.class, obj.handle as i64);
        let at = clock::now().saturating_add(self.kms.grace() as i64);
        let scope = Scope::of(self, Some(&name), &[obj.handle])?;
        let (ch, w) = self.store().transaction_tracked(|tx| {
            let mut ch = Changes::default();
            let rows: Vec<Row> = scope
                .rows(self, tx)?
                .into_iter()
                .filter(|r| r.id == handle || (all && r.class() == class && r.of_key(&name)))
                .filter(|r| r.state() != KEYWARD_STATE_PENDING_DELETION)
                .collect();
            if let Some(r) = rows.iter().find(|r| r.attrs.get(&CKA_DESTROYABLE).is_some_and(|v| v.first() == Some(&0)))
            {
                return Err(err!(CKR_ACTION_PROHIBITED, "{} is not destroyable (CKA_DESTROYABLE is false)", r.label()));
            }
            for mut r in rows {
                let prior = r.state();
                r.set(CKA_KEYWARD_PRIOR_STATE, ulong_bytes(prior));
                r.set(CKA_KEYWARD_STATE, ulong_bytes(KEYWARD_STATE_PENDING_DELETION));
                r.set(CKA_KEYWARD_DESTROY_AT, time_bytes(at));
                write_update(self, tx, &r, &mut ch)?;
            }
            Ok(ch)
        })?;
        self.kms_apply(ch, w)
    }

    /// C_DestroyObject of a token key without a grace period (or of a
    /// copy): deletes its row and the token copies that follow it, in one
    /// transaction.
    pub fn kms_destroy_now(&self, obj: &Object) -> Result<()> {
        self.require_admin_of(obj)?;
        self.require_fresh_factor("destroying a key")?;
        let handle = obj.handle as i64;
        let scope = Scope::of(self, None, &[obj.handle])?;
        // While no commit came after the revision the cache holds every
        // row at, the rows to delete are the cache's: the transaction reads
        // none (on PostgreSQL one round trip: the server checks the
        // revision after the write lock). Else the one below, which reads.
        if let Some((rev, ids)) = scope.cached_deletes(self, obj.handle) {
            let done = self.store().transaction_at(rev, |tx| {
                let mut ch = Changes::default();
                for id in ids {
                    tx.delete_object(id)?;
                    ch.deletes.push(id);
                }
                Ok(ch)
            })?;
            if let Some((ch, w)) = done {
                return self.kms_apply(ch, w);
            }
        }
        let (ch, w) = self.store().transaction_tracked(|tx| {
            let rows = scope.rows(self, tx)?;
            let r = rows
                .iter()
                .find(|r| r.id == handle)
                .ok_or_else(|| err!(CKR_OBJECT_HANDLE_INVALID, "object {handle} no longer exists"))?;
            let mut ch = Changes::default();
            write_delete(tx, r, &mut ch)?;
            delete_copies(tx, &rows, &mut ch)?;
            Ok(ch)
        })?;
        self.kms_apply(ch, w)
    }

    /// Inside `tx`: destroys for good every version of key `key_id` pending
    /// deletion (whatever its grace period), and its copies, each recorded
    /// before the commit with `details`. For a purge the quorum approved
    /// (`token::quorum`) or `keyward key purge` without a quorum.
    pub(in crate::token) fn kms_purge_pending_in(
        &self,
        tx: &crate::store::Tx<'_>,
        audit: &mut crate::audit::CommitGuard<'_>,
        key_id: &[u8],
        details: &serde_json::Value,
    ) -> Result<(Changes, Vec<MaintainedVersion>)> {
        let mut ch = Changes::default();
        let mut names = Vec::new();
        let rows = rows_with_copies(tx, tx.lookup(crate::store::index::Lookup::KeyId(key_id))?)?;
        for r in rows.iter().filter(|r| r.copy_of().is_none() && key_id_is(r, key_id)) {
            let destroyable = r.attrs.get(&CKA_DESTROYABLE).is_none_or(|v| v.first() != Some(&0));
            if r.state() == KEYWARD_STATE_PENDING_DELETION && destroyable {
                write_delete(tx, r, &mut ch)?;
                let mut d = details.clone();
                d["version"] = serde_json::json!(r.label());
                self.audit_before_commit(audit, Lifecycle::Purged, "keyward.purge", r.key_ref(), d)?;
                names.push(MaintainedVersion {
                    label: r.key_label(),
                    version: r.version() as u64,
                    object: Some(class_word(r.class())),
                });
            }
        }
        if names.is_empty() {
            return Err(err!(CKR_ARGUMENTS_BAD, "the key has no version pending deletion (delete it first)"));
        }
        delete_copies(tx, &rows, &mut ch)?;
        Ok((ch, names))
    }

    /// Destroys for good every version pending deletion whose grace period
    /// has passed (rows deleted under `secure_delete`, cached plaintext
    /// dropped). Needs no login: nothing is unsealed.
    pub fn kms_purge_due(&self) -> Result<Vec<MaintainedVersion>> {
        // With a purge quorum, versions stay pending deletion until their
        // request has its approvals (`token::quorum`).
        if self.purge_quorum()? > 1 {
            return Ok(Vec::new());
        }
        let now = clock::now();
        let mut audit = self.audit().lock_for_commit()?;
        let ((ch, names), w) = self.store().transaction_tracked(|tx| {
            let mut ch = Changes::default();
            let mut names = Vec::new();
            let rows = due_rows(self, tx, now)?;
            for r in rows.iter().filter(|r| r.copy_of().is_none()) {
                let at = r.ulong(CKA_KEYWARD_DESTROY_AT).unwrap_or(0) as i64;
                let destroyable = r.attrs.get(&CKA_DESTROYABLE).is_none_or(|v| v.first() != Some(&0));
                if r.state() == KEYWARD_STATE_PENDING_DELETION && at != 0 && at <= now && destroyable {
                    write_delete(tx, r, &mut ch)?;
                    // Recorded before the commit: a crash cannot purge a
                    // key without its record (it may leave a record of a
                    // purge that the next run then repeats).
                    let details = serde_json::json!({ "version": r.label(), "automatic": true });
                    self.audit_before_commit(&mut audit, Lifecycle::Purged, "keyward.purge", r.key_ref(), details)?;
                    names.push(MaintainedVersion {
                        label: r.key_label(),
                        version: r.version() as u64,
                        object: Some(class_word(r.class())),
                    });
                }
            }
            delete_copies(tx, &rows, &mut ch)?;
            Ok((ch, names))
        })?;
        drop(audit);
        self.kms_apply(ch, w)?;
        Ok(names)
    }
}

fn key_id_is(r: &Row, key_id: &[u8]) -> bool {
    r.attrs.get(&CKA_KEYWARD_KEY_ID).is_some_and(|k| k.as_slice() == key_id)
}
