//! `aiofs-bench`: native `std::fs` and `tokio::fs`, `std::fs` over wasmtime-wasi's
//! `wasi:filesystem@0.2`, and aiofs, side by side, in one process run.
//!
//! ```text
//! cargo run --release -p aiofs-bench              # full run, writes BENCHMARKS.md + bench/chart.svg
//! cargo run --release -p aiofs-bench -- --quick   # small sizes, results under target/bench-quick/
//! ```
//!
//! The binary builds the two guest components itself (release, `wasm32-wasip2`, in
//! `target/bench-guests`), makes the data in a temporary directory on the real disk,
//! runs every workload for every contender, and writes the Markdown tables (between the
//! `results` markers of `BENCHMARKS.md`, keeping the hand-written text around them) and
//! an SVG chart. See `BENCHMARKS.md` for what each number includes.

mod data;
mod guests;
mod native;
mod object;
mod observed;
mod report;
mod respond;
#[cfg(target_os = "linux")]
mod uring;

/// The guests' command line and file layout, shared with the guest crate.
#[path = "../guests/src/lib.rs"]
#[allow(dead_code, reason = "the guest side uses the rest")]
mod proto;

use aiofs_host::{AioFsCtx, Limits, Perms, Pool};
use clap::Parser;
use data::{Data, SMALL_BYTES, Sizes};
use guests::{Guests, Rep};
use report::{Contender, Results, Row, Unit};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::{Result, bail, format_err};

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "Benchmark aiofs against native std::fs, tokio::fs and wasi:filesystem")]
struct Opts {
    /// Small sizes and few repetitions (a smoke test); results go under
    /// target/bench-quick/ instead of BENCHMARKS.md.
    #[arg(long)]
    quick: bool,
    /// Run only these rows (comma separated keys; a trailing `*` matches a prefix), e.g.
    /// `small_*,lines`; `respond` and `scaling` name the last two workloads; `s3_*` the
    /// object-grant rows (S3 through OpenDAL: the server of `AIOFS_S3_*`, or one started
    /// with scripts/s3-server.sh for the run).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Where to make the data directory (default: the system temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Run only these contenders (comma separated: std, tokio, wasi, wasi-aiofs, aiofs,
    /// aiofs-noepoch, uring, opendal, opendal-objrt), e.g. to
    /// profile one of them.
    #[arg(long, value_delimiter = ',')]
    who: Vec<String>,
    /// Timed repetitions of every row (default: 9, or 5 for the 1 GiB rows; 3 and 2
    /// with `--quick`).
    #[arg(long)]
    reps: Option<usize>,
    /// Pool threads of the aiofs contender.
    #[arg(long, default_value_t = 4)]
    threads: usize,
}

/// Everything a measurement needs.
struct Bench {
    opts: Opts,
    rt: tokio::runtime::Runtime,
    data: Data,
    guests: Arc<Guests>,
    pool: Pool,
    results: Results,
    /// The S3 server and the fixture of the object rows, if any is selected and a server
    /// could be had. Dropped (the server stopped, if this run started it) with the bench.
    object: Option<(object::Fixture, object::Server)>,
}

