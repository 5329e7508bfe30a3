//! The audit log, events and metrics through the built module and the CLI.
//!
//! One process per test (`cargo nextest run --test audit`, or
//! `--test-threads=1`): the module is process-global.

mod common;
use common::*;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::session::UserType;
use serde_json::Value;
use std::ffi::CString;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A fresh token whose config adds `extra` tables (after [policy]).
fn token_with(extra: &str) -> Token {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_config(dir.path(), &format!("\n{extra}\n"));
    let conf = CString::new(conf.display().to_string()).unwrap();
    let p11 = load(&conf);
    let slot = p11.get_all_slots().unwrap()[0];
    let t = Token { dir, conf, p11, slot };
    t.p11.init_token(t.slot, &pin(SO_PIN), "audited").unwrap();
    let s = t.p11.open_rw_session(t.slot).unwrap();
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    s.init_pin(&pin(USER_PIN)).unwrap();
    s.logout().unwrap();
    t
}

/// A token whose module was finalized: its files and config.
struct Done {
    dir: tempfile::TempDir,
    conf: CString,
    slot: cryptoki::slot::Slot,
}

fn stop(t: Token) -> Done {
    let Token { dir, conf, p11, slot } = t;
    p11.finalize().unwrap();
    Done { dir, conf, slot }
}

trait Files {
    fn root(&self) -> &Path;
    fn conf(&self) -> &CString;
}
impl Files for Token {
    fn root(&self) -> &Path {
        self.dir.path()
    }
    fn conf(&self) -> &CString {
        &self.conf
    }
}
impl Files for Done {
    fn root(&self) -> &Path {
        self.dir.path()
    }
    fn conf(&self) -> &CString {
        &self.conf
    }
}

fn conf_path(t: &impl Files) -> String {
    t.conf().to_str().unwrap().to_string()
}

fn token_dir(t: &impl Files) -> PathBuf {
    t.root().join("token")
}

fn cli(conf: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_keyward")).arg("--conf").arg(conf).args(args).output().unwrap()
}

fn records(t: &impl Files) -> Vec<Value> {
    let out = cli(&conf_path(t), &["audit", "show", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn find<'a>(recs: &'a [Value], function: &str, result: &str) -> &'a Value {
    recs.iter()
        .find(|r| r["function"] == function && r["result"] == result)
        .unwrap_or_else(|| panic!("no {function} record with {result} in {recs:#?}"))
}

fn common_fields(r: &Value) {
    for f in ["seq", "prev", "time", "kind", "pid", "user", "token", "slot", "role", "function", "result", "mac"] {
        assert!(!r[f].is_null(), "field {f} missing in {r}");
    }
    assert_eq!(r["token"], "audited");
    assert!(r["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(r["pid"].as_u64().unwrap(), std::process::id() as u64);
}

fn aes_key(s: &cryptoki::session::Session, label: &str, token: bool, encrypt: bool) -> cryptoki::object::ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Value((1..=32).collect()),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Token(token),
        Attribute::Encrypt(encrypt),
        Attribute::Decrypt(true),
    ])
    .unwrap()
}

