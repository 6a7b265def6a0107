//! The escape suite: a table of hostile operations run through a real guest component
//! (the `hostile` guest's case interpreter), each with the exact result it must give,
//! while canaries outside the grants are checked byte for byte before and after.
//!
//! Fixture (`Escape::new`):
//!
//! ```text
//! root/
//!   data/        /data, read-write
//!     hello.txt  "hello"            sub/deep/f.txt  "deep"
//!     out-rel -> ../outside/canary.txt     out-dir -> ../outside
//!     out-abs -> ROOT/outside/canary.txt   out-absdir -> ROOT/outside
//!     sub/up -> ..   sub/up2 -> ../..      in-link -> hello.txt
//!     loop-a -> loop-b -> loop-a           self -> self
//!     dev-zero -> /dev/zero                dev-rel -> ../../../../../../../../../dev/zero
//!     fifo (a FIFO)                        null (a character device, when mknod works)
//!     nonutf8/bad\xff   nonutf8-2/x\xfe/  nonutf8-link -> \xfe\xff
//!   other/       /other, read-write: o.txt "other"
//!   ro/          /ro, read-only: ro.txt "read only\n", rsub/
//!   data2/       not granted (a prefix twin of data): secret.txt "CANARY-data2"
//!   outside/     not granted: canary.txt "CANARY-outside", f.txt "CANARY-f"
//! ```

use aiofs_host::{AioFsCtx, Limits, Perms, Pool};
use aiofs_tests::{HOSTILE, drain, run, wait_until};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The fixture tree.
struct Escape {
    root: tempfile::TempDir,
    /// Whether `data/null` (a device node) could be made here.
    has_device: bool,
}

impl Escape {
    fn new() -> Escape {
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
        w("outside/f.txt", b"CANARY-f");
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
            (Path::new("self"), "self"),
            (Path::new("/dev/zero"), "dev-zero"),
            (Path::new("../../../../../../../../../dev/zero"), "dev-rel"),
        ];
        for (target, name) in links {
            symlink(target, d.join(name)).unwrap();
        }
        let status = std::process::Command::new("mkfifo")
            .arg(d.join("fifo"))
            .status()
            .expect("mkfifo");
        assert!(status.success());
        let has_device = make_null_device(&d.join("null"));
        let bytes = |b: &[u8]| PathBuf::from(OsStr::from_bytes(b));
        std::fs::create_dir(d.join("nonutf8")).unwrap();
        std::fs::write(d.join("nonutf8").join(bytes(b"bad\xff")), b"x").unwrap();
        std::fs::create_dir_all(d.join("nonutf8-2").join(bytes(b"x\xfe"))).unwrap();
        symlink(bytes(b"\xfe\xff"), d.join("nonutf8-link")).unwrap();
        Escape { root, has_device }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    /// /data, /ro and /other with default limits.
    fn ctx(&self) -> AioFsCtx {
        AioFsCtx::builder()
            .grant(self.path("data"), "/data", Perms::ReadWrite)
            .unwrap()
            .grant(self.path("ro"), "/ro", Perms::ReadOnly)
            .unwrap()
            .grant(self.path("other"), "/other", Perms::ReadWrite)
            .unwrap()
            .limits(Limits::default())
            .pool(Pool::new(2))
            .build()
    }

    /// Everything under `rel`: path -> content (files), target (symlinks) or `dir`.
    fn snapshot(&self, rel: &str) -> BTreeMap<PathBuf, Vec<u8>> {
        fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                let p = e.path();
                let ty = e.file_type().unwrap();
                let key = p.strip_prefix(base).unwrap().to_path_buf();
                let value = if ty.is_symlink() {
                    let mut v = b"link:".to_vec();
                    v.extend(std::fs::read_link(&p).unwrap().as_os_str().as_bytes());
                    v
                } else if ty.is_dir() {
                    walk(base, &p, out);
                    b"dir".to_vec()
                } else if ty.is_file() {
                    std::fs::read(&p).unwrap()
                } else {
                    b"special".to_vec()
                };
                out.insert(key, value);
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.path(rel), &self.path(rel), &mut out);
        out
    }

    /// The trees nothing may change: outside, the ungranted twin, the read-only grant.
    fn canaries(&self) -> Vec<BTreeMap<PathBuf, Vec<u8>>> {
        ["outside", "data2", "ro"]
            .iter()
            .map(|d| self.snapshot(d))
            .collect()
    }
}

