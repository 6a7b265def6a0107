//! Tests of cached operations on the caller's thread (the `cached` module): which
//! operations skip the pool, which must not, and that both ways give the same answers.

use super::tests::{Env, gated_pool, pooled, s};
use super::*;
use std::fs as stdfs;

/// Jobs the pool has taken so far (counted when submitted).
pub(super) fn trips(fs: &Fs) -> u64 {
    let st = fs.pool().stats();
    st.completed + st.cancelled + st.running as u64 + st.queued as u64
}

/// Read-only work on names and bytes the kernel holds makes no pool trip; the same work
/// with `max_inline_bytes: 0` makes one per operation. Both answer the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_reads_skip_the_pool() {
    let body: String = "0123456789abcdef".repeat(256);
    for inline in [true, false] {
        let limits = if inline {
            Limits::default()
        } else {
            pooled(Limits::default())
        };
        let env = Env::with(limits, Pool::new(2));
        env.put("data/dir/f.txt", &body);
        // Warm the caches as any earlier access would.
        assert_eq!(env.get("data/dir/f.txt").unwrap(), body);
        let fs = &env.fs;
        let before = trips(fs);
        let p = || s("/data/dir/f.txt");
        assert_eq!(fs.read_file(p(), u64::MAX).await.unwrap(), body.as_bytes());
        assert_eq!(fs.stat(p(), true).await.unwrap().size, 4096);
        assert_eq!(fs.stat(p(), false).await.unwrap().size, 4096);
        assert!(fs.exists(p()).await.unwrap());
        assert!(fs.is_file(p()).await.unwrap());
        assert!(fs.is_dir(s("/data/dir")).await.unwrap());
        let f = fs.open(p(), "rb").await.unwrap();
        assert_eq!(f.read(10).await.unwrap(), b"0123456789");
        assert_eq!(f.read_line().await.unwrap().len(), 4086);
        assert_eq!(f.read_at(16, 4).await.unwrap(), b"0123");
        assert_eq!(f.stat().await.unwrap().size, 4096);
        f.close().await.unwrap();
        let ops = 12;
        let expected = if inline { before } else { before + ops };
        assert_eq!(trips(fs), expected, "inline: {inline}");
        assert_eq!(fs.pending_ops(), 0);
        assert_eq!(fs.held_bytes(), 0);
    }
}

/// More bytes than `max_inline_bytes` go to the pool before any is copied here, whether a
/// whole-file read or a read of an open file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_reads_go_to_the_pool() {
    let env = Env::new();
    let big = "x".repeat(Limits::default().max_inline_bytes as usize * 2);
    env.put("data/big", &big);
    assert_eq!(env.get("data/big").unwrap().len(), big.len());
    let fs = &env.fs;
    let before = trips(fs);
    assert_eq!(
        fs.read_file(s("/data/big"), u64::MAX).await.unwrap().len(),
        big.len()
    );
    assert_eq!(trips(fs), before + 1);
    let f = fs.open(s("/data/big"), "rb").await.unwrap();
    let opened = trips(fs);
    assert_eq!(opened, before + 1, "the open itself came from the caches");
    assert_eq!(f.read_all().await.unwrap().len(), big.len());
    assert_eq!(trips(fs), opened + 1);
    f.close().await.unwrap();
    assert_eq!(fs.held_bytes(), 0);
}

/// Bytes that are not in the page cache are read on the pool (`RWF_NOWAIT` refuses them),
/// and still arrive whole. The file lives on the disk of the checkout (not a tmpfs, whose
/// pages cannot be dropped).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncached_bytes_go_to_the_pool() {
    let tmp = tempfile::tempdir_in(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).unwrap();
    let host = tmp.path().join("cold");
    let data: Vec<u8> = (0..32 * 1024u32).map(|i| (i % 251) as u8).collect();
    stdfs::write(&host, &data).unwrap();
    let file = stdfs::File::open(&host).unwrap();
    file.sync_all().unwrap();
    let ctx = crate::AioFsCtx::builder()
        .grant(tmp.path(), "/data", Perms::ReadOnly)
        .unwrap()
        .build();
    let fs = ctx.fs();
    // Warm: one read from the caches.
    let before = trips(fs);
    assert_eq!(fs.read_file(s("/data/cold"), u64::MAX).await.unwrap(), data);
    assert_eq!(trips(fs), before);
    // Cold: the pages are dropped (clean, after the sync), so the read must wait for the disk.
    rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
    assert_eq!(fs.read_file(s("/data/cold"), u64::MAX).await.unwrap(), data);
    assert_eq!(
        trips(fs),
        before + 1,
        "a read of dropped pages went to the pool"
    );
    // The same for an open file's read.
    let f = fs.open(s("/data/cold"), "rb").await.unwrap();
    rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
    let opened = trips(fs);
    assert_eq!(f.read(100).await.unwrap(), data[..100]);
    assert_eq!(trips(fs), opened + 1);
    f.close().await.unwrap();
}

