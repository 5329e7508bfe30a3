//! `keyward`: the admin CLI. It links the keyward library and calls the same
//! safe API as the PKCS#11 module (never the C functions), so policy lives in
//! one place.
//!
//! The binary holds the presentation (DESIGN.md §1): clap types, prompts,
//! tables, JSON and CSV. `keys` (`key ...`, `maintain`), `inventory`,
//! `audit` (with `metrics`), `kek`, and `format` (stdout, errors, PINs);
//! `init` and `info` are here. The library returns data and decides.

#[macro_use]
mod format;
mod audit;
mod inventory;
mod kek;
mod keys;
mod store;
mod users;

use audit::AuditCmd;
use clap::{Parser, Subcommand};
use format::pin_or_prompt;
use kek::KekCmd;
use keyward::ck::*;
use keyward::config::Config;
use keyward::library::Library;
use keyward::types::InitOptions;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "keyward", version, about = "Admin CLI of the keyward software HSM")]
struct Cli {
    /// Configuration file (default: $KEYWARD_CONF, XDG, /etc, embedded default).
    #[arg(long, global = true)]
    conf: Option<PathBuf>,
    /// Token to act on, by label (default: the first slot).
    #[arg(long, global = true)]
    token: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create or re-initialize a token and set its SO and user PINs.
    Init {
        /// Token label (at most 32 bytes).
        #[arg(long, default_value = "keyward")]
        label: String,
        /// Slot number (default 0).
        #[arg(long, default_value_t = 0)]
        slot: u64,
        /// SO PIN (else $KEYWARD_SO_PIN, else a prompt).
        #[arg(long, env = "KEYWARD_SO_PIN", hide_env_values = true)]
        so_pin: Option<String>,
        /// User PIN (else $KEYWARD_PIN, else a prompt).
        #[arg(long, env = "KEYWARD_PIN", hide_env_values = true)]
        pin: Option<String>,
    },
    /// Slots, tokens and object counts.
    Info,
    /// The tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// Prometheus metrics of a token (text exposition format).
    Metrics {
        /// Write to this file atomically (e.g. a node_exporter textfile) instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Key lifecycle: create, rotate, disable, delete, restore, tag, expire, import.
    Key {
        #[command(flatten)]
        pin: format::PinArg,
        #[command(subcommand)]
        cmd: keys::KeyCmd,
    },
    /// Run due key rotations and purges (for cron or a systemd timer).
    Maintain {
        #[command(flatten)]
        pin: format::PinArg,
    },
    /// The external key-encryption key ([store] kek_file / kek_credential).
    Kek {
        #[command(subcommand)]
        cmd: KekCmd,
    },
    /// Named users (the SO's): add, list, lock, unlock, passwd, remove.
    User {
        /// SO PIN (else $KEYWARD_SO_PIN, else a prompt).
        #[arg(long, env = "KEYWARD_SO_PIN", hide_env_values = true, global = true)]
        so_pin: Option<String>,
        #[command(subcommand)]
        cmd: users::UserCmd,
    },
    /// Requests waiting for the administrators' quorum (purges): list, approve.
    Request {
        #[command(flatten)]
        pin: format::PinArg,
        #[command(subcommand)]
        cmd: RequestCmd,
    },
    /// Token stores: move a token between backends.
    Store {
        #[command(subcommand)]
        cmd: store::StoreCmd,
    },
    /// Every key and version: algorithm, size, state, origin, dates, next rotation.
    Inventory {
        #[command(flatten)]
        pin: format::PinArg,
        #[command(flatten)]
        format: inventory::InventoryFormat,
    },
}

fn open(conf: &Option<PathBuf>) -> Result<Library, String> {
    let config = Config::load(conf.as_deref()).map_err(|e| e.to_string())?;
    Library::new(config, InitOptions { no_threads: true }).map_err(|e| e.to_string())
}

fn slot_by_label(lib: &Library, label: &Option<String>) -> Result<u64, String> {
    match label {
        None => Ok(0),
        Some(l) => {
            for s in lib.slot_list(true) {
                if lib.token_info(s).map(|t| &t.label == l).unwrap_or(false) {
                    return Ok(s);
                }
            }
            Err(format!("no token labelled {l:?}"))
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    if let Cmd::Kek { cmd: KekCmd::New { file } } = &cli.cmd {
        return kek::new_kek(file);
    }
    // Needs no configured library: it names both stores itself.
    if let Cmd::Store { cmd } = cli.cmd {
        return store::run(cmd);
    }
    let lib = open(&cli.conf)?;
    match cli.cmd {
        Cmd::Init { label, slot, so_pin, pin } => {
            if label.len() > 32 {
                return Err("the label is at most 32 bytes".into());
            }
            let so = pin_or_prompt(so_pin, "SO PIN")?;
            let user = pin_or_prompt(pin, "user PIN")?;
            // (an SO with a second factor re-initializes with its code too)
            let so_code = format::with_totp(&lib, slot, "so", so.clone(), None)?;
            lib.init_token(slot, so_code.as_bytes(), &label).map_err(|e| format!("init token: {e}"))?;
            let h = lib.open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION).map_err(|e| e.to_string())?;
            lib.login(h, CKU_SO, so.as_bytes()).map_err(|e| format!("SO login: {e}"))?;
            lib.init_pin(h, user.as_bytes()).map_err(|e| format!("init user PIN: {e}"))?;
            lib.logout(h).map_err(|e| e.to_string())?;
            lib.close_session(h).map_err(|e| e.to_string())?;
            out!("token {label:?} initialized in slot {slot}");
        }
        Cmd::Audit { cmd } => {
            let slot = slot_by_label(&lib, &cli.token)?;
            audit::run_audit(&lib, slot, cmd)?;
        }
        Cmd::Metrics { output } => {
            let slot = slot_by_label(&lib, &cli.token)?;
            audit::run_metrics(&lib, slot, output)?;
        }
        Cmd::Key { pin, cmd } => {
            let slot = slot_by_label(&lib, &cli.token)?;
            out!("{}", keys::run_key(&lib, slot, &pin, cmd)?);
        }
        Cmd::Maintain { pin } => {
            let slot = slot_by_label(&lib, &cli.token)?;
            out!("{}", keys::run_maintain(&lib, slot, &pin)?);
        }
        Cmd::Kek { cmd } => {
            let slot = slot_by_label(&lib, &cli.token)?;
            kek::run_kek(&lib, slot, cmd)?;
        }
        Cmd::User { so_pin, cmd } => {
            let slot = slot_by_label(&lib, &cli.token)?;
            users::run_user(&lib, slot, so_pin, cmd)?;
        }
        Cmd::Request { pin, cmd } => {
            let slot = slot_by_label(&lib, &cli.token)?;
            let h = format::user_session(&lib, slot, &pin)?;
            let r = match cmd {
                RequestCmd::List => lib.quorum_requests(h).map(|rs| {
                    if rs.is_empty() {
                        out!("no requests");
                    }
                    for r in rs {
                        let by: Vec<&str> = r.approvals.iter().map(|a| a.name.as_str()).collect();
                        out!(
                            "{}  {} {}  requested by {}  approved by {}",
                            r.id,
                            r.act,
                            r.key,
                            r.requested_by,
                            by.join(",")
                        );
                    }
                }),
                RequestCmd::Approve { id } => {
                    lib.quorum_approve(h, id).map(|o| out!("{}", keys::outcome(o, &format!("request {id}"))))
                }
            };
            let _ = lib.close_session(h);
            r.map_err(|e| e.to_string())?;
        }
        Cmd::Inventory { pin, format } => {
            let slot = slot_by_label(&lib, &cli.token)?;
            out!("{}", inventory::run_inventory(&lib, slot, &pin, format)?);
        }
        Cmd::Store { cmd } => store::run(cmd)?,
        Cmd::Info => {
            let _ = slot_by_label(&lib, &cli.token)?;
            out!("keyward {} ({})", env!("CARGO_PKG_VERSION"), lib.config().source);
            for s in lib.slot_list(true) {
                let si = lib.slot_info(s).map_err(|e| e.to_string())?;
                let ti = lib.token_info(s).map_err(|e| e.to_string())?;
                let t = lib.token(s).map_err(|e| e.to_string())?;
                out!("slot {s}: {}", si.description);
                out!("  store: {}", t.store().path().display());
                if ti.flags & CKF_TOKEN_INITIALIZED == 0 {
                    out!("  token: not initialized (run `keyward init`)");
                    continue;
                }
                let objs = t.all_objects().map_err(|e| e.to_string())?;
                let count = |class| objs.iter().filter(|o| o.class == class).count();
                out!("  token: {:?} serial {}", ti.label, ti.serial);
                out!(
                    "  user PIN: {}",
                    if ti.flags & CKF_USER_PIN_LOCKED != 0 {
                        "locked"
                    } else if ti.flags & CKF_USER_PIN_INITIALIZED != 0 {
                        "set"
                    } else {
                        "not set"
                    }
                );
                out!(
                    "  objects: {} ({} secret keys, {} private keys, {} public keys, {} certificates, {} data)",
                    objs.len(),
                    count(CKO_SECRET_KEY),
                    count(CKO_PRIVATE_KEY),
                    count(CKO_PUBLIC_KEY),
                    count(CKO_CERTIFICATE),
                    count(CKO_DATA)
                );
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // KEYWARD_LOG=warn (or more) shows the library's log lines, e.g. the
    // warning that a configuration enables test hooks; unset, the CLI's
    // output is only its own.
    if std::env::var_os("KEYWARD_LOG").is_some() {
        keyward::logging::init();
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keyward: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Subcommand)]
enum RequestCmd {
    /// The requests waiting for approvals.
    List,
    /// Approve a request (as a named administrator: --as NAME).
    Approve { id: u64 },
}
