"""Downloads for data loaders: mirror a remote folder locally, or stream its files as bytes.

Both walk the remote directory lazily (page by page) and keep at most ``concurrency`` files in
flight, so memory stays bounded whatever the folder's size. Every file is checked against the
content id the listing gives for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from . import paths
from .errors import ConfigError, HTTPError, IntegrityError, TransportError
from .hashing import hash_bytes, hash_file_sync, same_hash
from .models import MetadataEntry

if TYPE_CHECKING:
    from .client import RemoteRepo

# Above this size a downloaded file is hashed in a worker thread rather than on the loop.
_HASH_INLINE_LIMIT = 256 * 1024


@dataclass
class DownloadReport:
    """What ``download_folder`` did. Paths are repo-relative, as the listing names them."""

    revision: str
    """The commit the folder was read at (the branch head when the call started)."""
    remote_dir: str
    local_dir: Path
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Files whose local copy already had the listed content id."""
    failed: dict[str, str] = field(default_factory=dict)
    """Path -> reason, for files that could not be fetched or written."""
    bytes_downloaded: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


async def _pin_revision(repo: RemoteRepo, revision: str, remote_dir: str) -> str:
    """The commit id behind ``revision``, so a branch that moves meanwhile gives one snapshot.

    Workspace revisions (staged changes on top of a commit) are left as they are.
    """
    listing = await repo.dirs.list_page(revision, remote_dir, page=1, page_size=1)
    res = listing.dir.resource if listing.dir is not None else None
    if res is None or res.commit is None or bytes(res.workspace) != b"null":
        return revision
    return res.commit.id


def _relative(repo_path: str, remote_dir: str) -> PurePosixPath:
    """``repo_path`` below ``remote_dir``, refusing anything that would leave the target."""
    base = paths.repo_path(remote_dir)
    rel = repo_path[len(base) + 1 :] if base else repo_path
    parts = rel.split("/")
    if not rel or any(p in ("", ".", "..") or "\\" in p or "\0" in p for p in parts):
        raise ConfigError(f"unsafe path from the server listing: {repo_path!r}")
    return PurePosixPath(*parts)


def _is_current(local: Path, size: int, content_id: str) -> bool:
    """Whether ``local`` already holds the content (size first, then xxh3). Blocking."""
    try:
        st = os.stat(local)
    except (FileNotFoundError, NotADirectoryError):
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size != size:
        return False
    digest, _ = hash_file_sync(local)
    return same_hash(digest, content_id)


async def download_folder(
    repo: RemoteRepo,
    revision: str,
    remote_dir: str,
    local_dir: str | os.PathLike[str],
    *,
    concurrency: int = 8,
) -> DownloadReport:
    """Download every file below ``remote_dir`` at ``revision`` into ``local_dir``.

    Local files whose xxh3 already equals the listed id are skipped (hashed in worker threads),
    so running it again only fetches what changed. Each file is written atomically and
    hash-checked (``files.download_to``). Per-file failures are collected in the report;
    an unknown revision or directory raises NotFoundError. Local files absent remotely are
    left alone.
    """
    if concurrency < 1:
        raise ConfigError("concurrency must be at least 1")
    started = time.monotonic()
    root = Path(local_dir)
    pinned = await _pin_revision(repo, revision, remote_dir)
    report = DownloadReport(revision=pinned, remote_dir=paths.repo_path(remote_dir), local_dir=root)
    queue: asyncio.Queue[tuple[str, MetadataEntry] | None] = asyncio.Queue(maxsize=concurrency * 2)

    async def worker() -> None:
        while (item := await queue.get()) is not None:
            repo_path, entry = item
            try:
                local = root.joinpath(*_relative(repo_path, remote_dir).parts)
                if await anyio.to_thread.run_sync(_is_current, local, entry.size, entry.hash):
                    report.skipped.append(repo_path)
                    continue
                await repo.files.download_to(pinned, repo_path, local, expected_hash=entry.hash)
            except (HTTPError, TransportError, IntegrityError, ConfigError, OSError) as exc:
                report.failed[repo_path] = f"{type(exc).__name__}: {exc}"
            else:
                report.downloaded.append(repo_path)
                report.bytes_downloaded += entry.size

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    try:
        async for repo_path, entry in repo.dirs.walk(pinned, remote_dir):
            await queue.put((repo_path, entry))
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    report.seconds = time.monotonic() - started
    return report


