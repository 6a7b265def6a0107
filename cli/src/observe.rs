//! What `aiofs run --stats` and `--audit FILE` print: a per-grant summary table and the
//! audit records as JSON lines. Both read the store's own counters and audit channel
//! ([`aiofs_host::obs`]); `main.rs` only wires them to the flags.

use aiofs_host::obs::{Audit, AuditReceiver, GrantStats, StoreStats, fmt_duration};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::thread::JoinHandle;

/// Unread audit records `aiofs run --audit` lets wait before it drops (and counts) more.
pub const AUDIT_CAPACITY: usize = 4096;

/// The summary table of one store: a row per grant (and one for paths under no grant)
/// with operations, failures, refusals, bytes, and p50/p99 queue and run times, each row
/// followed by its operations by kind and its failures by code; then the peak memory held
/// and the audit records dropped (the writer fell behind) and suppressed (past
/// `Limits::max_audit_rate`).
pub fn stats_table(stats: &StoreStats) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "aiofs: stats for {}: {} operations",
        stats.label,
        stats.total_ops()
    );
    let _ = writeln!(
        out,
        "{:<16} {:>8} {:>7} {:>7} {:>10} {:>10} {:>8} {:>8} {:>8} {:>8}",
        "grant",
        "ops",
        "failed",
        "refused",
        "read",
        "written",
        "queue50",
        "queue99",
        "run50",
        "run99"
    );
    for g in &stats.grants {
        let failed: u64 = g.ops.iter().map(|c| c.failed).sum();
        let _ = writeln!(
            out,
            "{:<16} {:>8} {:>7} {:>7} {:>10} {:>10} {:>8} {:>8} {:>8} {:>8}",
            grant_name(g),
            g.total_ops(),
            failed,
            g.refusals(),
            fmt_bytes(g.bytes_read),
            fmt_bytes(g.bytes_written),
            fmt_duration(g.queued.quantile(0.5)),
            fmt_duration(g.queued.quantile(0.99)),
            fmt_duration(g.run.quantile(0.5)),
            fmt_duration(g.run.quantile(0.99)),
        );
        let ops: Vec<String> = g
            .ops
            .iter()
            .map(|c| format!("{} {}", c.op.name(), c.total))
            .collect();
        if !ops.is_empty() {
            let _ = writeln!(out, "  ops: {}", ops.join(", "));
        }
        let errors: Vec<String> = g
            .errors
            .iter()
            .map(|(c, n)| format!("{} {n}", c.name()))
            .collect();
        if !errors.is_empty() {
            let _ = writeln!(out, "  errors: {}", errors.join(", "));
        }
    }
    let _ = writeln!(
        out,
        "peak host memory held {}, audit records dropped {}, suppressed {}",
        fmt_bytes(stats.peak_held_bytes),
        stats.audit_dropped,
        stats.audit_suppressed
    );
    out
}

/// `/data (rw)`, `/assets (ro)`, or `(no grant)`.
fn grant_name(g: &GrantStats) -> String {
    match (&g.guest_path, g.perms) {
        (Some(p), Some(perms)) => {
            let short = if perms.can_write() { "rw" } else { "ro" };
            format!("{p} ({short})")
        }
        _ => "(no grant)".to_owned(),
    }
}

/// Bytes in B, KiB, MiB or GiB with one decimal.
pub fn fmt_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Default cap on the size of `aiofs run --audit FILE` (`--audit-max-bytes`).
pub const AUDIT_MAX_BYTES: u64 = 1 << 30;

/// Bytes of the cap kept for the line that says the file was cut.
const CUT_LINE_ROOM: u64 = 512;

/// What an [`AuditWriter`] did, once finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditTotals {
    /// Records written to the file.
    pub written: u64,
    /// Records the channel dropped because the writer fell behind.
    pub dropped: u64,
    /// Records not written because the file had reached its size cap.
    pub cut: u64,
}

