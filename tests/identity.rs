//! Key identity (issue 19): a managed key is its token-assigned
//! CKA_KEYWARD_KEY_ID, not its label. Keys that share a label stay
//! independent, rotation names one key and never inherits trust, copies stay
//! bound to the version they came from, one CKA_MODIFIABLE rule covers every
//! lifecycle act, envelope decryption checks the decrypting version, and a
//! keyward 0.1 store migrates.
//!
//! One process per test (`cargo nextest run --test identity`).

mod common;

use common::vendor::*;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};

const IV: [u8; 16] = [7; 16];

fn key_id(s: &Session, h: ObjectHandle) -> String {
    String::from_utf8(get_raw(s, h, CKA_KEYWARD_KEY_ID)).unwrap()
}
fn encrypts(s: &Session, k: ObjectHandle) -> Result<(), RvError> {
    s.encrypt(&Mechanism::AesCbcPad(IV), k, b"data").map(|_| ()).map_err(rv)
}
fn decrypts(s: &Session, k: ObjectHandle) -> Result<(), RvError> {
    s.decrypt(&Mechanism::AesCbc(IV), k, &[0u8; 16]).map(|_| ()).map_err(rv)
}
fn aes(s: &Session, label: &str, extra: &[Attribute]) -> ObjectHandle {
    let mut t = aes_token_key_template(label);
    t.extend_from_slice(extra);
    s.generate_key(&Mechanism::AesKeyGen, &t).unwrap()
}
fn config_with(extra: &str) -> Token {
    let t = blank_with(extra);
    t.p11.init_token(t.slot, &pin(SO_PIN), "identity").unwrap();
    let so = t.p11.open_rw_session(t.slot).unwrap();
    so.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    so.init_pin(&pin(USER_PIN)).unwrap();
    so.logout().unwrap();
    t
}
#[test]
fn keys_sharing_a_label_are_independent() {
    let t = initialized();
    let s = t.user_session();
    let a = aes(&s, "twin", &[]);
    let b = aes(&s, "twin", &[]);
    assert_ne!(key_id(&s, a), key_id(&s, b));
    s.destroy_object(a).unwrap();
    // The other key is untouched: enabled, usable, visible.
    encrypts(&s, b).unwrap();
    assert_eq!(get_ulong(&s, b, CKA_KEYWARD_STATE), ENABLED);
    assert_eq!(s.find_objects(&[Attribute::Label(b"twin".to_vec())]).unwrap(), vec![b]);
    // A rotation by the shared label is ambiguous while both are live.
    let c = aes(&s, "twin", &[]);
    let e = s
        .generate_key(&Mechanism::AesKeyGen, &[Attribute::Label(b"twin".to_vec()), vbool(CKA_KEYWARD_ROTATE, true)])
        .unwrap_err();
    assert_eq!(rv(e), RvError::TemplateInconsistent);
    // Named by its key id, one of them rotates; the other keeps version 1.
    let kid = key_id(&s, c);
    let v2 = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[vattr(CKA_KEYWARD_KEY_ID, kid.clone().into_bytes()), vbool(CKA_KEYWARD_ROTATE, true)],
        )
        .unwrap();
    assert_eq!((key_id(&s, v2), get_ulong(&s, v2, CKA_KEYWARD_VERSION)), (kid, 2));
    assert_eq!(get_ulong(&s, b, CKA_KEYWARD_VERSION), 1);
    encrypts(&s, b).unwrap();
    // The key id is the token's: read-only.
    let e = s.update_attributes(b, &[vattr(CKA_KEYWARD_KEY_ID, b"0".repeat(32))]).unwrap_err();
    assert_eq!(rv(e), RvError::AttributeReadOnly);
}

