//! Tests of [`Fs`] against real temporary directories.

use super::*;
use crate::grant::{Grant, normalize_mount};
use crate::pool::JobHook;
use std::fs as stdfs;
use std::sync::{Mutex, mpsc};

/// Three grants over fresh temporary directories: `/data` (read-write, also where relative
/// paths go), `/ro` (read-only) and `/data2` (read-write), plus an `outside` directory that
/// no grant covers.
pub(super) struct Env {
    pub(super) tmp: tempfile::TempDir,
    pub(super) fs: Fs,
}

impl Env {
    pub(super) fn new() -> Env {
        Env::with(Limits::default(), Pool::new(2))
    }

    pub(super) fn with(limits: Limits, pool: Pool) -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let mut grants = Grants::default();
        for (name, perms) in [
            ("data", Perms::ReadWrite),
            ("ro", Perms::ReadOnly),
            ("data2", Perms::ReadWrite),
        ] {
            let host = tmp.path().join(name);
            stdfs::create_dir(&host).unwrap();
            let dir = Dir::open_ambient_dir(&host, cap_std::ambient_authority()).unwrap();
            grants.push(Grant {
                store: crate::grant::Store::Local(Arc::new(dir)),
                guest_path: normalize_mount(name).unwrap(),
                perms,
            });
        }
        stdfs::create_dir(tmp.path().join("outside")).unwrap();
        stdfs::write(tmp.path().join("outside/secret"), "secret").unwrap();
        Env {
            tmp,
            fs: Fs::new(grants, limits, pool),
        }
    }

    /// Host path of `rel` under the temporary root (`data/x`, `ro/y`, `outside/z`).
    pub(super) fn host(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    pub(super) fn put(&self, rel: &str, content: &str) {
        let p = self.host(rel);
        stdfs::create_dir_all(p.parent().unwrap()).unwrap();
        stdfs::write(p, content).unwrap();
    }

    pub(super) fn get(&self, rel: &str) -> Option<String> {
        stdfs::read_to_string(self.host(rel)).ok()
    }

    fn names(&self, rel: &str) -> Vec<String> {
        let mut v: Vec<String> = stdfs::read_dir(self.host(rel))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    /// Wait until every job queued so far on a one-thread pool has finished (FIFO).
    async fn drain(&self) {
        assert_eq!(
            self.fs.pool().stats().threads,
            1,
            "drain needs a one-thread pool"
        );
        self.fs
            .pool()
            .run_for(self.fs.tenant(), || ())
            .await
            .unwrap();
    }
}

pub(super) fn s(v: &str) -> String {
    v.to_owned()
}

/// A one-thread pool whose worker stops before each job until the test releases it.
pub(super) struct Gate {
    pub(super) started: mpsc::Receiver<()>,
    pub(super) release: mpsc::SyncSender<()>,
}

/// `limits` with every operation sent to the pool (no cached attempt on the caller's
/// thread): for tests about the pool itself, whose gate must see every operation.
pub(super) fn pooled(limits: Limits) -> Limits {
    Limits {
        max_inline_bytes: 0,
        ..limits
    }
}

pub(super) fn gated_pool() -> (Pool, Gate) {
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::sync_channel::<()>(0);
    let release_rx = Mutex::new(release_rx);
    let hook: JobHook = Arc::new(move || {
        started_tx.send(()).unwrap();
        release_rx.lock().unwrap().recv().unwrap();
    });
    (Pool::with_hook(1, Some(hook)), Gate { started, release })
}

#[tokio::test]
async fn read_and_write_whole_files() {
    let env = Env::new();
    let fs = &env.fs;
    fs.write_file(s("/data/a.txt"), b"hello".to_vec(), false)
        .await
        .unwrap();
    assert_eq!(env.get("data/a.txt").as_deref(), Some("hello"));
    assert_eq!(fs.read_file(s("a.txt"), 100).await.unwrap(), b"hello");
    // Overwrite atomically: new content, no temporary left behind.
    fs.write_file(s("/data/a.txt"), b"bye".to_vec(), true)
        .await
        .unwrap();
    assert_eq!(env.get("data/a.txt").as_deref(), Some("bye"));
    assert_eq!(env.names("data"), ["a.txt"]);
    // Atomic into a subdirectory, new file.
    stdfs::create_dir(env.host("data/sub")).unwrap();
    fs.write_file(s("/data/sub/b"), vec![1, 2, 3], true)
        .await
        .unwrap();
    assert_eq!(env.names("data/sub"), ["b"]);
    assert_eq!(fs.read_file(s("/data/sub/b"), 3).await.unwrap(), [1, 2, 3]);
    // A name at the OS limit still gets a valid temporary name.
    let long = "L".repeat(255);
    fs.write_file(format!("/data/sub/{long}"), b"long".to_vec(), true)
        .await
        .unwrap();
    assert_eq!(
        env.get(&format!("data/sub/{long}")).as_deref(),
        Some("long")
    );
    stdfs::remove_file(env.host(&format!("data/sub/{long}"))).unwrap();
    // Atomic write into a missing directory fails and leaves nothing.
    assert_eq!(
        fs.write_file(s("/data/nope/c"), vec![1], true).await,
        Err(ErrorCode::NoEntry)
    );
    // Writing a directory.
    assert_eq!(
        fs.write_file(s("/data/sub"), vec![1], true).await,
        Err(ErrorCode::IsDirectory)
    );
    assert_eq!(
        fs.write_file(s("/data"), vec![1], false).await,
        Err(ErrorCode::IsDirectory)
    );
    assert_eq!(env.names("data/sub"), ["b"]);
}

#[tokio::test]
async fn read_file_limits() {
    let limits = Limits {
        max_read_bytes: 10,
        max_write_bytes: 4,
        ..Limits::default()
    };
    let env = Env::with(limits, Pool::new(1));
    let fs = &env.fs;
    env.put("data/eight", "12345678");
    env.put("data/twelve", "123456789012");
    assert_eq!(fs.read_file(s("eight"), 8).await.unwrap(), b"12345678");
    assert_eq!(
        fs.read_file(s("eight"), 7).await,
        Err(ErrorCode::FileTooLarge)
    );
    assert_eq!(
        fs.read_file(s("twelve"), u64::MAX).await,
        Err(ErrorCode::Quota)
    );
    assert_eq!(
        fs.read_file(s("twelve"), 11).await,
        Err(ErrorCode::FileTooLarge)
    );
    assert_eq!(fs.read_file(s("."), 100).await, Err(ErrorCode::IsDirectory));
    assert_eq!(fs.read_file(s("none"), 100).await, Err(ErrorCode::NoEntry));
    // Writes above the per-call limit fail before touching the disk.
    assert_eq!(
        fs.write_file(s("big"), vec![0; 5], false).await,
        Err(ErrorCode::Quota)
    );
    assert_eq!(env.get("data/big"), None);
    fs.write_file(s("ok"), vec![b'x'; 4], false).await.unwrap();
    assert_eq!(env.get("data/ok").as_deref(), Some("xxxx"));
}

#[tokio::test]
async fn escapes_are_not_permitted() {
    let env = Env::new();
    let fs = &env.fs;
    std::os::unix::fs::symlink(env.host("outside"), env.host("data/abs-out")).unwrap();
    std::os::unix::fs::symlink("../outside/secret", env.host("data/rel-out")).unwrap();
    stdfs::create_dir(env.host("data/sub")).unwrap();
    for path in [
        "../outside/secret",
        "/data/../outside/secret",
        "/data/sub/../../outside/secret",
        "/outside/secret",
        "/etc/passwd",
        "/data2x/y",
        "/data/abs-out/secret",
        "/data/rel-out",
    ] {
        assert_eq!(
            fs.read_file(s(path), 100).await,
            Err(ErrorCode::NotPermitted),
            "{path}"
        );
        assert_eq!(
            fs.stat(s(path), true).await,
            Err(ErrorCode::NotPermitted),
            "{path}"
        );
        assert_eq!(
            fs.exists(s(path)).await,
            Err(ErrorCode::NotPermitted),
            "{path}"
        );
    }
    // Writes through an outward link or `..` do not reach the outside either.
    for path in ["/data/abs-out/new", "/data/../outside/new", "/data/rel-out"] {
        assert_eq!(
            fs.write_file(s(path), b"x".to_vec(), false).await,
            Err(ErrorCode::NotPermitted),
            "{path}"
        );
    }
    assert_eq!(
        fs.rename(s("/data/../outside/secret"), s("/data/stolen"))
            .await,
        Err(ErrorCode::NotPermitted)
    );
    assert_eq!(
        fs.remove_tree(s("/data/../outside")).await,
        Err(ErrorCode::NotPermitted)
    );
    assert_eq!(env.names("outside"), ["secret"]);
    assert_eq!(env.get("outside/secret").as_deref(), Some("secret"));
    // The links themselves can be inspected.
    assert!(fs.is_link(s("/data/abs-out")).await.unwrap());
    let st = fs.stat(s("/data/rel-out"), false).await.unwrap();
    assert_eq!(st.file_type, FileType::SymbolicLink);
    // And an absolute link's host path is not revealed.
    assert_eq!(
        fs.readlink(s("/data/abs-out")).await,
        Err(ErrorCode::NotPermitted)
    );
    assert_eq!(
        fs.readlink(s("/data/rel-out")).await.unwrap(),
        "../outside/secret"
    );
}

#[tokio::test]
async fn read_only_grant_refuses_every_mutation() {
    let env = Env::new();
    let fs = &env.fs;
    env.put("ro/f", "keep");
    stdfs::create_dir(env.host("ro/d")).unwrap();
    env.put("data/w", "w");
    let ro = Err(ErrorCode::ReadOnly);
    assert_eq!(fs.write_file(s("/ro/f"), b"x".to_vec(), false).await, ro);
    assert_eq!(fs.write_file(s("/ro/n"), b"x".to_vec(), true).await, ro);
    assert_eq!(fs.mkdir(s("/ro/m")).await, ro);
    assert_eq!(fs.makedirs(s("/ro/m/n"), true).await, ro);
    assert_eq!(fs.rmdir(s("/ro/d")).await, ro);
    assert_eq!(fs.removedirs(s("/ro/d")).await, ro);
    assert_eq!(fs.remove_tree(s("/ro/d")).await, ro);
    assert_eq!(fs.remove_file(s("/ro/f")).await, ro);
    assert_eq!(fs.rename(s("/ro/f"), s("/data/f")).await, ro);
    assert_eq!(fs.rename(s("/data/w"), s("/ro/w")).await, ro);
    assert_eq!(fs.renames(s("/ro/f"), s("/data/f")).await, ro);
    assert_eq!(fs.link(s("/ro/f"), s("/data/l")).await, ro);
    assert_eq!(fs.link(s("/data/w"), s("/ro/l")).await, ro);
    assert_eq!(fs.symlink(s("f"), s("/ro/s")).await, ro);
    assert_eq!(
        fs.copy_file(s("/data/w"), s("/ro/c")).await,
        Err(ErrorCode::ReadOnly)
    );
    assert_eq!(fs.open(s("/ro/f"), "w").await.map(drop), ro);
    assert_eq!(fs.open(s("/ro/f"), "r+b").await.map(drop), ro);
    assert_eq!(fs.open(s("/ro/f"), "a").await.map(drop), ro);
    let in_ro = || TempOptions {
        dir: Some(s("/ro")),
        ..TempOptions::default()
    };
    assert_eq!(fs.temporary_directory(in_ro()).await.map(drop), ro);
    assert_eq!(fs.temporary_file(s(""), in_ro()).await.map(drop), ro);
    assert_eq!(
        fs.named_temporary_file(s(""), in_ro(), true)
            .await
            .map(drop),
        ro
    );
    // Nothing was queued for any of them, and the disk is untouched.
    assert_eq!(fs.pool().stats().completed, 0);
    assert_eq!(env.names("ro"), ["d", "f"]);
    assert_eq!(env.get("ro/f").as_deref(), Some("keep"));
    assert_eq!(env.names("data"), ["w"]);
    // Reading still works; writing is reported as impossible.
    assert_eq!(fs.read_file(s("/ro/f"), 10).await.unwrap(), b"keep");
    let write = AccessMode {
        write: true,
        ..AccessMode::default()
    };
    assert!(!fs.access(s("/ro/f"), write).await.unwrap());
    assert!(fs.access(s("/data/w"), write).await.unwrap());
    // A copy from a read-only grant is fine.
    assert_eq!(fs.copy_file(s("/ro/f"), s("/data/c")).await, Ok(4));
}

#[tokio::test]
async fn every_grant_read_only_means_no_default_temp_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let mut grants = Grants::default();
    grants.push(Grant {
        store: crate::grant::Store::Local(Arc::new(
            Dir::open_ambient_dir(tmp.path(), cap_std::ambient_authority()).unwrap(),
        )),
        guest_path: s("/"),
        perms: Perms::ReadOnly,
    });
    let fs = Fs::new(grants, Limits::default(), Pool::new(1));
    assert_eq!(
        fs.temporary_directory(TempOptions::default())
            .await
            .map(drop),
        Err(ErrorCode::ReadOnly)
    );
    let none = Fs::new(Grants::default(), Limits::default(), Pool::new(1));
    assert_eq!(
        none.temporary_directory(TempOptions::default())
            .await
            .map(drop),
        Err(ErrorCode::NotPermitted)
    );
    assert_eq!(none.stat(s("x"), true).await, Err(ErrorCode::NotPermitted));
}

