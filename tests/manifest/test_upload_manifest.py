"""upload_folder(manifest=...): the blake3 manifest lands in the same commit, covers the whole
tree, keeps the lines of unchanged files, and an unchanged rerun commits nothing.

Lines are checked against the ``blake3`` package re-hashing the files (``_check``), never
against our own writer.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from oxen_async import Author, ConfigError, RemoteRepo

from ._check import b3sum_check, disk_lines, expected_lines, manifest_at

AUTHOR = Author("Ada Lovelace", "ada@example.com")
LARGE = 64 * 1024  # files over this go the large-file way: both paths write lines


def sample() -> dict[str, bytes]:
    files = {f"d{i % 3}/f{i}.txt": f"line {i}\n".encode() * (i + 1) for i in range(12)}
    files["empty.txt"] = b""
    files["ünï/café ☕.txt"] = "naïve\n".encode()
    files["dup/a.bin"] = files["dup/b.bin"] = b"same" * 50
    files["big/random.bin"] = os.urandom(300_000)  # large
    files["big/other.bin"] = os.urandom(200_000)  # large
    return files


def write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)


async def commits(repo: RemoteRepo) -> int:
    try:
        return (await repo.commits.history_page("main", page_size=100)).total_entries
    except LookupError:
        return 0


async def upload(repo: RemoteRepo, src: Path, state_dir: Path, **kw: object):  # type: ignore[no-untyped-def]
    options = {"author": AUTHOR, "state_dir": state_dir, "large_file_threshold": LARGE}
    options.update(kw)
    report = await repo.upload_folder(str(src), **options)
    assert report.ok, (report.failed, report.error)
    return report


@pytest.fixture
async def seeded(repo: RemoteRepo) -> RemoteRepo:
    await repo.files.upload("main", "", {"README.md": b"# seed\n"}, author=AUTHOR)
    return repo


async def test_first_upload_writes_the_manifest_in_the_same_commit(
    seeded: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    repo, files = seeded, sample()
    write(tmp_path / "src", files)
    before = await commits(repo)
    report = await upload(repo, tmp_path / "src", state_dir, dest="data", manifest=True)
    assert report.status == "committed" and report.files_uploaded == len(files)
    assert await commits(repo) == before + 1  # files and manifest: one commit
    assert report.manifest == "data/MANIFEST.b3sum" and report.manifest_staged
    assert report.manifest_hashed == 0  # every line from the bytes sent
    assert report.large_files == 2
    # In the commit the upload made (not only on the branch), next to the files.
    lines = await manifest_at(repo, report.commit_id or "", "data/MANIFEST.b3sum")
    assert lines == expected_lines(files)
    assert "README.md" not in lines  # outside the manifest's folder
    # A consumer's check: the commit downloaded, re-hashed from disk (and b3sum where present).
    out = tmp_path / "out"
    await repo.download_folder(report.commit_id or "", "data", out)
    assert disk_lines(out, "MANIFEST.b3sum") == lines
    b3sum_check(out, "MANIFEST.b3sum")


async def test_rerun_with_nothing_changed_commits_nothing(
    seeded: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    repo, files = seeded, sample()
    write(tmp_path / "src", files)
    await upload(repo, tmp_path / "src", state_dir, manifest=True)
    before = await commits(repo)
    again = await upload(repo, tmp_path / "src", state_dir, manifest=True)
    assert again.status == "nothing_to_commit" and not again.manifest_staged
    assert again.manifest_hashed == 0
    # A fresh state knows no blake3: the branch's manifest gives the lines, nothing is read.
    fresh = await upload(repo, tmp_path / "src", tmp_path / "fresh", manifest=True)
    assert fresh.status == "nothing_to_commit" and fresh.manifest_hashed == 0
    assert await commits(repo) == before


async def test_changes_and_removals_update_only_their_lines(
    seeded: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    repo, files = seeded, sample()
    src = tmp_path / "src"
    write(src, files)
    await upload(repo, src, state_dir, manifest=True)
    old = await manifest_at(repo, "main", "MANIFEST.b3sum")
    assert old == expected_lines(files) | {"README.md": expected_lines({"r": b"# seed\n"})["r"]}
    files["d0/f0.txt"] = b"changed\n"
    files["big/random.bin"] = os.urandom(300_000)
    (src / "d1/f1.txt").unlink()
    del files["d1/f1.txt"]
    write(src, {k: files[k] for k in ("d0/f0.txt", "big/random.bin")})
    before = await commits(repo)
    report = await upload(
        repo, src, state_dir, manifest=True, delete_missing=True, force_delete=True
    )
    assert report.status == "committed" and await commits(repo) == before + 1
    assert report.files_uploaded == 2 and report.files_removed == 2  # d1/f1.txt, README.md
    assert report.manifest_hashed == 0
    new = await manifest_at(repo, "main", "MANIFEST.b3sum")
    want = expected_lines(files)
    assert new == want  # the removed files' lines are gone, the manifest kept itself
    assert new["d0/f0.txt"] != old["d0/f0.txt"] and new["big/random.bin"] != old["big/random.bin"]
    kept = set(want) - {"d0/f0.txt", "big/random.bin"}
    assert {k: new[k] for k in kept} == {k: old[k] for k in kept}


async def test_files_on_the_branch_outside_the_folder_are_covered(
    seeded: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    """A file only the branch has (added by someone else) gets its line, hashed from the
    server's copy; the local folder is unchanged, so the commit holds only the manifest."""
    repo, files = seeded, sample()
    write(tmp_path / "src", files)
    await upload(repo, tmp_path / "src", state_dir, manifest=True)
    await repo.files.upload("main", "extra", {"theirs.txt": b"not ours\n"}, author=AUTHOR)
    report = await upload(repo, tmp_path / "src", state_dir, manifest=True)
    assert report.status == "committed" and report.files_uploaded == 0
    assert report.manifest_hashed == 1
    lines = await manifest_at(repo, "main", "MANIFEST.b3sum")
    assert lines == expected_lines(
        {**files, "extra/theirs.txt": b"not ours\n", "README.md": b"# seed\n"}
    )


