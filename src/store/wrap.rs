//! The at-rest formats of named users (docs/named-users.md §1.2): per-key
//! data keys (DEKs) and what they seal, their HPKE wraps for grantees, the
//! sealed principal secret, and the byte strings principals sign. The
//! master-key formats stay in `store::seal`.
//!
//! Layouts (integers little-endian; `lp(x)` = `len(x) u32 || x`):
//!
//! - attribute sealed under a DEK: `0x02 || nonce (12) || ct || tag (16)`,
//!   AES-256-GCM, AAD `"keyward-attr-v2" || lp(key_id) || lp(uid) || type
//!   u64 || class u64 || key_type u64`;
//! - the DEK's row-MAC key: `HKDF-SHA256(salt = "keyward-row-mac", DEK,
//!   "keyward-row-key-v3")`, a [`RowKey`];
//! - grant wrap of a DEK: `0x01 || enc (32) || ct (32) || tag (16)`, HPKE
//!   base mode (`crypto::hpke`) to the grantee's X25519 key, info
//!   `"keyward-dek-v1" || lp(serial) || lp(key_id) || principal id u32`,
//!   AAD the format byte;
//! - principal secret: `0x01 || nonce || ct || tag`, AES-256-GCM under a
//!   32-byte key (a PIN subkey, `seal::Kek::subkey`), AAD
//!   `"keyward-principal-v1" || lp(serial) || principal id u32 || lp(name)`,
//!   plaintext the `store::codec` TLV of [`PrincipalSecret`];
//! - signed payloads ([`PrincipalRecord::payload`], [`grant_payload`]),
//!   Ed25519 over domain-separated, length-prefixed fields.
//!
//! Owns these byte layouts and their binding checks. Knows nothing of
//! logins, grants as policy, or SQL: callers (the token, slice 3 of the
//! design on) decide who holds which key and store the bytes. All crypto
//! goes through `crate::crypto`; secrets live in `Zeroizing` and no type
//! here prints one.

use super::codec::{decode_attrs_ref, encode_attrs};
use super::seal::RowKey;
use crate::ck::{CKR_DEVICE_ERROR, CKR_GENERAL_ERROR};
use crate::crypto::digest::{Algorithm, digest};
use crate::crypto::okp::{self, Okp, OkpPrivate, OkpPublic};
use crate::crypto::{CryptoError, hkdf_sha256, hpke, open_aes256gcm, random_fill, seal_aes256gcm};
use crate::error::{Error, Result};
use std::fmt;
use zeroize::Zeroizing;

/// Length of a DEK, of X25519/Ed25519 keys and of a row key.
pub const KEY_LEN: usize = 32;
/// Length of a TOTP secret kept in a principal secret.
pub const TOTP_SECRET_LEN: usize = crate::crypto::totp::SECRET_LEN;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = okp::SIGNATURE_LEN;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Format byte of an attribute sealed under a DEK.
const ATTR_FORMAT: u8 = 0x02;
/// Format byte of a grant wrap.
const GRANT_FORMAT: u8 = 0x01;
/// Format byte of a principal secret under a 32-byte key (no KEK id).
const PRINCIPAL_FORMAT: u8 = 0x01;

const ATTR_DOMAIN: &[u8] = b"keyward-attr-v2";
const ROW_KEY_SALT: &[u8] = b"keyward-row-mac";
const ROW_KEY_INFO: &[u8] = b"keyward-row-key-v3";
const DEK_DOMAIN: &[u8] = b"keyward-dek-v1";
const PRINCIPAL_DOMAIN: &[u8] = b"keyward-principal-v1";
const RECORD_DOMAIN: &[u8] = b"keyward-principal-record-v1";
const GRANT_DOMAIN: &[u8] = b"keyward-grant-v1";

/// Total length of a grant wrap.
pub const GRANT_WRAP_LEN: usize = 1 + hpke::ENC_LEN + KEY_LEN + hpke::TAG_LEN;

fn auth_failed(what: &'static str) -> Error {
    Error::new(CKR_DEVICE_ERROR, what)
}

fn crypto_err(what: &'static str) -> impl Fn(CryptoError) -> Error {
    move |e| Error::new(CKR_GENERAL_ERROR, format!("{what}: {e:?}"))
}

