//! Temporary files and directories inside a grant, like `aiofiles.tempfile`.
//!
//! The free functions use the defaults (the root of the first writable grant, prefix
//! `tmp`, mode `w+b`); [`Builder`] sets the directory, name parts, mode and deletion.
//!
//! ```no_run
//! # async fn demo() -> aiofs::Result<()> {
//! use aiofs::tempfile::{self, Builder};
//!
//! let scratch = tempfile::temporary_file().await?; // no name, gone when closed
//! scratch.write(b"intermediate").await?;
//!
//! let report = Builder::new()
//!     .dir("/data/out")
//!     .prefix("report-")
//!     .suffix(".txt")
//!     .mode("w")
//!     .delete(false)
//!     .named_tempfile()
//!     .await?;
//! report.write_text("kept after close\n").await?;
//! println!("wrote {}", report.name());
//!
//! let dir = tempfile::temporary_directory().await?; // removed when dropped
//! aiofs::write_file(dir.join("x.bin"), [1, 2, 3]).await?;
//! dir.cleanup().await?;
//! # Ok(()) }
//! ```

use crate::File;
use crate::bindings::aiofs::fs::tempfile as raw;
use crate::error::{Context, Result};

/// Options for temporary objects: directory, name prefix and suffix, open mode, and
/// whether a named file is deleted when closed.
#[derive(Debug, Clone)]
pub struct Builder {
    mode: String,
    dir: Option<String>,
    prefix: Option<String>,
    suffix: Option<String>,
    delete: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// Defaults: first writable grant's root, prefix `tmp`, no suffix, mode `w+b`,
    /// named files deleted on close.
    pub fn new() -> Self {
        Builder {
            mode: String::new(),
            dir: None,
            prefix: None,
            suffix: None,
            delete: true,
        }
    }

    /// The open mode for files; it must create (`w`, `w+`, `x`, `a`, with or without
    /// `b`). Default `w+b`.
    pub fn mode(mut self, mode: impl Into<String>) -> Self {
        self.mode = mode.into();
        self
    }

    /// The guest directory to create the object in.
    pub fn dir(mut self, dir: impl Into<String>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// The start of the random name (default `tmp`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// The end of the random name (default empty).
    pub fn suffix(mut self, suffix: impl Into<String>) -> Self {
        self.suffix = Some(suffix.into());
        self
    }

    /// Whether [`named_tempfile`](Builder::named_tempfile) removes the file when it is
    /// closed or dropped (default `true`).
    pub fn delete(mut self, delete: bool) -> Self {
        self.delete = delete;
        self
    }

    fn options(&self) -> raw::TempOptions {
        raw::TempOptions {
            dir: self.dir.clone(),
            prefix: self.prefix.clone(),
            suffix: self.suffix.clone(),
        }
    }

    fn where_(&self) -> &str {
        self.dir.as_deref().unwrap_or("")
    }

    /// Create a file with no name in the filesystem; it disappears when closed
    /// (`tempfile.TemporaryFile`).
    pub async fn tempfile(&self) -> Result<File> {
        let raw = raw::temporary_file(self.mode.clone(), self.options())
            .await
            .at("temporary_file", self.where_())?;
        Ok(File::from_raw(raw))
    }

    /// Create a file with a visible name ([`File::name`]), removed when closed or
    /// dropped unless [`delete(false)`](Builder::delete) (`tempfile.NamedTemporaryFile`).
    pub async fn named_tempfile(&self) -> Result<File> {
        let raw = raw::named_temporary_file(self.mode.clone(), self.options(), self.delete)
            .await
            .at("named_temporary_file", self.where_())?;
        Ok(File::from_raw(raw))
    }

    /// Create a directory that is removed with its content when dropped
    /// (`tempfile.TemporaryDirectory`).
    pub async fn tempdir(&self) -> Result<TempDir> {
        let raw = raw::temporary_directory(self.options())
            .await
            .at("temporary_directory", self.where_())?;
        Ok(TempDir::from_raw(raw))
    }
}

/// A file with no name, gone when closed, with the default options
/// (`tempfile.TemporaryFile`). See [`Builder::tempfile`].
pub async fn temporary_file() -> Result<File> {
    Builder::new().tempfile().await
}

/// A named file, removed when closed, with the default options
/// (`tempfile.NamedTemporaryFile`). See [`Builder::named_tempfile`].
pub async fn named_temporary_file() -> Result<File> {
    Builder::new().named_tempfile().await
}

/// A new directory, removed with its content when dropped, with the default options
/// (`tempfile.TemporaryDirectory`). See [`Builder::tempdir`].
pub async fn temporary_directory() -> Result<TempDir> {
    Builder::new().tempdir().await
}

/// A temporary directory; it and everything in it is removed when dropped or by
/// [`cleanup`](TempDir::cleanup).
#[derive(Debug)]
pub struct TempDir {
    raw: raw::TempDir,
    path: String,
}

impl TempDir {
    /// Wrap a raw bindings handle.
    pub fn from_raw(raw: raw::TempDir) -> TempDir {
        let path = raw.path();
        TempDir { raw, path }
    }

    /// The raw bindings handle.
    pub fn as_raw(&self) -> &raw::TempDir {
        &self.raw
    }

    /// The guest path of the directory.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The guest path of `name` inside the directory.
    pub fn join(&self, name: impl AsRef<str>) -> String {
        crate::path::join(&self.path, name)
    }

    /// Remove the directory tree now and report any error (dropping also removes it,
    /// but silently).
    pub async fn cleanup(self) -> Result<()> {
        self.raw.cleanup().await.at("cleanup", &self.path)
    }
}
