"""The uploader's hooks for a URL source: what replaces the local scan, read and hash.

The pipeline keeps its stages and limits; only the ends that touch the files change:
listing (``scan_source`` for ``scan.scan``), the pack stage's reads (``BatchFetcher``: a batch's
objects fetched concurrently, then packed as local bytes are), the planner's and the large
file stage's hashes (``hash_in_thread``: blocking, from their worker threads), and a large
file's parts, read a range at a time from the store (``large_file_sender``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.from_thread
from anyio.abc import ObjectSendStream

from ...errors import FileChangedError
from ..counters import Counters
from ..large import send_large_file
from ..pack import FileJob
from ..parts import LargeFileResult
from ..scan import LocalFile, ScanItem
from ..settings import Shard
from ..target import UploadTarget
from .remote import RemoteSource

READS_IN_FLIGHT = 16  # concurrent GETs per batch: a store's latency, not its bandwidth, bounds


async def scan_source(
    source: RemoteSource,
    shard: Shard | None,
    out: ObjectSendStream[tuple[str, list[ScanItem]]],
    counters: Counters,
) -> None:
    """The source's listing into the planners, a directory piece at a time."""
    async with out:
        async for rel_dir, piece in source.pieces():
            items = [i for i in piece if shard.holds(i.rel_path)] if shard is not None else piece
            if items:
                await out.send((rel_dir, items))
    counters.progress.scan_done = True
    counters.emit()


Reader = Callable[[FileJob], bytes]


class BatchFetcher:
    """Fetches a batch's objects before it is packed (memory: the batch, as packing holds)."""

    def __init__(self, source: RemoteSource) -> None:
        self.source = source

    async def __call__(self, jobs: list[FileJob]) -> Reader:
        fetched: dict[str, bytes | BaseException] = {}
        slots = anyio.Semaphore(READS_IN_FLIGHT)

        async def fetch(job: FileJob) -> None:
            async with slots:
                try:
                    fetched[job.rel_path] = await self.source.read(
                        job.abs_path, job.size, job.inode
                    )
                except (OSError, ValueError) as exc:
                    fetched[job.rel_path] = exc
                except FileChangedError as exc:  # pack reports a ValueError by path
                    fetched[job.rel_path] = ValueError(str(exc))

        async with anyio.create_task_group() as tg:
            for job in jobs:
                tg.start_soon(fetch, job)

        def read(job: FileJob) -> bytes:
            got = fetched.pop(job.rel_path)
            if isinstance(got, BaseException):
                raise got
            return got  # size, mtime_ns and inode stay the listing's: the read matched them

        return read


def hash_in_thread(source: RemoteSource) -> Callable[[LocalFile | FileJob, Any], str]:
    """A blocking hash of one listed object, for a worker thread of the pipeline's loop
    (``also``: a second hash fed from the same read)."""

    def hash_one(f: LocalFile | FileJob, also: Any = None) -> str:
        return anyio.from_thread.run(source.hash, f.abs_path, f.size, f.inode, also)

    return hash_one


def large_file_sender(
    source: RemoteSource,
) -> Callable[[UploadTarget, FileJob, str, str], Awaitable[LargeFileResult]]:
    """``large.LargeFileSend`` for objects: the parts are ranges of the object, each checked."""

    async def send(repo: UploadTarget, job: FileJob, repo_path: str, ws: str) -> LargeFileResult:
        async def read(offset: int, length: int) -> bytes:
            return await source.read(job.abs_path, job.size, job.inode, offset, offset + length)

        return await send_large_file(repo, job, repo_path, ws, read=read)

    return send


def large_file_hooks(source: RemoteSource | None) -> dict[str, Any]:
    """``LargeFileStage``'s keyword arguments for a source (none for the local disk)."""
    if source is None:
        return {}
    return {"send": large_file_sender(source), "hash_file": hash_in_thread(source)}
