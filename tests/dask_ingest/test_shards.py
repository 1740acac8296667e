"""Shards into one workspace, checked and merged once by the driver (no Dask: the shards run
side by side in this process; tests/dask/test_ingest.py runs them on Dask workers)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from oxen_async import RemoteRepo
from oxen_async.errors import ConfigError, OxenError
from oxen_async.hashing import hash_bytes
from oxen_async.upload.settings import Shard
from oxen_async.upload.shards import (
    ShardMismatchError,
    ShardReport,
    check_commit,
    expected_files,
    merge_shards,
    open_shared_workspace,
    stage_shard,
)
from oxen_async.upload.share import decode_share, list_shares

from ._tree import AUTHOR, commit_count, many_files, tree_ids, write_tree

SHARDS = 3


async def _seed(repo: RemoteRepo, tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    write_tree(seed, {"seed.txt": b"seed"})
    assert (await repo.upload_folder(seed, author=AUTHOR, state_dir=tmp_path / "s0")).ok


async def _stage(
    repo: RemoteRepo,
    root: Path,
    ws: str,
    state_dir: Path,
    shard: Shard,
    dest: str = "",
    share: bytes | None = None,
) -> ShardReport:
    return await stage_shard(
        repo,
        root,
        workspace_id=ws,
        shard=shard,
        branch="main",
        dest=dest,
        author=AUTHOR,
        state_dir=state_dir,
        share=share,
    )


async def _stage_all(
    repo: RemoteRepo,
    root: Path,
    ws: str,
    state_dir: Path,
    dest: str = "",
    shares: list[bytes] | None = None,
) -> list[ShardReport]:
    reports: list[ShardReport] = []

    async def one(index: int) -> None:
        share = shares[index] if shares is not None else None
        reports.append(await _stage(repo, root, ws, state_dir, Shard(index, SHARDS), dest, share))

    async with anyio.create_task_group() as tg:
        for index in range(SHARDS):
            tg.start_soon(one, index)
    return sorted(reports, key=lambda r: r.shard)


async def test_shards_stage_side_by_side_and_merge_once(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    await _seed(repo, tmp_path)
    files = many_files(300)
    write_tree(tmp_path / "src", files)
    ws = await open_shared_workspace(repo, "main")
    reports = await _stage_all(repo, tmp_path / "src", ws, state_dir, dest="data")
    # Each file belongs to exactly one shard, and every shard staged only its own.
    staged = [f.path for r in reports for f in r.staged]
    assert sorted(staged) == sorted(f"data/{p}" for p in files)
    assert all(r.report.commit_id is None and not r.resumed for r in reports)
    assert all(r.report.files_uploaded == len(r.staged) > 0 for r in reports)
    before = await commit_count(repo)
    commit = await merge_shards(repo, ws, "main", reports, message="sharded", author=AUTHOR)
    assert commit is not None
    assert await commit_count(repo) == before + 1
    ids = await tree_ids(repo, commit.id)
    assert ids == {"seed.txt": hash_bytes(b"seed")} | {
        f"data/{p}": hash_bytes(data) for p, data in files.items()
    }
    wanted = expected_files(reports)
    await check_commit(repo, commit.id, wanted)  # the ids the shards sent are the commit's
    wanted["data/top0/d0/f0.txt"] = "0" * 32
    with pytest.raises(OxenError, match=r"1 file\(s\) whose id differs.*data/top0/d0/f0.txt"):
        await check_commit(repo, commit.id, wanted)


async def test_a_rerun_shard_resends_nothing_it_staged(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    await _seed(repo, tmp_path)
    files = many_files(120)
    write_tree(tmp_path / "src", files)
    ws = await open_shared_workspace(repo, "main")
    first = await _stage_all(repo, tmp_path / "src", ws, state_dir)
    again = await _stage_all(repo, tmp_path / "src", ws, state_dir)
    for before, after in zip(first, again, strict=True):
        assert after.resumed
        assert after.report.files_uploaded == 0
        assert after.report.files_resumed == len(before.staged)
        assert after.staged == before.staged
    commit = await merge_shards(repo, ws, "main", again, message="rerun", author=AUTHOR)
    assert commit is not None
    assert len(await tree_ids(repo, commit.id)) == len(files) + 1


async def test_a_path_no_shard_reported_refuses_the_merge(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    await _seed(repo, tmp_path)
    write_tree(tmp_path / "src", many_files(60))
    ws = await open_shared_workspace(repo, "main")
    reports = await _stage_all(repo, tmp_path / "src", ws, state_dir)
    # A shard whose report was lost: its files are staged, the union misses them.
    lost = reports[0]
    head = (await repo.branches.get("main")).commit_id
    with pytest.raises(
        ShardMismatchError,
        match=f"0 reported but not staged.*{len(lost.staged)} staged but not reported",
    ):
        await merge_shards(repo, ws, "main", reports[1:], message="partial", author=AUTHOR)
    assert (await repo.branches.get("main")).commit_id == head  # nothing merged
    # A report naming a file the workspace never got: refused too.
    ghost = ShardReport(shard=9, shards=9, source="x", report=lost.report, staged=[*lost.staged])
    ghost.staged.append(type(lost.staged[0])("never/sent.txt", "0" * 32))
    with pytest.raises(
        ShardMismatchError, match=r"1 reported but not staged \(e.g. \['never/sent.txt'\]\)"
    ):
        await merge_shards(repo, ws, "main", [*reports, ghost], message="ghost", author=AUTHOR)
    assert (await repo.branches.get("main")).commit_id == head


async def test_changed_and_large_files_land_in_the_one_commit(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    files = many_files(40)
    write_tree(tmp_path / "src", files)
    ws = await open_shared_workspace(repo, "main")
    first = await _stage_all(repo, tmp_path / "src", ws, state_dir)
    assert await merge_shards(repo, ws, "main", first, message="first", author=AUTHOR)
    # A changed file (the workspace lists it as modified) and one past the gzip cap (sent
    # by the large-file stage) go into the next job's one commit.
    files["top0/d0/f0.txt"] = b"changed"
    files["big/large.bin"] = bytes(range(256)) * (11 * 4096)  # 11 MiB
    write_tree(tmp_path / "src", {p: files[p] for p in ("top0/d0/f0.txt", "big/large.bin")})
    ws = await open_shared_workspace(repo, "main")
    second = await _stage_all(repo, tmp_path / "src", ws, state_dir)
    assert sorted(f.path for r in second for f in r.staged) == ["big/large.bin", "top0/d0/f0.txt"]
    assert sum(r.report.files_unchanged for r in second) == len(files) - 2
    assert sum(r.report.large_files for r in second) == 1
    commit = await merge_shards(repo, ws, "main", second, message="second", author=AUTHOR)
    assert commit is not None
    assert await tree_ids(repo, commit.id) == {p: hash_bytes(d) for p, d in files.items()}


async def test_a_shard_refuses_a_workspace_the_branch_moved_away_from(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    await _seed(repo, tmp_path)
    write_tree(tmp_path / "src", many_files(10))
    ws = await open_shared_workspace(repo, "main")
    write_tree(tmp_path / "other", {"moved.txt": b"the branch moves on"})
    moved = await repo.upload_folder(tmp_path / "other", author=AUTHOR, state_dir=tmp_path / "s1")
    assert moved.status == "committed"
    with pytest.raises(ConfigError, match="moved since workspace"):
        await _stage(repo, tmp_path / "src", ws, state_dir, Shard(0, 1))
    assert (await repo.workspaces.changes(ws)).added_files.total_entries == 0


async def test_a_rerun_unstages_what_its_shard_no_longer_has(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    await _seed(repo, tmp_path)
    files = many_files(90)
    write_tree(tmp_path / "src", files)
    ws = await open_shared_workspace(repo, "main")
    await _stage_all(repo, tmp_path / "src", ws, state_dir)
    # Between a shard's death and its re-run, two files leave the folder.
    gone = sorted(files)[:2]
    for rel in gone:
        (tmp_path / "src" / rel).unlink()
        del files[rel]
    again = await _stage_all(repo, tmp_path / "src", ws, state_dir)
    assert sorted(f.path for r in again for f in r.staged) == sorted(files)
    commit = await merge_shards(repo, ws, "main", again, message="rerun", author=AUTHOR)
    assert commit is not None
    ids = await tree_ids(repo, commit.id)
    assert ids == {"seed.txt": hash_bytes(b"seed")} | {p: hash_bytes(d) for p, d in files.items()}


async def test_shares_of_one_listing_stage_what_each_shard_walk_would(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    await _seed(repo, tmp_path)
    files = many_files(150)
    write_tree(tmp_path / "src", files)
    shares = (await list_shares(str(tmp_path / "src"), SHARDS)).finish()
    # One hash rule: each path is in the share of the shard that holds it, and in no other.
    for index, share in enumerate(shares):
        listed = [f.rel for piece in decode_share(share) for f in piece.files]
        assert listed and all(Shard(index, SHARDS).holds(rel) for rel in listed)
    assert sorted(f.rel for s in shares for p in decode_share(s) for f in p.files) == sorted(files)
    ws = await open_shared_workspace(repo, "main")
    first = await _stage_all(repo, tmp_path / "src", ws, state_dir, shares=shares)
    assert sorted(f.path for r in first for f in r.staged) == sorted(files)
    # A shard run again on its share (Dask's retry) resends nothing it staged.
    again = await _stage_all(repo, tmp_path / "src", ws, state_dir, shares=shares)
    assert all(r.resumed and r.report.files_uploaded == 0 for r in again)
    assert [r.staged for r in again] == [r.staged for r in first]
    commit = await merge_shards(repo, ws, "main", again, message="shares", author=AUTHOR)
    assert commit is not None
    assert await tree_ids(repo, commit.id) == {"seed.txt": hash_bytes(b"seed")} | {
        p: hash_bytes(d) for p, d in files.items()
    }


async def test_a_truncated_share_fails_its_shard_by_name_and_stages_nothing(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    write_tree(tmp_path / "src", many_files(30))
    (share,) = (await list_shares(str(tmp_path / "src"), 1)).finish()
    ws = await open_shared_workspace(repo, "main")
    report = await _stage(
        repo, tmp_path / "src", ws, state_dir, Shard(0, 1), share=share[: len(share) // 2]
    )
    assert report.report.error is not None
    assert "share of the listing is" in report.report.error
    assert (await repo.workspaces.changes(ws)).added_files.total_entries == 0
