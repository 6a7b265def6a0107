//! [`File`]: an open file, like the object `aiofiles.open` returns.

use std::fmt;
use std::future::IntoFuture;
use std::io::{self, SeekFrom};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use futures::io::AsyncBufRead;
use futures::stream::{self, LocalBoxStream, Stream, StreamExt, TryStreamExt};

use crate::Metadata;
use crate::bindings::aiofs::fs::{files, types};
use crate::error::{Context, Error, ErrorCode, Result};
use wit_bindgen::StreamResult;

/// How many lines [`File::lines`] (binary mode) fetches per host call.
pub const DEFAULT_LINE_BATCH: u32 = 256;

/// How many characters [`File::lines`] (text mode) fetches per host call.
const TEXT_CHUNK: usize = 256 * 1024;

/// How many bytes [`File::chunks`] asks the host stream for at a time.
const CHUNK: usize = 64 * 1024;

/// An open file, like the object `aiofiles.open` returns.
///
/// Created by [`open`](crate::open) (or [`File::open`]) with a Python mode string, or by
/// the [`tempfile`](crate::tempfile) functions. Files opened in binary mode (`b` in the
/// mode) use the byte methods ([`read`](File::read), [`write`](File::write), ...); text
/// files (no `b`) use the text methods ([`read_text`](File::read_text),
/// [`write_text`](File::write_text), ...). Calling the other kind fails with
/// [`ErrorCode::Invalid`].
///
/// Every method is one host call that runs on the host's thread pool; calls on one
/// file run in the order they were issued. Dropping a `File` closes it;
/// [`close`](File::close) does the same and reports a pending error.
///
/// ```no_run
/// # async fn demo() -> aiofs::Result<()> {
/// let f = aiofs::open("/data/notes.txt", "a").await?;
/// f.write_text("one more line\n").await?;
/// f.close().await?;
///
/// let f = aiofs::open("/data/notes.txt", "r").await?;
/// let text = f.read_to_string().await?;
/// # Ok(()) }
/// ```
pub struct File {
    raw: types::File,
    name: String,
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("name", &self.name)
            .field("handle", &self.raw.handle())
            .finish()
    }
}

impl File {
    /// Open `path` with a Python mode string; the same as [`aiofs::open`](crate::open).
    pub async fn open(path: impl AsRef<str>, mode: impl AsRef<str>) -> Result<File> {
        let path = path.as_ref();
        let raw = files::open(path.to_owned(), mode.as_ref().to_owned())
            .await
            .at("open", path)?;
        Ok(File {
            raw,
            name: path.to_owned(),
        })
    }

    /// Wrap a raw bindings handle (for instance one returned by
    /// [`bindings::aiofs::fs::tempfile`](crate::bindings::aiofs::fs::tempfile)).
    pub fn from_raw(raw: types::File) -> File {
        let name = raw.name();
        File { raw, name }
    }

    /// The raw bindings handle, to call a WIT method directly.
    pub fn as_raw(&self) -> &types::File {
        &self.raw
    }

    /// Give up the wrapper and return the raw bindings handle.
    pub fn into_raw(self) -> types::File {
        self.raw
    }

    /// The guest path the file was opened with (Python's `file.name`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The normalised mode string the file was opened with, e.g. `"rb"` or `"w+"`.
    pub fn mode(&self) -> String {
        self.raw.mode()
    }

    /// True if the file was opened in text mode.
    pub fn is_text(&self) -> bool {
        self.raw.is_text()
    }

    /// True once [`close`](File::close) was called.
    pub fn closed(&self) -> bool {
        self.raw.closed()
    }

    // ---- bytes ------------------------------------------------------------------------

    /// Read up to `n` bytes from the current position; empty at end of file. The host
    /// caps `n` at its per-read limit. Binary mode only.
    pub async fn read(&self, n: usize) -> Result<Vec<u8>> {
        self.raw.read(n as u64).await.at("read", &self.name)
    }

    /// Read from the current position to end of file in one host call. Fails with
    /// [`ErrorCode::Quota`] past the host's per-read limit (use
    /// [`copy_to_vec`](File::copy_to_vec) for big files). Binary mode only.
    pub async fn read_all(&self) -> Result<Vec<u8>> {
        self.raw.read_all().await.at("read", &self.name)
    }

