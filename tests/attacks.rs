//! Attacks on key protection (issue 21), each performed through the C ABI of
//! the built module and asserting the secure outcome. One test per attack;
//! RELIABILITY.md ("Threats and what stops them") names them.
//!
//! One process per test (`cargo nextest run --test attacks`).

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::session::UserType;
use std::ffi::CString;
use std::path::Path;
use std::time::{Duration, Instant};

// ---- PIN lockout under concurrent guessing ---------------------------------

/// Worker: waits for the start file, then guesses one wrong user PIN and
/// prints the CK_RV it got.
#[test]
fn lockout_guess_worker() {
    let Ok(conf) = std::env::var("KW_GUESS_CONF") else { return };
    let start = std::env::var("KW_GUESS_START").unwrap();
    let p11 = load(&CString::new(conf).unwrap());
    let slot = p11.get_all_slots().unwrap()[0];
    let s = p11.open_ro_session(slot).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !Path::new(&start).exists() {
        assert!(Instant::now() < deadline, "start signal never came");
        std::thread::sleep(Duration::from_millis(1));
    }
    let r = s.login(UserType::User, Some(&pin("wrong-guess-0000")));
    match r {
        Ok(()) => println!("GUESS ok"),
        Err(e) => println!("GUESS {:?}", rv(e)),
    }
}

