//! `keyward store migrate`: moves a token between backends (today: a SQLite
//! token directory into a PostgreSQL schema). Owns the command and its
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
    /// the target (store = "postgres", url, schema, path = the log dir).
    Migrate {
        /// The source: sqlite:PATH (a token directory).
        #[arg(long)]
        from: String,
        /// The target: postgres:URL (libpq key=value or URI, no password).
        #[arg(long)]
        to: String,
        /// The target schema (created if missing; must be empty).
        #[arg(long)]
        schema: String,
        /// A file holding the target's password.
        #[arg(long, conflicts_with = "password_env")]
        password_file: Option<PathBuf>,
        /// An environment variable holding the target's password.
        #[arg(long)]
        password_env: Option<String>,
        /// The CA (PEM) the server certificate must chain to.
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// Where the token's audit log stays (default: the source directory).
        #[arg(long)]
        log_dir: Option<PathBuf>,
    },
}

pub fn run(cmd: StoreCmd) -> Result<(), String> {
    let StoreCmd::Migrate { from, to, schema, password_file, password_env, ca_file, log_dir } = cmd;
    let dir = PathBuf::from(from.strip_prefix("sqlite:").ok_or("--from must be sqlite:PATH")?);
    let url = to.strip_prefix("postgres:").ok_or("--to must be postgres:URL")?.to_string();
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
    let options = PgOptions {
        url,
        schema: schema.clone(),
        password,
        ca_file,
        connect_timeout: Duration::from_secs(10),
        statement_timeout: Duration::from_secs(600),
    };
    let log_dir = log_dir.unwrap_or_else(|| dir.clone());
    let c = keyward::token::migrate::sqlite_to_postgres(&dir, options, &log_dir).map_err(|e| e.to_string())?;
    out!(
        "migrated {}: {} objects, {} meta values, token row {} -> schema {schema}",
        dir.display(),
        c.objects,
        c.meta,
        if c.token { "copied" } else { "absent (uninitialized token)" }
    );
    out!(
        "point the slot at it: store = \"postgres\", schema = {schema:?}, url, path = {:?} (the audit log)",
        log_dir.display().to_string()
    );
    Ok(())
}
