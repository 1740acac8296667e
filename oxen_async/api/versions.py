"""Content-addressed blobs: batch upload, metadata/exists, chunked upload, batch download."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from collections.abc import Sequence
from pathlib import Path

import anyio
import anyio.to_thread

from .. import paths
from ..errors import (
    ConfigError,
    FileChangedError,
    IntegrityError,
    NotFoundError,
    OxenError,
    leaf_errors,
)
from ..hashing import hash_bytes, same_hash
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
        if mtime_ns is None:
            mtime_ns = (await anyio.to_thread.run_sync(os.stat, path)).st_mtime_ns
        expected = (size, mtime_ns)
        num_chunks = -(-size // chunk_size)
        limiter = anyio.Semaphore(concurrency)
        sent = 0

        async def send(index: int) -> None:
            nonlocal sent
            async with limiter:
                offset = index * chunk_size
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

    async def download(self, version_ids: Sequence[str]) -> dict[str, bytes]:
        """Fetch blobs by content id in one ``QUERY /versions`` (a gzipped tar), hash-verified.

        Raises NotFoundError when the server lacks any of them.
        """
        wanted = list(dict.fromkeys(version_ids))
        if not wanted:
            return {}
        request = await anyio.to_thread.run_sync(
            lambda: gzip.compress("".join(f"{h}\n" for h in wanted).encode(), 6)
        )
        archive = await self._r.session.request_bytes(
            "QUERY", self._r.path("versions"), body=lambda: request, idempotent=True
        )
        blobs = await anyio.to_thread.run_sync(_untar_and_verify, archive)
        missing = [h for h in wanted if h not in blobs]
        if missing:
            raise IntegrityError(f"batch download lacks {len(missing)} blob(s): {missing[:3]}")
        return blobs


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


def _untar_and_verify(archive: bytes) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar:
            if not member.isfile():
                continue
            handle = tar.extractfile(member)
            data = handle.read() if handle else b""
            if not same_hash(hash_bytes(data), member.name):
                raise IntegrityError(f"blob {member.name} does not match its content id")
            out[member.name] = data
    return out
