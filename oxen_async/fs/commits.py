"""Writes: staged into a workspace on the branch, landed by one merge (one commit).

A ``Stager`` makes its workspace on the first write, so a transaction that writes nothing
makes none, and deletes it when discarded, so a transaction that raises commits nothing.
Bytes in hand are staged as they are; local files by path (``fs.local``): small ones in
bounded batches, large ones streamed through the uploader's large-file route.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from fsspec.asyn import sync
from fsspec.transaction import Transaction

from .. import paths
from ..config import Author
from ..errors import NotFoundError, NothingToCommitError
from ..models import Commit, Workspace
from ..multipart import FilePart
from ..upload.settings import LARGE_FILE
from .local import (
    PARTS_PER_REQUEST,
    LocalSource,
    check_threshold,
    measure,
    read_batch,
    send_large,
    small_batches,
)

if TYPE_CHECKING:
    from ..client import RemoteRepo
    from .filesystem import OxenFileSystem

logger = logging.getLogger("oxen_async")


class Stager:
    """Staged changes on ``branch`` awaiting one commit."""

    def __init__(self, repo: RemoteRepo, branch: str, *, large_threshold: int = LARGE_FILE) -> None:
        self._repo = repo
        self.branch = branch
        self.large_threshold = check_threshold(large_threshold)
        self._workspace: Workspace | None = None
        # Concurrent writes into one stager (a transaction's, from async code) share one
        # workspace: the server fails concurrent creations of workspaces on one branch.
        self._creating = asyncio.Lock()
        # One large file at a time (concurrent writes of a transaction share the stager):
        # identical content shares one chunk area on the server, and memory stays one file's
        # parts in flight.
        self._sending_large = asyncio.Lock()
        self.written: list[str] = []
        self.removed: list[str] = []

    async def _ensure_workspace(self) -> str:
        async with self._creating:
            if self._workspace is None:
                self._workspace = await self._repo.workspaces.get_or_create(self.branch)
            return self._workspace.id

    async def add(self, files: Sequence[tuple[str, bytes]]) -> None:
        """Stage ``(repo path, bytes)`` pairs (paths already normalised)."""
        workspace_id = await self._ensure_workspace()
        for i in range(0, len(files), PARTS_PER_REQUEST):
            batch = files[i : i + PARTS_PER_REQUEST]
            parts = [FilePart(path, data) for path, data in batch]
            staged = set(await self._repo.workspaces.add_files(workspace_id, "", parts))
            missing = [path for path, _ in batch if path not in staged]
            if missing:
                raise OSError(f"the server did not stage {missing[:5]} (of {len(missing)})")
            self.written.extend(path for path, _ in batch)

    async def add_local(self, files: Sequence[tuple[str, LocalSource]]) -> None:
        """Stage local files at their repo paths (normalised), one bounded piece at a time:
        batches of small files read whole, large files sent in parts from disk."""
        sized = await anyio.to_thread.run_sync(measure, files)
        small = [f for f in sized if f.size <= self.large_threshold]
        for batch in small_batches(small):
            await self.add(await anyio.to_thread.run_sync(read_batch, batch))
        for f in sized:
            if f.size > self.large_threshold:
                workspace_id = await self._ensure_workspace()
                async with self._sending_large:
                    await send_large(self._repo, workspace_id, f)
                self.written.append(f.repo_path)

    async def remove(self, repo_paths: Sequence[str]) -> None:
        workspace_id = await self._ensure_workspace()
        await self._repo.workspaces.remove(workspace_id, list(repo_paths))
        self.removed.extend(repo_paths)

    def default_message(self) -> str:
        if self.written and not self.removed:
            what = self.written
            verb = "Write"
        elif self.removed and not self.written:
            what = self.removed
            verb = "Remove"
        else:
            return f"Write {len(self.written)} and remove {len(self.removed)} path(s)"
        return f"{verb} {what[0]}" if len(what) == 1 else f"{verb} {len(what)} files"

    async def commit(self, author: Author, message: str | None) -> Commit | None:
        """Merge what was staged as one commit; None when nothing was staged or changed."""
        if self._workspace is None:
            return None
        workspace_id, self._workspace = self._workspace.id, None
        try:
            return await self._repo.workspaces.merge(
                workspace_id, self.branch, message=message or self.default_message(), author=author
            )
        except NothingToCommitError:
            await self._delete(workspace_id)  # same bytes as before: no commit to make
            return None
        except BaseException:
            await self._delete(workspace_id)
            raise

    async def discard(self) -> None:
        if self._workspace is not None:
            workspace_id, self._workspace = self._workspace.id, None
            await self._delete(workspace_id)

    async def _delete(self, workspace_id: str) -> None:
        with contextlib.suppress(NotFoundError):  # merged workspaces are deleted by the server
            await self._repo.workspaces.delete(workspace_id)


class OxenTransaction(Transaction):  # type: ignore[misc]
    """``with fs.transaction:`` (or ``async with``): every write inside lands as ONE commit,
    none if the block raises. ``message`` sets the commit message."""

    fs: Any

    def __init__(self, fs: OxenFileSystem, **kwargs: Any) -> None:
        super().__init__(fs, **kwargs)
        self.message: str | None = None
        self.stager: Stager | None = None
        self.commit: Commit | None = None

    def complete(self, commit: bool = True) -> None:
        fs = self.fs
        try:
            super().complete(commit)  # deferred files: our files stage as they close
        finally:
            if fs is not None:
                sync(fs.loop, self._finish, fs, commit)

    async def _finish(self, fs: OxenFileSystem, commit: bool) -> None:
        stager, self.stager = self.stager, None
        if stager is None:
            return
        if commit:
            self.commit = await stager.commit(fs.author(), self.message)
            fs.invalidate_cache()
        else:
            await stager.discard()

    async def __aenter__(self) -> OxenTransaction:
        self.start()
        return self

    async def __aexit__(self, et: type[BaseException] | None, *_: object) -> None:
        fs = self.fs
        commit = et is None
        try:
            # Files opened with ``open_async`` are not deferred; only staging is left to settle.
            while self.files:
                f = self.files.popleft()
                f.commit() if commit else f.discard()
        finally:
            if fs is not None:
                fs._intrans = False
                fs._transaction = None
                self.fs = None
                await self._finish(fs, commit)


def target_path(path: str) -> str:
    normalized = paths.repo_path(path)
    if not normalized:
        raise IsADirectoryError("cannot write to the repository root: name a file")
    return normalized
