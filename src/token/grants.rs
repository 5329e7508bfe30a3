//! Keys of named users and their grants (issue 17; docs/named-users.md
//! §1, §4, §6, slices 4-5).
//!
//! A key a named user makes is sealed under a data key (DEK) of its own,
//! not under the token master key: its secret attributes are
//! `store::wrap::Dek::seal_attr` ciphertexts, its rows carry
//! `CKA_KEYWARD_SEAL` (the DEK's id: the key id of the managed key it was
//! made for, kept by its versions, the other half of its pair and its
//! copies) and are MACed with the DEK's row key (`integrity::RowClass::Key`).
//! The DEK exists at rest only as HPKE wraps in `grants` rows: one for
//! every principal holding a grant (the creator: every use and ADMIN) and
//! one for the SO's recovery key (ops 0). So a user's PIN plus a copy of
//! the store opens exactly the keys granted to that user.
//!
//! A grant row is signed by its granter; a login accepts a grant only from
//! itself, the SO (the authority), or a principal whose authority-signed
//! record has the admin role, so nobody can slip a key it knows into
//! another user's view. Which operations a grant allows is a check
//! (`object::policy::grant`), not a seal: a grantee holding the DEK holds
//! the key.
//!
//! The login holds the DEKs of its grants (`Login::grants`) and their row
//! keys (`RowIntegrity`); another process's grant or revoke bumps the
//! authorization revision, and the next refresh re-reads the login's grants
//! ([`Token::reload_grants`]): a revoked key's material is forgotten and the
//! key becomes invisible.
//!
//! Owns: who holds which DEK and sealing under it. Must not touch: changing
//! grants (`grant_change.rs`), the byte formats (`store::wrap`), the login's PIN checks
//! (`principal.rs`).
#![allow(clippy::unnecessary_cast)] // CK_ULONG is not u64 on every platform

use super::principal::{ROLE_AUDITOR, ROLE_KEY_ADMIN};
use super::session::Session;
use super::{Token, lock_err};
use crate::ck::*;
use crate::err;
use crate::error::{Error, Result};
use crate::object::policy::grant as ops;
use crate::object::{Object, Purpose};
use crate::store::principals::PRINCIPAL_SO;
use crate::store::wrap::{self, Dek, PrincipalRecord, PrincipalSecret};
use crate::store::{GrantRow, PrincipalRow};
use std::collections::HashMap;
use std::sync::Arc;
use zeroize::Zeroizing;

/// What a named user's login holds beyond its name: its opened secret,
/// the token serial, and the SO's recovery key (from the SO's record).
pub(super) struct NamedKeys {
    pub(super) id: i64,
    pub(super) roles: u32,
    pub(super) serial: String,
    pub(super) secret: PrincipalSecret,
    /// The SO's X25519 public key (every new DEK is wrapped for it).
    so_x25519: [u8; 32],
    /// The administrators by config (`FLAG_AUTO_ADMIN`): every new DEK is
    /// wrapped for them too, with ADMIN only.
    auto_admins: Vec<(i64, [u8; 32])>,
}

/// One grant the login holds: its operations, the opened DEK and the row
/// key derived from it (once, when the grant is opened).
pub(super) struct GrantKey {
    pub(super) ops: u32,
    pub(super) dek: Dek,
    row_key: crate::store::seal::RowKey,
    /// The signature of the grant row it was opened from: a reload that
    /// finds the same row again keeps this one (no second unwrap).
    sig: Vec<u8>,
}

impl GrantKey {
    fn new(ops: u32, dek: Dek, sig: Vec<u8>) -> Result<GrantKey> {
        let row_key = dek.row_key()?;
        Ok(GrantKey { ops, dek, row_key, sig })
    }
}

/// Principal records whose signature verified, by signature: the record,
/// the authority key it verified under, the record decoded.
pub(super) type RecordCache = HashMap<Vec<u8>, (Vec<u8>, [u8; 32], PrincipalRecord)>;

/// The grants a login holds, by seal id.
pub(super) type Grants = HashMap<Vec<u8>, Arc<GrantKey>>;

/// The secret attributes of an object, sealed.
pub(super) type SealedAttrs = Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>;

/// A data key made for a new key, and the grant rows to write with it.
pub(super) type NewDek = (Arc<GrantKey>, Vec<GrantRow>);

/// What seals the secret attributes of a new row of a key.
pub(super) enum Sealer {
    Master(crate::store::seal::MasterKey),
    /// The key's seal id and the login's grant on it.
    Dek(Vec<u8>, Arc<GrantKey>),
}

