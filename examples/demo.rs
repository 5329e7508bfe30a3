//! The main job: loads the built `libkeyward.so` through the C ABI (with the
//! `cryptoki` crate, as any PKCS#11 application would) and exercises it end
//! to end on the token store the configuration names (by default the
//! embedded one under `$XDG_DATA_HOME/keyward/`), printing each step.
//!
//! Then the KMS side, on a managed token key: its key id, rotation (new
//! data under the new primary, old ciphertexts still decrypt), disable and
//! enable, soft delete and restore, the inventory and the audit log's
//! verification (the last three through the `keyward` CLI built beside it).
//!
//! PINs: `KEYWARD_SO_PIN` / `KEYWARD_PIN`, else demo defaults used only to
//! initialize a token that is not initialized yet.

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use std::error::Error;

const VD: u64 = 0x8000_0000;
const CKA_KEYWARD_VERSION: u64 = VD | 0x4B57_0001;
const CKA_KEYWARD_STATE: u64 = VD | 0x4B57_0003;
const CKA_KEYWARD_ROTATE: u64 = VD | 0x4B57_000B;
const CKA_KEYWARD_KEY_ID: u64 = VD | 0x4B57_000E;
const CKM_KEYWARD_AES_GCM: u64 = VD | 0x4B57_0001;
const KEYWARD_STATE_ENABLED: u64 = 1;
const KEYWARD_STATE_DISABLED: u64 = 2;

fn vattr(ty: u64, v: Vec<u8>) -> Attribute {
    Attribute::VendorDefined((AttributeType::VendorDefined(ty), v))
}

fn vget(s: &cryptoki::session::Session, h: cryptoki::object::ObjectHandle, ty: u64) -> Result<Vec<u8>, Box<dyn Error>> {
    match s.get_attributes(h, &[AttributeType::VendorDefined(ty)])?.pop() {
        Some(Attribute::VendorDefined((_, v))) => Ok(v),
        _ => Err(format!("attribute 0x{ty:x} missing").into()),
    }
}

/// The CK_RV of a refusal, by its C name (CKR_KEY_FUNCTION_NOT_PERMITTED ...).
fn ckr(r: Result<Vec<u8>, cryptoki::error::Error>) -> String {
    match r {
        Ok(_) => "no error (unexpected)".into(),
        Err(cryptoki::error::Error::Pkcs11(rv, _)) => {
            let mut out = String::from("CKR");
            for c in format!("{rv:?}").chars() {
                if c.is_ascii_uppercase() {
                    out.push('_');
                }
                out.push(c.to_ascii_uppercase());
            }
            out
        }
        Err(e) => e.to_string(),
    }
}

fn ulong(v: &[u8]) -> u64 {
    v.try_into().map(u64::from_ne_bytes).unwrap_or(0)
}

/// Runs the `keyward` CLI built next to this example, printing its output.
fn cli(args: &[&str], pin: &str) -> Result<String, Box<dyn Error>> {
    let exe = std::env::current_exe()?;
    let bin = exe.parent().and_then(|p| p.parent()).ok_or("no target dir")?.join("keyward");
    let out = std::process::Command::new(&bin).args(args).env("KEYWARD_PIN", pin).output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("keyward {}: {text}", args.join(" ")).into());
    }
    Ok(text)
}

fn module_path() -> String {
    if let Ok(p) = std::env::var("KEYWARD_MODULE") {
        return p;
    }
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/examples/demo -> target/<profile>/libkeyward.so
    let dir = exe.parent().and_then(|p| p.parent()).map(|p| p.to_path_buf()).unwrap_or_default();
    dir.join("libkeyward.so").display().to_string()
}

