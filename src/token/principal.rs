//! Named users (issue 17; docs/named-users.md §1.1, §3, slice 3): the SO
//! adds, lists, locks, unlocks, resets and removes them; a named user logs
//! in with its own PIN (`C_LoginUser`, or `C_Login` on a slot mapped to it
//! by `[[slot]] user`), with its own lockout counter.
//!
//! What a named user holds: its principal secret (X25519 and Ed25519 keys,
//! the authority key it trusts records from), sealed under a subkey of its
//! PIN key; never the token master key. So a named user's login opens
//! none of the keys sealed under the master key, and sees none of them:
//! its view of token objects is the public non-key objects
//! ([`Token::sees_token_object`]) and the keys it holds grants on: a key
//! made by a named user is sealed under its own data key and wrapped for
//! its grantees (`grants.rs`).
//!
//! The authority is the SO: its Ed25519 key (in the SO's principal secret,
//! row 0, sealed under a subkey of the SO PIN key, made at the first `user
//! add`) signs every principal record; a login checks its record (id, name,
//! serial, roles) against the authority key in its own sealed secret, so a
//! role or name edited in the store fails the login.
//!
//! Owns: the principal rows' meaning and the named login. Must not touch:
//! the master-key login (`login.rs`), the byte formats (`store::wrap`).

use super::session::Session;
use super::{Token, lock_err};
use crate::ck::*;
use crate::err;
use crate::error::{Error, Result};
use crate::store::principals::PRINCIPAL_SO;
use crate::store::seal::Kek;
use crate::store::wrap::{self, PrincipalRecord, PrincipalSecret};
use crate::store::{PinSalt, PrincipalRow, Role};
use zeroize::Zeroizing;

/// Role bits of a principal record.
pub const ROLE_KEY_USER: u32 = 1;
pub const ROLE_KEY_ADMIN: u32 = 2;
pub const ROLE_AUDITOR: u32 = 4;

/// Record flag: the user's logins need a TOTP code after the PIN.
pub const FLAG_TOTP: u32 = 1;
/// Record flag: an administrator every new key of a named user is granted
/// to (ADMIN only: "administrators by config").
pub const FLAG_AUTO_ADMIN: u32 = 2;

/// HKDF label of the PIN subkey that seals a principal secret.
pub const SECRET_LABEL: &[u8] = b"keyward principal secret v1";

/// The SO principal's name (reserved).
const SO_NAME: &str = "so";

/// How long a TOTP code keeps a login's second factor fresh for
/// destructive acts (seconds).
pub const FACTOR_FRESH_SECS: i64 = 300;

/// The named user a login holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrincipalLogin {
    pub id: i64,
    pub name: String,
    pub roles: u32,
    /// `name`, shared with the audit records of the login's calls.
    name_arc: std::sync::Arc<str>,
    /// The sealed secret the login opened: another one in the store (a PIN
    /// reset by the SO) ends the login.
    sealed: Vec<u8>,
    /// The authorization revision the login last checked its row at.
    auth_rev: u64,
}

impl PrincipalLogin {
    pub(super) fn name_arc(&self) -> std::sync::Arc<str> {
        self.name_arc.clone()
    }
}

/// What `keyward user list` shows of a named user (no secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    pub id: i64,
    pub name: String,
    pub roles: u32,
    pub locked: bool,
    pub failures: u32,
    /// Its logins need a TOTP code (`FLAG_TOTP`).
    pub totp: bool,
    /// An administrator by config (`FLAG_AUTO_ADMIN`).
    pub auto_admin: bool,
}

/// The names of `roles`, comma-separated.
pub fn role_names(roles: u32) -> String {
    let mut v = Vec::new();
    for (bit, name) in [(ROLE_KEY_USER, "user"), (ROLE_KEY_ADMIN, "admin"), (ROLE_AUDITOR, "auditor")] {
        if roles & bit != 0 {
            v.push(name);
        }
    }
    v.join(",")
}

/// A role name's bit.
pub fn role_bit(name: &str) -> Option<u32> {
    match name {
        "user" => Some(ROLE_KEY_USER),
        "admin" => Some(ROLE_KEY_ADMIN),
        "auditor" => Some(ROLE_AUDITOR),
        _ => None,
    }
}