impl Sealer {
    /// Seals attribute `ty` of row `uid` (of class `class`, key type `key_type`).
    pub(super) fn seal(&self, uid: &str, ty: u64, class: u64, key_type: u64, v: &[u8]) -> Result<Vec<u8>> {
        match self {
            Sealer::Master(m) => m.seal(uid, ty, v),
            Sealer::Dek(id, g) => g.dek.seal_attr(id, uid, ty, class, key_type, v),
        }
    }
}

fn pid(id: i64) -> Result<u32> {
    u32::try_from(id).map_err(|_| Error::device(format!("principal id {id} out of range")))
}

/// The records of `rows` whose authority signature verifies and that match
/// their row, by id (a row that does not is skipped, with a warning).
pub(super) fn verified_records(
    rows: &[PrincipalRow],
    authority: &[u8; 32],
    serial: &str,
) -> HashMap<i64, PrincipalRecord> {
    let mut out = HashMap::new();
    for row in rows {
        let ok = wrap::verify(authority, &row.record, &row.record_sig)
            .and_then(|()| PrincipalRecord::from_payload(&row.record))
            .ok()
            .filter(|r| i64::from(r.id) == row.id && r.name == row.name && r.serial == serial && r.roles == row.roles);
        match ok {
            Some(r) => {
                out.insert(row.id, r);
            }
            None => log::warn!("principal {} ({}): its record does not verify: ignored", row.id, row.name),
        }
    }
    out
}

impl Token {
    /// [`verified_records`], with each record's signature checked once per
    /// process (a reload of the grants after every change of any principal
    /// or grant would check them all again).
    pub(super) fn verified_records_cached(
        &self,
        rows: &[PrincipalRow],
        authority: &[u8; 32],
        serial: &str,
    ) -> Result<HashMap<i64, PrincipalRecord>> {
        let mut cache = self.record_cache.lock().map_err(lock_err)?;
        let mut out = HashMap::new();
        let mut fresh = Vec::new();
        for row in rows {
            match cache.get(&row.record_sig) {
                Some((rec, auth, r)) if *rec == row.record && auth == authority => {
                    // (the row's own columns are checked every time)
                    if i64::from(r.id) == row.id && r.name == row.name && r.serial == serial && r.roles == row.roles {
                        out.insert(row.id, r.clone());
                    }
                }
                _ => fresh.push(row.clone()),
            }
        }
        for (id, r) in verified_records(&fresh, authority, serial) {
            if let Some(row) = fresh.iter().find(|row| row.id == id) {
                cache.insert(row.record_sig.clone(), (row.record.clone(), *authority, r.clone()));
            }
            out.insert(id, r);
        }
        // Bounded: the records of the token's principals, and some stale ones.
        if cache.len() > 4 * rows.len() + 64 {
            cache.clear();
        }
        Ok(out)
    }
}

/// The seal AAD's class and key type of an object being made.
fn class_and_type(attrs: &crate::object::AttrMap) -> (u64, u64) {
    let class = attrs.ulong(CKA_CLASS).unwrap_or(0);
    let key_type = attrs.ulong(CKA_KEY_TYPE).unwrap_or(0);
    (class as u64, key_type as u64)
}

impl Token {
    /// After a named user's PIN opened its secret: its keys and grants
    /// (one read of the principals and of its grants).
    pub(super) fn open_named_keys(
        &self,
        row: &PrincipalRow,
        secret: PrincipalSecret,
        serial: &str,
    ) -> Result<(NamedKeys, Grants)> {
        let (rows, grants) = self.store.transaction(|tx| Ok((tx.principals()?, tx.grants_of(row.id)?)))?;
        let records = verified_records(&rows, &secret.authority, serial);
        let so = records.get(&PRINCIPAL_SO).ok_or_else(|| Error::device("the SO's principal record is missing"))?;
        let auto_admins = records
            .iter()
            .filter(|(id, r)| {
                **id != row.id && r.flags & super::principal::FLAG_AUTO_ADMIN != 0 && r.roles & ROLE_KEY_ADMIN != 0
            })
            .map(|(id, r)| (*id, r.x25519))
            .collect();
        let keys = NamedKeys {
            id: row.id,
            roles: row.roles,
            serial: serial.to_string(),
            so_x25519: so.x25519,
            auto_admins,
            secret,
        };
        let g = Self::open_grants(&keys, &records, &grants, &Grants::new());
        Ok((keys, g))
    }

