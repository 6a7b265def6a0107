//! Position, read-ahead buffer and text decoding of one open file.
//!
//! Everything here runs on a pool thread with the file's lock held. Reads go through a
//! read-ahead buffer filled in [`READ_AHEAD`] chunks and kept across calls (writes, seeks
//! and truncation discard it); line ends are found with `memchr`. Text is UTF-8 with
//! universal newlines (`\r\n` and a lone `\r` read as `\n`), decoded correctly when a
//! `\r\n` pair or a multi-byte character straddles a chunk boundary.

use super::handle::Handle;
use crate::error::{ErrorCode, FsResult};
use crate::fs::held::Held;
use std::io;

/// Bytes the read-ahead buffer asks the OS for at a time.
pub(super) const READ_AHEAD: usize = 32 * 1024;

/// Most buffer capacity a file keeps between operations: after a long line or a big
/// text read the buffer is cut back to this (keeping up to this many unconsumed bytes).
pub(crate) const IDLE_BUFFER: usize = 64 * 1024;

/// Read-ahead of an object (one request per fill): what a file keeps between operations,
/// so line-by-line reading does not fetch the same bytes twice.
#[cfg(feature = "object")]
pub(super) const OBJECT_READ_AHEAD: usize = IDLE_BUFFER;

/// The smallest per-call byte limit used for text: one UTF-8 character is at most 4 bytes,
/// so a window this large always holds at least one whole character.
const MIN_TEXT_LIMIT: usize = 4;

#[cfg(test)]
thread_local! {
    /// Bytes `read_chars` has run UTF-8 validation over on this thread (tests check that
    /// decoding is linear).
    pub(super) static VALIDATED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Universal newlines, in place and in one pass: `\r\n` and lone `\r` become `\n`.
/// Works on bytes (both are ASCII, so UTF-8 validity is unchanged).
pub(super) fn translate_newlines(data: &mut Vec<u8>) {
    let Some(first) = memchr::memchr(b'\r', data) else {
        return;
    };
    let mut write = first;
    let mut read = first;
    while read < data.len() {
        let Some(i) = memchr::memchr(b'\r', &data[read..]) else {
            data.copy_within(read.., write);
            write += data.len() - read;
            break;
        };
        data.copy_within(read..read + i, write);
        write += i;
        data[write] = b'\n';
        write += 1;
        read += i + 1;
        if data.get(read) == Some(&b'\n') {
            read += 1;
        }
    }
    data.truncate(write);
}

/// Append up to `max` bytes of `file` from `offset` to `out`; returns how many (0 at end
/// of file). Nothing is appended on error. Reserve before calling; `out` grows only if
/// the file turns out longer than that.
fn read_up_to(file: &Handle, offset: u64, max: usize, out: &mut Vec<u8>) -> io::Result<usize> {
    file.read_up_to(offset, max, out)
}

/// `Vec::try_reserve_exact`, as an I/O error when memory runs out.
fn reserve(out: &mut Vec<u8>, additional: usize) -> io::Result<()> {
    out.try_reserve_exact(additional)
        .map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))
}

/// Where a scanned line ends, relative to the read-ahead cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LineEnd {
    /// Bytes before the line terminator.
    content: usize,
    /// Length of the terminator: 0 (end of file or limit), 1 (`\n`, or `\r` in text
    /// mode) or 2 (`\r\n` in text mode).
    term: usize,
}

impl LineEnd {
    fn total(&self) -> usize {
        self.content + self.term
    }
}

/// The position of a file and its read-ahead buffer.
///
/// Invariant: `buf[off..]` holds the bytes of the file at `pos..`, as read at fill time.
/// Nothing here consumes input until an operation has succeeded, so a failed operation
/// (invalid UTF-8, an I/O error) leaves the position where it was.
pub(super) struct Cursor {
    /// The position (`tell`), valid unless `at_end_pending`.
    pub(super) pos: u64,
    /// Append mode before the first operation that needs the position: it is the end of
    /// the file, resolved lazily with `fstat` on the pool.
    pub(super) at_end_pending: bool,
    /// Read-ahead data; `buf[off..]` is unconsumed.
    buf: Vec<u8>,
    /// Consumed prefix of `buf`.
    off: usize,
    /// Bytes to read per fill.
    chunk: usize,
    /// `buf`'s capacity, charged to the store's memory budget.
    held: Held,
}

