//! `keyward`: the admin CLI. It links the keyward library and calls the same
//! safe API as the PKCS#11 module (never the C functions), so policy lives in
//! one place.

use clap::{Parser, Subcommand};
use keyward::ck::*;
use keyward::config::Config;
use keyward::library::Library;
use keyward::types::InitOptions;
use std::path::PathBuf;
use std::process::ExitCode;

/// `println!` that ends the program quietly when stdout is a closed pipe
/// (`keyward audit show | head`) instead of panicking.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($t)*) {
            exit_on_stdout_error(e);
        }
    }};
}

/// `print!`, likewise.
macro_rules! outp {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout(), $($t)*) {
            exit_on_stdout_error(e);
        }
    }};
}

fn exit_on_stdout_error(e: std::io::Error) {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("keyward: cannot write to stdout: {e}");
    std::process::exit(1);
}

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
        pin: keyward::kms::cli::PinArg,
        #[command(subcommand)]
        cmd: keyward::kms::cli::KeyCmd,
    },
    /// Run due key rotations and purges (for cron or a systemd timer).
    Maintain {
        #[command(flatten)]
        pin: keyward::kms::cli::PinArg,
    },
    /// The external key-encryption key ([store] kek_file / kek_credential).
    Kek {
        #[command(subcommand)]
        cmd: KekCmd,
    },
    /// Every key and version: algorithm, size, state, origin, dates, next rotation.
    Inventory {
        #[command(flatten)]
        pin: keyward::kms::cli::PinArg,
        #[command(flatten)]
        format: keyward::kms::cli::InventoryFormat,
    },
}

#[derive(Subcommand)]
enum KekCmd {
    /// Create a new random KEK in FILE (mode 0600; never overwrites) and print its id.
    New { file: PathBuf },
    /// Wrap the token's SO and user PINs under the configured KEK now, by
    /// logging in as both (otherwise each is re-wrapped at its next login).
    Add {
        /// SO PIN (else $KEYWARD_SO_PIN, else a prompt).
        #[arg(long, env = "KEYWARD_SO_PIN", hide_env_values = true)]
        so_pin: Option<String>,
        /// User PIN (else $KEYWARD_PIN, else a prompt).
        #[arg(long, env = "KEYWARD_PIN", hide_env_values = true)]
        pin: Option<String>,
    },
    /// The configured KEK and which PINs of the token need it.
    Status,
}

fn kek_status(lib: &Library, slot: u64) -> Result<bool, String> {
    let st = lib.token(slot).map_err(|e| e.to_string())?.kek_status().map_err(|e| e.to_string())?;
    match &st.configured {
        None => out!("configured KEK: none"),
        Some(Ok((id, source))) => out!("configured KEK: id {id} ({source})"),
        Some(Err(e)) => out!("configured KEK: unusable: {e}"),
    }
    let mut all = true;
    for (role, w) in [("SO", &st.so), ("user", &st.user)] {
        match w {
            None => out!("{role} PIN: not set"),
            Some(None) => {
                all = false;
                out!("{role} PIN: PIN only (a copy of the store can be attacked offline)")
            }
            Some(Some(id)) => out!("{role} PIN: PIN + KEK id {id}"),
        }
    }
    Ok(all)
}

fn run_kek(lib: &Library, slot: u64, cmd: KekCmd) -> Result<(), String> {
    match cmd {
        KekCmd::New { .. } => Err("handled before the library opens".into()),
        KekCmd::Status => kek_status(lib, slot).map(|_| ()),
        KekCmd::Add { so_pin, pin } => {
            let t = lib.token(slot).map_err(|e| e.to_string())?;
            if t.kek_status().map_err(|e| e.to_string())?.configured.is_none() {
                return Err("no KEK configured: set [store] kek_file (keyward kek new FILE makes one)".into());
            }
            let h = lib.open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION).map_err(|e| e.to_string())?;
            let so = pin_or_prompt(so_pin, "SO PIN")?;
            lib.login(h, CKU_SO, so.as_bytes()).map_err(|e| format!("SO login: {e}"))?;
            lib.logout(h).map_err(|e| e.to_string())?;
            if t.kek_status().map_err(|e| e.to_string())?.user.is_some() {
                let user = pin_or_prompt(pin, "user PIN")?;
                lib.login(h, CKU_USER, user.as_bytes()).map_err(|e| format!("user login: {e}"))?;
                lib.logout(h).map_err(|e| e.to_string())?;
            }
            lib.close_session(h).map_err(|e| e.to_string())?;
            if !kek_status(lib, slot)? {
                return Err("a PIN is still not wrapped under the KEK".into());
            }
            Ok(())
        }
    }
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Check the MAC chain; report the first broken record and exit non-zero.
    Verify {
        /// Also check against the anchors an external witness saw: the
        /// events file ([events] file) or a syslog file with keyward's
        /// `dev.keyward.audit.anchor` events.
        #[arg(long)]
        witness: Option<PathBuf>,
    },
    /// Print records (oldest first).
    Show {
        /// Only records at or after this time (RFC 3339, YYYY-MM-DD, or an age like 15m, 2h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// Only records naming this key (label, UID or handle).
        #[arg(long)]
        key: Option<String>,
        /// Print the raw JSON lines.
        #[arg(long)]
        json: bool,
    },
}

