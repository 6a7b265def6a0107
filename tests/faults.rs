//! Faults, cancellation and soak, with descriptor accounting: guests that drop streams,
//! cancel futures at random points, trap during an atomic write, or lose their store
//! mid-operation leave no descriptor open (`/proc/self/fd`) and no half-written target;
//! many guests at once for thousands of operations end with the descriptors and memory
//! they started with.
//!
//! Its own test binary, and its tests take turns (`SERIAL`), so nothing else opens
//! descriptors while one counts them.

use aiofs_cli::{RunIo, RunOutcome};
use aiofs_host::{AioFsCtx, Limits, Perms, Pool};
use aiofs_tests::{Gate, HOSTILE, component, drain, pooled, run, runner, wait_until};
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

static SERIAL: Mutex<()> = Mutex::new(());

/// Run `test` on its own runtime while holding this binary's turn: the runtime (whose
/// descriptors count too) is created after the turn is taken and gone before it is given
/// back, so no other test's runtime comes or goes while one counts.
fn serially(test: impl Future<Output = ()>) {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(test);
}

/// Descriptors open in this process (`FAULTS_DEBUG_FDS=1` prints what they are).
fn open_fds() -> usize {
    if std::env::var_os("FAULTS_DEBUG_FDS").is_some() {
        let fds: Vec<String> = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| {
                let e = e.ok()?;
                Some(format!(
                    "{:?}->{:?}",
                    e.file_name(),
                    std::fs::read_link(e.path()).ok()?
                ))
            })
            .collect();
        eprintln!("fds: {fds:?}");
    }
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Resident set size in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split(' ').nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    #[allow(unsafe_code)]
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    pages * page
}

/// `dir` granted read-write at `/data`.
fn ctx(dir: &Path, pool: &Pool) -> AioFsCtx {
    AioFsCtx::builder()
        .grant(dir, "/data", Perms::ReadWrite)
        .unwrap()
        .limits(Limits::default())
        .pool(pool.clone())
        .build()
}

/// [`ctx`] with every operation on the pool (none from the caches on the caller's
/// thread), for a test that counts the pool's jobs.
fn pooled_ctx(dir: &Path, pool: &Pool) -> AioFsCtx {
    AioFsCtx::builder()
        .grant(dir, "/data", Perms::ReadWrite)
        .unwrap()
        .limits(pooled(Limits::default()))
        .pool(pool.clone())
        .build()
}

/// One instantiation of the hostile guest, so that what wasmtime creates once per
/// component (memory-image memfds) exists before a baseline is taken.
async fn warm_up() {
    component(HOSTILE);
    let tmp = tempfile::tempdir().unwrap();
    let pool = Pool::new(1);
    let out = run(HOSTILE, ctx(tmp.path(), &pool), &["cases"]).await;
    assert_eq!(out.exit_code, 0);
}

fn ok(out: &RunOutcome) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.exit_code,
        0,
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Run the guest and expect a trap.
async fn run_trapping(ctx: AioFsCtx, args: &[&str]) {
    let io = RunIo {
        args: std::iter::once("hostile")
            .chain(args.iter().copied())
            .map(String::from)
            .collect(),
        env: Vec::new(),
        capture_output: true,
    };
    match runner().run(&component(HOSTILE), ctx, io).await {
        Err(e) => assert!(format!("{e:?}").contains("deliberate trap"), "{e:?}"),
        Ok(out) => panic!("{args:?} must trap, exited {}", out.exit_code),
    }
}

/// Names in `dir` that look like an atomic write's temporary file.
fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