/// Twelve processes guess the user PIN at the same moment with
/// `max_pin_attempts = 3`: exactly three guesses are checked (each reserved
/// its attempt before the KDF ran), the rest are refused as locked without
/// a check, and the PIN is locked for the right PIN too.
#[test]
fn concurrent_pin_guesses_never_exceed_the_lockout() {
    let dir = tempfile::tempdir().unwrap();
    // A slow enough KDF that the guesses overlap.
    let conf_path = dir.path().join("keyward.toml");
    std::fs::write(
        &conf_path,
        format!(
            "[policy]\npbkdf2_iterations = 200000\nmax_pin_attempts = 3\n[[slot]]\npath = \"{}\"\n",
            dir.path().join("token").display()
        ),
    )
    .unwrap();
    let conf = CString::new(conf_path.display().to_string()).unwrap();
    let p11 = load(&conf);
    let slot = p11.get_all_slots().unwrap()[0];
    p11.init_token(slot, &pin(SO_PIN), "guess").unwrap();
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    s.init_pin(&pin(USER_PIN)).unwrap();
    s.logout().unwrap();
    drop(s);
    let start = dir.path().join("start");
    let workers: Vec<_> = (0..12)
        .map(|_| {
            test_worker("lockout_guess_worker")
                .env("KW_GUESS_CONF", &conf_path)
                .env("KW_GUESS_START", &start)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Let every worker load the module and open its session first.
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::write(&start, b"go").unwrap();
    let mut results = Vec::new();
    for w in workers {
        let out = w.wait_with_output().unwrap();
        assert!(out.status.success(), "worker failed: {}", String::from_utf8_lossy(&out.stdout));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let at = text.find("GUESS ").unwrap_or_else(|| panic!("no result: {text}"));
        results.push(text[at + 6..].lines().next().unwrap_or_default().to_string());
    }
    let incorrect = results.iter().filter(|r| r.contains("PinIncorrect")).count();
    let locked = results.iter().filter(|r| r.contains("PinLocked")).count();
    assert_eq!(incorrect + locked, 12, "{results:?}");
    // Attempts 1 and 2 are "incorrect", attempt 3 locks; nobody got in.
    assert_eq!(incorrect, 2, "{results:?}");

    // The audit log tells checked guesses (they name their attempt number)
    // from refusals without a check.
    let log = std::fs::read_to_string(dir.path().join("token/audit.jsonl")).unwrap();
    let mut checked = Vec::new();
    let mut refused = 0;
    for line in log.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        if r["function"] != "C_Login" || r["result"] == "CKR_OK" {
            continue;
        }
        let reason = r["reason"].as_str().unwrap_or_default();
        if reason.starts_with("wrong User PIN") || reason.contains("now locked") {
            checked.push(reason.to_string());
        } else if reason.contains("locked after") {
            refused += 1;
        }
    }
    assert_eq!(checked.len(), 3, "exactly max_pin_attempts guesses checked: {checked:?}");
    assert_eq!(refused, 9, "{log}");

    // Locked: the right PIN is refused too, and the token says so.
    let info = p11.get_token_info(slot).unwrap();
    assert!(info.user_pin_locked(), "{info:?}");
    let s = p11.open_ro_session(slot).unwrap();
    assert_eq!(rv(s.login(UserType::User, Some(&pin(USER_PIN))).unwrap_err()), RvError::PinLocked);
}

// ---- CKA_ALWAYS_AUTHENTICATE on every use ------------------------------------

/// A private key with CKA_ALWAYS_AUTHENTICATE is used for decryption, unwrap
/// and derivation by a logged-in user who does not give the PIN again: every
/// use is refused; the spec's flow (Init, C_Login(CKU_CONTEXT_SPECIFIC), use)
/// works for exactly one operation; the attribute cannot be cleared, nor set
/// on a public object.
#[test]
fn always_authenticate_holds_for_decrypt_unwrap_and_derive() {
    use cryptoki::mechanism::Mechanism;
    use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
    use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
    let t = initialized();
    let s = t.user_session();
    let ctx = || s.login(UserType::ContextSpecific, Some(&pin(USER_PIN)));
    let (pubk, privk) = s
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[Attribute::ModulusBits(2048.into()), Attribute::PublicExponent(vec![1, 0, 1]), Attribute::Encrypt(true)],
            &[
                Attribute::Decrypt(true),
                Attribute::Unwrap(true),
                Attribute::Sign(true),
                Attribute::AlwaysAuthenticate(true),
            ],
        )
        .unwrap();
    let mech = Mechanism::RsaPkcsOaep(cryptoki::mechanism::rsa::PkcsOaepParams::new(
        cryptoki::mechanism::MechanismType::SHA1,
        cryptoki::mechanism::rsa::PkcsMgfType::MGF1_SHA1,
        cryptoki::mechanism::rsa::PkcsOaepSource::empty(),
    ));
    let ct = s.encrypt(&mech, pubk, b"sixteen byte key").unwrap();

    // Decrypt without the context-specific login: refused, operation ended.
    assert_eq!(rv(s.decrypt(&mech, privk, &ct).unwrap_err()), RvError::UserNotLoggedIn);
    s.decrypt_init(&mech, privk).unwrap();
    assert_eq!(rv(s.decrypt_update(&ct).unwrap_err()), RvError::UserNotLoggedIn);
    // The spec's flow: Init, context-specific login, use.
    s.decrypt_init(&mech, privk).unwrap();
    ctx().unwrap();
    let mut plain = s.decrypt_update(&ct).unwrap();
    plain.extend(s.decrypt_final().unwrap());
    assert_eq!(plain, b"sixteen byte key");
    // One login, one operation.
    s.decrypt_init(&mech, privk).unwrap();
    assert_eq!(rv(s.decrypt_update(&ct).unwrap_err()), RvError::UserNotLoggedIn);
    // A wrong PIN at the context-specific login ends the waiting operation.
    s.decrypt_init(&mech, privk).unwrap();
    assert_eq!(rv(s.login(UserType::ContextSpecific, Some(&pin("wrong-pin-00"))).unwrap_err()), RvError::PinIncorrect);
    assert_eq!(rv(s.decrypt_update(&ct).unwrap_err()), RvError::OperationNotInitialized);
    // Signing as before.
    assert_eq!(rv(s.sign(&Mechanism::Sha256RsaPkcs, privk, b"m").unwrap_err()), RvError::UserNotLoggedIn);

    // Unwrap (no Init): refused without, allowed once after a context-specific login.
    let aes = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Encrypt(true),
        Attribute::Token(false),
    ];
    assert_eq!(rv(s.unwrap_key(&mech, privk, &ct, &aes).unwrap_err()), RvError::UserNotLoggedIn);
    ctx().unwrap();
    let k = s.unwrap_key(&mech, privk, &ct, &aes).unwrap();
    assert_eq!(s.get_attributes(k, &[AttributeType::ValueLen]).unwrap(), vec![Attribute::ValueLen(16.into())]);
    assert_eq!(rv(s.unwrap_key(&mech, privk, &ct, &aes).unwrap_err()), RvError::UserNotLoggedIn);
    // The login is spent by the next operation, whatever it is.
    ctx().unwrap();
    s.sign_init(&Mechanism::Sha256RsaPkcs, privk).unwrap();
    assert_eq!(rv(s.unwrap_key(&mech, privk, &ct, &aes).unwrap_err()), RvError::UserNotLoggedIn);
    // (That sign operation still waits for its own login; a refusal ends it.)
    assert_eq!(rv(s.sign_final().unwrap_err()), RvError::UserNotLoggedIn);

    // Derive (no Init) with an ALWAYS_AUTHENTICATE EC key.
    let p256 = vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    let (epub, epriv) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[Attribute::EcParams(p256)],
            &[Attribute::Derive(true), Attribute::AlwaysAuthenticate(true)],
        )
        .unwrap();
    let point = s.get_attributes(epub, &[AttributeType::EcPoint]).unwrap();
    let Attribute::EcPoint(point) = &point[0] else { panic!("no point") };
    let point = point[2..].to_vec(); // DER OCTET STRING -> raw point
    let derive = || {
        s.derive_key(
            &Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), &point)),
            epriv,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::Token(false),
            ],
        )
    };
    assert_eq!(rv(derive().unwrap_err()), RvError::UserNotLoggedIn);
    ctx().unwrap();
    derive().unwrap();
    assert_eq!(rv(derive().unwrap_err()), RvError::UserNotLoggedIn);

    // The attribute cannot be cleared, and needs CKA_PRIVATE.
    assert_eq!(
        rv(s.update_attributes(privk, &[Attribute::AlwaysAuthenticate(false)]).unwrap_err()),
        RvError::AttributeReadOnly
    );
    assert_eq!(rv(s.copy_object(privk, &[Attribute::Private(false)]).unwrap_err()), RvError::TemplateInconsistent);
    let e = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[Attribute::EcParams(vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07])],
            &[Attribute::Sign(true), Attribute::Private(false), Attribute::AlwaysAuthenticate(true)],
        )
        .unwrap_err();
    assert_eq!(rv(e), RvError::TemplateInconsistent);
}

