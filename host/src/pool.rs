//! The bounded blocking pool: the one place where aiofs does blocking file I/O.
//!
//! Operating systems offer no portable asynchronous file API, so every disk operation runs
//! on one of a fixed number of OS threads. One pool can serve any number of stores, so the
//! embedder bounds the threads of the whole process.
//!
//! # Fairness
//! Every job belongs to a [`Tenant`] (one per store; [`Pool::run`] uses an anonymous
//! one). Each tenant has its own FIFO queue, and workers serve the tenants with queued
//! jobs round-robin, one job per turn. So a job of one store waits behind at most one
//! queued job of each other store (plus the jobs already running), however many jobs
//! another store has queued: a guest flooding the pool slows only itself.
//!
//! # Stopping long work
//! A job that has started cannot be interrupted in a syscall, but long jobs are written as
//! loops of bounded chunks that call [`checkpoint`] between chunks. `checkpoint` fails
//! with `interrupted` once the job's future was dropped, its tenant was cancelled (the
//! store is gone) or it has run longer than the tenant's time limit, so such a job stops
//! within one chunk. A job still *queued* when its future is dropped never runs.
//!
//! # Caveats
//! * The queues are unbounded; per-store limits (`Limits::max_pending_ops`) are what keep
//!   a guest from flooding them.

use crate::error::{ErrorCode, FsResult};
use crate::fs::links::Exclusion;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

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
    /// Jobs that ran (a job that panicked counts too).
    pub completed: u64,
    /// Jobs dropped before they started because their caller went away.
    pub cancelled: u64,
}

/// A fixed-size pool of OS threads with a FIFO queue, shared by any number of stores.
/// Cheap to clone. The threads exit when the last clone is dropped (after finishing the
/// jobs already queued).
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Handle>,
}

/// Owned by the `Pool` clones only (workers hold [`Shared`]): its drop is "last clone gone".
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.wake.notify_all();
    }
}

/// State shared by the pool handles, the workers and the in-flight `run` futures.
struct Shared {
    state: Mutex<State>,
    /// Signalled when a job is queued or the pool shuts down.
    wake: Condvar,
    threads: usize,
    hook: Option<JobHook>,
    /// Removals on this pool's threads against cached attempts of its stores.
    links: Arc<Exclusion>,
}

