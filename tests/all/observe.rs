//! Observing guests end to end: real components drive allowed and refused operations
//! through `aiofs:fs` (the `hostile` guest's cases) and `wasi:filesystem` (the `stdfs`
//! guest's cases); the store's counters, its audit records and `aiofs run --stats`'
//! table must say exactly what happened.

use aiofs_cli::{AUDIT_MAX_BYTES, AuditWriter, audit_warnings, stats_table};
use aiofs_host::obs::{Audit, AuditRecord, OpKind};
use aiofs_host::{AioFsCtx, ErrorCode, GrantQuota, Perms, Pool};
use aiofs_tests::{HOSTILE, STDFS, Sandbox, run};

/// Run `cases` (`op|arg|...`) in `guest` and return its stdout lines.
async fn cases(guest: &str, ctx: AioFsCtx, cases: &[&str]) -> Vec<String> {
    let mut args = vec!["cases"];
    args.extend_from_slice(cases);
    let out = run(guest, ctx, &args).await;
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.exit_code,
        0,
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().map(str::to_owned).collect()
}

fn ctx(sb: &Sandbox, label: &str, pool: Pool, audit: &Audit) -> AioFsCtx {
    AioFsCtx::builder()
        .grant_with_quota(
            sb.path("data"),
            "/data",
            Perms::ReadWrite,
            GrantQuota {
                max_bytes_written: Some(64),
                ..GrantQuota::UNLIMITED
            },
        )
        .unwrap()
        .grant(sb.path("ro"), "/ro", Perms::ReadOnly)
        .unwrap()
        .label(label)
        .audit(audit.clone())
        .pool(pool)
        .build()
}

