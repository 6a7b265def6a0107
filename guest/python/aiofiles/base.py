"""The async wrapper base classes and the awaitable context manager of `aiofiles.open`.

Same names and behaviour as aiofiles 25.1's `aiofiles.base`. There is no executor in a
guest: each coroutine awaits aiofs imports directly. `loop` and `executor` are accepted
and ignored so that code written for aiofiles keeps working.
"""

from collections.abc import Coroutine, Generator


class AsyncBase:
    """What every async file wrapper has: `async for` lines, and the wrapped `_file`."""

    def __init__(self, file, loop=None, executor=None):
        self._file = file
        self._loop = loop
        self._ref_loop = loop
        self._executor = executor

    def __aiter__(self):
        return self

    def __repr__(self):
        return super().__repr__() + " wrapping " + repr(self._file)

    async def __anext__(self):
        line = await self.readline()
        if line:
            return line
        raise StopAsyncIteration


class AsyncIndirectBase(AsyncBase):
    """A wrapper whose file is looked up on every use (`aiofiles.stdout` and friends, so
    that replacing `sys.stdout` is seen)."""

    def __init__(self, name, loop, executor, indirect):
        self._indirect = indirect
        self._name = name
        super().__init__(None, loop, executor)

    @property
    def _file(self):
        return self._indirect()

    @_file.setter
    def _file(self, v):
        pass


class AiofilesContextManager(Coroutine):
    """`aiofiles.open(...)`: await it for the file, or use it with `async with`, which
    closes the file on exit."""

    __slots__ = ("_coro", "_obj")

    def __init__(self, coro):
        self._coro = coro
        self._obj = None

    def send(self, value):
        return self._coro.send(value)

    def throw(self, typ, val=None, tb=None):
        if val is None:
            return self._coro.throw(typ)
        if tb is None:
            return self._coro.throw(typ, val)
        return self._coro.throw(typ, val, tb)

    def close(self):
        return self._coro.close()

    def __await__(self) -> Generator:
        resp = yield from self._coro.__await__()
        self._obj = resp
        return resp

    async def __aenter__(self):
        self._obj = await self._coro
        return self._obj

    async def __aexit__(self, exc_type, exc_val, exc_tb):
        await self._obj.close()
        self._obj = None
