"""Async wrappers for text files (aiofiles.threadpool.text)."""

from ..base import AsyncBase, AsyncIndirectBase
from .utils import delegate_to_executor, proxy_method_directly, proxy_property_directly

_METHODS = (
    "close", "flush", "isatty", "read", "readable", "readline", "readlines", "seek",
    "seekable", "tell", "truncate", "write", "writable", "writelines",
)
_PROPERTIES = (
    "buffer", "closed", "encoding", "errors", "line_buffering", "newlines", "name", "mode",
)


@delegate_to_executor(*_METHODS)
@proxy_method_directly("detach", "fileno", "readable")
@proxy_property_directly(*_PROPERTIES)
class AsyncTextIOWrapper(AsyncBase):
    """A text file. As in aiofiles, `readable` ends up a coroutine here."""


@delegate_to_executor(*_METHODS)
@proxy_method_directly("detach", "fileno", "readable")
@proxy_property_directly(*_PROPERTIES)
class AsyncTextIndirectIOWrapper(AsyncIndirectBase):
    """`aiofiles.stdout` and friends: `sys.stdout`, looked up per call."""
