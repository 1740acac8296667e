"""The session's rules driven through the mock transport: no socket, every request counted."""

from __future__ import annotations

import msgspec
import pytest

from oxen_async import (
    RateLimitedError,
    RetryPolicy,
    ServerError,
    TransportError,
    UnauthorizedError,
)
from oxen_async.http.mock import MockResponse, MockTransport
from oxen_async.http.retry import is_transient
from oxen_async.http.session import Session
from oxen_async.http.transport import Request
from oxen_async.models import StatusResponse

FAST = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.002, budget=5.0)
OK = {"status": "success", "status_message": "resource_found"}


def _script(*answers: MockResponse | TransportError) -> MockTransport:
    """A transport that gives ``answers`` in order, then keeps giving the last one."""
    queue = list(answers)

    def handler(request: Request) -> MockResponse:
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, TransportError):
            raise answer
        return answer

    return MockTransport(handler)


def _session(transport: MockTransport, token: str | None = "secret") -> Session:
    return Session("http://oxen.test", token=token, retry=FAST, transport=transport)


async def test_a_get_is_retried_through_503_and_502() -> None:
    transport = _script(MockResponse(503), MockResponse(502), MockResponse(200, OK))
    reply = await _session(transport).request("GET", "/api/x", StatusResponse)
    assert reply.status == "success"
    assert len(transport.requests) == 3


async def test_a_500_is_not_retried_by_the_session_but_counts_one_try() -> None:
    transport = _script(MockResponse(500, b"boom"))
    with pytest.raises(ServerError) as caught:
        await _session(transport).request("GET", "/api/x", StatusResponse)
    assert len(transport.requests) == 1
    assert caught.value.tries == 1
    assert is_transient(caught.value)


async def test_retries_stop_after_the_attempts_and_say_how_many_were_made() -> None:
    transport = _script(MockResponse(503))
    with pytest.raises(ServerError) as caught:
        await _session(transport).request("GET", "/api/x", StatusResponse)
    assert len(transport.requests) == FAST.attempts
    assert caught.value.tries == FAST.attempts


async def test_a_post_is_not_repeated_after_a_lost_answer_but_is_after_a_429() -> None:
    lost = _script(TransportError("POST", "u", "reset"), MockResponse(200, OK))
    with pytest.raises(TransportError):
        await _session(lost).request("POST", "/api/m", StatusResponse, json={})
    assert len(lost.requests) == 1

    throttled = _script(MockResponse(429, headers={"Retry-After": "0"}), MockResponse(200, OK))
    await _session(throttled).request("POST", "/api/m", StatusResponse, json={})
    assert len(throttled.requests) == 2


async def test_a_request_never_sent_is_sent_again_even_as_a_post() -> None:
    transport = _script(
        TransportError("POST", "u", "stale connection", not_sent=True), MockResponse(200, OK)
    )
    await _session(transport).request("POST", "/api/m", StatusResponse, json={})
    assert len(transport.requests) == 2


async def test_429_after_every_try_raises_rate_limited_with_the_servers_message() -> None:
    body = msgspec.json.encode({"status": "error", "status_message": "locked for maintenance"})
    transport = _script(MockResponse(429, body))
    with pytest.raises(RateLimitedError, match="locked for maintenance"):
        await _session(transport).request("GET", "/api/x", StatusResponse)


async def test_the_token_follows_a_redirect_on_our_origin_only() -> None:
    def handler(request: Request) -> MockResponse:
        if request.url.endswith("/start"):
            return MockResponse(302, headers={"Location": "/same"})
        if request.url.endswith("/same"):
            return MockResponse(307, headers={"Location": "http://elsewhere.test/away"})
        return MockResponse(200, OK)

    transport = MockTransport(handler)
    await _session(transport).request("GET", "/start", StatusResponse)
    auth = [(r.url, "Authorization" in r.headers) for r in transport.requests]
    assert auth == [
        ("http://oxen.test/start", True),
        ("http://oxen.test/same", True),
        ("http://elsewhere.test/away", False),
    ]


async def test_a_post_is_not_redirected() -> None:
    transport = _script(MockResponse(302, headers={"Location": "/other"}))
    with pytest.raises(Exception, match="302"):
        await _session(transport).request("POST", "/api/m", StatusResponse, json={})
    assert len(transport.requests) == 1


async def test_a_redirect_loop_stops() -> None:
    transport = _script(MockResponse(302, headers={"Location": "/again"}))
    with pytest.raises(TransportError, match="redirects"):
        await _session(transport).request("GET", "/api/x", StatusResponse)
    # Each try follows at most MAX_REDIRECTS (5) redirects, then gives up as a transport error.
    assert len(transport.requests) == FAST.attempts * 6


async def test_a_401_is_unauthorized_and_not_retried() -> None:
    transport = _script(MockResponse(401))
    with pytest.raises(UnauthorizedError, match="missing or wrong token"):
        await _session(transport, token=None).request("GET", "/api/x", StatusResponse)
    assert len(transport.requests) == 1
    assert "Authorization" not in transport.requests[0].headers


async def test_stream_yields_the_body_in_chunks() -> None:
    transport = _script(MockResponse(200, b"abcdefg"))
    async with _session(transport).stream("GET", "/f") as resp:
        chunks = [c async for c in resp.content.iter_chunked(3)]
    assert chunks == [b"abc", b"def", b"g"]
