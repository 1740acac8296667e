"""The bulk uploader end to end against the bundled server: what lands, what is skipped,
what is reported."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from oxen_async import ConfigError, OxenClient, RemoteRepo, UnauthorizedError
from oxen_async.upload import looplag
from oxen_async.upload.report import UploadProgress

from ._tree import AUTHOR, commit_count, remote_tree, sample_files, write_tree

MiB = 1024 * 1024


async def seed(repo: RemoteRepo) -> None:
    """Give the repository a first commit on main, as most real targets have."""
    await repo.files.upload("main", "", {"README.md": b"# seed\n"}, author=AUTHOR)


async def test_folder_lands_exactly_as_one_commit(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    await seed(repo)
    files = sample_files()
    files["big/large.bin"] = os.urandom(11 * MiB)  # over the gzip cap: chunked route
    write_tree(tmp_path / "src", files)
    before = await commit_count(repo)
    seen: list[int] = []

    def on_progress(p: UploadProgress) -> None:
        seen.append(p.files_done)

    report = await repo.upload_folder(
        str(tmp_path / "src"),
        dest="data/in",
        message="bulk",
        author=AUTHOR,
        state_dir=state_dir,
        batch_files=16,
        progress=on_progress,
    )
    assert report.ok, report.failed
    assert report.status == "committed"
    assert report.files_total == len(files) == report.files_uploaded
    assert report.large_files == 1
    assert report.files_total == (
        report.files_uploaded + report.files_unchanged + report.files_resumed + len(report.failed)
    )
    assert await commit_count(repo) == before + 1
    head = await repo.branches.get("main")
    assert head.commit_id == report.commit_id
    assert (await repo.commits.get(head.commit_id)).message == "bulk"
    remote = await remote_tree(repo, path="data/in")
    assert remote == {f"data/in/{k}": v for k, v in files.items()}
    assert seen and seen[-1] == len(files)
    again = await repo.upload_folder(
        str(tmp_path / "src"), dest="data/in", author=AUTHOR, state_dir=state_dir
    )
    assert again.status == "nothing_to_commit" and again.bytes_uploaded == 0
    assert again.files_unchanged == len(files)  # the large file too: its hash matched


async def test_rerun_sends_nothing_and_commits_nothing(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path, oxen_server: Any
) -> None:
    await seed(repo)
    src = tmp_path / "src"
    write_tree(src, sample_files(30))
    first = await repo.upload_folder(str(src), author=AUTHOR, state_dir=state_dir)
    assert first.status == "committed"
    commits = await commit_count(repo)
    # A fresh state dir: the skip must come from the branch tree, not from a local cache.
    for state in (state_dir, tmp_path.parent / "other-state"):
        before = oxen_server.faults.stats.file_bytes() if oxen_server.faults else None
        again = await repo.upload_folder(str(src), author=AUTHOR, state_dir=state)
        assert again.ok and again.status == "nothing_to_commit"
        assert again.commit_id is None
        assert again.files_unchanged == again.files_total == first.files_total
        assert again.bytes_uploaded == 0 and again.batches == 0
        if before is not None:
            assert oxen_server.faults.stats.file_bytes() == before
    assert await commit_count(repo) == commits


@pytest.mark.fake_only
async def test_new_folders_cost_no_listing_requests(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path, oxen_server: Any
) -> None:
    """The plan asks the server about a folder only when its parent's listing names it: forty
    new folders cost no request each, yet the folder the branch has is still compared."""
    await seed(repo)
    await repo.files.upload("main", "old", {"a.txt": b"kept\n"}, author=AUTHOR)
    files = {f"new/d{i:02d}/f.txt": b"%d" % i for i in range(40)}
    files["old/a.txt"] = b"kept\n"
    files["old/b.txt"] = b"added\n"
    write_tree(tmp_path / "src", files)
    listings = oxen_server.faults.stats.requests("dir_list")
    report = await repo.upload_folder(str(tmp_path / "src"), author=AUTHOR, state_dir=state_dir)
    assert report.ok and report.status == "committed"
    assert report.files_unchanged == 1 and report.files_uploaded == 41
    assert oxen_server.faults.stats.requests("dir_list") - listings == 2  # "" and "old"
    remote = await remote_tree(repo)
    assert remote == {**files, "README.md": b"# seed\n"}


async def test_changing_two_files_makes_one_commit_with_them(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    await seed(repo)
    files = sample_files(30)
    write_tree(tmp_path, files)
    await repo.upload_folder(str(tmp_path), author=AUTHOR, state_dir=state_dir)
    commits = await commit_count(repo)
    (tmp_path / "d1/sub 1/file_1.txt").write_bytes(b"changed one")
    (tmp_path / "new/added.txt").parent.mkdir()
    (tmp_path / "new/added.txt").write_bytes(b"brand new")
    report = await repo.upload_folder(str(tmp_path), author=AUTHOR, state_dir=state_dir)
    assert report.status == "committed"
    assert report.files_uploaded == 2
    assert report.files_unchanged == len(files) - 1
    assert await commit_count(repo) == commits + 1
    assert await repo.files.download("main", "d1/sub 1/file_1.txt") == b"changed one"
    assert await repo.files.download("main", "new/added.txt") == b"brand new"


async def test_empty_repository_gets_the_branch(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    files = sample_files(10)
    write_tree(tmp_path, files)
    report = await repo.upload_folder(str(tmp_path), author=AUTHOR, state_dir=state_dir)
    assert report.ok and report.status == "committed"
    assert await remote_tree(repo) == files


async def test_special_files_and_symlinks_are_reported(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    await seed(repo)
    write_tree(tmp_path, {"a.txt": b"a", "real/b.txt": b"b"})
    os.mkfifo(tmp_path / "pipe")
    os.symlink(tmp_path / "missing", tmp_path / "broken")
    os.symlink(tmp_path / "a.txt", tmp_path / "link-to-a.txt")
    os.symlink(tmp_path / "real", tmp_path / "link-to-dir")
    report = await repo.upload_folder(str(tmp_path), author=AUTHOR, state_dir=state_dir)
    assert report.status == "committed"
    assert not report.ok
    reasons = {f.path: f.reason for f in report.failed}
    assert set(reasons) == {"pipe", "broken"}
    assert "fifo" in reasons["pipe"] and "broken symlink" in reasons["broken"]
    assert report.skipped_symlink_dirs == ["link-to-dir"]
    assert report.files_total == 5  # a, b, link-to-a, pipe, broken
    tree = await remote_tree(repo)
    assert tree["link-to-a.txt"] == b"a"
    assert "link-to-dir/b.txt" not in tree


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p / "nope", "does not exist"),
        (lambda p: (p / "f.txt").write_bytes(b"x") and p / "f.txt", "is a file"),
    ],
)
async def test_bad_local_folder_is_refused(
    repo: RemoteRepo, tmp_path: Path, make: Any, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        await repo.upload_folder(str(make(tmp_path)), author=AUTHOR)


async def test_missing_branch_is_refused_before_sending(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    await seed(repo)
    write_tree(tmp_path, {"a.txt": b"a"})
    with pytest.raises(ConfigError, match="branch 'nope' does not exist"):
        await repo.upload_folder(str(tmp_path), branch="nope", author=AUTHOR, state_dir=state_dir)
    assert [b.name for b in await repo.branches.list()] == ["main"]
    assert await repo.workspaces.list() == []


async def test_wrong_token_is_refused(oxen_repo: Any, tmp_path: Path, state_dir: Path) -> None:
    if oxen_repo.server.token is None:
        pytest.skip("server runs without auth")
    write_tree(tmp_path, {"a.txt": b"a"})
    async with OxenClient(oxen_repo.server.url, token="not-the-token") as oxen:
        repo = oxen.repo(oxen_repo.namespace, oxen_repo.name)
        with pytest.raises(UnauthorizedError) as info:
            await repo.upload_folder(str(tmp_path), author=AUTHOR, state_dir=state_dir)
    assert "not-the-token" not in str(info.value)


async def test_event_loop_stays_responsive(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    write_tree(tmp_path, sample_files(200))
    stalled: list[str] = []

    def stall_once(progress: UploadProgress) -> None:
        # A callback that blocks the loop once, across at least one heartbeat's due moment and
        # 80 ms past it: the heartbeat must see it.
        if progress.phase == "uploading" and not stalled:
            stalled.append(progress.phase)
            time.sleep(looplag.INTERVAL + 0.08)

    report = await repo.upload_folder(
        str(tmp_path), author=AUTHOR, state_dir=state_dir, progress=stall_once
    )
    assert report.ok and stalled
    # The heartbeat ran while the upload did: it measured the stall (and no more than the
    # upload's own length); the figures themselves are a benchmark, not asserted.
    assert 70 <= report.loop_lag_max_ms <= 1000 * report.elapsed_s
    assert report.loop_lag_p99_ms <= report.loop_lag_max_ms


async def test_delete_missing_removes_what_the_folder_lost(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    await seed(repo)
    src = tmp_path / "src"
    files = sample_files(20)
    write_tree(src, files)
    await repo.upload_folder(str(src), dest="mirror", author=AUTHOR, state_dir=state_dir)
    (src / "d0/sub 0/file_0.txt").unlink()
    (src / "empty.txt").unlink()
    kept = await repo.upload_folder(str(src), dest="mirror", author=AUTHOR, state_dir=state_dir)
    assert kept.status == "nothing_to_commit"  # without the flag an upload never deletes
    commits = await commit_count(repo)
    report = await repo.upload_folder(
        str(src), dest="mirror", author=AUTHOR, state_dir=state_dir, delete_missing=True
    )
    assert report.ok and report.status == "committed"
    assert report.files_removed == 2 and report.files_uploaded == 0
    assert await commit_count(repo) == commits + 1
    tree = await remote_tree(repo, path="mirror")
    del files["d0/sub 0/file_0.txt"], files["empty.txt"]
    assert tree == {f"mirror/{k}": v for k, v in files.items()}
    assert await repo.files.download("main", "README.md") == b"# seed\n"  # outside dest: kept


async def test_destination_with_plus_and_percent(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    await seed(repo)
    write_tree(tmp_path / "src", {"x.txt": b"x", "sub/y.txt": b"y"})
    report = await repo.upload_folder(
        str(tmp_path / "src"), dest="c++/50% off", author=AUTHOR, state_dir=state_dir
    )
    assert report.ok, report.failed
    tree = await remote_tree(repo, path="c++/50% off")
    assert tree == {"c++/50% off/x.txt": b"x", "c++/50% off/sub/y.txt": b"y"}


async def test_delete_missing_into_a_new_destination(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    await seed(repo)
    write_tree(tmp_path / "src", {"x.txt": b"x"})
    report = await repo.upload_folder(
        str(tmp_path / "src"),
        dest="brand/new",
        delete_missing=True,
        author=AUTHOR,
        state_dir=state_dir,
    )
    assert report.ok and report.status == "committed" and report.files_removed == 0


async def test_undecodable_file_name_is_reported_and_json_still_works(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    await seed(repo)
    src = tmp_path / "src"
    write_tree(src, {"fine.txt": b"ok"})
    (src / os.fsdecode(b"bad\xff.txt")).write_bytes(b"x")
    report = await repo.upload_folder(str(src), author=AUTHOR, state_dir=state_dir)
    assert [f.path for f in report.failed] == ["bad\\xff.txt"]
    assert "UTF-8" in report.failed[0].reason
    assert b"bad\\\\xff.txt" in report.to_json()
    assert await remote_tree(repo) == {"README.md": b"# seed\n", "fine.txt": b"ok"}
