"""The seam below the session: one request out, one response back, nothing else.

The session (auth, redirects, retries, decoding) sends every request through a ``Transport``.
``AiohttpTransport`` is the real one; ``oxen_async.http.mock.MockTransport`` answers from a
function, so the session's rules can be tested without sockets. A transport does not follow
redirects, retry or add auth: it maps its library's failures to ``TransportError`` (with
``not_sent`` when the request surely never reached the server) and returns the response with
its body unread.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import yarl

from ..errors import ClientStateError, TransportError
from ..payload import body_for


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request as the session hands it down. ``url`` is absolute and already quoted;
    ``body`` is bytes, a tuple of bytes segments (sent back to back) or None."""

    method: str
    url: str
    params: Mapping[str, str | int] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None


READ_BUFFER_BYTES = 256 * 1024


class ResponseBody(Protocol):
    def iter_chunked(self, n: int) -> AsyncIterator[bytes]: ...

    # Whatever has arrived, without waiting to fill a chunk: streamed archives and ranges.
    def iter_any(self) -> AsyncIterator[bytes]: ...

    # The same, each of the transport's buffers as it is (never joined): (data, chunk ended).
    def iter_chunks(self) -> AsyncIterator[tuple[bytes, bool]]: ...


class Response(Protocol):
    """What a transport returns: status and headers read, the body not yet."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content(self) -> ResponseBody: ...

    async def read(self) -> bytes: ...

    def release(self) -> Any: ...


class Transport(Protocol):
    """Sends one request; raises TransportError when no HTTP answer came."""

    async def send(self, request: Request) -> Response: ...

    async def aclose(self) -> None: ...


class AiohttpTransport:
    """The default transport: one pooled aiohttp session, opened by ``async with`` the client.

    A session belongs to the event loop that opened it and must be closed: so a request on a
    client that was never opened, was closed, or was opened on another loop raises
    ClientStateError saying what to do, instead of quietly opening a session nobody closes or
    failing deep in aiohttp with "Event loop is closed".
    """

    def __init__(
        self, *, timeout: aiohttp.ClientTimeout, max_connections: int, user_agent: str
    ) -> None:
        self.timeout = timeout
        self.max_connections = max_connections
        self.user_agent = user_agent
        self._http: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def open(self) -> aiohttp.ClientSession:
        """Open (or re-open after ``aclose``) on the running event loop."""
        loop = asyncio.get_running_loop()
        if self._http is not None and not self._http.closed and self._loop is not loop:
            raise ClientStateError(_OTHER_LOOP)
        self._closed = False
        if self._http is None or self._http.closed:
            self._loop = loop
            connector = aiohttp.TCPConnector(
                limit=self.max_connections,
                # Below the server's 75 s keep-alive so we never reuse a socket it is closing.
                keepalive_timeout=50,
            )
            self._http = aiohttp.ClientSession(
                connector=connector,
                timeout=self.timeout,
                # Bodies are used as sent (a tar stream is hashed as it comes), so none may be
                # compressed on the way: aiohttp would otherwise offer gzip to every server
                # and proxy, and a JSON answer gzipped by one could not be decoded.
                headers={"User-Agent": self.user_agent, "Accept-Encoding": "identity"},
                auto_decompress=False,
                # aiohttp's 64 KiB default stops reading a socket (epoll off, then on again)
                # every 128 KiB of body; at 256 KiB (asyncio's largest recv) ranged reads of
                # large files cost less CPU and wall time. Bounded: 512 KiB per connection.
                read_bufsize=READ_BUFFER_BYTES,
            )
            # aiohttp (>= 3.10) silently sends an idempotent request again when a pooled
            # connection drops: a try the session's retry loop never counts. The session
            # retries those itself (retry.py), so the policy's ``attempts`` is what the server
            # sees, never twice that.
            if hasattr(self._http, "_retry_connection"):
                self._http._retry_connection = False
        return self._http

    def _ready(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            raise ClientStateError(_CLOSED if self._closed else _NOT_OPEN)
        if self._loop is not asyncio.get_running_loop():
            raise ClientStateError(_OTHER_LOOP)
        return self._http

    async def send(self, request: Request) -> Response:
        http = self._ready()
        try:
            return await http.request(
                request.method,
                yarl.URL(request.url, encoded=True),
                params=dict(request.params) if request.params else None,
                data=body_for(request.body) if request.body is not None else None,
                headers=dict(request.headers),
                allow_redirects=False,
            )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise TransportError(
                request.method, request.url, describe(exc), not_sent=_not_sent(exc)
            ) from None

    async def aclose(self) -> None:
        http, self._http = self._http, None
        self._closed = True
        if http is not None and self._loop is asyncio.get_running_loop():
            await http.close()
        # On another loop the session's sockets belong to that loop; they go with it.


_NOT_OPEN = (
    "the client is not open: use it as 'async with OxenClient(...) as oxen:' "
    "(or await oxen.__aenter__() and later oxen.close())"
)
_CLOSED = "the client is closed: open it again with 'async with', or create a new OxenClient"
_OTHER_LOOP = (
    "the client was opened on another event loop: use one OxenClient per event loop "
    "(each asyncio.run() is a new loop)"
)


# What a response body can raise while it is read, in any transport.
BODY_ERRORS: tuple[type[BaseException], ...] = (TimeoutError, aiohttp.ClientError)


def describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if str(exc) else text


def _not_sent(exc: BaseException) -> bool:
    """Whether aiohttp failed before the request reached the server: it could not write to a
    connection that was already closing (the server closed a pooled keep-alive connection)."""
    if isinstance(exc, aiohttp.ClientConnectionResetError):
        return True
    return isinstance(exc, aiohttp.ClientOSError) and "Can not write request" in str(exc)
