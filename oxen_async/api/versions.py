"""Content-addressed blobs: batch upload, metadata/exists, chunked upload, batch download."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

import anyio
import anyio.to_thread

from .. import limits, paths
from ..errors import (
    ConfigError,
    FileChangedError,
    NotFoundError,
    OxenError,
    ServerError,
    leaf_errors,
)
from ..models import (
    ChunkedFile,
    CompleteVersionUpload,
    ErrFile,
    ErrFilesResponse,
    StatusResponse,
    VersionInfo,
    VersionInfoResponse,
)
from ..multipart import FilePart, encode_async
from ._scope import RepoScope

# oxen's stream segment: the chunk size of large uploads and the gzip inflate cap.
CHUNK_SIZE = 10 * 1024 * 1024
METADATA_IN_FLIGHT = 8  # size look-ups of ``download`` at once


class VersionUploadError(OxenError):
    """Blobs that the server still refused after every retry."""

    def __init__(self, failed: list[ErrFile]) -> None:
        self.failed = failed
        sample = "; ".join(f"{f.hash}: {f.error}" for f in failed[:3])
        super().__init__(f"{len(failed)} version(s) not stored: {sample}")


class Versions:
    def __init__(self, scope: RepoScope) -> None:
        self._r = scope

    async def upload_batch(self, parts: Sequence[FilePart]) -> list[ErrFile]:
        """One ``POST /versions`` (filename = content id). Returns the server's err_files."""
        encoded = await encode_async(parts)
        resp = await self._r.session.request(
            "POST",
            self._r.path("versions"),
            ErrFilesResponse,
            body=lambda: encoded.segments,
            headers=encoded.headers,
            idempotent=True,
        )
        return resp.err_files

    async def upload(self, parts: Sequence[FilePart], *, attempts: int = 4) -> None:
        """Store blobs, re-sending only those listed in err_files until none is left.

        What this adds over the session (which retries a failed request): the server answered,
        but named blobs it did not store; those alone go again, waiting as the client's retry
        policy says. Raises VersionUploadError naming the blobs still refused (a wrong id never
        succeeds).
        """
        pending = list(parts)
        policy = self._r.session.retry
        failed: list[ErrFile] = []
        for attempt in range(attempts):
            failed = await self.upload_batch(pending)
            if not failed:
                return
            bad = {f.hash for f in failed}
            pending = [p for p in pending if p.filename in bad]
            if attempt + 1 < attempts:
                await anyio.sleep(policy.delay(attempt, None))
        raise VersionUploadError(failed)

    async def metadata(self, version_id: str) -> VersionInfo:
        url = self._r.path(f"versions/{paths.segment(version_id)}/metadata")
        return (await self._r.session.request("GET", url, VersionInfoResponse)).version

    async def exists(self, version_id: str) -> bool:
        try:
            await self.metadata(version_id)
        except NotFoundError:
            return False
        return True

    async def upload_chunk(self, version_id: str, offset: int, data: bytes) -> None:
        """Store one chunk. The first write at an offset wins, so a retry is harmless."""
        url = self._r.path(f"versions/{paths.segment(version_id)}/chunks")
        await self._r.session.request(
            "PUT",
            url,
            StatusResponse,
            params={"offset": offset, "size": len(data)},
            body=lambda: data,
            idempotent=True,
        )

    async def complete(
        self,
        version_id: str,
        *,
        num_chunks: int,
        file_name: str,
        dst_dir: str | None = None,
        workspace_id: str | None = None,
    ) -> None:
        """Join the chunks into the blob (hash-checked), staging it into a workspace if given.

        Not idempotent on the server (a second call fails): not retried here.
        """
        url = self._r.path(f"versions/{paths.segment(version_id)}/complete")
        body = CompleteVersionUpload(
            files=[
                ChunkedFile(
                    hash=version_id,
                    file_name=file_name,
                    dst_dir=dst_dir or None,
                    num_chunks=num_chunks,
                )
            ],
            workspace_id=workspace_id,
        )
        await self._r.session.request("POST", url, StatusResponse, json=body)

    async def upload_file(
        self,
        local_path: str | os.PathLike[str],
        version_id: str,
        size: int,
        *,
        repo_path: str,
        workspace_id: str | None = None,
        mtime_ns: int | None = None,
        concurrency: int = 2,
        chunk_size: int = CHUNK_SIZE,
        read: Callable[[int, int], Awaitable[bytes]] | None = None,
    ) -> int:
        """Chunked upload of a file hashed to ``version_id``, staged at ``repo_path`` in
        ``workspace_id`` if given. Returns the bytes sent.

        At most ``concurrency`` chunks are in memory at once, each read from disk in a worker
        thread with the file's size and mtime checked against ``size``/``mtime_ns`` (taken now
        if not given). A file that changed raises FileChangedError before anything else is
        sent or staged: a chunk of other bytes would sit on the server under this content id,
        where the first write at an offset wins, and poison every later upload of it.
        """
        if size <= 0:
            # The server cannot complete an upload of zero chunks (500): send it with upload().
            raise ConfigError("upload_file needs a non-empty file; use upload() for empty ones")
        if chunk_size <= 0:
            raise ConfigError("chunk_size must be positive")
        path = Path(local_path)
        if mtime_ns is None and read is None:
            mtime_ns = (await anyio.to_thread.run_sync(os.stat, path)).st_mtime_ns
        expected = (size, mtime_ns or 0)
        num_chunks = -(-size // chunk_size)
        limiter = anyio.Semaphore(concurrency)
        sent = 0

        async def send(index: int) -> None:
            nonlocal sent
            async with limiter:
                offset = index * chunk_size
                if read is not None:  # a source other than the disk, which checks its reads
                    data = await read(offset, min(chunk_size, size - offset))
                else:
                    data = await anyio.to_thread.run_sync(
                        _read_chunk, path, offset, chunk_size, expected
                    )
                await self.upload_chunk(version_id, offset, data)
                sent += len(data)

        try:
            async with anyio.create_task_group() as tg:
                for i in range(num_chunks):
                    tg.start_soon(send, i)
        except ExceptionGroup as group:
            # One failed chunk cancels the others; callers handle the cause, not the group.
            raise leaf_errors(group)[0] from None
        # Chunks read earlier matched; a change since then must not be staged silently.
        if read is None:
            await anyio.to_thread.run_sync(_check_unchanged, path, expected)
        dst_dir, _, file_name = paths.repo_path(repo_path).rpartition("/")
        await self.complete(
            version_id,
            num_chunks=num_chunks,
            file_name=file_name,
            dst_dir=dst_dir or None,
            workspace_id=workspace_id,
        )
        return sent

    @property
    def scope(self) -> RepoScope:
        return self._r

    async def download(
        self, version_ids: Sequence[str], *, sizes: Mapping[str, int] | None = None
    ) -> dict[str, bytes]:
        """Fetch blobs by content id in one ``QUERY /versions``, hash-verified.

        Through the download engine (``oxen_async.download.fetch_bytes``): the gzipped tar is
        unpacked as it streams, never held whole, and refused if it inflates past the sizes.
        Memory holds the blobs themselves, at most FETCH_BYTES_LIMIT (256 MiB) per call (more
        raises ConfigError: use ``download_folder`` or ``fetch_bytes`` in pieces). ``sizes``
        (content id -> size, as a listing gives them) saves a ``GET /versions/{id}/metadata``
        per blob. Raises NotFoundError when the server lacks any of them.
        """
        from ..download.batch import BatchRefused, BlobsMissing
        from ..download.blobs import fetch_bytes

        wanted = list(dict.fromkeys(version_ids))
        if not wanted:
            return {}
        if sizes is None:
            known: dict[str, int] = {}
            ids = iter(wanted)

            async def sizes_of() -> None:  # a few workers take the ids in turn
                for version_id in ids:
                    known[version_id] = (await self.metadata(version_id)).size

            try:
                async with anyio.create_task_group() as tg:
                    for _ in range(limits.workers_for(METADATA_IN_FLIGHT, len(wanted))):
                        tg.start_soon(sizes_of)
            except ExceptionGroup as group:
                raise leaf_errors(group)[0] from None
        else:
            unsized = [h for h in wanted if h not in sizes]
            if unsized:
                raise ConfigError(f"sizes lacks {len(unsized)} of the ids, e.g. {unsized[0]}")
            known = {h: sizes[h] for h in wanted}
        url = self._r.session.url(self._r.path("versions"))
        try:
            return await fetch_bytes(self, known)
        except BlobsMissing as exc:
            raise NotFoundError(
                "QUERY", url, 404, str(exc), error_type="version_blobs_missing"
            ) from None
        except BatchRefused as exc:
            raise ServerError("QUERY", url, 500, str(exc)) from None


def _check_unchanged(path: Path, expected: tuple[int, int]) -> None:
    st = os.stat(path)
    if (st.st_size, st.st_mtime_ns) != expected:
        raise FileChangedError(f"{path}: file changed while it was being sent")


def _read_chunk(path: Path, offset: int, length: int, expected: tuple[int, int]) -> bytes:
    with path.open("rb") as f:
        before = os.fstat(f.fileno())
        f.seek(offset)
        data = f.read(length)
        after = os.fstat(f.fileno())
    for st in (before, after):
        if (st.st_size, st.st_mtime_ns) != expected:
            raise FileChangedError(f"{path}: file changed after it was hashed")
    if len(data) != min(length, expected[0] - offset):
        raise FileChangedError(f"{path}: file changed while it was being read")
    return data