/// A thread writing one store's audit records to a file (or stderr for `-`) as JSON
/// lines, one per record, flushed as they come, up to a size cap: a record that would
/// take the file past it is not written but counted, and when the channel closes one
/// last line `{"op":"audit-cut","outcome":"cut","cut":N,"max_bytes":M,...}` says how many
/// were left out (the cap keeps room for it).
pub struct AuditWriter {
    audit: Audit,
    thread: JoinHandle<std::io::Result<(u64, u64)>>,
}

impl AuditWriter {
    /// Create (truncate) `path` and start writing, at most `max_bytes` bytes (at least
    /// the room of the cut line: a smaller cap writes only that). Returns the [`Audit`] to
    /// give the store ([`AioFsCtxBuilder::audit`](aiofs_host::AioFsCtxBuilder::audit)).
    ///
    /// # Errors
    /// The file cannot be created.
    pub fn create(
        path: &Path,
        mutations: bool,
        max_bytes: u64,
    ) -> std::io::Result<(Audit, AuditWriter)> {
        let (audit, rx) = if mutations {
            Audit::channel_with_mutations(AUDIT_CAPACITY)
        } else {
            Audit::channel(AUDIT_CAPACITY)
        };
        let sink: Box<dyn std::io::Write + Send> = if path == Path::new("-") {
            Box::new(std::io::stderr())
        } else {
            Box::new(std::fs::File::create(path)?)
        };
        let thread = std::thread::Builder::new()
            .name("aiofs-audit".into())
            .spawn(move || write_all(&rx, sink, max_bytes))?;
        Ok((audit.clone(), AuditWriter { audit, thread }))
    }

    /// Close the channel, write what is left, and say what was written, dropped and cut.
    ///
    /// # Errors
    /// Writing the file failed.
    pub fn finish(self) -> std::io::Result<AuditTotals> {
        self.audit.close();
        let (written, cut) = self
            .thread
            .join()
            .map_err(|_| std::io::Error::other("the audit writer panicked"))??;
        Ok(AuditTotals {
            written,
            dropped: self.audit.dropped(),
            cut,
        })
    }
}

/// What `aiofs run --audit` says on stderr at exit about records that are not in the
/// file: dropped (the writer fell behind), cut (the file reached `--audit-max-bytes`), and
/// suppressed by the store's rate limit (`suppressed`: `StoreStats::audit_suppressed`;
/// the file has a summary line for each cut). Nothing when every record was written.
pub fn audit_warnings(totals: &AuditTotals, suppressed: u64) -> Vec<String> {
    let mut out = Vec::new();
    if totals.dropped > 0 {
        out.push(format!(
            "{} audit records dropped ({} written): the writer fell behind",
            totals.dropped, totals.written
        ));
    }
    if totals.cut > 0 {
        out.push(format!(
            "{} audit records not written: the audit file reached --audit-max-bytes",
            totals.cut
        ));
    }
    if suppressed > 0 {
        out.push(format!(
            "{suppressed} audit records suppressed past the rate limit (1000 a second): \
             the file's `suppressed` lines count them"
        ));
    }
    out
}

/// Write every record that fits under `max_bytes` (less the cut line's room); returns the
/// records written and cut.
fn write_all(
    rx: &AuditReceiver,
    mut sink: Box<dyn std::io::Write + Send>,
    max_bytes: u64,
) -> std::io::Result<(u64, u64)> {
    let room = max_bytes.saturating_sub(CUT_LINE_ROOM);
    let (mut size, mut written, mut cut) = (0u64, 0u64, 0u64);
    while let Some(record) = rx.recv() {
        let mut line = record.to_json();
        line.push('\n');
        // Once one record is cut, every later one is (the file is not a sample).
        if cut > 0 || size + line.len() as u64 > room {
            cut += 1;
            continue;
        }
        sink.write_all(line.as_bytes())?;
        sink.flush()?;
        size += line.len() as u64;
        written += 1;
    }
    if cut > 0 {
        let time = std::time::SystemTime::now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        // Numbers only: nothing to escape.
        writeln!(
            sink,
            "{{\"time\":{time},\"op\":\"audit-cut\",\"outcome\":\"cut\",\"cut\":{cut},\"max_bytes\":{max_bytes}}}"
        )?;
        sink.flush()?;
    }
    Ok((written, cut))
}
