//! Named principals and per-key grants (issue 17; `docs/named-users.md`
//! §2): the rows the store keeps for them, what a backend implements for
//! them ([`AuthTx`] inside a write transaction, [`AuthRead`] outside one),
//! and the [`Store`] / [`Tx`] calls the token layer uses.
//!
//! The store keeps bytes. Principal records and their signatures, the
//! sealed principal secrets and the wrapped data keys of grants are made
//! and checked by the token layer; nothing here reads them.
//!
//! What a backend must guarantee, beyond the module doc of `store`:
//! - **Ids.** Principal 0 is the SO, 1 the default user (rows written with
//!   those ids when the token layer makes them); every other principal
//!   gets an id >= 2 from the store, never reused, not even after
//!   `C_InitToken` (which deletes every principal and grant).
//! - **Names** are unique: a second principal of the same name is an
//!   error, and nothing is written.
//! - **Grants** are keyed by (key id, principal), at most one per pair;
//!   deleting a principal deletes its grants in the same transaction.
//! - **Revisions.** Every write of a principal or a grant stamps the
//!   transaction's revision (as a token-row write does) and sets the
//!   token's authorization revision ([`AuthRead::auth_revision`]) to it: a
//!   process that sees it move re-reads its principal and grants. A login's
//!   failure counter and TOTP step stamp the revision but leave the
//!   authorization revision where it was (they change nobody's access).

use super::{Store, Tx};
use crate::error::Result;

/// The SO's principal id.
pub const PRINCIPAL_SO: i64 = 0;
/// The default user's principal id (the single user of a token that never
/// had named users).
pub const PRINCIPAL_DEFAULT: i64 = 1;

/// The salt and PBKDF2 iteration count a principal's PIN key is derived
/// with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinSalt {
    pub salt: Vec<u8>,
    pub iterations: u32,
}

impl PinSalt {
    /// The `pin_salt` and `pin_iter` columns of `pin` (both NULL: none).
    pub(super) fn columns(pin: &Option<PinSalt>) -> (Option<&[u8]>, Option<i64>) {
        match pin {
            Some(s) => (Some(&s.salt[..]), Some(i64::from(s.iterations))),
            None => (None, None),
        }
    }
}

/// One principal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrincipalRow {
    /// 0: the SO, 1: the default user, >= 2: a named user (assigned by
    /// [`AuthTx::insert_principal`]).
    pub id: i64,
    pub name: String,
    /// Role bits (key user, key administrator, auditor).
    pub roles: u32,
    /// The signed principal record and its signature.
    pub record: Vec<u8>,
    pub record_sig: Vec<u8>,
    /// How the PIN key of a named user is derived (`None` for the SO and
    /// the default user, whose PIN keys come from the token row).
    pub pin: Option<PinSalt>,
    /// The principal's secret, sealed by the token layer.
    pub secret: Vec<u8>,
    pub locked: bool,
    /// Failed logins since the last success.
    pub failures: u32,
    /// The last TOTP time step a login used (a code is accepted once).
    pub totp_last_step: u64,
}

/// One grant: what `principal` may do with the key `key_id`, and the key's
/// data key wrapped for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantRow {
    pub key_id: Vec<u8>,
    pub principal: i64,
    /// Operation bits.
    pub ops: u32,
    /// The key's data key wrapped for `principal`.
    pub wrap: Vec<u8>,
    /// Who made the grant, and its signature.
    pub granter: i64,
    pub sig: Vec<u8>,
}