    /// The grants of `grants` (rows of principal `keys.id`) this login
    /// accepts, with their DEKs opened; a row of a grant in `held` (the
    /// login's) unchanged since it was opened keeps that one.
    fn open_grants(
        keys: &NamedKeys,
        records: &HashMap<i64, PrincipalRecord>,
        grants: &[GrantRow],
        held: &Grants,
    ) -> Grants {
        let mut out = Grants::new();
        let Ok(me) = pid(keys.id) else { return out };
        // An administrator by config (the SO set it) also accepts
        // administration alone from any verified principal (the creator of
        // a new key); use grants only from a trusted granter.
        let auto = records.get(&keys.id).is_some_and(|r| r.flags & super::principal::FLAG_AUTO_ADMIN != 0);
        for g in grants.iter().filter(|g| g.principal == keys.id) {
            let hex = hex::encode(&g.key_id);
            let Some(granter) = records.get(&g.granter) else {
                log::warn!("grant on key {hex}: its granter {} has no valid record: ignored", g.granter);
                continue;
            };
            let trusted = g.granter == keys.id || g.granter == PRINCIPAL_SO || granter.roles & ROLE_KEY_ADMIN != 0;
            let Ok(by) = pid(g.granter) else { continue };
            let payload = wrap::grant_payload(&keys.serial, &g.key_id, me, g.ops, &g.wrap, by);
            let trusted = trusted || (auto && g.ops & !ops::ADMIN == 0);
            if trusted && let Some(h) = held.get(&g.key_id).filter(|h| h.sig == g.sig && h.ops == g.ops) {
                out.insert(g.key_id.clone(), h.clone());
                continue;
            }
            if !trusted || wrap::verify(&granter.ed25519, &payload, &g.sig).is_err() {
                log::warn!("grant on key {hex} by principal {}: not signed by a trusted granter: ignored", g.granter);
                continue;
            }
            let opened = wrap::unwrap_dek(&g.wrap, &keys.secret.x25519[..], &keys.serial, &g.key_id, me)
                .and_then(|dek| GrantKey::new(g.ops, dek, g.sig.clone()));
            match opened {
                Ok(k) => {
                    out.insert(g.key_id.clone(), Arc::new(k));
                }
                Err(_) => log::warn!("grant on key {hex}: its wrap does not open: ignored"),
            }
        }
        out
    }

    /// Makes `grants` the login's: learns their row keys, forgets the
    /// material and row keys of the ones no longer held, and checks again
    /// the cached rows that could not be checked before.
    ///
    /// `since`: for a reload, the login's `grant_epoch` before it read the
    /// store; a grant this login took since (a key it made, committed after
    /// that read) is kept, not lost.
    pub(super) fn install_grants(&self, mut grants: Grants, since: Option<u64>) -> Result<()> {
        for (id, g) in &grants {
            self.integrity.set_key_row_key(id, g.row_key.clone());
        }
        let (lost, rekeyed): (Vec<Vec<u8>>, bool) = {
            let mut l = self.login.write().map_err(lock_err)?;
            match since {
                Some(e) => {
                    for (_, id) in l.fresh_grants.iter().filter(|(at, _)| *at > e) {
                        if let Some(g) = l.grants.get(id).filter(|_| !grants.contains_key(id)) {
                            grants.insert(id.clone(), g.clone());
                        }
                    }
                    Self::end_reload(&mut l);
                }
                None => l.fresh_grants.clear(),
            }
            let lost = l.grants.keys().filter(|k| !grants.contains_key(*k)).cloned().collect();
            // A key re-keyed elsewhere (a revoke): its rows were checked
            // with the old row key before these grants came.
            let rekeyed = grants
                .iter()
                .any(|(id, g)| l.grants.get(id).is_some_and(|old| old.row_key.bytes() != g.row_key.bytes()));
            l.grants = grants;
            (lost, rekeyed)
        };
        if !lost.is_empty() {
            self.integrity.forget_key_row_keys(Some(&lost));
            let o = self.objects.read().map_err(lock_err)?;
            for obj in o.map.values().filter(|x| x.seal_id().is_some_and(|s| lost.iter().any(|l| l == s))) {
                obj.forget_material();
            }
        }
        if rekeyed {
            return self.reload_token_objects();
        }
        self.recheck_unverified()
    }

