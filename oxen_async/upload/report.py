"""What an upload tells its caller: live progress while it runs, a report when it ends.

The report accounts for every input file: ``files_total == uploaded + unchanged + resumed +
failed + pending`` (pending is non-zero only when a fatal error stopped the upload). It never
holds the token: it is built from paths, counts and server ids only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

Status = Literal["committed", "nothing_to_commit", "failed"]


class FileFailure(msgspec.Struct, frozen=True):
    """A file that did not land, with the reason in words."""

    path: str
    reason: str


class UploadProgress(msgspec.Struct):
    """A live snapshot handed to the progress callback (the same object, updated in place)."""

    phase: str = "scanning"  # scanning -> uploading -> committing -> done
    scan_done: bool = False
    files_seen: int = 0
    bytes_seen: int = 0
    files_unchanged: int = 0
    files_resumed: int = 0
    files_sent: int = 0
    bytes_sent: int = 0
    files_failed: int = 0

    @property
    def files_done(self) -> int:
        return self.files_unchanged + self.files_resumed + self.files_sent + self.files_failed


ProgressCallback = Callable[[UploadProgress], None]


class UploadReport(msgspec.Struct, kw_only=True):
    repo: str
    branch: str
    dest: str
    status: Status
    commit_id: str | None = None
    files_total: int = 0
    files_uploaded: int = 0
    files_unchanged: int = 0
    files_resumed: int = 0
    files_pending: int = 0  # seen but unfinished when a fatal error stopped the upload
    files_removed: int = 0  # branch files no longer in the folder (delete_missing only)
    failed: list[FileFailure] = []
    bytes_total: int = 0
    bytes_uploaded: int = 0
    wire_bytes: int = 0
    large_files: int = 0
    large_already_stored: int = 0
    """Large files the server already held: uploaded without bytes (one small request each,
    staged by it); counted in ``large_files`` and ``files_uploaded`` too."""
    batches: int = 0
    batch_retries: int = 0
    file_retries: int = 0
    skipped_symlink_dirs: list[str] = []
    manifest: str | None = None
    """The blake3 manifest's repo path, when the upload wrote one (``manifest=``)."""
    manifest_staged: bool = False
    """Whether this run changed the manifest (False: the branch's one already matched)."""
    manifest_hashed: int = 0
    """Files read again for the manifest (one per content): no blake3 known from an upload,
    no line on the branch."""
    elapsed_s: float = 0.0
    loop_lag_p99_ms: float = 0.0
    loop_lag_max_ms: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when every file was committed or skipped as unchanged."""
        return self.status != "failed" and not self.failed

    @property
    def files_failed(self) -> int:
        return len(self.failed)

    def to_json(self) -> bytes:
        return msgspec.json.encode(self)
