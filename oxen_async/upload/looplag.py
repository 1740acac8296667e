"""A heartbeat that measures how late the event loop wakes up while an upload runs, and what
keeps that lateness bounded.

Lateness goes into a sparse histogram (0.1 ms buckets up to 10 s), so an upload of any length
keeps a few kilobytes (only the buckets it used) and the percentiles cost nothing to read.

What bounded the lag's maximum was the cyclic GC: a full collection stops every thread,
the loop's too, for as long as it takes to traverse every tracked object of the process (ours
and the caller's). The pipeline's per-file values are kept out of the GC (``gc=False``
structs) so collections are rare, and ``frozen_gc`` takes what existed before the upload out
of the collections' reach while it runs, so the rare full collection costs only the
upload's own objects, whatever the size of the caller's heap.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import anyio

# A wake-up costs the loop ~0.15 ms of CPU here; at 10 ms that was ~15% of a small-file upload's
# client CPU (20,000 files: 2.45 -> 1.97 s at 50 ms). Each sample is still the loop's lateness at
# a due moment; a stall shows when it spans one (the percentiles come from fewer samples).
INTERVAL = 0.05
BUCKET_S = 0.0001
BUCKETS = 100_000  # 10 s; later wake-ups land in the last bucket


class LoopLagMonitor:
    """Sleeps ``INTERVAL`` again and again and records how much later than asked it woke up."""

    def __init__(self) -> None:
        self._counts: Counter[int] = Counter()  # sparse: a dense list cost ~10 ms to build
        self.samples = 0
        self._max = 0.0

    async def run(self) -> None:
        while True:
            start = time.perf_counter()
            await anyio.sleep(INTERVAL)
            self.record(time.perf_counter() - start - INTERVAL)

    def record(self, lateness: float) -> None:
        lateness = max(0.0, lateness)
        self._counts[min(BUCKETS - 1, int(lateness / BUCKET_S))] += 1
        self.samples += 1
        self._max = max(self._max, lateness)

    def percentile_ms(self, q: float) -> float:
        if not self.samples:
            return 0.0
        rank = q * (self.samples - 1)
        seen = 0
        for bucket in sorted(self._counts):
            seen += self._counts[bucket]
            if seen > rank:
                # The bucket's upper edge, but never above the largest lateness seen.
                return min(1000 * (bucket + 1) * BUCKET_S, self.max_ms())
        return self.max_ms()

    def max_ms(self) -> float:
        return 1000 * self._max


class _FrozenGC:
    """``gc.freeze()`` for as long as any upload of this process runs, ``gc.unfreeze()`` after
    the last: frozen objects are only out of reach of the collections (garbage among them is
    collected after), never lost."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0  # uploads running in this process

    @property
    def users(self) -> int:
        return self._users

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                gc.freeze()
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    gc.unfreeze()


frozen_gc = _FrozenGC()
