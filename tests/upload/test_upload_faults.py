"""The uploader under a misbehaving server (fault injection is ours only: fake_only)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from oxen_async import ConfigError, RemoteRepo
from oxen_async.hashing import hash_bytes

from ._tree import AUTHOR, commit_count, remote_tree, sample_files, write_tree

pytestmark = pytest.mark.fake_only

FILES_ROUTE = r"/workspaces/[^/]+/files"
MiB = 1024 * 1024


async def seed(repo: RemoteRepo) -> None:
    await repo.files.upload("main", "", {"README.md": b"# seed\n"}, author=AUTHOR)


async def test_a_tenth_of_batches_failing_loses_nothing(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path, oxen_server: Any
) -> None:
    await seed(repo)
    files = sample_files(300)
    write_tree(tmp_path, files)
    faults = oxen_server.faults
    busy = faults.fail_fraction(0.1, path=FILES_ROUTE, method="POST", status=503, seed=7)
    broken = faults.fail_fraction(0.05, path=FILES_ROUTE, method="POST", status=500, seed=8)
    mid_body = faults.drop_connection(2, path=FILES_ROUTE, method="POST", when="mid_body")
    after = faults.drop_connection(1, path=FILES_ROUTE, method="POST", when="after_headers")
    before = await commit_count(repo)
    report = await repo.upload_folder(
        str(tmp_path), author=AUTHOR, state_dir=state_dir, batch_files=8, concurrency=4
    )
    assert report.ok, report.failed
    assert report.files_uploaded == len(files)
    assert report.batch_retries > 0
    # Every kind of fault fired; each one cost a POST, and nothing more was sent.
    assert busy.hits > 0 and broken.hits > 0 and (mid_body.hits, after.hits) == (2, 1)
    stats = faults.stats.route("workspace_files_add")
    assert stats.statuses[503] == busy.hits and stats.statuses[500] == broken.hits
    faulted = busy.hits + broken.hits + mid_body.hits + after.hits
    assert stats.requests == report.batches + faulted
    assert await commit_count(repo) == before + 1
    tree = await remote_tree(repo)
    tree.pop("README.md")
    assert tree == files


async def test_maintenance_429_is_waited_out(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path, oxen_server: Any
) -> None:
    await seed(repo)
    write_tree(tmp_path, sample_files(10))
    rule = oxen_server.faults.fail_next(
        2, path=FILES_ROUTE, method="POST", status=429, retry_after=0.2
    )
    report = await repo.upload_folder(str(tmp_path), author=AUTHOR, state_dir=state_dir)
    assert report.ok and report.status == "committed"
    assert rule.hits == 2
    stats = oxen_server.faults.stats.route("workspace_files_add")
    assert (stats.statuses[429], stats.statuses[200]) == (2, report.batches)


async def test_a_refused_batch_is_split_not_failed_whole(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path, oxen_server: Any
) -> None:
    await seed(repo)
    files = sample_files(40)
    write_tree(tmp_path, files)
    rule = oxen_server.faults.fail_next(1, path=FILES_ROUTE, method="POST", status=400)
    report = await repo.upload_folder(str(tmp_path), author=AUTHOR, state_dir=state_dir)
    assert report.ok, report.failed
    assert report.files_uploaded == len(files)
    assert rule.hits == 1
    stats = oxen_server.faults.stats.route("workspace_files_add")
    assert stats.statuses[400] == 1 and stats.requests == report.batches + 1
    assert report.batches >= 2  # the refused batch went again as two halves


async def test_files_the_server_will_not_store_are_retried_then_reported(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path, oxen_server: Any
) -> None:
    await seed(repo)
    files = sample_files(40)
    write_tree(tmp_path, files)
    bad = ["d0/sub 0/file_0.txt", "empty.txt"]
    oxen_server.faults.fail_store(paths=bad)
    report = await repo.upload_folder(str(tmp_path), author=AUTHOR, state_dir=state_dir)
    assert report.status == "committed" and not report.ok
    assert [f.path for f in report.failed] == sorted(bad)
    assert all("not staged" in f.reason for f in report.failed)
    assert report.file_retries >= 2 * (4 - 1)
    assert report.files_uploaded == len(files) - len(bad)
    tree = await remote_tree(repo)
    for path in bad:
        assert path not in tree


async def test_killed_mid_upload_resumes_without_resending(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path, oxen_server: Any
) -> None:
    await seed(repo)
    files = {f"part{i // 100}/f{i}.txt": os.urandom(2048) for i in range(600)}
    src = tmp_path / "src"
    write_tree(src, files)
    stats = oxen_server.faults.stats
    oxen_server.faults.delay(0.15, path=FILES_ROUTE, method="POST")  # slow enough to kill midway
    before_commits = await commit_count(repo)
    cmd = [
        sys.executable,
        "-c",
        "import asyncio, sys\n"
        "from oxen_async import OxenClient, Author\n"
        "async def main():\n"
        "    async with OxenClient(sys.argv[1], token=sys.argv[2] or None) as oxen:\n"
        "        repo = oxen.repo(sys.argv[3])\n"
        "        await repo.upload_folder(sys.argv[4], author=Author('A', 'a@x.org'),\n"
        "            state_dir=sys.argv[5], batch_files=20, concurrency=2)\n"
        "asyncio.run(main())\n",
        oxen_server.url,
        oxen_server.token or "",
        repo.full_name,
        str(src),
        str(state_dir),
    ]
    base = _parts(stats)
    proc = subprocess.Popen(cmd)
    deadline = time.monotonic() + 60
    while _parts(stats) - base < 150 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first_parts = _parts(stats) - base
    assert 0 < first_parts < len(files), "the kill should land mid-upload"
    assert await commit_count(repo) == before_commits
    oxen_server.faults.reset()

    mid = _parts(stats)
    report = await repo.upload_folder(str(src), author=AUTHOR, state_dir=state_dir)
    assert report.ok and report.status == "committed"
    assert report.files_resumed > 0
    assert report.files_resumed + report.files_uploaded == len(files)
    # What the first run got staged is not sent again (requests cut mid-flight may be).
    assert _parts(stats) - mid <= len(files) - report.files_resumed
    assert await commit_count(repo) == before_commits + 1
    tree = await remote_tree(repo)
    tree.pop("README.md")
    assert tree == files


def _parts(stats: Any) -> int:
    return sum(s.file_parts for s in stats.snapshot().values())


async def test_file_changing_during_upload_is_never_committed_with_other_bytes(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path, oxen_server: Any
) -> None:
    await seed(repo)
    big = tmp_path / "big.bin"
    original = os.urandom(12 * MiB)
    big.write_bytes(original)
    (tmp_path / "small.txt").write_bytes(b"small")
    # Parts (0.65) or chunks (0.53.4), whichever route the server has.
    oxen_server.faults.delay(
        0.5, path=r"/versions/(uploads/[^/]+/parts/\d+|[^/]+/chunks)$", method="PUT"
    )

    async def scribble() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
            ("chunk" in name or "upload_part" in name) and s.requests
            for name, s in oxen_server.faults.stats.snapshot().items()
        ):
            await asyncio.sleep(0.02)
        with big.open("r+b") as f:
            f.seek(5)
            f.write(b"CHANGED")

    task = asyncio.create_task(scribble())
    report = await repo.upload_folder(str(tmp_path), author=AUTHOR, state_dir=state_dir)
    await task
    failed = {f.path: f.reason for f in report.failed}
    assert report.status == "committed"
    tree = await remote_tree(repo)
    assert tree["small.txt"] == b"small"
    if "big.bin" in failed:
        # Seen by a read after the change (every chunk's, and the legacy route's last check).
        assert "changed" in failed["big.bin"]
        assert "big.bin" not in tree
    else:
        # Parts: every part was read before the change (they go side by side, and the last
        # one completes the file), so what landed is the file as it was hashed, in full.
        assert tree["big.bin"] == original
    # A rerun picks up the file as it is now, and what lands matches it byte for byte.
    again = await repo.upload_folder(str(tmp_path), author=AUTHOR, state_dir=state_dir)
    assert again.ok
    assert hash_bytes(await repo.files.download("main", "big.bin")) == hash_bytes(big.read_bytes())


async def test_a_second_upload_of_the_same_folder_is_refused_while_one_runs(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path, oxen_server: Any
) -> None:
    await seed(repo)
    src = tmp_path / "src"
    write_tree(src, sample_files(20))
    oxen_server.faults.delay(0.5, path=FILES_ROUTE, method="POST")
    first = asyncio.create_task(repo.upload_folder(str(src), author=AUTHOR, state_dir=state_dir))
    while not oxen_server.faults.stats.requests("workspace_files_add"):
        await asyncio.sleep(0.02)
    with pytest.raises(ConfigError, match="another upload"):
        await repo.upload_folder(str(src), author=AUTHOR, state_dir=state_dir)
    report = await first
    assert report.ok and report.status == "committed"


MERGE_ROUTE = r"/workspaces/[^/]+/merge/"


async def _fail_merge(repo: RemoteRepo, src: Path, state_dir: Path, oxen_server: Any) -> None:
    """An upload whose merge keeps failing: it reports failure and leaves a workspace."""
    rule = oxen_server.faults.fail_next(10, path=MERGE_ROUTE, method="POST", status=503)
    report = await repo.upload_folder(str(src), author=AUTHOR, state_dir=state_dir)
    assert report.status == "failed" and report.commit_id is None
    assert "503" in (report.error or "")
    # The session never repeats a merge after a 503; the upload's merge step tries 3 in all.
    assert rule.hits == 3
    oxen_server.faults.reset()


async def test_a_resumed_run_does_not_commit_what_the_folder_dropped(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path, oxen_server: Any
) -> None:
    await seed(repo)
    src = tmp_path / "src"
    write_tree(src, {"keep.txt": b"keep", "oops.txt": b"secret", "back.txt": b"changed"})
    await _fail_merge(repo, src, state_dir, oxen_server)
    (src / "oops.txt").unlink()  # deleted before the rerun
    (src / "back.txt").unlink()
    report = await repo.upload_folder(str(src), author=AUTHOR, state_dir=state_dir)
    assert report.ok and report.status == "committed"
    assert report.files_resumed == 1  # keep.txt, already staged by the first run
    tree = await remote_tree(repo)
    assert tree == {"README.md": b"# seed\n", "keep.txt": b"keep"}


async def test_a_stale_workspace_is_dropped_when_the_branch_moved(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path, oxen_server: Any
) -> None:
    await seed(repo)
    src = tmp_path / "src"
    write_tree(src, {"README.md": b"mine", "a.txt": b"a"})
    await _fail_merge(repo, src, state_dir, oxen_server)
    # Someone else changes the same file on the branch meanwhile.
    await repo.files.upload("main", "", {"README.md": b"theirs"}, author=AUTHOR)
    report = await repo.upload_folder(str(src), author=AUTHOR, state_dir=state_dir)
    assert report.ok and report.status == "committed"
    assert report.files_resumed == 0  # the old workspace was based on an older head
    assert await remote_tree(repo) == {"README.md": b"mine", "a.txt": b"a"}
    assert await repo.workspaces.list() == []
