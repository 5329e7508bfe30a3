//! Key identities for stores made before them (keyward 0.1 grouped
//! versions by CKA_LABEL + CKA_ID): run once at a login, in one
//! transaction.
//!
//! Owns: the grouping rule of old rows into keys. Must not touch: anything
//! but CKA_KEYWARD_KEY_ID.
#![allow(clippy::unnecessary_cast)] // CK_ULONG is not u64 on every platform

use super::rows::{Row, key_rows, write_update};
use crate::ck::*;
use crate::error::Result;
use crate::kms::KeyName;
use crate::kms::attrs::*;
use crate::store::Changes;
use crate::token::Token;
use std::collections::BTreeMap;

impl Token {
    /// Stores made before key identities (keyward 0.1 grouped versions by
    /// CKA_LABEL + CKA_ID), at the first login of a process (after the
    /// rows were bound to the master key, so the rewrite is MACed like any
    /// other): gives every key object without
    /// CKA_KEYWARD_KEY_ID one, in one transaction that re-reads the rows (a
    /// second process finds nothing left to do). Objects sharing a label
    /// and ID whose versions are all distinct were linked by rotation and
    /// keep one identity (a pair's halves included); where versions repeat,
    /// the objects were independent keys that happened to share a label:
    /// each secret or private key gets its own identity, and a public key
    /// joins the private key of its version with the same public material.
    pub(crate) fn kms_migrate_identities(&self) -> Result<()> {
        if !self.all_objects()?.iter().any(|o| o.is_key() && key_id_of(o).is_empty()) {
            return Ok(());
        }
        let (ch, w) = self.store().transaction_tracked(|tx| {
            let rows = key_rows(tx)?;
            let mut groups: BTreeMap<(Vec<u8>, Vec<u8>), Vec<&Row>> = BTreeMap::new();
            for r in rows.iter().filter(|r| !r.attrs.contains_key(&CKA_KEYWARD_KEY_ID)) {
                let name = KeyName::of_map(&r.attrs);
                groups.entry((name.label, name.id)).or_default().push(r);
            }
            let mut assigned: Vec<(&Row, Vec<u8>)> = Vec::new();
            for group in groups.values() {
                let mut seen = std::collections::BTreeSet::new();
                if group.iter().all(|r| seen.insert((r.version(), r.class()))) {
                    let id = new_key_id()?;
                    assigned.extend(group.iter().map(|r| (*r, id.clone())));
                    continue;
                }
                let mut owners: Vec<(&Row, Vec<u8>)> = Vec::new();
                for r in group.iter().filter(|r| r.class() != CKO_PUBLIC_KEY) {
                    owners.push((*r, new_key_id()?));
                }
                let public_material = |r: &Row| {
                    [CKA_MODULUS, CKA_PUBLIC_KEY_INFO]
                        .iter()
                        .find_map(|t| r.attrs.get(t).filter(|v| !v.is_empty()).cloned())
                };
                for p in group.iter().filter(|r| r.class() == CKO_PUBLIC_KEY) {
                    let mine = public_material(p);
                    let owner = owners.iter().find(|(q, _)| {
                        q.class() == CKO_PRIVATE_KEY
                            && q.version() == p.version()
                            && mine.is_some()
                            && public_material(q) == mine
                    });
                    let id = match owner {
                        Some((_, id)) => id.clone(),
                        None => new_key_id()?,
                    };
                    assigned.push((*p, id));
                }
                assigned.extend(owners);
            }
            let mut ch = Changes::default();
            for (r, id) in assigned {
                let mut r = r.clone();
                r.set(CKA_KEYWARD_KEY_ID, id);
                write_update(self, tx, &r, &mut ch)?;
            }
            Ok(ch)
        })?;
        if !ch.upserts.is_empty() {
            log::info!(
                "token {}: gave {} key objects of an older store their key identities",
                self.slot,
                ch.upserts.len()
            );
        }
        self.kms_apply(ch, w)
    }
}
