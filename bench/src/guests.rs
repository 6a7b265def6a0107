//! The wasm contenders: building the two guest programs, and running them.
//!
//! * **aiofs**: `aiofs_guest.wasm` through [`aiofs_cli::Runner`] (the same engine,
//!   linker and component cache as the `aiofs` command), with the data directory granted
//!   read-write at `/data`.
//! * **wasi p2**: `wasi_guest.wasm` (plain `std::fs`) through wasmtime-wasi's
//!   `wasi:filesystem@0.2` with the data directory preopened at `/data`, using the
//!   wasmtime-wasi defaults (every blocking filesystem call goes to tokio's blocking pool).
//! * **inline host** (responsiveness only): `aiofs_guest.wasm` against a deliberately naive
//!   host whose `read-file` does the blocking work right on the event loop.

use aiofs_cli::{GuestLimits, RunIo, RunState, Runner, RunnerOptions};
use aiofs_host::AioFsCtx;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, Linker, ResourceTable, Val};
use wasmtime::{Result, Store, bail, format_err};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

/// One timed repetition as a guest reported it.
#[derive(Debug, Clone, Copy)]
pub struct Rep {
    /// Time of the work, measured by the guest.
    pub elapsed: Duration,
    /// The guest's check count.
    pub check: u64,
}

/// Build both guests (release, `wasm32-wasip2`) with the cargo that runs us, in a target
/// directory of their own; returns the paths of `aiofs_guest.wasm` and `wasi_guest.wasm`.
pub fn build(workspace: &Path) -> Result<(PathBuf, PathBuf)> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l == "wasm32-wasip2")
        });
    if let Ok(false) = installed {
        let ok = Command::new("rustup")
            .args(["target", "add", "wasm32-wasip2"])
            .status()?
            .success();
        if !ok {
            bail!("rustup target add wasm32-wasip2 failed");
        }
    }
    let target = workspace.join("target/bench-guests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .args(["-p", "aiofs-bench-guests", "--bins"])
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()?;
    if !status.success() {
        bail!("building the benchmark guests failed");
    }
    let out = target.join("wasm32-wasip2/release");
    Ok((out.join("aiofs_guest.wasm"), out.join("wasi_guest.wasm")))
}

/// Store data of the wasi p2 contender.
struct WasiState {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for WasiState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The compiled guests and what runs them.
pub struct Guests {
    runner: Runner,
    /// The same guest on an engine without epoch checks (what `--timeout` costs).
    no_epoch: (Runner, Component),
    aiofs: Component,
    wasi: Component,
    wasi_linker: Linker<WasiState>,
}

impl Guests {
    /// Compile (or load from the cache in `cache_dir`) both guests.
    pub fn load(aiofs: &Path, wasi: &Path, cache_dir: PathBuf) -> Result<Guests> {
        let runner = Runner::new(RunnerOptions {
            cache_dir: Some(cache_dir.clone()),
            ..RunnerOptions::default()
        })?;
        let no_epoch_runner = Runner::new(RunnerOptions {
            cache_dir: Some(cache_dir),
            no_epoch_interruption: true,
            ..RunnerOptions::default()
        })?;
        let no_epoch_guest = no_epoch_runner.load(aiofs)?;
        let no_epoch = (no_epoch_runner, no_epoch_guest);
        let aiofs = runner.load(aiofs)?;
        let wasi = runner.load(wasi)?;
        let mut wasi_linker = Linker::new(runner.engine());
        wasmtime_wasi::p2::add_to_linker_async(&mut wasi_linker)?;
        Ok(Guests {
            runner,
            no_epoch,
            aiofs,
            wasi,
            wasi_linker,
        })
    }

    /// Run the aiofs guest with `args` (without the program name) against `ctx`.
    pub async fn run_aiofs(&self, args: &[String], ctx: AioFsCtx) -> Result<Vec<Rep>> {
        let io = RunIo {
            args: argv(args),
            env: Vec::new(),
            capture_output: true,
        };
        let outcome = self
            .runner
            .run_limited(&self.aiofs, ctx, io, &guest_limits())
            .await?;
        parse(outcome.exit_code, &outcome.stdout, &outcome.stderr)
    }

