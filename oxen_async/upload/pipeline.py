"""The bulk uploader: a local folder into ONE commit on a branch.

    scan -> plan (remote tree by directory, hash in threads, skip unchanged/staged)
         -> pack (read, verify, compress in threads) -> send (N in flight into a workspace)
         -> reconcile (diff expected staged paths against the server's answer, retry by file)
         -> merge (one commit)

Stages are joined by bounded anyio streams, so a slow stage back-pressures the ones before
it: at most ``concurrency + READY_BATCHES + PACKERS`` batches of ``batch_bytes`` are in memory
(sending, packed and waiting, being packed), plus a few directories' remote listings, whatever
the folder's size. Files over the gzip cap go through the chunked /versions route into the
same workspace.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread
from anyio.abc import ObjectReceiveStream, ObjectSendStream, TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .. import config, paths
from ..api.repos import Repositories
from ..errors import (
    BadRequestError,
    ConfigError,
    ConflictError,
    FileChangedError,
    HTTPError,
    NotFoundError,
    NothingToCommitError,
    OxenError,
    RateLimitedError,
    ServerError,
    TransportError,
    leaf_errors,
)
from ..hashing import hash_file_sync
from ..models import Branch, Commit
from ..session import RetryPolicy
from . import commit as committing
from .large import upload_large
from .looplag import LoopLagMonitor
from .pack import CompressionMemo, CompressMode, FileJob, PackedBatch, check_name, pack
from .report import FileFailure, ProgressCallback, Status, UploadProgress, UploadReport
from .scan import LocalFile, Problem, ScanItem, SkippedSymlinkDir, scan
from .state import REMOVED, UploadState, default_state_dir, state_key

if TYPE_CHECKING:
    from ..client import RemoteRepo

MiB = 1024 * 1024
LARGE_FILE = 10 * MiB  # the server's gzip inflate cap; the official client's threshold too
FILE_ATTEMPTS = 4  # a file missing from the server's answer is re-sent this often in all
BATCH_ATTEMPTS = 5  # a batch whose request fails (after the session's own retries)
PLANNERS = 4
GIVE_UP_LIMIT = 3  # batches in a row that exhaust their retries: the server is gone, stop
EARLY_FLUSH_FILES = 32  # the smallest batch worth a request when senders are starving
EARLY_FLUSH_BYTES = 1 * 1024 * 1024  # ... or this many bytes of it
MIN_IN_FLIGHT = 2  # requests the server should always have; fewer: send partial batches
READY_BATCHES = 2  # packed batches waiting for a free sender (more only held memory)
PACKERS = 2
RETRYABLE = (TransportError, ServerError, RateLimitedError)
# Eight requests of a few MiB keep a server busy without holding much memory on either side.
DEFAULT_CONCURRENCY = 8
DEFAULT_BATCH_BYTES = 4 * MiB
DEFAULT_BATCH_FILES = 1000


async def upload_folder(
    repo: RemoteRepo,
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
    state_dir: str | os.PathLike[str] | None = None,
    progress: ProgressCallback | None = None,
) -> UploadReport:
    """Upload ``local_dir`` to ``dest`` on ``branch`` as one commit and report every file.

    Files whose path and content are already on the branch are skipped; rerunning on an
    unchanged folder sends nothing and commits nothing. With ``delete_missing`` the same
    commit also removes files under ``dest`` that are no longer in the folder (like
    ``rsync --delete``); without it the upload only adds and updates. After a crash, a rerun
    reuses the workspace and skips what it had staged. Raises ConfigError (bad arguments),
    NotFoundError (no such repository), UnauthorizedError, TransportError before anything is
    sent; once sending started, failures land in the report instead.
    """
    root = _check_folder(_absolute(Path(local_dir)))
    if concurrency < 1 or batch_bytes < 1 or batch_files < 1:
        raise ConfigError("concurrency, batch_bytes and batch_files must be positive")
    if large_file_threshold > LARGE_FILE:
        raise ConfigError(f"large_file_threshold cannot exceed the server's {LARGE_FILE} byte cap")
    who = author or config.resolve_author()
    if who is None:
        raise ConfigError(
            "no commit author: pass author name and email, or set them in oxen's user_config.toml"
        )
    settings = _Settings(
        branch=branch,
        dest=paths.repo_path(dest),
        message=message,
        author=who,
        concurrency=concurrency,
        batch_bytes=batch_bytes,
        batch_files=batch_files,
        compress=compress,
        large_threshold=large_file_threshold,
        resume=resume,
        delete_missing=delete_missing,
        state_dir=_absolute(Path(state_dir) if state_dir else default_state_dir()),
        on_progress=progress,
    )
    return await _Upload(repo, root, settings).run()


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _display(rel_path: str) -> str:
    """A path fit for the report: undecodable bytes of a file name shown as escapes."""
    return os.fsencode(rel_path).decode("utf-8", "backslashreplace")


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))


def _check_folder(root: Path) -> Path:
    if not root.exists():
        raise ConfigError(f"local folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise ConfigError(f"{str(root)!r} is a file, not a folder")
    return root


@dataclass(frozen=True)
class _Settings:
    """What the caller asked for, checked and resolved once by ``upload_folder``."""

    branch: str
    dest: str
    message: str | None
    author: config.Author
    concurrency: int
    batch_bytes: int
    batch_files: int
    compress: CompressMode
    large_threshold: int
    resume: bool
    delete_missing: bool
    state_dir: Path
    on_progress: ProgressCallback | None


@dataclass(frozen=True, slots=True)
class _Listing:
    """One directory of the branch head: its files (name -> content id) and subfolders."""

    files: dict[str, str]
    subdirs: frozenset[str]


_NO_LISTING = _Listing({}, frozenset())


@dataclass(slots=True)
class _PiecePlan:
    """The planner's verdicts on one directory piece, made in a worker thread."""

    small: list[FileJob] = field(default_factory=list)
    large: list[FileJob] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    symlink_dirs: list[str] = field(default_factory=list)
    seen: int = 0
    bytes_seen: int = 0
    unchanged: int = 0
    resumed: int = 0


