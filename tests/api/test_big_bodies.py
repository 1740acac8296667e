"""Whole JSON bodies as a user's listing calls get them, over loopback: a big body of declared
length is read into one mapping of that size; a compressed, chunked or absurdly declared body
the plain way; a body cut short is asked for again; the session asks for no compression (the
``/gzip`` route compresses when offered gzip, as aiohttp's default headers do)."""

from __future__ import annotations

import gzip
import mmap
import os
import resource
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from oxen_async import RetryPolicy, TransportError
from oxen_async.http.body import SIZED_READ_MAX, SIZED_READ_MIN, declared_length, read_whole
from oxen_async.session import Session
from oxen_async.testing import loopback_app

# ~1.3 MB of JSON that does not compress to below the sized-read floor.
VALUES = [os.urandom(16).hex() for _ in range(36_000)]
BODY = msgspec.json.encode(VALUES)
FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002, budget=5.0)


@dataclass
class _Seen:
    paths: list[str] = field(default_factory=list)


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


async def test_a_body_declaring_a_terabyte_is_not_allocated_and_fails_in_one_line(
    served: tuple[TestServer, _Seen],
) -> None:
    server, seen = served
    assert SIZED_READ_MAX < 1 << 40
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    async with Session(str(server.make_url("")), retry=FAST) as session:
        with pytest.raises(TransportError) as caught:
            await session.request("GET", "/lying", list[int])
    assert "\n" not in str(caught.value)
    assert seen.paths.count("/lying") == FAST.attempts
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 64 * 1024


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
