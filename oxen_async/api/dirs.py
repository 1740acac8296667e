"""Directory listings: one page, every entry of a directory, a recursive walk, one entry."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator

from .. import paths
from ..models import (
    DirHashes,
    DirListing,
    DirListingResponse,
    EntryHash,
    MetadataEntry,
    MetaResponse,
)
from ._scope import RepoScope, every_item

DEFAULT_PAGE_SIZE = 1000


class Dirs:
    def __init__(self, scope: RepoScope) -> None:
        self._r = scope

    async def list_page(
        self, revision: str, path: str = "", *, page: int = 1, page_size: int = 100
    ) -> DirListing:
        url = self._r.path(f"dir/{paths.resource(revision, path)}")
        return await self._r.session.request(
            "GET", url, DirListingResponse, params={"page": page, "page_size": page_size}
        )

    async def entries(
        self, revision: str, path: str = "", *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncGenerator[MetadataEntry]:
        """Every entry of one directory (directories first, then files), page by page."""
        pages = every_item(
            lambda page: self.list_page(revision, path, page=page, page_size=page_size),
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
            params = {"page": page, "page_size": page_size}
            return await self._r.session.request("GET", url, DirHashes, params=params)

        async for entry in every_item(page_of, lambda listing: listing.entries):
            yield entry

    async def walk(
        self,
        revision: str,
        path: str = "",
        *,
        include_dirs: bool = False,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncGenerator[tuple[str, MetadataEntry]]:
        """Every file below ``path`` as (repo-relative path, entry), depth first.

        Paths are built from the listed directory plus ``filename``: the server's own
        ``resource.path`` is wrong for a file named like its parent directory.
        """
        # An explicit stack instead of recursion: memory grows with depth, not with breadth.
        stack = [paths.repo_path(path)]
        while stack:
            current = stack.pop()
            subdirs: list[str] = []
            listing = self.entries(revision, current, page_size=page_size)
            async with contextlib.aclosing(listing):
                async for entry in listing:
                    full = f"{current}/{entry.filename}" if current else entry.filename
                    if entry.is_dir:
                        subdirs.append(full)
                        if include_dirs:
                            yield full, entry
                    else:
                        yield full, entry
            stack.extend(reversed(subdirs))

    async def meta(self, revision: str, path: str) -> MetadataEntry:
        """One file's or directory's entry (hash, size, type) without listing its parent."""
        url = self._r.path(f"meta/{paths.resource(revision, path)}")
        return (await self._r.session.request("GET", url, MetaResponse)).entry
