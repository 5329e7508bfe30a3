//! Sealed records: opening arbitrary bytes under a token master key must
//! fail cleanly (never panic, never "succeed" on a forgery), and a sealed
//! value opens to itself only under its own context.
#![no_main]
use keyward::store::seal::MasterKey;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static KEY: LazyLock<MasterKey> = LazyLock::new(|| MasterKey::generate().expect("master key"));

fuzz_target!(|data: &[u8]| {
    assert!(KEY.unseal("uid-fuzz", 0x11, data).is_err(), "forged sealed record accepted");
    assert!(KEY.unseal_blob("ctx", data).is_err(), "forged sealed blob accepted");
    let sealed = KEY.seal("uid-fuzz", 0x11, data).expect("seal");
    assert_eq!(&KEY.unseal("uid-fuzz", 0x11, &sealed).expect("open").as_slice(), &data);
    assert!(KEY.unseal("uid-other", 0x11, &sealed).is_err());
    assert!(KEY.unseal("uid-fuzz", 0x12, &sealed).is_err());
    if !sealed.is_empty() {
        let mut t = sealed.clone();
        let i = data.first().map(|b| *b as usize).unwrap_or(0) % t.len();
        t[i] ^= 1;
        assert!(KEY.unseal("uid-fuzz", 0x11, &t).is_err(), "tampered record accepted");
    }
});
