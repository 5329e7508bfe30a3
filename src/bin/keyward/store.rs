//! `keyward store migrate`: moves a token between backends (a SQLite token
//! directory into a PostgreSQL schema, or back). Owns the command and its
//! text; the copy is `keyward::token::migrate` / `keyward::store::migrate`.

use clap::Subcommand;
use keyward::store::PgOptions;
use std::path::PathBuf;
use std::time::Duration;
use zeroize::Zeroizing;

#[derive(Subcommand)]
pub enum StoreCmd {
    /// Copy a token, with every object, version, PIN counter and audit
    /// anchor, into an empty store (a non-empty target is refused). Stop the
    /// applications using the source first; afterwards point the slot at
    /// the target (PostgreSQL: store = "postgres", url, schema, path = the
    /// log dir; SQLite: path = PATH).
    Migrate {
        /// The source: sqlite:PATH (a token directory) or postgres:URL.
        #[arg(long)]
        from: String,
        /// The target: postgres:URL (libpq key=value or URI, no password)
        /// or sqlite:PATH (a new token directory).
        #[arg(long)]
        to: String,
        /// The PostgreSQL schema (as a target: created if missing, must be
        /// empty).
        #[arg(long)]
        schema: String,
        /// A file holding the PostgreSQL password.
        #[arg(long, conflicts_with = "password_env")]
        password_file: Option<PathBuf>,
        /// An environment variable holding the PostgreSQL password.
        #[arg(long)]
        password_env: Option<String>,
        /// The CA (PEM) the server certificate must chain to.
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// This host's audit log of the token. To PostgreSQL: where it stays
        /// (default: the source directory). From PostgreSQL: the slot's
        /// `path`, whose anchor the SQLite token takes and whose log files
        /// are copied into PATH (default: PATH itself).
        #[arg(long)]
        log_dir: Option<PathBuf>,
    },
}

pub fn run(cmd: StoreCmd) -> Result<(), String> {
    let StoreCmd::Migrate { from, to, schema, password_file, password_env, ca_file, log_dir } = cmd;
    let password = match (password_file, password_env) {
        (Some(f), _) => Some(Zeroizing::new(
            std::fs::read_to_string(&f)
                .map_err(|e| format!("{}: {e}", f.display()))?
                .trim_end_matches(['\n', '\r'])
                .to_string(),
        )),
        (None, Some(v)) => Some(Zeroizing::new(std::env::var(&v).map_err(|_| format!("${v} is not set"))?)),
        (None, None) => None,
    };
    let options = |url: &str| PgOptions {
        url: url.to_string(),
        schema: schema.clone(),
        password: password.clone(),
        ca_file: ca_file.clone(),
        connect_timeout: Duration::from_secs(10),
        statement_timeout: Duration::from_secs(600),
    };
    let describe = |c: &keyward::store::migrate::Copied| {
        format!(
            "{} objects, {} meta values, {} principals, {} grants, token row {}",
            c.objects,
            c.meta,
            c.principals,
            c.grants,
            if c.token { "copied" } else { "absent (uninitialized token)" }
        )
    };
    match (from.split_once(':'), to.split_once(':')) {
        (Some(("sqlite", dir)), Some(("postgres", url))) => {
            let dir = PathBuf::from(dir);
            let log_dir = log_dir.unwrap_or_else(|| dir.clone());
            let c =
                keyward::token::migrate::sqlite_to_postgres(&dir, options(url), &log_dir).map_err(|e| e.to_string())?;
            out!("migrated {}: {} -> schema {schema}", dir.display(), describe(&c));
            out!(
                "point the slot at it: store = \"postgres\", schema = {schema:?}, url, path = {:?} (the audit log)",
                log_dir.display().to_string()
            );
        }
        (Some(("postgres", url)), Some(("sqlite", dir))) => {
            let dir = PathBuf::from(dir);
            let log_dir = log_dir.unwrap_or_else(|| dir.clone());
            let c =
                keyward::token::migrate::postgres_to_sqlite(options(url), &dir, &log_dir).map_err(|e| e.to_string())?;
            out!("migrated schema {schema}: {} -> {}", describe(&c), dir.display());
            out!("point the slot at it: path = {:?} (store = \"sqlite\", the default)", dir.display().to_string());
        }
        _ => return Err("--from and --to: one sqlite:PATH and one postgres:URL".into()),
    }
    Ok(())
}
