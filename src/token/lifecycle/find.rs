//! The token side of `kms::identity`: the methods that read the token's objects.
#![allow(clippy::unnecessary_cast)]

use crate::ck::*;
use crate::err;
use crate::error::Result;
use crate::kms::attrs::*;
use crate::kms::identity::*;
use crate::object::Object;
use crate::token::Token;
use std::sync::Arc;

impl Token {
    /// Every token key object of the managed key `name` (any state).
    pub fn kms_objects(&self, name: &KeyName) -> Result<Vec<Arc<Object>>> {
        let named = self.token_objects_named(Some(&name.key_id), None)?;
        Ok(named.into_iter().filter(|o| version_of_key(o, name)).collect())
    }

    /// The versions of the key `obj` belongs to (just `obj` for a session key).
    pub fn kms_versions_of(&self, obj: &Object) -> Result<Vec<Arc<Object>>> {
        if !obj.token && copy_source(obj).is_none() {
            return Ok(vec![self.object(obj.handle, CKR_KEY_HANDLE_INVALID)?]);
        }
        self.kms_objects(&KeyName::of(obj))
    }

    /// Finds a managed key by its key id or its label (the CLI's NAME):
    /// `CKR_ARGUMENTS_BAD` when no key or several keys carry the label.
    pub fn kms_find(&self, label: &str) -> Result<KeyName> {
        self.require_user()?;
        // The key of that id, else the keys of that label.
        let mut all = self.token_objects_named(Some(label.as_bytes()), None)?;
        if all.is_empty() {
            all = self.token_objects_named(None, Some(label.as_bytes()))?;
        }
        let keys = all.iter().filter(|o| o.is_key() && copy_source(o).is_none());
        if let Some(o) = keys.clone().find(|o| key_id_of(o) == label.as_bytes()) {
            return Ok(KeyName::of(o));
        }
        let mut names: Vec<KeyName> = keys.filter(|o| o.label() == label.as_bytes()).map(|o| KeyName::of(o)).collect();
        names.sort();
        names.dedup();
        match names.len() {
            0 => Err(err!(CKR_ARGUMENTS_BAD, "no key named {label:?}")),
            1 => Ok(names.remove(0)),
            n => Err(err!(CKR_ARGUMENTS_BAD, "{n} different keys are labelled {label:?}: name one by its key id")),
        }
    }
}