    /// Read one line including its trailing `\n`; empty at end of file. Binary mode only.
    pub async fn read_line(&self) -> Result<Vec<u8>> {
        self.raw.read_line().await.at("read", &self.name)
    }

    /// Read up to `max` lines in one host call; empty at end of file. Binary mode only.
    pub async fn read_lines(&self, max: u32) -> Result<Vec<Vec<u8>>> {
        self.raw.read_lines(max).await.at("read", &self.name)
    }

    /// Write all of `data` (at the end in append mode); returns the bytes written.
    /// Binary mode only.
    pub async fn write(&self, data: impl Into<Vec<u8>>) -> Result<u64> {
        self.raw.write(data.into()).await.at("write", &self.name)
    }

    /// Write each buffer in order, in one host call; returns the bytes written. Binary
    /// mode only.
    pub async fn write_lines<I>(&self, lines: I) -> Result<u64>
    where
        I: IntoIterator,
        I::Item: Into<Vec<u8>>,
    {
        let lines = lines.into_iter().map(Into::into).collect();
        self.raw.write_lines(lines).await.at("write", &self.name)
    }

    // ---- text -------------------------------------------------------------------------

    /// Read up to `n` characters. Text mode only.
    pub async fn read_text(&self, n: usize) -> Result<String> {
        self.raw.read_text(n as u64).await.at("read", &self.name)
    }

    /// Read from the current position to end of file as a string, in one host call.
    /// Text mode only; fails with [`ErrorCode::Quota`] past the host's per-read limit.
    pub async fn read_to_string(&self) -> Result<String> {
        self.raw.read_all_text().await.at("read", &self.name)
    }

    /// Read one line including its trailing `\n`; empty at end of file. Text mode only.
    pub async fn read_line_text(&self) -> Result<String> {
        self.raw.read_line_text().await.at("read", &self.name)
    }

    /// Read up to `max` lines in one host call; empty at end of file. Text mode only.
    pub async fn read_lines_text(&self, max: u32) -> Result<Vec<String>> {
        self.raw.read_lines_text(max).await.at("read", &self.name)
    }

    /// Write a string; returns the number of characters written. Text mode only.
    pub async fn write_text(&self, text: impl Into<String>) -> Result<u64> {
        self.raw
            .write_text(text.into())
            .await
            .at("write", &self.name)
    }

