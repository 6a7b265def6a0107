"""asyncio timers for componentize-py's event loop, from `wasi:clocks`.

componentize-py's loop raises `NotImplementedError` from `time`, `call_later` and
`call_at`, so `asyncio.sleep(x)`, `wait_for` and `asyncio.timeout` fail in a guest.
`install()` gives the loop those methods: `time()` is the monotonic clock, and due
timers are fired by waiter tasks blocked in `monotonic-clock.wait-until`.

The component model cannot cancel an import call from Python yet (componentize-py
#173), so a cancelled timer's wait cannot be withdrawn. To keep that cheap, one wait
covers at most `SLICE_NS`: a long or cancelled timer costs one host wake-up per slice,
and a finished program lingers for at most one slice. Waiters count as work of the
running export (`pending_count`), so the export never ends with a wait in flight.
"""

import asyncio
import heapq
import itertools

import componentize_py_async_support as _cas
from wit_world.imports import monotonic_clock as _clock

SLICE_NS = 100_000_000

_heap = []  # (deadline ns, sequence, handle)
_seq = itertools.count()
_waits = set()  # deadlines (ns) of the waits in flight


def _time(self):
    return _clock.now() / 1e9


def _call_at(self, when, callback, *args, context=None):
    handle = asyncio.TimerHandle(when, callback, args, self, context)
    heapq.heappush(_heap, (int(when * 1e9), next(_seq), handle))
    _kick()
    return handle


def _call_later(self, delay, callback, *args, context=None):
    return _call_at(self, self.time() + delay, callback, *args, context=context)


def _timer_handle_cancelled(self, handle):
    pass


def _kick():
    """Make sure a wait is in flight that ends by the earliest live deadline."""
    while _heap and _heap[0][2]._cancelled:
        heapq.heappop(_heap)
    if not _heap:
        return
    target = min(_heap[0][0], _clock.now() + SLICE_NS)
    if any(w <= target for w in _waits):
        return
    _waits.add(target)
    _cas.spawn(_waiter(target))


async def _waiter(target):
    try:
        await _clock.wait_until(target)
    finally:
        _waits.discard(target)
    now = _clock.now()
    while _heap and (_heap[0][0] <= now or _heap[0][2]._cancelled):
        _, _, handle = heapq.heappop(_heap)
        if not handle._cancelled:
            handle._run()
    _kick()


def install():
    """Give componentize-py's loop class working timers (idempotent)."""
    loop = _cas._Loop
    loop.time = _time
    loop.call_at = _call_at
    loop.call_later = _call_later
    loop._timer_handle_cancelled = _timer_handle_cancelled
