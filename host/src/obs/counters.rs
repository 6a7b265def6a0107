//! The live counters of one grant, and their export through the `metrics` facade.

use super::OpKind;
use crate::error::ErrorCode;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

const KINDS: usize = OpKind::ALL.len();
const CODES: usize = ErrorCode::ALL.len();

/// Exact buckets for the smallest durations (0..8 ns).
const EXACT: usize = 8;
/// Powers of two covered above them (8 ns up to ~18 minutes).
const EXPONENTS: usize = 38;
/// Sub-buckets per power of two (so a bucket is at most 25% wide).
const SUB: usize = 4;
const BUCKETS: usize = EXACT + EXPONENTS * SUB;

/// A lock-free log-linear histogram of durations.
struct Hist {
    buckets: [AtomicU64; BUCKETS],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Default for Hist {
    fn default() -> Self {
        Hist {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
        }
    }
}

/// The bucket of `ns`: exact below 8, then four buckets per power of two.
fn bucket(ns: u64) -> usize {
    if ns < EXACT as u64 {
        return ns as usize;
    }
    let exp = 63 - ns.leading_zeros() as usize; // >= 3
    let sub = ((ns >> (exp - 2)) & 3) as usize;
    (EXACT + (exp - 3) * SUB + sub).min(BUCKETS - 1)
}

/// The smallest duration that falls above bucket `i`.
fn bucket_end(i: usize) -> u64 {
    if i < EXACT {
        return i as u64 + 1;
    }
    let (exp, sub) = (3 + (i - EXACT) / SUB, ((i - EXACT) % SUB) as u64);
    (SUB as u64 + sub + 1) << (exp - 2)
}

impl Hist {
    fn record(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket(ns)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
            count: self.count.load(Ordering::Relaxed),
            sum: Duration::from_nanos(self.sum_ns.load(Ordering::Relaxed)),
        }
    }
}

/// A snapshot of a duration histogram (buckets at most 25% wide).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HistogramSnapshot {
    buckets: Vec<u64>,
    /// Durations recorded.
    pub count: u64,
    /// Their sum.
    pub sum: Duration,
}

impl HistogramSnapshot {
    /// The duration below which a fraction `q` (0..=1) of the recorded ones fall, rounded
    /// up to its bucket's end; zero when nothing was recorded.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Duration::from_nanos(bucket_end(i));
            }
        }
        Duration::from_nanos(bucket_end(BUCKETS - 1))
    }

    /// The mean duration.
    pub fn mean(&self) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let ns = u64::try_from(self.sum.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(ns / self.count)
    }
}

/// A store's own `metrics` recorder (see
/// [`AioFsCtxBuilder::metrics_recorder`](crate::AioFsCtxBuilder::metrics_recorder)).
#[derive(Clone, Default)]
pub(crate) struct StoreRecorder(pub(crate) Option<Arc<dyn metrics::Recorder + Send + Sync>>);

impl std::fmt::Debug for StoreRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "own" } else { "global" })
    }
}

/// Register a handle with the store's recorder, else with the process's.
pub(crate) fn register<T>(recorder: &StoreRecorder, f: impl FnOnce() -> T) -> T {
    match &recorder.0 {
        Some(r) => metrics::with_local_recorder(&**r, f),
        None => f(),
    }
}

/// `metrics` handles of one kind of operation under one grant.
struct KindMetrics {
    ok: metrics::Counter,
    queued: metrics::Histogram,
    run: metrics::Histogram,
}

/// `metrics` handles of one grant, registered on first use.
struct GrantMetrics {
    recorder: StoreRecorder,
    store: Arc<str>,
    grant: Arc<str>,
    kinds: [OnceLock<KindMetrics>; KINDS],
    /// Failures by kind and code (a rare path: a map behind a lock).
    failed: Mutex<HashMap<(usize, usize), metrics::Counter>>,
    bytes_read: metrics::Counter,
    bytes_written: metrics::Counter,
}

impl GrantMetrics {
    fn new(recorder: StoreRecorder, store: Arc<str>, grant: Arc<str>) -> GrantMetrics {
        let labels = [("store", store.to_string()), ("grant", grant.to_string())];
        let (bytes_read, bytes_written) = register(&recorder, || {
            (
                metrics::counter!("aiofs_bytes_read_total", &labels),
                metrics::counter!("aiofs_bytes_written_total", &labels),
            )
        });
        GrantMetrics {
            recorder,
            bytes_read,
            bytes_written,
            store,
            grant,
            kinds: std::array::from_fn(|_| OnceLock::new()),
            failed: Mutex::default(),
        }
    }

