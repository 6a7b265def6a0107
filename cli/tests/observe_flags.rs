//! The observation flags of `aiofs run`: listed in the help, and bad values are one-line
//! errors before anything runs. (What they print is tested end to end in
//! `tests/all/observe.rs` through the same `stats_table` and `AuditWriter`.)

mod common;

use common::aiofs;

#[test]
fn observation_flags_are_documented() {
    let out = aiofs(&["run", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--stats",
        "--audit",
        "--audit-mutations",
        "--audit-max-bytes",
        "--log",
    ] {
        assert!(help.contains(flag), "help lacks {flag}: {help}");
    }
}

#[test]
fn a_bad_log_spec_is_a_usage_error() {
    let out = aiofs(&["run", "x.wasm", "--log", "aiofs=loud"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("aiofs: error: bad --log"), "{stderr}");
}

#[test]
fn audit_mutations_and_cap_need_audit() {
    for flags in [
        &["--audit-mutations"][..],
        &["--audit-max-bytes", "4096"][..],
    ] {
        let out = aiofs(&[&["run", "x.wasm"][..], flags].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("--audit <FILE>"), "{stderr}");
    }
    let out = aiofs(&["run", "x.wasm", "--audit", "-", "--audit-max-bytes", "0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--audit-max-bytes"), "{stderr}");
}

#[test]
fn an_unwritable_audit_file_fails_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("empty.wasm");
    // A bare component header: valid, so the failure is the audit file's.
    std::fs::write(&wasm, b"\0asm\x0d\0\x01\0").unwrap();
    let missing = dir.path().join("no/such/dir/audit.jsonl");
    let out = aiofs(&[
        "run",
        wasm.to_str().unwrap(),
        "--audit",
        missing.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot create audit file"), "{stderr}");
}