/// What one operation answers, compared between the two ways of running it.
#[derive(Debug, PartialEq)]
enum Answer {
    Stat(FsResult<(FileType, u64)>),
    Bool(FsResult<bool>),
    Bytes(FsResult<Vec<u8>>),
}

/// Every kind of name (file, directory, symlinks in, dangling and out of the grant, a
/// FIFO, paths through a file and out by `..`) gets the same answer, error code included,
/// from the caches as from the pool, with the caches warm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_and_pooled_answers_agree() {
    let paths = [
        "/data/f",
        "/data/d",
        "/data/missing",
        "/data/link",
        "/data/dangling",
        "/data/escape",
        "/data/absolute",
        "/data/fifo",
        "/data/f/x",
        "/data/../outside/secret",
        "/data/d/../f",
        "/data",
        "/ro/r",
    ];
    let mut answers = Vec::new();
    for limits in [Limits::default(), pooled(Limits::default())] {
        let env = Env::with(limits, Pool::new(2));
        env.put("data/f", "content");
        env.put("ro/r", "read only");
        stdfs::create_dir(env.host("data/d")).unwrap();
        let link = |target: &str, name: &str| {
            std::os::unix::fs::symlink(target, env.host(name)).unwrap();
        };
        link("f", "data/link");
        link("nowhere", "data/dangling");
        link("../outside/secret", "data/escape");
        link("/etc/hostname", "data/absolute");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            env.host("data/fifo"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let fs = &env.fs;
        let mut got = Vec::new();
        for p in paths {
            // Warm the caches, as any earlier access would.
            let _ = stdfs::symlink_metadata(env.host(&p[1..]));
            let _ = stdfs::metadata(env.host(&p[1..]));
            for follow in [true, false] {
                let st = fs.stat(s(p), follow).await;
                got.push(Answer::Stat(st.map(|st| (st.file_type, st.size))));
            }
            got.push(Answer::Bool(fs.exists(s(p)).await));
            got.push(Answer::Bool(fs.is_file(s(p)).await));
            got.push(Answer::Bool(fs.is_dir(s(p)).await));
            got.push(Answer::Bool(fs.is_link(s(p)).await));
            got.push(Answer::Bytes(fs.read_file(s(p), u64::MAX).await));
            let opened = fs.open(s(p), "rb").await;
            got.push(Answer::Bytes(match opened {
                Ok(f) => {
                    let out = f.read_all().await;
                    f.close().await.unwrap();
                    out
                }
                Err(e) => Err(e),
            }));
        }
        assert_eq!(fs.pending_ops(), 0);
        assert_eq!(fs.held_bytes(), 0);
        answers.push(got);
    }
    assert_eq!(answers[0], answers[1]);
    // And they are the right answers, not the same wrong ones.
    let first = |i: usize| &answers[0][i * 8..i * 8 + 8];
    assert_eq!(first(0)[6], Answer::Bytes(Ok(b"content".to_vec())));
    assert_eq!(first(3)[6], Answer::Bytes(Ok(b"content".to_vec())));
    assert_eq!(first(2)[2], Answer::Bool(Ok(false)));
    assert_eq!(first(5)[6], Answer::Bytes(Err(ErrorCode::NotPermitted)));
    assert_eq!(first(7)[6], Answer::Bytes(Err(ErrorCode::Unsupported)));
    assert_eq!(first(9)[0], Answer::Stat(Err(ErrorCode::NotPermitted)));
    assert_eq!(first(12)[6], Answer::Bytes(Ok(b"read only".to_vec())));
}

