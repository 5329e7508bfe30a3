//! Objects and their attributes: the in-memory form of a PKCS#11 object,
//! template validation against the declarative rules (`rules.rs`), reads,
//! writes, copies and matching. Knows nothing of sessions or SQLite: the
//! token layer decides visibility and persistence.

pub mod attrmap;
pub mod policy;
pub mod profile;
pub mod prototype;
mod purpose;
pub mod rules;
pub mod template;
pub mod vendor;

pub use purpose::Purpose;

use crate::ck::*;
use crate::crypto::SecretKey;
use crate::error::{Error, Result};
use crate::types::{AttrValue, Handle};
pub use attrmap::AttrMap;
use rules::Kinds;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use zeroize::Zeroizing;

/// A secret attribute value: plaintext (session objects, objects being
/// created) or sealed under the token master key (token objects at rest and
/// in the cache until a logged-in user needs them).
#[derive(Clone)]
pub enum Secret {
    Plain(Zeroizing<Vec<u8>>),
    Sealed(Vec<u8>),
}

/// Opens a sealed secret attribute: (object uid, attribute type, sealed bytes).
pub type Unseal<'a> = dyn Fn(&str, CK_ATTRIBUTE_TYPE, &[u8]) -> Result<Zeroizing<Vec<u8>>> + 'a;

/// Parsed key material ready for the engine, cached per object for the login.
pub enum KeyMaterial {
    Secret(SecretKey),
    RsaPrivate(crate::crypto::rsa::RsaPrivate),
    RsaPublic(crate::crypto::rsa::RsaPublic),
    EcPrivate(crate::crypto::ec::EcPrivate),
    EcPublic(crate::crypto::ec::EcPublic),
    /// Ed25519 or X25519 (CKK_EC_EDWARDS, CKK_EC_MONTGOMERY).
    OkpPrivate(crate::crypto::okp::OkpPrivate),
    OkpPublic(crate::crypto::okp::OkpPublic),
    // Legacy (`[policy] allow_dsa`, `allow_dh`).
    DsaPrivate(std::sync::Arc<crate::crypto::dsa::DsaKey>),
    DsaPublic(std::sync::Arc<crate::crypto::dsa::DsaKey>),
    DhPrivate(crate::crypto::dh::DhPrivate),
    /// PKCS#11 3.2 post-quantum keys (CKK_ML_DSA, CKK_ML_KEM).
    MlDsaPrivate(crate::crypto::pq::MlDsaPrivate),
    MlDsaPublic(crate::crypto::pq::MlDsaPublic),
    MlKemPrivate(crate::crypto::pq::MlKemPrivate),
    MlKemPublic(crate::crypto::pq::MlKemPublic),
}

/// Whether the stored row of a token object passed its integrity check
/// (`token::integrity`). Objects built in this process are `Verified`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Integrity {
    Verified,
    /// The key that checks the row is not available yet (nobody has logged
    /// in since the process started and no external KEK is configured):
    /// the object may be listed and its public attributes read, not used.
    Unverified,
    /// The row failed its check (edited, swapped, or unbound in a bound
    /// store); the reason. Every use is refused with `CKR_DEVICE_ERROR`.
    Failed(Arc<str>),
}

/// One object. Immutable once built: a change builds a new `Object` and the
/// token swaps it in, so readers holding an `Arc<Object>` see a consistent
/// snapshot.
pub struct Object {
    pub handle: Handle,
    pub uid: String,
    pub kind: Kinds,
    pub class: CK_OBJECT_CLASS,
    pub key_type: Option<CK_KEY_TYPE>,
    pub token: bool,
    pub private: bool,
    /// The session that owns a session object.
    pub owner: Option<Handle>,
    attrs: AttrMap,
    /// Sorted by type (usually one entry: a tree node would be ~450 bytes).
    secrets: Box<[(CK_ATTRIBUTE_TYPE, Secret)]>,
    material: RwLock<Option<Arc<KeyMaterial>>>,
    /// The token's login epoch in which this process last handed the
    /// object's handle to the application (find, create, generate ...; 0:
    /// never): a private object's handle handed out is valid in that epoch
    /// only (C_Logout invalidates the handles of private objects, even
    /// after a new login).
    pub(crate) issued_in: std::sync::atomic::AtomicU64,
    /// An enabled primary key version without a validity window: the
    /// lifecycle rules of `kms::check_use` have nothing to refuse (decided
    /// once here instead of four attribute lookups per key use).
    unrestricted: bool,
    /// The object carries CKA_KEYWARD_SEAL: its secrets are sealed under a
    /// data key of its own, held by its grantees only (token::grants).
    dek_sealed: bool,
    integrity: Integrity,
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Object(handle {}, uid {}, class {})", self.handle, self.uid, self.class)
    }
}

