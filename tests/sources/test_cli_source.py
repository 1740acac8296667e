"""``oxen-async upload SOURCE NS/REPO`` with a URL SOURCE, as a user runs it (a subprocess):
credentials and endpoint from the environment, or ``--source-option``; bad sources exit 2
with one line, before anything reaches the Oxen server."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from test_cli import (  # tests/ is on the path: the CLI tests' harness
    assert_one_line_error,
    config_dir,
    run_cli,
    server_args,
)

from oxen_async import RemoteRepo
from oxen_async.hashing import hash_bytes

from .conftest import MotoServer
from .helpers import branch_files, commit_count

__all__ = ["config_dir"]  # the CLI tests' fixture: a private oxen config naming the author


def aws_env(moto: MotoServer) -> dict[str, str]:
    """How the AWS ecosystem names an endpoint and keys: boto reads them, s3fs follows."""
    return {
        "AWS_ENDPOINT_URL": moto.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }


async def test_s3_url_source_from_the_environment_then_rerun_commits_nothing(
    oxen_repo: Any, repo: RemoteRepo, s3: tuple[Any, str], moto: MotoServer, config_dir: Path
) -> None:
    fs, bucket = s3
    objects = {
        f"part-{i}/row-{j}.json": f'{{"i": {i}, "j": {j}}}'.encode()
        for i in range(3)
        for j in range(20)
    }
    fs.pipe({f"{bucket}/exports/{rel}": data for rel, data in objects.items()})
    spec = f"{oxen_repo.namespace}/{oxen_repo.name}"
    args = ["upload", f"s3://{bucket}/exports", spec, *server_args(oxen_repo.server), "--json"]

    first = await run_cli(*args, config_dir=config_dir, env=aws_env(moto))
    assert first.code == 0, first
    assert json.loads(first.out)["files_uploaded"] == len(objects)
    assert await branch_files(repo) == {rel: hash_bytes(data) for rel, data in objects.items()}
    commits = await commit_count(repo)

    again = await run_cli(*args, config_dir=config_dir, env=aws_env(moto))
    assert again.code == 0, again
    report = json.loads(again.out)
    assert report["files_uploaded"] == 0 and report["commit_id"] is None
    assert await commit_count(repo) == commits


async def test_source_options_name_the_endpoint_and_keys(
    oxen_repo: Any, repo: RemoteRepo, s3: tuple[Any, str], moto: MotoServer, config_dir: Path
) -> None:
    fs, bucket = s3
    fs.pipe_file(f"{bucket}/one.txt", b"one")
    result = await run_cli(
        "upload", f"s3://{bucket}", f"{oxen_repo.namespace}/{oxen_repo.name}",
        *server_args(oxen_repo.server),
        "--source-option", f"endpoint_url={moto.url}",
        "--source-option", "key=testing", "--source-option", "secret=testing",
        config_dir=config_dir,
        env={"AWS_DEFAULT_REGION": "us-east-1"},
    )  # fmt: skip
    assert result.code == 0, result
    assert await branch_files(repo) == {"one.txt": hash_bytes(b"one")}


@pytest.mark.skipif(importlib.util.find_spec("gcsfs") is not None, reason="gcsfs is installed here")
async def test_protocol_not_installed_names_the_package(
    oxen_repo: Any, repo: RemoteRepo, config_dir: Path
) -> None:
    result = await run_cli(
        "upload", "gs://some-bucket/data", f"{oxen_repo.namespace}/{oxen_repo.name}",
        *server_args(oxen_repo.server),
        config_dir=config_dir,
    )  # fmt: skip
    assert_one_line_error(result, "gs://some-bucket/data", "not installed", "gcsfs")
    assert await commit_count(repo) == 0


async def test_missing_bucket_and_bad_option_exit_2_with_one_line(
    oxen_repo: Any, repo: RemoteRepo, moto: MotoServer, config_dir: Path, tmp_path: Path
) -> None:
    spec = f"{oxen_repo.namespace}/{oxen_repo.name}"
    server = server_args(oxen_repo.server)
    missing = await run_cli(
        "upload", "s3://no-such-bucket-here/x", spec, *server,
        config_dir=config_dir, env=aws_env(moto),
    )  # fmt: skip
    assert_one_line_error(missing, "s3://no-such-bucket-here/x: no such bucket or folder")
    local = await run_cli(
        "upload", str(tmp_path), spec, *server, "--source-option", "anon=true",
        config_dir=config_dir,
    )  # fmt: skip
    assert_one_line_error(local, "--source-option only applies to a url source")
    assert await commit_count(repo) == 0