    fn labels(&self, op: OpKind) -> [(&'static str, String); 3] {
        [
            ("store", self.store.to_string()),
            ("grant", self.grant.to_string()),
            ("op", op.name().to_owned()),
        ]
    }

    fn kind(&self, op: OpKind) -> &KindMetrics {
        self.kinds[op as usize].get_or_init(|| {
            let [store, grant, opl] = self.labels(op);
            let ok = [
                store.clone(),
                grant.clone(),
                opl.clone(),
                ("result", "ok".into()),
            ];
            let l = [store, grant, opl];
            register(&self.recorder, || KindMetrics {
                ok: metrics::counter!("aiofs_ops_total", &ok),
                queued: metrics::histogram!("aiofs_op_queued_seconds", &l),
                run: metrics::histogram!("aiofs_op_run_seconds", &l),
            })
        })
    }

    fn failed(&self, op: OpKind, code: ErrorCode) {
        let mut map = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        map.entry((op as usize, code as usize))
            .or_insert_with(|| {
                let [store, grant, opl] = self.labels(op);
                let l = [store, grant, opl, ("result", code.name().to_owned())];
                register(&self.recorder, || metrics::counter!("aiofs_ops_total", &l))
            })
            .increment(1);
        drop(map);
        if let Some(refusal) = code.refusal() {
            let l = [
                ("store", self.store.to_string()),
                ("grant", self.grant.to_string()),
                ("code", code.name().to_owned()),
                ("kind", refusal.name().to_owned()),
            ];
            register(&self.recorder, || {
                metrics::counter!("aiofs_refusals_total", &l)
            })
            .increment(1);
        }
    }
}

/// The live counters of one grant of one store. They live in the grant's
/// [`Budget`](crate::grant::Budget), beside its quota counters, and every surface and
/// view of the grant shares them.
pub(crate) struct GrantCounters {
    /// `(store label, grant label)`, bound when the store is built.
    names: OnceLock<(Arc<str>, Arc<str>)>,
    ops: [AtomicU64; KINDS],
    failed: [AtomicU64; KINDS],
    codes: [AtomicU64; CODES],
    queued: Hist,
    run: Hist,
    metrics: OnceLock<GrantMetrics>,
}

impl Default for GrantCounters {
    fn default() -> Self {
        GrantCounters {
            names: OnceLock::new(),
            ops: std::array::from_fn(|_| AtomicU64::new(0)),
            failed: std::array::from_fn(|_| AtomicU64::new(0)),
            codes: std::array::from_fn(|_| AtomicU64::new(0)),
            queued: Hist::default(),
            run: Hist::default(),
            metrics: OnceLock::new(),
        }
    }
}

impl std::fmt::Debug for GrantCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantCounters")
            .field("names", &self.names.get())
            .finish_non_exhaustive()
    }
}

impl GrantCounters {
    /// Name the counters (once; a view of the grant shares them already named) and, with
    /// `metrics`, export them through the `metrics` facade from now on.
    pub(crate) fn bind(
        &self,
        store: &Arc<str>,
        grant: &str,
        metrics: bool,
        recorder: &StoreRecorder,
    ) {
        let (store, grant) = self.names.get_or_init(|| (store.clone(), Arc::from(grant)));
        if metrics {
            self.metrics
                .get_or_init(|| GrantMetrics::new(recorder.clone(), store.clone(), grant.clone()));
        }
    }

    /// The grant's label (its guest mount path), once bound.
    pub(crate) fn grant_label(&self) -> Option<&Arc<str>> {
        self.names.get().map(|(_, g)| g)
    }

    /// Count one finished operation.
    pub(crate) fn record(
        &self,
        op: OpKind,
        result: Result<(), ErrorCode>,
        queued: Duration,
        run: Duration,
    ) {
        self.ops[op as usize].fetch_add(1, Ordering::Relaxed);
        if let Err(code) = result {
            self.failed[op as usize].fetch_add(1, Ordering::Relaxed);
            self.codes[code as usize].fetch_add(1, Ordering::Relaxed);
        }
        self.queued.record(queued);
        self.run.record(run);
        if let Some(m) = self.metrics.get() {
            let k = m.kind(op);
            match result {
                Ok(()) => k.ok.increment(1),
                Err(code) => m.failed(op, code),
            }
            k.queued.record(queued.as_secs_f64());
            k.run.record(run.as_secs_f64());
        }
    }

    /// Export bytes the grant's quota counters just settled.
    pub(crate) fn settled(&self, read: bool, bytes: u64) {
        if let Some(m) = self.metrics.get()
            && bytes > 0
        {
            if read {
                m.bytes_read.increment(bytes);
            } else {
                m.bytes_written.increment(bytes);
            }
        }
    }

    /// Snapshot (without the byte counts, which the budget adds).
    pub(crate) fn snapshot(&self, guest_path: Option<String>) -> super::GrantStats {
        let ops = OpKind::ALL
            .iter()
            .map(|&op| super::OpCount {
                op,
                total: self.ops[op as usize].load(Ordering::Relaxed),
                failed: self.failed[op as usize].load(Ordering::Relaxed),
            })
            .filter(|c| c.total > 0)
            .collect();
        let errors = ErrorCode::ALL
            .iter()
            .map(|&c| (c, self.codes[c as usize].load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect();
        super::GrantStats {
            guest_path,
            perms: None,
            ops,
            errors,
            bytes_read: 0,
            bytes_written: 0,
            queued: self.queued.snapshot(),
            run: self.run.snapshot(),
        }
    }
}

#[cfg(test)]
pub(super) fn bucket_bounds_hold() {
    for ns in (0..5000u64).chain([1 << 20, (1 << 20) + 1, 3 << 30, u64::MAX / 2]) {
        let i = bucket(ns);
        assert!(ns < bucket_end(i) || i == BUCKETS - 1, "{ns} in {i}");
        if i > 0 && i < BUCKETS - 1 {
            assert!(ns >= bucket_end(i - 1), "{ns} in {i}");
        }
    }
}
