"""Request bodies handed to the socket a slice at a time, so big bodies never stall the loop.

aiohttp writes a bytes body with one ``transport.write``: the event loop thread copies the
whole body (a 10 MiB chunk, a 4 MiB batch) into the socket and the transport's buffer before
anything else runs, which showed up as 20-90 ms of loop lag while large files moved. Slices
cost one small copy each, and the transport's flow control (pause above its high-water mark)
hands the loop back while the socket drains.

A body may also come as segments (a tuple of bytes): a multipart form keeps each file's bytes
as read instead of copying them all into one buffer (a third of the CPU of packing 200 KiB
files went to that copy).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import Payload

SLICE = 256 * 1024
SLICED_ABOVE = 512 * 1024  # smaller bytes bodies go in one write: no loop time worth saving

Segments = tuple[bytes, ...]
"""A body in pieces, sent back to back."""


class SegmentsPayload(Payload):
    """Bytes segments written ``SLICE`` bytes at a time, with a Content-Length."""

    _autoclose = True  # nothing to close: plain memory

    def __init__(self, segments: Sequence[bytes], **kwargs: Any) -> None:
        self._segments = tuple(segments)
        super().__init__(self._segments, **kwargs)
        self._total = self._size = sum(len(s) for s in self._segments)

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return b"".join(self._segments).decode(encoding, errors)

    async def as_bytes(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return b"".join(self._segments)

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        left = self._total if content_length is None else min(content_length, self._total)
        for segment in self._segments:
            view = memoryview(segment)
            for start in range(0, len(view), SLICE):
                if left <= 0:
                    return
                piece = view[start : start + min(SLICE, left)]
                left -= len(piece)
                await writer.write(piece)


def body_for(data: Any) -> Any:
    """``data`` as aiohttp should send it: segments and large bytes bodies sliced, anything
    else as is."""
    if isinstance(data, tuple):
        return SegmentsPayload(data)
    if isinstance(data, bytes) and len(data) > SLICED_ABOVE:
        return SegmentsPayload((data,))
    return data