/// The principal and grant statements of a write transaction (see the
/// module doc for the contract).
pub trait AuthTx {
    /// Every principal as this transaction sees it, ordered by id.
    fn principals(&self) -> Result<Vec<PrincipalRow>>;
    /// The principal named `name`.
    fn principal(&self, name: &str) -> Result<Option<PrincipalRow>>;
    /// Inserts `p` (its `failures` and `totp_last_step` start at 0); its id
    /// is `p.id` when that is [`PRINCIPAL_SO`] or [`PRINCIPAL_DEFAULT`],
    /// else one the store assigns (>= 2). Returns the id. A name or a
    /// reserved id already present: an error.
    fn insert_principal(&self, p: &PrincipalRow) -> Result<i64>;
    /// Replaces the name, roles, record and signature, PIN salt, secret and
    /// lock flag of principal `p.id` (not its counters); an error when
    /// there is none.
    fn update_principal(&self, p: &PrincipalRow) -> Result<()>;
    /// Deletes principal `id` and its grants; an error when there is none.
    fn delete_principal(&self, id: i64) -> Result<()>;
    /// Counts a failed login of principal `id`; returns the new count.
    fn principal_failed(&self, id: i64) -> Result<u32>;
    /// A successful login of principal `id`: zeroes its failures and raises
    /// its last TOTP step to `totp_step` (never lowers it).
    fn principal_ok(&self, id: i64, totp_step: u64) -> Result<()>;
    /// Every grant, ordered by key id and principal.
    fn grants(&self) -> Result<Vec<GrantRow>>;
    /// The grants of principal `principal`, ordered by key id.
    fn grants_of(&self, principal: i64) -> Result<Vec<GrantRow>>;
    /// The grants on key `key_id`, ordered by principal.
    fn grants_on(&self, key_id: &[u8]) -> Result<Vec<GrantRow>>;
    /// Inserts or replaces the grant of (`g.key_id`, `g.principal`); the
    /// principal must exist.
    fn put_grant(&self, g: &GrantRow) -> Result<()>;
    /// Deletes the grant of (`key_id`, `principal`); returns whether there
    /// was one.
    fn delete_grant(&self, key_id: &[u8], principal: i64) -> Result<bool>;
    /// Writes `p` with its own id and counters (the target of a
    /// migration); later assigned ids stay above it.
    fn import_principal(&self, p: &PrincipalRow) -> Result<()>;
}

/// The principal and grant reads outside a write transaction.
pub trait AuthRead {
    /// The principal named `name`, as the last commit left it.
    fn principal(&self, name: &str) -> Result<Option<PrincipalRow>>;
    /// The grants of principal `principal`, ordered by key id.
    fn grants_of(&self, principal: i64) -> Result<Vec<GrantRow>>;
    /// The revision of the last write of a principal or a grant (0: none).
    fn auth_revision(&self) -> Result<u64>;
}

impl Store {
    /// The principal named `name`.
    pub fn principal(&self, name: &str) -> Result<Option<PrincipalRow>> {
        self.guard()?;
        self.backend.principal(name)
    }

    /// The grants of principal `principal`.
    pub fn grants_of(&self, principal: i64) -> Result<Vec<GrantRow>> {
        self.guard()?;
        self.backend.grants_of(principal)
    }

    /// See [`AuthRead::auth_revision`].
    pub fn auth_revision(&self) -> Result<u64> {
        self.guard()?;
        self.backend.auth_revision()
    }
}

impl Tx<'_> {
    /// See [`AuthTx::principals`].
    pub fn principals(&self) -> Result<Vec<PrincipalRow>> {
        self.inner.principals()
    }

    /// See [`AuthTx::principal`].
    pub fn principal(&self, name: &str) -> Result<Option<PrincipalRow>> {
        self.inner.principal(name)
    }

    /// See [`AuthTx::insert_principal`].
    pub fn insert_principal(&self, p: &PrincipalRow) -> Result<i64> {
        self.inner.insert_principal(p)
    }

    /// See [`AuthTx::update_principal`].
    pub fn update_principal(&self, p: &PrincipalRow) -> Result<()> {
        self.inner.update_principal(p)
    }

    /// See [`AuthTx::delete_principal`].
    pub fn delete_principal(&self, id: i64) -> Result<()> {
        self.inner.delete_principal(id)
    }

    /// See [`AuthTx::principal_failed`].
    pub fn principal_failed(&self, id: i64) -> Result<u32> {
        self.inner.principal_failed(id)
    }

    /// See [`AuthTx::principal_ok`].
    pub fn principal_ok(&self, id: i64, totp_step: u64) -> Result<()> {
        self.inner.principal_ok(id, totp_step)
    }

    /// See [`AuthTx::grants`].
    pub fn grants(&self) -> Result<Vec<GrantRow>> {
        self.inner.grants()
    }

    /// See [`AuthTx::grants_of`].
    pub fn grants_of(&self, principal: i64) -> Result<Vec<GrantRow>> {
        self.inner.grants_of(principal)
    }

    /// See [`AuthTx::grants_on`].
    pub fn grants_on(&self, key_id: &[u8]) -> Result<Vec<GrantRow>> {
        self.inner.grants_on(key_id)
    }

    /// See [`AuthTx::put_grant`].
    pub fn put_grant(&self, g: &GrantRow) -> Result<()> {
        self.inner.put_grant(g)
    }

    /// See [`AuthTx::delete_grant`].
    pub fn delete_grant(&self, key_id: &[u8], principal: i64) -> Result<bool> {
        self.inner.delete_grant(key_id, principal)
    }
}

/// For backends: the error of a principal id that names nobody.
pub(super) fn no_principal(id: i64) -> crate::error::Error {
    crate::error::Error::new(crate::ck::CKR_FUNCTION_FAILED, format!("no principal with id {id}"))
}
