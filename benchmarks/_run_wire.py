"""The upload wire limit: the fastest request sequence the server accepts for a folder, every
body built in memory before the clock starts, so it is a ceiling for every contender.

- files up to 10 MiB: gzip multipart batches (plain parts where gzip saves nothing) to
  ``POST /workspaces/{id}/files``, ``--concurrency`` batches in flight;
- larger files: ``POST /versions/uploads`` then every part of the upload's ``part_window`` in
  flight at once (0.65), or, where that route is absent (0.53.4, an older bundled server),
  the legacy ``/versions/{hash}/chunks`` + ``/complete`` route;
- one merge into the branch (timed: every contender commits).

Speaks HTTP through ``_wire_http`` only (no oxen_async code), so rewrites of the client never
move the ceiling. Prints one JSON line; also used to seed repositories for the download race.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from _wire_http import (
    LARGE_FILE,
    MiB,
    Repo,
    content_id,
    cpu_seconds,
    gzip_if_smaller,
    multipart,
    peak_rss_mb,
)

# Both routes cut files in 10 MiB pieces: the legacy chunk size of the official client, and
# the part size 0.65.2 answers (checked per upload; other sizes are re-cut while timed).
PIECE = 10 * MiB


@dataclass
class LargeFile:
    path: str
    digest: str
    size: int
    pieces: list[bytes]  # cut before the clock starts, so no part is copied while timed

    def cut(self, part_size: int) -> list[bytes]:
        if part_size == PIECE:
            return self.pieces
        data = b"".join(self.pieces)
        return [data[i : i + part_size] for i in range(0, len(data), part_size)]


@dataclass
class Prebuilt:
    batches: list[tuple[bytes, str]] = field(default_factory=list)
    large: list[LargeFile] = field(default_factory=list)
    files: int = 0
    bytes: int = 0


def prebuild(root: Path, dest: str, batch_bytes: int, batch_files: int) -> Prebuilt:
    out = Prebuilt()
    current: list[tuple[str, bytes, bool]] = []
    size = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = "/".join(x for x in (dest, path.relative_to(root).as_posix()) if x)
        data = path.read_bytes()
        out.files += 1
        out.bytes += len(data)
        if len(data) > LARGE_FILE:
            pieces = [data[i : i + PIECE] for i in range(0, len(data), PIECE)]
            out.large.append(LargeFile(rel, content_id(data), len(data), pieces))
            continue
        current.append((rel, *gzip_if_smaller(data)))
        size += len(data)
        if len(current) >= batch_files or size >= batch_bytes:
            out.batches.append(multipart(current))
            current, size = [], 0
    if current:
        out.batches.append(multipart(current))
    return out


async def send_parts(repo: Repo, f: LargeFile, workspace: str, max_parts: int) -> str:
    """One large file; the route it took ("parts", "already_stored" or "legacy-chunks")."""
    answer = await repo.begin_upload(f.digest, f.size, workspace, f.path)
    if answer is None:
        await send_legacy(repo, f, workspace)
        return "legacy-chunks"
    if answer.get("file") == "already_stored":
        return "already_stored"
    part_size, count = int(answer["part_size"]), int(answer["num_parts"])
    # The whole window in flight: the server accepts parts up to part_window ahead.
    gate = asyncio.Semaphore(max(1, min(int(answer["part_window"]), count, max_parts)))
    parts = f.cut(part_size)
    if len(parts) != count:
        raise RuntimeError(f"{f.path}: server wants {count} parts of {part_size}")

    async def one(number: int) -> bool:
        async with gate:
            return await repo.put_part(answer["upload_id"], number, parts[number - 1])

    done = await asyncio.gather(*(one(n) for n in range(1, count + 1)))
    if not any(done):
        raise RuntimeError(f"{f.path}: no part answered completed")
    return "parts"


async def send_legacy(repo: Repo, f: LargeFile, workspace: str) -> None:
    await asyncio.gather(
        *(repo.put_legacy_chunk(f.digest, i * PIECE, c) for i, c in enumerate(f.pieces))
    )
    await repo.complete_legacy(f.digest, len(f.pieces), f.path, workspace)


async def upload(args: argparse.Namespace, built: Prebuilt) -> dict[str, object]:
    url = f"{args.host.rstrip('/')}/api/repos/{args.repo}"
    async with Repo.session_for(args.token) as session:
        repo = Repo(session, url)
        cpu0, started = cpu_seconds(), time.perf_counter()
        workspace = await repo.new_workspace(args.branch)
        queue = list(reversed(built.batches))

        async def sender() -> None:
            while queue:
                body, ctype = queue.pop()
                await repo.add_files(workspace, "", body, ctype)

        large_gate = asyncio.Semaphore(args.large_in_flight)

        async def large(f: LargeFile) -> str:
            async with large_gate:
                return await send_parts(repo, f, workspace, args.parts_in_flight)

        results = await asyncio.gather(
            *(sender() for _ in range(args.concurrency)), *(large(f) for f in built.large)
        )
        await repo.merge(workspace, args.branch, "bench: wire limit")
        elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu0
    routes = sorted({r for r in results if r})
    return {
        "elapsed_s": elapsed,
        "cpu_s": cpu,
        "files": built.files,
        "bytes": built.bytes,
        "requests": len(built.batches) + len(built.large),
        "large_route": ",".join(routes),
        "status": "committed",
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("host")
    p.add_argument("repo", help="namespace/name")
    p.add_argument("dir")
    p.add_argument("--token", default="")
    p.add_argument("--branch", default="main")
    p.add_argument("--dest", default="", help="folder in the repository to land the files in")
    p.add_argument("--concurrency", type=int, default=8, help="batches in flight")
    p.add_argument("--batch-bytes", type=int, default=4 * MiB)
    p.add_argument("--batch-files", type=int, default=1000)
    p.add_argument("--large-in-flight", type=int, default=3, help="large files at once")
    p.add_argument("--parts-in-flight", type=int, default=1024, help="cap below part_window")
    args = p.parse_args()
    built = prebuild(Path(args.dir), args.dest.strip("/"), args.batch_bytes, args.batch_files)
    json.dump(asyncio.run(upload(args, built)), sys.stdout)
    print()


if __name__ == "__main__":
    main()
