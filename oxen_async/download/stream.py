"""``iter_files``: stream a remote folder's files as bytes, in walk order or as they arrive.

Small files travel many to a request (``fetch_bytes``: one ``QUERY /versions`` per job, the
cache first); a bigger file (``routes``) comes alone in one ranged read. At most ``concurrency``
requests are out, and at most ``buffer_bytes`` of files are fetched ahead of the caller
(in flight or waiting to be yielded), however slowly it consumes. Every file is checked
against its listed id before it is yielded.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread
from anyio.streams.memory import MemoryObjectSendStream

from .. import limits
from ..models import EntryBrief
from .blobs import fetch_bytes
from .cache import ContentCache
from .engine import BATCH_BYTES, BATCH_FILES
from .report import pin_revision
from .routes import batched
from .whole import read_verified

if TYPE_CHECKING:
    from ..client import RemoteRepo

DEFAULT_BUFFER_BYTES = 64 * 1024 * 1024
# What a file costs besides its bytes while it is held (its tar header, its entry): so that
# a folder of empty files is bounded too.
PER_FILE_BYTES = 512


@dataclass(eq=False)
class _Job:
    """Files fetched together (one request), yielded together."""

    entries: list[tuple[str, EntryBrief]] = field(default_factory=list)
    size: int = 0
    done: anyio.Event = field(default_factory=anyio.Event)
    data: dict[str, bytes] = field(default_factory=dict)
    error: BaseException | None = None
    held: int = 0  # what it took from the budget

    @property
    def cost(self) -> int:
        return self.size + PER_FILE_BYTES * len(self.entries)


async def iter_files(
    repo: RemoteRepo,
    revision: str,
    remote_dir: str = "",
    *,
    concurrency: int = 8,
    ordered: bool = True,
    buffer_bytes: int = DEFAULT_BUFFER_BYTES,
    cache: ContentCache | None = None,
) -> AsyncGenerator[tuple[str, bytes]]:
    """Yield ``(repo path, bytes)`` for every file below ``remote_dir``, fetched concurrently.

    ``ordered=True`` yields in walk order (directories depth first, names in the server's
    order); ``ordered=False`` yields files as their request completes. At most
    ``concurrency`` requests run at once and at most about ``buffer_bytes`` of files are
    fetched ahead of the caller (one file bigger than that is fetched alone). Small files go
    many to a request (``QUERY /versions``), from ``cache`` (a ``ContentCache``) when it has
    them. Each file is checked against its listed id (IntegrityError). The first failure is
    raised from the iterator. Closing it (``await it.aclose()``, or ``async with
    contextlib.aclosing(...)``) after leaving the loop early stops the work at once.
    """
    limits.concurrency(concurrency)
    limits.batch_bytes(buffer_bytes, "buffer_bytes")
    pinned = await pin_revision(repo, revision, remote_dir)
    # Half the budget in flight, half waiting for the caller: the wire stays busy while the
    # caller works through what came.
    job_bytes = max(1, min(BATCH_BYTES, buffer_bytes // (2 * concurrency)))
    budget = limits.ByteBudget(buffer_bytes)
    send, receive = anyio.create_memory_object_stream[_Job](math.inf)  # the budget bounds it

    async def fetch(job: _Job) -> dict[str, bytes]:
        if len(job.entries) == 1 and (job.size > job_bytes or not batched(job.size)):
            path, entry = job.entries[0]  # alone: in one ranged read
            return {entry.hash: await read_verified(repo, pinned, path, entry.size, entry.hash)}
        by_hash = {entry.hash: (path, entry) for path, entry in job.entries}

        async def fallback(content_id: str) -> bytes:
            return await repo.files.download(pinned, by_hash[content_id][0])

        return await fetch_bytes(
            repo,
            {h: entry.size for h, (_, entry) in by_hash.items()},
            cache=cache,
            names={h: path for h, (path, _) in by_hash.items()},
            fallback=fallback,
        )

    async def run(job: _Job, slot: anyio.Semaphore, out: MemoryObjectSendStream[_Job]) -> None:
        async with out:
            try:
                job.data = await fetch(job)
            except Exception as exc:  # raised to the caller when it reaches this job
                job.error = exc
            finally:
                slot.release()
                job.done.set()
            if not ordered:
                await out.send(job)

    async def produce() -> None:
        slots = anyio.Semaphore(concurrency)
        async with send, anyio.create_task_group() as tg:

            async def start(job: _Job) -> None:
                job.held = min(job.cost, budget.capacity)  # a bigger job runs alone
                await budget.take(job.held)
                await slots.acquire()
                if ordered:
                    await send.send(job)
                tg.start_soon(run, job, slots, send.clone())

            job = _Job()
            # Closed as soon as this stops: the listing asked ahead goes with it.
            walk = repo.dirs.walk_brief(pinned, remote_dir)
            try:
                async with contextlib.aclosing(walk):
                    async for path, entry in walk:
                        if not batched(entry.size):  # a job of its own
                            if ordered and job.entries:  # walk order: what came first goes first
                                await start(job)
                                job = _Job()
                            await start(_Job([(path, entry)], entry.size))
                            continue
                        if job.entries and (
                            len(job.entries) >= BATCH_FILES or job.size + entry.size > job_bytes
                        ):
                            await start(job)
                            job = _Job()
                        job.entries.append((path, entry))
                        job.size += entry.size
                if job.entries:
                    await start(job)
            except Exception as exc:  # the listing failed: the caller gets it in turn
                failed = _Job(error=exc)
                failed.done.set()
                await send.send(failed)

    # The work runs in a task of its own, not in a task group held by this generator: a task
    # group's cancel scope cannot stay open across ``yield`` (it would cancel the caller's code
    # between items, and a generator closed from another task, as asyncio does on garbage
    # collection, would exit it in the wrong task). Inside that task everything is anyio.
    producer = asyncio.create_task(produce())
    try:
        async with receive:
            async for job in receive:
                await job.done.wait()
                if job.error is not None:
                    raise job.error
                for path, entry in job.entries:
                    yield path, job.data[entry.hash]
                budget.give(job.held)
        # The producer ends once everything is sent; a failure of its own surfaces here.
        await producer
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(producer, return_exceptions=True)
