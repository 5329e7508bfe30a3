//! Post-quantum rows (PKCS#11 3.2; SoftHSMv2 2.6 has neither, so its
//! column is n/a): ML-DSA-44/65/87 key generation, sign and verify
//! (CKM_ML_DSA, hedged, no context, a 64-byte message) and
//! ML-KEM-512/768/1024 key generation, C_EncapsulateKey and
//! C_DecapsulateKey (each makes a generic-secret session object: destroyed
//! every [`BATCH`] calls outside the timed part, so the session holds at
//! most that many, as an application that uses its keys does), beside the
//! raw engine (aws-lc-rs in this process), keyward's and the engine's timed
//! blocks alternating ([`paired`]).

use super::{Row, Unit, want};
use aws_lc_rs::signature::{KeyPair, UnparsedPublicKey};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

/// One row: `$kw` is a timed block on one token (`$s` its session, `$i`
/// its index, `$secs` the block's length: its rate back), `$raw` a timed
/// block of the raw engine in-process. The first token's blocks alternate
/// with the raw engine's ([`paired`]), so both see the same host load.
macro_rules! row {
    ($sessions:expr, $rows:expr, $name:expr, |$s:ident, $i:ident, $secs:ident| $kw:expr, |$rsecs:ident| $raw:expr) => {{
        let name: String = $name.into();
        if want(&name) {
            eprintln!("row: {name}");
            let mut vals = [None, None];
            let mut raw = None;
            for ($i, $s) in $sessions.iter().enumerate() {
                let (k, r) = if $i == 0 {
                    paired(|$secs: f64| $kw, Some(|$rsecs: f64| $raw))
                } else {
                    paired(|$secs: f64| $kw, None::<fn(f64) -> Option<f64>>)
                };
                vals[$i] = k;
                if $i == 0 {
                    raw = r;
                }
            }
            $rows.push(Row { name, unit: Unit::Ops, kw: vals[0], sh: vals[1], raw });
        }
    }};
}

/// Timed blocks per side of a row (each `RUNS * run_secs() / BLOCKS` long).
const BLOCKS: usize = 9;

/// The medians of [`BLOCKS`] blocks of `kw` and of `raw`, run alternately
/// (kw, raw, kw, raw ...): host noise (frequency, neighbours) drifts over
/// seconds, and blocks side by side see the same. A block returns its
/// rate, `None` when the operation fails (the row is n/a).
fn paired(
    mut kw: impl FnMut(f64) -> Option<f64>,
    mut raw: Option<impl FnMut(f64) -> Option<f64>>,
) -> (Option<f64>, Option<f64>) {
    let secs = super::run_secs() * super::RUNS as f64 / BLOCKS as f64;
    let (mut k, mut r) = (Vec::new(), Vec::new());
    let (mut k_ok, mut r_ok) = (true, raw.is_some());
    for _ in 0..BLOCKS {
        if k_ok {
            match kw(secs) {
                Some(x) => k.push(x),
                None => k_ok = false,
            }
        }
        if let Some(raw) = raw.as_mut().filter(|_| r_ok) {
            match raw(secs) {
                Some(x) => r.push(x),
                None => r_ok = false,
            }
        }
    }
    let median = |mut v: Vec<f64>, ok: bool| {
        v.sort_by(|a, b| a.total_cmp(b));
        (ok && !v.is_empty()).then(|| v[v.len() / 2])
    };
    (median(k, k_ok), median(r, r_ok))
}

/// The rate of `f` over one block of `secs` (`None`, said once, if it fails).
fn block<E: std::fmt::Debug>(what: &str, secs: f64, f: impl FnMut() -> Result<(), E>) -> Option<f64> {
    super::timed_run(what, secs, 1, f)
}

type Pair = (ObjectHandle, ObjectHandle);

/// Keys an encapsulation row makes before destroying them (untimed).
const BATCH: usize = 64;

/// [`block`] for a call that makes a session object: every [`BATCH`]
/// calls the objects made are destroyed with the clock stopped (before,
/// they piled up through the whole row: tens of thousands of live keys,
/// which the raw engine's dropped secrets do not have).
fn block_making(
    what: &str,
    s: &Session,
    secs: f64,
    mut op: impl FnMut() -> cryptoki::error::Result<ObjectHandle>,
) -> Option<f64> {
    let mut made = Vec::with_capacity(BATCH);
    let (mut n, mut timed) = (0u64, 0f64);
    while timed < secs {
        let t = std::time::Instant::now();
        for _ in 0..BATCH {
            match op() {
                Ok(h) => made.push(h),
                Err(e) => {
                    eprintln!("  n/a: {what}: {e:?}");
                    return None;
                }
            }
        }
        timed += t.elapsed().as_secs_f64();
        n += BATCH as u64;
        for h in made.drain(..) {
            let _ = s.destroy_object(h);
        }
    }
    Some(n as f64 / timed)
}

/// The "`name` key generation" row (`gen_pair` on each token, the pairs
/// destroyed after the timed run; `raw` the engine's rate), then one key
/// pair per token for the rows that use it (`None` where generation fails).
fn keygen_row(
    sessions: &[Session],
    rows: &mut Vec<Row>,
    name: &str,
    gen_pair: &dyn Fn(&Session) -> cryptoki::error::Result<Pair>,
    raw: &dyn Fn(f64) -> Option<f64>,
) -> Vec<Option<Pair>> {
    row!(
        sessions,
        rows,
        format!("{name} key generation"),
        |s, _i, secs| {
            let mut hs = Vec::new();
            let r = block("keygen", secs, || {
                gen_pair(s).map(|(a, b)| {
                    hs.push(a);
                    hs.push(b);
                })
            });
            for h in hs {
                let _ = s.destroy_object(h);
            }
            r
        },
        |secs| raw(secs)
    );
    sessions.iter().map(|s| gen_pair(s).map_err(|e| eprintln!("  n/a: {name} keygen: {e}")).ok()).collect()
}

