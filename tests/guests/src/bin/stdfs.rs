//! A plain WASI program: only Rust `std::fs`, nothing of aiofs. Run as `stdfs NAME`
//! under the `Sandbox` fixture (`/data` read-write, `/ro` read-only). Each scenario checks
//! what the program sees (contents, error kinds) and panics on a mismatch; the host test
//! then checks the disk.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::{Duration, UNIX_EPOCH};

/// wasi-libc's errno numbers (those of WASI preview1), which `raw_os_error` returns.
mod errno {
    pub const EDQUOT: i32 = 19;
    pub const EEXIST: i32 = 20;
    pub const EFBIG: i32 = 22;
    pub const EIO: i32 = 29;
    pub const EISDIR: i32 = 31;
    pub const ENOENT: i32 = 44;
    pub const ENOTDIR: i32 = 54;
    pub const ENOTEMPTY: i32 = 55;
    pub const EPERM: i32 = 63;
    pub const EROFS: i32 = 69;
}

/// Require `r` to fail with the errno `code`.
fn expect_err<T: std::fmt::Debug>(r: std::io::Result<T>, code: i32, what: &str) {
    match r {
        Err(e) if e.raw_os_error() == Some(code) => {}
        other => panic!("{what}: expected errno {code}, got {other:?}"),
    }
}

fn names(dir: &str) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {dir}: {e}"))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    out.sort();
    out
}

fn basic() {
    assert_eq!(
        fs::read_to_string("/data/hello.txt").unwrap(),
        "hello\nworld\n"
    );
    // Relative paths resolve from the working directory `/`.
    assert_eq!(fs::read("data/sub/deep/f.txt").unwrap(), b"deep");
    let md = fs::metadata("/data/hello.txt").unwrap();
    assert!(md.is_file());
    assert_eq!(md.len(), 12);
    let mtime = md.modified().unwrap().duration_since(UNIX_EPOCH).unwrap();
    assert_eq!(mtime, Duration::from_millis(1_000_000_000_500));

    fs::create_dir_all("/data/out/a/b").unwrap();
    fs::write("/data/out/new.txt", "abc").unwrap();
    let mut f = OpenOptions::new()
        .append(true)
        .open("/data/out/new.txt")
        .unwrap();
    f.write_all(b"def").unwrap();
    drop(f);
    assert_eq!(fs::read_to_string("/data/out/new.txt").unwrap(), "abcdef");
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/data/out/new.txt")
        .unwrap();
    f.seek(SeekFrom::Start(1)).unwrap();
    f.write_all(b"X").unwrap();
    let mut rest = String::new();
    f.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "cdef");
    f.set_len(4).unwrap();
    f.sync_all().unwrap();
    assert_eq!(f.metadata().unwrap().len(), 4);
    drop(f);

    fs::rename("/data/out/new.txt", "/data/out/renamed.txt").unwrap();
    fs::hard_link("/data/out/renamed.txt", "/data/out/link.txt").unwrap();
    assert_eq!(fs::read("/data/out/link.txt").unwrap(), b"aXcd");
    fs::create_dir("/data/out/gone").unwrap();
    fs::remove_dir("/data/out/gone").unwrap();
    fs::write("/data/out/gone.txt", "x").unwrap();
    fs::remove_file("/data/out/gone.txt").unwrap();
    assert_eq!(
        names("/data/out"),
        ["a", "link.txt", "renamed.txt"],
        "listing after the changes"
    );
    assert_eq!(names("/data/sub"), ["deep"]);
    assert_eq!(
        fs::read_link("/data/escape-link").unwrap().to_str(),
        Some("../outside/canary.txt")
    );
    assert!(
        fs::symlink_metadata("/data/escape-link")
            .unwrap()
            .is_symlink()
    );
    // The read-only grant reads fine.
    assert_eq!(fs::read("/ro/ro.txt").unwrap(), b"read only\n");
    assert_eq!(names("/ro"), ["ro.txt", "rsub"]);
    // Set the times of a file and read them back.
    let when = UNIX_EPOCH + Duration::from_secs(1_234_567_890);
    let f = File::options()
        .write(true)
        .open("/data/out/renamed.txt")
        .unwrap();
    f.set_times(fs::FileTimes::new().set_modified(when))
        .unwrap();
    drop(f);
    assert_eq!(
        fs::metadata("/data/out/renamed.txt")
            .unwrap()
            .modified()
            .unwrap(),
        when
    );
}

fn errors() {
    use errno::*;
    expect_err(File::create("/ro/new.txt"), EROFS, "create in /ro");
    expect_err(fs::remove_file("/ro/ro.txt"), EROFS, "remove in /ro");
    expect_err(fs::create_dir("/ro/d"), EROFS, "mkdir in /ro");
    expect_err(
        fs::rename("/ro/ro.txt", "/data/stolen.txt"),
        EROFS,
        "rename out of /ro",
    );
    expect_err(
        OpenOptions::new().write(true).open("/ro/ro.txt"),
        EROFS,
        "open /ro for writing",
    );
    expect_err(File::open("/data/nope"), ENOENT, "missing file");
    expect_err(fs::create_dir("/data/sub"), EEXIST, "existing dir");
    expect_err(fs::remove_dir("/data/sub"), ENOTEMPTY, "rmdir non-empty");
    expect_err(File::create("/data/sub"), EISDIR, "write a directory");
    expect_err(File::open("/data/hello.txt/x"), ENOTDIR, "file as dir");
    expect_err(
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open("/data/hello.txt"),
        EEXIST,
        "create_new on an existing file",
    );
    // Escapes: symlinks out of the grant, `..` past its root, absolute links.
    for p in [
        "/data/escape-link",
        "/data/escape-dir/canary.txt",
        "/data/../outside/canary.txt",
        "/data/sub/../../outside/canary.txt",
        "/data/abs-link",
    ] {
        expect_err(fs::read(p), EPERM, p);
    }
    expect_err(
        fs::write("/data/escape-dir/new.txt", "x"),
        EPERM,
        "write through an escaping link",
    );
    // Not under any grant.
    expect_err(fs::read("/etc/passwd"), ENOENT, "/etc/passwd");
    expect_err(fs::read("/outside/canary.txt"), ENOENT, "/outside");
}

