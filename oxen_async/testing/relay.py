"""A loopback HTTP relay to put between your code and a server (the bundled one, a real
oxen-server, any HTTP server) in a test, to see what crosses and to break it on purpose::

    async with Relay(server.url) as relay, OxenClient(relay.url) as oxen:
        relay.stall(r"/versions/uploads/", 0.05)
        tripwire = relay.trip_after(1_000_000, "up", then=server.process.kill)
        ...
    assert tripwire.fired and relay.stats.count("GET /api/version") == 1

It streams bodies both ways (a tripwire fires mid-transfer, an answer is cut mid-body), counts
requests per kind and how many were in flight at once, answers chosen paths itself, delays or
rewrites others, cuts answers after a byte budget and then refuses every request (a server that
died mid-answer), and closes the client's connection unanswered when the server is gone, which
is what a client sees of a dead server. Counting happens at the relay, so it works the same in
front of a server with no fault API. Runs in the test's event loop; no pytest needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json as jsonlib
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from types import TracebackType
from typing import Any

import aiohttp
import yarl
from aiohttp import web

from oxen_async.testing.relay_rules import (
    CannedAnswer,
    Direction,
    PathRule,
    RelayStats,
    Rewrite,
    Stall,
    Tripwire,
    request_kind,
)

_HOP = {"host", "transfer-encoding", "connection", "keep-alive"}
_CHUNK = 65536


class _Refused(Exception):
    """The client's connection was closed unanswered (or mid-answer)."""


