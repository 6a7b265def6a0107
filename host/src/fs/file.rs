//! The open-file handle of the domain layer.

use super::{Stat, Whence};
use crate::error::FsResult;

/// An open file. Cheap to clone (clones share the handle, position and state). Operations
/// on one file are serialised in the order issued; each is one trip to the pool. The OS
/// descriptor is closed on the pool when `close` is called or the last clone is dropped;
/// a named temporary file with `delete` is removed then as well.
#[derive(Debug, Clone)]
pub struct File {
    name: String,
}

#[allow(missing_docs, reason = "each method is documented in wit/aiofs.wit under the same name")]
impl File {
    pub fn name(&self) -> &str { &self.name }
    pub fn mode(&self) -> String { todo!() }
    pub fn is_text(&self) -> bool { todo!() }
    pub fn is_closed(&self) -> bool { todo!() }

    pub async fn read(&self, n: u64) -> FsResult<Vec<u8>> { todo!("{n}") }
    pub async fn read_all(&self) -> FsResult<Vec<u8>> { todo!() }
    pub async fn read_line(&self) -> FsResult<Vec<u8>> { todo!() }
    pub async fn read_lines(&self, max: u32) -> FsResult<Vec<Vec<u8>>> { todo!("{max}") }
    pub async fn write(&self, data: Vec<u8>) -> FsResult<u64> { todo!("{}", data.len()) }
    pub async fn write_lines(&self, lines: Vec<Vec<u8>>) -> FsResult<u64> { todo!("{}", lines.len()) }

    pub async fn read_text(&self, n: u64) -> FsResult<String> { todo!("{n}") }
    pub async fn read_all_text(&self) -> FsResult<String> { todo!() }
    pub async fn read_line_text(&self) -> FsResult<String> { todo!() }
    pub async fn read_lines_text(&self, max: u32) -> FsResult<Vec<String>> { todo!("{max}") }
    pub async fn write_text(&self, text: String) -> FsResult<u64> { todo!("{text}") }
    pub async fn write_lines_text(&self, lines: Vec<String>) -> FsResult<u64> { todo!("{}", lines.len()) }

    pub async fn seek(&self, offset: i64, whence: Whence) -> FsResult<u64> { todo!("{offset}{whence:?}") }
    pub async fn tell(&self) -> FsResult<u64> { todo!() }
    pub async fn truncate(&self, size: Option<u64>) -> FsResult<u64> { todo!("{size:?}") }
    pub async fn flush(&self) -> FsResult<()> { todo!() }
    pub async fn sync(&self) -> FsResult<()> { todo!() }
    pub async fn sync_data(&self) -> FsResult<()> { todo!() }
    pub async fn stat(&self) -> FsResult<Stat> { todo!() }
    pub async fn close(&self) -> FsResult<()> { todo!() }

    /// Stream support: read the next chunk (at most `max` bytes, capped by the per-read
    /// limit) from the current position and advance it; empty at end of file. Binary only.
    pub async fn read_chunk(&self, max: usize) -> FsResult<Vec<u8>> { todo!("{max}") }
    /// Stream support: write `data` at the current position (end in append mode), advance,
    /// and return the bytes written. Binary only.
    pub async fn write_chunk(&self, data: Vec<u8>) -> FsResult<u64> { todo!("{}", data.len()) }
    /// Stream support: check up front that a stream in this direction is allowed
    /// (open, binary, readable/writable), so the stream can fail fast.
    pub fn check_stream(&self, write: bool) -> FsResult<()> { todo!("{write}") }
    /// Remember an error nobody observed (a write stream whose future was dropped);
    /// `close` reports the first such error.
    pub fn record_unobserved_error(&self, err: crate::error::ErrorCode) { todo!("{err}") }
}
