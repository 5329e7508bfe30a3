//! The lookup columns of an object row (schema 3 of both backends): what a
//! token too large to hold resident (`store.resident_objects`) asks the
//! database for instead of its object cache — the rows of one CKA_LABEL,
//! of one managed key (CKA_KEYWARD_KEY_ID), the copies of one version
//! (CKA_KEYWARD_COPY_OF), the keys without an identity, and the rows whose
//! purge or rotation may be due.
//!
//! The columns are derived from the row's public blob by the backend on
//! every write (the caller cannot get them out of step) and are not
//! covered by the row MAC: they only pick candidate rows. A reader loads
//! each candidate, checks its MAC and applies its own filter to the
//! verified attributes, so an edited column can hide a row from a lookup
//! (as deleting it could) but never make a lookup return what its
//! attributes do not say.
//!
//! Owns: which attributes are indexed and how their values are read out of
//! a blob. Must not touch: what they mean to the lifecycle (a due time is
//! only a candidate; `token::lifecycle` decides).

#![allow(clippy::unnecessary_cast)] // CK_ULONG is not u64 on every platform

use super::codec;
use crate::ck::*;

/// The lookup columns of one row (`None`: NULL).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexKeys {
    /// CKA_LABEL (an empty label is stored as empty, not NULL).
    pub label: Option<Vec<u8>>,
    /// CKA_KEYWARD_KEY_ID when present and non-empty.
    pub key_id: Option<Vec<u8>>,
    /// CKA_KEYWARD_COPY_OF when non-zero.
    pub copy_of: Option<i64>,
    /// CKA_CLASS.
    pub class: Option<i64>,
    /// The earlier of a non-zero CKA_KEYWARD_DESTROY_AT and a non-zero
    /// CKA_KEYWARD_NEXT_ROTATION: when something may come due.
    pub due: Option<i64>,
}

fn ulong(v: &[u8]) -> Option<u64> {
    let b: [u8; std::mem::size_of::<CK_ULONG>()] = v.try_into().ok()?;
    Some(CK_ULONG::from_ne_bytes(b) as u64)
}

fn signed(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl IndexKeys {
    /// The columns of a row with this public blob (a blob that does not
    /// decode gets none: its row fails its checks when loaded anyway).
    pub fn of_public(public: &[u8]) -> IndexKeys {
        let Ok(attrs) = codec::decode_attrs_ref(public) else { return IndexKeys::default() };
        let mut k = IndexKeys::default();
        let (mut destroy, mut rotate) = (None, None);
        for (ty, v) in attrs {
            match ty as CK_ATTRIBUTE_TYPE {
                CKA_LABEL => k.label = Some(v.to_vec()),
                CKA_KEYWARD_KEY_ID if !v.is_empty() => k.key_id = Some(v.to_vec()),
                CKA_KEYWARD_COPY_OF => k.copy_of = ulong(v).filter(|h| *h != 0).map(signed),
                CKA_CLASS => k.class = ulong(v).map(signed),
                CKA_KEYWARD_DESTROY_AT => destroy = ulong(v).filter(|t| *t != 0).map(signed),
                CKA_KEYWARD_NEXT_ROTATION => rotate = ulong(v).filter(|t| *t != 0).map(signed),
                _ => {}
            }
        }
        k.due = destroy.into_iter().chain(rotate).min();
        k
    }
}

/// What to look up by the index columns; the answer is the matching row
/// ids in ascending order.
#[derive(Clone, Copy, Debug)]
pub enum Lookup<'a> {
    Label(&'a [u8]),
    KeyId(&'a [u8]),
    /// The rows that are copies of the version with this id.
    CopyOf(i64),
    /// Key rows (secret, public, private) without a CKA_KEYWARD_KEY_ID (at
    /// most one: the caller asks whether there is any).
    KeysWithoutId,
    /// Rows whose `due` is at or before this time.
    DueBy(i64),
}

/// The CKA_CLASS values `Lookup::KeysWithoutId` counts as keys.
pub const KEY_CLASSES: [i64; 3] = [CKO_PUBLIC_KEY as i64, CKO_PRIVATE_KEY as i64, CKO_SECRET_KEY as i64];

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(attrs: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)]) -> Vec<u8> {
        codec::encode_attrs(attrs.iter().map(|(t, v)| (*t as u64, v.as_slice())))
    }

    fn ul(v: CK_ULONG) -> Vec<u8> {
        v.to_ne_bytes().to_vec()
    }

    #[test]
    fn columns_come_from_the_public_attributes() {
        let k = IndexKeys::of_public(&blob(&[
            (CKA_CLASS, ul(CKO_SECRET_KEY)),
            (CKA_LABEL, b"payments".to_vec()),
            (CKA_KEYWARD_KEY_ID, b"00ff".to_vec()),
            (CKA_KEYWARD_COPY_OF, ul(0)),
            (CKA_KEYWARD_DESTROY_AT, ul(0)),
            (CKA_KEYWARD_NEXT_ROTATION, ul(1_900_000_000)),
        ]));
        assert_eq!(k.label.as_deref(), Some(&b"payments"[..]));
        assert_eq!(k.key_id.as_deref(), Some(&b"00ff"[..]));
        assert_eq!(k.copy_of, None, "0 is not a copy");
        assert_eq!(k.class, Some(CKO_SECRET_KEY as i64));
        assert_eq!(k.due, Some(1_900_000_000));
        let k = IndexKeys::of_public(&blob(&[
            (CKA_CLASS, ul(CKO_PRIVATE_KEY)),
            (CKA_LABEL, Vec::new()),
            (CKA_KEYWARD_KEY_ID, Vec::new()),
            (CKA_KEYWARD_COPY_OF, ul(42)),
            (CKA_KEYWARD_DESTROY_AT, ul(1_800_000_000)),
            (CKA_KEYWARD_NEXT_ROTATION, ul(1_900_000_000)),
        ]));
        assert_eq!(k.label.as_deref(), Some(&b""[..]), "an empty label is a label");
        assert_eq!(k.key_id, None, "an empty key id is none");
        assert_eq!(k.copy_of, Some(42));
        assert_eq!(k.due, Some(1_800_000_000), "the earlier of the two");
        assert_eq!(IndexKeys::of_public(b"not a blob"), IndexKeys::default());
    }
}
