"""``POST /versions/uploads`` and ``PUT /versions/uploads/{id}/parts/{n}`` (oxen-server 0.65).

Bodies and statuses as the running 0.65.2 answers them: begin is 200 ``resource_created`` with
``file: "awaiting_parts"`` and the upload's numbers flat beside it, or ``resource_found`` with
``file: "already_stored"`` (staged at the destination at once); a part answers ``{completed}``.
Refusals are family B 400s (``Version upload refused: ...``), unknown or ended uploads family B
404s, deferred parts a family C 429 ``upload_part_deferred`` with ``Retry-After: 1``.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from oxen_async.testing import wire
from oxen_async.testing.context import RequestContext
from oxen_async.testing.filetypes import FileMeta, describe_bytes
from oxen_async.testing.handlers.versions import stage_completed
from oxen_async.testing.paths import InvalidPath, normalize_relative_path
from oxen_async.testing.storage import Repository
from oxen_async.testing.uploads import (
    Completed,
    Destination,
    PartDeferred,
    Upload,
    UploadNotFound,
    UploadRefused,
)


class _Destination(msgspec.Struct):
    workspace_id: str
    path: str


class _Begin(msgspec.Struct):
    hash: str
    size: int
    destination: _Destination | None = None


def _refused(error: UploadRefused) -> wire.WireError:
    return wire.described_error(400, "bad_request", f"Version upload refused: {error}")


def _not_found(error: UploadNotFound) -> wire.WireError:
    return wire.described_error(404, "resource_not_found", str(error))


def _deferred(error: PartDeferred) -> wire.WireError:
    return wire.structured_error(
        429,
        "upload_part_deferred",
        "Part cannot be stored yet",
        str(error),
        "too_many_requests",
        headers={"Retry-After": "1"},
    )


def workspace_gone(workspace_id: str) -> wire.WireError:
    """liboxen ``WorkspaceNotFound`` through the generic mapping (not the workspace routes')."""
    return wire.structured_error(
        404,
        "resource_not_found",
        "Workspace does not exist",
        f"Could not find workspace: {workspace_id}",
    )


async def begin(ctx: RequestContext) -> web.StreamResponse:
    repo = ctx.repo()
    request = await ctx.json_extractor_body(_Begin)
    if request.size < 0:
        raise wire.text_error(
            400, f"Json deserialize error: invalid value: integer `{request.size}`, expected u64"
        )
    destination = None
    if request.destination is not None:
        try:
            path = normalize_relative_path(
                request.destination.path, "destination path", allow_empty=False
            )
        except InvalidPath as error:
            raise wire.bad_request(str(error)) from None
        destination = Destination(request.destination.workspace_id, path)
    try:
        upload = await ctx.offload(_begin, ctx, repo, request.hash, request.size, destination)
    except UploadRefused as error:
        raise _refused(error) from None
    if upload is None:
        return wire.ok("resource_found", file="already_stored")
    ctx.stats.record_upload_begun(ctx.route.name)
    return wire.ok(
        "resource_created",
        file="awaiting_parts",
        upload_id=upload.id,
        part_size=upload.part_size,
        num_parts=upload.num_parts,
        part_window=upload.part_window,
    )


def _begin(
    ctx: RequestContext, repo: Repository, hash_text: str, size: int, dest: Destination | None
) -> Upload | None:
    # Checked in the real order: hash, size, then the workspace, then the store.
    registry = ctx.state.uploads
    if dest is not None:
        registry.check(hash_text, size)
        workspace = repo.workspaces.find(dest.workspace_id)
        if workspace is None or workspace.deleted:
            raise workspace_gone(dest.workspace_id)
    upload = registry.begin(repo, hash_text, size, dest)
    if upload is None and dest is not None:
        name = registry.canonical(hash_text)
        reader = repo.versions.open(name)
        try:
            content = reader.read(reader.size)
        finally:
            reader.close()
        meta = describe_bytes(content, name, dest.path)
        _stage(repo, dest, meta)
    return upload


def _stage(repo: Repository, dest: Destination, meta: FileMeta) -> None:
    workspace = repo.workspaces.find(dest.workspace_id)
    if workspace is None or workspace.deleted:
        raise workspace_gone(dest.workspace_id)
    stage_completed(repo, workspace, dest.path, meta)


async def upload_part(ctx: RequestContext) -> web.StreamResponse:
    raw_number = ctx.params["part_number"]
    if not raw_number.isascii() or not raw_number.isdigit() or int(raw_number) >= 1 << 64:
        raise wire.bad_request("Invalid part number")
    number = int(raw_number)
    repo = ctx.repo()
    try:
        upload = ctx.state.uploads.find(repo, ctx.params["upload_id"])
        admitted = upload.receive(number)
    except UploadRefused as error:
        raise _refused(error) from None
    except UploadNotFound as error:
        raise _not_found(error) from None
    except PartDeferred as error:
        raise _deferred(error) from None
    if not admitted:
        ctx.stats.record_part_ignored(ctx.route.name)
        return wire.ok("resource_created", completed=False)
    try:
        data = await _read_part(ctx, upload, number)
        ctx.stats.record_files(ctx.route.name, 1, len(data))
        done = await ctx.offload(_store, ctx, repo, upload, number, data)
    except UploadRefused as error:
        raise _refused(error) from None
    except UploadNotFound as error:
        raise _not_found(error) from None
    finally:
        upload.release(number)
    if done is not None and ctx.faults.drops_completion_answer():
        ctx.drop_answer = True
    return wire.ok("resource_created", completed=done is not None)


async def _read_part(ctx: RequestContext, upload: Upload, number: int) -> bytes:
    limit = upload.part_length(number)
    pieces: list[bytes] = []
    total = 0
    while piece := await ctx.request.content.readany():
        total += len(piece)
        if total > limit:
            raise UploadRefused(f"part {number} is longer than {limit} bytes (upload {upload.id})")
        pieces.append(piece)
    ctx.stats.record_body(ctx.route.name, total)
    return b"".join(pieces)


def _store(
    ctx: RequestContext, repo: Repository, upload: Upload, number: int, data: bytes
) -> Completed | None:
    registry = ctx.state.uploads
    try:
        done = upload.store(number, data)
    except UploadRefused:
        if upload.ended:  # a hash mismatch ends the upload; a wrong length does not
            registry.forget(upload)
        raise
    if done is None:
        return None
    registry.forget(upload)
    if done.destination is not None:
        _stage(repo, done.destination, done.meta)
    return done
