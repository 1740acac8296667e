"""The aiohttp application: one catch-all route feeding our own dispatcher.

Per request, in the real server's order: bearer auth (every path, even unknown ones), route
match on the actix-decoded raw path, injected faults, the User-Agent gate, the maintenance lock
of write routes, then the handler. ``oxen-version`` and ``x-oxen-request-id`` go on every
response, errors included.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import uuid

from aiohttp import web

from oxen_async.testing import wire
from oxen_async.testing.context import RequestContext, ServerState
from oxen_async.testing.faults import DropAction, FailAction
from oxen_async.testing.handlers import (
    branches,
    chunks,
    commits,
    dirs,
    files,
    repos,
    server_info,
    version_query,
    version_uploads,
    versions,
    workspace_changes,
    workspace_files,
    workspace_merge,
    workspaces,
)
from oxen_async.testing.routing import Match, Route, Router, router_decode

logger = logging.getLogger("oxen_async.testing")

STATE_KEY = web.AppKey("oxen_state", ServerState)
ROUTER_KEY = web.AppKey("oxen_router", Router)
UNKNOWN_ROUTE = "unknown"

_REPO = "/api/repos/{ns}/{repo}"
_WS = _REPO + "/workspaces/{workspace_id}"


def build_router() -> Router:
    """Every endpoint, in the real server's matching order where order matters."""
    r = Router()
    r.add("version", "GET", "/api/version", server_info.version, ua_gate=False)
    r.add("min_version", "GET", "/api/min_version", server_info.min_version, ua_gate=False)
    r.add("health", "GET", "/api/health", server_info.health)
    r.add("namespaces_list", "GET", "/api/namespaces", server_info.namespaces)
    r.add("namespace_show", "GET", "/api/namespaces/{ns}", server_info.namespace_show)
    r.add("repo_create", "POST", "/api/repos", repos.create)
    r.add("repo_list", "GET", "/api/repos/{ns}", repos.list_namespace)
    r.add("repo_show", "GET", _REPO, repos.show, answers_405=True)
    r.add("repo_delete", "DELETE", _REPO, repos.delete, answers_405=True)

    r.add("branch_list", "GET", _REPO + "/branches", branches.list_branches)
    r.add("branch_create", "POST", _REPO + "/branches", branches.create)
    r.add("branch_show", "GET", _REPO + "/branches/{name:.*}", branches.show)
    r.add("branch_delete", "DELETE", _REPO + "/branches/{name:.*}", branches.delete)
    r.add("branch_update", "PUT", _REPO + "/branches/{name:.*}", branches.update)

    r.add("commit_history", "GET", _REPO + "/commits/history/{resource:.*}", commits.history)
    r.add("commit_root", "GET", _REPO + "/commits/root", commits.root)
    r.add("commit_show", "GET", _REPO + "/commits/{commit_id}", commits.show)
    r.add("commit_complete", "POST", _REPO + "/commits/{commit_id}/complete", commits.complete)
    r.add("action", "GET POST", _REPO + "/action/started/{action}", commits.action_started)
    r.add("action", "GET POST", _REPO + "/action/completed/{action}", commits.action_completed)

    r.add("chunk_download", "GET", _REPO + "/chunk/{resource:.*}", chunks.download_chunk)
    r.add("dir_list", "GET", _REPO + "/dir/{resource:.*}", dirs.list_dir)
    r.add("meta_show", "GET", _REPO + "/meta/{resource:.*}", dirs.meta)
    r.add("revision_show", "GET", _REPO + "/revisions/{resource:.*}", dirs.revision)

    r.add("file_get", "GET HEAD", _REPO + "/file/{resource:.*}", files.download, write_guard=True)
    r.add(
        "file_put",
        "PUT",
        _REPO + "/file/{resource:.*}",
        files.upload,
        ua_gate=False,  # checked by the handler, after the body (the real order)
        write_guard=True,
    )
    r.add("file_delete", "DELETE", _REPO + "/file/{resource:.*}", files.remove, write_guard=True)

    ws_create = workspaces.get_or_create
    r.add("workspace_get_or_create", "PUT POST", _REPO + "/workspaces", ws_create, write_guard=True)
    # Not on the real server (its OpenAPI file only); our issue asks for it as an alias.
    r.add(
        "workspace_get_or_create",
        "PUT",
        _REPO + "/workspaces/get_or_create",
        ws_create,
        write_guard=True,
    )
    r.add("workspace_list", "GET", _REPO + "/workspaces", workspaces.list_workspaces)
    r.add("workspace_clear", "DELETE", _REPO + "/workspaces", workspaces.clear, write_guard=True)
    r.add("workspace_show", "GET", _WS, workspaces.show)
    r.add("workspace_delete", "DELETE", _WS, workspaces.delete, write_guard=True)
    r.add("workspace_validate", "POST", _WS + "/validate", workspaces.validate)
    r.add(
        "workspace_files_add",
        "POST",
        _WS + "/files/{directory:.*}",
        workspace_files.add_files,
        write_guard=True,
    )
    r.add(
        "workspace_files_remove",
        "DELETE",
        _WS + "/files",
        workspace_files.remove_files,
        write_guard=True,
    )
    r.add(
        "workspace_file_get",
        "GET",
        _WS + "/files/{path:.*}",
        workspace_files.get_file,
        write_guard=True,
    )
    r.add("workspace_changes", "GET", _WS + "/changes", workspace_changes.changes)
    r.add("workspace_changes", "GET", _WS + "/changes/{path:.*}", workspace_changes.changes)
    r.add(
        "workspace_unstage",
        "DELETE",
        _WS + "/changes",
        workspace_changes.unstage_many,
        write_guard=True,
    )
    r.add(
        "workspace_unstage_one",
        "DELETE",
        _WS + "/changes/{path:.*}",
        workspace_changes.unstage_one,
        write_guard=True,
    )
    r.add(
        "workspace_merge",
        "POST",
        _WS + "/merge/{branch:.*}",
        workspace_merge.merge,
        write_guard=True,
    )
    # Deprecated spelling the official client still calls.
    r.add(
        "workspace_merge",
        "POST",
        _WS + "/commit/{branch:.*}",
        workspace_merge.merge,
        write_guard=True,
    )
    r.add("workspace_mergeability", "GET", _WS + "/merge/{branch:.*}", workspace_merge.mergeability)

    r.add("versions_upload", "POST", _REPO + "/versions", versions.upload, write_guard=True)
    r.add("versions_download", "QUERY", _REPO + "/versions", version_query.download)
    # 0.65's uploads in parts; before the per-version routes, as "uploads" is no version id.
    ups = _REPO + "/versions/uploads"
    r.add("version_upload_begin", "POST", ups, version_uploads.begin, write_guard=True)
    r.add(
        "version_upload_part",
        "PUT",
        ups + "/{upload_id}/parts/{part_number}",
        version_uploads.upload_part,  # no maintenance 429: an open upload holds maintenance off
    )
    r.add("version_metadata", "GET", _REPO + "/versions/{version_id}/metadata", versions.metadata)
    r.add(
        "version_chunk",
        "PUT",
        _REPO + "/versions/{version_id}/chunks",
        versions.put_chunk,
        write_guard=True,
    )
    r.add(
        "version_complete",
        "POST",
        _REPO + "/versions/{version_id}/complete",
        versions.complete,
        write_guard=True,
    )
    r.add(
        "version_file",
        "GET",
        _REPO + "/versions/{resource:.*}",
        versions.file_by_resource,
        write_guard=True,
    )
    r.add("version_create", "POST", _REPO + "/versions/{version_id}/create", versions.create)
    return r


