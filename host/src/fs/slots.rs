//! Open-file slots (`limits.max_open_files`): taken by every handle, stream, listing and
//! temporary directory, given back when it closes.
//!
//! Dropping a handle closes it, and some closes run on the pool (an upload completes, a
//! file that may be the last link of an inode frees its blocks). Most such handles keep
//! their slot until the pool has closed them (see `file/close.rs`: otherwise a guest
//! looping open-and-drop behind a held-up queue could pile handles up without end). So a
//! guest that drops a handle and opens the next one at the limit would find the slot still
//! taken for a moment, and get `quota` or not depending on how fast the pool was. Instead,
//! an open at the limit *waits* while slots are held only by closes under way (each ends:
//! it is queued on the pool and bounded by `max_op_duration`), and gets `quota` only when
//! every slot belongs to a handle the guest still holds. A waiting open counts as a pending
//! operation (`limits.max_pending_ops`), so a guest cannot park opens without bound.

use super::{Fs, StoreCounters, reserve};
use crate::error::{ErrorCode, FsResult};
use futures::FutureExt as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use tokio::sync::Notify;

/// A reserved open-file slot of one store (`limits.max_open_files`); released on drop.
/// Owned by the [`File`](super::File) it was reserved for, so it is released when the file
/// closes.
#[derive(Debug)]
pub(crate) struct OpenSlot {
    counters: Arc<StoreCounters>,
}

impl Drop for OpenSlot {
    fn drop(&mut self) {
        self.counters.open_files.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The slots of one store that are held by closes under way, and a signal for opens
/// waiting on them.
#[derive(Debug, Default)]
pub(crate) struct Closing {
    held: AtomicUsize,
    freed: Notify,
}

/// A dropped handle's slot while its close is under way: the slot is released, then the
/// opens waiting for one are woken, when this is dropped (after the close).
pub(crate) struct ClosingSlot {
    slot: Option<Box<dyn Send>>,
    counters: Arc<StoreCounters>,
}

impl Drop for ClosingSlot {
    fn drop(&mut self) {
        // The slot first: a waiter that sees no close under way any more must find it free.
        drop(self.slot.take());
        let closing = &self.counters.closing;
        closing.held.fetch_sub(1, Ordering::AcqRel);
        closing.freed.notify_waiters();
    }
}

impl Fs {
    /// Reserve an open-file slot (`quota` at `limits.max_open_files`); the returned guard
    /// releases it when dropped, so it belongs to the handle it was taken for.
    pub(crate) fn reserve_open_slot(&self) -> FsResult<OpenSlot> {
        reserve(&self.counters.open_files, self.limits.max_open_files)?;
        Ok(OpenSlot {
            counters: self.counters.clone(),
        })
    }

    /// [`reserve_open_slot`](Fs::reserve_open_slot) for an open: at the limit, wait while
    /// some slots are held by closes of dropped handles (they end), `quota` when none is.
    /// A waiting open holds a `max_pending_ops` slot (`quota` when none is left), so the
    /// opens waiting at once are bounded like any other waiting operation; dropping it
    /// gives up the wait.
    pub(crate) async fn open_slot(&self) -> FsResult<OpenSlot> {
        match self.reserve_open_slot() {
            Err(ErrorCode::Quota) => {}
            other => return other,
        }
        let _waiting = self.admit()?;
        let closing = &self.counters.closing;
        loop {
            let freed = closing.freed.notified();
            let mut freed = std::pin::pin!(freed);
            // Registered before looking, so a close that ends after the look wakes us.
            freed.as_mut().enable();
            let under_way = closing.held.load(Ordering::Acquire);
            match self.reserve_open_slot() {
                Err(ErrorCode::Quota) if under_way > 0 => freed.await,
                other => return other,
            }
        }
    }

    /// Keep `slot` (a dropped handle's) until its close, under way now, has ended: opens
    /// at the limit wait for it meanwhile instead of failing.
    pub(crate) fn closing_slot(&self, slot: Box<dyn Send>) -> ClosingSlot {
        self.counters.closing.held.fetch_add(1, Ordering::AcqRel);
        ClosingSlot {
            slot: Some(slot),
            counters: self.counters.clone(),
        }
    }
}

/// The open-file slot of a stream or listing, for every surface that makes one (`aiofs:fs`
/// and `wasi:filesystem` streams, 0.3 directory listings). The calls that make them return
/// at once, so a stream takes its slot when it is made if one is free; at the limit while
/// slots are held only by closes under way, it is made anyway and waits for its slot when
/// first polled, as an open would, instead of failing with `quota`.
pub(crate) enum StreamSlot {
    /// Held until the stream is dropped.
    Held { _slot: OpenSlot },
    /// Waiting for a close under way to end ([`Fs::open_slot`], holding one of
    /// `max_pending_ops` meanwhile).
    Waiting(Pin<Box<dyn Future<Output = FsResult<OpenSlot>> + Send>>),
}

impl StreamSlot {
    /// Take a slot of `fs` now, or start waiting for one that a close under way gives
    /// back; `quota` at once when every slot belongs to something the guest holds, or no
    /// pending-operation slot is left to wait in.
    pub(crate) fn take(fs: &Fs) -> FsResult<StreamSlot> {
        let fs = fs.clone();
        let mut wait: Pin<Box<dyn Future<Output = FsResult<OpenSlot>> + Send>> =
            Box::pin(async move { fs.open_slot().await });
        // The first poll takes a free slot, fails, or registers the wait: a close that
        // ends before the stream is polled again is not missed.
        match wait.as_mut().now_or_never() {
            Some(slot) => slot.map(|_slot| StreamSlot::Held { _slot }),
            None => Ok(StreamSlot::Waiting(wait)),
        }
    }

    /// Ready once the slot is held; `quota` if it cannot be.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<FsResult<()>> {
        if let StreamSlot::Waiting(wait) = self {
            let _slot = ready!(wait.as_mut().poll(cx))?;
            *self = StreamSlot::Held { _slot };
        }
        Poll::Ready(Ok(()))
    }

    /// Whether the slot is held (not waited for).
    #[cfg(test)]
    pub(crate) fn is_held(&self) -> bool {
        matches!(self, StreamSlot::Held { .. })
    }
}
