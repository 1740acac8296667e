"""Uploads of one version file in parts (oxen-server 0.65's ``/versions/uploads``).

The real server's rules (liboxen ``repositories/versions/uploads.rs``, checked on a running
0.65.2): parts are numbered from 1, each exactly ``part_size`` but the last; a part may arrive at
most ``part_window`` parts from the first part not yet hashed; parts are hashed in order as the
run before them completes, so the file is published under its hash only once its bytes match.
A part re-sent while its first copy is being stored is deferred (429); re-sent once stored it is
accepted and ignored; once the upload completed or was aborted, any part gets 404. Uploads live
in memory only, and one idle for ``idle_timeout`` (60 s on the real server) is aborted.

``memory`` bounds one upload's parts held at once (the real ``MAX_UPLOAD_MEMORY``, 1 GiB), and
so sets its window: ``max(1, memory // part_size)``. It is per upload on the real server, not a
pool shared across uploads as shared/oxen-api part 3 says: concurrent uploads each get 102.

All methods block (locks, disk): call them from worker threads, except the cheap admission.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from oxen_async.hashing import StreamingHasher, format_hash
from oxen_async.testing.blobs import parse_hash
from oxen_async.testing.filetypes import FileMeta, StreamingDescriber
from oxen_async.testing.storage import Repository

MAX_FILE_SIZE = 1 << 40
DEFAULT_PART_SIZE = 10 * 1024 * 1024
DEFAULT_MEMORY = 1 << 30
DEFAULT_IDLE_TIMEOUT = 60.0


def _default_part_size() -> int:
    # The real server reads the same variable (liboxen constants::stream_segment_size).
    raw = os.environ.get("OXEN_STREAM_SEGMENT_SIZE", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_PART_SIZE


@dataclass(frozen=True)
class UploadLimits:
    part_size: int = field(default_factory=_default_part_size)
    memory: int = DEFAULT_MEMORY
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT


class UploadRefused(Exception):
    """Never acceptable (400): ``str()`` is the text after ``Version upload refused: ``."""


class PartDeferred(Exception):
    """Acceptable later (429 + Retry-After: 1); ``str()`` is the real server's full message."""


class UploadNotFound(Exception):
    """No such open upload (404); ``str()`` is the real server's message."""

    def __init__(self, upload_id: str) -> None:
        super().__init__(f"Version upload {upload_id} not found")


@dataclass(frozen=True)
class Destination:
    workspace_id: str
    path: str


@dataclass(frozen=True)
class Completed:
    """What the completing part produced: the blob is stored; stage ``meta`` at ``destination``."""

    meta: FileMeta
    destination: Destination | None


