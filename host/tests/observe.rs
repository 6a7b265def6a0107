//! The two exports of the counters that need process-wide state: the `metrics` facade
//! (a real Prometheus recorder installed globally) and `tracing` spans (a subscriber
//! that keeps every closed span's fields). Operations run on real files.

use aiofs_host::{AioFsCtx, ErrorCode, GrantQuota, Perms, Pool};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

fn store(rw: &std::path::Path, ro: &std::path::Path, label: &str) -> AioFsCtx {
    AioFsCtx::builder()
        .grant_with_quota(
            rw,
            "/rw",
            Perms::ReadWrite,
            GrantQuota {
                max_bytes_written: Some(100),
                ..GrantQuota::UNLIMITED
            },
        )
        .unwrap()
        .grant(ro, "/ro", Perms::ReadOnly)
        .unwrap()
        .label(label)
        .pool(Pool::new(2))
        .build()
}

async fn drive(ctx: &AioFsCtx) {
    let fs = ctx.fs();
    fs.write_file("/rw/a".into(), b"0123456789".to_vec(), false)
        .await
        .unwrap();
    assert_eq!(
        fs.read_file("/rw/a".into(), 1 << 20).await.unwrap().len(),
        10
    );
    let refused = fs.write_file("/ro/x".into(), b"no".to_vec(), false).await;
    assert_eq!(refused, Err(ErrorCode::ReadOnly));
    let refused = fs.write_file("/rw/b".into(), vec![0; 500], false).await;
    assert_eq!(refused, Err(ErrorCode::Quota));
}

/// The value of the one sample line starting with `series` (name and labels).
fn sample(text: &str, series: &str) -> f64 {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .collect();
    assert_eq!(lines.len(), 1, "{series} in\n{text}");
    lines[0][series.len() + 1..].trim().parse().unwrap()
}

#[test]
fn counters_reach_a_prometheus_recorder() {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .unwrap();
    let (rw, ro) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ctx = store(rw.path(), ro.path(), "prom");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(drive(&ctx));
    let text = handle.render();
    let s = |series: &str| sample(&text, series);
    let ops = |grant: &str, op: &str, result: &str| {
        s(&format!(
            "aiofs_ops_total{{store=\"prom\",grant=\"{grant}\",op=\"{op}\",result=\"{result}\"}}"
        ))
    };
    assert_eq!(ops("/rw", "write-file", "ok"), 1.0);
    assert_eq!(ops("/rw", "write-file", "quota"), 1.0);
    assert_eq!(ops("/rw", "read-file", "ok"), 1.0);
    assert_eq!(ops("/ro", "write-file", "read-only"), 1.0);
    assert_eq!(
        s("aiofs_refusals_total{store=\"prom\",grant=\"/ro\",code=\"read-only\",kind=\"denied\"}"),
        1.0
    );
    assert_eq!(
        s("aiofs_refusals_total{store=\"prom\",grant=\"/rw\",code=\"quota\",kind=\"limited\"}"),
        1.0
    );
    assert_eq!(
        s("aiofs_bytes_written_total{store=\"prom\",grant=\"/rw\"}"),
        10.0
    );
    assert_eq!(
        s("aiofs_bytes_read_total{store=\"prom\",grant=\"/rw\"}"),
        10.0
    );
    assert_eq!(
        s("aiofs_op_run_seconds_count{store=\"prom\",grant=\"/rw\",op=\"write-file\"}"),
        2.0
    );
    assert_eq!(
        s("aiofs_op_queued_seconds_count{store=\"prom\",grant=\"/rw\",op=\"read-file\"}"),
        1.0
    );
    // Gauges are the store's state after the last operation: nothing pending or held.
    assert_eq!(s("aiofs_pending_ops{store=\"prom\"}"), 0.0);
    assert_eq!(s("aiofs_open_handles{store=\"prom\"}"), 0.0);
    assert_eq!(s("aiofs_held_bytes{store=\"prom\"}"), 0.0);
    // A store built without metrics exports nothing.
    let quiet = AioFsCtx::builder()
        .grant(rw.path(), "/rw", Perms::ReadWrite)
        .unwrap()
        .label("quiet")
        .metrics(false)
        .build();
    rt.block_on(async { quiet.fs().stat("/rw/a".into(), true).await.unwrap() });
    assert!(!handle.render().contains("quiet"));
}

