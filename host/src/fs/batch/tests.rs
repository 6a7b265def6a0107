//! Batches against real temporary directories: per-item results, the same checks and
//! budgets as single operations, the limits checked before anything is queued, one pool
//! job per batch.

use super::super::tests::{Env, gated_pool, pooled, s};
use super::*;
use crate::fs::FileType;
use crate::limits::Limits;
use crate::pool::Pool;

fn limits(f: impl FnOnce(&mut Limits)) -> Limits {
    let mut l = Limits::default();
    f(&mut l);
    l
}

fn code<T: std::fmt::Debug>(r: &FsResult<T>) -> ErrorCode {
    *r.as_ref().expect_err("expected an error")
}

/// Every kind of item, in order, each failing on its own; later items see what earlier
/// ones did; the disk ends as the items say.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_run_in_order_and_fail_on_their_own() {
    let env = Env::new();
    env.put("data/a.txt", "hello");
    let out = env
        .fs
        .batch(vec![
            BatchOp::Stat(s("/data/a.txt")),
            BatchOp::Exists(s("/data/missing")),
            BatchOp::ReadFile {
                path: s("/data/a.txt"),
                max: u64::MAX,
            },
            BatchOp::ReadFile {
                path: s("/data/a.txt"),
                max: 4,
            },
            BatchOp::Mkdir(s("/data/d")),
            BatchOp::Makedirs {
                path: s("/data/d/e/f"),
                exist_ok: false,
            },
            BatchOp::WriteFile {
                path: s("/data/d/e/f/new"),
                data: b"written".to_vec(),
            },
            BatchOp::Rename {
                src: s("/data/a.txt"),
                dst: s("/data/d/moved"),
            },
            BatchOp::IsFile(s("/data/d/moved")),
            BatchOp::IsDir(s("/data/d/e")),
            BatchOp::Remove(s("/data/missing")),
            BatchOp::Stat(s("/data/../outside/secret")),
            BatchOp::WriteFile {
                path: s("/ro/x"),
                data: b"no".to_vec(),
            },
            BatchOp::Lstat(s("/data/d")),
            BatchOp::Rmdir(s("/data/d/e/f")),
            BatchOp::Remove(s("/data/d/e/f/new")),
            BatchOp::Rmdir(s("/data/d/e/f")),
        ])
        .await
        .unwrap();
    assert_eq!(out.len(), 17);
    match &out[0] {
        Ok(BatchOutcome::Stat(st)) => {
            assert_eq!((st.file_type, st.size), (FileType::RegularFile, 5))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(out[1], Ok(BatchOutcome::Flag(false)));
    assert_eq!(out[2], Ok(BatchOutcome::Data(b"hello".to_vec())));
    assert_eq!(code(&out[3]), ErrorCode::FileTooLarge);
    assert_eq!(out[4], Ok(BatchOutcome::Done));
    assert_eq!(out[5], Ok(BatchOutcome::Done));
    assert_eq!(out[6], Ok(BatchOutcome::Done));
    assert_eq!(out[7], Ok(BatchOutcome::Done));
    assert_eq!(out[8], Ok(BatchOutcome::Flag(true)));
    assert_eq!(out[9], Ok(BatchOutcome::Flag(true)));
    assert_eq!(code(&out[10]), ErrorCode::NoEntry);
    assert_eq!(code(&out[11]), ErrorCode::NotPermitted);
    assert_eq!(code(&out[12]), ErrorCode::ReadOnly);
    assert!(matches!(&out[13], Ok(BatchOutcome::Stat(st)) if st.file_type == FileType::Directory));
    assert_eq!(code(&out[14]), ErrorCode::NotEmpty);
    assert_eq!(out[15], Ok(BatchOutcome::Done));
    assert_eq!(out[16], Ok(BatchOutcome::Done));
    assert_eq!(env.get("data/d/moved").as_deref(), Some("hello"));
    assert!(!env.host("data/a.txt").exists());
    assert!(!env.host("data/d/e/f").exists());
    assert!(!env.host("ro/x").exists());
    assert_eq!(env.fs.pending_ops(), 0);
    assert_eq!(env.fs.held_bytes(), 0);
}

/// A whole batch is one pool job, however many items it has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pool_job_per_batch() {
    let env = Env::with(Limits::default(), Pool::new(2));
    for i in 0..50 {
        env.put(&format!("data/f{i}"), "x");
    }
    let before = env.fs.pool().stats().completed;
    let ops = (0..100)
        .map(|i| BatchOp::Exists(format!("/data/f{i}")))
        .collect();
    let out = env.fs.batch(ops).await.unwrap();
    let found = out
        .iter()
        .filter(|r| **r == Ok(BatchOutcome::Flag(true)))
        .count();
    assert_eq!(found, 50);
    assert_eq!(env.fs.pool().stats().completed - before, 1);
}

