//! Issue 21.10: `KEYWARD_TEST_NOW` in the environment of an application (or
//! of `keyward maintain`) must not move the lifecycle clock unless the
//! configuration opts into test hooks (`[testing] allow_test_clock = true`).
//! The attack: a past time to revive an expired key, a far-future time to
//! expire a valid key and to purge a key whose deletion is still in its
//! grace period (through a login in the application, and through the CLI).

mod common;
use common::*;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::Date;
use std::process::Command;

const IV: [u8; 16] = [7; 16];
const YEAR: i64 = 365 * 86_400;

fn set_test_now(t: Option<i64>) {
    // SAFETY: one test per process (nextest); set between calls into the
    // module, from this thread only.
    unsafe {
        match t {
            Some(t) => std::env::set_var("KEYWARD_TEST_NOW", t.to_string()),
            None => std::env::remove_var("KEYWARD_TEST_NOW"),
        }
    }
}

fn real_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn key(s: &Session, label: &str, end: Option<Date>) -> ObjectHandle {
    let mut t = aes_token_key_template(label);
    t.extend(end.map(Attribute::EndDate));
    s.generate_key(&Mechanism::AesKeyGen, &t).unwrap()
}

fn exists(s: &Session, k: ObjectHandle) -> bool {
    s.get_attributes(k, &[cryptoki::object::AttributeType::Label]).is_ok()
}

fn encrypts(s: &Session, k: ObjectHandle) -> bool {
    s.encrypt(&Mechanism::AesCbcPad(IV), k, b"data").is_ok()
}

/// What the attack achieved.
#[derive(Debug, PartialEq)]
struct Outcome {
    expired_key_revived: bool,
    valid_key_expired: bool,
    purged_early_by_login: bool,
}

fn attack(extra: &str) -> Outcome {
    set_test_now(None);
    // Default deletion grace: 7 days.
    let t = blank_with(extra);
    t.p11.init_token(t.slot, &pin(SO_PIN), "hook").unwrap();
    let so = t.p11.open_rw_session(t.slot).unwrap();
    so.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    so.init_pin(&pin(USER_PIN)).unwrap();
    drop(so);
    let s = t.user_session();
    let now = real_now();
    // Expired in 2001; valid until January 1st, five years from now.
    let expired = key(&s, "expired", Some(Date::new_from_str_slice("2001", "01", "01").unwrap()));
    let next_years = (1970 + now / 31_556_952 + 5).to_string();
    let valid = key(&s, "valid", Some(Date::new_from_str_slice(&next_years, "01", "01").unwrap()));
    let pending = key(&s, "pending", None);
    s.destroy_object(pending).unwrap();
    // The real clock's view, for the record.
    assert!(!encrypts(&s, expired) && encrypts(&s, valid) && exists(&s, pending));

    // The past (June 2000): before the expired key's end date.
    set_test_now(Some(960_000_000));
    let expired_key_revived = encrypts(&s, expired);
    // Twenty years ahead: past the valid key's end date and the grace period.
    let later = now + 20 * YEAR;
    set_test_now(Some(later));
    let valid_key_expired = !encrypts(&s, valid);
    // A login runs due maintenance inline. (C_Logout invalidated the
    // handle: look the pending version up again, every state in view.)
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    let all_versions =
        Attribute::VendorDefined((cryptoki::object::AttributeType::VendorDefined(0x8000_0000 | 0x4B57_000C), vec![1]));
    let purged_early_by_login =
        s.find_objects(&[Attribute::Label(b"pending".to_vec()), all_versions]).unwrap().is_empty();
    Outcome { expired_key_revived, valid_key_expired, purged_early_by_login }
}

#[test]
fn the_environment_alone_does_not_move_the_lifecycle_clock() {
    let none = Outcome { expired_key_revived: false, valid_key_expired: false, purged_early_by_login: false };
    assert_eq!(attack(""), none, "KEYWARD_TEST_NOW moved the clock of a default configuration");
}

#[test]
fn an_explicit_testing_opt_in_still_gives_tests_their_clock() {
    let all = Outcome { expired_key_revived: true, valid_key_expired: true, purged_early_by_login: true };
    assert_eq!(attack("[testing]\nallow_test_clock = true\n"), all);
}

/// The CLI follows the same rule with the same configuration: with the
/// opt-in it purges at the test time, without it nothing is due.
#[test]
fn keyward_maintain_honours_the_test_clock_only_with_the_opt_in() {
    for (extra, purges) in [("", false), ("[testing]\nallow_test_clock = true\n", true)] {
        set_test_now(None);
        let t = blank_with(extra);
        t.p11.init_token(t.slot, &pin(SO_PIN), "hook").unwrap();
        let so = t.p11.open_rw_session(t.slot).unwrap();
        so.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
        so.init_pin(&pin(USER_PIN)).unwrap();
        drop(so);
        let s = t.user_session();
        let k = key(&s, "pending", None);
        s.destroy_object(k).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
            .arg("maintain")
            .env("KEYWARD_CONF", t.conf.to_str().unwrap())
            .env("KEYWARD_PIN", USER_PIN)
            .env("KEYWARD_TEST_NOW", (real_now() + 20 * YEAR).to_string())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert_eq!(text.contains("purged 1"), purges, "{extra:?}: {text}");
        assert_eq!(exists(&s, k), !purges, "{extra:?}");
        drop(s);
        t.p11.finalize().unwrap();
    }
}
