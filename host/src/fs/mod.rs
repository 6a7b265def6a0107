//! The bindings-free domain layer: every aiofs operation as an async method on [`Fs`].
//!
//! Shape of every method: resolve the guest path(s) against the grants, check the grant's
//! permission (`read-only` before anything is queued), then make exactly one trip to the
//! pool through `Fs::blocking`, which is the single choke point for blocking work and
//! enforces the per-store `max_pending_ops` cap.

mod at;
pub mod batch;
pub(crate) mod cached;
#[cfg(test)]
mod cached_tests;
mod dirmemo;
mod file;
#[cfg(test)]
mod governance_tests;
mod growth;
pub(crate) mod held;
pub(crate) mod links;
#[cfg(test)]
mod links_tests;
mod meta;
mod mode;
mod names;
#[cfg(test)]
mod names_hostile_tests;
#[cfg(feature = "object")]
mod object;
#[cfg(all(test, feature = "object"))]
mod object_hostile_tests;
#[cfg(all(test, feature = "object"))]
mod object_tests;
#[cfg(test)]
mod obs_tests;
#[cfg(test)]
mod quota_tests;
mod slots;
mod temp;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod trace_capture;
mod whole;

pub use at::{Directory, OpenRequest, Opened, SetTime};
pub use file::File;
pub use mode::OpenMode;
pub(crate) use names::remove_tree_chunked;
pub(crate) use slots::{OpenSlot, StreamSlot};
pub use temp::TempDir;
use temp::{TEMP_STEM_MAX, with_temp_name};

use crate::error::{ErrorCode, FsResult};
use crate::grant::{Grant, Grants, Perms, Resolved};
use crate::limits::GrantQuota;
use crate::limits::{GrantUsage, Limits};
use crate::obs::{Audit, GrantStats, Obs, Op, OpKind, StoreRecorder, StoreStats};
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
    /// Slots of dropped handles whose close is still under way.
    pub(crate) closing: slots::Closing,
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
    /// Whether paths through this store may try the kernel's caches on the caller's
    /// thread ([`Fs::inline`]) as far as its grants allow: false for a view of a directory
    /// that lies on a network or FUSE filesystem beneath its grant's root (the grant's own
    /// check only saw the root's filesystem).
    pub(crate) local_paths: bool,
}

/// Hand the rest of an operation to the object store when the resolved path `$r` lies in
/// an object grant: `on_object!(r, |o| self.obj_stat(&o, &r).await)` returns the body's
/// result from the enclosing function.
macro_rules! on_object {
    ($r:expr, |$o:ident| $body:expr) => {
        #[cfg(feature = "object")]
        if let Some($o) = $r.grant.object().cloned() {
            return $body;
        }
    };
}
pub(crate) use on_object;

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

