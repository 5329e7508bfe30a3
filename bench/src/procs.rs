//! ECDSA P-256 sign from 1 and 2 processes on one token: each process its
//! own C_Initialize, session and login, signing with the token key
//! labelled "thr" (made by the thread rows) for the same window, started
//! together. On the PostgreSQL store these are two hosts' worth of
//! connections to one token.
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::UserType;
use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

/// Child process: `signer <module> <conf|-> <pin> <secs>`; prints READY
/// once logged in with the key found, signs from the next stdin line on
/// for `secs`, prints "<count> <elapsed s>".
pub fn signer(module: &str, conf: &str, user_pin: &str, secs: &str) {
    let p11 = super::load(module, (conf != "-").then_some(conf));
    let slot = p11.get_slots_with_token().unwrap()[0];
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&super::pin(user_pin))).unwrap();
    let key =
        s.find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::Label(b"thr".to_vec())]).unwrap()[0];
    let d = [0x17u8; 32];
    s.sign(&Mechanism::Ecdsa, key, &d).unwrap();
    println!("READY");
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).unwrap();
    let dur = Duration::from_secs_f64(secs.parse().unwrap());
    let st = Instant::now();
    let mut n = 0u64;
    while st.elapsed() < dur {
        s.sign(&Mechanism::Ecdsa, key, &d).unwrap();
        n += 1;
    }
    println!("{n} {}", st.elapsed().as_secs_f64());
}

/// Signatures per second of `nproc` signer processes together (sum of
/// each one's rate), or None if one failed.
pub fn run(module: &str, conf: Option<&str>, user_pin: &str, nproc: usize, secs: f64) -> Option<f64> {
    let exe = std::env::current_exe().ok()?;
    let mut kids = Vec::new();
    for _ in 0..nproc {
        let mut c = std::process::Command::new(&exe)
            .args(["signer", module, conf.unwrap_or("-"), user_pin, &secs.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .ok()?;
        let to = c.stdin.take()?;
        let mut from = BufReader::new(c.stdout.take()?);
        let mut line = String::new();
        from.read_line(&mut line).ok()?;
        if line.trim() != "READY" {
            eprintln!("  signer did not start");
            return None;
        }
        kids.push((c, to, from));
    }
    for (_, to, _) in &mut kids {
        writeln!(to, "GO").ok()?;
        to.flush().ok()?;
    }
    let mut total = 0.0;
    for (mut c, _, mut from) in kids {
        let mut line = String::new();
        from.read_line(&mut line).ok()?;
        let v: Vec<f64> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        let _ = c.wait();
        if v.len() != 2 {
            eprintln!("  signer failed");
            return None;
        }
        total += v[0] / v[1];
    }
    Some(total)
}
