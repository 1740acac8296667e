"""Many small files in one ``QUERY /versions``: the gzipped tar is unpacked as it streams.

The event loop only moves bytes: it gathers what the socket gives into pieces of about
``FEED_BYTES`` and hands each to a worker thread, which inflates, parses, hashes and writes.
Reading the next piece overlaps with unpacking the last one (a two-piece buffer between them).
A body cut off mid-way is asked for again for the files that had not landed yet.

A member wholly inside the piece being unpacked (nearly every small file) is hashed first and
only then written: one create, one write, one rename, by raw fd, so a wrong member never
touches the disk. No fsync: the guarantee is against a killed process (the rename is atomic,
so a file is whole or absent) and the next run's skip check reads size and xxh3, so a file
torn by a power loss is fetched again; an fsync per file would cost a journal commit per file
(tens of thousands a folder) for data the server still holds.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import aiohttp
import anyio
import anyio.to_thread
import xxhash

from ..errors import (
    HTTPError,
    IntegrityError,
    NotFoundError,
    OxenError,
    ServerError,
    TransportError,
    leaf_errors,
)
from ..hashing import format_hash
from ..http.retry import Retrier
from .cache import ContentCache
from .local import Targets, TargetsFailed, TempFile, land_each, open_beside, spread
from .untar import MemberSink, TarGzReader, UnsafeArchive

if TYPE_CHECKING:
    from ..api._scope import RepoScope


class Scoped(Protocol):
    """What a batch needs of a repository: its scope (session and paths). A ``RemoteRepo``,
    or any resource of one."""

    @property
    def scope(self) -> RepoScope: ...


logger = logging.getLogger("oxen_async")

FEED_BYTES = 512 * 1024


@dataclass
class Blob:
    """One content id wanted at one or more local paths (same bytes, several files)."""

    content_id: str
    size: int
    targets: list[tuple[str, str | Path]] = field(default_factory=list)
    """(repo path, local path). The engine gives strings: a Path per file cost the event loop
    a tenth of its time on a folder of small files."""
    sealed: bool = False
    """Set (on the event loop) once its bytes are in and it starts landing at ``targets``:
    from then on a target added would be missed, so the engine adds none (a later file with
    the same content gets a read of its own)."""


Outcome = Callable[[Blob, BaseException | None], None]
SinkFactory = Callable[[Blob], MemberSink]
"""Where a blob's bytes go (called in the unpacking thread); files at its targets by default."""


class BatchRefused(OxenError):
    """The server would not serve the batch (a 5xx): ``pending`` (not reported yet) is for the
    caller to fetch one by one."""

    def __init__(self, message: str, pending: list[Blob]) -> None:
        super().__init__(message)
        self.pending = pending


class BlobsMissing(BatchRefused):
    """The server lacks some of the batch (404 ``version_blobs_missing``)."""


def _id_value(content_id: str) -> int | None:
    try:
        return int(content_id, 16)
    except ValueError:
        return None  # never matches: the member is refused as wrong bytes


def land_blob(blob: Blob, data: bytes | memoryview, cache: ContentCache | None) -> None:
    """Put a whole blob's bytes at every one of its targets, once they hash to its id (wrong
    bytes never touch the disk), and offer them to ``cache``. Each target lands on its own
    (TargetsFailed names those that could not be written). Blocking: a worker thread's."""
    digest = xxhash.xxh3_128_intdigest(data)
    if digest != _id_value(blob.content_id):
        raise IntegrityError(
            f"{blob.targets[0][0]}: downloaded bytes hash to {format_hash(digest)}, "
            f"the server lists {blob.content_id}"
        )
    try:
        land_each(blob.targets, data)  # the bytes are at hand: no copy from the first file
    finally:
        if cache is not None:
            offer(cache, blob.content_id, data)


def offer(cache: ContentCache, content_id: str, verified: bytes | memoryview | str | Path) -> None:
    """Keep ``verified`` (the bytes, or a file holding them) in the cache if it can take them:
    the files have landed either way, so a cache that cannot be written is logged, not a
    failed download."""
    try:
        if isinstance(verified, (str, Path)):
            cache.put_file(verified, content_id)
        else:
            cache.put_bytes(content_id, bytes(verified))
    except OSError as exc:
        logger.warning("could not keep %s in the cache: %s", content_id, exc)


def publish(
    temp: str | Path,
    targets: Targets,
    failures: dict[str, BaseException],
    cache: ContentCache | None,
    content_id: str,
) -> None:
    """Put a verified temporary file at ``targets`` (``spread``: the first by rename), offer it
    to ``cache``, and raise TargetsFailed naming what could not be written (``failures``: the
    paths that failed before, too)."""
    failures = {**failures, **spread(temp, targets)}
    landed = [(path, target) for path, target in targets if path not in failures]
    if landed and cache is not None:
        offer(cache, content_id, landed[0][1])
    if failures:
        raise TargetsFailed(failures, [path for path, _ in landed])


