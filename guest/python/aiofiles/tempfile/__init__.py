"""`aiofiles.tempfile`: temporary files and directories inside a writable grant."""

from wit_world.imports import tempfile as _t

from .. import _wit
from ..base import AiofilesContextManager
from ..threadpool import parse_mode, wrap_new
from .temptypes import AsyncSpooledTemporaryFile, AsyncTemporaryDirectory

__all__ = [
    "NamedTemporaryFile",
    "TemporaryFile",
    "SpooledTemporaryFile",
    "TemporaryDirectory",
]


def _options(suffix, prefix, dir):
    return _t.TempOptions(
        dir=None if dir is None else _wit.guest_path(dir),
        prefix=None if prefix is None else _wit.fspath(prefix),
        suffix=None if suffix is None else _wit.fspath(suffix),
    )


def _host_mode(mode):
    _, text, readable, writable, append = parse_mode(mode)
    return ("a+b" if append else "w+b"), text, readable, writable, append


async def _temporary_file(named, mode="w+b", buffering=-1, encoding=None, newline=None,
                          suffix=None, prefix=None, dir=None, delete=True,
                          delete_on_close=True, loop=None, executor=None):
    host, text, readable, writable, append = _host_mode(mode)
    opts = _options(suffix, prefix, dir)
    if named:
        res = await _wit.call(_t.named_temporary_file(host, opts, delete and delete_on_close))
        name = res.name()
    else:
        res = await _wit.call(_t.temporary_file(host, opts))
        name = res.name()
    f = wrap_new(res, name, mode, buffering, encoding, None, newline, loop, executor,
                 text, readable, writable, append)
    if named:
        f.delete = delete
        f.delete_on_close = delete_on_close
    return f


class _NamedContext(AiofilesContextManager):
    """`async with NamedTemporaryFile(delete_on_close=False)` removes the file on exit."""

    __slots__ = ()

    async def __aexit__(self, exc_type, exc_val, exc_tb):
        f = self._obj
        await f.close()
        if f.delete and not f.delete_on_close:
            from .. import os as aos

            try:
                await aos.remove(f.name)
            except FileNotFoundError:
                pass
        self._obj = None


def TemporaryFile(mode="w+b", buffering=-1, encoding=None, newline=None, suffix=None,
                  prefix=None, dir=None, loop=None, executor=None):
    """A temporary file without a name in the filesystem (gone once closed)."""
    return AiofilesContextManager(_temporary_file(
        False, mode, buffering, encoding, newline, suffix, prefix, dir,
        loop=loop, executor=executor))


def NamedTemporaryFile(mode="w+b", buffering=-1, encoding=None, newline=None, suffix=None,
                       prefix=None, dir=None, delete=True, delete_on_close=True, *,
                       loop=None, executor=None):
    """A temporary file with a visible `name`; with `delete`, removed on close (or, with
    `delete_on_close=False`, when the `async with` block ends)."""
    return _NamedContext(_temporary_file(
        True, mode, buffering, encoding, newline, suffix, prefix, dir, delete,
        delete_on_close, loop=loop, executor=executor))


def SpooledTemporaryFile(max_size=0, mode="w+b", buffering=-1, encoding=None, newline=None,
                         suffix=None, prefix=None, dir=None, loop=None, executor=None):
    """Kept in memory until it grows past `max_size` (or `rollover` is awaited), then
    moved into an aiofs temporary file."""

    async def make():
        return AsyncSpooledTemporaryFile(
            max_size, mode, buffering, encoding, newline, _options(suffix, prefix, dir),
            loop=loop, executor=executor)

    return AiofilesContextManager(make())


def TemporaryDirectory(suffix=None, prefix=None, dir=None, loop=None, executor=None):
    """A temporary directory; `async with` gives its name and removes it afterwards."""

    async def make():
        res = await _wit.call(_t.temporary_directory(_options(suffix, prefix, dir)))
        return AsyncTemporaryDirectory(res)

    return _DirContext(make())


class _DirContext(AiofilesContextManager):
    __slots__ = ()

    async def __aenter__(self):
        self._obj = await self._coro
        return self._obj.name

    async def __aexit__(self, exc_type, exc_val, exc_tb):
        await self._obj.cleanup()
        self._obj = None
