//! C_DeriveKey with the derivation mechanisms over secret keys
//! (`mechanism::kdf`): the checks on the base key (and on a second key or a
//! salt key), the derived objects' templates, their sensitivity, and the
//! SP 800-108 additional keys. ECDH (EC and X25519 bases) stays in
//! `token::ops::derive_key`.
//!
//! Rules, for every mechanism here:
//! - each key used (base, CONCATENATE_BASE_AND_KEY's second key, HKDF's
//!   salt key) passes `Token::check_key` for CKA_DERIVE: usage,
//!   CKA_ALLOWED_MECHANISMS, the key policy, lifecycle and dates;
//! - a derived key's usage attributes are what its template (and the base's
//!   CKA_DERIVE_TEMPLATE) says, false otherwise; its type defaults to
//!   CKK_GENERIC_SECRET; CKA_ALWAYS_SENSITIVE is true only if every key used
//!   was always sensitive and the result is sensitive, CKA_NEVER_EXTRACTABLE
//!   likewise;
//! - the simple mechanisms (concatenation, XOR, extraction) give a
//!   sensitive result if any key used is sensitive, an unextractable one if
//!   any is unextractable (the spec's rule; a template that asks otherwise
//!   is CKR_TEMPLATE_INCONSISTENT), and, on a protected key (sensitive or
//!   unextractable), they must keep all of its bits: truncating the result
//!   (CKA_VALUE_LEN), XOR with shorter data or extracting fewer bits than
//!   the key has is refused. Otherwise one byte of a protected key next to
//!   known bytes becomes a key the caller can use as a MAC oracle and
//!   brute-force 256 ways, byte after byte: the key's bits revealed without
//!   ever reading them;
//! - *_ENCRYPT_DATA from a protected base into a readable key is an
//!   encryption under the base: it needs the base's CKA_ENCRYPT.
//!   SP 800-108 and HKDF outputs are one-way functions of the base and may
//!   be readable, as the spec intends (CKM_HKDF_DATA makes a data object).

use super::Token;
use super::ops::{Purpose, check_context_login, secret_of};
use super::session::Session;
use crate::ck::*;
use crate::err;
use crate::error::{Error, Result};
use crate::mechanism::kdf::{self, encrypt_data, hkdf, simple, sp800_108};
use crate::object::Object;
use crate::object::rules::{DATA, SECRET};
use crate::object::template::{self, NewObject, Origin};
use crate::types::kdf::{HkdfSalt, KdfParam};
use crate::types::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Usage attributes a derived key has only when its template says so.
const USAGE: [CK_ATTRIBUTE_TYPE; 7] =
    [CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY, CKA_WRAP, CKA_UNWRAP, CKA_DERIVE];

fn protected(k: &Object) -> bool {
    k.flag(CKA_SENSITIVE) || !k.flag(CKA_EXTRACTABLE)
}

fn given(t: &[Attr], ty: CK_ATTRIBUTE_TYPE) -> Option<&[u8]> {
    t.iter().find(|a| a.ty == ty).map(|a| a.value.as_slice())
}

/// One object to derive: its template (caller's, then the base's
/// CKA_DERIVE_TEMPLATE) built, and the length it asks for.
struct Planned {
    n: NewObject,
    /// CKA_VALUE_LEN, or None when the template leaves it to the mechanism.
    len: Option<usize>,
    /// The template with the derive template, for the sensitivity checks.
    given: Vec<Attr>,
}

