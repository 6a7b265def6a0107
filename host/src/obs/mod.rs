//! Observing guests: what every store and grant did, waited for and was refused.
//!
//! One set of counters, kept by the domain layer, feeds everything here. Every guest
//! operation, whichever surface it came through (`aiofs:fs`, `wasi:filesystem` p2/p3,
//! streams), passes once through [`Fs`](crate::fs::Fs)'s op wrapper, which on completion:
//!
//! * counts it in its grant's counters (the same object that holds the grant's quota
//!   usage, so bytes read and written are the quota counters themselves): operations by
//!   kind and result, failures by code, queue-wait and run-time histograms;
//! * emits it through the [`metrics`] facade, labelled `store` and `grant`, when the
//!   embedder installed a recorder (handles are registered once per grant and kind);
//! * closes its `tracing` span (target `aiofs`, level `DEBUG`) with the grant, bytes,
//!   result code and times, and logs refusals as `INFO` events;
//! * sends an [`AuditRecord`] for a refusal (and, if asked, a successful mutation) to the
//!   store's [`Audit`] channel, without ever waiting for its reader.
//!
//! Records and refusal events are rate-limited per store (`Limits::max_audit_rate`, a
//! token bucket of `max_audit_burst`): past the rate they are suppressed and counted
//! ([`StoreStats::audit_suppressed`]), and a summary record and event (op `suppressed`)
//! says how many once the rate allows, or when the store or its channel goes away.
//! Successful-mutation records take tokens from the same bucket: a guest can loop a cheap
//! mutation (`mkdir`/`rmdir` of one name) as well as a refusal, and one bucket keeps one
//! bound on what a store writes to the audit file.
//!
//! [`Fs::stats`](crate::fs::Fs::stats) and [`AioFsCtx::stats`](crate::AioFsCtx::stats)
//! read the same counters as a plain snapshot.

mod audit;
mod counters;
mod op;
mod rate;

pub use audit::{Audit, AuditReceiver, AuditRecord};
pub use counters::HistogramSnapshot;
pub(crate) use counters::{GrantCounters, StoreRecorder};
pub(crate) use op::{Obs, Op, note_budget, note_run};

use crate::error::ErrorCode;
use crate::grant::Perms;
use crate::pool::PoolStats;
use std::time::Duration;

/// What a guest operation was, for counting (the same kind whichever surface it came
/// through: `wasi:filesystem`'s `read-via-stream` chunks count as `read`, `open-at` as
/// `open`, `stat-at` as `stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(
    missing_docs,
    reason = "named after the WIT functions; see OpKind::name"
)]
pub enum OpKind {
    Open,
    Close,
    Read,
    Write,
    Seek,
    Truncate,
    Flush,
    Sync,
    Fstat,
    ReadFile,
    WriteFile,
    Stat,
    Access,
    Exists,
    Listdir,
    Scandir,
    Rename,
    Remove,
    Mkdir,
    Makedirs,
    Rmdir,
    Removedirs,
    Link,
    Symlink,
    Readlink,
    CopyFile,
    RemoveTree,
    Samefile,
    Tempfile,
    Tempdir,
    SetTimes,
}

impl OpKind {
    /// Every kind (`kind as usize` indexes it).
    pub const ALL: [OpKind; 31] = [
        OpKind::Open,
        OpKind::Close,
        OpKind::Read,
        OpKind::Write,
        OpKind::Seek,
        OpKind::Truncate,
        OpKind::Flush,
        OpKind::Sync,
        OpKind::Fstat,
        OpKind::ReadFile,
        OpKind::WriteFile,
        OpKind::Stat,
        OpKind::Access,
        OpKind::Exists,
        OpKind::Listdir,
        OpKind::Scandir,
        OpKind::Rename,
        OpKind::Remove,
        OpKind::Mkdir,
        OpKind::Makedirs,
        OpKind::Rmdir,
        OpKind::Removedirs,
        OpKind::Link,
        OpKind::Symlink,
        OpKind::Readlink,
        OpKind::CopyFile,
        OpKind::RemoveTree,
        OpKind::Samefile,
        OpKind::Tempfile,
        OpKind::Tempdir,
        OpKind::SetTimes,
    ];