#[test]
fn every_record_type_has_its_fields() {
    let t = token_with("");
    let s = t.p11.open_rw_session(t.slot).unwrap();
    assert!(s.login(UserType::User, Some(&pin("wrong-pin"))).is_err());
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    let k = aes_key(&s, "payments", true, true);
    let no_enc = aes_key(&s, "decrypt-only", false, false);
    let ct = s.encrypt(&Mechanism::AesEcb, k, &[0u8; 32]).unwrap();
    s.decrypt(&Mechanism::AesEcb, k, &ct).unwrap();
    assert!(s.encrypt(&Mechanism::AesEcb, no_enc, &[0u8; 16]).is_err());
    s.update_attributes(k, &[Attribute::Label(b"payments2".to_vec())]).unwrap();
    let copy = s.copy_object(k, &[Attribute::Label(b"copy".to_vec())]).unwrap();
    s.destroy_object(copy).unwrap();
    s.set_pin(&pin(USER_PIN), &pin("user-pin-5678")).unwrap();
    s.logout().unwrap();
    drop(s);
    let t = stop(t);

    let recs = records(&t);
    for r in &recs {
        common_fields(r);
    }
    let init = find(&recs, "C_InitToken", "CKR_OK");
    assert_eq!(init["kind"], "auth");
    let bad = find(&recs, "C_Login", "CKR_PIN_INCORRECT");
    assert!(bad["reason"].as_str().unwrap().contains("wrong"), "{bad}");
    assert!(!bad.to_string().contains("wrong-pin"), "a PIN leaked into the log");
    let ok = find(&recs, "C_Login", "CKR_OK");
    assert!(ok["session"].is_u64());
    let created = find(&recs, "C_CreateObject", "CKR_OK");
    assert_eq!(created["kind"], "object");
    assert_eq!(created["created"][0]["label"], "payments");
    assert!(created["created"][0]["uid"].is_string());
    let uid = created["created"][0]["uid"].as_str().unwrap();
    for f in ["C_EncryptInit", "C_Encrypt", "C_DecryptInit", "C_Decrypt"] {
        let r = recs.iter().find(|r| r["function"] == f && r["key"]["uid"] == uid).unwrap_or_else(|| panic!("{f}"));
        assert_eq!(r["kind"], "crypto");
        assert_eq!(r["mechanism"], "CKM_AES_ECB");
        assert_eq!(r["role"], "user");
        assert_eq!(r["result"], "CKR_OK");
        assert_eq!(r["key"]["label"], "payments");
    }
    let refused = find(&recs, "C_EncryptInit", "CKR_KEY_FUNCTION_NOT_PERMITTED");
    assert_eq!(refused["key"]["label"], "decrypt-only");
    assert!(refused["reason"].as_str().unwrap().contains("Encrypt"), "{refused}");
    let set = find(&recs, "C_SetAttributeValue", "CKR_OK");
    assert_eq!(set["key"]["uid"], uid);
    assert!(set["details"]["attributes"].is_array());
    find(&recs, "C_CopyObject", "CKR_OK");
    find(&recs, "C_DestroyObject", "CKR_OK");
    assert_eq!(find(&recs, "C_SetPIN", "CKR_OK")["kind"], "auth");
    find(&recs, "C_InitPIN", "CKR_OK");
    find(&recs, "C_Logout", "CKR_OK");
    let show = cli(&conf_path(&t), &["audit", "show", "--key", "payments"]);
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.contains("C_EncryptInit") && !text.contains("decrypt-only"), "{text}");
}

