//! The token's random numbers: AWS-LC's DRBG, plus what C_SeedRandom gives.
//!
//! A seed never replaces the engine's entropy (AWS-LC seeds and reseeds its
//! per-thread CTR-DRBGs from the OS on its own). It is condensed into a
//! process-wide 32-byte pool, `SHA-256(tag || pool || len || seed)`, so
//! every seed since the process started counts, and the pool becomes
//! SP 800-90A additional input:
//! - of one draw made at once on the seeding thread, which folds it into
//!   that thread's DRBG state (AWS-LC's own draws on that thread, key
//!   generation included, continue from that state);
//! - of every later [`random_fill`] in the process, on any thread
//!   (C_GenerateRandom, IVs, salts, master keys, key ids).
//!
//! Draws made inside AWS-LC on other threads (e.g. RSA and EC key
//! generation) do not see the pool. `RAND_seed`/`RAND_add` are not used:
//! in AWS-LC they ignore their input.

use super::ffi::{ADDITIONAL_INPUT_LEN, random_with_additional_input};
use super::{CryptoError, CryptoResult};
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use zeroize::Zeroizing;

/// Set once the first seed arrived (draws before that skip the pool's lock).
static SEEDED: AtomicBool = AtomicBool::new(false);
static POOL: RwLock<[u8; ADDITIONAL_INPUT_LEN]> = RwLock::new([0; ADDITIONAL_INPUT_LEN]);

const TAG: &[u8] = b"keyward C_SeedRandom pool v1\0";

/// Fills `out` from the engine's DRBG, with the seed pool as additional
/// input once C_SeedRandom has been called.
pub fn random_fill(out: &mut [u8]) -> CryptoResult<()> {
    if !SEEDED.load(Ordering::Acquire) {
        return aws_lc_rs::rand::fill(out).map_err(|_| CryptoError::Internal);
    }
    let input = Zeroizing::new(*POOL.read().map_err(|_| CryptoError::Internal)?);
    random_with_additional_input(out, &input).map_err(|_| CryptoError::Internal)
}

/// C_SeedRandom: mixes `seed` into the pool and, through one draw, into
/// this thread's DRBG state. An empty seed changes nothing.
pub fn seed_random(seed: &[u8]) -> CryptoResult<()> {
    if seed.is_empty() {
        return Ok(());
    }
    let next = {
        let mut pool = POOL.write().map_err(|_| CryptoError::Internal)?;
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(TAG);
        ctx.update(&pool[..]);
        ctx.update(&(seed.len() as u64).to_be_bytes());
        ctx.update(seed);
        pool.copy_from_slice(ctx.finish().as_ref());
        Zeroizing::new(*pool)
    };
    SEEDED.store(true, Ordering::Release);
    let mut sink = Zeroizing::new([0u8; 32]);
    random_with_additional_input(&mut sink[..], &next).map_err(|_| CryptoError::Internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> [u8; ADDITIONAL_INPUT_LEN] {
        *POOL.read().unwrap()
    }

    #[test]
    fn seeds_accumulate_and_draws_stay_random() {
        let mut a = [0u8; 48];
        let mut b = [0u8; 48];
        random_fill(&mut a).unwrap();
        let p0 = pool();
        seed_random(b"").unwrap();
        assert_eq!(pool(), p0, "an empty seed changes nothing");
        seed_random(b"the same seed").unwrap();
        let p1 = pool();
        assert_ne!(p1, p0);
        assert!(SEEDED.load(Ordering::Acquire));
        // The same seed again moves the pool on: every seed counts.
        seed_random(b"the same seed").unwrap();
        assert_ne!(pool(), p1);
        random_fill(&mut a).unwrap();
        random_fill(&mut b).unwrap();
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 48]);
        // A draw on another thread uses the pool too and still differs.
        let c = std::thread::spawn(|| {
            let mut c = [0u8; 48];
            random_fill(&mut c).unwrap();
            c
        })
        .join()
        .unwrap();
        assert!(c != a && c != b);
        let mut empty = [0u8; 0];
        random_fill(&mut empty).unwrap();
    }
}

