//! The `aiofs` binary's failure modes: each prints exactly one `aiofs: error:` line on
//! stderr, nothing on stdout, and exits 2 (usage) or 1 (everything else).

use std::path::Path;
mod common;

use common::aiofs;
use std::process::{Command, Output};

/// A core module: magic, version 1, layer 0, and nothing else.
const CORE_MODULE: &[u8] = b"\0asm\x01\0\0\0";

/// Asserts the whole stderr is one `aiofs: error:` line containing every `needle`, and
/// returns that line.
#[track_caller]
fn assert_one_error_line(out: &Output, code: i32, needles: &[&str]) -> String {
    let stderr = String::from_utf8(out.stderr.clone()).expect("utf-8 stderr");
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "stdout: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {stderr:?}");
    assert!(stderr.ends_with('\n'));
    let line = lines[0];
    assert!(line.starts_with("aiofs: error: "), "{line}");
    for needle in needles {
        assert!(line.contains(needle), "{line:?} lacks {needle:?}");
    }
    line.to_string()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn missing_component_file() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope.wasm");
    let missing = missing.to_str().unwrap();
    let out = aiofs(&["run", missing]);
    assert_one_error_line(&out, 1, &["cannot read", missing]);
}

#[test]
fn component_path_is_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let out = aiofs(&["run", dir]);
    assert_one_error_line(&out, 1, &["cannot read", dir]);
}

#[test]
fn core_module_is_not_a_component() {
    let tmp = tempfile::tempdir().unwrap();
    let path = write(tmp.path(), "core.wasm", CORE_MODULE);
    let out = aiofs(&["run", &path]);
    assert_one_error_line(
        &out,
        1,
        &[&path, "is a core WebAssembly module, not a component"],
    );
}

#[test]
fn garbage_is_not_a_component() {
    let tmp = tempfile::tempdir().unwrap();
    let path = write(tmp.path(), "junk.wasm", b"#!/bin/sh\necho not wasm\n");
    let out = aiofs(&["run", &path]);
    assert_one_error_line(&out, 1, &[&path, "is not a WebAssembly component"]);
}

#[test]
fn empty_file_is_not_a_component() {
    let tmp = tempfile::tempdir().unwrap();
    let path = write(tmp.path(), "empty.wasm", b"");
    let out = aiofs(&["run", &path]);
    assert_one_error_line(&out, 1, &[&path, "is empty"]);
}

#[test]
fn truncated_component_fails_to_compile_in_one_line() {
    // A component header followed by a section whose declared size runs past the end.
    let tmp = tempfile::tempdir().unwrap();
    let path = write(tmp.path(), "cut.wasm", b"\0asm\x0d\0\x01\0\x01\x7f");
    let out = aiofs(&["run", "--no-cache", &path]);
    assert_one_error_line(&out, 1, &["invalid component", &path]);
}

#[test]
fn missing_grant_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let component = write(tmp.path(), "core.wasm", CORE_MODULE);
    let missing = tmp.path().join("no-such-dir");
    let spec = format!("{}::/data", missing.display());
    let out = aiofs(&["run", &component, "--dir", &spec]);
    assert_one_error_line(
        &out,
        1,
        &[
            "cannot grant directory",
            missing.to_str().unwrap(),
            "No such file",
        ],
    );
}

#[test]
fn grant_that_is_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let component = write(tmp.path(), "core.wasm", CORE_MODULE);
    let file = write(tmp.path(), "plain.txt", b"x");
    let out = aiofs(&["run", &component, "--dir", &format!("{file}::/f:ro")]);
    assert_one_error_line(&out, 1, &["cannot grant directory", &file]);
}

#[test]
fn bad_dir_specs_are_usage_errors() {
    for spec in ["::/data", "/tmp::", "/tmp::/a:rx", "/tmp::/a/../b"] {
        let out = aiofs(&["run", "whatever.wasm", "--dir", spec]);
        let line = assert_one_error_line(&out, 2, &["bad --dir"]);
        assert!(line.contains(&format!("{spec:?}")), "{line}");
    }
}

#[test]
fn bad_env_is_a_usage_error() {
    let out = aiofs(&["run", "whatever.wasm", "--env", "=v"]);
    assert_one_error_line(&out, 2, &["bad --env", "empty variable name"]);
    let out = aiofs(&[
        "run",
        "whatever.wasm",
        "--env",
        "AIOFS_SURELY_UNSET_VARIABLE_42",
    ]);
    assert_one_error_line(&out, 2, &["bad --env", "AIOFS_SURELY_UNSET_VARIABLE_42"]);
}

#[test]
fn command_line_mistakes_are_one_line_usage_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["run", "x.wasm", "--frobnicate"], "--frobnicate"),
        (&["run"], "COMPONENT"),
        (&["run", "x.wasm", "--threads", "0"], "--threads"),
        (&["run", "x.wasm", "--threads", "many"], "--threads"),
        (
            &["run", "x.wasm", "--max-open-files", "0"],
            "--max-open-files",
        ),
        (&["walk", "x.wasm"], "walk"),
    ];
    for (args, needle) in cases {
        let out = aiofs(args);
        assert_one_error_line(&out, 2, &[needle, "--help"]);
    }
}

#[test]
fn help_and_version_succeed() {
    let out = aiofs(&["run", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--dir",
        "--threads",
        "--env",
        "--no-cache",
        "--max-open-files",
        "--max-pending-ops",
        "--max-read-bytes",
    ] {
        assert!(help.contains(flag), "help lacks {flag}: {help}");
    }
    let out = aiofs(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8(out.stdout).unwrap().starts_with("aiofs "));
}

/// A valid component that is not a command: compiled (and cached), then refused in one
/// line. The second run reuses the cached artifact instead of compiling again.
#[test]
fn component_without_run_export_is_refused_and_cached() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let component = write(tmp.path(), "empty.wasm", b"\0asm\x0d\0\x01\0");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_aiofs"))
            .args(["run", &component])
            .env("AIOFS_CACHE_DIR", &cache)
            .env_remove("RUST_LOG")
            .output()
            .expect("spawn the aiofs binary")
    };
    let artifact = || {
        let entries: Vec<_> = std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(entries[0].extension().unwrap(), "cwasm");
        std::fs::metadata(&entries[0]).unwrap()
    };

    assert_one_error_line(&run(), 1, &["exports no wasi:cli/run"]);
    let first = artifact();
    assert_one_error_line(&run(), 1, &["exports no wasi:cli/run"]);
    let second = artifact();
    // A recompile would have renamed a fresh file into place: a new inode.
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        assert_eq!(first.ino(), second.ino());
    }
    assert_eq!(first.len(), second.len());
}

#[test]
fn no_cache_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let component = write(tmp.path(), "empty.wasm", b"\0asm\x0d\0\x01\0");
    let out = Command::new(env!("CARGO_BIN_EXE_aiofs"))
        .args(["run", "--no-cache", &component])
        .env("AIOFS_CACHE_DIR", &cache)
        .output()
        .unwrap();
    assert_one_error_line(&out, 1, &["exports no wasi:cli/run"]);
    assert!(!cache.exists());
}
