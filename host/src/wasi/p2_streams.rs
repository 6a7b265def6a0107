//! `wasi:io` input and output streams over an open file, for `read-via-stream`,
//! `write-via-stream` and `append-via-stream`.
//!
//! Each chunk is one domain operation ([`File::read_at`] / [`File::write_at`]): one pool
//! trip, the same limits, budgets and per-file ordering as everything else. The read side
//! follows the read-ahead rule of `aiofs:fs` streams: chunks grow from the reader's size
//! (at least 64 KiB) up to 1 MiB, and as soon as a chunk is handed over the next one is
//! queued. Neither side ever blocks the event loop: a non-blocking `read`/`check-write`
//! that finds the pool still busy returns nothing, and the pollable waits for the pool.
//!
//! As every stream, each holds one of the store's open-handle slots while it lives, and
//! the bytes a read stream has read but not handed out stay charged to the store's memory
//! budget. A chunk is charged before it is read: when the budget is nearly spent it
//! shrinks (down to 4 KiB), and when not even that fits the stream waits for room (its
//! pollable is not ready, a non-blocking `read` returns nothing) instead of failing with
//! `quota`. An output stream
//! charges the room for the guest's next write before the guest hands its bytes over:
//! `check-write` permits only what it could charge, and when nothing fits it says 0 and
//! the stream's pollable waits until the budget has room again (backpressure, as for
//! `wasi:filesystem@0.3` and `aiofs:fs` streams), instead of failing the write with
//! `quota`.

use crate::error::{ErrorCode, FsResult};
use crate::fs::held::Held;
use crate::fs::{File, OpenSlot};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use wasmtime_wasi_io::bytes::Bytes;
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{InputStream, OutputStream, StreamError, StreamResult};

/// Most bytes moved per pool trip (further capped by the store's limits).
const MAX_CHUNK: usize = 1 << 20;
/// Fewest bytes a read stream asks the pool for at a time, and the room an output stream
/// reserves for a write that does not follow a write filling its whole permit.
const MIN_CHUNK: usize = 64 << 10;
/// Least room an output stream reserves, and the smallest chunk a read stream shrinks
/// to, when the memory budget is nearly spent (as `wasi:filesystem@0.3` and `aiofs:fs`
/// streams shrink their chunks).
const MIN_ROOM: u64 = 4 << 10;

type Pending<T> = Pin<Box<dyn Future<Output = FsResult<T>> + Send>>;

/// A read stream's chunk: the bytes, their charge to the memory budget, and the bytes
/// it asked for (a chunk shorter than that, read alone, ended at the end of the file).
type Chunk = (Vec<u8>, Held, u64);

/// Poll `fut` once without a waker that matters: the pool job is queued on the first
/// poll and runs whether or not the future is polled again; this only collects a result
/// that is already there.
pub(super) fn poll_now<T>(fut: &mut Pending<T>) -> Option<FsResult<T>> {
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => Some(r),
        Poll::Pending => None,
    }
}

/// A domain error as a stream error; `filesystem-error-code` recovers the code.
fn failed(e: ErrorCode) -> StreamError {
    StreamError::LastOperationFailed(wasmtime::Error::new(e))
}

/// The host end of `read-via-stream`.
pub(crate) struct FileInput {
    file: File,
    /// Offset of the next chunk to read.
    next_offset: u64,
    /// Size of the next chunk; doubles up to [`MAX_CHUNK`].
    next_len: usize,
    /// The chunk being read: its bytes, their charge, and how many it asked for.
    pending: Option<Pending<Chunk>>,
    /// Data read and not yet handed out.
    buf: Bytes,
    /// The charge for `buf`'s allocation, held until it is all handed out.
    held: Held,
    /// End of file reached, or an error (reported once, then closed).
    end: Option<Result<(), ErrorCode>>,
    /// The pool's job count once the chunk under way was queued (`None`: the pool was
    /// busy then, so another job may have overlapped it).
    jobs_then: Option<u64>,
    /// A chunk that ran alone on the pool came back short, so it read up to the end of
    /// the file: the pool's job count then. While the count is unchanged nothing can have
    /// written to the file through aiofs, so the next read is the end without another
    /// trip to the pool.
    short_at: Option<u64>,
    /// The store's open-handle slot this stream occupies.
    _slot: OpenSlot,
}

impl FileInput {
    pub(crate) fn new(file: File, offset: u64, slot: OpenSlot) -> FileInput {
        let held = file.fs().mem().empty();
        FileInput {
            file,
            next_offset: offset,
            next_len: MIN_CHUNK,
            pending: None,
            buf: Bytes::new(),
            held,
            end: None,
            jobs_then: None,
            short_at: None,
            _slot: slot,
        }
    }

    /// Whether the last chunk was short and nothing ran since (see `short_at`); a stale
    /// hint is dropped.
    fn at_end(&mut self) -> bool {
        match self.short_at.take() {
            Some(jobs) if jobs == super::pool_jobs(self.file.fs()) => {
                self.end = Some(Ok(()));
                true
            }
            _ => false,
        }
    }