class _FanoutSink:
    """A member streamed into a temporary file beside one of its targets, then put at each of
    them (each on its own: TargetsFailed names those that could not be written), offered to
    the cache."""

    def __init__(self, blob: Blob, cache: ContentCache | None) -> None:
        self._blob = blob
        self._cache = cache
        self._file: TempFile | None = None
        self._targets: Targets = blob.targets
        self._failures: dict[str, BaseException] = {}

    def land(self, data: memoryview) -> None:
        land_blob(self._blob, data, self._cache)

    def _open(self, repo_path: str, target: str | Path) -> TempFile:
        file = TempFile(target, self._blob.content_id, repo_path)
        file.open()
        return file

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._file is None:
            file, self._targets, self._failures = open_beside(self._targets, self._open)
            self._file = file
        self._file.write(data)

    def commit(self) -> None:
        if self._file is None:
            self.land(memoryview(b""))
            return
        temp = self._file.verified()  # wrong bytes: every path fails, nothing written
        publish(temp, self._targets, self._failures, self._cache, self._blob.content_id)

    def discard(self) -> None:
        if self._file is not None:
            self._file.discard()


async def fetch_batch(
    repo: Scoped,
    blobs: list[Blob],
    outcome: Outcome,
    *,
    cache: ContentCache | None = None,
    sink: SinkFactory | None = None,
) -> None:
    """Land ``blobs`` through ``QUERY /versions``, telling ``outcome`` about each exactly once.

    Each blob goes to ``sink(blob)`` (by default: its targets, and ``cache`` when given).
    Raises BatchRefused / BlobsMissing (nothing reported for what is left) when the server
    fails the batch or lacks some of it.
    """
    if sink is None:

        def sink(blob: Blob) -> MemberSink:
            return _FanoutSink(blob, cache)

    pending = {blob.content_id: blob for blob in blobs}
    # The session retries a request that got no answer; a body cut off mid-way is ours to ask
    # again (for what had not landed). Both count against one policy: at most ``attempts``
    # requests for the batch in all (the session gets what is left, and its tries come back
    # in ``exc.tries``).
    retrier = repo.scope.session.retry.start()
    while pending:
        try:
            await _one_request(repo, pending, outcome, sink, retrier)
            return
        except TransportError as exc:
            wait = retrier.after(exc)
            if wait is None:
                _fail_all(pending, outcome, exc)
                return
            logger.info("batch download cut off (%s); asking again for %d", exc, len(pending))
            await anyio.sleep(wait)
        except NotFoundError as exc:
            if exc.error_type == "version_blobs_missing":
                raise BlobsMissing(str(exc), list(pending.values())) from None
            _fail_all(pending, outcome, exc)
            return
        except ServerError as exc:
            raise BatchRefused(str(exc), list(pending.values())) from None
        except (HTTPError, UnsafeArchive, OSError) as exc:
            _fail_all(pending, outcome, exc)
            return


def _fail_all(pending: dict[str, Blob], outcome: Outcome, exc: BaseException) -> None:
    for blob in pending.values():
        outcome(blob, exc)
    pending.clear()


async def _one_request(
    repo: Scoped,
    pending: dict[str, Blob],
    outcome: Outcome,
    sink: SinkFactory,
    retrier: Retrier,
) -> None:
    session = repo.scope.session
    body = gzip.compress("".join(f"{h}\n" for h in pending).encode(), 6)
    done: list[tuple[str, Exception | None]] = []
    reader = TarGzReader(
        {h: b.size for h, b in pending.items()},
        lambda h, _size: sink(pending[h]),
        lambda h, error: done.append((h, error)),
    )

    def settle() -> None:
        for content_id, error in done:
            blob = pending.pop(content_id)
            outcome(blob, error)
        done.clear()

    send, receive = anyio.create_memory_object_stream[bytes](2)
    url = repo.scope.path("versions")
    try:
        async with session.stream(
            "QUERY", url, body=lambda: body, idempotent=True, retry=retrier.left()
        ) as resp:
            cut: list[TransportError] = []

            async def pump() -> None:
                async with send:
                    piece = bytearray()
                    try:
                        async for data in resp.content.iter_any():
                            piece += data
                            if len(piece) >= FEED_BYTES:
                                await send.send(bytes(piece))
                                piece.clear()
                    except (TimeoutError, aiohttp.ClientError) as exc:
                        # Not raised here: the members before the cut are still unpacked
                        # (the stream ends normally), so only the rest is asked for again.
                        cut.append(TransportError("QUERY", session.url(url), str(exc)))
                    if piece:
                        await send.send(bytes(piece))

            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(pump)
                    async with receive:
                        async for piece in receive:
                            await anyio.to_thread.run_sync(reader.feed, piece)
                            settle()
            except BaseExceptionGroup as group:
                raise leaf_errors(group)[0] from None
            if cut:
                raise cut[0]
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(reader.close)
        settle()
    if pending:
        if reader.finished:
            # A complete archive without some of what was asked for: the server's fault.
            _fail_all(pending, outcome, IntegrityError("the batch archive lacks this blob"))
        else:
            raise TransportError("QUERY", session.url(url), "the batch archive ended early")