/// The escrow attack: the SO stores a partner's trusted public wrapping key
/// "escrow"; the user makes a key pair with the same label and ID and rotates
/// "escrow" hoping the new public key inherits CKA_TRUSTED, then wraps a
/// wrap-with-trusted key under it and decrypts the blob.
#[test]
fn rotation_by_a_shared_label_gains_no_trust() {
    let t = initialized();
    let oaep = Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
        MechanismType::SHA256,
        PkcsMgfType::MGF1_SHA256,
        PkcsOaepSource::empty(),
    ));
    let pair = |s: &Session, label: &[u8]| {
        s.generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::ModulusBits(2048.into()),
                Attribute::PublicExponent(vec![1, 0, 1]),
                Attribute::Label(label.to_vec()),
                Attribute::Id(label.to_vec()),
                Attribute::Wrap(true),
                Attribute::Encrypt(true),
            ],
            &[
                Attribute::Token(true),
                Attribute::Label(label.to_vec()),
                Attribute::Id(label.to_vec()),
                Attribute::Decrypt(true),
                Attribute::Unwrap(true),
                Attribute::Extractable(true),
            ],
        )
        .unwrap()
    };
    // A partner's public key, stored by the SO as trusted.
    let s = t.user_session();
    let (partner_pub, _) = pair(&s, b"partner");
    let pubattrs = s.get_attributes(partner_pub, &[AttributeType::Modulus, AttributeType::PublicExponent]).unwrap();
    s.logout().unwrap();
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    let mut escrow_t = vec![
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::RSA),
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Label(b"escrow".to_vec()),
        Attribute::Id(b"escrow".to_vec()),
        Attribute::Wrap(true),
    ];
    escrow_t.extend(pubattrs);
    let escrow = s.create_object(&escrow_t).unwrap();
    s.update_attributes(escrow, &[Attribute::Trusted(true)]).unwrap();
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    // The attacker's pair under the same label and ID.
    let (mine_pub, mine_priv) = pair(&s, b"escrow");
    let rotate = |s: &Session, by: Vec<Attribute>| {
        let mut t = by;
        t.push(vbool(CKA_KEYWARD_ROTATE, true));
        s.generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &t, &[])
    };
    let by_label = vec![Attribute::Label(b"escrow".to_vec()), Attribute::Id(b"escrow".to_vec())];
    assert_eq!(rv(rotate(&s, by_label).unwrap_err()), RvError::TemplateInconsistent);
    // The SO's key holds only a public key: it cannot be rotated by generating a pair.
    let kid = vattr(CKA_KEYWARD_KEY_ID, key_id(&s, escrow).into_bytes());
    assert!(rotate(&s, vec![kid]).is_err());
    // The attacker's own key rotates, and its new public half is not trusted.
    let (new_pub, _) = rotate(&s, vec![vattr(CKA_KEYWARD_KEY_ID, key_id(&s, mine_priv).into_bytes())]).unwrap();
    let trusted = |h| s.get_attributes(h, &[AttributeType::Trusted]).unwrap() == vec![Attribute::Trusted(true)];
    assert!(!trusted(new_pub) && !trusted(mine_pub) && trusted(escrow));
    // A key that may only be wrapped by a trusted key stays in the token.
    let secret = aes(
        &s,
        "secret",
        &[Attribute::WrapWithTrusted(true), Attribute::Sensitive(true), Attribute::Extractable(true)],
    );
    assert_eq!(rv(s.wrap_key(&oaep, new_pub, secret).unwrap_err()), RvError::KeyNotWrappable);
    // (The attacker's first public key is a retired version now: it wraps nothing.)
    assert_eq!(rv(s.wrap_key(&oaep, mine_pub, secret).unwrap_err()), RvError::KeyFunctionNotPermitted);
    // Wrapped under the real escrow key, the blob is the partner's to open: not the attacker's.
    let blob = s.wrap_key(&oaep, escrow, secret).unwrap();
    assert!(s.decrypt(&oaep, mine_priv, &blob).is_err());
    assert_ne!(key_id(&s, escrow), key_id(&s, mine_pub));
}

