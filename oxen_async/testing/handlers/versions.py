"""``/versions``: batch upload, per-hash metadata, chunked upload, batch download (part 2, 2-3)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import msgspec
from aiohttp import web

from oxen_async.testing import wire
from oxen_async.testing.blobs import BadVersionName, StoreError, inflate
from oxen_async.testing.context import RequestContext
from oxen_async.testing.faults import FaultController
from oxen_async.testing.handlers.files import send_blob
from oxen_async.testing.multipart import MultipartError, boundary_from, parse_multipart
from oxen_async.testing.paths import InvalidPath, normalize_relative_path
from oxen_async.testing.resources import resolve
from oxen_async.testing.storage import Repository
from oxen_async.testing.workspaces import Workspace

COMPLETE_LIMIT = 20 * 1024 * 1024


# --- POST /versions ----------------------------------------------------------------------------


async def upload(ctx: RequestContext) -> web.StreamResponse:
    """Store content blobs named by their hash; per-file failures go to ``err_files`` (200)."""
    repo = ctx.repo()
    try:
        boundary = boundary_from(ctx.request.headers.get("Content-Type"))
    except MultipartError as error:
        raise wire.structured_error(
            error.status, "bad_request", "Bad Request", error.message
        ) from None
    body = await ctx.body()
    err_files, parts, size, failure = await ctx.offload(
        _store_batch, repo, body, boundary, ctx.faults
    )
    ctx.stats.record_files(ctx.route.name, parts, size)
    if failure is not None:
        raise failure
    return wire.ok("resource_created", err_files=err_files)


def _store_batch(
    repo: Repository, body: bytes, boundary: str, faults: FaultController
) -> tuple[list[dict[str, Any]], int, int, wire.WireError | None]:
    err_files: list[dict[str, Any]] = []
    parts = size = 0
    try:
        multipart = parse_multipart(body, boundary)
    except MultipartError as error:
        return [], 0, 0, wire.structured_error(400, "bad_request", "Bad Request", error.message)
    pack = repo.versions.batch()
    failure: wire.WireError | None = None
    for part in multipart:
        if part.name not in ("file", "file[]"):
            continue
        parts += 1
        size += len(part.data)
        name = part.filename
        if name is None:
            failure = wire.bad_request("Missing hash in multipart request")
            break
        try:
            repo.versions.version_dir(name)
            content = inflate(part.data) if part.is_gzip else part.data
            if faults.store_fails(name):
                raise StoreError("Failed to store version: injected fault")
            if pack.has(name):
                continue  # already there: skipped without any check, like the real server
            repo.versions.verify(name, content)
            pack.add(name, content)
        except StoreError as error:
            err_files.append({"hash": name, "path": None, "error": str(error)})
        except BadVersionName:
            # The real server panics slicing such a name: the whole request is a 500.
            failure = wire.plain_error(500, "internal_server_error")
            break
    pack.flush()  # parts read before a failure stay stored, as on the real server
    return err_files, parts, size, failure


# --- per-version routes ------------------------------------------------------------------------


async def metadata(ctx: RequestContext) -> web.StreamResponse:
    repo = ctx.repo()
    version_id = ctx.params["version_id"]
    size = await ctx.offload(repo.versions.size, version_id)
    if size is None:
        raise wire.not_found_plain()
    return wire.ok("resource_found", version={"hash": version_id, "size": size})


async def put_chunk(ctx: RequestContext) -> web.StreamResponse:
    repo = ctx.repo()
    offset = ctx.query_uint("offset", 0)
    ctx.query_uint("size", 0)  # parsed (bad values are 400) and ignored, like the real server
    data = await ctx.body()
    ctx.stats.record_files(ctx.route.name, 1, len(data))
    try:
        await ctx.offload(repo.versions.put_chunk, ctx.params["version_id"], offset, data)
    except BadVersionName:
        raise wire.plain_error(500, "internal_server_error") from None
    return wire.ok("resource_created")


class _CompleteFile(msgspec.Struct):
    hash: str
    file_name: str
    dst_dir: str | None = None
    num_chunks: int | None = None
    upload_results: list[Any] | None = None


class _Complete(msgspec.Struct):
    files: list[_CompleteFile]
    workspace_id: str | None = None


async def complete(ctx: RequestContext) -> web.StreamResponse:
    repo = ctx.repo()
    version_id = ctx.params["version_id"]
    try:
        raw = await ctx.body(COMPLETE_LIMIT)
    except Exception:
        raise wire.text_error(413, "A payload reached size limit.") from None
    try:
        request = msgspec.json.decode(raw, type=_Complete)
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise wire.plain_error(400, "Invalid request body") from None
    if len(request.files) != 1:
        raise wire.plain_error(400, "Expected a single file in the request")
    file = request.files[0]
    if file.num_chunks is not None:
        expected = file.num_chunks
    elif file.upload_results is not None:
        expected = len(file.upload_results)
    else:
        raise wire.bad_request("Missing both num_chunks and upload_results in request")
    stage_path = f"{file.dst_dir}/{file.file_name}" if file.dst_dir else file.file_name
    try:  # 0.65: refused before the chunks are joined
        normalize_relative_path(stage_path, "destination path", allow_empty=False)
    except InvalidPath as error:
        raise wire.bad_request(str(error)) from None
    try:
        meta = await ctx.offload(repo.versions.complete, version_id, expected, stage_path)
    except ValueError as error:
        raise wire.plain_error(400, str(error)) from None
    except (StoreError, BadVersionName) as error:
        raise wire.internal_error(str(error)) from None
    if request.workspace_id is not None:
        workspace = repo.workspaces.find(request.workspace_id)
        if workspace is None or workspace.deleted:
            raise wire.plain_error(404, f"Workspace not found: {request.workspace_id}")
        await ctx.offload(stage_completed, repo, workspace, stage_path.strip("/"), meta)
    return wire.ok("resource_found")


def stage_completed(repo: Repository, workspace: Workspace, path: str, meta: Any) -> None:
    base = repo.get_commit(workspace.commit_id)
    if base is not None:
        current = repo.lookup(base, path)
        if current is not None and not current.is_dir and current.hash == meta.hash:
            return
    with workspace.lock:
        workspace.record([["s", path, meta]])


async def create(ctx: RequestContext) -> web.StreamResponse:
    """A no-op on the real server too (it does not reject known hashes)."""
    ctx.repo()
    await ctx.text_body()
    return wire.ok("resource_found")


async def file_by_resource(ctx: RequestContext) -> web.StreamResponse:
    """``GET /versions/{revision}/{path}`` (``+`` is not read as a space, despite the notes)."""
    repo = ctx.repo()
    value = ctx.params["resource"]  # seen on the real server: "+" stays "+"
    resolved = resolve(repo, value)
    if resolved is None:
        raise wire.path_does_not_exist(unquote(value))
    entry = repo.lookup(resolved.commit, resolved.path) if resolved.path else None
    if entry is None or entry.is_dir:
        raise wire.path_does_not_exist(resolved.path)
    return await send_blob(ctx, repo, entry, entry.commit)


# QUERY /versions (the streamed batch download) lives in handlers/version_query.py.
