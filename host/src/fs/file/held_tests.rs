//! Hostile tests of what an open file's reads hold against what they charge to the
//! store's memory budget (`max_inflight_bytes`): a result never keeps more capacity than
//! its charge, whatever the file or the read asked for.

use super::*;
use crate::grant::Grants;
use crate::pool::Pool;

/// A store with no grants and default limits, and `bytes` in a file of a temp dir
/// opened with `mode`.
fn file_with(bytes: &[u8], mode: &str) -> (tempfile::TempDir, File) {
    let fs = Fs::new(Grants::default(), Limits::default(), Pool::new(2));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, bytes).unwrap();
    let m = OpenMode::parse(mode).unwrap();
    let std = std::fs::File::open(&path).unwrap();
    let file = File::new(&fs, std, "f".into(), m, (), None);
    (dir, file)
}

/// A stream's chunk is held (with its charge) until the reader takes it: a chunk cut
/// short by the end of the file must not keep the capacity it was reserved with while it
/// is charged at its length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_stream_chunk_holds_no_more_than_its_charge() {
    let (_dir, f) = file_with(&[7u8; 10], "rb");
    let mem = f.fs().mem().clone();
    for _ in 0..2 {
        let held = mem.charge(16 << 10).unwrap();
        let (chunk, held) = f.read_chunk_held(held).await.unwrap();
        assert!(
            chunk.capacity() as u64 <= held.bytes(),
            "chunk of {} bytes holds {} charged at {}",
            chunk.len(),
            chunk.capacity(),
            held.bytes()
        );
    }
    // The same through a plain read at the end of the file.
    f.seek(3, crate::fs::Whence::Start).await.unwrap();
    let data = f.read(8 << 10).await.unwrap();
    assert_eq!((data.len(), data.capacity()), (7, 7));
}

/// A text read is charged at most its byte limit (four bytes a character asked for):
/// the decoded text must never grow past that (doubling would take it up to twice), and
/// each text a read returns holds what it is charged at, its length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_reads_hold_no_more_than_their_charge() {
    // 3 × 8192 four-byte characters: 96 KiB of text, a limit doubling overshoots.
    let n = 3 * 8192;
    let (_dir, f) = file_with("😀".repeat(n).as_bytes(), "r");
    let text = f.read_text(n as u64).await.unwrap();
    assert_eq!(text.len(), 4 * n);
    assert!(
        text.capacity() <= 4 * n,
        "{} bytes of text held in {} charged at {}",
        text.len(),
        text.capacity(),
        4 * n
    );
    // Lines: the last one has no newline to add.
    let (_dir, f) = file_with(b"0123456789abcdefghijklmn\nopqrstuvwxyz0123456789ab", "r");
    let lines = f.read_lines_text(10).await.unwrap();
    assert_eq!(lines.len(), 2);
    for line in &lines {
        assert_eq!(line.capacity(), line.len(), "{line:?}");
    }
    f.seek(0, crate::fs::Whence::Start).await.unwrap();
    f.read_line_text().await.unwrap();
    let last = f.read_line_text().await.unwrap();
    assert_eq!((last.len(), last.capacity()), (24, 24));
    // Universal newlines shorten the whole-file text: it gives the rest back.
    let (_dir, f) = file_with("ab\r\n".repeat(1000).as_bytes(), "r");
    let all = f.read_all_text().await.unwrap();
    assert_eq!((all.len(), all.capacity()), (3000, 3000));
}

/// A list of lines costs the host far more than its bytes (a one-byte line is a 24-byte
/// slot of the list and a 32-byte allocation): a read of lines must have that charged
/// before it builds them, not forced into the budget afterwards, so the store never
/// holds more than `max_inflight_bytes`. Under a budget too small for a whole batch the
/// batch is shorter, and every line still comes, once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_lines_is_charged_before_it_is_built() {
    let budget = 1 << 20;
    let fs = Fs::new(
        Grants::default(),
        Limits {
            max_inflight_bytes: budget,
            ..Limits::default()
        },
        Pool::new(2),
    );
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [("b", false), ("t", true)] {
        let path = dir.path().join(name);
        std::fs::write(&path, "\n".repeat(1 << 16)).unwrap();
        let mode = OpenMode::parse(if text { "r" } else { "rb" }).unwrap();
        let std = std::fs::File::open(&path).unwrap();
        let f = File::new(&fs, std, name.into(), mode, (), None);
        let mut lines = 0;
        loop {
            let got = if text {
                let batch = f.read_lines_text(u32::MAX).await.unwrap();
                assert!(batch.iter().all(|l| l == "\n"));
                batch.len()
            } else {
                let batch = f.read_lines(u32::MAX).await.unwrap();
                assert!(batch.iter().all(|l| l == b"\n"));
                batch.len()
            };
            if got == 0 {
                break;
            }
            lines += got;
        }
        assert_eq!(lines, 1 << 16, "{name}");
        assert!(
            fs.mem().peak() <= budget,
            "{name}: {} bytes held at once under a budget of {budget}",
            fs.mem().peak()
        );
    }
}
