"""The fault-injection and counters API of the bundled server (not reachable over HTTP)."""

from __future__ import annotations

import asyncio
import gzip
import threading
import time

import aiohttp
import pytest

from oxen_async.hashing import hash_bytes
from oxen_async.testing import FaultController, OxenTestServer

from ._wire import Wire, family_c, files_form

pytestmark = pytest.mark.fake_only


async def test_fail_next_by_route_name(wire: Wire, oxen_faults: FaultController) -> None:
    rule = oxen_faults.fail_next(2, route="branch_list", status=503)
    first, second, third = [await wire.get("/branches") for _ in range(3)]
    assert (first.status, second.status, third.status) == (503, 503, 200)
    assert first.headers["oxen-version"] == "0.65.2"
    assert rule.hits == 2 and rule.remaining == 0
    assert (await wire.get("")).status == 200  # other routes untouched


async def test_fail_statuses_and_retry_after(wire: Wire, oxen_faults: FaultController) -> None:
    oxen_faults.fail_next(route="branch_list", status=500)
    family_c(await wire.get("/branches"), 500, "internal_server_error")
    oxen_faults.fail_next(route="branch_list", status=429)
    limited = await wire.get("/branches")
    assert limited.status == 429 and limited.headers["Retry-After"] == "1"
    oxen_faults.fail_next(route="branch_list", status=503, retry_after=2.5)
    assert (await wire.get("/branches")).headers["Retry-After"] == "2.5"


async def test_selectors_path_regex_and_method(wire: Wire, oxen_faults: FaultController) -> None:
    oxen_faults.fail_next(5, path=r"/branches$", method="POST", status=500)
    assert (await wire.get("/branches")).status == 200
    await wire.commit_files({"a.txt": b"a"})
    created = await wire.call("POST", "/branches", json_body={"new_name": "x", "from_name": "main"})
    assert created.status == 500
    assert [b["name"] for b in (await wire.get("/branches")).json()["branches"]] == ["main"]


async def test_fraction_is_deterministic_with_a_seed(
    wire: Wire, oxen_faults: FaultController
) -> None:
    async def pattern() -> list[int]:
        oxen_faults.reset()
        oxen_faults.fail_fraction(0.3, route="version", seed=42)
        return [(await wire.get("/api/version")).status for _ in range(60)]

    first, second = await pattern(), await pattern()
    assert first == second
    failures = first.count(503)
    assert 8 <= failures <= 30, failures
    with pytest.raises(ValueError):
        oxen_faults.fail_fraction(1.5)


async def test_drop_mid_body_stages_nothing(wire: Wire, oxen_faults: FaultController) -> None:
    await wire.workspace("w")
    oxen_faults.drop_connection(route="workspace_files_add", when="mid_body", body_bytes=100)
    with pytest.raises(aiohttp.ClientError):
        await wire.stage("w", {f"f{i}.bin": bytes([i]) * 5000 for i in range(50)}, gz=False)
    staged = (await wire.get("/workspaces/w/changes")).json()["staged"]
    assert staged["added_files"]["total_entries"] == 0
    retry = await wire.stage("w", {"ok.txt": b"ok"})
    assert retry.json()["paths"] == ["ok.txt"]


async def test_drop_after_headers_loses_the_response_not_the_effect(
    wire: Wire, oxen_faults: FaultController
) -> None:
    await wire.commit_files({"a.txt": b"a"})
    before = await wire.head()
    await wire.workspace("w")
    await wire.stage("w", {"b.txt": b"b"})
    oxen_faults.drop_connection(route="workspace_merge", when="after_headers")
    with pytest.raises(aiohttp.ClientError):
        await wire.merge("w")
    assert await wire.head() != before  # the commit happened; only the reply was cut
    oxen_faults.drop_connection(route="file_get", when="after_headers")
    with pytest.raises(aiohttp.ClientError):
        await wire.download("main", "b.txt")


async def test_delay(wire: Wire, oxen_faults: FaultController) -> None:
    rule = oxen_faults.delay(0.3, route="version", count=1)
    started = time.monotonic()
    assert (await wire.get("/api/version")).status == 200
    assert time.monotonic() - started >= 0.3
    await wire.get("/api/version")
    assert rule.hits == 1  # count=1: the second request was not held