/// Random bytes for public identifiers (object UIDs, CKA_KEYWARD_KEY_ID),
/// drawn from [`random_fill`] 4096 at a time (256 identifiers): a DRBG
/// call costs far more than 16 bytes of output (it mixes in fresh CPU
/// entropy on every call), and a session object is made per
/// C_EncapsulateKey or C_DeriveKey. These are public values, never secrets
/// nor key material; the pool is per thread, and refilled in a forked
/// child, so parent and child never hand out the same bytes.
///
/// A fork is noticed without a `getpid` system call per identifier once
/// the module's fork handler is registered ([`watch_forks`]): the child
/// handler bumps [`FORK_EPOCH`] ([`note_fork_in_child`]) and a pool filled
/// in another epoch is stale. Before that (no C_Initialize yet: the CLI,
/// unit tests) and for a pool filled before it, the process id decides.
struct IdPool {
    pid: u32,
    /// The fork epoch the pool is known to belong to (`None`: not checked
    /// under a registered fork handler yet).
    epoch: Option<u64>,
    used: usize,
    bytes: [u8; ID_POOL],
}
pub(crate) const ID_POOL: usize = 4096;

/// Set once the fork handler is registered; never unset (the handler
/// stays registered for the life of the process).
static FORK_WATCHED: AtomicBool = AtomicBool::new(false);
/// Bumped in the child of every fork made after [`watch_forks`].
static FORK_EPOCH: AtomicU64 = AtomicU64::new(0);

/// The process's fork handler is registered: from now on every fork calls
/// [`note_fork_in_child`] in the child.
pub fn watch_forks() {
    FORK_WATCHED.store(true, Ordering::SeqCst);
}

/// Called in a forked child (async-signal-safe: one atomic add).
pub fn note_fork_in_child() {
    FORK_EPOCH.fetch_add(1, Ordering::SeqCst);
}

thread_local! {
    // No destructor: nothing is registered with the host's thread exit.
    static ID_POOL_TLS: std::cell::RefCell<IdPool> =
        const { std::cell::RefCell::new(IdPool { pid: 0, epoch: None, used: ID_POOL, bytes: [0; ID_POOL] }) };
}

/// 16 fresh random bytes for a public identifier (see [`IdPool`]).
pub fn public_id() -> CryptoResult<[u8; 16]> {
    ID_POOL_TLS.with(|p| {
        let mut p = p.try_borrow_mut().map_err(|_| CryptoError::Internal)?;
        // Read before the process id: a fork after this read bumps the
        // epoch in the child, so the epoch noted below is never newer than
        // the process the pool was checked in.
        let watched = FORK_WATCHED.load(Ordering::SeqCst);
        let epoch = FORK_EPOCH.load(Ordering::SeqCst);
        let current = match p.epoch {
            Some(e) if watched => e == epoch,
            _ => p.pid == std::process::id(),
        };
        if !current || p.used + 16 > ID_POOL {
            random_fill(&mut p.bytes)?;
            p.pid = std::process::id();
            p.used = 0;
        }
        p.epoch = watched.then_some(epoch);
        let mut b = [0u8; 16];
        b.copy_from_slice(&p.bytes[p.used..p.used + 16]);
        p.used += 16;
        Ok(b)
    })
}

/// [`public_id`] as 32 lowercase hex digits (object UIDs, key ids).
pub fn public_id_hex() -> CryptoResult<[u8; 32]> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let b = public_id()?;
    let mut out = [0u8; 32];
    for (pair, byte) in out.chunks_exact_mut(2).zip(b) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 15)];
    }
    Ok(out)
}

#[cfg(test)]
mod pool_tests {
    use super::*;

    /// A pool checked in one fork epoch is stale in the next: a forked
    /// child (simulated: the epoch bump its handler makes) draws fresh
    /// bytes instead of the parent's remaining ones.
    #[test]
    fn a_new_fork_epoch_refills_the_pool() {
        watch_forks();
        let a = public_id().unwrap();
        let before = ID_POOL_TLS.with(|p| p.borrow().used);
        note_fork_in_child();
        let b = public_id().unwrap();
        assert_ne!(a, b);
        assert_eq!(ID_POOL_TLS.with(|p| p.borrow().used), 16, "the pool was not refilled (used {before} before)");
        let c = public_id().unwrap();
        assert_ne!(b, c);
        assert_eq!(ID_POOL_TLS.with(|p| p.borrow().used), 32);
    }

    #[test]
    fn hex_ids_are_the_hex_of_the_next_pool_bytes() {
        let next = ID_POOL_TLS.with(|p| {
            let p = p.borrow();
            (p.used + 16 <= ID_POOL).then(|| p.bytes[p.used..p.used + 16].to_vec())
        });
        let h = public_id_hex().unwrap();
        if let Some(next) = next {
            assert_eq!(std::str::from_utf8(&h).unwrap(), hex::encode(next));
        }
        assert!(h.iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c)));
    }
}