#[test]
fn copies_follow_their_source_version() {
    let t = initialized();
    let s = t.user_session();
    let k = aes(&s, "copied", &[]);
    let kid = key_id(&s, k);
    let rot = |s: &Session| {
        s.generate_key(
            &Mechanism::AesKeyGen,
            &[vattr(CKA_KEYWARD_KEY_ID, kid.clone().into_bytes()), vbool(CKA_KEYWARD_ROTATE, true)],
        )
        .unwrap()
    };
    // A copy of the primary, as pkcs11-provider makes them (session object).
    let session_copy = s.copy_object(k, &[Attribute::Token(false)]).unwrap();
    let token_copy = s.copy_object(k, &[Attribute::Label(b"my-copy".to_vec())]).unwrap();
    assert_eq!(key_id(&s, session_copy), kid);
    assert_eq!(get_ulong(&s, token_copy, CKA_KEYWARD_COPY_OF), k.handle());
    encrypts(&s, session_copy).unwrap();
    encrypts(&s, token_copy).unwrap();
    // Rotation: the copies are of version 1, now retired: decrypt only, never primary.
    let v2 = rot(&s);
    for c in [session_copy, token_copy] {
        assert_eq!(encrypts(&s, c), Err(RvError::KeyFunctionNotPermitted));
        decrypts(&s, c).unwrap();
    }
    // A copy made of the retired version is retired too.
    let retired = k;
    assert_eq!(get_ulong(&s, retired, CKA_KEYWARD_VERSION), 1);
    let retired_copy = s.copy_object(retired, &[Attribute::Token(false)]).unwrap();
    assert_eq!(encrypts(&s, retired_copy), Err(RvError::KeyFunctionNotPermitted));
    // The inventory lists the key's two versions, not the copies.
    let (ok, out) = cli(&t, &["key", "show", &kid]);
    assert!(ok, "{out}");
    assert!(out.contains("v1") && out.contains("v2") && !out.contains("v3"), "{out}");
    // Disabled from another process: the session copy of v2 refuses at its next call.
    let copy2 = s.copy_object(v2, &[Attribute::Token(false)]).unwrap();
    encrypts(&s, copy2).unwrap();
    let (ok, out) = cli(&t, &["key", "disable", &kid]);
    assert!(ok, "{out}");
    assert_eq!(encrypts(&s, copy2), Err(RvError::KeyFunctionNotPermitted));
    // A copy's lifecycle is its source's: it cannot be re-enabled on its own.
    let e = s.update_attributes(copy2, &[vulong(CKA_KEYWARD_STATE, ENABLED)]).unwrap_err();
    assert_eq!(rv(e), RvError::AttributeReadOnly);
    let (ok, out) = cli(&t, &["key", "enable", &kid]);
    assert!(ok, "{out}");
    encrypts(&s, copy2).unwrap();
    // Destroying a copy removes only the copy.
    s.destroy_object(token_copy).unwrap();
    encrypts(&s, v2).unwrap();
    // A version pending deletion cannot be copied; its copies refuse.
    s.destroy_object(v2).unwrap();
    assert_eq!(get_ulong(&s, v2, CKA_KEYWARD_STATE), PENDING);
    assert_eq!(rv(s.copy_object(v2, &[Attribute::Token(false)]).unwrap_err()), RvError::KeyFunctionNotPermitted);
    assert_eq!(encrypts(&s, copy2), Err(RvError::KeyFunctionNotPermitted));
}

