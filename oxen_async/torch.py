"""PyTorch datasets over a folder of an Oxen repository (needs the ``torch`` extra).

- ``OxenMapDataset``: index -> the file's bytes (or ``transform(bytes)``), through the local
  content-addressed cache (``oxen_async.download.ContentCache``; on by default), so a second
  epoch reads no network. A DataLoader batch is one request (``__getitems__``).
- ``OxenIterableDataset``: ``(path, sample)`` for every file, sharded across DataLoader workers
  and distributed ranks (each sample exactly once per epoch), prefetched with at most
  ``prefetch`` files in flight or held.

Small files travel many per ``QUERY /versions`` (``download.fetch_bytes``), bigger ones
(``download.routes``) by ranged reads, all of a request's at once; every file is checked
against its content id. Both
datasets list the folder once, in the process that builds them, at one commit (a branch is
pinned to its head then), and carry only that list and the connection options into workers.
Each process makes its own filesystem, HTTP session, event loop and cache handle on first use:
a dataset built before the DataLoader forks (or pickled for spawn) never uses the parent's.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import torch.distributed
import torch.utils.data
from fsspec.asyn import sync

from .download import ContentCache, fetch_bytes
from .download.routes import batched
from .errors import ConfigError, NotFoundError
from .fs import OxenFileSystem
from .fs.reads import read_whole

T = TypeVar("T")

BATCH_MAX_FILES = 64
BATCH_MAX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class RemoteFile:
    path: str
    size: int
    content_id: str


class _Source:
    """A pinned folder of a repository, and per process: a filesystem and a cache on it."""

    def __init__(
        self, url: str, storage_options: dict[str, Any], cache: ContentCache | bool
    ) -> None:
        kwargs = OxenFileSystem._get_kwargs_from_urls(url)
        options = {**storage_options, **kwargs, "skip_instance_cache": True}
        head = OxenFileSystem(**options)
        options["revision"] = sync(head.loop, _commit_of, head)
        self.folder = head._rel(url)
        head.close()
        self.options = options
        # A ContentCache holds a lock: each process makes its own on the same folder.
        if cache is True:
            cache = ContentCache()  # the default place and size
        self._cache_spec = (cache.root, cache.max_bytes) if cache else None
        self._local: tuple[int, OxenFileSystem, ContentCache | None] | None = None
        listing = self.fs.find(self.folder, detail=True)
        self.files = [
            RemoteFile(self.fs._rel(name), int(info["size"]), str(info["hash"]))
            for name, info in sorted(listing.items())
            if info["type"] == "file"
        ]

    def _here(self) -> tuple[int, OxenFileSystem, ContentCache | None]:
        if self._local is None or self._local[0] != os.getpid():
            cache = None
            if self._cache_spec is not None:
                root, max_bytes = self._cache_spec
                cache = ContentCache(
                    root, **({} if max_bytes is None else {"max_bytes": max_bytes})
                )
            self._local = (os.getpid(), OxenFileSystem(**self.options), cache)
        return self._local

    @property
    def fs(self) -> OxenFileSystem:
        return self._here()[1]

    @property
    def cache(self) -> ContentCache | None:
        return self._here()[2]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_local": None}

    def submit(self, files: Sequence[RemoteFile]) -> Future[list[bytes]]:
        """Fetch ``files`` on the filesystem's loop thread (``.result()`` waits for them)."""
        fs, cache = self.fs, self.cache
        return asyncio.run_coroutine_threadsafe(_fetch(fs, cache, files), fs.loop)

    def read(self, files: Sequence[RemoteFile]) -> list[bytes]:
        return self.submit(files).result()


async def _commit_of(fs: OxenFileSystem) -> str:
    """The commit a revision names now (a branch moves; a dataset reads one snapshot)."""
    try:
        return (await (await fs._repo()).branches.get(fs.revision)).commit_id
    except NotFoundError:
        return fs.revision


async def _fetch(
    fs: OxenFileSystem, cache: ContentCache | None, files: Sequence[RemoteFile]
) -> list[bytes]:
    repo = await fs._repo()
    small = {f.content_id: f.size for f in files if batched(f.size)}
    others = {f.content_id: f for f in files if f.content_id not in small}

    async def alone(file: RemoteFile) -> bytes:
        if cache is not None:
            data = await asyncio.to_thread(cache.read, file.content_id)
            if data is not None:
                return data
        # One ranged read up to WHOLE_FILE_BYTES, pieces in flight beyond; checked once.
        info = {"size": file.size, "hash": file.content_id}
        data = await read_whole(repo, fs.revision, file.path, info)
        if cache is not None:
            await asyncio.to_thread(cache.put_bytes, file.content_id, data)
        return data

    got: dict[str, bytes] = {}

    async def batch() -> None:
        if small:
            got.update(await fetch_bytes(repo, small, cache=cache))

    async def one(file: RemoteFile) -> None:
        got[file.content_id] = await alone(file)

    await asyncio.gather(batch(), *(one(f) for f in others.values()))
    return [got[f.content_id] for f in files]


