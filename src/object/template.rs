//! Template processing for new objects (create, generate, unwrap, derive,
//! copy) and attribute changes, driven by the rule table in `rules.rs`.

use super::rules::{self, *};
use super::{AttrMap, Object, Secret, ulong};
use crate::ck::*;
use crate::err;
use crate::error::{Error, Result};
use crate::types::Attr;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// How a new object comes to be; decides required attributes and the
/// token-maintained ones (CKA_LOCAL, ALWAYS_SENSITIVE, NEVER_EXTRACTABLE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// C_CreateObject: values supplied by the caller (an import).
    Create,
    /// Generated in the token with this mechanism.
    Generate(CK_MECHANISM_TYPE),
    /// C_UnwrapKey / C_DeriveKey: value came from outside the object.
    Unwrap,
    Derive(CK_MECHANISM_TYPE),
}

/// A validated new object: public attributes and secret values (plaintext,
/// to be sealed by the token for token objects).
pub struct NewObject {
    pub kind: Kinds,
    pub attrs: AttrMap,
    pub secrets: BTreeMap<CK_ATTRIBUTE_TYPE, Zeroizing<Vec<u8>>>,
}

impl NewObject {
    pub fn flag(&self, ty: CK_ATTRIBUTE_TYPE) -> bool {
        self.attrs.flag(ty)
    }
    pub fn ulong(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<CK_ULONG> {
        self.attrs.ulong(ty)
    }
    pub fn set(&mut self, ty: CK_ATTRIBUTE_TYPE, v: &[u8]) {
        self.attrs.insert(ty, v);
    }
    /// Sets a secret value (and for secret keys CKA_VALUE_LEN).
    pub fn set_secret(&mut self, ty: CK_ATTRIBUTE_TYPE, v: Zeroizing<Vec<u8>>) {
        if ty == CKA_VALUE && self.kind == SECRET {
            self.attrs.insert(CKA_VALUE_LEN, &(v.len() as CK_ULONG).to_ne_bytes());
        }
        self.secrets.insert(ty, v);
    }
}

/// Merges a template into a map, refusing conflicting duplicates.
fn merge(into: &mut AttrMap, t: &[Attr]) -> Result<()> {
    for a in t {
        match into.get(a.ty) {
            Some(v) if *v != *a.value => {
                return Err(err!(
                    CKR_TEMPLATE_INCONSISTENT,
                    "attribute 0x{:x} given twice with different values",
                    a.ty
                ));
            }
            Some(_) => {}
            None => into.insert(a.ty, &a.value),
        }
    }
    Ok(())
}

const EMPTY: &[u8] = &[];
const TRUE: &[u8] = &[1];
const FALSE: &[u8] = &[0];
const ULONG_0: &[u8] = &[0; std::mem::size_of::<CK_ULONG>()];

fn bool_v(b: bool) -> &'static [u8] {
    if b { TRUE } else { FALSE }
}

