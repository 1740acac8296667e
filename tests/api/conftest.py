"""Fixtures for API tests: an ``OxenClient`` on the bundled server and a fresh repository."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from oxen_async import Author, Commit, OxenClient, RemoteRepo, RetryPolicy
from oxen_async.testing import RepoHandle, ServerHandle

AUTHOR = Author("Ada Lovelace", "ada@example.com")

# Retries fast enough for tests, still several attempts.
FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, budget=10.0)


@pytest.fixture
async def client(oxen_server: ServerHandle) -> AsyncIterator[OxenClient]:
    async with OxenClient(oxen_server.url, token=oxen_server.token, retry=FAST_RETRY) as oxen:
        yield oxen


@pytest.fixture
def repo(client: OxenClient, oxen_repo: RepoHandle) -> RemoteRepo:
    """The fresh, empty repository of ``oxen_repo`` (no commits, no branches)."""
    return client.repo(oxen_repo.namespace, oxen_repo.name)


@pytest.fixture
async def first_commit(repo: RemoteRepo) -> Commit:
    """``main`` with one commit holding ``README.md`` and ``hello.txt``."""
    return await repo.files.upload(
        "main", "", {"README.md": b"# demo\n", "hello.txt": b"hello\n"}, author=AUTHOR
    )


async def commit_tree(
    repo: RemoteRepo, files: dict[str, bytes], *, branch: str = "main", message: str = "tree"
) -> Commit:
    """Commit a nested tree (repo path -> bytes) onto ``branch`` through a workspace."""
    from oxen_async import FilePart

    ws = await repo.workspaces.get_or_create(branch)
    staged = await repo.workspaces.add_files(
        ws.id, "", [FilePart(path, data) for path, data in files.items()]
    )
    assert sorted(staged) == sorted(files)
    return await repo.workspaces.merge(ws.id, branch, message=message, author=AUTHOR)