def _batches(files: Sequence[RemoteFile], max_files: int) -> Iterator[list[RemoteFile]]:
    """Consecutive groups of at most ``max_files`` files and about BATCH_MAX_BYTES."""
    group: list[RemoteFile] = []
    size = 0
    for file in files:
        if group and (len(group) >= max_files or size + file.size > BATCH_MAX_BYTES):
            yield group
            group, size = [], 0
        group.append(file)
        size += file.size
    if group:
        yield group


class OxenMapDataset(torch.utils.data.Dataset[T], Generic[T]):
    """``dataset[i]`` is the bytes of the i-th file below the URL's folder (sorted by path),
    or ``transform(bytes)``. ``files[i]`` says which file it is. ``cache``: a ContentCache,
    True for the default one (``$OXEN_ASYNC_CACHE`` or the user cache folder), False for none.
    """

    def __init__(
        self,
        url: str,
        *,
        transform: Callable[[bytes], T] | None = None,
        cache: ContentCache | bool = True,
        **storage_options: Any,
    ) -> None:
        self._source = _Source(url, storage_options, cache)
        self.transform = transform

    @property
    def files(self) -> list[RemoteFile]:
        return self._source.files

    def __len__(self) -> int:
        return len(self._source.files)

    def _sample(self, data: bytes) -> T:
        return self.transform(data) if self.transform is not None else cast(T, data)

    def __getitem__(self, index: int) -> T:
        return self._sample(self._source.read([self._source.files[index]])[0])

    def __getitems__(self, indices: Sequence[int]) -> list[T]:
        """A DataLoader batch in one go (torch >= 2.1 calls this with the batch's indices)."""
        files = [self._source.files[i] for i in indices]
        out: list[T] = []
        for group in _batches(files, BATCH_MAX_FILES):
            out.extend(self._sample(data) for data in self._source.read(group))
        return out


class OxenIterableDataset(torch.utils.data.IterableDataset[tuple[str, T]], Generic[T]):
    """``(path, sample)`` for every file below the URL's folder, once per epoch across all
    DataLoader workers and distributed ranks. ``shuffle`` orders files by a permutation seeded
    with ``seed + epoch`` (``set_epoch``), the same in every process. About ``prefetch`` files
    are in flight or held at once (at most that plus one request's batch)."""

    def __init__(
        self,
        url: str,
        *,
        transform: Callable[[bytes], T] | None = None,
        prefetch: int = 128,
        shuffle: bool = False,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        cache: ContentCache | bool = False,
        **storage_options: Any,
    ) -> None:
        if prefetch < 1:
            raise ConfigError("prefetch must be at least 1")
        self._source = _Source(url, storage_options, cache)
        self.transform = transform
        self.prefetch = prefetch
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self._rank, self._world = rank, world_size

    @property
    def files(self) -> list[RemoteFile]:
        return self._source.files

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def shard(self) -> list[RemoteFile]:
        """The files this process reads this epoch."""
        files = list(self._source.files)
        if self.shuffle:
            random.Random(self.seed + self.epoch).shuffle(files)
        rank, world = self._rank, self._world
        if rank is None or world is None:
            dist = torch.distributed
            ready = dist.is_available() and dist.is_initialized()
            rank = dist.get_rank() if ready else 0
            world = dist.get_world_size() if ready else 1
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        return files[rank * workers + worker :: world * workers]

    def __iter__(self) -> Iterator[tuple[str, T]]:
        # Batches of a quarter of the window: four requests in flight keep the server busy.
        per_batch = max(1, min(BATCH_MAX_FILES, self.prefetch // 4))
        todo = _batches(self.shard(), per_batch)
        window: deque[tuple[list[RemoteFile], Future[list[bytes]]]] = deque()
        held = 0

        def fill() -> None:
            nonlocal held
            while held < self.prefetch:
                group = next(todo, None)
                if group is None:
                    return
                window.append((group, self._source.submit(group)))
                held += len(group)

        try:
            fill()
            while window:
                group, future = window.popleft()
                datas = future.result()
                held -= len(group)
                fill()
                for file, data in zip(group, datas, strict=True):
                    sample = self.transform(data) if self.transform is not None else cast(T, data)
                    yield file.path, sample
        finally:
            for _, future in window:
                future.cancel()