#[tokio::test]
async fn pending_ops_quota() {
    let (pool, gate) = gated_pool();
    let limits = Limits {
        max_pending_ops: 2,
        max_inline_bytes: 0,
        ..Limits::default()
    };
    let env = Env::with(limits, pool);
    let fs = &env.fs;
    let mut first = Box::pin(fs.exists(s("a")));
    let mut second = Box::pin(fs.exists(s("b")));
    assert!(futures::poll!(first.as_mut()).is_pending());
    gate.started.recv().unwrap(); // the first is running (held in the hook)
    assert!(futures::poll!(second.as_mut()).is_pending());
    assert_eq!(fs.pending_ops(), 2);
    // A third is refused at once, without queuing anything.
    assert_eq!(fs.exists(s("c")).await, Err(ErrorCode::Quota));
    assert_eq!(fs.pool().stats().queued, 1);
    // Dropping the queued one frees its slot and cancels it.
    drop(second);
    assert_eq!(fs.pending_ops(), 1);
    assert_eq!(fs.pool().stats().cancelled, 1);
    let mut third = Box::pin(fs.exists(s("c")));
    assert!(futures::poll!(third.as_mut()).is_pending());
    assert_eq!(fs.pending_ops(), 2);
    gate.release.send(()).unwrap();
    assert_eq!(first.await, Ok(false));
    gate.started.recv().unwrap();
    gate.release.send(()).unwrap();
    assert_eq!(third.await, Ok(false));
    assert_eq!(fs.pending_ops(), 0);
}

