"""``cat`` of many paths goes through the download engine's batches: one ``QUERY /versions``
for many small files, not a request per path; each path still gets its own answer."""

from __future__ import annotations

import errno

import pytest

from oxen_async.fs import OxenFileSystem
from oxen_async.testing import FaultController

from .conftest import Wire, rel

FILES = {f"many/f{i:03}.txt": f"file {i}\n".encode() * (i + 1) for i in range(60)}
FILES["many/same.txt"] = FILES["many/f001.txt"]  # the same content at two paths
FILES["other/x.bin"] = bytes(range(256))


@pytest.fixture
def seeded(fs: OxenFileSystem) -> OxenFileSystem:
    fs.pipe(FILES)
    return fs


def _queries(wire: Wire) -> int:
    return sum(1 for e in wire.exchanges if e.method == "QUERY")


def test_cat_of_many_paths_is_one_batch(seeded: OxenFileSystem, wire: Wire) -> None:
    wire.clear()
    got = seeded.cat(list(FILES))
    assert {rel(seeded, name): data for name, data in got.items()} == FILES
    assert _queries(wire) == 1  # the 62 files in one request
    assert wire.to("file") == [] and wire.to("chunk") == []
    # The folder of 61 of them listed once; the lone file in ``other`` asked about alone.
    assert len(wire.to("dir")) == 1 and len(wire.to("meta")) == 1


def test_cat_of_a_glob_and_failures_per_path(seeded: OxenFileSystem, wire: Wire) -> None:
    got = seeded.cat("many/f00*.txt")
    assert sorted(rel(seeded, n) for n in got) == [f"many/f00{i}.txt" for i in range(10)]
    wanted = ["many/f002.txt", "many/nope.txt", "many", "other/x.bin"]
    wire.clear()
    answers = {rel(seeded, n): v for n, v in seeded.cat(wanted, on_error="return").items()}
    assert answers["many/f002.txt"] == FILES["many/f002.txt"]
    assert answers["other/x.bin"] == FILES["other/x.bin"]
    assert isinstance(answers["many/nope.txt"], FileNotFoundError)
    assert isinstance(answers["many"], IsADirectoryError)
    assert answers["many"].errno == errno.EISDIR
    assert _queries(wire) == 1
    with pytest.raises((FileNotFoundError, IsADirectoryError)):  # the first, as fsspec does
        seeded.cat(wanted)
    omitted = seeded.cat(wanted, on_error="omit")
    assert sorted(rel(seeded, n) for n in omitted) == ["many/f002.txt", "other/x.bin"]


def test_a_spoilt_batch_falls_back_file_by_file(
    seeded: OxenFileSystem, wire: Wire, oxen_faults: FaultController
) -> None:
    oxen_faults.fail_next(100, status=500, route="versions_download")  # past every retry
    wire.clear()
    names = [f"many/f{i:03}.txt" for i in range(5)]
    got = seeded.cat(names)
    assert {rel(seeded, n): d for n, d in got.items()} == {n: FILES[n] for n in names}
    assert oxen_faults.stats.requests("versions_download") >= 1
    assert len(wire.to("file")) == 5  # the refused batch: each file through /file


def test_cat_reads_mid_size_files_one_range_each(fs: OxenFileSystem, wire: Wire) -> None:
    import os

    from oxen_async.download import SMALL_FILE_BYTES

    files = {f"mid/m{i}.jpg": os.urandom(SMALL_FILE_BYTES + 1 + i) for i in range(4)}
    files |= {f"mid/s{i}.txt": b"small %d" % i for i in range(5)}
    fs.pipe(files)
    wire.clear()
    got = fs.cat(list(files))
    assert {rel(fs, name): data for name, data in got.items()} == files
    # The small ones in one QUERY, each mid-size one in one ranged read of all of it.
    assert _queries(wire) == 1
    chunks = wire.to("chunk")
    assert sorted(e.path.rsplit("/", 1)[1] for e in chunks) == [f"m{i}.jpg" for i in range(4)]
    assert all(e.params.get("chunk_start") in (0, "0") for e in chunks)
    assert wire.to("file") == []
