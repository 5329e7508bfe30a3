//! The key policy, `[policy]` (DESIGN.md §3): which keys a token accepts
//! and which uses of them it allows beyond what PKCS#11 itself requires.
//!
//! Owns the two profiles (`default`: what SoftHSMv2 and the ecosystem's test
//! suites accept; `strict`: for production tokens), the knobs that override
//! them (globally and per slot), and every check they imply. The entry points
//! call it, and nothing else decides these questions:
//! - key generation (`check_rsa_generate` before the engine runs),
//! - every new object, whatever made it: C_CreateObject, C_GenerateKey(Pair),
//!   C_UnwrapKey, C_DeriveKey, C_CopyObject, `keyward key import`
//!   (`check_new_object`, from `Token::insert`; `settle_usage` first for
//!   the token's usage defaults),
//! - C_SetAttributeValue on usage flags (`check_usage_change`),
//! - every key use at C_*Init (`check_use`), so tightening the policy of a
//!   token applies to the keys already in it,
//! - C_GetMechanismInfo (`advertise`: what the slot's policy really allows).
//!
//! Must not touch: sessions, the store, TOML parsing (config.rs holds the
//! file's shape and calls [`KeyPolicy::resolve`]).

use super::rules::{self, Kinds, PRIV_RSA, PUB_RSA, SECRET};
use super::template::{NewObject, modulus_bits};
use super::{AttrMap, Object};
use crate::ck::*;
use crate::crypto::rsa;
use crate::err;
use crate::error::{Error, Result};
use crate::types::{Attr, MechParam, Mechanism, MechanismInfo};
use serde::Deserialize;

/// A named starting point for the knobs.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Spec- and SoftHSMv2-compatible: what test suites use.
    #[default]
    Default,
    /// For production tokens (see [`KeyPolicy::STRICT`]).
    Strict,
}

/// Which RSA public exponents are accepted.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub enum Exponent {
    /// Any odd e >= 3 (up to 32 bits generated, 33 bits imported).
    #[serde(rename = "any-odd")]
    AnyOdd,
    /// e = 65537 only.
    #[serde(rename = "65537")]
    F4,
}

/// The knobs as written in `[policy]` or a slot's `[slot.policy]`; each one
/// set overrides the profile.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Knobs {
    pub profile: Option<Profile>,
    pub min_rsa_bits: Option<usize>,
    pub min_rsa_verify_bits: Option<usize>,
    pub rsa_public_exponent: Option<Exponent>,
    pub refuse_repeated_byte_keys: Option<bool>,
    pub allow_sha1_signatures: Option<bool>,
    pub allow_wrap_decrypt_keys: Option<bool>,
    pub allow_raw_rsa_sign_decrypt: Option<bool>,
    pub allow_curve25519: Option<bool>,
    pub allow_p224: Option<bool>,
    // The message-based AEAD API (mechanism::message).
    pub allow_caller_message_iv: Option<bool>,
    pub allow_md5: Option<bool>,
    pub allow_md5_signatures: Option<bool>,
    // Key derivation (mechanism::kdf).
    pub allow_simple_key_derivation: Option<bool>,
    // Legacy algorithms (issue 20, part "legacy").
    pub allow_des3: Option<bool>,
    pub allow_dsa: Option<bool>,
    pub allow_dh: Option<bool>,
    // ---- post-quantum (PKCS#11 3.2) ----
    pub allow_ml_dsa: Option<bool>,
    pub allow_ml_kem: Option<bool>,
    pub require_post_quantum: Option<bool>,
}

