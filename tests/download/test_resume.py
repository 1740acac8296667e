"""A download killed mid-way (SIGKILL) leaves only whole, verified files; the next run skips
them and fetches the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from oxen_async import RemoteRepo
from oxen_async.download import download_folder
from oxen_async.testing import FaultController, RepoHandle

from .conftest import commit, local_files, strays

_SCRIPT = """
import asyncio, sys
import oxen_async.download.engine as engine
from oxen_async import OxenClient
engine.BATCH_FILES = 2  # many small requests, so the kill lands between and inside them
url, token, repo, target = sys.argv[1:5]
async def main():
    async with OxenClient(url, token=token or None) as oxen:
        await oxen.repo(repo).download_folder("main", "", target, concurrency=1)
asyncio.run(main())
"""


@pytest.mark.fake_only
async def test_a_killed_download_resumes_where_it_stopped(
    repo: RemoteRepo, oxen_repo: RepoHandle, oxen_faults: FaultController, tmp_path: Path
) -> None:
    files = {f"d{i % 3}/f{i:02d}.txt": b"payload %d " % i * 300 for i in range(20)}
    await commit(repo, files)
    target = tmp_path / "out"
    oxen_faults.delay(0.25, route="versions_download")  # 10 batches: 2.5 s in all
    server = oxen_repo.server
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _SCRIPT,
            server.url,
            server.token or "",
            f"{oxen_repo.namespace}/{oxen_repo.name}",
            str(target),
        ],
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while len(local_files(target) if target.exists() else {}) < 4:
            assert child.poll() is None, "the download ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    landed = local_files(target)
    assert 4 <= len(landed) < len(files)
    assert all(files[path] == data for path, data in landed.items())  # whole files only

    oxen_faults.reset()
    report = await download_folder(repo, "main", "", target)
    assert report.ok, report.failed
    assert sorted(report.skipped) == sorted(landed)
    assert sorted(report.downloaded) == sorted(set(files) - set(landed))
    assert local_files(target) == files
    assert strays(target) == []  # what the killed process left is gone too


async def test_leftovers_of_a_dead_process_are_swept_and_live_ones_kept(
    repo: RemoteRepo, tmp_path: Path
) -> None:
    await commit(repo, {"sub/a.txt": b"a"})
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / "sub").mkdir()
    dead = tmp_path / "sub" / f".oxdl-{gone.pid}-0000.tmp"
    live = tmp_path / "sub" / f".oxdl-{os.getpid()}-0000.tmp"
    dead.write_bytes(b"half")
    live.write_bytes(b"in use")
    report = await download_folder(repo, "main", "", tmp_path)
    assert report.ok
    assert not dead.exists()
    assert live.read_bytes() == b"in use"
