//! Lifecycle acts (C_DestroyObject of a token key, its soft delete) read
//! just their key's rows, named by this process's object cache, when the
//! store is still at the revision the cache holds every row at; these tests
//! make the cache stale on purpose (`store.refresh_ms` of ten minutes, so
//! the process does not look at the store between calls) while another
//! process changes the key, and check that the act still covers what the
//! other process made.
//!
//! One process per test (`cargo nextest run --test lifecycle_race`).

mod common;

use common::*;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectHandle};
use cryptoki::session::{Session, UserType};

const VD: u64 = 0x8000_0000;
const CKA_KEYWARD_ROTATE: u64 = VD | 0x4B57_000B;
const CKA_KEYWARD_ALL_VERSIONS: u64 = VD | 0x4B57_000C;
/// This process does not look at the store by itself between calls.
const STALE: &str = "[store]\nrefresh_ms = 600000\n";

fn initialized_with(extra: &str) -> Token {
    let t = blank_with(extra);
    t.p11.init_token(t.slot, &pin(SO_PIN), "test").unwrap();
    let so = t.p11.open_rw_session(t.slot).unwrap();
    so.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    so.init_pin(&pin(USER_PIN)).unwrap();
    so.logout().unwrap();
    t
}

fn all_versions(s: &Session, label: &str) -> Vec<ObjectHandle> {
    s.find_objects(&[Attribute::Label(label.as_bytes().to_vec()), vbool(CKA_KEYWARD_ALL_VERSIONS, true)]).unwrap()
}

/// Runs `act` on the key labelled "raced" in another process; returns
/// what the worker printed after "WORKER OK".
fn other_process(t: &Token, act: &str) -> String {
    let out = test_worker("race_worker")
        .env("KW_RACE_CONF", t.conf.to_str().unwrap())
        .env("KW_RACE_ACT", act)
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "worker {act}: {stdout}\n{stderr}");
    let line =
        stdout.lines().find_map(|l| l.split_once("WORKER OK").map(|p| p.1)).unwrap_or_else(|| panic!("{stdout}"));
    line.trim().to_string()
}

#[test]
fn race_worker() {
    let Ok(conf) = std::env::var("KW_RACE_CONF") else { return };
    let p11 = load(&std::ffi::CString::new(conf).unwrap());
    let slot = p11.get_all_slots().unwrap()[0];
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    let found = s.find_objects(&[Attribute::Label(b"raced".to_vec())]).unwrap();
    match std::env::var("KW_RACE_ACT").unwrap().as_str() {
        "copy" => {
            assert_eq!(found.len(), 1);
            s.copy_object(found[0], &[Attribute::Token(true)]).unwrap();
            println!("WORKER OK");
        }
        "rotate" => {
            s.generate_key(
                &Mechanism::AesKeyGen,
                &[Attribute::Label(b"raced".to_vec()), vbool(CKA_KEYWARD_ROTATE, true)],
            )
            .unwrap();
            println!("WORKER OK");
        }
        "count" => {
            // Live primary versions (the default view) and every object.
            let every = s.find_objects(&[vbool(CKA_KEYWARD_ALL_VERSIONS, true)]).unwrap();
            println!("WORKER OK {} {}", found.len(), every.len());
        }
        other => panic!("unknown act {other}"),
    }
}

#[test]
fn destroy_takes_the_copy_another_process_made() {
    let t = initialized_with(&format!("[kms]\ndeletion_grace = \"0\"\n{STALE}"));
    let s = t.user_session();
    let k = s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("raced")).unwrap();
    // A token copy made elsewhere: this process's cache does not know it.
    other_process(&t, "copy");
    // (A copy keeps the label and shows in the default view.)
    assert_eq!(other_process(&t, "count"), "2 2");
    // Destroying the key (no grace period) destroys the copy that follows it.
    s.destroy_object(k).unwrap();
    assert_eq!(other_process(&t, "count"), "0 0", "the copy outlived its source");
    assert!(all_versions(&s, "raced").is_empty());
    assert!(s.find_objects(&[vbool(CKA_KEYWARD_ALL_VERSIONS, true)]).unwrap().is_empty());
}

#[test]
fn soft_delete_takes_the_version_another_process_made() {
    let t = initialized_with(STALE);
    let s = t.user_session();
    let k = s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("raced")).unwrap();
    // Rotated elsewhere: version 2 is the primary, which this process does
    // not know yet (its cache still shows version 1 as the primary).
    other_process(&t, "rotate");
    assert_eq!(other_process(&t, "count"), "1 2");
    // Destroying what is, to a plain client, the key schedules every
    // version of it for deletion, the new one too.
    s.destroy_object(k).unwrap();
    assert_eq!(other_process(&t, "count"), "0 2", "a version survived the deletion of its key");
    assert_eq!(rv(s.destroy_object(k).unwrap_err()), cryptoki::error::RvError::ObjectHandleInvalid);
    assert!(s.find_objects(&[Attribute::Label(b"raced".to_vec())]).unwrap().is_empty());
    assert_eq!(all_versions(&s, "raced").len(), 2);
}

#[test]
fn own_changes_keep_the_cache_current_and_copies_die_with_their_source() {
    // No other process: every act reads just its key's rows, and what it
    // leaves is exactly what a full scan would have left.
    let t = initialized_with(&format!("[kms]\ndeletion_grace = \"0\"\n{STALE}"));
    let s = t.user_session();
    let mut keys = Vec::new();
    for i in 0..20 {
        let k = s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template(&format!("k{i}"))).unwrap();
        let c = s.copy_object(k, &[Attribute::Token(true)]).unwrap();
        let cc = s.copy_object(c, &[Attribute::Token(true)]).unwrap();
        keys.push((k, c, cc));
    }
    for (i, (k, c, cc)) in keys.iter().enumerate() {
        if i % 2 == 0 {
            s.destroy_object(*k).unwrap();
            for h in [k, c, cc] {
                assert!(s.get_attributes(*h, &[AttributeType::Label]).is_err(), "k{i}: {h:?} survived");
            }
        } else {
            // Destroying a copy leaves the key and the other copy.
            s.destroy_object(*c).unwrap();
            assert!(s.get_attributes(*k, &[AttributeType::Label]).is_ok());
            assert!(s.get_attributes(*cc, &[AttributeType::Label]).is_ok());
        }
    }
    // Another process sees the same: 10 keys with one copy each.
    assert_eq!(other_process(&t, "count"), "0 20");
}
