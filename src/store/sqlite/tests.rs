//! Unit tests of the SQLite backend through `Store`: the private files, WAL,
//! schema versions and the schema-1 upgrade, a file that is not a database.
//! Pragmas are read through a second connection to the same file.

use super::super::tests::{ids, so_key, test_mac};
use super::super::{Error, Store};
use super::DB_FILE;
use super::schema::{SCHEMA_V1, user_version};
use crate::ck::*;
use rusqlite::Connection;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// A second connection to the store's database file.
fn conn(s: &Store) -> Connection {
    Connection::open(s.path()).unwrap()
}

#[test]
fn open_creates_private_dir_and_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a/b/token");
    let s = Store::open(&dir).unwrap();
    assert_eq!(s.path(), dir.join(DB_FILE));
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(s.path()), 0o600);
    s.meta_set("k", b"v").unwrap();
    for ext in ["-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{ext}", s.path().display()));
        assert_eq!(mode(&p), 0o600, "{ext}");
    }
    assert!(s.integrity_check().unwrap());
    assert_eq!(user_version(&conn(&s)).unwrap(), 4);
    let jm: String = conn(&s).query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(jm, "wal");

    // An existing directory keeps its permissions.
    let open = tmp.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
    let s2 = Store::open(&open).unwrap();
    assert_eq!(mode(&open), 0o755);
    assert_eq!(mode(s2.path()), 0o600);
}

#[test]
fn reopen_keeps_data_and_rejects_newer_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::open(tmp.path()).unwrap();
    assert!(s.token().unwrap().is_none());
    s.init_token("lbl", "serial1", &so_key()).unwrap();
    let id = s.insert_object("u1", b"pub", b"sec", &test_mac).unwrap();
    drop(s);
    let s = Store::open(tmp.path()).unwrap();
    assert_eq!(s.token().unwrap().unwrap().label, "lbl");
    assert_eq!(ids(&s.load_all().unwrap().upserts), vec![id]);
    conn(&s).pragma_update(None, "user_version", 99).unwrap();
    drop(s);
    let e = Store::open(tmp.path()).unwrap_err();
    assert_eq!(e.rv(), CKR_DEVICE_ERROR);
    assert!(e.reason().contains("newer"), "{e:?}");
}

#[test]
fn schema_1_rows_migrate_without_a_mac_and_macs_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let c = Connection::open(tmp.path().join(DB_FILE)).unwrap();
        c.execute_batch(SCHEMA_V1).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        c.execute("INSERT INTO objects (uid, rev, public, sealed) VALUES ('old', 1, x'01', x'02')", []).unwrap();
    }
    let s = Store::open(tmp.path()).unwrap();
    assert_eq!(user_version(&conn(&s)).unwrap(), 4);
    let all = s.load_all().unwrap();
    assert_eq!(all.upserts.len(), 1);
    let old = &all.upserts[0];
    assert_eq!((old.uid.as_str(), old.mac.as_deref()), ("old", None));
    let other = Store::open(tmp.path()).unwrap();
    let seen = other.load_all().unwrap().rev;
    s.transaction(|tx| tx.set_mac(old.id, b"bound")).unwrap();
    let ch = other.changes_since(seen).unwrap().unwrap();
    assert_eq!(ch.upserts[0].mac.as_deref(), Some(&b"bound"[..]), "binding moves the row's revision");
    let id = s.insert_object("new", b"p", b"s", &test_mac).unwrap();
    let row = |id| s.load_all().unwrap().upserts.into_iter().find(|r| r.id == id).unwrap();
    assert_eq!(row(id).mac, Some(id.to_le_bytes().to_vec()));
    s.update_object(id, b"p2", b"s2", b"m2").unwrap();
    assert_eq!(row(id).mac.as_deref(), Some(&b"m2"[..]));
    // A failing MAC closure writes nothing.
    let e = s.insert_object("x", b"p", b"s", &|_| Err(Error::general("no key"))).unwrap_err();
    assert_eq!(e.reason(), "no key");
    assert_eq!(s.load_all().unwrap().upserts.len(), 2);
    assert_eq!(s.transaction(|tx| tx.set_mac(9999, b"m")).unwrap_err().rv(), CKR_OBJECT_HANDLE_INVALID);
}

#[test]
fn schema_2_rows_get_their_lookup_columns_on_upgrade() {
    use crate::store::index::Lookup;
    let tmp = tempfile::tempdir().unwrap();
    let blob = crate::store::tests::public_blob(&[
        (CKA_CLASS, (CKO_SECRET_KEY as CK_ULONG).to_ne_bytes().to_vec()),
        (CKA_LABEL, b"kept".to_vec()),
        (CKA_KEYWARD_KEY_ID, b"k9".to_vec()),
    ]);
    {
        let c = Connection::open(tmp.path().join(DB_FILE)).unwrap();
        c.execute_batch(SCHEMA_V1).unwrap();
        c.execute_batch("ALTER TABLE objects ADD COLUMN mac BLOB;").unwrap();
        c.pragma_update(None, "user_version", 2).unwrap();
        c.execute("INSERT INTO objects (uid, rev, public, sealed, mac) VALUES ('old', 1, ?1, x'02', x'03')", [&blob])
            .unwrap();
    }
    let s = Store::open(tmp.path()).unwrap();
    assert_eq!(user_version(&conn(&s)).unwrap(), 4);
    let id = s.load_all().unwrap().upserts[0].id;
    assert_eq!(s.lookup(Lookup::Label(b"kept")).unwrap(), vec![id]);
    assert_eq!(s.lookup(Lookup::KeyId(b"k9")).unwrap(), vec![id]);
    assert_eq!(s.census(10).unwrap(), (0, 1), "filling the columns stamps nothing");
}

#[test]
fn not_a_database_is_a_device_error() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join(DB_FILE), vec![0x55u8; 8192]).unwrap();
    let e = Store::open(tmp.path()).unwrap_err();
    assert_eq!(e.rv(), CKR_DEVICE_ERROR);
}
