//! One monotonic clock reading per PKCS#11 call (issue 7).
//!
//! Several layers want "now" during one call: the audit record's start, the
//! throttled store refresh, the key-maintenance tick. On a VM a clock read
//! costs tens of nanoseconds, a visible share of a one-microsecond call, so
//! a call takes one reading (lazily, at the first [`now`]) and every layer
//! of that call shares it. Outside a call [`now`] simply reads the clock.
//! Durations (audit latency) read the clock again at their end.

use std::cell::Cell;
use std::time::Instant;

thread_local! {
    /// `None` outside a call; `Some(None)` inside one before the first read.
    static CALL_NOW: Cell<Option<Option<Instant>>> = const { Cell::new(None) };
}

/// The current call's reading (taken now if this is the first), or a fresh
/// reading outside a call.
pub fn now() -> Instant {
    CALL_NOW.with(|c| match c.get() {
        Some(Some(t)) => t,
        Some(None) => {
            let t = Instant::now();
            c.set(Some(Some(t)));
            t
        }
        None => Instant::now(),
    })
}

/// Marks the extent of one call on this thread; restores the outer state
/// (normally "no call") when dropped.
pub struct CallScope(Option<Option<Instant>>);

pub fn begin_call() -> CallScope {
    CallScope(CALL_NOW.with(|c| c.replace(Some(None))))
}

impl Drop for CallScope {
    fn drop(&mut self) {
        CALL_NOW.with(|c| c.set(self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_reading_per_call_and_fresh_outside() {
        let a = now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(now() > a, "outside a call every read is fresh");
        {
            let _c = begin_call();
            let first = now();
            std::thread::sleep(std::time::Duration::from_millis(2));
            assert_eq!(now(), first, "inside a call the reading is shared");
            {
                let _inner = begin_call();
                assert!(now() > first, "a nested call takes its own reading");
            }
            assert_eq!(now(), first, "the outer reading comes back");
        }
        let b = now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(now() > b);
    }
}
