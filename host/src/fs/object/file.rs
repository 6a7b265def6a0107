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

/// Most of the store's memory budget an open upload holds: the part being filled, plus
/// the piece of a write being handed over to it. It is charged as the upload grows, so a
/// small file holds only its size.
pub(crate) const UPLOAD_HELD: u64 = 2 * UPLOAD_CHUNK as u64;

/// Run `fut` to completion on the object runtime, from a pool thread.
pub(crate) fn block<T>(fut: impl Future<Output = T>) -> T {
    crate::object::runtime().block_on(fut)
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
}

/// An upload: bytes go out in parts as they fill [`UPLOAD_CHUNK`]; nothing is visible
/// until `close` completes it. A failed write, an abandoned handle or a failed close
/// aborts it.
pub(crate) struct Uploading {
    /// The writer (`None` once closed) and its buffers' charge to the store's memory
    /// budget (up to [`UPLOAD_HELD`], grown as bytes arrive).
    writer: Mutex<(Option<Writer>, Held)>,
    written: AtomicU64,
    failed: AtomicBool,
    stat: Stat,
}

impl Uploading {
    pub(crate) fn new(writer: Writer, stat: Stat, held: Held) -> Uploading {
        Uploading {
            writer: Mutex::new((Some(writer), held)),
            written: AtomicU64::new(0),
            failed: AtomicBool::new(false),
            stat,
        }
    }

    fn take(&self) -> Option<Writer> {
        self.writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .take()
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
        match self.fetch(offset, max)? {
            Some(buf) => io::Read::read_to_end(&mut { buf }, out),
            None => Ok(0),
        }
    }

    /// Fill `dst` from `offset` as far as the object goes; returns the bytes read.
    pub(crate) fn read_at(&self, dst: &mut [u8], offset: u64) -> io::Result<usize> {
        match self.fetch(offset, dst.len())? {
            Some(mut buf) => {
                let n = buf.len();
                io::Read::read_exact(&mut buf, &mut dst[..n])?;
                Ok(n)
            }
            None => Ok(0),
        }
    }

    /// Up to `max` bytes from `offset` (one ranged request); `None` at or past the end.
    fn fetch(&self, offset: u64, max: usize) -> io::Result<Option<opendal::Buffer>> {
        let ObjFile::Read(r) = self else {
            return Err(unsupported());
        };
        if offset >= r.size || max == 0 {
            return Ok(None);
        }
        let end = r.size.min(offset.saturating_add(max as u64));
        let mut read = r.op.read_with(&r.key).range(offset..end);
        if let Some(etag) = &r.etag {
            read = read.if_match(etag);
        }
        let buf = block(read.into_future()).map_err(|e| match e.kind() {
            // The object was replaced or removed since it was opened.
            opendal::ErrorKind::ConditionNotMatch | opendal::ErrorKind::NotFound => {
                io::Error::other("object changed")
            }
            _ => io_error(&e),
        })?;
        Ok(Some(buf))
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
        let (writer, held) = &mut *guard;
        let writer = writer.as_mut().ok_or_else(|| io::Error::other("closed"))?;
        // In pieces of at most a part: the copy handed over is never more than that.
        for piece in data.chunks(UPLOAD_CHUNK) {
            let buffered = w.written.load(Ordering::Acquire) + 2 * piece.len() as u64;
            if held.bytes() < UPLOAD_HELD.min(buffered) {
                held.resize(UPLOAD_HELD.min(buffered))
                    .map_err(|_| io::Error::from(io::ErrorKind::QuotaExceeded))?;
            }
            if let Err(e) = block(writer.write(piece.to_vec())) {
                w.failed.store(true, Ordering::Release);
                return Err(io_error(&e));
            }
            w.written.fetch_add(piece.len() as u64, Ordering::AcqRel);
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
        let Some(mut writer) = w.take() else {
            return Ok(());
        };
        if w.failed.load(Ordering::Acquire) {
            let _ = block(writer.abort());
            return Err(ErrorCode::Io);
        }
        match block(writer.close()) {
            Ok(_) => Ok(()),
            Err(e) => {
                let _ = block(writer.abort());
                Err(crate::object::code(&e))
            }
        }
    }

    /// Abort an upload: nothing becomes visible.
    pub(crate) fn abort(self) {
        if let ObjFile::Write(w) = self
            && let Some(mut writer) = w.take()
        {
            let _ = block(writer.abort());
        }
    }
}
