"""Content-addressed blobs: batch upload, metadata/exists, chunked upload, batch download."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from oxen_async import (
    Commit,
    ConfigError,
    FileChangedError,
    FilePart,
    NotFoundError,
    RemoteRepo,
    ServerError,
    VersionUploadError,
    hash_bytes,
)
from oxen_async.hashing import hash_file_sync
from oxen_async.testing import FaultController, ServerHandle

from .conftest import AUTHOR

WRONG_ID = hash_bytes(b"the id of other bytes")


async def test_upload_batch_reports_a_wrong_id_and_stores_the_rest(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    good, zipped = b"good blob", b"gzipped blob " * 100
    err = await repo.versions.upload_batch(
        [
            FilePart(hash_bytes(good), good),
            FilePart(WRONG_ID, b"these bytes do not hash to that id"),
            FilePart(hash_bytes(zipped), gzip.compress(zipped), gzipped=True),
        ]
    )
    assert [e.hash for e in err] == [WRONG_ID]
    assert "mismatch" in err[0].error.lower()
    assert await repo.versions.exists(hash_bytes(good))
    assert await repo.versions.exists(hash_bytes(zipped))
    assert not await repo.versions.exists(WRONG_ID)


async def test_metadata_gives_the_stored_size(repo: RemoteRepo, first_commit: Commit) -> None:
    data = b"0123456789" * 7
    await repo.versions.upload([FilePart(hash_bytes(data), gzip.compress(data), gzipped=True)])
    info = await repo.versions.metadata(hash_bytes(data))
    assert (info.hash, info.size) == (hash_bytes(data), 70)
    with pytest.raises(NotFoundError):
        await repo.versions.metadata(hash_bytes(b"never uploaded"))


async def test_upload_resends_only_the_refused_blobs_then_gives_up(
    repo: RemoteRepo, first_commit: Commit, oxen_server: ServerHandle
) -> None:
    good = b"fine"
    with pytest.raises(VersionUploadError) as caught:
        await repo.versions.upload(
            [FilePart(hash_bytes(good), good), FilePart(WRONG_ID, b"bad")], attempts=3
        )
    assert [f.hash for f in caught.value.failed] == [WRONG_ID]
    assert WRONG_ID in str(caught.value)
    assert await repo.versions.exists(hash_bytes(good))
    if oxen_server.faults is not None:
        stats = oxen_server.faults.stats.route("versions_upload")
        assert stats.requests == 3
        assert stats.file_parts == 2 + 1 + 1  # the good blob went once


@pytest.mark.fake_only
async def test_upload_retries_until_a_flaky_store_succeeds(
    repo: RemoteRepo, first_commit: Commit, oxen_server: ServerHandle
) -> None:
    assert oxen_server.faults is not None
    data = b"flaky"
    oxen_server.faults.fail_next(2, route="versions_upload", status=503)
    await repo.versions.upload([FilePart(hash_bytes(data), data)])
    assert oxen_server.faults.stats.route("versions_upload").statuses[503] == 2
    assert await repo.versions.exists(hash_bytes(data))


async def test_upload_file_in_chunks_staged_into_a_workspace(
    repo: RemoteRepo, first_commit: Commit, tmp_path: Path
) -> None:
    size = 10 * 1024 * 1024 + 12345  # over the 10 MiB small-file limit
    data = os.urandom(size)
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    digest = hash_bytes(data)
    ws = await repo.workspaces.get_or_create("main")

    await repo.versions.upload_file(
        local,
        digest,
        size,
        repo_path="models/v1/big.bin",
        workspace_id=ws.id,
        chunk_size=2 * 1024 * 1024,
    )

    assert (await repo.versions.metadata(digest)).size == size
    await repo.workspaces.merge(ws.id, "main", message="big", author=AUTHOR)
    entry = await repo.dirs.meta("main", "models/v1/big.bin")
    assert (entry.hash, entry.size) == (digest, size)
    assert await repo.files.download("main", "models/v1/big.bin") == data


async def test_upload_file_without_a_workspace_only_stores_the_blob(
    repo: RemoteRepo, first_commit: Commit, tmp_path: Path
) -> None:
    data = os.urandom(300_000)
    local = tmp_path / "blob.bin"
    local.write_bytes(data)
    await repo.versions.upload_file(
        local, hash_bytes(data), len(data), repo_path="x.bin", chunk_size=64 * 1024
    )
    assert await repo.versions.exists(hash_bytes(data))
    assert (await repo.versions.download([hash_bytes(data)]))[hash_bytes(data)] == data


async def test_a_chunked_upload_under_the_wrong_id_fails_and_stores_nothing(
    repo: RemoteRepo, first_commit: Commit, tmp_path: Path
) -> None:
    local = tmp_path / "blob.bin"
    local.write_bytes(b"z" * 5000)
    with pytest.raises(ServerError) as caught:
        await repo.versions.upload_file(local, WRONG_ID, 5000, repo_path="z.bin", chunk_size=1024)
    assert "mismatch" in str(caught.value).lower()
    assert not await repo.versions.exists(WRONG_ID)


async def test_upload_file_refuses_an_empty_file(
    repo: RemoteRepo, first_commit: Commit, tmp_path: Path
) -> None:
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(ConfigError):
        await repo.versions.upload_file(tmp_path / "empty", hash_bytes(b""), 0, repo_path="e")


async def test_download_returns_verified_blobs(repo: RemoteRepo, first_commit: Commit) -> None:
    blobs = {hash_bytes(d): d for d in (b"one", b"two" * 1000, b"", os.urandom(5000))}
    await repo.versions.upload([FilePart(h, d) for h, d in blobs.items()])
    ids = [*blobs, next(iter(blobs))]  # a repeated id is fetched once
    assert await repo.versions.download(ids) == blobs
    assert await repo.versions.download([]) == {}


async def test_download_of_a_missing_blob_is_not_found(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    with pytest.raises(NotFoundError):
        await repo.versions.download([hash_bytes(b"hello\n"), hash_bytes(b"not on the server")])


async def test_upload_file_refuses_a_file_that_changed_since_it_was_hashed(
    repo: RemoteRepo, tmp_path: Path
) -> None:

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3000))
    digest, size = hash_file_sync(big)
    mtime = big.stat().st_mtime_ns
    big.write_bytes(os.urandom(3000))  # same size, new bytes and mtime
    with pytest.raises(FileChangedError):
        await repo.versions.upload_file(
            big, digest, size, repo_path="big.bin", mtime_ns=mtime, chunk_size=1024
        )
    assert not await repo.versions.exists(digest)


async def test_download_streams_through_the_engine_with_known_sizes(
    repo: RemoteRepo, first_commit: Commit, oxen_server: ServerHandle
) -> None:
    blobs = {hash_bytes(d): d for d in (b"alpha", os.urandom(300_000), b"")}
    await repo.versions.upload([FilePart(h, d) for h, d in blobs.items()])
    faults = oxen_server.faults
    if faults is not None:
        faults.reset()
    sizes = {h: len(d) for h, d in blobs.items()}
    assert await repo.versions.download(list(blobs), sizes=sizes) == blobs
    if faults is not None:  # one streamed QUERY, no size look-ups
        assert faults.stats.requests("versions_download") == 1
        assert faults.stats.requests("version_metadata") == 0
    with pytest.raises(ConfigError, match="sizes lacks"):
        await repo.versions.download(list(blobs), sizes={})


async def test_download_refuses_more_than_it_may_hold_before_fetching(
    repo: RemoteRepo, first_commit: Commit, oxen_server: ServerHandle
) -> None:
    from oxen_async.download import FETCH_BYTES_LIMIT

    faults = oxen_server.faults
    if faults is not None:
        faults.reset()
    huge = {hash_bytes(b"%d" % i): FETCH_BYTES_LIMIT // 2 + 1 for i in range(2)}
    with pytest.raises(ConfigError, match="in memory"):
        await repo.versions.download(list(huge), sizes=huge)
    if faults is not None:
        assert faults.stats.requests("versions_download") == 0


@pytest.mark.fake_only
async def test_download_retries_a_cut_archive_for_what_is_left(
    repo: RemoteRepo, first_commit: Commit, oxen_faults: FaultController
) -> None:
    blobs = {hash_bytes(d): d for d in (os.urandom(40_000) for _ in range(4))}
    await repo.versions.upload([FilePart(h, d) for h, d in blobs.items()])
    oxen_faults.reset()
    oxen_faults.downloads.cut_tar(1, at_member=2)
    assert await repo.versions.download(list(blobs)) == blobs
    assert oxen_faults.downloads.cuts_fired == 1
    assert oxen_faults.stats.requests("versions_download") == 2
