"""Directory listings: one page, every entry of a directory, a recursive walk, one entry."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Generic, TypeVar

import msgspec

from .. import paths
from ..models import (
    DirBrief,
    DirHashes,
    DirListing,
    DirListingResponse,
    EntryBrief,
    EntryHash,
    MetadataEntry,
    MetaResponse,
)
from ._scope import RepoScope, every_item

DEFAULT_PAGE_SIZE = 1000
# Subtrees of up to this many files are listed in one nested request (``Dirs.walk``): about
# 8 MB of JSON from the server at most.
DEEP_FILES = 10_000


E = TypeVar("E", MetadataEntry, EntryBrief)
Fetch = Callable[[str, int, int], Awaitable[tuple[list[E], int]]]
"""(folder, depth, page) -> that page's entries and the listing's page count."""


async def _each(entries: list[E]) -> AsyncGenerator[E]:
    for entry in entries:
        yield entry


def _files_below(entry: MetadataEntry | EntryBrief) -> int | None:
    """The file count a folder's entry lists for its whole subtree (``dir.data_types``), None
    when it lists none."""
    try:
        if isinstance(entry, EntryBrief):
            folder = msgspec.json.decode(entry.metadata.dir) if entry.metadata else None
        else:
            meta = msgspec.json.decode(entry.metadata)
            folder = meta.get("dir") if isinstance(meta, dict) else None
    except msgspec.DecodeError:
        return None
    kinds = folder.get("data_types") if isinstance(folder, dict) else None
    if not isinstance(kinds, list):
        return None
    total = 0
    for kind in kinds:
        count = kind.get("count") if isinstance(kind, dict) else None
        if not isinstance(count, int) or count < 0:
            return None
        total += count
    return total


async def _walk(
    path: str,
    fetch: Fetch[E],
    include_dirs: bool,
    deep_files: int | None,
) -> AsyncGenerator[tuple[str, E]]:
    """``Dirs.walk``'s order and nesting rule, over ``fetch(folder, depth, page)``."""
    deep_files = DEEP_FILES if deep_files is None else deep_files
    # An explicit stack instead of recursion: memory grows with depth, not with breadth.
    # Each item: a folder, its entries when they came nested, and whether it is (or is to be
    # asked) nested.
    stack: list[tuple[str, list[E] | None, bool]] = [(paths.repo_path(path), None, False)]
    ahead = _LookAhead(fetch)
    entry: E | None = None
    try:
        while stack:
            current, known, deep = stack.pop()
            subdirs: list[tuple[str, list[E] | None, bool]] = []
            if known is not None:
                listing = _each(known)
            else:
                depth = _depth(deep)
                # No name here holds page 1: a finished task keeps its result (``_pages``).
                listing = _pages(fetch, current, depth, ahead.take(current, depth))
                ahead.start(stack)
            async with contextlib.aclosing(listing):
                async for entry in listing:
                    full = f"{current}/{entry.filename}" if current else entry.filename
                    if not entry.is_dir:
                        yield full, entry
                        continue
                    if include_dirs:
                        yield full, entry
                    files = _files_below(entry)
                    if entry.children is not None:
                        subdirs.append((full, entry.children, True))
                    elif not (deep and files == 0):
                        # Not nested: listed by itself (a server that ignores ``depth`` nests
                        # nothing, and its folders are listed this way too). Nested and empty:
                        # nothing below it.
                        small = files is not None and files <= deep_files
                        subdirs.append((full, None, small))
            stack.extend(reversed(subdirs))
            # The last entries seen are dropped before the next request: a raw field of theirs
            # would keep this listing's whole body alive beside the next one's.
            del listing, known
            entry = None
    finally:
        ahead.cancel()


def _depth(nested: bool) -> int:
    """The ``depth`` a folder is asked for with: all of it nested, or itself alone."""
    return -1 if nested else 0


async def _pages(
    fetch: Fetch[E], folder: str, depth: int, first: Awaitable[tuple[list[E], int]]
) -> AsyncGenerator[E]:
    """Every entry of ``folder``, page by page; page 1 is ``first`` (maybe asked already)."""
    page, result = 1, first
    del first  # a task asked ahead keeps its result: only ``result`` holds it, and briefly
    while True:
        entries, total_pages = await result
        del result
        for entry in entries:
            yield entry
        if not entries or page >= total_pages:
            return
        page += 1
        del entries, entry  # this page's entries, the last one too, go before the next comes
        result = fetch(folder, depth, page)


class _LookAhead(Generic[E]):
    """The first page of the next folder waiting on the walk's stack (the sibling, or an
    ancestor's sibling, of the one being read), asked for while that one is read. At most one
    is held, whatever the tree's shape: below a folder listed by itself, its subfolders get
    none while it is held for that folder's sibling.

    Why: a nested listing costs the server one core for a while (10,000 files, ~0.14 s on
    real 0.65.2) while the client waits; asking for the next folder meanwhile puts the second
    core to work. Two 10,000-file subtrees of real 0.65.2: the two GETs alone in 0.18-0.19 s
    at once against 0.28-0.30 s one after the other; ``walk_brief`` of both in 0.27 s against
    0.44 s. One ahead: memory holds two listings at most (``Dirs.walk``)."""

    def __init__(self, fetch: Fetch[E]) -> None:
        self._fetch: Fetch[E] = fetch
        self._folder: tuple[str, int] | None = None
        # An asyncio task, not a task group's: the walk is an async generator, which must
        # not yield inside a task group's scope; the session is aiohttp's, asyncio only.
        self._task: asyncio.Task[tuple[list[E], int]] | None = None

    def take(self, folder: str, depth: int) -> Awaitable[tuple[list[E], int]]:
        """Page 1 of ``folder``: the one asked ahead, or a request now."""
        if self._task is not None and self._folder == (folder, depth):
            task, self._task = self._task, None
            return task
        # Another folder's (a sibling further down the stack, met once this subtree is
        # read): it stays asked.
        return self._fetch(folder, depth, 1)

    def start(self, stack: list[tuple[str, list[E] | None, bool]]) -> None:
        """Ask for the next folder on ``stack`` that needs a request, if none is asked yet."""
        if self._task is not None:
            return
        for folder, known, deep in reversed(stack):
            if known is None:
                self._folder = (folder, _depth(deep))
                self._task = asyncio.ensure_future(self._fetch(folder, self._folder[1], 1))
                return

    def cancel(self) -> None:
        if self._task is not None:
            _drop(self._task)
            self._task = None


