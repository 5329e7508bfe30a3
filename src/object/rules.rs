//! The declarative attribute table: one line per attribute with the object
//! kinds it belongs to, its value kind and its policy flags (DESIGN.md §3).
//!
//! Template checks (`template.rs`) and attribute reads/writes (`mod.rs`)
//! consult this table instead of `if` chains.

use crate::ck::*;
use crate::object::vendor::*;

/// Object kinds as bits, so a rule can name the set it applies to.
pub type Kinds = u32;
pub const DATA: Kinds = 1 << 0;
pub const CERT: Kinds = 1 << 1;
pub const SECRET: Kinds = 1 << 2;
pub const PUB_RSA: Kinds = 1 << 3;
pub const PUB_EC: Kinds = 1 << 4;
pub const PRIV_RSA: Kinds = 1 << 5;
pub const PRIV_EC: Kinds = 1 << 6;
/// ML-DSA and ML-KEM public keys (PKCS#11 3.2: CKA_VALUE, CKA_PARAMETER_SET).
pub const PUB_PQ: Kinds = 1 << 14;
/// ML-DSA and ML-KEM private keys (CKA_VALUE and/or CKA_SEED, CKA_PARAMETER_SET).
pub const PRIV_PQ: Kinds = 1 << 15;
/// CKO_PROFILE: built by the token only (`object::profile`), never from a
/// template, so `kind_of` does not name it.
pub const PROFILE: Kinds = 1 << 13;
// Legacy (DSA, PKCS#3 DH): keys and domain parameters (CKO_DOMAIN_PARAMETERS).
pub const PUB_DSA: Kinds = 1 << 7;
pub const PRIV_DSA: Kinds = 1 << 8;
pub const PUB_DH: Kinds = 1 << 9;
pub const PRIV_DH: Kinds = 1 << 10;
pub const DOM_DSA: Kinds = 1 << 11;
pub const DOM_DH: Kinds = 1 << 12;
pub const DSA_KEYS: Kinds = PUB_DSA | PRIV_DSA;
pub const DH_KEYS: Kinds = PUB_DH | PRIV_DH;
pub const DOMAIN: Kinds = DOM_DSA | DOM_DH;
pub const PUB: Kinds = PUB_RSA | PUB_EC | PUB_DSA | PUB_DH | PUB_PQ;
pub const PRIV: Kinds = PRIV_RSA | PRIV_EC | PRIV_DSA | PRIV_DH | PRIV_PQ;
pub const KEY: Kinds = SECRET | PUB | PRIV;
pub const ANY: Kinds = DATA | CERT | KEY | DOMAIN;

/// The kind of an object from its class and key type.
pub fn kind_of(class: CK_OBJECT_CLASS, key_type: Option<CK_KEY_TYPE>) -> Option<Kinds> {
    Some(match (class, key_type) {
        (CKO_DATA, _) => DATA,
        (CKO_CERTIFICATE, _) => CERT,
        (CKO_SECRET_KEY, Some(kt)) if is_secret_key_type(kt) => SECRET,
        (CKO_PUBLIC_KEY, Some(CKK_RSA)) => PUB_RSA,
        // Ed25519 and X25519 keys carry the EC attributes (PKCS#11 3.0 §2.3.5-6).
        (CKO_PUBLIC_KEY, Some(CKK_EC | CKK_EC_EDWARDS | CKK_EC_MONTGOMERY)) => PUB_EC,
        (CKO_PRIVATE_KEY, Some(CKK_RSA)) => PRIV_RSA,
        (CKO_PRIVATE_KEY, Some(CKK_EC | CKK_EC_EDWARDS | CKK_EC_MONTGOMERY)) => PRIV_EC,
        (CKO_PUBLIC_KEY, Some(CKK_DSA)) => PUB_DSA,
        (CKO_PRIVATE_KEY, Some(CKK_DSA)) => PRIV_DSA,
        (CKO_PUBLIC_KEY, Some(CKK_DH)) => PUB_DH,
        (CKO_PRIVATE_KEY, Some(CKK_DH)) => PRIV_DH,
        (CKO_DOMAIN_PARAMETERS, Some(CKK_DSA)) => DOM_DSA,
        (CKO_DOMAIN_PARAMETERS, Some(CKK_DH)) => DOM_DH,
        (CKO_PUBLIC_KEY, Some(CKK_ML_DSA | CKK_ML_KEM)) => PUB_PQ,
        (CKO_PRIVATE_KEY, Some(CKK_ML_DSA | CKK_ML_KEM)) => PRIV_PQ,
        _ => return None,
    })
}