/// Appends `len(b) u32 LE || b` (a length past `u32::MAX` saturates: no
/// caller has one, and a saturated prefix never matches a real one).
fn lp(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&u32::try_from(b.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(b);
}

/// `format || AES-256-GCM(key, aad, plaintext)`.
fn seal_with(format: u8, key: &[u8; KEY_LEN], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let body = seal_aes256gcm(key, aad, plaintext).map_err(crypto_err("sealing failed"))?;
    let mut out = Vec::with_capacity(1 + body.len());
    out.push(format);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Opens [`seal_with`]'s output; `None` on another format, a short input,
/// a wrong key or AAD, or tampering.
fn open_with(format: u8, key: &[u8; KEY_LEN], aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    match sealed.split_first() {
        Some((&f, body)) if f == format && body.len() >= NONCE_LEN + TAG_LEN => open_aes256gcm(key, aad, body).ok(),
        _ => None,
    }
}

/// A per-key data key: seals the secret attributes of every row of one
/// managed key (or one private non-key object). `Clone` copies it into
/// another zeroizing buffer.
#[derive(Clone)]
pub struct Dek(Zeroizing<[u8; KEY_LEN]>);

impl fmt::Debug for Dek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Dek(..)")
    }
}

fn attr_aad(key_id: &[u8], uid: &str, ty: u64, class: u64, key_type: u64) -> Vec<u8> {
    let mut a = Vec::with_capacity(ATTR_DOMAIN.len() + 8 + key_id.len() + uid.len() + 24);
    a.extend_from_slice(ATTR_DOMAIN);
    lp(&mut a, key_id);
    lp(&mut a, uid.as_bytes());
    a.extend_from_slice(&ty.to_le_bytes());
    a.extend_from_slice(&class.to_le_bytes());
    a.extend_from_slice(&key_type.to_le_bytes());
    a
}

impl Dek {
    /// 32 fresh random bytes.
    pub fn generate() -> Result<Dek> {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        random_fill(&mut k[..]).map_err(crypto_err("data key generation failed"))?;
        Ok(Dek(k))
    }

    /// Seals the value of attribute `ty` of object `uid`, a row of key
    /// `key_id` of class `class` and key type `key_type`.
    pub fn seal_attr(
        &self,
        key_id: &[u8],
        uid: &str,
        ty: u64,
        class: u64,
        key_type: u64,
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        seal_with(ATTR_FORMAT, &self.0, &attr_aad(key_id, uid, ty, class, key_type), plaintext)
    }

    /// Opens what [`Dek::seal_attr`] produced for the same binding.
    pub fn open_attr(
        &self,
        key_id: &[u8],
        uid: &str,
        ty: u64,
        class: u64,
        key_type: u64,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        open_with(ATTR_FORMAT, &self.0, &attr_aad(key_id, uid, ty, class, key_type), sealed)
            .ok_or_else(|| auth_failed("sealed attribute failed authentication"))
    }

    /// The row-MAC key of this DEK's rows (docs/named-users.md §1.3).
    pub fn row_key(&self) -> Result<RowKey> {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        hkdf_sha256(ROW_KEY_SALT, &self.0[..], ROW_KEY_INFO, &mut k[..])
            .map_err(crypto_err("row key derivation failed"))?;
        RowKey::from_bytes(&k[..]).ok_or_else(|| Error::general("row key derivation failed"))
    }
}

fn dek_info(serial: &str, key_id: &[u8], principal_id: u32) -> Vec<u8> {
    let mut i = Vec::with_capacity(DEK_DOMAIN.len() + 12 + serial.len() + key_id.len());
    i.extend_from_slice(DEK_DOMAIN);
    lp(&mut i, serial.as_bytes());
    lp(&mut i, key_id);
    i.extend_from_slice(&principal_id.to_le_bytes());
    i
}

