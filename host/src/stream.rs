//! `stream<u8>` adapters for `file.read-via-stream` / `file.write-via-stream`.
//!
//! Both sides move data in large chunks, each chunk being one ordinary domain operation
//! (`File::read_chunk` / `File::write_chunk`): one pool trip per chunk, the same limits,
//! permission checks and per-file ordering as every other operation. A chunk that has
//! started on the pool is always awaited (never abandoned), so the file position always
//! matches the bytes handed to the stream or consumed from it. The write side writes one
//! chunk behind the writer (see [`WriteStreamConsumer`]).
//!
//! The read side reads ahead: its chunks grow from the reader's buffer size (at least
//! 64 KiB) to [`STREAM_CHUNK`], wasmtime serves the reader's smaller reads from the last
//! chunk without calling back, and as soon as one chunk is handed over the next one is
//! queued on the pool (when no other operation waits for the file), so the disk read
//! overlaps the copy into the guest. A reader that drops the stream early therefore
//! leaves the position up to two chunks past what it received.
//!
//! Governance: a stream holds one of the store's open-handle slots while it lives (at the
//! limit while slots are held only by closes under way, it waits for one when first
//! polled, as an open would: see [`StreamSlot`]), and
//! every chunk in either direction is charged to the store's memory budget before it is
//! allocated (the read side until the reader has taken it). When the budget has no room,
//! a chunk shrinks (down to [`MIN_HELD_CHUNK`]) and then waits for room: backpressure,
//! never a failure.

use crate::bindings::types;
use crate::error::ErrorCode;
use crate::error::FsResult;
use crate::fs::held::{Held, MemBudget};
use crate::fs::{File, StreamSlot};
use crate::host::to_wit_error;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex as StdMutex, MutexGuard};
use std::task::{Context, Poll, ready};
use tokio::sync::futures::OwnedNotified;
use tokio::sync::oneshot;
use wasmtime::StoreContextMut;
use wasmtime::component::{
    Destination, Source, StreamConsumer, StreamProducer, StreamResult, VecBuffer,
};

/// Most bytes moved per pool trip (further capped by the store's `max_read_bytes` or
/// `max_write_bytes`: each chunk is one read or write call).
pub(crate) const STREAM_CHUNK: usize = 1 << 20;
/// Fewest bytes a read stream asks the pool for at a time.
const MIN_STREAM_CHUNK: usize = 64 << 10;
/// Smallest chunk a stream shrinks to when the memory budget is nearly spent.
const MIN_HELD_CHUNK: u64 = 4 << 10;

/// Charge up to `want` bytes (at least [`MIN_HELD_CHUNK`], or `want` if smaller), or arm
/// `wait` to be woken when room is given back. `Ready(None)`: room was given back while
/// trying, try again.
pub(crate) fn charge_or_wait(
    mem: &Arc<MemBudget>,
    want: u64,
    wait: &mut Option<Pin<Box<OwnedNotified>>>,
    cx: &mut Context<'_>,
) -> Poll<Option<Held>> {
    // Created before the attempt, so a release in between is not missed.
    let mut notified = Box::pin(mem.wait());
    if let Some(held) = mem.charge_up_to(want, MIN_HELD_CHUNK.min(want)) {
        *wait = None;
        return Poll::Ready(Some(held));
    }
    match notified.as_mut().poll(cx) {
        Poll::Ready(()) => Poll::Ready(None),
        Poll::Pending => {
            *wait = Some(notified);
            Poll::Pending
        }
    }
}

pub(crate) type Pending<T> = Pin<Box<dyn Future<Output = FsResult<T>> + Send>>;

/// A chunk being read, with its memory charge.
pub(crate) type ChunkRead = Pending<(Vec<u8>, Held)>;

