"""Many uploaders, one commit: shards stage into one shared workspace, the driver checks and
merges it once.

- ``open_shared_workspace`` (driver): one workspace on the branch's head, by a fresh id.
- ``list_shares`` (driver, ``share.py``): the source listed once, cut into the shards' shares.
- ``stage_shard`` (any worker, any machine): the pipeline on the shard's share of a folder
  (paths hashed to shards: carried from the driver, or its own walk), into that workspace,
  never merging; its report names every path
  it staged with the content id of the bytes sent. Its state is per shard, so a shard run
  again (Dask retries it after a worker died) resends nothing it had staged.
- ``merge_shards`` (driver): the workspace's staged paths must be exactly the union of the
  shard reports, else the merge is refused; then ONE merge (commit.merge: a lost answer never
  makes a second commit), then the commit's tree is checked against the reported ids.

Proven on oxen-server 0.65.2 (tests/contract/test_shared_workspace.py): processes adding into
one workspace at once lose nothing. Its staged-changes listing has no content ids (``hash`` is
"") and pages in an order that changes per request, so the paths are read in one page and the
ids are checked in the commit's tree (the first place the server shows them).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from .. import config
from ..errors import NotFoundError, NothingToCommitError, OxenError
from ..models import Commit
from .commit import merge, staged_paths
from .pipeline import run_upload
from .report import FileFailure, Status, UploadReport
from .settings import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_BATCH_FILES,
    DEFAULT_CONCURRENCY,
    LARGE_FILE,
    Shard,
    resolve,
)
from .target import UploadTarget
from .workspace import branch_head

SHOWN = 5  # paths named in a mismatch error


class StagedFile(msgspec.Struct, frozen=True, array_like=True):
    path: str  # repo path
    id: str  # content id (xxh3) of the bytes sent


class ShardReport(msgspec.Struct, kw_only=True):
    """One shard's run: its upload report (never committed: ``commit_id`` is None) and every
    file it staged, with ``resumed`` when it picked up an earlier run of itself."""

    shard: int
    shards: int
    source: str
    report: UploadReport
    staged: list[StagedFile] = []
    resumed: bool = False


class ShardMismatchError(OxenError):
    """The workspace does not hold exactly what the shards reported: not merged."""


async def open_shared_workspace(repo: UploadTarget, branch: str) -> str:
    """A fresh workspace on ``branch`` for the shards to share; its id."""
    await branch_head(repo, branch)  # a missing repository or branch fails here, by name
    ws = await repo.workspaces.get_or_create(branch, workspace_id=str(uuid.uuid4()))
    return ws.id


async def discard_workspace(repo: UploadTarget, workspace_id: str) -> None:
    with contextlib.suppress(NotFoundError):
        await repo.workspaces.delete(workspace_id)


async def stage_shard(
    repo: UploadTarget,
    local_dir: str | os.PathLike[str],
    *,
    workspace_id: str,
    shard: Shard,
    branch: str,
    dest: str,
    author: config.Author,
    concurrency: int = DEFAULT_CONCURRENCY,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    batch_files: int = DEFAULT_BATCH_FILES,
    state_dir: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    share: bytes | None = None,
) -> ShardReport:
    """Stage shard ``shard`` of ``local_dir`` (a folder or an fsspec URL) into
    ``workspace_id``; never merges. ``share``: the shard's share of the driver's listing
    (``upload.share.list_shares``), staged instead of walking the source; else the shard walks
    it and keeps the paths that hash to it."""
    settings = resolve(
        local_dir,
        branch=branch,
        dest=dest,
        message=None,
        author=author,
        concurrency=concurrency,
        batch_bytes=batch_bytes,
        batch_files=batch_files,
        compress="auto",
        large_file_threshold=LARGE_FILE,
        resume=True,
        delete_missing=False,
        state_dir=state_dir,
        progress=None,
        workspace_id=workspace_id,
        shard=shard,
        storage_options=storage_options,
        share=share,
    )
    outcome = await run_upload(repo, settings)
    return ShardReport(
        shard=shard.index,
        shards=shard.count,
        source=settings.source.url if settings.source is not None else str(settings.root),
        report=outcome.report,
        staged=[StagedFile(path, digest) for path, digest in outcome.staged],
        resumed=outcome.resumed,
    )


def expected_files(reports: Sequence[ShardReport]) -> dict[str, str]:
    """The union of the shards' staged files: path -> id; two shards naming one path with
    different ids (two sources onto one repo path) is a mismatch."""
    wanted: dict[str, str] = {}
    clashes: list[str] = []
    for shard in reports:
        for f in shard.staged:
            if wanted.setdefault(f.path, f.id) != f.id:
                clashes.append(f.path)
    if clashes:
        raise ShardMismatchError(
            f"{len(clashes)} path(s) staged by two shards with different content, "
            f"e.g. {sorted(clashes)[:SHOWN]}: not merged"
        )
    return wanted


async def merge_shards(
    repo: UploadTarget,
    workspace_id: str,
    branch: str,
    reports: Sequence[ShardReport],
    *,
    message: str,
    author: config.Author,
) -> Commit | None:
    """Check the workspace against the shard reports and merge it once (None: nothing to
    commit, the workspace is deleted). Raises ShardMismatchError before merging when the
    workspace holds a path no shard reported or lacks one a shard reported. The caller then
    checks the commit's ids (``check_commit``): the commit exists by then, whatever it finds."""
    wanted = expected_files(reports)
    staged = await staged_paths(repo, workspace_id)
    extra, missing = staged - wanted.keys(), wanted.keys() - staged
    if extra or missing:
        raise ShardMismatchError(
            f"workspace {workspace_id} does not match the shard reports: "
            f"{len(missing)} reported but not staged (e.g. {sorted(missing)[:SHOWN]}), "
            f"{len(extra)} staged but not reported (e.g. {sorted(extra)[:SHOWN]}): not merged"
        )
    if not wanted:
        await discard_workspace(repo, workspace_id)
        return None
    try:
        commit = await merge(repo, workspace_id, branch, message=message, author=author)
    except NothingToCommitError:  # every file matched the branch already
        await discard_workspace(repo, workspace_id)
        return None
    return commit