/// Wraps `dek` for principal `principal_id` of token `serial`, to its
/// X25519 public key (from its signed record), bound to key `key_id`.
pub fn wrap_dek(
    dek: &Dek,
    recipient_x25519_pub: &[u8],
    serial: &str,
    key_id: &[u8],
    principal_id: u32,
) -> Result<Vec<u8>> {
    let (enc, ct) =
        hpke::seal(recipient_x25519_pub, &dek_info(serial, key_id, principal_id), &[GRANT_FORMAT], &dek.0[..])
            .map_err(|e| match e {
                CryptoError::InvalidKey => Error::device("unusable X25519 public key in a principal record"),
                e => crypto_err("data key wrap failed")(e),
            })?;
    let mut out = Vec::with_capacity(GRANT_WRAP_LEN);
    out.push(GRANT_FORMAT);
    out.extend_from_slice(&enc);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens what [`wrap_dek`] produced with the grantee's X25519 private key,
/// for the same token, key and principal; anything else (another key id,
/// principal or serial, a wrong key, a changed byte) is `CKR_DEVICE_ERROR`.
pub fn unwrap_dek(
    wrapped: &[u8],
    recipient_x25519_secret: &[u8],
    serial: &str,
    key_id: &[u8],
    principal_id: u32,
) -> Result<Dek> {
    let fail = || auth_failed("data key wrap failed authentication");
    if wrapped.len() != GRANT_WRAP_LEN || wrapped[0] != GRANT_FORMAT {
        return Err(fail());
    }
    let (enc, ct) = wrapped[1..].split_at(hpke::ENC_LEN);
    let plain = hpke::open(recipient_x25519_secret, enc, &dek_info(serial, key_id, principal_id), &[GRANT_FORMAT], ct)
        .map_err(|_| fail())?;
    let k: [u8; KEY_LEN] = plain.as_slice().try_into().map_err(|_| fail())?;
    Ok(Dek(Zeroizing::new(k)))
}

/// What a principal holds under its PIN: its two private keys, the
/// authority's public key it trusts records from, the public row key, and
/// its TOTP seed if it has one.
#[derive(Clone)]
pub struct PrincipalSecret {
    /// X25519 private key (grant wraps are made to its public key).
    pub x25519: Zeroizing<[u8; KEY_LEN]>,
    /// Ed25519 private seed (signs grants, approvals).
    pub ed25519_seed: Zeroizing<[u8; KEY_LEN]>,
    /// The authority's (the SO's) Ed25519 public key.
    pub authority: [u8; KEY_LEN],
    /// The token's public row key (`MasterKey::row_keys().public`).
    pub public_row_key: RowKey,
    /// The RFC 6238 secret, for principals with the `totp` flag.
    pub totp: Option<Zeroizing<[u8; TOTP_SECRET_LEN]>>,
}

impl fmt::Debug for PrincipalSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrincipalSecret(..)")
    }
}

// TLV tags of the principal secret's plaintext.
const T_X25519: u64 = 1;
const T_ED25519: u64 = 2;
const T_AUTHORITY: u64 = 3;
const T_ROW_KEY: u64 = 4;
const T_TOTP: u64 = 5;

fn principal_aad(serial: &str, principal_id: u32, name: &str) -> Vec<u8> {
    let mut a = Vec::with_capacity(PRINCIPAL_DOMAIN.len() + 12 + serial.len() + name.len());
    a.extend_from_slice(PRINCIPAL_DOMAIN);
    lp(&mut a, serial.as_bytes());
    a.extend_from_slice(&principal_id.to_le_bytes());
    lp(&mut a, name.as_bytes());
    a
}

fn corrupt_secret() -> Error {
    Error::device("corrupt principal secret")
}

fn exact<const N: usize>(v: &[u8]) -> Result<Zeroizing<[u8; N]>> {
    let a: [u8; N] = v.try_into().map_err(|_| corrupt_secret())?;
    Ok(Zeroizing::new(a))
}

impl PrincipalSecret {
    /// Fresh X25519 and Ed25519 keys (`crypto::okp`) with the given
    /// authority key, public row key and TOTP secret.
    pub fn generate(
        authority: [u8; KEY_LEN],
        public_row_key: RowKey,
        totp: Option<Zeroizing<[u8; TOTP_SECRET_LEN]>>,
    ) -> Result<PrincipalSecret> {
        let key = |alg| -> Result<Zeroizing<[u8; KEY_LEN]>> {
            let k = okp::generate(alg).map_err(crypto_err("principal key generation failed"))?;
            exact(&k.secret())
        };
        Ok(PrincipalSecret {
            x25519: key(Okp::X25519)?,
            ed25519_seed: key(Okp::Ed25519)?,
            authority,
            public_row_key,
            totp,
        })
    }