/// Every closed span: its name and recorded fields.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<BTreeMap<String, String>>>>);

struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
}

impl<S> Layer<S> for Spans
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields(BTreeMap::new());
        attrs.record(&mut fields);
        fields
            .0
            .insert("span".into(), attrs.metadata().name().into());
        fields
            .0
            .insert("target".into(), attrs.metadata().target().into());
        ctx.span(id).unwrap().extensions_mut().insert(fields);
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let span = ctx.span(id).unwrap();
        let mut ext = span.extensions_mut();
        values.record(ext.get_mut::<Fields>().unwrap());
    }
    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let span = ctx.span(&id).unwrap();
        let fields = span.extensions_mut().remove::<Fields>().unwrap();
        self.0.lock().unwrap().push(fields.0);
    }
}

#[test]
fn every_operation_is_one_span_with_its_outcome() {
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    let (rw, ro) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ctx = store(rw.path(), ro.path(), "traced");
    tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(drive(&ctx));
    });
    let got = spans.0.lock().unwrap().clone();
    let ops: Vec<_> = got
        .iter()
        .filter(|f| f["target"] == "aiofs" && f["span"] == "op")
        .collect();
    assert_eq!(ops.len(), 4, "{got:?}");
    let field = |i: usize, k: &str| ops[i].get(k).cloned().unwrap_or_default();
    let summary: Vec<_> = (0..4)
        .map(|i| {
            [
                field(i, "store"),
                field(i, "op"),
                field(i, "path"),
                field(i, "grant"),
                field(i, "bytes"),
                field(i, "code"),
            ]
        })
        .collect();
    assert_eq!(
        summary,
        [
            ["traced", "write-file", "/rw/a", "/rw", "10", "ok"],
            ["traced", "read-file", "/rw/a", "/rw", "10", "ok"],
            ["traced", "write-file", "/ro/x", "/ro", "0", "read-only"],
            ["traced", "write-file", "/rw/b", "/rw", "0", "quota"],
        ]
    );
    for i in 0..4 {
        let queued: u64 = field(i, "queued_us").parse().unwrap();
        let run: u64 = field(i, "run_us").parse().unwrap();
        assert!(queued < 60_000_000 && run < 60_000_000);
    }
}

/// A store given its own recorder exports there, whatever the process's global one is.
#[test]
fn a_store_exports_to_its_own_recorder() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let dir = tempfile::tempdir().unwrap();
    let own = AioFsCtx::builder()
        .grant(dir.path(), "/d", Perms::ReadWrite)
        .unwrap()
        .label("own")
        .metrics_recorder(Arc::new(recorder))
        .build();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let fs = own.fs();
        fs.write_file("/d/x".into(), b"abc".to_vec(), false)
            .await
            .unwrap();
        assert_eq!(fs.stat("/d/y".into(), true).await, Err(ErrorCode::NoEntry));
    });
    let text = handle.render();
    let s = |series: &str| sample(&text, series);
    assert_eq!(
        s("aiofs_ops_total{store=\"own\",grant=\"/d\",op=\"write-file\",result=\"ok\"}"),
        1.0
    );
    assert_eq!(
        s("aiofs_ops_total{store=\"own\",grant=\"/d\",op=\"stat\",result=\"no-entry\"}"),
        1.0
    );
    assert_eq!(
        s("aiofs_bytes_written_total{store=\"own\",grant=\"/d\"}"),
        3.0
    );
    assert_eq!(s("aiofs_open_handles{store=\"own\"}"), 0.0);
    assert!(!text.contains("store=\"prom\""), "{text}");
}
