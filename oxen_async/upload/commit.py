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
from dataclasses import replace

import anyio

from ..config import Author
from ..errors import (
    ConflictError,
    HTTPError,
    NotFoundError,
    NothingToCommitError,
    OxenError,
    TransportError,
)
from ..http.retry import is_transient
from ..models import ChangePage, Commit
from .locks import KeyedLocks
from .target import UploadTarget
from .workspace import UploadWorkspace

MERGE_ATTEMPTS = 3  # merges sent in all, at most (fewer if the client's policy says so)
CHANGES_PAGE = 1000

# One merge at a time per (host, repository, branch) in this process; a key's lock lives only
# while a merge holds or awaits it.
_branch_locks = KeyedLocks[tuple[str, str, str]]()


async def drop_unwanted(
    repo: UploadTarget,
    workspace_id: str,
    wanted: Callable[[list[str]], set[str]],
) -> int:
    """Unstage every staged path (added, modified or removed) that ``wanted`` (run in a worker
    thread) does not keep."""
    staged = sorted(await staged_paths(repo, workspace_id))
    keep = await anyio.to_thread.run_sync(wanted, staged)
    unwanted = [p for p in staged if p not in keep]
    for i in range(0, len(unwanted), CHANGES_PAGE):
        await repo.workspaces.unstage(workspace_id, unwanted[i : i + CHANGES_PAGE])
    return len(unwanted)


async def staged_paths(repo: UploadTarget, workspace_id: str) -> set[str]:
    """Every path staged in the workspace (added, modified or removed).

    Read in one page: 0.65.2 lists changes in a hash map's order, new for each request, so two
    pages of one listing overlap and miss paths (2,000 changes read as two pages of 1,000 gave
    1,524 distinct paths). Holding every staged path is the price of seeing each one.
    """
    changes = await repo.workspaces.changes(workspace_id, page=1, page_size=CHANGES_PAGE)
    lists = (changes.added_files, changes.modified_files, changes.removed_files)
    largest = max(listing.total_entries for listing in lists)
    if any(listing.total_pages > 1 for listing in lists):
        # Pages of 0.65.2's listing overlap (a hash map's order, new per request): one page.
        changes = await repo.workspaces.changes(workspace_id, page=1, page_size=largest)
        lists = (changes.added_files, changes.modified_files, changes.removed_files)
    found: set[str] = set()
    for listing in lists:
        _check_complete(listing)
        found.update(entry.filename for entry in listing.entries)
    return found


def _check_complete(listing: ChangePage) -> None:
    if len(listing.entries) != listing.total_entries:
        raise OxenError(
            f"the server listed {len(listing.entries)} of {listing.total_entries} staged "
            "changes in one page: cannot check the workspace, not merged"
        )


async def unstage(repo: UploadTarget, workspace_id: str, paths: Iterable[str]) -> None:
    items = list(paths)
    for i in range(0, len(items), CHANGES_PAGE):
        await repo.workspaces.unstage(workspace_id, items[i : i + CHANGES_PAGE])


async def merge(
    repo: UploadTarget, workspace_id: str, branch: str, *, message: str, author: Author
) -> Commit:
    """Merge the workspace into ``branch`` once, whatever happens to the answer.

    Raises NothingToCommitError (422) when nothing is staged, ConflictError when the branch
    moved on the same paths (the workspace is then deleted), OxenError when the merge cannot
    be confirmed either way.
    """
    # What this adds over the session (which repeats a merge only after a 429, as a merge may
    # have been acted on): after a lost answer (no answer, a 5xx), look whether the merge
    # landed (the unnamed workspace is gone) and send it again only if it did not.
    retrier = replace(repo.retry, attempts=min(MERGE_ATTEMPTS, repo.retry.attempts)).start()
    async with _branch_locks.hold((repo.host, repo.full_name, branch)):
        while True:
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
            except (HTTPError, TransportError) as exc:
                wait = retrier.after(exc) if is_transient(exc) else None
                if wait is None:
                    raise
            await anyio.sleep(wait)
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


async def _find_commit(
    repo: UploadTarget, branch: str, message: str, author: Author
) -> Commit | None:
    page = await repo.commits.history_page(branch, page_size=50)
    for commit in page.commits:  # newest first
        if commit.message == message and commit.author == author.name:
            return commit
    return None


async def commit_upload(
    repo: UploadTarget,
    workspace: UploadWorkspace,
    *,
    branch: str,
    message: str,
    author: Author,
    wanted: Callable[[list[str]], set[str]],
    unsent: list[str],
) -> Commit | None:
    """The upload's last step: tidy the workspace, merge it as one commit (None when nothing
    changed), and forget it in the state."""
    if workspace.id is None:
        return None
    ws = workspace.id
    if workspace.resumed:
        await drop_unwanted(repo, ws, wanted)
    if unsent:  # a request that failed may still have staged its files
        await unstage(repo, ws, unsent)
    try:
        commit: Commit | None = await merge(repo, ws, branch, message=message, author=author)
    except NothingToCommitError:
        # Everything sent matched the branch already; the unnamed workspace stays: drop it.
        with contextlib.suppress(NotFoundError):
            await repo.workspaces.delete(ws)
        commit = None
    except ConflictError:
        await workspace.finish()  # merge() deleted it
        raise
    await workspace.finish()
    return commit
