//! Rotation: a new version with fresh material copying the primary's
//! attributes becomes primary, decided inside one transaction that
//! re-reads the key's rows (automatic rotation only if still due, so two
//! processes never both rotate); and the PKCS#11 way in (C_GenerateKey /
//! C_GenerateKeyPair with CKA_KEYWARD_ROTATE), which names exactly one key
//! and must agree with its primary.
//!
//! Owns: making a version. Must not touch: when rotations are due
//! (`maintain.rs`), other lifecycle changes.
#![allow(clippy::unnecessary_cast)] // CK_ULONG is not u64 on every platform

use super::rows::{Row, Scope, encode_public, write_update};
use crate::audit::Lifecycle;
use crate::ck::*;
use crate::err;
use crate::error::{Error, Result};
use crate::kms::attrs::*;
use crate::kms::{KeyName, Rotated, clock, rules};
use crate::object::template::{self, NewObject};
use crate::object::{Object, ulong_bytes};
use crate::store::{Changes, ObjectRow, codec};
use crate::token::Token;
use crate::token::session::Session;
use crate::types::{Attr, Handle, Mechanism};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A fresh version's objects, generated and sealed before the transaction.
struct Fresh {
    class: CK_OBJECT_CLASS,
    uid: String,
    /// Attributes the generation decided (key material, sizes).
    material: BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>,
    sealed: Vec<u8>,
}

/// Attributes a rotation takes from the newly generated key rather than
/// from the primary it copies.
const MATERIAL: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_VALUE_LEN,
    CKA_MODULUS,
    CKA_MODULUS_BITS,
    CKA_PUBLIC_EXPONENT,
    CKA_EC_PARAMS,
    CKA_EC_POINT,
    CKA_PUBLIC_KEY_INFO,
    CKA_VALUE,
];