/// The resolved key policy of one token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPolicy {
    pub profile: Profile,
    /// Smallest RSA key generated, imported as a private key, or used for
    /// anything but verification.
    pub min_rsa_bits: usize,
    /// Smallest RSA public key imported and used for verification (keys of
    /// `min_rsa_bits` and more are always accepted).
    pub min_rsa_verify_bits: usize,
    pub rsa_public_exponent: Exponent,
    /// Refuse secret keys whose bytes are all equal (the all-zero key).
    pub refuse_repeated_byte_keys: bool,
    /// Allow making SHA-1 signatures (verification is always allowed).
    pub allow_sha1_signatures: bool,
    /// Allow a key (or key pair) that both wraps/unwraps keys and
    /// encrypts/decrypts data.
    pub allow_wrap_decrypt_keys: bool,
    /// Allow CKM_RSA_X_509 signing/decryption with a private key that may
    /// both sign and decrypt (raw decryption is raw signing).
    pub allow_raw_rsa_sign_decrypt: bool,
    /// Allow Ed25519 and X25519 keys (CKK_EC_EDWARDS, CKK_EC_MONTGOMERY)
    /// and their mechanisms. Both profiles allow them (RFC 8032/7748 are
    /// modern, constant-time, no weak parameters); a site that must stay
    /// on NIST curves turns them off.
    pub allow_curve25519: bool,
    /// Allow EC keys on P-224 (112-bit security: below the strict
    /// profile's floor; P-521 is always allowed, as P-256 and P-384 are).
    pub allow_p224: bool,
    /// Allow C_EncryptMessage (and Begin) with a caller-chosen IV:
    /// CKG_NO_GENERATE for AES-GCM, and ChaCha20-Poly1305, whose message
    /// parameter has no generator. The default profile allows it, as
    /// C_EncryptInit takes a caller's GCM IV (the caller's risk; the
    /// ecosystem's suites use it); the strict profile makes the token
    /// generate every message IV. Decryption always takes the caller's IV.
    pub allow_caller_message_iv: bool,
    /// Allow MD5 at all (legacy: collisions are cheap): CKM_MD5 digests,
    /// CKM_MD5_HMAC(_GENERAL), and verification of CKM_MD5_RSA_PKCS
    /// signatures. On in the default profile (old data and old signatures
    /// must stay checkable), off in the strict one.
    pub allow_md5: bool,
    /// Also allow making new CKM_MD5_RSA_PKCS signatures (needs `allow_md5`).
    /// Off in both profiles: a chosen-prefix MD5 collision takes hours of
    /// commodity compute, so an MD5 signature over attacker-influenced data
    /// signs a second document too.
    pub allow_md5_signatures: bool,
    /// Allow the legacy derivations of PKCS#11 §2.43 that rearrange a key's
    /// bits (CKM_CONCATENATE_*, CKM_XOR_BASE_AND_DATA,
    /// CKM_EXTRACT_KEY_FROM_KEY). Even when allowed they never expose part
    /// of a sensitive or unextractable key (`token::derive`); the strict
    /// profile refuses them, as SP 800-108 and HKDF do the job properly.
    pub allow_simple_key_derivation: bool,
    /// Allow DES keys (CKK_DES, CKK_DES2, CKK_DES3) and the 3DES
    /// mechanisms. Legacy: the default profile allows them (SoftHSMv2 and
    /// the ecosystem's suites use them), the strict profile does not.
    /// Single DES is never used, whatever this says (see `mechanism::des`).
    pub allow_des3: bool,
    /// Allow DSA keys, domain parameters and mechanisms (default: yes;
    /// strict: no).
    pub allow_dsa: bool,
    /// Allow PKCS#3 Diffie-Hellman keys, domain parameters and mechanisms
    /// (default: yes; strict: no).
    pub allow_dh: bool,
    /// Allow ML-DSA keys (CKK_ML_DSA, FIPS 204) and their mechanisms; both
    /// profiles allow them (NIST-standardised); a site that must not hold
    /// post-quantum keys yet, or must not sign with them, turns it off.
    pub allow_ml_dsa: bool,
    /// Allow ML-KEM keys (CKK_ML_KEM, FIPS 203) and CKM_ML_KEM; as above.
    pub allow_ml_kem: bool,
    /// New key pairs and private keys must be post-quantum (ML-DSA or
    /// ML-KEM): classical key-pair generation is refused
    /// (`CKR_MECHANISM_INVALID`, and advertised without
    /// CKF_GENERATE_KEY_PAIR) and so is every new classical private key
    /// (C_CreateObject, C_UnwrapKey, C_CopyObject, rotation, key import:
    /// `CKR_TEMPLATE_INCONSISTENT`). Keys already in the token keep
    /// verifying, decrypting and signing (nothing is stranded), classical
    /// public keys may still be imported to verify with, and secret keys
    /// are not concerned. Off in both profiles; needs `allow_ml_dsa` and
    /// `allow_ml_kem` (checked by [`KeyPolicy::resolve`]).
    pub require_post_quantum: bool,
}

impl Default for KeyPolicy {
    fn default() -> Self {
        KeyPolicy::DEFAULT
    }
}

const F4: &[u8] = &[1, 0, 1];
const WRAPPING: [CK_ATTRIBUTE_TYPE; 2] = [CKA_WRAP, CKA_UNWRAP];
const DATA: [CK_ATTRIBUTE_TYPE; 2] = [CKA_ENCRYPT, CKA_DECRYPT];

fn refused(rv: CK_RV, rule: &str, what: std::fmt::Arguments<'_>) -> Error {
    Error::new(rv, format!("refused by policy rule {rule}: {what}"))
}

