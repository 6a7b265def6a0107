//! The per-store context, its builder, and the view trait embedders implement.

use crate::fs::Fs;
use crate::grant::{Grant, Grants, Perms, Store, normalize_mount};
use crate::limits::{GrantQuota, Limits};
use crate::obs::Audit;
use crate::pool::Pool;
use std::path::Path;
use std::sync::Arc;
use wasmtime::component::{HasData, ResourceTable};

/// aiofs state of one store: its grants, limits, pool and counters.
///
/// When the last clone of a context is dropped (with its store), the store's operations
/// still running on the pool stop at their next chunk boundary and its queued ones are
/// dropped unrun.
#[derive(Debug, Clone)]
pub struct AioFsCtx {
    pub(crate) fs: Fs,
    _cancel: Arc<CancelOnDrop>,
    /// Whether `wasi:filesystem` preopens were handed out already (see
    /// [`AioFsCtx::preopens`]).
    preopens_given: Arc<std::sync::atomic::AtomicBool>,
}

/// Cancels the store's tenant on the pool when the last context clone goes.
#[derive(Debug)]
struct CancelOnDrop(crate::pool::Tenant);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl AioFsCtx {
    /// Start building a context.
    pub fn builder() -> AioFsCtxBuilder {
        AioFsCtxBuilder::default()
    }

    /// The bindings-free domain layer behind this context (for host-side use and tests).
    pub fn fs(&self) -> &Fs {
        &self.fs
    }

    /// The grant roots as `wasi:filesystem` preopens. The first set is free (what
    /// wasi-libc and Rust's std ask for once at start-up); every later call's directories
    /// each take a `max_open_files` slot while the guest holds them (`quota` when that is
    /// spent), so a guest calling `get-directories` in a loop cannot fill the host with
    /// descriptors nothing counts.
    pub(crate) fn preopens(&self) -> crate::error::FsResult<Vec<crate::fs::Directory>> {
        use std::sync::atomic::Ordering;
        if self.preopens_given.swap(true, Ordering::AcqRel) {
            self.fs.grant_roots_held()
        } else {
            Ok(self.fs.grant_roots())
        }
    }

    /// What this store did so far, per grant, and its gauges now (see [`crate::obs`]).
    pub fn stats(&self) -> crate::StoreStats {
        self.fs.stats()
    }
}

/// Builds an [`AioFsCtx`].
///
/// ```no_run
/// use aiofs_host::{AioFsCtx, Perms};
/// let ctx = AioFsCtx::builder()
///     .grant("./data", "/data", Perms::ReadWrite)?
///     .grant("./assets", "/assets", Perms::ReadOnly)?
///     .build();
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct AioFsCtxBuilder {
    grants: Grants,
    limits: Limits,
    pool: Option<Pool>,
    label: Option<String>,
    audit: Option<Audit>,
    no_metrics: bool,
    recorder: crate::obs::StoreRecorder,
}

impl AioFsCtxBuilder {
    /// Grant the host directory `host_dir` to the guest at `guest_path`.
    ///
    /// `guest_path` is made absolute (`data` means `/data`). The first grant is where
    /// relative guest paths resolve.
    ///
    /// # Ambient Authority
    /// This opens `host_dir` with the process's ambient authority: any directory the host
    /// process can open. Everything the guest does afterwards is confined beneath it.
    ///
    /// # Errors
    /// The directory cannot be opened, or `guest_path` contains `..`
    /// (`io::ErrorKind::InvalidInput`).
    pub fn grant(
        self,
        host_dir: impl AsRef<Path>,
        guest_path: &str,
        perms: Perms,
    ) -> std::io::Result<Self> {
        self.grant_with_quota(host_dir, guest_path, perms, GrantQuota::UNLIMITED)
    }

