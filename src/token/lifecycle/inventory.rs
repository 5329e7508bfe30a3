//! The token side of `kms::inventory`: the methods that read the token's objects.
#![allow(clippy::unnecessary_cast)]

use crate::ck::*;
use crate::err;
use crate::error::Result;
use crate::kms::KeyName;
use crate::kms::attrs::*;
use crate::kms::inventory::*;
use crate::object::Object;
use crate::token::Token;
use std::collections::BTreeMap;
use std::sync::Arc;

impl Token {
    /// Every managed key with its versions; `all` also lists keys whose
    /// versions are all pending deletion.
    pub fn kms_keys(&self, all: bool) -> Result<Vec<KeyInfo>> {
        self.require_user()?;
        let mut groups: BTreeMap<KeyName, Vec<Arc<Object>>> = BTreeMap::new();
        let (user, named) = self.login_view();
        let seen = |o: &Object| !(named || o.seal_id().is_some()) || self.sees_token_object(o, user, named);
        for o in self.all_objects()?.into_iter().filter(|o| o.is_key() && copy_source(o).is_none() && seen(o)) {
            groups.entry(KeyName::of(&o)).or_default().push(o);
        }
        Ok(groups.iter().map(|(n, os)| key_info(n, os)).filter(|k| all || k.primary_version.is_some()).collect())
    }

    pub fn kms_key_info(&self, name: &KeyName) -> Result<KeyInfo> {
        self.require_user()?;
        let objs = self.kms_objects(name)?;
        if objs.is_empty() {
            return Err(err!(CKR_ARGUMENTS_BAD, "no key named {:?}", name.display()));
        }
        Ok(key_info(name, &objs))
    }
}
