//! The token store through the built module: no plaintext key bytes at rest,
//! and SIGKILL in the middle of a C_CreateObject loop loses nothing that
//! returned CKR_OK.

mod common;
use common::*;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::UserType;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

fn token_files(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for e in std::fs::read_dir(dir.join("token")).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            all.extend(std::fs::read(&p).unwrap());
        }
    }
    all
}

#[test]
fn no_plaintext_key_bytes_in_the_store() {
    let t = initialized();
    let s = t.user_session();
    let k = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::ValueLen(32.into()),
                Attribute::Token(true),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
            ],
        )
        .unwrap();
    let value = match &s.get_attributes(k, &[AttributeType::Value]).unwrap()[0] {
        Attribute::Value(v) => v.clone(),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(value.len(), 32);
    // Also an imported key with a recognisable pattern.
    let pattern: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect();
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(cryptoki::object::KeyType::AES),
        Attribute::Value(pattern.clone()),
        Attribute::Token(true),
    ])
    .unwrap();
    drop(s);
    let Token { dir, p11, .. } = t;
    p11.finalize().unwrap();
    let bytes = token_files(dir.path());
    assert!(!bytes.is_empty());
    for needle in [&value[..], &pattern[..]] {
        for w in [16usize, 12, 8] {
            assert!(!bytes.windows(w).any(|x| x == &needle[..w]), "{w} key bytes found in plaintext in the store");
        }
    }
}

/// The worker the crash test kills: creates token objects in a loop and
/// prints each label once C_CreateObject returned CKR_OK.
#[test]
fn crash_worker() {
    let Ok(conf) = std::env::var("KW_CRASH_WORKER_CONF") else { return };
    let round: u32 = std::env::var("KW_CRASH_ROUND").unwrap().parse().unwrap();
    let conf = std::ffi::CString::new(conf).unwrap();
    let p11 = load(&conf);
    let slot = p11.get_all_slots().unwrap()[0];
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    for i in 0.. {
        let label = format!("r{round}-{i}");
        s.create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(cryptoki::object::KeyType::GENERIC_SECRET),
            Attribute::Value(vec![(i % 251) as u8 + 1; 32]),
            Attribute::Token(true),
            Attribute::Label(label.clone().into_bytes()),
        ])
        .unwrap();
        println!("OK {label}");
    }
}

#[test]
fn sigkill_during_create_loop_loses_nothing() {
    let t = initialized();
    let conf = t.conf.to_str().unwrap().to_string();
    let mut confirmed = Vec::new();
    for round in 0..6u32 {
        let mut child = test_worker("crash_worker")
            .env("KW_CRASH_WORKER_CONF", &conf)
            .env("KW_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let want = 5 + (round as usize * 13) % 40;
        let mut got = 0;
        for line in BufReader::new(out).lines() {
            let line = line.unwrap();
            if let Some(l) = line.strip_prefix("OK ") {
                confirmed.push(l.to_string());
                got += 1;
                if got >= want {
                    break;
                }
            }
        }
        child.kill().unwrap(); // SIGKILL, mid-loop
        child.wait().unwrap();
        assert!(got >= want, "worker stopped early in round {round}");
    }
    // The token opens (in this process: a separate module instance view) and
    // every confirmed object is there and readable.
    let s = t.user_session();
    for label in &confirmed {
        let found = s.find_objects(&[Attribute::Label(label.clone().into_bytes())]).unwrap();
        assert_eq!(found.len(), 1, "object {label} lost");
        let attrs = s.get_attributes(found[0], &[AttributeType::ValueLen]).unwrap();
        assert_eq!(attrs.len(), 1);
    }
    let all = s.find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY)]).unwrap();
    assert!(all.len() >= confirmed.len());
}
