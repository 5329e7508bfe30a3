//! Object rows decoded inside one store transaction ([`Row`]), how a
//! lifecycle transaction writes them back (re-MACed, only when they
//! verified) or deletes them with the copies that follow them, and how its
//! changes reach the object cache; which versions a call acts on
//! ([`Versions`]); the user check every lifecycle call makes.
//!
//! Owns: reading and writing key rows inside `Store::transaction`. Must not
//! touch: sealing (it asks the token for MACs), the decisions themselves
//! (rotation, deletion, updates call these helpers).
#![allow(clippy::unnecessary_cast)] // CK_ULONG is not u64 on every platform

use crate::ck::*;
use crate::err;
use crate::error::{Error, Result};
use crate::kms::KeyName;
use crate::kms::attrs::*;
use crate::store::index::Lookup;
use crate::store::{Changes, ObjectRow, Tx, Written, codec};
use crate::token::Token;
use crate::types::Handle;
use std::collections::BTreeMap;

fn is_key_class(c: CK_OBJECT_CLASS) -> bool {
    matches!(c, CKO_SECRET_KEY | CKO_PRIVATE_KEY | CKO_PUBLIC_KEY)
}

/// An object row decoded inside a transaction.
#[derive(Clone)]
pub(super) struct Row {
    pub(super) id: i64,
    pub(super) uid: String,
    pub(super) attrs: BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>,
    pub(super) sealed: Vec<u8>,
    /// The row as stored (public blob and MAC), for its integrity check:
    /// only a verified row is written back (re-MACed) or copied into a new
    /// version.
    stored: ObjectRow,
}

