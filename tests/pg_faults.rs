//! Faults of the PostgreSQL store with servers of the test's own (made by
//! `scripts/pg-cluster` in a temp dir, so restarting them disturbs no other
//! test): a server down at C_Initialize and started later, a server
//! restarted mid-run, a connection cut (and a server killed) in the middle
//! of a multi-row write transaction, and a primary killed and its
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
/// One running server `<root>/c` (stopped when the `Servers` drops) and a
/// token config on it.
fn one_server() -> (tempfile::TempDir, PathBuf, Servers, CString) {
    let root = shared_tempdir();
    let c = root.path().join("c");
    let servers = Servers(vec![c.clone()]);
    cluster(&["start", c.to_str().unwrap()]);
    let conf = config(root.path(), std::slice::from_ref(&c));
    (root, c, servers, conf)
}

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
    let (_root, c, _servers, conf) = one_server();
    let p11 = load(&conf);
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

#[test]
fn a_server_down_at_c_initialize_is_opened_when_it_comes_up() {
    if skip() {
        return;
    }
    let (_root, c, _servers, conf) = one_server();
    cluster(&["stop", c.to_str().unwrap()]);

    // C_Initialize succeeds and lists the slot; slot info and the mechanism
    // calls answer without the server.
    let p11 = load(&conf);
    let slots = p11.get_all_slots().unwrap();
    assert_eq!(slots.len(), 1);
    let slot = slots[0];
    let info = p11.get_slot_info(slot).unwrap();
    assert!(info.token_present(), "a non-removable slot always has its token present");
    assert!(!p11.get_mechanism_list(slot).unwrap().is_empty());
    p11.get_mechanism_info(slot, cryptoki::mechanism::MechanismType::AES_KEY_GEN).unwrap();
    // Calls that need the token fail with CKR_DEVICE_ERROR, each within the
    // connect timeout (2 s per host; localhost may resolve to two addresses).
    for _ in 0..3 {
        let t = Instant::now();
        assert_eq!(rv(p11.get_token_info(slot).unwrap_err()), RvError::DeviceError);
        assert_eq!(rv(p11.open_rw_session(slot).unwrap_err()), RvError::DeviceError);
        assert_eq!(rv(p11.init_token(slot, &pin(SO_PIN), "faults").unwrap_err()), RvError::DeviceError);
        assert!(t.elapsed() < Duration::from_secs(12), "{:?}", t.elapsed());
    }

    // The server comes up: the next call opens the token, without C_Finalize.
    cluster(&["restart", c.to_str().unwrap()]);
    let (info, failures) = until_ok(Duration::from_secs(30), Duration::from_secs(12), || p11.get_token_info(slot));
    eprintln!("down at C_Initialize: {failures} call(s) failed after the start");
    assert!(!info.token_initialized());
    let s = session(&p11);
    create(&s, "late").unwrap();
    assert_eq!(versions(&s, "late"), 1);
}

/// A trigger on the token's objects table that stalls (4 s, under the
/// slot's 5 s statement timeout) at the second object row a transaction
/// writes: the first row is then written and uncommitted, so the cut lands
/// between two statements of one write transaction.
const STALL: &str = "CREATE FUNCTION kw_test_stall() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
     IF current_setting('kw_test.rows', true) = '1' THEN PERFORM pg_sleep(4); END IF; \
     PERFORM set_config('kw_test.rows', '1', true); RETURN NULL; END $$; \
     CREATE TRIGGER kw_test_stall AFTER INSERT OR UPDATE ON objects FOR EACH ROW EXECUTE FUNCTION kw_test_stall();";

/// Waits until a backend sleeps in the stall, then runs `cut` on its pid.
fn when_stalled(conf: &Path, cut: impl FnOnce(i32) + Send + 'static) -> std::thread::JoinHandle<bool> {
    let conf = conf.to_path_buf();
    std::thread::spawn(move || {
        let mut c = pg_client(&conf);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            let rows = c
                .query("SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND pid <> pg_backend_pid()", &[])
                .unwrap();
            if let Some(r) = rows.first() {
                let pid: i32 = r.get(0);
                drop(c);
                cut(pid);
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    })
}

fn object_rows(conf: &Path) -> i64 {
    pg_client(conf).query_one("SELECT count(*) FROM objects", &[]).unwrap().get(0)
}

#[test]
fn a_write_transaction_cut_between_statements_leaves_all_or_nothing() {
    if skip() {
        return;
    }
    let (_root, c, _servers, conf) = one_server();
    let conf_path = PathBuf::from(conf.to_str().unwrap());
    let p11 = load(&conf);
    let s = session(&p11);
    create(&s, "r").unwrap();
    let rotate = [Attribute::Label(b"r".to_vec()), vbool(CKA_KEYWARD_ROTATE, true)];
    // A rotation writes two object rows in one transaction: the new
    // version (insert) and the old primary (update: no longer primary).
    pg_client(&conf_path).batch_execute(STALL).unwrap();
    let rows = object_rows(&conf_path);

    // 1. The backend terminated (pg_terminate_backend) mid-transaction.
    let cp = conf_path.clone();
    let cutter = when_stalled(&conf_path, move |pid| {
        let ok: bool = pg_client(&cp).query_one("SELECT pg_terminate_backend($1)", &[&pid]).unwrap().get(0);
        assert!(ok);
    });
    let t = Instant::now();
    let e = s.generate_key(&Mechanism::AesKeyGen, &rotate).unwrap_err();
    assert!(cutter.join().unwrap(), "the transaction never reached its second row");
    assert_eq!(rv(e), RvError::DeviceError);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(object_rows(&conf_path), rows, "nothing of the cut transaction is in the store");
    assert_eq!(versions(&s, "r"), 1, "the module sees no half rotation");

    // 2. The server killed (immediate stop, like a crash) mid-transaction,
    // then started again.
    let cd = c.clone();
    let killer = when_stalled(&conf_path, move |_| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-cluster");
        let st = std::process::Command::new("bash").arg(script).arg("kill").arg(&cd).status().unwrap();
        assert!(st.success());
    });
    let e = s.generate_key(&Mechanism::AesKeyGen, &rotate).unwrap_err();
    assert!(killer.join().unwrap(), "the transaction never reached its second row");
    assert_eq!(rv(e), RvError::DeviceError);
    cluster(&["restart", c.to_str().unwrap()]);
    until_ok(Duration::from_secs(30), Duration::from_secs(12), || s.find_objects(&[]));
    assert_eq!(object_rows(&conf_path), rows, "crash recovery kept nothing of the cut transaction");
    assert_eq!(versions(&s, "r"), 1);

    // The next call recovers: without the stall the rotation commits whole.
    pg_client(&conf_path).batch_execute("DROP TRIGGER kw_test_stall ON objects").unwrap();
    s.generate_key(&Mechanism::AesKeyGen, &rotate).unwrap();
    assert_eq!(versions(&s, "r"), 2);
    assert_eq!(object_rows(&conf_path), rows + 1);
    let primary = s.find_objects(&[Attribute::Label(b"r".to_vec())]).unwrap();
    assert_eq!(primary.len(), 1, "exactly one primary version");
    // The key works.
    let iv = [7u8; 16];
    s.encrypt(&Mechanism::AesCbcPad(iv), primary[0], b"after the cuts").unwrap();
}

