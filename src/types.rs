//! Plain Rust values that cross from the ABI layer into the safe API.
//!
//! The ABI converts every C argument into one of these once; no C pointer
//! type travels below `abi/`.

use crate::ck::*;

/// Key-derivation parameters (one module so that other areas merge cleanly).
pub mod kdf;

/// An object handle, session handle or slot id as the caller sees it.
pub type Handle = CK_ULONG;

/// A hasher for maps keyed by handles (which keyward itself hands out, so
/// there is nothing for an attacker to collide): one multiply, instead of
/// SipHash on every session and object lookup of the hot path.
#[derive(Default, Clone, Copy)]
pub struct HandleHasher(u64);

impl std::hash::Hasher for HandleHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(*b)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A map keyed by handles (see [`HandleHasher`]).
pub type HandleMap<V> = std::collections::HashMap<Handle, V, std::hash::BuildHasherDefault<HandleHasher>>;

/// One entry of a template passed in by the caller.
///
/// For array-valued attributes (`CKA_WRAP_TEMPLATE`, `CKA_UNWRAP_TEMPLATE`,
/// `CKA_DERIVE_TEMPLATE`) the value is the nested template encoded with
/// [`encode_template`]; for `CKA_ALLOWED_MECHANISMS` it is the native-endian
/// array of `CK_MECHANISM_TYPE`s, as the C caller passed it.
#[derive(Clone, PartialEq, Eq)]
pub struct Attr {
    pub ty: CK_ATTRIBUTE_TYPE,
    pub value: Vec<u8>,
}

impl std::fmt::Debug for Attr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be secret: never print them.
        write!(f, "Attr(0x{:x}, {} bytes)", self.ty, self.value.len())
    }
}

impl Attr {
    pub fn new(ty: CK_ATTRIBUTE_TYPE, value: impl Into<Vec<u8>>) -> Self {
        Attr { ty, value: value.into() }
    }
    pub fn bool(ty: CK_ATTRIBUTE_TYPE, v: bool) -> Self {
        Attr { ty, value: vec![v as u8] }
    }
    pub fn ulong(ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Self {
        Attr { ty, value: v.to_ne_bytes().to_vec() }
    }
}

/// Encodes a nested template (array attribute value) as bytes: for each entry
/// the type (u64 LE), the length (u32 LE) and the value.
pub fn encode_template(t: &[Attr]) -> Vec<u8> {
    let mut out = Vec::new();
    for a in t {
        out.extend_from_slice(&a.ty.to_le_bytes());
        out.extend_from_slice(&(a.value.len() as u32).to_le_bytes());
        out.extend_from_slice(&a.value);
    }
    out
}

/// Decodes what [`encode_template`] wrote; `None` on malformed input.
pub fn decode_template(mut b: &[u8]) -> Option<Vec<Attr>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 12 {
            return None;
        }
        let ty = u64::from_le_bytes(b[..8].try_into().ok()?);
        let len = u32::from_le_bytes(b[8..12].try_into().ok()?) as usize;
        b = &b[12..];
        if b.len() < len {
            return None;
        }
        out.push(Attr { ty: ty as CK_ATTRIBUTE_TYPE, value: b[..len].to_vec() });
        b = &b[len..];
    }
    Some(out)
}

/// A mechanism with its parameter, parsed by the ABI from `CK_MECHANISM`.
#[derive(Clone, PartialEq, Eq)]
pub struct Mechanism {
    pub ty: CK_MECHANISM_TYPE,
    pub param: MechParam,
}

impl std::fmt::Debug for Mechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mechanism(0x{:x})", self.ty)
    }
}

impl Mechanism {
    pub fn new(ty: CK_MECHANISM_TYPE) -> Self {
        Mechanism { ty, param: MechParam::None }
    }
}

