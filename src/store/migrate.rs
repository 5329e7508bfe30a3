//! Moving a token from one store to another (`keyward store migrate`):
//! every object with its id and MAC, the token row with its wrapped keys
//! and PIN counters, every principal (with its id and counters) and grant,
//! every meta value (the audit key and anchor among them), and the id
//! floor, so ids stay unique and the row MACs, which bind
//! the id, still verify. The source is read inside one of its own write
//! transactions (nothing changes under the copy); the target is written in
//! one transaction that first checks it is empty, so a failure leaves it
//! empty and a non-empty target is never overwritten.

use super::{GrantRow, PrincipalRow, Store, TokenRow};
use crate::ck::*;
use crate::error::{Error, Result};

/// What a migration copied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copied {
    pub objects: usize,
    pub meta: usize,
    pub principals: usize,
    pub grants: usize,
    pub token: bool,
}

/// Copies the token in `from` into the empty store `to`. `rename_meta`
/// maps a meta key of the source to its key in the target (the audit
/// anchor of a log moves under its per-host key on a shared store).
pub fn copy(from: &Store, to: &Store, rename_meta: &dyn Fn(&str) -> String) -> Result<Copied> {
    struct Snapshot {
        token: Option<TokenRow>,
        objects: Vec<super::ObjectRow>,
        meta: Vec<(String, Vec<u8>)>,
        floor: i64,
        principals: Vec<PrincipalRow>,
        grants: Vec<GrantRow>,
    }
    let Snapshot { token, objects, meta, floor, principals, grants } = from.transaction(|tx| {
        let t = tx.inner;
        Ok(Snapshot {
            token: t.token()?,
            objects: t.objects()?,
            meta: t.meta_all()?,
            floor: t.id_floor()?,
            principals: t.principals()?,
            grants: t.grants()?,
        })
    })?;
    let copied = Copied {
        objects: objects.len(),
        meta: meta.len(),
        principals: principals.len(),
        grants: grants.len(),
        token: token.is_some(),
    };
    to.transaction(|tx| {
        let t = tx.inner;
        if t.token()?.is_some()
            || !t.objects()?.is_empty()
            || !t.meta_all()?.is_empty()
            || t.id_floor()? > 0
            || !t.principals()?.is_empty()
        {
            return Err(Error::new(CKR_FUNCTION_FAILED, "the target store is not empty: refusing to overwrite it"));
        }
        if let Some(row) = &token {
            t.import_token(row)?;
        }
        for o in &objects {
            t.import_object(o)?;
        }
        for p in &principals {
            t.import_principal(p)?;
        }
        for g in &grants {
            t.put_grant(g)?;
        }
        for (k, v) in &meta {
            t.meta_set(&rename_meta(k), v)?;
        }
        t.raise_id_floor(floor)
    })?;
    Ok(copied)
}
