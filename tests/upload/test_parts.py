"""One large file through ``/versions/uploads`` parts (or the legacy chunk route), end to end:
what lands, what crosses the wire, what a fault costs.

Runs on any server; tests that need the parts protocol skip on a server without it (the bundled
server before it gains the route), fault tests need the bundled server's fault API.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from oxen_async import OxenClient, RemoteRepo, RetryPolicy, hash_bytes
from oxen_async.api.uploads import UploadRoute, Uploads, lacks_route, route_choice
from oxen_async.errors import BadRequestError, HTTPError
from oxen_async.models import AwaitingParts
from oxen_async.testing import Relay, RepoHandle, ServerHandle
from oxen_async.upload.parts import (
    LargeFileResult,
    RequestRecord,
    send_by_server_route,
    upload_in_parts,
)

from ._tree import AUTHOR

MiB = 1024 * 1024
FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, budget=10.0)
PARTS_ROUTE = r"/versions/uploads(/|$)"
PART_PUT = r"/versions/uploads/[^/]+/parts/\d+$"


def _kind(method: str, path: str) -> str:
    """What the relay counts a request as: ``"PUT parts"``, ``"POST begin"``, ..."""
    if re.search(PART_PUT, path):
        return f"{method} parts"
    if path.endswith("/versions/uploads"):
        return f"{method} begin"
    if "/chunks" in path:
        return f"{method} chunks"
    if path.endswith("/complete"):
        return f"{method} complete"
    if path == "/api/version":
        return f"{method} version"
    return f"{method} other"


async def _has_parts_route(repo: RemoteRepo) -> bool:
    """Size 0 is refused (400) by a server with the route, and opens no upload."""
    try:
        await Uploads(repo.scope).begin(hash_bytes(b"probe"), 0)
    except BadRequestError:
        return True
    except HTTPError as error:
        if lacks_route(error):
            return False
        raise
    raise AssertionError("a begin of size 0 was accepted")


@pytest.fixture
async def parts_repo(repo: RemoteRepo) -> RemoteRepo:
    """The test's repository, on a server that speaks the parts protocol."""
    if not await _has_parts_route(repo):
        pytest.skip("this server has no /versions/uploads (the bundled one gains it from B)")
    await repo.files.upload("main", "", {"README.md": b"# seed\n"}, author=AUTHOR)
    return repo


def _big_file(tmp_path: Path, size: int, name: str = "big.bin") -> tuple[Path, bytes, str]:
    data = os.urandom(size)
    path = tmp_path / name
    path.write_bytes(data)
    return path, data, hash_bytes(data)


async def _send(
    repo: RemoteRepo, path: Path, content_id: str, size: int, workspace_id: str, repo_path: str
) -> LargeFileResult:
    return await send_by_server_route(
        repo.versions,
        Uploads(repo.scope),
        path,
        content_id,
        size,
        repo_path=repo_path,
        workspace_id=workspace_id,
    )


def _parts(log: list[RequestRecord]) -> list[RequestRecord]:
    return [r for r in log if r.kind == "part"]


async def test_a_large_file_lands_byte_exact_through_parts(
    parts_repo: RemoteRepo, tmp_path: Path
) -> None:
    repo = parts_repo
    path, data, content_id = _big_file(tmp_path, 10 * MiB + 12345)
    ws = await repo.workspaces.get_or_create("main")
    result = await _send(repo, path, content_id, len(data), ws.id, "data/big.bin")
    await repo.workspaces.merge(ws.id, "main", message="big", author=AUTHOR)

    assert result.route is UploadRoute.PARTS
    assert route_choice(repo.scope.session).decided is UploadRoute.PARTS
    assert (result.begins, result.already_stored, result.bytes_sent) == (1, False, len(data))
    parts = _parts(result.requests)
    assert sorted(p.part for p in parts if p.part) == list(range(1, len(parts) + 1))
    assert sum(p.size for p in parts) == len(data)
    assert [p.outcome for p in parts].count("completed") == 1
    listed = {e.filename: e async for e in repo.dirs.entries("main", "data")}
    assert listed["big.bin"].hash == content_id
    assert listed["big.bin"].size == len(data)
    assert await repo.files.download("main", "data/big.bin") == data


async def test_content_the_server_holds_costs_one_request(
    parts_repo: RemoteRepo, tmp_path: Path, oxen_server: ServerHandle
) -> None:
    repo = parts_repo
    path, data, content_id = _big_file(tmp_path, 10 * MiB + 1)
    ws = await repo.workspaces.get_or_create("main")
    await _send(repo, path, content_id, len(data), ws.id, "a/first.bin")
    before = _server_requests(oxen_server)

    again = await _send(repo, path, content_id, len(data), ws.id, "b/second.bin")

    assert again.already_stored and again.bytes_sent == 0
    assert again.requests == [RequestRecord("begin", "already_stored")]
    if before is not None:  # the bundled server counts what it received
        assert _server_requests(oxen_server) == before + 1
    # The one request also staged the second path: both land in one commit.
    await repo.workspaces.merge(ws.id, "main", message="two", author=AUTHOR)
    assert await repo.files.download("main", "b/second.bin") == data
    assert (await repo.dirs.meta("main", "a/first.bin")).hash == content_id


