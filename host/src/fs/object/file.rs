//! An open object: a read pinned to the version it was opened at, or an upload that
//! becomes visible only when it is closed. Used through [`Handle`](crate::fs::file::Handle)
//! by the same [`File`](crate::fs::File) code as a host file; every method blocks on the
//! object runtime and runs only on pool threads.

use crate::error::{ErrorCode, FsResult};
use crate::fs::Stat;
use crate::fs::file::handle::unsupported;
use crate::fs::held::Held;
use opendal::{Operator, Writer};
use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Bytes an upload buffers before it sends a part (S3's smallest part is 5 MiB). Charged
/// to the store's memory budget for as long as the upload is open.
pub(crate) const UPLOAD_CHUNK: usize = 8 << 20;

/// Most of the store's memory budget an open upload holds: the part being filled here,
/// plus the part handed to OpenDAL (which keeps the last one it was given until the next
/// comes, or the close, and sends it then). It is charged as the upload grows
/// (the fill buffer's capacity, before it grows), so a small file holds about its size.
pub(crate) const UPLOAD_HELD: u64 = 2 * UPLOAD_CHUNK as u64;

/// Most bytes one ranged request of an open object asks for.
const FETCH_PIECE: usize = 8 << 20;

/// Run `fut` to completion on the object runtime, from a pool thread.
pub(crate) fn block<T>(fut: impl Future<Output = T>) -> T {
    crate::object::runtime().block_on(fut)
}

/// Most time an upload's abort may take (it runs after failures and past time limits,
/// so it has a bound of its own).
const ABORT_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// [`block`] for a request of an open object, within the running pool job's time limit
/// (`max_op_duration`): past it the request is dropped and this is `interrupted`, so no
/// stalled server holds a pool thread past the limit (a `read-line` that fetches many
/// ranges, a write that sends parts, a close that completes an upload).
fn block_io<T>(fut: impl Future<Output = opendal::Result<T>>) -> io::Result<opendal::Result<T>> {
    match crate::pool::time_left() {
        None => Ok(block(fut)),
        Some(left) => block(async { tokio::time::timeout(left, fut).await })
            .map_err(|_| io::Error::from(io::ErrorKind::Interrupted)),
    }
}

/// One request of an open upload's writer.
enum Step {
    /// Send a part.
    Part(Vec<u8>),
    /// Complete the upload.
    Complete,
}

/// Run `step` with `writer` on a task of its own and wait for it within the running pool
/// job's time limit, as [`block_io`] does: the writer comes back with the step's outcome.
/// Past the limit it does not come back (`interrupted`): a request future dropped half-way
/// leaves a writer that cannot abort (OpenDAL's retry layer loses it), so the task keeps
/// the writer, lets the request finish, then aborts the upload, holding `held` (the
/// upload's memory charge, taken from the caller) until it is done.
fn run_step(
    writer: Writer,
    step: Step,
    held: &mut Option<Held>,
) -> io::Result<(Writer, opendal::Result<()>)> {
    let mut task = crate::object::runtime().spawn(async move {
        let mut writer = writer;
        let out = match step {
            Step::Part(part) => writer.write(part).await,
            Step::Complete => writer.close().await.map(drop),
        };
        (writer, out)
    });
    let joined = match crate::pool::time_left() {
        None => Ok(block(&mut task)),
        Some(left) => block(async { tokio::time::timeout(left, &mut task).await })
            .map_err(|_| io::Error::from(io::ErrorKind::Interrupted)),
    };
    match joined {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(_)) => Err(io::Error::other("upload task lost")),
        Err(e) => {
            let held = held.take();
            crate::object::runtime().spawn(async move {
                if let Ok((mut writer, _)) = task.await {
                    let _ = tokio::time::timeout(ABORT_LIMIT, writer.abort()).await;
                }
                drop(held);
            });
            Err(e)
        }
    }
}

/// Abort an upload, waiting at most [`ABORT_LIMIT`] (the server drops an abandoned
/// upload's parts by its own rules otherwise).
fn abort_upload(writer: &mut Writer) {
    let _ = block(async { tokio::time::timeout(ABORT_LIMIT, writer.abort()).await });
}

