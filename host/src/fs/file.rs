//! The open-file handle of the domain layer.
//!
//! A [`File`] is a cheap handle on shared state: the descriptor, its [`OpenMode`], the guest
//! name, and an async mutex around the [`Cursor`] (position and read-ahead buffer). Every
//! operation takes the mutex first (`lock_owned`, FIFO, so operations of one file run one at
//! a time in the order issued), checks the mode, and then moves the guard into one closure
//! that runs on the pool through [`Fs::blocking`]. If the caller drops the future while the
//! operation is still queued (waiting for the lock or for a pool thread), the closure is
//! dropped unrun and the state is untouched, so nothing is lost.
//!
//! Reads and writes happen at the stored position, never wherever the OS cursor was left:
//! writes use `pwrite`; reads move the OS cursor to the position first and then `read`
//! straight into the result's spare capacity (`pread` would need the buffer zero-filled
//! first). In append mode writes go through the `O_APPEND` descriptor's own cursor (the
//! kernel puts them at the end) and the position becomes the end afterwards.
//!
//! Line and text reads go through a read-ahead buffer kept across calls (see the `cursor`
//! module); writes, seeks and truncation discard it.
//!
//! Invalid UTF-8 never consumes anything. Where a call may return less than asked, it
//! returns the text before the bad bytes and the *next* call fails at them:
//! `read_text(n)` returns the valid characters before them, `read_lines_text` the whole
//! lines before the bad line. `read_line_text` and `read_all_text` fail outright with
//! `illegal-byte-sequence`. Either way `tell` then points at the start of the bad bytes
//! (or of the line holding them).

use super::held::{HeapSize, Held, MemBudget};
use super::{Fs, OpenMode, PendingSlot, Stat};
use crate::error::{ErrorCode, FsResult};
use crate::grant::Budget;
use crate::limits::Limits;
use crate::obs::OpKind;
use std::fs::File as StdFile;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use tokio::sync::{Mutex, OwnedMutexGuard};

mod close;
mod cursor;
pub(crate) mod handle;
mod position;
mod positional;
mod streams;
mod text;

#[cfg(test)]
pub(crate) use cursor::IDLE_BUFFER;
use cursor::{Cursor, READ_AHEAD, translate_newlines};
pub(crate) use handle::Handle;

/// Reads that may return at most this many bytes are charged that much up front; larger
/// ones are first bounded by what is left of the file (one `fstat`).
const SMALL_READ: u64 = 1 << 20;
/// Room past the end of the file a text read may look at to finish a character.
const TEXT_SLACK: u64 = 4;

/// An open file. Cheap to clone (clones share the handle, position and state). Operations
/// on one file are serialised in the order issued; each is one trip to the pool. The OS
/// descriptor is closed on the pool when `close` is called or the last clone is dropped;
/// a named temporary file with `delete` is removed then as well.
#[derive(Clone)]
pub struct File {
    inner: Arc<Inner>,
}

/// What every clone of a [`File`] shares.
struct Inner {
    /// The store: limits, pool, and the pending-operation choke point.
    fs: Fs,
    /// The budgets of the grant the file lives in (bytes read and written, file size).
    budget: Arc<Budget>,
    /// The guest path the file was opened with.
    name: String,
    /// The mode it was opened with.
    mode: OpenMode,
    /// Whether small operations on it may be tried on the caller's thread: its grant
    /// allows it and the file itself is on a local filesystem (a mount beneath the grant
    /// root may not be).
    cached_io: bool,
    /// Set when `close` has taken effect; readable without the lock.
    closed: Arc<AtomicBool>,
    /// The first error nobody observed (a write stream whose future was dropped).
    unobserved: StdMutex<Option<ErrorCode>>,
    /// Everything operations mutate; held across the pool trip of one operation.
    state: Arc<Mutex<State>>,
}

/// The locked part of a file.
struct State {
    /// The descriptor and what goes with it; `None` once closed.
    open: Option<Open>,
    /// Position and read-ahead.
    cur: Cursor,
}

