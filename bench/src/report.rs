//! Results: medians, ratios to native, the goals, the Markdown tables and the SVG chart.

use crate::guests::Rep;
use crate::respond::Ticks;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// Who does the file I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Contender {
    /// Native `std::fs` on the calling thread.
    Std,
    /// Native `tokio::fs` (tokio's blocking pool).
    Tokio,
    /// A guest using `std::fs` over wasmtime-wasi's `wasi:filesystem@0.2`.
    Wasi,
    /// The same `std::fs` guest over aiofs' `wasi:filesystem@0.2`.
    WasiAiofs,
    /// A guest using aiofs.
    Aiofs,
    /// The same aiofs guest compiled without epoch checks (what `--timeout` costs).
    AiofsNoEpoch,
    /// The aiofs guest on a store exporting no metrics (its counters only).
    AiofsBare,
    /// The aiofs guest on a store exporting metrics to a real Prometheus recorder.
    AiofsMetrics,
    /// Everything on: metrics to Prometheus, every operation's span formatted (into a
    /// sink), and an audit channel recording mutations, drained by a thread.
    AiofsTraced,
    /// Native io_uring from one thread (Linux): confined `openat2` into a direct
    /// descriptor, read and close linked in one chain per file; `statx` for stat.
    Uring,
    /// Host code awaiting an OpenDAL `Operator` on S3 directly (the object rows; the
    /// aiofs guest of those rows has the same operator as an object grant).
    OpenDal,
    /// The same, but each request spawned on aiofs' object runtime and awaited from the
    /// embedder's, as aiofs runs them (what that hop costs, without the guest).
    OpenDalObjRt,
}

impl Contender {
    /// Column title.
    pub fn name(self) -> &'static str {
        match self {
            Contender::Std => "native std::fs",
            Contender::Tokio => "native tokio::fs",
            Contender::Wasi => "guest std::fs over wasi:filesystem p2",
            Contender::WasiAiofs => "guest std::fs over aiofs' wasi:filesystem p2",
            Contender::Aiofs => "guest aiofs",
            Contender::AiofsNoEpoch => "guest aiofs, no epoch checks",
            Contender::Uring => "native io_uring",
            Contender::AiofsBare => "guest aiofs, no metrics export",
            Contender::AiofsMetrics => "guest aiofs, metrics to Prometheus",
            Contender::AiofsTraced => "guest aiofs, metrics + spans + audit",
            Contender::OpenDal => "native OpenDAL",
            Contender::OpenDalObjRt => "native OpenDAL, on aiofs' object runtime",
        }
    }

    /// Short name for `--who`.
    pub fn key(self) -> &'static str {
        match self {
            Contender::Std => "std",
            Contender::Tokio => "tokio",
            Contender::Wasi => "wasi",
            Contender::WasiAiofs => "wasi-aiofs",
            Contender::Aiofs => "aiofs",
            Contender::AiofsNoEpoch => "aiofs-noepoch",
            Contender::Uring => "uring",
            Contender::AiofsBare => "aiofs-bare",
            Contender::AiofsMetrics => "aiofs-metrics",
            Contender::AiofsTraced => "aiofs-traced",
            Contender::OpenDal => "opendal",
            Contender::OpenDalObjRt => "opendal-objrt",
        }
    }

    fn color(self) -> &'static str {
        match self {
            Contender::Std => "#555555",
            Contender::Tokio => "#4e79a7",
            Contender::Wasi => "#e15759",
            Contender::WasiAiofs => "#f28e2b",
            Contender::Aiofs => "#59a14f",
            Contender::AiofsNoEpoch => "#b07aa1",
            Contender::Uring => "#edc948",
            Contender::AiofsBare => "#8cd17d",
            Contender::AiofsMetrics => "#499894",
            Contender::AiofsTraced => "#9d7660",
            Contender::OpenDal => "#76b7b2",
            Contender::OpenDalObjRt => "#bab0ac",
        }
    }

    /// The columns of the side-by-side table (the object rows have their own table).
    const ALL: [Contender; 10] = [
        Contender::Std,
        Contender::Tokio,
        Contender::Wasi,
        Contender::WasiAiofs,
        Contender::Aiofs,
        Contender::AiofsNoEpoch,
        Contender::Uring,
        Contender::AiofsBare,
        Contender::AiofsMetrics,
        Contender::AiofsTraced,
    ];
}