/// Token defaults by kind (the spec leaves these token-specific). Keys are
/// private and sensitive, and unextractable unless the template says so.
fn defaults(kind: Kinds) -> Vec<(CK_ATTRIBUTE_TYPE, &'static [u8])> {
    let mut d = Vec::with_capacity(32);
    d.extend([
        (CKA_TOKEN, bool_v(false)),
        (CKA_PRIVATE, bool_v(kind & (SECRET | PRIV) != 0)),
        (CKA_MODIFIABLE, bool_v(true)),
        (CKA_COPYABLE, bool_v(true)),
        (CKA_DESTROYABLE, bool_v(true)),
        (CKA_LABEL, EMPTY),
    ]);
    if kind & DATA != 0 {
        d.extend([(CKA_APPLICATION, EMPTY), (CKA_OBJECT_ID, EMPTY), (CKA_VALUE, EMPTY)]);
    }
    if kind & CERT != 0 {
        d.extend([
            (CKA_TRUSTED, bool_v(false)),
            (CKA_CERTIFICATE_CATEGORY, ULONG_0),
            (CKA_ID, EMPTY),
            (CKA_START_DATE, EMPTY),
            (CKA_END_DATE, EMPTY),
            (CKA_SUBJECT, EMPTY),
            (CKA_ISSUER, EMPTY),
            (CKA_SERIAL_NUMBER, EMPTY),
        ]);
    }
    if kind & KEY != 0 {
        d.extend([
            (CKA_ID, EMPTY),
            (CKA_START_DATE, EMPTY),
            (CKA_END_DATE, EMPTY),
            (CKA_DERIVE, bool_v(false)),
            (CKA_ALLOWED_MECHANISMS, EMPTY),
        ]);
    }
    if kind & (SECRET | PUB) != 0 {
        d.extend([
            (CKA_ENCRYPT, bool_v(true)),
            (CKA_VERIFY, bool_v(true)),
            (CKA_WRAP, bool_v(true)),
            (CKA_TRUSTED, bool_v(false)),
        ]);
    }
    if kind & (SECRET | PRIV) != 0 {
        d.extend([
            (CKA_SENSITIVE, bool_v(true)),
            (CKA_DECRYPT, bool_v(true)),
            (CKA_SIGN, bool_v(true)),
            (CKA_UNWRAP, bool_v(true)),
            (CKA_EXTRACTABLE, bool_v(false)),
            (CKA_WRAP_WITH_TRUSTED, bool_v(false)),
        ]);
    }
    if kind & PUB != 0 {
        d.extend([(CKA_VERIFY_RECOVER, bool_v(false)), (CKA_SUBJECT, EMPTY)]);
    }
    if kind & PRIV != 0 {
        d.extend([(CKA_SIGN_RECOVER, bool_v(false)), (CKA_ALWAYS_AUTHENTICATE, bool_v(false)), (CKA_SUBJECT, EMPTY)]);
    }
    // ML-KEM keys encapsulate/decapsulate unless told otherwise (the
    // mechanism refuses ML-DSA keys whatever these say).
    if kind == PUB_PQ {
        d.push((CKA_ENCAPSULATE, bool_v(true)));
    }
    if kind == PRIV_PQ {
        d.push((CKA_DECAPSULATE, bool_v(true)));
    }
    d
}

/// Checks one attribute against its rule for an object of `kind`.
fn check_attr(ty: CK_ATTRIBUTE_TYPE, v: &[u8], kind: Kinds) -> Result<&'static Rule> {
    let r = rules::rule(ty).ok_or_else(|| err!(CKR_ATTRIBUTE_TYPE_INVALID, "unknown attribute 0x{ty:x}"))?;
    if r.kinds & kind == 0 {
        return Err(err!(CKR_TEMPLATE_INCONSISTENT, "attribute 0x{ty:x} does not belong to this object class"));
    }
    if !rules::value_ok(r.value, v) {
        return Err(err!(CKR_ATTRIBUTE_VALUE_INVALID, "bad value for attribute 0x{ty:x}"));
    }
    Ok(r)
}

