//! The audit-log reader and verifier (`keyward audit show/verify`) over an
//! arbitrary log file: a result, never a panic.
#![no_main]
use keyward::audit::{ChainState, chain, record::Record};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static DIR: LazyLock<std::path::PathBuf> = LazyLock::new(|| {
    let d = std::env::temp_dir().join(format!("keyward-fuzz-audit-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("dir");
    d
});

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        for line in s.lines() {
            let _ = serde_json::from_str::<Record>(line);
        }
    }
    std::fs::write(DIR.join(keyward::audit::LOG_FILE), data).expect("write log");
    let _ = chain::verify(&DIR, &chain::Keys::single(&[7u8; 32]), ChainState::genesis(), None, &[]);
    keyward::audit::read_log(&DIR, &mut |_r: Record| true);
});
