//! The object cache: every object of the token by handle, with an index by
//! CKA_LABEL (`Objects`, `LabelSet`); picking up other processes' commits
//! (`refresh`, throttled by `store.refresh_ms` on the per-operation lookup);
//! the lookups of an object as a session may see it, and C_FindObjectsInit.
//!
//! Owns: what the cache holds and when it is current (it stays
//! write-locked from the store read to the apply). Must not touch: sealing,
//! the login state (it asks `check_login_current` after a refresh), the
//! lifecycle view's rules (`kms::FindView` decides).
#![allow(clippy::unnecessary_cast)] // CK_ULONG is not u64 on every platform

use super::session::Session;
use super::{SESSION_OBJECT_BASE, Token, lock_err};
use crate::ck::*;
use crate::err;
use crate::error::{Error, Result};
use crate::object::{Object, Secret};
use crate::store::{Changes, ObjectRow, Written, codec};
use crate::types::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The handles of one label in ascending order: a short vector (a label
/// usually names one object or a few), a B-tree once many objects share it
/// (the empty label of a thousand session keys: removing one from a long
/// vector would move all the others).
enum LabelSet {
    Few(Vec<Handle>),
    Many(std::collections::BTreeSet<Handle>),
}

impl LabelSet {
    const FEW: usize = 64;

    fn insert(&mut self, h: Handle) {
        match self {
            LabelSet::Few(v) => {
                if let Err(i) = v.binary_search(&h) {
                    v.insert(i, h);
                    if v.len() > Self::FEW {
                        *self = LabelSet::Many(v.iter().copied().collect());
                    }
                }
            }
            LabelSet::Many(s) => {
                s.insert(h);
            }
        }
    }

    fn remove(&mut self, h: Handle) {
        match self {
            LabelSet::Few(v) => {
                if let Ok(i) = v.binary_search(&h) {
                    v.remove(i);
                }
            }
            LabelSet::Many(s) => {
                s.remove(&h);
            }
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            LabelSet::Few(v) => v.is_empty(),
            LabelSet::Many(s) => s.is_empty(),
        }
    }

    fn iter(&self) -> Box<dyn Iterator<Item = Handle> + '_> {
        match self {
            LabelSet::Few(v) => Box::new(v.iter().copied()),
            LabelSet::Many(s) => Box::new(s.iter().copied()),
        }
    }
}

type Index<K> = HashMap<K, LabelSet, foldhash::fast::RandomState>;

fn index_add<K: std::hash::Hash + Eq>(index: &mut Index<K>, key: K, h: Handle) {
    match index.get_mut(&key) {
        Some(set) => set.insert(h),
        None => {
            index.insert(key, LabelSet::Few(vec![h]));
        }
    }
}

fn index_remove<K, Q>(index: &mut Index<K>, key: &Q, h: Handle)
where
    K: std::hash::Hash + Eq + std::borrow::Borrow<Q>,
    Q: std::hash::Hash + Eq + ?Sized,
{
    if let Some(set) = index.get_mut(key) {
        set.remove(h);
        if set.is_empty() {
            index.remove(key);
        }
    }
}

/// The object cache: every object by handle, plus indexes by CKA_LABEL
/// (C_FindObjects by label among 10,000 keys without a scan), by managed
/// key and by copy source (a lifecycle act reads just its key's rows).
#[derive(Default)]
pub(super) struct Objects {
    /// The cache holds every token row of the store at this revision (and
    /// maybe later changes of this process).
    rev: u64,
    pub(super) map: HandleMap<Arc<Object>>,
    /// Handles in ascending order (as the search returns them).
    by_label: Index<Vec<u8>>,
    /// Token keys by CKA_KEYWARD_KEY_ID: the versions (and token copies)
    /// of one managed key.
    by_key: Index<Vec<u8>>,
    /// Copies (token and session) by the handle of the version they follow.
    copies: Index<Handle>,
    /// How many session objects `map` holds (closing sessions skips the
    /// scan when there are none).
    pub(super) session_objects: usize,
    /// Bumped by every change (see `Token::objects_generation`).
    generation: u64,
}