// ---- nonce reuse through GCM wrapping ----------------------------------------

/// The attack: wrap a known key X and a sensitive key K under one wrapping
/// key with the same caller-chosen GCM IV; the XOR of the blobs and X give K.
/// CKM_AES_GCM is therefore not a wrapping mechanism (C_WrapKey refuses it,
/// C_GetMechanismInfo says so); it still unwraps. Every other wrapping
/// mechanism either has no nonce (KW/KWP), draws its randomness itself
/// (RSA OAEP and PKCS#1 v1.5) or cannot leak a keystream (CBC-PAD).
#[test]
fn gcm_wrapping_with_a_caller_iv_cannot_recover_a_key() {
    use cryptoki::mechanism::aead::GcmParams;
    use cryptoki::mechanism::{Mechanism, MechanismType};
    use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
    let t = initialized();
    let s = t.user_session();
    let w = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::ValueLen(32.into()),
                Attribute::Wrap(true),
                Attribute::Unwrap(true),
                Attribute::Trusted(false),
            ],
        )
        .unwrap();
    let secret = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[Attribute::ValueLen(32.into()), Attribute::Sensitive(true), Attribute::Extractable(true)],
        )
        .unwrap();
    let known = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Value((1..=32).collect()),
            Attribute::Extractable(true),
            Attribute::Sensitive(false),
        ])
        .unwrap();
    let mut iv = [7u8; 12];
    for k in [secret, known] {
        let gcm = Mechanism::AesGcm(GcmParams::new(&mut iv, &[], 128.into()).unwrap());
        assert_eq!(rv(s.wrap_key(&gcm, w, k).unwrap_err()), RvError::MechanismInvalid);
    }
    let info = t.p11.get_mechanism_info(t.slot, MechanismType::AES_GCM).unwrap();
    assert!(!info.wrap() && info.unwrap() && info.encrypt());
    // The nonce-free and token-randomized wrappings still work.
    let kw = s.wrap_key(&Mechanism::AesKeyWrap, w, secret).unwrap();
    assert_eq!(kw.len(), 40);

    // GCM unwrap: a blob sealed with GCM under an encrypt+unwrap key opens.
    let u = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[Attribute::ValueLen(16.into()), Attribute::Encrypt(true), Attribute::Unwrap(true)],
        )
        .unwrap();
    let mut iv2 = [9u8; 12];
    let blob = s
        .encrypt(
            &Mechanism::AesGcm(GcmParams::new(&mut iv2, b"", 128.into()).unwrap()),
            u,
            &(40..56).collect::<Vec<u8>>(),
        )
        .unwrap();
    let got = s
        .unwrap_key(
            &Mechanism::AesGcm(GcmParams::new(&mut iv2, b"", 128.into()).unwrap()),
            u,
            &blob,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
            ],
        )
        .unwrap();
    assert_eq!(s.get_attributes(got, &[AttributeType::Value]).unwrap(), vec![Attribute::Value((40..56).collect())]);
}

// ---- logout and re-initialization ---------------------------------------------

fn find_label(s: &cryptoki::session::Session, label: &str) -> Vec<cryptoki::object::ObjectHandle> {
    s.find_objects(&[cryptoki::object::Attribute::Label(label.as_bytes().to_vec())]).unwrap()
}

