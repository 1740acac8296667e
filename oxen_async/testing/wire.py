"""What goes on the wire: the JSON envelope, the error body families and the timestamp format.

The families are those of oxen-server 0.53.4 (shared/oxen-api part 1, section 2.2), unchanged in
0.65.2, the version we report; clients branch on them, so each helper names its family.
"""

from __future__ import annotations

import re
import time
from typing import Any

import msgspec
from aiohttp import web

OXEN_VERSION = "0.65.2"
MIN_CLIENT_VERSION = "0.36.0"
_MIN_CLIENT_TUPLE = (0, 36, 0)

JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"

_json_encoder = msgspec.json.Encoder()


class WireError(Exception):
    """A finished error response; handlers raise it and the dispatcher returns it."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


# --- success bodies --------------------------------------------------------------------------


def json_response(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        body=_json_encoder.encode(body), status=status, headers={"Content-Type": JSON_TYPE}
    )


def ok(status_message: str, **fields: Any) -> web.Response:
    """200 with the flattened StatusMessage envelope followed by ``fields``."""
    body: dict[str, Any] = {
        "status": "success",
        "status_message": status_message,
        "oxen_version": OXEN_VERSION,
    }
    body.update(fields)
    return json_response(body)


# --- error bodies ----------------------------------------------------------------------------


def plain_error(status: int, status_message: str) -> WireError:
    """Family A: ``{"status":"error","status_message":...,"oxen_version":...}``."""
    body = {"status": "error", "status_message": status_message, "oxen_version": OXEN_VERSION}
    return WireError(json_response(body, status))


def described_error(status: int, status_message: str, description: str) -> WireError:
    """Family B: family A plus ``status_description``."""
    body = {
        "status": "error",
        "status_message": status_message,
        "oxen_version": OXEN_VERSION,
        "status_description": description,
    }
    return WireError(json_response(body, status))


def structured_error(
    status: int,
    kind: str,
    title: str,
    detail: str | None = None,
    status_message: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> WireError:
    """Family C: ``{"error":{"type","title","detail"},"status":"error","status_message"}``."""
    error: dict[str, Any] = {"type": kind, "title": title}
    if detail is not None:
        error["detail"] = detail
    error.update(extra)
    body = {"error": error, "status": "error", "status_message": status_message or kind}
    response = json_response(body, status)
    if headers:
        response.headers.update(headers)
    return WireError(response)


def text_error(status: int, text: str) -> WireError:
    """Family D: the web framework's plain-text rejection."""
    return WireError(web.Response(status=status, text=text, content_type="text/plain"))


def empty_error(status: int, headers: dict[str, str] | None = None) -> WireError:
    """Family E: no body at all."""
    return WireError(web.Response(status=status, headers=headers))


# --- the named errors of the real server -----------------------------------------------------


def repo_not_found(namespace: str, name: str) -> WireError:
    return described_error(404, "resource_not_found", f"Repository '{namespace}/{name}' not found")


def bad_segment() -> WireError:
    return described_error(
        400,
        "bad_request",
        "A namespace and a repository name must each be a single path segment",
    )


def not_found_plain() -> WireError:
    return plain_error(404, "resource_not_found")


def branch_not_found(name: str) -> WireError:
    return structured_error(
        404,
        "resource_not_found",
        "Branch does not exist",
        f"Could not find branch: Branch '{name}' not found",
    )


def revision_not_found(revision: str) -> WireError:
    return structured_error(
        404,
        "resource_not_found",
        "Revision not found",
        f"Could not find branch or commit: {revision}",
    )


def path_does_not_exist(path: str) -> WireError:
    return structured_error(
        404, "resource_not_found", "Path does not exist", f"Could not find path: {path}"
    )


def resource_not_found(path: str) -> WireError:
    return structured_error(
        404, "resource_not_found", "Resource not found", f"Could not find path: {path}"
    )


def bad_request(detail: str) -> WireError:
    return structured_error(400, "bad_request", "Bad Request", detail)


def internal_error(title: str) -> WireError:
    """The generic 500 for any unmapped library error: title only, no detail."""
    return structured_error(500, "internal_server_error", title)


def no_changes() -> WireError:
    return structured_error(
        422, "no_changes", "No changes to commit", "No changes to commit", "bad_request"
    )


def workspace_not_found(workspace_id: str) -> WireError:
    return described_error(404, "resource_not_found", f"Workspace not found: {workspace_id}")


def lock_timeout() -> WireError:
    return structured_error(
        429,
        "lock_timeout",
        "Repository is busy",
        "The repository is locked for maintenance. Try again later.",
        "too_many_requests",
        headers={"Retry-After": "5"},
    )


def update_required() -> WireError:
    return structured_error(
        426,
        "update_required",
        "Update Required",
        f"Oxen CLI out of date. Pushing to OxenHub requires version >= {MIN_CLIENT_VERSION}.",
    )


def query_error(reason: str) -> WireError:
    return text_error(400, f"Query deserialize error: {reason}")


# --- User-Agent gate -------------------------------------------------------------------------

_VERSION_PREFIX = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def user_agent_allowed(user_agent: str | None) -> bool:
    """The real server's rule: only UAs mentioning "oxen" must carry a version >= 0.36.0."""
    if not user_agent or not user_agent.isascii():
        return True
    lowered = user_agent.lower()
    if "oxen" not in lowered or "postman" in lowered:
        return True
    pieces = user_agent.split("/")
    if len(pieces) < 2:
        return False
    match = _VERSION_PREFIX.match(pieces[1])
    if match is None:
        return False
    version = tuple(int(group) for group in match.groups())
    return version >= _MIN_CLIENT_TUPLE


# --- timestamps ------------------------------------------------------------------------------


def format_timestamp(ns_since_epoch: int) -> str:
    """RFC 3339 in UTC with ``Z``; fractional seconds only when non-zero, trailing zeros cut."""
    seconds, nanos = divmod(ns_since_epoch, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    return text + "Z"


_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def request_id_for(inbound: str | None, fresh: str) -> str:
    """Echo a well-formed inbound request id, otherwise use ``fresh``."""
    if inbound is not None and _REQUEST_ID.fullmatch(inbound):
        return inbound
    return fresh
