"""Files on a revision: download (bytes, stream, or a path atomically with a hash check),
upload through the branch upload endpoint (one commit), delete (one commit)."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO

import anyio
import anyio.to_thread

from .. import paths
from ..config import Author
from ..errors import ConfigError, IntegrityError, TransportError
from ..hashing import StreamingHasher, same_hash
from ..models import Commit, CommitResponse
from ..multipart import FilePart, form, unsendable_filename
from ._scope import RepoScope

logger = logging.getLogger("oxen_async")

# The branch upload endpoint reads the whole form into memory with actix's default 2 MiB cap.
BRANCH_UPLOAD_LIMIT = 2 * 1024 * 1024
STREAM_CHUNK = 1024 * 1024
# Characters the branch upload endpoint removes from part filenames (sanitize-filename).
_SANITIZED = frozenset('?<>:*|"')


class Files:
    def __init__(self, scope: RepoScope) -> None:
        self._r = scope

    def _file_path(self, revision: str, path: str) -> str:
        if not paths.repo_path(path):
            raise ConfigError("a file path is required")
        return self._r.path(f"file/{paths.resource(revision, path)}")

    async def download(self, revision: str, path: str) -> bytes:
        """The file's bytes, read whole into memory (``stream`` or ``download_to`` for big
        files). Not hash-checked: ``download_to`` and ``RemoteRepo.iter_files`` are."""
        return await self._r.session.request_bytes("GET", self._file_path(revision, path))

    @asynccontextmanager
    async def stream(
        self, revision: str, path: str, *, chunk_size: int = STREAM_CHUNK
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """``async with repo.files.stream(rev, path) as chunks: async for b in chunks: ...``"""
        async with self._r.session.stream("GET", self._file_path(revision, path)) as resp:
            yield resp.content.iter_chunked(chunk_size)

    async def download_to(
        self,
        revision: str,
        path: str,
        dest: str | os.PathLike[str],
        *,
        expected_hash: str | None = None,
    ) -> Path:
        """Download to ``dest`` atomically: a temporary file in the same folder, hash-checked
        against the listing's content id, then renamed. A failure leaves no partial file and
        keeps whatever ``dest`` held before.

        Raises IntegrityError when the bytes do not hash to ``expected_hash`` (by default the
        id the server lists for the file). File I/O runs in worker threads.
        """
        target = Path(dest)
        if expected_hash is None:
            expected_hash = await self._meta_hash(revision, path)
        out, tmp_name = await anyio.to_thread.run_sync(_open_temp, target)
        policy = self._r.session.retry
        try:
            try:
                attempt = 0
                while True:  # a body cut off mid-way starts over, within the retry policy
                    attempt += 1
                    try:
                        hasher = await self._stream_into(revision, path, out)
                        break
                    except TransportError as exc:
                        if attempt >= policy.attempts:
                            raise
                        logger.info("restarting download of %s: %s", path, exc.message)
                        await anyio.sleep(policy.delay(attempt - 1, None))
            finally:
                await anyio.to_thread.run_sync(out.close)
            actual = hasher.hexdigest()
            if not same_hash(actual, expected_hash):
                raise IntegrityError(
                    f"{path}: downloaded bytes hash to {actual}, the server lists {expected_hash}"
                )
            await anyio.to_thread.run_sync(os.replace, tmp_name, target)
        except BaseException:
            with anyio.CancelScope(shield=True):  # also when cancelled: never leave a .part
                await anyio.to_thread.run_sync(_unlink_quietly, tmp_name)
            raise
        return target

    async def _stream_into(self, revision: str, path: str, out: IO[bytes]) -> StreamingHasher:
        """Write the file into ``out`` from its start; returns the hash of what was written."""
        await anyio.to_thread.run_sync(_rewind, out)
        hasher = StreamingHasher()
        buffer = bytearray()
        async with self.stream(revision, path) as chunks:
            async for chunk in chunks:
                buffer += chunk
                if len(buffer) >= STREAM_CHUNK:  # one thread hop per MiB, not per read
                    await anyio.to_thread.run_sync(_write_and_hash, out, hasher, buffer)
                    buffer = bytearray()
        if buffer:
            await anyio.to_thread.run_sync(_write_and_hash, out, hasher, buffer)
        return hasher

    async def _meta_hash(self, revision: str, path: str) -> str:
        from .dirs import Dirs  # the listing call lives in dirs; files only needs one field

        return (await Dirs(self._r).meta(revision, path)).hash

    async def upload(
        self,
        branch: str,
        directory: str,
        files: Mapping[str, bytes],
        *,
        author: Author,
        message: str | None = None,
    ) -> Commit:
        """Commit ``files`` (name -> bytes) into ``directory`` of ``branch`` in one request.

        The endpoint flattens names (no ``/``) and caps the whole body at 2 MiB: for more, or
        for nested trees, use ``RemoteRepo.upload_folder``. On a repository without commits
        this creates ``branch`` (a single path component) with the first commit.
        """
        for name in files:
            if "/" in name or "\\" in name or not name.strip("."):
                raise ConfigError(f"{name!r}: branch uploads take plain file names, no folders")
            reason = unsendable_filename(name)
            if reason:
                raise ConfigError(f"{name!r}: {reason}")
            dropped = sorted(set(name) & _SANITIZED)
            if dropped:
                # The endpoint silently deletes these characters from the stored name.
                raise ConfigError(
                    f"{name!r}: the branch upload endpoint would strip {''.join(dropped)!r} "
                    "from the name; use a workspace upload for such names"
                )
            if len(name.encode()) > 255:
                raise ConfigError(f"{name!r}: longer than the 255 bytes the server keeps")
        total = sum(len(d) for d in files.values())
        if total > BRANCH_UPLOAD_LIMIT - 64 * 1024:
            raise ConfigError(
                f"{total} bytes is over the server's 2 MiB branch-upload limit; "
                "use upload_folder (workspace upload) instead"
            )
        text = {"name": author.name, "email": author.email}
        if message is not None:
            text["message"] = message
        parts = [FilePart(n, d) for n, d in files.items()]
        url = self._r.path(f"file/{paths.resource(branch, directory)}")
        resp = await self._r.session.request(
            "PUT", url, CommitResponse, body=lambda: form(parts, field="files[]", text=text)
        )
        return resp.commit

    async def delete(
        self, branch: str, path: str, *, author: Author | None = None, message: str | None = None
    ) -> Commit:
        """Remove a file or directory from ``branch`` as one commit."""
        text: dict[str, str] = {}
        if author is not None:
            text.update(name=author.name, email=author.email)
        if message is not None:
            text["message"] = message
        resp = await self._r.session.request(
            "DELETE",
            self._file_path(branch, path),
            CommitResponse,
            body=lambda: form([], text=text),
        )
        return resp.commit


def _open_temp(target: Path) -> tuple[IO[bytes], str]:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    return os.fdopen(fd, "wb"), tmp_name


def _rewind(out: IO[bytes]) -> None:
    out.seek(0)
    out.truncate()


def _unlink_quietly(name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name)


def _write_and_hash(out: IO[bytes], hasher: StreamingHasher, chunk: bytes | bytearray) -> None:
    hasher.update(chunk)
    out.write(chunk)