/// Past `max_batch_items` or `max_batch_bytes` the call fails with `quota` before
/// anything is queued or done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_checked_before_queuing() {
    let env = Env::with(
        limits(|l| {
            l.max_batch_items = 3;
            l.max_batch_bytes = 64;
        }),
        Pool::new(1),
    );
    let mkdirs = |n: usize| {
        (0..n)
            .map(|i| BatchOp::Mkdir(format!("/data/m{i}")))
            .collect()
    };
    assert_eq!(env.fs.batch(mkdirs(4)).await, Err(ErrorCode::Quota));
    let big = vec![BatchOp::WriteFile {
        path: s("/data/w"),
        data: vec![1; 60],
    }];
    assert_eq!(env.fs.batch(big).await, Err(ErrorCode::Quota));
    let st = env.fs.pool().stats();
    assert_eq!((st.completed, st.cancelled), (0, 0), "nothing was queued");
    assert!(!env.host("data/m0").exists() && !env.host("data/w").exists());
    // Exactly at the limits it runs.
    let out = env.fs.batch(mkdirs(3)).await.unwrap();
    assert!(out.iter().all(|r| *r == Ok(BatchOutcome::Done)));
    assert_eq!(env.fs.pending_ops(), 0);
}

/// `read-file` results count against `max_batch_bytes`: an item that would go past it
/// fails with `quota`, the items before and after it still run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_results_count_against_the_batch_bytes() {
    let env = Env::with(limits(|l| l.max_batch_bytes = 100), Pool::new(1));
    env.put("data/forty", &"4".repeat(40));
    let read = |max| BatchOp::ReadFile {
        path: s("/data/forty"),
        max,
    };
    // 11 bytes of paths in, 40 + 40 out; the third read would make 131.
    let out = env
        .fs
        .batch(vec![
            read(u64::MAX),
            read(u64::MAX),
            read(u64::MAX),
            read(10),
        ])
        .await
        .unwrap();
    assert_eq!(
        out[0].as_ref().unwrap(),
        &BatchOutcome::Data(vec![b'4'; 40])
    );
    assert_eq!(
        out[1].as_ref().unwrap(),
        &BatchOutcome::Data(vec![b'4'; 40])
    );
    assert_eq!(code(&out[2]), ErrorCode::Quota);
    assert_eq!(
        code(&out[3]),
        ErrorCode::FileTooLarge,
        "the caller's own max"
    );
    assert_eq!(env.fs.held_bytes(), 0);
}

/// Items take pending-operation slots like single operations: a batch runs under
/// `max_pending_ops = 1`, and the slots all come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_share_the_pending_op_limit() {
    let env = Env::with(limits(|l| l.max_pending_ops = 1), Pool::new(1));
    let out = env
        .fs
        .batch(vec![
            BatchOp::Mkdir(s("/data/x")),
            BatchOp::IsDir(s("/data/x")),
        ])
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![Ok(BatchOutcome::Done), Ok(BatchOutcome::Flag(true))]
    );
    assert_eq!(env.fs.pending_ops(), 0);
}

