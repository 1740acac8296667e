"""``fetch_bytes``: many blobs as verified bytes in one request, the cache first."""

from __future__ import annotations

import pytest

from oxen_async import IntegrityError, RemoteRepo, hash_bytes
from oxen_async.download import ContentCache, fetch_bytes
from oxen_async.testing import FaultController, RepoHandle

from .conftest import commit

FILES = {f"b{i}.bin": b"blob %d " % i * (i + 1) for i in range(10)}
SIZES = {hash_bytes(d): len(d) for d in FILES.values()}


async def test_many_blobs_in_one_request_then_from_the_cache(
    repo: RemoteRepo, oxen_repo: RepoHandle
) -> None:
    await commit(repo, FILES)
    cache = ContentCache()
    got = await fetch_bytes(repo, SIZES, cache=cache)
    assert got == {hash_bytes(d): d for d in FILES.values()}
    faults = oxen_repo.server.faults
    before = faults.stats.requests("versions_download") if faults else 0
    again = await fetch_bytes(repo, SIZES, cache=cache)
    assert again == got
    if faults is not None:
        assert faults.stats.requests("versions_download") == before  # all from the cache


@pytest.mark.fake_only
async def test_a_wrong_byte_is_raised(repo: RemoteRepo, oxen_faults: FaultController) -> None:
    await commit(repo, FILES)
    oxen_faults.downloads.wrong_byte(hashes=[hash_bytes(FILES["b3.bin"])])
    with pytest.raises(IntegrityError):
        await fetch_bytes(repo, SIZES)
    assert oxen_faults.downloads.wrong_bytes_fired == 1
    assert oxen_faults.stats.requests("versions_download") == 1
