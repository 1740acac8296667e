"""The version store: content blobs at ``versions/files/{h[:2]}/{h[2:]}/data`` like the real one.

As on the real server the location uses the client's string verbatim while verification compares
numbers, so a zero-padded or uppercase name passes the check and lands where no tree looks.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import threading
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import msgspec

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


class BlobReader:
    """Reads one blob, whether loose or inside a pack; ``size`` bytes at most."""

    def __init__(self, path: Path, offset: int, size: int) -> None:
        self.size = size
        self._remaining = size
        self._handle: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by close()
        if offset:
            self._handle.seek(offset)

    def read(self, limit: int = _READ_PIECE) -> bytes:
        piece = self._handle.read(min(limit, self._remaining)) if self._remaining else b""
        self._remaining -= len(piece)
        return piece

    def skip(self, count: int) -> None:
        """Move ``count`` bytes forward without reading them (ranged reads)."""
        count = min(count, self._remaining)
        self._handle.seek(count, os.SEEK_CUR)
        self._remaining -= count

    def close(self) -> None:
        self._handle.close()


class VersionStore:
    """Blobs of one repository. Blocking I/O: call from worker threads.

    Two layouts, one namespace of names: single blobs (chunked uploads, branch uploads) are
    loose files at the real server's path; batches (``POST /versions``, workspace uploads) go
    into one pack file per request, so a 500-file batch costs one file creation instead of a
    thousand directory and file creations. A pack is written to the tmp dir and renamed into
    place with its index in front, so it is either wholly there or absent.
    """

    def __init__(self, oxen_dir: Path, tmp_dir: Path) -> None:
        self.root = oxen_dir / "versions" / "files"
        self._root_text = str(self.root)
        self.packs_dir = oxen_dir / "versions" / "packs"
        self.tmp_dir = tmp_dir
        self._lock = threading.Lock()
        self._packed: dict[str, tuple[str, int, int]] = {}  # name -> (pack, offset, size)
        self._load_packs()

    def _load_packs(self) -> None:
        if not self.packs_dir.is_dir():
            return
        for pack in sorted(self.packs_dir.iterdir()):
            try:
                for name, offset, size in _read_pack_index(pack):
                    self._packed[name] = (pack.name, offset, size)
            except (OSError, ValueError, msgspec.DecodeError):
                continue  # not a pack we wrote; ignore it

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

    def _loose_size(self, name: str) -> int | None:
        # Hot path (every batch part): plain strings, no pathlib objects.
        if len(name) < 2 or "/" in name or "\x00" in name or name[:2] in ("..", "."):
            return None
        try:
            return os.stat(os.path.join(self._root_text, name[:2], name[2:], "data")).st_size
        except (FileNotFoundError, NotADirectoryError, UnicodeEncodeError, ValueError):
            return None

    def has(self, name: str) -> bool:
        return name in self._packed or self._loose_size(name) is not None

    def size(self, name: str) -> int | None:
        packed = self._packed.get(name)
        return packed[2] if packed is not None else self._loose_size(name)

    def names(self) -> list[str]:
        """Every stored name (loose and packed); for integrity checks."""
        loose = [p.parent.parent.name + p.parent.name for p in self.root.glob("*/*/data")]
        return sorted(set(loose) | set(self._packed))

    def open(self, name: str) -> BlobReader:
        packed = self._packed.get(name)
        if packed is not None:
            pack, offset, size = packed
            return BlobReader(self.packs_dir / pack, offset, size)
        path = self.data_path(name)
        return BlobReader(path, 0, os.stat(path).st_size)

    def read(self, name: str) -> bytes:
        reader = self.open(name)
        try:
            return reader.read(reader.size)
        finally:
            reader.close()

    def batch(self) -> PackWriter:
        return PackWriter(self)

    def verify(self, name: str, data: bytes | memoryview) -> None:
        """The real server's check for a client-named blob: numeric comparison.

        Raises StoreError with its message for an unparsable name or a hash mismatch.
        """
        expected = parse_hash(name)
        if expected is None:
            raise StoreError(f"Failed to store version: Invalid integer: {name}")
        actual = hash_bytes(data)
        if int(actual, 16) != expected:
            target = self.data_path(name)
            raise StoreError(
                f'Failed to store version: Hash mismatch writing "{target}": '
                f"expected {format_hash(expected)}, got {actual}"
            )

    def adopt(self, content_hash: str, finished: Path) -> None:
        """Move a finished, verified file into place as a loose blob (skip if present)."""
        if self.has(content_hash):
            return
        target = self.data_path(content_hash)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(finished, target)

    def store_hashed(self, content_hash: str, data: bytes | memoryview) -> None:
        """Store one blob whose canonical hash the server computed; skip if present."""
        if self.has(content_hash):
            return
        target = self.data_path(content_hash)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data, self.tmp_dir)

    def _add_pack(self, pack: str, index: list[tuple[str, int, int]]) -> None:
        with self._lock:
            for name, offset, size in index:
                self._packed[name] = (pack, offset, size)

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


_PACK_MAGIC = b"OXPACK1\n"
_encode_index = msgspec.msgpack.Encoder().encode
_decode_index = msgspec.msgpack.Decoder(list[tuple[str, int, int]]).decode


def _read_pack_index(pack: Path) -> list[tuple[str, int, int]]:
    """(name, absolute offset, size) of every blob in a pack."""
    with open(pack, "rb") as handle:
        header = handle.read(len(_PACK_MAGIC) + 8)
        if header[: len(_PACK_MAGIC)] != _PACK_MAGIC:
            raise ValueError(f"not a pack: {pack}")
        (length,) = struct.unpack("<Q", header[len(_PACK_MAGIC) :])
        return _decode_index(handle.read(length))


class PackWriter:
    """Collects the new blobs of one request and writes them as one pack (``flush``)."""

    def __init__(self, store: VersionStore) -> None:
        self.store = store
        self._blobs: dict[str, bytes | memoryview] = {}

    def has(self, name: str) -> bool:
        return name in self._blobs or self.store.has(name)

    def add(self, name: str, data: bytes | memoryview) -> None:
        """Queue a blob unless it is already stored (skip-if-exists, as the real server)."""
        if not self.has(name):
            self._blobs[name] = data

    def flush(self) -> None:
        if not self._blobs:
            return
        names = list(self._blobs)
        relative: list[tuple[str, int, int]] = []
        position = 0
        for name in names:
            size = len(self._blobs[name])
            relative.append((name, position, size))
            position += size
        # Index offsets are absolute; their encoded length depends on them, so settle it.
        start = len(_PACK_MAGIC) + 8 + len(_encode_index(relative))
        while True:
            index = [(name, start + offset, size) for name, offset, size in relative]
            encoded = _encode_index(index)
            if len(_PACK_MAGIC) + 8 + len(encoded) == start:
                break
            start = len(_PACK_MAGIC) + 8 + len(encoded)
        header = _PACK_MAGIC + struct.pack("<Q", len(encoded)) + encoded
        pack = f"{uuid.uuid4().hex}.pack"
        self.store.packs_dir.mkdir(parents=True, exist_ok=True)
        write_chunks_atomic(
            self.store.packs_dir / pack,
            [header, *(self._blobs[name] for name in names)],
            self.store.tmp_dir,
        )
        self.store._add_pack(pack, index)
        self._blobs.clear()