impl Token {
    /// Generates the material of a new version of `name` and seals it.
    fn fresh_version(
        &self,
        name: &KeyName,
        gen_mech: Option<CK_MECHANISM_TYPE>,
    ) -> Result<(Vec<Fresh>, CK_MECHANISM_TYPE)> {
        let objs = self.kms_objects(name)?;
        let live: Vec<&Arc<Object>> =
            objs.iter().filter(|o| is_primary(o) && state_of(o) != KEYWARD_STATE_PENDING_DELETION).collect();
        let pick = |c| live.iter().find(|o| o.class == c).copied();
        // The key's own data key (a named user's key), else the master key.
        let (sealer, key_type) = match live.first() {
            Some(first) => (self.sealer_for(first)?, first.key_type.unwrap_or(0) as u64),
            None => (crate::token::grants::Sealer::Master(self.master()?), 0),
        };
        let seal = |uid: &str,
                    class: CK_OBJECT_CLASS,
                    secrets: &BTreeMap<CK_ATTRIBUTE_TYPE, zeroize::Zeroizing<Vec<u8>>>|
         -> Result<Vec<u8>> {
            let mut sealed = Vec::new();
            for (ty, v) in secrets {
                sealed.push((*ty as u64, sealer.seal(uid, *ty as u64, class as u64, key_type, v)?));
            }
            Ok(codec::encode_attrs(sealed.iter().map(|(t, v)| (*t, v.as_slice()))))
        };
        let material_of = |n: &NewObject| -> BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>> {
            n.attrs.iter().filter(|(t, _)| MATERIAL.contains(t)).map(|(t, v)| (t, v.to_vec())).collect()
        };
        if let Some(k) = pick(CKO_SECRET_KEY) {
            let kt = k.key_type.unwrap_or(CKK_GENERIC_SECRET);
            let des = match kt {
                CKK_DES2 => Some(CKM_DES2_KEY_GEN),
                CKK_DES3 => Some(CKM_DES3_KEY_GEN),
                _ => None,
            };
            let mech = gen_mech.unwrap_or(match kt {
                CKK_AES => CKM_AES_KEY_GEN,
                CKK_CHACHA20 => CKM_CHACHA20_KEY_GEN,
                CKK_HKDF => CKM_HKDF_KEY_GEN,
                _ if let Some(m) = des => m,
                _ => crate::mechanism::hmac::keygen_of(kt).unwrap_or(CKM_GENERIC_SECRET_KEY_GEN),
            });
            let len = k.ulong(CKA_VALUE_LEN).unwrap_or(0) as usize;
            if len == 0 || (kt == CKK_AES && !matches!(len, 16 | 24 | 32)) || kt == CKK_DES {
                return Err(err!(CKR_KEY_SIZE_RANGE, "cannot rotate a secret key of {len} bytes"));
            }
            let value = match des.and_then(crate::mechanism::des::keygen) {
                // 3DES: odd parity, no weak or repeated component.
                Some((_, l)) => crate::mechanism::des::generate_value(l)?,
                None => crate::crypto::random_secret(len).map_err(|_| Error::general("rng failed"))?,
            };
            let uid = crate::token::new_uid()?;
            let mut secrets = BTreeMap::new();
            secrets.insert(CKA_VALUE, value);
            let mut material = BTreeMap::new();
            material.insert(CKA_VALUE_LEN, ulong_bytes(len as CK_ULONG));
            let sealed = seal(&uid, CKO_SECRET_KEY, &secrets)?;
            return Ok((vec![Fresh { class: CKO_SECRET_KEY, uid, material, sealed }], mech));
        }
        let Some(p) = pick(CKO_PRIVATE_KEY) else {
            return Err(Error::new(
                CKR_KEY_TYPE_INCONSISTENT,
                "only secret keys and key pairs with a private key rotate",
            ));
        };
        let public = pick(CKO_PUBLIC_KEY);
        let (mech, pub_t) = match p.key_type {
            Some(CKK_RSA) => {
                let bits = public
                    .and_then(|q| q.ulong(CKA_MODULUS_BITS))
                    .or_else(|| p.get(CKA_MODULUS).map(|m| template::modulus_bits(m) as CK_ULONG))
                    .unwrap_or(0);
                let exp = p.get(CKA_PUBLIC_EXPONENT).unwrap_or(&[1, 0, 1]).to_vec();
                (
                    CKM_RSA_PKCS_KEY_PAIR_GEN,
                    vec![Attr::ulong(CKA_MODULUS_BITS, bits), Attr::new(CKA_PUBLIC_EXPONENT, exp)],
                )
            }
            Some(kt @ (CKK_EC | CKK_EC_EDWARDS | CKK_EC_MONTGOMERY)) => {
                let params = p.get(CKA_EC_PARAMS).or_else(|| public.and_then(|q| q.get(CKA_EC_PARAMS))).unwrap_or(&[]);
                let keygen = match kt {
                    CKK_EC_EDWARDS => CKM_EC_EDWARDS_KEY_PAIR_GEN,
                    CKK_EC_MONTGOMERY => CKM_EC_MONTGOMERY_KEY_PAIR_GEN,
                    _ => CKM_EC_KEY_PAIR_GEN,
                };
                (keygen, vec![Attr::new(CKA_EC_PARAMS, params.to_vec())])
            }
            // Post-quantum keys: a new key pair of the same parameter set.
            Some(kt @ (CKK_ML_DSA | CKK_ML_KEM)) => {
                let set = p.ulong(CKA_PARAMETER_SET).or_else(|| public.and_then(|q| q.ulong(CKA_PARAMETER_SET)));
                let set = set.ok_or_else(|| Error::device("post-quantum key without CKA_PARAMETER_SET"))?;
                crate::token::pq::rotation_keygen(kt, set)
            }
            kt => return Err(err!(CKR_KEY_TYPE_INCONSISTENT, "cannot rotate key type {kt:?}")),
        };
        let mech = gen_mech.unwrap_or(mech);
        let (pubn, privn) = crate::token::ops::new_pair(self, &Mechanism::new(mech), &pub_t, &[])?;
        let mut out = Vec::new();
        if public.is_some() {
            let uid = crate::token::new_uid()?;
            let sealed = seal(&uid, CKO_PUBLIC_KEY, &pubn.secrets)?;
            out.push(Fresh { class: CKO_PUBLIC_KEY, uid, material: material_of(&pubn), sealed });
        }
        let uid = crate::token::new_uid()?;
        let sealed = seal(&uid, CKO_PRIVATE_KEY, &privn.secrets)?;
        out.push(Fresh { class: CKO_PRIVATE_KEY, uid, material: material_of(&privn), sealed });
        Ok((out, mech))
    }

