//! Observability through the domain layer: exact counts, bytes and audit records for
//! allowed and refused operations on real files.

use super::trace_capture::{Capture, Sink, capture};
use super::*;
use crate::obs::{Audit, AuditRecord};
use std::fs as stdfs;
use std::time::Duration;

fn s(x: &str) -> String {
    x.to_owned()
}

/// A store with `/rw` (read-write, 100 bytes of write budget) and `/ro` (read-only) over
/// two temporary directories.
struct Two {
    _rw: tempfile::TempDir,
    ro: tempfile::TempDir,
    fs: Fs,
    /// Dropping the context would cancel the store's work.
    _ctx: crate::AioFsCtx,
}

fn two(label: &str, pool: Pool, audit: Option<Audit>) -> Two {
    two_limited(label, pool, audit, crate::limits::Limits::default())
}

fn two_limited(
    label: &str,
    pool: Pool,
    audit: Option<Audit>,
    limits: crate::limits::Limits,
) -> Two {
    let rw = tempfile::tempdir().unwrap();
    let ro = tempfile::tempdir().unwrap();
    let ctx = crate::AioFsCtx::builder()
        .grant_with_quota(
            rw.path(),
            "/rw",
            Perms::ReadWrite,
            GrantQuota {
                max_bytes_written: Some(100),
                ..GrantQuota::UNLIMITED
            },
        )
        .unwrap()
        .grant(ro.path(), "/ro", Perms::ReadOnly)
        .unwrap()
        .label(label)
        .limits(limits)
        .pool(pool);
    let ctx = match audit {
        Some(a) => ctx.audit(a),
        None => ctx,
    };
    let ctx = ctx.build();
    Two {
        fs: ctx.fs().clone(),
        _ctx: ctx,
        _rw: rw,
        ro,
    }
}