impl Objects {
    pub(super) fn unindex(&mut self, obj: &Object) {
        if obj.owner.is_some() {
            self.session_objects = self.session_objects.saturating_sub(1);
        }
        if let Some(l) = obj.get(CKA_LABEL) {
            index_remove(&mut self.by_label, l, obj.handle);
        }
        if obj.owner.is_none() && obj.is_key() {
            index_remove(&mut self.by_key, crate::kms::attrs::key_id_of(obj), obj.handle);
        }
        if let Some(src) = crate::kms::attrs::copy_source(obj) {
            index_remove(&mut self.copies, &src, obj.handle);
        }
    }

    pub(super) fn insert(&mut self, obj: Arc<Object>) {
        self.generation += 1;
        if let Some(old) = self.map.remove(&obj.handle) {
            // A newer version of the same object keeps its handle's validity.
            obj.issued_in.store(old.issued_in.load(Ordering::Relaxed), Ordering::Relaxed);
            self.unindex(&old);
        }
        if obj.owner.is_some() {
            self.session_objects += 1;
        }
        if let Some(l) = obj.get(CKA_LABEL) {
            index_add(&mut self.by_label, l.to_vec(), obj.handle);
        }
        if obj.owner.is_none() && obj.is_key() {
            index_add(&mut self.by_key, crate::kms::attrs::key_id_of(&obj).to_vec(), obj.handle);
        }
        if let Some(src) = crate::kms::attrs::copy_source(&obj) {
            index_add(&mut self.copies, src, obj.handle);
        }
        self.map.insert(obj.handle, obj);
    }

    pub(super) fn remove(&mut self, h: Handle) -> Option<Arc<Object>> {
        self.generation += 1;
        let old = self.map.remove(&h)?;
        self.unindex(&old);
        Some(old)
    }

    pub(super) fn retain(&mut self, keep: impl Fn(&Object) -> bool) {
        let gone: Vec<Handle> = self.map.values().filter(|o| !keep(o)).map(|o| o.handle).collect();
        for h in gone {
            self.remove(h);
        }
    }

    pub(super) fn clear(&mut self) {
        self.generation += 1;
        self.map.clear();
        self.by_label.clear();
        self.by_key.clear();
        self.copies.clear();
        self.session_objects = 0;
    }

    /// The copies that follow `h`.
    fn copies_of(&self, h: Handle) -> impl Iterator<Item = Handle> + '_ {
        self.copies.get(&h).into_iter().flat_map(LabelSet::iter)
    }

    /// Candidates for a search template: the label index when the template
    /// names a label, else every object.
    pub(super) fn candidates<'a>(&'a self, t: &[Attr]) -> Box<dyn Iterator<Item = &'a Arc<Object>> + 'a> {
        match t.iter().rev().find(|a| a.ty == CKA_LABEL) {
            Some(a) => match self.by_label.get(&a.value) {
                Some(set) => Box::new(set.iter().filter_map(|h| self.map.get(&h))),
                None => Box::new(std::iter::empty()),
            },
            None => Box::new(self.map.values()),
        }
    }
}

fn object_from_row(row: &ObjectRow, integrity: crate::object::Integrity) -> Result<Object> {
    let attrs = crate::object::AttrMap::from_pairs(
        codec::decode_attrs_ref(&row.public)?.into_iter().map(|(t, v)| (t as CK_ATTRIBUTE_TYPE, v)),
    );
    let secrets = codec::decode_attrs(&row.sealed)?
        .into_iter()
        .map(|(t, v)| (t as CK_ATTRIBUTE_TYPE, Secret::Sealed(v)))
        .collect();
    Ok(Object::from_parts(row.id as Handle, row.uid.clone(), None, attrs, secrets)?.with_integrity(integrity))
}

/// Whether a session without the user logged in sees `obj` (see `Token::visible`).
fn public_view(obj: &Object) -> bool {
    !obj.private && !matches!(obj.integrity(), crate::object::Integrity::Failed(_))
}

impl Token {
    pub(crate) fn apply_changes(&self, ch: Changes) -> Result<()> {
        let mut o = self.objects.write().map_err(lock_err)?;
        self.apply_changes_locked(&mut o, ch);
        Ok(())
    }

