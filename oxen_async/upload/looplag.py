"""A heartbeat that measures how late the event loop wakes up while an upload runs."""

from __future__ import annotations

import time

import anyio

INTERVAL = 0.01


class LoopLagMonitor:
    """Sleeps ``INTERVAL`` again and again and records how much later than asked it woke up."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    async def run(self) -> None:
        while True:
            start = time.perf_counter()
            await anyio.sleep(INTERVAL)
            self.samples.append(max(0.0, time.perf_counter() - start - INTERVAL))

    def percentile_ms(self, q: float) -> float:
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def max_ms(self) -> float:
        return 1000 * max(self.samples, default=0.0)