pub fn rows(sessions: &[Session], rows: &mut Vec<Row>) {
    use aws_lc_rs::kem::{DecapsulationKey, ML_KEM_512, ML_KEM_768, ML_KEM_1024};
    use aws_lc_rs::signature::{
        ML_DSA_44, ML_DSA_44_SIGNING, ML_DSA_65, ML_DSA_65_SIGNING, ML_DSA_87, ML_DSA_87_SIGNING, PqdsaKeyPair,
    };
    use cryptoki::mechanism::dsa::{HedgeType, SignAdditionalContext};
    use cryptoki::object::{MlDsaParameterSetType, MlKemParameterSetType};
    let msg = vec![0x5au8; 64];
    let ml_dsa = Mechanism::MlDsa(SignAdditionalContext::new(HedgeType::Preferred, None));
    for (name, set, salg, valg, sig_len) in [
        ("ML-DSA-44", MlDsaParameterSetType::ML_DSA_44, &ML_DSA_44_SIGNING, &ML_DSA_44, 2420usize),
        ("ML-DSA-65", MlDsaParameterSetType::ML_DSA_65, &ML_DSA_65_SIGNING, &ML_DSA_65, 3309),
        ("ML-DSA-87", MlDsaParameterSetType::ML_DSA_87, &ML_DSA_87_SIGNING, &ML_DSA_87, 4627),
    ] {
        let gen_pair = |s: &Session| {
            s.generate_key_pair(
                &Mechanism::MlDsaKeyPairGen,
                &[Attribute::ParameterSet(set.into()), Attribute::Token(false), Attribute::Verify(true)],
                &[Attribute::Token(false), Attribute::Sign(true)],
            )
        };
        let keys = keygen_row(sessions, rows, name, &gen_pair, &|secs| {
            block("raw", secs, || PqdsaKeyPair::generate(salg).map(|_| ()))
        });
        let raw_kp = PqdsaKeyPair::generate(salg).unwrap();
        let mut raw_sig = vec![0u8; sig_len];
        raw_kp.sign(&msg, &mut raw_sig).unwrap();
        row!(
            sessions,
            rows,
            format!("{name} sign"),
            |s, i, secs| keys[i]
                .and_then(|(_, pv)| block("ml-dsa sign", secs, || s.sign(&ml_dsa, pv, &msg).map(|_| ()))),
            |secs| {
                let mut out = vec![0u8; sig_len];
                block("raw", secs, || raw_kp.sign(&msg, &mut out).map(|_| ()))
            }
        );
        row!(
            sessions,
            rows,
            format!("{name} verify"),
            |s, i, secs| {
                keys[i].and_then(|(pb, pv)| {
                    let sg = s.sign(&ml_dsa, pv, &msg).ok()?;
                    block("ml-dsa verify", secs, || s.verify(&ml_dsa, pb, &msg, &sg))
                })
            },
            |secs| {
                let pk = UnparsedPublicKey::new(valg, raw_kp.public_key().as_ref().to_vec());
                block("raw", secs, || pk.verify(&msg, &raw_sig))
            }
        );
    }
    let secret = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Token(false),
    ];
    for (name, set, alg) in [
        ("ML-KEM-512", MlKemParameterSetType::ML_KEM_512, &ML_KEM_512),
        ("ML-KEM-768", MlKemParameterSetType::ML_KEM_768, &ML_KEM_768),
        ("ML-KEM-1024", MlKemParameterSetType::ML_KEM_1024, &ML_KEM_1024),
    ] {
        let gen_pair = |s: &Session| {
            s.generate_key_pair(
                &Mechanism::MlKemKeyPairGen,
                &[Attribute::ParameterSet(set.into()), Attribute::Token(false), Attribute::Encapsulate(true)],
                &[Attribute::Token(false), Attribute::Decapsulate(true)],
            )
        };
        let keys = keygen_row(sessions, rows, name, &gen_pair, &|secs| {
            block("raw", secs, || DecapsulationKey::generate(alg).map(|_| ()))
        });
        let raw_dk = DecapsulationKey::generate(alg).unwrap();
        let raw_ek = raw_dk.encapsulation_key().unwrap();
        // keyward's encapsulation and decapsulation each make a session
        // secret key object (PKCS#11 returns a key, not bytes); it is
        // destroyed after the run.
        row!(
            sessions,
            rows,
            format!("{name} encapsulate"),
            |s, i, secs| {
                keys[i].and_then(|(pb, _)| {
                    block_making("ml-kem encapsulate", s, secs, || {
                        s.encapsulate_key(&Mechanism::MlKem, pb, &secret).map(|(_, h)| h)
                    })
                })
            },
            |secs| block("raw", secs, || raw_ek.encapsulate().map(|_| ()))
        );
        row!(
            sessions,
            rows,
            format!("{name} decapsulate"),
            |s, i, secs| {
                keys[i].and_then(|(pb, pv)| {
                    let (ct, h0) = s.encapsulate_key(&Mechanism::MlKem, pb, &secret).ok()?;
                    let _ = s.destroy_object(h0);
                    block_making("ml-kem decapsulate", s, secs, || {
                        s.decapsulate_key(&Mechanism::MlKem, pv, &secret, &ct)
                    })
                })
            },
            |secs| {
                let (ct, _) = raw_ek.encapsulate().unwrap();
                block("raw", secs, || raw_dk.decapsulate(ct.as_ref().into()).map(|_| ()))
            }
        );
    }
}
