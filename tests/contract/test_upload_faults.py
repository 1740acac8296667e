"""The bundled server's knobs and faults on 0.65's routes: upload limits, idle abort, a lost
completion answer, 429 on a part, a branch moved during a merge, and the counters showing each."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from oxen_async.hashing import hash_bytes
from oxen_async.testing import FaultController, OxenTestServer
from oxen_async.testing.uploads import UploadLimits

from ._wire import Wire, family_b, family_c
from .test_version_uploads import awaiting, begin, completed, put_part, staged_paths

pytestmark = pytest.mark.fake_only

UA = {"User-Agent": "oxen-async-tests/1.0.0"}


@pytest.fixture
async def small_parts(tmp_path: Path) -> AsyncIterator[tuple[OxenTestServer, str]]:
    """A server with 1 KiB parts, a 3-part window and a 0.3 s idle timeout; its repo's URL."""
    server = OxenTestServer(
        tmp_path, upload_limits=UploadLimits(part_size=1024, memory=3 * 1024, idle_timeout=0.3)
    )
    url = await server.start_async()
    async with aiohttp.ClientSession(headers=UA) as session:
        created = await session.post(f"{url}/api/repos", json={"namespace": "ns", "name": "rr"})
        assert created.status == 200
    try:
        yield server, f"{url}/api/repos/ns/rr"
    finally:
        await server.stop_async()


async def test_limits_set_part_size_and_window(small_parts: tuple[OxenTestServer, str]) -> None:
    server, repo = small_parts
    data = os.urandom(5 * 1024 + 7)
    async with aiohttp.ClientSession(headers=UA) as session:
        began = await session.post(
            f"{repo}/versions/uploads", json={"hash": hash_bytes(data), "size": len(data)}
        )
        body = await began.json()
        assert (body["part_size"], body["num_parts"], body["part_window"]) == (1024, 6, 3)
        parts = f"{repo}/versions/uploads/{body['upload_id']}/parts"

        async def send(number: int) -> aiohttp.ClientResponse:
            piece = data[(number - 1) * 1024 : number * 1024]
            return await session.put(f"{parts}/{number}", data=piece)

        assert (await send(4)).status == 429  # parts 1-3 fill the window
        for number in (2, 3):
            assert (await send(number)).status == 200
        assert (await send(4)).status == 429  # still waiting for part 1 to be hashed
        assert (await send(1)).status == 200  # hashes 1-3: the window moves to 4-6
        for number in (4, 5):
            assert (await send(number)).status == 200
        last = await send(6)
        assert (await last.json())["completed"] is True
    stats = server.stats.route("version_upload_part")
    assert stats.statuses[429] == 2 and stats.statuses[200] == 6
    assert stats.file_bytes == len(data)
    assert server.stats.route("version_upload_begin").uploads_begun == 1


async def test_idle_upload_is_aborted(small_parts: tuple[OxenTestServer, str]) -> None:
    server, repo = small_parts
    data = os.urandom(2048)
    async with aiohttp.ClientSession(headers=UA) as session:
        began = await session.post(
            f"{repo}/versions/uploads", json={"hash": hash_bytes(data), "size": len(data)}
        )
        upload = (await began.json())["upload_id"]
        deadline = time.monotonic() + 10
        while server.uploads.count() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # polling the server's own state, not guessing a time
        assert server.uploads.count() == 0
        late = await session.put(f"{repo}/versions/uploads/{upload}/parts/1", data=data[:1024])
        assert late.status == 404
        assert (await late.json())["status_description"] == f"Version upload {upload} not found"


