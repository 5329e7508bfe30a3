//! Integrity of token objects at rest (DESIGN.md §5): which row key MACs a
//! row, the check when rows are loaded, the refusal of objects whose row is
//! unchecked or failed, and the binding of schema-1 rows at the first login
//! after the upgrade. The MAC format and the key derivation live in
//! `store::seal`; this module decides which key a row needs and what a
//! result means. It must not write rows itself except to bind them.
//!
//! Rules:
//! - Every write of a token-object row (create, copy, C_SetAttributeValue,
//!   soft delete, every KMS lifecycle act, rotation) MACs the exact bytes it
//!   writes, with the row id and uid, in the same transaction
//!   ([`Token::row_mac`]). Without the row key the write is refused with
//!   `CKR_USER_NOT_LOGGED_IN`: there is no unauthenticated row.
//! - Rows that hold sealed secrets, are secret or private keys, or are
//!   CKA_PRIVATE use the *secret* row key, derived from the master key; the
//!   others (public keys, certificates, public data) use the *public* row
//!   key, derived from the master key too and, with an external KEK
//!   configured, also kept in the store wrapped under that KEK, so public
//!   objects are checked when loaded, before anyone logs in.
//! - The row keys are learnt at the first login of the process and kept for
//!   its life (like the PIN-derived keys in `Token::kek`), so rows another
//!   process changes while nobody is logged in here are still checked.
//! - A row whose key is not known yet is `Unverified`: it can be listed and
//!   its public attributes read, but not used for crypto, copied or changed
//!   (`CKR_USER_NOT_LOGGED_IN`). A row that fails is `Failed`: every use is
//!   `CKR_DEVICE_ERROR` and the failure is logged with the object's handle
//!   and uid; C_DestroyObject deletes it for good (never re-MACs it).
//! - Migration: rows written before schema 2 carry no MAC and cannot be
//!   bound before the master key is known. The first login (SO or user)
//!   binds every unbound row and sets `store::META_ROWS_BOUND` in one
//!   transaction; from then on (the marker present, or any row with a MAC)
//!   a row without a MAC fails. A row edited before that first login is
//!   bound as it was found.

use super::Token;
use crate::ck::*;
use crate::error::{Error, Result};
use crate::object::{Integrity, Object};
use crate::store::seal::{MasterKey, RowKey, RowKeys};
use crate::store::{META_ROWS_BOUND, ObjectRow, codec};
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// The row keys this process knows and whether the store is bound.
#[derive(Default)]
pub(crate) struct RowIntegrity {
    secret: RwLock<Option<RowKey>>,
    public: RwLock<Option<RowKey>>,
    /// The fingerprint of the master key the row keys come from.
    master: RwLock<Option<[u8; 32]>>,
    /// The token serial they belong to (another process's C_InitToken
    /// makes a new serial and master key: the old keys then mean nothing).
    serial: RwLock<Option<String>>,
    /// Every row of the store carries a MAC (a row without one fails).
    bound: AtomicBool,
    /// The row keys of data-key-sealed rows (`RowClass::Key`), by seal id:
    /// those of the keys the login holds a grant on (token::grants).
    per_key: RwLock<std::collections::HashMap<Vec<u8>, RowKey>>,
}

impl RowIntegrity {
    pub(crate) fn set_bound(&self, bound: bool) {
        self.bound.store(bound, Ordering::Relaxed);
    }

    fn bound(&self) -> bool {
        self.bound.load(Ordering::Relaxed)
    }

    /// Whether row keys are known for a token other than serial `current`.
    pub(crate) fn keys_for_other_token(&self, current: Option<&str>) -> bool {
        self.serial.read().is_ok_and(|s| s.as_deref().is_some_and(|s| Some(s) != current))
    }

    pub(crate) fn set_keys(&self, keys: Option<&RowKeys>, master: Option<[u8; 32]>) {
        if let Ok(mut m) = self.master.write() {
            *m = master;
        }
        if keys.is_none()
            && let Ok(mut s) = self.serial.write()
        {
            *s = None;
        }
        if let Ok(mut s) = self.secret.write() {
            *s = keys.map(|k| k.secret.clone());
        }
        if let Ok(mut p) = self.public.write() {
            *p = keys.map(|k| k.public.clone());
        }
    }

    /// The public row key alone (from under the external KEK, at open).
    pub(crate) fn set_public_key(&self, key: RowKey) {
        if let Ok(mut p) = self.public.write() {
            *p = Some(key);
        }
    }

    fn key(&self, class: &RowClass) -> Option<RowKey> {
        let slot = match class {
            RowClass::Secret => &self.secret,
            RowClass::Public => &self.public,
            RowClass::Key(id) => return self.per_key.read().ok().and_then(|m| m.get(id).cloned()),
        };
        slot.read().ok().and_then(|k| k.clone())
    }

