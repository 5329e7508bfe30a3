//! Wall-clock time, shared by every layer: the lifecycle clock (seconds
//! since the Unix epoch, UTC), civil UTC times, and the duration and date
//! formats of the CLI and the config. (`crate::clock` is the monotonic
//! per-call clock.) Must not import any layer.
//!
//! TEST HOOK: only when the configuration opts in (`[testing]
//! allow_test_clock = true`, armed by [`allow_test_clock`] when a library is
//! built) does a number in `KEYWARD_TEST_NOW` replace the current Unix time
//! for the lifecycle code (expiry windows, rotation schedules, deletion
//! grace, purge), so tests can move time without sleeping. Otherwise the
//! variable is ignored: the environment alone must not decide which keys
//! look expired or due. When armed it is read on every call, so a test may
//! change it between calls.
//!
//! Owns: the lifecycle's time and its text formats. Must not touch: any key
//! or object.

use crate::ck::*;
use crate::err;
use crate::error::Result;
use std::sync::atomic::{AtomicBool, Ordering};

pub const TEST_NOW_ENV: &str = "KEYWARD_TEST_NOW";

/// Whether `KEYWARD_TEST_NOW` is honoured (process-wide; off by default).
static TEST_CLOCK: AtomicBool = AtomicBool::new(false);

/// Arms (or disarms) the test clock, from the configuration of the library
/// being built (C_Initialize and the CLI); the last library built decides.
pub fn allow_test_clock(on: bool) {
    TEST_CLOCK.store(on, Ordering::SeqCst);
}

/// `KEYWARD_TEST_NOW` as a number, whether or not it is honoured.
pub fn test_now() -> Option<i64> {
    std::env::var_os(TEST_NOW_ENV).and_then(|v| v.to_str().and_then(|s| s.trim().parse::<i64>().ok()))
}

/// The current Unix time in seconds (or `KEYWARD_TEST_NOW` when armed, see
/// above).
pub fn now() -> i64 {
    if TEST_CLOCK.load(Ordering::Relaxed)
        && let Some(t) = test_now()
    {
        return t;
    }
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Today as a CK_DATE (`YYYYMMDD`).
pub fn today() -> [u8; 8] {
    UtcTime::from_unix(now()).date_bytes()
}

/// Parses a duration: a number with a unit `s`, `m`, `h`, `d` or `w`
/// (`90d`, `12h`), or a bare number of seconds. `0` means none.
pub fn parse_duration(s: &str) -> Result<u64> {
    let s = s.trim();
    let bad = || err!(CKR_ARGUMENTS_BAD, "cannot read duration {s:?} (use e.g. 90d, 12h, 30m, 2w or seconds)");
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, "s"),
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mul = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(mul).filter(|v| *v <= i64::MAX as u64 / 4).ok_or_else(bad)
}

/// A duration the way `parse_duration` reads it, in the largest whole unit.
pub fn format_duration(secs: u64) -> String {
    for (unit, n) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs >= n && secs.is_multiple_of(n) {
            return format!("{}{unit}", secs / n);
        }
    }
    format!("{secs}s")
}

/// Parses `YYYY-MM-DD` or `YYYYMMDD` into a CK_DATE.
pub fn parse_date(s: &str) -> Result<[u8; 8]> {
    let digits: String = s.trim().chars().filter(|c| *c != '-').collect();
    let bad = || err!(CKR_ARGUMENTS_BAD, "cannot read date {s:?} (use YYYY-MM-DD)");
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let month: u32 = digits[4..6].parse().map_err(|_| bad())?;
    let day: u32 = digits[6..8].parse().map_err(|_| bad())?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    let mut out = [0u8; 8];
    out.copy_from_slice(digits.as_bytes());
    Ok(out)
}

/// `YYYY-MM-DD` from a CK_DATE (empty for an empty date).
pub fn format_date(d: &[u8]) -> String {
    if d.len() != 8 {
        return String::new();
    }
    let s = String::from_utf8_lossy(d);
    format!("{}-{}-{}", &s[0..4], &s[4..6], &s[6..8])
}

/// RFC 3339 UTC (`2026-01-02T03:04:05Z`) of a Unix time; empty for 0.
pub fn format_time(t: i64) -> String {
    if t <= 0 {
        return String::new();
    }
    let u = UtcTime::from_unix(t);
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", u.year, u.month, u.day, u.hour, u.minute, u.second)
}

/// A UTC timestamp, enough for token info and date checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl UtcTime {
    pub fn from_unix(secs: i64) -> UtcTime {
        // Civil-from-days (H. Hinnant), proleptic Gregorian.
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        UtcTime {
            year: if m <= 2 { y + 1 } else { y },
            month: m,
            day: d,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
        }
    }

    /// `YYYYMMDDhhmmss`.
    pub fn format_compact(&self) -> String {
        format!("{:04}{:02}{:02}{:02}{:02}{:02}", self.year, self.month, self.day, self.hour, self.minute, self.second)
    }

    /// `YYYYMMDD` as in CK_DATE.
    pub fn date_bytes(&self) -> [u8; 8] {
        let s = format!("{:04}{:02}{:02}", self.year, self.month, self.day);
        let mut out = [b'0'; 8];
        out.copy_from_slice(&s.as_bytes()[..8]);
        out
    }
}

pub fn now_utc() -> UtcTime {
    let secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    UtcTime::from_unix(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90d").unwrap(), 90 * 86_400);
        assert_eq!(parse_duration("12h").unwrap(), 43_200);
        assert_eq!(parse_duration("0").unwrap(), 0);
        assert_eq!(parse_duration("2w").unwrap(), 14 * 86_400);
        assert!(parse_duration("7 days").is_err());
        assert!(parse_duration("x").is_err());
        assert_eq!(format_duration(90 * 86_400), "90d");
        assert_eq!(format_duration(14 * 86_400), "2w");
        assert_eq!(format_duration(61), "61s");
    }

    #[test]
    fn dates() {
        assert_eq!(&parse_date("2026-11-23").unwrap(), b"20261123");
        assert_eq!(&parse_date("20261123").unwrap(), b"20261123");
        assert!(parse_date("2026-13-01").is_err());
        assert!(parse_date("tomorrow").is_err());
        assert_eq!(format_date(b"20261123"), "2026-11-23");
        assert_eq!(format_time(0), "");
        assert_eq!(format_time(951_782_400), "2000-02-29T00:00:00Z");
    }
}
