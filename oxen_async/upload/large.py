"""Large files: over the gzip cap, each goes alone through ``/versions/uploads`` parts where the
server has them (the chunked ``/versions`` route where not), staged into the upload's workspace.

``send_large_file`` is the boundary: one hashed file in, what it cost out (bytes sent, or none
when the server already held the content), staged at its repo path; ``upload.parts`` holds
the transfer and the once-per-client route decision.
``LargeFileStage`` around it hashes (from the cache, or reading the file in a thread while
another file sends), keeps identical files one at a time (they share one chunk area on the
server), retries, and reports by path.

Retries it adds over the session's (which retries each part or chunk) and the parts workflow's
(which begins again when an upload is gone): the whole file is sent again
after a transient failure the session did not already retry to the end (a 500, a lost answer
to the complete step), counting the session's tries, from the client's policy.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread
import blake3
from anyio.abc import ObjectReceiveStream

from ..errors import FileChangedError, HTTPError, TransportError
from ..hashing import hash_file_sync
from ..http.retry import RetryPolicy, is_transient
from .counters import Counters, GiveUps
from .locks import KeyedLocks
from .pack import FileJob
from .parts import LargeFileResult, ReadRange, send_by_server_route
from .state import UploadState
from .target import UploadTarget
from .workspace import UploadWorkspace

CHUNK_CONCURRENCY = 2  # legacy route: chunks of one file in memory at once (10 MiB each)

LargeFileSend = Callable[["UploadTarget", FileJob, str, str], Awaitable[LargeFileResult]]
"""(repo, job, repo_path, workspace_id) -> what it cost: how one large file travels."""


async def send_large_file(
    repo: UploadTarget,
    job: FileJob,
    repo_path: str,
    workspace_id: str,
    *,
    read: ReadRange | None = None,
) -> LargeFileResult:
    """Send one large file (``job.hash`` set) and stage it at ``repo_path`` in the workspace.

    ``read`` gives the bytes of a range when they do not come from ``job.abs_path`` on disk
    (an fsspec source's object).

    Raises FileChangedError (the file changed since it was hashed), OSError (unreadable) or
    the API's HTTPError/TransportError.
    """
    return await send_by_server_route(
        repo.versions,
        repo.uploads,
        job.abs_path,
        job.hash,
        job.size,
        repo_path=repo_path,
        workspace_id=workspace_id,
        mtime_ns=job.mtime_ns,
        legacy_concurrency=CHUNK_CONCURRENCY,
        read=read,
    )


class LargeFileStage:
    def __init__(
        self,
        repo: UploadTarget,
        workspace: UploadWorkspace,
        state: UploadState,
        counters: Counters,
        give_ups: GiveUps,
        policy: RetryPolicy,
        *,
        prefix: str,
        send: LargeFileSend = send_large_file,
        hash_file: Callable[[FileJob, Any], str] | None = None,
    ) -> None:
        self.repo = repo
        self.workspace = workspace
        self.state = state
        self.counters = counters
        self.give_ups = give_ups
        self.policy = policy
        self.prefix = prefix
        self.send_file = send
        self.hash_file = hash_file  # a URL source's checked hash (upload.sources)
        self._by_hash = KeyedLocks[str]()
        self.blake3 = False  # an upload writing a manifest: blake3 from the hashing read too

    async def run(self, jobs: ObjectReceiveStream[FileJob]) -> None:
        async with jobs:
            async for job in jobs:
                if not job.hash or self.blake3:
                    # Hashed here, not in the plan: one large file hashes while another sends.
                    try:
                        job.hash = await anyio.to_thread.run_sync(self._hash, job)
                    except (OSError, FileChangedError) as exc:
                        reason = exc.strerror if isinstance(exc, OSError) else None
                        self.counters.fail(
                            job.rel_path, f"cannot read: {reason}" if reason else str(exc)
                        )
                        continue
                # Identical large files share one chunk area on the server: one at a time.
                async with self._by_hash.hold(job.hash):
                    await self.send(job)

    def _hash(self, job: FileJob) -> str:
        """Content id of a large file: from the hash cache, or read whole (blocking)."""
        key = (job.rel_path, job.size, job.mtime_ns, job.inode)
        cached = self.state.cached_hashes([key]).get(job.rel_path) or job.hash
        if cached and (not self.blake3 or self.state.blake3_of([cached])):
            return cached
        # The manifest's blake3 comes from this read, not the send's: parts are read out of
        # order, several at once, and blake3 wants the bytes in order. The send checks size and
        # mtime per part and the server checks the whole against this id, so what is sent is
        # what was hashed here.
        b3 = blake3.blake3() if self.blake3 else None
        if self.hash_file is not None:  # a URL source: its read checks the object's version
            digest = self.hash_file(job, b3)
        else:
            digest = self._hash_local(job, b3)
        self.state.cache_hashes([(*key, digest)])
        if b3 is not None:
            self.state.remember_blake3([(digest, b3.hexdigest())])
        return digest

    @staticmethod
    def _hash_local(job: FileJob, b3: Any) -> str:
        digest, size = hash_file_sync(job.abs_path, b3)
        st = os.stat(job.abs_path)
        if (size, st.st_size, st.st_mtime_ns) != (job.size, job.size, job.mtime_ns):
            raise FileChangedError(f"{job.rel_path}: file changed while it was being hashed")
        return digest

    async def send(self, job: FileJob) -> None:
        """Send one file, retried as a whole; failures are reported by path."""
        retrier = self.policy.start()
        repo_path = self.prefix + job.rel_path
        while True:
            ws = await self.workspace.get()
            try:
                result = await self.send_file(self.repo, job, repo_path, ws)
            except FileChangedError as exc:
                self.counters.fail(job.rel_path, str(exc))
                return
            except OSError as exc:
                self.counters.fail(job.rel_path, f"cannot read: {exc.strerror or exc}")
                return
            except (HTTPError, TransportError) as exc:
                wait = retrier.after(exc) if is_transient(exc) else None
                if wait is None:
                    if is_transient(exc):
                        self.counters.not_sent(job.rel_path, f"large-file upload failed: {exc}")
                        self.give_ups.unsent.append(repo_path)
                        self.give_ups.gave_up(exc, [])
                        return
                    self.counters.fail(job.rel_path, f"large-file upload failed: {exc}")
                    self.give_ups.unsent.append(repo_path)
                    return
                self.counters.batch_retries += 1
                await anyio.sleep(wait)
                continue
            await anyio.to_thread.run_sync(self.state.record_staged, [(job.rel_path, job.hash)])
            self.counters.large_files += 1
            self.counters.large_already_stored += int(result.already_stored)
            self.give_ups.succeeded()
            self.counters.wire_bytes += result.bytes_sent
            self.counters.sent(1, job.size)
            return