    /// Rotates `name`: a new version copying the primary's attributes with
    /// fresh material becomes primary; the old primary stays for
    /// decrypt/verify/unwrap. With `due = Some((uid, now))` (automatic
    /// rotation) the transaction only rotates if the primary is still `uid`
    /// and still due, so two processes never both rotate; it returns `None`
    /// when another process got there first.
    pub fn kms_rotate_key(
        &self,
        name: &KeyName,
        due: Option<(&str, i64)>,
        gen_mech: Option<CK_MECHANISM_TYPE>,
    ) -> Result<Option<Rotated>> {
        self.require_admin(name)?;
        self.refresh()?;
        let (fresh, mech) = self.fresh_version(name, gen_mech)?;
        let now = clock::now();
        let mut audit = self.audit().lock_for_commit()?;
        let scope = Scope::of(self, Some(name), &[])?;
        let (ch, version, ids, w) = {
            let (result, w) = self.store().transaction_tracked(|tx| {
                let mut rows: Vec<Row> = scope.rows(self, tx)?.into_iter().filter(|r| r.of_key(name)).collect();
                for r in rows.iter().filter(|r| r.live_primary()) {
                    rules::check(r.modifiable(), rules::Change::Rotate)?;
                }
                if let Some((uid, now)) = due {
                    let still_due = rows.iter().any(|r| {
                        r.uid == uid
                            && r.live_primary()
                            && r.state() == KEYWARD_STATE_ENABLED
                            && r.ulong(CKA_KEYWARD_NEXT_ROTATION).is_some_and(|t| t != 0 && t as i64 <= now)
                    });
                    if !still_due {
                        return Ok(None);
                    }
                }
                let version = rows.iter().map(Row::version).max().unwrap_or(0) + 1;
                let mut ch = Changes::default();
                let mut ids = Vec::new();
                for f in &fresh {
                    let Some(base) = rows.iter().find(|r| r.class() == f.class && r.live_primary()) else {
                        return Err(Error::new(
                            CKR_KEY_HANDLE_INVALID,
                            "the key has no live primary version to rotate",
                        ));
                    };
                    base.require_intact(self)?;
                    let mut a = base.attrs.clone();
                    for (t, v) in &f.material {
                        a.insert(*t, v.clone());
                    }
                    a.insert(CKA_UNIQUE_ID, f.uid.as_bytes().to_vec());
                    a.insert(CKA_LOCAL, vec![1]);
                    // Trust is never inherited: CKA_TRUSTED needs the SO.
                    if a.contains_key(&CKA_TRUSTED) {
                        a.insert(CKA_TRUSTED, vec![0]);
                    }
                    a.insert(CKA_KEY_GEN_MECHANISM, ulong_bytes(mech));
                    if f.class != CKO_PUBLIC_KEY {
                        let sens = map_flag(&a, CKA_SENSITIVE);
                        let extr = map_flag(&a, CKA_EXTRACTABLE);
                        a.insert(CKA_ALWAYS_SENSITIVE, vec![sens as u8]);
                        a.insert(CKA_NEVER_EXTRACTABLE, vec![!extr as u8]);
                    }
                    a.insert(CKA_KEYWARD_VERSION, ulong_bytes(version));
                    a.insert(CKA_KEYWARD_PRIMARY, vec![1]);
                    a.insert(CKA_KEYWARD_STATE, ulong_bytes(KEYWARD_STATE_ENABLED));
                    a.insert(CKA_KEYWARD_DESTROY_AT, ulong_bytes(0));
                    a.remove(&CKA_KEYWARD_PRIOR_STATE);
                    a.insert(CKA_KEYWARD_ORIGIN, ulong_bytes(KEYWARD_ORIGIN_GENERATED));
                    a.insert(CKA_KEYWARD_CREATED, time_bytes(now));
                    a.insert(CKA_KEYWARD_ROTATED, ulong_bytes(0));
                    if f.class == CKO_SECRET_KEY {
                        let period = map_ulong(&a, CKA_KEYWARD_ROTATION_PERIOD).unwrap_or(0);
                        let next = if period > 0 { now.saturating_add(period as i64) } else { 0 };
                        a.insert(CKA_KEYWARD_NEXT_ROTATION, time_bytes(next));
                    }
                    let public = encode_public(&a);
                    let mac = std::cell::RefCell::new(None);
                    let id = tx.insert_object(&f.uid, &public, &f.sealed, &|id| {
                        let m = self.row_mac(id, &f.uid, &public, &f.sealed)?;
                        *mac.borrow_mut() = Some(m.clone());
                        Ok(m)
                    })?;
                    let mac = mac.into_inner();
                    ch.upserts.push(ObjectRow { id, uid: f.uid.clone(), public, sealed: f.sealed.clone(), mac });
                    ids.push((f.class, id as Handle));
                }
                for r in rows.iter_mut().filter(|r| r.live_primary() && fresh.iter().any(|f| f.class == r.class())) {
                    r.set(CKA_KEYWARD_PRIMARY, vec![0]);
                    r.set(CKA_KEYWARD_ROTATED, time_bytes(now));
                    if r.attrs.contains_key(&CKA_KEYWARD_NEXT_ROTATION) {
                        r.set(CKA_KEYWARD_NEXT_ROTATION, ulong_bytes(0));
                    }
                    write_update(self, tx, r, &mut ch)?;
                }
                if due.is_some() {
                    // Automatic rotation: recorded before the commit (see
                    // kms_purge_due).
                    let details = serde_json::json!({ "version": version, "automatic": true });
                    let key = due.and_then(|(uid, _)| rows.iter().find(|r| r.uid == uid)).map(Row::key_ref);
                    let key = key.unwrap_or_default();
                    self.audit_before_commit(&mut audit, Lifecycle::Rotated, "keyward.auto_rotate", key, details)?;
                }
                Ok(Some((ch, version, ids)))
            })?;
            drop(audit);
            match result {
                Some((ch, version, ids)) => (ch, version, ids, w),
                None => return Ok(None),
            }
        };
        self.kms_apply(ch, w)?;
        let mut handles: Vec<(CK_OBJECT_CLASS, Handle)> = ids;
        handles.sort_by_key(|(c, _)| match *c {
            CKO_PUBLIC_KEY => 0,
            _ => 1,
        });
        Ok(Some(Rotated { version: version as u64, handles: handles.into_iter().map(|(_, h)| h).collect() }))
    }

