"""Repositories: create, get, exists, get_or_create, delete, list, and their errors."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from oxen_async import (
    AlreadyExistsError,
    BadRequestError,
    ConfigError,
    ConflictError,
    NotFoundError,
    OxenClient,
    ServerError,
)


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def namespace(client: OxenClient) -> AsyncIterator[str]:
    """A namespace of its own; every repository left in it is deleted afterwards."""
    ns = _unique("ns")
    yield ns
    for repo in await client.repos.list(ns):
        await client.repos.delete(ns, repo.name)


async def _wait_gone(client: OxenClient, ns: str, name: str) -> None:
    # A real server deletes in the background after answering; give it a moment. Meanwhile
    # it can answer 500 (seen: the config file already gone, the folder not yet).
    for _ in range(50):
        try:
            if not await client.repos.exists(ns, name):
                return
        except ServerError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"{ns}/{name} still exists")


async def test_create_then_get_shows_an_empty_repository(
    client: OxenClient, namespace: str
) -> None:
    created = await client.repos.create(namespace, "demo")
    assert (created.namespace, created.name) == (namespace, "demo")
    assert created.latest_commit is None

    info = await client.repos.get(namespace, "demo")
    assert (info.namespace, info.name) == (namespace, "demo")
    assert info.is_empty is True
    assert info.branch_count == 0
    assert info.size == 0


async def test_exists_tells_present_from_absent(client: OxenClient, namespace: str) -> None:
    assert await client.repos.exists(namespace, "demo") is False
    await client.repos.create(namespace, "demo")
    assert await client.repos.exists(namespace, "demo") is True


async def test_creating_twice_is_already_exists(client: OxenClient, namespace: str) -> None:
    await client.repos.create(namespace, "demo")
    with pytest.raises(AlreadyExistsError) as caught:
        await client.repos.create(namespace, "demo")
    err = caught.value
    assert isinstance(err, ConflictError)
    assert err.status == 409
    assert err.method == "POST"
    assert err.url.endswith("/api/repos")
    assert "exists" in err.message.lower()


async def test_get_or_create_creates_once_then_returns_the_same(
    client: OxenClient, namespace: str
) -> None:
    first = await client.repos.get_or_create(namespace, "demo")
    second = await client.repos.get_or_create(namespace, "demo")
    assert (first.namespace, first.name) == (second.namespace, second.name) == (namespace, "demo")
    assert [r.name for r in await client.repos.list(namespace)] == ["demo"]


async def test_get_or_create_keeps_existing_content(client: OxenClient, namespace: str) -> None:
    from .conftest import AUTHOR

    await client.repos.create(namespace, "demo")
    await client.repo(namespace, "demo").files.upload("main", "", {"a.txt": b"a"}, author=AUTHOR)
    info = await client.repos.get_or_create(namespace, "demo")
    assert info.is_empty is False
    assert info.branch_count == 1
    assert info.size == 1


@pytest.mark.real_differs(
    "after deleting a repository without commits the real server answers 500 (its config gone, "
    "its folder left) instead of 404, for at least 20 s"
)
async def test_delete_removes_the_repository(client: OxenClient, namespace: str) -> None:
    await client.repos.create(namespace, "demo")
    await client.repos.delete(namespace, "demo")
    await _wait_gone(client, namespace, "demo")
    with pytest.raises(NotFoundError):
        await client.repos.get(namespace, "demo")


async def test_deleting_a_missing_repository_is_not_found(
    client: OxenClient, namespace: str
) -> None:
    with pytest.raises(NotFoundError) as caught:
        await client.repos.delete(namespace, "never-made")
    assert caught.value.status == 404


async def test_get_of_a_missing_repository_is_a_lookup_error(
    client: OxenClient, namespace: str
) -> None:
    with pytest.raises(LookupError) as caught:
        await client.repos.get(namespace, "nope")
    assert isinstance(caught.value, NotFoundError)
    assert f"{namespace}/nope" in str(caught.value)


async def test_list_is_sorted_by_name_and_scoped_to_the_namespace(
    client: OxenClient, namespace: str
) -> None:
    for name in ("zeta", "Alpha", "mid.dle", "b_2"):
        await client.repos.create(namespace, name)
    other = _unique("other")
    await client.repos.create(other, "elsewhere")
    try:
        names = [r.name for r in await client.repos.list(namespace)]
        assert names == sorted(["zeta", "Alpha", "mid.dle", "b_2"])
        assert all(r.namespace == namespace for r in await client.repos.list(namespace))
    finally:
        await client.repos.delete(other, "elsewhere")


async def test_listing_an_unknown_namespace_is_empty(client: OxenClient) -> None:
    assert await client.repos.list(_unique("nobody")) == []


@pytest.mark.parametrize("bad", ["a", "has space", "ünïcode", "-leading-dash", "at@sign"])
async def test_names_the_server_refuses_are_bad_requests(
    client: OxenClient, namespace: str, bad: str
) -> None:
    with pytest.raises(BadRequestError) as caught:
        await client.repos.create(namespace, bad)
    assert caught.value.status == 400
    assert bad in caught.value.message
    assert await client.repos.list(namespace) == []


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b"])
async def test_names_that_are_not_one_path_segment_fail_before_any_request(
    client: OxenClient, bad: str
) -> None:
    with pytest.raises(ConfigError):
        await client.repos.get("ns", bad)
    with pytest.raises(ConfigError):
        client.repo("ns", bad)
