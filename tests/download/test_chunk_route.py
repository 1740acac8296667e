"""``GET /chunk/{rev}/{path}`` answers like oxen-server 0.65.2 (seen on the binary)."""

from __future__ import annotations

import os

import pytest

from oxen_async import BadRequestError, NotFoundError, RemoteRepo, ServerError

from .conftest import commit

BIG = os.urandom(300_001)


async def _chunk(repo: RemoteRepo, tail: str, **params: int | str) -> bytes:
    url = repo.scope.path(f"chunk/{tail}")
    return await repo.scope.session.request_bytes("GET", url, params=params or None)


async def test_ranges_and_their_edges(repo: RemoteRepo) -> None:
    await commit(repo, {"big.bin": BIG, "d/small.txt": b"hello"})
    assert await _chunk(repo, "main/big.bin", chunk_start=0, chunk_size=10) == BIG[:10]
    assert await _chunk(repo, "main/big.bin", chunk_start=299_990, chunk_size=11) == BIG[-11:]
    assert await _chunk(repo, "main/big.bin", chunk_start=0, chunk_size=300_001) == BIG
    assert await _chunk(repo, "main/big.bin", chunk_start=0, chunk_size=0) == b""
    for start, size in [(299_990, 12), (300_001, 0), (300_001, 1)]:
        with pytest.raises(ServerError, match="beyond end of file"):
            await _chunk(repo, "main/big.bin", chunk_start=start, chunk_size=size)
    # Without chunk_size the server asks for 10 MiB, past the end of this file.
    with pytest.raises(ServerError, match="beyond end of file"):
        await _chunk(repo, "main/big.bin")
    assert await _chunk(repo, "main/d/small.txt", chunk_start=1, chunk_size=3) == b"ell"


async def test_bad_requests(repo: RemoteRepo) -> None:
    await commit(repo, {"big.bin": BIG, "d/small.txt": b"hello"})
    with pytest.raises(NotFoundError):
        await _chunk(repo, "main/nope.bin", chunk_start=0, chunk_size=1)
    with pytest.raises(NotFoundError):
        await _chunk(repo, "main/d", chunk_start=0, chunk_size=1)  # a directory
    with pytest.raises(NotFoundError, match="Path does not exist"):
        await _chunk(repo, "no-such-branch/big.bin", chunk_start=0, chunk_size=1)
    with pytest.raises(BadRequestError, match="invalid digit"):
        await _chunk(repo, "main/big.bin", chunk_start="x")
