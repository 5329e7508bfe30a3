//! Unit tests of the PostgreSQL backend against the server of
//! `scripts/pg-cluster` (`$KEYWARD_TEST_PG_URL`, `$KEYWARD_TEST_PG_CA`,
//! `$KEYWARD_TEST_PG_PASSWORD_FILE`): schemas per token, refused
//! credentials and certificates, a connection cut under the store, and
//! contended writers that never see a serialization error. The contract
//! tests shared with SQLite are in `store/tests.rs` (`postgres::*`).

use super::super::tests::{so_key, test_mac};
use super::super::{Role, Store};
use super::PgOptions;
use crate::ck::*;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// Options for a fresh schema on the test server, or `None` when there is
/// none (fails instead when `$KEYWARD_TEST_STORE=postgres` wants one).
pub(in crate::store) fn test_options() -> Option<PgOptions> {
    static N: AtomicU32 = AtomicU32::new(0);
    let Ok(url) = std::env::var("KEYWARD_TEST_PG_URL") else {
        assert_ne!(
            std::env::var("KEYWARD_TEST_STORE").as_deref(),
            Ok("postgres"),
            "KEYWARD_TEST_STORE=postgres without KEYWARD_TEST_PG_URL (scripts/pg-cluster)"
        );
        eprintln!("no $KEYWARD_TEST_PG_URL: PostgreSQL variant not run");
        return None;
    };
    let password = std::env::var("KEYWARD_TEST_PG_PASSWORD_FILE")
        .ok()
        .map(|f| Zeroizing::new(std::fs::read_to_string(f).unwrap().trim().to_string()));
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    Some(PgOptions {
        url,
        schema: format!("t_{}_{}_{nanos}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)),
        password,
        ca_file: std::env::var_os("KEYWARD_TEST_PG_CA").map(Into::into),
        connect_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(20),
    })
}

#[test]
fn tokens_in_different_schemas_are_independent() {
    let Some(a) = test_options() else { return };
    let Some(b) = test_options() else { return };
    let sa = Store::open_postgres(a.clone()).unwrap();
    let sb = Store::open_postgres(b).unwrap();
    sa.init_token("a", "1", &so_key()).unwrap();
    sa.insert_object("x", b"p", b"s", &test_mac).unwrap();
    assert!(sb.token().unwrap().is_none());
    assert!(sb.load_all().unwrap().upserts.is_empty());
    assert_eq!(Store::open_postgres(a).unwrap().load_all().unwrap().upserts.len(), 1);
    assert!(sa.integrity_check().unwrap());
    assert!(sa.path().display().to_string().starts_with("postgres:"));
}

#[test]
fn a_wrong_password_is_a_device_error_naming_the_cause() {
    let Some(mut o) = test_options() else { return };
    o.password = Some(Zeroizing::new("wrong".into()));
    let t = Instant::now();
    let e = Store::open_postgres(o).unwrap_err();
    assert_eq!(e.rv(), CKR_DEVICE_ERROR);
    assert!(e.reason().contains("password authentication failed"), "{}", e.reason());
    assert!(t.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_server_certificate_from_another_ca_is_refused() {
    let Some(mut o) = test_options() else { return };
    // A CA that did not sign the server's certificate.
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("other-ca.crt");
    let st = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=other CA", "-keyout"])
        .arg(dir.path().join("k"))
        .arg("-out")
        .arg(&ca)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    o.ca_file = Some(ca);
    let e = Store::open_postgres(o.clone()).unwrap_err();
    assert_eq!(e.rv(), CKR_DEVICE_ERROR);
    assert!(e.reason().to_lowercase().contains("certificate"), "{}", e.reason());
    // No CA at all: refused before connecting (verify-full is the default).
    o.ca_file = None;
    let e = Store::open_postgres(o).unwrap_err();
    assert!(e.reason().contains("CA"), "{}", e.reason());
}

#[test]
fn a_cut_connection_fails_one_call_then_reconnects() {
    let Some(mut o) = test_options() else { return };
    let name = format!("cut_{}", o.schema);
    o.url = format!("{} application_name={name}", o.url);
    let s = Store::open_postgres(o).unwrap();
    s.init_token("t", "1", &so_key()).unwrap();
    let a = s.insert_object("a", b"p", b"s", &test_mac).unwrap();
    let rev = s.load_all().unwrap().rev;
    // Another connection terminates the store's session (by its name).
    let mut c = super::conn::connect(&test_options().unwrap()).unwrap();
    let n = c
        .query_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", &[&name])
        .unwrap()
        .len();
    assert_eq!(n, 1);
    std::thread::sleep(Duration::from_millis(100));
    // The first call may fail (CKR_DEVICE_ERROR) or already reconnect;
    // within two calls the store works, and nothing committed is lost.
    let first = s.insert_object("b", b"p", b"s", &test_mac);
    if let Err(e) = &first {
        assert_eq!(e.rv(), CKR_DEVICE_ERROR, "{}", e.reason());
    }
    let b = match first {
        Ok(b) => b,
        Err(_) => s.insert_object("b", b"p", b"s", &test_mac).unwrap(),
    };
    let all = s.load_all().unwrap();
    assert_eq!(all.upserts.iter().map(|r| r.id).collect::<Vec<_>>(), vec![a, b]);
    assert!(all.rev > rev);
    // After a reconnect the fast path answers in full once.
    assert_eq!(s.token().unwrap().unwrap().label, "t");
}

#[test]
fn contended_lockout_counting_is_exact() {
    let Some(o) = test_options() else { return };
    Store::open_postgres(o.clone()).unwrap().init_token("t", "1", &so_key()).unwrap();
    let max = 25;
    let reserved = AtomicU32::new(0);
    std::thread::scope(|sc| {
        for _ in 0..4 {
            sc.spawn(|| {
                let s = Store::open_postgres(o.clone()).unwrap();
                for _ in 0..10 {
                    // Never a serialization error: the lock row serializes.
                    if s.reserve_pin_attempt(Role::User, max).unwrap().is_ok() {
                        reserved.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(reserved.load(Ordering::Relaxed), max);
    let t = Store::open_postgres(o).unwrap().token().unwrap().unwrap();
    assert_eq!(t.user_failures, max);
}

#[test]
fn a_newer_schema_is_refused_and_other_schemas_are_not_read() {
    let Some(o) = test_options() else { return };
    Store::open_postgres(o.clone()).unwrap().meta_set("k", b"v").unwrap();
    let mut c = super::conn::connect(&o).unwrap();
    let schema = &o.schema;
    c.batch(&format!("UPDATE {schema}.schema_version SET version = 99")).unwrap();
    let e = Store::open_postgres(o.clone()).unwrap_err();
    assert_eq!(e.rv(), CKR_DEVICE_ERROR);
    assert!(e.reason().contains("newer"), "{}", e.reason());
    // A fresh schema is created even though a table of the same name
    // exists in another schema on the search path's usual places.
    let Some(fresh) = test_options() else { return };
    let s = Store::open_postgres(fresh.clone()).unwrap();
    assert!(s.integrity_check().unwrap());
    assert_eq!(s.meta_get("k").unwrap(), None, "nothing of another schema");
}

#[test]
fn version_1_rows_get_their_lookup_columns_on_upgrade() {
    use crate::store::index::Lookup;
    let Some(o) = test_options() else { return };
    let s = Store::open_postgres(o.clone()).unwrap();
    s.init_token("old", "0001", &so_key()).unwrap();
    drop(s);
    // Back to version 1: no lookup columns, one row written by that version.
    let mut c = super::conn::connect(&o).unwrap();
    let schema = &o.schema;
    c.batch(&format!(
        "ALTER TABLE {schema}.objects DROP COLUMN label, DROP COLUMN key_id, DROP COLUMN copy_of, \
         DROP COLUMN class, DROP COLUMN due; DROP TRIGGER counters_notify ON {schema}.counters; \
         DROP FUNCTION {schema}.keyward_notify(); DROP TABLE {schema}.grants; DROP TABLE {schema}.principals; \
         ALTER TABLE {schema}.counters DROP COLUMN auth_rev; UPDATE {schema}.schema_version SET version = 1"
    ))
    .unwrap();
    let blob = crate::store::tests::public_blob(&[
        (CKA_CLASS, (CKO_SECRET_KEY as CK_ULONG).to_ne_bytes().to_vec()),
        (CKA_LABEL, b"kept".to_vec()),
        (CKA_KEYWARD_KEY_ID, b"k9".to_vec()),
    ]);
    let hex: String = blob.iter().map(|b| format!("{b:02x}")).collect();
    c.batch(&format!(
        "INSERT INTO {schema}.objects (uid, rev, public, sealed, mac) VALUES ('old', 1, '\\x{hex}', '\\x02', '\\x03')"
    ))
    .unwrap();
    let s = Store::open_postgres(o).unwrap();
    let id = s.load_all().unwrap().upserts[0].id;
    assert_eq!(s.lookup(Lookup::Label(b"kept")).unwrap(), vec![id]);
    assert_eq!(s.lookup(Lookup::KeyId(b"k9")).unwrap(), vec![id]);
    assert_eq!(s.lookup(Lookup::KeysWithoutId).unwrap(), Vec::<i64>::new());
}

#[test]
fn a_stuck_server_fails_the_call_within_the_deadline_then_recovers() {
    let Some(mut o) = test_options() else { return };
    let name = format!("stuck_{}", o.schema);
    o.url = format!("{} application_name={name}", o.url);
    o.statement_timeout = Duration::from_secs(2);
    let s = Store::open_postgres(o).unwrap();
    s.meta_set("a", b"1").unwrap();
    let mut c = super::conn::connect(&test_options().unwrap()).unwrap();
    let rows = c.query_sql("SELECT pid FROM pg_stat_activity WHERE application_name = $1", &[&name]).unwrap();
    let pid = rows[0].get::<_, i32>(0).to_string();
    // The server process of the store's connection stops answering (its
    // kernel still acknowledges: no TCP timeout fires).
    let signal = |sig: &str| assert!(std::process::Command::new("kill").args([sig, &pid]).status().unwrap().success());
    signal("-STOP");
    let t = Instant::now();
    let e = s.meta_get("a").unwrap_err();
    let took = t.elapsed();
    signal("-CONT");
    assert_eq!(e.rv(), CKR_DEVICE_ERROR, "{}", e.reason());
    assert!(took < Duration::from_secs(5), "the call took {took:?}");
    // The next call reconnects.
    assert_eq!(s.meta_get("a").unwrap().as_deref(), Some(&b"1"[..]));
}

#[test]
fn the_store_starts_no_os_thread() {
    let Some(o) = test_options() else { return };
    let threads = || std::fs::read_dir("/proc/self/task").unwrap().count();
    let before = threads();
    // Connect (a host name resolved, TLS), write, read, reconnect.
    let s = Store::open_postgres(o).unwrap();
    s.init_token("t", "1", &so_key()).unwrap();
    s.insert_object("a", b"p", b"s", &test_mac).unwrap();
    let rev = s.load_all().unwrap().rev;
    assert!(s.changes_since(rev).unwrap().is_none());
    assert_eq!(threads(), before, "a thread was started");
}

/// Another session's commit reaches a listening store as a notification:
/// `unchanged_since` answers from the socket (no request), turns false
/// once the commit is announced, and true again after the read that
/// brings it; a store is not told of its own commits.
#[test]
fn another_sessions_commit_is_announced_without_a_round_trip() {
    let Some(o) = test_options() else { return };
    let a = Store::open_postgres(o.clone()).unwrap();
    let b = Store::open_postgres(o).unwrap();
    a.init_token("t", "1", &so_key()).unwrap();
    a.load_all().unwrap();
    // (as the token layer does after reading everything: init_token was
    // an untracked write, which alone makes `unchanged_since` false)
    assert!(a.take_unreported_writes());
    // Let the announcement of init_token arrive, then read past it.
    std::thread::sleep(Duration::from_millis(100));
    let rev = b.load_all().unwrap().rev;
    assert!(b.unchanged_since(rev).unwrap(), "nothing was committed since B's read");
    let (_, w) = a.transaction_tracked(|tx| tx.insert_object("x", b"p", b"s", &test_mac)).unwrap();
    let stamped = w.stamped.unwrap();
    assert!(a.unchanged_since(stamped).unwrap(), "A's own commit is not news to A");
    let t = Instant::now();
    while b.unchanged_since(rev).unwrap() {
        assert!(t.elapsed() < Duration::from_secs(5), "A's commit was never announced to B");
        std::thread::sleep(Duration::from_millis(1));
    }
    let ch = b.changes_since(rev).unwrap().expect("B finds A's commit");
    assert_eq!((ch.rev, ch.upserts.len()), (stamped, 1));
    assert!(b.unchanged_since(ch.rev).unwrap());
    // A stale cache revision is never answered from the signal.
    assert!(!b.unchanged_since(rev).unwrap());
}

/// An insert takes its id from the ids its connection reserved under the
/// write lock, so ids another session takes outside the lock do not
/// disturb it; should a reserved id be taken anyway (a row written with an
/// explicit id), the insert fails on the primary key, its transaction
/// rolls back (no half-written transaction) and the next insert reserves
/// afresh.
#[test]
fn inserts_take_reserved_ids_and_a_taken_one_fails_and_rolls_back() {
    let Some(o) = test_options() else { return };
    let s = Store::open_postgres(o.clone()).unwrap();
    s.init_token("a", "1", &so_key()).unwrap();
    let first = s.insert_object("x", b"p", b"s", &test_mac).unwrap();
    let mut other = super::conn::connect(&o).unwrap();
    let schema = o.schema.clone();
    let second = s
        .transaction(|tx| {
            other.batch(&format!("SELECT nextval('{schema}.objects_id_seq')"))?;
            tx.insert_object("y", b"p", b"s", &test_mac)
        })
        .unwrap();
    assert_eq!(second, first + 1, "the second id of the first reservation");
    // The next reserved id, taken by a row written around the pool.
    other
        .batch(&format!(
            "SELECT nextval('{schema}.objects_id_seq') FROM generate_series(1, 4); \
             INSERT INTO {schema}.objects (id, uid, rev, public, sealed) OVERRIDING SYSTEM VALUE \
             SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END, 'z', 0, '', '' \
             FROM {schema}.objects_id_seq"
        ))
        .unwrap();
    let taken = s.load_all().unwrap().upserts.iter().find(|r| r.uid == "z").unwrap().id;
    // Inserts use up the reservations until they meet the taken id.
    let mut n = 0;
    let r = loop {
        n += 1;
        let r = s.transaction(|tx| {
            tx.meta_set("written", b"in the same transaction")?;
            tx.insert_object(&format!("w{n}"), b"p", b"s", &test_mac)
        });
        match r {
            Ok(id) => {
                assert!(id < taken && n < 100, "{id} {taken}");
                s.transaction(|tx| tx.meta_set("written", b"")).unwrap();
                s.delete_object(id).unwrap();
            }
            Err(e) => break e,
        }
    };
    assert_eq!(r.rv(), CKR_DEVICE_ERROR, "{}", r.reason());
    assert_eq!(s.meta_get("written").unwrap().as_deref(), Some(&b""[..]));
    let ids = |s: &Store| s.load_all().unwrap().upserts.iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(&s), vec![first, second, taken]);
    // The next create reserves again and works.
    let id = s.insert_object("v", b"p", b"s", &test_mac).unwrap();
    assert!(id > taken, "{id}");
    let row = s.load_all().unwrap().upserts.into_iter().find(|r| r.id == id).unwrap();
    assert_eq!(row.mac, Some(test_mac(id).unwrap()));
    assert_eq!(row.uid, "v");
}

/// A write transaction that went on after a failed round trip (an error
/// the closure dropped) commits nothing.
#[test]
fn a_transaction_that_goes_on_after_a_failed_statement_commits_nothing() {
    let Some(o) = test_options() else { return };
    let s = Store::open_postgres(o).unwrap();
    s.init_token("a", "1", &so_key()).unwrap();
    let keep = s.insert_object("x", b"p", b"s", &test_mac).unwrap();
    let rev = s.changes_after(0).unwrap().rev;
    let r = s.transaction(|tx| {
        tx.delete_object(keep + 100)?;
        // The delete of a missing row fails with this read; dropped.
        assert!(tx.object(keep).is_err());
        let _ = tx.delete_object(keep);
        let _ = tx.meta_set("m", b"v");
        Ok(())
    });
    assert!(r.is_err(), "{r:?}");
    assert_eq!(s.meta_get("m").unwrap(), None);
    assert_eq!(s.changes_after(0).unwrap().rev, rev);
    assert_eq!(s.load_all().unwrap().upserts.len(), 1);
}

/// Round trips to the server `f` makes on this thread.
fn round_trips<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = super::client::ROUND_TRIPS.with(|n| n.get());
    let r = f();
    (r, super::client::ROUND_TRIPS.with(|n| n.get()) - before)
}

/// A create is one round trip (BEGIN, the write lock, the revision bump,
/// the INSERT carrying its MAC and the COMMIT), once the statements are
/// prepared and the connection holds reserved ids (the first insert of a
/// connection reserves some in a round trip of its own); a delete by id
/// too (BEGIN, lock, bump, the delete with its tombstone, COMMIT); a
/// delete of a missing object is refused and changes nothing.
#[test]
fn a_create_and_a_delete_are_one_round_trip_each() {
    let Some(o) = test_options() else { return };
    let s = Store::open_postgres(o).unwrap();
    s.init_token("a", "1", &so_key()).unwrap();
    let (warm, n) = round_trips(|| s.insert_object("w", b"p", b"s", &test_mac).unwrap());
    assert!(n >= 2, "the first insert reserves ids first: {n}");
    s.delete_object(warm).unwrap();
    for uid in ["x", "x2", "x3"] {
        let (id, n) = round_trips(|| s.insert_object(uid, b"p", b"s", &test_mac).unwrap());
        assert_eq!(n, 1, "create");
        let (_, n) = round_trips(|| s.delete_object(id).unwrap());
        assert_eq!(n, 1, "delete");
    }
    let id = s.insert_object("z", b"p", b"s", &test_mac).unwrap();
    s.delete_object(id).unwrap();
    let rows = s.load_all().unwrap().upserts;
    assert!(rows.is_empty());
    let keep = s.insert_object("y", b"p", b"s", &test_mac).unwrap();
    let rev = s.changes_after(0).unwrap().rev;
    let e = s
        .transaction(|tx| {
            tx.meta_set("m", b"v")?;
            tx.delete_object(keep)?;
            tx.delete_object(id)
        })
        .unwrap_err();
    assert_eq!(e.rv(), CKR_OBJECT_HANDLE_INVALID, "{}", e.reason());
    assert_eq!(s.meta_get("m").unwrap(), None);
    assert_eq!(s.changes_after(0).unwrap().rev, rev);
    assert_eq!(s.load_all().unwrap().upserts.iter().map(|r| r.id).collect::<Vec<_>>(), vec![keep]);
}
