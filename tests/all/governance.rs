//! Governance end to end: hostile guests against the limits on the guest itself
//! (`GuestLimits`: timeout, memory) and on what aiofs holds for it (the memory budget),
//! measured with the host's own accounting.

use aiofs_cli::{GuestLimits, GuestTimedOut, MemoryLimitExceeded};
use aiofs_host::{AioFsCtx, Limits, Perms, Pool};
use aiofs_tests::{HOSTILE, component, guest_io, run, runner};
use std::time::Duration;

fn ctx(root: &std::path::Path, limits: Limits) -> AioFsCtx {
    std::fs::create_dir_all(root.join("data")).unwrap();
    AioFsCtx::builder()
        .grant(root.join("data"), "/data", Perms::ReadWrite)
        .unwrap()
        .limits(limits)
        .pool(Pool::new(2))
        .build()
}

/// An endless loop that never calls the host is stopped by the timeout.
#[tokio::test(flavor = "multi_thread")]
async fn timeout_stops_an_endless_loop() {
    let tmp = tempfile::tempdir().unwrap();
    let limits = GuestLimits {
        timeout: Some(Duration::from_millis(300)),
        ..GuestLimits::default()
    };
    let err = runner()
        .run_limited(
            &component(HOSTILE),
            ctx(tmp.path(), Limits::default()),
            guest_io(&["spin"]),
            &limits,
        )
        .await
        .unwrap_err();
    assert!(err.downcast_ref::<GuestTimedOut>().is_some(), "{err:?}");
}

/// A guest growing its memory without end is stopped at the limit with a clear error.
#[tokio::test(flavor = "multi_thread")]
async fn memory_limit_stops_a_hog() {
    let tmp = tempfile::tempdir().unwrap();
    let limits = GuestLimits {
        max_memory: 64 << 20,
        ..GuestLimits::default()
    };
    let err = runner()
        .run_limited(
            &component(HOSTILE),
            ctx(tmp.path(), Limits::default()),
            guest_io(&["hog"]),
            &limits,
        )
        .await
        .unwrap_err();
    let hit = err
        .chain()
        .find_map(|e| e.downcast_ref::<MemoryLimitExceeded>())
        .unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!((hit.what, hit.limit), ("memory", 64 << 20));
    assert!(hit.wanted > 64 << 20);
}

/// 64 concurrent 3 MiB whole-file writes under a 4 MiB budget: whatever the guest's runtime
/// keeps in flight, the host never holds more than the budget, every write either lands
/// whole or is refused with `quota` (nothing partial), and every byte comes back. (That a
/// write that does not fit is refused at once, before it waits, is shown with the pool
/// held in `host/src/fs/governance_tests.rs`; here the guest's runtime decides how many
/// calls overlap, so the split between `ok` and `quota` is not fixed.)
#[tokio::test(flavor = "multi_thread")]
async fn write_flood_is_held_to_the_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let budget = 4 << 20;
    let ctx = ctx(
        tmp.path(),
        Limits {
            max_inflight_bytes: budget,
            ..Limits::default()
        },
    );
    let fs = ctx.fs().clone();
    let out = run(HOSTILE, ctx, &["write_flood", "64", "3145728"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.exit_code,
        0,
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, quota) = stdout.trim().split_once(' ').unwrap();
    let ok: usize = ok.trim_start_matches("ok=").parse().unwrap();
    let quota: usize = quota.trim_start_matches("quota=").parse().unwrap();
    assert_eq!(ok + quota, 64);
    for entry in std::fs::read_dir(tmp.path().join("data")).unwrap() {
        assert_eq!(entry.unwrap().metadata().unwrap().len(), 3 << 20);
    }
    let written = std::fs::read_dir(tmp.path().join("data")).unwrap().count();
    assert_eq!(written, ok);
    assert!(
        fs.peak_held_bytes() <= budget,
        "peak {}",
        fs.peak_held_bytes()
    );
    assert_eq!(fs.peak_held_bytes(), 3 << 20, "one payload at a time fits");
    assert_eq!(fs.held_bytes(), 0);
}

/// Streams hold open-handle slots: with four slots and one file open, three streams read
/// and the fourth is refused with `quota`; dropping them gives the slots back.
#[tokio::test(flavor = "multi_thread")]
async fn streams_count_as_open_handles() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = ctx(
        tmp.path(),
        Limits {
            max_open_files: 4,
            ..Limits::default()
        },
    );
    std::fs::write(tmp.path().join("data/src.bin"), vec![5u8; 1 << 20]).unwrap();
    let fs = ctx.fs().clone();
    let out = run(HOSTILE, ctx, &["stream_slots"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.exit_code,
        0,
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "streams=3\nagain=4096\n");
    aiofs_tests::wait_until("handles released", || fs.open_files() == 0).await;
    assert_eq!(fs.held_bytes(), 0);
}

/// A write stream moves the guest's bytes in chunks of at most `max_write_bytes` (as the
/// read side keeps to `max_read_bytes`): a 3 MiB stream under a 16 KiB per-call limit is
/// written whole, not refused with `quota` because one stream chunk was larger than one
/// write call may carry.
#[tokio::test(flavor = "multi_thread")]
async fn stream_chunks_keep_to_the_per_call_limits() {
    let sb = aiofs_tests::Sandbox::new();
    let limits = Limits {
        max_write_bytes: 16 << 10,
        max_read_bytes: 16 << 10,
        ..Limits::default()
    };
    let ctx = sb.ctx_with(limits, Pool::new(2));
    let fs = ctx.fs().clone();
    aiofs_tests::scenario(ctx, &["streams"]).await;
    let data = sb.read("data/stream.bin");
    assert_eq!(data.len(), 3 << 20);
    assert!(data.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
    assert_eq!(fs.held_bytes(), 0);
}
