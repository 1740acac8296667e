"""``oxen_async.dask.ingest`` from an ``s3://`` source: every worker process lists and reads
the bucket itself (moto's server on loopback), the driver merges ONE commit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest

from oxen_async import RemoteRepo
from oxen_async.errors import ConfigError
from oxen_async.hashing import hash_bytes

from .conftest import MotoServer
from .helpers import AUTHOR, branch_files, commit_count


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def _ingest(client: Any, oxen_repo: Any, source: str, tmp_path: Path, options: Any) -> Any:
    from oxen_async.dask import ingest

    return anyio.to_thread.run_sync(
        lambda: ingest(
            client,
            [(source, "from-s3")],
            f"{oxen_repo.namespace}/{oxen_repo.name}",
            host=oxen_repo.server.url,
            token=oxen_repo.server.token,
            author=AUTHOR,
            state_dir=tmp_path,
            shards=4,
            storage_options=options,
        )
    )


async def test_s3_source_over_two_worker_processes_lands_one_commit(
    dask_client: Any,
    oxen_repo: Any,
    repo: RemoteRepo,
    s3: tuple[Any, str],
    moto: MotoServer,
    tmp_path: Path,
) -> None:
    fs, bucket = s3
    objects = {
        f"p{i % 4}/o{i}.txt": f"dask object {i}\n".encode() * (i % 9 + 1) for i in range(400)
    }
    fs.pipe({f"{bucket}/{rel}": data for rel, data in objects.items()})

    report = await _ingest(dask_client, oxen_repo, f"s3://{bucket}", tmp_path, moto.options())
    assert report.status == "committed" and report.ok, (report.error, report.failed[:3])
    assert report.files_uploaded == len(objects)
    assert await commit_count(repo) >= 1
    head = await repo.branches.get("main")
    assert head.commit_id == report.commit_id
    assert await branch_files(repo) == {
        f"from-s3/{rel}": hash_bytes(data) for rel, data in objects.items()
    }


async def test_missing_bucket_fails_on_the_driver_before_any_shard(
    dask_client: Any, oxen_repo: Any, repo: RemoteRepo, moto: MotoServer, tmp_path: Path
) -> None:
    url = "s3://no-such-bucket-for-dask/x"
    with pytest.raises(ConfigError, match=f"^{url}: no such bucket or folder$"):
        await _ingest(dask_client, oxen_repo, url, tmp_path, moto.options())
    assert await commit_count(repo) == 0