/// A user name: `[a-z][a-z0-9._-]{0,31}`, not `so` or `default`.
pub fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if !first_ok || !rest_ok || name.len() > 32 {
        return Err(err!(CKR_ARGUMENTS_BAD, "user name {name:?}: a lowercase letter, then [a-z0-9._-], at most 32"));
    }
    if name == SO_NAME || name == "default" {
        return Err(err!(CKR_ARGUMENTS_BAD, "user name {name:?} is reserved"));
    }
    Ok(())
}

/// A principal's PIN argument split into the PIN and, for a principal with
/// a second factor (`totp`), the 6-digit code after it (`None`: missing or
/// malformed).
fn split_code(pin: &[u8], totp: bool) -> (&[u8], Option<u32>) {
    let digits = crate::crypto::totp::DIGITS;
    if !totp || pin.len() <= digits {
        return (pin, None);
    }
    let (p, c) = pin.split_at(pin.len() - digits);
    (p, crate::crypto::totp::parse_code(c))
}

/// The SO's principal row (0) with this record and sealed secret.
fn new_so_row(record: Vec<u8>, record_sig: Vec<u8>, secret: Vec<u8>) -> PrincipalRow {
    PrincipalRow {
        id: PRINCIPAL_SO,
        name: SO_NAME.into(),
        roles: 0,
        record,
        record_sig,
        pin: None,
        secret,
        locked: false,
        failures: 0,
        totp_last_step: 0,
    }
}

fn principal_id(id: i64) -> Result<u32> {
    u32::try_from(id).map_err(|_| Error::device(format!("principal id {id} out of range")))
}

fn bytes32(v: &[u8]) -> Result<[u8; 32]> {
    v.try_into().map_err(|_| Error::device("a principal key is not 32 bytes"))
}

impl Token {
    /// The named user logged in, if the login is one.
    pub fn named_user(&self) -> Option<PrincipalLogin> {
        self.login.read().ok().and_then(|l| l.principal.clone())
    }

    pub(crate) fn is_named(&self) -> bool {
        self.login_view().1
    }

    /// Whether a user is logged in, and whether it is a named one (one
    /// read of the login: object lookups ask both).
    pub(super) fn login_view(&self) -> (bool, bool) {
        self.login.read().map(|l| (l.role == Some(Role::User), l.principal.is_some())).unwrap_or((false, false))
    }

    /// The user a `C_Login(CKU_USER)` on this slot logs in as
    /// (`[[slot]] user`), `None`: the default user.
    pub fn mapped_user(&self) -> Option<&str> {
        self.mapped_user.as_deref()
    }

    /// Whether this login sees token object `obj` (`user`, `named`: what
    /// `login_view` said): a key sealed under a data key only with a grant
    /// on it (`grants.rs`); a named user, besides those, the public objects
    /// that are not keys (certificates, data), nothing sealed under the
    /// master key; the others as PKCS#11 says.
    pub(super) fn sees_token_object(&self, obj: &crate::object::Object, user: bool, named: bool) -> bool {
        match obj.seal_id() {
            Some(id) => user && self.holds_grant(id),
            None if named => super::objects::public_view(obj) && !obj.is_key(),
            None => user || super::objects::public_view(obj),
        }
    }

    /// The SO's secret (authority key and all), made at the first use, its
    /// row if it has one, and the SO PIN subkey that seals it.
    pub(super) fn so_secret(
        &self,
        serial: &str,
    ) -> Result<(PrincipalSecret, Option<PrincipalRow>, Zeroizing<[u8; 32]>)> {
        let l = self.login.read().map_err(lock_err)?;
        if l.role != Some(Role::So) {
            return Err(Error::new(CKR_USER_NOT_LOGGED_IN, "managing users needs the SO logged in"));
        }
        let subkey = l.so_subkey.clone().ok_or_else(|| {
            Error::new(CKR_USER_NOT_LOGGED_IN, "log in as the SO again to manage users (no SO PIN key in this login)")
        })?;
        let master = l.master.clone().ok_or_else(|| Error::new(CKR_USER_NOT_LOGGED_IN, "no master key"))?;
        drop(l);
        match self.store.principal(SO_NAME)? {
            Some(row) => {
                let s = self.open_principal(&row.secret, &subkey, serial, 0, SO_NAME).map_err(|_| {
                    Error::device("the SO's principal secret does not open with the SO PIN key (store damaged?)")
                })?;
                Ok((s, Some(row), subkey))
            }
            None => {
                let row_key = master.row_keys()?.public;
                let mut s = PrincipalSecret::generate([0; 32], row_key, None)?;
                s.authority = bytes32(s.ed25519_key()?.public().bytes())?;
                Ok((s, None, subkey))
            }
        }
    }