/// Validates the template of a new object and fills in defaults and the
/// token-maintained attributes. `implied` are attributes the operation fixes
/// (class and key type of a generated key); the template may repeat them
/// only with the same value.
pub fn build(template: &[Attr], implied: &[Attr], origin: Origin) -> Result<NewObject> {
    let value_bytes: usize = template.iter().chain(implied).map(|a| a.value.len()).sum();
    let mut m = AttrMap::with_capacity(template.len() + implied.len() + 36, value_bytes + 256);
    merge(&mut m, template)?;
    for a in implied {
        match m.get(a.ty) {
            Some(v) if *v != *a.value => {
                return Err(err!(CKR_TEMPLATE_INCONSISTENT, "attribute 0x{:x} conflicts with the mechanism", a.ty));
            }
            Some(_) => {}
            None => m.insert(a.ty, &a.value),
        }
    }
    let class = match m.get(CKA_CLASS) {
        None => return Err(Error::new(CKR_TEMPLATE_INCOMPLETE, "CKA_CLASS missing")),
        Some(v) => ulong(v).ok_or_else(|| Error::new(CKR_ATTRIBUTE_VALUE_INVALID, "bad CKA_CLASS"))?,
    };
    let key_type = match m.get(CKA_KEY_TYPE) {
        None => None,
        Some(v) => Some(ulong(v).ok_or_else(|| Error::new(CKR_ATTRIBUTE_VALUE_INVALID, "bad CKA_KEY_TYPE"))?),
    };
    let is_key_class = matches!(class, CKO_SECRET_KEY | CKO_PUBLIC_KEY | CKO_PRIVATE_KEY | CKO_DOMAIN_PARAMETERS);
    if is_key_class && key_type.is_none() {
        return Err(Error::new(CKR_TEMPLATE_INCOMPLETE, "CKA_KEY_TYPE missing"));
    }
    let kind = rules::kind_of(class, key_type).ok_or_else(|| {
        if matches!(class, CKO_DATA | CKO_CERTIFICATE) || is_key_class {
            err!(CKR_TEMPLATE_INCONSISTENT, "unsupported key type {:?} for class {class}", key_type)
        } else {
            err!(CKR_ATTRIBUTE_VALUE_INVALID, "unsupported object class {class}")
        }
    })?;
    if kind == CERT && m.ulong(CKA_CERTIFICATE_TYPE) != Some(CKC_X_509) {
        return Err(Error::new(CKR_TEMPLATE_INCONSISTENT, "only X.509 certificates are supported"));
    }
    let generated = matches!(origin, Origin::Generate(_));
    // Secret values can only come from the template or the mechanism
    // (defaults and token-maintained attributes are public), so they are
    // noted here, with each attribute's rule at hand.
    let mut secret_types: Vec<CK_ATTRIBUTE_TYPE> = Vec::new();
    for (ty, v) in m.iter() {
        let r = check_attr(ty, v, kind)?;
        if rules::rule_is_secret(r, kind) {
            secret_types.push(ty);
        }
        if r.flags & TOKEN_SET != 0 {
            return Err(err!(CKR_ATTRIBUTE_READ_ONLY, "attribute 0x{ty:x} is set by the token"));
        }
        if r.flags & SO_ONLY != 0 && v.first() == Some(&1) {
            return Err(err!(CKR_ATTRIBUTE_READ_ONLY, "attribute 0x{ty:x} can only be set by the SO"));
        }
        let supplied_by_mechanism = implied.iter().any(|a| a.ty == ty);
        if generated && r.flags & NOT_ON_GENERATE != 0 && !supplied_by_mechanism {
            return Err(err!(CKR_TEMPLATE_INCONSISTENT, "attribute 0x{ty:x} is computed by key generation"));
        }
    }
    let required = |r: &Rule| match origin {
        Origin::Create => r.required_create,
        Origin::Generate(_) => r.required_generate,
        Origin::Unwrap | Origin::Derive(_) => 0,
    };
    for r in rules::RULES {
        if required(r) & kind != 0 && !m.contains(r.ty) {
            return Err(err!(CKR_TEMPLATE_INCOMPLETE, "attribute 0x{:x} is required", r.ty));
        }
    }
    for (ty, v) in defaults(kind) {
        m.insert_absent(ty, v);
    }
    // Token-maintained attributes.
    if kind & KEY != 0 {
        let (local, mech) = match origin {
            Origin::Generate(mech) => (true, mech),
            Origin::Derive(mech) => (false, mech),
            _ => (false, CK_UNAVAILABLE_INFORMATION),
        };
        m.insert(CKA_LOCAL, bool_v(local));
        m.insert(CKA_KEY_GEN_MECHANISM, &mech.to_ne_bytes());
        // Lifecycle attributes: version 1, primary, origin, times (src/kms).
        crate::object::vendor::stamp_new(&mut m, kind, origin, crate::time::now())?;
    }
    if kind & DOMAIN != 0 {
        m.insert(CKA_LOCAL, bool_v(generated));
    }
    if kind & (SECRET | PRIV) != 0 {
        let from_token = generated;
        let sens = m.flag(CKA_SENSITIVE);
        let extr = m.flag(CKA_EXTRACTABLE);
        m.insert(CKA_ALWAYS_SENSITIVE, bool_v(from_token && sens));
        m.insert(CKA_NEVER_EXTRACTABLE, bool_v(from_token && !extr));
    }
    // Split secrets from public values (the map wipes what it gives up).
    let mut secrets = BTreeMap::new();
    for t in secret_types {
        if let Some(v) = m.get(t) {
            secrets.insert(t, Zeroizing::new(v.to_vec()));
        }
        m.remove(t);
    }
    let mut n = NewObject { kind, attrs: m, secrets };
    if kind == SECRET {
        let given_len = n.attrs.get(CKA_VALUE_LEN).map(|v| ulong(v).unwrap_or(0));
        n.attrs.remove(CKA_VALUE_LEN);
        match (origin, n.secrets.get(&CKA_VALUE).map(|v| v.len())) {
            (Origin::Generate(_), _) => {
                if let Some(l) = given_len {
                    n.attrs.insert(CKA_VALUE_LEN, &l.to_ne_bytes());
                }
            }
            (_, Some(len)) => {
                if given_len.is_some_and(|l| l as usize != len) {
                    return Err(Error::new(CKR_TEMPLATE_INCONSISTENT, "CKA_VALUE_LEN does not match CKA_VALUE"));
                }
                n.attrs.insert(CKA_VALUE_LEN, &(len as CK_ULONG).to_ne_bytes());
                check_secret_value(
                    key_type.unwrap_or(CKK_GENERIC_SECRET),
                    n.secrets.get(&CKA_VALUE).map(|v| v.as_slice()).unwrap_or(&[]),
                )?;
            }
            (_, None) => {
                if let Some(l) = given_len {
                    n.attrs.insert(CKA_VALUE_LEN, &l.to_ne_bytes());
                }
            }
        }
    }
    check_always_authenticate(|ty| n.flag(ty))?;
    if kind == PUB_RSA && origin == Origin::Create {
        n.attrs.remove(CKA_MODULUS_BITS);
        if let Some(m) = n.attrs.get(CKA_MODULUS) {
            let bits = modulus_bits(m) as CK_ULONG;
            n.attrs.insert(CKA_MODULUS_BITS, &bits.to_ne_bytes());
        }
    }
    Ok(n)
}

