//! The token side of RSA, EC and HMAC keys: engine material from object
//! attributes, key-pair generation templates, import validation, PKCS#8 for
//! wrapping, and the dispatch from mechanisms to `mechanism::{rsa, ec, okp,
//! hmac}`. Ed25519 (CKK_EC_EDWARDS) and X25519 (CKK_EC_MONTGOMERY) keys
//! share the EC object kinds and attributes; the key type picks the engine.

use super::Token;
use crate::ck::*;
use crate::crypto::okp::{self, Okp};
use crate::crypto::{CryptoError, der, ec, rsa};
use crate::err;
use crate::error::{Error, Result};
use crate::mechanism;
use crate::object::rules::{PRIV, PRIV_EC, PRIV_PQ, PRIV_RSA, PUB_EC, PUB_PQ, PUB_RSA};
use crate::object::template::{self, NewObject, Origin};
use crate::object::{KeyMaterial, Object, Unseal};
use crate::types::*;
use zeroize::Zeroizing;

fn invalid_key(e: CryptoError) -> Error {
    err!(CKR_ATTRIBUTE_VALUE_INVALID, "key material refused by validation ({e:?})")
}

fn need<'a>(obj_attrs: impl Fn(CK_ATTRIBUTE_TYPE) -> Option<&'a [u8]>, ty: CK_ATTRIBUTE_TYPE) -> Result<&'a [u8]> {
    obj_attrs(ty).ok_or_else(|| err!(CKR_TEMPLATE_INCOMPLETE, "attribute 0x{ty:x} is required"))
}

/// The curve named by CKA_EC_PARAMS (DER OID, or the printable-name form).
pub fn curve_of(params: &[u8]) -> Result<ec::Curve> {
    der::curve_from_params(params)
        .or_else(|| std::str::from_utf8(params).ok().and_then(der::curve_from_name))
        .ok_or_else(|| {
            Error::new(
                CKR_CURVE_NOT_SUPPORTED,
                "curve not supported (P-224, P-256, P-384, P-521, secp256k1; not P-192: the engine, AWS-LC, lacks it)",
            )
        })
}

/// The Curve25519 algorithm of a CKK_EC_EDWARDS / CKK_EC_MONTGOMERY key
/// (checked against its CKA_EC_PARAMS), `None` for other key types.
pub fn okp_of(key_type: Option<CK_KEY_TYPE>, params: &[u8]) -> Result<Option<Okp>> {
    let want = match key_type {
        Some(CKK_EC_EDWARDS) => Okp::Ed25519,
        Some(CKK_EC_MONTGOMERY) => Okp::X25519,
        _ => return Ok(None),
    };
    match Okp::from_params(params) {
        Some(a) if a == want => Ok(Some(a)),
        None if okp::is_curve448(params) => Err(Error::new(
            CKR_CURVE_NOT_SUPPORTED,
            "Ed448/X448 are not supported: the engine (AWS-LC) has no Curve448",
        )),
        _ => Err(err!(
            CKR_CURVE_NOT_SUPPORTED,
            "curve not supported for this key type (only {})",
            if want == Okp::Ed25519 { "Ed25519" } else { "X25519" }
        )),
    }
}