    pub(super) fn serial(&self) -> Result<String> {
        Ok(self.store.token()?.ok_or_else(|| Error::new(CKR_TOKEN_NOT_RECOGNIZED, "token not initialized"))?.serial)
    }

    /// The record of principal `id` and its authority signature.
    pub(super) fn signed_record(
        authority: &PrincipalSecret,
        id: i64,
        name: &str,
        roles: u32,
        keys: &PrincipalSecret,
        serial: &str,
        auto_admin: bool,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let record = PrincipalRecord {
            id: principal_id(id)?,
            name: name.to_string(),
            roles,
            flags: if keys.totp.is_some() { FLAG_TOTP } else { 0 } | if auto_admin { FLAG_AUTO_ADMIN } else { 0 },
            x25519: bytes32(keys.x25519_key()?.public().bytes())?,
            ed25519: bytes32(keys.ed25519_key()?.public().bytes())?,
            serial: serial.to_string(),
            os_users: Vec::new(),
            os_groups: Vec::new(),
        }
        .payload();
        let sig = wrap::sign(&authority.ed25519_key()?, &record)?;
        Ok((record, sig.to_vec()))
    }

    /// A fresh PIN salt for `pin` and the subkey that seals a principal
    /// secret under it (the PBKDF2 runs here, outside any transaction).
    fn new_pin_key(&self, pin: &[u8]) -> Result<(PinSalt, Zeroizing<[u8; 32]>)> {
        self.check_pin_len(pin)?;
        let mut salt = vec![0u8; 16];
        crate::crypto::random_fill(&mut salt).map_err(|_| Error::general("rng failed"))?;
        let iterations = self.policy.pbkdf2_iterations;
        let subkey = Kek::derive(pin, &salt, iterations)?.subkey(SECRET_LABEL)?;
        Ok((PinSalt { salt, iterations }, subkey))
    }

    /// The SO's principal secret, if it has one, sealed again from
    /// `old` to `new` (C_SetPIN of the SO, in its transaction).
    pub(super) fn reseal_so_secret(
        &self,
        tx: &crate::store::Tx<'_>,
        serial: &str,
        old: &[u8; 32],
        new: &[u8; 32],
    ) -> Result<()> {
        let Some(row) = tx.principal(SO_NAME)? else { return Ok(()) };
        let s = self
            .open_principal(&row.secret, old, serial, 0, SO_NAME)
            .map_err(|_| Error::device("the SO's principal secret does not open with the SO PIN key"))?;
        tx.update_principal(&PrincipalRow { secret: self.seal_principal(&s, new, serial, 0, SO_NAME)?, ..row })
    }

