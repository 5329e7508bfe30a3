//! The token side of the PKCS#11 3.2 post-quantum keys, CKK_ML_DSA and
//! CKK_ML_KEM (object kinds PUB_PQ / PRIV_PQ): engine material from the
//! attributes, key-pair generation, import validation (C_CreateObject,
//! unwrap, `keyward key import`), PKCS#8, and C_EncapsulateKey /
//! C_DecapsulateKey. `token::asym` dispatches here.
//!
//! Attributes (PKCS#11 3.2 §6.67, §6.68): CKA_PARAMETER_SET on both halves;
//! the public key's CKA_VALUE is the FIPS 204 pkEncode / FIPS 203 ek; the
//! private key holds CKA_SEED (ξ, or d || z) when known and CKA_VALUE (the
//! expanded skEncode / dk), both secret. Generated keys carry both; an
//! imported key may carry either (both given must agree).

use super::Token;
use super::session::Session;
use crate::ck::*;
use crate::crypto::CryptoError;
use crate::crypto::pq::{MlDsa, MlDsaPrivate, MlDsaPublic, MlKem, MlKemPrivate, MlKemPublic};
use crate::err;
use crate::error::{Error, Result};
use crate::mechanism::pq as mech_pq;
use crate::object::rules::{PRIV_PQ, PUB_PQ, SECRET};
use crate::object::template::{self, NewObject, Origin};
use crate::object::{KeyMaterial, Object, Purpose, Unseal};
use crate::types::*;
use zeroize::Zeroizing;

fn invalid_key(e: CryptoError) -> Error {
    err!(CKR_ATTRIBUTE_VALUE_INVALID, "post-quantum key material refused by validation ({e:?})")
}

/// A post-quantum parameter set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Set {
    Dsa(MlDsa),
    Kem(MlKem),
}

