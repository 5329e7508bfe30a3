//! The external KEK of a token (`[store] kek_file` / `kek_credential`, or
//! the slot's own): loading it at open, what a login needs of it, wrapping
//! new PIN blobs under PIN + KEK, re-wrapping an existing token's PIN-only
//! blob at its next login, and keeping the public row key under it so
//! public objects are checked before anyone logs in. The KEK format and the
//! mixing itself are in `store::kek` and `store::seal`.
//!
//! Rules:
//! - A master key wrapped with a KEK names it (by id). Without the KEK, or
//!   with another one, the login fails with `CKR_DEVICE_ERROR` naming the
//!   KEK it needs, before the PIN is tried: no failed attempt is counted
//!   (the PIN was never checked).
//! - With a KEK configured, a login whose blob is still PIN-only re-wraps it
//!   under PIN + KEK (same salt, no second PBKDF2); the other role's blob
//!   stays PIN-only until that role logs in (`keyward kek add` logs in both).
//! - A configured KEK that cannot be read does not stop the library: the
//!   slot's logins fail with the reason, other slots work.

use super::Token;
use crate::ck::*;
use crate::error::{Error, Result};
use crate::store::kek::ExternalKek;
use crate::store::seal::{self, Kek, MasterKey};
use crate::store::{Role, WrappedKey};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// The meta key of the public row key sealed under the KEK.
const META_PUBLIC_ROW_KEY: &str = "rows.public_key.kek";

/// A slot's configured KEK: none, loaded, or the reason it is unusable.
pub(crate) enum ExternalKekState {
    None,
    /// The KEK, and which roles' blobs this process saw wrapped under it
    /// (bit 0 SO, bit 1 user: nothing left to re-wrap).
    Loaded(Arc<ExternalKek>, AtomicU8),
    Broken(Error),
}

fn role_bit(role: Role) -> u8 {
    match role {
        Role::So => 1,
        Role::User => 2,
    }
}

impl ExternalKekState {
    pub(crate) fn load(sc: &crate::config::SlotConfig, config: &crate::config::Config) -> ExternalKekState {
        let path = match config.kek_path(sc) {
            Ok(Some(p)) => p,
            Ok(None) => return ExternalKekState::None,
            Err(e) => return ExternalKekState::Broken(e),
        };
        match ExternalKek::load(&path) {
            Ok(k) => ExternalKekState::Loaded(Arc::new(k), AtomicU8::new(0)),
            Err(e) => {
                log::error!("token store {}: {e}", sc.path.display());
                ExternalKekState::Broken(e)
            }
        }
    }

    /// The KEK, `None` without one, the load error when it is unusable.
    pub(crate) fn get(&self) -> Result<Option<&Arc<ExternalKek>>> {
        match self {
            ExternalKekState::None => Ok(None),
            ExternalKekState::Loaded(k, _) => Ok(Some(k)),
            ExternalKekState::Broken(e) => Err(e.clone()),
        }
    }
}

impl Token {
    /// The configured external KEK (see [`ExternalKekState::get`]).
    pub(crate) fn external_kek(&self) -> Result<Option<&Arc<ExternalKek>>> {
        self.ext_kek.get()
    }

    /// What opens `wrapped` besides the PIN: the configured KEK when the
    /// blob names one (an error, not a failed attempt, when it is missing
    /// or another), nothing for a PIN-only blob.
    pub(crate) fn kek_for(&self, wrapped: &WrappedKey) -> Result<Option<&Arc<ExternalKek>>> {
        let Some(need) = seal::required_kek(&wrapped.blob) else { return Ok(None) };
        self.kek_with_id(&need, "this token").map(Some)
    }

    /// The configured KEK, which must have id `need` (what `what` is sealed
    /// under); else `CKR_DEVICE_ERROR` naming both.
    pub(crate) fn kek_with_id(&self, need: &[u8], what: &str) -> Result<&Arc<ExternalKek>> {
        let need = hex::encode(need);
        match self.external_kek() {
            Ok(Some(k)) if k.id_hex() == need => Ok(k),
            Ok(Some(k)) => Err(Error::new(
                CKR_DEVICE_ERROR,
                format!(
                    "{what} needs the key-encryption key with id {need}; the configured one ({}) has id {}",
                    k.source(),
                    k.id_hex()
                ),
            )),
            Ok(None) => Err(Error::new(
                CKR_DEVICE_ERROR,
                format!(
                    "{what} needs its key-encryption key (id {need}), and none is configured: \
                     set [store] kek_file or kek_credential"
                ),
            )),
            Err(e) => Err(Error::new(
                CKR_DEVICE_ERROR,
                format!("{what} needs its key-encryption key (id {need}): {}", e.reason()),
            )),
        }
    }

    /// Combines a PIN key with what `wrapped` needs besides the PIN.
    pub(crate) fn mix_kek(&self, pin_key: Kek, wrapped: &WrappedKey) -> Result<Kek> {
        match self.kek_for(wrapped)? {
            Some(ext) => pin_key.with_external(ext),
            None => Ok(pin_key),
        }
    }

    /// A new PIN blob for `master` (under the configured KEK too, if any).
    pub(crate) fn wrap_master(&self, master: &MasterKey, pin: &[u8]) -> Result<WrappedKey> {
        Ok(self.wrap_master_kek(master, pin)?.0)
    }

    /// [`Token::wrap_master`], also returning the new PIN key (without the
    /// external KEK).
    pub(crate) fn wrap_master_kek(&self, master: &MasterKey, pin: &[u8]) -> Result<(WrappedKey, Kek)> {
        let ext = self.external_kek()?;
        seal::wrap_under_pin(master, pin, self.policy.pbkdf2_iterations, ext.map(|k| &**k))
    }

