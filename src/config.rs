//! Configuration: which slots exist, where their tokens live, token policy.
//!
//! Lookup order (DESIGN.md §6): `$KEYWARD_CONF`, else the CLI's `--conf`,
//! else `$XDG_CONFIG_HOME/keyward/keyward.toml`, else
//! `/etc/keyward/keyward.toml`, else the embedded default: one slot whose
//! token lives in `$XDG_DATA_HOME/keyward/` (`~/.local/share/keyward/`).
//! C_Initialize takes no path (its `pReserved` must be NULL).
//!
//! ```toml
//! [policy]                    # optional; these are the defaults
//! pbkdf2_iterations = 600000  # for new PINs
//! max_pin_attempts = 10       # wrong PINs before CKF_*_PIN_LOCKED
//! min_pin_len = 6
//! max_pin_len = 256
//! profile = "default"         # the key policy: "default" | "strict", and knobs
//!                             # overriding it (object::policy; README)
//!
//! [kms]                       # optional; these are the defaults
//! deletion_grace = "7d"       # deleted keys stay restorable this long ("0" = immediate)
//! decrypt_after_expiry = true # past CKA_END_DATE, decrypt/verify/unwrap still work
//!
//! [testing]                   # TEST SUITES ONLY; never in production
//! allow_test_clock = false    # true: $KEYWARD_TEST_NOW moves the lifecycle clock
//! [store]                     # optional
//! kek_file = "/etc/keyward/kek"       # an external key-encryption key (see store::kek), or
//! # kek_credential = "keyward-kek"    # the systemd credential $CREDENTIALS_DIRECTORY/keyward-kek
//!
//! [[slot]]
//! path = "/var/lib/keyward/token0"   # the token's data directory
//! description = "keyward slot 0"     # optional
//! [slot.policy]                      # optional: this slot's key policy
//! profile = "strict"
//! kek_file = "/etc/keyward/kek0"     # optional: this slot's own KEK (or kek_credential)
//!
//! [[slot]]                           # a token shared by many hosts, in PostgreSQL
//! path = "/var/lib/keyward/shared"   # local: this host's audit log
//! store = "postgres"                 # default "sqlite"
//! url = "host=db1,db2 port=5432 user=keyward dbname=keyward target_session_attrs=read-write"
//! schema = "keyward_payments"        # default "keyward_slot<N>" (N: the slot's position)
//! password_file = "/etc/keyward/pg-password"   # or password_env = "KEYWARD_PG_PASSWORD"
//! ca_file = "/etc/keyward/pg-ca.crt" # or sslrootcert= in the url; TLS is verify-full
//! connect_timeout_ms = 5000          # defaults
//! statement_timeout_ms = 10000
//! ```

