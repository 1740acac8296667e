"""How the filesystem is reached and used: URLs, bad input, async callers, fork."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import fsspec
import pytest

from oxen_async.errors import ConfigError
from oxen_async.fs import OxenFileSystem, RevisionNotFoundError
from oxen_async.testing.handle import RepoHandle

from .conftest import history, options, rel, run


def test_urls_reach_the_repository(fs: OxenFileSystem, oxen_repo: RepoHandle) -> None:
    fs.pipe("dir/hello.txt", b"hello")
    opts = options(oxen_repo)
    for protocol in ("oxen", "oxen-async"):
        target = f"{protocol}://{oxen_repo.namespace}:{oxen_repo.name}@main/dir/hello.txt"
        with fsspec.open(target, "rb", **opts) as f:
            assert f.read() == b"hello"
        got, path = fsspec.core.url_to_fs(target, **opts)
        name = f"{oxen_repo.namespace}:{oxen_repo.name}@main/dir/hello.txt"
        assert isinstance(got, OxenFileSystem) and path == name
        assert got.unstrip_protocol(path) == f"oxen://{name}"  # a URL again
        assert got.ls("dir", detail=False) == [name]
    commit = history(fs)[0].id
    pinned = f"oxen://{oxen_repo.namespace}:{oxen_repo.name}@{commit}/dir/hello.txt"
    assert fsspec.open(pinned, "rb", **opts).open().read() == b"hello"


def test_host_resolves_like_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OXEN_HOST", "http://127.0.0.1:1")
    assert OxenFileSystem("ns", "repo", skip_instance_cache=True).host == "http://127.0.0.1:1"
    official_style = OxenFileSystem(
        "ns", "repo", host="localhost:3001", scheme="http", skip_instance_cache=True
    )
    assert official_style.host == "http://localhost:3001"


def test_bad_input_fails_clearly(fs: OxenFileSystem, oxen_repo: RepoHandle) -> None:
    opts = options(oxen_repo)
    with pytest.raises(ConfigError, match="no repository given"):
        fsspec.open("oxen://main/data.csv", **opts).open()
    with pytest.raises(ConfigError, match="names no repository"):
        fsspec.open(f"oxen://{oxen_repo.namespace}@main/data.csv", **opts).open()
    fs.pipe("a.txt", b"a")
    ns, name = oxen_repo.namespace, oxen_repo.name
    unknown = OxenFileSystem(ns, name, revision="no-such-branch", skip_instance_cache=True, **opts)
    with pytest.raises(RevisionNotFoundError, match="no branch or commit 'no-such-branch'"):
        unknown.ls("")
    with pytest.raises(RevisionNotFoundError):
        unknown.cat_file("a.txt")
    no_repo = OxenFileSystem(ns, "no-such-repo", skip_instance_cache=True, **opts)
    with pytest.raises(FileNotFoundError, match="no repository"):
        no_repo.info("a.txt")
    commit = history(fs)[0].id
    at_commit = OxenFileSystem(ns, name, revision=commit, skip_instance_cache=True, **opts)
    assert at_commit.cat("a.txt") == b"a"  # reading at a commit is fine
    with pytest.raises(ConfigError, match="not a branch"):
        at_commit.pipe("b.txt", b"b")
    with pytest.raises(ConfigError, match="not a branch"), at_commit.open("c.txt", "wb") as f:
        f.write(b"c")
    assert len(history(fs)) == 2  # nothing written by the refused calls
    with pytest.raises(IsADirectoryError, match="root"):
        fs.pipe("", b"x")
    for other in (unknown, no_repo, at_commit):
        other.close()


async def test_async_callers_keep_their_loop(oxen_repo: RepoHandle) -> None:
    fs = OxenFileSystem(
        oxen_repo.namespace,
        oxen_repo.name,
        asynchronous=True,
        skip_instance_cache=True,
        **options(oxen_repo),
    )
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    beat = asyncio.create_task(ticker())
    data = os.urandom(3 * 1024 * 1024)
    await fs._pipe_file("big.bin", data)
    async with fs.transaction:
        await fs._pipe_file("t/one.txt", b"1")
        await fs._pipe_file("t/two.txt", b"2")
    assert (await fs._info("big.bin"))["size"] == len(data)
    assert await fs._cat_file("big.bin") == data
    assert rel(fs, await fs._ls("t", detail=False)) == ["t/one.txt", "t/two.txt"]
    at_start = ticks
    assert await fs._cat_file("big.bin", start=5, end=25) == data[5:25]
    stop.set()
    await beat
    assert ticks > at_start  # the caller's loop ran while we waited for the server
    commits = [c async for c in (await fs._repo()).commits.history("main")]
    assert [c.message for c in commits[:2]] == ["Write 2 files", "Write big.bin"]
    await fs._close()


def test_a_filesystem_used_before_fork_works_in_the_child(fs: OxenFileSystem) -> None:
    fs.pipe("f.txt", b"hello fork")
    assert fs.cat("f.txt") == b"hello fork"  # the parent has a live session now

    async def client_id() -> int:
        return id(await fs._clients.get())

    parent_client = run(fs, client_id)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running pytest's teardown
        code = 1
        try:
            ok = fs.cat("f.txt") == b"hello fork" and fs.cat_file("f.txt", 6, 10) == b"fork"
            fresh = run(fs, client_id) != parent_client
            os.write(write_end, f"{ok} {fresh}".encode())
            code = 0
        except BaseException as exc:
            os.write(write_end, repr(exc).encode()[:500])
        finally:
            os._exit(code)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as report:
        said = report.read().decode()
    assert os.waitstatus_to_exitcode(status) == 0, said
    assert said == "True True"  # the child read the bytes, on a session of its own
    assert fs.cat("f.txt") == b"hello fork"  # and the parent's session still works
    assert run(fs, client_id) == parent_client


def test_pickled_filesystem_rebuilds(fs: OxenFileSystem) -> None:
    import pickle

    fs.pipe("p.txt", b"pickled")
    clone: Any = pickle.loads(pickle.dumps(fs))
    assert clone.cat("p.txt") == b"pickled"
    assert "token" not in repr(clone).lower()
