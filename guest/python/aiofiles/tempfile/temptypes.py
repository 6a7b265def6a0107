"""The objects `aiofiles.tempfile` hands out (aiofiles.tempfile.temptypes)."""

import io

from wit_world.imports import tempfile as _t

from .. import _wit
from ..base import AsyncBase
from ..threadpool import parse_mode, wrap_new


class _Spooled:
    """The spooled file's state: `_file` is an `io.BytesIO` (or an `io.TextIOWrapper`
    over one) until rollover, then the aiofs temporary file's io object."""

    def __init__(self, max_size, mode, encoding, newline):
        self._max_size = max_size
        self._rolled = False
        self.mode = mode
        if "b" in mode:
            self._file = io.BytesIO()
        else:
            self._file = io.TextIOWrapper(io.BytesIO(), encoding=encoding, newline=newline)

    @property
    def closed(self):
        return self._file.closed


class AsyncSpooledTemporaryFile(AsyncBase):
    """An async `tempfile.SpooledTemporaryFile`."""

    def __init__(self, max_size, mode, buffering, encoding, newline, options, loop=None,
                 executor=None):
        super().__init__(_Spooled(max_size, mode, encoding, newline), loop, executor)
        self._args = (mode, buffering, encoding, newline, options)
        self._wrapper = None

    def _check_rollover(self):
        f = self._file._file
        if self._file._max_size and not self._file._rolled:
            size = f.buffer.getbuffer().nbytes if hasattr(f, "buffer") else f.getbuffer().nbytes
            return size > self._file._max_size
        return False

    async def rollover(self):
        """Move the content into an aiofs temporary file."""
        if self._file._rolled:
            return
        mode, buffering, encoding, newline, options = self._args
        _, text, readable, writable, append = parse_mode(mode)
        res = await _wit.call(_t.temporary_file("w+b", options))
        new = wrap_new(res, res.name(), mode, buffering, encoding, None, newline, None, None,
                       text, readable, writable, append)
        old = self._file._file
        if text:
            old.flush()
            pos = old.buffer.tell()
            data = old.buffer.getvalue()
        else:
            pos = old.tell()
            data = old.getvalue()
        target = new._file.buffer if text else new._file
        await target.write(data)
        await target.flush()
        await target.seek(pos)
        self._file._file = new._file
        self._file._rolled = True
        self._wrapper = new

    async def _do(self, name, *args):
        if self._file._rolled:
            return await getattr(self._wrapper, name)(*args)
        return getattr(self._file._file, name)(*args)

    async def write(self, s):
        r = await self._do("write", s)
        if self._check_rollover():
            await self.rollover()
        return r

    async def writelines(self, lines):
        r = await self._do("writelines", lines)
        if self._check_rollover():
            await self.rollover()
        return r

    async def read(self, *args):
        return await self._do("read", *args)

    async def readline(self, *args):
        return await self._do("readline", *args)

    async def readlines(self, *args):
        return await self._do("readlines", *args)

    async def seek(self, *args):
        return await self._do("seek", *args)

    async def tell(self):
        return await self._do("tell")

    async def truncate(self, size=None):
        return await self._do("truncate", size)

    async def flush(self):
        return await self._do("flush")

    async def close(self):
        if self._file._rolled:
            await self._wrapper.close()
        else:
            self._file._file.close()

    def fileno(self):
        raise io.UnsupportedOperation("aiofs files have no file descriptor")

    def isatty(self):
        return False

    @property
    def closed(self):
        return self._file.closed

    @property
    def mode(self):
        return self._file.mode

    @property
    def name(self):
        return self._wrapper.name if self._file._rolled else None

    @property
    def newlines(self):
        return self._file._file.newlines

    @property
    def encoding(self):
        return self._file._file.encoding

    @property
    def errors(self):
        return self._file._file.errors


class AsyncTemporaryDirectory:
    """An async `tempfile.TemporaryDirectory`: `name`, `cleanup()`, `close()`."""

    def __init__(self, res):
        self._res = res
        self.name = res.path()
        self._done = False

    async def cleanup(self):
        """Remove the directory and everything in it."""
        if self._done:
            return
        self._done = True
        try:
            await _wit.call(self._res.cleanup(), self.name)
        finally:
            self._res.__exit__(None, None, None)

    async def close(self):
        """The same as `cleanup`."""
        await self.cleanup()
