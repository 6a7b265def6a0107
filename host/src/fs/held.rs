//! The per-store budget of host memory held on a guest's behalf (`Limits::max_inflight_bytes`).
//!
//! Every buffer the host keeps for a guest is charged here before it is allocated: a
//! write's payload from the moment the host owns it (while it waits for a pool thread or
//! for the file), a read's result until it is handed to the guest, each open file's
//! read-ahead buffer, stream chunks in both directions, directory listings. A charge is a
//! [`Held`] lease that gives its bytes back when dropped, so a cancelled or failed
//! operation can never leak budget. A charge that does not fit fails at once with
//! `quota`; streams wait instead ([`MemBudget::wait`]), which is their backpressure.

use crate::error::{ErrorCode, FsResult};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;

/// The budget of one store. Shared by every operation, file and stream of the store.
#[derive(Debug)]
pub(crate) struct MemBudget {
    max: u64,
    used: AtomicU64,
    peak: AtomicU64,
    /// Woken whenever bytes are given back (streams waiting for room).
    freed: Arc<Notify>,
}

impl MemBudget {
    pub(crate) fn new(max: u64) -> Arc<MemBudget> {
        Arc::new(MemBudget {
            max,
            used: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            freed: Arc::new(Notify::new()),
        })
    }

    /// Bytes charged now.
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    /// The most bytes that may be held at once.
    #[cfg(feature = "object")]
    pub(crate) fn max(&self) -> u64 {
        self.max
    }

    /// Most bytes ever charged at once.
    pub(crate) fn peak(&self) -> u64 {
        self.peak.load(Ordering::Acquire)
    }

    /// Charge `n` bytes, all or nothing (`quota` if they do not fit).
    pub(crate) fn charge(self: &Arc<Self>, n: u64) -> FsResult<Held> {
        let mut held = Held {
            budget: self.clone(),
            bytes: 0,
        };
        held.grow(n)?;
        Ok(held)
    }

    /// A lease of nothing, to grow later.
    pub(crate) fn empty(self: &Arc<Self>) -> Held {
        Held {
            budget: self.clone(),
            bytes: 0,
        }
    }

    /// Charge up to `want` bytes but at least `min` (fewer than `want` when the budget is
    /// nearly spent); `None` if not even `min` fits. A `min` above the budget's maximum
    /// counts as the maximum (at least 1 byte), so that a caller that waits for room (a
    /// stream under an embedder's tiny budget) waits for room that can come.
    pub(crate) fn charge_up_to(self: &Arc<Self>, want: u64, min: u64) -> Option<Held> {
        let min = min.min(self.max.max(1));
        let mut n = want;
        loop {
            if let Ok(held) = self.charge(n) {
                return Some(held);
            }
            if n <= min {
                return None;
            }
            n = (n / 2).max(min);
        }
    }

    /// Charge up to `want` bytes but at least `min`, waiting for bytes to be given back
    /// while not even `min` fits (backpressure instead of `quota`).
    pub(crate) async fn charge_when_room(self: &Arc<Self>, want: u64, min: u64) -> Held {
        loop {
            // Created before the attempt, so a release in between is not missed.
            let freed = self.wait();
            if let Some(held) = self.charge_up_to(want, min) {
                return held;
            }
            freed.await;
        }
    }

    /// A future that completes the next time bytes are given back. Create it *before*
    /// the charge attempt it guards, so that no release in between is missed.
    pub(crate) fn wait(&self) -> tokio::sync::futures::OwnedNotified {
        self.freed.clone().notified_owned()
    }

    fn add(&self, n: u64) -> FsResult<()> {
        let max = self.max;
        let new = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&total| total <= max)
            })
            .map_err(|_| ErrorCode::Quota)?
            + n;
        self.peak.fetch_max(new, Ordering::AcqRel);
        Ok(())
    }

    /// Count `n` bytes even past the budget (a result a few bytes larger than its
    /// estimate); later charges fail until they are given back.
    fn force_add(&self, n: u64) {
        let new = self.used.fetch_add(n, Ordering::AcqRel) + n;
        self.peak.fetch_max(new, Ordering::AcqRel);
    }

    fn sub(&self, n: u64) {
        if n > 0 {
            self.used.fetch_sub(n, Ordering::AcqRel);
            self.freed.notify_waiters();
        }
    }
}

/// Bytes charged to a [`MemBudget`]; given back when dropped.
#[derive(Debug)]
pub(crate) struct Held {
    budget: Arc<MemBudget>,
    bytes: u64,
}

impl Held {
    /// Bytes held.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Charge `n` more bytes (`quota` if they do not fit; nothing changes then).
    pub(crate) fn grow(&mut self, n: u64) -> FsResult<()> {
        self.budget.add(n)?;
        self.bytes += n;
        Ok(())
    }

    /// Take over `other`'s bytes (of the same budget), charging nothing more.
    pub(crate) fn absorb(&mut self, mut other: Held) {
        debug_assert!(Arc::ptr_eq(&self.budget, &other.budget));
        self.bytes += std::mem::take(&mut other.bytes);
    }

