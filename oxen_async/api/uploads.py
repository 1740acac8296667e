"""Uploads in parts (``/versions/uploads``, oxen-server >= 0.54) and which route a server takes.

Checked against a running oxen-server 0.65.2:
- ``POST /versions/uploads`` answers 200 with ``file: awaiting_parts`` (status_message
  ``resource_created``; ``part_size`` 10 MiB, ``part_window`` 102 = 1 GiB / part_size) or
  ``file: already_stored`` (``resource_found``). Size 0 and a bad hash are 400; an unknown
  repository is 404 with a description, an unknown workspace 404 with a structured error.
- ``PUT .../parts/{n}`` answers ``{completed}``; 429 + ``Retry-After: 1`` for a part too far
  ahead or re-sent while its first copy is stored; 404 ``Version upload {id} not found`` once the
  upload completed or was aborted.
- A route the server lacks is 404 with a bare ``resource_not_found`` (no description): that is
  how a server older than the parts protocol answers the begin call.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import anyio

from .. import paths
from ..errors import HTTPError, NotFoundError
from ..http.session import Session
from ..models import (
    BeginUpload,
    PartStored,
    StatusResponse,
    UploadDestination,
    UploadStart,
)
from ._scope import RepoScope

# The first release that routes /versions/uploads.
PARTS_SINCE = (0, 54, 0)

# What a server answers for a route it does not have: oxen's default service (404 with only a
# status message) or, on paths some other method routes, 405.
_NO_ROUTE_MESSAGES = frozenset({"resource_not_found", "not found", "404: not found", "http 404"})


class UploadRoute(Enum):
    """How large files reach a server."""

    PARTS = "parts"
    """``/versions/uploads`` + parts (0.54 and later)."""
    LEGACY = "legacy"
    """``/versions/{hash}/chunks`` + ``complete`` (deprecated since 0.54; all 0.53.x have it)."""


class Uploads:
    """The two calls of the parts protocol, typed in and out."""

    def __init__(self, scope: RepoScope) -> None:
        self._r = scope

    @property
    def session(self) -> Session:
        return self._r.session

    async def begin(
        self, content_id: str, size: int, *, workspace_id: str | None = None, path: str = ""
    ) -> UploadStart:
        """Begin an upload of ``size`` bytes hashing to ``content_id``; with a workspace, the
        file is staged at ``path`` once complete (or at once, when already stored).

        Sent again on a transport error: a second begin only opens a second upload the server
        drops after 60 s idle, and staging the same content at the same path twice is one file.
        """
        destination = (
            UploadDestination(workspace_id=workspace_id, path=paths.repo_path(path))
            if workspace_id is not None
            else None
        )
        body = BeginUpload(hash=content_id, size=size, destination=destination)
        # A union is no ``type[T]`` to mypy; msgspec decodes it by the ``file`` tag.
        answer_type: Any = UploadStart
        start: UploadStart = await self._r.session.request(
            "POST", self._r.path("versions/uploads"), answer_type, json=body, idempotent=True
        )
        return start

    async def put_part(self, upload_id: str, number: int, data: bytes) -> bool:
        """Store part ``number`` (from 1); True when this part completed the file.

        Idempotent until the upload completes (a part the server stored already is accepted and
        ignored), so the session repeats it after a lost answer; afterwards it is 404.
        """
        url = self._r.path(f"versions/uploads/{paths.segment(upload_id)}/parts/{number}")
        stored = await self._r.session.request(
            "PUT",
            url,
            PartStored,
            body=lambda: data,
            headers={"Content-Type": "application/octet-stream"},
            idempotent=True,
        )
        return stored.completed


def lacks_route(error: HTTPError) -> bool:
    """Whether an error says the server has no such route (rather than no such repository,
    workspace or upload, which all come with a description)."""
    if error.status == 405:
        return True
    return (
        isinstance(error, NotFoundError)
        and error.error_type is None
        and error.message.strip().lower() in _NO_ROUTE_MESSAGES
    )


def parse_version(text: str | None) -> tuple[int, int, int] | None:
    match = re.match(r"\s*(\d+)\.(\d+)\.(\d+)", text or "")
    if match is None:
        return None
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


@dataclass
class UploadRouteChoice:
    """The large-file route of one client, decided once: from ``/api/version`` when it names a
    version, else (and if the server says >= 0.54 but lacks the route) from the first begin."""

    _route: UploadRoute | None = None
    _asked: bool = False
    _lock: anyio.Lock = field(default_factory=anyio.Lock)
    version: str | None = None
    """What ``/api/version`` said (None when it said nothing usable)."""

    @property
    def decided(self) -> UploadRoute | None:
        return self._route

    async def route(self, session: Session) -> UploadRoute:
        """The route to try: LEGACY for a server that says it is older than 0.54 or that
        showed it lacks the parts route, else PARTS."""
        if self._route is None and not self._asked:
            async with self._lock:
                if not self._asked:
                    self.version = await _server_version(session)
                    parsed = parse_version(self.version)
                    if parsed is not None and parsed < PARTS_SINCE:
                        self._route = UploadRoute.LEGACY
                    self._asked = True
        return self._route or UploadRoute.PARTS

    def confirm(self, route: UploadRoute) -> None:
        """Record what a begin showed: PARTS once one is accepted, LEGACY when the server
        has no parts route (that verdict is final)."""
        if self._route is None or route is UploadRoute.LEGACY:
            self._route = route


async def _server_version(session: Session) -> str | None:
    try:
        info = await session.request("GET", "/api/version", StatusResponse)
    except HTTPError:
        return None  # e.g. a gateway without the route: the first begin decides instead
    return info.oxen_version


# One choice per session (a client owns exactly one). Session is an unhashable dataclass, so the
# registry is keyed by id and the entry dropped when the session is collected.
_CHOICES: dict[int, UploadRouteChoice] = {}


def route_choice(session: Session) -> UploadRouteChoice:
    """The large-file route decision shared by everything using ``session``."""
    key = id(session)
    choice = _CHOICES.get(key)
    if choice is None:
        choice = _CHOICES[key] = UploadRouteChoice()
        weakref.finalize(session, _CHOICES.pop, key, None)
    return choice
