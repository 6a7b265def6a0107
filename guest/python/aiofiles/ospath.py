"""`aiofiles.os.path`: async `os.path` predicates and metadata over aiofs."""

import os as _os

from wit_world.imports import grants as _grants
from wit_world.imports import path as _apath

from . import _wit
from ._wit import call as _call
from ._wit import guest_path as _gp

__all__ = [
    "abspath", "exists", "isfile", "isdir", "islink", "ismount", "getsize", "getmtime",
    "getatime", "getctime", "samefile", "sameopenfile",
]


def _pred(func):
    async def run(path, *, loop=None, executor=None):
        try:
            p = _wit.fspath(path)
        except TypeError:
            return False
        try:
            return await _call(func(_gp(p)), p)
        except (OSError, ValueError):
            # Like os.path: an unusable path is simply not there.
            return False

    return run


exists = _pred(_apath.exists)
exists.__doc__ = "`os.path.exists`."
isfile = _pred(_apath.is_file)
isfile.__doc__ = "`os.path.isfile`."
isdir = _pred(_apath.is_dir)
isdir.__doc__ = "`os.path.isdir`."
islink = _pred(_apath.is_link)
islink.__doc__ = "`os.path.islink`."


def _value(func):
    async def run(path, *, loop=None, executor=None):
        p = _wit.fspath(path)
        return await _call(func(_gp(p)), p)

    return run


getsize = _value(_apath.get_size)
getsize.__doc__ = "`os.path.getsize`."
getmtime = _value(_apath.get_mtime)
getmtime.__doc__ = "`os.path.getmtime`."
getatime = _value(_apath.get_atime)
getatime.__doc__ = "`os.path.getatime`."
getctime = _value(_apath.get_ctime)
getctime.__doc__ = "`os.path.getctime`."


async def samefile(path1, path2, *, loop=None, executor=None):
    """`os.path.samefile`."""
    a, b = _wit.fspath(path1), _wit.fspath(path2)
    return await _call(_apath.samefile(_gp(a), _gp(b)), a, b)


async def sameopenfile(fp1, fp2, *, loop=None, executor=None):
    """`os.path.sameopenfile` for two files opened with `aiofiles.open` (aiofs files have
    no descriptors): same device and inode."""
    s1 = await _raw(fp1).stat()
    s2 = await _raw(fp2).stat()
    return (s1.device, s1.inode) == (s2.device, s2.inode)


def _raw(fp):
    f = getattr(fp, "_file", fp)
    while hasattr(f, "buffer"):
        f = f.buffer
    return getattr(f, "raw", f)


async def ismount(path, *, loop=None, executor=None):
    """`os.path.ismount`: `/` and the guest path of every grant are mount points."""
    p = _os.path.normpath(_gp(path))
    if p == "/":
        return True
    return any(_os.path.normpath(g.guest_path) == p for g in _grants.list_grants())


async def abspath(path, *, loop=None, executor=None):
    """`os.path.abspath`."""
    return _os.path.abspath(path)