/// The mechanisms that make SHA-1 signatures.
fn sha1_signing(m: &Mechanism) -> bool {
    match m.ty {
        CKM_SHA1_RSA_PKCS | CKM_SHA1_RSA_PKCS_PSS | CKM_ECDSA_SHA1 => true,
        CKM_RSA_PKCS_PSS => matches!(m.param, MechParam::Pss { hash: CKM_SHA_1, .. }),
        _ => false,
    }
}

/// The mechanisms that use MD5.
fn is_md5_mechanism(ty: CK_MECHANISM_TYPE) -> bool {
    matches!(ty, CKM_MD5 | CKM_MD5_HMAC | CKM_MD5_HMAC_GENERAL | CKM_MD5_RSA_PKCS)
}

/// The Curve25519 key types.
fn is_curve25519(kt: Option<CK_KEY_TYPE>) -> bool {
    matches!(kt, Some(CKK_EC_EDWARDS | CKK_EC_MONTGOMERY))
}

/// The mechanisms only Curve25519 keys use (CKM_ECDH1_DERIVE serves EC too).
fn is_curve25519_mechanism(ty: CK_MECHANISM_TYPE) -> bool {
    crate::mechanism::okp::MECHANISMS.iter().any(|m| m.0 == ty)
}

/// Whether `CKA_EC_PARAMS` (DER, or a plain curve name) names P-224.
fn is_p224(params: Option<&[u8]>) -> bool {
    use crate::crypto::{der, ec::Curve};
    params.is_some_and(|p| {
        der::curve_from_params(p).or_else(|| std::str::from_utf8(p).ok().and_then(der::curve_from_name))
            == Some(Curve::P224)
    })
}

/// The EC (Weierstrass) mechanisms, whose smallest key is P-224's.
fn is_ec_mechanism(ty: CK_MECHANISM_TYPE) -> bool {
    crate::mechanism::ec::MECHANISMS.iter().chain(crate::mechanism::ec::KEYGEN_MECHANISMS).any(|m| m.0 == ty)
}

/// The post-quantum knob a key type or mechanism falls under:
/// (allowed, knob name, what).
fn pq_rule(
    p: &KeyPolicy,
    kt: Option<CK_KEY_TYPE>,
    mech: Option<CK_MECHANISM_TYPE>,
) -> Option<(&'static str, &'static str)> {
    let dsa = kt == Some(CKK_ML_DSA)
        || mech.is_some_and(|m| m == CKM_ML_DSA_KEY_PAIR_GEN || crate::mechanism::pq::is_ml_dsa(m));
    let kem = kt == Some(CKK_ML_KEM)
        || mech.is_some_and(|m| m == CKM_ML_KEM_KEY_PAIR_GEN || crate::mechanism::pq::is_ml_kem(m));
    if dsa && !p.allow_ml_dsa {
        return Some(("allow_ml_dsa", "ML-DSA"));
    }
    if kem && !p.allow_ml_kem {
        return Some(("allow_ml_kem", "ML-KEM"));
    }
    None
}

/// The post-quantum key-pair generations (what `require_post_quantum` keeps).
fn is_pq_key_pair_gen(ty: CK_MECHANISM_TYPE) -> bool {
    matches!(ty, CKM_ML_DSA_KEY_PAIR_GEN | CKM_ML_KEM_KEY_PAIR_GEN)
}

/// The RSA operation mechanisms (their key sizes follow the policy).
fn is_rsa_mechanism(ty: CK_MECHANISM_TYPE) -> bool {
    crate::mechanism::rsa::MECHANISMS.iter().any(|m| m.0 == ty)
}

impl KeyPolicy {
    /// What SoftHSMv2 accepts: RSA generation from 1024 bits, public keys
    /// for verification from 512, any odd e >= 3, any AES key of a valid
    /// length, SHA-1 signatures, keys that wrap and decrypt.
    pub const DEFAULT: KeyPolicy = KeyPolicy {
        profile: Profile::Default,
        min_rsa_bits: 1024,
        min_rsa_verify_bits: 512,
        rsa_public_exponent: Exponent::AnyOdd,
        refuse_repeated_byte_keys: false,
        allow_sha1_signatures: true,
        allow_wrap_decrypt_keys: true,
        allow_raw_rsa_sign_decrypt: true,
        allow_curve25519: true,
        allow_p224: true,
        allow_caller_message_iv: true,
        allow_md5: true,
        allow_md5_signatures: false,
        allow_simple_key_derivation: true,
        allow_des3: true,
        allow_dsa: true,
        allow_dh: true,
        allow_ml_dsa: true,
        allow_ml_kem: true,
        require_post_quantum: false,
    };