    pub(super) fn apply_changes_locked(&self, o: &mut Objects, ch: Changes) {
        if o.session_objects > 0 && !ch.deletes.is_empty() {
            // A session copy dies with the token version it follows.
            let copies: Vec<Handle> = ch
                .deletes
                .iter()
                .flat_map(|id| o.copies_of(*id as Handle))
                .filter(|h| o.map.get(h).is_some_and(|c| c.owner.is_some()))
                .collect();
            for h in copies {
                o.remove(h);
            }
        }
        for id in ch.deletes {
            o.remove(id as Handle);
        }
        for row in &ch.upserts {
            let integrity = self.check_row(row);
            if let crate::object::Integrity::Failed(why) = &integrity {
                log::error!(
                    "token {}: object {} (uid {}) failed its integrity check and is refused: {why}",
                    self.slot,
                    row.id,
                    row.uid
                );
            }
            match object_from_row(row, integrity) {
                Ok(obj) => {
                    o.insert(Arc::new(obj));
                }
                Err(e) => log::warn!("token {}: skipping unreadable object {}: {e}", self.slot, row.uid),
            }
        }
        o.rev = o.rev.max(ch.rev);
    }

    /// Applies the changes of a committed write of this process (`w`: its
    /// revisions): the cache then stands at the revision the write stamped
    /// when it stood at the one the write started from; otherwise the next
    /// refresh re-reads.
    pub(crate) fn apply_own(&self, ch: Changes, w: Written) -> Result<()> {
        let mut o = self.objects.write().map_err(lock_err)?;
        self.apply_changes_locked(&mut o, ch);
        self.advance_locked(&mut o, w);
        Ok(())
    }

    pub(super) fn advance_locked(&self, o: &mut Objects, w: Written) {
        let Some(stamped) = w.stamped else { return };
        if o.rev == w.base {
            o.rev = stamped;
        } else if o.rev < stamped {
            self.store.request_reread();
        }
    }

    /// The token objects a lifecycle transaction on the managed key
    /// `key_id` (if any) and on `ids` reads: the key's token objects, `ids`,
    /// and every copy that follows one of them (copies of copies too); and
    /// the revision at which the cache holds every token row. Read before
    /// the transaction: it may use these only if the store is still at that
    /// revision (`Tx::base_revision`).
    pub(crate) fn lifecycle_handles(&self, key_id: Option<&[u8]>, ids: &[Handle]) -> Result<(u64, Vec<Handle>)> {
        let o = self.objects.read().map_err(lock_err)?;
        let mut out: Vec<Handle> = ids.to_vec();
        if let Some(k) = key_id
            && let Some(set) = o.by_key.get(k)
        {
            out.extend(set.iter());
        }
        let mut i = 0;
        while i < out.len() {
            let h = out[i];
            for c in o.copies_of(h) {
                if !out.contains(&c) && o.map.get(&c).is_some_and(|c| c.owner.is_none()) {
                    out.push(c);
                }
            }
            i += 1;
        }
        out.sort_unstable();
        out.dedup();
        Ok((o.rev, out))
    }

    /// Changes whenever the object cache changes.
    pub(crate) fn objects_generation(&self) -> u64 {
        self.objects.read().map(|o| o.generation).unwrap_or(0)
    }

    fn now_ns(&self) -> u64 {
        crate::clock::now().saturating_duration_since(self.epoch).as_nanos() as u64
    }

    /// Picks up what other processes committed.
    pub fn refresh(&self) -> Result<()> {
        let started = self.now_ns();
        // The cache stays write-locked from the store read to the apply:
        // otherwise a thread of this process could change or delete an
        // object between the two and the older snapshot would bring the
        // old version back.
        let mut o = self.objects.write().map_err(lock_err)?;
        // When something changed, the token row is read once: for the row
        // keys and for the login check below.
        let changes = if self.store.take_unreported_writes() {
            // This process wrote without telling the cache the revision
            // (PIN counters, meta), or the cache lost track of it.
            Some(self.store.changes_after(o.rev)?)
        } else {
            self.store.changes_since(o.rev)?
        };
        let row = match changes {
            Some(ch) => {
                let row = self.store.token()?;
                // Another process re-initialized the token: its rows are
                // under a new master key, unknown here until a login (not
                // "failed" against the old one).
                if self.integrity.keys_for_other_token(row.as_ref().map(|r| r.serial.as_str())) {
                    self.integrity.set_keys(None, None);
                }
                self.apply_changes_locked(&mut o, ch);
                Some(row)
            }
            None => None,
        };
        drop(o);
        if let Some(row) = row {
            self.check_login_current(row.as_ref())?;
        }
        self.refreshed_at_ns.store(started, Ordering::Relaxed);
        Ok(())
    }

