"""Paths of the same content share one read, but each gets its own outcome: one that cannot be
written locally fails alone, and the report says so, while the others land (and a cache that
cannot be written fails no file). Every route: a batch member landed whole or streamed, a
mid-size read, a large file's ranges."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from oxen_async import RemoteRepo
from oxen_async.download import ContentCache, download_folder, engine, ranged
from oxen_async.download.engine import CHECK_GROUP

from .conftest import commit, local_files, strays

ROUTES = {
    # route: (content size, what to lower so that it takes that route)
    "batch member, whole": (100, {}),
    # Inflated 512 bytes a call, a 4 KiB member never sits whole in one: it is streamed.
    "batch member, streamed": (4096, {"oxen_async.download.untar.INFLATE_PIECE": 512}),
    "mid-size read": (200 * 1024, {}),
    "large file by ranges": (
        300 * 1024,
        {
            "oxen_async.download.engine.LARGE_FILE_BYTES": 128 * 1024,
            "oxen_async.download.ranged.RANGE_BYTES": 64 * 1024,
        },
    ),
}


def _blocked_by(why: str, blocker: Path) -> bool:
    """The system's own words for a file where a folder should be (which words depends on
    the call that met it: open or mkdir)."""
    return ("Not a directory" in why or "File exists" in why) and str(blocker) in why


@pytest.mark.parametrize("blocked", ["a", "b"])  # the first path, or one in the middle
@pytest.mark.parametrize("route", list(ROUTES))
async def test_a_path_that_cannot_be_written_fails_alone(
    repo: RemoteRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, route: str, blocked: str
) -> None:
    size, lowered = ROUTES[route]
    for name, value in lowered.items():
        monkeypatch.setattr(name, value)
    same = os.urandom(size)
    files = {"a/c.bin": same, "b/c.bin": same, "z/c.bin": same, "other.txt": b"other\n"}
    await commit(repo, files)
    target = tmp_path / "out"
    target.mkdir()
    (target / blocked).write_bytes(b"a file where a folder would go\n")
    failing = f"{blocked}/c.bin"
    report = await download_folder(repo, "main", "", target)
    assert list(report.failed) == [failing]
    assert _blocked_by(report.failed[failing], target / blocked)
    landed = sorted(p for p in files if p != failing)
    assert sorted(report.downloaded) == landed
    assert report.bytes_downloaded == 2 * size + len(b"other\n")
    got = local_files(target)
    assert got.pop(blocked) == b"a file where a folder would go\n"
    assert got == {p: files[p] for p in landed}
    assert strays(target) == []
    again = await download_folder(repo, "main", "", target)  # a rerun skips what landed
    assert sorted(again.skipped) == landed
    assert list(again.failed) == [failing] and again.downloaded == []


async def test_from_a_warm_cache_a_path_that_cannot_be_written_fails_alone(
    repo: RemoteRepo, tmp_path: Path
) -> None:
    same = os.urandom(5000)
    files = {"a/c.bin": same, "b/c.bin": same, "other.txt": b"other\n"}
    await commit(repo, files)
    cache = ContentCache(tmp_path / "cache")
    warm = await download_folder(repo, "main", "", tmp_path / "first", cache=cache)
    assert warm.ok, warm.failed
    target = tmp_path / "out"
    target.mkdir()
    (target / "a").write_bytes(b"x")
    report = await download_folder(repo, "main", "", target, cache=cache)
    assert list(report.failed) == ["a/c.bin"]
    assert _blocked_by(report.failed["a/c.bin"], target / "a")
    assert sorted(report.downloaded) == ["b/c.bin", "other.txt"]
    assert report.from_cache == 2
    assert {p: d for p, d in local_files(target).items() if p != "a"} == {
        "b/c.bin": same,
        "other.txt": b"other\n",
    }


async def test_a_path_that_joins_while_the_first_cannot_be_written_lands(
    repo: RemoteRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large file's temporary goes beside its first path; z/ joins the read (two check groups
    later) while that is being tried and refused: z/ is tried next, lands and says so."""
    monkeypatch.setattr("oxen_async.download.engine.LARGE_FILE_BYTES", 128 * 1024)
    monkeypatch.setattr("oxen_async.download.ranged.RANGE_BYTES", 64 * 1024)
    same = os.urandom(300 * 1024)
    files = {"a/big.bin": same, "z/big.bin": same}
    files.update({f"m/f{i:03d}.txt": b"%d\n" % i for i in range(2 * CHECK_GROUP)})
    await commit(repo, files)
    target = tmp_path / "out"
    target.mkdir()
    (target / "a").write_bytes(b"x")
    joined = threading.Event()
    real_create, real_unsealed = ranged._create, engine._Run.unsealed

    def create(targets: Any, size: int) -> Any:
        if [p for p, _ in targets] == ["a/big.bin"]:
            assert joined.wait(30), "z/big.bin never joined the read"
        return real_create(targets, size)

    def unsealed(run: Any, content_id: str) -> Any:
        blob = real_unsealed(run, content_id)
        if blob is not None:
            joined.set()  # z/ is added to it before the loop runs anything else
        return blob

    monkeypatch.setattr(ranged, "_create", create)
    monkeypatch.setattr(engine._Run, "unsealed", unsealed)
    report = await download_folder(repo, "main", "", target)
    assert joined.is_set()
    assert list(report.failed) == ["a/big.bin"]
    assert "z/big.bin" in report.downloaded
    assert (target / "z" / "big.bin").read_bytes() == same
    assert strays(target) == []


async def test_every_path_of_a_content_fails_when_none_can_be_written(
    repo: RemoteRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("oxen_async.download.engine.LARGE_FILE_BYTES", 128 * 1024)
    monkeypatch.setattr("oxen_async.download.ranged.RANGE_BYTES", 64 * 1024)
    same = os.urandom(300 * 1024)
    await commit(repo, {"a/c.bin": same, "b/c.bin": same, "ok.txt": b"ok\n"})
    target = tmp_path / "out"
    target.mkdir()
    (target / "a").write_bytes(b"x")
    (target / "b").write_bytes(b"y")
    report = await download_folder(repo, "main", "", target)
    assert sorted(report.failed) == ["a/c.bin", "b/c.bin"]
    assert _blocked_by(report.failed["a/c.bin"], target / "a")
    assert _blocked_by(report.failed["b/c.bin"], target / "b")
    assert report.downloaded == ["ok.txt"]
    assert strays(target) == []


async def test_a_cache_that_cannot_be_written_fails_no_file(
    repo: RemoteRepo, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = {"s/a.txt": b"small\n", "m/b.bin": os.urandom(200 * 1024)}
    await commit(repo, files)
    cache_root = tmp_path / "cache"
    cache_root.mkdir()
    (cache_root / "tmp").write_bytes(b"a file where the cache keeps its temporaries")
    with caplog.at_level(logging.WARNING, logger="oxen_async"):
        report = await download_folder(
            repo, "main", "", tmp_path / "out", cache=ContentCache(cache_root)
        )
    assert report.ok, report.failed
    assert local_files(tmp_path / "out") == files
    kept = [r.getMessage() for r in caplog.records if "could not keep" in r.getMessage()]
    assert len(kept) == 2  # both offers were refused, and said so
