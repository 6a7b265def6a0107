//! Checks the ergonomic layer of the `aiofs` crate against a real host: every wrapper
//! is called and its result asserted; a mismatch panics, which traps the component and
//! makes the run fail. It needs a writable grant as the first grant and works in a
//! fresh `selfcheck/` directory there, which it removes at the end.
//!
//! ```text
//! aiofs run selfcheck.wasm --dir "$(mktemp -d)::/work"
//! ```

use aiofs::os::{self, AccessMode};
use aiofs::tempfile::{self, Builder};
use aiofs::{ErrorCode, SeekFrom, path};
use futures::io::{AsyncBufReadExt, AsyncReadExt};
use futures::{StreamExt, TryStreamExt, stream};

fn expect_code<T: std::fmt::Debug>(r: aiofs::Result<T>, code: ErrorCode, what: &str) {
    match r {
        Err(e) if e.code() == code => {}
        other => panic!("{what}: expected {code:?}, got {other:?}"),
    }
}

async fn files(dir: &str) -> aiofs::Result<()> {
    let p = path::join(dir, "t.txt");
    aiofs::write_file(&p, "alpha\nbeta\r\ngamma").await?;
    assert_eq!(aiofs::read_to_string(&p).await?, "alpha\nbeta\r\ngamma");
    assert_eq!(aiofs::read_file(&p).await?.len(), 17);
    expect_code(
        aiofs::read_file_max(&p, 3).await,
        ErrorCode::FileTooLarge,
        "max",
    );
    aiofs::write_file_atomic(&p, "one\ntwo\nthree\n").await?;

    // Text mode.
    let f = aiofs::open(&p, "r+").await?;
    assert!(f.is_text() && !f.closed());
    assert_eq!(f.name(), p);
    assert_eq!(f.read_line_text().await?, "one\n");
    assert_eq!(f.read_text(2).await?, "tw");
    assert_eq!(f.tell().await?, 6);
    assert_eq!(f.read_lines_text(10).await?, ["o\n", "three\n"]);
    assert_eq!(f.read_line_text().await?, "");
    f.rewind().await?;
    assert_eq!(f.read_to_string().await?, "one\ntwo\nthree\n");
    assert_eq!(f.write_text("four\n").await?, 5);
    assert_eq!(f.write_lines_text(["five\n", "six\n"]).await?, 9);
    f.seek(SeekFrom::Start(0)).await?;
    let lines: Vec<String> = f.lines_batched(2).try_collect().await?;
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[5], "six\n");
    expect_code(f.read(1).await, ErrorCode::Invalid, "bytes on text file");
    expect_code(
        f.seek(SeekFrom::Current(-1000)).await,
        ErrorCode::Invalid,
        "seek",
    );
    f.flush().await?;
    f.sync().await?;
    f.sync_data().await?;
    assert_eq!(f.stat().await?.size, 28);
    f.close().await?;
    assert!(f.closed());
    let e = f.read_to_string().await.unwrap_err();
    assert_eq!(e, ErrorCode::BadDescriptor);
    assert_eq!(e.path(), Some(p.as_str()));

    // Binary mode.
    let b = path::join(dir, "b.bin");
    let f = aiofs::open(&b, "w+b").await?;
    assert_eq!(f.write(b"line 1\nline 2\n").await?, 14);
    assert_eq!(f.write_lines([&b"x\n"[..], b"y"]).await?, 3);
    assert_eq!(f.seek(SeekFrom::End(-1)).await?, 16);
    assert_eq!(f.read(10).await?, b"y");
    f.rewind().await?;
    assert_eq!(f.read_line().await?, b"line 1\n");
    assert_eq!(f.read_lines(1).await?, [b"line 2\n".to_vec()]);
    assert_eq!(f.read_all().await?, b"x\ny");
    f.rewind().await?;
    let lines: Vec<Vec<u8>> = f.byte_lines(1).try_collect().await?;
    assert_eq!(lines.len(), 4);
    f.rewind().await?;
    let lines: Vec<String> = f.lines().try_collect().await?;
    assert_eq!(lines, ["line 1\n", "line 2\n", "x\n", "y"]);
    assert_eq!(f.truncate(Some(7)).await?, 7);
    assert_eq!(
        f.truncate(None).await?,
        17,
        "truncate at the position (end)"
    );
    expect_code(
        f.write_text("x").await,
        ErrorCode::Invalid,
        "text on binary file",
    );
    Ok(())
}

