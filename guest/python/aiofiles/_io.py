"""The file objects behind the async wrappers: aiofs files with Python's io semantics.

Three layers, like CPython's io module, but every method that touches the host is a
coroutine:

- `RawFile` (`buffering=0`, like `io.FileIO`): each call is one aiofs call.
- `BufferedFile` (binary, like `io.BufferedReader/Writer/Random`): writes are kept in
  the guest until `flush`, `close`, a seek/read, or the buffer filling up (so, as in
  CPython, written data is not on disk before `flush`); reads fetch large chunks, so
  `readline` and line iteration cost one host call per chunk, not per line.
- `TextFile` (text modes, like `io.TextIOWrapper`): decoding, encodings, `errors`,
  `newline` translation and the `newlines` record happen in the guest over a
  `BufferedFile`; the host file is always opened in binary mode.
"""

import codecs
import io
import os

from wit_world.imports.types import Whence

from . import _wit

# componentize-py snapshots the interpreter after the imports, and codecs are imported
# lazily on first lookup: look up the common ones now so `encoding=` finds them at run
# time (an app needing another codec looks it up at import time too).
for _name in ("utf-8", "utf-8-sig", "ascii", "latin-1", "cp1252", "utf-16", "utf-16-le",
              "utf-16-be", "utf-32", "iso8859-15"):
    codecs.lookup(_name)

# Bytes fetched per host call when a buffered file needs more data.
READ_CHUNK = 256 * 1024
_WHENCE = {os.SEEK_SET: Whence.START, os.SEEK_CUR: Whence.CURRENT, os.SEEK_END: Whence.END}


def _closed():
    return ValueError("I/O operation on closed file.")


class RawFile:
    """An open aiofs file without guest buffers (`io.FileIO`'s role)."""

    def __init__(self, res, name, mode, *, readable, writable, append):
        self._res = res
        self.name = name
        self.mode = mode
        self._readable = readable
        self._writable = writable
        self._append = append
        self.closed = False

    def _check(self, reading=False, writing=False):
        if self.closed:
            raise _closed()
        if reading and not self._readable:
            raise io.UnsupportedOperation("File not open for reading")
        if writing and not self._writable:
            raise io.UnsupportedOperation("File not open for writing")

    def _call(self, awaitable):
        return _wit.call(awaitable, self.name)

    def readable(self):
        if self.closed:
            raise _closed()
        return self._readable

    def writable(self):
        if self.closed:
            raise _closed()
        return self._writable

    def seekable(self):
        if self.closed:
            raise _closed()
        return True

    def isatty(self):
        if self.closed:
            raise _closed()
        return False

    def fileno(self):
        raise io.UnsupportedOperation("aiofs files have no file descriptor")

    async def read(self, size=-1):
        self._check(reading=True)
        if size is None or size < 0:
            return await self.readall()
        if size == 0:
            return b""
        return await self._call(self._res.read(size))

    async def readall(self):
        self._check(reading=True)
        try:
            return await self._call(self._res.read_all())
        except OSError as e:
            if e.errno != _wit.ERRNO[_wit.ErrorCode.QUOTA]:
                raise
        # Larger than one host call may return: read it in pieces.
        parts = []
        while True:
            chunk = await self._call(self._res.read(READ_CHUNK))
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)

    async def readinto(self, buffer):
        view = memoryview(buffer).cast("B")
        data = await self.read(len(view))
        view[: len(data)] = data
        return len(data)

    async def readline(self, size=-1):
        self._check(reading=True)
        if size is not None and size >= 0:
            # Rare: a bounded line. Read it byte-wise up to `size`.
            out = bytearray()
            while len(out) < size:
                b = await self._call(self._res.read(1))
                if not b:
                    break
                out += b
                if b == b"\n":
                    break
            return bytes(out)
        return await self._call(self._res.read_line())

    async def readlines(self, hint=-1):
        lines = []
        total = 0
        while True:
            line = await self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    async def write(self, data):
        self._check(writing=True)
        data = bytes(memoryview(data))
        if not data:
            return 0
        return await self._call(self._res.write(data))

    async def writelines(self, lines):
        self._check(writing=True)
        await self._call(self._res.write_lines([bytes(memoryview(b)) for b in lines]))

    async def seek(self, offset, whence=os.SEEK_SET):
        self._check()
        if whence not in _WHENCE:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        return await self._call(self._res.seek(offset, _WHENCE[whence]))

    async def tell(self):
        self._check()
        return await self._call(self._res.tell())

    async def truncate(self, size=None):
        self._check(writing=True)
        return await self._call(self._res.truncate(size))

    async def flush(self):
        if self.closed:
            raise _closed()

    async def stat(self):
        self._check()
        return await self._call(self._res.stat())

    async def close(self):
        if self.closed:
            return
        self.closed = True
        try:
            await self._call(self._res.close())
        finally:
            self._res.__exit__(None, None, None)


