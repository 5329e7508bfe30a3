//! Appending to the chained log: file locking across processes, the chain
//! position, rotation, the anchor in the store, torn-tail repair.
//!
//! Several processes may append to one token's log: every append takes an
//! exclusive `flock` on `audit.lock`, re-reads the chain position when the
//! file changed under it (another process appended or rotated), writes the
//! whole batch with one `write` and one `fsync`, and moves the anchor.
//!
//! The audit key (meta `audit.key`): 32 random bytes as hex, or with an
//! external KEK `kek1:<hex of ExternalKek::seal("audit.key", key)>`. When a
//! KEK is configured for a token whose key is in the clear, a new sealed
//! key takes over from the next record on and the old one is kept (it was
//! readable anyway) with that sequence number in `audit.key.before_kek`,
//! for the records before it (the KEK is the store's, behind [`KeySealer`]).
//! A clear key in a token that already went
//! through that, or whose PINs are wrapped under a KEK, was put there by
//! someone else: refused. Every anchor is also sent to the external
//! witness when one is configured (`events::Witness`).
//!
//! Owns: the log files, the append lock, the audit key and anchor in the
//! meta table (through [`Meta`]). Must not touch: the store or KEK types
//! themselves (they come in as [`Meta`] and [`KeySealer`]), the queue.

use super::chain::{self, ChainState};
use super::config::AuditConfig;
use super::record::{Kind, Pending, Record, RoleName};
use crate::ck::*;
use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

pub const META_KEY: &str = "audit.key";
pub const META_ANCHOR: &str = "audit.anchor";
pub const META_START: &str = "audit.start";
pub const META_KEY_BEFORE_KEK: &str = "audit.key.before_kek";
const SEALED_PREFIX: &str = "kek1:";
const KEY_CONTEXT: &str = "audit.key";

/// The few store values the log needs (the meta table).
pub trait Meta: Send {
    fn get(&self, key: &str) -> Result<Option<String>>;
    fn set(&self, key: &str, value: &str) -> Result<()>;
    /// The token's label, for records.
    fn token_label(&self) -> Option<String> {
        None
    }
    /// The token's serial number (names the log in witnessed anchors).
    fn token_serial(&self) -> Option<String> {
        None
    }
    /// Whether the token's PINs are wrapped under an external KEK.
    fn token_uses_kek(&self) -> bool {
        false
    }
}

impl<M: Meta + Sync> Meta for std::sync::Arc<M> {
    fn get(&self, key: &str) -> Result<Option<String>> {
        (**self).get(key)
    }
    fn set(&self, key: &str, value: &str) -> Result<()> {
        (**self).set(key, value)
    }
    fn token_label(&self) -> Option<String> {
        (**self).token_label()
    }
    fn token_serial(&self) -> Option<String> {
        (**self).token_serial()
    }
    fn token_uses_kek(&self) -> bool {
        (**self).token_uses_kek()
    }
}

/// The external key-encryption key the audit key is sealed under (the
/// store's `ExternalKek`; the implementation is in `token::audited`).
pub trait KeySealer: Send + Sync {
    /// Seals `plaintext`, bound to `context`.
    fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>>;
    /// Opens what [`KeySealer::seal`] sealed under the same `context`.
    fn open(&self, context: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
    /// Names the key in messages (never secret).
    fn id_hex(&self) -> String;
}

/// An in-memory meta table (tests, and a token whose store cannot be opened).
#[derive(Default)]
pub struct MemMeta(std::sync::Mutex<std::collections::HashMap<String, String>>);

impl Meta for MemMeta {
    fn get(&self, key: &str) -> Result<Option<String>> {
        Ok(self.0.lock().map_err(|_| Error::general("meta poisoned"))?.get(key).cloned())
    }
    fn set(&self, key: &str, value: &str) -> Result<()> {
        self.0.lock().map_err(|_| Error::general("meta poisoned"))?.insert(key.into(), value.into());
        Ok(())
    }
}

/// The audit keys of a token as its store holds them.
pub struct AuditKeys {
    pub current: Zeroizing<Vec<u8>>,
    /// The key in use before `.0` (a clear key replaced under a KEK).
    pub before: Option<(u64, Zeroizing<Vec<u8>>)>,
    /// `current` is stored in the clear.
    pub clear: bool,
}

impl AuditKeys {
    pub fn chain_keys(&self) -> chain::Keys<'_> {
        chain::Keys { current: &self.current, before: self.before.as_ref().map(|(s, k)| (*s, &k[..])) }
    }
}

