"""Reading a whole response body: with one copy of it in memory, not two, and never more of it
than the client means to hold (``MAX_WHOLE_BODY`` for JSON, ``MAX_ERROR_BODY`` for an error's
message, the range's own length for a ranged read)."""

from __future__ import annotations

import mmap
from collections.abc import Mapping

import aiohttp

from ..errors import ResponseTooLargeError
from .transport import Response

# Below this a body is read the plain way: the saving is small and the join is cheap.
SIZED_READ_MIN = 256 * 1024
# The most of a JSON answer read into memory. The biggest we ask for, a nested listing of
# ``dirs.DEEP_FILES`` files, is ~9 MB; past this a server is broken or hostile, and the answer
# is refused before the excess is read (its declared length alone, when it declares one).
MAX_WHOLE_BODY = 256 * 1024 * 1024
# What an error answer may hold: its message is all we use (a 404 listing the ~1,000 blobs of
# a batch that the server lacks is ~50 KB). The rest is left unread.
MAX_ERROR_BODY = 1024 * 1024


def declared_length(headers: Mapping[str, str]) -> int | None:
    """The body's length on the wire as the headers declare it, None when it is not the
    length of what the reader gets (absent, malformed, or a compressed body that the transport
    inflates)."""
    if headers.get("Content-Encoding", "identity").lower() != "identity":
        return None
    value = headers.get("Content-Length", "")
    return int(value) if value.isascii() and value.isdigit() else None


Body = bytes | mmap.mmap
"""A whole body: what JSON is decoded from (both are buffers msgspec reads)."""


def _too_large(limit: int, what: str) -> ResponseTooLargeError:
    return ResponseTooLargeError(f"the response body {what}, more than the {limit:,} allowed")


async def read_capped(resp: Response, limit: int) -> bytes:
    """The whole body, refused (ResponseTooLargeError) once it declares more than ``limit``
    bytes (nothing read) or sends more (at the first piece past the limit)."""
    size = declared_length(resp.headers)
    if size is not None:
        if size > limit:
            raise _too_large(limit, f"declares {size:,} bytes")
        return await resp.read()  # the transport reads no further than the declared length
    data = await read_prefix(resp, limit + 1)
    if len(data) > limit:
        raise _too_large(limit, "runs on")
    return data


async def read_prefix(resp: Response, limit: int) -> bytes:
    """At most the first ``limit`` bytes of the body (an error's message); the rest unread."""
    pieces: list[bytes] = []
    got = 0
    async for piece in resp.content.iter_any():
        pieces.append(piece[: limit - got])
        got += len(pieces[-1])
        if got >= limit:
            break
    return b"".join(pieces)


async def read_whole(resp: Response) -> Body:
    """The whole body. A big one of declared length lands in one buffer of that size as it
    arrives: the transport's own ``read`` keeps every piece until the end and then joins them,
    which held a nested listing's ~9 MB body twice at its peak.

    The buffer is an anonymous mapping, not heap memory: it goes back to the system when it
    is dropped, and it leaves glibc's allocator alone. A freed heap block that size raises
    glibc's mmap threshold to it, so later blocks below it stay in the heap and the freed ones
    in each thread's arena are kept; peak RSS of a 30,000-file download fell 84 → 70 MB.
    A body that breaks off raises as the transport's own reads do (``BODY_ERRORS``), so it is
    retried the same way. Past ``MAX_WHOLE_BODY``: ResponseTooLargeError (``read_capped``)."""
    size = declared_length(resp.headers)
    if size is None or not SIZED_READ_MIN <= size <= MAX_WHOLE_BODY:
        return await read_capped(resp, MAX_WHOLE_BODY)
    buf = mmap.mmap(-1, size)
    view = memoryview(buf)
    filled = 0
    try:
        async for piece in resp.content.iter_any():
            end = filled + len(piece)
            if end > size:
                raise aiohttp.ClientPayloadError(
                    f"the body is longer than its Content-Length ({size})"
                )
            view[filled:end] = piece
            filled = end
    finally:
        view.release()
    if filled != size:
        raise aiohttp.ClientPayloadError(f"the body ended after {filled} of its {size} bytes")
    return buf
