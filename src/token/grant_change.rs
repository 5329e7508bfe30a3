//! Changing grants (issue 17; docs/named-users.md §4): `keyward key
//! grant|revoke|grants`, by the SO (through its recovery wrap of the key's
//! data key) or an administrator of the key; a revoke re-keys the key in
//! the same transaction ([`reseal_rows`], also the first grant of a
//! default user's key, `default_keys.rs`).
//!
//! Owns: who may change a key's grants, the signed rows of a change and
//! the re-key. Must not touch: what a login holds or how it uses a grant
//! (`grants.rs`), the quorum (`quorum.rs`).
#![allow(clippy::unnecessary_cast)] // CK_ULONG is not u64 on every platform

use super::grants::{grant_row, verified_records};
use super::principal::{ROLE_AUDITOR, ROLE_KEY_ADMIN};
use super::quorum::Outcome;
use super::session::Session;
use super::{Token, lock_err};
use crate::ck::*;
use crate::err;
use crate::error::{Error, Result};
use crate::object::policy::grant as ops;
use crate::store::principals::{PRINCIPAL_DEFAULT, PRINCIPAL_SO};
use crate::store::wrap::{self, Dek, PrincipalRecord, PrincipalSecret};
use crate::store::{GrantRow, PrincipalRow, codec};
use std::collections::HashMap;

/// What `keyward key grants` shows of one grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantInfo {
    pub user: String,
    pub ops: u32,
    pub granter: String,
}

/// A grant change prepared (checked, signed) outside the transaction that
/// writes it (`Token::apply_change`).
pub(super) struct GrantChange {
    change: Change,
    changer: Changer,
    records: HashMap<i64, PrincipalRecord>,
}

enum Change {
    Put(GrantRow),
    /// The grant of `user_id` goes; the key is re-keyed under `new`.
    Revoke {
        user_id: i64,
        user: String,
        name: String,
        new: Dek,
    },
}

/// What a grant change on one key needs: who signs (the SO, or an
/// administrator of the key), the key's seal id and data key, the
/// principals.
struct Changer {
    signer: PrincipalSecret,
    by: i64,
    serial: String,
    id: Vec<u8>,
    dek: Dek,
    principals: Vec<PrincipalRow>,
}

/// The named user `user` among `principals`.
fn named_user_row<'a>(principals: &'a [PrincipalRow], user: &str) -> Result<&'a PrincipalRow> {
    principals
        .iter()
        .find(|p| p.name == user && p.id > PRINCIPAL_DEFAULT)
        .ok_or_else(|| err!(CKR_ARGUMENTS_BAD, "no user {user}"))
}

impl Token {
    /// The seal id of the key named `name` (its label or key id): one key
    /// a named user made.
    fn sealed_key(&self, name: &str) -> Result<(Vec<u8>, Vec<crate::store::ObjectRow>)> {
        let mut ids = self.store.lookup(crate::store::index::Lookup::Label(name.as_bytes()))?;
        ids.extend(self.store.lookup(crate::store::index::Lookup::KeyId(name.as_bytes()))?);
        let mut seals: Vec<Vec<u8>> = Vec::new();
        let mut rows = Vec::new();
        for id in ids {
            let Some(row) = self.store.object(id)? else { continue };
            let attrs = codec::decode_attrs_ref(&row.public)?;
            if let Some((_, s)) = attrs.iter().rev().find(|(t, _)| *t == CKA_KEYWARD_SEAL) {
                if !seals.iter().any(|x| x == s) {
                    seals.push(s.to_vec());
                }
                rows.push(row);
            }
        }
        match seals.len() {
            0 => Err(err!(
                CKR_ARGUMENTS_BAD,
                "no key named {name:?} sealed for grants (a key of the default user is sealed again for its \
                 first grant, by the SO)"
            )),
            // (one seal id: every row collected carries it)
            1 => Ok((seals.remove(0), rows)),
            n => Err(err!(CKR_ARGUMENTS_BAD, "{n} keys are named {name:?}: name one by its key id")),
        }
    }

