//! `max_file_size` under concurrency: writes in flight per file.
//!
//! Checking a file's size and then writing is a race when several handles (or a handle
//! and a whole-file write) grow the same file at once: each sees the old size and each
//! write fits alone. So every size-limited write *reserves* its bytes on the file's inode
//! before writing, under one short per-store lock that also reads the file's current size,
//! and gives them back after the write. A write is refused with `file-too-large` when the
//! size it would give the file, plus every other write still in flight on that file,
//! exceeds the limit. That is conservative (two writes to the same region count twice
//! while both are in flight) and exact once they have finished; no lock is held while
//! writing.

use crate::error::{ErrorCode, FsResult};
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};

/// In-flight bytes per file of one store, keyed by (device, inode).
#[derive(Debug, Default)]
pub(crate) struct Growth {
    pending: Arc<Mutex<HashMap<(u64, u64), u64>>>,
}

/// Bytes reserved on one file; given back when dropped (after the write).
#[derive(Debug)]
pub(crate) struct Reserved {
    pending: Arc<Mutex<HashMap<(u64, u64), u64>>>,
    key: (u64, u64),
    len: u64,
}

impl Growth {
    /// [`reserve`](Growth::reserve) on an open file's storage. An upload has one writer
    /// (its handle), so its claim is checked against its own size and nothing is reserved.
    pub(crate) fn reserve_on(
        &self,
        file: &crate::fs::file::Handle,
        max: u64,
        len: u64,
        claim: impl FnOnce(u64) -> u64,
    ) -> FsResult<Option<Reserved>> {
        match file.as_local() {
            Some(f) => Ok(Some(self.reserve(f, max, len, claim)?)),
            None if claim(file.len()?) > max => Err(ErrorCode::FileTooLarge),
            None => Ok(None),
        }
    }

    /// Reserve `len` bytes of growth on `file`. `claim` gives the size the operation
    /// would leave the file at, from its current size; with the other writes in flight
    /// on the file it must stay within `max`.
    pub(crate) fn reserve(
        &self,
        file: &File,
        max: u64,
        len: u64,
        claim: impl FnOnce(u64) -> u64,
    ) -> FsResult<Reserved> {
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        // The size is read under the lock: a write that gave its bytes back has finished,
        // so its bytes are in this size.
        let md = file.metadata()?;
        let key = (md.dev(), md.ino());
        let in_flight = map.get(&key).copied().unwrap_or(0);
        if claim(md.len()).saturating_add(in_flight) > max {
            return Err(ErrorCode::FileTooLarge);
        }
        *map.entry(key).or_default() += len;
        Ok(Reserved {
            pending: self.pending.clone(),
            key,
            len,
        })
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.key) {
            *n -= self.len.min(*n);
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}
