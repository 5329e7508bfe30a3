//! `keyward key ...` and `keyward maintain`: the clap types of the key
//! lifecycle commands, the templates `key create` asks the token for, and
//! how keys and maintenance reports read on a terminal. Written against the
//! safe API (`Library`), never the C functions; every error is one line for
//! the caller to print.
//!
//! Owns: arguments, prompts and text. Must not touch: lifecycle decisions
//! (the library's `kms_*` calls make them and return data).
#![allow(clippy::unnecessary_cast)] // CK_ULONG is not u64 on every platform

use crate::format::{PinArg, e, json, user_session};
use keyward::ck::*;
use keyward::kms::attrs::{CKA_KEYWARD_ROTATION_PERIOD, CKA_KEYWARD_TAGS, check_tag_key, format_tags};
use keyward::kms::{KeyInfo, Versions, clock};
use keyward::library::Library;
use keyward::types::{Attr, Handle, Mechanism};
use std::collections::BTreeMap;
use std::path::PathBuf;
use zeroize::Zeroizing;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    Aes256,
    Rsa2048,
    Rsa3072,
    Rsa4096,
    P256,
    P384,
    P521,
    Secp256k1,
    // PKCS#11 3.2 post-quantum (ML-DSA signing, ML-KEM key encapsulation)
    #[value(name = "ml-dsa-44")]
    MlDsa44,
    #[value(name = "ml-dsa-65")]
    MlDsa65,
    #[value(name = "ml-dsa-87")]
    MlDsa87,
    #[value(name = "ml-kem-512")]
    MlKem512,
    #[value(name = "ml-kem-768")]
    MlKem768,
    #[value(name = "ml-kem-1024")]
    MlKem1024,
}

