"""Files on a revision: download (bytes, stream, or a path atomically with a hash check, the
workflow living in ``oxen_async.download.single``), upload through the branch upload endpoint
(one commit), delete (one commit)."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from .. import paths
from ..config import Author
from ..errors import ConfigError, IntegrityError
from ..http.retry import RetryPolicy
from ..models import Commit, CommitResponse
from ..multipart import FilePart, encode, encode_async, unsendable_filename
from ..session import Session
from ._scope import RepoScope

logger = logging.getLogger("oxen_async")

# The branch upload endpoint reads the whole form into memory with actix's default 2 MiB cap.
BRANCH_UPLOAD_LIMIT = 2 * 1024 * 1024
STREAM_CHUNK = 1024 * 1024
# Characters the branch upload endpoint removes from part filenames (sanitize-filename).
_SANITIZED = frozenset('?<>:*|"')


def chunk_path(scope: RepoScope, revision: str, path: str) -> str:
    """``GET /chunk/{revision}/{path}?chunk_start=&chunk_size=``: the server's ranged read.

    0.65.2 answers 500 for a range that starts at or runs past the end of the file (seen on the
    running server), so callers clamp ranges to the listed size.
    """
    return scope.path(f"chunk/{paths.resource(revision, path)}")


def chunk_params(start: int, size: int) -> dict[str, str | int]:
    return {"chunk_start": start, "chunk_size": size}


class Files:
    def __init__(self, scope: RepoScope) -> None:
        self._r = scope

    async def read_range(self, revision: str, path: str, start: int, size: int) -> bytes:
        """``size`` bytes of the file from ``start`` (inside the file: see ``chunk_path``)."""
        data = await self._r.session.request_bytes(
            "GET",
            chunk_path(self._r, revision, path),
            max_bytes=size,
            params=chunk_params(start, size),
        )
        if len(data) != size:
            raise IntegrityError(f"{path}: asked for {size} bytes at {start}, got {len(data)}")
        return data

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
        self,
        revision: str,
        path: str,
        *,
        chunk_size: int = STREAM_CHUNK,
        retry: RetryPolicy | None = None,
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """``async with repo.files.stream(rev, path) as chunks: async for b in chunks: ...``

        ``retry``: the policy for the session's tries (by default the client's)."""
        url = self._file_path(revision, path)
        async with self._r.session.stream("GET", url, retry=retry) as resp:
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
        id the server lists for the file). A body cut off mid-way starts over, within the
        session's retry policy. File I/O runs in worker threads: one hop for a small file.
        """
        from ..download.single import download_to  # the download engine owns the workflow

        return await download_to(self, revision, path, dest, expected_hash=expected_hash)

    @property
    def session(self) -> Session:
        return self._r.session

    async def listed_hash(self, revision: str, path: str) -> str:
        """The content id the server lists for the file at ``revision``."""
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
        encoded = await encode_async(parts, field="files[]", text=text)
        resp = await self._r.session.request(
            "PUT", url, CommitResponse, body=lambda: encoded.segments, headers=encoded.headers
        )
        return resp.commit

    async def delete(
        self, branch: str, path: str, *, author: Author | None = None, message: str | None = None
    ) -> Commit:
        """Remove a file or directory from ``branch`` as one commit."""
        # The endpoint wants a multipart body with at least one part: oxen-server answers an
        # empty form with 400 "Multipart stream is incomplete". Its defaults are these.
        text = {
            "name": author.name if author else "",
            "email": author.email if author else "",
            "message": message if message is not None else f"Remove {paths.repo_path(path)}",
        }
        encoded = encode([], text=text)
        resp = await self._r.session.request(
            "DELETE",
            self._file_path(branch, path),
            CommitResponse,
            body=lambda: encoded.segments,
            headers=encoded.headers,
        )
        return resp.commit
