//! The `aiofs` command: run a WebAssembly component whose only way to the disk is aiofs
//! (its own `aiofs:fs` interfaces and, unless `--no-wasi-fs`, `wasi:filesystem` over the
//! same grants, so plain WASI programs run unchanged).
//!
//! ```text
//! aiofs run COMPONENT.wasm [--dir HOST[::GUEST[:ro]]]... [--threads N] [--env K=V]...
//!           [--no-wasi-fs] [limits and per-grant quotas] [-- ARGS...]
//! ```
//!
//! The quota flags (`--max-bytes-written`, `--max-bytes-read`, `--max-file-size`,
//! `--max-files-created`) give every `--dir` grant its own budget of that size.
//!
//! Exit status: the guest's own (0 when `run` returns `Ok`, 1 when it returns `Err`, `n`
//! after `exit(n)`); 2 for a usage error; 1 when aiofs itself fails (unreadable file, not
//! a component, missing grant directory, ...); 134 when the guest traps (as wasmtime does)
//! or grows its memory past `--max-memory`; 124 when it runs past `--timeout`.
//! Every aiofs failure is one line on stderr starting with `aiofs: error:`.

use aiofs_cli::{
    AUDIT_MAX_BYTES, AuditWriter, DirSpec, GuestLimits, GuestTimedOut, MemoryLimitExceeded, RunIo,
    Runner, RunnerOptions, WasiFilesystem, audit_warnings, check_cache_dir_not_granted,
    default_cache_dir, ensure_runnable, stats_table,
};
use aiofs_host::{AioFsCtx, GrantQuota, Limits, Pool};
use clap::{Args, Parser, Subcommand};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit status when the guest traps (128 + SIGABRT, like `wasmtime run`).
const TRAP_EXIT: i32 = 134;
/// Exit status when the guest runs past `--timeout` (as coreutils' `timeout`).
const TIMEOUT_EXIT: i32 = 124;

#[derive(Parser, Debug)]
#[command(
    name = "aiofs",
    version,
    about = "Run WebAssembly components with async, capability-scoped file I/O"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a component's `wasi:cli/run` with aiofs directory grants.
    Run(RunArgs),
}

#[derive(Args, Debug)]
struct RunArgs {
    /// The program to run: a `.wasm` component (e.g. a Rust wasm32-wasip2 binary) or a
    /// WASI preview1 core module (wasm32-wasip1), adapted on load.
    #[arg(value_name = "COMPONENT")]
    component: PathBuf,

    /// Grant a host directory: `HOST::GUEST` read-write, `HOST::GUEST:ro` read-only,
    /// plain `HOST` at the same path. Repeatable; the first is where relative paths resolve.
    /// Each grant is also a WASI preopen at GUEST (see --no-wasi-fs).
    /// `s3://BUCKET/PREFIX::GUEST[:ro]` grants a bucket prefix instead, reached with
    /// AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
    /// AWS_SESSION_TOKEN (never ~/.aws or instance metadata).
    #[arg(long = "dir", value_name = "HOST[::GUEST[:ro]]")]
    dirs: Vec<String>,

    /// Threads of the blocking I/O pool [default: available parallelism × 2].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=4096))]
    threads: Option<u64>,

    /// Set a guest environment variable (`K=V`); `K` alone copies the host's value.
    /// Nothing else is inherited.
    #[arg(long = "env", value_name = "K=V")]
    envs: Vec<String>,

    /// Do not serve `wasi:filesystem`: the guest's `std::fs`, stdio `fopen`, Python
    /// `open` see no directory, and aiofs (`aiofs:fs`) is its only way to the disk.
    #[arg(long)]
    no_wasi_fs: bool,

    /// Neither read nor write the compiled-component cache ($AIOFS_CACHE_DIR, else
    /// $XDG_CACHE_HOME/aiofs, else ~/.cache/aiofs). A read-write --dir that reaches the
    /// cache directory is refused with or without this flag.
    #[arg(long)]
    no_cache: bool,