    /// Hold exactly `n` bytes: charge the difference or give it back.
    pub(crate) fn resize(&mut self, n: u64) -> FsResult<()> {
        if n > self.bytes {
            self.grow(n - self.bytes)
        } else {
            self.budget.sub(self.bytes - n);
            self.bytes = n;
            Ok(())
        }
    }
}

impl Held {
    /// Charge for one more entry of a list before it is pushed, at what the allocator
    /// takes: the entry's own allocation of `heap` bytes (a one-letter name takes 32), and,
    /// when the list is full, the slots it grows by (it doubles, from 16, so up to half are
    /// spare), which are then reserved. Nothing is charged or grown if it does not fit
    /// (`quota`; `insufficient-memory` if the allocator refuses the slots).
    pub(crate) fn grow_for_push<T>(&mut self, out: &mut Vec<T>, heap: u64) -> FsResult<()> {
        let mut charge = allocated(heap);
        let cap = out.capacity();
        let grow = (out.len() == cap).then(|| cap.max(16));
        if let Some(more) = grow {
            let slots = |n: usize| allocated((n * size_of::<T>()) as u64);
            charge += slots(cap + more) - slots(cap);
        }
        self.grow(charge)?;
        if let Some(more) = grow {
            out.try_reserve_exact(more)
                .map_err(|_| ErrorCode::InsufficientMemory)?;
        }
        Ok(())
    }

    /// Hold exactly `n` bytes, counting them even past the budget: for a result that
    /// turned out a little larger than charged (a character finished past a byte limit,
    /// the headers of a list of lines). The excess is bounded by the caller.
    pub(crate) fn settle(&mut self, n: u64) {
        if n > self.bytes {
            self.budget.force_add(n - self.bytes);
            self.bytes = n;
        } else {
            let _ = self.resize(n);
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.sub(self.bytes);
    }
}

/// Heap bytes of an operation's result, for sizing its [`Held`] to what it really holds.
pub(crate) trait HeapSize {
    /// Bytes on the heap: a buffer's payload; for a list of lists, the list's own
    /// allocation and each item's allocation as the allocator takes it ([`allocated`]),
    /// so a guest's list of many tiny lines is counted at what it costs the host (a
    /// one-byte line is 56 bytes, not 1).
    fn heap_size(&self) -> u64;
}

/// Bytes an allocation of `n` bytes takes from the allocator: glibc's malloc adds an
/// 8-byte header, rounds up to 16 and never hands out less than 32 (other allocators
/// are in the same range); nothing for `n` = 0 (an empty vector does not allocate).
pub(crate) fn allocated(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        n.saturating_add(8).next_multiple_of(16).max(32)
    }
}

impl HeapSize for Vec<u8> {
    fn heap_size(&self) -> u64 {
        self.len() as u64
    }
}

impl HeapSize for String {
    fn heap_size(&self) -> u64 {
        self.len() as u64
    }
}

impl<T: HeapSize> HeapSize for Vec<T> {
    fn heap_size(&self) -> u64 {
        let own = (self.capacity() * std::mem::size_of::<T>()) as u64;
        let items: u64 = self.iter().map(|x| allocated(x.heap_size())).sum();
        allocated(own) + items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_are_all_or_nothing_and_come_back() {
        let b = MemBudget::new(100);
        let a = b.charge(60).unwrap();
        assert_eq!(b.charge(41).unwrap_err(), ErrorCode::Quota);
        assert_eq!(b.used(), 60);
        let mut c = b.charge(40).unwrap();
        assert_eq!(c.grow(1).unwrap_err(), ErrorCode::Quota);
        assert_eq!(b.used(), 100);
        drop(a);
        c.resize(10).unwrap();
        assert_eq!((b.used(), b.peak()), (10, 100));
        assert_eq!(b.charge_up_to(1000, 8).unwrap().bytes(), 62);
        // A minimum above the whole budget asks for what can ever fit.
        assert!(b.charge_up_to(4096, 4096).is_none());
        drop(c);
        assert_eq!(b.charge_up_to(4096, 4096).unwrap().bytes(), 100);
        let c = b.charge(0).unwrap();
        assert!(b.charge(u64::MAX).is_err());
        drop(c);
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn held_sizes_count_each_allocation() {
        assert_eq!(
            (0..=4)
                .chain([24, 25, 100])
                .map(allocated)
                .collect::<Vec<_>>(),
            [0, 32, 32, 32, 32, 32, 48, 112]
        );
        // A million one-byte lines: a 24-byte header and a 32-byte block each.
        let lines = vec![vec![7u8]; 1 << 20];
        assert_eq!(lines.heap_size(), allocated(24 << 20) + (32 << 20));
        let text: Vec<String> = vec![String::new(); 10];
        assert_eq!(text.heap_size(), allocated(240));
        assert_eq!(vec![0u8; 100].heap_size(), 100);
    }
}
