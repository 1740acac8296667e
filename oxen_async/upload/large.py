"""Files over the gzip cap go through the chunked ``/versions`` route, staged into the workspace.

Every chunk is read with the file's size and mtime checked against what the plan hashed. If the
file changed, nothing more is sent and the file is reported: a chunk read from changed bytes
would sit on the server under the old content id, where (first write wins) it would poison any
later upload of that content.
"""

from __future__ import annotations

import os

import anyio
import anyio.to_thread

from ..api.versions import CHUNK_SIZE, Versions
from .pack import FileJob


class FileChangedError(Exception):
    """The file's size or mtime moved between hashing and sending."""


def _check_unchanged(job: FileJob) -> None:
    st = os.stat(job.abs_path)
    if (st.st_size, st.st_mtime_ns) != (job.size, job.mtime_ns):
        raise FileChangedError("file changed while it was being sent")


def _read_chunk(job: FileJob, offset: int, length: int) -> bytes:
    with open(job.abs_path, "rb") as f:
        st = os.fstat(f.fileno())
        if (st.st_size, st.st_mtime_ns) != (job.size, job.mtime_ns):
            raise FileChangedError("file changed after it was hashed")
        f.seek(offset)
        data = f.read(length)
        st = os.fstat(f.fileno())
    if (st.st_size, st.st_mtime_ns) != (job.size, job.mtime_ns) or len(data) != min(
        length, job.size - offset
    ):
        raise FileChangedError("file changed while it was being sent")
    return data


def _first_leaf(group: BaseExceptionGroup[Exception]) -> Exception:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


async def upload_large(
    versions: Versions,
    job: FileJob,
    *,
    repo_path: str,
    workspace_id: str,
    chunk_concurrency: int = 2,
    chunk_size: int = CHUNK_SIZE,
) -> int:
    """Send one large file's chunks (at most ``chunk_concurrency`` in memory) and stage it.

    Returns the bytes sent. Raises FileChangedError, or the API's errors.
    """
    num_chunks = max(1, -(-job.size // chunk_size))
    limiter = anyio.Semaphore(chunk_concurrency)
    sent = 0

    async def send(index: int) -> None:
        nonlocal sent
        async with limiter:
            offset = index * chunk_size
            data = await anyio.to_thread.run_sync(_read_chunk, job, offset, chunk_size)
            await versions.upload_chunk(job.hash, offset, data)
            sent += len(data)

    try:
        async with anyio.create_task_group() as tg:
            for i in range(num_chunks):
                tg.start_soon(send, i)
    except ExceptionGroup as group:
        # One failed chunk cancels the others; callers handle the cause, not the group.
        raise _first_leaf(group) from None
    # Chunks read earlier match the hash; a change since then must not be staged silently.
    await anyio.to_thread.run_sync(_check_unchanged, job)
    dst_dir, _, file_name = repo_path.rpartition("/")
    await versions.complete(
        job.hash,
        num_chunks=num_chunks,
        file_name=file_name,
        dst_dir=dst_dir or None,
        workspace_id=workspace_id,
    )
    return sent
