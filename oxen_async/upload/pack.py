"""Read, verify and compress a batch of files into multipart parts (blocking: worker threads).

A file is read with its size and mtime checked before and after the read, and hashed from the
exact bytes that are sent, so a file that changes during the upload is never committed with
bytes that do not match the hash we record. Compression is per file: gzip (level 1: the
server must inflate it again, and on a fast link CPU, not bandwidth, is the limit) only when
it saves at least a tenth; incompressible files travel raw. Files over 16 KiB are probed with a
sample first, unless recent files of the same extension already told (``CompressionMemo``).
"""

from __future__ import annotations

import os
import stat
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Literal

import msgspec

from .. import paths
from ..api.workspaces import staging_form
from ..hashing import hash_bytes
from ..manifest import blake3_bytes
from ..multipart import EncodedForm, FilePart, unsendable_filename

CompressMode = Literal["auto", "always", "never"]


def _fastest_deflate() -> ModuleType:
    # ISA-L's deflate at level 1 is about ten times zlib's speed with a better ratio (measured
    # in benchmarks/): compression stops being what a fast link waits for. zlib where no
    # wheel exists.
    try:
        from isal import isal_zlib
    except ImportError:  # pragma: no cover - platforms without an isal wheel
        return zlib
    return isal_zlib


_deflate = _fastest_deflate()

GZIP_LEVEL = 1
SAMPLE = 16 * 1024  # probe larger files with a sample before compressing them whole
MIN_GAIN = 0.9  # keep gzip only if it is at most 90% of the raw size
MIN_COMPRESS_SIZE = 256
READ_TRIES = 3


class FileJob(msgspec.Struct, gc=False):
    """One file to send. ``hash`` is what the plan saw ("" when the plan had no reason to
    hash it); pack sets it, with size, mtime and inode, from the bytes actually read.
    Out of the cyclic GC (strings and ints only): see scan.LocalFile."""

    rel_path: str
    abs_path: str
    size: int
    mtime_ns: int
    hash: str
    attempts: int = 0
    inode: int = 0
    blake3: str = ""  # for a manifest: set with ``hash``, from the same bytes


@dataclass(slots=True)
class PackedBatch:
    """A request ready to send: the multipart body is built here, in the worker thread, so the
    event loop only hands one buffer to the socket. The parts are not kept (half the memory):
    a batch that must be split is packed again from disk."""

    jobs: list[FileJob] = field(default_factory=list)
    form: EncodedForm | None = None
    raw_bytes: int = 0
    wire_bytes: int = 0
    failures: list[tuple[FileJob, str]] = field(default_factory=list)


def gzip_bytes(data: bytes, level: int = GZIP_LEVEL) -> bytes:
    # wbits=31: a gzip container, which is what oxen-server expects for application/gzip.
    packed: bytes = _deflate.compress(data, level, wbits=31)
    return packed


def _sample_compresses(data: bytes) -> bool:
    sample = data[:SAMPLE]
    return len(_deflate.compress(sample, GZIP_LEVEL)) <= MIN_GAIN * len(sample)


class CompressionMemo:
    """What gzip did for recent files of each extension, so a folder of photos (or of CSVs)
    stops paying a probe per file: after ``TRUST`` agreeing verdicts in a row an extension's
    verdict is used as is, and checked again every ``RECHECK`` files, so a mixed folder still
    adapts. Shared by the pack threads of one upload; a race only costs a probe.
    """

    TRUST = 8
    RECHECK = 32
    MAX_EXTENSIONS = 1024  # names like "x.123456" must not grow it with the folder

    def __init__(self) -> None:
        self._streak: dict[str, int] = {}  # > 0: compressed well that many times in a row; < 0: not
        self._since_check: dict[str, int] = {}
        self.probes = 0

    def verdict(self, ext: str) -> bool | None:
        """True (gzip it), False (send raw), or None (find out)."""
        streak = self._streak.get(ext, 0)
        if abs(streak) < self.TRUST:
            return None
        since = self._since_check.get(ext, 0) + 1
        if since >= self.RECHECK:
            self._since_check[ext] = 0
            return None
        self._since_check[ext] = since
        return streak > 0

    def record(self, ext: str, compressed_well: bool) -> None:
        streak = self._streak.get(ext)
        if streak is None and len(self._streak) >= self.MAX_EXTENSIONS:
            return
        streak = streak or 0
        if compressed_well:
            self._streak[ext] = streak + 1 if streak > 0 else 1
        else:
            self._streak[ext] = streak - 1 if streak < 0 else -1


