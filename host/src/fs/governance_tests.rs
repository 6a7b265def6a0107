//! Governance: what a hostile caller can make the host hold or do, measured through the
//! store's own accounting (bytes held, pending operations, pool queues), on real files.

use super::tests::{Env, gated_pool, pooled, s};
use super::*;
use std::fs as stdfs;
use std::time::Duration;

/// Run one operation through a gated pool: let its one job pass.
async fn through_gate<T: Send + 'static>(
    gate: &super::tests::Gate,
    op: impl Future<Output = T> + Send + 'static,
) -> T {
    let task = tokio::spawn(op);
    gate.started.recv().unwrap();
    gate.release.send(()).unwrap();
    task.await.unwrap()
}

fn limits(f: impl FnOnce(&mut Limits)) -> Limits {
    let mut l = Limits::default();
    f(&mut l);
    l
}

/// Writes are charged to the memory budget before they wait for anything: with the pool
/// held, the writes that fit wait, the rest are refused at once, and every byte comes
/// back when they are done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_payloads_are_charged_before_waiting() {
    let (pool, gate) = gated_pool();
    let env = Env::with(pooled(limits(|l| l.max_inflight_bytes = 1 << 20)), pool);
    let fs = env.fs.clone();
    let f = through_gate(&gate, {
        let fs = fs.clone();
        async move { fs.open(s("/data/out"), "wb").await }
    })
    .await
    .unwrap();
    // Hold the only thread with a job of this store.
    let blocker = tokio::spawn({
        let fs = fs.clone();
        async move { fs.stat(s("/data"), true).await }
    });
    gate.started.recv().unwrap();
    let chunk = 300 << 10;
    let mut writes = Vec::new();
    for _ in 0..5 {
        let f = f.clone();
        writes.push(tokio::spawn(async move { f.write(vec![7u8; chunk]).await }));
    }
    // Three fit (900 KiB of 1 MiB) and wait for the file; two are refused without waiting.
    let mut refused = 0;
    for _ in 0..2 {
        loop {
            if let Some(i) = writes.iter().position(|w| w.is_finished()) {
                let r = writes.swap_remove(i).await.unwrap();
                assert_eq!(r, Err(ErrorCode::Quota));
                refused += 1;
                break;
            }
            tokio::task::yield_now().await;
        }
    }
    assert_eq!(refused, 2);
    assert_eq!(fs.held_bytes(), 3 * chunk as u64);
    // Release everything: the three land, and the budget is whole again.
    let releaser = std::thread::spawn(move || {
        while gate.release.send(()).is_ok() {
            if gate.started.recv().is_err() {
                break;
            }
        }
    });
    blocker.await.unwrap().unwrap();
    for w in writes {
        assert_eq!(w.await.unwrap(), Ok(chunk as u64));
    }
    f.close().await.unwrap();
    assert_eq!(
        stdfs::metadata(env.host("data/out")).unwrap().len(),
        3 * chunk as u64
    );
    assert_eq!(fs.held_bytes(), 0);
    assert!(fs.peak_held_bytes() <= 1 << 20);
    drop(env);
    drop(fs);
    drop(f);
    releaser.join().unwrap();
}

