"""The wire limit: the same requests as our uploader, built in advance, sent at the same
concurrency. No reading, hashing or compressing is timed; the merge is (both sides commit)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

from oxen_async import Author, OxenClient
from oxen_async.api.versions import CHUNK_SIZE
from oxen_async.hashing import hash_file_sync
from oxen_async.multipart import EncodedForm
from oxen_async.upload.pack import CompressionMemo, FileJob, PackedBatch, pack
from oxen_async.upload.pipeline import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_BATCH_FILES,
    DEFAULT_CONCURRENCY,
    LARGE_FILE,
)


def prebuild(
    root: Path, batch_bytes: int, batch_files: int
) -> tuple[list[EncodedForm], list[tuple[str, str, list[bytes]]], int]:
    small: list[FileJob] = []
    large: list[tuple[str, str, list[bytes]]] = []
    total = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        st = path.stat()
        total += st.st_size
        if st.st_size > LARGE_FILE:
            digest = hash_file_sync(path)[0]
            data = path.read_bytes()
            chunks = [data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)]
            large.append((rel, digest, chunks))
        else:
            small.append(FileJob(rel, str(path), st.st_size, st.st_mtime_ns, ""))
    batches: list[EncodedForm] = []
    memo = CompressionMemo()  # as our uploader decides, so the requests are the same
    current: list[FileJob] = []
    size = 0
    for job in small:
        current.append(job)
        size += job.size
        if len(current) >= batch_files or size >= batch_bytes:
            batches.append(_form(pack(current, "auto", memo=memo)))
            current, size = [], 0
    if current:
        batches.append(_form(pack(current, "auto", memo=memo)))
    return batches, large, total


def _form(batch: PackedBatch) -> EncodedForm:
    assert batch.form is not None
    return batch.form


async def main(args: argparse.Namespace) -> dict[str, object]:
    batches, large, total = prebuild(Path(args.dir), args.batch_bytes, args.batch_files)
    files = sum(1 for p in Path(args.dir).rglob("*") if p.is_file())
    async with OxenClient(args.host, token=args.token or None) as oxen:
        repo = oxen.repo(args.repo)
        started = time.perf_counter()
        ws = (await repo.workspaces.get_or_create("main", workspace_id=str(uuid.uuid4()))).id
        queue: asyncio.Queue[EncodedForm] = asyncio.Queue()
        for b in batches:
            queue.put_nowait(b)

        async def sender() -> None:
            while not queue.empty():
                form = queue.get_nowait()
                await repo.workspaces.add_files(ws, "", form)

        async def send_large(rel: str, digest: str, chunks: list[bytes]) -> None:
            sem = asyncio.Semaphore(2)

            async def one(i: int, data: bytes) -> None:
                async with sem:
                    await repo.versions.upload_chunk(digest, i * CHUNK_SIZE, data)

            await asyncio.gather(*(one(i, c) for i, c in enumerate(chunks)))
            d, _, name = rel.rpartition("/")
            await repo.versions.complete(
                digest, num_chunks=len(chunks), file_name=name, dst_dir=d or None, workspace_id=ws
            )

        large_sem = asyncio.Semaphore(2)

        async def large_worker(item: tuple[str, str, list[bytes]]) -> None:
            async with large_sem:
                await send_large(*item)

        await asyncio.gather(
            *(sender() for _ in range(args.concurrency)), *(large_worker(x) for x in large)
        )
        await repo.workspaces.merge(
            ws, "main", message="bench: wire limit", author=Author("Bench", "bench@example.com")
        )
        elapsed = time.perf_counter() - started
    return {"elapsed_s": elapsed, "files": files, "bytes": total, "status": "committed"}


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("repo")
    p.add_argument("dir")
    p.add_argument("--token", default="")
    p.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    p.add_argument("--batch-bytes", type=int, default=DEFAULT_BATCH_BYTES)
    p.add_argument("--batch-files", type=int, default=DEFAULT_BATCH_FILES)
    json.dump(asyncio.run(main(p.parse_args())), sys.stdout)
    print()
