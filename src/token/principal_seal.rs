//! A principal secret's seal (issue 17) under the token's external KEK
//! (`[store] kek_file`), as the master key's PIN blobs are (`kek.rs`): with
//! a KEK configured, a principal secret (a named user's keys, the SO's
//! authority and recovery keys) is sealed under its PIN subkey and then
//! under the KEK, so a copy of the store and a PIN (or a PIN search) open
//! nothing without the KEK either.
//!
//! Format: `KWPK` || the KEK's id || `ExternalKek::seal(context, inner)`,
//! where `inner` is the PIN-sealed secret (`store::wrap`); without the
//! prefix, a PIN-only secret (made before a KEK was configured, or without
//! one). A PIN-only secret is sealed again under the KEK at its next
//! successful open while a KEK is configured (`adopt`), like the PIN blobs.
//! A secret that needs a KEK this process lacks is refused with
//! `CKR_DEVICE_ERROR` before any PIN work, so no attempt is counted.
//!
//! Owns: the outer layer. Must not touch: the inner format
//! (`store::wrap::PrincipalSecret`) or who may open what (`principal.rs`).

use super::Token;
use crate::error::Result;
use crate::store::PrincipalRow;
use crate::store::kek::ExternalKek;
use crate::store::wrap::PrincipalSecret;
use std::sync::Arc;

const LAYER: &[u8; 4] = b"KWPK";
use crate::store::kek::KEK_ID_LEN;

fn context(serial: &str, id: u32, name: &str) -> String {
    format!("principal secret {serial}/{id}/{name}")
}

/// The KEK id a sealed secret names, if it has the KEK layer.
fn layer_id(sealed: &[u8]) -> Option<&[u8]> {
    sealed.strip_prefix(&LAYER[..]).and_then(|r| r.get(..KEK_ID_LEN))
}

/// The KEK id (hex) a sealed principal secret is also sealed under.
pub(super) fn layer_id_hex(sealed: &[u8]) -> Option<String> {
    layer_id(sealed).map(hex::encode)
}

impl Token {
    /// Seals principal secret `s` under `key` (its PIN subkey) and, with a
    /// KEK configured, under the KEK too.
    pub(super) fn seal_principal(
        &self,
        s: &PrincipalSecret,
        key: &[u8; 32],
        serial: &str,
        id: u32,
        name: &str,
    ) -> Result<Vec<u8>> {
        let inner = s.seal(key, serial, id, name)?;
        let Some(ext) = self.external_kek()? else { return Ok(inner) };
        let mut out = LAYER.to_vec();
        out.extend_from_slice(&ext.id());
        out.extend_from_slice(&ext.seal(&context(serial, id, name), &inner)?);
        Ok(out)
    }

    /// What `sealed` needs besides the PIN: the configured KEK when it has
    /// the KEK layer (an error naming the KEK when it is missing or
    /// another one), nothing for a PIN-only secret. Call before PIN work.
    pub(super) fn principal_kek(&self, sealed: &[u8]) -> Result<Option<&Arc<ExternalKek>>> {
        let Some(need) = layer_id(sealed) else { return Ok(None) };
        self.kek_with_id(need, "this principal's secret").map(Some)
    }

    /// Opens what [`Token::seal_principal`] made (or a PIN-only secret).
    /// A wrong PIN fails the inner layer (`CKR_DEVICE_ERROR` from
    /// `PrincipalSecret::open`: callers map it to a wrong PIN).
    pub(super) fn open_principal(
        &self,
        sealed: &[u8],
        key: &[u8; 32],
        serial: &str,
        id: u32,
        name: &str,
    ) -> Result<PrincipalSecret> {
        match self.principal_kek(sealed)? {
            None => PrincipalSecret::open(sealed, key, serial, id, name),
            Some(ext) => {
                let outer = sealed.get(LAYER.len() + KEK_ID_LEN..).unwrap_or(&[]);
                let inner = ext.open(&context(serial, id, name), outer)?;
                PrincipalSecret::open(&inner, key, serial, id, name)
            }
        }
    }

    /// After a successful open of a PIN-only `sealed`: with a KEK
    /// configured, the secret sealed again under PIN + KEK (to be written
    /// in place of `sealed`); `None` when nothing is to do.
    pub(super) fn adopt_principal_kek(
        &self,
        sealed: &[u8],
        s: &PrincipalSecret,
        key: &[u8; 32],
        serial: &str,
        id: u32,
        name: &str,
    ) -> Result<Option<Vec<u8>>> {
        if layer_id(sealed).is_some() || self.external_kek()?.is_none() {
            return Ok(None);
        }
        self.seal_principal(s, key, serial, id, name).map(Some)
    }

    /// Inside `tx`: writes the adopted secret `new` in place of `row`'s,
    /// unless the row changed meanwhile (a PIN change elsewhere wins).
    pub(super) fn write_adopted(tx: &crate::store::Tx<'_>, row: &PrincipalRow, new: &[u8]) -> Result<()> {
        match tx.principal(&row.name)? {
            Some(now) if now.id == row.id && now.secret == row.secret => {
                tx.update_principal(&PrincipalRow { secret: new.to_vec(), ..now })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layer_names_its_kek() {
        assert_eq!(layer_id(b"KWPK12345678rest"), Some(&b"12345678"[..]));
        assert_eq!(layer_id(b"KWPK123"), None);
        assert_eq!(layer_id(b"\x01inner"), None);
    }
}
