//! Persistence behind one seam: the [`Store`] the token and KMS layers talk
//! to, the [`Backend`] / [`TxBackend`] traits a database implements, and the
//! types they exchange. Two backends: SQLite (`sqlite`, one file per
//! token, `<dir>/token.sqlite`, the default) and PostgreSQL (`postgres`, one
//! schema per token, shared by many hosts). `migrate` copies a token from
//! one store into another.
//! The store keeps bytes and knows nothing of sessions or PKCS#11 policy
//! (which attributes are secret, who may log in). `seal` holds the at-rest
//! cryptography, `codec` the attribute-blob format, `kek` the external
//! key-encryption key.
//!
//! What lives here, whatever the backend: [`Store`] and [`Tx`] (what callers
//! use; they forward to the backend), the object-id range check, the MAC
//! call of an insert, the PIN-attempt reservation rule and the guard against
//! calling back into a store from inside its own transaction.
//!
//! # What a backend must guarantee
//!
//! - **One transaction per write.** [`Backend::write`] runs its closure once,
//!   inside one transaction, and commits everything it did when it returns
//!   `Ok`, nothing when it returns `Err` or panics (the backend must stay
//!   usable after an unwind). A crash leaves the previous or the next state,
//!   never a torn one. Every public write of [`Store`] is one such
//!   transaction.
//! - **Serialized writers, reads under the write lock.** The write lock (on
//!   the token) is taken when the transaction begins, before its first read
//!   (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: a lock taken as the first
//!   statement), and held until commit, so every read of a [`TxBackend`]
//!   sees the latest committed state and nothing changes under it. The KMS
//!   and the token layer rely on this: rotation, purge, the binding of
//!   schema-1 rows and PIN lockout counting re-read their rows with
//!   [`Tx::objects`] / [`Tx::meta_get`] inside the transaction and decide on
//!   them, so two processes (or hosts) never both act on the same state.
//!   Contention waits (bounded) instead of failing; the closure is never run
//!   twice, so a backend cannot retry on a serialization failure: it must
//!   prevent one by locking up front.
//! - **Revisions.** A token-wide revision counter starts at 0. The first
//!   write of an object or of the token row in a transaction bumps it by
//!   exactly one and every row that transaction writes is stamped with the
//!   new value (a transaction that writes nothing of them leaves it). Meta
//!   writes are not stamped: meta is read directly, never through
//!   `changes_since`, so an audit anchor moved by one host makes no other
//!   host re-read its objects. Because writers are serialized, revisions
//!   grow in commit order: a reader that has seen revision `r` has seen
//!   every commit up to `r`. [`Backend::write`] returns the revision its
//!   transaction started from and the one it stamped ([`Written`]), and
//!   [`TxBackend::base_revision`] gives the first inside it: a cache that
//!   held every row at `base` and applies the transaction's own changes
//!   holds every row at `stamped`, and a transaction whose base is the
//!   revision of such a cache may read just the rows the cache names
//!   ([`TxBackend::object`]) instead of them all.
//! - **Tombstones.** A deleted object (one by one or by
//!   [`TxBackend::init_token`]) leaves a tombstone `(id, revision)`, so a
//!   reader that is behind learns that it is gone.
//! - **changes_since.** [`Backend::changes_since`]`(r)` returns, from one
//!   consistent snapshot, the current revision, every object stamped after
//!   `r` and every tombstone stamped after `r`; [`Backend::load_all`] every
//!   object and the revision. `Ok(None)` is allowed only when nothing was
//!   committed by another connection since this one last read and `r` is not
//!   older than the revision it returned then (a cheap fast path; always
//!   answering `Some` is correct, only slower). The token layer calls it on
//!   lookups throttled by `store.refresh_ms`, so the fast path should not
//!   read tables.
//! - **Object ids** are the PKCS#11 handles of token objects: assigned by
//!   the backend on insert, >= 1, never reused (not even after
//!   `C_InitToken`), and below 2^31 (session objects start there);
//!   [`Tx::insert_object`] refuses an id out of range.
//! - **Integrity MAC.** Every object row has a `mac` column (`None` for a
//!   schema-1 row not bound yet). An insert stores the caller's MAC of the
//!   assigned id in the same transaction ([`RowMac`]; SQLite sets it after
//!   the INSERT that assigns the id, PostgreSQL knows the id beforehand and
//!   writes it with the row); [`TxBackend::set_mac`] replaces one and
//!   stamps the row so other processes re-read it. The backend stores and
//!   returns MACs; callers check them.
//! - **Lookup columns** (`index`): every write of an object row derives
//!   them from its public blob ([`index::IndexKeys::of_public`]), so they
//!   never disagree with a row the backend wrote; [`Backend::lookup`] and
//!   [`TxBackend::lookup`] answer by them without reading every row (an
//!   index per column), [`Backend::object`] reads one row,
//!   [`Backend::objects_after`] pages through all of them and
//!   [`Backend::census`] counts them: what a token too large to hold
//!   resident uses instead of `load_all`. They are not under the row MAC:
//!   callers check every row they load.
//! - **The token row and PIN counters**: one row (label, serial, a
//!   [`WrappedKey`] per role, a failure counter per role), absent until
//!   `C_InitToken`; counter updates are atomic in the write transaction.
//!   Operations on a missing row fail with `CKR_TOKEN_NOT_RECOGNIZED`;
//!   updates of a missing object with `CKR_OBJECT_HANDLE_INVALID`.
//! - **Meta**: a token-wide key/value table of bytes, written transactionally
//!   like objects.
//! - **Durability**: a commit that returned survives a process kill; with
//!   the default settings also a power loss (SQLite: WAL with
//!   `synchronous=FULL`). Files and directories the backend creates are
//!   private to the owner (0700 / 0600), and deleted content is overwritten
//!   where the database allows it.
//! - **Several processes** (and, with a server database, several hosts) may
//!   open the same token at once; each [`Store`] is `Send + Sync` and may be
//!   shared between threads.
//! - **Schema**: a backend migrates its schema forward in one transaction on
//!   open (concurrent openers are safe) and refuses a schema newer than it
//!   knows with `CKR_DEVICE_ERROR`.