class BufferedFile:
    """Guest-side read and write buffers over a `RawFile`."""

    def __init__(self, raw, buffer_size=io.DEFAULT_BUFFER_SIZE):
        if buffer_size <= 0:
            raise ValueError("buffer size must be strictly positive")
        self.raw = raw
        self._size = buffer_size
        self._rbuf = b""  # bytes read from the host but not handed out yet
        self._rpos = 0
        self._wbuf = bytearray()  # bytes written but not sent yet

    name = property(lambda self: self.raw.name)
    mode = property(lambda self: self.raw.mode)
    closed = property(lambda self: self.raw.closed)

    def readable(self):
        return self.raw.readable()

    def writable(self):
        return self.raw.writable()

    def seekable(self):
        return self.raw.seekable()

    def isatty(self):
        return self.raw.isatty()

    def fileno(self):
        return self.raw.fileno()

    def _unread(self):
        return len(self._rbuf) - self._rpos

    async def _drop_read_buffer(self):
        """Move the host position back over read-ahead nobody consumed."""
        n = self._unread()
        self._rbuf, self._rpos = b"", 0
        if n:
            await self.raw.seek(-n, os.SEEK_CUR)

    async def _flush_writes(self):
        if self._wbuf:
            data = bytes(self._wbuf)
            self._wbuf.clear()
            await self.raw.write(data)

    async def _fill(self, at_least):
        """Fetch more data from the host; False at end of file."""
        self.raw._check(reading=True)
        await self._flush_writes()
        chunk = await self.raw.read(max(at_least, READ_CHUNK))
        if not chunk:
            return False
        rest = self._rbuf[self._rpos :]
        self._rbuf = rest + chunk if rest else chunk
        self._rpos = 0
        return True

    def _take(self, n):
        out = self._rbuf[self._rpos : self._rpos + n]
        self._rpos += len(out)
        return out

    async def read(self, size=-1):
        self.raw._check(reading=True)
        if size is None or size < 0:
            await self._flush_writes()
            head = self._take(self._unread())
            return head + await self.raw.readall()
        while self._unread() < size:
            if not await self._fill(size - self._unread()):
                break
        return self._take(size)

    async def read1(self, size=-1):
        self.raw._check(reading=True)
        if self._unread() == 0:
            await self._fill(size if size and size > 0 else READ_CHUNK)
        if size is None or size < 0:
            size = self._unread()
        return self._take(size)

    async def readall(self):
        return await self.read(-1)

    async def readinto(self, buffer):
        view = memoryview(buffer).cast("B")
        data = await self.read(len(view))
        view[: len(data)] = data
        return len(data)

    async def readinto1(self, buffer):
        view = memoryview(buffer).cast("B")
        data = await self.read1(len(view))
        view[: len(data)] = data
        return len(data)

    async def peek(self, size=0):
        self.raw._check(reading=True)
        if self._unread() == 0:
            await self._fill(max(size, 1))
        return self._rbuf[self._rpos :]

    async def readline(self, size=-1):
        self.raw._check(reading=True)
        limit = size if size is not None and size >= 0 else None
        scan = self._rpos
        while True:
            end = self._rbuf.find(b"\n", scan)
            if end >= 0:
                n = end + 1 - self._rpos
                break
            if limit is not None and self._unread() >= limit:
                n = limit
                break
            scanned = self._unread()
            if not await self._fill(READ_CHUNK):
                n = self._unread()
                break
            scan = self._rpos + scanned
        if limit is not None:
            n = min(n, limit)
        return self._take(n)

    async def readlines(self, hint=-1):
        lines = []
        total = 0
        while True:
            line = await self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    async def write(self, data):
        self.raw._check(writing=True)
        data = memoryview(data).cast("B")
        if self._unread():
            await self._drop_read_buffer()
        self._rbuf, self._rpos = b"", 0
        self._wbuf += data
        if len(self._wbuf) >= self._size:
            await self._flush_writes()
        return len(data)

    async def writelines(self, lines):
        for line in lines:
            await self.write(line)

    async def flush(self):
        if self.closed:
            raise _closed()
        await self._flush_writes()

    async def seek(self, offset, whence=os.SEEK_SET):
        self.raw._check()
        if whence not in _WHENCE:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        await self._flush_writes()
        if whence == os.SEEK_CUR:
            offset -= self._unread()
        self._rbuf, self._rpos = b"", 0
        return await self.raw.seek(offset, whence)

    async def tell(self):
        self.raw._check()
        if self._wbuf and self.raw._append:
            await self._flush_writes()
        return await self.raw.tell() - self._unread() + len(self._wbuf)

    async def truncate(self, size=None):
        self.raw._check(writing=True)
        await self._flush_writes()
        await self._drop_read_buffer()
        if size is None:
            size = await self.raw.tell()
        return await self.raw.truncate(size)

    async def close(self):
        if self.raw.closed:
            return
        try:
            await self._flush_writes()
        finally:
            self._rbuf, self._rpos = b"", 0
            await self.raw.close()

    def detach(self):
        raise io.UnsupportedOperation("detach: aiofs files stay attached to their buffer")