    /// Most files the guest may have open at once.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_open_files: Option<u64>,

    /// Most aiofs operations the guest may have queued or running at once.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_pending_ops: Option<u64>,

    /// Most bytes one read call may return.
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    max_read_bytes: Option<u64>,

    /// Most bytes one write call may accept.
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    max_write_bytes: Option<u64>,

    /// Per grant: most bytes the guest may write into it (each grant has its own budget).
    #[arg(long, value_name = "BYTES")]
    max_bytes_written: Option<u64>,

    /// Per grant: most bytes the guest may read from it.
    #[arg(long, value_name = "BYTES")]
    max_bytes_read: Option<u64>,

    /// Per grant: largest size a guest write may give a file (`file-too-large` past it).
    #[arg(long, value_name = "BYTES")]
    max_file_size: Option<u64>,

    /// Per grant: most files, directories and links the guest may create.
    #[arg(long, value_name = "N")]
    max_files_created: Option<u64>,

    /// Most bytes of host memory aiofs holds for the guest at once (write payloads, read
    /// results, file buffers, stream chunks, listings) [default: 128 MiB].
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    max_inflight_bytes: Option<u64>,

    /// Longest one aiofs operation may run on a pool thread before it stops with
    /// `interrupted` [default: 60].
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    max_op_duration: Option<std::time::Duration>,

    /// Most bytes of linear memory the guest may have, all memories together
    /// [default: 256 MiB]; growing past it ends the run.
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    max_memory: Option<u64>,

    /// Wall-clock limit for the whole run, in seconds (fractions allowed); past it the
    /// guest is stopped, even in an endless loop, and `aiofs` exits with 124.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    timeout: Option<std::time::Duration>,

    /// On exit, print a summary per grant to stderr: operations, failures, refusals,
    /// bytes read and written, p50/p99 queue and run times, operations by kind.
    #[arg(long)]
    stats: bool,

    /// Write an audit record for every refused operation (outside the grants, read-only,
    /// quota, limits) to FILE as JSON lines (`-`: stderr).
    #[arg(long, value_name = "FILE")]
    audit: Option<PathBuf>,

    /// With --audit: most bytes the audit file may take [default: 1 GiB]; records past it
    /// are counted, not written, and one last line says how many.
    #[arg(long, value_name = "BYTES", requires = "audit", value_parser = clap::value_parser!(u64).range(1..))]
    audit_max_bytes: Option<u64>,

    /// With --audit: also record every successful change (writes of whole files, opens
    /// for writing, creations, removals, renames, links).
    #[arg(long, requires = "audit")]
    audit_mutations: bool,

    /// What to log to stderr, as `target=level` lists like RUST_LOG (which it overrides):
    /// `aiofs=debug` logs every guest operation with its grant, path, bytes, result and
    /// times; `aiofs=info` only refusals.
    #[arg(long, value_name = "SPEC")]
    log: Option<String>,

    /// Arguments for the guest (after `--`); its program name is COMPONENT's file name.
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<String>,
}

/// Why `aiofs` stops without the guest's own exit status.
enum Failure {
    /// Bad command line: exit 2.
    Usage(String),
    /// aiofs could not do what was asked: exit 1.
    Error(String),
    /// The guest trapped: exit 134, trap message first, then the wasm backtrace.
    Trap(wasmtime::Error),
    /// The guest hit one of its own limits: the exit status and one line.
    Limit(i32, String),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_failure(e),
    };
    let log = match &cli.command {
        Command::Run(args) => args.log.clone(),
    };
    if let Err(msg) = init_tracing(log.as_deref()) {
        eprintln!("aiofs: error: {msg}");
        std::process::exit(2);
    }
    let code = match cli.command {
        Command::Run(args) => match run(args) {
            Ok(code) => code,
            Err(Failure::Usage(msg)) => {
                eprintln!("aiofs: error: {msg}");
                2
            }
            Err(Failure::Error(msg)) => {
                eprintln!("aiofs: error: {msg}");
                1
            }
            Err(Failure::Trap(e)) => {
                report_trap(&e);
                TRAP_EXIT
            }
            Err(Failure::Limit(code, msg)) => {
                eprintln!("aiofs: error: {msg}");
                code
            }
        },
    };
    let _ = std::io::stdout().flush();
    // Exit statuses are one byte on Unix; `exit` truncates like a C program would.
    std::process::exit(code)
}

