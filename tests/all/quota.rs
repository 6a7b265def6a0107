//! Limits and per-grant budgets, end to end: the `hostile` guest pushes on each one until
//! it answers, and the host checks the counters and the disk afterwards.

use aiofs_host::{AioFsCtx, GrantQuota, Limits, Perms, Pool};
use aiofs_tests::{Gate, HOSTILE, pooled, run, wait_until};

/// `/data` (read-write, with `quota`) and `/free` (read-write, no budget).
fn ctx(root: &std::path::Path, quota: GrantQuota, limits: Limits, pool: Pool) -> AioFsCtx {
    for d in ["data", "free"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    AioFsCtx::builder()
        .grant_with_quota(root.join("data"), "/data", Perms::ReadWrite, quota)
        .unwrap()
        .grant(root.join("free"), "/free", Perms::ReadWrite)
        .unwrap()
        .limits(limits)
        .pool(pool)
        .build()
}

fn stdout_of(out: &aiofs_cli::RunOutcome) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.exit_code,
        0,
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Every grant budget answers at its limit (bytes written, bytes read, file size,
/// creations) through files, streams and whole-file calls; the unbudgeted grant is not
/// affected; the usage the host reports matches.
#[tokio::test(flavor = "multi_thread")]
async fn grant_budgets() {
    let tmp = tempfile::tempdir().unwrap();
    let quota = GrantQuota {
        max_bytes_written: Some(4000),
        max_bytes_read: Some(1024),
        max_file_size: Some(1000),
        max_created: Some(5),
    };
    let ctx = ctx(tmp.path(), quota, Limits::default(), Pool::new(2));
    let fs = ctx.fs().clone();
    stdout_of(&run(HOSTILE, ctx, &["quota_io"]).await);
    let usage = fs.grant_usage();
    assert_eq!(usage[0].guest_path, "/data");
    assert_eq!(usage[0].bytes_written, 4000);
    assert_eq!(usage[0].bytes_read, 1024);
    assert_eq!(usage[0].created, 5);
    assert_eq!(usage[1].bytes_written, 5000);
    assert_eq!(usage[1].bytes_read, 5000);
    let data = tmp.path().join("data");
    let mut names: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["a.bin", "d", "w0", "w1", "w2"]);
    for name in ["a.bin", "w0", "w1", "w2"] {
        let len = std::fs::metadata(data.join(name)).unwrap().len();
        assert!(len <= 1000, "{name} is {len} bytes");
    }
    assert_eq!(std::fs::read(data.join("w0")).unwrap(), vec![5; 400]);
}

/// A guest opening handles in a loop meets `max_open_files`, and every slot comes back:
/// closing and dropping in a tight loop (20× the limit) never runs out.
#[tokio::test(flavor = "multi_thread")]
async fn open_handles_in_a_loop() {
    let tmp = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_open_files: 16,
        ..Limits::default()
    };
    let pool = Pool::new(2);
    let ctx = ctx(tmp.path(), GrantQuota::UNLIMITED, limits, pool.clone());
    let fs = ctx.fs().clone();
    let stdout = stdout_of(&run(HOSTILE, ctx, &["open_loop"]).await);
    assert_eq!(stdout, "held=16\nreopened=320\n");
    pool.run_for(fs.tenant(), || ()).await.unwrap();
    wait_until("handles released", || fs.open_files() == 0).await;
}

/// Temporary directories are handles: a guest making them in a loop meets the same cap,
/// and the directories are gone once the guest is.
#[tokio::test(flavor = "multi_thread")]
async fn temporary_directories_in_a_loop() {
    let tmp = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_open_files: 8,
        ..Limits::default()
    };
    let pool = Pool::new(2);
    let ctx = ctx(tmp.path(), GrantQuota::UNLIMITED, limits, pool.clone());
    let fs = ctx.fs().clone();
    let stdout = stdout_of(&run(HOSTILE, ctx, &["temp_loop"]).await);
    assert_eq!(stdout, "temp_dirs=8\n");
    wait_until("temporary directories removed", || {
        fs.open_files() == 0
            && std::fs::read_dir(tmp.path().join("data"))
                .unwrap()
                .next()
                .is_none()
    })
    .await;
}

/// A guest issuing 64 operations at once, round after round, never has more than
/// `max_pending_ops` queued or running: the excess fails with `quota` at once, every
/// round. The first round is held on a gate so it is exact.
#[tokio::test(flavor = "multi_thread")]
async fn operations_in_a_loop() {
    let tmp = tempfile::tempdir().unwrap();
    let limits = pooled(Limits {
        max_pending_ops: 8,
        ..Limits::default()
    });
    let gate = Gate::default();
    let pool = Pool::with_hook(2, Some(gate.hook()));
    let ctx = ctx(tmp.path(), GrantQuota::UNLIMITED, limits, pool.clone());
    let fs = ctx.fs().clone();
    let guest = tokio::spawn(async move { run(HOSTILE, ctx, &["ops_loop", "64"]).await });
    wait_until("the cap is full", || fs.pending_ops() == 8).await;
    gate.open();
    let stdout = stdout_of(&guest.await.unwrap());
    let rounds: Vec<(usize, usize)> = stdout
        .lines()
        .map(|l| {
            let nums: Vec<usize> = l
                .split(' ')
                .skip(1)
                .map(|kv| kv.split_once('=').unwrap().1.parse().unwrap())
                .collect();
            (nums[0], nums[1])
        })
        .collect();
    assert_eq!(rounds.len(), 5, "{stdout}");
    for (ok, quota) in &rounds {
        assert_eq!(ok + quota, 64, "{stdout}");
        assert!(*ok >= 8, "{stdout}");
    }
    let s = pool.stats();
    assert!(s.peak_running <= 2 && s.peak_queued <= 8, "{s:?}");
    assert_eq!(fs.pending_ops(), 0);
}
