//! The one rule for lifecycle changes of a key marked `CKA_MODIFIABLE =
//! false`, called by every entry point that changes a key's lifecycle: the
//! C ABI (C_SetAttributeValue, C_DestroyObject, rotation through
//! C_GenerateKey) and the CLI (`keyward key ...`), through the `kms_*`
//! methods.
//!
//! A non-modifiable key may have its use narrowed — disabled, given an
//! earlier expiry, scheduled for deletion — but never widened: enabled,
//! given a later expiry or none, restored from a pending deletion, re-tagged,
//! put on an automatic rotation schedule or rotated (a rotation retires the
//! primary and brings new material, both changes to the key).
//!
//! Owns: that decision. Must not touch: the store or the object cache.

use crate::ck::*;
use crate::err;
use crate::error::Result;

/// A lifecycle change of one key version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change<'a> {
    Enable,
    Disable,
    ScheduleDeletion,
    Restore,
    Tags,
    RotationPeriod,
    Rotate,
    /// CKA_END_DATE from `old` to `new` (`None` / empty: no end date).
    EndDate {
        old: Option<&'a [u8]>,
        new: Option<&'a [u8]>,
    },
}

impl Change<'_> {
    /// Whether the change only narrows what the key may be used for.
    pub fn narrows(&self) -> bool {
        match self {
            Change::Disable | Change::ScheduleDeletion => true,
            Change::EndDate { old, new } => {
                // A CK_DATE is "YYYYMMDD"; anything else (empty, zeros) is no date.
                let date = |d: &Option<&[u8]>| {
                    d.filter(|d| d.len() == 8 && d.iter().all(u8::is_ascii_digit)).map(<[u8]>::to_vec)
                };
                match (date(old), date(new)) {
                    (_, None) => false,
                    (None, Some(_)) => true,
                    (Some(o), Some(n)) => n <= o,
                }
            }
            _ => false,
        }
    }

    fn what(&self) -> &'static str {
        match self {
            Change::Enable => "enabling it",
            Change::Disable => "disabling it",
            Change::ScheduleDeletion => "scheduling its deletion",
            Change::Restore => "restoring it",
            Change::Tags => "changing its tags",
            Change::RotationPeriod => "changing its rotation schedule",
            Change::Rotate => "rotating it",
            Change::EndDate { .. } => "a later or no end date",
        }
    }
}

/// Checks `change` on a key version whose CKA_MODIFIABLE is `modifiable`.
pub fn check(modifiable: bool, change: Change<'_>) -> Result<()> {
    if modifiable || change.narrows() {
        return Ok(());
    }
    Err(err!(
        CKR_ATTRIBUTE_READ_ONLY,
        "the key is not modifiable (CKA_MODIFIABLE = false): only changes that narrow its use are allowed, not {}",
        change.what()
    ))
}

/// C_SetAttributeValue on a key with CKA_MODIFIABLE = false: a template
/// that changes only CKA_KEYWARD_STATE and CKA_END_DATE, and only narrows
/// (disable, earlier expiry), is applied under this rule instead of being
/// refused with the object; returns the new attribute map. `None`: the
/// object is modifiable or the template asks for more (the generic rules
/// decide).
pub fn narrowing_set(
    obj: &crate::object::Object,
    t: &[crate::types::Attr],
) -> Result<Option<std::collections::BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>>> {
    use super::attrs::{CKA_KEYWARD_STATE, KEYWARD_STATE_DISABLED, KEYWARD_STATE_ENABLED};
    if obj.flag(CKA_MODIFIABLE) || t.is_empty() || !t.iter().all(|a| matches!(a.ty, CKA_KEYWARD_STATE | CKA_END_DATE)) {
        return Ok(None);
    }
    let mut m = obj.attrs().to_map();
    for a in t {
        let change = match a.ty {
            CKA_END_DATE => {
                if !(a.value.is_empty() || a.value.len() == 8) {
                    return Err(crate::error::Error::new(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_END_DATE is a CK_DATE"));
                }
                Change::EndDate { old: obj.get(CKA_END_DATE), new: Some(a.value.as_slice()) }
            }
            _ => match crate::object::ulong(&a.value) {
                Some(KEYWARD_STATE_DISABLED) => Change::Disable,
                Some(KEYWARD_STATE_ENABLED) => Change::Enable,
                _ => return Ok(None),
            },
        };
        check(false, change)?;
        m.insert(a.ty, a.value.clone());
    }
    Ok(Some(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrowing_is_allowed_widening_is_not() {
        let d = |s: &'static [u8]| Some(s);
        for c in [
            Change::Disable,
            Change::ScheduleDeletion,
            Change::EndDate { old: None, new: d(b"20300101") },
            Change::EndDate { old: d(b"20300101"), new: d(b"20290101") },
            Change::EndDate { old: d(b"20300101"), new: d(b"20300101") },
        ] {
            check(false, c).unwrap();
            check(true, c).unwrap();
        }
        for c in [
            Change::Enable,
            Change::Restore,
            Change::Tags,
            Change::RotationPeriod,
            Change::Rotate,
            Change::EndDate { old: d(b"20300101"), new: None },
            Change::EndDate { old: d(b"20300101"), new: d(b"20310101") },
            Change::EndDate { old: None, new: d(b"") },
            Change::EndDate { old: d(b"20300101"), new: d(&[0; 8]) },
        ] {
            assert_eq!(check(false, c).unwrap_err().rv(), CKR_ATTRIBUTE_READ_ONLY, "{c:?}");
            check(true, c).unwrap();
        }
    }
}
