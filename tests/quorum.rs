//! A purge by one administrator waits for the quorum (issue 17, slice 7 of
//! docs/named-users.md): with `keyward user quorum --purge 2`, `keyward key
//! purge` makes a request; a second administrator's approval runs it; the
//! requester approving again, a key user approving, and automatic
//! maintenance past the grace period all leave the key pending deletion.
//!
//! One process per test (`cargo nextest run --test quorum`).

mod common;

use common::*;
use cryptoki::mechanism::Mechanism;

const X: &str = "admin-x-pin-1";
const Y: &str = "admin-y-pin-2";
const U: &str = "user-u-pin-33";

fn so(t: &Token, args: &[&str]) -> String {
    let mut a = args.to_vec();
    a.extend_from_slice(&["--so-pin", SO_PIN]);
    let (ok, out) = cli(t, &a);
    assert!(ok, "{args:?}: {out}");
    out
}

/// `keyward --as NAME --pin PIN ARGS...` at time `now`.
fn as_user(t: &Token, name: &str, pin: &str, args: &[&str], now: Option<i64>) -> (bool, String) {
    let mut a = vec![args[0], "--as", name, "--pin", pin];
    a.extend_from_slice(&args[1..]);
    cli_at(t, &a, now)
}

/// Admins x and y, key user u; x's AES key `k`, scheduled for deletion.
fn setup(quorum: u32) -> Token {
    // (KEYWARD_TEST_NOW moves the lifecycle clock: maintenance "later")
    let t = initialized_with("[testing]\nallow_test_clock = true\n");
    so(&t, &["user", "add", "x", "--role", "admin", "--new-pin", X]);
    so(&t, &["user", "add", "y", "--role", "admin", "--new-pin", Y]);
    so(&t, &["user", "add", "u", "--new-pin", U]);
    so(&t, &["user", "quorum", "--purge", &quorum.to_string()]);
    let s = t.p11.open_rw_session(t.slot).unwrap();
    login_as(&s, X, "x");
    s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("k")).unwrap();
    s.logout().unwrap();
    let (ok, out) = as_user(&t, "x", X, &["key", "delete", "k"], None);
    assert!(ok, "{out}");
    t
}

fn listed_by_x(t: &Token) -> String {
    let (ok, out) = as_user(t, "x", X, &["key", "list", "--all"], None);
    assert!(ok, "{out}");
    out
}

#[test]
fn a_purge_waits_for_two_admins() {
    let t = setup(2);
    assert!(listed_by_x(&t).contains("pending_deletion"), "{}", listed_by_x(&t));
    let (ok, out) = as_user(&t, "x", X, &["key", "purge", "k"], None);
    assert!(ok && out.contains("request 1, 1 of 2"), "{out}");
    assert!(listed_by_x(&t).contains("k "), "still there: {}", listed_by_x(&t));
    let (ok, out) = as_user(&t, "x", X, &["request", "list"], None);
    assert!(ok && out.contains("purge k") && out.contains("approved by x"), "{out}");
    // The requester again: not a second approval.
    let (ok, out) = as_user(&t, "x", X, &["request", "approve", "1"], None);
    assert!(!ok && out.contains("already approved"), "{out}");
    // A key user: not an administrator.
    let (ok, out) = as_user(&t, "u", U, &["request", "approve", "1"], None);
    assert!(!ok && out.contains("CKR_ACTION_PROHIBITED"), "{out}");
    // The default user: no approvals either.
    let (ok, out) = cli(&t, &["request", "approve", "1"]);
    assert!(!ok && out.contains("CKR_ACTION_PROHIBITED"), "{out}");
    // Maintenance long after the grace period: the quorum holds the key.
    let later = 4_000_000_000;
    let (ok, out) = cli_at(&t, &["maintain"], Some(later));
    assert!(ok, "{out}");
    assert!(listed_by_x(&t).contains("pending_deletion"), "{}", listed_by_x(&t));
    // A second administrator: the purge runs.
    let (ok, out) = as_user(&t, "y", Y, &["request", "approve", "1"], None);
    assert!(ok && out.contains("purged"), "{out}");
    let out = listed_by_x(&t);
    assert!(!out.contains("pending_deletion"), "gone: {out}");
    let (_, out) = as_user(&t, "y", Y, &["request", "list"], None);
    assert!(out.contains("no requests"), "{out}");
    let (ok, out) = cli(&t, &["audit", "show", "--json"]);
    assert!(ok, "{out}");
    let purge = out.lines().find(|l| l.contains("\"purged\"") || l.contains("keyward.purge")).unwrap_or_default();
    assert!(purge.contains("approved_by"), "{out}");
}

