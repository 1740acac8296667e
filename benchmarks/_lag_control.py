"""A bare event loop measuring its own lateness (the uploader's heartbeat, nothing else to do)
until SIGINT, then one JSON line: what the machine alone costs a loop's lag, beside a run."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

from oxen_async.upload.looplag import LoopLagMonitor


async def main() -> None:
    lag = LoopLagMonitor()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
    task = asyncio.create_task(lag.run())
    print("ready", flush=True)
    await stop.wait()
    task.cancel()
    figures = {"p99_ms": lag.percentile_ms(0.99), "max_ms": lag.max_ms(), "samples": lag.samples}
    json.dump(figures, sys.stdout)
    print()


if __name__ == "__main__":
    asyncio.run(main())
