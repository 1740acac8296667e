"""``/file/{resource}``: download (GET/HEAD), upload-and-commit (PUT), remove-and-commit (DELETE).

PUT mirrors the real endpoint's two personalities: on a repo whose HEAD branch has no commit yet
the first path component is the new branch (no lookup, no second percent-decode); otherwise the
resource must resolve to an existing branch. Bodies are capped at about 2 MiB in total.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp import web

from oxen_async.hashing import hash_bytes
from oxen_async.testing import wire
from oxen_async.testing.context import BodyTooLarge, RequestContext
from oxen_async.testing.faults import CORRUPT_TABLE
from oxen_async.testing.filetypes import FileMeta, describe_bytes
from oxen_async.testing.multipart import MultipartError, Part, boundary_from, parse_multipart
from oxen_async.testing.paths import InvalidPath, normalize_relative_path, sanitize_filename
from oxen_async.testing.resources import components_of, resolve, tree_for
from oxen_async.testing.storage import Author, Commit, Repository, valid_branch_name
from oxen_async.testing.trees import Entry, lookup

# actix-multipart's MultipartForm keeps at most 2 MiB of parts in memory.
FORM_MEMORY_LIMIT = 2 * 1024 * 1024
# Stop reading a body this far past the limit (boundaries and headers are not counted).
_BODY_SLACK = 256 * 1024
_STREAM_PIECE = 1024 * 1024
_SMALL_FILE = 4 * 1024 * 1024


# --- download ----------------------------------------------------------------------------------


def refuse_outside_tree(value: str) -> None:
    """0.65: a resource with a ``..`` or ``.oxen`` segment is a 400 on every /file method."""
    try:
        normalize_relative_path(unquote(value), "resource", allow_empty=True)
    except InvalidPath as error:
        raise wire.bad_request(str(error)) from None


async def download(ctx: RequestContext) -> web.StreamResponse:
    repo = ctx.repo()
    value = ctx.params["resource"]
    refuse_outside_tree(value)
    resolved = resolve(repo, value)
    if resolved is None:
        raise wire.path_does_not_exist(unquote(value))
    nodes, root = await ctx.offload(tree_for, repo, resolved)
    entry = lookup(nodes, root, resolved.path) if resolved.path else None
    if entry is None or entry.is_dir:
        raise wire.path_does_not_exist(resolved.path)
    return await send_blob(ctx, repo, entry, entry.commit or resolved.commit.id)


async def send_blob(
    ctx: RequestContext, repo: Repository, entry: Entry, revision_id: str
) -> web.StreamResponse:
    """Stream a committed or staged file with the real server's headers; no Range support."""
    if not await ctx.offload(repo.versions.has, entry.hash):
        raise wire.structured_error(
            500,
            "version_blob_missing",
            "Version blob missing",
            f"Version blob {entry.hash} is missing on the server",
            "internal_server_error",
            hash=entry.hash,
        )
    response = web.StreamResponse(
        headers={
            "Content-Type": entry.mime,
            "oxen-revision-id": revision_id,
            "Access-Control-Expose-Headers": "content-length",
        }
    )
    response.content_length = entry.size
    await response.prepare(ctx.request)
    if ctx.request.method != "HEAD":
        budget = entry.size // 2 if ctx.truncate_response else entry.size
        corrupt = ctx.faults.serves_corrupt(entry.hash)
        reader = await ctx.offload(repo.versions.open, entry.hash)
        try:
            while budget > 0 and (piece := await ctx.offload(reader.read, _STREAM_PIECE)):
                if corrupt:
                    piece = piece.translate(CORRUPT_TABLE)
                await response.write(piece[:budget])
                budget -= len(piece)
        finally:
            reader.close()
    if ctx.truncate_response:
        return response  # the dispatcher closes the connection
    await response.write_eof()
    return response


# --- upload ------------------------------------------------------------------------------------


