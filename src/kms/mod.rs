//! Key lifecycle (DESIGN.md §4): versions, rotation, enable/disable, soft
//! delete and purge, expiry, tags, automatic maintenance, inventory.
//!
//! A managed key is every token key object sharing a token-assigned
//! identity, `CKA_KEYWARD_KEY_ID` (its [`KeyName`]): set when the key is
//! made, shared only by the versions rotation makes and by the two halves of
//! a pair. `CKA_LABEL`/`CKA_ID` are user data: keys sharing them stay
//! independent. Each object carries the vendor attributes of `attrs.rs`. A
//! version of a key pair is a private and a public object with the same
//! version number. Copies (C_CopyObject of a token key) keep the identity
//! and name their source version (`CKA_KEYWARD_COPY_OF`): they are not
//! versions, obey their source's state, and die with its purge.
//!
//! Owns: the lifecycle attributes' meaning, the decisions that must not race
//! between processes (rotation, purge: each decided inside one
//! `Store::transaction`, which is `BEGIN IMMEDIATE`, re-reading the rows it
//! acts on), and the lifecycle checks of every key use ([`check_use`]).
//! Must not touch: sessions' operations, sealing (it asks the token), the
//! audit log's format (it calls `Token::audit_lifecycle`).
//!
//! Automatic maintenance (due rotations, due purges) runs inline on the
//! caller's thread — never on a thread of its own, so it also honours
//! `CKF_LIBRARY_CANT_CREATE_OS_THREADS` — right after a user login and at
//! most once a minute on later object lookups while a user is logged in;
//! `keyward maintain` runs it from cron or a systemd timer.
//!
//! This module holds the lifecycle's data and rules, below the token: the
//! key identity and find view (`identity`), the use checks (`use_check`),
//! the one rule for non-modifiable keys (`rules`), what acts name and
//! return (`acts`), the inventory's shapes (`inventory`), the maintenance
//! state (`maintain`) and `[kms]` (`config`); the vendor attributes
//! (`object::vendor`) and the lifecycle clock (`crate::time`) under their
//! old names. The acts themselves — rotation, deletion, restore, purge,
//! lifecycle updates, maintenance runs, migration, import, the envelope —
//! run on the token's store, cache and audit log, so they live in
//! `token::lifecycle` (they read and write through the token, which is
//! above this module). The safe API over them (`Library::kms_*`) lives in
//! src/library/kms.rs; the CLI's presentation in src/bin/keyward/.
#![allow(clippy::unnecessary_cast)] // CK_ULONG is not u64 on every platform

mod acts;
pub(crate) mod config;
pub(crate) mod identity;
pub(crate) mod inventory;
pub(crate) mod maintain;
mod pem;
pub mod rules;
pub(crate) mod use_check;

/// The vendor attributes (`object::vendor`) and the lifecycle clock
/// (shared: `crate::time`), under their old names.
pub use crate::object::vendor as attrs;
pub use crate::time as clock;
pub use acts::{Rotated, Versions};
pub use config::KmsConfig;
pub use identity::{FindView, KeyName};
pub use inventory::{KeyInfo, VersionInfo, algorithm_of};
pub use maintain::{MaintainedVersion, Report, TokenKms};
pub use pem::pem_or_der;
pub use use_check::{check_dates, check_use};

use crate::ck::CK_ULONG;

/// Reads a CK_ULONG attribute value (re-exported for the CLI).
pub fn ulong_of(v: &[u8]) -> Option<CK_ULONG> {
    crate::object::ulong(v)
}

/// What the unit tests of the lifecycle files share.
#[cfg(test)]
pub(crate) mod test_support {
    use crate::ck::*;
    use crate::object::{Object, ulong_bytes};
    use std::collections::BTreeMap;

    /// A session AES key with ENCRYPT/DECRYPT and the extra attributes.
    pub(crate) fn key(attrs: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)]) -> Object {
        let mut m = BTreeMap::new();
        m.insert(CKA_CLASS, ulong_bytes(CKO_SECRET_KEY));
        m.insert(CKA_KEY_TYPE, ulong_bytes(CKK_AES));
        for u in [CKA_ENCRYPT, CKA_DECRYPT] {
            m.insert(u, vec![1]);
        }
        for (t, v) in attrs {
            m.insert(*t, v.clone());
        }
        Object::new(1, "u".into(), None, crate::object::AttrMap::from_map(&m), BTreeMap::new()).unwrap()
    }
}