/// How a row's time is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Time per operation (`n` operations per repetition).
    PerOp,
    /// Time per repetition.
    PerRun,
    /// Throughput (`n` bytes per repetition).
    Throughput,
}

/// One comparison row.
#[derive(Debug, Clone)]
pub struct Row {
    /// Workload name (the guests' first argument).
    pub key: &'static str,
    /// What the row measures.
    pub title: &'static str,
    /// How its time is shown.
    pub unit: Unit,
    /// Operations (or bytes) per repetition.
    pub n: usize,
    /// Timed repetitions.
    pub reps: usize,
    /// Check count every repetition must report.
    pub check: u64,
    /// Who runs it.
    pub contenders: Vec<Contender>,
}

impl Row {
    /// The row whose native `std::fs` time this row is compared with: itself, or for the
    /// rows only aiofs runs, the native row doing the same job.
    fn base(&self) -> &'static str {
        match self.key {
            "big_read_stream" => "big_read",
            "big_write_stream" => "big_write",
            "lines_raw" | "lines_each" | "lines_crlf" | "lines_cr" => "lines",
            "stat_concurrent" | "stat_batch" => "stat",
            "small_read_concurrent" => "small_read_file",
            "exists_batch" => "exists",
            key => key,
        }
    }

    /// One of the object-grant rows (S3 through OpenDAL), which have a table of their own.
    pub fn object(&self) -> bool {
        self.key.starts_with("s3_")
    }
}

/// Everything measured in one run.
pub struct Results {
    /// Machine description, key/value.
    pub machine: Vec<(String, String)>,
    /// The comparison rows, in order.
    pub rows: Vec<Row>,
    medians: HashMap<(&'static str, Contender), Duration>,
    /// Responsiveness: setup, what the tickers saw, operations done.
    pub respond: Vec<(String, Ticks, Option<usize>)>,
    /// Scaling: one entry per pool size.
    pub scaling: Vec<Scaling>,
    /// Why the object rows were selected but not measured (no S3 server).
    pub object_skipped: Option<String>,
}

/// The scaling workload at one pool size.
pub struct Scaling {
    /// aiofs pool threads (and tokio's blocking-pool cap).
    pub threads: usize,
    /// Reads per repetition.
    pub reads: usize,
    /// aiofs' median repetition.
    pub aiofs: Duration,
    /// tokio::fs' median repetition.
    pub tokio: Duration,
    /// CPU time of the whole process per aiofs read (every repetition and the warm-up,
    /// and the guest's start).
    pub aiofs_cpu: Duration,
    /// CPU time of the whole process per tokio::fs read (every repetition and the warm-up).
    pub tokio_cpu: Duration,
}

impl Scaling {
    fn rate(&self, d: Duration) -> f64 {
        self.reads as f64 / d.as_secs_f64()
    }
}

/// Median elapsed time of `reps` (zero if empty).
pub fn median(reps: &[Rep]) -> Duration {
    let mut t: Vec<Duration> = reps.iter().map(|r| r.elapsed).collect();
    t.sort();
    match t.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => t[n / 2],
        n => (t[n / 2 - 1] + t[n / 2]) / 2,
    }
}

impl Results {
    /// Empty results for `machine`.
    pub fn new(machine: Vec<(String, String)>) -> Results {
        Results {
            machine,
            rows: Vec::new(),
            medians: HashMap::new(),
            respond: Vec::new(),
            scaling: Vec::new(),
            object_skipped: None,
        }
    }

    /// Record the repetitions of one cell.
    pub fn record(&mut self, key: &'static str, who: Contender, reps: &[Rep]) {
        self.medians.insert((key, who), median(reps));
    }