impl Cursor {
    pub(super) fn new(at_end: bool, chunk: usize, held: Held) -> Cursor {
        Cursor {
            pos: 0,
            at_end_pending: at_end,
            buf: Vec::new(),
            off: 0,
            chunk: chunk.max(1),
            held,
        }
    }

    /// After an operation: cut the buffer back to [`IDLE_BUFFER`], keeping what is
    /// unconsumed when it fits (else dropping the read-ahead; it is re-read when needed).
    pub(super) fn trim(&mut self) {
        if self.buf.capacity() > IDLE_BUFFER {
            let rest = self.buf.len() - self.off;
            let kept = if rest == 0 || rest > IDLE_BUFFER {
                Vec::new()
            } else {
                self.avail().to_vec()
            };
            self.buf = kept;
            self.off = 0;
        }
        self.held.settle(self.buf.capacity() as u64);
    }

    /// The position, resolving a pending "end of file".
    pub(super) fn resolve(&mut self, file: &Handle) -> io::Result<u64> {
        if self.at_end_pending {
            self.pos = file.len()?;
            self.at_end_pending = false;
        }
        Ok(self.pos)
    }

    /// Unconsumed read-ahead bytes.
    fn avail(&self) -> &[u8] {
        &self.buf[self.off..]
    }

    /// Read one more chunk after the buffered bytes; returns the bytes added (0 at end of
    /// file). Unconsumed bytes are kept (moved to the front), so offsets relative to the
    /// cursor stay valid across fills.
    fn fill(&mut self, file: &Handle) -> io::Result<usize> {
        let pos = self.resolve(file)?;
        if self.off > 0 {
            self.buf.drain(..self.off);
            self.off = 0;
        }
        let start = self.buf.len();
        // Grow geometrically (a long line fills many chunks), charging the budget first.
        let cap = self.buf.capacity();
        if cap - start < self.chunk {
            let new_cap = (start + self.chunk).max(cap.saturating_mul(2));
            self.held
                .resize(new_cap as u64)
                .map_err(|_| io::Error::from(io::ErrorKind::QuotaExceeded))?;
            reserve(&mut self.buf, new_cap - start)?;
        }
        read_up_to(file, pos + start as u64, self.chunk, &mut self.buf)
    }

    /// Consume `n` buffered bytes.
    fn consume(&mut self, n: usize) {
        self.off += n;
        self.pos += n as u64;
        if self.off >= self.buf.len() {
            self.invalidate();
        }
    }

    /// Drop the read-ahead (after a write, seek or truncate).
    pub(super) fn invalidate(&mut self) {
        self.buf.clear();
        self.off = 0;
    }

    /// Where the cursor stands, to [`rewind`](Cursor::rewind) to.
    pub(super) fn mark(&self) -> (u64, bool) {
        (self.pos, self.at_end_pending)
    }

    /// Go back to `mark` if anything was consumed since (an attempt from the caches gave
    /// up after a call had consumed what it gathered): the read-ahead is dropped and
    /// read again from the file.
    pub(super) fn rewind(&mut self, mark: (u64, bool)) {
        if self.mark() != mark {
            (self.pos, self.at_end_pending) = mark;
            self.invalidate();
        }
    }

    /// Drop the read-ahead and its memory (the file is closed).
    pub(super) fn release(&mut self) {
        self.buf = Vec::new();
        self.off = 0;
        self.held.settle(0);
    }

    /// Advance past `n` bytes read directly (not through the buffer) from the position.
    pub(super) fn skip_all(&mut self, n: usize) {
        self.invalidate();
        self.pos += n as u64;
    }

