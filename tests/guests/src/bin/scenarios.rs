//! End-to-end scenarios, run as `scenarios NAME`. Each checks what the guest sees (values
//! and exact error codes) and panics on a mismatch, which traps the component and fails
//! the host test; the host test then checks the disk.
//!
//! The host lays out the fixture described in `tests/src/lib.rs` (`Sandbox`): `/data`
//! (read-write) and `/ro` (read-only) grants, with a canary directory outside both.

use aiofs::bindings::aiofs::fs::types::{ErrorCode, File, FileType, Whence};
use aiofs::bindings::aiofs::fs::{files, grants, os, path, tempfile};
use futures::future::join_all;

type E = ErrorCode;

async fn open(p: &str, mode: &str) -> File {
    files::open(p.into(), mode.into())
        .await
        .unwrap_or_else(|e| panic!("open {p} {mode}: {e:?}"))
}

fn err<T: std::fmt::Debug>(r: Result<T, E>, want: E, what: &str) {
    match r {
        Err(e) if e == want => {}
        other => panic!("{what}: expected Err({want:?}), got {other:?}"),
    }
}

async fn binary_io() {
    let f = open("/data/new.bin", "w+b").await;
    assert!(!f.is_text());
    assert_eq!(f.mode(), "wb+");
    assert_eq!(f.name(), "/data/new.bin");
    assert_eq!(
        f.write(b"hello world\nsecond line\nthird".to_vec()).await,
        Ok(29)
    );
    assert_eq!(f.tell().await, Ok(29));
    assert_eq!(f.seek(0, Whence::Start).await, Ok(0));
    assert_eq!(f.read(5).await.unwrap(), b"hello");
    assert_eq!(f.seek(1, Whence::Current).await, Ok(6));
    assert_eq!(f.read_line().await.unwrap(), b"world\n");
    assert_eq!(
        f.read_lines(10).await.unwrap(),
        vec![b"second line\n".to_vec(), b"third".to_vec()]
    );
    assert_eq!(f.read_line().await.unwrap(), b"");
    assert_eq!(f.seek(-5, Whence::End).await, Ok(24));
    assert_eq!(f.read_all().await.unwrap(), b"third");
    err(
        f.seek(-100, Whence::Current).await,
        E::Invalid,
        "negative seek",
    );
    assert_eq!(
        f.write_lines(vec![b"\nx".to_vec(), b"yz\n".to_vec()]).await,
        Ok(5)
    );
    assert_eq!(f.truncate(Some(11)).await, Ok(11));
    assert_eq!(f.stat().await.unwrap().size, 11);
    assert_eq!(f.stat().await.unwrap().type_, FileType::RegularFile);
    f.flush().await.unwrap();
    f.sync().await.unwrap();
    f.sync_data().await.unwrap();
    // Text operations on a binary file are refused.
    err(f.read_text(1).await, E::Invalid, "read-text on binary");
    err(
        f.write_text("x".into()).await,
        E::Invalid,
        "write-text on binary",
    );
    assert!(!f.closed());
    f.close().await.unwrap();
    assert!(f.closed());
    err(f.read(1).await, E::BadDescriptor, "read after close");
    err(
        f.write(b"x".to_vec()).await,
        E::BadDescriptor,
        "write after close",
    );
    f.close().await.unwrap();

    // Read-only and write-only handles.
    let r = open("/data/hello.txt", "rb").await;
    err(r.write(b"x".to_vec()).await, E::BadDescriptor, "write on r");
    err(r.truncate(None).await, E::BadDescriptor, "truncate on r");
    let w = open("/data/wonly.bin", "wb").await;
    err(w.read(1).await, E::BadDescriptor, "read on w");
    w.write(b"w".to_vec()).await.unwrap();

    // Append mode always writes at the end.
    let a = open("/data/hello.txt", "ab").await;
    a.write(b"appended\n".to_vec()).await.unwrap();
    let a2 = open("/data/hello.txt", "a+b").await;
    a2.seek(0, Whence::Start).await.unwrap();
    a2.write(b"again\n".to_vec()).await.unwrap();
    a2.seek(0, Whence::Start).await.unwrap();
    assert_eq!(
        a2.read_all().await.unwrap(),
        b"hello\nworld\nappended\nagain\n"
    );

    // Exclusive create.
    err(
        files::open("/data/hello.txt".into(), "xb".into())
            .await
            .map(drop),
        E::Exist,
        "x on existing",
    );
    let x = open("/data/excl.bin", "xb").await;
    x.write(b"x".to_vec()).await.unwrap();
    // Opening a missing file for reading, a directory, and bad modes.
    err(
        files::open("/data/missing".into(), "r".into())
            .await
            .map(drop),
        E::NoEntry,
        "missing",
    );
    err(
        files::open("/data/sub".into(), "r".into()).await.map(drop),
        E::IsDirectory,
        "dir",
    );
    for bad in ["", "rw", "rr", "r++", "rbt", "q", "rU", "wx"] {
        err(
            files::open("/data/hello.txt".into(), bad.into())
                .await
                .map(drop),
            E::Invalid,
            bad,
        );
    }
}

