//! How the PostgreSQL backend reaches its server: the slot's options
//! ([`PgOptions`]), the connection string (libpq `key=value` or URI syntax,
//! several hosts, `target_session_attrs`), TLS and opening one connection.
//!
//! - **TLS** is rustls over aws-lc-rs, always `verify-full`: the chain must
//!   lead to the CA of `ca_file` (or the URL's `sslrootcert`) and the
//!   certificate must name the host. `sslmode=disable` (or a URL of Unix
//!   sockets only, where PostgreSQL has no TLS) is the only way to go
//!   without it; `require` and `verify-ca` are treated as `verify-full`
//!   (a key store does not talk to an unauthenticated server).
//! - **No OS thread.** `client::PgClient` runs the connection on a
//!   current-thread tokio runtime inside each call on the calling thread.
//!   The one place tokio would start a thread (its blocking pool, for a
//!   host-name lookup) is avoided: names are resolved here with the
//!   system resolver on the calling thread and handed over as `hostaddr`.
//! - **Bounded waits**: `connect_timeout` for a connection, and the server's
//!   `statement_timeout` / `lock_timeout`, the socket's `tcp_user_timeout`
//!   and TCP keepalives (5 s idle, 3 probes 1 s apart) for every statement,
//!   so a dead server, host or network fails the call with
//!   `CKR_DEVICE_ERROR` instead of hanging; and a client-side deadline
//!   (`statement_timeout` + 1 s) on every call for a server that is alive
//!   but stuck.
//! - The password never comes from the URL (`password_file` or
//!   `password_env` of the slot); it is kept in `Zeroizing`.

use crate::ck::*;
use crate::error::{Error, Result};
use std::fmt;
use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// Where one token lives in PostgreSQL and how to get there.
#[derive(Clone)]
pub struct PgOptions {
    /// libpq connection string (`key=value ...` or `postgres://...`),
    /// without a password.
    pub url: String,
    /// The schema that holds this token's tables.
    pub schema: String,
    pub password: Option<Zeroizing<String>>,
    /// PEM file of the CA(s) that sign the server certificate.
    pub ca_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// Bounds every statement (and the wait for the write lock).
    pub statement_timeout: Duration,
}

impl fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &self.url)
            .field("schema", &self.schema)
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

fn bad(m: impl Into<String>) -> Error {
    Error::new(CKR_GENERAL_ERROR, format!("postgres store config: {}", m.into()))
}

/// A schema name we can put into SQL unquoted: `[a-z_][a-z0-9_]*`, at most
/// 63 bytes (PostgreSQL's identifier limit).
pub fn valid_schema(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_lowercase() || c == b'_')
        && b.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
        && s.len() <= 63
}

/// The connection string as ordered `(key, value)` pairs.
fn parse_pairs(url: &str) -> Result<Vec<(String, String)>> {
    let url = url.trim();
    match url.strip_prefix("postgresql://").or_else(|| url.strip_prefix("postgres://")) {
        Some(rest) => parse_uri(rest),
        None => parse_key_values(url),
    }
}

fn percent_decode(s: &str) -> Result<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = s.get(i + 1..i + 3).ok_or_else(|| bad("bad percent escape in url"))?;
            out.push(u8::from_str_radix(h, 16).map_err(|_| bad("bad percent escape in url"))?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad("url is not UTF-8"))
}

/// `[user[:password]@][host[:port][,...]][/dbname][?k=v&...]`
fn parse_uri(rest: &str) -> Result<Vec<(String, String)>> {
    let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (auth, db) = main.split_once('/').unwrap_or((main, ""));
    let (userinfo, hostspec) = match auth.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, auth),
    };
    let mut pairs = Vec::new();
    if let Some(u) = userinfo {
        let (user, pass) = u.split_once(':').unwrap_or((u, ""));
        if !pass.is_empty() || u.contains(':') {
            pairs.push(("password".into(), String::new()));
        }
        if !user.is_empty() {
            pairs.push(("user".into(), percent_decode(user)?));
        }
    }
    if !hostspec.is_empty() {
        let (mut hosts, mut ports) = (Vec::new(), Vec::new());
        for hp in hostspec.split(',') {
            let (h, p) = if let Some(r) = hp.strip_prefix('[') {
                let (h, after) = r.split_once(']').ok_or_else(|| bad("unclosed [ in url host"))?;
                (h.to_string(), after.strip_prefix(':').unwrap_or("").to_string())
            } else {
                let (h, p) = hp.split_once(':').unwrap_or((hp, ""));
                (percent_decode(h)?, p.to_string())
            };
            hosts.push(h);
            ports.push(p);
        }
        pairs.push(("host".into(), hosts.join(",")));
        if ports.iter().any(|p| !p.is_empty()) {
            pairs.push(("port".into(), ports.join(",")));
        }
    }
    if !db.is_empty() {
        pairs.push(("dbname".into(), percent_decode(db)?));
    }
    for kv in query.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').ok_or_else(|| bad(format!("url parameter {kv:?} has no value")))?;
        pairs.push((percent_decode(k)?, percent_decode(v)?));
    }
    Ok(pairs)
}

