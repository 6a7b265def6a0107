//! Workload 6, responsiveness: host tasks that want to run every millisecond on the
//! embedder's tokio runtime, and how late they run while guests do slow file I/O.
//!
//! Two tickers run at once:
//! * the **event ticker**: an OS thread outside the runtime sends a message every 1 ms
//!   (like a network packet arriving); a task on the runtime receives it. Its lateness is
//!   the time from the send to the task running — exactly how long a ready host task
//!   waits because the event loop is busy;
//! * the **timer ticker**: a task on `tokio::time::interval(1 ms)`. Its lateness also
//!   includes tokio's timer granularity (deadlines are rounded up to whole milliseconds
//!   and the driver parks with millisecond timeouts), so even an idle runtime shows up to
//!   about 1 ms; compare it with the idle row.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior, interval};

/// Lateness percentiles of a ticker.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lateness {
    /// Median lateness.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Worst.
    pub max: Duration,
}

impl Lateness {
    fn of(mut late: Vec<Duration>) -> Lateness {
        if late.is_empty() {
            return Lateness::default();
        }
        late.sort();
        let at = |q: f64| late[((late.len() - 1) as f64 * q).round() as usize];
        Lateness {
            p50: at(0.5),
            p99: at(0.99),
            max: late[late.len() - 1],
        }
    }
}

/// What both tickers saw while the work ran.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ticks {
    /// The event ticker (no timer involved).
    pub event: Lateness,
    /// The `tokio::time::interval` ticker.
    pub timer: Lateness,
    /// How long the work took.
    pub elapsed: Duration,
}

/// Run `work` on the current runtime while both tickers run; returns `work`'s output
/// and what the tickers saw. Missed timer ticks are fired late one by one (tokio's
/// `Burst`), so a 10 ms stall counts ten late ticks, as ten 1 ms timers would.
pub async fn with_tickers<T>(work: impl Future<Output = T>) -> (T, Ticks) {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<std::time::Instant>();
    let clock = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let start = std::time::Instant::now();
            for k in 1u32.. {
                let next = start + Duration::from_millis(1) * k;
                std::thread::sleep(next.saturating_duration_since(std::time::Instant::now()));
                if stop.load(Ordering::Relaxed) || tx.send(std::time::Instant::now()).is_err() {
                    break;
                }
            }
        })
    };
    let event = tokio::spawn(async move {
        let mut late = Vec::with_capacity(1 << 16);
        while let Some(sent) = rx.recv().await {
            late.push(sent.elapsed());
        }
        late
    });
    let (stop_timer, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let timer = tokio::spawn(async move {
        let mut tick = interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
        tick.tick().await;
        let mut late = Vec::with_capacity(1 << 16);
        loop {
            tokio::select! {
                biased;
                _ = &mut stopped => break,
                at = tick.tick() => late.push(Instant::now() - at),
            }
        }
        late
    });
    let start = Instant::now();
    let out = work.await;
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let _ = stop_timer.send(());
    let _ = tokio::task::spawn_blocking(move || clock.join()).await;
    let event = event.await.unwrap_or_default();
    let timer = timer.await.unwrap_or_default();
    let ticks = Ticks {
        event: Lateness::of(event),
        timer: Lateness::of(timer),
        elapsed,
    };
    (out, ticks)
}
