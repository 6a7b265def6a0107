"""An example guest that uses `aiofiles` exactly as on CPython, inside a component.

What the aiofiles docs show, against the grant mounted at /data:
read a JSON config, process a CSV line by line, append log lines, make directories,
write a report atomically (temporary name, then rename), remove the input once done,
read several files at once with `asyncio.gather`, and guard a step with a timeout.

Build and run it (README, "Python"):

    guest/python/build.sh guest/python/examples/inventory.py inventory.wasm
    aiofs run --dir ./shop::/data inventory.wasm

The only line that is not plain aiofiles code is the `Run` class at the bottom: a
component's entry point is the async `wasi:cli/run` export instead of `asyncio.run`.
"""

import asyncio
import csv
import io
import json
import sys

import aiofiles
import aiofiles.os


async def log(message):
    async with aiofiles.open("/data/logs/app.log", "a") as f:
        await f.write(message + "\n")


async def main():
    async with aiofiles.open("/data/config.json") as f:
        config = json.loads(await f.read())
    await aiofiles.os.makedirs("/data/logs", exist_ok=True)
    await log(f"start: shop {config['shop']}")

    # Process the CSV line by line (many lines per host call under the hood).
    totals = {}
    rows = 0
    async with aiofiles.open(config["sales"], newline="") as f:
        header = None
        async for line in f:
            fields = next(csv.reader(io.StringIO(line)))
            if header is None:
                header = fields
                continue
            row = dict(zip(header, fields))
            totals[row["item"]] = totals.get(row["item"], 0) + int(row["qty"]) * int(row["price"])
            rows += 1
    await log(f"read {rows} rows")

    # Notes from several files at once.
    names = sorted(n for n in await aiofiles.os.listdir("/data/notes") if n.endswith(".txt"))

    async def read(name):
        async with aiofiles.open(f"/data/notes/{name}") as f:
            return (await f.read()).strip()

    notes = await asyncio.wait_for(asyncio.gather(*(read(n) for n in names)), timeout=10)

    # Write the report under a temporary name, then rename it into place.
    await aiofiles.os.makedirs("/data/out", exist_ok=True)
    report = {"shop": config["shop"], "rows": rows, "totals": totals, "notes": notes}
    async with aiofiles.open("/data/out/report.json.tmp", "w") as f:
        await f.write(json.dumps(report, sort_keys=True, indent=1))
    await aiofiles.os.rename("/data/out/report.json.tmp", "/data/out/report.json")
    if config.get("remove_input"):
        await aiofiles.os.remove(config["sales"])
    try:
        async with aiofiles.open("/data/../etc/passwd") as f:
            await f.read()
    except PermissionError as e:
        await log(f"refused: {e.filename}")
    await log(f"done: {len(totals)} items")
    print(f"report: {rows} rows, {len(totals)} items, {len(notes)} notes")


# The component's entry point (instead of `asyncio.run(main())`).
from wit_world import exports  # noqa: E402


class Run(exports.Run):
    async def run(self) -> None:
        try:
            await main()
        except Exception as e:
            print(f"inventory: {type(e).__name__}: {e}", file=sys.stderr)
            raise
