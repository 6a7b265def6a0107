"""Checks of the aiofiles package against real grants: `aiofiles_checks NAME`.

Built with componentize-py (guest/python/wit, world `app`) together with the package in
guest/python/aiofiles. Each check asserts what the guest sees and raises on a mismatch;
the host test (tests/polyglot.rs, module `aiofiles_pkg`) then checks the disk. Uses the
`Sandbox` fixture of tests/src/lib.rs (/data read-write, /ro read-only).
"""

import asyncio
import errno
import os
import sys
import traceback

import aiofiles
import aiofiles.os
import aiofiles.tempfile
from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import files


def check(got, want, what):
    if got != want:
        raise AssertionError(f"{what}: expected {want!r}, got {got!r}")


async def raises(awaitable, exc, num, what, filename=None):
    """Await and require `exc` with errno `num` (and `filename`, when given)."""
    try:
        value = await awaitable
    except exc as e:
        check(type(e), exc, what + " type")
        check(e.errno, num, what + " errno")
        check(e.strerror, os.strerror(num), what + " strerror")
        if filename is not None:
            check(e.filename, filename, what + " filename")
            check(str(e), f"[Errno {num}] {os.strerror(num)}: {filename!r}", what + " str")
        return e
    raise AssertionError(f"{what}: expected {exc.__name__}, got {value!r}")


async def errors():
    await raises(aiofiles.open("/data/missing.txt"), FileNotFoundError, errno.ENOENT,
                 "open missing", "/data/missing.txt")
    await raises(aiofiles.open("/data/hello.txt", "x"), FileExistsError, errno.EEXIST,
                 "x on existing", "/data/hello.txt")
    await raises(aiofiles.open("/data/sub", "r"), IsADirectoryError, errno.EISDIR,
                 "open a directory", "/data/sub")
    await raises(aiofiles.os.listdir("/data/hello.txt"), NotADirectoryError, errno.ENOTDIR,
                 "listdir a file", "/data/hello.txt")
    await raises(aiofiles.os.mkdir("/data/sub"), FileExistsError, errno.EEXIST, "mkdir twice",
                 "/data/sub")
    await raises(aiofiles.os.rmdir("/data/sub"), OSError, errno.ENOTEMPTY, "rmdir non-empty")
    await raises(aiofiles.open("/data/../outside/canary.txt"), PermissionError, errno.EPERM,
                 "escape", "/data/../outside/canary.txt")
    await raises(aiofiles.open("/data/escape-link"), PermissionError, errno.EPERM,
                 "symlink out")
    await raises(aiofiles.open("/ro/new.txt", "w"), OSError, errno.EROFS, "read-only grant",
                 "/ro/new.txt")
    await raises(aiofiles.os.rename("/data/nope", "/data/nope2"), FileNotFoundError,
                 errno.ENOENT, "rename missing")
    # Closed files and wrong directions fail like CPython's io.
    f = await aiofiles.open("/data/hello.txt", "rb")
    await f.close()
    try:
        await f.read()
        raise AssertionError("read after close")
    except ValueError as e:
        check(str(e), "I/O operation on closed file.", "closed")
    async with aiofiles.open("/data/hello.txt") as r:
        try:
            await r.write("x")
            raise AssertionError("write on a read-only file")
        except OSError as e:
            check(type(e).__name__, "UnsupportedOperation", "not writable")
    for bad in ("rw", "z", "rbt", "r++"):
        try:
            await aiofiles.open("/data/hello.txt", bad)
            raise AssertionError(f"mode {bad!r} accepted")
        except ValueError:
            pass


async def quota():
    # The host allows 2 open files (see the test): the third open is EDQUOT.
    a = await aiofiles.open("/data/hello.txt")
    b = await aiofiles.open("/data/lines.txt")
    e = await raises(aiofiles.open("/data/utf8.txt"), OSError, errno.EDQUOT, "third open",
                     "/data/utf8.txt")
    check(type(e), OSError, "quota is a plain OSError")
    await a.close()
    async with aiofiles.open("/data/utf8.txt") as c:
        check(await c.read(), "hééllo", "open after a close")
    await b.close()


