"""Merging a workspace into a branch, and checking whether it would merge.

Merges into a repository are serialised by ``repo.lock``: two merges into one branch at the same
moment both land, the second rebased onto the first. (The real server has no branch lock and can
lose a commit then.) Without a conflicting path the merge rebases implicitly onto the current
branch head, as the real one does.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from oxen_async.testing import wire
from oxen_async.testing.context import RequestContext
from oxen_async.testing.filetypes import FileMeta
from oxen_async.testing.handlers.workspaces import base_commit, find_workspace
from oxen_async.testing.storage import Author, Commit, Repository
from oxen_async.testing.workspaces import Workspace


class _CommitBody(msgspec.Struct):
    message: str
    author: str
    email: str


def _conflicts(
    repo: Repository, base: Commit, head: Commit, staged: dict[str, FileMeta | None]
) -> list[str]:
    """The real rule: a staged path present in both the base and the branch head with different
    content. Paths added on both sides, or deleted on the branch, are not conflicts."""
    if head.id == base.id:
        return []
    found = []
    for path in sorted(staged):
        before = repo.lookup(base, path)
        now = repo.lookup(head, path)
        if before is not None and now is not None and before.hash != now.hash:
            found.append(path)
    return found


def _behind(workspace: Workspace, branch: str, base: Commit, head: Commit) -> wire.WireError:
    return wire.structured_error(
        409,
        "conflict",
        "Workspace is behind",
        f"This workspace '{workspace.id}' is behind on branch '{branch}' commit "
        f"{base.id} < {head.id}",
        "conflict",
    )


def _branch_missing(branch: str) -> wire.WireError:
    return wire.described_error(404, "resource_not_found", branch)


async def merge(ctx: RequestContext) -> web.StreamResponse:
    repo = ctx.repo()
    raw = await ctx.text_body()
    try:
        body = msgspec.json.decode(raw, type=_CommitBody)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise wire.plain_error(400, str(error)) from None
    _, workspace = find_workspace(ctx)
    branch = ctx.params["branch"]
    if repo.branch_head(branch) is None:
        raise _branch_missing(branch)
    author = Author(body.author, body.email)
    async with repo.lock:  # one merge per repository at a time: no lost commits
        head = repo.head_commit(branch)
        if head is None:
            raise _branch_missing(branch)
        commit = await ctx.offload(
            _merge_locked, repo, workspace, branch, head, body.message, author
        )
    return wire.ok("resource_created", commit=commit.view())


def _merge_locked(
    repo: Repository,
    workspace: Workspace,
    branch: str,
    head: Commit,
    message: str,
    author: Author,
) -> Commit:
    with workspace.lock:
        if workspace.deleted:
            raise wire.workspace_not_found(workspace.id)
        if not workspace.staged:
            raise wire.plain_error(422, "NoChanges")
        base = base_commit(repo, workspace)
        if _conflicts(repo, base, head, workspace.staged):
            raise _behind(workspace, branch, base, head)
        commit = repo.create_commit(
            [head.id], head.root, workspace.staged, message, author, allow_empty=True
        )
        assert commit is not None
        repo.set_branch(branch, commit.id)
        if workspace.name is None:
            repo.workspaces.delete(workspace)
        else:
            workspace.rebase_after_commit(commit.id)
        return commit


async def mergeability(ctx: RequestContext) -> web.StreamResponse:
    repo, workspace = find_workspace(ctx)
    branch = ctx.params["branch"]
    head = repo.head_commit(branch)
    if head is None:
        raise wire.branch_not_found(branch)  # family C here (seen on the real server)
    base = base_commit(repo, workspace)

    def check() -> tuple[list[str], list[Commit]]:
        with workspace.lock:
            staged = dict(workspace.staged)
        between: list[Commit] = []
        for commit in sorted(repo.ancestors(head), key=lambda c: c.ts_ns, reverse=True):
            between.append(commit)
            if commit.id == base.id:
                break
        return _conflicts(repo, base, head, staged), between

    conflicts, between = await ctx.offload(check)
    return wire.ok(
        "resource_found",
        is_mergeable=not conflicts,
        conflicts=[{"path": path} for path in conflicts],
        commits=[commit.view() for commit in between],
    )
