//! Stream support: the chunk operations behind `read-via-stream` / `write-via-stream`
//! (and `wasi:filesystem`'s streams). Each chunk is one operation of the file, in order
//! with the others, under the same limits and budgets; the `*_now` forms start only when
//! the file is free, for reading ahead of the reader and writing behind the writer.

use super::{File, Need, State, clamp};
use crate::error::FsResult;
use crate::fs::PendingSlot;
use crate::fs::held::Held;
use crate::obs::OpKind;
use tokio::sync::OwnedMutexGuard;

impl File {
    /// Stream support: read the next chunk (at most `max` bytes, capped by the per-read
    /// limit) from the current position and advance it; empty at end of file. Binary only.
    pub async fn read_chunk(&self, max: usize) -> FsResult<Vec<u8>> {
        self.observe(OpKind::Read)
            .run(async {
                self.read_op(Need::ReadBytes, max as u64, move |cur, file, limits| {
                    Ok(cur.read_bytes(file, clamp(max as u64, limits.max_read_bytes))?)
                })
                .await
            })
            .await
    }
    /// Stream support: [`read_chunk`](File::read_chunk) with its result already charged
    /// to the memory budget (`held`, which also caps the chunk); the charge is handed back
    /// with the chunk, to be held until the reader has taken it.
    pub(crate) async fn read_chunk_held(&self, held: Held) -> FsResult<(Vec<u8>, Held)> {
        self.observe(OpKind::Read)
            .run(async {
                let (slot, guard) = self.enter(Need::ReadBytes).await?;
                self.read_chunk_locked(slot, guard, held).await
            })
            .await
    }
    async fn read_chunk_locked(
        &self,
        slot: PendingSlot<'_>,
        guard: OwnedMutexGuard<State>,
        held: Held,
    ) -> FsResult<(Vec<u8>, Held)> {
        let max = held.bytes();
        self.run_read_held(
            slot,
            guard,
            max,
            None,
            None,
            Some(held),
            move |cur, file, limits| Ok(cur.read_bytes(file, clamp(max, limits.max_read_bytes))?),
        )
        .await
    }
    /// Stream support: a read of at most `held` bytes (charged already) for reading
    /// ahead: from the current position (`at` = `None`, advancing it, as
    /// [`read_chunk_held`](File::read_chunk_held)) or at `at` (as
    /// [`read_at_held`](File::read_at_held)). Started only if no other
    /// operation holds or waits for the file (`None` otherwise). The returned future
    /// queues its pool job on its first poll; after that the job runs and releases the
    /// file whether or not the future is polled again, so a read-ahead nobody polls never
    /// holds up the file's later operations.
    pub(crate) fn read_now(
        &self,
        at: Option<u64>,
        held: Held,
    ) -> Option<impl Future<Output = FsResult<(Vec<u8>, Held)>> + Send + 'static> {
        let guard = self.inner.state.clone().try_lock_owned().ok()?;
        let file = self.clone();
        Some(async move {
            file.observe(OpKind::Read)
                .run(async {
                    file.check(guard.open.is_some(), Need::ReadBytes)?;
                    let slot = file.inner.fs.admit()?;
                    match at {
                        None => file.read_chunk_locked(slot, guard, held).await,
                        Some(offset) => file.read_at_locked(slot, guard, offset, held).await,
                    }
                })
                .await
        })
    }
    /// Stream support: write `data` at the current position (end in append mode), advance,
    /// and return the bytes written. Binary only.
    pub async fn write_chunk(&self, data: Vec<u8>) -> FsResult<u64> {
        self.observe(OpKind::Write)
            .bytes(data.len() as u64)
            .run(async { self.write_bytes(Need::WriteBytes, data, None).await })
            .await
    }
    /// Stream support: [`write_chunk`](File::write_chunk) for a chunk already charged to
    /// the memory budget.
    pub(crate) async fn write_chunk_held(&self, data: Vec<u8>, held: Held) -> FsResult<u64> {
        self.observe(OpKind::Write)
            .bytes(data.len() as u64)
            .run(async { self.write_bytes(Need::WriteBytes, data, Some(held)).await })
            .await
    }
    /// Stream support: [`write_chunk_held`](File::write_chunk_held) for writing behind the
    /// writer, started only if no other operation holds or waits for the file (otherwise
    /// the chunk and its charge come back). Like [`read_now`](File::read_now),
    /// the returned future queues its pool job on its first poll (every check and budget
    /// reservation happens before that); after that the job runs and releases the file
    /// whether or not the future is polled again, so later operations of the file (its
    /// `close`) wait for the write, never for a poll. Dropping the future before the job
    /// has run cancels it, as for every operation. The job's result is handed to `report`
    /// on the pool thread before the file is released, so whoever it is for has it
    /// before `close` can look for it.
    pub(crate) fn write_chunk_now(
        &self,
        data: Vec<u8>,
        held: Held,
        report: impl FnOnce(&FsResult<u64>) + Send + 'static,
    ) -> Result<impl Future<Output = FsResult<u64>> + Send + 'static, (Vec<u8>, Held)> {
        let Ok(guard) = self.inner.state.clone().try_lock_owned() else {
            return Err((data, held));
        };
        let file = self.clone();
        let len = data.len();
        Ok(async move {
            file.observe(OpKind::Write)
                .bytes(len as u64)
                .run(async {
                    file.check(guard.open.is_some(), Need::WriteBytes)?;
                    file.precheck_write(len)?;
                    let slot = file.inner.fs.admit()?;
                    let write = file.writer(data);
                    let place = file.write_place();
                    file.run_write(slot, guard, len, place, held, write, report)
                        .await
                })
                .await
        })
    }
    /// Stream support: check up front that a stream in this direction is allowed
    /// (open, binary, readable/writable), so the stream can fail fast.
    pub fn check_stream(&self, write: bool) -> FsResult<()> {
        let need = if write {
            Need::WriteBytes
        } else {
            Need::ReadBytes
        };
        self.check(!self.is_closed(), need)
    }
    /// Stream support, for every stream surface (`aiofs:fs` and `wasi:filesystem`): check
    /// that a stream in this direction is allowed and take the open-handle slot the
    /// stream holds while it lives, or start waiting for one a close under way gives back
    /// (`quota` at `max_open_files` otherwise; see [`StreamSlot`](crate::fs::StreamSlot)).
    pub(crate) fn stream_slot(&self, write: bool) -> FsResult<crate::fs::StreamSlot> {
        self.check_stream(write)?;
        crate::fs::StreamSlot::take(&self.inner.fs)
    }
    /// Remember an error nobody observed (a write stream whose future was dropped);
    /// `close` reports the first such error.
    pub fn record_unobserved_error(&self, err: crate::error::ErrorCode) {
        let mut slot = self
            .inner
            .unobserved
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert(err);
    }
}