    /// Who changes the grants of key `name` in session `s`, with the key's
    /// data key: the SO (through its recovery wrap, checked against the
    /// key's rows), or a named user with the admin role holding ADMIN on
    /// the key. Anyone else: `CKR_ACTION_PROHIBITED`.
    fn changer(&self, s: &Session, name: &str) -> Result<Changer> {
        self.require_fresh_factor("a grant change")?;
        if !s.rw {
            return Err(Error::new(CKR_SESSION_READ_ONLY, "changing grants needs a R/W session"));
        }
        let serial = self.serial()?;
        if self.role()? == Some(crate::store::Role::So) {
            let (so, so_row, _) = self.so_secret(&serial)?;
            if so_row.is_none() {
                return Err(err!(CKR_ARGUMENTS_BAD, "no named users: nothing to grant"));
            }
            // A key of the default user (under the master key): sealed again
            // under a data key of its own first, the default user keeping it.
            let (id, rows) = match self.sealed_key(name) {
                Ok(found) => found,
                Err(e) => match self.reseal_legacy(name, &so, &serial)? {
                    true => self.sealed_key(name)?,
                    false => return Err(e),
                },
            };
            let (principals, grants) = self.store.transaction(|tx| Ok((tx.principals()?, tx.grants_on(&id)?)))?;
            let recovery = grants
                .iter()
                .find(|g| g.principal == PRINCIPAL_SO)
                .ok_or_else(|| Error::device(format!("key {name}: no recovery wrap for the SO")))?;
            let dek = wrap::unwrap_dek(&recovery.wrap, &so.x25519[..], &serial, &id, 0)?;
            // The DEK must be the key's: its row key checks the key's rows.
            let rk = dek.row_key()?;
            if !rows.iter().all(|r| r.mac.as_ref().is_some_and(|m| rk.verify(r.id, &r.uid, &r.public, &r.sealed, m))) {
                return Err(Error::device(format!("key {name}: its rows do not check under the recovered data key")));
            }
            return Ok(Changer { signer: so, by: PRINCIPAL_SO, serial, id, dek, principals });
        }
        let refused =
            || err!(CKR_ACTION_PROHIBITED, "grants on {name:?} are changed by the SO or an administrator of it");
        let keys = self.named_keys().map_err(|_| refused())?;
        if keys.roles & ROLE_KEY_ADMIN == 0 {
            return Err(refused());
        }
        let (id, _) = self.sealed_key(name)?;
        let g = self.login.read().map_err(lock_err)?.grants.get(&id).cloned();
        let g = g.filter(|g| g.ops & ops::ADMIN != 0).ok_or_else(refused)?;
        let principals = self.store.transaction(|tx| tx.principals())?;
        Ok(Changer { signer: keys.secret.clone(), by: keys.id, serial, id, dek: g.dek.clone(), principals })
    }

    /// `keyward key grant NAME USER OPS` by the SO or an administrator of
    /// the key: user `user` may do `ops` with the key `name` (a new grant,
    /// or its ops replaced). With a grant quorum (`quorum.rs`): a request.
    pub fn grant(&self, s: &Session, name: &str, user: &str, grant_ops: u32) -> Result<Outcome> {
        let c = self.prepare_grant(s, name, user, grant_ops)?;
        self.change_or_request(c, "grant", name, user, grant_ops)
    }

    /// `keyward key revoke NAME USER` by the SO or an administrator of the
    /// key: `user`'s grant on key `name` goes, and the key is re-keyed in
    /// the same transaction: every row of it sealed again under a new data
    /// key, wrapped again for the remaining grantees and the SO. So a data
    /// key `user` kept (from memory, or an earlier copy of the store) opens
    /// no version sealed after the revoke. (What `user` already read stays
    /// read.) With a grant quorum (`quorum.rs`): a request.
    pub fn revoke(&self, s: &Session, name: &str, user: &str) -> Result<Outcome> {
        let c = self.prepare_revoke(s, name, user)?;
        self.change_or_request(c, "revoke", name, user, 0)
    }

    fn change_or_request(&self, c: GrantChange, act: &str, name: &str, user: &str, o: u32) -> Result<Outcome> {
        if let Some(out) = self.grant_request(act, name, &c.changer.id, user, o)? {
            return Ok(out);
        }
        self.store.transaction(|tx| self.apply_change(tx, &c))?;
        self.refresh()?;
        Ok(Outcome::Done)
    }

    /// The checks of a grant and its signed row, by the login of `s`.
    pub(super) fn prepare_grant(&self, s: &Session, name: &str, user: &str, grant_ops: u32) -> Result<GrantChange> {
        if grant_ops == 0 || grant_ops & !ops::ALL != 0 {
            return Err(err!(CKR_ARGUMENTS_BAD, "operations {grant_ops:#x} out of range"));
        }
        let changer = self.changer(s, name)?;
        let records = verified_records(&changer.principals, &changer.signer.authority, &changer.serial);
        let row = named_user_row(&changer.principals, user)?;
        let rec =
            records.get(&row.id).ok_or_else(|| Error::device(format!("user {user}: its record does not verify")))?;
        if rec.roles & !ROLE_AUDITOR == 0 {
            return Err(err!(CKR_ACTION_PROHIBITED, "user {user} is an auditor: auditors get no grants"));
        }
        if grant_ops & ops::ADMIN != 0 && rec.roles & ROLE_KEY_ADMIN == 0 {
            return Err(err!(
                CKR_ACTION_PROHIBITED,
                "user {user} has no admin role: ADMIN goes to administrators only"
            ));
        }
        let c = &changer;
        let g = grant_row(&c.signer, c.by, &c.serial, &c.dek, &c.id, row.id, &rec.x25519, grant_ops)?;
        Ok(GrantChange { change: Change::Put(g), changer, records })
    }

    /// The checks of a revoke and its new data key, by the login of `s`.
    pub(super) fn prepare_revoke(&self, s: &Session, name: &str, user: &str) -> Result<GrantChange> {
        let changer = self.changer(s, name)?;
        let row = named_user_row(&changer.principals, user)?;
        let records = verified_records(&changer.principals, &changer.signer.authority, &changer.serial);
        let change =
            Change::Revoke { user_id: row.id, user: user.to_string(), name: name.to_string(), new: Dek::generate()? };
        Ok(GrantChange { change, changer, records })
    }

