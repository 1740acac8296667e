"""``s3://`` sources against a real S3 API on loopback (moto's server) read through s3fs."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from oxen_async import RemoteRepo
from oxen_async.errors import ConfigError
from oxen_async.hashing import hash_bytes
from oxen_async.upload.report import UploadProgress
from oxen_async.upload.settings import LARGE_FILE
from oxen_async.upload.sources import RemoteSource

from .conftest import MotoServer, start_moto
from .helpers import AUTHOR, branch_files, commit_count

SMALL = 3000
MiB = 1024 * 1024


def small_objects() -> dict[str, bytes]:
    """3000 small objects over nested prefixes, one directory over the 1,000-entry piece."""
    out: dict[str, bytes] = {}
    for i in range(SMALL):
        folder = "flat" if i < 1200 else f"nested/d{i % 7}/e{i % 3}"
        out[f"{folder}/obj-{i:05d}.txt"] = f"object {i} ".encode() * (1 + i % 50)
    return out


def large_objects() -> dict[str, bytes]:
    """Two objects over the large-file threshold: parts read as ranges of the object."""
    return {
        "big/one.bin": bytes(range(251)) * ((LARGE_FILE + 3 * MiB) // 251),
        "big/two.bin": b"0123456789abcdef" * ((2 * LARGE_FILE + 5) // 16),
    }


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The object paths the uploader read (a counting wrapper: the reads still happen)."""
    paths: list[str] = []
    read = RemoteSource.read

    async def counted(self: RemoteSource, path: str, *args: Any, **kwargs: Any) -> bytes:
        paths.append(path)
        return await read(self, path, *args, **kwargs)

    monkeypatch.setattr(RemoteSource, "read", counted)
    return paths


async def test_thousands_of_objects_one_commit_rerun_nothing_two_changed_one_commit(
    repo: RemoteRepo, s3: tuple[Any, str], moto: MotoServer, tmp_path: Path, reads: list[str]
) -> None:
    fs, bucket = s3
    objects = {**small_objects(), **large_objects()}
    fs.pipe({f"{bucket}/data/{rel}": data for rel, data in objects.items()})
    url = f"s3://{bucket}/data"
    options = moto.options()

    report = await repo.upload_folder(
        url, author=AUTHOR, state_dir=tmp_path, storage_options=options
    )
    assert report.ok, report.failed[:3]
    assert report.commit_id is not None and report.files_uploaded == len(objects)
    assert report.large_files == 2
    assert (await repo.branches.get("main")).commit_id == report.commit_id
    assert {f"{bucket}/data/{rel}" for rel in objects} <= set(reads)
    reads.clear()
    before = await commit_count(repo) - 1
    assert await branch_files(repo) == {rel: hash_bytes(data) for rel, data in objects.items()}

    rerun = await repo.upload_folder(
        url, author=AUTHOR, state_dir=tmp_path, storage_options=options
    )
    assert rerun.ok and rerun.commit_id is None and rerun.files_uploaded == 0
    assert rerun.files_unchanged == len(objects)
    assert reads == []  # the listing's ETags vouched for every object: nothing read
    assert await commit_count(repo) == before + 1

    objects["flat/obj-00007.txt"] = b"changed in the bucket"
    objects["big/one.bin"] = objects["big/one.bin"][::-1]  # same size, other bytes
    for rel in ("flat/obj-00007.txt", "big/one.bin"):
        fs.pipe_file(f"{bucket}/data/{rel}", objects[rel])
    changed = await repo.upload_folder(
        url, author=AUTHOR, state_dir=tmp_path, storage_options=options
    )
    assert changed.ok, changed.failed
    assert changed.commit_id is not None and changed.files_uploaded == 2
    assert changed.files_unchanged == len(objects) - 2
    assert set(reads) == {f"{bucket}/data/flat/obj-00007.txt", f"{bucket}/data/big/one.bin"}
    assert await commit_count(repo) == before + 2
    assert await branch_files(repo) == {rel: hash_bytes(data) for rel, data in objects.items()}