/// A disabled, non-modifiable key copied with CKA_MODIFIABLE = true: the
/// copy cannot be re-enabled and refuses use; purging the source (grace 0)
/// takes its copies with it, token and session.
#[test]
fn copies_cannot_escape_a_disable_or_a_purge() {
    let t = config_with("[kms]\ndeletion_grace = \"0\"\n");
    let s = t.user_session();
    let k = aes(&s, "locked", &[Attribute::Modifiable(false)]);
    // Narrowing a non-modifiable key is allowed; widening is not.
    s.update_attributes(k, &[vulong(CKA_KEYWARD_STATE, DISABLED)]).unwrap();
    let e = s.update_attributes(k, &[vulong(CKA_KEYWARD_STATE, ENABLED)]).unwrap_err();
    assert_eq!(rv(e), RvError::AttributeReadOnly);
    let c = s.copy_object(k, &[Attribute::Modifiable(true), Attribute::Token(false)]).unwrap();
    let e = s.update_attributes(c, &[vulong(CKA_KEYWARD_STATE, ENABLED)]).unwrap_err();
    assert_eq!(rv(e), RvError::AttributeReadOnly);
    assert_eq!(encrypts(&s, c), Err(RvError::KeyFunctionNotPermitted));
    // Purge: the source and every copy go.
    let k2 = aes(&s, "purged", &[]);
    let sc = s.copy_object(k2, &[Attribute::Token(false)]).unwrap();
    let tc = s.copy_object(k2, &[]).unwrap();
    s.destroy_object(k2).unwrap();
    for h in [k2, sc, tc] {
        assert_eq!(encrypts(&s, h), Err(RvError::KeyHandleInvalid), "{h:?}");
    }
    let left = s.find_objects(&[Attribute::Label(b"purged".to_vec()), vbool(CKA_KEYWARD_ALL_VERSIONS, true)]).unwrap();
    assert!(left.is_empty(), "{left:?}");
}

/// Envelope decryption through a sibling handle: the version that decrypts
/// is checked (its own CKA_DECRYPT and CKA_ALLOWED_MECHANISMS), not the
/// handle the caller passed.
#[test]
fn envelope_decryption_checks_the_decrypting_version() {
    let t = initialized();
    let s = t.user_session();
    let ty = MechanismType::new_vendor_defined(CKM_KEYWARD_AES_GCM).unwrap();
    let env = Mechanism::VendorDefined(VendorDefinedMechanism::new::<()>(ty, None));
    let k = aes(&s, "env", &[]);
    let kid = key_id(&s, k);
    let old_ct = s.encrypt(&env, k, b"made with v1").unwrap();
    let v2 = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[vattr(CKA_KEYWARD_KEY_ID, kid.into_bytes()), vbool(CKA_KEYWARD_ROTATE, true)],
        )
        .unwrap();
    assert_eq!(s.decrypt(&env, v2, &old_ct).unwrap(), b"made with v1");
    // v1 may no longer decrypt: v2's handle cannot lend it the right.
    s.update_attributes(k, &[Attribute::Decrypt(false)]).unwrap();
    assert_eq!(rv(s.decrypt(&env, v2, &old_ct).unwrap_err()), RvError::KeyFunctionNotPermitted);
    s.update_attributes(k, &[Attribute::Decrypt(true), Attribute::AllowedMechanisms(vec![MechanismType::AES_CBC])])
        .unwrap();
    assert_eq!(rv(s.decrypt(&env, v2, &old_ct).unwrap_err()), RvError::MechanismInvalid);
    // v2's own ciphertexts are unaffected.
    let new_ct = s.encrypt(&env, v2, b"made with v2").unwrap();
    assert_eq!(s.decrypt(&env, v2, &new_ct).unwrap(), b"made with v2");
}

