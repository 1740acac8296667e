"""Big transfers leave the event loop free: file I/O, hashing, gzip, tar, multipart encoding and
big decodes run in worker threads. asyncio's debug mode reports every step that holds the loop
longer than ``SLOW``. The server runs in its own process here, so that its work cannot hold our
interpreter's lock and pass for ours."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from oxen_async import FilePart, OxenClient, hash_bytes

from .conftest import AUTHOR

SLOW = 0.1  # seconds one step may hold the loop
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The bundled server as a separate process: (url, token)."""
    token = secrets.token_urlsafe(16)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "oxen_async.testing", "--port", "0"),
            *("--data-dir", str(tmp_path / "server"), "--auth-token", token),
        ],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("Serving on "), line
        yield line.removeprefix("Serving on ").strip(), token
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def test_big_transfers_never_hold_the_loop(
    server_process: tuple[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url, token = server_process
    size = 24 * 1024 * 1024
    data = os.urandom(size)
    digest = hash_bytes(data)
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    many = [FilePart(f"many/{i:05d}-{'x' * 60}.txt", b"%d" % i) for i in range(2000)]
    few = [FilePart(f"few/{i}.txt", os.urandom(100_000)) for i in range(8)]

    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = SLOW
    caplog.set_level(logging.WARNING, logger="asyncio")
    try:
        async with OxenClient(url, token=token) as oxen:
            await oxen.repos.create("ns", "loop")
            repo = oxen.repo("ns", "loop")
            ws = await repo.workspaces.get_or_create("main")
            await repo.workspaces.add_files(ws.id, "", many)  # a 2000-part form
            await repo.workspaces.add_files(ws.id, "", few)
            await repo.versions.upload_file(
                local, digest, size, repo_path="few/big.bin", workspace_id=ws.id
            )
            await repo.workspaces.merge(ws.id, "main", message="big", author=AUTHOR)
            page = await repo.dirs.list_page("main", "many", page_size=2000)  # a ~2 MB body
            fetched = await repo.versions.download([digest])  # a 24 MB tar.gz
            await repo.files.download_to("main", "few/big.bin", tmp_path / "copy.bin")
            report = await repo.download_folder("main", "few", tmp_path / "mirror")
    finally:
        loop.set_debug(False)

    assert len(page.entries) == 2000
    assert fetched[digest] == data
    assert (tmp_path / "copy.bin").read_bytes() == data
    assert report.ok and len(report.downloaded) == 9
    slow = [r.getMessage() for r in caplog.records if "took" in r.getMessage()]
    assert slow == []