async def test_object_overwritten_while_read_fails_by_path_and_is_not_committed(
    repo: RemoteRepo, s3: tuple[Any, str], moto: MotoServer, tmp_path: Path
) -> None:
    """The overwrite happens on the listing's event (the first planned piece reported), so
    it lands after the listing and before any read."""
    fs, bucket = s3
    objects = {f"f{i}.txt": f"version one of {i}\n".encode() for i in range(5)}
    objects["big.bin"] = b"a" * (LARGE_FILE + 1)
    fs.pipe({f"{bucket}/{rel}": data for rel, data in objects.items()})
    overwritten: list[str] = []

    def overwrite(progress: UploadProgress) -> None:
        if progress.files_seen and not overwritten:
            for rel in ("f3.txt", "big.bin"):  # same sizes: only the ETag tells
                fs.pipe_file(
                    f"{bucket}/{rel}", objects[rel].replace(b"o", b"0").replace(b"a", b"b")
                )
                overwritten.append(rel)

    report = await repo.upload_folder(
        f"s3://{bucket}",
        author=AUTHOR,
        state_dir=tmp_path,
        storage_options=moto.options(),
        progress=overwrite,
    )
    assert overwritten == ["f3.txt", "big.bin"]
    failed = {f.path: f.reason for f in report.failed}
    assert set(failed) == {"f3.txt", "big.bin"}
    for rel, reason in failed.items():
        assert f"s3://{bucket}/{rel}: changed while it was read" in reason
    assert report.commit_id is not None
    assert await branch_files(repo) == {
        rel: hash_bytes(data) for rel, data in objects.items() if rel not in failed
    }


async def test_missing_bucket_or_prefix_is_one_line_and_sends_nothing(
    repo: RemoteRepo, s3: tuple[Any, str], moto: MotoServer, tmp_path: Path
) -> None:
    fs, bucket = s3
    fs.pipe_file(f"{bucket}/a/x.txt", b"x")
    before = await commit_count(repo)
    for url in (f"s3://{bucket}-absent/a", f"s3://{bucket}/no-such-prefix"):
        with pytest.raises(ConfigError) as caught:
            await repo.upload_folder(
                url, author=AUTHOR, state_dir=tmp_path, storage_options=moto.options()
            )
        assert str(caught.value) == f"{url}: no such bucket or folder"
    with pytest.raises(ConfigError, match=r"a/x\.txt: is a file, not a folder"):
        await repo.upload_folder(
            f"s3://{bucket}/a/x.txt",
            author=AUTHOR,
            state_dir=tmp_path,
            storage_options=moto.options(),
        )
    assert await commit_count(repo) == before


@pytest.fixture(scope="module")
def strict_moto() -> Any:
    """A moto server that checks credentials from its first request: it knows no keys."""
    server = start_moto({"INITIAL_NO_AUTH_ACTION_COUNT": "0"})
    yield server
    server.process.terminate()
    server.process.wait(10)


async def test_credentials_the_store_refuses_are_one_line(
    repo: RemoteRepo, strict_moto: MotoServer, tmp_path: Path
) -> None:
    before = await commit_count(repo)
    url = "s3://any-bucket/data"
    with pytest.raises(ConfigError) as caught:
        await repo.upload_folder(
            url,
            author=AUTHOR,
            state_dir=tmp_path,
            storage_options=strict_moto.options("AKIDNOTKNOWN", "wrong"),
        )
    message = str(caught.value)
    assert message.startswith(f"{url}: the store refused the credentials")
    assert "\n" not in message and "wrong" not in message
    assert await commit_count(repo) == before


async def test_an_endpoint_nothing_listens_on_is_one_line(
    repo: RemoteRepo, moto: MotoServer, tmp_path: Path
) -> None:
    with socket.socket() as s:  # a port bound and never listened on: connections are refused
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
        options = {**moto.options(), "endpoint_url": dead}
        with pytest.raises(ConfigError) as caught:
            await repo.upload_folder(
                "s3://bucket/data", author=AUTHOR, state_dir=tmp_path, storage_options=options
            )
    message = str(caught.value)
    assert message.startswith("s3://bucket/data: cannot reach the source: ")
    assert dead in message and "\n" not in message
    assert await commit_count(repo) == 0
