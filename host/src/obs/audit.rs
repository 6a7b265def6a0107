//! The audit channel: a structured record of every refused operation (and, if asked, of
//! every successful mutation), delivered without ever making a guest wait, at most
//! `Limits::max_audit_rate` a second per store (see `rate.rs`).

use super::rate::{RecordLimit, summarize};
use crate::error::ErrorCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

/// One audited operation, or a summary of suppressed ones (op `suppressed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// When it finished.
    pub time: SystemTime,
    /// The store's label ([`AioFsCtxBuilder::label`](crate::AioFsCtxBuilder::label)).
    pub store: String,
    /// The guest mount path of the grant it fell under; `None` if it matched no grant.
    pub grant: Option<String>,
    /// What it was ([`OpKind::name`](super::OpKind::name)).
    pub op: &'static str,
    /// The guest path as the guest gave it (relative to the directory for
    /// `wasi:filesystem`'s `*-at` calls); empty for operations on an open handle
    /// without a name.
    pub path: String,
    /// The second path of a two-path operation (`rename`, `link`, `symlink`,
    /// `copy-file`): the destination.
    pub target: Option<String>,
    /// The failure code, `None` for a successful mutation.
    pub code: Option<ErrorCode>,
    /// For a summary record (op and outcome `suppressed`, no grant, empty path): how many
    /// operations of the store had their records and refusal events suppressed since its
    /// last record, past `Limits::max_audit_rate`. `0` for every other record.
    pub suppressed: u64,
}

impl AuditRecord {
    /// `denied`, `limited`, `mutation` (a successful change) or `suppressed` (a summary).
    pub fn outcome(&self) -> &'static str {
        if self.suppressed > 0 {
            return "suppressed";
        }
        match self.code.and_then(ErrorCode::refusal) {
            Some(r) => r.name(),
            None if self.code.is_none() => "mutation",
            None => "failed",
        }
    }

    /// The record as one line of JSON (no trailing newline): `time` (seconds since the
    /// Unix epoch, with fractions), `store`, `grant`, `op`, `path`, `target`, `outcome`,
    /// `code`; a summary record adds `suppressed`.
    pub fn to_json(&self) -> String {
        let time = self
            .time
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut json = serde_json::json!({
            "time": time,
            "store": self.store,
            "grant": self.grant,
            "op": self.op,
            "path": self.path,
            "target": self.target,
            "outcome": self.outcome(),
            "code": self.code.map(ErrorCode::name),
        });
        if self.suppressed > 0 {
            json["suppressed"] = self.suppressed.into();
        }
        json.to_string()
    }
}

/// The sending side of an audit channel, registered on stores with
/// [`AioFsCtxBuilder::audit`](crate::AioFsCtxBuilder::audit). Cheap to clone; one channel
/// may serve many stores (each record names its store).
///
/// Sending never blocks: when the channel is full the record is dropped and counted
/// ([`Audit::dropped`]), so a slow or stuck reader costs guests nothing. Each store sends
/// at most `Limits::max_audit_rate` records a second (past it they are suppressed, counted
/// in `StoreStats::audit_suppressed`, and summarised by a record with op `suppressed`).
///
/// Unread records are held in memory: at most `capacity` of them, each at most two paths
/// cut at `max_path_len` (about 8 KiB at the defaults) plus the labels.
#[derive(Clone)]
pub struct Audit {
    inner: Arc<Inner>,
}

struct Inner {
    tx: Mutex<Option<SyncSender<AuditRecord>>>,
    mutations: bool,
    sent: AtomicU64,
    dropped: AtomicU64,
    /// The rate limits of the stores sending here, so `close` can summarise what they
    /// suppressed and not yet said.
    stores: Mutex<Vec<Weak<RecordLimit>>>,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit")
            .field("mutations", &self.inner.mutations)
            .field("sent", &self.sent())
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl Audit {
    /// A channel holding up to `capacity` unread records (at least 1), recording refusals
    /// only.
    pub fn channel(capacity: usize) -> (Audit, AuditReceiver) {
        Audit::build(capacity, false)
    }

    /// Like [`channel`](Audit::channel), also recording every successful mutation
    /// (see [`OpKind::is_mutation`](super::OpKind::is_mutation)).
    pub fn channel_with_mutations(capacity: usize) -> (Audit, AuditReceiver) {
        Audit::build(capacity, true)
    }

    fn build(capacity: usize, mutations: bool) -> (Audit, AuditReceiver) {
        let (tx, rx) = std::sync::mpsc::sync_channel(capacity.max(1));
        let audit = Audit {
            inner: Arc::new(Inner {
                tx: Mutex::new(Some(tx)),
                mutations,
                sent: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                stores: Mutex::default(),
            }),
        };
        (audit, AuditReceiver { rx })
    }

    /// Whether successful mutations are recorded too.
    pub fn records_mutations(&self) -> bool {
        self.inner.mutations
    }

    /// Records handed to the channel.
    pub fn sent(&self) -> u64 {
        self.inner.sent.load(Ordering::Relaxed)
    }

    /// Records dropped because the channel was full.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Stop sending: the reader sees the end of the channel once it has read what was
    /// sent, even while stores holding this `Audit` live on. A store that suppressed
    /// records since its last summary (`Limits::max_audit_rate`) sends that summary first.
    /// Later records are dropped silently (not counted).
    pub fn close(&self) {
        let stores: Vec<_> = self
            .inner
            .stores
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for limit in stores {
            if let Some(n) = limit.take_pending() {
                summarize(limit.store(), Some(self), n);
            }
        }
        self.inner
            .tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    /// A store sending here rate-limits its records with `limit`.
    pub(crate) fn register(&self, limit: &Arc<RecordLimit>) {
        let mut stores = self.inner.stores.lock().unwrap_or_else(|e| e.into_inner());
        stores.retain(|w| w.strong_count() > 0);
        stores.push(Arc::downgrade(limit));
    }

    /// Hand `record` over without waiting.
    pub(crate) fn send(&self, record: AuditRecord) {
        let tx = self.inner.tx.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = tx.as_ref() else { return };
        match tx.try_send(record) {
            Ok(()) => {
                self.inner.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_)) => {
                self.inner.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// The reading side of an audit channel. It ends when every [`Audit`] clone is dropped
/// or [`Audit::close`] is called.
#[derive(Debug)]
pub struct AuditReceiver {
    rx: Receiver<AuditRecord>,
}

impl AuditReceiver {
    /// Wait for the next record; `None` once the channel has ended.
    pub fn recv(&self) -> Option<AuditRecord> {
        self.rx.recv().ok()
    }

    /// Wait up to `timeout`: `Ok(None)` if nothing came, `Err(())` once ended.
    #[allow(clippy::result_unit_err, reason = "the only error is the end")]
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<AuditRecord>, ()> {
        match self.rx.recv_timeout(timeout) {
            Ok(r) => Ok(Some(r)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(()),
        }
    }

    /// The next record if one is waiting.
    pub fn try_recv(&self) -> Option<AuditRecord> {
        self.rx.try_recv().ok()
    }

    /// Every record waiting now.
    pub fn drain(&self) -> Vec<AuditRecord> {
        std::iter::from_fn(|| self.try_recv()).collect()
    }
}
