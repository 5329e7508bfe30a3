//! Sealing at rest: the token master key, the PIN-derived keys that wrap it,
//! and AES-256-GCM sealing of secret attributes and meta secrets under it.
//!
//! Layouts (all produced here, all starting with a format version byte):
//!
//! - sealed attribute / blob: `0x01 || nonce (12) || ciphertext || tag (16)`,
//!   AAD `"keyward-attr-v1" || len(uid) u32 LE || uid || type u64 LE`
//!   (resp. `"keyward-blob-v1" || len(context) u32 LE || context`), so a
//!   sealed value moved to another object, attribute or context fails to open;
//! - wrapped master key: `0x01 || nonce || ciphertext (32) || tag`, AAD
//!   `"keyward-master-v1"`, under a key derived from a PIN with
//!   PBKDF2-HMAC-SHA256 (salt and iteration count are recorded next to it);
//!   with an external KEK (`kek::ExternalKek`): `0x02 || KEK id (8) || nonce
//!   || ciphertext || tag`, AAD `"keyward-master-kek-v1" || KEK id`, under
//!   `HKDF-SHA256(salt = KEK, ikm = PBKDF2 key, "keyward master wrap")`, so
//!   neither the PIN nor the KEK alone opens it and a PIN cannot be tested
//!   offline without the KEK;
//! - row MAC (the `mac` column of `objects`, schema 2): `0x02 ||
//!   HMAC-SHA256(row key, "keyward-row-v2\0" || id i64 LE || len(uid) u32 LE
//!   || uid || len(public) u32 LE || public || len(sealed) u32 LE || sealed)`:
//!   binds the row id (the PKCS#11 handle) and uid to the exact bytes of both
//!   attribute blobs, so an edited attribute, or columns swapped between
//!   rows, no longer verifies. The two row keys ([`RowKeys`]) are
//!   HKDF-SHA256 of the master key: one for rows that hold secrets or are
//!   private, one for the other rows (public keys, certificates, data),
//!   which may also be kept under an external KEK so that public objects can
//!   be checked before anyone logs in;
//! - PIN subkeys ([`Kek::subkey`]): `HKDF-SHA256(salt = "keyward-pin-subkey",
//!   ikm = the PIN key, info = label)`, for secrets other than the master
//!   key sealed under a PIN (formats in `store::wrap`).
//!
//! All crypto goes through `crate::crypto`; key bytes live in `Zeroizing`.

use super::WrappedKey;
use super::kek::{ExternalKek, KEK_ID_LEN};
use crate::ck::{CKR_DEVICE_ERROR, CKR_GENERAL_ERROR};
use crate::crypto::{CryptoError, open_aes256gcm, pbkdf2_sha256, random_fill, seal_aes256gcm};
use crate::error::{Error, Result};
use std::fmt;
use zeroize::Zeroizing;

/// The iteration count for new PIN wraps (OWASP 2023 for PBKDF2-HMAC-SHA256).
pub const DEFAULT_PBKDF2_ITERATIONS: u32 = 600_000;

/// Format version of everything this module writes.
const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;
const SALT_LEN: usize = 16;

const ATTR_DOMAIN: &[u8] = b"keyward-attr-v1";
const BLOB_DOMAIN: &[u8] = b"keyward-blob-v1";
const MASTER_DOMAIN: &[u8] = b"keyward-master-v1";
const MASTER_KEK_DOMAIN: &[u8] = b"keyward-master-kek-v1";
/// Format byte of a master key wrapped under a PIN and an external KEK.
const KEK_WRAP_VERSION: u8 = 2;
const ROW_DOMAIN: &[u8] = b"keyward-row-v2\0";
/// Format byte of a row MAC.
const ROW_MAC_VERSION: u8 = 2;
const ROW_KEY_SALT: &[u8] = b"keyward-row-mac";
const SUBKEY_SALT: &[u8] = b"keyward-pin-subkey";

fn crypto_err(what: &'static str) -> impl Fn(CryptoError) -> Error {
    move |e| Error::new(CKR_GENERAL_ERROR, format!("{what}: {e:?}"))
}