    /// The X25519 key pair (its public half goes into the record).
    pub fn x25519_key(&self) -> Result<OkpPrivate> {
        OkpPrivate::from_bytes(Okp::X25519, &self.x25519[..]).map_err(|_| corrupt_secret())
    }

    /// The Ed25519 key pair (its public half goes into the record).
    pub fn ed25519_key(&self) -> Result<OkpPrivate> {
        OkpPrivate::from_bytes(Okp::Ed25519, &self.ed25519_seed[..]).map_err(|_| corrupt_secret())
    }

    /// The TLV plaintext (tags 1-5 in order; 5 only with a TOTP secret).
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut fields: Vec<(u64, &[u8])> = vec![
            (T_X25519, &self.x25519[..]),
            (T_ED25519, &self.ed25519_seed[..]),
            (T_AUTHORITY, &self.authority[..]),
            (T_ROW_KEY, &self.public_row_key.bytes()[..]),
        ];
        if let Some(t) = &self.totp {
            fields.push((T_TOTP, &t[..]));
        }
        Zeroizing::new(encode_attrs(fields))
    }

    /// Decodes [`PrincipalSecret::encode`]'s output: exactly those tags,
    /// in order, each once, each of its exact length.
    pub fn decode(b: &[u8]) -> Result<PrincipalSecret> {
        let fields = decode_attrs_ref(b).map_err(|_| corrupt_secret())?;
        let (x, e, a, r, t) = match fields.as_slice() {
            [(T_X25519, x), (T_ED25519, e), (T_AUTHORITY, a), (T_ROW_KEY, r)] => (x, e, a, r, None),
            [(T_X25519, x), (T_ED25519, e), (T_AUTHORITY, a), (T_ROW_KEY, r), (T_TOTP, t)] => (x, e, a, r, Some(t)),
            _ => return Err(corrupt_secret()),
        };
        Ok(PrincipalSecret {
            x25519: exact(x)?,
            ed25519_seed: exact(e)?,
            authority: *exact::<KEY_LEN>(a)?,
            public_row_key: RowKey::from_bytes(r).ok_or_else(corrupt_secret)?,
            totp: t.map(|t| exact(t)).transpose()?,
        })
    }

    /// Seals this secret under `key` for principal `principal_id` named
    /// `name` of token `serial`.
    pub fn seal(&self, key: &[u8; KEY_LEN], serial: &str, principal_id: u32, name: &str) -> Result<Vec<u8>> {
        seal_with(PRINCIPAL_FORMAT, key, &principal_aad(serial, principal_id, name), &self.encode())
    }

    /// Opens what [`PrincipalSecret::seal`] produced for the same key,
    /// token, id and name; `CKR_DEVICE_ERROR` otherwise (a wrong PIN gives
    /// a wrong key: callers map that to `CKR_PIN_INCORRECT`).
    pub fn open(sealed: &[u8], key: &[u8; KEY_LEN], serial: &str, principal_id: u32, name: &str) -> Result<Self> {
        let plain = open_with(PRINCIPAL_FORMAT, key, &principal_aad(serial, principal_id, name), sealed)
            .ok_or_else(|| auth_failed("principal secret failed authentication"))?;
        Self::decode(&plain)
    }
}

/// A principal's public record, signed by the authority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrincipalRecord {
    pub id: u32,
    pub name: String,
    /// Role bits (key user, key admin, auditor).
    pub roles: u32,
    /// Flag bits (`totp`, `auto_admin`).
    pub flags: u32,
    pub x25519: [u8; KEY_LEN],
    pub ed25519: [u8; KEY_LEN],
    /// The token serial (a record signed for one token is not valid in another).
    pub serial: String,
    pub os_users: Vec<String>,
    pub os_groups: Vec<String>,
}

fn lp_list(out: &mut Vec<u8>, items: &[String]) {
    out.extend_from_slice(&u32::try_from(items.len()).unwrap_or(u32::MAX).to_le_bytes());
    for i in items {
        lp(out, i.as_bytes());
    }
}