fn key_bytes(v: Vec<u8>, what: &str) -> Result<Zeroizing<Vec<u8>>> {
    let v = Zeroizing::new(v);
    if v.len() != 32 {
        return Err(Error::device(format!("{what} has the wrong length")));
    }
    Ok(v)
}

fn parse_hex_key(s: &str, what: &str) -> Result<Zeroizing<Vec<u8>>> {
    key_bytes(hex::decode(s.trim()).map_err(|_| Error::device(format!("{what} is corrupt")))?, what)
}

/// The audit keys of a token (`None`: none yet), opening a sealed key with
/// `kek` (see the module doc for what is refused).
pub fn load_keys(meta: &dyn Meta, kek: Option<&dyn KeySealer>) -> Result<Option<AuditKeys>> {
    let Some(v) = meta.get(META_KEY)? else { return Ok(None) };
    let (current, clear) = match v.strip_prefix(SEALED_PREFIX) {
        Some(sealed) => {
            let kek = kek.ok_or_else(|| {
                Error::device("the audit key is sealed under a key-encryption key, and none is configured")
            })?;
            let sealed = hex::decode(sealed.trim()).map_err(|_| Error::device("sealed audit key is corrupt"))?;
            (key_bytes(kek.open(KEY_CONTEXT, &sealed)?.to_vec(), "sealed audit key")?, false)
        }
        None => (parse_hex_key(&v, "audit key in the store")?, true),
    };
    let before = match meta.get(META_KEY_BEFORE_KEK)? {
        Some(b) => {
            let (seq, k) = b.trim().split_once(' ').ok_or_else(|| Error::device("audit.key.before_kek is corrupt"))?;
            let seq = seq.parse::<u64>().map_err(|_| Error::device("audit.key.before_kek is corrupt"))?;
            Some((seq, parse_hex_key(k, "audit.key.before_kek")?))
        }
        None => None,
    };
    if clear && kek.is_some() && (before.is_some() || meta.token_uses_kek()) {
        return Err(Error::device(
            "the audit key in the store is in the clear although this token's keys are under a \
             key-encryption key: it was replaced behind keyward's back (a forged log?)",
        ));
    }
    Ok(Some(AuditKeys { current, before, clear }))
}

/// A new random key: sealed under `kek`, or in the clear without one.
fn stored_key(kek: Option<&dyn KeySealer>, k: &[u8]) -> Result<String> {
    Ok(match kek {
        Some(kek) => format!("{SEALED_PREFIX}{}", hex::encode(kek.seal(KEY_CONTEXT, k)?)),
        None => hex::encode(k),
    })
}

fn random_key() -> Result<Zeroizing<Vec<u8>>> {
    crate::crypto::random_secret(32).map_err(|_| Error::general("rng failed"))
}

pub fn load_state(meta: &dyn Meta, key: &str) -> Result<Option<ChainState>> {
    Ok(meta.get(key)?.and_then(|s| ChainState::decode(&s)))
}

/// Holds the append lock; unlocks on drop.
struct LockGuard(std::sync::Arc<File>);

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

struct Open {
    file: File,
    ino: u64,
    len: u64,
}

pub struct LogWriter {
    dir: PathBuf,
    meta: Box<dyn Meta>,
    cfg: AuditConfig,
    keys: Option<AuditKeys>,
    /// Re-read the key from the store (another process wrote the log).
    reload_key: bool,
    /// The external KEK the audit key is sealed under.
    kek: Option<std::sync::Arc<dyn KeySealer>>,
    /// Where anchors are also sent.
    witness: Option<super::events::Witness>,
    /// The last anchor this writer wrote.
    anchor_state: Option<ChainState>,
    open: Option<Open>,
    state: Option<ChainState>,
    anchored: u64,
    last_anchor: Option<Instant>,
    syslog: Option<super::events::Syslog>,
    pid: u32,
    /// Records written but not yet fsync'ed.
    dirty: bool,
    /// `audit.lock`, opened once.
    lock_file: Option<std::sync::Arc<File>>,
    /// Do not write the anchor (a store transaction is open on this thread).
    anchor_held: bool,
    /// The append lock, held across a store transaction of this process
    /// ([`LogWriter::hold_lock`]).
    held: Option<LockGuard>,
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::device(format!("audit log {}: {what}: {e}", path.display()))
}

