//! The op wrapper: every guest operation runs inside one, which times it, learns its
//! grant as the path resolves, and on completion feeds the counters, the `metrics`
//! facade, its `tracing` span and the audit channel.

use super::rate::{RecordLimit, summarize};
use super::{Audit, AuditRecord, GrantCounters, OpKind};
use crate::error::{ErrorCode, FsResult};
use crate::grant::Budget;
use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tracing::Instrument;

/// What the running operation learned about itself on the way.
#[derive(Default)]
struct OpState {
    /// The grant it fell under, once a path resolved (or the file's grant).
    budget: Option<Arc<Budget>>,
    /// Time its work spent running on the pool.
    run: Duration,
}

tokio::task_local! {
    static CURRENT: RefCell<OpState>;
}

/// Whether the caller runs inside an operation (its time on the pool is counted).
pub(crate) fn in_op() -> bool {
    CURRENT.try_with(|_| ()).is_ok()
}

/// The current operation fell under the grant of `budget` (the first grant noted wins:
/// a two-path operation is counted under its source).
pub(crate) fn note_budget(budget: &Arc<Budget>) {
    let _ = CURRENT.try_with(|s| {
        let mut s = s.borrow_mut();
        if s.budget.is_none() {
            s.budget = Some(budget.clone());
        }
    });
}

/// The current operation's work ran on the pool for `d`.
pub(crate) fn note_run(d: Duration) {
    let _ = CURRENT.try_with(|s| s.borrow_mut().run += d);
}

/// Store-level observation settings and the counters of operations under no grant.
pub(crate) struct Obs {
    pub(crate) label: Arc<str>,
    pub(crate) audit: Option<Audit>,
    /// Operations whose path matched no grant.
    pub(crate) outside: GrantCounters,
    gauges: std::sync::OnceLock<StoreGauges>,
    /// The rate limit on this store's audit records and refusal events.
    limit: Arc<RecordLimit>,
}

/// `metrics` gauges of one store (and of the pool it runs on), set after each operation.
struct StoreGauges {
    pending: metrics::Gauge,
    open: metrics::Gauge,
    held: metrics::Gauge,
    pool_queued: metrics::Gauge,
    pool_running: metrics::Gauge,
    /// Operations finished, to sample the pool's gauges.
    finished: std::sync::atomic::AtomicU64,
}

/// The pool's gauges are set after every this many operations of a store (reading them
/// takes the pool's lock, which the small-operation path otherwise avoids).
const POOL_GAUGE_EVERY: u64 = 64;

impl StoreGauges {
    fn update(&self, fs: &crate::fs::Fs) {
        self.pending.set(fs.pending_ops() as f64);
        self.open.set(fs.open_files() as f64);
        self.held.set(fs.held_bytes() as f64);
        let n = self
            .finished
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n.is_multiple_of(POOL_GAUGE_EVERY) {
            let pool = fs.pool().stats();
            self.pool_queued.set(pool.queued as f64);
            self.pool_running.set(pool.running as f64);
        }
    }
}

impl std::fmt::Debug for Obs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Obs")
            .field("label", &self.label)
            .field("metrics", &self.gauges.get().is_some())
            .finish_non_exhaustive()
    }
}

impl Obs {
    pub(crate) fn new(
        label: Arc<str>,
        audit: Option<Audit>,
        metrics: bool,
        recorder: &super::counters::StoreRecorder,
    ) -> Obs {
        let outside = GrantCounters::default();
        outside.bind(&label, "", metrics, recorder);
        let gauges = std::sync::OnceLock::new();
        if metrics {
            let l = [("store", label.to_string())];
            let _ = gauges.set(super::counters::register(recorder, || StoreGauges {
                pending: metrics::gauge!("aiofs_pending_ops", &l),
                open: metrics::gauge!("aiofs_open_handles", &l),
                held: metrics::gauge!("aiofs_held_bytes", &l),
                pool_queued: metrics::gauge!("aiofs_pool_queued_jobs", &l),
                pool_running: metrics::gauge!("aiofs_pool_busy_threads", &l),
                finished: std::sync::atomic::AtomicU64::new(0),
            }));
        }
        let limit = Arc::new(RecordLimit::new(label.clone()));
        if let Some(audit) = &audit {
            audit.register(&limit);
        }
        Obs {
            label,
            audit,
            outside,
            gauges,
            limit,
        }
    }

    fn gauges(&self) -> Option<&StoreGauges> {
        self.gauges.get()
    }