async def test_a_part_arriving_keeps_the_upload_alive(
    small_parts: tuple[OxenTestServer, str],
) -> None:
    server, repo = small_parts
    data = os.urandom(1024)
    held = asyncio.Event()
    release = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield data[:10]
        held.set()
        await release.wait()
        yield data[10:]

    async with aiohttp.ClientSession(headers=UA) as session:
        began = await session.post(
            f"{repo}/versions/uploads", json={"hash": hash_bytes(data), "size": len(data)}
        )
        upload = (await began.json())["upload_id"]
        sending = asyncio.create_task(
            session.put(f"{repo}/versions/uploads/{upload}/parts/1", data=slow())
        )
        await held.wait()
        # Several idle timeouts pass while the part is in flight: the sweep must skip it.
        stored_repo = server.storage.repo("ns", "rr")
        assert stored_repo is not None
        found = server.uploads.find(stored_repo, upload)
        start = time.monotonic()
        while time.monotonic() - start < 1.0:
            server.uploads.abort_idle()
            await asyncio.sleep(0.05)
        assert not found.ended
        release.set()
        answer = await sending
        assert answer.status == 200 and (await answer.json())["completed"] is True


async def test_lost_completion_answer_then_begin_again(
    wire: Wire, oxen_faults: FaultController
) -> None:
    await wire.workspace("w")
    data = os.urandom(3000)
    upload = awaiting(
        await begin(wire, hash_bytes(data), len(data), workspace_id="w", path="f.bin")
    )
    oxen_faults.drop_completion_answer()
    with pytest.raises(aiohttp.ClientError):
        await put_part(wire, upload["upload_id"], 1, data)
    assert oxen_faults.stats.route("version_upload_part").faults_injected == 1
    # The file was stored and staged; beginning again costs no bytes.
    again = await begin(wire, hash_bytes(data), len(data), workspace_id="w", path="f.bin")
    assert again.json()["file"] == "already_stored"
    assert await staged_paths(wire, "w") == ["f.bin"]
    family_b(await put_part(wire, upload["upload_id"], 1, data), 404)


async def test_route_faults_reach_parts(wire: Wire, oxen_faults: FaultController) -> None:
    data = os.urandom(100)
    upload = awaiting(await begin(wire, hash_bytes(data), len(data)))["upload_id"]
    rule = oxen_faults.fail_next(route="version_upload_part", status=429)
    refused = await put_part(wire, upload, 1, data)
    assert refused.status == 429 and refused.headers["Retry-After"] == "1"
    assert rule.hits == 1
    assert completed(await put_part(wire, upload, 1, data)) is True
    family_b(await put_part(wire, upload, 1, data), 404)
    oxen_faults.fail_next(route="version_upload_begin", status=503)
    assert (await begin(wire, hash_bytes(b"x"), 1)).status == 503


async def test_resent_parts_are_counted(wire: Wire, oxen_faults: FaultController) -> None:
    data = os.urandom(10 * 1024 * 1024 + 5)
    upload = awaiting(await begin(wire, hash_bytes(data), len(data)))["upload_id"]
    assert completed(await put_part(wire, upload, 2, data[10 * 1024 * 1024 :])) is False
    assert completed(await put_part(wire, upload, 2, b"ignored")) is False
    assert oxen_faults.stats.route("version_upload_part").parts_ignored == 1


async def test_branch_moved_during_merge(wire: Wire, oxen_faults: FaultController) -> None:
    await wire.commit_files({"a.txt": b"a"})
    before = await wire.head()
    await wire.workspace("w", name="w")
    await wire.stage("w", {"b.txt": b"b"})
    oxen_faults.move_branch_during_merge()
    refused = await wire.merge("w", message="b")
    assert refused.headers["Retry-After"] == "1"
    error = family_c(refused, 429, "branch_head_mismatch", "Branch moved during the write")
    moved = await wire.head()
    assert moved != before
    assert error["detail"] == (
        f'Branch \'main\' head mismatch: expected Some("{before}"), found Some("{moved}")'
    )
    assert refused.json()["status_message"] == "too_many_requests"
    assert oxen_faults.stats.route("workspace_merge").faults_injected == 1
    assert await staged_paths(wire, "w") == ["b.txt"]  # nothing lost
    merged = await wire.merge("w", message="b")  # the retry lands on the moved head
    assert merged.status == 200, merged.text
    assert merged.json()["commit"]["parent_ids"] == [moved]
    assert (await wire.download("main", "b.txt")).body == b"b"
