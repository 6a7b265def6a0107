//! The bindings-free domain layer: every aiofs operation as an async method on [`Fs`].
//!
//! Shape of every method: resolve the guest path(s) against the grants, check the grant's
//! permission (`read-only` before anything is queued), then make exactly one trip to the
//! pool through `Fs::blocking`, which is the single choke point for blocking work and
//! enforces the per-store `max_pending_ops` cap.

mod at;
pub mod batch;
mod file;
#[cfg(test)]
mod governance_tests;
mod growth;
pub(crate) mod held;
mod meta;
mod mode;
#[cfg(test)]
mod obs_tests;
#[cfg(test)]
mod quota_tests;
mod temp;
#[cfg(test)]
mod tests;

pub use at::{Directory, OpenRequest, Opened, SetTime};
pub use file::File;
pub use mode::OpenMode;
pub use temp::TempDir;

use crate::error::{ErrorCode, FsResult};
use crate::grant::{Grant, Grants, Perms, Resolved};
use crate::limits::GrantQuota;
use crate::limits::{GrantUsage, Limits};
use crate::obs::{Audit, GrantStats, Obs, Op, OpKind, StoreStats};
use crate::pool::{Pool, Tenant};
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};
use held::{HeapSize, Held, MemBudget};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Kind of filesystem object (mirrors WIT `file-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs, reason = "mirrors wit/aiofs.wit")]
pub enum FileType {
    Unknown,
    RegularFile,
    Directory,
    SymbolicLink,
    BlockDevice,
    CharacterDevice,
    Fifo,
    Socket,
}

/// Seconds and nanoseconds since the Unix epoch (mirrors WIT `timestamp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    /// Whole seconds, negative before 1970.
    pub seconds: i64,
    /// Nanoseconds within the second.
    pub nanoseconds: u32,
}

/// File metadata (mirrors WIT `stat-result`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs, reason = "mirrors wit/aiofs.wit")]
pub struct Stat {
    pub file_type: FileType,
    pub size: u64,
    pub mode: u32,
    pub link_count: u64,
    pub inode: u64,
    pub device: u64,
    pub accessed: Option<Timestamp>,
    pub modified: Option<Timestamp>,
    pub changed: Option<Timestamp>,
    pub created: Option<Timestamp>,
}

/// One `scandir` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// Entry name.
    pub name: String,
    /// Type without following symlinks.
    pub file_type: FileType,
    /// Metadata following symlinks, when asked for and available.
    pub stat: Option<Stat>,
    /// Inode number as the listing reports it (no extra system call; like `d_ino`, the
    /// underlying directory's for a mount point).
    pub inode: u64,
}

/// `os.access` checks; all false means "exists".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs, reason = "mirrors wit/aiofs.wit")]
pub struct AccessMode {
    pub read: bool,
    pub write: bool,
    pub execute: bool,
}

/// Where `seek` measures from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs, reason = "mirrors wit/aiofs.wit")]
pub enum Whence {
    Start,
    Current,
    End,
}

/// Placement and naming of temporary objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TempOptions {
    /// Guest directory; default: root of the first writable grant.
    pub dir: Option<String>,
    /// Name prefix; default `tmp`.
    pub prefix: Option<String>,
    /// Name suffix; default empty.
    pub suffix: Option<String>,
}

/// Per-store counters shared by every handle of the store.
#[derive(Debug)]
pub(crate) struct StoreCounters {
    /// Operations queued or running on the pool, or waiting for their file.
    pub(crate) pending_ops: AtomicUsize,
    /// Files, streams and temporary directories open now.
    pub(crate) open_files: AtomicUsize,
    /// Host memory held on the guest's behalf (`limits.max_inflight_bytes`).
    pub(crate) mem: Arc<MemBudget>,
    /// Writes in flight per file, so `max_file_size` holds under concurrent writers.
    pub(crate) growth: growth::Growth,
    /// Label, audit channel, metrics switch, and counters of paths under no grant.
    pub(crate) obs: Obs,
}

/// Take one unit of `counter` unless it is at `max` already.
fn reserve(counter: &AtomicUsize, max: usize) -> FsResult<()> {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .map(drop)
        .map_err(|_| ErrorCode::Quota)
}

/// A reserved open-file slot of one store (`limits.max_open_files`); released on drop.
/// Owned by the [`File`] it was reserved for, so it is released when the file closes.
#[derive(Debug)]
pub(crate) struct OpenSlot {
    counters: Arc<StoreCounters>,
}