fn auth_failed() -> Error {
    Error::new(CKR_DEVICE_ERROR, "sealed attribute failed authentication")
}

/// `domain || len(name) u32 LE || name || suffix`.
pub(super) fn aad(domain: &[u8], name: &str, suffix: &[u8]) -> Vec<u8> {
    let mut a = Vec::with_capacity(domain.len() + 4 + name.len() + suffix.len());
    a.extend_from_slice(domain);
    a.extend_from_slice(&u32::try_from(name.len()).unwrap_or(u32::MAX).to_le_bytes());
    a.extend_from_slice(name.as_bytes());
    a.extend_from_slice(suffix);
    a
}

pub(super) fn seal_versioned(key: &[u8; KEY_LEN], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let body = seal_aes256gcm(key, aad, plaintext).map_err(crypto_err("sealing failed"))?;
    let mut out = Vec::with_capacity(1 + body.len());
    out.push(VERSION);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Opens a versioned seal; `None` on a wrong version, a short input, a wrong
/// key or any tampering (callers decide what that means).
pub(super) fn open_versioned(key: &[u8; KEY_LEN], aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    match sealed.split_first() {
        Some((&VERSION, body)) if body.len() >= NONCE_LEN + TAG_LEN => open_aes256gcm(key, aad, body).ok(),
        _ => None,
    }
}

/// The random token master key: seals every secret attribute of the token.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; KEY_LEN]>);

impl MasterKey {
    pub fn generate() -> Result<MasterKey> {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        random_fill(&mut k[..]).map_err(crypto_err("master key generation failed"))?;
        Ok(MasterKey(k))
    }

    /// Seals the value of attribute `attr` of object `uid`.
    pub fn seal(&self, uid: &str, attr: u64, plaintext: &[u8]) -> Result<Vec<u8>> {
        seal_versioned(&self.0, &aad(ATTR_DOMAIN, uid, &attr.to_le_bytes()), plaintext)
    }

    /// Opens what [`MasterKey::seal`] produced for the same `uid` and `attr`.
    pub fn unseal(&self, uid: &str, attr: u64, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        open_versioned(&self.0, &aad(ATTR_DOMAIN, uid, &attr.to_le_bytes()), sealed).ok_or_else(auth_failed)
    }

    /// Seals a token-wide secret (a meta value) bound to `context`.
    pub fn seal_blob(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        seal_versioned(&self.0, &aad(BLOB_DOMAIN, context, &[]), plaintext)
    }

    /// Opens what [`MasterKey::seal_blob`] produced for the same `context`.
    pub fn unseal_blob(&self, context: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        open_versioned(&self.0, &aad(BLOB_DOMAIN, context, &[]), sealed).ok_or_else(auth_failed)
    }
}

impl MasterKey {
    /// A public fingerprint of this master key (tells two apart without
    /// keeping either).
    pub fn fingerprint(&self) -> [u8; 32] {
        crate::crypto::hmac_sha256(&self.0[..], &[b"keyward-master-fingerprint"])
    }

    /// The two row-MAC keys of this master key.
    pub fn row_keys(&self) -> Result<RowKeys> {
        let derive = |info: &[u8]| -> Result<RowKey> {
            let mut k = Zeroizing::new([0u8; KEY_LEN]);
            crate::crypto::hkdf_sha256(ROW_KEY_SALT, &self.0[..], info, &mut k[..])
                .map_err(crypto_err("row key derivation failed"))?;
            Ok(RowKey(k))
        };
        Ok(RowKeys { secret: derive(b"secret rows")?, public: derive(b"public rows")? })
    }
}

/// A key that MACs token-object rows (see the module doc).
#[derive(Clone)]
pub struct RowKey(Zeroizing<[u8; KEY_LEN]>);

/// The row keys of a token: `secret` for rows holding secrets or private
/// objects, `public` for the others.
#[derive(Clone, Debug)]
pub struct RowKeys {
    pub secret: RowKey,
    pub public: RowKey,
}

impl RowKey {
    /// The MAC column value of row `id` with these contents.
    pub fn mac(&self, id: i64, uid: &str, public: &[u8], sealed: &[u8]) -> Vec<u8> {
        let len = |b: &[u8]| u32::try_from(b.len()).unwrap_or(u32::MAX).to_le_bytes();
        let tag = crate::crypto::hmac_sha256(
            &self.0[..],
            &[
                ROW_DOMAIN,
                &id.to_le_bytes(),
                &len(uid.as_bytes()),
                uid.as_bytes(),
                &len(public),
                public,
                &len(sealed),
                sealed,
            ],
        );
        let mut out = Vec::with_capacity(1 + tag.len());
        out.push(ROW_MAC_VERSION);
        out.extend_from_slice(&tag);
        out
    }

    /// The key bytes (to keep this key sealed under an external KEK).
    pub fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    pub fn from_bytes(b: &[u8]) -> Option<RowKey> {
        let b: &[u8; KEY_LEN] = b.try_into().ok()?;
        Some(RowKey(Zeroizing::new(*b)))
    }

    /// Whether `mac` is this key's MAC of the row (constant time).
    pub fn verify(&self, id: i64, uid: &str, public: &[u8], sealed: &[u8], mac: &[u8]) -> bool {
        crate::crypto::ct_eq(&self.mac(id, uid, public, sealed), mac)
    }
}

impl fmt::Debug for RowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RowKey(..)")
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// A key derived from a PIN (and, combined with it, an external KEK); wraps
/// the master key.
#[derive(Clone)]
pub struct Kek {
    key: Zeroizing<[u8; KEY_LEN]>,
    /// The external KEK mixed in, by id.
    external: Option<[u8; KEK_ID_LEN]>,
}

/// The id of the external KEK a wrapped master key needs (`None`: the PIN
/// alone opens it).
pub fn required_kek(blob: &[u8]) -> Option<[u8; KEK_ID_LEN]> {
    match blob.split_first() {
        Some((&KEK_WRAP_VERSION, rest)) if rest.len() >= KEK_ID_LEN => rest[..KEK_ID_LEN].try_into().ok(),
        _ => None,
    }
}

impl Kek {
    /// PBKDF2-HMAC-SHA256 of `pin` under `salt`. Zero iterations (only a
    /// damaged store records that) is `CKR_DEVICE_ERROR`.
    pub fn derive(pin: &[u8], salt: &[u8], iterations: u32) -> Result<Kek> {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        pbkdf2_sha256(pin, salt, iterations, &mut k[..]).map_err(|e| match e {
            CryptoError::InvalidParam => Error::device(format!("invalid PBKDF2 iteration count {iterations}")),
            e => crypto_err("PIN key derivation failed")(e),
        })?;
        Ok(Kek { key: k, external: None })
    }

    /// This PIN key combined with the external KEK `ext`.
    pub fn with_external(&self, ext: &ExternalKek) -> Result<Kek> {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        crate::crypto::hkdf_sha256(&ext.key()[..], &self.key[..], b"keyward master wrap", &mut k[..])
            .map_err(crypto_err("KEK mixing failed"))?;
        Ok(Kek { key: k, external: Some(ext.id()) })
    }

    /// A key for another secret sealed under this PIN (the principal
    /// secret of docs/named-users.md §1.2): HKDF-SHA256 of this key (the
    /// PBKDF2 key, or the KEK-mixed one after [`Kek::with_external`]) with
    /// `label` as info, so a second PBKDF2 is never run and keys of
    /// different labels are independent of each other and of this key's
    /// own wraps.
    pub fn subkey(&self, label: &[u8]) -> Result<Zeroizing<[u8; KEY_LEN]>> {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        crate::crypto::hkdf_sha256(SUBKEY_SALT, &self.key[..], label, &mut k[..])
            .map_err(crypto_err("PIN subkey derivation failed"))?;
        Ok(k)
    }

    /// Whether an external KEK is mixed in.
    pub fn has_external(&self) -> bool {
        self.external.is_some()
    }

    pub fn wrap(&self, m: &MasterKey) -> Result<Vec<u8>> {
        let Some(id) = self.external else { return seal_versioned(&self.key, MASTER_DOMAIN, &m.0[..]) };
        let mut a = MASTER_KEK_DOMAIN.to_vec();
        a.extend_from_slice(&id);
        let body = seal_aes256gcm(&self.key, &a, &m.0[..]).map_err(crypto_err("sealing failed"))?;
        let mut out = Vec::with_capacity(1 + KEK_ID_LEN + body.len());
        out.push(KEK_WRAP_VERSION);
        out.extend_from_slice(&id);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// The master key, or `None` when the PIN (hence this key) is wrong,
    /// the blob needs another external KEK (or none), or it was tampered
    /// with.
    pub fn unwrap(&self, blob: &[u8]) -> Option<MasterKey> {
        let plain = match (self.external, required_kek(blob)) {
            (None, None) => open_versioned(&self.key, MASTER_DOMAIN, blob)?,
            (Some(have), Some(need)) if have == need => {
                let body = &blob[1 + KEK_ID_LEN..];
                if body.len() < NONCE_LEN + TAG_LEN {
                    return None;
                }
                let mut a = MASTER_KEK_DOMAIN.to_vec();
                a.extend_from_slice(&need);
                open_aes256gcm(&self.key, &a, body).ok()?
            }
            _ => return None,
        };
        if plain.len() != KEY_LEN {
            return None;
        }
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        k.copy_from_slice(&plain);
        Some(MasterKey(k))
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kek(..)")
    }
}

/// 16 random bytes.
pub fn new_salt() -> Result<Vec<u8>> {
    let mut s = vec![0u8; SALT_LEN];
    random_fill(&mut s).map_err(crypto_err("salt generation failed"))?;
    Ok(s)
}

/// Wraps `m` under `pin` (combined with `ext` when given) with a fresh
/// salt; returns the record to store and the PIN-derived key (so the
/// caller can cache it).
pub fn wrap_under_pin(
    m: &MasterKey,
    pin: &[u8],
    iterations: u32,
    ext: Option<&ExternalKek>,
) -> Result<(WrappedKey, Kek)> {
    let salt = new_salt()?;
    let kek = Kek::derive(pin, &salt, iterations)?;
    let blob = match ext {
        Some(e) => kek.with_external(e)?.wrap(m)?,
        None => kek.wrap(m)?,
    };
    Ok((WrappedKey { salt, iterations, blob }, kek))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ITERS: u32 = 1000;

    #[test]
    fn seal_unseal_round_trip() {
        let m = MasterKey::generate().unwrap();
        let s = m.seal("uid-1", 0x11, b"secret value").unwrap();
        assert_eq!(s[0], VERSION);
        assert_eq!(s.len(), 1 + NONCE_LEN + 12 + TAG_LEN);
        assert_eq!(&m.unseal("uid-1", 0x11, &s).unwrap()[..], b"secret value");
        // Empty plaintext too.
        let e = m.seal("uid-1", 0x11, b"").unwrap();
        assert!(m.unseal("uid-1", 0x11, &e).unwrap().is_empty());
        // Fresh nonce every time.
        assert_ne!(m.seal("uid-1", 0x11, b"secret value").unwrap(), s);
    }

    fn is_auth_failure(r: Result<Zeroizing<Vec<u8>>>) -> bool {
        matches!(r, Err(e) if e.rv() == CKR_DEVICE_ERROR && e.reason() == "sealed attribute failed authentication")
    }

    #[test]
    fn wrong_binding_or_tamper_fails() {
        let m = MasterKey::generate().unwrap();
        let s = m.seal("uid-1", 0x11, b"secret value").unwrap();
        assert!(is_auth_failure(m.unseal("uid-2", 0x11, &s)));
        assert!(is_auth_failure(m.unseal("uid-1", 0x12, &s)));
        assert!(is_auth_failure(m.unseal("uid-", 0x11, &s)));
        for i in 0..s.len() {
            let mut t = s.clone();
            t[i] ^= 0x40;
            assert!(is_auth_failure(m.unseal("uid-1", 0x11, &t)), "tamper at {i} accepted");
        }
        for n in 0..s.len() {
            assert!(is_auth_failure(m.unseal("uid-1", 0x11, &s[..n])));
        }
        let other = MasterKey::generate().unwrap();
        assert!(is_auth_failure(other.unseal("uid-1", 0x11, &s)));
        // Attribute seals and blob seals do not mix.
        let b = m.seal_blob("audit.key", b"k").unwrap();
        assert_eq!(&m.unseal_blob("audit.key", &b).unwrap()[..], b"k");
        assert!(is_auth_failure(m.unseal_blob("audit.other", &b)));
        assert!(is_auth_failure(m.unseal("audit.key", 0, &b)));
    }

    #[test]
    fn kek_wraps_and_rejects_wrong_pin() {
        let m = MasterKey::generate().unwrap();
        let (w, kek) = wrap_under_pin(&m, b"1234", ITERS, None).unwrap();
        assert_eq!(w.salt.len(), SALT_LEN);
        assert_eq!(w.iterations, ITERS);
        assert_eq!(w.blob.len(), 1 + NONCE_LEN + KEY_LEN + TAG_LEN);
        let again = Kek::derive(b"1234", &w.salt, ITERS).unwrap();
        let got = again.unwrap(&w.blob).unwrap();
        assert_eq!(got.0[..], m.0[..]);
        assert_eq!(required_kek(&w.blob), None);
        assert!(kek.unwrap(&w.blob).is_some());
        // Wrong PIN, wrong salt, wrong iteration count, tampered blob.
        assert!(Kek::derive(b"1235", &w.salt, ITERS).unwrap().unwrap(&w.blob).is_none());
        assert!(Kek::derive(b"1234", &new_salt().unwrap(), ITERS).unwrap().unwrap(&w.blob).is_none());
        assert!(Kek::derive(b"1234", &w.salt, ITERS + 1).unwrap().unwrap(&w.blob).is_none());
        let mut t = w.blob.clone();
        t[20] ^= 1;
        assert!(again.unwrap(&t).is_none());
        assert!(again.unwrap(&[]).is_none());
        // A sealed attribute is not a wrapped key.
        let s = m.seal("u", 1, &[0u8; 32]).unwrap();
        assert!(again.unwrap(&s).is_none());
        // The unwrapped key seals like the original.
        let s = m.seal("u", 1, b"x").unwrap();
        assert_eq!(&got.unseal("u", 1, &s).unwrap()[..], b"x");
    }

    #[test]
    fn row_mac_binds_identity_and_both_blobs() {
        let m = MasterKey::generate().unwrap();
        let keys = m.row_keys().unwrap();
        let again = m.row_keys().unwrap();
        let mac = keys.secret.mac(7, "uid-7", b"pub", b"sec");
        assert_eq!(mac.len(), 33);
        assert_eq!(mac[0], ROW_MAC_VERSION);
        assert_eq!(again.secret.mac(7, "uid-7", b"pub", b"sec"), mac, "deterministic per master key");
        assert!(keys.secret.verify(7, "uid-7", b"pub", b"sec", &mac));
        assert!(!keys.secret.verify(8, "uid-7", b"pub", b"sec", &mac));
        assert!(!keys.secret.verify(7, "uid-8", b"pub", b"sec", &mac));
        assert!(!keys.secret.verify(7, "uid-7", b"pub!", b"sec", &mac));
        assert!(!keys.secret.verify(7, "uid-7", b"pub", b"sec!", &mac));
        // Length prefixes: moving a byte between fields changes the MAC.
        assert!(!keys.secret.verify(7, "uid-7", b"pu", b"bsec", &mac));
        assert!(!keys.public.verify(7, "uid-7", b"pub", b"sec", &mac), "the two keys differ");
        assert!(!keys.secret.verify(7, "uid-7", b"pub", b"sec", &mac[..32]));
        let other = MasterKey::generate().unwrap().row_keys().unwrap();
        assert!(!other.secret.verify(7, "uid-7", b"pub", b"sec", &mac));
        assert_eq!(format!("{:?}", keys.public), "RowKey(..)");
    }

    #[test]
    fn external_kek_is_needed_with_the_pin() {
        let m = MasterKey::generate().unwrap();
        let ext = ExternalKek::from_bytes(&[3u8; 32], "test").unwrap();
        let other = ExternalKek::from_bytes(&[4u8; 32], "other").unwrap();
        let (w, pin_key) = wrap_under_pin(&m, b"123456", ITERS, Some(&ext)).unwrap();
        assert_eq!(w.blob[0], KEK_WRAP_VERSION);
        assert_eq!(w.blob.len(), 1 + KEK_ID_LEN + NONCE_LEN + KEY_LEN + TAG_LEN);
        assert_eq!(required_kek(&w.blob), Some(ext.id()));
        assert!(!pin_key.has_external());
        // PIN and KEK: opens. The PIN alone, the PIN with another KEK, the
        // KEK with another PIN: nothing.
        let got = pin_key.with_external(&ext).unwrap().unwrap(&w.blob).unwrap();
        assert_eq!(got.0[..], m.0[..]);
        assert!(pin_key.unwrap(&w.blob).is_none());
        assert!(pin_key.with_external(&other).unwrap().unwrap(&w.blob).is_none());
        let wrong = Kek::derive(b"123457", &w.salt, ITERS).unwrap().with_external(&ext).unwrap();
        assert!(wrong.unwrap(&w.blob).is_none());
        // A rewritten KEK id does not help.
        let mut t = w.blob.clone();
        t[1..1 + KEK_ID_LEN].copy_from_slice(&other.id());
        assert!(pin_key.with_external(&other).unwrap().unwrap(&t).is_none());
        // A PIN-only blob is not opened by a mixed key (and vice versa).
        let (v1, k1) = wrap_under_pin(&m, b"123456", ITERS, None).unwrap();
        assert!(k1.with_external(&ext).unwrap().unwrap(&v1.blob).is_none());
        assert!(k1.unwrap(&v1.blob).is_some());
        for n in 0..w.blob.len() {
            assert!(pin_key.with_external(&ext).unwrap().unwrap(&w.blob[..n]).is_none());
        }
    }

    #[test]
    fn subkeys_are_per_label_pin_and_kek() {
        let k = Kek::derive(b"1234", b"salt", ITERS).unwrap();
        let a = k.subkey(b"keyward principal secret v1").unwrap();
        assert_eq!(*a, *Kek::derive(b"1234", b"salt", ITERS).unwrap().subkey(b"keyward principal secret v1").unwrap());
        assert_ne!(*a, *k.subkey(b"keyward principal secret v2").unwrap());
        assert_ne!(*a, *k.key, "not the PIN key itself");
        assert_ne!(*a, *Kek::derive(b"1235", b"salt", ITERS).unwrap().subkey(b"keyward principal secret v1").unwrap());
        let ext = ExternalKek::from_bytes(&[3u8; 32], "test").unwrap();
        assert_ne!(*a, *k.with_external(&ext).unwrap().subkey(b"keyward principal secret v1").unwrap());
        // The subkey does not open the PIN key's master wrap.
        let m = MasterKey::generate().unwrap();
        let blob = k.wrap(&m).unwrap();
        let sub = Kek { key: a, external: None };
        assert!(sub.unwrap(&blob).is_none());
    }

    #[test]
    fn zero_iterations_is_an_error() {
        let e = Kek::derive(b"1234", b"salt", 0).unwrap_err();
        assert_eq!(e.rv(), CKR_DEVICE_ERROR);
    }

    #[test]
    fn debug_hides_secrets() {
        let m = MasterKey::generate().unwrap();
        assert_eq!(format!("{m:?}"), "MasterKey(..)");
        let k = Kek::derive(b"1", b"s", 1).unwrap();
        assert_eq!(format!("{k:?}"), "Kek(..)");
    }
}
