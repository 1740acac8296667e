"""The manifest through a resumed upload, a manifest big enough for the large-file route, and
the checkfile format's escaping rule (b3sum's ``what_does_check_do.md``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import blake3
import pytest

from oxen_async import ManifestError, RemoteRepo
from oxen_async.manifest import format_manifest, parse_manifest

from ._check import expected_lines, manifest_at
from .test_upload_manifest import AUTHOR, commits, sample, upload, write

MERGE_ROUTE = r"/workspaces/[^/]+/merge/"


async def test_a_resumed_upload_writes_lines_for_what_the_first_run_sent(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path, oxen_faults: Any
) -> None:
    files = sample()
    src = tmp_path / "src"
    write(src, files)
    await repo.files.upload("main", "", {"README.md": b"# seed\n"}, author=AUTHOR)
    before = await commits(repo)
    rule = oxen_faults.fail_next(10, path=MERGE_ROUTE, method="POST", status=503)
    failed = await repo.upload_folder(
        str(src), author=AUTHOR, state_dir=state_dir, manifest=True, large_file_threshold=65536
    )
    assert failed.status == "failed" and rule.hits == 3  # the merge refused: workspace kept
    assert failed.manifest_staged
    oxen_faults.reset()
    files["d2/f2.txt"] = b"changed between the runs\n"
    write(src, {"d2/f2.txt": files["d2/f2.txt"]})
    report = await upload(repo, src, state_dir, manifest=True)
    assert report.status == "committed" and report.files_resumed == len(files) - 1
    assert report.files_uploaded == 1 and report.manifest_hashed == 0
    assert await commits(repo) == before + 1
    seed = {"README.md": b"# seed\n"}
    assert await manifest_at(repo, "main", "MANIFEST.b3sum") == expected_lines(files | seed)


async def test_a_manifest_over_the_large_file_size_takes_the_large_route(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    files = {f"n{i // 100}/file-{i:05d}.txt": f"{i}\n".encode() for i in range(1200)}
    write(tmp_path / "src", files)
    await repo.files.upload("main", "", {"README.md": b"# seed\n"}, author=AUTHOR)
    before = await commits(repo)
    report = await upload(repo, tmp_path / "src", state_dir, manifest=True)
    assert report.status == "committed" and await commits(repo) == before + 1
    data = await repo.files.download("main", "MANIFEST.b3sum")
    assert len(data) > 65536  # over the upload's large_file_threshold here
    seed = {"README.md": b"# seed\n"}
    assert await manifest_at(repo, "main", "MANIFEST.b3sum") == expected_lines(files | seed)
    again = await upload(repo, tmp_path / "src", state_dir, manifest=True)
    assert again.status == "nothing_to_commit"


def test_names_with_backslash_or_newline_are_escaped_as_b3sum_does() -> None:
    # Never written by an upload (the name rule refuses both), but read from b3sum's files.
    digest = blake3.blake3(b"").hexdigest()
    data = format_manifest({"x\nx": digest, "a\\b": digest, "plain": digest})
    assert data.decode().splitlines() == [
        f"\\{digest}  a\\\\b",
        f"{digest}  plain",
        f"\\{digest}  x\\nx",
    ]
    assert parse_manifest(data) == {"x\nx": digest, "a\\b": digest, "plain": digest}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (b"\xff\n", "not UTF-8"),
        (b"00  x\n", "line 1: not a b3sum line"),
        (("a" * 64 + "  ../up\n").encode(), "line 1: path '../up'"),
        (("a" * 64 + "  /etc/x\n").encode(), "absolute path"),
        (("a" * 64 + "  x\n" + "b" * 64 + "  x\n").encode(), "line 2: 'x' listed twice"),
        (("\\" + "a" * 64 + "  x\\t\n").encode(), "unknown escape"),
    ],
)
def test_malformed_manifests_are_refused_by_line(text: bytes, words: str) -> None:
    with pytest.raises(ManifestError, match=None) as caught:
        parse_manifest(text, "m.b3")
    assert words in str(caught.value) and str(caught.value).startswith("m.b3")