/// Help and version go to stdout as usual; real parse errors become one line.
fn clap_failure(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(e.exit_code() as u8)
        }
        _ => {
            // clap's first paragraph is the message (a list of missing arguments may
            // continue it on indented lines); tips and usage follow a blank line.
            let rendered = e.render().to_string();
            let message = rendered
                .lines()
                .take_while(|line| !line.trim().is_empty())
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ");
            let message = message.strip_prefix("error: ").unwrap_or(&message);
            eprintln!("aiofs: error: {message} (see --help)");
            ExitCode::from(2)
        }
    }
}

/// `--log`, else `RUST_LOG`, takes `target=level` lists (`debug`, `aiofs=debug,wasmtime=info`);
/// without either only aiofs' own warnings are shown. Guest operations are spans of target
/// `aiofs` at `debug`, printed when they close, with their fields.
fn init_tracing(spec: Option<&str>) -> Result<(), String> {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::fmt::format::FmtSpan;
    use tracing_subscriber::prelude::*;

    let filter = match spec {
        Some(spec) => spec
            .parse::<Targets>()
            .map_err(|e| format!("bad --log {spec:?}: {e} (expected target=level,...)"))?,
        None => std::env::var("RUST_LOG")
            .ok()
            .and_then(|spec| spec.parse::<Targets>().ok())
            .unwrap_or_else(|| {
                Targets::new()
                    .with_target("aiofs", LevelFilter::WARN)
                    .with_target("aiofs_cli", LevelFilter::WARN)
                    .with_target("aiofs_host", LevelFilter::WARN)
            }),
    };
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_span_events(FmtSpan::CLOSE),
        )
        .with(filter)
        .init();
    Ok(())
}

