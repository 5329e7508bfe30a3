//! Moving a token from one store to another (`keyward store migrate`):
//! every object with its id and MAC, the token row with its wrapped keys
//! and PIN counters, every meta value (the audit key and anchor among
//! them), and the id floor, so ids stay unique and the row MACs, which bind
//! the id, still verify. The source is read inside one of its own write
//! transactions (nothing changes under the copy); the target is written in
//! one transaction that first checks it is empty, so a failure leaves it
//! empty and a non-empty target is never overwritten.

use super::{Store, TokenRow};
use crate::ck::*;
use crate::error::{Error, Result};

/// What a migration copied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copied {
    pub objects: usize,
    pub meta: usize,
    pub token: bool,
}

/// Copies the token in `from` into the empty store `to`. `rename_meta`
/// maps a meta key of the source to its key in the target (the audit
/// anchor of a log moves under its per-host key on a shared store).
pub fn copy(from: &Store, to: &Store, rename_meta: &dyn Fn(&str) -> String) -> Result<Copied> {
    type Snapshot = (Option<TokenRow>, Vec<super::ObjectRow>, Vec<(String, Vec<u8>)>, i64);
    let (token, objects, meta, floor): Snapshot = from
        .transaction(|tx| Ok((tx.inner.token()?, tx.inner.objects()?, tx.inner.meta_all()?, tx.inner.id_floor()?)))?;
    let copied = Copied { objects: objects.len(), meta: meta.len(), token: token.is_some() };
    to.transaction(|tx| {
        let t = tx.inner;
        if t.token()?.is_some() || !t.objects()?.is_empty() || !t.meta_all()?.is_empty() || t.id_floor()? > 0 {
            return Err(Error::new(CKR_FUNCTION_FAILED, "the target store is not empty: refusing to overwrite it"));
        }
        if let Some(row) = &token {
            t.import_token(row)?;
        }
        for o in &objects {
            t.import_object(o)?;
        }
        for (k, v) in &meta {
            t.meta_set(&rename_meta(k), v)?;
        }
        t.raise_id_floor(floor)
    })?;
    Ok(copied)
}
