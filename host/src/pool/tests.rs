//! Tests of the pool: ordering, fairness, cancellation, limits and counters.

use super::*;
use std::sync::mpsc;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// A hook that blocks every job until the test lets it through, and reports that a
/// job reached it.
struct Gate {
    started: mpsc::Receiver<()>,
    release: mpsc::SyncSender<()>,
}

fn gated_pool(threads: usize) -> (Pool, Gate) {
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::sync_channel::<()>(0);
    let release_rx = Arc::new(Mutex::new(release_rx));
    let hook: JobHook = Arc::new(move || {
        started_tx.send(()).unwrap();
        release_rx.lock().unwrap().recv().unwrap();
    });
    (
        Pool::with_hook(threads, Some(hook)),
        Gate { started, release },
    )
}

#[test]
fn runs_jobs_and_returns_results() {
    let pool = Pool::new(2);
    let rt = rt();
    let v = rt.block_on(pool.run(|| 6 * 7)).unwrap();
    assert_eq!(v, 42);
    let name = rt
        .block_on(pool.run(|| std::thread::current().name().map(str::to_owned)))
        .unwrap();
    assert!(name.unwrap().starts_with("aiofs-pool-"));
    let st = pool.stats();
    assert_eq!((st.threads, st.completed, st.cancelled), (2, 2, 0));
}

#[test]
fn bound_holds_with_more_jobs_than_threads() {
    let (pool, gate) = gated_pool(3);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let handles: Vec<_> = (0..10)
        .map(|i| {
            let pool = pool.clone();
            rt.spawn(async move { pool.run(move || i).await })
        })
        .collect();
    // Exactly three jobs reach the hook while every worker is held.
    for _ in 0..3 {
        gate.started.recv().unwrap();
    }
    let st = pool.stats();
    assert_eq!(st.running, 3);
    assert!(st.peak_running <= 3);
    // Release all ten, one at a time.
    for i in 0..10 {
        if i >= 3 {
            gate.started.recv().unwrap();
        }
        gate.release.send(()).unwrap();
    }
    let mut out: Vec<i32> = handles
        .into_iter()
        .map(|h| rt.block_on(h).unwrap().unwrap())
        .collect();
    out.sort();
    assert_eq!(out, (0..10).collect::<Vec<_>>());
    let st = pool.stats();
    assert_eq!(st.peak_running, 3);
    assert_eq!(st.completed, 10);
    assert_eq!((st.running, st.queued), (0, 0));
    assert!(st.peak_queued >= 1);
}

#[test]
fn fifo_order_on_one_thread() {
    let (pool, gate) = gated_pool(1);
    let (order_tx, order_rx) = mpsc::channel();
    for i in 0..20 {
        let order_tx = order_tx.clone();
        pool.spawn_detached(move || order_tx.send(i).unwrap());
    }
    for _ in 0..20 {
        gate.started.recv().unwrap();
        gate.release.send(()).unwrap();
    }
    let got: Vec<i32> = (0..20).map(|_| order_rx.recv().unwrap()).collect();
    assert_eq!(got, (0..20).collect::<Vec<_>>());
}

