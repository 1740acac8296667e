"""Files/s the bundled test server ingests through ``POST /workspaces/{id}/files/{dir}``.

Default load: 20k files of 2-8 KiB, gzip parts, batches of ~500, 8 requests in flight. The server
runs in a subprocess (``python -m oxen_async.testing``) so the load generator does not share its
GIL; request bodies are built before the clock starts.

    python benchmarks/server_ingest.py [--files 20000] [--batch 500] [--concurrency 8] [--raw]
    python benchmarks/server_ingest.py --smoke     # seconds; what CI runs
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import random
import subprocess
import sys
import tempfile
import time

import aiohttp

BOUNDARY = "oxen-ingest-benchmark"


def build_bodies(files: int, batch: int, raw: bool, seed: int = 1) -> list[tuple[bytes, int]]:
    """Multipart bodies of ``batch`` files each, plus their raw byte totals."""
    rng = random.Random(seed)
    bodies: list[tuple[bytes, int]] = []
    for start in range(0, files, batch):
        pieces: list[bytes] = []
        raw_bytes = 0
        for index in range(start, min(start + batch, files)):
            size = rng.randint(2048, 8192)
            # Half random, half repetitive: realistic-ish compressibility.
            data = rng.randbytes(size // 2) + (b"row %d," % index) * (size // 16)
            data = data[:size]
            raw_bytes += len(data)
            payload = data if raw else gzip.compress(data, 6)
            kind = "application/octet-stream" if raw else "application/gzip"
            pieces.append(
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file[]"; '
                f'filename="d{index % 50}/f{index}.bin"\r\nContent-Type: {kind}\r\n\r\n'.encode()
                + payload
                + b"\r\n"
            )
        pieces.append(f"--{BOUNDARY}--\r\n".encode())
        bodies.append((b"".join(pieces), raw_bytes))
    return bodies


async def run(url: str, bodies: list[tuple[bytes, int]], concurrency: int, files: int) -> None:
    repo = f"{url}/api/repos/bench/ingest"
    async with aiohttp.ClientSession() as session:
        await session.post(f"{url}/api/repos", json={"namespace": "bench", "name": "ingest"})
        workspace = {"workspace_id": "bench", "branch_name": "main"}
        async with session.put(f"{repo}/workspaces", data=json.dumps(workspace)) as reply:
            reply.raise_for_status()
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for body, _ in bodies:
            queue.put_nowait(body)
        staged = 0

        async def worker() -> None:
            nonlocal staged
            headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
            while not queue.empty():
                body = queue.get_nowait()
                async with session.post(
                    f"{repo}/workspaces/bench/files/", data=body, headers=headers
                ) as reply:
                    reply.raise_for_status()
                    staged += len((await reply.json())["paths"])

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        assert staged == files, (staged, files)
        megabytes = sum(raw for _, raw in bodies) / 1e6
        print(f"ingested {files} files ({megabytes:.1f} MB) in {elapsed:.2f} s")
        print(f"files/s: {files / elapsed:.0f}   MB/s: {megabytes / elapsed:.1f}")

        commit = {"message": "bench", "author": "bench", "email": "bench@example.com"}
        started = time.perf_counter()
        async with session.post(
            f"{repo}/workspaces/bench/merge/main", data=json.dumps(commit)
        ) as reply:
            reply.raise_for_status()
        print(f"merge of {files} staged files: {time.perf_counter() - started:.2f} s")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--raw", action="store_true", help="send raw parts instead of gzip")
    parser.add_argument("--smoke", action="store_true", help="400 files (what CI runs)")
    args = parser.parse_args()
    if args.smoke:
        args.files, args.batch = 400, 100
    bodies = build_bodies(args.files, args.batch, args.raw)
    with tempfile.TemporaryDirectory() as data_dir:
        process = subprocess.Popen(
            [sys.executable, "-m", "oxen_async.testing", "--port", "0", "--data-dir", data_dir],
            stdout=subprocess.PIPE,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline().decode()
            url = line.split()[-1]
            await run(url, bodies, args.concurrency, args.files)
        finally:
            process.terminate()
            process.wait()


if __name__ == "__main__":
    asyncio.run(main())
