"""The batch sender: packed requests into the workspace, with what the server staged checked.

Retries it adds over the session's, drawn from the client's policy (``UploadTarget.retry``):
- a request that failed transiently is sent again, counting the tries the session already
  made (so a batch is POSTed at most ``policy.attempts`` times in all, never attempts squared;
  in practice the batch's own retries are for a 500, which the session leaves alone);
- files missing from the server's answer are packed and sent again, up to FILE_ATTEMPTS;
- a batch refused as malformed (400) is halved until the culprit is alone, so one odd name
  does not sink its neighbours.

Senders start lazily, one per batch as it arrives, up to the concurrency (``LazyWorkers``).
"""

from __future__ import annotations

import anyio
import anyio.to_thread
from anyio.abc import ObjectReceiveStream, TaskGroup

from ..errors import BadRequestError, HTTPError, TransportError
from ..http.retry import RetryPolicy, is_transient
from ..limits import LazyWorkers
from .batcher import Packer
from .counters import Counters, GiveUps
from .pack import FileJob, PackedBatch
from .state import UploadState
from .target import UploadTarget
from .workspace import UploadWorkspace

FILE_ATTEMPTS = 4  # a file missing from the server's answer is sent this often in all


class BatchSender:
    def __init__(
        self,
        repo: UploadTarget,
        workspace: UploadWorkspace,
        state: UploadState,
        packer: Packer,
        counters: Counters,
        give_ups: GiveUps,
        policy: RetryPolicy,
    ) -> None:
        self.repo = repo
        self.workspace = workspace
        self.state = state
        self.packer = packer
        self.counters = counters
        self.give_ups = give_ups
        self.policy = policy
        self.workers: LazyWorkers[PackedBatch] | None = None
        packer.in_flight = self.in_flight

    def in_flight(self) -> int:
        """Batches being sent now."""
        return self.workers.running if self.workers is not None else 0

    async def run(
        self, batches: ObjectReceiveStream[PackedBatch], concurrency: int, stages: TaskGroup
    ) -> None:
        """Send every batch, ``concurrency`` at most at once, a sender started in ``stages``
        (the pipeline's task group) per batch as it arrives: three batches cost three tasks,
        whatever the concurrency."""
        self.workers = LazyWorkers(concurrency)
        await self.workers.run(batches, self.send, stages)

    async def send(self, batch: PackedBatch) -> None:
        """Send, diff what the server staged against what was sent, re-send the rest."""
        retrier = self.policy.start()
        prefix = self.packer.prefix
        while batch.jobs:
            ws = await self.workspace.get()
            try:
                assert batch.form is not None
                # The session gets only the tries this batch has left.
                staged = await self.repo.workspaces.stage_form(ws, batch.form, retry=retrier.left())
            except BadRequestError as exc:
                await self._bisect(batch, exc)
                return
            except (HTTPError, TransportError) as exc:
                if not is_transient(exc):
                    raise
                self.counters.batch_retries += 1
                wait = retrier.after(exc)
                if wait is None:
                    self.give_ups.gave_up(exc, [prefix + j.rel_path for j in batch.jobs])
                    for job in batch.jobs:
                        self.counters.not_sent(job.rel_path, f"not sent: {exc}")
                    return
                await anyio.sleep(wait)
                continue
            self.counters.batches += 1
            self.give_ups.succeeded()
            self.counters.wire_bytes += batch.wire_bytes
            retry = await self._record(batch.jobs, set(staged))
            if not retry:
                return
            self.counters.file_retries += len(retry)
            await anyio.sleep(self.policy.delay(retry[0].attempts, None))
            batch = await self.packer.pack(retry)

    async def _bisect(self, batch: PackedBatch, exc: BadRequestError) -> None:
        """The server refuses a whole batch for one bad path: halve it until the culprits are
        alone."""
        if len(batch.jobs) == 1:
            self.counters.fail(batch.jobs[0].rel_path, f"refused by the server: {exc.message}")
            return
        mid = len(batch.jobs) // 2
        for half in (batch.jobs[:mid], batch.jobs[mid:]):
            await self.send(await self.packer.pack(half))

    async def _record(self, jobs: list[FileJob], landed: set[str]) -> list[FileJob]:
        """Record what the server staged; return the jobs to send again."""
        prefix = self.packer.prefix
        done: list[FileJob] = []
        missing: list[FileJob] = []
        for job in jobs:
            (done if prefix + job.rel_path in landed else missing).append(job)
        await anyio.to_thread.run_sync(
            self.state.record_staged, [(j.rel_path, j.hash) for j in done]
        )
        self.counters.sent(len(done), sum(j.size for j in done))
        retry: list[FileJob] = []
        for job in missing:
            job.attempts += 1
            if job.attempts >= FILE_ATTEMPTS:
                self.counters.fail(job.rel_path, "not staged by the server after repeated attempts")
            else:
                retry.append(job)
        return retry