class Relay:
    """Relays ``http://127.0.0.1:<free port>`` (``url``, once entered) to ``upstream``.

    ``upstream`` may be set at any time (a server restarted on another port); ``classify`` names
    a request for ``stats`` from its method and path. The rules (``answer``, ``stall``,
    ``rewrite``, ``trip_after``, ``cut_answers_after``, ``refuse``) apply to requests that arrive
    after they are set.
    """

    def __init__(
        self, upstream: str, *, classify: Callable[[str, str], str] = request_kind
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.classify = classify
        self.stats = RelayStats()
        self._answers: list[CannedAnswer] = []
        self._stalls: list[Stall] = []
        self._rewrites: list[Rewrite] = []
        self._tripwires: list[Tripwire] = []
        self._answer_budget: int | None = None
        self._refusing = False
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._port = 0

    @property
    def url(self) -> str:
        """Where to point the client."""
        if self._runner is None:
            raise RuntimeError("the relay is not running: use it as `async with Relay(...)`")
        return f"http://127.0.0.1:{self._port}"

    # --- rules ------------------------------------------------------------------------------

    def answer(
        self,
        path: str,
        *,
        status: int = 200,
        json: Any = None,
        body: bytes = b"",
        method: str | None = None,
    ) -> None:
        """Answer requests whose path matches the regex ``path`` (and ``method``, if named)
        with ``status`` and ``json`` (or the raw ``body``); the server never sees them."""
        payload = body if json is None else jsonlib.dumps(json).encode()
        kind = None if json is None else "application/json"
        self._answers.append(CannedAnswer(PathRule.of(path, method), status, payload, kind))

    def stall(self, path: str, seconds: float, *, method: str | None = None) -> None:
        """Hold matching requests ``seconds`` before they go on (a slower link)."""
        self._stalls.append(Stall(PathRule.of(path, method), seconds))

    def rewrite(self, path: str, old: bytes, new: bytes, *, method: str | None = None) -> None:
        """Replace ``old`` by ``new`` in the answers to matching requests."""
        self._rewrites.append(Rewrite(PathRule.of(path, method), old, new))

    def trip_after(
        self, nbytes: int, direction: Direction, *, then: Callable[[], None]
    ) -> Tripwire:
        """Call ``then()`` once ``nbytes`` body bytes went ``direction`` from now on (in the
        relay's event loop, mid-transfer: keep it quick, e.g. ``process.kill``)."""
        tripwire = Tripwire(nbytes, direction, then)
        self._tripwires.append(tripwire)
        return tripwire

    def cut_answers_after(self, nbytes: int) -> None:
        """Relay ``nbytes`` more answer-body bytes, close the connection of the answer that
        crosses the line, then refuse every request: a server that died mid-answer."""
        self._answer_budget = nbytes

    def refuse(self) -> None:
        """Close every request's connection unanswered from now on (a dead server)."""
        self._refusing = True

    def heal(self) -> None:
        """Relay again: lifts ``refuse``, ``cut_answers_after`` and disarms the tripwires."""
        self._refusing, self._answer_budget = False, None
        for tripwire in self._tripwires:
            tripwire.disarm()

    # --- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> Relay:
        # One upstream connection per request: a pooled one to a killed server would fail the
        # next request for a reason the test did not choose.
        connector = aiohttp.TCPConnector(force_close=True)
        timeout = aiohttp.ClientTimeout(total=None)
        self._client = aiohttp.ClientSession(
            connector=connector, timeout=timeout, auto_decompress=False
        )
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    # --- relaying ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        kind = self.classify(request.method, request.path)
        self.stats.arrived(kind)
        try:
            return await self._relay(request)
        except _Refused:
            return _closed(request)
        finally:
            self.stats.ended(kind)

    async def _relay(self, request: web.Request) -> web.StreamResponse:
        method, path = request.method, request.path
        if self._refusing:
            self.stats.refused += 1
            raise _Refused
        for canned in self._answers:
            if canned.where.matches(method, path):
                return web.Response(
                    status=canned.status, body=canned.body, content_type=canned.content_type
                )
        for stall in self._stalls:
            if stall.where.matches(method, path):
                await asyncio.sleep(stall.seconds)
        rewrites = [r for r in self._rewrites if r.where.matches(method, path)]
        assert self._client is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        body = self._request_body(request) if request.body_exists else None
        url = yarl.URL(self.upstream + request.raw_path, encoded=True)
        try:
            async with self._client.request(
                method, url, headers=headers, data=body, allow_redirects=False
            ) as answer:
                if rewrites:
                    return await self._rewritten(answer, rewrites)
                return await self._streamed(request, answer)
        except (aiohttp.ClientError, OSError) as error:
            # The server is gone (refused, reset, died mid-answer): so is the client's line.
            self.stats.lost += 1
            raise _Refused from error

    async def _request_body(self, request: web.Request) -> AsyncIterator[bytes]:
        async for data in request.content.iter_chunked(_CHUNK):
            self.stats.bytes_up += len(data)
            self._passed("up", len(data))
            yield data

    async def _rewritten(
        self, answer: aiohttp.ClientResponse, rewrites: list[Rewrite]
    ) -> web.Response:
        payload = await answer.read()
        for rule in rewrites:
            payload = payload.replace(rule.old, rule.new)
        self.stats.bytes_down += len(payload)
        self._passed("down", len(payload))
        headers = _end_to_end(answer.headers, drop={"content-length"})
        return web.Response(status=answer.status, body=payload, headers=headers)

    async def _streamed(
        self, request: web.Request, answer: aiohttp.ClientResponse
    ) -> web.StreamResponse:
        out = web.StreamResponse(status=answer.status, headers=_end_to_end(answer.headers))
        await out.prepare(request)
        async for data in answer.content.iter_chunked(_CHUNK):
            allowed = data if self._answer_budget is None else data[: self._answer_budget]
            await out.write(allowed)
            self.stats.bytes_down += len(allowed)
            self._passed("down", len(allowed))
            if self._answer_budget is not None:
                self._answer_budget -= len(allowed)
                if self._answer_budget == 0:
                    self.stats.cut += 1
                    self._refusing = True
                    raise _Refused
        await out.write_eof()
        return out

    def _passed(self, direction: Direction, nbytes: int) -> None:
        for tripwire in self._tripwires:
            tripwire.passed(direction, nbytes)


def _end_to_end(headers: Mapping[str, str], drop: Collection[str] = ()) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _HOP and k.lower() not in drop}


def _closed(request: web.Request) -> web.StreamResponse:
    """Close the client's connection (after what was already written); aiohttp then drops
    the response it is handed, quietly, as for a client that went away."""
    if request.transport is not None:
        with contextlib.suppress(OSError):
            request.transport.close()
    return web.Response()