async def check_commit(repo: UploadTarget, commit_id: str, wanted: dict[str, str]) -> None:
    """Every reported file is in the commit with the id its shard sent."""
    by_dir: dict[str, set[str]] = {}
    for path in wanted:
        by_dir.setdefault(path.rpartition("/")[0], set()).add(path)
    wrong: list[str] = []
    for directory, members in by_dir.items():
        found = {}
        async for entry in repo.dirs.entries(commit_id, directory, page_size=10_000):
            found[f"{directory}/{entry.filename}" if directory else entry.filename] = entry.hash
        wrong += [p for p in members if found.get(p) != wanted[p]]
    if wrong:
        raise OxenError(
            f"commit {commit_id} holds {len(wrong)} file(s) whose id differs from what was sent, "
            f"e.g. {sorted(wrong)[:SHOWN]}"
        )


_SUMMED = (
    "files_total",
    "files_uploaded",
    "files_unchanged",
    "files_resumed",
    "files_pending",
    "bytes_total",
    "bytes_uploaded",
    "wire_bytes",
    "large_files",
    "batches",
    "batch_retries",
    "file_retries",
)


def combine(
    reports: Sequence[ShardReport],
    *,
    repo: str,
    branch: str,
    dest: str,
    commit: Commit | None,
    error: str | None,
    elapsed_s: float,
) -> UploadReport:
    """One report for the whole job, in a one-machine upload's shape."""
    parts = [r.report for r in reports]
    failed: list[FileFailure] = sorted((f for p in parts for f in p.failed), key=lambda f: f.path)
    status: Status = "failed" if error else ("committed" if commit else "nothing_to_commit")
    return UploadReport(
        repo=repo,
        branch=branch,
        dest=dest,
        status=status,
        commit_id=commit.id if commit else None,
        failed=failed,
        skipped_symlink_dirs=sorted(d for p in parts for d in p.skipped_symlink_dirs),
        elapsed_s=round(elapsed_s, 3),
        loop_lag_p99_ms=max((p.loop_lag_p99_ms for p in parts), default=0.0),
        loop_lag_max_ms=max((p.loop_lag_max_ms for p in parts), default=0.0),
        error=error,
        **{name: sum(getattr(p, name) for p in parts) for name in _SUMMED},
    )