fn okp_point(raw: &[u8]) -> Result<&[u8]> {
    okp::point_from_attr(raw)
        .ok_or_else(|| Error::new(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_EC_POINT must be 32 bytes (or their OCTET STRING)"))
}

fn rsa_components(get: impl Fn(CK_ATTRIBUTE_TYPE) -> Option<Zeroizing<Vec<u8>>>) -> Result<rsa::RsaComponents> {
    let g = |t| {
        get(t).ok_or_else(|| {
            err!(CKR_TEMPLATE_INCOMPLETE, "RSA private key needs attribute 0x{t:x} (all CRT components)")
        })
    };
    Ok(rsa::RsaComponents {
        n: g(CKA_MODULUS)?.to_vec(),
        e: g(CKA_PUBLIC_EXPONENT)?.to_vec(),
        d: g(CKA_PRIVATE_EXPONENT)?,
        p: g(CKA_PRIME_1)?,
        q: g(CKA_PRIME_2)?,
        dp: g(CKA_EXPONENT_1)?,
        dq: g(CKA_EXPONENT_2)?,
        qinv: g(CKA_COEFFICIENT)?,
    })
}

/// Engine material for an RSA/EC key object.
pub fn material(obj: &Object, unseal: &Unseal<'_>) -> Result<KeyMaterial> {
    let get = |t| obj.get(t);
    Ok(match obj.kind {
        PUB_PQ | PRIV_PQ => return super::pq::material(obj, unseal),
        PUB_RSA => KeyMaterial::RsaPublic(
            rsa::RsaPublic::from_n_e(need(get, CKA_MODULUS)?, need(get, CKA_PUBLIC_EXPONENT)?).map_err(invalid_key)?,
        ),
        PRIV_RSA => {
            let c = rsa_components(|t| match obj.get(t) {
                Some(v) => Some(Zeroizing::new(v.to_vec())),
                None => obj.secret(t, unseal).ok(),
            })?;
            KeyMaterial::RsaPrivate(rsa::RsaPrivate::from_components(&c).map_err(invalid_key)?)
        }
        PUB_EC if obj.key_type != Some(CKK_EC) => {
            let alg = okp_of(obj.key_type, need(get, CKA_EC_PARAMS)?)?.ok_or_else(|| Error::general("OKP key type"))?;
            let point = okp_point(need(get, CKA_EC_POINT)?)?;
            KeyMaterial::OkpPublic(okp::OkpPublic::from_bytes(alg, point).map_err(invalid_key)?)
        }
        PRIV_EC if obj.key_type != Some(CKK_EC) => {
            let alg = okp_of(obj.key_type, need(get, CKA_EC_PARAMS)?)?.ok_or_else(|| Error::general("OKP key type"))?;
            let secret = obj.secret(CKA_VALUE, unseal)?;
            KeyMaterial::OkpPrivate(okp::OkpPrivate::from_bytes(alg, &secret).map_err(invalid_key)?)
        }
        PUB_EC => {
            let curve = curve_of(need(get, CKA_EC_PARAMS)?)?;
            let point = der::ec_point_from_attr(need(get, CKA_EC_POINT)?, curve.field_len())
                .ok_or_else(|| Error::new(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_EC_POINT is not a point"))?;
            KeyMaterial::EcPublic(ec::EcPublic::from_point(curve, point).map_err(invalid_key)?)
        }
        PRIV_EC => {
            let curve = curve_of(need(get, CKA_EC_PARAMS)?)?;
            let scalar = obj.secret(CKA_VALUE, unseal)?;
            KeyMaterial::EcPrivate(ec::EcPrivate::from_scalar(curve, &scalar).map_err(invalid_key)?)
        }
        k if super::legacy::serves(k) => return super::legacy::material(obj, unseal),
        _ => return Err(err!(CKR_KEY_TYPE_INCONSISTENT, "no engine material for object class {}", obj.class)),
    })
}

fn wrong_key(mech: &Mechanism) -> Error {
    err!(CKR_KEY_TYPE_INCONSISTENT, "mechanism 0x{:x} does not fit this key", mech.ty)
}

pub fn cipher(m: &KeyMaterial, mech: &Mechanism, encrypt: bool) -> Result<Box<dyn mechanism::Cipher>> {
    match (m, encrypt) {
        (KeyMaterial::RsaPublic(k), true) => mechanism::rsa::encryptor(mech, k),
        (KeyMaterial::RsaPrivate(k), false) => mechanism::rsa::decryptor(mech, k),
        _ => Err(wrong_key(mech)),
    }
}

pub fn signer(obj: &Object, m: &KeyMaterial, mech: &Mechanism, sign: bool) -> Result<Box<dyn mechanism::Signer>> {
    if mechanism::hmac::is_hmac(mech.ty) {
        let KeyMaterial::Secret(k) = m else { return Err(wrong_key(mech)) };
        if !obj.key_type.is_some_and(|kt| mechanism::hmac::key_type_fits(mech.ty, kt)) {
            return Err(wrong_key(mech));
        }
        return if sign { mechanism::hmac::signer(mech, k) } else { mechanism::hmac::verifier(mech, k) };
    }
    if let Some(r) = super::legacy::signer(m, mech, sign) {
        return r;
    }
    // ML-DSA keys take only the ML-DSA mechanisms, and those only ML-DSA keys.
    if let Some(op) = super::pq::signer(m, mech, sign) {
        return op;
    }
    // EdDSA takes Ed25519 keys only, and Ed25519 keys take only EdDSA.
    let eddsa = mech.ty == CKM_EDDSA;
    match (m, sign) {
        (KeyMaterial::OkpPrivate(_) | KeyMaterial::OkpPublic(_), _) if !eddsa => Err(wrong_key(mech)),
        (KeyMaterial::EcPrivate(_) | KeyMaterial::EcPublic(_), _) if eddsa => Err(wrong_key(mech)),
        (KeyMaterial::RsaPrivate(k), true) => mechanism::rsa::signer(mech, k),
        (KeyMaterial::RsaPublic(k), false) => mechanism::rsa::verifier(mech, k),
        (KeyMaterial::EcPrivate(k), true) => mechanism::ec::signer(mech, k),
        (KeyMaterial::EcPublic(k), false) => mechanism::ec::verifier(mech, k),
        (KeyMaterial::OkpPrivate(k), true) => mechanism::okp::signer(mech, k),
        (KeyMaterial::OkpPublic(k), false) => mechanism::okp::verifier(mech, k),
        _ => Err(wrong_key(mech)),
    }
}

pub fn wrap(m: &KeyMaterial, mech: &Mechanism, bytes: &[u8]) -> Result<Vec<u8>> {
    match m {
        KeyMaterial::RsaPublic(k) => mechanism::rsa::wrap(mech, k, bytes),
        _ => Err(Error::new(CKR_WRAPPING_KEY_TYPE_INCONSISTENT, "this key cannot wrap with that mechanism")),
    }
}

/// `want_len`: the secret key length the template asks for (CKA_VALUE_LEN),
/// so that a padding-based mechanism can answer without an oracle.
pub fn unwrap(
    m: &KeyMaterial,
    mech: &Mechanism,
    wrapped: &[u8],
    want_len: Option<usize>,
) -> Result<Zeroizing<Vec<u8>>> {
    match m {
        KeyMaterial::RsaPrivate(k) => mechanism::rsa::unwrap(mech, k, wrapped, want_len),
        _ => Err(Error::new(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, "this key cannot unwrap with that mechanism")),
    }
}

/// `want`: the new key's length when the template fixes it (a hash KDF
/// derives exactly that many bytes; a raw secret is truncated by the caller).
pub fn derive(m: &KeyMaterial, mech: &Mechanism, want: Option<usize>) -> Result<Zeroizing<Vec<u8>>> {
    match m {
        KeyMaterial::EcPrivate(k) => mechanism::ec::derive(mech, k, want),
        KeyMaterial::OkpPrivate(k) => mechanism::okp::derive(mech, k, want),
        KeyMaterial::DhPrivate(k) => mechanism::dh::derive(mech, k),
        _ => Err(err!(CKR_KEY_TYPE_INCONSISTENT, "mechanism 0x{:x} derives from EC and DH private keys", mech.ty)),
    }
}

/// A private key as PKCS#8 for wrapping.
pub fn private_pkcs8(m: &KeyMaterial) -> Result<Zeroizing<Vec<u8>>> {
    if let Some(r) = super::pq::private_pkcs8(m) {
        return r;
    }
    match m {
        KeyMaterial::RsaPrivate(k) => Ok(k.to_pkcs8_der()),
        KeyMaterial::EcPrivate(k) => k.to_pkcs8_der().map_err(|_| Error::general("PKCS#8 encoding failed")),
        KeyMaterial::OkpPrivate(k) => Ok(k.to_pkcs8_der()),
        _ => Err(Error::new(CKR_KEY_NOT_WRAPPABLE, "only secret and private keys are wrapped")),
    }
}

fn set_rsa_private(n: &mut NewObject, k: &rsa::RsaPrivate) {
    let c = k.components();
    n.set(CKA_MODULUS, &c.n);
    n.set(CKA_PUBLIC_EXPONENT, &c.e);
    for (t, v) in [
        (CKA_PRIVATE_EXPONENT, &c.d),
        (CKA_PRIME_1, &c.p),
        (CKA_PRIME_2, &c.q),
        (CKA_EXPONENT_1, &c.dp),
        (CKA_EXPONENT_2, &c.dq),
        (CKA_COEFFICIENT, &c.qinv),
    ] {
        n.set_secret(t, v.clone());
    }
    if let Ok(spki) = k.public().to_spki_der() {
        n.set(CKA_PUBLIC_KEY_INFO, &spki);
    }
}

fn set_okp_private(n: &mut NewObject, k: &okp::OkpPrivate) {
    n.set(CKA_EC_PARAMS, &k.alg().params_der());
    n.set_secret(CKA_VALUE, k.secret());
    n.set(CKA_PUBLIC_KEY_INFO, &k.public().to_spki_der());
}

fn set_ec_private(n: &mut NewObject, k: &ec::EcPrivate) {
    n.set(CKA_EC_PARAMS, &der::ec_params(k.curve()));
    n.set_secret(CKA_VALUE, k.scalar());
    if let Ok(spki) = k.public().to_spki_der() {
        n.set(CKA_PUBLIC_KEY_INFO, &spki);
    }
}

/// Fills an unwrapped private key's attributes from PKCS#8 (its size and
/// exponent are the key policy's, checked when the object is inserted).
pub fn fill_from_pkcs8(n: &mut NewObject, der: &[u8]) -> Result<()> {
    let bad = |_| Error::new(CKR_WRAPPED_KEY_INVALID, "unwrapped data is not a valid private key of that type");
    match n.kind {
        PRIV_PQ => super::pq::fill_from_pkcs8(n, der)?,
        PRIV_RSA => {
            let k = rsa::RsaPrivate::from_pkcs8_der(der).map_err(bad)?;
            set_rsa_private(n, &k);
        }
        PRIV_EC if n.ulong(CKA_KEY_TYPE) != Some(CKK_EC) => {
            let alg = match n.ulong(CKA_KEY_TYPE) {
                Some(CKK_EC_EDWARDS) => Okp::Ed25519,
                _ => Okp::X25519,
            };
            let k = okp::OkpPrivate::from_pkcs8_der(alg, der).map_err(bad)?;
            set_okp_private(n, &k);
        }
        PRIV_EC => {
            let k = ec::EcPrivate::from_pkcs8_der(der).map_err(bad)?;
            set_ec_private(n, &k);
        }
        _ => return Err(Error::new(CKR_TEMPLATE_INCONSISTENT, "only RSA and EC private keys are unwrapped")),
    }
    Ok(())
}

/// Import validation (C_CreateObject, C_UnwrapKey): RSA keys consistent,
/// EC scalars in range and points on the curve; fills CKA_PUBLIC_KEY_INFO.
/// Sizes and exponents are the key policy's (`object::policy`), checked
/// when the object is inserted.
pub fn validate_import(n: &mut NewObject) -> Result<()> {
    match n.kind {
        PUB_PQ | PRIV_PQ => super::pq::validate_import(n)?,
        PUB_RSA => {
            let k = rsa::RsaPublic::from_n_e(
                n.attrs.get(CKA_MODULUS).unwrap_or(&[]),
                n.attrs.get(CKA_PUBLIC_EXPONENT).unwrap_or(&[]),
            )
            .map_err(invalid_key)?;
            if let Ok(spki) = k.to_spki_der() {
                n.set(CKA_PUBLIC_KEY_INFO, &spki);
            }
        }
        PRIV_RSA => {
            let c = rsa_components(|ty| match n.attrs.get(ty) {
                Some(v) => Some(Zeroizing::new(v.to_vec())),
                None => n.secrets.get(&ty).cloned(),
            })?;
            let k = rsa::RsaPrivate::from_components(&c).map_err(invalid_key)?;
            if let Ok(spki) = k.public().to_spki_der() {
                n.set(CKA_PUBLIC_KEY_INFO, &spki);
            }
        }
        PUB_EC | PRIV_EC if n.ulong(CKA_KEY_TYPE) != Some(CKK_EC) => {
            let alg = okp_of(n.ulong(CKA_KEY_TYPE), n.attrs.get(CKA_EC_PARAMS).unwrap_or(&[]))?
                .ok_or_else(|| Error::general("OKP key type"))?;
            let public = if n.kind == PUB_EC {
                let raw = n.attrs.get(CKA_EC_POINT).unwrap_or_default().to_vec();
                okp::OkpPublic::from_bytes(alg, okp_point(&raw)?).map_err(invalid_key)?
            } else {
                let secret = n.secrets.get(&CKA_VALUE).cloned().unwrap_or_default();
                okp::OkpPrivate::from_bytes(alg, &secret).map_err(invalid_key)?.public().clone()
            };
            if n.kind == PUB_EC {
                // Store the spec's form (DER OCTET STRING) whatever was given.
                n.set(CKA_EC_POINT, &public.point_der());
            }
            n.set(CKA_EC_PARAMS, &alg.params_der());
            n.set(CKA_PUBLIC_KEY_INFO, &public.to_spki_der());
        }
        PUB_EC => {
            let curve = curve_of(n.attrs.get(CKA_EC_PARAMS).unwrap_or(&[]))?;
            let raw = n.attrs.get(CKA_EC_POINT).unwrap_or_default().to_vec();
            let point = der::ec_point_from_attr(&raw, curve.field_len())
                .ok_or_else(|| Error::new(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_EC_POINT is not a point"))?;
            let k = ec::EcPublic::from_point(curve, point).map_err(invalid_key)?;
            // Store the spec's form (DER OCTET STRING) whatever was given.
            n.set(CKA_EC_POINT, &der::wrap_octet_string(k.point()));
            n.set(CKA_EC_PARAMS, &der::ec_params(curve));
            if let Ok(spki) = k.to_spki_der() {
                n.set(CKA_PUBLIC_KEY_INFO, &spki);
            }
        }
        PRIV_EC => {
            let curve = curve_of(n.attrs.get(CKA_EC_PARAMS).unwrap_or(&[]))?;
            let scalar = n.secrets.get(&CKA_VALUE).cloned().unwrap_or_default();
            let k = ec::EcPrivate::from_scalar(curve, &scalar).map_err(invalid_key)?;
            n.set(CKA_EC_PARAMS, &der::ec_params(curve));
            if let Ok(spki) = k.public().to_spki_der() {
                n.set(CKA_PUBLIC_KEY_INFO, &spki);
            }
        }
        k if super::legacy::serves(k) => super::legacy::validate_import(n)?,
        _ => {}
    }
    Ok(())
}

/// C_GenerateKeyPair for RSA and EC from standard templates, the usage
/// flags settled by the key policy for the pair as a whole.
pub fn generate_pair(t: &Token, mech: &Mechanism, pub_t: &[Attr], priv_t: &[Attr]) -> Result<(NewObject, NewObject)> {
    let (mut p, mut v) = pair_objects(t, mech, pub_t, priv_t)?;
    let policy = t.key_policy();
    policy.settle_usage(&mut [(&mut p, pub_t), (&mut v, priv_t)]);
    policy.check_pair(&p, &v)?;
    Ok((p, v))
}

fn pair_objects(t: &Token, mech: &Mechanism, pub_t: &[Attr], priv_t: &[Attr]) -> Result<(NewObject, NewObject)> {
    if !matches!(mech.param, MechParam::None) {
        return Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "key pair generation takes no parameter"));
    }
    let origin = Origin::Generate(mech.ty);
    match mech.ty {
        CKM_RSA_PKCS_KEY_PAIR_GEN => {
            let bits = pub_t
                .iter()
                .find(|a| a.ty == CKA_MODULUS_BITS)
                .and_then(|a| crate::object::ulong(&a.value))
                .ok_or_else(|| Error::new(CKR_TEMPLATE_INCOMPLETE, "CKA_MODULUS_BITS is required"))?
                as usize;
            let e = pub_t.iter().find(|a| a.ty == CKA_PUBLIC_EXPONENT).map(|a| a.value.as_slice());
            let e = t.key_policy().check_rsa_generate(bits, e)?;
            let k = rsa::generate_with_exponent(bits, e)
                .map_err(|e| err!(CKR_FUNCTION_FAILED, "RSA generation failed ({e:?})"))?;
            let c = k.components();
            let pub_t: Vec<Attr> = pub_t.iter().filter(|a| a.ty != CKA_PUBLIC_EXPONENT).cloned().collect();
            let mut p = template::build(
                &pub_t,
                &[
                    Attr::ulong(CKA_CLASS, CKO_PUBLIC_KEY),
                    Attr::ulong(CKA_KEY_TYPE, CKK_RSA),
                    Attr::new(CKA_MODULUS, c.n.clone()),
                    Attr::new(CKA_PUBLIC_EXPONENT, c.e.clone()),
                ],
                origin,
            )?;
            p.attrs.insert_ulong(CKA_MODULUS_BITS, bits as CK_ULONG);
            if let Ok(spki) = k.public().to_spki_der() {
                p.set(CKA_PUBLIC_KEY_INFO, &spki);
            }
            let mut v = template::build(
                priv_t,
                &[Attr::ulong(CKA_CLASS, CKO_PRIVATE_KEY), Attr::ulong(CKA_KEY_TYPE, CKK_RSA)],
                origin,
            )?;
            set_rsa_private(&mut v, &k);
            Ok((p, v))
        }
        CKM_EC_KEY_PAIR_GEN => {
            let params = pub_t
                .iter()
                .find(|a| a.ty == CKA_EC_PARAMS)
                .map(|a| a.value.clone())
                .ok_or_else(|| Error::new(CKR_TEMPLATE_INCOMPLETE, "CKA_EC_PARAMS is required"))?;
            let curve = curve_of(&params)?;
            let k = ec::generate(curve).map_err(|e| err!(CKR_FUNCTION_FAILED, "EC generation failed ({e:?})"))?;
            let pub_t: Vec<Attr> = pub_t.iter().filter(|a| a.ty != CKA_EC_PARAMS).cloned().collect();
            let mut p = template::build(
                &pub_t,
                &[
                    Attr::ulong(CKA_CLASS, CKO_PUBLIC_KEY),
                    Attr::ulong(CKA_KEY_TYPE, CKK_EC),
                    Attr::new(CKA_EC_PARAMS, der::ec_params(curve)),
                    Attr::new(CKA_EC_POINT, der::wrap_octet_string(k.public_point())),
                ],
                origin,
            )?;
            if let Ok(spki) = k.public().to_spki_der() {
                p.set(CKA_PUBLIC_KEY_INFO, &spki);
            }
            let priv_t: Vec<Attr> = priv_t.iter().filter(|a| a.ty != CKA_EC_PARAMS).cloned().collect();
            let mut v = template::build(
                &priv_t,
                &[
                    Attr::ulong(CKA_CLASS, CKO_PRIVATE_KEY),
                    Attr::ulong(CKA_KEY_TYPE, CKK_EC),
                    Attr::new(CKA_EC_PARAMS, der::ec_params(curve)),
                ],
                origin,
            )?;
            set_ec_private(&mut v, &k);
            Ok((p, v))
        }
        CKM_EC_EDWARDS_KEY_PAIR_GEN | CKM_EC_MONTGOMERY_KEY_PAIR_GEN => okp_pair(mech, pub_t, priv_t, origin),
        CKM_DSA_KEY_PAIR_GEN | CKM_DH_PKCS_KEY_PAIR_GEN => super::legacy::generate_pair(mech, pub_t, priv_t, origin),
        CKM_ML_DSA_KEY_PAIR_GEN | CKM_ML_KEM_KEY_PAIR_GEN => super::pq::pair(mech, pub_t, priv_t, origin),
        _ => Err(err!(CKR_MECHANISM_INVALID, "mechanism 0x{:x} does not generate key pairs", mech.ty)),
    }
}

/// CKM_EC_EDWARDS_KEY_PAIR_GEN / CKM_EC_MONTGOMERY_KEY_PAIR_GEN: the curve
/// from the public template's CKA_EC_PARAMS (Ed25519 / X25519 only).
fn okp_pair(mech: &Mechanism, pub_t: &[Attr], priv_t: &[Attr], origin: Origin) -> Result<(NewObject, NewObject)> {
    let kt = if mech.ty == CKM_EC_EDWARDS_KEY_PAIR_GEN { CKK_EC_EDWARDS } else { CKK_EC_MONTGOMERY };
    let params = pub_t
        .iter()
        .find(|a| a.ty == CKA_EC_PARAMS)
        .map(|a| a.value.clone())
        .ok_or_else(|| Error::new(CKR_TEMPLATE_INCOMPLETE, "CKA_EC_PARAMS is required"))?;
    let alg = okp_of(Some(kt), &params)?.ok_or_else(|| Error::general("OKP key type"))?;
    let k = okp::generate(alg).map_err(|e| err!(CKR_FUNCTION_FAILED, "{alg:?} generation failed ({e:?})"))?;
    let pub_t: Vec<Attr> = pub_t.iter().filter(|a| a.ty != CKA_EC_PARAMS).cloned().collect();
    let mut p = template::build(
        &pub_t,
        &[
            Attr::ulong(CKA_CLASS, CKO_PUBLIC_KEY),
            Attr::ulong(CKA_KEY_TYPE, kt),
            Attr::new(CKA_EC_PARAMS, alg.params_der()),
            Attr::new(CKA_EC_POINT, k.public().point_der()),
        ],
        origin,
    )?;
    p.set(CKA_PUBLIC_KEY_INFO, &k.public().to_spki_der());
    let priv_t: Vec<Attr> = priv_t.iter().filter(|a| a.ty != CKA_EC_PARAMS).cloned().collect();
    let mut v = template::build(
        &priv_t,
        &[
            Attr::ulong(CKA_CLASS, CKO_PRIVATE_KEY),
            Attr::ulong(CKA_KEY_TYPE, kt),
            Attr::new(CKA_EC_PARAMS, alg.params_der()),
        ],
        origin,
    )?;
    set_okp_private(&mut v, &k);
    Ok((p, v))
}

#[allow(dead_code)]
const _PRIV: u32 = PRIV;
