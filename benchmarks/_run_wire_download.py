"""The download wire limit: the fastest request sequence the server accepts for a folder, every
request built before the clock starts, so it is a ceiling for every contender.

- files up to 10 MiB: ``QUERY /versions`` with a gzipped list of content ids, ``--batch-files``
  per request and ``--concurrency`` requests in flight; the answer (a gzipped tar, streamed) is
  read to its end; where the files average over 16 KiB, also one ``GET /chunk`` of the whole
  file each and one ``GET /file`` each, ``--file-concurrency`` in flight (``--small-route
  auto``: all are timed, the fastest is the limit, its route reported);
- larger files: ``GET /chunk/{rev}/{path}?chunk_start=&chunk_size=`` ranged reads, ``--ranges``
  in flight across all files (a server without ``/chunk`` gets one ``GET /file`` per file).

The content ids come from the local copy of the dataset (the same bytes were uploaded), so no
listing is timed. What it times is that request sequence PLUS writing the received bytes to
their final files (the tar inflated and split into its members, each written straight to its
final path; ranges written in place; worker threads doing the blocking part, a piece of the
body per hop: a GET's network chunks as they came, never joined, one ``pwritev`` per
``--range-piece``; joined, as they were before, they cost it 0.52 s against 0.33 s for
3 x 110 MiB on real 0.65.2, slower than our client): no hashing, no temporary files, no
renames, no skip checks. Receiving alone (the old definition, still reported as
``receive_only_s``, ``--receive-only`` to time only that) is a ceiling no download can near:
a download's product is files on disk, and creating 20,000 files costs the kernel more than
receiving them costs the client. Both are ceilings: every contender does at least this and
checks more. The server checks every id before it answers 200. Speaks HTTP through
``_wire_http`` only (plus its session for streamed bodies). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import filecmp
import gzip
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from _wire_http import (
    LARGE_FILE,
    MiB,
    Repo,
    WireError,
    content_id,
    cpu_seconds,
    peak_rss_mb,
    process_cpu,
)

try:
    from isal import isal_zlib as inflate_lib
except ImportError:  # the standard library's zlib, slower
    inflate_lib = zlib  # type: ignore[misc]

BLOCK = 512
FEED_BYTES = 512 * 1024
IOV_MAX = 512  # buffers per pwritev: below every system's limit (Linux 1024)


@dataclass
class Plan:
    """Every request of one download, built before the clock starts."""

    small: list[tuple[str, str, int]] = field(default_factory=list)  # (path, content id, size)
    ranges: list[tuple[str, int, int]] = field(default_factory=list)  # (path, start, size)
    large_sizes: dict[str, int] = field(default_factory=dict)
    files: int = 0
    bytes: int = 0
    remote_dir: str = ""

    def rel(self, path: str) -> str:
        """A repo path's place below the download folder."""
        return path[len(self.remote_dir) + 1 :] if self.remote_dir else path


def prebuild(root: Path, remote_dir: str, range_size: int) -> Plan:
    plan = Plan(remote_dir=remote_dir)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        size = path.stat().st_size
        plan.files, plan.bytes = plan.files + 1, plan.bytes + size
        rel = "/".join(x for x in (remote_dir, path.relative_to(root).as_posix()) if x)
        if size > LARGE_FILE:
            plan.large_sizes[rel] = size
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


def write_at(fd: int, pieces: list[bytes], offset: int) -> int:
    """``pieces`` back to back from ``offset`` (one ``pwritev`` unless it is short): where
    they end."""
    todo: list[bytes | memoryview] = list(pieces)
    while todo:
        n = os.pwritev(fd, todo[:IOV_MAX], offset)
        offset += n
        while todo and n >= len(todo[0]):
            n -= len(todo.pop(0))
        if n:
            todo[0] = memoryview(todo[0])[n:]
    return offset