fn run_audit(lib: &Library, slot: u64, cmd: AuditCmd) -> Result<(), String> {
    let t = lib.token(slot).map_err(|e| e.to_string())?;
    let dir = t.audit_dir();
    match cmd {
        AuditCmd::Verify { witness } => {
            let text = match &witness {
                Some(p) => Some(std::fs::read_to_string(p).map_err(|e| format!("witness {}: {e}", p.display()))?),
                None => None,
            };
            match t.verify_audit(text.as_deref()).map_err(|e| e.to_string())? {
                Ok(v) => {
                    out!(
                        "audit log OK: {} records (seq {}..{}) in {} file(s){}",
                        v.records,
                        v.first_seq,
                        v.last.seq,
                        v.files,
                        if witness.is_some() { ", consistent with the witness" } else { "" }
                    );
                    Ok(())
                }
                Err(b) => Err(format!("audit log BROKEN: {b}")),
            }
        }
        AuditCmd::Show { since, key, json } => {
            let since = match since {
                Some(s) => {
                    Some(keyward::audit::record::parse_time_ms(&s).ok_or_else(|| format!("cannot parse time {s:?}"))?)
                }
                None => None,
            };
            let mut out = std::io::stdout().lock();
            keyward::audit::read_lines(&dir, &mut |line, r| {
                if since.is_some_and(|s| r.time_ms().is_some_and(|t| t < s)) {
                    return true;
                }
                if key.as_deref().is_some_and(|k| !keyward::audit::names_key(r, k)) {
                    return true;
                }
                use std::io::Write;
                let shown = if json { line.to_string() } else { keyward::audit::format_human(r) };
                writeln!(out, "{shown}").is_ok()
            });
            Ok(())
        }
    }
}

fn pin_or_prompt(given: Option<String>, what: &str) -> Result<zeroize::Zeroizing<String>, String> {
    if let Some(p) = given {
        return Ok(zeroize::Zeroizing::new(p));
    }
    let p = rpassword::prompt_password(format!("{what}: ")).map_err(|e| format!("cannot read {what}: {e}"))?;
    Ok(zeroize::Zeroizing::new(p))
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
        let k = keyward::store::kek::ExternalKek::create_file(file).map_err(|e| e.to_string())?;
        out!("created key-encryption key {} (id {})", file.display(), k.id_hex());
        out!(
            "use it with: [store] kek_file = {:?} (keep a copy: without it the token does not open)",
            file.display().to_string()
        );
        return Ok(());
    }
    let lib = open(&cli.conf)?;
    match cli.cmd {
        Cmd::Init { label, slot, so_pin, pin } => {
            if label.len() > 32 {
                return Err("the label is at most 32 bytes".into());
            }
            let so = pin_or_prompt(so_pin, "SO PIN")?;
            let user = pin_or_prompt(pin, "user PIN")?;
            lib.init_token(slot, so.as_bytes(), &label).map_err(|e| format!("init token: {e}"))?;
            let h = lib.open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION).map_err(|e| e.to_string())?;
            lib.login(h, CKU_SO, so.as_bytes()).map_err(|e| format!("SO login: {e}"))?;
            lib.init_pin(h, user.as_bytes()).map_err(|e| format!("init user PIN: {e}"))?;
            lib.logout(h).map_err(|e| e.to_string())?;
            lib.close_session(h).map_err(|e| e.to_string())?;
            out!("token {label:?} initialized in slot {slot}");
        }
        Cmd::Audit { cmd } => {
            let slot = slot_by_label(&lib, &cli.token)?;
            run_audit(&lib, slot, cmd)?;
        }
        Cmd::Metrics { output } => {
            let slot = slot_by_label(&lib, &cli.token)?;
            let t = lib.token(slot).map_err(|e| e.to_string())?;
            let label = lib.token_info(slot).map(|i| i.label).unwrap_or_default();
            let keys = t.key_summaries().unwrap_or_default();
            let text = keyward::audit::metrics::token_view(&label, slot, &keys, &t.audit_dir());
            match output {
                Some(p) => {
                    let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
                    let name = p.file_name().and_then(|n| n.to_str()).ok_or("bad output path")?;
                    keyward::audit::metrics::write_textfile(dir, name, &text).map_err(|e| e.to_string())?;
                }
                None => outp!("{text}"),
            }
        }
        Cmd::Key { pin, cmd } => {
            let slot = slot_by_label(&lib, &cli.token)?;
            out!("{}", keyward::kms::cli::run_key(&lib, slot, &pin, cmd)?);
        }
        Cmd::Maintain { pin } => {
            let slot = slot_by_label(&lib, &cli.token)?;
            out!("{}", keyward::kms::cli::run_maintain(&lib, slot, &pin)?);
        }
        Cmd::Kek { cmd } => {
            let slot = slot_by_label(&lib, &cli.token)?;
            run_kek(&lib, slot, cmd)?;
        }
        Cmd::Inventory { pin, format } => {
            let slot = slot_by_label(&lib, &cli.token)?;
            out!("{}", keyward::kms::cli::run_inventory(&lib, slot, &pin, format)?);
        }
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