async def buffering():
    # Buffered writes stay in the guest until flush; unbuffered ones go at once.
    async with aiofiles.open("/data/buf.bin", "wb") as w:
        await w.write(b"0")
        check(await files.read_file("/data/buf.bin", 100), b"", "before flush")
        await w.flush()
        check(await files.read_file("/data/buf.bin", 100), b"0", "after flush")
        await w.write(b"1")
    check(await files.read_file("/data/buf.bin", 100), b"01", "after close")
    async with aiofiles.open("/data/raw.bin", "wb", buffering=0) as w:
        await w.write(b"now")
        check(await files.read_file("/data/raw.bin", 100), b"now", "unbuffered")
    # Line buffering in text mode: a newline pushes the line out.
    async with aiofiles.open("/data/lines-out.txt", "w", buffering=1) as w:
        await w.write("a")
        check(await files.read_file("/data/lines-out.txt", 100), b"", "no newline yet")
        await w.write("b\nc")
        check(await files.read_file("/data/lines-out.txt", 100), b"ab\nc", "line buffered")
    # A write larger than the buffer goes out at once.
    big = b"x" * (1 << 20)
    async with aiofiles.open("/data/big-out.bin", "wb") as w:
        check(await w.write(big), len(big), "big write")
        check(len(await files.read_file("/data/big-out.bin", 2 << 20)), len(big), "big out")


async def text():
    # lines.txt is "one\r\ntwo\rthree\nfour": universal newlines, and `newlines`.
    async with aiofiles.open("/data/lines.txt") as f:
        check([line async for line in f], ["one\n", "two\n", "three\n", "four"], "lines")
        check(f.newlines, ("\r", "\n", "\r\n"), "newlines")
    async with aiofiles.open("/data/lines.txt", newline="") as f:
        check(await f.readlines(), ["one\r\n", "two\r", "three\n", "four"], "newline=''")
    async with aiofiles.open("/data/lines.txt") as f:
        check(await f.read(4), "one\n", "read(4) across \\r\\n")
        check(await f.tell(), 5, "tell counts bytes")
        check(await f.read(), "two\nthree\nfour", "rest")
    async with aiofiles.open("/data/utf8.txt", encoding="latin-1") as f:
        check(await f.read(), "hééllo".encode().decode("latin-1"), "latin-1")
    async with aiofiles.open("/data/bad-utf8.txt") as f:
        try:
            await f.read()
            raise AssertionError("invalid UTF-8 decoded")
        except UnicodeDecodeError:
            pass
    async with aiofiles.open("/data/bad-utf8.txt", errors="replace") as f:
        check(await f.read(), "f\ufffdo\n", "errors=replace")
    async with aiofiles.open("/data/crlf.txt", "w", newline="\r\n") as f:
        check(await f.write("a\nb\n"), 4, "write counts characters")
    check(await files.read_file("/data/crlf.txt", 100), b"a\r\nb\r\n", "newline=\\r\\n")
    async with aiofiles.open("/data/mixed.txt", "w+") as f:
        await f.write("first\nsecond\n")
        await f.seek(0)
        check(await f.readline(), "first\n", "read after write")
        await f.write("2nd\n")
        await f.seek(0)
        check(await f.read(), "first\n2nd\nnd\n", "write after read")


