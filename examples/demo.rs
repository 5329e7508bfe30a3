//! The main job: loads the built `libkeyward.so` through the C ABI (with the
//! `cryptoki` crate, as any PKCS#11 application would) and exercises it end
//! to end on the token store the configuration names (by default the
//! embedded one under `$XDG_DATA_HOME/keyward/`), printing each step.
//!
//! PINs: `KEYWARD_SO_PIN` / `KEYWARD_PIN`, else demo defaults used only to
//! initialize a token that is not initialized yet.

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use std::error::Error;

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
    s.login(UserType::User, Some(&AuthPin::new(user_pin.into())))
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
    println!("9. destroyed the demo key (a soft delete: restorable during the token's grace period); done");
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