impl PrincipalRecord {
    /// The signed bytes: `"keyward-principal-record-v1" || lp(serial) || id
    /// u32 || lp(name) || roles u32 || flags u32 || x25519 (32) || ed25519
    /// (32) || count u32 || lp(os user)... || count u32 || lp(os group)...`.
    pub fn payload(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(160 + self.name.len() + self.serial.len());
        p.extend_from_slice(RECORD_DOMAIN);
        lp(&mut p, self.serial.as_bytes());
        p.extend_from_slice(&self.id.to_le_bytes());
        lp(&mut p, self.name.as_bytes());
        p.extend_from_slice(&self.roles.to_le_bytes());
        p.extend_from_slice(&self.flags.to_le_bytes());
        p.extend_from_slice(&self.x25519);
        p.extend_from_slice(&self.ed25519);
        lp_list(&mut p, &self.os_users);
        lp_list(&mut p, &self.os_groups);
        p
    }

    /// Parses [`PrincipalRecord::payload`] (the stored record bytes);
    /// anything else, trailing bytes included, is `CKR_DEVICE_ERROR`.
    pub fn from_payload(b: &[u8]) -> Result<PrincipalRecord> {
        let mut r = Reader(b.strip_prefix(RECORD_DOMAIN).ok_or_else(corrupt_record)?);
        let serial = r.string()?;
        let id = r.u32()?;
        let name = r.string()?;
        let (roles, flags) = (r.u32()?, r.u32()?);
        let (x25519, ed25519) = (r.array()?, r.array()?);
        let os_users = r.list()?;
        let os_groups = r.list()?;
        if !r.0.is_empty() {
            return Err(corrupt_record());
        }
        Ok(PrincipalRecord { id, name, roles, flags, x25519, ed25519, serial, os_users, os_groups })
    }
}

fn corrupt_record() -> Error {
    Error::device("corrupt principal record")
}

/// A bounds-checked cursor over stored record bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.0.len() {
            return Err(corrupt_record());
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.take(N)?.try_into().map_err(|_| corrupt_record())
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn string(&mut self) -> Result<String> {
        let n = usize::try_from(self.u32()?).map_err(|_| corrupt_record())?;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| corrupt_record())
    }
    fn list(&mut self) -> Result<Vec<String>> {
        let n = usize::try_from(self.u32()?).map_err(|_| corrupt_record())?;
        // Each item needs its 4-byte length: the input bounds the count.
        if n > self.0.len() / 4 {
            return Err(corrupt_record());
        }
        (0..n).map(|_| self.string()).collect()
    }
}

/// The bytes a granter signs for a grant: `"keyward-grant-v1" ||
/// lp(serial) || lp(key_id) || grantee u32 || ops u32 || SHA-256(wrap) ||
/// granter u32`.
pub fn grant_payload(serial: &str, key_id: &[u8], grantee: u32, ops: u32, wrap: &[u8], granter: u32) -> Vec<u8> {
    let mut p = Vec::with_capacity(GRANT_DOMAIN.len() + 52 + serial.len() + key_id.len());
    p.extend_from_slice(GRANT_DOMAIN);
    lp(&mut p, serial.as_bytes());
    lp(&mut p, key_id);
    p.extend_from_slice(&grantee.to_le_bytes());
    p.extend_from_slice(&ops.to_le_bytes());
    p.extend_from_slice(&digest(Algorithm::Sha256, wrap));
    p.extend_from_slice(&granter.to_le_bytes());
    p
}

/// Pure Ed25519 signature of `payload` with `signer` (an Ed25519 key).
pub fn sign(signer: &OkpPrivate, payload: &[u8]) -> Result<[u8; SIGNATURE_LEN]> {
    let mut sig = [0u8; SIGNATURE_LEN];
    signer.sign(payload, &mut sig).map_err(crypto_err("signing failed"))?;
    Ok(sig)
}

/// Checks an Ed25519 signature of `payload` by the 32-byte public key
/// `public`; `CKR_DEVICE_ERROR` when it does not verify (a forged or
/// edited row).
pub fn verify(public: &[u8], payload: &[u8], sig: &[u8]) -> Result<()> {
    let fail = || Error::device("signature failed verification");
    let key = OkpPublic::from_bytes(Okp::Ed25519, public).map_err(|_| fail())?;
    key.verify(payload, sig).map_err(|_| fail())
}

#[cfg(test)]
mod tests;
