//! Time-based one-time passwords (RFC 6238) with the authenticator-app
//! defaults: HMAC-SHA-1, 30-second steps counted from the Unix epoch, 6
//! decimal digits (RFC 4226 §5.3 dynamic truncation); and the
//! `otpauth://totp/` URI that enrols a secret in such an app (base32,
//! RFC 4648 §6, without padding).
//!
//! Owns the code arithmetic, the verification window and the replay rule
//! (a step at or below the last accepted one never verifies). Knows nothing
//! of PINs, principals or where the last step is stored: callers pass it
//! in and record the step returned. The HMAC is `crypto::hmac` (AWS-LC).

use super::digest::Algorithm;
use super::{CryptoResult, ct_eq, hmac, random_fill};
use zeroize::Zeroizing;

/// Length of a generated secret (160 bits, RFC 4226 §4 recommends it).
pub const SECRET_LEN: usize = 20;
/// Seconds per time step (RFC 6238 X).
pub const STEP_SECS: u64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
const MODULUS: u32 = 1_000_000;

/// A fresh random secret.
pub fn generate_secret() -> CryptoResult<Zeroizing<[u8; SECRET_LEN]>> {
    let mut s = Zeroizing::new([0u8; SECRET_LEN]);
    random_fill(&mut s[..])?;
    Ok(s)
}

/// The time step of `unix_time` (RFC 6238 T, with T0 = 0).
pub fn step_at(unix_time: u64) -> u64 {
    unix_time / STEP_SECS
}

/// The code of time step `step` (RFC 4226 HOTP with counter `step`).
pub fn code_for_step(secret: &[u8], step: u64) -> u32 {
    let mac = Zeroizing::new(hmac::hmac(Algorithm::Sha1, secret, &step.to_be_bytes()));
    // RFC 4226 §5.3: the low nibble of the last byte picks 4 bytes; the
    // top bit is dropped. A SHA-1 tag is 20 bytes, so `off + 3 <= 18`.
    let off = usize::from(mac.last().copied().unwrap_or(0) & 0x0f);
    let word = match mac.get(off..off + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a & 0x7f, b, c, d]),
        _ => 0,
    };
    word % MODULUS
}

/// The code at Unix time `unix_time` (seconds).
pub fn code_at(secret: &[u8], unix_time: u64) -> u32 {
    code_for_step(secret, step_at(unix_time))
}

/// Checks `code` at Unix time `now` within `window` steps either side
/// (clock drift; 1 is the usual value). Returns the matching step, to be
/// recorded as the new last step, or `None` for a wrong code, a code out
/// of range, or a match only at steps `<= last_step` (a replay). Every
/// candidate step is computed and compared in constant time.
pub fn verify(secret: &[u8], code: u32, now: u64, window: u64, last_step: u64) -> Option<u64> {
    if code >= MODULUS {
        return None;
    }
    let now_step = step_at(now);
    let mut found = None;
    for step in now_step.saturating_sub(window)..=now_step.saturating_add(window) {
        let ok = ct_eq(&code_for_step(secret, step).to_be_bytes(), &code.to_be_bytes());
        if ok && step > last_step {
            found = Some(step);
        }
    }
    found
}

