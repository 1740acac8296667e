"""Reads: listings (paginated, cached), true ranged reads, buffered open with seek, get."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from oxen_async.errors import IntegrityError
from oxen_async.fs import OxenFileSystem

from .conftest import Wire, rel

FILES = {
    "top.txt": b"top level\n",
    "data/a.csv": b"x,y\n1,2\n3,4\n",
    "data/b.bin": bytes(range(256)) * 40,  # 10,240 bytes
    "data/deep/c.json": b'{"c": 1}',
    "data/deep/d.txt": b"d" * 100,
}


@pytest.fixture
def seeded(fs: OxenFileSystem) -> OxenFileSystem:
    fs.pipe(FILES)
    return fs


def test_listing_shapes(seeded: OxenFileSystem) -> None:
    fs = seeded
    root = fs.ls("", detail=False)
    assert sorted(root) == [f"{fs.prefix}/data", f"{fs.prefix}/top.txt"]  # names carry the repo
    assert fs.ls(fs.prefix, detail=False) == root == fs.ls(f"oxen://{fs.prefix}", detail=False)
    entries = {rel(fs, e["name"]): e for e in fs.ls("data")}
    assert set(entries) == {"data/a.csv", "data/b.bin", "data/deep"}
    assert entries["data/deep"]["type"] == "directory"
    assert (entries["data/b.bin"]["size"], entries["data/b.bin"]["type"]) == (10240, "file")
    assert fs.info("data/deep/c.json")["size"] == len(FILES["data/deep/c.json"])
    assert fs.isdir("data/deep") and fs.isfile("data/a.csv") and not fs.isfile("data")
    assert fs.exists("top.txt") and not fs.exists("nope.txt") and not fs.exists("data/nope")
    assert rel(fs, fs.find("")) == sorted(FILES)
    assert rel(fs, fs.find("data", withdirs=True)) == sorted(
        [p for p in FILES if p.startswith("data/")] + ["data", "data/deep"]
    )
    assert rel(fs, fs.glob("data/**/*.txt")) == ["data/deep/d.txt"]
    assert rel(fs, fs.glob("data/*.csv")) == ["data/a.csv"]
    walked = {rel(fs, top): (sorted(d), sorted(f)) for top, d, f in fs.walk("")}
    assert walked["data"] == (["deep"], ["a.csv", "b.bin"])
    assert walked["data/deep"] == ([], ["c.json", "d.txt"])
    assert fs.ls("data/a.csv", detail=False) == [f"{fs.prefix}/data/a.csv"]  # lists as itself


def test_listing_is_paginated_and_cached(oxen_repo: object, wire: Wire) -> None:
    from .conftest import options

    fs = OxenFileSystem(
        oxen_repo.namespace,  # type: ignore[attr-defined]
        oxen_repo.name,  # type: ignore[attr-defined]
        listing_page_size=3,
        skip_instance_cache=True,
        **options(oxen_repo),  # type: ignore[arg-type]
    )
    fs.pipe({f"many/f{i:02d}.txt": b"%d" % i for i in range(7)})
    wire.clear()
    assert len(fs.ls("many")) == 7
    pages = [e.params.get("page") for e in wire.to("dir")]
    assert pages == [1, 2, 3]  # 7 entries, 3 a page
    wire.clear()
    assert len(fs.ls("many")) == 7
    assert fs.info("many/f03.txt")["size"] == 1  # answered from the parent's listing
    assert wire.exchanges == []  # both from the listings cache
    fs.pipe("many/f99.txt", b"new")  # a write invalidates what it may have changed
    assert len(fs.ls("many")) == 8
    fs.close()


def test_cat_file_ranges_are_ranged_reads(seeded: OxenFileSystem, wire: Wire) -> None:
    fs = seeded
    data = FILES["data/b.bin"]
    fs.info("data/b.bin")
    wire.clear()
    assert fs.cat_file("data/b.bin", start=1000, end=1100) == data[1000:1100]
    assert fs.cat_file("data/b.bin", start=-10) == data[-10:]
    assert fs.cat_file("data/b.bin", start=10_000, end=99_999) == data[10_000:]  # clamped
    assert fs.cat_file("data/b.bin", start=10_240) == b""
    assert wire.bytes_from("chunk") == 100 + 10 + 240
    assert wire.to("file") == []  # no whole-file download behind a range
    assert fs.cat_file("data/b.bin") == data  # whole: one /file GET, hash-checked
    assert fs.cat("data/a.csv") == FILES["data/a.csv"]
    both = fs.cat(["top.txt", "data/deep/d.txt"])
    assert {rel(fs, k): v for k, v in both.items()} == {
        "top.txt": FILES["top.txt"],
        "data/deep/d.txt": FILES["data/deep/d.txt"],
    }


def test_buffered_open_seeks_by_ranges(seeded: OxenFileSystem, wire: Wire) -> None:
    fs = seeded
    data = FILES["data/b.bin"]
    with fs.open("data/b.bin", "rb", block_size=1024) as f:
        wire.clear()
        f.seek(-16, os.SEEK_END)
        assert f.read() == data[-16:]
        f.seek(2048)
        assert f.read(10) == data[2048:2058]
        assert f.tell() == 2058
        assert f.read(0) == b""
    assert wire.to("file") == []
    assert 0 < wire.bytes_from("chunk") <= 3 * 1024  # two blocks of 1 KiB, not 10 KiB
    with fs.open("data/a.csv", "r") as text:  # text mode wraps the binary file
        assert text.read().splitlines() == ["x,y", "1,2", "3,4"]


def test_get_a_folder_and_a_file(seeded: OxenFileSystem, tmp_path: Path, wire: Wire) -> None:
    fs = seeded
    wire.clear()
    fs.get("data", str(tmp_path / "copy"), recursive=True)
    assert [e.method for e in wire.exchanges].count("QUERY") == 1  # the engine: one batch
    assert wire.to("file") == []  # not a GET per file
    got = {
        p.relative_to(tmp_path / "copy").as_posix(): p.read_bytes()
        for p in (tmp_path / "copy").rglob("*")
        if p.is_file()
    }
    assert got == {k[len("data/") :]: v for k, v in FILES.items() if k.startswith("data/")}
    (tmp_path / "into").mkdir()
    fs.get("data/deep", str(tmp_path / "into"), recursive=True)  # an existing folder: nests
    assert (tmp_path / "into" / "deep" / "d.txt").read_bytes() == FILES["data/deep/d.txt"]
    fs.get("top.txt", str(tmp_path / "one.txt"))
    assert (tmp_path / "one.txt").read_bytes() == FILES["top.txt"]


def test_bad_reads_fail_clearly(seeded: OxenFileSystem) -> None:
    fs = seeded
    with pytest.raises(IsADirectoryError, match="data"):
        fs.open("data", "rb")
    with pytest.raises(IsADirectoryError):
        fs.cat_file("data/deep")
    with pytest.raises(FileNotFoundError, match="no such file"):
        fs.cat_file("data/missing.csv")
    with pytest.raises(ValueError, match="past the end"):
        fs.cat_file("top.txt", start=11)
    with pytest.raises(NotImplementedError, match="'ab'"):
        fs.open("top.txt", "ab")
    assert not issubclass(IntegrityError, FileNotFoundError)