async fn text_io() {
    // lines.txt is "one\r\ntwo\rthree\nfour" on disk.
    let f = open("/data/lines.txt", "r").await;
    assert!(f.is_text());
    assert_eq!(f.read_line_text().await.unwrap(), "one\n");
    assert_eq!(
        f.read_lines_text(10).await.unwrap(),
        vec!["two\n", "three\n", "four"]
    );
    assert_eq!(f.read_line_text().await.unwrap(), "");
    assert_eq!(f.seek(0, Whence::Start).await, Ok(0));
    assert_eq!(f.read_text(5).await.unwrap(), "one\nt");
    assert_eq!(f.read_all_text().await.unwrap(), "wo\nthree\nfour");
    err(f.read(1).await, E::Invalid, "read bytes on text");

    // Multi-byte characters count as one.
    let u = open("/data/utf8.txt", "r").await;
    assert_eq!(u.read_text(3).await.unwrap(), "héé");
    assert_eq!(u.tell().await, Ok(5));

    // Invalid UTF-8: an error, and nothing consumed.
    let b = open("/data/bad-utf8.txt", "r").await;
    assert_eq!(b.read_text(1).await.unwrap(), "f");
    err(
        b.read_text(1).await,
        E::IllegalByteSequence,
        "invalid utf-8",
    );
    assert_eq!(b.tell().await, Ok(1));
    err(
        b.read_line_text().await,
        E::IllegalByteSequence,
        "invalid utf-8 line",
    );
    assert_eq!(b.tell().await, Ok(1));

    // Writing text, appending, then reading it back.
    let w = open("/data/out.txt", "w").await;
    assert_eq!(w.write_text("héllo\n".into()).await, Ok(6));
    assert_eq!(
        w.write_lines_text(vec!["a\n".into(), "b\n".into()]).await,
        Ok(4)
    );
    err(
        w.write(b"x".to_vec()).await,
        E::Invalid,
        "write bytes on text",
    );
    w.close().await.unwrap();
    let a = open("/data/out.txt", "a").await;
    a.write_text("c\n".into()).await.unwrap();
    a.close().await.unwrap();
    let r = open("/data/out.txt", "r+").await;
    assert_eq!(r.read_all_text().await.unwrap(), "héllo\na\nb\nc\n");
}