use crate::ck::*;
use crate::error::{Error, Result};
use crate::object::policy::{KeyPolicy, Knobs};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub policy: Policy,
    #[serde(default, rename = "slot")]
    pub slots: Vec<SlotConfig>,
    /// Audit log (see `audit::config`).
    #[serde(default)]
    pub audit: crate::audit::config::AuditConfig,
    /// CloudEvents sinks.
    #[serde(default)]
    pub events: crate::audit::config::EventsConfig,
    /// Prometheus metrics.
    #[serde(default)]
    pub metrics: crate::audit::config::MetricsConfig,
    /// Key lifecycle (see `kms::KmsConfig`).
    #[serde(default)]
    pub kms: crate::kms::KmsConfig,
    /// The token store (durability, cross-process refresh).
    #[serde(default)]
    pub store: StoreConfig,
    /// Test hooks, all off unless the file turns them on.
    #[serde(default)]
    pub testing: TestingConfig,
    /// Where the configuration came from (for messages); not read from TOML.
    #[serde(skip)]
    pub source: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SlotConfig {
    pub path: PathBuf,
    #[serde(default)]
    pub description: Option<String>,
    /// Overrides `[store] durability` for this slot.
    #[serde(default)]
    pub durability: Option<Durability>,
    /// Overrides `[store] resident_objects` for this slot.
    #[serde(default)]
    pub resident_objects: Option<u64>,
    /// This slot's key policy (`[slot.policy]`): a profile and/or knobs
    /// over the global `[policy]` (see `object::policy::KeyPolicy::resolve`).
    #[serde(default)]
    pub policy: Option<Knobs>,
    /// This slot's external KEK (overrides `[store] kek_file` /
    /// `kek_credential`).
    #[serde(default)]
    pub kek_file: Option<PathBuf>,
    #[serde(default)]
    pub kek_credential: Option<String>,
    /// Where the token is stored: `"sqlite"` (default: `path/token.sqlite`)
    /// or `"postgres"` (the settings below; `path` then holds only this
    /// host's audit log).
    #[serde(default)]
    pub store: StoreKind,
    /// PostgreSQL: libpq connection string (key=value or URI), without a
    /// password.
    #[serde(default)]
    pub url: Option<String>,
    /// PostgreSQL: the schema of this token (default `keyward_slot<N>`).
    #[serde(default)]
    pub schema: Option<String>,
    /// PostgreSQL: a file holding the password (relative to the config).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// PostgreSQL: an environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// PostgreSQL: the CA (PEM) the server certificate must chain to.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub connect_timeout_ms: Option<u64>,
    /// The named user (issue 17) a `C_Login(CKU_USER)` on this slot logs in
    /// as: an application that knows only C_Login uses the token as that
    /// user (its keys, its PIN). `None`: the default user.
    #[serde(default)]
    pub user: Option<String>,
    /// Trusted sources (issue 17): the OS users (names or uids) and groups
    /// (names or gids) whose processes may use this slot's token; both
    /// empty (the default): anyone who can read the store. Advisory
    /// against root (`token::os_access`).
    #[serde(default)]
    pub allow_os_users: Vec<String>,
    #[serde(default)]
    pub allow_os_groups: Vec<String>,
    #[serde(default)]
    pub statement_timeout_ms: Option<u64>,
}

/// A slot's store backend.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    #[default]
    Sqlite,
    Postgres,
}

impl SlotConfig {
    /// The PostgreSQL options of slot number `index` (reading the password
    /// now), or `None` for a SQLite slot.
    pub fn pg_options(&self, index: usize) -> Result<Option<crate::store::PgOptions>> {
        if self.store != StoreKind::Postgres {
            return Ok(None);
        }
        let bad = |m: String| Error::new(CKR_GENERAL_ERROR, format!("slot {index}: {m}"));
        let url = self.url.clone().ok_or_else(|| bad("store = \"postgres\" needs url".into()))?;
        let password = match (&self.password_file, &self.password_env) {
            (Some(f), None) => {
                let p = std::fs::read_to_string(f)
                    .map_err(|e| Error::device(format!("slot {index}: password_file {}: {e}", f.display())))?;
                Some(zeroize::Zeroizing::new(p.trim_end_matches(['\n', '\r']).to_string()))
            }
            (None, Some(v)) => Some(zeroize::Zeroizing::new(
                std::env::var(v).map_err(|_| Error::device(format!("slot {index}: password_env ${v} is not set")))?,
            )),
            (None, None) => None,
            (Some(_), Some(_)) => return Err(bad("password_file and password_env exclude each other".into())),
        };
        let ms = |v: Option<u64>, d: u64| std::time::Duration::from_millis(v.unwrap_or(d));
        Ok(Some(crate::store::PgOptions {
            url,
            schema: self.schema.clone().unwrap_or_else(|| format!("keyward_slot{index}")),
            password,
            ca_file: self.ca_file.clone(),
            connect_timeout: ms(self.connect_timeout_ms, 5000),
            statement_timeout: ms(self.statement_timeout_ms, 10_000),
        }))
    }