/// CKA_ALWAYS_AUTHENTICATE asks for the user's PIN at every use of the key:
/// meaningless (and refused) on an object readable without a login.
fn check_always_authenticate(flag: impl Fn(CK_ATTRIBUTE_TYPE) -> bool) -> Result<()> {
    if flag(CKA_ALWAYS_AUTHENTICATE) && !flag(CKA_PRIVATE) {
        return Err(Error::new(CKR_TEMPLATE_INCONSISTENT, "CKA_ALWAYS_AUTHENTICATE needs CKA_PRIVATE = true"));
    }
    Ok(())
}

fn map_flag(m: &BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>) -> impl Fn(CK_ATTRIBUTE_TYPE) -> bool + '_ {
    |ty| m.get(&ty).is_some_and(|v| v.first() == Some(&1))
}

/// Bit length of a big-endian unsigned integer.
pub fn modulus_bits(m: &[u8]) -> usize {
    let m = match m.iter().position(|b| *b != 0) {
        Some(i) => &m[i..],
        None => return 0,
    };
    m.len() * 8 - m[0].leading_zeros() as usize
}

/// Validates a secret key value on import: AES keys are 16/24/32 bytes;
/// DES, DES2 and DES3 keys 8, 16 and 24 (parity is not checked: DES
/// ignores those bits, and SoftHSMv2 accepts any); generic secrets are
/// non-empty. (Whether a valid value is acceptable, e.g.
/// one repeated byte, is the key policy's: `object::policy`.)
pub fn check_secret_value(key_type: CK_KEY_TYPE, v: &[u8]) -> Result<()> {
    match key_type {
        CKK_AES => {
            if !matches!(v.len(), 16 | 24 | 32) {
                return Err(err!(CKR_ATTRIBUTE_VALUE_INVALID, "AES key of {} bytes (16, 24 or 32 expected)", v.len()));
            }
        }
        CKK_CHACHA20 => {
            if v.len() != 32 {
                return Err(err!(CKR_ATTRIBUTE_VALUE_INVALID, "ChaCha20 key of {} bytes (32 expected)", v.len()));
            }
        }
        CKK_DES | CKK_DES2 | CKK_DES3 => {
            let want = match key_type {
                CKK_DES => 8,
                CKK_DES2 => 16,
                _ => 24,
            };
            if v.len() != want {
                return Err(err!(CKR_ATTRIBUTE_VALUE_INVALID, "DES key of {} bytes ({want} expected)", v.len()));
            }
        }
        _ => {
            if v.is_empty() {
                return Err(Error::new(CKR_ATTRIBUTE_VALUE_INVALID, "empty secret key"));
            }
        }
    }
    Ok(())
}

