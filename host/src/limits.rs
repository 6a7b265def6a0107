//! Limits the embedder sets on what one store may ask of aiofs.

/// Caps on guest-controlled sizes and counts, per store. Hitting one returns
/// `quota` (or `name-too-long` for paths), never a trap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes one read call returns (`read`, `read-line` pieces, one stream chunk);
    /// also the most `read-all`, `read-lines` and `read-file` return in one call.
    pub max_read_bytes: u64,
    /// Most bytes one write call (`write`, `write-lines`, `write-file`) accepts.
    pub max_write_bytes: u64,
    /// Most handles (files, including temporary ones, streams, listings, temporary
    /// directories) open at once in one store. An open at the limit fails with `quota`,
    /// unless some slots are held by dropped handles whose close is under way: it then
    /// waits for those closes, holding one of `max_pending_ops` while it waits.
    pub max_open_files: usize,
    /// Most operations one store may have queued or running on the pool at once.
    pub max_pending_ops: usize,
    /// Longest guest path accepted, in bytes.
    pub max_path_len: usize,
    /// Most entries `listdir`/`scandir` return; larger directories fail with `quota`.
    pub max_dir_entries: usize,
    /// Most lines one `read-lines` call returns (a larger `max` is clamped).
    pub max_lines_per_call: u32,
    /// Most bytes of host memory held on the guest's behalf at once, per store: write
    /// payloads from the moment the host owns them (also while they wait for a pool thread
    /// or for their file), read results until they are handed over, each open file's
    /// read-ahead buffer, stream chunks in both directions and directory listings. A call
    /// that does not fit fails with `quota` before it waits for anything; a stream waits
    /// for room instead (backpressure), its chunks shrinking down to 4 KiB (or the whole
    /// budget, if that is smaller) as the budget fills.
    pub max_inflight_bytes: u64,
    /// Longest time one operation may run on a pool thread. Long operations (`copy-file`,
    /// `remove-tree`, big reads and writes, directory listings) work in bounded chunks and
    /// stop with `interrupted` at the first chunk boundary past this; `None`: no limit.
    pub max_op_duration: Option<std::time::Duration>,
    /// Most operations one `batch.run` call may carry; a longer list fails with `quota`
    /// as a whole, before anything is queued.
    pub max_batch_items: usize,
    /// Most bytes one `batch.run` call may carry in (its paths plus its `write-file`
    /// payloads; more fails with `quota` as a whole, before anything is queued) and hand
    /// back (its `read-file` results; an item that would go past it fails with `quota`).
    pub max_batch_bytes: u64,
    /// Most bytes a small operation may copy on the caller's thread (the event loop) when
    /// everything it needs is in the kernel's caches, instead of going to the pool (see
    /// `fs::cached`: `read-file`, reads of an open file, `stat`, `exists` and read-only
    /// `open` on local filesystems; names and bytes not cached, or more bytes than this, go
    /// to the pool as usual). `0`: every operation goes to the pool.
    pub max_inline_bytes: u64,
    /// Most audit records and refusal log events one store produces per second, on
    /// average: a token bucket refilled at this rate and holding at most
    /// `max_audit_burst`. Each refusal that would be recorded or logged (and each
    /// successful mutation recorded with `Audit::channel_with_mutations`, and each warning
    /// about a dropped temporary directory that could not be removed) takes one token;
    /// without one its record and event are suppressed and counted
    /// (`StoreStats::audit_suppressed`), and once tokens return one summary record and
    /// event say how many were (see `obs`). Refusals are answered without a pool trip, so
    /// without this a guest could make records as fast as it can call. Operations are
    /// still counted in the stats; only their records and events are cut. `0`: no
    /// refill (at most `max_audit_burst` over the store's life).
    pub max_audit_rate: u32,
    /// Most audit records and refusal events one store produces at once (the bucket's
    /// size; it starts full). `0`: none at all.
    pub max_audit_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_read_bytes: 64 << 20,
            max_write_bytes: 64 << 20,
            max_open_files: 256,
            max_pending_ops: 256,
            max_path_len: 4096,
            max_dir_entries: 100_000,
            max_lines_per_call: 65_536,
            max_inflight_bytes: 128 << 20,
            max_op_duration: Some(std::time::Duration::from_secs(60)),
            max_batch_items: 1024,
            max_batch_bytes: 16 << 20,
            max_inline_bytes: 64 << 10,
            max_audit_rate: 1000,
            max_audit_burst: 1000,
        }
    }
}

/// Budgets of one grant, set by the embedder per grant (unset = unlimited, the default).
///
/// The byte and creation budgets count over the life of the store: removing a file does
/// not give its creation back, and bytes read or written stay spent. Every counter is an
/// atomic taken *before* the work happens (and given back when the work fails or is
/// cancelled unrun), so concurrent operations can never overshoot a budget together.
///
/// | field | counts | when exhausted |
/// |---|---|---|
/// | `max_bytes_written` | bytes successfully written (`write*`, streams, `write-file`, `copy-file`) | `quota`, nothing written |
/// | `max_bytes_read` | bytes delivered by reads (`read*`, streams, `read-file`, `copy-file` source) | reads return at most what is left; `quota` when nothing is, or when an all-or-nothing read (`read-all`, `read-file`) does not fit |
/// | `max_file_size` | the size a write, `truncate`, `write-file` or `copy-file` would give a file | `file-too-large`, nothing written |
/// | `max_created` | files, directories, links and temporaries created | `quota`, nothing created |
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GrantQuota {
    /// Most bytes the guest may write into this grant.
    pub max_bytes_written: Option<u64>,
    /// Most bytes the guest may read from this grant.
    pub max_bytes_read: Option<u64>,
    /// Largest size a guest write may give a file in this grant.
    pub max_file_size: Option<u64>,
    /// Most files, directories and links the guest may create in this grant.
    pub max_created: Option<u64>,
}

impl GrantQuota {
    /// No budget at all (the default).
    pub const UNLIMITED: GrantQuota = GrantQuota {
        max_bytes_written: None,
        max_bytes_read: None,
        max_file_size: None,
        max_created: None,
    };
}

/// What a guest has used of one grant's budgets so far (see [`GrantQuota`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantUsage {
    /// The grant's guest mount path.
    pub guest_path: String,
    /// Bytes written into the grant.
    pub bytes_written: u64,
    /// Bytes read from the grant.
    pub bytes_read: u64,
    /// Files, directories and links created (counted only while `max_created` is set:
    /// telling a created file from an opened one costs an extra system call).
    pub created: u64,
}
