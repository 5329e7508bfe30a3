//! keyward vs SoftHSMv2 vs the raw crypto engine (aws-lc-rs, in this process).
//!
//! Usage (bench/run does the setup):
//!   keyward-bench run      -- env KW_MODULE, KW_CONF, SH_MODULE, SH_PIN, OUT_DIR
//!   keyward-bench init-probe <module> [conf]   (child process: C_Initialize time + RSS)
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    PrivateDecryptingKey,
};
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

mod cmac;
mod curve25519;
mod pq;
mod procs;

const P256_OID: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384_OID: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const K256_OID: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];
const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

fn run_secs() -> f64 {
    std::env::var("BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(0.25)
}
const RUNS: usize = 3;

/// Median ops/s of RUNS time-boxed runs; None (n/a) if the operation fails.
fn measure<E: std::fmt::Debug>(what: &str, f: impl FnMut() -> Result<(), E>) -> Option<f64> {
    measure_n(what, 1, f)
}

/// [`measure`] with at least `min_ops` operations per timed run (RSA key
/// generation: a few keys per run would make the median a lottery, the
/// time to find primes varies several-fold from key to key).
fn measure_n<E: std::fmt::Debug>(what: &str, min_ops: u64, mut f: impl FnMut() -> Result<(), E>) -> Option<f64> {
    if let Err(e) = f() {
        eprintln!("  n/a: {what}: {e:?}");
        return None;
    }
    let mut rates = Vec::new();
    for _ in 0..RUNS {
        rates.push(timed_run(what, run_secs(), min_ops, &mut f)?);
    }
    rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Some(rates[RUNS / 2])
}

/// The rate of `f` over one run of at least `secs` and `min_ops` calls
/// (`None`, said once, if it fails).
fn timed_run<E: std::fmt::Debug>(
    what: &str,
    secs: f64,
    min_ops: u64,
    mut f: impl FnMut() -> Result<(), E>,
) -> Option<f64> {
    let start = Instant::now();
    let mut n = 0u64;
    loop {
        if let Err(e) = f() {
            eprintln!("  n/a: {what}: {e:?}");
            return None;
        }
        n += 1;
        if n >= min_ops && start.elapsed().as_secs_f64() >= secs {
            return Some(n as f64 / start.elapsed().as_secs_f64());
        }
    }
}

/// Keys per timed RSA key generation run: the time to find primes varies
/// several-fold from key to key, so a run of a few keys makes the ratio of
/// two medians swing (2.0x-2.8x between runs with 6 keys of 3072 bits).
fn rsa_keys_per_run(bits: u64) -> u64 {
    if bits == 2048 { 24 } else { 12 }
}

#[derive(Clone, Copy, PartialEq)]
enum Unit {
    Ops, // ops/s, higher better
    Mbs, // MB/s (10^6 B), higher better
    Ms,  // milliseconds, lower better
    Mib, // MiB, lower better
}

struct Row {
    name: String,
    unit: Unit,
    kw: Option<f64>,
    sh: Option<f64>,
    raw: Option<f64>,
}

impl Row {
    fn lower_better(&self) -> bool {
        matches!(self.unit, Unit::Ms | Unit::Mib)
    }
    /// >1 means keyward is better.
    fn ratio(&self) -> Option<f64> {
        let (k, s) = (self.kw?, self.sh?);
        Some(if self.lower_better() { s / k } else { k / s })
    }
}

struct Tok {
    name: String,
    p11: Pkcs11,
    slot: Slot,
    pin: String,
}

fn pin(p: &str) -> AuthPin {
    AuthPin::new(p.to_string().into())
}

/// C_Initialize arguments; a keyward config is named in `$KEYWARD_CONF`
/// (keyward's `pReserved` must be NULL).
fn init_args(conf: Option<&str>) -> CInitializeArgs {
    if let Some(c) = conf {
        // SAFETY: called before the benchmark starts any thread, ahead of the
        // C_Initialize that reads it.
        unsafe { std::env::set_var("KEYWARD_CONF", c) };
    }
    CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)
}

fn load(module: &str, conf: Option<&str>) -> Pkcs11 {
    let p11 = Pkcs11::new(module).unwrap_or_else(|e| panic!("load {module}: {e}"));
    p11.initialize(init_args(conf)).expect("C_Initialize");
    p11
}

fn fmt_val(v: Option<f64>, unit: Unit) -> String {
    match v {
        None => "n/a".into(),
        Some(x) => match unit {
            Unit::Ms => format!("{x:.1} ms"),
            Unit::Mib => format!("{x:.1} MiB"),
            Unit::Mbs => format!("{x:.0} MB/s"),
            Unit::Ops => {
                if x >= 100.0 {
                    format!("{x:.0}/s")
                } else {
                    format!("{x:.2}/s")
                }
            }
        },
    }
}

