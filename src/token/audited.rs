//! The token's side of the audit log: what a record says about the
//! token's own values. Builds records from the token's objects, sessions
//! and store and hands them to `audit` through its types (`Call`,
//! `record::KeyArg`, `record::Named`, `Meta` ...); `audit` never reaches
//! back into the token.
//!
//! Owns: naming objects in records (`Named for Object`), the store behind
//! the audit key and anchor (`Meta for Store`), the `Token` audit hooks
//! the safe API calls. Must not touch: the log format, the chain, the
//! queue or the writer (all in `audit/`).

use crate::audit::record::{self, KeyRef, Named};
use crate::ck::*;
use crate::kms::attrs::CKA_KEYWARD_VERSION;
use crate::object::Object;

impl Named for Object {
    fn key_ref(&self) -> KeyRef {
        let label = self.get(CKA_LABEL).filter(|l| !l.is_empty()).map(|l| String::from_utf8_lossy(l).into_owned());
        KeyRef {
            uid: Some(self.uid.clone()),
            label,
            version: self.ulong(CKA_KEYWARD_VERSION),
            class: Some(record::class_name(self.class).to_string()),
            handle: Some(self.handle),
        }
    }
    fn uid(&self) -> &str {
        &self.uid
    }
    fn handle(&self) -> CK_ULONG {
        self.handle
    }
    fn is_token(&self) -> bool {
        self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_times_match_token_times() {
        for secs in [0i64, 951_782_400, 1_700_000_000, 4_102_444_799, -86_401] {
            let t = crate::token::UtcTime::from_unix(secs);
            assert_eq!(record::civil_from_unix(secs), (t.year, t.month, t.day, t.hour, t.minute, t.second), "{secs}");
        }
    }
}