    fn validate_store(&self, index: usize) -> std::result::Result<(), String> {
        let pg_only = [
            ("url", self.url.is_some()),
            ("schema", self.schema.is_some()),
            ("password_file", self.password_file.is_some()),
            ("password_env", self.password_env.is_some()),
            ("ca_file", self.ca_file.is_some()),
            ("connect_timeout_ms", self.connect_timeout_ms.is_some()),
            ("statement_timeout_ms", self.statement_timeout_ms.is_some()),
        ];
        match self.store {
            StoreKind::Sqlite => match pg_only.iter().find(|(_, set)| *set) {
                Some((k, _)) => Err(format!("slot {index}: {k} needs store = \"postgres\"")),
                None => Ok(()),
            },
            StoreKind::Postgres => {
                if self.url.is_none() {
                    return Err(format!("slot {index}: store = \"postgres\" needs url"));
                }
                if self.password_file.is_some() && self.password_env.is_some() {
                    return Err(format!("slot {index}: password_file and password_env exclude each other"));
                }
                if let Some(s) = &self.schema
                    && !crate::store::valid_schema(s)
                {
                    return Err(format!("slot {index}: schema {s:?} must match [a-z_][a-z0-9_]* (63 bytes at most)"));
                }
                Ok(())
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub pbkdf2_iterations: u32,
    pub max_pin_attempts: u32,
    pub min_pin_len: usize,
    pub max_pin_len: usize,
    /// The key policy (`object::policy`): a profile and the knobs that
    /// override it, written in the same `[policy]` table.
    pub keys: Knobs,
}

/// The PIN settings of `[policy]`; every other key of the table is a key
/// policy knob (`Knobs`, which refuses unknown names).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PinSettings {
    pbkdf2_iterations: Option<u32>,
    max_pin_attempts: Option<u32>,
    min_pin_len: Option<usize>,
    max_pin_len: Option<usize>,
}
const PIN_SETTINGS: &[&str] = &["pbkdf2_iterations", "max_pin_attempts", "min_pin_len", "max_pin_len"];

impl<'de> Deserialize<'de> for Policy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut table = toml::Table::deserialize(d)?;
        let mut pins = toml::Table::new();
        for k in PIN_SETTINGS {
            if let Some(v) = table.remove(*k) {
                pins.insert((*k).to_string(), v);
            }
        }
        let pins: PinSettings = pins.try_into().map_err(D::Error::custom)?;
        let keys: Knobs = table.try_into().map_err(D::Error::custom)?;
        let d = Policy::default();
        Ok(Policy {
            pbkdf2_iterations: pins.pbkdf2_iterations.unwrap_or(d.pbkdf2_iterations),
            max_pin_attempts: pins.max_pin_attempts.unwrap_or(d.max_pin_attempts),
            min_pin_len: pins.min_pin_len.unwrap_or(d.min_pin_len),
            max_pin_len: pins.max_pin_len.unwrap_or(d.max_pin_len),
            keys,
        })
    }
}

impl Policy {
    /// The key-policy knobs of the global `[policy]` section.
    pub fn key_knobs(&self) -> Knobs {
        self.keys.clone()
    }
}

/// `[store]`: how the token store trades speed for durability and freshness.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `"full"` (default): every committed change is fsync'ed before the
    /// call returns (survives power loss). `"normal"`: SQLite WAL with
    /// `synchronous=NORMAL`, durable against process crashes (SIGKILL) but a
    /// power loss may lose the last commits; much faster object writes.
    pub durability: Durability,
    /// How stale this process's view of another process's changes may be
    /// when a key is looked up for a cryptographic operation, in
    /// milliseconds (0: check the store on every lookup). Object searches,
    /// attribute changes, logins and this process's own writes are always
    /// current.
    pub refresh_ms: u64,
    /// Caps the token database at this many pages (SQLite
    /// `max_page_count`; 0 = no cap): a quota, and the way the tests
    /// simulate a full disk. A write that would exceed it fails with
    /// `CKR_DEVICE_MEMORY` and changes nothing.
    pub max_pages: u64,
    /// A token with more objects than this at C_Initialize is not held
    /// resident: objects are read from the store when first used, and
    /// searches by label, lifecycle acts and maintenance use the store's
    /// lookup columns (`store::index`). C_Initialize and the module's
    /// memory then stay flat however many keys the token holds; a search
    /// without CKA_LABEL reads every row. 0: never held resident. Default
    /// 100,000.
    pub resident_objects: u64,
    /// An external key-encryption key (`store::kek`): a file holding 32
    /// random bytes (`keyward kek new FILE`), mixed into the wrapping of
    /// the master key and protecting the audit key. A token wrapped with
    /// it does not open without it. Relative to the config file.
    pub kek_file: Option<PathBuf>,
    /// The same from a systemd credential: `$CREDENTIALS_DIRECTORY/NAME`
    /// (`LoadCredential=` / `LoadCredentialEncrypted=`).
    pub kek_credential: Option<String>,
}

