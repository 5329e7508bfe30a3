//! The configuration parser: any text gives a config or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = keyward::config::Config::parse(s, Some(std::path::Path::new("/nonexistent-base")), "fuzz");
    }
});