#[tokio::test]
async fn directory_listing() {
    let limits = Limits {
        max_dir_entries: 3,
        ..Limits::default()
    };
    let env = Env::with(limits, Pool::new(1));
    let fs = &env.fs;
    env.put("data/d/file", "12345");
    stdfs::create_dir(env.host("data/d/sub")).unwrap();
    std::os::unix::fs::symlink("file", env.host("data/d/link")).unwrap();
    let mut names = fs.listdir(s("/data/d")).await.unwrap();
    names.sort();
    assert_eq!(names, ["file", "link", "sub"]);

    let mut entries = fs.scandir(s("/data/d/"), true).await.unwrap();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let kinds: Vec<_> = entries
        .iter()
        .map(|e| (e.name.as_str(), e.file_type))
        .collect();
    assert_eq!(
        kinds,
        [
            ("file", FileType::RegularFile),
            ("link", FileType::SymbolicLink),
            ("sub", FileType::Directory)
        ]
    );
    // `stat` follows the link.
    let link_stat = entries[1].stat.as_ref().unwrap();
    assert_eq!(
        (link_stat.file_type, link_stat.size),
        (FileType::RegularFile, 5)
    );
    let plain = fs.scandir(s("/data/d"), false).await.unwrap();
    assert!(plain.iter().all(|e| e.stat.is_none()));

    // One entry too many.
    env.put("data/d/fourth", "");
    assert_eq!(fs.listdir(s("/data/d")).await, Err(ErrorCode::Quota));
    assert_eq!(fs.scandir(s("/data/d"), false).await, Err(ErrorCode::Quota));
    assert_eq!(
        fs.listdir(s("/data/d/file")).await,
        Err(ErrorCode::NotDirectory)
    );
    assert_eq!(fs.listdir(s("/data/none")).await, Err(ErrorCode::NoEntry));
}

