//! End-to-end tests: the `scenarios` guest against real grants, then checks on the disk.

mod crash;
mod escape;
mod examples;
mod governance;
mod observe;
mod quota;
mod s3;
mod wasi;
mod wasi_escape;

use aiofs_host::{Limits, Pool};
use aiofs_tests::{Gate, Sandbox, drain, pooled, scenario, wait_until};

#[tokio::test(flavor = "multi_thread")]
async fn binary_io() {
    let sb = Sandbox::new();
    scenario(sb.ctx(), &["binary_io"]).await;
    assert_eq!(sb.read("data/new.bin"), b"hello world");
    assert_eq!(
        sb.read("data/hello.txt"),
        b"hello\nworld\nappended\nagain\n"
    );
    assert_eq!(sb.read("data/wonly.bin"), b"w");
    assert_eq!(sb.read("data/excl.bin"), b"x");
    sb.assert_untouched();
}

#[tokio::test(flavor = "multi_thread")]
async fn text_io() {
    let sb = Sandbox::new();
    scenario(sb.ctx(), &["text_io"]).await;
    assert_eq!(sb.read("data/out.txt"), "héllo\na\nb\nc\n".as_bytes());
    // Reading never rewrote the source files.
    assert_eq!(sb.read("data/lines.txt"), b"one\r\ntwo\rthree\nfour");
    assert_eq!(sb.read("data/bad-utf8.txt"), b"f\xffo\n");
    sb.assert_untouched();
}