/// Upload `data` as `path` in [`UPLOAD_CHUNK`] parts (`write-file` above one part), holding
/// `held` (the payload's charge) until the upload is complete or aborted.
///
/// The upload runs on a task of its own and no request future of its writer is ever
/// dropped half-way: a writer whose write was cancelled cannot abort (OpenDAL's retry
/// layer loses it), so dropping the upload mid-part (the guest dropping the call, the
/// time limit) would leave its parts in the bucket. Dropping the returned future instead
/// tells the task to stop at the next part: it aborts the upload then, within
/// [`ABORT_LIMIT`] (and aborts it as well after any failed part or close).
pub(crate) async fn upload_in_parts(
    op: Operator,
    path: String,
    data: Vec<u8>,
    held: Held,
) -> opendal::Result<()> {
    /// Raises the flag when dropped: the caller is gone.
    struct CancelOnDrop(std::sync::Arc<AtomicBool>);
    impl Drop for CancelOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }
    let cancelled = std::sync::Arc::new(AtomicBool::new(false));
    let _cancel = CancelOnDrop(cancelled.clone());
    let (tx, rx) = tokio::sync::oneshot::channel();
    crate::object::runtime().spawn(async move {
        let _held = held;
        let stopped = || {
            cancelled
                .load(Ordering::Acquire)
                .then(|| opendal::Error::new(opendal::ErrorKind::Unexpected, "cancelled"))
        };
        let mut writer = match op.writer_with(&path).chunk(UPLOAD_CHUNK).await {
            Ok(w) => w,
            Err(e) => return drop(tx.send(Err(e))),
        };
        let data = opendal::Buffer::from(data);
        let mut out = Ok(());
        for at in (0..data.len()).step_by(UPLOAD_CHUNK) {
            if let Some(e) = stopped() {
                out = Err(e);
                break;
            }
            let part = data.slice(at..(at + UPLOAD_CHUNK).min(data.len()));
            if let Err(e) = writer.write(part).await {
                out = Err(e);
                break;
            }
        }
        drop(data);
        if out.is_ok()
            && let Some(e) = stopped()
        {
            out = Err(e);
        }
        if out.is_ok() {
            out = writer.close().await.map(drop);
        }
        if out.is_err() {
            let _ = tokio::time::timeout(ABORT_LIMIT, writer.abort()).await;
        }
        let _ = tx.send(out);
    });
    rx.await.unwrap_or_else(|_| {
        Err(opendal::Error::new(
            opendal::ErrorKind::Unexpected,
            "upload task lost",
        ))
    })
}

/// An OpenDAL error as an I/O error of the matching kind, without its message (which
/// names the endpoint and the key).
pub(crate) fn io_error(e: &opendal::Error) -> io::Error {
    let kind = match crate::object::code(e) {
        ErrorCode::NoEntry => io::ErrorKind::NotFound,
        ErrorCode::Exist => io::ErrorKind::AlreadyExists,
        ErrorCode::Access => io::ErrorKind::PermissionDenied,
        ErrorCode::Unsupported => io::ErrorKind::Unsupported,
        ErrorCode::IsDirectory => io::ErrorKind::IsADirectory,
        ErrorCode::NotDirectory => io::ErrorKind::NotADirectory,
        _ => io::ErrorKind::Other,
    };
    io::Error::from(kind)
}

/// An open object.
pub(crate) enum ObjFile {
    /// Opened for reading.
    Read(Reading),
    /// Opened for writing: an upload in progress.
    Write(Uploading),
}

/// An object opened for reading: every read is a ranged request for the version seen at
/// open (`if-match` its ETag), so a replaced object fails with `io` instead of mixing
/// two versions.
pub(crate) struct Reading {
    pub(crate) op: Operator,
    pub(crate) key: String,
    pub(crate) etag: Option<String>,
    pub(crate) size: u64,
    pub(crate) stat: Stat,
    /// The store's memory budget, which each response is charged to while it is held.
    pub(crate) mem: std::sync::Arc<crate::fs::held::MemBudget>,
}

/// An upload: bytes go out in parts as they fill [`UPLOAD_CHUNK`]; nothing is visible
/// until `close` completes it. A failed write, an abandoned handle or a failed close
/// aborts it; so does a request cut by the time limit, once it is over ([`run_step`]).
pub(crate) struct Uploading {
    /// The writer (`None` once closed, or handed to the task finishing a request cut by
    /// the time limit) and the buffers' charge to the store's memory budget (up to
    /// [`UPLOAD_HELD`], grown as bytes arrive; handed over with the writer).
    writer: Mutex<(Option<Writer>, Option<Held>, Parts)>,
    written: AtomicU64,
    failed: AtomicBool,
    stat: Stat,
}

impl Uploading {
    pub(crate) fn new(writer: Writer, stat: Stat, held: Held) -> Uploading {
        Uploading {
            writer: Mutex::new((Some(writer), Some(held), Parts::default())),
            written: AtomicU64::new(0),
            failed: AtomicBool::new(false),
            stat,
        }
    }