/// Operations waiting for their file count against `max_pending_ops` like queued ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_waiting_for_their_file_count_as_pending() {
    let (pool, gate) = gated_pool();
    let env = Env::with(pooled(limits(|l| l.max_pending_ops = 4)), pool);
    env.put("data/f", "0123456789");
    let fs = env.fs.clone();
    let f = through_gate(&gate, {
        let fs = fs.clone();
        async move { fs.open(s("/data/f"), "rb").await }
    })
    .await
    .unwrap();
    let mut reads = Vec::new();
    for _ in 0..10 {
        let f = f.clone();
        reads.push(tokio::spawn(async move { f.read(1).await }));
    }
    gate.started.recv().unwrap();
    // One running, three waiting for the file: the other six are refused.
    let mut refused = 0;
    while refused < 6 {
        if let Some(i) = reads.iter().position(|r| r.is_finished()) {
            assert_eq!(reads.swap_remove(i).await.unwrap(), Err(ErrorCode::Quota));
            refused += 1;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(fs.pending_ops(), 4);
    gate.release.send(()).unwrap();
    for _ in 0..3 {
        gate.started.recv().unwrap();
        gate.release.send(()).unwrap();
    }
    let mut got = Vec::new();
    for r in reads {
        got.extend(r.await.unwrap().unwrap());
    }
    got.sort();
    assert_eq!(got, b"0123");
    assert_eq!(fs.pending_ops(), 0);
}

/// A long line or a big text read leaves no big buffer behind: an idle handle holds at
/// most `IDLE_BUFFER` bytes, and all of it is counted.
#[tokio::test]
async fn idle_handles_hold_little() {
    let env = Env::new();
    let fs = &env.fs;
    let long = "x".repeat(4 << 20) + "\nshort\n" + &"y\r".repeat(1 << 20);
    env.put("data/t", &long);
    let mut handles = Vec::new();
    for _ in 0..16 {
        let f = fs.open(s("/data/t"), "r").await.unwrap();
        assert_eq!(f.read_line_text().await.unwrap().len(), (4 << 20) + 1);
        assert_eq!(f.read_line_text().await.unwrap(), "short\n");
        assert_eq!(f.read_text(1 << 20).await.unwrap().len(), 1 << 20);
        handles.push(f);
    }
    let idle = file::IDLE_BUFFER as u64;
    assert!(
        fs.held_bytes() <= 16 * idle,
        "16 idle handles hold {} bytes",
        fs.held_bytes()
    );
    // The peak counted the 4 MiB line (buffer and result) but stayed within the budget.
    assert!(fs.peak_held_bytes() >= 4 << 20);
    assert!(fs.peak_held_bytes() <= fs.limits().max_inflight_bytes);
    drop(handles);
    assert_eq!(fs.held_bytes(), 0);
}

/// A read whose result does not fit the budget is refused with `quota`, and nothing is
/// consumed; listings are charged as they grow.
#[tokio::test]
async fn reads_and_listings_are_budgeted() {
    let env = Env::with(limits(|l| l.max_inflight_bytes = 256 << 10), Pool::new(2));
    let fs = &env.fs;
    env.put("data/big", &"z".repeat(1 << 20));
    assert_eq!(
        fs.read_file(s("/data/big"), u64::MAX).await,
        Err(ErrorCode::Quota)
    );
    let f = fs.open(s("/data/big"), "rb").await.unwrap();
    assert_eq!(f.read_all().await, Err(ErrorCode::Quota));
    assert_eq!(f.tell().await, Ok(0));
    assert_eq!(f.read(100 << 10).await.unwrap().len(), 100 << 10);
    drop(f);
    for i in 0..8000 {
        stdfs::write(env.host(&format!("data/{i:0>40}")), "").unwrap();
    }
    assert_eq!(fs.listdir(s("/data")).await, Err(ErrorCode::Quota));
    assert_eq!(
        fs.scandir(s("/data"), true).await.map(drop),
        Err(ErrorCode::Quota)
    );
    assert_eq!(fs.held_bytes(), 0);
}

/// `max_file_size` holds under many concurrent appends and positional writes through
/// several handles, round after round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_file_size_holds_under_concurrent_writers() {
    let max = 64 << 10;
    let quota = GrantQuota {
        max_file_size: Some(max),
        ..GrantQuota::UNLIMITED
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = Dir::open_ambient_dir(tmp.path(), cap_std::ambient_authority()).unwrap();
    let mut grants = Grants::default();
    grants.push_with_quota(
        Grant {
            store: crate::grant::Store::Local(Arc::new(dir)),
            guest_path: "/data".into(),
            perms: Perms::ReadWrite,
        },
        quota,
    );
    let fs = Fs::new(grants, Limits::default(), Pool::new(4));
    let mut refused = 0;
    for round in 0..40 {
        let name = format!("/data/f{round}");
        let mut handles = Vec::new();
        for h in 0..6 {
            let mode = if h % 2 == 0 { "ab" } else { "r+b" };
            if h == 1 {
                fs.write_file(name.clone(), vec![], false).await.unwrap();
            }
            handles.push(
                fs.open(name.clone(), if h == 0 { "ab" } else { mode })
                    .await
                    .unwrap(),
            );
        }
        let mut tasks = Vec::new();
        for (i, f) in handles.iter().enumerate() {
            for k in 0..8 {
                let f = f.clone();
                let fs = fs.clone();
                let name = name.clone();
                tasks.push(tokio::spawn(async move {
                    let len = 1000 + 700 * ((i + k) % 5);
                    match (i + k) % 4 {
                        0 | 1 => f.write(vec![b'a'; len]).await.map(drop),
                        2 => {
                            f.seek(
                                ((i * 7919 + k * 104_729) % (max as usize)) as i64,
                                Whence::Start,
                            )
                            .await?;
                            f.write(vec![b'p'; len]).await.map(drop)
                        }
                        _ => fs
                            .copy_file(name.clone(), format!("{name}.copy"))
                            .await
                            .map(drop),
                    }
                }));
            }
        }
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => {}
                Err(ErrorCode::FileTooLarge | ErrorCode::BadDescriptor) => refused += 1,
                Err(e) => panic!("round {round}: {e:?}"),
            }
        }
        let size = stdfs::metadata(tmp.path().join(&name[6..])).unwrap().len();
        assert!(size <= max, "round {round}: {size} > {max}");
    }
    assert!(refused > 0, "the limit was never reached");
}

