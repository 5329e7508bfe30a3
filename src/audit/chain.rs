//! The tamper-evident chain over the audit log.
//!
//! Each line is one JSON record whose body carries its sequence number and
//! the previous record's MAC (`prev`), followed by its own MAC:
//!
//! ```text
//! {"seq":7,"prev":"<64 hex>",...,"mac":"<64 hex>"}
//! ```
//!
//! `mac = HMAC-SHA256(audit key, "keyward-audit-v1\0" || body)` where `body`
//! is the exact bytes of the line up to the `,"mac":...` suffix, closed with
//! `}`. So an edited byte breaks that record's MAC; a deleted, inserted or
//! reordered line breaks the `seq`/`prev` links; a truncated tail falls
//! short of the anchor (last seq + MAC) kept in the token store; a forged
//! line needs the key.
//!
//! Threat model: the audit key lives in the token store's meta table (the
//! module must append without anyone logged in): in the clear, or sealed
//! under the external KEK when one is configured (`writer::load_keys`). In
//! the clear it protects the log against whoever can edit the log files but
//! cannot read the token database; under a KEK also against a reader of the
//! database. Whoever can write the database can still delete the log and
//! the anchor together: the external witness catches that. Every anchor
//! (sequence number and MAC) also goes to the events file / syslog
//! (`events::Witness`), and `keyward audit verify --witness FILE` fails
//! when the log is shorter than the last witnessed anchor or differs from
//! one. Records written after the last witnessed anchor can still vanish
//! unseen (`audit.witness_ms` bounds how long that is).
//!
//! Owns: the MAC and link rules of a line, listing and verifying log files.
//! Must not touch: appending (`writer.rs`), the store (keys and anchors
//! come in as arguments).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

pub const GENESIS: [u8; 32] = [0; 32];
const DOMAIN: &[u8] = b"keyward-audit-v1\0";
/// `,"mac":"` + 64 hex + `"}`.
const SUFFIX_LEN: usize = 8 + 64 + 2;

/// The chain position after a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainState {
    pub seq: u64,
    pub mac: [u8; 32],
}

impl ChainState {
    pub fn genesis() -> Self {
        ChainState { seq: 0, mac: GENESIS }
    }
    /// `"<seq> <mac hex>"`, as kept in the store.
    pub fn encode(&self) -> String {
        format!("{} {}", self.seq, hex::encode(self.mac))
    }
    pub fn decode(s: &str) -> Option<Self> {
        let (a, b) = s.trim().split_once(' ')?;
        Some(ChainState { seq: a.parse().ok()?, mac: parse_mac(b)? })
    }
}

pub fn parse_mac(s: &str) -> Option<[u8; 32]> {
    let v = hex::decode(s).ok()?;
    v.try_into().ok()
}

/// The keys a log was MACed with: `current`, and before sequence number
/// `from` the key that was in the store in the clear until a KEK sealed a
/// new one.
pub struct Keys<'a> {
    pub current: &'a [u8],
    pub before: Option<(u64, &'a [u8])>,
}

impl Keys<'_> {
    pub fn single(key: &[u8]) -> Keys<'_> {
        Keys { current: key, before: None }
    }

    fn for_seq(&self, seq: u64) -> &[u8] {
        match self.before {
            Some((from, old)) if seq < from => old,
            _ => self.current,
        }
    }
}

pub fn mac(key: &[u8], body: &[u8]) -> [u8; 32] {
    crate::crypto::hmac_sha256(key, &[DOMAIN, body])
}

/// Closes a serialized record body (`{...}`) with its MAC: the line, without
/// the newline, and the MAC.
pub fn seal_line(key: &[u8], body: &str) -> (String, [u8; 32]) {
    let m = mac(key, body.as_bytes());
    let mut line = String::with_capacity(body.len() + SUFFIX_LEN);
    line.push_str(&body[..body.len().saturating_sub(1)]);
    line.push_str(",\"mac\":\"");
    line.push_str(&super::record::hex32(&m));
    line.push_str("\"}");
    (line, m)
}

/// Splits a line into its body (as MACed) and the MAC it claims.
pub fn split_line(line: &str) -> Option<(String, [u8; 32])> {
    if line.len() < SUFFIX_LEN + 2 || !line.is_char_boundary(line.len() - SUFFIX_LEN) {
        return None;
    }
    let (head, tail) = line.split_at(line.len() - SUFFIX_LEN);
    let hexmac = tail.strip_prefix(",\"mac\":\"")?.strip_suffix("\"}")?;
    let m = parse_mac(hexmac)?;
    let mut body = String::with_capacity(head.len() + 1);
    body.push_str(head);
    body.push('}');
    Some((body, m))
}