pub mod codec;
pub mod index;
pub mod kek;
pub mod migrate;
mod postgres;
pub mod principals;
mod role_sql;
pub mod seal;
mod sqlite;
pub mod wrap;

pub use postgres::{PgOptions, valid_schema};
pub use principals::{AuthRead, AuthTx, GrantRow, PinSalt, PrincipalRow};
pub use sqlite::DB_FILE;

/// Creates a private (0700) directory, as the SQLite store does for its own.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    sqlite::schema::create_private_dir(dir)
}

use crate::ck::*;
use crate::error::{Error, Result};
use std::cell::Cell;
use std::fmt;
use std::path::Path;

/// Token object ids are PKCS#11 handles; session objects start at 2^31.
const MAX_OBJECT_ID: i64 = 0x7FFF_FFFF;

/// A new object's id fits a handle.
fn check_new_id(id: i64) -> Result<()> {
    if (1..=MAX_OBJECT_ID).contains(&id) {
        Ok(())
    } else {
        Err(Error::new(CKR_DEVICE_MEMORY, "token object handles exhausted"))
    }
}

/// Meta key present once every row of the store carries a MAC: from then
/// on a row without one is refused. Written by the caller (the token layer
/// binds schema-1 rows at the first login that has the master key).
pub const META_ROWS_BOUND: &str = "rows.bound";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    So,
    User,
}

/// A master key wrapped under a PIN-derived key, with what derives that key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedKey {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub blob: Vec<u8>,
}

/// The token's single row.
#[derive(Clone, Debug)]
pub struct TokenRow {
    pub label: String,
    pub serial: String,
    pub so: Option<WrappedKey>,
    pub user: Option<WrappedKey>,
    pub so_failures: u32,
    pub user_failures: u32,
}