def _server_requests(server: ServerHandle) -> int | None:
    if server.faults is None:
        return None
    return sum(s.requests for s in server.faults.stats.snapshot().values())


async def test_parts_overlap_within_the_limit(
    parts_repo: RemoteRepo, oxen_repo: RepoHandle, tmp_path: Path
) -> None:
    path, data, content_id = _big_file(tmp_path, 40 * MiB + 7)
    async with (
        Relay(oxen_repo.server.url, classify=_kind) as relay,
        OxenClient(relay.url, token=oxen_repo.server.token) as oxen,
    ):
        relay.stall(PART_PUT, 0.05)  # a slower link: lets overlap show
        repo = oxen.repo(oxen_repo.namespace, oxen_repo.name)
        result = await upload_in_parts(
            Uploads(repo.scope), path, content_id, len(data), repo_path="x.bin", parts_in_flight=3
        )
    assert result.bytes_sent == len(data)
    assert relay.stats.count("PUT parts") == len(_parts(result.requests)) >= 4
    # Parts went side by side, never more than asked for (memory: 3 x part_size).
    assert relay.stats.max_in_flight["PUT parts"] == 3
    assert await parts_repo.versions.exists(content_id)


async def test_parts_that_never_report_completion_are_verified_by_beginning_again(
    parts_repo: RemoteRepo, oxen_repo: RepoHandle, tmp_path: Path
) -> None:
    path, data, content_id = _big_file(tmp_path, 10 * MiB + 13)
    async with (
        Relay(oxen_repo.server.url, classify=_kind) as relay,
        OxenClient(relay.url, token=oxen_repo.server.token) as oxen,
    ):
        # The file completes, but this client is never told so.
        relay.rewrite(PART_PUT, b'"completed":true', b'"completed":false')
        repo = oxen.repo(oxen_repo.namespace, oxen_repo.name)
        result = await upload_in_parts(
            Uploads(repo.scope), path, content_id, len(data), repo_path="x.bin"
        )
    assert [p.outcome for p in _parts(result.requests)] == ["stored"] * relay.stats.count(
        "PUT parts"
    )
    assert result.requests[-1] == RequestRecord("begin", "already_stored")
    assert (result.begins, relay.stats.count("POST begin")) == (2, 2)
    assert result.bytes_sent == len(data) and not result.already_stored


def _version_answer(version: str) -> dict[str, str]:
    return {"status": "success", "status_message": "resource_found", "oxen_version": version}


def _hide_parts_route(relay: Relay, status: int) -> None:
    """Answer the parts routes the way a server without them answers an unrouted path."""
    if status == 405:
        # 0.53.4 routes GET /versions/{resource:.*}: another method there is 405.
        relay.answer(PARTS_ROUTE, status=405)
    else:
        # What oxen-server 0.65.2 answers for a path it does not route (observed).
        not_found = {"status": "error", "status_message": "resource_not_found"}
        relay.answer(PARTS_ROUTE, status=404, json=not_found)


@pytest.mark.parametrize(
    ("claimed", "hidden_status"),
    [("0.65.2", 404), (None, 404), (None, 405), ("0.53.4", 404)],
)
async def test_legacy_chunks_where_the_server_lacks_the_parts_route(
    oxen_repo: RepoHandle, tmp_path: Path, claimed: str | None, hidden_status: int
) -> None:
    """A server without the route (played by a proxy that answers it as unrouted): one begin
    shows it when the server claims >= 0.54 or names no version, none when it says older; the
    file then goes by chunks, and so does every later file of that client."""
    first, data1, id1 = _big_file(tmp_path, 10 * MiB + 3, "one.bin")
    second, data2, id2 = _big_file(tmp_path, 10 * MiB + 5, "two.bin")
    version = claimed if claimed is not None else "not a version"
    async with (
        Relay(oxen_repo.server.url, classify=_kind) as relay,
        OxenClient(relay.url, token=oxen_repo.server.token, retry=FAST_RETRY) as oxen,
    ):
        relay.answer(r"^/api/version$", json=_version_answer(version))
        _hide_parts_route(relay, hidden_status)
        repo = oxen.repo(oxen_repo.namespace, oxen_repo.name)
        await repo.files.upload("main", "", {"README.md": b"# seed\n"}, author=AUTHOR)
        ws = await repo.workspaces.get_or_create("main")
        one = await _send(repo, first, id1, len(data1), ws.id, "one.bin")
        two = await _send(repo, second, id2, len(data2), ws.id, "two.bin")
        await repo.workspaces.merge(ws.id, "main", message="legacy", author=AUTHOR)
        assert await repo.files.download("main", "one.bin") == data1
        assert await repo.files.download("main", "two.bin") == data2

    assert (one.route, two.route) == (UploadRoute.LEGACY, UploadRoute.LEGACY)
    assert (one.bytes_sent, two.bytes_sent) == (len(data1), len(data2))
    assert relay.stats.count("GET version") == 1
    assert relay.stats.count("POST begin") == (0 if claimed == "0.53.4" else 1)
    assert relay.stats.count("PUT parts") == 0
    assert relay.stats.count("POST complete") == 2


