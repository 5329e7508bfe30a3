//! Unit tests of the store through its public API: transactions, revisions
//! and changes, PIN rows and counters, meta, concurrency, crash safety.
//! The SQLite-specific ones (files, schema) are in `sqlite/tests.rs`.

use super::*;
use std::path::Path;

mod auth;
use auth::*;
use std::time::{Duration, Instant};

pub(super) fn so_key() -> WrappedKey {
    WrappedKey { salt: vec![1; 16], iterations: 1000, blob: vec![2; 61] }
}

pub(super) fn test_mac(id: i64) -> Result<Vec<u8>> {
    Ok(id.to_le_bytes().to_vec())
}

pub(super) fn ids(rows: &[ObjectRow]) -> Vec<i64> {
    rows.iter().map(|r| r.id).collect()
}

#[test]
fn store_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Store>();
}

fn init_token_wipes_objects_and_resets_pins(p: &Place) {
    let s = p.open();
    assert_eq!(s.pin_failed(Role::So).unwrap_err().rv(), CKR_TOKEN_NOT_RECOGNIZED);
    assert_eq!(s.set_pin(Role::User, Some(&so_key())).unwrap_err().rv(), CKR_TOKEN_NOT_RECOGNIZED);
    s.pin_ok(Role::So).unwrap();
    s.init_token("first", "0001", &so_key()).unwrap();
    let t = s.token().unwrap().unwrap();
    assert_eq!((t.label.as_str(), t.serial.as_str()), ("first", "0001"));
    assert_eq!(t.so, Some(so_key()));
    assert_eq!(t.user, None);
    let user = WrappedKey { salt: vec![3; 16], iterations: 7, blob: vec![4; 61] };
    s.set_pin(Role::User, Some(&user)).unwrap();
    s.pin_failed(Role::User).unwrap();
    s.pin_failed(Role::So).unwrap();
    let a = s.insert_object("a", b"pa", b"sa", &test_mac).unwrap();
    let b = s.insert_object("b", b"pb", b"sb", &test_mac).unwrap();
    let t = s.token().unwrap().unwrap();
    assert_eq!(t.user, Some(user));
    assert_eq!((t.so_failures, t.user_failures), (1, 1));
    let before = s.load_all().unwrap();

    let other = p.open();
    let seen = other.load_all().unwrap();
    assert_eq!(ids(&seen.upserts), vec![a, b]);

    let so2 = WrappedKey { salt: vec![9; 16], iterations: 2000, blob: vec![8; 61] };
    s.init_token("second", "0002", &so2).unwrap();
    let after = s.load_all().unwrap();
    assert!(after.upserts.is_empty());
    assert!(after.rev > before.rev);
    let t = s.token().unwrap().unwrap();
    assert_eq!((t.label.as_str(), t.serial.as_str()), ("second", "0002"));
    assert_eq!(t.so, Some(so2));
    assert_eq!(t.user, None);
    assert_eq!((t.so_failures, t.user_failures), (0, 0));
    // Another process drops the wiped objects.
    let ch = other.changes_since(seen.rev).unwrap().unwrap();
    assert!(ch.upserts.is_empty());
    assert_eq!(ch.deletes, vec![a, b]);
    // Ids are not reused after a re-initialisation.
    let c = s.insert_object("a", b"pa", b"sa", &test_mac).unwrap();
    assert!(c > b);
}

fn replace_wrapped_swaps_only_the_current_blob_and_keeps_counters(p: &Place) {
    let s = p.open();
    s.init_token("t", "1", &so_key()).unwrap();
    s.pin_failed(Role::So).unwrap();
    let new = WrappedKey { salt: vec![1; 16], iterations: 1000, blob: vec![5; 70] };
    assert!(!s.replace_wrapped(Role::User, &so_key(), &new).unwrap(), "no user key yet");
    assert!(s.replace_wrapped(Role::So, &so_key(), &new).unwrap());
    let t = s.token().unwrap().unwrap();
    assert_eq!((t.so, t.so_failures), (Some(new.clone()), 1));
    assert!(!s.replace_wrapped(Role::So, &so_key(), &so_key()).unwrap(), "old blob gone: no swap");
}

