"""Repositories: create (JSON or multipart), show, delete, list a namespace (part 1, section 3)."""

from __future__ import annotations

import asyncio
import functools
import shutil
import uuid
from typing import Any

import msgspec
from aiohttp import web

from oxen_async.hashing import hash_bytes
from oxen_async.testing import wire
from oxen_async.testing.context import RequestContext
from oxen_async.testing.filetypes import FileMeta, describe_bytes
from oxen_async.testing.multipart import MultipartError, boundary_from, parse_multipart
from oxen_async.testing.paths import sanitize_filename
from oxen_async.testing.storage import (
    HEAD_BRANCH,
    NAME_PATTERN,
    NAMESPACE_PATTERN,
    Author,
    Commit,
    Repository,
)


class _User(msgspec.Struct):
    name: str = ""
    email: str = ""


class _SeedFile(msgspec.Struct):
    path: str
    contents: str
    user: _User = msgspec.field(default_factory=_User)


class _NewRepo(msgspec.Struct):
    namespace: str
    name: str
    files: list[_SeedFile] | None = None
    storage_kind: str | None = None


def _repository_fields(repo: Repository) -> dict[str, Any]:
    return {
        "namespace": repo.namespace,
        "name": repo.name,
        "min_version": wire.MIN_CLIENT_VERSION,
    }


def _bare(status_message: str, repository: dict[str, Any]) -> web.Response:
    # Repository create/show bodies carry no oxen_version (a real-server quirk).
    return wire.json_response(
        {"status": "success", "status_message": status_message, "repository": repository}
    )


async def create(ctx: RequestContext) -> web.StreamResponse:
    content_type = ctx.request.headers.get("Content-Type")
    if content_type is None:
        raise wire.bad_request("Unsupported Content-Type")
    if content_type == "application/json":
        body = await ctx.body()
        try:
            new_repo = msgspec.json.decode(body, type=_NewRepo)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise wire.bad_request("Invalid JSON") from None
        seed_files = new_repo.files or []
        seeds = [(f.path, f.contents.encode("utf-8")) for f in seed_files]
        first_user = seed_files[0].user if seed_files else None
        author = Author(first_user.name, first_user.email) if first_user else None
    else:
        new_repo, seeds, author = await _multipart_create(ctx, content_type)
    if new_repo.storage_kind not in (None, "local"):
        raise wire.bad_request(
            f"Storage backend '{new_repo.storage_kind}' is not enabled on this server. "
            "Allowed backends: [local]"
        )
    # The repository name is checked first (seen on 0.65.2 with both bad).
    if not NAME_PATTERN.fullmatch(new_repo.name) or not new_repo.name.isascii():
        raise wire.plain_error(
            400,
            f"Invalid repository name '{new_repo.name}'. Must match [a-zA-Z0-9][a-zA-Z0-9_.-]+",
        )
    if not NAMESPACE_PATTERN.fullmatch(new_repo.namespace) or not new_repo.namespace.isascii():
        raise wire.plain_error(
            400,
            f"Invalid namespace name '{new_repo.namespace}'. "
            "Must match [a-zA-Z0-9][a-zA-Z0-9_-]{1,49}",
        )
    for path, _ in seeds:
        if ".." in path.split("/") or not path.strip("/"):
            raise wire.bad_request(f"Invalid file path: {path}")
    try:
        repo = await ctx.offload(ctx.storage.create_repo, new_repo.namespace, new_repo.name)
    except FileExistsError:
        raise wire.plain_error(409, "Repo already exists.") from None
    latest: Commit | None = None
    if seeds and author is not None:
        latest = await ctx.offload(_seed_commit, repo, seeds, author)
    fields = _repository_fields(repo)
    fields.update(
        latest_commit=latest.view() if latest is not None else None,
        storage_kind="local",
        repo_uuid=await ctx.offload(lambda: repo.uuid),
    )
    return _bare("resource_found", fields)


