//! Tests of the file handle: the read-ahead cursor directly (small chunk sizes put chunk
//! boundaries everywhere), and whole `File`s on a real pool against real temp files.

use super::cursor::*;
use super::*;
use crate::fs::{FileType, Whence};
use crate::grant::Grants;
use crate::pool::Pool;
use proptest::prelude::*;
use std::io::Write as _;

// ---------------------------------------------------------------------------------------
// The cursor, driven synchronously.

/// An anonymous temp file holding `bytes`.
fn temp_with(bytes: &[u8]) -> StdFile {
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(bytes).unwrap();
    f
}

/// Independent reference for universal newlines.
fn reference_newlines(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\r', "\n")
}

#[test]
fn crlf_split_across_chunks_is_one_newline() {
    let input = b"a\r\nb\rc\n\r\n\r";
    for chunk in 1..=6 {
        let file = super::Handle::Local(temp_with(input));
        let mut cur = Cursor::new(false, chunk, test_held());
        let mut lines = Vec::new();
        let mut ends = Vec::new();
        loop {
            let line = cur.read_line_text(&file, 1 << 20).unwrap();
            if line.is_empty() {
                break;
            }
            lines.push(line);
            ends.push(cur.pos);
        }
        assert_eq!(lines, ["a\n", "b\n", "c\n", "\n", "\n"], "chunk {chunk}");
        assert_eq!(ends, [3, 5, 7, 9, 10], "chunk {chunk}");
    }
}

#[test]
fn read_chars_swallows_lf_after_cr_even_past_a_chunk_boundary() {
    for chunk in 1..=4 {
        let file = super::Handle::Local(temp_with(b"x\r\ny"));
        let mut cur = Cursor::new(false, chunk, test_held());
        assert_eq!(cur.read_chars(&file, 2, 1 << 20).unwrap(), "x\n");
        assert_eq!(cur.pos, 3, "chunk {chunk}: the \\n belongs to the newline");
        assert_eq!(cur.read_chars(&file, 5, 1 << 20).unwrap(), "y");
        assert_eq!(cur.read_chars(&file, 5, 1 << 20).unwrap(), "");
    }
}

#[test]
fn multibyte_characters_split_across_chunks() {
    let text = "é€😀a\n";
    for chunk in 1..=5 {
        let file = super::Handle::Local(temp_with(text.as_bytes()));
        let mut cur = Cursor::new(false, chunk, test_held());
        let mut chars = Vec::new();
        loop {
            let c = cur.read_chars(&file, 1, 1 << 20).unwrap();
            if c.is_empty() {
                break;
            }
            chars.push(c);
        }
        assert_eq!(chars, ["é", "€", "😀", "a", "\n"], "chunk {chunk}");
        assert_eq!(cur.pos, text.len() as u64);
    }
}

#[test]
fn invalid_utf8_fails_without_consuming() {
    let input = b"ok\n\xffbad\nafter\n";
    let file = super::Handle::Local(temp_with(input));
    let mut cur = Cursor::new(false, 2, test_held());
    assert_eq!(cur.read_line_text(&file, 1 << 20).unwrap(), "ok\n");
    for _ in 0..2 {
        assert_eq!(
            cur.read_line_text(&file, 1 << 20),
            Err(ErrorCode::IllegalByteSequence)
        );
        assert_eq!(
            cur.read_lines_text(&file, 10, 1 << 20),
            Err(ErrorCode::IllegalByteSequence)
        );
        assert_eq!(
            cur.read_chars(&file, 10, 1 << 20),
            Err(ErrorCode::IllegalByteSequence)
        );
        assert_eq!(cur.pos, 3);
    }
    // The data is intact: the bytes are still there to read.
    assert_eq!(cur.read_bytes(&file, 4).unwrap(), b"\xffbad");
    assert_eq!(cur.read_line_text(&file, 1 << 20).unwrap(), "\n");
    assert_eq!(cur.read_line_text(&file, 1 << 20).unwrap(), "after\n");
}

#[test]
fn read_chars_returns_the_valid_prefix_then_fails() {
    let file = super::Handle::Local(temp_with(b"ab\xe2\x82"));
    let mut cur = Cursor::new(false, 3, test_held());
    assert_eq!(cur.read_chars(&file, 10, 1 << 20).unwrap(), "ab");
    assert_eq!(cur.pos, 2);
    assert_eq!(
        cur.read_chars(&file, 10, 1 << 20),
        Err(ErrorCode::IllegalByteSequence),
        "an incomplete character at end of file is invalid"
    );
    assert_eq!(cur.pos, 2);
}