/// Closing a read-only file happens right here, unless its inode was unlinked meanwhile:
/// that last close frees the file's blocks, which is disk work for the pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_an_unlinked_file_goes_to_the_pool() {
    let env = Env::new();
    env.put("data/kept", "kept");
    env.put("data/gone", "gone");
    let fs = &env.fs;
    let kept = fs.open(s("/data/kept"), "rb").await.unwrap();
    let gone = fs.open(s("/data/gone"), "rb").await.unwrap();
    fs.remove_file(s("/data/gone")).await.unwrap();
    let before = trips(fs);
    kept.close().await.unwrap();
    assert_eq!(trips(fs), before, "a linked file closes here");
    gone.close().await.unwrap();
    assert_eq!(trips(fs), before + 1, "an unlinked one on the pool");
    assert_eq!(gone.read(1).await, Err(ErrorCode::BadDescriptor));
}

/// A positional read bigger than `max_inline_bytes` goes to the pool (its buffer is not
/// zero-filled on the caller's thread first); a small one is served from the caches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_positional_reads_go_to_the_pool() {
    let env = Env::new();
    let big = "y".repeat(1 << 20);
    env.put("data/big", &big);
    assert_eq!(env.get("data/big").unwrap().len(), big.len());
    let fs = &env.fs;
    let f = fs.open(s("/data/big"), "rb").await.unwrap();
    let before = trips(fs);
    assert_eq!(f.read_at(10, 100).await.unwrap().len(), 100);
    assert_eq!(trips(fs), before);
    assert_eq!(f.read_at(0, 1 << 20).await.unwrap().len(), 1 << 20);
    assert_eq!(trips(fs), before + 1);
    f.close().await.unwrap();
    assert_eq!(fs.held_bytes(), 0);
}

/// A call that returns what it gathered before an error (`read-lines`) and gives up from
/// the caches partway (past `max_inline_bytes`) loses nothing and pays nothing twice: the
/// cursor is rewound and the pool reads those lines again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_attempt_loses_no_lines() {
    let env = Env::new();
    // 100-byte lines: a batch's first 1024 lines are past 64 KiB.
    let pad = "x".repeat(88);
    let lines: String = (0..20_000)
        .map(|i| format!("line {i:05} {pad}\n"))
        .collect();
    env.put("data/lines", &lines);
    assert_eq!(env.get("data/lines").unwrap().len(), lines.len());
    let fs = &env.fs;
    for mode in ["rb", "r"] {
        let f = fs.open(s("/data/lines"), mode).await.unwrap();
        let before = trips(fs);
        let mut got = String::new();
        loop {
            let batch = if mode == "rb" {
                let b = f.read_lines(10_000).await.unwrap();
                b.into_iter()
                    .map(|l| String::from_utf8(l).unwrap())
                    .collect()
            } else {
                f.read_lines_text(10_000).await.unwrap()
            };
            if batch.is_empty() {
                break;
            }
            got.extend(batch);
        }
        assert_eq!(got, lines, "{mode}");
        assert!(
            trips(fs) > before,
            "{mode}: batches past 64 KiB went to the pool"
        );
        f.close().await.unwrap();
    }
    assert_eq!(
        fs.grant_usage()[0].bytes_read,
        2 * lines.len() as u64,
        "every byte paid once"
    );
    assert_eq!(fs.held_bytes(), 0);
}

