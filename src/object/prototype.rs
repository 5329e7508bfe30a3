//! Memoized builds of new-object templates (issue 16). A token makes the
//! same kind of object from the same template again and again — one secret
//! key per C_EncapsulateKey / C_DecapsulateKey — and [`template::build`]
//! is a pure function of (template, implied attributes, origin) except the
//! per-object lifecycle stamps ([`vendor::restamp`]: a fresh
//! CKA_KEYWARD_KEY_ID and CKA_KEYWARD_CREATED). A [`Prototypes`] keeps the
//! last few builds and hands out copies with fresh stamps instead of
//! walking the attribute rules again.
//!
//! Only builds without a secret value are kept (the template held no
//! secret attribute, so the memo holds public values only), only small
//! templates (bounded memory), and only maps whose stamps [`vendor::restamp`]
//! can renew (no rotation schedule computed from the creation time). A
//! failed build is never kept: the next call builds again and fails the
//! same way.

use super::rules::Kinds;
use super::template::{self, NewObject, Origin};
use super::{AttrMap, vendor};
use crate::error::Result;
use crate::types::Attr;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Builds kept (most recently made first).
const CAPACITY: usize = 4;
/// Templates (with the implied attributes) of more value bytes are not kept.
const MAX_TEMPLATE_BYTES: usize = 1024;
/// Room left in a copy for what callers add after the build (CKA_VALUE_LEN
/// with the secret, CKA_UNIQUE_ID at insert): no regrowth, no compaction.
const ROOM_ENTRIES: usize = 4;
const ROOM_BYTES: usize = 64;

struct Proto {
    template: Vec<Attr>,
    implied: Vec<Attr>,
    origin: Origin,
    kind: Kinds,
    attrs: AttrMap,
}

/// See the module doc. One per token: the `settle` step given to
/// [`Prototypes::build`] must be the same function at every call (the
/// token's key policy), since its result is memoized with the build.
#[derive(Default)]
pub struct Prototypes {
    kept: Mutex<Vec<Proto>>,
}

impl Prototypes {
    /// `template::build(template, implied, origin)` followed by `settle`,
    /// from the memo when an earlier call had the same arguments: the
    /// result has the same attributes as a fresh build except the
    /// lifecycle stamps of [`vendor::restamp`] (new key id, current time).
    pub fn build(
        &self,
        template: &[Attr],
        implied: &[Attr],
        origin: Origin,
        settle: impl FnOnce(&mut NewObject),
    ) -> Result<NewObject> {
        if let Some((kind, mut attrs)) = self.copy_of(template, implied, origin) {
            vendor::restamp(&mut attrs, kind, crate::time::now())?;
            return Ok(NewObject { kind, attrs, secrets: BTreeMap::new() });
        }
        let mut n = template::build(template, implied, origin)?;
        settle(&mut n);
        self.keep(template, implied, origin, &n);
        Ok(n)
    }

    fn copy_of(&self, template: &[Attr], implied: &[Attr], origin: Origin) -> Option<(Kinds, AttrMap)> {
        let kept = self.kept.lock().ok()?;
        let p = kept.iter().find(|p| p.origin == origin && p.template == template && p.implied == implied)?;
        Some((p.kind, p.attrs.clone_with_room(ROOM_ENTRIES, ROOM_BYTES)))
    }

