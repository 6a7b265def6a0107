//! Batches: many small operations in one host call and one trip to the pool.
//!
//! A batch is a list of [`BatchOp`]s run **in order** by one pool job; each item gets its
//! own result and fails on its own. Every item goes through the same [`Fs`] method as the
//! single operation of the same name (path resolution, `read-only`, per-grant budgets,
//! `max_pending_ops`, the memory budget, per-call byte limits), so there is one copy of
//! every check: inside the batch job those methods' pool trips run inline
//! ([`pool::run_inline`](crate::pool)) instead of being queued.
//!
//! # Limits
//! * `Limits::max_batch_items` items per call and `Limits::max_batch_bytes` bytes in
//!   (paths plus `write-file` payloads), both checked before anything is queued: past
//!   either the whole call fails with `quota` and nothing runs.
//! * The input is charged to the store's memory budget from the moment the host owns it
//!   (its bytes and about 120 bytes per item for the item and its allocations; `quota` as a
//!   whole if it does not fit); each `write-file` payload's charge moves to
//!   the write when it runs (which charges it as a single write would).
//! * `read-file` results count against `max_batch_bytes` too, and are charged to the
//!   memory budget until the batch is handed back: an item whose file would go past what
//!   is left fails with `quota` (the items after it still run).
//! * While queued the batch holds one `max_pending_ops` slot; while it runs, each item
//!   takes and gives back a slot as a single operation would.
//! * The batch is one pool job: it takes one turn in the store's queue (see the pool's
//!   fairness), and `Limits::max_op_duration`, cancellation of the store and dropping the
//!   call apply to the whole job. They are checked between items: once one fires, every
//!   remaining item fails with `interrupted` and is not attempted.

use super::{Fs, Stat, reserve};
use crate::error::{ErrorCode, FsResult};
use crate::fs::held::Held;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};

/// One operation of a batch (mirrors WIT `batch.op`). Each runs as the [`Fs`] method of
/// the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    /// [`Fs::stat`] following symlinks.
    Stat(String),
    /// [`Fs::stat`] of the link itself.
    Lstat(String),
    /// [`Fs::exists`].
    Exists(String),
    /// [`Fs::is_file`].
    IsFile(String),
    /// [`Fs::is_dir`].
    IsDir(String),
    /// [`Fs::read_file`] with the caller's `max`.
    ReadFile {
        /// Guest path.
        path: String,
        /// Largest file accepted (`file-too-large` past it).
        max: u64,
    },
    /// [`Fs::write_file`], not atomic.
    WriteFile {
        /// Guest path.
        path: String,
        /// The new content.
        data: Vec<u8>,
    },
    /// [`Fs::remove_file`].
    Remove(String),
    /// [`Fs::mkdir`].
    Mkdir(String),
    /// [`Fs::makedirs`].
    Makedirs {
        /// Guest path.
        path: String,
        /// Whether an existing leaf directory is fine.
        exist_ok: bool,
    },
    /// [`Fs::rmdir`].
    Rmdir(String),
    /// [`Fs::rename`].
    Rename {
        /// Guest path renamed.
        src: String,
        /// Its new guest path.
        dst: String,
    },
}

impl BatchOp {
    /// Whether the item only looks a name up (its lookups may share the batch's memo of
    /// the directory they go through; any other item may change names, see
    /// `fs::dirmemo`).
    fn looks_up(&self) -> bool {
        matches!(
            self,
            BatchOp::Stat(_)
                | BatchOp::Lstat(_)
                | BatchOp::Exists(_)
                | BatchOp::IsFile(_)
                | BatchOp::IsDir(_)
        )
    }

    /// Bytes the host holds for this item before it runs (paths and payload).
    fn bytes_in(&self) -> u64 {
        let n = match self {
            BatchOp::Stat(p)
            | BatchOp::Lstat(p)
            | BatchOp::Exists(p)
            | BatchOp::IsFile(p)
            | BatchOp::IsDir(p)
            | BatchOp::Remove(p)
            | BatchOp::Mkdir(p)
            | BatchOp::Rmdir(p)
            | BatchOp::ReadFile { path: p, .. }
            | BatchOp::Makedirs { path: p, .. } => p.len(),
            BatchOp::WriteFile { path, data } => path.len() + data.len(),
            BatchOp::Rename { src, dst } => src.len() + dst.len(),
        };
        n as u64
    }
}

/// What one successful batch item returns (mirrors WIT `batch.outcome`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    /// `stat` and `lstat`.
    Stat(Stat),
    /// `exists`, `is-file`, `is-dir`.
    Flag(bool),
    /// `read-file`.
    Data(Vec<u8>),
    /// Operations without a value (`write-file`, `remove`, `mkdir`, ...).
    Done,
}

/// What one batch item costs the host besides its bytes: the item itself and the
/// allocator's share of its (at most two) buffers.
const ITEM_HELD: u64 = size_of::<BatchOp>() as u64 + 2 * 32;

