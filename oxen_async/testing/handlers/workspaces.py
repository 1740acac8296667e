"""Workspaces (part 2, section 4): get-or-create, show, list, delete, stage uploads and removals,
list and drop changes, check mergeability, merge into a branch.

Merges into a repository are serialised by ``repo.lock`` (the real server has no branch lock and
can lose a commit when two merges hit one branch at once; this server never does). A merge
rebases implicitly onto the current branch head unless a staged path conflicts.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from oxen_async.hashing import hash_bytes
from oxen_async.testing import wire
from oxen_async.testing.blobs import StoreError, inflate
from oxen_async.testing.context import RequestContext
from oxen_async.testing.faults import FaultController
from oxen_async.testing.filetypes import FileMeta, describe_bytes, extension_of
from oxen_async.testing.handlers.files import send_blob
from oxen_async.testing.multipart import MultipartError, boundary_from, parse_multipart
from oxen_async.testing.paths import InvalidPath, normalize_staging_path
from oxen_async.testing.storage import Author, Commit, Repository
from oxen_async.testing.trees import Entry, lookup
from oxen_async.testing.workspaces import Workspace

_INITIAL_AUTHOR = Author("Oxen", "oxen@oxen.ai")
_INITIAL_MESSAGE = "Initialized Repo 🐂"


def workspace_view(
    workspace: Workspace, commit: Commit, shown_id: str | None = None
) -> dict[str, Any]:
    return {
        "id": shown_id if shown_id is not None else workspace.id,
        "name": workspace.name,
        "commit": commit.view(),
    }


def _base_commit(repo: Repository, workspace: Workspace) -> Commit:
    commit = repo.get_commit(workspace.commit_id)
    if commit is None:
        raise wire.internal_error(f"Could not find commit: {workspace.commit_id}")
    return commit


def _workspace(ctx: RequestContext) -> tuple[Repository, Workspace]:
    repo = ctx.repo()
    workspace_id = ctx.params["workspace_id"]
    workspace = repo.workspaces.find(workspace_id)
    if workspace is None or workspace.deleted:
        raise wire.workspace_not_found(workspace_id)
    return repo, workspace


# --- lifecycle ---------------------------------------------------------------------------------


class _NewWorkspace(msgspec.Struct):
    workspace_id: str
    branch_name: str
    name: str | None = None


async def get_or_create(ctx: RequestContext) -> web.StreamResponse:
    """PUT (and the deprecated POST) ``/workspaces``. The reply echoes the request's
    ``workspace_id`` even when an existing workspace was found by name (a real-server trap)."""
    repo = ctx.repo()
    raw = await ctx.text_body()
    try:
        request = msgspec.json.decode(raw, type=_NewWorkspace)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise wire.plain_error(400, str(error)) from None
    async with repo.lock:
        head = repo.head_commit(request.branch_name)
        if head is None:
            if repo.branches():
                raise wire.plain_error(
                    400,
                    f"Branch not found: {request.branch_name}. "
                    "For non-empty repositories, create the branch first.",
                )
            head = await ctx.offload(_initial_commit, repo, request.branch_name)
        wanted = request.name if request.name is not None else request.workspace_id
        found = repo.workspaces.find(wanted)
        if found is not None:
            view = workspace_view(found, _base_commit(repo, found), request.workspace_id)
            return wire.ok("resource_found", workspace=view)
        try:
            created = await ctx.offload(
                repo.workspaces.create, request.workspace_id, request.name, head.id
            )
        except ValueError as error:
            raise wire.internal_error(str(error)) from None
    return wire.ok("resource_created", workspace=workspace_view(created, head))


def _initial_commit(repo: Repository, branch: str) -> Commit:
    commit = repo.create_commit([], None, {}, _INITIAL_MESSAGE, _INITIAL_AUTHOR, allow_empty=True)
    assert commit is not None
    repo.set_branch(branch, commit.id)
    return commit


async def show(ctx: RequestContext) -> web.StreamResponse:
    repo, workspace = _workspace(ctx)
    return wire.ok(
        "resource_found", workspace=workspace_view(workspace, _base_commit(repo, workspace))
    )


async def list_workspaces(ctx: RequestContext) -> web.StreamResponse:
    repo = ctx.repo()
    name = ctx.request.query.get("name")
    chosen = [w for w in repo.workspaces.all() if name is None or w.name == name]
    views = []
    for workspace in sorted(chosen, key=lambda w: w.id):
        commit = repo.get_commit(workspace.commit_id)
        if commit is not None:
            views.append(workspace_view(workspace, commit))
    return wire.ok("resource_created", workspaces=views)


async def delete(ctx: RequestContext) -> web.StreamResponse:
    repo, workspace = _workspace(ctx)
    commit = _base_commit(repo, workspace)
    await ctx.offload(_delete_locked, repo, workspace)
    return wire.ok(
        "resource_created", workspace=workspace_view(workspace, commit, ctx.params["workspace_id"])
    )


def _delete_locked(repo: Repository, workspace: Workspace) -> None:
    with workspace.lock:
        repo.workspaces.delete(workspace)


async def clear(ctx: RequestContext) -> web.StreamResponse:
    repo = ctx.repo()
    for workspace in repo.workspaces.all():
        await ctx.offload(_delete_locked, repo, workspace)
    return wire.ok("resource_created")


async def validate(ctx: RequestContext) -> web.StreamResponse:
    _workspace(ctx)
    return wire.ok("resource_found")


# --- staging uploads ---------------------------------------------------------------------------


async def add_files(ctx: RequestContext) -> web.StreamResponse:
    """Stage a batch: one worker-thread hop for gunzip, hashing, blob writes and staging."""
    repo, workspace = _workspace(ctx)
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
            outcome.error = wire.bad_request("Missing hash in multipart request")
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
    repo, workspace = _workspace(ctx)
    path = "/".join(p for p in ctx.params["path"].split("/") if p and p != ".")
    base = _base_commit(repo, workspace)
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
    repo, workspace = _workspace(ctx)
    paths = await ctx.json_extractor_body(list[str])
    base = _base_commit(repo, workspace)

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


# --- changes -----------------------------------------------------------------------------------


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
    repo, workspace = _workspace(ctx)
    page = ctx.query_uint("page", 1)
    page_size = ctx.query_uint("page_size", 100)
    if page_size == 0:
        raise wire.bad_request("page_size must be greater than 0")
    prefix = "/".join(p for p in ctx.params.get("path", "").split("/") if p and p != ".")
    base = _base_commit(repo, workspace)

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
    _, workspace = _workspace(ctx)
    paths = await ctx.json_extractor_body(list[str])

    def drop() -> None:
        with workspace.lock:
            workspace.record(
                [["u", p.strip("/")] for p in paths if p.strip("/") in workspace.staged]
            )

    await ctx.offload(drop)
    return wire.ok("resource_deleted")


async def unstage_one(ctx: RequestContext) -> web.StreamResponse:
    _, workspace = _workspace(ctx)
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


# --- merge -------------------------------------------------------------------------------------


class _CommitBody(msgspec.Struct):
    message: str
    author: str
    email: str


def _conflicts(
    repo: Repository, base: Commit, head: Commit, staged: dict[str, FileMeta | None]
) -> list[str]:
    """The real rule: a staged path present in both the base and the branch head with different
    content. Paths added on both sides, or deleted on the branch, are not conflicts."""
    if head.id == base.id:
        return []
    found = []
    for path in sorted(staged):
        before = repo.lookup(base, path)
        now = repo.lookup(head, path)
        if before is not None and now is not None and before.hash != now.hash:
            found.append(path)
    return found


def _behind(workspace: Workspace, branch: str, base: Commit, head: Commit) -> wire.WireError:
    return wire.structured_error(
        409,
        "conflict",
        "Workspace is behind",
        f"This workspace '{workspace.id}' is behind on branch '{branch}' commit "
        f"{base.id} < {head.id}",
        "conflict",
    )


def _branch_missing(branch: str) -> wire.WireError:
    return wire.described_error(404, "resource_not_found", branch)


async def merge(ctx: RequestContext) -> web.StreamResponse:
    repo = ctx.repo()
    raw = await ctx.text_body()
    try:
        body = msgspec.json.decode(raw, type=_CommitBody)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise wire.plain_error(400, str(error)) from None
    _, workspace = _workspace(ctx)
    branch = ctx.params["branch"]
    if repo.branch_head(branch) is None:
        raise _branch_missing(branch)
    author = Author(body.author, body.email)
    async with repo.lock:  # one merge per repository at a time: no lost commits
        head = repo.head_commit(branch)
        if head is None:
            raise _branch_missing(branch)
        commit = await ctx.offload(
            _merge_locked, repo, workspace, branch, head, body.message, author
        )
    return wire.ok("resource_created", commit=commit.view())


def _merge_locked(
    repo: Repository,
    workspace: Workspace,
    branch: str,
    head: Commit,
    message: str,
    author: Author,
) -> Commit:
    with workspace.lock:
        if workspace.deleted:
            raise wire.workspace_not_found(workspace.id)
        if not workspace.staged:
            raise wire.plain_error(422, "NoChanges")
        base = _base_commit(repo, workspace)
        if _conflicts(repo, base, head, workspace.staged):
            raise _behind(workspace, branch, base, head)
        commit = repo.create_commit(
            [head.id], head.root, workspace.staged, message, author, allow_empty=True
        )
        assert commit is not None
        repo.set_branch(branch, commit.id)
        if workspace.name is None:
            repo.workspaces.delete(workspace)
        else:
            workspace.rebase_after_commit(commit.id)
        return commit


async def mergeability(ctx: RequestContext) -> web.StreamResponse:
    repo, workspace = _workspace(ctx)
    branch = ctx.params["branch"]
    head = repo.head_commit(branch)
    if head is None:
        raise _branch_missing(branch)
    base = _base_commit(repo, workspace)

    def check() -> tuple[list[str], list[Commit]]:
        with workspace.lock:
            staged = dict(workspace.staged)
        between: list[Commit] = []
        for commit in sorted(repo.ancestors(head), key=lambda c: c.ts_ns, reverse=True):
            between.append(commit)
            if commit.id == base.id:
                break
        return _conflicts(repo, base, head, staged), between

    conflicts, between = await ctx.offload(check)
    return wire.ok(
        "resource_found",
        is_mergeable=not conflicts,
        conflicts=[{"path": path} for path in conflicts],
        commits=[commit.view() for commit in between],
    )