/// The mix of operations every test here drives: three successes that move bytes,
/// a refusal of each kind, an ordinary failure, and a handle's life.
async fn drive(fs: &Fs, round: u32) {
    fs.write_file(s("/rw/a"), b"0123456789".to_vec(), false)
        .await
        .unwrap();
    assert_eq!(fs.read_file(s("/rw/a"), 1 << 20).await.unwrap().len(), 10);
    assert_eq!(
        fs.write_file(s("/ro/x"), b"no".to_vec(), false).await,
        Err(ErrorCode::ReadOnly)
    );
    assert_eq!(
        fs.stat(s("/elsewhere/x"), true).await,
        Err(ErrorCode::NotPermitted)
    );
    assert_eq!(
        fs.write_file(s("/rw/b"), vec![1; 200], false).await,
        Err(ErrorCode::Quota)
    );
    assert_eq!(
        fs.stat(s("/rw/missing"), true).await,
        Err(ErrorCode::NoEntry)
    );
    let f = fs.open(s("/rw/a"), "rb").await.unwrap();
    assert_eq!(f.read(4).await.unwrap(), b"0123");
    f.close().await.unwrap();
    // Composite operations count once, as themselves.
    assert!(fs.exists(s("/ro")).await.unwrap());
    fs.mkdir(format!("/rw/d{round}")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_every_operation_under_its_grant() {
    let t = two("counts", Pool::new(2), None);
    stdfs::write(t.ro.path().join("r"), b"x").unwrap();
    drive(&t.fs, 0).await;
    let stats = t.fs.stats();
    assert_eq!(stats.label, "counts");
    assert_eq!(stats.grants.len(), 3, "/rw, /ro and no grant");

    let rw = stats.grant("/rw").unwrap();
    assert_eq!(rw.perms, Some(Perms::ReadWrite));
    assert_eq!(rw.op(OpKind::WriteFile), (2, 1));
    assert_eq!(rw.op(OpKind::ReadFile), (1, 0));
    assert_eq!(rw.op(OpKind::Stat), (1, 1));
    assert_eq!(rw.op(OpKind::Open), (1, 0));
    assert_eq!(rw.op(OpKind::Read), (1, 0));
    assert_eq!(rw.op(OpKind::Close), (1, 0));
    assert_eq!(rw.op(OpKind::Mkdir), (1, 0));
    assert_eq!(rw.total_ops(), 8);
    assert_eq!(
        rw.errors,
        vec![(ErrorCode::NoEntry, 1), (ErrorCode::Quota, 1)]
    );
    assert_eq!(rw.refusals(), 1);
    assert_eq!(rw.bytes_written, 10);
    assert_eq!(rw.bytes_read, 14);
    assert_eq!(rw.queued.count, 8);
    assert_eq!(rw.run.count, 8);
    // Seven of them ran on the pool (the quota refusal did not), so some time ran.
    assert!(rw.run.sum > Duration::ZERO);

    let ro = stats.grant("/ro").unwrap();
    assert_eq!(ro.op(OpKind::WriteFile), (1, 1));
    assert_eq!(ro.op(OpKind::Exists), (1, 0));
    assert_eq!(ro.errors, vec![(ErrorCode::ReadOnly, 1)]);
    assert_eq!(ro.bytes_written, 0);

    let outside = stats.grants.last().unwrap();
    assert_eq!(outside.guest_path, None);
    assert_eq!(outside.op(OpKind::Stat), (1, 1));
    assert_eq!(outside.errors, vec![(ErrorCode::NotPermitted, 1)]);

    assert_eq!(stats.total_ops(), 11);
    assert_eq!(stats.pending_ops, 0);
    assert_eq!(stats.open_handles, 0);
    assert_eq!(stats.held_bytes, 0);
}

fn brief(r: &AuditRecord) -> (String, Option<String>, &'static str, String, &'static str) {
    (
        r.store.clone(),
        r.grant.clone(),
        r.op,
        r.path.clone(),
        r.outcome(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_records_refusals_and_asked_for_mutations() {
    let (audit, rx) = Audit::channel(64);
    let t = two("plain", Pool::new(2), Some(audit.clone()));
    drive(&t.fs, 0).await;
    let got: Vec<_> = rx.drain().iter().map(brief).collect();
    let want = vec![
        (
            s("plain"),
            Some(s("/ro")),
            "write-file",
            s("/ro/x"),
            "denied",
        ),
        (s("plain"), None, "stat", s("/elsewhere/x"), "denied"),
        (
            s("plain"),
            Some(s("/rw")),
            "write-file",
            s("/rw/b"),
            "limited",
        ),
    ];
    assert_eq!(got, want);
    assert_eq!((audit.sent(), audit.dropped()), (3, 0));

    let (audit, rx) = Audit::channel_with_mutations(64);
    let t = two("muts", Pool::new(2), Some(audit));
    drive(&t.fs, 0).await;
    let got = rx.drain();
    let outcomes: Vec<_> = got.iter().map(|r| (r.op, r.outcome())).collect();
    assert_eq!(
        outcomes,
        vec![
            ("write-file", "mutation"),
            ("write-file", "denied"),
            ("stat", "denied"),
            ("write-file", "limited"),
            ("mkdir", "mutation"),
        ]
    );
    assert_eq!(got[1].code, Some(ErrorCode::ReadOnly));
    assert_eq!(got[3].code, Some(ErrorCode::Quota));
    let json: serde_json::Value = serde_json::from_str(&got[1].to_json()).unwrap();
    assert_eq!(json["store"], "muts");
    assert_eq!(json["grant"], "/ro");
    assert_eq!(json["op"], "write-file");
    assert_eq!(json["path"], "/ro/x");
    assert_eq!(json["code"], "read-only");
    assert_eq!(json["outcome"], "denied");
    assert!(json["time"].as_f64().unwrap() > 1.7e9);
}

/// A record never copies more of a path than `max_path_len`: a refused operation whose
/// paths were never checked (here the target of a rename whose source is refused first)
/// is recorded with them cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_cut_overlong_paths() {
    let (audit, rx) = Audit::channel(4);
    let t = two("cut", Pool::new(1), Some(audit));
    let long = format!("/rw/{}", "é".repeat(1 << 20));
    let max = crate::limits::Limits::default().max_path_len;
    assert_eq!(
        t.fs.rename(s("/elsewhere/x"), long.clone()).await,
        Err(ErrorCode::NotPermitted)
    );
    assert_eq!(
        t.fs.stat(long.clone(), true).await.map(drop),
        Err(ErrorCode::NameTooLong)
    );
    let got = rx.drain();
    let target = got[0].target.as_deref().unwrap();
    assert!(target.len() <= max + "…".len(), "{}", target.len());
    assert!(target.ends_with('…') && long.starts_with(target.trim_end_matches('…')));
    assert_eq!(got[0].path, "/elsewhere/x");
    for r in &got {
        assert!(r.path.len() <= max + "…".len());
    }
}

/// The copy an operation keeps for its records before the path is checked stops a few
/// bytes past `max_path_len`, and still shows as cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_copies_stop_past_the_path_limit() {
    let t = two("copy", Pool::new(1), None);
    let max = crate::limits::Limits::default().max_path_len;
    for unit in ["x", "é", "😀"] {
        let long = format!("/rw/{}", unit.repeat((8 << 20) / unit.len()));
        let copy = t.fs.record_copy(&long);
        assert!(copy.len() > max && copy.len() <= max + 4, "{}", copy.len());
        assert!(long.starts_with(&copy));
        assert!(t.fs.guest_display(&copy).ends_with('…'));
        let short = format!("/rw/{}", unit.repeat(10));
        assert_eq!(t.fs.record_copy(&short), short);
    }
    let long = format!("/rw/{}", "x".repeat(8 << 20));
    assert_eq!(
        t.fs.open(long.clone(), "rb").await.map(drop),
        Err(ErrorCode::NameTooLong)
    );
    assert_eq!(
        t.fs.symlink(long.clone(), s("/rw/l")).await,
        Err(ErrorCode::NameTooLong)
    );
    let options = TempOptions {
        dir: Some(long),
        ..TempOptions::default()
    };
    assert_eq!(
        t.fs.temporary_directory(options).await.map(drop),
        Err(ErrorCode::NameTooLong)
    );
}

/// The longest `path`/`target` field value, as a subscriber would print it, of every span
/// and event seen, and whether any printed one held a raw line break.
#[derive(Default)]
struct Fields {
    longest: std::sync::atomic::AtomicUsize,
    line_break: std::sync::atomic::AtomicBool,
}

impl tracing::field::Visit for &Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if matches!(field.name(), "path" | "target") {
            let shown = format!("{value:?}");
            self.longest.fetch_max(shown.len(), Ordering::Relaxed);
            if shown.contains('\n') {
                self.line_break.store(true, Ordering::Relaxed);
            }
        }
    }
}

impl Sink for Fields {
    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>) {
        attrs.record(&mut &*self);
    }
    fn on_event(&self, event: &tracing::Event<'_>) {
        event.record(&mut &*self);
    }
}