    /// Write each string in order, in one host call; returns the characters written.
    /// Text mode only.
    pub async fn write_lines_text<I>(&self, lines: I) -> Result<u64>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let lines = lines.into_iter().map(Into::into).collect();
        self.raw
            .write_lines_text(lines)
            .await
            .at("write", &self.name)
    }

    // ---- line streams -----------------------------------------------------------------

    /// The remaining lines as a [`Stream`] of strings (each with its trailing `\n`, the
    /// last one without if the file does not end in a newline): one host call per large
    /// chunk, never one per line.
    ///
    /// In text mode the host sends the text 256 Ki characters at a time (`read-text`:
    /// universal newlines, and invalid UTF-8 fails without consuming anything) and the
    /// lines are split off here, which is much cheaper than a host call that returns a
    /// `list<string>` (the host must call into the guest to allocate every line). The
    /// lines before invalid UTF-8 are yielded, then [`ErrorCode::IllegalByteSequence`]. The
    /// position runs ahead of the lines yielded by up to one chunk.
    ///
    /// In binary mode it uses `read-lines`, [`DEFAULT_LINE_BATCH`] lines per call, and a
    /// batch holding a line that is not UTF-8 yields [`ErrorCode::IllegalByteSequence`]
    /// after the batch was consumed; use [`byte_lines`](File::byte_lines) for such files.
    ///
    /// ```no_run
    /// # async fn demo() -> aiofs::Result<()> {
    /// use futures::TryStreamExt;
    /// let f = aiofs::open("/data/log.txt", "r").await?;
    /// let mut lines = f.lines();
    /// while let Some(line) = lines.try_next().await? {
    ///     print!("{line}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn lines(&self) -> Lines<'_, String> {
        if !self.is_text() {
            return self.lines_batched(DEFAULT_LINE_BATCH);
        }
        Lines::new(stream::try_unfold(
            (self, String::new()),
            |(f, mut partial)| async move {
                loop {
                    let chunk = f.read_text(TEXT_CHUNK).await?;
                    if chunk.is_empty() {
                        // End of file: a last line without a newline, then the end.
                        let last = std::mem::take(&mut partial);
                        return Ok((!last.is_empty()).then(|| (vec![last], (f, partial))));
                    }
                    let lines = split_lines(&mut partial, &chunk);
                    if !lines.is_empty() {
                        return Ok(Some((lines, (f, partial))));
                    }
                }
            },
        ))
    }

    /// Like [`lines`](File::lines), fetching `batch` lines per host call with
    /// `read-lines-text` (text mode) or `read-lines` (binary mode).
    pub fn lines_batched(&self, batch: u32) -> Lines<'_, String> {
        let batch = batch.max(1);
        if self.is_text() {
            Lines::new(stream::try_unfold(self, move |f| async move {
                let lines = f.read_lines_text(batch).await?;
                Ok(non_empty(lines).map(|l| (l, f)))
            }))
        } else {
            Lines::new(stream::try_unfold(self, move |f| async move {
                let lines = f.read_lines(batch).await?;
                let lines = lines
                    .into_iter()
                    .map(|l| {
                        String::from_utf8(l)
                            .map_err(|_| f.error("read", ErrorCode::IllegalByteSequence))
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(non_empty(lines).map(|l| (l, f)))
            }))
        }
    }

    /// The remaining lines as a [`Stream`] of byte buffers (each with its trailing
    /// `\n`), fetched `batch` per host call. Binary mode only.
    pub fn byte_lines(&self, batch: u32) -> Lines<'_, Vec<u8>> {
        let batch = batch.max(1);
        Lines::new(stream::try_unfold(self, move |f| async move {
            let lines = f.read_lines(batch).await?;
            Ok(non_empty(lines).map(|l| (l, f)))
        }))
    }

    // ---- position and metadata ----------------------------------------------------------

    /// Move the position and return the new one, in bytes from the start (also in
    /// text mode). A negative result fails with [`ErrorCode::Invalid`].
    pub async fn seek(&self, pos: SeekFrom) -> Result<u64> {
        let (offset, whence) = seek_args(pos).map_err(|c| self.error("seek", c))?;
        self.raw.seek(offset, whence).await.at("seek", &self.name)
    }

    /// Go back to the start of the file.
    pub async fn rewind(&self) -> Result<()> {
        self.seek(SeekFrom::Start(0)).await.map(drop)
    }

    /// The current position, in bytes from the start.
    pub async fn tell(&self) -> Result<u64> {
        self.raw.tell().await.at("tell", &self.name)
    }

    /// Resize the file to `size`, or to the current position with `None`; returns the
    /// new size. The position does not move.
    pub async fn truncate(&self, size: Option<u64>) -> Result<u64> {
        self.raw.truncate(size).await.at("truncate", &self.name)
    }

    /// Wait until every earlier operation on this file has completed (aiofs does not
    /// buffer writes, so there is never data to push out).
    pub async fn flush(&self) -> Result<()> {
        self.raw.flush().await.at("flush", &self.name)
    }

    /// Flush data and metadata to the storage device (`fsync`).
    pub async fn sync(&self) -> Result<()> {
        self.raw.sync().await.at("sync", &self.name)
    }

    /// Flush data to the storage device (`fdatasync`).
    pub async fn sync_data(&self) -> Result<()> {
        self.raw.sync_data().await.at("sync", &self.name)
    }

    /// Metadata of the open file (`fstat`).
    pub async fn stat(&self) -> Result<Metadata> {
        self.raw.stat().await.at("stat", &self.name)
    }

    /// Close the file. Later calls fail with [`ErrorCode::BadDescriptor`]. Reports the
    /// first error of a write stream that nobody observed, if any.
    pub async fn close(&self) -> Result<()> {
        self.raw.close().await.at("close", &self.name)
    }

    // ---- streams ----------------------------------------------------------------------

    /// The rest of the file as a [`Stream`] of byte chunks, sent by the host over a WIT
    /// `stream<u8>` (`read-via-stream`): no per-read limit, few host round trips. The
    /// position advances as chunks are delivered. Dropping the stream stops the host.
    /// Binary mode only.
    ///
    /// ```no_run
    /// # async fn demo() -> aiofs::Result<()> {
    /// use futures::TryStreamExt;
    /// let f = aiofs::open("/data/big.bin", "rb").await?;
    /// let mut total = 0;
    /// let mut chunks = f.chunks();
    /// while let Some(chunk) = chunks.try_next().await? {
    ///     total += chunk.len();
    /// }
    /// # Ok(()) }
    /// ```
    pub fn chunks(&self) -> Chunks {
        let (rx, done) = self.raw.read_via_stream();
        let name = self.name.clone();
        enum State {
            Reading(
                wit_bindgen::StreamReader<u8>,
                wit_bindgen::FutureReader<std::result::Result<(), ErrorCode>>,
            ),
            Done,
        }
        let inner = stream::unfold(State::Reading(rx, done), move |state| {
            let name = name.clone();
            async move {
                let State::Reading(mut rx, done) = state else {
                    return None;
                };
                loop {
                    let (status, buf) = rx.read(Vec::with_capacity(CHUNK)).await;
                    if !buf.is_empty() {
                        return Some((Ok(buf), State::Reading(rx, done)));
                    }
                    if status != StreamResult::Complete(0) {
                        break;
                    }
                }
                drop(rx);
                match done.await {
                    Ok(()) => None,
                    Err(code) => Some((Err(Error::with_path(code, "read", &name)), State::Done)),
                }
            }
        });
        Chunks {
            inner: inner.boxed_local(),
        }
    }

    /// Read the rest of the file through [`chunks`](File::chunks) into one buffer; unlike
    /// [`read_all`](File::read_all) this has no per-call size limit. Binary mode only.
    pub async fn copy_to_vec(&self) -> Result<Vec<u8>> {
        self.chunks().try_concat().await
    }

    /// An [`AsyncBufRead`] (and so [`AsyncRead`](futures::io::AsyncRead)) over the rest of the file (built on
    /// [`chunks`](File::chunks)), for code written against `futures::io`. Binary mode only.
    pub fn reader(&self) -> impl AsyncBufRead + Unpin + 'static {
        self.chunks()
            .map_err(io::Error::from as fn(Error) -> io::Error)
            .into_async_read()
    }

    /// Write every chunk of `chunks` through one host `write-via-stream`; returns the
    /// bytes written. Stops at the first `Err` chunk and returns it (what was sent
    /// before stays written). Binary mode only.
    ///
    /// ```no_run
    /// # async fn demo() -> aiofs::Result<()> {
    /// use futures::stream;
    /// let f = aiofs::open("/data/out.bin", "wb").await?;
    /// let chunks = (0..100u8).map(|i| Ok(vec![i; 4096]));
    /// let n = f.write_from(stream::iter(chunks)).await?;
    /// assert_eq!(n, 409_600);
    /// # Ok(()) }
    /// ```
    pub async fn write_from<S>(&self, chunks: S) -> Result<u64>
    where
        S: Stream<Item = Result<Vec<u8>>>,
    {
        let (mut tx, rx) = crate::bindings::wit_stream::new::<u8>();
        let done = self.raw.write_via_stream(rx);
        let feed = async move {
            let mut chunks = std::pin::pin!(chunks);
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk?;
                if !chunk.is_empty() && !tx.write_all(chunk).await.is_empty() {
                    // The host hung up: its result below says why.
                    break;
                }
            }
            Ok(())
        };
        let (fed, written) = futures::join!(feed, done.into_future());
        let written = written.at("write", &self.name)?;
        fed.map(|()| written)
    }

    /// Write one buffer through a host stream (no per-call size limit, unlike
    /// [`write`](File::write)); returns the bytes written. Binary mode only.
    pub async fn write_all_stream(&self, data: impl Into<Vec<u8>>) -> Result<u64> {
        self.write_from(stream::iter([Ok(data.into())])).await
    }

    /// Copy the rest of this file to `dst` by handing this file's read stream straight
    /// to `dst`'s write stream: the bytes flow host to host and never enter the guest.
    /// Returns the bytes written. Both files must be in binary mode.
    pub async fn copy_to(&self, dst: &File) -> Result<u64> {
        let (rx, read_done) = self.raw.read_via_stream();
        let write_done = dst.raw.write_via_stream(rx);
        let (read, written) = futures::join!(read_done.into_future(), write_done.into_future());
        read.at("read", &self.name)?;
        written.at("write", &dst.name)
    }

    fn error(&self, operation: &'static str, code: ErrorCode) -> Error {
        Error::with_path(code, operation, &self.name)
    }
}

