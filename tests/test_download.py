"""download_folder and iter_files against the bundled server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from oxen_async import (
    Author,
    Commit,
    ConfigError,
    FilePart,
    IntegrityError,
    NotFoundError,
    OxenClient,
    RemoteRepo,
    RetryPolicy,
    ServerError,
    download_folder,
    hash_bytes,
    iter_files,
)
from oxen_async.testing import FaultController, RepoHandle, loopback_app

AUTHOR = Author("Ada Lovelace", "ada@example.com")

TREE = {
    "README.md": b"# data\n",
    "data/train/a.txt": b"alpha",
    "data/train/b.txt": b"bravo" * 1000,
    "data/train/nested/c.bin": bytes(range(256)) * 50,
    "data/test/été 1.txt": "unicodé".encode(),
    "data/test/%41 b+c.txt": b"odd name",
    "empty.txt": b"",
}


@pytest.fixture
async def repo(oxen_repo: RepoHandle) -> AsyncIterator[RemoteRepo]:
    server = oxen_repo.server
    retry = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, budget=5.0)
    async with OxenClient(server.url, token=server.token, retry=retry) as oxen:
        yield oxen.repo(oxen_repo.namespace, oxen_repo.name)


async def _commit(repo: RemoteRepo, files: dict[str, bytes], message: str = "tree") -> Commit:
    ws = await repo.workspaces.get_or_create("main")
    await repo.workspaces.add_files(ws.id, "", [FilePart(p, d) for p, d in files.items()])
    return await repo.workspaces.merge(ws.id, "main", message=message, author=AUTHOR)


@pytest.fixture
async def tree(repo: RemoteRepo) -> Commit:
    return await _commit(repo, TREE)


def _local_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


async def _corrupt(repo: RemoteRepo, oxen_repo: RepoHandle, directory: str, name: str) -> str:
    """Commit ``directory/name`` through the branch upload (stored as a loose blob at the real
    server's path), then change the stored bytes behind the server's back."""
    data_dir = oxen_repo.server.data_dir
    if data_dir is None:
        pytest.skip("needs the server's data directory")
    content = f"genuine {name}".encode()
    await repo.files.upload("main", directory, {name: content}, author=AUTHOR)
    digest = hash_bytes(content)
    blob = data_dir / oxen_repo.namespace / oxen_repo.name / ".oxen" / "versions" / "files"
    blob = blob / digest[:2] / digest[2:] / "data"
    assert blob.is_file(), blob
    blob.write_bytes(b"X" * len(content))  # same size, other bytes
    return f"{directory}/{name}"


# --- download_folder ---------------------------------------------------------------------------


async def test_download_folder_fetches_the_whole_tree(
    repo: RemoteRepo, tree: Commit, tmp_path: Path
) -> None:
    report = await repo.download_folder("main", "", tmp_path / "out")
    assert report.ok
    assert report.revision == tree.id  # the branch head, pinned
    assert sorted(report.downloaded) == sorted(TREE)
    assert report.skipped == []
    assert report.bytes_downloaded == sum(len(d) for d in TREE.values())
    assert _local_files(tmp_path / "out") == TREE


async def test_a_second_run_skips_what_is_already_there(
    repo: RemoteRepo, tree: Commit, tmp_path: Path, oxen_repo: RepoHandle
) -> None:
    await repo.download_folder("main", "", tmp_path)
    faults = oxen_repo.server.faults
    transfers = ("file_get", "versions_download", "chunk_download")
    before = [faults.stats.requests(r) for r in transfers] if faults else []
    again = await repo.download_folder("main", "", tmp_path)
    assert again.downloaded == []
    assert sorted(again.skipped) == sorted(TREE)
    assert again.bytes_downloaded == 0
    if faults is not None:
        assert [faults.stats.requests(r) for r in transfers] == before


async def test_changed_or_missing_local_files_are_fetched_again(
    repo: RemoteRepo, tree: Commit, tmp_path: Path
) -> None:
    await repo.download_folder("main", "", tmp_path)
    (tmp_path / "data/train/a.txt").write_bytes(b"ALPHA")  # same size, other bytes
    (tmp_path / "data/train/b.txt").write_bytes(b"short")
    (tmp_path / "README.md").unlink()
    (tmp_path / "local-only.txt").write_bytes(b"mine")
    report = await repo.download_folder("main", "", tmp_path, concurrency=2)
    assert sorted(report.downloaded) == ["README.md", "data/train/a.txt", "data/train/b.txt"]
    assert len(report.skipped) == len(TREE) - 3
    assert _local_files(tmp_path) == {**TREE, "local-only.txt": b"mine"}


async def test_a_subfolder_lands_relative_to_the_local_dir(
    repo: RemoteRepo, tree: Commit, tmp_path: Path
) -> None:
    report = await download_folder(repo, "main", "data/train", tmp_path)
    assert sorted(report.downloaded) == [
        "data/train/a.txt",
        "data/train/b.txt",
        "data/train/nested/c.bin",
    ]
    assert _local_files(tmp_path) == {
        "a.txt": TREE["data/train/a.txt"],
        "b.txt": TREE["data/train/b.txt"],
        "nested/c.bin": TREE["data/train/nested/c.bin"],
    }


async def test_an_unknown_folder_or_revision_is_not_found(
    repo: RemoteRepo, tree: Commit, tmp_path: Path
) -> None:
    with pytest.raises(NotFoundError):
        await repo.download_folder("main", "no/such/dir", tmp_path)
    with pytest.raises(NotFoundError):
        await repo.download_folder("no-such-branch", "", tmp_path)
    with pytest.raises(ConfigError):
        await repo.download_folder("main", "", tmp_path, concurrency=0)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.fake_only
async def test_failures_are_reported_per_file_and_a_rerun_completes(
    repo: RemoteRepo, tree: Commit, tmp_path: Path, oxen_faults: FaultController
) -> None:
    oxen_faults.downloads.wrong_byte(hashes=[hash_bytes(TREE["data/train/a.txt"])])
    report = await repo.download_folder("main", "", tmp_path)
    assert oxen_faults.downloads.wrong_bytes_fired == 1
    assert not report.ok
    assert list(report.failed) == ["data/train/a.txt"]
    assert "IntegrityError" in report.failed["data/train/a.txt"]
    assert len(report.downloaded) == len(TREE) - 1
    assert not (tmp_path / "data/train/a.txt").exists()
    assert [p.name for p in (tmp_path / "data/train").iterdir() if p.name.startswith(".")] == []

    oxen_faults.reset()
    rerun = await repo.download_folder("main", "", tmp_path)
    assert rerun.downloaded == ["data/train/a.txt"]
    assert _local_files(tmp_path) == TREE


@pytest.mark.fake_only
async def test_a_refused_batch_falls_back_to_one_request_per_file(
    repo: RemoteRepo, tree: Commit, tmp_path: Path, oxen_faults: FaultController
) -> None:
    oxen_faults.fail_next(1, route="versions_download", status=500)
    oxen_faults.fail_next(1, route="file_get", path=r"/a\.txt$", status=500)
    report = await repo.download_folder("main", "", tmp_path)
    assert oxen_faults.stats.route("versions_download").faults_injected == 1
    assert oxen_faults.stats.requests("file_get") == len(TREE)
    assert list(report.failed) == ["data/train/a.txt"]
    assert "ServerError" in report.failed["data/train/a.txt"]
    assert sorted(report.downloaded) == sorted(set(TREE) - {"data/train/a.txt"})


@pytest.mark.fake_only
async def test_corrupt_bytes_from_the_server_never_land(
    repo: RemoteRepo, tree: Commit, tmp_path: Path, oxen_repo: RepoHandle
) -> None:
    bad = await _corrupt(repo, oxen_repo, "data/train", "corrupt.txt")
    report = await repo.download_folder("main", "data/train", tmp_path)
    assert list(report.failed) == [bad]
    assert "IntegrityError" in report.failed[bad]
    assert sorted(_local_files(tmp_path)) == ["a.txt", "b.txt", "nested/c.bin"]


@pytest.mark.fake_only
async def test_downloads_run_concurrently_within_the_bound(
    repo: RemoteRepo, tmp_path: Path, oxen_faults: FaultController, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"f{i}.txt": b"%d" % i for i in range(8)}
    await _commit(repo, files)
    monkeypatch.setattr("oxen_async.download.engine.BATCH_FILES", 1)  # one request per file
    oxen_faults.delay(0.3, route="versions_download")
    started = time.monotonic()
    report = await repo.download_folder("main", "", tmp_path, concurrency=4)
    elapsed = time.monotonic() - started
    assert len(report.downloaded) == 8
    assert oxen_faults.stats.requests("versions_download") == 8
    assert elapsed >= 0.6  # never more than 4 at once: at least two rounds of 0.3 s
    assert elapsed < 2.4  # but not one after the other (8 x 0.3 s)


@pytest.mark.fake_only
async def test_a_branch_that_moves_meanwhile_gives_one_snapshot(
    repo: RemoteRepo, tree: Commit, tmp_path: Path, oxen_faults: FaultController
) -> None:
    oxen_faults.delay(0.2, route="versions_download")
    running = asyncio.create_task(repo.download_folder("main", "data/train", tmp_path))
    await asyncio.sleep(0.05)
    await repo.files.upload("main", "data/train", {"a.txt": b"changed"}, author=AUTHOR)
    report = await running
    assert report.revision == tree.id
    assert (tmp_path / "a.txt").read_bytes() == TREE["data/train/a.txt"]


@pytest.fixture
async def evil_server() -> AsyncIterator[TestServer]:
    """A server whose listing names a file outside the folder."""
    content = b"evil"
    entry = {"filename": "../evil.txt", "hash": hash_bytes(content), "size": 4, "is_dir": False}

    async def listing(request: web.Request) -> web.Response:
        return web.json_response(
            {"entries": [entry], "total_entries": 1, "total_pages": 1, "page_number": 1}
        )

    async def file(request: web.Request) -> web.Response:
        return web.Response(body=content)

    app = web.Application()
    app.router.add_get("/api/repos/ns/r/dir/{tail:.*}", listing)
    app.router.add_get("/api/repos/ns/r/file/{tail:.*}", file)
    async with loopback_app(app) as server:
        yield server


async def test_listed_names_cannot_escape_the_local_dir(
    evil_server: TestServer, tmp_path: Path
) -> None:
    target = tmp_path / "target"
    async with OxenClient(str(evil_server.make_url(""))) as oxen:
        report = await oxen.repo("ns/r").download_folder("main", "", target)
    assert list(report.failed) == ["../evil.txt"]
    assert "unsafe" in report.failed["../evil.txt"]
    assert not (tmp_path / "evil.txt").exists()


# --- iter_files --------------------------------------------------------------------------------


async def test_iter_files_in_walk_order(repo: RemoteRepo, tree: Commit) -> None:
    walked = [p async for p, _ in repo.dirs.walk("main")]
    got = [(p, d) async for p, d in repo.iter_files("main", concurrency=3)]
    assert [p for p, _ in got] == walked
    assert dict(got) == TREE


async def test_iter_files_unordered_yields_the_same_files(repo: RemoteRepo, tree: Commit) -> None:
    got = {p: d async for p, d in iter_files(repo, "main", "data", ordered=False, concurrency=2)}
    assert got == {p: d for p, d in TREE.items() if p.startswith("data/")}


@pytest.mark.fake_only
@pytest.mark.parametrize("ordered", [True, False])
async def test_a_slow_consumer_bounds_what_is_fetched_ahead(
    repo: RemoteRepo, oxen_faults: FaultController, ordered: bool
) -> None:
    await _commit(repo, {f"many/{i:03d}.txt": b"%03d" % i * 333 for i in range(40)})  # 999 B
    before = oxen_faults.stats.requests("versions_download")
    # 9,000 bytes ahead at most: jobs of one file (9,000 / (2 x 3) < 2 files), five of them.
    files = repo.iter_files("main", "many", concurrency=3, ordered=ordered, buffer_bytes=9000)
    first = await anext(files)
    assert first[0].startswith("many/")
    await asyncio.sleep(0.5)  # the caller is busy; the iterator must not run ahead unbounded
    fetched = oxen_faults.stats.requests("versions_download") - before
    assert 1 <= fetched <= 9000 // 999
    rest = [p async for p, _ in files]
    assert len(rest) == 39
    assert oxen_faults.stats.requests("versions_download") - before == 40
    assert oxen_faults.stats.requests("file_get") == 0


@pytest.mark.parametrize("ordered", [True, False])
async def test_leaving_the_loop_early_stops_the_work(
    repo: RemoteRepo, tree: Commit, ordered: bool
) -> None:
    baseline = len(asyncio.all_tasks())
    files = repo.iter_files("main", concurrency=4, ordered=ordered)
    async for _path, _data in files:
        break
    await files.aclose()
    await asyncio.sleep(0)
    assert len(asyncio.all_tasks()) == baseline


@pytest.mark.fake_only
@pytest.mark.parametrize("ordered", [True, False])
async def test_a_failed_file_is_raised_from_the_iterator(
    repo: RemoteRepo, tree: Commit, oxen_faults: FaultController, ordered: bool
) -> None:
    baseline = len(asyncio.all_tasks())
    # The batch is refused: each file through /file, where b.txt fails.
    oxen_faults.fail_next(1, route="versions_download", status=500)
    oxen_faults.fail_next(1, route="file_get", path=r"/b\.txt$", status=500)
    with pytest.raises(ServerError):
        async for _ in repo.iter_files("main", ordered=ordered):
            pass
    assert oxen_faults.stats.route("versions_download").faults_injected == 1
    assert oxen_faults.stats.route("file_get").faults_injected == 1
    await asyncio.sleep(0)
    assert len(asyncio.all_tasks()) == baseline


@pytest.mark.fake_only
async def test_iter_files_checks_every_file_against_its_id(
    repo: RemoteRepo, tree: Commit, oxen_repo: RepoHandle
) -> None:
    bad = await _corrupt(repo, oxen_repo, "data/train", "corrupt.txt")
    with pytest.raises(IntegrityError) as caught:
        [p async for p, _ in repo.iter_files("main", "data/train")]
    assert bad in str(caught.value)


async def test_iter_files_fetches_small_files_many_to_a_request(
    repo: RemoteRepo, oxen_repo: RepoHandle
) -> None:
    files = {f"s/d{i % 20}/f{i:04d}.txt": b"small %d\n" % i for i in range(2000)}
    ws = await repo.workspaces.get_or_create("main")
    await repo.workspaces.add_files(ws.id, "", [FilePart(p, d) for p, d in files.items()])
    await repo.workspaces.merge(ws.id, "main", message="2000", author=AUTHOR)
    faults = oxen_repo.server.faults
    if faults is not None:
        faults.reset()
    got = {p: d async for p, d in repo.iter_files("main", "s")}
    assert got == files
    if faults is not None:  # 2,000 files, BATCH_FILES (1,000) to a request, no GET
        from oxen_async.download import BATCH_FILES

        assert BATCH_FILES < 2000
        assert faults.stats.requests("versions_download") == -(-2000 // BATCH_FILES)
        assert faults.stats.requests("file_get") == 0


@pytest.mark.fake_only
async def test_iter_files_takes_what_the_cache_has(
    repo: RemoteRepo, tree: Commit, oxen_faults: FaultController, tmp_path: Path
) -> None:
    from oxen_async.download import ContentCache

    cache = ContentCache(tmp_path / "cache")
    first = [(p, d) async for p, d in repo.iter_files("main", cache=cache)]
    requests = oxen_faults.stats.requests("versions_download")
    again = [(p, d) async for p, d in repo.iter_files("main", cache=cache)]
    assert again == first and dict(first) == TREE
    assert oxen_faults.stats.requests("versions_download") == requests  # all from the cache
