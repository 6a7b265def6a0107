//! Governance end to end: hostile guests against the limits on the guest itself
//! (`GuestLimits`: timeout, memory) and on what aiofs holds for it (the memory budget),
//! measured with the host's own accounting.

use aiofs_cli::{GuestLimits, GuestTimedOut, MemoryLimitExceeded, RunIo};
use aiofs_host::{AioFsCtx, Limits, Perms, Pool};
use aiofs_tests::{HOSTILE, component, run, runner};
use std::time::Duration;

fn io(args: &[&str]) -> RunIo {
    RunIo {
        args: std::iter::once("guest")
            .chain(args.iter().copied())
            .map(String::from)
            .collect(),
        env: Vec::new(),
        capture_output: true,
    }
}

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
            io(&["spin"]),
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
            io(&["hog"]),
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

/// 64 concurrent 1 MiB writes, on one handle (they wait for the file) and on 64 handles
/// (they wait for the pool), under an 8 MiB budget: the host never holds more than the
/// budget, the writes that did not fit got `quota` at once, and everything comes back.
#[tokio::test(flavor = "multi_thread")]
async fn write_flood_is_held_to_the_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let budget = 8 << 20;
    let ctx = ctx(
        tmp.path(),
        Limits {
            max_inflight_bytes: budget,
            ..Limits::default()
        },
    );
    let fs = ctx.fs().clone();
    let out = run(HOSTILE, ctx, &["write_flood", "64", "1048576"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.exit_code,
        0,
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counts: Vec<(u64, u64)> = stdout
        .lines()
        .map(|l| {
            let (ok, quota) = l.split_once(": ").unwrap().1.split_once(' ').unwrap();
            (
                ok.trim_start_matches("ok=").parse().unwrap(),
                quota.trim_start_matches("quota=").parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(counts.len(), 2);
    for (ok, quota) in &counts {
        assert_eq!(ok + quota, 64);
        assert!(*ok >= 1 && *quota >= 1, "{stdout}");
    }
    let flood = std::fs::metadata(tmp.path().join("data/flood.bin"))
        .unwrap()
        .len();
    assert_eq!(flood, counts[0].0 << 20);
    assert!(
        fs.peak_held_bytes() <= budget,
        "peak {}",
        fs.peak_held_bytes()
    );
    assert!(fs.peak_held_bytes() >= 1 << 20);
    assert_eq!(fs.held_bytes(), 0);
}
