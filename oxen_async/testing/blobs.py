"""The version store: content blobs at ``versions/files/{h[:2]}/{h[2:]}/data`` like the real one.

As on the real server the location uses the client's string verbatim while verification compares
numbers, so a zero-padded or uppercase name passes the check and lands where no tree looks.
"""

from __future__ import annotations

import os
import re
import shutil
import zlib
from collections.abc import Iterator
from pathlib import Path

from oxen_async.hashing import StreamingHasher, format_hash, hash_bytes
from oxen_async.testing.atomic import write_atomic, write_chunks_atomic
from oxen_async.testing.filetypes import FileMeta, StreamingDescriber

# stream_segment_size(): the inflate cap for gzip parts, and the official chunk size.
GZIP_CAP = 10 * 1024 * 1024
_HEX = re.compile(r"\+?[0-9a-fA-F]+")
_READ_PIECE = 1024 * 1024


class StoreError(Exception):
    """A per-file failure; ``str(error)`` is the real server's message."""


class BadVersionName(Exception):
    """A name the real server cannot even slice into a path (it panics: a 500 for the batch)."""


def parse_hash(text: str) -> int | None:
    """Rust ``u128::from_str_radix(text, 16)``: no spaces, no underscores, at most 128 bits."""
    if not _HEX.fullmatch(text):
        return None
    value = int(text, 16)
    return value if value < 1 << 128 else None


def inflate(data: bytes | memoryview) -> bytes:
    """Gunzip one part, refusing output beyond GZIP_CAP the way the real server words it."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, GZIP_CAP + 1)
    except zlib.error as error:
        raise StoreError(
            f"Failed to decompress version: Failed to decompress gzipped data: {error}"
        ) from None
    if len(out) > GZIP_CAP:
        raise StoreError(
            f"Failed to decompress version: Decompressed size {GZIP_CAP + 1} exceeds the "
            f"{GZIP_CAP} byte limit"
        )
    if not inflater.eof:
        raise StoreError(
            "Failed to decompress version: Failed to decompress gzipped data: "
            "corrupt deflate stream"
        )
    return out


class VersionStore:
    """Blobs of one repository. Blocking I/O: call from worker threads."""

    def __init__(self, oxen_dir: Path, tmp_dir: Path) -> None:
        self.root = oxen_dir / "versions" / "files"
        self.tmp_dir = tmp_dir

    def version_dir(self, name: str) -> Path:
        encoded = name.encode("utf-8", "surrogateescape")
        if len(encoded) < 2 or "/" in name or "\x00" in name or name[:2] in ("..", "."):
            raise BadVersionName(name)
        try:
            first = encoded[:2].decode("utf-8")
        except UnicodeDecodeError:
            raise BadVersionName(name) from None
        return self.root / first / encoded[2:].decode("utf-8", "surrogateescape")

    def data_path(self, name: str) -> Path:
        return self.version_dir(name) / "data"

    def has(self, name: str) -> bool:
        try:
            return self.data_path(name).is_file()
        except BadVersionName:
            return False

    def size(self, name: str) -> int | None:
        try:
            return self.data_path(name).stat().st_size
        except (BadVersionName, FileNotFoundError, NotADirectoryError):
            return None

    def store_verified(self, name: str, data: bytes | memoryview) -> bool:
        """``POST /versions`` semantics: skip if present, else verify numerically and write.

        Returns True when written. Raises StoreError on a bad name or hash mismatch.
        """
        target = self.data_path(name)
        if target.is_file():
            return False
        expected = parse_hash(name)
        if expected is None:
            raise StoreError(f"Failed to store version: Invalid integer: {name}")
        actual = hash_bytes(data)
        if int(actual, 16) != expected:
            raise StoreError(
                f'Failed to store version: Hash mismatch writing "{target}": '
                f"expected {format_hash(expected)}, got {actual}"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data, self.tmp_dir)
        return True

    def store_hashed(self, content_hash: str, data: bytes | memoryview) -> None:
        """Store content whose canonical hash the server computed itself; skip if present."""
        target = self.data_path(content_hash)
        if target.is_file():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data, self.tmp_dir)

    def read(self, name: str) -> bytes:
        return self.data_path(name).read_bytes()

    def iter_read(self, name: str) -> Iterator[bytes]:
        with open(self.data_path(name), "rb") as handle:
            while piece := handle.read(_READ_PIECE):
                yield piece

    # --- chunked uploads ---------------------------------------------------------------------

    def put_chunk(self, name: str, offset: int, data: bytes) -> bool:
        """First write at an offset wins; a re-sent chunk is silently kept as it was."""
        target = self.version_dir(name) / "chunks" / str(offset) / "chunk"
        if target.exists():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data, self.tmp_dir)
        return True

    def complete(self, name: str, expected_chunks: int, path_hint: str) -> FileMeta:
        """Join the chunks in numeric offset order, verify, write ``data``, drop the chunks.

        Errors (as StoreError, all answered 500 by the caller): chunk count mismatch is raised as
        ValueError for the 400 the real server gives; a hash mismatch keeps the chunks.
        """
        chunk_root = self.version_dir(name) / "chunks"
        try:
            offsets = sorted(int(entry.name) for entry in os.scandir(chunk_root) if entry.is_dir())
        except FileNotFoundError:
            raise StoreError(f"No such file or directory (os error 2): {chunk_root}") from None
        if len(offsets) != expected_chunks:
            raise ValueError(
                "Number of chunks does not match expected number of chunks: "
                f"{len(offsets)} != {expected_chunks}"
            )
        expected = parse_hash(name)
        if expected is None:
            raise StoreError(f"Invalid integer: {name}")
        hasher = StreamingHasher()
        describer = StreamingDescriber()
        target = self.data_path(name)

        def pieces() -> Iterator[bytes]:
            for offset in offsets:
                with open(chunk_root / str(offset) / "chunk", "rb") as handle:
                    while piece := handle.read(_READ_PIECE):
                        hasher.update(piece)
                        describer.update(piece)
                        yield piece

        # Write to a scratch name first: a mismatch must not leave a wrong ``data`` behind.
        scratch = self.tmp_dir / f"complete-{os.getpid()}-{id(hasher)}"
        write_chunks_atomic(scratch, pieces(), self.tmp_dir)
        actual = hasher.hexdigest()
        if int(actual, 16) != expected:
            scratch.unlink(missing_ok=True)
            raise StoreError(
                f'Hash mismatch writing "{target}": expected {format_hash(expected)}, got {actual}'
            )
        os.replace(scratch, target)
        shutil.rmtree(chunk_root, ignore_errors=True)
        return describer.finish(actual, path_hint)