#[test]
fn read_lines_text_stops_before_a_bad_line() {
    let file = super::Handle::Local(temp_with(b"one\ntwo\nbad\xff\n"));
    let mut cur = Cursor::new(false, 3, test_held());
    assert_eq!(
        cur.read_lines_text(&file, 10, 1 << 20).unwrap(),
        ["one\n", "two\n"]
    );
    assert_eq!(
        cur.read_lines_text(&file, 10, 1 << 20),
        Err(ErrorCode::IllegalByteSequence)
    );
    assert_eq!(cur.pos, 8);
}

#[test]
fn long_lines_come_in_pieces() {
    let file = super::Handle::Local(temp_with(b"abcdefghij\nk"));
    let mut cur = Cursor::new(false, 3, test_held());
    let pieces: Vec<_> = (0..5)
        .map(|_| cur.read_line_bytes(&file, 4).unwrap())
        .collect();
    assert_eq!(pieces, [&b"abcd"[..], b"efgh", b"ij\n", b"k", b""]);

    // Text pieces are cut at character boundaries: "aé" is 3 bytes, "€" does not fit.
    let file = super::Handle::Local(temp_with("aé€b\n".as_bytes()));
    let mut cur = Cursor::new(false, 2, test_held());
    let pieces: Vec<_> = (0..4)
        .map(|_| cur.read_line_text(&file, 4).unwrap())
        .collect();
    assert_eq!(pieces, ["aé", "€b", "\n", ""]);
}

#[test]
fn read_lines_respects_count_and_byte_budget() {
    let input = b"aa\nbb\ncc\ndd\n";
    let file = super::Handle::Local(temp_with(input));
    let mut cur = Cursor::new(false, 5, test_held());
    assert_eq!(
        cur.read_lines_bytes(&file, 2, 1 << 20).unwrap(),
        [b"aa\n", b"bb\n"]
    );
    // 5 bytes of budget: "cc\n" fits, "dd\n" would not; it waits for the next call.
    assert_eq!(cur.read_lines_bytes(&file, 10, 5).unwrap(), [b"cc\n"]);
    assert_eq!(cur.pos, 9);
    assert_eq!(cur.read_lines_bytes(&file, 10, 5).unwrap(), [b"dd\n"]);
    assert!(cur.read_lines_bytes(&file, 10, 5).unwrap().is_empty());

    // The same for text, where a budget overrun is reported the same way.
    let file = super::Handle::Local(temp_with(b"aa\r\nbb\rcc\n"));
    let mut cur = Cursor::new(false, 5, test_held());
    assert_eq!(cur.read_lines_text(&file, 10, 8).unwrap(), ["aa\n", "bb\n"]);
    assert_eq!(cur.read_lines_text(&file, 10, 8).unwrap(), ["cc\n"]);
}

#[test]
fn peek_all_enforces_the_limit_and_consumes_nothing() {
    let file = super::Handle::Local(temp_with(b"0123456789"));
    let mut cur = Cursor::new(false, 4, test_held());
    assert_eq!(cur.read_bytes(&file, 2).unwrap(), b"01");
    assert_eq!(cur.peek_all(&file, 7), Err(ErrorCode::Quota));
    assert_eq!(cur.pos, 2);
    assert_eq!(cur.peek_all(&file, 8).unwrap(), b"23456789");
    assert_eq!(cur.pos, 2, "peeking does not move");
}

#[test]
fn seek_arithmetic() {
    let mut cur = Cursor::new(false, 4, test_held());
    assert_eq!(cur.seek_to(10, -3), Ok(7));
    assert_eq!(cur.seek_to(0, -1), Err(ErrorCode::Invalid));
    assert_eq!(cur.pos, 7);
    assert_eq!(cur.seek_to(u64::MAX, 0), Err(ErrorCode::Overflow));
    assert_eq!(cur.seek_to(5, i64::MAX - 5), Ok(i64::MAX as u64));
}

/// An unlimited charge for cursors under test.
fn test_held() -> crate::fs::held::Held {
    crate::fs::held::MemBudget::new(u64::MAX).empty()
}

#[test]
fn translate_newlines_matches_reference() {
    for s in ["", "a", "\r", "\r\n", "\n\r", "a\r\r\nb\r", "é\r€\r\n😀"] {
        let mut bytes = s.as_bytes().to_vec();
        translate_newlines(&mut bytes);
        assert_eq!(String::from_utf8(bytes).unwrap(), reference_newlines(s));
    }
}

