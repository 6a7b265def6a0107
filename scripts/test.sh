#!/usr/bin/env bash
# Quick start, part 2: every check CI runs (formatting, lints, unit and end-to-end tests).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed | grep -q '^clippy' || rustup component add clippy
bash scripts/polyglot-toolchains.sh   # Python/C/Go guest toolchains (AIOFS_POLYGLOT=skip: none)
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test
cargo test -p aiofs