    /// For production tokens, and always for `keyward key import`.
    pub const STRICT: KeyPolicy = KeyPolicy {
        profile: Profile::Strict,
        min_rsa_bits: 2048,
        min_rsa_verify_bits: 2048,
        rsa_public_exponent: Exponent::F4,
        refuse_repeated_byte_keys: true,
        allow_sha1_signatures: false,
        allow_wrap_decrypt_keys: false,
        allow_raw_rsa_sign_decrypt: false,
        allow_curve25519: true,
        allow_p224: false,
        allow_caller_message_iv: false,
        allow_md5: false,
        allow_md5_signatures: false,
        allow_simple_key_derivation: false,
        allow_des3: false,
        allow_dsa: false,
        allow_dh: false,
        allow_ml_dsa: true,
        allow_ml_kem: true,
        require_post_quantum: false,
    };

    pub fn of(p: Profile) -> KeyPolicy {
        match p {
            Profile::Default => KeyPolicy::DEFAULT,
            Profile::Strict => KeyPolicy::STRICT,
        }
    }

    /// The policy of a slot: the global profile and knobs, then the slot's.
    /// A slot that names a profile starts afresh from it (only its own
    /// knobs apply); one that does not inherits the global policy and
    /// adjusts it. `Err` names the bad knob.
    pub fn resolve(global: &Knobs, slot: Option<&Knobs>) -> std::result::Result<KeyPolicy, String> {
        let mut p = KeyPolicy::of(global.profile.unwrap_or_default());
        p.apply(global);
        if let Some(s) = slot {
            if let Some(profile) = s.profile {
                p = KeyPolicy::of(profile);
            }
            p.apply(s);
        }
        let range = rsa::MIN_BITS..=rsa::MAX_BITS;
        for (name, v) in [("min_rsa_bits", p.min_rsa_bits), ("min_rsa_verify_bits", p.min_rsa_verify_bits)] {
            if !range.contains(&v) {
                return Err(format!("policy.{name} must be between {} and {}", rsa::MIN_BITS, rsa::MAX_BITS));
            }
        }
        if p.require_post_quantum {
            for (name, on) in [("allow_ml_dsa", p.allow_ml_dsa), ("allow_ml_kem", p.allow_ml_kem)] {
                if !on {
                    return Err(format!(
                        "policy.require_post_quantum = true needs policy.{name} = true (post-quantum keys are \
                         required and forbidden at once: the token could make no key pair of that use)"
                    ));
                }
            }
        }
        Ok(p)
    }

    fn apply(&mut self, k: &Knobs) {
        fn set<T: Copy>(dst: &mut T, v: Option<T>) {
            if let Some(v) = v {
                *dst = v;
            }
        }
        set(&mut self.min_rsa_bits, k.min_rsa_bits);
        set(&mut self.min_rsa_verify_bits, k.min_rsa_verify_bits);
        set(&mut self.rsa_public_exponent, k.rsa_public_exponent);
        set(&mut self.refuse_repeated_byte_keys, k.refuse_repeated_byte_keys);
        set(&mut self.allow_sha1_signatures, k.allow_sha1_signatures);
        set(&mut self.allow_wrap_decrypt_keys, k.allow_wrap_decrypt_keys);
        set(&mut self.allow_raw_rsa_sign_decrypt, k.allow_raw_rsa_sign_decrypt);
        set(&mut self.allow_curve25519, k.allow_curve25519);
        set(&mut self.allow_p224, k.allow_p224);
        set(&mut self.allow_caller_message_iv, k.allow_caller_message_iv);
        set(&mut self.allow_md5, k.allow_md5);
        set(&mut self.allow_md5_signatures, k.allow_md5_signatures);
        set(&mut self.allow_simple_key_derivation, k.allow_simple_key_derivation);
        set(&mut self.allow_des3, k.allow_des3);
        set(&mut self.allow_dsa, k.allow_dsa);
        set(&mut self.allow_dh, k.allow_dh);
        set(&mut self.allow_ml_dsa, k.allow_ml_dsa);
        set(&mut self.allow_ml_kem, k.allow_ml_kem);
        set(&mut self.require_post_quantum, k.require_post_quantum);
    }

    /// Smallest RSA public key accepted for verification.
    pub fn verify_floor(&self) -> usize {
        self.min_rsa_verify_bits.min(self.min_rsa_bits)
    }

    // ---- RSA -----------------------------------------------------------------------

