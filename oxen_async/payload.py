"""Request bodies handed to the socket a slice at a time, so big bodies never stall the loop.

aiohttp writes a bytes body with one ``transport.write``: the event loop thread copies the
whole body (a 10 MiB chunk, a 4 MiB batch) into the socket and the transport's buffer before
anything else runs, which showed up as 20-90 ms of loop lag while large files moved. Slices
cost one small copy each, and the transport's flow control (pause above its high-water mark)
hands the loop back while the socket drains.
"""

from __future__ import annotations

from typing import Any

from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import BytesPayload

SLICE = 256 * 1024
SLICED_ABOVE = 512 * 1024  # smaller bodies go in one write: no loop time worth saving


class SlicedBytesPayload(BytesPayload):
    """A bytes body written ``SLICE`` bytes at a time (same headers, same bytes)."""

    def __init__(self, value: bytes, *args: Any, **kwargs: Any) -> None:
        super().__init__(value, *args, **kwargs)
        self._view = memoryview(value)

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        view = self._view if content_length is None else self._view[:content_length]
        for start in range(0, len(view), SLICE):
            await writer.write(view[start : start + SLICE])


def body_for(data: Any) -> Any:
    """``data`` as aiohttp should send it: large bytes bodies sliced, anything else as is."""
    if isinstance(data, bytes) and len(data) > SLICED_ABOVE:
        return SlicedBytesPayload(data)
    return data