/// An open descriptor and the things released with it.
struct Open {
    file: Handle,
    /// The store's open-file reservation; dropping it releases the slot.
    slot: Box<dyn Send>,
    /// Runs on the pool after the descriptor is closed (NamedTemporaryFile delete).
    on_close: Option<Box<dyn FnOnce() + Send>>,
    /// Where a descriptor dropped without `close` is closed (in the store's turn).
    fs: Fs,
    /// Whether closing may be tried on the caller's thread: a host file opened read-only,
    /// with no close hook, of a grant that allows cached operations.
    cheap_close: bool,
}

/// Run `f` on an open file's cursor and handle (`bad-descriptor` once closed), then trim
/// the read-ahead buffer.
fn apply<T>(
    state: &mut State,
    limits: &Limits,
    f: impl FnOnce(&mut Cursor, &Handle, &Limits) -> FsResult<T>,
) -> FsResult<T> {
    let open = state.open.as_ref().ok_or(ErrorCode::BadDescriptor)?;
    let out = f(&mut state.cur, &open.file, limits);
    state.cur.trim();
    out
}

/// Where a write lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// At the position.
    Cursor,
    /// At the end of the file (append mode, or a positional append).
    End,
    /// At this offset (a positional write).
    At(u64),
}

/// What an operation needs from the mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Only an open file.
    Open,
    /// A binary file opened for reading.
    ReadBytes,
    /// A binary file opened for writing.
    WriteBytes,
    /// A text file opened for reading.
    ReadText,
    /// A text file opened for writing.
    WriteText,
    /// Any file opened for writing (`truncate`).
    Write,
}