#[tokio::test]
async fn scandir_stat_is_none_for_links_out_and_dangling() {
    let env = Env::new();
    let fs = &env.fs;
    stdfs::create_dir(env.host("data/d")).unwrap();
    std::os::unix::fs::symlink("../../outside/secret", env.host("data/d/out")).unwrap();
    std::os::unix::fs::symlink("missing", env.host("data/d/dangling")).unwrap();
    std::os::unix::fs::symlink("../sib", env.host("data/d/sibling")).unwrap();
    env.put("data/sib", "sib");
    let mut entries = fs.scandir(s("/data/d"), true).await.unwrap();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let got: Vec<_> = entries
        .iter()
        .map(|e| {
            (
                e.name.as_str(),
                e.file_type,
                e.stat.as_ref().map(|s| s.size),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("dangling", FileType::SymbolicLink, None),
            ("out", FileType::SymbolicLink, None),
            ("sibling", FileType::SymbolicLink, Some(3)),
        ]
    );
}

#[tokio::test]
async fn non_utf8_names() {
    use std::os::unix::ffi::OsStrExt;
    let env = Env::new();
    let fs = &env.fs;
    stdfs::create_dir(env.host("data/d")).unwrap();
    let bad = std::ffi::OsStr::from_bytes(b"bad\xff");
    stdfs::write(env.host("data/d").join(bad), "").unwrap();
    assert_eq!(
        fs.listdir(s("/data/d")).await,
        Err(ErrorCode::IllegalByteSequence)
    );
    assert_eq!(
        fs.scandir(s("/data/d"), false).await,
        Err(ErrorCode::IllegalByteSequence)
    );
    std::os::unix::fs::symlink(bad, env.host("data/l")).unwrap();
    assert_eq!(
        fs.readlink(s("/data/l")).await,
        Err(ErrorCode::IllegalByteSequence)
    );
}

#[tokio::test]
async fn stat_fields() {
    use std::os::unix::fs::MetadataExt;
    let env = Env::new();
    let fs = &env.fs;
    env.put("data/f", "abc");
    std::os::unix::fs::symlink("f", env.host("data/l")).unwrap();
    let host = stdfs::metadata(env.host("data/f")).unwrap();
    let st = fs.stat(s("/data/l"), true).await.unwrap();
    assert_eq!(st.file_type, FileType::RegularFile);
    assert_eq!(st.size, 3);
    assert_eq!(st.mode, host.mode() & 0o7777);
    assert_eq!(
        (st.inode, st.device, st.link_count),
        (host.ino(), host.dev(), 1)
    );
    assert_eq!(
        st.modified,
        Some(Timestamp {
            seconds: host.mtime(),
            nanoseconds: host.mtime_nsec() as u32
        })
    );
    assert!(st.accessed.is_some() && st.changed.is_some());
    let lst = fs.stat(s("/data/l"), false).await.unwrap();
    assert_eq!((lst.file_type, lst.size), (FileType::SymbolicLink, 1));
    assert_eq!(
        fs.stat(s("/data"), true).await.unwrap().file_type,
        FileType::Directory
    );
    assert_eq!(fs.stat(s("/data/x"), true).await, Err(ErrorCode::NoEntry));
    assert_eq!(
        fs.stat(s("/data/f/x"), true).await,
        Err(ErrorCode::NotDirectory)
    );
    assert_eq!(fs.stat(s("/data/f\0"), true).await, Err(ErrorCode::Invalid));
    assert_eq!(fs.stat(s(""), true).await, Err(ErrorCode::NoEntry));
}

#[tokio::test]
async fn path_too_long() {
    let limits = Limits {
        max_path_len: 16,
        ..Limits::default()
    };
    let env = Env::with(limits, Pool::new(1));
    assert_eq!(
        env.fs.exists(s("/data/0123456789a")).await,
        Err(ErrorCode::NameTooLong)
    );
    assert_eq!(env.fs.exists(s("/data/0123456789")).await, Ok(false));
    // A name longer than the OS allows.
    let env = Env::new();
    let long = format!("/data/{}", "n".repeat(300));
    assert_eq!(
        env.fs.write_file(long, vec![], false).await,
        Err(ErrorCode::NameTooLong)
    );
}

#[tokio::test]
async fn access_checks() {
    let env = Env::new();
    let fs = &env.fs;
    env.put("data/f", "");
    let exists = AccessMode::default();
    let read = AccessMode {
        read: true,
        ..AccessMode::default()
    };
    let exec = AccessMode {
        execute: true,
        ..AccessMode::default()
    };
    assert!(fs.access(s("/data/f"), exists).await.unwrap());
    assert!(fs.access(s("/data/f"), read).await.unwrap());
    assert!(!fs.access(s("/data/g"), exists).await.unwrap());
    assert!(fs.access(s("/data"), exec).await.unwrap());
    assert_eq!(
        fs.access(s("/data/../outside/secret"), read).await,
        Err(ErrorCode::NotPermitted)
    );
}

#[tokio::test]
async fn rename_and_replace() {
    let env = Env::new();
    let fs = &env.fs;
    env.put("data/a", "a");
    env.put("data/b", "b");
    fs.rename(s("/data/a"), s("/data/b")).await.unwrap();
    assert_eq!(env.names("data"), ["b"]);
    assert_eq!(env.get("data/b").as_deref(), Some("a"));
    // Across grants: refused like a rename across mounts, nothing moves.
    assert_eq!(
        fs.rename(s("/data/b"), s("/data2/c")).await,
        Err(ErrorCode::CrossDevice)
    );
    assert_eq!(env.get("data/b").as_deref(), Some("a"));
    fs.rename(s("/data/b"), s("/data/c")).await.unwrap();
    fs.rename(s("/data/c"), s("/data/b")).await.unwrap();
    assert_eq!(
        fs.rename(s("/data/none"), s("/data/x")).await,
        Err(ErrorCode::NoEntry)
    );
    // A grant root cannot move, nor be replaced.
    assert_eq!(
        fs.rename(s("/data"), s("/data2/x")).await,
        Err(ErrorCode::Busy)
    );
    assert_eq!(
        fs.rename(s("/data2/c"), s("/data")).await,
        Err(ErrorCode::Busy)
    );
    assert_eq!(fs.remove_file(s("/data")).await, Err(ErrorCode::Busy));
    assert_eq!(fs.rmdir(s("/data/")).await, Err(ErrorCode::Busy));
    assert_eq!(fs.remove_tree(s("/data2/.")).await, Err(ErrorCode::Busy));
    assert_eq!(fs.removedirs(s(".")).await, Err(ErrorCode::Busy));
    assert!(env.host("data").is_dir() && env.host("data2").is_dir());
}

#[tokio::test]
async fn renames_creates_and_prunes() {
    let env = Env::new();
    let fs = &env.fs;
    env.put("data/a/b/c/f", "f");
    env.put("data/a/keep", "k");
    fs.renames(s("/data/a/b/c/f"), s("/data/x/y/g"))
        .await
        .unwrap();
    assert_eq!(env.get("data/x/y/g").as_deref(), Some("f"));
    // `a/b/c` and `a/b` became empty and went; `a` holds `keep`.
    assert_eq!(env.names("data/a"), ["keep"]);
    // Across grants: refused (cross-device).
    assert_eq!(
        fs.renames(s("/data/a/keep"), s("/data2/keep")).await,
        Err(ErrorCode::CrossDevice)
    );
    // Pruning stops at the grant root.
    fs.renames(s("/data/a/keep"), s("/data/x/keep"))
        .await
        .unwrap();
    assert_eq!(env.names("data"), ["x"]);
    assert!(env.host("data").is_dir());
}

#[tokio::test]
async fn directories() {
    let env = Env::new();
    let fs = &env.fs;
    fs.mkdir(s("/data/d")).await.unwrap();
    assert_eq!(fs.mkdir(s("/data/d")).await, Err(ErrorCode::Exist));
    assert_eq!(fs.mkdir(s("/data/x/y")).await, Err(ErrorCode::NoEntry));
    assert_eq!(fs.mkdir(s("/data")).await, Err(ErrorCode::Exist));
    fs.makedirs(s("/data/m/n/o"), false).await.unwrap();
    assert!(env.host("data/m/n/o").is_dir());
    assert_eq!(
        fs.makedirs(s("/data/m/n/o"), false).await,
        Err(ErrorCode::Exist)
    );
    fs.makedirs(s("/data/m/n/o"), true).await.unwrap();
    env.put("data/file", "");
    assert_eq!(
        fs.makedirs(s("/data/file"), true).await,
        Err(ErrorCode::Exist)
    );
    assert_eq!(
        fs.makedirs(s("/data/file/sub"), true).await,
        Err(ErrorCode::NotDirectory)
    );
    assert_eq!(fs.rmdir(s("/data/m")).await, Err(ErrorCode::NotEmpty));
    assert_eq!(
        fs.rmdir(s("/data/file")).await,
        Err(ErrorCode::NotDirectory)
    );
    fs.rmdir(s("/data/d")).await.unwrap();
    // removedirs: removes o, n, m, and stops at the grant root.
    fs.removedirs(s("/data/m/n/o")).await.unwrap();
    assert_eq!(env.names("data"), ["file"]);
    // ... or at the first parent that is not empty.
    fs.makedirs(s("/data/p/q"), false).await.unwrap();
    env.put("data/p/other", "");
    fs.removedirs(s("/data/p/q")).await.unwrap();
    assert_eq!(env.names("data/p"), ["other"]);
    assert_eq!(fs.removedirs(s("/data/p")).await, Err(ErrorCode::NotEmpty));
    assert_eq!(
        fs.remove_file(s("/data/p")).await,
        Err(ErrorCode::IsDirectory)
    );
    fs.remove_file(s("/data/file")).await.unwrap();
    assert_eq!(
        fs.remove_file(s("/data/file")).await,
        Err(ErrorCode::NoEntry)
    );
}

#[tokio::test]
async fn links() {
    let env = Env::new();
    let fs = &env.fs;
    env.put("data/f", "f");
    fs.link(s("/data/f"), s("/data/h")).await.unwrap();
    assert!(fs.samefile(s("/data/f"), s("/data/h")).await.unwrap());
    assert_eq!(
        fs.link(s("/data/f"), s("/data2/h")).await,
        Err(ErrorCode::CrossDevice)
    );
    assert_eq!(
        fs.link(s("/data/f"), s("/data/h")).await,
        Err(ErrorCode::Exist)
    );
    fs.symlink(s("f"), s("/data/s")).await.unwrap();
    assert_eq!(fs.readlink(s("/data/s")).await.unwrap(), "f");
    assert!(fs.samefile(s("/data/s"), s("/data/f")).await.unwrap());
    assert_eq!(
        fs.samefile(s("/data/s"), s("/data/s2")).await,
        Err(ErrorCode::NoEntry)
    );
    assert_eq!(
        fs.symlink(s("/etc/passwd"), s("/data/abs")).await,
        Err(ErrorCode::NotPermitted)
    );
    assert_eq!(
        fs.symlink(s(""), s("/data/empty")).await,
        Err(ErrorCode::NoEntry)
    );
    // A relative link pointing out can exist, but cannot be followed.
    fs.symlink(s("../../outside/secret"), s("/data/out"))
        .await
        .unwrap();
    assert_eq!(
        fs.read_file(s("/data/out"), 100).await,
        Err(ErrorCode::NotPermitted)
    );
    assert_eq!(fs.readlink(s("/data/f")).await, Err(ErrorCode::Invalid));
    let mut names = env.names("data");
    names.sort();
    assert_eq!(names, ["f", "h", "out", "s"]);
}

#[tokio::test]
async fn copy_and_remove_tree() {
    let env = Env::new();
    let fs = &env.fs;
    env.put("data/src", "0123456789");
    assert_eq!(fs.copy_file(s("/data/src"), s("/data2/dst")).await, Ok(10));
    assert_eq!(env.get("data2/dst").as_deref(), Some("0123456789"));
    env.put("data/short", "ab");
    assert_eq!(fs.copy_file(s("/data/short"), s("/data2/dst")).await, Ok(2));
    assert_eq!(env.get("data2/dst").as_deref(), Some("ab"));
    assert_eq!(
        fs.copy_file(s("/data"), s("/data2/x")).await,
        Err(ErrorCode::IsDirectory)
    );
    assert_eq!(
        fs.copy_file(s("/data/none"), s("/data2/x")).await,
        Err(ErrorCode::NoEntry)
    );
    // Onto itself, directly or through a link: refused, content intact.
    std::os::unix::fs::symlink("src", env.host("data/alias")).unwrap();
    for dst in ["/data/src", "/data/alias"] {
        assert_eq!(
            fs.copy_file(s("/data/src"), s(dst)).await,
            Err(ErrorCode::Invalid)
        );
    }
    assert_eq!(env.get("data/src").as_deref(), Some("0123456789"));

    env.put("data/t/a/b/c", "c");
    env.put("data/t/x", "x");
    std::os::unix::fs::symlink(env.host("outside"), env.host("data/t/a/out")).unwrap();
    std::os::unix::fs::symlink("../../t2", env.host("data/t/a/in")).unwrap();
    env.put("data/t2/keep", "keep");
    // Not on a link, not on a file.
    assert_eq!(
        fs.remove_tree(s("/data/t/a/in")).await,
        Err(ErrorCode::NotDirectory)
    );
    assert_eq!(
        fs.remove_tree(s("/data/t/x")).await,
        Err(ErrorCode::NotDirectory)
    );
    fs.remove_tree(s("/data/t")).await.unwrap();
    assert!(!env.host("data/t").exists());
    // Links were removed, never followed.
    assert_eq!(env.names("outside"), ["secret"]);
    assert_eq!(env.names("data/t2"), ["keep"]);
    assert_eq!(fs.remove_tree(s("/data/t")).await, Err(ErrorCode::NoEntry));
}

#[tokio::test]
async fn predicates() {
    let env = Env::new();
    let fs = &env.fs;
    env.put("data/f", "");
    stdfs::create_dir(env.host("data/d")).unwrap();
    std::os::unix::fs::symlink("f", env.host("data/l")).unwrap();
    std::os::unix::fs::symlink("missing", env.host("data/dangling")).unwrap();
    std::os::unix::fs::symlink("loop", env.host("data/loop")).unwrap();
    let cases = [
        // path, exists, is_file, is_dir, is_link
        ("/data/f", true, true, false, false),
        ("/data/d", true, false, true, false),
        ("/data/l", true, true, false, true),
        ("/data/dangling", false, false, false, true),
        ("/data/loop", false, false, false, true),
        ("/data/none", false, false, false, false),
        ("/data/f/sub", false, false, false, false),
        ("/data", true, false, true, false),
    ];
    for (path, exists, file, dir, link) in cases {
        let got = (
            fs.exists(s(path)).await.unwrap(),
            fs.is_file(s(path)).await.unwrap(),
            fs.is_dir(s(path)).await.unwrap(),
            fs.is_link(s(path)).await.unwrap(),
        );
        assert_eq!(got, (exists, file, dir, link), "{path}");
    }
    assert_eq!(fs.exists(s("/nowhere")).await, Err(ErrorCode::NotPermitted));
    assert!(!fs.samefile(s("/data/f"), s("/data/d")).await.unwrap());
}

#[tokio::test]
async fn open_files() {
    let limits = Limits {
        max_open_files: 1,
        ..Limits::default()
    };
    let env = Env::with(limits, Pool::new(1));
    let fs = &env.fs;
    env.put("data/f", "content");
    assert_eq!(
        fs.open(s("/data/f"), "rw").await.map(drop),
        Err(ErrorCode::Invalid)
    );
    assert_eq!(
        fs.open(s("/data/none"), "rb").await.map(drop),
        Err(ErrorCode::NoEntry)
    );
    assert_eq!(
        fs.open(s("/data"), "rb").await.map(drop),
        Err(ErrorCode::IsDirectory)
    );
    assert_eq!(
        fs.open(s("/data/f"), "xb").await.map(drop),
        Err(ErrorCode::Exist)
    );
    assert_eq!(
        fs.open(s("/data/../outside/secret"), "rb").await.map(drop),
        Err(ErrorCode::NotPermitted)
    );
    assert_eq!(fs.open_files(), 0);
    let f = fs.open(s("/data/f"), "rb").await.unwrap();
    assert_eq!((f.name(), f.mode().as_str()), ("/data/f", "rb"));
    assert_eq!(fs.open_files(), 1);
    assert_eq!(
        fs.open(s("/data/f"), "rb").await.map(drop),
        Err(ErrorCode::Quota)
    );
    f.close().await.unwrap();
    drop(f);
    env.drain().await;
    assert_eq!(fs.open_files(), 0);
    // `w` truncates, `a` keeps.
    let f = fs.open(s("/data/f"), "a").await.unwrap();
    f.close().await.unwrap();
    assert_eq!(env.get("data/f").as_deref(), Some("content"));
    let f = fs.open(s("/data/f"), "w").await.unwrap();
    f.close().await.unwrap();
    assert_eq!(env.get("data/f").as_deref(), Some(""));
    // Dropping without close releases the slot too (on the pool).
    let f = fs.open(s("/data/new"), "x+b").await.unwrap();
    assert!(env.host("data/new").exists());
    drop(f);
    env.drain().await;
    assert_eq!(fs.open_files(), 0);
}

#[tokio::test]
async fn temporary_directories() {
    let env = Env::with(Limits::default(), Pool::new(1));
    let fs = &env.fs;
    let t = fs
        .temporary_directory(TempOptions {
            prefix: Some(s("pre-")),
            suffix: Some(s(".d")),
            ..TempOptions::default()
        })
        .await
        .unwrap();
    let name = t.path().strip_prefix("/data/").unwrap().to_owned();
    assert!(name.starts_with("pre-") && name.ends_with(".d"), "{name}");
    assert_eq!(name.len(), "pre-".len() + 8 + ".d".len());
    assert!(env.host("data").join(&name).is_dir());
    env.put(&format!("data/{name}/inner/f"), "x");
    t.cleanup().await.unwrap();
    assert!(!env.host("data").join(&name).exists());
    t.cleanup().await.unwrap();
    drop(t);

    // In a chosen directory, removed on drop.
    stdfs::create_dir(env.host("data2/sub")).unwrap();
    let t = fs
        .temporary_directory(TempOptions {
            dir: Some(s("/data2/sub")),
            ..TempOptions::default()
        })
        .await
        .unwrap();
    assert!(t.path().starts_with("/data2/sub/tmp"), "{}", t.path());
    let name = t.path().rsplit('/').next().unwrap().to_owned();
    env.put(&format!("data2/sub/{name}/f"), "x");
    drop(t);
    env.drain().await;
    assert!(env.names("data2/sub").is_empty());

    // Relative dir option: under the first grant.
    stdfs::create_dir(env.host("data/rel")).unwrap();
    let t = fs
        .temporary_directory(TempOptions {
            dir: Some(s("rel/")),
            ..TempOptions::default()
        })
        .await
        .unwrap();
    assert!(t.path().starts_with("/data/rel/tmp"), "{}", t.path());
    t.cleanup().await.unwrap();

    for bad in ["a/b", "a\0"] {
        let prefix = fs
            .temporary_directory(TempOptions {
                prefix: Some(s(bad)),
                ..TempOptions::default()
            })
            .await;
        assert_eq!(prefix.map(drop), Err(ErrorCode::Invalid), "{bad:?}");
        let suffix = fs
            .temporary_directory(TempOptions {
                suffix: Some(s(bad)),
                ..TempOptions::default()
            })
            .await;
        assert_eq!(suffix.map(drop), Err(ErrorCode::Invalid), "{bad:?}");
    }
    // A prefix and suffix that cannot make a file name are refused before anything is
    // queued (a queued operation would hold them), whatever the grant's filesystem says.
    let (fits, over) = ("p".repeat(120), "s".repeat(128));
    let made = fs
        .temporary_file(
            s("w+b"),
            TempOptions {
                prefix: Some(fits.clone()),
                suffix: Some("s".repeat(127)),
                ..TempOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(made.name().len(), "/data/".len() + 255);
    made.close().await.unwrap();
    let long = fs
        .named_temporary_file(
            s("w+b"),
            TempOptions {
                prefix: Some(fits),
                suffix: Some(over),
                ..TempOptions::default()
            },
            true,
        )
        .await;
    assert_eq!(long.map(drop), Err(ErrorCode::NameTooLong));
    assert_eq!(
        fs.temporary_directory(TempOptions {
            dir: Some(s("/data/../outside")),
            ..TempOptions::default()
        })
        .await
        .map(drop),
        Err(ErrorCode::NotPermitted)
    );
    assert_eq!(env.names("outside"), ["secret"]);
}

#[tokio::test]
async fn temporary_files() {
    let env = Env::with(Limits::default(), Pool::new(1));
    let fs = &env.fs;
    // Unnamed: gone from the directory at once, still usable.
    let f = fs
        .temporary_file(s(""), TempOptions::default())
        .await
        .unwrap();
    assert!(env.names("data").is_empty());
    assert_eq!(f.mode(), "wb+");
    assert_eq!(fs.open_files(), 1);
    f.write(b"abc".to_vec()).await.unwrap();
    f.close().await.unwrap();
    assert_eq!(fs.open_files(), 0);

    for bad in ["r", "rb", "r+", "zz"] {
        assert_eq!(
            fs.temporary_file(s(bad), TempOptions::default())
                .await
                .map(drop),
            Err(ErrorCode::Invalid),
            "{bad}"
        );
    }

    // Named, deleted on close.
    let f = fs
        .named_temporary_file(
            s("w"),
            TempOptions {
                prefix: Some(s("n-")),
                suffix: Some(s(".txt")),
                dir: Some(s("/data2")),
            },
            true,
        )
        .await
        .unwrap();
    let name = f.name().strip_prefix("/data2/").unwrap().to_owned();
    assert!(name.starts_with("n-") && name.ends_with(".txt"), "{name}");
    assert_eq!(env.names("data2"), std::slice::from_ref(&name));
    assert!(f.is_text());
    f.close().await.unwrap();
    env.drain().await;
    assert!(env.names("data2").is_empty());

    // Named, deleted on drop.
    let f = fs
        .named_temporary_file(s("w+b"), TempOptions::default(), true)
        .await
        .unwrap();
    assert_eq!(env.names("data").len(), 1);
    drop(f);
    env.drain().await;
    assert!(env.names("data").is_empty());

    // Named, kept.
    let f = fs
        .named_temporary_file(s("xb"), TempOptions::default(), false)
        .await
        .unwrap();
    f.close().await.unwrap();
    env.drain().await;
    assert_eq!(env.names("data").len(), 1);
    assert_eq!(fs.open_files(), 0);
}

/// A directory opened relative to another keeps its full guest path; a chain of
/// Descriptors of this process open on `path` (as `/proc/self/fd` shows them).
fn fds_on(path: &std::path::Path) -> usize {
    stdfs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| stdfs::read_link(e.ok()?.path()).ok())
        .filter(|target| target == path)
        .count()
}

/// A file opened beneath a directory view does not keep the view's directory open: once
/// the view is dropped (its slot given back), its descriptor is closed, so the store's
/// descriptors stay within `max_open_files`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_opened_beneath_a_view_do_not_hold_it_open() {
    let limits = Limits {
        max_open_files: 4,
        ..Limits::default()
    };
    let env = Env::with(limits, Pool::new(1));
    let root = env.fs.grant_roots().swap_remove(0);
    let dir_req = OpenRequest {
        directory: true,
        ..OpenRequest::default()
    };
    let mut files = Vec::new();
    for i in 0..3 {
        env.put(&format!("data/d{i}/f"), "x");
        let Opened::Dir(view) = root.fs().open_at(format!("d{i}"), dir_req).await.unwrap() else {
            panic!("a directory");
        };
        let host = env.host(&format!("data/d{i}")).canonicalize().unwrap();
        assert_eq!(fds_on(&host), 1, "the view's own descriptor");
        let Opened::File(f) = view
            .fs()
            .open_at(s("f"), OpenRequest::default())
            .await
            .unwrap()
        else {
            panic!("a file");
        };
        drop(view);
        assert_eq!(fds_on(&host), 0, "closed with the view");
        assert_eq!(f.read_all().await.unwrap(), b"x");
        files.push(f);
    }
    assert_eq!(env.fs.open_files(), 3);
}

/// `open-at(d, "x/..")` that would make it longer than `max_path_len` fails with
/// `name-too-long` instead of growing it without end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relative_opens_cannot_grow_a_path_past_the_limit() {
    let limits = Limits {
        max_path_len: 64,
        ..Limits::default()
    };
    let env = Env::with(limits, Pool::new(1));
    stdfs::create_dir(env.host("data/x")).unwrap();
    let req = OpenRequest {
        directory: true,
        ..OpenRequest::default()
    };
    let mut dir = env.fs.grant_roots().swap_remove(0);
    let mut opened = 0;
    let err = loop {
        match dir.fs().open_at(s("x/../x/.."), req).await {
            Ok(Opened::Dir(d)) => dir = d,
            Ok(Opened::File(_)) => panic!("a directory"),
            Err(e) => break e,
        }
        opened += 1;
        assert!(opened < 64, "the path grows past the limit");
    };
    assert_eq!(err, ErrorCode::NameTooLong);
    // "/data" + 5 × "/x/../x/.." is 55 bytes; a sixth would be 65.
    assert_eq!(opened, 5);
    assert_eq!(dir.guest_path().len(), 55);
    // Still usable, and files beneath it resolve.
    assert!(dir.fs().exists(s("x")).await.unwrap());
}

