"""The packer: jobs in, packed requests out (read, verify, compress in worker threads).

Batches fill up to the size limits, but a partial batch goes early when the server is about to
run short of work (fewer than MIN_IN_FLIGHT requests out, none ready): full batches in steady
state, no idle server at the start (when the wire limit has eight requests out at once) or
behind a slow planner.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .counters import Counters
from .pack import CompressionMemo, CompressMode, FileJob, PackedBatch, pack, read_job
from .state import UploadState

EARLY_FLUSH_FILES = 32  # the smallest batch worth a request when senders are starving
EARLY_FLUSH_BYTES = 1 * 1024 * 1024  # ... or this many bytes of it
MIN_IN_FLIGHT = 2  # requests the server should always have; fewer: send partial batches


class Packer:
    """Packs jobs into requests and remembers the hashes packing computed."""

    def __init__(
        self,
        state: UploadState,
        counters: Counters,
        *,
        compress: CompressMode,
        prefix: str,
        batch_files: int,
        batch_bytes: int,
        senders: int,
        fetch: Callable[[list[FileJob]], Awaitable[Callable[[FileJob], bytes]]] | None = None,
    ) -> None:
        self.state = state
        self.counters = counters
        self.compress = compress
        self.prefix = prefix
        self.batch_files = batch_files
        self.batch_bytes = batch_bytes
        self.senders = senders
        # Requests out now, when the sender stage says (its senders start lazily, so idle
        # ones waiting on the stream no longer tell it).
        self.in_flight: Callable[[], int] | None = None
        self._memo = CompressionMemo()
        self.blake3 = False  # an upload writing a manifest: blake3 of what is packed too
        # A URL source's reads (upload.sources): a batch's bytes fetched before packing.
        self.fetch = fetch

    def _pack_and_cache(
        self, jobs: list[FileJob], read: Callable[[FileJob], bytes] = read_job
    ) -> PackedBatch:
        """Pack (blocking: a worker thread), and remember the hashes pack computed."""
        packed = pack(jobs, self.compress, self.prefix, self._memo, self.blake3, read)
        self.state.cache_hashes(
            (j.rel_path, j.size, j.mtime_ns, j.inode, j.hash) for j in packed.jobs if j.inode
        )
        if self.blake3:
            self.state.remember_blake3((j.hash, j.blake3) for j in packed.jobs)
        return packed

    async def pack(self, jobs: list[FileJob]) -> PackedBatch:
        """One request of ``jobs``; the files that could not be read are reported failed."""
        read = await self.fetch(jobs) if self.fetch is not None else read_job
        packed = await anyio.to_thread.run_sync(self._pack_and_cache, jobs, read)
        for job, reason in packed.failures:
            self.counters.fail(job.rel_path, reason)
        return packed

    def send_early(self, out: MemoryObjectSendStream[PackedBatch], files: int, size: int) -> bool:
        """Whether a partial batch of ``files``/``size`` should go now."""
        if files < EARLY_FLUSH_FILES and size < EARLY_FLUSH_BYTES:
            return False
        # Asked once per job: the cheap load check first, the stream's statistics (an object
        # built per call) only when the senders are short of work.
        if self.in_flight is not None and self.in_flight() >= min(MIN_IN_FLIGHT, self.senders):
            return False
        stats = out.statistics()
        if self.in_flight is not None:
            in_flight = self.in_flight()
        else:
            in_flight = self.senders - stats.tasks_waiting_receive
        return stats.current_buffer_used == 0 and in_flight < min(MIN_IN_FLIGHT, self.senders)

    async def run(
        self,
        pieces: MemoryObjectReceiveStream[list[FileJob]],
        out: MemoryObjectSendStream[PackedBatch],
    ) -> None:
        async with pieces, out:
            batch: list[FileJob] = []
            size = 0
            while True:
                try:
                    piece = pieces.receive_nowait()
                except anyio.WouldBlock:
                    if self.send_early(out, len(batch), size):
                        await out.send(await self.pack(batch))
                        batch, size = [], 0
                        continue
                    try:
                        piece = await pieces.receive()
                    except anyio.EndOfStream:
                        break
                except anyio.EndOfStream:
                    break
                for job in piece:
                    batch.append(job)
                    size += job.size
                    if (
                        len(batch) >= self.batch_files
                        or size >= self.batch_bytes
                        or self.send_early(out, len(batch), size)
                    ):
                        await out.send(await self.pack(batch))
                        batch, size = [], 0
            if batch:
                await out.send(await self.pack(batch))