impl std::fmt::Debug for File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("File")
            .field("name", &self.inner.name)
            .field("mode", &self.inner.mode)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl File {
    /// Wrap an opened descriptor. `slot` is the store's open-file reservation (dropping it
    /// releases the slot); `on_close` runs on the pool after the descriptor is closed. In
    /// append mode the descriptor must have `O_APPEND`; the position starts at the end.
    #[cfg(test)]
    pub(crate) fn new(
        fs: &Fs,
        file: StdFile,
        name: String,
        mode: OpenMode,
        slot: impl Send + 'static,
        on_close: Option<Box<dyn FnOnce() + Send>>,
    ) -> File {
        File::new_in(fs, Arc::default(), file, name, mode, slot, on_close, false)
    }

    /// Like [`File::new`], for a file whose reads and writes count against `budget`;
    /// `cached_io`: small operations on it may be tried on the caller's thread (its grant
    /// allows it, and [`cached::local_file`](super::cached::local_file) said yes or the
    /// file was opened from the caches, which never cross a mount).
    #[allow(
        clippy::too_many_arguments,
        reason = "the parts of a file, each needed"
    )]
    pub(crate) fn new_in(
        fs: &Fs,
        budget: Arc<Budget>,
        file: StdFile,
        name: String,
        mode: OpenMode,
        slot: impl Send + 'static,
        on_close: Option<Box<dyn FnOnce() + Send>>,
        cached_io: bool,
    ) -> File {
        let cached_io = cached_io && budget.cached_io();
        let mut out =
            File::with_handle(fs, budget, Handle::Local(file), name, mode, slot, on_close);
        out.allow_cached_io(cached_io);
        out
    }

    /// Set whether small operations may be tried on the caller's thread (right after
    /// construction, before the handle is shared).
    fn allow_cached_io(&mut self, on: bool) {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.cached_io = on;
            if let Some(open) =
                Arc::get_mut(&mut inner.state).and_then(|s| s.get_mut().open.as_mut())
            {
                open.cheap_close = on && open.cheap_close;
            }
        }
    }

    /// Like [`File::new_in`], for any storage.
    pub(crate) fn with_handle(
        fs: &Fs,
        budget: Arc<Budget>,
        file: Handle,
        name: String,
        mode: OpenMode,
        slot: impl Send + 'static,
        on_close: Option<Box<dyn FnOnce() + Send>>,
    ) -> File {
        let chunk = match file {
            Handle::Local(_) => READ_AHEAD,
            // A request costs a round trip: read ahead as much as a file keeps when idle.
            #[cfg(feature = "object")]
            Handle::Object(_) => cursor::OBJECT_READ_AHEAD,
        };
        // Only if the file's own `cached_io` allows it too (`new_in`).
        let cheap_close = !mode.write && on_close.is_none() && file.as_local().is_some();
        let open = Open {
            file,
            slot: Box::new(slot),
            on_close,
            fs: fs.clone(),
            cheap_close,
        };
        let cur = Cursor::new(mode.append, chunk, fs.mem().empty());
        File {
            inner: Arc::new(Inner {
                fs: fs.clone(),
                budget,
                name,
                mode,
                cached_io: false,
                closed: Arc::new(AtomicBool::new(false)),
                unobserved: StdMutex::new(None),
                state: Arc::new(Mutex::new(State {
                    open: Some(open),
                    cur,
                })),
            }),
        }
    }

    /// Check `need` against the mode and the closed state. Closed wins, then the kind of
    /// file (text/binary: `invalid`), then the direction (`bad-descriptor`).
    fn check(&self, open: bool, need: Need) -> FsResult<()> {
        let mode = &self.inner.mode;
        if !open {
            return Err(ErrorCode::BadDescriptor);
        }
        let (text, read, write) = match need {
            Need::Open => return Ok(()),
            Need::Write => (None, false, true),
            Need::ReadBytes => (Some(false), true, false),
            Need::WriteBytes => (Some(false), false, true),
            Need::ReadText => (Some(true), true, false),
            Need::WriteText => (Some(true), false, true),
        };
        if text.is_some_and(|t| t != mode.text) {
            return Err(ErrorCode::Invalid);
        }
        if (read && !mode.read) || (write && !mode.write) {
            return Err(ErrorCode::BadDescriptor);
        }
        Ok(())
    }

    /// Wait for every earlier operation, then check `need`.
    async fn lock(&self, need: Need) -> FsResult<OwnedMutexGuard<State>> {
        let guard = self.inner.state.clone().lock_owned().await;
        self.check(guard.open.is_some(), need)?;
        Ok(guard)
    }

    /// Run `f` on the pool with the locked state (the guard moves into the closure, so the
    /// next operation starts only after this one has finished or was dropped unrun). The
    /// pending-operation `slot` was taken before waiting for the lock.
    async fn run<T, F>(
        &self,
        slot: PendingSlot<'_>,
        mut guard: OwnedMutexGuard<State>,
        f: F,
    ) -> FsResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Cursor, &Handle, &Limits) -> FsResult<T> + Send + 'static,
    {
        let limits = self.inner.fs.limits.clone();
        self.inner
            .fs
            .blocking_admitted(slot, move || apply(&mut guard, &limits, f))
            .await
    }

    /// [`File::run`], but first tried right here from the kernel's caches (see
    /// [`Fs::quick`]) when the file is a host file of a grant that allows it. For reads.
    async fn run_quick<T, F>(
        &self,
        slot: PendingSlot<'_>,
        mut guard: OwnedMutexGuard<State>,
        cached: bool,
        mut f: F,
    ) -> FsResult<T>
    where
        T: Send + 'static,
        F: FnMut(&mut Cursor, &Handle, &Limits) -> FsResult<T> + Send + 'static,
    {
        let local = guard
            .open
            .as_ref()
            .is_some_and(|o| o.file.as_local().is_some());
        let fs = &self.inner.fs;
        let cached = cached && local && self.inner.cached_io;
        let mark = guard.cur.mark();
        crate::fs::yield_turn(cached).await;
        if let Some(out) = fs.inline(cached, || apply(&mut guard, &fs.limits, &mut f)) {
            drop(slot);
            return out;
        }
        // The attempt gave up: what it consumed is read again on the pool.
        guard.cur.rewind(mark);
        self.run(slot, guard, f).await
    }

    /// Admission, then the file's turn: a cheap early check of `need`, a pending-operation
    /// slot (`quota` at the cap), then wait for every earlier operation of the file.
    async fn enter(&self, need: Need) -> FsResult<(PendingSlot<'_>, OwnedMutexGuard<State>)> {
        self.check(!self.is_closed(), need)?;
        let slot = self.inner.fs.admit()?;
        let guard = self.lock(need).await?;
        Ok((slot, guard))
    }

    /// Enter and run in one go (operations that are not reads or writes).
    async fn op<T, F>(&self, need: Need, f: F) -> FsResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Cursor, &Handle, &Limits) -> FsResult<T> + Send + 'static,
    {
        let (slot, guard) = self.enter(need).await?;
        self.run(slot, guard, f).await
    }

    /// Enter and run a read that returns at most `hint` bytes (by its arguments).
    async fn read_op<T, F>(&self, need: Need, hint: u64, f: F) -> FsResult<T>
    where
        T: HeapSize + Send + 'static,
        F: FnMut(&mut Cursor, &Handle, &Limits) -> FsResult<T> + Send + 'static,
    {
        let (slot, guard) = self.enter(need).await?;
        self.run_read(slot, guard, hint, None, None, f).await
    }

    /// [`File::read_op`] for a read of at most `max` lines (capped by
    /// `max_lines_per_call`): the lines' heap cost is charged with their bytes (see
    /// [`charge_lines`]), and the closure's `max_lines_per_call` is how many that covers.
    async fn read_lines_op<T, F>(&self, need: Need, max: u32, f: F) -> FsResult<T>
    where
        T: HeapSize + Send + 'static,
        F: FnMut(&mut Cursor, &Handle, &Limits) -> FsResult<T> + Send + 'static,
    {
        let max = max.min(self.inner.fs.limits().max_lines_per_call);
        let (slot, guard) = self.enter(need).await?;
        let (out, _held) = self
            .run_read_held(slot, guard, u64::MAX, None, Some(max), None, f)
            .await?;
        Ok(out)
    }

    /// [`File::run`] for a read, under the grant's read budget and the store's memory
    /// budget. The read's per-call byte limit shrinks to what is left of the read budget
    /// (`quota` if nothing is), to `hint`, and (for large reads) to what is left of the
    /// file; that many bytes are charged to the memory budget before reading (`quota` if
    /// they do not fit; a stream passes its own charge as `preset`), cut to the result's
    /// real size after, and held until the result is returned. The read pays the grant
    /// for the bytes it consumed from the file. A positional read (`at`, which does not
    /// move the position) is bounded by what is left of the file after `at` and pays for
    /// the bytes it returns.
    #[allow(
        clippy::too_many_arguments,
        reason = "internal plumbing of one read path"
    )]
    async fn run_read<T, F>(
        &self,
        slot: PendingSlot<'_>,
        guard: OwnedMutexGuard<State>,
        hint: u64,
        at: Option<u64>,
        preset: Option<Held>,
        f: F,
    ) -> FsResult<T>
    where
        T: HeapSize + Send + 'static,
        F: FnMut(&mut Cursor, &Handle, &Limits) -> FsResult<T> + Send + 'static,
    {
        let (out, _held) = self
            .run_read_held(slot, guard, hint, at, None, preset, f)
            .await?;
        Ok(out)
    }

    /// [`File::run_read`], handing back the result's charge with it. `lines`: the result
    /// is a list of at most that many lines (see [`File::read_lines_op`]).
    #[allow(
        clippy::too_many_arguments,
        reason = "internal plumbing of one read path"
    )]
    async fn run_read_held<T, F>(
        &self,
        slot: PendingSlot<'_>,
        guard: OwnedMutexGuard<State>,
        hint: u64,
        at: Option<u64>,
        lines: Option<u32>,
        preset: Option<Held>,
        mut f: F,
    ) -> FsResult<(T, Held)>
    where
        T: HeapSize + Send + 'static,
        F: FnMut(&mut Cursor, &Handle, &Limits) -> FsResult<T> + Send + 'static,
    {
        let budget = self.inner.budget.clone();
        budget.precheck_read()?;
        let mem = self.inner.fs.mem().clone();
        // A stream's read brings its own charge: it runs on the pool only, so that a
        // blocked attempt cannot give that charge back.
        let cached = preset.is_none();
        let mut preset = preset;
        self.run_quick(slot, guard, cached, move |cur, file, limits| {
            let before = cur.resolve(file)?;
            let lease = budget.read_up_to(limits.max_read_bytes)?;
            let mut cap = lease.taken().min(hint);
            if cap > SMALL_READ {
                let left = file.len()?.saturating_sub(at.unwrap_or(before));
                cap = cap.min(left.saturating_add(TEXT_SLACK));
            }
            let mut limits = limits.clone();
            let mut held = match (preset.take(), lines) {
                (Some(held), _) => {
                    cap = cap.min(held.bytes());
                    held
                }
                (None, None) => mem.charge(cap)?,
                (None, Some(max)) => {
                    let (held, fit) = charge_lines(&mem, cap, max)?;
                    limits.max_lines_per_call = fit;
                    held
                }
            };
            limits.max_read_bytes = cap;
            let result = f(cur, file, &limits);
            if crate::fs::cached::blocked() {
                // Given up: nothing is paid, the cursor is rewound, the pool reads again.
                return Err(ErrorCode::Io);
            }
            let out = match at {
                None => {
                    lease.settle(cur.pos.saturating_sub(before));
                    result?
                }
                Some(_) => {
                    let out = result?;
                    lease.settle(out.heap_size());
                    out
                }
            };
            held.settle(out.heap_size());
            Ok((out, held))
        })
        .await
    }

    /// Enter and run a write of `len` bytes (see [`File::run_write`]). The payload is
    /// charged to the memory budget before waiting for anything (a stream passes its own
    /// charge as `preset`).
    async fn write_op<T, F>(
        &self,
        need: Need,
        len: usize,
        preset: Option<Held>,
        f: F,
    ) -> FsResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Cursor, &Handle, &Limits) -> FsResult<T> + Send + 'static,
    {
        self.check(!self.is_closed(), need)?;
        self.precheck_write(len)?;
        let held = match preset {
            Some(held) => held,
            None => self.inner.fs.charge(len as u64)?,
        };
        let (slot, guard) = self.enter(need).await?;
        self.run_write(slot, guard, len, self.write_place(), held, f, |_| {})
            .await
    }

    /// Where a write at the position goes: the end in append mode.
    fn write_place(&self) -> Place {
        if self.inner.mode.append {
            Place::End
        } else {
            Place::Cursor
        }
    }

    /// The checks every write of `len` bytes passes before it is queued.
    fn precheck_write(&self, len: usize) -> FsResult<()> {
        self.check_write_len(len)?;
        self.inner.budget.precheck_write(len as u64)
    }

    /// [`File::run`] for a write of `len` bytes, under the grant's budgets: refused before
    /// anything is queued when it cannot fit, then paid for on the pool before writing
    /// (all or nothing; given back if the write fails or never runs), and refused with
    /// `file-too-large` if the file would outgrow `max_file_size` (counting every other
    /// write in flight on the same file, so concurrent writers cannot overshoot it).
    /// The result is handed to `report` on the pool thread before the file is released:
    /// whoever it is for learns of it before the file's next operation (its `close`) can
    /// start.
    #[allow(
        clippy::too_many_arguments,
        reason = "internal plumbing of one write path"
    )]
    async fn run_write<T, F, R>(
        &self,
        slot: PendingSlot<'_>,
        guard: OwnedMutexGuard<State>,
        len: usize,
        place: Place,
        held: Held,
        f: F,
        report: R,
    ) -> FsResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Cursor, &Handle, &Limits) -> FsResult<T> + Send + 'static,
        R: FnOnce(&FsResult<T>) + Send + 'static,
    {
        let budget = self.inner.budget.clone();
        let counters = self.inner.fs.counters.clone();
        let len = len as u64;
        self.run(slot, guard, move |cur, file, limits| {
            let _payload = held;
            let out = (|| {
                let _growth = match budget.quota().max_file_size {
                    Some(max) => {
                        let pos = match place {
                            Place::End => None,
                            Place::At(at) => Some(at),
                            Place::Cursor => Some(cur.resolve(file)?),
                        };
                        counters
                            .growth
                            .reserve_on(file, max, len, |size| match pos {
                                None => size.saturating_add(len),
                                Some(pos) => size.max(pos.saturating_add(len)),
                            })?
                    }
                    None => None,
                };
                let paid = budget.write(len)?;
                let out = f(cur, file, limits)?;
                paid.keep();
                Ok(out)
            })();
            report(&out);
            out
        })
        .await
    }

    /// `Quota` if `len` bytes are more than one write call may carry.
    fn check_write_len(&self, len: usize) -> FsResult<()> {
        if u64::try_from(len).unwrap_or(u64::MAX) > self.inner.fs.limits().max_write_bytes {
            return Err(ErrorCode::Quota);
        }
        Ok(())
    }

    /// Check the mode and the write limit, write `data`, and return its length.
    async fn write_bytes(&self, need: Need, data: Vec<u8>, preset: Option<Held>) -> FsResult<u64> {
        let len = data.len();
        self.write_op(need, len, preset, self.writer(data)).await
    }

    /// The pool half of a write of `data` at the position: write it all, return its length.
    fn writer(
        &self,
        data: Vec<u8>,
    ) -> impl FnOnce(&mut Cursor, &Handle, &Limits) -> FsResult<u64> + Send + 'static {
        let append = self.inner.mode.append;
        move |cur, file, _| {
            cur.write(file, &data, append)?;
            Ok(data.len() as u64)
        }
    }
}

