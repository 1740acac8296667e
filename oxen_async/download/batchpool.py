"""Small files waiting for a ``QUERY /versions``: a batch is cut when a request slot is free,
not when its files are listed, and sized from what is left then.

Why: the real oxen-server (actix) builds a batch's tar and gzip on the worker thread that
accepted its connection (one worker per core), so a batch is one core's work until it ends.
Cut as the listing came, the last batches were full ones, and on real 0.65.2 (2 cores) a
download of 20,000 small files ended with one worker busy and the other idle for ~0.6 s of
5.5 s. Here, once the listing is over, a batch is a slot's share of what is left (guided
self-scheduling: ``ceil(left / slots)``, at least ``min_files``), so the last batches are small
and end close together. While the listing runs, batches grow as before (``first_files``, twice
that, ... up to ``batch_files``), so every slot has a request out early.

Memory: at most about ``capacity`` paths wait here (the listing waits for room), besides the
batches in flight; many paths of one content count as many (a folder of a million empty files
is one content, and its paths go out ``capacity`` or so at a time).
"""

from __future__ import annotations

from collections import OrderedDict

import anyio

from .batch import Blob


class BatchPool:
    """Waiting small files by content (paths of the same bytes share one blob)."""

    def __init__(
        self,
        slots: int,
        *,
        first_files: int,
        batch_files: int,
        batch_bytes: int,
        capacity: int,
    ) -> None:
        self.slots = slots
        self.batch_files = batch_files
        self.batch_bytes = batch_bytes
        self.min_files = min(first_files, batch_files)
        self.capacity = max(capacity, batch_files)
        self._next = self.min_files  # the listing's ramp: doubles at each batch cut
        self._waiting: OrderedDict[str, Blob] = OrderedDict()
        self._bytes = 0
        self._paths = 0
        self.closed = False
        self._changed = anyio.Event()

    # --- the listing's side ----------------------------------------------------------------------

    def add(self, content_id: str, size: int, target: tuple[str, str]) -> None:
        """One path to fetch; call ``notify`` after a run of adds."""
        blob = self._waiting.get(content_id)
        if blob is None:
            blob = self._waiting[content_id] = Blob(content_id, size)
            self._bytes += size
        blob.targets.append(target)
        self._paths += 1

    def notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def room(self) -> None:
        """Wait while ``capacity`` paths are waiting."""
        while self._paths >= self.capacity and not self.closed:
            await self._changed.wait()

    def close(self) -> None:
        """The listing is over: what waits is all there will be."""
        self.closed = True
        self.notify()

    # --- the batches' side -----------------------------------------------------------------------

    def _size(self) -> int:
        if not self.closed:
            return self._next
        share = -(-len(self._waiting) // self.slots)
        return max(self.min_files, min(self._next, share))

    def ready(self) -> bool:
        """Whether a batch can be cut now."""
        if not self._waiting:
            return False
        return (
            self.closed
            or len(self._waiting) >= self._size()
            or self._bytes >= self.batch_bytes
            or self._paths >= self.capacity
        )

    def cuttable(self) -> int:
        """How many batches what waits would make now (for how many senders to start)."""
        if not self.ready():
            return 0
        waiting, size = len(self._waiting), self._size()
        return -(-waiting // size) if self.closed else max(1, waiting // size)

    async def wait_ready(self) -> bool:
        """Wait until a batch can be cut; False when there will be none (closed and empty)."""
        while not self.ready():
            if self.closed and not self._waiting:
                return False
            await self._changed.wait()
        return True

    def take(self) -> list[Blob]:
        """The next batch (oldest first), or [] when none can be cut now. Up to its size in
        files and ``batch_bytes`` in bytes (at least one file)."""
        if not self.ready():
            return []
        size = self._size()
        blobs: list[Blob] = []
        taken_bytes = 0
        while self._waiting and len(blobs) < size:
            content_id, blob = next(iter(self._waiting.items()))
            if blobs and taken_bytes + blob.size > self.batch_bytes:
                break
            del self._waiting[content_id]
            taken_bytes += blob.size
            self._paths -= len(blob.targets)
            blobs.append(blob)
        self._bytes -= taken_bytes
        self._next = min(2 * self._next, self.batch_files)
        self.notify()  # room for the listing
        return blobs