fn verify(conf: &str) -> (bool, String) {
    let out = cli(conf, &["audit", "verify"]);
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn verify_detects_each_kind_of_tampering() {
    let t = token_with("");
    let s = t.user_session();
    for i in 0..5 {
        let k = aes_key(&s, &format!("k{i}"), true, true);
        s.encrypt(&Mechanism::AesEcb, k, &[0u8; 16]).unwrap();
    }
    drop(s);
    let t = stop(t);
    let conf = conf_path(&t);
    let log = token_dir(&t).join("audit.jsonl");
    let original = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    assert!(lines.len() > 10);
    let (ok, msg) = verify(&conf);
    assert!(ok, "{msg}");

    let put = |ls: &[String]| std::fs::write(&log, ls.join("\n") + "\n").unwrap();
    let owned = || lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    let check = |what: &str, seq: &str| {
        let (ok, msg) = verify(&conf);
        assert!(!ok, "{what}: verify passed");
        assert!(msg.contains(seq), "{what}: expected {seq} in {msg}");
        println!("{what}: {msg}");
    };
    // Edit one byte (in the function name of record 5).
    let mut v = owned();
    v[4] = v[4].replacen("\"function\":\"C_", "\"function\":\"D_", 1);
    put(&v);
    check("edited byte", "seq 5");
    // Delete a line.
    let mut v = owned();
    v.remove(4);
    put(&v);
    check("deleted line", "seq 6");
    // Swap two lines.
    let mut v = owned();
    v.swap(4, 5);
    put(&v);
    check("swapped lines", "seq 6");
    // Truncate the tail.
    let v = owned();
    put(&v[..v.len() - 2]);
    check("truncated tail", "truncated");
    // Append a forged line: a copy of the last record with the next seq.
    let mut v = owned();
    let last: Value = serde_json::from_str(v.last().unwrap()).unwrap();
    let n = last["seq"].as_u64().unwrap();
    let forged = v.last().unwrap().replacen(&format!("\"seq\":{n},"), &format!("\"seq\":{},", n + 1), 1);
    v.push(forged);
    put(&v);
    check("forged line", &format!("seq {}", n + 1));
    // Restored: passes again.
    std::fs::write(&log, &original).unwrap();
    let (ok, msg) = verify(&conf);
    assert!(ok, "{msg}");
}

fn verify_with(conf: &str, witness: &Path) -> (bool, String) {
    let out = cli(conf, &["audit", "verify", "--witness", witness.to_str().unwrap()]);
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn meta(t: &impl Files, key: &str) -> Option<String> {
    if on_postgres() {
        // The anchor and start of a shared store are per host (`KEY@HOST:DIR`).
        let mut c = pg_client(std::path::Path::new(&conf_path(t)));
        let row = c
            .query_opt("SELECT value FROM meta WHERE key = $1 OR key LIKE $1 || '@%' ORDER BY key LIMIT 1", &[&key])
            .unwrap();
        return row.map(|r| String::from_utf8(r.get::<_, Vec<u8>>(0)).unwrap());
    }
    let c = rusqlite::Connection::open(token_dir(t).join("token.sqlite")).unwrap();
    c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get::<_, Vec<u8>>(0))
        .ok()
        .map(|v| String::from_utf8(v).unwrap())
}

fn delete_meta(t: &impl Files, key: &str) {
    if on_postgres() {
        let mut c = pg_client(std::path::Path::new(&conf_path(t)));
        let n = c.execute("DELETE FROM meta WHERE key = $1 OR key LIKE $1 || '@%'", &[&key]).unwrap();
        assert_eq!(n, 1, "{key}");
        return;
    }
    let c = rusqlite::Connection::open(token_dir(t).join("token.sqlite")).unwrap();
    assert_eq!(c.execute("DELETE FROM meta WHERE key = ?1", [key]).unwrap(), 1, "{key}");
}

/// Appends a record after the last one of `log`, chained to it and MACed
/// with `key` as keyward would (what a reader of the audit key can do).
fn forge_next(log: &Path, key: &[u8]) -> u64 {
    let text = std::fs::read_to_string(log).unwrap();
    let last = text.lines().last().unwrap();
    let (body, mac) = last.split_at(last.len() - 74);
    assert!(mac.starts_with(",\"mac\":\""));
    let mac = &mac[8..72];
    let mut v: Value = serde_json::from_str(&format!("{body}}}")).unwrap();
    let seq = v["seq"].as_u64().unwrap() + 1;
    v["seq"] = seq.into();
    v["prev"] = mac.into();
    v["function"] = "C_Forged".into();
    let body = v.to_string();
    let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let tag = aws_lc_rs::hmac::sign(&k, &[&b"keyward-audit-v1\0"[..], body.as_bytes()].concat());
    let line = format!("{},\"mac\":\"{}\"}}\n", &body[..body.len() - 1], hex::encode(tag.as_ref()));
    std::fs::write(log, text + &line).unwrap();
    seq
}

/// The anchors in a witness file, by sequence number.
fn witnessed(events: &Path) -> Vec<u64> {
    std::fs::read_to_string(events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["type"] == "dev.keyward.audit.anchor")
        .map(|e| e["data"]["seq"].as_u64().unwrap())
        .collect()
}

#[test]
fn the_witness_catches_a_truncated_or_deleted_log_whose_anchor_was_deleted_too() {
    let t = token_with("[events]\nfile = \"events.jsonl\"\n[audit]\nwitness_ms = 0\n");
    let s = t.user_session();
    for i in 0..3 {
        let k = aes_key(&s, &format!("k{i}"), true, true);
        s.encrypt(&Mechanism::AesEcb, k, &[0u8; 16]).unwrap();
    }
    drop(s);
    let t = stop(t);
    let conf = conf_path(&t);
    let events = t.root().join("events.jsonl");
    let log = token_dir(&t).join("audit.jsonl");
    let original = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    let last_seen = *witnessed(&events).iter().max().expect("anchors were witnessed");
    assert_eq!(last_seen as usize, lines.len(), "the last anchor is witnessed at shutdown");
    let (ok, msg) = verify_with(&conf, &events);
    assert!(ok && msg.contains("consistent with the witness"), "{msg}");

    // Truncate the log and delete the anchor row: the store alone cannot tell.
    std::fs::write(&log, lines[..lines.len() - 3].join("\n") + "\n").unwrap();
    delete_meta(&t, "audit.anchor");
    let (ok, msg) = verify(&conf);
    assert!(ok, "without a witness the truncation goes unseen: {msg}");
    let (ok, msg) = verify_with(&conf, &events);
    assert!(!ok && msg.contains(&format!("seq {last_seen}")) && msg.contains("witness"), "{msg}");
    // Delete the whole log (and the audit key): still caught.
    std::fs::remove_file(&log).unwrap();
    let (ok, msg) = verify_with(&conf, &events);
    assert!(!ok && msg.contains(&format!("seq {last_seen}")), "{msg}");
    delete_meta(&t, "audit.key");
    let (ok, msg) = verify_with(&conf, &events);
    assert!(!ok && msg.contains(&format!("seq {last_seen}")), "{msg}");
    // A witness file of another token proves nothing.
    let other = t.root().join("other.jsonl");
    std::fs::write(
        &other,
        "{\"type\":\"dev.keyward.audit.anchor\",\"data\":{\"serial\":\"x\",\"seq\":1,\"mac\":\"00\"}}\n",
    )
    .unwrap();
    let (ok, msg) = verify_with(&conf, &other);
    assert!(!ok && msg.contains("no anchor of this token"), "{msg}");
}

#[test]
fn a_record_forged_with_the_stored_key_fails_once_a_kek_protects_it() {
    // Without a KEK the key is in the store and a forged record verifies
    // (the threat), ...
    let t = stop(token_with(""));
    let conf = conf_path(&t);
    let log = token_dir(&t).join("audit.jsonl");
    let clear = hex::decode(meta(&t, "audit.key").unwrap()).unwrap();
    let n = forge_next(&log, &clear);
    let (ok, msg) = verify(&conf);
    assert!(ok, "forged seq {n} with the stored key verifies without a KEK: {msg}");

    // ... with one configured the store holds it sealed: what a reader finds
    // there does not MAC a record that verifies.
    let keys = tempfile::tempdir().unwrap();
    let kek = keys.path().join("kek");
    let out = cli("/nonexistent.toml", &["kek", "new", kek.to_str().unwrap()]);
    assert!(out.status.success());
    let kek_table = format!("[store]\nkek_file = \"{}\"\n", kek.display());
    let t = stop(token_with(&kek_table));
    let conf = conf_path(&t);
    let log = token_dir(&t).join("audit.jsonl");
    let stored = meta(&t, "audit.key").unwrap();
    let sealed = stored.strip_prefix("kek1:").expect("sealed under the KEK");
    let (ok, msg) = verify(&conf);
    assert!(ok, "{msg}");
    let bytes = hex::decode(sealed).unwrap();
    for guess in [&bytes[..32], &bytes[bytes.len() - 32..]] {
        let good = std::fs::read_to_string(&log).unwrap();
        let n = forge_next(&log, guess);
        let (ok, msg) = verify(&conf);
        assert!(!ok && msg.contains(&format!("seq {n}")) && msg.contains("MAC"), "{msg}");
        std::fs::write(&log, good).unwrap();
    }

    // A KEK added to an existing token: the clear key is replaced by a
    // sealed one (the old one still checks the records before), and a record
    // forged with the old key fails.
    let t = stop(token_with(""));
    let log = token_dir(&t).join("audit.jsonl");
    let old = hex::decode(meta(&t, "audit.key").unwrap()).unwrap();
    let conf = write_config(t.root(), &format!("\n{kek_table}"));
    let conf = conf.to_str().unwrap().to_string();
    let (ok, msg) = verify(&conf);
    assert!(ok, "{msg}");
    assert!(meta(&t, "audit.key").unwrap().starts_with("kek1:"), "sealed at the first open with the KEK");
    assert!(meta(&t, "audit.key.before_kek").is_some());
    let good = std::fs::read_to_string(&log).unwrap();
    let n = forge_next(&log, &old);
    let (ok, msg) = verify(&conf);
    assert!(!ok && msg.contains(&format!("seq {n}")), "{msg}");
    std::fs::write(&log, good).unwrap();
    // Putting a clear key back (with the log rewritten under it) is refused.
    if on_postgres() {
        let mut c = pg_client(std::path::Path::new(&conf));
        c.execute("UPDATE meta SET value = $1 WHERE key = 'audit.key'", &[&hex::encode(&old).into_bytes()]).unwrap();
    } else {
        let c = rusqlite::Connection::open(token_dir(&t).join("token.sqlite")).unwrap();
        c.execute("UPDATE meta SET value = ?1 WHERE key = 'audit.key'", [hex::encode(&old).into_bytes()]).unwrap();
    }
    let (ok, msg) = verify(&conf);
    assert!(!ok && msg.contains("in the clear"), "{msg}");
}

/// The child of `sigkill_loses_no_auth_or_object_record`: logs in and out,
/// changes the PIN and creates/destroys token objects until killed, and
/// prints each iteration after its calls returned.
#[test]
#[ignore]
fn crash_child() {
    let Ok(conf) = std::env::var("KEYWARD_CRASH_CONF") else { return };
    let conf = CString::new(conf).unwrap();
    let p11 = load(&conf);
    let slot = p11.get_all_slots().unwrap()[0];
    let s = p11.open_rw_session(slot).unwrap();
    let pins = [USER_PIN, "user-pin-5678"];
    let mut out = std::io::stdout();
    for i in 0.. {
        let (cur, next) = (pins[i % 2], pins[(i + 1) % 2]);
        s.login(UserType::User, Some(&pin(cur))).unwrap();
        let h = s
            .create_object(&[
                Attribute::Class(ObjectClass::DATA),
                Attribute::Token(true),
                Attribute::Label(format!("crash-{i}").into_bytes()),
                Attribute::Value(vec![1, 2, 3]),
            ])
            .unwrap();
        let k = aes_key(&s, &format!("session-{i}"), false, true);
        s.encrypt(&Mechanism::AesEcb, k, &[0u8; 16]).unwrap();
        s.destroy_object(h).unwrap();
        s.set_pin(&pin(cur), &pin(next)).unwrap();
        s.logout().unwrap();
        use std::io::Write;
        writeln!(out, "done {i}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn sigkill_loses_no_auth_or_object_record() {
    let t = token_with("");
    let t = stop(t);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env("KEYWARD_CRASH_CONF", conf_path(&t))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut done = -1i64;
    let reader = std::io::BufReader::new(child.stdout.take().unwrap());
    for line in reader.lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("done ") {
            done = n.parse().unwrap();
            if done >= 15 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL, mid-stream
    child.wait().unwrap();
    assert!(done >= 15, "the child did not get going");
    let (ok, msg) = verify(&conf_path(&t));
    assert!(ok, "chain broken after SIGKILL: {msg}");
    let recs = records(&t);
    let count = |f: &str| recs.iter().filter(|r| r["function"] == f && r["pid"] != std::process::id()).count() as i64;
    // Every iteration that completed before the kill is in the log.
    for f in ["C_Login", "C_Logout", "C_SetPIN", "C_DestroyObject"] {
        assert!(count(f) > done, "{f}: {} records for {} completed iterations", count(f), done + 1);
    }
    for i in 0..=done {
        let label = format!("crash-{i}");
        assert!(
            recs.iter().any(|r| r["function"] == "C_CreateObject" && r["created"][0]["label"] == label.as_str()),
            "creation of {label} lost"
        );
    }
}

fn wait_for(path: &Path) -> String {
    for _ in 0..500 {
        if let Ok(s) = std::fs::read_to_string(path)
            && s.ends_with('\n')
        {
            return s;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{} never appeared", path.display());
}

#[test]
fn lifecycle_alerts_reach_file_syslog_and_hook() {
    use keyward::audit::Lifecycle;
    let dir = tempfile::tempdir().unwrap();
    let hook = dir.path().join("hook.sh");
    let hook_out = dir.path().join("hook-out");
    std::fs::create_dir(&hook_out).unwrap();
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\ncat > {}/$$.tmp && mv {}/$$.tmp {}/$$.json\n",
            hook_out.display(),
            hook_out.display(),
            hook_out.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sock_path = dir.path().join("syslog.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    let events = dir.path().join("events.jsonl");
    let conf = write_config(
        dir.path(),
        &format!(
            "\n[events]\nfile = \"{}\"\nsyslog = true\nsyslog_socket = \"{}\"\nhook = \"{}\"\n",
            events.display(),
            sock_path.display(),
            hook.display()
        ),
    );
    let config = keyward::config::Config::load(Some(&conf)).unwrap();
    let lib = keyward::library::Library::new(config, keyward::types::InitOptions { no_threads: false }).unwrap();
    lib.init_token(0, SO_PIN.as_bytes(), "alerts").unwrap();
    let t = lib.token(0).unwrap().clone();
    // What the KMS calls do: a state change wrapped in audit_lifecycle.
    t.audit_lifecycle(
        Lifecycle::Disabled,
        "keyward_disable_key_version",
        None,
        None,
        Some(serde_json::json!({"version": 2})),
        || Ok(()),
    )
    .unwrap();
    t.audit_lifecycle(Lifecycle::DeletionScheduled, "keyward_schedule_deletion", None, None, None, || Ok(())).unwrap();
    t.audit_lifecycle(Lifecycle::Enabled, "keyward_enable_key_version", None, None, None, || Ok(())).unwrap();
    drop(t);
    drop(lib);

    let text = std::fs::read_to_string(&events).unwrap();
    // (The audit log's witnessed anchors share the file: not lifecycle events.)
    let evs: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["type"] != "dev.keyward.audit.anchor")
        .collect();
    let by_type = |ty: &str| evs.iter().find(|e| e["type"] == ty).unwrap_or_else(|| panic!("no {ty} in {text}"));
    for e in &evs {
        for f in ["specversion", "id", "source", "type", "time", "datacontenttype", "data"] {
            assert!(!e[f].is_null(), "{f} missing in {e}");
        }
        assert_eq!(e["specversion"], "1.0");
    }
    assert_eq!(by_type("dev.keyward.key.disabled")["severity"], "alert");
    assert_eq!(by_type("dev.keyward.key.deletion_scheduled")["severity"], "alert");
    assert_eq!(by_type("dev.keyward.key.enabled")["severity"], "info");
    assert_eq!(by_type("dev.keyward.key.disabled")["data"]["details"]["version"], 2);
    by_type("dev.keyward.token.initialized");

    // Syslog: alerts at WARNING (authpriv = 10: <84>), others at NOTICE (<85>).
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = sock.recv(&mut buf) {
        let m = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !m.contains("dev.keyward.audit.anchor") {
            got.push(m);
        }
        if got.len() >= evs.len() {
            break;
        }
    }
    let disabled = got.iter().find(|m| m.contains("dev.keyward.key.disabled")).expect("disable event in syslog");
    assert!(disabled.starts_with("<84>"), "{disabled}");
    let sched = got.iter().find(|m| m.contains("dev.keyward.key.deletion_scheduled")).unwrap();
    assert!(sched.starts_with("<84>"), "{sched}");
    let enabled = got.iter().find(|m| m.contains("dev.keyward.key.enabled")).unwrap();
    assert!(enabled.starts_with("<85>"), "{enabled}");

    // The hook got each event as CloudEvents JSON on stdin.
    let mut hooked = Vec::new();
    for _ in 0..500 {
        hooked = std::fs::read_dir(&hook_out)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .map(|e| wait_for(&e.path()))
            .collect();
        if hooked.len() >= evs.len() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let hooked: Vec<Value> = hooked.iter().map(|s| serde_json::from_str(s.trim()).unwrap()).collect();
    let h = hooked.iter().find(|e| e["type"] == "dev.keyward.key.disabled").expect("hook got the disable event");
    assert_eq!(h["specversion"], "1.0");
    assert_eq!(h["severity"], "alert");
    // And the lifecycle records are in the audit log, verified.
    let (ok, msg) = verify(conf.to_str().unwrap());
    assert!(ok, "{msg}");
}

#[test]
fn metrics_parse_as_prometheus_text() {
    let t = token_with("");
    let s = t.user_session();
    let k = aes_key(&s, "m", true, true);
    for _ in 0..3 {
        s.encrypt(&Mechanism::AesEcb, k, &[0u8; 16]).unwrap();
    }
    assert!(s.logout().is_ok());
    assert!(s.login(UserType::User, Some(&pin("nope-nope"))).is_err());
    drop(s);
    let t = stop(t);
    let out = cli(&conf_path(&t), &["metrics"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses");
    let sample = |name: &str| scrape.samples.iter().filter(|s| s.metric == name).collect::<Vec<_>>();
    let enc = sample("keyward_operations_total")
        .into_iter()
        .find(|s| s.labels.get("function") == Some("C_Encrypt") && s.labels.get("result") == Some("CKR_OK"))
        .expect("C_Encrypt counter");
    assert!(matches!(enc.value, prometheus_parse::Value::Counter(v) if v == 3.0), "{:?}", enc.value);
    let lf = &sample("keyward_login_failures_total")[0];
    assert!(matches!(lf.value, prometheus_parse::Value::Counter(v) if v == 1.0));
    assert!(!sample("keyward_keys").is_empty());
    assert!(!sample("keyward_pending_deletions").is_empty());
    assert!(!sample("keyward_rotations_due").is_empty());
    assert!(scrape.samples.iter().any(|s| s.metric == "keyward_operation_duration_seconds"));
}

#[test]
fn textfile_collector_output_parses() {
    let dir = tempfile::tempdir().unwrap();
    let prom = dir.path().join("prom");
    std::fs::create_dir(&prom).unwrap();
    let t = token_with(&format!("[metrics]\ntextfile_dir = \"{}\"\ninterval_secs = 1\n", prom.display()));
    let s = t.user_session();
    let k = aes_key(&s, "m", false, true);
    s.encrypt(&Mechanism::AesEcb, k, &[0u8; 16]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1200));
    s.encrypt(&Mechanism::AesEcb, k, &[0u8; 16]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let file = std::fs::read_dir(&prom)
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.path().extension().is_some_and(|x| x == "prom"));
    let text = std::fs::read_to_string(file.expect("textfile written").path()).unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    assert!(scrape.samples.iter().any(|s| s.metric == "keyward_operations_total" && s.labels.get("pid").is_some()));
}

#[test]
fn unwritable_log_refuses_auth_by_default() {
    let t = token_with("");
    let t = stop(t);
    // Make the log unwritable: a directory where the file should be.
    let log = token_dir(&t).join("audit.jsonl");
    let _ = std::fs::remove_file(&log);
    std::fs::create_dir(&log).unwrap();
    let p11 = load(&t.conf);
    let s = p11.open_rw_session(t.slot).unwrap();
    assert_eq!(rv(s.login(UserType::User, Some(&pin(USER_PIN))).unwrap_err()), cryptoki::error::RvError::DeviceError);
}

#[test]
fn unwritable_log_continues_when_configured() {
    let t = token_with("[audit]\non_failure = \"continue\"\n");
    let t = stop(t);
    let log = token_dir(&t).join("audit.jsonl");
    let _ = std::fs::remove_file(&log);
    std::fs::create_dir(&log).unwrap();
    let p11 = load(&t.conf);
    let s = p11.open_rw_session(t.slot).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
}

#[test]
fn audit_can_be_switched_off() {
    let t = token_with("[audit]\nenabled = false\n");
    let s = t.user_session();
    let k = aes_key(&s, "off", true, true);
    s.encrypt(&Mechanism::AesEcb, k, &[0u8; 16]).unwrap();
    drop(s);
    let t = stop(t);
    let log = token_dir(&t).join("audit.jsonl");
    assert!(std::fs::read_to_string(&log).map(|s| s.is_empty()).unwrap_or(true));
}

#[test]
fn automatic_purge_and_rotation_are_recorded_and_key_uses_coalesce() {
    const T0: i64 = 1_907_712_000;
    const DAY: i64 = 86_400;
    // SAFETY: one test per process; set before the module reads it.
    unsafe { std::env::set_var("KEYWARD_TEST_NOW", T0.to_string()) };
    // The config opts into the test clock ([testing]).
    let t = token_with("[testing]\nallow_test_clock = true\n[kms]\ndeletion_grace = \"1d\"");
    let s = t.p11.open_rw_session(t.slot).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    // A generated key that rotates daily, and a key scheduled for deletion.
    let period = Attribute::VendorDefined((
        cryptoki::object::AttributeType::VendorDefined(0x8000_0000 | 0x4B57_0005),
        (DAY as u64).to_ne_bytes().to_vec(),
    ));
    let rot = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[Attribute::ValueLen(32.into()), Attribute::Token(true), Attribute::Label(b"rot".to_vec()), period],
        )
        .unwrap();
    let gone = aes_key(&s, "gone", true, true);
    s.destroy_object(gone).unwrap();
    // 100 uses of one key: coalesced in the log, every one counted.
    let iv = [7u8; 16];
    for _ in 0..100 {
        s.encrypt(&Mechanism::AesCbcPad(iv), rot, b"data").unwrap();
    }
    // Two days later the next login purges and rotates (recorded before
    // their commits).
    unsafe { std::env::set_var("KEYWARD_TEST_NOW", (T0 + 2 * DAY).to_string()) };
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    drop(s);
    let d = stop(t);
    let recs = records(&d);
    let purge = find(&recs, "keyward.purge", "CKR_OK");
    assert_eq!(purge["event"], "key.purged", "{purge}");
    assert_eq!(purge["kind"], "lifecycle");
    assert_eq!(purge["key"]["label"], "gone");
    let rotated = find(&recs, "keyward.auto_rotate", "CKR_OK");
    assert_eq!(rotated["event"], "key.rotated", "{rotated}");
    assert_eq!(rotated["key"]["label"], "rot");
    assert_eq!(rotated["details"]["version"], 2);
    let uses: u64 = recs
        .iter()
        .filter(|r| r["function"] == "C_EncryptInit" && r["result"] == "CKR_OK")
        .map(|r| r["count"].as_u64().unwrap_or(1))
        .sum();
    assert_eq!(uses, 100, "every C_EncryptInit is accounted for");
    let lines = recs.iter().filter(|r| r["function"] == "C_EncryptInit").count();
    assert!(lines < 100, "identical uses were coalesced ({lines} records)");
    let (ok, out) = verify(&conf_path(&d));
    assert!(ok, "{out}");
}