/// Times are set on files, links and open files; one before 1970 is refused with
/// `invalid` (the crates that set them would panic), leaving the file as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_times_and_times_before_1970() {
    let env = Env::new();
    env.put("data/f", "abc");
    let fs = &env.fs;
    let at = |seconds| {
        SetTime::At(Timestamp {
            seconds,
            nanoseconds: 0,
        })
    };
    fs.set_times(s("/data/f"), true, at(1_000_000_000), at(1_500_000_000))
        .await
        .unwrap();
    let st = fs.stat(s("/data/f"), true).await.unwrap();
    assert_eq!(st.modified.unwrap().seconds, 1_500_000_000);
    for follow in [true, false] {
        assert_eq!(
            fs.set_times(s("/data/f"), follow, SetTime::Keep, at(-1))
                .await,
            Err(ErrorCode::Invalid)
        );
    }
    let f = fs.open(s("/data/f"), "r+b").await.unwrap();
    assert_eq!(
        f.set_times(at(-86_400), SetTime::Keep).await,
        Err(ErrorCode::Invalid)
    );
    f.close().await.unwrap();
    let st = fs.stat(s("/data/f"), true).await.unwrap();
    assert_eq!(st.modified.unwrap().seconds, 1_500_000_000);
    assert_eq!(st.accessed.unwrap().seconds, 1_000_000_000);
}