    /// Operations whose record and event were suppressed past `max_audit_rate`.
    pub(crate) fn audit_suppressed(&self) -> u64 {
        self.limit.suppressed()
    }

    /// Take a token of the store's `max_audit_rate` bucket for a log event a guest can
    /// cause outside any operation (a dropped temporary directory that could not be
    /// removed): `false` if it is to be suppressed (counted as such). A pending summary
    /// of suppressed ones is emitted first, as for records.
    pub(crate) fn admit_event(&self, limits: &crate::limits::Limits) -> bool {
        let admit = self.limit.admit(
            self.limit.now(Instant::now()),
            limits.max_audit_rate,
            limits.max_audit_burst,
        );
        if let Some(n) = admit.summary {
            summarize(&self.label, self.audit.as_ref(), n);
        }
        admit.record
    }

    /// Freeze the clock of the store's audit rate limit at `at`; tests move it by hand.
    #[cfg(test)]
    pub(crate) fn set_audit_clock(&self, at: Instant) {
        self.limit.set_clock(at);
    }
}

impl Drop for Obs {
    /// Suppressed records not yet summarised are summarised as the store goes.
    fn drop(&mut self) {
        if let Some(n) = self.limit.take_pending() {
            summarize(&self.label, self.audit.as_ref(), n);
        }
    }
}

/// Bytes an operation's result carries, for its span.
pub(crate) trait Moved {
    fn moved(&self) -> u64 {
        0
    }
}
impl Moved for () {}
impl Moved for bool {}
impl Moved for u64 {
    fn moved(&self) -> u64 {
        *self
    }
}
impl Moved for String {
    fn moved(&self) -> u64 {
        self.len() as u64
    }
}
impl Moved for Vec<u8> {
    fn moved(&self) -> u64 {
        self.len() as u64
    }
}
impl Moved for Vec<String> {
    fn moved(&self) -> u64 {
        self.iter().map(|s| s.len() as u64).sum()
    }
}
impl Moved for Vec<Vec<u8>> {
    fn moved(&self) -> u64 {
        self.iter().map(|s| s.len() as u64).sum()
    }
}
impl<T, H> Moved for (T, H)
where
    T: Moved,
{
    fn moved(&self) -> u64 {
        self.0.moved()
    }
}
impl Moved for crate::fs::Stat {}
impl Moved for crate::fs::File {}
impl Moved for crate::fs::TempDir {}
impl Moved for crate::fs::Opened {}
impl Moved for Vec<crate::fs::DirEntry> {}

/// One guest operation about to run (see [`Fs::op`](crate::fs::Fs::op)).
pub(crate) struct Op<'a> {
    pub(crate) fs: &'a crate::fs::Fs,
    pub(crate) kind: OpKind,
    pub(crate) path: &'a str,
    pub(crate) target: Option<&'a str>,
    pub(crate) budget: Option<&'a Arc<Budget>>,
    /// Bytes the operation moves if it succeeds, when not carried by its result.
    pub(crate) bytes: Option<u64>,
    pub(crate) mutation: bool,
}

impl<'a> Op<'a> {
    /// The destination of a two-path operation.
    pub(crate) fn target(mut self, target: &'a str) -> Self {
        self.target = Some(target);
        self
    }

    /// The operation is on an open handle under the grant of `budget`.
    pub(crate) fn budget(mut self, budget: &'a Arc<Budget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Bytes moved on success (a write's payload).
    pub(crate) fn bytes(mut self, n: u64) -> Self {
        self.bytes = Some(n);
        self
    }

    /// Count a success as a mutation whatever the kind (an open for writing).
    pub(crate) fn mutation(mut self, yes: bool) -> Self {
        self.mutation |= yes;
        self
    }

