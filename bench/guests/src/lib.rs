//! What the two benchmark guests share: the command line they take and the lines they
//! print, so the host (`aiofs-bench`) can drive both the same way.
//!
//! A guest is run once per (workload, contender) as
//! `GUEST WORKLOAD WARMUP REPS N [IN_FLIGHT]` with the benchmark data granted at
//! [`ROOT`]. It runs the workload `WARMUP` times untimed, then `REPS` times timed with
//! [`std::time::Instant`] (the guest's monotonic clock, read through `wasi:clocks`), and
//! prints one [`report`] line per timed repetition. Only the work itself is inside the
//! timed span: instantiation, argument parsing and preparing input buffers are not.

use std::time::Duration;

/// Where the host mounts the benchmark data in every guest.
pub const ROOT: &str = "/data";
/// Number of 4 KiB files in `small/` (`small/0` .. `small/999`).
pub const SMALL_FILES: usize = 1000;
/// Bytes per `read`/`write` call in the chunked big-file workloads.
pub const CHUNK: usize = 1 << 20;

/// The parsed command line.
#[derive(Debug, Clone)]
pub struct Args {
    /// Workload name.
    pub workload: String,
    /// Untimed repetitions first.
    pub warmup: usize,
    /// Timed repetitions.
    pub reps: usize,
    /// Operations (or bytes, for the big-file workloads) per repetition.
    pub n: usize,
    /// Operations kept in flight, for the concurrent workloads.
    pub in_flight: usize,
}

impl Args {
    /// Parse `std::env::args()`.
    ///
    /// # Errors
    /// A missing or non-numeric argument.
    pub fn from_env() -> Result<Args, String> {
        let args: Vec<String> = std::env::args().collect();
        let num = |i: usize| -> Result<usize, String> {
            args.get(i)
                .ok_or_else(|| format!("missing argument {i}"))?
                .parse()
                .map_err(|e| format!("argument {i}: {e}"))
        };
        Ok(Args {
            workload: args.get(1).cloned().ok_or("missing workload")?,
            warmup: num(2)?,
            reps: num(3)?,
            n: num(4)?,
            in_flight: if args.len() > 5 { num(5)? } else { 1 },
        })
    }
}

/// Print one timed repetition: `rep NANOS CHECK`, where `CHECK` is a count (bytes,
/// lines, entries) the host compares with what it expects.
pub fn report(elapsed: Duration, check: u64) {
    println!("rep {} {check}", elapsed.as_nanos());
}

/// Guest path of the `i`-th small file.
pub fn small(i: usize) -> String {
    format!("{ROOT}/small/{}", i % SMALL_FILES)
}

/// Guest path of the `i`-th entry of the 10k-entry directory.
pub fn many(i: usize) -> String {
    format!("{ROOT}/many/{i}")
}

/// Guest path of a fixed file.
pub fn path(name: &str) -> String {
    format!("{ROOT}/{name}")
}

/// The bytes of every 4 KiB file of `small/` (and of each object the write rows write).
pub fn small_payload() -> Vec<u8> {
    (0..4096).map(|i| (i % 93) as u8 + b' ').collect()
}

/// Guest path of the `i`-th object the write rows write (`w/0` .. `w/999`; object
/// grants only: a local grant has no `w/` directory).
pub fn written(i: usize) -> String {
    format!("{ROOT}/w/{}", i % SMALL_FILES)
}

/// A `CHUNK`-sized buffer of non-zero bytes to write.
pub fn chunk() -> Vec<u8> {
    (0..CHUNK).map(|i| (i % 251) as u8 + 1).collect()
}
