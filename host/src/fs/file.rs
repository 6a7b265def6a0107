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
//! Reads and writes use positioned I/O (`pread`/`pwrite`) from the stored position and never
//! the OS cursor, except in append mode, where writes go through the `O_APPEND` descriptor's
//! own cursor (the kernel puts them at the end) and the position becomes the end afterwards.
//!
//! Line and text reads go through a read-ahead buffer filled in [`READ_AHEAD`] chunks and
//! kept across calls; writes, seeks and truncation discard it.

use super::{Fs, OpenMode, Stat, Whence};
use crate::error::{ErrorCode, FsResult};
use crate::limits::Limits;
use crate::pool::Pool;
use std::fs::File as StdFile;
use std::io::{self, Seek, Write};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// Bytes the read-ahead buffer asks the OS for at a time.
const READ_AHEAD: usize = 128 * 1024;

/// The smallest per-call byte limit used for text: one UTF-8 character is at most 4 bytes,
/// so a window this large always holds at least one whole character.
const MIN_TEXT_LIMIT: usize = 4;

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
    /// The guest path the file was opened with.
    name: String,
    /// The mode it was opened with.
    mode: OpenMode,
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
    file: StdFile,
    /// The store's open-file reservation; dropping it releases the slot.
    slot: Box<dyn Send>,
    /// Runs on the pool after the descriptor is closed (NamedTemporaryFile delete).
    on_close: Option<Box<dyn FnOnce() + Send>>,
    /// Where a descriptor dropped without `close` is closed.
    pool: Pool,
}

impl Open {
    /// Close the descriptor, then run `on_close`, then release the slot. Blocking: call
    /// only on a pool thread.
    fn close(self) {
        let Open {
            file,
            slot,
            on_close,
            pool: _,
        } = self;
        drop(file);
        if let Some(on_close) = on_close {
            on_close();
        }
        drop(slot);
    }
}