    /// `keyward user add`: the SO adds named user `name` with `roles` and
    /// PIN `pin` (and, with `totp`, a TOTP secret its logins need a code
    /// of); returns its id and, with `totp`, the secret's `otpauth://` URI
    /// for the user's authenticator. The first one also makes the SO's
    /// principal (its authority key).
    pub fn user_add(
        &self,
        s: &Session,
        name: &str,
        roles: u32,
        pin: &[u8],
        totp: bool,
        auto_admin: bool,
    ) -> Result<(i64, Option<Zeroizing<String>>)> {
        check_name(name)?;
        if auto_admin && roles & ROLE_KEY_ADMIN == 0 {
            return Err(err!(CKR_ARGUMENTS_BAD, "--auto-admin needs the admin role"));
        }
        if !s.rw {
            return Err(Error::new(CKR_SESSION_READ_ONLY, "managing users needs a R/W session"));
        }
        if roles == 0 || roles & !(ROLE_KEY_USER | ROLE_KEY_ADMIN | ROLE_AUDITOR) != 0 {
            return Err(err!(CKR_ARGUMENTS_BAD, "roles {roles:#x}: user, admin and/or auditor"));
        }
        super::totp_policy::check_user(self.totp_policy()?, name, roles, totp)?;
        let serial = self.serial()?;
        let (authority, so_row, subkey) = self.so_secret(&serial)?;
        let (pin_salt, user_subkey) = self.new_pin_key(pin)?;
        self.store.transaction(|tx| {
            if so_row.is_none() {
                let (record, record_sig) =
                    Self::signed_record(&authority, PRINCIPAL_SO, SO_NAME, 0, &authority, &serial, false)?;
                let sealed = self.seal_principal(&authority, &subkey, &serial, 0, SO_NAME)?;
                tx.insert_principal(&new_so_row(record, record_sig, sealed))?;
            }
            if tx.principal(name)?.is_some() {
                return Err(err!(CKR_ARGUMENTS_BAD, "user {name} exists"));
            }
            // The id first (with a placeholder record), then the record that names it.
            let placeholder = PrincipalRow {
                id: 1000,
                name: name.into(),
                roles,
                record: Vec::new(),
                record_sig: Vec::new(),
                pin: None,
                secret: Vec::new(),
                locked: false,
                failures: 0,
                totp_last_step: 0,
            };
            let id = tx.insert_principal(&placeholder)?;
            let seed = match totp {
                true => Some(crate::crypto::totp::generate_secret().map_err(|_| Error::general("rng failed"))?),
                false => None,
            };
            let secret = PrincipalSecret::generate(authority.authority, authority.public_row_key.clone(), seed)?;
            let sealed = self.seal_principal(&secret, &user_subkey, &serial, principal_id(id)?, name)?;
            let (record, record_sig) = Self::signed_record(&authority, id, name, roles, &secret, &serial, auto_admin)?;
            let pin = Some(pin_salt.clone());
            tx.update_principal(&PrincipalRow { id, record, record_sig, pin, secret: sealed, ..placeholder })?;
            let uri = secret.totp.as_ref().map(|t| crate::crypto::totp::otpauth_uri("keyward", name, &t[..]));
            Ok((id, uri))
        })
    }

    /// `keyward user list`: every named user.
    pub fn users(&self) -> Result<Vec<UserInfo>> {
        let rows = self.store.transaction(|tx| tx.principals())?;
        Ok(rows
            .into_iter()
            .filter(|p| p.id > crate::store::principals::PRINCIPAL_DEFAULT)
            .map(|p| {
                let flags = PrincipalRecord::from_payload(&p.record).map(|r| r.flags).unwrap_or(0);
                UserInfo {
                    id: p.id,
                    name: p.name,
                    roles: p.roles,
                    locked: p.locked,
                    failures: p.failures,
                    totp: flags & FLAG_TOTP != 0,
                    auto_admin: flags & FLAG_AUTO_ADMIN != 0,
                }
            })
            .collect())
    }

    pub(super) fn require_so(&self, s: &Session) -> Result<()> {
        if self.role()? != Some(Role::So) {
            return Err(Error::new(CKR_USER_NOT_LOGGED_IN, "managing users needs the SO logged in"));
        }
        if !s.rw {
            return Err(Error::new(CKR_SESSION_READ_ONLY, "managing users needs a R/W session"));
        }
        Ok(())
    }

    fn named_row(tx: &crate::store::Tx<'_>, name: &str) -> Result<PrincipalRow> {
        check_name(name)?;
        tx.principal(name)?.ok_or_else(|| err!(CKR_ARGUMENTS_BAD, "no user {name}"))
    }

    /// `keyward user lock|unlock`: the SO locks a user (its logins fail
    /// with `CKR_PIN_LOCKED`) or unlocks it (also zeroing its failures).
    pub fn user_set_locked(&self, s: &Session, name: &str, locked: bool) -> Result<()> {
        self.require_so(s)?;
        self.store.transaction(|tx| {
            let row = Self::named_row(tx, name)?;
            tx.update_principal(&PrincipalRow { locked, ..row.clone() })?;
            if !locked {
                tx.principal_ok(row.id, 0)?;
            }
            Ok(())
        })
    }

    /// `keyward user remove`.
    pub fn user_remove(&self, s: &Session, name: &str) -> Result<()> {
        self.require_so(s)?;
        self.require_fresh_factor("removing a user")?;
        self.store.transaction(|tx| {
            let row = Self::named_row(tx, name)?;
            tx.delete_principal(row.id)
        })
    }

