"""The write half of ``OxenFileSystem``: every write call, or transaction, is one commit.

Writes are staged into a workspace (``Stager``) and merged once: by the open transaction when
there is one, by the call itself otherwise (``pipe`` of many files, ``put`` of a folder and
``rm`` of many paths are one commit each, not one per file). ``put`` and files opened ``wb``
stage from disk by path, so memory stays flat in the size of what is written.
"""

from __future__ import annotations

import contextvars
import errno
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from fsspec.asyn import AsyncFileSystem, sync

from .. import config
from ..errors import ConfigError, NotFoundError
from ..upload.settings import LARGE_FILE
from .clients import ClientPerLoop
from .commits import OxenTransaction, Stager, target_path
from .local import LocalSource, check_threshold

if TYPE_CHECKING:
    from ..client import RemoteRepo

# The (local, remote) pairs of the ``put`` in progress: fsspec's ``put`` calls ``_put_file``
# per file; ours records them so that ``put`` stages them together, as one commit.
_PUT_PAIRS: contextvars.ContextVar[list[tuple[str, str]] | None] = contextvars.ContextVar(
    "oxen_fs_put_pairs", default=None
)


class WriteOps(AsyncFileSystem):  # type: ignore[misc]
    """The base of ``OxenFileSystem`` that writes; what it reads of it is declared here."""

    revision: str
    namespace: str
    repo_name: str
    commit_message: str | None
    _author: tuple[str | None, str | None]
    _branch_checked: bool
    _clients: ClientPerLoop

    def __init__(self, *args: Any, large_file_threshold: int = LARGE_FILE, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Files over this many bytes are staged in parts, streamed from disk (the uploader's
        # threshold: at most the server's gzip cap).
        self.large_file_threshold = check_threshold(large_file_threshold)

    async def _repo(self) -> RemoteRepo:
        raise NotImplementedError

    async def _missing(self, path: str) -> FileNotFoundError:
        raise NotImplementedError

    def _rel(self, path: str) -> str:
        raise NotImplementedError

    def author(self) -> config.Author:
        who = config.resolve_author(*self._author)
        if who is None:
            raise ConfigError(
                "no commit author: pass author_name= and author_email= (storage_options), "
                "or set name and email in oxen's user_config.toml"
            )
        return who

    async def _check_branch(self) -> None:
        """Writes land on a branch: refuse a commit id or an unknown revision up front."""
        if self._branch_checked:
            return
        repo = await self._repo()
        try:
            await repo.branches.get(self.revision)
        except NotFoundError:
            try:
                commit = await repo.commits.get(self.revision)
            except NotFoundError:
                info = await (await self._clients.get()).repos.get(self.namespace, self.repo_name)
                if not info.is_empty:
                    raise await self._missing("") from None
            else:
                raise ConfigError(
                    f"{self.revision!r} is commit {commit.id} of {repo.full_name}, not a branch: "
                    "writes land on a branch (oxen://NS:REPO@BRANCH/...)"
                ) from None
        self._branch_checked = True

    def _new_stager(self, repo: RemoteRepo) -> Stager:
        return Stager(repo, self.revision, large_threshold=self.large_file_threshold)

    async def _shared_stager(self) -> Stager | None:
        transaction = self._transaction if self._intrans else None
        if isinstance(transaction, OxenTransaction):
            if transaction.stager is None:
                transaction.stager = self._new_stager(await self._repo())
            return transaction.stager
        return None

    async def _write(
        self,
        files: Sequence[tuple[str, bytes]],
        removals: Sequence[str],
        message: str | None,
        local: Sequence[tuple[str, LocalSource]] = (),
    ) -> None:
        """Stage ``files`` (bytes), ``local`` (files on disk, by path) and ``removals``: into
        the open transaction, else as one commit of their own."""
        self.author()  # no author: fail before anything is staged
        await self._check_branch()
        shared = await self._shared_stager()
        stager = shared if shared is not None else self._new_stager(await self._repo())
        try:
            if files:
                await stager.add(files)
            if local:
                await stager.add_local(local)
            if removals:
                await stager.remove(removals)
        except BaseException:
            if shared is None:
                await stager.discard()
            raise
        if shared is None:
            await stager.commit(self.author(), message or self.commit_message)
            self.invalidate_cache()

    def write_closed_file(self, path: str, data: bytes | LocalSource, message: str | None) -> None:
        """Called by a file opened ``wb`` as it closes (sync: fsspec files are sync), with its
        bytes, or the spool file on disk they went to."""
        target = target_path(self._rel(path))
        if isinstance(data, LocalSource):
            sync(self.loop, self._write, (), (), message, [(target, data)])
        else:
            sync(self.loop, self._write, [(target, data)], (), message)

    async def _pipe_file(
        self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any
    ) -> None:
        rel = target_path(self._rel(path))
        if mode == "create" and await self._exists(rel):
            raise FileExistsError(errno.EEXIST, "exists already", path)
        await self._write(
            [(rel, bytes(value))],
            (),
            kwargs.get("commit_message"),
        )

    async def _pipe(self, path: Any, value: Any = None, **kwargs: Any) -> None:
        items = path if isinstance(path, dict) else {path: value}
        files = [(target_path(self._rel(p)), bytes(v)) for p, v in items.items()]
        await self._write(files, (), kwargs.get("commit_message"))

    async def _put_file(
        self, lpath: str, rpath: str, mode: str = "overwrite", **kwargs: Any
    ) -> None:
        pairs = _PUT_PAIRS.get()
        if pairs is not None:
            pairs.append((lpath, rpath))  # inside ``put``: it stages every pair at once
            return
        if await anyio.to_thread.run_sync(os.path.isdir, lpath):
            return  # a folder: folders come with their files
        source = [(target_path(self._rel(rpath)), LocalSource(lpath))]
        await self._write((), (), kwargs.get("commit_message"), source)

    async def _put(self, lpath: Any, rpath: Any, recursive: bool = False, **kwargs: Any) -> Any:
        """fsspec's ``put`` resolves which local file goes where (our ``_put_file`` only records
        each pair); then every file is staged by path, in bounded batches, as one commit."""
        pairs: list[tuple[str, str]] = []
        token = _PUT_PAIRS.set(pairs)
        try:
            await super()._put(lpath, rpath, recursive=recursive, **kwargs)
        finally:
            _PUT_PAIRS.reset(token)
        files = await anyio.to_thread.run_sync(_files_only, pairs)
        if files:
            local = [(target_path(self._rel(r)), LocalSource(lp)) for lp, r in files]
            await self._write((), (), kwargs.get("commit_message"), local)

    async def _rm(
        self, path: Any, recursive: bool = False, maxdepth: int | None = None, **kwargs: Any
    ) -> None:
        expanded = await self._expand_path(path, recursive=recursive, maxdepth=maxdepth)
        if not recursive:
            for p in expanded:
                if (await self._info(p))["type"] == "directory":
                    raise IsADirectoryError(errno.EISDIR, "a directory: pass recursive=True", p)
        await self._write(
            [], _outermost(self._rel(p) for p in expanded), kwargs.get("commit_message")
        )

    async def _rm_file(self, path: str, **kwargs: Any) -> None:
        await self._rm(path, **kwargs)

    async def _mkdir(self, path: str, create_parents: bool = True, **_: Any) -> None:
        """A no-op: a repository has the folders its files are in."""

    async def _makedirs(self, path: str, exist_ok: bool = False) -> None:
        """A no-op, like ``mkdir``."""


def _outermost(items: Iterable[str]) -> list[str]:
    """Paths not inside another of ``items`` (removing a folder removes what is in it)."""
    chosen: list[str] = []
    for p in sorted(set(items)):
        if not any(p.startswith(f"{q}/") for q in chosen):
            chosen.append(p)
    return chosen


def _files_only(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The pairs whose local side is a file (folders come with their files)."""
    return [(lp, r) for lp, r in pairs if not os.path.isdir(lp)]
