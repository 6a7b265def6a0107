//! Many small operations in one host call (the WIT `batch` interface).
//!
//! A single `stat` or `exists` costs a host call and a trip to the host's thread pool;
//! for thousands of small operations that trip is most of the time. A batch carries a
//! list of operations in one call: the host runs them one after another on one pool
//! thread, each exactly as the single function of the same name (the same checks,
//! budgets and limits), and returns one result per item, each failing on its own.
//!
//! ```no_run
//! # async fn demo() -> aiofs::Result<()> {
//! use aiofs::batch::{Batch, Outcome};
//! let mut b = Batch::new();
//! b.makedirs("/data/out", true)
//!     .write_file("/data/out/a.txt", "a")
//!     .stat("/data/out/a.txt")
//!     .exists("/data/missing");
//! for (i, result) in b.run().await?.into_iter().enumerate() {
//!     match result {
//!         Ok(Outcome::Stat(st)) => println!("{i}: {} bytes", st.size),
//!         Ok(other) => println!("{i}: {other:?}"),
//!         Err(e) => println!("{i}: {e}"),
//!     }
//! }
//! let sizes: Vec<u64> = aiofs::batch::stat_many(["/data/out/a.txt"])
//!     .await?
//!     .into_iter()
//!     .map(|st| st.map_or(0, |st| st.size))
//!     .collect();
//! # Ok(()) }
//! ```
//!
//! # Limits
//! The host caps one call at a number of items and of bytes (paths plus `write-file`
//! data in, `read-file` data out); by default 1024 items and 16 MiB. [`Batch::run`] and
//! the `*_many` functions split longer lists into calls of at most [`MAX_ITEMS`] items
//! and [`MAX_BYTES`] bytes; a host with lower limits answers [`ErrorCode::Quota`].

use crate::Metadata;
use crate::bindings::aiofs::fs::batch as raw;
use crate::error::{Error, ErrorCode, Result};

#[doc(no_inline)]
pub use crate::bindings::aiofs::fs::batch::{Op, Outcome};

/// Most items sent in one host call (the host's default limit).
pub const MAX_ITEMS: usize = 1024;
/// Most bytes of paths and data sent in one host call (the host's default limit).
pub const MAX_BYTES: usize = 16 << 20;

/// Calls of [`stat_many`] and [`exists_many`] kept in flight at once (each runs on its
/// own host pool thread).
const IN_FLIGHT: usize = 4;

/// Run `ops` in one host call; one result per item. Fails as a whole (with
/// [`ErrorCode::Quota`]) when the list is over the host's item or byte limit.
pub async fn run(ops: Vec<Op>) -> Result<Vec<std::result::Result<Outcome, ErrorCode>>> {
    raw::run(ops).await.map_err(Error::new)
}

/// The operation name and path(s) of `op`, for errors.
fn describe(op: &Op) -> (&'static str, &str, Option<&str>) {
    match op {
        Op::Stat(p) => ("stat", p, None),
        Op::Lstat(p) => ("lstat", p, None),
        Op::Exists(p) => ("exists", p, None),
        Op::IsFile(p) => ("is_file", p, None),
        Op::IsDir(p) => ("is_dir", p, None),
        Op::ReadFile((p, _)) => ("read_file", p, None),
        Op::WriteFile((p, _)) => ("write_file", p, None),
        Op::Remove(p) => ("remove", p, None),
        Op::Mkdir(p) => ("mkdir", p, None),
        Op::Makedirs((p, _)) => ("makedirs", p, None),
        Op::Rmdir(p) => ("rmdir", p, None),
        Op::Rename((s, d)) => ("rename", s, Some(d)),
    }
}

/// Bytes of paths and data `op` carries.
fn weight(op: &Op) -> usize {
    match op {
        Op::WriteFile((p, d)) => p.len() + d.len(),
        Op::Rename((s, d)) => s.len() + d.len(),
        other => describe(other).1.len(),
    }
}