fn crud_and_changes_seen_by_a_second_store(p: &Place) {
    let s1 = p.open();
    let s2 = p.open();
    s1.init_token("t", "1", &so_key()).unwrap();

    let base = s2.load_all().unwrap();
    assert!(base.upserts.is_empty());
    // Nothing new: the fast path.
    assert!(s2.changes_since(base.rev).unwrap().is_none());

    let a = s1.insert_object("ua", b"pub-a", b"sec-a", &test_mac).unwrap();
    let b = s1.insert_object("ub", b"pub-b", b"sec-b", &test_mac).unwrap();
    assert_eq!(a, 1, "ids start at 1 after init (no object was ever created)");
    assert_eq!(b, a + 1);
    let ch = s2.changes_since(base.rev).unwrap().expect("changes from s1");
    assert_eq!(ids(&ch.upserts), vec![a, b]);
    assert_eq!(ch.upserts[0].uid, "ua");
    assert_eq!(ch.upserts[0].public, b"pub-a");
    assert_eq!(ch.upserts[0].sealed, b"sec-a");
    assert!(ch.deletes.is_empty());
    assert!(s2.changes_since(ch.rev).unwrap().is_none());

    s1.update_object(a, b"pub-a2", b"sec-a2", b"mac").unwrap();
    s1.delete_object(b).unwrap();
    let ch2 = s2.changes_since(ch.rev).unwrap().unwrap();
    assert_eq!(ids(&ch2.upserts), vec![a]);
    assert_eq!(ch2.upserts[0].public, b"pub-a2");
    assert_eq!(ch2.upserts[0].sealed, b"sec-a2");
    assert_eq!(ch2.deletes, vec![b]);
    assert!(ch2.rev > ch.rev);
    assert!(s2.changes_since(ch2.rev).unwrap().is_none());
    // An older revision than the one last returned is answered in full.
    let again = s2.changes_since(base.rev).unwrap().unwrap();
    assert_eq!(ids(&again.upserts), vec![a]);
    assert_eq!(again.deletes, vec![b]);

    // Gone objects.
    assert_eq!(s1.update_object(b, b"x", b"y", b"mac").unwrap_err().rv(), CKR_OBJECT_HANDLE_INVALID);
    assert_eq!(s1.delete_object(b).unwrap_err().rv(), CKR_OBJECT_HANDLE_INVALID);
    assert_eq!(s1.delete_object(12345).unwrap_err().rv(), CKR_OBJECT_HANDLE_INVALID);
    // Failed writes did not move the revision.
    assert!(s2.changes_since(ch2.rev).unwrap().is_none());
    assert_eq!(s1.load_all().unwrap().rev, ch2.rev);

    // The last id is not reused.
    let c = s1.insert_object("uc", b"", b"", &test_mac).unwrap();
    assert!(c > b);
    // Duplicate uid is refused.
    assert!(s1.insert_object("uc", b"", b"", &test_mac).is_err());
    // A connection's own writes do not trip the fast path (the caller
    // applied them itself) ...
    assert!(s1.changes_since(ch2.rev).unwrap().is_none());
    // ... but a slow-path answer includes them.
    let own = s1.changes_since(base.rev).unwrap().unwrap();
    assert_eq!(ids(&own.upserts), vec![a, c]);
    assert_eq!(own.deletes, vec![b]);
    // s2 sees c.
    assert_eq!(ids(&s2.changes_since(ch2.rev).unwrap().unwrap().upserts), vec![c]);
}

fn fast_path_is_cheap(p: &Place) {
    let s = p.open();
    let rev = s.load_all().unwrap().rev;
    // SQLite: a cached pragma; PostgreSQL: one primary-key read (a round
    // trip, which the token layer makes at most once per refresh_ms).
    let (n, budget) = if p.pg.is_some() { (2_000u32, 2_000) } else { (20_000u32, 100) };
    let t = Instant::now();
    for _ in 0..n {
        assert!(s.changes_since(rev).unwrap().is_none());
    }
    let per = t.elapsed() / n;
    eprintln!("changes_since fast path: {per:?} per call");
    assert!(per < Duration::from_micros(budget), "{per:?}");
}

