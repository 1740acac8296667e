"""Which requests the engine sends: small files in batches, large ones by ranges, and what a
folder costs compared with one GET per file."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from oxen_async import RemoteRepo
from oxen_async.download import (
    BATCH_FILES,
    FIRST_BATCH_FILES,
    Blob,
    ContentCache,
    download_folder,
    fetch_batch,
)
from oxen_async.testing import FaultController, RepoHandle

from .conftest import commit, local_files, strays

SMALL_RANGE = 64 * 1024


@pytest.fixture
def small_large_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large means over 128 KiB here, ranges of 64 KiB: big-file paths with small data."""
    monkeypatch.setattr("oxen_async.download.engine.LARGE_FILE_BYTES", 128 * 1024)
    monkeypatch.setattr("oxen_async.download.ranged.RANGE_BYTES", SMALL_RANGE)


def _counts(faults: FaultController | None) -> dict[str, int]:
    if faults is None:
        return {}
    return {
        r: faults.stats.requests(r) for r in ("versions_download", "chunk_download", "file_get")
    }


async def test_a_2000_file_folder_costs_a_few_batches_instead_of_2000_gets(
    repo: RemoteRepo, oxen_repo: RepoHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"d{i % 4}/f{i:04d}.txt": b"%d\n" % i * (1 + i % 7) for i in range(2000)}
    await commit(repo, files)
    faults = oxen_repo.server.faults
    before = _counts(faults)
    sent_paths: list[list[str]] = []
    real_fetch = fetch_batch

    async def seen(repo: RemoteRepo, blobs: list[Blob], *args: Any, **kw: Any) -> None:
        sent_paths.append([path for blob in blobs for path, _ in blob.targets])
        await real_fetch(repo, blobs, *args, **kw)

    monkeypatch.setattr("oxen_async.download.engine.fetch_batch", seen)
    report = await download_folder(repo, "main", "", tmp_path)
    assert report.ok and len(report.downloaded) == 2000 and report.files == 2000
    assert local_files(tmp_path) == files
    # Every path in one batch exactly; no batch over 1,000 files; every one but the last at
    # least the first batch's 64 (batchpool: doubling while listing, then shares of the rest).
    sizes = [len(paths) for paths in sent_paths]
    assert sorted(p for paths in sent_paths for p in paths) == sorted(files)
    assert max(sizes) <= BATCH_FILES and min(sizes[:-1]) >= FIRST_BATCH_FILES
    assert len(sizes) <= -(-2000 // FIRST_BATCH_FILES)
    if faults is not None:
        after = _counts(faults)
        sent = {r: after[r] - before[r] for r in after}
        assert sent["file_get"] == 0 and sent["chunk_download"] == 0
        # Every batch but the last holds at least the first batch's 64 files (batchpool):
        # while the listing runs they double, after it each is a share of what is left.
        assert (FIRST_BATCH_FILES, BATCH_FILES) == (64, 1000)
        assert 2 <= sent["versions_download"] <= -(-2000 // FIRST_BATCH_FILES)


@pytest.mark.usefixtures("small_large_threshold")
async def test_large_files_come_by_ranges_and_small_ones_by_batch(
    repo: RemoteRepo, oxen_repo: RepoHandle, tmp_path: Path
) -> None:
    big = os.urandom(5 * SMALL_RANGE + 123)  # 6 ranges, the last one short
    files = {"big.bin": big, "copy/big.bin": big, "s/a.txt": b"a", "s/b.txt": b"bb"}
    await commit(repo, files)
    faults = oxen_repo.server.faults
    before = _counts(faults)
    report = await download_folder(repo, "main", "", tmp_path)
    assert report.ok, report.failed
    assert local_files(tmp_path) == files
    assert strays(tmp_path) == []
    if faults is not None:
        after = _counts(faults)
        # big.bin and copy/big.bin hold the same bytes: one file's 6 ranges land both.
        assert after["chunk_download"] - before["chunk_download"] == 6
        assert after["versions_download"] - before["versions_download"] == 1
        assert after["file_get"] == before["file_get"]


@pytest.mark.fake_only
@pytest.mark.usefixtures("small_large_threshold")
async def test_ranges_of_one_file_are_in_flight_together(
    repo: RemoteRepo, oxen_faults: FaultController, tmp_path: Path
) -> None:
    big = os.urandom(4 * SMALL_RANGE)
    await commit(repo, {"big.bin": big})
    slow = oxen_faults.delay(0.4, route="chunk_download")
    started = time.monotonic()
    report = await download_folder(repo, "main", "", tmp_path)
    elapsed = time.monotonic() - started
    assert report.ok
    assert slow.hits == 4
    assert elapsed < 4 * 0.4  # one after the other would take 1.6 s
    assert (tmp_path / "big.bin").read_bytes() == big


@pytest.mark.fake_only
@pytest.mark.usefixtures("small_large_threshold")
async def test_a_range_cut_off_is_fetched_again_alone(
    repo: RemoteRepo, oxen_faults: FaultController, tmp_path: Path
) -> None:
    big = os.urandom(4 * SMALL_RANGE)
    await commit(repo, {"big.bin": big})
    cut = oxen_faults.drop_connection(1, route="chunk_download", when="after_headers")
    report = await download_folder(repo, "main", "", tmp_path)
    assert cut.hits == 1
    assert report.ok, report.failed
    assert oxen_faults.stats.requests("chunk_download") == 5
    assert (tmp_path / "big.bin").read_bytes() == big
    assert strays(tmp_path) == []


@pytest.mark.fake_only
@pytest.mark.usefixtures("small_large_threshold")
async def test_a_wrong_byte_in_a_range_never_lands(
    repo: RemoteRepo, oxen_faults: FaultController, tmp_path: Path
) -> None:
    big = os.urandom(4 * SMALL_RANGE)
    await commit(repo, {"big.bin": big, "ok.txt": b"fine"})
    from oxen_async import hash_bytes

    oxen_faults.downloads.wrong_byte(hashes=[hash_bytes(big)])
    report = await download_folder(repo, "main", "", tmp_path)
    assert oxen_faults.downloads.wrong_bytes_fired == 1
    assert list(report.failed) == ["big.bin"]
    assert "IntegrityError" in report.failed["big.bin"]
    assert local_files(tmp_path) == {"ok.txt": b"fine"}
    assert strays(tmp_path) == []


async def test_a_250_byte_file_name_lands(repo: RemoteRepo, tmp_path: Path) -> None:
    name = "n" * 246 + ".txt"
    await commit(repo, {f"deep/{name}": b"long name"})
    report = await download_folder(repo, "main", "", tmp_path)
    assert report.ok, report.failed
    assert (tmp_path / "deep" / name).read_bytes() == b"long name"


async def test_the_cache_serves_a_second_checkout_without_transfers(
    repo: RemoteRepo, oxen_repo: RepoHandle, tmp_path: Path
) -> None:
    files = {f"f{i}.txt": b"content %d" % i for i in range(20)}
    await commit(repo, files)
    cache = ContentCache()  # $OXEN_ASYNC_CACHE, a tmp dir here
    assert cache.root == tmp_path / "user-cache" / "oxen_async"
    first = await download_folder(repo, "main", "", tmp_path / "one", cache=cache)
    assert first.ok and first.from_cache == 0
    faults = oxen_repo.server.faults
    before = _counts(faults)
    second = await download_folder(repo, "main", "", tmp_path / "two", cache=cache)
    assert second.ok and second.from_cache == 20 and len(second.downloaded) == 20
    assert local_files(tmp_path / "two") == files
    if faults is not None:
        assert _counts(faults) == before