class _Upload:
    def __init__(self, repo: RemoteRepo, root: Path, settings: _Settings) -> None:
        self.repo = repo
        self.root = root
        self.s = settings
        self.removed = 0
        self.progress = UploadProgress()
        self.failures: list[FileFailure] = []
        self.symlink_dirs: list[str] = []
        self.head: Commit | None = None
        self.workspace_id: str | None = None
        self._ws_lock = anyio.Lock()
        self._listings: OrderedDict[str, _Listing] = OrderedDict()
        self._listing_locks: dict[str, anyio.Lock] = {}
        self._missing_dirs: set[str] = set()  # folders the branch does not have
        self.staged_now = 0
        self.bytes_sent = 0
        self.wire_bytes = 0
        self.large_files = 0
        self.batches = 0
        self.batch_retries = 0
        self.file_retries = 0
        self.lag = LoopLagMonitor()
        self.state: UploadState | None = None
        self.resumed_workspace = False
        self.prefix = f"{settings.dest}/" if settings.dest else ""
        self._unsent: list[str] = []  # remote paths of batches given up: maybe staged anyway
        self._give_ups = 0
        self._hash_locks: dict[str, anyio.Lock] = {}
        self._hash_users: dict[str, int] = {}  # tasks holding or awaiting each hash's lock
        self._stages: TaskGroup | None = None  # the pipeline's task group, while it runs
        self._workspace_asked = False
        self._memo = CompressionMemo()

    # -- helpers ----------------------------------------------------------------------------

    def _emit(self) -> None:
        if self.s.on_progress is not None:
            self.s.on_progress(self.progress)

    def _sent(self, files: int, size: int) -> None:
        self.staged_now += files
        self.bytes_sent += size
        self.progress.phase = "uploading"
        self.progress.files_sent += files
        self.progress.bytes_sent += size
        self._emit()

    def _fail(self, rel_path: str, reason: str) -> None:
        self.failures.append(FileFailure(_display(rel_path), reason))
        self.progress.files_failed += 1

    def _remote_path(self, rel: str) -> str:
        return f"{self.s.dest}/{rel}" if self.s.dest and rel else (self.s.dest or rel)

    # -- main -------------------------------------------------------------------------------

    async def run(self) -> UploadReport:
        started = time.perf_counter()
        await self._preflight()
        key = state_key(
            self.repo.scope.session.host,
            self.repo.full_name,
            self.s.branch,
            self.s.dest,
            str(self.root),
        )
        self.state = await anyio.to_thread.run_sync(UploadState, self.s.state_dir / f"{key}.sqlite")
        try:
            return await self._run(started)
        finally:
            with anyio.CancelScope(shield=True):  # a cancelled caller must not keep the lock
                await anyio.to_thread.run_sync(self.state.close)

    async def _preflight(self) -> None:
        """Fail before sending anything: unknown repository, missing branch, bad token."""
        found: list[Branch | OxenError] = []

        async def fetch_branch() -> None:
            try:
                found.append(await self.repo.branches.get(self.s.branch))
            except OxenError as exc:
                found.append(exc)

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(fetch_branch)  # alongside the repository: one round trip fewer
                info = await Repositories(self.repo.scope.session).get(
                    self.repo.namespace, self.repo.name
                )
        except BaseExceptionGroup as group:
            raise leaf_errors(group)[0] from None  # the repository's error names the problem
        (branch,) = found
        if isinstance(branch, NotFoundError):
            if info.branch_count or not info.is_empty:
                raise ConfigError(
                    f"branch {self.s.branch!r} does not exist in {self.repo.full_name}"
                ) from None
            return  # an empty repository: the workspace will start the branch
        if isinstance(branch, OxenError):
            raise branch
        self.head = await self.repo.commits.get(branch.commit_id)

    async def _run(self, started: float) -> UploadReport:
        assert self.state is not None
        state = self.state
        await self._resume_workspace(state)
        error: str | None = None
        try:
            async with anyio.create_task_group() as outer:
                outer.start_soon(self.lag.run)
                await self._pipeline()
                if self.s.delete_missing:
                    await self._stage_removals()
                self.progress.phase = "committing"
                self._emit()
                commit = await self._commit()
                outer.cancel_scope.cancel()
        except* (OxenError, OSError, sqlite3.Error) as group:
            error = "; ".join(_describe(e) for e in leaf_errors(group))
            commit = None
        self.progress.phase = "done"
        self._emit()
        return self._report(started, commit, error)

    async def _resume_workspace(self, state: UploadState) -> None:
        """Reuse the workspace an interrupted run left, if it still fits; else discard it."""
        previous = await anyio.to_thread.run_sync(state.get_meta, "workspace_id")
        if previous is None:
            return
        try:
            ws = await self.repo.workspaces.get(previous)
        except NotFoundError:
            ws = None
        base = ws.commit.id if ws is not None and ws.commit is not None else None
        head = self.head.id if self.head is not None else None
        if ws is not None and self.s.resume and base == head:
            self.workspace_id = previous
            self.resumed_workspace = True
            await anyio.to_thread.run_sync(state.begin_resumed_run)
            return
        # Resume refused, or the branch moved on (its files would conflict or be judged
        # against an old base): start a fresh workspace from the current head.
        if ws is not None:
            with contextlib.suppress(NotFoundError):
                await self.repo.workspaces.delete(previous)
        await anyio.to_thread.run_sync(state.finish_workspace)

    async def _pipeline(self) -> None:
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
                    tg.start_soon(self._plan, scan_rx.clone(), small_tx.clone(), large_tx.clone())
                for _ in range(PACKERS):
                    tg.start_soon(self._pack, small_rx.clone(), packed_tx.clone())
                for _ in range(self.s.concurrency):
                    tg.start_soon(self._send, packed_rx.clone())
                for _ in range(min(2, self.s.concurrency)):
                    tg.start_soon(self._send_large, large_rx.clone())
            for stream in (scan_rx, small_rx, large_rx, packed_rx):
                await stream.aclose()

    # -- scan -------------------------------------------------------------------------------

    async def _scan(self, out: ObjectSendStream[tuple[str, list[ScanItem]]]) -> None:
        # The state folder may sit inside the uploaded folder: never upload our own database.
        walker = scan(str(self.root), frozenset({str(self.s.state_dir)}))
        async with out:
            while True:
                piece = await anyio.to_thread.run_sync(next, walker, None)
                if piece is None:
                    break
                await out.send(piece)
        self.progress.scan_done = True
        self._emit()

    # -- plan -------------------------------------------------------------------------------

    async def _plan(
        self,
        pieces: ObjectReceiveStream[tuple[str, list[ScanItem]]],
        small: ObjectSendStream[list[FileJob]],
        large: ObjectSendStream[FileJob],
    ) -> None:
        async with pieces, small, large:
            async for rel_dir, items in pieces:
                remote: dict[str, str] = {}
                if any(isinstance(item, LocalFile) for item in items):
                    remote = await self._remote_listing(rel_dir)
                # One worker-thread hop per directory piece: every per-file step (name checks,
                # cache lookups, hashing, verdicts) stays off the event loop.
                plan = await anyio.to_thread.run_sync(self._plan_piece, items, remote)
                for rel_path, reason in plan.failures:
                    self._fail(rel_path, reason)
                self.symlink_dirs += plan.symlink_dirs
                p = self.progress
                p.files_seen += plan.seen
                p.bytes_seen += plan.bytes_seen
                p.files_unchanged += plan.unchanged
                p.files_resumed += plan.resumed
                self._emit()
                if (plan.small or plan.large) and not self._workspace_asked:
                    # The first file to send: open the workspace now, while its batch packs,
                    # not after (a rerun with nothing to send opens none).
                    self._workspace_asked = True
                    assert self._stages is not None
                    self._stages.start_soon(self._open_workspace_early)
                for job in plan.large:
                    await large.send(job)
                if plan.small:
                    await small.send(plan.small)

    def _plan_piece(self, items: list[ScanItem], remote: dict[str, str]) -> _PiecePlan:
        """What to do with one directory piece (blocking: a worker thread)."""
        plan = _PiecePlan()
        files: list[LocalFile] = []
        for item in items:
            if isinstance(item, SkippedSymlinkDir):
                plan.symlink_dirs.append(item.rel_path)
                continue
            plan.seen += 1
            if isinstance(item, Problem):
                plan.failures.append((item.rel_path, item.reason))
                continue
            plan.bytes_seen += item.size
            reason = check_name(item.rel_path)
            if reason:
                plan.failures.append((item.rel_path, reason))
            else:
                files.append(item)
        if not files:
            return plan
        for f, (verdict, digest) in zip(files, self._identify(files, remote), strict=True):
            if verdict == "unreadable":
                plan.failures.append((f.rel_path, "cannot read: file vanished or is unreadable"))
            elif verdict == "unchanged":
                plan.unchanged += 1
            elif verdict == "resumed":
                plan.resumed += 1
            elif f.size > self.s.large_threshold:
                job = FileJob(f.rel_path, f.abs_path, f.size, f.mtime_ns, digest, inode=f.inode)
                plan.large.append(job)
            else:
                job = FileJob(f.rel_path, f.abs_path, f.size, f.mtime_ns, digest, inode=f.inode)
                plan.small.append(job)
        return plan

    def _identify(self, files: list[LocalFile], remote: dict[str, str]) -> list[tuple[str, str]]:
        """(verdict, content id) per file: unreadable, unchanged (on the branch already),
        resumed (staged by an interrupted run with these bytes) or send.

        A hash decides only files that the branch or the workspace has under that name; the
        others are sent anyway, and pack hashes the bytes it reads (one read per file instead
        of two on a first upload), or for a large file its sender does, just before sending.
        Blocking: runs in a worker thread (hash cache, hashing, resume bookkeeping).
        """
        assert self.state is not None
        state = self.state
        staged = state.staged_hashes([f.rel_path for f in files]) if self.resumed_workspace else {}

        def compared(f: LocalFile) -> bool:
            name = f.rel_path.rpartition("/")[2]
            return name in remote or f.rel_path in staged

        to_hash = [f for f in files if compared(f)]
        hashes = state.cached_hashes([(f.rel_path, f.size, f.mtime_ns, f.inode) for f in to_hash])
        fresh: list[tuple[str, int, int, int, str]] = []
        for f in to_hash:
            if f.rel_path in hashes:
                continue
            try:
                digest = hash_file_sync(f.abs_path)[0]
            except OSError:
                continue
            hashes[f.rel_path] = digest
            fresh.append((f.rel_path, f.size, f.mtime_ns, f.inode, digest))
        state.cache_hashes(fresh)
        plan: list[tuple[str, str]] = []
        confirmed: list[str] = []
        for f in files:
            digest = hashes.get(f.rel_path, "")
            if not compared(f):
                plan.append(("send", ""))
            elif not digest:
                plan.append(("unreadable", ""))
            elif remote.get(f.rel_path.rpartition("/")[2]) == digest:
                plan.append(("unchanged", digest))
            elif staged.get(f.rel_path) == digest:
                plan.append(("resumed", digest))
                confirmed.append(f.rel_path)
            else:
                plan.append(("send", digest))
        state.confirm(confirmed)
        return plan

    async def _remote_listing(self, rel_dir: str) -> dict[str, str]:
        """filename -> hash of the files in one directory of the branch head."""
        if self.head is None:
            return {}
        return (await self._listing(rel_dir)).files

    async def _listing(self, rel_dir: str) -> _Listing:
        """One directory of the branch head, cached (LRU).

        A directory is asked for only when its parent's listing names it: a new folder tree
        costs no request per folder (a first upload of 200 folders made 200 requests, each a
        404), and the parent's listing is cached for its other children anyway.
        """
        if self._under_missing(rel_dir):
            return _NO_LISTING
        if rel_dir:
            parent, _, name = rel_dir.rpartition("/")
            if name not in (await self._listing(parent)).subdirs:
                self._missing_dirs.add(rel_dir)
                return _NO_LISTING
        cached = self._cached_listing(rel_dir)
        if cached is not None:
            return cached
        lock = self._listing_locks.setdefault(rel_dir, anyio.Lock())
        async with lock:
            cached = self._cached_listing(rel_dir)
            if cached is not None:
                return cached
            assert self.head is not None
            files: dict[str, str] = {}
            subdirs: set[str] = set()
            try:
                async for entry in self.repo.dirs.entries(
                    self.head.id, self._remote_path(rel_dir), page_size=10_000
                ):
                    if entry.is_dir:
                        subdirs.add(entry.filename)
                    else:
                        files[entry.filename] = entry.hash
            except NotFoundError:
                # New on the branch, and so is everything below it: no request for those.
                self._missing_dirs.add(rel_dir)
            listing = self._listings[rel_dir] = _Listing(files, frozenset(subdirs))
            while len(self._listings) > PLANNERS * 2:
                old, _ = self._listings.popitem(last=False)
                self._listing_locks.pop(old, None)
        return listing

    def _cached_listing(self, rel_dir: str) -> _Listing | None:
        listing = self._listings.get(rel_dir)
        if listing is not None:
            self._listings.move_to_end(rel_dir)  # ancestors stay while their children plan
        return listing

    def _under_missing(self, rel_dir: str) -> bool:
        """Whether ``rel_dir`` or a folder above it is known to be absent on the branch."""
        parts = rel_dir.split("/") if rel_dir else []
        return any("/".join(parts[:i]) in self._missing_dirs for i in range(len(parts) + 1))

    # -- pack -------------------------------------------------------------------------------

    async def _pack(
        self,
        pieces: MemoryObjectReceiveStream[list[FileJob]],
        out: MemoryObjectSendStream[PackedBatch],
    ) -> None:
        """Batch jobs up to the size limits, but hand over a partial batch early when the
        server is about to run short of work (fewer than MIN_IN_FLIGHT requests out, none
        ready): full batches in steady state, no idle server at the start (when the wire
        limit has eight requests out at once) or behind a slow planner."""
        async with pieces, out:
            batch: list[FileJob] = []
            size = 0
            while True:
                try:
                    piece = pieces.receive_nowait()
                except anyio.WouldBlock:
                    if self._send_early(out, len(batch), size):
                        await out.send(await self._pack_now(batch))
                        batch, size = [], 0
                        continue
                    try:
                        piece = await pieces.receive()
                    except anyio.EndOfStream:
                        break
                except anyio.EndOfStream:
                    break
                for job in piece:
                    batch.append(job)
                    size += job.size
                    if (
                        len(batch) >= self.s.batch_files
                        or size >= self.s.batch_bytes
                        or self._send_early(out, len(batch), size)
                    ):
                        await out.send(await self._pack_now(batch))
                        batch, size = [], 0
            if batch:
                await out.send(await self._pack_now(batch))

    def _send_early(self, out: MemoryObjectSendStream[PackedBatch], files: int, size: int) -> bool:
        """Whether a partial batch of ``files``/``size`` should go now."""
        if files < EARLY_FLUSH_FILES and size < EARLY_FLUSH_BYTES:
            return False
        stats = out.statistics()
        in_flight = self.s.concurrency - stats.tasks_waiting_receive
        return stats.current_buffer_used == 0 and in_flight < min(MIN_IN_FLIGHT, self.s.concurrency)

    def _pack_and_cache(self, jobs: list[FileJob]) -> PackedBatch:
        """Pack (blocking: a worker thread), and remember the hashes pack computed."""
        assert self.state is not None
        packed = pack(jobs, self.s.compress, self.prefix, self._memo)
        self.state.cache_hashes(
            (j.rel_path, j.size, j.mtime_ns, j.inode, j.hash) for j in packed.jobs if j.inode
        )
        return packed

    async def _pack_now(self, jobs: list[FileJob]) -> PackedBatch:
        packed = await anyio.to_thread.run_sync(self._pack_and_cache, jobs)
        for job, reason in packed.failures:
            self._fail(job.rel_path, reason)
        return packed

    # -- send -------------------------------------------------------------------------------

    async def _open_workspace_early(self) -> None:
        # A failure here is no failure yet: the first sender asks again and reports it.
        with contextlib.suppress(OxenError):
            await self._workspace()

    async def _workspace(self) -> str:
        async with self._ws_lock:
            if self.workspace_id is None:
                assert self.state is not None
                ws = await self.repo.workspaces.get_or_create(
                    self.s.branch, workspace_id=str(uuid.uuid4())
                )
                await anyio.to_thread.run_sync(self.state.start_workspace, ws.id)
                self.workspace_id = ws.id
            return self.workspace_id

    async def _send(self, batches: ObjectReceiveStream[PackedBatch]) -> None:
        async with batches:
            async for batch in batches:
                await self._send_batch(batch)

    async def _send_batch(self, batch: PackedBatch) -> None:
        """Send, diff what the server staged against what was sent, re-send the rest."""
        assert self.state is not None
        backoff = RetryPolicy()
        failed_requests = 0
        while batch.jobs:
            ws = await self._workspace()
            try:
                assert batch.form is not None
                # Into the root, the whole repo path in each part's (literal) filename.
                staged = await self.repo.workspaces.add_files(ws, "", batch.form)
            except BadRequestError as exc:
                # The server refuses a whole batch for one bad path: halve it until the
                # culprits are alone, so one odd name does not sink its neighbours.
                if len(batch.jobs) == 1:
                    self._fail(batch.jobs[0].rel_path, f"refused by the server: {exc.message}")
                    return
                mid = len(batch.jobs) // 2
                for half in (batch.jobs[:mid], batch.jobs[mid:]):
                    await self._send_batch(await self._pack_now(half))
                return
            except RETRYABLE as exc:
                failed_requests += 1
                self.batch_retries += 1
                if failed_requests >= BATCH_ATTEMPTS:
                    self._give_up(exc)
                    for job in batch.jobs:
                        self._fail(job.rel_path, f"not sent: {exc}")
                        self._unsent.append(self._remote_path(job.rel_path))
                    return
                await anyio.sleep(backoff.delay(failed_requests, getattr(exc, "retry_after", None)))
                continue
            self.batches += 1
            self._give_ups = 0
            self.wire_bytes += batch.wire_bytes
            landed = set(staged)
            done: list[FileJob] = []
            missing: list[FileJob] = []
            for job in batch.jobs:
                (done if self._remote_path(job.rel_path) in landed else missing).append(job)
            await anyio.to_thread.run_sync(
                self.state.record_staged, [(j.rel_path, j.hash) for j in done]
            )
            self._sent(len(done), sum(j.size for j in done))
            retry: list[FileJob] = []
            for job in missing:
                job.attempts += 1
                if job.attempts >= FILE_ATTEMPTS:
                    self._fail(job.rel_path, "not staged by the server after repeated attempts")
                else:
                    retry.append(job)
            if not retry:
                return
            self.file_retries += len(retry)
            await anyio.sleep(backoff.delay(retry[0].attempts, None))
            batch = await self._pack_now(retry)

    async def _send_large(self, jobs: ObjectReceiveStream[FileJob]) -> None:
        assert self.state is not None
        async with jobs:
            async for job in jobs:
                if not job.hash:
                    # Hashed here, not in the plan: one large file hashes while another sends.
                    try:
                        job.hash = await anyio.to_thread.run_sync(self._hash_large, job)
                    except (OSError, FileChangedError) as exc:
                        reason = exc.strerror if isinstance(exc, OSError) else None
                        self._fail(job.rel_path, f"cannot read: {reason}" if reason else str(exc))
                        continue
                # Identical large files share one chunk area on the server: one at a time.
                lock = self._hash_locks.setdefault(job.hash, anyio.Lock())
                self._hash_users[job.hash] = self._hash_users.get(job.hash, 0) + 1
                try:
                    async with lock:
                        await self._send_one_large(job)
                finally:
                    self._hash_users[job.hash] -= 1
                    if not self._hash_users[job.hash]:
                        del self._hash_users[job.hash], self._hash_locks[job.hash]

    def _hash_large(self, job: FileJob) -> str:
        """Content id of a large file: from the hash cache, or read whole (blocking)."""
        assert self.state is not None
        key = (job.rel_path, job.size, job.mtime_ns, job.inode)
        cached = self.state.cached_hashes([key]).get(job.rel_path)
        if cached:
            return cached
        digest, size = hash_file_sync(job.abs_path)
        st = os.stat(job.abs_path)
        if (size, st.st_size, st.st_mtime_ns) != (job.size, job.size, job.mtime_ns):
            raise FileChangedError(f"{job.rel_path}: file changed while it was being hashed")
        self.state.cache_hashes([(*key, digest)])
        return digest

    async def _send_one_large(self, job: FileJob) -> None:
        """Chunked upload of one file, retried as a whole; failures are reported by path."""
        assert self.state is not None
        backoff = RetryPolicy()
        for attempt in range(1, BATCH_ATTEMPTS + 1):
            ws = await self._workspace()
            try:
                sent = await upload_large(
                    self.repo.versions,
                    job,
                    repo_path=self._remote_path(job.rel_path),
                    workspace_id=ws,
                )
            except FileChangedError as exc:
                self._fail(job.rel_path, str(exc))
                return
            except OSError as exc:
                self._fail(job.rel_path, f"cannot read: {exc.strerror or exc}")
                return
            except (HTTPError, TransportError) as exc:
                if attempt == BATCH_ATTEMPTS or not isinstance(exc, RETRYABLE):
                    if isinstance(exc, RETRYABLE):
                        self._give_up(exc)
                    self._fail(job.rel_path, f"chunked upload failed: {exc}")
                    self._unsent.append(self._remote_path(job.rel_path))
                    return
                self.batch_retries += 1
                await anyio.sleep(backoff.delay(attempt, getattr(exc, "retry_after", None)))
                continue
            await anyio.to_thread.run_sync(self.state.record_staged, [(job.rel_path, job.hash)])
            self.large_files += 1
            self._give_ups = 0
            self.wire_bytes += sent
            self._sent(1, job.size)
            return

    # -- removals ---------------------------------------------------------------------------

    async def _stage_removals(self) -> None:
        """Stage removal of branch files under ``dest`` that the local folder no longer has.

        Walks the remote tree and asks the disk about each path (in worker threads, a page at
        a time), so no list of the whole folder is ever held.
        """
        if self.head is None:
            return
        pending: list[str] = []

        async def flush() -> None:
            gone = await anyio.to_thread.run_sync(self._missing_locally, list(pending))
            pending.clear()
            if gone:
                ws = await self._workspace()
                await self.repo.workspaces.remove(ws, [self._remote_path(g) for g in gone])
                assert self.state is not None
                await anyio.to_thread.run_sync(
                    self.state.record_staged, [(g, REMOVED) for g in gone]
                )
                self.removed += len(gone)

        try:
            async for remote_path, _entry in self.repo.dirs.walk(self.head.id, self.s.dest):
                pending.append(remote_path[len(self.prefix) :])
                if len(pending) >= 1000:
                    await flush()
        except NotFoundError:
            return  # the destination is new on the branch: nothing there to remove
        if pending:
            await flush()

    def _missing_locally(self, rel_paths: list[str]) -> list[str]:
        """Paths the folder no longer has. Only "no such file" counts: a permission error on
        an unreadable folder must not remove its whole remote subtree."""
        gone: list[str] = []
        for rel in rel_paths:
            try:
                st = os.stat(self.root / rel)
            except (FileNotFoundError, NotADirectoryError):
                gone.append(rel)
                continue
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
                continue  # a special file stands there: reported by the scan, not removed
        return gone

    # -- commit -----------------------------------------------------------------------------

    async def _commit(self) -> Commit | None:
        """Merge the workspace into the branch: one commit, or None when nothing changed."""
        assert self.state is not None
        state = self.state
        if self.workspace_id is None:
            return None
        ws = self.workspace_id
        if self.resumed_workspace:
            await committing.drop_unwanted(self.repo, ws, self._wanted)
        if self._unsent:  # a request that failed may still have staged its files
            await committing.unstage(self.repo, ws, self._unsent)
        count = self.staged_now + self.progress.files_resumed
        removed = f", remove {self.removed}" if self.removed else ""
        message = self.s.message or f"Upload {count} file(s){removed} to {self.s.dest or '/'}"
        try:
            commit: Commit | None = await committing.merge(
                self.repo, ws, self.s.branch, message=message, author=self.s.author
            )
        except NothingToCommitError:
            # Everything sent matched the branch already; the unnamed workspace stays: drop it.
            with contextlib.suppress(NotFoundError):
                await self.repo.workspaces.delete(ws)
            commit = None
        except ConflictError:
            await anyio.to_thread.run_sync(state.finish_workspace)  # merge() deleted it
            raise
        await anyio.to_thread.run_sync(state.finish_workspace)
        return commit

    def _wanted(self, remote_paths: list[str]) -> set[str]:
        """Which staged remote paths this run sent or confirmed (blocking: a worker thread)."""
        assert self.state is not None
        ours = {p: p[len(self.prefix) :] for p in remote_paths if p.startswith(self.prefix)}
        confirmed = self.state.confirmed(ours.values())
        return {p for p, rel in ours.items() if rel in confirmed}

    def _give_up(self, exc: Exception) -> None:
        """Count a batch that exhausted its retries; several in a row mean the server is gone,
        so stop (what is left stays pending for a rerun) instead of trying every batch."""
        self._give_ups += 1
        if self._give_ups >= GIVE_UP_LIMIT:
            raise exc

    # -- report -----------------------------------------------------------------------------

    def _report(self, started: float, commit: Commit | None, error: str | None) -> UploadReport:
        p = self.progress
        status: Status
        if error is not None:
            status = "failed"
        elif commit is not None:
            status = "committed"
        else:
            status = "nothing_to_commit"
        return UploadReport(
            repo=self.repo.full_name,
            branch=self.s.branch,
            dest=self.s.dest,
            status=status,
            commit_id=commit.id if commit else None,
            files_total=p.files_seen,
            files_uploaded=self.staged_now,
            files_unchanged=p.files_unchanged,
            files_resumed=p.files_resumed,
            files_pending=p.files_seen - p.files_done,
            files_removed=self.removed,
            failed=sorted(self.failures, key=lambda f: f.path),
            bytes_total=p.bytes_seen,
            bytes_uploaded=self.bytes_sent,
            wire_bytes=self.wire_bytes,
            large_files=self.large_files,
            batches=self.batches,
            batch_retries=self.batch_retries,
            file_retries=self.file_retries,
            skipped_symlink_dirs=sorted(self.symlink_dirs),
            elapsed_s=round(time.perf_counter() - started, 3),
            loop_lag_p99_ms=round(self.lag.percentile_ms(0.99), 2),
            loop_lag_max_ms=round(self.lag.max_ms(), 2),
            error=error,
        )
