"""The download wire limit: the fastest request sequence the server accepts for a folder, every
request built before the clock starts, so it is a ceiling for every contender.

- files up to 10 MiB: ``QUERY /versions`` with a gzipped list of content ids, ``--batch-files``
  per request and ``--concurrency`` requests in flight; the answer (a gzipped tar, streamed) is
  read to its end; where the files average 64 KiB or more, also one ``GET /file`` each
  (``--small-route auto``: both are timed, the faster is the limit, its route reported);
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
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from _wire_http import LARGE_FILE, MiB, Repo, content_id, cpu_seconds, peak_rss_mb


@dataclass
class Plan:
    """Every request of one download, built before the clock starts."""

    small: list[tuple[str, str, int]] = field(default_factory=list)  # (path, content id, size)
    ranges: list[tuple[str, int, int]] = field(default_factory=list)  # (path, start, size)
    files: int = 0
    bytes: int = 0


def prebuild(root: Path, remote_dir: str, range_size: int) -> Plan:
    plan = Plan()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        size = path.stat().st_size
        plan.files, plan.bytes = plan.files + 1, plan.bytes + size
        rel = "/".join(x for x in (remote_dir, path.relative_to(root).as_posix()) if x)
        if size > LARGE_FILE:
            plan.ranges += [(rel, s, min(range_size, size - s)) for s in range(0, size, range_size)]
        else:
            plan.small.append((rel, content_id(path.read_bytes()), size))
    return plan


def query_bodies(plan: Plan, batch_files: int) -> list[bytes]:
    """gzipped newline-separated content ids, ``batch_files`` per QUERY /versions."""
    ids = [h for _, h, _ in plan.small]
    return [
        gzip.compress("".join(f"{h}\n" for h in ids[i : i + batch_files]).encode(), 6)
        for i in range(0, len(ids), batch_files)
    ]


async def transfer(
    repo: Repo, rev: str, args: argparse.Namespace, small_route: str, plan: Plan, chunks: bool
) -> tuple[float, float, int, int]:
    """One timed run: (elapsed, CPU, bytes received, requests)."""
    bodies = query_bodies(plan, args.batch_files) if small_route == "query" else []
    singles = [p for p, _, _ in plan.small] if small_route == "file" else []
    # Without ranged reads (an older bundled server), one whole-file GET per large file.
    ranges = (
        plan.ranges if chunks else [(p, 0, 0) for p in dict.fromkeys(r[0] for r in plan.ranges)]
    )
    received = 0
    cpu0, started = cpu_seconds(), time.perf_counter()
    queue = list(reversed(bodies))
    files = list(reversed(singles))

    async def querier() -> None:
        nonlocal received
        while queue:
            got = await repo.drain("QUERY", "/versions", data=queue.pop())
            if got is None:
                raise RuntimeError("QUERY /versions: 404 (a content id the server lacks?)")
            received += got

    async def getter() -> None:
        nonlocal received
        while files:
            path = files.pop()
            got = await repo.drain("GET", f"/file/{rev}/{quote(path)}")
            if got is None:
                raise RuntimeError(f"{path}: 404")
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

    small_workers = querier if small_route == "query" else getter
    await asyncio.gather(
        *(small_workers() for _ in range(args.concurrency)), *(ranged(*r) for r in ranges)
    )
    elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu0
    return elapsed, cpu, received, len(bodies) + len(singles) + len(ranges)


def small_routes(plan: Plan, wanted: str) -> list[str]:
    """The routes to time for the small files. ``auto``: QUERY, and for files of 64 KiB and
    more on average also one GET each (for incompressible mid-size files the server's gzipped
    tar can cost more than it saves); the faster is the limit."""
    if wanted != "auto":
        return [wanted]
    mean = sum(s for _, _, s in plan.small) / max(1, len(plan.small))
    return ["query", "file"] if plan.small and mean >= 64 * 1024 else ["query"]


async def download(args: argparse.Namespace) -> dict[str, object]:
    plan = prebuild(Path(args.dir), args.remote_dir.strip("/"), args.range_size)
    url = f"{args.host.rstrip('/')}/api/repos/{args.repo}"
    async with Repo.session_for(args.token) as session:
        repo = Repo(session, url)
        rev = args.revision
        # Before the clock: does this server do ranged reads? (The bundled one may not.)
        probe = {"chunk_size": "1"}
        chunks = bool(plan.ranges) and (
            await repo.drain("GET", f"/chunk/{rev}/{quote(plan.ranges[0][0])}", params=probe)
            is not None
        )
        timed = {
            route: await transfer(repo, rev, args, route, plan, chunks)
            for route in small_routes(plan, args.small_route)
        }
    best = min(timed, key=lambda r: timed[r][0])
    elapsed, cpu, received, requests = timed[best]
    return {
        "elapsed_s": elapsed,
        "cpu_s": cpu,
        "files": plan.files,
        "bytes": plan.bytes,
        "wire_bytes": received,
        "requests": requests,
        "small_route": best if plan.small else "",
        "small_routes_s": {r: round(t[0], 3) for r, t in timed.items()} if plan.small else {},
        "large_route": ("chunk" if chunks else "file") if plan.ranges else "",
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
    p.add_argument("--concurrency", type=int, default=8, help="small-file requests in flight")
    p.add_argument("--small-route", choices=["auto", "query", "file"], default="auto")
    p.add_argument("--batch-files", type=int, default=1000, help="content ids per QUERY")
    p.add_argument("--ranges", type=int, default=8, help="ranged reads in flight")
    p.add_argument("--range-size", type=int, default=10 * MiB)
    json.dump(asyncio.run(download(p.parse_args())), sys.stdout)
    print()


if __name__ == "__main__":
    main()