    /// After a successful login of `role`: with a KEK configured, a
    /// PIN-only blob is re-wrapped under PIN + KEK; and the public row key
    /// is kept under the KEK. Once per role and process.
    pub(crate) fn adopt_kek(&self, role: Role, pin: &[u8], master: &MasterKey) -> Result<()> {
        let ExternalKekState::Loaded(ext, done) = &self.ext_kek else { return self.external_kek().map(|_| ()) };
        if done.load(Ordering::Relaxed) & role_bit(role) != 0 {
            return Ok(());
        }
        let row = self.store.token()?.ok_or_else(|| Error::new(CKR_TOKEN_NOT_RECOGNIZED, "token not initialized"))?;
        let wrapped = match role {
            Role::So => row.so,
            Role::User => row.user,
        };
        let mut under_kek = wrapped.as_ref().is_some_and(|w| seal::required_kek(&w.blob).is_some());
        if let Some(old) = wrapped.filter(|_| !under_kek) {
            let pin_key = self.kek(pin, &old)?;
            let blob = pin_key.with_external(ext)?.wrap(master)?;
            let new = WrappedKey { salt: old.salt.clone(), iterations: old.iterations, blob };
            // (Not replaced: another process changed the PIN meanwhile.)
            under_kek = self.store.replace_wrapped(role, &old, &new)?;
            if under_kek {
                log::info!(
                    "token {}: {role:?} PIN now wrapped with the key-encryption key {} (id {})",
                    self.slot,
                    ext.source(),
                    ext.id_hex()
                );
            }
        }
        self.store_public_row_key(master)?;
        if under_kek {
            done.fetch_or(role_bit(role), Ordering::Relaxed);
        }
        Ok(())
    }

    /// The context the public row key is sealed under: the token's serial,
    /// so a key left from before a C_InitToken never opens.
    fn public_row_key_context(&self) -> Result<Option<String>> {
        Ok(self.store.token()?.map(|t| format!("{META_PUBLIC_ROW_KEY}/{}", t.serial)))
    }

    /// With a KEK configured: keeps the public row key of `master` sealed
    /// under it (written only when it changed).
    pub(crate) fn store_public_row_key(&self, master: &MasterKey) -> Result<()> {
        let (Some(ext), Some(ctx)) = (self.external_kek()?, self.public_row_key_context()?) else { return Ok(()) };
        let public = master.row_keys()?.public;
        let current = self.store.meta_get(META_PUBLIC_ROW_KEY)?;
        let same = current.and_then(|c| ext.open(&ctx, &c).ok()).is_some_and(|k| k[..] == public.bytes()[..]);
        if !same {
            self.store.meta_set(META_PUBLIC_ROW_KEY, &ext.seal(&ctx, public.bytes())?)?;
        }
        Ok(())
    }

    /// At open: the public row key from under the KEK, so public objects are
    /// checked as they load (none yet: the first login with the KEK puts it
    /// there).
    pub(crate) fn load_public_row_key(&self) -> Result<()> {
        let Ok(Some(ext)) = self.external_kek() else { return Ok(()) };
        let (Some(sealed), Some(ctx)) = (self.store.meta_get(META_PUBLIC_ROW_KEY)?, self.public_row_key_context()?)
        else {
            return Ok(());
        };
        match ext.open(&ctx, &sealed).ok().and_then(|k| seal::RowKey::from_bytes(&k)) {
            Some(k) => self.integrity.set_public_key(k),
            None => log::warn!(
                "token {}: the public row key in the store does not open under the KEK {} (another KEK, \
                 or left from before C_InitToken): public objects are checked at the next login",
                self.slot,
                ext.id_hex()
            ),
        }
        Ok(())
    }
}

/// Which key-encryption key a token's PIN blobs need, for `keyward kek
/// status` (ids as hex).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KekStatus {
    /// The configured KEK: its id and where it is read from (or the reason
    /// it cannot be read, as `Err`).
    pub configured: Option<std::result::Result<(String, String), String>>,
    /// Per role: `None` without a PIN, `Some(None)` PIN only, `Some(Some(id))`
    /// PIN and the KEK `id`.
    pub so: Option<Option<String>>,
    pub user: Option<Option<String>>,
    /// The principal secrets (the SO's as `so`, named users by name): the
    /// KEK id each is also sealed under, `None` for PIN only
    /// (`principal_seal.rs`; each is sealed again at its next login).
    pub principals: Vec<(String, Option<String>)>,
}

impl Token {
    pub fn kek_status(&self) -> Result<KekStatus> {
        let configured = match &self.ext_kek {
            ExternalKekState::None => None,
            ExternalKekState::Loaded(k, _) => Some(Ok((k.id_hex(), k.source().to_string()))),
            ExternalKekState::Broken(e) => Some(Err(e.reason().to_string())),
        };
        let row = self.store.token()?;
        let need = |w: &Option<WrappedKey>| w.as_ref().map(|w| seal::required_kek(&w.blob).map(hex::encode));
        let principals = self
            .store
            .transaction(|tx| tx.principals())?
            .into_iter()
            .filter(|p| p.id != crate::store::principals::PRINCIPAL_DEFAULT && !p.secret.is_empty())
            .map(|p| (p.name, super::principal_seal::layer_id_hex(&p.secret)))
            .collect();
        Ok(KekStatus {
            configured,
            so: row.as_ref().and_then(|r| need(&r.so)),
            user: row.as_ref().and_then(|r| need(&r.user)),
            principals,
        })
    }
}