/// Applies a C_SetAttributeValue template to an object; returns the new
/// public attribute map (secret values are fixed after creation).
pub fn apply_set(obj: &Object, template: &[Attr], is_so: bool) -> Result<BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>> {
    if !obj.flag(CKA_MODIFIABLE) {
        return Err(Error::new(CKR_ATTRIBUTE_READ_ONLY, "object is not modifiable (CKA_MODIFIABLE is false)"));
    }
    let mut m = obj.attrs().to_map();
    let mut seen = AttrMap::default();
    merge(&mut seen, template)?;
    for (ty, v) in seen.iter() {
        let r = check_attr(ty, v, obj.kind).map_err(|e| {
            if e.rv() == CKR_TEMPLATE_INCONSISTENT {
                Error::new(CKR_ATTRIBUTE_TYPE_INVALID, e.reason().to_string())
            } else {
                e
            }
        })?;
        check_change(obj, r, v, is_so, false)?;
        if rules::is_secret(ty, obj.kind) {
            return Err(err!(CKR_ATTRIBUTE_READ_ONLY, "secret attribute 0x{ty:x} cannot be changed"));
        }
        m.insert(ty, v.to_vec());
    }
    check_always_authenticate(map_flag(&m))?;
    Ok(m)
}

/// The change rules shared by set and copy.
fn check_change(obj: &Object, r: &Rule, v: &[u8], is_so: bool, copying: bool) -> Result<()> {
    let cur = obj.get(r.ty);
    let ty = r.ty;
    if r.flags & TOKEN_SET != 0 {
        return Err(err!(CKR_ATTRIBUTE_READ_ONLY, "attribute 0x{ty:x} is maintained by the token"));
    }
    if r.flags & FIXED != 0 && !(copying && r.flags & COPY_CHANGEABLE != 0) && cur != Some(v) {
        return Err(err!(CKR_ATTRIBUTE_READ_ONLY, "attribute 0x{ty:x} cannot be changed"));
    }
    let cur_true = cur.is_some_and(|c| c.first() == Some(&1));
    let new_true = v.first() == Some(&1);
    if r.flags & TO_TRUE_ONLY != 0 && cur_true && !new_true {
        return Err(err!(CKR_ATTRIBUTE_READ_ONLY, "attribute 0x{ty:x} can only change from false to true"));
    }
    if r.flags & TO_FALSE_ONLY != 0 && !cur_true && new_true {
        return Err(err!(CKR_ATTRIBUTE_READ_ONLY, "attribute 0x{ty:x} can only change from true to false"));
    }
    if r.flags & SO_ONLY != 0 && new_true && !cur_true && !is_so {
        return Err(err!(CKR_ATTRIBUTE_READ_ONLY, "attribute 0x{ty:x} can only be set by the SO"));
    }
    Ok(())
}