/// Streams dropped half way (read and write), with and without a trap: every descriptor
/// is closed once the pool has run the closes.
#[test]
fn dropped_streams_leak_nothing() {
    serially(async {
        warm_up().await;
        let before = open_fds();
        for round in 0..6 {
            let tmp = tempfile::tempdir().unwrap();
            std::fs::write(tmp.path().join("src.bin"), vec![1u8; 5 << 20]).unwrap();
            let pool = Pool::new(2);
            let ctx = ctx(tmp.path(), &pool);
            let fs = ctx.fs().clone();
            if round % 2 == 0 {
                ok(&run(HOSTILE, ctx, &["drop_streams"]).await);
            } else {
                run_trapping(ctx, &["trap_streams"]).await;
            }
            drain(&pool).await;
            assert_eq!(fs.open_files(), 0, "round {round}");
            assert_eq!(fs.pending_ops(), 0, "round {round}");
            drop((fs, tmp));
            assert_eq!(open_fds(), before, "round {round}: descriptors leaked");
        }
    });
}

/// Futures dropped after a random number of polls (never polled, queued, running,
/// finished), rounds after rounds, with atomic writes racing on one target: no leak, and
/// the target is always one whole version.
#[test]
fn cancel_storm_leaks_nothing() {
    serially(async {
        warm_up().await;
        let before = open_fds();
        for seed in [1u64, 2, 3] {
            let tmp = tempfile::tempdir().unwrap();
            let pool = Pool::new(2);
            let ctx = ctx(tmp.path(), &pool);
            let fs = ctx.fs().clone();
            let seed = seed.to_string();
            let stdout = ok(&run(HOSTILE, ctx, &["cancel_storm", &seed, "15"]).await);
            assert_eq!(stdout, "cancel_storm rounds=15\n");
            drain(&pool).await;
            assert_eq!(fs.open_files(), 0);
            let target = std::fs::read(tmp.path().join("atomic.bin")).unwrap();
            assert!(
                target == vec![b'a'; 200_000] || target == vec![b'b'; 300_000],
                "torn target: {} bytes",
                target.len()
            );
            assert_eq!(temporaries(tmp.path()), Vec::<String>::new());
            drop((fs, tmp));
            assert_eq!(open_fds(), before, "seed {seed}: descriptors leaked");
        }
    });
}

/// A queued atomic write whose future is dropped never runs: the target keeps its old
/// content and no temporary file appears.
#[test]
fn queued_atomic_write_dropped_never_runs() {
    serially(async {
        warm_up().await;
        let before = open_fds();
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("atomic.bin"), b"old").unwrap();
        let gate = Gate::default();
        let pool = Pool::with_hook(1, Some(gate.hook()));
        // Occupy the only thread, so the guest's write has to queue.
        let blocker = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(|| ()).await }
        });
        wait_until("the blocker holds the thread", || pool.stats().running == 1).await;
        let ctx = pooled_ctx(tmp.path(), &pool);
        let guest = tokio::spawn(async move { run(HOSTILE, ctx, &["cancel_atomic"]).await });
        wait_until("the write was withdrawn", || {
            let s = pool.stats();
            s.cancelled == 1 && s.queued == 1
        })
        .await;
        gate.open();
        blocker.await.unwrap().unwrap();
        assert_eq!(ok(&guest.await.unwrap()), "dropped\n");
        drain(&pool).await;
        assert_eq!(
            std::fs::read(tmp.path().join("atomic.bin")).unwrap(),
            b"old"
        );
        assert_eq!(temporaries(tmp.path()), Vec::<String>::new());
        drop(tmp);
        assert_eq!(open_fds(), before);
    });
}

/// A pool hook that holds the first job to reach it until [`HoldFirst::release`] and
/// lets every other job through.
#[derive(Clone, Default)]
struct HoldFirst {
    state: Arc<(Mutex<(bool, bool)>, Condvar)>,
}

impl HoldFirst {
    fn hook(&self) -> aiofs_host::pool::JobHook {
        let state = self.state.clone();
        let first = Arc::new(AtomicBool::new(true));
        Arc::new(move || {
            if !first.swap(false, Ordering::AcqRel) {
                return;
            }
            let (lock, cv) = &*state;
            let mut st = lock.lock().unwrap();
            st.0 = true; // reached
            while !st.1 {
                st = cv.wait(st).unwrap();
            }
        })
    }