/// One token object: public attributes and sealed secrets, both
/// [`codec`]-encoded by the caller, and the MAC that binds them to the id
/// and uid (`None`: a row from schema 1 not bound yet).
#[derive(Clone, Debug)]
pub struct ObjectRow {
    pub id: i64,
    pub uid: String,
    pub public: Vec<u8>,
    pub sealed: Vec<u8>,
    pub mac: Option<Vec<u8>>,
}

/// Computes the MAC of a row being inserted, once its id is known.
pub type RowMac<'a> = dyn Fn(i64) -> Result<Vec<u8>> + 'a;

/// Objects written and ids deleted after some revision, and the revision
/// they bring the reader to.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    pub rev: u64,
    pub upserts: Vec<ObjectRow>,
    pub deletes: Vec<i64>,
}

/// What one committed write transaction did to the revision counter: the
/// revision it started from (the last commit before its write lock) and
/// the one its writes stamped (`None`: it wrote nothing). A reader that
/// had seen exactly `base` and applies this transaction's own changes has
/// seen `stamped`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub base: u64,
    pub stamped: Option<u64>,
}

/// The body of a write transaction, as [`Backend::write`] receives it.
pub type WriteFn<'a> = Box<dyn FnOnce(&dyn TxBackend) -> Result<()> + 'a>;