    /// `keyward user passwd` by the SO: a new PIN for `name` (new keys: the
    /// old secret cannot be opened without the old PIN), failures zeroed.
    /// With `totp` the new secret has a new TOTP secret (its `otpauth://`
    /// URI is returned); a user that had one gets a new one (`totp` is then
    /// required): a reset never drops a second factor.
    pub fn user_reset_pin(&self, s: &Session, name: &str, pin: &[u8], totp: bool) -> Result<Option<Zeroizing<String>>> {
        self.require_so(s)?;
        self.require_fresh_factor("resetting a user's PIN")?;
        let serial = self.serial()?;
        let (authority, so_row, _) = self.so_secret(&serial)?;
        if so_row.is_none() {
            return Err(err!(CKR_ARGUMENTS_BAD, "no user {name}"));
        }
        let (pin_salt, subkey) = self.new_pin_key(pin)?;
        let policy = self.totp_policy()?;
        self.store.transaction(|tx| {
            let row = Self::named_row(tx, name)?;
            let old = PrincipalRecord::from_payload(&row.record).map(|r| r.flags).unwrap_or(0);
            if old & FLAG_TOTP != 0 && !totp {
                return Err(err!(
                    CKR_ARGUMENTS_BAD,
                    "user {name} has a TOTP secret: its reset gives it a new one, give --totp FILE"
                ));
            }
            super::totp_policy::check_user(policy, name, row.roles, totp)?;
            let seed = match totp {
                true => Some(crate::crypto::totp::generate_secret().map_err(|_| Error::general("rng failed"))?),
                false => None,
            };
            let secret = PrincipalSecret::generate(authority.authority, authority.public_row_key.clone(), seed)?;
            let sealed = self.seal_principal(&secret, &subkey, &serial, principal_id(row.id)?, name)?;
            let pin_salt = pin_salt.clone();
            let auto = old & FLAG_AUTO_ADMIN != 0;
            let (record, record_sig) =
                Self::signed_record(&authority, row.id, name, row.roles, &secret, &serial, auto)?;
            tx.update_principal(&PrincipalRow {
                record,
                record_sig,
                pin: Some(pin_salt),
                secret: sealed,
                ..row.clone()
            })?;
            // Its grants, wrapped again for its new key (from the SO's
            // recovery wraps): the user keeps its keys.
            let x25519 = secret.x25519_key()?.public().bytes().to_vec();
            Self::rewrap_grants(tx, &authority, &serial, row.id, &x25519)?;
            tx.principal_ok(row.id, 0)?;
            Ok(secret.totp.as_ref().map(|t| crate::crypto::totp::otpauth_uri("keyward", name, &t[..])))
        })
    }

    /// A named user's own PIN change (C_SetPIN in its login): the same keys
    /// sealed under the new PIN.
    pub(super) fn named_set_pin(&self, who: &PrincipalLogin, old: &[u8], new: &[u8]) -> Result<()> {
        let serial = self.serial()?;
        let (row, secret) = self.open_named(&who.name, old, &serial)?;
        let (pin_salt, subkey) = self.new_pin_key(new)?;
        let sealed = self.seal_principal(&secret, &subkey, &serial, principal_id(row.id)?, &row.name)?;
        self.store.transaction(|tx| {
            let now = tx.principal(&row.name)?.filter(|p| p.id == row.id && p.secret == row.secret);
            let now = now.ok_or_else(|| Error::new(CKR_PIN_INCORRECT, "the user changed meanwhile"))?;
            tx.update_principal(&PrincipalRow { pin: Some(pin_salt.clone()), secret: sealed.clone(), ..now })
        })?;
        // This login changed its own PIN: it stays.
        let mut l = self.login.write().map_err(lock_err)?;
        if let Some(p) = l.principal.as_mut().filter(|p| p.id == row.id) {
            p.sealed = sealed;
        }
        Ok(())
    }

