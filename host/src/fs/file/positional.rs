//! Positional reads and writes (`pread`/`pwrite`) and times on an open file: what
//! descriptor-based callers (`wasi:filesystem`) need. They neither use nor move the
//! position; a write drops the read-ahead so later cursor reads see it. They run in
//! order with every other operation of the file, under the same limits and budgets.

use super::{Cursor, File, Handle, Need, Place, State};
use crate::error::{ErrorCode, FsResult};
use crate::fs::held::Held;
use crate::fs::{PendingSlot, SetTime};
use crate::limits::Limits;
use crate::obs::OpKind;
use tokio::sync::OwnedMutexGuard;

impl File {
    /// Read up to `n` bytes at `offset` (capped by `max_read_bytes` and what is left of
    /// the grant's read budget: `quota` when nothing is, and charged to the memory budget:
    /// `quota` when it has no room). Fewer bytes, or none, means the end of the file came
    /// first.
    pub async fn read_at(&self, offset: u64, n: u64) -> FsResult<Vec<u8>> {
        self.observe(OpKind::Read)
            .run(async {
                let (slot, guard) = self.enter(Need::ReadBytes).await?;
                if n == 0 {
                    return Ok(Vec::new());
                }
                let (out, _held) = self
                    .run_read_held(slot, guard, n, Some(offset), None, None, read_at(offset))
                    .await?;
                Ok(out)
            })
            .await
    }

    /// Stream support: [`read_at`](File::read_at) of at most `held.bytes()`, a charge to
    /// the memory budget the stream took (waiting for room) before asking, handed back
    /// with the bytes to be held until the reader has taken them.
    pub(crate) async fn read_at_held(&self, offset: u64, held: Held) -> FsResult<(Vec<u8>, Held)> {
        self.observe(OpKind::Read)
            .run(async {
                let (slot, guard) = self.enter(Need::ReadBytes).await?;
                self.read_at_locked(slot, guard, offset, held).await
            })
            .await
    }

    /// [`read_at_held`](File::read_at_held) once the file is held and the operation
    /// admitted.
    pub(super) async fn read_at_locked(
        &self,
        slot: PendingSlot<'_>,
        guard: OwnedMutexGuard<State>,
        offset: u64,
        held: Held,
    ) -> FsResult<(Vec<u8>, Held)> {
        let n = held.bytes();
        self.run_read_held(
            slot,
            guard,
            n,
            Some(offset),
            None,
            Some(held),
            read_at(offset),
        )
        .await
    }

    /// Write all of `data` at `offset` (`None`: at the end of the file, as it is when
    /// the write runs) and return the offset after it. Refused before anything is
    /// written when it exceeds `max_write_bytes` or the write budget (`quota`) or would
    /// make the file larger than `max_file_size` (`file-too-large`).
    pub async fn write_at(&self, offset: Option<u64>, data: Vec<u8>) -> FsResult<u64> {
        self.write_at_held(offset, data, None).await
    }

    /// [`write_at`](File::write_at) for a payload already charged to the memory budget
    /// (`preset`: a stream charges before it copies the bytes out of the guest).
    pub(crate) async fn write_at_held(
        &self,
        offset: Option<u64>,
        data: Vec<u8>,
        preset: Option<Held>,
    ) -> FsResult<u64> {
        self.observe(OpKind::Write)
            .bytes(data.len() as u64)
            .run(async {
                self.check(!self.is_closed(), Need::WriteBytes)?;
                self.check_write_len(data.len())?;
                let len = data.len() as u64;
                self.inner.budget.precheck_write(len)?;
                // The payload is charged before waiting; growth, size and write budgets are
                // checked and paid on the pool (`run_write`).
                let held = match preset {
                    Some(held) => held,
                    None => self.inner.fs.charge(len)?,
                };
                let place = offset.map_or(Place::End, Place::At);
                let budget = self.inner.budget.clone();
                let (slot, guard) = self.enter(Need::WriteBytes).await?;
                let n = data.len();
                let write = move |cur: &mut Cursor, file: &Handle, _: &Limits| {
                    let start = match offset {
                        Some(at) => at,
                        None => file.len()?,
                    };
                    let end = start.checked_add(len).ok_or(ErrorCode::FileTooLarge)?;
                    budget.check_size(end)?;
                    cur.invalidate();
                    file.write_all_at(&data, start)?;
                    Ok(end)
                };
                self.run_write(slot, guard, n, place, held, write, |_| {})
                    .await
            })
            .await
    }

    /// Set the file's access and modification times (any open file: the permission to
    /// change them is the grant's, which the caller checks).
    pub async fn set_times(&self, accessed: SetTime, modified: SetTime) -> FsResult<()> {
        self.observe(OpKind::SetTimes)
            .run(async {
                let (atime, mtime) = (accessed.std()?, modified.std()?);
                self.op(Need::Open, move |_, file, _| {
                    let mut times = std::fs::FileTimes::new();
                    if let Some(t) = atime {
                        times = times.set_accessed(t);
                    }
                    if let Some(t) = mtime {
                        times = times.set_modified(t);
                    }
                    file.set_times(times)
                })
                .await
            })
            .await
    }

    /// Most bytes one write may carry (the store's `max_write_bytes`).
    pub fn write_limit(&self) -> u64 {
        self.inner.fs.limits().max_write_bytes
    }

    /// Whether the file was opened for reading and for writing.
    pub fn access(&self) -> (bool, bool) {
        (self.inner.mode.read, self.inner.mode.write)
    }
}

/// The pool's side of a positional read of at most `max_read_bytes` (the read's cap).
fn read_at(
    offset: u64,
) -> impl FnMut(&mut Cursor, &Handle, &Limits) -> FsResult<Vec<u8>> + Send + 'static {
    move |_, file, limits| {
        let want = usize::try_from(limits.max_read_bytes).unwrap_or(usize::MAX);
        // Too big to zero-fill on the caller's thread: straight to the pool.
        crate::fs::cached::expect(want as u64)?;
        let mut buf = Vec::new();
        buf.try_reserve_exact(want)
            .map_err(|_| ErrorCode::InsufficientMemory)?;
        buf.resize(want, 0);
        let got = file.read_at(&mut buf, offset)?;
        buf.truncate(got);
        // The result is charged at its length (a stream holds it until the guest takes
        // it): a read cut short by the end of the file gives the rest of the buffer back.
        buf.shrink_to_fit();
        Ok(buf)
    }
}
