"""`aiofiles.threadpool`: `open` and `wrap`, over aiofs instead of a thread pool."""

import io
import sys
from functools import singledispatch

from wit_world.imports import files

from .. import _io, _wit
from ..base import AiofilesContextManager
from .binary import (
    AsyncBufferedIOBase,
    AsyncBufferedReader,
    AsyncFileIO,
    AsyncIndirectBufferedIOBase,
)
from .text import AsyncTextIndirectIOWrapper, AsyncTextIOWrapper

__all__ = (
    "open",
    "stdin",
    "stdout",
    "stderr",
    "stdin_bytes",
    "stdout_bytes",
    "stderr_bytes",
)


def parse_mode(mode):
    """Check a Python mode string the way `io.open` does.

    Returns (host mode, text, readable, writable, append); the host file is always
    opened in binary mode (text is decoded in the guest).
    """
    if not isinstance(mode, str):
        raise TypeError(f"open() argument 'mode' must be str, not {type(mode).__name__}")
    modes = set(mode)
    if len(modes) != len(mode) or not modes <= set("axrwb+tU"):
        raise ValueError(f"invalid mode: '{mode}'")
    creating, reading, writing, appending = ("x" in modes, "r" in modes, "w" in modes, "a" in modes)
    updating = "+" in modes
    text, binary = "t" in modes, "b" in modes
    if "U" in modes:
        raise ValueError(f"invalid mode: '{mode}'")
    if text and binary:
        raise ValueError("can't have text and binary mode at once")
    if creating + reading + writing + appending != 1:
        raise ValueError("must have exactly one of create/read/write/append mode")
    kind = "x" if creating else "r" if reading else "w" if writing else "a"
    host = kind + ("+" if updating else "") + "b"
    return host, not binary, reading or updating, not reading or updating, appending


async def _open(file, mode="r", buffering=-1, encoding=None, errors=None, newline=None,
                closefd=True, opener=None, *, loop=None, executor=None):
    if opener is not None:
        raise ValueError("opener is not supported: aiofs files have no descriptors")
    if isinstance(file, int):
        raise ValueError("aiofs files have no descriptors: pass a path")
    host_mode, text, readable, writable, append = parse_mode(mode)
    if not isinstance(buffering, int):
        raise TypeError("'buffering' must be an integer")
    if text:
        if buffering == 0:
            raise ValueError("can't have unbuffered text I/O")
    else:
        if encoding is not None:
            raise ValueError("binary mode doesn't take an encoding argument")
        if errors is not None:
            raise ValueError("binary mode doesn't take an errors argument")
        if newline is not None:
            raise ValueError("binary mode doesn't take a newline argument")
    name = _wit.fspath(file)
    res = await _wit.call(files.open(_wit.guest_path(name), host_mode), name)
    return wrap_new(res, name, mode, buffering, encoding, errors, newline, loop, executor,
                    text, readable, writable, append)


def wrap_new(res, name, mode, buffering, encoding, errors, newline, loop, executor,
             text, readable, writable, append):
    """Build the io layers and the async wrapper for a freshly opened aiofs file."""
    raw = _io.RawFile(res, name, mode, readable=readable, writable=writable, append=append)
    if buffering == 0:
        return wrap(raw, loop=loop, executor=executor)
    line_buffering = buffering == 1 and text
    size = buffering if buffering > 1 else io.DEFAULT_BUFFER_SIZE
    buffered = _io.BufferedFile(raw, size)
    if not text:
        return wrap(buffered, loop=loop, executor=executor)
    return wrap(
        _io.TextFile(buffered, encoding, errors, newline, line_buffering),
        loop=loop,
        executor=executor,
    )


def open(file, mode="r", buffering=-1, encoding=None, errors=None, newline=None,
         closefd=True, opener=None, *, loop=None, executor=None):
    """Open an aiofs file: `await` it, or use it with `async with`."""
    return AiofilesContextManager(
        _open(file, mode=mode, buffering=buffering, encoding=encoding, errors=errors,
              newline=newline, closefd=closefd, opener=opener, loop=loop, executor=executor)
    )


@singledispatch
def wrap(file, *, loop=None, executor=None):
    """The async wrapper for one of the package's file objects; TypeError otherwise."""
    raise TypeError(f"Unsupported io type: {file}.")


@wrap.register(_io.TextFile)
def _(file, *, loop=None, executor=None):
    return AsyncTextIOWrapper(file, loop=loop, executor=executor)


@wrap.register(_io.BufferedFile)
def _(file, *, loop=None, executor=None):
    if file.readable():
        return AsyncBufferedReader(file, loop=loop, executor=executor)
    return AsyncBufferedIOBase(file, loop=loop, executor=executor)


@wrap.register(_io.RawFile)
def _(file, *, loop=None, executor=None):
    return AsyncFileIO(file, loop=loop, executor=executor)


stdin = AsyncTextIndirectIOWrapper("sys.stdin", None, None, indirect=lambda: sys.stdin)
stdout = AsyncTextIndirectIOWrapper("sys.stdout", None, None, indirect=lambda: sys.stdout)
stderr = AsyncTextIndirectIOWrapper("sys.stderr", None, None, indirect=lambda: sys.stderr)
stdin_bytes = AsyncIndirectBufferedIOBase(
    "sys.stdin.buffer", None, None, indirect=lambda: sys.stdin.buffer
)
stdout_bytes = AsyncIndirectBufferedIOBase(
    "sys.stdout.buffer", None, None, indirect=lambda: sys.stdout.buffer
)
stderr_bytes = AsyncIndirectBufferedIOBase(
    "sys.stderr.buffer", None, None, indirect=lambda: sys.stderr.buffer
)