    /// Whether this login administers token key `obj`: a key sealed under
    /// a data key needs a grant with ADMIN on it; a key sealed under the
    /// master key, a login holding the master key (not a named user's).
    pub(super) fn administers(&self, obj: &Object) -> bool {
        let Ok(l) = self.login.read() else { return false };
        match obj.seal_id() {
            Some(id) => l.grants.get(id).is_some_and(|g| g.ops & ops::ADMIN != 0),
            None => l.principal.is_none(),
        }
    }

    /// Refuses a lifecycle act (rotate, disable, delete, restore, tag,
    /// expire, C_SetAttributeValue, C_DestroyObject) on token key `obj` by
    /// a login that does not administer it: `CKR_ACTION_PROHIBITED`.
    pub(super) fn require_admin_of(&self, obj: &Object) -> Result<()> {
        if !obj.token || self.administers(obj) {
            return Ok(());
        }
        let l = self.login.read().map_err(lock_err)?;
        let who = l.principal.as_ref().map(|p| p.name.clone()).unwrap_or_else(|| "the default user".into());
        Err(err!(CKR_ACTION_PROHIBITED, "{who} does not administer this key (no ADMIN grant on it)"))
    }

    /// What seals the secrets of a new version of the key of `obj`: its
    /// data key (the login must hold it), else the master key.
    pub(super) fn sealer_for(&self, obj: &Object) -> Result<Sealer> {
        match obj.seal_id() {
            Some(id) => {
                let g = self.login.read().map_err(lock_err)?.grants.get(id).cloned();
                let g = g.ok_or_else(|| err!(CKR_ACTION_PROHIBITED, "no grant on the data key of this key"))?;
                Ok(Sealer::Dek(id.to_vec(), g))
            }
            None => Ok(Sealer::Master(self.master()?)),
        }
    }

    /// Before each further call of the operation of `kind` active in `s`
    /// on a named user's key: the grant it was started under must still
    /// allow it (a revoke in another process reaches operations already
    /// started: `CKR_KEY_FUNCTION_NOT_PERMITTED`, which ends them). Keys
    /// sealed under the master key cost one flag test.
    pub fn check_active_grant(&self, s: &Session, kind: crate::types::OpKind) -> Result<()> {
        use crate::types::OpKind;
        let (key, p) = match kind {
            OpKind::Encrypt => (s.encrypt.as_ref().map(|o| &o.key), Purpose::Encrypt),
            OpKind::Decrypt => (s.decrypt.as_ref().map(|o| &o.key), Purpose::Decrypt),
            OpKind::Sign => (s.sign.as_ref().map(|o| &o.key), Purpose::Sign),
            OpKind::Verify => (s.verify.as_ref().map(|o| &o.key), Purpose::Verify),
            OpKind::MessageEncrypt => (s.message_encrypt.as_ref().map(|o| &o.key), Purpose::Encrypt),
            OpKind::MessageDecrypt => (s.message_decrypt.as_ref().map(|o| &o.key), Purpose::Decrypt),
            OpKind::Digest => return Ok(()),
        };
        let Some(id) = key.and_then(|k| k.seal_id()) else { return Ok(()) };
        self.refresh_if_stale()?;
        let l = self.login.read().map_err(lock_err)?;
        match l.grants.get(id) {
            Some(g) if g.ops & ops::bit(p) != 0 => Ok(()),
            _ => Err(Error::new(CKR_KEY_FUNCTION_NOT_PERMITTED, "the grant this operation was started under is gone")),
        }
    }

    /// Whether the login holds a grant on data key `id`.
    pub(super) fn holds_grant(&self, id: &[u8]) -> bool {
        self.login.read().is_ok_and(|l| l.grants.contains_key(id))
    }

    /// The use check of a data-key-sealed key: its grant must allow `p`.
    pub(super) fn check_grant(&self, obj: &Object, id: &[u8], p: Purpose) -> Result<()> {
        let l = self.login.read().map_err(lock_err)?;
        let who = l.principal.as_ref().map(|p| p.name.as_str()).unwrap_or("default");
        match l.grants.get(id) {
            Some(g) => ops::permits(g.ops, p, who),
            None => Err(err!(CKR_KEY_HANDLE_INVALID, "no visible object with handle {}", obj.handle)),
        }
    }

    /// Opens secret attribute `ty` of `obj`, sealed under data key `id`.
    pub(super) fn open_dek_attr(
        &self,
        obj: &Object,
        id: &[u8],
        uid: &str,
        ty: CK_ATTRIBUTE_TYPE,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let g = self.login.read().map_err(lock_err)?.grants.get(id).cloned();
        let g =
            g.ok_or_else(|| err!(CKR_KEY_FUNCTION_NOT_PERMITTED, "no grant on the key of object {}", obj.handle))?;
        g.dek.open_attr(id, uid, ty as u64, obj.class as u64, obj.key_type.unwrap_or(0) as u64, sealed)
    }

