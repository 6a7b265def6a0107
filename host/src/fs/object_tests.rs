//! Object grants against a real S3 server (SeaweedFS, started by `scripts/test.sh`; the
//! `AIOFS_S3_*` variables say where). Each test works under its own key prefix. Without a
//! server the tests print `skipped: no S3 server`, unless `AIOFS_S3_REQUIRED=1`.

use super::*;
use crate::object::{ObjectStore, S3Config, opendal::Operator};
use std::sync::atomic::AtomicU64;

/// The shared server's config for `prefix`, if there is a server.
pub(super) fn config(prefix: &str) -> Option<S3Config> {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    let Some(endpoint) = var("AIOFS_S3_ENDPOINT") else {
        assert!(
            var("AIOFS_S3_REQUIRED").as_deref() != Some("1"),
            "AIOFS_S3_REQUIRED=1 but no AIOFS_S3_ENDPOINT: start scripts/s3-server.sh"
        );
        eprintln!("skipped: no S3 server");
        return None;
    };
    Some(S3Config {
        endpoint,
        bucket: var("AIOFS_S3_BUCKET")?,
        prefix: prefix.to_owned(),
        region: var("AIOFS_S3_REGION").unwrap_or_default(),
        access_key_id: var("AIOFS_S3_ACCESS_KEY_ID"),
        secret_access_key: var("AIOFS_S3_SECRET_ACCESS_KEY"),
        ..S3Config::default()
    })
}

/// A fresh prefix per test.
fn unique() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "host-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `/data` (read-write, `quota`) and `/ro` (read-only) on two prefixes of one bucket, plus
/// an operator on the bucket root of the test (`raw`) to look behind the grants.
pub(super) struct Env {
    pub(super) fs: Fs,
    pub(super) raw: Operator,
    /// The test's key prefix in the bucket (`raw`'s root).
    pub(super) base: String,
}

impl Env {
    pub(super) fn new(quota: GrantQuota) -> Option<Env> {
        Env::with(quota, Limits::default())
    }

    pub(super) fn with(quota: GrantQuota, limits: Limits) -> Option<Env> {
        Env::with_pool(quota, limits, Pool::new(2))
    }

    fn with_pool(quota: GrantQuota, limits: Limits, pool: Pool) -> Option<Env> {
        let base = unique();
        let raw = config(&base)?.operator().unwrap();
        let mut grants = Grants::default();
        for (sub, guest, perms, quota) in [
            ("data", "/data", Perms::ReadWrite, quota),
            ("ro", "/ro", Perms::ReadOnly, GrantQuota::UNLIMITED),
        ] {
            let op = config(&format!("{base}/{sub}"))?.operator().unwrap();
            let grant = Grant {
                store: crate::grant::Store::Object(Arc::new(ObjectStore::new(op))),
                guest_path: guest.to_owned(),
                perms,
            };
            grants.push_with_quota(grant, quota);
        }
        Some(Env {
            fs: Fs::new(grants, limits, pool),
            raw,
            base,
        })
    }

    pub(super) async fn put(&self, key: &str, data: &[u8]) {
        self.raw.write(key, data.to_vec()).await.unwrap();
    }

    pub(super) async fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self.raw.read(key).await {
            Ok(b) => Some(b.to_vec()),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => None,
            Err(e) => panic!("{e}"),
        }
    }
}

