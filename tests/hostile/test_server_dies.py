"""Issue 9, item 2: the server dies mid-upload and mid-download (SIGKILL of the bundled
server, a subprocess, at a known byte count through a relay). The command prints its report
with what is pending and ONE line naming the cause, exits 1, and the same command run again
after the server is back finishes the job without resending what had landed."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from test_cli import config_dir, run_cli

from oxen_async import Author, OxenClient, RetryPolicy
from oxen_async.testing import Relay
from oxen_async.testing.launch import LaunchedServer, find_oxen_server, start_bundled, start_real
from oxen_async.upload.report import UploadProgress

__all__ = ["config_dir"]  # the fixture, imported to be used here

AUTHOR = Author("Faults", "faults@example.com")
N_FILES = 1200
FILE_BYTES = 4000
pytestmark = pytest.mark.slow


def _tree(root: Path) -> dict[str, bytes]:
    files = {f"d{i % 4}/f{i:04d}.bin": os.urandom(FILE_BYTES) for i in range(N_FILES)}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def _starter(kind: str) -> Callable[[Path], LaunchedServer]:
    if kind == "bundled":
        return start_bundled
    if find_oxen_server(unpack=True) is None:
        pytest.skip("no real oxen-server binary on this machine")
    return start_real


def _assert_no_traceback(err: str) -> None:
    for marker in ("Traceback", "ExceptionGroup", "TaskGroup", "Logging error"):
        assert marker not in err, err


@pytest.mark.parametrize("kind", ["bundled", "real"])
async def test_server_killed_mid_upload_then_mid_download(
    config_dir: Path, tmp_path: Path, kind: str
) -> None:
    start = _starter(kind)
    data = tmp_path / "server-data"
    server = await asyncio.to_thread(start, data)
    try:
        async with OxenClient(server.url) as oxen:
            await oxen.repos.create("faults", "dies")
        files = _tree(tmp_path / "src")
        total = N_FILES * FILE_BYTES

        # --- upload: killed after a quarter of the bytes went up ------------------------------
        async with Relay(server.url) as relay:
            tripwire = relay.trip_after(total // 4, "up", then=server.process.kill)
            host = ["--host", relay.url]
            up = ["upload", str(tmp_path / "src"), "faults/dies", "--concurrency", "2",
                  "--batch-mb", "0.05", *host]  # fmt: skip
            broken = await run_cli(*up, config_dir=config_dir, timeout=240)
            assert tripwire.fired, "the server was never killed: the upload finished first"
            assert broken.code == 1, broken
            _assert_no_traceback(broken.err)
            assert broken.err_lines == [], broken.err
            first, files_line = broken.out.splitlines()[:2]
            assert first.startswith("Upload to faults/dies@main failed: "), broken.out
            assert "the server stopped answering" in first
            assert "pending (run the same command again to resume)" in files_line

            server = await asyncio.to_thread(start, data)  # same data, back up
            relay.upstream = server.url
            tripwire.disarm()
            resumed = await run_cli(*up, "--json", config_dir=config_dir, timeout=240)
            assert resumed.code == 0, resumed
            report = json.loads(resumed.out)
            assert report["status"] == "committed" and report["files_pending"] == 0
            assert report["files_total"] == N_FILES
            # What the broken run staged was not sent again.
            assert 0 < report["files_uploaded"] < N_FILES, report
            assert report["files_resumed"] + report["files_uploaded"] == N_FILES

            # --- download: killed after a third of the bytes came down ------------------------
            server.process.kill()
            server.process.wait()
            server = await asyncio.to_thread(start, data)
            relay.upstream = server.url
            tripwire = relay.trip_after(total // 3, "down", then=server.process.kill)
            down = ["download", "faults/dies", str(tmp_path / "out"), "--concurrency", "1",
                    *host]  # fmt: skip
            cut = await run_cli(*down, config_dir=config_dir, timeout=240)
            assert tripwire.fired, "the server was never killed: the download finished first"
            assert cut.code == 1, cut
            _assert_no_traceback(cut.err)
            assert cut.err_lines == [], cut.err
            first, files_line = cut.out.splitlines()[:2]
            assert first.startswith("Download of faults/dies@"), cut.out
            assert "stopped: the server stopped answering" in first
            assert "pending (run the same command again to resume)" in files_line
            assert "Failed files" not in cut.out  # one cause, not one line per file

            server = await asyncio.to_thread(start, data)
            relay.upstream = server.url
            tripwire.disarm()
            again = await run_cli(*down, "--json", config_dir=config_dir, timeout=240)
            assert again.code == 0, again
            finished = json.loads(again.out)
            assert finished["ok"] and finished["files_pending"] == 0 and not finished["failed"]
            assert finished["files_downloaded"] + finished["files_skipped"] == N_FILES
            assert finished["files_skipped"] > 0  # what landed before the kill stayed
        got = {
            p.relative_to(tmp_path / "out").as_posix(): p.read_bytes()
            for p in (tmp_path / "out").rglob("*.bin")
        }
        assert got == files
    finally:
        server.stop()


async def test_the_library_returns_its_reports_when_the_server_dies(tmp_path: Path) -> None:
    data = tmp_path / "server-data"
    server = await asyncio.to_thread(start_bundled, data)
    fast = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05, budget=5.0)
    try:
        files = _tree(tmp_path / "src")
        killed: list[int] = []

        def kill_at_a_tenth(progress: UploadProgress) -> None:
            if progress.files_sent >= N_FILES // 10 and not killed:
                killed.append(progress.files_sent)
                server.process.kill()

        async with OxenClient(server.url, retry=fast) as oxen:
            await oxen.repos.create("faults", "lib")
            repo = oxen.repo("faults", "lib")
            report = await repo.upload_folder(
                tmp_path / "src", author=AUTHOR, concurrency=2, batch_bytes=50_000,
                state_dir=tmp_path / "state", progress=kill_at_a_tenth,
            )  # fmt: skip
        assert killed, "the server was never killed"
        assert report.status == "failed" and report.commit_id is None
        assert report.error is not None and report.error.startswith("the server stopped answering")
        assert "\n" not in report.error
        assert report.files_pending > 0 and not report.failed  # pending, not N failures
        assert report.files_total == (
            report.files_uploaded + report.files_unchanged + report.files_resumed
            + report.files_pending
        )  # fmt: skip

        server = await asyncio.to_thread(start_bundled, data)
        async with OxenClient(server.url, retry=fast) as oxen:
            repo = oxen.repo("faults", "lib")
            await repo.upload_folder(tmp_path / "src", author=AUTHOR, state_dir=tmp_path / "state")
            relay = Relay(server.url)
            async with relay, OxenClient(relay.url, retry=fast) as through:
                kill = server.process.kill
                tripwire = relay.trip_after(N_FILES * FILE_BYTES // 3, "down", then=kill)
                cut = await through.repo("faults", "lib").download_folder(
                    "main", "", tmp_path / "out", concurrency=1
                )
            assert tripwire.fired, "the server was never killed"
        assert cut.error is not None and cut.error.startswith("the server stopped answering")
        assert cut.files_pending > 0 and not cut.failed and not cut.ok
        assert len(cut.downloaded) < len(files)
    finally:
        server.stop()