async def osfuncs():
    await aiofiles.os.makedirs("/data/tree/a/b", exist_ok=True)
    await aiofiles.os.makedirs("/data/tree/a/b", exist_ok=True)
    async with aiofiles.open("/data/tree/a/f.txt", "w") as f:
        await f.write("f")
    check(sorted(await aiofiles.os.listdir("/data/tree/a")), ["b", "f.txt"], "listdir")
    entries = {e.name: e for e in await aiofiles.os.scandir("/data/tree/a")}
    check((entries["b"].is_dir(), entries["f.txt"].is_file()), (True, True), "scandir types")
    check(entries["f.txt"].stat().st_size, 1, "DirEntry.stat")
    check(entries["f.txt"].path, "/data/tree/a/f.txt", "DirEntry.path")
    names = [e.name async for e in await aiofiles.os.scandir("/data/tree/a")]
    check(sorted(names), ["b", "f.txt"], "async for over scandir")
    st = await aiofiles.os.stat("/data/hello.txt")
    check((st.st_size, int(st.st_mtime), st.st_mtime_ns % 10**9), (12, 1_000_000_000, 500_000_000),
          "stat")
    import stat as pystat
    check(pystat.S_ISREG(st.st_mode), True, "S_ISREG")
    check(pystat.S_ISLNK((await aiofiles.os.lstat("/data/escape-link")).st_mode), True, "lstat")
    check(await aiofiles.os.path.getsize("/data/hello.txt"), 12, "getsize")
    check(await aiofiles.os.path.getmtime("/data/hello.txt"), 1_000_000_000.5, "getmtime")
    check(await aiofiles.os.path.exists("/data/nope"), False, "exists")
    check(await aiofiles.os.path.exists("/outside/canary.txt"), False, "exists outside")
    check(await aiofiles.os.path.isdir("/data/tree"), True, "isdir")
    check(await aiofiles.os.path.ismount("/data"), True, "ismount grant")
    check(await aiofiles.os.path.ismount("/data/tree"), False, "ismount subdir")
    check(await aiofiles.os.access("/data/hello.txt", os.R_OK | os.W_OK), True, "access rw")
    check(await aiofiles.os.access("/ro/ro.txt", os.W_OK), False, "access ro")
    check(await aiofiles.os.access("/data/nope", os.F_OK), False, "access missing")
    await aiofiles.os.rename("/data/tree/a/f.txt", "/data/tree/g.txt")
    await aiofiles.os.replace("/data/tree/g.txt", "/data/tree/h.txt")
    await aiofiles.os.renames("/data/tree/h.txt", "/data/tree/x/y/h.txt")
    await aiofiles.os.link("/data/tree/x/y/h.txt", "/data/tree/hard.txt")
    check((await aiofiles.os.stat("/data/tree/hard.txt")).st_nlink, 2, "link")
    check(await aiofiles.os.path.samefile("/data/tree/hard.txt", "/data/tree/x/y/h.txt"), True,
          "samefile")
    # An absolute target inside the grant is stored relative to the link.
    await aiofiles.os.symlink("/data/tree/hard.txt", "/data/tree/x/sym")
    check(await aiofiles.os.readlink("/data/tree/x/sym"), "../hard.txt", "readlink")
    check(await aiofiles.os.path.islink("/data/tree/x/sym"), True, "islink")
    async with aiofiles.open("/data/tree/x/sym") as f:
        check(await f.read(), "f", "through the link")
    await aiofiles.os.remove("/data/tree/x/sym")
    await aiofiles.os.unlink("/data/tree/hard.txt")
    await aiofiles.os.rmdir("/data/tree/a/b")
    await aiofiles.os.removedirs("/data/tree/a")
    check(await aiofiles.os.path.exists("/data/tree/a"), False, "removedirs")
    check(await aiofiles.os.getcwd(), os.getcwd(), "getcwd")
    run = aiofiles.os.wrap(lambda x: x * 2)
    check(await run(21), 42, "wrap")


async def temp():
    async with aiofiles.tempfile.TemporaryFile("w+") as t:
        await t.write("a\nb\n")
        await t.seek(0)
        check([line async for line in t], ["a\n", "b\n"], "TemporaryFile")
    async with aiofiles.tempfile.NamedTemporaryFile("wb+", dir="/data", prefix="nt-") as t:
        name = t.name
        check(name.startswith("/data/nt-"), True, name)
        await t.write(b"x")
        await t.flush()
        check(await files.read_file(name, 10), b"x", "named visible")
    check(await aiofiles.os.path.exists(name), False, "named removed")
    async with aiofiles.tempfile.NamedTemporaryFile(dir="/data", delete_on_close=False) as t:
        name = t.name
        await t.close()
        check(await aiofiles.os.path.exists(name), True, "kept until exit")
    check(await aiofiles.os.path.exists(name), False, "removed at exit")
    async with aiofiles.tempfile.TemporaryDirectory(prefix="td-", dir="/data") as d:
        check(d.startswith("/data/td-"), True, d)
        async with aiofiles.open(d + "/inner", "w") as f:
            await f.write("i")
    check(await aiofiles.os.path.exists(d), False, "temp dir removed")
    async with aiofiles.tempfile.SpooledTemporaryFile(max_size=4, dir="/data") as s:
        await s.write(b"abc")
        check(s.name, None, "in memory")
        await s.write(b"def")
        check(s.name is not None, True, "rolled over")
        await s.seek(0)
        check(await s.read(), b"abcdef", "spooled content")


async def timers():
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await asyncio.sleep(0.02)
    check(loop.time() - t0 >= 0.02, True, "sleep waits")
    order = []

    async def later(d, tag):
        await asyncio.sleep(d)
        order.append(tag)

    await asyncio.gather(later(0.03, "c"), later(0.01, "a"), later(0.02, "b"))
    check(order, ["a", "b", "c"], "timers fire in deadline order")
    try:
        await asyncio.wait_for(asyncio.sleep(30), 0.01)
        raise AssertionError("wait_for did not time out")
    except TimeoutError:
        pass
    try:
        async with asyncio.timeout(0.01):
            await asyncio.sleep(30)
        raise AssertionError("timeout did not fire")
    except TimeoutError:
        pass
    # A timeout that does not fire leaves the result alone.
    async with asyncio.timeout(30):
        async with aiofiles.open("/data/hello.txt") as f:
            check(await f.read(), "hello\nworld\n", "inside a timeout")
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(aiofiles.os.path.getsize(p))
                 for p in ("/data/hello.txt", "/data/big.bin")]
    check([t.result() for t in tasks], [12, 4096], "TaskGroup")


