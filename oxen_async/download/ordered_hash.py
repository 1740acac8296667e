"""xxh3 of a file whose pieces are written out of order (ranges in flight at once), hashed as
they are written, so the finished file is never read back to be checked.

The hash needs the bytes in order: a cursor hashes each piece that continues it; a piece
ahead of the cursor is held in memory until the cursor reaches it, up to ``held_limit`` bytes
(beyond that it is only noted, and read back from the file when its turn comes: memory stays
bounded whatever the order, and a read back is of bytes just written, in the page cache).
Every offset must be added exactly once (a range cut off resumes where it stopped).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

import xxhash

from ..hashing import format_hash

HELD_LIMIT = 16 * 1024 * 1024
_READ_BACK = 4 * 1024 * 1024


class OrderedHasher:
    """``add(offset, data)`` after each piece is written to ``fd`` (from any thread)."""

    def __init__(self, fd: int, held_limit: int = HELD_LIMIT) -> None:
        self._fd = fd
        self._limit = held_limit
        self._hasher = xxhash.xxh3_128()
        self._lock = threading.Lock()
        self._held: dict[int, Sequence[bytes]] = {}
        self._held_bytes = 0
        self._noted: dict[int, int] = {}  # offset -> length, written but not held
        self.cursor = 0
        self.read_back = 0  # bytes hashed from the file, not from memory

    def add(self, offset: int, data: bytes) -> None:
        self.add_pieces(offset, (data,), len(data))

    def add_pieces(self, offset: int, pieces: Sequence[bytes], size: int) -> None:
        """``pieces`` (``size`` bytes in all) written back to back from ``offset``: network
        chunks as they came, so nobody joins them into one buffer first."""
        with self._lock:
            if offset == self.cursor:
                self._update(pieces, size)
                self._drain()
            elif self._held_bytes + size <= self._limit:
                self._held[offset] = pieces
                self._held_bytes += size
            else:
                self._noted[offset] = size

    def _update(self, pieces: Sequence[bytes], size: int) -> None:
        for piece in pieces:
            self._hasher.update(piece)
        self.cursor += size

    def _drain(self) -> None:
        while True:
            pieces = self._held.pop(self.cursor, None)
            if pieces is not None:
                size = sum(len(piece) for piece in pieces)
                self._held_bytes -= size
                self._update(pieces, size)
                continue
            length = self._noted.pop(self.cursor, None)
            if length is None:
                return
            end = self.cursor + length
            while self.cursor < end:
                piece = os.pread(self._fd, min(_READ_BACK, end - self.cursor), self.cursor)
                if not piece:
                    raise OSError(f"the file ends at {self.cursor}, before {end}")
                self._hasher.update(piece)
                self.cursor += len(piece)
                self.read_back += len(piece)

    def hexdigest(self) -> str:
        return format_hash(self._hasher.intdigest())
