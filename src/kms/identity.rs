//! The identity of a managed key ([`KeyName`], its CKA_KEYWARD_KEY_ID), the
//! lifecycle view of C_FindObjects ([`FindView`]: primary versions not
//! pending deletion, unless a template names a keyward attribute), and
//! finding a key's objects in the token's cache.
//!
//! Owns: what "the same key" means. Must not touch: rows in a transaction
//! (`rows.rs`), any lifecycle change.
#![allow(clippy::unnecessary_cast)] // CK_ULONG is not u64 on every platform

use super::attrs::*;
use crate::ck::*;
use crate::object::Object;
use crate::types::Attr;
use std::collections::BTreeMap;

/// The identity of a managed key: its CKA_KEYWARD_KEY_ID. The label and
/// CKA_ID ride along for messages and reports; they take no part in
/// comparisons.
#[derive(Clone, Debug)]
pub struct KeyName {
    pub key_id: Vec<u8>,
    pub label: Vec<u8>,
    pub id: Vec<u8>,
}

impl PartialEq for KeyName {
    fn eq(&self, o: &Self) -> bool {
        self.key_id == o.key_id
    }
}

impl Eq for KeyName {}

impl PartialOrd for KeyName {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for KeyName {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.key_id.cmp(&o.key_id)
    }
}

impl KeyName {
    pub fn of(o: &Object) -> KeyName {
        KeyName { key_id: key_id_of(o).to_vec(), label: o.label().to_vec(), id: o.get(CKA_ID).unwrap_or(&[]).to_vec() }
    }
    pub(crate) fn of_map(m: &BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>) -> KeyName {
        KeyName {
            key_id: m.get(&CKA_KEYWARD_KEY_ID).cloned().unwrap_or_default(),
            label: m.get(&CKA_LABEL).cloned().unwrap_or_default(),
            id: m.get(&CKA_ID).cloned().unwrap_or_default(),
        }
    }
    pub fn display(&self) -> String {
        String::from_utf8_lossy(&self.label).into_owned()
    }
    pub fn key_id(&self) -> String {
        String::from_utf8_lossy(&self.key_id).into_owned()
    }
}

/// Whether `o` is one of the versions of `name` (not a copy of one).
pub(crate) fn version_of_key(o: &Object, name: &KeyName) -> bool {
    o.is_key() && copy_source(o).is_none() && key_id_of(o) == name.key_id.as_slice()
}

/// A C_FindObjects template split into what the generic matcher compares
/// and what the lifecycle view decides.
pub struct FindView {
    pub(crate) widened: bool,
    pub(crate) exact: Vec<Attr>,
    pub(crate) tags: Option<Vec<u8>>,
}

impl FindView {
    pub fn of(t: &[Attr]) -> FindView {
        let widened =
            t.iter().any(|a| widens_view(a.ty) && !(a.ty == CKA_KEYWARD_ALL_VERSIONS && a.value.first() != Some(&1)));
        let exact =
            t.iter().filter(|a| a.ty != CKA_KEYWARD_TAGS && a.ty != CKA_KEYWARD_ALL_VERSIONS).cloned().collect();
        let tags = t.iter().rev().find(|a| a.ty == CKA_KEYWARD_TAGS).map(|a| a.value.clone());
        FindView { widened, exact, tags }
    }

    /// Whether `obj` is in the view and matches the template.
    pub fn admits(&self, obj: &Object) -> bool {
        if !self.widened && obj.is_key() && (!is_primary(obj) || state_of(obj) == KEYWARD_STATE_PENDING_DELETION) {
            return false;
        }
        if let Some(t) = &self.tags
            && !tags_match(obj.get(CKA_KEYWARD_TAGS), t)
        {
            return false;
        }
        obj.matches(&self.exact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::test_support::key;
    use crate::object::ulong_bytes;

    #[test]
    fn find_view() {
        let old = key(&[(CKA_KEYWARD_PRIMARY, vec![0]), (CKA_KEYWARD_TAGS, b"env=prod".to_vec())]);
        let cur = key(&[(CKA_KEYWARD_PRIMARY, vec![1]), (CKA_KEYWARD_TAGS, b"env=prod,team=a".to_vec())]);
        let gone = key(&[(CKA_KEYWARD_STATE, ulong_bytes(KEYWARD_STATE_PENDING_DELETION))]);
        let v = FindView::of(&[]);
        assert!(!v.admits(&old) && v.admits(&cur) && !v.admits(&gone));
        let v = FindView::of(&[Attr::bool(CKA_KEYWARD_ALL_VERSIONS, true)]);
        assert!(v.admits(&old) && v.admits(&cur) && v.admits(&gone));
        let v = FindView::of(&[Attr::new(CKA_KEYWARD_TAGS, b"team=a".to_vec())]);
        assert!(!v.admits(&old) && v.admits(&cur));
        let v = FindView::of(&[Attr::ulong(CKA_KEYWARD_STATE, KEYWARD_STATE_PENDING_DELETION)]);
        assert!(v.admits(&gone) && !v.admits(&cur));
    }
}
