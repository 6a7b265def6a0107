"""Async wrappers for binary files (aiofiles.threadpool.binary)."""

from ..base import AsyncBase, AsyncIndirectBase
from .utils import delegate_to_executor, proxy_method_directly, proxy_property_directly

_COMMON = (
    "close", "flush", "isatty", "read", "read1", "readinto", "readline", "readlines",
    "seek", "seekable", "tell", "truncate", "writable", "write", "writelines",
)


@delegate_to_executor(*_COMMON)
@proxy_method_directly("detach", "fileno", "readable")
@proxy_property_directly("closed", "raw", "name", "mode")
class AsyncBufferedIOBase(AsyncBase):
    """A buffered binary file opened for writing only (`wb`, `ab`, `xb`)."""


@delegate_to_executor("peek")
class AsyncBufferedReader(AsyncBufferedIOBase):
    """A buffered binary file that can read (`rb`, `r+b`, `w+b`, `a+b`, `x+b`)."""


@delegate_to_executor(
    "close", "flush", "isatty", "read", "readall", "readinto", "readline", "readlines",
    "seek", "seekable", "tell", "truncate", "writable", "write", "writelines",
)
@proxy_method_directly("fileno", "readable")
@proxy_property_directly("closed", "name", "mode")
class AsyncFileIO(AsyncBase):
    """An unbuffered binary file (`buffering=0`): every call goes to the host."""


@delegate_to_executor(*_COMMON)
@proxy_method_directly("detach", "fileno", "readable")
@proxy_property_directly("closed", "raw", "name", "mode")
class AsyncIndirectBufferedIOBase(AsyncIndirectBase):
    """`aiofiles.stdout_bytes` and friends: `sys.stdout.buffer`, looked up per call."""


@delegate_to_executor("peek")
class AsyncIndirectBufferedReader(AsyncIndirectBufferedIOBase):
    """`aiofiles.stdin_bytes`: `sys.stdin.buffer`, looked up per call."""


@delegate_to_executor(
    "close", "flush", "isatty", "read", "readall", "readinto", "readline", "readlines",
    "seek", "seekable", "tell", "truncate", "writable", "write", "writelines",
)
@proxy_method_directly("fileno", "readable")
@proxy_property_directly("closed", "name", "mode")
class AsyncIndirectFileIO(AsyncIndirectBase):
    """An unbuffered binary standard stream, looked up per call."""