/// Spans and log events copy at most `max_path_len` of a guest's path, and print it
/// escaped, so a refused path can neither cost the host its length again nor forge a line.
#[tokio::test(flavor = "current_thread")]
async fn spans_and_events_cut_and_escape_paths() {
    let fields: &'static Fields = Box::leak(Box::default());
    let _capture = capture(fields);
    let t = two("spans", Pool::new(1), None);
    let max = crate::limits::Limits::default().max_path_len;
    let long = format!("/rw/{}", "x".repeat(4 << 20));
    assert_eq!(
        t.fs.stat(long.clone(), true).await.map(drop),
        Err(ErrorCode::NameTooLong)
    );
    assert_eq!(
        t.fs.rename(s("/rw/a"), long).await,
        Err(ErrorCode::NameTooLong)
    );
    let longest = fields.longest.load(Ordering::Relaxed);
    // Debug quotes and the `…` of an audit-style cut, at most.
    assert!(longest > max / 2 && longest <= max + 8, "{longest}");
    assert!(!fields.line_break.load(Ordering::Relaxed));
    // A refusal's INFO event: the guest's line break stays escaped.
    assert_eq!(
        t.fs.stat(s("/elsewhere/x\nFORGED aiofs: op"), true)
            .await
            .map(drop),
        Err(ErrorCode::NotPermitted)
    );
    assert!(!fields.line_break.load(Ordering::Relaxed));
    assert!(fields.longest.load(Ordering::Relaxed) <= max + 8);
}