    /// The writer (`None` once closed or handed over), the part still being filled and
    /// the charge of both.
    fn take(&self) -> (Option<Writer>, Vec<u8>, Option<Held>) {
        let mut guard = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let fill = std::mem::take(&mut guard.2.fill);
        (guard.0.take(), fill, guard.1.take())
    }
}

/// The part an upload is filling: writes are gathered here, in one host-owned buffer, and
/// OpenDAL is handed whole [`UPLOAD_CHUNK`] parts only. Handing it each write would cost a
/// queue entry per write (about 100 bytes of host memory for a one-byte write, none of it
/// charged) and a walk of that queue per write.
#[derive(Default)]
struct Parts {
    fill: Vec<u8>,
    /// Whether a part was handed over (it may still be on its way: charged as a part).
    sent: bool,
}

impl Parts {
    /// Take what fits of `data` into the part being filled (growing it, after charging its
    /// new capacity to `held`); returns how many bytes were taken.
    fn gather(&mut self, data: &[u8], held: &mut Held) -> io::Result<usize> {
        let take = (UPLOAD_CHUNK - self.fill.len()).min(data.len());
        let need = self.fill.len() + take;
        if need > self.fill.capacity() {
            let cap = (self.fill.capacity() * 2)
                .max(need)
                .clamp(4096, UPLOAD_CHUNK);
            let charge = cap as u64 + if self.sent { UPLOAD_CHUNK as u64 } else { 0 };
            if held.bytes() < charge.min(UPLOAD_HELD) {
                held.resize(charge.min(UPLOAD_HELD))
                    .map_err(|_| io::Error::from(io::ErrorKind::QuotaExceeded))?;
            }
            self.fill
                .try_reserve_exact(cap - self.fill.len())
                .map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
        }
        self.fill.extend_from_slice(&data[..take]);
        Ok(take)
    }

    /// The filled part, if it is whole.
    fn whole(&mut self) -> Option<Vec<u8>> {
        (self.fill.len() == UPLOAD_CHUNK).then(|| {
            self.sent = true;
            std::mem::take(&mut self.fill)
        })
    }
}

impl ObjFile {
    pub(crate) fn len(&self) -> u64 {
        match self {
            ObjFile::Read(r) => r.size,
            ObjFile::Write(w) => w.written.load(Ordering::Acquire),
        }
    }

    /// Append up to `max` bytes from `offset` to `out`; returns how many (0 at the end).
    pub(crate) fn read_up_to(
        &self,
        offset: u64,
        max: usize,
        out: &mut Vec<u8>,
    ) -> io::Result<usize> {
        self.fetch_pieces(offset, max, |piece| {
            out.extend_from_slice(piece);
            Ok(())
        })
    }

    /// Fill `dst` from `offset` as far as the object goes; returns the bytes read.
    pub(crate) fn read_at(&self, dst: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut at = 0;
        self.fetch_pieces(offset, dst.len(), |piece| {
            dst[at..at + piece.len()].copy_from_slice(piece);
            at += piece.len();
            Ok(())
        })
    }

