//! The object cache: every object of the token by handle, with an index by
//! CKA_LABEL (`Objects`, `LabelSet`); picking up other processes' commits
//! (`refresh`, throttled by `store.refresh_ms` on the per-operation lookup);
//! the lookups of an object as a session may see it, and C_FindObjectsInit.
//! A token with more rows than `store.resident_objects` is not held
//! resident (`Objects::lazy`): the cache then holds the session objects and
//! the token objects used lately, reads the others from the store on first
//! use, and asks the store's lookup columns (`store::index`) what it would
//! otherwise answer from its indexes.
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
    /// Token keys without a CKA_KEYWARD_KEY_ID (rows of a keyward 0.1
    /// store, until the login that gives them one).
    keys_without_identity: usize,
    /// How many session objects `map` holds (closing sessions skips the
    /// scan when there are none).
    pub(super) session_objects: usize,
    /// Bumped by every change (see `Token::objects_generation`).
    generation: u64,
    /// The token had more rows than `store.resident_objects` when it was
    /// opened: `map` holds the session objects and only the token objects
    /// used since (read from the store on first use); lookups that need
    /// every row ask the store's lookup columns (`store::index`).
    pub(super) lazy: bool,
    /// Lazy mode: how many token objects the cache keeps (objects in use
    /// by an operation are never dropped), and how many it holds.
    pub(super) lazy_cap: usize,
    lazy_held: usize,
}

impl Objects {
    pub(super) fn unindex(&mut self, obj: &Object) {
        if obj.owner.is_some() {
            self.session_objects = self.session_objects.saturating_sub(1);
        }
        if let Some(l) = obj.get(CKA_LABEL).filter(|l| !l.is_empty()) {
            index_remove(&mut self.by_label, l, obj.handle);
        }
        if obj.owner.is_none() && obj.is_key() {
            let key_id = crate::kms::attrs::key_id_of(obj);
            if key_id.is_empty() {
                self.keys_without_identity = self.keys_without_identity.saturating_sub(1);
            }
            index_remove(&mut self.by_key, key_id, obj.handle);
        }
        if let Some(src) = crate::kms::attrs::copy_source(obj) {
            index_remove(&mut self.copies, &src, obj.handle);
        }
    }

    pub(super) fn insert(&mut self, obj: Arc<Object>) {
        self.generation += 1;
        self.add(obj);
    }

    /// Caches a token object read from the store on first use (lazy
    /// mode): the token did not change, so the generation stays.
    fn insert_loaded(&mut self, obj: Arc<Object>) {
        self.add(obj);
        self.lazy_held += 1;
        if self.lazy_held > self.lazy_cap {
            self.shed();
        }
    }

    /// Drops about a quarter of the cached token objects that nothing else
    /// holds (no operation, no search in progress): they are read from the
    /// store again when next used.
    fn shed(&mut self) {
        let want = (self.lazy_cap / 4).max(1);
        let gone: Vec<Handle> =
            self.map.values().filter(|o| o.token && Arc::strong_count(o) == 1).map(|o| o.handle).take(want).collect();
        for h in gone {
            // Not a change of the token: the generation stays.
            if let Some(old) = self.map.remove(&h) {
                self.unindex(&old);
            }
        }
        // (Counted again: own writes and refreshes add token objects too.)
        self.lazy_held = self.map.values().filter(|o| o.token).count();
    }

    fn add(&mut self, obj: Arc<Object>) {
        if let Some(old) = self.map.remove(&obj.handle) {
            // A newer version of the same object keeps its handle's validity.
            obj.issued_in.store(old.issued_in.load(Ordering::Relaxed), Ordering::Relaxed);
            self.unindex(&old);
        }
        if obj.owner.is_some() {
            self.session_objects += 1;
        }
        // (the empty label is not indexed: the session keys of a thousand
        // encapsulations share it, and nobody searches for it but a scan)
        if let Some(l) = obj.get(CKA_LABEL).filter(|l| !l.is_empty()) {
            match self.by_label.get_mut(l) {
                Some(set) => set.insert(obj.handle),
                None => {
                    self.by_label.insert(l.to_vec(), LabelSet::Few(vec![obj.handle]));
                }
            }
        }
        if obj.owner.is_none() && obj.is_key() {
            let key_id = crate::kms::attrs::key_id_of(&obj);
            if key_id.is_empty() {
                self.keys_without_identity += 1;
            }
            index_add(&mut self.by_key, key_id.to_vec(), obj.handle);
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
        self.keys_without_identity = 0;
        self.session_objects = 0;
    }

    /// The copies that follow `h`.
    fn copies_of(&self, h: Handle) -> impl Iterator<Item = Handle> + '_ {
        self.copies.get(&h).into_iter().flat_map(LabelSet::iter)
    }

