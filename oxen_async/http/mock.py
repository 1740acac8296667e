"""A transport that answers from a function: drives the session's rules with no socket.

    def handler(request: Request) -> MockResponse:
        return MockResponse(503) if calls.append(request) or len(calls) < 3 else MockResponse(200)

    session = Session("http://oxen.test", transport=MockTransport(handler))

The handler may also raise TransportError (a connection that failed) or be async.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import msgspec

from .transport import Request, Response


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    async def _chunks(self, n: int) -> AsyncIterator[bytes]:
        for start in range(0, len(self._data), n):
            yield self._data[start : start + n]

    def iter_chunked(self, n: int) -> AsyncIterator[bytes]:
        return self._chunks(n)

    def iter_any(self) -> AsyncIterator[bytes]:
        return self._chunks(64 * 1024)

    async def iter_chunks(self) -> AsyncIterator[tuple[bytes, bool]]:
        async for data in self._chunks(64 * 1024):
            yield data, False


class MockResponse:
    """A canned answer: a status, headers and a body (bytes, or any value sent as JSON)."""

    def __init__(
        self, status: int = 200, body: Any = b"", headers: Mapping[str, str] | None = None
    ) -> None:
        self.status = status
        self.headers: Mapping[str, str] = dict(headers or {})
        self._data = body if isinstance(body, bytes) else msgspec.json.encode(body)
        self.released = False

    @property
    def content(self) -> _Body:
        return _Body(self._data)

    async def read(self) -> bytes:
        return self._data

    def release(self) -> None:
        self.released = True


Handler = Callable[[Request], "MockResponse | Awaitable[MockResponse]"]


class MockTransport:
    """Sends every request to ``handler`` and keeps each one in ``requests``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self.closed = False

    async def send(self, request: Request) -> Response:
        self.requests.append(request)
        answer = self.handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        return answer

    async def aclose(self) -> None:
        self.closed = True
