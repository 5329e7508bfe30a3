//! Probe of a large token (not part of bench/run; BENCHMARKS.md "A token of
//! 1,000,000 keys"): C_Initialize time and RSS, then, logged in, C_FindObjects
//! by label of keys spread over the whole token (labels `fill-N`, as
//! bench/run's BENCH_BIG fill makes them) and the first AES-GCM encryption
//! with each key found (its first use in this process: read from the store,
//! checked, unsealed), then the same keys again (cached), and RSS at the end.
//!   cargo build --release --example big_probe
//!   KW_MODULE=../target/release/libkeyward.so KEYWARD_CONF=... PIN=bench-user-pin KEYS=1000000 \
//!       target/release/examples/big_probe
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::Attribute;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use std::time::Instant;

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = s
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn main() {
    let keys: u64 = std::env::var("KEYS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let n: u64 = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let p11 = Pkcs11::new(std::env::var("KW_MODULE").unwrap()).unwrap();
    let base = rss_mib();
    let t = Instant::now();
    p11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).unwrap();
    let init_ms = t.elapsed().as_secs_f64() * 1e3;
    let after_init = rss_mib();
    let slot = p11.get_slots_with_token().unwrap()[0];
    let s = p11.open_rw_session(slot).unwrap();
    let t = Instant::now();
    s.login(UserType::User, Some(&AuthPin::new(std::env::var("PIN").unwrap().into()))).unwrap();
    let login_ms = t.elapsed().as_secs_f64() * 1e3;
    // Keys spread evenly over the token (a multiplicative stride).
    let labels: Vec<String> = (0..n).map(|i| format!("fill-{}", (i * 7_919 + 13) % keys)).collect();
    let mut iv = [0u8; 12];
    let mut pass = |what: &str| {
        let (mut find, mut first) = (0f64, 0f64);
        for l in &labels {
            let t = Instant::now();
            let found = s.find_objects(&[Attribute::Label(l.as_bytes().to_vec())]).unwrap();
            find += t.elapsed().as_secs_f64();
            let k = *found.first().unwrap_or_else(|| panic!("{l} not found"));
            let t = Instant::now();
            s.encrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, &[], 128.into()).unwrap()), k, b"use").unwrap();
            first += t.elapsed().as_secs_f64();
            iv[0] = iv[0].wrapping_add(1);
        }
        println!(
            "{what}: C_FindObjects by label {:.1} µs, then C_EncryptInit+C_Encrypt {:.1} µs (mean of {n})",
            find / n as f64 * 1e6,
            first / n as f64 * 1e6
        );
    };
    pass("first use");
    pass("again");
    println!(
        "C_Initialize {init_ms:.1} ms, RSS {:.1} MiB after it ({:.1} MiB before), C_Login {login_ms:.0} ms, RSS at the end {:.1} MiB",
        after_init,
        base,
        rss_mib()
    );
}