    /// Candidates for a search template: the label index when the template
    /// names a label (but the empty one), else every object.
    pub(super) fn candidates<'a>(&'a self, t: &[Attr]) -> Box<dyn Iterator<Item = &'a Arc<Object>> + 'a> {
        match t.iter().rev().find(|a| a.ty == CKA_LABEL && !a.value.is_empty()) {
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
pub(super) fn public_view(obj: &Object) -> bool {
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
            // A token not held resident keeps only what it uses: another
            // process's new or changed row is read when first asked for.
            if o.lazy && !o.map.contains_key(&(row.id as Handle)) {
                continue;
            }
            if let Some(obj) = self.object_of_row(row) {
                o.insert(Arc::new(obj));
            }
        }
        o.rev = o.rev.max(ch.rev);
    }

    /// The object of a stored row, checked against its MAC (a row that
    /// fails is kept, marked, and logged); `None` (logged) when it does not
    /// decode.
    fn object_of_row(&self, row: &ObjectRow) -> Option<Object> {
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
            Ok(obj) => Some(obj),
            Err(e) => {
                log::warn!("token {}: skipping unreadable object {}: {e}", self.slot, row.uid);
                None
            }
        }
    }

    /// Whether the cache holds only the token objects used so far (see
    /// `Objects::lazy`).
    pub(crate) fn lazy(&self) -> bool {
        // Not through the cache's lock: store transactions ask this (the
        // purge's due rows) while holding the store, and `refresh` takes
        // the cache's lock before the store's (the other order deadlocked
        // concurrent logins).
        self.lazy_mode.load(Ordering::Relaxed)
    }

    /// Starts the cache without reading any row (a token over
    /// `store.resident_objects`): it stands at `rev` and keeps about `cap`
    /// token objects.
    pub(super) fn start_lazy(&self, rev: u64, cap: usize) -> Result<()> {
        let mut o = self.objects.write().map_err(lock_err)?;
        o.lazy = true;
        self.lazy_mode.store(true, Ordering::Relaxed);
        o.lazy_cap = cap;
        o.rev = rev;
        Ok(())
    }

    /// Object `h` from the cache or, when the token is not held resident,
    /// from the store (then cached). The cache stays write-locked from the
    /// store read to the insert, as in `refresh`.
    fn get_or_load(&self, h: Handle) -> Result<Option<Arc<Object>>> {
        {
            let o = self.objects.read().map_err(lock_err)?;
            if let Some(x) = o.map.get(&h) {
                return Ok(Some(x.clone()));
            }
            if !o.lazy || h >= SESSION_OBJECT_BASE {
                return Ok(None);
            }
        }
        let mut o = self.objects.write().map_err(lock_err)?;
        if let Some(x) = o.map.get(&h) {
            return Ok(Some(x.clone()));
        }
        let Some(row) = self.store.object(h as i64)? else { return Ok(None) };
        let Some(obj) = self.object_of_row(&row) else { return Ok(None) };
        let obj = Arc::new(obj);
        o.insert_loaded(obj.clone());
        Ok(Some(obj))
    }

    /// The token objects with these row ids (cached from then on); ids
    /// that name nothing any more are left out.
    pub(crate) fn load_ids(&self, ids: &[i64]) -> Result<Vec<Arc<Object>>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(self.get_or_load(*id as Handle)?);
        }
        Ok(out)
    }

    /// Every token object, read from the store in pages (cached ones as
    /// cached; the others are not kept): a token not held resident.
    fn scan_token_objects(&self) -> Result<Vec<Arc<Object>>> {
        const PAGE: usize = 1024;
        let mut out = Vec::new();
        let mut after = 0i64;
        loop {
            let rows = self.store.objects_after(after, PAGE)?;
            let Some(last) = rows.last() else { break };
            after = last.id;
            let o = self.objects.read().map_err(lock_err)?;
            for row in &rows {
                match o.map.get(&(row.id as Handle)) {
                    Some(x) => out.push(x.clone()),
                    None => out.extend(self.object_of_row(row).map(Arc::new)),
                }
            }
        }
        Ok(out)
    }

    /// The token objects whose CKA_LABEL is `label` (and, when given,
    /// whose CKA_KEYWARD_KEY_ID is `key_id`); `label` None: those of
    /// `key_id`. Through the store's lookup columns when the token is not
    /// held resident, else from the cache.
    pub(crate) fn token_objects_named(&self, key_id: Option<&[u8]>, label: Option<&[u8]>) -> Result<Vec<Arc<Object>>> {
        // Only what this login may see: no named user's key without a grant.
        let (user, named) = self.login_view();
        let by = |o: &Object| {
            o.token
                && key_id.is_none_or(|k| crate::kms::attrs::key_id_of(o) == k)
                && label.is_none_or(|l| o.label() == l)
                && (!(named || o.seal_id().is_some()) || self.sees_token_object(o, user, named))
        };
        if !self.lazy() {
            return Ok(self.all_objects()?.into_iter().filter(|o| by(o)).collect());
        }
        self.refresh()?;
        // (An empty key id is a key from before identities: no column.)
        let ids = match (key_id.filter(|k| !k.is_empty()), label) {
            (Some(k), _) => self.store.lookup(crate::store::index::Lookup::KeyId(k))?,
            (None, Some(l)) => self.store.lookup(crate::store::index::Lookup::Label(l))?,
            (None, None) => return Ok(self.all_objects()?.into_iter().filter(|o| by(o)).collect()),
        };
        Ok(self.load_ids(&ids)?.into_iter().filter(|o| by(o)).collect())
    }

    /// The token objects whose purge or rotation may be due at `now` (a
    /// superset: the caller applies the rules).
    pub(crate) fn due_candidates(&self, now: i64) -> Result<Vec<Arc<Object>>> {
        if !self.lazy() {
            return self.all_objects();
        }
        self.refresh()?;
        let ids = self.store.lookup(crate::store::index::Lookup::DueBy(now))?;
        self.load_ids(&ids)
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
    /// A token not held resident answers `u64::MAX` and just `ids`: the
    /// transaction then looks the rest up by the store's lookup columns.
    pub(crate) fn lifecycle_handles(&self, key_id: Option<&[u8]>, ids: &[Handle]) -> Result<(u64, Vec<Handle>)> {
        let o = self.objects.read().map_err(lock_err)?;
        if o.lazy {
            return Ok((u64::MAX, ids.to_vec()));
        }
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

    /// Whether a token key of the cache has no CKA_KEYWARD_KEY_ID (one
    /// counter, not a scan: every user login asks).
    pub(crate) fn has_keys_without_identity(&self) -> Result<bool> {
        self.refresh()?;
        if self.lazy() {
            return Ok(!self.store.lookup(crate::store::index::Lookup::KeysWithoutId)?.is_empty());
        }
        Ok(self.objects.read().map_err(lock_err)?.keys_without_identity > 0)
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
        // A named user's grants first: rows another process sealed again
        // under a new data key (a revoke) are then checked with its row key.
        if self.holds_principal_keys() {
            self.check_named_login_current()?;
        }
        // The cache stays write-locked from the store read to the apply:
        // otherwise a thread of this process could change or delete an
        // object between the two and the older snapshot would bring the
        // old version back.
        let mut o = self.objects.write().map_err(lock_err)?;
        // When something changed, the token row is read once: for the row
        // keys and for the login check below.
        let mut changes = if self.store.take_unreported_writes() {
            // This process wrote without telling the cache the revision
            // (PIN counters, meta), or the cache lost track of it.
            Some(self.store.changes_after(o.rev)?)
        } else {
            self.store.changes_since(o.rev)?
        };
        // Rows of a key this login holds that no longer check: sealed again
        // under a new data key by a revoke committed after the grants were
        // read above; or, for the default user without principal keys yet,
        // rows under a data key (a first grant of one of its keys may have
        // made its keys). The grants of that commit first, then the rows
        // again (read again: the store's fast path counts them as seen).
        let mut default_checked = false;
        for _ in 0..2 {
            let Some(ch) = changes.as_ref() else { break };
            if self.holds_principal_keys() {
                if !self.holds_rekeyed_rows(ch) {
                    break;
                }
                drop(o);
                self.reload_grants()?;
            } else {
                // (no principal keys: no grant, so any row under a data key)
                let sealed = |r: &crate::store::ObjectRow| {
                    matches!(super::integrity::row_class(&r.public, &r.sealed), super::integrity::RowClass::Key(_))
                };
                if default_checked || !self.is_user() || !ch.upserts.iter().any(sealed) {
                    break;
                }
                default_checked = true;
                drop(o);
                self.open_default_keys_if_changed()?;
            }
            o = self.objects.write().map_err(lock_err)?;
            changes = Some(self.store.changes_after(o.rev)?);
        }
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

    /// Whether `ch` brings a row of a key this login holds a grant on that
    /// fails its check with the row key the login holds (see `refresh`).
    fn holds_rekeyed_rows(&self, ch: &Changes) -> bool {
        ch.upserts.iter().any(|r| {
            matches!(super::integrity::row_class(&r.public, &r.sealed), super::integrity::RowClass::Key(id) if self.holds_grant(&id))
                && matches!(self.check_row(r), crate::object::Integrity::Failed(_))
        })
    }

    /// [`Token::refresh`] unless the last check is younger than
    /// `store.refresh_ms` (the per-operation key lookup: a check costs a
    /// SQLite read transaction with its file locks, several microseconds;
    /// on PostgreSQL a round trip, unless the notifications received say
    /// that nothing changed: [`crate::store::Store::unchanged_since`]).
    pub(crate) fn refresh_if_stale(&self) -> Result<()> {
        if self.refresh_every_ns > 0
            && self.now_ns().saturating_sub(self.refreshed_at_ns.load(Ordering::Relaxed)) < self.refresh_every_ns
        {
            return Ok(());
        }
        // A store that already knows nothing changed (PostgreSQL: no other
        // session's notification arrived) spares the round trip.
        let rev = self.objects.read().map_err(lock_err)?.rev;
        if self.store.unchanged_since(rev)? {
            self.refreshed_at_ns.store(self.now_ns(), Ordering::Relaxed);
            return Ok(());
        }
        self.refresh()
    }

    /// Private objects, and objects whose row failed its integrity check
    /// (their CKA_PRIVATE may be the edit), are seen by the user only.
    fn visible(&self, obj: &Object) -> bool {
        let (user, named) = self.login_view();
        if obj.token && (named || obj.seal_id().is_some()) {
            return self.sees_token_object(obj, user, named);
        }
        public_view(obj) || user
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
        let found = self.get_or_load(h)?;
        match found {
            Some(o) if self.visible(&o) && self.handle_current(&o) => Ok(o),
            _ => Err(err!(invalid, "no visible object with handle {h}")),
        }
    }

    /// The cached object `h`, whatever its visibility (lifecycle bookkeeping).
    pub(crate) fn cached_object(&self, h: Handle) -> Result<Arc<Object>> {
        let found = self.get_or_load(h)?;
        found.ok_or_else(|| err!(CKR_OBJECT_HANDLE_INVALID, "no object with handle {h}"))
    }

    pub fn find_init(&self, s: &mut Session, t: &[Attr]) -> Result<()> {
        if s.find.is_some() {
            return Err(Error::new(CKR_OPERATION_ACTIVE, "a find operation is active"));
        }
        self.refresh()?;
        let (user, named) = self.login_view();
        // Default view: primary versions not pending deletion (src/kms).
        let view = crate::kms::FindView::of(t);
        let epoch = self.login_epoch.load(Ordering::Relaxed);
        let admit = |obj: &Arc<Object>| {
            let seen = match obj.token && (named || obj.seal_id().is_some()) {
                true => self.sees_token_object(obj, user, named),
                false => user || public_view(obj),
            };
            let ok = seen && view.admits(obj);
            if ok {
                obj.issued_in.store(epoch, Ordering::Relaxed);
            }
            ok.then_some(obj.handle)
        };
        let mut found: Vec<Handle> = if self.lazy() {
            // Session objects from the cache, token objects from the store
            // (by the label column when the template names a label).
            let session: Vec<Arc<Object>> = {
                let o = self.objects.read().map_err(lock_err)?;
                o.candidates(t).filter(|x| x.owner.is_some()).cloned().collect()
            };
            let token = match t.iter().rev().find(|a| a.ty == CKA_LABEL) {
                Some(a) => self.load_ids(&self.store.lookup(crate::store::index::Lookup::Label(&a.value))?)?,
                None => self.scan_token_objects()?,
            };
            session.iter().chain(token.iter()).filter_map(admit).collect()
        } else {
            let o = self.objects.read().map_err(lock_err)?;
            o.candidates(t).filter_map(admit).collect()
        };
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
        if self.lazy() {
            return self.scan_token_objects();
        }
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

    fn token_object(h: Handle) -> Arc<Object> {
        let attrs = crate::object::AttrMap::from_pairs([
            (CKA_CLASS, &(CKO_DATA as CK_ULONG).to_ne_bytes()[..]),
            (CKA_TOKEN, &[1u8][..]),
        ]);
        Arc::new(Object::new(h, format!("u{h}"), None, attrs, Default::default()).unwrap())
    }

    #[test]
    fn a_lazy_cache_keeps_about_its_cap_and_never_drops_objects_in_use() {
        let mut o = Objects { lazy: true, lazy_cap: 8, ..Objects::default() };
        let held = token_object(1);
        o.insert_loaded(held.clone());
        for h in 2..100 {
            // As `get_or_load` does: the caller holds what it loads.
            let x = token_object(h);
            o.insert_loaded(x.clone());
            drop(x);
            assert!(o.map.len() <= 9, "{} cached after {h}", o.map.len());
        }
        assert!(o.map.contains_key(&1), "an object in use stays");
        assert!(o.map.contains_key(&99), "the newest stays");
    }
}