fn run(args: RunArgs) -> Result<i32, Failure> {
    // Everything that can be checked without a runtime is checked first, cheapest
    // first, so that mistakes are reported before any compilation.
    let specs = args
        .dirs
        .iter()
        .map(|s| s.parse::<DirSpec>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let env = guest_env(&args.envs)?;

    let quota = GrantQuota {
        max_bytes_written: args.max_bytes_written,
        max_bytes_read: args.max_bytes_read,
        max_file_size: args.max_file_size,
        max_created: args.max_files_created,
    };
    let mut builder = AioFsCtx::builder();
    for spec in &specs {
        builder = match spec.host.to_str().filter(|h| h.starts_with("s3://")) {
            Some(uri) => aiofs_host::object::S3Config::from_env(uri)
                .and_then(|config| config.operator())
                .and_then(|op| builder.grant_object_with_quota(op, &spec.guest, spec.perms, quota))
                .map_err(|e| Failure::Error(format!("cannot grant {uri}: {e}")))?,
            None => builder
                .grant_with_quota(&spec.host, &spec.guest, spec.perms, quota)
                .map_err(|e| {
                    Failure::Error(format!(
                        "cannot grant directory {}: {e}",
                        spec.host.display()
                    ))
                })?,
        };
    }
    // A guest that can write into the cache (or a directory on its path) could plant
    // native code for a later run, with or without --no-cache now: refuse such grants.
    if let Some(cache_dir) = default_cache_dir(|k| std::env::var_os(k)) {
        let writable = specs
            .iter()
            .filter(|s| {
                s.perms.can_write() && !s.host.to_str().is_some_and(|h| h.starts_with("s3://"))
            })
            .map(|s| s.host.as_path());
        check_cache_dir_not_granted(&cache_dir, writable)
            .map_err(|e| Failure::Error(e.to_string()))?;
    }
    let name = args.component.display().to_string();
    let wasm = std::fs::read(&args.component)
        .map_err(|e| Failure::Error(format!("cannot read {name}: {e}")))?;
    ensure_runnable(&wasm, &name).map_err(|e| Failure::Error(e.to_string()))?;

    let mut limits = Limits::default();
    if let Some(n) = args.max_open_files {
        limits.max_open_files = saturating_usize(n);
    }
    if let Some(n) = args.max_pending_ops {
        limits.max_pending_ops = saturating_usize(n);
    }
    if let Some(n) = args.max_read_bytes {
        limits.max_read_bytes = n;
    }
    if let Some(n) = args.max_write_bytes {
        limits.max_write_bytes = n;
    }
    if let Some(n) = args.max_inflight_bytes {
        limits.max_inflight_bytes = n;
    }
    if let Some(d) = args.max_op_duration {
        limits.max_op_duration = Some(d);
    }
    let mut guest_limits = GuestLimits {
        timeout: args.timeout,
        ..GuestLimits::default()
    };
    if let Some(n) = args.max_memory {
        guest_limits.max_memory = saturating_usize(n);
    }
    let threads = args.threads.map_or_else(default_threads, saturating_usize);

    let cache_dir = if args.no_cache {
        None
    } else {
        default_cache_dir(|k| std::env::var_os(k))
    };
    let wasi_filesystem = if args.no_wasi_fs {
        WasiFilesystem::Off
    } else {
        WasiFilesystem::Aiofs
    };
    let runner = Runner::new(RunnerOptions {
        cache_dir,
        wasi_filesystem,
        // Epoch checks cost up to ~1.3x on call-heavy guest code (BENCHMARKS.md): only
        // a run with a timeout pays for them.
        no_epoch_interruption: args.timeout.is_none(),
    })
    .map_err(|e| Failure::Error(format!("cannot set up wasmtime: {}", one_line(&e))))?;
    let component = runner
        .load_bytes(&wasm, &name)
        .map_err(|e| Failure::Error(one_line(&e)))?;
    drop(wasm);

    let label = args
        .component
        .file_name()
        .map_or_else(|| name.clone(), |n| n.to_string_lossy().into_owned());
    let audit = match &args.audit {
        Some(path) => {
            let max = args.audit_max_bytes.unwrap_or(AUDIT_MAX_BYTES);
            Some(
                AuditWriter::create(path, args.audit_mutations, max).map_err(|e| {
                    Failure::Error(format!("cannot create audit file {}: {e}", path.display()))
                })?,
            )
        }
        None => None,
    };
    let mut builder = builder.label(label);
    if let Some((a, _)) = &audit {
        builder = builder.audit(a.clone());
    }
    let aiofs = builder.limits(limits).pool(Pool::new(threads)).build();
    // The counters outlive the store (a clone of the domain layer does not keep the
    // store's work alive).
    let observed = aiofs.fs().clone();
    let mut argv = Vec::with_capacity(args.args.len() + 1);
    argv.push(program_name(&args.component));
    argv.extend(args.args);
    let io = RunIo {
        args: argv,
        env,
        capture_output: false,
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Error(format!("cannot start the async runtime: {e}")))?;
    let outcome = rt.block_on(runner.run_limited(&component, aiofs, io, &guest_limits));
    // Do not wait for blocking work left behind (a stdin reader the guest abandoned).
    rt.shutdown_background();
    if args.stats {
        let _ = std::io::stdout().flush();
        eprint!("{}", stats_table(&observed.stats()));
    }
    if let Some((_, writer)) = audit {
        let totals = writer
            .finish()
            .map_err(|e| Failure::Error(format!("cannot write the audit file: {e}")))?;
        for line in audit_warnings(&totals, observed.stats().audit_suppressed) {
            eprintln!("aiofs: warning: {line}");
        }
    }
    match outcome {
        Ok(outcome) => Ok(outcome.exit_code),
        Err(e) if e.downcast_ref::<GuestTimedOut>().is_some() => Err(Failure::Limit(
            TIMEOUT_EXIT,
            format!("the guest ran past --timeout {}", fmt_secs(args.timeout)),
        )),
        Err(e) if e.downcast_ref::<MemoryLimitExceeded>().is_some() => {
            let m = e.downcast_ref::<MemoryLimitExceeded>().expect("checked");
            let flag = if m.what == "memory" {
                " (--max-memory)"
            } else {
                ""
            };
            Err(Failure::Limit(TRAP_EXIT, format!("{m}{flag}")))
        }
        Err(e) if e.downcast_ref::<wasmtime::Trap>().is_some() => Err(Failure::Trap(e)),
        Err(e) => Err(Failure::Error(one_line(&e))),
    }
}

/// `--env` values: `K=V`, or `K` to copy the host's value.
fn guest_env(specs: &[String]) -> Result<Vec<(String, String)>, Failure> {
    specs
        .iter()
        .map(|spec| match spec.split_once('=') {
            Some(("", _)) => Err(Failure::Usage(format!(
                "bad --env {spec:?}: empty variable name (expected K=V)"
            ))),
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => match std::env::var(spec) {
                Ok(v) if !spec.is_empty() => Ok((spec.clone(), v)),
                _ => Err(Failure::Usage(format!(
                    "bad --env {spec:?}: expected K=V, or the name of a set host variable"
                ))),
            },
        })
        .collect()
}

/// Seconds as a positive decimal number (`5`, `0.5`).
fn parse_secs(s: &str) -> Result<std::time::Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0 && *v < 1e9)
        .map(std::time::Duration::from_secs_f64)
        .ok_or_else(|| format!("expected a positive number of seconds, got {s:?}"))
}

