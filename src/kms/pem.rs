//! Key files for `keyward key import`: PEM (the first block) or DER/raw
//! bytes. Parsing only; the import itself runs on the token.

use crate::ck::*;
use crate::error::{Error, Result};

/// Decodes PEM (the first block) or passes DER/raw bytes through.
pub fn pem_or_der(data: &[u8]) -> Result<(Option<String>, zeroize::Zeroizing<Vec<u8>>)> {
    let text = match std::str::from_utf8(data) {
        Ok(t) if t.trim_start().starts_with("-----BEGIN ") => t,
        _ => return Ok((None, zeroize::Zeroizing::new(data.to_vec()))),
    };
    let bad = || Error::new(CKR_ARGUMENTS_BAD, "malformed PEM");
    let start = text.find("-----BEGIN ").ok_or_else(bad)?;
    let rest = &text[start + 11..];
    let label_end = rest.find("-----").ok_or_else(bad)?;
    let label = rest[..label_end].to_string();
    let body = &rest[label_end + 5..];
    let end = body.find("-----END ").ok_or_else(bad)?;
    let mut out = zeroize::Zeroizing::new(Vec::new());
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in body[..end].bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(bad()),
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok((Some(label), out))
}