/// Rows of the comparison tables: key, title, unit, and which contenders run it (with
/// the guest workload name when it differs from the key).
fn rows(sizes: &Sizes, quick: bool) -> Vec<Row> {
    use Contender::*;
    let all = &[Std, Tokio, Wasi, WasiAiofs, Aiofs][..];
    let all_uring = &[Std, Tokio, Wasi, WasiAiofs, Aiofs, Uring][..];
    let aiofs_only = &[Aiofs][..];
    let epochs = &[Aiofs, AiofsNoEpoch][..];
    let s3 = &[OpenDal, OpenDalObjRt, Aiofs][..];
    let (small_n, reps, big_reps) = if quick { (200, 3, 2) } else { (2000, 9, 5) };
    let s3_n = if quick { 200 } else { object::OBJECTS };
    let s3_big = object::big_bytes(quick);
    let big = sizes.big_bytes;
    let small = (small_n * SMALL_BYTES) as u64;
    let row = |key, title, unit, n, reps, check, who: &[Contender]| Row {
        key,
        title,
        unit,
        n,
        reps,
        check,
        contenders: who.to_vec(),
    };
    vec![
        row(
            "compute",
            "compute loop in the guest, no host calls (what epoch checks cost)",
            Unit::PerRun,
            small_n * 10_000,
            reps,
            (small_n * 10_000) as u64,
            epochs,
        ),
        row(
            "call_sync",
            "aiofs call overhead: sync import (`file.name`)",
            Unit::PerOp,
            small_n * 10,
            reps,
            (small_n * 10) as u64,
            aiofs_only,
        ),
        row(
            "call_async",
            "aiofs call overhead: async import, no pool trip (`file.tell`)",
            Unit::PerOp,
            small_n * 10,
            reps,
            (small_n * 10) as u64,
            epochs,
        ),
        row(
            "small_open_read",
            "4 KiB file: open + read all + close",
            Unit::PerOp,
            small_n,
            reps,
            small,
            all,
        ),
        row(
            "small_read_file",
            "4 KiB file: whole-file read (`fs::read` / aiofs `read-file`)",
            Unit::PerOp,
            small_n,
            reps,
            small,
            all_uring,
        ),
        row(
            "small_read_file_obs",
            "4 KiB file: whole-file read, by how much the store is observed",
            Unit::PerOp,
            small_n,
            reps,
            small,
            &[AiofsBare, Aiofs, AiofsMetrics, AiofsTraced],
        ),
        row(
            "small_read_concurrent",
            "4 KiB file: whole-file reads, 64 in flight",
            Unit::PerOp,
            small_n * 4,
            reps,
            small * 4,
            &[Tokio, Aiofs, Uring],
        ),
        row(
            "big_read",
            "1 GiB read, 1 MiB `read` calls",
            Unit::Throughput,
            big,
            big_reps,
            big as u64,
            all,
        ),
        row(
            "big_read_stream",
            "1 GiB read through `read-via-stream`",
            Unit::Throughput,
            big,
            big_reps,
            big as u64,
            aiofs_only,
        ),
        row(
            "big_read_whole",
            "1 GiB read, whole-file op",
            Unit::Throughput,
            big,
            big_reps,
            big as u64,
            all,
        ),
        row(
            "big_write",
            "1 GiB write, 1 MiB `write` calls",
            Unit::Throughput,
            big,
            big_reps,
            big as u64,
            all,
        ),
        row(
            "big_write_stream",
            "1 GiB write through `write-via-stream`",
            Unit::Throughput,
            big,
            big_reps,
            big as u64,
            aiofs_only,
        ),
        row(
            "big_write_whole",
            "1 GiB write, whole-file op (aiofs: not allowed, see below)",
            Unit::Throughput,
            big,
            big_reps,
            big as u64,
            // One guest-to-host call may carry at most 128 MiB (wasmtime's hostcall fuel,
            // a DoS guard the Runner keeps), so a 1 GiB `write-file` traps.
            &[Std, Tokio, Wasi, WasiAiofs],
        ),
        row(
            "lines",
            "100k lines (`BufReader::lines` / aiofs `lines()`)",
            Unit::PerRun,
            sizes.lines,
            reps,
            sizes.lines as u64,
            &[Std, Tokio, Wasi, WasiAiofs, Aiofs, AiofsNoEpoch],
        ),
        row(
            "lines_crlf",
            "100k lines ending in `\\r\\n`, aiofs `lines()` (text mode)",
            Unit::PerRun,
            sizes.lines,
            reps,
            sizes.lines as u64,
            aiofs_only,
        ),
        row(
            "lines_cr",
            "100k lines ending in a lone `\\r`, aiofs `lines()` (text mode)",
            Unit::PerRun,
            sizes.lines,
            reps,
            sizes.lines as u64,
            aiofs_only,
        ),
        row(
            "lines_raw",
            "100k lines, `read-lines-text` batches of 4096 (list<string>)",
            Unit::PerRun,
            sizes.lines,
            reps,
            sizes.lines as u64,
            aiofs_only,
        ),
        row(
            "lines_each",
            "100k lines, one `read-line-text` call per line",
            Unit::PerRun,
            sizes.lines,
            reps,
            sizes.lines as u64,
            aiofs_only,
        ),
        row(
            "listdir",
            "listdir, 10k entries",
            Unit::PerRun,
            sizes.entries,
            reps,
            sizes.entries as u64,
            all,
        ),
        row(
            "scandir",
            "scandir with types, 10k entries",
            Unit::PerRun,
            sizes.entries,
            reps,
            sizes.entries as u64,
            all,
        ),
        row(
            "stat",
            "stat, 10k paths one at a time",
            Unit::PerOp,
            sizes.entries,
            reps,
            sizes.entries as u64,
            all_uring,
        ),
        row(
            "exists",
            "exists, 10k paths one at a time",
            Unit::PerOp,
            sizes.entries,
            reps,
            sizes.entries as u64,
            all,
        ),
        row(
            "stat_batch",
            "stat, 10k paths through batches (aiofs `batch::stat_many`)",
            Unit::PerOp,
            sizes.entries,
            reps,
            sizes.entries as u64,
            &[Std, Aiofs],
        ),
        row(
            "exists_batch",
            "exists, 10k paths through batches (aiofs `batch::exists_many`)",
            Unit::PerOp,
            sizes.entries,
            reps,
            sizes.entries as u64,
            &[Std, Aiofs],
        ),
        row(
            "stat_concurrent",
            "stat, 10k paths, 64 in flight",
            Unit::PerOp,
            sizes.entries,
            reps,
            sizes.entries as u64,
            &[Aiofs, Uring],
        ),
        // Issue 13: object grants (S3 through OpenDAL) against the same operator awaited
        // from host code. Keys `s3_WORKLOAD` run guest workload `WORKLOAD`.
        row(
            "s3_small_read_file",
            "4 KiB object: whole-file read, one at a time (`read-file` / `Operator::read`)",
            Unit::PerOp,
            s3_n,
            reps,
            (s3_n * SMALL_BYTES) as u64,
            s3,
        ),
        row(
            "s3_big_read_whole",
            "64 MiB object: whole-file read (`read-file` / `Operator::read`)",
            Unit::Throughput,
            s3_big,
            reps,
            s3_big as u64,
            s3,
        ),
        row(
            "s3_listdir",
            "listdir, 1k objects (`listdir` / `Operator::list`)",
            Unit::PerRun,
            object::OBJECTS,
            reps,
            object::OBJECTS as u64,
            s3,
        ),
        row(
            "s3_small_write_concurrent",
            "1k × 4 KiB `write-file`, 32 in flight (`write-file` / `Operator::write`)",
            Unit::PerRun,
            s3_n,
            reps,
            (s3_n * SMALL_BYTES) as u64,
            s3,
        ),
    ]
}

