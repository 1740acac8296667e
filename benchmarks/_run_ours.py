"""One upload with oxen_async in its own process (``repo.upload_folder``, what ``oxen-async
upload`` runs); prints a JSON line of figures, or exits 1 when any file failed (a run that
lost files must not count as fast). Public API only, so uploader rewrites do not break it."""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time

# Imported before the clock, as the other runners' code is: upload_folder imports the
# pipeline on first use, no part of an upload.
import oxen_async.upload.pipeline  # noqa: F401
from oxen_async import Author, OxenClient


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def main(args: argparse.Namespace) -> dict[str, object]:
    async with OxenClient(args.host, token=args.token or None) as oxen:
        repo = oxen.repo(args.repo)
        cpu0 = cpu_seconds()
        started = time.perf_counter()
        options = {"concurrency": args.concurrency} if args.concurrency else {}
        report = await repo.upload_folder(
            args.dir,
            author=Author("Bench", "bench@example.com"),
            message="bench: oxen_async",
            state_dir=args.state_dir,
            resume=False,
            **options,
        )
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds() - cpu0
    if report.failed:
        sys.exit(f"{len(report.failed)} files failed, e.g. {next(iter(report.failed))!r}")
    return {
        "elapsed_s": elapsed,
        "cpu_s": cpu,
        "status": report.status,
        "files": report.files_uploaded,
        "failed": len(report.failed),
        "bytes": report.bytes_uploaded,
        "wire_bytes": getattr(report, "wire_bytes", None),
        "lag_p99_ms": getattr(report, "loop_lag_p99_ms", None),
        "lag_max_ms": getattr(report, "loop_lag_max_ms", None),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("repo")
    p.add_argument("dir")
    p.add_argument("--token", default="")
    p.add_argument("--state-dir", required=True)
    p.add_argument("--concurrency", type=int, help="default: the uploader's own")
    result = asyncio.run(main(p.parse_args()))
    json.dump(result, sys.stdout)
    print()