impl Token {
    /// C_DeriveKey: the key and, for SP 800-108, the additional keys.
    pub fn derive_keys(
        &self,
        s: &Session,
        mech: &Mechanism,
        base: Handle,
        t: &[Attr],
    ) -> Result<(Handle, Vec<Handle>)> {
        if !kdf::is_kdf(mech.ty) {
            return self.derive_key(s, mech, base, t).map(|h| (h, Vec::new()));
        }
        let bk = self.object(base, CKR_KEY_HANDLE_INVALID)?;
        self.check_key(&bk, mech, Purpose::Derive)?;
        check_context_login(s, &bk)?;
        if bk.class != CKO_SECRET_KEY {
            return Err(err!(CKR_KEY_TYPE_INCONSISTENT, "mechanism 0x{:x} derives from secret keys", mech.ty));
        }
        let param = kdf::param(mech)?;
        let mat = self.material(&bk)?;
        let base_key = secret_of(&mat)?;
        // Every key whose bits go into the result.
        let mut inputs: Vec<Arc<Object>> = vec![bk.clone()];
        let data_out = mech.ty == CKM_HKDF_DATA;
        let mut main = self.plan(&bk, mech, t, data_out)?;

        let values: Vec<Zeroizing<Vec<u8>>> = match (mech.ty, param) {
            (
                CKM_SP800_108_COUNTER_KDF | CKM_SP800_108_FEEDBACK_KDF | CKM_SP800_108_DOUBLE_PIPELINE_KDF,
                KdfParam::Kbkdf(p),
            ) => {
                let mode = sp800_108::Mode::of(mech.ty).ok_or_else(|| Error::general("SP 800-108 mode"))?;
                sp800_108::validate(mode, p)?;
                check_prf_key(&bk, p.prf)?;
                let mut plans = vec![main];
                for at in &p.additional {
                    plans.push(self.plan(&bk, mech, at, false)?);
                }
                let lens = plans
                    .iter()
                    .map(|pl| pl.len.ok_or_else(|| Error::new(CKR_TEMPLATE_INCOMPLETE, "CKA_VALUE_LEN is required")))
                    .collect::<Result<Vec<_>>>()?;
                let values = sp800_108::derive(mode, p, base_key.bytes(), &lens)?;
                return self.finish_all(s, &inputs, plans, values);
            }
            (CKM_HKDF_DERIVE | CKM_HKDF_DATA, KdfParam::Hkdf(p)) => {
                if !matches!(bk.key_type, Some(CKK_HKDF | CKK_GENERIC_SECRET)) {
                    return Err(Error::new(
                        CKR_KEY_TYPE_INCONSISTENT,
                        "HKDF derives from CKK_HKDF or generic secret keys",
                    ));
                }
                let alg = hkdf::hash(p.prf)?;
                let salt_key = match p.salt {
                    HkdfSalt::Key(h) => {
                        let sk = self.second_key(h, mech, |k| matches!(k, CKK_HKDF | CKK_GENERIC_SECRET))?;
                        let m = self.material(&sk)?;
                        let v = Zeroizing::new(secret_of(&m)?.bytes().to_vec());
                        inputs.push(sk);
                        Some(v)
                    }
                    _ => None,
                };
                let len = if p.expand { main.len.unwrap_or(alg.output_len()) } else { alg.output_len() };
                let v = hkdf::derive(p, base_key.bytes(), salt_key.as_deref().map(|v| v.as_slice()), len)?;
                vec![v]
            }
            (ty, p) if let Some(e) = encrypt_data::entry(ty) => {
                if !bk.key_type.is_some_and(|kt| e.key_types.contains(&kt)) {
                    return Err(err!(CKR_KEY_TYPE_INCONSISTENT, "mechanism 0x{ty:x} needs key type {:?}", e.key_types));
                }
                let v = encrypt_data::derive(e, base_key, p)?;
                if main.len.is_some_and(|l| l > v.len()) {
                    return Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "the data is shorter than the key asked for"));
                }
                let readable = !main.n.flag(CKA_SENSITIVE) || main.n.flag(CKA_EXTRACTABLE);
                if protected(&bk) && readable && !bk.flag(CKA_ENCRYPT) {
                    return Err(Error::new(
                        CKR_KEY_FUNCTION_NOT_PERMITTED,
                        "a readable key encrypted under a protected base that may not encrypt",
                    ));
                }
                vec![v]
            }
            (ty, p) => {
                let v = self.simple(&bk, base_key, mech, ty, p, &mut main, &mut inputs)?;
                vec![v]
            }
        };
        self.finish_all(s, &inputs, vec![main], values)
    }

    /// Builds a derived object's template (not yet its value).
    fn plan(&self, bk: &Object, mech: &Mechanism, t: &[Attr], data_out: bool) -> Result<Planned> {
        let implied = match bk.get(CKA_DERIVE_TEMPLATE).filter(|v| !v.is_empty()) {
            Some(v) => decode_template(v).ok_or_else(|| Error::device("corrupt CKA_DERIVE_TEMPLATE"))?,
            None => Vec::new(),
        };
        let all: Vec<Attr> = t.iter().chain(&implied).cloned().collect();
        let class = given(&all, CKA_CLASS)
            .map(|v| crate::object::ulong(v).ok_or_else(|| Error::new(CKR_ATTRIBUTE_VALUE_INVALID, "bad CKA_CLASS")))
            .transpose()?
            .unwrap_or(if data_out { CKO_DATA } else { CKO_SECRET_KEY });
        if (class == CKO_DATA) != data_out {
            return Err(Error::new(
                CKR_TEMPLATE_INCONSISTENT,
                if data_out { "CKM_HKDF_DATA makes data objects" } else { "derivation makes secret keys" },
            ));
        }
        let len = given(&all, CKA_VALUE_LEN)
            .map(|v| {
                crate::object::ulong(v).ok_or_else(|| Error::new(CKR_ATTRIBUTE_VALUE_INVALID, "bad CKA_VALUE_LEN"))
            })
            .transpose()?
            .map(|l| usize::try_from(l).unwrap_or(usize::MAX));
        let mut with: Vec<Attr> =
            if data_out { t.iter().filter(|a| a.ty != CKA_VALUE_LEN).cloned().collect() } else { t.to_vec() };
        let implied: Vec<Attr> =
            if data_out { implied.into_iter().filter(|a| a.ty != CKA_VALUE_LEN).collect() } else { implied };
        if given(&all, CKA_CLASS).is_none() {
            with.push(Attr::ulong(CKA_CLASS, class));
        }
        if !data_out {
            if given(&all, CKA_KEY_TYPE).is_none() {
                with.push(Attr::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET));
            }
            for ty in USAGE {
                if given(&all, ty).is_none() {
                    with.push(Attr::bool(ty, false));
                }
            }
        }
        let mut n = template::build(&with, &implied, Origin::Derive(mech.ty))?;
        if n.secrets.contains_key(&CKA_VALUE) || n.attrs.get(CKA_VALUE).is_some_and(|v| !v.is_empty()) {
            return Err(Error::new(CKR_TEMPLATE_INCONSISTENT, "a derived object's CKA_VALUE comes from the mechanism"));
        }
        if !data_out && n.kind != SECRET {
            return Err(Error::new(CKR_TEMPLATE_INCONSISTENT, "derivation makes secret keys"));
        }
        let given_all: Vec<Attr> = with.iter().chain(&implied).cloned().collect();
        self.key_policy().settle_usage(&mut [(&mut n, &given_all)]);
        Ok(Planned { n, len, given: given_all })
    }

    /// A key named inside the parameter (CONCATENATE_BASE_AND_KEY's second
    /// key, HKDF's salt key): a secret key of a type `fits` accepts, usable
    /// for derivation with this mechanism.
    fn second_key(&self, h: Handle, mech: &Mechanism, fits: impl Fn(CK_KEY_TYPE) -> bool) -> Result<Arc<Object>> {
        let k = self.object(h, CKR_KEY_HANDLE_INVALID)?;
        self.check_key(&k, mech, Purpose::Derive)?;
        if k.class != CKO_SECRET_KEY || !k.key_type.is_some_and(&fits) {
            return Err(Error::new(CKR_KEY_TYPE_INCONSISTENT, "the key in the mechanism parameter has the wrong type"));
        }
        Ok(k)
    }

    /// The simple mechanisms: the value, after the protected-bits rules.
    #[allow(clippy::too_many_arguments)]
    fn simple(
        &self,
        bk: &Object,
        base_key: &crate::crypto::SecretKey,
        mech: &Mechanism,
        ty: CK_MECHANISM_TYPE,
        param: &KdfParam,
        main: &mut Planned,
        inputs: &mut Vec<Arc<Object>>,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let b = base_key.bytes();
        let mut any_protected = protected(bk);
        let value = match (ty, param) {
            (CKM_CONCATENATE_BASE_AND_KEY, KdfParam::Key(h)) => {
                let k2 = self.second_key(*h, mech, |_| true)?;
                let m = self.material(&k2)?;
                let v = simple::concatenate(b, secret_of(&m)?.bytes());
                any_protected |= protected(&k2);
                inputs.push(k2);
                v
            }
            (CKM_CONCATENATE_BASE_AND_DATA, KdfParam::Data(d)) => simple::concatenate(b, d),
            (CKM_CONCATENATE_DATA_AND_BASE, KdfParam::Data(d)) => simple::concatenate(d, b),
            (CKM_XOR_BASE_AND_DATA, KdfParam::Data(d)) => {
                if d.is_empty() {
                    return Err(Error::new(CKR_MECHANISM_PARAM_INVALID, "no data to XOR with"));
                }
                if any_protected && d.len() < b.len() {
                    return Err(Error::new(
                        CKR_KEY_FUNCTION_NOT_PERMITTED,
                        "XOR with data shorter than a protected key would expose part of it",
                    ));
                }
                simple::xor(b, d)
            }
            (CKM_EXTRACT_KEY_FROM_KEY, KdfParam::BitIndex(first)) => {
                let len = main.len.ok_or_else(|| Error::new(CKR_TEMPLATE_INCOMPLETE, "CKA_VALUE_LEN is required"))?;
                if len == 0 || len > b.len() {
                    return Err(err!(CKR_KEY_SIZE_RANGE, "cannot extract {len} bytes from a {}-byte key", b.len()));
                }
                if any_protected && len < b.len() {
                    return Err(Error::new(
                        CKR_KEY_FUNCTION_NOT_PERMITTED,
                        "extracting part of a protected key would expose it bit by bit",
                    ));
                }
                simple::extract(b, *first, len)?
            }
            _ => return Err(err!(CKR_MECHANISM_PARAM_INVALID, "mechanism 0x{ty:x}: wrong parameter structure")),
        };
        if any_protected && main.len.is_some_and(|l| l < value.len()) {
            return Err(Error::new(
                CKR_TEMPLATE_INCONSISTENT,
                "CKA_VALUE_LEN would truncate a protected key's bits (derive from it with SP 800-108 or HKDF)",
            ));
        }
        // The spec: sensitive if a key used is, unextractable likewise.
        let sensitive = inputs.iter().any(|k| k.flag(CKA_SENSITIVE)) || bk.flag(CKA_SENSITIVE);
        let unextractable = inputs.iter().any(|k| !k.flag(CKA_EXTRACTABLE)) || !bk.flag(CKA_EXTRACTABLE);
        if sensitive {
            if given(&main.given, CKA_SENSITIVE) == Some(&[0]) {
                return Err(Error::new(
                    CKR_TEMPLATE_INCONSISTENT,
                    "derived from a sensitive key: CKA_SENSITIVE must be true",
                ));
            }
            main.n.set(CKA_SENSITIVE, &[1]);
        }
        if unextractable {
            if given(&main.given, CKA_EXTRACTABLE) == Some(&[1]) {
                return Err(Error::new(
                    CKR_TEMPLATE_INCONSISTENT,
                    "derived from an unextractable key: CKA_EXTRACTABLE must be false",
                ));
            }
            main.n.set(CKA_EXTRACTABLE, &[0]);
        }
        Ok(value)
    }

    /// Sets each planned object's value and token attributes and inserts
    /// them all, or none (an insertion failure destroys those made).
    fn finish_all(
        &self,
        s: &Session,
        inputs: &[Arc<Object>],
        plans: Vec<Planned>,
        values: Vec<Zeroizing<Vec<u8>>>,
    ) -> Result<(Handle, Vec<Handle>)> {
        let always_sensitive = inputs.iter().all(|k| k.flag(CKA_ALWAYS_SENSITIVE));
        let never_extractable = inputs.iter().all(|k| k.flag(CKA_NEVER_EXTRACTABLE));
        let mut objs = Vec::with_capacity(plans.len());
        for (mut p, v) in plans.into_iter().zip(values) {
            let v = match p.len {
                Some(l) if l > v.len() => {
                    return Err(err!(CKR_KEY_SIZE_RANGE, "cannot derive {l} bytes: the mechanism gives {}", v.len()));
                }
                Some(l) => Zeroizing::new(v[..l].to_vec()),
                None => v,
            };
            if p.n.kind == DATA {
                p.n.set(CKA_VALUE, &v);
                objs.push(p.n);
                continue;
            }
            let kt = p.n.ulong(CKA_KEY_TYPE).unwrap_or(CKK_GENERIC_SECRET);
            template::check_secret_value(kt, &v)
                .map_err(|e| Error::new(CKR_KEY_SIZE_RANGE, e.reason().to_string()))
                .and_then(|()| self.key_policy().check_secret_value(&v))?;
            let sens = p.n.flag(CKA_SENSITIVE);
            let extr = p.n.flag(CKA_EXTRACTABLE);
            p.n.set(CKA_ALWAYS_SENSITIVE, &[(always_sensitive && sens) as u8]);
            p.n.set(CKA_NEVER_EXTRACTABLE, &[(never_extractable && !extr) as u8]);
            p.n.set(CKA_VALUE_LEN, &(v.len() as CK_ULONG).to_ne_bytes());
            p.n.set_secret(CKA_VALUE, v);
            objs.push(p.n);
        }
        let mut made: Vec<Handle> = Vec::with_capacity(objs.len());
        for n in objs {
            match self.insert(s, n) {
                Ok(h) => made.push(h),
                Err(e) => {
                    for h in made {
                        let _ = self.destroy_object(s, h);
                    }
                    return Err(e);
                }
            }
        }
        let first = made.remove(0);
        Ok((first, made))
    }
}

/// The base key an SP 800-108 PRF accepts: AES for AES-CMAC, a generic
/// secret or the matching HMAC key type for HMAC.
fn check_prf_key(bk: &Object, prf: CK_MECHANISM_TYPE) -> Result<()> {
    let kt = bk.key_type.unwrap_or(CKK_GENERIC_SECRET);
    let ok = match sp800_108::Prf::of(prf)? {
        sp800_108::Prf::Cmac => kt == CKK_AES,
        sp800_108::Prf::Hmac(_) => crate::mechanism::hmac::key_type_fits(prf, kt),
    };
    if !ok {
        return Err(err!(CKR_KEY_TYPE_INCONSISTENT, "PRF 0x{prf:x} does not take a key of type {kt}"));
    }
    Ok(())
}