fn main() -> Result<()> {
    let opts = Opts::parse();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or_else(|| format_err!("no workspace"))?
        .to_path_buf();
    eprintln!("aiofs-bench: building the guests");
    let (aiofs_wasm, wasi_wasm) = guests::build(&workspace)?;
    let guests = Guests::load(
        &aiofs_wasm,
        &wasi_wasm,
        workspace.join("target/bench-guests/component-cache"),
    )?;

    let sizes = if opts.quick {
        Sizes {
            big_bytes: 64 << 20,
            lines: 100_000,
            entries: 10_000,
        }
    } else {
        Sizes {
            big_bytes: 1 << 30,
            lines: 100_000,
            entries: 10_000,
        }
    };
    let parent = opts.dir.clone().unwrap_or_else(std::env::temp_dir);
    eprintln!("aiofs-bench: making the data under {}", parent.display());
    let data = Data::create(&parent, sizes)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut bench = Bench {
        pool: Pool::new(opts.threads),
        results: Results::new(report::machine(data.root(), opts.threads)),
        opts,
        rt,
        data,
        guests: Arc::new(guests),
        object: None,
    };
    let rows = rows(&bench.data.sizes, bench.opts.quick);
    if rows.iter().any(|r| r.object() && bench.selected(r.key)) {
        bench.start_object(&workspace);
    }
    for mut row in rows {
        if let Some(reps) = bench.opts.reps {
            row.reps = reps;
        }
        if !bench.selected(row.key) {
            continue;
        }
        if row.object() && bench.object.is_none() {
            eprintln!("aiofs-bench: {}: skipped (no S3 server)", row.key);
            continue;
        }
        bench.measure_row(&mut row)?;
        bench.results.rows.push(row);
    }
    if let Some((fixture, _)) = &bench.object
        && let Err(e) = bench.rt.block_on(fixture.cleanup())
    {
        eprintln!("aiofs-bench: could not delete the S3 fixture: {e:#}");
    }
    if bench.selected("respond") {
        bench.respond()?;
    }
    if bench.selected("scaling") {
        bench.scaling()?;
    }

    let (md, svg) = if bench.opts.quick {
        let dir = workspace.join("target/bench-quick");
        std::fs::create_dir_all(&dir)?;
        (dir.join("BENCHMARKS.md"), dir.join("chart.svg"))
    } else {
        (
            workspace.join("BENCHMARKS.md"),
            workspace.join("bench/chart.svg"),
        )
    };
    report::write_markdown(&bench.results, &md)?;
    std::fs::write(&svg, report::chart(&bench.results))?;
    eprintln!("aiofs-bench: wrote {} and {}", md.display(), svg.display());
    Ok(())
}

