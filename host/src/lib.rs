//! # aiofs-host: async, capability-scoped file I/O for wasm components
//!
//! aiofs is aiofiles for WebAssembly components. This crate is the wasmtime side: add it
//! to a [`wasmtime::component::Linker`] and guests get the `aiofs:fs` WIT interfaces
//! (`open`, file methods, `os`, `os.path`, `tempfile`, whole-file ops) as native
//! component-model `async func`s.
//!
//! * **Never blocks the event loop.** Every operation that touches the disk runs on a
//!   bounded [`Pool`] of OS threads that the embedder sizes, one trip per operation.
//! * **Confined by capabilities.** Each grant is a cap-std directory; paths resolve beneath
//!   it, never by string checks. `..` and symlinks out fail with `not-permitted`; writes to
//!   a read-only grant fail with `read-only` before any work is queued.
//! * **Bounded.** [`Limits`] caps bytes per call, open handles, queued operations, path
//!   length and directory sizes per store, and a [`GrantQuota`] budgets bytes written and
//!   read, file size and creations per grant; hitting one is an error code, never a trap.
//!
//! ```no_run
//! use aiofs_host::{AioFsCtx, AioFsCtxView, AioFsView, Perms, Pool};
//! use wasmtime::component::{Linker, ResourceTable};
//! use wasmtime::{Config, Engine, Store};
//!
//! struct State { aiofs: AioFsCtx, table: ResourceTable }
//! impl AioFsView for State {
//!     fn aiofs(&mut self) -> AioFsCtxView<'_> {
//!         AioFsCtxView { ctx: &mut self.aiofs, table: &mut self.table }
//!     }
//! }
//!
//! # fn main() -> wasmtime::Result<()> {
//! let mut config = Config::new();
//! config.wasm_component_model_async(true);
//! let engine = Engine::new(&config)?;
//! let mut linker = Linker::<State>::new(&engine);
//! aiofs_host::add_to_linker(&mut linker)?;
//!
//! let pool = Pool::new(8); // share between stores to bound the whole process
//! let aiofs = AioFsCtx::builder()
//!     .grant("./data", "/data", Perms::ReadWrite)?
//!     .pool(pool)
//!     .build();
//! let store = Store::new(&engine, State { aiofs, table: ResourceTable::new() });
//! # let _ = store; Ok(())
//! # }
//! ```
//!
//! # Cancellation
//! When a guest drops the future of an operation that is still *queued*, the operation
//! never runs. Once a pool thread has *started* it, it runs to completion (a thread cannot
//! be interrupted in a syscall) and its result is discarded; the per-file order of
//! operations is kept either way. Dropping a file handle closes the descriptor on the pool.
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod bindings;
mod ctx;
pub mod error;
pub mod fs;
pub mod grant;
#[cfg(feature = "object")]
pub mod object;

mod host;
mod limits;
pub mod obs;
pub mod pool;
mod stream;
pub mod wasi;

pub use ctx::{AioFs, AioFsCtx, AioFsCtxBuilder, AioFsCtxView, AioFsView};
pub use error::ErrorCode;
pub use grant::Perms;
pub use host::add_to_linker;
pub use limits::{GrantQuota, GrantUsage, Limits};
pub use obs::{Audit, AuditReceiver, AuditRecord, GrantStats, OpKind, StoreStats};
pub use pool::{Pool, PoolStats, Tenant};
#[doc(no_inline)]
pub use wasmtime::component::ResourceTable;