    /// [`Token::refresh`] unless the last check is younger than
    /// `store.refresh_ms` (the per-operation key lookup: a check costs a
    /// SQLite read transaction with its file locks, several microseconds).
    pub(crate) fn refresh_if_stale(&self) -> Result<()> {
        if self.refresh_every_ns > 0
            && self.now_ns().saturating_sub(self.refreshed_at_ns.load(Ordering::Relaxed)) < self.refresh_every_ns
        {
            return Ok(());
        }
        self.refresh()
    }

    /// Private objects, and objects whose row failed its integrity check
    /// (their CKA_PRIVATE may be the edit), are seen by the user only.
    fn visible(&self, obj: &Object) -> bool {
        public_view(obj) || self.is_user()
    }

    /// The object `h` as session `s` may see it. `invalid` is the CK_RV for a
    /// handle that names nothing visible (object, key, wrapping key ...).
    pub fn object(&self, h: Handle, invalid: CK_RV) -> Result<Arc<Object>> {
        // The CKO_PROFILE objects are built in, not stored (`object::profile`).
        if let Some(p) = crate::object::profile::lookup(h) {
            return Ok(p.clone());
        }
        // Another process may have rotated, disabled or deleted the key:
        // checked at most every `store.refresh_ms` (session objects live
        // only in this process).
        if h < SESSION_OBJECT_BASE {
            self.refresh_if_stale()?;
        }
        self.kms_tick();
        let found = self.objects.read().map_err(lock_err)?.map.get(&h).cloned();
        match found {
            Some(o) if self.visible(&o) && self.handle_current(&o) => Ok(o),
            _ => Err(err!(invalid, "no visible object with handle {h}")),
        }
    }

    /// The cached object `h`, whatever its visibility (lifecycle bookkeeping).
    pub(crate) fn cached_object(&self, h: Handle) -> Result<Arc<Object>> {
        let found = self.objects.read().map_err(lock_err)?.map.get(&h).cloned();
        found.ok_or_else(|| err!(CKR_OBJECT_HANDLE_INVALID, "no object with handle {h}"))
    }

    pub fn find_init(&self, s: &mut Session, t: &[Attr]) -> Result<()> {
        if s.find.is_some() {
            return Err(Error::new(CKR_OPERATION_ACTIVE, "a find operation is active"));
        }
        self.refresh()?;
        let user = self.is_user();
        // Default view: primary versions not pending deletion (src/kms).
        let view = crate::kms::FindView::of(t);
        let o = self.objects.read().map_err(lock_err)?;
        let epoch = self.login_epoch.load(Ordering::Relaxed);
        let mut found: Vec<Handle> = o
            .candidates(t)
            .filter(|obj| (user || public_view(obj)) && view.admits(obj))
            .map(|obj| {
                obj.issued_in.store(epoch, Ordering::Relaxed);
                obj.handle
            })
            .collect();
        drop(o);
        // The built-in CKO_PROFILE objects: public, seen by every session
        // whose template names CKA_CLASS = CKO_PROFILE (an empty template
        // does not list them: clients that destroy everything they find,
        // or count their own objects, keep working).
        if crate::object::profile::asked_for(t) {
            found.extend(crate::object::profile::all().iter().filter(|p| view.admits(p)).map(|p| p.handle));
        }
        found.sort_unstable();
        s.find = Some((found, 0));
        Ok(())
    }

    /// Every object of the token (the CLI's inventory), as the store has them.
    pub fn all_objects(&self) -> Result<Vec<Arc<Object>>> {
        self.refresh()?;
        let o = self.objects.read().map_err(lock_err)?;
        let mut v: Vec<_> = o.map.values().filter(|x| x.token).cloned().collect();
        v.sort_by_key(|x| x.handle);
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sets_stay_sorted_across_the_switch_to_a_tree() {
        let mut set = LabelSet::Few(Vec::new());
        let mut reference = std::collections::BTreeSet::new();
        let mut x = 12345u64;
        for step in 0..1000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let h = (x >> 40) % 300;
            if step % 3 == 2 {
                set.remove(h);
                reference.remove(&h);
            } else {
                set.insert(h);
                reference.insert(h);
            }
            assert!(set.iter().eq(reference.iter().copied()), "step {step}");
            assert_eq!(set.is_empty(), reference.is_empty());
        }
        assert!(matches!(set, LabelSet::Many(_)), "more than FEW handles: a tree");
    }
}