/// One read in the property test.
#[derive(Debug, Clone, Copy)]
enum TextRead {
    Chars(usize),
    Line,
    Lines(usize),
}

fn text_read() -> impl Strategy<Value = TextRead> {
    prop_oneof![
        (1usize..8).prop_map(TextRead::Chars),
        Just(TextRead::Line),
        (1usize..4).prop_map(TextRead::Lines),
    ]
}

/// Pieces that make chunk boundaries interesting: newlines, multi-byte characters and,
/// rarely, invalid or truncated sequences.
fn text_piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => Just(b"a".to_vec()),
        2 => Just(b"xyz".to_vec()),
        3 => Just(b"\r".to_vec()),
        3 => Just(b"\n".to_vec()),
        2 => Just(b"\r\n".to_vec()),
        2 => Just("é".as_bytes().to_vec()),
        2 => Just("€".as_bytes().to_vec()),
        2 => Just("😀".as_bytes().to_vec()),
        1 => Just(vec![0xff]),
        1 => Just(vec![0x80]),
        1 => Just(vec![0xe2, 0x82]),
    ]
}

proptest! {
    /// Any mix of text reads, with any chunk size and byte limit, yields exactly the
    /// newline-translated text of the valid prefix; at the first invalid byte every read
    /// fails and the position stays there.
    #[test]
    fn text_reads_match_reference(
        pieces in prop::collection::vec(text_piece(), 0..40),
        chunk in 1usize..9,
        limit in 4usize..24,
        reads in prop::collection::vec(text_read(), 1..12),
    ) {
        let input = pieces.concat();
        let valid_len = match std::str::from_utf8(&input) {
            Ok(_) => input.len(),
            Err(e) => e.valid_up_to(),
        };
        let file = super::Handle::Local(temp_with(&input));
        let mut cur = Cursor::new(false, chunk, test_held());
        let mut got = String::new();
        let mut failed = false;
        // Every successful non-empty read makes progress, so this many rounds suffice.
        for read in reads.iter().cycle().take(4 * input.len() + 4) {
            let before = cur.pos;
            let result = match *read {
                TextRead::Chars(n) => cur.read_chars(&file, n, limit),
                TextRead::Line => cur.read_line_text(&file, limit),
                TextRead::Lines(n) => cur.read_lines_text(&file, n, limit).map(|l| l.concat()),
            };
            match result {
                Ok(text) if text.is_empty() => break,
                Ok(text) => got.push_str(&text),
                Err(e) => {
                    prop_assert_eq!(e, ErrorCode::IllegalByteSequence);
                    prop_assert_eq!(cur.pos, before, "a failed read consumes nothing");
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            // Character by character up to the bad byte, then it fails there for good.
            while let Ok(c) = cur.read_chars(&file, 1, limit) {
                prop_assert!(!c.is_empty());
                got.push_str(&c);
            }
            prop_assert_eq!(cur.pos as usize, valid_len);
            prop_assert!(valid_len < input.len());
        } else {
            prop_assert_eq!(cur.pos as usize, input.len());
            prop_assert_eq!(valid_len, input.len());
        }
        let prefix = std::str::from_utf8(&input[..valid_len]).unwrap();
        prop_assert_eq!(got, reference_newlines(prefix));
    }

    /// Binary lines concatenate back to the input, each ends with its only `\n` or is a
    /// piece of at most `limit` bytes.
    #[test]
    fn binary_lines_concatenate_to_input(
        input in prop::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), any::<u8>()], 0..200),
        chunk in 1usize..9,
        limit in 1usize..12,
        batch in 0usize..4,
    ) {
        let file = super::Handle::Local(temp_with(&input));
        let mut cur = Cursor::new(false, chunk, test_held());
        let mut got = Vec::new();
        loop {
            let lines = if batch == 0 {
                vec![cur.read_line_bytes(&file, limit).unwrap()]
            } else {
                cur.read_lines_bytes(&file, batch, limit).unwrap()
            };
            if lines.iter().all(Vec::is_empty) {
                break;
            }
            for line in lines {
                let newlines = line.iter().filter(|&&b| b == b'\n').count();
                prop_assert!(newlines == 0 || (newlines == 1 && line.ends_with(b"\n")));
                prop_assert!(line.ends_with(b"\n") || line.len() <= limit);
                got.extend(line);
            }
        }
        prop_assert_eq!(got, input);
    }
}

