"""What the engine refuses, with nothing written: archives with unsafe or unexpected members,
gzip bombs, bytes that do not match their id, a tar cut off (fetched again)."""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web

from oxen_async import OxenClient, RemoteRepo, RetryPolicy, hash_bytes
from oxen_async.download import download_folder
from oxen_async.testing import FaultController, loopback_app

from .conftest import commit, local_files, strays

CONTENT = b"the real bytes"
ID = hash_bytes(CONTENT)


def _tar(members: list[tuple[str, bytes]], *, link_to: str = "") -> bytes:
    """A gzipped tar of ``members``; with ``link_to``, each is a symlink there instead."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if link_to:
                info.type, info.linkname = tarfile.SYMTYPE, link_to
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _bomb() -> bytes:
    """A member header claiming 256 MiB, then 256 MiB of zeros: about 250 KiB on the wire."""
    info = tarfile.TarInfo(ID)
    info.size = 256 * 1024 * 1024
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [packer.compress(info.tobuf(format=tarfile.GNU_FORMAT))]
    zeros = bytes(1024 * 1024)
    out += [packer.compress(zeros) for _ in range(256)]
    out.append(packer.flush())
    return b"".join(out)


Archive = Callable[[], bytes]


@pytest.fixture
async def evil_repo(request: pytest.FixtureRequest) -> AsyncIterator[tuple[RemoteRepo, list[int]]]:
    """A server listing one file ``x.txt`` whose batch download is ``request.param()``."""
    make: Archive = request.param
    served = [0]
    entry = {"filename": "x.txt", "hash": ID, "size": len(CONTENT), "is_dir": False}

    async def listing(request: web.Request) -> web.Response:
        return web.json_response(
            {"entries": [entry], "total_entries": 1, "total_pages": 1, "page_number": 1}
        )

    async def versions(request: web.Request) -> web.Response:
        asked = gzip.decompress(await request.read()).decode().split()
        assert asked == [ID]
        served[0] += 1
        return web.Response(body=make(), content_type="application/gzip")

    app = web.Application()
    app.router.add_get("/api/repos/ns/r/dir/{tail:.*}", listing)
    app.router.add_route("QUERY", "/api/repos/ns/r/versions", versions)
    retry = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02)
    async with (
        loopback_app(app) as server,
        OxenClient(str(server.make_url("")), retry=retry) as oxen,
    ):
        yield oxen.repo("ns/r"), served


@pytest.mark.parametrize(
    ("evil_repo", "reason"),
    [
        (lambda: _tar([("../" + ID, CONTENT)]), "unsafe member name"),
        (lambda: _tar([("/tmp/" + ID, CONTENT)]), "unsafe member name"),
        (lambda: _tar([("f" * 32, CONTENT)]), "not asked for"),
        # Named as the requested id, but a symlink: not a regular file.
        (lambda: _tar([(ID, b"")], link_to="/etc/passwd"), "not a regular file"),
        (_bomb, "gzip bomb"),
        (lambda: _tar([(ID, b"other bytes!!!")]), "IntegrityError"),
    ],
    ids=["dotdot", "absolute", "unasked", "symlink", "bomb", "mismatch"],
    indirect=["evil_repo"],
)
async def test_a_bad_archive_is_refused_and_nothing_is_written(
    evil_repo: tuple[RemoteRepo, list[int]], reason: str, tmp_path: Path
) -> None:
    repo, served = evil_repo
    target = tmp_path / "target"
    report = await download_folder(repo, "main", "", target)
    assert served[0] == 1
    assert list(report.failed) == ["x.txt"]
    assert reason in report.failed["x.txt"]
    written = [p for p in tmp_path.rglob("*") if p.is_file() and "user-cache" not in p.parts]
    assert written == []


@pytest.mark.fake_only
async def test_a_tar_cut_mid_member_is_asked_again_for_what_is_missing(
    repo: RemoteRepo, oxen_faults: FaultController, tmp_path: Path
) -> None:
    files = {f"f{i}.txt": b"file %d " % i * 4000 for i in range(6)}  # 28 KB: batched
    await commit(repo, files)
    oxen_faults.downloads.cut_tar(1, at_member=3)
    report = await download_folder(repo, "main", "", tmp_path)
    assert oxen_faults.downloads.cuts_fired == 1
    assert oxen_faults.stats.requests("versions_download") == 2
    assert report.ok, report.failed
    assert local_files(tmp_path) == files
    assert strays(tmp_path) == []


@pytest.mark.fake_only
async def test_a_wrong_byte_in_a_member_fails_that_file_only(
    repo: RemoteRepo, oxen_faults: FaultController, tmp_path: Path
) -> None:
    files = {f"f{i}.txt": b"file %d " % i * 100 for i in range(4)}
    await commit(repo, files)
    oxen_faults.downloads.wrong_byte(hashes=[hash_bytes(files["f2.txt"])])
    report = await download_folder(repo, "main", "", tmp_path)
    assert oxen_faults.downloads.wrong_bytes_fired == 1
    assert list(report.failed) == ["f2.txt"]
    assert local_files(tmp_path) == {p: d for p, d in files.items() if p != "f2.txt"}
    assert strays(tmp_path) == []
