"""Listing and dropping a workspace's staged changes."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from oxen_async.testing import wire
from oxen_async.testing.context import RequestContext
from oxen_async.testing.filetypes import extension_of
from oxen_async.testing.handlers.workspaces import base_commit, find_workspace


def _staged_listing(entries: list[tuple[str, str]], page: int, page_size: int) -> dict[str, Any]:
    start = (max(page, 1) - 1) * page_size
    return {
        "dir": None,
        "entries": [
            # The real server reads these from a working dir uploads never touch: hash "",
            # size 0 and generic types. Only ``filename`` is meaningful.
            {
                "filename": path,
                "hash": "",
                "is_dir": False,
                "latest_commit": None,
                "resource": None,
                "size": 0,
                "data_type": "binary",
                "mime_type": "application/octet-stream",
                "extension": extension_of(path),
                "metadata": None,
                "is_queryable": None,
            }
            for path, _ in entries[start : start + page_size]
        ],
        "resource": None,
        "metadata": None,
        "page_size": page_size,
        "page_number": page,
        "total_pages": -(-len(entries) // page_size),
        "total_entries": len(entries),
    }


async def changes(ctx: RequestContext) -> web.StreamResponse:
    repo, workspace = find_workspace(ctx)
    page = ctx.query_uint("page", 1)
    page_size = ctx.query_uint("page_size", 100)
    if page_size == 0:
        raise wire.bad_request("page_size must be greater than 0")
    prefix = "/".join(p for p in ctx.params.get("path", "").split("/") if p and p != ".")
    base = base_commit(repo, workspace)

    def classify() -> dict[str, list[tuple[str, str]]]:
        with workspace.lock:
            staged = sorted(workspace.staged.items())
        groups: dict[str, list[tuple[str, str]]] = {"Added": [], "Modified": [], "Removed": []}
        for path, change in staged:
            if prefix and path != prefix and not path.startswith(prefix + "/"):
                continue
            if change is None:
                groups["Removed"].append((path, "Removed"))
            elif repo.lookup(base, path) is None:
                groups["Added"].append((path, "Added"))
            else:
                groups["Modified"].append((path, "Modified"))
        return groups

    groups = await ctx.offload(classify)
    added_dirs: dict[str, list[dict[str, Any]]] = {}
    for path, _ in groups["Added"]:
        top = path.split("/", 1)[0] if "/" in path else ""
        if top:
            bucket = added_dirs.setdefault(
                top, [{"path": top, "num_files_staged": 0, "total_files": 0, "status": "Added"}]
            )
            bucket[0]["num_files_staged"] += 1
            bucket[0]["total_files"] += 1
    staged_total = sum(item[0]["num_files_staged"] for item in added_dirs.values())
    return wire.ok(
        "resource_found",
        staged={
            "added_dirs": {
                "num_files_staged": staged_total,
                "total_files": staged_total,
                "paths": added_dirs,
            },
            "added_files": _staged_listing(groups["Added"], page, page_size),
            "modified_files": _staged_listing(groups["Modified"], page, page_size),
            "removed_files": _staged_listing(groups["Removed"], page, page_size),
        },
    )


async def unstage_many(ctx: RequestContext) -> web.StreamResponse:
    """Paths that are not staged are skipped silently, as on the real server."""
    _, workspace = find_workspace(ctx)
    paths = await ctx.json_extractor_body(list[str])

    def drop() -> None:
        with workspace.lock:
            workspace.record(
                [["u", p.strip("/")] for p in paths if p.strip("/") in workspace.staged]
            )

    await ctx.offload(drop)
    return wire.ok("resource_deleted")


async def unstage_one(ctx: RequestContext) -> web.StreamResponse:
    _, workspace = find_workspace(ctx)
    path = "/".join(p for p in ctx.params["path"].split("/") if p and p != ".")

    def drop() -> bool:
        with workspace.lock:
            if path not in workspace.staged:
                return False
            workspace.record([["u", path]])
            return True

    if not await ctx.offload(drop):
        raise wire.not_found_plain()
    return wire.ok("resource_deleted")