async fn streams() {
    const N: usize = 3 << 20;
    let data: Vec<u8> = (0..N).map(|i| (i % 251) as u8).collect();
    let f = open("/data/stream.bin", "w+b").await;
    let (mut tx, rx) = aiofs::bindings::wit_stream::new::<u8>();
    let done = f.write_via_stream(rx);
    let leftover = tx.write_all(data.clone()).await;
    assert!(leftover.is_empty());
    drop(tx);
    assert_eq!(done.await, Ok(N as u64));
    assert_eq!(f.tell().await, Ok(N as u64));

    f.seek(0, Whence::Start).await.unwrap();
    let (rx, result) = f.read_via_stream();
    let got = rx.collect().await;
    assert_eq!(result.await, Ok(()));
    assert_eq!(got.len(), N);
    assert!(got == data, "stream round trip differs");
    assert_eq!(f.tell().await, Ok(N as u64));

    // Streams on a text file fail through the future.
    let t = open("/data/hello.txt", "r").await;
    let (rx, result) = t.read_via_stream();
    assert!(rx.collect().await.is_empty());
    err(result.await, E::Invalid, "stream on text");
    // Writing through a stream on a read-only handle.
    let r = open("/data/hello.txt", "rb").await;
    let (tx, rx) = aiofs::bindings::wit_stream::new::<u8>();
    drop(tx);
    err(
        r.write_via_stream(rx).await,
        E::BadDescriptor,
        "write stream on r",
    );
}

async fn whole_file() {
    assert_eq!(
        files::read_file("/data/hello.txt".into(), 1024)
            .await
            .unwrap(),
        b"hello\nworld\n"
    );
    // Relative paths resolve against the first grant (/data).
    assert_eq!(
        files::read_file("hello.txt".into(), 1024).await.unwrap(),
        b"hello\nworld\n"
    );
    err(
        files::read_file("/data/hello.txt".into(), 3).await,
        E::FileTooLarge,
        "max",
    );
    err(
        files::read_file("/data/sub".into(), 10).await,
        E::IsDirectory,
        "dir",
    );
    files::write_file("/data/plain.txt".into(), b"plain".to_vec(), false)
        .await
        .unwrap();
    files::write_file("/data/atomic.txt".into(), b"old".to_vec(), true)
        .await
        .unwrap();
    files::write_file("/data/atomic.txt".into(), b"new content".to_vec(), true)
        .await
        .unwrap();
    err(
        files::write_file("/data/nodir/x".into(), vec![], true).await,
        E::NoEntry,
        "no parent",
    );
}

