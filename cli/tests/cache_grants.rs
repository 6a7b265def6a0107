//! `aiofs run` refuses read-write grants through which the guest could write into the
//! compiled-component cache: an artifact there is loaded as native code by a later run.

use std::path::Path;
use std::process::{Command, Output};

/// A valid component that is not a command: compiled (and cached) before being refused.
const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

fn aiofs(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aiofs"))
        .args(args)
        .env("AIOFS_CACHE_DIR", cache)
        .env_remove("RUST_LOG")
        .output()
        .expect("spawn the aiofs binary")
}

fn component(dir: &Path) -> String {
    let path = dir.join("empty.wasm");
    std::fs::write(&path, EMPTY_COMPONENT).unwrap();
    path.to_str().unwrap().to_string()
}

#[track_caller]
fn assert_refused(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("aiofs: error: the read-write grant")
            && stderr.contains("compiled-component cache")
            && stderr.contains("AIOFS_CACHE_DIR"),
        "{stderr}"
    );
}

#[track_caller]
fn assert_ran(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("exports no wasi:cli/run"), "{stderr}");
}

#[test]
fn a_writable_grant_containing_the_cache_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = component(tmp.path());
    let grant = tmp.path().join("home");
    std::fs::create_dir(&grant).unwrap();
    let dir = grant.to_str().unwrap();
    let ro = format!("{dir}::/home:ro");
    // Not there yet, there already, the grant itself, and with --no-cache (an artifact
    // planted now would be loaded by the next run that caches).
    let cache = grant.join(".cache").join("aiofs");
    assert_refused(&aiofs(&cache, &["run", &wasm, "--dir", dir]));
    assert!(!grant.join(".cache").exists(), "nothing written");
    std::fs::create_dir_all(&cache).unwrap();
    assert_refused(&aiofs(&cache, &["run", &wasm, "--dir", dir]));
    assert_refused(&aiofs(&grant, &["run", &wasm, "--dir", dir]));
    assert_refused(&aiofs(&cache, &["run", &wasm, "--no-cache", "--dir", dir]));
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0);
    // A grant named through `..` is the same directory.
    let sub = format!("{dir}/sub/..::/home");
    std::fs::create_dir(grant.join("sub")).unwrap();
    assert_refused(&aiofs(&cache, &["run", &wasm, "--dir", &sub]));

    // Read-only, the same grant is fine (reading artifacts gives the guest nothing new).
    assert_ran(&aiofs(&cache, &["run", &wasm, "--dir", &ro]));
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
}

#[test]
fn a_writable_grant_holding_a_symlink_on_the_cache_path_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = component(tmp.path());
    let grant = tmp.path().join("work");
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir(&grant).unwrap();
    std::fs::create_dir(&elsewhere).unwrap();
    // The cache itself is outside the grant, but the guest could repoint the link.
    std::os::unix::fs::symlink(&elsewhere, grant.join("link")).unwrap();
    let cache = grant.join("link").join("cache");
    let dir = grant.to_str().unwrap();
    assert_refused(&aiofs(&cache, &["run", &wasm, "--dir", dir]));
    assert!(!elsewhere.join("cache").exists());
    // And a grant that is itself a symlink to a directory on the cache's path.
    let cache = elsewhere.join("cache");
    let alias = tmp.path().join("alias");
    std::os::unix::fs::symlink(&elsewhere, &alias).unwrap();
    assert_refused(&aiofs(
        &cache,
        &["run", &wasm, "--dir", alias.to_str().unwrap()],
    ));
}

#[test]
fn grants_beside_or_beneath_the_cache_are_fine() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = component(tmp.path());
    let cache = tmp.path().join("cache");
    let beside = tmp.path().join("cachex");
    let beneath = cache.join("scratch");
    std::fs::create_dir(&beside).unwrap();
    std::fs::create_dir_all(&beneath).unwrap();
    let args = [
        "run",
        &wasm,
        "--dir",
        beside.to_str().unwrap(),
        "--dir",
        beneath.to_str().unwrap(),
    ];
    assert_ran(&aiofs(&cache, &args));
}

/// A `wasi:cli/run@0.2.0` command whose `run` returns `ok`.
fn command() -> Vec<u8> {
    wat::parse_str(
        r#"(component
            (core module $m (func (export "run") (result i32) i32.const 0))
            (core instance $i (instantiate $m))
            (func $run (result (result)) (canon lift (core func $i "run")))
            (instance $cli (export "run" (func $run)))
            (export "wasi:cli/run@0.2.0" (instance $cli)))"#,
    )
    .expect("valid component text")
}

/// An embedder's `Runner` with a cache refuses, before the guest runs, a store whose
/// read-write grant reaches the cache (the grant itself, a directory holding it, or one
/// beneath which it lies through a symlink); a read-only grant of it and a read-write
/// grant beside it run.
#[test]
fn a_runner_refuses_a_store_whose_writable_grant_reaches_its_cache() {
    use aiofs_cli::{CacheDirGranted, RunIo, Runner, RunnerOptions};
    use aiofs_host::{AioFsCtx, Perms};
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let beside = tmp.path().join("beside");
    let cache = home.join(".cache").join("aiofs");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::create_dir(&beside).unwrap();
    std::os::unix::fs::symlink(&home, tmp.path().join("link")).unwrap();
    let runner = Runner::new(RunnerOptions {
        cache_dir: Some(cache.clone()),
        ..RunnerOptions::default()
    })
    .unwrap();
    let component = runner.load_bytes(&command(), "command.wasm").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let run = |host: &Path, perms: Perms| {
        let ctx = AioFsCtx::builder()
            .grant(host, "/g", perms)
            .unwrap()
            .build();
        let io = RunIo {
            capture_output: true,
            ..RunIo::default()
        };
        rt.block_on(runner.run(&component, ctx, io))
    };
    for host in [cache.clone(), home.clone(), tmp.path().join("link")] {
        let err = run(&host, Perms::ReadWrite).unwrap_err();
        assert!(
            err.downcast_ref::<CacheDirGranted>().is_some(),
            "{host:?}: {err:?}"
        );
        assert!(
            std::fs::read_dir(&cache).unwrap().all(|e| {
                let name = e.unwrap().file_name();
                name.to_string_lossy().ends_with(".cwasm")
            }),
            "nothing but the runner's own entries"
        );
    }
    for (host, perms) in [(&home, Perms::ReadOnly), (&beside, Perms::ReadWrite)] {
        assert_eq!(run(host, perms).unwrap().exit_code, 0, "{host:?}");
    }
}
