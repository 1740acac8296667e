"""One large file through ranged reads: ``GET /chunk/{rev}/{path}?chunk_start=&chunk_size=``.

Several ranges of the file are in flight at once; each is streamed into its place in a
temporary file beside the target (positional writes in worker threads, ``WRITE_PIECE`` a hop),
so memory holds at most that much per range in flight. The network chunks of a piece go to the
thread as they came (one ``pwritev``, never joined on the event loop: copying there cost more
CPU than the hash), and each piece is hashed in that same hop (``OrderedHasher``: in file
order, pieces ahead of the cursor held, bounded), so the file is not read back whole to be checked.
A range cut off resumes where it stopped, on its own. When all are in, the hash is checked
against the id and only then is the file renamed into place. The server refuses a range that
runs past the end, so the last one is exactly what is left.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import anyio
import anyio.to_thread

from .. import limits
from ..api.files import chunk_params, chunk_path
from ..errors import IntegrityError, ResponseTooLargeError, TransportError, leaf_errors
from ..hashing import hash_file_sync, same_hash
from ..http.retry import RetryPolicy
from .batch import Blob, publish
from .cache import ContentCache
from .local import Targets, TargetsFailed, create_temp, open_beside
from .ordered_hash import OrderedHasher

if TYPE_CHECKING:
    from ..client import RemoteRepo

logger = logging.getLogger("oxen_async")

RANGE_BYTES = 8 * 1024 * 1024
RANGES_IN_FLIGHT = 4
# Bytes of a range gathered per worker-thread hop (write and hash): a whole range. On real
# 0.65.2, 3 x 110 MiB on tmpfs, 10 paired rounds: 0.45 s with 2 MiB a hop, 0.39 s with 4 MiB,
# 0.37 s with 8 MiB (1 MiB, before: 15% slower than 2). The hops were the cost: each one
# pauses its range's socket while the thread writes. Peak RSS 88, 93 and 101 MB: a range in
# flight holds at most this much, and ``limiter`` and ``ranges_in_flight`` bound the ranges in
# flight (``download_folder``: ``concurrency`` of them, 64 MiB at its default of 8), beside
# each file's ``OrderedHasher`` (``HELD_LIMIT``).
WRITE_PIECE = RANGE_BYTES
_IOV_MAX = 512  # buffers per pwritev: below every system's limit (Linux 1024)


def _create(
    targets: Targets, size: int
) -> tuple[int, Path, tuple[str, str | Path], dict[str, BaseException]]:
    """A temporary file of ``size`` bytes beside the first target that can take one: (fd, its
    name, that target, why those before it failed)."""

    def beside(_repo_path: str, target: str | Path) -> tuple[int, Path]:
        # Readable: the ordered hasher reads back pieces it could not hold.
        fd, name = create_temp(os.fspath(target), readable=True)
        temp = Path(name)
        try:
            os.ftruncate(fd, size)
        except BaseException:
            _drop(fd, temp)
            raise
        return fd, temp

    (fd, temp), rest, failures = open_beside(targets, beside)
    return fd, temp, rest[0], failures


def _pwrite(fd: int, pieces: list[bytes], offset: int, size: int, hasher: OrderedHasher) -> None:
    """Write ``pieces`` back to back from ``offset`` (one system call unless it is short),
    then hash them."""
    todo: list[bytes | memoryview] = list(pieces)
    first, at = 0, offset
    while first < len(todo):
        written = os.pwritev(fd, todo[first : first + _IOV_MAX], at)
        at += written
        while first < len(todo) and written >= len(todo[first]):
            written -= len(todo[first])
            first += 1
        if written:
            todo[first] = memoryview(todo[first])[written:]
    hasher.add_pieces(offset, pieces, size)


def _finish(
    temp: Path,
    blob: Blob,
    holder: tuple[str, str | Path],
    failures: dict[str, BaseException],
    cache: ContentCache | None,
    hasher: OrderedHasher,
) -> None:
    """Check the file and put it at the blob's targets (those that joined while it was read
    too), ``holder`` (the one it was made beside) by rename."""
    # Every byte was added once, so the cursor is at the end; were it not, hash the file.
    digest = hasher.hexdigest() if hasher.cursor == blob.size else hash_file_sync(temp)[0]
    if not same_hash(digest, blob.content_id):
        raise IntegrityError(
            f"{blob.targets[0][0]}: downloaded bytes hash to {digest}, "
            f"the server lists {blob.content_id}"
        )
    targets = [holder, *(t for t in blob.targets if t is not holder and t[0] not in failures)]
    publish(temp, targets, failures, cache, blob.content_id)  # each target on its own


def _drop(fd: int | None, temp: Path) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temp)


async def _open_temp(
    blob: Blob,
) -> tuple[int, Path, tuple[str, str | Path], dict[str, BaseException]]:
    """``_create`` beside one of the blob's targets. Paths may join while it runs (the blob is
    not sealed): when none of those it tried can take the file, the ones that joined are
    tried too, and only when none is left does the blob fail (sealed first, so every path
    it has is in the error)."""
    failures: dict[str, BaseException] = {}
    tried = 0
    while True:
        batch = list(blob.targets[tried:])
        try:
            handle, temp, holder, more = await anyio.to_thread.run_sync(_create, batch, blob.size)
        except TargetsFailed as exc:
            failures.update(exc.failures)
            tried += len(batch)
            if tried == len(blob.targets):  # no await from here to the caller's report
                blob.sealed = True
                raise TargetsFailed(failures) from None
            continue
        failures.update(more)
        return handle, temp, holder, failures


async def fetch_large(
    repo: RemoteRepo,
    revision: str,
    blob: Blob,
    *,
    limiter: anyio.CapacityLimiter | None = None,
    range_bytes: int | None = None,
    ranges_in_flight: int | None = None,
    cache: ContentCache | None = None,
) -> None:
    """Land ``blob`` (at every one of its targets) from the file at its first repo path:
    ranges of ``range_bytes`` (RANGE_BYTES), ``ranges_in_flight`` (RANGES_IN_FLIGHT) at once,
    each also holding ``limiter`` while its request runs."""
    repo_path = blob.targets[0][0]  # any of them: the same bytes
    url = chunk_path(repo.scope, revision, repo_path)
    session = repo.scope.session
    handle, temp, holder, failures = await _open_temp(blob)
    fd: int | None = handle  # None once closed; ranges write through ``handle``
    hasher = OrderedHasher(handle)
    range_bytes = range_bytes or RANGE_BYTES
    starts = range(0, blob.size, range_bytes)
    next_start = iter(starts)

    async def one_range(start: int, length: int) -> None:
        done = [start]  # where the bytes written so far end
        # A range cut off mid-body is asked for again here; the session retries one that got
        # no answer. One count for both: at most ``attempts`` requests per range in all.
        # It resumes where it stopped: each byte is written (and hashed) once.
        retrier = session.retry.start()
        end = start + length
        while start < end:
            try:
                if limiter is not None:
                    async with limiter:
                        await _read_range(start, end - start, retrier.left(), done)
                else:
                    await _read_range(start, end - start, retrier.left(), done)
                return
            except TransportError as exc:
                start = done[0]
                wait = retrier.after(exc)
                if wait is None:
                    raise
                logger.info("range %d-%d of %s again: %s", start, end, repo_path, exc)
                await anyio.sleep(wait)

    async def ranges() -> None:
        for start in next_start:  # shared by the workers: each range goes to one of them
            await one_range(start, min(range_bytes, blob.size - start))

    async def _read_range(start: int, length: int, retry: RetryPolicy, done: list[int]) -> None:
        params = chunk_params(start, length)
        got = 0

        async def put(pieces: list[bytes], size: int) -> None:
            nonlocal got
            if got + size > length:  # the same answer would come again: this file fails alone
                raise ResponseTooLargeError(
                    f"GET {session.url(url)}: the range ran past the {length:,} bytes asked for"
                )
            await anyio.to_thread.run_sync(_pwrite, handle, pieces, start + got, size, hasher)
            got += size
            done[0] = start + got

        async with session.stream("GET", url, params=params, retry=retry) as resp:
            pieces: list[bytes] = []
            size = 0
            try:
                # iter_chunks hands over aiohttp's buffers as they are (iter_any joins them).
                async for data, _ in resp.content.iter_chunks():
                    if data:
                        pieces.append(data)
                        size += len(data)
                    if size >= WRITE_PIECE or len(pieces) >= _IOV_MAX:
                        await put(pieces, size)
                        pieces, size = [], 0
            except (TimeoutError, aiohttp.ClientError) as exc:
                if pieces:  # what came before the cut is kept: the range resumes after it
                    await put(pieces, size)
                raise TransportError("GET", session.url(url), str(exc)) from None
            if pieces:
                await put(pieces, size)
        if got != length:
            raise TransportError("GET", session.url(url), f"range gave {got} of {length} bytes")

    try:
        try:
            async with anyio.create_task_group() as tg:
                # A few workers take the ranges in turn: tasks follow what is in flight, not
                # the file's size (a 10 GB file is 1,280 ranges).
                for _ in range(
                    limits.workers_for(ranges_in_flight or RANGES_IN_FLIGHT, len(starts))
                ):
                    tg.start_soon(ranges)
        except BaseExceptionGroup as group:
            raise leaf_errors(group)[0] from None
        fd = None
        await anyio.to_thread.run_sync(os.close, handle)
        blob.sealed = True
        await anyio.to_thread.run_sync(_finish, temp, blob, holder, failures, cache, hasher)
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_drop, fd, temp)