async fn os_ops() {
    let st = os::stat("/data/hello.txt".into()).await.unwrap();
    assert_eq!((st.type_, st.size), (FileType::RegularFile, 12));
    assert!(st.modified.is_some());
    assert_eq!(
        os::stat("/data/sub".into()).await.unwrap().type_,
        FileType::Directory
    );
    err(
        os::stat("/data/missing".into()).await,
        E::NoEntry,
        "stat missing",
    );
    err(
        os::stat("/data/hello.txt/x".into()).await,
        E::NotDirectory,
        "stat through file",
    );

    os::symlink("hello.txt".into(), "/data/link".into())
        .await
        .unwrap();
    assert_eq!(
        os::lstat("/data/link".into()).await.unwrap().type_,
        FileType::SymbolicLink
    );
    assert_eq!(os::stat("/data/link".into()).await.unwrap().size, 12);
    assert_eq!(
        os::readlink("/data/link".into()).await.unwrap(),
        "hello.txt"
    );
    err(
        os::readlink("/data/hello.txt".into()).await,
        E::Invalid,
        "readlink on file",
    );

    use os::AccessMode as A;
    assert_eq!(
        os::access("/data/hello.txt".into(), A::empty()).await,
        Ok(true)
    );
    assert_eq!(
        os::access("/data/hello.txt".into(), A::READ | A::WRITE).await,
        Ok(true)
    );
    assert_eq!(
        os::access("/data/missing".into(), A::empty()).await,
        Ok(false)
    );
    assert_eq!(os::access("/ro/ro.txt".into(), A::READ).await, Ok(true));
    assert_eq!(os::access("/ro/ro.txt".into(), A::WRITE).await, Ok(false));

    os::mkdir("/data/d1".into()).await.unwrap();
    err(os::mkdir("/data/d1".into()).await, E::Exist, "mkdir twice");
    os::makedirs("/data/d1/a/b/c".into(), false).await.unwrap();
    err(
        os::makedirs("/data/d1/a/b/c".into(), false).await,
        E::Exist,
        "makedirs !exist_ok",
    );
    os::makedirs("/data/d1/a/b/c".into(), true).await.unwrap();
    err(
        os::makedirs("/data/hello.txt".into(), true).await,
        E::Exist,
        "makedirs over a file",
    );
    files::write_file("/data/d1/a/f.txt".into(), b"f".to_vec(), false)
        .await
        .unwrap();

    let mut names = os::listdir("/data/d1/a".into()).await.unwrap();
    names.sort();
    assert_eq!(names, ["b", "f.txt"]);
    let mut entries = os::scandir("/data/d1/a".into(), true).await.unwrap();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(entries[0].type_, FileType::Directory);
    assert_eq!(entries[1].type_, FileType::RegularFile);
    assert_eq!(entries[1].stat.as_ref().map(|s| s.size), Some(1));
    let plain = os::scandir("/data".into(), false).await.unwrap();
    assert!(plain.iter().all(|e| e.stat.is_none()));
    assert!(
        plain
            .iter()
            .any(|e| e.name == "link" && e.type_ == FileType::SymbolicLink)
    );
    err(
        os::listdir("/data/hello.txt".into()).await,
        E::NotDirectory,
        "listdir file",
    );

    err(
        os::rmdir("/data/d1".into()).await,
        E::NotEmpty,
        "rmdir non-empty",
    );
    os::rmdir("/data/d1/a/b/c".into()).await.unwrap();
    os::removedirs("/data/d1/a/b".into()).await.unwrap(); // stops at a (not empty)
    assert_eq!(path::is_dir("/data/d1/a".into()).await, Ok(true));

    os::rename("/data/d1/a/f.txt".into(), "/data/renamed.txt".into())
        .await
        .unwrap();
    files::write_file("/data/r2.txt".into(), b"r2".to_vec(), false)
        .await
        .unwrap();
    os::replace("/data/r2.txt".into(), "/data/renamed.txt".into())
        .await
        .unwrap();
    os::makedirs("/data/s1/s2".into(), false).await.unwrap();
    files::write_file("/data/s1/s2/moved.txt".into(), b"m".to_vec(), false)
        .await
        .unwrap();
    os::renames(
        "/data/s1/s2/moved.txt".into(),
        "/data/t1/t2/moved.txt".into(),
    )
    .await
    .unwrap();
    assert_eq!(path::exists("/data/s1".into()).await, Ok(false)); // pruned
    err(
        os::rename("/data/missing".into(), "/data/x".into()).await,
        E::NoEntry,
        "rename missing",
    );

    os::link("/data/renamed.txt".into(), "/data/hard.txt".into())
        .await
        .unwrap();
    assert_eq!(
        os::stat("/data/hard.txt".into()).await.unwrap().link_count,
        2
    );
    assert_eq!(
        path::samefile("/data/renamed.txt".into(), "/data/hard.txt".into()).await,
        Ok(true)
    );
    err(
        os::link("/data/renamed.txt".into(), "/data/hard.txt".into()).await,
        E::Exist,
        "link exists",
    );

    assert_eq!(
        os::copy_file("/data/hello.txt".into(), "/data/copy.txt".into()).await,
        Ok(12)
    );
    // Copy out of the read-only grant into the writable one.
    assert_eq!(
        os::copy_file("/ro/ro.txt".into(), "/data/from-ro.txt".into()).await,
        Ok(10)
    );

    os::remove("/data/hard.txt".into()).await.unwrap();
    os::unlink("/data/copy.txt".into()).await.unwrap();
    err(
        os::remove("/data/copy.txt".into()).await,
        E::NoEntry,
        "remove twice",
    );
    err(
        os::remove("/data/sub".into()).await,
        E::IsDirectory,
        "remove dir",
    );

    os::makedirs("/data/tree/x/y".into(), false).await.unwrap();
    files::write_file("/data/tree/x/y/z.txt".into(), b"z".to_vec(), false)
        .await
        .unwrap();
    os::symlink("../../sub".into(), "/data/tree/x/sublink".into())
        .await
        .unwrap();
    os::remove_tree("/data/tree".into()).await.unwrap();
    assert_eq!(path::exists("/data/tree".into()).await, Ok(false));
    // remove-tree did not follow the symlink into /data/sub.
    assert_eq!(path::is_file("/data/sub/deep/f.txt".into()).await, Ok(true));
}

