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
# The host without object storage (feature `object` off) must build and lint clean too.
cargo clippy -p aiofs-host --no-default-features -- -D warnings
# The object-grant tests run against a private S3 server (SeaweedFS, scripts/s3-server.sh),
# stopped when this script exits; AIOFS_S3=skip runs without one (those tests then skip).
if [ "${AIOFS_S3:-}" != skip ]; then
    s3_env="$(bash scripts/s3-server.sh start --watch $$)"
    trap 'bash scripts/s3-server.sh stop "$s3_env"' EXIT
    # shellcheck disable=SC1090
    . "$s3_env"
    export AIOFS_S3_REQUIRED=1
fi
cargo test
cargo test -p aiofs