    fn get(&self, key: &str, who: Contender) -> Option<Duration> {
        self.medians
            .iter()
            .find(|((k, w), _)| *k == key && *w == who)
            .map(|(_, d)| *d)
    }

    /// `who`'s time divided by `base`'s time in rows `key` / `base_key`.
    fn ratio(&self, key: &str, who: Contender, base_key: &str, base: Contender) -> Option<f64> {
        Some(self.get(key, who)?.as_secs_f64() / self.get(base_key, base)?.as_secs_f64())
    }
}

fn fmt_time(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1.0 {
        format!("{:.0} ns", us * 1000.0)
    } else if us < 1000.0 {
        format!("{us:.1} µs")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

fn cell(row: &Row, d: Duration) -> String {
    match row.unit {
        Unit::PerOp => fmt_time(d / row.n as u32),
        Unit::PerRun => fmt_time(d),
        Unit::Throughput => {
            format!(
                "{:.2} GiB/s",
                row.n as f64 / d.as_secs_f64() / f64::from(1u32 << 30)
            )
        }
    }
}

const START: &str = "<!-- results:start -->";
const END: &str = "<!-- results:end -->";

/// Write the results into `path` between the `results` markers (keeping what surrounds
/// them), or as a new file with just the results if it has no markers.
pub fn write_markdown(r: &Results, path: &Path) -> std::io::Result<()> {
    let body = markdown(r);
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let new = match (old.find(START), old.find(END)) {
        (Some(s), Some(e)) if s < e => format!("{}{START}\n{body}{}", &old[..s], &old[e..]),
        _ => format!("# Benchmarks\n\n{START}\n{body}{END}\n"),
    };
    std::fs::write(path, new)
}

fn markdown(r: &Results) -> String {
    let mut s = String::new();
    s.push_str("\n### Machine\n\n| | |\n|---|---|\n");
    for (k, v) in &r.machine {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    s.push_str("\n### Goals\n\n| goal | measured | target | met |\n|---|---|---|---|\n");
    for (goal, measured, target, met) in goals(r) {
        let met = if met { "yes" } else { "**no**" };
        let _ = writeln!(s, "| {goal} | {measured} | {target} | {met} |");
    }
    s.push_str(
        "\n### Side by side\n\nMedian per operation, per run or throughput; the factor is the \
         contender's time divided by native `std::fs`'s time in the same row (lower is better; \
         1.00× is as fast as native). Rows only aiofs runs are compared with native `std::fs` \
         doing the same job: the stream rows with its 1 MiB calls, the line rows with \
         `BufReader::lines`, the in-flight stat row with one stat at a time.\n\n",
    );
    s.push_str("| workload | reps |");
    for c in Contender::ALL {
        let _ = write!(s, " {} |", c.name());
    }
    s.push_str("\n|---|---|");
    s.push_str(&"---|".repeat(Contender::ALL.len()));
    s.push('\n');
    for row in r.rows.iter().filter(|row| !row.object()) {
        let _ = write!(s, "| {} | {} |", row.title, row.reps);
        for c in Contender::ALL {
            match r.get(row.key, c) {
                Some(d) => match r.ratio(row.key, c, row.base(), Contender::Std) {
                    Some(x) => {
                        let _ = write!(s, " {} · {x:.2}× |", cell(row, d));
                    }
                    None => {
                        let _ = write!(s, " {} |", cell(row, d));
                    }
                },
                None => s.push_str(" — |"),
            }
        }
        s.push('\n');
    }
    object_table(r, &mut s);
    if !r.respond.is_empty() {
        s.push_str(
            "\n### Responsiveness: 1 ms tickers on the embedder's runtime\n\n\
             Event ticker: a message sent every 1 ms from a thread outside the runtime, \
             lateness = send to the receiving task running. Timer ticker: \
             `tokio::time::interval(1 ms)`, lateness = scheduled instant to running \
             (includes tokio's 1 ms timer granularity; see the idle row).\n\n\
             | setup | duration | file ops | event p50 | event p99 | event max | timer p50 | timer p99 | timer max |\n\
             |---|---|---|---|---|---|---|---|---|\n",
        );
        for (name, t, ops) in &r.respond {
            let ops = ops.map_or("—".to_string(), |n| n.to_string());
            let _ = writeln!(
                s,
                "| {name} | {:.2} s | {ops} | {} | {} | {} | {} | {} | {} |",
                t.elapsed.as_secs_f64(),
                fmt_time(t.event.p50),
                fmt_time(t.event.p99),
                fmt_time(t.event.max),
                fmt_time(t.timer.p50),
                fmt_time(t.timer.p99),
                fmt_time(t.timer.max)
            );
        }
    }
    if !r.scaling.is_empty() {
        s.push_str(
            "\n### Scaling: 4 KiB whole-file reads, 64 in flight\n\n\
             | pool threads | aiofs reads/s | tokio::fs reads/s (blocking pool capped alike) \
             | aiofs CPU per read | tokio::fs CPU per read | aiofs reads per CPU-second / tokio::fs' |\n\
             |---|---|---|---|---|---|\n",
        );
        for x in &r.scaling {
            let _ = writeln!(
                s,
                "| {} | {:.0} | {:.0} | {} | {} | {:.2}× |",
                x.threads,
                x.rate(x.aiofs),
                x.rate(x.tokio),
                fmt_time(x.aiofs_cpu),
                fmt_time(x.tokio_cpu),
                x.tokio_cpu.as_secs_f64() / x.aiofs_cpu.as_secs_f64().max(1e-12)
            );
        }
    }
    s.push('\n');
    s
}

/// The object-grant rows: native OpenDAL and the aiofs guest, and their ratio.
fn object_table(r: &Results, s: &mut String) {
    use Contender::*;
    if let Some(why) = &r.object_skipped {
        let _ = writeln!(
            s,
            "\n### Object grants: S3 through OpenDAL\n\nNot measured: {why}."
        );
    }
    let rows: Vec<&Row> = r.rows.iter().filter(|row| row.object()).collect();
    if rows.is_empty() {
        return;
    }
    s.push_str(
        "\n### Object grants: S3 through OpenDAL\n\n\
         The same server, bucket and `Operator` layers for both: native OpenDAL is host code \
         awaiting the operator on the embedder's runtime; the second column spawns each of \
         its requests on aiofs' object runtime and awaits it from the embedder's, as aiofs \
         does (the hop without the guest); guest aiofs reads and writes the same objects \
         through an object grant (`grant_object`). Median per operation, per run or \
         throughput; the ratio is aiofs' time divided by native OpenDAL's (lower is \
         better).\n\n\
         | workload | reps | native OpenDAL | native OpenDAL, on aiofs' object runtime | guest aiofs | aiofs ÷ native |\n|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let cell_of = |c| r.get(row.key, c).map_or("—".into(), |d| cell(row, d));
        let ratio = r
            .ratio(row.key, Aiofs, row.key, OpenDal)
            .map_or("—".into(), |x| format!("{x:.2}×"));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {ratio} |",
            row.title,
            row.reps,
            cell_of(OpenDal),
            cell_of(OpenDalObjRt),
            cell_of(Aiofs)
        );
    }
}

/// The issue's goals: (goal, measured, target, met).
fn goals(r: &Results) -> Vec<(String, String, String, bool)> {
    use Contender::*;
    let mut out = Vec::new();
    if let Some(x) = r.ratio("small_read_file", Aiofs, "small_read_file", Tokio) {
        out.push((
            "4 KiB read: aiofs `read-file` time / native `tokio::fs::read` time".into(),
            format!("{x:.2}×"),
            "≤ 1.30×".into(),
            x <= 1.3,
        ));
    }
    if let Some(x) = r.ratio("small_read_file", Wasi, "small_read_file", Aiofs) {
        out.push((
            "4 KiB read: guest `std::fs::read` over wasi p2 time / aiofs `read-file` time".into(),
            format!("{x:.2}×"),
            "≥ 3×".into(),
            x >= 3.0,
        ));
    }
    for (key, how) in [
        ("big_read_whole", "whole-file `read-file`"),
        ("big_read_stream", "`read-via-stream`"),
        ("big_read", "1 MiB `read` calls"),
    ] {
        if let Some(x) = r.ratio("big_read_whole", Std, key, Aiofs) {
            out.push((
                format!("1 GiB cached read: aiofs {how} throughput / native `std::fs::read`"),
                format!("{:.0}%", x * 100.0),
                "≥ 70%".into(),
                x >= 0.7,
            ));
        }
    }
    if let Some(x) = r.ratio("lines", Aiofs, "lines", Std) {
        out.push((
            "100k lines: aiofs `lines()` time / native `BufReader::lines` time".into(),
            format!("{x:.2}×"),
            "≤ 3×".into(),
            x <= 3.0,
        ));
    }
    for (key, ends) in [("lines_crlf", "`\\r\\n`"), ("lines_cr", "lone `\\r`")] {
        if let Some(x) = r.ratio(key, Aiofs, "lines", Aiofs) {
            out.push((
                format!("100k lines ending in {ends}: aiofs `lines()` time / the same with `\\n`"),
                format!("{x:.2}×"),
                "≤ 1.2×".into(),
                x <= 1.2,
            ));
        }
    }
    for (key, what) in [
        ("compute", "a compute loop"),
        ("call_async", "async calls"),
        ("lines", "100k lines"),
    ] {
        if let Some(x) = r.ratio(key, Aiofs, key, AiofsNoEpoch) {
            out.push((
                format!(
                    "Epoch checks (`--timeout`), {what}: aiofs guest time / without the checks"
                ),
                format!("{x:.2}×"),
                "reported".into(),
                true,
            ));
        }
    }
    // Issue 12: what observing guests costs on the 4 KiB read row.
    let obs = "small_read_file_obs";
    if let Some(x) = r.ratio(obs, AiofsMetrics, obs, AiofsBare) {
        out.push((
            "4 KiB `read-file`, metrics to Prometheus (spans off) / no metrics export".into(),
            format!("{x:.2}×"),
            "≤ 1.05×".into(),
            x <= 1.05,
        ));
    }
    for (who, what) in [
        (Aiofs, "metrics on, no recorder installed (the default)"),
        (AiofsTraced, "metrics + every span formatted + audit"),
    ] {
        if let Some(x) = r.ratio(obs, who, obs, AiofsBare) {
            out.push((
                format!("4 KiB `read-file`, {what} / no metrics export"),
                format!("{x:.2}×"),
                "reported".into(),
                true,
            ));
        }
    }
    // Issue 14: small operations one at a time at most as slow as tokio::fs.
    for (key, what) in [
        ("small_read_file", "4 KiB `read-file`"),
        ("small_open_read", "4 KiB open + read + close"),
        ("stat", "`stat`"),
        ("exists", "`exists`"),
    ] {
        if let Some(x) = r.ratio(key, Aiofs, key, Tokio) {
            out.push((
                format!("{what}, one at a time: aiofs time / native `tokio::fs` time"),
                format!("{x:.2}×"),
                "≤ 1.00×".into(),
                x <= 1.0,
            ));
        }
    }
    for (key, what) in [("stat_batch", "`stat`"), ("exists_batch", "`exists`")] {
        if let Some(x) = r.ratio(key, Aiofs, key, Std) {
            out.push((
                format!("{what} of 10k paths through batches: aiofs time / native `std::fs` one at a time"),
                format!("{x:.2}×"),
                "≤ 3×".into(),
                x <= 3.0,
            ));
        }
    }
    for (key, what) in [
        ("small_read_file", "4 KiB whole-file read, one at a time"),
        (
            "small_read_concurrent",
            "4 KiB whole-file reads, 64 in flight",
        ),
        ("stat", "`stat`, one at a time"),
        ("stat_concurrent", "`stat`, 64 in flight"),
    ] {
        if let Some(x) = r.ratio(key, Uring, key, Aiofs) {
            out.push((
                format!(
                    "io_uring, {what}: native io_uring time / aiofs time (< 1: io_uring faster)"
                ),
                format!("{x:.2}×"),
                "reported".into(),
                true,
            ));
        }
    }
    if let Some(x) = r.ratio("big_write", Aiofs, "big_write_stream", Aiofs) {
        out.push((
            "1 GiB write: aiofs `write-via-stream` throughput / 1 MiB `write` calls".into(),
            format!("{x:.2}×"),
            "≥ 1.00×".into(),
            x >= 1.0,
        ));
    }
    if !r.scaling.is_empty() {
        let mut prev: Option<f64> = None;
        for sc in &r.scaling {
            let (threads, aiofs) = (sc.threads, sc.rate(sc.aiofs));
            let x = aiofs / sc.rate(sc.tokio);
            if threads < 2 {
                prev = Some(aiofs);
                continue;
            }
            // "Not falling": within 10% of the rate at the next smaller pool (noise).
            let holds = prev.is_none_or(|p| aiofs >= 0.9 * p);
            prev = Some(aiofs);
            out.push((
                format!("64 × 4 KiB reads in flight, {threads} pool threads: aiofs reads/s / tokio::fs reads/s (and not below 90% of the smaller pool's)"),
                format!("{x:.2}×"),
                "≥ 1.50×".into(),
                x >= 1.5 && holds,
            ));
        }
    }
    // Issue 13: object grants within 1.3× of OpenDAL awaited from host code.
    for row in r.rows.iter().filter(|row| row.object()) {
        if let Some(x) = r.ratio(row.key, Aiofs, row.key, OpenDal) {
            out.push((
                format!(
                    "S3 object grant, {}: aiofs time / native OpenDAL time",
                    row.title
                ),
                format!("{x:.2}×"),
                "≤ 1.30×".into(),
                x <= 1.3,
            ));
        }
    }
    if let Some((_, t, _)) = r.respond.iter().find(|(n, _, _)| n.starts_with("aiofs")) {
        out.push((
            "Responsiveness: event-ticker p99 lateness, 256 slow aiofs operations in flight".into(),
            fmt_time(t.event.p99),
            "< 1 ms".into(),
            t.event.p99 < Duration::from_millis(1),
        ));
    }
    out
}

/// Facts about the machine and the run.
pub fn machine(data_dir: &Path, threads: usize) -> Vec<(String, String)> {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches(" kB").parse::<u64>().ok())
        .map_or("unknown".into(), |kb| {
            format!("{:.1} GiB", kb as f64 / 1048576.0)
        });
    let os = read("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|l| l.trim_matches('"').to_string())
        .unwrap_or_default();
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_string();
    let data = data_dir.to_string_lossy().to_string();
    let fs = read("/proc/mounts")
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() > 2 && data.starts_with(f[1])).then(|| {
                (
                    f[1].len(),
                    format!("{} ({}, mounted at {})", f[2], f[0], f[1]),
                )
            })
        })
        .max()
        .map_or("unknown".into(), |(_, s)| s);
    let rustc = std::process::Command::new("rustc")
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    vec![
        ("date".into(), date),
        ("CPU".into(), format!("{cpu}, {cores} cores available")),
        ("memory".into(), mem),
        ("OS".into(), format!("{os}, Linux {kernel}")),
        (
            "data directory".into(),
            format!("a temporary directory on {fs}"),
        ),
        (
            "toolchain".into(),
            format!("{rustc}; wasmtime and wasmtime-wasi as pinned in Cargo.toml"),
        ),
        (
            "runtime".into(),
            format!("tokio multi-thread, 2 workers; aiofs pool: {threads} threads"),
        ),
    ]
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('`', "")
}

