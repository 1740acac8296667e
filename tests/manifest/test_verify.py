"""Checking a tree by its manifest: ``oxen-async verify`` (exit 0 / 1 / 2, one line per
problem) and ``download_folder(verify_manifest=True)``, after a real upload that wrote it."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3
import pytest

from oxen_async import Author, ManifestError

from ._check import b3sum_check

AUTHOR = Author("Grace Hopper", "grace@example.com")
FILES = {
    "a.txt": b"alpha\n",
    "sub/b.txt": b"beta\n" * 100,
    "sub/deep/c.bin": os.urandom(5000),
    "ünï/d.txt": "dé\n".encode(),
}


@dataclass
class Result:
    code: int
    out: str
    err: str


async def cli(*args: str, cwd: Path) -> Result:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OXEN_") or "ASYNC" in k}
    env["OXEN_CONFIG_DIR"] = str(cwd / "no-config")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "oxen_async", *args, env=env, cwd=str(cwd),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


def remote(server: Any) -> list[str]:
    return ["--host", server.url] + ([f"--token={server.token}"] if server.token else [])


@pytest.fixture
async def published(oxen_repo: Any, tmp_path: Path) -> tuple[Any, Path]:
    """FILES uploaded by the CLI with --manifest, then downloaded with --verify-manifest."""
    src = tmp_path / "src"
    for rel, data in FILES.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    spec = f"{oxen_repo.namespace}/{oxen_repo.name}"
    up = await cli(
        "upload", str(src), spec, *remote(oxen_repo.server), "--dest", "set", "--manifest",
        "--author-name", AUTHOR.name, "--author-email", AUTHOR.email, cwd=tmp_path,
    )  # fmt: skip
    assert up.code == 0, up.err
    down = await cli(
        "download", spec, str(tmp_path / "out"), "--path", "set", "--verify-manifest",
        *remote(oxen_repo.server), cwd=tmp_path,
    )  # fmt: skip
    assert down.code == 0, down.err
    return oxen_repo, tmp_path / "out"


async def test_verify_passes_on_the_published_tree(
    published: tuple[Any, Path], tmp_path: Path
) -> None:
    _, out = published
    manifest = (out / "MANIFEST.b3sum").read_text("utf-8")
    # Independent: every line is blake3 of the file as the blake3 package reads it.
    for line in manifest.splitlines():
        digest, path = line.split("  ", 1)
        assert blake3.blake3((out / path).read_bytes()).hexdigest() == digest
    assert len(manifest.splitlines()) == len(FILES)
    b3sum_check(out, "MANIFEST.b3sum")
    ok = await cli("verify", str(out), cwd=tmp_path)
    assert ok.code == 0, ok.err
    assert ok.out.strip() == f"{len(FILES)} file(s) match MANIFEST.b3sum"
    # A manifest kept apart from the tree: its paths are relative to LOCAL_DIR, as b3sum's.
    apart = tmp_path / "apart.b3sum"
    (out / "MANIFEST.b3sum").rename(apart)
    ok = await cli("verify", str(out), str(apart), cwd=tmp_path)
    assert ok.code == 0 and ok.out.strip() == f"{len(FILES)} file(s) match apart.b3sum", ok.out


async def test_verify_reports_each_problem_and_exits_1(
    published: tuple[Any, Path], tmp_path: Path
) -> None:
    _, out = published
    (out / "sub/b.txt").write_bytes(b"tampered\n")
    (out / "a.txt").unlink()
    (out / "sub/new.txt").write_bytes(b"not published\n")
    bad = await cli("verify", str(out), str(out / "MANIFEST.b3sum"), cwd=tmp_path)
    assert bad.code == 1, bad.err
    lines = bad.out.splitlines()
    assert lines[:3] == ["MISMATCH: sub/b.txt", "MISSING: a.txt", "NOT LISTED: sub/new.txt"]
    assert "1 mismatched ('sub/b.txt')" in lines[3] and "1 missing ('a.txt')" in lines[3]


async def test_verify_bad_input_is_one_line_and_exits_2(
    published: tuple[Any, Path], tmp_path: Path
) -> None:
    _, out = published
    for args, words in (
        ([str(tmp_path / "nowhere")], "is not a folder"),
        ([str(out), str(out / "absent.b3sum")], "cannot read manifest"),
    ):
        res = await cli("verify", *args, cwd=tmp_path)
        assert res.code == 2 and res.out == ""
        assert len(res.err.splitlines()) == 1 and words in res.err, res.err
    (out / "broken.b3sum").write_bytes(b"abc  x\n")
    res = await cli("verify", str(out), str(out / "broken.b3sum"), cwd=tmp_path)
    assert res.code == 2 and "broken.b3sum line 1: not a b3sum line" in res.err
    assert res.err.startswith("oxen-async: error: /")


async def test_download_of_a_file_changed_without_its_manifest_fails_and_removes_it(
    oxen_repo: Any, tmp_path: Path
) -> None:
    """Someone commits a new version of one file with the plain client, leaving the manifest
    as it was: the download's check names the file and does not leave it on disk."""
    from oxen_async import OxenClient

    out = await _published_with_library(oxen_repo, tmp_path)
    async with OxenClient(oxen_repo.server.url, token=oxen_repo.server.token) as oxen:
        repo = oxen.repo(oxen_repo.namespace, oxen_repo.name)
        await repo.files.upload("main", "set/sub", {"b.txt": b"swapped\n"}, author=AUTHOR)
        with pytest.raises(ManifestError) as caught:
            await repo.download_folder("main", "set", out, verify_manifest=True)
    text = str(caught.value)
    assert "\n" not in text and "1 mismatched ('sub/b.txt')" in text and "removed" in text
    assert not (out / "sub/b.txt").exists()
    assert (out / "a.txt").read_bytes() == FILES["a.txt"]  # verified files stay
    # The CLI says the same in one line, exit 1 (the download ran; its check failed).
    res = await cli(
        "download", f"{oxen_repo.namespace}/{oxen_repo.name}", str(tmp_path / "again"),
        "--path", "set", "--verify-manifest", *remote(oxen_repo.server), cwd=tmp_path,
    )  # fmt: skip
    assert res.code == 1 and len(res.err.splitlines()) == 1 and "sub/b.txt" in res.err
    assert not (tmp_path / "again/sub/b.txt").exists()