// ---------------------------------------------------------------------------------------
// Whole files on a real pool.

/// A store with no grants (files are opened directly) and the given limits.
fn store(limits: Limits, pool: Pool) -> Fs {
    Fs::new(Grants::default(), limits, pool)
}

/// Open `path` the way `Fs::open` does for `mode`, and wrap it.
fn open_in(fs: &Fs, path: &std::path::Path, mode: &str) -> File {
    open_with(fs, path, mode, (), None)
}

fn open_with(
    fs: &Fs,
    path: &std::path::Path,
    mode: &str,
    slot: impl Send + 'static,
    on_close: Option<Box<dyn FnOnce() + Send>>,
) -> File {
    let m = OpenMode::parse(mode).unwrap();
    let std = std::fs::OpenOptions::new()
        .read(m.read)
        .write(m.write && !m.append)
        .append(m.append)
        .create(m.create && !m.exclusive)
        .create_new(m.exclusive)
        .truncate(m.truncate)
        .open(path)
        .unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    File::new(fs, std, name, m, slot, on_close)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_write_seek_read_truncate() {
    let dir = tempfile::tempdir().unwrap();
    let fs = store(Limits::default(), Pool::new(2));
    let f = open_in(&fs, &dir.path().join("b"), "w+b");
    assert_eq!(f.mode(), "wb+");
    assert!(!f.is_text());
    assert_eq!(f.name(), "b");

    assert_eq!(f.write(b"hello world".to_vec()).await, Ok(11));
    assert_eq!(f.tell().await, Ok(11));
    assert_eq!(f.seek(-5, Whence::End).await, Ok(6));
    assert_eq!(f.read(3).await.unwrap(), b"wor");
    assert_eq!(f.seek(-9, Whence::Current).await, Ok(0));
    assert_eq!(f.read(5).await.unwrap(), b"hello");
    assert_eq!(f.seek(-1, Whence::Start).await, Err(ErrorCode::Invalid));
    assert_eq!(f.tell().await, Ok(5));

    // Overwrite in the middle; the read-ahead must not serve stale bytes.
    assert_eq!(f.seek(0, Whence::Start).await, Ok(0));
    assert_eq!(f.read_line().await.unwrap(), b"hello world");
    assert_eq!(f.seek(6, Whence::Start).await, Ok(6));
    assert_eq!(f.write(b"WORLD\nnext\n".to_vec()).await, Ok(11));
    assert_eq!(f.seek(0, Whence::Start).await, Ok(0));
    assert_eq!(
        f.read_lines(10).await.unwrap(),
        [&b"hello WORLD\n"[..], b"next\n"]
    );
    assert!(f.read_lines(10).await.unwrap().is_empty());

    // Truncate: default size is the position, which does not move.
    assert_eq!(f.seek(5, Whence::Start).await, Ok(5));
    assert_eq!(f.truncate(None).await, Ok(5));
    assert_eq!(f.tell().await, Ok(5));
    assert_eq!(f.stat().await.unwrap().size, 5);
    assert_eq!(f.truncate(Some(8)).await, Ok(8));
    assert_eq!(f.seek(0, Whence::Start).await, Ok(0));
    assert_eq!(f.read_all().await.unwrap(), b"hello\0\0\0");
    assert_eq!(f.read(10).await.unwrap(), b"");

    let st = f.stat().await.unwrap();
    assert_eq!(st.file_type, FileType::RegularFile);
    assert_eq!(st.link_count, 1);
    assert!(st.modified.is_some());
    f.flush().await.unwrap();
    f.sync().await.unwrap();
    f.sync_data().await.unwrap();
    f.close().await.unwrap();
    assert_eq!(std::fs::read(dir.path().join("b")).unwrap(), b"hello\0\0\0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_writes_go_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    std::fs::write(&path, b"start\n").unwrap();
    let fs = store(Limits::default(), Pool::new(2));
    let f = open_in(&fs, &path, "a+b");
    assert_eq!(f.tell().await, Ok(6), "append mode starts at the end");
    assert_eq!(f.seek(0, Whence::Start).await, Ok(0));
    assert_eq!(f.read_line().await.unwrap(), b"start\n");
    assert_eq!(f.seek(2, Whence::Start).await, Ok(2));
    assert_eq!(f.write(b"one\n".to_vec()).await, Ok(4));
    assert_eq!(
        f.tell().await,
        Ok(10),
        "after an append the position is the end"
    );
    // Another writer grows the file; the next append still lands at the end.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"other\n")
        .unwrap();
    assert_eq!(f.write_lines(vec![b"two\n".to_vec()]).await, Ok(4));
    assert_eq!(f.tell().await, Ok(20));
    f.close().await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"start\none\nother\ntwo\n");

    let t = open_in(&fs, &path, "a");
    assert_eq!(t.seek(0, Whence::Current).await, Ok(20));
    assert_eq!(t.write_text("é\n".into()).await, Ok(2));
    assert_eq!(t.tell().await, Ok(23));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.txt");
    let fs = store(Limits::default(), Pool::new(2));
    let w = open_in(&fs, &path, "w");
    assert!(w.is_text());
    assert_eq!(w.mode(), "w");
    assert_eq!(w.write_text("héllo\r\n".into()).await, Ok(7));
    assert_eq!(
        w.write_lines_text(vec!["wörld\r".into(), "end".into()])
            .await,
        Ok(9)
    );
    w.close().await.unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        "héllo\r\nwörld\rend".as_bytes(),
        "text is written unchanged"
    );

    let r = open_in(&fs, &path, "r");
    assert_eq!(r.read_text(3).await.unwrap(), "hél");
    assert_eq!(r.tell().await, Ok(4), "tell is a byte offset");
    assert_eq!(r.read_line_text().await.unwrap(), "lo\n");
    assert_eq!(r.read_lines_text(5).await.unwrap(), ["wörld\n", "end"]);
    assert_eq!(r.read_line_text().await.unwrap(), "");
    assert_eq!(r.seek(0, Whence::Start).await, Ok(0));
    assert_eq!(r.read_all_text().await.unwrap(), "héllo\nwörld\nend");
    assert_eq!(r.read_all_text().await.unwrap(), "");

    // Invalid UTF-8: an error, nothing consumed, the bytes still on disk.
    std::fs::write(&path, b"ok\xff").unwrap();
    let r = open_in(&fs, &path, "r");
    assert_eq!(r.read_all_text().await, Err(ErrorCode::IllegalByteSequence));
    assert_eq!(r.tell().await, Ok(0));
    assert_eq!(r.read_text(10).await.unwrap(), "ok");
    assert_eq!(r.read_text(10).await, Err(ErrorCode::IllegalByteSequence));
    assert_eq!(r.tell().await, Ok(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_mismatches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m");
    std::fs::write(&path, b"data\n").unwrap();
    let fs = store(Limits::default(), Pool::new(2));

    let rb = open_in(&fs, &path, "rb");
    assert_eq!(rb.read_text(1).await, Err(ErrorCode::Invalid));
    assert_eq!(rb.read_line_text().await, Err(ErrorCode::Invalid));
    assert_eq!(rb.write_text("x".into()).await, Err(ErrorCode::Invalid));
    assert_eq!(rb.write(b"x".to_vec()).await, Err(ErrorCode::BadDescriptor));
    assert_eq!(rb.truncate(None).await, Err(ErrorCode::BadDescriptor));
    assert_eq!(rb.check_stream(true), Err(ErrorCode::BadDescriptor));
    assert_eq!(rb.check_stream(false), Ok(()));

    let r = open_in(&fs, &path, "r");
    assert_eq!(r.read(1).await, Err(ErrorCode::Invalid));
    assert_eq!(r.read_all().await, Err(ErrorCode::Invalid));
    assert_eq!(r.read_lines(1).await, Err(ErrorCode::Invalid));
    assert_eq!(r.write_lines(vec![]).await, Err(ErrorCode::Invalid));
    assert_eq!(r.check_stream(false), Err(ErrorCode::Invalid));
    assert_eq!(
        r.write_text("x".into()).await,
        Err(ErrorCode::BadDescriptor)
    );

    let wb = open_in(&fs, &path, "wb");
    assert_eq!(wb.read(1).await, Err(ErrorCode::BadDescriptor));
    assert_eq!(wb.read_chunk(1).await, Err(ErrorCode::BadDescriptor));
    assert_eq!(wb.check_stream(false), Err(ErrorCode::BadDescriptor));
    assert_eq!(wb.check_stream(true), Ok(()));
    assert_eq!(wb.write_chunk(b"abc".to_vec()).await, Ok(3));
    assert_eq!(wb.truncate(None).await, Ok(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_give_quota() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q");
    std::fs::write(&path, b"0123456789\nab\ncd\n").unwrap();
    let limits = Limits {
        max_read_bytes: 8,
        max_write_bytes: 4,
        max_lines_per_call: 2,
        ..Limits::default()
    };
    let fs = store(limits, Pool::new(2));
    let f = open_in(&fs, &path, "r+b");
    assert_eq!(f.read_all().await, Err(ErrorCode::Quota));
    assert_eq!(f.tell().await, Ok(0), "nothing consumed");
    assert_eq!(f.read(100).await.unwrap(), b"01234567", "read is clamped");
    assert_eq!(f.read_chunk(100).await.unwrap(), b"89\nab\ncd");
    assert_eq!(f.seek(0, Whence::Start).await, Ok(0));
    assert_eq!(
        f.read_line().await.unwrap(),
        b"01234567",
        "a long line in pieces"
    );
    assert_eq!(
        f.read_lines(100).await.unwrap(),
        [&b"89\n"[..], b"ab\n"],
        "clamped to max_lines_per_call"
    );
    assert_eq!(f.read_all().await.unwrap(), b"cd\n");

    assert_eq!(f.write(b"12345".to_vec()).await, Err(ErrorCode::Quota));
    assert_eq!(
        f.write_lines(vec![b"123".to_vec(), b"45".to_vec()]).await,
        Err(ErrorCode::Quota)
    );
    assert_eq!(
        f.write_chunk(b"12345".to_vec()).await,
        Err(ErrorCode::Quota)
    );
    assert_eq!(f.write(b"1234".to_vec()).await, Ok(4));

    let t = open_in(&fs, &path, "r+");
    assert_eq!(t.read_all_text().await, Err(ErrorCode::Quota));
    assert_eq!(t.write_text("12345".into()).await, Err(ErrorCode::Quota));
    assert_eq!(t.read_text(100).await.unwrap(), "01234567");
}

/// Reports when it is dropped (stands in for the store's open-file slot).
struct Slot(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c");
    let fs = store(Limits::default(), Pool::new(2));
    let (slot_tx, mut slot_rx) = tokio::sync::oneshot::channel();
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
    let on_close: Box<dyn FnOnce() + Send> = Box::new(move || {
        // Runs on the pool, where no runtime is entered.
        let _ = closed_tx.send(tokio::runtime::Handle::try_current().is_err());
    });
    let f = open_with(&fs, &path, "w+b", Slot(Some(slot_tx)), Some(on_close));
    let clone = f.clone();
    assert_eq!(f.write(b"x".to_vec()).await, Ok(1));
    assert!(!clone.is_closed());
    f.record_unobserved_error(ErrorCode::InsufficientSpace);
    f.record_unobserved_error(ErrorCode::Io);
    assert_eq!(
        f.close().await,
        Err(ErrorCode::InsufficientSpace),
        "the first unobserved error"
    );
    assert!(clone.is_closed());
    assert_eq!(closed_rx.await, Ok(true), "on_close ran on the pool");
    assert_eq!(slot_rx.try_recv(), Ok(()), "the slot was released");
    assert_eq!(clone.close().await, Ok(()), "closing twice is fine");
    assert_eq!(clone.read(1).await, Err(ErrorCode::BadDescriptor));
    assert_eq!(clone.read_text(1).await, Err(ErrorCode::BadDescriptor));
    assert_eq!(clone.write(vec![1]).await, Err(ErrorCode::BadDescriptor));
    assert_eq!(clone.tell().await, Err(ErrorCode::BadDescriptor));
    assert_eq!(
        clone.seek(0, Whence::Start).await,
        Err(ErrorCode::BadDescriptor)
    );
    assert_eq!(clone.flush().await, Err(ErrorCode::BadDescriptor));
    assert_eq!(clone.stat().await, Err(ErrorCode::BadDescriptor));
    assert_eq!(clone.sync().await, Err(ErrorCode::BadDescriptor));
    assert_eq!(clone.check_stream(false), Err(ErrorCode::BadDescriptor));
    assert_eq!(std::fs::read(&path).unwrap(), b"x");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_clone_closes_on_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let fs = store(Limits::default(), Pool::new(2));
    let (slot_tx, slot_rx) = tokio::sync::oneshot::channel();
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
    let on_close: Box<dyn FnOnce() + Send> = Box::new(move || {
        let _ = closed_tx.send(tokio::runtime::Handle::try_current().is_err());
    });
    let f = open_with(
        &fs,
        &dir.path().join("d"),
        "wb",
        Slot(Some(slot_tx)),
        Some(on_close),
    );
    let clone = f.clone();
    drop(f);
    assert_eq!(clone.write(b"still open".to_vec()).await, Ok(10));
    drop(clone);
    assert_eq!(closed_rx.await, Ok(true), "closed on the pool");
    assert_eq!(slot_rx.await, Ok(()), "the slot was released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_run_in_issue_order() {
    let dir = tempfile::tempdir().unwrap();
    let fs = store(Limits::default(), Pool::new(4));
    let f = open_in(&fs, &dir.path().join("o"), "w+b");
    // Fewer than 30 futures: `join_all` polls them in order, so they queue in order.
    let writes = (0..20u8).map(|i| {
        let f = f.clone();
        async move { (f.write(vec![i]).await, f.tell().await) }
    });
    let results = futures::future::join_all(writes).await;
    assert!(results.iter().all(|(w, _)| *w == Ok(1)));
    assert_eq!(f.seek(0, Whence::Start).await, Ok(0));
    assert_eq!(f.read_all().await.unwrap(), (0..20u8).collect::<Vec<_>>());

    // Mixed kinds: every read sees exactly the writes issued before it.
    assert_eq!(f.seek(0, Whence::Start).await, Ok(0));
    let (a, b, c, d) = tokio::join!(
        f.write(b"AB".to_vec()),
        f.read(2),
        f.seek(0, Whence::Start),
        f.read(4),
    );
    assert_eq!(a, Ok(2));
    assert_eq!(b.unwrap(), [2, 3]);
    assert_eq!(c, Ok(0));
    assert_eq!(d.unwrap(), b"AB\x02\x03");
}

/// A pool gate: jobs announce that they started, then wait until the gate opens.
#[derive(Clone, Default)]
struct Gate(Arc<(StdMutex<bool>, std::sync::Condvar)>);

impl Gate {
    fn wait(&self) {
        let (open, cv) = &*self.0;
        let mut open = open.lock().unwrap();
        while !*open {
            open = cv.wait(open).unwrap();
        }
    }
    fn open(&self) {
        let (open, cv) = &*self.0;
        *open.lock().unwrap() = true;
        cv.notify_all();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_queued_operations_do_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Gate::default();
    let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel();
    let hook: crate::pool::JobHook = {
        let gate = gate.clone();
        Arc::new(move || {
            let _ = started_tx.send(());
            gate.wait();
        })
    };
    let fs = store(
        crate::fs::tests::pooled(Limits::default()),
        Pool::with_hook(1, Some(hook)),
    );
    for name in ["one", "two"] {
        std::fs::write(dir.path().join(name), b"l1\nl2\nl3\n").unwrap();
    }
    let one = open_in(&fs, &dir.path().join("one"), "rb");
    let two = open_in(&fs, &dir.path().join("two"), "rb");

    // `one`'s first read occupies the only pool thread.
    let first = tokio::spawn({
        let one = one.clone();
        async move { one.read_line().await }
    });
    started_rx.recv().await.unwrap();

    // A read of `one` waiting for the file's lock, and a read of `two` waiting in the
    // pool's queue: both dropped before they start.
    let mut waiting_for_lock = Box::pin(one.read_line());
    assert!(futures::poll!(waiting_for_lock.as_mut()).is_pending());
    let mut waiting_for_thread = Box::pin(two.read_line());
    assert!(futures::poll!(waiting_for_thread.as_mut()).is_pending());
    drop(waiting_for_lock);
    drop(waiting_for_thread);

    gate.open();
    assert_eq!(first.await.unwrap().unwrap(), b"l1\n");
    assert_eq!(
        one.read_line().await.unwrap(),
        b"l2\n",
        "nothing lost on one"
    );
    assert_eq!(
        two.read_line().await.unwrap(),
        b"l1\n",
        "nothing lost on two"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_fs_open_and_tempfile() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = cap_std::fs::Dir::open_ambient_dir(tmp.path(), cap_std::ambient_authority()).unwrap();
    let mut grants = Grants::default();
    grants.push(crate::grant::Grant {
        store: crate::grant::Store::Local(Arc::new(dir)),
        guest_path: crate::grant::normalize_mount("/data").unwrap(),
        perms: crate::Perms::ReadWrite,
    });
    let fs = Fs::new(grants, Limits::default(), Pool::new(2));
    std::fs::write(tmp.path().join("log"), "a\r\n").unwrap();

    let f = fs.open("/data/log".into(), "a+").await.unwrap();
    assert_eq!(fs.open_files(), 1);
    assert_eq!(f.tell().await, Ok(3));
    assert_eq!(f.seek(0, Whence::Start).await, Ok(0));
    assert_eq!(f.write_text("b\n".into()).await, Ok(2), "appended");
    assert_eq!(f.tell().await, Ok(5));
    assert_eq!(f.seek(0, Whence::Start).await, Ok(0));
    assert_eq!(f.read_all_text().await.unwrap(), "a\nb\n");
    f.close().await.unwrap();
    assert_eq!(fs.open_files(), 0, "close released the open-file slot");
    assert_eq!(std::fs::read(tmp.path().join("log")).unwrap(), b"a\r\nb\n");

    let t = fs
        .named_temporary_file("w+b".into(), super::super::TempOptions::default(), true)
        .await
        .unwrap();
    let host = tmp.path().join(t.name().trim_start_matches("/data/"));
    assert!(host.exists(), "{host:?}");
    assert_eq!(t.write(b"tmp".to_vec()).await, Ok(3));
    t.close().await.unwrap();
    assert!(!host.exists(), "deleted on close");
    assert_eq!(fs.open_files(), 0);
}

/// Text decoding is linear whatever the content: every byte is validated a bounded number
/// of times (at most 4 for one-character reads, which look at 4 bytes each),
/// however many `\r`, `\r\n` or multi-byte characters the text holds and however it is
/// read (4 MiB of `\r` took 31 s before: the rest of the window was re-validated per `\r`).
#[test]
fn read_chars_is_linear_in_bytes() {
    let inputs: [(&str, Vec<u8>); 4] = [
        ("cr", vec![b'\r'; 1 << 20]),
        ("crlf", b"ab\r\n".repeat(1 << 18)),
        ("lf", b"ab\n".repeat(1 << 18)),
        ("mixed", "é\r€\r\n😀x\n".repeat(1 << 16).into_bytes()),
    ];
    for (name, data) in inputs {
        let file = super::Handle::Local(temp_with(&data));
        for n in [1usize, 7, 4096, 1 << 20] {
            VALIDATED.with(|v| v.set(0));
            let mut cur = Cursor::new(false, 64 * 1024, test_held());
            let mut chars = 0;
            loop {
                let text = cur.read_chars(&file, n, 1 << 20).unwrap();
                if text.is_empty() {
                    break;
                }
                chars += text.chars().count();
            }
            let validated = VALIDATED.with(|v| v.get());
            assert!(chars > 0, "{name}");
            assert!(
                validated <= 4 * data.len() as u64 + 64,
                "{name}, n={n}: validated {validated} bytes for {} bytes of text",
                data.len()
            );
        }
    }
}

/// `write-lines` writes the lines in order without joining them into a second whole copy:
/// small ones are gathered into writes of at most 1 MiB, a big one is written from where
/// it is; in append mode as at a position. The file is exactly the lines joined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_lines_gathers_without_a_second_copy() {
    let fs = store(Limits::default(), Pool::new(2));
    let dir = tempfile::tempdir().unwrap();
    let mut lines: Vec<Vec<u8>> = (0..30_000)
        .map(|i| format!("{i:06}\n").into_bytes())
        .collect();
    lines.insert(20_000, vec![b'B'; 3 << 20]);
    lines.push(vec![b'e'; 5]);
    let want = lines.concat();
    for mode in ["wb", "ab"] {
        let path = dir.path().join(mode);
        std::fs::write(&path, b"").unwrap();
        let f = open_in(&fs, &path, mode);
        assert_eq!(f.write_lines(lines.clone()).await, Ok(want.len() as u64));
        assert_eq!(f.tell().await, Ok(want.len() as u64));
        f.close().await.unwrap();
        assert!(std::fs::read(&path).unwrap() == want, "{mode}");
    }
    let path = dir.path().join("t");
    std::fs::write(&path, b"").unwrap();
    let t = open_in(&fs, &path, "w");
    let text: Vec<String> = (0..1000).map(|i| format!("é{i}\n")).collect();
    let chars: usize = text.iter().map(|l| l.chars().count()).sum();
    assert_eq!(t.write_lines_text(text.clone()).await, Ok(chars as u64));
    t.close().await.unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text.concat());
    assert_eq!(fs.held_bytes(), 0);
}
