"""One file through ``GET /file``: streamed into a temporary file beside the target,
hash-checked, renamed into place; a body cut off mid-way starts over (within the client's
retry policy, the session's tries included).

``Files.download_to`` is this; the folder engine uses it as the fallback for files a batch
cannot serve.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from ..errors import TransportError
from .local import TempFile

if TYPE_CHECKING:
    from ..api.files import Files

logger = logging.getLogger("oxen_async")

BUFFER_BYTES = 1024 * 1024


class _BufferedTemp:
    """A TempFile fed from the loop: pieces gathered to BUFFER_BYTES per worker-thread hop, so
    a small file costs a single hop (its write and its rename together)."""

    def __init__(self, target: Path, content_id: str, label: str) -> None:
        self._file = TempFile(target, content_id, label)
        self._buffer = bytearray()

    async def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= BUFFER_BYTES:
            piece, self._buffer = self._buffer, bytearray()
            await anyio.to_thread.run_sync(self._file.write, piece)

    def _finish(self) -> None:
        if self._buffer:
            self._file.write(self._buffer)
        self._file.commit()

    async def commit(self) -> None:
        await anyio.to_thread.run_sync(self._finish)

    async def discard(self) -> None:
        with anyio.CancelScope(shield=True):  # also when cancelled: never leave a temp behind
            await anyio.to_thread.run_sync(self._file.discard)


async def download_to(
    files: Files,
    revision: str,
    path: str,
    dest: str | os.PathLike[str],
    *,
    expected_hash: str | None = None,
) -> Path:
    """See ``Files.download_to``."""
    target = Path(dest)
    if expected_hash is None:
        expected_hash = await files.listed_hash(revision, path)
    # The session retries a request that got no answer; a body cut off mid-way starts over
    # here. One count for both: at most ``attempts`` requests in all.
    retrier = files.session.retry.start()
    while True:
        sink = _BufferedTemp(target, expected_hash, path)
        try:
            async with files.stream(revision, path, retry=retrier.left()) as chunks:
                async for chunk in chunks:
                    await sink.write(chunk)
            await sink.commit()
            return target
        except TransportError as exc:
            await sink.discard()
            wait = retrier.after(exc)
            if wait is None:
                raise
            logger.info("restarting download of %s: %s", path, exc.message)
            await anyio.sleep(wait)
        except BaseException:
            await sink.discard()
            raise
