"""The write half of ``OxenFileSystem``: every write call, or transaction, is one commit.

Writes are staged into a workspace (``Stager``) and merged once: by the open transaction when
there is one, by the call itself otherwise (``pipe`` of many files, ``put`` of a folder and
``rm`` of many paths are one commit each, not one per file).
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
from .clients import ClientPerLoop
from .commits import OxenTransaction, Stager, target_path

if TYPE_CHECKING:
    from ..client import RemoteRepo

# The stager of the write call in progress (``pipe`` of many files, ``put`` of a folder,
# ``rm`` of many paths): every file it writes lands in that call's one commit.
_CALL_STAGER: contextvars.ContextVar[Stager | None] = contextvars.ContextVar(
    "oxen_fs_call_stager", default=None
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

    async def _shared_stager(self) -> Stager | None:
        call = _CALL_STAGER.get()
        if call is not None:
            return call
        transaction = self._transaction if self._intrans else None
        if isinstance(transaction, OxenTransaction):
            if transaction.stager is None:
                transaction.stager = Stager(await self._repo(), self.revision)
            return transaction.stager
        return None

    async def _write(
        self, files: Sequence[tuple[str, bytes]], removals: Sequence[str], message: str | None
    ) -> None:
        """Stage ``files`` and ``removals``: into the open transaction or write call, else as
        one commit of their own."""
        self.author()  # no author: fail before anything is staged
        await self._check_branch()
        shared = await self._shared_stager()
        stager = shared if shared is not None else Stager(await self._repo(), self.revision)
        try:
            if files:
                await stager.add(files)
            if removals:
                await stager.remove(removals)
        except BaseException:
            if shared is None:
                await stager.discard()
            raise
        if shared is None:
            await stager.commit(self.author(), message or self.commit_message)
            self.invalidate_cache()

    async def _in_one_commit(self, message: str | None, work: Any) -> Any:
        """Run ``work`` (a coroutine of writes) so that all of it lands as one commit."""
        if await self._shared_stager() is not None:
            return await work
        self.author()
        await self._check_branch()
        stager = Stager(await self._repo(), self.revision)
        token = _CALL_STAGER.set(stager)
        try:
            result = await work
        except BaseException:
            await stager.discard()
            raise
        finally:
            _CALL_STAGER.reset(token)
        await stager.commit(self.author(), message or self.commit_message)
        self.invalidate_cache()
        return result

    def write_closed_file(self, path: str, data: bytes, message: str | None) -> None:
        """Called by a file opened ``wb`` as it closes (sync: fsspec files are sync)."""
        sync(self.loop, self._write, [(self._rel(path), data)], (), message)

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
        data = await anyio.to_thread.run_sync(_read_local, lpath)
        if data is None:
            return  # a folder: folders come with their files
        await self._write([(target_path(self._rel(rpath)), data)], (), kwargs.get("commit_message"))

    async def _put(self, lpath: Any, rpath: Any, recursive: bool = False, **kwargs: Any) -> Any:
        work = super()._put(lpath, rpath, recursive=recursive, **kwargs)
        return await self._in_one_commit(kwargs.get("commit_message"), work)

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


def _read_local(path: str) -> bytes | None:
    if os.path.isdir(path):
        return None
    with open(path, "rb") as f:
        return f.read()