/// A duration as the user wrote it, in seconds.
fn fmt_secs(d: Option<std::time::Duration>) -> String {
    d.map_or_else(String::new, |d| format!("{}s", d.as_secs_f64()))
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()) * 2
}

fn saturating_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// An error chain as one line: messages joined with `: `, newlines folded.
fn one_line(e: &wasmtime::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let msg = cause.to_string();
        let msg = msg.split_whitespace().collect::<Vec<_>>().join(" ");
        if msg.is_empty() || out.ends_with(&msg) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&msg);
    }
    out
}

/// A trap: its message on the first line, then whatever else the error carries (the wasm
/// backtrace) as it is.
fn report_trap(e: &wasmtime::Error) {
    let trap = e
        .downcast_ref::<wasmtime::Trap>()
        .map_or_else(|| e.to_string(), |t| t.to_string());
    eprintln!("aiofs: error: guest trapped: {trap}");
    for cause in e.chain() {
        let msg = cause.to_string();
        if msg != trap {
            eprintln!("{msg}");
        }
    }
}

/// The guest's program name (`argv[0]`): the component's file name, as `wasmtime run`
/// gives it (wasi-testsuite's `cli-env` checks this), or the path as given if it has none.
fn program_name(component: &std::path::Path) -> String {
    component.file_name().map_or_else(
        || component.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::program_name;
    use std::path::Path;

    #[test]
    fn the_program_name_is_the_file_name() {
        assert_eq!(
            program_name(Path::new("tests/p3/cli-env.wasm")),
            "cli-env.wasm"
        );
        assert_eq!(program_name(Path::new("/abs/dir/app.wasm")), "app.wasm");
        assert_eq!(program_name(Path::new("app.wasm")), "app.wasm");
        assert_eq!(program_name(Path::new("..")), "..");
    }
}
