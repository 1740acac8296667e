"""Paths of the same content share one read, but each gets its own outcome: one that cannot be
written locally fails alone, and the report says so, while the others land (and a cache that
cannot be written fails no file). Every route: a batch member landed whole or streamed, a
mid-size read, a large file's ranges."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from oxen_async import RemoteRepo
from oxen_async.download import ContentCache, download_folder

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


@pytest.mark.parametrize("route", list(ROUTES))
async def test_a_path_that_cannot_be_written_fails_alone(
    repo: RemoteRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, route: str
) -> None:
    size, lowered = ROUTES[route]
    for name, value in lowered.items():
        monkeypatch.setattr(name, value)
    same = os.urandom(size)
    files = {"a/c.bin": same, "b/c.bin": same, "z/c.bin": same, "other.txt": b"other\n"}
    await commit(repo, files)
    target = tmp_path / "out"
    target.mkdir()
    (target / "a").write_bytes(b"a file where the folder a/ would go\n")  # the first path
    report = await download_folder(repo, "main", "", target)
    assert list(report.failed) == ["a/c.bin"]
    assert _blocked_by(report.failed["a/c.bin"], target / "a")
    assert sorted(report.downloaded) == ["b/c.bin", "other.txt", "z/c.bin"]
    assert report.bytes_downloaded == 2 * size + len(b"other\n")
    got = local_files(target)
    assert got.pop("a") == b"a file where the folder a/ would go\n"
    assert got == {p: d for p, d in files.items() if p != "a/c.bin"}
    assert strays(target) == []
    again = await download_folder(repo, "main", "", target)  # a rerun skips what landed
    assert sorted(again.skipped) == ["b/c.bin", "other.txt", "z/c.bin"]
    assert list(again.failed) == ["a/c.bin"] and again.downloaded == []


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