    /// Like [`grant`](Self::grant), with budgets for what the guest may do in it: bytes
    /// written and read, file size, files created (see [`GrantQuota`]). Each grant has
    /// its own counters.
    ///
    /// ```no_run
    /// use aiofs_host::{AioFsCtx, GrantQuota, Perms};
    /// let ctx = AioFsCtx::builder()
    ///     .grant_with_quota("./scratch", "/scratch", Perms::ReadWrite, GrantQuota {
    ///         max_bytes_written: Some(64 << 20),
    ///         max_file_size: Some(8 << 20),
    ///         max_created: Some(1000),
    ///         ..GrantQuota::UNLIMITED
    ///     })?
    ///     .build();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Ambient Authority
    /// As for [`grant`](Self::grant).
    ///
    /// # Errors
    /// As for [`grant`](Self::grant).
    pub fn grant_with_quota(
        self,
        host_dir: impl AsRef<Path>,
        guest_path: &str,
        perms: Perms,
        quota: GrantQuota,
    ) -> std::io::Result<Self> {
        let dir =
            cap_std::fs::Dir::open_ambient_dir(host_dir.as_ref(), cap_std::ambient_authority())?;
        self.grant_dir_with_quota(dir, guest_path, perms, quota)
    }

    /// Grant an already-open directory (no ambient authority involved).
    ///
    /// # Errors
    /// `guest_path` contains `..` (`io::ErrorKind::InvalidInput`).
    pub fn grant_dir(
        self,
        dir: cap_std::fs::Dir,
        guest_path: &str,
        perms: Perms,
    ) -> std::io::Result<Self> {
        self.grant_dir_with_quota(dir, guest_path, perms, GrantQuota::UNLIMITED)
    }

    /// Grant an already-open directory with budgets (see [`GrantQuota`]).
    ///
    /// Grants over the same or nested host directories must have the same permission and
    /// no quotas (see [`Grants::check_overlap`](crate::grant::Grants::check_overlap)).
    ///
    /// # Errors
    /// `guest_path` contains `..` or is granted already, or the directory overlaps an
    /// earlier grant with another permission or with quotas (`io::ErrorKind::InvalidInput`).
    pub fn grant_dir_with_quota(
        self,
        dir: cap_std::fs::Dir,
        guest_path: &str,
        perms: Perms,
        quota: GrantQuota,
    ) -> std::io::Result<Self> {
        self.push_grant(Store::Local(Arc::new(dir)), guest_path, perms, quota)
    }

    /// Grant an object-store prefix (the operator's root) to the guest at `guest_path`,
    /// like a directory: same operations, limits, permissions and budgets (see
    /// [`crate::object`] and the README's table of what each operation means there).
    /// [`S3Config::operator`](crate::object::S3Config::operator) builds one for S3 with
    /// timeouts and retries; an operator from elsewhere is used as it is.
    ///
    /// # Errors
    /// As for [`grant_dir`](Self::grant_dir); prefixes of one bucket are compared like
    /// host directories.
    #[cfg(feature = "object")]
    pub fn grant_object(
        self,
        op: crate::object::opendal::Operator,
        guest_path: &str,
        perms: Perms,
    ) -> std::io::Result<Self> {
        self.grant_object_with_quota(op, guest_path, perms, GrantQuota::UNLIMITED)
    }

    /// [`grant_object`](Self::grant_object) with budgets (see [`GrantQuota`]).
    ///
    /// # Errors
    /// As for [`grant_object`](Self::grant_object).
    #[cfg(feature = "object")]
    pub fn grant_object_with_quota(
        self,
        op: crate::object::opendal::Operator,
        guest_path: &str,
        perms: Perms,
        quota: GrantQuota,
    ) -> std::io::Result<Self> {
        let store = Store::Object(Arc::new(crate::object::ObjectStore::new(op)));
        self.push_grant(store, guest_path, perms, quota)
    }

