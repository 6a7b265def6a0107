//! Plain WASI programs (Rust `std::fs` on wasm32-wasip2) under aiofs' `wasi:filesystem`:
//! the grants are their preopens, with the same permissions, escapes refused, quotas and
//! budgets as `aiofs:fs`. Each test checks the disk after the run.

use aiofs_cli::{RunIo, Runner, RunnerOptions, WasiFilesystem};
use aiofs_host::{AioFsCtx, GrantQuota, Perms, Pool};
use aiofs_tests::{C_STDIO, MIXED, P3FS, STDFS, STDFS_P1, Sandbox, run};

/// Run a scenario of the `stdfs` guest and require success.
async fn stdfs(ctx: AioFsCtx, name: &str) {
    stdfs_in(STDFS, ctx, name).await;
}

/// Run a scenario of one build of the `stdfs` guest (component or preview1 module).
async fn stdfs_in(guest: &str, ctx: AioFsCtx, name: &str) {
    let out = run(guest, ctx, &[name]).await;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert_eq!(
        out.exit_code,
        0,
        "stdfs {name} failed\n--- stdout\n{}\n--- stderr\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), format!("stdfs {name}: ok\n"));
}

/// Run a scenario of the plain C stdio program and require success; `false` when the
/// polyglot guests were not built (`AIOFS_POLYGLOT=skip`).
async fn c_stdio(ctx: AioFsCtx, name: &str) -> bool {
    if C_STDIO.is_empty() {
        eprintln!("skipped: polyglot guests not built (AIOFS_POLYGLOT=skip)");
        return false;
    }
    let out = run(C_STDIO, ctx, &[name]).await;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert_eq!(
        (out.exit_code, text(&out.stdout)),
        (0, format!("stdio {name}: ok\n")),
        "stderr:\n{}",
        text(&out.stderr)
    );
    true
}

/// The standard grants, `/data` with `quota`.
fn ctx_with_quota(sb: &Sandbox, quota: GrantQuota) -> AioFsCtx {
    AioFsCtx::builder()
        .grant_with_quota(sb.path("data"), "/data", Perms::ReadWrite, quota)
        .unwrap()
        .grant(sb.path("ro"), "/ro", Perms::ReadOnly)
        .unwrap()
        .pool(Pool::new(4))
        .build()
}

#[tokio::test(flavor = "multi_thread")]
async fn std_fs_reads_writes_and_lists() {
    let sb = Sandbox::new();
    stdfs(sb.ctx(), "basic").await;
    assert_eq!(sb.read("data/out/renamed.txt"), b"aXcd");
    assert_eq!(sb.read("data/out/link.txt"), b"aXcd");
    assert!(sb.path("data/out/a/b").is_dir());
    assert_eq!(sb.tree("data/out"), ["a", "a/b", "link.txt", "renamed.txt"]);
    let mtime = std::fs::metadata(sb.path("data/out/renamed.txt"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        mtime,
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_234_567_890)
    );
    assert_eq!(sb.read("data/hello.txt"), b"hello\nworld\n");
    sb.assert_untouched();
}

#[tokio::test(flavor = "multi_thread")]
async fn std_fs_errors_read_only_and_escapes() {
    let sb = Sandbox::new();
    let before = sb.tree("data");
    stdfs(sb.ctx(), "errors").await;
    assert_eq!(sb.tree("data"), before, "a failed call changed /data");
    sb.assert_untouched();
}

#[tokio::test(flavor = "multi_thread")]
async fn std_fs_under_grant_quotas() {
    let sb = Sandbox::new();
    let ctx = ctx_with_quota(
        &sb,
        GrantQuota {
            max_file_size: Some(8),
            max_created: Some(2),
            ..GrantQuota::UNLIMITED
        },
    );
    let fs = ctx.fs().clone();
    stdfs(ctx, "quota").await;
    assert_eq!(sb.read("data/q1.txt"), b"12345678");
    assert!(sb.path("data/qdir").is_dir());
    assert!(!sb.exists("data/q2.txt"));
    assert_eq!(fs.grant_usage()[0].created, 2);
    sb.assert_untouched();
}

#[tokio::test(flavor = "multi_thread")]
async fn std_fs_large_file_through_streams_is_budgeted() {
    let sb = Sandbox::new();
    let ctx = ctx_with_quota(
        &sb,
        GrantQuota {
            max_bytes_written: Some(3 << 20),
            ..GrantQuota::UNLIMITED
        },
    );
    let fs = ctx.fs().clone();
    stdfs(ctx, "big").await;
    let data = sb.read("data/big.out");
    assert_eq!(data.len(), 3 << 20);
    assert!(data.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
    let usage = &fs.grant_usage()[0];
    // Every byte written went through the grant's budget, and nothing more.
    assert_eq!(usage.bytes_written, 3 << 20);
    // Read twice (whole, then in pieces); read-ahead may add at most a chunk per pass.
    assert!(usage.bytes_read >= 6 << 20, "read {}", usage.bytes_read);
    assert_eq!(fs.open_files(), 0, "descriptors left open");
}

#[tokio::test(flavor = "multi_thread")]
async fn std_fs_and_aiofs_see_one_filesystem() {
    let sb = Sandbox::new();
    let ctx = ctx_with_quota(&sb, GrantQuota::UNLIMITED);
    let fs = ctx.fs().clone();
    let out = run(MIXED, ctx, &[]).await;
    assert_eq!(out.exit_code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sb.read("data/from-std.txt"), b"written by std::fs");
    assert_eq!(sb.read("data/from-aiofs.txt"), b"written by aiofs");
    assert_eq!(sb.read("data/both/x"), b"x");
    // Both surfaces paid into the same budget counters.
    assert_eq!(fs.grant_usage()[0].bytes_written, 18 + 16 + 1);
    sb.assert_untouched();
}

#[tokio::test(flavor = "multi_thread")]
async fn wasi_filesystem_can_be_turned_off() {
    let sb = Sandbox::new();
    let probe = async |runner: &Runner| {
        let component = runner.load(STDFS.as_ref()).unwrap();
        let io = RunIo {
            args: vec!["stdfs".into(), "probe".into()],
            env: Vec::new(),
            capture_output: true,
        };
        let out = runner.run(&component, sb.ctx(), io).await.unwrap();
        assert_eq!(out.exit_code, 0);
        String::from_utf8(out.stdout).unwrap()
    };
    let off = Runner::new(RunnerOptions {
        cache_dir: None,
        wasi_filesystem: WasiFilesystem::Off,
        ..RunnerOptions::default()
    })
    .unwrap();
    assert_eq!(probe(&off).await, "probe: NotFound\nstdfs probe: ok\n");
    let on = Runner::new(RunnerOptions::default()).unwrap();
    assert_eq!(probe(&on).await, "probe: read 12 bytes\nstdfs probe: ok\n");
}

/// The same program built for WASI preview1 (a core module): `aiofs run` adapts it with
/// wasmtime's preview1 adapter, and its calls reach the same grants through it.
#[tokio::test(flavor = "multi_thread")]
async fn preview1_module_runs_through_the_adapter() {
    let sb = Sandbox::new();
    stdfs_in(STDFS_P1, sb.ctx(), "basic").await;
    assert_eq!(sb.read("data/out/renamed.txt"), b"aXcd");
    assert_eq!(sb.tree("data/out"), ["a", "a/b", "link.txt", "renamed.txt"]);
    let before = sb.tree("data");
    stdfs_in(STDFS_P1, sb.ctx(), "errors").await;
    assert_eq!(sb.tree("data"), before);
    stdfs_in(STDFS_P1, sb.ctx(), "big").await;
    assert_eq!(sb.read("data/big.out").len(), 3 << 20);
    sb.assert_untouched();
}

#[tokio::test(flavor = "multi_thread")]
async fn preview1_module_under_grant_quotas() {
    let sb = Sandbox::new();
    let quota = GrantQuota {
        max_file_size: Some(8),
        max_created: Some(2),
        ..GrantQuota::UNLIMITED
    };
    stdfs_in(STDFS_P1, ctx_with_quota(&sb, quota), "quota").await;
    assert_eq!(sb.read("data/q1.txt"), b"12345678");
    assert!(!sb.exists("data/q2.txt"));
}

/// A WASI 0.3 program on `wasi:filesystem@0.3`: stream reads and writes (3 MiB in
/// several chunks), append, stat, listing, rename, unlink, and the refusals, under a
/// write budget that counts every byte.
#[tokio::test(flavor = "multi_thread")]
async fn wasi_p3_filesystem() {
    let sb = Sandbox::new();
    let ctx = ctx_with_quota(
        &sb,
        GrantQuota {
            max_bytes_written: Some((3 << 20) + 8),
            ..GrantQuota::UNLIMITED
        },
    );
    let fs = ctx.fs().clone();
    let out = run(P3FS, ctx, &[]).await;
    assert_eq!(
        (
            out.exit_code,
            String::from_utf8_lossy(&out.stdout).into_owned()
        ),
        (0, "p3fs: ok\n".to_string()),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let big = sb.read("data/p3/big.bin");
    assert_eq!(big.len(), 3 << 20);
    assert!(big.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
    assert_eq!(sb.tree("data/p3"), ["big.bin"]);
    assert_eq!(fs.grant_usage()[0].bytes_written, (3 << 20) + 8);
    assert_eq!(fs.open_files(), 0, "descriptors left open");
    // WASI 0.3 operations are counted like the others: under the grant, as the same kinds.
    let stats = fs.stats();
    let data = stats.grant("/data").unwrap();
    assert_eq!(data.bytes_written, (3 << 20) + 8);
    assert!(data.op(aiofs_host::OpKind::Open).0 >= 1, "{data:?}");
    assert!(data.op(aiofs_host::OpKind::Write).0 >= 1, "{data:?}");
    assert_eq!(stats.pending_ops, 0);
    sb.assert_untouched();
}

/// A C program on wasi-libc (fopen/fprintf/fwrite/fread/fseek, append, mkdir, stat,
/// readdir, rename, remove, symlink) under a grant with quotas it stays within: its bytes
/// land on disk as written, every byte is counted, read-only and escapes are refused, and
/// no descriptor stays open.
#[tokio::test(flavor = "multi_thread")]
async fn c_stdio_program() {
    let sb = Sandbox::new();
    let ctx = ctx_with_quota(
        &sb,
        GrantQuota {
            max_file_size: Some(1 << 20),
            max_created: Some(16),
            max_bytes_written: Some(1 << 20),
            ..GrantQuota::UNLIMITED
        },
    );
    let fs = ctx.fs().clone();
    if !c_stdio(ctx, "basic").await {
        return;
    }
    let mut notes = b"line 1\npiPI03.1\na\0b\n".to_vec();
    notes.extend_from_slice(b"tail\n");
    assert_eq!(sb.read("data/c/notes.txt"), notes);
    let big = sb.read("data/c/sub/moved.bin");
    assert_eq!(big.len(), 100_000);
    assert!(big.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
    assert_eq!(
        std::fs::read_link(sb.path("data/c/link")).unwrap(),
        std::path::Path::new("notes.txt")
    );
    assert_eq!(
        sb.tree("data/c"),
        ["link", "notes.txt", "sub", "sub/moved.bin"]
    );
    assert!(!sb.exists("ro/new.txt") && !sb.exists("ro/d"));
    let usage = &fs.grant_usage()[0];
    // Created: two directories, notes, big, gone.txt, the link.
    assert_eq!(usage.created, 6);
    // notes.txt (20 + "PI" rewritten + "tail\n") and big.bin, nothing else.
    assert_eq!(usage.bytes_written, 20 + 2 + 5 + 100_000);
    assert_eq!(fs.open_files(), 0, "descriptors left open");
    sb.assert_untouched();
}

/// The same C program against a file-size limit (its ninth byte fails with EFBIG when
/// stdio flushes it) and a creation budget (the third creation fails with EDQUOT).
#[tokio::test(flavor = "multi_thread")]
async fn c_stdio_under_grant_quotas() {
    let sb = Sandbox::new();
    let ctx = ctx_with_quota(
        &sb,
        GrantQuota {
            max_file_size: Some(8),
            max_created: Some(2),
            ..GrantQuota::UNLIMITED
        },
    );
    let fs = ctx.fs().clone();
    if !c_stdio(ctx, "quota").await {
        return;
    }
    assert_eq!(sb.read("data/q1.txt"), b"12345678");
    assert!(sb.path("data/qdir").is_dir());
    assert!(!sb.exists("data/q2.txt"));
    assert_eq!(fs.grant_usage()[0].created, 2);
    assert_eq!(fs.open_files(), 0, "descriptors left open");
    sb.assert_untouched();
}