impl Bench {
    fn selected(&self, key: &str) -> bool {
        self.opts.only.is_empty()
            || self.opts.only.iter().any(|o| match o.strip_suffix('*') {
                Some(prefix) => key.starts_with(prefix),
                None => key == o,
            })
    }

    /// An aiofs context granting the data at `/data` on `pool`. The per-call byte limits
    /// are raised to 2 GiB and the memory budget to 4 GiB so that the 1 GiB whole-file
    /// operations are allowed.
    fn ctx(&self, pool: &Pool) -> Result<AioFsCtx> {
        Ok(self.ctx_builder(pool)?.build())
    }

    /// The builder of [`ctx`](Bench::ctx), for contenders that configure more.
    fn ctx_builder(&self, pool: &Pool) -> Result<aiofs_host::AioFsCtxBuilder> {
        Ok(AioFsCtx::builder()
            .grant(self.data.root(), "/data", Perms::ReadWrite)?
            .limits(Self::limits())
            .pool(pool.clone()))
    }

    /// The limits of every aiofs contender.
    fn limits() -> Limits {
        Limits {
            max_read_bytes: 2 << 30,
            max_write_bytes: 2 << 30,
            max_inflight_bytes: 4 << 30,
            ..Limits::default()
        }
    }

    /// Get an S3 server and upload the object rows' fixture; on failure the object rows
    /// are skipped and the report says why.
    fn start_object(&mut self, workspace: &Path) {
        let big = object::big_bytes(self.opts.quick);
        let got = object::Server::get(workspace).and_then(|server| {
            eprintln!("aiofs-bench: uploading the S3 fixture");
            let fixture = self.rt.block_on(object::Fixture::create(&server, big))?;
            Ok((fixture, server))
        });
        match got {
            Ok((fixture, server)) => {
                self.results
                    .machine
                    .push(("S3 server".into(), server.origin.clone()));
                self.object = Some((fixture, server));
            }
            Err(e) => {
                eprintln!("aiofs-bench: object rows skipped: no S3 server: {e:#}");
                self.results.object_skipped = Some(format!("no S3 server could be had ({e:#})"));
            }
        }
    }

    /// One warm-up and `reps` timed repetitions of object row `key` by `who`: native
    /// OpenDAL from host code, or the aiofs guest on an object grant of the same operator.
    fn run_object(
        &self,
        who: Contender,
        key: &str,
        guest: &str,
        reps: usize,
        n: usize,
    ) -> Result<Vec<Rep>> {
        let Some((fixture, _)) = &self.object else {
            bail!("{key}: no S3 server");
        };
        let op = fixture.op.clone();
        match who {
            Contender::OpenDal | Contender::OpenDalObjRt => {
                let key = key.to_string();
                let rt = (who == Contender::OpenDalObjRt)
                    .then(|| aiofs_host::object::runtime().handle().clone());
                self.rt.block_on(async move {
                    tokio::spawn(
                        async move { object::native(&op, &key, reps, n, rt.as_ref()).await },
                    )
                    .await?
                })
            }
            Contender::Aiofs => {
                let args = Self::guest_args(guest, 1, reps, n, object::WRITES_IN_FLIGHT);
                let guests = self.guests.clone();
                let ctx = AioFsCtx::builder()
                    .grant_object(op, "/data", Perms::ReadWrite)?
                    .limits(Self::limits())
                    .pool(self.pool.clone())
                    .build();
                self.rt.block_on(async move {
                    tokio::spawn(async move { guests.run_aiofs(&args, ctx).await }).await?
                })
            }
            other => bail!("{key}: {} has no object-grant version", other.name()),
        }
    }

