"""Blobs as bytes, many per request: the hook for loaders that want data, not files (a torch
dataset, an fsspec ``cat`` of many paths). Verified against their ids; the cache first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import anyio.to_thread
import xxhash

from ..errors import ConfigError, IntegrityError
from ..hashing import format_hash, same_hash
from .batch import Blob, fetch_batch
from .cache import ContentCache

if TYPE_CHECKING:
    from ..client import RemoteRepo

FETCH_BYTES_LIMIT = 256 * 1024 * 1024


class _MemorySink:
    def __init__(self, blob: Blob, into: dict[str, bytes]) -> None:
        self._blob = blob
        self._into = into
        self._data = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._data += data

    def commit(self) -> None:
        digest = format_hash(xxhash.xxh3_128_intdigest(self._data))
        if not same_hash(digest, self._blob.content_id):
            raise IntegrityError(
                f"blob {self._blob.content_id}: the bytes received hash to {digest}"
            )
        self._into[self._blob.content_id] = bytes(self._data)

    def discard(self) -> None:
        self._data = bytearray()


async def fetch_bytes(
    repo: RemoteRepo, sizes: Mapping[str, int], *, cache: ContentCache | None = None
) -> dict[str, bytes]:
    """``{content id: bytes}`` for ``sizes`` (content id -> listed size), in one
    ``QUERY /versions`` for those the cache lacks (keep ``sum(sizes)`` to what memory allows:
    at most FETCH_BYTES_LIMIT). Raises the first failure (IntegrityError, HTTP errors)."""
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

    await fetch_batch(repo, wanted, outcome, sink=lambda blob: _MemorySink(blob, got))
    if failures:
        raise failures[0]
    if cache is not None:

        def keep() -> None:
            for content_id, data in got.items():
                cache.put_bytes(content_id, data)

        await anyio.to_thread.run_sync(keep)
    return {**found, **got}
