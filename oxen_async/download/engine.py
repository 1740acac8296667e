"""``download_folder``: mirror a remote folder through the cheapest route for each file.

The listing is walked page by page. Groups of entries are checked against the local folder in
one worker-thread hop each (already there? in the cache?). What is left goes out: small files
(up to ``SMALL_FILE_BYTES``) to a pool, cut into ``QUERY /versions`` batches (up to
``BATCH_FILES`` files or ``BATCH_BYTES`` bytes) as request slots free up (``batchpool``: why);
as jobs on bounded channels, mid-size ones one ranged read each (``whole``), and files over
``WHOLE_FILE_BYTES`` as several ranged reads (``ranged``). At most
``concurrency`` batch and range requests are in flight, and beside them up to
``WHOLE_READS_PER_SLOT`` times as many mid-size reads (cheap for the server, bound by latency),
their bodies at most ``WHOLE_BYTES_HELD`` at once; memory holds a few jobs, not the folder.
Each file lands by rename only once its bytes hash to the listed id, so a run that is killed
leaves whole files only, and the next run skips them.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import anyio.to_thread
from anyio.streams.memory import MemoryObjectSendStream

from .. import limits, paths
from ..errors import ConfigError, OxenError, TransportError, fatal_cause, leaf_errors
from ..models import EntryBrief
from .batch import BatchRefused, Blob, fetch_batch
from .batchpool import BatchPool
from .cache import ContentCache
from .local import is_current, outcome_of, relative_name, sweep_leftovers
from .ranged import fetch_large
from .report import DownloadReport, pin_revision
from .routes import WHOLE_FILE_BYTES, batched
from .verified import check_download, manifest_rel
from .whole import fetch_whole

if TYPE_CHECKING:
    from ..client import RemoteRepo

# Above this a file streams to disk by several ranged reads in flight (``ranged``); up to it,
# and over SMALL_FILE_BYTES, it is one read held in memory (``whole``). Why: ``routes``.
LARGE_FILE_BYTES = WHOLE_FILE_BYTES
# 1,000 ids per QUERY: half the requests of 500 for the same bytes. Smaller caps (250, 500) did
# not gain on real 0.65.2 (paired 0.94, 0.99): the pool's last batches are small already. The
# wire limit, which has no such tail, sends 250.
BATCH_FILES = 1000
# The first batches are smaller, each twice the last, so that every worker has a request in
# flight while the listing is still young (a full first batch waits for 1,000 entries listed,
# the eighth for 8,000: the cores idled through that ramp).
FIRST_BATCH_FILES = 64
BATCH_BYTES = 16 * 1024 * 1024
CHECK_GROUP = 256
WORKERS_PER_REQUEST = 2
# Mid-size reads in flight per unit of ``concurrency``. A read costs the server ~1.3 ms of CPU
# whatever its size and the rest of its time is waiting. On real 0.65.2, 2,000 x 200 KiB: 32
# reads in flight against 8 came 3-10% sooner in four paired A/Bs; this pool against the code
# before it, 2.50 s against 2.62 s over 10 rounds (9 won, 1 tied), even over 8 more. Batches
# did not gain: 20,000 small files took 5.0 s with 8 in flight, 5.1 s with 16 and 5.6 s with
# 32 (the server's gzip is their bound), so they keep ``concurrency``.
WHOLE_READS_PER_SLOT = 4
# Bodies of mid-size reads held at once (fetched, not yet landed), whatever their count:
# what 16 workers of 1 MiB files held before the reads had a pool of their own.
WHOLE_BYTES_HELD = 16 * 1024 * 1024
_FAILURES = (OxenError, OSError)


@dataclass
class _Large:
    blob: Blob


@dataclass
class _Whole:
    blob: Blob


_Job = _Large | _Whole


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _copied(cache: ContentCache, content_id: str, local: str) -> bool:
    """Whether the cache put the file in place. One it cannot write (a file where its folder
    should be) is fetched instead, and fails there on its own, in the report."""
    try:
        return cache.copy_to(content_id, local)
    except OSError:
        return False


def _check_group(
    group: list[tuple[str, EntryBrief, str]], cache: ContentCache | None, swept: set[str]
) -> list[str]:
    """Which of ``group`` need fetching: 'skip' (already there), 'cache' (copied from the
    cache) or 'fetch', in order; each folder met the first time is rid of the temporaries a
    killed run left. One worker-thread hop for the whole group."""
    verdicts = []
    for _, entry, local in group:
        folder = os.path.dirname(local)
        if folder not in swept:
            swept.add(folder)
            sweep_leftovers(folder)
        if is_current(local, entry.size, entry.hash):
            verdicts.append("skip")
        elif cache is not None and _copied(cache, entry.hash, local):
            verdicts.append("cache")
        else:
            verdicts.append("fetch")
    return verdicts


class _Run:
    def __init__(
        self,
        repo: RemoteRepo,
        report: DownloadReport,
        concurrency: int,
        cache: ContentCache | None,
        fresh: bool = False,
    ) -> None:
        self.repo = repo
        # The target folder did not exist before the run: nothing in it to skip or sweep, so
        # no stat per file and no worker-thread hop per group (unless the cache has a say).
        self.nothing_local = fresh and cache is None
        self.report = report
        self.concurrency = concurrency
        self.cache = cache
        self.limiter = anyio.CapacityLimiter(concurrency)
        self.whole_limiter = anyio.CapacityLimiter(WHOLE_READS_PER_SLOT * concurrency)
        self.whole_bytes = limits.ByteBudget(WHOLE_BYTES_HELD)
        # A worker per job as jobs arrive: a small folder costs a few tasks, not one per unit
        # of concurrency. Twice as many workers as requests in flight (``limiter`` bounds
        # those): a worker that has its bytes lands them (hash, write, rename) while another
        # has the request slot, so the slots never idle through a landing (mid-size files
        # came 15% sooner on real 0.65.2). Batches stream, and a range holds at most
        # ``ranged.WRITE_PIECE`` until it is written, ``limiter`` bounding the ranges in
        # flight; the mid-size reads' pool holds bodies, within ``whole_bytes``.
        self.workers = limits.LazyWorkers[_Job](WORKERS_PER_REQUEST * concurrency)
        whole_workers = WORKERS_PER_REQUEST * WHOLE_READS_PER_SLOT * concurrency
        self.whole_workers = limits.LazyWorkers[_Job](whole_workers)
        self.swept: set[str] = set()
        # Small files waiting for a batch; one sender task per batch in flight, started as
        # the pool fills (three files cost one task, not ``concurrency`` idle ones).
        self.pool = BatchPool(
            concurrency,
            first_files=FIRST_BATCH_FILES,
            batch_files=BATCH_FILES,
            batch_bytes=BATCH_BYTES,
            capacity=concurrency * BATCH_FILES,
        )
        self.senders = 0
        self.idle_senders = 0
        self.tg: anyio.abc.TaskGroup | None = None
        # Files read one request each (mid-size and large) that are gathered, queued or in
        # flight, by content: a later path of the same bytes joins the read instead of sending
        # its own. Bounded by the jobs in flight and one group, not by the folder.
        self.reading: dict[str, Blob] = {}
        self.listed = 0
        self.scope: anyio.CancelScope | None = None
        self.fatal: TransportError | None = None

    def stop(self, exc: TransportError) -> None:
        """The server is gone (the session's retries are spent): stop the whole run, so what
        is left is reported pending, once, instead of failing file by file."""
        if self.fatal is None:
            self.fatal = exc
        if self.scope is not None:
            self.scope.cancel()

    def failed(self, repo_path: str, error: BaseException) -> None:
        if isinstance(error, TransportError):
            self.stop(error)
        else:
            self.report.failed[repo_path] = _describe(error)

    # --- results -------------------------------------------------------------------------------

    def unsealed(self, content_id: str) -> Blob | None:
        """The file of this content queued or being read, if its bytes are not landing yet
        (a target added to it lands with it)."""
        blob = self.reading.get(content_id)
        return None if blob is None or blob.sealed else blob

    def landed(self, blob: Blob, error: BaseException | None) -> None:
        for repo_path, _ in blob.targets:
            own = outcome_of(repo_path, error)  # a path that could not be written fails alone
            if own is None:
                self.report.downloaded.append(repo_path)
                self.report.bytes_downloaded += blob.size
            else:
                self.failed(repo_path, own)

    # --- producing jobs ------------------------------------------------------------------------

    async def produce(
        self, send: MemoryObjectSendStream[_Job], send_whole: MemoryObjectSendStream[_Job]
    ) -> None:
        report = self.report
        pool = self.pool
        async with send, send_whole:
            group: list[tuple[str, EntryBrief, str]] = []

            async def flush_group() -> None:
                # The group's files read one request each: gathered (in ``reading``, by
                # content) before any is sent, so two paths of the same bytes in a group
                # always share one read.
                singles: list[Blob] = []
                if self.nothing_local:
                    verdicts = ["fetch"] * len(group)
                else:
                    verdicts = await anyio.to_thread.run_sync(
                        _check_group, group, self.cache, self.swept
                    )
                for (repo_path, entry, local), verdict in zip(group, verdicts, strict=True):
                    if verdict == "skip":
                        report.skipped.append(repo_path)
                        continue
                    if verdict == "cache":
                        report.downloaded.append(repo_path)
                        report.from_cache += 1
                        continue
                    if not batched(entry.size):
                        same = self.unsealed(entry.hash)
                        if same is not None:  # the same bytes: one read lands both
                            same.targets.append((repo_path, local))
                        else:
                            one = Blob(entry.hash, entry.size, [(repo_path, local)])
                            self.reading[entry.hash] = one  # over a sealed one: it has no say
                            singles.append(one)
                        continue
                    pool.add(entry.hash, entry.size, (repo_path, local))
                group.clear()
                pool.notify()
                self.start_senders()
                for one in singles:
                    if one.size > LARGE_FILE_BYTES:
                        await send.send(_Large(one))
                    else:
                        await send_whole.send(_Whole(one))

            root = os.fspath(report.local_dir)
            # Closed as soon as the run stops: the listing asked ahead goes with it.
            walk = self.repo.dirs.walk_brief(report.revision, report.remote_dir)
            try:
                async with contextlib.aclosing(walk):
                    async for repo_path, entry in walk:
                        self.listed += 1
                        try:
                            rel = relative_name(repo_path, report.remote_dir)
                        except ConfigError as exc:
                            report.failed[repo_path] = str(exc)
                            continue
                        # A plain string: joinpath(*parts), even Path(one string), cost more than
                        # the rest of this loop.
                        group.append((repo_path, entry, f"{root}/{rel}"))
                        if len(group) >= CHECK_GROUP:
                            await flush_group()
                            await pool.room()
            except TransportError as exc:  # the listing broke off: the server is gone
                self.stop(exc)
                return
            if group:
                await flush_group()
            pool.close()
            self.start_senders()

    # --- consuming jobs ------------------------------------------------------------------------

    async def work(self, job: _Job) -> None:
        revision, blob = self.report.revision, job.blob
        try:
            if isinstance(job, _Large):
                await fetch_large(self.repo, revision, blob, limiter=self.limiter, cache=self.cache)
            else:
                async with self.whole_bytes.hold(blob.size):
                    limiter = self.whole_limiter
                    await fetch_whole(self.repo, revision, blob, limiter=limiter, cache=self.cache)
        except _FAILURES as exc:
            self.landed(job.blob, exc)
        else:
            self.landed(job.blob, None)
        finally:
            if self.reading.get(blob.content_id) is blob:
                del self.reading[blob.content_id]

    def start_senders(self) -> None:
        """Enough senders for the batches in flight and those the pool would cut now."""
        assert self.tg is not None
        busy = self.senders - self.idle_senders
        want = min(self.concurrency, busy + self.pool.cuttable())
        for _ in range(want - self.senders):
            self.senders += 1
            self.tg.start_soon(self.send_batches)

    async def send_batches(self) -> None:
        """One sender: a batch at a time, cut once a request slot is ours, until the pool is
        closed and empty."""
        pool = self.pool
        try:
            while True:
                self.idle_senders += 1
                try:
                    if not await pool.wait_ready():
                        return
                finally:
                    self.idle_senders -= 1
                try:
                    async with self.limiter:
                        blobs = pool.take()  # sized now: what is left decides (batchpool)
                        if blobs:
                            await fetch_batch(self.repo, blobs, self.landed, cache=self.cache)
                except BatchRefused as missing:
                    # Some blob is not in the server's store, or the server failed the batch:
                    # each file through /file gets its own answer (most are fine; the others
                    # fail with the server's message).
                    for blob in missing.pending:
                        await self.one_by_one(blob)
        finally:
            self.senders -= 1

    async def one_by_one(self, blob: Blob) -> None:
        for repo_path, local in blob.targets:
            try:
                async with self.limiter:
                    await self.repo.files.download_to(
                        self.report.revision, repo_path, local, expected_hash=blob.content_id
                    )
            except _FAILURES as exc:
                self.failed(repo_path, exc)
            else:
                self.report.downloaded.append(repo_path)
                self.report.bytes_downloaded += blob.size


async def download_folder(
    repo: RemoteRepo,
    revision: str,
    remote_dir: str,
    local_dir: str | os.PathLike[str],
    *,
    concurrency: int = 8,
    cache: ContentCache | None = None,
    verify_manifest: bool | str = False,
) -> DownloadReport:
    """Download every file below ``remote_dir`` at ``revision`` into ``local_dir``.

    Local files whose xxh3 already equals the listed id are skipped, so running it again (after
    a kill, too) only fetches what is missing or changed. Files with ``cache`` (a
    ``ContentCache``) are copied from it when it has them and added to it when fetched.
    Per-file failures are collected in the report; an unknown revision or directory raises
    NotFoundError. Local files absent remotely are left alone. ``concurrency`` bounds the
    batch and range requests in flight; reads of mid-size files (``routes``: one request per
    file, cheap for the server) run up to ``WHOLE_READS_PER_SLOT`` times as many.

    ``verify_manifest``: then check the files against the blake3 manifest among them (True:
    ``MANIFEST.b3sum``, or its path relative to ``remote_dir``); on a mismatch the failing files
    are deleted and ManifestError says which (``download.verified``).
    """
    limits.concurrency(concurrency)
    manifest = manifest_rel(verify_manifest) if verify_manifest else None
    # Before any request: a target under a file would otherwise fail once per file.
    problem = paths.writable_target(os.fspath(local_dir))
    if problem is not None:
        raise ConfigError(f"cannot download into {os.fspath(local_dir)!r}: {problem}")
    started = time.monotonic()
    root = Path(local_dir)
    fresh = not await anyio.to_thread.run_sync(os.path.lexists, root)
    pinned = await pin_revision(repo, revision, remote_dir)
    report = DownloadReport(revision=pinned, remote_dir=paths.repo_path(remote_dir), local_dir=root)
    run = _Run(repo, report, concurrency, cache, fresh)
    # One job waiting at most in each: the workers hold the rest, so memory is a few jobs a
    # worker (and the mid-size bodies within their budget).
    send, receive = anyio.create_memory_object_stream[_Job](1)
    send_whole, receive_whole = anyio.create_memory_object_stream[_Job](1)
    try:
        async with anyio.create_task_group() as tg:
            run.scope, run.tg = tg.cancel_scope, tg
            tg.start_soon(run.workers.run, receive, run.work, tg)
            tg.start_soon(run.whole_workers.run, receive_whole, run.work, tg)
            tg.start_soon(run.produce, send, send_whole)
    except BaseExceptionGroup as group:
        raise leaf_errors(group)[0] from None
    if run.fatal is not None:
        report.error = fatal_cause(run.fatal)
        done = len(report.downloaded) + len(report.skipped) + len(report.failed)
        report.files_pending = max(0, run.listed - done)
    report.seconds = time.monotonic() - started
    if manifest is not None and run.fatal is None:
        await check_download(report, root, manifest)
    return report
