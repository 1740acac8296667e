"""What the 0.65 line asks of every typed call, working on 0.53.4 too: the namespace rule as a
local error, path history paging, the new optional fields."""

from __future__ import annotations

import pytest

from oxen_async import ConfigError, OxenClient, RemoteRepo
from oxen_async.api.uploads import parse_version
from oxen_async.models import RepositoryInfoResponse, StatusResponse
from oxen_async.testing import ServerHandle

from .conftest import AUTHOR

BAD_NAMESPACES = ["my.org", "a", "-org", "org name", "ünï", "x" * 51, "at@sign"]


@pytest.mark.parametrize("namespace", BAD_NAMESPACES)
async def test_a_namespace_the_server_line_refuses_fails_before_any_request(
    oxen_server: ServerHandle, namespace: str
) -> None:
    before = _requests(oxen_server)
    async with OxenClient(oxen_server.url, token=oxen_server.token) as oxen:
        for call in (
            lambda: oxen.repos.create(namespace, "demo"),
            lambda: oxen.repos.get_or_create(namespace, "demo"),
            lambda: oxen.repos.get(namespace, "demo"),
            lambda: oxen.repos.list(namespace),
        ):
            with pytest.raises(ConfigError, match="invalid namespace") as caught:
                await call()
            assert repr(namespace) in str(caught.value)
        with pytest.raises(ConfigError, match="invalid namespace"):
            oxen.repo(namespace, "demo")
        with pytest.raises(ConfigError, match="invalid namespace"):
            oxen.repo(f"{namespace}/demo")
    if before is not None:
        assert _requests(oxen_server) == before  # nothing reached the server


@pytest.mark.parametrize("namespace", ["ox", "my-org", "my_org", "MyOrg123", "a" * 50])
def test_namespaces_the_rule_accepts(namespace: str) -> None:
    assert OxenClient("http://127.0.0.1:9").repo(namespace, "demo.v2").namespace == namespace


def _requests(server: ServerHandle) -> int | None:
    if server.faults is None:
        return None
    return sum(s.requests for s in server.faults.stats.snapshot().values())


async def test_path_history_pages_through_every_commit(
    repo: RemoteRepo, first_commit: object
) -> None:
    """0.65 pages a path's history by ``has_more`` only; 0.53.4 by ``total_pages``."""
    made = []
    for n in range(3):
        commit = await repo.files.upload(
            "main", "", {"hello.txt": f"v{n}\n".encode()}, author=AUTHOR
        )
        made.append(commit.id)
    page = await repo.commits.history_page("main", "hello.txt", page_size=1)
    assert page.has_more is True or page.total_pages == 4
    seen = [c.id async for c in repo.commits.history("main", "hello.txt", page_size=1)]
    assert seen[:3] == made[::-1]
    assert len(seen) == 4  # and the first commit, which added it


async def test_new_optional_fields_decode_where_sent(
    repo: RemoteRepo, first_commit: object, oxen_server: ServerHandle
) -> None:
    session = repo.scope.session
    info = (await session.request("GET", repo.scope.base, RepositoryInfoResponse)).repository
    ws = await repo.workspaces.get(
        (await repo.workspaces.get_or_create("main", name="fields-ws")).id
    )
    version = parse_version(
        (await session.request("GET", "/api/version", StatusResponse)).oxen_version
    )
    if oxen_server.is_real and version is not None and version >= (0, 65, 0):
        # 0.65.2 sends both (observed); 0.53.4 sends neither, and they stay None.
        assert info.repo_uuid and len(info.repo_uuid) == 36
        assert ws.created_at and ws.created_at[:2] == "20"
    for value in (info.repo_uuid, ws.created_at):
        assert value is None or isinstance(value, str)