    /// Learns (or replaces) the row key of the rows sealed under data key `id`.
    pub(crate) fn set_key_row_key(&self, id: &[u8], key: RowKey) {
        if let Ok(mut m) = self.per_key.write() {
            m.insert(id.to_vec(), key);
        }
    }

    /// Forgets the row keys of these data keys (`None`: every one).
    pub(crate) fn forget_key_row_keys(&self, ids: Option<&[Vec<u8>]>) {
        if let Ok(mut m) = self.per_key.write() {
            match ids {
                Some(ids) => ids.iter().for_each(|id| {
                    m.remove(id);
                }),
                None => m.clear(),
            }
        }
    }
}

/// Which row key a row needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RowClass {
    Secret,
    Public,
    /// A row sealed under data key `.0` (it carries CKA_KEYWARD_SEAL): the
    /// data key's own row key, which only its grantees hold.
    Key(Vec<u8>),
}

/// Classifies a row from its stored bytes. Anything that does not clearly
/// decode as a public object without secrets needs the secret key.
pub(crate) fn row_class(public: &[u8], sealed: &[u8]) -> RowClass {
    let Ok(attrs) = codec::decode_attrs_ref(public) else { return RowClass::Secret };
    let get = |ty: CK_ATTRIBUTE_TYPE| attrs.iter().rev().find(|(t, _)| *t == ty).map(|(_, v)| *v);
    if let Some(id) = get(CKA_KEYWARD_SEAL) {
        return RowClass::Key(id.to_vec());
    }
    let no_secrets = codec::decode_attrs_ref(sealed).is_ok_and(|s| s.is_empty());
    let class = get(CKA_CLASS).and_then(crate::object::ulong);
    let private = get(CKA_PRIVATE).is_some_and(|v| v.first() != Some(&0));
    let secret_class = matches!(class, Some(CKO_SECRET_KEY | CKO_PRIVATE_KEY) | None);
    if no_secrets && !private && !secret_class { RowClass::Public } else { RowClass::Secret }
}

/// The refusal for an object (or row) `handle`/`uid` in state `i`; `None`
/// when it is verified.
pub(crate) fn integrity_error(handle: crate::types::Handle, uid: &str, i: &Integrity) -> Option<Error> {
    match i {
        Integrity::Verified => None,
        Integrity::Unverified => Some(crate::err!(
            CKR_USER_NOT_LOGGED_IN,
            "token object {handle} has not been checked yet: log in once (or configure [store] kek_file) \
             so the token can verify it"
        )),
        Integrity::Failed(why) => {
            Some(crate::err!(CKR_DEVICE_ERROR, "token object {handle} (uid {uid}) failed its integrity check: {why}"))
        }
    }
}

impl Token {
    /// The MAC of row `id` with these blobs, under the key its class needs.
    pub(crate) fn row_mac(&self, id: i64, uid: &str, public: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
        let class = row_class(public, sealed);
        let key = self.integrity.key(&class).ok_or_else(|| {
            Error::new(
                CKR_USER_NOT_LOGGED_IN,
                match class {
                    RowClass::Secret => "writing this token object needs a login (its integrity key)",
                    RowClass::Key(_) => "writing this token object needs a grant on its key (its data key)",
                    RowClass::Public => {
                        "writing token objects needs a login in this process first (or [store] kek_file): \
                         the token's integrity key is not known yet"
                    }
                },
            )
        })?;
        Ok(key.mac(id, uid, public, sealed))
    }

    /// Checks a stored row against its MAC with what this process knows.
    pub(crate) fn check_row(&self, row: &ObjectRow) -> Integrity {
        let key = self.integrity.key(&row_class(&row.public, &row.sealed));
        match (&row.mac, key) {
            (None, _) if self.integrity.bound() => {
                Integrity::Failed("the row has no integrity MAC but the store is bound".into())
            }
            (None, _) | (Some(_), None) => Integrity::Unverified,
            (Some(mac), Some(k)) => {
                if k.verify(row.id, &row.uid, &row.public, &row.sealed, mac) {
                    Integrity::Verified
                } else {
                    Integrity::Failed("MAC mismatch: the row was edited, swapped or forged".into())
                }
            }
        }
    }