    /// Checks `pin` for named user `name` (the rule of `verify_pin`: an
    /// attempt is reserved in the store before the PIN is tried, a success
    /// zeroes the count) and checks its record against the authority key
    /// in its secret; returns the row and the opened secret. An unknown
    /// name costs the same PBKDF2 and is `CKR_PIN_INCORRECT`. `serial`:
    /// the token's (its row, as the caller read it).
    pub(super) fn open_named(&self, name: &str, pin: &[u8], serial: &str) -> Result<(PrincipalRow, PrincipalSecret)> {
        let max = self.policy.max_pin_attempts;
        let Some(row) = self.store.principal(name)?.filter(|p| p.id > crate::store::principals::PRINCIPAL_DEFAULT)
        else {
            Kek::derive(pin, &[0u8; 16], self.policy.pbkdf2_iterations)?;
            return Err(Error::new(CKR_PIN_INCORRECT, format!("wrong PIN for user {name:?}")));
        };
        let locked = |n: u32| Error::new(CKR_PIN_LOCKED, format!("user {name} locked after {n} failed attempts"));
        if row.locked {
            return Err(Error::new(CKR_PIN_LOCKED, format!("user {name} is locked")));
        }
        // A KEK the secret needs but this process lacks: refused before
        // any PIN work, and not counted.
        self.principal_kek(&row.secret)?;
        // One slow check at a time in this process (`Token::pin_check`): a
        // success resets the count before the next login reserves, so
        // concurrent right PINs never add up to a lockout.
        let _one = self.pin_check.lock().map_err(lock_err)?;
        let n = self.store.transaction(|tx| {
            let now =
                tx.principal(name)?.filter(|p| p.id == row.id).ok_or_else(|| err!(CKR_PIN_INCORRECT, "user gone"))?;
            if now.locked {
                return Ok(Err(0));
            }
            if now.failures >= max {
                return Ok(Err(now.failures));
            }
            tx.principal_failed(row.id).map(Ok)
        })?;
        let n = match n {
            Ok(n) => n,
            Err(0) => return Err(Error::new(CKR_PIN_LOCKED, format!("user {name} is locked"))),
            Err(now) => return Err(locked(now)),
        };
        // A TOTP user's PIN argument is its PIN followed by the 6-digit code
        // (the record says so; its signature is checked once it opens).
        let record = PrincipalRecord::from_payload(&row.record)?;
        let (pin, code) = split_code(pin, record.flags & FLAG_TOTP != 0);
        let wrong = |n: u32| {
            if n >= max {
                Error::new(CKR_PIN_LOCKED, format!("user {name} now locked after {n} failed attempts"))
            } else {
                Error::new(CKR_PIN_INCORRECT, format!("wrong PIN or code for user {name:?} ({n} failed attempts)"))
            }
        };
        let salt = row.pin.as_ref().ok_or_else(|| Error::device(format!("user {name} has no PIN salt")))?;
        let subkey: Zeroizing<[u8; 32]> = Kek::derive(pin, &salt.salt, salt.iterations)?.subkey(SECRET_LABEL)?;
        let Ok(secret) = self.open_principal(&row.secret, &subkey, serial, principal_id(row.id)?, name) else {
            return Err(wrong(n));
        };
        // The record the authority signed must be this row's.
        wrap::verify(&secret.authority, &row.record, &row.record_sig)
            .map_err(|_| Error::device(format!("user {name}: the record's signature does not verify")))?;
        if i64::from(record.id) != row.id
            || record.name != row.name
            || record.serial != serial
            || record.roles != row.roles
        {
            return Err(Error::device(format!("user {name}: the stored row does not match its signed record")));
        }
        let mut step = 0;
        if record.flags & FLAG_TOTP != 0 {
            // Missing, malformed, wrong (outside one step either way) or
            // used before: all a wrong PIN, the attempt stays counted.
            let seed = secret.totp.as_ref().ok_or_else(|| Error::device(format!("user {name}: no TOTP secret")))?;
            let now = u64::try_from(crate::time::now()).unwrap_or(0);
            let last = row.totp_last_step;
            step =
                code.and_then(|c| crate::crypto::totp::verify(&seed[..], c, now, 1, last)).ok_or_else(|| wrong(n))?;
        }
        let adopted = self.adopt_principal_kek(&row.secret, &secret, &subkey, serial, principal_id(row.id)?, name)?;
        self.store.transaction(|tx| {
            if let Some(new) = &adopted {
                Self::write_adopted(tx, &row, new)?;
            }
            tx.principal_ok(row.id, step)
        })?;
        let row = match adopted {
            Some(secret) => PrincipalRow { secret, ..row },
            None => row,
        };
        Ok((row, secret))
    }

