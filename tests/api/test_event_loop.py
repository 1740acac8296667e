"""Big transfers leave the event loop free: file I/O, hashing, gzip, tar, multipart encoding and
big decodes run in worker threads.

Two checks. A deterministic one: an audit hook records every data file the event loop's own
thread opens while the transfers run, and there must be none. A coarse one: asyncio's debug mode
reports steps that hold the loop longer than ``SLOW``, a bound far above what any non-blocking
step takes even on a loaded 2-core machine, and far below what hashing or encoding these sizes
on the loop would take. The server runs in its own process, so its work cannot pass for ours."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from oxen_async import FilePart, OxenClient, hash_bytes

from .conftest import AUTHOR

SLOW = 1.0  # seconds: gross blocking only; the audit hook is the precise check
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The bundled server as a separate process: (url, token)."""
    token = secrets.token_urlsafe(16)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "oxen_async.testing", "--port", "0"),
            *("--data-dir", str(tmp_path / "server"), f"--auth-token={token}"),
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
    loop_thread = threading.get_ident()
    opened_on_loop: list[str] = []
    watching = True

    def audit(event: str, args: tuple[object, ...]) -> None:
        # The transfers' own files live under tmp_path (source files that debug mode reads
        # for its tracebacks do not count).
        on_loop = watching and threading.get_ident() == loop_thread
        if on_loop and event == "open" and str(args[0]).startswith(str(tmp_path)):
            opened_on_loop.append(str(args[0]))

    sys.addaudithook(audit)  # hooks cannot be removed: ``watching`` turns this one off
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
        watching = False
        loop.set_debug(False)

    assert len(page.entries) == 2000
    assert fetched[digest] == data
    assert (tmp_path / "copy.bin").read_bytes() == data
    assert report.ok and len(report.downloaded) == 9
    assert opened_on_loop == []
    slow = [r.getMessage() for r in caplog.records if "took" in r.getMessage()]
    assert slow == []


async def test_big_bodies_reach_the_socket_a_slice_at_a_time(
    server_process: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop thread copies a request body into the socket in slices, never a 10 MiB chunk
    or a 4 MiB form at once (which held the loop for tens of milliseconds): every write the
    transport takes is recorded, and the bytes must still land exactly."""
    from asyncio import selector_events

    from oxen_async.payload import SLICE

    writes: list[int] = []
    real_write = selector_events._SelectorSocketTransport.write

    def recording_write(self: selector_events._SelectorSocketTransport, data: bytes) -> None:
        writes.append(len(data))
        real_write(self, data)

    monkeypatch.setattr(selector_events._SelectorSocketTransport, "write", recording_write)
    url, token = server_process
    data = os.urandom(12 * 1024 * 1024)
    digest = hash_bytes(data)
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    parts = [FilePart(f"form/{i}.bin", os.urandom(500_000)) for i in range(8)]
    async with OxenClient(url, token=token) as oxen:
        await oxen.repos.create("ns", "slices")
        repo = oxen.repo("ns", "slices")
        ws = await repo.workspaces.get_or_create("main")
        await repo.workspaces.add_files(ws.id, "", parts)  # one 4 MB multipart body
        await repo.versions.upload_file(
            local, digest, len(data), repo_path="big.bin", workspace_id=ws.id
        )
        await repo.workspaces.merge(ws.id, "main", message="slices", author=AUTHOR)
        assert await repo.files.download("main", "big.bin") == data
        for part in parts:
            assert await repo.files.download("main", part.filename) == part.data

    assert sum(writes) > len(data) + 4_000_000  # the bodies did go through this transport
    assert max(writes) <= SLICE + 4096  # a slice, plus the request head sent along with it