impl LogWriter {
    pub fn new(dir: &Path, meta: Box<dyn Meta>, cfg: &AuditConfig) -> LogWriter {
        let syslog = cfg.syslog.then(|| super::events::Syslog::new(&cfg.syslog_socket, "keyward-audit"));
        LogWriter {
            dir: dir.to_path_buf(),
            meta,
            cfg: cfg.clone(),
            keys: None,
            reload_key: false,
            kek: None,
            witness: None,
            anchor_state: None,
            open: None,
            state: None,
            anchored: 0,
            last_anchor: None,
            syslog,
            pid: std::process::id(),
            dirty: false,
            lock_file: None,
            anchor_held: false,
            held: None,
        }
    }

    /// Seals the audit key under `kek` (see the module doc).
    pub fn with_kek(mut self, kek: Option<std::sync::Arc<dyn KeySealer>>) -> LogWriter {
        self.kek = kek;
        self
    }

    /// Sends anchors to `witness` too.
    pub fn with_witness(mut self, witness: Option<super::events::Witness>) -> LogWriter {
        self.witness = witness;
        self
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(super::LOG_FILE)
    }

    /// The key for the next record (`next_seq`), loaded from the store when
    /// needed; creates one when `create`; with a KEK configured, replaces a
    /// clear key by a sealed one from `next_seq` on. Call under the lock,
    /// after `sync_state`.
    fn ensure_key(&mut self, next_seq: u64, create: bool) -> Result<Option<Zeroizing<Vec<u8>>>> {
        if self.keys.is_none() || self.reload_key {
            self.keys = load_keys(&*self.meta, self.kek.as_deref())?;
            self.reload_key = false;
        }
        let kek = self.kek.clone();
        match (&self.keys, kek) {
            (None, _) if !create => return Ok(None),
            (None, kek) => {
                let k = random_key()?;
                self.meta.set(META_KEY, &stored_key(kek.as_deref(), &k)?)?;
                self.keys = Some(AuditKeys { current: k, before: None, clear: kek.is_none() });
            }
            (Some(old), Some(kek)) if old.clear => {
                self.meta.set(META_KEY_BEFORE_KEK, &format!("{next_seq} {}", hex::encode(&old.current[..])))?;
                let k = random_key()?;
                self.meta.set(META_KEY, &stored_key(Some(&*kek), &k)?)?;
                log::warn!(
                    "audit log {}: the audit key is now sealed under the key-encryption key {}; records \
                     before seq {next_seq} stay MACed with the old key, which was readable in the store",
                    self.dir.display(),
                    kek.id_hex()
                );
                self.keys = load_keys(&*self.meta, Some(&*kek))?;
            }
            _ => {}
        }
        Ok(self.keys.as_ref().map(|k| k.current.clone()))
    }

    /// At open, with a KEK: seals a clear audit key now, before any record
    /// of this process (and before a login re-wraps the PINs under the KEK).
    pub fn prepare_key(&mut self) -> Result<()> {
        if self.kek.is_none() {
            return Ok(());
        }
        let lock = self.lock()?;
        let r = self.sync_state().and_then(|_| {
            let next = self.state.map(|s| s.seq).unwrap_or(0) + 1;
            self.ensure_key(next, false).map(|_| ())
        });
        drop(lock);
        r
    }

    /// Sends the last anchor to the witness if it has not seen it (and the
    /// interval allows, unless `force`).
    pub fn witness_anchor(&mut self, force: bool) {
        let (Some(w), Some(st)) = (self.witness.as_mut(), self.anchor_state) else { return };
        if !w.due(st.seq, force) {
            return;
        }
        let label = self.meta.token_label().unwrap_or_default();
        let serial = self.meta.token_serial();
        w.send(&label, serial.as_deref(), st);
    }

    /// Takes the append lock now and holds it until [`LogWriter::release_lock`]:
    /// before a store write transaction that appends a record inside it
    /// (`Audit::lock_for_commit`). Every appender then takes the append
    /// lock before the store's write lock (the writer moves the anchor in
    /// the store under the append lock): taking it inside the transaction
    /// would deadlock against another process's append until the store's
    /// busy timeout ends one of them with "database is locked".
    pub fn hold_lock(&mut self) -> Result<()> {
        if self.held.is_none() {
            self.held = Some(self.take_lock()?);
        }
        Ok(())
    }

    /// Ends [`LogWriter::hold_lock`].
    pub fn release_lock(&mut self) {
        self.held = None;
    }