#[allow(
    missing_docs,
    reason = "each method is documented in wit/aiofs.wit under the same name"
)]
impl File {
    pub fn name(&self) -> &str {
        &self.inner.name
    }
    pub fn mode(&self) -> String {
        self.inner.mode.canonical()
    }
    pub fn is_text(&self) -> bool {
        self.inner.mode.text
    }
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }
    /// The store this file belongs to.
    pub fn fs(&self) -> &Fs {
        &self.inner.fs
    }
    /// Whether reads of this file are not metered by a per-grant read quota (so a read
    /// within `max_read_bytes` that returns fewer bytes than asked reached the end of the
    /// file).
    pub(crate) fn reads_unmetered(&self) -> bool {
        self.inner.budget.quota().max_bytes_read.is_none()
    }

    pub async fn read(&self, n: u64) -> FsResult<Vec<u8>> {
        self.observe(OpKind::Read)
            .run(async {
                self.read_op(Need::ReadBytes, n, move |cur, file, limits| {
                    Ok(cur.read_bytes(file, clamp(n, limits.max_read_bytes))?)
                })
                .await
            })
            .await
    }
    pub async fn read_all(&self) -> FsResult<Vec<u8>> {
        self.observe(OpKind::Read)
            .run(async {
                self.read_op(Need::ReadBytes, u64::MAX, |cur, file, limits| {
                    let data = cur.peek_all(file, limits.max_read_bytes)?;
                    cur.skip_all(data.len());
                    Ok(data)
                })
                .await
            })
            .await
    }
    pub async fn read_line(&self) -> FsResult<Vec<u8>> {
        self.observe(OpKind::Read)
            .run(async {
                self.read_op(Need::ReadBytes, u64::MAX, |cur, file, limits| {
                    Ok(cur.read_line_bytes(file, clamp(u64::MAX, limits.max_read_bytes))?)
                })
                .await
            })
            .await
    }
    pub async fn read_lines(&self, max: u32) -> FsResult<Vec<Vec<u8>>> {
        self.observe(OpKind::Read)
            .run(async {
                self.read_lines_op(Need::ReadBytes, max, move |cur, file, limits| {
                    let max = max.min(limits.max_lines_per_call) as usize;
                    cur.read_lines_bytes(file, max, clamp(u64::MAX, limits.max_read_bytes))
                })
                .await
            })
            .await
    }
    pub async fn write(&self, data: Vec<u8>) -> FsResult<u64> {
        self.observe(OpKind::Write)
            .bytes(data.len() as u64)
            .run(async { self.write_bytes(Need::WriteBytes, data, None).await })
            .await
    }
    pub async fn write_lines(&self, lines: Vec<Vec<u8>>) -> FsResult<u64> {
        self.observe(OpKind::Write)
            .bytes(lines.iter().map(|l| l.len() as u64).sum())
            .run(async {
                let len = lines.iter().map(Vec::len).sum();
                self.check_write_len(len)?;
                // The lines as the host holds them: one allocation each.
                let held = self.inner.fs.charge(lines.heap_size())?;
                let append = self.inner.mode.append;
                self.write_op(Need::WriteBytes, len, Some(held), move |cur, file, _| {
                    cur.write_parts(file, lines.iter().map(Vec::as_slice), append)?;
                    Ok(len as u64)
                })
                .await
            })
            .await
    }

    pub async fn stat(&self) -> FsResult<Stat> {
        self.observe(OpKind::Fstat)
            .run(async {
                // `fstat` of an open host file reads the inode in memory: never waits.
                let (slot, guard) = self.enter(Need::Open).await?;
                self.run_quick(slot, guard, true, |_, file, _| file.stat())
                    .await
            })
            .await
    }
}