/// A `max_pending_ops` slot owned by a queued batch job (given back when the job starts,
/// or when it is dropped unrun).
struct QueuedSlot {
    fs: Fs,
}

impl Drop for QueuedSlot {
    fn drop(&mut self) {
        self.fs.counters.pending_ops.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Drive a domain method's future to its end right here. Inside a batch job every pool
/// trip runs inline, so the methods a batch calls complete on their first poll; one that
/// would wait is a host bug, answered with `io` rather than blocking a pool thread.
fn now<T>(fut: impl Future<Output = FsResult<T>>) -> FsResult<T> {
    let fut = std::pin::pin!(fut);
    match fut.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r,
        Poll::Pending => {
            tracing::error!("an aiofs batch item waited inside its batch job");
            Err(ErrorCode::Io)
        }
    }
}

impl Fs {
    /// Run `ops` in order in one pool job; one result per item (see the [module
    /// docs](self) for the limits). The call as a whole fails with `quota` when it has
    /// more than `max_batch_items` items, more than `max_batch_bytes` bytes of input, or
    /// its input does not fit the memory budget; then nothing runs.
    pub async fn batch(&self, ops: Vec<BatchOp>) -> FsResult<Vec<FsResult<BatchOutcome>>> {
        if ops.len() > self.limits.max_batch_items {
            return Err(ErrorCode::Quota);
        }
        let bytes_in = ops
            .iter()
            .map(BatchOp::bytes_in)
            .fold(0u64, u64::saturating_add);
        if bytes_in > self.limits.max_batch_bytes {
            return Err(ErrorCode::Quota);
        }
        // The items themselves too: each is an enum on the host, its strings and payload
        // allocations of their own.
        let items = ops.len() as u64 * ITEM_HELD;
        let held = self.charge(bytes_in.saturating_add(items))?;
        reserve(&self.counters.pending_ops, self.limits.max_pending_ops)?;
        let queued = QueuedSlot { fs: self.clone() };
        let fs = self.clone();
        let (out, held) = self
            .pool
            .run_for(&self.tenant, move || {
                // Running: the items take their own slots from here on.
                drop(queued);
                let mut held = held;
                let out = crate::pool::run_inline(|| fs.run_items(ops, &mut held));
                (out, held)
            })
            .await?;
        // The results are handed to the guest right after this returns.
        drop(held);
        Ok(out)
    }

    /// The items of a batch, in order, on the batch's pool thread.
    fn run_items(&self, ops: Vec<BatchOp>, held: &mut Held) -> Vec<FsResult<BatchOutcome>> {
        let mut out = Vec::with_capacity(ops.len());
        let mut room = self.limits.max_batch_bytes;
        let mut stopped = None;
        let memo = super::dirmemo::Memo::enable();
        for op in ops {
            if stopped.is_none() {
                stopped = crate::pool::checkpoint().err();
            }
            if !op.looks_up() {
                memo.forget();
            }
            let r = match stopped {
                Some(e) => Err(e),
                None => self.run_item(op, held, &mut room),
            };
            out.push(r);
        }
        out
    }

    /// One item through its domain method. `room`: `read-file` bytes the batch may still
    /// hand back.
    fn run_item(&self, op: BatchOp, held: &mut Held, room: &mut u64) -> FsResult<BatchOutcome> {
        use BatchOutcome::{Data, Done, Flag};
        match op {
            BatchOp::Stat(p) => now(self.stat(p, true)).map(BatchOutcome::Stat),
            BatchOp::Lstat(p) => now(self.stat(p, false)).map(BatchOutcome::Stat),
            BatchOp::Exists(p) => now(self.exists(p)).map(Flag),
            BatchOp::IsFile(p) => now(self.is_file(p)).map(Flag),
            BatchOp::IsDir(p) => now(self.is_dir(p)).map(Flag),
            BatchOp::ReadFile { path, max } => {
                let capped = max.min(*room);
                let data = now(self.read_file(path, capped)).map_err(|e| match e {
                    // Too big for what the batch may still carry, not for the caller.
                    ErrorCode::FileTooLarge if capped < max => ErrorCode::Quota,
                    e => e,
                })?;
                let n = data.len() as u64;
                held.grow(n)?;
                *room -= n.min(*room);
                Ok(Data(data))
            }
            BatchOp::WriteFile { path, data } => {
                // The write charges its payload itself, as a single write-file does.
                let mine = held.bytes().saturating_sub(data.len() as u64);
                let _ = held.resize(mine);
                now(self.write_file(path, data, false)).map(|()| Done)
            }
            BatchOp::Remove(p) => now(self.remove_file(p)).map(|()| Done),
            BatchOp::Mkdir(p) => now(self.mkdir(p)).map(|()| Done),
            BatchOp::Makedirs { path, exist_ok } => {
                now(self.makedirs(path, exist_ok)).map(|()| Done)
            }
            BatchOp::Rmdir(p) => now(self.rmdir(p)).map(|()| Done),
            BatchOp::Rename { src, dst } => now(self.rename(src, dst)).map(|()| Done),
        }
    }
}

#[cfg(test)]
mod tests;
