"""Commits: history as an async iterator over pages, one commit, unknown commits."""

from __future__ import annotations

import itertools
from datetime import UTC

import pytest

from oxen_async import Commit, NotFoundError, RemoteRepo
from oxen_async.testing import ServerHandle

from .conftest import AUTHOR


async def _five_commits(repo: RemoteRepo, first: Commit) -> list[Commit]:
    commits = [first]
    for i in range(4):
        files = {f"f{i}.txt": f"v{i}".encode()}
        if i % 2:
            files["hello.txt"] = f"hello {i}".encode()
        commits.append(
            await repo.files.upload("main", "", files, author=AUTHOR, message=f"commit {i}")
        )
    return commits


async def test_history_walks_every_page_newest_first(
    repo: RemoteRepo, first_commit: Commit, oxen_server: ServerHandle
) -> None:
    made = await _five_commits(repo, first_commit)
    before = oxen_server.faults.stats.requests("commit_history") if oxen_server.faults else 0

    seen = [c async for c in repo.commits.history("main", page_size=2)]

    assert [c.id for c in seen] == [c.id for c in reversed(made)]
    assert [c.message for c in seen[:2]] == ["commit 3", "commit 2"]
    assert seen[-1].parent_ids == ()
    assert all(c.parent_ids == (older.id,) for c, older in itertools.pairwise(seen))
    if oxen_server.faults is not None:  # three pages of two: 2 + 2 + 1
        assert oxen_server.faults.stats.requests("commit_history") - before == 3


async def test_history_page_reports_totals(repo: RemoteRepo, first_commit: Commit) -> None:
    await _five_commits(repo, first_commit)
    page = await repo.commits.history_page("main", page=2, page_size=2)
    assert (page.page_number, page.page_size, page.total_pages, page.total_entries) == (2, 2, 3, 5)
    assert [c.message for c in page.commits] == ["commit 1", "commit 0"]
    beyond = await repo.commits.history_page("main", page=9, page_size=2)
    assert beyond.commits == []


async def test_history_of_a_path_lists_only_commits_that_changed_it(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    made = await _five_commits(repo, first_commit)
    touched = [c.id async for c in repo.commits.history("main", "hello.txt")]
    assert touched == [made[4].id, made[2].id, made[0].id]


async def test_history_from_a_commit_id(repo: RemoteRepo, first_commit: Commit) -> None:
    made = await _five_commits(repo, first_commit)
    ids = [c.id async for c in repo.commits.history(made[2].id)]
    assert ids == [made[2].id, made[1].id, made[0].id]


async def test_history_of_an_empty_repository_is_empty(repo: RemoteRepo) -> None:
    assert [c async for c in repo.commits.history("main")] == []


async def test_history_of_an_unknown_revision_is_not_found(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    with pytest.raises(NotFoundError):
        [c async for c in repo.commits.history("no-such-branch")]


async def test_get_returns_the_commit(repo: RemoteRepo, first_commit: Commit) -> None:
    got = await repo.commits.get(first_commit.id)
    assert got == first_commit
    assert got.author == AUTHOR.name
    assert got.email == AUTHOR.email
    assert got.datetime.tzinfo is not None
    assert got.datetime.utcoffset() == UTC.utcoffset(None)


async def test_an_unknown_commit_is_not_found(repo: RemoteRepo, first_commit: Commit) -> None:
    with pytest.raises(NotFoundError) as caught:
        await repo.commits.get("0123456789abcdef0123456789abcdef")
    assert caught.value.status == 404
    assert "0123456789abcdef0123456789abcdef" in str(caught.value)