/// The fields of a record the chain needs.
#[derive(serde::Deserialize)]
struct Link {
    seq: u64,
    prev: String,
}

/// The log files of a token directory, oldest first: rotated files
/// `audit-<last seq, 20 digits>.jsonl`, then the live `audit.jsonl`.
pub fn log_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut rotated: Vec<PathBuf> = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("audit-") && name.ends_with(".jsonl") {
            rotated.push(p);
        }
    }
    rotated.sort();
    let live = dir.join(super::LOG_FILE);
    if live.exists() {
        rotated.push(live);
    }
    Ok(rotated)
}

/// Where verification found the chain broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub file: PathBuf,
    /// 1-based line number in `file` (0 when the break is after the last line).
    pub line: usize,
    /// The sequence number the record claims, if it parsed.
    pub seq: Option<u64>,
    pub reason: String,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.seq {
            Some(s) if self.line == 0 => {
                write!(f, "record seq {s} missing at the end of {}: {}", self.file.display(), self.reason)
            }
            Some(s) => write!(f, "record seq {s} at {}:{}: {}", self.file.display(), self.line, self.reason),
            None if self.line > 0 => write!(f, "record at {}:{}: {}", self.file.display(), self.line, self.reason),
            None => write!(f, "{}: {}", self.file.display(), self.reason),
        }
    }
}

/// What a successful verification saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub records: u64,
    pub first_seq: u64,
    pub last: ChainState,
    pub files: usize,
}

/// Checks every record of the log in `dir` against `keys`.
///
/// `start` is where the retained log begins (genesis, or the chain position
/// just before the oldest retained record after old files were pruned);
/// `anchor` is the last position recorded in the store; `witness` are
/// positions seen by an external witness (any order; those before `start`
/// were pruned and are not checked). Returns the first broken record.
pub fn verify(
    dir: &Path,
    keys: &Keys<'_>,
    start: ChainState,
    anchor: Option<ChainState>,
    witness: &[ChainState],
) -> std::result::Result<Verified, Broken> {
    let witnessed: std::collections::BTreeMap<u64, [u8; 32]> =
        witness.iter().filter(|w| w.seq > start.seq).map(|w| (w.seq, w.mac)).collect();
    let files = log_files(dir).map_err(|e| Broken {
        file: dir.to_path_buf(),
        line: 0,
        seq: None,
        reason: format!("cannot list the log: {e}"),
    })?;
    let mut state = start;
    let mut records = 0u64;
    let mut anchor_seen = anchor.is_none_or(|a| a.seq <= start.seq);
    let mut last_file = dir.join(super::LOG_FILE);
    for path in &files {
        last_file = path.clone();
        let f = File::open(path).map_err(|e| Broken {
            file: path.clone(),
            line: 0,
            seq: None,
            reason: format!("cannot open: {e}"),
        })?;
        let mut reader = BufReader::new(f);
        let mut buf = Vec::new();
        let mut lineno = 0usize;
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf).map_err(|e| Broken {
                file: path.clone(),
                line: lineno + 1,
                seq: None,
                reason: format!("read error: {e}"),
            })?;
            if n == 0 {
                break;
            }
            lineno += 1;
            let broken = |seq: Option<u64>, reason: String| Broken { file: path.clone(), line: lineno, seq, reason };
            if buf.last() != Some(&b'\n') {
                return Err(broken(None, "incomplete last line (torn write or truncation inside a record)".into()));
            }
            let line = std::str::from_utf8(&buf[..buf.len() - 1])
                .map_err(|_| broken(None, "not UTF-8: not a record of this log".into()))?;
            let (body, claimed) =
                split_line(line).ok_or_else(|| broken(None, "no MAC suffix: not a record of this log".into()))?;
            let link: Link = serde_json::from_str(&body)
                .map_err(|e| broken(None, format!("not a valid record ({e}); edited or forged")))?;
            if state == start && link.seq <= start.seq {
                // Before the retained start (pruning was interrupted): skip.
                continue;
            }
            if mac(keys.for_seq(link.seq), body.as_bytes()) != claimed {
                return Err(broken(Some(link.seq), "MAC mismatch: the record was edited or forged".into()));
            }
            let expected = state.seq + 1;
            if link.seq != expected {
                let why = if link.seq > expected {
                    format!("sequence jumps from {} to {}: records deleted", state.seq, link.seq)
                } else {
                    format!("sequence goes back from {} to {}: records reordered or replayed", state.seq, link.seq)
                };
                return Err(broken(Some(link.seq), why));
            }
            if parse_mac(&link.prev) != Some(state.mac) {
                return Err(broken(
                    Some(link.seq),
                    "previous-MAC link does not match the record before it: records reordered, inserted or deleted"
                        .into(),
                ));
            }
            state = ChainState { seq: link.seq, mac: claimed };
            records += 1;
            if witnessed.get(&state.seq).is_some_and(|w| *w != state.mac) {
                return Err(broken(
                    Some(link.seq),
                    "record differs from the anchor the external witness saw: the log was rewritten".into(),
                ));
            }
            if let Some(a) = anchor
                && a.seq == state.seq
            {
                if a.mac != state.mac {
                    return Err(broken(Some(link.seq), "record differs from the anchor kept in the store".into()));
                }
                anchor_seen = true;
            }
        }
    }
    if !anchor_seen && let Some(a) = anchor {
        return Err(Broken {
            file: last_file,
            line: 0,
            seq: Some(state.seq + 1),
            reason: format!(
                "the log ends at seq {} but the store's anchor says seq {} was written: records truncated or deleted",
                state.seq, a.seq
            ),
        });
    }
    if let Some((&seq, _)) = witnessed.iter().next_back()
        && seq > state.seq
    {
        return Err(Broken {
            file: last_file,
            line: 0,
            seq: Some(seq),
            reason: format!(
                "the log ends at seq {} but the external witness saw seq {seq}: records truncated or deleted",
                state.seq
            ),
        });
    }
    Ok(Verified { records, first_seq: start.seq + 1, last: state, files: files.len() })
}

