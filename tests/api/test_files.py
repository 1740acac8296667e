"""Files: download (bytes, stream, atomic download_to), branch upload, delete."""

from __future__ import annotations

from pathlib import Path

import pytest

from oxen_async import (
    BadRequestError,
    Commit,
    ConfigError,
    FilePart,
    IntegrityError,
    NotFoundError,
    RemoteRepo,
    TransportError,
    UnprocessableError,
    hash_bytes,
)
from oxen_async.models import CommitResponse
from oxen_async.testing import FaultController

from .conftest import AUTHOR, commit_tree

BIG = bytes(range(256)) * 9000  # 2.3 MB, several stream chunks


async def test_download_returns_the_bytes(repo: RemoteRepo, first_commit: Commit) -> None:
    assert await repo.files.download("main", "hello.txt") == b"hello\n"
    assert await repo.files.download(first_commit.id, "README.md") == b"# demo\n"


async def test_stream_yields_the_file_in_chunks(repo: RemoteRepo) -> None:
    await commit_tree(repo, {"big.bin": BIG})
    async with repo.files.stream("main", "big.bin", chunk_size=64 * 1024) as chunks:
        pieces = [c async for c in chunks]
    assert b"".join(pieces) == BIG
    assert len(pieces) > 1
    assert max(len(p) for p in pieces) <= 64 * 1024


async def test_download_of_a_missing_file_is_not_found(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    with pytest.raises(NotFoundError):
        await repo.files.download("main", "missing.txt")
    with pytest.raises(NotFoundError):
        await repo.files.download("no-such-branch", "hello.txt")
    with pytest.raises(ConfigError):
        await repo.files.download("main", "")


async def test_download_to_writes_the_file_atomically(repo: RemoteRepo, tmp_path: Path) -> None:
    await commit_tree(repo, {"nested/big.bin": BIG})
    dest = tmp_path / "out" / "sub" / "big.bin"
    written = await repo.files.download_to("main", "nested/big.bin", dest)
    assert written == dest
    assert dest.read_bytes() == BIG
    assert sorted(p.name for p in dest.parent.iterdir()) == ["big.bin"]  # no temp file left


async def test_download_to_with_the_right_expected_hash(
    repo: RemoteRepo, first_commit: Commit, tmp_path: Path
) -> None:
    dest = tmp_path / "hello.txt"
    await repo.files.download_to("main", "hello.txt", dest, expected_hash=hash_bytes(b"hello\n"))
    assert dest.read_bytes() == b"hello\n"


async def test_a_hash_mismatch_raises_and_leaves_no_file(
    repo: RemoteRepo, first_commit: Commit, tmp_path: Path
) -> None:
    dest = tmp_path / "hello.txt"
    with pytest.raises(IntegrityError) as caught:
        await repo.files.download_to(
            "main", "hello.txt", dest, expected_hash=hash_bytes(b"something else")
        )
    assert "hello.txt" in str(caught.value)
    assert list(tmp_path.iterdir()) == []  # neither the file nor a partial one


async def test_a_failed_download_keeps_the_previous_file(
    repo: RemoteRepo, first_commit: Commit, tmp_path: Path
) -> None:
    dest = tmp_path / "hello.txt"
    dest.write_bytes(b"previous content")
    with pytest.raises(IntegrityError):
        await repo.files.download_to("main", "hello.txt", dest, expected_hash="1234abcd")
    with pytest.raises(NotFoundError):
        await repo.files.download_to("main", "missing.txt", tmp_path / "missing.txt")
    assert dest.read_bytes() == b"previous content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hello.txt"]


async def test_upload_to_an_empty_repository_makes_the_first_commit(repo: RemoteRepo) -> None:
    commit = await repo.files.upload(
        "main", "", {"first.txt": b"first"}, author=AUTHOR, message="start"
    )
    assert commit.parent_ids == ()
    assert (commit.message, commit.author, commit.email) == ("start", AUTHOR.name, AUTHOR.email)
    assert (await repo.branches.get("main")).commit_id == commit.id
    assert await repo.files.download("main", "first.txt") == b"first"


