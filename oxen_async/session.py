"""The one module that speaks HTTP.

Everything above it (api/, the pipelines) hands it a method, an encoded path and a body, and
gets back a decoded msgspec Struct or a typed exception. Retries, auth, the User-Agent,
timeouts, redirects and status mapping live here and nowhere else.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urljoin, urlsplit

import aiohttp
import anyio.lowlevel
import anyio.to_thread
import msgspec
import yarl

from ._version import __version__
from .errors import HTTPError, OxenError, TransportError, error_for_status
from .models import ErrorBody
from .payload import body_for

logger = logging.getLogger("oxen_async")

T = TypeVar("T")

# The server refuses (426) any User-Agent that contains "oxen" unless the text after the first
# "/" is a version >= 0.36.0. We name the API version we speak there, then ourselves.
PROTOCOL_VERSION = "0.53.4"
USER_AGENT = (
    f"oxen-async/{PROTOCOL_VERSION} (oxen_async {__version__}; aiohttp {aiohttp.__version__})"
)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "QUERY"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
NOT_PROCESSED = frozenset({429})
MAX_REDIRECTS = 5
# Bodies above this size are decoded in a worker thread (about 5 ms of decoding on the loop).
DECODE_INLINE_LIMIT = 1024 * 1024

BodyFactory = Callable[[], Any]
"""Builds a fresh request body for each attempt (a FormData cannot be sent twice)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, honouring Retry-After, within a time budget."""

    attempts: int = 6
    base_delay: float = 0.2
    max_delay: float = 10.0
    budget: float = 120.0
    statuses: frozenset[int] = RETRY_STATUSES

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_delay * 3)
        cap = min(self.max_delay, self.base_delay * (2**attempt))
        return random.uniform(cap / 2, cap)


NO_RETRY = RetryPolicy(attempts=1)


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


_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decoder(tp: Any) -> msgspec.json.Decoder[Any]:
    dec = _DECODERS.get(tp)
    if dec is None:
        dec = _DECODERS[tp] = msgspec.json.Decoder(tp)
    return dec


def decode(data: bytes, tp: type[T]) -> T:
    """Decode JSON bytes straight into ``tp`` (no intermediate dict)."""
    result: T = _decoder(tp).decode(data)
    return result


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_from_body(
    method: str, url: str, status: int, body: bytes, retry_after: float | None
) -> HTTPError:
    message = ""
    error_type: str | None = None
    try:
        parsed = decode(body, ErrorBody)
        message = parsed.message()
        error_type = parsed.error.type if parsed.error else None
    except msgspec.DecodeError:
        message = body[:500].decode("utf-8", "replace").strip()
    if not message:
        message = {401: "unauthorized: missing or wrong token"}.get(status, f"HTTP {status}")
    return error_for_status(
        method, url, status, message, error_type=error_type, retry_after=retry_after
    )


@dataclass
class Session:
    """An aiohttp session bound to one Oxen host, with auth, retries and typed errors."""

    host: str
    token: str | None = field(default=None, repr=False)
    timeout: aiohttp.ClientTimeout = field(
        default_factory=lambda: aiohttp.ClientTimeout(total=None, connect=30, sock_read=600)
    )
    max_connections: int = 32
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    user_agent: str = USER_AGENT

    def __post_init__(self) -> None:
        self.host = self.host.rstrip("/")
        self._secret = _Secret(self.token) if self.token else None
        self.token = None  # only _secret keeps it, so dataclass repr/eq never see it
        self._origin = self._origin_of(self.host)
        self._http: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        auth = "with token" if self._secret else "no token"
        return f"Session(host={self.host!r}, {auth})"

    @property
    def has_token(self) -> bool:
        return self._secret is not None

    @staticmethod
    def _origin_of(url: str) -> tuple[str, str]:
        parts = urlsplit(url)
        return parts.scheme, parts.netloc.lower()

    async def __aenter__(self) -> Self:
        self._ensure_open()
        # anyio loads its event-loop backend on first use (about 30 ms of imports): pay it as
        # the client opens, not inside the caller's first transfer.
        await anyio.lowlevel.checkpoint()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _ensure_open(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            connector = aiohttp.TCPConnector(
                limit=self.max_connections,
                # Below the server's 75 s keep-alive so we never reuse a socket it is closing.
                keepalive_timeout=50,
            )
            self._http = aiohttp.ClientSession(
                connector=connector,
                timeout=self.timeout,
                headers={"User-Agent": self.user_agent},
                auto_decompress=False,
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def url(self, path: str) -> str:
        """Absolute URL of an already-quoted path that starts with ``/``."""
        return f"{self.host}{path}"

    def _headers_for(self, url: str, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        # The token goes only to the configured origin, never to a redirect elsewhere.
        if self._secret is not None and self._origin_of(url) == self._origin:
            headers["Authorization"] = f"Bearer {self._secret.reveal()}"
        return headers

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        body: BodyFactory | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        retry: RetryPolicy | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send a request (retrying what is safe to repeat) and yield the successful response.

        The body is not read: callers stream it. Error statuses raise typed exceptions; a body
        that breaks off while the caller reads it raises TransportError (not retried: the
        caller has consumed part of it).
        """
        method = method.upper()
        resp, _ = await self._exchange(
            method, path, params, json, body, headers, idempotent, retry, ok, read=False
        )
        try:
            yield resp
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TransportError(method, self.url(path), _describe(exc)) from None
        finally:
            resp.release()

    async def _exchange(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None,
        json: Any,
        body: BodyFactory | None,
        headers: Mapping[str, str] | None,
        idempotent: bool | None,
        retry: RetryPolicy | None,
        ok: tuple[int, ...],
        *,
        read: bool,
    ) -> tuple[aiohttp.ClientResponse, bytes]:
        """The retry loop. With ``read`` the body is read inside it, so a connection that drops
        mid-body is retried like one that drops before the status line."""
        policy = retry or self.retry
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        # A request that may have been acted on is never repeated. A 429 says it was not (the
        # server turned it away before running it: maintenance lock, throttling), so even a
        # merge is sent again after the announced wait.
        statuses = policy.statuses if idempotent else policy.statuses & NOT_PROCESSED
        payload = msgspec.json.encode(json) if json is not None else None
        started = time.monotonic()
        attempt = 0
        url = self.url(path)
        while True:
            attempt += 1
            try:
                resp = await self._send(method, url, params, payload, body, headers)
                if resp.status in ok:
                    if not read:
                        return resp, b""
                    try:
                        return resp, await resp.read()
                    except (TimeoutError, aiohttp.ClientError) as exc:
                        raise TransportError(method, url, _describe(exc)) from None
                    finally:
                        resp.release()
            except TransportError as exc:
                wait = policy.delay(attempt - 1, None)
                safe = idempotent or exc.not_sent
                if not safe or not self._may_retry(policy, attempt, started, wait):
                    raise
                logger.info("retrying %s %s after transport error: %s", method, url, exc.message)
                await asyncio.sleep(wait)
                continue
            try:
                raw = await resp.read()
            except (TimeoutError, aiohttp.ClientError):
                raw = b""  # the status is what matters; a truncated error body is no reason
            finally:
                resp.release()
            error = _error_from_body(
                method, url, resp.status, raw, parse_retry_after(resp.headers.get("Retry-After"))
            )
            wait = policy.delay(attempt - 1, error.retry_after)
            if resp.status in statuses and self._may_retry(policy, attempt, started, wait):
                logger.info("retrying %s %s after HTTP %s in %.2fs", method, url, resp.status, wait)
                await asyncio.sleep(wait)
                continue
            raise error

    @staticmethod
    def _may_retry(policy: RetryPolicy, attempt: int, started: float, wait: float) -> bool:
        return attempt < policy.attempts and (time.monotonic() - started + wait) <= policy.budget

    async def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, str | int] | None,
        payload: bytes | None,
        body: BodyFactory | None,
        headers: Mapping[str, str] | None,
    ) -> aiohttp.ClientResponse:
        http = self._ensure_open()
        hdrs = dict(headers or {})
        data: Any = None
        if payload is not None:
            data = payload
            hdrs.setdefault("Content-Type", "application/json")
        elif body is not None:
            data = body_for(body())
        query = dict(params) if params else None
        for _ in range(MAX_REDIRECTS + 1):
            try:
                resp = await http.request(
                    method,
                    yarl.URL(url, encoded=True),
                    params=query,
                    data=data,
                    headers=self._headers_for(url, hdrs),
                    allow_redirects=False,
                )
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise TransportError(method, url, _describe(exc), not_sent=_not_sent(exc)) from None
            logger.debug("%s %s -> %s", method, url, resp.status)
            location = resp.headers.get("Location")
            if resp.status in (301, 302, 303, 307, 308) and location and method in ("GET", "HEAD"):
                resp.release()
                url = urljoin(str(resp.url), location)
                query = None  # the Location is complete: its own query, not ours again
                continue
            return resp
        raise TransportError(method, url, f"more than {MAX_REDIRECTS} redirects")

    async def request_bytes(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: BodyFactory | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        retry: RetryPolicy | None = None,
    ) -> bytes:
        """Send a request and return its whole body (a body cut off mid-way is retried like
        any transport error when the request is idempotent)."""
        _, raw = await self._exchange(
            method.upper(), path, params, None, body, headers, idempotent, retry, (200,), read=True
        )
        return raw

    async def request(
        self,
        method: str,
        path: str,
        decode_as: type[T],
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        body: BodyFactory | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        retry: RetryPolicy | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> T:
        """Send a request and decode its JSON body into ``decode_as``."""
        method = method.upper()
        _, raw = await self._exchange(
            method, path, params, json, body, headers, idempotent, retry, ok, read=True
        )
        try:
            if len(raw) > DECODE_INLINE_LIMIT:
                # A big listing takes long enough to decode to stall the loop: use a thread.
                return await anyio.to_thread.run_sync(decode, raw, decode_as)
            return decode(raw, decode_as)
        except msgspec.DecodeError as exc:
            raise OxenError(
                f"{method} {self.url(path)}: unexpected response body ({exc}): {raw[:200]!r}"
            ) from None


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if str(exc) else text


def _not_sent(exc: BaseException) -> bool:
    """Whether aiohttp failed before the request reached the server: it could not write to a
    connection that was already closing (the server closed a pooled keep-alive connection)."""
    if isinstance(exc, aiohttp.ClientConnectionResetError):
        return True
    return isinstance(exc, aiohttp.ClientOSError) and "Can not write request" in str(exc)