/// The chain position after the last complete record of `path`, and the
/// length up to the end of that record (a torn tail starts there).
pub fn tail_of(path: &Path) -> std::io::Result<Option<(ChainState, u64)>> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    let mut window = 8192u64;
    loop {
        let from = len.saturating_sub(window);
        f.seek(SeekFrom::Start(from))?;
        let mut buf = Vec::with_capacity((len - from) as usize);
        f.read_to_end(&mut buf)?;
        // Complete lines end with '\n'; anything after the last one is torn.
        let Some(end) = buf.iter().rposition(|b| *b == b'\n') else {
            if from == 0 {
                return Ok(None);
            }
            window *= 4;
            continue;
        };
        let start = buf[..end].iter().rposition(|b| *b == b'\n').map(|i| i + 1);
        let start = match start {
            Some(s) => s,
            None if from == 0 => 0,
            None => {
                window *= 4;
                continue;
            }
        };
        let line = String::from_utf8_lossy(&buf[start..end]);
        let state = split_line(&line).and_then(|(body, m)| {
            let link: Link = serde_json::from_str(&body).ok()?;
            Some(ChainState { seq: link.seq, mac: m })
        });
        return Ok(state.map(|s| (s, from + end as u64 + 1)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(seq: u64, prev: &[u8; 32]) -> String {
        format!("{{\"seq\":{seq},\"prev\":\"{}\",\"x\":\"y\"}}", hex::encode(prev))
    }

    fn write_log(dir: &Path, key: &[u8], n: u64) -> Vec<String> {
        let mut st = ChainState::genesis();
        let mut lines = Vec::new();
        for i in 1..=n {
            let (line, m) = seal_line(key, &body(i, &st.mac));
            st = ChainState { seq: i, mac: m };
            lines.push(line);
        }
        std::fs::write(dir.join(super::super::LOG_FILE), lines.join("\n") + "\n").unwrap();
        lines
    }

    #[test]
    fn detects_every_kind_of_tampering() {
        let key = [7u8; 32];
        let d = tempfile::tempdir().unwrap();
        let lines = write_log(d.path(), &key, 5);
        let log = d.path().join(super::super::LOG_FILE);
        let g = ChainState::genesis();
        let ok = verify(d.path(), &Keys::single(&key), g, None, &[]).unwrap();
        assert_eq!(ok.records, 5);
        let anchor = Some(ok.last);
        assert!(verify(d.path(), &Keys::single(&key), g, anchor, &[]).is_ok());
        assert_eq!(tail_of(&log).unwrap().unwrap().0, ok.last);

        let put = |v: &[String]| std::fs::write(&log, v.join("\n") + "\n").unwrap();
        // edit a byte
        let mut v = lines.clone();
        v[2] = v[2].replace("\"y\"", "\"z\"");
        put(&v);
        assert_eq!(verify(d.path(), &Keys::single(&key), g, anchor, &[]).unwrap_err().seq, Some(3));
        // delete a line
        let mut v = lines.clone();
        v.remove(1);
        put(&v);
        assert_eq!(verify(d.path(), &Keys::single(&key), g, anchor, &[]).unwrap_err().seq, Some(3));
        // swap two lines
        let mut v = lines.clone();
        v.swap(1, 2);
        put(&v);
        assert_eq!(verify(d.path(), &Keys::single(&key), g, anchor, &[]).unwrap_err().seq, Some(3));
        // truncate the tail
        put(&lines[..3]);
        let e = verify(d.path(), &Keys::single(&key), g, anchor, &[]).unwrap_err();
        assert!(e.reason.contains("truncated"), "{e}");
        // append a forged line (right links, wrong key)
        let mut v = lines.clone();
        v.push(seal_line(&[1u8; 32], &body(6, &ok.last.mac)).0);
        put(&v);
        let e = verify(d.path(), &Keys::single(&key), g, anchor, &[]).unwrap_err();
        assert_eq!(e.seq, Some(6));
        assert!(e.reason.contains("MAC"));
    }

    #[test]
    fn the_witness_catches_truncation_without_the_anchor_and_rewrites() {
        let key = [7u8; 32];
        let d = tempfile::tempdir().unwrap();
        let lines = write_log(d.path(), &key, 5);
        let log = d.path().join(super::super::LOG_FILE);
        let g = ChainState::genesis();
        let all = verify(d.path(), &Keys::single(&key), g, None, &[]).unwrap();
        let mut third = ChainState::genesis();
        let mut st = ChainState::genesis();
        for l in &lines {
            let (_, m) = split_line(l).unwrap();
            st = ChainState { seq: st.seq + 1, mac: m };
            if st.seq == 3 {
                third = st;
            }
        }
        let witness = [third, all.last];
        assert!(verify(d.path(), &Keys::single(&key), g, None, &witness).is_ok());
        // Truncated, anchor gone: the witness names the last seq it saw.
        std::fs::write(&log, lines[..3].join("\n") + "\n").unwrap();
        assert!(verify(d.path(), &Keys::single(&key), g, None, &[]).is_ok(), "without a witness");
        let e = verify(d.path(), &Keys::single(&key), g, None, &witness).unwrap_err();
        assert_eq!(e.seq, Some(5));
        assert!(e.reason.contains("witness saw seq 5"), "{e}");
        // Deleted.
        std::fs::remove_file(&log).unwrap();
        let e = verify(d.path(), &Keys::single(&key), g, None, &witness).unwrap_err();
        assert_eq!(e.seq, Some(5));
        // Rewritten with the key (a consistent log of other records).
        let mut st = ChainState::genesis();
        let mut forged = Vec::new();
        for i in 1..=5u64 {
            let b = format!("{{\"seq\":{i},\"prev\":\"{}\",\"x\":\"forged\"}}", hex::encode(st.mac));
            let (line, m) = seal_line(&key, &b);
            st = ChainState { seq: i, mac: m };
            forged.push(line);
        }
        std::fs::write(&log, forged.join("\n") + "\n").unwrap();
        let e = verify(d.path(), &Keys::single(&key), g, None, &witness).unwrap_err();
        assert_eq!(e.seq, Some(3));
        assert!(e.reason.contains("witness"), "{e}");
    }

    #[test]
    fn records_before_the_kek_use_the_old_key() {
        let (old, new) = ([1u8; 32], [2u8; 32]);
        let d = tempfile::tempdir().unwrap();
        let mut st = ChainState::genesis();
        let mut lines = Vec::new();
        for i in 1..=4u64 {
            let (line, m) = seal_line(if i < 3 { &old } else { &new }, &body(i, &st.mac));
            st = ChainState { seq: i, mac: m };
            lines.push(line);
        }
        std::fs::write(d.path().join(super::super::LOG_FILE), lines.join("\n") + "\n").unwrap();
        let g = ChainState::genesis();
        let keys = Keys { current: &new, before: Some((3, &old)) };
        assert_eq!(verify(d.path(), &keys, g, None, &[]).unwrap().records, 4);
        // A record after the switch MACed with the old (readable) key fails.
        let e = verify(d.path(), &Keys { current: &new, before: Some((4, &old)) }, g, None, &[]).unwrap_err();
        assert_eq!(e.seq, Some(3));
    }
}
