//! The default user's part in grants (issue 17; docs/named-users.md §1.4):
//! its principal (1), made by the SO at the first grant of one of its keys
//! with its secret sealed under the token master key, the first grant's
//! re-seal of a master-sealed key under a data key of its own, and the
//! default user's login holding its grants (at login, and when another
//! process changed them).
//!
//! Owns: principal 1 and the legacy re-seal. Must not touch: grants of
//! named users' keys (`grants.rs`), the master-key login (`login.rs`).

use super::grant_change::{OldSeal, reseal_rows};
use super::grants::{grant_row, verified_records};
use super::principal::ROLE_KEY_ADMIN;
use super::{Token, lock_err};
use crate::ck::*;
use crate::err;
use crate::error::{Error, Result};
use crate::object::policy::grant as ops;
use crate::store::principals::{PRINCIPAL_DEFAULT, PRINCIPAL_SO};
use crate::store::wrap::{self, Dek, PrincipalSecret};
use crate::store::{PrincipalRow, codec};
use std::sync::Arc;

/// The default user's principal name and the context of its secret,
/// sealed under the master key (`MasterKey::seal_blob`).
const DEFAULT_NAME: &str = "default";
const DEFAULT_SECRET_CONTEXT: &str = "keyward principal 1";

impl Token {
    /// Whether this login holds principal keys (a named user, or the
    /// default user of a token where one of its keys was granted).
    pub(super) fn holds_principal_keys(&self) -> bool {
        self.login.read().is_ok_and(|l| l.named.is_some())
    }

    /// At the default user's login: its principal keys (sealed under the
    /// master key) and grants, if the token has them.
    pub(super) fn open_default_keys(&self) -> Result<()> {
        let rev = self.store.auth_revision()?;
        let row = self.store.principal(DEFAULT_NAME)?.filter(|r| r.id == PRINCIPAL_DEFAULT);
        let Some(row) = row else {
            self.login.write().map_err(lock_err)?.grants_rev = rev;
            return Ok(());
        };
        let master = self.master()?;
        let plain = master
            .unseal_blob(DEFAULT_SECRET_CONTEXT, &row.secret)
            .map_err(|_| Error::device("the default user's principal secret does not open with the master key"))?;
        let secret = PrincipalSecret::decode(&plain)?;
        wrap::verify(&secret.authority, &row.record, &row.record_sig)
            .map_err(|_| Error::device("the default user's record: its signature does not verify"))?;
        let serial = self.serial()?;
        let (keys, grants) = self.open_named_keys(&row, secret, &serial)?;
        {
            let mut l = self.login.write().map_err(lock_err)?;
            l.named = Some(Arc::new(keys));
            l.grants_rev = rev;
        }
        self.install_grants(grants, None)
    }

    /// The default user without principal keys, after a refresh that saw
    /// changes: they may exist now (a first grant of one of its keys).
    pub(super) fn open_default_keys_if_changed(&self) -> Result<()> {
        let now = self.store.auth_revision()?;
        if self.login.read().map_err(lock_err)?.grants_rev == now {
            return Ok(());
        }
        self.open_default_keys()
    }

    /// The default user with principal keys: its grants again when the
    /// authorization revision moved.
    pub(super) fn check_default_grants_current(&self) -> Result<()> {
        let now = self.store.auth_revision()?;
        {
            let mut l = self.login.write().map_err(lock_err)?;
            if l.named.is_none() || l.grants_rev == now {
                return Ok(());
            }
            l.grants_rev = now;
        }
        self.reload_grants()
    }