/// A reader that never reads costs the guest nothing: every refusal returns at once and
/// the records that do not fit are counted as dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_audit_reader_never_blocks_the_store() {
    let (audit, rx) = Audit::channel(2);
    let t = two("stuck", Pool::new(2), Some(audit.clone()));
    for i in 0..50 {
        assert_eq!(
            t.fs.write_file(format!("/ro/{i}"), vec![1], false).await,
            Err(ErrorCode::ReadOnly)
        );
    }
    assert_eq!((audit.sent(), audit.dropped()), (2, 48));
    assert_eq!(t.fs.stats().audit_dropped, 48);
    assert_eq!(
        t.fs.stats().grant("/ro").unwrap().op(OpKind::WriteFile),
        (50, 50)
    );
    // The two that fit are the first two, intact.
    let got = rx.drain();
    assert_eq!(got.len(), 2);
    assert_eq!(
        (got[0].path.as_str(), got[1].path.as_str()),
        ("/ro/0", "/ro/1")
    );
    // After close, the reader ends even though the store still holds the sender.
    audit.close();
    assert!(rx.recv().is_none());
}

/// Two stores on one pool and one audit channel: each counts its own operations, and
/// each record names its store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_sharing_a_pool_count_apart() {
    let pool = Pool::new(2);
    let (audit, rx) = Audit::channel(64);
    let a = two("a", pool.clone(), Some(audit.clone()));
    let b = two("b", pool.clone(), Some(audit));
    let (fa, fb) = (a.fs.clone(), b.fs.clone());
    let ta = tokio::spawn(async move { drive(&fa, 0).await });
    let tb = tokio::spawn(async move {
        drive(&fb, 0).await;
        drive(&fb, 1).await;
    });
    ta.await.unwrap();
    tb.await.unwrap();
    assert_eq!(a.fs.stats().total_ops(), 11);
    assert_eq!(b.fs.stats().total_ops(), 22);
    assert_eq!(
        b.fs.stats().grant("/rw").unwrap().op(OpKind::WriteFile),
        (4, 2)
    );
    let recs = rx.drain();
    let count = |store: &str| recs.iter().filter(|r| r.store == store).count();
    assert_eq!((count("a"), count("b")), (3, 6));
}

/// Operations through the `wasi:filesystem` entry points (`open-at`, `rename-to`,
/// positional reads and writes) count under the grant of the directory they start from,
/// as the same kinds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descriptor_operations_count_as_the_same_kinds() {
    let t = two("wasi", Pool::new(2), None);
    let roots = t.fs.grant_roots();
    let rw = &roots[0];
    let req = OpenRequest {
        read: true,
        write: true,
        create: true,
        ..OpenRequest::default()
    };
    let Opened::File(f) = rw.fs().open_at(s("f"), req).await.unwrap() else {
        panic!("a file")
    };
    assert_eq!(f.write_at(Some(0), b"abcdef".to_vec()).await.unwrap(), 6);
    assert_eq!(f.read_at(2, 10).await.unwrap(), b"cdef");
    rw.fs().rename_to(s("f"), rw.fs(), s("g")).await.unwrap();
    let stats = t.fs.stats();
    let g = stats.grant("/rw").unwrap();
    assert_eq!(g.op(OpKind::Open), (1, 0));
    assert_eq!(g.op(OpKind::Write), (1, 0));
    assert_eq!(g.op(OpKind::Read), (1, 0));
    assert_eq!(g.op(OpKind::Rename), (1, 0));
    assert_eq!((g.bytes_written, g.bytes_read), (6, 4));
}

