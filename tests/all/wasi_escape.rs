//! The escape cases again, through a plain `std::fs` program (wasi-libc over aiofs'
//! `wasi:filesystem`): `..` in every position, symlinks out (relative, absolute, through
//! directories, loops), special files, paths outside every grant and writes into a
//! read-only grant, each with the exact error the program must see, while trees outside
//! the grants (and the read-only grant) are compared byte for byte before and after.

use aiofs_host::{AioFsCtx, Perms, Pool};
use aiofs_tests::{STDFS, STDFS_P1, run};
use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// root/{data (rw), other (rw), ro (ro)} granted; data2 (a prefix twin) and outside not.
fn fixture() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let w = |p: &str, data: &[u8]| {
        let p = r.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    };
    w("data/hello.txt", b"hello");
    w("data/sub/deep/f.txt", b"deep");
    w("other/o.txt", b"other");
    w("ro/ro.txt", b"read only\n");
    std::fs::create_dir_all(r.join("ro/rsub")).unwrap();
    w("data2/secret.txt", b"CANARY-data2");
    w("outside/canary.txt", b"CANARY-outside");
    let d = r.join("data");
    let outside = r.join("outside");
    let links: &[(&Path, &str)] = &[
        (Path::new("../outside/canary.txt"), "out-rel"),
        (Path::new("../outside"), "out-dir"),
        (&outside.join("canary.txt"), "out-abs"),
        (&outside, "out-absdir"),
        (Path::new(".."), "sub/up"),
        (Path::new("../.."), "sub/up2"),
        (Path::new("hello.txt"), "in-link"),
        (Path::new("loop-b"), "loop-a"),
        (Path::new("loop-a"), "loop-b"),
        (Path::new("/dev/zero"), "dev-zero"),
    ];
    for (target, name) in links {
        symlink(target, d.join(name)).unwrap();
    }
    let status = std::process::Command::new("mkfifo")
        .arg(d.join("fifo"))
        .status()
        .expect("mkfifo");
    assert!(status.success());
    root
}

fn ctx(root: &Path) -> AioFsCtx {
    AioFsCtx::builder()
        .grant(root.join("data"), "/data", Perms::ReadWrite)
        .unwrap()
        .grant(root.join("ro"), "/ro", Perms::ReadOnly)
        .unwrap()
        .grant(root.join("other"), "/other", Perms::ReadWrite)
        .unwrap()
        .pool(Pool::new(2))
        .build()
}

/// Everything under `dir`: path -> content, link target or `dir`.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let ty = e.file_type().unwrap();
            let value = if ty.is_symlink() {
                format!("link:{}", std::fs::read_link(&p).unwrap().display()).into_bytes()
            } else if ty.is_dir() {
                stack.push(p.clone());
                b"dir".to_vec()
            } else if ty.is_file() {
                std::fs::read(&p).unwrap()
            } else {
                b"special".to_vec()
            };
            out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), value);
        }
    }
    out
}

