"""One home for every numeric bound a caller can set, each with the reason it exists.

The CLI and the library entry points (``upload_folder``, ``download_folder``, ``iter_files``)
call these checks, so ``--concurrency 100000000`` and ``concurrency=100_000_000`` fail the same
way: one ``LimitError`` line naming the option, the value and the allowed range. Values are
refused, not silently clamped: a user who asked for a million requests in flight has a typo or a
misunderstanding, and should hear about it.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

import anyio
from anyio.abc import ObjectReceiveStream, TaskGroup

from .errors import ConfigError

T = TypeVar("T")

MiB = 1024 * 1024

# Each unit of concurrency is a request in flight and (upload) a batch buffered in memory. More
# than a few hundred gains nothing over one host (the connection pool is 32 by default) and costs
# memory and file descriptors.
MAX_CONCURRENCY = 256

# A batch is one multipart request body held in memory, up to (concurrency + 4) of them at once.
# oxen-server caps a request body too; a gigabyte is far above any useful batch.
MIN_BATCH_BYTES = 1
MAX_BATCH_BYTES = 1024 * MiB

# Files per batch: each is one multipart part and one row of the server's staging work.
MAX_BATCH_FILES = 100_000

# What the upload may buffer in total, (concurrency + 4) x batch_bytes: above this the settings
# ask for more memory than a client machine should give to a copy.
MAX_BUFFERED_BYTES = 16 * 1024 * MiB

# Counts such as ``log -n``: a page of history is fetched per 100, a billion is a typo.
MAX_COUNT = 1_000_000


class LimitError(ConfigError):
    """A numeric setting outside its allowed range (one line: option, value, range)."""


def _whole(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise LimitError(f"{what} must be a whole number, got {value!r}")
    return value


def _bounded(value: object, what: str, low: int, high: int, why: str = "") -> int:
    n = _whole(value, what)
    if not low <= n <= high:
        reason = f" ({why})" if why else ""
        raise LimitError(f"{what} must be between {low:,} and {high:,}, got {n:,}{reason}")
    return n


def concurrency(value: object, what: str = "concurrency") -> int:
    """Requests in flight: 1..MAX_CONCURRENCY."""
    return _bounded(value, what, 1, MAX_CONCURRENCY, "each one is a request and buffer in flight")


def batch_bytes(value: object, what: str = "batch_bytes") -> int:
    return _bounded(value, what, MIN_BATCH_BYTES, MAX_BATCH_BYTES, "a batch is held in memory")


def batch_files(value: object, what: str = "batch_files") -> int:
    return _bounded(value, what, 1, MAX_BATCH_FILES)


def count(value: object, what: str = "count") -> int:
    return _bounded(value, what, 1, MAX_COUNT)


def port(value: object, what: str = "port") -> int:
    """A TCP port to listen on; 0 asks the system for a free one."""
    return _bounded(value, what, 0, 65535)


def mebibytes(value: float, what: str = "batch size") -> int:
    """A size given in MiB (``--batch-mb 0.5``) as bytes, refusing inf, nan and <= 0."""
    if not math.isfinite(value) or value <= 0:
        raise LimitError(f"{what} must be a positive number of MiB, got {value!r}")
    if value * MiB > MAX_BATCH_BYTES:
        raise LimitError(
            f"{what} must be at most {MAX_BATCH_BYTES // MiB:,} MiB, got {value:g} "
            "(a batch is held in memory)"
        )
    return max(1, int(value * MiB))


def upload_settings(n_concurrency: object, n_batch_bytes: object, n_batch_files: object) -> None:
    """Every bound of an upload, and their product: what it may hold in memory at once."""
    c = concurrency(n_concurrency)
    b = batch_bytes(n_batch_bytes)
    batch_files(n_batch_files)
    buffered = (c + 4) * b
    if buffered > MAX_BUFFERED_BYTES:
        raise LimitError(
            f"concurrency {c} with batch_bytes {b:,} could buffer {buffered / (1024 * MiB):.0f} "
            f"GiB (at most {MAX_BUFFERED_BYTES // (1024 * MiB)} GiB): lower one of them"
        )


def workers_for(requested: int, work: int) -> int:
    """How many workers to start: never more than there is work for (at least one).

    Concurrency is a ceiling, not a number of tasks to create up front: memory follows the work.
    """
    return max(1, min(requested, work))


class LazyWorkers(Generic[T]):
    """``handle(item)`` for each item of a stream, at most ``ceiling`` at once, a task started
    per item as it arrives: three batches cost three tasks, not ``ceiling`` idle ones (issue 9:
    concurrency costs memory in proportion to the work). The stream is read only while a slot
    is free, so items waiting in it still back-pressure the stage that sends them.

    ``running`` (items being handled now), ``started`` and ``peak`` are for the stages that
    pace themselves on the load (the upload's packer) and for tests.
    """

    def __init__(self, ceiling: int) -> None:
        # Tasks, not requests: a stage may run more workers than requests in flight.
        self.ceiling = count(ceiling, "workers")
        self.running = 0
        self.started = 0
        self.peak = 0

    async def run(
        self,
        items: ObjectReceiveStream[T],
        handle: Callable[[T], Awaitable[object]],
        task_group: TaskGroup,
    ) -> None:
        """Take items until ``items`` ends, each handled in a task of ``task_group`` (the
        caller's); returns when the last one is taken (the group waits for the rest).

        The caller's group, not one of our own: a failure cancels it at once, the stage that
        sends the items included, before this closes ``items`` (with a group of our own the
        sender would meet the closed stream first, a BrokenResourceError beside the cause)."""
        slots = anyio.Semaphore(self.ceiling)
        async with items:
            while True:
                await slots.acquire()
                try:
                    item = await items.receive()
                except anyio.EndOfStream:
                    return
                self.running += 1
                self.started += 1
                self.peak = max(self.peak, self.running)
                task_group.start_soon(self._one, handle, item, slots)

    async def _one(
        self, handle: Callable[[T], Awaitable[object]], item: T, slot: anyio.Semaphore
    ) -> None:
        try:
            await handle(item)
        finally:
            self.running -= 1
            slot.release()


class ByteBudget:
    """At most ``capacity`` bytes held at once across its holders: ``async with
    budget.hold(n):``, or ``take`` and ``give`` when one task takes and another gives back. A
    holder bigger than the whole budget still gets it, alone, so no item waits forever.
    ``peak`` is for tests."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.held = 0
        self.peak = 0
        self._freed = anyio.Event()

    async def take(self, size: int) -> None:
        while self.held and self.held + size > self.capacity:
            await self._freed.wait()
        self.held += size
        self.peak = max(self.peak, self.held)

    def give(self, size: int) -> None:
        self.held -= size
        self._freed.set()
        self._freed = anyio.Event()

    @asynccontextmanager
    async def hold(self, size: int) -> AsyncIterator[None]:
        await self.take(size)
        try:
            yield
        finally:  # given back also when the holder is cancelled (no await: nothing to shield)
            self.give(size)