    /// The label used in stats, metrics, spans and audit records.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Open => "open",
            OpKind::Close => "close",
            OpKind::Read => "read",
            OpKind::Write => "write",
            OpKind::Seek => "seek",
            OpKind::Truncate => "truncate",
            OpKind::Flush => "flush",
            OpKind::Sync => "sync",
            OpKind::Fstat => "fstat",
            OpKind::ReadFile => "read-file",
            OpKind::WriteFile => "write-file",
            OpKind::Stat => "stat",
            OpKind::Access => "access",
            OpKind::Exists => "exists",
            OpKind::Listdir => "listdir",
            OpKind::Scandir => "scandir",
            OpKind::Rename => "rename",
            OpKind::Remove => "remove",
            OpKind::Mkdir => "mkdir",
            OpKind::Makedirs => "makedirs",
            OpKind::Rmdir => "rmdir",
            OpKind::Removedirs => "removedirs",
            OpKind::Link => "link",
            OpKind::Symlink => "symlink",
            OpKind::Readlink => "readlink",
            OpKind::CopyFile => "copy-file",
            OpKind::RemoveTree => "remove-tree",
            OpKind::Samefile => "samefile",
            OpKind::Tempfile => "tempfile",
            OpKind::Tempdir => "tempdir",
            OpKind::SetTimes => "set-times",
        }
    }

    /// Whether a successful operation of this kind changes the filesystem's names or
    /// whole contents (what [`Audit::channel_with_mutations`] records). Writes through an open
    /// handle are not: the `open` that allowed them is (an open for writing counts as a
    /// mutation).
    pub fn is_mutation(self) -> bool {
        matches!(
            self,
            OpKind::WriteFile
                | OpKind::Truncate
                | OpKind::Rename
                | OpKind::Remove
                | OpKind::Mkdir
                | OpKind::Makedirs
                | OpKind::Rmdir
                | OpKind::Removedirs
                | OpKind::Link
                | OpKind::Symlink
                | OpKind::CopyFile
                | OpKind::RemoveTree
                | OpKind::Tempfile
                | OpKind::Tempdir
                | OpKind::SetTimes
        )
    }
}

/// Counts of one kind of operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpCount {
    /// The kind.
    pub op: OpKind,
    /// Operations that finished (successful or not).
    pub total: u64,
    /// Of those, the ones that failed.
    pub failed: u64,
}

/// A snapshot of one grant's counters (or of the operations that matched no grant).
#[derive(Debug, Clone, PartialEq)]
pub struct GrantStats {
    /// The grant's guest mount path; `None` for operations whose path matched no grant
    /// (refused with `not-permitted` before any grant was involved).
    pub guest_path: Option<String>,
    /// The grant's permission (`None` with `guest_path`).
    pub perms: Option<Perms>,
    /// Operations by kind, only kinds that happened, in [`OpKind::ALL`] order.
    pub ops: Vec<OpCount>,
    /// Failures by code, only codes that happened, in [`ErrorCode::ALL`] order.
    pub errors: Vec<(ErrorCode, u64)>,
    /// Bytes read from the grant (the quota counter, `max_bytes_read`).
    pub bytes_read: u64,
    /// Bytes written into the grant (the quota counter, `max_bytes_written`).
    pub bytes_written: u64,
    /// Time from the start of each operation until its work started on the pool
    /// (admission, waiting for the file, waiting for a thread).
    pub queued: HistogramSnapshot,
    /// Time each operation's work ran on the pool.
    pub run: HistogramSnapshot,
}

impl GrantStats {
    /// All operations, whatever their kind.
    pub fn total_ops(&self) -> u64 {
        self.ops.iter().map(|c| c.total).sum()
    }

    /// Operations of `kind` (total, failed).
    pub fn op(&self, kind: OpKind) -> (u64, u64) {
        self.ops
            .iter()
            .find(|c| c.op == kind)
            .map_or((0, 0), |c| (c.total, c.failed))
    }

    /// Failures with `code`.
    pub fn errors_with(&self, code: ErrorCode) -> u64 {
        self.errors
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(0, |(_, n)| *n)
    }

    /// Failures that were refusals (see [`ErrorCode::refusal`]).
    pub fn refusals(&self) -> u64 {
        self.errors
            .iter()
            .filter(|(c, _)| c.refusal().is_some())
            .map(|(_, n)| n)
            .sum()
    }
}

/// A snapshot of one store: its grants' counters and its gauges.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreStats {
    /// The store's label ([`AioFsCtxBuilder::label`](crate::AioFsCtxBuilder::label)).
    pub label: String,
    /// One entry per grant, in grant order, then one for operations that matched no
    /// grant (only if there were any).
    pub grants: Vec<GrantStats>,
    /// Operations admitted and not finished (`max_pending_ops`).
    pub pending_ops: usize,
    /// Open files, directories, streams and temporary directories (`max_open_files`).
    pub open_handles: usize,
    /// Host memory held for the guest now (`max_inflight_bytes`).
    pub held_bytes: u64,
    /// The most ever held at once.
    pub peak_held_bytes: u64,
    /// The pool this store runs on (shared with other stores, if so configured).
    pub pool: PoolStats,
    /// Audit records dropped because the store's audit channel was full (counted per
    /// channel: a channel shared by several stores reports the same number in each).
    pub audit_dropped: u64,
    /// Operations of this store whose audit record and refusal event were suppressed
    /// because the store went past `Limits::max_audit_rate` (summary records in the audit
    /// channel say how many, as the rate allows).
    pub audit_suppressed: u64,
}

impl StoreStats {
    /// The entry of the grant mounted at `guest_path`.
    pub fn grant(&self, guest_path: &str) -> Option<&GrantStats> {
        self.grants
            .iter()
            .find(|g| g.guest_path.as_deref() == Some(guest_path))
    }

    /// Operations of every grant.
    pub fn total_ops(&self) -> u64 {
        self.grants.iter().map(GrantStats::total_ops).sum()
    }
}

/// A quantile of a duration histogram, for display (`p50`, `p99`).
pub fn fmt_duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0}µs")
    } else if us < 1e6 {
        format!("{:.1}ms", us / 1e3)
    } else {
        format!("{:.2}s", us / 1e6)
    }
}

#[cfg(test)]
mod tests;
