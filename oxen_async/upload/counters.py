"""Every count of one upload, each kept once under one name, and the report built from them.

``progress`` is the live view handed to the progress callback; the rest (failures, request
counts, bytes on the wire) only the report shows. The files that landed are counted once, in
``progress.files_sent`` (the report's ``files_uploaded``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..models import Commit
from .looplag import LoopLagMonitor
from .report import FileFailure, ProgressCallback, Status, UploadProgress, UploadReport

GIVE_UP_LIMIT = 3  # requests in a row that exhaust their retries: the server is gone, stop


def display(rel_path: str) -> str:
    """A path fit for the report: undecodable bytes of a file name shown as escapes."""
    return os.fsencode(rel_path).decode("utf-8", "backslashreplace")


@dataclass
class Counters:
    on_progress: ProgressCallback | None = None
    progress: UploadProgress = field(default_factory=UploadProgress)
    failures: list[FileFailure] = field(default_factory=list)
    # Files whose request exhausted its retries on a transient error: failed if the upload goes
    # on to the end, pending (sent by a rerun) if the server turned out gone and it stopped.
    unsent: list[FileFailure] = field(default_factory=list)
    symlink_dirs: list[str] = field(default_factory=list)
    removed: int = 0
    wire_bytes: int = 0
    large_files: int = 0
    large_already_stored: int = 0
    batches: int = 0
    batch_retries: int = 0
    file_retries: int = 0

    def emit(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress)

    def phase(self, name: str) -> None:
        self.progress.phase = name
        self.emit()

    def sent(self, files: int, size: int) -> None:
        """``files`` of ``size`` bytes are staged in the workspace."""
        self.progress.phase = "uploading"
        self.progress.files_sent += files
        self.progress.bytes_sent += size
        self.emit()

    def fail(self, rel_path: str, reason: str) -> None:
        self.failures.append(FileFailure(display(rel_path), reason))
        self.progress.files_failed += 1

    def not_sent(self, rel_path: str, reason: str) -> None:
        self.unsent.append(FileFailure(display(rel_path), reason))
        self.progress.files_failed += 1


class GiveUps:
    """Requests that exhausted their retries: what they carried may be staged anyway (so it is
    unstaged before the merge), and several in a row mean the server is gone."""

    def __init__(self, limit: int = GIVE_UP_LIMIT) -> None:
        self.limit = limit
        self.in_a_row = 0
        self.unsent: list[str] = []  # remote paths of requests given up

    def succeeded(self) -> None:
        self.in_a_row = 0

    def gave_up(self, exc: Exception, remote_paths: list[str]) -> None:
        """Count one; raise ``exc`` (ending the upload: what is left stays pending for a
        rerun) when ``limit`` came in a row, instead of trying every batch."""
        self.unsent.extend(remote_paths)
        self.in_a_row += 1
        if self.in_a_row >= self.limit:
            raise exc


def build_report(
    counters: Counters,
    lag: LoopLagMonitor,
    *,
    repo: str,
    branch: str,
    dest: str,
    commit: Commit | None,
    error: str | None,
    elapsed_s: float,
) -> UploadReport:
    p = counters.progress
    failures, pending = counters.failures, p.files_seen - p.files_done
    if error is None:
        failures = failures + counters.unsent
    else:
        pending += len(counters.unsent)  # one cause (the error), not one line per file
    status: Status
    if error is not None:
        status = "failed"
    elif commit is not None:
        status = "committed"
    else:
        status = "nothing_to_commit"
    return UploadReport(
        repo=repo,
        branch=branch,
        dest=dest,
        status=status,
        commit_id=commit.id if commit else None,
        files_total=p.files_seen,
        files_uploaded=p.files_sent,
        files_unchanged=p.files_unchanged,
        files_resumed=p.files_resumed,
        files_pending=pending,
        files_removed=counters.removed,
        failed=sorted(failures, key=lambda f: f.path),
        bytes_total=p.bytes_seen,
        bytes_uploaded=p.bytes_sent,
        wire_bytes=counters.wire_bytes,
        large_files=counters.large_files,
        large_already_stored=counters.large_already_stored,
        batches=counters.batches,
        batch_retries=counters.batch_retries,
        file_retries=counters.file_retries,
        skipped_symlink_dirs=sorted(counters.symlink_dirs),
        elapsed_s=round(elapsed_s, 3),
        loop_lag_p99_ms=round(lag.percentile_ms(0.99), 2),
        loop_lag_max_ms=round(lag.max_ms(), 2),
        error=error,
    )
