//! The key-lifecycle calls of the safe API (`Library::kms_*`), for the CLI
//! and a future vendor interface: each finds the session's token, names
//! the key, records the act in the audit log and returns data (`KeyInfo`,
//! `Rotated`, `Report` ...), never text.
//!
//! Owns: the mapping from a session handle and a key name to a lifecycle
//! act on a token. Must not touch: the lifecycle rules themselves (src/kms)
//! or how anything is shown (the binary, src/bin/keyward/).

use super::Library;
use crate::audit::Lifecycle;
use crate::ck::*;
use crate::error::{Error, Result};
use crate::kms::attrs::is_primary;
use crate::kms::{KeyInfo, KeyName, Report, Rotated, Versions, clock};
use crate::token::Token;
use crate::types::Handle;
use std::collections::BTreeMap;
use std::sync::Arc;

impl Library {
    fn kms_call<T>(&self, h: Handle, f: impl FnOnce(&Arc<Token>) -> Result<T>) -> Result<T> {
        self.with_session(h, |_, t| f(t))
    }

    /// Every managed key of the session's token (`all`: also keys pending deletion).
    pub fn kms_keys(&self, h: Handle, all: bool) -> Result<Vec<KeyInfo>> {
        self.kms_call(h, |t| t.kms_keys(all))
    }

    pub fn kms_key(&self, h: Handle, name: &str) -> Result<KeyInfo> {
        self.kms_call(h, |t| t.kms_key_info(&t.kms_find(name)?))
    }

    fn lifecycle<T: crate::audit::Outcome>(
        &self,
        h: Handle,
        name: &str,
        action: Lifecycle,
        function: &'static str,
        details: serde_json::Value,
        f: impl FnOnce(&Token, &KeyName) -> Result<T>,
    ) -> Result<T> {
        self.kms_call(h, |t| {
            let key = t.kms_find(name)?;
            let objs = t.kms_objects(&key)?;
            let handle = objs
                .iter()
                .find(|o| is_primary(o) && o.class != CKO_PUBLIC_KEY)
                .or_else(|| objs.first())
                .map(|o| o.handle);
            let mut d = details;
            d["key"] = serde_json::json!(name);
            t.audit_lifecycle(action, function, Some(h), handle, Some(d), || f(t, &key))
        })
    }

    /// Rotates the key labelled `name`; returns the new version.
    pub fn kms_rotate(&self, h: Handle, name: &str) -> Result<Rotated> {
        self.lifecycle(h, name, Lifecycle::Rotated, "keyward.rotate", serde_json::json!({}), |t, k| {
            t.kms_rotate_key(k, None, None)?.ok_or_else(|| Error::general("rotation did not happen"))
        })
    }

    pub fn kms_set_enabled(&self, h: Handle, name: &str, which: Versions, enabled: bool) -> Result<usize> {
        let (action, f) =
            if enabled { (Lifecycle::Enabled, "keyward.enable") } else { (Lifecycle::Disabled, "keyward.disable") };
        let d = serde_json::json!({ "versions": format!("{which:?}") });
        let mut n = 0;
        self.lifecycle(h, name, action, f, d, |t, k| {
            n = t.kms_set_enabled(k, which, enabled)?;
            Ok(())
        })?;
        Ok(n)
    }

    /// Schedules deletion (or deletes, with a grace of 0); returns when it
    /// becomes permanent (0 = already).
    pub fn kms_delete(&self, h: Handle, name: &str, which: Versions) -> Result<i64> {
        let mut at = 0;
        let d = serde_json::json!({ "versions": format!("{which:?}") });
        self.lifecycle(h, name, Lifecycle::DeletionScheduled, "keyward.delete", d, |t, k| {
            at = t.kms_delete(k, which)?;
            Ok(())
        })?;
        Ok(at)
    }

    pub fn kms_restore(&self, h: Handle, name: &str) -> Result<usize> {
        let mut n = 0;
        self.lifecycle(h, name, Lifecycle::Restored, "keyward.restore", serde_json::json!({}), |t, k| {
            n = t.kms_restore(k)?;
            Ok(())
        })?;
        Ok(n)
    }

    pub fn kms_tag(
        &self,
        h: Handle,
        name: &str,
        add: &BTreeMap<String, String>,
        remove: &[String],
    ) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        let d = serde_json::json!({ "add": add, "remove": remove });
        self.lifecycle(h, name, Lifecycle::TagsChanged, "keyward.tag", d, |t, k| {
            out = t.kms_tag(k, add, remove)?;
            Ok(())
        })?;
        Ok(out)
    }

    pub fn kms_expire(&self, h: Handle, name: &str, date: Option<[u8; 8]>) -> Result<()> {
        let d = serde_json::json!({ "end_date": date.map(|d| clock::format_date(&d)) });
        self.lifecycle(h, name, Lifecycle::Expired, "keyward.expire", d, |t, k| t.kms_set_end_date(k, date).map(|_| ()))
    }

    pub fn kms_set_rotation_period(&self, h: Handle, name: &str, secs: u64) -> Result<i64> {
        let mut next = 0;
        let d = serde_json::json!({ "rotation_period_secs": secs });
        self.lifecycle(h, name, Lifecycle::RotationScheduleChanged, "keyward.rotation_period", d, |t, k| {
            next = t.kms_set_rotation_period(k, secs)?;
            Ok(())
        })?;
        Ok(next)
    }

    /// Due rotations and purges of the session's token.
    pub fn kms_maintain(&self, h: Handle) -> Result<Report> {
        self.kms_call(h, |t| t.kms_maintain())
    }

    /// Imports a key file as a new managed key (see `Token::kms_import`).
    pub fn kms_import(&self, h: Handle, name: &str, data: &[u8], id: &[u8]) -> Result<Vec<Handle>> {
        self.with_session(h, |s, t| {
            let d = serde_json::json!({ "key": name });
            t.audit_lifecycle(Lifecycle::Imported, "keyward.import", Some(h), None, Some(d), || {
                t.kms_import(s, name, data, id).map(|handles| Rotated { version: 1, handles })
            })
            .map(|r| r.handles)
        })
    }
}