    fn keep(&self, template: &[Attr], implied: &[Attr], origin: Origin, n: &NewObject) {
        let bytes: usize = template.iter().chain(implied).map(|a| a.value.len()).sum();
        if !n.secrets.is_empty() || bytes > MAX_TEMPLATE_BYTES || !vendor::restampable(&n.attrs, n.kind) {
            return;
        }
        let mut attrs = n.attrs.clone_with_room(0, 0);
        // The memo never holds the key id of an object handed out.
        vendor::clear_stamps(&mut attrs, n.kind);
        let p = Proto { template: template.to_vec(), implied: implied.to_vec(), origin, kind: n.kind, attrs };
        if let Ok(mut kept) = self.kept.lock() {
            // Two threads may have built the same template at once.
            if kept.iter().any(|k| k.origin == origin && k.template == template && k.implied == implied) {
                return;
            }
            kept.insert(0, p);
            kept.truncate(CAPACITY);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ck::*;
    use crate::object::vendor::{CKA_KEYWARD_CREATED, CKA_KEYWARD_KEY_ID};

    fn templates() -> Vec<(Vec<Attr>, Vec<Attr>, Origin)> {
        let secret = |kt| vec![Attr::ulong(CKA_CLASS, CKO_SECRET_KEY), Attr::ulong(CKA_KEY_TYPE, kt)];
        let mut readable = secret(CKK_GENERIC_SECRET);
        readable.extend([Attr::bool(CKA_SENSITIVE, false), Attr::bool(CKA_EXTRACTABLE, true)]);
        let mut aes = secret(CKK_AES);
        aes.extend([
            Attr::ulong(CKA_VALUE_LEN, 16),
            Attr::new(CKA_LABEL, b"kem".to_vec()),
            Attr::bool(CKA_TOKEN, true),
        ]);
        let mut tagged = secret(CKK_GENERIC_SECRET);
        tagged.push(Attr::new(crate::object::vendor::CKA_KEYWARD_TAGS, b"b=2,a=1".to_vec()));
        vec![
            (secret(CKK_GENERIC_SECRET), vec![], Origin::Derive(CKM_ML_KEM)),
            (secret(CKK_GENERIC_SECRET), vec![], Origin::Derive(CKM_ECDH1_DERIVE)),
            (readable, vec![], Origin::Derive(CKM_ML_KEM)),
            (aes.clone(), vec![], Origin::Derive(CKM_ML_KEM)),
            (aes, vec![], Origin::Unwrap),
            (tagged, vec![], Origin::Derive(CKM_ML_KEM)),
            (vec![Attr::ulong(CKA_VALUE_LEN, 32)], secret(CKK_AES), Origin::Generate(CKM_AES_KEY_GEN)),
            (vec![Attr::ulong(CKA_CLASS, CKO_DATA), Attr::new(CKA_VALUE, b"public".to_vec())], vec![], Origin::Create),
        ]
    }

    fn settle(n: &mut NewObject) {
        n.attrs.insert(CKA_WRAP, &[0]);
    }

    /// Attribute by attribute: a memoized build equals a fresh one except
    /// the key id (fresh, never repeated) and the creation time.
    #[test]
    fn memoized_builds_equal_fresh_builds_but_the_stamps() {
        let memo = Prototypes::default();
        let mut ids = std::collections::HashSet::new();
        for (t, implied, origin) in templates() {
            for round in 0..3 {
                let mut fresh = template::build(&t, &implied, origin).unwrap();
                settle(&mut fresh);
                let got = memo.build(&t, &implied, origin, settle).unwrap();
                assert_eq!(got.kind, fresh.kind);
                assert!(got.secrets.is_empty() && fresh.secrets.is_empty());
                let varies = |ty| ty == CKA_KEYWARD_KEY_ID || ty == CKA_KEYWARD_CREATED;
                let types = |n: &NewObject| n.attrs.iter().map(|(ty, _)| ty).collect::<Vec<_>>();
                assert_eq!(types(&got), types(&fresh), "round {round}, {origin:?}");
                for (ty, v) in fresh.attrs.iter().filter(|(ty, _)| !varies(*ty)) {
                    assert_eq!(got.attrs.get(ty), Some(v), "attribute 0x{ty:x}, round {round}, {origin:?}");
                }
                if got.kind & crate::object::rules::KEY != 0 {
                    let id = got.attrs.get(CKA_KEYWARD_KEY_ID).unwrap().to_vec();
                    assert_eq!(id.len(), 32);
                    assert!(id.iter().all(u8::is_ascii_hexdigit));
                    assert!(ids.insert(id), "a key id was handed out twice");
                    let (c, f) = (got.ulong(CKA_KEYWARD_CREATED).unwrap(), fresh.ulong(CKA_KEYWARD_CREATED).unwrap());
                    assert!(c >= f && c - f <= 1, "creation time {c} vs {f}");
                }
                // Rounds 1 and 2 were copies of the build kept in round 0.
                let kept = memo.kept.lock().unwrap();
                assert!(kept.len() <= CAPACITY);
                assert!(kept.first().is_some_and(|p| p.template == t && p.implied == implied && p.origin == origin));
            }
        }
    }

    #[test]
    fn secrets_errors_and_schedules_are_not_kept() {
        let memo = Prototypes::default();
        let mut with_value = vec![Attr::ulong(CKA_CLASS, CKO_SECRET_KEY), Attr::ulong(CKA_KEY_TYPE, CKK_AES)];
        with_value.push(Attr::new(CKA_VALUE, vec![7; 16]));
        let n = memo.build(&with_value, &[], Origin::Create, |_| {}).unwrap();
        assert!(n.secrets.contains_key(&CKA_VALUE));
        let bad = vec![Attr::ulong(CKA_KEY_TYPE, CKK_AES)];
        for _ in 0..2 {
            let e = memo.build(&bad, &[], Origin::Derive(CKM_ML_KEM), |_| {}).err().map(|e| e.rv());
            assert_eq!(e, Some(CKR_TEMPLATE_INCOMPLETE));
        }
        let rotating = vec![Attr::ulong(CKA_VALUE_LEN, 32), Attr::ulong(vendor::CKA_KEYWARD_ROTATION_PERIOD, 3600)];
        let implied = vec![Attr::ulong(CKA_CLASS, CKO_SECRET_KEY), Attr::ulong(CKA_KEY_TYPE, CKK_AES)];
        memo.build(&rotating, &implied, Origin::Generate(CKM_AES_KEY_GEN), |_| {}).unwrap();
        assert!(memo.kept.lock().unwrap().is_empty(), "a secret, an error or a rotation schedule was kept");
        // The memo's copy of a build holds no key id that was handed out.
        let t = vec![Attr::ulong(CKA_CLASS, CKO_SECRET_KEY), Attr::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET)];
        let n = memo.build(&t, &[], Origin::Derive(CKM_ML_KEM), |_| {}).unwrap();
        // A second build of the same template kept at once (two threads
        // that both missed) leaves one entry.
        memo.keep(&t, &[], Origin::Derive(CKM_ML_KEM), &template::build(&t, &[], Origin::Derive(CKM_ML_KEM)).unwrap());
        let kept = memo.kept.lock().unwrap();
        assert_eq!(kept.len(), 1);
        assert_ne!(kept[0].attrs.get(CKA_KEYWARD_KEY_ID), n.attrs.get(CKA_KEYWARD_KEY_ID));
    }
}
