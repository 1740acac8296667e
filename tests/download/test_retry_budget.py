"""Download workflows retry on top of the session's retries without multiplying them: a batch,
a range or a single file is sent at most ``policy.attempts`` times in all, however its tries
split between the session and the workflow (issue 11: "workflow retries never multiply")."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from oxen_async import OxenClient, RemoteRepo, RetryPolicy, TransportError, hash_bytes
from oxen_async.download import Blob, download_to, fetch_batch, fetch_large
from oxen_async.download.batch import Outcome
from oxen_async.testing import FaultController, Relay, RepoHandle

from .conftest import commit

ATTEMPTS = 3
FAST = RetryPolicy(attempts=ATTEMPTS, base_delay=0.001, max_delay=0.005, budget=10.0)
FILES = {f"small/f{i}.txt": b"small %d " % i * 50 for i in range(6)}


def _outcomes() -> tuple[dict[str, BaseException | None], Outcome]:
    seen: dict[str, BaseException | None] = {}

    def outcome(blob: Blob, error: BaseException | None) -> None:
        assert blob.content_id not in seen, "an outcome was reported twice"
        seen[blob.content_id] = error

    return seen, outcome


def _blobs(files: dict[str, bytes], root: Path) -> list[Blob]:
    return [Blob(hash_bytes(d), len(d), [(p, root / p)]) for p, d in files.items()]


@pytest.mark.fake_only
async def test_a_batch_is_sent_at_most_attempts_times(
    repo: RemoteRepo, oxen_faults: FaultController, tmp_path: Path
) -> None:
    """Every request dropped before an answer: the session's retries are the batch's too."""
    await commit(repo, FILES)
    oxen_faults.reset()
    oxen_faults.drop_connection(100, route="versions_download", when="mid_body")
    seen, outcome = _outcomes()
    await fetch_batch(repo, _blobs(FILES, tmp_path), outcome)
    stats = oxen_faults.stats.route("versions_download")
    assert stats.requests == stats.faults_injected == ATTEMPTS
    assert len(seen) == len(FILES)
    assert all(isinstance(error, TransportError) for error in seen.values())
    assert not any(tmp_path.rglob("*.txt"))


@pytest.mark.fake_only
async def test_a_folder_download_stops_after_attempts_tries_of_a_batch(
    repo: RemoteRepo, oxen_faults: FaultController, tmp_path: Path
) -> None:
    await commit(repo, FILES)
    oxen_faults.reset()
    oxen_faults.drop_connection(100, route="versions_download", when="mid_body")
    report = await repo.download_folder("main", "", tmp_path, concurrency=1)
    stats = oxen_faults.stats.route("versions_download")
    assert stats.requests == stats.faults_injected == ATTEMPTS
    assert report.error is not None and "stopped answering" in report.error
    assert report.files_pending == len(FILES)


@pytest.mark.fake_only
@pytest.mark.parametrize("cut_first", [False, True])
async def test_a_range_is_sent_at_most_attempts_times(
    repo: RemoteRepo, oxen_faults: FaultController, tmp_path: Path, cut_first: bool
) -> None:
    data = bytes(range(256)) * 64  # 16 KiB: one range of 16 KiB
    await commit(repo, {"big.bin": data})
    oxen_faults.reset()
    if cut_first:
        oxen_faults.drop_connection(1, route="chunk_download", when="after_headers")
    oxen_faults.drop_connection(100, route="chunk_download", when="mid_body")
    blob = Blob(hash_bytes(data), len(data), [("big.bin", tmp_path / "big.bin")])
    with pytest.raises(TransportError):
        await fetch_large(repo, "main", blob, range_bytes=len(data))
    stats = oxen_faults.stats.route("chunk_download")
    assert stats.requests == stats.faults_injected == ATTEMPTS  # each try met a fault
    assert list(tmp_path.iterdir()) == []


@pytest.mark.fake_only
@pytest.mark.parametrize("cut_first", [False, True])
async def test_a_single_file_is_sent_at_most_attempts_times(
    repo: RemoteRepo, oxen_faults: FaultController, tmp_path: Path, cut_first: bool
) -> None:
    data = b"one file " * 2000
    await commit(repo, {"one.txt": data})
    oxen_faults.reset()
    if cut_first:
        oxen_faults.drop_connection(1, route="file_get", when="after_headers")
    oxen_faults.drop_connection(100, route="file_get", when="mid_body")
    with pytest.raises(TransportError):
        await download_to(
            repo.files, "main", "one.txt", tmp_path / "one.txt", expected_hash=hash_bytes(data)
        )
    stats = oxen_faults.stats.route("file_get")
    assert stats.requests == stats.faults_injected == ATTEMPTS  # each try met a fault
    assert list(tmp_path.iterdir()) == []


# --- a server that is gone: it accepts connections and closes them at once ------------------


@contextlib.asynccontextmanager
async def _closing_server() -> AsyncIterator[tuple[str, list[int]]]:
    """A listener that closes every connection unanswered (a server dying behind a proxy):
    yields its URL and the count of connections it took, one per try."""
    accepted = [0]

    async def close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted[0] += 1
        writer.close()

    server = await asyncio.start_server(close, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", accepted
    finally:
        server.close()
        await server.wait_closed()


async def test_a_dead_server_gets_attempts_tries_per_batch_range_and_file(tmp_path: Path) -> None:
    data = b"x" * 1000
    async with _closing_server() as (url, accepted), OxenClient(url, retry=FAST) as oxen:
        repo = oxen.repo("ns/gone")
        seen, outcome = _outcomes()
        await fetch_batch(repo, _blobs({"a.txt": data}, tmp_path), outcome)
        assert isinstance(seen[hash_bytes(data)], TransportError)
        assert accepted[0] == ATTEMPTS

        accepted[0] = 0
        blob = Blob(hash_bytes(data), len(data), [("a.txt", tmp_path / "a.txt")])
        with pytest.raises(TransportError):
            await fetch_large(repo, "main", blob)
        assert accepted[0] == ATTEMPTS

        accepted[0] = 0
        with pytest.raises(TransportError):
            await download_to(
                repo.files, "main", "a.txt", tmp_path / "a.txt", expected_hash=hash_bytes(data)
            )
        assert accepted[0] == ATTEMPTS
    assert list(tmp_path.iterdir()) == []


# --- a server that dies mid-answer (bundled and real: counted at a relay in front of it) ----


@pytest.mark.parametrize("kind", ["batch", "range", "file"])
async def test_a_server_dying_mid_answer_gets_attempts_tries_in_all(
    repo: RemoteRepo, oxen_repo: RepoHandle, tmp_path: Path, kind: str
) -> None:
    """The first answer is cut mid-body (the workflow's retry), then every try finds the server
    gone (the session's retries): ATTEMPTS connections in all, not the workflow's times the
    session's."""
    files = {f"r/f{i}.bin": os.urandom(20_000) for i in range(6)}
    await commit(repo, files)
    server = oxen_repo.server
    async with (
        Relay(server.url) as relay,
        OxenClient(relay.url, token=server.token, retry=FAST) as oxen,
    ):
        relay.cut_answers_after(50_000)
        through = oxen.repo(oxen_repo.namespace, oxen_repo.name)
        if kind == "batch":
            seen, outcome = _outcomes()
            await fetch_batch(through, _blobs(files, tmp_path), outcome)
            failed = [error for error in seen.values() if error is not None]
            assert len(seen) == len(files)
            assert 0 < len(failed) < len(files)  # what came before the cut landed
            assert all(isinstance(error, TransportError) for error in failed)
        else:
            data = b"".join(files.values())
            await commit(repo, {"r/big.bin": data})
            blob = Blob(hash_bytes(data), len(data), [("r/big.bin", tmp_path / "big.bin")])
            with pytest.raises(TransportError):
                if kind == "range":
                    await fetch_large(through, "main", blob, range_bytes=len(data))
                else:
                    await download_to(
                        through.files,
                        "main",
                        "r/big.bin",
                        blob.targets[0][1],
                        expected_hash=blob.content_id,
                    )
            assert not (tmp_path / "big.bin").exists()
    assert relay.stats.bytes_down == 50_000  # the first answer was cut, not complete
    assert (relay.stats.cut, relay.stats.total) == (1, ATTEMPTS)
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".oxdl-")]