fn per_op(v: Option<f64>, unit: Unit) -> String {
    match (v, unit) {
        (Some(x), Unit::Ops) => {
            let us = 1e6 / x;
            if us >= 1000.0 { format!("{:.2} ms", us / 1000.0) } else { format!("{us:.1} µs") }
        }
        _ => String::new(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("init-probe") => init_probe(&args[2], args.get(3)),
        Some("peer") => peer(&args[2], &args[3], &args[4]),
        Some("signer") => procs::signer(&args[2], &args[3], &args[4], &args[5]),
        Some("run") => run(),
        // Re-draw the chart from a results.md table: chart <results.md> <out.svg>
        Some("chart") => {
            let md = std::fs::read_to_string(&args[2]).unwrap();
            let rows: Vec<Row> = md
                .lines()
                .filter(|l| l.starts_with("| ") && !l.starts_with("| Operation"))
                .map(|l| {
                    let c: Vec<&str> = l.split('|').map(str::trim).collect();
                    let ratio = c[5].trim_end_matches('x').parse::<f64>().ok();
                    Row { name: c[1].to_string(), unit: Unit::Ops, kw: ratio, sh: ratio.map(|_| 1.0), raw: None }
                })
                .collect();
            std::fs::write(&args[3], svg(&rows)).unwrap();
        }
        _ => {
            eprintln!("usage: keyward-bench run | init-probe <module> [conf]");
            std::process::exit(2)
        }
    }
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Child process: prints "<init_ms> <rss_after_init_kib> <rss_baseline_kib>".
fn init_probe(module: &str, conf: Option<&String>) {
    let p11 = Pkcs11::new(module).unwrap();
    let base = rss_kib();
    let args = init_args(conf.map(String::as_str));
    let t = Instant::now();
    p11.initialize(args).expect("C_Initialize");
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let after_init = rss_kib();
    // Touch the object store once (open a session, find by label) as every application does.
    let slot = p11.get_slots_with_token().unwrap()[0];
    let s = p11.open_ro_session(slot).unwrap();
    let t2 = Instant::now();
    let _ = s.find_objects(&[Attribute::Label(b"fill-5000".to_vec())]);
    let first_find_ms = t2.elapsed().as_secs_f64() * 1e3;
    let after_find = rss_kib();
    println!("{ms} {after_init} {base} {after_find} {first_find_ms}");
}

/// Child process ("another host" on a PostgreSQL token): logs in, then for
/// each label read from stdin looks the key up until it is found and
/// encrypts with it (at most 5 s), and answers "OK" or "TIMEOUT".
fn peer(module: &str, conf: &str, user_pin: &str) {
    use std::io::{BufRead, Write};
    let p11 = Pkcs11::new(module).unwrap();
    p11.initialize(init_args(Some(conf))).expect("C_Initialize");
    let slot = p11.get_all_slots().unwrap()[0];
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&pin(user_pin))).unwrap();
    println!("READY");
    std::io::stdout().flush().unwrap();
    for label in std::io::stdin().lock().lines() {
        let label = label.unwrap();
        let start = Instant::now();
        let mut answer = "TIMEOUT";
        while start.elapsed() < Duration::from_secs(5) {
            if let Some(k) = s.find_objects(&[Attribute::Label(label.as_bytes().to_vec())]).unwrap().first() {
                let mut iv = [0u8; 12];
                if s.encrypt(&gcm_mech(&mut iv), *k, b"first use").is_ok() {
                    answer = "OK";
                    break;
                }
            }
        }
        println!("{answer}");
        std::io::stdout().flush().unwrap();
    }
}

fn gcm_mech(iv: &mut [u8; 12]) -> Mechanism<'_> {
    Mechanism::AesGcm(GcmParams::new(iv, &[], 128.into()).unwrap())
}

fn bump(iv: &mut [u8; 12]) {
    for b in iv.iter_mut().rev() {
        *b = b.wrapping_add(1);
        if *b != 0 {
            break;
        }
    }
}

/// BENCH_ONLY=substring[,substring...] limits the per-mechanism rows
/// (profiling aid).
fn want(name: &str) -> bool {
    std::env::var("BENCH_ONLY").map(|f| f.split(',').any(|p| name.contains(p))).unwrap_or(true)
}

