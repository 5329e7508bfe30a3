//! Per-key grants (docs/named-users.md §2, §4): the operation bits a grant
//! carries, their names for the CLI, and the one decision of whether a
//! grant permits a use. Who holds which grant, and the data keys they
//! carry, live in `token::grants`; this module only decides.

use crate::ck::*;
use crate::err;
use crate::error::Result;
use crate::object::Purpose;

pub const ENCRYPT: u32 = 1;
pub const DECRYPT: u32 = 2;
pub const SIGN: u32 = 4;
pub const VERIFY: u32 = 8;
pub const WRAP: u32 = 16;
pub const UNWRAP: u32 = 32;
pub const DERIVE: u32 = 64;
pub const ENCAPSULATE: u32 = 128;
pub const DECAPSULATE: u32 = 256;
/// Every use.
pub const USE: u32 = 511;
/// Lifecycle acts on the key and changes of its grants.
pub const ADMIN: u32 = 1 << 16;
pub const ALL: u32 = USE | ADMIN;

const NAMES: &[(&str, u32)] = &[
    ("encrypt", ENCRYPT),
    ("decrypt", DECRYPT),
    ("sign", SIGN),
    ("verify", VERIFY),
    ("wrap", WRAP),
    ("unwrap", UNWRAP),
    ("derive", DERIVE),
    ("encapsulate", ENCAPSULATE),
    ("decapsulate", DECAPSULATE),
    ("admin", ADMIN),
];

/// The bit of a use.
pub fn bit(p: Purpose) -> u32 {
    match p {
        Purpose::Encrypt => ENCRYPT,
        Purpose::Decrypt => DECRYPT,
        Purpose::Sign => SIGN,
        Purpose::Verify => VERIFY,
        Purpose::Wrap => WRAP,
        Purpose::Unwrap => UNWRAP,
        Purpose::Derive => DERIVE,
        Purpose::Encapsulate => ENCAPSULATE,
        Purpose::Decapsulate => DECAPSULATE,
    }
}

/// Whether a grant of `ops` permits use `p`: `CKR_KEY_FUNCTION_NOT_PERMITTED`
/// when not (the key is visible, this use of it is not granted).
pub fn permits(ops: u32, p: Purpose, who: &str) -> Result<()> {
    if ops & bit(p) != 0 {
        return Ok(());
    }
    Err(err!(CKR_KEY_FUNCTION_NOT_PERMITTED, "user {who} holds no grant to {} with this key", name_of(bit(p))))
}

fn name_of(b: u32) -> &'static str {
    NAMES.iter().find(|(_, v)| *v == b).map(|(n, _)| *n).unwrap_or("?")
}

/// `encrypt,decrypt,...`, `use` (every use) or `all` (every use and admin).
pub fn parse(s: &str) -> Result<u32> {
    let mut ops = 0;
    for w in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        ops |= match w {
            "use" => USE,
            "all" => ALL,
            w => NAMES
                .iter()
                .find(|(n, _)| *n == w)
                .map(|(_, b)| *b)
                .ok_or_else(|| err!(CKR_ARGUMENTS_BAD, "unknown operation {w:?} (encrypt, decrypt, sign, verify, wrap, unwrap, derive, encapsulate, decapsulate, admin, use, all)"))?,
        };
    }
    if ops == 0 {
        return Err(err!(CKR_ARGUMENTS_BAD, "no operations named"));
    }
    Ok(ops)
}

/// The names of `ops`, comma-separated (`all`, `use`, `use,admin` for
/// the sets `parse` names so).
pub fn names(ops: u32) -> String {
    if ops == ALL {
        return "all".into();
    }
    if ops & USE == USE {
        return if ops & ADMIN != 0 { "use,admin".into() } else { "use".into() };
    }
    let v: Vec<&str> = NAMES.iter().filter(|(_, b)| ops & b != 0).map(|(n, _)| *n).collect();
    v.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_parse_and_permit() {
        assert_eq!(parse("decrypt").unwrap(), DECRYPT);
        assert_eq!(parse("sign, verify").unwrap(), SIGN | VERIFY);
        assert_eq!(parse("use").unwrap(), USE);
        assert_eq!(parse("all").unwrap(), USE | ADMIN);
        assert!(parse("fly").is_err() && parse("").is_err());
        assert_eq!(names(DECRYPT | ADMIN), "decrypt,admin");
        assert!(permits(DECRYPT, Purpose::Decrypt, "b").is_ok());
        let e = permits(DECRYPT, Purpose::Sign, "b").unwrap_err();
        assert_eq!(e.rv(), CKR_KEY_FUNCTION_NOT_PERMITTED);
        // Every purpose has its own bit, all inside USE.
        let all = [
            Purpose::Encrypt,
            Purpose::Decrypt,
            Purpose::Sign,
            Purpose::Verify,
            Purpose::Wrap,
            Purpose::Unwrap,
            Purpose::Derive,
            Purpose::Encapsulate,
            Purpose::Decapsulate,
        ];
        let bits: u32 = all.iter().map(|p| bit(*p)).fold(0, |a, b| a | b);
        assert_eq!(bits, USE);
    }
}