    /// Move to `base + offset`; `invalid` if negative, `overflow` past `i64::MAX`.
    pub(super) fn seek_to(&mut self, base: u64, offset: i64) -> FsResult<u64> {
        let target = i128::from(base) + i128::from(offset);
        if target < 0 {
            return Err(ErrorCode::Invalid);
        }
        let target = i64::try_from(target).map_err(|_| ErrorCode::Overflow)? as u64;
        if target != self.pos || self.at_end_pending {
            self.invalidate();
        }
        self.pos = target;
        self.at_end_pending = false;
        Ok(target)
    }

    /// Up to `n` bytes from the position (fewer only at end of file).
    pub(super) fn read_bytes(&mut self, file: &Handle, n: usize) -> io::Result<Vec<u8>> {
        self.resolve(file)?;
        let avail = self.avail();
        if avail.len() >= n {
            let out = avail[..n].to_vec();
            self.consume(n);
            return Ok(out);
        }
        let from = self.pos + avail.len() as u64;
        let mut want = n - avail.len();
        if want > READ_AHEAD {
            // Size a large read by what is left of the file, so that a huge `n` on a
            // small file allocates little and a big read never has to grow.
            let left = file.len()?.saturating_sub(from);
            want = want.min(usize::try_from(left).unwrap_or(usize::MAX));
        }
        let mut out = Vec::new();
        reserve(&mut out, avail.len() + want)?;
        out.extend_from_slice(self.avail());
        read_up_to(file, from, n - out.len(), &mut out)?;
        // Charged at its length (a stream holds a chunk until the reader takes it): a read
        // cut short by the end of the file gives the rest of its reservation back.
        out.shrink_to_fit();
        self.skip_all(out.len());
        Ok(out)
    }

    /// Everything from the position to end of file, without consuming it; `quota` if that
    /// is more than `limit` bytes.
    pub(super) fn peek_all(&mut self, file: &Handle, limit: u64) -> FsResult<Vec<u8>> {
        let pos = self.resolve(file)?;
        let remaining = file.len()?.saturating_sub(pos);
        if remaining > limit {
            return Err(ErrorCode::Quota);
        }
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        // Fallible: with the read limits lifted, `remaining` is whatever the file says.
        let mut out = Vec::new();
        out.try_reserve_exact(usize::try_from(remaining).unwrap_or(usize::MAX))
            .map_err(|_| ErrorCode::InsufficientMemory)?;
        out.extend_from_slice(self.avail());
        // Read one byte past the limit to notice a file that grew since the fstat.
        let from = pos + out.len() as u64;
        let room = limit.saturating_add(1).saturating_sub(out.len());
        read_up_to(file, from, room, &mut out)?;
        if out.len() > limit {
            return Err(ErrorCode::Quota);
        }
        Ok(out)
    }

