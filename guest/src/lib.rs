//! aiofs: aiofiles for WebAssembly components — the guest side.
//!
//! Async, capability-scoped file I/O for Rust components built for `wasm32-wasip2`,
//! shaped like Python's `aiofiles` and `tokio::fs`. Every operation that touches the
//! disk is a component-model `async func` import (`aiofs:fs@0.1.0`): the host runs it on
//! a bounded thread pool, and the guest can keep many operations in flight at once with
//! ordinary future combinators (`futures::future::join_all`,
//! `futures::stream::StreamExt::buffer_unordered`, [`spawn_local`]).
//!
//! ```no_run
//! async fn run() -> Result<(), aiofs::Error> {
//!     aiofs::write_file("/data/hello.txt", "hello\n").await?;
//!
//!     let f = aiofs::open("/data/hello.txt", "a").await?;
//!     f.write_text("world\n").await?;
//!     f.close().await?;
//!
//!     let text = aiofs::read_to_string("/data/hello.txt").await?;
//!     assert_eq!(text, "hello\nworld\n");
//!
//!     for entry in aiofs::os::scandir("/data").await? {
//!         println!("{} {:?}", entry.name, entry.type_);
//!     }
//!     Ok(())
//! }
//!
//! aiofs::main!(run);
//! ```
//!
//! # Paths and grants
//!
//! The guest sees only the directories the host granted ([`grants`]). Paths are strings:
//! an absolute path resolves against the grant mounted at its longest matching prefix
//! (`/data/x` under a grant mounted at `/data`), a relative path against the first
//! grant. The host resolves everything beneath the grant's directory, so `..` above a
//! mount, unknown absolute paths and symlinks leading out fail with
//! [`ErrorCode::NotPermitted`]; writing under a read-only grant fails with
//! [`ErrorCode::ReadOnly`].
//!
//! # Modules
//!
//! * top level — [`open`] → [`File`], whole-file [`read_file`] / [`write_file`] /
//!   [`write_file_atomic`], [`grants`], [`Error`];
//! * [`os`] — `stat`, `listdir`, `scandir`, `rename`, `makedirs`, `remove_tree`, `walk`, ...;
//! * [`path`] — `exists`, `is_file`, `get_size`, `get_mtime`, ..., and `join`;
//! * [`tempfile`] — temporary files and directories;
//! * [`batch`] — many small operations (`stat`, `exists`, `read_file`, `mkdir`, ...) in one host call;
//! * [`bindings`] — the raw generated bindings, for calling a WIT function directly.
//!
//! # Cancellation
//!
//! Dropping a pending future cancels the host call; an operation the host pool already
//! started still runs to completion there, but its result is discarded. Dropping a
//! [`File`] closes it on the host.
//!
//! # Caveats
//!
//! * The functions only work inside a component run by an aiofs host. Natively (for
//!   `cargo test` of pure helpers) the crate compiles, but calling an import panics.
//! * Byte methods need a binary-mode file (`"rb"`, `"w+b"`, ...) and text methods a
//!   text-mode file; the other kind fails with [`ErrorCode::Invalid`].
//! * One host call moves at most the host's per-call limit (`read_all`, `read_file`
//!   fail with [`ErrorCode::Quota`] beyond it); the stream methods
//!   ([`File::chunks`], [`File::write_from`]) have no such limit.
#![deny(missing_docs)]
#![deny(unsafe_code)]

/// The raw bindings generated from `wit/aiofs.wit` (world `aiofs:fs/command`).
///
/// Every WIT function is here as an `async fn` (for instance
/// `bindings::aiofs::fs::files::open`), with the raw [`ErrorCode`] as its error. The
/// wrappers in the rest of the crate add paths to errors and Rust-style arguments.
#[allow(missing_docs, unsafe_code, reason = "generated code")]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "aiofs:fs/command",
        pub_export_macro: true,
        default_bindings_module: "aiofs::bindings",
        additional_derives: [PartialEq, Eq, Hash],
        generate_all,
    });
}

pub mod batch;
mod error;
mod file;
mod metadata;
pub mod os;
pub mod path;
pub mod tempfile;

pub use error::{Error, ErrorCode, Result, describe};
pub use file::{Chunks, DEFAULT_LINE_BATCH, File, Lines};

#[doc(no_inline)]
pub use bindings::aiofs::fs::grants::{Grant, Permission};
#[doc(no_inline)]
pub use bindings::aiofs::fs::types::{DirEntry, FileType, Timestamp};
#[doc(no_inline)]
pub use std::io::SeekFrom;
#[doc(no_inline)]
pub use wit_bindgen::spawn_local;

/// File metadata, like Python's `os.stat_result` (the WIT `stat-result` record).
pub type Metadata = bindings::aiofs::fs::types::StatResult;

use bindings::aiofs::fs::{files, grants as raw_grants};
use error::Context;