async def test_fail_store_by_hash_on_versions(wire: Wire, oxen_faults: FaultController) -> None:
    bad, good = b"refused", b"accepted"
    oxen_faults.fail_store(hashes=[hash_bytes(bad).upper()])
    form = aiohttp.FormData(quote_fields=False)
    for content in (bad, good):
        form.add_field(
            "file[]",
            gzip.compress(content),
            filename=hash_bytes(content),
            content_type="application/gzip",
        )
    body = (await wire.call("POST", "/versions", data=form)).json()
    assert [e["hash"] for e in body["err_files"]] == [hash_bytes(bad)]
    assert (await wire.get(f"/versions/{hash_bytes(bad)}/metadata")).status == 404
    assert (await wire.get(f"/versions/{hash_bytes(good)}/metadata")).status == 200


async def test_fail_store_on_workspace_files(wire: Wire, oxen_faults: FaultController) -> None:
    await wire.workspace("w")
    oxen_faults.fail_store(paths=["data/b.txt"], hashes=[hash_bytes(b"cc")])
    reply = await wire.stage("w", {"a.txt": b"aa", "b.txt": b"bb", "c.txt": b"cc"}, "data")
    assert reply.status == 200 and reply.json()["paths"] == ["data/a.txt"]


async def test_maintenance_locks_write_routes(wire: Wire, oxen_faults: FaultController) -> None:
    await wire.commit_files({"a.txt": b"a"})
    oxen_faults.maintenance(True, repo=f"{wire.repo.namespace}/{wire.repo.name}")
    locked = await wire.workspace("w")
    error = family_c(locked, 429, "lock_timeout", "Repository is busy")
    assert locked.json()["status_message"] == "too_many_requests"
    assert locked.headers["Retry-After"] == "5"
    assert "maintenance" in error["detail"]
    assert (await wire.call("POST", "/versions", data=files_form({"x": b"x"}))).status == 429
    assert (await wire.get("/dir/main")).status == 200  # reads pass
    assert (await wire.get("/branches")).status == 200
    oxen_faults.maintenance(False, repo=f"{wire.repo.namespace}/{wire.repo.name}")
    assert (await wire.workspace("w")).status == 200
    oxen_faults.maintenance(True)
    assert (await wire.workspace("w2")).status == 429


async def test_counters(wire: Wire, oxen_faults: FaultController) -> None:
    oxen_faults.stats.reset()
    await wire.workspace("w")
    files = {"a.bin": b"a" * 1000, "b.bin": b"b" * 500}
    await wire.stage("w", files, gz=False)
    await wire.stage("w", files, gz=True)
    stats = oxen_faults.stats.route("workspace_files_add")
    assert stats.requests == 2 and stats.statuses[200] == 2
    assert stats.file_parts == 4
    compressed = sum(len(gzip.compress(d)) for d in files.values())
    assert 1500 < stats.file_bytes < 1500 + compressed + 100
    reads_before = oxen_faults.stats.file_bytes()
    await wire.get("/workspaces/w/changes")
    assert oxen_faults.stats.file_bytes() == reads_before
    assert oxen_faults.stats.requests("workspace_changes") == 1
    assert "workspace_files_add" in OxenTestServer.route_names()


async def test_arming_from_another_thread_while_requests_flow(
    wire: Wire, oxen_faults: FaultController
) -> None:
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            oxen_faults.fail_next(1, route="version", status=503)
            oxen_faults.delay(0.0, route="version", count=1)
            oxen_faults.stats.snapshot()

    thread = threading.Thread(target=churn)
    thread.start()
    try:
        statuses = await asyncio.gather(*(wire.get("/api/version") for _ in range(40)))
    finally:
        stop.set()
        thread.join()
    assert {reply.status for reply in statuses} <= {200, 503}
    assert oxen_faults.stats.requests("version") == 40


async def test_a_leftover_rule(oxen_faults: FaultController) -> None:
    oxen_faults.fail_next(100, route="version")  # never consumed: the reset must disarm it
    assert len(oxen_faults.rules) == 1  # armed, so the next test's empty list means a reset


async def test_faults_were_reset_after_the_previous_test(oxen_faults: FaultController) -> None:
    assert oxen_faults.rules == []


async def test_corrupt_content_keeps_size_changes_bytes(
    wire: Wire, oxen_faults: FaultController
) -> None:
    await wire.commit_files({"a.txt": b"genuine", "b.txt": b"fine"})
    oxen_faults.corrupt_content(hashes=[hash_bytes(b"genuine")])
    served = await wire.download("main", "a.txt")
    assert served.status == 200 and len(served.body) == 7
    assert hash_bytes(served.body) != hash_bytes(b"genuine")
    assert (await wire.download("main", "b.txt")).body == b"fine"
    request = gzip.compress(f"{hash_bytes(b'genuine')}\n".encode())
    archive = await wire.call("QUERY", "/versions", data=request)
    assert archive.status == 200 and b"genuine" not in gzip.decompress(archive.body)