impl Drop for OpenSlot {
    fn drop(&mut self) {
        self.counters.open_files.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A reserved pending-operation slot (`limits.max_pending_ops`); released on drop. Taken
/// before an operation waits for anything (its file, a pool thread).
pub(crate) struct PendingSlot<'a> {
    counters: &'a StoreCounters,
}

impl Drop for PendingSlot<'_> {
    fn drop(&mut self) {
        self.counters.pending_ops.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One store's view of the filesystem: its grants, limits, pool and counters.
/// Cheap to clone; every clone shares the counters.
#[derive(Debug, Clone)]
pub struct Fs {
    pub(crate) grants: Arc<Grants>,
    pub(crate) limits: Arc<Limits>,
    pub(crate) pool: Pool,
    pub(crate) counters: Arc<StoreCounters>,
    /// This store's queue on the pool, its time limit and its cancellation.
    pub(crate) tenant: Tenant,
}

/// True when `rel` names the grant root itself (`.`, `./.`).
fn is_root(rel: &Path) -> bool {
    rel.components().all(|c| c == Component::CurDir)
}

/// Refuse to remove or rename a grant root: it is the mount point.
fn not_root(r: &Resolved) -> FsResult<()> {
    if is_root(&r.rel) {
        Err(ErrorCode::Busy)
    } else {
        Ok(())
    }
}

/// `cross-device` when two paths are in different grants. Grants are like mounts: a
/// rename or hard link between them would carry data past the other grant's budgets
/// uncounted (`copy-file` counts it), so it is refused as `EXDEV` is.
///
/// Compared by budget, which each grant has exactly one of: a directory opened beneath a
/// grant (`Fs::open_at`) is a grant of its own for path resolution but shares the budget,
/// so it is the same grant here.
pub(super) fn same_grant(a: &Resolved, b: &Resolved) -> FsResult<()> {
    if Arc::ptr_eq(&a.budget, &b.budget) {
        Ok(())
    } else {
        Err(ErrorCode::CrossDevice)
    }
}

/// Whether `rel` was written with a trailing slash (which demands a directory).
fn has_trailing_slash(rel: &Path) -> bool {
    rel.as_os_str().as_encoded_bytes().ends_with(b"/")
}

/// The parents of `rel` that may be pruned, innermost first: only plain names, never the
/// grant root and never a path that goes through `..`.
fn prunable_parents(rel: &Path) -> Vec<PathBuf> {
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut p = rel.to_path_buf();
    while p.pop() && !is_root(&p) && !p.as_os_str().is_empty() {
        out.push(p.clone());
    }
    out
}

/// Remove each directory in `dirs` in order, stopping at the first that cannot be removed
/// (not empty, missing, ...). Errors are not reported, as in Python's `removedirs`.
fn prune(dir: &Dir, dirs: &[PathBuf]) {
    for d in dirs {
        if dir.remove_dir(d).is_err() {
            break;
        }
    }
}

/// A directory entry's name as UTF-8 (`illegal-byte-sequence` otherwise).
fn utf8_name(name: std::ffi::OsString) -> FsResult<String> {
    name.into_string()
        .map_err(|_| ErrorCode::IllegalByteSequence)
}

/// Read everything from `src` into a new vector, failing once more than `limit` bytes
/// arrive (the file grew past the limit while being read); `too_big` is the error then.
fn read_limited(
    src: impl Read,
    expected: u64,
    limit: u64,
    too_big: ErrorCode,
) -> FsResult<Vec<u8>> {
    let mut out = Vec::new();
    out.try_reserve_exact(usize::try_from(expected.min(limit)).unwrap_or(usize::MAX))
        .map_err(|_| ErrorCode::InsufficientMemory)?;
    src.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(too_big);
    }
    Ok(out)
}

/// Deepest tree `remove_tree_chunked` descends: it holds two descriptors per level, and a
/// guest can build trees of any depth (opening directories relative to deep ones), so the
/// host's descriptors are not the guest's to exhaust.
const MAX_TREE_DEPTH: usize = 64;

/// Remove the directory `rel` and everything beneath it, one entry at a time with a
/// [`checkpoint`](crate::pool::checkpoint) every [`LISTING_CHUNK`] entries, so a huge tree
/// can be stopped (`interrupted`; what was removed stays removed). Symlinks are removed,
/// never followed. Holds two descriptors per directory level being emptied; a tree deeper
/// than [`MAX_TREE_DEPTH`] fails with `quota` once its deepest reachable levels are gone
/// (remove the deep part first).
pub(crate) fn remove_tree_chunked(root: &Dir, rel: &Path) -> FsResult<()> {
    use cap_fs_ext::DirExt;
    let top = root.open_dir_nofollow(rel)?;
    let entries = top.entries()?;
    // (directory, its listing, its name in its parent)
    let mut stack = vec![(top, entries, None::<std::ffi::OsString>)];
    let mut work = 0usize;
    while !stack.is_empty() {
        let depth = stack.len();
        let (dir, entries, _) = stack.last_mut().expect("not empty");
        work += 1;
        if work.is_multiple_of(LISTING_CHUNK) {
            crate::pool::checkpoint()?;
        }
        match entries.next() {
            Some(entry) => {
                let entry = entry?;
                let name = entry.file_name();
                if entry.file_type()?.is_dir() {
                    if depth >= MAX_TREE_DEPTH {
                        return Err(ErrorCode::Quota);
                    }
                    let child = dir.open_dir_nofollow(&name)?;
                    let listing = child.entries()?;
                    stack.push((child, listing, Some(name)));
                } else {
                    dir.remove_file(&name)?;
                }
            }
            None => {
                let (_, _, name) = stack.pop().expect("not empty");
                match (name, stack.last()) {
                    (Some(name), Some((parent, _, _))) => parent.remove_dir(&name)?,
                    _ => root.remove_dir(rel)?,
                }
            }
        }
    }
    Ok(())
}

/// Whether opening may create the file (and so count against the grant's `max_created`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Create {
    /// Never creates.
    No,
    /// Creates the file if it is missing (`O_CREAT`).
    IfMissing,
    /// Always creates (`O_CREAT | O_EXCL`).
    New,
}

/// Open `r` with `opts`, counting a file it creates against the grant's `max_created`.
///
/// Only while that budget is set are creations told apart from opens of existing files:
/// that costs a first try without `O_CREAT`, then an exclusive create.
fn open_counted(r: &Resolved, opts: &OpenOptions, create: Create) -> FsResult<cap_std::fs::File> {
    let dir = &r.grant.dir;
    let open = |o: &OpenOptions| dir.open_with(&r.rel, o).map_err(open_error);
    match create {
        Create::No => open(opts),
        Create::IfMissing if !r.budget.limits_creates() => open(opts),
        Create::New => {
            let lease = r.budget.create(1)?;
            let file = open(opts)?;
            lease.keep();
            Ok(file)
        }
        Create::IfMissing => {
            match open(opts.clone().create(false)) {
                Err(ErrorCode::NoEntry) => {}
                other => return other,
            }
            let lease = r.budget.create(1)?;
            let file = match open(opts.clone().create_new(true)) {
                // Created meanwhile by someone else, or a symlink to a missing file
                // (`O_EXCL` never follows one): open as asked; it counts as a creation.
                Err(ErrorCode::Exist) => open(opts)?,
                other => other?,
            };
            lease.keep();
            Ok(file)
        }
    }
}

/// An error from opening a file. `ENXIO` is what a FIFO without a reader (opened
/// non-blocking for writing) or a device without a driver gives: not a regular file.
fn open_error(e: std::io::Error) -> ErrorCode {
    if e.raw_os_error() == Some(libc::ENXIO) {
        ErrorCode::Unsupported
    } else {
        e.into()
    }
}

/// Only regular files are served: a directory fails with `is-directory`, anything else
/// (FIFO, socket, device) with `unsupported`, so that no pool thread can block forever on
/// one. Opens are non-blocking for the same reason (a FIFO would block in `open` itself).
fn regular(file: cap_std::fs::File) -> FsResult<std::fs::File> {
    let md = file.metadata()?;
    if md.is_dir() {
        return Err(ErrorCode::IsDirectory);
    }
    if !md.is_file() {
        return Err(ErrorCode::Unsupported);
    }
    Ok(file.into_std())
}

/// Plain non-blocking read-only open options.
fn read_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.read(true);
    o.custom_flags(libc::O_NONBLOCK);
    o
}