/// `mknod data/null c 1 3` (a second `/dev/null`); false where the machine forbids it
/// (unprivileged containers), and the device cases are skipped.
fn make_null_device(path: &Path) -> bool {
    std::process::Command::new("mknod")
        .arg(path)
        .args(["c", "1", "3"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One case: an operation of the `hostile` guest, its arguments, and what it must give:
/// `"ok"` (any success), `"=DETAIL"` (success with exactly this detail), or the WIT name
/// of the error code (`not-permitted`, ...).
struct Case {
    op: &'static str,
    args: Vec<String>,
    want: String,
}

fn c(op: &'static str, args: &[&str], want: &str) -> Case {
    Case {
        op,
        args: args.iter().map(|s| s.to_string()).collect(),
        want: want.to_string(),
    }
}

/// `%XX`-escape what the guest's case syntax reserves.
fn escape(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        match ch {
            '%' | '|' | '\0' => out.push_str(&format!("%{:02X}", ch as u32)),
            ch => out.push(ch),
        }
    }
    out
}

/// Run `cases` in one guest and check every result; returns how many ran.
async fn run_cases(ctx: AioFsCtx, cases: &[Case]) -> usize {
    let encoded: Vec<String> = cases
        .iter()
        .map(|c| {
            std::iter::once(c.op.to_string())
                .chain(c.args.iter().map(|a| escape(a)))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect();
    let mut args = vec!["cases"];
    args.extend(encoded.iter().map(String::as_str));
    let out = run(HOSTILE, ctx, &args).await;
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.exit_code,
        0,
        "guest failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), cases.len(), "{stdout}");
    let mut failures = Vec::new();
    for (i, (case, line)) in cases.iter().zip(&lines).enumerate() {
        let rest = line
            .strip_prefix(&format!("{i} "))
            .unwrap_or_else(|| panic!("line {i}: {line}"));
        assert!(!rest.contains("CANARY"), "case {i} read a canary: {line}");
        let (kind, detail) = rest.split_once(' ').unwrap_or((rest, ""));
        let ok = match (kind, case.want.as_str()) {
            ("ok", "ok") => true,
            ("ok", want) if want.starts_with('=') => detail == &want[1..],
            ("err", want) => detail == want,
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "case {i}: {} {:?}: want {}, got {kind} {detail}",
                case.op,
                case.args.iter().map(|a| shorten(a)).collect::<Vec<_>>(),
                case.want
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    cases.len()
}

fn shorten(s: &str) -> String {
    if s.len() > 60 {
        format!("{}...({} bytes)", &s[..40], s.len())
    } else {
        s.to_string()
    }
}

/// The table. Cases that create something remove it again, so `/data` ends as it began
/// (except `nonutf8-2`, which one case removes).
fn table(fx: &Escape) -> Vec<Case> {
    const NP: &str = "not-permitted";
    const RO: &str = "read-only";
    let abs_canary = fx.path("outside/canary.txt").display().to_string();
    let abs_data_file = fx.path("data/hello.txt").display().to_string();
    let long_name = format!("/data/{}", "a".repeat(256));
    let max_name = format!("/data/{}", "n".repeat(255));
    let long_path = format!("/data/{}", "a/".repeat(2100));
    let long_target = "x".repeat(5000);
    let mut t = vec![
        // `..` in every position.
        c("read", &["../outside/canary.txt"], NP),
        c("read", &["/data/../outside/canary.txt"], NP),
        c("read", &["/data/sub/../../outside/canary.txt"], NP),
        c("read", &["/data/sub/deep/../../../outside/canary.txt"], NP),
        c("read", &["/data/./../outside/canary.txt"], NP),
        c("read", &["/data/sub/./../.././outside/canary.txt"], NP),
        c("read", &["/data/.."], NP),
        c("read", &["/.."], NP),
        c("read", &[".."], NP),
        c("stat", &["../"], NP),
        c("listdir", &["/data/.."], NP),
        c("listdir", &["/data/sub/../.."], NP),
        c("read", &["/data/sub/../hello.txt"], "=hello"),
        c("read", &["/data/sub/.."], "is-directory"),
        c("write", &["/data/../outside/new.txt", "x"], NP),
        c("atomic", &["/data/sub/../../outside/canary.txt", "x"], NP),
        c("append", &["/data/../outside/canary.txt", "x"], NP),
        c("mkdir", &["/data/../outside/d"], NP),
        c("makedirs", &["/data/sub/../../outside/d/e"], NP),
        c("rename", &["/data/hello.txt", "/data/../outside/moved"], NP),
        c(
            "rename",
            &["/data/../outside/canary.txt", "/data/stolen"],
            NP,
        ),
        c("remove", &["/data/../outside/canary.txt"], NP),
        c("rmdir", &["/data/../outside"], NP),
        c("rmtree", &["/data/.."], NP),
        c("rmtree", &["/data/sub/../.."], NP),
        c("copy", &["/data/../outside/canary.txt", "/data/copied"], NP),
        c("copy", &["/data/hello.txt", "/data/../outside/copied"], NP),
        // Absolute paths outside every mount.
        c("read", &["/etc/passwd"], NP),
        c("read", &["/outside/canary.txt"], NP),
        c("read", &["/"], NP),
        c("write", &["/tmp/aiofs-escape-attempt", "x"], NP),
        c("read", &[&abs_canary], NP),
        c("read", &[&abs_data_file], NP),
        c("listdir", &["/"], NP),
        // Mount prefix tricks.
        c("read", &["/data2/secret.txt"], NP),
        c("read", &["/dat/hello.txt"], NP),
        c("read", &["/datax"], NP),
        c("read", &["/data/../data2/secret.txt"], NP),
        c("read", &["/data/../data/hello.txt"], NP),
        c("read", &["/ro/../data/hello.txt"], NP),
        c("read", &["/data/../etc/passwd"], NP),
        c("read", &["//data//hello.txt"], "=hello"),
        c("read", &["/./data/hello.txt"], "=hello"),
        c("read", &["/data/"], "is-directory"),
        // Symlinks out, relative and absolute, file and directory.
        c("read", &["/data/out-rel"], NP),
        c("read", &["/data/out-dir/canary.txt"], NP),
        c("read", &["/data/out-abs"], NP),
        c("read", &["/data/out-absdir/canary.txt"], NP),
        c("openread", &["/data/out-rel"], NP),
        c("open", &["/data/out-rel", "r+b"], NP),
        c("listdir", &["/data/out-dir"], NP),
        c("scandir", &["/data/out-absdir"], NP),
        c("write", &["/data/out-rel", "x"], NP),
        c("atomic", &["/data/out-dir/new", "x"], NP),
        c("append", &["/data/out-abs", "x"], NP),
        c("truncate", &["/data/out-rel", "0"], NP),
        c("stat", &["/data/out-rel"], NP),
        c("lstat", &["/data/out-rel"], "=FileType::SymbolicLink 21"),
        c("size", &["/data/out-dir"], NP),
        c("isfile", &["/data/out-rel"], NP),
        c("exists", &["/data/out-dir/canary.txt"], NP),
        c("samefile", &["/data/out-rel", "/data/hello.txt"], NP),
        c("readlink", &["/data/out-abs"], NP),
        c("readlink", &["/data/out-rel"], "=../outside/canary.txt"),
        c("copy", &["/data/out-rel", "/data/copied"], NP),
        c("copy", &["/data/hello.txt", "/data/out-dir/copied"], NP),
        c("rename", &["/data/out-dir/canary.txt", "/data/stolen"], NP),
        c("remove", &["/data/out-dir/canary.txt"], NP),
        c("rmtree", &["/data/out-dir"], "not-directory"),
        c("mkdir", &["/data/out-dir/newdir"], NP),
        c("read", &["/data/sub/up2/outside/canary.txt"], NP),
        c("read", &["/data/sub/up/hello.txt"], "=hello"),
        c("read", &["/data/in-link"], "=hello"),
        c("tmpfile", &["/data/out-dir"], NP),
        c("tmpdir", &["/data/out-absdir"], NP),
        // A new outward link can be made (relative), but not followed.
        c("symlink", &["../outside/f.txt", "/data/newlink"], "ok"),
        c("read", &["/data/newlink"], NP),
        c("write", &["/data/newlink", "x"], NP),
        c("remove", &["/data/newlink"], "ok"),
        c("symlink", &["/data/hello.txt", "/data/abslink"], NP),
        // Symlink loops.
        c("read", &["/data/loop-a"], "loop"),
        c("read", &["/data/self"], "loop"),
        c("stat", &["/data/loop-a"], "loop"),
        c("exists", &["/data/loop-a"], "=false"),
        c("write", &["/data/loop-a", "x"], "loop"),
        c("mkdir", &["/data/loop-a/x"], "loop"),
        c("listdir", &["/data/self"], "loop"),
        // Hard links to outside files, and out of the grant.
        c("link", &["/data/../outside/canary.txt", "/data/h"], NP),
        c("link", &[&abs_canary, "/data/h"], NP),
        c("link", &["/data/out-dir/canary.txt", "/data/h"], NP),
        c("link", &["/data/hello.txt", "/data/../outside/h"], NP),
        c("link", &["/data/hello.txt", "/data/out-dir/h"], NP),
        // Linking the outward symlink links the symlink itself, which stays unusable.
        c("link", &["/data/out-rel", "/data/hl"], "ok"),
        c("read", &["/data/hl"], NP),
        c("remove", &["/data/hl"], "ok"),
        // Very long paths and names.
        c("read", &[&long_name], "name-too-long"),
        c("write", &[&long_name, "x"], "name-too-long"),
        c("read", &[&long_path], "name-too-long"),
        c("symlink", &[&long_target, "/data/l"], "name-too-long"),
        c("mkdir", &[&max_name], "ok"),
        c("rmdir", &[&max_name], "ok"),
        // NUL and control characters.
        c("read", &["/data/hello.txt\0"], "invalid"),
        c("read", &["/data/\0/../hello.txt"], "invalid"),
        c("mkdir", &["/data/a\0"], "invalid"),
        c("symlink", &["a\0b", "/data/l"], "invalid"),
        c("rename", &["/data/hello.txt", "/data/x\0"], "invalid"),
        c("open", &["/data/hello.txt", "r\0"], "invalid"),
        c("write", &["/data/ctl\x01\x1f\x7f", "c"], "ok"),
        c("read", &["/data/ctl\x01\x1f\x7f"], "=c"),
        c("remove", &["/data/ctl\x01\x1f\x7f"], "ok"),
        c("write", &["/data/new\nline", "n"], "ok"),
        c("remove", &["/data/new\nline"], "ok"),
        // Empty paths.
        c("read", &[""], "no-entry"),
        c("stat", &[""], "no-entry"),
        c("write", &["", "x"], "no-entry"),
        c("mkdir", &[""], "no-entry"),
        c("rename", &["", "/data/x"], "no-entry"),
        c("symlink", &["", "/data/l"], "no-entry"),
        // `.` games and grant roots.
        c("read", &["."], "is-directory"),
        c("read", &["/data/."], "is-directory"),
        c("read", &["/data/./hello.txt"], "=hello"),
        c("read", &["/data/sub/./deep/./f.txt"], "=deep"),
        c("read", &["/data/hello.txt/"], "not-directory"),
        c("read", &["/data/hello.txt/."], "not-directory"),
        c("rmdir", &["/data/."], "busy"),
        c("rmtree", &["/data"], "busy"),
        c("rmtree", &["."], "busy"),
        c("remove", &["/data/./."], "busy"),
        c("rename", &["/data", "/data/x"], "busy"),
        c("rename", &["/data/hello.txt", "/other"], "busy"),
        c("mkdir", &["/data/."], "exist"),
        c("write", &["/data/.", "x"], "is-directory"),
        c("atomic", &["/data/sub/", "x"], "is-directory"),
        // Non-UTF-8 names on disk.
        c("listdir", &["/data/nonutf8"], "illegal-byte-sequence"),
        c("scandir", &["/data/nonutf8"], "illegal-byte-sequence"),
        c("readlink", &["/data/nonutf8-link"], "illegal-byte-sequence"),
        c("read", &["/data/nonutf8/bad\u{fffd}"], "no-entry"),
        c("stat", &["/data/nonutf8"], "ok"),
        c("rmtree", &["/data/nonutf8-2"], "ok"),
        // Across grants with different permissions.
        c("rename", &["/data/hello.txt", "/ro/x"], RO),
        c("rename", &["/ro/ro.txt", "/data/x"], RO),
        c("replace", &["/ro/ro.txt", "/data/hello.txt"], RO),
        c("renames", &["/data/hello.txt", "/ro/a/b"], RO),
        c("link", &["/ro/ro.txt", "/data/x"], RO),
        c("link", &["/data/hello.txt", "/ro/x"], RO),
        c("copy", &["/data/hello.txt", "/ro/x"], RO),
        c("copy", &["/ro/ro.txt", "/data/from-ro"], "=10"),
        c("samefile", &["/ro/ro.txt", "/data/from-ro"], "=false"),
        c("remove", &["/data/from-ro"], "ok"),
        // Between grants: refused like a rename across mounts, nothing moves.
        c("rename", &["/other/o.txt", "/data/o-moved"], "cross-device"),
        c("read", &["/data/o-moved"], "no-entry"),
        c("read", &["/other/o.txt"], "=other"),
        c("link", &["/other/o.txt", "/data/o-link"], "cross-device"),
        c(
            "renames",
            &["/other/o.txt", "/data/a/o-moved"],
            "cross-device",
        ),
        c("symlink", &["../ro/ro.txt", "/data/to-ro"], "ok"),
        c("read", &["/data/to-ro"], NP),
        c("remove", &["/data/to-ro"], "ok"),
        c("symlink", &["../data/hello.txt", "/other/to-data"], "ok"),
        c("read", &["/other/to-data"], NP),
        c("remove", &["/other/to-data"], "ok"),
        // Every mutating operation on the read-only grant: `read-only`, before the disk
        // is touched (missing paths and impossible ones still say `read-only`).
        c("write", &["/ro/ro.txt", "x"], RO),
        c("atomic", &["/ro/new", "x"], RO),
        c("append", &["/ro/ro.txt", "x"], RO),
        c("truncate", &["/ro/ro.txt", "0"], RO),
        c("mkdir", &["/ro/d"], RO),
        c("mkdir", &["/ro/ro.txt/x"], RO),
        c("makedirs", &["/ro/a/b"], RO),
        c("rmdir", &["/ro/rsub"], RO),
        c("removedirs", &["/ro/rsub"], RO),
        c("remove", &["/ro/ro.txt"], RO),
        c("remove", &["/ro/does-not-exist"], RO),
        c("unlink", &["/ro/ro.txt"], RO),
        c("rename", &["/ro/ro.txt", "/ro/y"], RO),
        c("replace", &["/ro/ro.txt", "/ro/y"], RO),
        c("renames", &["/ro/ro.txt", "/ro/a/y"], RO),
        c("link", &["/ro/ro.txt", "/ro/l"], RO),
        c("symlink", &["ro.txt", "/ro/l"], RO),
        c("copy", &["/ro/ro.txt", "/ro/c"], RO),
        c("rmtree", &["/ro/rsub"], RO),
        c("rmtree", &["/ro"], RO),
        c("write", &["/ro/../outside/x", "x"], RO),
        c("accessw", &["/ro/ro.txt"], "=false"),
        c("read", &["/ro/ro.txt"], "=read only\\x0a"),
        // Temporary files in the read-only grant.
        c("tmpfile", &["/ro"], RO),
        c("ntmpfile", &["/ro/rsub"], RO),
        c("tmpdir", &["/ro"], RO),
        c("tmpfile", &["/data/../outside"], NP),
        // Device files and FIFOs reachable through the grant.
        c("read", &["/data/dev-zero"], NP),
        c("read", &["/data/dev-rel"], NP),
        c("open", &["/data/dev-zero", "wb"], NP),
        c("read", &["/data/fifo"], "unsupported"),
        c("openread", &["/data/fifo"], "unsupported"),
        c("open", &["/data/fifo", "wb"], "unsupported"),
        c("open", &["/data/fifo", "r+b"], "unsupported"),
        c("write", &["/data/fifo", "x"], "unsupported"),
        c("copy", &["/data/fifo", "/data/fifo-copy"], "unsupported"),
        c("copy", &["/data/hello.txt", "/data/fifo"], "unsupported"),
        c("stat", &["/data/fifo"], "=FileType::Fifo 0"),
    ];
    if fx.has_device {
        t.extend([
            c("read", &["/data/null"], "unsupported"),
            c("open", &["/data/null", "wb"], "unsupported"),
            c("write", &["/data/null", "x"], "unsupported"),
            c("stat", &["/data/null"], "=FileType::CharacterDevice 0"),
        ]);
    }
    t
}

#[tokio::test(flavor = "multi_thread")]
async fn escape_table() {
    let fx = Escape::new();
    let canaries = fx.canaries();
    let mut data_before = fx.snapshot("data");
    let ctx = fx.ctx();
    let pool = ctx.fs().pool().clone();
    let cases = table(&fx);
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let ran = run_cases(ctx, &cases).await;
    // Temporaries the guest dropped are removed on the pool.
    drain(&pool).await;
    assert_eq!(
        fx.canaries(),
        canaries,
        "something outside the grants changed"
    );
    data_before.retain(|p, _| !p.starts_with("nonutf8-2"));
    assert_eq!(fx.snapshot("data"), data_before, "/data differs");
    assert_eq!(fx.snapshot("other")[Path::new("o.txt")], b"other");
    println!("escape cases: {ran}");
}

/// With only read-only grants, no temporary object has anywhere to go.
#[tokio::test(flavor = "multi_thread")]
async fn temporaries_with_only_read_only_grants() {
    let fx = Escape::new();
    let canaries = fx.canaries();
    let ctx = AioFsCtx::builder()
        .grant(fx.path("ro"), "/ro", Perms::ReadOnly)
        .unwrap()
        .build();
    let cases = [
        c("tmpfile", &["-"], "read-only"),
        c("ntmpfile", &["-"], "read-only"),
        c("tmpdir", &["-"], "read-only"),
        c("tmpfile", &["/ro/rsub"], "read-only"),
        c("write", &["x", "x"], "read-only"),
        c("read", &["ro.txt"], "=read only\\x0a"),
        c("read", &["../outside/canary.txt"], "not-permitted"),
    ];
    run_cases(ctx, &cases).await;
    assert_eq!(fx.canaries(), canaries);
}

/// The symlink-swap race: a host thread flips `/data/swap` between a real directory and a
/// symlink to the outside directory (which holds a canary under the same file name)
/// while the guest reads, stats, lists and writes through it. Bounded rounds; every
/// successful read must see the inside file, and nothing outside may change.
#[tokio::test(flavor = "multi_thread")]
async fn symlink_swap_race() {
    const ROUNDS: usize = 3000;
    let fx = Escape::new();
    let data = fx.path("data");
    std::fs::create_dir(data.join("swap")).unwrap();
    std::fs::write(data.join("swap/f.txt"), b"inside").unwrap();
    let canaries = fx.canaries();
    let stop = Arc::new(AtomicBool::new(false));
    let flips = Arc::new(AtomicUsize::new(0));
    let flipper = std::thread::spawn({
        let (stop, flips, data) = (stop.clone(), flips.clone(), data.clone());
        move || {
            let (swap, real) = (data.join("swap"), data.join("swap-real"));
            while !stop.load(Ordering::Acquire) {
                // dir -> missing -> outward symlink -> missing -> dir
                std::fs::rename(&swap, &real).unwrap();
                symlink("../outside", &swap).unwrap();
                std::fs::remove_file(&swap).unwrap();
                std::fs::rename(&real, &swap).unwrap();
                flips.fetch_add(1, Ordering::AcqRel);
            }
        }
    });
    // Let the flipper get going before the guest starts.
    wait_until("first flips", || flips.load(Ordering::Acquire) > 10).await;
    let out = run(HOSTILE, fx.ctx(), &["race", &ROUNDS.to_string()]).await;
    stop.store(true, Ordering::Release);
    flipper.join().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.exit_code,
        0,
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fx.canaries(), canaries, "the race reached outside");
    let seen: BTreeMap<&str, usize> = stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k, v.parse().unwrap()))
        .collect();
    assert_eq!(seen.values().sum::<usize>(), ROUNDS, "{stdout}");
    // Only these outcomes are possible: success inside, or the path missing/refused.
    for key in seen.keys() {
        let ok = key.ends_with(" ok")
            || key.ends_with(" not-permitted")
            || key.ends_with(" no-entry")
            || key.ends_with(" not-directory");
        assert!(ok, "unexpected outcome {key:?}: {stdout}");
    }
    // The race was real: the guest met the directory and the outward link both.
    let met = |suffix: &str| seen.iter().any(|(k, n)| k.ends_with(suffix) && *n > 0);
    assert!(met(" ok") && met(" not-permitted"), "{stdout}");
    println!(
        "symlink swap race: {ROUNDS} rounds, {} flips, {seen:?}",
        flips.load(Ordering::Acquire)
    );
}
