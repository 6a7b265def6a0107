"""aiofiles for WebAssembly components: the aiofiles 25.1 API over aiofs.

Import it as you would aiofiles::

    import aiofiles

    async with aiofiles.open("/data/config.json") as f:
        config = json.loads(await f.read())

Every call is an async aiofs import: the host runs it on its thread pool, beneath the
directory grants it was given, so many operations can be in flight at once. Importing
the package also gives componentize-py's asyncio loop working timers (`asyncio.sleep`,
`wait_for`, `asyncio.timeout`) from `wasi:clocks`.
"""

from . import _timers

_timers.install()

from . import batch as batch  # noqa: E402
from . import os as os  # noqa: E402
from . import tempfile as tempfile  # noqa: E402
from . import threadpool as threadpool  # noqa: E402
from .threadpool import (  # noqa: E402
    open,
    stderr,
    stderr_bytes,
    stdin,
    stdin_bytes,
    stdout,
    stdout_bytes,
)

__all__ = [
    "open",
    "batch",
    "tempfile",
    "stdin",
    "stdout",
    "stderr",
    "stdin_bytes",
    "stdout_bytes",
    "stderr_bytes",
]