    fn guest_args(
        workload: &str,
        warmup: usize,
        reps: usize,
        n: usize,
        in_flight: usize,
    ) -> Vec<String> {
        [
            workload.to_string(),
            warmup.to_string(),
            reps.to_string(),
            n.to_string(),
            in_flight.to_string(),
        ]
        .to_vec()
    }

    /// Measure every contender of `row`. Rows other than the 1 GiB ones run in three
    /// rounds, each contender in turn per round, so that a change in background load
    /// during the run does not favour whoever ran first.
    fn measure_row(&mut self, row: &mut Row) -> Result<()> {
        // (The 64 MiB object row is short enough for rounds.)
        let rounds = if row.unit == Unit::Throughput && !row.object() {
            1
        } else {
            3
        };
        let per_round = row.reps.div_ceil(rounds);
        row.reps = per_round * rounds;
        let who: Vec<Contender> = row
            .contenders
            .iter()
            .copied()
            .filter(|w| self.opts.who.is_empty() || self.opts.who.iter().any(|k| k == w.key()))
            .filter(|&w| w != Contender::Uring || uring_available())
            .collect();
        let mut reps: Vec<Vec<Rep>> = vec![Vec::new(); who.len()];
        for round in 0..rounds {
            for (i, &w) in who.iter().enumerate() {
                eprintln!(
                    "aiofs-bench: {} / {} (round {})",
                    row.key,
                    w.name(),
                    round + 1
                );
                // The observability row runs the plain 4 KiB read workload.
                let workload = row.key.strip_suffix("_obs").unwrap_or(row.key);
                reps[i].extend(self.run_one(w, workload, per_round, row.n, 64)?);
            }
        }
        for (w, reps) in who.into_iter().zip(reps) {
            check(row, w, &reps)?;
            let fastest = reps.iter().map(|r| r.elapsed).min().unwrap_or_default();
            eprintln!(
                "    {}: median {:?}, fastest {fastest:?}",
                w.key(),
                report::median(&reps)
            );
            self.results.record(row.key, w, &reps);
        }
        Ok(())
    }

