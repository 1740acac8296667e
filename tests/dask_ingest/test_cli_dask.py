"""``oxen-async upload SOURCE NS/REPO --dask ...`` as a user runs it: a real subprocess."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_cli import (  # tests/ is on the path: the CLI tests' harness
    assert_one_line_error,
    closed_port,
    config_dir,
    run_cli,
    server_args,
    write_tree,
)

from oxen_async import RemoteRepo

from ._tree import commit_count

pytest.importorskip("distributed")

__all__ = ["config_dir"]  # the fixture, imported for these tests


async def test_dask_local_upload_reports_as_one_machine_does(
    oxen_repo: Any, repo: RemoteRepo, config_dir: Path, tmp_path: Path
) -> None:
    files = write_tree(tmp_path / "src", n=200)
    full = f"{oxen_repo.namespace}/{oxen_repo.name}"
    state = ["--state-dir", str(tmp_path / "state")]
    common = [*server_args(oxen_repo.server), *state, "--json"]
    result = await run_cli(
        "upload", str(tmp_path / "src"), full, "--dask", "local:2", *common, config_dir=config_dir
    )
    assert result.code == 0, result
    report = json.loads(result.out)
    assert report["status"] == "committed"
    assert report["files_total"] == report["files_uploaded"] == len(files)
    assert report["commit_id"] == (await repo.branches.get("main")).commit_id
    # Ours, on the initial commit the server makes when a workspace opens on an empty
    # repository (as for a one-machine upload).
    assert await commit_count(repo) == 2
    # The same shape as a one-machine upload's report (run here on a second folder).
    write_tree(tmp_path / "other", n=3)
    single = await run_cli(
        "upload", str(tmp_path / "other"), full, "--dest", "o", *common, config_dir=config_dir
    )
    assert single.code == 0, single
    assert list(json.loads(single.out)) == list(report)
    # And the summary a person reads names the commit.
    summary = await run_cli(
        "upload",
        str(tmp_path / "src"),
        full,
        "--dask",
        "local:1",
        *server_args(oxen_repo.server),
        *state,
        config_dir=config_dir,
    )
    assert summary.code == 0, summary
    assert "unchanged" in summary.out.lower()


async def test_unreachable_scheduler_is_one_line_exit_2(
    oxen_repo: Any, repo: RemoteRepo, config_dir: Path, tmp_path: Path
) -> None:
    write_tree(tmp_path / "src", n=5)
    address = f"tcp://127.0.0.1:{closed_port()}"
    result = await run_cli(
        "upload",
        str(tmp_path / "src"),
        f"{oxen_repo.namespace}/{oxen_repo.name}",
        "--dask",
        address,
        *server_args(oxen_repo.server),
        config_dir=config_dir,
    )
    assert_one_line_error(result, "cannot reach the dask scheduler", address)
    assert await repo.workspaces.list() == []  # nothing was opened on the server


@pytest.mark.parametrize("address", ["local:0", "local:x", "somehost:8786"])
async def test_malformed_dask_address(config_dir: Path, tmp_path: Path, address: str) -> None:
    (tmp_path / "src").mkdir()
    result = await run_cli(
        "upload", str(tmp_path / "src"), "ns/repo", "--dask", address, config_dir=config_dir
    )
    assert_one_line_error(result, "--dask", address)
