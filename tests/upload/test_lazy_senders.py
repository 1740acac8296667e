"""Concurrency is a ceiling: an upload of three files with ``concurrency=256`` starts a
handful of tasks, not 256 idle senders (issue 9, item 1); and a batch's retries count the
session's."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from oxen_async import OxenClient, RemoteRepo, RetryPolicy
from oxen_async.testing import FaultController
from oxen_async.upload.report import UploadProgress

from ._tree import AUTHOR, remote_tree, write_tree

# The pipeline's fixed stages (scan, planners, packers, large senders, loop-lag monitor, ...)
# are about twenty tasks; 256 senders started up front would be ten times that.
FEW_TASKS = 48
ATTEMPTS = 3


async def test_three_files_at_concurrency_256_start_a_handful_of_tasks(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    files = {f"f{i}.txt": b"file %d\n" % i for i in range(3)}
    write_tree(tmp_path / "src", files)
    baseline = len(asyncio.all_tasks())
    peak = [0]

    def on_progress(_: UploadProgress) -> None:  # called on the loop, while the stages run
        peak[0] = max(peak[0], len(asyncio.all_tasks()) - baseline)

    report = await repo.upload_folder(
        str(tmp_path / "src"),
        author=AUTHOR,
        state_dir=state_dir,
        concurrency=256,
        batch_files=1,  # three batches: three senders at most
        progress=on_progress,
    )
    assert report.ok, report.failed
    assert report.files_uploaded == 3
    assert await remote_tree(repo) == files
    assert 0 < peak[0] <= FEW_TASKS


@pytest.mark.fake_only
async def test_a_batch_is_posted_at_most_attempts_times_in_all(
    oxen_repo: Any, oxen_faults: FaultController, tmp_path: Path, state_dir: Path
) -> None:
    """A 500 (the sender's own retry), then every try dropped before an answer (the
    session's retries, the staging POST being safe to repeat): ATTEMPTS POSTs in all."""
    server = oxen_repo.server
    fast = RetryPolicy(attempts=ATTEMPTS, base_delay=0.001, max_delay=0.005, budget=10.0)
    write_tree(tmp_path / "src", {"a.txt": b"a\n"})
    async with OxenClient(server.url, token=server.token, retry=fast) as oxen:
        repo = oxen.repo(oxen_repo.namespace, oxen_repo.name)
        oxen_faults.fail_next(1, route="workspace_files_add", status=500)
        oxen_faults.drop_connection(100, route="workspace_files_add", when="mid_body")
        report = await repo.upload_folder(str(tmp_path / "src"), author=AUTHOR, state_dir=state_dir)
    stats = oxen_faults.stats.route("workspace_files_add")
    assert stats.requests == stats.faults_injected == ATTEMPTS
    assert not report.ok
