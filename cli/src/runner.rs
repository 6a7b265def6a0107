//! [`Runner`]: one engine and linker, many runs of `wasi:cli/run` components.

use crate::cache::{DiskCache, cache_key};
use crate::wasm::{WasmKind, adapt_preview1, check_preview1, ensure_runnable};
use aiofs_host::{AioFsCtx, AioFsCtxView, AioFsView};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::error::Context as _;
use wasmtime::{Config, Engine, ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxView, WasiView};

/// Most bytes captured from each of a guest's stdout and stderr when
/// [`RunIo::capture_output`] is set; a guest writing more traps.
pub const CAPTURE_LIMIT: usize = 64 << 20;

/// How often the engine's epoch advances: the granularity of [`GuestLimits::timeout`].
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Bounds on the guest itself, per run (its file I/O is bounded by aiofs'
/// [`Limits`](aiofs_host::Limits)). Exceeding one ends the run with an error, never the
/// host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestLimits {
    /// Most bytes of linear memory, all of the component's memories together. Growing
    /// past it traps with [`MemoryLimitExceeded`] in the error chain.
    pub max_memory: usize,
    /// Most table elements, all of the component's tables together (a component may hold
    /// thousands of tables across its core instances). Growing past it traps with
    /// [`MemoryLimitExceeded`] in the error chain.
    pub max_table_elements: usize,
    /// Most entries in the store's resource table (open handles, streams, futures...); a
    /// guest that creates more gets `quota` from aiofs, a trap from WASI.
    pub max_resources: usize,
    /// Wall-clock limit for the whole run (instantiation, the guest's code and its waits
    /// for the host): past it the run ends with [`GuestTimedOut`]. `None`: no limit.
    pub timeout: Option<Duration>,
}

impl Default for GuestLimits {
    fn default() -> Self {
        GuestLimits {
            max_memory: 256 << 20,
            max_table_elements: 1 << 20,
            max_resources: 1 << 16,
            timeout: None,
        }
    }
}

/// The error of a run that went past [`GuestLimits::timeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestTimedOut(pub Duration);

impl fmt::Display for GuestTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the guest ran past its time limit of {:?}", self.0)
    }
}

impl std::error::Error for GuestTimedOut {}

/// The error of a guest that tried to grow its memory past [`GuestLimits::max_memory`]
/// (or its tables past [`GuestLimits::max_table_elements`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryLimitExceeded {
    /// What was being grown: `memory` or `table`.
    pub what: &'static str,
    /// The size asked for (bytes of all memories together, or elements of all tables).
    pub wanted: usize,
    /// The limit.
    pub limit: usize,
}

impl fmt::Display for MemoryLimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, unit) = if self.what == "memory" {
            ("memory", " bytes")
        } else {
            ("tables", " elements")
        };
        write!(
            f,
            "the guest tried to grow its {what} to {}{unit}, past its limit of {}{unit}",
            self.wanted, self.limit
        )
    }
}

impl std::error::Error for MemoryLimitExceeded {}

/// The store's [`ResourceLimiter`]: linear memory counted over all memories, table
/// elements over all tables. (A grow the limiter allowed that then fails stays counted:
/// the guest only gets less.)
#[derive(Debug)]
struct GuestLimiter {
    limits: GuestLimits,
    /// Bytes of all linear memories now.
    memory: usize,
    /// Elements of all tables now.
    tables: usize,
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.memory.saturating_sub(current).saturating_add(desired);
        if total > self.limits.max_memory {
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                what: "memory",
                wanted: total,
                limit: self.limits.max_memory,
            }));
        }
        self.memory = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.tables.saturating_sub(current).saturating_add(desired);
        if total > self.limits.max_table_elements {
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                what: "table",
                wanted: total,
                limit: self.limits.max_table_elements,
            }));
        }
        self.tables = total;
        Ok(true)
    }
}

