//! The slot table: one entry per `[[slot]]`, holding its token once it is
//! open.
//!
//! A SQLite slot opens at C_Initialize (a broken token directory fails
//! C_Initialize, as it always has). A PostgreSQL slot is tried at
//! C_Initialize too, but a server that cannot be reached (down, refusing
//! the password, a certificate that does not verify) does not fail
//! C_Initialize: the slot is listed, C_GetSlotInfo answers from the
//! configuration, and every call that needs the token (C_GetTokenInfo,
//! C_OpenSession, C_InitToken, C_GetMechanismInfo is answered without it)
//! tries to open it again, failing with that attempt's error
//! (`CKR_DEVICE_ERROR` for an unreachable server) and a log line, within the
//! connect timeout. The first call after the server is back opens it,
//! without C_Finalize. `CKR_DEVICE_ERROR` rather than
//! `CKR_TOKEN_NOT_PRESENT`: the slot is not a removable device, and
//! PKCS#11 requires `CKF_TOKEN_PRESENT` to stay set on such a slot, so the
//! token is there and the device (its link to the server) fails — the same
//! code a call gets when the server goes away after the open.
//! Owns no policy: opening is `Token::open`.

use crate::config::{Config, StoreKind};
use crate::error::Result;
use crate::token::Token;
use crate::types::{Handle, SlotInfo};
use std::sync::{Arc, Mutex, OnceLock};

pub(crate) struct Slot {
    index: Handle,
    token: OnceLock<Arc<Token>>,
    /// Held while one thread (re)tries the open, so that concurrent callers
    /// make one connection attempt, not one each.
    opening: Mutex<()>,
    no_threads: bool,
}

impl Slot {
    /// Opens the slot `index` of `config` now; a PostgreSQL slot whose
    /// server cannot be reached is kept closed (logged) and opened later.
    pub(crate) fn new(index: usize, config: &Config, no_threads: bool) -> Result<Slot> {
        let slot = Slot { index: index as Handle, token: OnceLock::new(), opening: Mutex::new(()), no_threads };
        let sc = &config.slots[index];
        if sc.store == StoreKind::Postgres {
            // Configuration errors (no url, both password sources) still
            // fail C_Initialize: they do not get better by waiting.
            sc.pg_options(index)?;
            if let Err(e) = slot.open(config) {
                log::warn!("slot {index}: PostgreSQL store not available at C_Initialize, will retry on use: {e}");
            }
        } else if crate::token::os_access::check_slot(index, sc).is_err() {
            // Not this process's token (logged): the slot stays listed, its
            // token closed; calls that need it get CKR_ACTION_PROHIBITED.
        } else {
            slot.open(config)?;
        }
        Ok(slot)
    }

    /// The open token, if it is.
    pub(crate) fn get(&self) -> Option<&Arc<Token>> {
        self.token.get()
    }

    /// The token, opening it first if needed.
    pub(crate) fn token(&self, config: &Config) -> Result<&Arc<Token>> {
        match self.token.get() {
            Some(t) => Ok(t),
            None => self.open(config),
        }
    }

    fn open(&self, config: &Config) -> Result<&Arc<Token>> {
        let _one = self.opening.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = self.token.get() {
            return Ok(t);
        }
        let i = self.index as usize;
        let t = Token::open(self.index, &config.slots[i], config)
            .inspect_err(|e| log::error!("slot {i}: cannot open the token: {e}"))?;
        t.audit().set_no_threads(self.no_threads);
        log::debug!("slot {i}: token open");
        Ok(self.token.get_or_init(|| Arc::new(t)))
    }

    /// C_GetSlotInfo: from the open token, else from the configuration
    /// (the slot exists and its token is present; see the module doc).
    pub(crate) fn info(&self, config: &Config) -> SlotInfo {
        match self.token.get() {
            Some(t) => t.slot_info(),
            None => Token::slot_info_of(self.index, config.slots[self.index as usize].description.as_deref()),
        }
    }
}
