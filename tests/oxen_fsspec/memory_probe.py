"""One write through ``OxenFileSystem`` in a process of its own, measuring its memory.

Run by test_write_large (``python memory_probe.py`` with a JSON request on stdin, so the
token is in no command line): the client's peak of traced allocations is then measured alone,
not with the bundled server's, which runs in the test's process. Prints a JSON answer.
"""

from __future__ import annotations

import json
import random
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

from oxen_async.fs import OxenFileSystem
from oxen_async.hashing import StreamingHasher

MiB = 1024 * 1024


def pieces(size: int, seed: int) -> Iterator[bytes]:
    """``size`` incompressible bytes from ``seed``, one MiB at a time (never all in memory)."""
    for i in range(0, size, MiB):
        yield random.Random(seed * 1_000_003 + i).randbytes(min(MiB, size - i))


def peak_during(work: Callable[[], object]) -> int:
    """The peak of traced allocations above what was allocated when ``work`` began."""
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - base


def main() -> None:
    request: dict[str, Any] = json.load(sys.stdin)
    fs = OxenFileSystem(skip_instance_cache=True, **request["fs"])
    fs.pipe("probe-warm-up.txt", b"")  # client, branch check and first commit: not measured
    answer: dict[str, Any] = {}
    if request["op"] == "put":
        answer["peak"] = peak_during(
            lambda: fs.put(request["local"], request["remote"], recursive=True)
        )
    elif request["op"] == "open_wb":
        hasher = StreamingHasher()

        def write() -> None:
            with fs.open(request["remote"], "wb") as f:
                for piece in pieces(request["size"], request["seed"]):
                    hasher.update(piece)
                    f.write(piece)

        answer["peak"] = peak_during(write)
        answer["content_id"] = hasher.hexdigest()
    else:
        raise SystemExit(f"unknown op {request['op']!r}")
    fs.close()
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