async def _multipart_create(
    ctx: RequestContext, content_type: str
) -> tuple[_NewRepo, list[tuple[str, bytes]], Author | None]:
    try:
        boundary = boundary_from(content_type)
        parts = parse_multipart(await ctx.body(), boundary)
    except MultipartError:
        raise wire.plain_error(400, "bad_request") from None
    new_repo: _NewRepo | None = None
    name: str | None = None
    email: str | None = None
    seeds: list[tuple[str, bytes]] = []
    for part in parts:
        if part.name == "new_repo":
            try:
                new_repo = msgspec.json.decode(part.data, type=_NewRepo)
            except (msgspec.DecodeError, msgspec.ValidationError):
                raise wire.plain_error(400, "bad_request") from None
        elif part.name == "name":
            name = part.text()
        elif part.name == "email":
            email = part.text()
        elif part.name in ("file", "file[]"):
            if name is None:
                raise wire.bad_request("Name is required")
            if email is None:
                raise wire.bad_request("Email is required")
            filename = sanitize_filename(part.filename) if part.filename else str(uuid.uuid4())
            if not filename:
                raise wire.bad_request("Invalid file name")
            seeds.append((filename, bytes(part.data)))
    if new_repo is None:
        raise wire.plain_error(400, "Missing new_repo field")
    author = Author(name or "", email or "") if seeds else None
    return new_repo, seeds, author


def _seed_commit(repo: Repository, seeds: list[tuple[str, bytes]], author: Author) -> Commit:
    changes: dict[str, FileMeta | None] = {}
    for path, data in seeds:
        content_hash = hash_bytes(data)
        repo.versions.store_hashed(content_hash, data)
        clean = "/".join(p for p in path.split("/") if p and p != ".")
        changes[clean] = describe_bytes(data, content_hash, clean)
    commit = repo.create_commit([], None, changes, "Initial commit", author, allow_empty=True)
    assert commit is not None
    repo.set_branch(HEAD_BRANCH, commit.id)
    return commit


async def show(ctx: RequestContext) -> web.StreamResponse:
    repo = ctx.repo()
    branches = repo.branches()
    main = repo.head_commit(HEAD_BRANCH)
    fields = _repository_fields(repo)
    fields.update(
        is_empty=not branches,
        storage_kind="local",
        repo_uuid=await ctx.offload(lambda: repo.uuid),
        size=main.root.size if main is not None else 0,
        data_types=(
            [{"count": n, "data_type": kind} for kind, n in sorted((main.root.types or {}).items())]
            if main is not None
            else []
        ),
        branch_count=len(branches),
    )
    if main is not None:
        fields["default_resource"] = {
            "workspace": None,
            "commit": main.view(),
            "branch": {"name": HEAD_BRANCH, "commit_id": main.id},
            "path": "",
            "version": HEAD_BRANCH,
            "resource": HEAD_BRANCH,
        }
    return _bare("resource_found", fields)


async def delete(ctx: RequestContext) -> web.StreamResponse:
    namespace, name = ctx.repo_segments()
    repo = ctx.storage.repo(namespace, name)
    if repo is None:
        raise wire.not_found_plain()
    async with repo.lock:
        doomed = await ctx.offload(ctx.storage.delete_repo, repo)
    # Like the real server, the files go in the background, after the response.
    asyncio.get_running_loop().run_in_executor(
        ctx.state.executor, functools.partial(shutil.rmtree, doomed, ignore_errors=True)
    )
    return wire.ok("resource_deleted")


async def list_namespace(ctx: RequestContext) -> web.StreamResponse:
    namespace, _ = ctx.repo_segments()
    names = await ctx.offload(ctx.storage.list_repos, namespace)
    return wire.ok(
        "resource_found",
        repositories=[
            {"namespace": namespace, "name": name, "min_version": wire.MIN_CLIENT_VERSION}
            for name in names
        ],
    )
