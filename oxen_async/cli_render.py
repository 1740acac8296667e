"""How the CLI shows things to a person: sizes, the live upload bar, the end-of-run summary.

Kept apart from ``cli.py`` so the parser stays readable; nothing here speaks HTTP or decides an
exit code.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from .download import DownloadReport
    from .models import Commit, MetadataEntry
    from .upload.report import UploadProgress, UploadReport

MAX_FAILURES_SHOWN = 20

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(n: float) -> str:
    """``1536`` -> ``1.5 KiB``; whole bytes below one KiB."""
    if n < 1024:
        return f"{int(n)} B"
    value = float(n)
    for unit in _UNITS[1:]:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            break
    return f"{value:.1f} {unit}"


def rate_mb_s(n_bytes: int, seconds: float) -> float:
    """Throughput in decimal MB/s, the unit network people compare."""
    return n_bytes / 1e6 / seconds if seconds > 0 else 0.0


def printable(text: str) -> str:
    """A path as one safe line: control characters (a newline in a file name) escaped.

    A file name may contain anything but '/' and NUL; printed raw, a newline or an escape
    sequence would forge lines or recolour the terminal.
    """
    if text.isprintable():
        return text
    return "".join(
        ch
        if unicodedata.category(ch)[0] != "C" or ch == " "
        else ch.encode("unicode_escape").decode()
        for ch in text
    )


def one_line(text: str) -> str:
    """Any message folded to a single line (server messages may span several)."""
    return " ".join(text.split())


# --- the live bar -----------------------------------------------------------------------------


class UploadBar:
    """A rich progress bar fed by the upload's progress callback; inert when disabled.

    The callback hands the same ``UploadProgress`` object each time, updated in place, so the bar
    only reads counters: it never keeps a reference past the call.
    """

    def __init__(self, stream: TextIO | None) -> None:
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._started = time.monotonic()
        if stream is None:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files"),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=Console(file=stream),
            transient=True,  # the summary replaces it; a finished bar is noise in scrollback
        )

    def __enter__(self) -> UploadBar:
        if self._progress is not None:
            self._progress.start()
            self._task = self._progress.add_task("scanning", total=None, detail="")
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, p: UploadProgress) -> None:
        if self._progress is None or self._task is None:
            return
        elapsed = time.monotonic() - self._started
        detail = f"{human_bytes(p.bytes_sent)} sent, {rate_mb_s(p.bytes_sent, elapsed):.1f} MB/s"
        if p.files_failed:
            detail += f", {p.files_failed} failed"
        phase = p.phase
        if phase == "scanning" and (p.scan_done or p.files_done):
            # Scanning and sending overlap; once files are moving, "uploading" is the truth.
            phase = "uploading"
        # Until the scan ends the total is unknown: an open total keeps the bar pulsing instead
        # of showing a bar that fills and then shrinks as more files are found.
        self._progress.update(
            self._task,
            description=phase,
            total=p.files_seen if p.scan_done else None,
            completed=p.files_done,
            detail=detail,
        )


# --- summaries --------------------------------------------------------------------------------


def upload_summary(report: UploadReport) -> list[str]:
    """What a person reads after an upload: outcome, counts, speed, then every failure."""
    target = f"{report.repo}@{report.branch}"
    if report.dest:
        target += f":{report.dest}"
    lines: list[str] = []
    if report.status == "committed":
        lines.append(f"Committed {report.commit_id} to {target}")
    elif report.status == "nothing_to_commit" and report.files_total == 0:
        # Not "already has these files": the branch may not even exist yet (a new repository).
        lines.append(f"Nothing to commit: the folder has no files; nothing was sent to {target}")
    elif report.status == "nothing_to_commit":
        lines.append(f"Nothing to commit: {target} already has these files")
    else:
        reason = f": {one_line(report.error)}" if report.error else ""
        lines.append(f"Upload to {target} failed{reason}")
    files = (
        f"  files: {report.files_total:,} seen, {report.files_uploaded:,} uploaded, "
        f"{report.files_unchanged:,} unchanged, {report.files_resumed:,} resumed, "
        f"{report.files_failed:,} failed"
    )
    if report.files_removed:
        files += f", {report.files_removed:,} removed from the branch"
    if report.files_pending:
        files += f", {report.files_pending:,} pending (run the same command again to resume)"
    lines.append(files)
    speed = rate_mb_s(report.bytes_uploaded, report.elapsed_s)
    lines.append(
        f"  bytes: {human_bytes(report.bytes_total)} seen, "
        f"{human_bytes(report.bytes_uploaded)} uploaded "
        f"({human_bytes(report.wire_bytes)} on the wire) in {report.elapsed_s:.1f} s, "
        f"{speed:.1f} MB/s"
    )
    if report.skipped_symlink_dirs:
        shown = ", ".join(printable(p) for p in report.skipped_symlink_dirs[:5])
        more = len(report.skipped_symlink_dirs) - 5
        lines.append(
            f"  skipped {len(report.skipped_symlink_dirs)} symlinked directories (not followed): "
            f"{shown}{f' and {more} more' if more > 0 else ''}"
        )
    if report.failed:
        lines.append(f"Failed files ({report.files_failed:,}):")
        for failure in report.failed[:MAX_FAILURES_SHOWN]:
            lines.append(f"  {printable(failure.path)}: {one_line(failure.reason)}")
        hidden = report.files_failed - MAX_FAILURES_SHOWN
        if hidden > 0:
            lines.append(f"  ... and {hidden:,} more (use --json for the full list)")
    return lines


def download_summary(report: DownloadReport, repo: str) -> list[str]:
    source = f"{repo}@{report.revision}:{report.remote_dir or '/'}"
    failed = len(report.failed)
    verb = "Downloaded" if not failed else "Downloaded with failures"
    head = f"{verb} {source} into {printable(str(report.local_dir))}"
    if report.error:
        head = f"Download of {source} stopped: {one_line(report.error)}"
    files = (
        f"  files: {len(report.downloaded):,} downloaded, {len(report.skipped):,} already there, "
        f"{failed:,} failed"
    )
    if report.files_pending:
        files += f", {report.files_pending:,} pending (run the same command again to resume)"
    lines = [
        head,
        files,
        f"  bytes: {human_bytes(report.bytes_downloaded)} in {report.seconds:.1f} s, "
        f"{rate_mb_s(report.bytes_downloaded, report.seconds):.1f} MB/s",
    ]
    if report.failed:
        lines.append(f"Failed files ({failed:,}):")
        for path, reason in sorted(report.failed.items())[:MAX_FAILURES_SHOWN]:
            lines.append(f"  {printable(path)}: {one_line(reason)}")
        if failed > MAX_FAILURES_SHOWN:
            lines.append(f"  ... and {failed - MAX_FAILURES_SHOWN:,} more (use --json)")
    return lines


def download_json(report: DownloadReport) -> str:
    """The download report as JSON, shaped like the upload report (failures as path + reason)."""
    import msgspec

    return msgspec.json.encode(
        {
            "revision": report.revision,
            "remote_dir": report.remote_dir,
            "local_dir": str(report.local_dir),
            "ok": report.ok,
            "files_downloaded": len(report.downloaded),
            "files_skipped": len(report.skipped),
            "files_from_cache": report.from_cache,
            "downloaded": list(report.downloaded),
            "skipped": list(report.skipped),
            "failed": [{"path": p, "reason": r} for p, r in sorted(report.failed.items())],
            "files_pending": report.files_pending,
            "error": report.error,
            "bytes_downloaded": report.bytes_downloaded,
            "elapsed_s": round(report.seconds, 3),
        }
    ).decode()


def listing_lines(entries: Iterable[MetadataEntry]) -> list[str]:
    """``ls`` output: size (blank for directories), then the name (``/`` after directories)."""
    lines = []
    for entry in entries:
        name = printable(entry.filename)
        if entry.is_dir:
            lines.append(f"{'-':>10}  {name}/")
        else:
            lines.append(f"{human_bytes(entry.size):>10}  {name}")
    return lines


def commit_line(commit: Commit) -> str:
    author = commit.author + (f" <{commit.email}>" if commit.email else "")
    return f"{commit.id}  {commit.timestamp[:19]}  {printable(author)}  {one_line(commit.message)}"
