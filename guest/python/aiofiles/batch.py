"""`aiofiles.batch`: many small operations in one host call (aiofs' `batch` interface).

aiofiles has no such thing: every `aiofiles.os.stat` is its own trip to a thread. Here
a list of operations travels in one host call; the host runs them in order on one pool
thread, each exactly as the single function would (the same checks and limits), and
each fails on its own. Results come back in order, like
`asyncio.gather(..., return_exceptions=True)`: the value, or the `OSError` the single
call would have raised::

    import aiofiles.batch

    results = await aiofiles.batch.run([
        ("makedirs", "/data/out", True),
        ("write_file", "/data/out/a.txt", b"a"),
        ("stat", "/data/out/a.txt"),
        ("exists", "/data/missing"),
        ("read_file", "/data/out/a.txt"),
    ])
    # [None, None, os.stat_result(...), False, b"a"]
    sizes = [st.st_size for st in await aiofiles.batch.stat_many(paths)]

Operations: `("stat", path)`, `("lstat", path)`, `("exists", path)`, `("isfile", path)`,
`("isdir", path)`, `("read_file", path[, max])` (bytes), `("write_file", path, data)`
(bytes or str, UTF-8), `("remove", path)`, `("mkdir", path)`,
`("makedirs", path[, exist_ok])`, `("rmdir", path)`, `("rename", src, dst)`.

The host caps one call at 1024 items and 16 MiB of paths and data by default; `run`
and the `*_many` functions split longer lists into several calls (in order).
"""

import asyncio

from componentize_py_types import Err
from wit_world.imports import batch as _b

from . import _wit
from ._wit import guest_path as _gp
from .os import stat_result

__all__ = ["run", "stat_many", "exists_many", "MAX_ITEMS", "MAX_BYTES"]

#: Most items sent in one host call (the host's default limit).
MAX_ITEMS = 1024
#: Most bytes of paths and data sent in one host call (the host's default limit).
MAX_BYTES = 16 << 20


def _op(spec):
    """The WIT op for one tuple, and its weight in bytes."""
    kind, *args = spec
    if kind in ("stat", "lstat", "exists", "isfile", "isdir", "remove", "unlink", "mkdir",
                "rmdir"):
        (path,) = args
        p = _gp(path)
        cls = {
            "stat": _b.Op_Stat, "lstat": _b.Op_Lstat, "exists": _b.Op_Exists,
            "isfile": _b.Op_IsFile, "isdir": _b.Op_IsDir, "remove": _b.Op_Remove,
            "unlink": _b.Op_Remove, "mkdir": _b.Op_Mkdir, "rmdir": _b.Op_Rmdir,
        }[kind]
        return cls(p), len(p)
    if kind == "read_file":
        p = _gp(args[0])
        limit = args[1] if len(args) > 1 else 2**64 - 1
        return _b.Op_ReadFile((p, limit)), len(p)
    if kind == "write_file":
        path, data = args
        if isinstance(data, str):
            data = data.encode()
        p = _gp(path)
        return _b.Op_WriteFile((p, bytes(data))), len(p) + len(data)
    if kind == "makedirs":
        p = _gp(args[0])
        exist_ok = bool(args[1]) if len(args) > 1 else False
        return _b.Op_Makedirs((p, exist_ok)), len(p)
    if kind == "rename":
        s, d = _gp(args[0]), _gp(args[1])
        return _b.Op_Rename((s, d)), len(s) + len(d)
    raise ValueError(f"unknown batch operation {kind!r}")


def _value(outcome):
    if isinstance(outcome, _b.Outcome_Stat):
        return stat_result(outcome.value)
    if isinstance(outcome, _b.Outcome_Done):
        return None
    return outcome.value


def _chunks(specs):
    """Lists of (spec, op) of at most MAX_ITEMS items and MAX_BYTES bytes."""
    out, cur, size = [], [], 0
    for spec in specs:
        op, weight = _op(spec)
        if cur and (len(cur) == MAX_ITEMS or size + weight > MAX_BYTES):
            out.append(cur)
            cur, size = [], 0
        cur.append((spec, op))
        size += weight
    if cur:
        out.append(cur)
    return out


async def _call(chunk):
    results = await _wit.call(_b.run([op for _, op in chunk]))
    out = []
    for (spec, _), r in zip(chunk, results):
        if isinstance(r, Err):
            fn = _wit.fspath(spec[1])
            fn2 = _wit.fspath(spec[2]) if spec[0] == "rename" else None
            out.append(_wit.oserror(r.value, fn, fn2))
        else:
            out.append(_value(r.value))
    return out


async def run(specs):
    """Run the operations in order; one result per operation: its value, or the
    `OSError` the single call would have raised (returned, not raised). Raises only
    if the host refuses a call as a whole (`OSError(errno.EDQUOT)` past its limits)."""
    out = []
    for chunk in _chunks(specs):
        out.extend(await _call(chunk))
    return out


async def _many(kind, paths, in_flight=4):
    chunks = _chunks([(kind, p) for p in paths])
    results = []
    for i in range(0, len(chunks), in_flight):
        for part in await asyncio.gather(*(_call(c) for c in chunks[i:i + in_flight])):
            results.extend(part)
    return results


async def stat_many(paths):
    """`os.stat` of every path, in order (an `OSError` in place of a failed one), in as
    few host calls as the limits allow, several in flight at once."""
    return await _many("stat", paths)


async def exists_many(paths):
    """`os.path.exists` of every path, in order, several host calls in flight at once."""
    return await _many("exists", paths)