class Folder:
    """Where the files go: folders made once each, files opened at their final names."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: set[str] = set()
        self._fds: dict[str, int] = {}
        self._lock = threading.Lock()

    def create(self, rel: str) -> int:
        path = f"{self.root}/{rel}"
        folder = os.path.dirname(path)
        if folder not in self._made:
            os.makedirs(folder, exist_ok=True)
            self._made.add(folder)
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

    def write_file(self, rel: str, data: bytes | memoryview) -> None:
        fd = self.create(rel)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def pwrite(self, rel: str, size: int, pieces: list[bytes], offset: int) -> None:
        """Network chunks of a large file, back to back from ``offset``, in place (the file
        made at its size the first time): one ``pwritev`` unless it is short."""
        with self._lock:
            fd = self._fds.get(rel)
            if fd is None:
                fd = self._fds[rel] = self.create(rel)
                os.ftruncate(fd, size)
        write_at(fd, pieces, offset)

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


class TarSplitter:
    """A QUERY /versions body (gzipped tar of blobs named by id) inflated and written member
    by member to each id's paths. Call ``feed`` from a worker thread."""

    def __init__(self, folder: Folder, paths_of: dict[str, list[str]]) -> None:
        self._folder = folder
        self._paths = paths_of
        self._inflater = inflate_lib.decompressobj(wbits=31)
        self._buf = bytearray()
        self._member: tuple[list[int], int] | None = None  # (fds, bytes left)
        self._skip = 0
        self.done = False

    def feed(self, data: bytes) -> None:
        self._buf += self._inflater.decompress(data)
        view, at = memoryview(self._buf), 0
        piece = out = header = view[:0]  # every view of the buffer is let go before it shrinks
        while not self.done:
            if self._member is not None:
                fds, left = self._member
                piece = view[at : at + left]
                for fd in fds:
                    out = piece
                    while out:
                        out = out[os.write(fd, out) :]
                at += len(piece)
                left -= len(piece)
                if left:
                    self._member = (fds, left)
                    break
                for fd in fds:
                    os.close(fd)
                self._member = None
            elif self._skip:
                n = min(self._skip, len(view) - at)
                at += n
                self._skip -= n
                if self._skip:
                    break
            elif len(view) - at >= BLOCK:
                header = view[at : at + BLOCK]
                at += BLOCK
                if not any(header):
                    self.done = True
                    break
                name = bytes(header[:100]).split(b"\0", 1)[0].decode()
                size = int(bytes(header[124:136]).strip(b" \0") or b"0", 8)
                self._skip = -size % BLOCK
                rels = self._paths[name]
                if size <= len(view) - at:  # whole: one write per path, no open state
                    for rel in rels:
                        self._folder.write_file(rel, view[at : at + size])
                    at += size
                else:
                    self._member = ([self._folder.create(rel) for rel in rels], size)
            else:
                break
        piece.release()
        out.release()
        header.release()
        view.release()
        del self._buf[:at]


async def stream_to(repo: Repo, method: str, path: str, sink: object, **kw: object) -> int:
    """Send a request, hand its body to ``sink(piece)`` in a worker thread, about FEED_BYTES a
    hop: the bytes received."""
    async with repo.session.request(method, repo.url + path, **kw) as resp:  # type: ignore[arg-type]
        if resp.status != 200:
            raise WireError(f"{method} {path}: {resp.status} {(await resp.text())[:300]}")
        received = 0
        piece = bytearray()
        async for block in resp.content.iter_any():
            received += len(block)
            piece += block
            if len(piece) >= FEED_BYTES:
                await asyncio.to_thread(sink, bytes(piece))  # type: ignore[arg-type]
                piece.clear()
        if piece:
            await asyncio.to_thread(sink, bytes(piece))  # type: ignore[arg-type]
        return received


async def stream_chunks_to(
    repo: Repo, path: str, sink: object, piece_bytes: int, **kw: object
) -> int:
    """GET ``path`` and hand its body to ``sink(chunks)`` in a worker thread, the network
    chunks as they came (never joined), about ``piece_bytes`` a hop: the bytes received."""
    async with repo.session.request("GET", repo.url + path, **kw) as resp:  # type: ignore[arg-type]
        if resp.status != 200:
            raise WireError(f"GET {path}: {resp.status} {(await resp.text())[:300]}")
        received, size = 0, 0
        chunks: list[bytes] = []
        async for block, _ in resp.content.iter_chunks():
            chunks.append(block)
            size += len(block)
            if size >= piece_bytes or len(chunks) >= IOV_MAX:
                await asyncio.to_thread(sink, chunks)  # type: ignore[arg-type]
                received, chunks, size = received + size, [], 0
        if chunks:
            await asyncio.to_thread(sink, chunks)  # type: ignore[arg-type]
        return received + size