/// Start reading `n` bytes of `file` ahead of the reader (from its position, or at `at`),
/// if the memory budget has room for them now and the file is free (see
/// [`File::read_now`]); `None` if it was not started. Started, its pool job is
/// queued by a first poll here: `Some(None)` if that poll failed at once (the store's
/// pending-operation cap, say: the next read then reads as usual and reports whatever
/// error is real), else the read to await.
pub(crate) fn start_read_ahead(
    file: &File,
    at: Option<u64>,
    n: u64,
    cx: &mut Context<'_>,
) -> Option<Option<ChunkRead>> {
    let held = file.fs().mem().charge(n).ok()?;
    let mut next: ChunkRead = Box::pin(file.read_now(at, held)?);
    Some(match next.as_mut().poll(cx) {
        Poll::Pending => Some(next),
        Poll::Ready(Ok(chunk)) => Some(Box::pin(std::future::ready(Ok(chunk)))),
        Poll::Ready(Err(_)) => None,
    })
}

/// Poll a stream's open-file `slot` from `poll_produce` / `poll_consume`: `Ok` once it is
/// held; otherwise what they return: the stream ends with the error (given to `fail`),
/// or waits for a close under way (answered `Cancelled` at once when `finish`).
pub(crate) fn poll_slot(
    slot: &mut StreamSlot,
    cx: &mut Context<'_>,
    finish: bool,
    fail: impl FnOnce(ErrorCode),
) -> Result<(), Poll<wasmtime::Result<StreamResult>>> {
    match slot.poll(cx) {
        Poll::Ready(Ok(())) => Ok(()),
        Poll::Ready(Err(e)) => {
            fail(e);
            Err(Poll::Ready(Ok(StreamResult::Dropped)))
        }
        Poll::Pending if finish => Err(Poll::Ready(Ok(StreamResult::Cancelled))),
        Poll::Pending => Err(Poll::Pending),
    }
}

/// Resolves the stream's result future; for a write stream, an error nobody waits for is
/// remembered on the file so that `close` can report it (the WIT's contract: what a read
/// stream failed to read loses no data, and is not `close`'s to report).
struct Outcome<T> {
    /// The file that remembers an unobserved error (write streams only).
    file: Option<File>,
    tx: Option<oneshot::Sender<FsResult<T>>>,
}

impl<T> Outcome<T> {
    fn new(file: &File, write: bool) -> (Self, StreamResultFuture<T>) {
        let (tx, rx) = oneshot::channel();
        let file = write.then(|| file.clone());
        let outcome = Outcome {
            file: file.clone(),
            tx: Some(tx),
        };
        (outcome, StreamResultFuture { rx, file })
    }

    fn is_finished(&self) -> bool {
        self.tx.is_none()
    }

    /// Report the result once; later calls do nothing.
    fn finish(&mut self, result: FsResult<T>) {
        let Some(tx) = self.tx.take() else { return };
        if let (Err(Err(e)), Some(file)) = (tx.send(result), &self.file) {
            file.record_unobserved_error(e);
        }
    }
}

/// The host end of `read-via-stream`: reads chunks from the file's position until EOF.
pub(crate) struct ReadStreamProducer {
    file: File,
    outcome: Outcome<()>,
    /// The chunk being read (or already read ahead), with its memory charge.
    read: Option<Pending<(Vec<u8>, Held)>>,
    /// Size of the next chunk; doubles up to [`STREAM_CHUNK`].
    next: usize,
    /// The charge of the chunk last handed to the reader, held until it asks for more.
    handed: Option<Held>,
    /// Armed while waiting for room in the memory budget.
    wait: Option<Pin<Box<OwnedNotified>>>,
    /// The store's open-handle slot this stream occupies (`None`: the stream was
    /// refused, its outcome says why).
    slot: Option<StreamSlot>,
}

/// The result future of a stream: resolves once the stream has finished (or its host end
/// was dropped, in which case the last state is reported). A write stream's future
/// dropped with an error in it that the guest never read leaves the error on the file for
/// `close` to report.
pub(crate) struct StreamResultFuture<T> {
    rx: oneshot::Receiver<FsResult<T>>,
    /// The file that remembers an unobserved error (write streams only).
    file: Option<File>,
}