pub fn is_secret_key_type(kt: CK_KEY_TYPE) -> bool {
    matches!(
        kt,
        CKK_AES
            | CKK_GENERIC_SECRET
            | CKK_SHA_1_HMAC
            | CKK_SHA224_HMAC
            | CKK_SHA256_HMAC
            | CKK_SHA384_HMAC
            | CKK_SHA512_HMAC
            | CKK_CHACHA20
            // SHA-3 HMAC keys (PKCS#11 3.0).
            | CKK_SHA3_224_HMAC
            | CKK_SHA3_256_HMAC
            | CKK_SHA3_384_HMAC
            | CKK_SHA3_512_HMAC
            // HKDF keys (CKM_HKDF_KEY_GEN; bases of CKM_HKDF_DERIVE/DATA).
            | CKK_HKDF
            // Legacy (`[policy] allow_des3`).
            | CKK_DES
            | CKK_DES2
            | CKK_DES3
    )
}

/// How a value is shaped (checked on every write).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    Bool,
    Ulong,
    Bytes,
    /// UTF-8 is not required by the spec; any bytes.
    Text,
    /// CK_DATE: 8 ASCII digits YYYYMMDD, or empty.
    Date,
    /// An array of CK_MECHANISM_TYPE.
    MechList,
    /// A nested template (encoded by `types::encode_template`).
    Template,
}

/// Policy flags.
pub type Flags = u32;
/// Secret value: sealed at rest, unreadable when the key is sensitive or
/// unextractable (`CKR_ATTRIBUTE_SENSITIVE`).
pub const SECRET_VALUE: Flags = 1 << 0;
/// Cannot be changed after creation (`CKR_ATTRIBUTE_READ_ONLY`).
pub const FIXED: Flags = 1 << 1;
/// Maintained by the token: a caller may not supply it (`CKR_ATTRIBUTE_READ_ONLY`).
pub const TOKEN_SET: Flags = 1 << 2;
/// May only change from false to true (CKA_SENSITIVE, CKA_WRAP_WITH_TRUSTED).
pub const TO_TRUE_ONLY: Flags = 1 << 3;
/// May only change from true to false (CKA_EXTRACTABLE, CKA_COPYABLE).
pub const TO_FALSE_ONLY: Flags = 1 << 4;
/// Must not appear in a C_GenerateKey/C_GenerateKeyPair template (the token
/// computes it): `CKR_TEMPLATE_INCONSISTENT`.
pub const NOT_ON_GENERATE: Flags = 1 << 5;
/// Only meaningful on generation (CKA_MODULUS_BITS, CKA_VALUE_LEN): not
/// stored from a create template unless consistent.
pub const GENERATE_ONLY: Flags = 1 << 6;
/// May be changed by C_CopyObject's template.
pub const COPY_CHANGEABLE: Flags = 1 << 7;
/// Only the SO may set it to true (CKA_TRUSTED).
pub const SO_ONLY: Flags = 1 << 8;

pub struct Rule {
    pub ty: CK_ATTRIBUTE_TYPE,
    pub kinds: Kinds,
    pub value: ValueKind,
    pub flags: Flags,
    /// Kinds for which C_CreateObject must supply it.
    pub required_create: Kinds,
    /// Kinds for which key generation must supply it.
    pub required_generate: Kinds,
}

use ValueKind::*;

