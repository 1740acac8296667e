"""The planner: what to do with each scanned file, a directory piece at a time.

A hash decides only files that the branch or the workspace has under that name; the others
are sent anyway, and pack hashes the bytes it reads (one read per file instead of two on a
first upload), or for a large file its sender does, just before sending.

A piece whose fingerprint (its files' names, sizes, mtimes and inodes: what the hash cache
trusts too) the state knows in sync with the branch head is unchanged as a whole: an unchanged
rerun costs one stat per file and one SQLite query per piece, and no listing at all. Pieces are
noted as the run verifies them and settled by ``settle_pieces`` when the run ends, to the
commit it leaves the branch at. A fingerprint is not trusted while a file in it is younger
than ``RACY_NS`` (a write in the same timestamp tick would keep it).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
import xxhash
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from ..errors import FileChangedError
from ..hashing import hash_file_sync
from ..models import Commit
from .counters import Counters
from .listing import BranchListings
from .pack import FileJob, check_name
from .scan import LocalFile, Problem, ScanItem, SkippedSymlinkDir
from .state import RACY_NS, SAME, SENT, UploadState


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
    digest: str = ""  # the piece's fingerprint; "" while a file is too young to trust it


def fingerprint(files: list[LocalFile], now_ns: int) -> str:
    """A digest of the files' names and stat fields, in name order; "" when one was written
    within ``RACY_NS`` of ``now_ns``."""
    if not files or max(f.mtime_ns for f in files) >= now_ns - RACY_NS:
        return ""
    lines = sorted(f"{f.rel_path}\0{f.size}\0{f.mtime_ns}\0{f.inode}" for f in files)
    return xxhash.xxh3_128_hexdigest("\n".join(lines).encode("utf-8", "surrogateescape"))


class Planner:
    """Verdicts against the head's listing and (after a crash) the resumed workspace.

    Blocking methods (hash cache, hashing, resume bookkeeping): run them in a worker thread.
    """

    def __init__(
        self,
        state: UploadState,
        *,
        large_threshold: int,
        resumed: bool,
        synced: bool = False,
        hash_file: Callable[[LocalFile, Any], str] | None = None,
    ) -> None:
        self.state = state
        self.hash_file = hash_file  # a URL source's hash (upload.sources); else the disk's
        self.large_threshold = large_threshold
        self.resumed = resumed
        self.synced = synced  # whether the state's synced pieces hold for the branch head
        self.failures = 0  # files the plan reported failed (the rest failed sending)

    def plan_piece(
        self, items: list[ScanItem], remote: dict[str, str], rel_dir: str = ""
    ) -> PiecePlan:
        """What to do with one directory piece; ``remote`` is its listing on the head."""
        plan, files = self.sort_piece(items, rel_dir)
        self.decide(plan, files, remote, rel_dir)
        return plan

    def sort_piece(
        self, items: list[ScanItem], rel_dir: str = ""
    ) -> tuple[PiecePlan, list[LocalFile]]:
        """The piece's failures and counts, and the files still to decide: none when the
        piece is known in sync with the head."""
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
        plan.digest = fingerprint(files, time.time_ns())
        if self.synced and plan.digest and self.state.piece_synced(rel_dir, plan.digest):
            plan.unchanged += len(files)
            return plan, []
        return plan, files

    def decide(
        self, plan: PiecePlan, files: list[LocalFile], remote: dict[str, str], rel_dir: str = ""
    ) -> None:
        """Verdicts on ``files`` into ``plan``; the piece is noted when all were decided."""
        if not files:
            return
        decided = True
        for f, (verdict, digest) in zip(files, self.verdicts(files, remote), strict=True):
            if verdict is Verdict.UNREADABLE:
                plan.failures.append((f.rel_path, "cannot read: file vanished or is unreadable"))
                decided = False
            elif verdict is Verdict.UNCHANGED:
                plan.unchanged += 1
            elif verdict is Verdict.RESUMED:
                plan.resumed += 1
            else:
                job = FileJob(f.rel_path, f.abs_path, f.size, f.mtime_ns, digest, inode=f.inode)
                (plan.large if f.size > self.large_threshold else plan.small).append(job)
        if decided and plan.digest:
            sends = plan.small or plan.large or plan.resumed
            self.state.note_piece(rel_dir, plan.digest, SENT if sends else SAME)

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
                if self.hash_file is not None:
                    digest = self.hash_file(f, None)
                else:
                    digest = hash_file_sync(f.abs_path)[0]
            except (OSError, FileChangedError):
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
            # Worker-thread hops per directory piece (one when it is known in sync, two else):
            # every per-file step (name checks, cache lookups, hashing, verdicts) stays off
            # the event loop.
            plan, files = await anyio.to_thread.run_sync(planner.sort_piece, items, rel_dir)
            if files:
                remote = await listings.files(rel_dir)
                await anyio.to_thread.run_sync(planner.decide, plan, files, remote, rel_dir)
            planner.failures += len(plan.failures)
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


def settle_pieces(
    state: UploadState, head: Commit | None, commit: Commit | None, *, sends_failed: bool
) -> None:
    """After a run without a fatal error: the pieces it noted stand for the commit it leaves
    the branch at. Only a commit made right on ``head`` keeps what was verified against head;
    the pieces with sends count only when no send failed. Blocking: a worker thread."""
    if commit is None:
        if head is not None:  # nothing to commit: the head is what was verified
            state.settle_pieces(head.id, with_sent=False)
    elif tuple(commit.parent_ids) == ((head.id,) if head is not None else ()):
        state.settle_pieces(commit.id, with_sent=not sends_failed)