fn pin_attempts_are_reserved_up_to_the_limit(p: &Place) {
    let s = p.open();
    assert!(s.reserve_pin_attempt(Role::User, 3).is_err(), "no token row yet");
    s.init_token("t", "1", &so_key()).unwrap();
    assert_eq!(s.reserve_pin_attempt(Role::User, 3).unwrap(), Ok(1));
    assert_eq!(s.reserve_pin_attempt(Role::User, 3).unwrap(), Ok(2));
    assert_eq!(s.reserve_pin_attempt(Role::User, 3).unwrap(), Ok(3));
    // At the limit nothing more is counted.
    assert_eq!(s.reserve_pin_attempt(Role::User, 3).unwrap(), Err(3));
    assert_eq!(s.token().unwrap().unwrap().user_failures, 3);
    // The other role has its own counter; a success releases it.
    assert_eq!(s.reserve_pin_attempt(Role::So, 3).unwrap(), Ok(1));
    s.pin_ok(Role::So).unwrap();
    assert_eq!(s.token().unwrap().unwrap().so_failures, 0);
}

fn pin_counters_persist_across_reopen(p: &Place) {
    let s = p.open();
    s.init_token("t", "1", &so_key()).unwrap();
    assert_eq!(s.pin_failed(Role::User).unwrap(), 1);
    assert_eq!(s.pin_failed(Role::User).unwrap(), 2);
    assert_eq!(s.pin_failed(Role::So).unwrap(), 1);
    drop(s);
    let s = p.open();
    let t = s.token().unwrap().unwrap();
    assert_eq!((t.so_failures, t.user_failures), (1, 2));
    assert_eq!(s.pin_failed(Role::User).unwrap(), 3);
    s.pin_ok(Role::User).unwrap();
    let t = s.token().unwrap().unwrap();
    assert_eq!((t.so_failures, t.user_failures), (1, 0));
    // Already 0: no write, the revision stays.
    let rev = s.load_all().unwrap().rev;
    s.pin_ok(Role::User).unwrap();
    assert_eq!(s.load_all().unwrap().rev, rev);
    // set_pin resets the counter; clearing a key works.
    s.set_pin(Role::So, Some(&so_key())).unwrap();
    assert_eq!(s.token().unwrap().unwrap().so_failures, 0);
    s.set_pin(Role::So, None).unwrap();
    assert_eq!(s.token().unwrap().unwrap().so, None);
}

fn meta_round_trip(p: &Place) {
    let s = p.open();
    assert_eq!(s.meta_get("audit.key").unwrap(), None);
    s.meta_set("audit.key", b"one").unwrap();
    s.meta_set("audit.key", b"two").unwrap();
    s.meta_set("empty", b"").unwrap();
    assert_eq!(s.meta_get("audit.key").unwrap().as_deref(), Some(&b"two"[..]));
    assert_eq!(s.meta_get("empty").unwrap().as_deref(), Some(&b""[..]));
    let other = p.open();
    assert_eq!(other.meta_get("audit.key").unwrap().as_deref(), Some(&b"two"[..]));
    // Meta is not stamped: another connection stays current, and the
    // revision a cache holds is still the store's.
    s.init_token("t", "1", &so_key()).unwrap();
    s.insert_object("o", b"p", b"s", &test_mac).unwrap();
    let rev = other.load_all().unwrap().rev;
    assert!(s.take_unreported_writes(), "the object write went to no caller");
    let ((), w) = s.transaction_tracked(|tx| tx.meta_set("audit.anchor", b"3")).unwrap();
    assert_eq!(w, Written { base: rev, stamped: None });
    s.meta_set("audit.anchor", b"4").unwrap();
    assert_eq!(other.changes_after(rev).unwrap().rev, rev);
    assert!(other.changes_since(rev).unwrap().is_none_or(|c| c.upserts.is_empty() && c.deletes.is_empty()));
    assert!(!s.take_unreported_writes(), "a meta write needs no re-read");
}