# --- faults (bundled server) ------------------------------------------------------------------


@pytest.mark.fake_only
async def test_a_part_deferred_with_429_is_sent_again_after_retry_after(
    oxen_server: ServerHandle, oxen_repo: RepoHandle, tmp_path: Path
) -> None:
    assert oxen_server.faults is not None
    path, data, content_id = _big_file(tmp_path, 10 * MiB + 9)
    async with OxenClient(oxen_server.url, token=oxen_server.token) as oxen:
        repo = oxen.repo(oxen_repo.namespace, oxen_repo.name)
        if not await _has_parts_route(repo):
            pytest.skip("the bundled server has no /versions/uploads yet (helper B)")
        rule = oxen_server.faults.fail_next(
            1, path=r"/versions/uploads/[^/]+/parts/2$", method="PUT", status=429, retry_after=0.4
        )
        started = time.monotonic()
        result = await upload_in_parts(
            Uploads(repo.scope), path, content_id, len(data), repo_path="big.bin"
        )
        elapsed = time.monotonic() - started
        assert await repo.versions.exists(content_id)
    assert rule.hits == 1
    assert elapsed >= 0.4  # the announced wait, not an immediate resend
    assert result.begins == 1 and result.bytes_sent == len(data)
    assert [p.outcome for p in _parts(result.requests)].count("completed") == 1


@pytest.mark.fake_only
async def test_a_lost_answer_to_the_last_part_is_recovered_by_beginning_again(
    oxen_server: ServerHandle, oxen_repo: RepoHandle, tmp_path: Path
) -> None:
    assert oxen_server.faults is not None
    path, data, content_id = _big_file(tmp_path, 10 * MiB + 11)
    async with OxenClient(oxen_server.url, token=oxen_server.token, retry=FAST_RETRY) as oxen:
        repo = oxen.repo(oxen_repo.namespace, oxen_repo.name)
        if not await _has_parts_route(repo):
            pytest.skip("the bundled server has no /versions/uploads yet (helper B)")
        await repo.files.upload("main", "", {"README.md": b"# seed\n"}, author=AUTHOR)
        ws = await repo.workspaces.get_or_create("main")
        # How many parts the server cuts this size into (the probe's upload idles out unused).
        probe = await Uploads(repo.scope).begin(hash_bytes(b"size probe"), len(data))
        assert isinstance(probe, AwaitingParts)
        last = probe.num_parts
        # One part at a time, so the last part is the one that completes the file.
        rule = oxen_server.faults.drop_connection(
            1, path=rf"/versions/uploads/[^/]+/parts/{last}$", method="PUT", when="after_headers"
        )
        result = await upload_in_parts(
            Uploads(repo.scope),
            path,
            content_id,
            len(data),
            repo_path="big.bin",
            workspace_id=ws.id,
            parts_in_flight=1,
        )
        await repo.workspaces.merge(ws.id, "main", message="big", author=AUTHOR)
        assert await repo.files.download("main", "big.bin") == data
    assert rule.hits == 1
    # The resent part found the upload gone (it had completed); beginning again said so.
    gone, begun = result.requests[-2:]
    assert (gone.kind, gone.outcome, gone.part) == ("part", "gone", last)
    assert begun == RequestRecord("begin", "already_stored")
    assert result.begins == 2 and not result.already_stored


# --- through the uploader ---------------------------------------------------------------------


async def test_the_uploader_sends_large_files_by_the_servers_route_and_counts_already_stored(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    await repo.files.upload("main", "", {"README.md": b"# seed\n"}, author=AUTHOR)
    expected = UploadRoute.PARTS if await _has_parts_route(repo) else UploadRoute.LEGACY
    src = tmp_path / "src"
    src.mkdir()
    big = os.urandom(10 * MiB + 21)
    (src / "big.bin").write_bytes(big)
    (src / "small.txt").write_bytes(b"small\n")
    first = await repo.upload_folder(str(src), author=AUTHOR, state_dir=state_dir)
    assert first.ok and first.status == "committed", first.failed
    assert (first.large_files, first.large_already_stored) == (1, 0)
    assert first.wire_bytes >= len(big)
    assert route_choice(repo.scope.session).decided is expected

    # The same content under a new name: the server holds it, one small request stages it.
    (src / "copy").mkdir()
    (src / "copy" / "big-again.bin").write_bytes(big)
    second = await repo.upload_folder(str(src), author=AUTHOR, state_dir=state_dir)
    assert second.ok and second.status == "committed", second.failed
    assert second.files_uploaded == 1 and second.large_files == 1
    if expected is UploadRoute.PARTS:
        assert second.large_already_stored == 1
        assert second.wire_bytes < 64 * 1024  # no part went
    else:
        assert second.large_already_stored == 0  # the legacy route cannot tell
    assert await repo.files.download("main", "copy/big-again.bin") == big
    assert (await repo.dirs.meta("main", "big.bin")).hash == hash_bytes(big)
