"""Directory listings: one page, every entry across pages, a recursive walk, one entry's meta."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from oxen_async import Commit, NotFoundError, OxenClient, OxenError, RemoteRepo, hash_bytes
from oxen_async.testing import FaultController, loopback_app

from .conftest import commit_tree

TREE = {
    "README.md": b"# tree\n",
    "b.txt": b"b",
    "A.txt": b"A",
    "c.bin": bytes(range(256)),
    "zeta/z.txt": b"z",
    "alpha/one.txt": b"1",
    "alpha/two/three.txt": b"3",
    "données/été 2024/photo 1.txt": "unicodé and spaces".encode(),
    "a b/c+d/%41.txt": b"percent stays literal",
    "deep/1/2/3/4/leaf.txt": b"leaf",
    "data/data": b"file named like its directory",
}


@pytest.fixture
async def tree(repo: RemoteRepo) -> Commit:
    return await commit_tree(repo, TREE)


async def test_list_page_paginates_directories_first_in_byte_order(
    repo: RemoteRepo, tree: Commit
) -> None:
    first = await repo.dirs.list_page("main", page=1, page_size=4)
    assert (first.total_entries, first.total_pages, first.page_number) == (
        10,
        3,
        1,
    )  # 6 dirs + 4 files
    names = [e.filename for e in first.entries]
    assert names == ["a b", "alpha", "data", "deep"]
    assert all(e.is_dir for e in first.entries)
    second = await repo.dirs.list_page("main", page=2, page_size=4)
    assert [(e.filename, e.is_dir) for e in second.entries] == [
        ("données", True), ("zeta", True), ("A.txt", False), ("README.md", False),
    ]  # fmt: skip
    third = await repo.dirs.list_page("main", page=3, page_size=4)
    assert [e.filename for e in third.entries] == ["b.txt", "c.bin"]
    assert (await repo.dirs.list_page("main", page=4, page_size=4)).entries == []


async def test_list_page_of_a_subdirectory_and_its_entries(repo: RemoteRepo, tree: Commit) -> None:
    listing = await repo.dirs.list_page("main", "alpha")
    assert listing.dir is not None and listing.dir.filename == "alpha" and listing.dir.is_dir
    assert listing.resource is not None and listing.resource.path == "alpha"
    two, one = listing.entries
    assert (two.filename, two.is_dir, two.size) == ("two", True, 1)
    assert (one.filename, one.is_dir, one.size, one.hash) == ("one.txt", False, 1, hash_bytes(b"1"))
    assert one.latest_commit is not None and one.latest_commit.id == tree.id


async def test_entries_iterates_across_pages(repo: RemoteRepo, tree: Commit) -> None:
    names = [e.filename async for e in repo.dirs.entries("main", page_size=2)]
    assert names == [
        "a b", "alpha", "data", "deep", "données", "zeta",  # dirs, byte order
        "A.txt", "README.md", "b.txt", "c.bin",  # then files, uppercase first
    ]  # fmt: skip


async def test_hashes_lists_names_ids_and_kinds_across_pages(
    repo: RemoteRepo, tree: Commit
) -> None:
    full = [e async for e in repo.dirs.entries("main", "alpha", page_size=1)]
    lean = [e async for e in repo.dirs.hashes("main", "alpha", page_size=1)]
    assert [(e.filename, e.hash, e.is_dir) for e in lean] == [
        (e.filename, e.hash, e.is_dir) for e in full
    ]
    assert [(e.filename, e.is_dir) for e in lean] == [("two", True), ("one.txt", False)]
    assert lean[1].hash == hash_bytes(b"1")
    with pytest.raises(NotFoundError):
        [e async for e in repo.dirs.hashes("main", "no/such/dir")]


async def test_walk_yields_every_file_with_its_full_path(repo: RemoteRepo, tree: Commit) -> None:
    found = {path: entry async for path, entry in repo.dirs.walk("main", page_size=3)}
    assert sorted(found) == sorted(TREE)
    for path, entry in found.items():
        assert entry.hash == hash_bytes(TREE[path]), path
        assert entry.size == len(TREE[path])
        assert not entry.is_dir


async def test_walk_of_a_subdirectory_and_with_directories(repo: RemoteRepo, tree: Commit) -> None:
    files = [p async for p, _ in repo.dirs.walk("main", "données")]
    assert files == ["données/été 2024/photo 1.txt"]
    with_dirs = [(p, e.is_dir) async for p, e in repo.dirs.walk("main", "alpha", include_dirs=True)]
    assert with_dirs == [
        ("alpha/two", True),
        ("alpha/one.txt", False),
        ("alpha/two/three.txt", False),
    ]


async def _walked(repo: RemoteRepo, **options: Any) -> list[tuple[str, str, int, bool]]:
    return [
        (path, e.hash, e.size, e.is_dir)
        async for path, e in repo.dirs.walk("main", include_dirs=True, **options)
    ]


async def test_a_nested_walk_gives_what_the_folder_by_folder_walk_gives(
    repo: RemoteRepo, tree: Commit
) -> None:
    # deep_files=0: every folder by itself; 1: only the one-file subtrees nested; default: all
    # of TREE in nested requests. Same entries, same order, also with pages of 3 entries.
    by_folder = await _walked(repo, deep_files=0)
    assert sorted(p for p, _, _, is_dir in by_folder if not is_dir) == sorted(TREE)
    assert await _walked(repo, deep_files=1) == by_folder
    assert await _walked(repo) == by_folder
    assert await _walked(repo, page_size=3) == by_folder
    brief = [
        (path, e.hash, e.size, e.is_dir)
        async for path, e in repo.dirs.walk_brief("main", include_dirs=True, page_size=3)
    ]
    assert brief == by_folder


async def test_a_brief_file_entry_keeps_no_raw_view_of_its_listing(
    repo: RemoteRepo, tree: Commit
) -> None:
    # A raw field is a view that keeps the whole response body alive: a file entry waiting in
    # a download held its nested listing's ~9 MB that way. Only a folder's counts stay raw.
    files = [e async for _, e in repo.dirs.walk_brief("main")]
    assert len(files) == len(TREE)
    for entry in files:
        assert not any(isinstance(getattr(entry, f), msgspec.Raw) for f in entry.__struct_fields__)
        assert entry.metadata is None or bytes(entry.metadata.dir) == b"null"
    folders = [e async for _, e in repo.dirs.walk_brief("main", include_dirs=True) if e.is_dir]
    counted = [e for e in folders if e.metadata is not None and bytes(e.metadata.dir) != b"null"]
    assert counted and len(counted) == len(folders)  # every folder's counts were still read


@pytest.mark.fake_only
async def test_a_subtree_of_few_files_is_listed_in_one_request(
    repo: RemoteRepo, oxen_faults: FaultController
) -> None:
    files = {
        f"g{g}/d{d}/f{f}.txt": b"%d%d%d" % (g, d, f)
        for g in range(3)
        for d in range(10)
        for f in range(3)
    }
    await commit_tree(repo, files)
    for deep_files, requests in ((0, 1 + 3 + 30), (29, 1 + 3 + 30), (30, 1 + 3)):
        before = oxen_faults.stats.requests("dir_list")
        walked = {p async for p, _ in repo.dirs.walk("main", deep_files=deep_files)}
        assert walked == set(files)
        assert oxen_faults.stats.requests("dir_list") - before == requests, deep_files


SUBTREES = {
    f"g{g}/d{d}/f{f}.txt": b"%d%d%d" % (g, d, f)
    for g in range(3)
    for d in range(4)
    for f in range(2)
}


@pytest.mark.fake_only
async def test_the_next_subtree_is_asked_for_while_one_is_read(
    repo: RemoteRepo, oxen_faults: FaultController
) -> None:
    await commit_tree(repo, SUBTREES)
    # Each listing held long enough that two asked at once are surely in the server at once.
    oxen_faults.delay(0.2, route="dir_list")
    # Two pages a subtree (its four folders, two a page): page 1 may come ahead, page 2 not.
    walked = [p async for p, _ in repo.dirs.walk_brief("main", page_size=2)]
    assert walked == sorted(SUBTREES)  # the order and the paths are what they were
    listed = oxen_faults.stats.route("dir_list")
    assert listed.requests == 2 + 3 * 2  # none asked twice
    assert listed.peak_in_flight == 2  # one subtree read, the next asked: never more


@pytest.mark.fake_only
async def test_a_listing_asked_ahead_that_fails_fails_the_walk_when_it_is_reached(
    repo: RemoteRepo, oxen_faults: FaultController
) -> None:
    await commit_tree(repo, SUBTREES)
    refused = oxen_faults.fail_next(route="dir_list", path=r"/g1$", status=403)
    walked: list[str] = []
    with pytest.raises(OxenError) as caught:
        async for path, _ in repo.dirs.walk_brief("main"):
            walked.append(path)
    assert refused.hits == 1
    assert walked == sorted(p for p in SUBTREES if p.startswith("g0/"))  # all of g0 first
    assert "/g1" in str(caught.value)


@pytest.mark.fake_only
async def test_a_walk_left_early_cancels_what_it_asked_ahead(
    repo: RemoteRepo, oxen_faults: FaultController
) -> None:
    await commit_tree(repo, SUBTREES)
    # g1, asked for ahead while g0 is read, is held in the server: still in flight when we
    # leave.
    held = oxen_faults.delay(5, route="dir_list", path=r"/g1$")
    before = asyncio.all_tasks()
    walk = repo.dirs.walk_brief("main")
    first, _ = await anext(walk)
    assert first == "g0/d0/f0.txt"
    ahead = [t for t in asyncio.all_tasks() - before if not t.done()]
    assert len(ahead) == 1
    async with asyncio.timeout(5):  # until the server holds it (its thread counts the hit)
        while not held.hits:
            await asyncio.sleep(0.01)
    await walk.aclose()
    await asyncio.wait(ahead, timeout=5)  # the cancellation is delivered at its next step
    assert ahead[0].cancelled()
    # The session is still usable and the folder still lists.
    oxen_faults.reset()
    assert [p async for p, _ in repo.dirs.walk_brief("main", "g2")][:1] == ["g2/d0/f0.txt"]


@pytest.fixture
async def depth_blind_server() -> AsyncIterator[tuple[TestServer, list[str]]]:
    """A server that lists each folder alone whatever ``depth`` asks (no ``children``), with
    each folder's file count in its metadata, as the real one gives it."""

    def entry(name: str, files: int = 0) -> dict[str, Any]:
        if not files:
            return {"filename": name, "hash": hash_bytes(name.encode()), "size": 1}
        types = {"dir": {"data_types": [{"count": files, "data_type": "text"}]}}
        return {"filename": name, "hash": "d", "is_dir": True, "metadata": types}

    folders = {"": [entry("a", 2)], "a": [entry("b", 1), entry("x.txt")], "a/b": [entry("z.txt")]}
    asked: list[str] = []

    async def listing(request: web.Request) -> web.Response:
        folder = request.match_info["tail"].removeprefix("main").strip("/")
        asked.append(f"{folder}?depth={request.query.get('depth', '0')}")
        entries = folders[folder]
        body = {"entries": entries, "total_entries": len(entries), "total_pages": 1}
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/api/repos/ns/r/dir/{tail:.*}", listing)
    async with loopback_app(app) as server:
        yield server, asked


