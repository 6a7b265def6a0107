//! Metadata and directory operations, like `aiofiles.os` (and `shutil.copyfile` /
//! `shutil.rmtree`).
//!
//! Every function is one host call. Paths are guest paths (see the [crate docs](crate)).
//!
//! ```no_run
//! # async fn demo() -> aiofs::Result<()> {
//! use aiofs::os;
//! os::makedirs("/data/out/2024", true).await?;
//! os::rename("/data/draft.txt", "/data/out/2024/final.txt").await?;
//! for name in os::listdir("/data/out/2024").await? {
//!     println!("{name}");
//! }
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use futures::future::LocalBoxFuture;
use futures::stream::{FuturesUnordered, Stream, StreamExt};

use crate::bindings::aiofs::fs::os as raw;
use crate::error::{Context, Result};
use crate::{DirEntry, Metadata};

#[doc(no_inline)]
pub use crate::bindings::aiofs::fs::os::AccessMode;

/// Metadata of `path`, following symlinks (`os.stat`).
pub async fn stat(path: impl AsRef<str>) -> Result<Metadata> {
    let path = path.as_ref();
    raw::stat(path.to_owned()).await.at("stat", path)
}

/// Metadata of `path` itself, not following a final symlink (`os.lstat`).
pub async fn lstat(path: impl AsRef<str>) -> Result<Metadata> {
    let path = path.as_ref();
    raw::lstat(path.to_owned()).await.at("lstat", path)
}

/// Whether `path` exists and allows `mode` (`os.access`); an empty mode asks only
/// whether it exists.
///
/// ```no_run
/// # async fn demo() -> aiofs::Result<()> {
/// use aiofs::os::{self, AccessMode};
/// if os::access("/data/out", AccessMode::WRITE).await? {
///     println!("writable");
/// }
/// # Ok(()) }
/// ```
pub async fn access(path: impl AsRef<str>, mode: AccessMode) -> Result<bool> {
    let path = path.as_ref();
    raw::access(path.to_owned(), mode).await.at("access", path)
}

/// Names in a directory, without `.` and `..`, in no particular order (`os.listdir`).
pub async fn listdir(path: impl AsRef<str>) -> Result<Vec<String>> {
    let path = path.as_ref();
    raw::listdir(path.to_owned()).await.at("listdir", path)
}

/// Entries of a directory with their types (symlinks not followed), in one host call
/// (`os.scandir`).
pub async fn scandir(path: impl AsRef<str>) -> Result<Vec<DirEntry>> {
    let path = path.as_ref();
    raw::scandir(path.to_owned(), false)
        .await
        .at("scandir", path)
}

/// Like [`scandir`], also filling in each entry's [`stat`](DirEntry::stat) (following
/// symlinks) in the same host call.
pub async fn scandir_with_stat(path: impl AsRef<str>) -> Result<Vec<DirEntry>> {
    let path = path.as_ref();
    raw::scandir(path.to_owned(), true)
        .await
        .at("scandir", path)
}

/// Rename a file or directory; an existing file at `dst` is replaced (`os.rename`).
pub async fn rename(src: impl AsRef<str>, dst: impl AsRef<str>) -> Result<()> {
    let (src, dst) = (src.as_ref(), dst.as_ref());
    raw::rename(src.to_owned(), dst.to_owned())
        .await
        .at2("rename", src, dst)
}

/// Rename, replacing `dst` if it exists (`os.replace`).
pub async fn replace(src: impl AsRef<str>, dst: impl AsRef<str>) -> Result<()> {
    let (src, dst) = (src.as_ref(), dst.as_ref());
    raw::replace(src.to_owned(), dst.to_owned())
        .await
        .at2("replace", src, dst)
}

/// Rename, creating missing parents of `dst` and then pruning empty parents of `src`
/// (`os.renames`).
pub async fn renames(src: impl AsRef<str>, dst: impl AsRef<str>) -> Result<()> {
    let (src, dst) = (src.as_ref(), dst.as_ref());
    raw::renames(src.to_owned(), dst.to_owned())
        .await
        .at2("renames", src, dst)
}

/// Remove a file (`os.remove`).
pub async fn remove(path: impl AsRef<str>) -> Result<()> {
    let path = path.as_ref();
    raw::remove(path.to_owned()).await.at("remove", path)
}

/// Remove a file (`os.unlink`; the same as [`remove`]).
pub async fn unlink(path: impl AsRef<str>) -> Result<()> {
    let path = path.as_ref();
    raw::unlink(path.to_owned()).await.at("unlink", path)
}

/// Create a directory (`os.mkdir`).
pub async fn mkdir(path: impl AsRef<str>) -> Result<()> {
    let path = path.as_ref();
    raw::mkdir(path.to_owned()).await.at("mkdir", path)
}

/// Create a directory and its missing parents (`os.makedirs`). Without `exist_ok`, an
/// existing leaf fails with [`ErrorCode::Exist`](crate::ErrorCode::Exist).
pub async fn makedirs(path: impl AsRef<str>, exist_ok: bool) -> Result<()> {
    let path = path.as_ref();
    raw::makedirs(path.to_owned(), exist_ok)
        .await
        .at("makedirs", path)
}

/// Remove an empty directory (`os.rmdir`).
pub async fn rmdir(path: impl AsRef<str>) -> Result<()> {
    let path = path.as_ref();
    raw::rmdir(path.to_owned()).await.at("rmdir", path)
}