/// The input is charged to the memory budget before anything is queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_is_charged_to_the_memory_budget() {
    // Two items' own share (about 120 bytes each) on top of 1000 bytes of input.
    let env = Env::with(limits(|l| l.max_inflight_bytes = 1200), Pool::new(1));
    let write = |n| BatchOp::WriteFile {
        path: s("/data/w"),
        data: vec![7; n],
    };
    assert_eq!(env.fs.batch(vec![write(1100)]).await, Err(ErrorCode::Quota));
    assert_eq!(env.fs.pool().stats().completed, 0);
    // 900 bytes twice: each payload's charge moves to its write, so both fit.
    let out = env.fs.batch(vec![write(450), write(450)]).await.unwrap();
    assert_eq!(out, vec![Ok(BatchOutcome::Done), Ok(BatchOutcome::Done)]);
    assert_eq!(std::fs::metadata(env.host("data/w")).unwrap().len(), 450);
    assert_eq!(env.fs.held_bytes(), 0);
}

/// The items themselves are charged too, not only their bytes: a thousand items with
/// empty paths (no bytes at all) hold about 120 KB of host memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_are_charged_besides_their_bytes() {
    let many = || {
        (0..1000)
            .map(|_| BatchOp::Exists(String::new()))
            .collect::<Vec<_>>()
    };
    let env = Env::with(limits(|l| l.max_inflight_bytes = 100_000), Pool::new(1));
    assert_eq!(env.fs.batch(many()).await, Err(ErrorCode::Quota));
    let env = Env::with(limits(|l| l.max_inflight_bytes = 200_000), Pool::new(1));
    let out = env.fs.batch(many()).await.unwrap();
    assert_eq!(out.len(), 1000);
    assert!(env.fs.peak_held_bytes() >= 1000 * 100);
    assert_eq!(env.fs.held_bytes(), 0);
}

/// A batch dropped while queued never runs, and gives back its slot and its charge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_queued_batch_never_runs() {
    let (pool, gate) = gated_pool();
    let env = Env::with(pooled(Limits::default()), pool);
    // Hold the only thread.
    let blocker = tokio::spawn({
        let fs = env.fs.clone();
        async move { fs.stat(s("/data"), true).await }
    });
    gate.started.recv().unwrap();
    let fs = env.fs.clone();
    let batch = tokio::spawn(async move {
        fs.batch(vec![BatchOp::WriteFile {
            path: s("/data/never"),
            data: vec![1; 100],
        }])
        .await
    });
    while env.fs.pool().stats().queued == 0 {
        tokio::task::yield_now().await;
    }
    assert_eq!(env.fs.pending_ops(), 2);
    assert!(env.fs.held_bytes() >= 100);
    batch.abort();
    assert!(batch.await.unwrap_err().is_cancelled());
    assert_eq!(env.fs.pool().stats().cancelled, 1);
    gate.release.send(()).unwrap();
    blocker.await.unwrap().unwrap();
    assert_eq!(env.fs.pending_ops(), 0);
    assert_eq!(env.fs.held_bytes(), 0);
    assert!(!env.host("data/never").exists());
}

/// Once the batch's job is stopped (here: its store's tenant cancelled), the remaining
/// items fail with `interrupted` without being attempted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_batch_interrupts_the_rest() {
    let env = Env::new();
    env.fs.tenant().cancel();
    let out = env
        .fs
        .batch(vec![
            BatchOp::Mkdir(s("/data/a")),
            BatchOp::Mkdir(s("/data/b")),
        ])
        .await
        .unwrap();
    assert_eq!(out, vec![Err(ErrorCode::Interrupted); 2]);
    assert!(!env.host("data/a").exists());
}