macro_rules! rules {
    ($( $ty:ident : $kinds:expr, $vk:ident, $flags:expr, create $rc:expr, gen $rg:expr; )*) => {
        pub static RULES: &[Rule] = &[
            $( Rule { ty: $ty, kinds: $kinds, value: $vk, flags: $flags, required_create: $rc, required_generate: $rg }, )*
        ];
    };
}

const NONE: Kinds = 0;

rules! {
    // common storage attributes
    CKA_CLASS:            ANY, Ulong, FIXED, create ANY, gen NONE;
    CKA_TOKEN:            ANY, Bool, FIXED | COPY_CHANGEABLE, create NONE, gen NONE;
    CKA_PRIVATE:          ANY, Bool, FIXED | COPY_CHANGEABLE, create NONE, gen NONE;
    CKA_MODIFIABLE:       ANY, Bool, FIXED | COPY_CHANGEABLE, create NONE, gen NONE;
    CKA_COPYABLE:         ANY, Bool, TO_FALSE_ONLY | COPY_CHANGEABLE, create NONE, gen NONE;
    CKA_DESTROYABLE:      ANY, Bool, COPY_CHANGEABLE, create NONE, gen NONE;
    CKA_LABEL:            ANY, Text, COPY_CHANGEABLE, create NONE, gen NONE;
    CKA_UNIQUE_ID:        ANY, Text, TOKEN_SET | FIXED, create NONE, gen NONE;
    // data objects
    CKA_APPLICATION:      DATA, Text, FIXED, create NONE, gen NONE;
    CKA_OBJECT_ID:        DATA, Bytes, FIXED, create NONE, gen NONE;
    CKA_VALUE:            DATA | CERT | SECRET | PRIV_EC | DSA_KEYS | DH_KEYS | PUB_PQ | PRIV_PQ, Bytes, NOT_ON_GENERATE, create SECRET | PRIV_EC | DSA_KEYS | DH_KEYS | PUB_PQ, gen NONE;
    // certificates (X.509 public-key certificates, stored as given)
    CKA_CERTIFICATE_TYPE: CERT, Ulong, FIXED, create CERT, gen NONE;
    CKA_TRUSTED:          CERT | KEY, Bool, SO_ONLY, create NONE, gen NONE;
    CKA_CERTIFICATE_CATEGORY: CERT, Ulong, FIXED, create NONE, gen NONE;
    CKA_CHECK_VALUE:      CERT, Bytes, FIXED, create NONE, gen NONE;
    CKA_SUBJECT:          CERT | PUB | PRIV, Bytes, 0, create NONE, gen NONE;
    CKA_ISSUER:           CERT, Bytes, FIXED, create NONE, gen NONE;
    CKA_SERIAL_NUMBER:    CERT, Bytes, FIXED, create NONE, gen NONE;
    CKA_URL:              CERT, Text, FIXED, create NONE, gen NONE;
    CKA_HASH_OF_SUBJECT_PUBLIC_KEY: CERT, Bytes, FIXED, create NONE, gen NONE;
    CKA_HASH_OF_ISSUER_PUBLIC_KEY:  CERT, Bytes, FIXED, create NONE, gen NONE;
    CKA_JAVA_MIDP_SECURITY_DOMAIN:  CERT, Ulong, FIXED, create NONE, gen NONE;
    CKA_NAME_HASH_ALGORITHM:        CERT, Ulong, FIXED, create NONE, gen NONE;
    // common key attributes
    CKA_KEY_TYPE:         KEY | DOMAIN, Ulong, FIXED, create KEY | DOMAIN, gen NONE;
    CKA_ID:               KEY | CERT, Bytes, 0, create NONE, gen NONE;
    CKA_START_DATE:       KEY | CERT, Date, 0, create NONE, gen NONE;
    CKA_END_DATE:         KEY | CERT, Date, 0, create NONE, gen NONE;
    CKA_DERIVE:           KEY, Bool, 0, create NONE, gen NONE;
    CKA_LOCAL:            KEY | DOMAIN, Bool, TOKEN_SET | FIXED, create NONE, gen NONE;
    CKA_KEY_GEN_MECHANISM: KEY, Ulong, TOKEN_SET | FIXED, create NONE, gen NONE;
    CKA_ALLOWED_MECHANISMS: KEY, MechList, 0, create NONE, gen NONE;
    // public keys
    CKA_ENCRYPT:          SECRET | PUB, Bool, 0, create NONE, gen NONE;
    CKA_VERIFY:           SECRET | PUB, Bool, 0, create NONE, gen NONE;
    CKA_VERIFY_RECOVER:   PUB, Bool, 0, create NONE, gen NONE;
    CKA_WRAP:             SECRET | PUB, Bool, 0, create NONE, gen NONE;
    CKA_WRAP_TEMPLATE:    SECRET | PUB, Template, FIXED, create NONE, gen NONE;
    CKA_PUBLIC_KEY_INFO:  PUB | PRIV, Bytes, NOT_ON_GENERATE, create NONE, gen NONE;
    // private and secret keys
    CKA_SENSITIVE:        SECRET | PRIV, Bool, TO_TRUE_ONLY, create NONE, gen NONE;
    CKA_DECRYPT:          SECRET | PRIV, Bool, 0, create NONE, gen NONE;
    CKA_SIGN:             SECRET | PRIV, Bool, 0, create NONE, gen NONE;
    CKA_SIGN_RECOVER:     PRIV, Bool, 0, create NONE, gen NONE;
    CKA_UNWRAP:           SECRET | PRIV, Bool, 0, create NONE, gen NONE;
    CKA_EXTRACTABLE:      SECRET | PRIV, Bool, TO_FALSE_ONLY, create NONE, gen NONE;
    CKA_ALWAYS_SENSITIVE: SECRET | PRIV, Bool, TOKEN_SET | FIXED, create NONE, gen NONE;
    CKA_NEVER_EXTRACTABLE: SECRET | PRIV, Bool, TOKEN_SET | FIXED, create NONE, gen NONE;
    CKA_WRAP_WITH_TRUSTED: SECRET | PRIV, Bool, TO_TRUE_ONLY, create NONE, gen NONE;
    CKA_UNWRAP_TEMPLATE:  SECRET | PRIV, Template, FIXED, create NONE, gen NONE;
    CKA_DERIVE_TEMPLATE:  SECRET | PRIV, Template, FIXED, create NONE, gen NONE;
    CKA_ALWAYS_AUTHENTICATE: PRIV, Bool, TO_TRUE_ONLY, create NONE, gen NONE;
    // secret keys
    CKA_VALUE_LEN:        SECRET, Ulong, FIXED | GENERATE_ONLY, create NONE, gen NONE;
    // RSA
    CKA_MODULUS:          PUB_RSA | PRIV_RSA, Bytes, FIXED | NOT_ON_GENERATE, create PUB_RSA | PRIV_RSA, gen NONE;
    CKA_MODULUS_BITS:     PUB_RSA, Ulong, FIXED | GENERATE_ONLY, create NONE, gen PUB_RSA;
    CKA_PUBLIC_EXPONENT:  PUB_RSA | PRIV_RSA, Bytes, FIXED, create PUB_RSA, gen NONE;
    CKA_PRIVATE_EXPONENT: PRIV_RSA, Bytes, FIXED | SECRET_VALUE | NOT_ON_GENERATE, create PRIV_RSA, gen NONE;
    CKA_PRIME_1:          PRIV_RSA, Bytes, FIXED | SECRET_VALUE | NOT_ON_GENERATE, create NONE, gen NONE;
    CKA_PRIME_2:          PRIV_RSA, Bytes, FIXED | SECRET_VALUE | NOT_ON_GENERATE, create NONE, gen NONE;
    CKA_EXPONENT_1:       PRIV_RSA, Bytes, FIXED | SECRET_VALUE | NOT_ON_GENERATE, create NONE, gen NONE;
    CKA_EXPONENT_2:       PRIV_RSA, Bytes, FIXED | SECRET_VALUE | NOT_ON_GENERATE, create NONE, gen NONE;
    CKA_COEFFICIENT:      PRIV_RSA, Bytes, FIXED | SECRET_VALUE | NOT_ON_GENERATE, create NONE, gen NONE;
    // EC
    CKA_EC_PARAMS:        PUB_EC | PRIV_EC, Bytes, FIXED, create PUB_EC | PRIV_EC, gen PUB_EC;
    CKA_EC_POINT:         PUB_EC, Bytes, FIXED | NOT_ON_GENERATE, create PUB_EC, gen NONE;
    // DSA and PKCS#3 DH keys and domain parameters (legacy; the mechanism
    // supplies the parameters of a generated key, so they are not
    // NOT_ON_GENERATE; CKA_PRIME_BITS of domain parameters and
    // CKA_VALUE_BITS of a DH private key are set by the token).
    CKA_PRIME:            DSA_KEYS | DH_KEYS | DOMAIN, Bytes, FIXED, create DSA_KEYS | DH_KEYS | DOMAIN, gen PUB_DSA | PUB_DH;
    CKA_SUBPRIME:         DSA_KEYS | DOM_DSA, Bytes, FIXED, create DSA_KEYS | DOM_DSA, gen PUB_DSA;
    CKA_BASE:             DSA_KEYS | DH_KEYS | DOMAIN, Bytes, FIXED, create DSA_KEYS | DH_KEYS | DOMAIN, gen PUB_DSA | PUB_DH;
    CKA_PRIME_BITS:       DOMAIN, Ulong, FIXED | GENERATE_ONLY, create NONE, gen DOMAIN;
    CKA_VALUE_BITS:       PRIV_DH, Ulong, FIXED | GENERATE_ONLY, create NONE, gen NONE;
    // PKCS#11 3.2 ML-DSA / ML-KEM (token::pq): a private key has CKA_VALUE, CKA_SEED or both
    CKA_PARAMETER_SET:    PUB_PQ | PRIV_PQ, Ulong, FIXED, create NONE, gen PUB_PQ;
    CKA_SEED:             PRIV_PQ, Bytes, FIXED | SECRET_VALUE | NOT_ON_GENERATE, create NONE, gen NONE;
    CKA_ENCAPSULATE:      PUB_PQ, Bool, 0, create NONE, gen NONE;
    CKA_DECAPSULATE:      PRIV_PQ, Bool, 0, create NONE, gen NONE;
    // keyward lifecycle (DESIGN.md §4, src/kms/attrs.rs, include/keyward.h)
    CKA_KEYWARD_VERSION:  KEY, Ulong, TOKEN_SET | FIXED, create NONE, gen NONE;
    CKA_KEYWARD_PRIMARY:  KEY, Bool, TOKEN_SET, create NONE, gen NONE;
    CKA_KEYWARD_STATE:    KEY, Ulong, 0, create NONE, gen NONE;
    CKA_KEYWARD_DESTROY_AT: KEY, Ulong, TOKEN_SET, create NONE, gen NONE;
    CKA_KEYWARD_ROTATION_PERIOD: SECRET, Ulong, 0, create NONE, gen NONE;
    CKA_KEYWARD_NEXT_ROTATION: SECRET, Ulong, TOKEN_SET, create NONE, gen NONE;
    CKA_KEYWARD_TAGS:     KEY, Text, COPY_CHANGEABLE, create NONE, gen NONE;
    CKA_KEYWARD_ORIGIN:   KEY, Ulong, TOKEN_SET | FIXED, create NONE, gen NONE;
    CKA_KEYWARD_CREATED:  KEY, Ulong, TOKEN_SET | FIXED, create NONE, gen NONE;
    CKA_KEYWARD_ROTATED:  KEY, Ulong, TOKEN_SET, create NONE, gen NONE;
    CKA_KEYWARD_PRIOR_STATE: KEY, Ulong, TOKEN_SET, create NONE, gen NONE;
    CKA_KEYWARD_KEY_ID:   KEY, Text, TOKEN_SET | FIXED, create NONE, gen NONE;
    CKA_KEYWARD_COPY_OF:  KEY, Ulong, TOKEN_SET | FIXED, create NONE, gen NONE;
    CKA_KEYWARD_SEAL:     KEY, Text, TOKEN_SET | FIXED, create NONE, gen NONE;
    // template-only directives: never stored (the kms layer strips them)
    CKA_KEYWARD_ROTATE:   KEY, Bool, TOKEN_SET, create NONE, gen NONE;
    CKA_KEYWARD_ALL_VERSIONS: KEY, Bool, TOKEN_SET, create NONE, gen NONE;
}