async fn path_ops() {
    assert_eq!(path::exists("/data/hello.txt".into()).await, Ok(true));
    assert_eq!(path::exists("/data/nope".into()).await, Ok(false));
    assert_eq!(path::exists("/data/hello.txt/nope".into()).await, Ok(false));
    assert_eq!(path::is_file("/data/hello.txt".into()).await, Ok(true));
    assert_eq!(path::is_file("/data/sub".into()).await, Ok(false));
    assert_eq!(path::is_dir("/data/sub".into()).await, Ok(true));
    assert_eq!(path::is_dir("/data".into()).await, Ok(true));
    assert_eq!(
        path::is_dir("/".into())
            .await
            .map_err(|e| e == E::NotPermitted),
        Err(true)
    );
    os::symlink("hello.txt".into(), "/data/l".into())
        .await
        .unwrap();
    assert_eq!(path::is_link("/data/l".into()).await, Ok(true));
    assert_eq!(path::is_link("/data/hello.txt".into()).await, Ok(false));
    assert_eq!(path::get_size("/data/hello.txt".into()).await, Ok(12));
    err(
        path::get_size("/data/nope".into()).await,
        E::NoEntry,
        "size of missing",
    );
    let m = path::get_mtime("/data/hello.txt".into()).await.unwrap();
    let a = path::get_atime("/data/hello.txt".into()).await.unwrap();
    let c = path::get_ctime("/data/hello.txt".into()).await.unwrap();
    // The host set the mtime of hello.txt to 1_000_000_000.5 s.
    assert!((m - 1_000_000_000.5).abs() < 1e-3, "mtime {m}");
    assert!(a > 0.0 && c > 0.0);
    assert_eq!(
        path::samefile("/data/hello.txt".into(), "/data/l".into()).await,
        Ok(true)
    );
    assert_eq!(
        path::samefile("/data/hello.txt".into(), "/data/lines.txt".into()).await,
        Ok(false)
    );
}

async fn tempfiles() {
    use tempfile::TempOptions;
    let opts = |dir: Option<&str>| TempOptions {
        dir: dir.map(Into::into),
        prefix: Some("t-".into()),
        suffix: Some(".tmp".into()),
    };
    let anon = tempfile::temporary_file("".into(), opts(None))
        .await
        .unwrap();
    anon.write(b"scratch".to_vec()).await.unwrap();
    anon.seek(0, Whence::Start).await.unwrap();
    assert_eq!(anon.read_all().await.unwrap(), b"scratch");

    let named = tempfile::named_temporary_file("w+".into(), opts(Some("/data/sub")), true)
        .await
        .unwrap();
    let name = named.name();
    assert!(
        name.starts_with("/data/sub/t-") && name.ends_with(".tmp"),
        "{name}"
    );
    assert_eq!(path::is_file(name.clone()).await, Ok(true));
    named.write_text("named".into()).await.unwrap();
    named.close().await.unwrap();
    assert_eq!(path::exists(name).await, Ok(false));

    let kept = tempfile::named_temporary_file("wb".into(), opts(None), false)
        .await
        .unwrap();
    let kept_name = kept.name();
    drop(kept);
    assert_eq!(path::exists(kept_name.clone()).await, Ok(true));
    os::rename(kept_name, "/data/kept.tmp".into())
        .await
        .unwrap();

    let dir = tempfile::temporary_directory(opts(None)).await.unwrap();
    let d = dir.path();
    files::write_file(format!("{d}/inner.txt"), b"i".to_vec(), false)
        .await
        .unwrap();
    assert_eq!(path::is_dir(d.clone()).await, Ok(true));
    dir.cleanup().await.unwrap();
    assert_eq!(path::exists(d).await, Ok(false));
    // A second directory is left for the drop to remove (checked by the host).
    let dropped = tempfile::temporary_directory(opts(None)).await.unwrap();
    files::write_file(format!("{}/x", dropped.path()), b"x".to_vec(), false)
        .await
        .unwrap();
    drop(dropped);

    err(
        tempfile::temporary_file("r".into(), opts(None))
            .await
            .map(drop),
        E::Invalid,
        "r temp",
    );
    err(
        tempfile::temporary_file("".into(), opts(Some("/ro")))
            .await
            .map(drop),
        E::ReadOnly,
        "ro temp",
    );
    let bad = TempOptions {
        dir: None,
        prefix: Some("../x".into()),
        suffix: None,
    };
    err(
        tempfile::temporary_file("".into(), bad).await.map(drop),
        E::Invalid,
        "prefix with /",
    );
}