    /// One warm-up and `reps` timed repetitions of `workload` by `who`.
    fn run_one(
        &self,
        who: Contender,
        workload: &str,
        reps: usize,
        n: usize,
        in_flight: usize,
    ) -> Result<Vec<Rep>> {
        if let Some(guest) = object::guest_workload(workload) {
            return self.run_object(who, workload, guest, reps, n);
        }
        let data = &self.data;
        let rep = |(elapsed, check): (Duration, u64)| Rep { elapsed, check };
        match who {
            Contender::Std => (0..=reps)
                .map(|_| {
                    native::std_once(workload, data, n)
                        .map(rep)
                        .map_err(Into::into)
                })
                .skip(1)
                .collect(),
            #[cfg(target_os = "linux")]
            Contender::Uring => (0..=reps)
                .map(|_| {
                    uring::uring_once(workload, data, n, in_flight)
                        .map(rep)
                        .map_err(Into::into)
                })
                .skip(1)
                .collect(),
            #[cfg(not(target_os = "linux"))]
            Contender::Uring => bail!("io_uring is Linux only"),
            Contender::Tokio => self.rt.block_on(async {
                let mut out = Vec::new();
                for _ in 0..=reps {
                    out.push(rep(native::tokio_once(workload, data, n, in_flight).await?));
                }
                out.remove(0);
                Ok(out)
            }),
            Contender::Wasi => {
                let args = Self::guest_args(workload, 1, reps, n, in_flight);
                let guests = self.guests.clone();
                let root = data.root().to_path_buf();
                self.rt.block_on(async move {
                    tokio::spawn(async move { guests.run_wasi(&args, &root).await }).await?
                })
            }
            Contender::WasiAiofs => {
                let args = Self::guest_args(workload, 1, reps, n, in_flight);
                let guests = self.guests.clone();
                let ctx = self.ctx(&self.pool)?;
                self.rt.block_on(async move {
                    tokio::spawn(async move { guests.run_wasi_on_aiofs(&args, ctx).await }).await?
                })
            }
            Contender::Aiofs => {
                let args = Self::guest_args(workload, 1, reps, n, in_flight);
                let guests = self.guests.clone();
                let ctx = self.ctx(&self.pool)?;
                self.rt.block_on(async move {
                    tokio::spawn(async move { guests.run_aiofs(&args, ctx).await }).await?
                })
            }
            Contender::AiofsBare | Contender::AiofsMetrics | Contender::AiofsTraced => {
                let args = Self::guest_args(workload, 1, reps, n, in_flight);
                let guests = self.guests.clone();
                let (ctx, observe) = observed::ctx(self.ctx_builder(&self.pool)?, who);
                self.rt.block_on(async move {
                    tokio::spawn(observe.run(async move { guests.run_aiofs(&args, ctx).await }))
                        .await?
                })
            }
            Contender::AiofsNoEpoch => {
                let args = Self::guest_args(workload, 1, reps, n, in_flight);
                let guests = self.guests.clone();
                let ctx = self.ctx(&self.pool)?;
                self.rt.block_on(async move {
                    tokio::spawn(async move { guests.run_aiofs_no_epoch(&args, ctx).await }).await?
                })
            }
            Contender::OpenDal | Contender::OpenDalObjRt => {
                bail!("{workload}: native OpenDAL runs the object rows only")
            }
        }
    }

    /// Workload 6: 1 ms tickers on the runtime while two guests keep 128 reads each in
    /// flight against a "disk" whose every operation takes 10 ms (the pool's job hook sleeps
    /// before each job; no read is answered from the kernel's caches), compared with a host that does the same work inline on the event
    /// loop, and with an idle runtime.
    fn respond(&mut self) -> Result<()> {
        const GUESTS: usize = 2;
        const IN_FLIGHT: usize = 128;
        const THREADS: usize = 16;
        let latency = Duration::from_millis(10);
        // Sized so that each setup runs for about two seconds.
        let (aiofs_ops, inline_ops) = if self.opts.quick {
            (400, 50)
        } else {
            (1600, 200)
        };
        let hook: aiofs_host::pool::JobHook = Arc::new(move || std::thread::sleep(latency));
        let slow_pool = Pool::with_hook(THREADS, Some(hook));

        eprintln!("aiofs-bench: respond / idle");
        let (_, idle) = self.rt.block_on(respond::with_tickers(async {
            tokio::time::sleep(Duration::from_secs(2)).await
        }));
        self.results
            .respond
            .push(("idle runtime, no guests".into(), idle, None));

        eprintln!("aiofs-bench: respond / aiofs");
        let args = Self::guest_args("small_read_concurrent", 0, 1, aiofs_ops, IN_FLIGHT);
        let mut runs = Vec::new();
        // Every read goes to the slow "disk" (none is answered from the caches on the event
        // loop), which is what this row measures.
        let slow_limits = Limits {
            max_inline_bytes: 0,
            ..Self::limits()
        };
        for _ in 0..GUESTS {
            let ctx = self.ctx_builder(&slow_pool)?.limits(slow_limits.clone());
            runs.push((self.guests.clone(), args.clone(), ctx.build()));
        }
        let (out, ticks) = self.rt.block_on(respond::with_tickers(async move {
            let handles = runs
                .into_iter()
                .map(|(g, a, c)| tokio::spawn(async move { g.run_aiofs(&a, c).await }))
                .collect();
            join(handles).await
        }));
        let ops = count_ops(out?, GUESTS * aiofs_ops)?;
        self.results.respond.push((
            format!("aiofs: pool of {THREADS} threads, every operation 10 ms"),
            ticks,
            Some(ops),
        ));

        eprintln!("aiofs-bench: respond / inline");
        let args = Self::guest_args("small_read_concurrent", 0, 1, inline_ops, IN_FLIGHT);
        let (guests, root) = (self.guests.clone(), self.data.root().to_path_buf());
        let (out, ticks) = self.rt.block_on(respond::with_tickers(async move {
            let handles = (0..GUESTS)
                .map(|_| {
                    let (g, a, r) = (guests.clone(), args.clone(), root.clone());
                    tokio::spawn(async move { g.run_inline(&a, &r, latency).await })
                })
                .collect();
            join(handles).await
        }));
        let ops = count_ops(out?, GUESTS * inline_ops)?;
        self.results.respond.push((
            "host doing each 10 ms operation inline on the event loop".into(),
            ticks,
            Some(ops),
        ));
        Ok(())
    }

