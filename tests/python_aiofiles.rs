//! The `aiofiles` package for Python guests (guest/python/aiofiles), run against real
//! grants: the package's checks (guest/python/aiofiles_checks.py: CPython's exceptions
//! for every error code, write buffering, text decoding and newlines, the os and
//! tempfile functions, asyncio timers) and the example guest
//! (guest/python/examples/inventory.py). Each test checks what the guest saw (the guest
//! asserts and prints `check NAME: ok`) and then the disk.
//!
//! With `AIOFS_POLYGLOT=skip` the guests were not built and these tests only say so.

use aiofs_host::{AioFsCtx, Limits, Pool};
use aiofs_tests::{PYTHON_AIOFILES_CHECKS, PYTHON_AIOFILES_EXAMPLE, Sandbox, drain, run};

/// Run `guest` with `args`, require exit 0 and the `done` line; `None` if not built.
async fn run_ok(guest: &str, ctx: AioFsCtx, args: &[&str], done: &str) -> Option<String> {
    if guest.is_empty() {
        eprintln!("skipped: polyglot guests not built (AIOFS_POLYGLOT=skip)");
        return None;
    }
    let out = run(guest, ctx, args).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.exit_code, 0,
        "{args:?} failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(
        stdout.lines().any(|l| l == done),
        "{args:?} did not finish\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    Some(stdout)
}

async fn check(ctx: AioFsCtx, name: &str) -> bool {
    let done = format!("check {name}: ok");
    run_ok(PYTHON_AIOFILES_CHECKS, ctx, &[name], &done)
        .await
        .is_some()
}

/// FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
/// PermissionError for escapes, EROFS for the read-only grant, with errno, strerror,
/// filename and CPython's message; ValueError on a closed file and for bad modes.
#[tokio::test(flavor = "multi_thread")]
async fn errors_are_cpython_exceptions() {
    let sb = Sandbox::new();
    let before = sb.tree("data");
    if check(sb.ctx(), "errors").await {
        assert_eq!(sb.tree("data"), before);
        sb.assert_untouched();
    }
}

/// A `quota` from the host (here: open handles) is `OSError(errno.EDQUOT)`.
#[tokio::test(flavor = "multi_thread")]
async fn quota_is_edquot() {
    let sb = Sandbox::new();
    let limits = Limits {
        max_open_files: 2,
        ..Limits::default()
    };
    if check(sb.ctx_with(limits, Pool::new(2)), "quota").await {
        sb.assert_untouched();
    }
}

/// Buffered writes reach the host on flush/close/buffer full (the guest reads the file
/// back through aiofs in between), unbuffered ones at once, line buffering per line.
#[tokio::test(flavor = "multi_thread")]
async fn write_buffering() {
    let sb = Sandbox::new();
    if check(sb.ctx(), "buffering").await {
        assert_eq!(sb.read("data/buf.bin"), b"01");
        assert_eq!(sb.read("data/raw.bin"), b"now");
        assert_eq!(sb.read("data/lines-out.txt"), b"ab\nc");
        assert_eq!(sb.read("data/big-out.bin"), vec![b'x'; 1 << 20]);
        sb.assert_untouched();
    }
}

/// Text mode: universal newlines and `newlines`, `newline=''`/`'\r\n'`, encodings,
/// `errors=`, `tell` in bytes, writing after reading.
#[tokio::test(flavor = "multi_thread")]
async fn text_mode() {
    let sb = Sandbox::new();
    if check(sb.ctx(), "text").await {
        assert_eq!(sb.read("data/crlf.txt"), b"a\r\nb\r\n");
        assert_eq!(sb.read("data/mixed.txt"), b"first\n2nd\nnd\n");
        sb.assert_untouched();
    }
}

/// aiofiles.os and aiofiles.os.path: stat, scandir, rename/replace/renames, link,
/// symlink (an absolute target is stored relative), removedirs, access, ismount, wrap.
#[tokio::test(flavor = "multi_thread")]
async fn os_functions() {
    let sb = Sandbox::new();
    if check(sb.ctx(), "os").await {
        assert_eq!(sb.tree("data/tree"), ["x", "x/y", "x/y/h.txt"]);
        assert_eq!(sb.read("data/tree/x/y/h.txt"), b"f");
        sb.assert_untouched();
    }
}

/// TemporaryFile, NamedTemporaryFile (delete on close, or at the end of `async with`),
/// TemporaryDirectory, SpooledTemporaryFile rolling over into the grant; nothing left.
#[tokio::test(flavor = "multi_thread")]
async fn tempfiles() {
    let sb = Sandbox::new();
    let before = sb.tree("data");
    let ctx = sb.ctx();
    let pool = ctx.fs().pool().clone();
    if check(ctx, "tempfile").await {
        // Removals of dropped temporaries were queued when the store was dropped.
        drain(&pool).await;
        assert_eq!(sb.tree("data"), before);
        sb.assert_untouched();
    }
}

/// asyncio.sleep, wait_for, asyncio.timeout and TaskGroup in a guest (timers from
/// wasi:clocks); the checks assert ordering, not durations.
#[tokio::test(flavor = "multi_thread")]
async fn asyncio_timers() {
    let sb = Sandbox::new();
    if check(sb.ctx(), "timers").await {
        sb.assert_untouched();
    }
}

/// The example guest: JSON config, CSV line by line, log appends, makedirs, a report
/// renamed into place, the input removed, an escape refused and logged.
#[tokio::test(flavor = "multi_thread")]
async fn example_guest() {
    let sb = Sandbox::new();
    let w = |p: &str, data: &str| {
        let p = sb.path(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    };
    w(
        "data/config.json",
        r#"{"shop": "north", "sales": "/data/sales.csv", "remove_input": true}"#,
    );
    let mut csv = String::from("item,qty,price\r\n");
    for i in 0..1000 {
        csv.push_str(&format!(
            "{},{},{}\r\n",
            ["apple", "pear", "fig"][i % 3],
            i % 5,
            2
        ));
    }
    w("data/sales.csv", &csv);
    w("data/notes/a.txt", "first note\n");
    w("data/notes/b.txt", "second note\n");
    w("data/notes/skip.md", "not a note");
    let Some(stdout) = run_ok(
        PYTHON_AIOFILES_EXAMPLE,
        sb.ctx(),
        &[],
        "report: 1000 rows, 3 items, 2 notes",
    )
    .await
    else {
        return;
    };
    assert!(stdout.ends_with("report: 1000 rows, 3 items, 2 notes\n"));
    // Totals: qty = i % 5, price 2, item by i % 3.
    let mut totals = [0u64; 3];
    for i in 0..1000u64 {
        totals[(i % 3) as usize] += (i % 5) * 2;
    }
    let report = String::from_utf8(sb.read("data/out/report.json")).unwrap();
    let expected = format!(
        "{{\n \"notes\": [\n  \"first note\",\n  \"second note\"\n ],\n \"rows\": 1000,\n \
         \"shop\": \"north\",\n \"totals\": {{\n  \"apple\": {},\n  \"fig\": {},\n  \
         \"pear\": {}\n }}\n}}",
        totals[0], totals[2], totals[1]
    );
    assert_eq!(report, expected);
    assert_eq!(
        String::from_utf8(sb.read("data/logs/app.log")).unwrap(),
        "start: shop north\nread 1000 rows\nrefused: /data/../etc/passwd\ndone: 3 items\n"
    );
    assert!(!sb.exists("data/sales.csv"), "input not removed");
    assert!(!sb.exists("data/out/report.json.tmp"));
    sb.assert_untouched();
}