/// `write-lines` is charged what its lines hold on the host, one allocation each: a list
/// of one-byte lines costs 56 bytes per line, not the 25 of its payload and headers, so a
/// guest cannot hold twice what its budget says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tiny_lines_are_charged_as_held() {
    let env = Env::with(limits(|l| l.max_inflight_bytes = 32 << 20), Pool::new(1));
    let f = env.fs.open(s("/data/lines"), "wb").await.unwrap();
    // 600k lines: 15 MB of payload and headers, 34 MB held.
    assert_eq!(
        f.write_lines(vec![b"x".to_vec(); 600_000]).await,
        Err(ErrorCode::Quota)
    );
    assert_eq!(env.fs.held_bytes(), 0);
    assert_eq!(
        f.write_lines(vec![b"x".to_vec(); 200_000]).await,
        Ok(200_000)
    );
    assert!(env.fs.peak_held_bytes() >= 200_000 * 56);
    f.close().await.unwrap();
    assert_eq!(
        stdfs::metadata(env.host("data/lines")).unwrap().len(),
        200_000
    );
}

/// Paths of many short components: `makedirs` creates and `removedirs` prunes every level
/// (borrowed prefixes, no copy per level), and under a zero time limit both stop at their
/// first check (each level resolves its whole prefix: quadratic work, so it is checked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_paths_make_and_prune_within_the_time_limit() {
    let deep = |n: usize| format!("/data/{}", vec!["a"; n].join("/"));
    let env = Env::new();
    let fs = &env.fs;
    fs.makedirs(deep(1500), false).await.unwrap();
    let host = env.host(&deep(1500)[1..]);
    assert!(host.is_dir());
    fs.removedirs(deep(1500)).await.unwrap();
    assert_eq!(
        stdfs::read_dir(env.host("data")).unwrap().count(),
        0,
        "every level pruned"
    );
    // Only the leaf missing: one creation.
    fs.makedirs(deep(3), false).await.unwrap();
    fs.makedirs(deep(4), false).await.unwrap();
    assert!(env.host(&deep(4)[1..]).is_dir());

    let env = Env::with(
        limits(|l| l.max_op_duration = Some(Duration::ZERO)),
        Pool::new(2),
    );
    assert_eq!(
        env.fs.makedirs(deep(1500), false).await,
        Err(ErrorCode::Interrupted)
    );
    let made = (1..=1500)
        .take_while(|&n| env.host(&deep(n)[1..]).is_dir())
        .count();
    assert_eq!(
        made, 63,
        "stopped at the first check, before the 64th level"
    );
    // removedirs: the leaf, then 63 parents, then the check stops it.
    stdfs::create_dir_all(env.host(&deep(200)[1..])).unwrap();
    env.fs.removedirs(deep(200)).await.unwrap();
    assert!(
        env.host(&deep(136)[1..]).is_dir(),
        "pruning stopped part-way"
    );
    assert!(!env.host(&deep(137)[1..]).exists());
}