    /// The append lock for one append: `None` when [`LogWriter::hold_lock`]
    /// holds it already (it stays held).
    fn lock(&mut self) -> Result<Option<LockGuard>> {
        if self.held.is_some() {
            return Ok(None);
        }
        self.take_lock().map(Some)
    }

    /// Takes the cross-process append lock (`flock` on `audit.lock`, kept
    /// open between appends); released when the guard drops.
    fn take_lock(&mut self) -> Result<LockGuard> {
        let p = self.dir.join(super::LOCK_FILE);
        if self.lock_file.is_none() {
            let f = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .open(&p)
                .map_err(|e| io_err("cannot open the lock file", &p, e))?;
            self.lock_file = Some(std::sync::Arc::new(f));
        }
        let f = self.lock_file.clone().ok_or_else(|| Error::general("audit lock file"))?;
        if let Err(e) = f.lock() {
            // The file may have been deleted or the fd gone bad: reopen next time.
            self.lock_file = None;
            return Err(io_err("cannot lock", &p, e));
        }
        Ok(LockGuard(f))
    }

    /// Appends `batch` (already in call order) as chained records. With
    /// `force_anchor` the anchor moves now; otherwise at most every
    /// `anchor_ms`.
    /// With `fsync` false the batch is written (safe from a process crash)
    /// and made durable by the next fsync'ing append or [`Self::anchor_if_stale`].
    pub fn append(&mut self, token: &str, batch: &[Pending], fsync: bool, force_anchor: bool) -> Result<()> {
        let lock = self.lock()?;
        let r = self.append_locked(token, batch, fsync, force_anchor);
        if r.is_err() {
            // Re-read everything next time.
            self.open = None;
            self.state = None;
        }
        drop(lock);
        r
    }

    /// Checks that the log can be written (after a failure).
    pub fn probe(&mut self) -> Result<()> {
        self.append(" ", &[], true, false)
    }

    /// Moves the anchor if records were written since the last one.
    pub fn anchor_if_stale(&mut self) -> Result<()> {
        self.sync_if_dirty()?;
        if self.state.is_some_and(|s| s.seq > self.anchored) {
            let lock = self.lock()?;
            let r = self.sync_state().map(|_| ()).and_then(|_| self.write_anchor());
            drop(lock);
            r?;
        }
        self.witness_anchor(false);
        Ok(())
    }

    /// While held, appends do not move the anchor (see `anchor_held`).
    pub fn hold_anchor(&mut self, held: bool) {
        self.anchor_held = held;
    }

    /// fsyncs records written without it (write-through records).
    pub fn sync_if_dirty(&mut self) -> Result<()> {
        if self.dirty {
            let path = self.path();
            if let Some(o) = self.open.as_ref() {
                o.file.sync_data().map_err(|e| io_err("fsync failed", &path, e))?;
            }
            self.dirty = false;
        }
        Ok(())
    }

    fn write_anchor(&mut self) -> Result<()> {
        // Never anchor records that a power loss could still take away.
        self.sync_if_dirty()?;
        if let Some(st) = self.state
            && st.seq > self.anchored
        {
            // Another process may have anchored further: never move back.
            let cur = load_state(&*self.meta, META_ANCHOR)?;
            if cur.is_none_or(|c| c.seq < st.seq) {
                self.meta.set(META_ANCHOR, &st.encode())?;
            }
            self.anchored = st.seq;
            self.anchor_state = Some(st);
            self.witness_anchor(false);
        }
        self.last_anchor = Some(Instant::now());
        Ok(())
    }

