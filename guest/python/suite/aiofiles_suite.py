"""Runs aiofiles' own test suite (the `tests/` of the aiofiles 25.1.0 sdist, unmodified)
inside a component, against the `aiofiles` package of this repo.

Real pytest cannot start in a guest, and componentize-py imports everything at build
time, so this runner imports the test modules when the component is built and uses
pytest only as a library: for its marks (`parametrize`, `skipif`), `pytest.raises`, its
`tmpdir` path type and `MonkeyPatch`. It provides the fixtures the suite uses
(`tmpdir`, `tmp_path`, `capsys`, `capsysbinary`, `monkeypatch`, `unused_tcp_port`),
puts `tests/resources` back as it was before every test (several tests rename files
there), and prints one line per item and a closing `N passed, N failed, N skipped`.

Arguments: `where` prints the directory the suite must be granted at (the build-time
path of the tests, which their `__file__` names), nothing else. Any other arguments are
item ids to run alone. tests/build/polyglot.rs builds it; tests/python_aiofiles_suite.rs
runs it with `/tmp` and that directory granted.
"""

import asyncio
import contextlib
import importlib.util
import inspect
import io
import os
import pathlib
import sys
import traceback

import pytest
from _pytest._py.path import LocalPath
from _pytest.mark.structures import Mark, ParameterSet
from _pytest.monkeypatch import MonkeyPatch

import aiofiles
import aiofiles.os
from wit_world import exports
from wit_world.imports import files as _files
from wit_world.imports import os as _aos

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(HERE, "tests")
RESOURCES = os.path.join(TESTS, "resources")
TMP = "/tmp"


def _load_modules():
    modules = []
    for dirpath, dirnames, filenames in os.walk(TESTS):
        dirnames.sort()
        for name in sorted(filenames):
            if name.startswith("test_") and name.endswith(".py"):
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, HERE)
                modname = rel[:-3].replace(os.sep, ".")
                spec = importlib.util.spec_from_file_location(modname, path)
                mod = importlib.util.module_from_spec(spec)
                sys.modules[modname] = mod
                spec.loader.exec_module(mod)
                modules.append((rel, mod))
    return modules


def _ids(argnames, values, index):
    parts = []
    for name, v in zip(argnames, values):
        if isinstance(v, (str, int, float, bool)) and not (isinstance(v, str) and not v.isprintable()):
            parts.append(str(v))
        else:
            parts.append(f"{name}{index}")
    return "-".join(parts)


def _expand(func, module):
    """pytest's items for one test function: (id suffix, kwargs, skip reason or None)."""
    marks = [m for m in getattr(func, "pytestmark", []) if isinstance(m, Mark)]
    cases = [("", {})]
    skip = None
    for mark in marks:
        if mark.name == "parametrize":
            argnames, argvalues = mark.args[0], mark.args[1]
            if isinstance(argnames, str):
                argnames = [a.strip() for a in argnames.split(",") if a.strip()]
            ids = mark.kwargs.get("ids")
            new = []
            for suffix, kw in cases:
                for i, v in enumerate(argvalues):
                    if isinstance(v, ParameterSet):
                        v = v.values
                    elif len(argnames) == 1:
                        v = (v,)
                    pid = ids[i] if ids else _ids(argnames, v, i)
                    new.append(((suffix + "-" if suffix else "") + str(pid),
                                {**kw, **dict(zip(argnames, v))}))
            cases = new
        elif mark.name == "skipif":
            cond = mark.args[0] if mark.args else mark.kwargs.get("condition")
            if isinstance(cond, str):
                cond = eval(cond, vars(module))
            if cond and skip is None:
                skip = mark.kwargs.get("reason", "skipif")
        elif mark.name == "skip":
            skip = mark.kwargs.get("reason", "skip")
    return [(s, kw, skip) for s, kw in cases]


def _collect():
    items = []
    for rel, mod in MODULES:
        for name, func in vars(mod).items():
            if name.startswith("test_") and inspect.isfunction(func):
                for suffix, kwargs, skip in _expand(func, mod):
                    item = f"{rel}::{name}" + (f"[{suffix}]" if suffix else "")
                    items.append((item, func, kwargs, skip))
    return items


def _snapshot(path):
    snap = {}
    for name in sorted(os.listdir(path)):
        with open(os.path.join(path, name), "rb") as f:
            snap[name] = f.read()
    return snap


# Build time: import the suite, collect its items, remember the resources.
MODULES = _load_modules()
ITEMS = _collect()
PRISTINE = _snapshot(RESOURCES)


