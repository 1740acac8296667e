"""A mid-size file in one request: ``GET /chunk/{rev}/{path}`` for the whole file, the body
read into memory (at most ``routes.WHOLE_FILE_BYTES`` a request, so ``concurrency`` of them is
the bound), hashed and landed in one worker-thread hop. Why this route for these sizes:
``routes``. Why not the machinery of ``ranged``: a temporary file, its truncation, a hop per
piece and the ordered hasher cost ~1 ms of client CPU per file, more than the transfer here.

A body cut off mid-way is asked for again whole (the session's retries: ``request_bytes``).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from ..errors import IntegrityError
from ..hashing import hash_bytes, same_hash
from .batch import Blob, land_blob
from .cache import ContentCache

if TYPE_CHECKING:
    from ..client import RemoteRepo

# Above this the hash runs in a worker thread rather than on the event loop.
_HASH_INLINE_LIMIT = 256 * 1024


async def _read(repo: RemoteRepo, revision: str, path: str, size: int) -> bytes:
    if size == 0:  # the server refuses a range at the end of a file
        return b""
    return await repo.files.read_range(revision, path, 0, size)


async def read_verified(
    repo: RemoteRepo, revision: str, path: str, size: int, content_id: str
) -> bytes:
    """The bytes of the file at ``path`` (``size`` as listed) in one ranged read, checked
    against ``content_id`` (IntegrityError when they differ)."""
    data = await _read(repo, revision, path, size)
    if size > _HASH_INLINE_LIMIT:
        digest = await anyio.to_thread.run_sync(hash_bytes, data)
    else:
        digest = hash_bytes(data)
    if not same_hash(digest, content_id):
        raise IntegrityError(
            f"{path}: downloaded bytes hash to {digest}, the server lists {content_id}"
        )
    return data


async def fetch_whole(
    repo: RemoteRepo,
    revision: str,
    blob: Blob,
    *,
    limiter: anyio.CapacityLimiter | None = None,
    cache: ContentCache | None = None,
) -> None:
    """Land ``blob`` (at every one of its targets) from the file at its first repo path, in
    one ranged read of all its bytes (holding ``limiter`` while the request runs).

    Raises IntegrityError when the server sends fewer bytes or bytes that do not hash to the
    blob's id, ResponseTooLargeError when it sends more (nothing is written then),
    TransportError when the retries are spent.
    """
    async with limiter or contextlib.nullcontext():
        data = await _read(repo, revision, blob.targets[0][0], blob.size)
    blob.sealed = True
    await anyio.to_thread.run_sync(land_blob, blob, data, cache)
