#!/usr/bin/env bash
# Python rows of the benchmark: the same aiofiles code (bench_workloads.py) natively on
# CPython with aiofiles 25.1.0 from PyPI, and in a component with this repo's aiofiles
# package under `aiofs run`, on the same files; prints a Markdown table with the ratio.
#
#   bash guest/python/bench/run.sh      (needs scripts/polyglot-toolchains.sh first)
#
# Not part of CI: timings are only meaningful on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/../../.."
target="${CARGO_TARGET_DIR:-target}"
work="$target/polyglot/python-bench"
mkdir -p "$work"
venv="$work/venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import aiofiles" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check aiofiles==25.1.0
fi
cargo build -q --release -p aiofs-cli
aiofs="$target/release/aiofs"
guest/python/build.sh guest/python/bench/bench_guest.py "$work/bench.wasm"
data="$(mktemp -d)"
trap 'rm -rf "$data"' EXIT
python3 - "$data" <<'PY'
import os, sys
root = sys.argv[1]
os.makedirs(f"{root}/small")
for i in range(1000):
    with open(f"{root}/small/f{i}.bin", "wb") as f:
        f.write(os.urandom(4096))
with open(f"{root}/lines.txt", "w") as f:
    for i in range(100_000):
        f.write(f"line {i}: {'x' * (i % 60)}\n")
PY
# Compile (and cache) the component before timing.
"$aiofs" run --dir "$data::/data" "$work/bench.wasm" > /dev/null
py="$(realpath "$venv")/bin/python"
native="$(cd guest/python/bench && "$py" -c \
    "import asyncio, sys, bench_workloads; asyncio.run(bench_workloads.main(sys.argv[1]))" "$data")"
guest="$("$aiofs" run --dir "$data::/data" "$work/bench.wasm")"
echo "| workload | CPython $(python3 -c 'import sys; print(sys.version.split()[0])') + aiofiles 25.1.0 (host) | aiofs guest (CPython 3.14 in a component) | guest / native |"
echo "|---|---|---|---|"
paste -d' ' <(echo "$native") <(echo "$guest") | while read -r name nmed _nmin nchk gname gmed _gmin gchk; do
    [ "$name" = "$gname" ] && [ "$nchk" = "$gchk" ] || { echo "mismatch: $name $nchk / $gname $gchk" >&2; exit 1; }
    ratio=$(python3 -c "print(f'{$gmed / $nmed:.2f}×')")
    echo "| $name | ${nmed} ms | ${gmed} ms | $ratio |"
done