    /// The first grant of a key of the default user (sealed under the
    /// master key), by the SO: in one transaction every row of the key
    /// (versions, both halves, copies), checked under the master key's row
    /// keys, is sealed again under a new data key and MACed with its row
    /// key; the data key is wrapped for the SO's recovery key and for the
    /// default user (every use and ADMIN: its access does not change),
    /// whose principal (1, its secret sealed under the master key) is made
    /// then. Returns whether `name` named such a key. The old ciphertexts
    /// leave the live rows (SQLite free pages, the WAL and backups may keep
    /// them; no named user ever had a wrap for them).
    pub(super) fn reseal_legacy(&self, name: &str, so: &PrincipalSecret, serial: &str) -> Result<bool> {
        let master = self.login.read().map_err(lock_err)?.master.clone();
        let master = master.ok_or_else(|| Error::new(CKR_USER_NOT_LOGGED_IN, "no master key in this login"))?;
        let mut kids: Vec<Vec<u8>> = Vec::new();
        let mut ids = self.store.lookup(crate::store::index::Lookup::Label(name.as_bytes()))?;
        ids.extend(self.store.lookup(crate::store::index::Lookup::KeyId(name.as_bytes()))?);
        for id in ids {
            let Some(r) = self.store.object(id)? else { continue };
            let attrs = codec::decode_attrs(&r.public)?;
            let get = |ty: CK_ATTRIBUTE_TYPE| attrs.iter().rev().find(|(t, _)| *t == ty).map(|(_, v)| v.as_slice());
            let class = get(CKA_CLASS).and_then(crate::object::ulong);
            let key = matches!(class, Some(CKO_SECRET_KEY | CKO_PRIVATE_KEY | CKO_PUBLIC_KEY));
            if let Some(k) = get(CKA_KEYWARD_KEY_ID)
                && key
                && get(CKA_KEYWARD_SEAL).is_none()
                && !k.is_empty()
                && !kids.iter().any(|x| x == k)
            {
                kids.push(k.to_vec());
            }
        }
        let kid = match kids.len() {
            0 => return Ok(false),
            1 => kids.remove(0),
            n => return Err(err!(CKR_ARGUMENTS_BAD, "{n} keys are named {name:?}: name one by its key id")),
        };
        let principals = self.store.transaction(|tx| tx.principals())?;
        let records = verified_records(&principals, &so.authority, serial);
        let row_keys = master.row_keys()?;
        let (default_x25519, new_default) = match principals.iter().find(|p| p.id == PRINCIPAL_DEFAULT) {
            Some(_) => {
                let r = records
                    .get(&PRINCIPAL_DEFAULT)
                    .ok_or_else(|| Error::device("the default user's record does not verify"))?;
                (r.x25519, None)
            }
            None => {
                let s = PrincipalSecret::generate(so.authority, row_keys.public.clone(), None)?;
                let sealed = master.seal_blob(DEFAULT_SECRET_CONTEXT, &s.encode())?;
                let roles = super::principal::ROLE_KEY_USER | ROLE_KEY_ADMIN;
                let (record, record_sig) =
                    Self::signed_record(so, PRINCIPAL_DEFAULT, DEFAULT_NAME, roles, &s, serial, false)?;
                let x: [u8; 32] = s
                    .x25519_key()?
                    .public()
                    .bytes()
                    .try_into()
                    .map_err(|_| Error::general("an X25519 key is not 32 bytes"))?;
                let row = PrincipalRow {
                    id: PRINCIPAL_DEFAULT,
                    name: DEFAULT_NAME.into(),
                    roles,
                    record,
                    record_sig,
                    pin: None,
                    secret: sealed,
                    locked: false,
                    failures: 0,
                    totp_last_step: 0,
                };
                (x, Some(row))
            }
        };
        let dek = Dek::generate()?;
        let so_x25519 = so.x25519_key()?.public().bytes().to_vec();
        let n = self.store.transaction(|tx| {
            if let Some(p) = &new_default {
                tx.insert_principal(p)?;
            }
            let n = reseal_rows(tx, &kid, OldSeal::Master(&master, &row_keys), &dek)?;
            tx.put_grant(&grant_row(so, PRINCIPAL_SO, serial, &dek, &kid, PRINCIPAL_SO, &so_x25519, 0)?)?;
            tx.put_grant(&grant_row(
                so,
                PRINCIPAL_SO,
                serial,
                &dek,
                &kid,
                PRINCIPAL_DEFAULT,
                &default_x25519,
                ops::ALL,
            )?)?;
            Ok(n)
        })?;
        log::info!(
            "token {}: key {name} ({n} rows) sealed again under a data key of its own for its first grant",
            self.slot
        );
        Ok(true)
    }
}