fn transaction_commits_together_or_not_at_all(p: &Place) {
    let s = p.open();
    s.init_token("t", "1", &so_key()).unwrap();
    let keep = s.insert_object("keep", b"p", b"s", &test_mac).unwrap();
    let rev0 = s.load_all().unwrap().rev;

    let e = s
        .transaction(|tx| {
            tx.insert_object("x", b"p", b"s", &test_mac)?;
            tx.meta_set("m", b"v")?;
            tx.update_object(keep, b"changed", b"changed", b"mac")?;
            tx.delete_object(keep)?;
            Err::<(), _>(Error::general("decided against it"))
        })
        .unwrap_err();
    assert_eq!(e.reason(), "decided against it");
    let all = s.load_all().unwrap();
    assert_eq!(all.rev, rev0);
    assert_eq!(ids(&all.upserts), vec![keep]);
    assert_eq!(all.upserts[0].public, b"p");
    assert_eq!(s.meta_get("m").unwrap(), None);
    assert!(s.changes_since(rev0).unwrap().is_none());

    // A failing step inside, propagated, rolls back the earlier ones.
    let e = s
        .transaction(|tx| {
            tx.insert_object("y", b"p", b"s", &test_mac)?;
            tx.delete_object(999)
        })
        .unwrap_err();
    assert_eq!(e.rv(), CKR_OBJECT_HANDLE_INVALID);
    assert_eq!(ids(&s.load_all().unwrap().upserts), vec![keep]);

    // Calling back into the store fails instead of deadlocking.
    let e = s.transaction(|_tx| s.meta_get("m")).unwrap_err();
    assert_eq!(e.rv(), CKR_GENERAL_ERROR);
    // ... and the store works afterwards.
    assert_eq!(s.meta_get("m").unwrap(), None);

    // Success: several writes, one revision.
    let (x, y) = s
        .transaction(|tx| {
            let x = tx.insert_object("x", b"p", b"s", &test_mac)?;
            let y = tx.insert_object("y", b"p", b"s", &test_mac)?;
            tx.meta_set("m", b"v")?;
            assert_eq!(tx.meta_get("m")?.as_deref(), Some(&b"v"[..]));
            tx.delete_object(keep)?;
            Ok((x, y))
        })
        .unwrap();
    let ch = p.open().changes_since(rev0).unwrap().unwrap();
    assert_eq!(ch.rev, rev0 + 1);
    assert_eq!(ids(&ch.upserts), vec![x, y]);
    assert_eq!(ch.deletes, vec![keep]);
}

fn panic_inside_transaction_rolls_back_and_store_recovers(p: &Place) {
    let s = p.open();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = s.transaction(|tx| -> Result<()> {
            tx.insert_object("p", b"", b"", &test_mac)?;
            panic!("boom");
        });
    }));
    assert!(r.is_err());
    assert!(s.load_all().unwrap().upserts.is_empty());
    s.insert_object("q", b"", b"", &test_mac).unwrap();
    assert_eq!(s.load_all().unwrap().upserts.len(), 1);
}

fn concurrent_writers_on_one_token(p: &Place) {
    let per = 50;
    std::thread::scope(|sc| {
        for t in 0..4 {
            sc.spawn(move || {
                // Each thread its own Store, like separate processes.
                let s = p.open();
                for i in 0..per {
                    let id = s.insert_object(&format!("{t}-{i}"), b"p", b"s", &test_mac).unwrap();
                    s.update_object(id, b"p2", b"s2", b"mac").unwrap();
                    let _ = s.changes_since(0).unwrap();
                }
            });
        }
    });
    let s = p.open();
    let all = s.load_all().unwrap();
    assert_eq!(all.upserts.len(), 4 * per);
    assert_eq!(all.rev, 2 * 4 * per as u64);
    assert!(s.integrity_check().unwrap());
}

fn one_store_shared_between_threads(p: &Place) {
    let s = std::sync::Arc::new(p.open());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    s.insert_object(&format!("{t}-{i}"), b"p", b"s", &test_mac).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(s.load_all().unwrap().upserts.len(), 100);
}

/// A public blob with these attributes (as the token encodes them).
#[allow(clippy::unnecessary_cast)] // CK_ULONG is not u64 on every platform
pub(super) fn public_blob(attrs: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)]) -> Vec<u8> {
    codec::encode_attrs(attrs.iter().map(|(t, v)| (*t as u64, v.as_slice())))
}