/// Options for [`Runner::new`].
#[derive(Debug, Clone, Default)]
pub struct RunnerOptions {
    /// Directory for compiled components (created on first store); `None` disables the
    /// disk cache and every [`Runner::load`] compiles. Its artifacts are loaded as native
    /// code, so [`Runner::run`] refuses a store with a read-write directory grant that
    /// reaches it (see [`check_cache_dir_not_granted`](crate::check_cache_dir_not_granted),
    /// which embedders can also call before they build a store). Runs with other runners
    /// or tools must keep it out of reach too.
    pub cache_dir: Option<PathBuf>,
    /// Who serves `wasi:filesystem` 0.2 and 0.3 (default: aiofs, over the same grants).
    pub wasi_filesystem: WasiFilesystem,
    /// Compile guests without epoch checks (default: with). The checks cost up to ~1.3×
    /// on call-heavy guest code (BENCHMARKS.md); without them [`GuestLimits::timeout`]
    /// cannot stop a guest that never calls the host, so `run_limited` refuses a timeout.
    /// `aiofs run` sets this unless `--timeout` is given.
    pub no_epoch_interruption: bool,
}

/// Who serves `wasi:filesystem` to the components a [`Runner`] runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WasiFilesystem {
    /// aiofs: every grant is also a WASI preopen, under the same permissions, limits,
    /// budgets and pool as `aiofs:fs` (`std::fs`, libc stdio, Python `open` just work).
    #[default]
    Aiofs,
    /// Nobody: the interfaces are linked (wasmtime-wasi's) so such guests instantiate,
    /// but they see no preopened directory; aiofs is the only way to the disk.
    Off,
}

/// Counters of [`Runner::load`], so callers can check that nothing was recompiled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Loads served from the disk cache.
    pub hits: u64,
    /// Loads that compiled the component (every load when there is no cache directory).
    pub misses: u64,
}

/// What a run sees of the outside world besides its aiofs grants.
#[derive(Debug, Clone, Default)]
pub struct RunIo {
    /// The guest's argv, program name first (as `std::env::args` returns it).
    pub args: Vec<String>,
    /// The guest's whole environment; nothing is inherited from the host.
    pub env: Vec<(String, String)>,
    /// Capture stdout and stderr into [`RunOutcome`] (up to [`CAPTURE_LIMIT`] each) and
    /// give the guest an empty stdin, instead of inheriting the host's stdio.
    pub capture_output: bool,
}

/// How a run ended, when it ended without a trap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOutcome {
    /// 0 when `run` returned `Ok`, 1 when it returned `Err`, `n` after `wasi:cli/exit`
    /// with status `n`.
    pub exit_code: i32,
    /// Captured stdout (empty unless [`RunIo::capture_output`]).
    pub stdout: Vec<u8>,
    /// Captured stderr (empty unless [`RunIo::capture_output`]).
    pub stderr: Vec<u8>,
}

/// Attached as context to the error of a failed run (a trap) when output was captured
/// and the guest wrote any, so that a guest's panic message is not lost.
/// Retrieve it with `err.downcast_ref::<CapturedOutput>()`; the original error (for
/// example a [`wasmtime::Trap`]) stays in the chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapturedOutput {
    /// What the guest wrote to stdout before failing.
    pub stdout: Vec<u8>,
    /// What the guest wrote to stderr before failing.
    pub stderr: Vec<u8>,
}

impl fmt::Display for CapturedOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stderr = String::from_utf8_lossy(&self.stderr);
        let stderr = stderr.trim_end();
        if stderr.is_empty() {
            write!(f, "guest failed (its stderr was empty)")
        } else {
            write!(f, "guest failed; its stderr:\n{stderr}")
        }
    }
}

/// The store data of one run: WASI (stdio, args, env, clocks, random) and aiofs (its
/// own interfaces and `wasi:filesystem`), sharing one resource table.
pub struct RunState {
    /// WASI state for `wasi:cli` and friends, 0.2 and 0.3.
    pub wasi: WasiCtx,
    /// The resource table shared by WASI and aiofs.
    pub table: ResourceTable,
    /// The aiofs grants, limits and pool of this run.
    pub aiofs: AioFsCtx,
    /// The guest's memory and table limits.
    limiter: GuestLimiter,
}

impl RunState {
    /// State for a store of the Runner's [`engine`](Runner::engine) that the embedder
    /// drives itself, with default [`GuestLimits`] (install them with
    /// `store.limiter(RunState::limiter)`). The engine interrupts guests by epoch, so such
    /// a store must also be given a deadline (`store.set_epoch_deadline`) before it runs
    /// wasm.
    pub fn new(wasi: WasiCtx, aiofs: AioFsCtx) -> RunState {
        let limits = GuestLimits::default();
        let mut table = ResourceTable::new();
        table.set_max_capacity(limits.max_resources);
        RunState {
            wasi,
            table,
            aiofs,
            limiter: GuestLimiter {
                limits,
                memory: 0,
                tables: 0,
            },
        }
    }