/// Operations that complete at once still give the runtime its turn: a guest looping over
/// cached `stat`s lets the other tasks of its thread run every 128 calls (tokio's task
/// budget), instead of holding the thread for as long as it keeps calling.
#[tokio::test(flavor = "current_thread")]
async fn cached_operations_yield_to_the_runtime() {
    use std::sync::atomic::{AtomicBool, AtomicUsize};
    let env = Env::new();
    env.put("data/f", "x");
    assert_eq!(env.get("data/f").unwrap(), "x");
    let fs = &env.fs;
    let done = Arc::new(AtomicBool::new(false));
    let turns = Arc::new(AtomicUsize::new(0));
    let other = tokio::spawn({
        let (done, turns) = (done.clone(), turns.clone());
        async move {
            while !done.load(Ordering::Relaxed) {
                turns.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        }
    });
    tokio::task::yield_now().await;
    let before = (trips(fs), turns.load(Ordering::Relaxed));
    for _ in 0..1024 {
        fs.stat(s("/data/f"), true).await.unwrap();
    }
    let during = turns.load(Ordering::Relaxed) - before.1;
    assert_eq!(trips(fs), before.0, "every stat came from the caches");
    done.store(true, Ordering::Relaxed);
    other.await.unwrap();
    assert!(
        during >= 1024 / 128 - 1,
        "the other task ran {during} times"
    );
}

/// Dropping a read-only handle closes it right here, as `close` does, so a guest looping
/// open-and-drop queues nothing and holds no descriptor. One whose file lost its last link
/// is closed on the pool, and keeps its open-file slot until then: an open on the caller's
/// thread queues nothing for its close to wait behind, so without the slot a guest could
/// pile descriptors up behind a held-up queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_read_only_handles_close_here_or_keep_their_slot() {
    let env = Env::new();
    env.put("data/f", "content");
    assert_eq!(env.get("data/f").unwrap(), "content");
    let fs = &env.fs;
    let before = trips(fs);
    for _ in 0..1000 {
        let f = fs.open(s("/data/f"), "rb").await.unwrap();
        assert_eq!(fs.open_files(), 1);
        drop(f);
        assert_eq!(fs.open_files(), 0, "closed at the drop");
    }
    assert_eq!(trips(fs), before, "no open nor close went to the pool");

    let (pool, gate) = gated_pool();
    let env = Env::with(Limits::default(), pool);
    env.put("data/gone", "x");
    assert_eq!(env.get("data/gone").unwrap(), "x");
    let fs = env.fs.clone();
    // Opened here from the caches (or, if they missed, on the pool: let it through).
    let opening = tokio::spawn(async move { fs.open(s("/data/gone"), "rb").await });
    while !opening.is_finished() {
        if gate.started.try_recv().is_ok() {
            gate.release.send(()).unwrap();
        }
        tokio::task::yield_now().await;
    }
    let f = opening.await.unwrap().unwrap();
    stdfs::remove_file(env.host("data/gone")).unwrap();
    drop(f);
    let (started, release) = (gate.started, gate.release);
    tokio::task::spawn_blocking(move || started.recv().unwrap())
        .await
        .unwrap();
    assert_eq!(env.fs.open_files(), 1, "held until the pool closes it");
    release.send(()).unwrap();
    while env.fs.open_files() != 0 {
        tokio::task::yield_now().await;
    }
}

/// An open at `max_open_files` waits while a slot is held only by a dropped handle's close
/// under way, and takes it when the close ends; while a live handle holds it, `quota` at
/// once. So a guest that drops a handle and opens the next never sees a spurious `quota`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_at_the_limit_waits_for_closes_under_way() {
    let (pool, gate) = gated_pool();
    let limits = Limits {
        max_open_files: 1,
        max_pending_ops: 2,
        ..Limits::default()
    };
    let env = Env::with(limits, pool);
    env.put("data/gone", "x");
    env.put("data/next", "y");
    assert_eq!(env.get("data/gone").unwrap(), "x");
    assert_eq!(env.get("data/next").unwrap(), "y");
    // Run `fut`, letting any pool job it makes through the gate.
    async fn through<T>(gate: &super::tests::Gate, fut: impl Future<Output = T>) -> T {
        let mut fut = std::pin::pin!(fut);
        loop {
            if let std::task::Poll::Ready(out) = futures::poll!(fut.as_mut()) {
                return out;
            }
            if gate.started.try_recv().is_ok() {
                gate.release.send(()).unwrap();
            }
            tokio::task::yield_now().await;
        }
    }
    let fs = &env.fs;
    let f = through(&gate, fs.open(s("/data/gone"), "rb"))
        .await
        .unwrap();
    let refused = through(&gate, fs.open(s("/data/next"), "rb")).await;
    assert_eq!(
        refused.unwrap_err(),
        ErrorCode::Quota,
        "a live handle holds it"
    );
    // Unlinked: its last close frees blocks, so the pool does it, and holds the slot.
    stdfs::remove_file(env.host("data/gone")).unwrap();
    drop(f);
    let (started, release) = (gate.started, gate.release);
    let started = tokio::task::spawn_blocking(move || {
        started.recv().unwrap();
        started
    })
    .await
    .unwrap();
    let mut next = std::pin::pin!(fs.open(s("/data/next"), "rb"));
    assert!(
        futures::poll!(next.as_mut()).is_pending(),
        "waits for the close under way"
    );
    assert_eq!(fs.open_files(), 1);
    // A waiting open is a pending operation: two waiting opens fill `max_pending_ops`,
    // and a third open is refused instead of parked.
    assert_eq!(fs.pending_ops(), 1, "the waiting open");
    let mut second = std::pin::pin!(fs.open(s("/data/next"), "rb"));
    assert!(futures::poll!(second.as_mut()).is_pending());
    assert_eq!(fs.pending_ops(), 2);
    assert_eq!(
        fs.open(s("/data/next"), "rb").await.unwrap_err(),
        ErrorCode::Quota,
        "no pending slot left to wait in"
    );
    release.send(()).unwrap();
    let gate = super::tests::Gate { started, release };
    let next = through(&gate, next).await.unwrap();
    assert_eq!(through(&gate, next.read_all()).await.unwrap(), b"y");
    assert_eq!(fs.open_files(), 1);
    // The other waiter gets `quota` now (the slot is a live handle's) and gives its
    // pending slot back.
    assert_eq!(through(&gate, second).await.unwrap_err(), ErrorCode::Quota);
    assert_eq!(fs.pending_ops(), 0);
}

