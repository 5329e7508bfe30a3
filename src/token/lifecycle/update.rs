//! Lifecycle updates of a key's versions: enable/disable, tags (which
//! belong to the key, so every version carries them), the end date and the
//! automatic rotation period, each in one transaction over the key's rows
//! and under the one modifiability rule (`rules.rs`).
//!
//! Owns: these attribute changes. Must not touch: rotation, deletion, or
//! the use check that enforces the states.
#![allow(clippy::unnecessary_cast)] // CK_ULONG is not u64 on every platform

use super::rows::{Scope, write_update};
use crate::ck::*;
use crate::err;
use crate::error::{Error, Result};
use crate::kms::attrs::*;
use crate::kms::{KeyName, Versions, clock, rules};
use crate::object::{Object, ulong_bytes};
use crate::store::Changes;
use crate::token::Token;
use std::collections::BTreeMap;

impl Token {
    /// Enables or disables versions of `name`; returns how many changed.
    pub fn kms_set_enabled(&self, name: &KeyName, which: Versions, enabled: bool) -> Result<usize> {
        let mut matched = false;
        let new = if enabled { KEYWARD_STATE_ENABLED } else { KEYWARD_STATE_DISABLED };
        let n = self.kms_update(name, |r| {
            if !which.has(r.version()) {
                return Ok(false);
            }
            matched = true;
            match r.state() {
                KEYWARD_STATE_PENDING_DELETION => {
                    Err(err!(CKR_ACTION_PROHIBITED, "{} is pending deletion: restore it first", r.label()))
                }
                s if s == new => Ok(false),
                _ => {
                    rules::check(r.modifiable(), if enabled { rules::Change::Enable } else { rules::Change::Disable })?;
                    r.set(CKA_KEYWARD_STATE, ulong_bytes(new));
                    Ok(true)
                }
            }
        })?;
        if !matched {
            return Err(err!(CKR_ARGUMENTS_BAD, "key {:?} has no version {which:?}", name.display()));
        }
        Ok(n)
    }

    /// Adds and removes tags on every version of `name`; returns the new set.
    pub fn kms_tag(
        &self,
        name: &KeyName,
        add: &BTreeMap<String, String>,
        remove: &[String],
    ) -> Result<BTreeMap<String, String>> {
        for k in remove {
            check_tag_key(k)?;
        }
        let check = format_tags(add);
        parse_tags(&check)?;
        let mut result = BTreeMap::new();
        self.kms_update(name, |r| {
            let mut t = parse_tags(r.attrs.get(&CKA_KEYWARD_TAGS).map(Vec::as_slice).unwrap_or(&[]))?;
            for (k, v) in add {
                t.insert(k.clone(), v.clone());
            }
            for k in remove {
                t.remove(k);
            }
            let v = format_tags(&t);
            let changed = r.attrs.get(&CKA_KEYWARD_TAGS) != Some(&v);
            if changed {
                rules::check(r.modifiable(), rules::Change::Tags)?;
            }
            r.set(CKA_KEYWARD_TAGS, v);
            if r.live_primary() || result.is_empty() {
                result = t;
            }
            Ok(changed)
        })?;
        Ok(result)
    }

    /// Sets (or clears, `None`) CKA_END_DATE on every version of `name`.
    pub fn kms_set_end_date(&self, name: &KeyName, date: Option<[u8; 8]>) -> Result<usize> {
        let v = date.map(|d| d.to_vec()).unwrap_or_default();
        self.kms_update(name, |r| {
            let changed = r.attrs.get(&CKA_END_DATE) != Some(&v);
            if changed {
                let old = r.attrs.get(&CKA_END_DATE).map(Vec::as_slice);
                rules::check(r.modifiable(), rules::Change::EndDate { old, new: Some(v.as_slice()) })?;
            }
            r.set(CKA_END_DATE, v.clone());
            Ok(changed)
        })
    }

    /// Sets the automatic rotation period of `name` (0 = off) on its primary.
    pub fn kms_set_rotation_period(&self, name: &KeyName, secs: u64) -> Result<i64> {
        let now = clock::now();
        let mut next = 0;
        let mut found = false;
        self.kms_update(name, |r| {
            if !(r.live_primary() && r.class() == CKO_SECRET_KEY) {
                return Ok(false);
            }
            found = true;
            rules::check(r.modifiable(), rules::Change::RotationPeriod)?;
            if secs > 0 && r.ulong(CKA_KEYWARD_ORIGIN) != Some(KEYWARD_ORIGIN_GENERATED) {
                return Err(Error::new(CKR_ACTION_PROHIBITED, "automatic rotation needs a key generated in the token"));
            }
            next = if secs > 0 { now.saturating_add(secs as i64) } else { 0 };
            r.set(CKA_KEYWARD_ROTATION_PERIOD, ulong_bytes(secs as CK_ULONG));
            r.set(CKA_KEYWARD_NEXT_ROTATION, time_bytes(next));
            Ok(true)
        })?;
        if !found {
            return Err(Error::new(
                CKR_KEY_TYPE_INCONSISTENT,
                "automatic rotation is for secret keys with a live primary",
            ));
        }
        Ok(next)
    }

    /// After C_SetAttributeValue changed CKA_KEYWARD_TAGS on `obj`: the
    /// tags belong to the managed key, so every other version gets them.
    pub(crate) fn kms_propagate_tags(&self, obj: &Object, tags: &[u8]) -> Result<()> {
        if !obj.is_key() {
            return Ok(());
        }
        let name = KeyName::of(obj);
        let handle = obj.handle as i64;
        let scope = Scope::of(self, Some(&name), &[])?;
        let (ch, w) = self.store().transaction_tracked(|tx| {
            let mut ch = Changes::default();
            for mut r in scope.rows(self, tx)?.into_iter().filter(|r| r.id != handle && r.of_key(&name)) {
                if r.attrs.get(&CKA_KEYWARD_TAGS).map(Vec::as_slice) != Some(tags) {
                    r.set(CKA_KEYWARD_TAGS, tags.to_vec());
                    write_update(self, tx, &r, &mut ch)?;
                }
            }
            Ok(ch)
        })?;
        self.kms_apply(ch, w)
    }
}
