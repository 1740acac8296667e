"""Local files staged by path, with memory bounded whatever their size or number.

Small files (up to the large-file threshold, the uploader's) are read in batches of at most
``BATCH_BYTES`` (or one file) and ``PARTS_PER_REQUEST`` files, one staging request each; large
files are hashed in pieces and sent alone through the uploader's large-file route
(``/versions/uploads`` parts, or legacy chunks on an old server), staged at their path by the
server once complete. At most ``PARTS_IN_FLIGHT`` parts of one file are in memory at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio.to_thread

from ..errors import ConfigError, FileChangedError
from ..hashing import hash_file_sync
from ..upload.parts import send_by_server_route
from ..upload.settings import DEFAULT_BATCH_BYTES, LARGE_FILE

if TYPE_CHECKING:
    from ..client import RemoteRepo

BATCH_BYTES = DEFAULT_BATCH_BYTES
# Parts per staging request: keeps one request's body (and the server's parse) moderate.
PARTS_PER_REQUEST = 64
# Two 10 MiB parts in flight keep the socket busy while the next part is read; memory stays
# a small fixed multiple of the part size, not of the file's.
PARTS_IN_FLIGHT = 2
CHUNKS_IN_FLIGHT = 2  # the legacy route's equivalent


@dataclass(frozen=True)
class LocalSource:
    """A local file to stage; ``content_id`` when its bytes were hashed already (a spool
    hashes what is written to it)."""

    path: str
    content_id: str | None = None


@dataclass(frozen=True)
class SizedSource:
    repo_path: str
    source: LocalSource
    size: int
    mtime_ns: int


def check_threshold(threshold: int) -> int:
    if not 0 <= threshold <= LARGE_FILE:
        raise ConfigError(
            f"large_file_threshold must be between 0 and the server's {LARGE_FILE} byte cap, "
            f"not {threshold}"
        )
    return threshold


def measure(files: Sequence[tuple[str, LocalSource]]) -> list[SizedSource]:
    """Size and mtime of each file (blocking: a worker thread)."""
    sized = []
    for repo_path, source in files:
        st = os.stat(source.path)
        sized.append(SizedSource(repo_path, source, st.st_size, st.st_mtime_ns))
    return sized


def small_batches(files: Sequence[SizedSource]) -> Iterator[list[SizedSource]]:
    """Consecutive batches of at most ``BATCH_BYTES`` (or one file) and ``PARTS_PER_REQUEST``."""
    batch: list[SizedSource] = []
    size = 0
    for f in files:
        if batch and (size + f.size > BATCH_BYTES or len(batch) >= PARTS_PER_REQUEST):
            yield batch
            batch, size = [], 0
        batch.append(f)
        size += f.size
    if batch:
        yield batch


def read_batch(batch: Sequence[SizedSource]) -> list[tuple[str, bytes]]:
    """The bytes of each file (blocking), refusing one whose size changed since measured."""
    out = []
    for f in batch:
        with open(f.source.path, "rb") as handle:
            data = handle.read(f.size + 1)
        if len(data) != f.size:
            raise FileChangedError(f"{f.source.path}: file changed while it was being staged")
        out.append((f.repo_path, data))
    return out


def _hash_unchanged(f: SizedSource) -> str:
    digest, size = hash_file_sync(f.source.path)
    st = os.stat(f.source.path)
    if (size, st.st_size, st.st_mtime_ns) != (f.size, f.size, f.mtime_ns):
        raise FileChangedError(f"{f.source.path}: file changed while it was being hashed")
    return digest


async def send_large(repo: RemoteRepo, workspace_id: str, f: SizedSource) -> None:
    """Send one large file and stage it at its repo path in the workspace. Raises
    FileChangedError when the file changes before its last byte is sent."""
    content_id = f.source.content_id
    if content_id is None:
        content_id = await anyio.to_thread.run_sync(_hash_unchanged, f)
    await send_by_server_route(
        repo.versions,
        repo.uploads,
        f.source.path,
        content_id,
        f.size,
        repo_path=f.repo_path,
        workspace_id=workspace_id,
        mtime_ns=f.mtime_ns,
        parts_in_flight=PARTS_IN_FLIGHT,
        legacy_concurrency=CHUNKS_IN_FLIGHT,
    )
