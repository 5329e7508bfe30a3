//! The key lifecycle acts on a token (DESIGN.md §4): rotation, deletion,
//! restore and purge, enable/disable, tags and dates, automatic
//! maintenance, the identity migration of 0.1 stores, key import, the
//! version-aware envelope, and the rows they decide on inside one store
//! transaction. The data and rules they apply live below, in `kms`
//! (identity, use checks, the CKA_MODIFIABLE rule, inventory shapes) and
//! `object::vendor` (the vendor attributes). Must not touch: sessions'
//! operations beyond the session handed in, sealing (the token's), the
//! audit log's format (it calls `Token::audit_lifecycle`).

mod delete;
pub mod envelope;
mod find;
mod import;
mod inventory;
mod maintain;
mod migrate;
mod rotate;
mod rows;
mod update;
