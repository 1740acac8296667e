"""``oxen_async.testing.Relay`` in front of the server under test (bundled or real): what a
client sees through it and what it counts. The fault tests that use it (cuts, tripwires, a
hidden route) live with the code they test; this covers the rest of its surface."""

from __future__ import annotations

import socket

import pytest

from oxen_async import OxenClient, RetryPolicy, TransportError
from oxen_async.testing import Relay, RepoHandle

from .conftest import AUTHOR

ONE_TRY = RetryPolicy(attempts=1, base_delay=0.01, max_delay=0.01, budget=1.0)


def _client(relay: Relay, oxen_repo: RepoHandle) -> OxenClient:
    return OxenClient(relay.url, token=oxen_repo.server.token, retry=ONE_TRY)


async def test_it_relays_both_ways_and_counts_by_method_and_path(oxen_repo: RepoHandle) -> None:
    data = b"relayed bytes\n" * 1000
    async with Relay(oxen_repo.server.url) as relay, _client(relay, oxen_repo) as oxen:
        repo = oxen.repo(oxen_repo.namespace, oxen_repo.name)
        await repo.files.upload("main", "", {"a.txt": data}, author=AUTHOR)
        assert relay.stats.bytes_up > len(data)  # the file, in its multipart body
        before = relay.stats.bytes_down
        assert await repo.files.download("main", "a.txt") == data
    assert relay.stats.bytes_down - before >= len(data)
    path = f"/api/repos/{oxen_repo.namespace}/{oxen_repo.name}/file/main/a.txt"
    assert relay.stats.count(f"GET {path}") == 1
    assert relay.stats.in_flight[f"GET {path}"] == 0
    assert (relay.stats.refused, relay.stats.lost, relay.stats.cut) == (0, 0, 0)


async def test_a_refusing_relay_closes_connections_until_healed(oxen_repo: RepoHandle) -> None:
    async with Relay(oxen_repo.server.url) as relay, _client(relay, oxen_repo) as oxen:
        repo = oxen.repo(oxen_repo.namespace, oxen_repo.name)
        relay.refuse()
        with pytest.raises(TransportError):
            await repo.branches.list()
        assert relay.stats.refused >= 1
        relay.heal()
        assert await repo.branches.list() == []
    assert relay.stats.lost == 0


async def test_a_canned_answer_stands_for_its_method_only(oxen_repo: RepoHandle) -> None:
    branches = f"/api/repos/{oxen_repo.namespace}/{oxen_repo.name}/branches$"
    async with Relay(oxen_repo.server.url) as relay, _client(relay, oxen_repo) as oxen:
        repo = oxen.repo(oxen_repo.namespace, oxen_repo.name)
        await repo.files.upload("main", "", {"a.txt": b"a\n"}, author=AUTHOR)
        relay.answer(branches, method="GET", json={"status": "success", "branches": []})
        assert await repo.branches.list() == []  # the relay's answer: main is hidden
        await repo.branches.create("side", from_branch="main")  # POST: the server's
    async with OxenClient(oxen_repo.server.url, token=oxen_repo.server.token) as direct:
        names = {
            b.name for b in await direct.repo(oxen_repo.namespace, oxen_repo.name).branches.list()
        }
    assert names == {"main", "side"}


async def test_a_server_that_is_gone_closes_the_clients_connection(
    oxen_repo: RepoHandle,
) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{free.getsockname()[1]}"  # bound, never listening
        async with Relay(nobody) as relay, _client(relay, oxen_repo) as oxen:
            with pytest.raises(TransportError):
                await oxen.repo(oxen_repo.namespace, oxen_repo.name).branches.list()
    assert relay.stats.lost >= 1


async def test_its_url_is_asked_for_before_it_runs() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        _ = Relay("http://127.0.0.1:1").url