def build_app(state: ServerState) -> web.Application:
    # No aiohttp body cap: endpoints enforce the real server's limits themselves.
    app = web.Application(client_max_size=1 << 40)
    app[STATE_KEY] = state
    app[ROUTER_KEY] = build_router()
    app.on_response_prepare.append(_stamp_headers)
    app.router.add_route("*", "/{tail:.*}", _dispatch)
    return app


async def _stamp_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["oxen-version"] = wire.OXEN_VERSION
    response.headers["x-oxen-request-id"] = wire.request_id_for(
        request.headers.get("x-oxen-request-id"), str(uuid.uuid4())
    )


def _check_auth(request: web.Request, token: str | None) -> None:
    """actix-web-httpauth: malformed or missing header -> empty 401 with a challenge; a token
    that is not ours -> ``unauthorized``."""
    if token is None:
        return
    header = request.headers.get("Authorization")
    if header is None or not header.startswith("Bearer ") or not header[7:].strip():
        raise wire.empty_error(401, {"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(header[7:].strip().encode(), token.encode()):
        raise wire.text_error(401, "unauthorized")


async def _dispatch(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    router = request.app[ROUTER_KEY]
    route_name = UNKNOWN_ROUTE
    response: web.StreamResponse
    try:
        path = router_decode(request.rel_url.raw_path)
        found = router.resolve(request.method, path)
        if not isinstance(found, frozenset):
            route_name = found.route.name
        state.stats.record_request(route_name)
    except wire.WireError as error:
        response = error.response
    except Exception as error:
        response = _unmapped(request, error)
    else:
        try:
            response = await _handle(request, state, found)
        finally:  # a handler cancelled by a client that went away counts as done too
            state.stats.record_done(route_name)
    state.stats.record_status(route_name, response.status)
    return response


async def _handle(
    request: web.Request, state: ServerState, found: Match | frozenset[str]
) -> web.StreamResponse:
    try:
        _check_auth(request, state.auth_token)  # before anything else, unknown routes included
        if isinstance(found, frozenset):
            if found:
                raise wire.empty_error(405, {"Allow": ", ".join(sorted(found))})
            raise wire.not_found_plain()
        ctx = RequestContext(request, found.route, found.params, state)
        return await _run(ctx, request.rel_url.raw_path)
    except wire.WireError as error:
        return error.response
    except Exception as error:
        return _unmapped(request, error)


def _unmapped(request: web.Request, error: Exception) -> web.StreamResponse:
    """An unmapped failure: the real server's generic 500."""
    logger.exception("handler failed: %s %s", request.method, request.rel_url)
    return wire.internal_error(str(error) or type(error).__name__).response


async def _run(ctx: RequestContext, raw_path: str) -> web.StreamResponse:
    route: Route = ctx.route
    plan = ctx.faults.plan(route.name, ctx.request.method, raw_path)
    if plan.delay:
        await asyncio.sleep(plan.delay)
    if isinstance(plan.terminal, FailAction):
        ctx.stats.record_fault(route.name)
        raise _injected_failure(plan.terminal)
    if isinstance(plan.terminal, DropAction) and plan.terminal.when == "mid_body":
        ctx.stats.record_fault(route.name)
        return await _drop_mid_body(ctx, plan.terminal.body_bytes)
    if route.ua_gate and not wire.user_agent_allowed(ctx.request.headers.get("User-Agent")):
        raise wire.update_required()
    repo_name = f"{ctx.params.get('ns')}/{ctx.params.get('repo')}"
    if route.write_guard and ctx.faults.in_maintenance(repo_name):
        raise wire.lock_timeout()
    if isinstance(plan.terminal, DropAction):
        ctx.truncate_response = True
    try:
        response = await route.handler(ctx)
    except wire.WireError as error:
        response = error.response
    if isinstance(plan.terminal, DropAction) or ctx.drop_answer:
        ctx.stats.record_fault(route.name)
        return await _drop_after_headers(ctx, response)
    return response


def _injected_failure(action: FailAction) -> wire.WireError:
    headers = {"Retry-After": action.retry_after} if action.retry_after else None
    if action.status == 500:
        error = wire.internal_error("Injected fault")
    elif action.status == 429:
        error = wire.structured_error(
            429, "too_many_requests", "Too Many Requests", "Injected fault", "too_many_requests"
        )
    else:
        error = wire.text_error(action.status, f"Injected fault ({action.status})")
    if headers:
        error.response.headers.update(headers)
    return error


async def _drop_mid_body(ctx: RequestContext, body_bytes: int) -> web.StreamResponse:
    """Read part of the request, then close the connection without answering."""
    remaining = body_bytes
    while remaining > 0:
        piece = await ctx.request.content.read(min(remaining, 65536))
        if not piece:
            break
        remaining -= len(piece)
    _close_transport(ctx.request)
    return web.Response(status=499)


async def _drop_after_headers(
    ctx: RequestContext, response: web.StreamResponse
) -> web.StreamResponse:
    """The handler ran (its effects stand); the client gets headers and half a body."""
    body = response.body if isinstance(response, web.Response) else None
    payload = bytes(body) if isinstance(body, (bytes, bytearray)) else b""
    if response.prepared:  # a streamed response is already out: cut it where it is
        _close_transport(ctx.request)
        return response
    stream = web.StreamResponse(status=response.status, headers=response.headers)
    stream.content_length = max(len(payload), 1)
    await stream.prepare(ctx.request)
    await stream.write(payload[: len(payload) // 2])
    _close_transport(ctx.request)
    return stream


def _close_transport(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.close()