/// A small tmpfs mounted for the test (root only; unmounted when dropped,
/// after the server that uses it has stopped).
struct SmallFs(PathBuf);

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

fn data_object(s: &Session, label: &str, value: Vec<u8>) -> cryptoki::error::Result<ObjectHandle> {
    s.create_object(&[
        Attribute::Class(cryptoki::object::ObjectClass::DATA),
        Attribute::Token(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Value(value),
    ])
}

/// Disk full for real: the token's objects table in a tablespace on a
/// 4 MiB tmpfs (the README's way to bound a token's size). Needs
/// `mount -t tmpfs`: as root with CAP_SYS_ADMIN; elsewhere (an unprivileged
/// container) the test says so and does nothing.
#[test]
fn a_full_disk_is_ckr_device_memory_and_loses_nothing() {
    if skip() {
        return;
    }
    let root = shared_tempdir();
    let fs = root.path().join("small");
    std::fs::create_dir(&fs).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs"])
        .arg(&fs)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !mounted {
        eprintln!("pg_faults: disk full NOT TESTED: `mount -t tmpfs` refused here (needs root with CAP_SYS_ADMIN)");
        return;
    }
    let _fs = SmallFs(fs.clone());
    let c = root.path().join("c");
    let _servers = Servers(vec![c.clone()]);
    cluster(&["start", c.to_str().unwrap()]);
    if is_root() {
        let st = std::process::Command::new("chown").arg("postgres:").arg(&fs).status().unwrap();
        assert!(st.success());
    }
    let conf = config(root.path(), std::slice::from_ref(&c));
    let conf_path = PathBuf::from(conf.to_str().unwrap());
    let p11 = load(&conf);
    let s = session(&p11);
    create(&s, "kept").unwrap();
    {
        let mut pg = pg_client(&conf_path);
        pg.batch_execute(&format!("CREATE TABLESPACE small LOCATION '{}'", fs.display())).unwrap();
        pg.batch_execute("ALTER TABLE objects SET TABLESPACE small").unwrap();
        let idx = pg
            .query(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'objects'",
                &[],
            )
            .unwrap();
        for r in idx {
            let name: String = r.get(0);
            pg.batch_execute(&format!("ALTER INDEX \"{name}\" SET TABLESPACE small")).unwrap();
        }
    }
    // Incompressible values (TOAST would compress repeated bytes).
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut value = || {
        (0..32 * 1024)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect::<Vec<u8>>()
    };
    let mut made = 0;
    let full = loop {
        match data_object(&s, &format!("d{made}"), value()) {
            Ok(_) => made += 1,
            Err(e) => break rv(e),
        }
        assert!(made < 1000, "a 4 MiB file system never filled");
    };
    eprintln!("disk full after {made} objects of 32 KiB");
    assert_eq!(full, RvError::DeviceMemory, "disk full is CKR_DEVICE_MEMORY");
    assert!(made > 10, "the table filled the file system ({made} objects)");
    // Nothing committed is lost, the module keeps working for reads and
    // key use, and the failed create left nothing.
    assert_eq!(versions(&s, "kept"), 1);
    let all = s.find_objects(&[Attribute::Class(cryptoki::object::ObjectClass::DATA)]).unwrap();
    assert_eq!(all.len(), made);
    let k = s.find_objects(&[Attribute::Label(b"kept".to_vec())]).unwrap()[0];
    s.encrypt(&Mechanism::AesCbcPad([1; 16]), k, b"still usable").unwrap();
    // The file system grows: the next create succeeds, without C_Finalize.
    let st = std::process::Command::new("mount").args(["-o", "remount,size=64m"]).arg(&fs).status().unwrap();
    assert!(st.success());
    data_object(&s, "after", value()).unwrap();
    assert_eq!(s.find_objects(&[Attribute::Class(cryptoki::object::ObjectClass::DATA)]).unwrap().len(), made + 1);
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
