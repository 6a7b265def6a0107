//! What an open [`File`](super::File) reads and writes: a host descriptor, or an object
//! being read or uploaded. The cursor, the limits and the budgets above it are the same
//! for both; only these calls differ. All of them block, and run only on pool threads.

#[cfg(feature = "object")]
use crate::error::ErrorCode;
use crate::error::FsResult;
use crate::fs::Stat;
use std::fs::File as StdFile;
use std::io::{self, Seek, Write};
use std::os::unix::fs::FileExt;

/// An open file's storage.
pub(crate) enum Handle {
    /// A host file descriptor.
    Local(StdFile),
    /// An object of an object grant.
    #[cfg(feature = "object")]
    Object(Box<crate::fs::object::ObjFile>),
}

/// `unsupported` as an I/O error (what an object cannot do).
#[cfg(feature = "object")]
pub(crate) fn unsupported() -> io::Error {
    io::Error::from(io::ErrorKind::Unsupported)
}

impl Handle {
    /// The host descriptor, if this is one.
    pub(crate) fn as_local(&self) -> Option<&StdFile> {
        match self {
            Handle::Local(f) => Some(f),
            #[cfg(feature = "object")]
            Handle::Object(_) => None,
        }
    }

    /// The size of the file now (for an upload: the bytes written so far).
    pub(crate) fn len(&self) -> io::Result<u64> {
        match self {
            Handle::Local(f) => Ok(f.metadata()?.len()),
            #[cfg(feature = "object")]
            Handle::Object(o) => Ok(o.len()),
        }
    }

    /// Append up to `max` bytes from `offset` to `out`; returns how many (0 at the end).
    /// Nothing is appended on error. Reserve before calling.
    pub(crate) fn read_up_to(
        &self,
        offset: u64,
        max: usize,
        out: &mut Vec<u8>,
    ) -> io::Result<usize> {
        match self {
            Handle::Local(file) => crate::fs::read_local(file, offset, max, out),
            #[cfg(feature = "object")]
            Handle::Object(o) => o.read_up_to(offset, max, out),
        }
    }

    /// Fill `buf` from `offset` as far as the file goes; returns the bytes read.
    pub(crate) fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        match self {
            Handle::Local(f) if crate::fs::cached::trying() => {
                crate::fs::cached::read_at(f, buf, offset)
            }
            Handle::Local(f) => {
                let mut got = 0;
                while got < buf.len() {
                    match f.read_at(&mut buf[got..], offset.saturating_add(got as u64)) {
                        Ok(0) => break,
                        Ok(k) => got += k,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(got)
            }
            #[cfg(feature = "object")]
            Handle::Object(o) => o.read_at(buf, offset),
        }
    }

    /// Write all of `data` at `pos` (an upload takes bytes only at its end).
    pub(crate) fn write_all_at(&self, data: &[u8], pos: u64) -> io::Result<()> {
        match self {
            Handle::Local(f) => f.write_all_at(data, pos),
            #[cfg(feature = "object")]
            Handle::Object(o) => o.write_at(data, pos),
        }
    }

    /// Write all of `data` at the end (an `O_APPEND` descriptor); returns the new end.
    pub(crate) fn append(&self, data: &[u8]) -> io::Result<u64> {
        match self {
            Handle::Local(file) => {
                let mut f = file;
                f.write_all(data)?;
                f.stream_position()
            }
            #[cfg(feature = "object")]
            Handle::Object(_) => Err(unsupported()),
        }
    }

    /// Truncate or extend.
    pub(crate) fn set_len(&self, size: u64) -> io::Result<()> {
        match self {
            Handle::Local(f) => f.set_len(size),
            #[cfg(feature = "object")]
            Handle::Object(_) => Err(unsupported()),
        }
    }

    /// `fsync`.
    pub(crate) fn sync_all(&self) -> io::Result<()> {
        match self {
            Handle::Local(f) => f.sync_all(),
            #[cfg(feature = "object")]
            Handle::Object(_) => Err(unsupported()),
        }
    }

    /// `fdatasync`.
    pub(crate) fn sync_data(&self) -> io::Result<()> {
        match self {
            Handle::Local(f) => f.sync_data(),
            #[cfg(feature = "object")]
            Handle::Object(_) => Err(unsupported()),
        }
    }

    /// Metadata of the open file.
    pub(crate) fn stat(&self) -> FsResult<Stat> {
        match self {
            Handle::Local(f) => Ok(crate::fs::meta::stat(&cap_std::fs::Metadata::from_file(f)?)),
            #[cfg(feature = "object")]
            Handle::Object(o) => Ok(o.stat()),
        }
    }

    /// Set access and modification times.
    pub(crate) fn set_times(&self, times: std::fs::FileTimes) -> FsResult<()> {
        match self {
            Handle::Local(f) => Ok(f.set_times(times)?),
            #[cfg(feature = "object")]
            Handle::Object(_) => Err(ErrorCode::Unsupported),
        }
    }

    /// Close: for an upload, complete it (its error is the close's). Blocking.
    pub(crate) fn close(self) -> FsResult<()> {
        match self {
            Handle::Local(f) => {
                drop(f);
                Ok(())
            }
            #[cfg(feature = "object")]
            Handle::Object(o) => (*o).close(),
        }
    }

    /// Drop without closing: an upload is aborted, so nothing becomes visible. Blocking.
    pub(crate) fn abandon(self) {
        match self {
            Handle::Local(f) => drop(f),
            #[cfg(feature = "object")]
            Handle::Object(o) => (*o).abort(),
        }
    }
}