fn run() {
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} not set"));
    let kw_conf = env("KW_CONF");
    let out_dir = std::path::PathBuf::from(env("OUT_DIR"));
    let kw_module = env("KW_MODULE");
    let sh_module = env("SH_MODULE");

    // keyward: fresh token, initialized here.
    let kw_p11 = load(&kw_module, Some(&kw_conf));
    let kw_slot = kw_p11.get_all_slots().unwrap()[0];
    kw_p11.init_token(kw_slot, &pin("bench-so-pin"), "bench").expect("keyward C_InitToken");
    {
        let s = kw_p11.open_rw_session(kw_slot).unwrap();
        s.login(UserType::So, Some(&pin("bench-so-pin"))).unwrap();
        s.init_pin(&pin("bench-user-pin")).unwrap();
        s.logout().unwrap();
    }
    let kw_name = std::env::var("KW_NAME").unwrap_or_else(|_| "keyward".into());
    let kw = Tok { name: kw_name.clone(), p11: kw_p11, slot: kw_slot, pin: "bench-user-pin".into() };
    // SoftHSMv2: token initialized by bench/run (softhsm2-util --init-token --free).
    // BENCH_KEYWARD_ONLY=1: keyward rows only (e.g. audit on/off runs).
    let keyward_only = std::env::var_os("BENCH_KEYWARD_ONLY").is_some();
    // SH_CONF set: the second column is another keyward module (a copy of
    // the .so, so a second instance in this process) on that config, e.g.
    // the SQLite store beside PostgreSQL (bench/run BENCH_STORE=postgres);
    // its token is initialized here like keyward's.
    let sh_conf = std::env::var("SH_CONF").ok();
    let sh_name = std::env::var("SH_NAME").unwrap_or_else(|_| "SoftHSMv2".into());
    let sh = (!keyward_only).then(|| {
        let sh_p11 = load(&sh_module, sh_conf.as_deref());
        let sh_slot = sh_p11.get_slots_with_token().unwrap()[0];
        if sh_conf.is_some() {
            sh_p11.init_token(sh_slot, &pin("bench-so-pin"), "bench").expect("peer C_InitToken");
            let s = sh_p11.open_rw_session(sh_slot).unwrap();
            s.login(UserType::So, Some(&pin("bench-so-pin"))).unwrap();
            s.init_pin(&pin(&env("SH_PIN"))).unwrap();
            s.logout().unwrap();
        }
        Tok { name: sh_name.clone(), p11: sh_p11, slot: sh_slot, pin: env("SH_PIN") }
    });
    let mut toks: Vec<&Tok> = vec![&kw];
    toks.extend(sh.as_ref());

    let mut rows: Vec<Row> = Vec::new();
    let sessions: Vec<Session> = toks
        .iter()
        .map(|t| {
            let s = t.p11.open_rw_session(t.slot).unwrap();
            let t0 = Instant::now();
            s.login(UserType::User, Some(&pin(&t.pin))).unwrap();
            eprintln!("{}: first C_Login {:.1} ms", t.name, t0.elapsed().as_secs_f64() * 1e3);
            s
        })
        .collect();
    let rng = SystemRandom::new();

    // Generic helper: run `f` per token, `raw` in-process.
    macro_rules! row {
        ($name:expr, $unit:expr, $scale:expr, |$s:ident, $ti:ident| $body:expr, $raw:expr) => {{
            let name: String = $name.into();
            if want(&name) {
                eprintln!("row: {name}");
                let mut vals = [None, None];
                for ($ti, $s) in sessions.iter().enumerate() {
                    vals[$ti] = $body.map(|v: f64| v * $scale);
                }
                let raw: Option<f64> = $raw;
                rows.push(Row { name, unit: $unit, kw: vals[0], sh: vals[1], raw: raw.map(|v| v * $scale) });
            }
        }};
    }

    // ---------- key generation (session objects, destroyed after each run) ----------
    row!(
        "AES-256 key generation",
        Unit::Ops,
        1.0,
        |s, _i| {
            let mut hs = Vec::new();
            let r = measure("aes keygen", || {
                s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(32.into()), Attribute::Token(false)])
                    .map(|h| hs.push(h))
            });
            for h in hs {
                let _ = s.destroy_object(h);
            }
            r
        },
        measure("raw", || {
            let mut k = [0u8; 32];
            rng.fill(&mut k)
        })
    );

    for bits in [2048u64, 3072] {
        row!(
            format!("RSA-{bits} key pair generation"),
            Unit::Ops,
            1.0,
            |s, _i| {
                let mut hs = Vec::new();
                let min_keys = rsa_keys_per_run(bits);
                let r = measure_n("rsa keygen", min_keys, || {
                    s.generate_key_pair(
                        &Mechanism::RsaPkcsKeyPairGen,
                        &[
                            Attribute::ModulusBits(bits.into()),
                            Attribute::PublicExponent(vec![1, 0, 1]),
                            Attribute::Token(false),
                        ],
                        &[Attribute::Token(false), Attribute::Sign(true), Attribute::Decrypt(true)],
                    )
                    .map(|(a, b)| {
                        hs.push(a);
                        hs.push(b);
                    })
                });
                for h in hs {
                    let _ = s.destroy_object(h);
                }
                r
            },
            measure_n("raw", rsa_keys_per_run(bits), || {
                RsaKeyPair::generate(if bits == 2048 { KeySize::Rsa2048 } else { KeySize::Rsa3072 }).map(|_| ())
            })
        );
    }

    let curves: [(&str, &[u8], &'static sig::EcdsaSigningAlgorithm, &'static sig::EcdsaVerificationAlgorithm, usize);
        3] = [
        ("P-256", P256_OID, &sig::ECDSA_P256_SHA256_FIXED_SIGNING, &sig::ECDSA_P256_SHA256_FIXED, 32),
        ("P-384", P384_OID, &sig::ECDSA_P384_SHA384_FIXED_SIGNING, &sig::ECDSA_P384_SHA384_FIXED, 48),
        ("secp256k1", K256_OID, &sig::ECDSA_P256K1_SHA256_FIXED_SIGNING, &sig::ECDSA_P256K1_SHA256_FIXED, 32),
    ];
    for (cname, oid, salg, _, _) in curves {
        row!(
            format!("{cname} key pair generation"),
            Unit::Ops,
            1.0,
            |s, _i| {
                let mut hs = Vec::new();
                let r = measure("ec keygen", || {
                    s.generate_key_pair(
                        &Mechanism::EccKeyPairGen,
                        &[Attribute::EcParams(oid.to_vec()), Attribute::Token(false)],
                        &[Attribute::Token(false), Attribute::Sign(true)],
                    )
                    .map(|(a, b)| {
                        hs.push(a);
                        hs.push(b);
                    })
                });
                for h in hs {
                    let _ = s.destroy_object(h);
                }
                r
            },
            if cname == "secp256k1" {
                // keyward generates secp256k1 keys for k256 (random scalar + k256 point): the same here.
                measure("raw", || {
                    let mut b = [0u8; 32];
                    rng.fill(&mut b).map_err(|e| format!("{e:?}"))?;
                    let sk = k256::SecretKey::from_slice(&b).map_err(|e| format!("{e:?}"))?;
                    std::hint::black_box(sk.public_key());
                    Ok::<(), String>(())
                })
            } else {
                measure("raw", || EcdsaKeyPair::generate(salg).map(|_| ()))
            }
        );
    }

    // ---------- AES-256-GCM ----------
    let aes: Vec<ObjectHandle> = sessions
        .iter()
        .map(|s| {
            s.generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::ValueLen(32.into()),
                    Attribute::Token(false),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                ],
            )
            .unwrap()
        })
        .collect();
    let raw_key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).unwrap());
    for size in [KIB, MIB] {
        let data = vec![0x5au8; size];
        let label = if size == KIB { "1 KiB" } else { "1 MiB" };
        let scale = size as f64 / 1e6;
        row!(
            format!("AES-256-GCM encrypt {label}"),
            Unit::Mbs,
            scale,
            |s, i| {
                let mut iv = [0u8; 12];
                measure("gcm enc", || {
                    bump(&mut iv);
                    s.encrypt(&gcm_mech(&mut iv), aes[i], &data).map(|_| ())
                })
            },
            {
                let mut n = 0u128;
                measure("raw", || {
                    n += 1;
                    let mut b = data.clone();
                    raw_key.seal_in_place_append_tag(
                        Nonce::try_assume_unique_for_key(&n.to_be_bytes()[4..]).unwrap(),
                        Aad::empty(),
                        &mut b,
                    )
                })
            }
        );
        row!(
            format!("AES-256-GCM decrypt {label}"),
            Unit::Mbs,
            scale,
            |s, i| {
                let mut iv = [9u8; 12];
                let ct = s.encrypt(&gcm_mech(&mut iv), aes[i], &data);
                match ct {
                    Err(e) => {
                        eprintln!("  n/a: {e}");
                        None
                    }
                    Ok(ct) => measure("gcm dec", || s.decrypt(&gcm_mech(&mut iv), aes[i], &ct).map(|_| ())),
                }
            },
            {
                let mut ct = data.clone();
                raw_key
                    .seal_in_place_append_tag(Nonce::assume_unique_for_key([9u8; 12]), Aad::empty(), &mut ct)
                    .unwrap();
                measure("raw", || {
                    let mut b = ct.clone();
                    raw_key.open_in_place(Nonce::assume_unique_for_key([9u8; 12]), Aad::empty(), &mut b).map(|_| ())
                })
            }
        );
    }

    // ---------- RSA-2048 ----------
    let rsa: Vec<(ObjectHandle, ObjectHandle)> = sessions
        .iter()
        .map(|s| {
            s.generate_key_pair(
                &Mechanism::RsaPkcsKeyPairGen,
                &[
                    Attribute::ModulusBits(2048u64.into()),
                    Attribute::PublicExponent(vec![1, 0, 1]),
                    Attribute::Token(false),
                    Attribute::Verify(true),
                    Attribute::Encrypt(true),
                ],
                &[Attribute::Token(false), Attribute::Sign(true), Attribute::Decrypt(true)],
            )
            .unwrap()
        })
        .collect();
    let raw_rsa = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let raw_rsa_pub = raw_rsa.public_key().as_ref().to_vec();
    let msg = [0x42u8; 64];
    let pss = PkcsPssParams { hash_alg: MechanismType::SHA256, mgf: PkcsMgfType::MGF1_SHA256, s_len: 32.into() };
    let rsa_mechs: [(&str, Mechanism, &'static dyn sig::RsaEncoding, &'static sig::RsaParameters); 2] = [
        ("PKCS#1 v1.5-SHA256", Mechanism::Sha256RsaPkcs, &sig::RSA_PKCS1_SHA256, &sig::RSA_PKCS1_2048_8192_SHA256),
        ("PSS-SHA256", Mechanism::Sha256RsaPkcsPss(pss), &sig::RSA_PSS_SHA256, &sig::RSA_PSS_2048_8192_SHA256),
    ];
    for (mname, mech, enc, params) in &rsa_mechs {
        row!(
            format!("RSA-2048 {mname} sign"),
            Unit::Ops,
            1.0,
            |s, i| { measure("rsa sign", || s.sign(mech, rsa[i].1, &msg).map(|_| ())) },
            {
                let mut out = vec![0u8; 256];
                measure("raw", || raw_rsa.sign(*enc, &rng, &msg, &mut out))
            }
        );
        row!(
            format!("RSA-2048 {mname} verify"),
            Unit::Ops,
            1.0,
            |s, i| {
                match s.sign(mech, rsa[i].1, &msg) {
                    Err(e) => {
                        eprintln!("  n/a: {e}");
                        None
                    }
                    Ok(sg) => measure("rsa verify", || s.verify(mech, rsa[i].0, &msg, &sg)),
                }
            },
            {
                let mut out = vec![0u8; 256];
                raw_rsa.sign(*enc, &rng, &msg, &mut out).unwrap();
                let pk = UnparsedPublicKey::new(*params, raw_rsa_pub.clone());
                measure("raw", || pk.verify(&msg, &out))
            }
        );
    }
    let raw_dec = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
    let raw_oaep_pub = OaepPublicEncryptingKey::new(raw_dec.public_key()).unwrap();
    let raw_oaep_priv = OaepPrivateDecryptingKey::new(raw_dec).unwrap();
    for (hname, hash, mgf, alg) in [
        ("SHA-1", MechanismType::SHA1, PkcsMgfType::MGF1_SHA1, &OAEP_SHA1_MGF1SHA1),
        ("SHA-256", MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, &OAEP_SHA256_MGF1SHA256),
    ] {
        let mech = Mechanism::RsaPkcsOaep(PkcsOaepParams::new(hash, mgf, PkcsOaepSource::empty()));
        let pt = [0x33u8; 32];
        row!(
            format!("RSA-2048 OAEP-{hname} encrypt"),
            Unit::Ops,
            1.0,
            |s, i| { measure("oaep enc", || s.encrypt(&mech, rsa[i].0, &pt).map(|_| ())) },
            {
                let mut out = vec![0u8; 256];
                measure("raw", || raw_oaep_pub.encrypt(alg, &pt, &mut out, None).map(|_| ()))
            }
        );
        row!(
            format!("RSA-2048 OAEP-{hname} decrypt"),
            Unit::Ops,
            1.0,
            |s, i| {
                match s.encrypt(&mech, rsa[i].0, &pt) {
                    Err(e) => {
                        eprintln!("  n/a: {e}");
                        None
                    }
                    Ok(ct) => measure("oaep dec", || s.decrypt(&mech, rsa[i].1, &ct).map(|_| ())),
                }
            },
            {
                let mut ct = vec![0u8; 256];
                let n = raw_oaep_pub.encrypt(alg, &pt, &mut ct, None).unwrap().len();
                ct.truncate(n);
                let mut out = vec![0u8; 256];
                measure("raw", || raw_oaep_priv.decrypt(alg, &ct, &mut out, None).map(|_| ()))
            }
        );
    }

    // ---------- ECDSA (CKM_ECDSA over a digest; raw engine signs the same-size message) ----------
    for (cname, oid, salg, valg, hlen) in curves {
        let keys: Vec<Option<(ObjectHandle, ObjectHandle)>> = sessions
            .iter()
            .map(|s| {
                s.generate_key_pair(
                    &Mechanism::EccKeyPairGen,
                    &[Attribute::EcParams(oid.to_vec()), Attribute::Token(false), Attribute::Verify(true)],
                    &[Attribute::Token(false), Attribute::Sign(true)],
                )
                .map_err(|e| eprintln!("  n/a: {cname} keygen: {e}"))
                .ok()
            })
            .collect();
        let digest = vec![0x17u8; hlen];
        let raw_kp = EcdsaKeyPair::generate(salg).unwrap();
        row!(
            format!("ECDSA {cname} sign"),
            Unit::Ops,
            1.0,
            |s, i| {
                keys[i].and_then(|(_, pv)| measure("ecdsa sign", || s.sign(&Mechanism::Ecdsa, pv, &digest).map(|_| ())))
            },
            if cname == "secp256k1" {
                // keyward signs secp256k1 with k256: the same engine here.
                use k256::ecdsa::signature::hazmat::PrehashSigner;
                let sk = k256::ecdsa::SigningKey::from_slice(&[0x11u8; 32]).unwrap();
                measure("raw", || {
                    let r: Result<k256::ecdsa::Signature, _> = sk.sign_prehash(&digest);
                    r.map(|_| ())
                })
            } else {
                measure("raw", || raw_kp.sign(&rng, &digest).map(|_| ()))
            }
        );
        row!(
            format!("ECDSA {cname} verify"),
            Unit::Ops,
            1.0,
            |s, i| {
                keys[i].and_then(|(pb, pv)| {
                    let sg = s.sign(&Mechanism::Ecdsa, pv, &digest).ok()?;
                    measure("ecdsa verify", || s.verify(&Mechanism::Ecdsa, pb, &digest, &sg))
                })
            },
            if cname == "secp256k1" {
                // keyward verifies secp256k1 with k256 (high-S as its low-S twin): the same engine here.
                use k256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
                let sk = k256::ecdsa::SigningKey::from_slice(&[0x11u8; 32]).unwrap();
                let sg: k256::ecdsa::Signature = sk.sign_prehash(&digest).unwrap();
                let vk = *sk.verifying_key();
                measure("raw", || vk.verify_prehash(&digest, &sg.normalize_s()))
            } else {
                let sg = raw_kp.sign(&rng, &digest).unwrap();
                let pk = UnparsedPublicKey::new(valg, raw_kp.public_key().as_ref().to_vec());
                measure("raw", || pk.verify(&digest, sg.as_ref()))
            }
        );
    }

    // ---------- Ed25519 sign/verify, X25519 derive (bench/src/curve25519.rs) ----------
    curve25519::rows(&sessions, &mut rows);
    // ---------- AES-CMAC 1 KiB (bench/src/cmac.rs) ----------
    cmac::rows(&sessions, &mut rows);
    // ---------- ML-DSA and ML-KEM (bench/src/pq.rs) ----------
    pq::rows(&sessions, &mut rows);

    // ---------- ECDSA P-256 signing, 1 and 2 threads (own session each, token key) ----------
    let thr_keys: Vec<ObjectHandle> = sessions
        .iter()
        .map(|s| {
            s.generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &[Attribute::EcParams(P256_OID.to_vec()), Attribute::Token(true), Attribute::Label(b"thr".to_vec())],
                &[Attribute::Token(true), Attribute::Sign(true), Attribute::Label(b"thr".to_vec())],
            )
            .unwrap()
            .1
        })
        .collect();
    let raw_thr = EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    // Rounds outermost and the 1- and 2-thread runs of a round back to back:
    // the host's load drifts over seconds, so the scaling figure is the
    // median of the per-round ratios (paired runs), and each row the median
    // of its runs. A run is 0.75 s; 5 rounds.
    let mut scaling: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    if want("threads") {
        const THREAD_ROUNDS: usize = 5;
        let dur = Duration::from_secs_f64(run_secs() * 3.0);
        let median = |v: &[f64]| -> Option<f64> {
            let mut v = v.to_vec();
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            v.get(v.len() / 2).copied()
        };
        let kw_run = |i: usize, nthreads: usize| -> f64 {
            let t = &toks[i];
            let key = thr_keys[i];
            let total: u64 = std::thread::scope(|sc| {
                let hs: Vec<_> = (0..nthreads)
                    .map(|_| {
                        sc.spawn(|| {
                            let s = t.p11.open_rw_session(t.slot).unwrap();
                            let d = [0x17u8; 32];
                            s.sign(&Mechanism::Ecdsa, key, &d).unwrap();
                            let st = Instant::now();
                            let mut n = 0u64;
                            while st.elapsed() < dur {
                                s.sign(&Mechanism::Ecdsa, key, &d).unwrap();
                                n += 1;
                            }
                            n
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).sum()
            });
            total as f64 / dur.as_secs_f64()
        };
        let raw_run = |nthreads: usize| -> f64 {
            let total: u64 = std::thread::scope(|sc| {
                let hs: Vec<_> = (0..nthreads)
                    .map(|_| {
                        sc.spawn(|| {
                            let r = SystemRandom::new();
                            let st = Instant::now();
                            let mut n = 0u64;
                            while st.elapsed() < dur {
                                raw_thr.sign(&r, &[0x17u8; 32]).unwrap();
                                n += 1;
                            }
                            n
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).sum()
            });
            total as f64 / dur.as_secs_f64()
        };
        // runs[column][nthreads - 1]: column 0 keyward, 1 SoftHSMv2, 2 raw.
        let mut runs: [[Vec<f64>; 2]; 3] = Default::default();
        for _ in 0..THREAD_ROUNDS {
            for (i, _) in toks.iter().enumerate() {
                let one = kw_run(i, 1);
                let two = kw_run(i, 2);
                runs[i][0].push(one);
                runs[i][1].push(two);
                scaling[i].push(two / one);
            }
            let one = raw_run(1);
            let two = raw_run(2);
            runs[2][0].push(one);
            runs[2][1].push(two);
            scaling[2].push(two / one);
        }
        for nthreads in [1usize, 2] {
            eprintln!("row: ECDSA P-256 sign, {nthreads} thread(s)");
            rows.push(Row {
                name: format!(
                    "ECDSA P-256 sign, {nthreads} thread{} (own session each)",
                    if nthreads == 1 { "" } else { "s" }
                ),
                unit: Unit::Ops,
                kw: median(&runs[0][nthreads - 1]),
                sh: median(&runs[1][nthreads - 1]),
                raw: median(&runs[2][nthreads - 1]),
            });
        }
    }
    // ---------- ECDSA P-256 signing, 1 and 2 processes on one token ----------
    // Paired rounds as for threads; a process row is the median of 3 rounds.
    let mut proc_scaling: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    if want("processes") {
        let secs = run_secs() * 3.0;
        let mut runs: [[Vec<f64>; 2]; 2] = Default::default();
        for _ in 0..3 {
            for (i, t) in toks.iter().enumerate() {
                let (module, conf) =
                    if i == 0 { (&kw_module, Some(kw_conf.as_str())) } else { (&sh_module, sh_conf.as_deref()) };
                let one = procs::run(module, conf, &t.pin, 1, secs);
                let two = procs::run(module, conf, &t.pin, 2, secs);
                if let (Some(one), Some(two)) = (one, two) {
                    runs[i][0].push(one);
                    runs[i][1].push(two);
                    proc_scaling[i].push(two / one);
                }
            }
        }
        let median = |v: &[f64]| -> Option<f64> {
            let mut v = v.to_vec();
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            v.get(v.len() / 2).copied()
        };
        for n in [1usize, 2] {
            eprintln!("row: ECDSA P-256 sign, {n} process(es)");
            rows.push(Row {
                name: format!("ECDSA P-256 sign, {n} process{} on one token", if n == 1 { "" } else { "es" }),
                unit: Unit::Ops,
                kw: median(&runs[0][n - 1]),
                sh: median(&runs[1][n - 1]),
                raw: None,
            });
        }
        let sc = |i: usize| median(&proc_scaling[i]).map(|x| format!("{x:.2}x")).unwrap_or("n/a".into());
        eprintln!("2-process scaling: {kw_name} {}, {sh_name} {}", sc(0), sc(1));
    }
    let scaling: Vec<Option<f64>> = scaling
        .iter()
        .map(|v| {
            let mut v = v.clone();
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            v.get(v.len() / 2).copied()
        })
        .collect();

    // ---------- token objects: fill to 100/1,000/10,000; C_FindObjects by label ----------
    let make_tmpl = |label: String| {
        let mut v = vec![0u8; 32];
        rng.fill(&mut v).unwrap();
        vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Value(v),
            Attribute::Token(true),
            Attribute::Encrypt(true),
            Attribute::Label(label.into_bytes()),
        ]
    };
    let mut filled = 0usize;
    let mut fill_rates = Vec::new();
    let max_fill: usize = std::env::var("BENCH_FILL").ok().and_then(|v| v.parse().ok()).unwrap_or(10000);
    for target in [100usize, 1000, 10000].into_iter().filter(|&t| t <= max_fill) {
        let mut vals = [None, None];
        for (i, s) in sessions.iter().enumerate() {
            let st = Instant::now();
            for n in filled..target {
                s.create_object(&make_tmpl(format!("fill-{n}")))
                    .unwrap_or_else(|e| panic!("{} fill create_object: {e}", toks[i].name));
            }
            let el = st.elapsed().as_secs_f64();
            eprintln!(
                "{}: filled {}..{} in {:.2} s ({:.0}/s)",
                toks[i].name,
                filled,
                target,
                el,
                (target - filled) as f64 / el
            );
            if target == 10000 {
                fill_rates.push((target - filled) as f64 / el);
            }
            let needle = Attribute::Label(format!("fill-{}", target / 2).into_bytes());
            vals[i] = measure("find", || s.find_objects(std::slice::from_ref(&needle)).map(|v| assert_eq!(v.len(), 1)));
        }
        filled = target;
        eprintln!("row: find among {target}");
        rows.push(Row {
            name: format!("C_FindObjects by label, {target} token objects"),
            unit: Unit::Ops,
            kw: vals[0],
            sh: vals[1],
            raw: None,
        });
    }

    // ---------- create / destroy rate at 10,000 token objects ----------
    {
        let mut cr = [None, None];
        let mut de = [None, None];
        for (i, s) in sessions.iter().enumerate() {
            let mut hs = Vec::new();
            let budget = run_secs() * 4.0;
            let st = Instant::now();
            while st.elapsed().as_secs_f64() < budget {
                hs.push(s.create_object(&make_tmpl(format!("extra-{}", hs.len()))).unwrap());
            }
            cr[i] = Some(hs.len() as f64 / st.elapsed().as_secs_f64());
            let n = hs.len();
            let st = Instant::now();
            for h in hs {
                s.destroy_object(h).unwrap();
            }
            de[i] = Some(n as f64 / st.elapsed().as_secs_f64());
        }
        rows.push(Row {
            name: "token C_CreateObject (AES key) at 10,000 objects".into(),
            unit: Unit::Ops,
            kw: cr[0],
            sh: cr[1],
            raw: None,
        });
        rows.push(Row {
            name: "token C_DestroyObject at 10,000 objects".into(),
            unit: Unit::Ops,
            kw: de[0],
            sh: de[1],
            raw: None,
        });
        eprintln!("row: create/destroy");
    }

    // ---------- first use of a key created by another process (another host on PostgreSQL) ----------
    if want("first use") {
        use std::io::{BufRead, BufReader, Write};
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["peer", &kw_module, &kw_conf, &kw.pin])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut to = child.stdin.take().unwrap();
        let mut from = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        from.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "READY", "peer did not start");
        let mut lat = Vec::new();
        for i in 0..21 {
            let label = format!("xproc-{i}");
            sessions[0].create_object(&make_tmpl(label.clone())).expect("create for the peer");
            let t = Instant::now();
            writeln!(to, "{label}").unwrap();
            to.flush().unwrap();
            line.clear();
            from.read_line(&mut line).unwrap();
            if line.trim() == "OK" {
                lat.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        drop(to);
        let _ = child.wait();
        lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
        rows.push(Row {
            name: "first use of a key created by another process (ms after its CKR_OK)".into(),
            unit: Unit::Ms,
            kw: (lat.len() == 21).then(|| lat[10]),
            sh: None,
            raw: None,
        });
    }

    // ---------- C_OpenSession + C_Login + C_CloseSession (no other session open) ----------
    drop(sessions);
    {
        let mut vals = [None, None];
        for (i, t) in toks.iter().enumerate() {
            let p = pin(&t.pin);
            vals[i] = measure("open+login+close", || {
                let s = t.p11.open_rw_session(t.slot)?;
                s.login(UserType::User, Some(&p))?;
                drop(s);
                Ok::<(), cryptoki::error::Error>(())
            });
        }
        rows.push(Row {
            name: "C_OpenSession+C_Login+C_CloseSession".into(),
            unit: Unit::Ops,
            kw: vals[0],
            sh: vals[1],
            raw: None,
        });
        eprintln!("row: open/login/close");
    }
    // ---------- the same create/destroy rows on slot 1: [store] durability = "normal" ----------
    // Slot 1 of keyward (and of a keyward peer, SH_CONF); SoftHSMv2's column
    // repeats its create/destroy figures.
    let normal_rates = |t: &Tok| -> Option<(f64, f64)> {
        let slot1 = t.p11.get_all_slots().unwrap().get(1).copied()?;
        t.p11.init_token(slot1, &pin("bench-so-pin"), "bench-normal").expect("keyward C_InitToken slot 1");
        {
            let s = t.p11.open_rw_session(slot1).unwrap();
            s.login(UserType::So, Some(&pin("bench-so-pin"))).unwrap();
            s.init_pin(&pin(&t.pin)).unwrap();
            s.logout().unwrap();
        }
        let s = t.p11.open_rw_session(slot1).unwrap();
        s.login(UserType::User, Some(&pin(&t.pin))).unwrap();
        for n in 0..filled {
            s.create_object(&make_tmpl(format!("fill-{n}"))).unwrap();
        }
        let mut hs = Vec::new();
        let budget = run_secs() * 4.0;
        let st = Instant::now();
        while st.elapsed().as_secs_f64() < budget {
            hs.push(s.create_object(&make_tmpl(format!("extra-{}", hs.len()))).unwrap());
        }
        let cr = hs.len() as f64 / st.elapsed().as_secs_f64();
        let n = hs.len();
        let st = Instant::now();
        for h in hs {
            s.destroy_object(h).unwrap();
        }
        Some((cr, n as f64 / st.elapsed().as_secs_f64()))
    };
    if let Some((cr, de)) = normal_rates(&kw) {
        let peer = match (&sh, &sh_conf) {
            (Some(t), Some(_)) => normal_rates(t),
            _ => rows
                .iter()
                .find(|r| r.name.starts_with("token C_CreateObject"))
                .and_then(|r| r.sh)
                .zip(rows.iter().find(|r| r.name.starts_with("token C_DestroyObject")).and_then(|r| r.sh)),
        };
        rows.push(Row {
            name: format!("token C_CreateObject at {filled} objects, durability=normal"),
            unit: Unit::Ops,
            kw: Some(cr),
            sh: peer.map(|p| p.0),
            raw: None,
        });
        rows.push(Row {
            name: format!("token C_DestroyObject at {filled} objects, durability=normal"),
            unit: Unit::Ops,
            kw: Some(de),
            sh: peer.map(|p| p.1),
            raw: None,
        });
        eprintln!("row: create/destroy (durability=normal)");
    }

    let _ = kw.p11.finalize();
    let sh_pin = sh.as_ref().map(|t| t.pin.clone());
    if let Some(sh) = sh {
        let _ = sh.p11.finalize();
    }

    // ---------- C_Initialize time and RSS with 10,000 token keys (fresh child processes) ----------
    let exe = std::env::current_exe().unwrap();
    let probe = |module: &str, conf: Option<String>| -> Option<(f64, f64, f64, f64)> {
        let mut runs = Vec::new();
        for _ in 0..3 {
            let mut c = std::process::Command::new(&exe);
            c.arg("init-probe").arg(module);
            if let Some(cf) = &conf {
                c.arg(cf);
            }
            let o = c.output().ok()?;
            let txt = String::from_utf8_lossy(&o.stdout);
            let v: Vec<f64> = txt.split_whitespace().filter_map(|x| x.parse().ok()).collect();
            if v.len() < 5 {
                eprintln!("probe failed: {}", String::from_utf8_lossy(&o.stderr));
                return None;
            }
            runs.push(v);
        }
        runs.sort_by(|a, b| a[0].partial_cmp(&b[0]).unwrap());
        let m = &runs[1];
        Some((m[0], m[1] / 1024.0, m[3] / 1024.0, m[4]))
    };
    let kp = probe(&kw_module, Some(std::env::var("KW_PROBE_CONF").unwrap_or_else(|_| env("KW_CONF"))));
    let sh_probe_conf = std::env::var("SH_PROBE_CONF").ok().or_else(|| sh_conf.clone());
    let sp = if keyward_only { None } else { probe(&sh_module, sh_probe_conf.clone()) };
    rows.push(Row {
        name: "C_Initialize with 10,000 token keys".into(),
        unit: Unit::Ms,
        kw: kp.map(|p| p.0),
        sh: sp.map(|p| p.0),
        raw: None,
    });
    rows.push(Row {
        name: "RSS after C_Initialize, 10,000 keys".into(),
        unit: Unit::Mib,
        kw: kp.map(|p| p.1),
        sh: sp.map(|p| p.1),
        raw: None,
    });
    rows.push(Row {
        name: "RSS after C_Initialize + first C_FindObjects".into(),
        unit: Unit::Mib,
        kw: kp.map(|p| p.2),
        sh: sp.map(|p| p.2),
        raw: None,
    });
    rows.push(Row {
        name: "first C_FindObjects after C_Initialize (10,000 keys)".into(),
        unit: Unit::Ms,
        kw: kp.map(|p| p.3),
        sh: sp.map(|p| p.3),
        raw: None,
    });

    // ---------- the same probe with 100,000 token keys (keyward only) ----------
    // BENCH_BIG=N (default 100000; 0 skips): slot 0 grows to N token keys,
    // then fresh processes C_Initialize it. SoftHSMv2 creates ~100 objects/s
    // (15 minutes for this fill): not measured.
    let big: usize = std::env::var("BENCH_BIG").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    if big > filled && want("100,000") {
        // (module, conf, pin, probe conf) of keyward and of a keyward peer.
        let mut cols = vec![(
            kw_module.clone(),
            kw_conf.clone(),
            kw.pin.clone(),
            std::env::var("KW_PROBE_CONF").unwrap_or_else(|_| env("KW_CONF")),
        )];
        if let (Some(p), Some(c), Some(pc)) = (&sh_pin, &sh_conf, &sh_probe_conf) {
            cols.push((sh_module.clone(), c.clone(), p.clone(), pc.clone()));
        }
        let label = if big == 100_000 { "100,000".to_string() } else { big.to_string() };
        let mut probes = Vec::new();
        for (module, conf, user_pin, probe_conf) in cols {
            let p11 = load(&module, Some(&conf));
            let slot = p11.get_all_slots().unwrap()[0];
            let s = p11.open_rw_session(slot).unwrap();
            s.login(UserType::User, Some(&pin(&user_pin))).unwrap();
            let st = Instant::now();
            for n in filled..big {
                s.create_object(&make_tmpl(format!("fill-{n}"))).unwrap_or_else(|e| panic!("big fill: {e}"));
            }
            eprintln!(
                "{module}: filled {filled}..{big} in {:.1} s ({:.0}/s)",
                st.elapsed().as_secs_f64(),
                (big - filled) as f64 / st.elapsed().as_secs_f64()
            );
            drop(s);
            let _ = p11.finalize();
            probes.push(probe(&module, Some(probe_conf)));
        }
        let (kp, sp) = (probes[0], probes.get(1).copied().flatten());
        rows.push(Row {
            name: format!("C_Initialize with {label} token keys"),
            unit: Unit::Ms,
            kw: kp.map(|p| p.0),
            sh: sp.map(|p| p.0),
            raw: None,
        });
        rows.push(Row {
            name: format!("RSS after C_Initialize, {label} keys"),
            unit: Unit::Mib,
            kw: kp.map(|p| p.1),
            sh: sp.map(|p| p.1),
            raw: None,
        });
        rows.push(Row {
            name: format!("first C_FindObjects after C_Initialize ({label} keys)"),
            unit: Unit::Ms,
            kw: kp.map(|p| p.3),
            sh: sp.map(|p| p.3),
            raw: None,
        });
    }

    // ---------- output ----------
    let mut md = String::new();
    writeln!(
        md,
        "| Operation | {kw_name} | per op | {sh_name} | {kw_name} / {sh_name} | raw engine | {kw_name} / raw |"
    )
    .unwrap();
    writeln!(md, "|---|---:|---:|---:|---:|---:|---:|").unwrap();
    for r in &rows {
        let ratio = r.ratio().map(|x| format!("{x:.2}x")).unwrap_or_else(|| "n/a".into());
        let vs_raw = match (r.kw, r.raw) {
            (Some(k), Some(w)) => format!("{:.0}%", 100.0 * k / w),
            _ => "—".into(),
        };
        let raw = if r.raw.is_some() { fmt_val(r.raw, r.unit) } else { "—".into() };
        writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            fmt_val(r.kw, r.unit),
            per_op(r.kw, r.unit),
            fmt_val(r.sh, r.unit),
            ratio,
            raw,
            vs_raw
        )
        .unwrap();
    }
    writeln!(md).unwrap();
    writeln!(
        md,
        "Fill rate while growing to 10,000 token objects: {kw_name} {:.0}/s, {sh_name} {:.0}/s.",
        fill_rates.first().copied().unwrap_or(0.0),
        fill_rates.get(1).copied().unwrap_or(0.0)
    )
    .unwrap();
    if scaling.iter().any(Option::is_some) {
        let sc = |x: Option<f64>| x.map(|x| format!("{x:.2}x")).unwrap_or("n/a".into());
        writeln!(
            md,
            "2-thread scaling (2 threads / 1 thread, median of {} paired rounds): {kw_name} {}, {sh_name} {}, raw engine {}.",
            5,
            sc(scaling[0]),
            sc(scaling[1]),
            sc(scaling[2])
        )
        .unwrap();
    }
    print!("{md}");
    std::fs::create_dir_all(&out_dir).unwrap();
    std::fs::write(out_dir.join("results.md"), &md).unwrap();
    std::fs::write(out_dir.join("chart.svg"), svg(&rows)).unwrap();
    eprintln!("wrote {}/results.md and chart.svg", out_dir.display());
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Horizontal bars of keyward/SoftHSMv2 (higher = keyward better), log scale.
fn svg(rows: &[Row]) -> String {
    let (lw, bw, rh, top) = (400.0, 460.0, 20.0, 50.0);
    let (lo, hi) = (0.01f64.log10(), 1000f64.log10());
    let x = |v: f64| lw + (v.clamp(0.01, 1000.0).log10() - lo) / (hi - lo) * bw;
    let h = top + rows.len() as f64 * rh + 40.0;
    let w = lw + bw + 90.0;
    let mut o = String::new();
    writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">"#
    )
    .unwrap();
    writeln!(o, r#"<rect width="100%" height="100%" fill="white"/>"#).unwrap();
    writeln!(o, r#"<text x="10" y="20" font-size="14" font-weight="bold">keyward vs SoftHSMv2: speed ratio (log scale, &gt;1 = keyward faster/smaller)</text>"#).unwrap();
    for t in [0.01, 0.1, 1.0, 2.0, 10.0, 100.0, 1000.0] {
        let xx = x(t);
        let col = if t == 1.0 {
            "#000"
        } else if t == 2.0 {
            "#c00"
        } else {
            "#ccc"
        };
        writeln!(
            o,
            r#"<line x1="{xx:.1}" y1="{}" x2="{xx:.1}" y2="{}" stroke="{col}" stroke-dasharray="{}"/>"#,
            top - 5.0,
            h - 30.0,
            if t == 2.0 { "4,3" } else { "" }
        )
        .unwrap();
        writeln!(o, r#"<text x="{xx:.1}" y="{}" text-anchor="middle">{t}x</text>"#, h - 15.0).unwrap();
    }
    for (i, r) in rows.iter().enumerate() {
        let y = top + i as f64 * rh;
        writeln!(o, r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#, lw - 6.0, y + 13.0, esc(&r.name)).unwrap();
        match r.ratio() {
            Some(v) => {
                let (x0, x1) = (x(1.0), x(v));
                let (a, b) = if x1 >= x0 { (x0, x1) } else { (x1, x0) };
                let col = if v >= 2.0 {
                    "#2a7"
                } else if v >= 1.0 {
                    "#e90"
                } else {
                    "#d33"
                };
                writeln!(
                    o,
                    r#"<rect x="{a:.1}" y="{}" width="{:.1}" height="{}" fill="{col}"/>"#,
                    y + 3.0,
                    (b - a).max(1.0),
                    rh - 6.0
                )
                .unwrap();
                writeln!(o, r#"<text x="{:.1}" y="{}">{v:.2}x</text>"#, b.max(x0) + 4.0, y + 13.0).unwrap();
            }
            None => {
                writeln!(
                    o,
                    r##"<text x="{:.1}" y="{}" fill="#888">n/a (SoftHSMv2 lacks it)</text>"##,
                    x(1.0) + 4.0,
                    y + 13.0
                )
                .unwrap();
            }
        }
    }
    writeln!(o, "</svg>").unwrap();
    o
}
