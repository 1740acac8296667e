"""``oxen-async download`` through the engine: ``--cache`` serves a second checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from oxen_async import RemoteRepo
from oxen_async.testing import RepoHandle

from .conftest import commit, local_files


def _download(oxen_repo: RepoHandle, target: Path, cache: Path) -> dict[str, object]:
    server = oxen_repo.server
    args = ["--host", server.url] + ([f"--token={server.token}"] if server.token else [])
    env = {k: v for k, v in os.environ.items() if not k.startswith("OXEN_")}
    env.update(OXEN_ASYNC_CACHE=str(cache), OXEN_CONFIG_DIR=str(cache.parent / "oxen-config"))
    spec = f"{oxen_repo.namespace}/{oxen_repo.name}"
    done = subprocess.run(
        [sys.executable, "-m", "oxen_async", "download", spec, str(target), "--cache", "--json",
         *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report: dict[str, object] = json.loads(done.stdout)
    return report


async def test_a_second_checkout_comes_from_the_cache(
    repo: RemoteRepo, oxen_repo: RepoHandle, tmp_path: Path
) -> None:
    files = {f"d/f{i}.txt": b"cached %d" % i for i in range(12)}
    await commit(repo, files)
    cache = tmp_path / "cli-cache"
    first = _download(oxen_repo, tmp_path / "one", cache)
    assert first["files_downloaded"] == 12
    assert len(list((cache / "blobs").glob("*/*"))) == 12
    faults = oxen_repo.server.faults
    before = faults.stats.requests("versions_download") if faults else 0
    second = _download(oxen_repo, tmp_path / "two", cache)
    assert second["files_downloaded"] == 12 and second["ok"] is True
    assert first["files_from_cache"] == 0 and second["files_from_cache"] == 12
    assert local_files(tmp_path / "two") == files
    if faults is not None:
        assert faults.stats.requests("versions_download") == before