fn ul(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

fn lookup_columns_follow_every_write(p: &Place) {
    use index::Lookup;
    let s = p.open();
    s.init_token("idx", "0001", &so_key()).unwrap();
    let key = |label: &str, key_id: &str, copy_of: CK_ULONG, due: CK_ULONG| {
        public_blob(&[
            (CKA_CLASS, ul(CKO_SECRET_KEY)),
            (CKA_LABEL, label.as_bytes().to_vec()),
            (CKA_KEYWARD_KEY_ID, key_id.as_bytes().to_vec()),
            (CKA_KEYWARD_COPY_OF, ul(copy_of)),
            (CKA_KEYWARD_NEXT_ROTATION, ul(due)),
        ])
    };
    let a = s.insert_object("a", &key("pay", "k1", 0, 0), b"s", &test_mac).unwrap();
    let b = s.insert_object("b", &key("pay", "k2", 0, 500), b"s", &test_mac).unwrap();
    let c = s.insert_object("c", &key("other", "k1", a as CK_ULONG, 0), b"s", &test_mac).unwrap();
    let legacy = public_blob(&[(CKA_CLASS, ul(CKO_PRIVATE_KEY)), (CKA_LABEL, b"old".to_vec())]);
    let d = s.insert_object("d", &legacy, b"s", &test_mac).unwrap();
    let data = public_blob(&[(CKA_CLASS, ul(CKO_DATA))]);
    let e = s.insert_object("e", &data, b"s", &test_mac).unwrap();
    assert_eq!(s.lookup(Lookup::Label(b"pay")).unwrap(), vec![a, b]);
    assert_eq!(s.lookup(Lookup::Label(b"nothing")).unwrap(), Vec::<i64>::new());
    assert_eq!(s.lookup(Lookup::KeyId(b"k1")).unwrap(), vec![a, c]);
    assert_eq!(s.lookup(Lookup::CopyOf(a)).unwrap(), vec![c]);
    assert_eq!(s.lookup(Lookup::KeysWithoutId).unwrap(), vec![d], "a data object is no key");
    assert_eq!(s.lookup(Lookup::DueBy(499)).unwrap(), Vec::<i64>::new());
    assert_eq!(s.lookup(Lookup::DueBy(500)).unwrap(), vec![b]);
    assert_eq!(s.next_due().unwrap(), Some(500));
    // An update moves the columns with the blob; a delete takes them away.
    s.update_object(b, &key("renamed", "k2", 0, 0), b"s", b"m").unwrap();
    assert_eq!(s.lookup(Lookup::Label(b"pay")).unwrap(), vec![a]);
    assert_eq!(s.lookup(Lookup::Label(b"renamed")).unwrap(), vec![b]);
    assert_eq!(s.next_due().unwrap(), None);
    s.transaction(|tx| {
        assert_eq!(tx.lookup(Lookup::KeyId(b"k1"))?, vec![a, c]);
        tx.delete_object(c)?;
        assert_eq!(tx.lookup(Lookup::KeyId(b"k1"))?, vec![a], "the transaction sees its own delete");
        Ok(())
    })
    .unwrap();
    assert_eq!(s.lookup(Lookup::CopyOf(a)).unwrap(), Vec::<i64>::new());
    let (rev, n) = s.census(100).unwrap();
    assert_eq!((rev, n), (s.load_all().unwrap().rev, 4));
    assert_eq!(s.census(2).unwrap().1, 2, "counts up to its bound");
    assert_eq!(s.object(d).unwrap().map(|r| r.uid), Some("d".to_string()));
    assert!(s.object(c).unwrap().is_none());
    // Paging through every row.
    assert_eq!(ids(&s.objects_after(0, 2).unwrap()), vec![a, b]);
    assert_eq!(ids(&s.objects_after(b, 2).unwrap()), vec![d, e]);
    assert!(s.objects_after(e, 2).unwrap().is_empty());
}

/// Runs each contract test on both backends: `sqlite::name` and
/// `postgres::name` (the PostgreSQL ones need the server of
/// `scripts/pg-cluster`, named by `$KEYWARD_TEST_PG_URL`; without it they
/// say so and pass, unless `$KEYWARD_TEST_STORE=postgres` asks for them).
/// `transaction_at` commits only while no other commit came after the
/// revision it names; otherwise it writes nothing and answers `None`.
fn transaction_at_commits_only_at_the_expected_revision(p: &Place) {
    let s = p.open();
    s.init_token("t", "1", &so_key()).unwrap();
    let a = s.insert_object("a", b"p", b"s", &test_mac).unwrap();
    let rev = s.load_all().unwrap().rev;
    let other = p.open();
    other.insert_object("b", b"p", b"s", &test_mac).unwrap();
    let r = s
        .transaction_at(rev, |tx| {
            tx.meta_set("m", b"v")?;
            tx.delete_object(a)
        })
        .unwrap();
    assert!(r.is_none());
    let all = s.load_all().unwrap();
    assert_eq!(all.rev, rev + 1);
    assert!(all.upserts.iter().any(|r| r.id == a));
    assert_eq!(s.meta_get("m").unwrap(), None);
    // Nothing written, still refused.
    assert!(s.transaction_at(rev, |_| Ok(())).unwrap().is_none());
    let (_, w) = s.transaction_at(rev + 1, |tx| tx.delete_object(a)).unwrap().expect("at the current revision");
    assert_eq!(w, Written { base: rev + 1, stamped: Some(rev + 2) });
    let all = other.load_all().unwrap();
    assert_eq!(all.rev, rev + 2);
    assert!(!all.upserts.iter().any(|r| r.id == a));
    // Other errors are errors.
    let e = s.transaction_at(rev + 2, |tx| tx.delete_object(a)).unwrap_err();
    assert_eq!(e.rv(), CKR_OBJECT_HANDLE_INVALID);
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(&super::Place::sqlite()) } )*
        }
        mod postgres {
            $( #[test] fn $name() { if let Some(p) = super::Place::postgres() { super::$name(&p) } } )*
        }
    };
}