/// Applies a C_CopyObject template; returns the new public attributes (the
/// copy keeps the original's secret values).
pub fn apply_copy(obj: &Object, template: &[Attr], is_so: bool) -> Result<BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>> {
    if !obj.flag(CKA_COPYABLE) {
        return Err(Error::new(CKR_ACTION_PROHIBITED, "object is not copyable (CKA_COPYABLE is false)"));
    }
    let mut m = obj.attrs().to_map();
    let mut seen = AttrMap::default();
    merge(&mut seen, template)?;
    for (ty, v) in seen.iter() {
        let r = check_attr(ty, v, obj.kind)?;
        let modifiable = obj.flag(CKA_MODIFIABLE);
        if r.flags & COPY_CHANGEABLE == 0 && !modifiable && obj.get(ty) != Some(v) {
            return Err(err!(
                CKR_ATTRIBUTE_READ_ONLY,
                "attribute 0x{ty:x} cannot change in a copy of an unmodifiable object"
            ));
        }
        check_change(obj, r, v, is_so, true)?;
        if rules::is_secret(ty, obj.kind) {
            return Err(err!(CKR_ATTRIBUTE_READ_ONLY, "secret attribute 0x{ty:x} cannot be changed"));
        }
        m.insert(ty, v.to_vec());
    }
    m.remove(&CKA_UNIQUE_ID);
    check_always_authenticate(map_flag(&m))?;
    Ok(m)
}

