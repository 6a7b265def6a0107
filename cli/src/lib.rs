//! # aiofs-cli: run WebAssembly components with aiofs directory grants
//!
//! The library behind the `aiofs` command, also used by the end-to-end tests:
//!
//! * [`Runner`] builds one wasmtime [`Engine`](wasmtime::Engine) (component-model async
//!   on) and one linker with WASI 0.2 and 0.3 (stdio, args, env, clocks, random), aiofs'
//!   `wasi:filesystem@0.2` (the grants as preopens; [`WasiFilesystem::Off`] removes
//!   them) and [`aiofs_host`], loads components through an on-disk
//!   cache of compiled artifacts, and calls their `wasi:cli/run`.
//! * [`DirSpec`] parses `--dir HOST[::GUEST[:ro]]`.
//! * [`stats_table`] and [`AuditWriter`] are what `--stats` and `--audit FILE` print.
//! * [`default_cache_dir`] and [`cache_key`] say where and under which name compiled
//!   components are kept; [`check_cache_dir_not_granted`] refuses read-write grants
//!   through which a guest could plant an artifact there.
//!
//! ```no_run
//! use aiofs_cli::{RunIo, Runner, RunnerOptions};
//! use aiofs_host::{AioFsCtx, Perms, Pool};
//!
//! # async fn demo() -> wasmtime::Result<()> {
//! let runner = Runner::new(RunnerOptions {
//!     cache_dir: Some("/tmp/aiofs-cache".into()),
//!     ..RunnerOptions::default()
//! })?;
//! let component = runner.load("guest.wasm".as_ref())?;
//! let aiofs = AioFsCtx::builder()
//!     .grant("./data", "/data", Perms::ReadWrite)?
//!     .pool(Pool::new(4))
//!     .build();
//! let io = RunIo { args: vec!["guest".into()], env: vec![], capture_output: true };
//! let outcome = runner.run(&component, aiofs, io).await?;
//! assert_eq!(outcome.exit_code, 0, "{}", String::from_utf8_lossy(&outcome.stderr));
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod cache;
mod dirspec;
mod observe;
mod runner;
mod wasm;

pub use cache::{CacheDirGranted, cache_key, check_cache_dir_not_granted, default_cache_dir};
pub use dirspec::{DirSpec, DirSpecError};
pub use observe::{
    AUDIT_CAPACITY, AUDIT_MAX_BYTES, AuditTotals, AuditWriter, audit_warnings, fmt_bytes,
    stats_table,
};
pub use runner::{
    CAPTURE_LIMIT, CacheStats, CapturedOutput, EPOCH_TICK, GuestLimits, GuestTimedOut,
    MemoryLimitExceeded, RunIo, RunOutcome, RunState, Runner, RunnerOptions, WasiFilesystem,
};
pub use wasm::{
    NotAComponent, WasmKind, adapt_preview1, check_preview1, ensure_component, ensure_runnable,
};