async fn grant_list() {
    let g = grants::list_grants();
    let got: Vec<(String, bool)> = g
        .iter()
        .map(|g| {
            (
                g.guest_path.clone(),
                g.permission == grants::Permission::ReadWrite,
            )
        })
        .collect();
    assert_eq!(
        got,
        [("/data".to_string(), true), ("/ro".to_string(), false)]
    );
}

/// Every escape attempt, with the code it must produce.
async fn escapes() {
    let np = E::NotPermitted;
    let reads: &[(&str, E)] = &[
        ("../outside/canary.txt", np),
        ("/data/../outside/canary.txt", np),
        ("/data/sub/../../outside/canary.txt", np),
        ("/outside/canary.txt", np),
        ("/etc/passwd", np),
        ("/datax/hello.txt", np),
        ("/dat", np),
        ("/data/escape-link", np),
        ("/data/escape-dir/canary.txt", np),
        ("/data/abs-link", np),
        ("/data/hello.txt\0", E::Invalid),
        ("", E::NoEntry),
    ];
    for (p, want) in reads {
        err(files::read_file(p.to_string(), 1 << 20).await, *want, p);
        err(
            files::open(p.to_string(), "rb".into()).await.map(drop),
            *want,
            p,
        );
        err(os::stat(p.to_string()).await, *want, p);
    }
    err(
        path::exists("/data/../outside".into()).await,
        np,
        "exists outside",
    );
    err(
        os::listdir("/data/escape-dir".into()).await,
        np,
        "listdir through link",
    );
    err(
        os::symlink("/etc/passwd".into(), "/data/abs2".into()).await,
        np,
        "absolute symlink target",
    );
    err(
        os::rename("/data/hello.txt".into(), "/data/../outside/moved".into()).await,
        np,
        "rename out",
    );
    err(
        os::link("/data/../outside/canary.txt".into(), "/data/hl".into()).await,
        np,
        "hard link to outside",
    );
    // Linking the outward symlink links the symlink itself (no follow); the copy is just as
    // unusable as the original.
    os::link("/data/escape-link".into(), "/data/hl-link".into())
        .await
        .unwrap();
    assert_eq!(
        os::lstat("/data/hl-link".into()).await.unwrap().type_,
        FileType::SymbolicLink
    );
    err(
        files::read_file("/data/hl-link".into(), 100).await,
        np,
        "read through linked symlink",
    );
    os::remove("/data/hl-link".into()).await.unwrap();
    err(
        files::write_file("/data/escape-link".into(), b"x".to_vec(), false).await,
        np,
        "write through link",
    );
    err(
        files::write_file("/data/escape-dir/new".into(), b"x".to_vec(), true).await,
        np,
        "write into linked dir",
    );
    let long = format!("/data/{}", "a/".repeat(3000));
    err(
        files::read_file(long, 10).await,
        E::NameTooLong,
        "long path",
    );

    // Every mutation on the read-only grant fails with read-only, before touching the disk.
    let ro = E::ReadOnly;
    err(
        files::write_file("/ro/ro.txt".into(), b"x".to_vec(), false).await,
        ro,
        "write-file ro",
    );
    err(
        files::write_file("/ro/new.txt".into(), b"x".to_vec(), true).await,
        ro,
        "atomic ro",
    );
    for mode in ["w", "a", "x", "r+", "wb", "ab+"] {
        err(
            files::open("/ro/ro.txt".into(), mode.into())
                .await
                .map(drop),
            ro,
            mode,
        );
    }
    err(os::mkdir("/ro/d".into()).await, ro, "mkdir ro");
    err(
        os::makedirs("/ro/d/e".into(), true).await,
        ro,
        "makedirs ro",
    );
    err(os::remove("/ro/ro.txt".into()).await, ro, "remove ro");
    err(os::rmdir("/ro/rsub".into()).await, ro, "rmdir ro");
    err(
        os::remove_tree("/ro/rsub".into()).await,
        ro,
        "remove-tree ro",
    );
    err(
        os::rename("/ro/ro.txt".into(), "/ro/x".into()).await,
        ro,
        "rename ro",
    );
    err(
        os::rename("/ro/ro.txt".into(), "/data/x".into()).await,
        ro,
        "rename out of ro",
    );
    err(
        os::rename("/data/hello.txt".into(), "/ro/x".into()).await,
        ro,
        "rename into ro",
    );
    err(
        os::symlink("ro.txt".into(), "/ro/l".into()).await,
        ro,
        "symlink ro",
    );
    err(
        os::link("/ro/ro.txt".into(), "/data/l".into()).await,
        ro,
        "link from ro",
    );
    err(
        os::copy_file("/data/hello.txt".into(), "/ro/c".into()).await,
        ro,
        "copy into ro",
    );
    err(
        os::renames("/data/hello.txt".into(), "/ro/a/b".into()).await,
        ro,
        "renames ro",
    );
    // Reading the read-only grant works.
    assert_eq!(
        files::read_file("/ro/ro.txt".into(), 100).await.unwrap(),
        b"read only\n"
    );
}

