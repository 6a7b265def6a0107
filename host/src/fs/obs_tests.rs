//! Observability through the domain layer: exact counts, bytes and audit records for
//! allowed and refused operations on real files.

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

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for &'static Fields {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        attrs.record(&mut &**self);
    }
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        event.record(&mut &**self);
    }
}

/// Spans and log events copy at most `max_path_len` of a guest's path, and print it
/// escaped, so a refused path can neither cost the host its length again nor forge a line.
#[tokio::test(flavor = "current_thread")]
async fn spans_and_events_cut_and_escape_paths() {
    use tracing_subscriber::layer::SubscriberExt;
    let fields: &'static Fields = Box::leak(Box::default());
    let subscriber = tracing_subscriber::registry().with(fields);
    let _default = tracing::subscriber::set_default(subscriber);
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