fn brief(r: &AuditRecord) -> String {
    format!(
        "{} {} {}{} {} {}",
        r.grant.as_deref().unwrap_or("-"),
        r.op,
        r.path,
        r.target
            .as_deref()
            .map_or(String::new(), |t| format!(">{t}")),
        r.outcome(),
        r.code.map_or("-", ErrorCode::name),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_operations_are_counted_audited_and_tabled() {
    let sb = Sandbox::new();
    let (audit, rx) = Audit::channel_with_mutations(64);
    let store = ctx(&sb, "plugin", Pool::new(4), &audit);
    let fs = store.fs().clone();
    let big = "x".repeat(100);
    let big_case = format!("write|/data/big|{big}");
    let out = cases(
        HOSTILE,
        store.clone(),
        &[
            "write|/data/a|hello",
            "read|/data/a",
            "write|/ro/x|no",
            "read|/etc/passwd",
            &big_case,
            "stat|/data/missing",
            "mkdir|/data/d",
            "rename|/data/a|/data/d/b",
        ],
    )
    .await;
    assert_eq!(
        out,
        [
            "0 ok ",
            "1 ok hello",
            "2 err read-only",
            "3 err not-permitted",
            "4 err quota",
            "5 err no-entry",
            "6 ok ",
            "7 ok "
        ]
    );

    let stats = fs.stats();
    assert_eq!(stats.label, "plugin");
    let data = stats.grant("/data").unwrap();
    assert_eq!(data.op(OpKind::WriteFile), (2, 1));
    assert_eq!(data.op(OpKind::ReadFile), (1, 0));
    assert_eq!(data.op(OpKind::Stat), (1, 1));
    assert_eq!(data.op(OpKind::Mkdir), (1, 0));
    assert_eq!(data.op(OpKind::Rename), (1, 0));
    assert_eq!(data.total_ops(), 6);
    assert_eq!(
        data.errors,
        vec![(ErrorCode::NoEntry, 1), (ErrorCode::Quota, 1)]
    );
    assert_eq!((data.bytes_read, data.bytes_written), (5, 5));
    let ro = stats.grant("/ro").unwrap();
    assert_eq!(ro.op(OpKind::WriteFile), (1, 1));
    assert_eq!(ro.errors, vec![(ErrorCode::ReadOnly, 1)]);
    let outside = stats.grants.last().unwrap();
    assert_eq!(outside.guest_path, None);
    assert_eq!(outside.op(OpKind::ReadFile), (1, 1));
    assert_eq!(outside.errors, vec![(ErrorCode::NotPermitted, 1)]);

    // The same store through wasi:filesystem: `std::fs` writes count under the same
    // grants, as the same kinds, against the same budget.
    let out = cases(
        STDFS,
        store.clone(),
        &["write|/data/w|abc", "write|/ro/y|no", "read|/data/w"],
    )
    .await;
    assert_eq!(out, ["ok", "read-only", "=abc"]);
    let stats = fs.stats();
    let data = stats.grant("/data").unwrap();
    assert_eq!((data.bytes_read, data.bytes_written), (8, 8));
    assert_eq!(data.op(OpKind::Open), (2, 0));
    let ro = stats.grant("/ro").unwrap();
    assert_eq!(ro.op(OpKind::Open), (1, 1));
    assert_eq!(ro.errors, vec![(ErrorCode::ReadOnly, 2)]);
    assert_eq!(stats.pending_ops, 0);
    assert_eq!(stats.held_bytes, 0);

    let records: Vec<String> = rx.drain().iter().map(brief).collect();
    assert_eq!(
        records,
        [
            "/data write-file /data/a mutation -",
            "/ro write-file /ro/x denied read-only",
            "- read-file /etc/passwd denied not-permitted",
            "/data write-file /data/big limited quota",
            "/data mkdir /data/d mutation -",
            "/data rename /data/a>/data/d/b mutation -",
            "/data open /data/w mutation -",
            "/ro open /ro/y denied read-only",
        ]
    );
    assert_eq!(audit.dropped(), 0);

    let table = stats_table(&stats);
    let row = |prefix: &str| {
        table
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} row in\n{table}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let total = |g: &str| stats.grant(g).unwrap().total_ops().to_string();
    // grant, (rw), ops, failed, refused, read, unit, written, unit, ...
    let data_row = row("/data (rw)");
    assert_eq!(data_row[2], total("/data"));
    assert_eq!(data_row[4], "1", "{table}");
    assert_eq!(&data_row[5..9], ["8", "B", "8", "B"], "{table}");
    let ro_row = row("/ro (ro)");
    assert_eq!(ro_row[4], "2", "{table}");
    assert_eq!(row("(no grant)")[3], "1", "{table}");
    assert!(table.contains("  errors: read-only 2"), "{table}");
}

/// Two stores on one pool and one audit channel whose reader never reads: every refused
/// operation of both guests still returns at once, each store counts its own, and the
/// records that did not fit are counted as dropped.
#[tokio::test(flavor = "multi_thread")]
async fn a_stuck_audit_reader_stalls_no_store_sharing_a_pool() {
    let (sa, sb) = (Sandbox::new(), Sandbox::new());
    let pool = Pool::new(2);
    let (audit, rx) = Audit::channel(1);
    let (a, b) = (
        ctx(&sa, "a", pool.clone(), &audit),
        ctx(&sb, "b", pool.clone(), &audit),
    );
    let (fa, fb) = (a.fs().clone(), b.fs().clone());
    let denied: Vec<String> = (0..20).map(|i| format!("write|/ro/{i}|x")).collect();
    let denied: Vec<&str> = denied.iter().map(String::as_str).collect();
    let (ra, rb) = tokio::join!(cases(HOSTILE, a, &denied), cases(HOSTILE, b, &denied));
    for out in [ra, rb] {
        assert_eq!(out.len(), 20);
        assert!(out.iter().all(|l| l.ends_with("err read-only")), "{out:?}");
    }
    for fs in [&fa, &fb] {
        let ro = fs.stats();
        assert_eq!(ro.grant("/ro").unwrap().op(OpKind::WriteFile), (20, 20));
    }
    assert_eq!((audit.sent(), audit.dropped()), (1, 39));
    // The count is the channel's, whichever store dropped.
    assert_eq!(fa.stats().audit_dropped, 39);
    assert_eq!(rx.drain().len(), 1);
}

/// `aiofs run --audit FILE` writes what the channel carries, one JSON object per line.
#[tokio::test(flavor = "multi_thread")]
async fn audit_writer_writes_json_lines() {
    let sb = Sandbox::new();
    let file = sb.path("audit.jsonl");
    let (audit, writer) = AuditWriter::create(&file, false, AUDIT_MAX_BYTES).unwrap();
    let store = ctx(&sb, "writer", Pool::new(2), &audit);
    let out = cases(HOSTILE, store, &["write|/ro/x|no", "write|/data/ok|fine"]).await;
    assert_eq!(out, ["0 err read-only", "1 ok "]);
    let totals = writer.finish().unwrap();
    assert_eq!((totals.written, totals.dropped, totals.cut), (1, 0, 0));
    assert!(audit_warnings(&totals, 0).is_empty());
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0]["store"], "writer");
    assert_eq!(lines[0]["grant"], "/ro");
    assert_eq!(lines[0]["op"], "write-file");
    assert_eq!(lines[0]["path"], "/ro/x");
    assert_eq!(lines[0]["code"], "read-only");
    assert_eq!(lines[0]["outcome"], "denied");
}

