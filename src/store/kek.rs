//! The external key-encryption key: 32 random bytes kept outside the token
//! store (`[store] kek_file`, or a systemd credential `kek_credential`), so
//! that a copy of the store alone is worthless. This module owns the KEK
//! file (reading it, creating one with mode 0600), its identifier and the
//! blobs sealed under it; `seal` mixes it into the PIN keys that wrap the
//! master key.
//!
//! Layouts:
//!
//! - file: 64 hex digits (whitespace around them ignored) or exactly 32 raw
//!   bytes; `keyward kek new` writes hex and a newline;
//! - KEK id: the first 8 bytes of `HMAC-SHA256(kek, "keyward-kek-id-v1")`,
//!   shown as 16 hex digits: names the KEK in errors and in wrapped master
//!   keys without revealing it;
//! - sealed blob: `0x01 || nonce || ciphertext || tag`, AES-256-GCM under
//!   `HKDF-SHA256(salt "keyward-kek", kek, "blob key")`, AAD
//!   `"keyward-kek-blob-v1" || len(context) u32 LE || context` (the audit
//!   key, the public row key).

use super::seal;
use crate::error::{Error, Result};
use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use zeroize::Zeroizing;

const KEY_LEN: usize = 32;
pub const KEK_ID_LEN: usize = 8;
const ID_INFO: &[u8] = b"keyward-kek-id-v1";
const BLOB_DOMAIN: &[u8] = b"keyward-kek-blob-v1";
const SUBKEY_SALT: &[u8] = b"keyward-kek";

/// A loaded external KEK.
pub struct ExternalKek {
    key: Zeroizing<[u8; KEY_LEN]>,
    blob_key: Zeroizing<[u8; KEY_LEN]>,
    id: [u8; KEK_ID_LEN],
    source: String,
}

impl fmt::Debug for ExternalKek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExternalKek(id {}, {})", self.id_hex(), self.source)
    }
}

fn kek_err(source: &str, what: impl fmt::Display) -> Error {
    Error::device(format!("key-encryption key {source}: {what}"))
}

impl ExternalKek {
    /// The KEK in `raw` (the contents of its file); `source` names it in
    /// messages.
    pub fn from_bytes(raw: &[u8], source: &str) -> Result<ExternalKek> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        let text = raw.trim_ascii();
        if raw.len() == KEY_LEN {
            key.copy_from_slice(raw);
        } else if text.len() == 2 * KEY_LEN && hex::decode_to_slice(text, &mut key[..]).is_ok() {
        } else {
            return Err(kek_err(source, "not a KEK (expected 64 hex digits or 32 bytes)"));
        }
        if key.iter().all(|b| *b == 0) {
            return Err(kek_err(source, "all zero: not a KEK"));
        }
        let tag = crate::crypto::hmac_sha256(&key[..], &[ID_INFO]);
        let mut id = [0u8; KEK_ID_LEN];
        id.copy_from_slice(&tag[..KEK_ID_LEN]);
        let mut blob_key = Zeroizing::new([0u8; KEY_LEN]);
        crate::crypto::hkdf_sha256(SUBKEY_SALT, &key[..], b"blob key", &mut blob_key[..])
            .map_err(|e| kek_err(source, format!("key derivation failed: {e:?}")))?;
        Ok(ExternalKek { key, blob_key, id, source: source.to_string() })
    }

    /// Reads the KEK file at `path`. A file others may read or write is
    /// refused.
    pub fn load(path: &Path) -> Result<ExternalKek> {
        let source = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| kek_err(&source, format!("cannot read: {e}")))?;
        if meta.permissions().mode() & 0o007 != 0 {
            return Err(kek_err(&source, "is accessible to other users (make it 0600 or 0400)"));
        }
        let raw = Zeroizing::new(std::fs::read(path).map_err(|e| kek_err(&source, format!("cannot read: {e}")))?);
        ExternalKek::from_bytes(&raw, &source)
    }

    /// Creates a new random KEK in a new file `path` (mode 0600, never
    /// overwriting) and returns it.
    pub fn create_file(path: &Path) -> Result<ExternalKek> {
        let source = path.display().to_string();
        let raw = crate::crypto::random_secret(KEY_LEN).map_err(|e| kek_err(&source, format!("rng: {e:?}")))?;
        let mut text = Zeroizing::new(hex::encode(&raw[..]));
        text.push('\n');
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| kek_err(&source, format!("cannot create: {e}")))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| kek_err(&source, format!("cannot write: {e}")))?;
        ExternalKek::from_bytes(&raw, &source)
    }

    pub fn id(&self) -> [u8; KEK_ID_LEN] {
        self.id
    }

    pub fn id_hex(&self) -> String {
        hex::encode(self.id)
    }

    /// Where the KEK was read from.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub(super) fn key(&self) -> &[u8; KEY_LEN] {
        &self.key
    }

    /// Seals `plaintext` under the KEK, bound to `context`.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        seal::seal_versioned(&self.blob_key, &seal::aad(BLOB_DOMAIN, context, &[]), plaintext)
    }

    /// Opens what [`ExternalKek::seal`] produced for `context`; a wrong KEK
    /// or any tampering is `CKR_DEVICE_ERROR`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        seal::open_versioned(&self.blob_key, &seal::aad(BLOB_DOMAIN, context, &[]), sealed).ok_or_else(|| {
            Error::device(format!(
                "{context} does not open under the configured key-encryption key (id {}, {}): wrong KEK or tampered store",
                self.id_hex(),
                self.source
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_formats_and_ids() {
        let raw = [7u8; 32];
        let a = ExternalKek::from_bytes(&raw, "raw").unwrap();
        let b = ExternalKek::from_bytes(format!("  {}\n", hex::encode(raw)).as_bytes(), "hex").unwrap();
        assert_eq!(a.id(), b.id());
        assert_eq!(a.id_hex().len(), 16);
        let c = ExternalKek::from_bytes(&[8u8; 32], "other").unwrap();
        assert_ne!(a.id(), c.id());
        for bad in [&b""[..], &[7u8; 31][..], &[7u8; 33][..], b"zz", &[0u8; 32][..]] {
            let e = ExternalKek::from_bytes(bad, "bad").unwrap_err();
            assert_eq!(e.rv(), crate::ck::CKR_DEVICE_ERROR);
            assert!(e.reason().contains("key-encryption key bad"), "{e:?}");
        }
        assert!(!format!("{a:?}").contains("0707"), "Debug shows the id, never the key");
    }

    #[test]
    fn create_file_is_private_and_loads_back() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("kek");
        let k = ExternalKek::create_file(&p).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(ExternalKek::load(&p).unwrap().id(), k.id());
        assert!(ExternalKek::create_file(&p).is_err(), "never overwrites");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o604)).unwrap();
        assert!(ExternalKek::load(&p).unwrap_err().reason().contains("other users"));
        assert!(ExternalKek::load(&tmp.path().join("missing")).unwrap_err().reason().contains("missing"));
    }

    #[test]
    fn sealed_blobs_need_the_same_kek_and_context() {
        let a = ExternalKek::from_bytes(&[1u8; 32], "a").unwrap();
        let b = ExternalKek::from_bytes(&[2u8; 32], "b").unwrap();
        let s = a.seal("audit.key", b"k").unwrap();
        assert_eq!(&a.open("audit.key", &s).unwrap()[..], b"k");
        assert!(a.open("rows.public_key", &s).is_err());
        let e = b.open("audit.key", &s).unwrap_err();
        assert!(e.reason().contains(&b.id_hex()), "{e:?}");
    }
}
