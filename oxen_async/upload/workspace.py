"""Before anything is sent: the preflight (repository, branch, its head) and the workspace's
life (resumed from an interrupted run, opened on the first file to send, finished after)."""

from __future__ import annotations

import contextlib
import uuid

import anyio
import anyio.to_thread

from ..errors import ConfigError, NotFoundError, OxenError, leaf_errors
from ..models import Branch, Commit
from .state import UploadState
from .target import UploadTarget


async def branch_head(repo: UploadTarget, branch: str) -> Commit | None:
    """The head commit of ``branch``, None on an empty repository (the workspace will start
    the branch). Fails before anything is sent: unknown repository, missing branch, bad token.
    """
    found: list[Branch | OxenError] = []

    async def fetch_branch() -> None:
        try:
            found.append(await repo.branches.get(branch))
        except OxenError as exc:
            found.append(exc)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(fetch_branch)  # alongside the repository: one round trip fewer
            info = await repo.info()
    except BaseExceptionGroup as group:
        raise leaf_errors(group)[0] from None  # the repository's error names the problem
    (answer,) = found
    if isinstance(answer, NotFoundError):
        if info.branch_count or not info.is_empty:
            raise ConfigError(f"branch {branch!r} does not exist in {repo.full_name}") from None
        return None
    if isinstance(answer, OxenError):
        raise answer
    return await repo.commits.get(answer.commit_id)


class UploadWorkspace:
    """The one workspace of an upload: reused after a crash if it still fits, else opened
    lazily by the first sender (a rerun with nothing to send opens none)."""

    def __init__(
        self,
        repo: UploadTarget,
        state: UploadState,
        branch: str,
        head: Commit | None,
        named: str | None = None,
    ) -> None:
        self.repo = repo
        self.state = state
        self.branch = branch
        self.head = head
        self.named = named  # a caller's workspace (a shard's): used as it is, never deleted
        self.id: str | None = None
        self.resumed = False
        self._lock = anyio.Lock()

    async def resume(self, allowed: bool) -> None:
        """Reuse the workspace an interrupted run left, if ``allowed`` and it still starts at
        the branch head; else discard it."""
        state = self.state
        previous = await anyio.to_thread.run_sync(state.get_meta, "workspace_id")
        if self.named is not None:
            await self._use_named(allowed and previous == self.named)
            return
        if previous is None:
            return
        try:
            ws = await self.repo.workspaces.get(previous)
        except NotFoundError:
            ws = None
        base = ws.commit.id if ws is not None and ws.commit is not None else None
        head = self.head.id if self.head is not None else None
        if ws is not None and allowed and base == head:
            self.id = previous
            self.resumed = True
            await anyio.to_thread.run_sync(state.begin_resumed_run)
            return
        # Resume refused, or the branch moved on (its files would conflict or be judged
        # against an old base): start a fresh workspace from the current head.
        if ws is not None:
            with contextlib.suppress(NotFoundError):
                await self.repo.workspaces.delete(previous)
        await anyio.to_thread.run_sync(state.finish_workspace)

    async def _use_named(self, resume: bool) -> None:
        """The caller's workspace must exist (its caller made it); what this shard's earlier
        run staged in it counts, if ``resume``, else the state starts afresh."""
        assert self.named is not None
        try:
            ws = await self.repo.workspaces.get(self.named)
        except NotFoundError:
            raise ConfigError(
                f"workspace {self.named!r} does not exist in {self.repo.full_name}"
            ) from None
        base = ws.commit.id if ws.commit is not None else None
        if self.head is not None and base != self.head.id:
            # This shard judged its files against the new head, the workspace sits on the
            # old one: their union would not be the tree the caller checks. Stop the shard.
            raise ConfigError(
                f"branch {self.branch!r} moved since workspace {self.named!r} was opened "
                f"(now at {self.head.id}, the workspace at {base}): start the job again"
            )
        if resume:
            self.resumed = True
            await anyio.to_thread.run_sync(self.state.begin_resumed_run)
        else:
            await anyio.to_thread.run_sync(self.state.start_workspace, self.named)
        self.id = self.named

    async def get(self) -> str:
        """The workspace id, creating the workspace on first call."""
        async with self._lock:
            if self.id is None:
                ws = await self.repo.workspaces.get_or_create(
                    self.branch, workspace_id=str(uuid.uuid4())
                )
                await anyio.to_thread.run_sync(self.state.start_workspace, ws.id)
                self.id = ws.id
            return self.id

    async def open_early(self) -> None:
        """Open it while the first batch packs. A failure here is no failure yet: the first
        sender asks again and reports it."""
        with contextlib.suppress(OxenError):
            await self.get()

    async def finish(self) -> None:
        """Forget it in the state: merged, or deleted."""
        await anyio.to_thread.run_sync(self.state.finish_workspace)