# CPython's newline flags, for `newlines`.
_LF, _CR, _CRLF = 1, 2, 4
_NEWLINES = {
    0: None,
    _LF: "\n",
    _CR: "\r",
    _CRLF: "\r\n",
    _LF | _CR: ("\r", "\n"),
    _LF | _CRLF: ("\n", "\r\n"),
    _CR | _CRLF: ("\r", "\r\n"),
    _LF | _CR | _CRLF: ("\r", "\n", "\r\n"),
}


class TextFile:
    """Text over a `BufferedFile`: decoding and newline handling as `io.TextIOWrapper`.

    Read-ahead is kept decoded but with newlines untranslated, so the byte position of
    what was handed out is always known (`tell`), and a `\\r` at the end of a chunk is
    only translated once the next chunk shows whether a `\\n` follows.
    """

    def __init__(self, buffer, encoding=None, errors=None, newline=None, line_buffering=False):
        if newline not in (None, "", "\n", "\r", "\r\n"):
            raise ValueError(f"illegal newline value: {newline!r}")
        self.buffer = buffer
        self.encoding = encoding or "UTF-8"
        codecs.lookup(self.encoding)
        self.errors = errors or "strict"
        self._newline = newline
        self.line_buffering = line_buffering
        self._decoder = None  # set while there is read-ahead
        self._pending = ""  # decoded, untranslated text (from `_off` on: not handed out)
        self._off = 0
        self._has_cr = False
        self._pos = 0  # byte offset of `_pending[_off]`
        self._flags = 0
        self._eof = False
        self._encoder = codecs.getincrementalencoder(self.encoding)(self.errors)

    name = property(lambda self: self.buffer.name)
    mode = property(lambda self: self.buffer.mode)
    closed = property(lambda self: self.buffer.closed)

    @property
    def newlines(self):
        if self._newline is not None and self._newline != "":
            return None
        return _NEWLINES[self._flags]

    def readable(self):
        return self.buffer.readable()

    def writable(self):
        return self.buffer.writable()

    def seekable(self):
        return self.buffer.seekable()

    def isatty(self):
        return self.buffer.isatty()

    def fileno(self):
        return self.buffer.fileno()

    def _check(self, reading=False, writing=False):
        self.buffer.raw._check(reading=reading, writing=writing)

    # --- reading

    async def _more(self):
        """Decode one more chunk into `_pending`; False at end of file."""
        if self._eof:
            return False
        if self._decoder is None:
            self._decoder = codecs.getincrementaldecoder(self.encoding)(self.errors)
            self._pos = await self.buffer.tell()
        chunk = await self.buffer.read1(READ_CHUNK)
        if chunk:
            text = self._decoder.decode(chunk)
        else:
            self._eof = True
            text = self._decoder.decode(b"", final=True)
        self._pending = self._pending[self._off :] + text
        self._off = 0
        self._has_cr = "\r" in self._pending
        return bool(chunk) or bool(text)

    def _avail(self):
        return len(self._pending) - self._off

    def _consume(self, n):
        """Hand out `n` untranslated characters of `_pending`, advancing the position."""
        raw = self._pending[self._off : self._off + n]
        self._off += len(raw)
        self._pos += len(raw) if raw.isascii() else len(raw.encode(self.encoding, self.errors))
        return raw

    def _translate(self, raw):
        """Record the newlines seen and apply the read-side translation."""
        if self._newline is None or self._newline == "":
            if "\r" in raw:
                crlf = raw.count("\r\n")
                cr = raw.count("\r") - crlf
                lf = raw.count("\n") - crlf
                self._flags |= (_CRLF if crlf else 0) | (_CR if cr else 0) | (_LF if lf else 0)
                if self._newline is None:
                    raw = raw.replace("\r\n", "\n").replace("\r", "\n")
            elif "\n" in raw:
                self._flags |= _LF
        return raw

    def _raw_len_for(self, want):
        """How many pending characters give `want` characters once translated."""
        p, o = self._pending, self._off
        avail = len(p) - o
        k = min(want, avail)
        if self._newline is None and self._has_cr:
            while k < avail:
                got = k - p.count("\r\n", o, o + k)
                if got >= want:
                    break
                k = min(avail, k + want - got)
            if 0 < k < avail and p[o + k - 1] == "\r" and p[o + k] == "\n":
                k += 1
        return k

    async def read(self, size=-1):
        self._check(reading=True)
        if size is None or size < 0:
            while await self._more():
                pass
            return self._translate(self._consume(self._avail()))
        out = []
        want = size
        while want > 0:
            if not self._avail() and not await self._more():
                break
            if self._newline is None and self._pending.endswith("\r") and not self._eof:
                await self._more()
                continue
            piece = self._translate(self._consume(self._raw_len_for(want)))
            out.append(piece)
            want -= len(piece)
        return "".join(out)

    def _line_end(self, start):
        """Characters up to just past the first line ending found at or after `start`
        (both counted from the unconsumed text), -1 if none, -2 if a final `\r` needs
        the next character first."""
        p, o = self._pending, self._off
        s = o + start
        if self._newline == "\n" or (self._newline is None and not self._has_cr):
            i = p.find("\n", s)
            return i + 1 - o if i >= 0 else -1
        if self._newline in ("\r", "\r\n"):
            i = p.find(self._newline, s)
            return i + len(self._newline) - o if i >= 0 else -1
        # Universal: \n, \r or \r\n ends a line.
        i_n = p.find("\n", s)
        i_r = p.find("\r", s)
        if i_r < 0 or (0 <= i_n < i_r):
            return i_n + 1 - o if i_n >= 0 else -1
        if i_r + 1 < len(p):
            return (i_r + 2 if p[i_r + 1] == "\n" else i_r + 1) - o
        return -2

    async def readline(self, size=-1):
        self._check(reading=True)
        start = 0
        while True:
            end = self._line_end(start)
            if end >= 0:
                break
            if end == -2:
                start = max(0, self._avail() - 1)
                if not await self._more():
                    end = self._avail()
                    break
                continue
            start = self._avail()
            if size is not None and 0 <= size <= self._avail():
                end = size
                break
            if not await self._more():
                end = self._avail()
                break
        if size is not None and size >= 0:
            end = min(end, size)
        return self._translate(self._consume(end))

    async def readlines(self, hint=-1):
        lines = []
        total = 0
        while True:
            line = await self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    async def _rewind(self):
        """Give the read-ahead back to the host position (before writing or seeking)."""
        if self._decoder is not None:
            pos = self._pos
            self._decoder = None
            self._pending, self._off = "", 0
            self._eof = False
            await self.buffer.seek(pos)

    # --- writing

    async def write(self, text):
        self._check(writing=True)
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        await self._rewind()
        n = len(text)
        if self._newline not in (None, "", "\n") and "\n" in text:
            text = text.replace("\n", self._newline)
        await self.buffer.write(self._encoder.encode(text))
        if self.line_buffering and ("\n" in text or "\r" in text):
            await self.buffer.flush()
        return n

    async def writelines(self, lines):
        for line in lines:
            await self.write(line)

    async def flush(self):
        await self.buffer.flush()

    async def seek(self, cookie, whence=os.SEEK_SET):
        self._check()
        if whence == os.SEEK_CUR and cookie != 0:
            raise io.UnsupportedOperation("can't do nonzero cur-relative seeks")
        if whence == os.SEEK_END and cookie != 0:
            raise io.UnsupportedOperation("can't do nonzero end-relative seeks")
        if whence == os.SEEK_CUR:
            return await self.tell()
        self._decoder = None
        self._pending, self._off = "", 0
        self._eof = False
        self._encoder.reset()
        return await self.buffer.seek(cookie, whence)

    async def tell(self):
        self._check()
        if self._decoder is not None:
            return self._pos
        return await self.buffer.tell()

    async def truncate(self, size=None):
        self._check(writing=True)
        await self._rewind()
        return await self.buffer.truncate(size)

    async def close(self):
        await self.buffer.close()

    def detach(self):
        raise io.UnsupportedOperation("detach: aiofs files stay attached to their buffer")
