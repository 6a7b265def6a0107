//! `wasi:filesystem` served by aiofs: the same grants, path resolution, permission
//! checks, limits, budgets and pool as `aiofs:fs`, behind the WASI interfaces that
//! `std::fs`, wasi-libc and every WASI runtime's standard library already call.
//!
//! Each grant is a preopen at its guest path. A descriptor is a domain [`Directory`](crate::fs::Directory) or
//! [`File`](crate::fs::File); every method is one domain operation, so a guest that uses
//! `aiofs:fs` and `wasi:filesystem` together sees one filesystem under one set of rules.
//!
//! Link it *instead of* wasmtime-wasi's filesystem and keep wasmtime-wasi for the rest:
//!
//! ```no_run
//! # use aiofs_host::{AioFsCtx, AioFsCtxView, AioFsView};
//! # use wasmtime::component::{Linker, ResourceTable};
//! # use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
//! struct State { wasi: WasiCtx, aiofs: AioFsCtx, table: ResourceTable }
//! impl WasiView for State {
//!     fn ctx(&mut self) -> WasiCtxView<'_> {
//!         WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
//!     }
//! }
//! impl AioFsView for State {
//!     fn aiofs(&mut self) -> AioFsCtxView<'_> {
//!         AioFsCtxView { ctx: &mut self.aiofs, table: &mut self.table }
//!     }
//! }
//! # fn main() -> wasmtime::Result<()> {
//! # let engine = wasmtime::Engine::default();
//! let mut linker = Linker::<State>::new(&engine);
//! // wasi:cli, clocks, random, io and sockets from wasmtime-wasi; wasi:filesystem from aiofs.
//! aiofs_host::wasi::p2::add_to_linker_async(&mut linker)?;
//! # Ok(()) }
//! ```
//!
//! Where WASI leaves a choice this follows wasmtime-wasi 48, except where aiofs' rules
//! differ on purpose (see the crate README, "wasi:filesystem"): a read-only grant answers
//! `read-only` (wasmtime: `not-permitted`); budgets and limits answer `quota` and
//! `file-too-large`; only regular files and directories can be opened (a FIFO, socket or
//! device is `unsupported`); `advise` is accepted and ignored.

mod memo;
pub mod p2;
mod p2_streams;
pub mod p3;
mod p3_streams;

pub use memo::StatMemo;

/// Jobs the store's pool has taken so far (queued, running, done or dropped): it grows by
/// one with every job submitted and by nothing else. Every change to a file through aiofs
/// (either surface, any store on the pool) is a job, so an unchanged count means that
/// nothing aiofs did can have changed what a stat or a read would see.
pub(crate) fn pool_jobs(fs: &crate::fs::Fs) -> u64 {
    let s = fs.pool().stats();
    s.completed + s.cancelled + s.running as u64 + s.queued as u64
}

/// [`pool_jobs`] if no job is queued or running now (`None` otherwise). A job submitted
/// on an idle pool whose count then grew by exactly one ran alone: nothing else changed
/// a file while it ran, and nothing in flight can land after it.
pub(crate) fn pool_jobs_if_idle(fs: &crate::fs::Fs) -> Option<u64> {
    let s = fs.pool().stats();
    (s.running == 0 && s.queued == 0).then(|| s.completed + s.cancelled)
}

/// The identity hash of an object, as wasmtime computes it (device and inode through the
/// standard hasher; the upper half derived from the lower), so that preview1 inode numbers
/// look the same under both.
pub(crate) fn identity_hash(device: u64, inode: u64) -> (u64, u64) {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (device, inode).hash(&mut h);
    let lower = h.finish();
    (lower, lower ^ 4614256656552045848u64)
}

/// Whether a `*-at` path names the descriptor's directory itself (`.`, `./.`, `./`).
/// POSIX refuses to remove it (`rmdir(".")` is `invalid`, `unlink(".")` `is-directory`),
/// where the domain layer's answer for a grant's root is `busy`.
pub(crate) fn is_self(path: &str) -> bool {
    !path.is_empty() && path.split('/').all(|c| c.is_empty() || c == ".") && !path.starts_with('/')
}