    /// [`run_aiofs`](Guests::run_aiofs) on the engine without epoch checks.
    pub async fn run_aiofs_no_epoch(&self, args: &[String], ctx: AioFsCtx) -> Result<Vec<Rep>> {
        let io = RunIo {
            args: argv(args),
            env: Vec::new(),
            capture_output: true,
        };
        let (runner, component) = &self.no_epoch;
        let outcome = runner
            .run_limited(component, ctx, io, &guest_limits())
            .await?;
        parse(outcome.exit_code, &outcome.stdout, &outcome.stderr)
    }

    /// Run the std::fs guest with `args` over aiofs' wasi:filesystem 0.2 (the grants of
    /// `ctx` are its preopens).
    pub async fn run_wasi_on_aiofs(&self, args: &[String], ctx: AioFsCtx) -> Result<Vec<Rep>> {
        let io = RunIo {
            args: argv(args),
            env: Vec::new(),
            capture_output: true,
        };
        let outcome = self
            .runner
            .run_limited(&self.wasi, ctx, io, &guest_limits())
            .await?;
        parse(outcome.exit_code, &outcome.stdout, &outcome.stderr)
    }

    /// Run the std::fs guest with `args` over wasi:filesystem 0.2, `data` preopened at
    /// `/data`.
    pub async fn run_wasi(&self, args: &[String], data: &Path) -> Result<Vec<Rep>> {
        let stdout = MemoryOutputPipe::new(1 << 20);
        let stderr = MemoryOutputPipe::new(1 << 20);
        let mut wasi = WasiCtx::builder();
        wasi.args(&argv(args))
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .preopened_dir(data, "/data", FsPerms::ReadWrite)?;
        let state = WasiState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
        };
        let mut store = Store::new(self.runner.engine(), state);
        // The Runner's engine checks epochs (for `--timeout`); this store has no limit.
        store.set_epoch_deadline(u64::MAX / 2);
        let command = wasmtime_wasi::p2::bindings::Command::instantiate_async(
            &mut store,
            &self.wasi,
            &self.wasi_linker,
        )
        .await?;
        let result = command.wasi_cli_run().call_run(&mut store).await;
        let code = match result {
            Ok(Ok(())) => 0,
            Ok(Err(())) => 1,
            Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                Some(exit) => exit.0,
                None => return Err(e),
            },
        };
        parse(code, &stdout.contents(), &stderr.contents())
    }

    /// Run the aiofs guest against a host whose `read-file` sleeps `latency` and reads
    /// the file right on the thread that polls the store, i.e. on the event loop; every
    /// other aiofs import traps. This is what aiofs exists to prevent.
    pub async fn run_inline(
        &self,
        args: &[String],
        data: &Path,
        latency: Duration,
    ) -> Result<Vec<Rep>> {
        let engine = self.runner.engine();
        let mut linker = Linker::<RunState>::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi::p3::add_to_linker(&mut linker)?;
        let root = Arc::new(data.to_path_buf());
        linker
            .instance("aiofs:fs/files@0.1.0")?
            .func_new_concurrent("read-file", move |_, _, params, results| {
                let root = root.clone();
                Box::pin(async move {
                    let Some(Val::String(path)) = params.first() else {
                        bail!("read-file: unexpected arguments")
                    };
                    // Blocking, on the event loop: the slow disk, then the real read.
                    std::thread::sleep(latency);
                    let rel = path.strip_prefix("/data/").unwrap_or(path);
                    let bytes = std::fs::read(root.join(rel))?;
                    let list = bytes.into_iter().map(Val::U8).collect();
                    results[0] = Val::Result(Ok(Some(Box::new(Val::List(list)))));
                    Ok(())
                })
            })?;
        stub_aiofs_imports(&mut linker, &self.aiofs)?;
        let stdout = MemoryOutputPipe::new(1 << 20);
        let stderr = MemoryOutputPipe::new(1 << 20);
        let mut wasi = WasiCtx::builder();
        wasi.args(&argv(args))
            .stdout(stdout.clone())
            .stderr(stderr.clone());
        let state = RunState::new(wasi.build(), AioFsCtx::builder().build());
        let mut store = Store::new(engine, state);
        store.limiter(RunState::limiter);
        store.set_epoch_deadline(u64::MAX / 2);
        let pre = linker.instantiate_pre(&self.aiofs)?;
        let indices = wasmtime_wasi::p3::bindings::CommandIndices::new(&pre)?;
        let instance = pre.instantiate_async(&mut store).await?;
        let command = indices.load(&mut store, &instance)?;
        let result = store
            .run_concurrent(async |acc| command.wasi_cli_run().call_run(acc).await)
            .await??;
        let code = i32::from(result.is_err());
        parse(code, &stdout.contents(), &stderr.contents())
    }
}

