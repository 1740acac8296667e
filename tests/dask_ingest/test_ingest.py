"""oxen_async.dask.ingest on a LocalCluster of 2 worker processes: one commit, every file, even
when a worker process dies mid-run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest

from oxen_async import RemoteRepo
from oxen_async.errors import ConfigError
from oxen_async.hashing import hash_bytes
from oxen_async.upload.report import UploadReport

from ._tree import AUTHOR, commit_count, many_files, tree_ids, write_tree

pytest.importorskip("distributed")

from oxen_async.dask import ingest

FILES = 3000


async def _seed(repo: RemoteRepo, tmp_path: Path) -> None:
    write_tree(tmp_path / "seed", {"seed.txt": b"seed"})
    report = await repo.upload_folder(tmp_path / "seed", author=AUTHOR, state_dir=tmp_path / "s0")
    assert report.ok


def _run(client: Any, oxen_repo: Any, source: Any, state_dir: Path, **options: Any) -> Any:
    """ingest in a worker thread (it runs its own event loops), as a script would call it."""
    return anyio.to_thread.run_sync(
        lambda: ingest(
            client,
            source,
            f"{oxen_repo.namespace}/{oxen_repo.name}",
            host=oxen_repo.server.url,
            token=oxen_repo.server.token,
            author=AUTHOR,
            state_dir=state_dir,
            **options,
        )
    )


def _assert_accounts(report: UploadReport, files: int) -> None:
    assert report.status == "committed", report.error
    assert report.ok and report.error is None
    assert report.files_total == files
    assert report.files_uploaded + report.files_resumed == files
    assert report.files_unchanged == report.files_pending == report.files_failed == 0


async def test_two_workers_upload_one_commit(
    dask_client: Any, oxen_repo: Any, repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    await _seed(repo, tmp_path)
    files = many_files(FILES)
    write_tree(tmp_path / "src", files)
    before = await commit_count(repo)
    report = await _run(dask_client, oxen_repo, [(tmp_path / "src", "data")], state_dir)
    _assert_accounts(report, FILES)
    assert report.files_uploaded == FILES and report.dest == "data"
    assert await commit_count(repo) == before + 1
    assert (await repo.branches.get("main")).commit_id == report.commit_id
    ids = await tree_ids(repo, "main")
    assert ids == {"seed.txt": hash_bytes(b"seed")} | {
        f"data/{p}": hash_bytes(d) for p, d in files.items()
    }
    # Both worker processes took part (each shard ran where Dask put it).
    assert len(dask_client.run(os.getpid)) == 2
    # Run again unchanged: nothing sent, nothing committed, the workspace discarded.
    again = await _run(dask_client, oxen_repo, [(tmp_path / "src", "data")], state_dir)
    assert again.status == "nothing_to_commit", again.error
    assert again.files_unchanged == FILES and again.files_uploaded == 0
    assert await commit_count(repo) == before + 1
    assert await repo.workspaces.list() == []


def _staged_rows(state_dir: Path) -> list[int]:
    """Rows staged so far in each shard's state (read beside the writers: SQLite WAL)."""
    counts = []
    for db in state_dir.glob("*.sqlite"):
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            try:
                counts.append(con.execute("SELECT count(*) FROM staged").fetchone()[0])
            except sqlite3.OperationalError:  # the table is not made yet
                counts.append(0)
    return counts


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)  # polling an event, not standing in for one