    /// Find the end of the line at the cursor without consuming it, looking at no more than
    /// `limit` bytes of content. Binary lines end after `\n`; text lines after `\n`, `\r\n`
    /// or a lone `\r` (the byte after a `\r` is read even when it lies past `limit`).
    fn scan_line(&mut self, file: &Handle, limit: usize, text: bool) -> io::Result<LineEnd> {
        let mut scanned = 0;
        loop {
            let avail = self.avail();
            let end = avail.len().min(limit);
            let hay = &avail[scanned..end];
            let found = if text {
                memchr::memchr2(b'\n', b'\r', hay)
            } else {
                memchr::memchr(b'\n', hay)
            };
            if let Some(i) = found {
                let at = scanned + i;
                if avail[at] == b'\n' {
                    return Ok(LineEnd {
                        content: at,
                        term: 1,
                    });
                }
                if at + 1 == avail.len() {
                    self.fill(file)?;
                }
                let term = if self.avail().get(at + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                return Ok(LineEnd { content: at, term });
            }
            scanned = end;
            if scanned >= limit || self.fill(file)? == 0 {
                return Ok(LineEnd {
                    content: scanned,
                    term: 0,
                });
            }
        }
    }

    /// One binary line (through its `\n`), or a piece of at most `limit` bytes.
    pub(super) fn read_line_bytes(&mut self, file: &Handle, limit: usize) -> io::Result<Vec<u8>> {
        self.resolve(file)?;
        let line = self.scan_line(file, limit.max(1), false)?;
        let out = self.avail()[..line.total()].to_vec();
        self.consume(line.total());
        Ok(out)
    }

    /// Up to `max` binary lines, stopping once `limit` bytes were gathered. A read error
    /// after some lines ends the batch (the next call reports it).
    pub(super) fn read_lines_bytes(
        &mut self,
        file: &Handle,
        max: usize,
        limit: usize,
    ) -> FsResult<Vec<Vec<u8>>> {
        self.resolve(file)?;
        let limit = limit.max(1);
        let max = cached_lines(max);
        let mut lines = Vec::new();
        let mut gathered = 0;
        while lines.len() < max && gathered < limit {
            let room = limit - gathered;
            let line = match self.scan_line(file, room, false) {
                Ok(line) => line,
                Err(_) if !lines.is_empty() => break,
                Err(e) => return Err(e.into()),
            };
            if line.total() == 0 {
                break;
            }
            // A line cut short by the remaining room waits for the next call, unless it
            // is the first: then it is a piece of a line longer than the limit.
            if line.term == 0 && line.content == room && !lines.is_empty() {
                break;
            }
            lines.push(self.avail()[..line.total()].to_vec());
            self.consume(line.total());
            gathered += line.total();
        }
        Ok(lines)
    }

    /// One text line, newline translated. A line longer than `limit` bytes comes in pieces
    /// cut at character boundaries. Invalid UTF-8 in the line fails and consumes nothing.
    pub(super) fn read_line_text(&mut self, file: &Handle, limit: usize) -> FsResult<String> {
        self.resolve(file)?;
        let limit = limit.max(MIN_TEXT_LIMIT);
        let line = self.scan_line(file, limit, true)?;
        let (text, used) = decode_line(&self.avail()[..line.content], line, limit)?;
        self.consume(used);
        Ok(text)
    }

    /// Up to `max` text lines, stopping once `limit` bytes were gathered. Invalid UTF-8 (or
    /// a read error) after some lines ends the batch; the next call reports it.
    pub(super) fn read_lines_text(
        &mut self,
        file: &Handle,
        max: usize,
        limit: usize,
    ) -> FsResult<Vec<String>> {
        self.resolve(file)?;
        let limit = limit.max(MIN_TEXT_LIMIT);
        let max = cached_lines(max);
        let mut lines = Vec::new();
        let mut gathered = 0;
        while lines.len() < max && gathered < limit {
            let room = limit - gathered;
            if room < MIN_TEXT_LIMIT && !lines.is_empty() {
                break;
            }
            let decoded = self
                .scan_line(file, room, true)
                .map_err(ErrorCode::from)
                .and_then(|line| {
                    if line.total() == 0 {
                        return Ok(None);
                    }
                    if line.term == 0 && line.content == room && !lines.is_empty() {
                        return Ok(None);
                    }
                    decode_line(&self.avail()[..line.content], line, room).map(Some)
                });
            match decoded {
                Ok(Some((text, used))) => {
                    self.consume(used);
                    gathered += used;
                    lines.push(text);
                }
                Ok(None) => break,
                Err(_) if !lines.is_empty() => break,
                Err(e) => return Err(e),
            }
        }
        Ok(lines)
    }

    /// Up to `n` characters, newline translated, from at most about `limit` bytes. Invalid
    /// UTF-8 ends the read early; if it is the very first thing, the read fails with
    /// `illegal-byte-sequence` and consumes nothing.
    pub(super) fn read_chars(&mut self, file: &Handle, n: usize, limit: usize) -> FsResult<String> {
        self.resolve(file)?;
        let limit = limit.max(MIN_TEXT_LIMIT);
        let mut out = String::new();
        let mut count = 0;
        // Bytes decoded so far, relative to the cursor; consumed only at the end.
        let mut used = 0;
        while count < n && used < limit {
            if used == self.avail().len() && self.fill(file)? == 0 {
                break;
            }
            let avail = self.avail();
            let end = avail.len().min(limit);
            // Validate only what this read can use: the next `n - count` characters at
            // most (4 bytes each). Everything validated is then consumed (newlines
            // translated in the same pass) unless the read ends, so decoding is linear in
            // the bytes returned, whatever the content and however small `n` is.
            let window = &avail[used..end];
            let cap = (n - count).saturating_mul(4).max(MIN_TEXT_LIMIT);
            let window = &window[..window.len().min(cap)];
            #[cfg(test)]
            VALIDATED.with(|v| v.set(v.get() + window.len() as u64));
            let (valid, bad) = match std::str::from_utf8(window) {
                Ok(s) => (s, None),
                Err(e) => (
                    std::str::from_utf8(&window[..e.valid_up_to()]).unwrap_or_default(),
                    Some(e.error_len()),
                ),
            };
            let took = take_chars(valid, n - count, &mut out, limit);
            used += took.bytes;
            count += took.chars;
            if took.cr {
                // A `\r` became `\n`; a `\n` right after it belongs to the same newline.
                if used == self.avail().len() {
                    self.fill(file)?;
                }
                if self.avail().get(used) == Some(&b'\n') {
                    used += 1;
                }
                continue;
            }
            if took.bytes < valid.len() || count == n {
                break;
            }
            match bad {
                None => {}
                Some(Some(_)) => {
                    if count == 0 {
                        return Err(ErrorCode::IllegalByteSequence);
                    }
                    break;
                }
                // A character cut by the end of the window.
                Some(None) => {
                    if end < avail.len() {
                        // Cut by the byte limit: stop before it.
                        break;
                    }
                    if self.fill(file)? == 0 {
                        if count == 0 {
                            return Err(ErrorCode::IllegalByteSequence);
                        }
                        break;
                    }
                }
            }
        }
        self.consume(used);
        // Charged at its length once returned: give back what the last growth reserved.
        out.shrink_to_fit();
        Ok(out)
    }

    /// [`write`](Cursor::write) of `parts` one after another, gathered into writes of at
    /// most [`WRITE_GATHER`] bytes: the copy is that big at most, never a second copy of
    /// the whole payload (which the caller charged once); a part that size or bigger is
    /// written from where it is.
    pub(super) fn write_parts<'a>(
        &mut self,
        file: &Handle,
        parts: impl Iterator<Item = &'a [u8]>,
        append: bool,
    ) -> io::Result<()> {
        let mut gathered = Vec::new();
        for part in parts {
            if !gathered.is_empty() && gathered.len() + part.len() > WRITE_GATHER {
                self.write(file, &gathered, append)?;
                gathered.clear();
            }
            if part.len() >= WRITE_GATHER {
                self.write(file, part, append)?;
            } else {
                gathered.extend_from_slice(part);
            }
        }
        if !gathered.is_empty() {
            self.write(file, &gathered, append)?;
        }
        Ok(())
    }

