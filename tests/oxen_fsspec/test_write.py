"""Writes: one commit per write call, one per transaction, none when a transaction raises."""

from __future__ import annotations

from pathlib import Path

import pytest

from oxen_async.fs import OxenFileSystem

from .conftest import history, rel, run


def test_pipe_is_one_commit_and_many_files_too(fs: OxenFileSystem) -> None:
    fs.pipe("one.txt", b"1", commit_message="first file")
    fs.pipe({"a/x.txt": b"x", "a/y.txt": b"y", "b/z.txt": b"z"})
    commits = history(fs)
    messages = [c.message for c in commits]
    assert messages[:2] == ["Write 3 files", "first file"]
    assert commits[0].author == "fsspec tests" and commits[0].email == "fsspec-tests@example.com"
    assert fs.cat("a/y.txt") == b"y" and fs.cat("one.txt") == b"1"


def test_transaction_lands_every_write_as_one_commit(fs: OxenFileSystem, tmp_path: Path) -> None:
    local = tmp_path / "local.bin"
    local.write_bytes(b"from disk")
    fs.pipe("seed.txt", b"")  # an empty repository's first write also makes its first commit
    before = len(history(fs))
    with fs.transaction as tx:
        tx.message = "three writes, one commit"
        fs.pipe("t/piped.txt", b"piped")
        with fs.open("t/opened.txt", "wb") as f:
            f.write(b"opened ")
            f.write(b"and written")
        fs.put(str(local), "t/put.bin")
    commits = history(fs)
    assert len(commits) == before + 1
    assert commits[0].message == "three writes, one commit"
    assert fs.cat("t/opened.txt") == b"opened and written"
    assert fs.cat("t/put.bin") == b"from disk"
    assert rel(fs, fs.ls("t", detail=False)) == ["t/opened.txt", "t/piped.txt", "t/put.bin"]


def test_transaction_that_raises_commits_nothing(fs: OxenFileSystem) -> None:
    fs.pipe("keep.txt", b"kept")
    before = [c.id for c in history(fs)]
    with pytest.raises(RuntimeError, match="boom"), fs.transaction:
        fs.pipe("lost.txt", b"never")
        with fs.open("lost2.txt", "wb") as f:
            f.write(b"never either")
        raise RuntimeError("boom")
    assert [c.id for c in history(fs)] == before
    assert not fs.exists("lost.txt") and not fs.exists("lost2.txt")

    async def workspaces() -> list[object]:
        return list(await (await fs._repo()).workspaces.list())

    assert run(fs, workspaces) == []  # the transaction's workspace was deleted
    fs.pipe("after.txt", b"writes work again")  # the failed transaction left no state
    assert len(history(fs)) == len(before) + 1


def test_open_wb_outside_a_transaction_is_one_commit(fs: OxenFileSystem) -> None:
    fs.pipe("seed.txt", b"")
    before = len(history(fs))
    with fs.open("w/file.txt", "wb", commit_message="written through open") as f:
        for _ in range(1000):
            f.write(b"0123456789")
    assert len(history(fs)) == before + 1
    assert history(fs)[0].message == "written through open"
    assert fs.cat("w/file.txt") == b"0123456789" * 1000


def test_put_of_a_folder_is_one_commit(fs: OxenFileSystem, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for i in range(5):
        (src / f"f{i}.txt").write_bytes(b"f%d" % i)
    (src / "sub" / "g.txt").write_bytes(b"g")
    fs.pipe("seed.txt", b"")
    before = len(history(fs))
    fs.put(str(src) + "/", "up", recursive=True)
    assert len(history(fs)) == before + 1
    assert rel(fs, fs.find("up")) == [*(f"up/f{i}.txt" for i in range(5)), "up/sub/g.txt"]
    assert fs.cat("up/sub/g.txt") == b"g"


def test_rm_is_one_commit(fs: OxenFileSystem) -> None:
    fs.pipe({"r/a.txt": b"a", "r/b.txt": b"b", "r/deep/c.txt": b"c", "stay.txt": b"s"})
    before = len(history(fs))
    fs.rm(["r/a.txt", "r/b.txt"])
    assert len(history(fs)) == before + 1
    assert rel(fs, fs.find("r")) == ["r/deep/c.txt"]
    with pytest.raises(IsADirectoryError, match="recursive"):
        fs.rm("r")
    fs.rm("r", recursive=True)
    assert not fs.exists("r/deep/c.txt")
    assert rel(fs, fs.find("")) == ["stay.txt"]
    assert history(fs)[0].message.startswith("Remove")
