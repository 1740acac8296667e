"""Oxen content ids: xxh3-128 of the raw bytes, as unpadded lowercase hex.

The server formats ids with Rust's ``{:x}``, so about one id in sixteen is shorter than 32
characters; ``xxh3_128_hexdigest`` pads and would be the wrong id for those files.
"""

from __future__ import annotations

import os
from typing import Protocol

import anyio.to_thread
import xxhash

# Read files in 4 MiB pieces: large enough to amortise syscalls, small enough to bound memory.
READ_CHUNK = 4 * 1024 * 1024


def format_hash(value: int) -> str:
    """The server's text form of a 128-bit hash."""
    return format(value, "x")


def hash_bytes(data: bytes | bytearray | memoryview) -> str:
    """Content id of ``data``."""
    return format_hash(xxhash.xxh3_128_intdigest(data))


def normalize_hash(text: str) -> str:
    """Canonical form of an id the server would accept (uppercase, zero-padded, leading ``+``).

    Raises ValueError for text that is not a 128-bit hex number.
    """
    stripped = text.strip()
    if not stripped or len(stripped.lstrip("+")) > 32:
        raise ValueError(f"not an Oxen hash: {text!r}")
    value = int(stripped, 16)
    return format_hash(value)


def same_hash(a: str, b: str) -> bool:
    """Compare two ids numerically, as the server does."""
    try:
        return int(a, 16) == int(b, 16)
    except ValueError:
        return False


class StreamingHasher:
    """Incremental xxh3-128 for data that arrives in pieces."""

    __slots__ = ("_h", "size")

    def __init__(self) -> None:
        self._h = xxhash.xxh3_128()
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._h.update(data)
        self.size += len(data)

    def hexdigest(self) -> str:
        return format_hash(self._h.intdigest())


class _Updates(Protocol):
    def update(self, data: bytes, /) -> object: ...


def hash_file_sync(path: str | os.PathLike[str], also: _Updates | None = None) -> tuple[str, int]:
    """(content id, size) of a file, read in pieces; each piece is fed to ``also`` too (a
    second hash from the same read). Blocking: call from a worker thread."""
    h = StreamingHasher()
    with open(path, "rb") as f:
        while chunk := f.read(READ_CHUNK):
            h.update(chunk)
            if also is not None:
                also.update(chunk)
    return h.hexdigest(), h.size


async def hash_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """(content id, size) of a file, hashed in a worker thread so the event loop stays free."""
    return await anyio.to_thread.run_sync(hash_file_sync, path)