/// Long operations stop at a chunk boundary: past the time limit (`interrupted`, partial
/// work kept), when their future is dropped, and when the store goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_operations_stop() {
    // Zero time limit: the first checkpoint stops them.
    let env = Env::with(
        limits(|l| l.max_op_duration = Some(Duration::ZERO)),
        Pool::new(2),
    );
    for i in 0..3000 {
        env.put(&format!("data/tree/d{}/f{i}", i % 7), "x");
    }
    assert_eq!(
        env.fs.remove_tree(s("/data/tree")).await,
        Err(ErrorCode::Interrupted)
    );
    assert!(env.host("data/tree").exists(), "stopped part-way");
    env.put("data/src", "hello");
    assert_eq!(
        env.fs.copy_file(s("/data/src"), s("/data/dst")).await,
        Err(ErrorCode::Interrupted)
    );
    // No limit: a huge sparse copy runs until its future is dropped, then stops.
    let env = Env::new();
    let src = stdfs::File::create(env.host("data/sparse")).unwrap();
    src.set_len(1 << 40).unwrap();
    let fs = env.fs.clone();
    let copy = tokio::spawn(async move { fs.copy_file(s("/data/sparse"), s("/data/copy")).await });
    wait_for(|| stdfs::metadata(env.host("data/copy")).is_ok_and(|m| m.len() > 0)).await;
    copy.abort();
    assert!(copy.await.unwrap_err().is_cancelled());
    wait_for(|| env.fs.pool().stats().running == 0).await;
    let copied = stdfs::metadata(env.host("data/copy")).unwrap().len();
    assert!(copied < 1 << 40);
    // The store goes (its tenant is cancelled) while the caller still waits: it stops.
    let fs = env.fs.clone();
    let copy = tokio::spawn(async move { fs.copy_file(s("/data/sparse"), s("/data/copy2")).await });
    wait_for(|| stdfs::metadata(env.host("data/copy2")).is_ok_and(|m| m.len() > 0)).await;
    env.fs.tenant().cancel();
    assert_eq!(copy.await.unwrap(), Err(ErrorCode::Interrupted));
}

/// Poll `cond` until it holds (60 s at most, so a broken build fails instead of hanging).
async fn wait_for(mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "condition never held");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Two stores on one pool: however many jobs one queues, the other's job waits behind
/// at most one of them (plus the one running).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_share_the_pool_fairly() {
    let (pool, gate) = gated_pool();
    let attacker = Env::with(pooled(Limits::default()), pool.clone());
    let victim = Env::with(pooled(Limits::default()), pool.clone());
    let mut floods = Vec::new();
    for _ in 0..200 {
        let fs = attacker.fs.clone();
        floods.push(tokio::spawn(async move { fs.exists(s("/data")).await }));
    }
    gate.started.recv().unwrap();
    wait_for(|| pool.stats().queued == 199).await;
    let fs = victim.fs.clone();
    let job = tokio::spawn(async move { fs.write_file(s("/data/v"), vec![1], false).await });
    wait_for(|| pool.stats().queued == 200).await;
    // Release jobs one by one (one thread: a job starts only once the one before has
    // finished) and count how many attacker jobs run before the victim's.
    // The victim's write is seen on disk one step after its job started, so `steps`
    // counts the attacker jobs that ran first, plus one.
    let mut steps = 0;
    loop {
        gate.release.send(()).unwrap();
        gate.started.recv().unwrap();
        if victim.host("data/v").exists() {
            break;
        }
        steps += 1;
    }
    // Round-robin: one queued attacker job was ahead (FIFO would have been 199).
    assert_eq!(steps - 1, 1, "attacker jobs that ran first");
    let releaser = std::thread::spawn(move || {
        while gate.release.send(()).is_ok() {
            if gate.started.recv().is_err() {
                break;
            }
        }
    });
    assert_eq!(job.await.unwrap(), Ok(()));
    for f in floods {
        assert_eq!(f.await.unwrap(), Ok(true));
    }
    drop((attacker, victim, pool));
    releaser.join().unwrap();
}

