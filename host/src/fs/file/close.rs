//! Closing a file, explicitly or by dropping the last handle: on the caller's thread when
//! that is cheap and safe, else on the pool.

use super::{File, Open, State};
use crate::error::FsResult;
use crate::fs::OpenMode;
use crate::obs::OpKind;
use std::sync::atomic::{AtomicBool, Ordering};

impl Open {
    /// Close the descriptor (`complete`: an upload is completed, else aborted), then run
    /// `on_close`, then release the slot. Blocking: call only on a pool thread.
    fn finish(self, complete: bool) -> FsResult<()> {
        let Open {
            file,
            slot,
            on_close,
            fs: _,
            cheap_close: _,
        } = self;
        let out = if complete {
            file.close()
        } else {
            file.abandon();
            Ok(())
        };
        if let Some(on_close) = on_close {
            on_close();
        }
        drop(slot);
        out
    }
}

impl Drop for State {
    /// The last reference is gone without `close`. A file that closes cheaply (read-only,
    /// still linked) is closed right here in a cached attempt, as [`File::close`] would;
    /// any other is closed on the pool, never here (this may run on the event loop).
    ///
    /// The open-file slot of a host file closed on the pool is free at once if the file may
    /// write on close, so a guest that drops a handle can open another right away: such a
    /// file was opened on the pool, and its close is queued before anything the store
    /// submits later (FIFO), so descriptors still open beyond the limit stay bounded. A
    /// read-only file may have been opened on the caller's thread, and an object (S3)
    /// handle on the object runtime, neither of which queues anything on the pool: a guest
    /// looping open-and-drop while its queue is held up would pile handles up behind it
    /// without end, so their slot is kept until the pool has closed them (an open at the
    /// limit waits for such closes meanwhile instead of failing: `slots`).
    ///
    /// Dropping is closing, as for a descriptor (WASI has no other close): an upload is
    /// completed (its error goes unobserved), unless the store's tenant was cancelled
    /// before the drop ([`Tenant::cancel`](crate::Tenant::cancel); `aiofs run` does that
    /// when the guest traps or times out), when it is aborted and nothing of it becomes
    /// visible.
    fn drop(&mut self) {
        let Some(open) = self.open.take() else {
            return;
        };
        let fs = open.fs.clone();
        let mut open = Some(open);
        if open.as_ref().is_some_and(|o| o.cheap_close)
            && let Some(Ok(())) = fs.inline(true, || drop_cached(&mut open))
        {
            return;
        }
        let Some(mut open) = open else { return };
        let slot = std::mem::replace(&mut open.slot, Box::new(()));
        if open.cheap_close || open.file.as_local().is_none() {
            open.slot = Box::new(fs.closing_slot(slot));
        } else {
            drop(slot);
        }
        let complete = !fs.tenant().is_cancelled();
        fs.spawn_detached(move || {
            let _ = open.finish(complete);
        });
    }
}

/// Close a dropped file in a cached attempt, if still linked (see [`close_cached`]);
/// `open` is left as it was otherwise.
fn drop_cached(open: &mut Option<Open>) -> FsResult<()> {
    if !open.as_ref().is_some_and(still_linked) {
        return Err(crate::fs::cached::give_up().into());
    }
    open.take().map_or(Ok(()), |o| o.finish(true))
}

/// Whether `open`'s host file still has a name (its last close frees nothing).
fn still_linked(open: &Open) -> bool {
    use std::os::unix::fs::MetadataExt;
    open.file
        .as_local()
        .is_some_and(|f| f.metadata().is_ok_and(|m| m.nlink() > 0))
}

/// Close an open file (`complete`: an upload is completed, else aborted), marking it
/// `closed` first; nothing if it already was.
fn close(state: &mut State, closed: &AtomicBool, complete: bool) -> FsResult<()> {
    match state.open.take() {
        Some(open) => {
            closed.store(true, Ordering::Release);
            state.cur.release();
            open.finish(complete)
        }
        None => Ok(()),
    }
}

/// Whether closing `state`'s file may write nothing and wait for nothing, so it may be
/// tried on the caller's thread: a host file opened read-only, with no close hook. Whether
/// it is still linked is checked in the attempt ([`close_cached`]).
fn may_close_cheaply(state: &State, mode: &OpenMode) -> bool {
    state
        .open
        .as_ref()
        .is_some_and(|o| !mode.write && o.on_close.is_none() && o.file.as_local().is_some())
}

/// [`close`], in a cached attempt: only if the file is still linked somewhere (the last
/// close of an unlinked file frees its blocks, which may take milliseconds). No removal by
/// this host can drop its last link before the attempt ends (the `links` module).
fn close_cached(state: &mut State, closed: &AtomicBool, complete: bool) -> FsResult<()> {
    if !state.open.as_ref().is_some_and(still_linked) {
        return Err(crate::fs::cached::give_up().into());
    }
    close(state, closed, complete)
}

impl File {
    /// Close the file; later operations fail with `bad-descriptor`. Returns the first
    /// error of a write stream that nobody observed, if any.
    pub async fn close(&self) -> FsResult<()> {
        self.finish(true).await
    }

    /// Close without completing: an upload is aborted (nothing of it becomes visible); a
    /// host file is closed as by [`close`](File::close). For a copy that failed halfway.
    #[cfg(feature = "object")]
    pub(crate) async fn discard(&self) -> FsResult<()> {
        self.finish(false).await
    }

    async fn finish(&self, complete: bool) -> FsResult<()> {
        self.observe(OpKind::Close)
            .run(async {
                let slot = self.inner.fs.admit()?;
                let mut guard = self.inner.state.clone().lock_owned().await;
                if guard.open.is_some() {
                    let closed = self.inner.closed.clone();
                    let fs = &self.inner.fs;
                    let cheap = self.inner.cached_io && may_close_cheaply(&guard, &self.inner.mode);
                    crate::fs::yield_turn(cheap).await;
                    match fs.inline(cheap, || close_cached(&mut guard, &closed, complete)) {
                        Some(out) => {
                            drop(slot);
                            out?
                        }
                        None => {
                            fs.blocking_admitted(slot, move || close(&mut guard, &closed, complete))
                                .await?
                        }
                    }
                }
                match self.take_unobserved() {
                    Some(err) => Err(err),
                    None => Ok(()),
                }
            })
            .await
    }
}
