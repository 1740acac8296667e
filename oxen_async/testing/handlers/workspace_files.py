"""Staging into a workspace: batch uploads (gzip or raw parts), reads, staged removals.

One worker-thread hop per batch does the gunzip, hashing, blob writes (one pack file) and the
staging journal append, so a request costs O(files) with a small constant.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from oxen_async.hashing import hash_bytes
from oxen_async.testing import wire
from oxen_async.testing.blobs import StoreError, inflate
from oxen_async.testing.context import RequestContext
from oxen_async.testing.faults import FaultController
from oxen_async.testing.filetypes import FileMeta, describe_bytes
from oxen_async.testing.handlers.files import send_blob
from oxen_async.testing.handlers.workspaces import base_commit, find_workspace
from oxen_async.testing.multipart import MultipartError, boundary_from, parse_multipart
from oxen_async.testing.paths import InvalidPath, normalize_staging_path
from oxen_async.testing.storage import Repository
from oxen_async.testing.trees import Entry, lookup
from oxen_async.testing.workspaces import Workspace


async def add_files(ctx: RequestContext) -> web.StreamResponse:
    """Stage a batch: one worker-thread hop for gunzip, hashing, blob writes and staging."""
    repo, workspace = find_workspace(ctx)
    try:
        boundary = boundary_from(ctx.request.headers.get("Content-Type"))
    except MultipartError as error:
        raise wire.structured_error(
            error.status, "bad_request", "Bad Request", error.message
        ) from None
    body = await ctx.body()
    outcome = await ctx.offload(
        _ingest, repo, workspace, ctx.params["directory"], body, boundary, ctx.faults
    )
    ctx.stats.record_files(ctx.route.name, outcome.parts, outcome.part_bytes)
    if outcome.error is not None:
        raise outcome.error
    return wire.ok("resource_created", paths=outcome.paths)


class _Ingested:
    __slots__ = ("error", "part_bytes", "parts", "paths")

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.parts = 0
        self.part_bytes = 0
        self.error: wire.WireError | None = None


def _ingest(
    repo: Repository,
    workspace: Workspace,
    directory: str,
    body: bytes,
    boundary: str,
    faults: FaultController,
) -> _Ingested:
    outcome = _Ingested()
    try:
        parts = parse_multipart(body, boundary)
    except MultipartError as error:
        outcome.error = wire.structured_error(400, "bad_request", "Bad Request", error.message)
        return outcome
    # Like the real server: every blob is stored before any path is checked.
    pack = repo.versions.batch()
    stored: list[tuple[str, str, bytes] | None] = []
    path_error: InvalidPath | None = None
    for part in parts:
        if part.name not in ("file", "file[]"):
            continue
        outcome.parts += 1
        outcome.part_bytes += len(part.data)
        if part.filename is None:
            pack.flush()  # what was read before stays stored, as on the real server
            outcome.error = wire.bad_request("Missing filename in multipart request")
            return outcome
        try:
            path = normalize_staging_path(directory, part.filename)
        except InvalidPath as error:
            path_error = path_error or error
            stored.append(None)
            continue
        try:
            content = inflate(part.data) if part.is_gzip else part.data.tobytes()
        except StoreError:
            stored.append(None)  # dropped silently: the client learns it from ``paths``
            continue
        content_hash = hash_bytes(content)
        if faults.store_fails(content_hash, path):
            stored.append(None)
            continue
        pack.add(content_hash, content)
        stored.append((path, content_hash, content))
    pack.flush()
    if path_error is not None:
        outcome.error = wire.bad_request(str(path_error))
        return outcome
    base = repo.get_commit(workspace.commit_id)
    records: list[list[Any]] = []
    for item in stored:
        if item is None:
            continue
        path, content_hash, content = item
        outcome.paths.append(path)
        if base is not None:
            current = lookup(repo.nodes, base.root, path)
            if current is not None and not current.is_dir and current.hash == content_hash:
                continue  # unchanged from the base commit: listed, but not staged
        records.append(["s", path, describe_bytes(content, content_hash, path)])
    with workspace.lock:
        if workspace.deleted:
            outcome.error = wire.workspace_not_found(workspace.id)
            return outcome
        workspace.record(records)
    return outcome


async def get_file(ctx: RequestContext) -> web.StreamResponse:
    """The staged version of a path if any, else the base commit's."""
    repo, workspace = find_workspace(ctx)
    path = "/".join(p for p in ctx.params["path"].split("/") if p and p != ".")
    base = base_commit(repo, workspace)
    staged = workspace.staged.get(path, False)
    if isinstance(staged, FileMeta):
        name = path.rpartition("/")[2]
        entry = Entry(name, False, staged.hash, staged.size, "", "", staged.mime, staged.dtype)
        return await send_blob(ctx, repo, entry, base.id)
    found = repo.lookup(base, path) if staged is not None else None
    if found is None or found.is_dir:
        raise wire.path_does_not_exist(path)
    return await send_blob(ctx, repo, found, found.commit)


async def remove_files(ctx: RequestContext) -> web.StreamResponse:
    """Stage removals of committed files (a directory expands to every file beneath it)."""
    repo, workspace = find_workspace(ctx)
    paths = await ctx.json_extractor_body(list[str])
    base = base_commit(repo, workspace)

    def stage() -> list[str]:
        failed: list[str] = []
        records: list[list[Any]] = []
        for raw in paths:
            path = raw.strip("/")
            files = repo.files_under(base, path) if path else []
            if not files:
                failed.append(raw)
                continue
            records.extend(["r", file_path] for file_path, _ in files)
        with workspace.lock:
            workspace.record(records)
        return failed

    failed = await ctx.offload(stage)
    if failed:
        body = {
            "status": "error",
            "status_message": "resource_not_found",
            "oxen_version": wire.OXEN_VERSION,
            "paths": failed,
        }
        return wire.json_response(body, 206)
    return wire.ok("resource_deleted", paths=paths)