impl Row {
    pub(super) fn require_intact(&self, t: &Token) -> Result<()> {
        match crate::token::integrity::integrity_error(self.id as Handle, &self.uid, &t.check_row(&self.stored)) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
    pub(super) fn ulong(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<CK_ULONG> {
        map_ulong(&self.attrs, ty)
    }
    pub(super) fn class(&self) -> CK_OBJECT_CLASS {
        self.ulong(CKA_CLASS).unwrap_or(CK_UNAVAILABLE_INFORMATION)
    }
    pub(super) fn version(&self) -> CK_ULONG {
        self.ulong(CKA_KEYWARD_VERSION).unwrap_or(1)
    }
    pub(super) fn primary(&self) -> bool {
        self.attrs.get(&CKA_KEYWARD_PRIMARY).is_none_or(|v| v.first() == Some(&1))
    }
    pub(super) fn state(&self) -> CK_ULONG {
        self.ulong(CKA_KEYWARD_STATE).unwrap_or(KEYWARD_STATE_ENABLED)
    }
    pub(super) fn live_primary(&self) -> bool {
        self.primary() && self.state() != KEYWARD_STATE_PENDING_DELETION
    }
    pub(super) fn modifiable(&self) -> bool {
        self.attrs.get(&CKA_MODIFIABLE).is_none_or(|v| v.first() != Some(&0))
    }
    /// The source version's handle of a copy.
    pub(super) fn copy_of(&self) -> Option<i64> {
        self.ulong(CKA_KEYWARD_COPY_OF).filter(|h| *h != 0).map(|h| h as i64)
    }
    /// Whether the row is one of the versions of `name` (copies are not).
    pub(super) fn of_key(&self, name: &KeyName) -> bool {
        self.copy_of().is_none() && KeyName::of_map(&self.attrs) == *name
    }
    pub(super) fn set(&mut self, ty: CK_ATTRIBUTE_TYPE, v: Vec<u8>) {
        self.attrs.insert(ty, v);
    }
    /// How audit records name this row.
    pub(super) fn key_ref(&self) -> crate::audit::record::KeyRef {
        let label = self.attrs.get(&CKA_LABEL).filter(|l| !l.is_empty());
        crate::audit::record::KeyRef {
            uid: Some(self.uid.clone()),
            label: label.map(|l| String::from_utf8_lossy(l).into_owned()),
            version: Some(self.version()),
            class: Some(crate::audit::record::class_name(self.class()).to_string()),
            handle: Some(self.id as CK_ULONG),
        }
    }
    /// The key's CKA_LABEL, lossily as UTF-8.
    pub(super) fn key_label(&self) -> String {
        String::from_utf8_lossy(self.attrs.get(&CKA_LABEL).map(Vec::as_slice).unwrap_or(&[])).into_owned()
    }
    /// `label vN`, for messages.
    pub(super) fn label(&self) -> String {
        format!("{} v{}", self.key_label(), self.version())
    }
}

fn key_row(r: ObjectRow) -> Result<Option<Row>> {
    let attrs: BTreeMap<_, _> =
        codec::decode_attrs(&r.public)?.into_iter().map(|(t, v)| (t as CK_ATTRIBUTE_TYPE, v)).collect();
    let row = Row { id: r.id, uid: r.uid.clone(), attrs, sealed: r.sealed.clone(), stored: r };
    Ok(is_key_class(row.class()).then_some(row))
}

/// The key rows of the token as this transaction sees them.
pub(super) fn key_rows(tx: &Tx<'_>) -> Result<Vec<Row>> {
    let mut out = Vec::new();
    for r in tx.objects()? {
        out.extend(key_row(r)?);
    }
    Ok(out)
}

/// What a lifecycle transaction reads, picked from the object cache before
/// it starts: a managed key's token objects and the copies that follow
/// them (see `Token::lifecycle_handles`).
pub(super) struct Scope {
    rev: u64,
    ids: Vec<Handle>,
    /// The managed key, looked up inside the transaction when the token is
    /// not held resident (`rev` is then `u64::MAX`).
    key_id: Option<Vec<u8>>,
}

impl Scope {
    /// The token objects of the key `name` (if any), `ids`, and their copies.
    pub(super) fn of(t: &Token, name: Option<&KeyName>, ids: &[Handle]) -> Result<Scope> {
        let key_id = name.map(|n| n.key_id.clone());
        let (rev, ids) = t.lifecycle_handles(key_id.as_deref(), ids)?;
        Ok(Scope { rev, ids, key_id })
    }

    /// What a destroy of the key `h` deletes, from the object cache: `h`
    /// and the token copies of it in the scope (as [`delete_copies`] picks
    /// them from [`Self::rows`]), with the revision the cache holds them
    /// at. Only for a transaction whose base is that revision
    /// (`Store::transaction_at`): the cache then holds the rows the store
    /// has. `None` when the token is not held resident or the cache lost
    /// one of them meanwhile.
    pub(super) fn cached_deletes(&self, t: &Token, h: Handle) -> Option<(u64, Vec<i64>)> {
        if self.rev == u64::MAX || !self.ids.contains(&h) {
            return None;
        }
        let mut ids = vec![h as i64];
        for id in self.ids.iter().filter(|id| **id != h) {
            let o = t.cached_object(*id).ok()?;
            if is_key_class(o.class) && crate::object::vendor::copy_source(&o) == Some(h) {
                ids.push(*id as i64);
            }
        }
        Some((self.rev, ids))
    }

    /// The key rows of the scope as this transaction sees them, by id, when
    /// the store is still at the revision the cache held every row at;
    /// else (another process or thread committed since) every key row of
    /// the token, and the cache re-reads at its next refresh. Callers filter
    /// either answer the same way: the scope holds every row they keep.
    pub(super) fn rows(&self, t: &Token, tx: &Tx<'_>) -> Result<Vec<Row>> {
        if self.rev == u64::MAX {
            let mut ids: Vec<i64> = self.ids.iter().map(|h| *h as i64).collect();
            if let Some(k) = &self.key_id {
                ids.extend(tx.lookup(Lookup::KeyId(k))?);
            }
            return rows_with_copies(tx, ids);
        }
        // The rows by id first, the revision check after: on PostgreSQL the
        // first read goes out with the transaction's BEGIN and write lock,
        // in one round trip, and the lock's revision is known from then on.
        let mut read = Vec::with_capacity(self.ids.len());
        for id in &self.ids {
            read.extend(tx.object(*id as i64)?);
        }
        if tx.base_revision()? != self.rev {
            t.store().request_reread();
            return key_rows(tx);
        }
        let mut out = Vec::with_capacity(read.len());
        for r in read {
            out.extend(key_row(r)?);
        }
        Ok(out)
    }
}

/// The key rows `ids` and every token copy that follows one of them
/// (copies of copies too), by the store's lookup columns, as this
/// transaction sees them.
pub(super) fn rows_with_copies(tx: &Tx<'_>, mut ids: Vec<i64>) -> Result<Vec<Row>> {
    ids.sort_unstable();
    ids.dedup();
    let mut i = 0;
    while i < ids.len() {
        for c in tx.lookup(Lookup::CopyOf(ids[i]))? {
            if !ids.contains(&c) {
                ids.push(c);
            }
        }
        i += 1;
    }
    ids.sort_unstable();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(r) = tx.object(id)? {
            out.extend(key_row(r)?);
        }
    }
    Ok(out)
}

/// The key rows whose purge may be due at `now` and their copies: every
/// key row when the token is held resident, else by the lookup columns.
pub(super) fn due_rows(t: &Token, tx: &Tx<'_>, now: i64) -> Result<Vec<Row>> {
    if !t.lazy() {
        return key_rows(tx);
    }
    rows_with_copies(tx, tx.lookup(Lookup::DueBy(now))?)
}

pub(super) fn encode_public(attrs: &BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>) -> Vec<u8> {
    codec::encode_attrs(attrs.iter().map(|(t, v)| (*t as u64, v.as_slice())))
}

/// Writes `r` back with a fresh MAC; a row that did not verify is refused
/// (re-MACing it would launder an edit).
pub(super) fn write_update(t: &Token, tx: &Tx<'_>, r: &Row, ch: &mut Changes) -> Result<()> {
    r.require_intact(t)?;
    let public = encode_public(&r.attrs);
    let mac = t.row_mac(r.id, &r.uid, &public, &r.sealed)?;
    tx.update_object(r.id, &public, &r.sealed, &mac)?;
    ch.upserts.push(ObjectRow { id: r.id, uid: r.uid.clone(), public, sealed: r.sealed.clone(), mac: Some(mac) });
    Ok(())
}

pub(super) fn write_delete(tx: &Tx<'_>, r: &Row, ch: &mut Changes) -> Result<()> {
    tx.delete_object(r.id)?;
    ch.deletes.push(r.id);
    Ok(())
}

/// Deletes the token copies of the rows `ch` deleted (a copy dies with its
/// source version); `rows` is what the transaction read.
pub(super) fn delete_copies(tx: &Tx<'_>, rows: &[Row], ch: &mut Changes) -> Result<()> {
    let gone: Vec<i64> = ch.deletes.clone();
    for r in rows.iter().filter(|r| r.copy_of().is_some_and(|src| gone.contains(&src))) {
        if !ch.deletes.contains(&r.id) {
            write_delete(tx, r, ch)?;
        }
    }
    Ok(())
}

impl Token {
    pub(super) fn require_user(&self) -> Result<()> {
        if self.role()? != Some(crate::store::Role::User) {
            return Err(Error::new(CKR_USER_NOT_LOGGED_IN, "key lifecycle calls need the user logged in"));
        }
        Ok(())
    }

