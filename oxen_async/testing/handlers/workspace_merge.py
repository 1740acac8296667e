"""Merging a workspace into a branch, and checking whether it would merge.

Merges into a repository are serialised by ``repo.lock`` (0.65's per-branch lock), and the branch
moves by compare-and-swap from the head the commit was built on: a head moved meanwhile answers
429 ``branch_head_mismatch`` with ``Retry-After: 1`` and the workspace keeps its staged files.
Only the ``move_branch_during_merge`` fault moves it here (every writer takes ``repo.lock``).
Conflicts follow 0.65: a staged path conflicts when the branch changed it since the workspace's
base commit (added, modified or removed it) and does not already hold what is staged.
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
    """0.65's rule (liboxen workspaces/commit.rs ``list_conflicts``)."""
    if head.id == base.id:
        return []
    found = []
    for path in sorted(staged):
        before, now = _file_hash(repo, base, path), _file_hash(repo, head, path)
        if now == before:
            continue
        meta = staged[path]
        if now == (meta.hash if meta is not None else None):
            continue  # the branch already holds what the workspace stages
        found.append(path)
    return found


def _file_hash(repo: Repository, commit: Commit, path: str) -> str | None:
    entry = repo.lookup(commit, path)
    return entry.hash if entry is not None and not entry.is_dir else None


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
            _merge_locked, ctx, repo, workspace, branch, head, body.message, author
        )
    return wire.ok("resource_created", commit=commit.view())


def _head_mismatch(branch: str, expected: str, actual: str | None) -> wire.WireError:
    found = f'Some("{actual}")' if actual is not None else "None"
    return wire.structured_error(
        429,
        "branch_head_mismatch",
        "Branch moved during the write",
        f"Branch '{branch}' head mismatch: expected Some(\"{expected}\"), found {found}",
        "too_many_requests",
        headers={"Retry-After": "1"},
    )


def _another_writer_moves(ctx: RequestContext, repo: Repository, branch: str, head: Commit) -> None:
    """The ``move_branch_during_merge`` fault: an empty commit lands on the branch."""
    ctx.stats.record_fault(ctx.route.name)
    moved = repo.create_commit(
        [head.id],
        head.root,
        {},
        "Moved by another writer (injected fault)",
        Author("oxen-async fault", "fault@oxen-async.invalid"),
        allow_empty=True,
    )
    assert moved is not None
    repo.set_branch(branch, moved.id)


def _merge_locked(
    ctx: RequestContext,
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
        if ctx.faults.moves_branch_now():
            _another_writer_moves(ctx, repo, branch, head)
        actual = repo.branch_head(branch)
        if actual != head.id:  # compare-and-swap; the commit built on the old head is dropped
            raise _head_mismatch(branch, head.id, actual)
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