    // ---- PKCS#11 entry points -------------------------------------------------------

    /// C_GenerateKey with CKA_KEYWARD_ROTATE: rotates the managed key the
    /// template names (CKA_LABEL, and CKA_ID when the label is shared).
    /// `None` when the template asks for no rotation.
    pub fn kms_rotate_generate(&self, s: &Session, mech: &Mechanism, t: &[Attr]) -> Result<Option<Handle>> {
        let Some(name) = self.rotation_target(t, &[])? else { return Ok(None) };
        let r = self.kms_rotate_checked(s, mech, &name, &[t])?;
        r.handles.first().copied().map(Some).ok_or_else(|| Error::general("rotation made no object"))
    }

    /// C_GenerateKeyPair with CKA_KEYWARD_ROTATE in either template.
    pub fn kms_rotate_generate_pair(
        &self,
        s: &Session,
        mech: &Mechanism,
        pub_t: &[Attr],
        priv_t: &[Attr],
    ) -> Result<Option<(Handle, Handle)>> {
        let Some(name) = self.rotation_target(priv_t, pub_t)? else { return Ok(None) };
        let r = self.kms_rotate_checked(s, mech, &name, &[pub_t, priv_t])?;
        match r.handles.as_slice() {
            [p, q] => Ok(Some((*p, *q))),
            _ => Err(Error::new(CKR_KEY_TYPE_INCONSISTENT, "the key's primary has no public half to rotate")),
        }
    }

