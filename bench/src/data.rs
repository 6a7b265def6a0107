//! The benchmark's files, made once per run in a temporary directory on the real disk.
//!
//! ```text
//! small/0 .. small/999   4 KiB each
//! big                    `big_bytes` (1 GiB), synced to disk, so it stays page-cached
//!                        but no writeback runs during the measurements
//! lines.txt              100 000 lines of 60 to 79 bytes
//! many/0 .. many/9999    10 000 empty files (listdir, scandir, stat, exists)
//! out                    written and removed by the write workloads
//! ```

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Sizes of the fixture (smaller with `--quick`).
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Bytes of `big`.
    pub big_bytes: usize,
    /// Lines of `lines.txt`.
    pub lines: usize,
    /// Entries of `many/`.
    pub entries: usize,
}

/// Bytes of each `small/` file.
pub const SMALL_BYTES: usize = 4096;

/// The fixture on disk; removed when dropped.
pub struct Data {
    dir: tempfile::TempDir,
    /// What was made.
    pub sizes: Sizes,
}

impl Data {
    /// Make the fixture in a new directory under `parent`.
    pub fn create(parent: &Path, sizes: Sizes) -> std::io::Result<Data> {
        let dir = tempfile::Builder::new()
            .prefix("aiofs-bench-")
            .tempdir_in(parent)?;
        let root = dir.path();
        fs::create_dir(root.join("small"))?;
        let small = crate::proto::small_payload();
        for i in 0..crate::proto::SMALL_FILES {
            fs::write(root.join(format!("small/{i}")), &small)?;
        }
        fs::create_dir(root.join("many"))?;
        for i in 0..sizes.entries {
            File::create(root.join(format!("many/{i}")))?;
        }
        let mut lines = BufWriter::new(File::create(root.join("lines.txt"))?);
        for i in 0..sizes.lines {
            let pad = "abcdefghijklmnopqrstuvwxyz"[..(i * 7) % 20].to_string();
            writeln!(
                lines,
                "{i:08} the quick brown fox jumps over the lazy dog {pad}"
            )?;
        }
        lines.into_inner()?.sync_all()?;
        // The same lines ending in `\r\n`, and in a lone `\r` (universal newlines).
        let lf = fs::read(root.join("lines.txt"))?;
        for (name, end) in [
            ("lines_crlf.txt", &b"\r\n"[..]),
            ("lines_cr.txt", &b"\r"[..]),
        ] {
            let mut out = Vec::with_capacity(lf.len() * 2);
            for line in lf.split_inclusive(|&b| b == b'\n') {
                out.extend_from_slice(&line[..line.len() - 1]);
                out.extend_from_slice(end);
            }
            fs::write(root.join(name), out)?;
        }
        let chunk: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        let mut big = File::create(root.join("big"))?;
        for _ in 0..sizes.big_bytes / chunk.len() {
            big.write_all(&chunk)?;
        }
        big.sync_all()?;
        Ok(Data { dir, sizes })
    }

    /// The directory granted to the guests (at `/data`).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Host path of a fixture file.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Host path of the `i`-th small file.
    pub fn small(&self, i: usize) -> PathBuf {
        self.path(&format!("small/{}", i % crate::proto::SMALL_FILES))
    }

    /// Host path of the `i`-th entry of `many/`.
    pub fn many(&self, i: usize) -> PathBuf {
        self.path(&format!("many/{i}"))
    }
}