/// Remove a directory, then each parent that becomes empty, stopping at the first that
/// is not or at the grant root (`os.removedirs`).
pub async fn removedirs(path: impl AsRef<str>) -> Result<()> {
    let path = path.as_ref();
    raw::removedirs(path.to_owned())
        .await
        .at("removedirs", path)
}

/// Create a hard link `dst` to `src` (`os.link`).
pub async fn link(src: impl AsRef<str>, dst: impl AsRef<str>) -> Result<()> {
    let (src, dst) = (src.as_ref(), dst.as_ref());
    raw::link(src.to_owned(), dst.to_owned())
        .await
        .at2("link", src, dst)
}

/// Create a symbolic link at `link_path` pointing to `target` (`os.symlink`). `target`
/// must be relative; it is interpreted from the link's directory.
pub async fn symlink(target: impl AsRef<str>, link_path: impl AsRef<str>) -> Result<()> {
    let (target, link_path) = (target.as_ref(), link_path.as_ref());
    raw::symlink(target.to_owned(), link_path.to_owned())
        .await
        .at2("symlink", target, link_path)
}

/// The content of a symbolic link (`os.readlink`).
pub async fn readlink(path: impl AsRef<str>) -> Result<String> {
    let path = path.as_ref();
    raw::readlink(path.to_owned()).await.at("readlink", path)
}

/// Copy a file's content to `dst` (created or truncated) on the host; returns the bytes
/// copied (`shutil.copyfile`).
pub async fn copy_file(src: impl AsRef<str>, dst: impl AsRef<str>) -> Result<u64> {
    let (src, dst) = (src.as_ref(), dst.as_ref());
    raw::copy_file(src.to_owned(), dst.to_owned())
        .await
        .at2("copy_file", src, dst)
}

/// Remove a directory tree, not following symlinks (`shutil.rmtree`).
pub async fn remove_tree(path: impl AsRef<str>) -> Result<()> {
    let path = path.as_ref();
    raw::remove_tree(path.to_owned())
        .await
        .at("remove_tree", path)
}

/// Walk the directory tree under `top`, like Python's `os.walk`: a [`Stream`] that
/// yields one [`WalkDir`] per directory, `top` included.
///
/// Several directories are scanned at once (one `scandir` host call each, 8 in flight
/// by default, see [`Walk::concurrency`]), so the order is not fixed. Symlinks are not
/// followed. A directory that cannot be scanned yields an `Err` and the walk goes on.
///
/// ```no_run
/// # async fn demo() -> aiofs::Result<()> {
/// use futures::TryStreamExt;
/// let mut walk = aiofs::os::walk("/data");
/// while let Some(dir) = walk.try_next().await? {
///     for file in dir.files() {
///         println!("{}", dir.join(file));
///     }
/// }
/// # Ok(()) }
/// ```
pub fn walk(top: impl AsRef<str>) -> Walk {
    Walk {
        queue: VecDeque::from([top.as_ref().to_owned()]),
        in_flight: FuturesUnordered::new(),
        concurrency: 8,
        with_stat: false,
    }
}

/// One directory visited by [`walk`].
#[derive(Debug, Clone)]
pub struct WalkDir {
    /// The directory's guest path.
    pub path: String,
    /// Its entries (names, types and, with [`Walk::with_stat`], metadata).
    pub entries: Vec<DirEntry>,
}

impl WalkDir {
    /// The entries that are directories (not symlinks to directories).
    pub fn dirs(&self) -> impl Iterator<Item = &DirEntry> {
        self.entries.iter().filter(|e| e.is_dir())
    }

    /// The entries that are regular files (not symlinks to files).
    pub fn files(&self) -> impl Iterator<Item = &DirEntry> {
        self.entries.iter().filter(|e| e.is_file())
    }

    /// The guest path of `entry` (this directory's path joined with its name).
    pub fn join(&self, entry: &DirEntry) -> String {
        crate::path::join(&self.path, &entry.name)
    }
}

type Scan = LocalBoxFuture<'static, (String, Result<Vec<DirEntry>>)>;

/// The [`Stream`] returned by [`walk`].
pub struct Walk {
    queue: VecDeque<String>,
    in_flight: FuturesUnordered<Scan>,
    concurrency: usize,
    with_stat: bool,
}

impl Walk {
    /// Scan up to `n` directories at once (at least 1; default 8).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Also fetch each entry's metadata ([`scandir_with_stat`]).
    pub fn with_stat(mut self, yes: bool) -> Self {
        self.with_stat = yes;
        self
    }
}

impl Stream for Walk {
    type Item = Result<WalkDir>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        while this.in_flight.len() < this.concurrency {
            let Some(path) = this.queue.pop_front() else {
                break;
            };
            let with_stat = this.with_stat;
            this.in_flight.push(Box::pin(async move {
                let entries = if with_stat {
                    scandir_with_stat(&path).await
                } else {
                    scandir(&path).await
                };
                (path, entries)
            }));
        }
        match this.in_flight.poll_next_unpin(cx) {
            Poll::Ready(Some((path, Ok(entries)))) => {
                let dir = WalkDir { path, entries };
                // Their scans start on the next poll.
                this.queue.extend(dir.dirs().map(|e| dir.join(e)));
                Poll::Ready(Some(Ok(dir)))
            }
            Poll::Ready(Some((_, Err(e)))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl fmt::Debug for Walk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Walk")
            .field("queued", &self.queue)
            .field("in_flight", &self.in_flight.len())
            .field("concurrency", &self.concurrency)
            .field("with_stat", &self.with_stat)
            .finish()
    }
}