/// Converts an object's secrets for a copy (plaintext supplied by the caller).
pub fn plain_secrets(
    obj: &Object,
    unseal: &crate::object::Unseal<'_>,
) -> Result<BTreeMap<CK_ATTRIBUTE_TYPE, Zeroizing<Vec<u8>>>> {
    let mut out = BTreeMap::new();
    for (ty, s) in obj.secrets() {
        let p = match s {
            Secret::Plain(p) => p.clone(),
            Secret::Sealed(b) => unseal(&obj.uid, *ty, b)?,
        };
        out.insert(*ty, p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aes_template(v: &[u8]) -> Vec<Attr> {
        vec![
            Attr::ulong(CKA_CLASS, CKO_SECRET_KEY),
            Attr::ulong(CKA_KEY_TYPE, CKK_AES),
            Attr::new(CKA_VALUE, v.to_vec()),
        ]
    }

    #[test]
    fn create_secret_key_fills_defaults_and_splits_secret() {
        let n = build(&aes_template(&(1..=16).collect::<Vec<u8>>()), &[], Origin::Create).unwrap();
        assert!(n.secrets.contains_key(&CKA_VALUE));
        assert!(!n.attrs.contains(CKA_VALUE));
        assert_eq!(n.ulong(CKA_VALUE_LEN), Some(16));
        assert!(n.flag(CKA_SENSITIVE));
        assert!(!n.flag(CKA_LOCAL));
        assert!(!n.flag(CKA_ALWAYS_SENSITIVE));
    }

    #[test]
    fn defaults_and_stamps_are_public() {
        // build() collects secret values before the defaults are added.
        for kind in [DATA, CERT, SECRET, PUB_RSA, PUB_EC, PRIV_RSA, PRIV_EC, PUB_PQ, PRIV_PQ] {
            for (ty, _) in defaults(kind) {
                assert!(!rules::is_secret(ty, kind), "default 0x{ty:x} of kind {kind} is secret");
            }
            let mut m = AttrMap::default();
            crate::object::vendor::stamp_new(&mut m, kind, Origin::Generate(CKM_AES_KEY_GEN), 1).unwrap();
            assert!(m.iter().all(|(ty, _)| !rules::is_secret(ty, kind)));
        }
    }

    #[test]
    fn template_errors() {
        let rv = |t: &[Attr]| build(t, &[], Origin::Create).err().map(|e| e.rv());
        assert_eq!(rv(&[Attr::ulong(CKA_KEY_TYPE, CKK_AES)]), Some(CKR_TEMPLATE_INCOMPLETE));
        // A repeated-byte AES key is a valid value (the key policy decides
        // whether the token takes it); a wrong length is not.
        let mut t = aes_template(&[7u8; 16]);
        assert_eq!(rv(&t), None);
        t = aes_template(&[7u8; 15]);
        assert_eq!(rv(&t), Some(CKR_ATTRIBUTE_VALUE_INVALID));
        t = aes_template(&(0..16).collect::<Vec<u8>>());
        t.push(Attr::new(0x7fff_0001, vec![1]));
        assert_eq!(rv(&t), Some(CKR_ATTRIBUTE_TYPE_INVALID));
        t = aes_template(&(0..16).collect::<Vec<u8>>());
        t.push(Attr::bool(CKA_LOCAL, true));
        assert_eq!(rv(&t), Some(CKR_ATTRIBUTE_READ_ONLY));
        t = aes_template(&(0..16).collect::<Vec<u8>>());
        t.push(Attr::bool(CKA_TOKEN, true));
        t.push(Attr::bool(CKA_TOKEN, false));
        assert_eq!(rv(&t), Some(CKR_TEMPLATE_INCONSISTENT));
        t = aes_template(&(0..16).collect::<Vec<u8>>());
        t.push(Attr::new(CKA_SENSITIVE, vec![1, 2]));
        assert_eq!(rv(&t), Some(CKR_ATTRIBUTE_VALUE_INVALID));
    }

    #[test]
    fn generate_marks_local_and_always_sensitive() {
        let n = build(
            &[Attr::ulong(CKA_VALUE_LEN, 32)],
            &[Attr::ulong(CKA_CLASS, CKO_SECRET_KEY), Attr::ulong(CKA_KEY_TYPE, CKK_AES)],
            Origin::Generate(CKM_AES_KEY_GEN),
        )
        .unwrap();
        assert!(n.flag(CKA_LOCAL));
        assert!(n.flag(CKA_ALWAYS_SENSITIVE));
        assert!(n.flag(CKA_NEVER_EXTRACTABLE));
        let e = build(
            &[Attr::new(CKA_VALUE, vec![1; 16])],
            &[Attr::ulong(CKA_CLASS, CKO_SECRET_KEY), Attr::ulong(CKA_KEY_TYPE, CKK_AES)],
            Origin::Generate(CKM_AES_KEY_GEN),
        );
        assert_eq!(e.err().map(|e| e.rv()), Some(CKR_TEMPLATE_INCONSISTENT));
    }

    #[test]
    fn sensitive_and_extractable_transitions() {
        let n =
            build(&aes_template(&(0..16).collect::<Vec<u8>>()), &[Attr::bool(CKA_EXTRACTABLE, true)], Origin::Create)
                .unwrap();
        let secrets = n.secrets.into_iter().map(|(k, v)| (k, Secret::Plain(v))).collect();
        let o = Object::new(1, "u".into(), None, n.attrs, secrets).unwrap();
        assert_eq!(
            apply_set(&o, &[Attr::bool(CKA_SENSITIVE, false)], false).err().map(|e| e.rv()),
            Some(CKR_ATTRIBUTE_READ_ONLY)
        );
        assert!(apply_set(&o, &[Attr::bool(CKA_EXTRACTABLE, false)], false).is_ok());
        assert_eq!(
            apply_set(&o, &[Attr::bool(CKA_CLASS, true)], false).err().map(|e| e.rv()),
            Some(CKR_ATTRIBUTE_VALUE_INVALID)
        );
        assert_eq!(
            apply_set(&o, &[Attr::bool(CKA_LOCAL, true)], false).err().map(|e| e.rv()),
            Some(CKR_ATTRIBUTE_READ_ONLY)
        );
        assert_eq!(
            apply_set(&o, &[Attr::bool(CKA_TRUSTED, true)], false).err().map(|e| e.rv()),
            Some(CKR_ATTRIBUTE_READ_ONLY)
        );
        assert!(apply_set(&o, &[Attr::bool(CKA_TRUSTED, true)], true).is_ok());
    }
}