/// A directory entry's name as UTF-8 (`illegal-byte-sequence` otherwise).
fn utf8_name(name: std::ffi::OsString) -> FsResult<String> {
    name.into_string()
        .map_err(|_| ErrorCode::IllegalByteSequence)
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

impl Create {
    /// What opening `r` in `mode` may create; an exclusive create is refused with `quota`
    /// right away when the grant has no creation left (before anything is queued).
    fn of(mode: &OpenMode, r: &Resolved) -> FsResult<Create> {
        Ok(if mode.exclusive {
            r.budget.precheck_create()?;
            Create::New
        } else if mode.create {
            Create::IfMissing
        } else {
            Create::No
        })
    }
}

/// Open `r` with `opts`, counting a file it creates against the grant's `max_created`.
///
/// Only while that budget is set are creations told apart from opens of existing files:
/// that costs a first try without `O_CREAT`, then an exclusive create.
fn open_counted(r: &Resolved, opts: &OpenOptions, create: Create) -> FsResult<cap_std::fs::File> {
    let dir = r.grant.dir()?;
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
    check_regular(&file.metadata()?)?;
    Ok(file.into_std())
}

/// [`regular`]'s test, on metadata already at hand.
fn check_regular(md: &cap_std::fs::Metadata) -> FsResult<()> {
    if md.is_dir() {
        return Err(ErrorCode::IsDirectory);
    }
    if !md.is_file() {
        return Err(ErrorCode::Unsupported);
    }
    Ok(())
}

/// Append up to `max` bytes of a host file from `offset` to `out`; returns how many (0 at
/// the end). Nothing is appended on error. Reserve before calling: the bytes land in the
/// spare capacity, and `out` grows only if the file is longer than that. The one read of
/// host files: a cached attempt reads from the page cache only (see [`Fs::quick`]);
/// otherwise the OS cursor is moved to `offset` and `read` called until done (callers
/// own the descriptor or hold its file's lock, so nothing moves the cursor between).
pub(crate) fn read_local(
    file: &std::fs::File,
    offset: u64,
    max: usize,
    out: &mut Vec<u8>,
) -> std::io::Result<usize> {
    use std::io::{Seek, SeekFrom};
    if cached::trying() {
        return cached::read_up_to(file, offset, max, out);
    }
    let start = out.len();
    let mut f = file;
    f.seek(SeekFrom::Start(offset))
        .and_then(|_| f.take(max as u64).read_to_end(out))
        .inspect_err(|_| out.truncate(start))
}

/// Before an operation that may complete on the caller's thread (`cached`): spend a unit of
/// the task's tokio budget, yielding to the runtime when it is spent (every 128 units). A
/// guest whose calls all complete at once never returns to the event loop otherwise, and
/// would starve every other task on its thread for as long as it keeps calling.
pub(crate) async fn yield_turn(cached: bool) {
    if cached {
        tokio::task::consume_budget().await;
    }
}

/// Open `r` read-only (a cached attempt asks the caches; see [`Fs::quick`]); any kind of
/// file, checked by the caller.
fn open_read(r: &Resolved) -> FsResult<cap_std::fs::File> {
    if cached::trying() {
        let file = cached::open_read(r.grant.dir()?, &r.rel).map_err(open_error)?;
        return Ok(cap_std::fs::File::from_std(file));
    }
    open_counted(r, &read_options(), Create::No)
}

/// The metadata of `r` (of a symlink itself unless `follow`); a cached attempt asks the
/// caches (see [`Fs::quick`]).
fn lookup(r: &Resolved, follow: bool) -> FsResult<cap_std::fs::Metadata> {
    let dir = r.grant.dir()?;
    Ok(if cached::trying() {
        cached::metadata(dir, &r.rel, follow)?
    } else if let Some(md) = dirmemo::lookup(dir, &r.rel, follow) {
        md
    } else if follow {
        dir.metadata(&r.rel)?
    } else {
        dir.symlink_metadata(&r.rel)?
    })
}

/// Plain non-blocking read-only open options.
fn read_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.read(true);
    // Never blocks on a FIFO or device; never makes a terminal the host's own.
    o.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    o
}

#[allow(
    missing_docs,
    reason = "each method is documented in wit/aiofs.wit under the same name"
)]
impl Fs {
    /// Build from parts, labelled `store-N`, exporting metrics, without audit.
    pub fn new(grants: Grants, limits: Limits, pool: Pool) -> Fs {
        Fs::build(
            grants,
            limits,
            pool,
            None,
            None,
            true,
            StoreRecorder::default(),
        )
    }