    /// C_LoginUser / a mapped slot's C_Login as named user `name`.
    pub(super) fn login_named(&self, name: &str, pin: &[u8]) -> Result<()> {
        match self.role()? {
            Some(Role::User) => return Err(Error::new(CKR_USER_ALREADY_LOGGED_IN, "already logged in")),
            Some(_) => return Err(Error::new(CKR_USER_ANOTHER_ALREADY_LOGGED_IN, "another user is logged in")),
            None => {}
        }
        self.external_kek()?;
        let auth_rev = self.store.auth_revision()?;
        let serial = self.serial()?;
        let (row, secret) = self.open_named(name, pin, &serial)?;
        let public_row_key = secret.public_row_key.clone();
        let (keys, grants) = self.open_named_keys(&row, secret, &serial)?;
        let mut l = self.login.write().map_err(lock_err)?;
        l.role = Some(Role::User);
        l.master = None;
        l.named = Some(std::sync::Arc::new(keys));
        let name_arc = std::sync::Arc::from(row.name.as_str());
        l.principal = Some(PrincipalLogin {
            id: row.id,
            name: row.name,
            roles: row.roles,
            name_arc,
            sealed: row.secret,
            auth_rev,
        });
        l.proof = Some((serial, Vec::new()));
        l.factor_at = Self::has_totp(&row.record).then(crate::time::now);
        drop(l);
        // Public objects it makes are MACed with the public row key; its
        // keys with their data keys' row keys.
        self.integrity.set_public_key(public_row_key);
        self.install_grants(grants, None)
    }

    fn has_totp(record: &[u8]) -> bool {
        PrincipalRecord::from_payload(record).is_ok_and(|r| r.flags & FLAG_TOTP != 0)
    }

    /// After a context-specific login of named user `row`: a TOTP code was
    /// shown (its second factor is fresh again).
    pub(super) fn note_factor(&self, row: &PrincipalRow) -> Result<()> {
        if Self::has_totp(&row.record) {
            self.login.write().map_err(lock_err)?.factor_at = Some(crate::time::now());
        }
        Ok(())
    }

    /// A destructive act (scheduling a deletion, a purge or its approval,
    /// a grant change, removing a user) by a principal with a second
    /// factor: its last TOTP code must be at most `FACTOR_FRESH_SECS` old,
    /// else `CKR_USER_NOT_LOGGED_IN` (as for a CKA_ALWAYS_AUTHENTICATE key
    /// without its context login). `C_Login(CKU_CONTEXT_SPECIFIC, PIN ||
    /// code)` renews it; the CLI logs in for each command. A login without
    /// a second factor: as the token's policy says (`totp_policy.rs`).
    pub(crate) fn require_fresh_factor(&self, act: &str) -> Result<()> {
        let at = self.login.read().map_err(lock_err)?.factor_at;
        match at {
            Some(t) if crate::time::now().saturating_sub(t) > FACTOR_FRESH_SECS => Err(err!(
                CKR_USER_NOT_LOGGED_IN,
                "{act} needs a TOTP code from the last {FACTOR_FRESH_SECS} s: log in again, or \
                 C_Login(CKU_CONTEXT_SPECIFIC) with the PIN followed by the current code"
            )),
            Some(_) => Ok(()),
            None => self.check_destructive_without_factor(act),
        }
    }