async fn streams(dir: &str) -> aiofs::Result<()> {
    let src = path::join(dir, "big.bin");
    let data: Vec<u8> = (0..3 * 1024 * 1024 + 7).map(|i| (i % 251) as u8).collect();
    let f = aiofs::open(&src, "wb").await?;
    assert_eq!(f.write_all_stream(data.clone()).await?, data.len() as u64);
    let chunks = (0..4).map(|i| Ok(vec![i as u8; 1000]));
    assert_eq!(f.write_from(stream::iter(chunks)).await?, 4000);
    f.close().await?;

    let f = aiofs::open(&src, "rb").await?;
    let all = f.copy_to_vec().await?;
    assert_eq!(all.len(), data.len() + 4000);
    assert_eq!(&all[..data.len()], &data[..]);
    assert_eq!(f.tell().await?, all.len() as u64);

    f.rewind().await?;
    let mut n = 0;
    let mut chunks = f.chunks();
    while let Some(chunk) = chunks.try_next().await? {
        n += chunk.len();
    }
    assert_eq!(n, all.len());

    f.rewind().await?;
    let mut reader = f.reader();
    let mut head = [0u8; 5];
    reader.read_exact(&mut head).await.expect("read_exact");
    assert_eq!(head, [0, 1, 2, 3, 4]);
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).await.expect("read_to_end");
    assert_eq!(rest.len() + 5, all.len());
    drop(reader);

    // Host-to-host copy through a handed-over stream.
    f.rewind().await?;
    let dst = aiofs::open(path::join(dir, "copy.bin"), "wb").await?;
    assert_eq!(f.copy_to(&dst).await?, all.len() as u64);
    dst.close().await?;
    assert_eq!(
        path::get_size(path::join(dir, "copy.bin")).await?,
        all.len() as u64
    );

    // Text through an AsyncBufRead.
    let t = aiofs::open(path::join(dir, "lines.bin"), "w+b").await?;
    t.write("a\nb\nc\n").await?;
    t.rewind().await?;
    let lines: Vec<String> = t.reader().lines().try_collect().await.expect("lines");
    assert_eq!(lines, ["a", "b", "c"]);

    // A stream on a text file fails with `invalid`.
    let txt = aiofs::open(path::join(dir, "t.txt"), "r").await?;
    expect_code(
        txt.copy_to_vec().await,
        ErrorCode::Invalid,
        "chunks on text file",
    );
    Ok(())
}

async fn os_and_path(dir: &str) -> aiofs::Result<()> {
    let a = path::join(dir, "a");
    os::mkdir(&a).await?;
    expect_code(os::mkdir(&a).await, ErrorCode::Exist, "mkdir twice");
    os::makedirs(path::join(&a, "b/c"), false).await?;
    os::makedirs(path::join(&a, "b/c"), true).await?;
    aiofs::write_file(path::join(&a, "b/c/f.txt"), "f").await?;
    assert!(path::is_dir(&a).await? && !path::is_file(&a).await?);
    assert!(path::exists(path::join(&a, "b/c/f.txt")).await?);
    assert!(!path::exists(path::join(&a, "nope")).await?);
    assert!(os::access(&a, AccessMode::READ | AccessMode::WRITE).await?);
    assert!(os::stat(&a).await?.is_dir());
    assert_eq!(os::listdir(&a).await?, ["b"]);
    let entries = os::scandir_with_stat(path::join(&a, "b/c")).await?;
    assert_eq!(entries.len(), 1);
    assert!(entries[0].is_file() && entries[0].stat.is_some_and(|s| s.size == 1));

    let f = path::join(&a, "b/c/f.txt");
    let g = path::join(&a, "g.txt");
    assert_eq!(os::copy_file(&f, &g).await?, 1);
    os::link(&g, path::join(&a, "g-link")).await?;
    assert!(path::samefile(&g, path::join(&a, "g-link")).await?);
    assert_eq!(os::stat(&g).await?.link_count, 2);
    os::symlink("g.txt", path::join(&a, "sym")).await?;
    assert!(path::is_link(path::join(&a, "sym")).await?);
    assert!(os::lstat(path::join(&a, "sym")).await?.is_symlink());
    assert_eq!(os::readlink(path::join(&a, "sym")).await?, "g.txt");
    assert!(path::get_mtime(&g).await? > 0.0);
    assert!(path::get_atime(&g).await? > 0.0);
    assert!(path::get_ctime(&g).await? > 0.0);
    os::rename(&g, path::join(&a, "h.txt")).await?;
    os::replace(path::join(&a, "h.txt"), path::join(&a, "g-link")).await?;
    os::renames(&f, path::join(&a, "x/y/f.txt")).await?;
    assert!(!path::exists(path::join(&a, "b")).await?, "renames prunes");
    os::remove(path::join(&a, "g-link")).await?;
    os::unlink(path::join(&a, "sym")).await?;
    os::makedirs(path::join(&a, "p/q"), false).await?;
    os::rmdir(path::join(&a, "p/q")).await?;
    os::removedirs(path::join(&a, "p")).await?;

    // walk sees every directory once.
    let mut seen: Vec<String> = os::walk(dir)
        .concurrency(2)
        .map_ok(|d| d.path)
        .try_collect()
        .await?;
    seen.sort();
    assert!(seen.contains(&path::join(&a, "x/y")), "{seen:?}");
    let with_stat: Vec<_> = os::walk(&a).with_stat(true).try_collect().await?;
    assert!(
        with_stat
            .iter()
            .all(|d| d.entries.iter().all(|e| e.stat.is_some()))
    );

    os::remove_tree(&a).await?;
    assert!(!path::exists(&a).await?);

    // Errors carry context and map to io kinds.
    let e = os::rename(path::join(dir, "none"), path::join(dir, "other"))
        .await
        .unwrap_err();
    assert_eq!(e.operation(), Some("rename"));
    assert_eq!(e.other_path(), Some(path::join(dir, "other").as_str()));
    assert_eq!(std::io::Error::from(e).kind(), std::io::ErrorKind::NotFound);
    expect_code(
        aiofs::open("/etc/passwd", "r").await,
        ErrorCode::NotPermitted,
        "escape",
    );
    expect_code(
        aiofs::open("../x", "r").await,
        ErrorCode::NotPermitted,
        "dotdot",
    );
    expect_code(
        aiofs::open(path::join(dir, "t.txt"), "rz").await,
        ErrorCode::Invalid,
        "mode",
    );
    Ok(())
}

