//! The rate limit on a store's audit records and refusal events: one token bucket per
//! store (`Limits::max_audit_rate` tokens a second, at most `Limits::max_audit_burst`
//! held, full at the start).
//!
//! Refusals are answered at once, without a pool trip, so a guest looping a refused call
//! could otherwise make a record and a log event every microsecond: an audit file growing
//! at disk speed, a full audit channel pushing real records out. Each operation that would
//! be recorded or logged takes one token; without one, its record and event are suppressed
//! and counted. The first operation that finds two tokens after a suppression spends one
//! on a summary (a record with op `suppressed` and an `INFO` event, both carrying the
//! count) and one on its own record, so a cut always shows in the log, and summaries count
//! against the same rate. A count still pending when the store is dropped or its audit
//! channel is closed is summarised then, whatever the tokens.
//!
//! Only operations that produce a record or an event reach the bucket; it reads no clock
//! of its own (the caller passes the instant its operation ended, which it reads anyway).

use super::{Audit, AuditRecord};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

/// Bucket units in one token: one per nanosecond at a rate of one token a second, so the
/// refill is exact integer arithmetic.
const UNIT: u128 = 1_000_000_000;

/// What the bucket decided for one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Admit {
    /// Emit a summary of this many suppressed operations first.
    pub(crate) summary: Option<u64>,
    /// Emit the operation's own record and event.
    pub(crate) record: bool,
}

#[derive(Debug)]
struct Bucket {
    /// Tokens held, in [`UNIT`]s.
    units: u128,
    /// When `units` was last brought up to date; `None` before the first use (full).
    last: Option<Instant>,
    /// Operations suppressed since the last summary.
    pending: u64,
}

/// One store's bucket, and its count of suppressed operations.
#[derive(Debug)]
pub(crate) struct RecordLimit {
    store: Arc<str>,
    bucket: Mutex<Bucket>,
    /// Operations whose record or event was suppressed, over the store's life.
    suppressed: AtomicU64,
    /// A clock tests set and move by hand (`None`: the caller's instant).
    #[cfg(test)]
    clock: Mutex<Option<Instant>>,
}

impl RecordLimit {
    pub(crate) fn new(store: Arc<str>) -> RecordLimit {
        RecordLimit {
            store,
            bucket: Mutex::new(Bucket {
                units: 0,
                last: None,
                pending: 0,
            }),
            suppressed: AtomicU64::new(0),
            #[cfg(test)]
            clock: Mutex::new(None),
        }
    }

    /// The store's label.
    pub(crate) fn store(&self) -> &Arc<str> {
        &self.store
    }

    /// Operations whose record or event was suppressed so far.
    pub(crate) fn suppressed(&self) -> u64 {
        self.suppressed.load(Ordering::Relaxed)
    }

    /// The instant the bucket should see for an operation that ended at `real`.
    pub(crate) fn now(&self, real: Instant) -> Instant {
        #[cfg(test)]
        if let Some(t) = *self.clock.lock().unwrap_or_else(|e| e.into_inner()) {
            return t;
        }
        real
    }

    /// Freeze the bucket's clock at `at` (tests move it by hand from then on).
    #[cfg(test)]
    pub(crate) fn set_clock(&self, at: Instant) {
        *self.clock.lock().unwrap_or_else(|e| e.into_inner()) = Some(at);
    }

    /// Take a token for an operation that ended at `now`, refilling at `rate` tokens a
    /// second up to `burst`.
    pub(crate) fn admit(&self, now: Instant, rate: u32, burst: u32) -> Admit {
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let cap = u128::from(burst) * UNIT;
        b.units = match b.last {
            None => cap,
            Some(last) => {
                let ns = now.saturating_duration_since(last).as_nanos();
                b.units
                    .saturating_add(ns.saturating_mul(u128::from(rate)))
                    .min(cap)
            }
        };
        // Callers race to the lock with their own instants: time never runs backwards.
        b.last = Some(b.last.map_or(now, |last| last.max(now)));
        let need = if b.pending > 0 { 2 * UNIT } else { UNIT };
        if b.units >= need {
            b.units -= need;
            let summary = (b.pending > 0).then_some(b.pending);
            b.pending = 0;
            return Admit {
                summary,
                record: true,
            };
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        if b.pending > 0 && burst < 2 && b.units >= UNIT {
            // A bucket of one token never holds two: the summary alone, this one pending.
            b.units -= UNIT;
            let n = std::mem::replace(&mut b.pending, 1);
            return Admit {
                summary: Some(n),
                record: false,
            };
        }
        b.pending += 1;
        Admit {
            summary: None,
            record: false,
        }
    }

    /// The count of suppressed operations not yet summarised, taken (the store or its
    /// audit channel is going away: it is summarised whatever the tokens).
    pub(crate) fn take_pending(&self) -> Option<u64> {
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let n = std::mem::take(&mut b.pending);
        (n > 0).then_some(n)
    }
}

/// Say that `n` operations of `store` had their records and events suppressed: an `INFO`
/// event, and a summary record to `audit`.
pub(crate) fn summarize(store: &Arc<str>, audit: Option<&Audit>, n: u64) {
    tracing::info!(
        target: "aiofs",
        store = %store,
        suppressed = n,
        "{n} audit records and refusal events suppressed (max_audit_rate)",
    );
    if let Some(audit) = audit {
        audit.send(AuditRecord {
            time: SystemTime::now(),
            store: store.to_string(),
            grant: None,
            op: "suppressed",
            path: String::new(),
            target: None,
            code: None,
            suppressed: n,
        });
    }
}