/// Many reads in flight at once; the host gates the pool and counts.
async fn concurrent_reads(n: usize) {
    let reads = (0..n).map(|i| files::read_file(format!("/data/c{i}.txt"), 100));
    for (i, r) in join_all(reads).await.into_iter().enumerate() {
        assert_eq!(r.unwrap(), format!("file {i}").into_bytes());
    }
}

/// Open until the host's open-file limit answers `quota`, then check a closed slot is reused.
async fn quota_open_files(limit: usize) {
    let mut open_files = Vec::new();
    for i in 0..limit {
        open_files.push(open(&format!("/data/q{i}.bin"), "wb").await);
    }
    err(
        files::open("/data/one-more".into(), "wb".into())
            .await
            .map(drop),
        E::Quota,
        "open over limit",
    );
    open_files.pop().unwrap().close().await.unwrap();
    let again = open("/data/one-more", "wb").await;
    drop(again);
    drop(open_files);
    // read-all over the per-read limit (the host set it to 1 KiB; big.bin has 4 KiB).
    let big = open("/data/big.bin", "rb").await;
    err(big.read_all().await, E::Quota, "read-all over limit");
    assert_eq!(
        big.read(10_000).await.unwrap().len(),
        1024,
        "read(n) clamps to the limit"
    );
    err(
        files::read_file("/data/big.bin".into(), 1 << 20).await,
        E::Quota,
        "read-file over limit",
    );
}

/// Start more operations than the per-store cap allows: the excess fails with `quota`.
async fn quota_pending(n: usize) {
    let reads = (0..n).map(|_| files::read_file("/data/hello.txt".into(), 100));
    let results = join_all(reads).await;
    let quota = results.iter().filter(|r| **r == Err(E::Quota)).count();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    println!("ok={ok} quota={quota}");
}