/// C_Logout: the handles of private objects become invalid even after a new
/// login, private session objects are destroyed; public objects keep their
/// handles.
#[test]
fn logout_invalidates_private_handles_and_session_objects() {
    use cryptoki::mechanism::Mechanism;
    use cryptoki::object::{Attribute, ObjectClass};
    let t = initialized();
    let s = t.user_session();
    let k = s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("mine")).unwrap();
    let sk = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[Attribute::ValueLen(16.into()), Attribute::Label(b"mine-session".to_vec()), Attribute::Encrypt(true)],
        )
        .unwrap();
    let public = s
        .create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Label(b"public-data".to_vec()),
            Attribute::Value(b"hello".to_vec()),
        ])
        .unwrap();
    let enc = |h| s.encrypt(&Mechanism::AesEcb, h, &[0u8; 16]);
    enc(k).unwrap();
    enc(sk).unwrap();
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    // Old handles of private objects: invalid, after the new login too.
    assert_eq!(rv(enc(k).unwrap_err()), RvError::KeyHandleInvalid);
    assert_eq!(
        rv(s.get_attributes(k, &[cryptoki::object::AttributeType::Label]).unwrap_err()),
        RvError::ObjectHandleInvalid
    );
    assert_eq!(rv(s.destroy_object(k).unwrap_err()), RvError::ObjectHandleInvalid);
    // The private session key is gone.
    assert_eq!(rv(enc(sk).unwrap_err()), RvError::KeyHandleInvalid);
    assert!(find_label(&s, "mine-session").is_empty());
    // Found again, the token key works; the public object kept its handle.
    let again = find_label(&s, "mine");
    assert_eq!(again.len(), 1);
    enc(again[0]).unwrap();
    assert_eq!(
        s.get_attributes(public, &[cryptoki::object::AttributeType::Value]).unwrap(),
        vec![Attribute::Value(b"hello".to_vec())]
    );
}

/// Worker: re-initializes the token (KW_REINIT_MODE=token) or resets the
/// user PIN as the SO (KW_REINIT_MODE=pin), then, as the new user, creates
/// a private key labelled "theirs".
#[test]
fn reinit_worker() {
    use cryptoki::mechanism::Mechanism;
    let Ok(conf) = std::env::var("KW_REINIT_CONF") else { return };
    let mode = std::env::var("KW_REINIT_MODE").unwrap();
    let p11 = load(&CString::new(conf).unwrap());
    let slot = p11.get_all_slots().unwrap()[0];
    if mode == "token" {
        p11.init_token(slot, &pin(SO_PIN), "new-owner").unwrap();
    }
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    s.init_pin(&pin("new-owner-pin")).unwrap();
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin("new-owner-pin"))).unwrap();
    s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("theirs")).unwrap();
    println!("REINIT done");
}

fn run_reinit(conf: &CString, mode: &str) {
    let out = test_worker("reinit_worker")
        .env("KW_REINIT_CONF", conf.to_str().unwrap())
        .env("KW_REINIT_MODE", mode)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("REINIT done"), "{text}{}", String::from_utf8_lossy(&out.stderr));
}

/// Another process re-initializes the token, or the SO resets the user
/// PIN: this process's login ends at its next call, and it can neither see
/// nor use the new owner's private objects.
#[test]
fn reinitialization_or_pin_reset_elsewhere_ends_this_login() {
    use cryptoki::mechanism::Mechanism;
    use cryptoki::session::SessionState;
    let t = initialized();
    let s = t.user_session();
    let mine = s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template("mine")).unwrap();
    run_reinit(&t.conf, "token");
    // Next call: the new owner's key is invisible, our old key is gone, we are logged out.
    assert!(find_label(&s, "theirs").is_empty());
    assert_eq!(s.get_session_info().unwrap().session_state(), SessionState::RwPublic);
    assert_eq!(rv(s.encrypt(&Mechanism::AesEcb, mine, &[0u8; 16]).unwrap_err()), RvError::KeyHandleInvalid);
    let all = s.find_objects(&[]).unwrap();
    assert!(all.is_empty(), "{all:?}");

    // The new owner logs in here; then the SO resets the user PIN elsewhere.
    s.login(UserType::User, Some(&pin("new-owner-pin"))).unwrap();
    let theirs = find_label(&s, "theirs");
    assert_eq!(theirs.len(), 1);
    s.encrypt(&Mechanism::AesEcb, theirs[0], &[0u8; 16]).unwrap();
    run_reinit(&t.conf, "pin");
    assert_eq!(rv(s.encrypt(&Mechanism::AesEcb, theirs[0], &[0u8; 16]).unwrap_err()), RvError::KeyHandleInvalid);
    assert_eq!(s.get_session_info().unwrap().session_state(), SessionState::RwPublic);
    assert!(find_label(&s, "theirs").is_empty());
}
