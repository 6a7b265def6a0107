#!/usr/bin/env bash
# Build a Python guest that uses the `aiofiles` package of this repo:
#
#   guest/python/build.sh APP.py OUT.wasm [EXTRA_PYTHON_PATH...]
#
# APP.py is the app module (it defines `class Run(exports.Run)` with `async def run`);
# its directory, the aiofiles package (guest/python) and any extra directories (e.g. a
# `pip install --target` of pure-Python dependencies) are bundled by componentize-py
# against the world in guest/python/wit (aiofs' `command` world plus the monotonic
# clock, which gives asyncio its timers). componentize-py comes from $COMPONENTIZE_PY,
# else target/polyglot/venv (scripts/polyglot-toolchains.sh installs it), else PATH.
# Run the result with `aiofs run --dir HOST::/data OUT.wasm`.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 APP.py OUT.wasm [EXTRA_PYTHON_PATH...]" >&2
    exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
app="$1"
out="$2"
shift 2
tool="${COMPONENTIZE_PY:-}"
if [ -z "$tool" ]; then
    venv="${CARGO_TARGET_DIR:-$here/../../target}/polyglot/venv/bin/componentize-py"
    if [ -x "$venv" ]; then tool="$venv"; else tool=componentize-py; fi
fi
module="$(basename "$app" .py)"
paths=(-p "$(cd "$(dirname "$app")" && pwd)" -p "$here")
for extra in "$@"; do paths+=(-p "$extra"); done
exec "$tool" -q -d "$here/wit" -w app componentize "$module" "${paths[@]}" -o "$out"