/// A batch's items are counted, refused and audited one by one, as the single calls
/// they stand for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_items_count_as_their_operations() {
    use crate::fs::batch::BatchOp;
    let (audit, rx) = Audit::channel(16);
    let t = two("batch", Pool::new(2), Some(audit));
    let out =
        t.fs.batch(vec![
            BatchOp::WriteFile {
                path: s("/rw/f"),
                data: b"abc".to_vec(),
            },
            BatchOp::Stat(s("/rw/f")),
            BatchOp::WriteFile {
                path: s("/ro/f"),
                data: b"no".to_vec(),
            },
            BatchOp::Exists(s("/rw/nothing")),
        ])
        .await
        .unwrap();
    assert_eq!(out.len(), 4);
    assert_eq!(out[2], Err(ErrorCode::ReadOnly));
    let stats = t.fs.stats();
    let rw = stats.grant("/rw").unwrap();
    assert_eq!(rw.op(OpKind::WriteFile), (1, 0));
    assert_eq!(rw.op(OpKind::Stat), (1, 0));
    assert_eq!(rw.op(OpKind::Exists), (1, 0));
    assert_eq!(rw.bytes_written, 3);
    assert_eq!(stats.grant("/ro").unwrap().op(OpKind::WriteFile), (1, 1));
    let recs = rx.drain();
    assert_eq!(recs.len(), 1);
    assert_eq!((recs[0].op, recs[0].path.as_str()), ("write-file", "/ro/f"));
}

/// Limits with the audit rate limit set to `rate` a second and a bucket of `burst`.
fn audit_rate(rate: u32, burst: u32) -> crate::limits::Limits {
    crate::limits::Limits {
        max_audit_rate: rate,
        max_audit_burst: burst,
        ..crate::limits::Limits::default()
    }
}

/// A path under no grant, about 4 KiB long (refused at once, without a pool trip).
fn nowhere(i: usize) -> String {
    let p = format!("/nope/{i}/");
    format!("{p}{}", "j".repeat(4096 - p.len()))
}

/// The `aiofs` INFO events of one store seen: refusal events, and the counts summary
/// events carried.
struct Infos {
    store: &'static str,
    refusals: std::sync::atomic::AtomicU64,
    summaries: std::sync::Mutex<Vec<u64>>,
}

/// An event's `store` and `suppressed` fields.
#[derive(Default)]
struct InfoFields {
    store: String,
    suppressed: Option<u64>,
}

impl tracing::field::Visit for InfoFields {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if field.name() == "suppressed" {
            self.suppressed = Some(value);
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "store" {
            self.store = format!("{value:?}");
        }
    }
}

