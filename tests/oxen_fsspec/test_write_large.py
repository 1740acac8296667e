"""Large writes stream: ``put`` and ``open("wb")`` stage from disk in bounded pieces, large
files through the parts route, and memory stays flat in the size of what is written.

Memory is the peak of tracemalloc's traced allocations during the write, in a process of the
client's own (``memory_probe.py``: the bundled server runs in the test's process, and its
allocations must not count); the old code read each file whole, and ``put`` of a folder read
every file at once.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import oxen_async
from oxen_async.errors import HTTPError
from oxen_async.fs import OxenFileSystem, files
from oxen_async.hashing import StreamingHasher, hash_file_sync, same_hash
from oxen_async.testing import Relay
from oxen_async.testing.faults import FaultController
from oxen_async.testing.handle import RepoHandle

from .conftest import Wire, history, options, rel, run

MiB = 1024 * 1024
PIECE = MiB
PROBE = Path(__file__).with_name("memory_probe.py")


def make_fs(repo: RepoHandle, **extra: object) -> OxenFileSystem:
    return OxenFileSystem(
        repo.namespace, repo.name, skip_instance_cache=True, **options(repo), **extra
    )


@pytest.fixture
def low_fs(oxen_repo: RepoHandle) -> Iterator[OxenFileSystem]:
    """Files over 1 MiB count as large (the threshold lowered from the uploader's 10 MiB)."""
    filesystem = make_fs(oxen_repo, large_file_threshold=MiB)
    yield filesystem
    filesystem.close()


def pieces(size: int, seed: int) -> Iterator[bytes]:
    """``size`` incompressible bytes from ``seed``, one MiB at a time (never all in memory)."""
    for i in range(0, size, PIECE):
        yield random.Random(seed * 1_000_003 + i).randbytes(min(PIECE, size - i))


def write_file(path: Path, size: int, seed: int = 0) -> str:
    """Write ``size`` bytes to ``path``; their content id."""
    hasher = StreamingHasher()
    with path.open("wb") as f:
        for piece in pieces(size, seed):
            hasher.update(piece)
            f.write(piece)
    return hasher.hexdigest()


def probe(repo: RepoHandle, **request: Any) -> dict[str, Any]:
    """Run one write in a process of its own (memory_probe.py); what it answered."""
    env = {**os.environ, "PYTHONPATH": str(Path(oxen_async.__file__).parents[1])}
    done = subprocess.run(
        [sys.executable, str(PROBE)],
        input=json.dumps(
            {"fs": {"namespace": repo.namespace, "repo": repo.name, **options(repo)}, **request}
        ),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def parts_requests(wire: Wire) -> tuple[int, int]:
    """(begins, parts) of the parts protocol that crossed the wire."""
    begins = [e for e in wire.exchanges if e.method == "POST" and e.path.endswith("/uploads")]
    parts = [e for e in wire.exchanges if e.method == "PUT" and "/parts/" in e.path]
    return len(begins), len(parts)


def staging_requests(wire: Wire) -> int:
    """Requests that staged files from memory (multipart into a workspace)."""
    return sum(
        1
        for e in wire.exchanges
        if e.method == "POST" and "/workspaces/" in e.path and "/files/" in e.path
    )


def test_put_of_a_large_file_goes_in_parts_and_lands_byte_exact(
    low_fs: OxenFileSystem, oxen_repo: RepoHandle, tmp_path: Path, wire: Wire
) -> None:
    local = tmp_path / "big.bin"
    size = 25 * MiB + 123  # three parts of the servers' 10 MiB
    content_id = write_file(local, size, seed=1)
    low_fs.pipe("seed.txt", b"")
    before = len(history(low_fs))
    stats = oxen_repo.server.faults.stats if oxen_repo.server.faults else None
    if stats is not None:
        stats.reset()
    wire.clear()
    low_fs.put(str(local), "data/big.bin")
    assert parts_requests(wire) == (1, 3)
    assert staging_requests(wire) == 0  # not through the in-memory route
    if stats is not None:  # the bundled server saw the same
        assert stats.route("version_upload_begin").uploads_begun == 1
        assert stats.route("version_upload_part").file_bytes == size
    assert len(history(low_fs)) == before + 1
    info = low_fs.info("data/big.bin")
    assert info["size"] == size and same_hash(info["hash"], content_id)
    assert low_fs.cat("data/big.bin") == local.read_bytes()


def test_put_of_a_large_file_keeps_memory_flat(
    fs: OxenFileSystem, oxen_repo: RepoHandle, tmp_path: Path
) -> None:
    local = tmp_path / "big.bin"
    size = 64 * MiB
    content_id = write_file(local, size, seed=2)
    fs.pipe("seed.txt", b"")
    before = len(history(fs))
    # The default threshold (the uploader's 10 MiB): seven parts of 10 MiB.
    peak = probe(oxen_repo, op="put", local=str(local), remote="big.bin")["peak"]
    assert len(history(fs)) == before + 2  # the probe's warm-up write, then the put
    info = fs.info("big.bin")
    assert info["size"] == size and same_hash(info["hash"], content_id)
    # Two parts in flight (20 MiB) and small change, whatever the file's size.
    assert peak < size // 2, f"peak {peak / MiB:.1f} MiB for a {size / MiB:.0f} MiB file"


def test_open_wb_of_a_large_file_spools_to_disk_and_streams(
    fs: OxenFileSystem, oxen_repo: RepoHandle, wire: Wire
) -> None:
    size = 40 * MiB
    stats = oxen_repo.server.faults.stats if oxen_repo.server.faults else None
    if stats is not None:
        stats.reset()
    answer = probe(oxen_repo, op="open_wb", remote="out/written.bin", size=size, seed=3)
    if stats is not None:  # from the spool file, in parts
        assert stats.route("version_upload_part").file_bytes == size
    info = fs.info("out/written.bin")
    assert info["size"] == size and same_hash(info["hash"], answer["content_id"])
    wire.clear()
    assert fs.cat_file("out/written.bin", start=size - MiB) == list(pieces(size, seed=3))[-1]
    peak = answer["peak"]
    # Two parts in flight (20 MiB) and the fsspec buffer, whatever the file's size.
    assert peak < 26 * MiB, f"peak {peak / MiB:.1f} MiB writing {size / MiB:.0f} MiB"


def test_open_wb_leaves_no_spool_file(
    low_fs: OxenFileSystem, tmp_path: Path, wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool_dir))
    monkeypatch.setattr(files, "SPOOL_IN_MEMORY", MiB)  # spool to disk past 1 MiB
    low_fs.pipe("seed.txt", b"")
    before = len(history(low_fs))
    wire.clear()
    with low_fs.open("out/spooled.bin", "wb", block_size=MiB, commit_message="spooled") as f:
        for piece in pieces(3 * MiB, seed=8):
            f.write(piece)
        assert [p.name.startswith("oxen-fs-") for p in spool_dir.iterdir()] == [True]
    assert list(spool_dir.iterdir()) == []  # deleted once staged
    assert parts_requests(wire) == (1, 1)
    assert len(history(low_fs)) == before + 1 and history(low_fs)[0].message == "spooled"
    assert low_fs.cat("out/spooled.bin") == b"".join(pieces(3 * MiB, seed=8))
    with pytest.raises(RuntimeError, match="boom"), low_fs.transaction:
        with low_fs.open("out/never.bin", "wb") as f:
            for piece in pieces(3 * MiB, seed=9):
                f.write(piece)
        raise RuntimeError("boom")
    assert list(spool_dir.iterdir()) == []
    assert not low_fs.exists("out/never.bin")


def test_put_of_a_folder_stages_in_bounded_batches(
    fs: OxenFileSystem, oxen_repo: RepoHandle, tmp_path: Path, wire: Wire
) -> None:
    src = tmp_path / "src"
    (src / "many").mkdir(parents=True)
    (src / "mib").mkdir()
    for i in range(130):
        (src / "many" / f"{i:03}.txt").write_bytes(b"small %d" % i)
    for i in range(24):
        write_file(src / "mib" / f"{i:02}.bin", MiB, seed=100 + i)
    fs.pipe("seed.txt", b"")
    before = len(history(fs))
    wire.clear()
    fs.put(str(src) + "/", "up", recursive=True)
    # 130 small files in requests of at most 64 files; 24 MiB in requests of at most 4 MiB.
    assert staging_requests(wire) == 3 + 6
    assert len(history(fs)) == before + 1
    found = rel(fs, fs.find("up"))
    assert len(found) == 154 and "up/many/129.txt" in found and "up/mib/23.bin" in found
    assert fs.cat("up/many/007.txt") == b"small 7"
    assert fs.cat("up/mib/05.bin") == (src / "mib" / "05.bin").read_bytes()
    # The same folder again, measured in a process of its own: a few MiB at a time.
    peak = probe(oxen_repo, op="put", local=str(src) + "/", remote="again")["peak"]
    assert len(rel(fs, fs.find("again"))) == 154
    assert peak < 12 * MiB, f"peak {peak / MiB:.1f} MiB for a 24 MiB folder"


def test_transaction_lands_large_and_small_writes_as_one_commit(
    low_fs: OxenFileSystem, tmp_path: Path, wire: Wire
) -> None:
    local = tmp_path / "big.bin"
    content_id = write_file(local, 3 * MiB, seed=4)
    low_fs.pipe("seed.txt", b"")
    before = len(history(low_fs))
    wire.clear()
    with low_fs.transaction as tx:
        tx.message = "large and small"
        low_fs.put(str(local), "t/big.bin")
        low_fs.pipe("t/small.txt", b"small")
        with low_fs.open("t/opened.bin", "wb") as f:
            for piece in pieces(2 * MiB, seed=5):
                f.write(piece)
    assert parts_requests(wire)[0] == 1  # only the put went in parts: the spool held 2 MiB
    commits = history(low_fs)
    assert len(commits) == before + 1 and commits[0].message == "large and small"
    assert same_hash(low_fs.info("t/big.bin")["hash"], content_id)
    assert low_fs.cat("t/opened.bin") == b"".join(pieces(2 * MiB, seed=5))
    assert rel(low_fs, low_fs.ls("t", detail=False)) == ["t/big.bin", "t/opened.bin", "t/small.txt"]


def test_transaction_that_raises_after_a_large_put_commits_nothing(
    low_fs: OxenFileSystem, tmp_path: Path, wire: Wire
) -> None:
    local = tmp_path / "big.bin"
    write_file(local, 3 * MiB, seed=6)
    low_fs.pipe("keep.txt", b"kept")
    before = [c.id for c in history(low_fs)]
    wire.clear()
    with pytest.raises(RuntimeError, match="boom"), low_fs.transaction:
        low_fs.put(str(local), "lost/big.bin")
        raise RuntimeError("boom")
    assert parts_requests(wire) == (1, 1)  # it was sent, then dropped with the workspace
    assert [c.id for c in history(low_fs)] == before
    assert not low_fs.exists("lost/big.bin")
    assert run(low_fs, lambda: _workspaces_of(low_fs)) == []  # its workspace was deleted


async def _workspaces_of(fs: OxenFileSystem) -> list[object]:
    return list(await (await fs._repo()).workspaces.list())


def test_a_failure_mid_put_leaves_no_commit(
    low_fs: OxenFileSystem, oxen_faults: FaultController, tmp_path: Path
) -> None:
    local = tmp_path / "big.bin"
    write_file(local, 25 * MiB, seed=7)
    low_fs.pipe("keep.txt", b"kept")
    before = [c.id for c in history(low_fs)]
    oxen_faults.stats.reset()
    # Part 1 is stored; part 2 fails every time it is tried.
    rule = oxen_faults.fail_next(1000, route="version_upload_part", path=r"/parts/2$", status=500)
    with pytest.raises(HTTPError, match="500"):
        low_fs.put(str(local), "half/big.bin")
    assert rule.hits >= 1  # part 2 was tried, and failed
    assert oxen_faults.stats.route("version_upload_begin").uploads_begun == 1
    oxen_faults.reset()
    assert [c.id for c in history(low_fs)] == before
    assert not low_fs.exists("half/big.bin")
    assert run(low_fs, lambda: _workspaces_of(low_fs)) == []  # its workspace was deleted
    low_fs.put(str(local), "whole/big.bin")  # nothing left behind blocks the next write
    assert same_hash(low_fs.info("whole/big.bin")["hash"], hash_file_sync(local)[0])


def _route_kind(method: str, path: str) -> str:
    """What the relay counts a request as (large-file routes by name)."""
    if re.search(r"/versions/uploads(/|$)", path):
        return f"{method} parts"
    if "/chunks" in path:
        return f"{method} chunks"
    if path.endswith("/complete"):
        return f"{method} complete"
    return f"{method} other"


async def test_put_on_a_server_without_the_parts_route_goes_by_chunks(
    oxen_repo: RepoHandle, tmp_path: Path
) -> None:
    """A server that names itself 0.53.4 (played by a relay): the large file goes by the
    legacy chunk route, still streamed from disk, still one commit."""
    local = tmp_path / "big.bin"
    size = 3 * MiB + 17
    content_id = write_file(local, size, seed=10)
    async with Relay(oxen_repo.server.url, classify=_route_kind) as relay:
        old = {"status": "success", "status_message": "resource_found", "oxen_version": "0.53.4"}
        relay.answer(r"^/api/version$", json=old)
        fs = OxenFileSystem(
            oxen_repo.namespace,
            oxen_repo.name,
            asynchronous=True,
            skip_instance_cache=True,
            large_file_threshold=MiB,
            **{**options(oxen_repo), "host": relay.url},
        )
        try:
            await fs._pipe_file("seed.txt", b"")
            await fs._put(str(local), "legacy/big.bin")
            info = await fs._info("legacy/big.bin")
            commits = [c async for c in (await fs._repo()).commits.history("main")]
        finally:
            await fs._close()
    assert info["size"] == size and same_hash(info["hash"], content_id)
    assert [c.message for c in commits[:2]] == ["Write legacy/big.bin", "Write seed.txt"]
    assert relay.stats.count("POST parts") == 0 and relay.stats.count("PUT parts") == 0
    assert relay.stats.count("PUT chunks") == 1  # 3 MiB: one chunk
    assert relay.stats.count("POST complete") == 1


async def test_concurrent_large_writes_in_a_transaction_are_one_commit(
    oxen_repo: RepoHandle, tmp_path: Path
) -> None:
    """Async callers may gather writes inside one transaction: the same large content at two
    paths, and another file, land as one commit."""
    one, two, other = tmp_path / "one.bin", tmp_path / "two.bin", tmp_path / "other.bin"
    same_id = write_file(one, 2 * MiB + 1, seed=11)
    write_file(two, 2 * MiB + 1, seed=11)
    other_id = write_file(other, 3 * MiB, seed=12)
    fs = OxenFileSystem(
        oxen_repo.namespace,
        oxen_repo.name,
        asynchronous=True,
        skip_instance_cache=True,
        large_file_threshold=MiB,
        **options(oxen_repo),
    )
    try:
        await fs._pipe_file("seed.txt", b"")
        async with fs.transaction as tx:
            tx.message = "three at once"
            await asyncio.gather(
                fs._put(str(one), "c/one.bin"),
                fs._put(str(two), "c/two.bin"),
                fs._put_file(str(other), "c/other.bin"),
            )
        found = {p: await fs._info(p) for p in ("c/one.bin", "c/two.bin", "c/other.bin")}
        commits = [c async for c in (await fs._repo()).commits.history("main")]
    finally:
        await fs._close()
    assert [c.message for c in commits[:2]] == ["three at once", "Write seed.txt"]
    assert same_hash(found["c/one.bin"]["hash"], same_id)
    assert same_hash(found["c/two.bin"]["hash"], same_id)
    assert same_hash(found["c/other.bin"]["hash"], other_id)