impl Drop for State {
    /// The last reference is gone without `close`: close on the pool, never here (this may
    /// run on the event loop).
    fn drop(&mut self) {
        if let Some(open) = self.open.take() {
            let pool = open.pool.clone();
            pool.spawn_detached(move || open.close());
        }
    }
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
    pub(crate) fn new(
        fs: &Fs,
        file: StdFile,
        name: String,
        mode: OpenMode,
        slot: impl Send + 'static,
        on_close: Option<Box<dyn FnOnce() + Send>>,
    ) -> File {
        let open = Open {
            file,
            slot: Box::new(slot),
            on_close,
            pool: fs.pool().clone(),
        };
        let cur = Cursor::new(mode.append, READ_AHEAD);
        File {
            inner: Arc::new(Inner {
                fs: fs.clone(),
                name,
                mode,
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
    /// next operation starts only after this one has finished or was dropped unrun).
    async fn run<T, F>(&self, mut guard: OwnedMutexGuard<State>, f: F) -> FsResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Cursor, &StdFile, &Limits) -> FsResult<T> + Send + 'static,
    {
        let limits = self.inner.fs.limits.clone();
        self.inner
            .fs
            .blocking(move || {
                let state = &mut *guard;
                let open = state.open.as_ref().ok_or(ErrorCode::BadDescriptor)?;
                f(&mut state.cur, &open.file, &limits)
            })
            .await
    }

    /// Lock, check and run in one go.
    async fn op<T, F>(&self, need: Need, f: F) -> FsResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Cursor, &StdFile, &Limits) -> FsResult<T> + Send + 'static,
    {
        let guard = self.lock(need).await?;
        self.run(guard, f).await
    }

    /// `Quota` if `len` bytes are more than one write call may carry.
    fn check_write_len(&self, len: usize) -> FsResult<()> {
        if u64::try_from(len).unwrap_or(u64::MAX) > self.inner.fs.limits().max_write_bytes {
            return Err(ErrorCode::Quota);
        }
        Ok(())
    }

    /// Check the mode and the write limit, write `data`, and return its length.
    async fn write_bytes(&self, need: Need, data: Vec<u8>) -> FsResult<u64> {
        let guard = self.lock(need).await?;
        self.check_write_len(data.len())?;
        let append = self.inner.mode.append;
        self.run(guard, move |cur, file, _| {
            cur.write(file, &data, append)?;
            Ok(data.len() as u64)
        })
        .await
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

    pub async fn read(&self, n: u64) -> FsResult<Vec<u8>> {
        self.op(Need::ReadBytes, move |cur, file, limits| {
            Ok(cur.read_bytes(file, clamp(n, limits.max_read_bytes))?)
        })
        .await
    }
    pub async fn read_all(&self) -> FsResult<Vec<u8>> {
        self.op(Need::ReadBytes, |cur, file, limits| {
            let data = cur.peek_all(file, limits.max_read_bytes)?;
            cur.skip_all(data.len());
            Ok(data)
        })
        .await
    }
    pub async fn read_line(&self) -> FsResult<Vec<u8>> {
        self.op(Need::ReadBytes, |cur, file, limits| {
            Ok(cur.read_line_bytes(file, clamp(u64::MAX, limits.max_read_bytes))?)
        })
        .await
    }
    pub async fn read_lines(&self, max: u32) -> FsResult<Vec<Vec<u8>>> {
        self.op(Need::ReadBytes, move |cur, file, limits| {
            let max = max.min(limits.max_lines_per_call) as usize;
            cur.read_lines_bytes(file, max, clamp(u64::MAX, limits.max_read_bytes))
        })
        .await
    }
    pub async fn write(&self, data: Vec<u8>) -> FsResult<u64> {
        self.write_bytes(Need::WriteBytes, data).await
    }
    pub async fn write_lines(&self, lines: Vec<Vec<u8>>) -> FsResult<u64> {
        let guard = self.lock(Need::WriteBytes).await?;
        self.check_write_len(lines.iter().map(Vec::len).sum())?;
        let append = self.inner.mode.append;
        self.run(guard, move |cur, file, _| {
            let data = lines.concat();
            cur.write(file, &data, append)?;
            Ok(data.len() as u64)
        })
        .await
    }

    pub async fn read_text(&self, n: u64) -> FsResult<String> {
        self.op(Need::ReadText, move |cur, file, limits| {
            let limit = clamp(u64::MAX, limits.max_read_bytes);
            cur.read_chars(file, clamp(n, limits.max_read_bytes), limit)
        })
        .await
    }
    pub async fn read_all_text(&self) -> FsResult<String> {
        self.op(Need::ReadText, |cur, file, limits| {
            let data = cur.peek_all(file, limits.max_read_bytes)?;
            let len = data.len();
            let text = String::from_utf8(data).map_err(|_| ErrorCode::IllegalByteSequence)?;
            cur.skip_all(len);
            Ok(translate_newlines(text))
        })
        .await
    }
    pub async fn read_line_text(&self) -> FsResult<String> {
        self.op(Need::ReadText, |cur, file, limits| {
            cur.read_line_text(file, clamp(u64::MAX, limits.max_read_bytes))
        })
        .await
    }
    pub async fn read_lines_text(&self, max: u32) -> FsResult<Vec<String>> {
        self.op(Need::ReadText, move |cur, file, limits| {
            let max = max.min(limits.max_lines_per_call) as usize;
            cur.read_lines_text(file, max, clamp(u64::MAX, limits.max_read_bytes))
        })
        .await
    }
    pub async fn write_text(&self, text: String) -> FsResult<u64> {
        let guard = self.lock(Need::WriteText).await?;
        self.check_write_len(text.len())?;
        let append = self.inner.mode.append;
        self.run(guard, move |cur, file, _| {
            cur.write(file, text.as_bytes(), append)?;
            Ok(text.chars().count() as u64)
        })
        .await
    }
    pub async fn write_lines_text(&self, lines: Vec<String>) -> FsResult<u64> {
        let guard = self.lock(Need::WriteText).await?;
        self.check_write_len(lines.iter().map(String::len).sum())?;
        let append = self.inner.mode.append;
        self.run(guard, move |cur, file, _| {
            let text = lines.concat();
            cur.write(file, text.as_bytes(), append)?;
            Ok(text.chars().count() as u64)
        })
        .await
    }

    pub async fn seek(&self, offset: i64, whence: Whence) -> FsResult<u64> {
        let mut guard = self.lock(Need::Open).await?;
        // Without the end of the file in play the new position is pure arithmetic.
        match whence {
            Whence::Start => return guard.cur.seek_to(0, offset),
            Whence::Current if !guard.cur.at_end_pending => {
                let base = guard.cur.pos;
                return guard.cur.seek_to(base, offset);
            }
            _ => {}
        }
        self.run(guard, move |cur, file, _| {
            let base = match whence {
                Whence::Start => 0,
                Whence::Current => cur.resolve(file)?,
                Whence::End => file.metadata()?.len(),
            };
            cur.seek_to(base, offset)
        })
        .await
    }
    pub async fn tell(&self) -> FsResult<u64> {
        let guard = self.lock(Need::Open).await?;
        if !guard.cur.at_end_pending {
            return Ok(guard.cur.pos);
        }
        self.run(guard, |cur, file, _| Ok(cur.resolve(file)?)).await
    }
    pub async fn truncate(&self, size: Option<u64>) -> FsResult<u64> {
        self.op(Need::Write, move |cur, file, _| {
            let size = match size {
                Some(size) => size,
                None => cur.resolve(file)?,
            };
            cur.invalidate();
            file.set_len(size)?;
            Ok(size)
        })
        .await
    }
    pub async fn flush(&self) -> FsResult<()> {
        self.lock(Need::Open).await.map(drop)
    }
    pub async fn sync(&self) -> FsResult<()> {
        self.op(Need::Open, |_, file, _| Ok(file.sync_all()?)).await
    }
    pub async fn sync_data(&self) -> FsResult<()> {
        self.op(Need::Open, |_, file, _| Ok(file.sync_data()?))
            .await
    }
    pub async fn stat(&self) -> FsResult<Stat> {
        self.op(Need::Open, |_, file, _| {
            Ok(super::meta::stat(&cap_std::fs::Metadata::from_file(file)?))
        })
        .await
    }
    pub async fn close(&self) -> FsResult<()> {
        let mut guard = self.inner.state.clone().lock_owned().await;
        if guard.open.is_some() {
            let closed = self.inner.closed.clone();
            self.inner
                .fs
                .blocking(move || {
                    if let Some(open) = guard.open.take() {
                        closed.store(true, Ordering::Release);
                        guard.cur.invalidate();
                        open.close();
                    }
                    Ok(())
                })
                .await?;
        }
        match self.take_unobserved() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// Stream support: read the next chunk (at most `max` bytes, capped by the per-read
    /// limit) from the current position and advance it; empty at end of file. Binary only.
    pub async fn read_chunk(&self, max: usize) -> FsResult<Vec<u8>> {
        self.op(Need::ReadBytes, move |cur, file, limits| {
            Ok(cur.read_bytes(file, clamp(max as u64, limits.max_read_bytes))?)
        })
        .await
    }
    /// Stream support: write `data` at the current position (end in append mode), advance,
    /// and return the bytes written. Binary only.
    pub async fn write_chunk(&self, data: Vec<u8>) -> FsResult<u64> {
        self.write_bytes(Need::WriteBytes, data).await
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

impl File {
    /// Take the first unobserved error, if any.
    fn take_unobserved(&self) -> Option<ErrorCode> {
        self.inner
            .unobserved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

/// `n` capped by `limit`, as a `usize`.
fn clamp(n: u64, limit: u64) -> usize {
    usize::try_from(n.min(limit)).unwrap_or(usize::MAX)
}

/// Universal newlines: `\r\n` and lone `\r` become `\n`.
fn translate_newlines(text: String) -> String {
    if memchr::memchr(b'\r', text.as_bytes()).is_none() {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = memchr::memchr(b'\r', rest.as_bytes()) {
        out.push_str(&rest[..i]);
        out.push('\n');
        rest = &rest[i + 1..];
        if let Some(after) = rest.strip_prefix('\n') {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// `pread` until `max` bytes were appended to `out` or end of file; returns the bytes
/// appended. `out` grows as data arrives, so a large `max` on a small file costs nothing.
fn read_up_to(file: &StdFile, offset: u64, max: usize, out: &mut Vec<u8>) -> io::Result<usize> {
    let start = out.len();
    loop {
        let got = out.len() - start;
        if got >= max {
            return Ok(got);
        }
        let step = (max - got).min(READ_AHEAD.max(got));
        let len = out.len();
        out.resize(len + step, 0);
        match file.read_at(&mut out[len..], offset + got as u64) {
            Ok(0) => {
                out.truncate(len);
                return Ok(got);
            }
            Ok(n) => out.truncate(len + n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => out.truncate(len),
            Err(e) => {
                out.truncate(start);
                return Err(e);
            }
        }
    }
}

/// Where a scanned line ends, relative to the read-ahead cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LineEnd {
    /// Bytes before the line terminator.
    content: usize,
    /// Length of the terminator: 0 (end of file or limit), 1 (`\n`, or `\r` in text
    /// mode) or 2 (`\r\n` in text mode).
    term: usize,
}

impl LineEnd {
    fn total(&self) -> usize {
        self.content + self.term
    }
}

/// The position of a file and its read-ahead buffer.
///
/// Invariant: `buf[off..]` holds the bytes of the file at `pos..`, as read at fill time.
/// Nothing here consumes input until an operation has succeeded, so a failed operation
/// (invalid UTF-8, an I/O error) leaves the position where it was.
struct Cursor {
    /// The position (`tell`), valid unless `at_end_pending`.
    pos: u64,
    /// Append mode before the first operation that needs the position: it is the end of
    /// the file, resolved lazily with `fstat` on the pool.
    at_end_pending: bool,
    /// Read-ahead data; `buf[off..]` is unconsumed.
    buf: Vec<u8>,
    /// Consumed prefix of `buf`.
    off: usize,
    /// Bytes to read per fill.
    chunk: usize,
}

impl Cursor {
    fn new(at_end: bool, chunk: usize) -> Cursor {
        Cursor {
            pos: 0,
            at_end_pending: at_end,
            buf: Vec::new(),
            off: 0,
            chunk: chunk.max(1),
        }
    }

    /// The position, resolving a pending "end of file".
    fn resolve(&mut self, file: &StdFile) -> io::Result<u64> {
        if self.at_end_pending {
            self.pos = file.metadata()?.len();
            self.at_end_pending = false;
        }
        Ok(self.pos)
    }

    /// Unconsumed read-ahead bytes.
    fn avail(&self) -> &[u8] {
        &self.buf[self.off..]
    }

    /// Read one more chunk after the buffered bytes; returns the bytes added (0 at end of
    /// file). Unconsumed bytes are kept (moved to the front), so offsets relative to the
    /// cursor stay valid across fills.
    fn fill(&mut self, file: &StdFile) -> io::Result<usize> {
        let pos = self.resolve(file)?;
        if self.off > 0 {
            self.buf.drain(..self.off);
            self.off = 0;
        }
        let start = self.buf.len();
        read_up_to(file, pos + start as u64, self.chunk, &mut self.buf)
    }

    /// Consume `n` buffered bytes.
    fn consume(&mut self, n: usize) {
        self.off += n;
        self.pos += n as u64;
        if self.off >= self.buf.len() {
            self.invalidate();
        }
    }

    /// Drop the read-ahead (after a write, seek or truncate).
    fn invalidate(&mut self) {
        self.buf.clear();
        self.off = 0;
    }

    /// Advance past `n` bytes read directly (not through the buffer) from the position.
    fn skip_all(&mut self, n: usize) {
        self.invalidate();
        self.pos += n as u64;
    }

    /// Move to `base + offset`; `invalid` if negative, `overflow` past `i64::MAX`.
    fn seek_to(&mut self, base: u64, offset: i64) -> FsResult<u64> {
        let target = i128::from(base) + i128::from(offset);
        if target < 0 {
            return Err(ErrorCode::Invalid);
        }
        let target = i64::try_from(target).map_err(|_| ErrorCode::Overflow)? as u64;
        if target != self.pos || self.at_end_pending {
            self.invalidate();
        }
        self.pos = target;
        self.at_end_pending = false;
        Ok(target)
    }

    /// Up to `n` bytes from the position (fewer only at end of file).
    fn read_bytes(&mut self, file: &StdFile, n: usize) -> io::Result<Vec<u8>> {
        self.resolve(file)?;
        let avail = self.avail();
        if avail.len() >= n {
            let out = avail[..n].to_vec();
            self.consume(n);
            return Ok(out);
        }
        let mut out = Vec::with_capacity(n.min(avail.len() + READ_AHEAD));
        out.extend_from_slice(avail);
        let from = self.pos + out.len() as u64;
        read_up_to(file, from, n - out.len(), &mut out)?;
        self.skip_all(out.len());
        Ok(out)
    }

    /// Everything from the position to end of file, without consuming it; `quota` if that
    /// is more than `limit` bytes.
    fn peek_all(&mut self, file: &StdFile, limit: u64) -> FsResult<Vec<u8>> {
        let pos = self.resolve(file)?;
        let remaining = file.metadata()?.len().saturating_sub(pos);
        if remaining > limit {
            return Err(ErrorCode::Quota);
        }
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut out = Vec::with_capacity(remaining as usize);
        out.extend_from_slice(self.avail());
        // Read one byte past the limit to notice a file that grew since the fstat.
        let from = pos + out.len() as u64;
        let room = limit.saturating_add(1).saturating_sub(out.len());
        read_up_to(file, from, room, &mut out)?;
        if out.len() > limit {
            return Err(ErrorCode::Quota);
        }
        Ok(out)
    }

    /// Find the end of the line at the cursor without consuming it, looking at no more than
    /// `limit` bytes of content. Binary lines end after `\n`; text lines after `\n`, `\r\n`
    /// or a lone `\r` (the byte after a `\r` is read even when it lies past `limit`).
    fn scan_line(&mut self, file: &StdFile, limit: usize, text: bool) -> io::Result<LineEnd> {
        let mut scanned = 0;
        loop {
            let avail = self.avail();
            let end = avail.len().min(limit);
            let hay = &avail[scanned..end];
            let found = if text {
                memchr::memchr2(b'\n', b'\r', hay)
            } else {
                memchr::memchr(b'\n', hay)
            };
            if let Some(i) = found {
                let at = scanned + i;
                if avail[at] == b'\n' {
                    return Ok(LineEnd {
                        content: at,
                        term: 1,
                    });
                }
                if at + 1 == avail.len() {
                    self.fill(file)?;
                }
                let term = if self.avail().get(at + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                return Ok(LineEnd { content: at, term });
            }
            scanned = end;
            if scanned >= limit || self.fill(file)? == 0 {
                return Ok(LineEnd {
                    content: scanned,
                    term: 0,
                });
            }
        }
    }

    /// One binary line (through its `\n`), or a piece of at most `limit` bytes.
    fn read_line_bytes(&mut self, file: &StdFile, limit: usize) -> io::Result<Vec<u8>> {
        self.resolve(file)?;
        let line = self.scan_line(file, limit.max(1), false)?;
        let out = self.avail()[..line.total()].to_vec();
        self.consume(line.total());
        Ok(out)
    }

    /// Up to `max` binary lines, stopping once `limit` bytes were gathered. A read error
    /// after some lines ends the batch (the next call reports it).
    fn read_lines_bytes(
        &mut self,
        file: &StdFile,
        max: usize,
        limit: usize,
    ) -> FsResult<Vec<Vec<u8>>> {
        self.resolve(file)?;
        let limit = limit.max(1);
        let mut lines = Vec::new();
        let mut gathered = 0;
        while lines.len() < max && gathered < limit {
            let room = limit - gathered;
            let line = match self.scan_line(file, room, false) {
                Ok(line) => line,
                Err(_) if !lines.is_empty() => break,
                Err(e) => return Err(e.into()),
            };
            if line.total() == 0 {
                break;
            }
            // A line cut short by the remaining room waits for the next call, unless it
            // is the first: then it is a piece of a line longer than the limit.
            if line.term == 0 && line.content == room && !lines.is_empty() {
                break;
            }
            lines.push(self.avail()[..line.total()].to_vec());
            self.consume(line.total());
            gathered += line.total();
        }
        Ok(lines)
    }

    /// One text line, newline translated. A line longer than `limit` bytes comes in pieces
    /// cut at character boundaries. Invalid UTF-8 in the line fails and consumes nothing.
    fn read_line_text(&mut self, file: &StdFile, limit: usize) -> FsResult<String> {
        self.resolve(file)?;
        let limit = limit.max(MIN_TEXT_LIMIT);
        let line = self.scan_line(file, limit, true)?;
        let (text, used) = decode_line(&self.avail()[..line.content], line, limit)?;
        self.consume(used);
        Ok(text)
    }

    /// Up to `max` text lines, stopping once `limit` bytes were gathered. Invalid UTF-8 (or
    /// a read error) after some lines ends the batch; the next call reports it.
    fn read_lines_text(
        &mut self,
        file: &StdFile,
        max: usize,
        limit: usize,
    ) -> FsResult<Vec<String>> {
        self.resolve(file)?;
        let limit = limit.max(MIN_TEXT_LIMIT);
        let mut lines = Vec::new();
        let mut gathered = 0;
        while lines.len() < max && gathered < limit {
            let room = limit - gathered;
            if room < MIN_TEXT_LIMIT && !lines.is_empty() {
                break;
            }
            let decoded = self
                .scan_line(file, room, true)
                .map_err(ErrorCode::from)
                .and_then(|line| {
                    if line.total() == 0 {
                        return Ok(None);
                    }
                    if line.term == 0 && line.content == room && !lines.is_empty() {
                        return Ok(None);
                    }
                    decode_line(&self.avail()[..line.content], line, room).map(Some)
                });
            match decoded {
                Ok(Some((text, used))) => {
                    self.consume(used);
                    gathered += used;
                    lines.push(text);
                }
                Ok(None) => break,
                Err(_) if !lines.is_empty() => break,
                Err(e) => return Err(e),
            }
        }
        Ok(lines)
    }

    /// Up to `n` characters, newline translated, from at most about `limit` bytes. Invalid
    /// UTF-8 ends the read early; if it is the very first thing, the read fails with
    /// `illegal-byte-sequence` and consumes nothing.
    fn read_chars(&mut self, file: &StdFile, n: usize, limit: usize) -> FsResult<String> {
        self.resolve(file)?;
        let limit = limit.max(MIN_TEXT_LIMIT);
        let mut out = String::new();
        let mut count = 0;
        // Bytes decoded so far, relative to the cursor; consumed only at the end.
        let mut used = 0;
        while count < n && used < limit {
            if used == self.avail().len() && self.fill(file)? == 0 {
                break;
            }
            let avail = self.avail();
            let end = avail.len().min(limit);
            let window = &avail[used..end];
            let (valid, bad) = match std::str::from_utf8(window) {
                Ok(s) => (s, None),
                Err(e) => (
                    std::str::from_utf8(&window[..e.valid_up_to()]).unwrap_or_default(),
                    Some(e.error_len()),
                ),
            };
            let took = take_chars(valid, n - count, &mut out);
            used += took.bytes;
            count += took.chars;
            if took.cr {
                // A `\r` became `\n`; a `\n` right after it belongs to the same newline.
                if used == self.avail().len() {
                    self.fill(file)?;
                }
                if self.avail().get(used) == Some(&b'\n') {
                    used += 1;
                }
                continue;
            }
            if took.bytes < valid.len() {
                break;
            }
            match bad {
                None => {}
                Some(Some(_)) => {
                    if count == 0 {
                        return Err(ErrorCode::IllegalByteSequence);
                    }
                    break;
                }
                // A character cut by the end of the window.
                Some(None) => {
                    if end < avail.len() {
                        // Cut by the byte limit: stop before it.
                        break;
                    }
                    if self.fill(file)? == 0 {
                        if count == 0 {
                            return Err(ErrorCode::IllegalByteSequence);
                        }
                        break;
                    }
                }
            }
        }
        self.consume(used);
        Ok(out)
    }

    /// Write `data` at the position (at the end in append mode) and advance past it.
    fn write(&mut self, file: &StdFile, data: &[u8], append: bool) -> io::Result<()> {
        self.invalidate();
        if append {
            // O_APPEND: the kernel writes at the end; the OS cursor then tells where that
            // was. If the write fails halfway, the end is found again when next needed.
            self.at_end_pending = true;
            let mut f = file;
            f.write_all(data)?;
            self.pos = f.stream_position()?;
            self.at_end_pending = false;
        } else {
            let pos = self.resolve(file)?;
            file.write_all_at(data, pos)?;
            self.pos = pos + data.len() as u64;
        }
        Ok(())
    }
}

/// Decode one scanned text line: the content (must be UTF-8) plus `\n` if it had a
/// terminator. Returns the text and the bytes it used. A line cut by `limit` in the middle
/// of a character is shortened to the last whole character.
fn decode_line(content: &[u8], line: LineEnd, limit: usize) -> FsResult<(String, usize)> {
    match std::str::from_utf8(content) {
        Ok(s) => {
            let mut text = String::with_capacity(s.len() + 1);
            text.push_str(s);
            if line.term > 0 {
                text.push('\n');
            }
            Ok((text, line.total()))
        }
        Err(e)
            if line.term == 0
                && line.content >= limit
                && e.error_len().is_none()
                && e.valid_up_to() > 0 =>
        {
            let s = std::str::from_utf8(&content[..e.valid_up_to()]).unwrap_or_default();
            Ok((s.to_owned(), s.len()))
        }
        Err(_) => Err(ErrorCode::IllegalByteSequence),
    }
}

/// What [`take_chars`] took.
struct Took {
    /// Bytes of the input.
    bytes: usize,
    /// Characters (a translated `\r` counts as one).
    chars: usize,
    /// The last character taken was a `\r` (now `\n` in the output).
    cr: bool,
}

/// Append up to `need` characters of `valid` to `out`, translating `\r` to `\n`, and stop
/// right after the first `\r` so the caller can swallow a following `\n`.
fn take_chars(valid: &str, need: usize, out: &mut String) -> Took {
    let cr_at = memchr::memchr(b'\r', valid.as_bytes());
    let segment = &valid[..cr_at.unwrap_or(valid.len())];
    if let Some((cut, _)) = segment.char_indices().nth(need) {
        out.push_str(&segment[..cut]);
        return Took {
            bytes: cut,
            chars: need,
            cr: false,
        };
    }
    let chars = segment.chars().count();
    out.push_str(segment);
    match cr_at {
        Some(i) if chars < need => {
            out.push('\n');
            Took {
                bytes: i + 1,
                chars: chars + 1,
                cr: true,
            }
        }
        _ => Took {
            bytes: segment.len(),
            chars,
            cr: false,
        },
    }
}

#[cfg(test)]
mod tests;