class _Done:
    """End of the stream."""


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_Walk = tuple[str, MetadataEntry]


async def iter_files(
    repo: RemoteRepo,
    revision: str,
    remote_dir: str = "",
    *,
    concurrency: int = 8,
    ordered: bool = True,
) -> AsyncGenerator[tuple[str, bytes]]:
    """Yield ``(repo path, bytes)`` for every file below ``remote_dir``, fetched concurrently.

    ``ordered=True`` yields in walk order (directories depth first, names in the server's
    order); ``ordered=False`` yields each file as soon as it arrives. At most ``concurrency``
    downloads run at once and at most about twice that many files are held in memory, however
    slowly the caller consumes. Each file is checked against its listed id (IntegrityError).
    The first failure is raised from the iterator. Closing it (``await it.aclose()``, or
    ``async with contextlib.aclosing(...)``) after leaving the loop early stops the work at once.
    """
    if concurrency < 1:
        raise ConfigError("concurrency must be at least 1")
    pinned = await _pin_revision(repo, revision, remote_dir)

    async def fetch(repo_path: str, entry: MetadataEntry) -> tuple[str, bytes]:
        data = await repo.files.download(pinned, repo_path)
        if len(data) > _HASH_INLINE_LIMIT:
            digest = await anyio.to_thread.run_sync(hash_bytes, data)
        else:
            digest = hash_bytes(data)
        if not same_hash(digest, entry.hash):
            raise IntegrityError(
                f"{repo_path}: downloaded bytes hash to {digest}, the server lists {entry.hash}"
            )
        return repo_path, data

    walk = repo.dirs.walk(pinned, remote_dir)
    gen = (_ordered if ordered else _unordered)(walk, fetch, concurrency)
    async with contextlib.aclosing(gen):
        async for item in gen:
            yield item


_Fetch = Callable[[str, MetadataEntry], Awaitable[tuple[str, bytes]]]


async def _ordered(
    items: AsyncGenerator[_Walk], fetch: _Fetch, concurrency: int
) -> AsyncGenerator[tuple[str, bytes]]:
    """A bounded queue of fetch tasks in walk order: the caller awaits them one by one."""
    limit = asyncio.Semaphore(concurrency)
    queue: asyncio.Queue[asyncio.Task[tuple[str, bytes]] | _Done | _Failed]
    queue = asyncio.Queue(maxsize=concurrency)
    tasks: set[asyncio.Task[tuple[str, bytes]]] = set()

    async def limited(repo_path: str, entry: MetadataEntry) -> tuple[str, bytes]:
        async with limit:
            return await fetch(repo_path, entry)

    async def produce() -> None:
        try:
            async with contextlib.aclosing(items):
                async for repo_path, entry in items:
                    task = asyncio.create_task(limited(repo_path, entry))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    await queue.put(task)
            await queue.put(_Done())
        except Exception as exc:
            await queue.put(_Failed(exc))

    producer = asyncio.create_task(produce())
    try:
        while not isinstance(item := await queue.get(), _Done):
            if isinstance(item, _Failed):
                raise item.exc
            yield await item
    finally:
        await _cancel(producer, *tasks)


async def _unordered(
    items: AsyncGenerator[_Walk], fetch: _Fetch, concurrency: int
) -> AsyncGenerator[tuple[str, bytes]]:
    """``concurrency`` workers fetch from a bounded work queue into a bounded result queue."""
    work: asyncio.Queue[_Walk | None] = asyncio.Queue(maxsize=concurrency)
    results: asyncio.Queue[tuple[str, bytes] | _Done | _Failed]
    results = asyncio.Queue(maxsize=concurrency)

    async def worker() -> None:
        try:
            while (job := await work.get()) is not None:
                await results.put(await fetch(*job))
        except Exception as exc:
            await results.put(_Failed(exc))
            return
        await results.put(_Done())

    async def produce() -> None:
        try:
            async with contextlib.aclosing(items):
                async for job in items:
                    await work.put(job)
        except Exception as exc:
            await results.put(_Failed(exc))
        for _ in range(concurrency):
            await work.put(None)

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    producer = asyncio.create_task(produce())
    try:
        finished = 0
        while finished < concurrency:
            item = await results.get()
            if isinstance(item, _Done):
                finished += 1
            elif isinstance(item, _Failed):
                raise item.exc
            else:
                yield item
    finally:
        await _cancel(producer, *workers)


async def _cancel(*tasks: asyncio.Task[Any]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