impl File {
    /// One guest operation of `kind` on this file, counted under its grant.
    fn observe(&self, kind: OpKind) -> crate::obs::Op<'_> {
        self.inner
            .fs
            .op(kind, &self.inner.name)
            .budget(&self.inner.budget)
    }

    /// Take the first unobserved error, if any.
    fn take_unobserved(&self) -> Option<ErrorCode> {
        self.inner
            .unobserved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

/// Heap bytes a list of lines may take beyond their content, per line: its slot in the
/// list (24 bytes, up to twice that while the list grows by doubling) and the rounding
/// of the line's own allocation (up to 31 bytes: a one-byte line takes 32).
const LINE_COST: u64 = 2 * 24 + 31;
/// The rest of a list of lines: its smallest capacity (4 slots) and the rounding of its
/// allocation.
const LIST_SLACK: u64 = 4 * 24 + 32;

/// Charge a read of at most `max` lines of at most `cap` bytes in all: the bytes and
/// each line's [`LINE_COST`] (every line but the last holds a byte at least, so there
/// are at most `cap + 1`). Under a budget without room for that many, the charge is what
/// fits (leaving the read-ahead room to fill) and covers fewer lines, one at least; a
/// shorter batch is allowed. Returns the charge and the lines it covers.
fn charge_lines(mem: &Arc<MemBudget>, cap: u64, max: u32) -> FsResult<(Held, u32)> {
    let most = u64::from(max).min(cap.saturating_add(1)).max(1);
    let base = cap.saturating_add(LIST_SLACK);
    let want = base.saturating_add(most.saturating_mul(LINE_COST));
    let held = match mem.charge(want) {
        Ok(held) => held,
        Err(_) => {
            let min = base.saturating_add(LINE_COST);
            let mut held = mem.charge_up_to(want, min).ok_or(ErrorCode::Quota)?;
            let spare = held.bytes().saturating_sub(READ_AHEAD as u64).max(min);
            held.resize(spare.min(held.bytes()))?;
            held
        }
    };
    let fit = (held.bytes().saturating_sub(base) / LINE_COST).clamp(1, most);
    Ok((held, u32::try_from(fit).unwrap_or(u32::MAX)))
}

/// `n` capped by `limit`, as a `usize`.
fn clamp(n: u64, limit: u64) -> usize {
    usize::try_from(n.min(limit)).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod held_tests;
#[cfg(test)]
mod tests;