    fn reached(&self) -> bool {
        self.state.0.lock().unwrap().0
    }

    fn release(&self) {
        let (lock, cv) = &*self.state;
        lock.lock().unwrap().1 = true;
        cv.notify_all();
    }
}

/// A running atomic write whose future is dropped stops at its next chunk boundary (long
/// operations check between chunks): it never renames, so the target keeps its old
/// content, and its temporary file is removed; nothing is torn and nothing leaks.
#[test]
fn running_atomic_write_dropped_stops_whole() {
    serially(async {
        warm_up().await;
        let before = open_fds();
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("atomic.bin"), b"old").unwrap();
        let hold = HoldFirst::default();
        let pool = Pool::with_hook(2, Some(hold.hook()));
        let ctx = ctx(tmp.path(), &pool);
        let fs = ctx.fs().clone();
        let guest =
            tokio::spawn(async move { run(HOSTILE, ctx, &["cancel_atomic", "wait"]).await });
        // The write (the guest's first operation) has started and is held; tell the
        // guest to drop it.
        wait_until("the write started", || hold.reached()).await;
        std::fs::write(tmp.path().join("go"), b"").unwrap();
        // The guest dropped the write's future and moved on; its result has nowhere to go.
        let out = guest.await.unwrap();
        assert_eq!(ok(&out), "dropped\n");
        assert_eq!(pool.stats().running, 1, "the write is still held");
        assert_eq!(
            fs.pending_ops(),
            0,
            "a dropped operation frees its slot at once"
        );
        hold.release();
        drain(&pool).await;
        assert_eq!(pool.stats().cancelled, 0);
        let target = std::fs::read(tmp.path().join("atomic.bin")).unwrap();
        assert_eq!(target, b"old", "the dropped write stopped before renaming");
        assert_eq!(temporaries(tmp.path()), Vec::<String>::new());
        drop((fs, tmp));
        assert_eq!(open_fds(), before);
    });
}

/// The guest traps while its atomic write runs on the pool: the write finishes or never
/// started, so the target is the old or the whole new content, and nothing leaks.
#[test]
fn trap_during_atomic_write() {
    serially(async {
        warm_up().await;
        let before = open_fds();
        for held in [true, false] {
            let tmp = tempfile::tempdir().unwrap();
            std::fs::write(tmp.path().join("atomic.bin"), b"old").unwrap();
            let gate = Gate::default();
            let pool = Pool::with_hook(1, Some(gate.hook()));
            if !held {
                gate.open();
            }
            let ctx = ctx(tmp.path(), &pool);
            let fs = ctx.fs().clone();
            run_trapping(ctx, &["trap_atomic"]).await;
            // The store is gone; a write that had started is still held by the gate.
            gate.open();
            drain(&pool).await;
            assert_eq!(fs.open_files(), 0);
            let target = std::fs::read(tmp.path().join("atomic.bin")).unwrap();
            assert!(
                target == b"old" || target == vec![b'n'; 4 << 20],
                "torn target: {} bytes",
                target.len()
            );
            assert_eq!(temporaries(tmp.path()), Vec::<String>::new());
            drop((fs, tmp));
            assert_eq!(open_fds(), before, "held={held}");
        }
    });
}