/// `[testing]`: hooks for test suites. The environment alone never turns
/// one on: whoever sets a variable in an application's environment must not
/// decide which keys look expired or due (issue 21.10).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TestingConfig {
    /// `$KEYWARD_TEST_NOW` (Unix seconds) replaces the lifecycle clock
    /// (`kms::clock`): expiry windows, rotation schedules, deletion grace.
    pub allow_test_clock: bool,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    #[default]
    Full,
    Normal,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            durability: Durability::Full,
            refresh_ms: 1,
            max_pages: 0,
            resident_objects: 100_000,
            kek_file: None,
            kek_credential: None,
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            pbkdf2_iterations: crate::store::seal::DEFAULT_PBKDF2_ITERATIONS,
            max_pin_attempts: 10,
            min_pin_len: 6,
            max_pin_len: 256,
            keys: Knobs::default(),
        }
    }
}

impl Config {
    /// Parses a TOML document; relative slot paths are resolved against `base`.
    pub fn parse(text: &str, base: Option<&Path>, source: &str) -> Result<Config> {
        let mut c: Config = toml::from_str(text)
            .map_err(|e| Error::new(CKR_GENERAL_ERROR, format!("config {source}: {}", e.message())))?;
        c.source = source.to_string();
        if c.slots.is_empty() {
            c.slots.push(SlotConfig { path: default_data_dir()?, ..Default::default() });
        }
        for s in &mut c.slots {
            if let Some(b) = base {
                for p in [Some(&mut s.path), s.kek_file.as_mut(), s.password_file.as_mut(), s.ca_file.as_mut()]
                    .into_iter()
                    .flatten()
                {
                    if p.is_relative() {
                        *p = b.join(&*p);
                    }
                }
            }
        }
        if let (Some(b), Some(p)) = (base, c.store.kek_file.as_mut())
            && p.is_relative()
        {
            *p = b.join(&*p);
        }
        if let Some(b) = base {
            crate::audit::config::resolve_paths(&mut c.events, &mut c.metrics, b);
        }
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<()> {
        let p = &self.policy;
        let bad = |m: &str| Err(Error::new(CKR_GENERAL_ERROR, format!("config {}: {m}", self.source)));
        if p.pbkdf2_iterations == 0 {
            return bad("policy.pbkdf2_iterations must be at least 1");
        }
        if p.max_pin_attempts == 0 {
            return bad("policy.max_pin_attempts must be at least 1");
        }
        if p.min_pin_len == 0 || p.min_pin_len > p.max_pin_len {
            return bad("policy.min_pin_len must be between 1 and max_pin_len");
        }
        if self.slots.len() > 64 {
            return bad("at most 64 slots");
        }
        if let Err(e) = self.kms.grace_secs() {
            return bad(e.reason());
        }
        for (i, sc) in self.slots.iter().enumerate() {
            if let Err(e) = self.key_policy(sc) {
                return bad(e.reason());
            }
            if let Err(m) = sc.validate_store(i) {
                return bad(&m);
            }
        }
        let keks = std::iter::once(("[store]", &self.store.kek_file, &self.store.kek_credential))
            .chain(self.slots.iter().map(|s| ("[[slot]]", &s.kek_file, &s.kek_credential)));
        for (table, file, cred) in keks {
            if file.is_some() && cred.is_some() {
                return bad(&format!("{table}: kek_file and kek_credential exclude each other"));
            }
            if let Some(c) = cred
                && (c.is_empty() || c.contains('/') || c == "." || c == "..")
            {
                return bad(&format!("{table}: kek_credential must be a credential name, got {c:?}"));
            }
        }
        Ok(())
    }

    /// The resolved key policy of slot `sc` (`[policy]`, then `[slot.policy]`).
    pub fn key_policy(&self, sc: &SlotConfig) -> Result<KeyPolicy> {
        KeyPolicy::resolve(&self.policy.key_knobs(), sc.policy.as_ref()).map_err(|m| Error::new(CKR_GENERAL_ERROR, m))
    }

    /// Where the external KEK of `slot` is read from (the slot's own
    /// setting, else `[store]`'s), or `None` without one. A credential
    /// without `$CREDENTIALS_DIRECTORY` is an error naming it.
    pub fn kek_path(&self, slot: &SlotConfig) -> Result<Option<PathBuf>> {
        let (file, cred) = if slot.kek_file.is_some() || slot.kek_credential.is_some() {
            (&slot.kek_file, &slot.kek_credential)
        } else {
            (&self.store.kek_file, &self.store.kek_credential)
        };
        if let Some(f) = file {
            return Ok(Some(f.clone()));
        }
        let Some(name) = cred else { return Ok(None) };
        match std::env::var_os("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty()) {
            Some(d) => Ok(Some(PathBuf::from(d).join(name))),
            None => Err(Error::device(format!(
                "kek_credential = {name:?} but $CREDENTIALS_DIRECTORY is not set (run under systemd with LoadCredential={name}:...)"
            ))),
        }
    }

    /// The embedded default: one slot under the XDG data directory.
    pub fn embedded_default() -> Result<Config> {
        Ok(Config {
            policy: Policy::default(),
            slots: vec![SlotConfig { path: default_data_dir()?, ..Default::default() }],
            audit: Default::default(),
            events: Default::default(),
            metrics: Default::default(),
            kms: Default::default(),
            store: Default::default(),
            testing: Default::default(),
            source: "embedded default".into(),
        })
    }

    /// Finds and loads the configuration (see the module doc for the order).
    /// `explicit` is the CLI's `--conf`; the module passes `None`.
    pub fn load(explicit: Option<&Path>) -> Result<Config> {
        let env = std::env::var_os("KEYWARD_CONF").map(PathBuf::from);
        let candidates: Vec<(PathBuf, bool)> = [
            env.map(|p| (p, true)),
            explicit.map(|p| (p.to_path_buf(), true)),
            std::env::var_os("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
                .map(|d| (d.join("keyward/keyward.toml"), false)),
            Some((PathBuf::from("/etc/keyward/keyward.toml"), false)),
        ]
        .into_iter()
        .flatten()
        .collect();
        for (path, must_exist) in candidates {
            match std::fs::read_to_string(&path) {
                Ok(text) => return Config::parse(&text, path.parent(), &path.display().to_string()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => continue,
                Err(e) => {
                    return Err(Error::new(CKR_GENERAL_ERROR, format!("cannot read config {}: {e}", path.display())));
                }
            }
        }
        Config::embedded_default()
    }
}

/// `$XDG_DATA_HOME/keyward`, else `~/.local/share/keyward`.
pub fn default_data_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("keyward"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".local/share/keyward")),
        None => Err(Error::new(CKR_GENERAL_ERROR, "neither XDG_DATA_HOME nor HOME is set: no default token directory")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::policy::Exponent;

    #[test]
    fn policy_table_takes_pin_settings_and_knobs_and_refuses_typos() {
        let c: Config = toml::from_str("[policy]\nmin_pin_len = 8\nmin_rsa_bits = 3072\n").unwrap();
        assert_eq!((c.policy.min_pin_len, c.policy.max_pin_len), (8, 256));
        assert_eq!(c.policy.key_knobs().min_rsa_bits, Some(3072));
        assert!(toml::from_str::<Config>("[policy]\nmin_rsa_bitz = 3072\n").is_err());
        assert!(toml::from_str::<Config>("[policy]\nmin_pin_len = \"x\"\n").is_err());
        assert_eq!(toml::from_str::<Config>("").unwrap().policy, Policy::default());
    }

    #[test]
    fn parses_slots_and_policy() {
        let c = Config::parse(
            "[policy]\nmax_pin_attempts = 3\n[[slot]]\npath = \"tok\"\n[[slot]]\npath = \"/abs\"\n",
            Some(Path::new("/base")),
            "test",
        )
        .unwrap();
        assert_eq!(c.policy.max_pin_attempts, 3);
        assert_eq!(c.key_policy(&c.slots[0]).unwrap(), KeyPolicy::DEFAULT);
        assert_eq!(c.slots[0].path, PathBuf::from("/base/tok"));
        assert_eq!(c.slots[1].path, PathBuf::from("/abs"));
        assert!(!c.testing.allow_test_clock, "test hooks are off by default");
        assert!(!Config::embedded_default().unwrap().testing.allow_test_clock);
        let t = Config::parse("[testing]\nallow_test_clock = true\n", None, "t").unwrap();
        assert!(t.testing.allow_test_clock);
        assert!(Config::parse("[testing]\nallow_test_clocks = true\n", None, "t").is_err());
    }

    #[test]
    fn key_policy_per_slot() {
        let c = Config::parse(
            concat!(
                "[policy]\nprofile = \"strict\"\nmin_rsa_bits = 3072\n",
                "[[slot]]\npath = \"/a\"\n",
                "[[slot]]\npath = \"/b\"\n[slot.policy]\nprofile = \"default\"\nrsa_public_exponent = \"65537\"\n",
                "[[slot]]\npath = \"/c\"\n[slot.policy]\nallow_sha1_signatures = true\n",
            ),
            None,
            "t",
        )
        .unwrap();
        let p: Vec<KeyPolicy> = c.slots.iter().map(|s| c.key_policy(s).unwrap()).collect();
        assert_eq!(p[0], KeyPolicy { min_rsa_bits: 3072, ..KeyPolicy::STRICT });
        assert_eq!(p[1], KeyPolicy { rsa_public_exponent: Exponent::F4, ..KeyPolicy::DEFAULT });
        assert_eq!(p[2], KeyPolicy { min_rsa_bits: 3072, allow_sha1_signatures: true, ..KeyPolicy::STRICT });
        // Unknown knobs, bad values and out-of-range sizes are config errors.
        for bad in [
            "[policy]\nprofile = \"lax\"\n",
            "[policy]\nrsa_public_exponent = \"3\"\n",
            "[policy]\nmin_rsa_bits = 128\n",
            "[[slot]]\npath = \"/a\"\n[slot.policy]\nmax_pin_attempts = 3\n",
            "[[slot]]\npath = \"/a\"\n[slot.policy]\nmin_rsa_verify_bits = 100000\n",
        ] {
            assert!(Config::parse(bad, None, "t").is_err(), "{bad}");
        }
    }

    #[test]
    fn kek_settings() {
        let c = Config::parse(
            "[store]\nkek_file = \"kek\"\n[[slot]]\npath = \"a\"\n[[slot]]\npath = \"b\"\nkek_file = \"/k/b\"\n\
             [[slot]]\npath = \"c\"\nkek_credential = \"kw-c\"\n",
            Some(Path::new("/base")),
            "test",
        )
        .unwrap();
        assert_eq!(c.kek_path(&c.slots[0]).unwrap(), Some(PathBuf::from("/base/kek")));
        assert_eq!(c.kek_path(&c.slots[1]).unwrap(), Some(PathBuf::from("/k/b")));
        // (The credential directory comes from the environment; without it
        // the error names the credential.)
        if std::env::var_os("CREDENTIALS_DIRECTORY").is_none() {
            assert!(c.kek_path(&c.slots[2]).unwrap_err().reason().contains("kw-c"));
        }
        let none = Config::parse("[[slot]]\npath = \"/x\"\n", None, "t").unwrap();
        assert_eq!(none.kek_path(&none.slots[0]).unwrap(), None);
        for bad in [
            "[store]\nkek_file = \"a\"\nkek_credential = \"b\"\n[[slot]]\npath = \"/x\"\n",
            "[[slot]]\npath = \"/x\"\nkek_credential = \"../etc/kek\"\n",
            "[[slot]]\npath = \"/x\"\nkek_credential = \"\"\n",
        ] {
            assert!(Config::parse(bad, None, "t").is_err(), "{bad}");
        }
        assert_eq!(Config::parse("", None, "t").unwrap().policy.min_pin_len, 6);
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        assert_eq!(Config::parse("bogus = 1\n", None, "t").unwrap_err().rv(), CKR_GENERAL_ERROR);
        assert!(Config::parse("[policy]\nmax_pin_attempts = 0\n[[slot]]\npath=\"/x\"\n", None, "t").is_err());
        assert!(Config::parse("[[slot]]\n", None, "t").is_err());
    }

    #[test]
    fn postgres_slots_parse_and_their_mistakes_are_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("pw"), "s3cret\n").unwrap();
        let ok = "[[slot]]\npath = \"a\"\nstore = \"postgres\"\nurl = \"host=db\"\npassword_file = \"pw\"\nca_file = \"ca.pem\"\n\
                  [[slot]]\npath = \"b\"\nstore = \"postgres\"\nurl = \"host=db\"\nschema = \"tok_b\"\nconnect_timeout_ms = 7\n";
        let c = Config::parse(ok, Some(d.path()), "t").unwrap();
        let o = c.slots[0].pg_options(0).unwrap().unwrap();
        assert_eq!(o.schema, "keyward_slot0", "derived from the slot's position");
        assert_eq!(o.password.as_deref().map(String::as_str), Some("s3cret"));
        assert_eq!(o.ca_file, Some(d.path().join("ca.pem")), "relative to the config");
        let o = c.slots[1].pg_options(1).unwrap().unwrap();
        assert_eq!((o.schema.as_str(), o.connect_timeout.as_millis()), ("tok_b", 7));
        assert!(o.password.is_none());
        // The SQLite default is unchanged.
        let c = Config::parse("[[slot]]\npath = \"a\"\n", None, "t").unwrap();
        assert_eq!(c.slots[0].store, StoreKind::Sqlite);
        assert!(c.slots[0].pg_options(0).unwrap().is_none());
        for (bad, why) in [
            ("[[slot]]\npath = \"a\"\nstore = \"postgres\"\n", "needs url"),
            ("[[slot]]\npath = \"a\"\nurl = \"host=db\"\n", "needs store"),
            (
                "[[slot]]\npath = \"a\"\nstore = \"postgres\"\nurl = \"h\"\npassword_file = \"f\"\npassword_env = \"V\"\n",
                "exclude",
            ),
            ("[[slot]]\npath = \"a\"\nstore = \"postgres\"\nurl = \"h\"\nschema = \"x;drop\"\n", "schema"),
            ("[[slot]]\npath = \"a\"\nstore = \"mysql\"\n", "unknown variant"),
        ] {
            let e = Config::parse(bad, None, "t").unwrap_err();
            assert!(e.reason().contains(why), "{bad}: {}", e.reason());
        }
        // A missing password variable is an error naming it.
        let c = Config::parse(
            "[[slot]]\npath = \"a\"\nstore = \"postgres\"\nurl = \"h\"\npassword_env = \"KEYWARD_NO_SUCH_VAR_FOR_TEST\"\n",
            None,
            "t",
        )
        .unwrap();
        assert!(c.slots[0].pg_options(0).unwrap_err().reason().contains("KEYWARD_NO_SUCH_VAR_FOR_TEST"));
    }
}
