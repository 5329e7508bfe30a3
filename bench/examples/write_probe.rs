//! Probe of token writes (not part of bench/run): initializes slot 0 of
//! the module's configuration, logs the user in, then times N token
//! C_CreateObject (AES keys, the template of bench/run's create row) and
//! the N C_DestroyObject of them; a profiling aid for counting a write's
//! round trips (run it under `strace -f -c -e trace=sendto,recvfrom`, or
//! against a server with `log_statement = all`).
//!   cargo build --release --example write_probe
//!   KW_MODULE=../target/release/libkeyward.so KEYWARD_CONF=... N=200 \
//!       target/release/examples/write_probe
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use std::time::Instant;

fn pin(s: &str) -> AuthPin {
    AuthPin::new(s.to_string().into())
}

fn main() {
    let n: usize = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let p11 = Pkcs11::new(std::env::var("KW_MODULE").unwrap()).unwrap();
    p11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).unwrap();
    let slot = p11.get_all_slots().unwrap()[0];
    p11.init_token(slot, &pin("probe-so-pin"), "probe").unwrap();
    {
        let s = p11.open_rw_session(slot).unwrap();
        s.login(UserType::So, Some(&pin("probe-so-pin"))).unwrap();
        s.init_pin(&pin("probe-user-pin")).unwrap();
        s.logout().unwrap();
    }
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&pin("probe-user-pin"))).unwrap();
    let tmpl = |i: usize| {
        vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Value(vec![i as u8; 32]),
            Attribute::Token(true),
            Attribute::Encrypt(true),
            Attribute::Label(format!("probe-{i}").into_bytes()),
        ]
    };
    // Warm-up: statements prepared, caches filled.
    let w = s.create_object(&tmpl(usize::MAX)).unwrap();
    s.destroy_object(w).unwrap();
    eprintln!("BEGIN-CREATES");
    let t = Instant::now();
    let hs: Vec<_> = (0..n).map(|i| s.create_object(&tmpl(i)).unwrap()).collect();
    let c = t.elapsed().as_secs_f64();
    eprintln!("BEGIN-DESTROYS");
    let t = Instant::now();
    for h in hs {
        s.destroy_object(h).unwrap();
    }
    let d = t.elapsed().as_secs_f64();
    eprintln!("END");
    println!("create {:.0}/s, destroy {:.0}/s ({n} each)", n as f64 / c, n as f64 / d);
    let _ = p11.finalize();
}