/// The code in `digits`: exactly [`DIGITS`] ASCII decimal digits, else
/// `None`.
pub fn parse_code(digits: &[u8]) -> Option<u32> {
    if digits.len() != DIGITS {
        return None;
    }
    digits.iter().try_fold(0u32, |acc, &d| d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0')))
}

/// `secret` in base32 (RFC 4648 §6, upper case, no padding), the form
/// authenticator apps take.
pub fn base32(secret: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(data_encoding::BASE32_NOPAD.encode(secret))
}

/// Percent-encoding of everything but RFC 3986 unreserved characters.
fn uri_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `otpauth://totp/ISSUER:ACCOUNT?secret=...` enrolment URI (the
/// Google Authenticator key URI format) for `secret`, with the algorithm,
/// digits and period spelled out. It carries the secret: show it once,
/// never log it.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> Zeroizing<String> {
    let issuer = uri_escape(issuer);
    Zeroizing::new(format!(
        "otpauth://totp/{issuer}:{}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        uri_escape(account),
        base32(secret).as_str(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, the SHA-1 rows: the seed is the ASCII string
    /// "12345678901234567890"; the 8-digit values of the table, taken mod
    /// 10^6 (the 6-digit codes authenticator apps show).
    const SEED: &[u8] = b"12345678901234567890";
    const RFC6238_SHA1: [(u64, u32); 6] = [
        (59, 94287082),
        (1111111109, 7081804),
        (1111111111, 14050471),
        (1234567890, 89005924),
        (2000000000, 69279037),
        (20000000000, 65353130),
    ];

    #[test]
    fn rfc6238_appendix_b_sha1() {
        for (t, eight) in RFC6238_SHA1 {
            assert_eq!(code_at(SEED, t), eight % 1_000_000, "T = {t}");
        }
        assert_eq!(code_at(SEED, 59), 287082);
        assert_eq!(code_at(SEED, 1111111109), 81804);
        assert_eq!(step_at(59), 1);
        assert_eq!(step_at(1111111109), 0x23523EC);
    }

    #[test]
    fn verify_window_and_replay() {
        let t = 1111111111; // step 37037037
        let step = step_at(t);
        let code = code_at(SEED, t);
        assert_eq!(verify(SEED, code, t, 1, 0), Some(step));
        // One step of drift either way is accepted, two are not.
        assert_eq!(verify(SEED, code, t + STEP_SECS, 1, 0), Some(step));
        assert_eq!(verify(SEED, code, t - STEP_SECS, 1, 0), Some(step));
        assert_eq!(verify(SEED, code, t + 2 * STEP_SECS, 1, 0), None);
        assert_eq!(verify(SEED, code, t + 2 * STEP_SECS, 0, 0), None);
        // Replay: the accepted step and anything older are refused.
        assert_eq!(verify(SEED, code, t, 1, step), None);
        assert_eq!(verify(SEED, code, t, 1, step + 1), None);
        assert_eq!(verify(SEED, code, t, 1, step - 1), Some(step));
        let next = code_for_step(SEED, step + 1);
        assert_eq!(verify(SEED, next, t, 1, step), Some(step + 1));
        // Wrong code, wrong secret, out-of-range code.
        assert_eq!(verify(SEED, (code + 1) % 1_000_000, t, 0, 0), None);
        assert_eq!(verify(b"12345678901234567891", code, t, 1, 0), None);
        assert_eq!(verify(SEED, code + 1_000_000, t, 1, 0), None);
        // Near the epoch the window does not underflow.
        assert_eq!(verify(SEED, code_at(SEED, 0), 0, 1, 0), None, "step 0 is never above last_step 0");
        assert_eq!(verify(SEED, code_at(SEED, 59), 0, 1, 0), Some(1));
    }

    #[test]
    fn parse_code_takes_six_ascii_digits() {
        assert_eq!(parse_code(b"081804"), Some(81804));
        assert_eq!(parse_code(b"000000"), Some(0));
        assert_eq!(parse_code(b"999999"), Some(999999));
        assert_eq!(parse_code(b"08180"), None);
        assert_eq!(parse_code(b"0818041"), None);
        assert_eq!(parse_code(b"08180a"), None);
        assert_eq!(parse_code(b"-81804"), None);
        assert_eq!(parse_code("08180٤".as_bytes()), None);
    }

    #[test]
    fn base32_and_uri() {
        // RFC 4648 §10 test vectors, padding removed.
        assert_eq!(base32(b"").as_str(), "");
        assert_eq!(base32(b"f").as_str(), "MY");
        assert_eq!(base32(b"foob").as_str(), "MZXW6YQ");
        assert_eq!(base32(b"foobar").as_str(), "MZXW6YTBOI");
        assert_eq!(base32(SEED).as_str(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            otpauth_uri("keyward token", "alice@x", SEED).as_str(),
            "otpauth://totp/keyward%20token:alice%40x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=keyward%20token&algorithm=SHA1&digits=6&period=30"
        );
        let s = generate_secret().unwrap();
        assert_ne!(*s, [0u8; SECRET_LEN]);
        assert_ne!(*generate_secret().unwrap(), *s);
        assert_eq!(base32(&s[..]).len(), 32);
    }
}