#[test]
fn dropped_queued_jobs_never_run() {
    let (pool, gate) = gated_pool(1);
    let rt = rt();
    let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // Occupy the only worker.
    let (done_tx, done_rx) = mpsc::channel();
    pool.spawn_detached(move || done_tx.send(()).unwrap());
    gate.started.recv().unwrap();
    // Queue five jobs by polling their futures once, then drop them.
    for _ in 0..5 {
        let ran = ran.clone();
        let fut = pool.run(move || ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
        rt.block_on(async {
            let mut fut = std::pin::pin!(fut);
            assert!(futures::poll!(fut.as_mut()).is_pending());
        });
    }
    let st = pool.stats();
    assert_eq!((st.queued, st.cancelled, st.peak_queued), (0, 5, 1));
    assert_eq!(pool.queue_entries(), 0, "cancelled entries do not linger");
    // Nor do many, queued behind a live one and cancelled out of order.
    let mut live = std::pin::pin!(pool.run(|| 1));
    rt.block_on(async { assert!(futures::poll!(live.as_mut()).is_pending()) });
    let mut futs: Vec<_> = (0..1000).map(|i| Box::pin(pool.run(move || i))).collect();
    rt.block_on(async {
        for f in &mut futs {
            assert!(futures::poll!(f.as_mut()).is_pending());
        }
    });
    assert_eq!(pool.queue_entries(), 1001);
    while !futs.is_empty() {
        let i = futs.len() / 2;
        drop(futs.swap_remove(i));
    }
    assert_eq!(pool.queue_entries(), 1);
    assert_eq!(pool.stats().queued, 1);
    gate.release.send(()).unwrap();
    done_rx.recv().unwrap();
    // The live one runs next, past the skipped ones.
    gate.started.recv().unwrap();
    gate.release.send(()).unwrap();
    assert_eq!(rt.block_on(live), Ok(1));
    // A later job still runs.
    let (tx, rx) = mpsc::channel();
    pool.spawn_detached(move || tx.send(()).unwrap());
    gate.started.recv().unwrap();
    gate.release.send(()).unwrap();
    rx.recv().unwrap();
    assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(pool.stats().cancelled, 1005);
    assert_eq!(pool.queue_entries(), 0);
}

#[test]
fn started_job_completes_after_caller_drops() {
    let (pool, gate) = gated_pool(1);
    let rt = rt();
    let (tx, rx) = mpsc::channel();
    let fut = pool.run(move || tx.send(()).unwrap());
    rt.block_on(async {
        let mut fut = std::pin::pin!(fut);
        assert!(futures::poll!(fut.as_mut()).is_pending());
        gate.started.recv().unwrap();
    });
    // The future is gone, the job has started: it still runs to the end.
    gate.release.send(()).unwrap();
    rx.recv().unwrap();
    assert_eq!(pool.stats().cancelled, 0);
}

#[test]
fn panicking_job_is_io_and_worker_survives() {
    let pool = Pool::new(1);
    let rt = rt();
    let r: FsResult<()> = rt.block_on(pool.run(|| panic!("boom")));
    assert_eq!(r, Err(ErrorCode::Io));
    pool.spawn_detached(|| panic!("detached boom"));
    assert_eq!(rt.block_on(pool.run(|| 1)), Ok(1));
    let st = pool.stats();
    assert_eq!((st.completed, st.running), (3, 0));
}

#[test]
fn threads_exit_when_last_clone_drops() {
    let pool = Pool::new(2);
    // Each worker holds the sender half; the receiver sees the end once both exit.
    let (tx, rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel();
    let barrier = Arc::new(std::sync::Barrier::new(2));
    for _ in 0..2 {
        let tx = tx.clone();
        let started_tx = started_tx.clone();
        let barrier = barrier.clone();
        pool.spawn_detached(move || {
            // Both workers take one job each: the barrier needs two threads.
            barrier.wait();
            started_tx.send(()).unwrap();
            // Park the sender in this worker's thread-local, dropped at thread exit.
            DROP_AT_EXIT.with(|slot| *slot.borrow_mut() = Some(tx));
        });
    }
    drop(tx);
    started_rx.recv().unwrap();
    started_rx.recv().unwrap();
    let clone = pool.clone();
    drop(pool);
    assert_eq!(clone.stats().threads, 2);
    drop(clone);
    // Blocks until both workers have exited (and their thread-locals dropped).
    assert!(rx.recv().is_err());
}

thread_local! {
    static DROP_AT_EXIT: std::cell::RefCell<Option<mpsc::Sender<()>>> =
        const { std::cell::RefCell::new(None) };
}

/// Tenants are served round-robin: a flood of one tenant's jobs delays another
/// tenant's jobs by at most one job each.
#[test]
fn tenants_take_turns() {
    let (pool, gate) = gated_pool(1);
    let (attacker, victim) = (Tenant::new(None), Tenant::new(None));
    let (order_tx, order_rx) = mpsc::channel();
    // Occupy the only worker so that everything below queues.
    pool.spawn_detached(|| ());
    gate.started.recv().unwrap();
    for _ in 0..100 {
        let tx = order_tx.clone();
        pool.spawn_detached_for(&attacker, move || tx.send('a').unwrap());
    }
    for _ in 0..5 {
        let tx = order_tx.clone();
        pool.spawn_detached_for(&victim, move || tx.send('v').unwrap());
    }
    gate.release.send(()).unwrap();
    for _ in 0..105 {
        gate.started.recv().unwrap();
        gate.release.send(()).unwrap();
    }
    let order: String = (0..105).map(|_| order_rx.recv().unwrap()).collect();
    // Every victim job ran after at most one more attacker job than the one before.
    let victims: Vec<usize> = order.match_indices('v').map(|(i, _)| i).collect();
    assert_eq!(victims, vec![1, 3, 5, 7, 9], "{order}");
}

/// A running job stops at its next checkpoint once its future is dropped, its
/// tenant is cancelled, or it runs past its tenant's time limit.
#[test]
fn checkpoints_stop_long_jobs() {
    let pool = Pool::new(1);
    let rt = rt();
    let spin = |ticks: Arc<AtomicU64>| {
        move || loop {
            if let Err(e) = checkpoint() {
                return e;
            }
            ticks.fetch_add(1, Ordering::SeqCst);
            std::thread::yield_now();
        }
    };
    // Dropped future: the job was seen running (ticks moving), then stops.
    let ticks = Arc::new(AtomicU64::new(0));
    let (done_tx, done_rx) = mpsc::channel();
    let job = spin(ticks.clone());
    let fut = pool.run(move || done_tx.send(job()).unwrap());
    rt.block_on(async {
        let mut fut = std::pin::pin!(fut);
        assert!(futures::poll!(fut.as_mut()).is_pending());
        while ticks.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
    });
    assert_eq!(done_rx.recv().unwrap(), ErrorCode::Interrupted);
    // Cancelled tenant.
    let tenant = Tenant::new(None);
    let ticks = Arc::new(AtomicU64::new(0));
    let job = spin(ticks.clone());
    let t2 = tenant.clone();
    let canceller = std::thread::spawn(move || {
        while ticks.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        t2.cancel();
    });
    assert_eq!(
        rt.block_on(pool.run_for(&tenant, job)),
        Ok(ErrorCode::Interrupted)
    );
    canceller.join().unwrap();
    assert!(tenant.is_cancelled());
    // Time limit (zero: the first checkpoint fails).
    let tenant = Tenant::new(Some(Duration::ZERO));
    let job = spin(Arc::new(AtomicU64::new(0)));
    assert_eq!(
        rt.block_on(pool.run_for(&tenant, job)),
        Ok(ErrorCode::Interrupted)
    );
    // Outside a job, and in a plain job, checkpoints pass.
    assert_eq!(checkpoint(), Ok(()));
    assert_eq!(rt.block_on(pool.run(checkpoint)), Ok(Ok(())));
}

#[test]
fn shared_pool_is_one_pool() {
    let a = Pool::shared();
    let b = Pool::shared();
    assert!(Arc::ptr_eq(&a.inner, &b.inner));
    assert!(a.stats().threads >= 4);
}
