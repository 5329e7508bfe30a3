//! AES-CMAC row: CKM_AES_CMAC (full 16-byte tag) over 1 KiB with a 256-bit
//! session key, C_SignInit + C_Sign per op, on keyward, SoftHSMv2 (2.6 has
//! CKM_AES_CMAC; a token that lacks it reports n/a) and the raw engine
//! (aws-lc-rs `cmac` in this process). MB/s (10^6 bytes).

use super::{Row, Unit, measure, want};
use aws_lc_rs::cmac::{self, AES_256};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::Attribute;
use cryptoki::session::Session;

pub fn rows(sessions: &[Session], rows: &mut Vec<Row>) {
    if !want("AES-CMAC 1 KiB") {
        return;
    }
    eprintln!("row: AES-CMAC 1 KiB");
    let data = vec![0x5au8; 1024];
    let scale = data.len() as f64 / 1e6;
    let mut vals = [None, None];
    for (i, s) in sessions.iter().enumerate() {
        let key = s.generate_key(
            &Mechanism::AesKeyGen,
            &[Attribute::ValueLen(32.into()), Attribute::Token(false), Attribute::Sign(true), Attribute::Verify(true)],
        );
        vals[i] = match key {
            Err(e) => {
                eprintln!("  n/a: AES keygen: {e}");
                None
            }
            Ok(k) => measure("aes-cmac", || s.sign(&Mechanism::AesCMac, k, &data).map(|_| ())).map(|v| v * scale),
        };
    }
    let raw_key = cmac::Key::new(AES_256, &[7u8; 32]).unwrap();
    let raw = measure("raw", || Ok::<_, aws_lc_rs::error::Unspecified>(cmac::sign(&raw_key, &data).map(|_| ())?))
        .map(|v| v * scale);
    rows.push(Row { name: "AES-CMAC 1 KiB".into(), unit: Unit::Mbs, kw: vals[0], sh: vals[1], raw });
}