    /// Queue the next chunk of at least `want` bytes unless one is under way or the end
    /// was reached.
    fn start(&mut self, want: usize) {
        if self.pending.is_some() || self.end.is_some() || self.at_end() {
            return;
        }
        let len = want.clamp(self.next_len, MAX_CHUNK);
        self.next_len = (len * 2).min(MAX_CHUNK);
        let (file, offset) = (self.file.clone(), self.next_offset);
        let mut fut: Pending<Chunk> = Box::pin(async move {
            // Room in the memory budget first (the chunk shrinks, then waits: the
            // pollable is not ready meanwhile), then the read.
            let mem = file.fs().mem().clone();
            let held = mem.charge_when_room(len as u64, MIN_ROOM).await;
            let asked = held.bytes();
            let (data, held) = file.read_at_held(offset, held).await?;
            Ok((data, held, asked))
        });
        let before = super::pool_jobs_if_idle(self.file.fs());
        // The first poll queues the job.
        let polled = poll_now(&mut fut);
        self.jobs_then = before.map(|b| b + 1);
        match polled {
            Some(r) => self.complete(r),
            None => self.pending = Some(fut),
        }
    }

    /// Take in a finished chunk.
    fn complete(&mut self, result: FsResult<Chunk>) {
        self.pending = None;
        match result {
            Ok((data, ..)) if data.is_empty() => self.end = Some(Ok(())),
            Ok((data, chunk, asked)) => {
                // `buf` (joined with the chunk if needed) stays charged: the chunk's
                // charge joins `held`, which then holds exactly what is left to hand out.
                self.held.absorb(chunk);
                self.held.settle((self.buf.len() + data.len()) as u64);
                self.next_offset += data.len() as u64;
                // A read loops until it has all it may return or the file ends; it may
                // return all that was asked (and charged) unless a limit or a read quota
                // cut it.
                let fs = self.file.fs();
                if let Some(jobs_then) = self.jobs_then
                    && (data.len() as u64) < asked
                    && asked <= fs.limits().max_read_bytes
                    && self.file.reads_unmetered()
                    && super::pool_jobs(fs) == jobs_then
                {
                    self.short_at = Some(jobs_then);
                }
                if self.buf.is_empty() {
                    self.buf = Bytes::from(data);
                } else {
                    let mut joined = Vec::with_capacity(self.buf.len() + data.len());
                    joined.extend_from_slice(&self.buf);
                    joined.extend_from_slice(&data);
                    self.buf = Bytes::from(joined);
                }
            }
            Err(e) => self.end = Some(Err(e)),
        }
    }

    /// Collect a chunk that finished meanwhile.
    fn collect(&mut self) {
        if let Some(fut) = &mut self.pending
            && let Some(r) = poll_now(fut)
        {
            self.complete(r);
        }
    }
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for FileInput {
    async fn ready(&mut self) {
        if self.buf.is_empty() && self.end.is_none() {
            self.start(0);
        }
        if let Some(fut) = &mut self.pending
            && self.buf.is_empty()
        {
            let r = fut.await;
            self.complete(r);
        }
    }
}

#[wasmtime_wasi_io::async_trait]
impl InputStream for FileInput {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        self.collect();
        if self.buf.is_empty() {
            match self.end {
                Some(Ok(())) => return Err(StreamError::Closed),
                Some(Err(e)) => {
                    self.end = Some(Ok(()));
                    return Err(failed(e));
                }
                None => {}
            }
            if size == 0 {
                return Ok(Bytes::new());
            }
            self.start(size);
            if self.buf.is_empty() {
                if matches!(self.end, Some(Ok(()))) {
                    return Err(StreamError::Closed);
                }
                return Ok(Bytes::new());
            }
        }
        let n = size.min(self.buf.len());
        let out = self.buf.split_to(n);
        if self.buf.is_empty() {
            self.held.settle(0);
            // Read ahead: the next chunk is on its way while the guest copies this one
            // (unless the file ended there: the next read says so without a trip).
            if self.short_at.is_none() {
                self.start(0);
            }
        }
        Ok(out)
    }
}

/// The host end of `write-via-stream` (at an offset) and `append-via-stream` (`None`).
///
/// One write at a time: while it is under way `check-write` says 0 and the pollable waits
/// for it. Otherwise `check-write` permits the room it holds for the next write, charged
/// to the memory budget before the guest's bytes are copied out of its memory (wasmtime
/// copies them before `write` is called); the write pays for its bytes out of that room
/// and gives the rest back. The room grows from 64 KiB up to 1 MiB while the guest's
/// writes fill their permits (falling back to 64 KiB when one does not), and shrinks down
/// to 4 KiB when the budget is nearly spent; when not even that fits, `check-write` says 0
/// and the pollable waits for bytes to be given back to the budget.
pub(crate) struct FileOutput {
    file: File,
    /// Where the next write goes; `None` appends.
    offset: Option<u64>,
    /// The write under way.
    pending: Option<Pending<u64>>,
    /// The room charged for the next write: what `check-write` permits.
    room: Option<Held>,
    /// The room the next reservation asks for (before the write limits).
    next_room: usize,
    /// A failed write, reported by the next call.
    error: Option<ErrorCode>,
    closed: bool,
    /// The store's open-handle slot this stream occupies.
    _slot: OpenSlot,
}

