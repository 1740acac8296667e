"""Branches: list, create from a branch or a commit, get, move, delete, names with ``/``."""

from __future__ import annotations

import pytest

from oxen_async import Commit, ConfigError, NotFoundError, RemoteRepo, ServerError

from .conftest import AUTHOR


async def test_an_empty_repository_has_no_branches(repo: RemoteRepo) -> None:
    assert await repo.branches.list() == []
    assert await repo.branches.exists("main") is False


async def test_the_first_commit_creates_main(repo: RemoteRepo, first_commit: Commit) -> None:
    branches = await repo.branches.list()
    assert [(b.name, b.commit_id) for b in branches] == [("main", first_commit.id)]
    main = await repo.branches.get("main")
    assert main.commit_id == first_commit.id


async def test_create_from_a_branch_points_at_its_head(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    created = await repo.branches.create("dev", from_branch="main")
    assert (created.name, created.commit_id) == ("dev", first_commit.id)
    assert await repo.branches.exists("dev")
    assert [b.name for b in await repo.branches.list()] == ["dev", "main"]


async def test_creating_an_existing_branch_from_a_branch_returns_it_unchanged(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    await repo.branches.create("dev", from_branch="main")
    second = await repo.files.upload("main", "", {"b.txt": b"b"}, author=AUTHOR)
    again = await repo.branches.create("dev", from_branch="main")
    assert again.commit_id == first_commit.id != second.id


async def test_create_from_a_commit(repo: RemoteRepo, first_commit: Commit) -> None:
    await repo.files.upload("main", "", {"b.txt": b"b"}, author=AUTHOR)
    old = await repo.branches.create("old", commit_id=first_commit.id)
    assert old.commit_id == first_commit.id
    assert await repo.files.download("old", "hello.txt") == b"hello\n"
    with pytest.raises(NotFoundError):
        await repo.files.download("old", "b.txt")


async def test_create_from_an_unknown_commit_is_a_server_error(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    with pytest.raises(ServerError) as caught:
        await repo.branches.create("x", commit_id="1234567890abcdef1234567890abcdef")
    assert "1234567890abcdef1234567890abcdef" in caught.value.message
    assert not await repo.branches.exists("x")


async def test_create_from_an_unknown_branch_is_not_found(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    with pytest.raises(NotFoundError):
        await repo.branches.create("x", from_branch="no-such-branch")


async def test_create_needs_exactly_one_origin(repo: RemoteRepo) -> None:
    with pytest.raises(ConfigError):
        await repo.branches.create("x")
    with pytest.raises(ConfigError):
        await repo.branches.create("x", from_branch="main", commit_id="abc")


async def test_branch_names_with_slashes_work_everywhere(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    created = await repo.branches.create("feature/deep/x", from_branch="main")
    assert created.name == "feature/deep/x"
    assert (await repo.branches.get("feature/deep/x")).commit_id == first_commit.id
    # Resource routes resolve the longest branch prefix: branch, then path.
    commit = await repo.files.upload(
        "feature/deep/x", "sub", {"new.txt": b"on the feature"}, author=AUTHOR
    )
    assert await repo.files.download("feature/deep/x", "sub/new.txt") == b"on the feature"
    assert (await repo.branches.get("feature/deep/x")).commit_id == commit.id
    assert (await repo.branches.get("main")).commit_id == first_commit.id
    deleted = await repo.branches.delete("feature/deep/x")
    assert deleted.commit_id == commit.id
    assert not await repo.branches.exists("feature/deep/x")


async def test_move_points_a_branch_anywhere_and_creates_missing_ones(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    second = await repo.files.upload("main", "", {"b.txt": b"b"}, author=AUTHOR)
    await repo.branches.create("dev", from_branch="main")
    moved = await repo.branches.move("dev", first_commit.id)  # backwards: no fast-forward check
    assert moved.commit_id == first_commit.id
    assert (await repo.branches.get("dev")).commit_id == first_commit.id
    fresh = await repo.branches.move("fresh", second.id)
    assert (fresh.name, fresh.commit_id) == ("fresh", second.id)


async def test_delete_then_get_is_not_found_which_is_a_lookup_error(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    await repo.branches.create("dev", from_branch="main")
    gone = await repo.branches.delete("dev")
    assert (gone.name, gone.commit_id) == ("dev", first_commit.id)
    with pytest.raises(LookupError) as caught:
        await repo.branches.get("dev")
    err = caught.value
    assert isinstance(err, NotFoundError)
    assert err.status == 404
    assert "dev" in err.message
    with pytest.raises(NotFoundError):
        await repo.branches.delete("dev")


@pytest.mark.real_differs(
    "on a repo whose first commit came through PUT /file, the real server lets main be deleted"
)
async def test_the_checked_out_branch_cannot_be_deleted(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    with pytest.raises(ServerError):
        await repo.branches.delete("main")
    assert await repo.branches.exists("main")