    /// Up to `max` bytes from `offset`, handed to `sink` as they arrive, in ranged requests
    /// of at most [`FETCH_PIECE`]: the response of one request, charged while it is held,
    /// is the only copy beside the caller's (charged) buffer, so a 64 MiB read never holds
    /// two of 64 MiB. Never
    /// more than `max` bytes, whatever the server sends; returns how many.
    fn fetch_pieces(
        &self,
        offset: u64,
        max: usize,
        mut sink: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<usize> {
        let mut got = 0;
        while got < max {
            let want = (max - got).min(FETCH_PIECE);
            let Some((buf, _charge)) = self.fetch(offset.saturating_add(got as u64), want)? else {
                break;
            };
            let mut piece_got = 0;
            for chunk in buf {
                let take = chunk.len().min(want - piece_got);
                sink(&chunk[..take])?;
                piece_got += take;
                if piece_got == want {
                    break;
                }
            }
            got += piece_got;
            if piece_got < want {
                break;
            }
        }
        Ok(got)
    }

    /// Up to `max` bytes from `offset` (one ranged request) and the charge for them,
    /// taken before the request (`quota` if they do not fit); `None` at or past the end.
    fn fetch(&self, offset: u64, max: usize) -> io::Result<Option<(opendal::Buffer, Held)>> {
        let ObjFile::Read(r) = self else {
            return Err(unsupported());
        };
        if offset >= r.size || max == 0 {
            return Ok(None);
        }
        let end = r.size.min(offset.saturating_add(max as u64));
        let charge = r
            .mem
            .charge(end - offset)
            .map_err(|_| io::Error::from(io::ErrorKind::QuotaExceeded))?;
        let mut read = r.op.read_with(&r.key).range(offset..end);
        if let Some(etag) = &r.etag {
            read = read.if_match(etag);
        }
        let buf = block_io(read.into_future())?.map_err(|e| match e.kind() {
            // The object was replaced or removed since it was opened.
            opendal::ErrorKind::ConditionNotMatch | opendal::ErrorKind::NotFound => {
                io::Error::other("object changed")
            }
            _ => io_error(&e),
        })?;
        Ok(Some((buf, charge)))
    }

    pub(crate) fn write_at(&self, data: &[u8], pos: u64) -> io::Result<()> {
        let ObjFile::Write(w) = self else {
            return Err(unsupported());
        };
        if w.failed.load(Ordering::Acquire) {
            return Err(io::Error::other("upload failed"));
        }
        if pos != w.written.load(Ordering::Acquire) {
            // An upload only grows at its end.
            return Err(unsupported());
        }
        let mut guard = w.writer.lock().unwrap_or_else(|e| e.into_inner());
        let (writer, held, parts) = &mut *guard;
        let mut rest = data;
        while !rest.is_empty() {
            let charge = held.as_mut().ok_or_else(|| io::Error::other("closed"))?;
            let took = parts.gather(rest, charge)?;
            rest = &rest[took..];
            w.written.fetch_add(took as u64, Ordering::AcqRel);
            if let Some(part) = parts.whole() {
                // A part lost to an error or to the time limit fails the whole upload.
                let sending = writer.take().ok_or_else(|| io::Error::other("closed"))?;
                let sent = match run_step(sending, Step::Part(part), held) {
                    Ok((back, out)) => {
                        *writer = Some(back);
                        out.map_err(|e| io_error(&e))
                    }
                    Err(e) => Err(e),
                };
                if let Err(e) = sent {
                    w.failed.store(true, Ordering::Release);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    pub(crate) fn stat(&self) -> Stat {
        match self {
            ObjFile::Read(r) => r.stat.clone(),
            ObjFile::Write(w) => Stat {
                size: w.written.load(Ordering::Acquire),
                ..w.stat.clone()
            },
        }
    }

    /// Complete an upload (a read has nothing to do). `exist` when an exclusive upload
    /// lost to an object created meanwhile; nothing is visible after any error.
    pub(crate) fn close(self) -> FsResult<()> {
        let ObjFile::Write(w) = self else {
            return Ok(());
        };
        let (writer, last, mut held) = w.take();
        let failed = w.failed.load(Ordering::Acquire);
        let Some(mut writer) = writer else {
            // Closed already, or handed to the task that aborts it.
            return if failed { Err(ErrorCode::Io) } else { Ok(()) };
        };
        if failed {
            abort_upload(&mut writer);
            return Err(ErrorCode::Io);
        }
        // The part still being filled goes first; the upload completes only if it went,
        // and both within the job's time limit.
        let mut steps = Vec::with_capacity(2);
        if !last.is_empty() {
            steps.push(Step::Part(last));
        }
        steps.push(Step::Complete);
        for step in steps {
            match run_step(writer, step, &mut held) {
                Ok((back, Ok(()))) => writer = back,
                Ok((mut back, Err(e))) => {
                    abort_upload(&mut back);
                    return Err(crate::object::code(&e));
                }
                Err(e) => return Err(ErrorCode::from(e)),
            }
        }
        Ok(())
    }

    /// Abort an upload: nothing becomes visible.
    pub(crate) fn abort(self) {
        if let ObjFile::Write(w) = self
            && let (Some(mut writer), _, _held) = w.take()
        {
            abort_upload(&mut writer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::{Pool, Tenant};

    /// A request of an open object that never answers stops at the running job's time
    /// limit (`interrupted`) instead of holding its pool thread; outside a limit it is
    /// awaited as it is.
    #[test]
    fn requests_stop_at_the_job_time_limit() {
        let pool = Pool::new(1);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let limited = Tenant::new(Some(std::time::Duration::from_millis(20)));
        let stalled = rt.block_on(pool.run_for(&limited, || {
            block_io(std::future::pending::<opendal::Result<()>>())
                .map(drop)
                .map_err(|e| e.kind())
        }));
        assert_eq!(stalled, Ok(Err(io::ErrorKind::Interrupted)));
        let unlimited = Tenant::new(None);
        let answered = rt.block_on(pool.run_for(&unlimited, || {
            block_io(async { opendal::Result::Ok(7) })
                .map(|r| r.ok())
                .map_err(|e| e.kind())
        }));
        assert_eq!(answered, Ok(Ok(Some(7))));
    }
}