async def test_a_server_that_nests_nothing_still_gives_every_file(
    depth_blind_server: tuple[TestServer, list[str]],
) -> None:
    server, asked = depth_blind_server
    async with OxenClient(str(server.make_url(""))) as oxen:
        walked = [p async for p, _ in oxen.repo("ns/r").dirs.walk("main")]
    assert walked == ["a/x.txt", "a/b/z.txt"]
    # "a" was asked for nested and came alone: its subfolder was then listed by itself.
    assert asked == ["?depth=0", "a?depth=-1", "a/b?depth=-1"]


async def test_meta_of_a_file_and_a_directory(repo: RemoteRepo, tree: Commit) -> None:
    f = await repo.dirs.meta("main", "a b/c+d/%41.txt")
    assert (f.filename, f.size, f.is_dir) == ("%41.txt", len(TREE["a b/c+d/%41.txt"]), False)
    assert f.hash == hash_bytes(TREE["a b/c+d/%41.txt"])
    assert f.data_type == "text"
    metadata = f.metadata_dict()
    assert metadata is not None and "text" in metadata
    d = await repo.dirs.meta("main", "deep/1")
    assert d.is_dir and d.size == len(b"leaf")


async def test_meta_on_a_commit_id_revision(repo: RemoteRepo, tree: Commit) -> None:
    entry = await repo.dirs.meta(tree.id, "b.txt")
    assert entry.hash == hash_bytes(b"b")


async def test_missing_paths_and_revisions_are_not_found(repo: RemoteRepo, tree: Commit) -> None:
    with pytest.raises(NotFoundError):
        await repo.dirs.meta("main", "nope.txt")
    with pytest.raises(NotFoundError):
        await repo.dirs.list_page("main", "no/such/dir")
    with pytest.raises(NotFoundError):
        await repo.dirs.list_page("main", "b.txt")  # a file is not a directory
    with pytest.raises(NotFoundError):
        await repo.dirs.list_page("no-such-branch")


async def test_listing_an_empty_repository_is_not_found(repo: RemoteRepo) -> None:
    with pytest.raises(NotFoundError):
        [e async for e in repo.dirs.entries("main")]