def _drop(task: asyncio.Task[object]) -> None:
    """Cancel a request asked ahead that will not be read; its outcome is let go unraised."""
    task.cancel()
    task.add_done_callback(lambda t: t.cancelled() or t.exception())


def _page_params(page: int, page_size: int, depth: int) -> dict[str, int]:
    params = {"page": page, "page_size": page_size}
    if depth:  # absent unless asked: the request stays what it was for a plain listing
        params["depth"] = depth
    return params


class Dirs:
    def __init__(self, scope: RepoScope) -> None:
        self._r = scope

    async def list_page(
        self,
        revision: str,
        path: str = "",
        *,
        page: int = 1,
        page_size: int = 100,
        depth: int = 0,
    ) -> DirListing:
        """One page of a directory. ``depth``: also nest each subdirectory's entries that many
        levels deep (``children``; negative: all of them); only the top level is paged."""
        url = self._r.path(f"dir/{paths.resource(revision, path)}")
        params = _page_params(page, page_size, depth)
        return await self._r.session.request("GET", url, DirListingResponse, params=params)

    async def entries(
        self,
        revision: str,
        path: str = "",
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        depth: int = 0,
    ) -> AsyncGenerator[MetadataEntry]:
        """Every entry of one directory (directories first, then files), page by page."""
        pages = every_item(
            lambda page: self.list_page(
                revision, path, page=page, page_size=page_size, depth=depth
            ),
            lambda listing: listing.entries,
        )
        async for entry in pages:
            yield entry

    async def hashes(
        self, revision: str, path: str = "", *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncGenerator[EntryHash]:
        """Every entry of one directory as name, content id and kind only (what a sync
        compares), page by page: the rest of each entry is skipped, not decoded."""
        url = self._r.path(f"dir/{paths.resource(revision, path)}")

        async def page_of(page: int) -> DirHashes:
            params = _page_params(page, page_size, 0)
            return await self._r.session.request("GET", url, DirHashes, params=params)

        async for entry in every_item(page_of, lambda listing: listing.entries):
            yield entry

    def walk(
        self,
        revision: str,
        path: str = "",
        *,
        include_dirs: bool = False,
        page_size: int = DEFAULT_PAGE_SIZE,
        deep_files: int | None = None,
    ) -> AsyncGenerator[tuple[str, MetadataEntry]]:
        """Every file below ``path`` as (repo-relative path, entry), depth first: a folder's
        files, then each of its subfolders in listed order.

        A subfolder whose listed file count (its ``data_types``) is at most ``deep_files``
        (default ``DEEP_FILES``) comes in one request with everything below it nested
        (``depth=-1``) rather than one request per folder: the server pays ~3 ms a request,
        so 200 folders of 100 files cost real 0.65.2 0.65 s of CPU by folder and 0.30 s
        nested. Memory holds two such subtrees at most, the one being read and the next,
        asked for ahead (``_LookAhead``): 10,000 files from real 0.65.2 raised the peak RSS
        by ~37 MB while they were read alone (~27 MB through ``walk_brief``), most of it the ~8 MB
        body while it is received and decoded.

        Paths are built from the listed directory plus ``filename``: the server's own
        ``resource.path`` is wrong for a file named like its parent directory.
        """

        async def page_of(folder: str, depth: int, page: int) -> tuple[list[MetadataEntry], int]:
            listing = await self.list_page(
                revision, folder, page=page, page_size=page_size, depth=depth
            )
            return listing.entries, listing.total_pages

        return _walk(path, page_of, include_dirs, deep_files)

    def walk_brief(
        self,
        revision: str,
        path: str = "",
        *,
        include_dirs: bool = False,
        page_size: int = DEFAULT_PAGE_SIZE,
        deep_files: int | None = None,
    ) -> AsyncGenerator[tuple[str, EntryBrief]]:
        """``walk`` with each entry decoded as name, content id, size and kind only (what a
        download or a sync needs): less CPU and memory per entry (``EntryBrief``)."""

        async def page_of(folder: str, depth: int, page: int) -> tuple[list[EntryBrief], int]:
            url = self._r.path(f"dir/{paths.resource(revision, folder)}")
            params = _page_params(page, page_size, depth)
            listing = await self._r.session.request("GET", url, DirBrief, params=params)
            return listing.entries, listing.total_pages

        return _walk(path, page_of, include_dirs, deep_files)

    async def meta(self, revision: str, path: str) -> MetadataEntry:
        """One file's or directory's entry (hash, size, type) without listing its parent."""
        url = self._r.path(f"meta/{paths.resource(revision, path)}")
        return (await self._r.session.request("GET", url, MetaResponse)).entry