/// Lookups in a batch share the memo of the directory they go through (`fs::dirmemo`),
/// and answer exactly as the single operations do: files, directories, symlinks inside,
/// out of the grant, absolute and dangling, trailing `/`, `..`, missing parents, a
/// parent that is a file or a symlink; and an item that renames the directory is seen
/// by the lookups after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_share_the_directory_memo_and_answer_alike() {
    use std::os::unix::fs::symlink;
    let env = Env::new();
    env.put("data/d/f", "12345");
    env.put("data/d/sub/g", "x");
    symlink("f", env.host("data/d/to-f")).unwrap();
    symlink("../../outside/secret", env.host("data/d/out")).unwrap();
    symlink("/etc/passwd", env.host("data/d/abs")).unwrap();
    symlink("nothing", env.host("data/d/dangling")).unwrap();
    symlink("d", env.host("data/link-d")).unwrap();
    let names = [
        "d/f",
        "d/sub",
        "d/sub/g",
        "d/to-f",
        "d/out",
        "d/abs",
        "d/dangling",
        "d/missing",
        "d/f/",
        "d/sub/",
        "d/sub/.",
        "d/../d/f",
        "link-d/f",
        "link-d/to-f",
        "d/f/x",
        "nope/x",
        "d/sub/g",
    ];
    let mut ops = Vec::new();
    for n in names {
        let p = format!("/data/{n}");
        ops.extend([
            BatchOp::Stat(p.clone()),
            BatchOp::Lstat(p.clone()),
            BatchOp::Exists(p.clone()),
            BatchOp::IsFile(p.clone()),
            BatchOp::IsDir(p),
        ]);
    }
    let hits = crate::fs::dirmemo::HITS.load(Ordering::Relaxed);
    let out = env.fs.batch(ops).await.unwrap();
    let memoized = crate::fs::dirmemo::HITS.load(Ordering::Relaxed) - hits;
    let mut i = 0;
    for n in names {
        let p = format!("/data/{n}");
        let single = [
            env.fs.stat(p.clone(), true).await.map(BatchOutcome::Stat),
            env.fs.stat(p.clone(), false).await.map(BatchOutcome::Stat),
            env.fs.exists(p.clone()).await.map(BatchOutcome::Flag),
            env.fs.is_file(p.clone()).await.map(BatchOutcome::Flag),
            env.fs.is_dir(p.clone()).await.map(BatchOutcome::Flag),
        ];
        for want in single {
            assert_eq!(out[i], want, "item {i} ({n})");
            i += 1;
        }
    }
    assert_eq!(code(&out[4 * 5]), ErrorCode::NotPermitted, "d/out escapes");
    assert_eq!(out[7 * 5 + 2], Ok(BatchOutcome::Flag(false)), "d/missing");
    // Every plain name whose directory opens and whose entry exists, for each of its five
    // items except the following ones that meet a symlink (d/to-f, d/out, d/abs,
    // d/dangling, link-d/to-f: stat, exists, is-file, is-dir go the full way).
    let plain_found = ["d/f", "d/sub", "d/sub/g", "link-d/f", "d/sub/g"].len() as u64 * 5;
    let symlinks = 5; // their lstat only
    assert!(
        memoized >= plain_found + symlinks,
        "the memo answered {memoized} lookups"
    );

    // A rename inside the batch is seen by the lookups after it.
    let out = env
        .fs
        .batch(vec![
            BatchOp::Stat(s("/data/d/f")),
            BatchOp::Rename {
                src: s("/data/d"),
                dst: s("/data/e"),
            },
            BatchOp::Exists(s("/data/d/f")),
            BatchOp::IsFile(s("/data/e/f")),
            BatchOp::Mkdir(s("/data/d")),
            BatchOp::Exists(s("/data/d/f")),
        ])
        .await
        .unwrap();
    assert!(matches!(out[0], Ok(BatchOutcome::Stat(_))));
    assert_eq!(out[2], Ok(BatchOutcome::Flag(false)));
    assert_eq!(out[3], Ok(BatchOutcome::Flag(true)));
    assert_eq!(out[5], Ok(BatchOutcome::Flag(false)));
}