impl<T> Future for StreamResultFuture<T> {
    type Output = wasmtime::Result<Result<T, types::ErrorCode>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The sender is always used before it is dropped (see `Outcome::finish` in the
        // producers' and consumers' `Drop`), so a closed channel is a host bug.
        Poll::Ready(match ready!(Pin::new(&mut self.rx).poll(cx)) {
            Ok(v) => Ok(v.map_err(to_wit_error)),
            Err(_) => Ok(Err(types::ErrorCode::Io)),
        })
    }
}

impl<T> Drop for StreamResultFuture<T> {
    fn drop(&mut self) {
        if let (Ok(Err(e)), Some(file)) = (self.rx.try_recv(), &self.file) {
            file.record_unobserved_error(e);
        }
    }
}

impl ReadStreamProducer {
    /// A producer for `file` and the future that reports how the stream ended. If the file
    /// cannot be streamed (closed, text mode, not readable) the stream is empty and the
    /// future reports why.
    pub(crate) fn new(file: File) -> (Self, StreamResultFuture<()>) {
        let (mut outcome, result) = Outcome::new(&file, false);
        let slot = file
            .stream_slot(false)
            .inspect_err(|e| outcome.finish(Err(*e)))
            .ok();
        let producer = ReadStreamProducer {
            file,
            outcome,
            read: None,
            next: 0,
            handed: None,
            wait: None,
            slot,
        };
        (producer, result)
    }

    /// The size of the next chunk; `want` is the reader's buffer size, if known.
    fn chunk_size(&mut self, want: Option<usize>) -> usize {
        let n = match self.next {
            0 => want.unwrap_or(STREAM_CHUNK),
            n => n,
        }
        .clamp(MIN_STREAM_CHUNK, STREAM_CHUNK);
        self.next = (n * 2).min(STREAM_CHUNK);
        n
    }

    /// Start reading the next chunk (`want` is the reader's buffer size, if known) once
    /// the memory budget has room for it; `Pending` while it has none.
    fn start(
        &mut self,
        want: Option<usize>,
        cx: &mut Context<'_>,
    ) -> Poll<Pending<(Vec<u8>, Held)>> {
        let mem = self.file.fs().mem().clone();
        let n = match self.next {
            0 => want.unwrap_or(STREAM_CHUNK),
            n => n,
        }
        .clamp(MIN_STREAM_CHUNK, STREAM_CHUNK);
        let held = loop {
            if let Some(held) = ready!(charge_or_wait(&mem, n as u64, &mut self.wait, cx)) {
                break held;
            }
        };
        self.chunk_size(want);
        let file = self.file.clone();
        Poll::Ready(Box::pin(async move { file.read_chunk_held(held).await }))
    }

    /// Queue the next chunk on the pool now, if the file is free and the memory budget
    /// has room; it is awaited by the next `poll_produce`.
    fn read_ahead(&mut self, cx: &mut Context<'_>) {
        let n = self.next.max(MIN_STREAM_CHUNK);
        if let Some(read) = start_read_ahead(&self.file, None, n as u64, cx) {
            self.chunk_size(Some(n));
            self.read = read;
        }
    }
}

#[cfg(test)]
impl ReadStreamProducer {
    /// Whether the charge of the chunk last handed to the reader is still held.
    pub(crate) fn holds_handed_charge(&self) -> bool {
        self.handed.is_some()
    }
}

impl Drop for ReadStreamProducer {
    fn drop(&mut self) {
        // The guest dropped the stream early: that is a normal end, not an error.
        self.outcome.finish(Ok(()));
    }
}

impl<D> StreamProducer<D> for ReadStreamProducer {
    type Item = u8;
    type Buffer = VecBuffer<u8>;