/// Open `path` with a Python mode string, like `aiofiles.open`.
///
/// The mode is one of `r w a x`, optionally `+`, optionally `b` (binary) or `t` (text,
/// the default): `r` needs the file to exist, `w` creates or truncates, `a` creates and
/// appends, `x` creates and fails with [`ErrorCode::Exist`] if present.
///
/// # Errors
///
/// * [`ErrorCode::Invalid`] for a malformed mode;
/// * [`ErrorCode::ReadOnly`] for a writing mode under a read-only grant;
/// * [`ErrorCode::NoEntry`], [`ErrorCode::NotPermitted`], ... as the path dictates.
///
/// ```no_run
/// # async fn demo() -> aiofs::Result<()> {
/// let f = aiofs::open("/data/a.txt", "r").await?;
/// let first = f.read_line_text().await?;
/// # Ok(()) }
/// ```
pub async fn open(path: impl AsRef<str>, mode: impl AsRef<str>) -> Result<File> {
    File::open(path, mode).await
}

/// Read a whole file in one host call. Fails with [`ErrorCode::Quota`] if it is larger
/// than the host's per-call limit; see [`File::copy_to_vec`] for files of any size.
pub async fn read_file(path: impl AsRef<str>) -> Result<Vec<u8>> {
    read_file_max(path, u64::MAX).await
}

/// Read a whole file in one host call, failing with [`ErrorCode::FileTooLarge`] if it is
/// larger than `max` bytes.
pub async fn read_file_max(path: impl AsRef<str>, max: u64) -> Result<Vec<u8>> {
    let path = path.as_ref();
    files::read_file(path.to_owned(), max)
        .await
        .at("read_file", path)
}

/// Read a whole UTF-8 file into a `String` in one host call. Invalid UTF-8 fails with
/// [`ErrorCode::IllegalByteSequence`].
pub async fn read_to_string(path: impl AsRef<str>) -> Result<String> {
    let path = path.as_ref();
    let bytes = read_file(path).await?;
    String::from_utf8(bytes)
        .map_err(|_| Error::with_path(ErrorCode::IllegalByteSequence, "read_file", path))
}

/// Create or replace `path` with `data` in one host call.
///
/// ```no_run
/// # async fn demo() -> aiofs::Result<()> {
/// aiofs::write_file("/data/out.csv", "a,b\n1,2\n").await?;
/// # Ok(()) }
/// ```
pub async fn write_file(path: impl AsRef<str>, data: impl Into<Vec<u8>>) -> Result<()> {
    let path = path.as_ref();
    files::write_file(path.to_owned(), data.into(), false)
        .await
        .at("write_file", path)
}

/// Create or replace `path` with `data` atomically: the host writes a temporary file in
/// the same directory, syncs it and renames it over `path`, so readers see the old or
/// the new content, never a torn file.
pub async fn write_file_atomic(path: impl AsRef<str>, data: impl Into<Vec<u8>>) -> Result<()> {
    let path = path.as_ref();
    files::write_file(path.to_owned(), data.into(), true)
        .await
        .at("write_file_atomic", path)
}

/// The directories the host granted, in the order it added them; the first is where
/// relative paths resolve.
///
/// ```no_run
/// for g in aiofs::grants() {
///     println!("{} ({})", g.guest_path, if g.is_writable() { "rw" } else { "ro" });
/// }
/// ```
pub fn grants() -> Vec<Grant> {
    raw_grants::list_grants()
}

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen::block_on;

    /// Print an error to stderr and turn the result into the shape `wasi:cli/run` wants.
    #[allow(clippy::result_unit_err, reason = "wasi:cli/run returns result<_, _>")]
    pub fn report<E: core::fmt::Display>(result: Result<(), E>) -> Result<(), ()> {
        result.map_err(|e| eprintln!("error: {e}"))
    }
}

/// Make an `async fn run() -> Result<(), E>` the program's entry point.
///
/// ```ignore
/// async fn run() -> Result<(), aiofs::Error> {
///     aiofs::write_file("/data/hi.txt", "hi\n").await
/// }
/// aiofs::main!(run);
/// ```
///
/// `E` can be any type that implements `Display` ([`Error`], `String`, ...). The macro
/// defines:
///
/// * the `wasi:cli/run@0.3.0` export: an async `run` that awaits your function and, on
///   error, prints `error: {e}` to stderr and returns `Err(())`;
/// * `fn main()`, which drives the same future with `wit_bindgen::block_on`, so the
///   component also runs as a `wasi:cli@0.2` command (exit status 1 on error).
///
/// Use it once, at the root of a binary (or example) crate.
#[macro_export]
macro_rules! main {
    ($run:path) => {
        #[doc(hidden)]
        struct __AiofsCommand;

        impl $crate::bindings::exports::wasi::cli::run::Guest for __AiofsCommand {
            async fn run() -> ::core::result::Result<(), ()> {
                $crate::__private::report($run().await)
            }
        }

        $crate::bindings::export!(__AiofsCommand with_types_in $crate::bindings);

        fn main() {
            if $crate::__private::report($crate::__private::block_on($run())).is_err() {
                ::std::process::exit(1);
            }
        }
    };
}
