"""wasi-testsuite runtime adapter for `aiofs run` (used by scripts/wasi-testsuite.sh).

Each test's fixture directory becomes one read-write grant at `/`, which `aiofs run` serves
both as an aiofs grant and as the WASI preopen the tests expect. `aiofs run` serves the
`wasi:cli/command` world only (no `wasmtime serve`), so the runner skips `wasi:http/service`
tests; client-side http and sockets tests run and fail (aiofs links no `wasi:http` and no
network).
"""
import os
import shlex
import subprocess
from typing import Dict, List, Optional, Tuple

AIOFS = shlex.split(os.getenv("AIOFS", "aiofs"))


def get_name() -> str:
    return "aiofs"


def get_version() -> str:
    out = subprocess.run(AIOFS[0:1] + ["--version"], encoding="UTF-8",
                         capture_output=True, check=True).stdout
    return out.split()[1]


def get_wasi_versions() -> List[str]:
    return ["wasm32-wasip1", "wasm32-wasip3"]


def get_wasi_worlds() -> List[str]:
    return ["wasi:cli/command"]


def compute_argv(test_path: str,
                 args_env_root: Tuple[List[str], Dict[str, str], Optional[str]],
                 proposals: List[str],
                 wasi_world: str,
                 wasi_version: str) -> List[str]:
    args, env, root = args_env_root
    argv = AIOFS + ["run", test_path]
    for k, v in env.items():
        argv += ["--env", f"{k}={v}"]
    if root:
        argv += ["--dir", f"{root}::/"]
    return argv + ["--"] + args
