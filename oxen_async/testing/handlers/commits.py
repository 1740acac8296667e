"""Commits: history of a revision, a path or a range, one commit, the root (part 1, section 5)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from aiohttp import web

from oxen_async.testing import wire
from oxen_async.testing.context import RequestContext
from oxen_async.testing.resources import resolve
from oxen_async.testing.storage import Commit, Repository

# Below this many entries up to the requested page the real server walks first parents only.
_FIRST_PARENT_WINDOW = 10


def _page_of(commits: list[Commit], total: int, page: int, page_size: int) -> dict[str, Any]:
    start = (max(page, 1) - 1) * page_size
    chosen = commits[start : start + page_size] if page_size else []
    return {
        "commits": [commit.view() for commit in chosen],
        "page_size": page_size,
        "page_number": page,
        "total_pages": -(-total // page_size) if page_size else 0,
        "total_entries": total,
    }


def _path_page(commits: list[Commit], page: int, page_size: int) -> dict[str, Any]:
    """0.65's path history page: ``has_more`` instead of ``total_pages``/``total_entries``."""
    start = (max(page, 1) - 1) * page_size
    chosen = commits[start : start + page_size]
    return {
        "commits": [commit.view() for commit in chosen],
        "page_number": page,
        "page_size": page_size,
        "has_more": start + page_size < len(commits),
    }


async def history(ctx: RequestContext) -> web.StreamResponse:
    repo = ctx.repo()
    page = ctx.query_uint("page", 1)
    page_size = ctx.query_uint("page_size", 100)
    if page_size == 0:  # 0.65.2, on every history form (and before looking at the repo's state)
        raise wire.bad_request("page_size must be at least 1")
    if not repo.branches():
        return wire.ok(
            "resource_found",
            commits=[],
            page_size=page_size,
            page_number=page,
            total_pages=1,
            total_entries=0,
        )
    value = ctx.params["resource"]
    decoded = unquote(value)
    if ".." in decoded:
        commits = _range(repo, decoded)
        return wire.ok("resource_found", **_page_of(commits, len(commits), page, page_size))
    resolved = resolve(repo, value)
    if resolved is None:
        raise wire.path_does_not_exist(decoded)
    if resolved.workspace is not None:
        raise wire.not_found_plain()
    head = resolved.commit
    if resolved.path:
        commits = await ctx.offload(_path_history, repo, head, resolved.path)
        return wire.ok("resource_found", **_path_page(commits, page, page_size))
    every = await ctx.offload(repo.ancestors, head)
    if max(page, 1) * page_size <= _FIRST_PARENT_WINDOW:
        ordered = list(repo.first_parent_chain(head))
    else:
        ordered = sorted(every, key=lambda c: c.ts_ns, reverse=True)
    return wire.ok("resource_found", **_page_of(ordered, len(every), page, page_size))


def _range(repo: Repository, text: str) -> list[Commit]:
    base_text, _, head_text = text.partition("..")
    base = repo.find_commit(base_text)
    head = repo.find_commit(head_text)
    if base is None:
        raise wire.revision_not_found(base_text)
    if head is None:
        raise wire.revision_not_found(head_text)
    result: list[Commit] = []
    for commit in sorted(repo.ancestors(head), key=lambda c: c.ts_ns, reverse=True):
        result.append(commit)
        if commit.id == base.id:
            break
    return result


def _path_history(repo: Repository, head: Commit, path: str) -> list[Commit]:
    """Commits that changed ``path``: follow each entry's last-changing commit backwards."""
    entry = repo.lookup(head, path)
    if entry is None:
        raise wire.structured_error(
            404,
            "resource_not_found",
            "Path not in revision",
            f"{path} does not exist in {head.id}.",
        )
    result: list[Commit] = []
    seen: set[str] = set()
    while entry is not None and entry.commit not in seen:
        changed_in = repo.get_commit(entry.commit)
        if changed_in is None:
            break
        seen.add(changed_in.id)
        result.append(changed_in)
        if not changed_in.parent_ids:
            break
        parent = repo.get_commit(changed_in.parent_ids[0])
        entry = repo.lookup(parent, path) if parent is not None else None
    return result


async def show(ctx: RequestContext) -> web.StreamResponse:
    commit_id = ctx.params["commit_id"]
    commit = ctx.repo().find_commit(commit_id)
    if commit is None:
        raise wire.revision_not_found(commit_id)
    return wire.ok("resource_found", commit=commit.view())


async def root(ctx: RequestContext) -> web.StreamResponse:
    repo = ctx.repo()
    branches = repo.branches()
    if not branches:
        return wire.ok("resource_found", commit=None)
    head = repo.get_commit(branches[sorted(branches)[0]])
    root_commit = None
    if head is not None:
        *_, root_commit = repo.first_parent_chain(head)
    return wire.ok("resource_found", commit=root_commit.view() if root_commit else None)


async def complete(ctx: RequestContext) -> web.StreamResponse:
    """``POST /commits/{id}/complete``: the last step of the official client's workspace commit.

    The real server only looks the commit up and echoes it (the body is ignored); its 404 is
    the plain status family.
    """
    commit = ctx.repo().find_commit(ctx.params["commit_id"])
    if commit is None:
        raise wire.not_found_plain()
    return wire.ok("resource_created", commit=commit.view())


def _action(ctx: RequestContext, state: str) -> web.StreamResponse:
    return wire.json_response({"action": ctx.params["action"], "status": "success", "state": state})


async def action_started(ctx: RequestContext) -> web.StreamResponse:
    """``/action/started/{action}``: a no-op hook the official client calls around a push."""
    return _action(ctx, "started")


async def action_completed(ctx: RequestContext) -> web.StreamResponse:
    return _action(ctx, "completed")
