//! Per-grant budgets ([`GrantQuota`]) and the regular-files-only rule, against real
//! temporary directories.

use super::*;
use crate::grant::{Grant, normalize_mount};
use std::fs as stdfs;

/// `/data` (read-write, with `quota`) and `/free` (read-write, no budget) over fresh
/// temporary directories.
struct Env {
    tmp: tempfile::TempDir,
    fs: Fs,
}

impl Env {
    fn new(quota: GrantQuota) -> Env {
        Env::with(quota, Limits::default(), Pool::new(2))
    }

    fn with(quota: GrantQuota, limits: Limits, pool: Pool) -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let mut grants = Grants::default();
        for (name, quota) in [("data", quota), ("free", GrantQuota::UNLIMITED)] {
            let host = tmp.path().join(name);
            stdfs::create_dir(&host).unwrap();
            let dir = Dir::open_ambient_dir(&host, cap_std::ambient_authority()).unwrap();
            let grant = Grant {
                store: crate::grant::Store::Local(Arc::new(dir)),
                guest_path: normalize_mount(name).unwrap(),
                perms: Perms::ReadWrite,
            };
            grants.push_with_quota(grant, quota);
        }
        Env {
            tmp,
            fs: Fs::new(grants, limits, pool),
        }
    }

    fn host(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    fn put(&self, rel: &str, content: &[u8]) {
        stdfs::write(self.host(rel), content).unwrap();
    }

    fn usage(&self) -> GrantUsage {
        self.fs.grant_usage().remove(0)
    }

    fn tree(&self) -> Vec<String> {
        let mut v: Vec<String> = stdfs::read_dir(self.host("data"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }
}

fn p(s: &str) -> String {
    s.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_written_all_or_nothing() {
    let env = Env::new(GrantQuota {
        max_bytes_written: Some(10),
        ..GrantQuota::UNLIMITED
    });
    let fs = &env.fs;
    fs.write_file(p("/data/a"), vec![1; 6], false)
        .await
        .unwrap();
    // Does not fit: refused, nothing written, nothing charged.
    assert_eq!(
        fs.write_file(p("/data/b"), vec![2; 5], true).await,
        Err(ErrorCode::Quota)
    );
    assert!(!env.host("data/b").exists());
    assert_eq!(env.usage().bytes_written, 6);
    // A failing write gives its bytes back.
    assert_eq!(
        fs.write_file(p("/data/nodir/x"), vec![3; 4], false).await,
        Err(ErrorCode::NoEntry)
    );
    assert_eq!(env.usage().bytes_written, 6);
    let f = fs.open(p("/data/c"), "wb").await.unwrap();
    assert_eq!(f.write(vec![4; 4]).await, Ok(4));
    assert_eq!(f.write(vec![5; 1]).await, Err(ErrorCode::Quota));
    assert_eq!(f.write_lines(vec![vec![], vec![]]).await, Ok(0));
    f.close().await.unwrap();
    assert_eq!(stdfs::read(env.host("data/c")).unwrap(), [4; 4]);
    assert_eq!(
        fs.copy_file(p("/data/a"), p("/data/d")).await,
        Err(ErrorCode::Quota)
    );
    assert_eq!(env.usage().bytes_written, 10);
    // The other grant has its own (unlimited) budget, and still counts.
    fs.write_file(p("/free/x"), vec![0; 100], false)
        .await
        .unwrap();
    assert_eq!(fs.grant_usage()[1].bytes_written, 100);
    // Copying from the budgeted grant into the free one is paid by the free one.
    assert_eq!(fs.copy_file(p("/data/a"), p("/free/y")).await, Ok(6));
}

/// Many writers race for the last bytes of a budget: exactly as many succeed as fit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_written_race_free() {
    let env = Env::with(
        GrantQuota {
            max_bytes_written: Some(100),
            ..GrantQuota::UNLIMITED
        },
        Limits::default(),
        Pool::new(4),
    );
    let writes = (0..37).map(|i| {
        let fs = env.fs.clone();
        tokio::spawn(async move {
            let f = fs.open(format!("/data/w{i}"), "wb").await?;
            f.write(vec![0; 10]).await
        })
    });
    let mut ok = 0;
    for w in writes {
        match w.await.unwrap() {
            Ok(10) => ok += 1,
            Err(ErrorCode::Quota) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(ok, 10);
    assert_eq!(env.usage().bytes_written, 100);
    let on_disk: u64 = (0..37)
        .filter_map(|i| stdfs::metadata(env.host(&format!("data/w{i}"))).ok())
        .map(|m| m.len())
        .sum();
    assert_eq!(on_disk, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_read_clamps_then_refuses() {
    let env = Env::new(GrantQuota {
        max_bytes_read: Some(10),
        ..GrantQuota::UNLIMITED
    });
    env.put("data/twelve", b"0123456789ab");
    env.put("data/line", b"abc\ndef\n");
    let fs = &env.fs;
    assert_eq!(
        fs.read_file(p("/data/twelve"), 100).await,
        Err(ErrorCode::Quota)
    );
    assert_eq!(env.usage().bytes_read, 0);
    let f = fs.open(p("/data/twelve"), "rb").await.unwrap();
    assert_eq!(f.read(4).await.unwrap(), b"0123");
    let l = fs.open(p("/data/line"), "r").await.unwrap();
    assert_eq!(l.read_line_text().await.unwrap(), "abc\n");
    assert_eq!(env.usage().bytes_read, 8);
    // Two bytes left: read-all of the rest does not fit; read(n) returns what is left.
    assert_eq!(f.read_all().await, Err(ErrorCode::Quota));
    assert_eq!(f.tell().await, Ok(4));
    assert_eq!(f.read(100).await.unwrap(), b"45");
    assert_eq!(f.read(1).await, Err(ErrorCode::Quota));
    assert_eq!(l.read_line_text().await, Err(ErrorCode::Quota));
    assert_eq!(
        fs.copy_file(p("/data/line"), p("/free/c")).await,
        Err(ErrorCode::Quota)
    );
    assert_eq!(env.usage().bytes_read, 10);
    // Reading the other grant is not limited.
    env.put("free/f", b"free");
    assert_eq!(fs.read_file(p("/free/f"), 100).await.unwrap(), b"free");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_file_size() {
    let env = Env::new(GrantQuota {
        max_file_size: Some(8),
        ..GrantQuota::UNLIMITED
    });
    env.put("free/nine", b"123456789");
    let fs = &env.fs;
    let big = ErrorCode::FileTooLarge;
    assert_eq!(
        fs.write_file(p("/data/a"), vec![0; 9], true).await,
        Err(big)
    );
    assert_eq!(
        fs.write_file(p("/data/a"), vec![0; 9], false).await,
        Err(big)
    );
    assert!(env.tree().is_empty(), "{:?}", env.tree());
    fs.write_file(p("/data/a"), vec![1; 8], false)
        .await
        .unwrap();
    let f = fs.open(p("/data/b"), "w+b").await.unwrap();
    f.write(vec![2; 5]).await.unwrap();
    assert_eq!(f.write(vec![2; 4]).await, Err(big));
    assert_eq!(f.truncate(Some(9)).await, Err(big));
    assert_eq!(f.truncate(Some(8)).await, Ok(8));
    f.seek(2, Whence::Start).await.unwrap();
    assert_eq!(
        f.write(vec![3; 6]).await,
        Ok(6),
        "overwriting within the size"
    );
    let a = fs.open(p("/data/b"), "ab").await.unwrap();
    assert_eq!(a.write(vec![4]).await, Err(big), "append past the size");
    assert_eq!(fs.copy_file(p("/free/nine"), p("/data/c")).await, Err(big));
    assert_eq!(stdfs::metadata(env.host("data/b")).unwrap().len(), 8);
    assert!(!env.host("data/c").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_created_counts_creations_only() {
    let env = Env::new(GrantQuota {
        max_created: Some(4),
        ..GrantQuota::UNLIMITED
    });
    env.put("data/existing", b"e");
    let fs = &env.fs;
    let q = Err(ErrorCode::Quota);
    fs.mkdir(p("/data/d")).await.unwrap();
    drop(fs.open(p("/data/x"), "xb").await.unwrap());
    drop(fs.open(p("/data/w"), "w").await.unwrap());
    // Opening or replacing existing files creates nothing.
    drop(fs.open(p("/data/w"), "w").await.unwrap());
    drop(fs.open(p("/data/existing"), "a").await.unwrap());
    fs.write_file(p("/data/existing"), b"2".to_vec(), true)
        .await
        .unwrap();
    fs.write_file(p("/data/existing"), b"3".to_vec(), false)
        .await
        .unwrap();
    assert_eq!(env.usage().created, 3);
    // makedirs needing two directories with one left: the first is created (and paid
    // for), the second is refused; as `os.makedirs` failing midway.
    assert_eq!(fs.makedirs(p("/data/m/n"), false).await, q);
    assert!(env.host("data/m").is_dir() && !env.host("data/m/n").exists());
    assert_eq!(env.usage().created, 4);
    fs.rmdir(p("/data/m")).await.unwrap();
    assert_eq!(fs.mkdir(p("/data/e")).await, q);
    assert_eq!(fs.symlink(p("existing"), p("/data/l2")).await, q);
    assert_eq!(fs.link(p("/data/existing"), p("/data/h")).await, q);
    assert_eq!(fs.open(p("/data/new"), "w").await.map(drop), q);
    assert_eq!(fs.open(p("/data/new"), "x").await.map(drop), q);
    assert_eq!(fs.write_file(p("/data/new"), vec![], true).await, q);
    assert_eq!(fs.write_file(p("/data/new"), vec![], false).await, q);
    assert_eq!(
        fs.copy_file(p("/data/existing"), p("/data/new"))
            .await
            .map(drop),
        q
    );
    let here = TempOptions {
        dir: Some(p("/data")),
        ..TempOptions::default()
    };
    assert_eq!(fs.temporary_file(p(""), here.clone()).await.map(drop), q);
    assert_eq!(
        fs.named_temporary_file(p(""), here.clone(), true)
            .await
            .map(drop),
        q
    );
    assert_eq!(fs.temporary_directory(here).await.map(drop), q);
    assert_eq!(fs.renames(p("/data/existing"), p("/data/r/s")).await, q);
    // Renaming in place creates nothing; the other grant is not limited.
    fs.rename(p("/data/existing"), p("/data/moved"))
        .await
        .unwrap();
    fs.makedirs(p("/free/a/b/c"), false).await.unwrap();
    assert_eq!(env.usage().created, 4);
    assert_eq!(
        env.tree(),
        ["d", "moved", "w", "x"],
        "nothing was created past the budget"
    );
}

/// makedirs and renames count every directory they create; a failure half way only
/// counts what it did create.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_created_counts_each_directory() {
    let env = Env::new(GrantQuota {
        max_created: Some(5),
        ..GrantQuota::UNLIMITED
    });
    let fs = &env.fs;
    fs.makedirs(p("/data/a/b"), false).await.unwrap();
    assert_eq!(env.usage().created, 2);
    fs.makedirs(p("/data/a/b/c"), true).await.unwrap();
    assert_eq!(env.usage().created, 3);
    // The last component is too long: `c2` is created, the long name fails.
    let long = format!("/data/a/c2/{}", "n".repeat(300));
    assert_eq!(fs.makedirs(long, false).await, Err(ErrorCode::NameTooLong));
    assert!(env.host("data/a/c2").is_dir());
    assert_eq!(env.usage().created, 4);
    env.put("data/f", b"f");
    fs.renames(p("/data/f"), p("/data/r/f")).await.unwrap();
    assert_eq!(env.usage().created, 5);
}

/// Budget taken for an operation that is cancelled while queued is given back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_operation_gives_budget_back() {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let rx = std::sync::Mutex::new(rx);
    let hook: crate::pool::JobHook = Arc::new(move || {
        let _ = rx.lock().unwrap().recv();
    });
    let env = Env::with(
        GrantQuota {
            max_bytes_written: Some(10),
            max_created: Some(10),
            ..GrantQuota::UNLIMITED
        },
        super::tests::pooled(Limits::default()),
        Pool::with_hook(1, Some(hook)),
    );
    let fs = env.fs.clone();
    // The first job holds the only thread; the write queues behind it and is dropped.
    let blocker = tokio::spawn({
        let fs = fs.clone();
        async move { fs.exists(p("/data")).await }
    });
    // Only once the blocker holds the thread may the write queue (else the write would
    // take the thread, and the blocker's job would wait in the hook forever).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while fs.pool().stats().running < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the blocker never ran"
        );
        tokio::task::yield_now().await;
    }
    let mut write = Box::pin(fs.write_file(p("/data/a"), vec![0; 10], false));
    assert!(futures::poll!(&mut write).is_pending());
    drop(write);
    tx.send(()).unwrap();
    assert_eq!(blocker.await.unwrap(), Ok(true));
    assert_eq!(env.usage().bytes_written, 0);
    // The budget is whole: a full-size write still fits.
    drop(tx);
    fs.write_file(p("/data/a"), vec![0; 10], false)
        .await
        .unwrap();
    assert_eq!(env.usage().bytes_written, 10);
    assert_eq!(env.usage().created, 1);
}

/// Temporary directories are handles: they count against `max_open_files`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temp_dirs_count_as_open_handles() {
    let env = Env::with(
        GrantQuota::UNLIMITED,
        Limits {
            max_open_files: 3,
            ..Limits::default()
        },
        Pool::new(1),
    );
    let fs = &env.fs;
    let f = fs.open(p("/data/f"), "w").await.unwrap();
    let a = fs
        .temporary_directory(TempOptions::default())
        .await
        .unwrap();
    let b = fs
        .temporary_directory(TempOptions::default())
        .await
        .unwrap();
    assert_eq!(
        fs.temporary_directory(TempOptions::default())
            .await
            .map(drop),
        Err(ErrorCode::Quota)
    );
    a.cleanup().await.unwrap();
    drop(a);
    let c = fs
        .temporary_directory(TempOptions::default())
        .await
        .unwrap();
    drop((b, c, f));
    // The drops queued their removals on the one-thread pool: a job after them sees the end.
    fs.pool().run_for(fs.tenant(), || ()).await.unwrap();
    assert_eq!(fs.open_files(), 0);
    assert_eq!(env.tree(), ["f"]);
}

/// A FIFO or socket in a grant is never opened for I/O (a FIFO would block a pool thread
/// in `open` or `read` forever); device nodes are refused the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn special_files_are_unsupported() {
    let env = Env::new(GrantQuota::UNLIMITED);
    let fifo = env.host("data/fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let _sock = std::os::unix::net::UnixListener::bind(env.host("data/sock")).unwrap();
    let fs = &env.fs;
    let un = Err(ErrorCode::Unsupported);
    for path in ["/data/fifo", "/data/sock"] {
        for mode in ["rb", "r", "wb", "a", "r+b"] {
            let got = fs.open(p(path), mode).await.map(drop);
            // A socket cannot be opened at all (ENXIO), a FIFO opens non-blocking and is
            // then refused by type.
            assert_eq!(got, un, "{path} {mode}");
        }
        assert_eq!(fs.read_file(p(path), 100).await.map(drop), un, "{path}");
        assert_eq!(
            fs.write_file(p(path), b"x".to_vec(), false).await,
            un,
            "{path}"
        );
        assert_eq!(
            fs.copy_file(p(path), p("/data/copy")).await.map(drop),
            un,
            "{path}"
        );
    }
    env.put("data/f", b"f");
    assert_eq!(
        fs.copy_file(p("/data/f"), p("/data/fifo")).await.map(drop),
        un
    );
    // Metadata and listing still work; an atomic write replaces the FIFO with a file.
    assert_eq!(
        fs.stat(p("/data/fifo"), true).await.unwrap().file_type,
        FileType::Fifo
    );
    fs.write_file(p("/data/fifo"), b"now a file".to_vec(), true)
        .await
        .unwrap();
    assert_eq!(stdfs::read(&fifo).unwrap(), b"now a file");
    assert_eq!(fs.open_files(), 0);
}

/// A dropped handle frees its open-file slot at once, even while its close still waits
/// for a pool thread: a guest can drop handles and open new ones right away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_handles_free_their_slots_at_once() {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let rx = std::sync::Mutex::new(rx);
    let held = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hook: crate::pool::JobHook = {
        let held = held.clone();
        Arc::new(move || {
            if held.load(Ordering::Acquire) {
                let _ = rx.lock().unwrap().recv();
            }
        })
    };
    let env = Env::with(
        GrantQuota::UNLIMITED,
        Limits {
            max_open_files: 3,
            ..Limits::default()
        },
        Pool::with_hook(1, Some(hook)),
    );
    let fs = env.fs.clone();
    let mut files = Vec::new();
    for i in 0..3 {
        files.push(fs.open(format!("/data/f{i}"), "w").await.unwrap());
    }
    // Hold the only thread, then drop every handle: their closes queue behind.
    held.store(true, Ordering::Release);
    let blocker = tokio::spawn({
        let fs = fs.clone();
        async move { fs.exists(p("/data")).await }
    });
    drop(files);
    assert_eq!(fs.open_files(), 0, "slots are free before the closes ran");
    let reopened = tokio::spawn({
        let fs = fs.clone();
        async move { fs.open(p("/data/f0"), "r").await.map(drop) }
    });
    held.store(false, Ordering::Release);
    tx.send(()).unwrap();
    assert_eq!(blocker.await.unwrap(), Ok(true));
    assert_eq!(reopened.await.unwrap(), Ok(()));
}

/// A whole-file write stopped halfway (its future dropped while it runs) still pays for
/// the bytes it left in the file: dropping writes cannot write past `max_bytes_written`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_stopped_halfway_pays_for_what_it_wrote() {
    let env = Env::new(GrantQuota {
        max_bytes_written: Some(1 << 30),
        ..GrantQuota::UNLIMITED
    });
    let fs = env.fs.clone();
    let data = vec![7u8; 64 << 20];
    let writing =
        tokio::spawn(async move { fs.write_file("/data/big".to_owned(), data, false).await });
    let on_disk = || stdfs::metadata(env.host("data/big")).map_or(0, |m| m.len());
    while on_disk() == 0 && !writing.is_finished() {
        tokio::task::yield_now().await;
    }
    writing.abort();
    let _ = writing.await;
    // The job runs on after its future is gone, until its next checkpoint.
    while env.fs.pool().stats().running != 0 {
        tokio::task::yield_now().await;
    }
    let (left, paid) = (on_disk(), env.usage().bytes_written);
    assert!(left > 0);
    assert!(paid >= left, "{left} bytes in the file, {paid} paid");
    assert!(paid <= 64 << 20);
}
