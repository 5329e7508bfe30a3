//! Sessions, login and PINs through the built module: every session state
//! transition, lockout, PIN changes, token (re-)initialization.

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::session::{SessionState, UserType};

#[test]
fn session_states_follow_login() {
    let t = initialized();
    let ro = t.p11.open_ro_session(t.slot).unwrap();
    let rw = t.p11.open_rw_session(t.slot).unwrap();
    assert_eq!(ro.get_session_info().unwrap().session_state(), SessionState::RoPublic);
    assert_eq!(rw.get_session_info().unwrap().session_state(), SessionState::RwPublic);

    rw.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_eq!(ro.get_session_info().unwrap().session_state(), SessionState::RoUser);
    assert_eq!(rw.get_session_info().unwrap().session_state(), SessionState::RwUser);
    // Login state is per application: already logged in from any session.
    assert_eq!(rv(ro.login(UserType::User, Some(&pin(USER_PIN))).unwrap_err()), RvError::UserAlreadyLoggedIn);
    assert_eq!(rv(ro.login(UserType::So, Some(&pin(SO_PIN))).unwrap_err()), RvError::UserAnotherAlreadyLoggedIn);
    ro.logout().unwrap();
    assert_eq!(rw.get_session_info().unwrap().session_state(), SessionState::RwPublic);
    assert_eq!(rv(rw.logout().unwrap_err()), RvError::UserNotLoggedIn);

    // The SO cannot log in while a read-only session exists.
    assert_eq!(rv(rw.login(UserType::So, Some(&pin(SO_PIN))).unwrap_err()), RvError::SessionReadOnlyExists);
    drop(ro);
    rw.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    assert_eq!(rw.get_session_info().unwrap().session_state(), SessionState::RwSecurityOfficer);
    // ... and no read-only session opens while the SO is logged in.
    assert_eq!(rv(t.p11.open_ro_session(t.slot).unwrap_err()), RvError::SessionReadWriteSoExists);
    rw.logout().unwrap();
    assert!(t.p11.open_ro_session(t.slot).is_ok());
}

#[test]
fn closing_every_session_logs_out() {
    let t = initialized();
    let s = t.user_session();
    drop(s);
    let s = t.p11.open_rw_session(t.slot).unwrap();
    assert_eq!(s.get_session_info().unwrap().session_state(), SessionState::RwPublic);
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    drop(s);
    let s = t.p11.open_ro_session(t.slot).unwrap();
    assert_eq!(s.get_session_info().unwrap().session_state(), SessionState::RoPublic);
}

#[test]
fn wrong_pins_lock_and_survive_restart() {
    let t = initialized();
    let s = t.p11.open_rw_session(t.slot).unwrap();
    assert_eq!(rv(s.login(UserType::User, Some(&pin("wrong-pin"))).unwrap_err()), RvError::PinIncorrect);
    let info = t.p11.get_token_info(t.slot).unwrap();
    assert!(info.user_pin_count_low());
    assert!(!info.user_pin_final_try());
    // A good login resets the counter.
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    s.logout().unwrap();
    assert!(!t.p11.get_token_info(t.slot).unwrap().user_pin_count_low());
    // max_pin_attempts = 3 in the test config.
    assert_eq!(rv(s.login(UserType::User, Some(&pin("wrong-pin"))).unwrap_err()), RvError::PinIncorrect);
    assert_eq!(rv(s.login(UserType::User, Some(&pin("wrong-pin"))).unwrap_err()), RvError::PinIncorrect);
    assert!(t.p11.get_token_info(t.slot).unwrap().user_pin_final_try());
    assert_eq!(rv(s.login(UserType::User, Some(&pin("wrong-pin"))).unwrap_err()), RvError::PinLocked);
    assert!(t.p11.get_token_info(t.slot).unwrap().user_pin_locked());
    // Even the right PIN is refused now, also after a restart of the module.
    assert_eq!(rv(s.login(UserType::User, Some(&pin(USER_PIN))).unwrap_err()), RvError::PinLocked);
    drop(s);
    let Token { dir, conf, p11, slot } = t;
    p11.finalize().unwrap();
    let p11 = load(&conf);
    assert!(p11.get_token_info(slot).unwrap().user_pin_locked());
    let s = p11.open_rw_session(slot).unwrap();
    assert_eq!(rv(s.login(UserType::User, Some(&pin(USER_PIN))).unwrap_err()), RvError::PinLocked);
    // The SO unlocks by setting a new user PIN.
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    s.init_pin(&pin("new-user-pin")).unwrap();
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin("new-user-pin"))).unwrap();
    drop(dir);
}

