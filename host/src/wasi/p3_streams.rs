//! `stream<u8>` and `stream<directory-entry>` adapters for `wasi:filesystem@0.3`.
//!
//! As for 0.2 and `aiofs:fs`: each chunk is one domain operation ([`File::read_at`],
//! [`File::write_at`], [`Fs::scandir`](crate::fs::Fs::scandir)) on the pool, with the same
//! limits and budgets; read streams read ahead in chunks growing from 64 KiB to 1 MiB. A
//! chunk that has started is always awaited, so what the guest sees matches the file.
//! As every file stream, each holds one of the store's open-handle slots, and its chunks
//! are charged to the store's memory budget before they are read or copied out of the
//! guest (a read chunk until the reader takes it), shrinking and then waiting for room
//! when the budget is nearly spent, never failing with `quota` for it.
//!
//! The calls that make these streams return at once, so a stream takes its slot when it
//! is made if one is free; at `max_open_files` while slots are held only by closes of
//! dropped handles still under way, it is made anyway and waits for its slot when first
//! polled (see [`StreamSlot`]), as an open would, instead of failing with `quota`.

use super::p2::DirState;
use super::p3::{WasiDirEntry, WasiError, dir_entry, to_wasi_error};
use crate::error::FsResult;
use crate::fs::held::Held;
use crate::fs::{self, Directory, File, StreamSlot};
use crate::stream::{Pending, charge_or_wait, poll_slot, start_read_ahead};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::sync::futures::OwnedNotified;
use tokio::sync::oneshot;
use wasmtime::StoreContextMut;
use wasmtime::component::{
    Destination, Source, StreamConsumer, StreamProducer, StreamResult, VecBuffer,
};

/// Most bytes moved per pool trip (further capped by the store's limits).
const MAX_CHUNK: usize = 1 << 20;
/// Fewest bytes a read stream asks the pool for at a time.
const MIN_CHUNK: usize = 64 << 10;

/// Sends the stream's result once (`Ok` when the stream simply ends or is dropped).
struct Outcome(Option<oneshot::Sender<Result<(), WasiError>>>);

impl Outcome {
    fn finish(&mut self, r: FsResult<()>) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(r.map_err(to_wasi_error));
        }
    }
    fn is_finished(&self) -> bool {
        self.0.is_none()
    }
}

impl Drop for Outcome {
    fn drop(&mut self) {
        self.finish(Ok(()));
    }
}

/// The host end of `read-via-stream(offset)`.
pub(crate) struct ReadProducer {
    file: File,
    offset: u64,
    next: usize,
    read: Option<Pending<(Vec<u8>, Held)>>,
    /// The charge of the chunk last handed to the reader, held until it asks for more.
    handed: Option<Held>,
    /// Armed while waiting for room in the memory budget.
    wait: Option<Pin<Box<OwnedNotified>>>,
    outcome: Outcome,
    /// The store's open-handle slot this stream occupies.
    slot: StreamSlot,
}

impl ReadProducer {
    pub(crate) fn new(
        file: File,
        offset: u64,
        slot: StreamSlot,
        tx: oneshot::Sender<Result<(), WasiError>>,
    ) -> Self {
        ReadProducer {
            file,
            offset,
            next: MIN_CHUNK,
            read: None,
            handed: None,
            wait: None,
            outcome: Outcome(Some(tx)),
            slot,
        }
    }

    /// The size of the next chunk (`want`: the reader's buffer size, if known).
    fn chunk_size(&mut self, want: Option<usize>) -> u64 {
        let n = want.unwrap_or(0).clamp(self.next, MAX_CHUNK);
        self.next = (n * 2).min(MAX_CHUNK);
        n as u64
    }

    /// Read the chunk at the current offset, charged with `held` (which caps it).
    fn read(&self, held: Held) -> Pending<(Vec<u8>, Held)> {
        let (file, offset) = (self.file.clone(), self.offset);
        Box::pin(async move { file.read_at_held(offset, held).await })
    }