/// Split `ops` into host calls of at most [`MAX_ITEMS`] items and [`MAX_BYTES`] bytes.
fn chunks(ops: Vec<Op>) -> Vec<Vec<Op>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut bytes = 0;
    for op in ops {
        let w = weight(&op);
        if !cur.is_empty() && (cur.len() == MAX_ITEMS || bytes + w > MAX_BYTES) {
            out.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        bytes += w;
        cur.push(op);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Run one call's worth of `ops`, attaching each failed item's operation and path.
async fn run_chunk(ops: Vec<Op>) -> Result<Vec<Result<Outcome>>> {
    // Only the names and paths are kept for the errors, not the data.
    let what: Vec<(&'static str, String, Option<String>)> = ops
        .iter()
        .map(|op| {
            let (name, p, d) = describe(op);
            (name, p.to_owned(), d.map(str::to_owned))
        })
        .collect();
    let out = run(ops).await?;
    Ok(out
        .into_iter()
        .zip(what)
        .map(|(r, (name, p, d))| {
            r.map_err(|code| match d {
                None => Error::with_path(code, name, &p),
                Some(d) => Error::with_paths(code, name, &p, &d),
            })
        })
        .collect())
}

/// A list of operations built up and run together, in order.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    ops: Vec<Op>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Add any operation.
    pub fn push(&mut self, op: Op) -> &mut Batch {
        self.ops.push(op);
        self
    }

    /// Add `os.stat(path)` (following symlinks); answers [`Outcome::Stat`].
    pub fn stat(&mut self, path: impl Into<String>) -> &mut Batch {
        self.push(Op::Stat(path.into()))
    }

    /// Add `os.lstat(path)`; answers [`Outcome::Stat`].
    pub fn lstat(&mut self, path: impl Into<String>) -> &mut Batch {
        self.push(Op::Lstat(path.into()))
    }

    /// Add `path.exists(path)`; answers [`Outcome::Flag`].
    pub fn exists(&mut self, path: impl Into<String>) -> &mut Batch {
        self.push(Op::Exists(path.into()))
    }

    /// Add `path.is_file(path)`; answers [`Outcome::Flag`].
    pub fn is_file(&mut self, path: impl Into<String>) -> &mut Batch {
        self.push(Op::IsFile(path.into()))
    }

    /// Add `path.is_dir(path)`; answers [`Outcome::Flag`].
    pub fn is_dir(&mut self, path: impl Into<String>) -> &mut Batch {
        self.push(Op::IsDir(path.into()))
    }

    /// Add a whole-file read of at most `max` bytes; answers [`Outcome::Data`].
    pub fn read_file_max(&mut self, path: impl Into<String>, max: u64) -> &mut Batch {
        self.push(Op::ReadFile((path.into(), max)))
    }

    /// Add a whole-file read; answers [`Outcome::Data`].
    pub fn read_file(&mut self, path: impl Into<String>) -> &mut Batch {
        self.read_file_max(path, u64::MAX)
    }

    /// Add a whole-file write (create or replace; not atomic); answers [`Outcome::Done`].
    pub fn write_file(&mut self, path: impl Into<String>, data: impl Into<Vec<u8>>) -> &mut Batch {
        self.push(Op::WriteFile((path.into(), data.into())))
    }

    /// Add `os.remove(path)`; answers [`Outcome::Done`].
    pub fn remove(&mut self, path: impl Into<String>) -> &mut Batch {
        self.push(Op::Remove(path.into()))
    }

    /// Add `os.mkdir(path)`; answers [`Outcome::Done`].
    pub fn mkdir(&mut self, path: impl Into<String>) -> &mut Batch {
        self.push(Op::Mkdir(path.into()))
    }

    /// Add `os.makedirs(path, exist_ok)`; answers [`Outcome::Done`].
    pub fn makedirs(&mut self, path: impl Into<String>, exist_ok: bool) -> &mut Batch {
        self.push(Op::Makedirs((path.into(), exist_ok)))
    }

    /// Add `os.rmdir(path)`; answers [`Outcome::Done`].
    pub fn rmdir(&mut self, path: impl Into<String>) -> &mut Batch {
        self.push(Op::Rmdir(path.into()))
    }

    /// Add `os.rename(src, dst)`; answers [`Outcome::Done`].
    pub fn rename(&mut self, src: impl Into<String>, dst: impl Into<String>) -> &mut Batch {
        self.push(Op::Rename((src.into(), dst.into())))
    }

    /// Operations added so far.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Run every operation in order (in as many host calls as the limits need, one
    /// after another) and return one result per operation; a failed item's [`Error`]
    /// names its operation and path.
    ///
    /// # Errors
    /// [`ErrorCode::Quota`] if the host refuses a call as a whole (its limits are lower
    /// than [`MAX_ITEMS`] / [`MAX_BYTES`], or its memory budget is spent); the items of
    /// earlier calls have run then.
    pub async fn run(self) -> Result<Vec<Result<Outcome>>> {
        let mut out = Vec::with_capacity(self.ops.len());
        for chunk in chunks(self.ops) {
            out.extend(run_chunk(chunk).await?);
        }
        Ok(out)
    }
}

/// Run independent read-only calls with up to [`IN_FLIGHT`] in flight; results in order.
async fn many<T>(ops: Vec<Op>, pick: fn(Outcome) -> Option<T>) -> Result<Vec<Result<T>>> {
    use futures::stream::{self, StreamExt, TryStreamExt};
    let calls: Vec<Vec<Result<Outcome>>> = stream::iter(chunks(ops).into_iter().map(run_chunk))
        .buffered(IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(calls
        .into_iter()
        .flatten()
        .map(|r| r.and_then(|o| pick(o).ok_or_else(|| Error::new(ErrorCode::Io))))
        .collect())
}

/// Metadata of every path (following symlinks), in order, each failing on its own, in as
/// few host calls as the limits allow (several in flight at once).
pub async fn stat_many<P: AsRef<str>>(
    paths: impl IntoIterator<Item = P>,
) -> Result<Vec<Result<Metadata>>> {
    let ops = paths
        .into_iter()
        .map(|p| Op::Stat(p.as_ref().to_owned()))
        .collect();
    many(ops, |o| match o {
        Outcome::Stat(st) => Some(st),
        _ => None,
    })
    .await
}

/// Whether each path exists (following symlinks), in order, in as few host calls as the
/// limits allow (several in flight at once).
pub async fn exists_many<P: AsRef<str>>(
    paths: impl IntoIterator<Item = P>,
) -> Result<Vec<Result<bool>>> {
    let ops = paths
        .into_iter()
        .map(|p| Op::Exists(p.as_ref().to_owned()))
        .collect();
    many(ops, |o| match o {
        Outcome::Flag(b) => Some(b),
        _ => None,
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_respect_items_and_bytes() {
        let ops: Vec<Op> = (0..2500).map(|i| Op::Exists(format!("/d/{i}"))).collect();
        let sizes: Vec<usize> = chunks(ops).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![1024, 1024, 452]);
        let big = || Op::WriteFile(("/d/x".into(), vec![0; 6 << 20]));
        let sizes: Vec<usize> = chunks(vec![big(), big(), big(), Op::Stat("/d".into())])
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, vec![2, 2]);
        assert!(chunks(Vec::new()).is_empty());
    }
}