fn main() -> Result<(), Box<dyn Error>> {
    let path = module_path();
    println!("1. loading {path}");
    let p11 = Pkcs11::new(&path)?;
    p11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))?;
    let info = p11.get_library_info()?;
    println!("   {} {} (cryptoki {})", info.manufacturer_id(), info.library_description(), info.cryptoki_version());

    let slot = *p11.get_all_slots()?.first().ok_or("no slot")?;
    let ti = p11.get_token_info(slot)?;
    let so_pin = std::env::var("KEYWARD_SO_PIN").unwrap_or_else(|_| "keyward-so-demo".into());
    let so_pin_kept = so_pin.clone();
    let user_pin = std::env::var("KEYWARD_PIN").unwrap_or_else(|_| "keyward-demo".into());
    if !ti.token_initialized() {
        println!("2. token in slot {slot} is new: initializing it (label \"keyward\")");
        p11.init_token(slot, &AuthPin::new(so_pin.clone().into()), "keyward")?;
        let s = p11.open_rw_session(slot)?;
        s.login(UserType::So, Some(&AuthPin::new(so_pin.into())))?;
        s.init_pin(&AuthPin::new(user_pin.clone().into()))?;
        s.logout()?;
    } else {
        println!("2. token {:?} in slot {slot} is initialized (serial {})", ti.label(), ti.serial_number());
    }

    let s = p11.open_rw_session(slot)?;
    s.login(UserType::User, Some(&AuthPin::new(user_pin.clone().into())))
        .map_err(|e| format!("user login failed ({e}); set KEYWARD_PIN to this token's user PIN"))?;
    println!("3. logged in as the user");

    let label = format!("demo-aes-{}", std::process::id());
    let key = s.generate_key(
        &Mechanism::AesKeyGen,
        &[
            Attribute::Token(true),
            Attribute::ValueLen(32.into()),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
        ],
    )?;
    println!("4. generated AES-256 token key {label:?} (handle {key})");

    let iv = s.generate_random_vec(12)?;
    let msg = b"keyward: a software HSM with the key management of a cloud KMS";
    let (mut iv1, mut iv2) = (iv.clone(), iv.clone());
    let ct = s.encrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv1, b"demo aad", 128.into())?), key, msg)?;
    let pt = s.decrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv2, b"demo aad", 128.into())?), key, &ct)?;
    assert_eq!(pt, msg);
    println!("5. AES-256-GCM: {} bytes -> {} bytes (with tag) -> decrypted back, equal", msg.len(), ct.len());

    let digest = s.digest(&Mechanism::Sha256, msg)?;
    println!("6. SHA-256 in the token: {}", hex(&digest));

    for a in s.get_attributes(key, &[AttributeType::Sensitive, AttributeType::Local, AttributeType::UniqueId])? {
        match a {
            Attribute::UniqueId(u) => println!("7. key CKA_UNIQUE_ID {}", String::from_utf8_lossy(&u)),
            other => println!("   {other:?}"),
        }
    }

    let p256 = vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    let (ec_pub, ec_priv) = s.generate_key_pair(
        &Mechanism::EccKeyPairGen,
        &[Attribute::EcParams(p256), Attribute::Verify(true)],
        &[Attribute::Sign(true)],
    )?;
    let sig = s.sign(&Mechanism::EcdsaSha256, ec_priv, msg)?;
    s.verify(&Mechanism::EcdsaSha256, ec_pub, msg, &sig)?;
    println!("7b. EC P-256 session key pair: ECDSA-SHA256 signature of {} bytes made and verified", sig.len());
    let (rsa_pub, rsa_priv) = s.generate_key_pair(
        &Mechanism::RsaPkcsKeyPairGen,
        &[Attribute::ModulusBits(2048.into()), Attribute::Encrypt(true)],
        &[Attribute::Decrypt(true)],
    )?;
    let oaep = cryptoki::mechanism::rsa::PkcsOaepParams::new(
        cryptoki::mechanism::MechanismType::SHA256,
        cryptoki::mechanism::rsa::PkcsMgfType::MGF1_SHA256,
        cryptoki::mechanism::rsa::PkcsOaepSource::empty(),
    );
    let ct = s.encrypt(&Mechanism::RsaPkcsOaep(oaep), rsa_pub, b"wrapped secret")?;
    let pt = s.decrypt(&Mechanism::RsaPkcsOaep(oaep), rsa_priv, &ct)?;
    assert_eq!(pt, b"wrapped secret");
    println!("7c. RSA-2048 session key pair: OAEP-SHA256 encrypt/decrypt round trip");

    let keys = s.find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY)])?;
    println!("8. the token holds {} secret key(s)", keys.len());

    s.destroy_object(key)?;
    println!("9. destroyed the demo key (a soft delete: restorable during the token's grace period)");

    // ---- the KMS side ----------------------------------------------------
    let name = format!("demo-managed-{}", std::process::id());
    let v1 = s.generate_key(
        &Mechanism::AesKeyGen,
        &[
            Attribute::Token(true),
            Attribute::ValueLen(32.into()),
            Attribute::Label(name.as_bytes().to_vec()),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
        ],
    )?;
    let key_id = String::from_utf8(vget(&s, v1, CKA_KEYWARD_KEY_ID)?)?;
    println!("10. managed key {name:?}: key id {key_id} (token-assigned; the label is only user data), version 1");
    let env = Mechanism::VendorDefined(VendorDefinedMechanism::new::<()>(
        MechanismType::new_vendor_defined(CKM_KEYWARD_AES_GCM)?,
        None,
    ));
    let old_ct = s.encrypt(&env, v1, b"encrypted under version 1")?;
    let v2 = s.generate_key(
        &Mechanism::AesKeyGen,
        &[vattr(CKA_KEYWARD_KEY_ID, key_id.clone().into_bytes()), vattr(CKA_KEYWARD_ROTATE, vec![1])],
    )?;
    println!("11. rotated: version {} is the primary now", ulong(&vget(&s, v2, CKA_KEYWARD_VERSION)?));
    let new_ct = s.encrypt(&env, v2, b"encrypted under version 2")?;
    let back = s.decrypt(&env, v2, &old_ct)?;
    assert_eq!(back, b"encrypted under version 1");
    assert_eq!(s.decrypt(&env, v2, &new_ct)?, b"encrypted under version 2");
    let refused = ckr(s.encrypt(&env, v1, b"x"));
    println!(
        "12. CKM_KEYWARD_AES_GCM: new data under v2; v1's old ciphertext still decrypts through v2 ({:?}); v1 encrypts no more: {refused}",
        String::from_utf8_lossy(&back)
    );
    let state = |v: u64| vattr(CKA_KEYWARD_STATE, v.to_ne_bytes().to_vec());
    s.update_attributes(v2, &[state(KEYWARD_STATE_DISABLED)])?;
    let refused = ckr(s.encrypt(&env, v2, b"x"));
    println!("13. disabled v2: encryption refused with {refused}");
    s.update_attributes(v2, &[state(KEYWARD_STATE_ENABLED)])?;
    s.encrypt(&env, v2, b"x")?;
    println!("    enabled again: v2 encrypts");
    s.destroy_object(v2)?;
    let refused = ckr(s.encrypt(&env, v2, b"x"));
    println!("14. C_DestroyObject: the key is scheduled for deletion (use refused with {refused})");
    print!("{}", cli(&["key", "restore", &key_id], &user_pin)?);
    s.encrypt(&env, v2, b"x")?;
    println!("    restored with `keyward key restore {key_id}`: v2 encrypts again");
    named_users(&so_pin_kept)?;
    println!("15. `keyward inventory` (every key and version, with key ids):");
    for line in cli(&["inventory"], &user_pin)?.lines().filter(|l| l.starts_with("name") || l.contains(&name)) {
        println!("    {line}");
    }
    println!("16. `keyward audit verify`: {}", cli(&["audit", "verify"], &user_pin)?.trim());
    println!("done");
    Ok(())
}