class Upload:
    """One file arriving in parts. ``_lock`` guards the progress fields; the hasher (and the
    spool it writes to, in hash order) belongs to whichever thread took the current run."""

    def __init__(
        self,
        repo: Repository,
        expected: int,
        size: int,
        limits: UploadLimits,
        dest: Destination | None,
    ) -> None:
        self.id = str(uuid.uuid4())
        self.repo = repo
        self.expected = expected
        self.size = size
        self.part_size = max(limits.part_size, -(-size // 10_000))  # at most 10,000 parts (S3)
        self.num_parts = -(-size // self.part_size)
        self.part_window = max(1, limits.memory // self.part_size)
        self.destination = dest
        self._lock = threading.Lock()
        self._hasher: StreamingHasher | None = StreamingHasher()
        self._describer = StreamingDescriber()
        self.hashed_to = 1  # the first part not yet in the hash
        self._taken_to = 1  # the first part not yet taken for hashing
        self._in_flight: set[int] = set()
        self._early: dict[int, bytes] = {}
        self.last_active = time.monotonic()
        self.ended = False
        repo.tmp_dir.mkdir(parents=True, exist_ok=True)
        self._spool_path: Path = repo.tmp_dir / f"upload-{self.id}"
        self._spool: BinaryIO = open(self._spool_path, "wb")  # noqa: SIM115 - closed on end

    # --- admission (cheap; the handler calls it before reading the body) -------------------

    def part_length(self, number: int) -> int:
        if number == self.num_parts:
            return self.size - (number - 1) * self.part_size
        return self.part_size

    def receive(self, number: int) -> bool:
        """Admit part ``number`` for storing: True, or False when it was received already."""
        if number == 0 or number > self.num_parts:
            raise self._refused(f"part {number} is not between 1 and {self.num_parts}")
        with self._lock:
            if self.ended:
                raise UploadNotFound(self.id)
            if number < self._taken_to or number in self._early:
                if self._taken_to > self.num_parts:
                    raise self._deferred(number, "the upload is completing")
                return False
            if number in self._in_flight:
                raise self._deferred(number, "an earlier copy of it is still being stored")
            if number - self.hashed_to >= self.part_window:
                raise self._deferred(
                    number,
                    f"the upload accepts {self.part_window} parts at once, "
                    f"starting at part {self.hashed_to}",
                )
            self._in_flight.add(number)
            return True

    def release(self, number: int) -> None:
        """The admitted part is done (stored or failed): it may be sent again if not stored."""
        with self._lock:
            self._in_flight.discard(number)
            self.last_active = time.monotonic()

    def is_idle(self, now: float, timeout: float) -> bool:
        with self._lock:
            return not self._in_flight and now - self.last_active >= timeout

    # --- storing (worker thread) -----------------------------------------------------------

    def store(self, number: int, data: bytes) -> Completed | None:
        """Keep an admitted part; hash every run it unblocks. Completed once the last is in."""
        if len(data) != self.part_length(number):
            raise self._refused(
                f"part {number} is {len(data)} bytes, not {self.part_length(number)}"
            )
        with self._lock:
            if self.ended:
                raise UploadNotFound(self.id)
            self._early[number] = data
            run = self._take_run()
        while run is not None:
            hasher, parts = run
            try:
                for part in parts:
                    hasher.update(part)
                    self._describer.update(part)
                    self._spool.write(part)
            except (OSError, ValueError):
                if self.ended:  # aborted under us: the spool is gone
                    raise UploadNotFound(self.id) from None
                raise
            with self._lock:
                if self.ended:
                    raise UploadNotFound(self.id)
                self.hashed_to = self._taken_to
                if self.hashed_to > self.num_parts:
                    self.ended = True
                    break
                self._hasher = hasher
                run = self._take_run()
        if run is None:
            return None
        return self._complete(run[0].hexdigest())

    def _take_run(self) -> tuple[StreamingHasher, list[bytes]] | None:
        """Caller holds ``_lock``. The hasher and the early parts that continue it, if free."""
        if self._hasher is None or self._taken_to not in self._early:
            return None
        hasher, self._hasher = self._hasher, None
        parts: list[bytes] = []
        while self._taken_to in self._early:
            parts.append(self._early.pop(self._taken_to))
            self._taken_to += 1
        return hasher, parts

    def _complete(self, actual: str) -> Completed:
        self._spool.close()
        if int(actual, 16) != self.expected:
            self._spool_path.unlink(missing_ok=True)
            raise self._refused(
                f"the file's {self.size} bytes hash to {actual}, not {format_hash(self.expected)}"
            )
        name = format_hash(self.expected)
        try:
            self.repo.versions.adopt(name, self._spool_path)
        finally:
            self._spool_path.unlink(missing_ok=True)
        path = self.destination.path if self.destination else ""
        return Completed(self._describer.finish(name, path), self.destination)

    def abort(self) -> None:
        with self._lock:
            self.ended = True
            self._early.clear()
        # A thread hashing a run still holds the spool; closing under it fails its write.
        self._spool.close()
        self._spool_path.unlink(missing_ok=True)

    def _refused(self, reason: str) -> UploadRefused:
        return UploadRefused(f"{reason} (upload {self.id})")

    def _deferred(self, number: int, reason: str) -> PartDeferred:
        return PartDeferred(
            f"Part {number} of version upload {self.id} cannot be stored yet: {reason}"
        )


class UploadRegistry:
    """Every open upload of a server, by id; the idle sweep runs on the server's loop."""

    def __init__(self, limits: UploadLimits | None = None) -> None:
        self.limits = limits or UploadLimits()
        self._lock = threading.Lock()
        self._uploads: dict[str, Upload] = {}

    @staticmethod
    def check(hash_text: str, size: int) -> int:
        """The hash's value, or UploadRefused for a hash or size no upload can have."""
        expected = parse_hash(hash_text)
        if expected is None:
            raise UploadRefused(f"'{hash_text}' is not a version file hash")
        if size == 0:
            raise UploadRefused("a file of zero bytes has no parts")
        if size > MAX_FILE_SIZE:
            raise UploadRefused(
                f"a file of {size} bytes is larger than the {MAX_FILE_SIZE} bytes an upload takes"
            )
        return expected

    @staticmethod
    def canonical(hash_text: str) -> str:
        """The stored name: a leading-zero or uppercase spelling publishes as ``{:x}``."""
        return format_hash(UploadRegistry.check(hash_text, 1))

    def begin(
        self, repo: Repository, hash_text: str, size: int, dest: Destination | None
    ) -> Upload | None:
        """A new upload, or None when the store already holds the file (nothing to send)."""
        expected = self.check(hash_text, size)
        if repo.versions.has(format_hash(expected)):
            return None
        upload = Upload(repo, expected, size, self.limits, dest)
        with self._lock:
            self._uploads[upload.id] = upload
        return upload

    def find(self, repo: Repository, upload_id: str) -> Upload:
        with self._lock:
            upload = self._uploads.get(upload_id)
        if upload is None or upload.repo is not repo or upload.ended:
            raise UploadNotFound(upload_id)
        return upload

    def forget(self, upload: Upload) -> None:
        with self._lock:
            self._uploads.pop(upload.id, None)

    def count(self) -> int:
        with self._lock:
            return len(self._uploads)

    def abort_idle(self, now: float | None = None) -> int:
        """Abort every upload with no part arriving for ``idle_timeout``; how many."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            idle = [
                u for u in self._uploads.values() if u.is_idle(moment, self.limits.idle_timeout)
            ]
            for upload in idle:
                del self._uploads[upload.id]
        for upload in idle:
            upload.abort()
        return len(idle)

    def abort_all(self) -> None:
        with self._lock:
            doomed = list(self._uploads.values())
            self._uploads.clear()
        for upload in doomed:
            upload.abort()

    def sweep_period(self) -> float:
        """The real server checks every 10 s; a shorter timeout (tests) is checked sooner."""
        return min(10.0, max(0.02, self.limits.idle_timeout / 4))
