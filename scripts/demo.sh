#!/usr/bin/env bash
# Quick start, part 1: build the `wc` example guest and the `aiofs` command, then run the
# guest over the sample files, granted read-only at /data. Extra arguments go to `aiofs run`
# (e.g. `--threads 2`).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
cargo build --quiet --release -p aiofs --example wc --target wasm32-wasip2
cargo build --quiet -p aiofs-cli
target="${CARGO_TARGET_DIR:-target}"
exec "$target/debug/aiofs" run "$target/wasm32-wasip2/release/examples/wc.wasm" \
    --dir examples/data::/data:ro "$@"
