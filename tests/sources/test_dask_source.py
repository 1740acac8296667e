"""``oxen_async.dask.ingest`` from an ``s3://`` source: the driver lists the bucket once, every
worker process reads its shard's objects itself (moto's server on loopback), the driver merges
ONE commit."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest

from oxen_async import RemoteRepo
from oxen_async.errors import ConfigError
from oxen_async.hashing import hash_bytes

from .conftest import MotoServer, start_moto
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


@pytest.fixture(scope="module")
def recording_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MotoServer, Path]]:
    """A moto server of its own that records every request it serves (moto's recorder), and
    the file it records into."""
    log = tmp_path_factory.mktemp("moto") / "requests.jsonl"
    server = start_moto({"MOTO_ENABLE_RECORDING": "True", "MOTO_RECORDER_FILEPATH": str(log)})
    yield server, log
    server.process.terminate()
    server.process.wait(10)


def _listings(log: Path) -> Counter[str]:
    """The prefixes of the ListObjectsV2 requests in moto's recording, with their counts."""
    prefixes: Counter[str] = Counter()
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(entry["url"]).query, True)
        if entry["method"] == "GET" and query.get("list-type") == ["2"]:
            prefixes[query.get("prefix", [""])[0]] += 1
    return prefixes


async def test_the_bucket_is_listed_once_on_the_driver_whatever_the_shards(
    dask_client: Any,
    oxen_repo: Any,
    repo: RemoteRepo,
    recording_moto: tuple[MotoServer, Path],
    tmp_path: Path,
) -> None:
    import s3fs

    server, log = recording_moto
    fs = s3fs.S3FileSystem(**server.options(), skip_instance_cache=True)
    bucket = "listed-once"
    fs.call_s3("create_bucket", Bucket=bucket)
    objects = {f"p{i % 3}/q{i % 2}/o{i}.txt": f"object {i}\n".encode() for i in range(120)}
    objects["top.txt"] = b"at the root"
    fs.pipe({f"{bucket}/{rel}": data for rel, data in objects.items()})
    reset = f"{server.url}/moto-api/recorder/reset-recording"
    urllib.request.urlopen(urllib.request.Request(reset, method="POST"), timeout=10).close()
    assert _listings(log) == Counter()

    report = await _ingest(dask_client, oxen_repo, f"s3://{bucket}", tmp_path, server.options())
    assert report.status == "committed" and report.ok, (report.error, report.failed[:3])
    assert report.files_uploaded == len(objects)
    # Each folder listed exactly once in all (4 shards walking would list each 4 times).
    folders = (
        {""} | {f"p{a}/" for a in range(3)} | {f"p{a}/q{b}/" for a in range(3) for b in (0, 1)}
    )
    assert _listings(log) == Counter(dict.fromkeys(folders, 1))
    assert await branch_files(repo) == {
        f"from-s3/{rel}": hash_bytes(data) for rel, data in objects.items()
    }