    /// Refuses an object whose row is not verified (see the module doc).
    pub(crate) fn require_intact(&self, obj: &Object) -> Result<()> {
        match integrity_error(obj.handle, &obj.uid, obj.integrity()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// After a successful login: learns the row keys, binds the rows of a
    /// store from schema 1 (once), and re-checks the cached objects that
    /// could not be checked before.
    pub(crate) fn unlock_rows(&self, master: &MasterKey) -> Result<()> {
        let fp = master.fingerprint();
        if self.integrity.bound() && self.integrity.master.read().is_ok_and(|m| *m == Some(fp)) {
            // A later login of the process: every row loaded since the
            // first one was checked as it arrived.
            return Ok(());
        }
        let keys = master.row_keys()?;
        let replaced = self.integrity.master.read().is_ok_and(|m| m.is_some_and(|m| m != fp));
        self.integrity.set_keys(Some(&keys), Some(fp));
        if let Ok(mut s) = self.integrity.serial.write() {
            *s = self.store.token()?.map(|r| r.serial);
        }
        let mut bound_now = 0usize;
        if !self.integrity.bound() {
            bound_now = self.store.transaction(|tx| {
                let marker = tx.meta_get(META_ROWS_BOUND)?.is_some();
                let rows = tx.objects()?;
                let mut n = 0;
                if !marker && !rows.iter().any(|r| r.mac.is_some()) {
                    for r in rows.iter().filter(|r| r.mac.is_none()) {
                        let k = match row_class(&r.public, &r.sealed) {
                            RowClass::Secret | RowClass::Key(_) => &keys.secret,
                            RowClass::Public => &keys.public,
                        };
                        tx.set_mac(r.id, &k.mac(r.id, &r.uid, &r.public, &r.sealed))?;
                        n += 1;
                    }
                }
                if !marker {
                    tx.meta_set(META_ROWS_BOUND, b"2")?;
                }
                Ok(n)
            })?;
            self.integrity.set_bound(true);
            if bound_now > 0 {
                log::info!("token {}: bound {bound_now} object rows of an older store to their MACs", self.slot);
            }
        }
        let unchecked = {
            let o = self.objects.read().map_err(super::lock_err)?;
            o.map.values().any(|obj| obj.token && *obj.integrity() == Integrity::Unverified)
        };
        // (Keys of another master key: everything checked with them is
        // checked again.)
        if unchecked || bound_now > 0 || replaced {
            self.reload_token_objects()?;
        }
        Ok(())
    }

    /// Rebuilds every token object of the cache from the store.
    pub(super) fn reload_token_objects(&self) -> Result<()> {
        let mut o = self.objects.write().map_err(super::lock_err)?;
        if o.lazy {
            // Not held resident: the cached token objects are read again
            // (and checked with the keys now known) when next used.
            o.retain(|obj| !obj.token);
            return Ok(());
        }
        let all = self.store.load_all()?;
        let ids: std::collections::HashSet<i64> = all.upserts.iter().map(|r| r.id).collect();
        o.retain(|obj| !obj.token || ids.contains(&(obj.handle as i64)));
        self.apply_changes_locked(&mut o, all);
        Ok(())
    }

    /// A new master key (C_InitToken): the old row keys mean nothing now,
    /// and the empty store is bound.
    pub(crate) fn reset_rows(&self) -> Result<()> {
        self.integrity.set_keys(None, None);
        self.store.meta_set(META_ROWS_BOUND, b"2")?;
        self.integrity.set_bound(true);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::ulong_bytes;

    fn blob(attrs: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)]) -> Vec<u8> {
        codec::encode_attrs(attrs.iter().map(|(t, v)| (*t, v.as_slice())))
    }

    #[test]
    fn rows_are_classified_fail_safe() {
        let none = blob(&[]);
        let one_secret = codec::encode_attrs([(CKA_VALUE, &b"sealed"[..])]);
        let class = |c| (CKA_CLASS, ulong_bytes(c));
        let public_key = blob(&[class(CKO_PUBLIC_KEY), (CKA_PRIVATE, vec![0])]);
        assert_eq!(row_class(&public_key, &none), RowClass::Public);
        assert_eq!(row_class(&blob(&[class(CKO_CERTIFICATE)]), &none), RowClass::Public);
        assert_eq!(row_class(&blob(&[class(CKO_DATA)]), &none), RowClass::Public);
        // Secrets, secret classes, private objects, garbage: the secret key.
        assert_eq!(row_class(&public_key, &one_secret), RowClass::Secret);
        assert_eq!(row_class(&blob(&[class(CKO_SECRET_KEY)]), &none), RowClass::Secret);
        assert_eq!(row_class(&blob(&[class(CKO_PRIVATE_KEY)]), &none), RowClass::Secret);
        assert_eq!(row_class(&blob(&[class(CKO_DATA), (CKA_PRIVATE, vec![1])]), &none), RowClass::Secret);
        assert_eq!(row_class(&blob(&[]), &none), RowClass::Secret, "no class");
        assert_eq!(row_class(b"garbage", &none), RowClass::Secret);
        assert_eq!(row_class(&public_key, b"garbage"), RowClass::Secret);
        // A duplicated CKA_CLASS is read like the object loader reads it (the last).
        let dup = blob(&[class(CKO_PUBLIC_KEY), class(CKO_SECRET_KEY)]);
        assert_eq!(row_class(&dup, &none), RowClass::Secret);
    }
}