/// One open token database (a connection, or a pool of them). See the
/// module doc for what an implementation must guarantee.
pub trait Backend: Send + Sync + AuthRead {
    /// Runs `f` once inside one write transaction that holds the token's
    /// write lock from its start: commits when `f` returns `Ok`, rolls back
    /// (and returns `f`'s error) when it returns `Err`, rolls back when it
    /// panics.
    /// Returns the revision the transaction started from and the one its
    /// writes stamped.
    fn write(&self, f: WriteFn<'_>) -> Result<Written>;
    /// The token row; `None` until `C_InitToken`.
    fn token(&self) -> Result<Option<TokenRow>>;
    /// The failure counter of `role`; `None` when there is no token row.
    fn failures(&self, role: Role) -> Result<Option<u32>>;
    /// Every object and the current revision, from one snapshot.
    fn load_all(&self) -> Result<Changes>;
    /// The current revision and how many objects there are, counting at
    /// most `up_to` (the cost stays that of `up_to` rows), from one
    /// snapshot: how a token decides whether to hold every row resident.
    fn census(&self, up_to: u64) -> Result<(u64, u64)>;
    /// Object `id` as the last commit left it.
    fn object(&self, id: i64) -> Result<Option<ObjectRow>>;
    /// The ids `q` matches by the lookup columns (`index`), ascending.
    fn lookup(&self, q: index::Lookup<'_>) -> Result<Vec<i64>>;
    /// Up to `limit` objects with ids above `after`, ordered by id (a scan
    /// in pages, each page its own snapshot).
    fn objects_after(&self, after: i64, limit: usize) -> Result<Vec<ObjectRow>>;
    /// The earliest `due` of any row (`index::IndexKeys::due`).
    fn next_due(&self) -> Result<Option<i64>>;
    /// Objects and tombstones stamped after `rev`, or `None` (fast path)
    /// under the rule of the module doc.
    fn changes_since(&self, rev: u64) -> Result<Option<Changes>>;
    /// What `changes_since(rev)` returns when it reads (never the fast path).
    fn changes_after(&self, rev: u64) -> Result<Changes>;
    /// True when a signal this process already holds (no request to the
    /// database) shows that `changes_since(rev)` would find nothing; false
    /// when it cannot tell. Key lookups use it between their
    /// `store.refresh_ms` checks; searches and writes never do.
    fn unchanged_since(&self, _rev: u64) -> Result<bool> {
        Ok(false)
    }
    /// A meta value, outside any write transaction.
    fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// The database's own consistency check passes.
    fn integrity_check(&self) -> Result<bool>;
    /// Where the token lives (SQLite: the database file).
    fn path(&self) -> &Path;
    /// `store.durability = "normal"`: commits survive a process crash, not
    /// necessarily a power loss. A backend without the choice keeps "full".
    fn set_durability_normal(&self) -> Result<()>;
    /// `store.max_pages`: caps the database size in pages.
    fn set_max_pages(&self, pages: u64) -> Result<()>;
    /// Whether hosts other than this one may open the token (a server
    /// database): per-host state (the audit anchor) is then kept per host.
    fn shared_by_hosts(&self) -> bool {
        false
    }
}

/// The reads and writes of one write transaction of a [`Backend`]. The
/// first write of an object or of the token row bumps the revision; every
/// such write of the transaction stamps that one (meta writes do not).
/// Principals and grants: [`AuthTx`].
pub trait TxBackend: AuthTx {
    /// Every object as this transaction sees it, ordered by id.
    fn objects(&self) -> Result<Vec<ObjectRow>>;
    /// Object `id` as this transaction sees it (`None`: there is none).
    fn object(&self, id: i64) -> Result<Option<ObjectRow>>;
    /// The ids `q` matches as this transaction sees them, ascending.
    fn lookup(&self, q: index::Lookup<'_>) -> Result<Vec<i64>>;
    /// The revision of the last commit before this transaction took the
    /// write lock (whatever this transaction wrote since).
    fn base_revision(&self) -> Result<u64>;
    /// Makes the transaction fail with [`stale`] unless its
    /// [`Self::base_revision`] is `rev`: at once when the backend knows it,
    /// else at the latest at the commit (PostgreSQL: checked by the server
    /// after the write lock). Called before the transaction's first write.
    fn expect_base(&self, rev: u64) -> Result<()> {
        if self.base_revision()? != rev {
            return Err(stale());
        }
        Ok(())
    }
    /// Inserts an object with the MAC `mac` gives for its new id (checked
    /// by [`check_new_id`]); returns the id. Duplicate uid: an error.
    fn insert_object(&self, uid: &str, public: &[u8], sealed: &[u8], mac: &RowMac<'_>) -> Result<i64>;
    /// Replaces an object's blobs and MAC; `CKR_OBJECT_HANDLE_INVALID` if it
    /// is gone.
    fn update_object(&self, id: i64, public: &[u8], sealed: &[u8], mac: &[u8]) -> Result<()>;
    /// Sets the MAC of object `id` and stamps it; `CKR_OBJECT_HANDLE_INVALID`
    /// if it is gone.
    fn set_mac(&self, id: i64, mac: &[u8]) -> Result<()>;
    /// Deletes an object, leaving a tombstone; `CKR_OBJECT_HANDLE_INVALID`
    /// if it is gone.
    fn delete_object(&self, id: i64) -> Result<()>;
    fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Inserts or replaces a meta value (not stamped).
    fn meta_set(&self, key: &str, value: &[u8]) -> Result<()>;
    /// Deletes every object (each leaving a tombstone), every principal and
    /// grant, and writes the token row: label, serial, SO key, no user key,
    /// both counters 0.
    fn init_token(&self, label: &str, serial: &str, so: &WrappedKey) -> Result<()>;
    /// Sets (or clears) the wrapped key of `role` and zeroes its counter.
    fn set_pin(&self, role: Role, wrapped: Option<&WrappedKey>) -> Result<()>;
    /// Replaces the wrapped key of `role` by `new` if it is exactly `old`,
    /// keeping the counter; returns whether it did. Stamps either way.
    fn replace_wrapped(&self, role: Role, old: &WrappedKey, new: &WrappedKey) -> Result<bool>;
    /// The failure counter of `role`; `None` when there is no token row.
    fn failures(&self, role: Role) -> Result<Option<u32>>;
    /// Adds one to the failure counter of `role`; returns the new count.
    fn pin_failed(&self, role: Role) -> Result<u32>;
    /// Zeroes the failure counter of `role` (stamps even if it was 0).
    fn pin_ok(&self, role: Role) -> Result<()>;

    // ---- moving a token between backends (`migrate`) ----
    /// The token row; `None` until `C_InitToken`.
    fn token(&self) -> Result<Option<TokenRow>>;
    /// Every meta key and value, ordered by key.
    fn meta_all(&self) -> Result<Vec<(String, Vec<u8>)>>;
    /// The highest object id ever assigned (0: none); new ids are above it.
    fn id_floor(&self) -> Result<i64>;
    /// Writes `row` with its own id and MAC (the target of a migration).
    fn import_object(&self, _row: &ObjectRow) -> Result<()> {
        Err(Error::new(CKR_FUNCTION_NOT_SUPPORTED, "this store cannot be a migration target"))
    }
    /// Writes the token row as it is, counters included.
    fn import_token(&self, _row: &TokenRow) -> Result<()> {
        Err(Error::new(CKR_FUNCTION_NOT_SUPPORTED, "this store cannot be a migration target"))
    }
    /// Makes every id up to `floor` count as used.
    fn raise_id_floor(&self, _floor: i64) -> Result<()> {
        Err(Error::new(CKR_FUNCTION_NOT_SUPPORTED, "this store cannot be a migration target"))
    }
}

/// One token's database, opened by one process. Several `Store`s (in this
/// or other processes) may open the same token at once.
pub struct Store {
    backend: Box<dyn Backend>,
    /// Set by every write whose [`Written`] went to no caller (PIN
    /// counters, meta): a reader that tracks revisions must re-read once.
    unreported: std::sync::atomic::AtomicBool,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.backend.path()).finish_non_exhaustive()
    }
}

thread_local! {
    /// The store whose `transaction` closure runs on this thread (its
    /// address), so a call back into it fails instead of deadlocking.
    static IN_TRANSACTION: Cell<usize> = const { Cell::new(0) };
}

struct TransactionMark(usize);

impl TransactionMark {
    fn enter(store: &Store) -> TransactionMark {
        TransactionMark(IN_TRANSACTION.with(|c| c.replace(store as *const Store as usize)))
    }
}

impl Drop for TransactionMark {
    fn drop(&mut self) {
        IN_TRANSACTION.with(|c| c.set(self.0));
    }
}

/// For backends: the error of a store whose content makes no sense.
fn corrupt(what: &str) -> Error {
    Error::device(format!("token store is corrupt: {what}"))
}

/// For backends: a token-row operation before `C_InitToken`.
fn not_initialized() -> Error {
    Error::new(CKR_TOKEN_NOT_RECOGNIZED, "token not initialized")
}

/// For backends: an object that is not (or no longer) there.
fn handle_invalid(id: i64) -> Error {
    Error::new(CKR_OBJECT_HANDLE_INVALID, format!("no token object with id {id}"))
}

const STALE: &str = "token store: another commit came before the write lock (Store::transaction_at)";

/// For backends: the transaction's base is not the revision it expects
/// ([`TxBackend::expect_base`]); [`Store::transaction_at`] answers `None`.
fn stale() -> Error {
    Error::general(STALE)
}

fn is_stale(e: &Error) -> bool {
    e.rv() == CKR_GENERAL_ERROR && e.reason() == STALE
}

impl Store {
    /// Opens (creating) the SQLite token store `dir/token.sqlite` and brings
    /// its schema up to date.
    pub fn open(dir: &Path) -> Result<Store> {
        Ok(Store::from_backend(Box::new(sqlite::Sqlite::open(dir)?)))
    }

    /// Opens (creating) the token in PostgreSQL schema `options.schema` and
    /// brings its schema up to date.
    pub fn open_postgres(options: PgOptions) -> Result<Store> {
        Ok(Store::from_backend(Box::new(postgres::Postgres::open(options)?)))
    }

    /// A store over any [`Backend`].
    pub fn from_backend(backend: Box<dyn Backend>) -> Store {
        Store { backend, unreported: std::sync::atomic::AtomicBool::new(false) }
    }

    /// Whether this store made writes since the last call that no caller
    /// was told the revisions of (see [`Store::transaction_tracked`]);
    /// clears the flag.
    pub fn take_unreported_writes(&self) -> bool {
        self.unreported.swap(false, std::sync::atomic::Ordering::AcqRel)
    }

    /// Makes the next [`Store::take_unreported_writes`] answer true: a
    /// caller whose cache lost track of the revision asks for one re-read.
    pub fn request_reread(&self) {
        self.unreported.store(true, std::sync::atomic::Ordering::Release);
    }

    /// `store.durability = "normal"`: commits survive a process crash, not
    /// a power loss (SQLite: `synchronous=NORMAL` in WAL).
    pub fn set_durability_normal(&self) -> Result<()> {
        self.guard()?;
        self.backend.set_durability_normal()
    }

    /// `store.max_pages`: caps the database size (SQLite `max_page_count`).
    pub fn set_max_pages(&self, pages: u64) -> Result<()> {
        self.guard()?;
        self.backend.set_max_pages(pages)
    }

    /// Where the token lives (SQLite: the database file; PostgreSQL:
    /// `postgres:<url>#<schema>`).
    pub fn path(&self) -> &Path {
        self.backend.path()
    }

    /// Whether other hosts may open this token (PostgreSQL).
    pub fn shared_by_hosts(&self) -> bool {
        self.backend.shared_by_hosts()
    }

    /// Fails when called from inside this store's own [`Store::transaction`]
    /// (the backend holds its write lock there: waiting on it would hang).
    fn guard(&self) -> Result<()> {
        if IN_TRANSACTION.with(Cell::get) == self as *const Store as usize {
            return Err(Error::general("token store called again from inside Store::transaction"));
        }
        Ok(())
    }

    /// One write transaction; an `Err` from `f` rolls it back. Its
    /// revisions go to no caller (see [`Store::take_unreported_writes`]).
    fn write<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let (out, w) = self.write_tracked(f)?;
        if w.stamped.is_some() {
            self.unreported.store(true, std::sync::atomic::Ordering::Release);
        }
        Ok(out)
    }

    fn write_tracked<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<(T, Written)> {
        self.guard()?;
        let mut out = None;
        let w = self.backend.write(Box::new(|inner: &dyn TxBackend| {
            out = Some(f(&Tx { inner })?);
            Ok(())
        }))?;
        let out = out.ok_or_else(|| Error::general("token store backend did not run the transaction"))?;
        Ok((out, w))
    }

    /// The token row; `None` until `C_InitToken`.
    pub fn token(&self) -> Result<Option<TokenRow>> {
        self.guard()?;
        self.backend.token()
    }

    /// C_InitToken: in one transaction, deletes every object (each leaves a
    /// tombstone so other processes drop it), sets label, serial and SO key,
    /// clears the user key and zeroes both failure counters.
    pub fn init_token(&self, label: &str, serial: &str, so: &WrappedKey) -> Result<()> {
        self.write(|tx| tx.inner.init_token(label, serial, so))
    }

    /// Sets (or clears) the wrapped master key of `role` and resets its
    /// failure counter.
    pub fn set_pin(&self, role: Role, wrapped: Option<&WrappedKey>) -> Result<()> {
        self.write(|tx| tx.inner.set_pin(role, wrapped))
    }

    /// Replaces the wrapped master key of `role` by `new` if it is still
    /// `old` (a re-wrap of the same master key: the failure counter stays).
    /// Returns whether it was replaced.
    pub fn replace_wrapped(&self, role: Role, old: &WrappedKey, new: &WrappedKey) -> Result<bool> {
        self.write(|tx| tx.inner.replace_wrapped(role, old, new))
    }

    /// Counts a failed login of `role`; returns the new count.
    pub fn pin_failed(&self, role: Role) -> Result<u32> {
        self.write(|tx| tx.inner.pin_failed(role))
    }

    /// Reserves one login attempt of `role` before its PIN is checked: in
    /// one write transaction, counts it as a failure unless the counter has
    /// reached `max`. `Ok(n)`: reserved, `n` failures counted with this one
    /// (a success resets the counter with [`Store::pin_ok`]); `Err(n)`: the
    /// PIN is locked after `n` failures and nothing was counted.
    pub fn reserve_pin_attempt(&self, role: Role, max: u32) -> Result<std::result::Result<u32, u32>> {
        self.write(|tx| {
            let now = tx.inner.failures(role)?.ok_or_else(not_initialized)?;
            if now >= max {
                return Ok(Err(now));
            }
            tx.inner.pin_failed(role).map(Ok)
        })
    }

    /// Resets the failure counter of `role` (no write when it is already 0).
    pub fn pin_ok(&self, role: Role) -> Result<()> {
        self.guard()?;
        if self.backend.failures(role)?.unwrap_or(0) == 0 {
            return Ok(());
        }
        self.write(|tx| tx.inner.pin_ok(role))
    }

    /// Stores a new object; returns its id (its PKCS#11 handle), >= 1 and
    /// < 2^31, never reused. `mac` computes the row's MAC from that id in
    /// the same transaction (an `Err` from it writes nothing).
    pub fn insert_object(&self, uid: &str, public: &[u8], sealed: &[u8], mac: &RowMac<'_>) -> Result<i64> {
        self.write(|tx| tx.insert_object(uid, public, sealed, mac))
    }

    /// Replaces an object's blobs and MAC; `CKR_OBJECT_HANDLE_INVALID` if it
    /// is gone.
    pub fn update_object(&self, id: i64, public: &[u8], sealed: &[u8], mac: &[u8]) -> Result<()> {
        self.write(|tx| tx.update_object(id, public, sealed, mac))
    }

    /// Deletes an object, leaving a tombstone; `CKR_OBJECT_HANDLE_INVALID`
    /// if it is gone.
    pub fn delete_object(&self, id: i64) -> Result<()> {
        self.write(|tx| tx.delete_object(id))
    }

    /// Every object and the current revision.
    pub fn load_all(&self) -> Result<Changes> {
        self.guard()?;
        self.backend.load_all()
    }

    /// See [`Backend::census`].
    pub fn census(&self, up_to: u64) -> Result<(u64, u64)> {
        self.guard()?;
        self.backend.census(up_to)
    }

    /// See [`Backend::object`].
    pub fn object(&self, id: i64) -> Result<Option<ObjectRow>> {
        self.guard()?;
        self.backend.object(id)
    }

    /// See [`Backend::lookup`].
    pub fn lookup(&self, q: index::Lookup<'_>) -> Result<Vec<i64>> {
        self.guard()?;
        self.backend.lookup(q)
    }

    /// See [`Backend::objects_after`].
    pub fn objects_after(&self, after: i64, limit: usize) -> Result<Vec<ObjectRow>> {
        self.guard()?;
        self.backend.objects_after(after, limit)
    }

    /// See [`Backend::next_due`].
    pub fn next_due(&self) -> Result<Option<i64>> {
        self.guard()?;
        self.backend.next_due()
    }

    /// What other connections committed after `rev`: objects stamped later
    /// and tombstones stamped later (the answer also carries this
    /// connection's own later writes, which the caller already applied).
    ///
    /// Fast path: `Ok(None)` when no other connection committed since this
    /// one last read and `rev` is not older than the revision returned then
    /// (a caller that passes an older `rev` gets a full answer). On SQLite
    /// that is one cached `PRAGMA data_version` (about a microsecond, no
    /// table read).
    pub fn changes_since(&self, rev: u64) -> Result<Option<Changes>> {
        self.guard()?;
        self.backend.changes_since(rev)
    }

    /// See [`Backend::unchanged_since`] (PostgreSQL: the other sessions'
    /// notifications received so far). False while this process has
    /// writes it has not reported to the cache.
    pub fn unchanged_since(&self, rev: u64) -> Result<bool> {
        self.guard()?;
        if self.unreported.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(false);
        }
        self.backend.unchanged_since(rev)
    }

