"""``OxenFileSystem``: an async fsspec filesystem over one repository at one revision."""

from __future__ import annotations

import contextvars
import errno
import os
import posixpath
import weakref
from typing import TYPE_CHECKING, Any, ClassVar

from fsspec.asyn import get_loop, sync
from fsspec.implementations.local import LocalFileSystem, make_path_posix

from .. import config, paths
from ..errors import ConfigError, NotFoundError
from .clients import ClientPerLoop
from .commits import OxenTransaction, Stager, target_path
from .files import OxenFile
from .reads import Info, entry_info, read_range, read_whole, root_info
from .url import PROTOCOLS, URL_FORM, parse
from .writes import WriteOps

if TYPE_CHECKING:
    from ..client import OxenClient, RemoteRepo

DEFAULT_REVISION = "main"

# The stager of the write call in progress (``pipe`` of many files, ``put`` of a folder,
# ``rm`` of many paths): every file it writes lands in that call's one commit.
_CALL_STAGER: contextvars.ContextVar[Stager | None] = contextvars.ContextVar(
    "oxen_fs_call_stager", default=None
)


class RevisionNotFoundError(FileNotFoundError):
    """The URL's revision is neither a branch nor a commit of the repository."""


class OxenFileSystem(WriteOps):
    """Files of ``namespace/repo`` at ``revision``, as fsspec sees them.

    ``fsspec.open("oxen://ns:repo@main/data/train.csv")`` or
    ``OxenFileSystem("ns", "repo", revision="main", host="http://localhost:3000")``. The host
    resolves like ``OxenClient``'s: ``host=`` (``scheme=`` may prefix a bare one), else
    ``OXEN_HOST``, else oxen's config. Writes (``pipe``, ``put``, ``open("wb")``, ``rm``) land
    on the branch as one commit per call, or one per ``with fs.transaction:`` block; the author
    comes from ``author_name``/``author_email`` or oxen's ``user_config.toml``.
    """

    protocol: ClassVar[tuple[str, ...]] = PROTOCOLS
    root_marker = ""
    transaction_type = OxenTransaction
    async_impl = True
    _pid: int
    _loop: Any

    def __init__(
        self,
        namespace: str | None = None,
        repo: str | None = None,
        *,
        revision: str | None = None,
        host: str | None = None,
        scheme: str | None = None,
        token: str | None = None,
        author_name: str | None = None,
        author_email: str | None = None,
        commit_message: str | None = None,
        max_connections: int = 32,
        listing_page_size: int = 1000,
        **kwargs: Any,
    ) -> None:
        if not namespace or not repo:
            raise ConfigError(f"no repository given: use {URL_FORM} or namespace= and repo=")
        super().__init__(**kwargs)
        self.namespace, self.repo_name = namespace, repo
        paths.segment(namespace)
        paths.segment(repo)
        self.revision = revision or DEFAULT_REVISION
        if host and scheme and "://" not in host:
            host = f"{scheme}://{host}"
        self.host = config.resolve_host(host)
        self.commit_message = commit_message
        self.listing_page_size = listing_page_size
        self._author = (author_name, author_email)
        self._branch_checked = False
        token = config.resolve_token(token, self.host)

        def make() -> OxenClient:
            from ..client import OxenClient

            return OxenClient(self.host, token=token, max_connections=max_connections)

        self._clients = ClientPerLoop(make)
        if not self.asynchronous:
            weakref.finalize(self, self._clients.close_on, self._loop)

    def __repr__(self) -> str:
        return f"OxenFileSystem({self.namespace}/{self.repo_name}@{self.revision} at {self.host})"

    # --- process, loop and client ------------------------------------------------------------

    @property
    def loop(self) -> Any:
        """fsspec's loop; in a forked child a fresh one (fsspec resets its loop at fork) and a
        fresh client: nothing made before the fork is used after it."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            if not self.asynchronous:
                self._loop = get_loop()
            self._clients.forget_after_fork()
        return self._loop

    def _repo(self) -> RemoteRepo:
        return self._clients.get().repo(self.namespace, self.repo_name)

    async def _close(self) -> None:
        """Close this loop's HTTP session (``fs.close()`` from sync code)."""
        await self._clients.close_current()

    def close(self) -> None:
        sync(self.loop, self._close)

    # --- URLs ----------------------------------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        return parse(str(path)).path

    @staticmethod
    def _get_kwargs_from_urls(path: str) -> dict[str, Any]:
        url = parse(path)
        out: dict[str, Any] = {}
        if url.namespace and url.repo:
            out.update(namespace=url.namespace, repo=url.repo)
        if url.revision:
            out["revision"] = url.revision
        return out

    def unstrip_protocol(self, name: str) -> str:
        return f"oxen://{self.namespace}:{self.repo_name}@{self.revision}/{name.lstrip('/')}"

    # --- reads ---------------------------------------------------------------------------------

    async def _missing(self, path: str) -> FileNotFoundError:
        """FileNotFoundError for ``path``, or a clearer one when the revision is the problem."""
        repo = self._repo()
        try:
            await repo.branches.get(self.revision)
        except NotFoundError:
            try:
                await repo.commits.get(self.revision)
            except NotFoundError:
                if not await self._clients.get().repos.exists(self.namespace, self.repo_name):
                    return FileNotFoundError(
                        errno.ENOENT, f"no repository {repo.full_name} at {self.host}", path
                    )
                return RevisionNotFoundError(
                    errno.ENOENT,
                    f"no branch or commit {self.revision!r} in {repo.full_name} at {self.host}",
                    path,
                )
        where = f"{repo.full_name}@{self.revision}"
        return FileNotFoundError(errno.ENOENT, f"no such file or directory in {where}", path)

    async def _ls(self, path: str, detail: bool = True, refresh: bool = False, **_: Any) -> Any:
        path = self._strip_protocol(path)
        listing = None if refresh else self.dircache.get(path)
        if listing is None:
            listing = await self._list_dir(path)
            if listing is None:  # not a directory: a file lists as itself
                listing = [await self._info(path)]
            else:
                self.dircache[path] = listing
        return listing if detail else [entry["name"] for entry in listing]

    async def _list_dir(self, path: str) -> list[Info] | None:
        repo = self._repo()
        out: list[Info] = []
        try:
            pages = repo.dirs.entries(self.revision, path, page_size=self.listing_page_size)
            async for entry in pages:
                name = f"{path}/{entry.filename}" if path else entry.filename
                out.append(entry_info(name, entry))
        except NotFoundError:
            return None
        return out

    async def _info(self, path: str, **_: Any) -> Info:
        path = self._strip_protocol(path)
        parent = self.dircache.get(self._parent(path)) if path else None
        if parent is not None:
            for entry in parent:
                if entry["name"] == path:
                    return dict(entry)
            raise await self._missing(path)
        try:
            entry = await self._repo().dirs.meta(self.revision, path)
        except NotFoundError:
            raise await self._missing(path) from None
        return entry_info(path, entry) if path else {**root_info(), "hash": entry.hash}

    async def _cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **_: Any
    ) -> bytes:
        path = self._strip_protocol(path)
        info = await self._info(path)
        if info["type"] == "directory":
            raise IsADirectoryError(errno.EISDIR, "a directory, not a file", path)
        size = int(info["size"])
        begin, stop = byte_range(path, size, start, end)
        if begin == 0 and stop == size:
            return await read_whole(self._repo(), self.revision, path, info)
        return await read_range(self._repo(), self.revision, path, begin, stop)

    async def _get_file(self, rpath: str, lpath: str, **_: Any) -> None:
        rpath = self._strip_protocol(rpath)
        info = await self._info(rpath)
        if info["type"] == "directory":
            os.makedirs(lpath, exist_ok=True)
            return
        await self._repo().files.download_to(
            self.revision, rpath, lpath, expected_hash=info["hash"] or None
        )

    async def _get(
        self,
        rpath: Any,
        lpath: Any,
        recursive: bool = False,
        maxdepth: int | None = None,
        **kwargs: Any,
    ) -> Any:
        """A whole folder (``recursive=True``) goes through ``download_folder``; anything else
        (files, lists, globs, a depth limit) through fsspec's per-file copy."""
        folder = await self._folder_target(rpath, lpath, recursive, maxdepth)
        if folder is None:
            return await super()._get(
                rpath, lpath, recursive=recursive, maxdepth=maxdepth, **kwargs
            )
        source, dest = folder
        report = await self._repo().download_folder(self.revision, source, dest)
        if report.failed:
            first = next(iter(report.failed.items()))
            raise OSError(
                f"{len(report.failed)} file(s) not downloaded; first: {first[0]}: {first[1]}"
            )
        return None

    async def _folder_target(
        self, rpath: Any, lpath: Any, recursive: bool, maxdepth: int | None
    ) -> tuple[str, str] | None:
        if not (isinstance(rpath, str) and isinstance(lpath, str) and recursive):
            return None
        if maxdepth is not None or any(c in rpath for c in "*?["):
            return None
        source = self._strip_protocol(rpath)
        if (await self._info(source))["type"] != "directory":
            return None
        dest = make_path_posix(lpath)
        into = lpath.endswith("/") or LocalFileSystem().isdir(dest)
        if into and source and not rpath.endswith("/"):
            dest = posixpath.join(dest, posixpath.basename(source))
        return source, dest

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> OxenFile:
        path = self._strip_protocol(path)
        kwargs.pop("autocommit", None)  # our writes commit by the transaction's state
        if mode == "rb":
            info = self.info(path)
            if info["type"] == "directory":
                raise IsADirectoryError(errno.EISDIR, "a directory, not a file", path)
            f = OxenFile(self, path, "rb", size=int(info["size"]), **kwargs)
            f.details = info
            return f
        if mode in ("wb", "xb"):
            return OxenFile(self, target_path(path), "wb", **kwargs)
        raise NotImplementedError(f"mode {mode!r}: oxen files open 'rb' or 'wb'")

    def invalidate_cache(self, path: str | None = None) -> None:
        if path is None:
            self.dircache.clear()
        else:
            path = self._strip_protocol(path)
            self.dircache.pop(path, None)
            while path:
                path = self._parent(path)
                self.dircache.pop(path, None)
        super().invalidate_cache(path)


def byte_range(path: str, size: int, start: int | None, end: int | None) -> tuple[int, int]:
    """``[start, end)`` as Python slices read them, clamped to the file; a start past the end
    is an error (a reader that asks for it has the wrong file or size)."""
    begin = 0 if start is None else (start + size if start < 0 else start)
    stop = size if end is None else (end + size if end < 0 else end)
    begin = max(begin, 0)
    if begin > size:
        raise ValueError(f"{path}: range starts at byte {begin}, past the end ({size} bytes)")
    return begin, min(max(stop, begin), size)
