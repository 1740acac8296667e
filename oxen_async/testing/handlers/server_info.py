"""``/api/version``, ``/api/min_version``, ``/api/health``, ``/api/namespaces``."""

from __future__ import annotations

import shutil

from aiohttp import web

from oxen_async.testing import wire
from oxen_async.testing.context import RequestContext


async def version(ctx: RequestContext) -> web.StreamResponse:
    return wire.ok("resource_found")


async def min_version(ctx: RequestContext) -> web.StreamResponse:
    return wire.ok("resource_found", version=wire.MIN_CLIENT_VERSION)


async def health(ctx: RequestContext) -> web.StreamResponse:
    directory = ctx.storage.data_dir
    while not directory.exists():
        directory = directory.parent
    usage = shutil.disk_usage(directory)
    gib = 1024**3
    return wire.ok(
        "resource_found",
        disk_usage={
            "total_gb": round(usage.total / gib, 2),
            "used_gb": round(usage.used / gib, 2),
            "free_gb": round(usage.free / gib, 2),
            "percent_used": round(usage.used / usage.total, 3) if usage.total else 0.0,
        },
    )


async def namespaces(ctx: RequestContext) -> web.StreamResponse:
    names = await ctx.offload(ctx.storage.namespaces)
    return wire.ok("resource_found", namespaces=[{"namespace": name} for name in names])


async def namespace_show(ctx: RequestContext) -> web.StreamResponse:
    namespace, _ = ctx.repo_segments()
    if namespace not in await ctx.offload(ctx.storage.namespaces):
        raise wire.not_found_plain()
    return wire.ok("resource_found", namespace={"name": namespace, "storage_usage_gb": 0.0})