/// `create_dir_all(rel)`, counting the directories it creates against `max_created`.
/// Under that budget each directory is created on its own, paying one creation first and
/// getting it back if the directory turned out to exist: exact under any concurrency (a
/// directory removed and created again by a racing call is paid for again).
fn create_dirs_counted(r: &Resolved, rel: &Path) -> FsResult<()> {
    let dir = &r.grant.dir;
    if !r.budget.limits_creates() {
        return Ok(dir.create_dir_all(rel)?);
    }
    let mut prefix = PathBuf::new();
    for comp in rel.components() {
        prefix.push(comp);
        if !matches!(comp, Component::Normal(_)) {
            // `..` must lead somewhere that exists, inside the grant (cap-std decides).
            if !dir.metadata(&prefix)?.is_dir() {
                return Err(ErrorCode::NotDirectory);
            }
            continue;
        }
        let lease = r.budget.create(1)?;
        match dir.create_dir(&prefix) {
            Ok(()) => lease.keep(),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                drop(lease);
                if !dir.metadata(&prefix)?.is_dir() {
                    return Err(ErrorCode::NotDirectory);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Directory entries read between two checkpoints of a listing.
const LISTING_CHUNK: usize = 1024;

/// Characters of the random part of temporary names (as Python's `tempfile`).
const TEMP_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_";
/// Longest part of the target's name kept in an atomic write's temporary name.
const TEMP_STEM_MAX: usize = 200;
/// Attempts at finding an unused temporary name before giving up with `exist`.
const TEMP_ATTEMPTS: usize = 100;

/// A random name `prefix` + 8 characters + `suffix`.
fn temp_name(prefix: &str, suffix: &str) -> String {
    let mut name = String::with_capacity(prefix.len() + 8 + suffix.len());
    name.push_str(prefix);
    for _ in 0..8 {
        name.push(TEMP_CHARS[fastrand::usize(..TEMP_CHARS.len())] as char);
    }
    name.push_str(suffix);
    name
}

/// Try `create(name)` with fresh random names until one does not exist yet.
fn with_temp_name<T>(
    prefix: &str,
    suffix: &str,
    mut create: impl FnMut(&str) -> std::io::Result<T>,
) -> FsResult<(String, T)> {
    for _ in 0..TEMP_ATTEMPTS {
        let name = temp_name(prefix, suffix);
        match create(&name) {
            Ok(v) => return Ok((name, v)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ErrorCode::Exist)
}

/// The guest path of `name` inside the resolved directory `r` (for `file.name` and
/// `temp-dir.path`): the mount, then the relative part, then the name.
fn guest_join(r: &Resolved, name: &str) -> String {
    let mut out = r.grant.guest_path.clone();
    let mut push = |comp: &str| {
        if !out.ends_with('/') {
            out.push('/');
        }
        out.push_str(comp);
    };
    if !is_root(&r.rel) {
        push(r.rel.to_string_lossy().trim_end_matches('/'));
    }
    push(name);
    out
}

/// Where and how to create a temporary object: resolved, writable directory and name parts.
struct TempPlace {
    at: Resolved,
    prefix: String,
    suffix: String,
}

#[allow(
    missing_docs,
    reason = "each method is documented in wit/aiofs.wit under the same name"
)]
impl Fs {
    /// Build from parts, labelled `store-N`, exporting metrics, without audit.
    pub fn new(grants: Grants, limits: Limits, pool: Pool) -> Fs {
        Fs::build(grants, limits, pool, None, None, true)
    }

    /// Build from parts with observation settings (see [`crate::AioFsCtxBuilder`]).
    pub(crate) fn build(
        grants: Grants,
        limits: Limits,
        pool: Pool,
        label: Option<String>,
        audit: Option<Audit>,
        metrics: bool,
    ) -> Fs {
        static STORES: AtomicUsize = AtomicUsize::new(0);
        let label: Arc<str> = match label {
            Some(l) => l.into(),
            None => format!("store-{}", STORES.fetch_add(1, Ordering::Relaxed) + 1).into(),
        };
        for (grant, budget) in grants.iter_with_budgets() {
            budget.counters().bind(&label, &grant.guest_path, metrics);
        }
        Fs {
            grants: Arc::new(grants),
            tenant: Tenant::new(limits.max_op_duration),
            counters: Arc::new(StoreCounters {
                pending_ops: AtomicUsize::new(0),
                open_files: AtomicUsize::new(0),
                mem: MemBudget::new(limits.max_inflight_bytes),
                growth: growth::Growth::default(),
                obs: Obs::new(label, audit, metrics),
            }),
            limits: Arc::new(limits),
            pool,
        }
    }

    /// This store's label.
    pub fn label(&self) -> &str {
        &self.counters.obs.label
    }

    /// Observation settings and store-level counters.
    pub(crate) fn obs(&self) -> &Obs {
        &self.counters.obs
    }

    /// One guest operation of `kind` on `path`: wrap its body with `.run(async { .. })`
    /// (see [`crate::obs`]). Every public operation of the domain layer goes through this
    /// once, whichever surface called it.
    pub(crate) fn op<'a>(&'a self, kind: OpKind, path: &'a str) -> Op<'a> {
        Op {
            fs: self,
            kind,
            path,
            target: None,
            budget: None,
            bytes: None,
            mutation: false,
        }
    }

    /// `path` as an absolute guest path, for records: a relative one is shown under the
    /// first grant, where it resolves (for a directory's view, the directory).
    pub(crate) fn guest_display(&self, path: &str) -> String {
        if path.starts_with('/') {
            return path.to_owned();
        }
        match self.grants.iter().next() {
            Some(g) if g.guest_path == "/" => format!("/{path}"),
            Some(g) if path.is_empty() || path == "." => g.guest_path.clone(),
            Some(g) => format!("{}/{path}", g.guest_path),
            None => path.to_owned(),
        }
    }

    /// What this store did so far, per grant, and its gauges now.
    pub fn stats(&self) -> StoreStats {
        let mut grants: Vec<GrantStats> = self
            .grants
            .iter_with_budgets()
            .map(|(g, b)| {
                let usage = b.usage(&g.guest_path);
                let mut s = b.counters().snapshot(Some(g.guest_path.clone()));
                s.perms = Some(g.perms);
                s.bytes_read = usage.bytes_read;
                s.bytes_written = usage.bytes_written;
                s
            })
            .collect();
        let outside = self.counters.obs.outside.snapshot(None);
        if !outside.ops.is_empty() {
            grants.push(outside);
        }
        StoreStats {
            label: self.label().to_owned(),
            grants,
            pending_ops: self.pending_ops(),
            open_handles: self.open_files(),
            held_bytes: self.held_bytes(),
            peak_held_bytes: self.peak_held_bytes(),
            pool: self.pool.stats(),
            audit_dropped: self.counters.obs.audit.as_ref().map_or(0, Audit::dropped),
        }
    }

    /// This store's tenant on the pool ([`Tenant::cancel`] stops its running jobs at
    /// their next chunk; [`AioFsCtx`](crate::AioFsCtx) does that when it is dropped).
    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    /// Host memory held on the guest's behalf now, in bytes (see
    /// [`Limits::max_inflight_bytes`]).
    pub fn held_bytes(&self) -> u64 {
        self.counters.mem.used()
    }

    /// The most host memory ever held on the guest's behalf at once, in bytes.
    pub fn peak_held_bytes(&self) -> u64 {
        self.counters.mem.peak()
    }

    /// Charge `n` bytes to the store's memory budget (`quota` if they do not fit).
    pub(crate) fn charge(&self, n: u64) -> FsResult<Held> {
        self.counters.mem.charge(n)
    }

    /// The store's memory budget.
    pub(crate) fn mem(&self) -> &Arc<MemBudget> {
        &self.counters.mem
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The pool this store uses.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Mount points and permissions, in order.
    pub fn grant_list(&self) -> Vec<(String, Perms)> {
        self.grants
            .iter()
            .map(|g| (g.guest_path.clone(), g.perms))
            .collect()
    }

    /// Operations of this store queued or running on the pool now.
    pub fn pending_ops(&self) -> usize {
        self.counters.pending_ops.load(Ordering::Acquire)
    }

    /// Files (and temporary directories) of this store open now.
    pub fn open_files(&self) -> usize {
        self.counters.open_files.load(Ordering::Acquire)
    }

    /// What the guest has used of each grant's budgets, in grant order.
    pub fn grant_usage(&self) -> Vec<GrantUsage> {
        self.grants
            .iter_with_budgets()
            .map(|(g, b)| b.usage(&g.guest_path))
            .collect()
    }

    /// Reserve an open-file slot (`quota` at `limits.max_open_files`); the returned guard
    /// releases it when dropped, so it belongs to the [`File`] it was taken for.
    pub(crate) fn reserve_open_slot(&self) -> FsResult<OpenSlot> {
        reserve(&self.counters.open_files, self.limits.max_open_files)?;
        Ok(OpenSlot {
            counters: self.counters.clone(),
        })
    }

    /// THE choke point: take a pending-op slot (`quota` if none, before anything is
    /// queued), run `f` on the pool, release the slot when the future completes or is
    /// dropped. A dropped future's job is skipped if still queued; if it already started
    /// it runs to the end, but its slot is free again at once (the pool's thread count
    /// bounds such stragglers).
    pub(crate) async fn blocking<T, F>(&self, f: F) -> FsResult<T>
    where
        T: Send + 'static,
        F: FnOnce() -> FsResult<T> + Send + 'static,
    {
        let slot = self.admit()?;
        self.blocking_admitted(slot, f).await
    }

    /// Take a pending-operation slot (`quota` at `limits.max_pending_ops`). Operations on
    /// a file take it before they wait for the file, so that waiting counts too.
    pub(crate) fn admit(&self) -> FsResult<PendingSlot<'_>> {
        reserve(&self.counters.pending_ops, self.limits.max_pending_ops)?;
        Ok(PendingSlot {
            counters: &self.counters,
        })
    }

    /// [`blocking`](Fs::blocking) with a slot already taken by [`admit`](Fs::admit).
    pub(crate) async fn blocking_admitted<T, F>(&self, slot: PendingSlot<'_>, f: F) -> FsResult<T>
    where
        T: Send + 'static,
        F: FnOnce() -> FsResult<T> + Send + 'static,
    {
        if !crate::obs::in_op() {
            let out = self.pool.run_for(&self.tenant, f).await;
            drop(slot);
            return out?;
        }
        let out = self
            .pool
            .run_for(&self.tenant, move || {
                let start = std::time::Instant::now();
                let out = f();
                (out, start.elapsed())
            })
            .await;
        drop(slot);
        let (out, ran) = out?;
        crate::obs::note_run(ran);
        out
    }

    /// [`blocking`](Fs::blocking) for an operation whose result is held in host memory
    /// until it is handed over: `f` charges it as it builds it, and the charge is given
    /// back when this returns (the glue hands the result to the guest right away).
    pub(crate) async fn blocking_held<T, F>(&self, f: F) -> FsResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Held) -> FsResult<T> + Send + 'static,
    {
        Ok(self.blocking_charged(f).await?.0)
    }

    /// [`blocking_held`](Fs::blocking_held), handing the charge back with the result, for
    /// a caller that keeps the result (a directory stream handing out its entries).
    pub(crate) async fn blocking_charged<T, F>(&self, f: F) -> FsResult<(T, Held)>
    where
        T: Send + 'static,
        F: FnOnce(&mut Held) -> FsResult<T> + Send + 'static,
    {
        let mut held = self.mem().empty();
        self.blocking(move || {
            let out = f(&mut held)?;
            Ok((out, held))
        })
        .await
    }

    /// Queue `f` on the pool in this store's turn, without waiting (closes, removals).
    pub(crate) fn spawn_detached(&self, f: impl FnOnce() + Send + 'static) {
        self.pool.spawn_detached_for(&self.tenant, f);
    }

    /// Resolve a guest path under this store's grants and path-length limit.
    fn resolve(&self, path: &str) -> FsResult<Resolved> {
        let r = self.grants.resolve(path, self.limits.max_path_len)?;
        crate::obs::note_budget(&r.budget);
        Ok(r)
    }

    /// Resolve a guest path that is about to be written: `read-only` under a read-only grant.
    fn resolve_rw(&self, path: &str) -> FsResult<Resolved> {
        let r = self.resolve(path)?;
        if !r.grant.perms.can_write() {
            return Err(ErrorCode::ReadOnly);
        }
        Ok(r)
    }

    pub async fn open(&self, path: String, mode: &str) -> FsResult<File> {
        let name = path.clone();
        let parsed = OpenMode::parse(mode);
        let writes = parsed.as_ref().is_ok_and(|m| m.write);
        self.op(OpKind::Open, &name)
            .mutation(writes)
            .run(self.open_parsed(path, parsed))
            .await
    }

    async fn open_parsed(&self, path: String, mode: FsResult<OpenMode>) -> FsResult<File> {
        let mode = mode?;
        let r = if mode.write {
            self.resolve_rw(&path)?
        } else {
            self.resolve(&path)?
        };
        let create = if mode.exclusive {
            r.budget.precheck_create()?;
            Create::New
        } else if mode.create {
            Create::IfMissing
        } else {
            Create::No
        };
        let slot = self.reserve_open_slot()?;
        let fs = self.clone();
        self.blocking(move || {
            let file = regular(open_counted(&r, &open_options(&mode), create)?)?;
            let budget = r.budget.clone();
            Ok(File::new_in(&fs, budget, file, path, mode, slot, None))
        })
        .await
    }

    pub async fn read_file(&self, path: String, max: u64) -> FsResult<Vec<u8>> {
        self.op(OpKind::ReadFile, &path)
            .run(async {
                let r = self.resolve(&path)?;
                r.budget.precheck_read()?;
                let quota = self.limits.max_read_bytes;
                self.blocking_held(move |held| {
                    let file = regular(open_counted(&r, &read_options(), Create::No)?)?;
                    let md = file.metadata()?;
                    let (limit, too_big) = if max <= quota {
                        (max, ErrorCode::FileTooLarge)
                    } else {
                        (quota, ErrorCode::Quota)
                    };
                    if md.len() > max {
                        return Err(ErrorCode::FileTooLarge);
                    }
                    if md.len() > quota {
                        return Err(ErrorCode::Quota);
                    }
                    let lease = r.budget.read_exact(md.len())?;
                    held.grow(md.len())?;
                    let data = read_limited(file, md.len(), limit, too_big)?;
                    lease.settle(data.len() as u64);
                    held.settle(data.len() as u64);
                    Ok(data)
                })
                .await
            })
            .await
    }

    pub async fn write_file(&self, path: String, data: Vec<u8>, atomic: bool) -> FsResult<()> {
        self.op(OpKind::WriteFile, &path)
            .bytes(data.len() as u64)
            .run(async {
                if data.len() as u64 > self.limits.max_write_bytes {
                    return Err(ErrorCode::Quota);
                }
                let r = self.resolve_rw(&path)?;
                if is_root(&r.rel) || has_trailing_slash(&r.rel) {
                    return Err(ErrorCode::IsDirectory);
                }
                let len = data.len() as u64;
                r.budget.precheck_write(len)?;
                // The payload is the guest's from here on: charged before it waits for anything.
                let payload = self.charge(len)?;
                let counters = self.counters.clone();
                self.blocking(move || {
                    let _payload = payload;
                    let dir = &r.grant.dir;
                    let paid = r.budget.write(len)?;
                    if !atomic {
                        let mut file =
                            regular(open_counted(&r, &write_options(), Create::IfMissing)?)?;
                        let _growth = reserve_growth(&counters, &r, &file, len)?;
                        write_chunked(&mut file, &data)?;
                        paid.keep();
                        return Ok(());
                    }
                    let name = r.rel.file_name().ok_or(ErrorCode::IsDirectory)?;
                    let parent = r.rel.parent().unwrap_or(Path::new(""));
                    // Everything happens in one opened parent directory: if the directory is
                    // renamed meanwhile, the temporary file is still renamed over the target
                    // beside it, or removed, and never left behind.
                    let opened;
                    let parent_dir = if parent.as_os_str().is_empty() {
                        &**dir
                    } else {
                        opened = dir.open_dir(parent)?;
                        &opened
                    };
                    // The rename creates the target if it is missing.
                    let created = if r.budget.limits_creates()
                        && parent_dir.symlink_metadata(name).is_err()
                    {
                        Some(r.budget.create(1)?)
                    } else {
                        None
                    };
                    // `.name.XXXXXXXX.tmp`, the name cut so the whole stays a valid file name.
                    let stem = name.to_string_lossy();
                    let prefix = format!(".{}.", &stem[..stem.floor_char_boundary(TEMP_STEM_MAX)]);
                    let (tmp, mut file) = with_temp_name(&prefix, ".tmp", |n| {
                        parent_dir.open_with(n, OpenOptions::new().write(true).create_new(true))
                    })?;
                    let written =
                        write_chunked(&mut file, &data).and_then(|()| Ok(file.sync_all()?));
                    drop(file);
                    if let Err(e) =
                        written.and_then(|()| Ok(parent_dir.rename(&tmp, parent_dir, name)?))
                    {
                        let _ = parent_dir.remove_file(&tmp);
                        return Err(e);
                    }
                    paid.keep();
                    if let Some(created) = created {
                        created.keep();
                    }
                    Ok(())
                })
                .await
            })
            .await
    }

    pub async fn stat(&self, path: String, follow_symlinks: bool) -> FsResult<Stat> {
        self.op(OpKind::Stat, &path)
            .run(async {
                let r = self.resolve(&path)?;
                self.blocking(move || {
                    let md = if follow_symlinks {
                        r.grant.dir.metadata(&r.rel)?
                    } else {
                        r.grant.dir.symlink_metadata(&r.rel)?
                    };
                    Ok(meta::stat(&md))
                })
                .await
            })
            .await
    }

    pub async fn access(&self, path: String, mode: AccessMode) -> FsResult<bool> {
        self.op(OpKind::Access, &path)
            .run(async {
                use cap_fs_ext::{AccessType, DirExt};
                use cap_primitives::fs::AccessModes;
                let r = self.resolve(&path)?;
                if mode.write && !r.grant.perms.can_write() {
                    return Ok(false);
                }
                self.blocking(move || {
                    let ty = if mode.read || mode.write || mode.execute {
                        AccessType::Access(AccessModes {
                            readable: mode.read,
                            writable: mode.write,
                            executable: mode.execute,
                        })
                    } else {
                        AccessType::Exists
                    };
                    match r.grant.dir.access(&r.rel, ty) {
                        Ok(()) => Ok(true),
                        Err(e) => match ErrorCode::from(e) {
                            // Outside every grant is an error, not "no access".
                            ErrorCode::NotPermitted => Err(ErrorCode::NotPermitted),
                            _ => Ok(false),
                        },
                    }
                })
                .await
            })
            .await
    }

    pub async fn listdir(&self, path: String) -> FsResult<Vec<String>> {
        self.op(OpKind::Listdir, &path)
            .run(async {
                let r = self.resolve(&path)?;
                let max = self.limits.max_dir_entries;
                self.blocking_held(move |held| {
                    let mut names: Vec<String> = Vec::new();
                    for entry in r.grant.dir.read_dir(&r.rel)? {
                        if names.len() == max {
                            return Err(ErrorCode::Quota);
                        }
                        if names.len().is_multiple_of(LISTING_CHUNK) {
                            crate::pool::checkpoint()?;
                        }
                        let name = utf8_name(entry?.file_name())?;
                        held.grow(name.heap_size() + size_of::<String>() as u64)?;
                        names.push(name);
                    }
                    Ok(names)
                })
                .await
            })
            .await
    }

    pub async fn scandir(&self, path: String, with_stat: bool) -> FsResult<Vec<DirEntry>> {
        Ok(self.scandir_held(path, with_stat).await?.0)
    }

    /// [`scandir`](Fs::scandir), handing back the listing's charge to the memory budget
    /// with it, for a caller that keeps the listing.
    pub(crate) async fn scandir_held(
        &self,
        path: String,
        with_stat: bool,
    ) -> FsResult<(Vec<DirEntry>, Held)> {
        self.op(OpKind::Scandir, &path)
            .run(async {
                let r = self.resolve(&path)?;
                let max = self.limits.max_dir_entries;
                self.blocking_charged(move |held| {
                    let dir = &r.grant.dir;
                    let mut out = Vec::new();
                    for entry in dir.read_dir(&r.rel)? {
                        if out.len() == max {
                            return Err(ErrorCode::Quota);
                        }
                        if out.len().is_multiple_of(LISTING_CHUNK) {
                            crate::pool::checkpoint()?;
                        }
                        let entry = entry?;
                        let name = utf8_name(entry.file_name())?;
                        held.grow(name.heap_size() + size_of::<DirEntry>() as u64)?;
                        let file_type = meta::file_type(entry.file_type()?);
                        let inode = std::os::unix::fs::DirEntryExt::ino(&entry);
                        // Following symlinks from the grant root, so a link to a sibling directory
                        // works and a link out of the grant yields no stat.
                        let stat = if with_stat {
                            dir.metadata(r.rel.join(&name))
                                .ok()
                                .map(|md| meta::stat(&md))
                        } else {
                            None
                        };
                        out.push(DirEntry {
                            name,
                            file_type,
                            stat,
                            inode,
                        });
                    }
                    Ok(out)
                })
                .await
            })
            .await
    }

    /// `os.rename` and `os.replace` (identical on POSIX).
    pub async fn rename(&self, src: String, dst: String) -> FsResult<()> {
        self.op(OpKind::Rename, &src)
            .target(&dst)
            .run(async {
                let (s, d) = self.resolve_pair_rw(&src, &dst)?;
                not_root(&s)?;
                not_root(&d)?;
                same_grant(&s, &d)?;
                self.blocking(move || Ok(s.grant.dir.rename(&s.rel, &d.grant.dir, &d.rel)?))
                    .await
            })
            .await
    }

    pub async fn renames(&self, src: String, dst: String) -> FsResult<()> {
        self.op(OpKind::Rename, &src)
            .target(&dst)
            .run(async {
                let (s, d) = self.resolve_pair_rw(&src, &dst)?;
                not_root(&s)?;
                not_root(&d)?;
                same_grant(&s, &d)?;
                self.blocking(move || {
                    if let Some(parent) = d.rel.parent().filter(|p| !p.as_os_str().is_empty())
                        && !d.grant.dir.exists(parent)
                    {
                        create_dirs_counted(&d, parent)?;
                    }
                    s.grant.dir.rename(&s.rel, &d.grant.dir, &d.rel)?;
                    prune(&s.grant.dir, &prunable_parents(&s.rel));
                    Ok(())
                })
                .await
            })
            .await
    }

    /// `os.remove` / `os.unlink`.
    pub async fn remove_file(&self, path: String) -> FsResult<()> {
        self.op(OpKind::Remove, &path)
            .run(async {
                let r = self.resolve_rw(&path)?;
                not_root(&r)?;
                self.blocking(move || Ok(r.grant.dir.remove_file(&r.rel)?))
                    .await
            })
            .await
    }

    pub async fn mkdir(&self, path: String) -> FsResult<()> {
        self.op(OpKind::Mkdir, &path)
            .run(async {
                let r = self.resolve_rw(&path)?;
                if is_root(&r.rel) {
                    return Err(ErrorCode::Exist);
                }
                r.budget.precheck_create()?;
                self.blocking(move || {
                    let lease = r.budget.create(1)?;
                    r.grant.dir.create_dir(&r.rel)?;
                    lease.keep();
                    Ok(())
                })
                .await
            })
            .await
    }

    pub async fn makedirs(&self, path: String, exist_ok: bool) -> FsResult<()> {
        self.op(OpKind::Makedirs, &path)
            .run(async {
                let r = self.resolve_rw(&path)?;
                self.blocking(move || {
                    let dir = &r.grant.dir;
                    match dir.metadata(&r.rel) {
                        Ok(md) if md.is_dir() && exist_ok => return Ok(()),
                        Ok(_) => return Err(ErrorCode::Exist),
                        Err(_) => {}
                    }
                    match create_dirs_counted(&r, &r.rel) {
                        Ok(()) => Ok(()),
                        // Created concurrently by someone else: same as finding it there.
                        Err(_) if exist_ok && dir.metadata(&r.rel).is_ok_and(|m| m.is_dir()) => {
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                })
                .await
            })
            .await
    }

    pub async fn rmdir(&self, path: String) -> FsResult<()> {
        self.op(OpKind::Rmdir, &path)
            .run(async {
                let r = self.resolve_rw(&path)?;
                not_root(&r)?;
                self.blocking(move || Ok(r.grant.dir.remove_dir(&r.rel)?))
                    .await
            })
            .await
    }

    pub async fn removedirs(&self, path: String) -> FsResult<()> {
        self.op(OpKind::Removedirs, &path)
            .run(async {
                let r = self.resolve_rw(&path)?;
                not_root(&r)?;
                self.blocking(move || {
                    r.grant.dir.remove_dir(&r.rel)?;
                    prune(&r.grant.dir, &prunable_parents(&r.rel));
                    Ok(())
                })
                .await
            })
            .await
    }

    pub async fn link(&self, src: String, dst: String) -> FsResult<()> {
        self.op(OpKind::Link, &src)
            .target(&dst)
            .run(async {
                let (s, d) = self.resolve_pair_rw(&src, &dst)?;
                same_grant(&s, &d)?;
                d.budget.precheck_create()?;
                self.blocking(move || {
                    let lease = d.budget.create(1)?;
                    s.grant.dir.hard_link(&s.rel, &d.grant.dir, &d.rel)?;
                    lease.keep();
                    Ok(())
                })
                .await
            })
            .await
    }

    pub async fn symlink(&self, target: String, link_path: String) -> FsResult<()> {
        let shown = target.clone();
        self.op(OpKind::Symlink, &link_path)
            .target(&shown)
            .run(async {
                if target.contains('\0') {
                    return Err(ErrorCode::Invalid);
                }
                if target.is_empty() {
                    return Err(ErrorCode::NoEntry);
                }
                if target.len() > self.limits.max_path_len {
                    return Err(ErrorCode::NameTooLong);
                }
                let r = self.resolve_rw(&link_path)?;
                if target.starts_with('/') {
                    return Err(ErrorCode::NotPermitted);
                }
                r.budget.precheck_create()?;
                self.blocking(move || {
                    let lease = r.budget.create(1)?;
                    r.grant.dir.symlink(&target, &r.rel)?;
                    lease.keep();
                    Ok(())
                })
                .await
            })
            .await
    }

    /// The link's content. An absolute target (made by the host, never by a guest) is a
    /// host path with no meaning in the guest: `not-permitted`.
    pub async fn readlink(&self, path: String) -> FsResult<String> {
        self.op(OpKind::Readlink, &path)
            .run(async {
                let r = self.resolve(&path)?;
                self.blocking(move || {
                    let target = r.grant.dir.read_link(&r.rel)?;
                    utf8_name(target.into_os_string())
                })
                .await
            })
            .await
    }

    /// Copy content only (not permissions), like `shutil.copyfile`; copying a file onto
    /// itself (same device and inode) fails with `invalid` and leaves it intact.
    pub async fn copy_file(&self, src: String, dst: String) -> FsResult<u64> {
        self.op(OpKind::CopyFile, &src)
            .target(&dst)
            .run(async {
                use cap_std::fs::MetadataExt;
                let s = self.resolve(&src)?;
                let d = self.resolve_rw(&dst)?;
                s.budget.precheck_read()?;
                let counters = self.counters.clone();
                self.blocking(move || {
                    let from = regular(open_counted(&s, &read_options(), Create::No)?)?;
                    // Truncating the destination must not destroy the source (`shutil.SameFileError`).
                    let src_md = from.metadata()?;
                    if let Ok(dst_md) = d.grant.dir.metadata(&d.rel)
                        && (dst_md.dev(), dst_md.ino())
                            == (
                                std::os::unix::fs::MetadataExt::dev(&src_md),
                                std::os::unix::fs::MetadataExt::ino(&src_md),
                            )
                    {
                        return Err(ErrorCode::Invalid);
                    }
                    let len = src_md.len();
                    d.budget.check_size(len)?;
                    let read = s.budget.read_exact(len)?;
                    let written = d.budget.write(len)?;
                    let mut to = regular(open_counted(&d, &write_options(), Create::IfMissing)?)?;
                    let _growth = reserve_growth(&counters, &d, &to, len)?;
                    // Under a budget, copy what was paid for (the size when the copy started).
                    let budgeted = *s.budget.quota() != GrantQuota::UNLIMITED
                        || *d.budget.quota() != GrantQuota::UNLIMITED;
                    let cap = if budgeted { len } else { u64::MAX };
                    // In chunks (the kernel copies each without a buffer here), stopping at a
                    // checkpoint between them: a huge or sparse source cannot hold a thread.
                    let mut copied = 0u64;
                    let result = loop {
                        if let Err(e) = crate::pool::checkpoint() {
                            break Err(e);
                        }
                        let want = (CHUNK as u64).min(cap - copied);
                        match std::io::copy(&mut (&from).take(want), &mut to) {
                            Ok(0) => break Ok(()),
                            Ok(n) => copied += n,
                            Err(e) => break Err(e.into()),
                        }
                        if copied == cap {
                            break Ok(());
                        }
                    };
                    read.settle(copied);
                    written.settle(copied);
                    result.map(|()| copied)
                })
                .await
            })
            .await
    }

    pub async fn remove_tree(&self, path: String) -> FsResult<()> {
        self.op(OpKind::RemoveTree, &path)
            .run(async {
                let r = self.resolve_rw(&path)?;
                not_root(&r)?;
                self.blocking(move || {
                    // Like `shutil.rmtree`: refuse a symlink (removing it is not removing a tree).
                    if !r.grant.dir.symlink_metadata(&r.rel)?.is_dir() {
                        return Err(ErrorCode::NotDirectory);
                    }
                    remove_tree_chunked(&r.grant.dir, &r.rel)
                })
                .await
            })
            .await
    }

    pub async fn exists(&self, path: String) -> FsResult<bool> {
        self.op(OpKind::Exists, &path)
            .run(async { self.probe(&path, true, |_| true).await })
            .await
    }

    pub async fn is_file(&self, path: String) -> FsResult<bool> {
        self.op(OpKind::Exists, &path)
            .run(async { self.probe(&path, true, |md| md.is_file()).await })
            .await
    }

    pub async fn is_dir(&self, path: String) -> FsResult<bool> {
        self.op(OpKind::Exists, &path)
            .run(async { self.probe(&path, true, |md| md.is_dir()).await })
            .await
    }

    pub async fn is_link(&self, path: String) -> FsResult<bool> {
        self.op(OpKind::Exists, &path)
            .run(async { self.probe(&path, false, |md| md.is_symlink()).await })
            .await
    }

    pub async fn samefile(&self, a: String, b: String) -> FsResult<bool> {
        self.op(OpKind::Samefile, &a)
            .target(&b)
            .run(async {
                use cap_std::fs::MetadataExt;
                let ra = self.resolve(&a)?;
                let rb = self.resolve(&b)?;
                self.blocking(move || {
                    let ma = ra.grant.dir.metadata(&ra.rel)?;
                    let mb = rb.grant.dir.metadata(&rb.rel)?;
                    Ok(ma.dev() == mb.dev() && ma.ino() == mb.ino())
                })
                .await
            })
            .await
    }

    pub async fn temporary_file(&self, mode: String, options: TempOptions) -> FsResult<File> {
        let at = options.dir.clone().unwrap_or_default();
        self.op(OpKind::Tempfile, &at)
            .run(async {
                let mode = temp_mode(&mode)?;
                let place = self.temp_place(options)?;
                place.at.budget.precheck_create()?;
                let slot = self.reserve_open_slot()?;
                let fs = self.clone();
                self.blocking(move || {
                    let dir = &place.at.grant.dir;
                    let lease = place.at.budget.create(1)?;
                    let (name, file) = with_temp_name(&place.prefix, &place.suffix, |n| {
                        dir.open_with(place.at.rel.join(n), &temp_options(&mode))
                    })?;
                    lease.keep();
                    // Unlink at once: the file lives only as long as its descriptor.
                    dir.remove_file(place.at.rel.join(&name))?;
                    let guest = guest_join(&place.at, &name);
                    let budget = place.at.budget.clone();
                    Ok(File::new_in(
                        &fs,
                        budget,
                        file.into_std(),
                        guest,
                        mode,
                        slot,
                        None,
                    ))
                })
                .await
            })
            .await
    }

    pub async fn named_temporary_file(
        &self,
        mode: String,
        options: TempOptions,
        delete: bool,
    ) -> FsResult<File> {
        let at = options.dir.clone().unwrap_or_default();
        self.op(OpKind::Tempfile, &at)
            .run(async {
                let mode = temp_mode(&mode)?;
                let place = self.temp_place(options)?;
                place.at.budget.precheck_create()?;
                let slot = self.reserve_open_slot()?;
                let fs = self.clone();
                self.blocking(move || {
                    let dir = place.at.grant.dir.clone();
                    let lease = place.at.budget.create(1)?;
                    let (name, file) = with_temp_name(&place.prefix, &place.suffix, |n| {
                        dir.open_with(place.at.rel.join(n), &temp_options(&mode))
                    })?;
                    lease.keep();
                    let rel = place.at.rel.join(&name);
                    let on_close: Option<Box<dyn FnOnce() + Send>> = delete.then(|| {
                        Box::new(move || {
                            // Gone already (renamed or removed by the guest) is fine.
                            let _ = dir.remove_file(&rel);
                        }) as Box<dyn FnOnce() + Send>
                    });
                    let guest = guest_join(&place.at, &name);
                    let budget = place.at.budget.clone();
                    Ok(File::new_in(
                        &fs,
                        budget,
                        file.into_std(),
                        guest,
                        mode,
                        slot,
                        on_close,
                    ))
                })
                .await
            })
            .await
    }

    pub async fn temporary_directory(&self, options: TempOptions) -> FsResult<TempDir> {
        let at = options.dir.clone().unwrap_or_default();
        self.op(OpKind::Tempdir, &at)
            .run(async {
                let place = self.temp_place(options)?;
                place.at.budget.precheck_create()?;
                // A temporary directory is a handle too: it counts against `max_open_files`.
                let slot = self.reserve_open_slot()?;
                let (name, ()) = self
                    .blocking({
                        let place_dir = place.at.grant.dir.clone();
                        let rel = place.at.rel.clone();
                        let (prefix, suffix) = (place.prefix.clone(), place.suffix.clone());
                        let budget = place.at.budget.clone();
                        move || {
                            let lease = budget.create(1)?;
                            let made = with_temp_name(&prefix, &suffix, |n| {
                                place_dir.create_dir(rel.join(n))
                            })?;
                            lease.keep();
                            Ok(made)
                        }
                    })
                    .await?;
                Ok(TempDir::new(
                    self.clone(),
                    place.at.grant.clone(),
                    place.at.rel.join(&name),
                    guest_join(&place.at, &name),
                    slot,
                ))
            })
            .await
    }

    /// Resolve two paths that are both written (rename, link): `read-only` unless both
    /// grants allow writing.
    fn resolve_pair_rw(&self, a: &str, b: &str) -> FsResult<(Resolved, Resolved)> {
        let ra = self.resolve(a)?;
        let rb = self.resolve(b)?;
        at::writable_pair(&ra, &rb)?;
        Ok((ra, rb))
    }

    /// `os.path` predicates: metadata (following symlinks or not) tested by `pred`;
    /// `false` for a path that does not resolve to anything.
    async fn probe(
        &self,
        path: &str,
        follow: bool,
        pred: fn(&cap_std::fs::Metadata) -> bool,
    ) -> FsResult<bool> {
        let r = self.resolve(path)?;
        self.blocking(move || {
            let md = if follow {
                r.grant.dir.metadata(&r.rel)
            } else {
                r.grant.dir.symlink_metadata(&r.rel)
            };
            match md.map_err(ErrorCode::from) {
                Ok(md) => Ok(pred(&md)),
                Err(ErrorCode::NoEntry | ErrorCode::NotDirectory | ErrorCode::Loop) => Ok(false),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// Where a temporary object goes: `options.dir` or the first writable grant's root,
    /// which must allow writing; prefix and suffix must be plain name parts.
    fn temp_place(&self, options: TempOptions) -> FsResult<TempPlace> {
        let prefix = options.prefix.unwrap_or_else(|| "tmp".to_owned());
        let suffix = options.suffix.unwrap_or_default();
        for part in [&prefix, &suffix] {
            if part.contains(['/', '\0']) {
                return Err(ErrorCode::Invalid);
            }
        }
        let at = match options.dir {
            Some(dir) => self.resolve_rw(&dir)?,
            None => self.default_temp_dir()?,
        };
        Ok(TempPlace { at, prefix, suffix })
    }

    /// The root of the first writable grant (`read-only` if every grant is read-only,
    /// `not-permitted` if there are none).
    fn default_temp_dir(&self) -> FsResult<Resolved> {
        let (grant, budget): (&Arc<Grant>, _) = self
            .grants
            .iter_with_budgets()
            .find(|(g, _)| g.perms.can_write())
            .ok_or(if self.grants.iter().next().is_some() {
                ErrorCode::ReadOnly
            } else {
                ErrorCode::NotPermitted
            })?;
        Ok(Resolved {
            grant: grant.clone(),
            budget: budget.clone(),
            rel: PathBuf::from("."),
        })
    }
}

/// The cap-std open options for a Python mode.
fn open_options(mode: &OpenMode) -> OpenOptions {
    let mut o = OpenOptions::new();
    o.read(mode.read)
        .write(mode.write && !mode.append)
        .append(mode.append)
        .create(mode.create && !mode.exclusive)
        .create_new(mode.exclusive)
        .truncate(mode.truncate);
    o.custom_flags(libc::O_NONBLOCK);
    o
}

/// Bytes written or copied between two checkpoints of a long operation.
const CHUNK: usize = 8 << 20;

/// Write all of `data` in chunks, stopping at a [`checkpoint`](crate::pool::checkpoint)
/// (`interrupted`) between them.
fn write_chunked(file: &mut impl Write, data: &[u8]) -> FsResult<()> {
    for piece in data.chunks(CHUNK) {
        crate::pool::checkpoint()?;
        file.write_all(piece)?;
    }
    Ok(())
}

/// For a whole-file write or copy of `len` bytes into the just-truncated `file`: reserve
/// its growth against the grant's `max_file_size` (see `growth`), if it has one.
fn reserve_growth(
    counters: &StoreCounters,
    r: &Resolved,
    file: &std::fs::File,
    len: u64,
) -> FsResult<Option<growth::Reserved>> {
    match r.budget.quota().max_file_size {
        Some(max) => Ok(Some(
            counters
                .growth
                .reserve(file, max, len, |size| size.max(len))?,
        )),
        None => Ok(None),
    }
}

/// Create or truncate for writing.
fn write_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.write(true).create(true).truncate(true);
    o.custom_flags(libc::O_NONBLOCK);
    o
}

/// A temporary file is always created new, whatever the base letter of its mode.
fn temp_options(mode: &OpenMode) -> OpenOptions {
    let mut o = open_options(mode);
    o.create(false).create_new(true).truncate(false);
    o
}

/// The mode of a temporary file: `w+b` when empty; it must be a creating mode.
fn temp_mode(mode: &str) -> FsResult<OpenMode> {
    let mode = OpenMode::parse(if mode.is_empty() { "w+b" } else { mode })?;
    if !mode.creates() {
        return Err(ErrorCode::Invalid);
    }
    Ok(mode)
}