    /// C_GenerateKeyPair for RSA, before the engine runs: the size (policy
    /// and engine: multiples of 128 up to 8192, `CKR_KEY_SIZE_RANGE`) and
    /// the public exponent (`CKR_TEMPLATE_INCONSISTENT`; none given means
    /// 65537). Returns the exponent to generate with.
    pub fn check_rsa_generate(&self, bits: usize, e: Option<&[u8]>) -> Result<u32> {
        if bits < self.min_rsa_bits {
            return Err(refused(
                CKR_KEY_SIZE_RANGE,
                "min_rsa_bits",
                format_args!("RSA keys of at least {} bits (asked {bits})", self.min_rsa_bits),
            ));
        }
        if !rsa::can_generate(bits) {
            return Err(err!(
                CKR_KEY_SIZE_RANGE,
                "RSA keys are generated in multiples of 128 bits up to {} (asked {bits})",
                rsa::MAX_BITS
            ));
        }
        let e = crate::crypto::der::strip_leading_zeros(e.unwrap_or(F4));
        self.check_exponent(e, CKR_TEMPLATE_INCONSISTENT)?;
        if e.len() > 4 || e.last().is_none_or(|b| b & 1 == 0) || e == [1] {
            return Err(Error::new(
                CKR_TEMPLATE_INCONSISTENT,
                "the public exponent must be odd, at least 3 and at most 32 bits",
            ));
        }
        Ok(e.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
    }

    fn check_exponent(&self, e: &[u8], rv: CK_RV) -> Result<()> {
        let e = crate::crypto::der::strip_leading_zeros(e);
        if self.rsa_public_exponent == Exponent::F4 && e != F4 {
            return Err(refused(
                rv,
                "rsa_public_exponent",
                format_args!("only e = 65537 (key has e = 0x{})", hex_of(e)),
            ));
        }
        Ok(())
    }

    /// An RSA key object's size and exponent against the policy.
    fn check_rsa_key(&self, kind: Kinds, attrs: &AttrMap) -> Result<()> {
        let bits = modulus_bits(attrs.get(CKA_MODULUS).unwrap_or(&[]));
        let (min, rule) = if kind == PUB_RSA {
            (self.verify_floor(), "min_rsa_verify_bits")
        } else {
            (self.min_rsa_bits, "min_rsa_bits")
        };
        if bits < min {
            return Err(refused(
                CKR_KEY_SIZE_RANGE,
                rule,
                format_args!("RSA key of {bits} bits (at least {min} required)"),
            ));
        }
        self.check_exponent(attrs.get(CKA_PUBLIC_EXPONENT).unwrap_or(&[]), CKR_TEMPLATE_INCONSISTENT)
    }

    // ---- new objects ---------------------------------------------------------------

    /// With `allow_wrap_decrypt_keys = false`, settles the usage flags the
    /// templates left to the token's defaults: if any template (of the key,
    /// or of either half of a pair) asks for CKA_WRAP or CKA_UNWRAP, the
    /// unset CKA_ENCRYPT/CKA_DECRYPT become false; otherwise the unset
    /// CKA_WRAP/CKA_UNWRAP do. Explicit conflicts are left for
    /// [`check_new_object`](Self::check_new_object) to refuse.
    pub fn settle_usage(&self, objs: &mut [(&mut NewObject, &[Attr])]) {
        if self.allow_wrap_decrypt_keys {
            return;
        }
        let asked_wrap = objs.iter().any(|(_, t)| t.iter().any(|a| WRAPPING.contains(&a.ty) && a.value == [1]));
        let defaulted = if asked_wrap { DATA } else { WRAPPING };
        for (n, given) in objs.iter_mut() {
            for ty in defaulted {
                let belongs = rules::rule(ty).is_some_and(|r| r.kinds & n.kind != 0);
                if belongs && !given.iter().any(|a| a.ty == ty) {
                    n.attrs.insert(ty, &[0]);
                }
            }
        }
    }

    /// C_GenerateKeyPair (and a rotation's generation), before the engine
    /// runs: under `require_post_quantum` only the ML-DSA and ML-KEM
    /// key-pair generations (`CKR_MECHANISM_INVALID`).
    pub fn check_key_pair_generation(&self, mech: CK_MECHANISM_TYPE) -> Result<()> {
        if self.require_post_quantum && !is_pq_key_pair_gen(mech) {
            return Err(refused(
                CKR_MECHANISM_INVALID,
                "require_post_quantum",
                format_args!("new key pairs must be ML-DSA or ML-KEM on this token (mechanism 0x{mech:x})"),
            ));
        }
        Ok(())
    }

    /// Every new object, whatever made it (`Token::insert`): RSA size and
    /// exponent, repeated-byte secret keys, wrap/decrypt separation.
    pub fn check_new_object(&self, n: &NewObject) -> Result<()> {
        if !self.allow_curve25519 && is_curve25519(n.ulong(CKA_KEY_TYPE)) {
            return Err(refused(
                CKR_TEMPLATE_INCONSISTENT,
                "allow_curve25519",
                format_args!("no Ed25519/X25519 keys on this token"),
            ));
        }
        if !self.allow_p224 && n.ulong(CKA_KEY_TYPE) == Some(CKK_EC) && is_p224(n.attrs.get(CKA_EC_PARAMS)) {
            return Err(refused(CKR_TEMPLATE_INCONSISTENT, "allow_p224", format_args!("no P-224 keys on this token")));
        }
        if let Some(knob) = self.refused_legacy(n.ulong(CKA_KEY_TYPE), None) {
            return Err(refused(
                CKR_TEMPLATE_INCONSISTENT,
                knob,
                format_args!("no keys of this legacy type on this token"),
            ));
        }
        if let Some((knob, what)) = pq_rule(self, n.ulong(CKA_KEY_TYPE), None) {
            return Err(refused(CKR_TEMPLATE_INCONSISTENT, knob, format_args!("no {what} keys on this token")));
        }
        if self.require_post_quantum
            && n.ulong(CKA_CLASS) == Some(CKO_PRIVATE_KEY)
            && !matches!(n.ulong(CKA_KEY_TYPE), Some(CKK_ML_DSA | CKK_ML_KEM))
        {
            return Err(refused(
                CKR_TEMPLATE_INCONSISTENT,
                "require_post_quantum",
                format_args!("new private keys must be ML-DSA or ML-KEM on this token"),
            ));
        }
        if n.kind == PUB_RSA || n.kind == PRIV_RSA {
            self.check_rsa_key(n.kind, &n.attrs)?;
        }
        if n.kind == SECRET
            && let Some(v) = n.secrets.get(&CKA_VALUE)
        {
            self.check_secret_value(v)?;
        }
        self.check_usage(|ty| n.attrs.flag(ty))
    }

    /// A secret key value entering the token (`CKR_ATTRIBUTE_VALUE_INVALID`).
    pub fn check_secret_value(&self, v: &[u8]) -> Result<()> {
        if self.refuse_repeated_byte_keys && v.first().is_some_and(|b0| v.iter().all(|b| b == b0)) {
            return Err(refused(
                CKR_ATTRIBUTE_VALUE_INVALID,
                "refuse_repeated_byte_keys",
                format_args!("the key's {} bytes are all equal", v.len()),
            ));
        }
        Ok(())
    }

    fn check_usage(&self, flag: impl Fn(CK_ATTRIBUTE_TYPE) -> bool) -> Result<()> {
        if !self.allow_wrap_decrypt_keys && WRAPPING.iter().any(|t| flag(*t)) && DATA.iter().any(|t| flag(*t)) {
            return Err(refused(
                CKR_TEMPLATE_INCONSISTENT,
                "allow_wrap_decrypt_keys",
                format_args!("a key either wraps/unwraps keys or encrypts/decrypts data, not both"),
            ));
        }
        Ok(())
    }

    /// The two halves of a new key pair together: a public key that wraps
    /// and a private key that decrypts (or encrypt + unwrap) are one
    /// wrap/decrypt key.
    pub fn check_pair(&self, public: &NewObject, private: &NewObject) -> Result<()> {
        self.check_usage(|ty| public.attrs.flag(ty) || private.attrs.flag(ty))
    }

    /// C_SetAttributeValue: the object's attributes after the change, when
    /// the template turns a usage flag on.
    pub fn check_usage_change(&self, template: &[Attr], after: impl Fn(CK_ATTRIBUTE_TYPE) -> bool) -> Result<()> {
        let turns_on = template.iter().any(|a| (WRAPPING.contains(&a.ty) || DATA.contains(&a.ty)) && a.value == [1]);
        if turns_on { self.check_usage(after) } else { Ok(()) }
    }

    // ---- key use -------------------------------------------------------------------

    /// A key use at C_*Init; `usage` is the attribute the use needs
    /// (CKA_SIGN, CKA_DECRYPT, ...).
    pub fn check_use(&self, obj: &Object, mech: &Mechanism, usage: CK_ATTRIBUTE_TYPE) -> Result<()> {
        if usage == CKA_SIGN && !self.allow_sha1_signatures && sha1_signing(mech) {
            let rv = if mech.ty == CKM_RSA_PKCS_PSS { CKR_MECHANISM_PARAM_INVALID } else { CKR_MECHANISM_INVALID };
            return Err(refused(rv, "allow_sha1_signatures", format_args!("no new SHA-1 signatures")));
        }
        self.check_md5(mech.ty, usage == CKA_SIGN)?;
        if !self.allow_curve25519 && (is_curve25519(obj.key_type) || is_curve25519_mechanism(mech.ty)) {
            return Err(refused(
                CKR_KEY_FUNCTION_NOT_PERMITTED,
                "allow_curve25519",
                format_args!("no use of Ed25519/X25519 keys on this token"),
            ));
        }
        if !self.allow_p224 && obj.key_type == Some(CKK_EC) && is_p224(obj.get(CKA_EC_PARAMS)) {
            return Err(refused(
                CKR_KEY_FUNCTION_NOT_PERMITTED,
                "allow_p224",
                format_args!("no use of P-224 keys on this token"),
            ));
        }
        if let Some(knob) = self.refused_legacy(obj.key_type, Some(mech.ty)) {
            return Err(refused(
                CKR_KEY_FUNCTION_NOT_PERMITTED,
                knob,
                format_args!("no use of this legacy algorithm on this token"),
            ));
        }
        if let Some((knob, what)) = pq_rule(self, obj.key_type, Some(mech.ty)) {
            return Err(refused(
                CKR_KEY_FUNCTION_NOT_PERMITTED,
                knob,
                format_args!("no use of {what} keys on this token"),
            ));
        }
        if obj.key_type == Some(CKK_RSA) {
            self.check_rsa_use(obj, mech, usage)?;
        }
        if !self.allow_simple_key_derivation && crate::mechanism::kdf::is_simple(mech.ty) {
            return Err(refused(
                CKR_MECHANISM_INVALID,
                "allow_simple_key_derivation",
                format_args!("no legacy bit-rearranging key derivation on this token"),
            ));
        }
        if !self.allow_wrap_decrypt_keys && (WRAPPING.contains(&usage) || DATA.contains(&usage)) {
            self.check_usage(|ty| obj.flag(ty))
                .map_err(|e| Error::new(CKR_KEY_FUNCTION_NOT_PERMITTED, e.reason().to_string()))?;
        }
        Ok(())
    }

    /// C_DigestInit and C_SetOperationState: the digest mechanism against
    /// the policy (MD5).
    pub fn check_digest(&self, mech: &Mechanism) -> Result<()> {
        self.check_md5(mech.ty, false)
    }

    /// MD5 mechanisms: refused unless `allow_md5`; making a CKM_MD5_RSA_PKCS
    /// signature also needs `allow_md5_signatures`.
    fn check_md5(&self, ty: CK_MECHANISM_TYPE, signing: bool) -> Result<()> {
        if !is_md5_mechanism(ty) {
            return Ok(());
        }
        if !self.allow_md5 {
            return Err(refused(CKR_MECHANISM_INVALID, "allow_md5", format_args!("no MD5 on this token")));
        }
        if signing && ty == CKM_MD5_RSA_PKCS && !self.allow_md5_signatures {
            return Err(refused(CKR_MECHANISM_INVALID, "allow_md5_signatures", format_args!("no new MD5 signatures")));
        }
        Ok(())
    }

    fn check_rsa_use(&self, obj: &Object, mech: &Mechanism, usage: CK_ATTRIBUTE_TYPE) -> Result<()> {
        let bits = modulus_bits(obj.get(CKA_MODULUS).unwrap_or(&[]));
        let (min, rule) = if usage == CKA_VERIFY {
            (self.verify_floor(), "min_rsa_verify_bits")
        } else {
            (self.min_rsa_bits, "min_rsa_bits")
        };
        if bits < min {
            let rv = match usage {
                CKA_WRAP => CKR_WRAPPING_KEY_SIZE_RANGE,
                CKA_UNWRAP => CKR_UNWRAPPING_KEY_SIZE_RANGE,
                _ => CKR_KEY_SIZE_RANGE,
            };
            return Err(refused(rv, rule, format_args!("RSA key of {bits} bits (at least {min} required)")));
        }
        self.check_exponent(obj.get(CKA_PUBLIC_EXPONENT).unwrap_or(&[]), CKR_KEY_FUNCTION_NOT_PERMITTED)?;
        if !self.allow_raw_rsa_sign_decrypt
            && mech.ty == CKM_RSA_X_509
            && matches!(usage, CKA_SIGN | CKA_DECRYPT)
            && obj.flag(CKA_SIGN)
            && obj.flag(CKA_DECRYPT)
        {
            return Err(refused(
                CKR_KEY_FUNCTION_NOT_PERMITTED,
                "allow_raw_rsa_sign_decrypt",
                format_args!("raw RSA with a key that may both sign and decrypt"),
            ));
        }
        Ok(())
    }

    // ---- C_GetMechanismInfo --------------------------------------------------------

    /// The registry's entry as this policy allows it: RSA key sizes from
    /// the policy's minimum (verification mechanisms from the verification
    /// floor), and no CKF_SIGN on SHA-1 signing mechanisms when SHA-1
    /// signatures are refused.
    pub fn advertise(&self, ty: CK_MECHANISM_TYPE, mut info: MechanismInfo) -> MechanismInfo {
        if ty == CKM_RSA_PKCS_KEY_PAIR_GEN {
            info.min_key_size = self.min_rsa_bits as CK_ULONG;
        } else if is_rsa_mechanism(ty) {
            let min = if info.flags & CKF_VERIFY != 0 { self.verify_floor() } else { self.min_rsa_bits };
            info.min_key_size = min as CK_ULONG;
        }
        if !self.allow_sha1_signatures && sha1_signing(&Mechanism::new(ty)) {
            info.flags &= !CKF_SIGN;
        }
        if !self.allow_curve25519 && is_curve25519_mechanism(ty) {
            info.flags = 0;
        }
        // Without P-224 the smallest EC key is P-256's, or X25519's 255
        // bits for the ECDH derivations they share.
        if !self.allow_p224 && is_ec_mechanism(ty) {
            let x25519 = self.allow_curve25519 && matches!(ty, CKM_ECDH1_DERIVE | CKM_ECDH1_COFACTOR_DERIVE);
            info.min_key_size = if x25519 { 255 } else { 256 };
        }
        if is_md5_mechanism(ty) {
            if !self.allow_md5 {
                info.flags = 0;
            } else if ty == CKM_MD5_RSA_PKCS && !self.allow_md5_signatures {
                info.flags &= !CKF_SIGN;
            }
        }
        if !self.allow_simple_key_derivation && crate::mechanism::kdf::is_simple(ty) {
            info.flags = 0;
        }
        if self.refused_legacy(None, Some(ty)).is_some() {
            info.flags = 0;
        }
        if pq_rule(self, None, Some(ty)).is_some() {
            info.flags = 0;
        }
        if self.require_post_quantum && !is_pq_key_pair_gen(ty) {
            info.flags &= !CKF_GENERATE_KEY_PAIR;
        }
        info
    }

    // ---- legacy algorithms (DES/3DES, DSA, DH) ---------------------------------------

    /// The knob that refuses a key of type `kt` or the mechanism `mech`,
    /// if one does: the one place the three legacy knobs are decided
    /// (new objects, every use, key and parameter generation through
    /// `check_new_object`, and C_GetMechanismInfo).
    pub fn refused_legacy(&self, kt: Option<CK_KEY_TYPE>, mech: Option<CK_MECHANISM_TYPE>) -> Option<&'static str> {
        let family = legacy_key_family(kt).or_else(|| mech.and_then(legacy_mechanism_family))?;
        let allowed = match family {
            "allow_des3" => self.allow_des3,
            "allow_dsa" => self.allow_dsa,
            _ => self.allow_dh,
        };
        (!allowed).then_some(family)
    }
}