impl Sink for Infos {
    fn on_event(&self, event: &tracing::Event<'_>) {
        let meta = event.metadata();
        if meta.target() != "aiofs" || *meta.level() != tracing::Level::INFO {
            return;
        }
        let mut fields = InfoFields::default();
        event.record(&mut fields);
        if fields.store != self.store {
            return;
        }
        match fields.suppressed {
            Some(n) => self.summaries.lock().unwrap().push(n),
            None => {
                self.refusals.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Capture the `aiofs` INFO events of `store` on this thread (see [`trace_capture`]).
fn capture_infos(store: &'static str) -> (&'static Infos, Capture) {
    let infos: &'static Infos = Box::leak(Box::new(Infos {
        store,
        refusals: Default::default(),
        summaries: Default::default(),
    }));
    (infos, capture(infos))
}

/// A guest looping a refused `stat` with a 4 KiB path gets exactly `max_audit_burst`
/// records and refusal events when no tokens come back (rate 0); every other one is
/// suppressed and counted, and closing the channel sends the one summary that says so.
#[tokio::test(flavor = "current_thread")]
async fn refusal_floods_stop_at_the_burst_and_are_counted() {
    let (infos, _default) = capture_infos("flood");
    let (audit, rx) = Audit::channel(64);
    let t = two_limited(
        "flood",
        Pool::new(1),
        Some(audit.clone()),
        audit_rate(0, 10),
    );
    let n = 20_000;
    for i in 0..n {
        assert_eq!(
            t.fs.stat(nowhere(i), true).await.map(drop),
            Err(ErrorCode::NotPermitted)
        );
    }
    let got = rx.drain();
    assert_eq!(got.len(), 10);
    for (i, r) in got.iter().enumerate() {
        assert_eq!((r.op, r.outcome(), r.suppressed), ("stat", "denied", 0));
        assert_eq!(r.path, nowhere(i));
    }
    assert_eq!(infos.refusals.load(Ordering::Relaxed), 10);
    assert!(infos.summaries.lock().unwrap().is_empty());
    let stats = t.fs.stats();
    assert_eq!(stats.audit_suppressed, n as u64 - 10);
    assert_eq!(stats.audit_dropped, 0);
    // Every refusal is still counted.
    assert_eq!(
        stats.grants.last().unwrap().op(OpKind::Stat),
        (n as u64, n as u64)
    );
    assert_eq!((audit.sent(), audit.dropped()), (10, 0));

    // No token ever comes back: closing the channel says what was cut.
    audit.close();
    let summary = rx.recv().unwrap();
    assert_eq!(
        (summary.op, summary.outcome(), summary.suppressed),
        ("suppressed", "suppressed", n as u64 - 10)
    );
    assert_eq!(
        (summary.store.as_str(), summary.grant.as_deref()),
        ("flood", None)
    );
    let json: serde_json::Value = serde_json::from_str(&summary.to_json()).unwrap();
    assert_eq!(json["suppressed"], n as u64 - 10);
    assert_eq!(json["outcome"], "suppressed");
    assert!(rx.recv().is_none());
    assert_eq!(*infos.summaries.lock().unwrap(), vec![n as u64 - 10]);
    // Ordinary records carry no `suppressed` key.
    let json: serde_json::Value = serde_json::from_str(&got[0].to_json()).unwrap();
    assert!(json.get("suppressed").is_none());
}

/// With the rate limit's clock held by hand: the burst goes through, the rest is
/// suppressed; one token back is not enough for a summary and a record, two are, and the
/// summary comes first with the exact count; a long idle refills only the burst; dropping
/// the store summarises what is left.
#[tokio::test(flavor = "current_thread")]
async fn a_summary_record_follows_once_tokens_return() {
    use std::time::Instant;
    let (infos, _default) = capture_infos("summary");
    let (audit, rx) = Audit::channel(64);
    let t = two_limited("summary", Pool::new(1), Some(audit), audit_rate(1000, 5));
    let t0 = Instant::now();
    t.fs.obs().set_audit_clock(t0);
    let refuse = |i: usize| {
        let fs = t.fs.clone();
        async move {
            assert_eq!(
                fs.write_file(format!("/ro/{i}"), vec![1], false).await,
                Err(ErrorCode::ReadOnly)
            );
        }
    };
    for i in 0..25 {
        refuse(i).await;
    }
    let got = rx.drain();
    assert_eq!(got.len(), 5);
    assert_eq!(got[4].path, "/ro/4");
    assert_eq!(t.fs.stats().audit_suppressed, 20);

    // 1 ms at 1000/s: one token, and a summary needs its own.
    t.fs.obs().set_audit_clock(t0 + Duration::from_millis(1));
    refuse(25).await;
    assert!(rx.drain().is_empty());
    t.fs.obs().set_audit_clock(t0 + Duration::from_millis(2));
    refuse(26).await;
    let got = rx.drain();
    let got: Vec<_> = got
        .iter()
        .map(|r| (r.op, r.path.as_str(), r.suppressed))
        .collect();
    assert_eq!(
        got,
        vec![("suppressed", "", 21), ("write-file", "/ro/26", 0)]
    );
    assert_eq!(*infos.summaries.lock().unwrap(), vec![21]);
    assert_eq!(infos.refusals.load(Ordering::Relaxed), 6);

    // A minute idle holds the burst, not 60 000 tokens.
    t.fs.obs().set_audit_clock(t0 + Duration::from_secs(60));
    for i in 100..107 {
        refuse(i).await;
    }
    let got = rx.drain();
    assert_eq!(got.len(), 5, "{got:?}");
    assert!(got.iter().all(|r| r.suppressed == 0));
    assert_eq!(t.fs.stats().audit_suppressed, 21 + 2);

    // The store goes: its last two are summarised.
    drop(t);
    let got = rx.drain();
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].op, got[0].suppressed), ("suppressed", 2));
    assert_eq!(*infos.summaries.lock().unwrap(), vec![21, 2]);
}