def encode_content(
    data: bytes, mode: CompressMode, name: str = "", memo: CompressionMemo | None = None
) -> tuple[bytes, bool]:
    """The bytes to put on the wire for the file ``name`` and whether they are gzip."""
    if mode == "never" or (mode == "auto" and len(data) < MIN_COMPRESS_SIZE):
        return data, False
    if mode == "always":
        return gzip_bytes(data), True
    ext = os.path.splitext(name)[1].lower()
    known = memo.verdict(ext) if memo is not None else None
    if known is False:
        return data, False
    if known is None and len(data) > SAMPLE:
        if memo is not None:
            memo.probes += 1
        if not _sample_compresses(data):
            if memo is not None:
                memo.record(ext, False)
            return data, False
    packed = gzip_bytes(data)
    well = len(packed) <= MIN_GAIN * len(data)
    if memo is not None:
        memo.record(ext, well)
    return (packed, True) if well else (data, False)


def read_stable(path: str) -> tuple[bytes, os.stat_result]:
    """Read a whole file whose size and mtime do not change during the read; with its stat.

    Raw descriptor calls (open, fstat, read, fstat, close): half the cost of a buffered
    ``open().read()`` per small file, which is most of what a first upload of small files does.
    Raises OSError, or ValueError("file kept changing ...") after READ_TRIES unstable reads.
    """
    for _ in range(READ_TRIES):
        # O_NONBLOCK: a file swapped for a FIFO since the scan must not hang the open.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                raise ValueError("no longer a regular file")
            data = _read_exactly(fd, before.st_size)
            after = os.fstat(fd)
        finally:
            os.close(fd)
        stable = (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns)
        if stable and len(data) == after.st_size:
            return data, after
    raise ValueError("file kept changing while it was being read")


def _read_exactly(fd: int, size: int) -> bytes:
    """``size`` bytes, or fewer if the file ends first (it shrank: the stat check notices)."""
    data = os.read(fd, size)
    if len(data) == size or not data:
        return data
    pieces = [data]
    got = len(data)
    while got < size:
        piece = os.read(fd, size - got)
        if not piece:
            break
        pieces.append(piece)
        got += len(piece)
    return b"".join(pieces)


def check_name(rel_path: str) -> str | None:
    """Why a path cannot be uploaded under its own name, or None: the one name rule
    (``paths.name_problem``, the downloader applies it too), then what multipart can carry."""
    return paths.name_problem(rel_path) or unsendable_filename(rel_path)


def read_job(job: FileJob) -> bytes:
    """A local job's bytes (``read_stable``), its size, mtime and inode set from that read."""
    data, st = read_stable(job.abs_path)
    job.size, job.mtime_ns, job.inode = len(data), st.st_mtime_ns, st.st_ino
    return data


def pack(
    jobs: list[FileJob],
    mode: CompressMode,
    prefix: str = "",
    memo: CompressionMemo | None = None,
    blake3_too: bool = False,
    read: Callable[[FileJob], bytes] = read_job,
) -> PackedBatch:
    """Read, hash and encode ``jobs``; files that cannot be read land in ``failures``.

    Part filenames are ``prefix + rel_path``, the whole repo path, as
    ``api.workspaces.staging_form`` wants them. ``blake3_too``: set ``job.blake3`` too.
    ``read`` gets a job's bytes (a URL source passes its fetched objects, ``upload.sources``).
    """
    batch = PackedBatch()
    parts: list[FilePart] = []
    encoded: dict[str, tuple[bytes, bool]] = {}  # identical content is compressed once
    for job in jobs:
        try:
            data = read(job)
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            batch.failures.append((job, f"cannot read: {reason}"))
            continue
        job.hash = hash_bytes(data)
        if blake3_too:  # the manifest's line, from the very bytes sent
            job.blake3 = blake3_bytes(data)
        wire = encoded.get(job.hash)
        if wire is None:
            wire = encoded[job.hash] = encode_content(data, mode, job.rel_path, memo)
        batch.jobs.append(job)
        parts.append(FilePart(prefix + job.rel_path, wire[0], wire[1]))
        batch.raw_bytes += len(data)
        batch.wire_bytes += len(wire[0])
    batch.form = staging_form(parts) if parts else None
    return batch