/// libpq `key = value` pairs; values may be single-quoted with `\` escapes.
fn parse_key_values(s: &str) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut it = s.chars().peekable();
    loop {
        while it.next_if(|c| c.is_whitespace()).is_some() {}
        if it.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = it.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while it.next_if(|c| c.is_whitespace()).is_some() {}
        if it.next() != Some('=') {
            return Err(bad(format!("expected '=' after {key:?} in url")));
        }
        while it.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if it.next_if_eq(&'\'').is_some() {
            loop {
                match it.next() {
                    Some('\'') => break,
                    Some('\\') => value.push(it.next().ok_or_else(|| bad("unterminated quote in url"))?),
                    Some(c) => value.push(c),
                    None => return Err(bad("unterminated quote in url")),
                }
            }
        } else {
            while let Some(c) = it.next_if(|c| !c.is_whitespace()) {
                value.push(c);
            }
        }
        pairs.push((key, value));
    }
}

fn render(pairs: &[(String, String)]) -> String {
    let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
    pairs.iter().map(|(k, v)| format!("{k}={}", quote(v))).collect::<Vec<_>>().join(" ")
}

/// What [`PgOptions`] resolve to: a client config and whether to use TLS.
pub(super) struct Prepared {
    pub config: tokio_postgres::Config,
    pub tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
}

fn take(pairs: &mut Vec<(String, String)>, key: &str) -> Option<String> {
    let i = pairs.iter().rposition(|(k, _)| k == key)?;
    let v = pairs.remove(i).1;
    pairs.retain(|(k, _)| k != key);
    Some(v)
}

/// Checks the options and builds the client configuration (resolving host
/// names on this thread). Cheap enough to do at every (re)connect, so a DNS
/// change is followed.
pub(super) fn prepare(o: &PgOptions) -> Result<Prepared> {
    let mut pairs = parse_pairs(&o.url)?;
    if pairs.iter().any(|(k, _)| k == "password" || k == "passfile") {
        return Err(bad("the url must not carry a password: use password_file or password_env"));
    }
    let sslmode = take(&mut pairs, "sslmode").unwrap_or_else(|| "verify-full".into());
    let rootcert = take(&mut pairs, "sslrootcert").map(PathBuf::from);
    if !matches!(sslmode.as_str(), "disable" | "allow" | "prefer" | "require" | "verify-ca" | "verify-full") {
        return Err(bad(format!("unknown sslmode {sslmode:?}")));
    }
    let hosts: Vec<String> =
        take(&mut pairs, "host").map(|h| h.split(',').map(str::to_string).collect()).unwrap_or_default();
    let ports: Vec<String> =
        take(&mut pairs, "port").map(|p| p.split(',').map(str::to_string).collect()).unwrap_or_default();
    if pairs.iter().any(|(k, _)| k == "hostaddr") {
        return Err(bad("hostaddr is not supported: name the hosts with host"));
    }
    if hosts.is_empty() {
        return Err(bad("the url names no host"));
    }
    if ports.len() > 1 && ports.len() != hosts.len() {
        return Err(bad("the url has a different number of hosts and ports"));
    }
    let all_unix = hosts.iter().all(|h| h.starts_with('/'));
    let use_tls = sslmode != "disable" && !all_unix;
    if !use_tls && !all_unix {
        log::warn!("postgres store {}: sslmode=disable: the connection is neither encrypted nor authenticated", o.url);
    }
    if use_tls && hosts.iter().any(|h| h.starts_with('/')) {
        return Err(bad("TLS cannot mix Unix-socket and TCP hosts (use sslmode=disable for sockets)"));
    }
    // Resolve every TCP host here (each address becomes one host entry with
    // its hostaddr, in the order the resolver gives) so tokio never needs
    // its blocking-pool thread for getaddrinfo.
    let (mut h_out, mut a_out, mut p_out) = (Vec::new(), Vec::new(), Vec::new());
    for (i, h) in hosts.iter().enumerate() {
        let port = ports.get(i).or(ports.first()).filter(|p| !p.is_empty()).cloned().unwrap_or_else(|| "5432".into());
        if h.starts_with('/') {
            h_out.push(h.clone());
            p_out.push(port);
            continue;
        }
        let n: u16 = port.parse().map_err(|_| bad(format!("bad port {port:?}")))?;
        let addrs = (h.as_str(), n)
            .to_socket_addrs()
            .map_err(|e| Error::new(CKR_DEVICE_ERROR, format!("postgres store: cannot resolve {h}: {e}")))?;
        for a in addrs {
            h_out.push(h.clone());
            a_out.push(a.ip().to_string());
            p_out.push(port.clone());
        }
    }
    pairs.push(("host".into(), h_out.join(",")));
    pairs.push(("port".into(), p_out.join(",")));
    if !a_out.is_empty() {
        if a_out.len() != h_out.len() {
            return Err(bad("Unix-socket and TCP hosts cannot be mixed"));
        }
        pairs.push(("hostaddr".into(), a_out.join(",")));
    }
    pairs.push(("sslmode".into(), if use_tls { "require" } else { "disable" }.into()));
    if !pairs.iter().any(|(k, _)| k == "application_name") {
        pairs.push(("application_name".into(), "keyward".into()));
    }
    let mut config: tokio_postgres::Config = render(&pairs).parse().map_err(|e| bad(format!("url: {e}")))?;
    if let Some(p) = &o.password {
        config.password(p.as_bytes());
    }
    let ms = o.statement_timeout.as_millis().max(1);
    config
        .connect_timeout(o.connect_timeout)
        .tcp_user_timeout(o.statement_timeout + o.connect_timeout)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(5))
        .keepalives_interval(Duration::from_secs(1))
        .keepalives_retries(3)
        .options(format!(
            "-c statement_timeout={ms} -c lock_timeout={ms} -c idle_in_transaction_session_timeout={}",
            ms * 2
        ));
    let tls = if use_tls {
        let ca = o.ca_file.clone().or(rootcert).ok_or_else(|| {
            bad("TLS needs the server's CA: set ca_file (or sslrootcert in the url), or sslmode=disable")
        })?;
        Some(tls_connector(&ca)?)
    } else {
        None
    };
    Ok(Prepared { config, tls })
}

