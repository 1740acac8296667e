"""Workspaces (part 2, section 4): get-or-create, show, list, delete, validate.

Staging lives in ``workspace_files``, changes in ``workspace_changes``, merging in
``workspace_merge``.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from oxen_async.testing import wire
from oxen_async.testing.context import RequestContext
from oxen_async.testing.storage import Author, Commit, Repository
from oxen_async.testing.workspaces import Workspace

_INITIAL_AUTHOR = Author("Oxen", "oxen@oxen.ai")
_INITIAL_MESSAGE = "Initialized Repo 🐂"


def workspace_view(
    workspace: Workspace, commit: Commit, shown_id: str | None = None
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": shown_id if shown_id is not None else workspace.id,
        "name": workspace.name,
        "commit": commit.view(),
    }
    if workspace.meta.created_ns:
        view["created_at"] = wire.format_timestamp(workspace.meta.created_ns)
    return view


def base_commit(repo: Repository, workspace: Workspace) -> Commit:
    commit = repo.get_commit(workspace.commit_id)
    if commit is None:
        raise wire.internal_error(f"Could not find commit: {workspace.commit_id}")
    return commit


def find_workspace(ctx: RequestContext) -> tuple[Repository, Workspace]:
    repo = ctx.repo()
    workspace_id = ctx.params["workspace_id"]
    workspace = repo.workspaces.find(workspace_id)
    if workspace is None or workspace.deleted:
        raise wire.workspace_not_found(workspace_id)
    return repo, workspace


class _NewWorkspace(msgspec.Struct):
    workspace_id: str
    branch_name: str
    name: str | None = None


async def get_or_create(ctx: RequestContext) -> web.StreamResponse:
    """PUT (and the deprecated POST) ``/workspaces``. The reply echoes the request's
    ``workspace_id`` even when an existing workspace was found by name (a real-server trap)."""
    repo = ctx.repo()
    raw = await ctx.text_body()
    try:
        request = msgspec.json.decode(raw, type=_NewWorkspace)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise wire.plain_error(400, str(error)) from None
    async with repo.lock:
        head = repo.head_commit(request.branch_name)
        if head is None:
            if repo.branches():
                raise wire.plain_error(
                    400,
                    f"Branch not found: {request.branch_name}. "
                    "For non-empty repositories, create the branch first.",
                )
            head = await ctx.offload(_initial_commit, repo, request.branch_name)
        wanted = request.name if request.name is not None else request.workspace_id
        found = repo.workspaces.find(wanted)
        if found is not None:
            view = workspace_view(found, base_commit(repo, found), request.workspace_id)
            return wire.ok("resource_found", workspace=view)
        try:
            created = await ctx.offload(
                repo.workspaces.create, request.workspace_id, request.name, head.id
            )
        except ValueError as error:
            raise wire.internal_error(str(error)) from None
    return wire.ok("resource_created", workspace=workspace_view(created, head))


def _initial_commit(repo: Repository, branch: str) -> Commit:
    commit = repo.create_commit([], None, {}, _INITIAL_MESSAGE, _INITIAL_AUTHOR, allow_empty=True)
    assert commit is not None
    repo.set_branch(branch, commit.id)
    return commit


async def show(ctx: RequestContext) -> web.StreamResponse:
    repo, workspace = find_workspace(ctx)
    return wire.ok(
        "resource_found", workspace=workspace_view(workspace, base_commit(repo, workspace))
    )


async def list_workspaces(ctx: RequestContext) -> web.StreamResponse:
    repo = ctx.repo()
    name = ctx.request.query.get("name")
    chosen = [w for w in repo.workspaces.all() if name is None or w.name == name]
    views = []
    for workspace in sorted(chosen, key=lambda w: w.id):
        commit = repo.get_commit(workspace.commit_id)
        if commit is not None:
            views.append(workspace_view(workspace, commit))
    return wire.ok("resource_created", workspaces=views)


async def delete(ctx: RequestContext) -> web.StreamResponse:
    repo, workspace = find_workspace(ctx)
    commit = base_commit(repo, workspace)
    await ctx.offload(_delete_locked, repo, workspace)
    return wire.ok(
        "resource_created", workspace=workspace_view(workspace, commit, ctx.params["workspace_id"])
    )


def _delete_locked(repo: Repository, workspace: Workspace) -> None:
    with workspace.lock:
        repo.workspaces.delete(workspace)


async def clear(ctx: RequestContext) -> web.StreamResponse:
    repo = ctx.repo()
    for workspace in repo.workspaces.all():
        await ctx.offload(_delete_locked, repo, workspace)
    return wire.ok("resource_created")


async def validate(ctx: RequestContext) -> web.StreamResponse:
    find_workspace(ctx)
    return wire.ok("resource_found")