fn quota() {
    use errno::*;
    // The grant allows files of at most 8 bytes and 2 creations.
    fs::write("/data/q1.txt", "12345678").unwrap();
    // A write past the size limit fails and writes nothing. Through the preview1
    // adapter the code arrives (EFBIG, read with filesystem-error-code); wasi-libc on
    // WASI 0.2 reports every failed stream write as EIO.
    let mut f = OpenOptions::new().write(true).open("/data/q1.txt").unwrap();
    let too_big = if cfg!(target_env = "p2") { EIO } else { EFBIG };
    expect_err(f.write_all(b"123456789"), too_big, "too big");
    drop(f);
    fs::create_dir("/data/qdir").unwrap();
    expect_err(fs::write("/data/q2.txt", "x"), EDQUOT, "third creation");
    assert_eq!(fs::read("/data/q1.txt").unwrap(), b"12345678");
}

/// What the program finds at `/data/hello.txt` (with or without a WASI filesystem).
fn probe() {
    match fs::read("/data/hello.txt") {
        Ok(d) => println!("probe: read {} bytes", d.len()),
        Err(e) => println!("probe: {:?}", e.kind()),
    }
}

fn big() {
    let data: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 251) as u8).collect();
    fs::write("/data/big.out", &data).unwrap();
    assert_eq!(fs::read("/data/big.out").unwrap(), data);
    // Read in odd-sized pieces through one handle.
    let mut f = File::open("/data/big.out").unwrap();
    let mut buf = vec![0; 100_003];
    let mut total = 0;
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        assert_eq!(&buf[..n], &data[total..total + n]);
        total += n;
    }
    assert_eq!(total, data.len());
}

/// The WIT `error-code` name of a wasi-libc errno (what the host answered).
fn code_name(e: &std::io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(2) => "access",
        Some(8) => "bad-descriptor",
        Some(10) => "busy",
        Some(19) => "quota",
        Some(20) => "exist",
        Some(22) => "file-too-large",
        Some(25) => "illegal-byte-sequence",
        Some(28) => "invalid",
        Some(29) => "io",
        Some(31) => "is-directory",
        Some(32) => "loop",
        Some(37) => "name-too-long",
        Some(44) => "no-entry",
        Some(54) => "not-directory",
        Some(55) => "not-empty",
        Some(58) => "unsupported",
        Some(63) => "not-permitted",
        Some(69) => "read-only",
        Some(75) => "cross-device",
        _ => return format!("errno {:?}", e.raw_os_error()),
    };
    name.to_string()
}

/// One case `op|arg|...` of the escape table, through `std::fs`: `ok`, `=DETAIL`, or the
/// error's WIT name.
fn case(spec: &str) -> String {
    let parts: Vec<&str> = spec.split('|').collect();
    let arg = |i: usize| parts.get(i).copied().unwrap_or("");
    let done = |r: std::io::Result<()>| r.map(|()| "ok".to_string());
    let result = match parts[0] {
        "read" => fs::read(arg(1)).map(|d| format!("={}", String::from_utf8_lossy(&d))),
        "write" => done(fs::write(arg(1), arg(2))),
        "append" => OpenOptions::new()
            .append(true)
            .open(arg(1))
            .and_then(|mut f| f.write_all(arg(2).as_bytes()))
            .map(|()| "ok".to_string()),
        "create_new" => done(
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(arg(1))
                .map(drop),
        ),
        "truncate" => done(
            OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(arg(1))
                .map(drop),
        ),
        "mkdir" => done(fs::create_dir(arg(1))),
        "rmdir" => done(fs::remove_dir(arg(1))),
        "remove" => done(fs::remove_file(arg(1))),
        "rename" => done(fs::rename(arg(1), arg(2))),
        "link" => done(fs::hard_link(arg(1), arg(2))),
        "readlink" => fs::read_link(arg(1)).map(|p| format!("={}", p.display())),
        "stat" => fs::metadata(arg(1)).map(|m| format!("={}", m.len())),
        "lstat" => fs::symlink_metadata(arg(1)).map(|m| format!("=link {}", m.is_symlink())),
        "list" => fs::read_dir(arg(1)).and_then(|rd| {
            let mut names = rd
                .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect::<std::io::Result<Vec<_>>>()?;
            names.sort();
            Ok(format!("={}", names.join(",")))
        }),
        other => panic!("unknown op {other}"),
    };
    result.unwrap_or_else(|e| code_name(&e))
}

fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    if name == "cases" {
        for spec in std::env::args().skip(2) {
            println!("{}", case(&spec));
        }
        return;
    }
    match name.as_str() {
        "basic" => basic(),
        "errors" => errors(),
        "quota" => quota(),
        "big" => big(),
        "probe" => probe(),
        other => panic!("unknown scenario {other:?}"),
    }
    println!("stdfs {name}: ok");
}
