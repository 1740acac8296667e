"""Fixtures of the download-engine tests: a client on the test server, a tree committer, and
every user folder (the content cache's above all) pointed at the test's tmp dir."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from oxen_async import Author, Commit, FilePart, OxenClient, RemoteRepo, RetryPolicy
from oxen_async.testing import RepoHandle

AUTHOR = Author("Ada Lovelace", "ada@example.com")


@pytest.fixture(autouse=True)
def _user_folders_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OXEN_ASYNC_CACHE", str(tmp_path / "user-cache" / "oxen_async"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
async def repo(oxen_repo: RepoHandle) -> AsyncIterator[RemoteRepo]:
    server = oxen_repo.server
    retry = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, budget=5.0)
    async with OxenClient(server.url, token=server.token, retry=retry) as oxen:
        yield oxen.repo(oxen_repo.namespace, oxen_repo.name)


async def commit(repo: RemoteRepo, files: dict[str, bytes], message: str = "tree") -> Commit:
    ws = await repo.workspaces.get_or_create("main")
    await repo.workspaces.add_files(ws.id, "", [FilePart(p, d) for p, d in files.items()])
    return await repo.workspaces.merge(ws.id, "main", message=message, author=AUTHOR)


def local_files(root: Path) -> dict[str, bytes]:
    """Every visible file below ``root`` (temporaries are hidden: they start with a dot)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".oxdl-")
    }


def strays(root: Path) -> list[Path]:
    return [p for p in root.rglob(".oxdl-*")]