/// The parameter of a mechanism. The ABI picks the variant by mechanism type
/// (see `abi::mechanism`); an unknown mechanism's parameter arrives as `Bytes`.
#[derive(Clone, PartialEq, Eq)]
pub enum MechParam {
    None,
    /// A plain byte-array parameter: an IV (CBC), a KW IV, a data string.
    Bytes(Vec<u8>),
    /// A `CK_ULONG` parameter (CK_MAC_GENERAL_PARAMS, salt length ...).
    Ulong(CK_ULONG),
    /// CK_GCM_PARAMS (ulIvBits ignored).
    Gcm {
        iv: Vec<u8>,
        aad: Vec<u8>,
        tag_bits: CK_ULONG,
    },
    /// CK_AES_CTR_PARAMS.
    Ctr {
        counter_bits: CK_ULONG,
        cb: [u8; 16],
    },
    /// CK_RSA_PKCS_OAEP_PARAMS.
    Oaep {
        hash: CK_MECHANISM_TYPE,
        mgf: CK_ULONG,
        source: CK_ULONG,
        source_data: Vec<u8>,
    },
    /// CK_RSA_PKCS_PSS_PARAMS.
    Pss {
        hash: CK_MECHANISM_TYPE,
        mgf: CK_ULONG,
        salt_len: CK_ULONG,
    },
    /// CK_ECDH1_DERIVE_PARAMS.
    Ecdh {
        kdf: CK_ULONG,
        shared_data: Vec<u8>,
        public_data: Vec<u8>,
    },
    /// CK_EDDSA_PARAMS.
    Eddsa {
        ph: bool,
        context: Vec<u8>,
    },
    /// CK_SALSA20_CHACHA20_POLY1305_PARAMS (CKM_CHACHA20_POLY1305).
    ChaCha {
        nonce: Vec<u8>,
        aad: Vec<u8>,
    },
    /// The key-derivation mechanisms' parameters (`types::kdf`).
    Kdf(Box<kdf::KdfParam>),
    // ---- PKCS#11 3.2 post-quantum (mechanism::pq) ----
    /// CK_SIGN_ADDITIONAL_CONTEXT (CKM_ML_DSA, CKM_HASH_ML_DSA_<hash>).
    SignContext {
        hedge: CK_ULONG,
        context: Vec<u8>,
    },
    /// CK_HASH_SIGN_ADDITIONAL_CONTEXT (CKM_HASH_ML_DSA).
    HashSignContext {
        hedge: CK_ULONG,
        context: Vec<u8>,
        hash: CK_MECHANISM_TYPE,
    },
}

/// Which per-message parameter structure a message-based AEAD call carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// CK_GCM_MESSAGE_PARAMS (CKM_AES_GCM).
    Gcm,
    /// CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS (CKM_CHACHA20_POLY1305):
    /// no generator, the caller's nonce.
    ChaCha,
}

/// The per-message parameter of C_EncryptMessage, C_DecryptMessage and
/// their Begin/Next forms (PKCS#11 3.0 §5.?: in-out). The C boundary copies
/// it in and writes back `iv` (a token-generated IV) and `tag` (after an
/// encryption) into the caller's structure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageParam {
    pub kind: MessageKind,
    /// In: the caller's IV or nonce (or the fixed part to keep); out: the
    /// IV the message used.
    pub iv: Vec<u8>,
    /// `ulIvFixedBits` (GCM; 0 for ChaCha20-Poly1305).
    pub iv_fixed_bits: CK_ULONG,
    /// `ivGenerator`: CKG_NO_GENERATE, CKG_GENERATE, ... (GCM).
    pub generator: CK_ULONG,
    /// Tag length in bytes (`ulTagBits / 8`; 16 for ChaCha20-Poly1305).
    pub tag_len: usize,
    /// In (decryption): the tag to check; out (encryption): the tag.
    pub tag: Vec<u8>,
}

/// The kinds of cryptographic operation a session holds at most one of
/// each (the find operation is not one of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Encrypt,
    Decrypt,
    Digest,
    Sign,
    Verify,
    /// The PKCS#11 3.0 message-based encryption (C_MessageEncryptInit).
    MessageEncrypt,
    /// The PKCS#11 3.0 message-based decryption (C_MessageDecryptInit).
    MessageDecrypt,
}

