"""The polyglot scenario set, in Python: `scenarios NAME [N]`.

Built with componentize-py against the `command` world of `wit/aiofs.wit`; every aiofs
import is an `async def` and `run` is the async `wasi:cli/run@0.3.0` export. Each scenario
checks what the guest sees (values and exact error codes) and raises on a mismatch; the
host test then checks the disk. The fixture is `Sandbox` in `tests/src/lib.rs`.
"""

import asyncio
import sys

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import files, path, tempfile
from wit_world.imports import os as aos
from wit_world.imports.types import ErrorCode, FileType, Whence


def check(got, want, what):
    if got != want:
        raise AssertionError(f"{what}: expected {want!r}, got {got!r}")


async def fails(awaitable, code, what):
    """Await `awaitable` and require it to fail with `code`."""
    try:
        value = await awaitable
    except Err as e:
        check(e.value, code, what)
        return
    if hasattr(value, "__exit__"):
        value.__exit__(None, None, None)
    raise AssertionError(f"{what}: expected {code}, got the value {value!r}")


async def binary_io():
    with await files.open("/data/p.bin", "w+b") as f:
        check(f.is_text(), False, "is_text")
        check(await f.write(b"hello world\nsecond line\nthird"), 29, "write")
        check(await f.tell(), 29, "tell")
        check(await f.seek(0, Whence.START), 0, "seek start")
        check(await f.read(5), b"hello", "read")
        check(await f.seek(1, Whence.CURRENT), 6, "seek current")
        check(await f.read_line(), b"world\n", "read_line")
        check(await f.read_lines(10), [b"second line\n", b"third"], "read_lines")
        check(await f.read_line(), b"", "read_line at eof")
        check(await f.seek(-5, Whence.END), 24, "seek end")
        check(await f.read_all(), b"third", "read_all")
        await fails(f.seek(-100, Whence.CURRENT), ErrorCode.INVALID, "negative seek")
        check(await f.truncate(11), 11, "truncate")
        check((await f.stat()).size, 11, "fstat size")
        await fails(f.read_text(1), ErrorCode.INVALID, "read_text on binary")
        await f.close()
        check(f.closed(), True, "closed")
        await fails(f.read(1), ErrorCode.BAD_DESCRIPTOR, "read after close")


async def text_io():
    # lines.txt is "one\r\ntwo\rthree\nfour" on disk: universal newlines.
    with await files.open("/data/lines.txt", "r") as f:
        check(await f.read_line_text(), "one\n", "read_line_text")
        check(await f.read_lines_text(10), ["two\n", "three\n", "four"], "read_lines_text")
        check(await f.read_line_text(), "", "eof")
        check(await f.seek(0, Whence.START), 0, "seek")
        check(await f.read_text(5), "one\nt", "read_text")
        check(await f.read_all_text(), "wo\nthree\nfour", "read_all_text")
        await fails(f.read(1), ErrorCode.INVALID, "bytes on text")
    with await files.open("/data/p.txt", "w") as w:
        check(await w.write_text("héllo\n"), 6, "write_text counts characters")
        check(await w.write_lines_text(["a\n", "b\n"]), 4, "write_lines_text")
        await w.close()
    with await files.open("/data/p.txt", "a") as a:
        await a.write_text("c\n")
    with await files.open("/data/p.txt", "r") as r:
        check(await r.read_all_text(), "héllo\na\nb\nc\n", "read back")


