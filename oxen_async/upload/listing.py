"""The branch head's directories as the planner needs them: file name -> content id, cached.

A directory is asked for only when its parent's listing names it: a new folder tree costs no
request per folder (a first upload of 200 folders made 200 requests, each a 404), and the
parent's listing is cached for its other children anyway. The cache is a small LRU (the
planners work a few directories at a time), with one lock per directory being fetched so two
planners never fetch it twice.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import anyio

from ..errors import NotFoundError
from ..models import MetadataEntry

EntriesOf = Callable[[str], AsyncIterator[MetadataEntry]]
"""Every entry of one directory of the head, by local relative path."""


@dataclass(frozen=True, slots=True)
class Listing:
    """One directory of the branch head: its files (name -> content id) and subfolders."""

    files: dict[str, str]
    subdirs: frozenset[str]


NO_LISTING = Listing({}, frozenset())


class BranchListings:
    """Listings of the head's directories; ``entries`` is None on an empty repository."""

    def __init__(self, entries: EntriesOf | None, capacity: int) -> None:
        self._entries = entries
        self.capacity = capacity
        self._cache: OrderedDict[str, Listing] = OrderedDict()
        self._locks: dict[str, anyio.Lock] = {}
        self.missing: set[str] = set()  # folders the branch does not have
        self.fetched = 0  # directory listings asked of the server

    async def files(self, rel_dir: str) -> dict[str, str]:
        """filename -> content id of the files in one directory of the head."""
        if self._entries is None:
            return {}
        return (await self.listing(rel_dir)).files

    async def listing(self, rel_dir: str) -> Listing:
        if self._entries is None or self._under_missing(rel_dir):
            return NO_LISTING
        if rel_dir:
            parent, _, name = rel_dir.rpartition("/")
            if name not in (await self.listing(parent)).subdirs:
                self.missing.add(rel_dir)
                return NO_LISTING
        cached = self._cached(rel_dir)
        if cached is not None:
            return cached
        lock = self._locks.setdefault(rel_dir, anyio.Lock())
        async with lock:
            cached = self._cached(rel_dir)
            if cached is not None:
                return cached
            listing = self._cache[rel_dir] = await self._fetch(self._entries, rel_dir)
            while len(self._cache) > self.capacity:
                old, _ = self._cache.popitem(last=False)
                self._locks.pop(old, None)
        return listing

    async def _fetch(self, entries: EntriesOf, rel_dir: str) -> Listing:
        self.fetched += 1
        files: dict[str, str] = {}
        subdirs: set[str] = set()
        try:
            async for entry in entries(rel_dir):
                if entry.is_dir:
                    subdirs.add(entry.filename)
                else:
                    files[entry.filename] = entry.hash
        except NotFoundError:
            # New on the branch, and so is everything below it: no request for those.
            self.missing.add(rel_dir)
        return Listing(files, frozenset(subdirs))

    def _cached(self, rel_dir: str) -> Listing | None:
        listing = self._cache.get(rel_dir)
        if listing is not None:
            self._cache.move_to_end(rel_dir)  # ancestors stay while their children plan
        return listing

    def _under_missing(self, rel_dir: str) -> bool:
        """Whether ``rel_dir`` or a folder above it is known to be absent on the branch."""
        parts = rel_dir.split("/") if rel_dir else []
        return any("/".join(parts[:i]) in self.missing for i in range(len(parts) + 1))