#[test]
fn cli_lifecycle_acts_honour_cka_modifiable() {
    let t = initialized();
    let s = t.user_session();
    let k = aes(&s, "frozen", &[Attribute::Modifiable(false)]);
    let kid = key_id(&s, k);
    // Narrowing: disable and an earlier expiry work.
    let (ok, out) = cli(&t, &["key", "disable", "frozen"]);
    assert!(ok, "{out}");
    let (ok, out) = cli(&t, &["key", "expire", "frozen", "2031-01-01"]);
    assert!(ok, "{out}");
    let (ok, out) = cli(&t, &["key", "expire", "frozen", "2030-01-01"]);
    assert!(ok, "{out}");
    // Widening: enable, a later or no expiry, new tags are refused, by name or key id.
    for args in [
        vec!["key", "enable", "frozen"],
        vec!["key", "expire", "frozen", "never"],
        vec!["key", "expire", kid.as_str(), "2032-01-01"],
        vec!["key", "tag", "frozen", "team=x"],
        vec!["key", "rotate", "frozen"],
    ] {
        let (ok, out) = cli(&t, &args);
        assert!(!ok && out.contains("not modifiable"), "{args:?}: {out}");
    }
    // C_SetAttributeValue applies the same rule.
    let e = s.update_attributes(k, &[Attribute::EndDate(cryptoki::types::Date::new_empty())]).unwrap_err();
    assert_eq!(rv(e), RvError::AttributeReadOnly);
    // The inventory and `key show` print the key id.
    let (ok, out) = cli(&t, &["inventory"]);
    assert!(ok && out.contains(&kid), "{out}");
    let (ok, out) = cli(&t, &["key", "show", "frozen"]);
    assert!(ok && out.contains(&format!("key id: {kid}")), "{out}");
}

/// A store written by keyward 0.1 (tests/fixtures/store-v0.1): keys that
/// rotation linked keep one identity, independent same-label keys get one
/// each, and everything still opens.
#[test]
fn a_keyward_0_1_store_migrates_to_key_identities() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::create_dir(&token).unwrap();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v0.1");
    for f in ["token.sqlite", "audit.jsonl"] {
        std::fs::copy(fixtures.join(f), token.join(f)).unwrap();
    }
    let conf = dir.path().join("keyward.toml");
    std::fs::write(
        &conf,
        format!(
            "[policy]\npbkdf2_iterations = 1000\n[kms]\ndeletion_grace = \"30d\"\n[[slot]]\npath = \"{}\"\n",
            token.display()
        ),
    )
    .unwrap();
    let p11 = load(&std::ffi::CString::new(conf.display().to_string()).unwrap());
    let slot = p11.get_all_slots().unwrap()[0];
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    let all = |label: &str| {
        s.find_objects(&[Attribute::Label(label.as_bytes().to_vec()), vbool(CKA_KEYWARD_ALL_VERSIONS, true)]).unwrap()
    };
    let ids = |label: &str| {
        let mut v: Vec<String> = all(label).into_iter().map(|h| key_id(&s, h)).collect();
        v.sort();
        v.dedup();
        v
    };
    assert_eq!(all("twin").len(), 2);
    assert_eq!(ids("twin").len(), 2, "independent keys sharing a label get their own identities");
    assert_eq!((all("rotated").len(), ids("rotated").len()), (2, 1), "rotated versions stay one key");
    assert_eq!((all("signer").len(), ids("signer").len()), (4, 1), "a rotated pair stays one key");
    assert_eq!((all("ec").len(), ids("ec").len()), (2, 1), "a pair is one key");
    for id in ids("rotated").iter().chain(&ids("signer")).chain(&ids("ec")).chain(&ids("twin")) {
        assert_eq!(id.len(), 32, "{id}");
    }
    // Material still opens, states carried over.
    let known = all("known")[0];
    assert_eq!(s.get_attributes(known, &[AttributeType::Value]).unwrap(), vec![Attribute::Value((1..=32).collect())]);
    assert_eq!(get_ulong(&s, all("deleted")[0], CKA_KEYWARD_STATE), PENDING);
    let primary = s.find_objects(&[Attribute::Label(b"rotated".to_vec())]).unwrap();
    assert_eq!(primary.len(), 1);
    assert_eq!(get_ulong(&s, primary[0], CKA_KEYWARD_VERSION), 2);
    encrypts(&s, primary[0]).unwrap();
    // Destroying one twin leaves the other alone.
    let twins = s.find_objects(&[Attribute::Label(b"twin".to_vec())]).unwrap();
    s.destroy_object(twins[0]).unwrap();
    encrypts(&s, twins[1]).unwrap();
}