    /// Start reading the chunk at the current offset once the memory budget has room for
    /// it (it shrinks when the budget is nearly spent); `Pending` while it has none.
    fn start(
        &mut self,
        want: Option<usize>,
        cx: &mut Context<'_>,
    ) -> Poll<Pending<(Vec<u8>, Held)>> {
        let mem = self.file.fs().mem().clone();
        let n = want.unwrap_or(0).clamp(self.next, MAX_CHUNK) as u64;
        let held = loop {
            if let Some(held) = ready!(charge_or_wait(&mem, n, &mut self.wait, cx)) {
                break held;
            }
        };
        self.chunk_size(want);
        Poll::Ready(self.read(held))
    }

    /// Queue the next chunk while the guest takes this one, if the file is free (no other
    /// operation holds or waits for it) and the memory budget has room for it now;
    /// otherwise the next `poll_produce` reads as usual. A read-ahead is polled again only
    /// when the reader comes back, so one that waited for the file would hold it, once
    /// its turn came, from every later operation of the file until then.
    fn read_ahead(&mut self, cx: &mut Context<'_>) {
        let n = self.next as u64;
        if let Some(read) = start_read_ahead(&self.file, Some(self.offset), n, cx) {
            self.chunk_size(None);
            self.read = read;
        }
    }
}

impl<D> StreamProducer<D> for ReadProducer {
    type Item = u8;
    type Buffer = VecBuffer<u8>;

