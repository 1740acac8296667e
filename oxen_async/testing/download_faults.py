"""Faults of the download routes (``QUERY /versions`` tars, ``/chunk`` ranges).

Reached as ``FaultController.downloads``; reset with it. Each fault counts how often it fired
(``cuts_fired``, ``wrong_bytes_fired``) so a test can assert that it did. A slow range needs
nothing here: ``FaultController.delay(route="chunk_download")`` holds each range request.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from oxen_async.hashing import normalize_hash


class DownloadFaults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cuts: list[int] = []  # member index to cut at, one entry per armed response
        self._wrong_byte: set[int] = set()
        self.cuts_fired = 0
        self.wrong_bytes_fired = 0

    def cut_tar(self, count: int = 1, *, at_member: int = 0) -> None:
        """Cut the next ``count`` batch downloads half-way through member ``at_member``
        (0-based): the client gets the bytes so far, then the connection closes."""
        with self._lock:
            self._cuts.extend([at_member] * count)

    def wrong_byte(self, *, hashes: Iterable[str]) -> None:
        """Serve these blobs with one byte changed (the middle one), in tars and ranges."""
        with self._lock:
            self._wrong_byte.update(int(normalize_hash(h), 16) for h in hashes)

    def reset(self) -> None:
        with self._lock:
            self._cuts.clear()
            self._wrong_byte.clear()
            self.cuts_fired = 0
            self.wrong_bytes_fired = 0

    # --- queried by the handlers -------------------------------------------------------------

    def take_cut(self) -> int | None:
        """The member at which this response is to be cut, if one is armed (consumed)."""
        with self._lock:
            return self._cuts.pop(0) if self._cuts else None

    def record_cut(self) -> None:
        with self._lock:
            self.cuts_fired += 1

    def wants_wrong_byte(self, content_hash: str) -> bool:
        with self._lock:
            if not self._wrong_byte:
                return False
            try:
                return int(content_hash, 16) in self._wrong_byte
            except ValueError:
                return False

    def apply_wrong_byte(self, data: bytes, offset_in_blob: int, blob_size: int) -> bytes:
        """``data`` (the blob's bytes from ``offset_in_blob``) with the blob's middle byte
        changed when ``data`` holds it; counted as fired then."""
        middle = blob_size // 2 - offset_in_blob
        if not 0 <= middle < len(data):
            return data
        with self._lock:
            self.wrong_bytes_fired += 1
        return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]