async def test_a_worker_killed_mid_run_loses_nothing(
    dask_client: Any, oxen_repo: Any, repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    await _seed(repo, tmp_path)
    files = many_files(FILES)
    write_tree(tmp_path / "src", files)
    faults = oxen_repo.server.faults
    slow = None
    if faults is not None:  # the bundled server is fast: slow each batch down
        slow = faults.delay(0.05, route="workspace_files_add")
    before = await commit_count(repo)
    # One shard per worker, small batches two at a time: each shard takes many requests.
    job = _run(
        dask_client, oxen_repo, tmp_path / "src", state_dir, shards=2, batch_files=50, concurrency=2
    )
    victim: list[int] = []

    def kill_a_busy_worker() -> None:
        # The event: both shards have staged files, and neither is done.
        def both_staging() -> bool:
            rows = _staged_rows(state_dir)
            return len(rows) == 2 and min(rows) > 0

        _wait_for(both_staging, "both shards staging")
        busy = [addr for addr, keys in dask_client.processing().items() if keys]
        assert busy, "no worker is running a shard"
        pid = dask_client.run(os.getpid)[busy[0]]
        os.kill(pid, signal.SIGKILL)
        victim.append(pid)

    async with anyio.create_task_group() as tg:
        tg.start_soon(anyio.to_thread.run_sync, kill_a_busy_worker)
        report = await job
    (pid,) = victim
    assert slow is None or slow.hits >= FILES // 50  # every batch was held
    assert pid not in dask_client.run(os.getpid).values()  # it died, a new one took its place
    _assert_accounts(report, FILES)
    # The dead worker's shard ran again and picked up what it had staged, resending none of it.
    assert report.files_resumed > 0
    assert await commit_count(repo) == before + 1
    ids = await tree_ids(repo, "main")
    assert ids == {"seed.txt": hash_bytes(b"seed")} | {p: hash_bytes(d) for p, d in files.items()}


@pytest.mark.fake_only  # needs the bundled server's fault injection
async def test_a_shard_that_keeps_failing_merges_nothing(
    dask_client: Any, oxen_repo: Any, repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    await _seed(repo, tmp_path)
    write_tree(tmp_path / "src", many_files(200))
    head = (await repo.branches.get("main")).commit_id
    refused = oxen_repo.server.faults.fail_next(10**6, route="workspace_files_add", status=403)
    report = await _run(dask_client, oxen_repo, tmp_path / "src", state_dir, shards=2, retries=1)
    # Each shard ran twice (Dask's retry), its every try refused at the first batch.
    assert refused.hits >= 2 * 2
    assert report.status == "failed" and report.commit_id is None
    assert report.error is not None and "shard 0/2" in report.error and "403" in report.error
    assert oxen_repo.server.token not in report.error
    # The failed shards' last reports count what they saw before breaking off, as a
    # one-machine upload that broke off does: seen, none landed, all pending.
    assert 0 < report.files_total <= 200 and report.files_uploaded == 0
    assert report.files_pending == report.files_total
    assert (await repo.branches.get("main")).commit_id == head  # nothing merged
    assert await repo.workspaces.list() == []  # the shared workspace is gone


def _bare_worker(scheduler: str, cwd: Path) -> subprocess.Popen[bytes]:
    """A Dask worker process that cannot import oxen_async.

    A package of that name that refuses to import comes first on its path: the package may be
    installed in this very environment (as in CI's venv), so leaving PYTHONPATH out is not
    enough to take it away.
    """
    shadow = cwd / "no-oxen-async" / "oxen_async"
    shadow.mkdir(parents=True, exist_ok=True)
    (shadow / "__init__.py").write_text('raise ImportError("oxen_async is not on this worker")\n')
    env = {**os.environ, "PYTHONPATH": str(shadow.parent)}
    command = [sys.executable, "-m", "distributed.cli.dask_worker", scheduler]
    command += ["--nworkers", "1", "--nthreads", "1", "--no-dashboard"]
    return subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def test_a_worker_without_the_package_is_named_before_anything_is_sent(
    oxen_repo: Any, repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    from distributed import Client, LocalCluster

    write_tree(tmp_path / "src", many_files(10))
    with (
        LocalCluster(n_workers=0, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        worker = _bare_worker(cluster.scheduler_address, tmp_path)
        try:
            await anyio.to_thread.run_sync(lambda: client.wait_for_workers(1, timeout=60))
            with pytest.raises(ConfigError, match=r"1 Dask worker\(s\) cannot import oxen_async"):
                await _run(client, oxen_repo, tmp_path / "src", state_dir)
        finally:
            worker.terminate()
            worker.wait(30)
    assert await repo.workspaces.list() == []  # refused before the shared workspace opened


def _hold_workers(client: Any, event: str) -> list[Any]:
    """A task on every worker that waits for the distributed Event ``event``: shard tasks
    submitted meanwhile queue behind them. Local functions travel by value (cloudpickle)."""

    def hold(name: str) -> None:
        from distributed import Event

        assert Event(name).wait(timeout=120), "never released"

    workers = list(client.scheduler_info()["workers"])
    return [
        client.submit(hold, event, workers=[w], key=f"hold-{event}-{n}", pure=False)
        for n, w in enumerate(workers)
    ]


def _shard_tasks_submitted(client: Any) -> bool:
    def keys(dask_scheduler: Any) -> list[str]:
        return [str(k) for k in dask_scheduler.tasks if str(k).startswith("oxen-shard-")]

    return bool(client.run_on_scheduler(keys))


async def test_a_file_deleted_after_the_drivers_listing_is_reported_and_the_rest_commit(
    dask_client: Any, oxen_repo: Any, repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    from distributed import Event

    from oxen_async.upload.scan import VANISHED

    await _seed(repo, tmp_path)
    files = many_files(200)
    write_tree(tmp_path / "src", files)
    gone = sorted(files)[7]
    name = f"release-{os.getpid()}-{time.monotonic_ns()}"
    holds = _hold_workers(dask_client, name)
    # The workers are busy until released: ingest lists on the driver, submits, and waits.
    job = _run(dask_client, oxen_repo, [(tmp_path / "src", "data")], state_dir, shards=3)

    def delete_once_submitted() -> None:
        # The event: the shard tasks exist, so the driver's listing is done (it comes first).
        _wait_for(lambda: _shard_tasks_submitted(dask_client), "the shard tasks")
        assert all(h.status == "pending" for h in holds)  # no shard can have run yet
        (tmp_path / "src" / gone).unlink()
        Event(name, client=dask_client).set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(anyio.to_thread.run_sync, delete_once_submitted)
        report = await job
    dask_client.gather(holds)
    # Listed, so counted; gone, so failed by path; the others landed in the one commit.
    assert report.status == "committed", report.error
    assert report.files_total == len(files)
    assert report.files_uploaded == len(files) - 1
    assert [(f.path, f.reason) for f in report.failed] == [(gone, VANISHED)]
    del files[gone]
    assert await tree_ids(repo, "main") == {"seed.txt": hash_bytes(b"seed")} | {
        f"data/{p}": hash_bytes(d) for p, d in files.items()
    }
    assert await repo.workspaces.list() == []