/// The rule for `ty`, if the attribute is known at all.
pub fn rule(ty: CK_ATTRIBUTE_TYPE) -> Option<&'static Rule> {
    // Every attribute of every new object is looked up (twice): a sorted
    // index instead of a scan of the table.
    static SORTED: std::sync::LazyLock<Vec<&'static Rule>> = std::sync::LazyLock::new(|| {
        let mut v: Vec<&'static Rule> = RULES.iter().collect();
        v.sort_by_key(|r| r.ty);
        v
    });
    let i = SORTED.binary_search_by_key(&ty, |r| r.ty).ok()?;
    SORTED.get(i).copied()
}

/// Whether the secret-value flag applies to `ty` on an object of `kind`.
/// CKA_VALUE is secret on secret and private keys, public on data/certs.
pub fn is_secret(ty: CK_ATTRIBUTE_TYPE, kind: Kinds) -> bool {
    match ty {
        CKA_VALUE => kind & (SECRET | PRIV) != 0,
        _ => rule(ty).is_some_and(|r| r.flags & SECRET_VALUE != 0),
    }
}

/// [`is_secret`] for an attribute whose rule is already at hand.
pub fn rule_is_secret(r: &Rule, kind: Kinds) -> bool {
    match r.ty {
        CKA_VALUE => kind & (SECRET | PRIV) != 0,
        _ => r.flags & SECRET_VALUE != 0,
    }
}