/// Which user a login names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserType {
    So,
    User,
    ContextSpecific,
}

impl UserType {
    pub fn from_ck(u: CK_USER_TYPE) -> Option<UserType> {
        match u {
            CKU_SO => Some(UserType::So),
            CKU_USER => Some(UserType::User),
            CKU_CONTEXT_SPECIFIC => Some(UserType::ContextSpecific),
            _ => None,
        }
    }
}

/// The module's version, (major, minor) of Cargo.toml's semver: CK_INFO's
/// libraryVersion and the slots' and tokens' firmware and hardware
/// versions (a software token: its firmware is this module).
pub const MODULE_VERSION: (u8, u8) =
    (version_part(env!("CARGO_PKG_VERSION_MAJOR")), version_part(env!("CARGO_PKG_VERSION_MINOR")));

/// A decimal version component at compile time (more than 255 fails the build).
const fn version_part(s: &str) -> u8 {
    let b = s.as_bytes();
    let mut i = 0;
    let mut n: u32 = 0;
    while i < b.len() {
        assert!(b[i].is_ascii_digit(), "version component is not a number");
        n = n * 10 + (b[i] - b'0') as u32;
        assert!(n <= 255, "version component above 255");
        i += 1;
    }
    n as u8
}

/// Options from `CK_C_INITIALIZE_ARGS`, already validated by the ABI.
#[derive(Clone, Debug, Default)]
pub struct InitOptions {
    /// `CKF_LIBRARY_CANT_CREATE_OS_THREADS`: no background threads.
    pub no_threads: bool,
}

#[derive(Clone, Debug)]
pub struct LibraryInfo {
    pub cryptoki_version: (u8, u8),
    pub manufacturer: String,
    pub description: String,
    pub library_version: (u8, u8),
}

#[derive(Clone, Debug)]
pub struct SlotInfo {
    pub description: String,
    pub manufacturer: String,
    pub flags: CK_FLAGS,
    pub hardware_version: (u8, u8),
    pub firmware_version: (u8, u8),
}

#[derive(Clone, Debug)]
pub struct TokenInfo {
    pub label: String,
    pub manufacturer: String,
    pub model: String,
    pub serial: String,
    pub flags: CK_FLAGS,
    pub max_session_count: CK_ULONG,
    pub session_count: CK_ULONG,
    pub max_rw_session_count: CK_ULONG,
    pub rw_session_count: CK_ULONG,
    pub max_pin_len: CK_ULONG,
    pub min_pin_len: CK_ULONG,
    pub total_public_memory: CK_ULONG,
    pub free_public_memory: CK_ULONG,
    pub total_private_memory: CK_ULONG,
    pub free_private_memory: CK_ULONG,
    pub hardware_version: (u8, u8),
    pub firmware_version: (u8, u8),
    /// 16 characters, `YYYYMMDDhhmmss00`.
    pub utc_time: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MechanismInfo {
    pub min_key_size: CK_ULONG,
    pub max_key_size: CK_ULONG,
    pub flags: CK_FLAGS,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    pub slot: Handle,
    pub state: CK_STATE,
    pub flags: CK_FLAGS,
    pub device_error: CK_ULONG,
}

/// One answer of C_GetAttributeValue for one requested attribute.
#[derive(Clone, PartialEq, Eq)]
pub enum AttrValue {
    /// The value (for array attributes, encoded as in [`encode_template`]).
    Value(Vec<u8>),
    /// The attribute is sensitive or unextractable: `CKR_ATTRIBUTE_SENSITIVE`.
    Sensitive,
    /// The object has no such attribute: `CKR_ATTRIBUTE_TYPE_INVALID`.
    Invalid,
}

impl std::fmt::Debug for AttrValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttrValue::Value(v) => write!(f, "Value({} bytes)", v.len()),
            AttrValue::Sensitive => write!(f, "Sensitive"),
            AttrValue::Invalid => write!(f, "Invalid"),
        }
    }
}
