"""A ``memory://`` folder (fsspec's in-memory filesystem: a blocking one, read in threads)."""

from __future__ import annotations

import uuid
from typing import Any

import fsspec

from oxen_async import RemoteRepo
from oxen_async.hashing import hash_bytes

from .helpers import AUTHOR, branch_files


def fill(root: str, files: dict[str, bytes]) -> None:
    fs = fsspec.filesystem("memory")
    for rel, data in files.items():
        fs.pipe_file(f"{root}/{rel}", data)


async def test_memory_folder_lands_as_one_commit_and_reruns_commit_nothing(
    repo: RemoteRepo, tmp_path: Any
) -> None:
    root = f"/src-{uuid.uuid4().hex}"
    files = {f"d{i % 3}/f{i}.txt": f"memory {i}\n".encode() * (i + 1) for i in range(40)}
    files["top.bin"] = bytes(range(256)) * 9
    fill(root, files)
    url = f"memory://{root}"

    report = await repo.upload_folder(url, author=AUTHOR, state_dir=tmp_path)
    assert report.ok, report.failures
    assert report.commit_id is not None and report.files_uploaded == len(files)
    assert await branch_files(repo) == {rel: hash_bytes(data) for rel, data in files.items()}

    again = await repo.upload_folder(url, author=AUTHOR, state_dir=tmp_path)
    assert again.ok and again.commit_id is None and again.files_uploaded == 0
    assert again.files_unchanged == len(files)
