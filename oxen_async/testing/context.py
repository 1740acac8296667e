"""What a handler gets: the request, its route parameters and the server's shared state."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from oxen_async.testing import wire
from oxen_async.testing.faults import FaultController
from oxen_async.testing.routing import Route
from oxen_async.testing.stats import RequestStats
from oxen_async.testing.storage import Repository, Storage
from oxen_async.testing.uploads import UploadRegistry

T = TypeVar("T")

# actix-web's default limits for the extractors the real handlers use.
STRING_LIMIT = 256 * 1024
JSON_LIMIT = 2 * 1024 * 1024


class BodyTooLarge(Exception):
    """The request body went past the limit the endpoint enforces."""


@dataclass
class ServerState:
    storage: Storage
    faults: FaultController
    auth_token: str | None
    executor: ThreadPoolExecutor
    uploads: UploadRegistry = field(default_factory=UploadRegistry)

    @property
    def stats(self) -> RequestStats:
        return self.faults.stats


@dataclass
class RequestContext:
    request: web.Request
    route: Route
    params: dict[str, str]
    state: ServerState
    # Set by a drop-after-headers fault so streaming handlers cut their body short.
    truncate_response: bool = False
    # Set by a handler whose fault says: do the work, then lose the answer (drop after headers).
    drop_answer: bool = False
    _repo: Repository | None = field(default=None, init=False)

    @property
    def storage(self) -> Storage:
        return self.state.storage

    @property
    def stats(self) -> RequestStats:
        return self.state.stats

    @property
    def faults(self) -> FaultController:
        return self.state.faults

    def repo_segments(self) -> tuple[str, str]:
        """``{ns}``/``{repo}``; 400 B unless each is one ordinary path segment."""
        namespace, name = self.params["ns"], self.params.get("repo")
        for segment in (namespace, name):
            if segment is not None and (segment in ("", ".", "..") or "/" in segment):
                raise wire.bad_segment()
        return namespace, name or ""

    def repo(self) -> Repository:
        """The repository named in the URL, or the 404 B the real server sends."""
        if self._repo is None:
            namespace, name = self.repo_segments()
            repo = self.storage.repo(namespace, name)
            if repo is None:
                raise wire.repo_not_found(namespace, name)
            self._repo = repo
        return self._repo

    async def offload(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking work (gunzip, hashing, disk) in the server's worker threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.state.executor, functools.partial(fn, *args))

    async def body(self, limit: int | None = None) -> bytes:
        """The whole request body; BodyTooLarge once it passes ``limit``."""
        request = self.request
        if limit is not None and (request.content_length or 0) > limit:
            raise BodyTooLarge
        pieces: list[bytes] = []
        total = 0
        while True:
            piece = await request.content.readany()
            if not piece:
                break
            total += len(piece)
            if limit is not None and total > limit:
                self.stats.record_body(self.route.name, total)
                raise BodyTooLarge
            pieces.append(piece)
        self.stats.record_body(self.route.name, total)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    async def text_body(self, limit: int = STRING_LIMIT) -> bytes:
        """A body read as actix's ``String`` extractor would: over the limit is 413 text."""
        try:
            return await self.body(limit)
        except BodyTooLarge:
            raise wire.text_error(413, "A payload reached size limit.") from None

    async def json_extractor_body(self, kind: type[T], limit: int = JSON_LIMIT) -> T:
        """actix's ``Json<T>`` extractor: Content-Type must be application/json; errors are text."""
        content_type = self.request.headers.get("Content-Type", "")
        essence = content_type.split(";", 1)[0].strip().lower()
        if essence != "application/json" and not essence.endswith("+json"):
            raise wire.text_error(400, "Content type error")
        try:
            raw = await self.body(limit)
        except BodyTooLarge:
            raise wire.text_error(
                413,
                f"JSON payload ({self.request.content_length or 0} bytes) is larger than "
                f"allowed (limit: {limit} bytes).",
            ) from None
        try:
            return msgspec.json.decode(raw, type=kind)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise wire.text_error(400, f"Json deserialize error: {error}") from None

    # --- query parameters (actix ``Query<T>``: bad values are 400 text) ----------------------

    def query_uint(self, name: str, default: int) -> int:
        raw = self.request.query.get(name)
        if raw is None:
            return default
        if not raw.isdigit() or not raw.isascii():
            reason = (
                "cannot parse integer from empty string"
                if raw == ""
                else ("invalid digit found in string")
            )
            raise wire.query_error(reason)
        return int(raw)

    def query_int(self, name: str, default: int) -> int:
        raw = self.request.query.get(name)
        if raw is None:
            return default
        digits = raw[1:] if raw[:1] in "+-" else raw
        if not digits.isdigit() or not digits.isascii():
            raise wire.query_error("invalid digit found in string")
        return int(raw)

    def query_bool(self, name: str, default: bool) -> bool:
        raw = self.request.query.get(name)
        if raw is None:
            return default
        if raw not in ("true", "false"):
            raise wire.query_error("provided string was not `true` or `false`")
        return raw == "true"