async fn temps(dir: &str) -> aiofs::Result<()> {
    let f = tempfile::temporary_file().await?;
    f.write(b"abc").await?;
    f.rewind().await?;
    assert_eq!(f.read_all().await?, b"abc");

    let named = Builder::new()
        .dir(dir)
        .prefix("pre-")
        .suffix(".txt")
        .mode("w")
        .named_tempfile()
        .await?;
    let name = named.name().to_owned();
    assert!(path::basename(&name).starts_with("pre-") && name.ends_with(".txt"));
    named.write_text("x").await?;
    named.close().await?;
    assert!(!path::exists(&name).await?, "deleted on close");

    let kept = Builder::new()
        .dir(dir)
        .delete(false)
        .named_tempfile()
        .await?;
    let kept_name = kept.name().to_owned();
    drop(kept);
    assert!(path::exists(&kept_name).await?, "kept with delete(false)");

    let t = tempfile::temporary_directory().await?;
    let tp = t.path().to_owned();
    aiofs::write_file(t.join("in.txt"), "x").await?;
    t.cleanup().await?;
    assert!(!path::exists(&tp).await?);
    let t = Builder::new().dir(dir).prefix("d-").tempdir().await?;
    assert!(t.path().contains("/d-"), "prefix honoured");
    // Dropping queues the removal on the host pool; it is not ordered before this guest's
    // next operation (the host-side `tempfiles` test checks the directory is gone).
    drop(t);
    let _ = tempfile::named_temporary_file().await?;
    Ok(())
}

async fn concurrency(dir: &str) -> aiofs::Result<()> {
    // Many operations in flight from one guest.
    let writes =
        (0..64).map(|i| aiofs::write_file(path::join(dir, format!("c{i}")), vec![b'x'; i]));
    futures::future::try_join_all(writes).await?;
    let sizes: Vec<u64> = stream::iter(0..64)
        .map(|i| path::get_size(path::join(dir, format!("c{i}"))))
        .buffered(16)
        .try_collect()
        .await?;
    assert_eq!(sizes, (0..64).collect::<Vec<u64>>());
    Ok(())
}

async fn run() -> aiofs::Result<()> {
    let grants = aiofs::grants();
    let first = grants.first().expect("a grant");
    assert!(first.is_writable(), "the first grant must be writable");
    let dir = path::join(&first.guest_path, "selfcheck");
    os::makedirs(&dir, false).await?;
    files(&dir).await?;
    streams(&dir).await?;
    os_and_path(&dir).await?;
    temps(&dir).await?;
    concurrency(&dir).await?;
    os::remove_tree(&dir).await?;
    println!("selfcheck: ok");
    Ok(())
}

aiofs::main!(run);