async def test_upload_into_a_directory_commits_on_the_branch_head(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    files = {"été 1.txt": "accents: é à ü".encode(), "a+b.txt": b"plus", "%41.txt": b"pct"}
    commit = await repo.files.upload("main", "data/new", files, author=AUTHOR)
    assert commit.parent_ids == (first_commit.id,)
    assert commit.message  # the server's default message
    listed = {e.filename: e.hash async for e in repo.dirs.entries("main", "data/new")}
    assert listed == {name: hash_bytes(data) for name, data in files.items()}
    for name, data in files.items():
        assert await repo.files.download("main", f"data/new/{name}") == data


async def test_upload_replaces_an_existing_file(repo: RemoteRepo, first_commit: Commit) -> None:
    await repo.files.upload("main", "", {"hello.txt": b"changed"}, author=AUTHOR)
    assert await repo.files.download("main", "hello.txt") == b"changed"
    assert await repo.files.download(first_commit.id, "hello.txt") == b"hello\n"


async def test_upload_over_the_2_mib_limit_is_refused_before_sending(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    with pytest.raises(ConfigError) as caught:
        await repo.files.upload("main", "", {"big.bin": b"x" * (2 * 1024 * 1024)}, author=AUTHOR)
    assert "2 MiB" in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert [c.id async for c in repo.commits.history("main")] == [first_commit.id]


async def test_upload_just_under_the_limit_goes_through(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    data = b"y" * (1900 * 1024)
    await repo.files.upload("main", "", {"almost.bin": data}, author=AUTHOR)
    assert (await repo.dirs.meta("main", "almost.bin")).size == len(data)


@pytest.mark.parametrize("name", ["a/b.txt", "..", "what?.txt", 'say "hi".txt', "tab\there"])
async def test_upload_refuses_names_the_endpoint_would_alter(
    repo: RemoteRepo, first_commit: Commit, name: str
) -> None:
    with pytest.raises(ConfigError):
        await repo.files.upload("main", "", {name: b"x"}, author=AUTHOR)


async def test_upload_to_an_unknown_branch_of_a_non_empty_repo_is_not_found(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    with pytest.raises(NotFoundError):
        await repo.files.upload("nope", "", {"x.txt": b"x"}, author=AUTHOR)


async def test_delete_removes_a_file_in_a_new_commit(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    commit = await repo.files.delete("main", "hello.txt", author=AUTHOR, message="drop hello")
    assert commit.parent_ids == (first_commit.id,)
    assert commit.message == "drop hello"
    assert [e.filename async for e in repo.dirs.entries("main")] == ["README.md"]
    with pytest.raises(NotFoundError):
        await repo.files.download("main", "hello.txt")
    assert await repo.files.download(first_commit.id, "hello.txt") == b"hello\n"


async def test_delete_removes_a_whole_directory(repo: RemoteRepo) -> None:
    await commit_tree(repo, {"keep.txt": b"k", "dir/a.txt": b"a", "dir/sub/b.txt": b"b"})
    await repo.files.delete("main", "dir")
    assert [p async for p, _ in repo.dirs.walk("main")] == ["keep.txt"]


async def test_deleting_a_missing_path_changes_nothing(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    with pytest.raises((NotFoundError, UnprocessableError)):
        await repo.files.delete("main", "never-there.txt", author=AUTHOR)
    assert (await repo.branches.get("main")).commit_id == first_commit.id


@pytest.mark.fake_only
async def test_a_download_cut_off_mid_body_is_fetched_again(
    repo: RemoteRepo, first_commit: Commit, oxen_faults: FaultController
) -> None:
    await commit_tree(repo, {"big.bin": BIG})
    oxen_faults.drop_connection(1, route="file_get", when="after_headers")
    assert await repo.files.download("main", "big.bin") == BIG
    assert oxen_faults.stats.requests("file_get") == 2


@pytest.mark.fake_only
async def test_download_to_starts_over_when_the_body_is_cut_off(
    repo: RemoteRepo, first_commit: Commit, oxen_faults: FaultController, tmp_path: Path
) -> None:
    await commit_tree(repo, {"big.bin": BIG})
    oxen_faults.drop_connection(2, route="file_get", when="after_headers")
    await repo.files.download_to("main", "big.bin", tmp_path / "big.bin")
    assert (tmp_path / "big.bin").read_bytes() == BIG
    assert oxen_faults.stats.requests("file_get") == 3
    assert [p.name for p in tmp_path.iterdir()] == ["big.bin"]


@pytest.mark.fake_only
async def test_download_to_that_keeps_failing_raises_and_leaves_no_file(
    repo: RemoteRepo, first_commit: Commit, oxen_faults: FaultController, tmp_path: Path
) -> None:
    await commit_tree(repo, {"big.bin": BIG})
    oxen_faults.drop_connection(100, route="file_get", when="after_headers")
    with pytest.raises(TransportError):
        await repo.files.download_to("main", "big.bin", tmp_path / "big.bin")
    assert list(tmp_path.iterdir()) == []
    assert oxen_faults.stats.requests("file_get") == repo.scope.session.retry.attempts


async def test_the_server_itself_refuses_branch_uploads_over_2_mib(
    repo: RemoteRepo, first_commit: Commit
) -> None:
    # What upload() guards against, sent anyway through the session: the client-side limit
    # matches a real limit of the endpoint.
    from oxen_async.multipart import encode

    encoded = encode(
        [FilePart("big.bin", b"x" * (2 * 1024 * 1024 + 1))],
        field="files[]",
        text={"name": AUTHOR.name, "email": AUTHOR.email},
    )
    with pytest.raises((BadRequestError, TransportError)) as caught:
        await repo.scope.session.request(
            "PUT",
            repo.scope.path("file/main"),
            CommitResponse,
            body=lambda: encoded.body,
            headers=encoded.headers,
        )
    if isinstance(caught.value, BadRequestError):
        assert caught.value.status in (400, 413)
    assert [c.id async for c in repo.commits.history("main")] == [first_commit.id]
