"""Mid-size files (over SMALL_FILE_BYTES, up to LARGE_FILE_BYTES): one ranged read of the whole
file each, never a QUERY batch (whose gzip costs the server more) nor several ranges."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from oxen_async import OxenClient, RemoteRepo, hash_bytes
from oxen_async.download import (
    LARGE_FILE_BYTES,
    SMALL_FILE_BYTES,
    ContentCache,
    download_folder,
    engine,
)
from oxen_async.testing import FaultController, Relay, RepoHandle

from .conftest import commit, local_files, strays

ROUTES = ("versions_download", "chunk_download", "file_get")


def _mid(n: int) -> bytes:
    return os.urandom(SMALL_FILE_BYTES + 1 + n)


async def test_mid_size_files_come_one_ranged_read_each(
    repo: RemoteRepo, oxen_repo: RepoHandle, tmp_path: Path
) -> None:
    same = _mid(7)
    files = {
        "img/a.jpg": _mid(0),
        "img/b.jpg": os.urandom(LARGE_FILE_BYTES),  # the largest held whole
        "img/c.jpg": same,
        "copy/c.jpg": same,
        "edge/small.bin": os.urandom(SMALL_FILE_BYTES),  # the largest in a batch
        "edge/tiny.txt": b"tiny",
    }
    await commit(repo, files)
    faults = oxen_repo.server.faults
    before = {r: faults.stats.requests(r) for r in ROUTES} if faults else {}
    report = await download_folder(repo, "main", "", tmp_path / "out")
    assert report.ok, report.failed
    assert sorted(report.downloaded) == sorted(files)
    assert report.bytes_downloaded == sum(len(d) for d in files.values())
    assert local_files(tmp_path / "out") == files
    assert strays(tmp_path / "out") == []
    if faults is not None:
        sent = {r: faults.stats.requests(r) - before[r] for r in ROUTES}
        # img/c.jpg and copy/c.jpg hold the same bytes: one read lands both.
        assert sent == {"versions_download": 1, "chunk_download": 3, "file_get": 0}


@pytest.mark.fake_only
async def test_a_mid_size_read_cut_off_is_asked_again(
    repo: RemoteRepo, oxen_faults: FaultController, tmp_path: Path
) -> None:
    files = {"a.bin": _mid(100), "b.bin": _mid(200)}
    await commit(repo, files)
    cut = oxen_faults.drop_connection(1, route="chunk_download", when="after_headers")
    report = await download_folder(repo, "main", "", tmp_path)
    assert cut.hits == 1
    assert report.ok, report.failed
    assert oxen_faults.stats.requests("chunk_download") == 3
    assert local_files(tmp_path) == files
    assert strays(tmp_path) == []


async def test_a_later_path_of_bytes_being_read_joins_that_read(
    oxen_repo: RepoHandle, repo: RemoteRepo, tmp_path: Path
) -> None:
    """``z/`` comes two check groups after ``a/`` (512 small files between them), while a/'s
    reads are held back (a relay stalls them 2 s): z's mid-size and large files, the same
    bytes as a's, send no request of their own and land with a's."""
    mid, big = _mid(5), os.urandom(LARGE_FILE_BYTES + 4096)
    between = {f"m/{i:03d}.txt": f"small {i}".encode() for i in range(2 * engine.CHECK_GROUP)}
    files = {"a/mid.bin": mid, "a/big.bin": big, **between, "z/mid.bin": mid, "z/big.bin": big}
    await commit(repo, files)
    # Groups are runs of CHECK_GROUP entries in walk order: z/ is in a later group than a/.
    order = [path async for path, _ in repo.dirs.walk_brief("main", "")]
    first_z = min(order.index(f"z/{name}") for name in ("mid.bin", "big.bin"))
    last_a = max(order.index(f"a/{name}") for name in ("mid.bin", "big.bin"))
    assert first_z - last_a > engine.CHECK_GROUP
    server = oxen_repo.server
    async with Relay(server.url) as relay, OxenClient(relay.url, token=server.token) as oxen:
        relay.stall(r"/chunk/[^/]+/a/", 2.0)  # long past the listing of z/
        through = oxen.repo(oxen_repo.namespace, oxen_repo.name)
        report = await download_folder(through, "main", "", tmp_path / "out")
    assert report.ok, report.failed
    assert sorted(report.downloaded) == sorted(files)
    assert local_files(tmp_path / "out") == files
    assert strays(tmp_path / "out") == []
    reads = {k: n for k, n in relay.stats.requests.items() if "/chunk/" in k}
    assert [k for k in reads if "/z/" in k] == []
    assert sorted(k.rsplit("/", 2)[-2:] for k in reads) == [["a", "big.bin"], ["a", "mid.bin"]]


@pytest.mark.parametrize("size", ["mid", "large"])
async def test_a_ranged_answer_longer_than_asked_fails_its_file_alone(
    oxen_repo: RepoHandle, repo: RemoteRepo, tmp_path: Path, size: str
) -> None:
    """A server (here a relay in front of the real one) that answers a file's ranged read with
    8 MiB: a mid-size read is refused on its declared length, unread; a large file's range at
    its first piece past the range. Not tried again, and not taken for a server gone: that file
    fails in one line and is not written, the others land."""
    long = _mid(1) if size == "mid" else os.urandom(LARGE_FILE_BYTES + 4096)
    good = _mid(2)
    await commit(repo, {"long.bin": long, "good.bin": good})
    server = oxen_repo.server
    async with Relay(server.url) as relay, OxenClient(relay.url, token=server.token) as oxen:
        relay.answer(r"/chunk/[^/]+/long\.bin$", method="GET", body=b"x" * (8 * 1024 * 1024))
        through = oxen.repo(oxen_repo.namespace, oxen_repo.name)
        report = await download_folder(through, "main", "", tmp_path / "out")
    assert report.error is None
    assert list(report.failed) == ["long.bin"]
    message = report.failed["long.bin"]
    assert "\n" not in message and message.startswith("ResponseTooLargeError: GET ")
    if size == "mid":
        assert f"declares {8 * 1024 * 1024:,} bytes, more than the {len(long):,} allowed" in message
    else:
        assert f"the range ran past the {len(long):,} bytes asked for" in message
    assert local_files(tmp_path / "out") == {"good.bin": good}
    assert strays(tmp_path / "out") == []
    asked = [kind for kind in relay.stats.requests if kind.endswith("/long.bin")]
    assert [relay.stats.count(kind) for kind in asked] == [1]


@pytest.mark.fake_only
async def test_a_wrong_byte_in_a_mid_size_file_never_lands(
    repo: RemoteRepo, oxen_faults: FaultController, tmp_path: Path
) -> None:
    bad, good = _mid(1), _mid(2)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "bad.bin").write_bytes(b"what was there before")
    await commit(repo, {"bad.bin": bad, "good.bin": good})
    oxen_faults.downloads.wrong_byte(hashes=[hash_bytes(bad)])
    report = await download_folder(repo, "main", "", tmp_path / "out")
    assert oxen_faults.downloads.wrong_bytes_fired == 1
    assert list(report.failed) == ["bad.bin"]
    assert "IntegrityError" in report.failed["bad.bin"]
    # The old file is kept, untouched; nothing half-written beside it.
    assert local_files(tmp_path / "out") == {"bad.bin": b"what was there before", "good.bin": good}
    assert strays(tmp_path / "out") == []


@pytest.mark.fake_only
async def test_mid_size_reads_fill_their_request_bound_and_never_pass_it(
    repo: RemoteRepo, oxen_faults: FaultController, tmp_path: Path
) -> None:
    # Mid-size reads have a pool of their own, WHOLE_READS_PER_SLOT x concurrency in flight,
    # with more workers than that (they land bytes while others wait on the server): the
    # server still never sees more reads at once than the bound.
    bound = engine.WHOLE_READS_PER_SLOT * 3
    files = {f"m{i:02}.bin": _mid(i) for i in range(2 * bound)}
    await commit(repo, files)
    slow = oxen_faults.delay(0.1, route="chunk_download")
    report = await download_folder(repo, "main", "", tmp_path, concurrency=3)
    assert slow.hits == 2 * bound
    assert report.ok, report.failed
    assert local_files(tmp_path) == files
    assert oxen_faults.stats.route("chunk_download").peak_in_flight == bound


@pytest.mark.fake_only
async def test_mid_size_bodies_held_at_once_stay_within_their_byte_budget(
    repo: RemoteRepo, oxen_faults: FaultController, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A budget of three files' bytes: however many reads the count bound allows, three bodies
    # at most are fetched and not yet landed, so three reads at most are in flight.
    files = {f"m{i:02}.bin": _mid(0) for i in range(12)}
    await commit(repo, files)
    monkeypatch.setattr(engine, "WHOLE_BYTES_HELD", 3 * len(_mid(0)))
    slow = oxen_faults.delay(0.1, route="chunk_download")
    report = await download_folder(repo, "main", "", tmp_path, concurrency=8)
    assert slow.hits == 12
    assert report.ok, report.failed
    assert local_files(tmp_path) == files
    assert oxen_faults.stats.route("chunk_download").peak_in_flight == 3


async def test_mid_size_files_go_to_the_cache_and_come_back_from_it(
    repo: RemoteRepo, oxen_repo: RepoHandle, tmp_path: Path
) -> None:
    files = {f"f{i}.bin": _mid(i) for i in range(3)}
    await commit(repo, files)
    cache = ContentCache()
    first = await download_folder(repo, "main", "", tmp_path / "one", cache=cache)
    assert first.ok and first.from_cache == 0
    faults = oxen_repo.server.faults
    before = {r: faults.stats.requests(r) for r in ROUTES} if faults else {}
    second = await download_folder(repo, "main", "", tmp_path / "two", cache=cache)
    assert second.ok and second.from_cache == 3
    assert local_files(tmp_path / "two") == files
    if faults is not None:
        assert {r: faults.stats.requests(r) for r in ROUTES} == before


@pytest.mark.parametrize("ordered", [True, False])
async def test_iter_files_reads_mid_size_files_alone_and_keeps_walk_order(
    repo: RemoteRepo, oxen_repo: RepoHandle, ordered: bool
) -> None:
    # Small and mid-size files interleaved in one folder: the order must survive the split.
    files = {f"mix/f{i:02d}.bin": _mid(i) if i % 3 == 0 else b"small %d" % i for i in range(12)}
    await commit(repo, files)
    walk = [p async for p, _ in repo.dirs.walk("main", "mix")]
    faults = oxen_repo.server.faults
    before = {r: faults.stats.requests(r) for r in ROUTES} if faults else {}
    got = [(p, d) async for p, d in repo.iter_files("main", "mix", ordered=ordered)]
    assert dict(got) == files
    if ordered:
        assert [p for p, _ in got] == walk
    else:
        assert sorted(p for p, _ in got) == sorted(walk)
    if faults is not None:
        sent = {r: faults.stats.requests(r) - before[r] for r in ROUTES}
        assert sent["chunk_download"] == 4 and sent["file_get"] == 0
        # Ordered, each mid-size file closes the batch before it: at most 4 batches.
        assert 1 <= sent["versions_download"] <= (4 if ordered else 1)