async def restore_resources():
    """Put tests/resources back as the sdist has it (through aiofs)."""
    for name in await aiofiles.os.listdir(RESOURCES):
        if name not in PRISTINE:
            path = os.path.join(RESOURCES, name)
            st = await aiofiles.os.lstat(path)
            if (st.st_mode & 0o170000) == 0o040000:
                await _aos.remove_tree(path)
            else:
                await aiofiles.os.remove(path)
    for name, data in PRISTINE.items():
        path = os.path.join(RESOURCES, name)
        try:
            same = await _files.read_file(path, len(data) + 1) == data
        except Exception:
            same = False
        if not same:
            await _files.write_file(path, data, False)


class _NoStdin(io.TextIOBase):
    """What pytest puts in sys.stdin while capturing: reading raises OSError."""

    buffer = property(lambda self: self)

    def read(self, *args):
        raise OSError("pytest: reading from stdin while output is captured!  Consider using `-s`.")

    readline = read


class Capture:
    """`capsys` / `capsysbinary`."""

    def __init__(self, binary):
        self._binary = binary
        self._saved = (sys.stdout, sys.stderr, sys.stdin)
        self._out, self._err = self._new(), self._new()
        sys.stdout, sys.stderr, sys.stdin = self._out, self._err, _NoStdin()

    def _new(self):
        return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)

    def _take(self, stream):
        stream.flush()
        data = stream.buffer.getvalue()
        stream.buffer.seek(0)
        stream.buffer.truncate()
        return data if self._binary else data.decode("utf-8")

    def readouterr(self):
        return self._take(self._out), self._take(self._err)

    def close(self):
        sys.stdout, sys.stderr, sys.stdin = self._saved


class Fixtures:
    """The fixtures of one item, created on demand and torn down afterwards."""

    def __init__(self, number):
        self._number = number
        self._cleanups = []

    async def tmp_path(self):
        path = f"{TMP}/pytest/t{self._number}"
        await aiofiles.os.makedirs(path, exist_ok=True)
        return pathlib.Path(path)

    async def tmpdir(self):
        return LocalPath(await self.tmp_path())

    async def capsys(self):
        cap = Capture(False)
        self._cleanups.append(cap.close)
        return cap

    async def capsysbinary(self):
        cap = Capture(True)
        self._cleanups.append(cap.close)
        return cap

    async def monkeypatch(self):
        mp = MonkeyPatch()
        self._cleanups.append(mp.undo)
        return mp

    async def unused_tcp_port(self):
        raise RuntimeError("unused_tcp_port: a component has no sockets here")

    async def make(self, names):
        kwargs = {}
        for name in names:
            kwargs[name] = await getattr(self, name)()
        return kwargs

    def close(self):
        for f in reversed(self._cleanups):
            f()


def _oneline(e):
    text = f"{type(e).__name__}: {e}".replace("\n", " ")
    return text if len(text) <= 300 else text[:297] + "..."


async def run_item(number, item, func, params):
    fx = Fixtures(number)
    try:
        await restore_resources()
        wanted = [p for p in inspect.signature(func).parameters if p not in params]
        kwargs = {**params, **await fx.make(wanted)}
        result = func(**kwargs)
        if inspect.isawaitable(result):
            await result
        return None
    except BaseException as e:  # noqa: B902 - a test may raise anything, CancelledError too
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        if os.environ.get("AIOFILES_SUITE_TRACEBACKS"):
            traceback.print_exc()
        return e
    finally:
        fx.close()


async def main(args):
    if args[:1] == ["where"]:
        print(f"suite root: {HERE}")
        return
    with contextlib.suppress(OSError):
        os.chdir(HERE)
    sync_fs = os.path.exists(os.path.join(RESOURCES, "test_file1.txt"))
    print(f"aiofiles suite: {len(ITEMS)} items; cwd {os.getcwd()}; "
          f"synchronous filesystem (wasi:filesystem): {'yes' if sync_fs else 'no'}")
    selected = [it for it in ITEMS if not args or it[0] in args]
    passed = failed = skipped = 0
    for number, (item, func, params, skip) in enumerate(selected):
        if skip is not None:
            skipped += 1
            print(f"SKIPPED {item}: {skip}")
            continue
        error = await run_item(number, item, func, params)
        if error is None:
            passed += 1
            print(f"PASSED {item}")
        else:
            failed += 1
            print(f"FAILED {item}: {_oneline(error)}")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")


class Run(exports.Run):
    async def run(self) -> None:
        await main(sys.argv[1:])
