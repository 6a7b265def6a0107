"""Helpers that give the wrapper classes their methods, as in aiofiles' threadpool.utils.

aiofiles hops to a thread for each delegated method; here the wrapped object's method
is itself a coroutine over aiofs, so the wrapper awaits it directly.
"""


def delegate_to_executor(*attrs):
    """Add coroutine methods that await the wrapped file's method of the same name."""

    def cls_builder(cls):
        for name in attrs:
            setattr(cls, name, _make_delegate(name))
        return cls

    return cls_builder


def proxy_method_directly(*attrs):
    """Add plain methods that call the wrapped file's method."""

    def cls_builder(cls):
        for name in attrs:
            setattr(cls, name, _make_proxy(name))
        return cls

    return cls_builder


def proxy_property_directly(*attrs):
    """Add read-only properties that read the wrapped file's attribute."""

    def cls_builder(cls):
        for name in attrs:
            setattr(cls, name, property(_make_getter(name)))
        return cls

    return cls_builder


def _make_delegate(name):
    async def method(self, *args, **kwargs):
        result = getattr(self._file, name)(*args, **kwargs)
        if hasattr(result, "__await__"):
            result = await result
        return result

    method.__name__ = name
    return method


def _make_proxy(name):
    def method(self, *args, **kwargs):
        return getattr(self._file, name)(*args, **kwargs)

    method.__name__ = name
    return method


def _make_getter(name):
    return lambda self: getattr(self._file, name)
