"""Workloads timed by guest/python/bench/run.sh, written against the aiofiles API only:
the same module runs natively on CPython with aiofiles from PyPI and inside a component
with this repo's aiofiles package under `aiofs run`.

`main(root)` prints one line per workload: `NAME median_ms min_ms checks`.
"""

import asyncio
import time

import aiofiles

REPS = 7
SMALL_FILES = 1000
CONCURRENCY = 64


async def read_small_files(root):
    """Read SMALL_FILES 4 KiB files, CONCURRENCY at a time; returns the bytes read."""
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(i):
        async with sem:
            async with aiofiles.open(f"{root}/small/f{i}.bin", "rb") as f:
                return len(await f.read())

    return sum(await asyncio.gather(*(one(i) for i in range(SMALL_FILES))))


async def read_small_files_sequential(root):
    """The same files one after the other."""
    total = 0
    for i in range(SMALL_FILES):
        async with aiofiles.open(f"{root}/small/f{i}.bin", "rb") as f:
            total += len(await f.read())
    return total


async def iterate_lines(root):
    """`async for line in f` over a 100k-line text file; returns the line count."""
    n = 0
    async with aiofiles.open(f"{root}/lines.txt") as f:
        async for _ in f:
            n += 1
    return n


async def write_lines(root):
    """100k `await f.write(line)` calls to a new text file; returns the line count."""
    async with aiofiles.open(f"{root}/out.txt", "w") as f:
        for i in range(100_000):
            await f.write(f"line {i}\n")
    return 100_000


WORKLOADS = [
    ("read_1000_small_files_64_at_once", read_small_files),
    ("read_1000_small_files_one_by_one", read_small_files_sequential),
    ("iterate_100k_lines", iterate_lines),
    ("write_100k_lines", write_lines),
]


async def main(root):
    for name, func in WORKLOADS:
        times = []
        checks = set()
        for _ in range(REPS):
            t0 = time.perf_counter()
            checks.add(await func(root))
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        print(f"{name} {times[len(times) // 2]:.2f} {times[0]:.2f} {sorted(checks)}")
