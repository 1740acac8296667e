"""The file objects ``open`` returns: reads fetch byte ranges; writes spool locally, then stage.

Reading uses fsspec's block caches over ranged reads, so a seek to the end of a parquet file
and a read of its footer fetch the footer, not the file. Writing spools to a temporary file
(memory stays under ``SPOOL_IN_MEMORY``) and stages the bytes when the file is closed: as its
own commit, or into the open transaction's workspace.
"""

from __future__ import annotations

import tempfile
from typing import TYPE_CHECKING, Any

from fsspec.spec import AbstractBufferedFile

if TYPE_CHECKING:
    from .filesystem import OxenFileSystem

SPOOL_IN_MEMORY = 8 * 1024 * 1024


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
        self._spool: tempfile.SpooledTemporaryFile[bytes] | None = None

    def _initiate_upload(self) -> None:
        # Closed in _upload_chunk(final) or discard(): it lives as long as the open file.
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115

    def _upload_chunk(self, final: bool = False) -> bool:
        assert self._spool is not None
        self._spool.write(self.buffer.getbuffer())
        if final:
            self._spool.seek(0)
            data = self._spool.read()
            self._spool.close()
            self._spool = None
            fs: OxenFileSystem = self.fs
            fs.write_closed_file(self.path, data, self.commit_message)
        return True

    def discard(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None