/// The legacy knob a key type belongs to.
fn legacy_key_family(kt: Option<CK_KEY_TYPE>) -> Option<&'static str> {
    match kt? {
        CKK_DES | CKK_DES2 | CKK_DES3 => Some("allow_des3"),
        CKK_DSA => Some("allow_dsa"),
        CKK_DH => Some("allow_dh"),
        _ => None,
    }
}

/// The legacy knob a mechanism belongs to.
fn legacy_mechanism_family(ty: CK_MECHANISM_TYPE) -> Option<&'static str> {
    match ty {
        CKM_DES_KEY_GEN
        | CKM_DES2_KEY_GEN
        | CKM_DES3_KEY_GEN
        | CKM_DES3_ECB
        | CKM_DES3_CBC
        | CKM_DES3_CBC_PAD
        | CKM_DES3_ECB_ENCRYPT_DATA
        | CKM_DES3_CBC_ENCRYPT_DATA => Some("allow_des3"),
        CKM_DSA_PARAMETER_GEN
        | CKM_DSA_KEY_PAIR_GEN
        | CKM_DSA
        | CKM_DSA_SHA1
        | CKM_DSA_SHA224
        | CKM_DSA_SHA256
        | CKM_DSA_SHA384
        | CKM_DSA_SHA512 => Some("allow_dsa"),
        CKM_DH_PKCS_PARAMETER_GEN | CKM_DH_PKCS_KEY_PAIR_GEN | CKM_DH_PKCS_DERIVE => Some("allow_dh"),
        _ => None,
    }
}

fn hex_of(v: &[u8]) -> String {
    if v.is_empty() { "0".into() } else { ::hex::encode(v) }
}

pub mod grant;

#[cfg(test)]
mod tests;