    /// Write `data` at the position (at the end in append mode) and advance past it.
    pub(super) fn write(&mut self, file: &Handle, data: &[u8], append: bool) -> io::Result<()> {
        self.invalidate();
        if append {
            // O_APPEND: the kernel writes at the end; the OS cursor then tells where that
            // was. If the write fails halfway, the end is found again when next needed.
            self.at_end_pending = true;
            self.pos = file.append(data)?;
            self.at_end_pending = false;
        } else {
            let pos = self.resolve(file)?;
            file.write_all_at(data, pos)?;
            self.pos = pos + data.len() as u64;
        }
        Ok(())
    }
}

/// Most bytes [`Cursor::write_parts`] gathers before writing them.
const WRITE_GATHER: usize = 1 << 20;

/// Most lines one call returns on the caller's thread (a cached attempt): each is an
/// allocation, and `max_inline_bytes` of one-byte lines would be tens of thousands of them
/// (milliseconds on the event loop). A shorter batch is allowed (only an empty one means
/// the end of the file); on the pool the guest's `max` stands.
const CACHED_LINES: usize = 1024;

/// `max`, capped at [`CACHED_LINES`] in a cached attempt.
fn cached_lines(max: usize) -> usize {
    if crate::fs::cached::trying() {
        max.min(CACHED_LINES)
    } else {
        max
    }
}