impl FileOutput {
    pub(crate) fn new(file: File, offset: Option<u64>, slot: OpenSlot) -> FileOutput {
        FileOutput {
            file,
            offset,
            pending: None,
            room: None,
            next_room: MIN_CHUNK,
            error: None,
            closed: false,
            _slot: slot,
        }
    }

    fn complete(&mut self, result: FsResult<u64>) {
        self.pending = None;
        if let Err(e) = result {
            self.error = Some(e);
        }
    }

    /// Report a failure once; the stream is closed afterwards.
    fn check(&mut self) -> StreamResult<()> {
        if let Some(fut) = &mut self.pending
            && let Some(r) = poll_now(fut)
        {
            self.complete(r);
        }
        if let Some(e) = self.error.take() {
            self.closed = true;
            self.room = None;
            return Err(failed(e));
        }
        if self.closed {
            return Err(StreamError::Closed);
        }
        Ok(())
    }

    /// Most bytes one write may carry: the store's `max_write_bytes`, at most a chunk.
    fn capacity(&self) -> usize {
        usize::try_from(self.file.write_limit())
            .unwrap_or(usize::MAX)
            .min(MAX_CHUNK)
    }

    /// Hold room for the next write if none is held yet and the budget has some (less
    /// than asked for when it is nearly spent); the bytes `check-write` may permit.
    fn reserve(&mut self) -> Option<usize> {
        if self.room.is_none() {
            let want = self.next_room.min(self.capacity()) as u64;
            self.room = self.file.fs().mem().charge_up_to(want, MIN_ROOM.min(want));
        }
        self.room.as_ref().map(|room| room.bytes() as usize)
    }
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for FileOutput {
    async fn ready(&mut self) {
        if let Some(fut) = &mut self.pending {
            let r = fut.await;
            self.complete(r);
        }
        if self.error.is_some() || self.closed {
            return;
        }
        // Ready when `check-write` permits something: wait for room in the budget.
        let mem = self.file.fs().mem().clone();
        loop {
            // Created before the attempt, so a release in between is not missed.
            let freed = mem.wait();
            if self.reserve().is_some() {
                return;
            }
            freed.await;
        }
    }
}

#[wasmtime_wasi_io::async_trait]
impl OutputStream for FileOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.check()?;
        if self.pending.is_some() {
            // `check-write` said 0 (a write is in flight): writing now is a guest bug,
            // which the WASI text makes a trap. A larger write than `check-write`
            // allowed is accepted (wasi-libc makes one); the limits still apply to it.
            return Err(StreamError::trap(
                "write while the previous write is in flight",
            ));
        }
        if bytes.is_empty() {
            return Ok(());
        }
        let len = bytes.len();
        // The guest's bytes were copied under the room `check-write` permitted: they keep
        // that much of it, and the rest goes back. A write past its permit (or without
        // one) charges the difference now; if that does not fit, the write charges its
        // bytes itself and fails with `quota` as any write that does not fit.
        let permit = self.room.as_ref().map_or(0, |room| room.bytes() as usize);
        self.next_room = if permit > 0 && len >= permit {
            (permit * 2).clamp(MIN_CHUNK, MAX_CHUNK)
        } else {
            MIN_CHUNK
        };
        let charged = self
            .room
            .take()
            .and_then(|mut room| room.resize(len as u64).is_ok().then_some(room));
        let (file, offset) = (self.file.clone(), self.offset);
        let mut fut: Pending<u64> =
            // The payload moves into the write (no second copy beside the charged one).
            Box::pin(async move { file.write_at_held(offset, Vec::from(bytes), charged).await });
        if let Some(at) = &mut self.offset {
            // Past `u64::MAX` the write itself fails (`file-too-large`): the position
            // only has to stay a number meanwhile.
            *at = at.saturating_add(len as u64);
        }
        match poll_now(&mut fut) {
            Some(r) => self.complete(r),
            None => self.pending = Some(fut),
        }
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        // Writes go to the file as they are made; `ready` waits for the last one.
        self.check()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.check()?;
        if self.pending.is_some() {
            return Ok(0);
        }
        Ok(self.reserve().unwrap_or(0))
    }

    async fn cancel(&mut self) {
        // A write already on the pool finishes; one still queued never runs.
        self.pending = None;
        self.room = None;
    }
}
