//! The token side of the legacy asymmetric algorithms, DSA and PKCS#3 DH
//! (`[policy] allow_dsa`, `allow_dh`; decided in `object::policy`): engine
//! material from CKA_PRIME/SUBPRIME/BASE/VALUE, key-pair generation from
//! the public template's parameters, domain-parameter generation
//! (CKM_DSA_PARAMETER_GEN, CKM_DH_PKCS_PARAMETER_GEN: CKO_DOMAIN_PARAMETERS
//! objects), import validation of keys and domain parameters, and the
//! dispatch to `mechanism::{dsa, dh}`. Called from `token::asym` and
//! `token::ops` at their dispatch points.
//!
//! DSA and DH private keys are not wrapped or unwrapped (no PKCS#8 form
//! here): C_WrapKey answers CKR_KEY_NOT_WRAPPABLE.

use super::Token;
use crate::ck::*;
use crate::crypto::{CryptoError, dh, dsa};
use crate::err;
use crate::error::{Error, Result};
use crate::mechanism;
use crate::object::rules::{DOM_DH, DOM_DSA, PRIV_DH, PRIV_DSA, PUB_DH, PUB_DSA};
use crate::object::template::{self, NewObject, Origin};
use crate::object::{KeyMaterial, Object, Unseal};
use crate::types::*;
use std::sync::Arc;

fn invalid(e: CryptoError) -> Error {
    err!(CKR_ATTRIBUTE_VALUE_INVALID, "DSA/DH key or parameters refused by validation ({e:?})")
}

fn attr<'a>(get: &impl Fn(CK_ATTRIBUTE_TYPE) -> Option<&'a [u8]>, ty: CK_ATTRIBUTE_TYPE) -> Result<&'a [u8]> {
    get(ty).ok_or_else(|| err!(CKR_TEMPLATE_INCOMPLETE, "attribute 0x{ty:x} is required"))
}

fn dsa_params<'a>(get: impl Fn(CK_ATTRIBUTE_TYPE) -> Option<&'a [u8]>) -> Result<dsa::Params> {
    Ok(dsa::Params {
        p: attr(&get, CKA_PRIME)?.to_vec(),
        q: attr(&get, CKA_SUBPRIME)?.to_vec(),
        g: attr(&get, CKA_BASE)?.to_vec(),
    })
}

/// Whether `kind` is one of the DSA/DH object kinds this file serves.
pub fn serves(kind: u32) -> bool {
    kind & (PUB_DSA | PRIV_DSA | PUB_DH | PRIV_DH | DOM_DSA | DOM_DH) != 0
}

/// Engine material of a DSA or DH key object.
pub fn material(obj: &Object, unseal: &Unseal<'_>) -> Result<KeyMaterial> {
    let get = |t| obj.get(t);
    Ok(match obj.kind {
        PUB_DSA => {
            let k = dsa::DsaKey::public(&dsa_params(get)?, attr(&get, CKA_VALUE)?).map_err(invalid)?;
            KeyMaterial::DsaPublic(Arc::new(k))
        }
        PRIV_DSA => {
            let x = obj.secret(CKA_VALUE, unseal)?;
            KeyMaterial::DsaPrivate(Arc::new(dsa::DsaKey::private(&dsa_params(get)?, &x).map_err(invalid)?))
        }
        PRIV_DH => {
            let x = obj.secret(CKA_VALUE, unseal)?;
            let k = dh::DhPrivate::new(attr(&get, CKA_PRIME)?, attr(&get, CKA_BASE)?, &x).map_err(invalid)?;
            KeyMaterial::DhPrivate(k)
        }
        _ => return Err(Error::new(CKR_KEY_TYPE_INCONSISTENT, "a DH public key takes part in no operation")),
    })
}

/// DSA signing and verification (None: not a DSA mechanism or key).
pub fn signer(m: &KeyMaterial, mech: &Mechanism, sign: bool) -> Option<Result<Box<dyn mechanism::Signer>>> {
    let dsa_mech = mechanism::dsa::is_dsa(mech.ty);
    let wrong = || Err(err!(CKR_KEY_TYPE_INCONSISTENT, "mechanism 0x{:x} does not fit this key", mech.ty));
    Some(match (m, sign) {
        (KeyMaterial::DsaPrivate(k), true) if dsa_mech => mechanism::dsa::signer(mech, k.clone(), true),
        (KeyMaterial::DsaPublic(k), false) if dsa_mech => mechanism::dsa::signer(mech, k.clone(), false),
        (KeyMaterial::DsaPrivate(_) | KeyMaterial::DsaPublic(_) | KeyMaterial::DhPrivate(_), _) => wrong(),
        _ if dsa_mech => wrong(),
        _ => return None,
    })
}