    /// The memory and table limiter, for `Store::limiter`.
    pub fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.limiter
    }
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl AioFsView for RunState {
    fn aiofs(&mut self) -> AioFsCtxView<'_> {
        AioFsCtxView {
            ctx: &mut self.aiofs,
            table: &mut self.table,
        }
    }
}

/// Runs `wasi:cli/run` components with aiofs as their only way to the disk.
///
/// Build one per process (or per test) and reuse it: the [`Engine`] and the [`Linker`]
/// (WASI 0.2 and 0.3, aiofs) are built once, compiled components are cached on disk,
/// and each [`run`](Runner::run) only creates a store and instantiates (tens of µs).
/// `Runner` is `Send + Sync`; runs may proceed concurrently.
pub struct Runner {
    engine: Engine,
    /// Whether guests check the epoch (see [`RunnerOptions::no_epoch_interruption`]).
    epochs: bool,
    linker: Linker<RunState>,
    cache: Option<DiskCache>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("cache", &self.cache)
            .field("stats", &self.cache_stats())
            .finish_non_exhaustive()
    }
}

enum Command {
    P3(wasmtime_wasi::p3::bindings::CommandIndices),
    P2(wasmtime_wasi::p2::bindings::CommandIndices),
}

impl Runner {
    /// Build the engine (component-model async enabled) and the linker.
    ///
    /// The engine keeps wasmtime's defaults that make instantiation cheap
    /// (copy-on-write memory images, lazily initialised tables) and uses the on-demand
    /// allocator rather than the pooling one: pooling would reserve terabytes of address
    /// space up front and cap the per-component counts of memories and tables, which
    /// large guests (an interpreter compiled to wasm) exceed.
    ///
    /// # Errors
    /// The engine cannot be created for this host, or linking fails.
    pub fn new(opts: RunnerOptions) -> wasmtime::Result<Runner> {
        let mut config = Config::new();
        config.wasm_component_model_async(true);
        // Guests check the epoch at function entries and loop heads, so a run with a
        // timeout can be stopped even in an endless loop (see `GuestLimits::timeout`).
        let epochs = !opts.no_epoch_interruption;
        config.epoch_interruption(epochs);
        let engine = Engine::new(&config)?;
        if epochs {
            let weak = engine.weak();
            std::thread::Builder::new()
                .name("aiofs-epoch".into())
                .spawn(move || {
                    // Ends with the engine (checked every tick).
                    while let Some(engine) = weak.upgrade() {
                        engine.increment_epoch();
                        drop(engine);
                        std::thread::sleep(EPOCH_TICK);
                    }
                })
                .context("cannot start the epoch thread")?;
        }
        let mut linker = Linker::new(&engine);
        // Rust std on wasm32-wasip2 imports wasi:cli 0.2 (stdio, args, env, exit) and
        // wasi:filesystem 0.2; 0.3 guests import the 0.3 interfaces. Both filesystems
        // are served by aiofs over the grants unless turned off.
        match opts.wasi_filesystem {
            WasiFilesystem::Aiofs => {
                aiofs_host::wasi::p2::add_to_linker_async(&mut linker)?;
                aiofs_host::wasi::p3::add_to_linker(&mut linker)?;
            }
            WasiFilesystem::Off => {
                wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
                wasmtime_wasi::p3::add_to_linker(&mut linker)?;
            }
        }
        aiofs_host::add_to_linker(&mut linker)?;
        Ok(Runner {
            engine,
            epochs,
            linker,
            cache: opts.cache_dir.map(DiskCache::new),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    /// The engine every component must be compiled with.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Load a component file, or a WASI preview1 core module (adapted to a component with
    /// wasmtime's preview1 adapter; the cache keeps the compiled result of the adapted
    /// component under the module's bytes).
    ///
    /// With a cache directory, a precompiled artifact keyed by a hash of the wasm bytes
    /// and the engine's compatibility hash is reused; otherwise the component is
    /// compiled and (with a cache directory) stored atomically for next time.
    ///
    /// # Errors
    /// One-line messages naming `path`: it cannot be read, it is not a WebAssembly
    /// component or WASI preview1 module (a precompiled artifact, a core module importing
    /// nothing from WASI, anything else), or it does not validate, adapt or compile.
    pub fn load(&self, path: &Path) -> wasmtime::Result<Component> {
        let bytes = std::fs::read(path)
            .map_err(|e| wasmtime::format_err!("cannot read {}: {e}", path.display()))?;
        self.load_bytes(&bytes, &path.display().to_string())
    }

    /// Like [`load`](Runner::load) for bytes already in memory; `name` is used in
    /// messages.
    ///
    /// # Errors
    /// As for [`load`](Runner::load).
    pub fn load_bytes(&self, wasm: &[u8], name: &str) -> wasmtime::Result<Component> {
        ensure_runnable(wasm, name)?;
        let core = WasmKind::of(wasm) == WasmKind::CoreModule;
        if core {
            check_preview1(wasm, name)?;
        }
        let key = self.cache.as_ref().map(|_| cache_key(&self.engine, wasm));
        if let (Some(cache), Some(key)) = (&self.cache, &key)
            && let Some(component) = cache.get(&self.engine, key)
        {
            self.hits.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(name, key, "compiled component cache hit");
            return Ok(component);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(name, "compiling component");
        let adapted;
        let wasm = if core {
            adapted = adapt_preview1(wasm, name)?;
            &adapted[..]
        } else {
            wasm
        };
        let component = Component::new(&self.engine, wasm)
            .with_context(|| format!("invalid component {name}"))?;
        if let (Some(cache), Some(key)) = (&self.cache, &key) {
            cache.put(key, &component);
        }
        Ok(component)
    }

    /// Cache counters of [`load`](Runner::load) so far.
    pub fn cache_stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// Instantiate `component` in a fresh store and call its `wasi:cli/run`: the async
    /// 0.3 export if it has one, else the 0.2 one.
    ///
    /// The guest gets `io`'s args and environment, stdio inherited or captured, aiofs as
    /// given, and (unless [`WasiFilesystem::Off`]) the same grants as WASI preopens.
    ///
    /// # Errors
    /// A read-write grant of `aiofs` reaches this runner's cache directory
    /// ([`CacheDirGranted`](crate::CacheDirGranted), before anything runs). The component
    /// exports no `wasi:cli/run`, imports something not linked here, or traps (the error carries the trap; when captured output is not empty, a
    /// [`CapturedOutput`] is attached as context). A guest exit or a `run` that returns `Err` is an
    /// `Ok(RunOutcome)` with the exit code.
    pub async fn run(
        &self,
        component: &Component,
        aiofs: AioFsCtx,
        io: RunIo,
    ) -> wasmtime::Result<RunOutcome> {
        self.run_limited(component, aiofs, io, &GuestLimits::default())
            .await
    }

    /// [`run`](Runner::run) under `limits` on the guest itself: memory and tables (a
    /// guest growing past them traps, with [`MemoryLimitExceeded`] in the error chain),
    /// resource-table entries, and a wall-clock timeout (the run fails with
    /// [`GuestTimedOut`]; the store is dropped, which stops its aiofs work on the pool at
    /// the next chunk).
    ///
    /// # Errors
    /// As for [`run`](Runner::run), plus the two above.
    pub async fn run_limited(
        &self,
        component: &Component,
        aiofs: AioFsCtx,
        io: RunIo,
        limits: &GuestLimits,
    ) -> wasmtime::Result<RunOutcome> {
        // A guest that can write where this runner keeps compiled code could plant native
        // code for a later load: refuse before the guest runs.
        if let Some(cache) = &self.cache {
            let writable = aiofs.fs().writable_host_dirs();
            crate::check_cache_dir_not_granted(cache.dir(), writable.iter().map(PathBuf::as_path))
                .map_err(wasmtime::Error::new)?;
        }
        let mut wasi = WasiCtx::builder();
        wasi.args(&io.args).envs(&io.env);
        let pipes = io.capture_output.then(|| {
            (
                MemoryOutputPipe::new(CAPTURE_LIMIT),
                MemoryOutputPipe::new(CAPTURE_LIMIT),
            )
        });
        match &pipes {
            Some((out, err)) => {
                wasi.stdout(out.clone()).stderr(err.clone());
            }
            None => {
                wasi.inherit_stdio();
            }
        }
        let mut table = ResourceTable::new();
        table.set_max_capacity(limits.max_resources);
        let state = RunState {
            wasi: wasi.build(),
            table,
            aiofs,
            limiter: GuestLimiter {
                limits: limits.clone(),
                memory: 0,
                tables: 0,
            },
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        if limits.timeout.is_some() && !self.epochs {
            wasmtime::bail!(
                "a timeout needs epoch interruption (RunnerOptions::no_epoch_interruption is set)"
            );
        }
        let result = match limits.timeout {
            None => {
                if self.epochs {
                    store.set_epoch_deadline(u64::MAX / 2);
                }
                self.call_run(&mut store, component).await
            }
            Some(timeout) => {
                // Compute-bound code yields to the runtime every tick, so the timeout
                // below fires even in an endless loop; past the end it traps.
                let end = Instant::now() + timeout;
                store.set_epoch_deadline(1);
                store.epoch_deadline_callback(move |_| {
                    if Instant::now() >= end {
                        Err(wasmtime::Error::new(GuestTimedOut(timeout)))
                    } else {
                        Ok(UpdateDeadline::Yield(1))
                    }
                });
                match tokio::time::timeout(timeout, self.call_run(&mut store, component)).await {
                    Ok(result) => result,
                    Err(_) => Err(wasmtime::Error::new(GuestTimedOut(timeout))),
                }
            }
        };
        // A guest that trapped or timed out leaves its uploads unfinished: cancel its store
        // first, so the files it still holds are aborted as they are dropped, not completed
        // (an exit, with any code, closes them as a process exit does).
        if matches!(&result, Err(e) if e.downcast_ref::<I32Exit>().is_none()) {
            store.data().aiofs.fs().tenant().cancel();
        }
        drop(store);

        let (stdout, stderr) = match pipes {
            Some((out, err)) => (out.contents().to_vec(), err.contents().to_vec()),
            None => (Vec::new(), Vec::new()),
        };
        let exit_code = match result {
            Ok(Ok(())) => 0,
            Ok(Err(())) => 1,
            Err(e) => match e.downcast_ref::<I32Exit>() {
                Some(exit) => exit.0,
                None if !stdout.is_empty() || !stderr.is_empty() => {
                    return Err(e.context(CapturedOutput { stdout, stderr }));
                }
                None => return Err(e),
            },
        };
        Ok(RunOutcome {
            exit_code,
            stdout,
            stderr,
        })
    }

    async fn call_run(
        &self,
        store: &mut Store<RunState>,
        component: &Component,
    ) -> wasmtime::Result<Result<(), ()>> {
        let pre = self.linker.instantiate_pre(component)?;
        let command = match wasmtime_wasi::p3::bindings::CommandIndices::new(&pre) {
            Ok(p3) => Command::P3(p3),
            Err(_) => Command::P2(
                wasmtime_wasi::p2::bindings::CommandIndices::new(&pre).map_err(|_| {
                    wasmtime::format_err!(
                        "the component exports no wasi:cli/run (0.3 or 0.2); is it a command?"
                    )
                })?,
            ),
        };
        let instance = pre.instantiate_async(&mut *store).await?;
        match command {
            Command::P3(indices) => {
                tracing::debug!("calling wasi:cli/run@0.3");
                let command = indices.load(&mut *store, &instance)?;
                store
                    .run_concurrent(async |acc| command.wasi_cli_run().call_run(acc).await)
                    .await?
            }
            Command::P2(indices) => {
                tracing::debug!("calling wasi:cli/run@0.2");
                let command = indices.load(&mut *store, &instance)?;
                command.wasi_cli_run().call_run(&mut *store).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn runner_is_shareable() {
        assert_send_sync::<Runner>();
        fn assert_send_only<T: Send>() {}
        assert_send_only::<RunState>();
    }

    /// Compile-time check that a run can be `tokio::spawn`ed; never polled.
    #[allow(dead_code, reason = "only type-checked")]
    fn run_future_is_send(runner: &Runner, component: &Component, aiofs: AioFsCtx) {
        assert_send(&runner.run(component, aiofs, RunIo::default()));
    }

    #[test]
    fn captured_output_message() {
        let empty = CapturedOutput::default();
        assert_eq!(empty.to_string(), "guest failed (its stderr was empty)");
        let panic = CapturedOutput {
            stdout: Vec::new(),
            stderr: b"thread 'main' panicked at src/main.rs:3:5:\nboom\n".to_vec(),
        };
        assert!(panic.to_string().ends_with("boom"));
    }
}
