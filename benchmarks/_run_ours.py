"""One upload with oxen_async in its own process; prints a JSON line of figures."""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time

from oxen_async import Author, OxenClient
from oxen_async.upload.pipeline import DEFAULT_CONCURRENCY


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def main(args: argparse.Namespace) -> dict[str, object]:
    async with OxenClient(args.host, token=args.token or None) as oxen:
        repo = oxen.repo(args.repo)
        cpu0 = cpu_seconds()
        started = time.perf_counter()
        report = await repo.upload_folder(
            args.dir,
            author=Author("Bench", "bench@example.com"),
            message="bench: oxen_async",
            concurrency=args.concurrency,
            state_dir=args.state_dir,
            resume=False,
        )
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds() - cpu0
    return {
        "elapsed_s": elapsed,
        "cpu_s": cpu,
        "status": report.status,
        "files": report.files_uploaded,
        "failed": len(report.failed),
        "bytes": report.bytes_uploaded,
        "wire_bytes": report.wire_bytes,
        "lag_p99_ms": report.loop_lag_p99_ms,
        "lag_max_ms": report.loop_lag_max_ms,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("repo")
    p.add_argument("dir")
    p.add_argument("--token", default="")
    p.add_argument("--state-dir", required=True)
    p.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    result = asyncio.run(main(p.parse_args()))
    json.dump(result, sys.stdout)
    print()
