"""The upload's stage units alone: planner verdicts, listing cache, keyed locks, state, scan."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from oxen_async.errors import NotFoundError
from oxen_async.hashing import hash_bytes
from oxen_async.models import MetadataEntry
from oxen_async.upload.listing import BranchListings
from oxen_async.upload.locks import KeyedLocks
from oxen_async.upload.planner import Planner, Verdict
from oxen_async.upload.scan import LocalFile, Problem, SkippedSymlinkDir, scan
from oxen_async.upload.state import RACY_NS, REMOVED, UploadState


def _local(root: Path, rel: str, data: bytes, *, age_ns: int = 2 * RACY_NS) -> LocalFile:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    old = path.stat().st_mtime_ns - age_ns  # old enough for the hash cache to keep it
    os.utime(path, ns=(old, old))
    st = path.stat()
    return LocalFile(rel, str(path), st.st_size, st.st_mtime_ns, st.st_ino)


@pytest.fixture
def state(tmp_path: Path) -> UploadState:
    db = UploadState(tmp_path / "state.sqlite")
    yield db  # type: ignore[misc]
    db.close()


def test_the_planner_gives_each_verdict(tmp_path: Path, state: UploadState) -> None:
    root = tmp_path / "data"
    same = _local(root, "same.txt", b"on the branch")
    changed = _local(root, "changed.txt", b"new bytes")
    new = _local(root, "new.txt", b"never seen")
    resumed = _local(root, "resumed.txt", b"staged before")
    state.start_workspace("ws")
    state.record_staged([("resumed.txt", hash_bytes(b"staged before"))])
    remote = {"same.txt": hash_bytes(b"on the branch"), "changed.txt": hash_bytes(b"old")}
    planner = Planner(state, large_threshold=1024, resumed=True)
    got = planner.verdicts([same, changed, new, resumed], remote)
    assert [v for v, _ in got] == [Verdict.UNCHANGED, Verdict.SEND, Verdict.SEND, Verdict.RESUMED]
    assert got[1][1] == hash_bytes(b"new bytes")  # compared, so hashed
    assert got[2][1] == ""  # nothing to compare with: pack hashes it as it reads
    assert state.confirmed(["resumed.txt"]) == {"resumed.txt"}


def test_a_compared_file_that_vanished_is_unreadable(tmp_path: Path, state: UploadState) -> None:
    gone = _local(tmp_path, "gone.txt", b"x")
    os.unlink(gone.abs_path)
    planner = Planner(state, large_threshold=1024, resumed=False)
    assert planner.verdicts([gone], {"gone.txt": "abc"}) == [(Verdict.UNREADABLE, "")]


def test_a_piece_plan_splits_small_large_and_failures(tmp_path: Path, state: UploadState) -> None:
    small = _local(tmp_path, "a.bin", b"s")
    large = _local(tmp_path, "b.bin", b"L" * 2048)
    bad = _local(tmp_path, "c\nd.bin", b"x")
    items = [small, large, bad, Problem("p", "cannot read"), SkippedSymlinkDir("link")]
    plan = Planner(state, large_threshold=1024, resumed=False).plan_piece(items, {})
    assert [j.rel_path for j in plan.small] == ["a.bin"]
    assert [j.rel_path for j in plan.large] == ["b.bin"]
    assert [f[0] for f in plan.failures] == ["c\nd.bin", "p"]
    assert plan.symlink_dirs == ["link"]
    assert (plan.seen, plan.bytes_seen) == (4, 1 + 2048 + 1)


async def test_the_listing_cache_asks_only_for_folders_the_parent_names() -> None:
    asked: list[str] = []
    tree = {"": [("a", True), ("f.txt", False)], "a": [("g.txt", False)]}

    async def entries(rel_dir: str) -> AsyncIterator[MetadataEntry]:
        asked.append(rel_dir)
        if rel_dir not in tree:
            raise NotFoundError("GET", "u", 404, "no")
        for name, is_dir in tree[rel_dir]:
            yield MetadataEntry(filename=name, hash=f"h-{name}", is_dir=is_dir)

    listings = BranchListings(entries, capacity=4)
    assert await listings.files("a") == {"g.txt": "h-g.txt"}
    assert await listings.files("") == {"f.txt": "h-f.txt"}
    assert await listings.files("new/deep/er") == {}  # the root does not name "new"
    assert await listings.files("a") == {"g.txt": "h-g.txt"}
    assert asked == ["", "a"]  # each once, nothing for the new folders
    assert await BranchListings(None, capacity=4).files("a") == {}


async def test_keyed_locks_serialise_a_key_and_forget_it_after() -> None:
    locks = KeyedLocks[str]()
    order: list[str] = []

    async def use(key: str, tag: str) -> None:
        async with locks.hold(key):
            order.append(f"{tag}+")
            await anyio.sleep(0.01)
            order.append(f"{tag}-")

    async with anyio.create_task_group() as tg:
        tg.start_soon(use, "k", "one")
        tg.start_soon(use, "k", "two")
    assert order in (["one+", "one-", "two+", "two-"], ["two+", "two-", "one+", "one-"])
    assert len(locks) == 0


def test_the_state_keeps_staged_rows_and_hashes(tmp_path: Path, state: UploadState) -> None:
    state.start_workspace("ws-1")
    assert state.get_meta("workspace_id") == "ws-1"
    state.record_staged([("a", "h1"), ("b", REMOVED)])
    assert state.staged_hashes(["a", "b", "c"]) == {"a": "h1", "b": REMOVED}
    f = _local(tmp_path, "x.txt", b"x")
    key = (f.rel_path, f.size, f.mtime_ns, f.inode)
    state.cache_hashes([(*key, "hx")])
    assert state.cached_hashes([key]) == {"x.txt": "hx"}
    assert state.cached_hashes([(f.rel_path, f.size + 1, f.mtime_ns, f.inode)]) == {}
    state.finish_workspace()
    assert state.get_meta("workspace_id") is None
    assert state.staged_hashes(["a"]) == {}


def test_a_racy_hash_is_not_cached(tmp_path: Path, state: UploadState) -> None:
    f = _local(tmp_path, "fresh.txt", b"x", age_ns=0)
    key = (f.rel_path, f.size, f.mtime_ns, f.inode)
    state.cache_hashes([(*key, "h")])
    assert state.cached_hashes([key]) == {}


def test_scan_walks_in_stable_pieces_and_reports_odd_entries(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.txt").write_bytes(b"b")
    (tmp_path / "a.txt").write_bytes(b"aa")
    (tmp_path / "sub" / "c.txt").write_bytes(b"c")
    (tmp_path / "skip").mkdir()
    (tmp_path / "skip" / "state.db").write_bytes(b"s")
    os.symlink(tmp_path / "sub", tmp_path / "dirlink")
    os.symlink(tmp_path / "missing", tmp_path / "broken")
    pieces = list(scan(str(tmp_path), frozenset({str(tmp_path / "skip")})))
    items = {item.rel_path: item for _, piece in pieces for item in piece}
    assert sorted(items) == ["a.txt", "b.txt", "broken", "dirlink", "sub/c.txt"]
    assert isinstance(items["dirlink"], SkippedSymlinkDir)
    assert isinstance(items["broken"], Problem)
    a = items["a.txt"]
    assert isinstance(a, LocalFile) and a.size == 2
    assert list(scan(str(tmp_path), frozenset({str(tmp_path / "skip")}))) == pieces
