"""Fixtures for the sharded ingestion: a client on the test repository, a state folder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from oxen_async import OxenClient, RemoteRepo


@pytest.fixture
async def repo(oxen_repo: Any) -> AsyncIterator[RemoteRepo]:
    async with OxenClient(oxen_repo.server.url, token=oxen_repo.server.token) as oxen:
        yield oxen.repo(oxen_repo.namespace, oxen_repo.name)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    """A LocalCluster of 2 worker processes (one thread each), shared by a module's tests."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client