fn tls_connector(ca: &std::path::Path) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca).map_err(|e| bad(format!("CA file {}: {e}", ca.display())))?;
    for c in certs {
        let c = c.map_err(|e| bad(format!("CA file {}: {e}", ca.display())))?;
        roots.add(c).map_err(|e| bad(format!("CA file {}: {e}", ca.display())))?;
    }
    if roots.is_empty() {
        return Err(bad(format!("CA file {} holds no certificate", ca.display())));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(cfg))
}

/// One new connection; every later call on it has `statement_timeout`
/// (plus a second) as its client-side deadline.
pub(in crate::store) fn connect(o: &PgOptions) -> Result<super::client::PgClient> {
    use super::client::PgClient;
    let p = prepare(o)?;
    let call = o.statement_timeout + Duration::from_secs(1);
    let r = match p.tls {
        Some(tls) => PgClient::connect(&p.config, tls, o.connect_timeout, call),
        None => PgClient::connect(&p.config, tokio_postgres::NoTls, o.connect_timeout, call),
    };
    r.map_err(|e| {
        log::error!("postgres store {}: cannot connect: {}", o.url, e.reason());
        Error::new(CKR_DEVICE_ERROR, format!("postgres store: cannot connect: {}", e.reason()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_and_uris_parse_to_the_same_pairs() {
        let kv = parse_pairs("host=a,b port=1,2 user='k w' dbname = d target_session_attrs=read-write").unwrap();
        let uri = parse_pairs("postgresql://k%20w@a:1,b:2/d?target_session_attrs=read-write").unwrap();
        let get = |p: &[(String, String)], k: &str| p.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
        for k in ["host", "port", "user", "dbname", "target_session_attrs"] {
            assert_eq!(get(&kv, k), get(&uri, k), "{k}");
        }
        assert_eq!(get(&kv, "user").as_deref(), Some("k w"));
        assert_eq!(get(&uri, "host").as_deref(), Some("a,b"));
        let v6 = parse_pairs("postgres://[::1]:5433/x").unwrap();
        assert_eq!(get(&v6, "host").as_deref(), Some("::1"));
        assert_eq!(get(&v6, "port").as_deref(), Some("5433"));
    }

    fn opts(url: &str) -> PgOptions {
        PgOptions {
            url: url.into(),
            schema: "s".into(),
            password: None,
            ca_file: None,
            connect_timeout: Duration::from_secs(1),
            statement_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn passwords_in_the_url_and_tls_without_a_ca_are_refused() {
        for url in ["host=x password=p", "postgres://u:p@x/db", "postgres://x/db?password=p"] {
            let e = prepare(&opts(url)).err().unwrap();
            assert!(e.reason().contains("password_file"), "{url}: {}", e.reason());
        }
        // TCP without sslmode=disable needs a CA: verify-full is the default.
        let e = prepare(&opts("host=127.0.0.1")).err().unwrap();
        assert!(e.reason().contains("CA"), "{}", e.reason());
        assert!(prepare(&opts("host=127.0.0.1 sslmode=disable")).unwrap().tls.is_none());
        assert!(prepare(&opts("host=/run/postgresql")).unwrap().tls.is_none());
        assert!(prepare(&opts("host=x sslmode=bogus")).is_err());
    }

    #[test]
    fn host_names_are_resolved_here() {
        let p = prepare(&opts("host=localhost,127.0.0.2 port=7,8 sslmode=disable")).unwrap();
        let hosts = p.config.get_hosts().len();
        assert!(hosts >= 2);
        assert_eq!(p.config.get_hostaddrs().len(), hosts, "every TCP host has its address");
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(valid_schema("keyward_slot_0"));
        for s in ["", "0a", "A", "a-b", "a;drop", &"a".repeat(64)] {
            assert!(!valid_schema(s), "{s}");
        }
    }
}
