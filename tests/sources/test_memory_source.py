"""A ``memory://`` folder (fsspec's in-memory filesystem: a blocking one, read in threads)."""

from __future__ import annotations

import importlib.util
import uuid
from typing import Any

import fsspec
import pytest

from oxen_async import RemoteRepo
from oxen_async.errors import ConfigError
from oxen_async.hashing import hash_bytes
from oxen_async.upload.report import UploadProgress

from .helpers import AUTHOR, branch_files, commit_count


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


async def test_fresh_state_hashes_objects_through_the_source_and_commits_nothing(
    repo: RemoteRepo, tmp_path: Any
) -> None:
    """Without the state's hash cache the branch's names are hashed from the source (the
    planner's blocking hook, in its threads): unchanged, so nothing is sent or committed."""
    root = f"/src-{uuid.uuid4().hex}"
    files = {f"k/{i}.csv": f"{i},{i * i}\n".encode() for i in range(30)}
    fill(root, files)
    url = f"memory://{root}"
    first = await repo.upload_folder(url, author=AUTHOR, state_dir=tmp_path / "one")
    assert first.ok and first.commit_id is not None

    fsspec.filesystem("memory").pipe_file(f"{root}/k/3.csv", b"3,changed\n")
    files["k/3.csv"] = b"3,changed\n"
    fresh = await repo.upload_folder(url, author=AUTHOR, state_dir=tmp_path / "two")
    assert fresh.ok, fresh.failed
    assert fresh.files_uploaded == 1 and fresh.files_unchanged == len(files) - 1
    assert await branch_files(repo) == {rel: hash_bytes(data) for rel, data in files.items()}


async def test_memory_object_replaced_while_read_fails_by_path(
    repo: RemoteRepo, tmp_path: Any
) -> None:
    """A blocking filesystem has no token on its reads: the object's info after the read is
    compared with the listing's. The replacement happens on the listing's event (the first
    planned piece reported), before any read."""
    root = f"/src-{uuid.uuid4().hex}"
    files = {f"f{i}.txt": f"first {i}\n".encode() for i in range(4)}
    fill(root, files)
    fs = fsspec.filesystem("memory")
    replaced: list[str] = []

    def replace(progress: UploadProgress) -> None:
        if progress.files_seen and not replaced:
            fs.pipe_file(f"{root}/f2.txt", b"other 2\n")  # same size: its created time tells
            replaced.append("f2.txt")

    report = await repo.upload_folder(
        f"memory://{root}", author=AUTHOR, state_dir=tmp_path, progress=replace
    )
    assert replaced == ["f2.txt"]
    assert [(f.path, f.reason) for f in report.failed] == [
        ("f2.txt", f"cannot read: memory://{root}/f2.txt: changed while it was read")
    ]
    assert report.commit_id is not None
    del files["f2.txt"]
    assert await branch_files(repo) == {rel: hash_bytes(data) for rel, data in files.items()}


async def test_protocol_not_installed_and_unknown_protocol_are_one_line(
    repo: RemoteRepo, tmp_path: Any
) -> None:
    if importlib.util.find_spec("gcsfs") is None:
        with pytest.raises(ConfigError) as caught:
            await repo.upload_folder("gs://bucket/data", author=AUTHOR, state_dir=tmp_path)
        assert str(caught.value).startswith("gs://bucket/data: the gs:// protocol is not installed")
        assert "gcsfs" in str(caught.value)
    with pytest.raises(ConfigError, match=r"^nosuchproto://x: .*nosuchproto"):
        await repo.upload_folder("nosuchproto://x", author=AUTHOR, state_dir=tmp_path)


async def test_blake3_manifest_from_a_url_source_comes_from_the_bytes_read(
    repo: RemoteRepo, tmp_path: Any
) -> None:
    import blake3

    root = f"/src-{uuid.uuid4().hex}"
    files = {f"m/{i}.txt": f"manifest {i}\n".encode() for i in range(12)}
    fill(root, files)
    report = await repo.upload_folder(
        f"memory://{root}", author=AUTHOR, state_dir=tmp_path, manifest=True
    )
    assert report.ok, (report.error, report.failed)
    text = (await repo.files.download("main", "MANIFEST.b3sum")).decode()
    assert text == "".join(
        f"{blake3.blake3(files[rel]).hexdigest()}  {rel}\n" for rel in sorted(files)
    )


@pytest.mark.parametrize("manifest", [True, "m/sums.b3"])
async def test_a_url_source_holding_the_manifest_path_is_refused_before_any_commit(
    repo: RemoteRepo, tmp_path: Any, manifest: bool | str
) -> None:
    """The manifest would replace the source's own file of that name: refused in one line, as
    for a local folder, and nothing lands."""
    root = f"/src-{uuid.uuid4().hex}"
    taken = "MANIFEST.b3sum" if manifest is True else str(manifest)
    fill(root, {"m/a.txt": b"a\n", taken: b"the user's own file\n"})
    before = await commit_count(repo)
    with pytest.raises(ConfigError) as caught:
        await repo.upload_folder(
            f"memory://{root}", author=AUTHOR, state_dir=tmp_path, manifest=manifest
        )
    assert str(caught.value) == (
        f"manifest {taken!r}: the folder has a file of that name, which the manifest would "
        "replace; pick another path"
    )
    assert await commit_count(repo) == before