@dataclass
class _Form:
    files: list[Part]
    files_array: list[Part]
    name: str | None
    email: str | None
    message: str | None


async def _read_form(ctx: RequestContext, limit: int) -> _Form:
    """actix's MultipartForm extractor: every failure is plain text (family D)."""
    try:
        boundary = boundary_from(ctx.request.headers.get("Content-Type"))
    except MultipartError as error:
        raise wire.text_error(error.status, error.message) from None
    try:
        body = await ctx.body(limit + _BODY_SLACK)
    except BodyTooLarge:
        raise wire.text_error(400, "Payload error") from None
    try:
        parts = await ctx.offload(parse_multipart, body, boundary)
    except MultipartError as error:
        raise wire.text_error(error.status, error.message) from None
    # 0.53.4 refused a form with no part at all ("Multipart stream is incomplete"); 0.65.2
    # takes it: an empty DELETE form removes with the default message, an empty PUT lacks files.
    if sum(len(part.data) for part in parts) > limit:
        raise wire.text_error(400, "Payload error")
    form = _Form([], [], None, None, None)
    for part in parts:
        if part.name == "file":
            form.files.append(part)
        elif part.name == "files[]":
            form.files_array.append(part)
        elif part.name in ("name", "email", "message"):
            kind = (part.content_type or "text/plain").split(";", 1)[0].strip().lower()
            if kind != "text/plain":
                raise wire.text_error(400, f"Unsupported Content-Type for text field: {kind}")
            try:
                text = part.text()
            except UnicodeDecodeError:
                raise wire.text_error(400, "Error during field parsing") from None
            setattr(form, part.name, text)
    ctx.stats.record_files(
        ctx.route.name,
        len(form.files) + len(form.files_array),
        sum(len(p.data) for p in form.files + form.files_array),
    )
    return form


def _part_name(part: Part) -> str:
    if part.filename is None:
        return str(uuid.uuid4())
    cleaned = sanitize_filename(part.filename)
    if not cleaned:
        raise wire.bad_request(f"Invalid file name: {part.filename}")
    return cleaned


def _join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory else name


def _store_parts(repo: Repository, targets: list[tuple[str, Part]]) -> dict[str, FileMeta | None]:
    changes: dict[str, FileMeta | None] = {}
    for path, part in targets:
        content_hash = hash_bytes(part.data)
        repo.versions.store_hashed(content_hash, part.data)
        changes[path] = describe_bytes(part.data, content_hash, path)
    return changes


async def upload(ctx: RequestContext) -> web.StreamResponse:
    form = await _read_form(ctx, FORM_MEMORY_LIMIT)
    # The body is parsed before anything else, so body errors win over 426 and 404.
    if not wire.user_agent_allowed(ctx.request.headers.get("User-Agent")):
        raise wire.update_required()
    repo = ctx.repo()
    if form.files and form.files_array:
        raise wire.bad_request(
            "Ambiguous multipart payload: use either `file` or `files[]`, not both"
        )
    if not form.files and not form.files_array:
        raise wire.bad_request("Missing file data: expected `file` or `files[]` multipart parts")
    if form.name is None:
        raise wire.bad_request("Name is required")
    if form.email is None:
        raise wire.bad_request("Email is required")
    author = Author(form.name, form.email)
    value = ctx.params["resource"]
    refuse_outside_tree(value)
    async with repo.lock:
        if not repo.has_commits:
            commit = await _first_commit(ctx, repo, value, form, author)
        else:
            commit = await _commit_to_branch(ctx, repo, value, form, author)
    return wire.ok("resource_created", commit=commit.view())


def _refuse_traversal(parts: list[str], shown: str) -> None:
    if ".." in parts:
        raise wire.bad_request(f"Invalid path '{shown}': path traversal is not allowed")