/// Split the complete lines (through their `\n`) off `partial` + `chunk`; what follows the
/// last `\n` stays in `partial` for the next chunk.
fn split_lines(partial: &mut String, chunk: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut parts = chunk.split_inclusive('\n');
    if !partial.is_empty()
        && let Some(first) = parts.next()
    {
        partial.push_str(first);
        if !partial.ends_with('\n') {
            return lines;
        }
        lines.push(std::mem::take(partial));
    }
    for part in parts {
        if part.ends_with('\n') {
            lines.push(part.to_owned());
        } else {
            partial.push_str(part);
        }
    }
    lines
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// Turn a [`SeekFrom`] into the WIT `seek` arguments.
pub(crate) fn seek_args(pos: SeekFrom) -> std::result::Result<(i64, types::Whence), ErrorCode> {
    Ok(match pos {
        SeekFrom::Start(n) => (
            i64::try_from(n).map_err(|_| ErrorCode::Invalid)?,
            types::Whence::Start,
        ),
        SeekFrom::Current(n) => (n, types::Whence::Current),
        SeekFrom::End(n) => (n, types::Whence::End),
    })
}

/// A [`Stream`] of the lines of a [`File`], fetched in batches (see [`File::lines`]).
///
/// `T` is `String` for [`File::lines`] and `Vec<u8>` for [`File::byte_lines`]. It is
/// `Unpin`, so `next()`/`try_next()` work without pinning.
pub struct Lines<'a, T> {
    /// The batches, one host call each.
    batches: LocalBoxStream<'a, Result<Vec<T>>>,
    /// What is left of the current batch.
    current: std::vec::IntoIter<T>,
}