async def cancel():
    # A task waiting on a timer, or on another task, can be cancelled.
    sleeper = asyncio.create_task(asyncio.sleep(30))
    await asyncio.sleep(0)
    sleeper.cancel()
    try:
        await sleeper
    except asyncio.CancelledError:
        pass
    check(sleeper.cancelled(), True, "timer task cancelled")
    # The file is closed by `async with` when the cancellation arrives at a timer.
    holder = {}

    async def hold():
        async with aiofiles.open("/data/hello.txt") as f:
            holder["f"] = f
            await asyncio.sleep(30)

    task = asyncio.create_task(hold())
    try:
        await asyncio.wait_for(task, 0.01)
    except TimeoutError:
        pass
    check(holder["f"].closed, True, "closed on cancellation")


async def stdio():
    # aiofiles.stdout/stderr(_bytes) are the guest's wasi:cli streams (sys.stdout...).
    check(await aiofiles.stdout.write("text out\n"), 9, "stdout.write")
    await aiofiles.stdout.flush()
    check(await aiofiles.stdout_bytes.write(b"bytes out\n"), 10, "stdout_bytes.write")
    await aiofiles.stdout_bytes.flush()
    await aiofiles.stderr.write("text err\n")
    await aiofiles.stderr.flush()
    check(await aiofiles.stdin.read(), "", "stdin is empty")


async def batch():
    import aiofiles.batch
    import stat as pystat
    got = await aiofiles.batch.run([
        ("makedirs", "/data/b/c", True),
        ("write_file", "/data/b/c/one.txt", b"one"),
        ("write_file", "/data/b/two.txt", "two"),
        ("stat", "/data/b/c/one.txt"),
        ("exists", "/data/b/nope"),
        ("isdir", "/data/b/c"),
        ("read_file", "/data/b/two.txt"),
        ("read_file", "/data/b/two.txt", 2),
        ("mkdir", "/data/b"),
        ("write_file", "/ro/no.txt", b"x"),
        ("stat", "/data/../outside/canary.txt"),
        ("rename", "/data/b/two.txt", "/data/b/c/two.txt"),
        ("remove", "/data/b/missing"),
        ("rmdir", "/data/b/c"),
    ])
    check(len(got), 14, "one result per item")
    check(got[:3], [None, None, None], "makedirs, writes")
    check((got[3].st_size, pystat.S_ISREG(got[3].st_mode)), (3, True), "stat")
    check(got[4:7], [False, True, b"two"], "exists, isdir, read_file")
    for i, exc, num, fn in [
        (7, OSError, errno.EFBIG, "/data/b/two.txt"),
        (8, FileExistsError, errno.EEXIST, "/data/b"),
        (9, OSError, errno.EROFS, "/ro/no.txt"),
        (10, PermissionError, errno.EPERM, "/data/../outside/canary.txt"),
        (12, FileNotFoundError, errno.ENOENT, "/data/b/missing"),
        (13, OSError, errno.ENOTEMPTY, "/data/b/c"),
    ]:
        e = got[i]
        check((type(e), e.errno, e.filename), (exc, num, fn), f"item {i}")
    check(got[11], None, "rename")
    # Longer than one host call's worth: split in order.
    paths = [f"/data/b/c/{n}" for n in ("one.txt", "two.txt", "zzz")] * 700
    sts = await aiofiles.batch.stat_many(paths)
    check(len(sts), 2100, "stat_many length")
    check([s.st_size for s in sts[:2]], [3, 3], "stat_many values")
    check(type(sts[2]), FileNotFoundError, "stat_many failure")
    check((await aiofiles.batch.exists_many(paths))[:3], [True, True, False], "exists_many")
    # Past the host's item limit as a whole: quota, nothing done.
    from wit_world.imports import batch as raw
    from wit_world.imports.types import ErrorCode
    try:
        await raw.run([raw.Op_Mkdir("/data/q")] * 1025)
    except Err as e:
        check(e.value, ErrorCode.QUOTA, "over the item limit")
    else:
        raise AssertionError("a batch over the item limit ran")
    check(await aiofiles.os.path.exists("/data/q"), False, "nothing of it ran")


CHECKS = {
    "batch": batch,
    "stdio": stdio,
    "cancel": cancel,
    "errors": errors,
    "quota": quota,
    "buffering": buffering,
    "text": text,
    "os": osfuncs,
    "tempfile": temp,
    "timers": timers,
}


class Run(exports.Run):
    async def run(self) -> None:
        name = sys.argv[1] if len(sys.argv) > 1 else ""
        try:
            await CHECKS[name]()
        except Exception:
            traceback.print_exc()
            raise Err(None) from None
        print(f"check {name}: ok")