/// Grants over the same or nested host directories must agree: same permission, no
/// quotas. Every way of overlapping is refused at build time, and a rename or link
/// between grants is `cross-device`.
#[test]
fn overlapping_grants_are_refused() {
    use crate::AioFsCtx;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    stdfs::create_dir_all(d.join("sub/deep")).unwrap();
    stdfs::create_dir_all(d.join("other")).unwrap();
    let q = GrantQuota {
        max_bytes_written: Some(10),
        ..GrantQuota::UNLIMITED
    };
    let rw = Perms::ReadWrite;
    let ro = Perms::ReadOnly;
    type Case<'a> = (
        &'a str,
        &'a str,
        Perms,
        GrantQuota,
        &'a str,
        Perms,
        GrantQuota,
        bool,
    );
    let u = GrantQuota::UNLIMITED;
    let cases: &[Case] = &[
        ("ro inside rw", "", rw, u, "sub", ro, u, false),
        ("rw inside ro", "", ro, u, "sub", rw, u, false),
        ("deep ro inside rw", "", rw, u, "sub/deep", ro, u, false),
        ("outer after inner", "sub", ro, u, "", rw, u, false),
        ("same dir, other perms", "sub", rw, u, "sub", ro, u, false),
        ("same dir, quota", "sub", rw, q, "sub", rw, u, false),
        ("nested, quota on inner", "", rw, u, "sub", rw, q, false),
        ("same dir, same perms", "sub", rw, u, "sub", rw, u, true),
        ("nested, both ro", "", ro, u, "sub", ro, u, true),
        ("disjoint, other perms", "sub", rw, q, "other", ro, u, true),
    ];
    for (name, a, pa, qa, b, pb, qb, ok) in cases {
        let built = AioFsCtx::builder()
            .grant_with_quota(d.join(a), "/a", *pa, *qa)
            .unwrap()
            .grant_with_quota(d.join(b), "/a/b", *pb, *qb);
        match built {
            Ok(_) => assert!(ok, "{name}: accepted"),
            Err(e) => {
                assert!(!ok, "{name}: refused: {e}");
                assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{name}");
                assert!(e.to_string().contains("overlaps grant /a"), "{name}: {e}");
            }
        }
    }
}

/// One guest path is granted once: a second grant at it (of another directory, the same
/// one, or under another spelling of the path) is refused, where aiofs resolved the path
/// to the first grant and a wasi program saw two preopens of one name.
#[test]
fn a_guest_path_is_granted_once() {
    use crate::AioFsCtx;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    stdfs::create_dir_all(d.join("a")).unwrap();
    stdfs::create_dir_all(d.join("b")).unwrap();
    for (host, again) in [("b", "/x"), ("a", "/x"), ("b", "x/"), ("b", "/x/.")] {
        let built = AioFsCtx::builder()
            .grant(d.join("a"), "/x", Perms::ReadOnly)
            .unwrap()
            .grant(d.join(host), again, Perms::ReadOnly);
        let Err(e) = built else {
            panic!("{host} at {again}: accepted");
        };
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("/x is granted twice"), "{e}");
    }
    // Nested guest paths are fine.
    AioFsCtx::builder()
        .grant(d.join("a"), "/x", Perms::ReadOnly)
        .unwrap()
        .grant(d.join("b"), "/x/y", Perms::ReadOnly)
        .unwrap();
}

/// `remove-tree` holds two host descriptors per level and descends at most 64 levels: a
/// deeper part is moved up into the top directory and removed from there, so trees of any
/// depth go (and a dropped temporary directory holding one is removed too).
#[tokio::test]
async fn remove_tree_removes_any_depth() {
    let env = Env::new();
    let fs = &env.fs;
    let deep = |top: &str, depth: usize| {
        let mut p = env.host(top);
        for i in 0..depth {
            p.push(if i % 2 == 0 { "d" } else { "e" });
        }
        stdfs::create_dir_all(&p).unwrap();
        stdfs::write(p.join("f"), "x").unwrap();
    };
    for depth in [63, 64, 65, 300] {
        let top = format!("data/t{depth}");
        deep(&top, depth);
        // Siblings at every depth on the way, and a name the move-up could collide with.
        deep(&format!("{top}/.aiofs-removing-1"), 70);
        fs.remove_tree(format!("/{top}")).await.unwrap();
        assert!(!env.host(&top).exists(), "{depth}");
    }
    let td = fs
        .temporary_directory(TempOptions::default())
        .await
        .unwrap();
    let inside = td.path().trim_start_matches('/').to_owned();
    deep(&inside, 200);
    drop(td);
    wait_for(|| !env.host(&inside).exists()).await;
}