/// Checks the shape of a value.
pub fn value_ok(kind: ValueKind, v: &[u8]) -> bool {
    match kind {
        Bool => v.len() == 1 && v[0] <= 1,
        Ulong => v.len() == std::mem::size_of::<CK_ULONG>(),
        Bytes | Text => true,
        Date => v.is_empty() || (v.len() == 8 && v.iter().all(u8::is_ascii_digit)),
        MechList => v.len().is_multiple_of(std::mem::size_of::<CK_MECHANISM_TYPE>()),
        Template => crate::types::decode_template(v).is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_no_duplicates() {
        for (i, r) in RULES.iter().enumerate() {
            assert!(RULES[i + 1..].iter().all(|o| o.ty != r.ty), "duplicate rule 0x{:x}", r.ty);
            assert!(rule(r.ty).is_some_and(|f| std::ptr::eq(f, r)), "lookup of 0x{:x}", r.ty);
        }
        assert!(rule(0x7fff_0001).is_none() && rule(CKA_VENDOR_DEFINED + 0xdead).is_none());
    }

    #[test]
    fn required_attrs_belong_to_their_kinds() {
        for r in RULES {
            assert_eq!(r.required_create & !r.kinds, 0, "0x{:x}", r.ty);
            assert_eq!(r.required_generate & !r.kinds, 0, "0x{:x}", r.ty);
        }
    }

    #[test]
    fn value_shapes() {
        assert!(value_ok(Bool, &[1]));
        assert!(!value_ok(Bool, &[2]));
        assert!(!value_ok(Bool, &[1, 0]));
        assert!(value_ok(Date, b"20261123"));
        assert!(!value_ok(Date, b"2026112x"));
        assert!(value_ok(Ulong, &[0; 8]));
    }
}
