"""The workspace's last steps: drop what this run does not want, then merge it as one commit.

Kept apart from the pipeline because each step guards against a server trap:
- a workspace resumed from an earlier run may hold files this run no longer wants (deleted or
  changed back locally, or staged by a request whose answer was lost): they are unstaged;
- the server has no branch lock, so merges of one process into one branch are serialised here;
- an unnamed workspace is deleted by a successful merge, so a retried merge after a lost
  answer would 404: the workspace's absence means the merge landed, and the commit is found
  in the branch's history instead of being made twice;
- a 409 (the branch changed the same paths meanwhile) would fail every resumed run again, so
  the workspace is dropped and the next run starts from the new head.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import anyio

from ..config import Author
from ..errors import (
    ConflictError,
    NotFoundError,
    OxenError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from ..models import Commit

if TYPE_CHECKING:
    from ..client import RemoteRepo

LOST_ANSWER = (TransportError, ServerError, RateLimitedError)
MERGE_ATTEMPTS = 3
CHANGES_PAGE = 1000

# One merge at a time per (host, repository, branch) in this process.
_branch_locks: dict[tuple[str, str, str], anyio.Lock] = {}


def _branch_lock(repo: RemoteRepo, branch: str) -> anyio.Lock:
    key = (repo.scope.session.host, repo.full_name, branch)
    lock = _branch_locks.get(key)
    if lock is None:
        lock = _branch_locks[key] = anyio.Lock()
    return lock


async def drop_unwanted(
    repo: RemoteRepo,
    workspace_id: str,
    wanted: Callable[[list[str]], set[str]],
) -> int:
    """Unstage every staged path (added, modified or removed) that ``wanted`` (run in a worker
    thread, a page at a time) does not keep. Only the unwanted paths are held in memory."""
    unwanted: list[str] = []
    page = 1
    while True:
        changes = await repo.workspaces.changes(workspace_id, page=page, page_size=CHANGES_PAGE)
        lists = (changes.added_files, changes.modified_files, changes.removed_files)
        staged = [entry.filename for listing in lists for entry in listing.entries]
        keep = await anyio.to_thread.run_sync(wanted, staged)
        unwanted.extend(p for p in staged if p not in keep)
        if page >= max(listing.total_pages for listing in lists):
            break
        page += 1
    for i in range(0, len(unwanted), CHANGES_PAGE):
        await repo.workspaces.unstage(workspace_id, unwanted[i : i + CHANGES_PAGE])
    return len(unwanted)


async def unstage(repo: RemoteRepo, workspace_id: str, paths: Iterable[str]) -> None:
    items = list(paths)
    for i in range(0, len(items), CHANGES_PAGE):
        await repo.workspaces.unstage(workspace_id, items[i : i + CHANGES_PAGE])


async def merge(
    repo: RemoteRepo, workspace_id: str, branch: str, *, message: str, author: Author
) -> Commit:
    """Merge the workspace into ``branch`` once, whatever happens to the answer.

    Raises NothingToCommitError (422) when nothing is staged, ConflictError when the branch
    moved on the same paths (the workspace is then deleted), OxenError when the merge cannot
    be confirmed either way.
    """
    async with _branch_lock(repo, branch):
        for attempt in range(1, MERGE_ATTEMPTS + 1):
            try:
                return await repo.workspaces.merge(
                    workspace_id, branch, message=message, author=author
                )
            except ConflictError as exc:
                with contextlib.suppress(NotFoundError):
                    await repo.workspaces.delete(workspace_id)
                raise ConflictError(
                    exc.method,
                    exc.url,
                    exc.status,
                    f"branch {branch!r} changed the same files since this upload began; "
                    "run it again to upload against the new head",
                    error_type=exc.error_type,
                ) from None
            except LOST_ANSWER:
                if attempt == MERGE_ATTEMPTS:
                    raise
            await anyio.sleep(attempt)
            try:
                await repo.workspaces.get(workspace_id)
            except NotFoundError:
                # Merging deletes an unnamed workspace: it landed, only the answer was lost.
                found = await _find_commit(repo, branch, message, author)
                if found is None:
                    raise OxenError(
                        f"the merge into {branch!r} went through but its commit could not be "
                        "found in the branch history"
                    ) from None
                return found
        raise AssertionError("unreachable")


async def _find_commit(
    repo: RemoteRepo, branch: str, message: str, author: Author
) -> Commit | None:
    page = await repo.commits.history_page(branch, page_size=50)
    for commit in page.commits:  # newest first
        if commit.message == message and commit.author == author.name:
            return commit
    return None
