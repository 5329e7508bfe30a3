//! The lifecycle checks of every key use ([`check_use`]): state, primary
//! version, CKA_START_DATE/CKA_END_DATE.
//!
//! Owns: the rule of which purposes a key version may serve now. Must not
//! touch: the store or the object cache (it reads one object and decides);
//! the operations that call it (src/token).
#![allow(clippy::unnecessary_cast)] // CK_ULONG is not u64 on every platform

use super::attrs::*;
use super::{KmsConfig, clock};
use crate::ck::*;
use crate::error::{Error, Result};
use crate::object::Object;
use crate::object::Purpose;

/// The lifecycle rules of one key use: a disabled or pending version refuses
/// everything; a non-primary version only decrypts, verifies and unwraps;
/// outside CKA_START_DATE..CKA_END_DATE nothing new is protected, and past
/// the end date decrypt/verify/unwrap follow `kms.decrypt_after_expiry`.
pub fn check_use(obj: &Object, purpose: Purpose, cfg: &KmsConfig) -> Result<()> {
    if !obj.is_key() || obj.unrestricted() {
        return Ok(());
    }
    let refuse = |m: String| Err(Error::new(CKR_KEY_FUNCTION_NOT_PERMITTED, m));
    match state_of(obj) {
        KEYWARD_STATE_ENABLED => {}
        KEYWARD_STATE_DISABLED => return refuse(format!("key version {} is disabled", version_of(obj))),
        KEYWARD_STATE_PENDING_DELETION => {
            return refuse(format!("key version {} is scheduled for deletion", version_of(obj)));
        }
        s => return refuse(format!("key version {} is in unknown state {s}", version_of(obj))),
    }
    let creates = purpose.creates_data();
    if creates && !is_primary(obj) {
        return refuse(format!(
            "key version {} is not the primary version: it may only decrypt, verify or unwrap",
            version_of(obj)
        ));
    }
    check_dates(obj, purpose, cfg)
}

/// The CKA_START_DATE/CKA_END_DATE part of [`check_use`].
pub fn check_dates(obj: &Object, purpose: Purpose, cfg: &KmsConfig) -> Result<()> {
    let refuse = |m: String| Err(Error::new(CKR_KEY_FUNCTION_NOT_PERMITTED, m));
    let creates = purpose.creates_data();
    let start = obj.get(CKA_START_DATE).filter(|d| d.len() == 8);
    let end = obj.get(CKA_END_DATE).filter(|d| d.len() == 8);
    if start.is_none() && end.is_none() {
        // No validity window: no clock read on the hot path.
        return Ok(());
    }
    let today = clock::today();
    if let Some(start) = start
        && creates
        && today.as_slice() < start
    {
        return refuse(format!("key not valid before {} (CKA_START_DATE)", clock::format_date(start)));
    }
    if let Some(end) = end
        && today.as_slice() > end
        && (creates || !cfg.decrypt_after_expiry)
    {
        return refuse(format!("key expired on {} (CKA_END_DATE)", clock::format_date(end)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::test_support::key;
    use crate::object::ulong_bytes;

    #[test]
    fn use_rules() {
        let cfg = KmsConfig::default();
        let ok = key(&[]);
        assert!(check_use(&ok, Purpose::Encrypt, &cfg).is_ok());
        let old = key(&[(CKA_KEYWARD_PRIMARY, vec![0])]);
        assert_eq!(check_use(&old, Purpose::Encrypt, &cfg).unwrap_err().rv(), CKR_KEY_FUNCTION_NOT_PERMITTED);
        assert!(check_use(&old, Purpose::Decrypt, &cfg).is_ok());
        let off = key(&[(CKA_KEYWARD_STATE, ulong_bytes(KEYWARD_STATE_DISABLED))]);
        assert_eq!(check_use(&off, Purpose::Decrypt, &cfg).unwrap_err().rv(), CKR_KEY_FUNCTION_NOT_PERMITTED);
        let expired = key(&[(CKA_END_DATE, b"20000101".to_vec())]);
        assert!(check_use(&expired, Purpose::Encrypt, &cfg).is_err());
        assert!(check_use(&expired, Purpose::Decrypt, &cfg).is_ok());
        let strict = KmsConfig { decrypt_after_expiry: false, ..KmsConfig::default() };
        assert!(check_use(&expired, Purpose::Decrypt, &strict).is_err());
        let future = key(&[(CKA_START_DATE, b"99991231".to_vec())]);
        assert!(check_use(&future, Purpose::Sign, &cfg).is_err());
        // The precomputed shortcut covers exactly the keys with no rule to apply.
        assert!(ok.unrestricted() && key(&[(CKA_START_DATE, Vec::new())]).unrestricted());
        assert!(![&old, &off, &expired, &future].iter().any(|o| o.unrestricted()));
    }
}
