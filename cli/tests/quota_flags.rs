//! The per-grant quota flags of `aiofs run`: listed in the help, and a malformed value is
//! a one-line usage error. (What the quotas do is tested end to end in `tests/all/quota.rs`
//! through the same `GrantQuota` the flags fill in.)

mod common;

use common::aiofs;

const FLAGS: [&str; 4] = [
    "--max-bytes-written",
    "--max-bytes-read",
    "--max-file-size",
    "--max-files-created",
];

#[test]
fn quota_flags_are_documented() {
    let out = aiofs(&["run", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in FLAGS {
        assert!(help.contains(flag), "help lacks {flag}: {help}");
    }
}

#[test]
fn malformed_quota_is_a_usage_error() {
    for flag in FLAGS {
        for bad in ["-1", "lots", "", "18446744073709551616"] {
            let arg = format!("{flag}={bad}");
            let out = aiofs(&["run", "x.wasm", &arg]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{flag} {bad:?}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(
                stderr.starts_with("aiofs: error: ") && stderr.contains(flag),
                "{stderr}"
            );
        }
    }
}

/// Valid quotas pass parsing: the run then fails on the missing component, not the flags.
#[test]
fn valid_quotas_parse() {
    let mut args = vec!["run", "/nonexistent/x.wasm"];
    for flag in FLAGS {
        args.extend([flag, "0"]);
    }
    let out = aiofs(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot read"), "{stderr}");
}