/// Named users and per-key grants, through the CLI (needs the SO PIN: the
/// demo's own, or `KEYWARD_SO_PIN`): alice's key is sealed under a data key
/// wrapped for her and the SO's recovery key; bob sees it only while the SO
/// grants it to him. The users and the key are removed again at the end.
fn named_users(so_pin: &str) -> Result<(), Box<dyn Error>> {
    let so = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend_from_slice(&["--so-pin", so_pin]);
        cli(&a, "")
    };
    if so(&["user", "list"]).is_err() {
        println!("14b. named users: skipped (set KEYWARD_SO_PIN to this token's SO PIN to see them)");
        return Ok(());
    }
    let (alice, bob) = ("demo-alice", "demo-bob");
    let (apin, bpin) = ("demo-alice-pin", "demo-bob-pin");
    for u in [alice, bob] {
        let _ = so(&["user", "remove", u]); // (left over from an interrupted run)
    }
    so(&["user", "add", alice, "--new-pin", apin])?;
    so(&["user", "add", bob, "--new-pin", bpin])?;
    println!("14b. the SO added named users {alice} and {bob}, each with its own PIN");
    let as_user = |who: &str, pin: &str, args: &[&str]| {
        let mut a = vec![args[0], "--as", who, "--pin", pin];
        a.extend_from_slice(&args[1..]);
        cli(&a, "")
    };
    let name = format!("demo-shared-{}", std::process::id());
    as_user(alice, apin, &["key", "create", &name, "--type", "aes256"])?;
    let seen = |who, pin| -> Result<bool, Box<dyn Error>> { Ok(as_user(who, pin, &["key", "list"])?.contains(&name)) };
    println!(
        "    {alice} made key {name:?} (sealed under its own data key): {alice} sees it: {}, {bob} sees it: {}",
        seen(alice, apin)?,
        seen(bob, bpin)?
    );
    so(&["key", "grant", &name, bob, "decrypt"])?;
    println!("    `keyward key grant {name} {bob} decrypt`: {bob} sees it: {}", seen(bob, bpin)?);
    for line in so(&["key", "grants", &name])?.lines() {
        println!("      {line}");
    }
    so(&["key", "revoke", &name, bob])?;
    println!("    `keyward key revoke {name} {bob}` (the key is re-keyed): {bob} sees it: {}", seen(bob, bpin)?);
    as_user(alice, apin, &["key", "delete", &name])?;
    for u in [alice, bob] {
        so(&["user", "remove", u])?;
    }
    println!("    {alice} scheduled her key for deletion; the SO removed both users");
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