async def test_download_without_the_manifest_fails_clearly(oxen_repo: Any, tmp_path: Path) -> None:
    from oxen_async import OxenClient

    async with OxenClient(oxen_repo.server.url, token=oxen_repo.server.token) as oxen:
        repo = oxen.repo(oxen_repo.namespace, oxen_repo.name)
        await repo.files.upload("main", "plain", {"x.txt": b"x"}, author=AUTHOR)
        with pytest.raises(ManifestError, match=r"no manifest 'MANIFEST\.b3sum'"):
            await repo.download_folder("main", "plain", tmp_path / "o", verify_manifest=True)


async def _published_with_library(oxen_repo: Any, tmp_path: Path) -> Path:
    from oxen_async import OxenClient

    src = tmp_path / "lib-src"
    for rel, data in FILES.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    async with OxenClient(oxen_repo.server.url, token=oxen_repo.server.token) as oxen:
        repo = oxen.repo(oxen_repo.namespace, oxen_repo.name)
        report = await repo.upload_folder(
            str(src), dest="set", manifest=True, author=AUTHOR, state_dir=tmp_path / "st"
        )
        assert report.ok and report.status == "committed"
        out = tmp_path / "lib-out"
        got = await repo.download_folder("main", "set", out, verify_manifest=True)
        assert got.ok and len(got.downloaded) == len(FILES) + 1
    return out


async def test_upload_manifest_with_dask_is_refused_before_any_request(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    res = await cli(
        "upload", str(tmp_path / "src"), "ns/repo", "--host", "http://127.0.0.1:9",
        "--dask", "local:1", "--manifest", "--author-name", "A", "--author-email", "a@x",
        cwd=tmp_path,
    )  # fmt: skip
    assert res.code == 2 and res.err.strip() == (
        "oxen-async: error: --manifest needs the whole folder in one upload: not with --dask"
    )