async def test_a_manifest_added_later_hashes_what_no_upload_read(
    seeded: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    repo, files = seeded, sample()
    write(tmp_path / "src", files)
    await upload(repo, tmp_path / "src", state_dir, dest="data")
    before = await commits(repo)
    report = await upload(repo, tmp_path / "src", state_dir, dest="data", manifest=True)
    assert report.status == "committed" and report.files_uploaded == 0
    assert report.manifest_hashed == len(set(files.values()))  # by content: dup read once
    assert await commits(repo) == before + 1
    assert await manifest_at(repo, "main", "data/MANIFEST.b3sum") == expected_lines(files)


async def test_a_manifest_in_a_subfolder_lists_that_folder(
    seeded: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    repo, files = seeded, sample()
    write(tmp_path / "src", files)
    report = await upload(repo, tmp_path / "src", state_dir, dest="data", manifest="d0/SUMS.b3")
    assert report.manifest == "data/d0/SUMS.b3"
    under = {k.removeprefix("d0/"): v for k, v in files.items() if k.startswith("d0/")}
    assert await manifest_at(repo, "main", "data/d0/SUMS.b3") == expected_lines(under)


def test_bad_manifest_arguments_are_refused_before_anything_is_sent(tmp_path: Path) -> None:
    from oxen_async.upload.settings import manifest_path

    (tmp_path / "MANIFEST.b3sum").write_bytes(b"mine")
    with pytest.raises(ConfigError, match="has a file of that name"):
        manifest_path(tmp_path, True, named_workspace=False)
    with pytest.raises(ConfigError, match="backslash"):
        manifest_path(tmp_path, "a\\b", named_workspace=False)
    with pytest.raises(ConfigError, match="named workspace"):
        manifest_path(tmp_path, "x.b3", named_workspace=True)


async def test_lines_are_the_bytes_sent_not_a_later_read(
    seeded: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    """Every file is rewritten on disk the moment the last one is staged, before the manifest
    is built: its lines must still be those of the bytes the commit holds."""
    repo, files = seeded, sample()
    src = tmp_path / "src"
    write(src, files)
    rewritten: list[int] = []

    def on_progress(progress: Any) -> None:
        if progress.files_sent == len(files) and not rewritten:
            for rel in files:
                (src / rel).write_bytes(b"rewritten after it was sent\n")
            rewritten.append(progress.files_sent)

    report = await upload(repo, src, state_dir, manifest=True, progress=on_progress)
    assert rewritten and report.status == "committed"
    assert report.manifest_hashed == 1  # README.md, only on the branch: read from the server
    lines = await manifest_at(repo, "main", "MANIFEST.b3sum")
    seed = {"README.md": b"# seed\n"}
    assert lines == expected_lines(files | seed)  # not the rewritten disk
    out = tmp_path / "out"
    await repo.download_folder("main", "", out)
    assert disk_lines(out, "MANIFEST.b3sum") == lines
