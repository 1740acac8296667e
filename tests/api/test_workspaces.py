"""Workspaces: get-or-create, get, list, delete, add files, remove, unstage, changes, merge."""

from __future__ import annotations

import gzip
import uuid

import pytest

from oxen_async import (
    BadRequestError,
    Commit,
    ConflictError,
    FilePart,
    NotFoundError,
    NothingToCommitError,
    PartialFailure,
    RemoteRepo,
    UnprocessableError,
    hash_bytes,
)
from oxen_async.models import ChangeEntry

from .conftest import AUTHOR


def _names(page_entries: list[ChangeEntry]) -> list[str]:
    return sorted(e.filename for e in page_entries)


async def test_get_or_create_is_idempotent_for_an_id(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    wid = str(uuid.uuid4())
    first = await repo.workspaces.get_or_create("main", workspace_id=wid)
    again = await repo.workspaces.get_or_create("main", workspace_id=wid)
    assert first.id == again.id == wid
    assert first.commit is not None and first.commit.id == first_commit.id
    assert [w.id for w in await repo.workspaces.list()] == [wid]


async def test_get_or_create_by_name_returns_the_stored_id(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    first = await repo.workspaces.get_or_create("main", name="nightly")
    again = await repo.workspaces.get_or_create("main", name="nightly")  # a new random id sent
    assert again.id == first.id
    assert again.name == "nightly"
    assert (await repo.workspaces.get(again.id)).name == "nightly"
    assert len(await repo.workspaces.list()) == 1


async def test_get_or_create_on_an_empty_repository_makes_an_initial_commit(
    repo: RemoteRepo,
) -> None:
    ws = await repo.workspaces.get_or_create("main")
    assert ws.commit is not None
    assert (await repo.branches.get("main")).commit_id == ws.commit.id


async def test_get_or_create_on_an_unknown_branch_is_refused(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    with pytest.raises(BadRequestError):
        await repo.workspaces.get_or_create("no-such-branch")


async def test_get_list_and_delete(repo: RemoteRepo, first_commit: Commit) -> None:
    a = await repo.workspaces.get_or_create("main")
    b = await repo.workspaces.get_or_create("main", name="named")
    got = await repo.workspaces.get(a.id)
    assert got.id == a.id and got.name is None
    assert (await repo.workspaces.get("named")).id == b.id  # a name addresses it too
    assert sorted(w.id for w in await repo.workspaces.list()) == sorted([a.id, b.id])
    assert [w.id for w in await repo.workspaces.list(name="named")] == [b.id]
    await repo.workspaces.delete(a.id)
    with pytest.raises(NotFoundError) as caught:
        await repo.workspaces.get(a.id)
    assert isinstance(caught.value, LookupError)
    assert [w.id for w in await repo.workspaces.list()] == [b.id]
    with pytest.raises(NotFoundError):
        await repo.workspaces.delete(a.id)


ODD_NAMES = {
    "plain.txt": b"plain",
    "sub dir/with space.txt": b"space",
    "données/été/naïve.txt": "unicodé".encode(),
    "pct/%41.txt": b"percent-41 stays literal",
    'quotes/say "hi".txt': b"double quotes",
    "quotes/it's.txt": b"single quote",
    "a+b/c+d.txt": b"plus signs",
}


async def test_add_files_gzip_and_raw_with_odd_names_then_merge(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    ws = await repo.workspaces.get_or_create("main")
    parts = [
        FilePart(name, gzip.compress(data), gzipped=True)
        if i % 2
        else FilePart(name, data, gzipped=False)
        for i, (name, data) in enumerate(ODD_NAMES.items())
    ]
    staged = await repo.workspaces.add_files(ws.id, "in", parts)
    assert sorted(staged) == sorted(f"in/{n}" for n in ODD_NAMES)

    changes = await repo.workspaces.changes(ws.id)
    assert _names(changes.added_files.entries) == sorted(f"in/{n}" for n in ODD_NAMES)
    assert changes.modified_files.entries == changes.removed_files.entries == []

    commit = await repo.workspaces.merge(ws.id, "main", message="odd names", author=AUTHOR)
    assert commit.parent_ids == (first_commit.id,)
    assert commit.message == "odd names"
    walked = {p: e.hash async for p, e in repo.dirs.walk("main", "in")}
    assert walked == {f"in/{n}": hash_bytes(d) for n, d in ODD_NAMES.items()}
    for name, data in ODD_NAMES.items():
        assert await repo.files.download("main", f"in/{name}") == data


async def test_merge_shows_up_in_history_and_moves_the_branch(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    ws = await repo.workspaces.get_or_create("main")
    await repo.workspaces.add_files(ws.id, "", [FilePart("new.txt", b"new")])
    commit = await repo.workspaces.merge(ws.id, "main", message="add new", author=AUTHOR)
    history = [c async for c in repo.commits.history("main")]
    assert [c.id for c in history] == [commit.id, first_commit.id]
    assert history[0].author == AUTHOR.name
    assert (await repo.branches.get("main")).commit_id == commit.id
    # An unnamed workspace is gone after its merge.
    with pytest.raises(NotFoundError):
        await repo.workspaces.get(ws.id)


async def test_a_named_workspace_survives_its_merge(repo: RemoteRepo, first_commit: Commit) -> None:
    ws = await repo.workspaces.get_or_create("main", name="keeper")
    await repo.workspaces.add_files(ws.id, "", [FilePart("one.txt", b"1")])
    commit = await repo.workspaces.merge(ws.id, "main", message="one", author=AUTHOR)
    kept = await repo.workspaces.get(ws.id)
    assert kept.commit is not None and kept.commit.id == commit.id
    assert (await repo.workspaces.changes(ws.id)).added_files.entries == []


async def test_merging_nothing_is_nothing_to_commit(repo: RemoteRepo, first_commit: Commit) -> None:
    ws = await repo.workspaces.get_or_create("main")
    with pytest.raises(NothingToCommitError) as caught:
        await repo.workspaces.merge(ws.id, "main", message="empty", author=AUTHOR)
    assert isinstance(caught.value, UnprocessableError)
    assert caught.value.status == 422
    # Re-uploading identical content stages nothing either.
    assert await repo.workspaces.add_files(ws.id, "", [FilePart("hello.txt", b"hello\n")]) == [
        "hello.txt"
    ]
    with pytest.raises(NothingToCommitError):
        await repo.workspaces.merge(ws.id, "main", message="still empty", author=AUTHOR)
    assert (await repo.branches.get("main")).commit_id == first_commit.id


async def test_concurrent_edits_of_one_file_conflict(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    first = await repo.workspaces.get_or_create("main")
    second = await repo.workspaces.get_or_create("main")
    await repo.workspaces.add_files(first.id, "", [FilePart("hello.txt", b"first edit")])
    await repo.workspaces.add_files(second.id, "", [FilePart("hello.txt", b"second edit")])
    assert (await repo.workspaces.mergeability(second.id, "main")).is_mergeable

    await repo.workspaces.merge(first.id, "main", message="first", author=AUTHOR)

    verdict = await repo.workspaces.mergeability(second.id, "main")
    assert verdict.is_mergeable is False
    assert [c.path for c in verdict.conflicts] == ["hello.txt"]
    with pytest.raises(ConflictError) as caught:
        await repo.workspaces.merge(second.id, "main", message="second", author=AUTHOR)
    assert caught.value.status == 409
    assert await repo.files.download("main", "hello.txt") == b"first edit"
    # The losing workspace keeps its changes.
    assert _names((await repo.workspaces.changes(second.id)).modified_files.entries) == [
        "hello.txt"
    ]


async def test_remove_stages_deletion_of_committed_files(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    ws = await repo.workspaces.get_or_create("main")
    assert await repo.workspaces.remove(ws.id, ["hello.txt"]) == ["hello.txt"]
    changes = await repo.workspaces.changes(ws.id)
    assert _names(changes.removed_files.entries) == ["hello.txt"]
    await repo.workspaces.merge(ws.id, "main", message="rm", author=AUTHOR)
    assert [e.filename async for e in repo.dirs.entries("main")] == ["README.md"]


async def test_removing_an_uncommitted_path_is_a_partial_failure(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    ws = await repo.workspaces.get_or_create("main")
    with pytest.raises(PartialFailure) as caught:
        await repo.workspaces.remove(ws.id, ["hello.txt", "never-committed.txt"])
    assert caught.value.failed == ["never-committed.txt"]


async def test_unstage_drops_only_the_named_changes(repo: RemoteRepo, first_commit: Commit) -> None:
    ws = await repo.workspaces.get_or_create("main")
    await repo.workspaces.add_files(
        ws.id, "d", [FilePart("keep.txt", b"keep"), FilePart("drop.txt", b"drop")]
    )
    await repo.workspaces.unstage(ws.id, ["d/drop.txt", "not/staged.txt"])
    changes = await repo.workspaces.changes(ws.id)
    assert _names(changes.added_files.entries) == ["d/keep.txt"]
    await repo.workspaces.merge(ws.id, "main", message="keep only", author=AUTHOR)
    assert [p async for p, _ in repo.dirs.walk("main", "d")] == ["d/keep.txt"]


async def test_changes_paginates_each_list(repo: RemoteRepo, first_commit: Commit) -> None:
    ws = await repo.workspaces.get_or_create("main")
    await repo.workspaces.add_files(ws.id, "", [FilePart(f"f{i}.txt", b"%d" % i) for i in range(5)])
    page = await repo.workspaces.changes(ws.id, page=2, page_size=2)
    assert page.added_files.total_entries == 5
    assert page.added_files.total_pages == 3
    assert len(page.added_files.entries) == 2


async def test_staging_paths_outside_the_repository_is_refused(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    ws = await repo.workspaces.get_or_create("main")
    with pytest.raises(BadRequestError):
        await repo.workspaces.add_files(
            ws.id, "data", [FilePart("ok.txt", b"ok"), FilePart("../escape.txt", b"x")]
        )
    assert (await repo.workspaces.changes(ws.id)).added_files.entries == []


async def test_calls_on_a_missing_workspace_are_not_found(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(NotFoundError):
        await repo.workspaces.add_files(missing, "", [FilePart("x.txt", b"x")])
    with pytest.raises(NotFoundError):
        await repo.workspaces.changes(missing)
    with pytest.raises(NotFoundError):
        await repo.workspaces.merge(missing, "main", message="m", author=AUTHOR)
    with pytest.raises(NotFoundError):
        await repo.workspaces.mergeability(missing, "main")
