"""Fixtures for raw-HTTP contract tests against ``oxen_server`` (ours now, a real one later)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from oxen_async.testing import RepoHandle

from ._wire import Wire


@pytest.fixture
async def wire(oxen_repo: RepoHandle) -> AsyncIterator[Wire]:
    """A session carrying the server's token, bound to a fresh empty repository."""
    headers = oxen_repo.server.auth_headers()
    # A fresh connection per request: the real server closes a connection after refusing a
    # body it did not read, and these tests are about its answers, not about pooling.
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
        yield Wire(session, oxen_repo)


@pytest.fixture
async def anonymous(oxen_repo: RepoHandle) -> AsyncIterator[Wire]:
    """A session without credentials."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield Wire(session, oxen_repo)
