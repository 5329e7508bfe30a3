//! Faults of the PostgreSQL store with servers of the test's own (made by
//! `scripts/pg-cluster` in a temp dir, so restarting them disturbs no other
//! test): a server restarted mid-run, and a primary killed and its
//! synchronous hot standby promoted. Calls during the outage fail with
//! `CKR_DEVICE_ERROR` within the configured timeouts, the module recovers
//! without C_Finalize, and nothing acknowledged is lost. Run on the
//! PostgreSQL pass (`KEYWARD_TEST_STORE=postgres`, scripts/test).

mod common;
use common::*;
use cryptoki::context::Pkcs11;
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectHandle};
use cryptoki::session::{Session, UserType};
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const VD: u64 = 0x8000_0000;
const CKA_KEYWARD_ROTATE: u64 = VD | 0x4B57_000B;
const CKA_KEYWARD_ALL_VERSIONS: u64 = VD | 0x4B57_000C;

fn cluster(args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-cluster");
    let st = std::process::Command::new("bash").arg(script).args(args).status().unwrap();
    assert!(st.success(), "pg-cluster {args:?}");
}

/// Stops the servers under these directories when dropped (also when a
/// test fails half-way).
struct Servers(Vec<PathBuf>);

impl Drop for Servers {
    fn drop(&mut self) {
        for d in &self.0 {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-cluster");
            let _ = std::process::Command::new("bash").arg(script).arg("stop").arg(d).status();
        }
    }
}

/// A temp dir the `postgres` user (who owns the servers under root) can enter.
fn shared_tempdir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

fn port(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("port")).unwrap().trim().to_string()
}

/// A module config whose one slot lives on the servers in `servers`.
fn config(root: &Path, servers: &[PathBuf]) -> CString {
    let ports: Vec<String> = servers.iter().map(|d| port(d)).collect();
    let hosts = vec!["localhost"; servers.len()].join(",");
    let conf = root.join("keyward.toml");
    std::fs::write(
        &conf,
        format!(
            "[policy]\npbkdf2_iterations = 1000\n[kms]\ndeletion_grace = \"0\"\n[[slot]]\npath = \"{}\"\n\
             store = \"postgres\"\nschema = \"faults\"\n\
             url = \"host={hosts} port={} user=keyward dbname=keyward target_session_attrs=read-write\"\n\
             password_file = \"{}\"\nca_file = \"{}\"\nconnect_timeout_ms = 2000\nstatement_timeout_ms = 5000\n",
            root.join("token").display(),
            ports.join(","),
            servers[0].join("password").display(),
            servers[0].join("ca.crt").display(),
        ),
    )
    .unwrap();
    CString::new(conf.display().to_string()).unwrap()
}

fn skip() -> bool {
    if !on_postgres() {
        eprintln!("pg_faults: runs on the PostgreSQL pass (KEYWARD_TEST_STORE=postgres)");
        return true;
    }
    false
}

fn session(p11: &Pkcs11) -> Session {
    let slot = p11.get_all_slots().unwrap()[0];
    p11.init_token(slot, &pin(SO_PIN), "faults").unwrap();
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    s.init_pin(&pin(USER_PIN)).unwrap();
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    s
}

fn create(s: &Session, label: &str) -> cryptoki::error::Result<ObjectHandle> {
    s.generate_key(&Mechanism::AesKeyGen, &aes_token_key_template(label))
}

fn versions(s: &Session, label: &str) -> usize {
    s.find_objects(&[Attribute::Label(label.as_bytes().to_vec()), vbool(CKA_KEYWARD_ALL_VERSIONS, true)]).unwrap().len()
}

/// Retries `f` until it succeeds (within `limit`); every failure on the way
/// must be CKR_DEVICE_ERROR and come back within `per_call`.
fn until_ok<T>(limit: Duration, per_call: Duration, mut f: impl FnMut() -> cryptoki::error::Result<T>) -> (T, usize) {
    let start = Instant::now();
    let mut failures = 0;
    loop {
        let t = Instant::now();
        match f() {
            Ok(v) => return (v, failures),
            Err(e) => {
                assert_eq!(rv(e), RvError::DeviceError, "an outage is a device error");
                assert!(t.elapsed() < per_call, "a call took {:?} (never hang)", t.elapsed());
                failures += 1;
                assert!(start.elapsed() < limit, "no recovery within {limit:?}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

#[test]
fn a_server_restart_mid_run_is_survived_without_c_finalize() {
    if skip() {
        return;
    }
    let root = shared_tempdir();
    let c = root.path().join("c");
    let _servers = Servers(vec![c.clone()]);
    cluster(&["start", c.to_str().unwrap()]);
    let p11 = load(&config(root.path(), std::slice::from_ref(&c)));
    let s = session(&p11);
    create(&s, "before").unwrap();
    cluster(&["restart", c.to_str().unwrap()]);
    // The cut connection fails a call or two with CKR_DEVICE_ERROR, then
    // the module reconnects by itself.
    let (_, failures) = until_ok(Duration::from_secs(30), Duration::from_secs(15), || create(&s, "after"));
    eprintln!("restart: {failures} call(s) failed before the reconnect");
    assert_eq!(versions(&s, "before"), 1, "committed before the restart");
    assert_eq!(versions(&s, "after"), 1);
}

#[test]
fn failover_to_a_synchronous_standby_loses_nothing_acknowledged() {
    if skip() {
        return;
    }
    let root = shared_tempdir();
    let (p, sb) = (root.path().join("primary"), root.path().join("standby"));
    let _servers = Servers(vec![p.clone(), sb.clone()]);
    cluster(&["start", p.to_str().unwrap()]);
    cluster(&["standby", p.to_str().unwrap(), sb.to_str().unwrap()]);
    let p11 = load(&config(root.path(), &[p.clone(), sb.clone()]));
    let s = session(&p11);
    // Acknowledged work: creates, a rotation, a destroy.
    for i in 0..5 {
        create(&s, &format!("k{i}")).unwrap();
    }
    let rotate = [Attribute::Label(b"k0".to_vec()), vbool(CKA_KEYWARD_ROTATE, true)];
    s.generate_key(&Mechanism::AesKeyGen, &rotate).unwrap();
    let k4 = s.find_objects(&[Attribute::Label(b"k4".to_vec())]).unwrap()[0];
    s.destroy_object(k4).unwrap();

    cluster(&["kill", p.to_str().unwrap()]);
    // The primary is gone and the standby refuses writes (read-only, and
    // target_session_attrs=read-write skips it): a device error, quickly.
    let t = Instant::now();
    assert_eq!(rv(create(&s, "during").unwrap_err()), RvError::DeviceError);
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());

    cluster(&["promote", sb.to_str().unwrap()]);
    let (_, failures) = until_ok(Duration::from_secs(60), Duration::from_secs(15), || create(&s, "after"));
    eprintln!("failover: {failures} more call(s) failed before the promoted standby took over");
    assert_eq!(versions(&s, "k0"), 2, "the rotation survived");
    for i in 1..4 {
        assert_eq!(versions(&s, &format!("k{i}")), 1, "k{i} survived");
    }
    assert_eq!(versions(&s, "k4"), 0, "the destroy survived");
    assert_eq!(versions(&s, "during"), 0, "the refused call wrote nothing");
    assert_eq!(versions(&s, "after"), 1);
}