async def _first_commit(
    ctx: RequestContext, repo: Repository, value: str, form: _Form, author: Author
) -> Commit:
    parts = components_of(value, decode=False)
    branch = parts[0] if parts else "main"
    directory = "/".join(parts[1:])
    _refuse_traversal(parts[1:], directory)
    if form.files:
        if not directory:
            raise wire.bad_request(
                "Invalid target path: expected a full file path for `file` uploads"
            )
        targets = [(directory, form.files[0])]
    else:
        targets = [(_join(directory, _part_name(part)), part) for part in form.files_array]
    message = form.message if form.message is not None else "Initial commit"

    def write() -> Commit:
        changes = _store_parts(repo, targets)
        commit = repo.create_commit([], None, changes, message, author, allow_empty=True)
        assert commit is not None
        return commit

    commit = await ctx.offload(write)
    # Like the real server, the branch is checked only after the commit was written.
    if not valid_branch_name(branch):
        raise wire.internal_error(f"'{branch}' is not a valid branch name.")
    if repo.branch_head(branch) is not None:
        raise wire.internal_error(f"Branch already exists: {branch}")
    repo.set_branch(branch, commit.id)
    return commit


async def _commit_to_branch(
    ctx: RequestContext, repo: Repository, value: str, form: _Form, author: Author
) -> Commit:
    resolved = resolve(repo, value)
    if resolved is None:
        raise wire.path_does_not_exist(unquote(value))
    if resolved.branch is None:
        raise wire.branch_not_found(resolved.version)
    directory = resolved.path
    _refuse_traversal(directory.split("/"), directory)
    head = repo.head_commit(resolved.branch)
    assert head is not None
    message = form.message if form.message is not None else f"Auto-commit files to {directory}"

    def write() -> Commit | None:
        target = repo.lookup(head, directory)
        if form.files:
            part = form.files[0]
            into_dir = target is not None and target.is_dir
            targets = [(_join(directory, _part_name(part)) if into_dir else directory, part)]
        else:
            if target is not None and not target.is_dir:
                raise wire.bad_request(f"Target path must be a directory: {directory}")
            targets = [(_join(directory, _part_name(part)), part) for part in form.files_array]
        for path, _ in targets:
            _refuse_file_ancestors(repo, head, path)
        changes = _store_parts(repo, targets)
        return repo.create_commit([head.id], head.root, changes, message, author)

    commit = await ctx.offload(write)
    if commit is None:
        raise wire.no_changes()
    repo.set_branch(resolved.branch, commit.id)
    return commit


def _refuse_file_ancestors(repo: Repository, head: Commit, path: str) -> None:
    parts = path.split("/")
    for index in range(1, len(parts)):
        ancestor = "/".join(parts[:index])
        entry = repo.lookup(head, ancestor)
        if entry is None:
            return
        if not entry.is_dir:
            raise wire.bad_request(f"Target path must be a directory: {ancestor}")


# --- remove ------------------------------------------------------------------------------------


async def remove(ctx: RequestContext) -> web.StreamResponse:
    form = await _read_form(ctx, FORM_MEMORY_LIMIT)
    repo = ctx.repo()
    value = ctx.params["resource"]
    refuse_outside_tree(value)
    resolved = resolve(repo, value)
    if resolved is None:
        raise wire.path_does_not_exist(unquote(value))
    if resolved.branch is None:
        raise wire.branch_not_found(resolved.version)
    branch, path = resolved.branch, resolved.path
    author = Author(form.name or "", form.email or "")
    message = form.message if form.message is not None else f"Remove {path}"
    async with repo.lock:
        head = repo.head_commit(branch)
        assert head is not None

        def write() -> Commit | None:
            doomed: dict[str, FileMeta | None] = {
                file_path: None for file_path, _ in repo.files_under(head, path)
            }
            if not doomed:
                return None
            return repo.create_commit([head.id], head.root, doomed, message, author)

        commit = await ctx.offload(write)
        if commit is None:
            raise wire.no_changes()
        repo.set_branch(branch, commit.id)
    return wire.ok("resource_deleted", commit=commit.view())
