//! Path predicates and times, like `aiofiles.os.path`, plus pure string helpers
//! ([`join`], [`basename`], [`dirname`]) with Python's `posixpath` semantics.
//!
//! Like Python, the predicates answer `false` for a path that does not exist; a path
//! outside every grant still fails with
//! [`ErrorCode::NotPermitted`](crate::ErrorCode::NotPermitted).
//!
//! ```no_run
//! # async fn demo() -> aiofs::Result<()> {
//! use aiofs::path;
//! if path::is_file("/data/a.txt").await? {
//!     println!("{} bytes", path::get_size("/data/a.txt").await?);
//! }
//! # Ok(()) }
//! ```

use crate::bindings::aiofs::fs::path as raw;
use crate::error::{Context, Result};

/// Whether `path` exists (following symlinks).
pub async fn exists(path: impl AsRef<str>) -> Result<bool> {
    let path = path.as_ref();
    raw::exists(path.to_owned()).await.at("exists", path)
}

/// Whether `path` is a regular file (following symlinks).
pub async fn is_file(path: impl AsRef<str>) -> Result<bool> {
    let path = path.as_ref();
    raw::is_file(path.to_owned()).await.at("is_file", path)
}

/// Whether `path` is a directory (following symlinks).
pub async fn is_dir(path: impl AsRef<str>) -> Result<bool> {
    let path = path.as_ref();
    raw::is_dir(path.to_owned()).await.at("is_dir", path)
}

/// Whether `path` is a symbolic link.
pub async fn is_link(path: impl AsRef<str>) -> Result<bool> {
    let path = path.as_ref();
    raw::is_link(path.to_owned()).await.at("is_link", path)
}

/// Size of `path` in bytes.
pub async fn get_size(path: impl AsRef<str>) -> Result<u64> {
    let path = path.as_ref();
    raw::get_size(path.to_owned()).await.at("get_size", path)
}

/// Modification time of `path` in seconds since the Unix epoch.
pub async fn get_mtime(path: impl AsRef<str>) -> Result<f64> {
    let path = path.as_ref();
    raw::get_mtime(path.to_owned()).await.at("get_mtime", path)
}

/// Access time of `path` in seconds since the Unix epoch.
pub async fn get_atime(path: impl AsRef<str>) -> Result<f64> {
    let path = path.as_ref();
    raw::get_atime(path.to_owned()).await.at("get_atime", path)
}

/// Status change time of `path` in seconds since the Unix epoch.
pub async fn get_ctime(path: impl AsRef<str>) -> Result<f64> {
    let path = path.as_ref();
    raw::get_ctime(path.to_owned()).await.at("get_ctime", path)
}

/// Whether `a` and `b` name the same file (same device and inode).
pub async fn samefile(a: impl AsRef<str>, b: impl AsRef<str>) -> Result<bool> {
    let (a, b) = (a.as_ref(), b.as_ref());
    raw::samefile(a.to_owned(), b.to_owned())
        .await
        .at2("samefile", a, b)
}

/// Join two guest paths like `os.path.join`: an absolute `tail` replaces `base`,
/// otherwise they are joined with one `/`. No host call.
///
/// ```
/// assert_eq!(aiofs::path::join("/data", "a.txt"), "/data/a.txt");
/// assert_eq!(aiofs::path::join("/data/", "sub/b"), "/data/sub/b");
/// assert_eq!(aiofs::path::join("/data", "/other"), "/other");
/// ```
pub fn join(base: impl AsRef<str>, tail: impl AsRef<str>) -> String {
    let (base, tail) = (base.as_ref(), tail.as_ref());
    if tail.starts_with('/') || base.is_empty() {
        tail.to_owned()
    } else if base.ends_with('/') {
        format!("{base}{tail}")
    } else {
        format!("{base}/{tail}")
    }
}

/// The final component of `path`, like `os.path.basename` (empty after a trailing `/`).
///
/// ```
/// assert_eq!(aiofs::path::basename("/data/a.txt"), "a.txt");
/// ```
pub fn basename(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, name)| name)
}

/// Everything before the final component of `path`, like `os.path.dirname`.
///
/// ```
/// assert_eq!(aiofs::path::dirname("/data/sub/a.txt"), "/data/sub");
/// assert_eq!(aiofs::path::dirname("/a.txt"), "/");
/// assert_eq!(aiofs::path::dirname("a.txt"), "");
/// ```
pub fn dirname(path: &str) -> &str {
    let head = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    if head.bytes().all(|b| b == b'/') {
        // Empty, or the root (`/`, `//`): keep it as it is.
        head
    } else {
        head.trim_end_matches('/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_like_posixpath() {
        assert_eq!(join("a", "b"), "a/b");
        assert_eq!(join("a/", "b"), "a/b");
        assert_eq!(join("", "b"), "b");
        assert_eq!(join("/x", "/y"), "/y");
        assert_eq!(join("/", "y"), "/y");
    }

    #[test]
    fn basename_and_dirname_like_posixpath() {
        let cases = [
            ("/data/sub/a.txt", "/data/sub", "a.txt"),
            ("/a.txt", "/", "a.txt"),
            ("a.txt", "", "a.txt"),
            ("/data/sub/", "/data/sub", ""),
            ("//a", "//", "a"),
            ("a//b", "a", "b"),
            ("/", "/", ""),
        ];
        for (path, dir, base) in cases {
            assert_eq!(dirname(path), dir, "dirname({path:?})");
            assert_eq!(basename(path), base, "basename({path:?})");
        }
    }
}
