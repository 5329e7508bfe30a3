//! `keyward key import`: a PKCS#8 private key (PEM or DER: RSA, EC,
//! Ed25519 or X25519) or a raw AES key
//! as the first version of a new managed key, under the strict key policy
//! whatever the token's profile.
//!
//! Owns: decoding the file and the import's checks. Must not touch: the
//! object rules themselves (src/object), sealing (the token inserts).
#![allow(clippy::unnecessary_cast)] // CK_ULONG is not u64 on every platform

use crate::ck::*;
use crate::err;
use crate::error::{Error, Result};
use crate::kms::pem_or_der;
use crate::object::template;
use crate::token::Token;
use crate::token::session::Session;
use crate::types::{Attr, Handle};

impl Token {
    /// Imports a key from a file's bytes as the first version of a new
    /// managed key `label`: a PKCS#8 private key (PEM or DER; RSA, EC,
    /// Ed25519 or X25519 (RFC 8410),
    /// validated like C_CreateObject, stored with its public half) or a raw
    /// 16/24/32-byte AES key. Returns the new handles. Whatever the token's
    /// profile, the strict key policy applies on top of the token's own
    /// (control C04, "validate imported keys"); a refusal names its rule.
    pub fn kms_import(&self, s: &Session, label: &str, data: &[u8], id: &[u8]) -> Result<Vec<Handle>> {
        let strict = &crate::object::policy::KeyPolicy::STRICT;
        let why = |e: Error| Error::new(e.rv(), format!("import (strict rules): {}", e.reason()));
        self.require_user()?;
        if self.kms_find(label).is_ok() {
            return Err(err!(CKR_ARGUMENTS_BAD, "a key named {label:?} already exists"));
        }
        let (pem, der) = pem_or_der(data)?;
        let common = |class: CK_OBJECT_CLASS, kt: CK_KEY_TYPE| {
            vec![
                Attr::ulong(CKA_CLASS, class),
                Attr::ulong(CKA_KEY_TYPE, kt),
                Attr::bool(CKA_TOKEN, true),
                Attr::new(CKA_LABEL, label.as_bytes().to_vec()),
                Attr::new(CKA_ID, id.to_vec()),
            ]
        };
        let raw_aes = pem.is_none() && matches!(der.len(), 16 | 24 | 32);
        if raw_aes {
            let mut t = common(CKO_SECRET_KEY, CKK_AES);
            t.push(Attr::new(CKA_VALUE, der.to_vec()));
            let mut n = template::build(&t, &[], template::Origin::Create)?;
            strict.settle_usage(&mut [(&mut n, &t)]);
            strict.check_new_object(&n).map_err(why)?;
            return Ok(vec![self.insert(s, n)?]);
        }
        if pem.as_deref().is_some_and(|l| l != "PRIVATE KEY") {
            return Err(err!(
                CKR_ARGUMENTS_BAD,
                "PEM block {:?}: expected an unencrypted PKCS#8 \"PRIVATE KEY\"",
                pem.unwrap_or_default()
            ));
        }
        let mut last = Error::new(CKR_ARGUMENTS_BAD, "not a PKCS#8 private key nor a raw AES key");
        for kt in [CKK_RSA, CKK_EC, CKK_EC_EDWARDS, CKK_EC_MONTGOMERY, CKK_ML_DSA, CKK_ML_KEM] {
            let mut priv_t = common(CKO_PRIVATE_KEY, kt);
            if kt == CKK_EC_MONTGOMERY {
                // Key agreement is an X25519 key's only use.
                priv_t.push(Attr::bool(CKA_DERIVE, true));
            }
            let mut n = template::build(&priv_t, &[], template::Origin::Unwrap)?;
            match crate::token::asym::fill_from_pkcs8(&mut n, &der) {
                Ok(()) => {}
                Err(e) if e.rv() == CKR_WRAPPED_KEY_INVALID => continue,
                Err(e) => {
                    last = e;
                    continue;
                }
            }
            crate::token::ops::validate_import(&mut n)?;
            let mut pt = common(CKO_PUBLIC_KEY, kt);
            match kt {
                CKK_RSA => {
                    for ty in [CKA_MODULUS, CKA_PUBLIC_EXPONENT] {
                        pt.push(Attr::new(ty, n.attrs.get(ty).unwrap_or_default().to_vec()));
                    }
                }
                CKK_EC_EDWARDS | CKK_EC_MONTGOMERY => {
                    // RFC 8410 SubjectPublicKeyInfo: the raw 32-byte key ends it.
                    let params = n.attrs.get(CKA_EC_PARAMS).unwrap_or_default().to_vec();
                    let spki = n.attrs.get(CKA_PUBLIC_KEY_INFO).unwrap_or_default().to_vec();
                    let plen = crate::crypto::okp::KEY_LEN;
                    if spki.len() < plen {
                        return Err(Error::general("Curve25519 public key not derivable"));
                    }
                    pt.push(Attr::new(CKA_EC_PARAMS, params));
                    pt.push(Attr::new(CKA_EC_POINT, spki[spki.len() - plen..].to_vec()));
                }
                CKK_ML_DSA | CKK_ML_KEM => pt.extend(crate::token::pq::public_attrs(&n)?),
                _ => {
                    let params = n.attrs.get(CKA_EC_PARAMS).unwrap_or_default().to_vec();
                    let fl = crate::token::asym::curve_of(&params)?.field_len();
                    let spki = n.attrs.get(CKA_PUBLIC_KEY_INFO).unwrap_or_default().to_vec();
                    let plen = 1 + 2 * fl;
                    if spki.len() < plen {
                        return Err(Error::general("EC public key not derivable"));
                    }
                    pt.push(Attr::new(CKA_EC_PARAMS, params));
                    pt.push(Attr::new(CKA_EC_POINT, spki[spki.len() - plen..].to_vec()));
                }
            }
            let mut pn = template::build(&pt, &[], template::Origin::Create)?;
            crate::token::ops::validate_import(&mut pn)?;
            crate::token::ops::pair_up(&mut pn, &n);
            strict.settle_usage(&mut [(&mut pn, &pt), (&mut n, &priv_t)]);
            strict.check_new_object(&n).and_then(|()| strict.check_new_object(&pn)).map_err(why)?;
            strict.check_pair(&pn, &n).map_err(why)?;
            let ph = self.insert(s, pn)?;
            return match self.insert(s, n) {
                Ok(h) => Ok(vec![ph, h]),
                Err(e) => {
                    let _ = self.store().delete_object(ph as i64);
                    Err(e)
                }
            };
        }
        Err(last)
    }
}
