"""``GET /chunk/{revision}/{path}?chunk_start=&chunk_size=``: a byte range of a file version.

As oxen-server 0.65.2 answers it (controllers/entries.rs ``download_chunk``, seen on the
binary): the range is read whole into memory and sent with a Content-Length; ``chunk_start``
defaults to 0 and ``chunk_size`` to the stream segment (10 MiB). A range that starts at or
past the end, or runs past it, is a 500 ``beyond end of file`` (so an empty file has no valid
range but ``chunk_size=0`` at 0 of a non-empty one); an unknown revision is 404 "Path does not
exist"; a missing path or a directory is the plain 404.
"""

from __future__ import annotations

from urllib.parse import unquote

from aiohttp import web

from oxen_async.testing import wire
from oxen_async.testing.context import RequestContext
from oxen_async.testing.download_faults import DownloadFaults
from oxen_async.testing.resources import resolve, tree_for
from oxen_async.testing.storage import Repository
from oxen_async.testing.trees import lookup

STREAM_SEGMENT = 10 * 1024 * 1024


async def download_chunk(ctx: RequestContext) -> web.StreamResponse:
    repo = ctx.repo()
    start = ctx.query_uint("chunk_start", 0)
    size = ctx.query_uint("chunk_size", STREAM_SEGMENT)
    value = ctx.params["resource"]
    resolved = resolve(repo, value)
    if resolved is None:
        raise wire.path_does_not_exist(unquote(value))
    nodes, root = await ctx.offload(tree_for, repo, resolved)
    entry = lookup(nodes, root, resolved.path) if resolved.path else None
    if entry is None or entry.is_dir:
        raise wire.not_found_plain()
    data = await ctx.offload(_read_range, repo, entry.hash, start, size, ctx.faults.downloads)
    if data is None:
        raise wire.internal_error("beyond end of file")
    ctx.stats.record_files(ctx.route.name, 1, len(data))
    return web.Response(body=data)


def _read_range(
    repo: Repository, content_hash: str, start: int, size: int, faults: DownloadFaults
) -> bytes | None:
    reader = repo.versions.open(content_hash)
    try:
        total = reader.size
        if start >= total or start + size > total:
            return None
        reader.skip(start)
        data = reader.read(size)
    finally:
        reader.close()
    if faults.wants_wrong_byte(content_hash):
        data = faults.apply_wrong_byte(data, start, total)
    return data
