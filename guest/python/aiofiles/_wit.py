"""The seam between the package and the aiofs WIT imports: error mapping and paths.

Every call into aiofs goes through `call`, which turns the WIT `error-code` into the
`OSError` subclass CPython would raise for the same errno (`FileNotFoundError`,
`PermissionError`, ...), with `errno`, `strerror` and `filename` set the way CPython sets
them, so `str(e)` reads like CPython's message.
"""

import errno as _errno
import os as _os

from componentize_py_types import Err
from wit_world.imports.types import ErrorCode

# error-code -> errno. The errno numbers are the guest's (wasi-libc's), as everywhere in
# a WASI Python, so `e.errno == errno.ENOENT` holds.
ERRNO = {
    ErrorCode.ACCESS: _errno.EACCES,
    ErrorCode.BAD_DESCRIPTOR: _errno.EBADF,
    ErrorCode.BUSY: _errno.EBUSY,
    ErrorCode.CROSS_DEVICE: _errno.EXDEV,
    ErrorCode.EXIST: _errno.EEXIST,
    ErrorCode.FILE_TOO_LARGE: _errno.EFBIG,
    ErrorCode.ILLEGAL_BYTE_SEQUENCE: _errno.EILSEQ,
    ErrorCode.INSUFFICIENT_SPACE: _errno.ENOSPC,
    ErrorCode.INSUFFICIENT_MEMORY: _errno.ENOMEM,
    ErrorCode.INTERRUPTED: _errno.EINTR,
    ErrorCode.INVALID: _errno.EINVAL,
    ErrorCode.INVALID_SEEK: _errno.ESPIPE,
    ErrorCode.IO: _errno.EIO,
    ErrorCode.IS_DIRECTORY: _errno.EISDIR,
    ErrorCode.LOOP: _errno.ELOOP,
    ErrorCode.NAME_TOO_LONG: _errno.ENAMETOOLONG,
    ErrorCode.NO_ENTRY: _errno.ENOENT,
    ErrorCode.NOT_DIRECTORY: _errno.ENOTDIR,
    ErrorCode.NOT_EMPTY: _errno.ENOTEMPTY,
    # Outside every grant: what wasmtime-wasi answers for an escape, and what CPython
    # raises as PermissionError.
    ErrorCode.NOT_PERMITTED: _errno.EPERM,
    ErrorCode.OVERFLOW: _errno.EOVERFLOW,
    ErrorCode.QUOTA: _errno.EDQUOT,
    ErrorCode.READ_ONLY: _errno.EROFS,
    ErrorCode.TOO_MANY_LINKS: _errno.EMLINK,
    ErrorCode.UNSUPPORTED: _errno.ENOTSUP,
}


def oserror(code, filename=None, filename2=None):
    """The exception CPython raises for the errno that `code` stands for."""
    num = ERRNO.get(code, _errno.EIO)
    if filename is None:
        return OSError(num, _os.strerror(num))
    if filename2 is None:
        return OSError(num, _os.strerror(num), filename)
    return OSError(num, _os.strerror(num), filename, None, filename2)


async def call(awaitable, filename=None, filename2=None):
    """Await an aiofs import, raising a CPython-style `OSError` for its error code."""
    try:
        return await awaitable
    except Err as e:
        raise oserror(e.value, filename, filename2) from None


def fspath(path):
    """`os.fspath` for str paths; bytes paths are decoded (aiofs paths are strings)."""
    path = _os.fspath(path)
    if isinstance(path, bytes):
        path = _os.fsdecode(path)
    if not isinstance(path, str):
        raise TypeError(f"expected str, bytes or os.PathLike object, not {type(path).__name__}")
    return path


def guest_path(path):
    """The path aiofs is asked for: a relative path is joined to the current directory
    when the guest has one other than `/` (when `os.chdir` worked); otherwise it goes to
    aiofs as it is and resolves against the first grant."""
    p = fspath(path)
    if not p.startswith("/"):
        try:
            cwd = _os.getcwd()
        except OSError:
            cwd = "/"
        if cwd != "/":
            p = _os.path.join(cwd, p)
    return p