on_both_backends!(
    init_token_wipes_objects_and_resets_pins,
    replace_wrapped_swaps_only_the_current_blob_and_keeps_counters,
    crud_and_changes_seen_by_a_second_store,
    fast_path_is_cheap,
    pin_attempts_are_reserved_up_to_the_limit,
    pin_counters_persist_across_reopen,
    meta_round_trip,
    transaction_commits_together_or_not_at_all,
    panic_inside_transaction_rolls_back_and_store_recovers,
    concurrent_writers_on_one_token,
    one_store_shared_between_threads,
    lookup_columns_follow_every_write,
    principals_and_grants_round_trip,
    init_token_wipes_principals_and_keeps_their_ids_used,
    migration_copies_principals_and_grants,
    transaction_at_commits_only_at_the_expected_revision
);

/// Where a test's token lives: a temporary directory (SQLite) or a fresh
/// schema (PostgreSQL). `open` opens one more `Store` on it.
pub(super) struct Place {
    dir: tempfile::TempDir,
    pg: Option<PgOptions>,
}

impl Place {
    pub(super) fn sqlite() -> Place {
        Place { dir: tempfile::tempdir().unwrap(), pg: None }
    }

    /// A fresh schema on the test server, `None` (with a note) without one.
    pub(super) fn postgres() -> Option<Place> {
        let pg = super::postgres::tests::test_options()?;
        Some(Place { dir: tempfile::tempdir().unwrap(), pg: Some(pg) })
    }

    /// A new, empty place on the same backend.
    pub(super) fn same_kind(&self) -> Place {
        match self.pg {
            Some(_) => Place::postgres().unwrap_or_else(Place::sqlite),
            None => Place::sqlite(),
        }
    }

    pub(super) fn open(&self) -> Store {
        match &self.pg {
            Some(o) => Store::open_postgres(o.clone()).unwrap(),
            None => Store::open(self.dir.path()).unwrap(),
        }
    }
}

/// The process `sigkill_mid_write_loses_nothing` kills: inserts objects
/// in a loop, printing each id once `insert_object` returned.
#[test]
fn store_kill_worker() {
    let Ok(dir) = std::env::var("KW_STORE_KILL_DIR") else { return };
    let s = Store::open(Path::new(&dir)).unwrap();
    for i in 0.. {
        let id = s.insert_object(&format!("k{i}-{}", std::process::id()), &[7; 300], &[9; 100], &test_mac).unwrap();
        println!("OK {id}");
    }
}

#[test]
fn sigkill_mid_write_loses_nothing() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let tmp = tempfile::tempdir().unwrap();
    let mut confirmed = Vec::new();
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["store::tests::store_kill_worker", "--exact", "--nocapture", "--test-threads=1"])
            .env("KW_STORE_KILL_DIR", tmp.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let want = 10 + round * 7;
        for line in out.lines() {
            if let Some(id) = line.unwrap().strip_prefix("OK ") {
                confirmed.push(id.parse::<i64>().unwrap());
                if confirmed.len() >= want {
                    break;
                }
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(confirmed.len() >= want, "worker stopped early");
    }
    let s = Store::open(tmp.path()).unwrap();
    assert!(s.integrity_check().unwrap());
    let have: std::collections::HashSet<i64> = s.load_all().unwrap().upserts.iter().map(|r| r.id).collect();
    for id in &confirmed {
        assert!(have.contains(id), "object {id} lost");
    }
}
