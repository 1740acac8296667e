"""Concurrency is a ceiling: an upload of three files with ``concurrency=256`` starts a
handful of tasks, not 256 idle senders (issue 9, item 1)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from oxen_async import RemoteRepo
from oxen_async.upload.report import UploadProgress

from ._tree import AUTHOR, remote_tree, write_tree

# The pipeline's fixed stages (scan, planners, packers, large senders, loop-lag monitor, ...)
# are about twenty tasks; 256 senders started up front would be ten times that.
FEW_TASKS = 48


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