#[derive(clap::Subcommand, Debug)]
pub enum KeyCmd {
    /// List keys (primary versions; --all: every version, pending deletions too).
    List {
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Show one key and its versions.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Generate a new key in the token.
    Create {
        name: String,
        #[arg(long = "type", value_enum)]
        key_type: KeyType,
        /// A tag key=value (repeatable).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Automatic rotation period (e.g. 90d; symmetric keys only).
        #[arg(long)]
        rotation_period: Option<String>,
        /// Last day the key may protect new data (YYYY-MM-DD).
        #[arg(long)]
        expires: Option<String>,
    },
    /// Make a new primary version; earlier versions keep decrypting/verifying.
    Rotate { name: String },
    /// Refuse every use of the key (or of one version) until enabled.
    Disable {
        name: String,
        #[arg(long)]
        version: Option<u64>,
    },
    /// Undo `disable`.
    Enable {
        name: String,
        #[arg(long)]
        version: Option<u64>,
    },
    /// Schedule deletion after the token's grace period (restorable until then).
    Delete {
        name: String,
        #[arg(long)]
        version: Option<u64>,
    },
    /// Cancel a scheduled deletion.
    Restore { name: String },
    /// Destroy for good the versions of a key pending deletion (with a purge
    /// quorum: a request the administrators approve with `keyward request`).
    Purge { name: String },
    /// Add or change tags: key=value ...
    Tag {
        name: String,
        #[arg(required = true)]
        tags: Vec<String>,
    },
    /// Remove tags by key.
    Untag {
        name: String,
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Set the last valid day (YYYY-MM-DD) or `never`.
    Expire { name: String, date: String },
    /// Set the automatic rotation period (e.g. 90d) or `never`.
    RotationPeriod { name: String, period: String },
    /// Import a PKCS#8 private key (PEM or DER) or a raw AES key file.
    Import {
        name: String,
        #[arg(long)]
        file: PathBuf,
    },
    /// The SO (or, with --as, an administrator of the key) grants USER the
    /// operations OPS on a key a named user made:
    /// encrypt,decrypt,sign,verify,wrap,unwrap,derive,encapsulate,decapsulate,
    /// admin, or use (every use), all.
    Grant {
        name: String,
        user: String,
        ops: String,
        /// SO PIN (else $KEYWARD_SO_PIN, else a prompt).
        #[arg(long, env = "KEYWARD_SO_PIN", hide_env_values = true)]
        so_pin: Option<String>,
    },
    /// The SO (or, with --as, an administrator of the key) revokes USER's
    /// grant on a key; the key is re-keyed (its rows sealed under a new data key).
    Revoke {
        name: String,
        user: String,
        /// SO PIN (else $KEYWARD_SO_PIN, else a prompt).
        #[arg(long, env = "KEYWARD_SO_PIN", hide_env_values = true)]
        so_pin: Option<String>,
    },
    /// Who holds which grant on a key a named user made.
    Grants {
        name: String,
        /// SO PIN (else $KEYWARD_SO_PIN, else a prompt).
        #[arg(long, env = "KEYWARD_SO_PIN", hide_env_values = true)]
        so_pin: Option<String>,
    },
}

/// What a purge (or an approval) came to, as text.
/// (`what`: the act, for a request or a grant change.)
pub fn outcome(o: keyward::token::quorum::Outcome, what: &str) -> String {
    use keyward::token::quorum::Outcome;
    match o {
        Outcome::Purged(v) => {
            let list: Vec<String> = v.iter().map(|m| format!("{} v{}", m.label, m.version)).collect();
            format!("purged {}", list.join(", "))
        }
        Outcome::Pending { id, have, need } => {
            format!("{what} waits for the quorum: request {id}, {have} of {need} approvals")
        }
        Outcome::Done => format!("{what}: done"),
    }
}

/// The grant commands: run as the SO (through its recovery wraps).
fn run_grant(lib: &Library, slot: Handle, pin: &PinArg, cmd: KeyCmd) -> Result<String, String> {
    let so_pin = match &cmd {
        KeyCmd::Grant { so_pin, .. } | KeyCmd::Revoke { so_pin, .. } | KeyCmd::Grants { so_pin, .. } => so_pin.clone(),
        _ => None,
    };
    // As the SO, or (--as NAME) as an administrator of the key.
    let (h, login) = match &pin.as_user {
        Some(_) => (user_session(lib, slot, pin)?, Ok(())),
        None => {
            let h = lib.open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION).map_err(e)?;
            let so = crate::format::with_totp(lib, slot, "so", crate::format::pin_or_prompt(so_pin, "SO PIN")?, None)?;
            (h, lib.login(h, CKU_SO, so.as_bytes()).map_err(|x| format!("SO login: {x}")))
        }
    };
    let out = login.and_then(|()| match cmd {
        KeyCmd::Grant { name, user, ops, .. } => {
            let bits = keyward::object::policy::grant::parse(&ops).map_err(e)?;
            match lib.key_grant(h, &name, &user, bits).map_err(e)? {
                keyward::token::quorum::Outcome::Done => {
                    Ok(format!("granted {} on {name} to {user}", keyward::object::policy::grant::names(bits)))
                }
                o => Ok(outcome(o, &format!("the grant on {name} to {user}"))),
            }
        }
        KeyCmd::Revoke { name, user, .. } => match lib.key_revoke(h, &name, &user).map_err(e)? {
            keyward::token::quorum::Outcome::Done => Ok(format!("revoked {user}'s grant on {name}")),
            o => Ok(outcome(o, &format!("the revoke of {user}'s grant on {name}"))),
        },
        KeyCmd::Grants { name, .. } => {
            let gs = lib.key_grants(h, &name).map_err(e)?;
            let mut s = format!("{:<24} {:<40} GRANTED BY\n", "USER", "OPERATIONS");
            for g in gs {
                let ops =
                    if g.ops == 0 { "(recovery)".to_string() } else { keyward::object::policy::grant::names(g.ops) };
                s.push_str(&format!("{:<24} {:<40} {}\n", g.user, ops, g.granter));
            }
            Ok(s.trim_end().to_string())
        }
        _ => Err("not a grant command".into()),
    });
    let _ = lib.logout(h);
    let _ = lib.close_session(h);
    out
}

fn versions(v: Option<u64>) -> Versions {
    v.map(Versions::One).unwrap_or(Versions::All)
}

fn parse_tag_args(args: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for a in args {
        let (k, v) = a.split_once('=').ok_or_else(|| format!("tag {a:?} is not key=value"))?;
        check_tag_key(k.trim()).map_err(e)?;
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(out)
}

fn show_key(k: &KeyInfo) -> String {
    let mut s = format!(
        "{}  {} {}  primary v{}  {}\n",
        k.name,
        k.algorithm,
        k.size_bits,
        k.primary_version.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
        k.state
    );
    s += &format!("  key id: {}\n", k.key_id);
    if !k.id.is_empty() {
        s += &format!("  id: {}\n", k.id);
    }
    if !k.tags.is_empty() {
        s += &format!("  tags: {}\n", k.tags.iter().map(|(a, b)| format!("{a}={b}")).collect::<Vec<_>>().join(","));
    }
    if !k.rotation_period.is_empty() {
        s += &format!("  rotation: every {}, next {}\n", k.rotation_period, k.next_rotation);
    }
    for v in &k.versions {
        s += &format!(
            "  v{}{}  {}  {}  created {}{}{}{}\n",
            v.version,
            if v.primary { " (primary)" } else { "" },
            v.state,
            v.origin,
            v.created,
            if v.rotated.is_empty() { String::new() } else { format!("  rotated {}", v.rotated) },
            if v.end_date.is_empty() { String::new() } else { format!("  expires {}", v.end_date) },
            if v.destroy_at.is_empty() { String::new() } else { format!("  destroyed at {}", v.destroy_at) },
        );
    }
    s
}

fn random_id() -> Result<Vec<u8>, String> {
    let mut id = vec![0u8; 8];
    keyward::crypto::random_fill(&mut id).map_err(|_| "rng failed".to_string())?;
    Ok(id)
}

fn ec_params(k: KeyType) -> Vec<u8> {
    match k {
        KeyType::P384 => vec![0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
        KeyType::P521 => vec![0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23],
        KeyType::Secp256k1 => vec![0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a],
        _ => vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
    }
}

#[allow(clippy::too_many_arguments)]
fn create(
    lib: &Library,
    h: Handle,
    name: &str,
    kt: KeyType,
    tags: &[String],
    period: Option<&str>,
    expires: Option<&str>,
) -> Result<String, String> {
    if lib.kms_key(h, name).is_ok() {
        return Err(format!("a key named {name:?} already exists"));
    }
    let tags = parse_tag_args(tags)?;
    let id = random_id()?;
    let mut common =
        vec![Attr::bool(CKA_TOKEN, true), Attr::new(CKA_LABEL, name.as_bytes().to_vec()), Attr::new(CKA_ID, id)];
    if !tags.is_empty() {
        common.push(Attr::new(CKA_KEYWARD_TAGS, format_tags(&tags)));
    }
    if let Some(d) = expires {
        common.push(Attr::new(CKA_END_DATE, clock::parse_date(d).map_err(e)?.to_vec()));
    }
    let private = [Attr::bool(CKA_PRIVATE, true), Attr::bool(CKA_SENSITIVE, true), Attr::bool(CKA_EXTRACTABLE, false)];
    let period = match period {
        Some(p) => Some(clock::parse_duration(p).map_err(e)?),
        None => None,
    };
    if period.is_some_and(|p| p > 0) && kt != KeyType::Aes256 {
        return Err("automatic rotation (--rotation-period) is for symmetric keys".into());
    }
    match kt {
        KeyType::Aes256 => {
            let mut t = common.clone();
            t.extend(private.iter().cloned());
            t.extend([
                Attr::ulong(CKA_CLASS, CKO_SECRET_KEY),
                Attr::ulong(CKA_KEY_TYPE, CKK_AES),
                Attr::ulong(CKA_VALUE_LEN, 32),
                Attr::bool(CKA_ENCRYPT, true),
                Attr::bool(CKA_DECRYPT, true),
                Attr::bool(CKA_WRAP, true),
                Attr::bool(CKA_UNWRAP, true),
            ]);
            if let Some(p) = period {
                t.push(Attr::ulong(CKA_KEYWARD_ROTATION_PERIOD, p as CK_ULONG));
            }
            lib.generate_key(h, &Mechanism::new(CKM_AES_KEY_GEN), &t).map_err(e)?;
        }
        KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => {
            let bits = match kt {
                KeyType::Rsa2048 => 2048,
                KeyType::Rsa3072 => 3072,
                _ => 4096,
            };
            let mut p = common.clone();
            p.extend([
                Attr::ulong(CKA_MODULUS_BITS, bits),
                Attr::new(CKA_PUBLIC_EXPONENT, vec![1, 0, 1]),
                Attr::bool(CKA_VERIFY, true),
                Attr::bool(CKA_ENCRYPT, true),
                Attr::bool(CKA_WRAP, true),
            ]);
            let mut q = common.clone();
            q.extend(private.iter().cloned());
            q.extend([Attr::bool(CKA_SIGN, true), Attr::bool(CKA_DECRYPT, true), Attr::bool(CKA_UNWRAP, true)]);
            lib.generate_key_pair(h, &Mechanism::new(CKM_RSA_PKCS_KEY_PAIR_GEN), &p, &q).map_err(e)?;
        }
        KeyType::P256 | KeyType::P384 | KeyType::P521 | KeyType::Secp256k1 => {
            let mut p = common.clone();
            p.extend([
                Attr::new(CKA_EC_PARAMS, ec_params(kt)),
                Attr::bool(CKA_VERIFY, true),
                Attr::bool(CKA_ENCRYPT, false),
                Attr::bool(CKA_WRAP, false),
            ]);
            let mut q = common.clone();
            q.extend(private.iter().cloned());
            q.extend([
                Attr::bool(CKA_SIGN, true),
                Attr::bool(CKA_DERIVE, true),
                Attr::bool(CKA_DECRYPT, false),
                Attr::bool(CKA_UNWRAP, false),
            ]);
            lib.generate_key_pair(h, &Mechanism::new(CKM_EC_KEY_PAIR_GEN), &p, &q).map_err(e)?;
        }
        KeyType::MlDsa44 | KeyType::MlDsa65 | KeyType::MlDsa87 => {
            let set = match kt {
                KeyType::MlDsa44 => CKP_ML_DSA_44,
                KeyType::MlDsa65 => CKP_ML_DSA_65,
                _ => CKP_ML_DSA_87,
            };
            let mut p = common.clone();
            p.extend([
                Attr::ulong(CKA_PARAMETER_SET, set),
                Attr::bool(CKA_VERIFY, true),
                Attr::bool(CKA_ENCAPSULATE, false),
            ]);
            let mut q = common.clone();
            q.extend(private.iter().cloned());
            q.extend([Attr::bool(CKA_SIGN, true), Attr::bool(CKA_DECAPSULATE, false)]);
            lib.generate_key_pair(h, &Mechanism::new(CKM_ML_DSA_KEY_PAIR_GEN), &p, &q).map_err(e)?;
        }
        KeyType::MlKem512 | KeyType::MlKem768 | KeyType::MlKem1024 => {
            let set = match kt {
                KeyType::MlKem512 => CKP_ML_KEM_512,
                KeyType::MlKem768 => CKP_ML_KEM_768,
                _ => CKP_ML_KEM_1024,
            };
            let mut p = common.clone();
            p.extend([
                Attr::ulong(CKA_PARAMETER_SET, set),
                Attr::bool(CKA_ENCAPSULATE, true),
                Attr::bool(CKA_VERIFY, false),
                Attr::bool(CKA_ENCRYPT, false),
                Attr::bool(CKA_WRAP, false),
            ]);
            let mut q = common.clone();
            q.extend(private.iter().cloned());
            q.extend([
                Attr::bool(CKA_DECAPSULATE, true),
                Attr::bool(CKA_SIGN, false),
                Attr::bool(CKA_DECRYPT, false),
                Attr::bool(CKA_UNWRAP, false),
            ]);
            lib.generate_key_pair(h, &Mechanism::new(CKM_ML_KEM_KEY_PAIR_GEN), &p, &q).map_err(e)?;
        }
    }
    let type_name = clap::ValueEnum::to_possible_value(&kt).map(|v| v.get_name().to_string()).unwrap_or_default();
    Ok(format!("created {name} ({type_name}), version 1"))
}

/// Runs one `keyward key ...` command; returns what to print.
pub fn run_key(lib: &Library, slot: Handle, pin: &PinArg, cmd: KeyCmd) -> Result<String, String> {
    if matches!(cmd, KeyCmd::Grant { .. } | KeyCmd::Revoke { .. } | KeyCmd::Grants { .. }) {
        return run_grant(lib, slot, pin, cmd);
    }
    let h = user_session(lib, slot, pin)?;
    let out = run_key_in(lib, h, cmd);
    let _ = lib.close_session(h);
    out
}

fn run_key_in(lib: &Library, h: Handle, cmd: KeyCmd) -> Result<String, String> {
    Ok(match cmd {
        KeyCmd::List { all, json: as_json } => {
            let keys = lib.kms_keys(h, all).map_err(e)?;
            if as_json {
                let keys: Vec<KeyInfo> = if all {
                    keys
                } else {
                    keys.into_iter()
                        .map(|mut k| {
                            k.versions.retain(|v| Some(v.version) == k.primary_version);
                            k
                        })
                        .collect()
                };
                json(&keys)?
            } else if keys.is_empty() {
                "no keys".into()
            } else if all {
                keys.iter().map(show_key).collect::<String>().trim_end().to_string()
            } else {
                let mut s = format!(
                    "{:<24} {:<32} {:<16} {:>5} {:>8} {:<17} TAGS\n",
                    "NAME", "KEY ID", "ALGORITHM", "BITS", "VERSION", "STATE"
                );
                for k in &keys {
                    s += &format!(
                        "{:<24} {:<32} {:<16} {:>5} {:>8} {:<17} {}\n",
                        k.name,
                        k.key_id,
                        k.algorithm,
                        k.size_bits,
                        k.primary_version.map(|v| v.to_string()).unwrap_or_default(),
                        k.state,
                        k.tags.iter().map(|(a, b)| format!("{a}={b}")).collect::<Vec<_>>().join(",")
                    );
                }
                s.trim_end().to_string()
            }
        }
        KeyCmd::Show { name, json: as_json } => {
            let k = lib.kms_key(h, &name).map_err(e)?;
            if as_json { json(&k)? } else { show_key(&k).trim_end().to_string() }
        }
        KeyCmd::Create { name, key_type, tags, rotation_period, expires } => {
            create(lib, h, &name, key_type, &tags, rotation_period.as_deref(), expires.as_deref())?
        }
        KeyCmd::Rotate { name } => {
            let r = lib.kms_rotate(h, &name).map_err(e)?;
            format!("rotated {name}: version {} is now primary", r.version)
        }
        KeyCmd::Disable { name, version } => {
            lib.kms_set_enabled(h, &name, versions(version), false).map_err(e)?;
            format!("disabled {name}{}", version.map(|v| format!(" version {v}")).unwrap_or_default())
        }
        KeyCmd::Enable { name, version } => {
            lib.kms_set_enabled(h, &name, versions(version), true).map_err(e)?;
            format!("enabled {name}{}", version.map(|v| format!(" version {v}")).unwrap_or_default())
        }
        KeyCmd::Delete { name, version } => {
            let at = lib.kms_delete(h, &name, versions(version)).map_err(e)?;
            let what = version.map(|v| format!("{name} version {v}")).unwrap_or_else(|| name.clone());
            if at == 0 {
                format!("deleted {what}")
            } else {
                format!(
                    "{what} scheduled for deletion at {} (undo with `keyward key restore {name}`)",
                    clock::format_time(at)
                )
            }
        }
        KeyCmd::Restore { name } => {
            let n = lib.kms_restore(h, &name).map_err(e)?;
            format!("restored {name} ({n} object(s))")
        }
        KeyCmd::Tag { name, tags } => {
            let add = parse_tag_args(&tags)?;
            let t = lib.kms_tag(h, &name, &add, &[]).map_err(e)?;
            format!("{name} tags: {}", String::from_utf8_lossy(&format_tags(&t)))
        }
        KeyCmd::Untag { name, keys } => {
            let t = lib.kms_tag(h, &name, &BTreeMap::new(), &keys).map_err(e)?;
            format!("{name} tags: {}", String::from_utf8_lossy(&format_tags(&t)))
        }
        KeyCmd::Expire { name, date } => {
            let d = if date == "never" { None } else { Some(clock::parse_date(&date).map_err(e)?) };
            lib.kms_expire(h, &name, d).map_err(e)?;
            match d {
                Some(d) => format!("{name} expires after {}", clock::format_date(&d)),
                None => format!("{name} never expires"),
            }
        }
        KeyCmd::RotationPeriod { name, period } => {
            let secs = if period == "never" { 0 } else { clock::parse_duration(&period).map_err(e)? };
            let next = lib.kms_set_rotation_period(h, &name, secs).map_err(e)?;
            if secs == 0 {
                format!("{name}: automatic rotation off")
            } else {
                format!("{name}: rotates every {}, next at {}", clock::format_duration(secs), clock::format_time(next))
            }
        }
        KeyCmd::Import { name, file } => {
            let data =
                Zeroizing::new(std::fs::read(&file).map_err(|x| format!("cannot read {}: {x}", file.display()))?);
            let hs = lib.kms_import(h, &name, &data, &random_id()?).map_err(e)?;
            format!("imported {name} ({} object(s)), version 1", hs.len())
        }
        KeyCmd::Purge { name } => outcome(lib.kms_purge(h, &name).map_err(e)?, &format!("the purge of {name}")),
        KeyCmd::Grant { .. } | KeyCmd::Revoke { .. } | KeyCmd::Grants { .. } => {
            return Err("grant commands run as the SO".into());
        }
    })
}

/// `keyward maintain`: due rotations and purges.
pub fn run_maintain(lib: &Library, slot: Handle, pin: &PinArg) -> Result<String, String> {
    let h = user_session(lib, slot, pin)?;
    let r = lib.kms_maintain(h).map_err(e);
    let _ = lib.close_session(h);
    let r = r?;
    let mut s = format!("rotated {} key(s), purged {} version(s)", r.rotated.len(), r.purged.len());
    for x in &r.rotated {
        s += &format!("\n  rotated {} v{}", x.label, x.version);
    }
    for x in &r.purged {
        s += &format!("\n  purged {} v{} ({})", x.label, x.version, x.object.unwrap_or("-"));
    }
    Ok(s)
}
