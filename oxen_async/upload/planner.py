"""The planner: what to do with each scanned file, a directory piece at a time.

A hash decides only files that the branch or the workspace has under that name; the others
are sent anyway, and pack hashes the bytes it reads (one read per file instead of two on a
first upload), or for a large file its sender does, just before sending.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio.to_thread
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from ..hashing import hash_file_sync
from .counters import Counters
from .listing import BranchListings
from .pack import FileJob, check_name
from .scan import LocalFile, Problem, ScanItem, SkippedSymlinkDir
from .state import UploadState


class Verdict(enum.Enum):
    SEND = "send"  # new or changed: goes to the server
    UNCHANGED = "unchanged"  # on the branch already with these bytes
    RESUMED = "resumed"  # staged by an interrupted run with these bytes
    UNREADABLE = "unreadable"  # had to be hashed and could not be read


@dataclass(slots=True)
class PiecePlan:
    """The planner's verdicts on one directory piece, made in a worker thread."""

    small: list[FileJob] = field(default_factory=list)
    large: list[FileJob] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    symlink_dirs: list[str] = field(default_factory=list)
    seen: int = 0
    bytes_seen: int = 0
    unchanged: int = 0
    resumed: int = 0


class Planner:
    """Verdicts against the head's listing and (after a crash) the resumed workspace.

    Blocking methods (hash cache, hashing, resume bookkeeping): run them in a worker thread.
    """

    def __init__(self, state: UploadState, *, large_threshold: int, resumed: bool) -> None:
        self.state = state
        self.large_threshold = large_threshold
        self.resumed = resumed

    def plan_piece(self, items: list[ScanItem], remote: dict[str, str]) -> PiecePlan:
        """What to do with one directory piece; ``remote`` is its listing on the head."""
        plan = PiecePlan()
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
        for f, (verdict, digest) in zip(files, self.verdicts(files, remote), strict=True):
            if verdict is Verdict.UNREADABLE:
                plan.failures.append((f.rel_path, "cannot read: file vanished or is unreadable"))
            elif verdict is Verdict.UNCHANGED:
                plan.unchanged += 1
            elif verdict is Verdict.RESUMED:
                plan.resumed += 1
            else:
                job = FileJob(f.rel_path, f.abs_path, f.size, f.mtime_ns, digest, inode=f.inode)
                (plan.large if f.size > self.large_threshold else plan.small).append(job)
        return plan

    def verdicts(self, files: list[LocalFile], remote: dict[str, str]) -> list[tuple[Verdict, str]]:
        """(verdict, content id) per file; the id is "" when nothing needed the hash."""
        state = self.state
        staged = state.staged_hashes([f.rel_path for f in files]) if self.resumed else {}

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
        out: list[tuple[Verdict, str]] = []
        confirmed: list[str] = []
        for f in files:
            digest = hashes.get(f.rel_path, "")
            if not compared(f):
                out.append((Verdict.SEND, ""))
            elif not digest:
                out.append((Verdict.UNREADABLE, ""))
            elif remote.get(f.rel_path.rpartition("/")[2]) == digest:
                out.append((Verdict.UNCHANGED, digest))
            elif staged.get(f.rel_path) == digest:
                out.append((Verdict.RESUMED, digest))
                confirmed.append(f.rel_path)
            else:
                out.append((Verdict.SEND, digest))
        state.confirm(confirmed)
        return out


async def plan_stage(
    planner: Planner,
    listings: BranchListings,
    counters: Counters,
    first_job: Callable[[], Awaitable[None]],
    pieces: ObjectReceiveStream[tuple[str, list[ScanItem]]],
    small: ObjectSendStream[list[FileJob]],
    large: ObjectSendStream[FileJob],
) -> None:
    """Scanned pieces in, jobs out: small files a piece at a time, large files one by one.
    ``first_job`` is awaited once per planner, before its first job goes out."""
    asked = False
    async with pieces, small, large:
        async for rel_dir, items in pieces:
            remote: dict[str, str] = {}
            if any(isinstance(item, LocalFile) for item in items):
                remote = await listings.files(rel_dir)
            # One worker-thread hop per directory piece: every per-file step (name checks,
            # cache lookups, hashing, verdicts) stays off the event loop.
            plan = await anyio.to_thread.run_sync(planner.plan_piece, items, remote)
            for rel_path, reason in plan.failures:
                counters.fail(rel_path, reason)
            counters.symlink_dirs += plan.symlink_dirs
            p = counters.progress
            p.files_seen += plan.seen
            p.bytes_seen += plan.bytes_seen
            p.files_unchanged += plan.unchanged
            p.files_resumed += plan.resumed
            counters.emit()
            if (plan.small or plan.large) and not asked:
                asked = True
                await first_job()
            for job in plan.large:
                await large.send(job)
            if plan.small:
                await small.send(plan.small)
