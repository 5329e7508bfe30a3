//! Profiling aid (not part of bench/run): ML-KEM C_EncapsulateKey /
//! C_DecapsulateKey against the module at $KW_MODULE on a fresh token under
//! $PROBE_DIR (audit on, defaults), beside the raw engine, in interleaved
//! blocks (BLOCKS x N ops each side) so both see the same host load; SET =
//! 512 | 768 | 1024. `perf record --call-graph dwarf` it to see where the
//! time goes.
//!   cargo build --release --example kem_probe
//!   PROBE_DIR=$(mktemp -d) KW_MODULE=../target/release/libkeyward.so SET=768 \
//!       target/release/examples/kem_probe
use aws_lc_rs::kem::{DecapsulationKey, ML_KEM_512, ML_KEM_768, ML_KEM_1024};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, MlKemParameterSetType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use std::time::Instant;

fn main() {
    let dir = std::path::PathBuf::from(std::env::var("PROBE_DIR").unwrap());
    let conf = dir.join("keyward.toml");
    std::fs::write(
        &conf,
        format!(
            "[policy]\npbkdf2_iterations = 1000\n[kms]\ndeletion_grace = \"0\"\n{}\n[[slot]]\npath = \"{}\"\n",
            std::env::var("PROBE_EXTRA").unwrap_or_default(),
            dir.join("tok").display()
        ),
    )
    .unwrap();
    // SAFETY: single-threaded here, before C_Initialize (the only reader).
    unsafe { std::env::set_var("KEYWARD_CONF", &conf) };
    let p11 = Pkcs11::new(std::env::var("KW_MODULE").unwrap()).unwrap();
    p11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).unwrap();
    let slot = p11.get_all_slots().unwrap()[0];
    let pin = |p: &str| AuthPin::new(p.to_string().into());
    p11.init_token(slot, &pin("so-pin-1234"), "probe").unwrap();
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::So, Some(&pin("so-pin-1234"))).unwrap();
    s.init_pin(&pin("user-pin-1234")).unwrap();
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin("user-pin-1234"))).unwrap();
    let set = std::env::var("SET").unwrap_or_else(|_| "768".into());
    let (kset, alg) = match set.as_str() {
        "512" => (MlKemParameterSetType::ML_KEM_512, &ML_KEM_512),
        "1024" => (MlKemParameterSetType::ML_KEM_1024, &ML_KEM_1024),
        _ => (MlKemParameterSetType::ML_KEM_768, &ML_KEM_768),
    };
    let (pb, pv) = s
        .generate_key_pair(
            &Mechanism::MlKemKeyPairGen,
            &[Attribute::ParameterSet(kset.into()), Attribute::Token(false), Attribute::Encapsulate(true)],
            &[Attribute::Token(false), Attribute::Decapsulate(true)],
        )
        .unwrap();
    let secret = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Token(false),
    ];
    let n: usize = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(5000);
    let what = std::env::var("WHAT").unwrap_or_else(|_| "both".into());
    let raw_dk = DecapsulationKey::generate(alg).unwrap();
    let raw_ek = raw_dk.encapsulation_key().unwrap();
    // Interleaved blocks, so both sides see the same machine load.
    let blocks: usize = std::env::var("BLOCKS").ok().and_then(|v| v.parse().ok()).unwrap_or(40);
    // NORAW=1: keyward's side only (e.g. to count its allocations per call).
    let raw_n = if std::env::var_os("NORAW").is_some() { 0 } else { n };
    let (ct, h0) = s.encapsulate_key(&Mechanism::MlKem, pb, &secret).unwrap();
    s.destroy_object(h0).unwrap();
    let (rct, _) = raw_ek.encapsulate().unwrap();
    let (mut kw_e, mut raw_e, mut kw_d, mut raw_d) = (0f64, 0f64, 0f64, 0f64);
    for _ in 0..blocks {
        let mut hs = Vec::with_capacity(2 * n);
        if what != "decap" {
            let t0 = Instant::now();
            for _ in 0..n {
                hs.push(s.encapsulate_key(&Mechanism::MlKem, pb, &secret).unwrap().1);
            }
            kw_e += t0.elapsed().as_secs_f64();
            let t0 = Instant::now();
            for _ in 0..raw_n {
                raw_ek.encapsulate().unwrap();
            }
            raw_e += t0.elapsed().as_secs_f64();
        }
        if what != "encap" {
            let t0 = Instant::now();
            for _ in 0..n {
                hs.push(s.decapsulate_key(&Mechanism::MlKem, pv, &secret, &ct).unwrap());
            }
            kw_d += t0.elapsed().as_secs_f64();
            let t0 = Instant::now();
            for _ in 0..raw_n {
                raw_dk.decapsulate(rct.as_ref().into()).unwrap();
            }
            raw_d += t0.elapsed().as_secs_f64();
        }
        for h in hs {
            s.destroy_object(h).unwrap();
        }
    }
    let ops = (n * blocks) as f64;
    if what != "decap" {
        println!(
            "encapsulate: keyward {:.0}/s raw {:.0}/s ratio {:.0}%",
            ops / kw_e,
            ops / raw_e,
            100.0 * raw_e / kw_e
        );
    }
    if what != "encap" {
        println!(
            "decapsulate: keyward {:.0}/s raw {:.0}/s ratio {:.0}%",
            ops / kw_d,
            ops / raw_d,
            100.0 * raw_d / kw_d
        );
    }
}
