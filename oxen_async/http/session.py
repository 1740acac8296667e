"""The session: every request of the library goes through it.

Above it (api/, the workflows) a call is a method, an encoded path and keyword options; below
it a ``Transport`` moves bytes. Here live auth (the token only to the configured origin),
redirects (GET/HEAD only, at most MAX_REDIRECTS), the session's retries (``retry.py`` decides
what and how long) and decoding into typed values or typed errors.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TypedDict, TypeVar, Unpack, overload
from urllib.parse import urljoin, urlsplit

import aiohttp
import anyio
import anyio.lowlevel
import msgspec

from .._version import __version__
from ..errors import ResponseTooLargeError, TransportError
from .body import MAX_ERROR_BODY, Body, read_capped, read_prefix, read_whole
from .decoding import decode_body, error_from_body
from .retry import IDEMPOTENT_METHODS, NOT_PROCESSED, RetryPolicy, parse_retry_after
from .transport import BODY_ERRORS, AiohttpTransport, Request, Response, Transport, describe

logger = logging.getLogger("oxen_async")

T = TypeVar("T")
B = TypeVar("B", bound=Body)

# The server refuses (426) any User-Agent that contains "oxen" unless the text after the first
# "/" is a version >= 0.36.0. We name the API version we speak there, then ourselves.
PROTOCOL_VERSION = "0.53.4"
USER_AGENT = (
    f"oxen-async/{PROTOCOL_VERSION} (oxen_async {__version__}; aiohttp {aiohttp.__version__})"
)
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

BodyFactory = Callable[[], Any]
"""Builds a fresh request body for each attempt (a FormData cannot be sent twice)."""


class RequestOptions(TypedDict, total=False):
    """The keyword options of every Session call (written once, here)."""

    params: Mapping[str, str | int] | None
    json: Any
    body: BodyFactory | None
    headers: Mapping[str, str] | None
    idempotent: bool | None
    retry: RetryPolicy | None
    ok: tuple[int, ...]


class _Secret:
    """Holds the token so that no repr, log line or traceback local shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<token>"

    __str__ = __repr__


