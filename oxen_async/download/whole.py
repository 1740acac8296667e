"""A mid-size file in one request: ``GET /chunk/{rev}/{path}`` for the whole file, the body
read into memory (at most ``WHOLE_FILE_BYTES`` a request, so ``concurrency`` of them is the
bound), hashed and landed in one worker-thread hop.

Why not in a ``QUERY /versions`` batch: the server gzips the tar as it streams it, at about
17 MB/s per core for text and 32 MB/s for incompressible bytes (measured on real 0.65.2), and
that, not the client, is what a download of mid-size files waits for. A ranged read costs the
server about 1.3 ms of CPU per file whatever its size (no gzip), so above ``SMALL_FILE_BYTES``
(``engine``) one read per file is cheaper for the server than its share of a batch: 2,000
files of 200 KiB came down in 4.3 s instead of 9.3 s. Why not ``GET /file``: it costs the
server more per file than ``/chunk`` does (2.1 ms against 1.3, same bytes). Why not the
ranged-read machinery of ``ranged``: a temporary file, its truncation, a hop per piece and the
ordered hasher cost ~1 ms of client CPU per file, more than the transfer here.

A body cut off mid-way is asked for again whole (the session's retries: ``request_bytes``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from .batch import Blob, land_blob
from .cache import ContentCache

if TYPE_CHECKING:
    from ..client import RemoteRepo

# Above this a file streams to disk by ranges (``ranged``) instead of being held whole.
WHOLE_FILE_BYTES = 1024 * 1024


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

    Raises IntegrityError when the server sends another length or bytes that do not hash to
    the blob's id (nothing is written then), TransportError when the retries are spent.
    """
    repo_path = blob.targets[0][0]
    if blob.size == 0:  # the server refuses a range at the end of a file
        data = b""
    elif limiter is None:
        data = await repo.files.read_range(revision, repo_path, 0, blob.size)
    else:
        async with limiter:
            data = await repo.files.read_range(revision, repo_path, 0, blob.size)
    await anyio.to_thread.run_sync(land_blob, blob, data, cache)
