"""The bulk uploader: a local folder into ONE commit on a branch.

    scan -> plan (planner.py: a directory piece the state knows in sync with the head is
                  skipped whole; else remote listing by directory (listing.py), hash in
                  threads, skip unchanged/staged)
         -> pack (batcher.py: read, verify, compress in threads)
         -> send (sender.py: N in flight into a workspace, refused batches halved;
                  large.py: files over the gzip cap, chunked)
         -> removals (removals.py, with delete_missing)
         -> merge (commit.py: one commit)

Stages are joined by bounded anyio streams, so a slow stage back-pressures the ones before
it: at most ``concurrency + READY_BATCHES + PACKERS`` batches of ``batch_bytes`` are in memory
(sending, packed and waiting, being packed), plus a few directories' remote listings, whatever
the folder's size. Counts live in counters.py, the workspace's life in workspace.py.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
from anyio.abc import ObjectSendStream, TaskGroup

from .. import config
from ..errors import OxenError, fatal_cause, leaf_errors
from ..models import Commit
from .batcher import Packer
from .commit import commit_upload, unstage
from .counters import Counters, GiveUps, build_report
from .expiry import expire_stale_states, touch
from .large import LargeFileStage
from .listing import BranchListings
from .looplag import LoopLagMonitor, frozen_gc
from .manifest import ManifestPlace, ManifestResult, stage_manifest
from .pack import CompressMode, FileJob, PackedBatch
from .planner import Planner, plan_stage, settle_pieces
from .removals import stage_removals
from .report import ProgressCallback, UploadReport
from .scan import ScanItem, scan
from .sender import BatchSender
from .settings import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_BATCH_FILES,
    DEFAULT_CONCURRENCY,
    LARGE_FILE,
    MiB,
    Shard,
    UploadSettings,
    manifest_taken,
    resolve,
)
from .share import scan_share
from .sources import stages as source_stages
from .state import UploadState, state_key
from .target import UploadTarget
from .workspace import UploadWorkspace, branch_head

__all__ = [
    "DEFAULT_BATCH_BYTES",
    "DEFAULT_BATCH_FILES",
    "DEFAULT_CONCURRENCY",
    "LARGE_FILE",
    "MiB",
    "upload_folder",
]

PLANNERS = 4
READY_BATCHES = 2  # packed batches waiting for a free sender (more only held memory)
PACKERS = 2
LARGE_SENDERS = 2


async def upload_folder(
    repo: UploadTarget,
    local_dir: str | os.PathLike[str],
    *,
    branch: str = "main",
    dest: str = "",
    message: str | None = None,
    author: config.Author | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    batch_files: int = DEFAULT_BATCH_FILES,
    compress: CompressMode = "auto",
    large_file_threshold: int = LARGE_FILE,
    resume: bool = True,
    delete_missing: bool = False,
    max_delete: int | None = None,
    force_delete: bool = False,
    state_dir: str | os.PathLike[str] | None = None,
    progress: ProgressCallback | None = None,
    storage_options: Mapping[str, Any] | None = None,
    manifest: bool | str | None = None,
) -> UploadReport:
    """Upload ``local_dir`` to ``dest`` on ``branch`` as one commit and report every file.

    ``local_dir`` is a local folder or an fsspec URL (``s3://bucket/prefix``, ``memory://x``:
    ``upload.sources``), opened with ``storage_options`` and fsspec's own configuration; an
    object that changes while it is read fails by path, never staged with mixed bytes.

    Files whose path and content are already on the branch are skipped; rerunning on an
    unchanged folder sends nothing and commits nothing. With ``delete_missing`` the same
    commit also removes files under ``dest`` that are no longer in the folder (like
    ``rsync --delete``); without it the upload only adds and updates. A run that would remove
    every file under ``dest``, or more than half once ten or more would go, is refused (nothing
    removed, nothing committed) unless ``force_delete``; ``max_delete=N`` sets the limit
    instead (``upload.removal_guard``). After a crash, a rerun
    reuses the workspace and skips what it had staged. Raises ConfigError (bad arguments),
    NotFoundError (no such repository), UnauthorizedError, TransportError before anything is
    sent; once sending started, failures land in the report instead.

    ``manifest``: also write a blake3 manifest in ``b3sum`` format into the same commit, True
    for ``MANIFEST.b3sum`` in ``dest``, or a path relative to ``dest``; it lists every file under
    its folder at the commit (``oxen_async.upload.manifest``; check it with
    ``oxen_async.verify_manifest``, ``b3sum --check`` or ``download_folder(verify_manifest=)``).
    """
    settings = resolve(
        local_dir,
        branch=branch,
        dest=dest,
        message=message,
        author=author,
        concurrency=concurrency,
        batch_bytes=batch_bytes,
        batch_files=batch_files,
        compress=compress,
        large_file_threshold=large_file_threshold,
        resume=resume,
        delete_missing=delete_missing,
        state_dir=state_dir,
        progress=progress,
        max_delete=max_delete,
        force_delete=force_delete,
        storage_options=storage_options,
        manifest=manifest,
    )
    return (await run_upload(repo, settings)).report


@dataclass(frozen=True)
class UploadOutcome:
    """A run's report; for an upload into a caller-named workspace (which never merges) also
    the (repo path, content id) of every file staged, by path, and whether it picked up what
    an earlier run of the same shard had staged."""

    report: UploadReport
    staged: list[tuple[str, str]]
    resumed: bool


async def run_upload(repo: UploadTarget, settings: UploadSettings) -> UploadOutcome:
    """Run a checked upload (``resolve``'s settings)."""
    started = time.perf_counter()
    if settings.source is not None and settings.share is None:  # else the driver checked it
        await settings.source.check()  # a missing bucket or refused key: before any request
        if settings.manifest is not None and await settings.source.holds(settings.manifest):
            raise manifest_taken(settings.manifest)
    head = await branch_head(repo, settings.branch)
    target = settings.dest
    if settings.workspace_id is not None:  # one state per shard: shards run side by side
        shard = settings.shard or Shard(0, 1)
        target += f"\0{settings.workspace_id}\0{shard.index}/{shard.count}"
    key = state_key(repo.host, repo.full_name, settings.branch, target, settings.source_key)
    state_file = settings.state_dir / f"{key}.sqlite"
    await anyio.to_thread.run_sync(expire_stale_states, settings.state_dir)
    state = await anyio.to_thread.run_sync(UploadState, state_file)
    await anyio.to_thread.run_sync(touch, state_file)
    try:
        upload = _Upload(repo, settings, state, head)
        with frozen_gc():
            report = await upload.run(started)
        return UploadOutcome(report, upload.staged, upload.workspace.resumed)
    finally:
        with anyio.CancelScope(shield=True):  # a cancelled caller must not keep the lock
            await anyio.to_thread.run_sync(state.close)


class _Upload:
    """One upload's stages, wired: builds each, joins them with bounded streams, reports."""

    def __init__(
        self, repo: UploadTarget, settings: UploadSettings, state: UploadState, head: Commit | None
    ) -> None:
        self.repo = repo
        self.settings = settings
        self.state = state
        self.head = head
        self.counters = Counters(settings.on_progress)
        self.give_ups = GiveUps()
        self.lag = LoopLagMonitor()
        self.workspace = UploadWorkspace(
            repo, state, settings.branch, head, named=settings.workspace_id
        )
        self.staged: list[tuple[str, str]] = []  # filled when the caller merges (a shard)
        self._stages: TaskGroup | None = None  # the pipeline's task group, while it runs
        self.planner: Planner | None = None
        self._workspace_asked = False
        self.manifest = (
            ManifestPlace(settings.manifest, settings.prefix) if settings.manifest else None
        )
        self.manifest_result = ManifestResult()

    async def run(self, started: float) -> UploadReport:
        settings = self.settings
        await self.workspace.resume(settings.resume)
        error: str | None = None
        commit: Commit | None = None
        try:
            async with anyio.create_task_group() as outer:
                outer.start_soon(self.lag.run)
                await self._pipeline()
                if not settings.merges:
                    await self._leave_staged()
                    outer.cancel_scope.cancel()
                    return self._report(None, None, started)
                if settings.delete_missing:
                    await stage_removals(
                        self.repo,
                        self.head,
                        settings.root,
                        settings.dest,
                        self.workspace,
                        self.state,
                        self.counters,
                        settings.removal_guard,
                        f"{self.repo.full_name}@{settings.branch}:/{settings.dest}",
                        keep=frozenset([self.manifest.repo_path] if self.manifest else []),
                    )
                if self.manifest is not None:
                    self.manifest_result = await stage_manifest(
                        self.repo,
                        self.manifest,
                        root=settings.root,
                        head=self.head,
                        workspace=self.workspace,
                        state=self.state,
                        unsent=self.give_ups.unsent,
                        large_threshold=settings.large_threshold,
                    )
                self.counters.phase("committing")
                commit = await self._commit()
                await anyio.to_thread.run_sync(self._settle, commit)
                outer.cancel_scope.cancel()
        except* (OxenError, OSError, sqlite3.Error) as group:
            error = "; ".join(dict.fromkeys(fatal_cause(e) for e in leaf_errors(group)))
            commit = None
        return self._report(commit, error, started)

    def _report(self, commit: Commit | None, error: str | None, started: float) -> UploadReport:
        self.counters.phase("done")
        report = build_report(
            self.counters,
            self.lag,
            repo=self.repo.full_name,
            branch=self.settings.branch,
            dest=self.settings.dest,
            commit=commit,
            error=error,
            elapsed_s=time.perf_counter() - started,
        )
        if self.manifest is not None:
            report.manifest = self.manifest.repo_path
            report.manifest_staged = self.manifest_result.staged
            report.manifest_hashed = self.manifest_result.hashed
        return report

    async def _leave_staged(self) -> None:
        """A shard's end: what failed is unstaged (a request given up may have staged it
        anyway), the rest stays in the workspace for the caller to check and merge."""
        prefix = self.settings.prefix
        ws = self.workspace.named or ""
        await unstage(self.repo, ws, self.give_ups.unsent)
        if self.workspace.resumed:  # what an earlier run of this shard staged and is unwanted
            stale = await anyio.to_thread.run_sync(self.state.unconfirmed)
            await unstage(self.repo, ws, [prefix + rel for rel in stale])
            await anyio.to_thread.run_sync(self.state.forget_staged, stale)
        staged = await anyio.to_thread.run_sync(self.state.staged_files)
        self.staged = [(prefix + rel, digest) for rel, digest in staged]

    async def _pipeline(self) -> None:
        s = self.settings
        resumed = self.workspace.resumed
        head = self.head
        synced = await anyio.to_thread.run_sync(
            self.state.begin_pieces, head.id if head is not None else None
        )
        source = s.source
        planner = self.planner = Planner(
            self.state,
            large_threshold=s.large_threshold,
            resumed=resumed,
            synced=synced,
            hash_file=source_stages.hash_in_thread(source) if source else None,
        )
        listings = BranchListings(
            (lambda rel: self.repo.dirs.hashes(head.id, s.remote_path(rel), page_size=10_000))
            if head is not None
            else None,
            capacity=PLANNERS * 2,
        )
        writes_manifest = self.manifest is not None
        packer = Packer(
            self.state,
            self.counters,
            compress=s.compress,
            prefix=s.prefix,
            batch_files=s.batch_files,
            batch_bytes=s.batch_bytes,
            senders=s.concurrency,
            fetch=source_stages.BatchFetcher(source) if source else None,
        )
        policy = self.repo.retry
        sender = BatchSender(
            self.repo, self.workspace, self.state, packer, self.counters, self.give_ups, policy
        )
        large = LargeFileStage(
            self.repo,
            self.workspace,
            self.state,
            self.counters,
            self.give_ups,
            policy,
            prefix=s.prefix,
            **source_stages.large_file_hooks(source),
        )
        packer.blake3 = large.blake3 = writes_manifest
        scan_tx, scan_rx = anyio.create_memory_object_stream[tuple[str, list[ScanItem]]](4)
        # Jobs travel a directory piece at a time: one hand-over per piece, not per file.
        small_tx, small_rx = anyio.create_memory_object_stream[list[FileJob]](2)
        large_tx, large_rx = anyio.create_memory_object_stream[FileJob](2)
        packed_tx, packed_rx = anyio.create_memory_object_stream[PackedBatch](READY_BATCHES)
        async with anyio.create_task_group() as tg:
            self._stages = tg
            tg.start_soon(self._scan, scan_tx)
            async with small_tx, large_tx, packed_tx:
                for _ in range(PLANNERS):
                    tg.start_soon(
                        plan_stage,
                        planner,
                        listings,
                        self.counters,
                        self._first_job,
                        scan_rx.clone(),
                        small_tx.clone(),
                        large_tx.clone(),
                    )
                for _ in range(PACKERS):
                    tg.start_soon(packer.run, small_rx.clone(), packed_tx.clone())
                tg.start_soon(sender.run, packed_rx.clone(), s.concurrency, tg)
                for _ in range(min(LARGE_SENDERS, s.concurrency)):
                    tg.start_soon(large.run, large_rx.clone())
            for stream in (scan_rx, small_rx, large_rx, packed_rx):
                await stream.aclose()

    async def _first_job(self) -> None:
        """The first file to send: open the workspace now, while its batch packs, not after."""
        if not self._workspace_asked:
            self._workspace_asked = True
            assert self._stages is not None
            self._stages.start_soon(self.workspace.open_early)

    async def _scan(self, out: ObjectSendStream[tuple[str, list[ScanItem]]]) -> None:
        s = self.settings
        if s.share is not None:  # the driver listed the source: no walk here
            root = s.source.root if s.source is not None else str(s.root)
            await scan_share(s.share, root, s.source, out, self.counters)
            return
        if self.settings.source is not None:
            await source_stages.scan_source(
                self.settings.source, self.settings.shard, out, self.counters
            )
            return
        # The state folder may sit inside the uploaded folder: never upload our own database.
        walker = scan(str(self.settings.root), frozenset({str(self.settings.state_dir)}))
        shard = self.settings.shard
        async with out:
            while True:
                piece = await anyio.to_thread.run_sync(next, walker, None)
                if piece is None:
                    break
                if shard is not None:  # a shard uploads only its own share of each piece
                    items = [item for item in piece[1] if shard.holds(item.rel_path)]
                    if not items:
                        continue
                    piece = (piece[0], items)
                await out.send(piece)
        self.counters.progress.scan_done = True
        self.counters.emit()

    async def _commit(self) -> Commit | None:
        s = self.settings
        count = self.counters.progress.files_sent + self.counters.progress.files_resumed
        removed = self.counters.removed
        extra = f", remove {removed}" if removed else ""
        extra += ", update its manifest" if self.manifest_result.staged else ""
        return await commit_upload(
            self.repo,
            self.workspace,
            branch=s.branch,
            message=s.message or f"Upload {count} file(s){extra} to {s.dest or '/'}",
            author=s.author,
            wanted=self._wanted,
            unsent=self.give_ups.unsent,
        )

    def _settle(self, commit: Commit | None) -> None:
        """Remember which directory pieces the branch now matches (blocking: a worker thread)."""
        assert self.planner is not None
        failed = len(self.counters.failures) > self.planner.failures or self.give_ups.unsent
        settle_pieces(self.state, self.head, commit, sends_failed=bool(failed))

    def _wanted(self, remote_paths: list[str]) -> set[str]:
        """Which staged remote paths this run sent or confirmed (blocking: a worker thread)."""
        prefix = self.settings.prefix
        ours = {p: p[len(prefix) :] for p in remote_paths if p.startswith(prefix)}
        confirmed = self.state.confirmed(ours.values())
        return {p for p, rel in ours.items() if rel in confirmed}
