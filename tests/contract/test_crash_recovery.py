"""A server SIGKILLed mid-upload restarts on the same data dir with everything intact.

Runs ``python -m oxen_async.testing`` as a subprocess, so this checks the bundled server only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from oxen_async.hashing import hash_bytes
from oxen_async.testing import RepoHandle, ServerHandle
from oxen_async.testing.blobs import VersionStore

from ._wire import Wire

pytestmark = pytest.mark.fake_only
TOKEN = "crash-token"


@contextlib.asynccontextmanager
async def _server_process(data_dir: Path) -> AsyncIterator[tuple[subprocess.Popen[bytes], str]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "oxen_async.testing",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--auth-token",
            TOKEN,
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 60)
        assert line.startswith(b"Serving on "), line
        yield process, line.decode().split()[-1]
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def _handle(url: str) -> RepoHandle:
    server = ServerHandle(url, TOKEN, None, True, None, stop=lambda: None)
    return RepoHandle(server, "crash", "repo")


async def _keep_writing(wire: Wire, acknowledged: list[str], worker: int) -> None:
    """Upload and merge until the server dies; remember every merge it acknowledged."""
    round_ = 0
    with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError, AssertionError):
        while True:
            workspace = f"w{worker}-{round_}-{os.urandom(4).hex()}"
            await wire.workspace(workspace)
            files = {f"w{worker}/r{round_}/f{i}.bin": os.urandom(30_000) for i in range(40)}
            await wire.stage(workspace, files, gz=False)
            merged = await wire.merge(workspace, message=f"{worker}-{round_}")
            if merged.status == 200:
                acknowledged.append(merged.json()["commit"]["id"])
            round_ += 1


async def _verify(wire: Wire, acknowledged: list[str]) -> int:
    """Every branch, commit and file readable and matching its hash; returns the file count."""
    branches = (await wire.get("/branches")).json()["branches"]
    assert [b["name"] for b in branches] == ["keep", "main"]
    history = (await wire.get("/commits/history/main", params={"page_size": "1000"})).json()
    ids = {c["id"] for c in history["commits"]}
    assert set(acknowledged) <= ids  # an acknowledged commit is never lost
    count = 0
    pending = [""]
    while pending:
        path = pending.pop()
        suffix = f"/{path}" if path else ""
        listing = (await wire.get(f"/dir/main{suffix}", params={"page_size": "10000"})).json()
        for entry in listing["entries"]:
            child = f"{path}/{entry['filename']}" if path else entry["filename"]
            if entry["is_dir"]:
                pending.append(child)
                continue
            body = (await wire.download("main", child)).body
            assert hash_bytes(body) == entry["hash"], child
            count += 1
    return count


def _check_blobs(data_dir: Path) -> None:
    """No torn blob anywhere: every stored version (loose or packed) re-hashes to its name."""
    oxen_dir = data_dir / "crash" / "repo" / ".oxen"
    store = VersionStore(oxen_dir, oxen_dir / "tmp")
    names = store.names()
    assert len(names) > 100
    for name in names:
        assert hash_bytes(store.read(name)) == name, name


async def _write_until_killed(
    data_dir: Path, acknowledged: list[str], first_time: bool, pause: float
) -> None:
    async with _server_process(data_dir) as (process, url):
        repo = _handle(url)
        async with aiohttp.ClientSession(headers=repo.server.auth_headers()) as session:
            wire = Wire(session, repo)
            if first_time:
                body = {"namespace": "crash", "name": "repo"}
                assert (await wire.call("POST", "/api/repos", json_body=body)).status == 200
                first = await wire.commit_files({"stable/a.txt": b"a", "stable/b.txt": b"b"})
                body = {"new_name": "keep", "commit_id": first["id"]}
                await wire.call("POST", "/branches", json_body=body)
            else:
                await _verify(wire, acknowledged)
            seen = len(acknowledged)
            writers = [asyncio.create_task(_keep_writing(wire, acknowledged, n)) for n in range(4)]
            while len(acknowledged) < seen + 2:
                await asyncio.sleep(0.02)
            await asyncio.sleep(pause)  # the next round of bodies and writes is under way
            process.send_signal(signal.SIGKILL)
            await asyncio.gather(*writers)


async def test_sigkill_mid_upload_then_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    acknowledged: list[str] = []
    for cycle, pause in enumerate((0.1, 0.4)):
        await _write_until_killed(data_dir, acknowledged, cycle == 0, pause)
        _check_blobs(data_dir)

    # Rounds cut short leave workspaces behind; make sure one journal ends in a torn line.
    metas = list((data_dir / "crash" / "repo" / ".oxen" / "workspaces").glob("*/meta.json"))
    assert metas
    generation = json.loads(metas[0].read_bytes())["generation"]
    with open(metas[0].parent / f"staged-{generation}.log", "ab") as handle:
        handle.write(b'["s","torn/line.txt",["ab')

    async with _server_process(data_dir) as (_, url):
        repo = _handle(url)
        async with aiohttp.ClientSession(headers=repo.server.auth_headers()) as session:
            wire = Wire(session, repo)
            before = await _verify(wire, acknowledged)
            assert before >= 2 + 4 * 40
            assert (await wire.download("keep", "stable/a.txt")).body == b"a"
            listed = (await wire.get("/workspaces")).json()["workspaces"]
            assert listed
            for workspace in listed:  # survivors still work, torn journal or not
                files = {"after/restart.txt": workspace["id"].encode()}
                reply = await wire.stage(workspace["id"], files)
                assert reply.status == 200, reply.text
            await wire.commit_files({"after/new.txt": b"new"}, message="after restart")
            assert await _verify(wire, acknowledged) == before + 1
    _check_blobs(data_dir)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_signals_stop_the_server_cleanly(tmp_path: Path, signum: int) -> None:
    async with _server_process(tmp_path / "data") as (process, url):
        async with aiohttp.ClientSession() as session:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with session.get(f"{url}/api/version", headers=headers) as reply:
                assert reply.status == 200
        process.send_signal(signum)
        code = await asyncio.wait_for(asyncio.to_thread(process.wait), 30)
        assert code == 0