/// On the caller's thread a line batch stops at `CACHED_LINES` lines (each is an
/// allocation: tens of thousands of short lines would hold the event loop for
/// milliseconds); the rest come in later calls, and nothing is lost or repeated. On the
/// pool the guest's `max` stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_line_batches_are_capped_in_lines() {
    let body: String = (0..10_000).map(|i| format!("{}\n", i % 10)).collect();
    for inline in [true, false] {
        let limits = if inline {
            Limits::default()
        } else {
            pooled(Limits::default())
        };
        let env = Env::with(limits, Pool::new(2));
        env.put("data/lines", &body);
        assert_eq!(env.get("data/lines").unwrap(), body);
        let fs = &env.fs;
        let f = fs.open(s("/data/lines"), "rb").await.unwrap();
        let before = trips(fs);
        let first = f.read_lines(u32::MAX).await.unwrap();
        let mut all = first.clone();
        loop {
            let more = f.read_lines(u32::MAX).await.unwrap();
            if more.is_empty() {
                break;
            }
            all.extend(more);
        }
        if inline {
            assert_eq!(first.len(), 1024);
            assert_eq!(trips(fs), before, "all from the caches");
        } else {
            assert_eq!(first.len(), 10_000);
        }
        assert_eq!(all.concat(), body.as_bytes());
        let t = fs.open(s("/data/lines"), "r").await.unwrap();
        assert_eq!(
            t.read_lines_text(u32::MAX).await.unwrap().len(),
            if inline { 1024 } else { 10_000 }
        );
        f.close().await.unwrap();
        t.close().await.unwrap();
    }
}

/// A file's own filesystem decides whether its operations may be tried here (a file opened
/// on the pool may lie on a mount beneath a local grant's root): a file on this test's
/// temporary directory qualifies, one on procfs does not.
#[test]
fn only_files_on_local_filesystems_qualify() {
    let dir = tempfile::tempdir().unwrap();
    stdfs::write(dir.path().join("f"), "x").unwrap();
    assert!(cached::local_file(
        &stdfs::File::open(dir.path().join("f")).unwrap()
    ));
    assert!(!cached::local_file(
        &stdfs::File::open("/proc/self/status").unwrap()
    ));
}

/// A view of a directory on another filesystem beneath its grant (here procfs under a
/// grant of `/`) never tries the caches on the caller's thread: a network or FUSE
/// filesystem would answer a cached `stat` with a round trip to its server. A view on
/// the grant's own local filesystem still does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_on_other_filesystems_go_to_the_pool() {
    let ambient = cap_std::fs::Dir::open_ambient_dir("/", cap_std::ambient_authority()).unwrap();
    let proc_dir = ambient.open_dir("proc").unwrap();
    let etc_dir = ambient.open_dir("etc").unwrap();
    if !cached::local_fs(&ambient) || !cached::local_fs(&etc_dir) || cached::local_fs(&proc_dir) {
        eprintln!("skipped: needs / and /etc on a local filesystem and /proc apart");
        return;
    }
    let ctx = crate::AioFsCtx::builder()
        .grant("/", "/host", Perms::ReadOnly)
        .unwrap()
        .pool(Pool::new(1))
        .build();
    let root = ctx.fs().grant_roots().swap_remove(0);
    let req = OpenRequest {
        directory: true,
        ..OpenRequest::default()
    };
    for (name, local) in [("etc", true), ("proc", false)] {
        let Opened::Dir(view) = root.fs().open_at(s(name), req).await.unwrap() else {
            panic!("a directory");
        };
        let before = trips(view.fs());
        let st = view.fs().stat(s("."), true).await.unwrap();
        assert_eq!(st.file_type, FileType::Directory);
        assert!(view.fs().exists(s(".")).await.unwrap());
        let trips = trips(view.fs()) - before;
        assert_eq!(trips, if local { 0 } else { 2 }, "{name}");
    }
}