/// The embedder drops a store in the middle of an operation (its task is aborted while a
/// write is held on the pool): the write completes, then every descriptor of the store
/// is closed, and the target is one whole generation.
#[test]
fn store_dropped_mid_operation() {
    serially(async {
        warm_up().await;
        let before = open_fds();
        for round in 0..4 {
            let tmp = tempfile::tempdir().unwrap();
            let gate = Gate::default();
            let pool = Pool::with_hook(2, Some(gate.hook()));
            if round >= 2 {
                // Ungated: the abort lands wherever the loop happens to be.
                gate.open();
            }
            let ctx = ctx(tmp.path(), &pool);
            let fs = ctx.fs().clone();
            let task = tokio::spawn(async move {
                run(HOSTILE, ctx, &["atomic_loop", "/data/target.bin", "0"]).await
            });
            wait_until("an operation in flight", || {
                fs.pending_ops() > 0 || tmp.path().join("target.bin").exists()
            })
            .await;
            task.abort();
            assert!(task.await.unwrap_err().is_cancelled());
            gate.open();
            drain(&pool).await;
            assert_eq!(fs.open_files(), 0, "round {round}");
            assert_eq!(fs.pending_ops(), 0, "round {round}");
            if let Ok(content) = std::fs::read(tmp.path().join("target.bin")) {
                assert!(content.starts_with(b"gen "), "round {round}: torn");
                let len = content.len() as u64;
                assert!(len >= 64 * 1024, "round {round}: {len} bytes");
            }
            assert_eq!(temporaries(tmp.path()), Vec::<String>::new());
            drop((fs, tmp));
            assert_eq!(open_fds(), before, "round {round}: descriptors leaked");
        }
    });
}

/// Many guests at once, each its own store on one shared pool, thousands of mixed
/// operations (whole-file, handles, appends, streams, stats, removes), each guest
/// checking its files against its own model. After a warm-up round, the descriptor count
/// must come back exactly and the resident memory within a small margin, round after
/// round. `SOAK_GUESTS`, `SOAK_OPS` and `SOAK_ROUNDS` make it longer.
#[test]
fn soak() {
    serially(async {
        let env = |k: &str, d: usize| {
            std::env::var(k)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(d)
        };
        let (guests, ops, rounds) = (
            env("SOAK_GUESTS", 16),
            env("SOAK_OPS", 200),
            env("SOAK_ROUNDS", 2),
        );
        warm_up().await;
        let pool = Pool::new(4);
        let tmp = tempfile::tempdir().unwrap();
        let round = |r: usize| {
            let pool = pool.clone();
            let dir = tmp.path().to_path_buf();
            async move {
                let runs = (0..guests).map(|g| {
                    let ctx = ctx(&dir, &pool);
                    let seed = (r * 1000 + g + 1).to_string();
                    let sub = format!("/data/r{r}g{g}");
                    let ops = ops.to_string();
                    tokio::spawn(async move {
                        ok(&run(HOSTILE, ctx, &["soak", &seed, &ops, &sub]).await)
                    })
                });
                let mut done = 0;
                for run in runs.collect::<Vec<_>>() {
                    let out = run.await.unwrap();
                    done += out
                        .trim()
                        .strip_prefix("soak ops=")
                        .unwrap()
                        .parse::<usize>()
                        .unwrap();
                }
                drain(&pool).await;
                done
            }
        };
        // The warm-up round grows the allocator's arenas and wasmtime's caches to size.
        let mut total = round(0).await;
        let (fds, mem) = (open_fds(), rss());
        let mut peak = mem;
        for r in 1..=rounds {
            total += round(r).await;
            peak = peak.max(rss());
            assert_eq!(open_fds(), fds, "round {r}: descriptors leaked");
        }
        let end = rss();
        // Memory may wobble with the allocator; leaking 4 KiB per operation (or one page
        // per guest file) over the ~6 000 measured operations would exceed this.
        let margin = 24 << 20;
        assert!(
            end <= mem + margin,
            "RSS grew from {} to {} MiB",
            mem >> 20,
            end >> 20
        );
        println!(
            "soak: {guests} guests x {} rounds, {total} operations; descriptors {fds} -> {}, \
         RSS {} -> {} MiB (peak {} MiB)",
            rounds + 1,
            open_fds(),
            mem >> 20,
            end >> 20,
            peak >> 20
        );
    });
}
