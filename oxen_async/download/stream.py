"""``iter_files``: stream a remote folder's files as bytes, fetched concurrently (``/file``),
in walk order or as they arrive, with bounded read-ahead. Every file is checked against its id.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from .. import limits
from ..errors import IntegrityError
from ..hashing import hash_bytes, same_hash
from ..models import MetadataEntry
from .report import pin_revision

if TYPE_CHECKING:
    from ..client import RemoteRepo

# Above this size a downloaded file is hashed in a worker thread rather than on the loop.
_HASH_INLINE_LIMIT = 256 * 1024


class _Done:
    """End of the stream."""


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_Walk = tuple[str, MetadataEntry]


async def iter_files(
    repo: RemoteRepo,
    revision: str,
    remote_dir: str = "",
    *,
    concurrency: int = 8,
    ordered: bool = True,
) -> AsyncGenerator[tuple[str, bytes]]:
    """Yield ``(repo path, bytes)`` for every file below ``remote_dir``, fetched concurrently.

    ``ordered=True`` yields in walk order (directories depth first, names in the server's
    order); ``ordered=False`` yields each file as soon as it arrives. At most ``concurrency``
    downloads run at once and at most about twice that many files are held in memory, however
    slowly the caller consumes. Each file is checked against its listed id (IntegrityError).
    The first failure is raised from the iterator. Closing it (``await it.aclose()``, or
    ``async with contextlib.aclosing(...)``) after leaving the loop early stops the work at once.
    """
    limits.concurrency(concurrency)
    pinned = await pin_revision(repo, revision, remote_dir)

    async def fetch(repo_path: str, entry: MetadataEntry) -> tuple[str, bytes]:
        data = await repo.files.download(pinned, repo_path)
        if len(data) > _HASH_INLINE_LIMIT:
            digest = await anyio.to_thread.run_sync(hash_bytes, data)
        else:
            digest = hash_bytes(data)
        if not same_hash(digest, entry.hash):
            raise IntegrityError(
                f"{repo_path}: downloaded bytes hash to {digest}, the server lists {entry.hash}"
            )
        return repo_path, data

    walk = repo.dirs.walk(pinned, remote_dir)
    gen = (_ordered if ordered else _unordered)(walk, fetch, concurrency)
    async with contextlib.aclosing(gen):
        async for item in gen:
            yield item


_Fetch = Callable[[str, MetadataEntry], Awaitable[tuple[str, bytes]]]


async def _ordered(
    items: AsyncGenerator[_Walk], fetch: _Fetch, concurrency: int
) -> AsyncGenerator[tuple[str, bytes]]:
    """A bounded queue of fetch tasks in walk order: the caller awaits them one by one."""
    limit = asyncio.Semaphore(concurrency)
    queue: asyncio.Queue[asyncio.Task[tuple[str, bytes]] | _Done | _Failed]
    queue = asyncio.Queue(maxsize=concurrency)
    tasks: set[asyncio.Task[tuple[str, bytes]]] = set()

    async def limited(repo_path: str, entry: MetadataEntry) -> tuple[str, bytes]:
        async with limit:
            return await fetch(repo_path, entry)

    async def produce() -> None:
        try:
            async with contextlib.aclosing(items):
                async for repo_path, entry in items:
                    task = asyncio.create_task(limited(repo_path, entry))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    await queue.put(task)
            await queue.put(_Done())
        except Exception as exc:
            await queue.put(_Failed(exc))

    producer = asyncio.create_task(produce())
    try:
        while not isinstance(item := await queue.get(), _Done):
            if isinstance(item, _Failed):
                raise item.exc
            yield await item
    finally:
        await _cancel(producer, *tasks)


async def _unordered(
    items: AsyncGenerator[_Walk], fetch: _Fetch, concurrency: int
) -> AsyncGenerator[tuple[str, bytes]]:
    """``concurrency`` workers fetch from a bounded work queue into a bounded result queue."""
    work: asyncio.Queue[_Walk | None] = asyncio.Queue(maxsize=concurrency)
    results: asyncio.Queue[tuple[str, bytes] | _Done | _Failed]
    results = asyncio.Queue(maxsize=concurrency)

    async def worker() -> None:
        try:
            while (job := await work.get()) is not None:
                await results.put(await fetch(*job))
        except Exception as exc:
            await results.put(_Failed(exc))
            return
        await results.put(_Done())

    async def produce() -> None:
        try:
            async with contextlib.aclosing(items):
                async for job in items:
                    await work.put(job)
        except Exception as exc:
            await results.put(_Failed(exc))
        for _ in range(concurrency):
            await work.put(None)

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    producer = asyncio.create_task(produce())
    try:
        finished = 0
        while finished < concurrency:
            item = await results.get()
            if isinstance(item, _Done):
                finished += 1
            elif isinstance(item, _Failed):
                raise item.exc
            else:
                yield item
    finally:
        await _cancel(producer, *workers)


async def _cancel(*tasks: asyncio.Task[Any]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