/// The audit file stops at its size cap: records that would pass it are counted, not
/// written, and the last line says how many (the cap keeps room for it), so a guest
/// refused in a loop for hours cannot fill the operator's disk through `--audit`.
#[tokio::test(flavor = "multi_thread")]
async fn the_audit_file_stops_at_its_cap() {
    let sb = Sandbox::new();
    let file = sb.path("audit.jsonl");
    const MAX: u64 = 4096;
    let (audit, writer) = AuditWriter::create(&file, false, MAX).unwrap();
    let store = ctx(&sb, "capped", Pool::new(2), &audit);
    let refusals: Vec<String> = (0..40).map(|i| format!("write|/ro/{i:04}|no")).collect();
    let refusals: Vec<&str> = refusals.iter().map(String::as_str).collect();
    let out = cases(HOSTILE, store, &refusals).await;
    assert_eq!(out.len(), 40);
    assert!(out.iter().all(|l| l.ends_with("err read-only")), "{out:?}");
    let totals = writer.finish().unwrap();
    assert_eq!(totals.dropped, 0);
    assert_eq!(totals.written + totals.cut, 40);
    assert!(totals.written > 0 && totals.cut > 0, "{totals:?}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.len() as u64 <= MAX, "{} bytes", text.len());
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, totals.written + 1);
    // The records written are the first ones, in order; the cut line comes last.
    for (i, r) in lines[..lines.len() - 1].iter().enumerate() {
        assert_eq!(r["path"], format!("/ro/{i:04}"));
    }
    let last = &lines[lines.len() - 1];
    assert_eq!(
        (&last["op"], &last["outcome"]),
        (&"audit-cut".into(), &"cut".into())
    );
    assert_eq!(last["cut"], totals.cut);
    assert_eq!(last["max_bytes"], MAX);
    let warnings = audit_warnings(&totals, 0);
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].starts_with(&format!("{} audit records not written", totals.cut)));
}

/// A batch from a guest (one host call) runs its items in order, each failing on its own
/// under the same permissions and quotas, and each counted and audited as the single call
/// it stands for.
#[tokio::test(flavor = "multi_thread")]
async fn a_guest_batch_is_counted_item_by_item() {
    let sb = Sandbox::new();
    let (audit, rx) = Audit::channel(16);
    let store = ctx(&sb, "batcher", Pool::new(2), &audit);
    let fs = store.fs().clone();
    let out = cases(
        HOSTILE,
        store,
        &["batch|write:/data/b1:xyz|stat:/data/b1|write:/ro/b:no|exists:/data/none|read:/data/b1|mkdir:/data/bd|read:/etc/passwd|remove:/data/b1"],
    )
    .await;
    assert_eq!(
        out,
        ["0 ok ok;ok 3;err read-only;ok false;ok xyz;ok;err not-permitted;ok"]
    );
    assert!(sb.path("data/bd").is_dir());
    assert!(!sb.exists("data/b1"));
    assert!(!sb.exists("ro/b"));
    let stats = fs.stats();
    let data = stats.grant("/data").unwrap();
    for kind in [
        OpKind::WriteFile,
        OpKind::Stat,
        OpKind::Exists,
        OpKind::ReadFile,
        OpKind::Mkdir,
        OpKind::Remove,
    ] {
        assert_eq!(data.op(kind), (1, 0), "{kind:?}");
    }
    assert_eq!((data.bytes_written, data.bytes_read), (3, 3));
    assert_eq!(stats.grant("/ro").unwrap().op(OpKind::WriteFile), (1, 1));
    assert_eq!(stats.grants.last().unwrap().op(OpKind::ReadFile), (1, 1));
    let records: Vec<String> = rx.drain().iter().map(brief).collect();
    assert_eq!(
        records,
        [
            "/ro write-file /ro/b denied read-only",
            "- read-file /etc/passwd denied not-permitted",
        ]
    );
}
