"""Whole JSON bodies as a user's listing calls get them, over loopback: a big body of declared
length is read into one mapping of that size; a compressed or chunked body the plain way; a
body cut short is asked for again; the session asks for no compression (the ``/gzip`` route
compresses when offered gzip, as aiohttp's default headers do). And what a client never reads
whole: a body past its cap (declared or running on), an endless error body."""

from __future__ import annotations

import gzip
import mmap
import os
import resource
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import anyio
import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from oxen_async import ResponseTooLargeError, RetryPolicy, ServerError
from oxen_async.http.body import (
    MAX_ERROR_BODY,
    MAX_WHOLE_BODY,
    SIZED_READ_MIN,
    declared_length,
    read_whole,
)
from oxen_async.session import Session
from oxen_async.testing import loopback_app

# ~1.3 MB of JSON that does not compress to below the sized-read floor.
VALUES = [os.urandom(16).hex() for _ in range(36_000)]
BODY = msgspec.json.encode(VALUES)
FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002, budget=5.0)


ENDLESS = 256 * 1024 * 1024  # what the endless routes would send if the client read on
PIECE = 64 * 1024


@dataclass
class _Seen:
    paths: list[str] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    """Body bytes each endless answer got written before the client hung up."""


async def _endless(
    request: web.Request, seen: _Seen, status: int, head: bytes
) -> web.StreamResponse:
    """``head``, then filler in chunks until the client hangs up (or ENDLESS bytes)."""
    resp = web.StreamResponse(status=status)
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    sent = 0
    try:
        await resp.write(head)
        while sent < ENDLESS:
            await resp.write(b"x" * PIECE)
            sent += PIECE
    except ConnectionError:
        pass  # the client stopped reading and closed: what this route is here to see
    finally:  # also when the server cancels the handler on the hang-up
        seen.sent.append(sent)
    return resp