    fn push_grant(
        mut self,
        store: Store,
        guest_path: &str,
        perms: Perms,
        quota: GrantQuota,
    ) -> std::io::Result<Self> {
        let guest_path = normalize_mount(guest_path).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("bad guest path {guest_path:?}: {e}"),
            )
        })?;
        let grant = Grant {
            store,
            guest_path,
            perms,
        };
        self.grants.check_overlap(&grant, &quota)?;
        self.grants.push_with_quota(grant, quota);
        Ok(self)
    }

    /// Replace the limits (default: [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Run this store's blocking work on `pool` (default: [`Pool::shared`]). Share one
    /// pool between stores to bound the threads of the whole process.
    pub fn pool(mut self, pool: Pool) -> Self {
        self.pool = Some(pool);
        self
    }

    /// Name this store in stats, metrics (label `store`), spans and audit records, e.g.
    /// after the plugin it runs (default: `store-N`, numbered in creation order).
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Send an [`AuditRecord`](crate::AuditRecord) for every refused operation of this
    /// store (and every successful mutation, if the channel asks for them) to `audit`.
    /// One channel may serve many stores; sending never blocks (see [`Audit`]).
    ///
    /// ```
    /// use aiofs_host::{AioFsCtx, Audit, ErrorCode, Perms};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let dir = tempfile::tempdir()?;
    /// let (audit, records) = Audit::channel(1024);
    /// let ctx = AioFsCtx::builder()
    ///     .grant(dir.path(), "/assets", Perms::ReadOnly)?
    ///     .label("plugin-a")
    ///     .audit(audit)
    ///     .build();
    /// let refused = ctx.fs().write_file("/assets/x".into(), b"no".to_vec(), false).await;
    /// assert_eq!(refused, Err(ErrorCode::ReadOnly));
    /// let record = records.try_recv().expect("one record");
    /// assert_eq!((record.store.as_str(), record.op, record.outcome()), ("plugin-a", "write-file", "denied"));
    /// assert_eq!(ctx.stats().grant("/assets").unwrap().refusals(), 1);
    /// # Ok(()) }
    /// ```
    pub fn audit(mut self, audit: Audit) -> Self {
        self.audit = Some(audit);
        self
    }

    /// Export this store's counters through the [`metrics`] facade (default: on). With no
    /// recorder installed the export costs a few no-op calls per operation; install the
    /// recorder before building stores, which register their handles as they go.
    pub fn metrics(mut self, on: bool) -> Self {
        self.no_metrics = !on;
        self
    }

    /// Export this store's metrics to `recorder` instead of the process's global one
    /// (a recorder per tenant, or tests without global state).
    pub fn metrics_recorder(mut self, recorder: Arc<dyn metrics::Recorder + Send + Sync>) -> Self {
        self.recorder = crate::obs::StoreRecorder(Some(recorder));
        self
    }

    /// Finish.
    pub fn build(self) -> AioFsCtx {
        let fs = Fs::build(
            self.grants,
            self.limits,
            self.pool.unwrap_or_else(Pool::shared),
            self.label,
            self.audit,
            !self.no_metrics,
            self.recorder,
        );
        AioFsCtx {
            _cancel: Arc::new(CancelOnDrop(fs.tenant().clone())),
            fs,
            preopens_given: Arc::default(),
        }
    }
}

/// What aiofs' host functions borrow from the store: the context and the resource table.
pub struct AioFsCtxView<'a> {
    /// The aiofs context.
    pub ctx: &'a mut AioFsCtx,
    /// The store's resource table (shared with wasmtime-wasi, if linked).
    pub table: &'a mut ResourceTable,
}

/// Implemented by the embedder's store data to expose aiofs' state.
pub trait AioFsView: Send {
    /// Borrow the aiofs context and the resource table.
    fn aiofs(&mut self) -> AioFsCtxView<'_>;
}

/// Marker type that `add_to_linker` uses to project [`AioFsCtxView`] out of the store.
pub struct AioFs;

impl HasData for AioFs {
    type Data<'a> = AioFsCtxView<'a>;
}
