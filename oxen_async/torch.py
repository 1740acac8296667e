"""PyTorch datasets over a folder of an Oxen repository (needs the ``torch`` extra).

- ``OxenMapDataset``: index -> the file's bytes (or ``transform(bytes)``), through a local
  content-addressed cache when one is given, so a second epoch reads no network.
- ``OxenIterableDataset``: ``(path, sample)`` for every file, sharded across DataLoader
  workers and distributed ranks (each sample exactly once per epoch), prefetched with at most
  ``prefetch`` files in flight or held.

Both list the folder once, in the process that builds them, at one commit (a branch is pinned
to its head then), and carry only that list and the connection options into workers. Each
process makes its own filesystem, HTTP session and event loop on first use: a dataset built
before the DataLoader forks (or pickled for spawn) never uses the parent's connections.
"""

from __future__ import annotations

import os
import random
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

import torch.distributed
import torch.utils.data
from fsspec.asyn import sync

from .errors import ConfigError, IntegrityError
from .fs import OxenFileSystem
from .hashing import hash_bytes, same_hash

T = TypeVar("T")


class BlobCache(Protocol):
    """What the map dataset needs of a cache (``oxen_async.download.ContentCache`` is one)."""

    def read(self, content_id: str) -> bytes | None: ...

    def put_bytes(self, content_id: str, data: bytes) -> None: ...


@dataclass(frozen=True)
class RemoteFile:
    path: str
    size: int
    content_id: str


class _Source:
    """A pinned folder of a repository and a filesystem on it for the calling process."""

    def __init__(self, url: str, storage_options: dict[str, Any]) -> None:
        kwargs = OxenFileSystem._get_kwargs_from_urls(url)
        options = {**storage_options, **kwargs, "skip_instance_cache": True}
        head = OxenFileSystem(**options)
        options["revision"] = sync(head.loop, _commit_of, head)
        self.folder = head._rel(url)
        head.close()
        self.options = options
        self._fs: OxenFileSystem | None = None
        self._pid = -1
        listing = self.fs.find(self.folder, detail=True)
        self.files = [
            RemoteFile(self.fs._rel(name), int(info["size"]), str(info["hash"]))
            for name, info in sorted(listing.items())
            if info["type"] == "file"
        ]

    @property
    def fs(self) -> OxenFileSystem:
        if self._fs is None or self._pid != os.getpid():
            self._fs = OxenFileSystem(**self.options)
            self._pid = os.getpid()
        return self._fs

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fs": None, "_pid": -1}


async def _commit_of(fs: OxenFileSystem) -> str:
    """The commit a revision names now (a branch moves; a dataset reads one snapshot)."""
    from .errors import NotFoundError

    try:
        return (await fs._repo().branches.get(fs.revision)).commit_id
    except NotFoundError:
        return fs.revision


def _checked(file: RemoteFile, data: bytes) -> bytes:
    if not same_hash(hash_bytes(data), file.content_id):
        raise IntegrityError(f"{file.path}: bytes do not match content id {file.content_id}")
    return data


class OxenMapDataset(torch.utils.data.Dataset[T], Generic[T]):
    """``dataset[i]`` is the bytes of the i-th file below the URL's folder (sorted by path),
    or ``transform(bytes)``. ``files[i]`` says which file it is."""

    def __init__(
        self,
        url: str,
        *,
        transform: Callable[[bytes], T] | None = None,
        cache: BlobCache | None = None,
        **storage_options: Any,
    ) -> None:
        self._source = _Source(url, storage_options)
        self.transform = transform
        self.cache = cache

    @property
    def files(self) -> list[RemoteFile]:
        return self._source.files

    def __len__(self) -> int:
        return len(self._source.files)

    def read(self, index: int) -> bytes:
        file = self._source.files[index]
        if self.cache is not None:
            cached = self.cache.read(file.content_id)  # verified against the id
            if cached is not None:
                return cached
        data = _checked(file, bytes(self._source.fs.cat_file(file.path)))
        if self.cache is not None:
            self.cache.put_bytes(file.content_id, data)
        return data

    def __getitem__(self, index: int) -> T:
        data = self.read(index)
        return self.transform(data) if self.transform is not None else cast(T, data)


class OxenIterableDataset(torch.utils.data.IterableDataset[tuple[str, T]], Generic[T]):
    """``(path, sample)`` for every file below the URL's folder, once per epoch across all
    DataLoader workers and distributed ranks. ``shuffle`` orders files by a permutation seeded
    with ``seed + epoch`` (``set_epoch``), the same in every process."""

    def __init__(
        self,
        url: str,
        *,
        transform: Callable[[bytes], T] | None = None,
        prefetch: int = 16,
        shuffle: bool = False,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        **storage_options: Any,
    ) -> None:
        if prefetch < 1:
            raise ConfigError("prefetch must be at least 1")
        self._source = _Source(url, storage_options)
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
        fs = self._source.fs
        todo = iter(self.shard())
        window: deque[tuple[RemoteFile, Future[bytes]]] = deque()

        def submit() -> bool:
            file = next(todo, None)
            if file is None:
                return False
            window.append((file, _submit(fs, file.path)))
            return True

        try:
            while len(window) < self.prefetch and submit():
                pass
            while window:
                file, future = window.popleft()
                data = _checked(file, future.result())
                submit()
                sample = self.transform(data) if self.transform is not None else cast(T, data)
                yield file.path, sample
        finally:
            for _, future in window:
                future.cancel()


def _submit(fs: OxenFileSystem, path: str) -> Future[bytes]:
    import asyncio

    return asyncio.run_coroutine_threadsafe(fs._cat_file(path), fs.loop)