    /// Run `fut` as this operation. Inside another operation (a composite that calls
    /// others), `fut` simply runs: it is part of the outer one.
    pub(crate) async fn run<T: Moved>(self, fut: impl Future<Output = FsResult<T>>) -> FsResult<T> {
        if in_op() {
            return fut.await;
        }
        let obs = self.fs.obs();
        // Paths are the guest's, unchecked yet: a span copies at most `max_path_len` of each.
        let max = self.fs.limits.max_path_len;
        let span = tracing::debug_span!(
            target: "aiofs",
            "op",
            store = %obs.label,
            op = self.kind.name(),
            path = cut(self.path, max),
            target = self.target.map(|t| cut(t, max)),
            grant = tracing::field::Empty,
            bytes = tracing::field::Empty,
            code = tracing::field::Empty,
            queued_us = tracing::field::Empty,
            run_us = tracing::field::Empty,
        );
        let start = Instant::now();
        let state = RefCell::new(OpState {
            budget: self.budget.cloned(),
            run: Duration::ZERO,
        });
        let (out, state) = CURRENT
            .scope(state, async {
                let out = fut.await;
                (out, CURRENT.with(|s| std::mem::take(&mut *s.borrow_mut())))
            })
            .instrument(span.clone())
            .await;
        let end = Instant::now();
        let queued = end
            .saturating_duration_since(start)
            .saturating_sub(state.run);
        let result = out.as_ref().map(drop).map_err(|e| *e);
        let bytes = match &out {
            Ok(v) => self.bytes.unwrap_or_else(|| v.moved()),
            Err(_) => 0,
        };
        self.finish(
            state.budget.as_ref(),
            result,
            bytes,
            (queued, state.run, end),
            &span,
        );
        out
    }

    fn finish(
        &self,
        budget: Option<&Arc<Budget>>,
        result: Result<(), ErrorCode>,
        bytes: u64,
        (queued, run, end): (Duration, Duration, Instant),
        span: &tracing::Span,
    ) {
        let obs = self.fs.obs();
        let counters = budget.map_or(&obs.outside, |b| b.counters());
        counters.record(self.kind, result, queued, run);
        let grant = counters.grant_label().filter(|g| !g.is_empty());
        if !span.is_disabled() {
            span.record("grant", grant.map(|g| &**g));
            span.record("bytes", bytes);
            span.record("code", result.err().map_or("ok", ErrorCode::name));
            span.record("queued_us", queued.as_micros() as u64);
            span.record("run_us", run.as_micros() as u64);
        }
        if let Some(gauges) = obs.gauges() {
            gauges.update(self.fs);
        }
        let refusal = result.err().and_then(|c| c.refusal().map(|r| (c, r)));
        let audit = obs.audit.as_ref().filter(|audit| match result {
            Err(_) => refusal.is_some(),
            Ok(()) => audit.records_mutations() && (self.mutation || self.kind.is_mutation()),
        });
        let event = refusal.filter(|_| tracing::enabled!(target: "aiofs", tracing::Level::INFO));
        if event.is_none() && audit.is_none() {
            return;
        }
        // Only a record or an event that someone reads pays for the rate limit's lock, and
        // only one let through pays for the absolute paths.
        let limits = &self.fs.limits;
        let admit = obs.limit.admit(
            obs.limit.now(end),
            limits.max_audit_rate,
            limits.max_audit_burst,
        );
        if let Some(n) = admit.summary {
            summarize(&obs.label, obs.audit.as_ref(), n);
        }
        if !admit.record {
            return;
        }
        let max = limits.max_path_len;
        let mut path = bounded(self.fs.guest_display(self.path), max);
        let mut target = self.target.map(|t| bounded(self.fs.guest_display(t), max));
        if let Some((code, refusal)) = event {
            tracing::info!(
                target: "aiofs",
                store = %obs.label,
                grant = grant.map(|g| &**g),
                op = self.kind.name(),
                // Debug-formatted: a guest's newline or escape code cannot forge a line.
                path = ?path,
                code = code.name(),
                "{} {}",
                self.kind.name(),
                refusal.name(),
            );
        }
        if let Some(audit) = audit {
            // A cut path was built by appending `…` and may hold twice its length: a record
            // waiting in the channel holds only what it shows.
            path.shrink_to_fit();
            if let Some(t) = &mut target {
                t.shrink_to_fit();
            }
            audit.send(AuditRecord {
                time: SystemTime::now(),
                store: obs.label.to_string(),
                grant: grant.map(|g| g.to_string()),
                op: self.kind.name(),
                path,
                target,
                code: result.err(),
                suppressed: 0,
            });
        }
    }
}

/// A displayed path of at most `max` bytes and a cut mark: under a directory's view a
/// path is shown under the view's mount path, which may itself be up to `max` bytes, so
/// what the guest sent (cut at `max`) could show at twice that. A longer one keeps its
/// first `max` bytes (on a character boundary) and ends in `…`.
fn bounded(mut path: String, max: usize) -> String {
    const MARK: &str = "…";
    if path.len() > max + MARK.len() {
        path.truncate(path.floor_char_boundary(max));
        path.push_str(MARK);
    }
    path
}

/// `path` cut to at most `max` bytes (on a character boundary).
fn cut(path: &str, max: usize) -> &str {
    &path[..path.floor_char_boundary(max)]
}