/// (case, what the program must see).
fn table(root: &Path) -> Vec<(String, String)> {
    const NP: &str = "not-permitted";
    const RO: &str = "read-only";
    let abs_canary = root.join("outside/canary.txt").display().to_string();
    let cases: Vec<(String, &str)> = [
        // `..` in every position.
        ("read|/data/../outside/canary.txt", NP),
        ("read|/data/sub/../../outside/canary.txt", NP),
        ("read|/data/sub/deep/../../../outside/canary.txt", NP),
        ("read|/data/./../outside/canary.txt", NP),
        ("read|/data/..", NP),
        ("list|/data/..", NP),
        ("read|/ro/../data/hello.txt", NP),
        ("read|/data/sub/../hello.txt", "=hello"),
        ("write|/data/../outside/new.txt|x", NP),
        ("mkdir|/data/../outside/d", NP),
        ("rename|/data/hello.txt|/data/../outside/moved", NP),
        ("rename|/data/../outside/canary.txt|/data/stolen", NP),
        ("remove|/data/../outside/canary.txt", NP),
        ("link|/data/../outside/canary.txt|/data/linked", NP),
        // Symlinks out of the grant: relative, absolute, through directories, loops.
        ("read|/data/out-rel", NP),
        ("read|/data/out-dir/canary.txt", NP),
        ("read|/data/out-abs", NP),
        ("read|/data/out-absdir/canary.txt", NP),
        ("read|/data/sub/up2/outside/canary.txt", NP),
        ("read|/data/dev-zero", NP),
        ("write|/data/out-rel|x", NP),
        ("write|/data/out-dir/new|x", NP),
        ("append|/data/out-abs|x", NP),
        ("truncate|/data/out-rel", NP),
        ("mkdir|/data/out-dir/x", NP),
        ("stat|/data/out-rel", NP),
        ("stat|/data/sub/up2", NP),
        ("list|/data/out-dir", NP),
        ("readlink|/data/out-abs", NP),
        ("lstat|/data/out-rel", "=link true"),
        ("readlink|/data/out-rel", "=../outside/canary.txt"),
        ("read|/data/sub/up/hello.txt", "=hello"),
        ("read|/data/in-link", "=hello"),
        ("read|/data/loop-a", "loop"),
        ("create_new|/data/in-link", "exist"),
        // Special files are never opened.
        ("read|/data/fifo", "unsupported"),
        ("write|/data/fifo|x", "unsupported"),
        // Outside every grant: wasi-libc finds no preopen.
        ("read|/data2/secret.txt", "no-entry"),
        ("read|/etc/passwd", "no-entry"),
        (&*format!("read|{abs_canary}"), "no-entry"),
        // The read-only grant.
        ("write|/ro/new|x", RO),
        ("append|/ro/ro.txt|x", RO),
        ("truncate|/ro/ro.txt", RO),
        ("mkdir|/ro/d", RO),
        ("rmdir|/ro/rsub", RO),
        ("remove|/ro/ro.txt", RO),
        ("rename|/ro/ro.txt|/data/stolen", RO),
        ("rename|/data/hello.txt|/ro/moved", RO),
        ("link|/ro/ro.txt|/data/ro-link", RO),
        ("read|/ro/ro.txt", "=read only\n"),
        // A grant's root is the preopen itself: `rmdir(".")` as POSIX answers it.
        ("rmdir|/data", "invalid"),
        ("list|/data/sub", "=deep,up,up2"),
        // Between two writable grants: grants are like mounts.
        (
            "rename|/data/sub/deep/f.txt|/other/moved.txt",
            "cross-device",
        ),
        ("link|/data/hello.txt|/other/linked.txt", "cross-device"),
        // Within one grant, between two of its directories (the only case that changes
        // anything).
        ("rename|/data/sub/deep/f.txt|/data/moved.txt", "ok"),
    ]
    .into_iter()
    .map(|(c, w)| (c.to_string(), w))
    .collect();
    cases.into_iter().map(|(c, w)| (c, w.to_string())).collect()
}

async fn escape_table(guest: &str) {
    let root = fixture();
    let r = root.path();
    let canaries = ["outside", "data2", "ro"].map(|d| snapshot(&r.join(d)));
    let data_before = snapshot(&r.join("data"));
    let table = table(r);
    let mut args = vec!["cases"];
    args.extend(table.iter().map(|(c, _)| c.as_str()));
    let out = run(guest, ctx(r), &args).await;
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.exit_code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    // A case's output may span lines (`read` of a file ending in a newline).
    let mut got = stdout.split('\n').collect::<Vec<_>>();
    got.pop();
    let mut lines = got.into_iter();
    let mut failures = Vec::new();
    for (case, want) in &table {
        let want_lines = want.split('\n').count();
        let got = (0..want_lines)
            .filter_map(|_| lines.next())
            .collect::<Vec<_>>()
            .join("\n");
        if &got != want {
            failures.push(format!("{case}: want {want:?}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    for (d, before) in ["outside", "data2", "ro"].iter().zip(canaries) {
        assert_eq!(snapshot(&r.join(d)), before, "{d} changed");
    }
    // Only the last case changed /data: f.txt moved up; /other is as it was.
    let mut expected = data_before;
    let moved = expected.remove(Path::new("sub/deep/f.txt")).unwrap();
    expected.insert(PathBuf::from("moved.txt"), moved);
    assert_eq!(snapshot(&r.join("data")), expected);
    assert_eq!(snapshot(&r.join("other")).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn escapes_through_std_fs() {
    escape_table(STDFS).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn escapes_through_std_fs_on_preview1() {
    escape_table(STDFS_P1).await;
}