async def transfer(
    repo: Repo,
    rev: str,
    args: argparse.Namespace,
    small_route: str,
    plan: Plan,
    chunks: bool,
    folder: Folder | None,
) -> tuple[float, float, int, int]:
    """One timed run: (elapsed, CPU, bytes received, requests). With ``folder``, every
    received file is written there; without, the bytes are only received."""
    bodies = query_bodies(plan, args.batch_files) if small_route == "query" else []
    singles = [(p, n) for p, _, n in plan.small] if small_route in ("file", "chunk") else []
    # Without ranged reads (an older bundled server), one whole-file GET per large file.
    ranges = (
        plan.ranges if chunks else [(p, 0, 0) for p in dict.fromkeys(r[0] for r in plan.ranges)]
    )
    paths_of: dict[str, list[str]] = {}
    for path, digest, _ in plan.small:
        paths_of.setdefault(digest, []).append(plan.rel(path))
    received = 0
    cpu0, started = cpu_seconds(), time.perf_counter()
    queue = list(reversed(bodies))
    files = list(reversed(singles))

    async def fetch(method: str, path: str, sink: object | None, **kw: object) -> None:
        nonlocal received
        if folder is None:
            got = await repo.drain(method, path, **kw)
            if got is None:
                raise RuntimeError(f"{method} {path}: 404 (a content id the server lacks?)")
        else:
            got = await stream_to(repo, method, path, sink, **kw)
        received += got  # counted after the await (``received += await ...`` lost counts)

    async def querier() -> None:
        while queue:
            splitter = TarSplitter(folder, paths_of) if folder is not None else None
            sink = splitter.feed if splitter is not None else None
            await fetch("QUERY", "/versions", sink, data=queue.pop())
            if splitter is not None and not splitter.done:
                raise RuntimeError("QUERY /versions: the archive ended early")

    async def getter() -> None:
        nonlocal received
        while files:
            path, size = files.pop()
            # One request per file: the whole file by a ranged read, or by /file.
            kw: dict[str, object] = {}
            route = f"/file/{rev}/{quote(path)}"
            if small_route == "chunk" and size:
                route = f"/chunk/{rev}/{quote(path)}"
                kw["params"] = {"chunk_start": "0", "chunk_size": str(size)}
            if folder is None:
                await fetch("GET", route, None, **kw)
                continue
            fd = await asyncio.to_thread(folder.create, plan.rel(path))
            at = 0

            def write(pieces: list[bytes], fd: int = fd) -> None:
                nonlocal at
                at = write_at(fd, pieces, at)

            try:
                got = await stream_chunks_to(repo, route, write, args.range_piece, **kw)
                received += got
            finally:
                await asyncio.to_thread(os.close, fd)

    gate = asyncio.Semaphore(args.ranges)

    async def ranged(path: str, start: int, size: int) -> None:
        nonlocal received
        at = start
        rel, total = plan.rel(path), plan.large_sizes.get(path, 0)

        def write(pieces: list[bytes]) -> None:
            nonlocal at
            assert folder is not None
            folder.pwrite(rel, total, pieces, at)
            at += sum(len(piece) for piece in pieces)

        async with gate:
            route = f"/chunk/{rev}/{quote(path)}" if chunks else f"/file/{rev}/{quote(path)}"
            kw = {"params": {"chunk_start": str(start), "chunk_size": str(size)}} if chunks else {}
            if folder is None:
                await fetch("GET", route, None, **kw)
            else:
                got = await stream_chunks_to(repo, route, write, args.range_piece, **kw)
                received += got

    small_workers = querier if small_route == "query" else getter
    workers = args.concurrency if small_route == "query" else args.file_concurrency
    try:
        await asyncio.gather(
            *(small_workers() for _ in range(workers)), *(ranged(*r) for r in ranges)
        )
    finally:
        if folder is not None:
            folder.close()
    elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu0
    return elapsed, cpu, received, len(bodies) + len(singles) + len(ranges)