/// Setting the times of a FIFO opens it without waiting for a peer (a FIFO open for
/// writing blocks until a reader comes, and would hold a pool thread for good); a file
/// the host may write but not read still gets its times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_times_never_waits_on_a_fifo() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::with(Limits::default(), Pool::new(1));
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        env.host("data/fifo"),
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    env.put("data/wo", "x");
    stdfs::set_permissions(env.host("data/wo"), stdfs::Permissions::from_mode(0o200)).unwrap();
    let fs = &env.fs;
    let at = SetTime::At(Timestamp {
        seconds: 1_234_567_890,
        nanoseconds: 5,
    });
    // Bounded only so that a regression fails instead of hanging the run.
    let set = fs.set_times(s("/data/fifo"), true, at, at);
    tokio::time::timeout(std::time::Duration::from_secs(60), set)
        .await
        .expect("set-times of a FIFO returned")
        .unwrap();
    let st = fs.stat(s("/data/fifo"), true).await.unwrap();
    assert_eq!(st.modified.unwrap().seconds, 1_234_567_890);
    fs.set_times(s("/data/wo"), true, SetTime::Keep, at)
        .await
        .unwrap();
    fs.set_times(s("/data/wo"), true, SetTime::Now, SetTime::Keep)
        .await
        .unwrap();
    let st = fs.stat(s("/data/wo"), true).await.unwrap();
    assert_eq!(st.modified.unwrap().seconds, 1_234_567_890);
    assert!(st.accessed.unwrap().seconds > 1_700_000_000);
}