    /// The managed key a rotation template names, if it asks for rotation:
    /// by CKA_KEYWARD_KEY_ID, or by a CKA_LABEL (and CKA_ID) that exactly
    /// one live key carries (else `CKR_TEMPLATE_INCONSISTENT`).
    fn rotation_target(&self, a: &[Attr], b: &[Attr]) -> Result<Option<KeyName>> {
        let all: Vec<&Attr> = a.iter().chain(b).collect();
        let Some(rot) = all.iter().find(|x| x.ty == CKA_KEYWARD_ROTATE) else { return Ok(None) };
        if rot.value.as_slice() != [1] {
            return Err(Error::new(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_KEYWARD_ROTATE must be CK_TRUE"));
        }
        let find = |ty| all.iter().find(|x| x.ty == ty).map(|x| x.value.clone());
        let (key_id, label, id) = (find(CKA_KEYWARD_KEY_ID), find(CKA_LABEL), find(CKA_ID));
        if key_id.is_none() && label.is_none() {
            return Err(Error::new(
                CKR_TEMPLATE_INCOMPLETE,
                "a rotation names the key by CKA_KEYWARD_KEY_ID or CKA_LABEL",
            ));
        }
        self.require_user()?;
        let mut names: Vec<KeyName> = self
            .token_objects_named(key_id.as_deref(), label.as_deref())?
            .iter()
            .filter(|o| o.is_key() && copy_source(o).is_none())
            .filter(|o| key_id.as_ref().is_none_or(|k| key_id_of(o) == k.as_slice()))
            .filter(|o| label.as_ref().is_none_or(|l| o.label() == l.as_slice()))
            .filter(|o| id.as_ref().is_none_or(|i| o.get(CKA_ID) == Some(i)))
            .filter(|o| is_primary(o) && state_of(o) != KEYWARD_STATE_PENDING_DELETION)
            .map(|o| KeyName::of(o))
            .collect();
        names.sort();
        names.dedup();
        match names.len() {
            1 => Ok(names.pop()),
            0 => Err(err!(
                CKR_TEMPLATE_INCONSISTENT,
                "no live managed key labelled {:?} to rotate",
                String::from_utf8_lossy(label.as_deref().unwrap_or_default())
            )),
            n => Err(err!(
                CKR_TEMPLATE_INCONSISTENT,
                "{n} keys carry this label (and ID): name the one to rotate by CKA_KEYWARD_KEY_ID"
            )),
        }
    }

    /// A rotation through PKCS#11: every template attribute other than the
    /// rotation directive must agree with the primary it copies.
    fn kms_rotate_checked(
        &self,
        s: &Session,
        mech: &Mechanism,
        name: &KeyName,
        templates: &[&[Attr]],
    ) -> Result<Rotated> {
        let objs = self.kms_objects(name)?;
        let live: Vec<&Arc<Object>> =
            objs.iter().filter(|o| is_primary(o) && state_of(o) != KEYWARD_STATE_PENDING_DELETION).collect();
        let (p_class, q_class) = if live.iter().any(|o| o.class == CKO_SECRET_KEY) {
            (CKO_SECRET_KEY, CKO_SECRET_KEY)
        } else {
            (CKO_PUBLIC_KEY, CKO_PRIVATE_KEY)
        };
        let pair = p_class != q_class;
        if pair != (templates.len() == 2) {
            return Err(Error::new(
                CKR_TEMPLATE_INCONSISTENT,
                if pair {
                    "a key pair rotates with C_GenerateKeyPair"
                } else {
                    "a secret key rotates with C_GenerateKey"
                },
            ));
        }
        let key_type = live.first().and_then(|o| o.key_type);
        let mech_ok = match (key_type, mech.ty) {
            (Some(CKK_AES), CKM_AES_KEY_GEN) => true,
            (Some(CKK_CHACHA20), CKM_CHACHA20_KEY_GEN) => true,
            (Some(CKK_HKDF), CKM_HKDF_KEY_GEN) => true,
            (Some(kt), CKM_GENERIC_SECRET_KEY_GEN) => {
                !matches!(kt, CKK_AES | CKK_DES | CKK_DES2 | CKK_DES3) && crate::object::rules::is_secret_key_type(kt)
            }
            (Some(kt), m) if let Some((want, _)) = crate::mechanism::des::keygen(m) => kt == want,
            (Some(kt), m) if crate::mechanism::hmac::keygen_key_type(m).is_some() => {
                crate::mechanism::hmac::keygen_key_type(m) == Some(kt)
            }
            (Some(CKK_RSA), CKM_RSA_PKCS_KEY_PAIR_GEN) => true,
            (Some(CKK_EC), CKM_EC_KEY_PAIR_GEN) => true,
            (Some(CKK_EC_EDWARDS), CKM_EC_EDWARDS_KEY_PAIR_GEN) => true,
            (Some(CKK_EC_MONTGOMERY), CKM_EC_MONTGOMERY_KEY_PAIR_GEN) => true,
            (Some(CKK_ML_DSA), CKM_ML_DSA_KEY_PAIR_GEN) => true,
            (Some(CKK_ML_KEM), CKM_ML_KEM_KEY_PAIR_GEN) => true,
            _ => false,
        };
        if !mech_ok {
            return Err(err!(CKR_MECHANISM_INVALID, "mechanism 0x{:x} does not generate this key's type", mech.ty));
        }
        for (i, t) in templates.iter().enumerate() {
            let class = if i == 0 { p_class } else { q_class };
            let base = live.iter().find(|o| o.class == class);
            for a in t.iter().filter(|a| !matches!(a.ty, CKA_KEYWARD_ROTATE | CKA_KEYWARD_KEY_ID | CKA_LABEL | CKA_ID))
            {
                let same = base.is_some_and(|o| o.get(a.ty) == Some(a.value.as_slice()));
                if !same {
                    return Err(err!(
                        CKR_TEMPLATE_INCONSISTENT,
                        "attribute 0x{:x} differs from the primary version (a rotation copies the primary)",
                        a.ty
                    ));
                }
            }
        }
        let private = live.iter().any(|o| o.private);
        self.check_write(s, true, private)?;
        let details = serde_json::json!({ "key": name.display() });
        self.audit_lifecycle(
            Lifecycle::Rotated,
            "C_GenerateKey",
            Some(s.handle),
            live.first().map(|o| o.handle),
            Some(details),
            || self.kms_rotate_key(name, None, Some(mech.ty))?.ok_or_else(|| Error::general("rotation did not happen")),
        )
    }
}
