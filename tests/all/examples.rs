//! The example guests of the `aiofs` crate, run end to end.

use aiofs_host::{AioFsCtx, Perms};
use aiofs_tests::{SELFCHECK, TOUR, WC, run};
use std::path::Path;

/// Native counts of one file, like `wc`: newlines, runs of non-whitespace, bytes.
fn native_wc(data: &[u8]) -> (u64, u64, u64) {
    let lines = data.iter().filter(|b| **b == b'\n').count() as u64;
    let words = data
        .split(|b| b.is_ascii_whitespace() || *b == 0x0b)
        .filter(|w| !w.is_empty())
        .count() as u64;
    (lines, words, data.len() as u64)
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// `wc` over the quick-start sample data matches a native count, row by row.
#[tokio::test(flavor = "multi_thread")]
async fn wc_counts_sample_data() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data");
    let ctx = AioFsCtx::builder()
        .grant(&data, "/data", Perms::ReadOnly)
        .unwrap()
        .build();
    let out = run(WC, ctx, &[]).await;
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.exit_code,
        0,
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut files = Vec::new();
    files_under(&data, &mut files);
    let mut total = (0, 0, 0);
    for f in &files {
        let (l, w, b) = native_wc(&std::fs::read(f).unwrap());
        total = (total.0 + l, total.1 + w, total.2 + b);
        let guest_path = format!("/data/{}", f.strip_prefix(&data).unwrap().display());
        let row = stdout
            .lines()
            .find(|r| r.split_whitespace().nth(3) == Some(guest_path.as_str()))
            .unwrap_or_else(|| panic!("no row for {guest_path} in:\n{stdout}"));
        let nums: Vec<u64> = row
            .split_whitespace()
            .take(3)
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(nums, [l, w, b], "{guest_path}");
    }
    assert!(files.len() >= 3, "sample data has several files");
    let last = stdout.lines().last().unwrap();
    let nums: Vec<u64> = last
        .split_whitespace()
        .take(3)
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(nums, [total.0, total.1, total.2], "total row: {last}");
}

/// The tour and the self-check of the ergonomic API pass against a writable grant and
/// leave it as they found it.
#[tokio::test(flavor = "multi_thread")]
async fn tour_and_selfcheck() {
    for guest in [TOUR, SELFCHECK] {
        let dir = tempfile::tempdir().unwrap();
        let ctx = AioFsCtx::builder()
            .grant(dir.path(), "/work", Perms::ReadWrite)
            .unwrap()
            .build();
        let out = run(guest, ctx, &[]).await;
        assert_eq!(
            out.exit_code,
            0,
            "{guest}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