pub fn ulong(v: &[u8]) -> Option<CK_ULONG> {
    Some(CK_ULONG::from_ne_bytes(v.try_into().ok()?))
}

pub fn ulong_bytes(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

impl Object {
    /// Builds an object from its public attributes and its secret values.
    /// `attrs` must contain CKA_CLASS (and CKA_KEY_TYPE for keys).
    pub fn new(
        handle: Handle,
        uid: String,
        owner: Option<Handle>,
        attrs: AttrMap,
        secrets: BTreeMap<CK_ATTRIBUTE_TYPE, Secret>,
    ) -> Result<Object> {
        Object::from_parts(handle, uid, owner, attrs, secrets.into_iter().collect())
    }

    /// [`Object::new`] from the compact attribute form (store loads).
    pub fn from_parts(
        handle: Handle,
        uid: String,
        owner: Option<Handle>,
        mut attrs: AttrMap,
        mut secrets: Vec<(CK_ATTRIBUTE_TYPE, Secret)>,
    ) -> Result<Object> {
        attrs.compact();
        secrets.sort_by_key(|(t, _)| *t);
        secrets.dedup_by_key(|(t, _)| *t);
        let secrets = secrets.into_boxed_slice();
        let class = attrs.get(CKA_CLASS).and_then(ulong).ok_or_else(|| Error::device("object without CKA_CLASS"))?;
        let key_type = attrs.get(CKA_KEY_TYPE).and_then(ulong);
        let kind = rules::kind_of(class, key_type).ok_or_else(|| Error::device("object of unknown kind"))?;
        let flag = |t| attrs.get(t).is_some_and(|v| v.first() == Some(&1));
        let unrestricted = {
            use crate::object::vendor::{CKA_KEYWARD_PRIMARY, CKA_KEYWARD_STATE, KEYWARD_STATE_ENABLED};
            let dated = |t| attrs.get(t).is_some_and(|d| d.len() == 8);
            attrs.get(CKA_KEYWARD_STATE).and_then(ulong).unwrap_or(KEYWARD_STATE_ENABLED) == KEYWARD_STATE_ENABLED
                && attrs.get(CKA_KEYWARD_PRIMARY).is_none_or(|v| v.first() == Some(&1))
                && !dated(CKA_START_DATE)
                && !dated(CKA_END_DATE)
        };
        let dek_sealed = attrs.get(crate::ck::CKA_KEYWARD_SEAL).is_some();
        Ok(Object {
            handle,
            uid,
            kind,
            class,
            key_type,
            token: flag(CKA_TOKEN),
            private: flag(CKA_PRIVATE),
            owner,
            attrs,
            secrets,
            material: RwLock::new(None),
            issued_in: std::sync::atomic::AtomicU64::new(0),
            unrestricted,
            dek_sealed,
            integrity: Integrity::Verified,
        })
    }

    /// The object with the result of its row's integrity check.
    pub fn with_integrity(mut self, integrity: Integrity) -> Object {
        self.integrity = integrity;
        self
    }

    pub fn integrity(&self) -> &Integrity {
        &self.integrity
    }

    /// The id of the data key this object is sealed under (its
    /// CKA_KEYWARD_SEAL); `None`: sealed under the token master key.
    pub fn seal_id(&self) -> Option<&[u8]> {
        if self.dek_sealed { self.attrs.get(crate::ck::CKA_KEYWARD_SEAL) } else { None }
    }

    /// See the field: no lifecycle rule can refuse a use of this key.
    pub fn unrestricted(&self) -> bool {
        self.unrestricted
    }

    pub fn attrs(&self) -> &AttrMap {
        &self.attrs
    }

    /// Secret attributes, sorted by type.
    pub fn secrets(&self) -> &[(CK_ATTRIBUTE_TYPE, Secret)] {
        &self.secrets
    }

    fn secret_entry(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<&Secret> {
        let i = self.secrets.binary_search_by_key(&ty, |(t, _)| *t).ok()?;
        self.secrets.get(i).map(|(_, s)| s)
    }

    pub fn get(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<&[u8]> {
        self.attrs.get(ty)
    }

    /// A boolean attribute (absent = false).
    pub fn flag(&self, ty: CK_ATTRIBUTE_TYPE) -> bool {
        self.get(ty).is_some_and(|v| v.first() == Some(&1))
    }

    pub fn ulong(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<CK_ULONG> {
        self.get(ty).and_then(ulong)
    }

    pub fn label(&self) -> &[u8] {
        self.get(CKA_LABEL).unwrap_or(&[])
    }

    pub fn is_key(&self) -> bool {
        self.kind & rules::KEY != 0
    }

    /// Whether secret values may leave the token in the clear.
    pub fn secrets_readable(&self) -> bool {
        !self.flag(CKA_SENSITIVE) && self.flag(CKA_EXTRACTABLE)
    }

    /// Approximate size in bytes (C_GetObjectSize).
    pub fn size(&self) -> usize {
        let s: usize = self
            .secrets
            .iter()
            .map(|(_, s)| match s {
                Secret::Plain(p) => p.len(),
                Secret::Sealed(b) => b.len(),
            })
            .sum();
        self.attrs.value_bytes() + s + 16 * (self.attrs.len() + self.secrets.len())
    }

    /// Template match for C_FindObjects: every entry equal. Secret
    /// attributes never match (a search must not become an oracle).
    pub fn matches(&self, template: &[crate::types::Attr]) -> bool {
        template.iter().all(|a| self.attrs.get(a.ty).is_some_and(|v| *v == a.value))
    }

    /// Answers C_GetAttributeValue for one type. `unseal` opens a sealed
    /// secret (fails when nobody is logged in).
    pub fn read(&self, ty: CK_ATTRIBUTE_TYPE, unseal: &crate::object::Unseal<'_>) -> AttrValue {
        if let Some(v) = self.attrs.get(ty) {
            return AttrValue::Value(v.to_vec());
        }
        match self.secret_entry(ty) {
            None => AttrValue::Invalid,
            Some(_) if !self.secrets_readable() => AttrValue::Sensitive,
            Some(Secret::Plain(p)) => AttrValue::Value(p.to_vec()),
            Some(Secret::Sealed(b)) => match unseal(&self.uid, ty, b) {
                Ok(p) => AttrValue::Value(p.to_vec()),
                Err(_) => AttrValue::Sensitive,
            },
        }
    }

    /// Whether the object holds the secret attribute `ty` (sealed or not).
    pub fn has_secret(&self, ty: CK_ATTRIBUTE_TYPE) -> bool {
        self.secret_entry(ty).is_some()
    }

    /// The plaintext of a secret attribute.
    pub fn secret(&self, ty: CK_ATTRIBUTE_TYPE, unseal: &crate::object::Unseal<'_>) -> Result<Zeroizing<Vec<u8>>> {
        match self.secret_entry(ty) {
            Some(Secret::Plain(p)) => Ok(p.clone()),
            Some(Secret::Sealed(b)) => unseal(&self.uid, ty, b),
            None => Err(crate::err!(CKR_GENERAL_ERROR, "object {} has no secret 0x{ty:x}", self.uid)),
        }
    }

    /// The cached engine material, if built.
    pub fn cached_material(&self) -> Option<Arc<KeyMaterial>> {
        self.material.read().ok().and_then(|m| m.clone())
    }

    pub fn cache_material(&self, m: Arc<KeyMaterial>) {
        if let Ok(mut g) = self.material.write() {
            *g = Some(m);
        }
    }

    /// Drops cached plaintext material (logout, finalize).
    pub fn forget_material(&self) {
        if let Ok(mut g) = self.material.write() {
            *g = None;
        }
    }
}
