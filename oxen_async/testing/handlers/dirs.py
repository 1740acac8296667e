"""Directory listing, one entry's metadata, and the resource parser's view (part 1, section 6)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from aiohttp import web

from oxen_async.testing import wire
from oxen_async.testing.context import RequestContext
from oxen_async.testing.resources import Resolved, resolve, tree_for
from oxen_async.testing.storage import Repository
from oxen_async.testing.trees import lookup
from oxen_async.testing.views import EntryViews, dir_metadata


def _resolve_or_404(repo: Repository, value: str) -> Resolved:
    resolved = resolve(repo, value)
    if resolved is None:
        raise wire.path_does_not_exist(unquote(value))
    return resolved


async def list_dir(ctx: RequestContext) -> web.StreamResponse:
    repo = ctx.repo()
    page = ctx.query_uint("page", 1)
    page_size = ctx.query_uint("page_size", 100)
    depth = ctx.query_int("depth", 0)
    reverse = ctx.query_bool("reverse", False)
    sort_by = ctx.request.query.get("sort_by", "name").strip().lower()
    if sort_by not in ("name", "date"):
        raise wire.bad_request("Invalid value for sort_by, valid options include: `name`, `date`.")
    resolved = _resolve_or_404(repo, ctx.params["resource"])
    body = await ctx.offload(_listing, repo, resolved, page, page_size, depth, sort_by, reverse)
    return wire.ok("resource_found", **body)


def _listing(
    repo: Repository,
    resolved: Resolved,
    page: int,
    page_size: int,
    depth: int,
    sort_by: str,
    reverse: bool,
) -> dict[str, Any]:
    nodes, root = tree_for(repo, resolved)
    directory = lookup(nodes, root, resolved.path)
    if directory is None or not directory.is_dir:
        raise wire.resource_not_found(resolved.path)
    views = EntryViews(repo, nodes, resolved)
    children = views.sorted_children(directory, sort_by, reverse)
    start = (max(page, 1) - 1) * page_size
    chosen = children[start : start + page_size]
    prefix = resolved.path
    return {
        "dir": views.entry(directory, prefix),
        "entries": [
            views.entry(child, f"{prefix}/{child.name}" if prefix else child.name, depth)
            for child in chosen
        ],
        "resource": {"path": prefix, "version": resolved.version},
        "metadata": dir_metadata(directory),
        "page_size": page_size,
        "page_number": page,
        "total_pages": -(-len(children) // page_size) if page_size else 0,
        "total_entries": len(children),
    }


async def meta(ctx: RequestContext) -> web.StreamResponse:
    repo = ctx.repo()
    resolved = _resolve_or_404(repo, ctx.params["resource"])

    def build() -> dict[str, Any]:
        nodes, root = tree_for(repo, resolved)
        entry = lookup(nodes, root, resolved.path)
        if entry is None:
            raise wire.resource_not_found(resolved.path)
        return EntryViews(repo, nodes, resolved).entry(entry, resolved.path)

    return wire.ok("resource_found", entry=await ctx.offload(build))


async def revision(ctx: RequestContext) -> web.StreamResponse:
    resolved = _resolve_or_404(ctx.repo(), ctx.params["resource"])
    return wire.ok("resource_found", resource=resolved.view())
