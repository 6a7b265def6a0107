//! The bindings-free domain layer: every aiofs operation as an async method on [`Fs`].
//!
//! Shape of every method: resolve the guest path(s) against the grants, check the grant's
//! permission (`read-only` before anything is queued), then make exactly one trip to the
//! pool through [`Fs::blocking`], which is the single choke point for blocking work and
//! enforces the per-store `max_pending_ops` cap.

mod file;
mod mode;
mod temp;

pub use file::File;
pub use mode::OpenMode;
pub use temp::TempDir;

use crate::error::FsResult;
use crate::grant::{Grants, Perms};
use crate::limits::Limits;
use crate::pool::Pool;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

/// Kind of filesystem object (mirrors WIT `file-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs, reason = "mirrors wit/aiofs.wit")]
pub enum FileType {
    Unknown,
    RegularFile,
    Directory,
    SymbolicLink,
    BlockDevice,
    CharacterDevice,
    Fifo,
    Socket,
}

/// Seconds and nanoseconds since the Unix epoch (mirrors WIT `timestamp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    /// Whole seconds, negative before 1970.
    pub seconds: i64,
    /// Nanoseconds within the second.
    pub nanoseconds: u32,
}

/// File metadata (mirrors WIT `stat-result`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs, reason = "mirrors wit/aiofs.wit")]
pub struct Stat {
    pub file_type: FileType,
    pub size: u64,
    pub mode: u32,
    pub link_count: u64,
    pub inode: u64,
    pub device: u64,
    pub accessed: Option<Timestamp>,
    pub modified: Option<Timestamp>,
    pub changed: Option<Timestamp>,
    pub created: Option<Timestamp>,
}

/// One `scandir` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// Entry name.
    pub name: String,
    /// Type without following symlinks.
    pub file_type: FileType,
    /// Metadata following symlinks, when asked for and available.
    pub stat: Option<Stat>,
}

/// `os.access` checks; all false means "exists".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs, reason = "mirrors wit/aiofs.wit")]
pub struct AccessMode {
    pub read: bool,
    pub write: bool,
    pub execute: bool,
}

/// Where `seek` measures from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs, reason = "mirrors wit/aiofs.wit")]
pub enum Whence {
    Start,
    Current,
    End,
}

/// Placement and naming of temporary objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TempOptions {
    /// Guest directory; default: root of the first writable grant.
    pub dir: Option<String>,
    /// Name prefix; default `tmp`.
    pub prefix: Option<String>,
    /// Name suffix; default empty.
    pub suffix: Option<String>,
}

/// Per-store counters shared by every handle of the store.
#[derive(Debug, Default)]
pub(crate) struct StoreCounters {
    /// Operations queued or running on the pool.
    pub(crate) pending_ops: AtomicUsize,
    /// Files open now.
    pub(crate) open_files: AtomicUsize,
}

/// One store's view of the filesystem: its grants, limits, pool and counters.
/// Cheap to clone; every clone shares the counters.
#[derive(Debug, Clone)]
pub struct Fs {
    pub(crate) grants: Arc<Grants>,
    pub(crate) limits: Arc<Limits>,
    pub(crate) pool: Pool,
    pub(crate) counters: Arc<StoreCounters>,
}

#[allow(missing_docs, reason = "each method is documented in wit/aiofs.wit under the same name")]
impl Fs {
    /// Build from parts.
    pub fn new(grants: Grants, limits: Limits, pool: Pool) -> Fs {
        Fs {
            grants: Arc::new(grants),
            limits: Arc::new(limits),
            pool,
            counters: Arc::default(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The pool this store uses.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Mount points and permissions, in order.
    pub fn grant_list(&self) -> Vec<(String, Perms)> {
        self.grants.iter().map(|g| (g.guest_path.clone(), g.perms)).collect()
    }

    /// Operations of this store queued or running on the pool now.
    pub fn pending_ops(&self) -> usize {
        self.counters.pending_ops.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Files of this store open now.
    pub fn open_files(&self) -> usize {
        self.counters.open_files.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// THE choke point: take a pending-op slot (`quota` if none), run `f` on the pool,
    /// release the slot (also when the future is dropped).
    pub(crate) async fn blocking<T, F>(&self, f: F) -> FsResult<T>
    where
        T: Send + 'static,
        F: FnOnce() -> FsResult<T> + Send + 'static,
    {
        let _ = f;
        todo!()
    }

    pub async fn open(&self, path: String, mode: &str) -> FsResult<File> { todo!("{path}{mode}") }
    pub async fn read_file(&self, path: String, max: u64) -> FsResult<Vec<u8>> { todo!("{path}{max}") }
    pub async fn write_file(&self, path: String, data: Vec<u8>, atomic: bool) -> FsResult<()> { todo!("{path}{}{atomic}", data.len()) }

    pub async fn stat(&self, path: String, follow_symlinks: bool) -> FsResult<Stat> { todo!("{path}{follow_symlinks}") }
    pub async fn access(&self, path: String, mode: AccessMode) -> FsResult<bool> { todo!("{path}{mode:?}") }
    pub async fn listdir(&self, path: String) -> FsResult<Vec<String>> { todo!("{path}") }
    pub async fn scandir(&self, path: String, with_stat: bool) -> FsResult<Vec<DirEntry>> { todo!("{path}{with_stat}") }
    /// `os.rename` and `os.replace` (identical on POSIX).
    pub async fn rename(&self, src: String, dst: String) -> FsResult<()> { todo!("{src}{dst}") }
    pub async fn renames(&self, src: String, dst: String) -> FsResult<()> { todo!("{src}{dst}") }
    /// `os.remove` / `os.unlink`.
    pub async fn remove_file(&self, path: String) -> FsResult<()> { todo!("{path}") }
    pub async fn mkdir(&self, path: String) -> FsResult<()> { todo!("{path}") }
    pub async fn makedirs(&self, path: String, exist_ok: bool) -> FsResult<()> { todo!("{path}{exist_ok}") }
    pub async fn rmdir(&self, path: String) -> FsResult<()> { todo!("{path}") }
    pub async fn removedirs(&self, path: String) -> FsResult<()> { todo!("{path}") }
    pub async fn link(&self, src: String, dst: String) -> FsResult<()> { todo!("{src}{dst}") }
    pub async fn symlink(&self, target: String, link_path: String) -> FsResult<()> { todo!("{target}{link_path}") }
    pub async fn readlink(&self, path: String) -> FsResult<String> { todo!("{path}") }
    pub async fn copy_file(&self, src: String, dst: String) -> FsResult<u64> { todo!("{src}{dst}") }
    pub async fn remove_tree(&self, path: String) -> FsResult<()> { todo!("{path}") }

    pub async fn exists(&self, path: String) -> FsResult<bool> { todo!("{path}") }
    pub async fn is_file(&self, path: String) -> FsResult<bool> { todo!("{path}") }
    pub async fn is_dir(&self, path: String) -> FsResult<bool> { todo!("{path}") }
    pub async fn is_link(&self, path: String) -> FsResult<bool> { todo!("{path}") }
    pub async fn samefile(&self, a: String, b: String) -> FsResult<bool> { todo!("{a}{b}") }

    pub async fn temporary_file(&self, mode: String, options: TempOptions) -> FsResult<File> { todo!("{mode}{options:?}") }
    pub async fn named_temporary_file(&self, mode: String, options: TempOptions, delete: bool) -> FsResult<File> { todo!("{mode}{options:?}{delete}") }
    pub async fn temporary_directory(&self, options: TempOptions) -> FsResult<TempDir> { todo!("{options:?}") }
}
