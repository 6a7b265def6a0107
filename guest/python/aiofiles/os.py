"""`aiofiles.os`: async versions of the `os` functions aiofiles has, over aiofs.

Each function is one aiofs call (`scandir` fetches every entry and its metadata in one).
Paths are resolved by the host beneath the grants; errors are CPython's `OSError`
subclasses. `sendfile` and `statvfs` are not provided: aiofs files have no descriptors
and a grant is not a filesystem whose block counts a guest may see.
"""

import os as _os
import stat as _stat

from wit_world.imports import os as _aos
from wit_world.imports.os import AccessMode
from wit_world.imports.types import FileType

from . import _wit, ospath as path  # noqa: F401  (aiofiles.os.path)
from ._wit import call as _call
from ._wit import guest_path as _gp

__all__ = [
    "path", "stat", "lstat", "rename", "renames", "replace", "remove", "unlink", "mkdir",
    "makedirs", "rmdir", "removedirs", "link", "symlink", "readlink", "listdir", "scandir",
    "access", "getcwd", "wrap",
]

_IFMT = {
    FileType.REGULAR_FILE: _stat.S_IFREG,
    FileType.DIRECTORY: _stat.S_IFDIR,
    FileType.SYMBOLIC_LINK: _stat.S_IFLNK,
    FileType.BLOCK_DEVICE: _stat.S_IFBLK,
    FileType.CHARACTER_DEVICE: _stat.S_IFCHR,
    FileType.FIFO: _stat.S_IFIFO,
    FileType.SOCKET: _stat.S_IFSOCK,
}


def _ns(ts):
    return 0 if ts is None else ts.seconds * 1_000_000_000 + ts.nanoseconds


def stat_result(st):
    """An `os.stat_result` from aiofs' `stat-result`."""
    at, mt, ct = _ns(st.accessed), _ns(st.modified), _ns(st.changed)
    seq = (
        _IFMT.get(st.type, 0) | st.mode, st.inode, st.device, st.link_count, 0, 0, st.size,
        at // 1_000_000_000, mt // 1_000_000_000, ct // 1_000_000_000,
    )
    extra = {
        "st_atime": at / 1e9, "st_mtime": mt / 1e9, "st_ctime": ct / 1e9,
        "st_atime_ns": at, "st_mtime_ns": mt, "st_ctime_ns": ct,
    }
    return _os.stat_result(seq, extra)


def wrap(func):
    """Make a coroutine function of `func` (aiofiles' `wrap`). A guest has no thread
    pool: the function runs when awaited, on the guest's one thread."""

    async def run(*args, loop=None, executor=None, **kwargs):
        return func(*args, **kwargs)

    return run


async def stat(path, *, dir_fd=None, follow_symlinks=True, loop=None, executor=None):
    """`os.stat`."""
    f = _aos.stat if follow_symlinks else _aos.lstat
    return stat_result(await _call(f(_gp(path)), _wit.fspath(path)))


async def lstat(path, *, dir_fd=None, loop=None, executor=None):
    """`os.lstat`."""
    return stat_result(await _call(_aos.lstat(_gp(path)), _wit.fspath(path)))


def _two(func):
    async def run(src, dst, *args, loop=None, executor=None, **kwargs):
        s, d = _wit.fspath(src), _wit.fspath(dst)
        await _call(func(_gp(s), _gp(d)), s, d)

    return run


rename = _two(_aos.rename)
rename.__doc__ = "`os.rename`."
renames = _two(_aos.renames)
renames.__doc__ = "`os.renames`."
replace = _two(_aos.replace)
replace.__doc__ = "`os.replace`."
link = _two(_aos.link)
link.__doc__ = "`os.link`."


def _one(func):
    async def run(path, *args, loop=None, executor=None, **kwargs):
        p = _wit.fspath(path)
        return await _call(func(_gp(p)), p)

    return run


remove = _one(_aos.remove)
remove.__doc__ = "`os.remove`."
unlink = _one(_aos.unlink)
unlink.__doc__ = "`os.unlink`."
rmdir = _one(_aos.rmdir)
rmdir.__doc__ = "`os.rmdir`."
removedirs = _one(_aos.removedirs)
removedirs.__doc__ = "`os.removedirs`."