impl Shared {
    /// Lock the state. A poisoned lock is recovered: the state is plain counters and a
    /// queue, and no code panics while holding it.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The queues and the counters, under one lock so that the stats are exact.
#[derive(Default)]
struct State {
    /// One FIFO per tenant with queued jobs (cancelled slots may linger until popped).
    queues: HashMap<u64, VecDeque<Arc<JobSlot>>>,
    /// Tenants whose queue is not empty, in the order they are served (round-robin).
    ready: VecDeque<u64>,
    shutdown: bool,
    /// Workers waiting for a job.
    idle: usize,
    /// Wake-ups sent to idle workers that they have not taken yet: a submit wakes a
    /// worker only when some idle one is not already on its way.
    signalled: usize,
    /// Live (not cancelled) jobs in `queue`.
    queued: usize,
    running: usize,
    peak_running: usize,
    peak_queued: usize,
    completed: u64,
    cancelled: u64,
}

/// A queued job. The closure is taken out exactly once, under the pool's state lock: by
/// the worker that runs it, or by the `run` future that is dropped first (cancellation).
/// A cancelled closure is dropped at once, on the caller's thread, so a guest that queues
/// and cancels large writes cannot pile up memory behind a busy pool; whatever the
/// closure owns must therefore be cheap to drop (file handles defer their close to the
/// pool themselves).
struct JobSlot {
    /// The job, and what to call when a worker takes it (see [`on_start`]): taken together
    /// by whoever owns the job from then on.
    job: Mutex<Option<(Job, Option<OnStart>)>>,
    /// Set when the job's future is dropped (seen by [`checkpoint`] while it runs).
    dropped: AtomicBool,
    /// Whether cancelling the tenant stops it (not for detached clean-ups, which only
    /// the time limit stops: a dropped store's closes and removals still happen).
    detached: bool,
    /// The tenant's cancellation flag and time limit.
    tenant: Arc<TenantShared>,
}

/// What a job's submitter wants to know once a worker has taken the job: from then on it
/// runs whatever happens to its future (see [`on_start`]).
pub(crate) type OnStart = Box<dyn FnOnce() + Send>;

impl JobSlot {
    fn take(&self) -> Option<(Job, Option<OnStart>)> {
        self.job.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// A job runs and returns how to deliver its result; the worker updates the counters in
/// between, so a caller that got its result sees the job counted as completed.
type Job = Box<dyn FnOnce() -> Deliver + Send>;
type Deliver = Box<dyn FnOnce() + Send>;

/// Who a job is run for: one per store. Cheap to clone; clones are the same tenant.
///
/// Its jobs have a queue of their own (served round-robin with other tenants' queues),
/// may be given a time limit, and are all stopped at their next [`checkpoint`] once the
/// tenant is [cancelled](Tenant::cancel).
#[derive(Clone, Debug)]
pub struct Tenant {
    shared: Arc<TenantShared>,
}

#[derive(Debug)]
struct TenantShared {
    id: u64,
    cancelled: AtomicBool,
    max_duration: Option<Duration>,
}

impl Tenant {
    /// A new tenant whose jobs may each run at most `max_duration` (checked between
    /// chunks by [`checkpoint`]; `None`: no limit).
    pub fn new(max_duration: Option<Duration>) -> Tenant {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Tenant {
            shared: Arc::new(TenantShared {
                id: NEXT.fetch_add(1, Ordering::Relaxed),
                cancelled: AtomicBool::new(false),
                max_duration,
            }),
        }
    }

    /// Stop this tenant's running jobs at their next checkpoint and refuse new ones'
    /// chunks (used when the store is dropped). Queued jobs whose futures are dropped
    /// never run.
    pub fn cancel(&self) {
        self.shared.cancelled.store(true, Ordering::Release);
    }

    /// Whether [`cancel`](Tenant::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.shared.cancelled.load(Ordering::Acquire)
    }
}

/// The job running on this thread, for [`checkpoint`].
struct Current {
    slot: Arc<JobSlot>,
    deadline: Option<Instant>,
}

thread_local! {
    /// Set by [`on_start`] for the next job submitted on this thread.
    static ON_START: RefCell<Option<OnStart>> = const { RefCell::new(None) };
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
    /// Set while a job runs the items of a batch ([`run_inline`]): jobs submitted from
    /// this thread then run at once, right here, as part of the running job.
    static INLINE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f`; the first job it submits from this thread calls `started` on the worker that
/// takes it, before the job runs (and before a test's [`JobHook`]); a job run inline calls
/// it at once. A job that is taken runs to its end even if its future is dropped, so
/// `started` tells a caller its work will happen (a write stream accepts a chunk then).
/// If `f` submits nothing, `started` is dropped uncalled.
pub(crate) fn on_start<R>(started: OnStart, f: impl FnOnce() -> R) -> R {
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            ON_START.with(|s| s.borrow_mut().take());
        }
    }
    ON_START.with(|s| *s.borrow_mut() = Some(started));
    let _clear = Clear;
    f()
}

/// The callback [`on_start`] left for the job being submitted now, if any.
fn take_on_start() -> Option<OnStart> {
    ON_START.with(|s| s.borrow_mut().take())
}

/// Call a job's start callback; a panic in it is logged, not spread.
fn call_on_start(started: Option<OnStart>) {
    if let Some(started) = started
        && std::panic::catch_unwind(AssertUnwindSafe(started)).is_err()
    {
        tracing::error!("an aiofs pool start callback panicked");
    }
}

/// Run `f` on this pool thread with every [`Pool::run_for`] (or [`Pool::run`]) called
/// from inside it run inline: the closure runs at once on this thread, inside the job
/// that called `run_inline`, instead of being queued. Used by a batch, whose items go
/// through the same domain methods as single operations (the same checks, budgets and
/// counters) while the whole batch costs one trip to the pool. The running job's
/// [`checkpoint`] state (dropped future, tenant cancelled, time limit) applies to every
/// inline closure. Outside a pool job it only runs `f`.
pub(crate) fn run_inline<R>(f: impl FnOnce() -> R) -> R {
    let on_worker = CURRENT.with(|c| c.borrow().is_some());
    if !on_worker {
        return f();
    }
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            INLINE.with(|i| i.set(self.0));
        }
    }
    let _reset = Reset(INLINE.with(|i| i.replace(true)));
    f()
}

/// Whether a job submitted now runs inline (see [`run_inline`]).
pub(crate) fn inline_now() -> bool {
    INLINE.with(std::cell::Cell::get)
}

/// How long the job running on this thread may still run before its tenant's time limit
/// (`None`: no limit, or not in a pool job). Used by object-storage requests.
#[cfg(feature = "object")]
pub(crate) fn time_left() -> Option<Duration> {
    CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .and_then(|cur| cur.deadline)
            .map(|d| d.saturating_duration_since(Instant::now()))
    })
}

/// Called by long jobs between chunks: `Err(interrupted)` if the job should stop now
/// (its future was dropped, its tenant cancelled, or it ran past its tenant's time
/// limit); `Ok` otherwise, and always `Ok` outside a pool job.
pub fn checkpoint() -> FsResult<()> {
    CURRENT.with(|c| match &*c.borrow() {
        Some(cur)
            if cur.slot.dropped.load(Ordering::Acquire)
                || (!cur.slot.detached && cur.slot.tenant.cancelled.load(Ordering::Acquire))
                || cur.deadline.is_some_and(|d| Instant::now() >= d) =>
        {
            Err(ErrorCode::Interrupted)
        }
        _ => Ok(()),
    })
}

/// The tenant of [`Pool::run`] and [`Pool::spawn_detached`].
fn anonymous() -> &'static Tenant {
    static ANON: OnceLock<Tenant> = OnceLock::new();
    ANON.get_or_init(|| Tenant::new(None))
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Pool {
    /// A pool with `threads` workers (at least 1).
    pub fn new(threads: usize) -> Pool {
        Pool::with_hook(threads, None)
    }

    /// A pool whose workers call `hook` before each job.
    ///
    /// # Panics
    /// If the operating system refuses to start a thread.
    pub fn with_hook(threads: usize, hook: Option<JobHook>) -> Pool {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            threads,
            hook,
            links: Arc::new(Exclusion::new()),
        });
        for n in 0..threads {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("aiofs-pool-{n}"))
                .spawn(move || worker(&shared))
                .expect("failed to spawn an aiofs pool thread");
        }
        Pool {
            inner: Arc::new(Handle { shared }),
        }
    }

    /// The process-wide default pool (created on first use; threads =
    /// `available_parallelism * 2`, at least 4). Used when the builder is given no pool.
    pub fn shared() -> Pool {
        static SHARED: OnceLock<Pool> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                Pool::new((cores * 2).max(4))
            })
            .clone()
    }

    /// What keeps removals on this pool's threads and cached attempts of the stores that
    /// use it apart (see the `links` module).
    pub(crate) fn links(&self) -> &Exclusion {
        &self.inner.shared.links
    }

    /// Entries in the queues, live or not (for tests: cancelled ones must not linger).
    #[cfg(test)]
    fn queue_entries(&self) -> usize {
        let st = self.inner.shared.lock();
        st.queues.values().map(VecDeque::len).sum()
    }

    /// Counters, for tests and metrics.
    pub fn stats(&self) -> PoolStats {
        let shared = &self.inner.shared;
        let st = shared.lock();
        PoolStats {
            threads: shared.threads,
            running: st.running,
            queued: st.queued,
            peak_running: st.peak_running,
            peak_queued: st.peak_queued,
            completed: st.completed,
            cancelled: st.cancelled,
        }
    }

    /// Run `f` on a worker and await its result. If the returned future is dropped before
    /// a worker picks the job up, the job never runs (counted in `cancelled`); once
    /// running, it completes (or stops at its next [`checkpoint`]) and its result is
    /// discarded. A panicking job yields `Err(ErrorCode::Io)` and the worker survives.
    pub async fn run<T, F>(&self, f: F) -> FsResult<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.run_for(anonymous(), f).await
    }

    /// [`run`](Pool::run) on behalf of `tenant`: queued behind the tenant's own jobs only,
    /// and stopped at a checkpoint when the tenant is cancelled or the job runs too long.
    pub async fn run_for<T, F>(&self, tenant: &Tenant, f: F) -> FsResult<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        if inline_now() {
            // Part of a running batch job: run here, no queue, no hand-off.
            call_on_start(take_on_start());
            return std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|_| {
                tracing::error!("an inline aiofs pool job panicked");
                ErrorCode::Io
            });
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let slot = self.submit(
            tenant,
            false,
            Box::new(move || {
                let result = std::panic::catch_unwind(AssertUnwindSafe(f));
                if result.is_err() {
                    tracing::error!("an aiofs pool job panicked");
                }
                Box::new(move || {
                    // The receiver may be gone (caller dropped after the job started): fine.
                    let _ = tx.send(result.map_err(|_| ErrorCode::Io));
                })
            }),
        );
        let _cancel = CancelOnDrop {
            shared: &self.inner.shared,
            slot,
        };
        // The sender is only dropped unsent if the job was cancelled, which needs this
        // future gone; treat it as an I/O error rather than trusting that.
        rx.await.unwrap_or(Err(ErrorCode::Io))
    }

    /// Run `f` on a worker without waiting for it (used for closing files on drop).
    /// A panic in `f` is caught and logged.
    pub fn spawn_detached<F: FnOnce() + Send + 'static>(&self, f: F) {
        self.spawn_detached_for(anonymous(), f);
    }

    /// [`spawn_detached`](Pool::spawn_detached) in `tenant`'s queue, so that a store's
    /// closes and removals take their turn like its other jobs.
    pub fn spawn_detached_for<F: FnOnce() + Send + 'static>(&self, tenant: &Tenant, f: F) {
        self.submit(
            tenant,
            true,
            Box::new(move || {
                if std::panic::catch_unwind(AssertUnwindSafe(f)).is_err() {
                    tracing::error!("a detached aiofs pool job panicked");
                }
                Box::new(|| ())
            }),
        );
    }

    fn submit(&self, tenant: &Tenant, detached: bool, job: Job) -> Arc<JobSlot> {
        let slot = Arc::new(JobSlot {
            job: Mutex::new(Some((job, take_on_start()))),
            dropped: AtomicBool::new(false),
            detached,
            tenant: tenant.shared.clone(),
        });
        let shared = &self.inner.shared;
        let wake = {
            let mut st = shared.lock();
            let id = tenant.shared.id;
            let queue = st.queues.entry(id).or_default();
            queue.push_back(slot.clone());
            if queue.len() == 1 {
                st.ready.push_back(id);
            }
            st.queued += 1;
            st.peak_queued = st.peak_queued.max(st.queued);
            // Wake a worker only if one is idle and not already woken: when every worker
            // is busy, the next one to finish takes the job without a wake-up.
            st.idle > st.signalled && {
                st.signalled += 1;
                true
            }
        };
        if wake {
            shared.wake.notify_one();
        }
        slot
    }
}

/// Dropped with the `run` future: if the job is still queued, take it out (it never runs),
/// and its entry out of its tenant's queue, so a guest that queues and cancels in a loop
/// while the workers are busy leaves nothing behind (the entry is found from the back,
/// where the newest are; a tenant's queue holds at most its pending operations).
struct CancelOnDrop<'a> {
    shared: &'a Shared,
    slot: Arc<JobSlot>,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        // A running job sees this at its next checkpoint.
        self.slot.dropped.store(true, Ordering::Release);
        // Whoever takes the closure out of the slot owns it: a worker (it runs) or this
        // drop (it never runs). Only a job taken here changes the counters, so the
        // common case (the job already ran) takes no pool lock.
        let job = self.slot.take();
        if job.is_some() {
            let mut st = self.shared.lock();
            st.queued -= 1;
            st.cancelled += 1;
            st.forget(&self.slot);
        }
        // Drop the closure (and whatever it owns) outside the lock.
        drop(job);
    }
}

impl State {
    /// Take `slot` (cancelled while queued) out of its tenant's queue.
    fn forget(&mut self, slot: &Arc<JobSlot>) {
        let id = slot.tenant.id;
        let Some(queue) = self.queues.get_mut(&id) else {
            return;
        };
        if let Some(at) = queue.iter().rposition(|s| Arc::ptr_eq(s, slot)) {
            queue.remove(at);
        }
        if queue.is_empty() {
            self.queues.remove(&id);
            self.ready.retain(|&t| t != id);
        }
    }

    /// The next slot round-robin: the front job of the first ready tenant, which goes to
    /// the back of the line if it has more.
    fn pop(&mut self) -> Option<Arc<JobSlot>> {
        let id = self.ready.pop_front()?;
        let queue = self.queues.get_mut(&id)?;
        let slot = queue.pop_front();
        if queue.is_empty() {
            self.queues.remove(&id);
        } else {
            self.ready.push_back(id);
        }
        slot
    }
}

fn worker(shared: &Shared) {
    crate::fs::links::serve(shared.links.clone());
    // The previous job's result, delivered once the counters say it completed.
    let mut deliver: Option<Deliver> = None;
    loop {
        let ((job, started), slot) = {
            let mut st = shared.lock();
            if deliver.is_some() {
                st.running -= 1;
                st.completed += 1;
            }
            loop {
                match st.pop() {
                    Some(slot) => {
                        // `None`: cancelled while queued (already counted); skip it.
                        if let Some(job) = slot.take() {
                            st.queued -= 1;
                            st.running += 1;
                            st.peak_running = st.peak_running.max(st.running);
                            break (job, slot);
                        }
                    }
                    None if st.shutdown => {
                        drop(st);
                        if let Some(d) = deliver.take() {
                            d();
                        }
                        return;
                    }
                    None => {
                        if let Some(d) = deliver.take() {
                            // Never sleep on a result: hand it over first.
                            drop(st);
                            d();
                            st = shared.lock();
                            continue;
                        }
                        st.idle += 1;
                        st = shared.wake.wait(st).unwrap_or_else(|e| e.into_inner());
                        st.idle -= 1;
                        st.signalled = st.signalled.saturating_sub(1);
                    }
                }
            }
        };
        // Counted as completed (above, in the same lock that took this job): hand over.
        if let Some(d) = deliver.take() {
            d();
        }
        call_on_start(started);
        let deadline = slot
            .tenant
            .max_duration
            .and_then(|d| Instant::now().checked_add(d));
        CURRENT.with(|c| *c.borrow_mut() = Some(Current { slot, deadline }));
        if let Some(hook) = &shared.hook {
            // A panicking hook must not kill the worker either; the job still runs.
            if std::panic::catch_unwind(AssertUnwindSafe(|| hook())).is_err() {
                tracing::error!("the aiofs pool hook panicked");
            }
        }
        // Jobs catch their own panics (see `run`/`spawn_detached`).
        deliver = Some(job());
        CURRENT.with(|c| *c.borrow_mut() = None);
    }
}

#[cfg(test)]
mod tests;
