//! The bounded blocking pool: the one place where aiofs does blocking file I/O.

use std::sync::Arc;

/// Called on a pool thread right before each job runs. Used by tests (to gate or count
/// jobs) and to inject latency into benchmarks; production embedders leave it unset.
pub type JobHook = Arc<dyn Fn() + Send + Sync>;

/// A snapshot of the pool's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Worker threads.
    pub threads: usize,
    /// Jobs running now.
    pub running: usize,
    /// Jobs waiting for a thread now.
    pub queued: usize,
    /// Most jobs ever running at once.
    pub peak_running: usize,
    /// Most jobs ever waiting at once.
    pub peak_queued: usize,
    /// Jobs that ran to completion.
    pub completed: u64,
    /// Jobs dropped before they started because their caller went away.
    pub cancelled: u64,
}

/// A fixed-size pool of OS threads with a FIFO queue, shared by any number of stores.
/// Cheap to clone. The threads exit when the last clone is dropped.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<()>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("stats", &self.stats()).finish()
    }
}

impl Pool {
    /// A pool with `threads` workers (at least 1).
    pub fn new(threads: usize) -> Pool {
        Pool::with_hook(threads, None)
    }

    /// A pool whose workers call `hook` before each job.
    pub fn with_hook(threads: usize, hook: Option<JobHook>) -> Pool {
        todo!("{threads} {}", hook.is_some())
    }

    /// The process-wide default pool (created on first use; threads =
    /// `available_parallelism * 2`, at least 4). Used when the builder is given no pool.
    pub fn shared() -> Pool {
        todo!()
    }

    /// Counters, for tests and metrics.
    pub fn stats(&self) -> PoolStats {
        todo!()
    }

    /// Run `f` on a worker and await its result. If the returned future is dropped before
    /// a worker picks the job up, the job never runs (counted in `cancelled`); once
    /// running, it completes and its result is discarded. A panicking job yields
    /// `Err(ErrorCode::Io)` and the worker survives.
    pub async fn run<T, F>(&self, f: F) -> crate::error::FsResult<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let _ = f;
        todo!()
    }

    /// Run `f` on a worker without waiting for it (used for closing files on drop).
    pub fn spawn_detached<F: FnOnce() + Send + 'static>(&self, f: F) {
        let _ = f;
        todo!()
    }
}