#[test]
fn without_a_quorum_a_purge_runs_at_once() {
    let t = setup(1);
    let (ok, out) = as_user(&t, "x", X, &["key", "purge", "k"], None);
    assert!(ok && out.contains("purged k"), "{out}");
    assert!(!listed_by_x(&t).contains("pending_deletion"));
    // Bob-like outsiders cannot purge what they do not administer.
    let s = t.p11.open_rw_session(t.slot).unwrap();
    login_as(&s, X, "x");
    s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("k2")).unwrap();
    s.logout().unwrap();
    assert!(as_user(&t, "x", X, &["key", "delete", "k2"], None).0);
    let (ok, out) = as_user(&t, "y", Y, &["key", "purge", "k2"], None);
    assert!(!ok && out.contains("no key named"), "{out}");
    // Control for the quorum test: without one, maintenance past the grace
    // period purges.
    assert!(listed_by_x(&t).contains("pending_deletion"));
    let (ok, out) = cli_at(&t, &["maintain"], Some(4_000_000_000));
    assert!(ok && out.contains("k2"), "{out}");
    assert!(!listed_by_x(&t).contains("pending_deletion"), "{}", listed_by_x(&t));
}

/// With `quorum --grant 2`, a grant change by one administrator waits for
/// a second one, who must administer the key too (it writes the grant).
#[test]
fn a_grant_waits_for_two_admins() {
    let t = initialized();
    so(&t, &["user", "add", "x", "--role", "admin", "--new-pin", X]);
    so(&t, &["user", "add", "y", "--role", "admin", "--auto-admin", "--new-pin", Y]);
    so(&t, &["user", "add", "z", "--role", "admin", "--new-pin", "admin-z-pin-3"]);
    so(&t, &["user", "add", "u", "--new-pin", U]);
    so(&t, &["user", "quorum", "--grant", "2"]);
    let s = t.p11.open_rw_session(t.slot).unwrap();
    login_as(&s, X, "x");
    s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("k")).unwrap();
    s.logout().unwrap();
    let u_sees = |s: &cryptoki::session::Session| {
        login_as(s, U, "u");
        let n = s.find_objects(&[]).unwrap().len();
        s.logout().unwrap();
        n
    };
    let (ok, out) = as_user(&t, "x", X, &["key", "grant", "k", "u", "decrypt"], None);
    assert!(ok && out.contains("waits for the quorum: request 1, 1 of 2"), "{out}");
    assert_eq!(u_sees(&s), 0, "not granted yet");
    // z is an administrator but not of this key: it cannot write the grant.
    let (ok, out) = as_user(&t, "z", "admin-z-pin-3", &["request", "approve", "1"], None);
    assert!(!ok && out.contains("CKR_ACTION_PROHIBITED"), "{out}");
    // y administers it (by config): its approval completes and writes it.
    let (ok, out) = as_user(&t, "y", Y, &["request", "approve", "1"], None);
    assert!(ok && out.contains("done"), "{out}");
    assert_eq!(u_sees(&s), 1);
    // The SO's revoke waits as well (the SO's own request counts no approval).
    let (ok, out) = cli(&t, &["key", "revoke", "k", "u", "--so-pin", SO_PIN]);
    assert!(ok && out.contains("request 2, 0 of 2"), "{out}");
    assert!(as_user(&t, "x", X, &["request", "approve", "2"], None).0);
    assert_eq!(u_sees(&s), 1, "one approval of two");
    let (ok, out) = as_user(&t, "y", Y, &["request", "approve", "2"], None);
    assert!(ok && out.contains("done"), "{out}");
    assert_eq!(u_sees(&s), 0, "revoked");
}