impl Set {
    fn of(key_type: Option<CK_KEY_TYPE>, v: CK_ULONG) -> Result<Set> {
        let s = match key_type {
            Some(CKK_ML_DSA) => mech_pq::ml_dsa_set(v).map(Set::Dsa),
            Some(CKK_ML_KEM) => mech_pq::ml_kem_set(v).map(Set::Kem),
            _ => return Err(Error::general("not a post-quantum key type")),
        };
        s.ok_or_else(|| err!(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_PARAMETER_SET {v} is not one of this key type's"))
    }
    fn value(self) -> CK_ULONG {
        match self {
            Set::Dsa(a) => mech_pq::ml_dsa_value(a),
            Set::Kem(a) => mech_pq::ml_kem_value(a),
        }
    }
    fn public_len(self) -> usize {
        match self {
            Set::Dsa(a) => a.public_len(),
            Set::Kem(a) => a.public_len(),
        }
    }
    fn private_len(self) -> usize {
        match self {
            Set::Dsa(a) => a.private_len(),
            Set::Kem(a) => a.private_len(),
        }
    }
    fn all(key_type: Option<CK_KEY_TYPE>) -> Vec<Set> {
        match key_type {
            Some(CKK_ML_DSA) => MlDsa::ALL.into_iter().map(Set::Dsa).collect(),
            Some(CKK_ML_KEM) => MlKem::ALL.into_iter().map(Set::Kem).collect(),
            _ => Vec::new(),
        }
    }
}

fn set_of_object(obj: &Object) -> Result<Set> {
    let v = obj.ulong(CKA_PARAMETER_SET).ok_or_else(|| Error::device("post-quantum key without CKA_PARAMETER_SET"))?;
    Set::of(obj.key_type, v)
}

/// Engine material of a CKK_ML_DSA / CKK_ML_KEM object.
pub fn material(obj: &Object, unseal: &Unseal<'_>) -> Result<KeyMaterial> {
    let set = set_of_object(obj)?;
    if obj.kind == PUB_PQ {
        let v = obj.get(CKA_VALUE).ok_or_else(|| Error::device("public key without CKA_VALUE"))?;
        return Ok(match set {
            Set::Dsa(a) => KeyMaterial::MlDsaPublic(MlDsaPublic::from_bytes(a, v).map_err(invalid_key)?),
            Set::Kem(a) => KeyMaterial::MlKemPublic(MlKemPublic::from_bytes(a, v).map_err(invalid_key)?),
        });
    }
    let seed = obj.has_secret(CKA_SEED).then(|| obj.secret(CKA_SEED, unseal)).transpose()?;
    let value = obj.has_secret(CKA_VALUE).then(|| obj.secret(CKA_VALUE, unseal)).transpose()?;
    let (s, v) = (seed.as_deref().map(|x| &x[..]), value.as_deref().map(|x| &x[..]));
    Ok(match set {
        Set::Dsa(a) => KeyMaterial::MlDsaPrivate(MlDsaPrivate::from_parts(a, s, v).map_err(invalid_key)?),
        Set::Kem(a) => KeyMaterial::MlKemPrivate(MlKemPrivate::from_parts(a, s, v).map_err(invalid_key)?),
    })
}

/// The ML-DSA sign/verify operation, or `None` when neither the key nor
/// the mechanism is ML-DSA (another family's dispatch decides).
pub fn signer(m: &KeyMaterial, mech: &Mechanism, sign: bool) -> Option<Result<Box<dyn crate::mechanism::Signer>>> {
    let is_key = matches!(m, KeyMaterial::MlDsaPrivate(_) | KeyMaterial::MlDsaPublic(_));
    let is_mech = mech_pq::is_ml_dsa(mech.ty);
    if !is_key && !is_mech {
        return None;
    }
    Some(match (m, sign) {
        (KeyMaterial::MlDsaPrivate(k), true) if is_mech => mech_pq::signer(mech, k),
        (KeyMaterial::MlDsaPublic(k), false) if is_mech => mech_pq::verifier(mech, k),
        _ => Err(err!(CKR_KEY_TYPE_INCONSISTENT, "mechanism 0x{:x} does not fit this key", mech.ty)),
    })
}

fn set_private(n: &mut NewObject, set: Set, seed: Option<&[u8]>, expanded: &[u8], spki: &[u8]) {
    n.attrs.insert_ulong(CKA_PARAMETER_SET, set.value());
    if let Some(s) = seed {
        n.set_secret(CKA_SEED, Zeroizing::new(s.to_vec()));
    }
    n.set_secret(CKA_VALUE, Zeroizing::new(expanded.to_vec()));
    n.set(CKA_PUBLIC_KEY_INFO, spki);
}

fn fill_private(n: &mut NewObject, m: &KeyMaterial) -> Result<()> {
    match m {
        KeyMaterial::MlDsaPrivate(k) => {
            set_private(n, Set::Dsa(k.alg()), k.seed(), k.expanded(), &k.public().to_spki_der())
        }
        KeyMaterial::MlKemPrivate(k) => {
            set_private(n, Set::Kem(k.alg()), k.seed(), k.expanded(), &k.public().to_spki_der())
        }
        _ => return Err(Error::general("not a post-quantum private key")),
    }
    Ok(())
}

/// CKM_ML_DSA_KEY_PAIR_GEN / CKM_ML_KEM_KEY_PAIR_GEN: the parameter set
/// from the public template's CKA_PARAMETER_SET (or the private one's).
pub fn pair(mech: &Mechanism, pub_t: &[Attr], priv_t: &[Attr], origin: Origin) -> Result<(NewObject, NewObject)> {
    let kt = if mech.ty == CKM_ML_DSA_KEY_PAIR_GEN { CKK_ML_DSA } else { CKK_ML_KEM };
    let ps = pub_t
        .iter()
        .chain(priv_t)
        .find(|a| a.ty == CKA_PARAMETER_SET)
        .ok_or_else(|| Error::new(CKR_TEMPLATE_INCOMPLETE, "CKA_PARAMETER_SET is required"))?;
    let v = crate::object::ulong(&ps.value)
        .ok_or_else(|| Error::new(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_PARAMETER_SET is a CK_ULONG"))?;
    let set = Set::of(Some(kt), v)?;
    let gen_failed = |e| err!(CKR_FUNCTION_FAILED, "{set:?} generation failed ({e:?})");
    let (private, public, spki) = match set {
        Set::Dsa(a) => {
            let k = MlDsaPrivate::generate(a).map_err(gen_failed)?;
            let (p, s) = (k.public().bytes().to_vec(), k.public().to_spki_der());
            (KeyMaterial::MlDsaPrivate(k), p, s)
        }
        Set::Kem(a) => {
            let k = MlKemPrivate::generate(a).map_err(gen_failed)?;
            let (p, s) = (k.public().bytes().to_vec(), k.public().to_spki_der());
            (KeyMaterial::MlKemPrivate(k), p, s)
        }
    };
    let implied =
        |class| vec![Attr::ulong(CKA_CLASS, class), Attr::ulong(CKA_KEY_TYPE, kt), Attr::ulong(CKA_PARAMETER_SET, v)];
    let mut pubn = template::build(pub_t, &implied(CKO_PUBLIC_KEY), origin)?;
    pubn.set(CKA_VALUE, &public);
    pubn.set(CKA_PUBLIC_KEY_INFO, &spki);
    let mut privn = template::build(priv_t, &implied(CKO_PRIVATE_KEY), origin)?;
    fill_private(&mut privn, &private)?;
    Ok((pubn, privn))
}

/// The parameter set of a new object: CKA_PARAMETER_SET if given (then
/// the lengths must match), else the one whose key length `len` is.
fn set_for_import(n: &NewObject, len: Option<usize>, public: bool) -> Result<Set> {
    let kt = n.ulong(CKA_KEY_TYPE);
    let set = match n.ulong(CKA_PARAMETER_SET) {
        Some(v) => Set::of(kt, v)?,
        None => {
            let len = len.ok_or_else(|| Error::new(CKR_TEMPLATE_INCOMPLETE, "CKA_PARAMETER_SET is required"))?;
            Set::all(kt)
                .into_iter()
                .find(|s| if public { s.public_len() } else { s.private_len() } == len)
                .ok_or_else(|| err!(CKR_ATTRIBUTE_VALUE_INVALID, "no parameter set has a key of {len} bytes"))?
        }
    };
    Ok(set)
}

/// Import validation: the key decodes (ML-KEM keys pass the FIPS 203 input
/// checks; a private seed and value must agree) and fits its parameter
/// set; CKA_PARAMETER_SET and CKA_PUBLIC_KEY_INFO are filled in.
pub fn validate_import(n: &mut NewObject) -> Result<()> {
    if n.kind == PUB_PQ {
        let v = n.attrs.get(CKA_VALUE).unwrap_or_default().to_vec();
        let set = set_for_import(n, Some(v.len()), true)?;
        let spki = match set {
            Set::Dsa(a) => MlDsaPublic::from_bytes(a, &v).map_err(invalid_key)?.to_spki_der(),
            Set::Kem(a) => MlKemPublic::from_bytes(a, &v).map_err(invalid_key)?.to_spki_der(),
        };
        n.attrs.insert_ulong(CKA_PARAMETER_SET, set.value());
        n.set(CKA_PUBLIC_KEY_INFO, &spki);
        return Ok(());
    }
    let seed = n.secrets.get(&CKA_SEED).cloned();
    let value = n.secrets.get(&CKA_VALUE).cloned();
    if seed.is_none() && value.is_none() {
        return Err(Error::new(CKR_TEMPLATE_INCOMPLETE, "a post-quantum private key needs CKA_SEED or CKA_VALUE"));
    }
    let set = set_for_import(n, value.as_ref().map(|v| v.len()), false)?;
    let (s, v) = (seed.as_deref().map(|x| &x[..]), value.as_deref().map(|x| &x[..]));
    let m = match set {
        Set::Dsa(a) => KeyMaterial::MlDsaPrivate(MlDsaPrivate::from_parts(a, s, v).map_err(invalid_key)?),
        Set::Kem(a) => KeyMaterial::MlKemPrivate(MlKemPrivate::from_parts(a, s, v).map_err(invalid_key)?),
    };
    fill_private(n, &m)
}

/// Fills an unwrapped or imported private key from PKCS#8 (seed,
/// expanded or both forms); the OID must match the object's key type.
pub fn fill_from_pkcs8(n: &mut NewObject, der: &[u8]) -> Result<()> {
    let bad = |_| Error::new(CKR_WRAPPED_KEY_INVALID, "unwrapped data is not a valid private key of that type");
    let m = match n.ulong(CKA_KEY_TYPE) {
        Some(CKK_ML_DSA) => KeyMaterial::MlDsaPrivate(MlDsaPrivate::from_pkcs8_der(der).map_err(bad)?),
        Some(CKK_ML_KEM) => KeyMaterial::MlKemPrivate(MlKemPrivate::from_pkcs8_der(der).map_err(bad)?),
        _ => return Err(Error::general("not a post-quantum key type")),
    };
    if let Some(v) = n.ulong(CKA_PARAMETER_SET) {
        let want = Set::of(n.ulong(CKA_KEY_TYPE), v)?;
        let got = match &m {
            KeyMaterial::MlDsaPrivate(k) => Set::Dsa(k.alg()),
            KeyMaterial::MlKemPrivate(k) => Set::Kem(k.alg()),
            _ => return Err(Error::general("not a post-quantum private key")),
        };
        if want != got {
            return Err(Error::new(CKR_TEMPLATE_INCONSISTENT, "CKA_PARAMETER_SET does not match the PKCS#8 key"));
        }
    }
    fill_private(n, &m)
}

/// The public key's attributes (CKA_PARAMETER_SET, CKA_VALUE) of a new
/// post-quantum private key object (filled by [`fill_from_pkcs8`] or
/// [`validate_import`]): the key import builds the pair from them.
pub fn public_attrs(n: &NewObject) -> Result<Vec<Attr>> {
    let v = n.ulong(CKA_PARAMETER_SET).ok_or_else(|| Error::general("no CKA_PARAMETER_SET"))?;
    let set = Set::of(n.ulong(CKA_KEY_TYPE), v)?;
    let spki = n.attrs.get(CKA_PUBLIC_KEY_INFO).unwrap_or_default();
    let len = set.public_len();
    if spki.len() < len {
        return Err(Error::general("post-quantum public key not derivable"));
    }
    Ok(vec![Attr::ulong(CKA_PARAMETER_SET, v), Attr::new(CKA_VALUE, spki[spki.len() - len..].to_vec())])
}

/// PKCS#8 of a post-quantum private key (seed form when the seed is known).
pub fn private_pkcs8(m: &KeyMaterial) -> Option<Result<Zeroizing<Vec<u8>>>> {
    let r = match m {
        KeyMaterial::MlDsaPrivate(k) => k.to_pkcs8_der(),
        KeyMaterial::MlKemPrivate(k) => k.to_pkcs8_der(),
        _ => return None,
    };
    Some(r.map_err(|_| Error::general("PKCS#8 encoding failed")))
}

/// The rotation keygen of a post-quantum key: same mechanism, same set.
pub fn rotation_keygen(key_type: CK_KEY_TYPE, parameter_set: CK_ULONG) -> (CK_MECHANISM_TYPE, Vec<Attr>) {
    let m = if key_type == CKK_ML_DSA { CKM_ML_DSA_KEY_PAIR_GEN } else { CKM_ML_KEM_KEY_PAIR_GEN };
    (m, vec![Attr::ulong(CKA_PARAMETER_SET, parameter_set)])
}

/// The class and key type of the secret a KEM makes, defaulted: the
/// caller's template plus CKO_SECRET_KEY / CKK_GENERIC_SECRET when absent
/// (a template that names both is used as it is, without a copy).
fn kem_template(t: &[Attr]) -> std::borrow::Cow<'_, [Attr]> {
    if t.iter().any(|a| a.ty == CKA_CLASS) && t.iter().any(|a| a.ty == CKA_KEY_TYPE) {
        return std::borrow::Cow::Borrowed(t);
    }
    let mut with_class: Vec<Attr> = Vec::with_capacity(t.len() + 3);
    with_class.extend_from_slice(t);
    if !with_class.iter().any(|a| a.ty == CKA_CLASS) {
        with_class.push(Attr::ulong(CKA_CLASS, CKO_SECRET_KEY));
    }
    if !with_class.iter().any(|a| a.ty == CKA_KEY_TYPE) {
        with_class.push(Attr::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET));
    }
    std::borrow::Cow::Owned(with_class)
}

/// The key length a KEM secret takes from the 32-byte shared secret:
/// CKA_VALUE_LEN (the leading bytes) or all of it; AES keys 16, 24 or 32.
fn kem_key_len(kt: CK_KEY_TYPE, value_len: Option<CK_ULONG>, ss_len: usize) -> Result<usize> {
    let len = value_len.map_or(ss_len, |l| usize::try_from(l).unwrap_or(usize::MAX));
    if len == 0 || len > ss_len || (kt == CKK_AES && !matches!(len, 16 | 24 | 32)) {
        return Err(err!(CKR_KEY_SIZE_RANGE, "cannot make a key of {len} bytes from the 32-byte shared secret"));
    }
    Ok(len)
}

impl Token {
    /// Builds the secret key object of an encapsulation/decapsulation from
    /// `t` and the shared secret: CKO_SECRET_KEY (CKK_GENERIC_SECRET unless
    /// named), CKA_VALUE_LEN at most 32 (the leading bytes), sensitive and
    /// extractable as asked, never "always sensitive"/"never extractable"
    /// beyond what the base key was (as for a derived key).
    fn kem_secret(&self, s: &Session, mech: &Mechanism, base: &Object, t: &[Attr], ss: &[u8]) -> Result<Handle> {
        // CKA_ENCAPSULATE_TEMPLATE / CKA_DECAPSULATE_TEMPLATE are not
        // offered (unknown attributes to C_CreateObject): nothing implied,
        // so the template with its defaults is all that was given.
        // Built once per template (`object::prototype`): the same
        // attributes as `template::build` + `settle_usage`, fresh stamps.
        let with_class = kem_template(t);
        let policy = self.key_policy();
        let settle = |n: &mut NewObject| policy.settle_usage(&mut [(n, &with_class[..])]);
        let mut n = self.kem_secrets.build(&with_class, &[], Origin::Derive(mech.ty), settle)?;
        if n.kind != SECRET {
            return Err(Error::new(CKR_TEMPLATE_INCONSISTENT, "encapsulation makes secret keys"));
        }
        let kt = n.ulong(CKA_KEY_TYPE).unwrap_or(CKK_GENERIC_SECRET);
        let len = kem_key_len(kt, n.ulong(CKA_VALUE_LEN), ss.len())?;
        let private_base = base.kind == PRIV_PQ;
        let always = private_base && base.flag(CKA_ALWAYS_SENSITIVE) && n.flag(CKA_SENSITIVE);
        let never = private_base && base.flag(CKA_NEVER_EXTRACTABLE) && !n.flag(CKA_EXTRACTABLE);
        n.set(CKA_ALWAYS_SENSITIVE, &[always as u8]);
        n.set(CKA_NEVER_EXTRACTABLE, &[never as u8]);
        n.set_secret(CKA_VALUE, Zeroizing::new(ss[..len].to_vec()));
        self.insert(s, n)
    }

    /// The secret of CKM_KEYWARD_ML_KEM_DETERMINISTIC: the caller chose `m`,
    /// so it knows the shared secret (ML-KEM.Encaps_internal is public
    /// computation from ek and m). The key is therefore made exactly as
    /// C_CreateObject makes a secret key with that CKA_VALUE — the same
    /// path ([`Token::create_object`]): CKA_LOCAL, CKA_ALWAYS_SENSITIVE and
    /// CKA_NEVER_EXTRACTABLE false, CKA_KEYWARD_ORIGIN imported, and the
    /// one policy gate of a secret key value entering the token
    /// (`KeyPolicy::check_new_object`), with its CK_RVs.
    fn kem_imported_secret(&self, s: &Session, t: &[Attr], ss: &[u8]) -> Result<Handle> {
        if t.iter().any(|a| a.ty == CKA_VALUE) {
            return Err(Error::new(CKR_TEMPLATE_INCONSISTENT, "the encapsulation computes CKA_VALUE"));
        }
        let mut with_value = kem_template(t).into_owned();
        let attr_ulong = |ty| with_value.iter().find(|a| a.ty == ty).and_then(|a| crate::object::ulong(&a.value));
        if attr_ulong(CKA_CLASS) != Some(CKO_SECRET_KEY) {
            return Err(Error::new(CKR_TEMPLATE_INCONSISTENT, "encapsulation makes secret keys"));
        }
        let kt = attr_ulong(CKA_KEY_TYPE).unwrap_or(CKK_GENERIC_SECRET);
        let len = kem_key_len(kt, attr_ulong(CKA_VALUE_LEN), ss.len())?;
        with_value.push(Attr::new(CKA_VALUE, ss[..len].to_vec()));
        let r = self.create_object(s, &with_value);
        if let Some(v) = with_value.last_mut() {
            zeroize::Zeroize::zeroize(&mut v.value);
        }
        r
    }

    /// C_EncapsulateKey: the ciphertext goes to `out` (`None`: length query,
    /// no key made); returns the ciphertext length and the new key.
    pub fn encapsulate_key(
        &self,
        s: &Session,
        mech: &Mechanism,
        key: Handle,
        t: &[Attr],
        out: Option<&mut [u8]>,
    ) -> Result<(usize, Option<Handle>)> {
        let k = self.object(key, CKR_KEY_HANDLE_INVALID)?;
        self.check_key(&k, mech, Purpose::Encapsulate)?;
        let m = Zeroizing::new(mech_pq::encapsulation_m(mech)?);
        let mat = self.material(&k)?;
        let KeyMaterial::MlKemPublic(pk) = &*mat else {
            return Err(Error::new(CKR_KEY_TYPE_INCONSISTENT, "encapsulation needs an ML-KEM public key"));
        };
        let ct_len = mech_pq::ciphertext_len(pk);
        let Some(out) = out else { return Ok((ct_len, None)) };
        if out.len() < ct_len {
            return Err(Error::buffer_too_small(ct_len));
        }
        // The ciphertext goes straight to the caller's buffer (its contents
        // are undefined if the key cannot be made after all).
        let ss = mech_pq::encapsulate_into((*m).as_ref(), pk, &mut out[..ct_len])?;
        let h = match *m {
            None => self.kem_secret(s, mech, &k, t, &ss[..])?,
            Some(_) => self.kem_imported_secret(s, t, &ss[..])?,
        };
        Ok((ct_len, Some(h)))
    }

    /// C_DecapsulateKey.
    pub fn decapsulate_key(&self, s: &Session, mech: &Mechanism, key: Handle, t: &[Attr], ct: &[u8]) -> Result<Handle> {
        let k = self.object(key, CKR_KEY_HANDLE_INVALID)?;
        self.check_key(&k, mech, Purpose::Decapsulate)?;
        super::ops::check_context_login(s, &k)?;
        let mat = self.material(&k)?;
        let KeyMaterial::MlKemPrivate(sk) = &*mat else {
            return Err(Error::new(CKR_KEY_TYPE_INCONSISTENT, "decapsulation needs an ML-KEM private key"));
        };
        let ss = mech_pq::decapsulate(mech, sk, ct)?;
        self.kem_secret(s, mech, &k, t, &ss)
    }
}