/// Define every other `aiofs:fs` import of `component` as a function that traps (and its
/// resources as plain host resources). `Linker::define_unknown_imports_as_traps` cannot be
/// used here: it would also shadow the WASI interfaces, which the component imports at a
/// different (semver-compatible) version than the linker defines.
fn stub_aiofs_imports(linker: &mut Linker<RunState>, component: &Component) -> Result<()> {
    use wasmtime::component::types::ComponentItem;
    let engine = linker.engine().clone();
    let ty = component.component_type();
    for (name, import) in ty.imports(&engine) {
        let ComponentItem::ComponentInstance(instance) = import.ty else {
            continue;
        };
        if !name.starts_with("aiofs:fs/") {
            continue;
        }
        let mut inst = linker.instance(name)?;
        for (item, export) in instance.exports(&engine) {
            if name == "aiofs:fs/files@0.1.0" && item == "read-file" {
                continue;
            }
            let what = format!("{name}#{item}");
            match export.ty {
                ComponentItem::ComponentFunc(f) if f.async_() => {
                    inst.func_new_concurrent(item, move |_, _, _, _| {
                        let what = what.clone();
                        Box::pin(async move { bail!("{what} is not implemented by this host") })
                    })?;
                }
                ComponentItem::ComponentFunc(_) => {
                    inst.func_new(item, move |_, _, _, _| {
                        bail!("{what} is not implemented by this host")
                    })?;
                }
                ComponentItem::Resource(_) => {
                    inst.resource(
                        item,
                        wasmtime::component::ResourceType::host::<()>(),
                        |_, _| Ok(()),
                    )?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The guests' limits: the `Runner`'s defaults, but room for the 1 GiB whole-file rows
/// (the guest holds the whole file in its linear memory).
fn guest_limits() -> GuestLimits {
    GuestLimits {
        max_memory: 4 << 30,
        ..GuestLimits::default()
    }
}

/// The guest's argv: program name, then `args`.
fn argv(args: &[String]) -> Vec<String> {
    std::iter::once("guest".to_string())
        .chain(args.iter().cloned())
        .collect()
}

/// Parse the `rep NANOS CHECK` lines of a finished guest.
fn parse(code: i32, stdout: &[u8], stderr: &[u8]) -> Result<Vec<Rep>> {
    if code != 0 {
        bail!(
            "guest exited with {code}: {}",
            String::from_utf8_lossy(stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(stdout);
    text.lines()
        .filter_map(|l| l.strip_prefix("rep "))
        .map(|l| {
            let mut it = l.split(' ').map(str::parse::<u64>);
            match (it.next(), it.next()) {
                (Some(Ok(ns)), Some(Ok(check))) => Ok(Rep {
                    elapsed: Duration::from_nanos(ns),
                    check,
                }),
                _ => Err(format_err!("bad guest output line {l:?}")),
            }
        })
        .collect()
}