/// An SVG chart: for every row, each contender's time relative to native `std::fs`
/// (log scale), and the ticker's p99 lateness per responsiveness setup.
pub fn chart(r: &Results) -> String {
    let (label_w, plot_w, bar_h) = (360.0, 480.0, 9.0);
    let (lo, hi) = (0.1f64, 100.0f64);
    let x = |v: f64| {
        label_w + (v.clamp(lo, hi).log10() - lo.log10()) / (hi.log10() - lo.log10()) * plot_w
    };
    let rows: Vec<&Row> = r
        .rows
        .iter()
        .filter(|row| r.get(row.base(), Contender::Std).is_some())
        .collect();
    let row_h = bar_h * 3.0 + 8.0;
    let top = 60.0;
    let plot_h = rows.len() as f64 * row_h;
    let resp_top = top + plot_h + 70.0;
    let resp_h = r.respond.len() as f64 * 18.0;
    let height = resp_top + resp_h + 40.0;
    let width = label_w + plot_w + 90.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="18" font-size="14" font-weight="bold">Time relative to native std::fs (log scale, lower is better)</text>"#
    );
    let mut lx = 10.0;
    for c in [Contender::Tokio, Contender::Wasi, Contender::Aiofs] {
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="30" width="10" height="10" fill="{}"/><text x="{}" y="39">{}</text>"#,
            c.color(),
            lx + 14.0,
            esc(c.name())
        );
        lx += 14.0 + c.name().len() as f64 * 6.2 + 16.0;
    }
    for tick in [0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0] {
        let tx = x(tick);
        let stroke = if tick == 1.0 { "#000" } else { "#ddd" };
        let _ = writeln!(
            s,
            r#"<line x1="{tx:.1}" y1="{top}" x2="{tx:.1}" y2="{:.1}" stroke="{stroke}"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle">{tick}×</text>"#,
            top + plot_h,
            top + plot_h + 14.0
        );
    }
    for (i, row) in rows.iter().enumerate() {
        let y0 = top + i as f64 * row_h;
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            label_w - 8.0,
            y0 + row_h / 2.0,
            esc(row.title)
        );
        for (j, c) in [Contender::Tokio, Contender::Wasi, Contender::Aiofs]
            .into_iter()
            .enumerate()
        {
            if let Some(v) = r.ratio(row.key, c, row.base(), Contender::Std) {
                let y = y0 + j as f64 * bar_h;
                let _ = writeln!(
                    s,
                    r#"<rect x="{label_w}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {v:.2}×</title></rect><text x="{:.1}" y="{:.1}" font-size="8">{v:.2}×</text>"#,
                    (x(v) - label_w).max(1.0),
                    bar_h - 1.0,
                    c.color(),
                    esc(c.name()),
                    x(v) + 3.0,
                    y + bar_h - 2.0
                );
            }
        }
    }
    if !r.respond.is_empty() {
        // Log scale from 10 µs to 10 s: the inline host is four orders of magnitude worse.
        let (lo, hi) = (0.01f64, 10_000.0f64);
        let rx =
            |ms: f64| (ms.clamp(lo, hi).log10() - lo.log10()) / (hi.log10() - lo.log10()) * plot_w;
        let _ = writeln!(
            s,
            r#"<text x="10" y="{:.1}" font-size="14" font-weight="bold">1 ms event ticker: p99 lateness (log scale), 256 file operations of 10 ms in flight</text>"#,
            resp_top - 20.0
        );
        for (i, (name, t, _)) in r.respond.iter().enumerate() {
            let y = resp_top + i as f64 * 18.0;
            let ms = t.event.p99.as_secs_f64() * 1e3;
            let w = rx(ms).max(1.0);
            let color = if name.starts_with("aiofs") {
                Contender::Aiofs.color()
            } else {
                "#999"
            };
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect x="{label_w}" y="{y:.1}" width="{w:.1}" height="14" fill="{color}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
                label_w - 8.0,
                y + 11.0,
                esc(name),
                label_w + w + 4.0,
                y + 11.0,
                fmt_time(t.event.p99)
            );
        }
        for (tick, label) in [
            (0.01, "10 µs"),
            (1.0, "1 ms"),
            (100.0, "100 ms"),
            (10_000.0, "10 s"),
        ] {
            let tx = label_w + rx(tick);
            let y = resp_top + resp_h + 12.0;
            let _ = writeln!(
                s,
                r#"<text x="{tx:.1}" y="{y:.1}" text-anchor="middle" font-size="9">{label}</text>"#
            );
        }
    }
    s.push_str("</svg>\n");
    s
}