impl<'a, T: 'a> Lines<'a, T> {
    fn new<S>(batches: S) -> Self
    where
        S: Stream<Item = Result<Vec<T>>> + 'a,
    {
        Lines {
            batches: batches.boxed_local(),
            current: Vec::new().into_iter(),
        }
    }
}

// Nothing in a `Lines` is ever pinned in place: the lines are moved out by value.
impl<T> Unpin for Lines<'_, T> {}

impl<T> Stream for Lines<'_, T> {
    type Item = Result<T>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let me = self.get_mut();
        loop {
            // Most lines come straight out of the current batch.
            if let Some(line) = me.current.next() {
                return Poll::Ready(Some(Ok(line)));
            }
            match std::task::ready!(me.batches.poll_next_unpin(cx)) {
                Some(Ok(batch)) => me.current = batch.into_iter(),
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => return Poll::Ready(None),
            }
        }
    }
}

impl<T> fmt::Debug for Lines<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lines").finish_non_exhaustive()
    }
}

/// A [`Stream`] of byte chunks of a [`File`], sent by the host (see [`File::chunks`]).
/// It does not borrow the file.
pub struct Chunks {
    inner: LocalBoxStream<'static, Result<Vec<u8>>>,
}

impl Stream for Chunks {
    type Item = Result<Vec<u8>>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

impl fmt::Debug for Chunks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chunks").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_chunks() {
        let mut partial = String::new();
        assert_eq!(split_lines(&mut partial, "a\nbb\nc"), ["a\n", "bb\n"]);
        assert_eq!(partial, "c");
        assert!(split_lines(&mut partial, "cc").is_empty(), "no newline yet");
        assert_eq!(partial, "ccc");
        assert_eq!(split_lines(&mut partial, "\n\nd\n"), ["ccc\n", "\n", "d\n"]);
        assert_eq!(partial, "");
        assert_eq!(split_lines(&mut partial, "é\nü"), ["é\n"]);
        assert_eq!(partial, "ü");
        assert!(split_lines(&mut partial, "").is_empty());
        assert_eq!(partial, "ü");
    }

    #[test]
    fn seek_from_maps_to_whence() {
        assert!(matches!(
            seek_args(SeekFrom::Start(7)),
            Ok((7, types::Whence::Start))
        ));
        assert!(matches!(
            seek_args(SeekFrom::Current(-3)),
            Ok((-3, types::Whence::Current))
        ));
        assert!(matches!(
            seek_args(SeekFrom::End(0)),
            Ok((0, types::Whence::End))
        ));
        assert_eq!(
            seek_args(SeekFrom::Start(u64::MAX)).err(),
            Some(ErrorCode::Invalid)
        );
    }
}