    /// Workload 7: small reads with 64 in flight, aiofs pool threads 1, 2, 4, 8 (and tokio's
    /// blocking pool capped the same, for reference).
    fn scaling(&mut self) -> Result<()> {
        let (n, reps) = if self.opts.quick { (500, 3) } else { (4000, 7) };
        for threads in [1, 2, 4, 8] {
            eprintln!("aiofs-bench: scaling / {threads} threads");
            let pool = Pool::new(threads);
            let args = Self::guest_args("small_read_concurrent", 1, reps, n, 64);
            let (guests, ctx) = (self.guests.clone(), self.ctx(&pool)?);
            let cpu = process_cpu();
            let aiofs = self.rt.block_on(async move {
                tokio::spawn(async move { guests.run_aiofs(&args, ctx).await }).await?
            })?;
            // The guest's start is in it too: a slight overestimate for aiofs.
            let aiofs_cpu = (process_cpu() - cpu) / ((reps + 1) * n) as u32;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .max_blocking_threads(threads)
                .enable_all()
                .build()?;
            let data = &self.data;
            let cpu = process_cpu();
            let tokio = rt.block_on(async {
                let mut out = Vec::new();
                for _ in 0..=reps {
                    let (elapsed, check) =
                        native::tokio_once("small_read_concurrent", data, n, 64).await?;
                    out.push(Rep { elapsed, check });
                }
                out.remove(0);
                Ok::<_, std::io::Error>(out)
            })?;
            let tokio_cpu = (process_cpu() - cpu) / ((reps + 1) * n) as u32;
            self.results.scaling.push(report::Scaling {
                threads,
                reads: n,
                aiofs: report::median(&aiofs),
                tokio: report::median(&tokio),
                aiofs_cpu,
                tokio_cpu,
            });
        }
        Ok(())
    }
}

/// CPU time used so far by every thread of this process (user and system).
fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    #[allow(unsafe_code, reason = "clock_gettime writes the timespec we pass")]
    // SAFETY: `ts` is a valid, writable timespec for the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Whether the io_uring contender can run here (Linux, io_uring not disabled).
fn uring_available() -> bool {
    #[cfg(target_os = "linux")]
    return uring::available();
    #[cfg(not(target_os = "linux"))]
    false
}

/// Await spawned guest runs.
async fn join(handles: Vec<tokio::task::JoinHandle<Result<Vec<Rep>>>>) -> Result<Vec<Vec<Rep>>> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await??);
    }
    Ok(out)
}

/// The operations the responsiveness guests completed (checked against `expected`).
fn count_ops(runs: Vec<Vec<Rep>>, expected: usize) -> Result<usize> {
    let bytes: u64 = runs.iter().flatten().map(|r| r.check).sum();
    let ops = (bytes / SMALL_BYTES as u64) as usize;
    if ops != expected {
        bail!("responsiveness guests read {ops} files, expected {expected}");
    }
    Ok(ops)
}

/// Every repetition must report the expected check count, so a contender that silently
/// does less work cannot look fast.
fn check(row: &Row, who: Contender, reps: &[Rep]) -> Result<()> {
    if reps.len() != row.reps {
        bail!(
            "{} / {}: {} repetitions reported, expected {}",
            row.key,
            who.name(),
            reps.len(),
            row.reps
        );
    }
    if let Some(bad) = reps.iter().find(|r| r.check != row.check) {
        bail!(
            "{} / {}: check {} != expected {}",
            row.key,
            who.name(),
            bad.check,
            row.check
        );
    }
    Ok(())
}
