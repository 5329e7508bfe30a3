//! `[kms]` in keyward.toml: the deletion grace period and whether expired
//! keys still decrypt.
//!
//! Owns: the configuration's fields, defaults and validation. Must not
//! touch: what the settings mean for a key (the use check, deletion).
#![allow(clippy::unnecessary_cast)] // CK_ULONG is not u64 on every platform

use super::clock;
use crate::ck::*;
use crate::err;
use crate::error::Result;
use serde::Deserialize;

/// `[kms]` in keyward.toml.
///
/// ```toml
/// [kms]
/// deletion_grace = "7d"        # C_DestroyObject / `key delete` restorable this long; "0" = immediate
/// decrypt_after_expiry = true  # past CKA_END_DATE, decrypt/verify/unwrap still work
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KmsConfig {
    pub deletion_grace: String,
    pub decrypt_after_expiry: bool,
}

impl Default for KmsConfig {
    fn default() -> Self {
        KmsConfig { deletion_grace: "7d".into(), decrypt_after_expiry: true }
    }
}

impl KmsConfig {
    /// The grace period in seconds (validated when the config loads).
    pub fn grace_secs(&self) -> Result<u64> {
        clock::parse_duration(&self.deletion_grace)
            .map_err(|e| err!(CKR_GENERAL_ERROR, "kms.deletion_grace: {}", e.reason()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_default_grace() {
        assert_eq!(KmsConfig::default().grace_secs().unwrap(), 7 * 86_400);
        assert!(KmsConfig { deletion_grace: "soon".into(), ..KmsConfig::default() }.grace_secs().is_err());
    }
}
