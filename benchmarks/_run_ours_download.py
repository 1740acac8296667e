"""One folder download with oxen_async in its own process (``repo.download_folder``, what
``oxen-async download`` runs); prints a JSON line of figures, or exits 1 when any file failed.
Public API only, so download-engine rewrites do not break it."""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time

# Imported before the clock, as the other runners' code is: download_folder imports the engine
# on first use (~0.03 s, no part of a download; a tenth of one of 330 MB on real 0.65.2).
import oxen_async.download  # noqa: F401
from oxen_async import OxenClient


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def main(args: argparse.Namespace) -> dict[str, object]:
    async with OxenClient(args.host, token=args.token or None) as oxen:
        repo = oxen.repo(args.repo)
        cpu0, started = cpu_seconds(), time.perf_counter()
        report = await repo.download_folder(args.revision, args.remote_dir, args.local_dir)
        elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu0
    failed = report.failed
    if failed:  # a run that lost files must not count as fast
        sys.exit(f"{len(failed)} files failed, e.g. {next(iter(failed.items()))}")
    if report.error:  # stopped early (the server stopped answering): say why, not how many
        sys.exit(f"stopped with {report.files_pending} files pending: {report.error}")
    return {
        "elapsed_s": elapsed,
        "cpu_s": cpu,
        "status": "ok",
        "files": len(getattr(report, "downloaded", [])),
        "bytes": getattr(report, "bytes_downloaded", 0),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("repo")
    p.add_argument("revision")
    p.add_argument("remote_dir")
    p.add_argument("local_dir")
    p.add_argument("--token", default="")
    json.dump(asyncio.run(main(p.parse_args())), sys.stdout)
    print()