/// C_GenerateKeyPair for DSA (CKA_PRIME, CKA_SUBPRIME, CKA_BASE in the
/// public template) and DH (CKA_PRIME, CKA_BASE; CKA_VALUE_BITS in the
/// private template for the private value's length).
pub fn generate_pair(
    mech: &Mechanism,
    pub_t: &[Attr],
    priv_t: &[Attr],
    origin: Origin,
) -> Result<(NewObject, NewObject)> {
    let find = |t: &[Attr], ty| t.iter().find(|a| a.ty == ty).map(|a| a.value.clone());
    let dsa = mech.ty == CKM_DSA_KEY_PAIR_GEN;
    let (kt, names): (CK_KEY_TYPE, &[CK_ATTRIBUTE_TYPE]) =
        if dsa { (CKK_DSA, &[CKA_PRIME, CKA_SUBPRIME, CKA_BASE]) } else { (CKK_DH, &[CKA_PRIME, CKA_BASE]) };
    let mut params = Vec::new();
    for ty in names {
        let v = find(pub_t, *ty).ok_or_else(|| err!(CKR_TEMPLATE_INCOMPLETE, "attribute 0x{ty:x} is required"))?;
        if let Some(w) = find(priv_t, *ty)
            && w != v
        {
            return Err(err!(CKR_TEMPLATE_INCONSISTENT, "attribute 0x{ty:x} differs between the two templates"));
        }
        params.push(Attr::new(*ty, v));
    }
    let failed = |e: CryptoError| match e {
        CryptoError::InvalidKey | CryptoError::InvalidParam => {
            err!(CKR_TEMPLATE_INCONSISTENT, "domain parameters not usable ({e:?})")
        }
        e => err!(CKR_FUNCTION_FAILED, "key generation failed ({e:?})"),
    };
    let (y, x, x_bits) = if dsa {
        let p = dsa::Params { p: params[0].value.clone(), q: params[1].value.clone(), g: params[2].value.clone() };
        let (y, x) = dsa::generate(&p).map_err(failed)?;
        (y, x, None)
    } else {
        let want = find(priv_t, CKA_VALUE_BITS).map(|v| crate::object::ulong(&v).unwrap_or(u64::MAX as CK_ULONG));
        let want = usize::try_from(want.unwrap_or(0)).unwrap_or(usize::MAX);
        let (y, x, bits) = dh::generate(&params[0].value, &params[1].value, want).map_err(failed)?;
        (y, x, Some(bits))
    };
    let strip = |t: &[Attr]| -> Vec<Attr> {
        t.iter().filter(|a| !names.contains(&a.ty) && a.ty != CKA_VALUE_BITS).cloned().collect()
    };
    let mut implied =
        vec![Attr::ulong(CKA_CLASS, CKO_PUBLIC_KEY), Attr::ulong(CKA_KEY_TYPE, kt), Attr::new(CKA_VALUE, y)];
    implied.extend(params.iter().cloned());
    let p = template::build(&strip(pub_t), &implied, origin)?;
    let mut implied = vec![Attr::ulong(CKA_CLASS, CKO_PRIVATE_KEY), Attr::ulong(CKA_KEY_TYPE, kt)];
    implied.extend(params);
    let mut v = template::build(&strip(priv_t), &implied, origin)?;
    v.set_secret(CKA_VALUE, x);
    if let Some(bits) = x_bits {
        v.attrs.insert_ulong(CKA_VALUE_BITS, bits as CK_ULONG);
    }
    Ok((p, v))
}