pub(super) fn s(v: &str) -> String {
    v.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_files_names_and_listings() {
    let Some(env) = Env::new(GrantQuota::UNLIMITED) else {
        return;
    };
    let fs = &env.fs;
    fs.write_file(s("/data/a.txt"), b"hello".to_vec(), true)
        .await
        .unwrap();
    assert_eq!(env.get("data/a.txt").await.unwrap(), b"hello");
    assert_eq!(fs.read_file(s("/data/a.txt"), 100).await.unwrap(), b"hello");
    assert_eq!(
        fs.read_file(s("/data/a.txt"), 4).await,
        Err(ErrorCode::FileTooLarge)
    );
    assert_eq!(
        fs.read_file(s("/data/missing"), 100).await,
        Err(ErrorCode::NoEntry)
    );
    // A big object: streamed into one allocation, every byte in place.
    let big: Vec<u8> = (0..(20u32 << 20)).map(|i| (i % 253) as u8).collect();
    fs.write_file(s("/data/big.bin"), big.clone(), false)
        .await
        .unwrap();
    assert_eq!(
        fs.read_file(s("/data/big.bin"), u64::MAX).await.unwrap(),
        big
    );
    assert_eq!(
        fs.read_file(s("/data/big.bin"), 1 << 20).await,
        Err(ErrorCode::FileTooLarge)
    );
    fs.remove_file(s("/data/big.bin")).await.unwrap();
    let st = fs.stat(s("/data/a.txt"), true).await.unwrap();
    assert_eq!((st.file_type, st.size), (FileType::RegularFile, 5));
    assert!(st.modified.is_some());
    assert!(fs.exists(s("/data/a.txt")).await.unwrap());
    assert!(fs.is_file(s("/data/a.txt")).await.unwrap());
    assert!(!fs.is_dir(s("/data/a.txt")).await.unwrap());
    assert!(!fs.exists(s("/data/nope")).await.unwrap());
    assert!(!fs.is_link(s("/data/a.txt")).await.unwrap());

    // Directories: markers, implied parents, listings.
    fs.mkdir(s("/data/sub")).await.unwrap();
    assert_eq!(fs.mkdir(s("/data/sub")).await, Err(ErrorCode::Exist));
    assert_eq!(fs.mkdir(s("/data/a.txt")).await, Err(ErrorCode::Exist));
    assert_eq!(fs.mkdir(s("/data/x/y")).await, Err(ErrorCode::NoEntry));
    fs.makedirs(s("/data/x/y"), false).await.unwrap();
    fs.makedirs(s("/data/x/y"), true).await.unwrap();
    assert_eq!(
        fs.makedirs(s("/data/x/y"), false).await,
        Err(ErrorCode::Exist)
    );
    assert!(fs.is_dir(s("/data/x")).await.unwrap());
    assert!(fs.is_dir(s("/data/sub/")).await.unwrap());
    assert_eq!(
        fs.stat(s("/data/a.txt/"), true).await,
        Err(ErrorCode::NotDirectory)
    );
    // A path through a file, as locally.
    assert_eq!(
        fs.stat(s("/data/a.txt/x"), true).await,
        Err(ErrorCode::NotDirectory)
    );
    assert_eq!(
        fs.read_file(s("/data/a.txt/x"), 9).await,
        Err(ErrorCode::NotDirectory)
    );
    assert!(!fs.exists(s("/data/a.txt/x")).await.unwrap());
    fs.write_file(s("/data/sub/b.bin"), vec![7; 3000], false)
        .await
        .unwrap();
    let mut names = fs.listdir(s("/data")).await.unwrap();
    names.sort();
    assert_eq!(names, ["a.txt", "sub", "x"]);
    assert_eq!(fs.listdir(s("/data/sub")).await.unwrap(), ["b.bin"]);
    assert_eq!(
        fs.listdir(s("/data/a.txt")).await,
        Err(ErrorCode::NotDirectory)
    );
    assert_eq!(fs.listdir(s("/data/none")).await, Err(ErrorCode::NoEntry));
    let entries = fs.scandir(s("/data/sub"), true).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].stat.as_ref().unwrap().size, 3000);
    assert_eq!(
        fs.read_file(s("/data/sub"), 10).await,
        Err(ErrorCode::IsDirectory)
    );

    // Removal.
    assert_eq!(fs.rmdir(s("/data/sub")).await, Err(ErrorCode::NotEmpty));
    assert_eq!(
        fs.remove_file(s("/data/sub")).await,
        Err(ErrorCode::IsDirectory)
    );
    assert_eq!(
        fs.rmdir(s("/data/a.txt")).await,
        Err(ErrorCode::NotDirectory)
    );
    fs.remove_file(s("/data/sub/b.bin")).await.unwrap();
    fs.rmdir(s("/data/sub")).await.unwrap();
    assert!(!fs.exists(s("/data/sub")).await.unwrap());
    assert_eq!(
        fs.remove_file(s("/data/gone")).await,
        Err(ErrorCode::NoEntry)
    );
    fs.removedirs(s("/data/x/y")).await.unwrap();
    assert!(!fs.exists(s("/data/x")).await.unwrap());
    assert_eq!(fs.rmdir(s("/data")).await, Err(ErrorCode::Busy));
    assert_eq!(fs.remove_tree(s("/data")).await, Err(ErrorCode::Busy));

    // Rename and copy: server-side.
    fs.rename(s("/data/a.txt"), s("/data/b.txt")).await.unwrap();
    assert_eq!(env.get("data/a.txt").await, None);
    assert_eq!(env.get("data/b.txt").await.unwrap(), b"hello");
    assert_eq!(
        fs.copy_file(s("/data/b.txt"), s("/data/c.txt")).await,
        Ok(5)
    );
    assert_eq!(env.get("data/c.txt").await.unwrap(), b"hello");
    fs.makedirs(s("/data/t/u"), false).await.unwrap();
    assert_eq!(
        fs.rename(s("/data/t"), s("/data/t2")).await,
        Err(ErrorCode::Unsupported)
    );
    fs.write_file(s("/data/t/u/f"), b"f".to_vec(), false)
        .await
        .unwrap();
    fs.remove_tree(s("/data/t")).await.unwrap();
    assert_eq!(env.get("data/t/u/f").await, None);
    assert!(!fs.exists(s("/data/t/u/f")).await.unwrap());

    // No links.
    assert_eq!(
        fs.symlink(s("b.txt"), s("/data/l")).await,
        Err(ErrorCode::Unsupported)
    );
    assert_eq!(
        fs.link(s("/data/b.txt"), s("/data/l")).await,
        Err(ErrorCode::Unsupported)
    );
    assert_eq!(fs.readlink(s("/data/b.txt")).await, Err(ErrorCode::Invalid));
    assert_eq!(fs.readlink(s("/data/zz")).await, Err(ErrorCode::NoEntry));
    assert!(
        fs.samefile(s("/data/b.txt"), s("/data/./b.txt"))
            .await
            .unwrap()
    );
    assert!(
        !fs.samefile(s("/data/b.txt"), s("/data/c.txt"))
            .await
            .unwrap()
    );
    assert_eq!(fs.held_bytes(), 0);
    assert_eq!(fs.pending_ops(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_files_read_pinned_and_upload_at_close() {
    let Some(env) = Env::new(GrantQuota::UNLIMITED) else {
        return;
    };
    let fs = &env.fs;
    let text: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    env.put("data/lines.txt", text.as_bytes()).await;
    let f = fs.open(s("/data/lines.txt"), "r").await.unwrap();
    // Positional reads (what wasi:filesystem uses): at any offset, short at the end.
    let b = fs.open(s("/data/lines.txt"), "rb").await.unwrap();
    assert_eq!(b.read_at(5, 4).await.unwrap(), b"0\nli");
    assert_eq!(
        b.read_at(text.len() as u64 - 3, 100).await.unwrap(),
        b"99\n"
    );
    assert!(b.read_at(text.len() as u64, 10).await.unwrap().is_empty());
    b.close().await.unwrap();
    drop(b);
    assert_eq!(f.read_line_text().await.unwrap(), "line 0\n");
    assert_eq!(f.read_line_text().await.unwrap(), "line 1\n");
    let pos = f.tell().await.unwrap();
    assert_eq!(pos, 14);
    f.seek(-7, Whence::End).await.unwrap();
    assert_eq!(f.read_all_text().await.unwrap(), "e 1999\n");
    f.seek(0, Whence::Start).await.unwrap();
    assert_eq!(f.read_all_text().await.unwrap(), text);
    assert_eq!(f.write_text(s("x")).await, Err(ErrorCode::BadDescriptor));
    assert_eq!(f.stat().await.unwrap().size, text.len() as u64);
    // Replaced meanwhile: the pinned version is gone, never a mix of two.
    f.seek(0, Whence::Start).await.unwrap();
    env.put("data/lines.txt", b"other").await;
    assert_eq!(f.read_all_text().await, Err(ErrorCode::Io));
    f.close().await.unwrap();

    // Uploads: invisible until closed.
    let w = fs.open(s("/data/up.bin"), "wb").await.unwrap();
    assert_eq!(w.write(vec![1; 1000]).await, Ok(1000));
    assert_eq!(w.write(vec![2; 10 << 20]).await, Ok(10 << 20));
    assert_eq!(env.get("data/up.bin").await, None);
    assert_eq!(w.stat().await.unwrap().size, 1000 + (10 << 20));
    assert_eq!(w.truncate(Some(3)).await, Err(ErrorCode::Unsupported));
    assert_eq!(w.seek(0, Whence::Start).await.map(drop), Ok(()));
    assert_eq!(w.write(vec![3]).await, Err(ErrorCode::Unsupported));
    // The upload's charge (the closed `f` gave its read-ahead back at close): the part
    // handed over (8 MiB) plus the capacity of the part being filled (the rest, exactly:
    // it was sized for that one write), never more than `UPLOAD_HELD`.
    assert_eq!(fs.held_bytes(), 1000 + (10 << 20));
    assert!(fs.held_bytes() <= object::UPLOAD_HELD);
    w.close().await.unwrap();
    let got = env.get("data/up.bin").await.unwrap();
    assert_eq!(got.len(), 1000 + (10 << 20));
    assert!(got[..1000].iter().all(|b| *b == 1) && got[1000..].iter().all(|b| *b == 2));

    // Dropped without close: completed, as a descriptor's drop closes it (WASI has no
    // other close). The close is a job queued on the pool by the drop.
    let w = fs.open(s("/data/dropped.bin"), "wb").await.unwrap();
    w.write(vec![5; 100]).await.unwrap();
    let before = fs.pool().stats().completed;
    drop(w);
    pool_ran(fs.pool(), before + 1).await;
    assert_eq!(env.get("data/dropped.bin").await.unwrap(), vec![5; 100]);
    // Dropped after the store was torn down (a guest that trapped or was killed): aborted,
    // nothing visible.
    let other = Fs::new((*fs.grants).clone(), Limits::default(), Pool::new(1));
    let w = other.open(s("/data/killed.bin"), "wb").await.unwrap();
    w.write(vec![6; 100]).await.unwrap();
    other.tenant().cancel();
    drop(w);
    // The abort is a job on `other`'s own pool (after the write's).
    pool_ran(other.pool(), 2).await;
    assert_eq!(env.get("data/killed.bin").await, None);

    // Exclusive: `exist` at open, or at close for a racer that won meanwhile.
    assert_eq!(
        fs.open(s("/data/up.bin"), "xb").await.unwrap_err(),
        ErrorCode::Exist
    );
    let a = fs.open(s("/data/race.bin"), "xb").await.unwrap();
    let b = fs.open(s("/data/race.bin"), "xb").await.unwrap();
    a.write(b"a".to_vec()).await.unwrap();
    b.write(b"b".to_vec()).await.unwrap();
    assert_eq!(a.close().await, Ok(()));
    assert_eq!(b.close().await, Err(ErrorCode::Exist));
    assert_eq!(env.get("data/race.bin").await.unwrap(), b"a");

    // What an object cannot do.
    for mode in ["a", "ab", "r+", "w+", "a+", "x+"] {
        assert_eq!(
            fs.open(s("/data/up.bin"), mode).await.unwrap_err(),
            ErrorCode::Unsupported,
            "{mode}"
        );
    }
    assert_eq!(
        fs.open(s("/data"), "r").await.unwrap_err(),
        ErrorCode::IsDirectory
    );
    assert_eq!(
        fs.open(s("/data/nothing"), "r").await.unwrap_err(),
        ErrorCode::NoEntry
    );
    let t = fs.open(s("/data/t.txt"), "w").await.unwrap();
    t.write_text(s("text\n")).await.unwrap();
    assert_eq!(t.sync().await, Err(ErrorCode::Unsupported));
    t.flush().await.unwrap();
    t.close().await.unwrap();
    assert_eq!(env.get("data/t.txt").await.unwrap(), b"text\n");

    // Temporary objects stay inside the prefix.
    let opts = TempOptions {
        dir: Some(s("/data")),
        ..TempOptions::default()
    };
    let td = fs.temporary_directory(opts.clone()).await.unwrap();
    assert!(fs.is_dir(td.path().to_owned()).await.unwrap());
    fs.write_file(format!("{}/f", td.path()), b"1".to_vec(), false)
        .await
        .unwrap();
    td.cleanup().await.unwrap();
    assert!(!fs.exists(td.path().to_owned()).await.unwrap());
    let nt = fs
        .named_temporary_file(s("wb"), opts.clone(), true)
        .await
        .unwrap();
    let name = nt.name().to_owned();
    nt.write(b"tmp".to_vec()).await.unwrap();
    nt.close().await.unwrap();
    assert!(!fs.exists(name).await.unwrap());
    assert_eq!(
        fs.temporary_file(s(""), opts).await.unwrap_err(),
        ErrorCode::Unsupported
    );
    // A closed file keeps its idle read-ahead buffer until it is dropped, as locally.
    drop((f, td));
    assert_eq!(fs.held_bytes(), 0);
    assert_eq!(fs.open_files(), 0);
}

/// Wait until `pool` has completed `n` jobs in all.
async fn pool_ran(pool: &Pool, n: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while pool.stats().completed < n {
        assert!(
            std::time::Instant::now() < deadline,
            "the pool never ran the close"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_quotas_and_escapes() {
    let quota = GrantQuota {
        max_bytes_written: Some(100),
        max_created: Some(3),
        max_file_size: Some(60),
        max_bytes_read: Some(25),
    };
    let Some(env) = Env::new(quota) else {
        return;
    };
    let fs = &env.fs;
    env.put("ro/r.txt", b"read only").await;
    env.put("data2/secret", b"twin").await;
    env.put("secret", b"above").await;
    // Read-only, before anything is sent.
    assert_eq!(
        fs.write_file(s("/ro/r.txt"), b"x".to_vec(), true).await,
        Err(ErrorCode::ReadOnly)
    );
    assert_eq!(
        fs.open(s("/ro/n"), "wb").await.unwrap_err(),
        ErrorCode::ReadOnly
    );
    assert_eq!(
        fs.remove_file(s("/ro/r.txt")).await,
        Err(ErrorCode::ReadOnly)
    );
    assert_eq!(fs.mkdir(s("/ro/d")).await, Err(ErrorCode::ReadOnly));
    assert_eq!(
        fs.read_file(s("/ro/r.txt"), 100).await.unwrap(),
        b"read only"
    );
    assert_eq!(fs.stat(s("/ro/r.txt"), true).await.unwrap().mode, 0o444);
    assert_eq!(env.get("ro/r.txt").await.unwrap(), b"read only");

    // Escapes: the same codes as on a local grant; nothing outside the prefix is reached.
    for p in [
        "/data/..",
        "/data/../x",
        "/data/a/../../x",
        "/data/../data2/secret",
    ] {
        assert_eq!(
            fs.read_file(s(p), 100).await.unwrap_err(),
            ErrorCode::NotPermitted,
            "{p}"
        );
    }
    assert_eq!(
        fs.read_file(s("/data2/secret"), 100).await.unwrap_err(),
        ErrorCode::NotPermitted
    );
    // OpenDAL trims a key's ends: a name with whitespace there could become `..` and
    // reach a sibling prefix through the URL, so it is refused before anything is sent.
    for p in ["/data/ ../data2/secret", "/data/\t../secret", "/data/ "] {
        assert_eq!(
            fs.read_file(s(p), 100).await.unwrap_err(),
            ErrorCode::Invalid,
            "{p}"
        );
    }
    assert_eq!(
        fs.write_file(s("/data/ ../data2/planted"), b"x".to_vec(), false)
            .await,
        Err(ErrorCode::Invalid)
    );
    assert_eq!(fs.remove_tree(s("/data/ ")).await, Err(ErrorCode::Invalid));
    assert_eq!(env.get("data2/planted").await, None);
    assert_eq!(
        fs.read_file(s("/secret"), 100).await.unwrap_err(),
        ErrorCode::NotPermitted
    );
    assert_eq!(
        fs.read_file(s("/data/%2e%2e/secret"), 100)
            .await
            .unwrap_err(),
        ErrorCode::NoEntry
    );
    assert_eq!(
        fs.write_file(s("/data/../data2/secret"), b"x".to_vec(), true)
            .await,
        Err(ErrorCode::NotPermitted)
    );
    assert_eq!(env.get("data2/secret").await.unwrap(), b"twin");

    // Budgets.
    assert_eq!(
        fs.write_file(s("/data/big"), vec![0; 61], true).await,
        Err(ErrorCode::FileTooLarge)
    );
    fs.write_file(s("/data/a"), vec![1; 60], true)
        .await
        .unwrap();
    assert_eq!(
        fs.write_file(s("/data/b"), vec![1; 50], true).await,
        Err(ErrorCode::Quota)
    );
    fs.mkdir(s("/data/d")).await.unwrap();
    fs.write_file(s("/data/d/c"), vec![1; 10], true)
        .await
        .unwrap();
    assert_eq!(fs.mkdir(s("/data/e")).await, Err(ErrorCode::Quota));
    // Overwriting creates nothing.
    fs.write_file(s("/data/a"), vec![2; 10], true)
        .await
        .unwrap();
    let w = fs.open(s("/data/w"), "wb").await;
    assert_eq!(w.unwrap_err(), ErrorCode::Quota);
    assert_eq!(fs.read_file(s("/data/a"), 100).await.unwrap().len(), 10);
    let f = fs.open(s("/data/d/c"), "rb").await.unwrap();
    assert_eq!(f.read(100).await.unwrap().len(), 10);
    f.close().await.unwrap();
    let u = &fs.grant_usage()[0];
    assert_eq!((u.bytes_written, u.created, u.bytes_read), (80, 3, 20));
    assert_eq!(
        fs.read_file(s("/data/d/c"), 100).await,
        Err(ErrorCode::Quota)
    );
    let stats = fs.stats();
    let data = &stats.grants[0];
    assert!(
        data.ops
            .iter()
            .any(|o| o.op == crate::obs::OpKind::WriteFile && o.total == 7)
    );
    assert_eq!(fs.held_bytes(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_and_limits_on_objects() {
    let limits = Limits {
        max_dir_entries: 5,
        ..Limits::default()
    };
    let Some(env) = Env::with(GrantQuota::UNLIMITED, limits) else {
        return;
    };
    let fs = &env.fs;
    for i in 0..6 {
        env.put(&format!("data/many/{i}"), b"x").await;
    }
    assert_eq!(fs.listdir(s("/data/many")).await, Err(ErrorCode::Quota));
    let out = fs
        .batch(vec![
            batch::BatchOp::WriteFile {
                path: s("/data/b1"),
                data: b"one".to_vec(),
            },
            batch::BatchOp::Exists(s("/data/b1")),
            batch::BatchOp::ReadFile {
                path: s("/data/b1"),
                max: 10,
            },
            batch::BatchOp::Stat(s("/data/none")),
            batch::BatchOp::Remove(s("/data/b1")),
        ])
        .await
        .unwrap();
    assert_eq!(out[0], Ok(batch::BatchOutcome::Done));
    assert_eq!(out[1], Ok(batch::BatchOutcome::Flag(true)));
    assert_eq!(out[2], Ok(batch::BatchOutcome::Data(b"one".to_vec())));
    assert_eq!(out[3].clone().unwrap_err(), ErrorCode::NoEntry);
    assert_eq!(out[4], Ok(batch::BatchOutcome::Done));
    assert_eq!(env.get("data/b1").await, None);
    assert_eq!(fs.held_bytes(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_between_local_and_object_grants() {
    let base = unique();
    let Some(config) = config(&format!("{base}/data")) else {
        return;
    };
    let raw = self::config(&base).unwrap().operator().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let quota = GrantQuota {
        max_bytes_written: Some(20 << 20),
        ..GrantQuota::UNLIMITED
    };
    let mut grants = Grants::default();
    grants.push_with_quota(
        Grant {
            store: crate::grant::Store::Object(Arc::new(ObjectStore::new(
                config.operator().unwrap(),
            ))),
            guest_path: s("/data"),
            perms: Perms::ReadWrite,
        },
        quota,
    );
    grants.push(Grant::local(
        Dir::open_ambient_dir(tmp.path(), cap_std::ambient_authority()).unwrap(),
        s("/local"),
        Perms::ReadWrite,
    ));
    let fs = Fs::new(grants, Limits::default(), Pool::new(2));
    let big: Vec<u8> = (0..(12u32 << 20)).map(|i| (i % 251) as u8).collect();
    std::fs::write(tmp.path().join("big.bin"), &big).unwrap();
    // Local to object: streamed into one upload, paid from the object grant's budget.
    let n = fs
        .copy_file(s("/local/big.bin"), s("/data/big.bin"))
        .await
        .unwrap();
    assert_eq!(n, big.len() as u64);
    assert_eq!(raw.read("data/big.bin").await.unwrap().to_vec(), big);
    assert_eq!(fs.grant_usage()[0].bytes_written, big.len() as u64);
    // Object to local.
    fs.copy_file(s("/data/big.bin"), s("/local/back.bin"))
        .await
        .unwrap();
    assert_eq!(std::fs::read(tmp.path().join("back.bin")).unwrap(), big);
    // Over the budget halfway: the upload is discarded, nothing is visible.
    assert_eq!(
        fs.copy_file(s("/local/big.bin"), s("/data/again.bin"))
            .await,
        Err(ErrorCode::Quota)
    );
    assert!(!fs.exists(s("/data/again.bin")).await.unwrap());
    assert_eq!(fs.held_bytes(), 0);
    assert_eq!(fs.open_files(), 0);
}

/// A dropped object handle keeps its open-file slot until the pool has closed it: object
/// opens queue nothing on the pool, so a guest looping open-and-drop behind a held-up
/// queue would otherwise pile handles up without end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_object_handle_keeps_its_slot_until_closed() {
    let (pool, gate) = super::tests::gated_pool();
    let limits = Limits {
        max_open_files: 1,
        ..Limits::default()
    };
    let Some(env) = Env::with_pool(GrantQuota::UNLIMITED, limits, pool) else {
        return;
    };
    env.put("data/o", b"object").await;
    let fs = &env.fs;
    let f = fs.open(s("/data/o"), "rb").await.unwrap();
    assert_eq!(fs.open_files(), 1);
    assert_eq!(
        fs.open(s("/data/o"), "rb").await.unwrap_err(),
        ErrorCode::Quota,
        "a live handle holds the slot"
    );
    drop(f);
    let (started, release) = (gate.started, gate.release);
    tokio::task::spawn_blocking(move || started.recv().unwrap())
        .await
        .unwrap();
    assert_eq!(fs.open_files(), 1, "held while the close waits");
    // An open meanwhile waits for the close instead of failing.
    let mut next = std::pin::pin!(fs.open(s("/data/o"), "rb"));
    assert!(futures::poll!(next.as_mut()).is_pending());
    release.send(()).unwrap();
    let next = next.await.unwrap();
    assert_eq!(fs.open_files(), 1);
    drop(next);
    // Its close goes through the gate too (a fresh rendezvous per job).
    while fs.open_files() != 0 {
        if let Ok(()) = release.try_send(()) {
            continue;
        }
        tokio::task::yield_now().await;
    }
}

/// A temporary directory dropped on an object grant is removed in the background and keeps
/// its slot until that has ended: an open at the limit waits for it, and then finds the
/// directory gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_object_temp_dir_keeps_its_slot_until_removed() {
    let limits = Limits {
        max_open_files: 1,
        ..Limits::default()
    };
    let Some(env) = Env::with(GrantQuota::UNLIMITED, limits) else {
        return;
    };
    env.put("data/o", b"object").await;
    let fs = &env.fs;
    let opts = TempOptions {
        dir: Some(s("/data")),
        ..TempOptions::default()
    };
    for _ in 0..5 {
        let td = fs.temporary_directory(opts.clone()).await.unwrap();
        let inside = format!("{}/f", td.path());
        fs.write_file(inside.clone(), b"1".to_vec(), false)
            .await
            .unwrap();
        drop(td);
        let f = fs.open(s("/data/o"), "rb").await.unwrap();
        assert!(
            !fs.exists(inside).await.unwrap(),
            "removed before the slot was free"
        );
        f.close().await.unwrap();
    }
}

/// A recursive delete (`remove-tree`, and a dropped temporary directory's removal) is
/// charged a listing page and a delete batch for as long as it runs, and gives it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursive_deletes_are_charged() {
    let limits = Limits {
        max_open_files: 1,
        ..Limits::default()
    };
    let Some(env) = Env::with(GrantQuota::UNLIMITED, limits) else {
        return;
    };
    let fs = &env.fs;
    let want = object::delete_held(fs.mem());
    assert_eq!(want, 8 << 20);
    for i in 0..3 {
        env.put(&format!("data/t/{i}"), b"x").await;
    }
    assert!(fs.peak_held_bytes() < want, "{}", fs.peak_held_bytes());
    fs.remove_tree(s("/data/t")).await.unwrap();
    assert!(!fs.exists(s("/data/t/0")).await.unwrap());
    assert!(fs.peak_held_bytes() >= want, "{}", fs.peak_held_bytes());
    assert_eq!(fs.held_bytes(), 0);
    // With the budget held, remove-tree is refused and removes nothing.
    env.put("data/u/0", b"x").await;
    let hog = fs.charge(fs.mem().max() - want + 1).unwrap();
    assert_eq!(fs.remove_tree(s("/data/u")).await, Err(ErrorCode::Quota));
    assert!(fs.exists(s("/data/u/0")).await.unwrap());
    // A dropped temporary directory waits for room, then is removed (the open at the
    // slot limit waits for that removal to end).
    let td = fs
        .temporary_directory(TempOptions {
            dir: Some(s("/data")),
            ..TempOptions::default()
        })
        .await
        .unwrap();
    let inside = format!("{}/f", td.path());
    fs.write_file(inside.clone(), b"1".to_vec(), false)
        .await
        .unwrap();
    drop(td);
    env.put("data/o", b"o").await;
    let mut open = std::pin::pin!(fs.open(s("/data/o"), "rb"));
    assert!(
        futures::poll!(open.as_mut()).is_pending(),
        "the removal waits for memory and holds its slot"
    );
    drop(hog);
    let f = open.await.unwrap();
    assert!(!fs.exists(inside).await.unwrap());
    f.close().await.unwrap();
    assert_eq!(fs.held_bytes(), 0);
}

/// Many tiny writes to an upload are gathered into one host buffer whose capacity is what
/// is charged (not a queue entry per write inside OpenDAL, uncharged), and parts go out
/// whole: the object is exactly the bytes written, across a part boundary too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_writes_to_an_upload_are_gathered_and_charged() {
    let Some(env) = Env::new(GrantQuota::UNLIMITED) else {
        return;
    };
    let fs = &env.fs;
    let f = fs.open(s("/data/tiny"), "wb").await.unwrap();
    let mut want = Vec::new();
    for i in 0..20_000u32 {
        let b = vec![(i % 251) as u8];
        want.extend_from_slice(&b);
        f.write(b).await.unwrap();
    }
    // The fill buffer's capacity is charged (at most twice what it holds, at least 4 KiB).
    let held = fs.held_bytes();
    assert!((20_000..=40_000).contains(&held), "{held}");
    // Past a part: the rest of the first part, then a few bytes into the second.
    let big = vec![7u8; object::UPLOAD_CHUNK];
    want.extend_from_slice(&big);
    f.write(big).await.unwrap();
    assert!(fs.held_bytes() <= object::UPLOAD_HELD);
    f.close().await.unwrap();
    assert!(env.get("data/tiny").await.unwrap() == want);
    assert_eq!(fs.held_bytes(), 0);
}

/// Big reads of an open object come in ranged requests of at most 8 MiB, in order and
/// whole: a cursor read and a positional read across several pieces give the object's
/// bytes exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_object_reads_come_in_pieces() {
    let Some(env) = Env::new(GrantQuota::UNLIMITED) else {
        return;
    };
    let body: Vec<u8> = (0..(20u32 << 20) + 123).map(|i| (i % 253) as u8).collect();
    env.put("data/big", &body).await;
    let fs = &env.fs;
    let f = fs.open(s("/data/big"), "rb").await.unwrap();
    let all = f.read(u64::MAX).await.unwrap();
    assert!(all == body, "{} bytes", all.len());
    let part = f.read_at(5 << 20, 12 << 20).await.unwrap();
    assert!(part == body[5 << 20..17 << 20]);
    assert_eq!(
        f.read_at(body.len() as u64 - 3, 10).await.unwrap(),
        body[body.len() - 3..]
    );
    f.close().await.unwrap();
    assert_eq!(fs.held_bytes(), 0);
}