def small_routes(plan: Plan, wanted: str) -> list[str]:
    """The routes to time for the small files. ``auto``: QUERY, and for files over 16 KiB on
    average also one ranged read and one GET /file each (for mid-size files the server's gzip
    of the tar costs it more than a request per file); the fastest is the limit."""
    if wanted != "auto":
        return [wanted]
    mean = sum(s for _, _, s in plan.small) / max(1, len(plan.small))
    return ["query", "chunk", "file"] if plan.small and mean > 16 * 1024 else ["query"]


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
        routes = small_routes(plan, args.small_route)
        receive_only = {
            route: await transfer(repo, rev, args, route, plan, chunks, None) for route in routes
        }
        timed = receive_only
        server_cpu: dict[str, float] = {}
        if not args.receive_only:
            timed = {}
            for route in routes:
                root = Path(tempfile.mkdtemp(prefix="wire-dl-", dir=args.work))
                try:
                    server0 = process_cpu(args.server_pid) if args.server_pid else 0.0
                    timed[route] = await transfer(
                        repo, rev, args, route, plan, chunks, Folder(root)
                    )
                    if args.server_pid:
                        server_cpu[route] = process_cpu(args.server_pid) - server0
                    problem = check_written(root, plan, Path(args.dir))
                finally:
                    if not args.keep:
                        shutil.rmtree(root, ignore_errors=True)
                if problem:
                    raise RuntimeError(f"the wire limit wrote the wrong files: {problem}")
    best = min(timed, key=lambda r: timed[r][0])
    elapsed, cpu, received, requests = timed[best]
    # The server's CPU in the timed pass alone: the harness's own count spans the untimed
    # passes too (receive-only, other routes), which doubled the wire's figure in the table.
    own = {"server_cpu_s": server_cpu[best]} if best in server_cpu else {}
    return {
        **own,
        "elapsed_s": elapsed,
        "cpu_s": cpu,
        "files": plan.files,
        "bytes": plan.bytes,
        "wire_bytes": received,
        "requests": requests,
        "small_route": best if plan.small else "",
        "small_routes_s": {r: round(t[0], 3) for r, t in timed.items()} if plan.small else {},
        "large_route": ("chunk" if chunks else "file") if plan.ranges else "",
        "status": "received" if args.receive_only else "written",
        "receive_only_s": round(min(t[0] for t in receive_only.values()), 3),
        "receive_only_cpu_s": round(min(t[1] for t in receive_only.values()), 3),
        "peak_rss_mb": peak_rss_mb(),
    }


def check_written(root: Path, plan: Plan, source: Path) -> str | None:
    """What is wrong with what a run wrote, outside the clock: the files there and each one's
    bytes against the local copy (a range written at a wrong offset keeps the size)."""
    got = [p for p in root.rglob("*") if p.is_file()]
    if len(got) != plan.files:
        return f"{len(got)} files, expected {plan.files}"
    for path in got:
        rel = path.relative_to(root)
        if not filecmp.cmp(path, source / rel, shallow=False):
            return f"{rel.as_posix()} differs from the local copy"
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("host")
    p.add_argument("repo", help="namespace/name")
    p.add_argument("revision")
    p.add_argument("remote_dir")
    p.add_argument("dir", help="the local copy of what the remote folder holds")
    p.add_argument("--token", default="")
    p.add_argument("--concurrency", type=int, default=8, help="QUERY requests in flight")
    # One request per file pays a round trip per file: more in flight hides it. On real
    # 0.65.2, 2,000 x 200 KiB by /chunk: 8 in flight 3.0-4.0 s, 16 2.7-3.1 s, 32 2.6 s.
    p.add_argument(
        "--file-concurrency",
        type=int,
        default=32,
        help="requests in flight for the one-request-per-file routes (chunk, file)",
    )
    p.add_argument("--small-route", choices=["auto", "query", "chunk", "file"], default="auto")
    # 250, not 1,000: on real 0.65.2 (2 cores), 20,000 small files, 8 paired rounds, 250 ids a
    # request came 1.086x sooner than 1,000 (7 of 8 won) and 500 1.056x (8 of 8): a batch is one
    # server worker's work, so fewer, bigger ones end unevenly. The ceiling is the fastest.
    p.add_argument("--batch-files", type=int, default=250, help="content ids per QUERY")
    p.add_argument("--ranges", type=int, default=8, help="ranged reads in flight")
    p.add_argument("--range-size", type=int, default=10 * MiB)
    p.add_argument(
        "--range-piece",
        type=int,
        default=8 * MiB,
        help="bytes of a GET body written per worker-thread hop (8 MiB: the fastest on real "
        "0.65.2 of 1, 2, 4 and 8)",
    )
    p.add_argument(
        "--receive-only", action="store_true", help="time receiving only (writes nothing)"
    )
    p.add_argument(
        "--server-pid",
        type=int,
        default=0,
        help="the server's process: its CPU in the timed pass is reported (server_cpu_s)",
    )
    p.add_argument("--work", default=None, help="where the files are written (a temporary folder)")
    p.add_argument(
        "--keep",
        action="store_true",
        help="leave what was written in --work (the caller deletes it after the race: why in "
        "bench_download)",
    )
    json.dump(asyncio.run(download(p.parse_args())), sys.stdout)
    print()


if __name__ == "__main__":
    main()