#[tokio::test(flavor = "multi_thread")]
async fn streams() {
    let sb = Sandbox::new();
    scenario(sb.ctx(), &["streams"]).await;
    let data = sb.read("data/stream.bin");
    assert_eq!(data.len(), 3 << 20);
    assert!(data.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
}

#[tokio::test(flavor = "multi_thread")]
async fn whole_file() {
    let sb = Sandbox::new();
    scenario(sb.ctx(), &["whole_file"]).await;
    assert_eq!(sb.read("data/plain.txt"), b"plain");
    assert_eq!(sb.read("data/atomic.txt"), b"new content");
    // The atomic writes left no temporary files behind.
    sb.assert_none_in("data", "temporary files", |p| p.contains("tmp"));
    sb.assert_untouched();
}

#[tokio::test(flavor = "multi_thread")]
async fn os_ops() {
    let sb = Sandbox::new();
    scenario(sb.ctx(), &["os_ops"]).await;
    assert_eq!(sb.read("data/renamed.txt"), b"r2");
    assert!(!sb.exists("data/r2.txt"));
    assert_eq!(sb.read("data/t1/t2/moved.txt"), b"m");
    assert!(!sb.exists("data/s1"));
    assert_eq!(sb.read("data/from-ro.txt"), b"read only\n");
    assert!(!sb.exists("data/copy.txt") && !sb.exists("data/hard.txt"));
    assert!(!sb.exists("data/tree"));
    assert_eq!(sb.read("data/sub/deep/f.txt"), b"deep");
    assert_eq!(
        std::fs::read_link(sb.path("data/link")).unwrap().to_str(),
        Some("hello.txt")
    );
    assert_eq!(sb.tree("data/d1"), ["a"]);
    sb.assert_untouched();
}

#[tokio::test(flavor = "multi_thread")]
async fn path_ops() {
    let sb = Sandbox::new();
    scenario(sb.ctx(), &["path_ops"]).await;
    sb.assert_untouched();
}

#[tokio::test(flavor = "multi_thread")]
async fn tempfiles() {
    let sb = Sandbox::new();
    let ctx = sb.ctx();
    let pool = ctx.fs().pool().clone();
    scenario(ctx, &["tempfiles"]).await;
    // Dropped temporaries are removed on the pool; the removals were queued when the store
    // was dropped, so an idle pool means they are done.
    drain(&pool).await;
    sb.assert_none_in("data", "temporaries", |p| p.contains("t-"));
    assert!(sb.exists("data/kept.tmp"));
    sb.assert_untouched();
}

#[tokio::test(flavor = "multi_thread")]
async fn grants() {
    let sb = Sandbox::new();
    scenario(sb.ctx(), &["grants"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn escapes() {
    let sb = Sandbox::new();
    let before = sb.tree("data");
    scenario(sb.ctx(), &["escapes"]).await;
    sb.assert_untouched();
    assert_eq!(sb.tree("data"), before, "escape attempts changed /data");
}

/// One guest keeps 16 reads in flight; a 4-thread pool runs exactly 4 at once and queues
/// the rest, while the test's own runtime keeps running.
#[tokio::test(flavor = "multi_thread")]
async fn concurrency_bound() {
    let sb = Sandbox::new();
    for i in 0..16 {
        std::fs::write(sb.path(&format!("data/c{i}.txt")), format!("file {i}")).unwrap();
    }
    let gate = Gate::default();
    let pool = Pool::with_hook(4, Some(gate.hook()));
    let ctx = sb.ctx_with(pooled(Limits::default()), pool.clone());
    let fs = ctx.fs().clone();
    let guest = tokio::spawn(scenario(ctx, &["concurrent_reads", "16"]));
    wait_until("16 operations in flight", || fs.pending_ops() == 16).await;
    wait_until("4 running, 12 queued", || {
        let s = pool.stats();
        s.running == 4 && s.queued == 12
    })
    .await;
    gate.open();
    guest.await.unwrap();
    let s = pool.stats();
    assert_eq!(s.peak_running, 4, "{s:?}");
    assert!(s.peak_queued >= 12, "{s:?}");
    assert!(s.completed >= 16, "{s:?}");
    assert_eq!(fs.pending_ops(), 0);
}

/// `write-via-stream` writes one chunk behind the writer: the pool's one thread takes the
/// first chunk's job (which accepts the chunk) and is then held at the gate, and the
/// guest's next operation gets queued behind that write. (Were the chunk written before
/// the guest's write completed, the second job would never be queued while the first is
/// held, and this would time out.)
#[tokio::test(flavor = "multi_thread")]
async fn write_stream_writes_behind_the_writer() {
    let sb = Sandbox::new();
    let gate = Gate::default();
    // The open runs; the first chunk's write is held.
    let pool = Pool::with_hook(1, Some(gate.hook_after(1)));
    let ctx = sb.ctx_with(pooled(Limits::default()), pool.clone());
    let fs = ctx.fs().clone();
    let guest = tokio::spawn(scenario(ctx, &["write_behind"]));
    wait_until("the write held and the next operation queued", || {
        let s = pool.stats();
        s.running == 1 && s.queued == 1
    })
    .await;
    gate.open();
    guest.await.unwrap();
    let chunk: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(sb.read("data/behind.bin"), [chunk.clone(), chunk].concat());
    assert_eq!(fs.open_files(), 0, "the stream gave its handle slot back");
    assert_eq!(fs.pending_ops(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn quota_open_files_and_read_size() {
    let sb = Sandbox::new();
    let limits = Limits {
        max_open_files: 5,
        max_read_bytes: 1024,
        ..Limits::default()
    };
    let ctx = sb.ctx_with(limits, Pool::new(2));
    let fs = ctx.fs().clone();
    scenario(ctx, &["quota_open_files", "5"]).await;
    assert!(sb.exists("data/one-more"));
    assert_eq!(fs.open_files(), 0, "every handle was released");
}

/// More concurrent operations than `max_pending_ops`: the excess gets `quota` at once
/// (nothing queued beyond the cap), the rest succeed.
#[tokio::test(flavor = "multi_thread")]
async fn quota_pending_ops() {
    let sb = Sandbox::new();
    let gate = Gate::default();
    let pool = Pool::with_hook(2, Some(gate.hook()));
    let limits = pooled(Limits {
        max_pending_ops: 8,
        ..Limits::default()
    });
    let ctx = sb.ctx_with(limits, pool.clone());
    let fs = ctx.fs().clone();
    let guest = tokio::spawn(scenario(ctx, &["quota_pending", "20"]));
    wait_until("the cap is full", || fs.pending_ops() == 8).await;
    gate.open();
    let out = guest.await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().next(),
        Some("ok=8 quota=12")
    );
    assert!(pool.stats().peak_running <= 2);
}

/// A queued operation whose future the guest drops never runs; the running one completes.
#[tokio::test(flavor = "multi_thread")]
async fn cancelled_queued_operation_never_runs() {
    let sb = Sandbox::new();
    let gate = Gate::default();
    let pool = Pool::with_hook(1, Some(gate.hook()));
    let ctx = sb.ctx_with(pooled(Limits::default()), pool.clone());
    let fs = ctx.fs().clone();
    let guest = tokio::spawn(scenario(ctx, &["cancel_queued"]));
    // Both operations were submitted (the read running, held by the gate; the write
    // queued), then the write's future was dropped: its job is withdrawn and its slot freed.
    wait_until("the write to be dropped while queued", || {
        let s = pool.stats();
        s.running == 1 && s.cancelled == 1 && fs.pending_ops() == 1
    })
    .await;
    // The write was queued (only a queued job can be withdrawn). The read may have been
    // queued for a moment too, before the worker took it: on a loaded machine the two
    // submissions can both land before the worker wakes.
    assert!(pool.stats().peak_queued >= 1, "the write was queued");
    gate.open();
    guest.await.unwrap();
    assert!(!sb.exists("data/cancelled.txt"), "the cancelled write ran");
    assert_eq!(pool.stats().cancelled, 1, "{:?}", pool.stats());
}