    /// Makes `self.open`/`self.state` current; returns bytes dropped from a
    /// torn tail.
    fn sync_state(&mut self) -> Result<u64> {
        let path = self.path();
        let on_disk = std::fs::metadata(&path).ok();
        if let (Some(o), Some(m), Some(_)) = (&self.open, &on_disk, &self.state)
            && m.ino() == o.ino
            && m.len() == o.len
        {
            return Ok(0);
        }
        self.open = None;
        // Another process may have replaced the key (sealed it under a KEK).
        self.reload_key = true;
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io_err("cannot open", &path, e))?;
        let m = file.metadata().map_err(|e| io_err("stat", &path, e))?;
        let mut len = m.len();
        let tail = chain::tail_of(&path).map_err(|e| io_err("cannot read", &path, e))?;
        let complete = tail.map(|(_, end)| end).unwrap_or_else(|| complete_len(&path).unwrap_or(len));
        let mut dropped = 0;
        if complete < len {
            // A crash tore the last write: drop the partial record (it could
            // not verify) and say so in the log.
            dropped = len - complete;
            file.set_len(complete).map_err(|e| io_err("cannot repair a torn tail", &path, e))?;
            len = complete;
            log::error!("audit log {}: dropped {dropped} bytes of a torn last record", path.display());
        }
        let mut state = match tail {
            Some((s, _)) => Some(s),
            None if len == 0 => self.rotated_tail()?,
            None => None,
        };
        let anchor = load_state(&*self.meta, META_ANCHOR)?;
        let start = load_state(&*self.meta, META_START)?;
        // Never restart the chain behind what the store knows was written:
        // a deleted or truncated log stays visible to `audit verify`.
        for floor in [anchor, start].into_iter().flatten() {
            if state.is_none_or(|s| s.seq < floor.seq) {
                if state.is_some() || len > 0 {
                    log::error!(
                        "audit log {}: log is behind the store's anchor (seq {}): records are missing",
                        path.display(),
                        floor.seq
                    );
                }
                state = Some(floor);
            }
        }
        self.state = Some(state.unwrap_or_else(ChainState::genesis));
        self.open = Some(Open { file, ino: m.ino(), len });
        Ok(dropped)
    }

    fn rotated_tail(&self) -> Result<Option<ChainState>> {
        let files = chain::log_files(&self.dir).map_err(|e| io_err("cannot list", &self.dir, e))?;
        for f in files.iter().rev().filter(|f| f.file_name() != Some(super::LOG_FILE.as_ref())) {
            if let Some((s, _)) = chain::tail_of(f).map_err(|e| io_err("cannot read", f, e))? {
                return Ok(Some(s));
            }
        }
        Ok(None)
    }

    fn append_locked(&mut self, token: &str, batch: &[Pending], fsync: bool, force_anchor: bool) -> Result<()> {
        let dropped = self.sync_state()?;
        let mut st = self.state.unwrap_or_else(ChainState::genesis);
        let key = self.ensure_key(st.seq + 1, true)?.ok_or_else(|| Error::device("no audit key"))?;
        let repair = (dropped > 0).then(|| Pending {
            time_ms: super::record::now_ms(),
            at: None,
            kind: Kind::Audit,
            event: Some("audit.repaired"),
            function: "audit",
            slot: 0,
            session: None,
            role: RoleName::Public,
            principal: None,
            mechanism: None,
            key: None,
            created: Vec::new(),
            rv: CKR_OK,
            reason: None,
            duration_us: 0,
            details: Some(serde_json::json!({ "torn_bytes_dropped": dropped })),
            attr_types: Vec::new(),
            sync: true,
            alert: true,
            log: true,
            merged: None,
        });
        let mut out = String::with_capacity(batch.len() * 512);
        let mut syslog_lines = Vec::new();
        let lines = super::record::coalesce(batch, self.cfg.coalesce);
        let repair_line =
            repair.as_ref().map(|p| super::record::Line { p, count: 1, last_ms: p.time_ms, duration_us: 0 });
        for l in repair_line.iter().chain(lines.iter()) {
            let p = l.p;
            let rec = Record::from_line(l, token, st.seq + 1, &super::record::hex32(&st.mac), self.pid);
            let body = serde_json::to_string(&rec).map_err(|e| Error::general(format!("audit record: {e}")))?;
            let (line, m) = chain::seal_line(&key, &body);
            st = ChainState { seq: rec.seq, mac: m };
            out.push_str(&line);
            out.push('\n');
            if self.syslog.is_some() {
                syslog_lines.push((p.alert || p.rv != CKR_OK, line));
            }
        }
        let path = self.path();
        if !out.is_empty() {
            let o = self.open.as_mut().ok_or_else(|| Error::general("audit log not open"))?;
            o.file.write_all(out.as_bytes()).map_err(|e| io_err("write failed", &path, e))?;
            o.len += out.len() as u64;
            if fsync {
                o.file.sync_data().map_err(|e| io_err("fsync failed", &path, e))?;
                self.dirty = false;
            } else {
                self.dirty = true;
            }
            self.state = Some(st);
        }
        if let Some(s) = &self.syslog {
            for (warn, line) in syslog_lines {
                s.send(if warn { super::events::LOG_WARNING } else { super::events::LOG_INFO }, &line);
            }
        }
        let due = self.last_anchor.is_none_or(|t| t.elapsed() >= Duration::from_millis(self.cfg.anchor_ms));
        if !self.anchor_held && (force_anchor || due) {
            self.write_anchor()?;
        }
        if self.cfg.max_file_bytes > 0 && self.open.as_ref().is_some_and(|o| o.len >= self.cfg.max_file_bytes) {
            self.rotate()?;
        }
        Ok(())
    }

    fn rotate(&mut self) -> Result<()> {
        let st = self.state.unwrap_or_else(ChainState::genesis);
        let from = self.path();
        let to = self.dir.join(format!("audit-{:020}.jsonl", st.seq));
        std::fs::rename(&from, &to).map_err(|e| io_err("cannot rotate", &from, e))?;
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        self.open = None;
        // The moved file keeps the chain; the next append starts audit.jsonl.
        self.write_anchor()?;
        if self.cfg.keep_files > 0 {
            let files = chain::log_files(&self.dir).map_err(|e| io_err("cannot list", &self.dir, e))?;
            let rotated: Vec<_> = files.into_iter().filter(|f| f != &from).collect();
            let excess = rotated.len().saturating_sub(self.cfg.keep_files);
            for old in &rotated[..excess] {
                // Record where the retained log now starts before deleting.
                if let Some((s, _)) = chain::tail_of(old).map_err(|e| io_err("cannot read", old, e))? {
                    self.meta.set(META_START, &s.encode())?;
                }
                std::fs::remove_file(old).map_err(|e| io_err("cannot prune", old, e))?;
            }
        }
        Ok(())
    }
}