    /// A lifecycle act on `name`: the user logged in, and administering
    /// the key (`Token::administers`: ADMIN on a named user's key; the
    /// default user on keys sealed under the master key).
    pub(in crate::token) fn require_admin(&self, name: &KeyName) -> Result<()> {
        self.require_user()?;
        match self.kms_objects(name)?.first() {
            Some(o) => self.require_admin_of(o),
            None => Ok(()),
        }
    }

    /// Applies what a lifecycle transaction wrote to the object cache;
    /// deleted objects drop their cached plaintext first.
    pub(in crate::token) fn kms_apply(&self, ch: Changes, w: Written) -> Result<()> {
        for id in &ch.deletes {
            if let Ok(o) = self.cached_object(*id as Handle) {
                o.forget_material();
            }
        }
        self.apply_own(ch, w)
    }

    /// Runs `f` on every row of `name` inside one transaction; `f` returns
    /// whether it changed the row (then written) or `Err` to abort.
    pub(super) fn kms_update(&self, name: &KeyName, mut f: impl FnMut(&mut Row) -> Result<bool>) -> Result<usize> {
        self.require_admin(name)?;
        self.refresh()?;
        let scope = Scope::of(self, Some(name), &[])?;
        let (ch, w) = self.store().transaction_tracked(|tx| {
            let mut ch = Changes::default();
            let mut found = false;
            for mut r in scope.rows(self, tx)?.into_iter().filter(|r| r.of_key(name)) {
                found = true;
                if f(&mut r)? {
                    write_update(self, tx, &r, &mut ch)?;
                }
            }
            if !found {
                return Err(err!(CKR_ARGUMENTS_BAD, "no key named {:?}", name.display()));
            }
            Ok(ch)
        })?;
        let n = ch.upserts.len();
        self.kms_apply(ch, w)?;
        Ok(n)
    }
}
