"""Reruns skip whole directory pieces the state knows in sync with the branch head: no listing,
no hash; and only while that holds (a changed file, a replaced file, a commit by someone else).

Listings and hashes are counted in the client (so these run against either server); the
bundled server's own request counter is checked too where it runs.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from oxen_async import RemoteRepo
from oxen_async.api.dirs import Dirs
from oxen_async.upload import planner

from ._tree import AUTHOR, remote_tree, sample_files, write_tree

AGE_NS = 10 * 10**9  # older than the racy window: the fingerprints may be trusted


def age(root: Path, by_ns: int = AGE_NS) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            st = path.stat()
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - by_ns))


@pytest.fixture
def listed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The branch directories the uploader listed (a counting wrapper, nothing changed)."""
    asked: list[str] = []
    hashes = Dirs.hashes

    def counted(self: Dirs, revision: str, path: str = "", **kw: Any) -> AsyncIterator[Any]:
        asked.append(path)
        return hashes(self, revision, path, **kw)

    monkeypatch.setattr(Dirs, "hashes", counted)
    return asked


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files the planner read to hash them."""
    paths: list[str] = []
    hash_file = planner.hash_file_sync

    def counted(path: str | os.PathLike[str]) -> tuple[str, int]:
        paths.append(str(path))
        return hash_file(path)

    monkeypatch.setattr(planner, "hash_file_sync", counted)
    return paths


def dir_requests(server: Any) -> int | None:
    return server.faults.stats.requests("dir_list") if server.faults else None


async def uploaded(repo: RemoteRepo, src: Path, state_dir: Path) -> Any:
    report = await repo.upload_folder(str(src), author=AUTHOR, state_dir=state_dir)
    assert report.ok, report.failed
    return report


@pytest.fixture
async def synced(repo: RemoteRepo, tmp_path: Path, state_dir: Path) -> dict[str, bytes]:
    """A folder uploaded (files old enough to fingerprint) onto a seeded branch."""
    await repo.files.upload("main", "", {"README.md": b"# seed\n"}, author=AUTHOR)
    files = sample_files(30)
    write_tree(tmp_path / "src", files)
    age(tmp_path / "src")
    first = await uploaded(repo, tmp_path / "src", state_dir)
    assert first.status == "committed" and first.files_uploaded == len(files)
    return files


async def test_an_unchanged_rerun_lists_and_hashes_nothing(
    repo: RemoteRepo,
    tmp_path: Path,
    state_dir: Path,
    synced: dict[str, bytes],
    listed: list[str],
    hashed: list[str],
    oxen_server: Any,
) -> None:
    for _ in range(2):  # the pieces the first rerun skipped stay known for the next
        listed.clear()
        before = dir_requests(oxen_server)
        again = await uploaded(repo, tmp_path / "src", state_dir)
        assert again.status == "nothing_to_commit"
        assert again.files_unchanged == again.files_total == len(synced)
        assert listed == [] and hashed == []
        if before is not None:
            assert dir_requests(oxen_server) == before


async def test_a_changed_file_costs_its_folder_only(
    repo: RemoteRepo,
    tmp_path: Path,
    state_dir: Path,
    synced: dict[str, bytes],
    listed: list[str],
    hashed: list[str],
) -> None:
    listed.clear()
    changed = tmp_path / "src" / "d1" / "sub 1" / "file_1.txt"
    changed.write_bytes(b"changed bytes")
    age(changed.parent, by_ns=2 * AGE_NS)  # the whole folder: its fingerprint changes anyway
    report = await uploaded(repo, tmp_path / "src", state_dir)
    assert report.status == "committed" and report.files_uploaded == 1
    assert report.files_unchanged == len(synced) - 1
    assert listed == ["", "d1", "d1/sub 1"]  # the folder, and its parents to find it
    assert await repo.files.download("main", "d1/sub 1/file_1.txt") == b"changed bytes"
    listed.clear()
    hashed.clear()
    again = await uploaded(repo, tmp_path / "src", state_dir)
    assert again.status == "nothing_to_commit" and listed == [] and hashed == []


async def test_a_file_replaced_with_its_old_size_and_mtime_is_still_compared(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path, synced: dict[str, bytes], listed: list[str]
) -> None:
    listed.clear()
    target = tmp_path / "src" / "d2" / "sub 2" / "file_2.txt"
    old = target.stat()
    data = synced["d2/sub 2/file_2.txt"]
    swapped = bytes(reversed(data))
    assert len(swapped) == len(data) and swapped != data
    fresh = target.with_name("new.tmp")
    fresh.write_bytes(swapped)
    os.utime(fresh, ns=(old.st_atime_ns, old.st_mtime_ns))
    os.replace(fresh, target)  # a new inode: the only stat field that tells
    assert target.stat().st_ino != old.st_ino
    report = await uploaded(repo, tmp_path / "src", state_dir)
    assert report.status == "committed" and report.files_uploaded == 1
    assert "d2/sub 2" in listed
    assert await repo.files.download("main", "d2/sub 2/file_2.txt") == swapped


async def test_a_commit_by_someone_else_turns_the_skip_off(
    repo: RemoteRepo,
    tmp_path: Path,
    state_dir: Path,
    synced: dict[str, bytes],
    listed: list[str],
) -> None:
    listed.clear()
    # Someone changes one of our files on the branch: the rerun must put ours back.
    await repo.files.upload("main", "d0/sub 0", {"file_0.txt": b"theirs"}, author=AUTHOR)
    report = await uploaded(repo, tmp_path / "src", state_dir)
    assert report.status == "committed" and report.files_uploaded == 1
    assert "d0/sub 0" in listed and len(listed) > 3  # every folder listed again
    remote = await remote_tree(repo)
    assert remote == {**synced, "README.md": b"# seed\n"}
    listed.clear()
    again = await uploaded(repo, tmp_path / "src", state_dir)
    assert again.status == "nothing_to_commit" and listed == []


async def test_young_files_are_not_fingerprinted(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path, listed: list[str]
) -> None:
    """Files written within the racy window could change unseen: their folders are listed
    on every rerun until they are old enough."""
    await repo.files.upload("main", "", {"README.md": b"# seed\n"}, author=AUTHOR)
    write_tree(tmp_path / "src", {"fresh/a.txt": b"a", "old/b.txt": b"b"})
    age(tmp_path / "src" / "old")
    await uploaded(repo, tmp_path / "src", state_dir)
    listed.clear()
    again = await uploaded(repo, tmp_path / "src", state_dir)
    assert again.status == "nothing_to_commit" and again.files_unchanged == 2
    assert listed == ["", "fresh"]