/// The length up to the last newline of `path`.
fn complete_len(path: &Path) -> Option<u64> {
    let b = std::fs::read(path).ok()?;
    Some(b.iter().rposition(|c| *c == b'\n').map(|i| i as u64 + 1).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::super::record::test_pending;
    use super::super::{read_log, verify_dir};
    use super::*;
    use std::sync::Arc;

    #[test]
    fn rotation_and_pruning_keep_the_chain() {
        let d = tempfile::tempdir().unwrap();
        let mut c = AuditConfig { max_file_bytes: 2000, ..Default::default() };
        let meta = Arc::new(MemMeta::default());
        let mut w = LogWriter::new(d.path(), Box::new(meta.clone()), &c);
        for i in 0..40 {
            w.append("t", &[test_pending(i, false)], true, false).unwrap();
        }
        drop(w);
        assert!(chain::log_files(d.path()).unwrap().len() > 3);
        assert_eq!(verify_dir(d.path(), &meta, None, &[]).unwrap().unwrap().records, 40);
        // A second writer (another process) continues the same chain.
        c.keep_files = 2;
        let mut w = LogWriter::new(d.path(), Box::new(meta.clone()), &c);
        for i in 0..20 {
            w.append("t", &[test_pending(i, true)], true, true).unwrap();
        }
        drop(w);
        let v = verify_dir(d.path(), &meta, None, &[]).unwrap().unwrap();
        assert_eq!(v.last.seq, 60);
        assert!(v.first_seq > 1);
        // Deleting the oldest retained file is detected.
        let oldest = chain::log_files(d.path()).unwrap().remove(0);
        std::fs::remove_file(oldest).unwrap();
        assert!(verify_dir(d.path(), &meta, None, &[]).unwrap().is_err());
    }

    #[test]
    fn torn_tail_is_repaired_and_recorded() {
        let d = tempfile::tempdir().unwrap();
        let c = AuditConfig::default();
        let meta = Arc::new(MemMeta::default());
        let mut w = LogWriter::new(d.path(), Box::new(meta.clone()), &c);
        w.append("t", &[test_pending(1, true)], true, true).unwrap();
        drop(w);
        let log = d.path().join(super::super::LOG_FILE);
        let mut bytes = std::fs::read(&log).unwrap();
        bytes.extend_from_slice(b"{\"seq\":2,\"prev");
        std::fs::write(&log, bytes).unwrap();
        let mut w = LogWriter::new(d.path(), Box::new(meta.clone()), &c);
        w.append("t", &[test_pending(2, true)], true, true).unwrap();
        let v = verify_dir(d.path(), &meta, None, &[]).unwrap().unwrap();
        assert_eq!(v.records, 3);
        let mut events = Vec::new();
        read_log(d.path(), &mut |r| {
            events.extend(r.event);
            true
        });
        assert!(events.contains(&"audit.repaired".to_string()));
    }
}