def _origin_of(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


@dataclass
class Session:
    """One Oxen host: auth, redirects, retries and typed errors over a transport."""

    host: str
    token: str | None = field(default=None, repr=False)
    timeout: aiohttp.ClientTimeout = field(
        default_factory=lambda: aiohttp.ClientTimeout(total=None, connect=30, sock_read=600)
    )
    max_connections: int = 32
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    user_agent: str = USER_AGENT
    transport: Transport | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.host = self.host.rstrip("/")
        self._secret = _Secret(self.token) if self.token else None
        self.token = None  # only _secret keeps it, so dataclass repr/eq never see it
        self._origin = _origin_of(self.host)
        if self.transport is None:
            self.transport = AiohttpTransport(
                timeout=self.timeout,
                max_connections=self.max_connections,
                user_agent=self.user_agent,
            )
        self._transport: Transport = self.transport

    def __repr__(self) -> str:
        auth = "with token" if self._secret else "no token"
        return f"Session(host={self.host!r}, {auth})"

    @property
    def has_token(self) -> bool:
        return self._secret is not None

    async def __aenter__(self) -> Self:
        if isinstance(self._transport, AiohttpTransport):
            self._transport.open()
        # anyio loads its event-loop backend on first use (about 30 ms of imports): pay it as
        # the client opens, not inside the caller's first transfer.
        await anyio.lowlevel.checkpoint()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._transport.aclose()

    def url(self, path: str) -> str:
        """Absolute URL of an already-quoted path that starts with ``/``."""
        return f"{self.host}{path}"

    # -- the public calls ------------------------------------------------------------------

    async def request(
        self, method: str, path: str, decode_as: type[T], **options: Unpack[RequestOptions]
    ) -> T:
        """Send a request and decode its JSON body into ``decode_as``."""
        method = method.upper()
        _, raw = await self._exchange(method, path, options, read=read_whole)
        return await decode_body(method, self.url(path), raw, decode_as)

    async def request_bytes(
        self,
        method: str,
        path: str,
        *,
        max_bytes: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> bytes:
        """Send a request and return its whole body (a body cut off mid-way is retried like
        any transport error when the request is idempotent). A body past ``max_bytes`` raises
        ResponseTooLargeError before the excess is read."""

        async def read(resp: Response) -> bytes:
            return await (resp.read() if max_bytes is None else read_capped(resp, max_bytes))

        _, raw = await self._exchange(method.upper(), path, options, read=read)
        return raw

    @asynccontextmanager
    async def stream(
        self, method: str, path: str, **options: Unpack[RequestOptions]
    ) -> AsyncIterator[Response]:
        """Send a request (retrying what is safe to repeat) and yield the successful response.

        The body is not read: callers stream it (``resp.content.iter_chunked(n)``). Error
        statuses raise typed exceptions; a body that breaks off while the caller reads it
        raises TransportError (not retried: the caller has consumed part of it).
        """
        method = method.upper()
        resp, _ = await self._exchange(method, path, options, read=None)
        try:
            yield resp
        except BODY_ERRORS as exc:
            raise TransportError(method, self.url(path), describe(exc)) from None
        finally:
            resp.release()

    # -- the retry loop --------------------------------------------------------------------

    @overload
    async def _exchange(
        self,
        method: str,
        path: str,
        options: RequestOptions,
        *,
        read: Callable[[Response], Awaitable[B]],
    ) -> tuple[Response, B]: ...

    @overload
    async def _exchange(
        self, method: str, path: str, options: RequestOptions, *, read: None
    ) -> tuple[Response, None]: ...

    async def _exchange(
        self,
        method: str,
        path: str,
        options: RequestOptions,
        *,
        read: Callable[[Response], Awaitable[B]] | None,
    ) -> tuple[Response, B | None]:
        """The retry loop. With ``read`` the body is read (by it) inside the loop, so a
        connection that drops mid-body is retried like one that drops before the status line;
        without, the body is left to the caller and None is returned for it."""
        policy = options.get("retry") or self.retry
        idempotent = options.get("idempotent")
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        ok = options.get("ok", (200,))
        # A request that may have been acted on is never repeated. A 429 says it was not (the
        # server turned it away before running it: maintenance lock, throttling), so even a
        # merge is sent again after the announced wait.
        statuses = policy.statuses if idempotent else policy.statuses & NOT_PROCESSED
        json = options.get("json")
        payload = msgspec.json.encode(json) if json is not None else None
        url = self.url(path)
        retrier = policy.start()
        while True:
            try:
                resp = await self._send(method, url, options, payload)
                if resp.status in ok:
                    if read is None:
                        return resp, None
                    try:
                        return resp, await read(resp)
                    except BODY_ERRORS as exc:
                        raise TransportError(method, url, describe(exc)) from None
                    except ResponseTooLargeError as exc:
                        raise ResponseTooLargeError(f"{method} {url}: {exc}") from None
                    finally:
                        resp.release()
            except TransportError as exc:
                wait = retrier.after(exc) if idempotent or exc.not_sent else None
                if wait is None:
                    exc.tries = max(1, retrier.tries)
                    raise
                logger.info("retrying %s %s after transport error: %s", method, url, exc.message)
                await anyio.sleep(wait)
                continue
            try:
                raw = await read_prefix(resp, MAX_ERROR_BODY)
            except BODY_ERRORS:
                raw = b""  # the status is what matters; a truncated error body is no reason
            finally:
                resp.release()
            error = error_from_body(
                method, url, resp.status, raw, parse_retry_after(resp.headers.get("Retry-After"))
            )
            wait = retrier.after(error) if resp.status in statuses else None
            if wait is None:
                error.tries = max(1, retrier.tries)
                raise error
            logger.info("retrying %s %s after HTTP %s in %.2fs", method, url, resp.status, wait)
            await anyio.sleep(wait)

    async def _send(
        self, method: str, url: str, options: RequestOptions, payload: bytes | None
    ) -> Response:
        """One try: the request, then redirects (GET/HEAD only), the token only on our origin."""
        headers = dict(options.get("headers") or {})
        data: Any = None
        if payload is not None:
            data = payload
            headers.setdefault("Content-Type", "application/json")
        elif (body := options.get("body")) is not None:
            data = body()
        query = options.get("params") or None
        for _ in range(MAX_REDIRECTS + 1):
            request = Request(method, url, query, self._headers_for(url, headers), data)
            resp = await self._transport.send(request)
            logger.debug("%s %s -> %s", method, url, resp.status)
            location = resp.headers.get("Location")
            if resp.status in REDIRECT_STATUSES and location and method in ("GET", "HEAD"):
                resp.release()
                url = urljoin(url, location)
                query = None  # the Location is complete: its own query, not ours again
                continue
            return resp
        raise TransportError(method, url, f"more than {MAX_REDIRECTS} redirects")

    def _headers_for(self, url: str, extra: Mapping[str, str]) -> dict[str, str]:
        headers = dict(extra)
        # The token goes only to the configured origin, never to a redirect elsewhere.
        if self._secret is not None and _origin_of(url) == self._origin:
            headers["Authorization"] = f"Bearer {self._secret.reveal()}"
        return headers
