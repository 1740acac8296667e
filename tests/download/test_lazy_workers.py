"""Concurrency is a ceiling: a download of three files with ``concurrency=256`` starts a
handful of tasks, not 256 idle workers (issue 9, item 1)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from oxen_async import RemoteRepo
from oxen_async.download import DownloadReport

from .conftest import commit, local_files

FEW_TASKS = 16


async def _peak_tasks(run: asyncio.Task[DownloadReport]) -> int:
    """The most tasks alive beside the caller's while ``run`` runs (checked at every turn of
    the loop)."""
    baseline = len(asyncio.all_tasks()) - 1  # ``run`` itself
    peak = 0
    while not run.done():
        peak = max(peak, len(asyncio.all_tasks()) - baseline)
        await asyncio.sleep(0)
    return peak


async def test_three_files_at_concurrency_256_start_a_handful_of_tasks(
    repo: RemoteRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"f{i}.txt": b"file %d\n" % i for i in range(3)}
    await commit(repo, files)
    monkeypatch.setattr("oxen_async.download.engine.BATCH_FILES", 1)  # three jobs
    run = asyncio.create_task(repo.download_folder("main", "", tmp_path, concurrency=256))
    peak = await _peak_tasks(run)
    report = run.result()
    assert report.ok, report.failed
    assert local_files(tmp_path) == files
    assert 0 < peak <= FEW_TASKS
