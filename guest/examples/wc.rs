//! `wc` for a directory tree: lines, words and bytes of every regular file under a
//! directory, with many files in flight at once.
//!
//! ```text
//! aiofs run wc.wasm --dir examples/data::/data:ro            # walks the first grant
//! aiofs run wc.wasm --dir examples/data::/data:ro -- /data/poems
//! ```
//!
//! The tree is walked with `aiofs::os::walk` (one `scandir` host call per directory,
//! several directories at once). Each file is then counted by its own async task that
//! reads the file through a host `stream<u8>` (`File::chunks`); `buffer_unordered`
//! keeps up to 32 of those tasks in flight, so the host pool works on many files at
//! once while this single-threaded guest only does the counting. Output is one
//! `lines words bytes path` row per file, sorted by path, then a total row. A file or
//! directory that cannot be read is reported on stderr and counted; the exit status is
//! then non-zero, like `wc`.

use futures::{StreamExt, TryStreamExt, stream};

/// How many files are counted at once.
const IN_FLIGHT: usize = 32;

/// Line, word and byte counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    lines: u64,
    words: u64,
    bytes: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.lines += other.lines;
        self.words += other.words;
        self.bytes += other.bytes;
    }
}

/// [`Counts`] updated one chunk at a time, remembering whether the last chunk ended
/// inside a word so that a word split across two chunks is counted once.
#[derive(Debug, Default)]
struct Counter {
    counts: Counts,
    in_word: bool,
}

impl Counter {
    fn feed(&mut self, chunk: &[u8]) {
        self.counts.bytes += chunk.len() as u64;
        for &b in chunk {
            if b == b'\n' {
                self.counts.lines += 1;
            }
            // Like `wc`: a word is a maximal run of non-whitespace bytes.
            let space = b.is_ascii_whitespace() || b == 0x0b;
            if !space && !self.in_word {
                self.counts.words += 1;
            }
            self.in_word = !space;
        }
    }
}

/// Count one file, streaming it from the host in chunks.
async fn count(path: &str) -> aiofs::Result<Counts> {
    let file = aiofs::open(path, "rb").await?;
    let mut counter = Counter::default();
    let mut chunks = file.chunks();
    while let Some(chunk) = chunks.try_next().await? {
        counter.feed(&chunk);
    }
    Ok(counter.counts)
}

fn row(c: &Counts, label: &str) -> String {
    format!("{:>7} {:>7} {:>8} {label}", c.lines, c.words, c.bytes)
}

async fn run() -> Result<(), String> {
    let root = match std::env::args().nth(1) {
        Some(path) => path,
        None => aiofs::grants()
            .first()
            .map(|g| g.guest_path.clone())
            .ok_or("no directory given and no grants")?,
    };
    let mut failures = 0usize;

    // 1. Find the regular files (symlinks are not followed).
    let mut files = Vec::new();
    let mut walk = aiofs::os::walk(&root);
    while let Some(dir) = walk.next().await {
        match dir {
            Ok(dir) => files.extend(dir.files().map(|entry| dir.join(entry))),
            Err(e) => {
                eprintln!("wc: {e}");
                failures += 1;
            }
        }
    }

    // 2. Count them, IN_FLIGHT at a time.
    let mut results: Vec<(String, aiofs::Result<Counts>)> = stream::iter(files)
        .map(|path| async move {
            let counts = count(&path).await;
            (path, counts)
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    results.sort_by(|a, b| a.0.cmp(&b.0));

    // 3. Report.
    let mut total = Counts::default();
    let mut counted = 0usize;
    for (path, counts) in &results {
        match counts {
            Ok(c) => {
                println!("{}", row(c, path));
                total += *c;
                counted += 1;
            }
            Err(e) => {
                eprintln!("wc: {e}");
                failures += 1;
            }
        }
    }
    println!("{}", row(&total, &format!("total ({counted} files)")));
    if failures > 0 {
        return Err(format!("{failures} path(s) could not be read"));
    }
    Ok(())
}

aiofs::main!(run);

#[cfg(test)]
mod tests {
    use super::*;

    fn counts_of(chunks: &[&[u8]]) -> Counts {
        let mut c = Counter::default();
        for chunk in chunks {
            c.feed(chunk);
        }
        c.counts
    }

    #[test]
    fn counts_like_wc() {
        let c = counts_of(&[b"one two\nthree\n"]);
        assert_eq!(
            c,
            Counts {
                lines: 2,
                words: 3,
                bytes: 14
            }
        );
        let c = counts_of(&[b"  no trailing newline "]);
        assert_eq!(
            c,
            Counts {
                lines: 0,
                words: 3,
                bytes: 22
            }
        );
        assert_eq!(counts_of(&[]), Counts::default());
    }

    #[test]
    fn a_word_split_across_chunks_counts_once() {
        let text: &[u8] = b"alpha beta\tgamma\r\ndelta\n";
        let whole = counts_of(&[text]);
        assert_eq!(whole.words, 4);
        assert_eq!(whole.lines, 2);
        for cut in 0..=text.len() {
            let split = counts_of(&[&text[..cut], &text[cut..]]);
            assert_eq!(split, whole, "cut at {cut}");
        }
    }
}
