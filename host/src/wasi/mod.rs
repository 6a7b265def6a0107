//! `wasi:filesystem` served by aiofs: the same grants, path resolution, permission
//! checks, limits, budgets and pool as `aiofs:fs`, behind the WASI interfaces that
//! `std::fs`, wasi-libc and every WASI runtime's standard library already call.
//!
//! Each grant is a preopen at its guest path. A descriptor is a domain [`Directory`] or
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

pub mod p2;
mod p2_streams;