/// Recorded successful mutations take tokens from the same bucket as refusals: a guest
/// looping a cheap mutation is cut at the same bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutation_records_share_the_bucket() {
    let (audit, rx) = Audit::channel_with_mutations(64);
    let t = two_limited("muts", Pool::new(2), Some(audit.clone()), audit_rate(0, 4));
    for i in 0..6 {
        t.fs.mkdir(format!("/rw/d{i}")).await.unwrap();
    }
    assert_eq!(
        t.fs.write_file(s("/ro/x"), vec![1], false).await,
        Err(ErrorCode::ReadOnly)
    );
    // Operations that make no record take no token.
    for _ in 0..10 {
        assert!(t.fs.exists(s("/rw/d0")).await.unwrap());
    }
    let got: Vec<_> = rx.drain().iter().map(|r| (r.op, r.path.clone())).collect();
    let want: Vec<_> = (0..4).map(|i| ("mkdir", format!("/rw/d{i}"))).collect();
    assert_eq!(got, want);
    assert_eq!(t.fs.stats().audit_suppressed, 3);
    audit.close();
    assert_eq!(rx.recv().map(|r| r.suppressed), Some(3));
}

/// A draining reader under 100 000 refusals at host-call speed, at the default rate and
/// burst on the real clock: it receives at most the burst plus the rate over the time the
/// flood took (plus the one summary on close), and every refusal is either recorded,
/// dropped or summarised as suppressed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_reader_sees_at_most_the_rate() {
    let (audit, rx) = Audit::channel(4096);
    let reader = std::thread::spawn(move || {
        let (mut records, mut summarised, mut summaries) = (0u64, 0u64, 0u64);
        while let Some(r) = rx.recv() {
            if r.suppressed > 0 {
                summarised += r.suppressed;
                summaries += 1;
            } else {
                records += 1;
            }
        }
        (records, summarised, summaries)
    });
    let limits = crate::limits::Limits::default();
    let (rate, burst) = (limits.max_audit_rate, limits.max_audit_burst);
    let t = two_limited("drain", Pool::new(1), Some(audit.clone()), limits);
    let n = 100_000u64;
    let start = std::time::Instant::now();
    for i in 0..n {
        assert_eq!(
            t.fs.stat(nowhere(i as usize), true).await.map(drop),
            Err(ErrorCode::NotPermitted)
        );
    }
    let elapsed = start.elapsed();
    let suppressed = t.fs.stats().audit_suppressed;
    audit.close();
    let (records, summarised, summaries) = reader.join().unwrap();
    let dropped = audit.dropped();
    // Each refusal was let through (then received or dropped as the channel was full) or
    // suppressed.
    assert!(records <= n - suppressed && records + dropped >= n - suppressed);
    if dropped == 0 {
        assert_eq!(records, n - suppressed);
        assert_eq!(summarised, suppressed);
    }
    let allowed = u64::from(burst) + (f64::from(rate) * elapsed.as_secs_f64()).ceil() as u64;
    assert!(
        records + summaries <= allowed + 1,
        "{records} records and {summaries} summaries in {elapsed:?}"
    );
    assert!(suppressed > 0 && suppressed < n);
}
