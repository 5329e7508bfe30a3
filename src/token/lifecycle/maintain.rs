//! The token side of `kms::maintain`: the methods that read the token's objects.
#![allow(clippy::unnecessary_cast)]

use crate::ck::*;
use crate::error::{Error, Result};
use crate::kms::attrs::*;
use crate::kms::maintain::*;
use crate::kms::{KeyName, clock};
use crate::object::Object;
use crate::token::Token;
use std::sync::Arc;
use std::sync::atomic::Ordering;

impl Token {
    /// Rotates every enabled primary secret key whose next rotation is due.
    pub fn kms_rotate_due(&self) -> Result<Vec<MaintainedVersion>> {
        if self.role()? != Some(crate::store::Role::User) {
            return Ok(Vec::new());
        }
        let now = clock::now();
        let due: Vec<Arc<Object>> = self
            .due_candidates(now)?
            .into_iter()
            .filter(|o| {
                o.class == CKO_SECRET_KEY
                    && copy_source(o).is_none()
                    && is_primary(o)
                    && state_of(o) == KEYWARD_STATE_ENABLED
                    && o.ulong(CKA_KEYWARD_NEXT_ROTATION).is_some_and(|t| t != 0 && t as i64 <= now)
                    // (only the keys this login can seal a new version of)
                    && self.administers(o)
            })
            .collect();
        let mut out = Vec::new();
        for o in due {
            let name = KeyName::of(&o);
            match self.kms_rotate_key(&name, Some((&o.uid, now)), None) {
                Ok(Some(r)) => {
                    // (recorded inside kms_rotate_key, before its commit)
                    out.push(MaintainedVersion { label: name.display(), version: r.version, object: None });
                }
                Ok(None) => {}
                Err(e) => log::warn!("token {}: automatic rotation of {:?} failed: {e}", self.slot, name.display()),
            }
        }
        Ok(out)
    }

    /// Due purges and (with the user logged in) due rotations; what they did
    /// is also remembered for `keyward maintain`'s report.
    fn kms_run_due(&self) -> Result<Report> {
        let purged = self.kms_purge_due()?;
        let rotated = self.kms_rotate_due()?;
        Ok(Report { rotated, purged })
    }

    fn remember(&self, r: &Report) {
        if let Ok(mut d) = self.kms.done.lock() {
            d.rotated.extend(r.rotated.iter().cloned());
            d.purged.extend(r.purged.iter().cloned());
        }
    }

    /// Automatic maintenance after a user login (errors are logged, never
    /// returned: the login itself succeeded): the first login of the
    /// process, then at most once a minute (repeated logins stay cheap).
    pub(crate) fn kms_after_login(&self) {
        // Skip the sweep (a write transaction over every key row) when
        // nothing changed since the last one and nothing has come due.
        let now = clock::now();
        if self.refresh_if_stale().is_ok()
            && let Ok(hint) = self.kms.due_hint.lock()
            && let Some((generation, next_due)) = *hint
            && generation == self.objects_generation()
            && now < next_due
        {
            return;
        }
        self.kms.next_tick_ms.store(self.kms.elapsed_ms() + TICK_MS, Ordering::Relaxed);
        self.kms_guarded_run();
    }

    /// Automatic maintenance at most once a minute while a user is logged in.
    pub(crate) fn kms_tick(&self) {
        let now = self.kms.elapsed_ms();
        if now < self.kms.next_tick_ms.load(Ordering::Relaxed) || !self.is_user() || self.is_named() {
            return;
        }
        self.kms.next_tick_ms.store(now + TICK_MS, Ordering::Relaxed);
        self.kms_guarded_run();
    }

    fn kms_guarded_run(&self) {
        if self.kms.running.swap(true, Ordering::AcqRel) {
            return;
        }
        match self.kms_run_due() {
            Ok(r) => {
                self.remember(&r);
                self.remember_next_due();
            }
            Err(e) => log::warn!("token {}: key maintenance failed: {e}", self.slot),
        }
        self.kms.running.store(false, Ordering::Release);
    }

    /// Notes when the next purge or rotation comes due (for the object set
    /// of this generation of the cache).
    fn remember_next_due(&self) {
        let generation = self.objects_generation();
        if self.lazy() {
            // Not held resident: the store's earliest due time (a lower
            // bound: the sweep applies the rules to what it finds).
            if let Ok(next) = self.store().next_due()
                && let Ok(mut h) = self.kms.due_hint.lock()
            {
                *h = Some((generation, next.unwrap_or(i64::MAX)));
            }
            return;
        }
        let Ok(all) = self.all_objects() else { return };
        let next_due = all
            .iter()
            .filter(|o| o.is_key())
            .filter_map(|o| {
                let destroy = (state_of(o) == KEYWARD_STATE_PENDING_DELETION)
                    .then(|| o.ulong(CKA_KEYWARD_DESTROY_AT).unwrap_or(0) as i64)
                    .filter(|t| *t != 0);
                let rotate = (o.class == CKO_SECRET_KEY && is_primary(o) && state_of(o) == KEYWARD_STATE_ENABLED)
                    .then(|| o.ulong(CKA_KEYWARD_NEXT_ROTATION).unwrap_or(0) as i64)
                    .filter(|t| *t != 0);
                destroy.into_iter().chain(rotate).min()
            })
            .min()
            .unwrap_or(i64::MAX);
        if let Ok(mut h) = self.kms.due_hint.lock() {
            *h = Some((generation, next_due));
        }
    }

    /// `keyward maintain`: runs due purges and rotations now and reports
    /// them together with what automatic runs of this process did.
    pub fn kms_maintain(&self) -> Result<Report> {
        self.require_user()?;
        if let Some(who) = self.named_user() {
            return Err(crate::err!(
                CKR_ACTION_PROHIBITED,
                "user {}: `keyward maintain` runs as the default user",
                who.name
            ));
        }
        while self.kms.running.swap(true, Ordering::AcqRel) {
            std::thread::yield_now();
        }
        let r = self.kms_run_due();
        self.kms.running.store(false, Ordering::Release);
        let r = r?;
        let mut done = self.kms.done.lock().map_err(|_| Error::general("kms lock poisoned"))?;
        let mut all = std::mem::take(&mut *done);
        all.rotated.extend(r.rotated);
        all.purged.extend(r.purged);
        Ok(all)
    }
}
