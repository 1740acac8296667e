"""The PyTorch datasets through a real DataLoader, with fork and with spawn workers."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch", reason="the torch tests need the torch extra (CPU wheels do)")
pytest.importorskip("fsspec", reason="the torch datasets need the fsspec extra")

from torch.utils.data import DataLoader  # noqa: E402

from oxen_async.fs import OxenFileSystem  # noqa: E402
from oxen_async.testing.handle import RepoHandle  # noqa: E402
from oxen_async.torch import OxenIterableDataset, OxenMapDataset  # noqa: E402

AUTHOR = {"author_name": "torch tests", "author_email": "torch-tests@example.com"}
COUNT = 48


def _options(repo: RepoHandle) -> dict[str, Any]:
    return {"host": repo.server.url, "token": repo.server.token}


def _pipe(oxen_repo: RepoHandle, files: dict[str, bytes]) -> None:
    """Commit ``files`` to the repository's main branch."""
    fs = OxenFileSystem(
        oxen_repo.namespace,
        oxen_repo.name,
        skip_instance_cache=True,
        **_options(oxen_repo),
        **AUTHOR,
    )
    fs.pipe(files)
    fs.close()


@pytest.fixture
def samples(oxen_repo: RepoHandle) -> dict[str, bytes]:
    rng = random.Random(7)
    files = {
        f"train/{i % 3}/sample-{i:03d}.bin": rng.randbytes(rng.randint(0, 3000))
        for i in range(COUNT)
    }
    files["other/not-in-the-folder.txt"] = b"outside"
    _pipe(oxen_repo, files)
    return {k: v for k, v in files.items() if k.startswith("train/")}


def _url(repo: RepoHandle, folder: str) -> str:
    return f"oxen://{repo.namespace}:{repo.name}@main/{folder}"


def test_map_dataset_indexes_files(oxen_repo: RepoHandle, samples: dict[str, bytes]) -> None:
    ds: OxenMapDataset[bytes] = OxenMapDataset(_url(oxen_repo, "train"), **_options(oxen_repo))
    assert len(ds) == COUNT
    assert [f.path for f in ds.files] == sorted(samples)
    assert all(ds[i] == samples[f.path] for i, f in enumerate(ds.files))
    sized: OxenMapDataset[int] = OxenMapDataset(
        _url(oxen_repo, "train/1"), transform=len, **_options(oxen_repo)
    )
    assert [sized[i] for i in range(len(sized))] == [
        len(v) for k, v in sorted(samples.items()) if k.startswith("train/1/")
    ]


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_map_dataset_through_dataloader_workers(
    oxen_repo: RepoHandle, samples: dict[str, bytes], context: str
) -> None:
    ds: OxenMapDataset[bytes] = OxenMapDataset(_url(oxen_repo, "train"), **_options(oxen_repo))
    assert ds[0] == samples[ds.files[0].path]  # the parent has a live session before the fork
    loader = DataLoader(
        ds, batch_size=None, num_workers=2, multiprocessing_context=context, timeout=120
    )
    got = list(loader)
    assert got == [samples[f.path] for f in ds.files]  # every sample, in order, byte-exact


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_iterable_dataset_gives_each_sample_once(
    oxen_repo: RepoHandle, samples: dict[str, bytes], context: str
) -> None:
    ds: OxenIterableDataset[bytes] = OxenIterableDataset(
        _url(oxen_repo, "train"), prefetch=4, shuffle=True, seed=3, **_options(oxen_repo)
    )
    next(iter(ds))  # used in the parent first: its connections must not leak into workers
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        loader = DataLoader(
            ds, batch_size=None, num_workers=2, multiprocessing_context=context, timeout=120
        )
        got = list(loader)
        seen = Counter(path for path, _ in got)
        assert sorted(seen) == sorted(samples)  # none missing
        assert set(seen.values()) == {1}  # none twice
        assert all(data == samples[path] for path, data in got)  # byte-exact


def test_iterable_dataset_shards_across_ranks(
    oxen_repo: RepoHandle, samples: dict[str, bytes]
) -> None:
    per_rank = []
    for rank in range(3):
        ds: OxenIterableDataset[int] = OxenIterableDataset(
            _url(oxen_repo, "train"),
            transform=len,
            rank=rank,
            world_size=3,
            **_options(oxen_repo),
        )
        per_rank.append([path for path, _ in ds])
    assert sum(len(p) for p in per_rank) == COUNT
    assert sorted(p for paths in per_rank for p in paths) == sorted(samples)
    assert all(abs(len(p) - COUNT / 3) <= 1 for p in per_rank)


def test_iterable_dataset_holds_at_most_prefetch(
    oxen_repo: RepoHandle, samples: dict[str, bytes]
) -> None:
    ds: OxenIterableDataset[bytes] = OxenIterableDataset(
        _url(oxen_repo, "train"), prefetch=8, **_options(oxen_repo)
    )
    it = iter(ds)
    first = next(it)
    frame = it.gi_frame  # the generator's own state: its window of batches in flight
    assert frame is not None
    in_window = sum(len(group) for group, _ in frame.f_locals["window"])
    assert 0 < in_window <= 8 + 2  # the window, plus at most one batch of prefetch // 4
    assert first[1] == samples[first[0]]
    it.close()


def test_map_dataset_second_epoch_comes_from_the_cache(
    oxen_repo: RepoHandle,
    samples: dict[str, bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from oxen_async.download import ContentCache
    from oxen_async.http import Session

    queries: list[str] = []
    original = Session._exchange

    async def counting(self: Session, method: str, path: str, options: Any, *, read: bool) -> Any:
        if method == "QUERY" or "/file/" in path or "/chunk/" in path:
            queries.append(f"{method} {path}")
        return await original(self, method, path, options, read=read)

    monkeypatch.setattr(Session, "_exchange", counting)
    cache = ContentCache(tmp_path / "blobs")
    ds: OxenMapDataset[bytes] = OxenMapDataset(
        _url(oxen_repo, "train"), cache=cache, **_options(oxen_repo)
    )
    first = ds.__getitems__(list(range(len(ds))))
    assert first == [samples[f.path] for f in ds.files]
    assert 1 <= len(queries) <= 2  # 48 small files: one QUERY /versions (64 a batch)
    queries.clear()
    assert [ds[i] for i in range(len(ds))] == first
    assert queries == []  # every byte of the second epoch from the cache


def test_a_batch_of_mixed_sizes_reads_each_big_file_alone(oxen_repo: RepoHandle) -> None:
    from oxen_async.download import SMALL_FILE_BYTES, WHOLE_FILE_BYTES

    rng = random.Random(11)
    files = {
        "mixed/a-small.bin": rng.randbytes(100),
        "mixed/b-mid.bin": rng.randbytes(SMALL_FILE_BYTES + 5),
        "mixed/c-large.bin": rng.randbytes(WHOLE_FILE_BYTES + 5),
        "mixed/d-small.bin": rng.randbytes(200),
        "mixed/e-mid.bin": rng.randbytes(3 * SMALL_FILE_BYTES),
    }
    _pipe(oxen_repo, files)
    ds: OxenMapDataset[bytes] = OxenMapDataset(
        _url(oxen_repo, "mixed"), cache=False, **_options(oxen_repo)
    )
    loader = DataLoader(ds, batch_size=5, num_workers=0, collate_fn=list)
    (batch,) = list(loader)
    assert batch == [files[f.path] for f in ds.files]
    assert [f.path for f in ds.files] == sorted(files)
