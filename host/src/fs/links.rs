//! Removals and closes on the caller's thread exclude each other.
//!
//! Closing a descriptor is cheap, except the last close of a file that is no longer linked
//! anywhere: that one frees the file's blocks, which for a big file takes milliseconds. A
//! [cached attempt](super::cached) closes descriptors on the caller's thread (the event
//! loop), so it must never be that last close. Without this module a guest could arrange
//! it: queue a `remove` of a big file on the pool, then `stat` or `close` it right away on
//! the event loop, and win the race between the attempt's open and its close.
//!
//! So every operation that can drop a file's last link (remove, rename over an existing
//! name, a tree removal, a temporary file's unlink) runs its removing call as a
//! [`removing`] section on its pool thread, and every cached attempt holds an [`Attempt`]
//! of its store's pool: a removal waits until the attempts under way have ended (a few
//! microseconds each: they copy at most `max_inline_bytes` from the caches and never
//! wait), and an attempt does not start while a removal is under way (its operation runs
//! on the pool instead). A file an attempt opened by name therefore stays linked until the
//! attempt has closed it, and a file opened earlier is checked for links inside the
//! attempt before it is closed there.
//!
//! The exclusion covers the stores that share a pool (the default, [`Pool::shared`], is
//! one per process), at two atomic operations per attempt; stores on separate pools whose
//! grants overlap are not kept apart, and neither are removals made outside aiofs (by the
//! embedder or another process; no guest controls those).
//!
//! [`Pool::shared`]: crate::Pool::shared

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

/// The cached attempts and the removals under way of one pool's stores.
#[derive(Debug, Default)]
pub(crate) struct Exclusion {
    attempts: AtomicUsize,
    removals: AtomicUsize,
}

/// A cached attempt under way: removals wait until it is dropped.
#[derive(Debug)]
pub(crate) struct Attempt<'a>(&'a Exclusion);

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.0.attempts.fetch_sub(1, SeqCst);
    }
}

thread_local! {
    /// The exclusion of the pool this thread works for (none off the pool).
    static SERVED: RefCell<Option<Arc<Exclusion>>> = const { RefCell::new(None) };
}

/// Make this (pool) thread's [`removing`] sections exclude `ex`'s attempts.
pub(crate) fn serve(ex: Arc<Exclusion>) {
    SERVED.with(|s| *s.borrow_mut() = Some(ex));
}

/// Run `f`, which may drop a file's last link, as a removal of the pool this thread works
/// for: once no cached attempt of its stores is under way, and with none starting until
/// it returns. Wrap the removing call alone, not other slow work (attempts go to the pool
/// meanwhile). Off the pool (where no removal should run) it only runs `f`.
pub(crate) fn removing<R>(f: impl FnOnce() -> R) -> R {
    match SERVED.with(|s| s.borrow().clone()) {
        Some(ex) => ex.removing(f),
        None => f(),
    }
}

impl Exclusion {
    /// No attempt nor removal under way.
    pub(crate) fn new() -> Exclusion {
        Exclusion::default()
    }

    /// Start a cached attempt; `None` while a removal is under way (the operation goes to
    /// the pool instead).
    pub(crate) fn attempt(&self) -> Option<Attempt<'_>> {
        // Announce first, then look: with `removing` doing the same the other way round
        // (all `SeqCst`), at least one of the two sees the other.
        self.attempts.fetch_add(1, SeqCst);
        if self.removals.load(SeqCst) > 0 {
            self.attempts.fetch_sub(1, SeqCst);
            return None;
        }
        Some(Attempt(self))
    }

    /// [`removing`] for this exclusion.
    pub(crate) fn removing<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Done<'a>(&'a AtomicUsize);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, SeqCst);
            }
        }
        self.removals.fetch_add(1, SeqCst);
        let _done = Done(&self.removals);
        let mut spins = 0u32;
        while self.attempts.load(SeqCst) > 0 {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        f()
    }

    /// Whether a removal is under way (waiting for attempts, or removing).
    #[cfg(test)]
    pub(crate) fn removal_under_way(&self) -> bool {
        self.removals.load(SeqCst) > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    /// A removal waits for the attempt under way, and no attempt starts while it waits.
    #[test]
    fn a_removal_waits_for_attempts_and_holds_new_ones_off() {
        let ex = Arc::new(Exclusion::new());
        let attempt = ex.attempt().expect("no removal under way");
        let ended = Arc::new(AtomicBool::new(false));
        let remover = std::thread::spawn({
            let (ex, ended) = (ex.clone(), ended.clone());
            // What the removal saw: had the attempt ended?
            move || ex.removing(|| ended.load(SeqCst))
        });
        while !ex.removal_under_way() {
            std::thread::yield_now();
        }
        assert!(ex.attempt().is_none(), "attempts back off meanwhile");
        ended.store(true, SeqCst);
        drop(attempt);
        assert!(
            remover.join().unwrap(),
            "the removal ran only after the attempt"
        );
        assert!(ex.attempt().is_some(), "attempts start again after it");
        assert_eq!(ex.attempts.load(SeqCst), 0);
    }
}