    /// [`Store::changes_since`] without the fast path: always reads.
    pub fn changes_after(&self, rev: u64) -> Result<Changes> {
        self.guard()?;
        self.backend.changes_after(rev)
    }

    /// A token-wide value (settings, secrets sealed by the caller).
    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.guard()?;
        self.backend.meta_get(key)
    }

    pub fn meta_set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.write(|tx| tx.meta_set(key, value))
    }

    /// Runs `f` inside one write transaction: its writes commit together
    /// (sharing one revision) when it returns `Ok`, and none of them happen
    /// when it returns `Err`. `f` must not call back into this `Store` (that
    /// fails with `CKR_GENERAL_ERROR`); it uses the `Tx` it is given.
    pub fn transaction<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        self.write(|tx| {
            let _mark = TransactionMark::enter(self);
            f(tx)
        })
    }

    /// [`Store::transaction`], also returning what it did to the revision
    /// counter: the caller that applies the transaction's changes to a
    /// cache learns the revision the cache then stands at.
    pub fn transaction_tracked<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<(T, Written)> {
        self.write_tracked(|tx| {
            let _mark = TransactionMark::enter(self);
            f(tx)
        })
    }

    /// [`Store::transaction_tracked`] that commits only when no commit came
    /// after revision `rev` before its write lock: `None` (nothing written)
    /// when one did. Lets a caller whose cache stands at `rev` act on the
    /// cache without reading its rows again in the transaction.
    pub fn transaction_at<T>(&self, rev: u64, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<Option<(T, Written)>> {
        let r = self.transaction_tracked(|tx| {
            tx.inner.expect_base(rev)?;
            f(tx)
        });
        match r {
            Ok(v) => Ok(Some(v)),
            Err(e) if is_stale(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The database's consistency check (SQLite `PRAGMA integrity_check`)
    /// reports "ok".
    pub fn integrity_check(&self) -> Result<bool> {
        self.guard()?;
        self.backend.integrity_check()
    }
}

/// The writes of one transaction (see [`Store::transaction`]). The first
/// write bumps the revision; every write of the transaction stamps that one.
pub struct Tx<'a> {
    inner: &'a dyn TxBackend,
}

impl Tx<'_> {
    /// See [`Store::insert_object`].
    pub fn insert_object(&self, uid: &str, public: &[u8], sealed: &[u8], mac: &RowMac<'_>) -> Result<i64> {
        self.inner.insert_object(uid, public, sealed, mac)
    }

    /// See [`Store::update_object`].
    pub fn update_object(&self, id: i64, public: &[u8], sealed: &[u8], mac: &[u8]) -> Result<()> {
        self.inner.update_object(id, public, sealed, mac)
    }

    /// Sets the MAC of row `id` (also how a schema-1 row is bound); the
    /// row's revision moves so other processes re-read it.
    pub fn set_mac(&self, id: i64, mac: &[u8]) -> Result<()> {
        self.inner.set_mac(id, mac)
    }

    /// See [`Store::delete_object`].
    pub fn delete_object(&self, id: i64) -> Result<()> {
        self.inner.delete_object(id)
    }

    /// Every meta key and value, ordered by key.
    pub fn meta_all(&self) -> Result<Vec<(String, Vec<u8>)>> {
        self.inner.meta_all()
    }

    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.inner.meta_get(key)
    }

    /// Every object as this transaction sees it. Added for the kms layer
    /// (src/kms): rotation and purge decide on rows read under the write
    /// lock, so two processes never both act on the same state.
    pub fn objects(&self) -> Result<Vec<ObjectRow>> {
        self.inner.objects()
    }

    /// Object `id` as this transaction sees it (the lifecycle acts read the
    /// rows their cache names one by one when the cache is current).
    pub fn object(&self, id: i64) -> Result<Option<ObjectRow>> {
        self.inner.object(id)
    }

    /// See [`TxBackend::lookup`].
    pub fn lookup(&self, q: index::Lookup<'_>) -> Result<Vec<i64>> {
        self.inner.lookup(q)
    }

    /// See [`TxBackend::base_revision`].
    pub fn base_revision(&self) -> Result<u64> {
        self.inner.base_revision()
    }

    pub fn meta_set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.inner.meta_set(key, value)
    }

    /// See [`Store::set_pin`] (here inside a larger transaction).
    pub fn set_pin(&self, role: Role, wrapped: Option<&WrappedKey>) -> Result<()> {
        self.inner.set_pin(role, wrapped)
    }
}

#[cfg(test)]
mod tests;