    /// Seals `secrets` of a token object a named user makes, under the DEK
    /// of its key: the one the login holds for `CKA_KEYWARD_SEAL` (a copy)
    /// or the key id (another version, the second half of a pair), else a
    /// new one. Sets `CKA_KEYWARD_SEAL`, learns the row key, and returns
    /// the sealed values and, for a new DEK, the grant rows to write with
    /// the object.
    pub(super) fn seal_for_named(
        &self,
        n: &mut crate::object::template::NewObject,
        uid: &str,
    ) -> Result<(SealedAttrs, Option<NewDek>)> {
        let (class, key_type) = class_and_type(&n.attrs);
        let is_key = matches!(class as CK_ULONG, CKO_SECRET_KEY | CKO_PRIVATE_KEY | CKO_PUBLIC_KEY);
        // A named user's public objects other than keys (certificates, data)
        // are everybody's, as PKCS#11 says; its private ones are its own: a
        // data key of their own, granted to it (and the SO's recovery).
        if !is_key && !n.flag(CKA_PRIVATE) {
            // (a public copy of a private one: public, not under its key)
            n.attrs.remove(CKA_KEYWARD_SEAL);
            if !n.secrets.is_empty() {
                return Err(Error::general("a public object with secret attributes"));
            }
            return Ok((Vec::new(), None));
        }
        let id = match n.attrs.get(CKA_KEYWARD_SEAL) {
            Some(s) => s.to_vec(),
            None if !is_key => crate::object::vendor::new_key_id()?,
            None => n
                .attrs
                .get(CKA_KEYWARD_KEY_ID)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| Error::general("key without a key id"))?,
        };
        let keys = self.named_keys()?;
        let held = self.login.read().map_err(lock_err)?.grants.get(&id).cloned();
        let (g, new) = match held {
            Some(g) => (g, None),
            None if n.attrs.get(CKA_KEYWARD_SEAL).is_some() => {
                return Err(Error::new(CKR_KEY_FUNCTION_NOT_PERMITTED, "no grant on the key this object copies"));
            }
            None => {
                if keys.roles & ROLE_AUDITOR != 0 && keys.roles & !ROLE_AUDITOR == 0 {
                    return Err(Error::new(CKR_ACTION_PROHIBITED, "an auditor makes no keys or private objects"));
                }
                let dek = Dek::generate()?;
                let mut rows = vec![
                    grant_row(
                        &keys.secret,
                        keys.id,
                        &keys.serial,
                        &dek,
                        &id,
                        keys.id,
                        keys.secret.x25519_key()?.public().bytes(),
                        ops::ALL,
                    )?,
                    grant_row(&keys.secret, keys.id, &keys.serial, &dek, &id, PRINCIPAL_SO, &keys.so_x25519, 0)?,
                ];
                for (admin, x) in &keys.auto_admins {
                    rows.push(grant_row(&keys.secret, keys.id, &keys.serial, &dek, &id, *admin, x, ops::ADMIN)?);
                }
                let g = Arc::new(GrantKey::new(ops::ALL, dek, rows[0].sig.clone())?);
                (g.clone(), Some((g, rows)))
            }
        };
        n.attrs.insert(CKA_KEYWARD_SEAL, &id);
        let mut sealed = Vec::with_capacity(n.secrets.len());
        for (ty, v) in &n.secrets {
            sealed.push((*ty, g.dek.seal_attr(&id, uid, *ty as u64, class, key_type, v)?));
        }
        self.integrity.set_key_row_key(&id, g.row_key.clone());
        Ok((sealed, new))
    }

    /// After the object of a new DEK committed: the login holds its grant.
    pub(super) fn hold_new_grant(&self, id: &[u8], g: Arc<GrantKey>) -> Result<()> {
        let mut l = self.login.write().map_err(lock_err)?;
        l.grant_epoch += 1;
        // (a reload that read the store before this key committed keeps it;
        // a later one reads it)
        if l.reloading > 0 {
            let e = l.grant_epoch;
            l.fresh_grants.push((e, id.to_vec()));
        }
        l.grants.insert(id.to_vec(), g);
        Ok(())
    }

    pub(super) fn named_keys(&self) -> Result<Arc<NamedKeys>> {
        self.login.read().map_err(lock_err)?.named.clone().ok_or_else(|| Error::general("no named login"))
    }

    /// Checks again the cached token objects that could not be checked
    /// (their row key was not known): a new grant makes them checkable.
    pub(super) fn recheck_unverified(&self) -> Result<()> {
        let unchecked = {
            // (one lock at a time: lookups take the cache's, then the login's)
            let held: std::collections::HashSet<Vec<u8>> =
                self.login.read().map_err(lock_err)?.grants.keys().cloned().collect();
            let o = self.objects.read().map_err(lock_err)?;
            o.map.values().any(|obj| {
                obj.token
                    && match obj.integrity() {
                        crate::object::Integrity::Unverified => true,
                        // Checked with a data key's old row key (re-keyed
                        // by a revoke elsewhere): again with the new one.
                        crate::object::Integrity::Failed(_) => obj.seal_id().is_some_and(|id| held.contains(id)),
                        crate::object::Integrity::Verified => false,
                    }
            })
        };
        if unchecked { self.reload_token_objects() } else { Ok(()) }
    }

    /// After another process changed principals or grants: the login's
    /// grants as the store has them now.
    pub(super) fn reload_grants(&self) -> Result<()> {
        let Ok(keys) = self.named_keys() else { return Ok(()) };
        let since = {
            let mut l = self.login.write().map_err(lock_err)?;
            l.reloading += 1;
            l.grant_epoch
        };
        match self.store.transaction(|tx| Ok((tx.principals()?, tx.grants_of(keys.id)?))) {
            Ok((rows, grants)) => {
                let records = self.verified_records_cached(&rows, &keys.secret.authority, &keys.serial)?;
                let held = self.login.read().map_err(lock_err)?.grants.clone();
                let g = Self::open_grants(&keys, &records, &grants, &held);
                self.install_grants(g, Some(since))
            }
            Err(e) => {
                Self::end_reload(&mut *self.login.write().map_err(lock_err)?);
                Err(e)
            }
        }
    }

    /// A reload of the grants ended: once none is in flight, no reload
    /// needs the grants taken meanwhile any more.
    fn end_reload(l: &mut super::login::Login) {
        l.reloading = l.reloading.saturating_sub(1);
        if l.reloading == 0 {
            l.fresh_grants.clear();
        }
    }

    /// Inside `tx`: every grant of `principal` wrapped again, for its new
    /// X25519 key `x25519`, from the SO's recovery wraps and signed by the
    /// SO (`so`: its secret); a grant whose key has no recovery wrap that
    /// opens is dropped, with a warning. Returns how many were wrapped.
    pub(super) fn rewrap_grants(
        tx: &crate::store::Tx<'_>,
        so: &PrincipalSecret,
        serial: &str,
        principal: i64,
        x25519: &[u8],
    ) -> Result<usize> {
        let mut n = 0;
        for g in tx.grants_of(principal)? {
            let recovery = tx.grants_on(&g.key_id)?.into_iter().find(|r| r.principal == PRINCIPAL_SO);
            let dek = recovery.and_then(|r| wrap::unwrap_dek(&r.wrap, &so.x25519[..], serial, &g.key_id, 0).ok());
            let Some(dek) = dek else {
                log::warn!(
                    "key {}: no recovery wrap opens: principal {principal}'s grant dropped",
                    hex::encode(&g.key_id)
                );
                tx.delete_grant(&g.key_id, principal)?;
                continue;
            };
            tx.put_grant(&grant_row(so, PRINCIPAL_SO, serial, &dek, &g.key_id, principal, x25519, g.ops)?)?;
            n += 1;
        }
        Ok(n)
    }
}

/// A grant row of `dek` (seal id `id`) for principal `to` with `ops`,
/// signed by principal `by` (secret `signer`).
#[allow(clippy::too_many_arguments)]
pub(super) fn grant_row(
    signer: &PrincipalSecret,
    by: i64,
    serial: &str,
    dek: &Dek,
    id: &[u8],
    to: i64,
    to_x25519: &[u8],
    ops: u32,
) -> Result<GrantRow> {
    let w = wrap::wrap_dek(dek, to_x25519, serial, id, pid(to)?)?;
    let payload = wrap::grant_payload(serial, id, pid(to)?, ops, &w, pid(by)?);
    let sig = wrap::sign(&signer.ed25519_key()?, &payload)?;
    Ok(GrantRow { key_id: id.to_vec(), principal: to, ops, wrap: w, granter: by, sig: sig.to_vec() })
}