    /// Build from parts with observation settings (see [`crate::AioFsCtxBuilder`]).
    pub(crate) fn build(
        grants: Grants,
        limits: Limits,
        pool: Pool,
        label: Option<String>,
        audit: Option<Audit>,
        metrics: bool,
        recorder: StoreRecorder,
    ) -> Fs {
        static STORES: AtomicUsize = AtomicUsize::new(0);
        let label: Arc<str> = match label {
            Some(l) => l.into(),
            None => format!("store-{}", STORES.fetch_add(1, Ordering::Relaxed) + 1).into(),
        };
        for (grant, budget) in grants.iter_with_budgets() {
            budget
                .counters()
                .bind(&label, &grant.guest_path, metrics, &recorder);
        }
        Fs {
            grants: Arc::new(grants),
            tenant: Tenant::new(limits.max_op_duration),
            counters: Arc::new(StoreCounters {
                pending_ops: AtomicUsize::new(0),
                open_files: AtomicUsize::new(0),
                closing: slots::Closing::default(),
                mem: MemBudget::new(limits.max_inflight_bytes),
                growth: growth::Growth::default(),
                obs: Obs::new(label, audit, metrics, &recorder),
            }),
            limits: Arc::new(limits),
            pool,
            local_paths: true,
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

    /// A copy of `path`, not yet checked, for an operation's records: at most a few bytes
    /// past `max_path_len` (enough for [`guest_display`](Fs::guest_display) to show the cut),
    /// so a refused path of any length is not copied whole.
    pub(crate) fn record_copy(&self, path: &str) -> String {
        path[..path.floor_char_boundary(self.limits.max_path_len.saturating_add(4))].to_owned()
    }

    /// `path` as an absolute guest path, for records: a relative one is shown under the
    /// first grant, where it resolves (for a directory's view, the directory). A path
    /// longer than `max_path_len` (refused, but recorded as the guest sent it) is cut
    /// there and ends in `…`, so a record never copies more than that.
    pub(crate) fn guest_display(&self, path: &str) -> String {
        let max = self.limits.max_path_len;
        if path.len() > max {
            let cut = path.floor_char_boundary(max);
            return format!("{}…", self.guest_display(&path[..cut]));
        }
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

    /// The real host paths of this store's directory grants that the guest may write
    /// (read-write), for an embedder that keeps files a guest must not
    /// reach (a cache of compiled code, say) and checks they are outside all of them. A
    /// grant whose path the OS cannot tell is left out.
    pub fn writable_host_dirs(&self) -> Vec<std::path::PathBuf> {
        self.grants
            .iter()
            .filter(|g| g.perms.can_write())
            .filter_map(|g| g.host_path())
            .collect()
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
            audit_suppressed: self.counters.obs.audit_suppressed(),
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
        // The time on the pool is the running operation's (`note_run` does nothing
        // outside one).
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

    /// [`blocking`](Fs::blocking), but first tried right here from the kernel's caches when
    /// `cached` (the operation's grant allows it, [`Budget::cached_io`]): see the `cached`
    /// module. `f` runs at most twice: once here, and once more on the pool if that would
    /// have blocked. It must use the `cached`-aware primitives for everything it does.
    pub(crate) async fn quick<T, F>(&self, cached: bool, mut f: F) -> FsResult<T>
    where
        T: Send + 'static,
        F: FnMut() -> FsResult<T> + Send + 'static,
    {
        let slot = self.admit()?;
        yield_turn(cached).await;
        if let Some(out) = self.inline(cached, &mut f) {
            return out;
        }
        self.blocking_admitted(slot, f).await
    }

    /// [`quick`](Fs::quick) for an operation whose result is held in host memory (see
    /// [`blocking_held`](Fs::blocking_held)); each run starts from an empty charge.
    pub(crate) async fn quick_held<T, F>(&self, cached: bool, mut f: F) -> FsResult<T>
    where
        T: Send + 'static,
        F: FnMut(&mut Held) -> FsResult<T> + Send + 'static,
    {
        let slot = self.admit()?;
        yield_turn(cached).await;
        if let Some(out) = self.inline(cached, || f(&mut self.mem().empty())) {
            return out;
        }
        let mut held = self.mem().empty();
        self.blocking_admitted(slot, move || f(&mut held)).await
    }

    /// Run `f` on this thread from the kernel's caches, if `cached` and the store allows it
    /// (`max_inline_bytes` > 0, not already inside a pool job); `None` if it
    /// may not, or would have blocked. Its time counts as the operation's run time.
    pub(crate) fn inline<T>(
        &self,
        cached: bool,
        f: impl FnOnce() -> FsResult<T>,
    ) -> Option<FsResult<T>> {
        let max = self.limits.max_inline_bytes;
        if !cached || !self.local_paths || max == 0 || crate::pool::inline_now() {
            return None;
        }
        let start = std::time::Instant::now();
        let out = cached::attempt(self.pool.links(), max, f)?;
        crate::obs::note_run(start.elapsed());
        Some(out)
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
        let name = self.record_copy(&path);
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
        let create = Create::of(&mode, &r)?;
        on_object!(r, |o| self.obj_open(&o, r, mode, path).await);
        let slot = self.open_slot().await?;
        // Reading an existing file opens nothing new: it may come from the caches.
        let cached = !mode.write && matches!(create, Create::No) && r.budget.cached_io();
        let opts = open_options(&mode);
        let budget = r.budget.clone();
        let (file, local) = self
            .quick(cached, move || {
                if cached::trying() {
                    // From the caches: never across a mount, so on the grant's filesystem.
                    return Ok((regular(open_read(&r)?)?, true));
                }
                let file = regular(open_counted(&r, &opts, create)?)?;
                let local = r.budget.cached_io() && cached::local_file(&file);
                Ok((file, local))
            })
            .await?;
        Ok(File::new_in(
            self, budget, file, path, mode, slot, None, local,
        ))
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
    // Never blocks on a FIFO or device; never makes a terminal the host's own.
    o.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    o
}