    fn poll_produce<'a>(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut store: StoreContextMut<'a, D>,
        mut dst: Destination<'a, u8, VecBuffer<u8>>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        if self.outcome.is_finished() {
            return Poll::Ready(Ok(StreamResult::Dropped));
        }
        let me = &mut *self;
        let want = dst.remaining(&mut store);
        if want == Some(0) {
            // A zero-length read only asks "are you ready"; we always are.
            return Poll::Ready(Ok(StreamResult::Completed));
        }
        if let Some(slot) = &mut me.slot
            && let Err(poll) = poll_slot(slot, cx, finish, |e| me.outcome.finish(Err(e)))
        {
            return poll;
        }
        // The reader is back for more: it has taken the last chunk (wasmtime calls again
        // only once every byte of it is taken). wasmtime keeps the chunk's buffer until
        // it is replaced, so it is freed here before its charge is given back.
        drop(dst.take_buffer());
        me.handed = None;
        if me.read.is_none() {
            if finish {
                return Poll::Ready(Ok(StreamResult::Cancelled));
            }
            me.read = Some(ready!(me.start(want, cx)));
        }
        // A started chunk is awaited even when `finish` is set: its bytes have already
        // advanced the file position and must be delivered.
        let result = ready!(me.read.as_mut().expect("set above").as_mut().poll(cx));
        me.read = None;
        Poll::Ready(Ok(match result {
            Ok((buf, _)) if buf.is_empty() => {
                me.outcome.finish(Ok(()));
                StreamResult::Dropped
            }
            Ok((buf, held)) => {
                dst.set_buffer(VecBuffer::from(buf));
                me.handed = Some(held);
                // Read ahead, so the pool reads the next chunk while the reader consumes
                // this one (a short chunk means end of file is near; the next read finds
                // it just as well).
                me.read_ahead(cx);
                StreamResult::Completed
            }
            Err(e) => {
                me.outcome.finish(Err(e));
                StreamResult::Dropped
            }
        }))
    }
}

/// The host end of `write-via-stream`: writes everything the guest sends.
///
/// It writes behind the writer, one chunk deep. A chunk that got the file to itself is
/// queued on the pool, and the guest's write completes as soon as a pool thread has
/// taken the job (from then on it runs to its end whatever happens to the stream or the
/// store), so the guest fills its next buffer while the disk takes this one. The next
/// chunk is taken only once that write has finished (backpressure): at most one accepted
/// chunk is ever in flight, and the memory budget holds at most two. A write that fails
/// after its chunk was accepted ends the stream with that error, reported by the result
/// future or, if nobody reads it, by `close`; it is recorded on the pool thread before
/// the file is released, so a `close` that waited for the write finds it. The total
/// counts only bytes that reached the file. A chunk that has to wait for the file
/// (another operation holds it) is written before the guest's write completes.
pub(crate) struct WriteStreamConsumer {
    file: File,
    /// Shared with the pool job of the chunk being written.
    shared: Arc<StdMutex<Shared>>,
    /// Bytes written so far.
    written: u64,
    /// A chunk not yet taken from the writer, being written (its length).
    write: Option<(usize, Pending<u64>)>,
    /// A chunk queued for writing behind the writer, not yet taken by a pool thread
    /// (its length): taken from the writer once it is.
    starting: Option<(usize, Pending<u64>)>,
    /// An accepted chunk being written behind the writer.
    behind: Option<Pending<u64>>,
    /// Armed while waiting for room in the memory budget.
    wait: Option<Pin<Box<OwnedNotified>>>,
    /// The store's open-handle slot this stream occupies.
    slot: Option<StreamSlot>,
}

/// What a write stream shares with the pool job writing its chunk.
struct Shared {
    outcome: Outcome<u64>,
    /// A pool thread has taken the chunk's job.
    started: bool,
    /// The stream, waiting for that.
    waker: Option<std::task::Waker>,
    /// The stream was dropped with an accepted chunk in flight: the bytes written before
    /// it, and the stream's handle slot, kept until its write has finished.
    orphan: Option<(u64, Option<StreamSlot>)>,
    /// The accepted chunk's result, if its write finished while the stream was alive
    /// (for a stream dropped before it looked).
    done: Option<FsResult<u64>>,
}