#[test]
fn set_pin_for_user_and_so() {
    let t = initialized();
    let s = t.user_session();
    s.set_pin(&pin(USER_PIN), &pin("changed-user")).unwrap();
    s.logout().unwrap();
    assert_eq!(rv(s.login(UserType::User, Some(&pin(USER_PIN))).unwrap_err()), RvError::PinIncorrect);
    s.login(UserType::User, Some(&pin("changed-user"))).unwrap();
    s.logout().unwrap();
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    s.set_pin(&pin(SO_PIN), &pin("changed-so")).unwrap();
    s.logout().unwrap();
    s.login(UserType::So, Some(&pin("changed-so"))).unwrap();
    s.logout().unwrap();
    // PIN length policy.
    s.login(UserType::User, Some(&pin("changed-user"))).unwrap();
    assert_eq!(rv(s.set_pin(&pin("changed-user"), &pin("ab")).unwrap_err()), RvError::PinLenRange);
    // A read-only session cannot change PINs.
    let ro = t.p11.open_ro_session(t.slot).unwrap();
    assert_eq!(rv(ro.set_pin(&pin("changed-user"), &pin("whatever")).unwrap_err()), RvError::SessionReadOnly);
}

#[test]
fn init_pin_needs_so() {
    let t = initialized();
    let s = t.user_session();
    assert_eq!(rv(s.init_pin(&pin("another")).unwrap_err()), RvError::UserNotLoggedIn);
}

#[test]
fn token_init_and_reinit() {
    let t = blank();
    let info = t.p11.get_token_info(t.slot).unwrap();
    assert!(!info.token_initialized());
    t.p11.init_token(t.slot, &pin(SO_PIN), "first").unwrap();
    let info = t.p11.get_token_info(t.slot).unwrap();
    assert!(info.token_initialized());
    assert!(!info.user_pin_initialized());
    assert_eq!(info.label(), "first");
    // The user PIN is not set yet.
    let s = t.p11.open_rw_session(t.slot).unwrap();
    assert_eq!(rv(s.login(UserType::User, Some(&pin(USER_PIN))).unwrap_err()), RvError::UserPinNotInitialized);
    // Re-initialization with sessions open is refused; with a wrong SO PIN too.
    assert_eq!(rv(t.p11.init_token(t.slot, &pin(SO_PIN), "second").unwrap_err()), RvError::SessionExists);
    drop(s);
    assert_eq!(rv(t.p11.init_token(t.slot, &pin("wrong-so-pin"), "second").unwrap_err()), RvError::PinIncorrect);
    t.p11.init_token(t.slot, &pin(SO_PIN), "second").unwrap();
    assert_eq!(t.p11.get_token_info(t.slot).unwrap().label(), "second");
}

#[test]
fn reinit_wipes_objects() {
    let t = initialized();
    let s = t.user_session();
    s.create_object(&[
        cryptoki::object::Attribute::Class(cryptoki::object::ObjectClass::DATA),
        cryptoki::object::Attribute::Token(true),
        cryptoki::object::Attribute::Label(b"d".to_vec()),
    ])
    .unwrap();
    drop(s);
    t.p11.init_token(t.slot, &pin(SO_PIN), "again").unwrap();
    let s = t.p11.open_ro_session(t.slot).unwrap();
    assert!(s.find_objects(&[]).unwrap().is_empty());
}

#[test]
fn mechanism_list_and_info() {
    let t = blank();
    let mechs = t.p11.get_mechanism_list(t.slot).unwrap();
    assert!(mechs.contains(&cryptoki::mechanism::MechanismType::AES_GCM));
    let info = t.p11.get_mechanism_info(t.slot, cryptoki::mechanism::MechanismType::AES_KEY_GEN).unwrap();
    assert_eq!(info.min_key_size(), 16);
    assert_eq!(info.max_key_size(), 32);
    assert!(info.generate());
}