async def dirs():
    await aos.makedirs("/data/pd/a/b", False)
    await aos.makedirs("/data/pd/a/b", True)
    await fails(aos.makedirs("/data/pd/a/b", False), ErrorCode.EXIST, "makedirs twice")
    await files.write_file("/data/pd/a/f.txt", b"f", False)
    check(sorted(await aos.listdir("/data/pd/a")), ["b", "f.txt"], "listdir")
    entries = sorted(await aos.scandir("/data/pd/a", True), key=lambda e: e.name)
    check([(e.name, e.type) for e in entries],
          [("b", FileType.DIRECTORY), ("f.txt", FileType.REGULAR_FILE)], "scandir")
    check(entries[1].stat.size, 1, "scandir stat")
    st = await aos.stat("/data/hello.txt")
    check((st.type, st.size), (FileType.REGULAR_FILE, 12), "stat")
    await fails(aos.stat("/data/missing"), ErrorCode.NO_ENTRY, "stat missing")
    check(await path.exists("/data/hello.txt"), True, "exists")
    check(await path.exists("/data/missing"), False, "exists missing")
    check(await path.is_dir("/data/pd/a"), True, "is_dir")
    await aos.rename("/data/pd/a/f.txt", "/data/pd/g.txt")
    await aos.rmdir("/data/pd/a/b")
    await files.write_file("/data/pd/gone.txt", b"x", False)
    await aos.remove("/data/pd/gone.txt")
    await fails(aos.remove("/data/pd/gone.txt"), ErrorCode.NO_ENTRY, "remove twice")
    await fails(aos.rmdir("/data/pd"), ErrorCode.NOT_EMPTY, "rmdir non-empty")


async def whole_file():
    check(await files.read_file("/data/hello.txt", 1024), b"hello\nworld\n", "read_file")
    check(await files.read_file("hello.txt", 1024), b"hello\nworld\n", "relative path")
    await fails(files.read_file("/data/hello.txt", 3), ErrorCode.FILE_TOO_LARGE, "max")
    await files.write_file("/data/w.txt", b"plain", False)
    await files.write_file("/data/wa.txt", b"old", True)
    await files.write_file("/data/wa.txt", b"new content", True)
    await fails(files.write_file("/data/nodir/x", b"", True), ErrorCode.NO_ENTRY, "no parent")


async def temp():
    opts = tempfile.TempOptions(dir=None, prefix="t-", suffix=".tmp")
    with await tempfile.temporary_file("", opts) as anon:
        await anon.write(b"scratch")
        await anon.seek(0, Whence.START)
        check(await anon.read_all(), b"scratch", "anonymous temp")
    named = await tempfile.named_temporary_file("w+", opts, True)
    name = named.name()
    check(name.startswith("/data/t-") and name.endswith(".tmp"), True, name)
    check(await path.is_file(name), True, "named exists")
    await named.write_text("named")
    await named.close()
    check(await path.exists(name), False, "named removed on close")
    with await tempfile.temporary_directory(opts) as d:
        await files.write_file(d.path() + "/inner.txt", b"i", False)
        check(await path.is_dir(d.path()), True, "temp dir")
        await d.cleanup()
        check(await path.exists(d.path()), False, "temp dir removed")


async def escape():
    np = ErrorCode.NOT_PERMITTED
    await fails(files.read_file("/data/../outside/canary.txt", 100), np, "dot-dot")
    await fails(files.open("/data/escape-link", "rb"), np, "symlink out")
    await fails(files.write_file("/data/escape-dir/new", b"x", False), np, "write via link")
    await fails(files.write_file("/ro/new.txt", b"x", False), ErrorCode.READ_ONLY, "read-only")


async def concurrent_reads(n):
    results = await asyncio.gather(*(files.read_file(f"/data/c{i}.txt", 100) for i in range(n)))
    for i, data in enumerate(results):
        check(data, f"file {i}".encode(), f"c{i}.txt")


SCENARIOS = {
    "binary_io": binary_io,
    "text_io": text_io,
    "dirs": dirs,
    "whole_file": whole_file,
    "tempfile": temp,
    "escape": escape,
}


class Run(exports.Run):
    async def run(self) -> None:
        name = sys.argv[1] if len(sys.argv) > 1 else ""
        try:
            if name == "concurrent_reads":
                await concurrent_reads(int(sys.argv[2]))
            elif name in SCENARIOS:
                await SCENARIOS[name]()
            else:
                raise AssertionError(f"unknown scenario {name!r}")
        except BaseException as e:
            # The host sees only the exit status otherwise; say why (an `Err` names its
            # error code).
            print(f"scenario {name}: failed: {e!r}", file=sys.stderr)
            raise
        print(f"scenario {name}: ok")