async def _cut_once(request: web.Request, seen: _Seen) -> web.StreamResponse:
    """Half the body, then the connection closes; the next request gets all of it."""
    if seen.paths.count(request.path) > 1:
        return web.Response(body=BODY, content_type="application/json")
    resp = web.StreamResponse()
    resp.content_length = len(BODY)
    resp.content_type = "application/json"
    await resp.prepare(request)
    await resp.write(BODY[: len(BODY) // 2])
    assert request.transport is not None
    request.transport.close()
    return resp


async def _lying(request: web.Request) -> web.StreamResponse:
    """Declares a terabyte, sends a few bytes, hangs up."""
    assert request.transport is not None
    request.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1099511627776\r\n\r\n[1,2")
    request.transport.close()
    return web.Response()


@pytest.fixture
async def served() -> AsyncIterator[tuple[TestServer, _Seen]]:
    seen = _Seen()

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.paths.append(request.path)
        if request.path == "/plain":
            return web.Response(body=BODY, content_type="application/json")
        if request.path == "/gzip":
            if "gzip" not in request.headers.get("Accept-Encoding", ""):
                return web.Response(body=BODY, content_type="application/json")
            squeezed = gzip.compress(BODY)
            assert len(squeezed) >= SIZED_READ_MIN  # else this would not test the rule
            headers = {"Content-Encoding": "gzip"}
            return web.Response(body=squeezed, content_type="application/json", headers=headers)
        if request.path == "/chunked":
            resp = web.StreamResponse()
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            for i in range(0, len(BODY), 100_000):
                await resp.write(BODY[i : i + 100_000])
            await resp.write_eof()
            return resp
        if request.path == "/cut":
            return await _cut_once(request, seen)
        if request.path == "/lying":
            return await _lying(request)
        if request.path == "/endless":
            return await _endless(request, seen, 200, b"")
        if request.path == "/endless-error":
            return await _endless(request, seen, 500, b"boom: the disk is full\n")
        raise web.HTTPNotFound()

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    async with loopback_app(app) as server:
        yield server, seen


async def _read(server: TestServer, path: str) -> bytes | mmap.mmap:
    async with aiohttp.ClientSession() as http, http.get(server.make_url(path)) as resp:
        return await read_whole(resp)


async def test_a_big_body_of_declared_length_lands_in_one_mapping(
    served: tuple[TestServer, _Seen],
) -> None:
    server, _ = served
    body = await _read(server, "/plain")
    assert isinstance(body, mmap.mmap) and len(body) == len(BODY) and body[:] == BODY


@pytest.mark.parametrize("path", ["/gzip", "/chunked"])
async def test_a_compressed_or_chunked_body_is_read_the_plain_way(
    served: tuple[TestServer, _Seen], path: str
) -> None:
    server, _ = served
    body = await _read(server, path)
    assert isinstance(body, bytes) and body == BODY


@pytest.mark.parametrize("path", ["/plain", "/gzip", "/chunked", "/cut"])
async def test_the_session_decodes_every_kind_of_body(
    served: tuple[TestServer, _Seen], path: str
) -> None:
    server, seen = served
    async with Session(str(server.make_url("")), retry=FAST) as session:
        assert await session.request("GET", path, list[str]) == VALUES
    # The cut body was asked for again (the fault fired once), the others once.
    assert seen.paths.count(path) == (2 if path == "/cut" else 1)


async def test_a_body_declaring_a_terabyte_is_refused_unread_in_one_line(
    served: tuple[TestServer, _Seen],
) -> None:
    server, seen = served
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    async with Session(str(server.make_url("")), retry=FAST) as session:
        with pytest.raises(ResponseTooLargeError) as caught:
            await session.request("GET", "/lying", list[int])
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"GET {server.make_url('/lying')}: ")
    assert f"declares {1 << 40:,} bytes" in message and f"{MAX_WHOLE_BODY:,}" in message
    assert seen.paths.count("/lying") == 1  # not retried: the next answer would be the same
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 64 * 1024


async def test_a_body_that_runs_past_its_cap_is_refused_as_it_comes(
    served: tuple[TestServer, _Seen],
) -> None:
    """No length declared (chunked): the client stops reading at the cap and hangs up, so the
    server gets to write little more than the cap (socket buffers), not its 256 MiB."""
    server, seen = served
    cap = 4 * 1024 * 1024
    async with Session(str(server.make_url("")), retry=FAST) as session:
        with pytest.raises(ResponseTooLargeError, match=f"runs on, more than the {cap:,} allowed"):
            await session.request_bytes("GET", "/endless", max_bytes=cap)
    assert seen.paths.count("/endless") == 1
    await _hung_up(seen)
    assert cap < seen.sent[0] < 64 * 1024 * 1024


async def test_an_endless_error_body_is_read_only_for_its_message(
    served: tuple[TestServer, _Seen],
) -> None:
    server, seen = served
    async with Session(str(server.make_url("")), retry=FAST) as session:
        with pytest.raises(ServerError) as caught:
            await session.request("GET", "/endless-error", list[int])
    assert "boom: the disk is full" in str(caught.value) and "\n" not in str(caught.value)
    assert seen.paths.count("/endless-error") == 1  # a 500 is not tried again
    await _hung_up(seen)
    assert all(MAX_ERROR_BODY < sent < 64 * 1024 * 1024 for sent in seen.sent)


async def _hung_up(seen: _Seen, answers: int = 1) -> None:
    """Until the server's endless answers saw the client hang up (they end on their own)."""
    with anyio.fail_after(30):
        while len(seen.sent) < answers:
            await anyio.sleep(0.01)


@pytest.mark.parametrize(
    ("headers", "length"),
    [
        ({"Content-Length": "1234"}, 1234),
        ({"Content-Length": "1234", "Content-Encoding": "identity"}, 1234),
        ({"Content-Length": "1234", "Content-Encoding": "gzip"}, None),
        ({"Content-Length": "-1"}, None),
        ({"Content-Length": "1e9"}, None),
        ({"Content-Length": "\u00b2"}, None),  # a digit to str.isdigit, not to int()
        ({}, None),
    ],
)
def test_only_a_plain_decimal_length_of_an_unencoded_body_counts(
    headers: dict[str, str], length: int | None
) -> None:
    assert declared_length(headers) == length