impl Shared {
    /// The pool job's side, on its thread before the file is released: an error ends the
    /// stream at once (so `close` finds it); for a dropped stream, report the total.
    fn finished(&mut self, out: &FsResult<u64>) -> Option<StreamSlot> {
        if let Err(e) = out {
            self.outcome.finish(Err(*e));
        }
        match self.orphan.take() {
            Some((written, slot)) => {
                self.outcome.finish(out.map(|n| written + n));
                slot
            }
            None => {
                self.done = Some(*out);
                None
            }
        }
    }
}

/// Lock a write stream's shared state (a panic elsewhere cannot leave it inconsistent:
/// every change is a plain assignment or `Option::take`).
fn lock(shared: &StdMutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

impl WriteStreamConsumer {
    /// A consumer for `file` (None if the file cannot be written through a stream, in which
    /// case the future already holds the error) and the future reporting the total written.
    pub(crate) fn new(file: File) -> (Option<Self>, StreamResultFuture<u64>) {
        let (mut outcome, result) = Outcome::new(&file, true);
        let slot = match file.stream_slot(true) {
            Ok(slot) => slot,
            Err(e) => {
                outcome.finish(Err(e));
                return (None, result);
            }
        };
        let shared = Shared {
            outcome,
            started: false,
            waker: None,
            orphan: None,
            done: None,
        };
        let consumer = WriteStreamConsumer {
            file,
            shared: Arc::new(StdMutex::new(shared)),
            written: 0,
            write: None,
            starting: None,
            behind: None,
            wait: None,
            slot: Some(slot),
        };
        (Some(consumer), result)
    }

    fn shared(&self) -> MutexGuard<'_, Shared> {
        lock(&self.shared)
    }

    /// Count a finished write; its error ends the stream.
    fn settle(&mut self, result: FsResult<u64>) -> StreamResult {
        match result {
            Ok(written) => {
                self.written += written;
                StreamResult::Completed
            }
            Err(e) => {
                self.shared().outcome.finish(Err(e));
                StreamResult::Dropped
            }
        }
    }

    /// Start writing `chunk` behind the writer if it gets the file to itself; otherwise
    /// hand the chunk and its charge back.
    fn start(&mut self, chunk: Vec<u8>, held: Held) -> Result<(), (Vec<u8>, Held)> {
        let n = chunk.len();
        let on_done = {
            let shared = self.shared.clone();
            move |out: &FsResult<u64>| {
                let slot = lock(&shared).finished(out);
                drop(slot);
            }
        };
        let write: Pending<u64> = Box::pin(self.file.write_chunk_now(chunk, held, on_done)?);
        {
            let mut s = self.shared();
            s.started = false;
            s.done = None;
            s.waker = None;
        }
        self.starting = Some((n, write));
        Ok(())
    }

    /// What the pool calls when a worker takes the starting chunk's job: accept it.
    fn on_start(&self) -> crate::pool::OnStart {
        let shared = self.shared.clone();
        Box::new(move || {
            let waker = {
                let mut s = lock(&shared);
                s.started = true;
                s.waker.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        })
    }
}

impl Drop for WriteStreamConsumer {
    fn drop(&mut self) {
        // The writer closed the stream: report the total, once an accepted chunk still
        // being written (if any) has finished. Its job runs whatever happens here; its
        // end reports for it (see `Shared::finished`).
        let written = self.written;
        let behind = self.behind.take();
        let mut s = lock(&self.shared);
        if behind.is_some() {
            match s.done.take() {
                Some(out) => s.outcome.finish(out.map(|n| written + n)),
                None => s.orphan = Some((written, self.slot.take())),
            }
        } else {
            s.outcome.finish(Ok(written));
        }
    }
}

impl<D> StreamConsumer<D> for WriteStreamConsumer {
    type Item = u8;

    fn poll_consume(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        store: StoreContextMut<D>,
        src: Source<u8>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        if self.shared().outcome.is_finished() {
            return Poll::Ready(Ok(StreamResult::Dropped));
        }
        let me = &mut *self;
        if let Some(slot) = &mut me.slot
            && let Err(poll) = poll_slot(slot, cx, finish, |e| {
                lock(&me.shared).outcome.finish(Err(e));
            })
        {
            return poll;
        }
        // The accepted chunk still being written comes first: nothing more is taken
        // until it has finished.
        if let Some(behind) = me.behind.as_mut() {
            let Poll::Ready(result) = behind.as_mut().poll(cx) else {
                return match finish {
                    true => Poll::Ready(Ok(StreamResult::Cancelled)),
                    false => Poll::Pending,
                };
            };
            me.behind = None;
            if let StreamResult::Dropped = me.settle(result) {
                return Poll::Ready(Ok(StreamResult::Dropped));
            }
        }
        let mut src = src.as_direct(store);
        if me.write.is_none() && me.starting.is_none() {
            let remaining = src.remaining();
            if remaining.is_empty() {
                return Poll::Ready(Ok(StreamResult::Completed));
            }
            if finish {
                return Poll::Ready(Ok(StreamResult::Cancelled));
            }
            // Charge the chunk before copying it out of the guest (shrinking it, or
            // waiting, when the budget is nearly spent). A chunk is one write call, so
            // it keeps to `max_write_bytes` (at least one byte: under a limit of 0 the
            // write is refused with `quota` instead of the stream spinning on nothing).
            let mem = me.file.fs().mem().clone();
            let per_call = me.file.fs().limits().max_write_bytes.max(1);
            let want = (remaining.len().min(STREAM_CHUNK) as u64).min(per_call);
            let held = loop {
                if let Some(held) = ready!(charge_or_wait(&mem, want, &mut me.wait, cx)) {
                    break held;
                }
            };
            let n = held.bytes() as usize;
            let chunk = remaining[..n].to_vec();
            if let Err((chunk, held)) = me.start(chunk, held) {
                // Another operation holds the file: the guest waits for this chunk.
                let file = me.file.clone();
                let write = async move { file.write_chunk_held(chunk, held).await };
                me.write = Some((n, Box::pin(write)));
            }
        }
        // A chunk queued behind the writer is accepted once a pool thread has taken it
        // (it is then written whatever happens); until then the guest waits, even when
        // `finish` is set (the job may be taken at any moment).
        let on_start = me.starting.is_some().then(|| me.on_start());
        if let (Some((n, starting)), Some(on_start)) = (me.starting.as_mut(), on_start) {
            let n = *n;
            // Whichever poll queues the job (the first, after every check and
            // reservation) leaves it the start callback.
            let polled = crate::pool::on_start(on_start, || starting.as_mut().poll(cx));
            if let Poll::Ready(result) = polled {
                me.starting = None;
                if result.is_ok() {
                    src.mark_read(n);
                }
                return Poll::Ready(Ok(me.settle(result)));
            }
            let mut s = lock(&me.shared);
            if !s.started {
                s.waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            drop(s);
            src.mark_read(n);
            me.behind = me.starting.take().map(|(_, write)| write);
            return Poll::Ready(Ok(StreamResult::Completed));
        }
        // The guest's write completes only once its bytes are on the file (backpressure),
        // so a started chunk is awaited even when `finish` is set.
        let Some((n, pending)) = me.write.as_mut() else {
            return Poll::Ready(Ok(StreamResult::Completed));
        };
        let n = *n;
        let result = ready!(pending.as_mut().poll(cx));
        me.write = None;
        if result.is_ok() {
            src.mark_read(n);
        }
        Poll::Ready(Ok(me.settle(result)))
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