/// C_GenerateKey with CKM_DSA_PARAMETER_GEN / CKM_DH_PKCS_PARAMETER_GEN:
/// a CKO_DOMAIN_PARAMETERS object of CKA_PRIME_BITS bits. `None`: not a
/// parameter generation.
pub fn generate_params(
    t: &Token,
    s: &super::session::Session,
    mech: &Mechanism,
    tmpl: &[Attr],
) -> Result<Option<Handle>> {
    let kt = match mech.ty {
        CKM_DSA_PARAMETER_GEN => CKK_DSA,
        CKM_DH_PKCS_PARAMETER_GEN => CKK_DH,
        _ => return Ok(None),
    };
    let bits = tmpl
        .iter()
        .find(|a| a.ty == CKA_PRIME_BITS)
        .and_then(|a| crate::object::ulong(&a.value))
        .ok_or_else(|| Error::new(CKR_TEMPLATE_INCOMPLETE, "CKA_PRIME_BITS is required"))?;
    let bits = usize::try_from(bits).unwrap_or(usize::MAX);
    // The policy first: an engine run of minutes for a refused object helps nobody.
    if let Some(knob) = t.key_policy().refused_legacy(Some(kt), Some(mech.ty)) {
        return Err(err!(CKR_TEMPLATE_INCONSISTENT, "refused by policy rule {knob}: no {kt:#x} domain parameters"));
    }
    let size = |e: CryptoError| match e {
        CryptoError::InvalidParam => err!(CKR_KEY_SIZE_RANGE, "domain parameters of {bits} bits are not generated"),
        e => err!(CKR_FUNCTION_FAILED, "parameter generation failed ({e:?})"),
    };
    let mut implied = vec![Attr::ulong(CKA_CLASS, CKO_DOMAIN_PARAMETERS), Attr::ulong(CKA_KEY_TYPE, kt)];
    if kt == CKK_DSA {
        let p = dsa::generate_params(bits).map_err(size)?;
        implied.extend([Attr::new(CKA_PRIME, p.p), Attr::new(CKA_SUBPRIME, p.q), Attr::new(CKA_BASE, p.g)]);
    } else {
        let (p, g) = dh::generate_params(bits).map_err(size)?;
        implied.extend([Attr::new(CKA_PRIME, p), Attr::new(CKA_BASE, g)]);
    }
    let n = template::build(tmpl, &implied, Origin::Generate(mech.ty))?;
    t.insert(s, n).map(Some)
}

/// Import validation (C_CreateObject) of DSA/DH keys and domain
/// parameters: sizes and ranges through the engine's checks; sets
/// CKA_PRIME_BITS of domain parameters and CKA_VALUE_BITS of DH private keys.
pub fn validate_import(n: &mut NewObject) -> Result<()> {
    let secret = n.secrets.get(&CKA_VALUE).cloned();
    let get = |t| n.attrs.get(t);
    match n.kind {
        PUB_DSA => {
            dsa::DsaKey::public(&dsa_params(get)?, attr(&get, CKA_VALUE)?).map_err(invalid)?;
        }
        PRIV_DSA => {
            dsa::DsaKey::private(&dsa_params(get)?, &secret.unwrap_or_default()).map_err(invalid)?;
        }
        DOM_DSA => {
            let p = dsa_params(get)?;
            p.check().map_err(invalid)?;
            n.attrs.insert_ulong(CKA_PRIME_BITS, p.p_bits() as CK_ULONG);
        }
        PUB_DH | DOM_DH => {
            let (p, g) = (attr(&get, CKA_PRIME)?.to_vec(), attr(&get, CKA_BASE)?.to_vec());
            dh::check_params(&p, &g).map_err(invalid)?;
            if n.kind == PUB_DH && !dh::public_in_range(&p, attr(&get, CKA_VALUE)?) {
                return Err(Error::new(CKR_ATTRIBUTE_VALUE_INVALID, "DH public value out of range"));
            }
            if n.kind == DOM_DH {
                n.attrs.insert_ulong(CKA_PRIME_BITS, dh::p_bits(&p) as CK_ULONG);
            }
        }
        PRIV_DH => {
            let (p, g) = (attr(&get, CKA_PRIME)?.to_vec(), attr(&get, CKA_BASE)?.to_vec());
            let x = secret.unwrap_or_default();
            dh::DhPrivate::new(&p, &g, &x).map_err(invalid)?;
            n.attrs.insert_ulong(CKA_VALUE_BITS, crate::crypto::dh::p_bits(&x) as CK_ULONG);
        }
        _ => {}
    }
    Ok(())
}
