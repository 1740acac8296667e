"""``OxenFileSystem``: an async fsspec filesystem over one repository at one revision."""

from __future__ import annotations

import asyncio
import contextlib
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
from .commits import OxenTransaction, target_path
from .files import OxenFile
from .reads import Info, entry_info, read_many, read_range, read_whole, root_info
from .url import DEFAULT_REVISION, PROTOCOLS, URL_FORM, parse, strip
from .url import name as url_name
from .writes import WriteOps

if TYPE_CHECKING:
    from ..client import OxenClient, RemoteRepo

# ``cat`` of many paths: a folder holding this many of them is listed (one request a page)
# rather than asked about path by path; at most INFO_IN_FLIGHT such questions at once.
LIST_PARENT_AT = 8
INFO_IN_FLIGHT = 32


class _StripProtocol:
    """fsspec calls ``_strip_protocol`` on the class (to read a URL) and on instances (on
    every path a method gets). On an instance a bare repo path is also qualified with the
    instance's repository, so a path has one name however it came in."""

    def __get__(self, obj: OxenFileSystem | None, owner: type) -> Any:
        if obj is None:
            return _strip_all
        return lambda path: _strip_all(path, obj)


def _strip_all(path: Any, fs: OxenFileSystem | None = None) -> Any:
    if isinstance(path, list | tuple):
        return [_strip_all(p, fs) for p in path]
    return strip(str(path)) if fs is None else fs._name(fs._rel(str(path)))


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

    async def _repo(self) -> RemoteRepo:
        return (await self._clients.get()).repo(self.namespace, self.repo_name)

    async def _close(self) -> None:
        """Close this loop's HTTP session (``fs.close()`` from sync code)."""
        await self._clients.close_current()

    def close(self) -> None:
        sync(self.loop, self._close)

    # --- URLs ----------------------------------------------------------------------------------

    _strip_protocol = _StripProtocol()

    @staticmethod
    def _get_kwargs_from_urls(path: str) -> dict[str, Any]:
        url = parse(path)
        out: dict[str, Any] = {}
        if url.namespace and url.repo:
            out.update(namespace=url.namespace, repo=url.repo)
        if url.revision:
            out["revision"] = url.revision
        return out

    @property
    def prefix(self) -> str:
        """The name of the repository's root at this revision: ``ns:repo@revision``."""
        return url_name(self.namespace, self.repo_name, self.revision)

    def _rel(self, path: str) -> str:
        """The repo-relative path of a name, URL or bare path on this filesystem's repository."""
        parts = parse(str(path))
        if parts.namespace is not None:
            theirs = (parts.namespace, parts.repo, parts.revision or DEFAULT_REVISION)
            if theirs != (self.namespace, self.repo_name, self.revision):
                raise ConfigError(
                    f"{path!r} is in {theirs[0]}/{theirs[1]}@{theirs[2]}; this filesystem "
                    f"reads {self.namespace}/{self.repo_name}@{self.revision}"
                )
        return paths.repo_path(parts.path)

    def _name(self, rel: str) -> str:
        return url_name(self.namespace, self.repo_name, self.revision, rel)

    # --- reads ---------------------------------------------------------------------------------

    async def _missing(self, path: str) -> FileNotFoundError:
        """FileNotFoundError for ``path``, or a clearer one when the revision is the problem."""
        repo = await self._repo()
        try:
            await repo.branches.get(self.revision)
        except NotFoundError:
            try:
                await repo.commits.get(self.revision)
            except NotFoundError:
                if not await (await self._clients.get()).repos.exists(
                    self.namespace, self.repo_name
                ):
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
        rel = self._rel(path)
        key = self._name(rel)
        listing = None if refresh else self.dircache.get(key)
        if listing is None:
            listing = await self._list_dir(rel)
            if listing is None:  # not a directory: a file lists as itself
                listing = [await self._info(key)]
            else:
                self.dircache[key] = listing
        return listing if detail else [entry["name"] for entry in listing]

    async def _list_dir(self, path: str) -> list[Info] | None:
        repo = await self._repo()
        out: list[Info] = []
        try:
            pages = repo.dirs.entries(self.revision, path, page_size=self.listing_page_size)
            async for entry in pages:
                rel = f"{path}/{entry.filename}" if path else entry.filename
                out.append(entry_info(self._name(rel), entry))
        except NotFoundError:
            return None
        return out

    async def _info(self, path: str, **_: Any) -> Info:
        rel = self._rel(path)
        name = self._name(rel)
        parent = self.dircache.get(self._parent(name)) if rel else None
        if parent is not None:
            for entry in parent:
                if entry["name"] == name:
                    return dict(entry)
            raise await self._missing(name)
        try:
            entry = await (await self._repo()).dirs.meta(self.revision, rel)
        except NotFoundError:
            raise await self._missing(name) from None
        return entry_info(name, entry) if rel else {**root_info(name), "hash": entry.hash}

    async def _cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **_: Any
    ) -> bytes:
        rel = self._rel(path)
        info = await self._info(rel)
        if info["type"] == "directory":
            raise IsADirectoryError(errno.EISDIR, "a directory, not a file", info["name"])
        size = int(info["size"])
        begin, stop = byte_range(info["name"], size, start, end)
        if begin == 0 and stop == size:
            return await read_whole(await self._repo(), self.revision, rel, info)
        return await read_range(await self._repo(), self.revision, rel, begin, stop)

    async def _cat(
        self,
        path: Any,
        recursive: bool = False,
        on_error: str = "raise",
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> Any:
        """Many whole files through the download engine's batches (``QUERY /versions``, many
        files a request) instead of one request per path; ranges go fsspec's way."""
        if kwargs.get("start") is not None or kwargs.get("end") is not None:
            return await super()._cat(path, recursive, on_error, batch_size, **kwargs)
        names = await self._expand_path(path, recursive=recursive)
        infos: dict[str, Info] = {}
        out: dict[str, Any] = {}
        for name, info in zip(names, await self._infos(names), strict=True):
            if isinstance(info, Exception):
                out[name] = info
            elif info["type"] == "directory":
                out[name] = IsADirectoryError(errno.EISDIR, "a directory, not a file", name)
            else:
                infos[self._rel(name)] = info
        read = await read_many(await self._repo(), self.revision, infos)
        out.update({info["name"]: read[rel] for rel, info in infos.items()})
        results = [out[n] for n in names]
        if on_error == "raise":
            failure = next((r for r in results if isinstance(r, Exception)), None)
            if failure is not None:
                raise failure
        if len(names) > 1 or isinstance(path, list) or names[0] != self._strip_protocol(path):
            return {
                n: r
                for n, r in zip(names, results, strict=True)
                if on_error != "omit" or not isinstance(r, Exception)
            }
        return results[0]

    async def _infos(self, names: list[str]) -> list[Info | Exception]:
        """Each name's info (or why not): a folder that holds several of them is listed once
        (cached), the others are asked about one by one."""
        parents: dict[str, int] = {}
        for name in names:
            parent = self._parent(name)
            parents[parent] = parents.get(parent, 0) + 1
        for parent, count in parents.items():
            if count >= LIST_PARENT_AT and parent not in self.dircache:
                with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                    await self._ls(parent)

        limit = asyncio.Semaphore(INFO_IN_FLIGHT)

        async def one(name: str) -> Info | Exception:
            try:
                async with limit:
                    return await self._info(name)
            except Exception as exc:  # that path's answer
                return exc

        return list(await asyncio.gather(*(one(n) for n in names)))

    async def _get_file(self, rpath: str, lpath: str, **_: Any) -> None:
        rel = self._rel(rpath)
        info = await self._info(rel)
        if info["type"] == "directory":
            os.makedirs(lpath, exist_ok=True)
            return
        await (await self._repo()).files.download_to(
            self.revision, rel, lpath, expected_hash=info["hash"] or None
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
        report = await (await self._repo()).download_folder(self.revision, source, dest)
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
        source = self._rel(rpath)
        if (await self._info(source))["type"] != "directory":
            return None
        dest = make_path_posix(lpath)
        into = lpath.endswith("/") or LocalFileSystem().isdir(dest)
        if into and source and not rpath.endswith("/"):
            dest = posixpath.join(dest, posixpath.basename(source))
        return source, dest

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> OxenFile:
        rel = self._rel(path)
        kwargs.pop("autocommit", None)  # our writes commit by the transaction's state
        if mode == "rb":
            info = self.info(rel)
            if info["type"] == "directory":
                raise IsADirectoryError(errno.EISDIR, "a directory, not a file", info["name"])
            f = OxenFile(self, info["name"], "rb", size=int(info["size"]), **kwargs)
            f.details = info
            return f
        if mode in ("wb", "xb"):
            if mode == "xb" and self.exists(rel):
                raise FileExistsError(errno.EEXIST, "exists already", self._name(rel))
            return OxenFile(self, self._name(target_path(rel)), "wb", **kwargs)
        raise NotImplementedError(f"mode {mode!r}: oxen files open 'rb' or 'wb'")

    def invalidate_cache(self, path: str | None = None) -> None:
        if path is None:
            self.dircache.clear()
        else:
            name = self._name(self._rel(path))
            self.dircache.pop(name, None)
            while name != self.prefix:
                name = self._parent(name)
                self.dircache.pop(name, None)
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