    /// Writes the grant change `c` in `tx`.
    pub(super) fn apply_change(&self, tx: &crate::store::Tx<'_>, c: &GrantChange) -> Result<()> {
        let (new, user_id, user, name) = match &c.change {
            Change::Put(g) => return tx.put_grant(g),
            Change::Revoke { new, user_id, user, name } => (new, *user_id, user, name),
        };
        let Changer { signer, by, serial, id, dek: old, .. } = &c.changer;
        if !tx.delete_grant(id, user_id)? {
            return Err(err!(CKR_ARGUMENTS_BAD, "user {user} holds no grant on key {name}"));
        }
        reseal_rows(tx, id, OldSeal::Dek(old), new)?;
        for g in tx.grants_on(id)? {
            let to = c
                .records
                .get(&g.principal)
                .ok_or_else(|| Error::device(format!("principal {}: its record does not verify", g.principal)))?;
            tx.put_grant(&grant_row(signer, *by, serial, new, id, g.principal, &to.x25519, g.ops)?)?;
        }
        Ok(())
    }

    /// `keyward key grants NAME`: who holds which grant on key `name`.
    pub fn key_grants(&self, name: &str) -> Result<Vec<GrantInfo>> {
        let (id, _) = self.sealed_key(name)?;
        let (principals, grants) = self.store.transaction(|tx| Ok((tx.principals()?, tx.grants_on(&id)?)))?;
        let name_of =
            |id: i64| principals.iter().find(|p| p.id == id).map(|p| p.name.clone()).unwrap_or(id.to_string());
        Ok(grants
            .iter()
            .map(|g| GrantInfo { user: name_of(g.principal), ops: g.ops, granter: name_of(g.granter) })
            .collect())
    }
}

/// How the rows of a key are sealed before [`reseal_rows`] seals them
/// again under a new data key.
pub(super) enum OldSeal<'a> {
    /// Under this data key (a revoke's re-key): the rows carrying the
    /// key's seal id.
    Dek(&'a Dek),
    /// Under the master key (a default user's key at its first grant): the
    /// rows without a seal id, each checked against its MAC under the
    /// master key's row keys first.
    Master(&'a crate::store::seal::MasterKey, &'a crate::store::seal::RowKeys),
}

/// Inside `tx`: every row of key `kid` (versions, both halves, copies: they
/// all carry its key id) sealed under `old` is sealed again under `new`,
/// carries `CKA_KEYWARD_SEAL = kid` and is MACed with `new`'s row key.
/// Returns how many rows.
pub(super) fn reseal_rows(tx: &crate::store::Tx<'_>, kid: &[u8], old: OldSeal<'_>, new: &Dek) -> Result<usize> {
    let rk = new.row_key()?;
    let mut n = 0;
    for rid in tx.lookup(crate::store::index::Lookup::KeyId(kid))? {
        let Some(r) = tx.object(rid)? else { continue };
        let attrs = codec::decode_attrs_ref(&r.public)?;
        let get = |ty: CK_ATTRIBUTE_TYPE| attrs.iter().rev().find(|(t, _)| *t == ty).map(|(_, v)| *v);
        match (&old, get(CKA_KEYWARD_SEAL)) {
            (OldSeal::Dek(_), Some(s)) if s == kid => {}
            (OldSeal::Master(_, keys), None) => {
                let k = match super::integrity::row_class(&r.public, &r.sealed) {
                    super::integrity::RowClass::Public => &keys.public,
                    _ => &keys.secret,
                };
                if !r.mac.as_ref().is_some_and(|m| k.verify(r.id, &r.uid, &r.public, &r.sealed, m)) {
                    return Err(Error::device(format!("object {} failed its integrity check: not sealed again", r.id)));
                }
            }
            _ => continue,
        }
        let ul = |ty| get(ty).and_then(crate::object::ulong).unwrap_or(0) as u64;
        let (class, key_type) = (ul(CKA_CLASS), ul(CKA_KEY_TYPE));
        let mut sealed = Vec::new();
        for (ty, v) in codec::decode_attrs_ref(&r.sealed)? {
            let plain = match &old {
                OldSeal::Dek(d) => d.open_attr(kid, &r.uid, ty, class, key_type, v)?,
                OldSeal::Master(m, _) => m.unseal(&r.uid, ty, v)?,
            };
            sealed.push((ty, new.seal_attr(kid, &r.uid, ty, class, key_type, &plain)?));
        }
        let public = match &old {
            OldSeal::Dek(_) => r.public.clone(),
            OldSeal::Master(..) => {
                codec::encode_attrs(attrs.iter().copied().chain(std::iter::once((CKA_KEYWARD_SEAL, kid))))
            }
        };
        let blob = codec::encode_attrs(sealed.iter().map(|(t, v)| (*t, v.as_slice())));
        tx.update_object(r.id, &public, &blob, &rk.mac(r.id, &r.uid, &public, &blob))?;
        n += 1;
    }
    Ok(n)
}
