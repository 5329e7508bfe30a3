//! Verification of a token's audit log (`keyward audit verify [--witness
//! FILE]`): the chain against the key and anchor in the store, the key
//! opened with the external KEK when sealed, and the anchors an external
//! witness saw (`events::parse_witness`). Reads only; writes nothing.
//! The caller supplies the store (`Meta`), the KEK and the witness text's
//! anchors (`Token::verify_audit` in `token::audited`).
//!
//! Owns: the verdict on a log. Must not touch: the log files (reads only)
//! and any store type (it comes in as [`Meta`] and [`KeySealer`]).

use super::Meta;
use super::chain::{self, Broken, ChainState, Verified};
use super::writer::{self, KeySealer};
use crate::error::Result;
use std::path::Path;

/// Verifies the log of the token in `dir` with the key and anchor in its
/// store (the key opened with `kek` when it is sealed) and the anchors an
/// external witness saw. `Ok(Err(..))` names the first broken record.
pub fn verify_dir(
    dir: &Path,
    meta: &dyn Meta,
    kek: Option<&dyn KeySealer>,
    witness: &[ChainState],
) -> Result<std::result::Result<Verified, Broken>> {
    let keys = match writer::load_keys(meta, kek) {
        Ok(k) => k,
        Err(e) => {
            return Ok(Err(Broken { file: dir.to_path_buf(), line: 0, seq: None, reason: e.reason().to_string() }));
        }
    };
    let Some(keys) = keys else {
        let files = chain::log_files(dir).unwrap_or_default();
        if let Some(w) = witness.iter().max_by_key(|w| w.seq) {
            return Ok(Err(Broken {
                file: dir.to_path_buf(),
                line: 0,
                seq: Some(w.seq),
                reason: format!(
                    "the store holds no audit key but the external witness saw seq {}: log and key deleted",
                    w.seq
                ),
            }));
        }
        if files.is_empty() {
            return Ok(Ok(Verified { records: 0, first_seq: 1, last: ChainState::genesis(), files: 0 }));
        }
        return Ok(Err(Broken {
            file: dir.to_path_buf(),
            line: 0,
            seq: None,
            reason: "the store holds no audit key for this log".into(),
        }));
    };
    let start = writer::load_state(meta, writer::META_START)?.unwrap_or_else(ChainState::genesis);
    let anchor = writer::load_state(meta, writer::META_ANCHOR)?;
    Ok(chain::verify(dir, &keys.chain_keys(), start, anchor, witness))
}
