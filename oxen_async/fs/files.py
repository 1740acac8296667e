"""The file objects ``open`` returns: reads fetch byte ranges; writes spool locally, then stage.

Reading uses fsspec's block caches over ranged reads, so a seek to the end of a parquet file
and a read of its footer fetch the footer, not the file. Writing spools (``Spool``): in memory
up to ``SPOOL_IN_MEMORY``, then to a temporary file on disk, hashed as it is written; the
file is staged when closed (as its own commit, or into the open transaction's workspace),
from memory, or by path from the temporary file, which streams a large one in parts.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import TYPE_CHECKING, Any, BinaryIO

from fsspec.spec import AbstractBufferedFile

from ..hashing import StreamingHasher
from .local import LocalSource

if TYPE_CHECKING:
    from .filesystem import OxenFileSystem

SPOOL_IN_MEMORY = 8 * 1024 * 1024


class Spool:
    """The bytes of one file being written: in memory up to ``in_memory`` bytes, then in a
    named temporary file (a path the large-file route can read parts from)."""

    def __init__(self, in_memory: int = SPOOL_IN_MEMORY) -> None:
        self._in_memory = in_memory
        self._memory = bytearray()
        self._file: BinaryIO | None = None
        self._path: str | None = None
        self._hasher = StreamingHasher()

    @property
    def on_disk(self) -> bool:
        return self._path is not None

    def write(self, data: bytes | memoryview) -> None:
        self._hasher.update(data)
        if self._file is not None:
            self._file.write(data)
            return
        self._memory += data
        if len(self._memory) > self._in_memory:
            fd, self._path = tempfile.mkstemp(prefix="oxen-fs-", suffix=".spool")
            self._file = os.fdopen(fd, "wb")
            self._file.write(self._memory)
            self._memory = bytearray()

    def finish(self) -> bytes | LocalSource:
        """What was written: the bytes, or the closed temporary file with their content id
        (``close`` deletes it)."""
        if self._file is None:
            data = bytes(self._memory)
            self._memory = bytearray()
            return data
        self._file.close()
        assert self._path is not None
        return LocalSource(self._path, self._hasher.hexdigest())

    def close(self) -> None:
        """Drop what was spooled (idempotent)."""
        self._memory = bytearray()
        if self._file is not None:
            self._file.close()
        if self._path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)
            self._path = None


class OxenFile(AbstractBufferedFile):  # type: ignore[misc]
    """A file of an Oxen repository opened ``rb`` or ``wb``."""

    DEFAULT_BLOCK_SIZE = 4 * 1024 * 1024

    def __init__(
        self,
        fs: OxenFileSystem,
        path: str,
        mode: str = "rb",
        *,
        commit_message: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fs, path, mode, **kwargs)
        self.commit_message = commit_message
        self._spool: Spool | None = None

    def _initiate_upload(self) -> None:
        # Closed in _upload_chunk(final) or discard(): it lives as long as the open file.
        self._spool = Spool(SPOOL_IN_MEMORY)

    def _upload_chunk(self, final: bool = False) -> bool:
        assert self._spool is not None
        self._spool.write(self.buffer.getbuffer())
        if final:
            spool, self._spool = self._spool, None
            try:
                fs: OxenFileSystem = self.fs
                fs.write_closed_file(self.path, spool.finish(), self.commit_message)
            finally:
                spool.close()
        return True

    def discard(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None