    fn poll_produce<'a>(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut store: StoreContextMut<'a, D>,
        mut dst: Destination<'a, u8, VecBuffer<u8>>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let me = &mut *self;
        if me.outcome.is_finished() {
            return Poll::Ready(Ok(StreamResult::Dropped));
        }
        let want = dst.remaining(&mut store);
        if want == Some(0) {
            return Poll::Ready(Ok(StreamResult::Completed));
        }
        if let Err(poll) = poll_slot(&mut me.slot, cx, finish, |e| me.outcome.finish(Err(e))) {
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
        // A started chunk is awaited even when `finish` is set: its bytes decide the
        // offset of the next one.
        let result = ready!(me.read.as_mut().expect("set above").as_mut().poll(cx));
        me.read = None;
        Poll::Ready(Ok(match result {
            Ok((buf, _)) if buf.is_empty() => {
                me.outcome.finish(Ok(()));
                StreamResult::Dropped
            }
            Ok((buf, held)) => {
                me.offset += buf.len() as u64;
                me.handed = Some(held);
                dst.set_buffer(VecBuffer::from(buf));
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

/// The host end of `write-via-stream(offset)` (`Some`) and `append-via-stream` (`None`).
pub(crate) struct WriteConsumer {
    file: File,
    offset: Option<u64>,
    write: Option<(usize, Pending<u64>)>,
    outcome: Outcome,
    /// Armed while waiting for room in the memory budget.
    wait: Option<Pin<Box<OwnedNotified>>>,
    /// The store's open-handle slot this stream occupies.
    slot: StreamSlot,
}

impl WriteConsumer {
    pub(crate) fn new(
        file: File,
        offset: Option<u64>,
        slot: StreamSlot,
        tx: oneshot::Sender<Result<(), WasiError>>,
    ) -> Self {
        WriteConsumer {
            file,
            offset,
            write: None,
            outcome: Outcome(Some(tx)),
            wait: None,
            slot,
        }
    }
}

impl<D> StreamConsumer<D> for WriteConsumer {
    type Item = u8;

    fn poll_consume(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        store: StoreContextMut<D>,
        src: Source<u8>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let me = &mut *self;
        if me.outcome.is_finished() {
            return Poll::Ready(Ok(StreamResult::Dropped));
        }
        let mut src = src.as_direct(store);
        if me.write.is_none() {
            let remaining = src.remaining();
            if remaining.is_empty() {
                return Poll::Ready(Ok(StreamResult::Completed));
            }
            if finish {
                return Poll::Ready(Ok(StreamResult::Cancelled));
            }
            if let Err(poll) = poll_slot(&mut me.slot, cx, finish, |e| me.outcome.finish(Err(e))) {
                return poll;
            }
            let limit = usize::try_from(me.file.write_limit()).unwrap_or(usize::MAX);
            let want = remaining.len().min(MAX_CHUNK).min(limit.max(1)) as u64;
            // Charge the chunk before copying it out of the guest (shrinking it, or
            // waiting, when the budget is nearly spent).
            let mem = me.file.fs().mem().clone();
            let held = loop {
                if let Some(held) = ready!(charge_or_wait(&mem, want, &mut me.wait, cx)) {
                    break held;
                }
            };
            let n = held.bytes() as usize;
            let chunk = remaining[..n].to_vec();
            let (file, offset) = (me.file.clone(), me.offset);
            me.write = Some((
                n,
                Box::pin(async move { file.write_at_held(offset, chunk, Some(held)).await }),
            ));
        }
        // The guest's write completes once its bytes are in the file (backpressure), so a
        // started chunk is awaited even when `finish` is set.
        let (n, pending) = me.write.as_mut().expect("set above");
        let n = *n;
        let result = ready!(pending.as_mut().poll(cx));
        me.write = None;
        Poll::Ready(Ok(match result {
            Ok(_) => {
                src.mark_read(n);
                if let Some(at) = &mut me.offset {
                    *at += n as u64;
                }
                StreamResult::Completed
            }
            Err(e) => {
                me.outcome.finish(Err(e));
                StreamResult::Dropped
            }
        }))
    }
}

/// The host end of `read-directory`: one listing (one pool trip), then its entries.
pub(crate) struct DirProducer {
    dir: Directory,
    list: Option<Pending<(fs::Stat, Vec<fs::DirEntry>, Held)>>,
    listed: DirState,
    done: bool,
    outcome: Outcome,
    /// The listing's charge to the memory budget, held while the reader takes it.
    listing: Option<Held>,
    /// The open-handle slot a directory stream occupies, as a file stream does.
    slot: StreamSlot,
}

impl DirProducer {
    pub(crate) fn new(
        dir: Directory,
        listed: DirState,
        slot: StreamSlot,
        tx: oneshot::Sender<Result<(), WasiError>>,
    ) -> Self {
        let lister = dir.clone();
        let list: Pending<(fs::Stat, Vec<fs::DirEntry>, Held)> = Box::pin(async move {
            let here = lister.fs().stat(".".into(), true).await?;
            let (entries, held) = lister.fs().scandir_held(".".into(), false).await?;
            Ok((here, entries, held))
        });
        DirProducer {
            dir,
            list: Some(list),
            listed,
            done: false,
            outcome: Outcome(Some(tx)),
            listing: None,
            slot,
        }
    }
}

impl<D> StreamProducer<D> for DirProducer {
    type Item = WasiDirEntry;
    type Buffer = VecBuffer<WasiDirEntry>;

    fn poll_produce<'a>(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        _store: StoreContextMut<'a, D>,
        mut dst: Destination<'a, WasiDirEntry, VecBuffer<WasiDirEntry>>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let me = &mut *self;
        if me.done || me.outcome.is_finished() {
            me.outcome.finish(Ok(()));
            return Poll::Ready(Ok(StreamResult::Dropped));
        }
        if let Err(poll) = poll_slot(&mut me.slot, cx, finish, |e| me.outcome.finish(Err(e))) {
            return poll;
        }
        let Some(list) = me.list.as_mut() else {
            return Poll::Ready(Ok(StreamResult::Dropped));
        };
        let result = match list.as_mut().poll(cx) {
            Poll::Pending if finish => return Poll::Ready(Ok(StreamResult::Cancelled)),
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        me.list = None;
        Poll::Ready(Ok(match result {
            Ok((here, entries, held)) => {
                me.listed.remember(me.dir.fs(), here.device, &entries);
                me.listing = Some(held);
                let entries: Vec<WasiDirEntry> = entries.into_iter().map(dir_entry).collect();
                me.done = true;
                if entries.is_empty() {
                    me.outcome.finish(Ok(()));
                    StreamResult::Dropped
                } else {
                    dst.set_buffer(VecBuffer::from(entries));
                    StreamResult::Completed
                }
            }
            Err(e) => {
                me.outcome.finish(Err(e));
                StreamResult::Dropped
            }
        }))
    }
}

#[cfg(test)]
#[path = "p3_governance_tests.rs"]
mod governance_tests;