/// Decode one scanned text line: the content (must be UTF-8) plus `\n` if it had a
/// terminator. Returns the text and the bytes it used. A line cut by `limit` in the middle
/// of a character is shortened to the last whole character.
fn decode_line(content: &[u8], line: LineEnd, limit: usize) -> FsResult<(String, usize)> {
    match std::str::from_utf8(content) {
        Ok(s) => {
            let mut text = String::with_capacity(s.len() + usize::from(line.term > 0));
            text.push_str(s);
            if line.term > 0 {
                text.push('\n');
            }
            Ok((text, line.total()))
        }
        Err(e)
            if line.term == 0
                && line.content >= limit
                && e.error_len().is_none()
                && e.valid_up_to() > 0 =>
        {
            let s = std::str::from_utf8(&content[..e.valid_up_to()]).unwrap_or_default();
            Ok((s.to_owned(), s.len()))
        }
        Err(_) => Err(ErrorCode::IllegalByteSequence),
    }
}

/// What [`take_chars`] took.
struct Took {
    /// Bytes of the input.
    bytes: usize,
    /// Characters (a translated `\r` counts as one).
    chars: usize,
    /// The last character taken was a `\r` (now `\n` in the output).
    cr: bool,
}

/// Append up to `need` characters of `valid` to `out`, translating `\r\n` and a lone `\r`
/// to `\n`, in one pass however many there are. Stops early only when a `\r` is the last
/// byte of `valid` (`cr`: the caller looks at the next byte, a `\n` there belongs to it).
/// `out` grows to at most `limit` bytes, the read's charge (see [`push_within`]).
fn take_chars(valid: &str, need: usize, out: &mut String, limit: usize) -> Took {
    let bytes = valid.as_bytes();
    let mut pos = 0;
    let mut chars = 0;
    while chars < need {
        let rest = &valid[pos..];
        let cr_at = memchr::memchr(b'\r', rest.as_bytes());
        let segment = &rest[..cr_at.unwrap_or(rest.len())];
        let want = need - chars;
        // Where the `want`-th character ends: in ASCII text (checked a word at a time)
        // that is byte `want`, with no walk over the characters.
        let head = &segment.as_bytes()[..want.min(segment.len())];
        let seg_chars = if head.is_ascii() {
            if segment.len() > want {
                push_within(out, &segment[..want], limit);
                return Took {
                    bytes: pos + want,
                    chars: need,
                    cr: false,
                };
            }
            segment.len()
        } else if let Some((cut, _)) = segment.char_indices().nth(want) {
            push_within(out, &segment[..cut], limit);
            return Took {
                bytes: pos + cut,
                chars: need,
                cr: false,
            };
        } else {
            segment.chars().count()
        };
        push_within(out, segment, limit);
        chars += seg_chars;
        pos += segment.len();
        if cr_at.is_none() || chars == need {
            break;
        }
        push_within(out, "\n", limit);
        chars += 1;
        pos += 1;
        match bytes.get(pos) {
            None => {
                return Took {
                    bytes: pos,
                    chars,
                    cr: true,
                };
            }
            Some(b'\n') => pos += 1,
            Some(_) => {}
        }
    }
    Took {
        bytes: pos,
        chars,
        cr: false,
    }
}

/// `out.push_str(s)`, growing `out` geometrically like `push_str` but never past `limit`
/// bytes of capacity (unless `s` itself needs more): a text read is charged its byte
/// limit, and its output is never longer than the input it decoded, so doubling past
/// the limit would hold up to twice the charge.
fn push_within(out: &mut String, s: &str, limit: usize) {
    let need = out.len() + s.len();
    if need > out.capacity() {
        let target = need.max(out.capacity().saturating_mul(2).min(limit));
        out.reserve_exact(target - out.len());
    }
    out.push_str(s);
}