async def mkdir(path, mode=0o777, *, dir_fd=None, loop=None, executor=None):
    """`os.mkdir` (the mode is the host's default)."""
    p = _wit.fspath(path)
    await _call(_aos.mkdir(_gp(p)), p)


async def makedirs(name, mode=0o777, exist_ok=False, *, loop=None, executor=None):
    """`os.makedirs`."""
    p = _wit.fspath(name)
    await _call(_aos.makedirs(_gp(p), exist_ok), p)


async def symlink(src, dst, target_is_directory=False, *, dir_fd=None, loop=None,
                  executor=None):
    """`os.symlink`. aiofs stores relative targets only (an absolute one would name a
    host path); an absolute `src` is stored relative to the link's directory."""
    s, d = _wit.fspath(src), _wit.fspath(dst)
    target = s
    if s.startswith("/"):
        target = _os.path.relpath(s, _os.path.dirname(_gp(d)) or "/")
    await _call(_aos.symlink(target, _gp(d)), s, d)


async def readlink(path, *, dir_fd=None, loop=None, executor=None):
    """`os.readlink`: the stored target."""
    p = _wit.fspath(path)
    return await _call(_aos.readlink(_gp(p)), p)


async def listdir(path=".", *, loop=None, executor=None):
    """`os.listdir`."""
    p = _wit.fspath(path)
    return await _call(_aos.listdir(_gp(p)), p)


class DirEntry:
    """An `os.DirEntry` whose type and metadata were fetched with the listing."""

    __slots__ = ("name", "path", "_type", "_stat")

    def __init__(self, directory, entry):
        self.name = entry.name
        self.path = _os.path.join(directory, entry.name)
        self._type = entry.type
        self._stat = entry.stat

    def is_dir(self, *, follow_symlinks=True):
        if follow_symlinks and self._type == FileType.SYMBOLIC_LINK and self._stat:
            return self._stat.type == FileType.DIRECTORY
        return self._type == FileType.DIRECTORY

    def is_file(self, *, follow_symlinks=True):
        if follow_symlinks and self._type == FileType.SYMBOLIC_LINK and self._stat:
            return self._stat.type == FileType.REGULAR_FILE
        return self._type == FileType.REGULAR_FILE

    def is_symlink(self):
        return self._type == FileType.SYMBOLIC_LINK

    def is_junction(self):
        return False

    def stat(self, *, follow_symlinks=True):
        if self._stat is None:
            raise _wit.oserror(_wit.ErrorCode.NO_ENTRY, self.path)
        return stat_result(self._stat)

    def inode(self):
        return self._stat.inode if self._stat else 0

    def __fspath__(self):
        return self.path

    def __repr__(self):
        return f"<DirEntry {self.name!r}>"


class ScandirIterator:
    """What `scandir` returns: an iterator (as `os.scandir`, which aiofiles 25.1 hands
    back), also usable with `async for`, `with` and `async with`."""

    def __init__(self, entries):
        self._it = iter(entries)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._it)

    def __aiter__(self):
        return self

    async def __anext__(self):
        try:
            return next(self._it)
        except StopIteration:
            raise StopAsyncIteration from None

    def close(self):
        self._it = iter(())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self.close()


async def scandir(path=".", *, loop=None, executor=None):
    """`os.scandir`: every entry with its type and metadata, in one host call."""
    p = _wit.fspath(path)
    entries = await _call(_aos.scandir(_gp(p), True), p)
    return ScandirIterator([DirEntry(p, e) for e in entries])


async def access(path, mode, *, dir_fd=None, effective_ids=False, follow_symlinks=True,
                 loop=None, executor=None):
    """`os.access`: False for a path that does not exist."""
    flags = AccessMode(0)
    if mode & _os.R_OK:
        flags |= AccessMode.READ
    if mode & _os.W_OK:
        flags |= AccessMode.WRITE
    if mode & _os.X_OK:
        flags |= AccessMode.EXECUTE
    p = _wit.fspath(path)
    try:
        return await _call(_aos.access(_gp(p), flags), p)
    except FileNotFoundError:
        return False


async def getcwd(*, loop=None, executor=None):
    """`os.getcwd`."""
    return _os.getcwd()
