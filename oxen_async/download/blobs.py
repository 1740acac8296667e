"""Blobs as bytes, many per request: the hook for loaders that want data, not files (a torch
dataset, an fsspec ``cat`` of many paths). Verified against their ids; the cache first."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import anyio.to_thread
import xxhash

from ..errors import ConfigError, IntegrityError
from ..hashing import format_hash, same_hash
from .batch import BatchRefused, Blob, Scoped, fetch_batch
from .cache import ContentCache

FETCH_BYTES_LIMIT = 256 * 1024 * 1024


Fallback = Callable[[str], Awaitable[bytes]]
"""Fetches one blob by other means (its file through ``/file``) when the batch is refused."""


def _verified(content_id: str, data: bytes | bytearray | memoryview, label: str | None) -> bytes:
    digest = format_hash(xxhash.xxh3_128_intdigest(data))
    if not same_hash(digest, content_id):
        raise IntegrityError(
            f"{label or 'blob ' + content_id}: the bytes received hash to {digest}, "
            f"the server lists {content_id}"
        )
    return bytes(data)


class _MemorySink:
    def __init__(self, blob: Blob, into: dict[str, bytes], label: str | None) -> None:
        self._blob = blob
        self._into = into
        self._label = label
        self._data = bytearray()

    def land(self, data: memoryview) -> None:
        content_id = self._blob.content_id
        self._into[content_id] = _verified(content_id, data, self._label)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._data += data

    def commit(self) -> None:
        content_id = self._blob.content_id
        self._into[content_id] = _verified(content_id, self._data, self._label)

    def discard(self) -> None:
        self._data = bytearray()


async def fetch_bytes(
    repo: Scoped,
    sizes: Mapping[str, int],
    *,
    cache: ContentCache | None = None,
    names: Mapping[str, str] | None = None,
    fallback: Fallback | None = None,
) -> dict[str, bytes]:
    """``{content id: bytes}`` for ``sizes`` (content id -> listed size), in one
    ``QUERY /versions`` for those the cache lacks (keep ``sum(sizes)`` to what memory allows:
    at most FETCH_BYTES_LIMIT). Raises the first failure (IntegrityError, HTTP errors).

    ``names`` (content id -> repo path) name the blobs in errors. ``fallback`` fetches one
    blob when the server refuses the batch (BatchRefused, BlobsMissing: raised without it);
    its bytes are checked like the batch's."""
    if sum(sizes.values()) > FETCH_BYTES_LIMIT:
        raise ConfigError(
            f"fetch_bytes holds what it fetches in memory: at most {FETCH_BYTES_LIMIT} bytes"
        )
    found: dict[str, bytes] = {}
    if cache is not None:
        cached = await anyio.to_thread.run_sync(lambda: {h: cache.read(h) for h in sizes})
        found.update({h: data for h, data in cached.items() if data is not None})
    wanted = [Blob(h, size) for h, size in sizes.items() if h not in found]
    if not wanted:
        return found
    failures: list[BaseException] = []
    got: dict[str, bytes] = {}

    def outcome(blob: Blob, error: BaseException | None) -> None:
        if error is not None:
            failures.append(error)

    def label(content_id: str) -> str | None:
        return names.get(content_id) if names is not None else None

    try:
        await fetch_batch(
            repo,
            wanted,
            outcome,
            sink=lambda blob: _MemorySink(blob, got, label(blob.content_id)),
        )
    except BatchRefused as refused:
        if fallback is None:
            raise
        for blob in refused.pending:  # one by one: each gets its own answer
            data = await fallback(blob.content_id)
            got[blob.content_id] = _verified(blob.content_id, data, label(blob.content_id))
    if failures:
        raise failures[0]
    if cache is not None:

        def keep() -> None:
            for content_id, data in got.items():
                cache.put_bytes(content_id, data)

        await anyio.to_thread.run_sync(keep)
    return {**found, **got}
