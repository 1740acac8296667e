"""The download wire limit: the fastest request sequence the server accepts for a folder, every
request built before the clock starts, so it is a ceiling for every contender.

- files up to 10 MiB: ``QUERY /versions`` with a gzipped list of content ids, ``--batch-files``
  per request and ``--concurrency`` requests in flight; the answer (a gzipped tar, streamed) is
  read to its end;
- larger files: ``GET /chunk/{rev}/{path}?chunk_start=&chunk_size=`` ranged reads, ``--ranges``
  in flight across all files (a server without ``/chunk`` gets one ``GET /file`` per file).

The content ids come from the local copy of the dataset (the same bytes were uploaded), so no
listing is timed, and nothing received is inflated, hashed or written: what a contender does
beyond receiving the bytes is its own cost. The server checks every id before it answers 200.
Speaks HTTP through ``_wire_http`` only. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import sys
import time
from pathlib import Path
from urllib.parse import quote

from _wire_http import LARGE_FILE, MiB, Repo, content_id, cpu_seconds, peak_rss_mb


def prebuild(
    root: Path, remote_dir: str, batch_files: int, range_size: int
) -> tuple[list[bytes], list[tuple[str, int, int]], int, int]:
    """QUERY bodies for the small files, (path, start, size) ranges for the large ones, and
    the dataset's file count and bytes."""
    small: list[str] = []
    ranges: list[tuple[str, int, int]] = []
    files = total = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        size = path.stat().st_size
        files, total = files + 1, total + size
        rel = "/".join(x for x in (remote_dir, path.relative_to(root).as_posix()) if x)
        if size > LARGE_FILE:
            ranges += [(rel, s, min(range_size, size - s)) for s in range(0, size, range_size)]
        else:
            small.append(content_id(path.read_bytes()))
    bodies = [
        gzip.compress("".join(f"{h}\n" for h in small[i : i + batch_files]).encode(), 6)
        for i in range(0, len(small), batch_files)
    ]
    return bodies, ranges, files, total


async def download(args: argparse.Namespace) -> dict[str, object]:
    bodies, ranges, files, total = prebuild(
        Path(args.dir), args.remote_dir.strip("/"), args.batch_files, args.range_size
    )
    url = f"{args.host.rstrip('/')}/api/repos/{args.repo}"
    received = 0
    async with Repo.session_for(args.token) as session:
        repo = Repo(session, url)
        rev = args.revision
        # Before the clock: does this server do ranged reads? (The bundled one may not.)
        chunks = (
            bool(ranges)
            and await repo.drain(
                "GET", f"/chunk/{rev}/{quote(ranges[0][0])}", params={"chunk_size": "1"}
            )
            is not None
        )
        if ranges and not chunks:  # one whole-file GET per file instead
            ranges = [(p, 0, 0) for p in dict.fromkeys(r[0] for r in ranges)]
        cpu0, started = cpu_seconds(), time.perf_counter()
        queue = list(reversed(bodies))

        async def querier() -> None:
            nonlocal received
            while queue:
                got = await repo.drain("QUERY", "/versions", data=queue.pop())
                if got is None:
                    raise RuntimeError("QUERY /versions: 404 (a content id the server lacks?)")
                received += got

        gate = asyncio.Semaphore(args.ranges)

        async def ranged(path: str, start: int, size: int) -> None:
            nonlocal received
            async with gate:
                if chunks:
                    params = {"chunk_start": str(start), "chunk_size": str(size)}
                    got = await repo.drain("GET", f"/chunk/{rev}/{quote(path)}", params=params)
                else:
                    got = await repo.drain("GET", f"/file/{rev}/{quote(path)}")
                if got is None:
                    raise RuntimeError(f"{path}: 404")
                received += got

        await asyncio.gather(
            *(querier() for _ in range(args.concurrency)), *(ranged(*r) for r in ranges)
        )
        elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu0
    return {
        "elapsed_s": elapsed,
        "cpu_s": cpu,
        "files": files,
        "bytes": total,
        "wire_bytes": received,
        "requests": len(bodies) + len(ranges),
        "large_route": ("chunk" if chunks else "file") if ranges else "",
        "status": "received",
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("host")
    p.add_argument("repo", help="namespace/name")
    p.add_argument("revision")
    p.add_argument("remote_dir")
    p.add_argument("dir", help="the local copy of what the remote folder holds")
    p.add_argument("--token", default="")
    p.add_argument("--concurrency", type=int, default=8, help="QUERY requests in flight")
    p.add_argument("--batch-files", type=int, default=1000, help="content ids per QUERY")
    p.add_argument("--ranges", type=int, default=8, help="ranged reads in flight")
    p.add_argument("--range-size", type=int, default=10 * MiB)
    json.dump(asyncio.run(download(p.parse_args())), sys.stdout)
    print()


if __name__ == "__main__":
    main()
