//! Profiling aid for the per-call cost (issue 7): runs one operation in a
//! loop against the built module on a throw-away token and prints the rate.
//!   cargo build --release --examples
//!   target/release/examples/hotpath gcm|ecdsa|threads|rsaverify|ecverify|find|login|create|init|aeskeygen|eckeygen [seconds] [objects]
//! Use under `perf record -g` to see where a call's time goes.

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use std::error::Error;
use std::time::{Duration, Instant};

/// `HOTPATH_CURVE=secp256k1|p384` (default P-256).
fn curve_oid() -> Vec<u8> {
    match std::env::var("HOTPATH_CURVE").as_deref() {
        Ok("secp256k1") => vec![0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a],
        Ok("p384") => vec![0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
        _ => vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    let op = args.get(1).map(String::as_str).unwrap_or("gcm").to_string();
    let secs: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let objects: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(0);
    let exe = std::env::current_exe()?;
    let module = exe.parent().and_then(|p| p.parent()).ok_or("no target dir")?.join("libkeyward.so");
    let dir = std::env::temp_dir().join(format!("keyward-hotpath-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let conf = dir.join("keyward.toml");
    std::fs::write(
        &conf,
        format!(
            "[policy]\npbkdf2_iterations = 600000\n[kms]\ndeletion_grace = \"0\"\n{}\n[[slot]]\npath = \"{}\"\n",
            std::env::var("HOTPATH_EXTRA").unwrap_or_default(),
            dir.join("token").display()
        ),
    )?;
    // SAFETY: set while this process has one thread, before C_Initialize
    // (where the module reads it).
    unsafe { std::env::set_var("KEYWARD_CONF", &conf) };
    let p11 = Pkcs11::new(&module)?;
    p11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))?;
    let slot = p11.get_all_slots()?[0];
    let so = AuthPin::new("so-pin-hotpath".into());
    let user = AuthPin::new("user-pin-hotpath".into());
    p11.init_token(slot, &so, "hotpath")?;
    {
        let s = p11.open_rw_session(slot)?;
        s.login(UserType::So, Some(&so))?;
        s.init_pin(&user)?;
    }
    let s = p11.open_rw_session(slot)?;
    s.login(UserType::User, Some(&user))?;
    for i in 0..objects {
        s.create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(true),
            Attribute::Label(format!("fill-{i}").into_bytes()),
            Attribute::Value((0..32).map(|b| (b as u8).wrapping_add(i as u8).wrapping_mul(7) | 1).collect()),
        ])?;
    }
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let mut n = 0u64;
    if op == "init" {
        drop(s);
        p11.finalize()?;
        let mut times = Vec::new();
        for _ in 0..5 {
            let p = Pkcs11::new(&module)?;
            let init = CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK);
            let t0 = Instant::now();
            p.initialize(init)?;
            times.push(t0.elapsed().as_secs_f64() * 1e3);
            p.finalize()?;
        }
        println!("init: {times:.1?} ms");
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(());
    }
    if op == "login" {
        // The last session's close logs the application out, so each
        // iteration pays a real login (the KEK cache spares PBKDF2).
        drop(s);
        let t0 = Instant::now();
        while Instant::now() < until {
            for _ in 0..16 {
                let t = p11.open_ro_session(slot)?;
                t.login(UserType::User, Some(&user))?;
                drop(t);
                n += 1;
            }
        }
        let dt = t0.elapsed().as_secs_f64();
        println!("{op}: {n} ops in {dt:.2} s = {:.0}/s ({:.2} us/op)", n as f64 / dt, dt * 1e6 / n as f64);
        p11.finalize()?;
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(());
    }
    if op == "threads" {
        // ECDSA P-256 signing with a token key from HOTPATH_THREADS threads,
        // each with its own session (the bench's thread rows).
        let threads: usize = std::env::var("HOTPATH_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
        // HOTPATH_WARM=seconds of single-thread GCM 1 KiB first (what the
        // bench's earlier rows leave behind).
        let warm: f64 = std::env::var("HOTPATH_WARM").ok().and_then(|v| v.parse().ok()).unwrap_or(0.0);
        if warm > 0.0 {
            let k =
                s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(32.into()), Attribute::Token(false)])?;
            let data = vec![7u8; 1024];
            let mut iv = [0u8; 12];
            let stop = Instant::now() + Duration::from_secs_f64(warm);
            let mut i = 0u64;
            let warm_op = std::env::var("HOTPATH_WARM_OP").unwrap_or_default();
            let keygen = warm_op == "keygen";
            let mut kept = Vec::new();
            while Instant::now() < stop {
                i += 1;
                if warm_op == "keepkeygen" {
                    // Like the bench's key generation rows: keys pile up and
                    // are destroyed after the timed runs.
                    kept.push(s.generate_key(
                        &Mechanism::AesKeyGen,
                        &[Attribute::ValueLen(32.into()), Attribute::Token(false)],
                    )?);
                    continue;
                }
                if keygen {
                    let k = s.generate_key(
                        &Mechanism::AesKeyGen,
                        &[Attribute::ValueLen(32.into()), Attribute::Token(false)],
                    )?;
                    s.destroy_object(k)?;
                    continue;
                }
                iv[..8].copy_from_slice(&i.to_be_bytes());
                let p = GcmParams::new(&mut iv, &[], 128.into())?;
                s.encrypt(&Mechanism::AesGcm(p), k, &data)?;
            }
            let n_kept = kept.len();
            let t = Instant::now();
            for h in kept {
                s.destroy_object(h)?;
            }
            if n_kept > 0 {
                println!("warm-up: {n_kept} keys destroyed in {:.2} s", t.elapsed().as_secs_f64());
            }
        }
        let until = Instant::now() + Duration::from_secs_f64(secs);
        let (_pb, pk) = s.generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[Attribute::EcParams(curve_oid()), Attribute::Token(true)],
            &[Attribute::Token(true), Attribute::Sign(true)],
        )?;
        let t0 = Instant::now();
        let total: u64 = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..threads)
                .map(|_| {
                    sc.spawn(|| {
                        let t = p11.open_ro_session(slot).map_err(|e| e.to_string())?;
                        let d = [3u8; 32];
                        let mut n = 0u64;
                        while Instant::now() < until {
                            for _ in 0..64 {
                                t.sign(&Mechanism::Ecdsa, pk, &d).map_err(|e| e.to_string())?;
                                n += 1;
                            }
                        }
                        Ok::<u64, String>(n)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap_or(Err("thread panicked".into())).unwrap_or(0)).sum()
        });
        let dt = t0.elapsed().as_secs_f64();
        println!("threads x{threads}: {total} ops in {dt:.2} s = {:.0}/s", total as f64 / dt);
        drop(s);
        p11.finalize()?;
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(());
    }
    let t0 = Instant::now();
    match op.as_str() {
        "gcm" => {
            let k =
                s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(32.into()), Attribute::Token(false)])?;
            let data = vec![7u8; 1024];
            let mut iv = [0u8; 12];
            while Instant::now() < until {
                for _ in 0..256 {
                    iv[..8].copy_from_slice(&n.to_be_bytes());
                    let p = GcmParams::new(&mut iv, &[], 128.into())?;
                    s.encrypt(&Mechanism::AesGcm(p), k, &data)?;
                    n += 1;
                }
            }
        }
        "ecdsa" => {
            let (_pb, pk) = s.generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &[Attribute::EcParams(curve_oid()), Attribute::Token(false)],
                &[Attribute::Token(false), Attribute::Sign(true)],
            )?;
            let d = [3u8; 32];
            while Instant::now() < until {
                for _ in 0..64 {
                    s.sign(&Mechanism::Ecdsa, pk, &d)?;
                    n += 1;
                }
            }
        }
        "rsaverify" | "ecverify" => {
            let (pb, pk, mech) = if op == "rsaverify" {
                let (pb, pk) = s.generate_key_pair(
                    &Mechanism::RsaPkcsKeyPairGen,
                    &[Attribute::ModulusBits(2048.into()), Attribute::Token(false), Attribute::Verify(true)],
                    &[Attribute::Token(false), Attribute::Sign(true)],
                )?;
                (pb, pk, Mechanism::Sha256RsaPkcs)
            } else {
                let (pb, pk) = s.generate_key_pair(
                    &Mechanism::EccKeyPairGen,
                    &[Attribute::EcParams(curve_oid()), Attribute::Token(false), Attribute::Verify(true)],
                    &[Attribute::Token(false), Attribute::Sign(true)],
                )?;
                (pb, pk, Mechanism::EcdsaSha256)
            };
            let data = [5u8; 64];
            let sig = s.sign(&mech, pk, &data)?;
            while Instant::now() < until {
                for _ in 0..64 {
                    s.verify(&mech, pb, &data, &sig)?;
                    n += 1;
                }
            }
        }
        "find" => {
            let label = format!("fill-{}", objects / 2).into_bytes();
            while Instant::now() < until {
                for _ in 0..16 {
                    let v = s.find_objects(&[Attribute::Label(label.clone())])?;
                    assert_eq!(v.len(), 1);
                    n += 1;
                }
            }
        }
        "create" => {
            while Instant::now() < until {
                for _ in 0..16 {
                    let h = s.create_object(&[
                        Attribute::Class(ObjectClass::SECRET_KEY),
                        Attribute::KeyType(KeyType::AES),
                        Attribute::Token(true),
                        Attribute::Value((0..32).map(|b| (b as u8).wrapping_add(n as u8) | 1).collect()),
                    ])?;
                    s.destroy_object(h)?;
                    n += 1;
                }
            }
        }
        "aeskeygen" => {
            while Instant::now() < until {
                for _ in 0..64 {
                    let k = s.generate_key(
                        &Mechanism::AesKeyGen,
                        &[Attribute::ValueLen(32.into()), Attribute::Token(false)],
                    )?;
                    s.destroy_object(k)?;
                    n += 1;
                }
            }
        }
        "eckeygen" => {
            while Instant::now() < until {
                for _ in 0..16 {
                    let (pb, pk) = s.generate_key_pair(
                        &Mechanism::EccKeyPairGen,
                        &[Attribute::EcParams(curve_oid()), Attribute::Token(false)],
                        &[Attribute::Token(false), Attribute::Sign(true)],
                    )?;
                    s.destroy_object(pb)?;
                    s.destroy_object(pk)?;
                    n += 1;
                }
            }
        }
        other => return Err(format!("unknown op {other}").into()),
    }
    let dt = t0.elapsed().as_secs_f64();
    println!("{op}: {n} ops in {dt:.2} s = {:.0}/s ({:.2} us/op)", n as f64 / dt, dt * 1e6 / n as f64);
    drop(s);
    p11.finalize()?;
    if std::env::var_os("HOTPATH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!("kept {}", dir.display());
    }
    Ok(())
}
