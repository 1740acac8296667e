"""Branches: list, create (from a branch or a commit), show, move, delete (part 1, section 4).

Every change of a ref happens under ``repo.lock``.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from oxen_async.testing import wire
from oxen_async.testing.context import RequestContext
from oxen_async.testing.storage import HEAD_BRANCH, valid_branch_name
from oxen_async.testing.views import branch_view


async def list_branches(ctx: RequestContext) -> web.StreamResponse:
    branches = ctx.repo().branches()
    return wire.ok(
        "resource_found",
        branches=[branch_view(name, branches[name]) for name in sorted(branches)],
    )


async def create(ctx: RequestContext) -> web.StreamResponse:
    repo = ctx.repo()
    raw = await ctx.text_body()
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("new_name"), str):
        raise wire.plain_error(400, "Invalid request body")
    new_name: str = body["new_name"]
    async with repo.lock:
        if isinstance(body.get("from_name"), str):
            existing = repo.branch_head(new_name)
            if existing is not None:
                return wire.ok("resource_found", branch=branch_view(new_name, existing))
            source = repo.branch_head(body["from_name"])
            if source is None:
                raise wire.not_found_plain()
            return _created(ctx, new_name, source)
        if isinstance(body.get("commit_id"), str):
            commit = repo.find_commit(body["commit_id"])
            if commit is None:
                raise wire.internal_error(f"Could not find commit: {body['commit_id']}")
            if repo.branch_head(new_name) is not None:
                raise wire.internal_error(f"Branch already exists: {new_name}")
            return _created(ctx, new_name, commit.id)
    raise wire.plain_error(400, "Invalid request body")


def _created(ctx: RequestContext, name: str, commit_id: str) -> web.Response:
    if not valid_branch_name(name):
        raise wire.internal_error(f"'{name}' is not a valid branch name.")
    ctx.repo().set_branch(name, commit_id)
    return wire.ok("resource_created", branch=branch_view(name, commit_id))


async def show(ctx: RequestContext) -> web.StreamResponse:
    name = ctx.params["name"]
    head = ctx.repo().branch_head(name)
    if head is None:
        raise wire.branch_not_found(name)
    return wire.ok("resource_found", branch=branch_view(name, head))


class _Move(msgspec.Struct):
    commit_id: str


async def update(ctx: RequestContext) -> web.StreamResponse:
    """Move (or create) a branch to any existing commit; no fast-forward check, like the real."""
    repo = ctx.repo()
    name = ctx.params["name"]
    raw = await ctx.text_body()
    try:
        move = msgspec.json.decode(raw, type=_Move)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise wire.bad_request(str(error)) from None
    async with repo.lock:
        commit = repo.find_commit(move.commit_id)
        if commit is None:
            raise wire.internal_error(f"Could not find commit: {move.commit_id}")
        if repo.branch_head(name) is None and not valid_branch_name(name):
            raise wire.internal_error(f"'{name}' is not a valid branch name.")
        repo.set_branch(name, commit.id)
    return wire.ok("resource_updated", branch=branch_view(name, commit.id))


async def delete(ctx: RequestContext) -> web.StreamResponse:
    repo = ctx.repo()
    name = ctx.params["name"]
    async with repo.lock:
        head = repo.branch_head(name)
        if head is None:
            raise wire.branch_not_found(name)
        if name == HEAD_BRANCH:
            raise wire.internal_error(f"Err: Cannot delete current checked out branch '{name}'")
        repo.set_branch(name, None)
    view: dict[str, Any] = branch_view(name, head)
    return wire.ok("resource_deleted", branch=view)
