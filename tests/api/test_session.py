"""Session behaviour a user sees: retries, non-retried writes, auth, secrecy, redirects, the
User-Agent gate."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from oxen_async import (
    Commit,
    FilePart,
    NotFoundError,
    OxenClient,
    RateLimitedError,
    RemoteRepo,
    RetryPolicy,
    ServerError,
    TransportError,
    UnauthorizedError,
    UpdateRequiredError,
)
from oxen_async.api.repos import Repositories
from oxen_async.session import USER_AGENT, Session
from oxen_async.testing import FaultController, RepoHandle, ServerHandle, loopback_app

from .conftest import AUTHOR


def _client(server: ServerHandle, **policy: float) -> OxenClient:
    retry = RetryPolicy(
        attempts=int(policy.pop("attempts", 5)),
        base_delay=0.01,
        max_delay=policy.pop("max_delay", 1.0),
        budget=policy.pop("budget", 10.0),
    )
    return OxenClient(server.url, token=server.token, retry=retry)


# --- retries -----------------------------------------------------------------------------------


@pytest.mark.fake_only
async def test_retry_after_is_honoured(
    oxen_server: ServerHandle, oxen_repo: RepoHandle, oxen_faults: FaultController
) -> None:
    oxen_faults.fail_next(2, route="repo_show", status=429, retry_after=0.3)
    async with _client(oxen_server) as oxen:
        started = time.monotonic()
        info = await oxen.repos.get(oxen_repo.namespace, oxen_repo.name)
        elapsed = time.monotonic() - started
    assert info.name == oxen_repo.name
    stats = oxen_faults.stats.route("repo_show")
    assert (stats.requests, stats.statuses[429], stats.statuses[200]) == (3, 2, 1)
    assert elapsed >= 0.6  # two waits of the announced 0.3 s, not the 10 ms base delay


@pytest.mark.fake_only
async def test_retries_stop_when_the_next_wait_would_exceed_the_budget(
    oxen_server: ServerHandle, oxen_repo: RepoHandle, oxen_faults: FaultController
) -> None:
    oxen_faults.fail_next(10, route="repo_show", status=503, retry_after=0.4)
    async with _client(oxen_server, attempts=10, budget=1.0) as oxen:
        started = time.monotonic()
        with pytest.raises(ServerError) as caught:
            await oxen.repos.get(oxen_repo.namespace, oxen_repo.name)
        elapsed = time.monotonic() - started
    assert caught.value.status == 503
    assert caught.value.retry_after == pytest.approx(0.4)
    assert oxen_faults.stats.requests("repo_show") == 3  # at 0, 0.4 and 0.8 s
    assert elapsed >= 0.8  # the two announced waits were honoured


@pytest.mark.fake_only
async def test_retries_stop_after_the_attempts(
    oxen_server: ServerHandle, oxen_repo: RepoHandle, oxen_faults: FaultController
) -> None:
    oxen_faults.fail_next(10, route="branch_list", status=502)
    async with _client(oxen_server, attempts=3) as oxen:
        with pytest.raises(ServerError):
            await oxen.repo(oxen_repo.namespace, oxen_repo.name).branches.list()
    assert oxen_faults.stats.requests("branch_list") == 3


@pytest.mark.fake_only
async def test_a_maintenance_lock_longer_than_the_budget_is_reported_at_once(
    oxen_server: ServerHandle, oxen_repo: RepoHandle, oxen_faults: FaultController
) -> None:
    oxen_faults.maintenance(True)
    async with _client(oxen_server, budget=2.0) as oxen:
        repo = oxen.repo(oxen_repo.namespace, oxen_repo.name)
        started = time.monotonic()
        with pytest.raises(RateLimitedError) as caught:
            await repo.workspaces.get_or_create("main")
        # Not the announced 5 s: that wait would break the 2 s budget, so no retry at all.
        assert time.monotonic() - started < 4.0
    assert caught.value.status == 429
    assert caught.value.retry_after == 5
    assert oxen_faults.stats.requests("workspace_get_or_create") == 1


@pytest.mark.fake_only
async def test_a_dropped_connection_on_a_read_is_retried(
    oxen_server: ServerHandle, oxen_repo: RepoHandle, oxen_faults: FaultController
) -> None:
    oxen_faults.drop_connection(1, route="repo_show", when="after_headers")
    async with _client(oxen_server) as oxen:
        info = await oxen.repos.get(oxen_repo.namespace, oxen_repo.name)
    assert info.name == oxen_repo.name
    assert oxen_faults.stats.requests("repo_show") == 2


@pytest.mark.fake_only
async def test_merge_is_not_retried_after_an_error_status(
    repo: RemoteRepo, first_commit: Commit, oxen_faults: FaultController
) -> None:
    ws = await repo.workspaces.get_or_create("main")
    await repo.workspaces.add_files(ws.id, "", [FilePart("new.txt", b"new")])
    oxen_faults.fail_next(1, route="workspace_merge", status=503)
    with pytest.raises(ServerError):
        await repo.workspaces.merge(ws.id, "main", message="m", author=AUTHOR)
    assert oxen_faults.stats.requests("workspace_merge") == 1
    # Nothing was committed, the staged change is intact, and a deliberate second call works.
    assert (await repo.branches.get("main")).commit_id == first_commit.id
    commit = await repo.workspaces.merge(ws.id, "main", message="m", author=AUTHOR)
    assert commit.parent_ids == (first_commit.id,)


@pytest.mark.fake_only
async def test_a_merge_turned_away_with_429_is_sent_again(
    repo: RemoteRepo, first_commit: Commit, oxen_faults: FaultController
) -> None:
    ws = await repo.workspaces.get_or_create("main")
    await repo.workspaces.add_files(ws.id, "", [FilePart("new.txt", b"new")])
    oxen_faults.fail_next(1, route="workspace_merge", status=429, retry_after=0.1)
    commit = await repo.workspaces.merge(ws.id, "main", message="m", author=AUTHOR)
    assert commit.parent_ids == (first_commit.id,)
    stats = oxen_faults.stats.route("workspace_merge")
    assert (stats.requests, stats.statuses[429], stats.statuses[200]) == (2, 1, 1)


@pytest.mark.fake_only
async def test_a_merge_whose_answer_is_lost_is_not_repeated(
    repo: RemoteRepo, first_commit: Commit, oxen_faults: FaultController
) -> None:
    ws = await repo.workspaces.get_or_create("main")
    await repo.workspaces.add_files(ws.id, "", [FilePart("new.txt", b"new")])
    oxen_faults.drop_connection(1, route="workspace_merge", when="after_headers")
    with pytest.raises(TransportError):
        await repo.workspaces.merge(ws.id, "main", message="m", author=AUTHOR)
    assert oxen_faults.stats.requests("workspace_merge") == 1
    # The server did commit: a blind retry would have failed (the workspace is gone).
    history = [c async for c in repo.commits.history("main")]
    assert [c.message for c in history] == ["m", first_commit.message]


# --- auth and secrecy --------------------------------------------------------------------------


async def test_a_wrong_token_is_unauthorized(
    oxen_server: ServerHandle, oxen_repo: RepoHandle
) -> None:
    if oxen_server.token is None:
        pytest.skip("the server runs without auth")
    for token in ("not-the-token", None):
        async with OxenClient(oxen_server.url, token=token or "") as oxen:
            with pytest.raises(UnauthorizedError) as caught:
                await oxen.repos.get(oxen_repo.namespace, oxen_repo.name)
        assert caught.value.status == 401
        assert isinstance(caught.value, PermissionError)
        assert "unauthorized" in caught.value.message.lower()


@pytest.mark.fake_only
async def test_the_token_appears_in_no_repr_error_or_log(
    oxen_server: ServerHandle,
    oxen_repo: RepoHandle,
    oxen_faults: FaultController,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = oxen_server.token
    assert token
    caplog.set_level(logging.DEBUG)
    shown: list[str] = []
    oxen_faults.fail_next(1, route="repo_show", status=503)  # a retry gets logged
    async with _client(oxen_server) as oxen:
        repo = oxen.repo(oxen_repo.namespace, oxen_repo.name)
        await oxen.repos.get(oxen_repo.namespace, oxen_repo.name)
        with pytest.raises(NotFoundError) as caught:
            await repo.branches.get("nope")
        err = caught.value
        shown += [repr(oxen), str(oxen), repr(oxen.session), str(oxen.session), repr(repo)]
        shown += [repr(repo.scope), repr(vars(oxen.session)), str(err), repr(err), repr(err.args)]
        shown += [err.url, err.message]
    async with OxenClient(oxen_server.url, token="wrong-" + token) as bad:
        with pytest.raises(UnauthorizedError) as denied:
            await bad.repos.get(oxen_repo.namespace, oxen_repo.name)
        shown += [repr(bad), str(denied.value), repr(denied.value)]
    assert any("retrying" in r.getMessage() for r in caplog.records)
    assert any(r.levelno == logging.DEBUG for r in caplog.records)
    for text in [*shown, caplog.text, *(r.getMessage() for r in caplog.records)]:
        assert token not in text
    assert "with token" in repr(oxen)


@dataclass
class _Recorder:
    seen: list[tuple[str, str | None]] = field(default_factory=list)

    def record(self, request: web.Request) -> None:
        self.seen.append((request.path, request.headers.get("Authorization")))


REPO_BODY = {
    "status": "success",
    "status_message": "resource_found",
    "repository": {"namespace": "ns", "name": "moved", "is_empty": True},
}


@pytest.fixture
async def other_origin() -> AsyncIterator[tuple[TestServer, _Recorder]]:
    """A server on another port that records the headers it receives."""
    recorder = _Recorder()

    async def handle(request: web.Request) -> web.Response:
        recorder.record(request)
        return web.json_response(REPO_BODY)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    async with loopback_app(app) as server:
        yield server, recorder


@pytest.fixture
async def redirecting(
    other_origin: tuple[TestServer, _Recorder],
) -> AsyncIterator[tuple[TestServer, _Recorder]]:
    """The "Oxen host": redirects one path to itself and another to the other origin."""
    target, _ = other_origin
    recorder = _Recorder()

    async def handle(request: web.Request) -> web.Response:
        recorder.record(request)
        if request.path == "/api/repos/ns/elsewhere":
            raise web.HTTPTemporaryRedirect(str(target.make_url("/api/repos/ns/moved")))
        if request.path == "/api/repos/ns/here":
            raise web.HTTPFound("/api/repos/ns/moved?page=2")
        return web.json_response(REPO_BODY)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    async with loopback_app(app) as server:
        yield server, recorder


async def test_the_token_is_not_sent_to_a_redirect_on_another_origin(
    redirecting: tuple[TestServer, _Recorder], other_origin: tuple[TestServer, _Recorder]
) -> None:
    home, home_seen = redirecting
    _, other_seen = other_origin
    async with OxenClient(str(home.make_url("")), token="s3cret-token") as oxen:
        info = await oxen.repos.get("ns", "elsewhere")
    assert info.name == "moved"
    assert home_seen.seen == [("/api/repos/ns/elsewhere", "Bearer s3cret-token")]
    assert other_seen.seen == [("/api/repos/ns/moved", None)]


async def test_the_token_follows_a_redirect_on_the_same_origin(
    redirecting: tuple[TestServer, _Recorder],
) -> None:
    home, home_seen = redirecting
    async with OxenClient(str(home.make_url("")), token="s3cret-token") as oxen:
        await oxen.repos.get("ns", "here")
    assert home_seen.seen == [
        ("/api/repos/ns/here", "Bearer s3cret-token"),
        ("/api/repos/ns/moved", "Bearer s3cret-token"),
    ]


# --- the User-Agent gate -----------------------------------------------------------------------


async def test_our_user_agent_passes_the_version_gate(
    oxen_server: ServerHandle, oxen_repo: RepoHandle
) -> None:
    assert "oxen" in USER_AGENT.lower()  # so the gate does look at it
    for agent, passes in [
        (USER_AGENT, True),
        ("Oxen/0.53.4 (linux; tokio)", True),
        ("oxen_async/0.1.0", False),
        ("MyOxenClient", False),
    ]:
        async with Session(oxen_server.url, token=oxen_server.token, user_agent=agent) as session:
            repos = Repositories(session)
            if passes:
                info = await repos.get(oxen_repo.namespace, oxen_repo.name)
                assert info.name == oxen_repo.name
            else:
                with pytest.raises(UpdateRequiredError) as caught:
                    await repos.get(oxen_repo.namespace, oxen_repo.name)
                assert caught.value.status == 426