/// Start a read and a write, drop the write's future while it is still queued on the
/// (gated, one-thread) pool, then finish the read. The host checks the write never ran.
async fn cancel_queued() {
    let mut read = Box::pin(files::read_file("/data/hello.txt".into(), 100));
    let mut write = Box::pin(files::write_file(
        "/data/cancelled.txt".into(),
        b"x".to_vec(),
        false,
    ));
    assert!(futures::poll!(&mut read).is_pending());
    assert!(futures::poll!(&mut write).is_pending());
    drop(write);
    assert_eq!(read.await.unwrap(), b"hello\nworld\n");
}

/// A write stream accepts a chunk while the host is still writing it (the host test holds
/// every pool job): the guest reaches its next operation before that write has run, and
/// the stream's total and the file position count both chunks once it has.
async fn write_behind() {
    let f = open("/data/behind.bin", "wb").await;
    let (mut tx, rx) = aiofs::bindings::wit_stream::new::<u8>();
    let done = f.write_via_stream(rx);
    let chunk: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    assert!(tx.write_all(chunk.clone()).await.is_empty());
    // Queued behind the held write: the host test waits to see both.
    assert_eq!(path::exists("/data/marker".into()).await, Ok(false));
    assert!(tx.write_all(chunk).await.is_empty());
    drop(tx);
    assert_eq!(done.await, Ok(200_000));
    assert_eq!(f.tell().await, Ok(200_000));
    f.close().await.unwrap();
}

/// Open files, write half a record, then trap.
async fn trap_mid_write() {
    let mut keep = Vec::new();
    for i in 0..8 {
        let f = open(&format!("/data/t{i}.bin"), "wb").await;
        f.write(vec![7; 100]).await.unwrap();
        keep.push(f);
    }
    let _dir = tempfile::temporary_directory(tempfile::TempOptions {
        dir: None,
        prefix: None,
        suffix: None,
    })
    .await
    .unwrap();
    panic!("deliberate trap with {} files open", keep.len());
}

/// `exclusive ID GO PATH...`: print `ready`, wait until GO exists (`-`: don't wait; the
/// host creates it once every racer is ready, so the races really overlap), then create
/// each PATH in `x` mode holding ID and print `PATH created`, or `PATH exist` when a
/// racer created it first, whether that shows at open or at close (on an object grant
/// the create is a conditional put).
async fn exclusive(id: &str, go: &str, paths: &[String]) {
    println!("ready");
    while go != "-" && !path::exists(go.into()).await.unwrap() {}
    for p in paths {
        let outcome = match files::open(p.clone(), "xb".into()).await {
            Err(E::Exist) => "exist",
            Err(e) => panic!("open {p} xb: {e:?}"),
            Ok(f) => {
                f.write(id.as_bytes().to_vec()).await.unwrap();
                match f.close().await {
                    Ok(()) => "created",
                    Err(E::Exist) => "exist",
                    Err(e) => panic!("close {p}: {e:?}"),
                }
            }
        };
        println!("{p} {outcome}");
    }
}

async fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).map(String::as_str).unwrap_or("");
    let num = |i: usize| {
        args.get(i)
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(16)
    };
    match name {
        "binary_io" => binary_io().await,
        "text_io" => text_io().await,
        "streams" => streams().await,
        "whole_file" => whole_file().await,
        "os_ops" => os_ops().await,
        "path_ops" => path_ops().await,
        "tempfiles" => tempfiles().await,
        "grants" => grant_list().await,
        "escapes" => escapes().await,
        "concurrent_reads" => concurrent_reads(num(2)).await,
        "quota_open_files" => quota_open_files(num(2)).await,
        "quota_pending" => quota_pending(num(2)).await,
        "trap_mid_write" => trap_mid_write().await,
        "cancel_queued" => cancel_queued().await,
        "write_behind" => write_behind().await,
        "exclusive" => {
            let arg = |i: usize| args.get(i).map_or("-", String::as_str);
            exclusive(arg(2), arg(3), &args[4.min(args.len())..]).await
        }
        other => return Err(format!("unknown scenario {other:?}")),
    }
    println!("scenario {name}: ok");
    Ok(())
}

aiofs::main!(run);