    /// The SO's PIN check (C_Login, C_InitToken): when the SO's principal
    /// has a TOTP secret, the PIN argument is the PIN followed by the
    /// current 6-digit code; the attempt stays counted unless both check.
    /// Returns the master key, the PIN key and, with a code, its time.
    pub(super) fn verify_so(&self, pin: &[u8]) -> Result<(crate::store::seal::MasterKey, Kek, Option<i64>)> {
        let row = self.store.principal(SO_NAME)?.filter(|r| r.id == PRINCIPAL_SO);
        let flagged = row.as_ref().is_some_and(|r| Self::has_totp(&r.record));
        let (pin_part, code) = split_code(pin, flagged);
        let (master, kek) = self.verify_pin(Role::So, pin_part, flagged)?;
        let Some(row) = row else { return Ok((master, kek, None)) };
        let serial = self.serial()?;
        let subkey = kek.subkey(SECRET_LABEL)?;
        let secret = self.open_principal(&row.secret, &subkey, &serial, 0, SO_NAME).map_err(|e| match e.rv() {
            CKR_DEVICE_ERROR if e.reason().contains("key-encryption key") => e,
            _ => Error::device("the SO's principal secret does not open with the SO PIN key"),
        })?;
        wrap::verify(&secret.authority, &row.record, &row.record_sig)
            .map_err(|_| Error::device("the SO's record: its signature does not verify"))?;
        if let Some(new) = self.adopt_principal_kek(&row.secret, &secret, &subkey, &serial, 0, SO_NAME)? {
            self.store.transaction(|tx| Self::write_adopted(tx, &row, &new))?;
        }
        match (&secret.totp, flagged) {
            (None, false) => Ok((master, kek, None)),
            (Some(_), false) | (None, true) => {
                Err(Error::device("the SO's record and secret disagree on its second factor (store edited?)"))
            }
            (Some(seed), true) => {
                let failures = self.store.token()?.map(|r| r.so_failures).unwrap_or(0);
                let now = u64::try_from(crate::time::now()).unwrap_or(0);
                let Some(step) =
                    code.and_then(|c| crate::crypto::totp::verify(&seed[..], c, now, 1, row.totp_last_step))
                else {
                    return Err(if failures >= self.policy.max_pin_attempts {
                        Error::new(CKR_PIN_LOCKED, format!("SO PIN now locked after {failures} failed attempts"))
                    } else {
                        Error::new(CKR_PIN_INCORRECT, format!("wrong SO PIN or code ({failures} failed attempts)"))
                    });
                };
                self.store.pin_ok(Role::So)?;
                self.store.transaction(|tx| tx.principal_ok(PRINCIPAL_SO, step))?;
                Ok((master, kek, Some(crate::time::now())))
            }
        }
    }

    /// `keyward user so-totp`: the SO's logins need a TOTP code after the
    /// SO PIN from now on; returns the secret's `otpauth://` URI.
    pub fn so_enable_totp(&self, s: &Session) -> Result<Zeroizing<String>> {
        self.require_so(s)?;
        let serial = self.serial()?;
        let (mut authority, so_row, subkey) = self.so_secret(&serial)?;
        if authority.totp.is_some() {
            return Err(err!(CKR_ARGUMENTS_BAD, "the SO already has a TOTP secret"));
        }
        authority.totp = Some(crate::crypto::totp::generate_secret().map_err(|_| Error::general("rng failed"))?);
        let (record, record_sig) =
            Self::signed_record(&authority, PRINCIPAL_SO, SO_NAME, 0, &authority, &serial, false)?;
        let secret = self.seal_principal(&authority, &subkey, &serial, 0, SO_NAME)?;
        self.store.transaction(|tx| match &so_row {
            Some(row) => tx.update_principal(&PrincipalRow {
                record: record.clone(),
                record_sig: record_sig.clone(),
                secret: secret.clone(),
                ..row.clone()
            }),
            None => tx.insert_principal(&new_so_row(record.clone(), record_sig.clone(), secret.clone())).map(|_| ()),
        })?;
        let seed = authority.totp.as_ref().ok_or_else(|| Error::general("no TOTP secret"))?;
        Ok(crate::crypto::totp::otpauth_uri("keyward", SO_NAME, &seed[..]))
    }

    /// A named user's login after another process (or host) changed
    /// principals: ends it when its row is gone, locked, or holds another
    /// secret (a PIN reset) than the one it opened. Called by `refresh`
    /// when the store changed; reads the row only when the authorization
    /// revision moved.
    pub(super) fn check_named_login_current(&self) -> Result<()> {
        let Some(who) = self.named_user() else { return self.check_default_grants_current() };
        let now = self.store.auth_revision()?;
        if now == who.auth_rev {
            return Ok(());
        }
        let row = self.store.principal(&who.name)?;
        let current = row.as_ref().is_some_and(|r| r.id == who.id && !r.locked && r.secret == who.sealed);
        if !current {
            log::warn!(
                "token {}: the login of user {} ended: the user was locked, removed or given a new PIN",
                self.slot,
                who.name
            );
            return self.clear_login();
        }
        {
            let mut l = self.login.write().map_err(lock_err)?;
            if let Some(p) = l.principal.as_mut().filter(|p| p.id == who.id) {
                p.auth_rev = p.auth_rev.max(now);
            }
        }
        // A grant given or revoked meanwhile (`grants.rs`).
        self.reload_grants()
    }
}
